/* trainer.c: the training loop behind cxr_trainer.h. cxr_train_run reads as its steps: open
 * the store, resolve the recipe (options, recipe table, or the checkpoint on a resume), build
 * the model, open the batch source, write the run line, then train, evaluate, checkpoint and
 * log one epoch at a time. Device selection is in device.c, evaluation (also cxr-eval's) in
 * evaluate.c, the log's format in trainlog.c.
 */
#include "cxr_trainer.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <omp.h>

#include "cxr_augment.h"
#include "cxr_backend_cpu.h"
#include "cxr_backend_cuda.h"
#include "cxr_checkpoint.h"
#include "cxr_clock.h"
#include "cxr_cuda.h"
#include "cxr_files.h"
#include "cxr_loader.h"
#include "cxr_memory.h"
#include "cxr_monitor.h"
#include "cxr_trainlog.h"
#include "cxr_tmpfile.h"

/* ---------------------------------------------------------------- options */
void cxr_train_options_defaults(cxr_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->recipe.seed = -1;
    o->recipe.warmup_steps = -1;
    o->recipe.weight_decay = -1;
    o->recipe.label_smoothing = -1;
    o->recipe.mixup = -1;
    o->recipe.patience = -1;
    o->recipe.average_from = -1;
    o->recipe.shuffle_window = CXR_TRAIN_WINDOW_RECIPE;
    o->io.tool_version = "cxr-train " CXR_VERSION_STRING;
    o->compute.device_desc = "cpu";
    o->compute.threads = omp_get_max_threads(); /* cores available, or OMP_NUM_THREADS */
    o->compute.prefetch = 1;
    o->compute.resident = -1;
    o->compute.monitor = 1;
    o->compute.monitor_gpu = -1;
}

static void note(const cxr_train_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(const cxr_train_options *o, const char *fmt, ...)
{
    if (!o->cb.on_note) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->cb.on_note(o->cb.user, buf);
}

/* The run's arithmetic by its canonical name (cxr_precision_name): --precision's, else fp32. */
static const char *run_precision(const cxr_train_options *o)
{
    cxr_precision p;
    if (!o->compute.precision || cxr_precision_parse(o->compute.precision, &p) != CXR_OK)
        return "fp32";
    return cxr_precision_name(p);
}

/* ---------------------------------------------------------------- batch source */
/* Where training batches come from: the CPU loader (host images that forward uploads) or the
 * loader's GPU half (images written straight into the model's input on the device). On the
 * GPU, batch k+1 is queued after step k's work and before the host reads step k's loss and
 * probabilities (the only waits on the device), so its host-to-device copy overlaps step k's
 * compute; the loader writes it into the model input on the compute stream, after step k.
 * Same batches, same order, same results on both paths. */
typedef struct {
    cxr_loader *cpu; /* one of cpu and gpu */
    cxr_gpu_loader *gpu;
    cxr_model *model;
    cxr_gpu_batch queued; /* GPU: the batch already in the model input (n 0: none left) */
    int32_t *labels;      /* GPU: the taken batch's labels, kept past the next queue call */
    int32_t *labels2;     /* GPU with mixup: its partners' labels, likewise */
    float *mix;           /* GPU with mixup: its mixing weights, likewise */
    int64_t max_steps;    /* > 0: an epoch ends after this many batches */
    int64_t taken;        /* batches taken this epoch */
} batch_source;

static cxr_status source_open(batch_source *s, const cxr_store *store, cxr_model *model,
                              const cxr_loader_options *lo, int resident, int64_t max_steps)
{
    cxr_status st = CXR_OK;
    memset(s, 0, sizeof *s);
    s->model = model;
    s->max_steps = max_steps;
    cxr_cuda_ctx *cu = cxr_backend_cuda_context(cxr_model_backend(model));
    if (!cu) return cxr_loader_create(&s->cpu, store, "train", lo);
    CXR_TRY(cxr_gpu_loader_create(&s->gpu, cu, store, "train", lo, (cxr_resident_mode)resident));
    if (!(s->labels = malloc((size_t)lo->batch * sizeof *s->labels)) ||
        !(s->labels2 = malloc((size_t)lo->batch * sizeof *s->labels2)) ||
        !(s->mix = malloc((size_t)lo->batch * sizeof *s->mix)))
        CXR_THROW(CXR_E_NOMEM, "train: out of memory");
bail:
    return st;
}

static void source_close(batch_source *s)
{
    cxr_loader_destroy(s->cpu);
    cxr_gpu_loader_destroy(s->gpu);
    free(s->labels);
    free(s->labels2);
    free(s->mix);
}

/* Batches in an epoch, after max_steps. */
static int64_t source_n_batches(const batch_source *s)
{
    int64_t n = s->gpu ? cxr_gpu_loader_n_batches(s->gpu) : cxr_loader_n_batches(s->cpu);
    return s->max_steps > 0 && n > s->max_steps ? s->max_steps : n;
}

static double source_wait_seconds(batch_source *s)
{
    return s->gpu ? cxr_gpu_loader_wait_seconds(s->gpu) : cxr_loader_wait_seconds(s->cpu);
}

static cxr_status source_begin_epoch(batch_source *s, int epoch)
{
    s->taken = 0;
    if (!s->gpu) return cxr_loader_begin_epoch(s->cpu, epoch);
    cxr_status st = cxr_gpu_loader_begin_epoch(s->gpu, epoch);
    if (st == CXR_OK) st = cxr_gpu_loader_next(s->gpu, cxr_model_input(s->model), &s->queued);
    return st;
}

/* The next batch of the epoch; b->n == 0 at its end. On the GPU b->images is NULL: the images
 * are already in cxr_model_input. */
static cxr_status source_take(batch_source *s, cxr_batch *b)
{
    memset(b, 0, sizeof *b);
    if (s->max_steps > 0 && s->taken >= s->max_steps) return CXR_OK;
    if (!s->gpu) {
        cxr_status st = cxr_loader_next_batch(s->cpu, b);
        s->taken += st == CXR_OK && b->n > 0;
        return st;
    }
    if (s->queued.n == 0) return CXR_OK;
    b->n = s->queued.n;
    memcpy(s->labels, s->queued.labels, (size_t)b->n * sizeof *s->labels);
    b->labels = s->labels;
    if (s->queued.mix) {
        memcpy(s->labels2, s->queued.labels2, (size_t)b->n * sizeof *s->labels2);
        memcpy(s->mix, s->queued.mix, (size_t)b->n * sizeof *s->mix);
        b->labels2 = s->labels2;
        b->mix = s->mix;
    }
    s->taken++;
    return CXR_OK;
}

/* GPU: queue the batch after the one taken into the model input. Call it once the step's work
 * is queued and before its results are read. Nothing to do on the CPU. */
static cxr_status source_queue_next(batch_source *s)
{
    if (!s->gpu) return CXR_OK;
    if (s->max_steps > 0 && s->taken >= s->max_steps) {
        s->queued.n = 0;
        return CXR_OK;
    }
    return cxr_gpu_loader_next(s->gpu, cxr_model_input(s->model), &s->queued);
}

/* ---------------------------------------------------------------- training */
/* The hyperparameters the run trains with, after options, recipe and checkpoint. */
typedef struct {
    int epochs, batch, start_epoch; /* start_epoch: epochs already done (resume) */
    uint64_t seed;
    cxr_adam_params adam;  /* adam.lr: the peak rate; each step's comes from sched */
    float smoothing;       /* label smoothing of the loss (0: none) */
    float mixup;           /* mixup's Beta parameter (0: none) */
    cxr_lr_schedule sched; /* total, step_every: set once the batch source is open */
    cxr_model_config cfg;
    cxr_augment_params augment; /* train split only */
    char augment_spec[CXR_AUGMENT_SPEC_MAX]; /* canonical spec, for the log and checkpoint */
    char name[32];              /* the recipe's name */
    int64_t ck_step_every;      /* resume: the checkpoint's step decay interval (0: none) */
    int ck_epochs;              /* resume: the epochs the checkpoint's run was to train */
    cxr_select_kind select;     /* model selection on val */
    int patience;               /* 0: off */
    int ck_stopped_patience;    /* resume: the patience that stopped the checkpoint's run, 0 */
    int best_epoch;             /* 0: none yet */
    int patience_from;          /* with no best epoch, patience counts from here: 0, or the
                                   epoch a checkpoint without a selection record resumes at */
    double best_value;          /* the selected metric at best_epoch (NAN: none) */
    double threshold;           /* the last epoch's threshold, chosen on val (else 0.5) */
    int threshold_on_val;       /* 1: threshold was chosen on val */
    int select_from_checkpoint; /* resume: the checkpoint's run selects */
    cxr_select_kind ck_dropped; /* resume: its selection, which this store cannot make */
    int recipe_select_dropped;  /* the recipe's selection cannot be made on this store */
    int average_from;           /* weight averaging from this 1-based epoch (0: off) */
    int average_count;          /* epochs in the mean so far */
    int shuffle_window;         /* the training loader's window (cxr_loader_options.window) */
    int64_t max_steps; /* > 0: an epoch's steps capped (--max-steps, or the resumed run's) */
} run_recipe;

/* Everything one run holds; run_close releases it. */
typedef struct {
    const cxr_train_options *o;
    cxr_store *store;
    const char *eval_split; /* "val", "test", or NULL: no evaluation */
    cxr_split_info train_info, eval_info;
    cxr_store_content content; /* what identifies its images, recorded in every checkpoint */
    cxr_store_content resumed_content; /* the resumed checkpoint's record of its run's store */
    int has_resumed_content;            /* 0: none (not a resume, or a file before 0.19) */
    int n_classes;
    const float *cw; /* the store's class weights */
    float lr_last;   /* the rate of the last Adam step */
    run_recipe rc;
    cxr_model *model;
    cxr_checkpoint_meta meta; /* written with every checkpoint */
    batch_source src;
    cxr_metrics *met;
    cxr_monitor *mon;
    cxr_tmpfile samples_kept; /* a fresh run's --monitor-log file beside an earlier one, which
                                 it replaces at the first epoch (cxr_log_open's keep) */
    cxr_trainlog *log;
    char best_path[4096]; /* the best model's file ("" none) */
    /* a fresh run without selection: an earlier run's MODEL.best.h5 beside its checkpoint,
     * which it leaves as it is ("" none) */
    char stale_best[4096];
    float *average;       /* weight averaging: the mean of the epoch-end weights (host, a
                             parameter block; NULL before the first averaged epoch) */
    float *weights;       /* the training weights while the model holds the mean (host) */
    int finishing;  /* interrupted after an epoch's last step: its evaluation and saves first */
    int trained;    /* epochs this invocation trained */
    int saved;      /* 1: the epoch being run is already in its checkpoint (a failure after) */
    int earlier;    /* the checkpoint's file held an earlier run's model at the start */
    int best_saved; /* the epoch this invocation last saved to best_path (0 none) */
    cxr_train_progress progress; /* the last reported (on_progress); the evaluation's after it */
    double eval_t0;              /* when the epoch's evaluation began */
} train_run;

static cxr_status open_store(train_run *r)
{
    cxr_status st = CXR_OK;
    const char *path = r->o->io.store_path;
    CXR_TRY(cxr_store_open(&r->store, path));
    if (!cxr_store_has_split(r->store, "train"))
        CXR_THROW(CXR_E_FORMAT, "%s: no /train split to train on", path);
    CXR_TRY(cxr_store_split(r->store, "train", &r->train_info));
    /* evaluated on /val, else /test; an empty split is as good as none (0/0 metrics) */
    const char *eval[2] = { "val", "test" };
    for (int i = 0; i < 2 && !r->eval_split; i++)
        if (cxr_store_has_split(r->store, eval[i])) {
            CXR_TRY(cxr_store_split(r->store, eval[i], &r->eval_info));
            if (r->eval_info.n > 0) r->eval_split = eval[i];
        }
    if (r->train_info.n == 0) CXR_THROW(CXR_E_FORMAT, "%s: /train is empty", path);
    r->n_classes = cxr_store_n_classes(r->store);
    if (r->n_classes < 2)
        CXR_THROW(CXR_E_FORMAT, "%s: %d class (%s): a classifier needs at least 2 to train on",
                  path, r->n_classes, r->n_classes ? cxr_store_class_name(r->store, 0) : "none");
    /* a class without training images has class weight 0: never learnt, never in the loss.
     * Refused for a new run; a resumed one (begun before this check, its classes fixed by its
     * checkpoint) is warned and goes on */
    for (int c = 0; c < r->n_classes; c++) {
        if (r->train_info.class_counts[c] > 0) continue;
        if (!r->o->io.resume_path)
            CXR_THROW(CXR_E_FORMAT,
                      "%s: class '%s' has no image in /train, so no model can learn it (its class "
                      "weight is 0); pack the store with training images of it, or without its "
                      "folders",
                      path, cxr_store_class_name(r->store, c));
        note(r->o,
             "warning: %s: class '%s' has no image in /train: the resumed model cannot learn it "
             "(its class weight is 0)",
             path, cxr_store_class_name(r->store, c));
    }
    r->cw = cxr_store_class_weights(r->store);
    /* an optional dataset that does not read stops no run: a resume cannot compare pixels */
    if (cxr_store_content_of(r->store, &r->content) != CXR_OK)
        note(r->o,
             "warning: %s; its images' pixels are not recorded in the checkpoint, so a resume "
             "cannot compare them (packing the store again mends it)",
             cxr_last_error());
bail:
    return st;
}

/* A resume's setting that contradicts its checkpoint: by an option or by the named recipe. */
static cxr_status resume_conflict(const cxr_train_options *o, const char *what, int by_option,
                                  const char *want, const char *have)
{
    if (by_option)
        return cxr_set_error(CXR_E_ARG, "resume %s: --%s %s differs from the checkpoint's %s",
                             o->io.resume_path, what, want, have);
    return cxr_set_error(CXR_E_ARG,
                         "resume %s: the %s of recipe %s, %s, differs from the checkpoint's %s",
                         o->io.resume_path, what, o->recipe.name, want, have);
}

/* On a resume, the batch, lr, augmentation, label smoothing, mixup (and, when the checkpoint
 * records them, schedule, warmup, weight decay, step decay factor and selection metric) given by an
 * option or by a recipe named in the options, and a seed given by an option, must be the
 * checkpoint's. */
static cxr_status check_resume(const cxr_train_options *o, const run_recipe *rc,
                               const cxr_checkpoint_meta *ck)
{
    const cxr_train_recipe_options *ro = &o->recipe;
    const int named = ro->name != NULL;
    char want[48], have[48];
#define CONFLICT(what, opt_given, fmt, a, b)                    \
    do {                                                        \
        snprintf(want, sizeof want, fmt, a);                    \
        snprintf(have, sizeof have, fmt, b);                    \
        return resume_conflict(o, what, opt_given, want, have); \
    } while (0)
    if ((ro->batch > 0 || named) && rc->batch != ck->batch)
        CONFLICT("batch", ro->batch > 0, "%d", rc->batch, ck->batch);
    if (ro->seed >= 0 && rc->seed != ck->seed)
        CONFLICT("seed", 1, "%llu", (unsigned long long)rc->seed, (unsigned long long)ck->seed);
    if ((ro->lr > 0 || named) && rc->adam.lr != ck->adam.lr)
        CONFLICT("lr", ro->lr > 0, "%g", rc->adam.lr, ck->adam.lr);
    if ((ro->augment || named) && strcmp(rc->augment_spec, ck->augment) != 0) {
        if (ro->augment) /* specs are longer than the numbers' buffers */
            return cxr_set_error(CXR_E_ARG,
                                 "resume %s: --augment %s differs from the checkpoint's %s",
                                 o->io.resume_path, rc->augment_spec, ck->augment);
        return cxr_set_error(CXR_E_ARG,
                             "resume %s: the augment of recipe %s, %s, differs from the "
                             "checkpoint's %s",
                             o->io.resume_path, ro->name, rc->augment_spec, ck->augment);
    }
    if ((ro->label_smoothing >= 0 || named) && rc->smoothing != (float)ck->label_smoothing)
        CONFLICT("label-smoothing", ro->label_smoothing >= 0, "%g", rc->smoothing,
                 ck->label_smoothing);
    if ((ro->mixup >= 0 || named) && rc->mixup != (float)ck->mixup)
        CONFLICT("mixup", ro->mixup >= 0, "%g", rc->mixup, ck->mixup);
    const cxr_train_recipe *nr = named ? cxr_train_recipe_find(ro->name) : NULL;
    if ((ro->input_pool > 0 || (nr && nr->input_pool > 0)) &&
        rc->cfg.input_pool != ck->model.input_pool)
        CONFLICT("input-pool", ro->input_pool > 0, "%d", rc->cfg.input_pool, ck->model.input_pool);
    if ((ro->head || (nr && nr->head)) && rc->cfg.head != ck->model.head) /* recipes name none */
        CONFLICT("head", ro->head != NULL, "%s", cxr_model_head_name(rc->cfg.head),
                 cxr_model_head_name(ck->model.head));
    if ((ro->average_from >= 0 || named) && rc->average_from != ck->average_from)
        CONFLICT("average-from", ro->average_from >= 0, "%d", rc->average_from, ck->average_from);
    /* auto (given, or the recipe's) is the checkpoint's window: a fresh run's auto chose split
     * or windows by the run's length (short_run), which a resume keeps */
    const int window_given = ro->shuffle_window != CXR_TRAIN_WINDOW_RECIPE;
    if (ck->has_shuffle_window && (window_given || named) && rc->shuffle_window != 0 &&
        rc->shuffle_window != ck->shuffle_window) {
        char a[16], b[16];
        CONFLICT("shuffle-window", window_given, "%s",
                 cxr_shuffle_window_name(rc->shuffle_window, a, sizeof a),
                 cxr_shuffle_window_name(ck->shuffle_window, b, sizeof b));
    }
    if (!ck->has_run) return CXR_OK; /* written before issue 15: nothing more recorded */
    if ((ro->schedule || named) && strcmp(cxr_lr_schedule_name(rc->sched.kind), ck->schedule))
        CONFLICT("schedule", ro->schedule != NULL, "%s", cxr_lr_schedule_name(rc->sched.kind),
                 ck->schedule);
    if ((ro->warmup_steps >= 0 || named) && rc->sched.warmup != ck->warmup_steps)
        CONFLICT("warmup", ro->warmup_steps >= 0, "%lld", (long long)rc->sched.warmup,
                 (long long)ck->warmup_steps);
    if ((ro->weight_decay >= 0 || named) && rc->adam.weight_decay != ck->adam.weight_decay)
        CONFLICT("weight-decay", ro->weight_decay >= 0, "%g", rc->adam.weight_decay,
                 ck->adam.weight_decay);
    if (ro->lr_gamma > 0 && rc->sched.step_gamma != (float)ck->lr_gamma)
        CONFLICT("lr-gamma", 1, "%g", rc->sched.step_gamma, ck->lr_gamma);
    if ((ro->select || (named && !rc->recipe_select_dropped)) &&
        strcmp(cxr_select_name(rc->select), ck->select))
        CONFLICT("select", ro->select != NULL, "%s", cxr_select_name(rc->select), ck->select);
#undef CONFLICT
    return CXR_OK;
}

/* A resume onto a store whose images differ from those its checkpoint recorded (packed again
 * under the same name: cxr-pack renames a new file into place). Warned, not refused: training
 * on other images can be deliberate (fine-tuning), and the path was never more than warned
 * about; what it costs is said: the run's images, and the comparability of its evaluations and
 * of the best epoch chosen among them. `changed` and `diff` are cxr_store_content_diff's. */
static void warn_store_content(const train_run *r, const cxr_checkpoint_meta *ck, int changed,
                               const char *diff)
{
    const cxr_train_options *o = r->o;
    const cxr_store_content *then = &ck->store_content;
    /* evaluated on val, else test, then as now (open_store) */
    const int eval_then = then->n[1] > 0 ? 1 : then->n[2] > 0 ? 2 : -1;
    const int eval_now = !r->eval_split ? -1 : strcmp(r->eval_split, "val") == 0 ? 1 : 2;
    const int eval_moved =
        eval_then != eval_now || (eval_now >= 0 && (changed & (1 << eval_now)) &&
                                  !(changed & CXR_STORE_CONTENT_ORDER_ONLY(eval_now)));
    const int selects = ck->has_run && strcmp(ck->select, "none") != 0;
    const char *train_cost = !(changed & 1) ? ""
                             : (changed & CXR_STORE_CONTENT_ORDER_ONLY(0))
                                 ? "; its batches are not an uninterrupted run's"
                                 : "; it goes on training on other images";
    note(o,
         "warning: resume %s: %s does not hold the images its run was trained on (%s then): "
         "%s%s%s: not the same run continued (pack the store as it was to continue it exactly)",
         o->io.resume_path, o->io.store_path, ck->store, diff, train_cost,
         !eval_moved ? ""
         : selects   ? "; its evaluations, and the best-epoch selection among them, are not "
                       "comparable with the earlier epochs'"
                     : "; its evaluations are not comparable with the earlier epochs'");
}

/* On a resume, what bit-exactness also needs but a resume may rightly change (another machine,
 * a moved store, other images: fine-tuning) is warned about: the store's images and the thread
 * count (float sums in another order). Classes and preprocessing are checked by
 * cxr_checkpoint_check_store. */
static void warn_resume(const train_run *r, const cxr_checkpoint_meta *ck)
{
    const cxr_train_options *o = r->o;
    if (ck->precision[0] && strcmp(ck->precision, run_precision(o)) != 0) { /* "": unrecorded */
        cxr_precision known;
        if (cxr_precision_parse(ck->precision, &known) == CXR_OK)
            note(o,
                 "warning: resume %s: --precision %s, the checkpoint's run had %s: losses "
                 "differ from an uninterrupted run (the same device and --precision %s continue "
                 "it exactly)",
                 o->io.resume_path, run_precision(o), ck->precision, ck->precision);
        else /* a newer version's name: no option of this one continues it exactly */
            note(o,
                 "warning: resume %s: its run had precision '%s', which this version does not "
                 "know; this run's is %s: losses differ from an uninterrupted run",
                 o->io.resume_path, ck->precision, run_precision(o));
    }
    char diff[768];
    const int changed =
        ck->has_store_content ? cxr_store_content_diff(&ck->store_content, &r->content, diff,
                                                       sizeof diff)
                              : 0;
    struct stat a, b;
    if (changed)
        warn_store_content(r, ck, changed, diff);
    else if (!ck->has_store_content && (stat(ck->store, &a) != 0 || stat(o->io.store_path, &b) != 0 ||
             a.st_dev != b.st_dev || a.st_ino != b.st_ino)) /* the digest says which images */
        note(o,
             "warning: resume %s: it was trained on %s, this run reads %s (same classes and "
             "preprocessing): not the same run continued unless the images are the same",
             o->io.resume_path, ck->store, o->io.store_path);
    if (ck->threads != o->compute.threads)
        note(o,
             "warning: resume %s: --threads %d, the checkpoint's run had %d: losses may differ "
             "from an uninterrupted run in the last bits",
             o->io.resume_path, o->compute.threads, ck->threads);
}

static int run_trains(const run_recipe *rc);

/* On a resume, the epochs done must have had as many steps as this run's epochs (--max-steps,
 * or a store of another size): else epoch numbers and the step count no longer agree. A resume
 * with nothing to train (said "nothing to do" before) takes no step: not checked. */
static cxr_status check_resume_steps(const train_run *r)
{
    if (!r->o->io.resume_path || r->rc.start_epoch <= 0 || !run_trains(&r->rc)) return CXR_OK;
    int64_t done = cxr_model_get_step(r->model), per = source_n_batches(&r->src);
    if (done == per * r->rc.start_epoch) return CXR_OK;
    return cxr_set_error(CXR_E_ARG,
                         "resume %s: its %d epoch(s) took %lld steps, %lld per epoch; this run "
                         "takes %lld per epoch on %s (the store's training images and --max-steps "
                         "must give the checkpoint's run's steps per epoch)",
                         r->o->io.resume_path, r->rc.start_epoch, (long long)done,
                         (long long)(done / r->rc.start_epoch), (long long)per,
                         r->o->io.store_path);
}

/* A resume of a checkpoint that records its run (issue 15 and later): schedule, warmup, step
 * decay, weight decay, selection and its state, and the threshold come from it; patience too
 * unless given. Older checkpoints: what the options or a named recipe say, else the defaults
 * of their time (constant, no warmup, plain Adam, no selection), said in a note. */
static cxr_status resume_run_definition(train_run *r, const cxr_checkpoint_meta *ck)
{
    const cxr_train_options *o = r->o;
    const cxr_train_recipe_options *ro = &o->recipe;
    run_recipe *rc = &r->rc;
    rc->threshold = ck->threshold;
    rc->threshold_on_val = strcmp(ck->threshold_split, "val") == 0;
    if (!ck->has_run) {
        rc->patience_from = ck->epoch; /* its epochs were not selected among */
        if (ro->name) return CXR_OK;
        if (!ro->schedule) rc->sched.kind = CXR_LR_CONSTANT;
        if (ro->warmup_steps < 0) rc->sched.warmup = 0;
        if (ro->weight_decay < 0) rc->adam.weight_decay = 0;
        if (!ro->select) rc->select = CXR_SELECT_NONE;
        if (ro->patience < 0) rc->patience = 0;
        snprintf(rc->name, sizeof rc->name, "%s", "(before issue 15)");
        note(o,
             "resume: %s records no schedule (written before issue 15): using %s, warmup %lld, "
             "weight decay %g, selection %s (give --recipe or --schedule/--warmup to change)",
             o->io.resume_path, cxr_lr_schedule_name(rc->sched.kind), (long long)rc->sched.warmup,
             rc->adam.weight_decay, cxr_select_name(rc->select));
        return CXR_OK;
    }
    cxr_status st = cxr_lr_schedule_parse(ck->schedule, &rc->sched.kind);
    if (st == CXR_OK) st = cxr_select_parse(ck->select, &rc->select);
    if (st != CXR_OK) return cxr_wrap_error(CXR_E_FORMAT, "resume %s", o->io.resume_path);
    snprintf(rc->name, sizeof rc->name, "%s", ck->recipe);
    rc->sched.warmup = ck->warmup_steps;
    rc->sched.step_gamma = (float)ck->lr_gamma;
    rc->ck_step_every = ck->lr_step_every;
    rc->adam.weight_decay = ck->adam.weight_decay;
    if (ro->patience < 0) rc->patience = ck->patience;
    rc->ck_stopped_patience = ck->stopped[0] ? ck->patience : 0;
    rc->select_from_checkpoint = rc->select != CXR_SELECT_NONE;
    rc->best_epoch = ck->best_epoch;
    rc->best_value = ck->best_epoch > 0 ? ck->best_value : NAN;
    return CXR_OK;
}

/* Why selection by `kind` cannot be made on this store (into buf), or NULL when it can. It is
 * made on /val only (a non-empty one), never on /test; AUC and balanced accuracy need images
 * of two classes there (with one, AUC is undefined and balanced accuracy is the
 * recall of that class alone). */
static const char *selection_unavailable(const train_run *r, cxr_select_kind kind, char *buf,
                                         size_t cap)
{
    const char *path = r->o->io.store_path;
    if (kind == CXR_SELECT_NONE) return NULL;
    if (!(r->eval_split && strcmp(r->eval_split, "val") == 0)) {
        const int empty = cxr_store_has_split(r->store, "val"); /* packed with a val, none in it */
        snprintf(buf, cap,
                 "%s has %s /val split; selection is made on val only, never on test (pack %s)",
                 path, empty ? "an empty" : "no",
                 empty ? "again with images in val: a larger --val-fraction, or val images "
                         "that decode"
                       : "with --val-fraction F");
        return buf;
    }
    int present = 0, one = 0;
    for (int c = 0; c < r->n_classes; c++)
        if (r->eval_info.class_counts[c] > 0) present++, one = c;
    if (present == 1 && kind != CXR_SELECT_VAL_LOSS) {
        snprintf(buf, cap,
                 "%s: /val holds images of one class only (%s), so its %s is undefined (pack "
                 "with a larger --val-fraction, or --select val_loss)",
                 path, cxr_store_class_name(r->store, one), cxr_select_name(kind));
        return buf;
    }
    return NULL;
}

/* A recipe's selection that this store cannot make is dropped with a note (before a resume
 * compares it with the checkpoint's, which made none either). */
static void drop_recipe_selection(train_run *r)
{
    run_recipe *rc = &r->rc;
    char why[4600];
    if (r->o->recipe.select || !selection_unavailable(r, rc->select, why, sizeof why)) return;
    note(r->o, "no model selection (the recipe's %s): %s", cxr_select_name(rc->select), why);
    rc->select = CXR_SELECT_NONE;
    rc->recipe_select_dropped = 1;
    if (r->o->recipe.patience < 0) rc->patience = 0;
}

/* Where a resumed run's best model so far is: the resumed file itself when it is a best model
 * (X.best.h5 holding the best epoch: resumed to branch from it, as --help suggests), else the
 * best model beside the resumed checkpoint (X.h5 -> X.best.h5). */
static cxr_status resumed_best_path(const train_run *r, char *buf, size_t cap)
{
    const char *from = r->o->io.resume_path;
    const size_t n = strlen(from);
    if (r->rc.start_epoch == r->rc.best_epoch && n > 8 && strcmp(from + n - 8, ".best.h5") == 0) {
        if (snprintf(buf, cap, "%s", from) >= (int)cap)
            return cxr_set_error(CXR_E_ARG, "%s: path too long", from);
        return CXR_OK;
    }
    return cxr_train_best_path(from, buf, cap);
}

/* Whether path is this run's best model so far: a model of the best epoch, of this run's seed,
 * selected with its value (a file of that name may be another run's, left from before). */
static int holds_best(const train_run *r, const char *path)
{
    cxr_checkpoint_meta m;
    if (access(path, F_OK) != 0 || cxr_checkpoint_read_meta(path, &m) != CXR_OK) return 0;
    const int ok = m.epoch == r->rc.best_epoch && m.best_epoch == r->rc.best_epoch &&
                   m.seed == r->rc.seed &&
                   memcmp(&m.best_value, &r->rc.best_value, sizeof(double)) == 0;
    cxr_checkpoint_meta_free(&m);
    return ok;
}

/* The file that holds the best epoch's model, "" when none does: this run's best model when
 * this run found it, else (a resume whose best epoch came before it) the resumed run's when it
 * is there and holds it, else the resumed checkpoint itself when it still does (a resume into
 * another checkpoint from the best epoch, whose best model is gone). */
static void best_model_now(const train_run *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (r->rc.best_epoch <= 0) return;
    if (r->rc.best_epoch > r->rc.start_epoch) {
        snprintf(buf, cap, "%s", r->best_path);
        return;
    }
    if (r->o->io.resume_path && resumed_best_path(r, buf, cap) != CXR_OK) buf[0] = '\0';
    if (buf[0] && !holds_best(r, buf)) buf[0] = '\0';
    if (!buf[0] && r->o->io.resume_path && holds_best(r, r->o->io.resume_path))
        snprintf(buf, cap, "%s", r->o->io.resume_path);
}

/* Selection asked for by an option is refused where it cannot be made; a resumed checkpoint's
 * is dropped with a warning (the run goes on: this store is what there is). Patience needs
 * selection. */
static cxr_status check_selection(train_run *r)
{
    const cxr_train_options *o = r->o;
    run_recipe *rc = &r->rc;
    char why[4600];
    if (selection_unavailable(r, rc->select, why, sizeof why)) {
        if (o->recipe.select || !rc->select_from_checkpoint)
            return cxr_set_error(CXR_E_ARG, "--select %s: %s", cxr_select_name(rc->select), why);
        char best[4200] = "", bp[4096];
        if (rc->best_epoch > 0 && resumed_best_path(r, bp, sizeof bp) == CXR_OK)
            snprintf(best, sizeof best, " (its best model so far, epoch %d, stays in %s)",
                     rc->best_epoch, bp);
        note(o,
             "warning: resume %s: its %s cannot be made here: %s; training goes on without "
             "model selection%s",
             o->io.resume_path, cxr_select_name(rc->select), why, best);
        rc->ck_dropped = rc->select;
        rc->select = CXR_SELECT_NONE;
        rc->best_epoch = 0;
        rc->best_value = NAN;
        if (o->recipe.patience < 0) rc->patience = 0;
    }
    if (rc->patience > 0 && rc->select == CXR_SELECT_NONE)
        return cxr_set_error(CXR_E_ARG,
                             "--patience %d: early stopping needs a selection metric (--select)",
                             rc->patience);
    return CXR_OK;
}

cxr_status cxr_train_model_variant(const cxr_train_recipe_options *ro,
                                   const cxr_model_config *resumed, int *head, int *input_pool)
{
    const cxr_train_recipe *named = cxr_train_recipe_find(ro->name);
    if (!named) return cxr_set_error(CXR_E_ARG, "train: no recipe '%s'", ro->name);
    *input_pool = ro->input_pool > 0      ? ro->input_pool
                  : resumed               ? resumed->input_pool
                  : named->input_pool > 0 ? named->input_pool
                                          : 1;
    if (!ro->head && resumed) {
        *head = resumed->head;
        return CXR_OK;
    }
    return cxr_model_head_parse(ro->head ? ro->head : named->head ? named->head : "flatten", head);
}

/* The run's hyperparameters: the recipe's, overridden by the options; on a resume the
 * checkpoint's, which given options must agree with. */
static cxr_status resolve_recipe(train_run *r)
{
    cxr_status st = CXR_OK;
    const cxr_train_options *o = r->o;
    const cxr_train_recipe_options *ro = &o->recipe;
    run_recipe *rc = &r->rc;
    cxr_checkpoint_meta ck;
    memset(&ck, 0, sizeof ck);
    const cxr_train_recipe *named = cxr_train_recipe_find(ro->name);
    if (!named) return cxr_set_error(CXR_E_ARG, "train: no recipe '%s'", ro->name);
    snprintf(rc->name, sizeof rc->name, "%s", named->name);
    rc->epochs = ro->epochs > 0 ? ro->epochs : named->epochs;
    rc->batch = ro->batch > 0 ? ro->batch : named->batch;
    rc->seed = ro->seed >= 0 ? (uint64_t)ro->seed : CXR_TRAIN_DEFAULT_SEED;
    cxr_adam_defaults(&rc->adam);
    rc->adam.lr = ro->lr > 0 ? ro->lr : named->lr;
    rc->adam.weight_decay = ro->weight_decay >= 0 ? ro->weight_decay : named->weight_decay;
    rc->smoothing = ro->label_smoothing >= 0 ? ro->label_smoothing : named->label_smoothing;
    rc->mixup = ro->mixup >= 0 ? ro->mixup : named->mixup;
    memset(&rc->sched, 0, sizeof rc->sched);
    CXR_TRY(cxr_lr_schedule_parse(ro->schedule ? ro->schedule : named->schedule, &rc->sched.kind));
    rc->sched.warmup = ro->warmup_steps >= 0 ? ro->warmup_steps : named->warmup_steps;
    const int one_epoch_warmup = rc->sched.warmup == CXR_WARMUP_ONE_EPOCH;
    if (one_epoch_warmup) { /* "one epoch": this run's, of this store */
        rc->sched.warmup = (r->train_info.n + rc->batch - 1) / rc->batch;
        if (ro->max_steps > 0 && rc->sched.warmup > ro->max_steps) rc->sched.warmup = ro->max_steps;
    }
    CXR_TRY(cxr_augment_parse(ro->augment      ? ro->augment
                              : named->augment ? named->augment
                                               : "none",
                              &rc->augment));
    cxr_augment_format(&rc->augment, rc->augment_spec, sizeof rc->augment_spec);
    rc->sched.step_gamma = ro->lr_gamma > 0 ? ro->lr_gamma : 0.1f;
    CXR_TRY(cxr_select_parse(ro->select ? ro->select : named->select, &rc->select));
    rc->patience = ro->patience >= 0 ? ro->patience : named->patience;
    rc->average_from = ro->average_from >= 0 ? ro->average_from : named->average_from;
    rc->shuffle_window =
        ro->shuffle_window != CXR_TRAIN_WINDOW_RECIPE ? ro->shuffle_window : named->shuffle_window;
    rc->max_steps = ro->max_steps > 0 ? ro->max_steps : 0;
    if (!o->io.resume_path || ro->name) drop_recipe_selection(r); /* else the checkpoint's */
    rc->best_epoch = 0;
    rc->best_value = NAN;
    rc->threshold = 0.5;
    cxr_model_config_defaults(&rc->cfg, r->n_classes);
    /* the given or the recipe's: a resume then takes the checkpoint's (check_resume compares) */
    CXR_TRY(cxr_train_model_variant(ro, NULL, &rc->cfg.head, &rc->cfg.input_pool));
    /* the network reads the store's pixel range as [-1, 1] (specs/model.md "Input scale"); a
     * resume takes the checkpoint's below (none in a file from before 0.17) */
    const cxr_norm norm = cxr_store_preprocess(r->store)->normalize;
    double lo, hi;
    cxr_norm_range(norm, &lo, &hi);
    CXR_TRY(cxr_model_config_input_range(&rc->cfg, lo, hi));
    rc->start_epoch = 0;
    if (o->io.resume_path) {
        const char *path = o->io.resume_path;
        CXR_TRY(cxr_checkpoint_read_meta(path, &ck));
        /* ... whose epoch, without --max-steps, is capped as the checkpoint's run was (taken
         * below) */
        if (one_epoch_warmup && ro->max_steps <= 0 && ck.max_steps > 0 &&
            rc->sched.warmup > ck.max_steps)
            rc->sched.warmup = ck.max_steps;
        CXR_TRY(cxr_checkpoint_resumable(&ck, path));
        if ((st = cxr_checkpoint_check_store(&ck, path, r->store)) != CXR_OK) {
            cxr_wrap_error(st, "resume");
            goto bail;
        }
        CXR_TRY(check_resume(o, rc, &ck));
        warn_resume(r, &ck);
        r->resumed_content = ck.store_content;
        r->has_resumed_content = ck.has_store_content;
        CXR_TRY(resume_run_definition(r, &ck));
        rc->cfg = ck.model;
        rc->batch = ck.batch;
        rc->seed = ck.seed;
        const float wd = rc->adam.weight_decay;
        rc->adam = ck.adam;
        rc->adam.weight_decay = wd; /* the checkpoint's, or an older one's default */
        rc->smoothing = (float)ck.label_smoothing; /* 0 in a file written before 0.8 */
        rc->mixup = (float)ck.mixup;               /* 0 in a file written before 0.13 */
        rc->sched.lr = ck.adam.lr;
        CXR_TRY(cxr_augment_parse(ck.augment, &rc->augment));
        cxr_augment_format(&rc->augment, rc->augment_spec, sizeof rc->augment_spec);
        rc->start_epoch = ck.epoch;
        rc->average_from = ck.average_from;
        rc->average_count = ck.average_count;
        /* a file from before 0.12 does not record its order: the loader's window (auto), which
         * every run but the CXR_SHUFFLE_WINDOW experiments had, unless one is given */
        /* the resumed run's cap on an epoch's steps, unless one is given (a file from before
         * 0.14 records none: its run's is given again, or check_resume_steps refuses) */
        if (ro->max_steps <= 0 && ck.max_steps > 0) {
            rc->max_steps = ck.max_steps;
            note(o, "resume: --max-steps %lld, as %s's run", (long long)ck.max_steps,
                 o->io.resume_path);
        } else if (ro->max_steps > 0 && ro->max_steps != ck.max_steps) {
            /* taken when the epochs keep their steps (check_resume_steps), and then recorded */
            char had[64] = "records no cap (none, or written before 0.14)";
            if (ck.max_steps > 0)
                snprintf(had, sizeof had, "had --max-steps %lld", (long long)ck.max_steps);
            note(o,
                 "resume: --max-steps %lld, %s's run %s: allowed only while an epoch keeps its "
                 "steps",
                 (long long)ro->max_steps, o->io.resume_path, had);
        }
        if (ck.has_shuffle_window)
            rc->shuffle_window = ck.shuffle_window;
        else if (ro->shuffle_window == CXR_TRAIN_WINDOW_RECIPE)
            rc->shuffle_window = 0;
        if (ro->epochs <= 0) rc->epochs = ck.epochs;
        rc->ck_epochs = ck.epochs; /* a reshaped cosine schedule is said once the steps are known */
    }
    CXR_TRY(check_selection(r));
    if (rc->average_from > rc->epochs)
        note(o,
             "warning: weight averaging from epoch %d is after the run's last epoch (%d): no "
             "weights are averaged",
             rc->average_from, rc->epochs);
    if ((ro->lr_step_epochs > 0 || ro->lr_gamma > 0) && rc->sched.kind != CXR_LR_STEP)
        CXR_THROW(CXR_E_ARG, "--%s: for the step schedule only; this run's is %s",
                  ro->lr_step_epochs > 0 ? "lr-step-epochs" : "lr-gamma",
                  cxr_lr_schedule_name(rc->sched.kind));
    rc->sched.lr = rc->adam.lr;
    rc->cfg.image_size = r->train_info.size;
    if (lo != -1.0 || hi != 1.0) {
        if (!o->io.resume_path)
            note(o,
                 "%s holds pixels in [%g, %g] (normalize %s): the network reads each as "
                 "x * %.9g %c %g, in [-1, 1]",
                 o->io.store_path, lo, hi, cxr_norm_name(norm), rc->cfg.input_scale,
                 rc->cfg.input_shift < 0 ? '-' : '+', fabs(rc->cfg.input_shift));
        else if (cxr_model_config_input_plain(&rc->cfg))
            note(o,
                 "resume: the network of %s reads %s's pixels in [%g, %g] unscaled (a file "
                 "from before 0.17); a new run would scale them to [-1, 1]%s",
                 o->io.resume_path, o->io.store_path, lo, hi,
                 rc->augment.contrast != 0 || rc->augment.brightness != 0
                     ? "; and its augmentation's contrast and brightness now act in the image's "
                       "own range (about its centre, in its half-width), not about 0 in units "
                       "of 1 as before 0.17: the epochs from here on are augmented otherwise"
                     : "");
    }
    /* the network halves the side 3 times (x the input pool): a store of another side is the
     * data's fault, named with the store and the sides that would do */
    const int unit = 8 * (rc->cfg.input_pool > 1 ? rc->cfg.input_pool : 1),
              side = rc->cfg.image_size;
    if (side % unit) {
        const int lo = side / unit * unit;
        char near[64];
        if (lo > 0)
            snprintf(near, sizeof near, "%d or %d", lo, lo + unit);
        else
            snprintf(near, sizeof near, "%d", unit);
        char pool[64] = "";
        if (unit > 8) snprintf(pool, sizeof pool, " (8 x --input-pool %d)", rc->cfg.input_pool);
        CXR_THROW(CXR_E_FORMAT,
                  "%s holds %dx%d images, but the network needs a side that is a multiple of "
                  "%d%s; repack it with cxr-pack --size %s%s",
                  o->io.store_path, side, side, unit, pool, near,
                  unit > 8 ? ", or give a smaller --input-pool" : "");
    }
    /* the model's buffers for the largest batch there is: none holds more than its split (a
     * --batch 512 over 2 images took 12 GB for activations of 512) */
    const int64_t most =
        r->eval_split && r->eval_info.n > r->train_info.n ? r->eval_info.n : r->train_info.n;
    rc->cfg.batch_capacity = rc->batch < most ? rc->batch : (int)most;
    rc->cfg.seed = rc->seed;
bail:
    cxr_checkpoint_meta_free(&ck);
    return st;
}

/* The model on `be`, with the checkpoint's weights and Adam state on a resume. */
static cxr_status create_model(train_run *r, cxr_backend *be)
{
    cxr_status st = CXR_OK;
    const cxr_train_options *o = r->o;
    CXR_TRY(cxr_model_config_check(&r->rc.cfg));
    CXR_TRY(cxr_model_create(&r->model, &r->rc.cfg, be));
    CXR_TRY(cxr_model_set_threads(r->model, o->compute.threads));
    CXR_TRY(cxr_model_set_label_smoothing(r->model, r->rc.smoothing));
    if (o->compute.precision) {
        cxr_precision prec;
        CXR_TRY(cxr_precision_parse(o->compute.precision, &prec));
        CXR_TRY(cxr_backend_set_precision(be, prec));
    }
    if (o->io.resume_path) {
        CXR_TRY(cxr_checkpoint_load(o->io.resume_path, r->model, NULL));
        if (r->rc.average_count > 0) {
            if (!(r->average = calloc(cxr_model_n_params(r->model), sizeof(float))))
                CXR_THROW(CXR_E_NOMEM, "train: out of memory for the weights' average");
            CXR_TRY(cxr_checkpoint_load_average(o->io.resume_path, r->model, r->average));
        }
        note(o, "resume: %s after epoch %d (step %lld)", o->io.resume_path, r->rc.start_epoch,
             (long long)cxr_model_get_step(r->model));
        if (r->rc.start_epoch >= r->rc.epochs) /* said after where it resumes from */
            note(o, "resume: %s already has %d of %d epochs; nothing to do (%s)", o->io.resume_path,
                 r->rc.start_epoch, r->rc.epochs,
                 o->recipe.epochs > 0 ? "--epochs counts the run's epochs in all, those done "
                                        "included: give more than it has to train more"
                                      : "give --epochs to train more");
    }
bail:
    return st;
}

/* What every checkpoint of the run records besides the model. */
static cxr_status fill_checkpoint_meta(train_run *r)
{
    cxr_checkpoint_meta *m = &r->meta;
    m->model = r->rc.cfg;
    m->adam = r->rc.adam;
    m->epochs = r->rc.epochs;
    m->batch = r->rc.batch;
    m->threads = r->o->compute.threads;
    snprintf(m->precision, sizeof m->precision, "%s", run_precision(r->o));
    m->seed = r->rc.seed;
    m->threshold = 0.5;
    m->label_smoothing = r->rc.smoothing;
    m->mixup = r->rc.mixup;
    m->average_from = r->rc.average_from;
    m->shuffle_window = r->rc.shuffle_window;
    m->max_steps = r->rc.max_steps;
    snprintf(m->augment, sizeof m->augment, "%s", r->rc.augment_spec);
    m->has_run = 1;
    m->pp = *cxr_store_preprocess(r->store);
    m->n_classes = r->n_classes;
    m->class_names = calloc((size_t)r->n_classes, sizeof(char *));
    if (!m->class_names) return cxr_set_error(CXR_E_NOMEM, "train: out of memory");
    for (int c = 0; c < r->n_classes; c++)
        if (!(m->class_names[c] = strdup(cxr_store_class_name(r->store, c))))
            return cxr_set_error(CXR_E_NOMEM, "train: out of memory");
    /* the absolute path (when it fits), so that a resume from another folder finds the file */
    char abs[PATH_MAX];
    const char *sp = r->o->io.store_path;
    if (realpath(sp, abs) && strlen(abs) < sizeof m->store) sp = abs;
    snprintf(m->store, sizeof m->store, "%.*s", (int)sizeof m->store - 1, sp);
    snprintf(m->tool_version, sizeof m->tool_version, "%s", r->o->io.tool_version);
    m->has_store_content = 1;
    m->store_content = r->content;
    return CXR_OK;
}

/* A run short enough that auto mixes the whole split: at most CXR_TRAIN_SHORT_RUN_EPOCHS
 * epochs' worth of steps (epochs capped by --max-steps count their steps). The window of a few
 * class-sorted shards gives runs of one-class batches, which a long run outgrows and a short
 * one does not (specs/model.md "Training order"). */
static int short_run(const run_recipe *rc, int64_t n_train)
{
    const int64_t full = (n_train + rc->batch - 1) / rc->batch;
    const int64_t per = rc->max_steps > 0 && rc->max_steps < full ? rc->max_steps : full;
    return (int64_t)rc->epochs * per <= (int64_t)CXR_TRAIN_SHORT_RUN_EPOCHS * full;
}

/* The bytes the whole-split order holds decoded (cxr_loader_split_window): the split, or three
 * windows of CXR_LOADER_MIXED_BYTES past CXR_LOADER_SPLIT_BYTES. */
static double split_bytes(const cxr_split_info *t)
{
    const double all = (double)t->n * t->size * t->size * sizeof(float);
    return all <= (double)CXR_LOADER_SPLIT_BYTES ? all : 3.0 * (double)CXR_LOADER_MIXED_BYTES;
}

/* The batch source, the schedule and the metrics (the monitor: open_monitor). */
static cxr_status open_run_io(train_run *r)
{
    cxr_status st = CXR_OK;
    const cxr_train_options *o = r->o;
    cxr_loader_options lo;
    cxr_loader_options_defaults(&lo);
    lo.batch = r->rc.batch;
    lo.shuffle = 1;
    lo.seed = r->rc.seed;
    lo.threads = o->compute.threads;
    lo.prefetch = o->compute.prefetch;
    lo.augment = &r->rc.augment;
    lo.window = r->rc.shuffle_window;
    lo.mixup = r->rc.mixup;
    /* the experiments' knob before --shuffle-window: refused rather than silently ignored */
    const char *sw = getenv("CXR_SHUFFLE_WINDOW");
    if (sw && *sw)
        CXR_THROW(CXR_E_ARG,
                  "CXR_SHUFFLE_WINDOW=%s is no longer read: give --shuffle-window auto, split "
                  "(what \"all\" was) or a number of shards, and unset it",
                  sw);
    /* a fresh run's auto (a resume's window is its checkpoint's) */
    if (!o->io.resume_path && r->rc.shuffle_window == 0 && short_run(&r->rc, r->train_info.n)) {
        /* auto, on a short run: the whole split mixed, where its decoded images take at most a
         * quarter of the memory free (the model's activations and the evaluation come beside
         * them); chosen before the loader is made, so that no other failure reads as this */
        const double need = split_bytes(&r->train_info), avail = (double)cxr_mem_available();
        if (avail < 0 || 4 * need <= avail) {
            lo.window = r->rc.shuffle_window = r->meta.shuffle_window = CXR_LOADER_WINDOW_SPLIT;
            note(o,
                 "training order: the whole split mixed (--shuffle-window auto on a run of at "
                 "most %d epochs' steps; specs/model.md \"Training order\")",
                 CXR_TRAIN_SHORT_RUN_EPOCHS);
        } else {
            note(o,
                 "--shuffle-window auto: the whole split's images (%.1f MiB decoded) take more "
                 "than a quarter of the memory free (%.1f MiB), so this short run takes windows "
                 "of a few shards",
                 cxr_mib(need), cxr_mib(avail));
        }
    }
    st = source_open(&r->src, r->store, r->model, &lo, o->compute.resident, r->rc.max_steps);
    /* the host loader's refusal of its buffers (not a GPU's memory, nor a mapping's address
     * space, which no window changes) */
    if (st == CXR_E_NOMEM && lo.window == CXR_LOADER_WINDOW_SPLIT &&
        strstr(cxr_last_error(), "the loader needs"))
        CXR_THROW(st, "%s (the training order mixes the whole split%s)", cxr_last_error(),
                  o->io.resume_path ? ", the order of the checkpoint's run, which a resume keeps"
                                    : ": --shuffle-window N takes windows of N shards");
    CXR_TRY(st);
    CXR_TRY(check_resume_steps(r));
    /* step decay: x gamma every --lr-step-epochs epochs, by default after each third of the
     * run, rounded up so that a third decay never falls inside it; a resume keeps the
     * checkpoint's interval */
    const int64_t per = source_n_batches(&r->src);
    r->rc.sched.total = (int64_t)r->rc.epochs * per;
    /* a resume whose --epochs reshapes a cosine schedule: the rates so far were the started
     * run's, unless every step so far was warmup (its rates do not depend on the run's length):
     * then the run goes on as one of the new length from the start would */
    if (r->rc.ck_epochs > 0 && r->rc.epochs != r->rc.ck_epochs &&
        r->rc.sched.kind == CXR_LR_COSINE && r->rc.start_epoch < r->rc.epochs) {
        const int64_t done = cxr_model_get_step(r->model);
        char how[160];
        if (done <= r->rc.sched.warmup)
            snprintf(how, sizeof how,
                     "; its %lld step(s) so far were all warmup, so the run goes on as one of %d "
                     "epochs from the start would",
                     (long long)done, r->rc.epochs);
        else
            snprintf(how, sizeof how, ": the rates from epoch %d on follow neither run",
                     r->rc.start_epoch + 1);
        note(o, "resume: the cosine schedule now spans %d epochs, not the %d %s was started with%s",
             r->rc.epochs, r->rc.ck_epochs, o->io.resume_path, how);
    }
    r->rc.sched.step_every =
        o->recipe.lr_step_epochs > 0 ? o->recipe.lr_step_epochs * per : (r->rc.sched.total + 2) / 3;
    const int default_every = o->recipe.lr_step_epochs <= 0 && r->rc.ck_step_every <= 0;
    if (r->rc.ck_step_every > 0) {
        if (o->recipe.lr_step_epochs > 0 && r->rc.sched.step_every != r->rc.ck_step_every)
            CXR_THROW(CXR_E_ARG,
                      "resume %s: --lr-step-epochs %d (%lld steps) differs from the checkpoint's "
                      "%lld steps",
                      o->io.resume_path, o->recipe.lr_step_epochs,
                      (long long)r->rc.sched.step_every, (long long)r->rc.ck_step_every);
        if (r->rc.sched.kind == CXR_LR_STEP && r->rc.sched.step_every != r->rc.ck_step_every &&
            r->rc.start_epoch < r->rc.epochs)
            note(o,
                 "resume: the step schedule keeps %s's decay every %lld steps (this run's %d "
                 "epochs alone would decay every %lld): the rates from epoch %d on follow neither "
                 "run",
                 o->io.resume_path, (long long)r->rc.ck_step_every, r->rc.epochs,
                 (long long)r->rc.sched.step_every, r->rc.start_epoch + 1);
        r->rc.sched.step_every = r->rc.ck_step_every;
    }
    /* meaningless to the other schedules: 0, so that a resumed run's checkpoint is the same
     * bytes as an uninterrupted one's (each had kept its own run's third) */
    if (r->rc.sched.kind != CXR_LR_STEP) r->rc.sched.step_every = 0;
    /* as a warmup past the end: said (options hunt). The decays count from the warmup's end
     * (schedule.c), so the first is at step warmup + step_every. */
    if (r->rc.sched.kind == CXR_LR_STEP &&
        r->rc.sched.warmup + r->rc.sched.step_every >= r->rc.sched.total &&
        r->rc.start_epoch < r->rc.epochs)
        note(o,
             "step decay: every %lld steps after a warmup of %lld, not within the run's %lld: "
             "the rate never decays",
             (long long)r->rc.sched.step_every, (long long)r->rc.sched.warmup,
             (long long)r->rc.sched.total);
    else if (r->rc.sched.kind == CXR_LR_STEP && default_every &&
             r->rc.sched.warmup + 2 * r->rc.sched.step_every >= r->rc.sched.total)
        note(o,
             "step decay: every %lld steps after a warmup of %lld: the second decay falls past "
             "the run's %lld steps, so the rate decays once",
             (long long)r->rc.sched.step_every, (long long)r->rc.sched.warmup,
             (long long)r->rc.sched.total);
    if (r->rc.sched.kind != CXR_LR_CONSTANT && r->rc.sched.warmup > r->rc.sched.total)
        note(o,
             "warmup: %lld steps, longer than the run's %lld: the rate reaches %.3g of --lr at "
             "most and never decays",
             (long long)r->rc.sched.warmup, (long long)r->rc.sched.total,
             (double)r->rc.sched.total / (double)r->rc.sched.warmup);
    CXR_TRY(cxr_metrics_create(&r->met, r->n_classes));
bail:
    return st;
}

/* The resource monitor and its samples file, the run's first write (cxr_train_run: after the
 * caller's on_ready). */
static cxr_status open_monitor(train_run *r)
{
    cxr_status st = CXR_OK;
    const cxr_train_options *o = r->o;
    if (o->compute.monitor || o->io.monitor_log) {
        /* the GPU trained on, found in NVML by its PCI bus id: its CUDA index can be another
         * GPU's there (CUDA_VISIBLE_DEVICES, CUDA's fastest-first order) */
        char pci[64] = "";
        cxr_cuda_ctx *cu = cxr_backend_cuda_context(cxr_model_backend(r->model));
        if (cu && o->compute.monitor_gpu == cxr_cuda_device(cu))
            cxr_cuda_pci_bus_id(cu, pci, sizeof pci);
        if (o->io.resume_path) /* appended to, as the log */
            st = pci[0] ? cxr_monitor_create_pci(&r->mon, 1.0, o->io.monitor_log, 1, pci, NULL)
                        : cxr_monitor_resume(&r->mon, 1.0, o->io.monitor_log,
                                             o->compute.monitor_gpu);
        else /* an earlier samples file is kept as the log is (cxr_trainlog_open): put back when
              * the run ends before its first epoch (run_close; also when the monitor failed
              * after emptying it), dropped after that epoch */
            st = cxr_monitor_create_kept(&r->mon, 1.0, o->io.monitor_log, o->compute.monitor_gpu,
                                         pci, &r->samples_kept);
    }
    return st;
}

/* The CPU's model name (the first "model name" of /proc/cpuinfo), "" where there is none. */
static void cpu_model_name(char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        const char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) || !colon) continue;
        colon += 1 + (colon[1] == ' ');
        int n = (int)strcspn(colon, "\n");
        while (n > 0 && colon[n - 1] == ' ') n--; /* some CPUs pad their name */
        snprintf(buf, cap, "%.*s", n, colon);
        break;
    }
    fclose(f);
}

/* What computes a run, for its log: the CPU backend's kernels (its ISA path, oneDNN's ops and
 * ISA, precision, denormals, the CPU's flags: a run is repeatable bit for bit on the same path
 * only), or the GPU and its libraries. */
static void run_kernels(cxr_backend *be, char *buf, size_t cap)
{
    buf[0] = 0;
    if (be->name && !strcmp(be->name, "cpu")) cxr_backend_cpu_describe(be, buf, cap);
#ifdef CXR_HAVE_CUDA
    else if (cxr_backend_cuda_context(be))
        cxr_cuda_describe(cxr_backend_cuda_context(be), buf, cap);
#endif
}

/* The log's run line: who trains what, with which recipe, on which data (kernels and model:
 * buffers of 512 and 256 bytes it points into). */
static cxr_log_run_line run_line(const train_run *r, cxr_backend *be, char *kernels, char *model)
{
    const cxr_train_options *o = r->o;
    const cxr_preprocess_params *pp = cxr_store_preprocess(r->store);
    run_kernels(be, kernels, 512);
    cpu_model_name(model, 256);
    return (cxr_log_run_line){
        .tool = o->io.tool_version,
        .store = o->io.store_path,
        .device = o->compute.device_desc ? o->compute.device_desc : be->name,
        .kernels = kernels[0] ? kernels : NULL,
        .cpu_model = model[0] ? model : NULL,
        .n_classes = r->n_classes,
        .classes = r->meta.class_names,
        .epochs = r->rc.epochs,
        .batch = r->rc.batch,
        .lr = r->rc.adam.lr,
        .recipe = r->rc.name,
        .schedule = cxr_lr_schedule_name(r->rc.sched.kind),
        .warmup_steps = r->rc.sched.warmup,
        .lr_step_every = r->rc.sched.step_every,
        .lr_gamma = r->rc.sched.step_gamma,
        .weight_decay = r->rc.adam.weight_decay,
        .label_smoothing = r->rc.smoothing,
        .select = cxr_select_name(r->rc.select),
        .patience = r->rc.patience,
        .average_from = r->rc.average_from,
        .shuffle_window = r->rc.shuffle_window,
        .mixup = r->rc.mixup,
        .best_model = r->best_path[0] ? r->best_path : NULL,
        .seed = r->rc.seed,
        .threads = o->compute.threads,
        .precision = run_precision(o),
        .resident = r->src.gpu ? cxr_gpu_loader_is_resident(r->src.gpu) : -1,
        .prefetch = o->compute.prefetch,
        .keep_prob = r->rc.cfg.keep_prob,
        .alpha = r->rc.cfg.alpha,
        .head = cxr_model_head_name(r->rc.cfg.head),
        .input_pool = r->rc.cfg.input_pool,
        .input_scale = r->rc.cfg.input_scale,
        .input_shift = r->rc.cfg.input_shift,
        .max_steps = r->rc.max_steps,
        .augment = r->rc.augment_spec,
        .train_images = r->train_info.n,
        .eval_images = r->eval_info.n,
        .eval_split = r->eval_split ? r->eval_split : "",
        .image_size = r->train_info.size,
        .equalize = cxr_equalize_name(pp->equalize),
        .normalize = cxr_norm_name(pp->normalize),
        .crop_ratio = pp->crop_ratio,
        .clahe_clip = pp->equalize == CXR_EQUALIZE_CLAHE ? pp->clahe_clip : 0,
        .resumed_from = o->io.resume_path,
        .start_epoch = r->rc.start_epoch + 1,
    };
}

static cxr_status log_run(train_run *r, cxr_backend *be)
{
    const cxr_status st =
        cxr_trainlog_open(&r->log, r->o->io.log_path, r->o->io.resume_path != NULL);
    if (st != CXR_OK) return st;
    char kernels[512], model[256];
    const cxr_log_run_line l = run_line(r, be, kernels, model);
    return cxr_trainlog_write_run(r->log, &l);
}

/* One step on batch b: forward, backward, Adam, then the next batch and the copies of this
 * step's loss and probabilities into result slot `slot` queued; nothing waits for the device. */
static cxr_status train_step(train_run *r, const cxr_batch *b, int slot)
{
    cxr_status st = CXR_OK;
    CXR_TRY(cxr_model_forward(r->model, b->images, b->n, 1));
    CXR_TRY(
        cxr_model_loss_backward_mixed(r->model, b->labels, b->labels2, b->mix, r->cw, b->n, NULL));
    cxr_adam_params adam = r->rc.adam;
    adam.lr = cxr_lr_at(&r->rc.sched, cxr_model_get_step(r->model));
    r->lr_last = adam.lr;
    CXR_TRY(cxr_model_step(r->model, &adam));
    CXR_TRY(source_queue_next(&r->src));
    CXR_TRY(cxr_model_results_queue(r->model, slot, b->n));
bail:
    return st;
}

/* A step whose results are read one step late, and the epoch's running sums. */
typedef struct {
    int n;
    int64_t step;     /* 1-based in the epoch */
    int64_t run_step; /* the model's step counter after it (the log's step number) */
    double lr;        /* its learning rate */
    double t_queued;  /* host time when it was queued (on the CPU: done) */
    double weight;    /* the loss's normaliser: the batch's class weights (with mixup, each
                         image's lam w[y] + (1 - lam) w[y2]), in image order */
    int32_t *labels;
} pending_step;
typedef struct {
    double t0, loss_num, loss_den;
    int64_t correct, seen, n_batches;
    double t_mark;     /* queue time of the step of the last `step` line (or the epoch's start) */
    int64_t seen_mark; /* images seen then */
} epoch_sums;

/* A `step` line for step p, written when its loss is read (e: 0-based epoch); images per
 * second since the last one, between the times the two were queued, not read (the reads come
 * one step late, the last one of an epoch at once). */
static cxr_status log_step(train_run *r, int e, const pending_step *p, float loss, epoch_sums *a)
{
    double t = p->t_queued;
    cxr_log_step l = { p->run_step, e + 1, loss, p->lr,
                       t > a->t_mark ? (double)(a->seen - a->seen_mark) / (t - a->t_mark) : NAN };
    a->t_mark = t;
    a->seen_mark = a->seen;
    return cxr_trainlog_write_step(r->log, &l);
}

/* The normaliser of batch b's loss (cxr_ops.h softmax_xent): the epoch's train loss is the mean of
 * the steps' losses weighted by it. */
static double batch_weight(const train_run *r, const cxr_batch *b)
{
    double w = 0;
    for (int i = 0; i < b->n; i++) {
        double a = r->cw ? r->cw[b->labels[i]] : 1.0, c = 0.0;
        if (b->mix) cxr_mix_weights(b->mix[i], b->labels[i], b->labels2[i], r->cw, &a, &c);
        w += a + c; /* c is 0 without mixup: a + 0.0 is a */
    }
    return w;
}

/* Wait for the results of step p (slot `slot`) and add them to the epoch's sums; log (every
 * --log-every steps) and report. */
static cxr_status account_step(train_run *r, int e, int slot, const pending_step *p, epoch_sums *a)
{
    cxr_status st = CXR_OK;
    const cxr_train_options *o = r->o;
    const int C = r->n_classes;
    const float *probs;
    float loss;
    CXR_TRY(cxr_model_results_wait(r->model, slot, &loss, &probs));
    const double wsum = p->weight;
    for (int i = 0; i < p->n; i++) {
        const float *q = probs + (size_t)i * C;
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (q[c] > q[arg]) arg = c;
        a->correct += arg == p->labels[i];
    }
    if (!isfinite(loss))
        CXR_THROW(CXR_E_INTERNAL,
                  "epoch %d step %lld: the loss is %g (training diverged; try a smaller --lr)",
                  e + 1, (long long)p->step, loss);
    a->loss_num += (double)loss * wsum;
    a->loss_den += wsum;
    a->seen += p->n;
    if (r->log && o->io.log_every > 0 && p->run_step % o->io.log_every == 0)
        CXR_TRY(log_step(r, e, p, loss, a));
    if (o->cb.on_progress) {
        cxr_train_progress q = { e + 1,
                                 r->rc.epochs,
                                 p->step,
                                 a->n_batches,
                                 a->seen,
                                 a->loss_num / a->loss_den,
                                 (double)a->correct / (double)a->seen,
                                 0,
                                 cxr_now_s() - a->t0,
                                 NULL,
                                 0,
                                 0,
                                 0 };
        q.images_per_s = q.elapsed_s > 0 ? (double)a->seen / q.elapsed_s : 0;
        r->progress = q;
        o->cb.on_progress(o->cb.user, &q);
    }
bail:
    return st;
}

/* `s` as a shell word a user can paste from a note (cxr_shell_word), or NULL when the note's
 * printing would change it: text that is not plain, or a word with a backslash, which
 * cxr_print_error's escaping doubles; an apostrophe ('\'' in single quotes) is put in double
 * quotes where nothing else in s is special there. */
static const char *paste_word(char *buf, size_t cap, const char *s)
{
    if (!cxr_text_plain(s) || !cxr_shell_word(buf, cap, s)) return NULL;
    if (!strchr(buf, '\\')) return buf;
    /* an apostrophe ('\'' in single quotes, whose backslash the message would show escaped):
     * in double quotes, where nothing else in s is special to the shell */
    if (strpbrk(s, "\"$`\\!") || strlen(s) + 3 > cap) return NULL;
    snprintf(buf, cap, "\"%s\"", s);
    return buf;
}

/* Where a run interrupted after `done` complete epochs can go on from, for its message. */
static const char *resume_hint(const train_run *r, int done, char *buf, size_t cap)
{
    const char *ck = r->o->io.checkpoint_path;
    int held = done; /* the epoch ck holds */
    /* this run saved nothing yet, or saves nothing (--no-checkpoint): it goes on from the file
     * it resumed, which holds the epoch it started from */
    if (r->o->io.resume_path && (done == r->rc.start_epoch || !ck))
        ck = r->o->io.resume_path, held = r->rc.start_epoch;
    if (done == 0) { /* the best model is saved before the checkpoint: it may hold epoch 1 */
        const int best = r->best_saved > 0 && r->best_path[0];
        snprintf(buf, cap, "no epoch is complete: nothing to resume%s%s%s%s%s%s",
                 r->earlier && ck ? " (" : "", r->earlier && ck ? ck : "",
                 r->earlier && ck ? " still holds what it held before this run)" : "",
                 best ? "; " : "", best ? r->best_path : "",
                 best ? " holds this run's epoch 1, saved before the failure" : "");
    } else if (!ck)
        snprintf(buf, cap, "no checkpoint is written (--no-checkpoint)");
    else { /* the whole command, as shell words when they can be pasted from the message: the
            * store, the run's epochs and a --patience given (a resume that extended a run or
            * changed its patience records them only at its first save: without them it stopped
            * at the checkpoint's, "nothing to do", or its patience's early stop), the options
            * that keep the run's logs going (a resume without them stops them), and its device,
            * precision and thread count (another changes the losses, warned of) */
        const char *log = r->o->io.log_path, *mon = r->o->io.monitor_log;
        /* a run resumed into another checkpoint that saved nothing yet: without --checkpoint
         * the resume would write over the file it branches from */
        const char *to = r->o->io.checkpoint_path && strcmp(r->o->io.checkpoint_path, ck) != 0
                             ? r->o->io.checkpoint_path
                             : NULL;
        /* ... and one resumed with --no-checkpoint keeps it: without it the resume would save
         * into the file it resumed (its default checkpoint), which this run left alone */
        const char *nock = r->o->io.checkpoint_path ? "" : " --no-checkpoint";
        char qs[4 * 4096 + 5], qc[4 * 4096 + 5], ql[4 * 4096 + 5], qm[4 * 4096 + 5],
            qt[4 * 4096 + 5];
        const char *ws = paste_word(qs, sizeof qs, r->o->io.store_path),
                   *wc = paste_word(qc, sizeof qc, ck),
                   *wl = log ? paste_word(ql, sizeof ql, log) : "",
                   *wm = mon ? paste_word(qm, sizeof qm, mon) : "",
                   *wt = to ? paste_word(qt, sizeof qt, to) : "";
        int n =
            held == done ? snprintf(buf, cap, "the last checkpoint, %s, holds epoch %d", ck, done)
            : held + 1 == done
                ? snprintf(buf, cap, "epoch %d is not kept (--no-checkpoint); %s holds epoch %d",
                           done, ck, held)
                : snprintf(buf, cap,
                           "epochs %d to %d are not kept (--no-checkpoint); %s holds epoch %d",
                           held + 1, done, ck, held);
        char every[40] = ""; /* step lines: a resume without it logs none */
        if (log && r->o->io.log_every > 0)
            snprintf(every, sizeof every, " --log-every %lld", (long long)r->o->io.log_every);
        char patience[32] = ""; /* given: the file resumed from may not record it yet */
        if (r->o->recipe.patience >= 0)
            snprintf(patience, sizeof patience, " --patience %d", r->rc.patience);
        char dev[64] = "cpu", prec[32] = "";
        cxr_cuda_ctx *cu = cxr_backend_cuda_context(cxr_model_backend(r->model));
        if (cu) snprintf(dev, sizeof dev, "cuda:%d", cxr_cuda_device(cu));
        if (strcmp(run_precision(r->o), "fp32") != 0)
            snprintf(prec, sizeof prec, " --precision %s", run_precision(r->o));
        if (ws && wc && wl && wm && wt && n > 0 && n < (int)cap)
            n += snprintf(buf + n, cap - (size_t)n,
                          "; go on with: cxr-train %s --resume %s --epochs %d%s%s%s%s%s%s%s%s%s "
                          "--device %s%s --threads %d",
                          ws, wc, r->rc.epochs, patience, nock, to ? " --checkpoint " : "", wt,
                          log ? " --log " : "", wl, every, mon ? " --monitor-log " : "", wm, dev,
                          prec, r->o->compute.threads);
        if (n >= (int)cap) /* paths past the message's room: the command cut, said so */
            snprintf(buf + cap - 5, 5, "...");
    }
    return buf;
}

/* The training part of epoch e (0-based): every batch of the source, with the running loss
 * and accuracy reported after each step. Step k's results are read after step k+1 is queued
 * (result slots k mod 2), so the host never waits for the device in between. Fills the
 * record's training figures. */
static cxr_status train_epoch(train_run *r, int e, cxr_log_epoch *rec)
{
    cxr_status st = CXR_OK;
    const cxr_train_options *o = r->o;
    epoch_sums a = { cxr_now_s(), 0, 0, 0, 0, source_n_batches(&r->src), 0, 0 };
    pending_step pend[CXR_MODEL_RESULT_SLOTS] = { { 0 } };
    int64_t steps = 0;
    a.t_mark = a.t0;
    for (int i = 0; i < CXR_MODEL_RESULT_SLOTS; i++)
        if (!(pend[i].labels = malloc((size_t)r->rc.batch * sizeof(int32_t))))
            CXR_THROW(CXR_E_NOMEM, "train: out of memory");
    CXR_TRY(source_begin_epoch(&r->src, e));
    for (;;) {
        cxr_batch b;
        CXR_TRY(source_take(&r->src, &b));
        if (b.n == 0) break;
        const int slot = (int)(steps % CXR_MODEL_RESULT_SLOTS);
        CXR_TRY(train_step(r, &b, slot));
        pend[slot].n = b.n;
        pend[slot].step = ++steps;
        pend[slot].run_step = cxr_model_get_step(r->model);
        pend[slot].lr = r->lr_last;
        pend[slot].t_queued = cxr_now_s();
        memcpy(pend[slot].labels, b.labels, (size_t)b.n * sizeof(int32_t));
        pend[slot].weight = batch_weight(r, &b);
        if (steps > 1) {
            const int prev = (int)((steps - 2) % CXR_MODEL_RESULT_SLOTS);
            CXR_TRY(account_step(r, e, prev, &pend[prev], &a));
        }
        if (o->cb.interrupted && *o->cb.interrupted && steps == source_n_batches(&r->src) &&
            !r->finishing) {
            /* every step of the epoch done: the epoch is finished (evaluated, logged, saved)
             * before the run stops, rather than thrown away; a second signal stops it now */
            r->finishing = 1;
            note(o,
                 "interrupt: epoch %d's steps are done; evaluating and saving it first (a "
                 "second signal stops now)",
                 e + 1);
        } else if (o->cb.interrupted && *o->cb.interrupted) {
            /* the step just done is accounted (logged, reported) first, as when it ends */
            CXR_TRY(account_step(r, e, slot, &pend[slot], &a));
            char hint[CXR_MSG_MAX];
            CXR_THROW(CXR_E_INTERRUPTED, "interrupted in epoch %d after step %lld; %s", e + 1,
                      (long long)steps, resume_hint(r, e, hint, sizeof hint));
        }
    }
    if (steps > 0) {
        const int last = (int)((steps - 1) % CXR_MODEL_RESULT_SLOTS);
        CXR_TRY(account_step(r, e, last, &pend[last], &a));
    }
    rec->epoch_s = cxr_now_s() - a.t0;
    rec->data_wait_s = source_wait_seconds(&r->src);
    rec->train_loss = a.loss_den > 0 ? a.loss_num / a.loss_den : NAN;
    rec->train_acc = a.seen ? (double)a.correct / (double)a.seen : NAN;
    rec->images_per_s = rec->epoch_s > 0 ? (double)a.seen / rec->epoch_s : 0;
    rec->data_wait_frac = rec->epoch_s > 0 ? rec->data_wait_s / rec->epoch_s : 0;
    rec->steps = steps;
    rec->lr = r->lr_last;
bail:
    for (int i = 0; i < CXR_MODEL_RESULT_SLOTS; i++) free(pend[i].labels);
    return st;
}

/* cxr_evaluate_ex's hook in eval_epoch: the evaluation's progress, after each batch, through
 * on_progress (at a million val images it takes most of a minute, after the epoch's last step). */
static void eval_progress(void *user, int n, const int64_t *indices, const int32_t *labels,
                          const float *probs)
{
    (void)indices, (void)labels, (void)probs;
    train_run *r = user;
    r->progress.eval_done += n;
    r->progress.eval_elapsed_s = cxr_now_s() - r->eval_t0;
    r->o->cb.on_progress(r->o->cb.user, &r->progress);
}

/* Evaluation after an epoch on the eval split: the record's results and detail point into
 * *rep (the caller frees it). On val, a binary model's threshold is chosen there
 * (cxr_metrics_best_threshold); *value receives the selection metric (NAN: none). */
static cxr_status eval_epoch(train_run *r, cxr_log_epoch *rec, cxr_metrics_report *rep,
                             double *value)
{
    cxr_status st = CXR_OK;
    const cxr_train_options *o = r->o;
    cxr_eval_result er;
    cxr_metrics_reset(r->met);
    const int progress = o->cb.on_progress && r->progress.epoch > 0;
    if (progress) {
        r->progress.eval_split = r->eval_split;
        r->progress.eval_done = 0;
        r->progress.eval_n = r->eval_info.n;
        r->progress.eval_elapsed_s = 0;
        r->eval_t0 = cxr_now_s();
    }
    st = cxr_evaluate_ex(r->model, r->store, r->eval_split, r->rc.batch, o->compute.threads,
                         o->compute.prefetch, r->cw, r->finishing ? NULL : o->cb.interrupted,
                         r->met, &er, progress ? eval_progress : NULL, r);
    r->progress.eval_split = NULL;
    r->progress.eval_done = r->progress.eval_n = 0;
    if (st != CXR_OK) goto bail;
    rec->eval_nonfinite = er.n_nonfinite;
    if (er.n_nonfinite) /* a warning: the run goes on, its checkpoint is saved */
        note(o,
             "warning: %lld %s image(s) got non-finite probabilities (the first: %s); this "
             "epoch's %s metrics are not meaningful, no threshold is chosen from them and the "
             "epoch is not kept as the best",
             (long long)er.n_nonfinite, r->eval_split,
             cxr_store_image_path(r->store, r->eval_split, er.first_nonfinite), r->eval_split);
    CXR_TRY(cxr_metrics_compute(r->met, 0.5, rep));
    rec->eval_loss = er.loss;
    rec->eval_s = er.seconds;
    rec->eval_acc = rep->accuracy;
    rec->precision = rep->pos_precision;
    rec->recall = rep->pos_recall;
    rec->specificity = rep->specificity;
    rec->f1 = rep->pos_f1;
    rec->auc = rep->auc;
    rec->macro_f1 = rep->macro_f1;
    rec->balanced_accuracy = rep->balanced_accuracy;
    rec->n_per_class = rep->k;
    rec->class_precision = rep->precision;
    rec->class_recall = rep->recall;
    rec->class_f1 = rep->f1;
    rec->class_auc = rep->auc_ovr;
    rec->k = rep->k;
    rec->confusion = rep->confusion;
    rec->n_roc = rep->k == 2 && isfinite(rep->auc) ? (int)rep->n_roc : 0; /* both classes there */
    rec->roc_fpr = rep->roc_fpr;
    rec->roc_tpr = rep->roc_tpr;
    double bal = rep->balanced_accuracy;
    if (strcmp(r->eval_split, "val") == 0 && r->n_classes == 2 && er.n_nonfinite == 0 &&
        cxr_metrics_best_threshold(r->met, &r->rc.threshold, &bal) == CXR_OK) {
        r->rc.threshold_on_val = 1;
        rec->threshold = r->rc.threshold;
    }
    *value = r->rc.select == CXR_SELECT_VAL_AUC                 ? rep->auc
             : r->rc.select == CXR_SELECT_VAL_LOSS              ? er.loss
             : r->rc.select == CXR_SELECT_VAL_BALANCED_ACCURACY ? bal
                                                                : NAN;
    if (er.n_nonfinite) *value = NAN; /* such an epoch is never kept as the best */
bail:
    return st;
}

/* Epochs without a better selected value after `done` epochs. */
static int since_best(const run_recipe *rc, int done)
{
    return done - (rc->best_epoch > 0 ? rc->best_epoch : rc->patience_from);
}

/* Early stopping: `done` epochs trained, no improvement for `patience` of them. */
static int patience_ran_out(const run_recipe *rc, int done)
{
    return rc->patience > 0 && rc->select != CXR_SELECT_NONE && done < rc->epochs &&
           since_best(rc, done) >= rc->patience;
}

/* A resume whose smaller --patience has run out at its first epoch, `done`: its stop is recorded
 * now (record_stop), as a run stopped at that epoch would have recorded it. */
static int stop_to_record(const run_recipe *rc, int done)
{
    return done == rc->start_epoch && done > 0 && rc->ck_stopped_patience != rc->patience;
}

/* Whether the run trains an epoch, or records a stop, from rc.start_epoch on (a resume
 * whose epochs are done, or whose patience ran out and is recorded, appends nothing). */
static int run_trains(const run_recipe *rc)
{
    const int e0 = rc->start_epoch;
    return e0 < rc->epochs && (!patience_ran_out(rc, e0) || stop_to_record(rc, e0));
}

/* A kernels description without what does not change the results: a GPU's index ("cuda:1 "
 * before its name: another card of the same kind, or CUDA_VISIBLE_DEVICES). */
static const char *same_kernels(const char *k)
{
    if (strncmp(k, "cuda:", 5) != 0) return k;
    k += 5 + strspn(k + 5, "0123456789");
    return k + strspn(k, " ");
}

/* Whether a log's last run line counts these images (a key it lacks, from an older version,
 * agrees with any). */
static int log_counts_are(const cxr_trainlog_tail *t, int64_t train, int64_t eval,
                          const char *eval_split)
{
    return (t->train_images < 0 || t->train_images == train) &&
           (t->eval_images < 0 || t->eval_images == eval) &&
           (!t->has_eval_split || strcmp(t->eval_split, eval_split) == 0);
}

/* The split a run on a store of content c evaluated on (as open_store chooses: val, else test,
 * an empty one as none, ""), and its images in *n. */
static const char *content_eval_split(const cxr_store_content *c, int64_t *n)
{
    const int k = c->n[1] > 0 ? 1 : c->n[2] > 0 ? 2 : 0;
    *n = k ? c->n[k] : 0;
    return k == 1 ? "val" : k == 2 ? "test" : "";
}

/* A resume that will append to --log: refused when the log's last run is another run (another
 * seed, recipe or batch: its readers would take the new lines for that run's, cxr-report
 * drawing both as one curve) or ran on other data (other image counts or eval split: another
 * store's), warned of when no line of the log is for the checkpoint's epoch
 * (an older copy: the epochs before it may lack lines), and warned of when its last run ran on
 * other kernels. A log this user cannot read is not looked at. Called before anything is opened
 * for writing. */
static cxr_status check_resume_log(const train_run *r, cxr_backend *be)
{
    const cxr_train_options *o = r->o;
    cxr_trainlog_tail t;
    if (!o->io.resume_path || !o->io.log_path || !run_trains(&r->rc) ||
        cxr_trainlog_read_tail(o->io.log_path, r->rc.start_epoch, &t) != CXR_OK)
        return CXR_OK;
    if (!t.has_run) { /* nothing to check it by: said, as the log will lack the run's start */
        struct stat ls;
        char gz[4200];
        snprintf(gz, sizeof gz, "%s.gz", o->io.log_path);
        const int there = stat(o->io.log_path, &ls) == 0;
        if (!there && access(gz, F_OK) == 0) /* the run's log, compressed: a new one would
                                                 take its name, and gunzip then collide */
            return cxr_set_error(CXR_E_ARG,
                                 "--log %s is not there, %s is: a resume appends plain lines; "
                                 "gunzip it first, or give another --log",
                                 o->io.log_path, gz);
        if (!there || ls.st_size == 0)
            note(o,
                 "warning: --log %s is %s: this resume starts it at epoch %d, its run's earlier "
                 "epochs not in it",
                 o->io.log_path, there ? "empty" : "not there", r->rc.start_epoch + 1);
        else
            note(o,
                 "warning: --log %s: no run line of it can be read (damaged?), so it is not "
                 "checked to be %s's run's log; appended to",
                 o->io.log_path, o->io.resume_path);
        return CXR_OK;
    }
    const char *recipe = r->rc.name;
    if (t.seed != (double)r->rc.seed || t.batch != r->rc.batch ||
        (t.recipe[0] && recipe[0] && strcmp(t.recipe, recipe) != 0))
        return cxr_set_error(CXR_E_FORMAT,
                             "--log %s: its last run (recipe %s, seed %.17g, batch %d) is not the "
                             "run of %s (recipe %s, seed %llu, batch %d): not appended to; give "
                             "that run's log, or another --log",
                             o->io.log_path, t.recipe[0] ? t.recipe : "unnamed", t.seed, t.batch,
                             o->io.resume_path, recipe[0] ? recipe : "unnamed",
                             (unsigned long long)r->rc.seed, r->rc.batch);
    /* ... or the same recipe and seed on other data (another store's log: its readers would
     * draw one curve over both, its val and this run's test): the images the run line counts,
     * against this run's and those the checkpoint's run had (its store_content), either of
     * which its own log may hold (a resume on a store packed again is warned of and goes on,
     * specs/model.md "Store content"; one killed before its first save left its run line) */
    const int64_t ti = r->train_info.n, ei = r->eval_info.n;
    const char *es = r->eval_split ? r->eval_split : "";
    const cxr_store_content *rec = r->has_resumed_content ? &r->resumed_content : NULL;
    const int64_t rt = rec ? rec->n[0] : ti;
    int64_t re = ei;
    const char *rs = rec ? content_eval_split(rec, &re) : es;
    if (!log_counts_are(&t, ti, ei, es) && !log_counts_are(&t, rt, re, rs)) {
        char then[160] = ""; /* the checkpoint's run, where its store was another */
        if (rt != ti || re != ei || strcmp(rs, es) != 0)
            snprintf(then, sizeof then, " (its checkpoint's run on %lld and %lld of %s)",
                     (long long)rt, (long long)re, rs[0] ? rs : "none");
        return cxr_set_error(CXR_E_FORMAT,
                             "--log %s: its last run trained on %lld images and evaluated on "
                             "%lld of %s; this run trains on %lld and evaluates on %lld of %s%s: "
                             "another store's log, not appended to; give that run's log, or "
                             "another --log",
                             o->io.log_path, (long long)t.train_images,
                             (long long)t.eval_images, t.eval_split[0] ? t.eval_split : "none",
                             (long long)ti, (long long)ei, es[0] ? es : "none", then);
    }
    /* ... or the same recipe, seed and batch with other settings (--lr, --augment, ...): another
     * run that wrote this log since, its lines not this run's */
    char kernels[512], model[256], why[1024]; /* two augment specs fit */
    cxr_log_run_line mine = run_line(r, be, kernels, model);
    /* as the checkpoint's run had them: its step decay interval (adopted once the steps are
     * known, open_run_io) and a selection this store cannot make (dropped, with a warning) */
    mine.lr_step_every = r->rc.ck_step_every;
    if (r->rc.ck_dropped != CXR_SELECT_NONE) mine.select = cxr_select_name(r->rc.ck_dropped);
    if (cxr_trainlog_recipe_differs(&t, &mine, why, sizeof why) == CXR_OK && why[0])
        return cxr_set_error(CXR_E_FORMAT,
                             "--log %s: its last run trained with another recipe than %s's run "
                             "(%s): another run's log, not appended to; give that run's log, or "
                             "another --log",
                             o->io.log_path, o->io.resume_path, why);
    /* another CPU path (a knob of specs/model.md, another CPU) or GPU library: the log's run
     * line records the kernels, the checkpoint does not */
    if (t.kernels[0] && kernels[0] && strcmp(same_kernels(t.kernels), same_kernels(kernels)) != 0)
        note(o,
             "warning: resume %s: its run (--log %s) ran on \"%s\", this one runs on \"%s\": "
             "losses may differ from an uninterrupted run in the last bits",
             o->io.resume_path, o->io.log_path, t.kernels, kernels);
    if (r->rc.start_epoch > 0 && !t.has_epoch)
        note(o,
             "warning: --log %s: no line of it is for epoch %d, where %s is (its last is for "
             "epoch %d): an older copy of the log? The epochs between have no line",
             o->io.log_path, r->rc.start_epoch, o->io.resume_path, t.last_epoch);
    return CXR_OK;
}

/* The checkpoint's record of the run's state after `done` epochs. */
static void update_meta(train_run *r, int done)
{
    cxr_checkpoint_meta *m = &r->meta;
    const run_recipe *rc = &r->rc;
    m->epoch = done;
    m->adam = rc->adam;
    m->threshold = rc->threshold;
    snprintf(m->threshold_split, sizeof m->threshold_split, "%s",
             rc->threshold_on_val ? "val" : "");
    snprintf(m->recipe, sizeof m->recipe, "%s", rc->name);
    snprintf(m->schedule, sizeof m->schedule, "%s", cxr_lr_schedule_name(rc->sched.kind));
    m->warmup_steps = rc->sched.warmup;
    m->lr_step_every = rc->sched.step_every;
    m->lr_gamma = rc->sched.step_gamma;
    snprintf(m->select, sizeof m->select, "%s", cxr_select_name(rc->select));
    m->patience = rc->patience;
    m->best_epoch = rc->best_epoch;
    m->best_value = rc->best_value;
    m->average_count = rc->average_count;
    snprintf(m->stopped, sizeof m->stopped, "%s", patience_ran_out(rc, done) ? "patience" : "");
}

static void report_epoch(const train_run *r, const cxr_log_epoch *rec)
{
    const cxr_train_options *o = r->o;
    if (!o->cb.on_epoch) return;
    cxr_epoch_summary s = {
        .epoch = rec->epoch,
        .epochs = r->rc.epochs,
        .train_loss = rec->train_loss,
        .train_acc = rec->train_acc,
        .eval_loss = rec->eval_loss,
        .eval_acc = rec->eval_acc,
        .auc = rec->auc,
        .f1 = rec->f1,
        .epoch_s = rec->epoch_s,
        .eval_s = rec->eval_s,
        .images_per_s = rec->images_per_s,
        .data_wait_s = rec->data_wait_s,
        .data_wait_frac = rec->data_wait_frac,
        .n_classes = r->n_classes,
        .steps = rec->steps,
    };
    o->cb.on_epoch(o->cb.user, &s);
}

/* Weight averaging (specs/model.md "Weight averaging"): from epoch average_from on, the mean
 * of the weights at the ends of the epochs so far (a running mean in float, a += (w - a) / k;
 * the first epoch's weights exactly) takes the training weights' place in the model for the
 * epoch's evaluation, and so for the threshold and selection made on it. 1 when the model now
 * holds the mean (restore_weights puts the training weights back). */
static cxr_status average_weights(train_run *r, int e, int *holds_average)
{
    run_recipe *rc = &r->rc;
    *holds_average = 0;
    if (rc->average_from < 1 || e + 1 < rc->average_from) return CXR_OK;
    const size_t np = cxr_model_n_params(r->model);
    if (!r->average) r->average = calloc(np, sizeof(float));
    if (!r->weights) r->weights = malloc(np * sizeof(float));
    if (!r->average || !r->weights)
        return cxr_set_error(CXR_E_NOMEM,
                             "train: out of memory for the weights' average (2 x %zu floats)", np);
    cxr_status st = cxr_model_get_block(r->model, CXR_BLOCK_PARAMS, r->weights);
    if (st != CXR_OK) return st;
    const int k = ++rc->average_count;
    float *a = r->average;
    const float *w = r->weights, kf = (float)k;
    if (k == 1)
        memcpy(a, w, np * sizeof(float));
    else
        for (size_t i = 0; i < np; i++) a[i] += (w[i] - a[i]) / kf;
    *holds_average = 1;
    return cxr_model_set_block(r->model, CXR_BLOCK_PARAMS, a);
}

/* The training weights back into the model after the mean was evaluated. */
static cxr_status restore_weights(train_run *r, int holds_average)
{
    return holds_average ? cxr_model_set_block(r->model, CXR_BLOCK_PARAMS, r->weights) : CXR_OK;
}

/* A checkpoint of the run: the training state, and the weights' mean once there is one. */
static cxr_status save_checkpoint(train_run *r, const char *path)
{
    const cxr_status st = r->rc.average_count > 0
                              ? cxr_checkpoint_save_averaged(path, r->model, &r->meta, r->average)
                              : cxr_checkpoint_save(path, r->model, &r->meta);
    /* the epoch the failure ends (its summary line is never printed) */
    return st == CXR_OK ? st : cxr_wrap_error(st, "epoch %d", r->meta.epoch);
}

/* Epoch e (0-based): train, evaluate, checkpoint, log, report. */
static cxr_status run_epoch(train_run *r, int e)
{
    cxr_status st = CXR_OK;
    cxr_metrics_report rep;
    memset(&rep, 0, sizeof rep);
    cxr_log_epoch rec;
    memset(&rec, 0, sizeof rec);
    for (int i = 0; i < cxr_log_epoch_n_result_fields; i++)
        *cxr_log_num(&rec, &cxr_log_epoch_result_fields[i]) = NAN;
    rec.gpu_mem_used_mb = NAN;
    rec.epoch = e + 1;
    if (r->mon) {
        cxr_monitor_summary junk;
        cxr_monitor_set_epoch(r->mon, e + 1);
        cxr_monitor_summary_reset(r->mon, &junk); /* start the epoch's period */
    }
    rec.threshold = NAN;
    rec.best_value = NAN;
    CXR_TRY(train_epoch(r, e, &rec));
    int averaged = 0;
    CXR_TRY(average_weights(r, e, &averaged));
    if (averaged) rec.averaged = r->rc.average_count;
    double value = NAN;
    /* a threshold belongs to the weights it was chosen for: after this epoch's training only
     * one chosen on val now stands (without val, one resumed from a checkpoint is dropped, said
     * once it is) */
    const double dropped =
        r->rc.threshold_on_val && strcmp(r->eval_split ? r->eval_split : "", "val") != 0
            ? r->rc.threshold
            : NAN;
    r->rc.threshold = 0.5;
    r->rc.threshold_on_val = 0;
    if (r->eval_split) st = eval_epoch(r, &rec, &rep, &value);
    if (st == CXR_E_INTERRUPTED && !r->finishing) {
        /* a signal met in the evaluation: the epoch's steps are all done, so it is finished
         * (evaluated again from the start, logged, saved) before the run stops, as for one in
         * its last step, rather than thrown away with its training (minutes on a CPU); a
         * second signal stops it now */
        r->finishing = 1;
        note(r->o,
             "interrupt: epoch %d's steps are done; evaluating and saving it first (a second "
             "signal stops now)",
             e + 1);
        st = eval_epoch(r, &rec, &rep, &value); /* finishing: not interrupted */
    }
    if (st == CXR_OK) st = restore_weights(r, averaged);
    if (st != CXR_OK) goto bail;
    const int improved = cxr_select_improves(r->rc.select, value, r->rc.best_value);
    if (improved) r->rc.best_epoch = e + 1, r->rc.best_value = value;
    update_meta(r, e + 1);
    if (r->rc.select != CXR_SELECT_NONE) {
        rec.best_epoch = r->rc.best_epoch;
        rec.best_value = r->rc.best_value;
    }
    if (r->meta.stopped[0]) rec.stopped = r->meta.stopped;
    /* the log's line before the checkpoints: a run killed between them replays this epoch
     * on its resume and logs it again (readers keep an epoch's last line, specs/log.md); the
     * other order lost the epoch's line for good (the resume starts after it) */
    if (r->log) {
        cxr_cuda_ctx *cu = cxr_backend_cuda_context(cxr_model_backend(r->model));
        size_t mfree = 0, mtotal = 0;
        if (cu && cxr_cuda_mem_info(cu, &mfree, &mtotal) == CXR_OK)
            rec.gpu_mem_used_mb = (double)(mtotal - mfree) / 1048576.0;
        rec.step_total = cxr_model_get_step(r->model);
        if (r->mon) {
            cxr_monitor_summary_reset(r->mon, &rec.monitor);
            rec.has_monitor = 1;
        }
        CXR_TRY(cxr_trainlog_write_epoch(r->log, &rec));
    }
    /* this run's samples file replaces an earlier one from here, as its log did at the epoch
     * line: a checkpoint failing below leaves both files of this run */
    if (r->samples_kept.path) {
        st = cxr_tmpfile_commit(&r->samples_kept);
        cxr_tmpfile_discard(&r->samples_kept);
        if (st != CXR_OK) {
            cxr_wrap_error(st, "--monitor-log %s: this run's samples, written beside it, cannot "
                               "replace it",
                           r->o->io.monitor_log);
            goto bail;
        }
    }
    /* the best model before the last checkpoint, so that a crash between them replays this
     * epoch */
    if (improved && r->best_path[0]) {
        CXR_TRY(save_checkpoint(r, r->best_path));
        r->best_saved = e + 1;
        note(r->o, "epoch %d: best %s so far (%.6g), saved to %s", e + 1,
             cxr_select_name(r->rc.select), value, r->best_path);
    }
    if (r->o->io.checkpoint_path) CXR_TRY(save_checkpoint(r, r->o->io.checkpoint_path));
    r->saved = 1;
    if (!isnan(dropped))
        note(r->o,
             "the checkpoint's threshold %.6g was chosen on val for its weights; %s has no val to "
             "choose one for the weights trained now, so 0.5 is stored",
             dropped, r->o->io.store_path);
    if (r->mon) CXR_TRY(cxr_monitor_status(r->mon)); /* --monitor-log: now, not after the run */
    report_epoch(r, &rec);
bail:
    cxr_metrics_report_free(&rep);
    return st;
}

/* Early stopping found on a resume, after `done` epochs and before any of its own: the
 * checkpoint says stopped = "patience" with this run's patience, the log has a stop line. */
static cxr_status record_stop(train_run *r, int done)
{
    cxr_status st = CXR_OK;
    update_meta(r, done);
    if (r->o->io.checkpoint_path) CXR_TRY(save_checkpoint(r, r->o->io.checkpoint_path));
    if (r->log)
        CXR_TRY(cxr_trainlog_write_stop(r->log, done, r->meta.stopped, r->rc.best_epoch,
                                        r->rc.best_value));
bail:
    return st;
}

/* Release everything; a failure to close the log becomes the run's error if it had none. */
static cxr_status run_close(train_run *r, cxr_status st)
{
    cxr_status cs = cxr_trainlog_close(r->log);
    if (st == CXR_OK) st = cs;
    /* no epoch done: this run's samples file removed, the earlier one as it was */
    cxr_tmpfile_discard(&r->samples_kept);
    cxr_monitor_destroy(r->mon);
    cxr_metrics_destroy(r->met);
    source_close(&r->src);
    cxr_model_destroy(r->model);
    cxr_store_close(r->store);
    cxr_checkpoint_meta_free(&r->meta);
    free(r->average);
    free(r->weights);
    return st;
}

/* A fresh run into a file that holds an earlier run's model replaces it: said, not silent,
 * with the resume that would continue that run (a checkpoint, not a weights file, with epochs
 * left and not stopped early, and a name that can be pasted). */
static void note_earlier_model(const cxr_train_options *o)
{
    cxr_checkpoint_meta was;
    memset(&was, 0, sizeof was);
    char q[4 * 4096 + 5];
    if (cxr_checkpoint_read_meta(o->io.checkpoint_path, &was) == CXR_OK) {
        const char *w = was.epoch < was.epochs && !was.stopped[0] &&
                                cxr_checkpoint_resumable(&was, o->io.checkpoint_path) == CXR_OK
                            ? paste_word(q, sizeof q, o->io.checkpoint_path)
                            : NULL;
        note(o,
             "%s holds an earlier run's model (epoch %d of %d, seed %llu); this run replaces "
             "it when its first epoch is saved%s%s%s",
             o->io.checkpoint_path, was.epoch, was.epochs, (unsigned long long)was.seed,
             w ? " (--resume " : "", w ? w : "", w ? " would continue that run)" : "");
    } else {
        note(o,
             "%s exists and is no checkpoint this version reads; this run replaces it when "
             "its first epoch is saved",
             o->io.checkpoint_path);
    }
    cxr_checkpoint_meta_free(&was);
}

/* The run done: where its model is (the best epoch's, wherever it is), and the next command
 * (test is looked at once), when it can be pasted. A best epoch that no file holds (its model
 * gone or replaced before a resume, warned of then, and no later epoch better) is said too,
 * with where the last epoch is; nothing is said without a checkpoint (--no-checkpoint). */
static void note_done(const train_run *r)
{
    const cxr_train_options *o = r->o;
    char at[4096];
    best_model_now(r, at, sizeof at);
    const char *model = r->rc.best_epoch > 0 ? (at[0] ? at : NULL) : o->io.checkpoint_path;
    if (!model) {
        if (r->rc.best_epoch > 0 && o->io.checkpoint_path)
            note(o,
                 "done: no file holds the best epoch, %d (%s %.6g), as warned above (%s is "
                 "written when a later epoch does better); %s holds the last epoch",
                 r->rc.best_epoch, cxr_select_name(r->rc.select), r->rc.best_value, r->best_path,
                 o->io.checkpoint_path);
        return;
    }
    char qm[4 * 4096 + 5], qs[4 * 4096 + 5], what[128];
    if (r->rc.best_epoch > 0)
        snprintf(what, sizeof what, "the best epoch, %d (%s %.6g)", r->rc.best_epoch,
                 cxr_select_name(r->rc.select), r->rc.best_value);
    else
        snprintf(what, sizeof what, "the last epoch");
    const int test = r->content.n[2] > 0; /* (a store without test images: no command to paste) */
    const char *wm = test ? paste_word(qm, sizeof qm, model) : NULL,
               *ws = test ? paste_word(qs, sizeof qs, o->io.store_path) : NULL;
    note(o, "done: %s holds %s%s%s%s%s%s", model, what,
         wm && ws ? "; judge it on test once: cxr-eval " : "", wm && ws ? wm : "",
         wm && ws ? " " : "", wm && ws ? ws : "", wm && ws ? " --split test" : "");
    if (r->stale_best[0]) /* its own line: after the long one above, it would be cut */
        note(o, "%s, beside it, is an earlier run's best model, not this run's", r->stale_best);
}

cxr_status cxr_train_run(const cxr_train_options *o, cxr_backend *be)
{
    cxr_status st = CXR_OK;
    const cxr_train_recipe_options *ro = &o->recipe;
    if (!o->io.store_path) return cxr_set_error(CXR_E_ARG, "train: no store given");
    if (ro->epochs < 0 || ro->batch < 0 || !(ro->lr >= 0) || o->compute.threads < 1)
        return cxr_set_error(CXR_E_ARG, "train: epochs, batch, threads must be >= 1 and lr > 0");
    train_run r;
    memset(&r, 0, sizeof r);
    cxr_tmpfile_init(&r.samples_kept);
    r.o = o;
    CXR_TRY(open_store(&r));
    CXR_TRY(resolve_recipe(&r));
    CXR_TRY(create_model(&r, be));
    CXR_TRY(fill_checkpoint_meta(&r));
    CXR_TRY(check_resume_log(&r, be)); /* before open_monitor touches the samples file */
    CXR_TRY(open_run_io(&r));
    /* a resume with nothing to train (its epochs done, said above, or its patience run out and
     * recorded) appends no run line: the log holds runs (a stop recorded now, below, is one) */
    const int trains = run_trains(&r.rc);
    /* the checks are done: what the caller says of its files now precedes no refusal */
    if (o->cb.on_ready) o->cb.on_ready(o->cb.user, trains);
    CXR_TRY(open_monitor(&r));
    /* a checkpoint there that this run replaces: a fresh run's, or a resume's into another
     * file (a branch from a best model over another run's checkpoint went unsaid) */
    if (o->io.checkpoint_path && trains && !o->io.checkpoint_reserved &&
        access(o->io.checkpoint_path, F_OK) == 0 &&
        (!o->io.resume_path || !cxr_same_output(o->io.checkpoint_path, o->io.resume_path))) {
        r.earlier = 1;
        note_earlier_model(o);
    }
    if (r.rc.select != CXR_SELECT_NONE && o->io.checkpoint_path) {
        CXR_TRY(cxr_train_best_path(o->io.checkpoint_path, r.best_path, sizeof r.best_path));
        if (trains) /* not after a resume's "nothing to do" */
            note(o, "model selection: the best epoch by %s is kept in %s (--resume uses %s)",
                 cxr_select_name(r.rc.select), r.best_path, o->io.checkpoint_path);
        /* where the best epoch so far is: said on a resume into another checkpoint (it stays
         * where it is), and warned about when the resumed run's own best model is missing or
         * holds another model (deleted, or replaced since) */
        char was[4096] = "";
        if (o->io.resume_path && r.rc.best_epoch > 0 &&
            resumed_best_path(&r, was, sizeof was) != CXR_OK)
            was[0] = '\0';
        const int held = was[0] && holds_best(&r, was), there = was[0] && access(was, F_OK) == 0;
        if (was[0] && (!held || strcmp(was, r.best_path) != 0)) {
            note(o,
                 "%sthe best epoch so far (%d, %s %.6g) is %s %s%s; %s is written only when a "
                 "later epoch does better",
                 held ? "" : "warning: ", r.rc.best_epoch, cxr_select_name(r.rc.select),
                 r.rc.best_value,
                 held    ? "in"
                 : there ? "not in"
                         : "not found at",
                 was, !held && there ? " (it holds another model)" : "", r.best_path);
        }
    }
    if (trains && r.rc.select != CXR_SELECT_NONE && !o->io.checkpoint_path && o->recipe.select)
        note(o, /* asked for, and nothing to keep it in: said (the log still names the epoch) */
             "model selection by %s: no best model is kept (--no-checkpoint); the log's epoch "
             "lines name the best epoch",
             cxr_select_name(r.rc.select));
    if (r.rc.select == CXR_SELECT_NONE && o->io.checkpoint_path && !o->io.resume_path &&
        cxr_train_best_path(o->io.checkpoint_path, r.stale_best, sizeof r.stale_best) == CXR_OK) {
        /* it would pass for this run's best model: said here and when the run is done */
        if (access(r.stale_best, F_OK) == 0)
            note(o,
                 "warning: %s, beside the checkpoint, is an earlier run's best model; this run "
                 "keeps none (no model selection), so it stays as it is, not this run's",
                 r.stale_best);
        else
            r.stale_best[0] = '\0';
    }
    /* mixup pairs (i, n-1-i) of a batch: i with itself at batch 1 */
    if (trains && r.rc.mixup > 0 && r.rc.batch == 1)
        note(o, "warning: mixup pairs the images of a batch; at batch 1 each is paired with "
                "itself, and nothing is mixed");
    if (trains && r.rc.average_from > 0 && r.rc.average_from <= r.rc.epochs)
        note(o,
             "weight averaging: from epoch %d on, the mean of the epoch-end weights is "
             "evaluated, selected and saved (/average in the checkpoints: the model cxr-eval, "
             "cxr-predict and cxr-export read)",
             r.rc.average_from);
    if (o->io.log_path && trains) CXR_TRY(log_run(&r, be));
    if (!r.eval_split) note(o, "%s has no image in /val or /test: no evaluation", o->io.store_path);
    for (int e = r.rc.start_epoch; e < r.rc.epochs; e++) {
        if (patience_ran_out(&r.rc, e)) {
            /* a resume whose smaller --patience stops it before it trains: recorded as a run
             * stopped at that epoch would have been, so that the stop lasts (a later resume
             * without --patience trains nothing) and the log says so */
            if (stop_to_record(&r.rc, e)) CXR_TRY(record_stop(&r, e));
            char at[4096];
            best_model_now(&r, at, sizeof at);
            char best[64] = "no epoch had a defined value"; /* best_epoch 0: none yet */
            if (r.rc.best_epoch > 0)
                snprintf(best, sizeof best, "the best is epoch %d (%.6g)", r.rc.best_epoch,
                         r.rc.best_value);
            note(o,
                 "early stopping after epoch %d: no better %s for %d epoch%s (--patience %d); "
                 "%s%s%s",
                 e, cxr_select_name(r.rc.select), since_best(&r.rc, e),
                 since_best(&r.rc, e) == 1 ? "" : "s", r.rc.patience, best, at[0] ? ", in " : "",
                 at);
            break;
        }
        if (o->cb.interrupted && *o->cb.interrupted) { /* e.g. while the last epoch was saved */
            char hint[CXR_MSG_MAX];
            CXR_THROW(CXR_E_INTERRUPTED, "interrupted before epoch %d; %s", e + 1,
                      resume_hint(&r, e, hint, sizeof hint));
        }
        r.saved = 0;
        if ((st = run_epoch(&r, e)) == CXR_E_IO) { /* a full disk: where the run stands */
            char hint[CXR_MSG_MAX];
            cxr_set_error(st, "%s; %s", cxr_last_error(),
                          resume_hint(&r, e + r.saved, hint, sizeof hint));
        }
        if (st != CXR_OK) goto bail;
        r.trained++;
    }
    if (r.rc.select != CXR_SELECT_NONE && r.rc.best_epoch == 0 && r.rc.epochs > r.rc.start_epoch) {
        const int earlier = r.best_path[0] && access(r.best_path, F_OK) == 0; /* not this run's */
        note(o, "warning: no epoch had a defined %s on val, so no best model was written%s%s%s",
             cxr_select_name(r.rc.select), earlier ? "; " : "", earlier ? r.best_path : "",
             earlier ? " is an earlier run's model, not this run's (the log's best_model names "
                       "where this run's would be; its epoch lines name no best_epoch)"
                     : "");
    }
    if (r.mon) CXR_TRY(cxr_monitor_stop(r.mon));
    if (r.trained > 0) note_done(&r);
    /* a signal met as the last epoch ended (finished first, edb6d85): the run is complete, and
     * the exit says it was interrupted all the same */
    if (o->cb.interrupted && *o->cb.interrupted)
        CXR_THROW(CXR_E_INTERRUPTED, "interrupted as the run's last epoch ended: it is complete");
bail:
    return run_close(&r, st);
}
