/* cxr_trainlog.h: the training log of specs/log.md (JSON Lines), in one place: its keys, the
 * record of an `epoch` line, and the writer cxr-train uses. The reader (report/report_log.c,
 * cxr-report) parses with the same keys and field tables, so a key is typed once.
 *
 * Numbers that are NAN are "not measured": the writer leaves their key out and the reader
 * gives NAN for a key that is absent.
 */
#ifndef CXR_TRAINLOG_H
#define CXR_TRAINLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cxr_monitor.h"
#include "cxr_store.h" /* CXR_MAX_CLASSES */
#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- keys */
#define CXR_LOG_TYPE           "type" /* every line: its kind, one of: */
#define CXR_LOG_TYPE_RUN       "run"
#define CXR_LOG_TYPE_EPOCH     "epoch"
#define CXR_LOG_TYPE_BENCHMARK "benchmark" /* tests/bench/bench_study.sh */
#define CXR_LOG_TYPE_STEP      "step"      /* cxr-train --log-every N */
#define CXR_LOG_TYPE_STOP      "stop"      /* a resume that early stopping ends before it trains */
/* How every log begins: its first line is a run line, `type` its first key (cxr_log_open). */
#define CXR_TRAINLOG_MARK "{\"" CXR_LOG_TYPE "\":\"" CXR_LOG_TYPE_RUN "\""

/* `run` line */
#define CXR_LOG_TOOL         "tool"
#define CXR_LOG_STORE        "store"
#define CXR_LOG_DEVICE       "device"
#define CXR_LOG_KERNELS      "kernels"
#define CXR_LOG_CPU_MODEL    "cpu_model"
#define CXR_LOG_CLASSES      "classes"
#define CXR_LOG_RECIPE       "recipe"
#define CXR_LOG_TRAIN_IMAGES "train_images"
#define CXR_LOG_EVAL_IMAGES  "eval_images"
#define CXR_LOG_EVAL_SPLIT   "eval_split"

/* `epoch` line, besides the numbers of the field tables below */
#define CXR_LOG_EPOCH           "epoch"
#define CXR_LOG_STEPS           "steps"
#define CXR_LOG_STEP_TOTAL      "step_total"
#define CXR_LOG_PER_CLASS       "per_class"
#define CXR_LOG_CONFUSION       "confusion"
/* The most classes whose KxK confusion matrix an epoch line carries: 4096 classes made lines of
 * 34 MB, every epoch (cxr-eval --json has the matrix of any size) */
#define CXR_LOG_CONFUSION_MAX_CLASSES 256
#define CXR_LOG_ROC             "roc"
#define CXR_LOG_MONITOR         "monitor"
#define CXR_LOG_EVAL_NONFINITE  "eval_nonfinite"
#define CXR_LOG_AVERAGED        "averaged"
#define CXR_LOG_MONITOR_SAMPLES "samples"
#define CXR_LOG_MONITOR_GPU     "gpu" /* "not available: <reason>" when NVML was not used */

/* `step` line, besides cxr_log_step_fields */
#define CXR_LOG_STEP "step"

/* `benchmark` line, besides cxr_log_bench_fields */
#define CXR_LOG_BENCH_CONFIG "config"

/* A number of a line: its key and the offset of its double in the struct it is read into. */
typedef struct {
    const char *key;
    size_t offset;
} cxr_log_field;

/* ---------------------------------------------------------------- records */
/* One `epoch` line. Arrays are owned by whoever filled the record: the reader allocates them,
 * the trainer points them at its metrics report. */
typedef struct {
    int epoch; /* 1-based */
    /* what was learned (cxr_log_epoch_result_fields) */
    double train_loss, train_acc, eval_loss, eval_acc;
    double precision, recall, specificity, f1, auc, macro_f1, balanced_accuracy;
    double threshold; /* binary: the decision threshold chosen on val (NAN: none chosen) */
    /* what it cost (cxr_log_epoch_cost_fields) */
    double epoch_s, eval_s, images_per_s, data_wait_s, data_wait_frac, gpu_mem_used_mb;
    int64_t steps, step_total; /* -1: absent */
    double lr;                 /* the rate of the epoch's last Adam step; <= 0: absent */
    int best_epoch;            /* model selection: the best epoch so far (0: absent) */
    double best_value;         /* and its selected metric (NAN: absent) */
    const char *stopped;       /* "patience": early stopping ends the run here (NULL: absent) */
    int64_t eval_nonfinite;    /* eval images with non-finite probabilities (0: absent) */
    int averaged;              /* weight averaging: epochs in the evaluated mean (0: absent) */
    /* per_class entries (cxr_log_class_fields): n_per_class values in each array */
    int n_per_class;
    double *class_precision, *class_recall, *class_f1, *class_auc;
    int k;              /* confusion is k x k, 0 when absent */
    int64_t *confusion; /* row-major, row = true class */
    int n_roc;          /* ROC points, 0 when absent */
    double *roc_fpr, *roc_tpr;
    int has_monitor;
    cxr_monitor_summary monitor; /* (cxr_log_monitor_fields) gpu_ok 0: gpu_reason says why */
    int monitor_gpu_reported;    /* reader: the monitor object had GPU numbers or a reason */
} cxr_log_epoch;

/* One `benchmark` line (written by tests/bench/bench_study.sh, read by cxr-report). */
typedef struct {
    char *config;
    double first_epoch_s, later_epoch_s, images_per_s, data_wait_frac;
} cxr_log_bench;

/* One `step` line (cxr-train --log-every N): after every N-th optimizer step of the run. */
typedef struct {
    int64_t step; /* Adam's step count after it (1-based over the whole run, kept on resume) */
    int epoch;    /* 1-based */
    double loss;  /* this step's batch loss */
    double lr;    /* the rate the step used */
    double images_per_s; /* training images / second since the previous step line (or the
                            epoch's start) */
} cxr_log_step;

/* The numbers of a step line (loss, lr, images_per_s); offsets into cxr_log_step. */
extern const cxr_log_field cxr_log_step_fields[];
extern const int cxr_log_n_step_fields;

/* The numbers of an epoch line in the order they are written: the results come before the
 * per-class detail, the costs after it. Offsets into cxr_log_epoch. */
extern const cxr_log_field cxr_log_epoch_result_fields[];
extern const int cxr_log_epoch_n_result_fields;
extern const cxr_log_field cxr_log_epoch_cost_fields[];
extern const int cxr_log_epoch_n_cost_fields;
/* The numbers of a per_class entry; offsets of the double * arrays in cxr_log_epoch. */
extern const cxr_log_field cxr_log_class_fields[];
extern const int cxr_log_n_class_fields;
/* The numbers of the `monitor` object; offsets into cxr_monitor_summary. */
extern const cxr_log_field cxr_log_monitor_fields[];
extern const int cxr_log_n_monitor_fields;
/* The numbers of a benchmark line; offsets into cxr_log_bench. */
extern const cxr_log_field cxr_log_bench_fields[];
extern const int cxr_log_n_bench_fields;

/* The double a field names in a record, and (cxr_log_class_fields) the array. */
static inline double *cxr_log_num(void *record, const cxr_log_field *f)
{
    return (double *)(void *)((char *)record + f->offset);
}
static inline double **cxr_log_array(void *record, const cxr_log_field *f)
{
    return (double **)(void *)((char *)record + f->offset);
}

/* ---------------------------------------------------------------- writer */
/* What the `run` line says (the first line of a run, again at each resume). */
typedef struct {
    const char *tool, *store, *device;
    const char *kernels; /* what computes: the CPU backend's path, or the GPU; NULL: not written */
    const char *cpu_model; /* /proc/cpuinfo's model name; NULL: not written */
    int n_classes;
    char *const *classes; /* n_classes names, index order */
    /* the `recipe` object */
    int epochs, batch;
    const char *recipe;   /* recipe name; NULL: not written */
    const char *schedule; /* learning-rate schedule name; NULL: not written */
    int64_t warmup_steps;
    int64_t lr_step_every; /* step decay (written when schedule is "step") */
    double lr_gamma;
    double weight_decay;    /* AdamW; written with schedule */
    double label_smoothing; /* the loss's; written with schedule */
    const char *head;       /* the model's head, "flatten" or "gap"; NULL: not written */
    int input_pool;         /* the model's input pool; written when > 1 */
    float input_scale;      /* the model's input scale and shift (specs/model.md "Input scale"); */
    float input_shift;      /* written when the scale is > 0 and not the identity (since 0.17) */
    const char *select;     /* model-selection metric ("none"); NULL: not written */
    int patience;           /* written with select */
    int average_from;       /* weight averaging's first epoch; written when > 0 */
    int shuffle_window;     /* the training order's window (cxr_shuffle_window_name) */
    double mixup;           /* mixup's Beta parameter; written when > 0 */
    const char *best_model; /* the best model's file, NULL: none */
    float lr;
    uint64_t seed;
    int threads;
    const char *precision; /* "fp32", "tf32", "bf16" */
    int resident;          /* GPU loader holds the split on the device: 0/1; -1 not reported */
    int prefetch;
    float keep_prob, alpha;
    int64_t max_steps;   /* > 0: reported (epochs were cut short) */
    const char *augment; /* canonical spec (cxr_augment_format); NULL: not written */
    /* the data */
    int64_t train_images, eval_images;
    const char *eval_split; /* "" when there is none */
    int image_size;
    /* the store's preprocessing (the `preprocessing` object): names as cxr_equalize_name and
     * cxr_norm_name give them; equalize NULL: not written; clahe_clip <= 0: not written (set
     * it for CLAHE only) */
    const char *equalize, *normalize;
    double crop_ratio, clahe_clip;
    const char *resumed_from; /* the checkpoint of a resume, else NULL */
    int start_epoch;          /* resume: the first epoch this run trains (1-based) */
} cxr_log_run_line;

typedef struct cxr_trainlog cxr_trainlog;

/* Open path for writing, or for appending when append != 0 (a resume continues its log).
 * CXR_E_IO naming the file (as "--log PATH": cxr-train's log), CXR_E_NOMEM; CXR_E_FORMAT for
 * appending to a gzip-compressed log (its readers would not see the lines). Each line is
 * flushed when written, so a crashed run leaves a readable log. A fresh log over an earlier one
 * is written beside it until its first epoch line, which renames it into place (cxr_log_open's
 * keep); closed before, it is removed and the earlier log stands. */
cxr_status cxr_trainlog_open(cxr_trainlog **out, const char *path, int append);
/* Write the run line / an epoch line (epoch: numbers that are NAN are left out; per_class,
 * confusion, roc and monitor only when present). CXR_E_IO naming the file, CXR_E_NOMEM. */
cxr_status cxr_trainlog_write_run(cxr_trainlog *log, const cxr_log_run_line *run);
cxr_status cxr_trainlog_write_epoch(cxr_trainlog *log, const cxr_log_epoch *epoch);
/* Write a step line (numbers that are NAN are left out). CXR_E_IO naming the file. */
cxr_status cxr_trainlog_write_step(cxr_trainlog *log, const cxr_log_step *step);
/* A "stop" line: the run (a resume with a smaller --patience) stops after `epoch` epochs
 * without training one: {"type":"stop","epoch":E,"stopped":"patience","best_epoch":B,
 * "best_value":V} (the best only when there is one). */
cxr_status cxr_trainlog_write_stop(cxr_trainlog *log, int epoch, const char *stopped,
                                   int best_epoch, double best_value);
/* Close and free; CXR_E_IO when the file cannot be closed. NULL-safe. */
cxr_status cxr_trainlog_close(cxr_trainlog *log);

/* An ROC curve as logged and drawn: of n points (fpr ascending) up to CXR_LOG_ROC_STEPS are
 * kept, every one; beyond, a point is kept when it lies 1 / CXR_LOG_ROC_STEPS or more from the
 * last one kept in fpr or in tpr, and the last point always, so at most about
 * 2 x CXR_LOG_ROC_STEPS + 2 (the curve is monotone) and a point passed over lies within
 * 1 / CXR_LOG_ROC_STEPS of a kept one in both rates (a log has one point per distinct val
 * score: about 3.6 MB an epoch line at 90,000 distinct scores). The index of the point kept
 * after the kept point i (< n - 1): for (i = 0; i < n; i = cxr_log_roc_next(fpr, tpr, n, i)) */
#define CXR_LOG_ROC_STEPS 2000
int64_t cxr_log_roc_next(const double *fpr, const double *tpr, int64_t n, int64_t i);

/* The bounds a reader of a log (cxr-report, a resume's tail) holds one line to, past any line
 * cxr-train writes or wrote, so that a damaged or foreign file costs memory in proportion to what
 * a log can hold rather than to its bytes (a 27 MB line of "[1,1,1,..." took cJSON 1.1 GB, about
 * 80 bytes a value). The longest line written: a run line naming CXR_MAX_CLASSES classes of
 * CXR_CLASS_NAME_MAX bytes, each byte escaped to at most 6 ("\u0001"), 101 MB. The most values:
 * an epoch line of 4096 classes (per_class, 5 values a class), a 256-class confusion matrix, a
 * thinned ROC (3 a point), under 100,000 outside the matrix and the ROC; those two arrays have
 * their own bound, together, that of older writers, which logged the whole matrix up to 4096
 * classes before 0.15 (16.8 million values, 1.4 GB to parse) and the whole ROC, a point per
 * distinct val score, before 0.20.1 (the bound: 5.6 million points): such logs still read. A
 * longer line, or one of more values, is not parsed: cxr-report skips it as a bad line, the
 * tail passes it over. */
#define CXR_LOG_LINE_MAX              ((size_t)128 << 20)
#define CXR_LOG_LINE_VALUES_MAX       ((int64_t)1 << 20)
#define CXR_LOG_LINE_ARRAY_VALUES_MAX ((int64_t)CXR_MAX_CLASSES * (CXR_MAX_CLASSES + 1))
/* Read one line of f into *line (grown as getline grows it, NUL-terminated, its '\n' kept) and
 * return its length; -1 at the end of the file, on a read error (ferror) or when memory ran out
 * (errno ENOMEM, the file not at its end). A line longer than CXR_LOG_LINE_MAX is read to its
 * end, its first CXR_LOG_LINE_MAX bytes kept, and CXR_LOG_LINE_MAX + 1 returned. */
ssize_t cxr_log_read_line(FILE *f, char **line, size_t *cap);
/* The JSON values the n bytes at s would make, counted without parsing: one, and one more for
 * each opening bracket and comma outside strings (the nodes cJSON would allocate, one too many
 * for each empty array or object); those inside the arrays of the top-level keys "confusion"
 * and "roc" are counted apart, into *arrays (NULL: not wanted): k rows of k counts are
 * k (k + 1) - 1, p points 3p - 1. */
int64_t cxr_log_line_values(const char *s, size_t n, int64_t *arrays);
/* 1 when the n bytes at s stay within CXR_LOG_LINE_VALUES_MAX values outside those arrays and
 * CXR_LOG_LINE_ARRAY_VALUES_MAX in them; *values and *arrays (may be NULL) get the counts. */
int cxr_log_line_values_ok(const char *s, size_t n, int64_t *values, int64_t *arrays);

/* What an existing log says of its last run, read before a resume appends to it: the last run
 * line's recipe name, seed, batch, kernels, data (its images and eval split: -1 and ""
 * when it names none), writer and recipe (for cxr_trainlog_recipe_differs) (has_run 0 when
 * it has none, or none readable), the epoch
 * of the file's last epoch or stop line (0: none), and whether any such line is for `epoch`
 * (a branch from a best model appends lower epochs after higher ones: the last line is not
 * where a run is). Lines that do not parse are passed over (a torn last line). CXR_E_IO when
 * the file exists but cannot be read; a missing file is an empty tail. */
typedef struct {
    int has_run;
    char recipe[32]; /* "" when the run line names none */
    double seed;     /* as the log holds it (a JSON number) */
    int batch;
    int last_epoch;
    int has_epoch;     /* a line is for the epoch asked about */
    char kernels[512]; /* the last run line's kernels ("" when it names none) */
    int64_t train_images, eval_images;
    int has_eval_split; /* eval_split is the log's ("" too: a run without evaluation) */
    char eval_split[8];
    char tool[64];          /* the last run line's writer, "cxr-train X.Y.Z" ("": none) */
    char recipe_json[4096]; /* its recipe object as JSON ("": none, or longer than this) */
} cxr_trainlog_tail;
cxr_status cxr_trainlog_read_tail(const char *path, int epoch, cxr_trainlog_tail *t);
/* Whether the recipe of a log's last run line (t, cxr_trainlog_read_tail) agrees with the one
 * `run` would write, in every key that defines the training (lr, schedule, warmup and decay,
 * weight decay, label smoothing, selection, weight averaging, mixup, keep_prob, alpha, head,
 * input pool and scale, augmentation): why is "" when they agree, else "KEY: V in the log, W here" for the first that
 * differs ("absent (its default)" for a key one side leaves out). Not compared: keys a resume may
 * change (epochs, patience, max_steps), those that leave the results alone (threads, precision,
 * resident, prefetch), shuffle_window ("auto" before 0.23), the name, seed and batch (the
 * trainer checks those with cxr_trainlog_read_tail), and lr_step_every where run's is 0 (not
 * known yet). A key the log lacks is the writer's default in a log of 0.24 or later (its tool),
 * else agrees (an older writer may not have known it). A tail without a run line, or whose
 * recipe its field could not hold, agrees. CXR_E_NOMEM. */
cxr_status cxr_trainlog_recipe_differs(const cxr_trainlog_tail *t, const cxr_log_run_line *run,
                                       char *why, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
