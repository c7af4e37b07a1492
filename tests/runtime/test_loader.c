/* test_loader.c: the shard loader against the store read through HDF5; exactly-once delivery,
 * shuffle reproducibility, prefetch == no-prefetch, abandoned epochs, corrupted chunks, a store
 * file replaced after it was opened, a file cut short while mapped, NaN in a last chunk's padding,
 * parts (disjoint and covering), the default window and the memory check, mixup, and that a pass
 * leaves no chunk mapped. */
#define _GNU_SOURCE /* syscall */
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cxr_clock.h"
#include "cxr_fpenv.h"
#include "cxr_loader.h"
#include "cxr_test.h"
#include "loader_fixture.h"

#define S      16
#define SHARD  8
#define NTRAIN 37 /* 5 shards, the last one short */
#define NVAL   12

static char store_path[256], bad_path[256];

/* Run one epoch; check every batch against HDF5 reads; return the index order in order[]. */
static int run_epoch(cxr_loader *l, cxr_store *s, const char *split, int epoch, int64_t *order,
                     int64_t n, int batch)
{
    cxr_batch b;
    float *ref = malloc(S * S * sizeof(float));
    int64_t got = 0, steps = 0;
    int bad_pixels = 0;
    double t0 = cxr_now_s();
    CHECK_OK(cxr_loader_begin_epoch(l, epoch));
    for (;;) {
        CHECK_OK(cxr_loader_next_batch(l, &b));
        if (b.n == 0) break;
        CHECK(b.size == S);
        CHECK(b.step == steps);
        CHECK(b.n == (n - got < batch ? n - got : batch));
        cxr_split_info info;
        CHECK_OK(cxr_store_split(s, split, &info));
        for (int i = 0; i < b.n; i++) {
            REQUIRE(got < n);
            order[got++] = b.indices[i];
            CHECK_OK(cxr_store_read_image(s, split, b.indices[i], ref));
            if (memcmp(ref, b.images + (size_t)i * S * S, S * S * sizeof(float)) != 0) bad_pixels++;
            CHECK(b.labels[i] == info.labels[b.indices[i]]);
        }
        steps++;
    }
    CHECK(bad_pixels == 0);
    CHECK(got == n);
    CHECK(steps == cxr_loader_n_batches(l));
    /* end of epoch repeats */
    CHECK_OK(cxr_loader_next_batch(l, &b));
    CHECK(b.n == 0);
    /* time spent inside next_batch this epoch: some (every call takes some), and no more than
     * the epoch's whole wall time, however slow the machine */
    double wall = cxr_now_s() - t0, wait = cxr_loader_wait_seconds(l);
    if (!(wait > 0 && wait <= wall))
        fprintf(stderr, "wait %.9f s, epoch wall %.9f s\n", wait, wall);
    CHECK(wait > 0 && wait <= wall);
    free(ref);
    return (int)got;
}

static void check_permutation(const int64_t *order, int64_t n)
{
    char *seen = calloc((size_t)n, 1);
    int dup = 0;
    for (int64_t i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]])
            dup++;
        else
            seen[order[i]] = 1;
    }
    CHECK(dup == 0);
    free(seen);
}

static void test_content_and_order(int prefetch)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 5;
    o.shuffle = 1;
    o.seed = 7;
    o.window = 2;
    o.threads = 2;
    o.prefetch = prefetch;
    cxr_loader *l;
    /* the threads inherit this thread's MXCSR: without flushing, the loader must set it */
    REQUIRE(!cxr_fp_flushing() || !cxr_fp_mxcsr());
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK(cxr_loader_n_images(l) == NTRAIN);
    CHECK(cxr_loader_n_batches(l) == 8);
    int64_t e0[NTRAIN], e1[NTRAIN], e0b[NTRAIN], plan[NTRAIN];
    run_epoch(l, s, "train", 0, e0, NTRAIN, 5);
    /* every loader thread started and computes with flush-to-zero + denormals-are-zero */
    /* a thread counts itself when it starts, which on a loaded machine can come after an
     * epoch that other threads served: give late starters up to 10 s */
    int nthr = -1;
    int nflush = cxr_loader_threads_flushing(l, &nthr);
    for (int tries = 0; nflush < nthr && tries < 1000; tries++) {
        nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        nflush = cxr_loader_threads_flushing(l, &nthr);
    }
    CHECK(nthr == (prefetch ? o.threads + 1 : 0));
    CHECK(nflush == nthr);
    run_epoch(l, s, "train", 1, e1, NTRAIN, 5);
    run_epoch(l, s, "train", 0, e0b, NTRAIN, 5);
    check_permutation(e0, NTRAIN);
    check_permutation(e1, NTRAIN);
    CHECK(memcmp(e0, e1, sizeof e0) != 0);  /* epochs differ */
    CHECK(memcmp(e0, e0b, sizeof e0) == 0); /* same (seed, epoch): same order */
    CHECK_OK(cxr_loader_epoch_order(l, 1, plan));
    CHECK(memcmp(plan, e1, sizeof e1) == 0);
    /* shuffled: not the identity */
    int identity = 1;
    for (int i = 0; i < NTRAIN; i++) identity &= e0[i] == i;
    CHECK(!identity);
    cxr_loader_destroy(l);

    /* another seed gives another order; the same seed in a new loader the same one */
    o.seed = 8;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK_OK(cxr_loader_epoch_order(l, 0, plan));
    CHECK(memcmp(plan, e0, sizeof e0) != 0);
    cxr_loader_destroy(l);
    o.seed = 7;
    o.prefetch = !prefetch;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK_OK(cxr_loader_epoch_order(l, 0, plan));
    CHECK(memcmp(plan, e0, sizeof e0) == 0);
    cxr_loader_destroy(l);

    /* evaluation: sequential */
    o.shuffle = 0;
    o.prefetch = prefetch;
    o.batch = 64; /* one batch larger than the split */
    CHECK_OK(cxr_loader_create(&l, s, "val", &o));
    int64_t v[NVAL];
    run_epoch(l, s, "val", 3, v, NVAL, 64);
    for (int i = 0; i < NVAL; i++) CHECK(v[i] == i);
    cxr_loader_destroy(l);
    cxr_store_close(s);
}

/* prefetch and no-prefetch deliver identical batches (bytes, labels, indices). */
static void test_prefetch_equals_sync(void)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 6;
    o.shuffle = 1;
    o.window = 3;
    cxr_loader *a, *b;
    o.prefetch = 1;
    o.threads = 2;
    o.depth = 2;
    CHECK_OK(cxr_loader_create(&a, s, "train", &o));
    o.prefetch = 0;
    CHECK_OK(cxr_loader_create(&b, s, "train", &o));
    int diffs = 0, batches = 0;
    for (int e = 0; e < 2; e++) {
        CHECK_OK(cxr_loader_begin_epoch(a, e));
        CHECK_OK(cxr_loader_begin_epoch(b, e));
        for (;;) {
            cxr_batch x, y;
            CHECK_OK(cxr_loader_next_batch(a, &x));
            CHECK_OK(cxr_loader_next_batch(b, &y));
            if (x.n != y.n) {
                diffs++;
                break;
            }
            if (x.n == 0) break;
            batches++;
            if (memcmp(x.images, y.images, (size_t)x.n * S * S * sizeof(float)) ||
                memcmp(x.labels, y.labels, (size_t)x.n * sizeof(int32_t)) ||
                memcmp(x.indices, y.indices, (size_t)x.n * sizeof(int64_t)))
                diffs++;
        }
    }
    CHECK(diffs == 0);
    CHECK(batches == 2 * 7);
    cxr_loader_destroy(a);
    cxr_loader_destroy(b);
    cxr_store_close(s);
}

/* A window and a batch larger than the split (a whole-split shuffle asked for with a huge
 * window, as the python bindings allow): buffers for what the split holds, the same batches as
 * a window of all its shards and a batch of all its images. */
static void test_huge_window(int prefetch)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.shuffle = 1;
    o.prefetch = prefetch;
    o.threads = 2;
    o.window = 1 << 30;
    o.batch = 1 << 30;
    cxr_loader *a, *b;
    CHECK_OK(cxr_loader_create(&a, s, "train", &o)); /* before: calloc of 2^30 shards failed */
    o.window = (int)cxr_loader_n_shards(a);
    o.batch = NTRAIN;
    CHECK_OK(cxr_loader_create(&b, s, "train", &o));
    for (int e = 0; e < 2; e++) {
        cxr_batch x, y;
        CHECK_OK(cxr_loader_begin_epoch(a, e));
        CHECK_OK(cxr_loader_begin_epoch(b, e));
        CHECK_OK(cxr_loader_next_batch(a, &x));
        CHECK_OK(cxr_loader_next_batch(b, &y));
        REQUIRE(x.n == NTRAIN && y.n == NTRAIN);
        CHECK(memcmp(x.images, y.images, (size_t)x.n * S * S * sizeof(float)) == 0 &&
              memcmp(x.indices, y.indices, (size_t)x.n * sizeof(int64_t)) == 0);
        CHECK_OK(cxr_loader_next_batch(a, &x));
        CHECK(x.n == 0);
    }
    cxr_loader_destroy(a);
    cxr_loader_destroy(b);
    cxr_store_close(s);
}

/* The default window: 4 shards up to a shard of 64 images, then as many as hold 256 images,
 * at least 1; on this store (shard 8) the default gives the order a window of 4 gives. Buffers
 * over the memory free are refused before any is allocated, naming the store and --shard. */
static void test_window_and_memory(void)
{
    CHECK(cxr_loader_auto_window(1) == 4 && cxr_loader_auto_window(8) == 4);
    CHECK(cxr_loader_auto_window(64) == 4 && cxr_loader_auto_window(65) == 3);
    CHECK(cxr_loader_auto_window(128) == 2 && cxr_loader_auto_window(256) == 1);
    CHECK(cxr_loader_auto_window(1 << 24) == 1 && cxr_loader_auto_window(0) == 1);
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    CHECK(o.window == 0);
    o.shuffle = 1;
    o.batch = 5;
    cxr_loader *a, *b;
    CHECK_OK(cxr_loader_create(&a, s, "train", &o));
    o.window = 4;
    CHECK_OK(cxr_loader_create(&b, s, "train", &o));
    int diffs = 0;
    for (int e = 0; e < 2; e++) {
        cxr_batch x, y;
        CHECK_OK(cxr_loader_begin_epoch(a, e));
        CHECK_OK(cxr_loader_begin_epoch(b, e));
        do {
            CHECK_OK(cxr_loader_next_batch(a, &x));
            CHECK_OK(cxr_loader_next_batch(b, &y));
            diffs += x.n != y.n || memcmp(x.indices, y.indices, (size_t)x.n * sizeof(int64_t)) != 0;
        } while (x.n > 0 && y.n > 0);
    }
    CHECK(diffs == 0);
    cxr_loader_destroy(a);
    cxr_loader_destroy(b);
    /* the 37 images of 16x16 (1 KiB each) in 5 shards of 8, decoded whole (the last one's
     * padding rows too: 40 images' room; 2 window slots of 4 shards could hold 64), 3 batches
     * of 5 and 2 shards of 8 being decoded: 71 KiB, 0.0693 MiB (counting 37, it said 68) */
    o.window = 0;
    o.threads = 2;
    setenv("CXR_MEM_AVAILABLE_MB", "0.069", 1);
    cxr_loader *c = NULL;
    CHECK(cxr_loader_create(&c, s, "train", &o) == CXR_E_NOMEM && c == NULL);
    CHECK(strstr(cxr_last_error(), store_path) && strstr(cxr_last_error(), "smaller --shard"));
    setenv("CXR_MEM_AVAILABLE_MB", "0.070", 1);
    CHECK_OK(cxr_loader_create(&c, s, "train", &o));
    cxr_loader_destroy(c);
    /* 12 threads asked, but with windows of one shard (3 slots) no more than 3 decodes are ever
     * queued: 3 workers, 3 shards of scratch (12 held idle scratch): 3 x 8 in the windows, 15
     * in batches, 24 being decoded: 63 KiB, 0.0615 MiB */
    o.window = 1;
    o.threads = 12;
    setenv("CXR_MEM_AVAILABLE_MB", "0.061", 1);
    CHECK(cxr_loader_create(&c, s, "train", &o) == CXR_E_NOMEM && c == NULL);
    CHECK(strstr(cxr_last_error(), "3 shard(s) being decoded"));
    setenv("CXR_MEM_AVAILABLE_MB", "0.062", 1);
    CHECK_OK(cxr_loader_create(&c, s, "train", &o));
    cxr_loader_destroy(c);
    unsetenv("CXR_MEM_AVAILABLE_MB");
    cxr_store_close(s);
}

/* Without shuffle, window 0 and CXR_LOADER_WINDOW_SPLIT take as few shards as keep the decode
 * threads busy (ceil(threads / 3), at most the auto window: 4 shards of 8 here; without
 * prefetch one); a window given stays. The batches are those of any window (the file's order),
 * and the memory is less: at 2 threads the 0.069 MiB that refuses a shuffled loader
 * (test_window_and_memory) holds one. */
static void test_unshuffled_window(void)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 5;
    const struct {
        int shuffle, window, threads, prefetch, want;
    } cases[] = { { 0, 0, 2, 1, 1 },  { 0, CXR_LOADER_WINDOW_SPLIT, 2, 1, 1 },
                  { 0, 0, 7, 1, 3 },  { 0, 0, 12, 1, 4 },
                  { 0, 0, 13, 1, 4 }, { 0, 0, 12, 0, 1 },
                  { 0, 0, 0, 0, 1 },  { 0, 2, 2, 1, 2 },
                  { 1, 0, 2, 1, 4 },  { 1, CXR_LOADER_WINDOW_SPLIT, 2, 1, 5 } };
    cxr_loader *ref = NULL;
    o.window = 4;
    CHECK_OK(cxr_loader_create(&ref, s, "train", &o));
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        o.shuffle = cases[i].shuffle, o.window = cases[i].window;
        o.threads = cases[i].threads, o.prefetch = cases[i].prefetch;
        cxr_loader *l = NULL;
        CHECK_OK(cxr_loader_create(&l, s, "train", &o));
        printf("shuffle %d window %d threads %d: %d shard(s) a window\n", o.shuffle, o.window,
               o.threads, cxr_loader_window(l));
        CHECK(cxr_loader_window(l) == cases[i].want);
        if (!o.shuffle) { /* the file's order, as the 4-shard window's */
            int diffs = 0;
            cxr_batch x, y;
            CHECK_OK(cxr_loader_begin_epoch(l, 1));
            CHECK_OK(cxr_loader_begin_epoch(ref, 1));
            do {
                CHECK_OK(cxr_loader_next_batch(l, &x));
                CHECK_OK(cxr_loader_next_batch(ref, &y));
                diffs += x.n != y.n ||
                         memcmp(x.indices, y.indices, (size_t)x.n * sizeof(int64_t)) != 0 ||
                         memcmp(x.images, y.images, (size_t)x.n * 16 * 16 * sizeof(float)) != 0;
            } while (x.n > 0 && y.n > 0);
            CHECK(diffs == 0);
        }
        cxr_loader_destroy(l);
    }
    cxr_loader_destroy(ref);
    o.shuffle = 0, o.window = 0, o.threads = 2, o.prefetch = 1;
    setenv("CXR_MEM_AVAILABLE_MB", "0.069", 1);
    cxr_loader *c = NULL;
    CHECK_OK(cxr_loader_create(&c, s, "train", &o));
    cxr_loader_destroy(c);
    unsetenv("CXR_MEM_AVAILABLE_MB");
    cxr_store_close(s);
}

/* CXR_LOADER_WINDOW_SPLIT: the whole split (part) in one window up to 2 GiB of decoded images,
 * else windows of 512 MiB; on this store it is the order of a window of all 5 shards, not the
 * default's; a window below it is refused. */
static void test_split_window(void)
{
    const int64_t img = 256 * 256 * 4;                   /* a 256x256 float image */
    CHECK(cxr_loader_split_window(64, 74, img) == 74);   /* Kaggle's train: 1.16 GiB */
    CHECK(cxr_loader_split_window(64, 128, img) == 128); /* exactly 2 GiB */
    CHECK(cxr_loader_split_window(64, 129, img) == 32);  /* over: 512 MiB = 32 shards */
    CHECK(cxr_loader_split_window(64, 20, img) == 20);   /* a small store: all of it */
    CHECK(cxr_loader_split_window(65536, 2, img) == 1);  /* 16 GiB shards: one at a time */
    CHECK(cxr_loader_split_window(64, 100000, 64 * 64 * 4) == 512); /* 64 px: 1 MiB shards */
    CHECK(cxr_loader_split_window(0, 5, img) == 1 && cxr_loader_split_window(8, 0, img) == 1);
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.shuffle = 1;
    o.batch = NTRAIN;
    cxr_loader *a, *b, *c;
    o.window = CXR_LOADER_WINDOW_SPLIT;
    CHECK_OK(cxr_loader_create(&a, s, "train", &o));
    o.window = 1 << 30;
    CHECK_OK(cxr_loader_create(&b, s, "train", &o));
    o.window = 0;
    CHECK_OK(cxr_loader_create(&c, s, "train", &o));
    int same_default = 1;
    for (int e = 0; e < 3; e++) {
        cxr_batch x, y, z;
        CHECK_OK(cxr_loader_begin_epoch(a, e));
        CHECK_OK(cxr_loader_begin_epoch(b, e));
        CHECK_OK(cxr_loader_begin_epoch(c, e));
        CHECK_OK(cxr_loader_next_batch(a, &x));
        CHECK_OK(cxr_loader_next_batch(b, &y));
        REQUIRE(x.n == NTRAIN && y.n == NTRAIN);
        CHECK(memcmp(x.indices, y.indices, (size_t)x.n * sizeof(int64_t)) == 0);
        CHECK_OK(cxr_loader_next_batch(c, &z));
        REQUIRE(z.n == NTRAIN);
        same_default &= memcmp(x.indices, z.indices, (size_t)x.n * sizeof(int64_t)) == 0;
    }
    CHECK(!same_default);
    cxr_loader_destroy(a);
    cxr_loader_destroy(b);
    cxr_loader_destroy(c);
    o.window = CXR_LOADER_WINDOW_SPLIT - 1;
    CHECK(cxr_loader_create(&a, s, "train", &o) == CXR_E_ARG);
    cxr_store_close(s);
}

/* begin_epoch mid-epoch and destroy mid-epoch stop cleanly. */
static void test_abandon(void)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 4;
    o.shuffle = 1;
    o.window = 1;
    o.depth = 2;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    cxr_batch b;
    for (int rep = 0; rep < 20; rep++) {
        CHECK_OK(cxr_loader_begin_epoch(l, rep));
        for (int i = 0; i < rep % 4; i++) {
            CHECK_OK(cxr_loader_next_batch(l, &b));
            CHECK(b.n == 4);
        }
    }
    int64_t order[NTRAIN];
    run_epoch(l, s, "train", 5, order, NTRAIN, 4);
    check_permutation(order, NTRAIN);
    CHECK_OK(cxr_loader_begin_epoch(l, 6));
    CHECK_OK(cxr_loader_next_batch(l, &b));
    cxr_loader_destroy(l); /* mid-epoch */
    /* next_batch before begin_epoch is an argument error */
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK(cxr_loader_next_batch(l, &b) == CXR_E_ARG);
    cxr_loader_destroy(l);
    /* bad options and missing split */
    o.batch = 0;
    CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_ARG);
    CHECK(l == NULL);
    o.batch = 4;
    o.depth = 1;
    CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_ARG);
    o.depth = 2;
    CHECK(cxr_loader_create(&l, s, "test", &o) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "test") != NULL);
    cxr_store_close(s);
}

/* A chunk that fails its checksum is an error naming file, split and shard. */
static void test_corrupt(int prefetch)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_split_info info;
    CHECK_OK(cxr_store_split(s, "train", &info));
    long off = (long)(info.chunk_offset[2] + info.chunk_size[2] / 2);
    cxr_store_close(s);
    REQUIRE(fixture_corrupt_copy(store_path, bad_path, off));
    CHECK_OK(cxr_store_open(&s, bad_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 8;
    o.shuffle = 0;
    o.window = 1;
    o.prefetch = prefetch;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK_OK(cxr_loader_begin_epoch(l, 0));
    cxr_batch b;
    cxr_status st;
    int good = 0;
    while ((st = cxr_loader_next_batch(l, &b)) == CXR_OK && b.n > 0) good++;
    CHECK(good == 2); /* shards 0 and 1 are fine */
    CHECK(st == CXR_E_CHECKSUM);
    const char *msg = cxr_last_error();
    fprintf(stderr, "expected error: %s\n", msg);
    CHECK(strstr(msg, bad_path) != NULL);
    CHECK(strstr(msg, "'train'") != NULL);
    CHECK(strstr(msg, "shard 2") != NULL);
    /* the error repeats until a new epoch */
    CHECK(cxr_loader_next_batch(l, &b) == CXR_E_CHECKSUM);
    CHECK(b.n == 0);
    /* with shuffling the bad shard is still found, and a new epoch can start afterwards */
    cxr_loader_destroy(l);
    o.shuffle = 1;
    o.window = 2;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    for (int e = 0; e < 2; e++) {
        CHECK_OK(cxr_loader_begin_epoch(l, e));
        while ((st = cxr_loader_next_batch(l, &b)) == CXR_OK && b.n > 0) {
        }
        CHECK(st == CXR_E_CHECKSUM);
    }
    cxr_loader_destroy(l);
    cxr_store_close(s);
    /* two bad shards in one window (0 and 1, decoded at once by the two workers): the error
     * names the first in window order whichever worker finishes first, as without prefetch */
    CHECK_OK(cxr_store_open(&s, store_path));
    CHECK_OK(cxr_store_split(s, "train", &info));
    const long off0 = (long)(info.chunk_offset[0] + info.chunk_size[0] / 2);
    const long off1 = (long)(info.chunk_offset[1] + info.chunk_size[1] / 2);
    cxr_store_close(s);
    char two[sizeof bad_path + 8];
    snprintf(two, sizeof two, "%s.two", bad_path);
    REQUIRE(fixture_corrupt_copy(store_path, bad_path, off0));
    REQUIRE(fixture_corrupt_copy(bad_path, two, off1));
    CHECK_OK(cxr_store_open(&s, two));
    o.shuffle = 0;
    o.window = 4;
    o.threads = 2;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    int other = 0;
    for (int e = 0; e < 50; e++) {
        CHECK_OK(cxr_loader_begin_epoch(l, e));
        CHECK(cxr_loader_next_batch(l, &b) == CXR_E_CHECKSUM);
        other += strstr(cxr_last_error(), "shard 0 ") == NULL;
    }
    CHECK(other == 0);
    cxr_loader_destroy(l);
    cxr_store_close(s);
    unlink(two);
}

/* One epoch of the store's train split in order (n images, batches of `batch`), each image
 * checked against HDF5's read of it (run_epoch). */
static void read_train_in_order(cxr_store *s, int64_t n, int batch)
{
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = batch;
    o.shuffle = 0;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    int64_t *order = malloc((size_t)n * sizeof *order);
    REQUIRE(order);
    CHECK(run_epoch(l, s, "train", 0, order, n, batch) == n);
    free(order);
    cxr_loader_destroy(l);
}

/* A store replaced at its path after it was opened (cxr-pack renames a new one into place): a
 * loader made afterwards reads the file the store validated, checked image by image against
 * HDF5's reads of it, not the file the path names now (whose chunks differ). */
static void test_replaced_file(void)
{
    char path[256], other[256];
    snprintf(path, sizeof path, "loader_test_repl_%d.h5", (int)getpid());
    snprintf(other, sizeof other, "loader_test_other_%d.h5", (int)getpid());
    REQUIRE(fixture_store(path, S, SHARD, NTRAIN, NVAL, 0, 1) == CXR_OK);
    REQUIRE(fixture_store(other, S, SHARD, NTRAIN, NVAL, 0, 2) == CXR_OK);
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    REQUIRE(rename(other, path) == 0);
    read_train_in_order(s, NTRAIN, 8);
    cxr_store_close(s);
    unlink(path);
}

/* open(2) as this program and its libraries call it, with a hook for
 * test_replaced_while_opening: while swap_path is set, the second read-only open of it with
 * O_CLOEXEC (the library's own; cxr_h5_open's check is the first, HDF5's driver opens without
 * the flag) first renames swap_from over it, as a cxr-pack finishing meanwhile would. */
static const char *swap_path, *swap_from;
static int swap_opens;
int open(const char *p, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (swap_path && (flags & O_ACCMODE) == O_RDONLY && (flags & O_CLOEXEC) &&
        strcmp(p, swap_path) == 0 && ++swap_opens == 2)
        REQUIRE(rename(swap_from, swap_path) == 0);
    return (int)syscall(SYS_openat, AT_FDCWD, p, flags, mode);
}

/* A store replaced at its path while it is being opened, after HDF5 opened it: the raw reader
 * (the loader's mapping) reads the file HDF5 validated and reads, image by image, not the one
 * the path names by then (a descriptor of HDF5's own, never the path opened again). */
static void test_replaced_while_opening(void)
{
    char path[256], other[256];
    snprintf(path, sizeof path, "loader_test_repl2_%d.h5", (int)getpid());
    snprintf(other, sizeof other, "loader_test_other2_%d.h5", (int)getpid());
    REQUIRE(fixture_store(path, S, SHARD, NTRAIN, NVAL, 0, 1) == CXR_OK);
    REQUIRE(fixture_store(other, S, SHARD, NTRAIN, NVAL, 0, 2) == CXR_OK);
    cxr_store *s;
    swap_path = path, swap_from = other, swap_opens = 0;
    CHECK_OK(cxr_store_open(&s, path));
    swap_path = NULL;
    read_train_in_order(s, NTRAIN, 8);
    cxr_store_close(s);
    unlink(path);
    unlink(other);
}

/* Mixup on images whose differences are denormal (a store with denormal pixels beside zeros):
 * the synchronous loader, run from this thread that keeps denormals, gives the bits of the
 * prefetching one, whose threads flush them: it flushes for its own work. */
static void test_mixup_denormal(void)
{
    char path[256];
    snprintf(path, sizeof path, "loader_test_tiny_%d.h5", (int)getpid());
    fixture_tiny = 1e-40f;
    REQUIRE(fixture_store(path, S, SHARD, NTRAIN, 0, 0, 4) == CXR_OK);
    fixture_tiny = 0;
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 6;
    o.shuffle = 1;
    o.window = 5;
    o.mixup = 0.4f;
    cxr_loader *a, *b;
    CHECK_OK(cxr_loader_create(&a, s, "train", &o));
    o.prefetch = 0;
    CHECK_OK(cxr_loader_create(&b, s, "train", &o));
    REQUIRE(!cxr_fp_flushing() || cxr_fp_mxcsr() == 0);
    int diffs = 0, tiny = 0;
    CHECK_OK(cxr_loader_begin_epoch(a, 0));
    CHECK_OK(cxr_loader_begin_epoch(b, 0));
    for (;;) {
        cxr_batch x, y;
        CHECK_OK(cxr_loader_next_batch(a, &x));
        CHECK_OK(cxr_loader_next_batch(b, &y));
        REQUIRE(x.n == y.n);
        if (x.n == 0) break;
        diffs += memcmp(x.images, y.images, (size_t)x.n * S * S * sizeof(float)) != 0;
    }
    CHECK(diffs == 0);
    float img0[S * S]; /* the store does hold denormals */
    CHECK_OK(cxr_store_read_image(s, "train", 0, img0));
    for (int k = 0; k < S * S; k++) tiny += fpclassify(img0[k]) == FP_SUBNORMAL;
    CHECK(tiny == S * S / 4);
    cxr_loader_destroy(a);
    cxr_loader_destroy(b);
    cxr_store_close(s);
    unlink(path);
}

/* A plain copy of the test store, named loader_test_TAG_PID.h5 into path, opened, and its
 * train split's layout. */
static void open_copy(char *path, size_t cap, const char *tag, cxr_store **s, cxr_split_info *info)
{
    snprintf(path, cap, "loader_test_%s_%d.h5", tag, (int)getpid());
    REQUIRE(fixture_corrupt_copy(store_path, path, -1));
    CHECK_OK(cxr_store_open(s, path));
    CHECK_OK(cxr_store_split(*s, "train", info));
}

/* A store cut short in place by another program while a loader maps it: the chunks past the
 * new end are an I/O error naming the file and the shard, not a SIGBUS (reading a mapped page
 * past the end of its file); the chunks before it still decode. */
static void test_truncated(int prefetch)
{
    char path[256];
    cxr_store *s;
    cxr_split_info info;
    open_copy(path, sizeof path, "cut", &s, &info);
    REQUIRE(info.chunk_offset[2] > info.chunk_offset[1] &&
            info.chunk_offset[1] > info.chunk_offset[0]);
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 8;
    o.window = 1;
    o.prefetch = prefetch;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    REQUIRE(truncate(path, (off_t)info.chunk_offset[2] + 1) == 0);
    CHECK_OK(cxr_loader_begin_epoch(l, 0));
    cxr_batch b;
    cxr_status st;
    int good = 0;
    while ((st = cxr_loader_next_batch(l, &b)) == CXR_OK && b.n > 0) good++;
    CHECK(good == 2); /* shards 0 and 1 end before the cut */
    CHECK(st == CXR_E_IO);
    const char *msg = cxr_last_error();
    fprintf(stderr, "expected error: %s\n", msg);
    CHECK(strstr(msg, path) && strstr(msg, "shard 2") && strstr(msg, "cut to"));
    CHECK(cxr_loader_next_batch(l, &b) == CXR_E_IO && b.n == 0); /* the epoch is over */
    cxr_loader_destroy(l);
    cxr_store_close(s);
    unlink(path);
}

/* A store cut short between its opening and a loader's making: the chunks that now begin past
 * the end of the file (every one after shard 0: cut where it ends) are refused then, naming the
 * first, before any is mapped and read (a check of the sizes alone wrapped around, took them). */
static void test_cut_before_create(void)
{
    char path[256];
    cxr_store *s;
    cxr_split_info info;
    open_copy(path, sizeof path, "cut0", &s, &info);
    const uint64_t end0 = info.chunk_offset[0] + info.chunk_size[0];
    REQUIRE(info.chunk_offset[1] > end0 && info.chunk_offset[2] > info.chunk_offset[1]);
    REQUIRE(truncate(path, (off_t)end0) == 0);
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 8;
    cxr_loader *l = NULL;
    CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_FORMAT && !l);
    const char *msg = cxr_last_error();
    fprintf(stderr, "expected error: %s\n", msg);
    CHECK(strstr(msg, "shard 1: chunk (offset") && strstr(msg, "lies outside the file"));
    cxr_loader_destroy(l);
    /* cut inside chunk 0: it starts in the file and runs past its end */
    REQUIRE(truncate(path, (off_t)end0 - 1) == 0);
    l = NULL;
    CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_FORMAT && !l);
    msg = cxr_last_error();
    fprintf(stderr, "expected error: %s\n", msg);
    CHECK(strstr(msg, "shard 0: chunk (offset") && strstr(msg, "lies outside the file"));
    cxr_loader_destroy(l);
    cxr_store_close(s);
    unlink(path);
}

/* A bad pixel in a later shard of a store that passes its checksums: the loader's error names
 * the image by its index in the split and its source path, not by its place in its shard. */
static void test_bad_pixel_named(int prefetch)
{
    char path[256];
    snprintf(path, sizeof path, "loader_test_badpx_%d.h5", (int)getpid());
    enum { N = SHARD + 4 };
    cxr_store_options so;
    fixture_options(&so, S, SHARD);
    const char *names[2] = { "NORMAL", "PNEUMONIA" }, *paths[N];
    char pbuf[N][16];
    int32_t labels[N];
    for (int i = 0; i < N; i++) {
        snprintf(pbuf[i], sizeof pbuf[i], "img%02d.jpeg", i);
        paths[i] = pbuf[i];
        labels[i] = i % 2;
    }
    float *img = calloc((size_t)SHARD * S * S, sizeof *img);
    REQUIRE(img);
    uint8_t *raw = NULL;
    size_t cap = 0, raw_size = 0;
    cxr_store_writer *w = NULL;
    CHECK_OK(cxr_store_writer_create(&w, path, &so, 2, names));
    CHECK_OK(cxr_store_writer_begin_split(w, "train", N));
    CHECK_OK(cxr_chunk_encode(&raw, &cap, &raw_size, img, SHARD, SHARD, S, 1));
    CHECK_OK(cxr_store_writer_put_chunk(w, raw, raw_size, SHARD, labels, paths));
    img[(size_t)2 * S * S + 5] = NAN; /* image SHARD + 2 of the split, pixel (0, 5) */
    CHECK_OK(cxr_chunk_encode(&raw, &cap, &raw_size, img, N - SHARD, SHARD, S, 1));
    CHECK_OK(
        cxr_store_writer_put_chunk(w, raw, raw_size, N - SHARD, labels + SHARD, paths + SHARD));
    CHECK_OK(cxr_store_writer_end_split(w));
    CHECK_OK(cxr_store_writer_finish(w));
    cxr_store_writer_destroy(w);
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = N;
    o.prefetch = prefetch;
    cxr_loader *l = NULL;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK_OK(cxr_loader_begin_epoch(l, 0));
    cxr_batch b;
    CHECK(cxr_loader_next_batch(l, &b) == CXR_E_FORMAT && b.n == 0);
    char want[96];
    snprintf(want, sizeof want, "split 'train' image %d (img%02d.jpeg, shard 1): non-finite pixel",
             SHARD + 2, SHARD + 2);
    if (!strstr(cxr_last_error(), want))
        fprintf(stderr, "bad pixel: '%s', wanted '%s'\n", cxr_last_error(), want);
    CHECK(strstr(cxr_last_error(), want) != NULL);
    cxr_loader_destroy(l);
    cxr_store_close(s);
    unlink(path);
    free(raw);
    free(img);
}

/* A file cut short in place pages inside a chunk, with no size looked at before the read: the
 * read meets pages that are gone (SIGBUS) in the middle of the chunk's checksum, and the guard
 * (cxr_guard_mapped_read) turns that into the same I/O error, on the calling thread and on a
 * prefetch worker; the loader goes on working (chunk 0 decodes again in the next epoch). A cut
 * during a read, which no look before it can see, takes the same path (test_signals). */
static void test_cut_mid_chunk(int prefetch)
{
    char path[256];
    snprintf(path, sizeof path, "loader_test_mid_%d.h5", (int)getpid());
    enum { BIG = 64 }; /* 8 images of 64x64: chunks of tens of pages */
    REQUIRE(fixture_store(path, BIG, SHARD, 2 * SHARD, 0, 0, 3) == CXR_OK);
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    cxr_split_info info;
    CHECK_OK(cxr_store_split(s, "train", &info));
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    const uint64_t cut = (info.chunk_offset[1] + page - 1) / page * page + page;
    REQUIRE(cut + 2 * page <= info.chunk_offset[1] + info.chunk_size[1]);
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = SHARD;
    o.shuffle = 0;
    o.window = 1;
    o.prefetch = prefetch;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    REQUIRE(truncate(path, (off_t)cut) == 0);
    for (int epoch = 0; epoch < 2; epoch++) {
        CHECK_OK(cxr_loader_begin_epoch(l, epoch));
        cxr_batch b;
        CHECK_OK(cxr_loader_next_batch(l, &b));
        CHECK(b.n == SHARD && b.indices[0] == 0); /* chunk 0 ends before the cut */
        CHECK(cxr_loader_next_batch(l, &b) == CXR_E_IO && b.n == 0);
        const char *msg = cxr_last_error();
        if (epoch == 0) fprintf(stderr, "expected error: %s\n", msg);
        CHECK(strstr(msg, path) && strstr(msg, "shard 1") && strstr(msg, "cut to"));
    }
    cxr_loader_destroy(l);
    cxr_store_close(s);
    unlink(path);
}

/* A last chunk whose padding rows (past the split's N) hold NaN: specs/store.md tells a raw
 * reader to ignore them, so the loader delivers the N images, as HDF5 reads them. */
static void test_nan_padding(void)
{
    char path[256];
    snprintf(path, sizeof path, "loader_test_pad_%d.h5", (int)getpid());
    enum { N = 5 };
    cxr_store_options so;
    fixture_options(&so, S, SHARD);
    const char *names[2] = { "NORMAL", "PNEUMONIA" }, *paths[N] = { "a", "b", "c", "d", "e" };
    int32_t labels[N] = { 0, 1, 1, 0, 1 };
    float *img = malloc((size_t)SHARD * S * S * sizeof *img);
    REQUIRE(img);
    for (size_t e = 0; e < (size_t)SHARD * S * S; e++)
        img[e] = e < (size_t)N * S * S ? (float)(e % 7) * 0.25f - 0.75f : NAN;
    uint8_t *raw = NULL;
    size_t cap = 0, raw_size = 0;
    cxr_store_writer *w = NULL;
    CHECK_OK(cxr_store_writer_create(&w, path, &so, 2, names));
    CHECK_OK(cxr_store_writer_begin_split(w, "train", N));
    CHECK_OK(cxr_chunk_encode(&raw, &cap, &raw_size, img, SHARD, SHARD, S, 1)); /* NaN kept */
    CHECK_OK(cxr_store_writer_put_chunk(w, raw, raw_size, N, labels, paths));
    CHECK_OK(cxr_store_writer_end_split(w));
    CHECK_OK(cxr_store_writer_finish(w));
    cxr_store_writer_destroy(w);
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    read_train_in_order(s, N, 4);
    cxr_store_close(s);
    unlink(path);
    free(raw);
    free(img);
}

/* Parts: P loaders over one split read disjoint shard sets (k % P == p) that cover it, each
 * delivers exactly its shards' images (checked against HDF5), orders follow (seed, epoch),
 * parts differ in their permutations, parts = 1 is the plain loader, bad parts are refused. */
static void test_parts(int prefetch, int shuffle)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 3;
    o.shuffle = shuffle;
    o.seed = 11;
    o.window = 2;
    o.prefetch = prefetch;
    const int n_shards = (NTRAIN + SHARD - 1) / SHARD;
    int64_t whole[NTRAIN], part1[NTRAIN];
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK_OK(cxr_loader_epoch_order(l, 2, whole));
    cxr_loader_destroy(l);
    o.parts = 1;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    CHECK_OK(cxr_loader_epoch_order(l, 2, part1));
    CHECK(memcmp(whole, part1, sizeof whole) == 0);
    CHECK(cxr_loader_n_shards(l) == n_shards);
    cxr_loader_destroy(l);

    for (int parts = 2; parts <= n_shards + 1; parts++) {
        int seen[NTRAIN] = { 0 }, shard_seen[8] = { 0 };
        int64_t first[NTRAIN], total = 0;
        for (int p = 0; p < parts; p++) {
            o.part = p;
            o.parts = parts;
            CHECK_OK(cxr_loader_create(&l, s, "train", &o));
            int64_t n = cxr_loader_n_images(l), ns = cxr_loader_n_shards(l);
            CHECK(ns == (n_shards - p + parts - 1) / parts);
            int64_t shards[8], order[NTRAIN], again[NTRAIN];
            CHECK_OK(cxr_loader_epoch_shards(l, 1, shards));
            int64_t expect_n = 0;
            for (int64_t j = 0; j < ns; j++) {
                REQUIRE(shards[j] >= 0 && shards[j] < n_shards);
                CHECK(shards[j] % parts == p);
                shard_seen[shards[j]]++;
                expect_n += shards[j] == n_shards - 1 ? NTRAIN - (n_shards - 1) * SHARD : SHARD;
            }
            CHECK(n == expect_n);
            CHECK(run_epoch(l, s, "train", 1, order, n, 3) == n);
            for (int64_t i = 0; i < n; i++) {
                REQUIRE(order[i] >= 0 && order[i] < NTRAIN);
                CHECK(order[i] / SHARD % parts == p);
                seen[order[i]]++;
            }
            CHECK_OK(cxr_loader_epoch_order(l, 1, again));
            CHECK(n == 0 || memcmp(order, again, (size_t)n * sizeof *order) == 0);
            if (p == 0) memcpy(first, order, (size_t)n * sizeof *order);
            /* one full shard per part: the same stream would give parts 0 and 1 the same
             * permutation of their 8 images */
            if (shuffle && parts == n_shards && p == 1) {
                int same = 1;
                for (int64_t i = 0; i < n; i++) same &= order[i] - SHARD == first[i];
                CHECK(!same);
            }
            total += n;
            cxr_loader_destroy(l);
        }
        CHECK(total == NTRAIN);
        for (int i = 0; i < NTRAIN; i++) CHECK(seen[i] == 1);
        for (int k = 0; k < n_shards; k++) CHECK(shard_seen[k] == 1);
    }
    o.part = 2;
    o.parts = 2;
    CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_ARG);
    o.part = 0;
    o.parts = 0;
    CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_ARG);
    cxr_store_close(s);
}

/* A shuffling loader of the store's train split (batch 4, seed 3, no prefetch) with `window`
 * shards to a window; *s is the store it reads. */
static cxr_loader *shuffling_loader(cxr_store **s, int window)
{
    CHECK_OK(cxr_store_open(s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 4;
    o.shuffle = 1;
    o.seed = 3;
    o.window = window;
    o.prefetch = 0;
    cxr_loader *l = NULL;
    CHECK_OK(cxr_loader_create(&l, *s, "train", &o));
    REQUIRE(l);
    return l;
}

/* The shard order is a uniform shuffle (Fisher-Yates over splitmix64): over 2000 epochs each
 * of the 5! orders of the 5 shards turns up, and each shard in each place about a fifth of the
 * time (an off-by-one in the draw, Sattolo's algorithm, gives only the 4! cyclic orders, never
 * a shard in its own place). Deterministic from the seed. Also: a negative epoch is refused. */
static void test_shuffle_uniform(void)
{
    cxr_store *s;
    cxr_loader *l = shuffling_loader(&s, 1);
    enum { NS = 5, EPOCHS = 2000 };
    REQUIRE(cxr_loader_n_shards(l) == NS);
    static char seen[NS * NS * NS * NS * NS]; /* an order as a base-5 number */
    int distinct = 0, place[NS][NS] = { { 0 } };
    for (int e = 0; e < EPOCHS; e++) {
        int64_t sh[NS];
        CHECK_OK(cxr_loader_epoch_shards(l, e, sh));
        int code = 0;
        for (int k = 0; k < NS; k++) {
            REQUIRE(sh[k] >= 0 && sh[k] < NS);
            place[sh[k]][k]++;
            code = code * NS + (int)sh[k];
        }
        distinct += !seen[code];
        seen[code] = 1;
    }
    CHECK(distinct == 120);
    int worst = 0;
    for (int a = 0; a < NS; a++)
        for (int k = 0; k < NS; k++) {
            const int off = abs(place[a][k] - EPOCHS / NS);
            worst = off > worst ? off : worst;
        }
    if (worst >= 100) fprintf(stderr, "shard order: a place is %d off its 400\n", worst);
    CHECK(worst < 100);
    CHECK(cxr_loader_begin_epoch(l, -1) == CXR_E_ARG);
    cxr_loader_destroy(l);
    cxr_store_close(s);
}

/* The images within a window are shuffled too, each of them free to land anywhere: over 400
 * epochs of one window of all 5 shards, every image is last at least once (a shuffle of all
 * but the window's last image, a mutant no test saw, leaves only the 5 shards' last images
 * there). Deterministic from the seed. */
static void test_window_shuffle(void)
{
    cxr_store *s;
    cxr_loader *l = shuffling_loader(&s, 5);
    REQUIRE(cxr_loader_n_images(l) == NTRAIN);
    int64_t order[NTRAIN];
    char last[NTRAIN] = { 0 };
    for (int e = 0; e < 400; e++) {
        CHECK_OK(cxr_loader_epoch_order(l, e, order));
        REQUIRE(order[NTRAIN - 1] >= 0 && order[NTRAIN - 1] < NTRAIN);
        last[order[NTRAIN - 1]] = 1;
    }
    int n_last = 0;
    for (int i = 0; i < NTRAIN; i++) n_last += last[i];
    if (n_last != NTRAIN)
        fprintf(stderr, "window shuffle: %d of %d images ever last\n", n_last, NTRAIN);
    CHECK(n_last == NTRAIN);
    cxr_loader_destroy(l);
    cxr_store_close(s);
}

/* Mixup (cxr_loader.h, "Mixup"): the batches of a loader without it, mixed pairwise with the
 * documented weights to the bit; the partners' labels; the same bits with and without
 * prefetch, also at A = 0.02, whose draws fall below FLT_MIN (stored as 0), on a caller's
 * thread that does not flush denormals while the loader's threads do; Beta(a, a)'s mean and
 * variance; bad settings refused. */
static void test_mixup(float A)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 6; /* 37 images: the last batch holds one, its own partner */
    o.shuffle = 1;
    o.window = 3;
    o.seed = 5;
    cxr_loader *plain, *mixed, *mixed_sync;
    o.prefetch = 0;
    CHECK_OK(cxr_loader_create(&plain, s, "train", &o));
    o.mixup = A;
    CHECK_OK(cxr_loader_create(&mixed_sync, s, "train", &o));
    o.prefetch = 1;
    CHECK_OK(cxr_loader_create(&mixed, s, "train", &o));
    int bad_img = 0, bad_lab = 0, bad_mix = 0, sync_diffs = 0, changed = 0, batches = 0, zeros = 0;
    float want[S * S];
    const unsigned mxcsr = cxr_fp_mxcsr();
    REQUIRE(!cxr_fp_flushing() || cxr_fp_mxcsr() == 0); /* this thread: denormals kept */
    for (int e = 0; e < 2; e++) {
        CHECK_OK(cxr_loader_begin_epoch(plain, e));
        CHECK_OK(cxr_loader_begin_epoch(mixed, e));
        CHECK_OK(cxr_loader_begin_epoch(mixed_sync, e));
        for (;;) {
            cxr_batch p, m, q;
            CHECK_OK(cxr_loader_next_batch(plain, &p));
            CHECK_OK(cxr_loader_next_batch(mixed, &m));
            CHECK_OK(cxr_loader_next_batch(mixed_sync, &q));
            CHECK(cxr_fp_mxcsr() == mxcsr); /* the synchronous loader gave the mode back */
            REQUIRE(p.n == m.n && m.n == q.n);
            if (p.n == 0) break;
            batches++;
            CHECK(p.labels2 == NULL && p.mix == NULL);
            REQUIRE(m.labels2 && m.mix);
            const int n = m.n;
            uint64_t state = cxr_loader_mixup_key(5, e, m.step, 0);
            for (int i = 0; i < n; i++) { /* bits, on this thread (denormals kept) */
                const double lam = cxr_loader_beta(&state, A); /* A: the option, a float */
                const float w = lam < FLT_MIN ? 0.0f : (float)lam;
                bad_mix += memcmp(&w, &m.mix[i], sizeof w) != 0;
                zeros += w == 0.0f;
            }
            cxr_fp_flush_denormals(); /* the formula as the loader's threads compute it */
            for (int i = 0; i < n; i++) {
                const int j = n - 1 - i;
                bad_lab += m.labels[i] != p.labels[i] || m.indices[i] != p.indices[i] ||
                           m.labels2[i] != p.labels[j];
                const float *xi = p.images + (size_t)i * S * S, *xj = p.images + (size_t)j * S * S;
                for (int k = 0; k < S * S; k++)
                    want[k] = i == j ? xi[k] : xj[k] + m.mix[i] * (xi[k] - xj[k]);
                bad_img += memcmp(want, m.images + (size_t)i * S * S, sizeof want) != 0;
                changed += memcmp(xi, m.images + (size_t)i * S * S, sizeof want) != 0;
            }
            cxr_fp_restore(mxcsr);
            sync_diffs += memcmp(m.images, q.images, (size_t)n * S * S * sizeof(float)) != 0 ||
                          memcmp(m.mix, q.mix, (size_t)n * sizeof(float)) != 0 ||
                          memcmp(m.labels2, q.labels2, (size_t)n * sizeof(int32_t)) != 0;
        }
    }
    CHECK(batches == 2 * 7);
    CHECK(bad_img == 0);
    CHECK(bad_lab == 0);
    CHECK(bad_mix == 0);
    CHECK(sync_diffs == 0);
    if (A >= 0.1f) CHECK(changed > NTRAIN); /* most of 74 deliveries are mixed */
    if (A < 0.05f) CHECK(zeros > 0);        /* draws below FLT_MIN happened */
    cxr_loader_destroy(plain);
    cxr_loader_destroy(mixed);
    cxr_loader_destroy(mixed_sync);
    if (A < 0.1f) {
        cxr_store_close(s);
        return;
    }

    /* Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) */
    const double as[] = { 0.2, 1.0, 2.0 };
    for (int t = 0; t < 3; t++) {
        uint64_t st = cxr_loader_mixup_key(1, t, 0, 0);
        double sum = 0, sq = 0;
        int out = 0;
        enum { DRAWS = 200000 };
        for (int i = 0; i < DRAWS; i++) {
            const double x = cxr_loader_beta(&st, as[t]);
            out += !(x >= 0.0 && x <= 1.0);
            sum += x;
            sq += x * x;
        }
        CHECK(isnan(cxr_loader_beta(&st, 0)) && isnan(cxr_loader_beta(&st, NAN)) &&
              isnan(cxr_loader_beta(&st, CXR_LOADER_MIXUP_MAX * 2)));
        const double mean = sum / DRAWS, var = sq / DRAWS - mean * mean;
        const double want_var = 1.0 / (4.0 * (2.0 * as[t] + 1.0));
        CHECK(out == 0);
        CHECK_CLOSE(mean, 0.5, 0.005, 0);
        CHECK_CLOSE(var, want_var, 0.004, 0);
    }

    /* refused: mixup without shuffle (evaluation), outside [0, CXR_LOADER_MIXUP_MAX], NaN */
    cxr_loader *l = NULL;
    o.shuffle = 0;
    CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_ARG && !l);
    o.shuffle = 1;
    /* ... and below the least normal float: the decode threads flush it to 0, and the batches
     * carried labels2 and mix never written */
    const float bad[] = { -0.1f, CXR_LOADER_MIXUP_MAX + 0.5f, NAN, 1e-40f, FLT_MIN / 2 };
    for (int i = 0; i < 5; i++) {
        o.mixup = bad[i];
        CHECK(cxr_loader_create(&l, s, "train", &o) == CXR_E_ARG && !l);
    }
    o.mixup = FLT_MIN; /* the least normal one is taken */
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    cxr_loader_destroy(l);
    cxr_store_close(s);
}

/* The sum of smaps' `field` ("Rss": resident pages, "Size": address space), in kB, over this
 * process's mappings of the file named `name` (its last path component), from
 * /proc/self/smaps; -1 when it cannot be read or maps no such file (a loader holds it mapped
 * while this runs, so "not found" is a failure, not a pass, unless the test wants none). */
static long smaps_kb(const char *name, const char *field)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return -1;
    char line[4096];
    long kb = 0, v;
    int in = 0, found = 0;
    const size_t nl = strlen(name), fl = strlen(field);
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = '\0';
        /* a mapping's header line starts with its address (lowercase hex), a field with a
         * capitalised name ("Rss:") */
        if ((line[0] >= '0' && line[0] <= '9') || (line[0] >= 'a' && line[0] <= 'f'))
            found += in = n >= nl + 1 && line[n - nl - 1] == '/' && !strcmp(line + n - nl, name);
        else if (in && !strncmp(line, field, fl) && line[fl] == ':' &&
                 sscanf(line + fl + 1, " %ld kB", &v) == 1)
            kb += v;
    }
    fclose(f);
    return found ? kb : -1;
}

/* A loader maps the bytes of its own chunks, not the whole file: a training loader and a val
 * loader alive together (cxr-train's val pass) took twice the file's size of address space,
 * which a vmem limit (ulimit -v) counts. A part of two maps no more than the split's range, and
 * a part without shards maps nothing. */
static void test_map_range(void)
{
    struct stat sb;
    REQUIRE(stat(store_path, &sb) == 0);
    const long file_kb = (long)((sb.st_size + 1023) / 1024), page_kb = sysconf(_SC_PAGESIZE) / 1024;
    const char *name = strrchr(store_path, '/') ? strrchr(store_path, '/') + 1 : store_path;
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, store_path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    cxr_loader *t = NULL, *v = NULL;
    CHECK_OK(cxr_loader_create(&t, s, "train", &o));
    const long t_kb = smaps_kb(name, "Size");
    CHECK_OK(cxr_loader_create(&v, s, "val", &o));
    const long both_kb = smaps_kb(name, "Size");
    printf("file %ld kB; mapped: train %ld kB, train and val %ld kB\n", file_kb, t_kb, both_kb);
    CHECK(t_kb > 0 && t_kb < file_kb && both_kb > t_kb);
    CHECK(both_kb <= file_kb + 2 * page_kb); /* the two ranges, each from a page boundary */
    int64_t v_ok[NVAL];
    run_epoch(v, s, "val", 3, v_ok, NVAL, 64); /* and its chunks read right from its range */
    for (int i = 0; i < NVAL; i++) CHECK(v_ok[i] == i);
    cxr_loader_destroy(t);
    cxr_loader_destroy(v);
    CHECK(smaps_kb(name, "Size") == -1);
    o.parts = 2, o.part = 1;
    CHECK_OK(cxr_loader_create(&t, s, "train", &o));
    const long part_kb = smaps_kb(name, "Size");
    CHECK(part_kb > 0 && part_kb <= t_kb);
    cxr_loader_destroy(t);
    o.parts = 100, o.part = 99; /* 5 shards: part 99 has none */
    CHECK_OK(cxr_loader_create(&t, s, "train", &o));
    CHECK(cxr_loader_n_shards(t) == 0 && smaps_kb(name, "Size") == -1);
    cxr_loader_destroy(t);
    cxr_store_close(s);
}

/* Copy src to dst in writes of 1 MiB (a filesystem may cache such a file in large folios, which
 * a fault maps whole, across chunks). 1 on success. */
static int copy_big_writes(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    char *buf = malloc(1 << 20);
    int ok = in && out && buf;
    size_t n;
    if (ok) {
        setvbuf(out, NULL, _IONBF, 0);
        while ((n = fread(buf, 1, 1 << 20, in)) > 0)
            if (fwrite(buf, 1, n, out) != n) ok = 0;
    }
    free(buf);
    if (in) fclose(in);
    if (out && fclose(out) != 0) ok = 0;
    return ok;
}

/* With the whole split one window (--shuffle-window split), the windows' release comes only at
 * the epoch's end: each decoded chunk's own pages must leave at its decode, or the whole split's
 * chunks stay mapped until then. The store of test_pages_released's `small` = 1 (1,024 chunks of
 * ~64 kB, ~64 MB): mid-epoch, what stays is the fault-around of chunks not yet decoded, under
 * half the chunks' bytes (the mutation round's survivor M24: without the per-chunk release the
 * bound held with windows of 4 shards, released as they end; here, on the Xeon's ext4, 96 kB
 * of 45,565 mapped at most with it, 45,108 without). */
static void test_pages_released_split(void)
{
    char path[256];
    snprintf(path, sizeof path, "loader_pages_split_%d.h5", (int)getpid());
    const int n = 16384;
    CHECK_OK(fixture_store(path, 32, 16, n, 0, 0, 9));
    struct stat sb;
    REQUIRE(stat(path, &sb) == 0);
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 64;
    o.shuffle = 1;
    o.window = CXR_LOADER_WINDOW_SPLIT;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    cxr_batch b;
    int64_t got = 0;
    long most = 0;
    CHECK_OK(cxr_loader_begin_epoch(l, 0));
    do {
        CHECK_OK(cxr_loader_next_batch(l, &b));
        got += b.n;
        const long kb = smaps_kb(path, "Rss");
        CHECK(kb >= 0);
        most = kb > most ? kb : most;
    } while (b.n > 0);
    CHECK(got == n);
    const long file_kb = (long)(sb.st_size / 1024);
    if (!(most < file_kb / 2))
        fprintf(stderr, "split window: %ld kB of the store (%ld kB) mapped at most mid-epoch\n",
                most, file_kb);
    CHECK(most < file_kb / 2);
    cxr_loader_destroy(l);
    cxr_store_close(s);
    unlink(path);
}

/* A pass over a split leaves none of its chunks mapped in the process (only in the page cache):
 * each chunk's pages leave the mapping once it is decoded. They stayed, so a pass over a split
 * of N GB ended with N GB more RSS (cxr-eval on a 31 GB store's 15,000 test images: 4.2 GB peak,
 * 1.2 GB with this). Both the prefetching and the synchronous paths.
 *
 * Nor do the pages a fault maps around a chunk (Linux's fault-around, 64 kB, or a large folio)
 * stay mapped with the split: in a shuffled order those of a chunk not yet decoded stayed
 * until it was, so RSS rose by ~15 kB a chunk to the middle of an epoch and fell by its end
 * (a store of 1,000,000 32 px images: 190 MB at mid-epoch). They leave with their window now
 * (release_window). `small` = 1: 1,024 chunks of 16 32x32 images (64 kB before compression,
 * so every chunk is in a neighbour's fault-around), checked after every batch: what the
 * windows not yet released mapped (three windows of four chunks, 64 kB each side of each) and
 * two workers' decodes is all that may be mapped, 2 MB; the old loader had 13-14 MB mapped
 * mid-epoch. `small` = 2: that store copied in writes of 1 MiB (large folios where the
 * filesystem makes them: a fault maps a whole folio, across chunks): nothing mapped at the
 * epoch's end (releasing each chunk's neighbours' edges with the chunk left 33 MB of that copy
 * mapped there, a neighbour's refault mapping released chunks' folio again; a filesystem
 * that caches no large folios (tmpfs by default, older kernels' ext4) makes it the `small` = 1
 * case). */
static void test_pages_released(int prefetch, int small)
{
    char path[256], made[256];
    snprintf(made, sizeof made, "loader_pages_%d.h5", (int)getpid());
    snprintf(path, sizeof path, "%s", made);
    /* 256 images of 128x128 random floats: ~16 MB of chunks, hardly compressible */
    const int n = small ? 16384 : 256;
    CHECK_OK(small ? fixture_store(made, 32, 16, n, 0, 0, 9)
                   : fixture_store(made, 128, 16, n, 0, 0, 7));
    if (small == 2) {
        snprintf(path, sizeof path, "loader_pages_copy_%d.h5", (int)getpid());
        REQUIRE(copy_big_writes(made, path));
    }
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = small ? 64 : 32;
    o.prefetch = prefetch;
    o.shuffle = 1;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    for (int e = 0; e < 2; e++) {
        cxr_batch b;
        int64_t got = 0;
        long most = 0;
        CHECK_OK(cxr_loader_begin_epoch(l, e));
        do {
            CHECK_OK(cxr_loader_next_batch(l, &b));
            got += b.n;
            const long kb = small == 1 ? smaps_kb(name, "Rss") : 0;
            CHECK(kb >= 0);
            most = kb > most ? kb : most;
        } while (b.n > 0);
        CHECK(got == n);
        /* the data read: 16 MB or more; left mapped at the end: nothing (no decode runs; a
         * fault-around block of 64 kB is the least a leftover would show) */
        const long kb = smaps_kb(name, "Rss");
        if (!(kb >= 0 && kb < 64 && most <= 2048))
            fprintf(stderr,
                    "small %d prefetch %d epoch %d: %ld kB of the store mapped mid-epoch, %ld at "
                    "its end\n",
                    small, prefetch, e, most, kb);
        CHECK(kb >= 0 && kb < 64 && most <= 2048);
    }
    /* epochs left after their first batch (a caller's break): their windows' pages go at the
     * next begin_epoch; without that ~160 kB more stayed mapped each such epoch, synchronous */
    if (small == 1) {
        long kb = 0;
        for (int e = 2; e < 42; e++) {
            cxr_batch b;
            CHECK_OK(cxr_loader_begin_epoch(l, e));
            CHECK_OK(cxr_loader_next_batch(l, &b));
            CHECK(b.n == 64);
        }
        CHECK_OK(cxr_loader_begin_epoch(l, 42));
        kb = smaps_kb(name, "Rss");
        if (!(kb >= 0 && kb <= 2048))
            fprintf(stderr, "prefetch %d: %ld kB of the store mapped after 40 epochs left early\n",
                    prefetch, kb);
        CHECK(kb >= 0 && kb <= 2048);
    }
    cxr_loader_destroy(l);
    cxr_store_close(s);
    unlink(path);
    unlink(made);
}

/* A mapping that the address space has no room for (ulimit -v) is out of memory, exit 1 as every
 * tool's, not an I/O error of the file: in a child whose limit leaves 4 MB beside what it has
 * mapped already, a loader over a split of ~9 MB of chunks fails with CXR_E_NOMEM naming the mapping. */
static void test_map_nomem(void)
{
    char made[256];
    snprintf(made, sizeof made, "loader_nomem_%d.h5", (int)getpid());
    CHECK_OK(fixture_store(made, 128, 16, 256, 0, 0, 7));
    fflush(stdout);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        cxr_store *s;
        if (cxr_store_open(&s, made) != CXR_OK) _exit(3);
        FILE *f = fopen("/proc/self/status", "r");
        char line[256];
        long vm_kb = -1;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "VmSize: %ld kB", &vm_kb) == 1) break;
        if (f) fclose(f);
        struct rlimit r;
        if (vm_kb <= 0 || getrlimit(RLIMIT_AS, &r) != 0) _exit(3);
        r.rlim_cur = (rlim_t)(vm_kb + 4096) * 1024;
        if (setrlimit(RLIMIT_AS, &r) != 0) _exit(3);
        cxr_loader_options o;
        cxr_loader_options_defaults(&o);
        o.prefetch = 0;
        cxr_loader *l = NULL;
        const cxr_status st = cxr_loader_create(&l, s, "train", &o);
        const int ok = st == CXR_E_NOMEM && strstr(cxr_last_error(), "cannot map the") != NULL;
        if (!ok) printf("under an address-space limit: %s: %s\n", cxr_status_name(st), cxr_last_error());
        fflush(stdout);
        _exit(ok ? 0 : 1);
    }
    int ws = 0;
    CHECK(waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    unlink(made);
}

int main(void)
{
    snprintf(store_path, sizeof store_path, "loader_test_%d.h5", (int)getpid());
    snprintf(bad_path, sizeof bad_path, "loader_test_bad_%d.h5", (int)getpid());
    CHECK_OK(fixture_store(store_path, S, SHARD, NTRAIN, NVAL, 0, 1));
    test_content_and_order(1);
    test_content_and_order(0);
    test_prefetch_equals_sync();
    test_huge_window(1);
    test_huge_window(0);
    test_window_and_memory();
    test_split_window();
    test_unshuffled_window();
    test_map_range();
    test_map_nomem();
    test_abandon();
    test_corrupt(1);
    test_corrupt(0);
    test_replaced_file();
    test_replaced_while_opening();
    test_bad_pixel_named(0);
    test_bad_pixel_named(1);
    test_truncated(1);
    test_truncated(0);
    test_cut_before_create();
    test_cut_mid_chunk(1);
    test_cut_mid_chunk(0);
    test_nan_padding();
    test_parts(1, 1);
    test_parts(0, 1);
    test_parts(1, 0);
    test_shuffle_uniform();
    test_window_shuffle();
    test_mixup(0.4f);
    test_mixup(0.02f);
    test_mixup_denormal();
    for (int small = 0; small < 3; small++) {
        test_pages_released(1, small);
        test_pages_released(0, small);
    }
    test_pages_released_split();
    unlink(store_path);
    unlink(bad_path);
    TEST_END();
}
