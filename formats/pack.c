/* pack.c: the cxr-pack pipeline (cxr_pack_run): per split, read + decode + preprocess a window
 * of inputs on OpenMP workers, drop the inputs that failed, cut the survivors into whole shards
 * (a partial shard carries over to the next window), compress the shards in parallel, and write
 * them in order from the calling thread, the only one that ever calls HDF5. The chunks of one
 * window are written by the calling thread while the workers decode the next window.
 *
 * The output depends only on the plan and the store options: every chunk but the last of a
 * split holds exactly `shard` images, whatever the thread count or window size.
 */
#include "cxr_pack.h"

#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* An input file larger than this is skipped: it bounds the per-thread read buffer. */
#define CXR_PACK_MAX_FILE (64u << 20)

typedef struct {
    cxr_decoder *dec;
    uint8_t *file;
    size_t file_cap;
} worker;

typedef struct {
    int ok;
    uint64_t bytes;
    char reason[256];
} slot_result;

typedef struct {
    uint8_t *buf;
    size_t cap, size;
    int n;           /* images in the chunk */
    int64_t first;   /* index into the image-index array of its first image */
    cxr_status st;
    char err[256];
} chunk_job;

typedef struct {
    const cxr_pack_plan *plan;
    const cxr_pack_options *opt;
    cxr_pack_summary *sum;
    cxr_store_writer *w;
    int T, W, S, side;
    size_t px;              /* pixels per image */
    float *img;             /* (W+1)*S images */
    int64_t *idx;           /* plan item of each buffered image, (W+1)*S */
    slot_result *res;       /* W*S */
    worker *wk;             /* T */
    chunk_job *job;         /* W */
    int n_pending;          /* encoded chunks waiting to be written */
    int32_t *labels;        /* S */
    const char **paths;     /* S */
    /* chunk labels/paths are taken from this copy of idx, made when the chunks were cut */
    int64_t *pend_idx;      /* W*S */
    int64_t *order;         /* W*S: decode order inside a window, largest file first */
    uint64_t *fsize;        /* W*S: file size of each window slot (0 if stat fails) */
    double t0;
    int64_t done_all, total_all, done_split;
} pack_ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int interrupted(const pack_ctx *c)
{
    return c->opt->interrupted && *c->opt->interrupted;
}

/* Read a whole file with (normally) one read() into the worker's buffer. */
static int read_file(worker *wk, const char *path, size_t *len, char *reason, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
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

/* Write the encoded chunks of the previous window, in order (calling thread only). */
static cxr_status write_pending(pack_ctx *c)
{
    cxr_status st = CXR_OK;
    const cxr_pack_split *sp = NULL;
    for (int k = 0; k < c->n_pending; k++) {
        chunk_job *j = &c->job[k];
        if (interrupted(c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
        for (int i = 0; i < j->n; i++) {
            int64_t it = c->pend_idx[j->first + i];
            sp = &c->plan->splits[it >> 40];
            const cxr_pack_item *item = &sp->items[it & ((1ll << 40) - 1)];
            c->labels[i] = item->label;
            c->paths[i] = item->rel;
        }
        CXR_TRY(cxr_store_writer_put_chunk(c->w, j->buf, j->size, j->n, c->labels, c->paths));
        c->sum->stored_bytes += j->size;
    }
bail:
    c->n_pending = 0;
    return st;
}

/* Encode chunks [0, n_jobs) in parallel; they become the pending chunks. */
static cxr_status encode_chunks(pack_ctx *c, int n_jobs, int64_t n_images)
{
    const int level = c->opt->store.zstd_level;
#pragma omp parallel for schedule(dynamic, 1) num_threads(c->T)
    for (int k = 0; k < n_jobs; k++) {
        chunk_job *j = &c->job[k];
        j->st = cxr_chunk_encode(&j->buf, &j->cap, &j->size, c->img + (size_t)j->first * c->px,
                                 j->n, c->S, c->side, level);
        if (j->st != CXR_OK) snprintf(j->err, sizeof j->err, "%s", cxr_last_error());
    }
    for (int k = 0; k < n_jobs; k++)
        if (c->job[k].st != CXR_OK)
            return cxr_set_error(c->job[k].st, "compressing shard: %s", c->job[k].err);
    memcpy(c->pend_idx, c->idx, (size_t)n_images * sizeof *c->idx);
    c->n_pending = n_jobs;
    return CXR_OK;
}

static void report(pack_ctx *c, int si, int64_t total, int split_done)
{
    if (!c->opt->on_progress) return;
    cxr_pack_progress p = {
        .split = c->plan->splits[si].name, .split_index = si, .done = c->done_split,
        .total = total, .done_all = c->done_all, .total_all = c->total_all,
        .skipped = c->sum->skipped, .input_bytes = c->sum->input_bytes,
        .seconds = now_s() - c->t0, .split_done = split_done};
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

static cxr_status pack_split(pack_ctx *c, int si)
{
    cxr_status st = CXR_OK;
    const cxr_pack_split *sp = &c->plan->splits[si];
    const int64_t window = (int64_t)c->W * c->S;
    int64_t carry = 0;   /* images buffered at the front of img, fewer than S */

    CXR_TRY(cxr_store_writer_begin_split(c->w, sp->name, sp->n));
    c->done_split = 0;
    for (int64_t i0 = 0; i0 < sp->n; i0 += window) {
        int64_t B = sp->n - i0 < window ? sp->n - i0 : window;
        float *dst = c->img + (size_t)carry * c->px;
        volatile int stop = 0;  /* set by the writing thread if a write fails */
        cxr_status wst = CXR_OK;
        char werr[512] = "";
        const cxr_preprocess_params *pp = &c->opt->store.pp;
        /* Decode the largest files first: a big (often progressive) JPEG taken last would leave
         * the other threads idle at the end of the window. Results go to their slot by index,
         * so the order changes nothing in the output. */
        for (int64_t j = 0; j < B; j++) {
            struct stat sb;
            c->fsize[j] = stat(sp->items[i0 + j].path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
            c->order[j] = j;
        }
        for (int64_t a = 1; a < B; a++) { /* insertion sort, stable: windows are small */
            int64_t v = c->order[a], b = a;
            for (; b > 0 && c->fsize[c->order[b - 1]] < c->fsize[v]; b--) c->order[b] = c->order[b - 1];
            c->order[b] = v;
        }
#pragma omp parallel num_threads(c->T)
        {
            int t = omp_get_thread_num();
            /* the calling thread writes the previous window's chunks, then joins the decoding */
            if (t == 0 && c->n_pending) {
                wst = write_pending(c);
                if (wst != CXR_OK) {
                    snprintf(werr, sizeof werr, "%s", cxr_last_error());
                    stop = 1;
                }
            }
            worker *wk = &c->wk[t];
#pragma omp for schedule(dynamic, 1)
            for (int64_t q = 0; q < B; q++) {
                int64_t j = c->order[q];
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
                cxr_status ps = cxr_preprocess_jpeg(wk->dec, pp, wk->file, len,
                                                    dst + (size_t)j * c->px);
                if (ps != CXR_OK) {
                    snprintf(r->reason, sizeof r->reason, "%s", cxr_last_error());
                    continue;
                }
                r->ok = 1;
            }
        }
        if (wst != CXR_OK) {
            st = cxr_set_error(wst, "%s", werr);
            goto bail;
        }
        if (interrupted(c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");

        /* drop the failures (in plan order), keeping the survivors contiguous after the carry */
        int64_t n = carry;
        for (int64_t j = 0; j < B; j++) {
            const cxr_pack_item *item = &sp->items[i0 + j];
            c->sum->input_bytes += c->res[j].bytes;
            if (!c->res[j].ok) {
                CXR_TRY(skip(c, sp->name, item->path, item->rel, c->res[j].reason));
                continue;
            }
            if (n != carry + j)
                memcpy(c->img + (size_t)n * c->px, dst + (size_t)j * c->px, c->px * sizeof(float));
            c->idx[n] = ((int64_t)si << 40) | (i0 + j);
            if (item->label >= 0 && item->label < 64) c->sum->images[si][item->label]++;
            n++;
        }
        c->sum->packed += n - carry;
        c->done_split += B;
        c->done_all += B;

        /* whole shards go to the encoder, the rest carries over; in the split's last window
         * the partial shard is encoded with the others, in parallel */
        int last = i0 + B == sp->n;
        int n_jobs = (int)(last ? (n + c->S - 1) / c->S : n / c->S);
        for (int k = 0; k < n_jobs; k++) {
            int64_t first = (int64_t)k * c->S;
            c->job[k].n = (int)(n - first < c->S ? n - first : c->S);
            c->job[k].first = first;
        }
        int64_t n_enc = last ? n : (int64_t)(n / c->S) * c->S;
        if (n_jobs) CXR_TRY(encode_chunks(c, n_jobs, n_enc));
        carry = n - n_enc;
        if (carry && n_enc) {
            memmove(c->img, c->img + (size_t)n_enc * c->px, (size_t)carry * c->px * sizeof(float));
            memmove(c->idx, c->idx + n_enc, (size_t)carry * sizeof *c->idx);
        }
        report(c, si, sp->n, 0);
    }
    CXR_TRY(write_pending(c));
    if (carry) {
        c->job[0].n = (int)carry;
        c->job[0].first = 0;
        CXR_TRY(encode_chunks(c, 1, carry));
        CXR_TRY(write_pending(c));
    }
    if (interrupted(c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    CXR_TRY(cxr_store_writer_end_split(c->w));
    report(c, si, sp->n, 1);
bail:
    c->n_pending = 0;
    return st;
}

cxr_status cxr_pack_run(const cxr_pack_plan *plan, const cxr_pack_options *opt,
                        cxr_pack_summary *sum)
{
    cxr_status st = CXR_OK;
    pack_ctx c = {.plan = plan, .opt = opt, .sum = sum};
    memset(sum, 0, sizeof *sum);
    c.t0 = now_s();
    c.T = opt->threads > 0 ? opt->threads : 1;
    c.W = opt->window > 0 ? opt->window : (2 * c.T < 16 ? 2 * c.T : 16);
    c.S = opt->store.shard;
    c.side = opt->store.pp.size;
    if (c.S < 1 || c.S > 1 << 16) CXR_THROW(CXR_E_ARG, "shard size %d out of range", c.S);
    if (c.side < 1 || c.side > 4096) CXR_THROW(CXR_E_ARG, "image size %d out of range", c.side);
    if (plan->n_splits < 1 || plan->n_splits > 3) CXR_THROW(CXR_E_ARG, "plan has %d splits", plan->n_splits);
    c.px = (size_t)c.side * (size_t)c.side;
    for (int s = 0; s < plan->n_splits; s++) c.total_all += plan->splits[s].n;

    /* a planning skip under --strict fails before anything is created */
    if (opt->strict && plan->n_skipped > 0) {
        const cxr_pack_skip *k = &plan->skipped[0];
        sum->skipped = 1;
        if (opt->on_skip) opt->on_skip(opt->ctx, k->split, k->path, k->reason);
        CXR_THROW(CXR_E_DECODE, "%s: %s (--strict: stopping at the first skip)", k->path, k->reason);
    }

    size_t slots = (size_t)(c.W + 1) * (size_t)c.S;
    c.img = malloc(slots * c.px * sizeof(float));
    c.idx = malloc(slots * sizeof *c.idx);
    c.pend_idx = malloc(slots * sizeof *c.pend_idx);
    c.res = malloc((size_t)c.W * c.S * sizeof *c.res);
    c.order = malloc((size_t)c.W * c.S * sizeof *c.order);
    c.fsize = malloc((size_t)c.W * c.S * sizeof *c.fsize);
    c.wk = calloc((size_t)c.T, sizeof *c.wk);
    c.job = calloc((size_t)c.W + 1, sizeof *c.job); /* the last window may cut W+1 chunks */
    c.labels = malloc((size_t)c.S * sizeof *c.labels);
    c.paths = malloc((size_t)c.S * sizeof *c.paths);
    if (!c.img || !c.idx || !c.pend_idx || !c.res || !c.order || !c.fsize || !c.wk || !c.job || !c.labels || !c.paths)
        CXR_THROW(CXR_E_NOMEM, "out of memory for a window of %d shards of %d images", c.W, c.S);
    for (int t = 0; t < c.T; t++)
        if (!(c.wk[t].dec = cxr_decoder_create())) CXR_THROW(CXR_E_NOMEM, "out of memory (decoder)");

    CXR_TRY(cxr_store_writer_create(&c.w, opt->output, &opt->store, plan->n_classes,
                                    (const char *const *)plan->class_names));
    for (int a = 0; a < opt->n_attrs; a++)
        CXR_TRY(cxr_store_writer_set_attr(c.w, opt->attrs[a].name, opt->attrs[a].value));
    for (int64_t k = 0; k < plan->n_skipped; k++) {
        const cxr_pack_skip *sk = &plan->skipped[k];
        sum->skipped++;
        if (opt->on_skip) opt->on_skip(opt->ctx, sk->split, sk->path, sk->reason);
        CXR_TRY(cxr_store_writer_add_skipped(c.w, sk->split, sk->path, sk->reason));
    }
    for (int s = 0; s < plan->n_splits; s++) {
        if (interrupted(&c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
        CXR_TRY(pack_split(&c, s));
    }
    if (interrupted(&c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    CXR_TRY(cxr_store_writer_finish(c.w));
    sum->raw_bytes = (uint64_t)sum->packed * c.px * sizeof(float);
bail:
    cxr_store_writer_destroy(c.w);
    if (c.wk)
        for (int t = 0; t < c.T; t++) {
            cxr_decoder_destroy(c.wk[t].dec);
            free(c.wk[t].file);
        }
    if (c.job)
        for (int k = 0; k <= c.W; k++) free(c.job[k].buf);
    free(c.img);
    free(c.idx);
    free(c.pend_idx);
    free(c.res);
    free(c.order);
    free(c.fsize);
    free(c.wk);
    free(c.job);
    free(c.labels);
    free(c.paths);
    sum->seconds = now_s() - c.t0;
    return st;
}
