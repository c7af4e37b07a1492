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
#include <stddef.h>
#include <stdint.h>

#include "cxr_augment.h"
#include "cxr_loader.h"
#include "cxr_metrics.h"
#include "cxr_model.h"
#include "cxr_status.h"
#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- devices */
typedef enum { CXR_DEVICE_CPU = 0, CXR_DEVICE_CUDA = 1 } cxr_device_kind;

/* The device cxr_device_open chose. */
typedef struct {
    cxr_device_kind kind;
    int index;      /* CUDA: the GPU's index (the monitor finds it in NVML by its PCI bus id:
                       specs/log.md, "Samples file"); CPU: -1 */
    char desc[64];  /* for logs: "cpu (2 threads)", "cuda:0" */
    char note[512]; /* the line a tool prints about the device, "" for none: on a GPU, the GPU
                       and its library versions; under "auto", why a GPU that is there could
                       not be used. Nothing on a machine without a GPU. */
} cxr_device;

/* Open a compute backend. spec: "cpu", "cuda" (or "cuda:N"), or "auto" (CUDA when the build has
 * it and a GPU answers, else the CPU); NULL means "auto". threads: CPU worker threads.
 * *dev receives what was opened. Errors: CXR_E_UNSUPPORTED "built without CUDA",
 * CXR_E_NODEVICE "no NVIDIA GPU (reason)", CXR_E_CUDA when a GPU is there but the backend
 * cannot start, CXR_E_ARG for an unknown spec. Tools open their input files first, so that a
 * missing input is refused before any device line is printed. */
cxr_status cxr_device_open(cxr_backend **out, const char *spec, int threads, cxr_device *dev);
/* The tools' --device check, which opens nothing (a mistyped device is refused before long
 * work): 1 when spec is auto, cpu, cuda or cuda:N (0..64), else "TOOL: reason" on stderr and 0
 * (the tool exits 2). */
int cxr_device_option_ok(const char *tool, const char *spec);
/* cxr_device_open for a model of the given head (cxr_model_head) and input pool: when the
 * backend opened lacks an op they need (a CUDA module older than 0.9's pool.cu has no global
 * average pool for gap, no average pool for input_pool > 1), "auto" falls back to the CPU and
 * says why in dev->note; an explicit GPU is CXR_E_UNSUPPORTED naming the op. */
cxr_status cxr_device_open_model(cxr_backend **out, const char *spec, int threads, int head,
                                 int input_pool, cxr_device *dev);

/* ---------------------------------------------------------------- evaluation */
typedef struct {
    double loss;    /* class-weighted cross-entropy (store class weights), as in training */
    double seconds; /* wall time */
    double wait_s;  /* time spent waiting for the loader */
    int64_t n_nonfinite;     /* images whose probabilities are not all finite (NaN: weights that
                                overflow on them); their metrics are meaningless */
    int64_t first_nonfinite; /* the split index of the first of them, -1 when none */
} cxr_eval_result;
/* CXR_OK when every probability of res was finite; else CXR_E_MISMATCH naming model, store,
 * split, how many and the first image's index and path (cxr-eval and ensembles refuse to
 * report metrics of NaN; cxr-train notes it and goes on). */
cxr_status cxr_eval_check_finite(const cxr_eval_result *res, const cxr_store *store,
                                 const char *split, const char *model);

/* Evaluate model on a split (sequential order, no dropout). Samples are added to `metrics`
 * (created by the caller for the model's class count; not reset here). class_weights may be
 * NULL (all 1). interrupted may be NULL. Errors from the loader (e.g. a corrupted chunk, naming
 * split and shard) or the model; CXR_E_INTERRUPTED if *interrupted became set. Non-finite
 * probabilities are not an error here: they are counted in res (n_nonfinite, first_nonfinite)
 * and reach `metrics` (ranked as -inf), so a caller that reports metrics checks them first
 * (cxr_eval_check_finite). */
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
/* cxr_evaluate_ex with test-time augmentation: the probabilities of cxr_model_probs_tta(tta).
 * tta 1 is cxr_evaluate_ex exactly; for tta > 1 the loss is the class-weighted
 * -log(max(averaged p[label], 1e-30)). perturb (NULL: none) transforms every image before the
 * model as the loader's augmentation does: image i as cxr_augment_image(perturb, perturb_seed,
 * epoch 0, i) (cxr-eval --perturb: how answers move under acquisition-like changes). */
cxr_status cxr_evaluate_tta(cxr_model *m, const cxr_store *store, const char *split, int batch,
                            int threads, int prefetch, const float *class_weights,
                            volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                            cxr_eval_result *res, cxr_eval_hook hook, void *user, int tta,
                            const cxr_augment_params *perturb, uint64_t perturb_seed);

/* Test-time augmentation (train/tta.c): probs (n, C) of the n host images (n, 1, S, S),
 * averaged over the transforms t = 0 .. tta-1 of cxr_augment_tta_xform (cxr_augment.h: the
 * identity, rotations of +-5 degrees, zooms 1.05 and 0.95, shifts of 4% of the side on three
 * diagonals), each a forward pass without dropout; the sum is taken in double in the order of
 * t. tta 1: one forward, exactly cxr_model_forward + cxr_model_probs. CXR_E_ARG unless
 * 1 <= tta <= CXR_TTA_MAX (8). */
cxr_status cxr_model_probs_tta(cxr_model *m, const float *images, int n, int tta, float *probs);

/* Ensembles (train/ensemble.c): the mean of n_models models' class probabilities on a split.
 * paths: checkpoints or weights files (cxr_checkpoint_open_model), opened on `be` one after the
 * other (memory: one model and one member's probabilities at a time, plus the split's images x
 * classes sums in double), each checked against the store's classes and evaluated exactly as
 * cxr_evaluate_tta evaluates it alone (same batch, tta, perturb and seed: a member's figures
 * equal its own cxr-eval's). members (NULL, or n_models entries) receive each member's result,
 * epoch and AUC. *out: the mean probabilities (float, (n, k), split order: the sum in double in
 * member order, divided by n_models; free with cxr_ensemble_eval_free), the split's labels
 * (owned by the store) and the class-weighted -log(max(mean p[label], 1e-30)). One member
 * gives its own probabilities to the bit. Errors: a member's (open, mismatch with the store,
 * evaluation; the message names its file). */
#define CXR_ENSEMBLE_MAX 256 /* members the tools accept besides the first */
typedef struct {
    cxr_eval_result result; /* its loss, seconds, loader wait */
    int epoch;              /* the checkpoint's epoch */
    int averaged;           /* its weights are the mean of this many epochs (0: its own) */
    double auc;             /* binary: ROC AUC of p[1]; more classes: macro one-vs-rest AUC */
} cxr_ensemble_member;
typedef struct {
    int64_t n;
    int k;
    float *probs;          /* (n, k), owned */
    const int32_t *labels; /* (n), the store's */
    double loss, seconds;
} cxr_ensemble_eval;
cxr_status cxr_evaluate_ensemble(const char *const *paths, int n_models, cxr_backend *be,
                                 const cxr_store *store, const char *split, int batch,
                                 int threads, int prefetch, const float *class_weights,
                                 volatile sig_atomic_t *interrupted, int tta,
                                 const cxr_augment_params *perturb, uint64_t perturb_seed,
                                 cxr_ensemble_member *members, cxr_ensemble_eval *out);
void cxr_ensemble_eval_free(cxr_ensemble_eval *e); /* NULL-safe; zeroes it */

/* ---------------------------------------------------------------- training */
typedef struct {
    int epoch; /* 1-based */
    int epochs;
    int64_t step, steps; /* batch within the epoch (1-based), batches per epoch */
    int64_t images;      /* training images done this epoch */
    double loss, acc;    /* running means over the epoch so far */
    double images_per_s;
    double elapsed_s; /* since the epoch started */
    /* During the epoch's evaluation, after its last step (the fields above as that step left
     * them): the split evaluated, its images done and in all, seconds since it began; NULL, 0,
     * 0, 0 while training. */
    const char *eval_split;
    int64_t eval_done, eval_n;
    double eval_elapsed_s;
} cxr_train_progress;

typedef struct {
    int epoch, epochs; /* 1-based epoch just finished */
    double train_loss, train_acc;
    double eval_loss, eval_acc;
    double auc, f1;
    double epoch_s, eval_s, images_per_s, data_wait_s, data_wait_frac;
    int64_t steps;  /* optimizer steps of this epoch */
    int n_classes;  /* 2: eval_acc and f1 at 0.5; more: the most probable class, macro F1 (0.21) */
} cxr_epoch_summary;

/* cxr_train_recipe.warmup_steps: one epoch, ceil(train images / batch) steps (at most max_steps),
 * resolved when the run starts (74 on the Kaggle split packed with --val-fraction 0.1 at batch
 * 64). */
#define CXR_WARMUP_ONE_EPOCH (-2)

/* A named training recipe: the hyperparameters a study fixes. The library holds them in a
 * table (train/recipe.c); cxr-train --recipe NAME picks one, explicit options override it. */
typedef struct {
    const char *name;
    const char *about;    /* one line for --help */
    int epochs;           /* total epochs of a run */
    int batch;            /* images per step */
    float lr;             /* Adam learning rate (specs/model.md "Learning rate") */
    const char *schedule; /* cxr_lr_schedule_parse: "constant", "cosine" or "step" */
    int warmup_steps;     /* linear warmup from lr/warmup_steps to lr over these steps (0: none;
                             CXR_WARMUP_ONE_EPOCH: one epoch's steps of the store at hand) */
    float weight_decay;   /* AdamW's decoupled weight decay (0: plain Adam) */
    float label_smoothing; /* the loss's label smoothing in [0,1) (0: none; cxr_model.h) */
    const char *select;   /* model selection on /val (cxr_select_parse; "none": none); skipped
                             with a note when the store has no /val */
    int patience;         /* early stopping after this many epochs without improvement (0: off) */
    const char *augment;  /* train-time augmentation, cxr_augment_parse spec; NULL: "none" */
    const char *head;     /* the model's head (cxr_model_head_parse); NULL: "flatten" */
    int input_pool;       /* the model's input pool (cxr_model_config); 0: 1 */
    int average_from;     /* weight averaging (specs/model.md "Weight averaging"): from this
                             1-based epoch on, the running mean of the epoch-end weights is the
                             model evaluated, selected and exported (0: off) */
    int shuffle_window;   /* the training order's window (cxr_loader_options.window, specs/
                             model.md "Training order"): 0 auto (a short run's whole split,
                             else the loader's shards of 256 images: CXR_TRAIN_SHORT_RUN_EPOCHS),
                             CXR_LOADER_WINDOW_SPLIT the whole split, N > 0 shards */
    float mixup;          /* mixup's Beta parameter (cxr_loader_options.mixup; 0: none) */
} cxr_train_recipe;

/* A fresh run's auto window (0) mixes the whole split (CXR_LOADER_WINDOW_SPLIT) when the run
 * trains at most this many epochs' worth of steps and the split's decoded images take at most
 * a quarter of cxr_mem_available(), and is the loader's window of a few shards otherwise; the
 * checkpoint and log record which. */
#define CXR_TRAIN_SHORT_RUN_EPOCHS 14
/* cxr_train_recipe_options.shuffle_window when not given: the recipe's. */
#define CXR_TRAIN_WINDOW_RECIPE (-2)
/* "auto" (0), "split" (CXR_LOADER_WINDOW_SPLIT) or a number of shards >= 1; CXR_E_ARG
 * naming the value otherwise. */
cxr_status cxr_shuffle_window_parse(const char *s, int *out);
/* The spelling cxr_shuffle_window_parse reads, into buf. */
const char *cxr_shuffle_window_name(int window, char *buf, size_t cap);

/* The learning rate over a run (specs/model.md "Learning-rate schedule"). */
typedef enum { CXR_LR_CONSTANT, CXR_LR_COSINE, CXR_LR_STEP } cxr_lr_kind;
typedef struct {
    cxr_lr_kind kind;
    float lr;           /* the peak rate */
    int64_t warmup;     /* steps of linear warmup: step s < warmup uses lr * (s+1) / warmup */
    int64_t total;      /* the run's steps (cosine reaches 0 after the last) */
    int64_t step_every; /* step decay: steps between decays (> 0; 0 in other schedules) */
    float step_gamma;   /* step decay: factor per decay, in (0,1] */
} cxr_lr_schedule;
/* The rate of Adam step s (0-based: s steps done before it). */
float cxr_lr_at(const cxr_lr_schedule *sc, int64_t s);
/* "constant", "cosine" or "step" into *kind; CXR_E_ARG naming the value otherwise. */
cxr_status cxr_lr_schedule_parse(const char *name, cxr_lr_kind *kind);
const char *cxr_lr_schedule_name(cxr_lr_kind kind);

/* Model selection (specs/model.md "Model selection"): the metric on /val that picks the epoch
 * whose model is kept as the best. */
typedef enum {
    CXR_SELECT_NONE,
    CXR_SELECT_VAL_AUC,               /* ROC AUC (binary), macro one-vs-rest AUC otherwise */
    CXR_SELECT_VAL_LOSS,              /* class-weighted cross-entropy, lower is better */
    CXR_SELECT_VAL_BALANCED_ACCURACY, /* binary: at the threshold chosen on val; else argmax */
} cxr_select_kind;
/* "none", "val_auc", "val_loss" or "val_balanced_accuracy" into *kind; CXR_E_ARG otherwise. */
cxr_status cxr_select_parse(const char *name, cxr_select_kind *kind);
const char *cxr_select_name(cxr_select_kind kind);
/* 1 when value improves on best (best NAN: any finite value does; NAN never improves). */
int cxr_select_improves(cxr_select_kind kind, double value, double best);
/* The best model's file beside the checkpoint: MODEL.h5 -> MODEL.best.h5 (a name without .h5
 * gets .best.h5 appended). CXR_E_ARG when it does not fit in cap. */
cxr_status cxr_train_best_path(const char *checkpoint, char *buf, size_t cap);

/* The recipe table: *n entries (n may be NULL); the first is the default. */
const cxr_train_recipe *cxr_train_recipes(int *n);
/* The recipe called name (NULL: the default), or NULL when there is none. */
const cxr_train_recipe *cxr_train_recipe_find(const char *name);

#define CXR_TRAIN_DEFAULT_SEED 1

/* What to train. A value left 0 (seed, warmup, weight decay, label smoothing, patience: -1)
 * comes from the recipe on a fresh start and from the checkpoint on a resume. Given values win
 * over the recipe. On a resume, the batch, lr, schedule, warmup, step decay, weight decay, label
 * smoothing, selection metric, augmentation, head, input pool, averaging, shuffle window and
 * mixup given here or by a recipe named here, and a seed
 * given here, must agree with the checkpoint; epochs and patience given here replace the
 * checkpoint's (to extend a run). A checkpoint written before issue 15 holds no schedule: the
 * options' or recipe's, else the pre-issue-15 default (constant, no warmup, no decay, no
 * selection), are used and said. */
typedef struct {
    const char *name;     /* cxr_train_recipe_find; NULL: the default recipe */
    int epochs, batch;    /* > 0: given */
    float lr;             /* > 0: given */
    const char *schedule; /* non-NULL: given (cxr_lr_schedule_parse) */
    int warmup_steps;     /* >= 0: given; -1: the recipe's */
    float weight_decay;   /* >= 0: given; < 0: the recipe's */
    float label_smoothing; /* >= 0: given; < 0: the recipe's */
    int lr_step_epochs;   /* step decay: > 0 epochs between decays; 0: a third of the run */
    float lr_gamma;       /* step decay: > 0 the factor per decay; 0: 0.1 */
    const char *select;   /* non-NULL: given (cxr_select_parse, "none" included) */
    int patience;         /* >= 0: given (0 off); -1: the recipe's (on a resume: the
                             checkpoint's); may differ from the checkpoint's on a resume */
    int64_t seed;         /* >= 0: given; -1: CXR_TRAIN_DEFAULT_SEED */
    int64_t max_steps;    /* > 0: at most this many steps per epoch (quick tests) */
    const char *augment;  /* non-NULL: given (cxr_augment_parse spec: "none", "default", ...) */
    const char *head;     /* non-NULL: given (cxr_model_head_parse: "flatten" or "gap") */
    int input_pool;       /* > 0: given (1, 2, 4 or 8); 0: the recipe's */
    int average_from;     /* >= 0: given (0 off); -1: the recipe's */
    int shuffle_window;   /* >= CXR_LOADER_WINDOW_SPLIT: given; CXR_TRAIN_WINDOW_RECIPE: the
                             recipe's (on a resume: the checkpoint's) */
    float mixup;          /* >= 0: given (0 off); < 0: the recipe's (on a resume: the
                             checkpoint's) */
} cxr_train_recipe_options;

/* Where the run reads and writes. */
typedef struct {
    const char *store_path;      /* required */
    const char *log_path;        /* JSON Lines log (specs/log.md), appended on resume; NULL: none */
    const char *checkpoint_path; /* written at the end of every epoch (NULL: none) */
    const char *resume_path;     /* continue from this checkpoint (NULL: fresh start) */
    const char *monitor_log;     /* resource samples file (NULL: none) */
    int64_t log_every;           /* > 0: a `step` line in the log after every N-th step */
    const char *tool_version;    /* for the log and the checkpoint, e.g. "cxr-train 0.1.0" */
    int checkpoint_reserved;     /* 1: checkpoint_path is a name the caller reserved for this run
                                    (cxr-train's default name): no earlier run's model is there */
} cxr_train_io;

/* How the run computes and what it measures. */
typedef struct {
    const char *device_desc; /* for the log: cxr_device.desc */
    int threads;             /* loader decode threads and CPU op threads (default: all cores) */
    int prefetch;            /* 1 (default): the loader decodes ahead on worker threads */
    const char *precision;   /* "fp32" (default, NULL), "tf32", "bf16": CUDA backend only */
    int resident;            /* GPU loader: -1 auto (default), 0 streamed, 1 the whole split
                                in device memory (cxr_resident_mode, cxr_cuda.h) */
    int monitor;             /* 1 (default): sample CPU/RSS (and GPU) into the log; the
                                monitor also runs when io.monitor_log is set */
    int monitor_gpu; /* the GPU to watch, -1 none: the CUDA device trained on (cxr_device.index;
                      * found in NVML by its PCI bus id), else an NVML device index */
} cxr_train_compute;

/* How the run reports to its caller; every member may be NULL. `user` is passed back.
 * on_progress: after each training step, then (since 0.20.2) after each batch of the epoch's
 * evaluation, with the last step's fields again (step == steps) and eval_done growing: a caller
 * that acts on step == steps sees it once per evaluation batch as well. */
typedef struct {
    void (*on_progress)(void *user, const cxr_train_progress *p);
    void (*on_epoch)(void *user, const cxr_epoch_summary *s);
    void (*on_note)(void *user, const char *line); /* informational lines (resume, eval split) */
    void *user;
    volatile sig_atomic_t *interrupted; /* set by SIGINT: stop after the current step */
    /* Called once, when the run's checks of its options, store and checkpoint are done and
     * before it writes anything (the samples file, the log, a checkpoint): for the caller's
     * notes on its files (where the model is saved, a log it replaces), which said earlier
     * could precede a refusal. trains: 0 when a resume has nothing to train (nothing is then
     * saved or logged). Not called when the run is refused first. */
    void (*on_ready)(void *user, int trains);
} cxr_train_callbacks;

typedef struct {
    cxr_train_recipe_options recipe;
    cxr_train_io io;
    cxr_train_compute compute;
    cxr_train_callbacks cb;
} cxr_train_options;

/* The model variant a run trains, its head and input pool (cxr_model_config): the options'
 * when given, else the resumed checkpoint's (resumed: its model config; NULL on a fresh start),
 * else the named recipe's. cxr-train opens its device for them before the run, which resolves
 * them the same way. CXR_E_ARG for an unknown recipe or head. */
cxr_status cxr_train_model_variant(const cxr_train_recipe_options *ro,
                                   const cxr_model_config *resumed, int *head, int *input_pool);

/* Defaults: the default recipe, seed 1, all cores, prefetch and monitor on. */
void cxr_train_options_defaults(cxr_train_options *o);

/* Train on the store's /train split on backend `be` (borrowed), evaluating each epoch on /val,
 * or /test when there is no /val. Writes the log and the checkpoint per epoch; with a selection
 * metric (needs /val) also the best epoch's model (cxr_train_best_path), and stops early after
 * `patience` epochs without improvement (CXR_OK). With /val, each epoch's threshold is chosen
 * there (cxr_metrics_best_threshold) and stored in the checkpoints. Returns CXR_OK,
 * CXR_E_INTERRUPTED (stopped after a step; the last complete checkpoint stays valid), or an
 * error with a message (bad store, corrupt chunk, checkpoint mismatch on resume, I/O...). */
cxr_status cxr_train_run(const cxr_train_options *o, cxr_backend *be);

#ifdef __cplusplus
}
#endif
#endif
