/* pack.c: the cxr-pack pipeline (cxr_pack_run): decode -> preprocess -> shuffle into chunks ->
 * compress -> write, in parallel, with bounded memory and an output that does not depend on the
 * thread count or the window size. specs/store.md, "Packing pipeline", has the outline; the
 * details follow. Below, W = window (shards decoded per round), S = shard (images per chunk),
 * R = n_ring = 2W+2 (chunk buffers).
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
 * Ring: chunks are numbered across splits; chunk g uses shuffled buffer ring[g % R] and
 * compressed buffer comp[g % R]. A round fills chunks [g0, g0 + W] (g0 holds the position it
 * starts at), compresses chunks completed by the previous round, all >= g0 - W - 1 (>= g0 - W
 * inside a split; a new split starts at the chunk after the previous one's last), and writes
 * chunks compressed by the previous round, whose compressed bytes sit next to those: each set
 * spans at most 2W+2 numbers, so R = 2W+2 buffers never collide. ring_claim checks it at run
 * time. ring_hi[r] bounds the slots buffer r ever had written (windows place images at known
 * positions): the slots past it are still the zeros the mapping came with, so a partial
 * chunk's padding is cleared only where a dropped image left bytes.
 * A queued chunk carries its own copy of its slots' plan items for the writer.
 *
 * The output depends only on the plan and the store options: every chunk but the last of a
 * split holds exactly S images, whatever the thread count or window size.
 */
#include "cxr_pack.h"
#include "cxr_clock.h"
#include "cxr_memory.h"
#include "pack_dups.h"

#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A slot's plan item, as ring_items and chunk_job.items hold it: split << 40 | item index. */
#define ITEM_REF(split, item) (((int64_t)(split) << 40) | (item))
#define ITEM_SPLIT(ref)       ((int)((ref) >> 40))
#define ITEM_INDEX(ref)       ((ref) & ((1ll << 40) - 1))

/* One OpenMP thread's decoding state. */
typedef struct {
    cxr_decoder *dec; /* also holds the input file being decoded (cxr_decode_file) */
    float *img;       /* one preprocessed image, shuffled into its slot right after */
} worker;

/* A window item's planned size and its index in the window, for the decode order. */
typedef struct {
    uint64_t size;
    int64_t index;
} decode_key;

/* What became of one item of the window being decoded. */
typedef struct {
    int ok;
    cxr_status fatal; /* not the input's fault (out of memory): the pack stops, nothing skipped */
    uint64_t bytes;   /* input bytes read */
    char reason[256]; /* why it is skipped (or, with fatal, why it stops), when !ok */
} slot_result;

/* A complete chunk queued to be compressed, then written. */
typedef struct {
    int64_t chunk;  /* chunk number (across splits) */
    int split;      /* its split */
    int n_images;   /* images in it */
    int64_t *items; /* [shard] ITEM_REF of each image, copied when queued */
    cxr_status st;  /* of its compression */
    char err[256];
} chunk_job;

/* The state of one cxr_pack_run. */
typedef struct {
    const cxr_pack_plan *plan;
    const cxr_pack_options *opt;
    cxr_pack_summary *sum;
    cxr_store_writer *writer; /* NULL until the first round creates it */
    int n_threads;
    int window;                 /* shards decoded per round (W) */
    int n_ring;                 /* chunk buffers: 2W+2 */
    int shard;                  /* images per chunk (S) */
    int side;                   /* image side in pixels */
    size_t pixels, chunk_bytes; /* per image; per shuffled chunk */
    uint8_t **ring;             /* [n_ring] shuffled chunks */
    int64_t *ring_owner;        /* [n_ring] chunk number held, -1 none */
    int *ring_hi;        /* [n_ring] slots [ring_hi, shard) of the buffer were never written */
    int64_t *ring_items; /* [n_ring * shard] ITEM_REF of each slot */
    uint8_t **comp;      /* [n_ring] compressed chunks */
    size_t *comp_cap, *comp_size;      /* [n_ring] capacity (cxr_chunk_encoded_max); bytes used */
    chunk_job *to_compress, *to_write; /* [window + 1] each: the next round's work */
    int n_to_compress, n_to_write;
    int writer_split;         /* split open in the writer (-1: none yet) */
    slot_result *results;     /* [window * shard] of the window being decoded */
    int64_t *decode_order;    /* [window * shard] window items, largest file first */
    decode_key *decode_keys;  /* [window * shard] scratch of sort_decode_order */
    worker *workers;          /* [n_threads] */
    int32_t *chunk_labels;    /* [shard] scratch for the chunk being written */
    const char **chunk_paths; /* [shard] likewise */
    double start_s;
    int64_t done_all, total_all, done_split; /* inputs processed / planned */
    cxr_dups *dups;                          /* per-image hashes; NULL with opt->no_hashes */
} pack_ctx;

/* The ring's big buffers (16 MB each with the defaults): fresh anonymous mappings, so they
 * start zeroed (a chunk's padding slots that were never written need no clearing, see
 * ring_hi), 2 MiB-aligned and marked for transparent huge pages where the kernel offers them:
 * first touching 16 MB then costs 8 page faults instead of 4096. Advisory: without THP these
 * are ordinary pages. Released with big_free(p, n), never with free() or realloc(). */
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

/* The stop flag a signal handler sets on the main thread, read on any thread: an atomic load
 * (a volatile sig_atomic_t is only promised to the handler's own thread). */
static int interrupted(const pack_ctx *c)
{
    return c->opt->interrupted &&
           __atomic_load_n((const sig_atomic_t *)c->opt->interrupted, __ATOMIC_RELAXED);
}

static void report(pack_ctx *c, int split, int64_t total, int split_done)
{
    if (!c->opt->on_progress) return;
    cxr_pack_progress p = { .split = c->plan->splits[split].name,
                            .split_index = split,
                            .done = c->done_split,
                            .total = total,
                            .done_all = c->done_all,
                            .total_all = c->total_all,
                            .skipped = c->sum->skipped,
                            .input_bytes = c->sum->input_bytes,
                            .seconds = cxr_now_s() - c->start_s,
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
    return cxr_store_writer_add_skipped(c->writer, split, rel, reason);
}

/* End the writer's open split, with its hashes. Calling thread only. */
static cxr_status writer_end_split(pack_ctx *c)
{
    if (c->dups) {
        int64_t n = 0;
        const uint64_t *fh = cxr_dups_stored(c->dups, c->writer_split, 0, &n);
        const uint64_t *ph = cxr_dups_stored(c->dups, c->writer_split, 1, &n);
        cxr_status st = cxr_store_writer_put_hashes(c->writer, fh, ph, n);
        if (st != CXR_OK) return st;
    }
    return cxr_store_writer_end_split(c->writer);
}

/* Make `split` the writer's open split, ending and beginning the splits in between (a split
 * with no chunk still gets its datasets). Calling thread only. */
static cxr_status writer_reach(pack_ctx *c, int split)
{
    cxr_status st = CXR_OK;
    while (c->writer_split < split) {
        if (c->writer_split >= 0) CXR_TRY(writer_end_split(c));
        c->writer_split++;
        const cxr_pack_split *sp = &c->plan->splits[c->writer_split];
        CXR_TRY(cxr_store_writer_begin_split(c->writer, sp->name, sp->n));
    }
bail:
    return st;
}

static uint8_t *ring_chunk(pack_ctx *c, int64_t g) { return c->ring[g % c->n_ring]; }
static int64_t *ring_slots(pack_ctx *c, int64_t g)
{
    return c->ring_items + (g % c->n_ring) * c->shard;
}

/* A planning skip as the user can open it: a tree's skips (those with a split) are relative to
 * plan->source and shown under it, like the decoder's skips; a manifest's name a row. Malloc'd
 * (NULL when out of memory). */
static char *skip_shown(const cxr_pack_plan *plan, const cxr_pack_skip *sk)
{
    const int tree = sk->split[0] && plan->source;
    const size_t n = (tree ? strlen(plan->source) + 1 : 0) + strlen(sk->path) + 32;
    char *s = malloc(n);
    if (!s) return NULL;
    if (tree)
        snprintf(s, n, "%s/%s", plan->source, sk->path);
    else if (sk->line > 0) /* a manifest row, by its id: and its line, to find it */
        snprintf(s, n, "%s (line %lld)", sk->path, (long long)sk->line);
    else
        snprintf(s, n, "%s", sk->path);
    return s;
}

/* Create the store and record the planning skips (calling thread only): in the first round,
 * while the other threads decode, instead of before it (~2 ms of HDF5 setup per run). */
static cxr_status writer_open(pack_ctx *c)
{
    cxr_status st = CXR_OK;
    const cxr_pack_options *opt = c->opt;
    const cxr_pack_plan *plan = c->plan;
    CXR_TRY(cxr_store_writer_create(&c->writer, opt->output, &opt->store, plan->n_classes,
                                    (const char *const *)plan->class_names));
    for (int a = 0; a < opt->n_attrs; a++)
        CXR_TRY(cxr_store_writer_set_attr(c->writer, opt->attrs[a].name, opt->attrs[a].value));
    for (int64_t k = 0; k < plan->n_skipped; k++) {
        const cxr_pack_skip *sk = &plan->skipped[k];
        c->sum->skipped++;
        if (opt->on_skip) {
            char *shown = skip_shown(plan, sk);
            if (!shown) CXR_THROW(CXR_E_NOMEM, "out of memory");
            opt->on_skip(opt->ctx, sk->split, shown, sk->reason);
            free(shown);
        }
        CXR_TRY(cxr_store_writer_add_skipped(c->writer, sk->split, sk->path, sk->reason));
    }
bail:
    return st;
}

/* Write the chunks compressed in the previous round, in order (calling thread only). */
static cxr_status write_pending(pack_ctx *c)
{
    cxr_status st = CXR_OK;
    for (int k = 0; k < c->n_to_write; k++) {
        const chunk_job *j = &c->to_write[k];
        if (interrupted(c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
        CXR_TRY(writer_reach(c, j->split));
        for (int i = 0; i < j->n_images; i++) {
            const cxr_pack_split *sp = &c->plan->splits[ITEM_SPLIT(j->items[i])];
            const cxr_pack_item *item = &sp->items[ITEM_INDEX(j->items[i])];
            c->chunk_labels[i] = item->label;
            c->chunk_paths[i] = item->rel;
        }
        size_t r = (size_t)(j->chunk % c->n_ring);
        CXR_TRY(cxr_store_writer_put_chunk(c->writer, c->comp[r], c->comp_size[r], j->n_images,
                                           c->chunk_labels, c->chunk_paths));
        c->sum->stored_bytes += c->comp_size[r];
    }
    /* The next chunk to write (the first of those compressed this round) opens a later split:
     * every chunk of the open one is written, so end it now, while the other threads work,
     * rather than after the round. Same HDF5 calls in the same order. */
    if (c->n_to_compress > 0 && c->to_compress[0].split > c->writer_split)
        CXR_TRY(writer_reach(c, c->to_compress[0].split));
bail:
    c->n_to_write = 0;
    return st;
}

static int decode_key_cmp(const void *a, const void *b)
{
    const decode_key *x = a, *y = b;
    if (x->size != y->size) return x->size < y->size ? 1 : -1; /* largest first */
    return (x->index > y->index) - (x->index < y->index);      /* then plan order: stable */
}

/* decode_order[0..count) = the window's items by planned size, largest first (a big, often
 * progressive, JPEG taken last would leave the other threads idle at the end of the round).
 * Results go to their slot by index, so the order changes nothing in the output. n log n: an
 * insertion sort is quadratic in the window's items (393,216 at --shard 65536 --size 64
 * --threads 6, about 4e10 moves a round by count; not measured here, the set is smaller). */
static void sort_decode_order(pack_ctx *c, const cxr_pack_item *items, int64_t count)
{
    decode_key *k = c->decode_keys;
    for (int64_t j = 0; j < count; j++) k[j] = (decode_key){ items[j].size, j };
    qsort(k, (size_t)count, sizeof *k, decode_key_cmp);
    for (int64_t j = 0; j < count; j++) c->decode_order[j] = k[j].index;
}

/* Hand the ring buffers of the chunks a window fills (positions pos .. pos+count-1 of a split
 * whose first chunk is chunk0) to those chunks, checking that none still holds a chunk waiting
 * to be compressed, and that no chunk to compress shares its compressed buffer with one to
 * write. CXR_E_INTERNAL if the ring invariant (file comment) is broken. */
static cxr_status ring_claim(pack_ctx *c, int64_t chunk0, int64_t pos, int64_t count)
{
    const int R = c->n_ring, S = c->shard;
    for (int64_t g = chunk0 + pos / S; count && g <= chunk0 + (pos + count - 1) / S; g++) {
        int64_t o = c->ring_owner[g % R];
        if (o != g) {
            for (int k = 0; k < c->n_to_compress; k++)
                if (c->to_compress[k].chunk == o)
                    return cxr_set_error(CXR_E_INTERNAL,
                                         "pack ring: chunk %lld would overwrite chunk %lld",
                                         (long long)g, (long long)o);
            c->ring_owner[g % R] = g;
        }
        /* this window writes chunk g's slots up to position pos + count of the split at most */
        int64_t hi = pos + count - (g - chunk0) * S;
        if (hi > S) hi = S;
        if (hi > c->ring_hi[g % R]) c->ring_hi[g % R] = (int)hi;
    }
    for (int k = 0; k < c->n_to_compress; k++)
        for (int q = 0; q < c->n_to_write; q++)
            if (c->to_compress[k].chunk % R == c->to_write[q].chunk % R)
                return cxr_set_error(
                    CXR_E_INTERNAL, "pack ring: chunk %lld would overwrite chunk %lld",
                    (long long)c->to_compress[k].chunk, (long long)c->to_write[q].chunk);
    return CXR_OK;
}

/* Compress a queued chunk into comp[chunk % R] (capacity cxr_chunk_encoded_max: the encoder
 * never reallocates it). Any thread; the status stays in the job. */
static void compress_chunk(pack_ctx *c, chunk_job *jb, int level)
{
    size_t r = (size_t)(jb->chunk % c->n_ring);
    jb->st = cxr_chunk_encode_shuffled(&c->comp[r], &c->comp_cap[r], &c->comp_size[r], c->ring[r],
                                       jb->n_images, c->ring_hi[r], c->shard, c->side, level);
    if (jb->st != CXR_OK) snprintf(jb->err, sizeof jb->err, "%s", cxr_last_error());
}

/* A decode that failed for want of memory (or an internal error) is not the input's fault: the
 * pack stops rather than skip it (specs/store.md, "Out of memory is not a skip"). */
static int machine_fault(cxr_status st) { return st == CXR_E_NOMEM || st == CXR_E_INTERNAL; }

/* Read, decode and preprocess one input and shuffle it into the slot of position p (chunk
 * chunk0 + p / S); the outcome goes to *r. Any thread, with its own worker. */
static void decode_item(pack_ctx *c, worker *wk, int split, int64_t index, int64_t chunk0,
                        int64_t p, slot_result *r)
{
    const cxr_pack_item *item = &c->plan->splits[split].items[index];
    cxr_status st = cxr_decode_file(wk->dec, &c->opt->store.pp, item->path, wk->img, &r->bytes);
    int ok = st == CXR_OK;
    if (machine_fault(st)) {
        r->fatal = st;
        snprintf(r->reason, sizeof r->reason, "%s", cxr_last_error());
        return;
    }
    if (c->dups) /* an item that did not decode is not hashed */
        cxr_dups_hash(c->dups, split, index, cxr_decoder_file(wk->dec), r->bytes,
                      ok ? wk->img : NULL, c->pixels);
    if (!ok) {
        snprintf(r->reason, sizeof r->reason, "%s", cxr_last_error());
        return;
    }
    cxr_chunk_shuffle_image(ring_chunk(c, chunk0 + p / c->shard), c->shard, c->side,
                            (int)(p % c->shard), wk->img);
    r->ok = 1;
}

/* One round: write the pending chunks (calling thread), compress the queued ones and decode
 * items [first, first + count) of `split` into positions pos.. of chunks numbered from chunk0.
 * split < 0 with count 0: no decoding (the last rounds). */
static cxr_status round_run(pack_ctx *c, int split, int64_t first, int64_t count, int64_t chunk0,
                            int64_t pos)
{
    cxr_status st = CXR_OK;
    const cxr_pack_item *items = count ? c->plan->splits[split].items + first : NULL;
    const int level = c->opt->store.zstd_level, n_comp = c->n_to_compress;
    int stop = 0; /* set by the writing thread if a write fails, read by the others: atomic */
    cxr_status wst = CXR_OK;
    char werr[CXR_MSG_MAX] = "";

    sort_decode_order(c, items, count);
    CXR_TRY(ring_claim(c, chunk0, pos, count));
#pragma omp parallel num_threads(c->n_threads)
    {
        int t = omp_get_thread_num();
        /* the calling thread creates the store (first round) or writes the previous round's
         * chunks, then joins the work */
        if (t == 0 && (!c->writer || c->n_to_write)) {
            wst = c->writer ? CXR_OK : writer_open(c);
            if (wst == CXR_OK && c->n_to_write) wst = write_pending(c);
            if (wst != CXR_OK) {
                snprintf(werr, sizeof werr, "%s", cxr_last_error());
#pragma omp atomic write
                stop = 1;
            }
        }
        worker *wk = &c->workers[t];
#pragma omp for schedule(dynamic, 1)
        for (int64_t q = 0; q < n_comp + count; q++) {
            if (q < n_comp) {
                compress_chunk(c, &c->to_compress[q], level);
                continue;
            }
            int64_t j = c->decode_order[q - n_comp];
            slot_result *r = &c->results[j];
            r->ok = 0;
            r->fatal = CXR_OK;
            r->bytes = 0;
            int stopped;
#pragma omp atomic read
            stopped = stop;
            if (stopped || interrupted(c))
                snprintf(r->reason, sizeof r->reason, "interrupted");
            else
                decode_item(c, wk, split, first + j, chunk0, pos + j, r);
        }
    }
    if (wst != CXR_OK) CXR_THROW(wst, "%s", werr);
    for (int64_t j = 0; j < count; j++) /* the first in plan order, whatever the thread count */
        if (c->results[j].fatal != CXR_OK)
            CXR_THROW(c->results[j].fatal, "%s: %s", c->plan->splits[split].items[first + j].path,
                      c->results[j].reason);
    for (int k = 0; k < n_comp; k++)
        if (c->to_compress[k].st != CXR_OK)
            CXR_THROW(c->to_compress[k].st, "compressing shard %lld: %s",
                      (long long)c->to_compress[k].chunk, c->to_compress[k].err);
    if (interrupted(c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    /* what was compressed is written next round */
    chunk_job *t = c->to_write;
    c->to_write = c->to_compress;
    c->n_to_write = n_comp;
    c->to_compress = t;
    c->n_to_compress = 0;
bail:
    return st;
}

/* After a round: skip the window's failures (in plan order), moving later survivors down to
 * close the gaps, and count the survivors. Returns through *pos the positions now filled. */
static cxr_status place_survivors(pack_ctx *c, int split, int64_t first, int64_t count,
                                  int64_t chunk0, int64_t *pos)
{
    cxr_status st = CXR_OK;
    const cxr_pack_split *sp = &c->plan->splits[split];
    const int S = c->shard;
    int64_t n = *pos;
    for (int64_t j = 0; j < count; j++) {
        const cxr_pack_item *item = &sp->items[first + j];
        c->sum->input_bytes += c->results[j].bytes;
        if (!c->results[j].ok) {
            CXR_TRY(skip(c, sp->name, item->path, item->rel, c->results[j].reason));
            continue;
        }
        char why[1024];
        if (c->dups &&
            cxr_dups_drop(c->dups, split, first + j, c->opt->drop_duplicates, why, sizeof why)) {
            /* recorded like a skip, but never fatal under --strict */
            c->sum->skipped++;
            c->sum->dup_dropped++;
            if (c->opt->on_skip) c->opt->on_skip(c->opt->ctx, sp->name, item->path, why);
            CXR_TRY(cxr_store_writer_add_skipped(c->writer, sp->name, item->rel, why));
            continue;
        }
        if (c->dups) cxr_dups_place(c->dups, split, first + j, n);
        int64_t from = *pos + j;
        if (n != from)
            cxr_chunk_move_image(ring_chunk(c, chunk0 + n / S), (int)(n % S),
                                 ring_chunk(c, chunk0 + from / S), (int)(from % S), S, c->side);
        ring_slots(c, chunk0 + n / S)[n % S] = ITEM_REF(split, first + j);
        if (item->label >= 0 && item->label < CXR_PACK_SUMMARY_CLASSES)
            c->sum->images[split][item->label]++;
        n++;
    }
    c->sum->packed += n - *pos;
    *pos = n;
bail:
    return st;
}

/* Decode split `split` in windows; queue its chunks as they fill. *chunk_next: the first chunk
 * number of this split on entry, of the next one on return. */
static cxr_status pack_split(pack_ctx *c, int split, int64_t *chunk_next)
{
    cxr_status st = CXR_OK;
    const cxr_pack_split *sp = &c->plan->splits[split];
    const int S = c->shard;
    const int64_t window = (int64_t)c->window * S, chunk0 = *chunk_next;
    int64_t pos = 0, queued = 0; /* survivors placed; chunks queued */

    c->done_split = 0;
    if (c->dups && c->opt->drop_duplicates) CXR_TRY(cxr_dups_begin_split(c->dups, split));
    for (int64_t first = 0; first < sp->n; first += window) {
        int64_t count = sp->n - first < window ? sp->n - first : window;
        CXR_TRY(round_run(c, split, first, count, chunk0, pos));
        CXR_TRY(place_survivors(c, split, first, count, chunk0, &pos));
        c->done_split += count;
        c->done_all += count;

        /* full chunks are queued; at the end of the split, the partial one too */
        int last = first + count == sp->n;
        while ((queued + 1) * S <= pos || (last && queued * S < pos)) {
            int64_t left = pos - queued * S;
            chunk_job *jb = &c->to_compress[c->n_to_compress++];
            jb->chunk = chunk0 + queued;
            jb->split = split;
            jb->n_images = (int)(left < S ? left : S);
            memcpy(jb->items, ring_slots(c, jb->chunk), (size_t)jb->n_images * sizeof *jb->items);
            queued++;
        }
        report(c, split, sp->n, last);
    }
    if (sp->n == 0) report(c, split, 0, 1);
    *chunk_next = chunk0 + queued;
bail:
    return st;
}

/* Allocate the context's buffers for opt (sizes already set in c). Only the pages a run
 * touches become resident: the ring buffers are mappings (big_alloc), the others are small. */
static cxr_status ctx_alloc(pack_ctx *c)
{
    cxr_status st = CXR_OK;
    const size_t R = (size_t)c->n_ring, S = (size_t)c->shard, win = (size_t)c->window * S;
    c->ring = calloc(R, sizeof *c->ring);
    c->ring_owner = malloc(R * sizeof *c->ring_owner);
    c->ring_hi = calloc(R, sizeof *c->ring_hi);
    c->ring_items = malloc(R * S * sizeof *c->ring_items);
    c->comp = calloc(R, sizeof *c->comp);
    c->comp_cap = calloc(R, sizeof *c->comp_cap);
    c->comp_size = calloc(R, sizeof *c->comp_size);
    c->to_compress = calloc((size_t)c->window + 1, sizeof *c->to_compress);
    c->to_write = calloc((size_t)c->window + 1, sizeof *c->to_write);
    c->results = malloc(win * sizeof *c->results);
    c->decode_order = malloc(win * sizeof *c->decode_order);
    c->decode_keys = malloc(win * sizeof *c->decode_keys);
    c->workers = calloc((size_t)c->n_threads, sizeof *c->workers);
    c->chunk_labels = malloc(S * sizeof *c->chunk_labels);
    c->chunk_paths = malloc(S * sizeof *c->chunk_paths);
    if (!c->ring || !c->ring_owner || !c->ring_hi || !c->ring_items || !c->comp || !c->comp_cap ||
        !c->comp_size || !c->to_compress || !c->to_write || !c->results || !c->decode_order ||
        !c->decode_keys || !c->workers || !c->chunk_labels || !c->chunk_paths)
        CXR_THROW(CXR_E_NOMEM, "out of memory for a window of %d shards of %d images", c->window,
                  c->shard);
    for (int k = 0; k <= c->window; k++)
        if (!(c->to_compress[k].items = malloc(S * sizeof(int64_t))) ||
            !(c->to_write[k].items = malloc(S * sizeof(int64_t))))
            CXR_THROW(CXR_E_NOMEM, "out of memory for chunk jobs");
    for (int r = 0; r < c->n_ring; r++) {
        c->ring_owner[r] = -1;
        c->comp_cap[r] = cxr_chunk_encoded_max(c->shard, c->side);
        if (!(c->ring[r] = big_alloc(c->chunk_bytes)) || !(c->comp[r] = big_alloc(c->comp_cap[r])))
            CXR_THROW(CXR_E_NOMEM, "out of memory for %d chunks of %zu bytes", c->n_ring,
                      c->chunk_bytes);
    }
    for (int t = 0; t < c->n_threads; t++)
        if (!(c->workers[t].dec = cxr_decoder_create()) ||
            !(c->workers[t].img = malloc(c->pixels * sizeof(float))))
            CXR_THROW(CXR_E_NOMEM, "out of memory (decoder)");
    if (!c->opt->no_hashes && !(c->dups = cxr_dups_create(c->plan)))
        CXR_THROW(CXR_E_NOMEM, "out of memory for the image hashes");
bail:
    return st;
}

/* Free what ctx_alloc allocated (any part of it) and destroy the writer. */
static void ctx_free(pack_ctx *c)
{
    cxr_store_writer_destroy(c->writer);
    cxr_dups_destroy(c->dups);
    if (c->workers)
        for (int t = 0; t < c->n_threads; t++) {
            cxr_decoder_destroy(c->workers[t].dec);
            free(c->workers[t].img);
        }
    for (int r = 0; r < c->n_ring; r++) {
        if (c->ring) big_free(c->ring[r], c->chunk_bytes);
        if (c->comp && c->comp_cap) big_free(c->comp[r], c->comp_cap[r]);
    }
    free(c->ring);
    free(c->ring_owner);
    free(c->ring_hi);
    free(c->ring_items);
    free(c->comp);
    free(c->comp_cap);
    free(c->comp_size);
    for (int k = 0; k <= c->window; k++) {
        if (c->to_compress) free(c->to_compress[k].items);
        if (c->to_write) free(c->to_write[k].items);
    }
    free(c->to_compress);
    free(c->to_write);
    free(c->results);
    free(c->decode_order);
    free(c->decode_keys);
    free(c->workers);
    free(c->chunk_labels);
    free(c->chunk_paths);
}

/* Bytes a window of W makes resident at most: the ring's 2W+2 chunks hold no more images than
 * there are, each shuffled once and compressed once (a compressed chunk is no larger than its
 * images: zstd's worst case is a few bytes over, shuffling makes it rare). */
static double ring_bytes(const pack_ctx *c, int W)
{
    const double slots = (double)(2 * W + 2) * c->shard;
    const double imgs = slots < (double)c->total_all ? slots : (double)c->total_all;
    return 2.0 * imgs * (double)c->pixels * sizeof(float);
}

/* The default window is lowered until its ring fits the memory this process can still get
 * (cxr_memory.h; the store does not depend on the window); a given --window that does not fit,
 * or a shard so large that a window of one does not, is refused before anything is read. */
static cxr_status fit_window(pack_ctx *c, int given)
{
    const int64_t avail = cxr_mem_available();
    if (avail < 0) return CXR_OK;
    while (!given && c->window > 1 && ring_bytes(c, c->window) > (double)avail) c->window--;
    const double need = ring_bytes(c, c->window);
    if (need <= (double)avail) return CXR_OK;
    return cxr_set_error(CXR_E_NOMEM,
                         "%s: a window of %d shard(s) of %d images of %dx%d holds up to %.1f MiB "
                         "of images and their compressed chunks, more than the %.1f MiB this "
                         "machine has free: give a smaller %s",
                         c->opt->output, c->window, c->shard, c->side, c->side, cxr_mib(need),
                         cxr_mib((double)avail), given ? "--window or --shard" : "--shard");
}

/* Sizes from the options, checked. A planning skip under --strict fails here, before anything
 * is created. */
static cxr_status ctx_init(pack_ctx *c)
{
    const cxr_pack_options *opt = c->opt;
    const cxr_pack_plan *plan = c->plan;
    c->n_threads = opt->threads > 0 ? opt->threads : 1;
    c->window = opt->window > 0 ? opt->window : (c->n_threads < 6 ? c->n_threads : 6);
    c->shard = opt->store.shard;
    c->side = opt->store.pp.size;
    if (c->shard < 1 || c->shard > 1 << 16)
        return cxr_set_error(CXR_E_ARG, "shard size %d out of range", c->shard);
    if (c->side < 1 || c->side > 4096)
        return cxr_set_error(CXR_E_ARG, "image size %d out of range", c->side);
    if (!cxr_store_chunk_fits(c->shard, c->side)) /* before allocating */
        return cxr_set_error(CXR_E_ARG,
                             "a chunk of %d images of %dx%d exceeds HDF5's 4 GiB chunk limit: give "
                             "a smaller --shard",
                             c->shard, c->side, c->side);
    if (plan->n_splits < 1 || plan->n_splits > 3)
        return cxr_set_error(CXR_E_ARG, "plan has %d splits", plan->n_splits);
    c->pixels = (size_t)c->side * (size_t)c->side;
    c->chunk_bytes = cxr_chunk_bytes(c->shard, c->side);
    /* a round never needs more shards than the largest split has (the output does not depend
     * on the window): --window 4096 on a small set maps 2 x 4097 chunks otherwise */
    int64_t most = 1;
    for (int s = 0; s < plan->n_splits; s++) {
        c->total_all += plan->splits[s].n;
        const int64_t k = (plan->splits[s].n + c->shard - 1) / c->shard;
        if (k > most) most = k;
    }
    if (c->window > most) c->window = (int)most;
    c->sum->window_wanted = c->window;
    cxr_status st = fit_window(c, opt->window > 0);
    c->sum->window = c->window;
    if (st != CXR_OK) return st;
    c->n_ring = 2 * c->window + 2;
    if (opt->strict && plan->n_skipped > 0) {
        const cxr_pack_skip *k = &plan->skipped[0];
        char *shown = skip_shown(plan, k);
        if (!shown) return cxr_set_error(CXR_E_NOMEM, "out of memory");
        c->sum->skipped = 1;
        if (opt->on_skip) opt->on_skip(opt->ctx, k->split, shown, k->reason);
        cxr_set_error(CXR_E_DECODE, "%s: %s (--strict: stopping at the first skip)", shown,
                      k->reason);
        free(shown);
        return CXR_E_DECODE;
    }
    return CXR_OK;
}

/* drop_duplicates: a copy in a later split is kept rather than the one packed first, so the
 * items of every split but the first are hashed before packing (read and decoded twice). */
static cxr_status prehash(pack_ctx *c)
{
    for (int s = 1; s < c->plan->n_splits; s++) {
        const cxr_pack_split *sp = &c->plan->splits[s];
        /* of the items read before the first failure for want of memory was seen, the first
         * in plan order that failed so (the others are not read: which were depends on timing) */
        int64_t fatal_i = -1;
        cxr_status fatal = CXR_OK;
        int failed = 0; /* set once fatal_i is: the other items are not read */
        char why[256] = "";
#pragma omp parallel for num_threads(c->n_threads) schedule(dynamic, 1)
        for (int64_t i = 0; i < sp->n; i++) {
            worker *wk = &c->workers[omp_get_thread_num()];
            uint64_t len = 0;
            int stop;
#pragma omp atomic read
            stop = failed;
            if (stop || interrupted(c)) continue;
            cxr_status st =
                cxr_decode_file(wk->dec, &c->opt->store.pp, sp->items[i].path, wk->img, &len);
            if (machine_fault(st)) {
#pragma omp critical(cxr_prehash_fatal)
                if (fatal_i < 0 || i < fatal_i) {
                    fatal_i = i;
                    fatal = st;
                    snprintf(why, sizeof why, "%s", cxr_last_error());
                }
#pragma omp atomic write
                failed = 1;
                continue;
            }
            cxr_dups_hash(c->dups, s, i, cxr_decoder_file(wk->dec), len,
                          st == CXR_OK ? wk->img : NULL, c->pixels);
        }
        if (fatal_i >= 0) return cxr_set_error(fatal, "%s: %s", sp->items[fatal_i].path, why);
        if (interrupted(c)) return cxr_set_error(CXR_E_INTERRUPTED, "interrupted");
    }
    return CXR_OK;
}

cxr_status cxr_pack_run(const cxr_pack_plan *plan, const cxr_pack_options *opt,
                        cxr_pack_summary *sum)
{
    cxr_status st = CXR_OK;
    pack_ctx c = { .plan = plan, .opt = opt, .sum = sum, .writer_split = -1 };
    cxr_tmpfile report = { .fd = -1, .held = -1 };
    char *keep = NULL; /* a second name of the earlier duplicates report */
    memset(sum, 0, sizeof *sum);
    c.start_s = cxr_now_s();
    CXR_TRY(ctx_init(&c));
    CXR_TRY(ctx_alloc(&c));
    if (c.dups && opt->drop_duplicates) CXR_TRY(prehash(&c));

    /* the store is created by the calling thread during the first round (writer_open) */
    int64_t chunk_next = 0;
    for (int s = 0; s < plan->n_splits; s++) {
        if (interrupted(&c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
        CXR_TRY(pack_split(&c, s, &chunk_next));
    }
    if (!c.writer) CXR_TRY(writer_open(&c)); /* no round ran: every split is empty */
    /* the last chunks: compress them (writing the previous ones), then write them */
    while (c.n_to_compress || c.n_to_write) {
        if (c.n_to_compress)
            CXR_TRY(round_run(&c, -1, 0, 0, 0, 0));
        else
            CXR_TRY(write_pending(&c));
    }
    CXR_TRY(writer_reach(&c, plan->n_splits - 1));
    CXR_TRY(writer_end_split(&c));
    if (sum->packed == 0) { /* a store without an image trains and evaluates nothing */
        const char *src = plan->source ? plan->source : "the source";
        if (sum->skipped)
            CXR_THROW(CXR_E_DECODE,
                      "%s: no image to pack: all %lld input(s) were skipped (the reasons are "
                      "above)",
                      src, (long long)sum->skipped);
        CXR_THROW(CXR_E_FORMAT, "%s: no image to pack: it lists none", src);
    }
    if (c.dups) {
        char line[1024];
        CXR_TRY(cxr_dups_count(c.dups, sum));
        cxr_pack_dups_format(sum, plan, line, sizeof line);
        CXR_TRY(cxr_store_writer_set_attr(c.writer, "duplicates", line));
    }
    if (c.dups && opt->duplicates_report)
        CXR_TRY(cxr_dups_write_report(c.dups, opt->duplicates_report, &report));
    if (interrupted(&c)) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    /* the store complete and durable on disk (a full disk or a failing fsync shows here), then
     * its report in place, then the store: a failure before the last rename leaves both
     * earlier files as they were */
    CXR_TRY(cxr_store_writer_close(c.writer));
    const int with_report = report.path != NULL;
    if (with_report) {
        /* the earlier report, to put back: the file the report replaces (its target, where
         * the path is a symbolic link: a link to the link would be put back as the link) */
        keep = cxr_tmpfile_link(report.target);
        CXR_TRY(cxr_tmpfile_commit(&report));
    }
    if ((st = cxr_store_writer_finish(c.writer)) != CXR_OK) {
        if (with_report) {
            char msg[CXR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", cxr_last_error());
            if (!keep)
                cxr_set_error(st, "%s (its duplicates report %s was written)", msg,
                              opt->duplicates_report);
            else if (rename(keep, report.target) == 0)
                cxr_set_error(st, "%s (its duplicates report %s is the earlier one again)", msg,
                              opt->duplicates_report);
            else /* the only copy left of the earlier report: kept, and named */
                cxr_set_error(st,
                              "%s (its duplicates report %s was written; the earlier one is %s: "
                              "copy it away, a later run removes such temporaries)",
                              msg, opt->duplicates_report, keep);
            free(keep);
            keep = NULL; /* put back, or named above: not removed */
        }
        goto bail;
    }
    sum->raw_bytes = (uint64_t)sum->packed * c.pixels * sizeof(float);
bail:
    if (keep) unlink(keep); /* the store is in place: the earlier report goes */
    free(keep);
    cxr_tmpfile_discard(&report);
    ctx_free(&c);
    sum->seconds = cxr_now_s() - c.start_s;
    return st;
}
