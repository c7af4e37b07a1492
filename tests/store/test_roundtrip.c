/* test_roundtrip.c: a store written through the public API with synthetic images
 * (train 150 images = 9 full chunks + 1 partial, val exactly one chunk, test empty; class 3
 * never labelled) and read back:
 *   - metadata: classes, weights w_c = N_train/(C*n_c) with 0 for the empty class, counts,
 *     labels, paths, preprocessing parameters;
 *   - every chunk decoded raw (pread at shard_index offsets + cxr_chunk_decode) equals HDF5's
 *     read of the same chunk bit for bit, and equals the images written (zero padding after);
 *   - chunk offsets are 4096-aligned;
 *   - determinism: the same store written twice is byte-identical;
 *   - a writer destroyed without finish leaves neither its temp file nor anything at the target,
 *     and a previous file at the target stays untouched;
 *   - writer misuse errors. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxr_test.h"
#include "store_testutil.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int exists(const char *p)
{
    struct stat s;
    return stat(p, &s) == 0;
}

static int count_temps(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    if (!d) return -1;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* Temporaries a previous run left behind when it died mid-way would fail the counts below. */
static void remove_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[1024];
    if (!d) return;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

static void check_store(const char *path, const tu_spec *sp)
{
    cxr_store *s = NULL;
    CHECK_OK(cxr_store_open(&s, path));
    CHECK(strcmp(cxr_store_path(s), path) == 0);
    CHECK(cxr_store_n_classes(s) == sp->n_classes);
    CHECK(strcmp(cxr_store_class_name(s, 2), "class02") == 0);
    CHECK(cxr_store_class_name(s, sp->n_classes) == NULL);

    cxr_preprocess_params def;
    cxr_preprocess_defaults(&def);
    const cxr_preprocess_params *pp = cxr_store_preprocess(s);
    CHECK(pp->size == sp->size);
    CHECK(pp->equalize == def.equalize);
    CHECK(pp->normalize == def.normalize);
    CHECK(pp->crop_ratio == def.crop_ratio);
    CHECK(pp->max_side == def.max_side);

    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    size_t per = (size_t)sp->size * sp->size, chunk_elems = per * sp->shard;
    float *hd = malloc(chunk_elems * 4), *rw = malloc(chunk_elems * 4),
          *want = calloc(chunk_elems, 4);
    void *scratch = malloc(chunk_elems * 4);
    REQUIRE(hd && rw && want && scratch);
    int64_t train_counts[16] = { 0 };
    for (int k = 0; k < 3; k++) {
        if (sp->n[k] < 0) {
            CHECK(!cxr_store_has_split(s, tu_splits[k]));
            continue;
        }
        CHECK(cxr_store_has_split(s, tu_splits[k]));
        cxr_split_info in;
        CHECK_OK(cxr_store_split(s, tu_splits[k], &in));
        CHECK(in.n == sp->n[k]);
        CHECK(in.n_shards == (sp->n[k] + sp->shard - 1) / sp->shard);
        CHECK(in.shard == sp->shard && in.size == sp->size);
        int64_t counts[16] = { 0 };
        for (int64_t i = 0; i < in.n; i++) {
            int32_t want_l = (int32_t)((i * 5 + k) % sp->n_label_classes);
            CHECK(in.labels[i] == want_l);
            counts[in.labels[i]]++;
            char pbuf[64];
            snprintf(pbuf, sizeof pbuf, "%s/c%d/img%05lld.jpeg", tu_splits[k], want_l,
                     (long long)i);
            const char *ip = cxr_store_image_path(s, tu_splits[k], i);
            CHECK(ip && strcmp(ip, pbuf) == 0);
        }
        CHECK(cxr_store_image_path(s, tu_splits[k], in.n) == NULL);
        for (int c = 0; c < sp->n_classes; c++) CHECK(in.class_counts[c] == counts[c]);
        if (k == 0) memcpy(train_counts, counts, sizeof counts);
        for (int64_t ch = 0; ch < in.n_shards; ch++) {
            CHECK(in.chunk_offset[ch] % 4096 == 0);
            uint8_t *raw = malloc(in.chunk_size[ch]);
            REQUIRE(raw);
            CHECK(pread(fd, raw, in.chunk_size[ch], (off_t)in.chunk_offset[ch]) ==
                  (ssize_t)in.chunk_size[ch]);
            long first = (long)ch * sp->shard;
            int n = (int)(in.n - first < sp->shard ? in.n - first : sp->shard);
            CHECK_OK(cxr_chunk_decode(rw, scratch, raw, in.chunk_size[ch], in.shard, in.size, n));
            memset(hd, 0x55, chunk_elems * 4);
            CHECK_OK(cxr_store_read_chunk_hdf5(s, tu_splits[k], ch, hd));
            CHECK(memcmp(rw, hd, chunk_elems * 4) == 0);
            memset(want, 0, chunk_elems * 4);
            tu_images(want, k, first, n, sp->size);
            CHECK(memcmp(rw, want, chunk_elems * 4) == 0);
            free(raw);
        }
        CHECK(cxr_store_read_chunk_hdf5(s, tu_splits[k], in.n_shards, hd) == CXR_E_ARG);
        /* single images through HDF5 */
        for (int64_t i = 0; i < in.n; i += 37) {
            CHECK_OK(cxr_store_read_image(s, tu_splits[k], i, hd));
            tu_images(want, k, (long)i, 1, sp->size);
            CHECK(memcmp(hd, want, per * 4) == 0);
        }
        CHECK(cxr_store_read_image(s, tu_splits[k], in.n, hd) == CXR_E_ARG);
    }
    /* class weights: N_train / (C * n_c); 0 for a class without training images */
    const float *w = cxr_store_class_weights(s);
    for (int c = 0; c < sp->n_classes; c++) {
        CHECK(isfinite(w[c]));
        double expect = train_counts[c]
                            ? (double)sp->n[0] / ((double)sp->n_classes * (double)train_counts[c])
                            : 0.0;
        CHECK_CLOSE(w[c], expect, 0, 1e-6);
    }
    CHECK(train_counts[sp->n_classes - 1] == 0 && w[sp->n_classes - 1] == 0.0f);
    cxr_split_info dummy;
    CHECK(cxr_store_split(s, "nope", &dummy) == CXR_E_FORMAT);
    close(fd);
    free(hd);
    free(rw);
    free(want);
    free(scratch);
    cxr_store_close(s);
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    const char *dir = argv[1];
    mkdir(dir, 0777);
    char a[512], b[512], c[512], d[512];
    snprintf(a, sizeof a, "%s/a.cxr", dir);
    snprintf(b, sizeof b, "%s/b.cxr", dir);
    snprintf(c, sizeof c, "%s/c.cxr", dir);
    snprintf(d, sizeof d, "%s/d.cxr", dir);
    unlink(a), unlink(b), unlink(c), unlink(d);
    remove_temps(dir);

    tu_spec sp = {
        .shard = 16, .size = 24, .n_classes = 4, .n_label_classes = 3, .n = { 150, 16, 0 }
    };
    CHECK_OK(tu_write_store(a, &sp, 1));
    check_store(a, &sp);

    /* determinism: written in another second, so a timestamp anywhere would show */
    usleep(1100 * 1000);
    CHECK_OK(tu_write_store(b, &sp, 1));
    size_t la = 0, lb = 0;
    char *ba = slurp(a, &la), *bb = slurp(b, &lb);
    REQUIRE(ba && bb);
    CHECK(la == lb && memcmp(ba, bb, la) == 0);
    fprintf(stderr, "store of %lld images: %zu bytes; second write identical: %s\n",
            (long long)(sp.n[0] + sp.n[1] + sp.n[2]), la,
            la == lb && memcmp(ba, bb, la) == 0 ? "yes" : "NO");
    free(ba);
    free(bb);
    CHECK(count_temps(dir, "a.cxr") == 0 && count_temps(dir, "b.cxr") == 0);

    /* destroy without finish: no temp file, nothing at the target */
    {
        cxr_store_options o;
        cxr_store_options_defaults(&o);
        o.pp.size = 8;
        o.shard = 4;
        const char *names[] = { "x", "y" };
        cxr_store_writer *w = NULL;
        /* preprocessing a reader would refuse is refused before any file exists */
        o.pp.equalize = CXR_EQUALIZE_CLAHE;
        o.pp.clahe_clip = 0;
        CHECK(cxr_store_writer_create(&w, c, &o, 2, names) == CXR_E_ARG && !w);
        CHECK(strstr(cxr_last_error(), "preprocessing") &&
              strstr(cxr_last_error(), "clahe_clip 0 out of range"));
        CHECK(!exists(c) && count_temps(dir, "c.cxr") == 0);
        o.pp.clahe_clip = CXR_CLAHE_CLIP;
        /* a class name longer than a reader takes (CXR_CLASS_NAME_MAX bytes) likewise */
        static char lname[CXR_CLASS_NAME_MAX + 2];
        memset(lname, 'n', CXR_CLASS_NAME_MAX + 1);
        const char *lnames[] = { "x", lname };
        CHECK(cxr_store_writer_create(&w, c, &o, 2, lnames) == CXR_E_FORMAT && !w);
        CHECK(strstr(cxr_last_error(), "class 1's name is 4097 bytes long (at most 4096)"));
        CHECK(!exists(c) && count_temps(dir, "c.cxr") == 0);
        /* ... and one of exactly CXR_CLASS_NAME_MAX bytes is taken */
        lname[CXR_CLASS_NAME_MAX] = '\0';
        CHECK(cxr_store_writer_create(&w, c, &o, 2, lnames) == CXR_OK && w);
        cxr_store_writer_destroy(w);
        w = NULL;
        CHECK(!exists(c) && count_temps(dir, "c.cxr") == 0);
        CHECK_OK(cxr_store_writer_create(&w, c, &o, 2, names));
        const char *tmp = cxr_store_writer_temp_path(w);
        REQUIRE(tmp);
        CHECK(exists(tmp));
        CHECK(!exists(c));
        char tcopy[600];
        snprintf(tcopy, sizeof tcopy, "%s", tmp);
        CHECK_OK(cxr_store_writer_begin_split(w, "train", 10));
        /* misuse */
        float img[4 * 64] = { 0 };
        uint8_t *raw = NULL;
        size_t cap = 0, rsz = 0;
        int32_t lab[4] = { 0, 1, 1, 0 }, badlab[4] = { 0, 2, 0, 0 }, neglab[4] = { 0, -1, 0, 0 };
        const char *paths[4] = { "p0", "p1", "p2", "p3" };
        CHECK_OK(cxr_chunk_encode(&raw, &cap, &rsz, img, 2, 4, 8, 3));
        CHECK(cxr_store_writer_put_chunk(w, raw, rsz, 2, badlab, paths) == CXR_E_MISMATCH);
        CHECK(cxr_store_writer_put_chunk(w, raw, rsz, 2, neglab, paths) == CXR_E_MISMATCH);
        CHECK(strstr(cxr_last_error(), "label -1 out of range [0, 2)"));
        CHECK(cxr_store_writer_put_chunk(w, raw, rsz - 1, 2, lab, paths) != CXR_OK);
        /* two whole chunks (8 of the 10 announced images), then one more is too many */
        uint8_t *raw4 = NULL;
        size_t cap4 = 0, rsz4 = 0;
        CHECK_OK(cxr_chunk_encode(&raw4, &cap4, &rsz4, img, 4, 4, 8, 3));
        CHECK_OK(cxr_store_writer_put_chunk(w, raw4, rsz4, 4, lab, paths));
        CHECK_OK(cxr_store_writer_put_chunk(w, raw4, rsz4, 4, lab, paths));
        CHECK(cxr_store_writer_put_chunk(w, raw4, rsz4, 4, lab, paths) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "more than the 10 images announced"));
        /* one image over is too many too (8 + 3 of 10) */
        uint8_t *raw3 = NULL;
        size_t cap3 = 0, rsz3 = 0;
        CHECK_OK(cxr_chunk_encode(&raw3, &cap3, &rsz3, img, 3, 4, 8, 3));
        CHECK(cxr_store_writer_put_chunk(w, raw3, rsz3, 3, lab, paths) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "more than the 10 images announced"));
        free(raw3);
        free(raw4);
        CHECK_OK(cxr_store_writer_put_chunk(w, raw, rsz, 2, lab, paths));
        CHECK(cxr_store_writer_put_chunk(w, raw, rsz, 2, lab, paths) ==
              CXR_E_ARG);                                              /* after partial */
        CHECK(cxr_store_writer_begin_split(w, "val", 3) == CXR_E_ARG); /* still open */
        CHECK(cxr_store_writer_begin_split(w, "holdout", 3) == CXR_E_ARG);
        CHECK(cxr_store_writer_set_attr(w, "format", "x") == CXR_E_ARG);
        CHECK(cxr_store_writer_set_attr(w, ".x", "y") == CXR_E_ARG); /* a leading dot */
        CHECK(strstr(cxr_last_error(), "bad attribute name '.x'"));
        CHECK(cxr_store_writer_finish(w) == CXR_E_ARG);
        /* a split begun again once written: misuse (CXR_E_ARG), not an HDF5 failure */
        CHECK_OK(cxr_store_writer_end_split(w));
        CHECK(cxr_store_writer_begin_split(w, "train", 3) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "split 'train' written twice"));
        /* a chunk after a partial one, though the count announced has room for it */
        CHECK_OK(cxr_store_writer_begin_split(w, "val", 10));
        CHECK_OK(cxr_store_writer_put_chunk(w, raw, rsz, 2, lab, paths));
        CHECK(cxr_store_writer_put_chunk(w, raw, rsz, 2, lab, paths) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "chunk after a partial chunk"));
        free(raw);
        cxr_store_writer_destroy(w);
        CHECK(!exists(tcopy));
        CHECK(!exists(c));
        CHECK(count_temps(dir, "c.cxr") == 0);
    }
    /* a previous file at the target survives an unfinished write */
    {
        FILE *f = fopen(d, "wb");
        REQUIRE(f);
        fputs("previous store", f);
        fclose(f);
        CHECK_OK(tu_write_store(d, &sp, 0));
        size_t ld = 0;
        char *bd = slurp(d, &ld);
        CHECK(bd && ld == 14 && memcmp(bd, "previous store", 14) == 0);
        free(bd);
        CHECK(count_temps(dir, "d.cxr") == 0);
    }
    /* an unwritable target directory: create fails with an I/O error naming the file */
    {
        cxr_store_options o;
        cxr_store_options_defaults(&o);
        const char *names[] = { "x" };
        cxr_store_writer *w = NULL;
        cxr_status st = cxr_store_writer_create(&w, "/nonexistent-dir/s.cxr", &o, 1, names);
        CHECK(st == CXR_E_IO && w == NULL);
        CHECK(strstr(cxr_last_error(), "/nonexistent-dir/s.cxr") != NULL);
    }
    TEST_END();
}
