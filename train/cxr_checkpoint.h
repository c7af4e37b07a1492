/* cxr_checkpoint.h: training checkpoints as HDF5 files (format "cxr-checkpoint", version 2, or
 * 3 for a model with an input scale: then also the attributes input_scale and input_shift),
 * readable with h5dump and h5py:
 *
 *   /                 attributes: format, format_version, tool_version, store, epoch (completed
 *                     epochs), step (Adam t), seed, rng (how every random stream derives from
 *                     the seed), the recipe (epochs, batch, lr, beta1, beta2, eps, keep_prob,
 *                     alpha, threads, precision: fp32, tf32 or bf16, absent in files
 *                     written before it was recorded), the model shape (n_classes, image_size,
 *                     channels[4], dense[2]), the store's preprocessing (image_size,
 *                     equalize, normalize, crop_ratio, max_side, and clahe_clip for CLAHE, same
 *                     names as the store's attributes; a CLAHE file without clahe_clip used
 *                     clip limit 2),
 *                     augment (the run's train-time augmentation, cxr_augment.h's canonical
 *                     spec; absent in older files: "none"), and
 *                     label_smoothing (the training loss's, 0: none; absent before 0.8: 0),
 *                     mixup (mixup's Beta parameter, 0: none; absent before 0.13: 0),
 *                     threshold (decision threshold on p[1] for binary models; 0.5 by default)
 *                     with threshold_split ("val" when cxr-train chose it on val; absent: the
 *                     default 0.5). The rest of the run's definition (absent in files written
 *                     before issue 15): recipe (name), schedule, warmup_steps, lr_step_every,
 *                     lr_gamma, weight_decay (AdamW), select (the model-selection metric or
 *                     "none"), patience, best_epoch (0: none yet), best_value (the selected
 *                     metric at best_epoch), stopped ("patience" once early stopping ended it),
 *                     average_from (weight averaging's first epoch, 0: none; absent in files
 *                     written before it: 0), shuffle_window (the training order's window:
 *                     0 the loader's, -1 the whole split, N shards; absent in files written
 *                     before it: 0), max_steps (int64, --max-steps: the steps an epoch is
 *                     capped at, 0 none; absent in files written before 0.14: 0),
 *                     store_content (since 0.19: what identifies the images of the store
 *                     trained on, cxr_store_content; absent in older files), store_pixels
 *                     (since 0.20: its pixels' digests; absent in older files, or when the
 *                     store had no pixel_hash)
 *   /class_names      string [C]
 *   /params/<name>    float32, one dataset per tensor ("conv1.w", "conv1.b", ... "out.b"),
 *                     shaped as the tensor: conv (K,C,3,3), dense (OUT,IN), biases (OUT)
 *   /adam_m/<name>    Adam first moments, same shapes
 *   /adam_v/<name>    Adam second moments
 *   /average/<name>   with weight averaging (cxr-train --average-from E, specs/model.md "Weight
 *                     averaging"), from epoch E on: the mean of the weights at the ends of
 *                     epochs E .. epoch, with the root attribute average_count (epoch - E + 1).
 *                     /params stays the training state a resume continues from; the model that
 *                     cxr_checkpoint_open_model opens (cxr-eval, cxr-predict, cxr-export) is the
 *                     average.
 *
 * Versions 2 and 3 follow formats/h5_internal.h: HDF5 1.10 file format (checksummed metadata), strings
 * fixed-length, every tensor in chunks of at most 4 MiB with the Fletcher32 filter, so a
 * damaged file is refused (CXR_E_FORMAT naming the file and what). On load every value must
 * be finite (and Adam's second moments >= 0) and the attributes in range. Version 1 (HDF5's
 * oldest format, variable-length strings, no checksums) is still read, with the same value
 * checks, and a resumed run writes version 2 (or 3).
 *
 * Weights-only model files (format "cxr-weights", version 2 or 3, cxr_checkpoint_save_weights,
 * written by cxr-export --weights): the same attributes and /class_names, plus params_dtype ("float32"
 * or "bfloat16"), and /params alone (no Adam state; the average where the source had one): a third
 * of a checkpoint in float32, a sixth in bfloat16 (an HDF5 float type of 16 bits: sign, 8 exponent
 * bits biased 127, 7 mantissa bits), widened exactly on load. Every tensor checksummed as in a
 * checkpoint. cxr_checkpoint_read_meta and cxr_checkpoint_open_model read both kinds;
 * cxr_checkpoint_load (resuming training) refuses a weights file.
 *
 * Files are written to a temporary file beside the target (common/cxr_tmpfile.h), flushed and
 * renamed into place, so the previous checkpoint stays valid until the new one is complete.
 */
#ifndef CXR_CHECKPOINT_H
#define CXR_CHECKPOINT_H

#include <stdint.h>
#include <stdio.h>

#include "cxr_model.h"
#include "cxr_preprocess.h"
#include "cxr_status.h"
#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CXR_CHECKPOINT_FORMAT  "cxr-checkpoint"
#define CXR_CHECKPOINT_VERSION 3 /* the newest written and read (specs/model.md "Input scale") */
#define CXR_CHECKPOINT_VERSION_PLAIN 2 /* written for a model without an input scale, which
                                          readers before 0.17 (versions 1 and 2 only) read */
#define CXR_WEIGHTS_FORMAT     "cxr-weights" /* same version numbers as the checkpoint */

/* What identifies the images of a store, per split (train, val, test), cheaply (its paths and
 * labels, held in memory by cxr_store_open, and the pixel hashes cxr-pack stores; not the
 * pixels themselves: the preprocessing is compared apart): a store packed again under the same
 * name is told from the one a run trained on (specs/model.md "Store content"). Stored as the
 * string attributes store_content (since 0.19): "train N SET ORDER; val none; test N SET
 * ORDER", and store_pixels (since 0.20, absent when no split had pixel_hash): "train PIXELS;
 * val none; test PIXELS", the digests as 16 lower-case hex digits. */
typedef struct {
    int64_t n[3];      /* images of train, val, test; -1: the store has no such split */
    uint64_t set[3];   /* order-free: the sum (mod 2^64) of the images' XXH3-64 of their path
                          seeded with their label, so that a split's set is the sum of its
                          parts' (a val carved from train is recognised) */
    uint64_t order[3]; /* in store order: each image's hash hashed with the previous value as
                          XXH3-64's seed (from 0) */
    /* since 0.20, where the store has pixel_hash (cxr-pack's default): the sum (mod 2^64) of
       each image's pixel_hash hashed with its path-and-label hash as seed, so that pixels
       changed under the same names, or swapped between them, are seen (attribute store_pixels) */
    uint64_t pixels[3];
    int has_pixels[3]; /* 1: pixels[k] was digested (split k present, with pixel_hash) */
} cxr_store_content;

typedef struct {
    cxr_model_config model; /* n_classes, image_size, channels, dense, alpha, keep_prob, seed,
                               head ("head": absent before 0.9, read as flatten), input_pool
                               (absent before 0.9: 1) */
    cxr_adam_params adam;
    int epochs; /* planned epochs of the run */
    int batch;
    int threads;             /* informational */
    char precision[8];       /* the run's arithmetic, cxr_precision_name ("" unknown: a file
                                written before it was recorded; not written then) */
    int epoch;               /* completed epochs */
    int64_t step;            /* Adam step count t */
    uint64_t seed;           /* the run's seed (shuffle, dropout, init) */
    double threshold;        /* binary decision threshold on p[1] */
    double label_smoothing;  /* the training loss's label smoothing, [0,1) (0: none) */
    double mixup;            /* mixup's Beta parameter, [0, CXR_LOADER_MIXUP_MAX] (0: none) */
    char augment[320];       /* train-time augmentation, cxr_augment_format ("none" if absent) */
    char threshold_split[8]; /* "val": chosen on val by cxr-train; "": the default 0.5 */
    /* the run's definition; has_run 0 when the file predates them (then all 0 / "") */
    int has_run;
    char recipe[32];   /* recipe name */
    char schedule[16]; /* cxr_lr_schedule_name */
    int64_t warmup_steps, lr_step_every;
    double lr_gamma;          /* step decay factor */
    char select[32];          /* model-selection metric (cxr_select_name) */
    int patience;             /* 0 off */
    int best_epoch;           /* 0: no best yet */
    double best_value;        /* the selected metric at best_epoch */
    char stopped[16];         /* "patience" when early stopping ended the run, else "" */
    int average_from;  /* weight averaging from this epoch on (0: off; absent in older files) */
    int average_count; /* read: the epochs in the file's /average (0: it has none) */
    int shuffle_window;       /* the training order's window (cxr_train_recipe; 0 in older files) */
    int has_shuffle_window;   /* read: the file records it (older files do not) */
    int64_t max_steps;        /* --max-steps of the run (0: none; absent before 0.14: 0) */
    cxr_preprocess_params pp; /* the store's preprocessing */
    int n_classes;
    char **class_names; /* [n_classes], owned (cxr_checkpoint_meta_free) */
    char store
        [4096]; /* the store trained on, absolute (informational; PATH_MAX: 1024 before 0.15) */
    char tool_version[64];
    int has_store_content;           /* the file records store_content (since 0.19) */
    cxr_store_content store_content; /* the store trained on (has_store_content) */
    int checksummed;  /* read: 1 for versions 2 and 3, 0 for a version 1 file (no checksums) */
    int weights_only; /* read: 1 for a weights-only file (CXR_WEIGHTS_FORMAT), 0 a checkpoint */
    int bf16;         /* read: a weights file's parameters are stored as bfloat16 */
    char resume_unknown[64]; /* read: the first training feature the file's resume_features
                                names that this version does not know ("": none); a resume here
                                would drop it, so cxr_checkpoint_resumable refuses (since 0.16) */
} cxr_checkpoint_meta;

/* Free the class names (and zero them). NULL-safe. */
void cxr_checkpoint_meta_free(cxr_checkpoint_meta *meta);

/* Write model parameters, Adam m/v and meta to `path` (temporary file + rename). The model's
 * step count is written as `step` (meta->step is ignored). Errors: CXR_E_IO / CXR_E_HDF5 naming
 * the file, CXR_E_NOMEM, or the model's download error. Leaves nothing at a temp path on error. */
cxr_status cxr_checkpoint_save(const char *path, cxr_model *m, const cxr_checkpoint_meta *meta);
/* cxr_checkpoint_save with /average: `average` (host, cxr_model_n_params floats laid out as
 * the parameter block) holds the mean of meta->average_count epochs' weights (> 0). */
cxr_status cxr_checkpoint_save_averaged(const char *path, cxr_model *m,
                                        const cxr_checkpoint_meta *meta, const float *average);
/* A checkpoint's /average into dst (host, cxr_model_n_params floats in block layout; the
 * padding between tensors is left as it is), for a resume. CXR_E_FORMAT when the file holds
 * none, or as cxr_checkpoint_load for a damaged or mismatched tensor. */
cxr_status cxr_checkpoint_load_average(const char *path, cxr_model *m, float *dst);

/* Write the parameters alone and meta to a weights-only model file at `path` (temporary file +
 * rename): float32, or bfloat16 (round to nearest even) when bf16 != 0. Errors as
 * cxr_checkpoint_save. */
cxr_status cxr_checkpoint_save_weights(const char *path, cxr_model *m,
                                       const cxr_checkpoint_meta *meta, int bf16);

/* Read and check a checkpoint's attributes and class names into *meta (free with
 * cxr_checkpoint_meta_free). CXR_E_IO if it cannot be opened, CXR_E_FORMAT if it is not a
 * cxr checkpoint, is damaged, misses an attribute or holds one out of range (lr NaN, an
 * empty or repeated class name...), CXR_E_VERSION for another format version. */
cxr_status cxr_checkpoint_read_meta(const char *path, cxr_checkpoint_meta *meta);

/* Load parameters, Adam state and step count into a model created with a matching config
 * (to resume training: a weights-only file is refused, CXR_E_FORMAT saying so).
 * Every tensor's shape is checked against the model ("checkpoint F: layer conv2.w has shape
 * 32x16x3x3, model expects 64x16x3x3": CXR_E_MISMATCH); a missing or damaged dataset, or a
 * non-finite value ("checkpoint F: /params/out.w holds a non-finite value nan at element 3"),
 * is CXR_E_FORMAT.
 * The model is unchanged on error. meta may be NULL, else receives the attributes as
 * cxr_checkpoint_read_meta. */
cxr_status cxr_checkpoint_load(const char *path, cxr_model *m, cxr_checkpoint_meta *meta);

/* Create an inference-only model (cxr_model_create_inference) on `be` shaped as the checkpoint
 * or weights file says (batch_capacity as given, > 0) and load its parameters, a tensor at a
 * time into the model's block (Adam state is neither read nor held): what cxr-eval,
 * cxr-predict and cxr-export do. Memory: the parameters once, plus the forward's buffers. *meta
 * receives the attributes (free with cxr_checkpoint_meta_free; untouched on error); *out the model
 * (cxr_model_destroy). Errors as cxr_checkpoint_read_meta / cxr_model_create /
 * cxr_checkpoint_load. */
cxr_status cxr_checkpoint_open_model(const char *path, cxr_backend *be, int batch_capacity,
                                     int threads, cxr_model **out, cxr_checkpoint_meta *meta);

/* CXR_OK when a file whose metadata is meta can be resumed from (a checkpoint cxr-train wrote);
 * CXR_E_FORMAT "--resume PATH: a weights-only model file ..." for one cxr-export --weights
 * wrote, which holds no Adam state. */
cxr_status cxr_checkpoint_resumable(const cxr_checkpoint_meta *meta, const char *path);
/* The binary decision threshold a tool applies: *threshold when it is a number (--threshold),
 * else the checkpoint's. Returns where it came from: "--threshold", "chosen on val, stored in
 * the model", or "the default 0.5: the model holds no threshold chosen on val". */
const char *cxr_threshold_choose(const cxr_checkpoint_meta *meta, double *threshold);
/* "TOOL: threshold T (SOURCE)" on f. */
void cxr_threshold_say(FILE *f, const char *tool, double threshold, const char *source);
/* How every source of a default threshold begins ("the default 0.5: ..."), which
 * cxr_threshold_is_default looks for. */
#define CXR_THRESHOLD_DEFAULT "the default 0.5"
/* 1 when SOURCE says the threshold is a default 0.5 (none chosen on val), a caveat the tools'
 * -q still prints; 0 for one chosen, stored or given. */
int cxr_threshold_is_default(const char *source);

/* Check that a checkpoint (meta, read from path) was trained on the classes of `store` (the
 * same count and the same names in index order) and its preprocessing (equalize with its
 * clahe_clip, normalize, crop_ratio). CXR_E_MISMATCH naming both files and the first difference. */
cxr_status cxr_checkpoint_check_store(const cxr_checkpoint_meta *meta, const char *path,
                                      const cxr_store *store);

/* The content of `store` (cxr_store_content) into *out: a pass over its paths and labels in
 * memory and its pixel_hash datasets (8 bytes an image, read through HDF5). *out is whole in
 * any case; CXR_E_FORMAT (cxr_last_error naming it) when a pixel_hash is there but malformed or
 * damaged: that split's pixels, and those of the splits after it, are then not digested
 * (has_pixels 0), as for a store without the datasets. */
cxr_status cxr_store_content_of(cxr_store *store, cxr_store_content *out);
/* What differs between the content a checkpoint recorded (then) and a store's (now), per split,
 * into buf ("train: 5216 images then, 4694 now; val: none then, 522 now (carved from the images
 * trained on)"; "" when none). Returns a mask of the splits that differ: 1 << 0 train, 1 << 1
 * val, 1 << 2 test; CXR_STORE_CONTENT_ORDER_ONLY marks those that hold the same images in
 * another order (their bit set too). */
#define CXR_STORE_CONTENT_ORDER_ONLY(split) (1 << (8 + (split)))
int cxr_store_content_diff(const cxr_store_content *then, const cxr_store_content *now, char *buf,
                           size_t cap);

#ifdef __cplusplus
}
#endif
#endif
