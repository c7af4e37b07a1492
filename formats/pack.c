/* pack.c: the cxr-pack pipeline (cxr_pack_run).
 *
 * The survivors of a split get positions 0, 1, 2... in plan order (skipped inputs get none);
 * position p is slot p % S of the split's chunk p / S. Chunks are built in a ring of shuffled
 * chunk buffers (cxr_chunk_shuffle_image): a worker that has preprocessed an image shuffles it
 * into its slot while it is still in cache, and a full chunk is then already the zstd input.
 *
 * Work goes in rounds, one OpenMP parallel region each. Round r decodes window r (W shards of
 * plan items, largest file first), placing item j of the window at position pos + j; in the
 * same region the chunks completed by round r-1 are compressed (they head the work list), and
 * the calling thread, the only one that ever calls HDF5, first creates the store (round 0) or
 * writes the chunks compressed in round r-1, ending a split there when the next chunk to write
 * opens a later one. After the region the window's failures are dropped, in plan order: later
 * survivors move down to close the gaps (rare). The chunks now complete, and at the end of a
 * split its partial last chunk, are queued for the next round. Splits follow one another with
 * no pause (the first round of a split compresses the last chunks of the previous one; the
 * writer opens a split when its first chunk arrives); at the end a round without decoding
 * compresses the last chunks (writing the ones before), and the calling thread writes them.
 *
 * Ring: chunks are numbered across splits; chunk g uses buffer g % R and compressed buffer
 * out[g % R]. A round fills chunks [g0, g0 + W] (g0 holds the position it starts at),
 * compresses chunks completed by the previous round, all >= g0 - W - 1 (>= g0 - W inside a
 * split; a new split starts at the chunk after the previous one's last), and writes chunks
 * compressed by the previous round, whose compressed bytes sit next to those: each set spans
 * at most 2W+2 numbers, so R = 2W+2 buffers never collide. ring_owner checks it at run time.
 * ring_hi[r] bounds the slots buffer r ever had written (windows place images at known
 * positions): the slots past it are still the zeros the mapping came with, so a partial
 * chunk's padding is cleared only where a dropped image left bytes.
 * A queued chunk carries its own copy of its slots' plan items for the writer.
 *
 * The output depends only on the plan and the store options: every chunk but the last of a
 * split holds exactly S images, whatever the thread count or window size.
 */
#include "cxr_pack.h"
#include "cxr_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* An input file larger than this is skipped: it bounds the per-thread read buffer. */
#define CXR_PACK_MAX_FILE (64u << 20)

typedef struct {
    cxr_decoder *dec;
    uint8_t *file;
    size_t file_cap;
    float *img; /* one preprocessed image, shuffled into its slot right after */
} worker;

typedef struct {
    int ok;
    uint64_t bytes;
    char reason[256];
} slot_result;

typedef struct {
    int64_t g;    /* chunk number (across splits) */
    int si;       /* its split */
    int n;        /* images in it */
    int64_t *idx; /* [S] plan item of each image, copied when queued */
    cxr_status st;
    char err[256];
} chunk_job;

typedef struct {
    const cxr_pack_plan *plan;
    const cxr_pack_options *opt;
    cxr_pack_summary *sum;
    cxr_store_writer *w;
    int T, W, R, S, side;
    size_t px, chunk_bytes;
    uint8_t **ring;      /* R shuffled chunks */
    int64_t *ring_owner; /* R: chunk number held, -1 none */
    int *ring_hi;        /* R: slots [ring_hi, S) of the buffer were never written: zero */
    int64_t *ring_idx;   /* R*S: plan item in each slot (split << 40 | item) */
    uint8_t **out;       /* R compressed chunks */
    size_t *out_cap, *out_size;
    chunk_job *enc, *wr; /* W+1 each: to compress / to write in the next round */
    int n_enc, n_wr;
    int wsplit;         /* split open in the writer (-1: none yet) */
    slot_result *res;   /* W*S */
    int64_t *order;     /* W*S: decode order inside a window, largest file first */
    worker *wk;         /* T */
    int32_t *labels;    /* S */
    const char **paths; /* S */
    double t0;
    int64_t done_all, total_all, done_split;
} pack_ctx;

/* The ring's big buffers (16 MB each with the defaults): fresh anonymous mappings, so they
 * start zeroed (a chunk's padding slots that were never written need no clearing, see
 * ring_hi), 2 MiB-aligned and marked for transparent huge pages where the kernel offers them:
 * first touching 16 MB then costs 8 page faults instead of 4096 (on the 120 full-size images,
 * page faults were ~10% of the CPU). Advisory: without THP these are ordinary pages. Released
 * with big_free(p, n), never with free() or realloc(). */
#define BIG_ALIGN ((size_t)2 << 20)
static size_t big_len(size_t n) { return (n + BIG_ALIGN - 1) / BIG_ALIGN * BIG_ALIGN; }

static void *big_alloc(size_t n)
{
    size_t len = big_len(n);
    uint8_t *m =
        mmap(NULL, len + BIG_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)m + BIG_ALIGN - 1) & ~(uintptr_t)(BIG_ALIGN - 1));
    if (p > m) munmap(m, (size_t)(p - m));
    if (p < m + BIG_ALIGN) munmap(p + len, (size_t)(m + BIG_ALIGN - p));
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}

static void big_free(void *p, size_t n)
{
    if (p) munmap(p, big_len(n));
}

static int interrupted(const pack_ctx *c) { return c->opt->interrupted && *c->opt->interrupted; }

/* Read a whole file with (normally) one read() into the worker's buffer. */
static int read_file(worker *wk, const char *path, size_t *len, char *reason, size_t cap)
{
    /* O_NONBLOCK: a FIFO in place of a file must not hang the worker; fstat refuses it below */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(reason, cap, "cannot open: %s", strerror(errno));
        return 0;
    }
    struct stat sb;
    int ok = 0;
    if (fstat(fd, &sb) != 0) {
        snprintf(reason, cap, "cannot stat: %s", strerror(errno));
        goto done;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(reason, cap, "not a regular file");
        goto done;
    }
    if (sb.st_size == 0) {
        snprintf(reason, cap, "empty file");
        goto done;
    }
    if ((uint64_t)sb.st_size > CXR_PACK_MAX_FILE) {
        snprintf(reason, cap, "file larger than %u MiB", CXR_PACK_MAX_FILE >> 20);
        goto done;
    }
    size_t want = (size_t)sb.st_size;
    if (want > wk->file_cap) {
        size_t nc = want + want / 4;
        if (nc > CXR_PACK_MAX_FILE) nc = CXR_PACK_MAX_FILE;
        uint8_t *nb = realloc(wk->file, nc);
        if (!nb) {
            snprintf(reason, cap, "out of memory reading %zu bytes", want);
            goto done;
        }
        wk->file = nb;
        wk->file_cap = nc;
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, wk->file + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(reason, cap, "read failed: %s", strerror(errno));
            goto done;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got != want) {
        snprintf(reason, cap, "short read (%zu of %zu bytes)", got, want);
        goto done;
    }
    *len = got;
    ok = 1;
done:
    close(fd);
    return ok;
}

static void report(pack_ctx *c, int si, int64_t total, int split_done)
{
    if (!c->opt->on_progress) return;
    cxr_pack_progress p = { .split = c->plan->splits[si].name,
                            .split_index = si,
                            .done = c->done_split,
                            .total = total,
                            .done_all = c->done_all,
                            .total_all = c->total_all,
                            .skipped = c->sum->skipped,
                            .input_bytes = c->sum->input_bytes,
                            .seconds = cxr_now_s() - c->t0,
                            .split_done = split_done };
    c->opt->on_progress(c->opt->ctx, &p);
}

static cxr_status skip(pack_ctx *c, const char *split, const char *shown, const char *rel,
                       const char *reason)
{
    c->sum->skipped++;
    if (c->opt->on_skip) c->opt->on_skip(c->opt->ctx, split, shown, reason);
    if (c->opt->strict)
        return cxr_set_error(CXR_E_DECODE, "%s: %s (--strict: stopping at the first skip)", shown,
                             reason);
    return cxr_store_writer_add_skipped(c->w, split, rel, reason);
}

/* Make split si the writer's open split, ending and beginning the splits in between (a split
 * with no chunk still gets its datasets). Calling thread only. */
static cxr_status writer_reach(pack_ctx *c, int si)
{
    cxr_status st = CXR_OK;
    while (c->wsplit < si) {
        if (c->wsplit >= 0) CXR_TRY(cxr_store_writer_end_split(c->w));
        c->wsplit++;
        const cxr_pack_split *sp = &c->plan->splits[c->wsplit];
        CXR_TRY(cxr_store_writer_begin_split(c->w, sp->name, sp->n));
    }
bail:
    return st;
}

static uint8_t *ring_chunk(pack_ctx *c, int64_t g) { return c->ring[g % c->R]; }
static int64_t *ring_slots(pack_ctx *c, int64_t g) { return c->ring_idx + (g % c->R) * c->S; }

/* Create the store and record the planning skips (calling thread only): in the first round,
 * while the other threads decode, instead of before it (~2 ms of HDF5 setup per run). */
static cxr_status writer_open(pack_ctx *c)
{
    cxr_status st = CXR_OK;
    const cxr_pack_options *opt = c->opt;
    const cxr_pack_plan *plan = c->plan;
    CXR_TRY(cxr_store_writer_create(&c->w, opt->output, &opt->store, plan->n_classes,
                                    (const char *const *)plan->class_names));
    for (int a = 0; a < opt->n_attrs; a++)
        CXR_TRY(cxr_store_writer_set_attr(c->w, opt->attrs[a].name, opt->attrs[a].value));
    for (int64_t k = 0; k < plan->n_skipped; k++) {
        const cxr_pack_skip *sk = &plan->skipped[k];
        c->sum->skipped++;
        if (opt->on_skip) opt->on_skip(opt->ctx, sk->split, sk->path, sk->reason);
        CXR_TRY(cxr_store_writer_add_skipped(c->w, sk->split, sk->path, sk->reason));
    }
bail:
    return st;
}

/* Write the chunks compressed in the previous round, in order (calling thread only). */
static cxr_status write_pending(pack_ctx *c)
{
    cxr_status st = CXR_OK;
    for (int k = 0; k < c->n_wr; k++) {
        const chunk_job *j = &c->wr[k];
        if (interrupted(c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
        CXR_TRY(writer_reach(c, j->si));
        const int64_t *slot = j->idx;
        for (int i = 0; i < j->n; i++) {
            const cxr_pack_split *sp = &c->plan->splits[slot[i] >> 40];
            const cxr_pack_item *item = &sp->items[slot[i] & ((1ll << 40) - 1)];
            c->labels[i] = item->label;
            c->paths[i] = item->rel;
        }
        size_t r = (size_t)(j->g % c->R);
        CXR_TRY(
            cxr_store_writer_put_chunk(c->w, c->out[r], c->out_size[r], j->n, c->labels, c->paths));
        c->sum->stored_bytes += c->out_size[r];
    }
    /* The next chunk to write (the first of those compressed this round) opens a later split:
     * every chunk of the open one is written, so end it now, while the other threads work,
     * rather than after the round. Same HDF5 calls in the same order. */
    if (c->n_enc > 0 && c->enc[0].si > c->wsplit) CXR_TRY(writer_reach(c, c->enc[0].si));
bail:
    c->n_wr = 0;
    return st;
}

/* One round: write the pending chunks (calling thread), compress the queued ones and decode
 * the window [i0, i0 + B) of split si into positions pos.. of chunks numbered from g_base. */
static cxr_status round_run(pack_ctx *c, int si, int64_t i0, int64_t B, int64_t g_base, int64_t pos)
{
    cxr_status st = CXR_OK;
    const cxr_pack_split *sp = si >= 0 ? &c->plan->splits[si] : NULL;
    const cxr_preprocess_params *pp = &c->opt->store.pp;
    const int level = c->opt->store.zstd_level, n_enc = c->n_enc;
    volatile int stop = 0; /* set by the writing thread if a write fails */
    cxr_status wst = CXR_OK;
    char werr[512] = "";

    /* Decode the largest files first (sizes as planned): a big (often progressive) JPEG taken
     * last would leave the other threads idle at the end of the round. Results go to their
     * slot by index, so the order changes nothing in the output. */
    const cxr_pack_item *items = B ? sp->items + i0 : NULL;
    for (int64_t j = 0; j < B; j++) c->order[j] = j;
    for (int64_t a = 1; a < B; a++) { /* insertion sort, stable: windows are small */
        int64_t v = c->order[a], b = a;
        for (; b > 0 && items[c->order[b - 1]].size < items[v].size; b--)
            c->order[b] = c->order[b - 1];
        c->order[b] = v;
    }
    /* the chunks this window fills change hands now: none may still be waiting to be compressed */
    for (int64_t g = g_base + pos / c->S; B && g <= g_base + (pos + B - 1) / c->S; g++) {
        int64_t o = c->ring_owner[g % c->R];
        if (o != g) {
            for (int k = 0; k < n_enc; k++)
                if (c->enc[k].g == o)
                    CXR_THROW(CXR_E_INTERNAL, "pack ring: chunk %lld would overwrite chunk %lld",
                              (long long)g, (long long)o);
            c->ring_owner[g % c->R] = g;
        }
        /* this window writes chunk g's slots up to position pos + B of the split at most */
        int64_t hi = pos + B - (g - g_base) * c->S;
        if (hi > c->S) hi = c->S;
        if (hi > c->ring_hi[g % c->R]) c->ring_hi[g % c->R] = (int)hi;
    }
    for (int k = 0; k < n_enc; k++) /* compressed bytes: out[g % R] */
        for (int q = 0; q < c->n_wr; q++)
            if (c->enc[k].g % c->R == c->wr[q].g % c->R)
                CXR_THROW(CXR_E_INTERNAL, "pack ring: chunk %lld would overwrite chunk %lld",
                          (long long)c->enc[k].g, (long long)c->wr[q].g);

#pragma omp parallel num_threads(c->T)
    {
        int t = omp_get_thread_num();
        /* the calling thread creates the store (first round) or writes the previous round's
         * chunks, then joins the work */
        if (t == 0 && (!c->w || c->n_wr)) {
            wst = c->w ? CXR_OK : writer_open(c);
            if (wst == CXR_OK && c->n_wr) wst = write_pending(c);
            if (wst != CXR_OK) {
                snprintf(werr, sizeof werr, "%s", cxr_last_error());
                stop = 1;
            }
        }
        worker *wk = &c->wk[t];
#pragma omp for schedule(dynamic, 1)
        for (int64_t q = 0; q < n_enc + B; q++) {
            if (q < n_enc) { /* compress a queued chunk */
                chunk_job *jb = &c->enc[q];
                size_t r = (size_t)(jb->g % c->R);
                /* out[r] has capacity cxr_chunk_encoded_max: the encoder never reallocates it */
                jb->st = cxr_chunk_encode_shuffled(&c->out[r], &c->out_cap[r], &c->out_size[r],
                                                   c->ring[r], jb->n, c->ring_hi[r], c->S, c->side,
                                                   level);
                if (jb->st != CXR_OK) snprintf(jb->err, sizeof jb->err, "%s", cxr_last_error());
                continue;
            }
            int64_t j = c->order[q - n_enc];
            slot_result *r = &c->res[j];
            r->ok = 0;
            r->bytes = 0;
            if (stop || interrupted(c)) {
                snprintf(r->reason, sizeof r->reason, "interrupted");
                continue;
            }
            const cxr_pack_item *item = &sp->items[i0 + j];
            size_t len = 0;
            if (!read_file(wk, item->path, &len, r->reason, sizeof r->reason)) continue;
            r->bytes = len;
            if (cxr_preprocess_jpeg(wk->dec, pp, wk->file, len, wk->img) != CXR_OK) {
                snprintf(r->reason, sizeof r->reason, "%s", cxr_last_error());
                continue;
            }
            int64_t p = pos + j;
            cxr_chunk_shuffle_image(ring_chunk(c, g_base + p / c->S), c->S, c->side,
                                    (int)(p % c->S), wk->img);
            r->ok = 1;
        }
    }
    if (wst != CXR_OK) CXR_THROW(wst, "%s", werr);
    for (int k = 0; k < n_enc; k++)
        if (c->enc[k].st != CXR_OK)
            CXR_THROW(c->enc[k].st, "compressing shard %lld: %s", (long long)c->enc[k].g,
                      c->enc[k].err);
    if (interrupted(c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    /* what was compressed is written next round */
    chunk_job *t = c->wr;
    c->wr = c->enc;
    c->n_wr = n_enc;
    c->enc = t;
    c->n_enc = 0;
bail:
    return st;
}

/* Decode split si in windows; queue its chunks as they fill. *g_next: the first chunk number
 * of this split on entry, of the next one on return. */
static cxr_status pack_split(pack_ctx *c, int si, int64_t *g_next)
{
    cxr_status st = CXR_OK;
    const cxr_pack_split *sp = &c->plan->splits[si];
    const int64_t window = (int64_t)c->W * c->S, g_base = *g_next;
    int64_t pos = 0, queued = 0; /* survivors placed; chunks queued */

    c->done_split = 0;
    for (int64_t i0 = 0; i0 < sp->n; i0 += window) {
        int64_t B = sp->n - i0 < window ? sp->n - i0 : window;
        CXR_TRY(round_run(c, si, i0, B, g_base, pos));

        /* drop the failures (in plan order), moving later survivors down */
        int64_t n = pos;
        for (int64_t j = 0; j < B; j++) {
            const cxr_pack_item *item = &sp->items[i0 + j];
            c->sum->input_bytes += c->res[j].bytes;
            if (!c->res[j].ok) {
                CXR_TRY(skip(c, sp->name, item->path, item->rel, c->res[j].reason));
                continue;
            }
            int64_t from = pos + j;
            if (n != from)
                cxr_chunk_move_image(ring_chunk(c, g_base + n / c->S), (int)(n % c->S),
                                     ring_chunk(c, g_base + from / c->S), (int)(from % c->S), c->S,
                                     c->side);
            ring_slots(c, g_base + n / c->S)[n % c->S] = ((int64_t)si << 40) | (i0 + j);
            if (item->label >= 0 && item->label < 64) c->sum->images[si][item->label]++;
            n++;
        }
        c->sum->packed += n - pos;
        pos = n;
        c->done_split += B;
        c->done_all += B;

        /* full chunks are queued; at the end of the split, the partial one too */
        int last = i0 + B == sp->n;
        while ((queued + 1) * c->S <= pos || (last && queued * c->S < pos)) {
            int64_t left = pos - queued * c->S;
            chunk_job *jb = &c->enc[c->n_enc++];
            jb->g = g_base + queued;
            jb->si = si;
            jb->n = (int)(left < c->S ? left : c->S);
            memcpy(jb->idx, ring_slots(c, jb->g), (size_t)jb->n * sizeof *jb->idx);
            queued++;
        }
        report(c, si, sp->n, last);
    }
    if (sp->n == 0) report(c, si, 0, 1);
    *g_next = g_base + queued;
bail:
    return st;
}

cxr_status cxr_pack_run(const cxr_pack_plan *plan, const cxr_pack_options *opt,
                        cxr_pack_summary *sum)
{
    cxr_status st = CXR_OK;
    pack_ctx c = { .plan = plan, .opt = opt, .sum = sum, .wsplit = -1 };
    memset(sum, 0, sizeof *sum);
    c.t0 = cxr_now_s();
    c.T = opt->threads > 0 ? opt->threads : 1;
    c.W = opt->window > 0 ? opt->window : (c.T < 6 ? c.T : 6);
    c.R = 2 * c.W + 2;
    c.S = opt->store.shard;
    c.side = opt->store.pp.size;
    if (c.S < 1 || c.S > 1 << 16) CXR_THROW(CXR_E_ARG, "shard size %d out of range", c.S);
    if (c.side < 1 || c.side > 4096) CXR_THROW(CXR_E_ARG, "image size %d out of range", c.side);
    if (plan->n_splits < 1 || plan->n_splits > 3)
        CXR_THROW(CXR_E_ARG, "plan has %d splits", plan->n_splits);
    c.px = (size_t)c.side * (size_t)c.side;
    c.chunk_bytes = cxr_chunk_bytes(c.S, c.side);
    for (int s = 0; s < plan->n_splits; s++) c.total_all += plan->splits[s].n;

    /* a planning skip under --strict fails before anything is created */
    if (opt->strict && plan->n_skipped > 0) {
        const cxr_pack_skip *k = &plan->skipped[0];
        sum->skipped = 1;
        if (opt->on_skip) opt->on_skip(opt->ctx, k->split, k->path, k->reason);
        CXR_THROW(CXR_E_DECODE, "%s: %s (--strict: stopping at the first skip)", k->path,
                  k->reason);
    }

    /* buffers are malloc'ed, not cleared: only the pages a run touches become resident */
    size_t win = (size_t)c.W * c.S;
    c.ring = calloc((size_t)c.R, sizeof *c.ring);
    c.ring_owner = malloc((size_t)c.R * sizeof *c.ring_owner);
    c.ring_hi = calloc((size_t)c.R, sizeof *c.ring_hi);
    c.ring_idx = malloc((size_t)c.R * c.S * sizeof *c.ring_idx);
    c.out = calloc((size_t)c.R, sizeof *c.out);
    c.out_cap = calloc((size_t)c.R, sizeof *c.out_cap);
    c.out_size = calloc((size_t)c.R, sizeof *c.out_size);
    c.enc = calloc((size_t)c.W + 1, sizeof *c.enc);
    c.wr = calloc((size_t)c.W + 1, sizeof *c.wr);
    c.res = malloc(win * sizeof *c.res);
    c.order = malloc(win * sizeof *c.order);
    c.wk = calloc((size_t)c.T, sizeof *c.wk);
    c.labels = malloc((size_t)c.S * sizeof *c.labels);
    c.paths = malloc((size_t)c.S * sizeof *c.paths);
    if (!c.ring || !c.ring_owner || !c.ring_hi || !c.ring_idx || !c.out || !c.out_cap ||
        !c.out_size || !c.enc || !c.wr || !c.res || !c.order || !c.wk || !c.labels || !c.paths)
        CXR_THROW(CXR_E_NOMEM, "out of memory for a window of %d shards of %d images", c.W, c.S);
    for (int k = 0; k <= c.W; k++)
        if (!(c.enc[k].idx = malloc((size_t)c.S * sizeof(int64_t))) ||
            !(c.wr[k].idx = malloc((size_t)c.S * sizeof(int64_t))))
            CXR_THROW(CXR_E_NOMEM, "out of memory for chunk jobs");
    for (int r = 0; r < c.R; r++) {
        c.ring_owner[r] = -1;
        c.out_cap[r] = cxr_chunk_encoded_max(c.S, c.side);
        if (!(c.ring[r] = big_alloc(c.chunk_bytes)) || !(c.out[r] = big_alloc(c.out_cap[r])))
            CXR_THROW(CXR_E_NOMEM, "out of memory for %d chunks of %zu bytes", c.R, c.chunk_bytes);
    }
    for (int t = 0; t < c.T; t++)
        if (!(c.wk[t].dec = cxr_decoder_create()) || !(c.wk[t].img = malloc(c.px * sizeof(float))))
            CXR_THROW(CXR_E_NOMEM, "out of memory (decoder)");

    /* the store is created by the calling thread during the first round (writer_open) */
    int64_t g_next = 0;
    for (int s = 0; s < plan->n_splits; s++) {
        if (interrupted(&c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
        CXR_TRY(pack_split(&c, s, &g_next));
    }
    if (!c.w) CXR_TRY(writer_open(&c)); /* no round ran: every split is empty */
    /* the last chunks: compress them (writing the previous ones), then write them */
    while (c.n_enc || c.n_wr) {
        if (c.n_enc)
            CXR_TRY(round_run(&c, -1, 0, 0, 0, 0));
        else
            CXR_TRY(write_pending(&c));
    }
    CXR_TRY(writer_reach(&c, plan->n_splits - 1));
    CXR_TRY(cxr_store_writer_end_split(c.w));
    if (interrupted(&c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    CXR_TRY(cxr_store_writer_finish(c.w));
    sum->raw_bytes = (uint64_t)sum->packed * c.px * sizeof(float);
bail:
    cxr_store_writer_destroy(c.w);
    if (c.wk)
        for (int t = 0; t < c.T; t++) {
            cxr_decoder_destroy(c.wk[t].dec);
            free(c.wk[t].file);
            free(c.wk[t].img);
        }
    for (int r = 0; r < c.R; r++) {
        if (c.ring) big_free(c.ring[r], c.chunk_bytes);
        if (c.out && c.out_cap) big_free(c.out[r], c.out_cap[r]);
    }
    free(c.ring);
    free(c.ring_owner);
    free(c.ring_hi);
    free(c.ring_idx);
    free(c.out);
    free(c.out_cap);
    free(c.out_size);
    for (int k = 0; k <= c.W; k++) {
        if (c.enc) free(c.enc[k].idx);
        if (c.wr) free(c.wr[k].idx);
    }
    free(c.enc);
    free(c.wr);
    free(c.res);
    free(c.order);
    free(c.wk);
    free(c.labels);
    free(c.paths);
    sum->seconds = cxr_now_s() - c.t0;
    return st;
}
