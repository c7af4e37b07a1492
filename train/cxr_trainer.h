/* cxr_trainer.h: the training loop (cxr-train), evaluation (cxr-eval) and device selection,
 * as a library. Nothing here prints: progress and per-epoch results reach the caller through
 * callbacks, the run's record goes to the JSON Lines log of specs/log.md.
 *
 * Reproducibility: every random choice derives from the seed and counters (parameter init and
 * dropout from (seed, Adam step, layer), train/rng.h; the image order from (seed, epoch),
 * runtime/cxr_loader.h), and a checkpoint stores the step count, so training N epochs in one run
 * or k epochs, then resuming for N-k, gives bit-identical losses (same device and threads).
 */
#ifndef CXR_TRAINER_H
#define CXR_TRAINER_H

#include <signal.h>
#include <stdint.h>

#include "cxr_metrics.h"
#include "cxr_model.h"
#include "cxr_status.h"
#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- devices */
/* Open a compute backend. spec: "cpu", "cuda" (or "cuda:N"), or "auto" (CUDA when the build has
 * it and a GPU answers, else the CPU). threads: CPU worker threads (<= 0: all cores).
 * desc receives a description for logs ("cpu (2 threads)", "cuda:0 NVIDIA H100 ...");
 * note receives why auto chose what it chose ("" if not auto).
 * Errors: CXR_E_UNSUPPORTED "built without CUDA", CXR_E_NODEVICE "no usable GPU: ...",
 * CXR_E_ARG for an unknown spec. */
cxr_status cxr_device_open(cxr_backend **out, const char *spec, int threads, char *desc,
                           size_t desc_cap, char *note, size_t note_cap);

/* ---------------------------------------------------------------- evaluation */
typedef struct {
    double loss;    /* class-weighted cross-entropy (store class weights), as in training */
    double seconds; /* wall time */
    double wait_s;  /* time spent waiting for the loader */
} cxr_eval_result;

/* Evaluate model on a split (sequential order, no dropout). Samples are added to `metrics`
 * (created by the caller for the model's class count; not reset here). class_weights may be
 * NULL (all 1). interrupted may be NULL. Errors from the loader (e.g. a corrupted chunk, naming
 * split and shard) or the model; CXR_E_INTERRUPTED if *interrupted became set. */
cxr_status cxr_evaluate(cxr_model *m, const cxr_store *store, const char *split, int batch,
                        int threads, int prefetch, const float *class_weights,
                        volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                        cxr_eval_result *res);
/* Per-image hook for cxr_evaluate_ex: n images with their split indices, labels and
 * probabilities (n, C), in split order. */
typedef void (*cxr_eval_hook)(void *user, int n, const int64_t *indices, const int32_t *labels,
                              const float *probs);
/* cxr_evaluate, calling hook(user, ...) after every batch (hook may be NULL). */
cxr_status cxr_evaluate_ex(cxr_model *m, const cxr_store *store, const char *split, int batch,
                           int threads, int prefetch, const float *class_weights,
                           volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                           cxr_eval_result *res, cxr_eval_hook hook, void *user);

/* ---------------------------------------------------------------- training */
typedef struct {
    int epoch; /* 1-based */
    int epochs;
    int64_t step, steps; /* batch within the epoch (1-based), batches per epoch */
    int64_t images;      /* training images done this epoch */
    double loss, acc;    /* running means over the epoch so far */
    double images_per_s;
    double elapsed_s; /* since the epoch started */
} cxr_train_progress;

typedef struct {
    int epoch, epochs; /* 1-based epoch just finished */
    double train_loss, train_acc;
    double eval_loss, eval_acc;
    double auc, f1;
    double epoch_s, eval_s, images_per_s, data_wait_s, data_wait_frac;
    int64_t steps; /* optimizer steps of this epoch */
} cxr_epoch_summary;

typedef struct {
    const char *store_path;      /* required */
    const char *device_desc;     /* for the log ("cpu", "cuda:0 ...") */
    int epochs;                  /* total epochs of the run (default 26) */
    int batch;                   /* default 64 */
    float lr;                    /* default: cxr_adam_defaults */
    uint64_t seed;               /* default 1 */
    int threads;                 /* loader decode threads and CPU op threads (default 2) */
    int prefetch;                /* default 1 */
    int64_t max_steps;           /* > 0: at most this many steps per epoch (quick tests) */
    const char *log_path;        /* JSON Lines log (NULL: none) */
    const char *checkpoint_path; /* written at the end of every epoch (NULL: none) */
    const char *resume_path;     /* continue from this checkpoint (NULL: fresh start) */
    const char *monitor_log;     /* samples file (NULL: none); the monitor always runs
                                     when monitor != 0 */
    int monitor;                 /* 1: sample CPU/RSS (and GPU) and log per-epoch summaries */
    int monitor_gpu;             /* NVML device index to watch, -1 none */
    const char *precision;       /* "fp32" (default, NULL), "tf32", "bf16": CUDA backend only */
    int resident;                /* GPU loader: -1 auto (default), 0 streamed, 1 the whole
                                     split in device memory (cxr_resident_mode, cxr_cuda.h) */
    const char *tool_version;    /* e.g. "cxr-train 0.1.0" */
    volatile sig_atomic_t *interrupted; /* set by SIGINT: stop after the current step */
    int lr_set, seed_set, batch_set;    /* 1 if given explicitly (a resume must agree) */
    int epochs_set;                     /* 0: a resume takes the checkpoint's planned epochs */
    /* callbacks (may be NULL); `user` is passed back */
    void (*on_progress)(void *user, const cxr_train_progress *p);
    void (*on_epoch)(void *user, const cxr_epoch_summary *s);
    void (*on_note)(void *user, const char *line); /* informational lines (resume, eval split) */
    void *user;
} cxr_train_options;

/* Study defaults (see specs/model.md for the learning rate). */
void cxr_train_options_defaults(cxr_train_options *o);

/* Train on the store's /train split on backend `be` (borrowed), evaluating each epoch on /val,
 * or /test when there is no /val. Writes the log and the checkpoint per epoch. Returns CXR_OK,
 * CXR_E_INTERRUPTED (stopped after a step; the last complete checkpoint stays valid), or an
 * error with a message (bad store, corrupt chunk, checkpoint mismatch on resume, I/O...). */
cxr_status cxr_train_run(const cxr_train_options *o, cxr_backend *be);

#ifdef __cplusplus
}
#endif
#endif
