/* cxr_loader.h: the shard loader. Feeds training and evaluation with batches read straight
 * from a cxr store (specs/store.md) the fast way the format allows: the file is mmapped, chunk
 * locations come from the split's shard index, and each chunk is checked (Fletcher32),
 * zstd-decompressed and unshuffled (cxr_chunk_decode) on worker threads into a ring of batch
 * buffers while the caller computes.
 *
 * Order of images in an epoch (documented so that runs can be reproduced and resumed):
 *   - shuffle off (evaluation): shards 0,1,2,... and images in file order.
 *   - shuffle on (training): a random stream is derived from (seed, epoch) only:
 *       state = cxr_loader_shuffle_key(seed, epoch)
 *     and consumed as the splitmix64 sequence (x += 0x9E3779B97F4A7C15; out = mix(x)). Uniform
 *     integers in [0,m) are drawn by rejection (no modulo bias). The shard order is a
 *     Fisher-Yates shuffle (i = n-1 down to 1, swap i with uniform [0,i]) of 0..n_shards-1;
 *     the shuffled shard list is cut into windows of `window` shards, and the images of each
 *     window are Fisher-Yates shuffled with the same stream, window after window. Batches are
 *     consecutive runs of `batch` images of that sequence (they may straddle windows); the last
 *     batch of an epoch may be short. Every image is delivered exactly once per epoch.
 *
 * Parts (one loader per process, e.g. PyTorch DataLoader workers): with parts = P > 1, a loader
 * with part = p reads only the shards k with k % P == p, always the same ones, so P loaders with
 * parts 0..P-1 together deliver every image of the split exactly once per epoch. Everything
 * above then applies to that shard list instead of 0..n_shards-1 (shuffle off: those shards in
 * increasing order), with the stream state mix(key ^ G*(p+1)) (mix and G below) in place of
 * key, so that the parts do not draw the same permutations. parts = 1 is the whole split,
 * exactly as above.
 *
 * Augmentation (options.augment): image i of the split in epoch e is delivered as
 * cxr_augment_image(augment, seed, e, i, decoded image): the same bits whatever the threads,
 * prefetch, window, batch or part.
 *
 * Mixup (options.mixup = A > 0; Zhang et al. 2018): after batch `step` of epoch e is assembled
 * (and augmented), image i of its n is replaced by x_j + lam_i (x_i - x_j) (float, in that
 * order) with partner j = n-1-i (the middle image of an odd batch is its own partner and stays
 * as it is), where lam_0..lam_{n-1} ~ Beta(A, A) are drawn in order from the splitmix64 stream
 * cxr_loader_mixup_key(seed, e, step, part) by Johnk's method (cxr_loader_beta; a draw below
 * FLT_MIN is 0). The batch then carries labels2[i] = labels[j] and mix[i] = lam_i: the loss of
 * image i is lam_i times its label's plus (1 - lam_i) times its partner's
 * (cxr_model_loss_backward_mixed). Mixing runs on the assembler thread (or the caller's without
 * prefetch), so the images are the same bits whatever the threads, on the CPU and through the GPU
 * loader.
 *
 * Threading: a loader handle is used by one consumer thread. With prefetch on it runs
 * `threads` decode workers and one assembler thread of its own; with prefetch off everything
 * happens synchronously in the caller's thread inside cxr_loader_next_batch.
 */
#ifndef CXR_LOADER_H
#define CXR_LOADER_H

#include <stdint.h>

#include "cxr_status.h"
#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int batch;     /* images per batch (default 64) */
    int shuffle;   /* 1: training order (see above); 0: sequential (default 0) */
    uint64_t seed; /* shuffle seed (default 1) */
    int window;    /* shards per shuffle window; 0 (default): cxr_loader_auto_window;
                      CXR_LOADER_WINDOW_SPLIT: cxr_loader_split_window (without shuffle
                      both are fewer: cxr_loader_window) */
    int threads;   /* decode worker threads with prefetch (default 2) */
    int depth;     /* batches in the ring, >= 2 (default 3) */
    int prefetch;  /* 1: background workers (default); 0: synchronous in the caller */
    int part;      /* this loader's part, 0 <= part < parts (default 0; see "Parts" above) */
    int parts;     /* loaders sharing the split's shards (default 1: all shards) */
    /* train-time augmentation (cxr_augment.h), applied by the decode workers to every image
     * after its chunk is decoded, drawn from (seed above, epoch, image index in the split);
     * NULL (default) or inactive params: none. Copied at create. */
    const struct cxr_augment_params *augment;
    /* mixup's Beta(A, A) parameter A in [0, CXR_LOADER_MIXUP_MAX] (default 0: no mixing; see
     * "Mixup" above), not below FLT_MIN unless 0 (the decode threads flush such a value to 0);
     * needs shuffle */
    float mixup;
} cxr_loader_options;

#define CXR_LOADER_MIXUP_MAX 4.0f

void cxr_loader_options_defaults(cxr_loader_options *o);

/* The default window: as many shards as hold CXR_LOADER_WINDOW_IMAGES images, at least 1 and
 * at most 4 (4 for the default shard of 64 and any smaller one, 1 from a shard of 256 images
 * up), so that a store packed with a huge --shard does not multiply the loader's memory (its
 * windows hold decoded images) by 4. It depends on the store alone, so a run's order does
 * too. */
#define CXR_LOADER_WINDOW_IMAGES 256
int cxr_loader_auto_window(int shard);

/* window = CXR_LOADER_WINDOW_SPLIT: mix the whole split (this loader's part of it) in one
 * window when its decoded images take at most CXR_LOADER_SPLIT_BYTES, else in windows of as
 * many shards as hold CXR_LOADER_MIXED_BYTES (at least 1; with prefetch three windows are held
 * at once). A store keeps a split sorted by class (cxr-pack's order), so a shard holds one class
 * and a window of few shards few classes: this is the window that gives every batch about the
 * split's class mix (specs/model.md "Training order"). It depends on the store alone. */
#define CXR_LOADER_WINDOW_SPLIT (-1)
#define CXR_LOADER_SPLIT_BYTES  (INT64_C(2) << 30)
#define CXR_LOADER_MIXED_BYTES  (INT64_C(512) << 20)
int cxr_loader_split_window(int shard, int64_t n_shards, int64_t image_bytes);

/* One batch. Buffers belong to the loader and stay valid until the next call to
 * cxr_loader_next_batch, cxr_loader_begin_epoch or cxr_loader_destroy. */
typedef struct {
    int n;                  /* images in this batch; 0 = end of epoch */
    int size;               /* image side S */
    const float *images;    /* (n,1,S,S) */
    const int32_t *labels;  /* (n) */
    const int64_t *indices; /* (n) image index within the split */
    int64_t step;           /* 0-based batch number within the epoch */
    const int32_t *labels2; /* (n) with mixup: the label of each image's partner; else NULL */
    const float *mix;       /* (n) with mixup: lam_i, the weight of labels[i]; else NULL */
} cxr_batch;

typedef struct cxr_loader cxr_loader;

/* The checks of the options alone that cxr_loader_create makes (CXR_E_ARG naming the bad one),
 * for a caller that wants them refused before any loader exists (cxr.torch.StoreDataset, whose
 * loaders are made later in DataLoader workers). */
cxr_status cxr_loader_options_check(const cxr_loader_options *opt);

/* Create a loader over `split` of an open store (the store must outlive the loader; the loader
 * only reads its metadata and mmaps the bytes of its file that hold its chunks). Errors:
 * CXR_E_ARG for bad options, CXR_E_FORMAT if the split is absent or a chunk lies outside the
 * file, CXR_E_IO if the file cannot be mapped, CXR_E_NOMEM (also when the mapping finds no room
 * in the address space, or a thread no room for its stack; and, before anything is allocated,
 * when the buffers the options need exceed cxr_mem_available(): the message names the store,
 * the sizes and --shard). */
cxr_status cxr_loader_create(cxr_loader **out, const cxr_store *store, const char *split,
                             const cxr_loader_options *opt);
/* Stop workers (also mid-epoch) and free everything. NULL-safe. */
void cxr_loader_destroy(cxr_loader *l);

/* Start epoch `epoch` (0-based; it selects the shuffle). An epoch still in progress is
 * abandoned cleanly. Resets the data-wait timer. */
cxr_status cxr_loader_begin_epoch(cxr_loader *l, int epoch);
/* Next batch of the current epoch into *b. Returns CXR_OK with b->n > 0 for a batch, CXR_OK
 * with b->n == 0 at the end of the epoch, or an error: a chunk that fails its checksum or
 * cannot be decoded gives CXR_E_CHECKSUM / CXR_E_FORMAT with a message naming the file, the
 * split and the shard; a file cut short (by another program) below a chunk's end while mapped
 * gives CXR_E_IO, naming them and the new size. After an error, the epoch is over (begin a new one
 * to continue). */
cxr_status cxr_loader_next_batch(cxr_loader *l, cxr_batch *b);

/* Seconds the consumer spent waiting inside cxr_loader_next_batch since begin_epoch (with
 * prefetch off this is all the decode time). */
double cxr_loader_wait_seconds(const cxr_loader *l);
/* Images this loader delivers per epoch (the split's, or its part's), and batches per epoch
 * (ceil(n / batch)). */
int64_t cxr_loader_n_images(const cxr_loader *l);
int64_t cxr_loader_n_batches(const cxr_loader *l);
/* Shards this loader reads (the split's, or its part's: ceil((n_shards - part) / parts)). */
int64_t cxr_loader_n_shards(const cxr_loader *l);
/* Shards per window: the options' window, or what 0 (auto) and CXR_LOADER_WINDOW_SPLIT resolved
 * to. Without shuffle these two take as few shards as keep the decode threads busy (three
 * windows in flight with prefetch: ceil(threads / 3); without prefetch 1), at most the auto
 * window: the order is the file's whatever the window (a damaged chunk's error may come after
 * more or fewer good batches), and a window's decoded images are memory. */
int cxr_loader_window(const cxr_loader *l);
/* Of the loader's threads (*n_threads: workers + the assembler, 0 without prefetch), how many
 * have started and set flush-to-zero + denormals-are-zero (cxr_fpenv.h) on themselves. */
int cxr_loader_threads_flushing(cxr_loader *l, int *n_threads);

/* The state of mixup's random stream for batch `step` of `epoch` (loader part `part`, 0 for
 * the whole split), with mix = cxr_splitmix64_mix and G = 0x9E3779B97F4A7C15 (the shuffle
 * key's construction, stream 3):
 *   mix(seed ^ mix(4G ^ mix((epoch+1)G ^ mix((step+1)G ^ mix((part+1)G))))) */
uint64_t cxr_loader_mixup_key(uint64_t seed, int epoch, int64_t step, int part);
/* One draw of Beta(a, a), a in (0, CXR_LOADER_MIXUP_MAX], from the splitmix64 stream *state
 * (Johnk 1964): u, v uniform in (0,1] (53 bits: ((word >> 11) + 1) 2^-53), X = u^(1/a),
 * Y = v^(1/a) in logs, accepted when X + Y <= 1, giving X / (X + Y); else two more words.
 * NaN for a outside (0, CXR_LOADER_MIXUP_MAX]. The loader stores a draw below FLT_MIN as 0. */
double cxr_loader_beta(uint64_t *state, double a);

/* The epoch's image order (n_images indices) that cxr_loader_begin_epoch would produce, for
 * tests and tools; written into out[n_images]. */
cxr_status cxr_loader_epoch_order(const cxr_loader *l, int epoch, int64_t *out);
/* The shards (split-wide shard numbers) this loader reads in epoch `epoch`, in the order it
 * reads them; written into out[n_shards]. */
cxr_status cxr_loader_epoch_shards(const cxr_loader *l, int epoch, int64_t *out);

/* The shuffle stream's key for (seed, epoch), as documented above:
 *   mix(seed ^ mix(G*(stream+1) ^ mix(G*(epoch+1) ^ mix(G))))  with stream = 1,
 * G = 0x9E3779B97F4A7C15 and mix = splitmix64's finalizer
 * (z = (z ^ z>>30) * 0xBF58476D1CE4E5B9; z = (z ^ z>>27) * 0x94D049BB133111EB; z ^ z>>31). */
uint64_t cxr_loader_shuffle_key(uint64_t seed, int epoch);

#ifdef __cplusplus
}
#endif
#endif
