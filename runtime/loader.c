/* loader.c: the shard loader behind cxr_loader.h.
 *
 * The split's image order for an epoch is cut into windows of `window` shards. Window buffers
 * (a few, reused round-robin) receive decoded shards; an assembler copies images from them in
 * epoch order into a ring of `depth` batch buffers that the consumer reads. With prefetch on,
 * shard decodes run on `threads` worker threads and the assembler on a thread of its own, so
 * decode, assembly and the consumer's compute overlap; with prefetch off, the same assembler
 * code runs inside cxr_loader_next_batch and decodes windows inline. Errors from a worker are
 * carried (status + message) to the consumer through the batch they spoil.
 */
#include "cxr_loader.h"
#include "cxr_augment.h"
#include "cxr_clock.h"
#include "cxr_splitmix.h"
#include "cxr_fpenv.h"
#include "cxr_memory.h"
#include "cxr_signals.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- random stream */
/* cxr_loader.h documents the key: mix = cxr_splitmix64_mix, G = CXR_SPLITMIX64_GAMMA. */
uint64_t cxr_loader_shuffle_key(uint64_t seed, int epoch)
{
    const uint64_t G = CXR_SPLITMIX64_GAMMA, stream = 1, b = 0;
    uint64_t inner = cxr_splitmix64_mix(G * (b + 1));
    inner = cxr_splitmix64_mix(G * ((uint64_t)epoch + 1) ^ inner);
    inner = cxr_splitmix64_mix(G * (stream + 1) ^ inner);
    return cxr_splitmix64_mix(seed ^ inner);
}

uint64_t cxr_loader_mixup_key(uint64_t seed, int epoch, int64_t step, int part)
{
    const uint64_t G = CXR_SPLITMIX64_GAMMA, stream = 3;
    uint64_t inner = cxr_splitmix64_mix(G * ((uint64_t)part + 1));
    inner = cxr_splitmix64_mix(G * ((uint64_t)step + 1) ^ inner);
    inner = cxr_splitmix64_mix(G * ((uint64_t)epoch + 1) ^ inner);
    inner = cxr_splitmix64_mix(G * (stream + 1) ^ inner);
    return cxr_splitmix64_mix(seed ^ inner);
}

double cxr_loader_beta(uint64_t *state, double a)
{
    if (!(a > 0 && a <= CXR_LOADER_MIXUP_MAX)) return NAN;
    for (;;) {
        const double u = (double)((cxr_splitmix64_next(state) >> 11) + 1) * 0x1p-53;
        const double v = (double)((cxr_splitmix64_next(state) >> 11) + 1) * 0x1p-53;
        /* log X and log Y: u^(1/a) underflows for small a */
        const double lx = log(u) / a, ly = log(v) / a, lm = lx > ly ? lx : ly;
        const double x = exp(lx - lm), y = exp(ly - lm), s = x + y;
        if (lm + log(s) <= 0.0) return x / s;
    }
}

/* Uniform integer in [0, m) by rejection: values in the top partial block are redrawn. */
static uint64_t rand_below(uint64_t *state, uint64_t m)
{
    if (m <= 1) return 0;
    uint64_t limit = (UINT64_MAX / m) * m;
    for (;;) {
        uint64_t x = cxr_splitmix64_next(state);
        if (x < limit) return x % m;
    }
}

static void shuffle_i64(int64_t *v, int64_t n, uint64_t *state)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rand_below(state, (uint64_t)i + 1);
        int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

/* ---------------------------------------------------------------- state */
typedef struct {
    int64_t window; /* window held (-1 none) */
    int pending;    /* shard decodes not finished */
    cxr_status st;  /* the decode error of the first failed shard in window order */
    int err_j;      /* that shard's position (prefetch: whatever finished first) */
    char msg[CXR_MSG_MAX];
    float *data; /* window * shard * S*S floats */
} wslot;

typedef struct {
    int slot, j; /* window slot and position of the shard in the window */
    int64_t shard;
    int epoch; /* the epoch it is decoded for (augmentation) */
} task;

typedef struct {
    float *images;
    int32_t *labels;
    int64_t *indices;
    int32_t *labels2; /* mixup only */
    float *mix;       /* mixup only */
    int n;
    int64_t step;
    cxr_status st;
    char msg[CXR_MSG_MAX];
} bslot;

struct cxr_loader {
    char *path;
    const cxr_store *store; /* outlives the loader (it owns labels, offsets, paths) */
    char split[32];
    cxr_loader_options opt;
    cxr_augment_params aug;                    /* opt.augment's copy */
    int augment;                               /* aug is active */
    int epoch;                                 /* the epoch begun last */
    int64_t n_split, n_shards_split;           /* the whole split */
    int64_t n, n_shards, n_batches, n_windows; /* this loader's part of it */
    int64_t *mine;                             /* [n_shards] this part's shards, increasing */
    int shard, size;
    size_t img_floats;
    const int32_t *labels;
    const uint64_t *coff, *csize;
    uint8_t *map;     /* the file's bytes [map_off, map_off + map_size): this loader's chunks */
    uint64_t map_off; /* a page boundary at or below its first chunk */
    size_t map_size;
    int fd; /* the mapped file (a duplicate of the store's): its size is checked before each read */

    /* epoch plan */
    int64_t *order, *shard_order, *shard_pos, *win_start;
    int epoch_begun;

    /* windows */
    int n_wslots;
    wslot *ws;
    int64_t pos, cur_w;
    int cur_ready;

    /* ring */
    int depth;
    bslot *ring;
    int64_t filled, consumed;
    int holding;
    int64_t sync_next; /* sync mode: next batch to produce */
    int sync_over;     /* sync mode: end or error returned */

    /* worker queue */
    task *tq;
    int tq_head, tq_len, tq_cap, inflight;

    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done, cv_ring, cv_coord;
    pthread_t *workers;
    int n_workers;
    pthread_t coord;
    int coord_started;
    int quit, cancel, run_req, running;
    int n_flushing; /* threads that started with flush-to-zero + denormals-are-zero set */

    void *scratch_sync;
    double wait_s;
};

void cxr_loader_options_defaults(cxr_loader_options *o)
{
    o->batch = 64;
    o->shuffle = 0;
    o->seed = 1;
    o->window = 0;
    o->threads = 2;
    o->depth = 3;
    o->prefetch = 1;
    o->part = 0;
    o->parts = 1;
    o->augment = NULL;
    o->mixup = 0;
}

int cxr_loader_auto_window(int shard)
{
    if (shard < 1) return 1;
    const int w = CXR_LOADER_WINDOW_IMAGES / shard;
    return w < 1 ? 1 : w > 4 ? 4 : w;
}

int cxr_loader_split_window(int shard, int64_t n_shards, int64_t image_bytes)
{
    if (shard < 1 || n_shards < 1 || image_bytes < 1) return 1;
    const double shard_bytes = (double)shard * (double)image_bytes;
    if ((double)n_shards * shard_bytes <= (double)CXR_LOADER_SPLIT_BYTES)
        return n_shards < INT_MAX ? (int)n_shards : INT_MAX;
    const double w = (double)CXR_LOADER_MIXED_BYTES / shard_bytes;
    return w < 1 ? 1 : w > (double)n_shards ? (int)n_shards : (int)w;
}

/* The decode threads a prefetching loader starts: no more than the decodes that can be queued
 * at once (every window slot's shards), since each holds a whole shard of scratch. */
static int decode_workers(const cxr_loader *l, int64_t wmax)
{
    const int64_t most = (int64_t)l->n_wslots * wmax;
    return l->opt.threads < most ? l->opt.threads : (int)most;
}

/* Refuse buffers the machine cannot hold (cxr_memory.h), before any is allocated: windows of
 * decoded shards (a shard decodes whole, padding rows included, so a short last shard fills a
 * whole shard's room; no more shards than this part has), the batch ring and one whole shard
 * per decode thread (a chunk decompresses whole). A shard size in the thousands at 256x256 is
 * gigabytes a buffer. */
static cxr_status check_memory(const cxr_loader *l, int64_t wmax, int64_t bmax)
{
    const double img = (double)l->img_floats * sizeof(float);
    const int scratch = l->opt.prefetch ? decode_workers(l, wmax) : 1;
    double shards = (double)l->n_wslots * (double)wmax;             /* shards the windows hold */
    if (shards > (double)l->n_shards) shards = (double)l->n_shards; /* no more than there are */
    const double held = shards * l->shard;                          /* images' room */
    const double need = img * (held + (double)l->depth * (double)bmax + (double)scratch * l->shard);
    const int64_t avail = cxr_mem_available();
    if (avail < 0 || need <= (double)avail) return CXR_OK;
    return cxr_set_error(CXR_E_NOMEM,
                         "%s: split '%s': the loader needs %.1f MiB of buffers (%d window(s) of "
                         "%lld shard(s) and %d shard(s) being decoded, shards of %d images of "
                         "%dx%d, and %d batch(es) of %lld images), more than the %.1f MiB this "
                         "machine has free: smaller batches, or repack the store with a smaller "
                         "--shard (this one has %d)",
                         l->path, l->split, cxr_mib(need), l->n_wslots, (long long)wmax, scratch,
                         l->shard, l->size, l->size, l->depth, (long long)bmax,
                         cxr_mib((double)avail), l->shard);
}

static int64_t shard_count(const cxr_loader *l, int64_t k)
{
    int64_t left = l->n_split - k * l->shard;
    return left < l->shard ? left : l->shard;
}

/* cxr_chunk_decode's arguments, for cxr_guard_mapped_read */
typedef struct {
    float *out;
    void *scratch;
    const uint8_t *raw;
    size_t raw_size;
    int shard, size, n;
} chunk_read;

static int chunk_read_run(void *arg)
{
    const chunk_read *r = arg;
    return cxr_chunk_decode(r->out, r->scratch, r->raw, r->raw_size, r->shard, r->size, r->n);
}

/* The most a fault maps beyond the page it reads: the cached pages of its aligned 64 kB block
 * (Linux's fault-around) or the whole large folio it falls in, at most a PMD's 2 MiB on x86-64
 * (a file written or read in large pieces, e.g. copied, is cached in such folios). Larger on
 * other CPUs (arm64 with 64 kB pages): the rest would stay mapped (RSS only). */
#define FAULT_REACH ((uintptr_t)2 << 20)

/* madvise `advice` on the pages of the mapped store that hold chunk k and those within `reach`
 * bytes of it, within the mapping (whole pages: madvise takes a page-aligned start; the
 * mapping covers its last page whole). */
static void chunk_advise(const cxr_loader *l, int64_t k, int advice, uintptr_t reach)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), base = (uintptr_t)l->map,
                    end = (base + l->map_size + page - 1) & ~(page - 1);
    uintptr_t a = base + (l->coff[k] - l->map_off), b = a + l->csize[k];
    a = a - base > reach ? (a - reach) & ~(page - 1) : base;
    b = end - b > reach ? (b + reach + page - 1) & ~(page - 1) : end;
    (void)madvise((void *)a, b - a, advice);
}

/* chunk_advise on each of window w's chunks. Reads only the epoch's plan, which does not change
 * while the epoch runs. */
static void advise_window(const cxr_loader *l, int64_t w, int advice, uintptr_t reach)
{
    int64_t first = w * l->opt.window, last = first + l->opt.window;
    if (last > l->n_shards) last = l->n_shards;
    for (int64_t p = first; p < last; p++) chunk_advise(l, l->shard_order[p], advice, reach);
}

/* Take the pages within FAULT_REACH of each of window w's chunks out of this process's mapping
 * (they stay in the page cache), once the window is done (fill_batch). A decoded chunk releases
 * its own pages (decode_shard), but its faults also mapped pages of the chunks beside it; in a
 * shuffled order those stayed mapped until their own chunk was decoded: RSS rose by ~15 kB a
 * chunk to the middle of an epoch and fell by its end (190 MB on a store of 1,000,000 32 px
 * images: tests/bench/results/scale_walk6_2026-12-07.txt). Releasing them with each chunk
 * instead made a neighbour's later decode map a large folio of released chunks again, left
 * mapped to the epoch's end; here every page a window's faults mapped leaves with the window
 * (or, for an epoch left before its end, at the next begin_epoch), so what stays mapped is
 * bounded by the windows in flight, not the split (with --shuffle-window split a window may be
 * most of the split: up to 512 MiB of decoded images). The release touches only those ranges
 * (a release of the whole mapping per window costs in proportion to the store, each window). A
 * decode running meanwhile faults its pages in again (the mapping is read-only). */
static void release_window(const cxr_loader *l, int64_t w)
{
    advise_window(l, w, MADV_DONTNEED, FAULT_REACH);
}

/* Decode shard k into window slot `slot` at position j, augmented for `epoch` when the loader
 * augments. Thread-safe (own scratch). */
static cxr_status decode_shard(const cxr_loader *l, int slot, int j, int64_t k, int epoch,
                               void *scratch, char *msg, size_t msg_cap)
{
    float *out = l->ws[slot].data + (size_t)j * l->shard * l->img_floats;
    /* A store is replaced by rename, which the mapping survives, but another program may cut it
     * short in place, and a disk may fail: reading a mapped page that is gone is SIGBUS, which
     * the guard turns into an error. A file cut within the chunk's last page reads zeros there
     * instead (a checksum error): the file's size tells either from a bad chunk. */
    const uint64_t end = l->coff[k] + l->csize[k];
    const uint8_t *raw = l->map + (l->coff[k] - l->map_off);
    chunk_read r = {
        out, scratch, raw, (size_t)l->csize[k], l->shard, l->size, (int)shard_count(l, k)
    };
    int code = CXR_OK;
    const int faulted = cxr_guard_mapped_read(r.raw, r.raw_size, chunk_read_run, &r, &code);
    if (faulted) cxr_chunk_decode_abandoned();
    /* The chunk's pages leave this process's mapping once it is decoded. The page cache keeps
     * them (the next epoch faults them back in from memory while they stay cached), but pages
     * left mapped count in the process's RSS and its cgroup's mapped memory: a pass over a split
     * of N GB ended with N GB of RSS (cxr-eval on a 31 GB store: 4.2 GB peak, 1.1 GB of it
     * anonymous). Pages shared with a neighbouring chunk being decoded are simply faulted in
     * again (the mapping is read-only); what faults mapped around the chunk goes with the
     * window (release_window). */
    chunk_advise(l, k, MADV_DONTNEED, 0);
    cxr_status st = faulted ? CXR_E_IO : (cxr_status)code;
    struct stat sb;
    if (st != CXR_OK && fstat(l->fd, &sb) == 0 && (uint64_t)sb.st_size < end) {
        snprintf(msg, msg_cap,
                 "%s: split '%s' shard %lld: the file was cut to %lld bytes while in use (the "
                 "chunk ends at %llu): another program truncated or rewrote it in place",
                 l->path, l->split, (long long)k, (long long)sb.st_size, (unsigned long long)end);
        return CXR_E_IO;
    }
    if (faulted) {
        snprintf(msg, msg_cap,
                 "%s: split '%s' shard %lld (offset %llu, %llu bytes): reading the mapped file "
                 "failed (SIGBUS: the device could not read it, or another program changed it "
                 "in place)",
                 l->path, l->split, (long long)k, (unsigned long long)l->coff[k],
                 (unsigned long long)l->csize[k]);
        return CXR_E_IO;
    }
    if (st == CXR_OK && l->augment) /* the scratch is free again: each image goes through it */
        for (int64_t i = 0; i < shard_count(l, k); i++) {
            float *img = out + (size_t)i * l->img_floats;
            cxr_augment_image(&l->aug, l->opt.seed, epoch, k * l->shard + i, img, scratch, l->size);
            memcpy(img, scratch, l->img_floats * sizeof(float));
        }
    /* a bad pixel value, not a bad frame (after which the slot holds an earlier chunk's
     * images, whose NaN would name the wrong one) */
    const int64_t bad = st == CXR_E_FORMAT ? cxr_chunk_nonfinite_image() : -1;
    if (bad >= 0) { /* name the image: its index in the split and its source path */
        int64_t img = k * l->shard + bad;
        const char *p = cxr_store_image_path(l->store, l->split, img);
        snprintf(msg, msg_cap, "%s: split '%s' image %lld (%s, shard %lld): %s", l->path, l->split,
                 (long long)img, p ? p : "?", (long long)k, cxr_last_error());
    } else if (st != CXR_OK)
        snprintf(msg, msg_cap, "%s: split '%s' shard %lld (offset %llu, %llu bytes): %s", l->path,
                 l->split, (long long)k, (unsigned long long)l->coff[k],
                 (unsigned long long)l->csize[k], cxr_last_error());
    return st;
}

/* ---------------------------------------------------------------- workers */
static void *worker_main(void *arg)
{
    cxr_loader *l = arg;
    void *scratch = malloc((size_t)l->shard * l->img_floats * sizeof(float));
    char msg[CXR_MSG_MAX];
    cxr_fp_flush_denormals(); /* decoding and scaling never stall on denormals */
    pthread_mutex_lock(&l->mu);
    l->n_flushing += cxr_fp_flushing();
    for (;;) {
        while (!l->quit && l->tq_len == 0) pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->quit) break;
        task t = l->tq[l->tq_head];
        l->tq_head = (l->tq_head + 1) % l->tq_cap;
        l->tq_len--;
        l->inflight++;
        pthread_mutex_unlock(&l->mu);
        cxr_status st;
        if (scratch) {
            st = decode_shard(l, t.slot, t.j, t.shard, t.epoch, scratch, msg, sizeof msg);
        } else {
            st = CXR_E_NOMEM;
            snprintf(msg, sizeof msg, "%s: split '%s': out of memory for decode scratch", l->path,
                     l->split);
        }
        pthread_mutex_lock(&l->mu);
        wslot *w = &l->ws[t.slot];
        if (st != CXR_OK && (w->st == CXR_OK || t.j < w->err_j)) {
            /* the error of the first bad shard in window order, as without prefetch: which
             * worker finishes first must not choose the message */
            w->st = st;
            w->err_j = t.j;
            memcpy(w->msg, msg, sizeof w->msg);
        }
        w->pending--;
        l->inflight--;
        pthread_cond_broadcast(&l->cv_done);
    }
    pthread_mutex_unlock(&l->mu);
    free(scratch);
    return NULL;
}

/* Ask the kernel to read window w's chunks ahead (this window's, no others: advice on the whole
 * file would name every split's). Called without the lock while the workers run (madvise may
 * submit I/O); at an epoch's start before they are let go. */
static void prefetch_window(const cxr_loader *l, int64_t w)
{
    advise_window(l, w, MADV_WILLNEED, 0);
}

/* Assign window w to its slot and queue (prefetch) its shard decodes. Lock held if prefetch. */
static void post_window(cxr_loader *l, int64_t w)
{
    int slot = (int)(w % l->n_wslots);
    wslot *s = &l->ws[slot];
    int64_t first = w * l->opt.window, last = first + l->opt.window;
    if (last > l->n_shards) last = l->n_shards;
    s->window = w;
    s->pending = (int)(last - first);
    s->st = CXR_OK;
    s->err_j = 0;
    s->msg[0] = 0;
    if (!l->opt.prefetch) return;
    for (int64_t p = first; p < last; p++) {
        int at = (l->tq_head + l->tq_len) % l->tq_cap;
        l->tq[at] = (task){ slot, (int)(p - first), l->shard_order[p], l->epoch };
        l->tq_len++;
    }
    pthread_cond_broadcast(&l->cv_work);
}

/* Make sure window cur_w is decoded. Returns 1 if cancelled, else 0 with errors in the slot. */
static int ensure_window(cxr_loader *l)
{
    int slot = (int)(l->cur_w % l->n_wslots);
    wslot *s = &l->ws[slot];
    if (!l->opt.prefetch) {
        int64_t first = l->cur_w * l->opt.window;
        for (int j = 0; s->pending > 0; j++, s->pending--) {
            if (s->st != CXR_OK) continue;
            s->st = decode_shard(l, slot, j, l->shard_order[first + j], l->epoch, l->scratch_sync,
                                 s->msg, sizeof s->msg);
        }
        return 0;
    }
    pthread_mutex_lock(&l->mu);
    while (!l->cancel && !l->quit && s->pending > 0) pthread_cond_wait(&l->cv_done, &l->mu);
    int cancelled = l->cancel || l->quit;
    pthread_mutex_unlock(&l->mu);
    return cancelled;
}

/* Mixup of an assembled batch (cxr_loader.h, "Mixup"): pairs (i, n-1-i) in place. A weight
 * below FLT_MIN is 0, so that no weight is a denormal that threads with and without
 * denormals-are-zero would read differently. */
static void mix_batch(const cxr_loader *l, bslot *bs, int64_t b)
{
    const int n = bs->n;
    uint64_t state = cxr_loader_mixup_key(l->opt.seed, l->epoch, b, l->opt.part);
    for (int i = 0; i < n; i++) {
        const double lam = cxr_loader_beta(&state, l->opt.mixup);
        bs->mix[i] = lam < FLT_MIN ? 0.0f : (float)lam;
        bs->labels2[i] = bs->labels[n - 1 - i];
    }
    for (int i = 0; i < n / 2; i++) {
        float *x = bs->images + (size_t)i * l->img_floats;
        float *y = bs->images + (size_t)(n - 1 - i) * l->img_floats;
        const float li = bs->mix[i], lj = bs->mix[n - 1 - i];
        for (size_t k = 0; k < l->img_floats; k++) {
            const float a = x[k], c = y[k];
            x[k] = c + li * (a - c);
            y[k] = a + lj * (c - a);
        }
    }
}

/* Fill batch b into bs from the window buffers. Returns 1 if cancelled; a decode error is left
 * in bs->st / bs->msg. */
static int fill_batch(cxr_loader *l, bslot *bs, int64_t b)
{
    int64_t start = b * l->opt.batch, n_b = l->n - start;
    if (n_b > l->opt.batch) n_b = l->opt.batch;
    bs->n = (int)n_b;
    bs->step = b;
    bs->st = CXR_OK;
    for (int64_t i = 0; i < n_b; i++) {
        int64_t p = l->pos;
        while (p >= l->win_start[l->cur_w + 1]) {
            /* window cur_w fully copied: its slot takes window cur_w + n_wslots */
            int64_t nw = l->cur_w + l->n_wslots;
            release_window(l, l->cur_w);
            if (nw < l->n_windows) {
                if (l->opt.prefetch) pthread_mutex_lock(&l->mu);
                post_window(l, nw);
                if (l->opt.prefetch) pthread_mutex_unlock(&l->mu);
                prefetch_window(l, nw);
            }
            l->cur_w++;
            l->cur_ready = 0;
        }
        if (!l->cur_ready) {
            if (ensure_window(l)) return 1;
            wslot *s = &l->ws[l->cur_w % l->n_wslots];
            if (s->st != CXR_OK) {
                bs->st = s->st;
                snprintf(bs->msg, sizeof bs->msg, "%s", s->msg);
                return 0;
            }
            l->cur_ready = 1;
        }
        int64_t idx = l->order[p], k = idx / l->shard;
        int64_t j = l->shard_pos[k] - l->cur_w * l->opt.window;
        const float *src = l->ws[l->cur_w % l->n_wslots].data +
                           ((size_t)j * l->shard + (size_t)(idx % l->shard)) * l->img_floats;
        memcpy(bs->images + (size_t)i * l->img_floats, src, l->img_floats * sizeof(float));
        bs->labels[i] = l->labels[idx];
        bs->indices[i] = idx;
        l->pos++;
    }
    if (l->pos == l->n) release_window(l, l->cur_w); /* the epoch's last window is done */
    if (l->opt.mixup > 0) mix_batch(l, bs, b);
    return 0;
}

/* Publish a filled slot (prefetch). */
static void publish(cxr_loader *l)
{
    pthread_mutex_lock(&l->mu);
    l->filled++;
    pthread_cond_broadcast(&l->cv_ring);
    pthread_mutex_unlock(&l->mu);
}

/* Wait until batch slot b is free. Returns 1 if cancelled. */
static int wait_ring(cxr_loader *l, int64_t b)
{
    pthread_mutex_lock(&l->mu);
    while (!l->cancel && !l->quit && b - l->consumed >= l->depth)
        pthread_cond_wait(&l->cv_ring, &l->mu);
    int c = l->cancel || l->quit;
    pthread_mutex_unlock(&l->mu);
    return c;
}

static void produce_epoch(cxr_loader *l)
{
    for (int64_t b = 0; b < l->n_batches; b++) {
        if (wait_ring(l, b)) return;
        bslot *bs = &l->ring[b % l->depth];
        if (fill_batch(l, bs, b)) return;
        publish(l);
        if (bs->st != CXR_OK) return; /* the consumer stops at the error */
    }
    if (wait_ring(l, l->n_batches)) return;
    bslot *end = &l->ring[l->n_batches % l->depth];
    end->n = 0;
    end->step = l->n_batches;
    end->st = CXR_OK;
    publish(l);
}

static void *coord_main(void *arg)
{
    cxr_loader *l = arg;
    cxr_fp_flush_denormals();
    pthread_mutex_lock(&l->mu);
    l->n_flushing += cxr_fp_flushing();
    for (;;) {
        while (!l->quit && !l->run_req) pthread_cond_wait(&l->cv_coord, &l->mu);
        if (l->quit) break;
        l->run_req = 0;
        l->running = 1;
        pthread_mutex_unlock(&l->mu);
        produce_epoch(l);
        pthread_mutex_lock(&l->mu);
        /* drop queued decodes and let in-flight ones finish before the buffers are reused */
        l->tq_len = 0;
        while (l->inflight > 0 && !l->quit) pthread_cond_wait(&l->cv_done, &l->mu);
        l->running = 0;
        pthread_cond_broadcast(&l->cv_coord);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---------------------------------------------------------------- API */
cxr_status cxr_loader_options_check(const cxr_loader_options *opt)
{
    if (!opt) return cxr_set_error(CXR_E_ARG, "loader: no options");
    if (opt->batch < 1) return cxr_set_error(CXR_E_ARG, "loader: batch %d: need >= 1", opt->batch);
    if (opt->prefetch && opt->threads < 1)
        return cxr_set_error(CXR_E_ARG,
                             "loader: threads %d: need >= 1 with prefetch (0 only without it)",
                             opt->threads);
    if (opt->depth < 2)
        return cxr_set_error(CXR_E_ARG, "loader: depth %d: need >= 2 (batches in the ring)",
                             opt->depth);
    if (opt->window < CXR_LOADER_WINDOW_SPLIT)
        return cxr_set_error(CXR_E_ARG,
                             "loader: window %d: need >= 0, or CXR_LOADER_WINDOW_SPLIT (-1)",
                             opt->window);
    if (!(opt->mixup >= 0 && opt->mixup <= CXR_LOADER_MIXUP_MAX))
        return cxr_set_error(CXR_E_ARG, "loader: mixup %g: need 0 (none) or (0, %g]", opt->mixup,
                             CXR_LOADER_MIXUP_MAX);
    if (opt->mixup > 0 && !opt->shuffle) /* its pairs are drawn from the shuffled order */
        return cxr_set_error(CXR_E_ARG,
                             "loader: mixup %g needs shuffle on (it pairs images of the shuffled "
                             "order); it is off",
                             opt->mixup);
    if (opt->mixup > 0 && opt->mixup < FLT_MIN) /* the threads would flush it: mixup off */
        return cxr_set_error(CXR_E_ARG,
                             "loader: mixup %g: below the least normal float, %g (the loader's "
                             "threads flush smaller ones to 0)",
                             opt->mixup, (double)FLT_MIN);
    if (opt->parts < 1 || opt->part < 0 || opt->part >= opt->parts)
        return cxr_set_error(CXR_E_ARG, "loader: part %d of %d: need 0 <= part < parts", opt->part,
                             opt->parts);
    return CXR_OK;
}

cxr_status cxr_loader_create(cxr_loader **out, const cxr_store *store, const char *split,
                             const cxr_loader_options *opt)
{
    cxr_status st = CXR_OK;
    cxr_loader *l = NULL;
    int fd = -1;
    cxr_split_info info;
    *out = NULL;
    if (!store || !split) return cxr_set_error(CXR_E_ARG, "loader: missing store or split");
    if ((st = cxr_loader_options_check(opt)) != CXR_OK) return st;
    if (strlen(split) >= sizeof l->split)
        return cxr_set_error(CXR_E_ARG, "loader: split name too long: %s", split);
    CXR_TRY(cxr_store_split(store, split, &info));
    if (info.shard < 1 || info.size < 1 || info.n < 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: split '%s': bad shard/size", cxr_store_path(store),
                             split);

    l = calloc(1, sizeof *l);
    if (!l) return cxr_set_error(CXR_E_NOMEM, "loader: out of memory");
    l->fd = -1;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_done, NULL);
    pthread_cond_init(&l->cv_ring, NULL);
    pthread_cond_init(&l->cv_coord, NULL);
    l->path = strdup(cxr_store_path(store));
    l->store = store;
    snprintf(l->split, sizeof l->split, "%s", split);
    l->opt = *opt;
    l->opt.augment = NULL; /* copied into aug: the caller's params need not outlive the loader */
    l->augment = cxr_augment_active(opt->augment);
    if (l->augment) l->aug = *opt->augment;
    l->n_split = info.n;
    l->n_shards_split = info.n_shards;
    l->shard = info.shard;
    l->size = info.size;
    l->img_floats = (size_t)info.size * info.size;
    l->labels = info.labels;
    l->coff = info.chunk_offset;
    l->csize = info.chunk_size;
    /* unshuffled, a window orders nothing (the order is the file's whatever it is; only where a
     * damaged chunk's error comes, after how many good batches, moves with it): windows of as
     * few shards as keep the decode threads busy, three being in flight with prefetch (one
     * shard without: the caller decodes), at most the auto window (an evaluation at 2 threads
     * held 3 x 4 shards of decoded images, 192 MiB at 256x256, for nothing:
     * tests/bench/results/xeon-2026-12-07c/eval_window.txt) */
    if (!l->opt.shuffle && (l->opt.window == 0 || l->opt.window == CXR_LOADER_WINDOW_SPLIT)) {
        const int t = l->opt.threads, aw = cxr_loader_auto_window(l->shard);
        const int busy = l->opt.prefetch ? t / 3 + (t % 3 != 0) : 1; /* synchronous: one slot */
        l->opt.window = busy < 1 ? 1 : busy < aw ? busy : aw;
    }
    if (l->opt.window == 0) l->opt.window = cxr_loader_auto_window(l->shard);
    if (!l->path) CXR_THROW(CXR_E_NOMEM, "loader: out of memory");
    if (l->n_shards_split != (l->n_split + l->shard - 1) / l->shard)
        CXR_THROW(CXR_E_FORMAT, "%s: split '%s': %lld shards for %lld images of shard %d", l->path,
                  split, (long long)l->n_shards_split, (long long)l->n_split, l->shard);
    l->mine = malloc((size_t)(l->n_shards_split + 1) * sizeof *l->mine);
    if (!l->mine) CXR_THROW(CXR_E_NOMEM, "loader: out of memory");
    for (int64_t k = opt->part; k < l->n_shards_split; k += opt->parts) {
        l->mine[l->n_shards++] = k;
        l->n += shard_count(l, k);
    }
    if (l->opt.window == CXR_LOADER_WINDOW_SPLIT)
        l->opt.window = cxr_loader_split_window(l->shard, l->n_shards,
                                                (int64_t)(l->img_floats * sizeof(float)));
    l->n_batches = (l->n + opt->batch - 1) / opt->batch;
    l->n_windows = (l->n_shards + l->opt.window - 1) / l->opt.window;

    /* map the file the store validated (not whatever the path names now) read-only; chunks are
     * read in place */
    fd = fcntl(cxr_store_fd(store), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) CXR_THROW(CXR_E_IO, "%s: cannot open: %s", l->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) CXR_THROW(CXR_E_IO, "%s: stat: %s", l->path, strerror(errno));
    const uint64_t fsize = (uint64_t)sb.st_size;
    for (int64_t k = 0; k < l->n_shards_split; k++)
        if (l->csize[k] < 4 || l->coff[k] > fsize || l->csize[k] > fsize - l->coff[k])
            CXR_THROW(CXR_E_FORMAT,
                      "%s: split '%s' shard %lld: chunk (offset %llu, %llu bytes) lies outside "
                      "the file (%llu bytes)",
                      l->path, split, (long long)k, (unsigned long long)l->coff[k],
                      (unsigned long long)l->csize[k], (unsigned long long)fsize);
    /* only the bytes of the chunks this loader reads, from the page below the first: not the
     * whole file, so that the loaders of a process (cxr-train's val pass beside its training
     * loader) do not each take the whole store's size of address space, which a vmem limit
     * (ulimit -v) counts: tests/bench/results/xeon-2026-12-07c/map_range.txt */
    if (l->n_shards > 0) {
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int64_t i = 0; i < l->n_shards; i++) {
            const int64_t k = l->mine[i];
            if (l->coff[k] < lo) lo = l->coff[k];
            if (l->coff[k] + l->csize[k] > hi) hi = l->coff[k] + l->csize[k];
        }
        l->map_off = lo & ~((uint64_t)sysconf(_SC_PAGESIZE) - 1);
        l->map_size = (size_t)(hi - l->map_off);
        l->map = mmap(NULL, l->map_size, PROT_READ, MAP_SHARED, fd, (off_t)l->map_off);
        if (l->map == MAP_FAILED) {
            /* ENOMEM: no room in the address space (ulimit -v) for the mapping: out of memory
             * (exit 1, as every tool's), not an I/O error of the file */
            const int e = errno;
            l->map = NULL;
            CXR_THROW(e == ENOMEM ? CXR_E_NOMEM : CXR_E_IO,
                      "%s: cannot map the %.0f MiB of split '%s': %s", l->path,
                      cxr_mib((double)l->map_size), split, strerror(e));
        }
    }

    l->order = malloc((size_t)(l->n + 1) * sizeof *l->order);
    l->shard_order = malloc((size_t)(l->n_shards + 1) * sizeof *l->shard_order);
    l->shard_pos = malloc((size_t)(l->n_shards_split + 1) * sizeof *l->shard_pos);
    l->win_start = malloc((size_t)(l->n_windows + 2) * sizeof *l->win_start);
    l->n_wslots = opt->prefetch ? 3 : 1;
    if (l->n_wslots > l->n_windows) l->n_wslots = l->n_windows > 0 ? (int)l->n_windows : 1;
    l->ws = calloc((size_t)l->n_wslots, sizeof *l->ws);
    l->depth = opt->prefetch ? opt->depth : 1;
    /* batch b of an epoch takes slot b % depth, and the end of the epoch slot n_batches: more
     * slots than n_batches + 1 are never filled */
    if (l->depth > 2 && l->depth > l->n_batches + 1)
        l->depth = l->n_batches + 1 > 2 ? (int)(l->n_batches + 1) : 2;
    l->ring = calloc((size_t)l->depth, sizeof *l->ring);
    if (!l->order || !l->shard_order || !l->shard_pos || !l->win_start || !l->ws || !l->ring)
        CXR_THROW(CXR_E_NOMEM, "loader: out of memory");
    /* buffers for what a window and a batch can hold here, not for the options' sizes: a
     * window of 10^5 shards over a split of 82 is one window of 82 (the plan is the same) */
    const int64_t wmax =
        l->opt.window < l->n_shards ? l->opt.window : (l->n_shards > 0 ? l->n_shards : 1);
    const int64_t bmax = opt->batch < l->n ? opt->batch : (l->n > 0 ? l->n : 1);
    CXR_TRY(check_memory(l, wmax, bmax));
    for (int i = 0; i < l->n_wslots; i++) {
        l->ws[i].window = -1;
        l->ws[i].data = calloc((size_t)wmax * l->shard * l->img_floats, sizeof(float));
        if (!l->ws[i].data) CXR_THROW(CXR_E_NOMEM, "loader: out of memory for window buffers");
    }
    for (int i = 0; i < l->depth; i++) {
        l->ring[i].images = malloc((size_t)bmax * l->img_floats * sizeof(float));
        l->ring[i].labels = malloc((size_t)bmax * sizeof(int32_t));
        l->ring[i].indices = malloc((size_t)bmax * sizeof(int64_t));
        if (l->opt.mixup > 0) {
            l->ring[i].labels2 = malloc((size_t)bmax * sizeof(int32_t));
            l->ring[i].mix = malloc((size_t)bmax * sizeof(float));
            if (!l->ring[i].labels2 || !l->ring[i].mix)
                CXR_THROW(CXR_E_NOMEM, "loader: out of memory (mixup labels)");
        }
        if (!l->ring[i].images || !l->ring[i].labels || !l->ring[i].indices)
            CXR_THROW(CXR_E_NOMEM, "loader: out of memory for batch buffers");
    }
    if (opt->prefetch) {
        if (l->n_wslots * wmax >= INT_MAX)
            CXR_THROW(CXR_E_ARG, "loader: a window of %lld shards is too large", (long long)wmax);
        l->tq_cap = (int)(l->n_wslots * wmax) + 1;
        l->tq = malloc((size_t)l->tq_cap * sizeof *l->tq);
        const int nw = decode_workers(l, wmax); /* more would only hold idle scratch */
        l->workers = calloc((size_t)nw, sizeof *l->workers);
        if (!l->tq || !l->workers) CXR_THROW(CXR_E_NOMEM, "loader: out of memory");
        /* EAGAIN: no room for a thread's stack (ulimit -v) or too many threads (ulimit -u):
         * the machine's want, out of memory as an allocation's */
        int e = 0;
        for (int i = 0; i < nw && !e; i++)
            if (!(e = pthread_create(&l->workers[i], NULL, worker_main, l))) l->n_workers++;
        if (e)
            CXR_THROW(e == EAGAIN ? CXR_E_NOMEM : CXR_E_INTERNAL,
                      "loader: cannot start decode worker %d of %d: %s", l->n_workers + 1, nw,
                      strerror(e));
        if ((e = pthread_create(&l->coord, NULL, coord_main, l)))
            CXR_THROW(e == EAGAIN ? CXR_E_NOMEM : CXR_E_INTERNAL,
                      "loader: cannot start its assembler thread: %s", strerror(e));
        l->coord_started = 1;
    } else {
        l->scratch_sync = malloc((size_t)l->shard * l->img_floats * sizeof(float));
        if (!l->scratch_sync) CXR_THROW(CXR_E_NOMEM, "loader: out of memory");
    }
    l->fd = fd; /* kept: decode_shard checks the file's size */
    *out = l;
    return CXR_OK;
bail:
    if (fd >= 0) close(fd);
    cxr_loader_destroy(l);
    return st;
}

void cxr_loader_destroy(cxr_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->quit = 1;
    l->cancel = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_cond_broadcast(&l->cv_done);
    pthread_cond_broadcast(&l->cv_ring);
    pthread_cond_broadcast(&l->cv_coord);
    pthread_mutex_unlock(&l->mu);
    if (l->coord_started) pthread_join(l->coord, NULL);
    for (int i = 0; i < l->n_workers; i++) pthread_join(l->workers[i], NULL);
    if (l->map) munmap(l->map, l->map_size);
    if (l->fd >= 0) close(l->fd);
    if (l->ws)
        for (int i = 0; i < l->n_wslots; i++) free(l->ws[i].data);
    if (l->ring)
        for (int i = 0; i < l->depth; i++) {
            free(l->ring[i].images);
            free(l->ring[i].labels);
            free(l->ring[i].indices);
            free(l->ring[i].labels2);
            free(l->ring[i].mix);
        }
    free(l->ws);
    free(l->ring);
    free(l->tq);
    free(l->workers);
    free(l->scratch_sync);
    free(l->order);
    free(l->shard_order);
    free(l->shard_pos);
    free(l->win_start);
    free(l->mine);
    free(l->path);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_done);
    pthread_cond_destroy(&l->cv_ring);
    pthread_cond_destroy(&l->cv_coord);
    free(l);
}

/* The epoch plan: shard order, window boundaries, image order (see cxr_loader.h). */
static void make_plan(const cxr_loader *l, int epoch, int64_t *order, int64_t *shard_order,
                      int64_t *win_start)
{
    uint64_t rng = cxr_loader_shuffle_key(l->opt.seed, epoch);
    if (l->opt.parts > 1)
        rng = cxr_splitmix64_mix(rng ^ CXR_SPLITMIX64_GAMMA * ((uint64_t)l->opt.part + 1));
    memcpy(shard_order, l->mine, (size_t)l->n_shards * sizeof *shard_order);
    if (l->opt.shuffle) shuffle_i64(shard_order, l->n_shards, &rng);
    int64_t pos = 0;
    for (int64_t w = 0; w < l->n_windows; w++) {
        int64_t begin = pos;
        if (win_start) win_start[w] = pos;
        for (int64_t p = w * l->opt.window; p < (w + 1) * l->opt.window && p < l->n_shards; p++) {
            int64_t k = shard_order[p], c = shard_count(l, k);
            for (int64_t i = 0; i < c; i++) order[pos++] = k * l->shard + i;
        }
        if (l->opt.shuffle) shuffle_i64(order + begin, pos - begin, &rng);
    }
    if (win_start) {
        win_start[l->n_windows] = pos;
        win_start[l->n_windows + 1] = pos; /* sentinel for the window scan */
    }
}

/* The plan of an epoch into the caller's order[n] or shards[n_shards] (the other may be NULL). */
static cxr_status plan_for_caller(const cxr_loader *l, int epoch, int64_t *order, int64_t *shards)
{
    int64_t *tmp = malloc((size_t)((order ? l->n_shards : l->n) + 1) * sizeof *tmp);
    if (!tmp) return cxr_set_error(CXR_E_NOMEM, "loader: out of memory");
    make_plan(l, epoch, order ? order : tmp, shards ? shards : tmp, NULL);
    free(tmp);
    return CXR_OK;
}

cxr_status cxr_loader_epoch_order(const cxr_loader *l, int epoch, int64_t *out)
{
    return plan_for_caller(l, epoch, out, NULL);
}

cxr_status cxr_loader_epoch_shards(const cxr_loader *l, int epoch, int64_t *out)
{
    return plan_for_caller(l, epoch, NULL, out);
}

cxr_status cxr_loader_begin_epoch(cxr_loader *l, int epoch)
{
    if (epoch < 0) return cxr_set_error(CXR_E_ARG, "loader: negative epoch %d", epoch);
    if (l->opt.prefetch) {
        pthread_mutex_lock(&l->mu);
        if (l->running || l->run_req) {
            l->cancel = 1;
            pthread_cond_broadcast(&l->cv_done);
            pthread_cond_broadcast(&l->cv_ring);
            while (l->running || l->run_req) pthread_cond_wait(&l->cv_coord, &l->mu);
        }
    }
    /* an epoch left before its end (a caller's break, an error): the pages its posted windows'
     * decodes mapped, which only the windows' ends would release (no decode runs now); the old
     * plan's windows (a whole epoch released its last one at its last image: fill_batch) */
    if (l->epoch_begun && l->pos < l->n)
        for (int64_t w = l->cur_w; w < l->cur_w + l->n_wslots && w < l->n_windows; w++)
            release_window(l, w);
    make_plan(l, epoch, l->order, l->shard_order, l->win_start);
    l->epoch = epoch;
    for (int64_t p = 0; p < l->n_shards; p++) l->shard_pos[l->shard_order[p]] = p;
    l->pos = 0;
    l->cur_w = 0;
    l->cur_ready = 0;
    l->filled = l->consumed = 0;
    l->holding = 0;
    l->sync_next = 0;
    l->sync_over = 0;
    l->wait_s = 0;
    l->epoch_begun = 1;
    for (int i = 0; i < l->n_wslots; i++) l->ws[i].window = -1;
    for (int64_t w = 0; w < l->n_wslots && w < l->n_windows; w++) post_window(l, w);
    /* before the workers are let go (no other thread runs now): the advice comes first */
    for (int64_t w = 0; w < l->n_wslots && w < l->n_windows; w++) prefetch_window(l, w);
    if (l->opt.prefetch) {
        l->cancel = 0;
        l->run_req = 1;
        pthread_cond_broadcast(&l->cv_coord);
        pthread_mutex_unlock(&l->mu);
    }
    return CXR_OK;
}

static cxr_status hand_out(cxr_loader *l, const bslot *bs, cxr_batch *b)
{
    b->n = bs->n;
    b->size = l->size;
    b->images = bs->images;
    b->labels = bs->labels;
    b->indices = bs->indices;
    b->step = bs->step;
    b->labels2 = bs->labels2; /* NULL without mixup (the ring is calloc'd, they are not made) */
    b->mix = bs->mix;
    if (bs->st != CXR_OK) {
        b->n = 0;
        return cxr_set_error(bs->st, "%s", bs->msg);
    }
    return CXR_OK;
}

cxr_status cxr_loader_next_batch(cxr_loader *l, cxr_batch *b)
{
    memset(b, 0, sizeof *b);
    b->size = l->size;
    if (!l->epoch_begun) return cxr_set_error(CXR_E_ARG, "loader: next_batch before begin_epoch");
    double t0 = cxr_now_s();
    cxr_status st = CXR_OK;
    if (!l->opt.prefetch) {
        bslot *bs = &l->ring[0];
        if (l->sync_over) {
            /* end or error already returned: repeat it */
        } else if (l->sync_next >= l->n_batches) {
            bs->n = 0;
            bs->st = CXR_OK;
            bs->step = l->n_batches;
            l->sync_over = 1;
        } else {
            /* the caller's thread computes as the workers do (denormals flushed), then gets
             * its own mode back: the same bits with prefetch on and off, whatever the caller */
            const unsigned mxcsr = cxr_fp_mxcsr();
            cxr_fp_flush_denormals();
            fill_batch(l, bs, l->sync_next++);
            cxr_fp_restore(mxcsr);
            if (bs->st != CXR_OK) l->sync_over = 1;
        }
        st = hand_out(l, bs, b);
    } else {
        pthread_mutex_lock(&l->mu);
        if (l->holding) {
            l->consumed++;
            l->holding = 0;
            pthread_cond_broadcast(&l->cv_ring);
        }
        int64_t want = l->consumed;
        while (l->filled <= want) pthread_cond_wait(&l->cv_ring, &l->mu);
        bslot *bs = &l->ring[want % l->depth];
        if (bs->n > 0 && bs->st == CXR_OK) l->holding = 1;
        pthread_mutex_unlock(&l->mu);
        st = hand_out(l, bs, b);
    }
    l->wait_s += cxr_now_s() - t0;
    return st;
}

double cxr_loader_wait_seconds(const cxr_loader *l) { return l->wait_s; }
int64_t cxr_loader_n_images(const cxr_loader *l) { return l->n; }
int cxr_loader_threads_flushing(cxr_loader *l, int *n_threads)
{
    pthread_mutex_lock(&l->mu);
    const int n = l->n_flushing;
    pthread_mutex_unlock(&l->mu);
    *n_threads = l->n_workers + l->coord_started;
    return n;
}
int64_t cxr_loader_n_batches(const cxr_loader *l) { return l->n_batches; }
int64_t cxr_loader_n_shards(const cxr_loader *l) { return l->n_shards; }
int cxr_loader_window(const cxr_loader *l) { return l->opt.window; }
