/* trainer.c: the training loop behind cxr_trainer.h: device selection, per-epoch training with
 * the shard loader, evaluation with metrics, the JSON Lines log (specs/log.md), resource
 * monitor summaries and per-epoch checkpoints; resume continues from a checkpoint exactly.
 */
#include "cxr_trainer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "cxr_checkpoint.h"
#include "cxr_clock.h"
#include "cxr_loader.h"
#include "cxr_monitor.h"
#include "cxr_backend_cuda.h"
#include "cxr_cuda.h"

/* ---------------------------------------------------------------- devices */
#ifdef CXR_HAVE_CUDA
cxr_status cxr_backend_cuda_create(cxr_backend **out, int device);
#endif

cxr_status cxr_device_open(cxr_backend **out, const char *spec, int threads, char *desc,
                           size_t desc_cap, char *note, size_t note_cap)
{
    *out = NULL;
    if (note_cap) note[0] = 0;
    int want_cuda = 0, is_auto = 0, dev = 0;
    if (!spec || strcmp(spec, "auto") == 0) {
        is_auto = 1;
    } else if (strcmp(spec, "cpu") == 0) {
    } else if (strcmp(spec, "cuda") == 0) {
        want_cuda = 1;
    } else if (strncmp(spec, "cuda:", 5) == 0) {
        char *end;
        long v = strtol(spec + 5, &end, 10);
        if (*end || v < 0 || v > 64)
            return cxr_set_error(CXR_E_ARG, "--device %s: bad GPU index", spec);
        want_cuda = 1;
        dev = (int)v;
    } else {
        return cxr_set_error(CXR_E_ARG, "--device %s: expected auto, cpu or cuda", spec);
    }
    if (want_cuda || is_auto) {
#ifdef CXR_HAVE_CUDA
        cxr_status st = cxr_backend_cuda_create(out, dev);
        if (st == CXR_OK) {
            snprintf(desc, desc_cap, "cuda:%d", dev);
            if (is_auto) snprintf(note, note_cap, "device auto: using the GPU (cuda:%d)", dev);
            return CXR_OK;
        }
        if (!is_auto) return cxr_wrap_error(st, "--device %s", spec);
        /* the message already reads "no usable GPU: <reason>" */
        snprintf(note, note_cap, "device auto: %s; using the CPU", cxr_last_error());
#else
        (void)dev;
        if (!is_auto)
            return cxr_set_error(
                CXR_E_UNSUPPORTED,
                "--device %s: built without CUDA "
                "(reconfigure with -DCXR_CUDA=ON on a machine with the CUDA toolkit)",
                spec);
        snprintf(note, note_cap, "device auto: built without CUDA; using the CPU");
#endif
    }
    cxr_status st = cxr_backend_cpu_create(out, threads);
    if (st != CXR_OK) return st;
    snprintf(desc, desc_cap, "cpu (%d threads)", threads);
    return CXR_OK;
}

/* ---------------------------------------------------------------- evaluation */
/* Class-weighted cross-entropy of one batch from logits, in double: sums into *num, *den. */
static void weighted_ce(const float *logits, const int32_t *labels, const float *cw, int n, int C,
                        double *num, double *den)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * C;
        double mx = z[0], s = 0;
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < C; c++) s += exp((double)z[c] - mx);
        double ce = -((double)z[labels[i]] - mx - log(s));
        double w = cw ? cw[labels[i]] : 1.0;
        *num += w * ce;
        *den += w;
    }
}

cxr_status cxr_evaluate(cxr_model *m, const cxr_store *store, const char *split, int batch,
                        int threads, int prefetch, const float *class_weights,
                        volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                        cxr_eval_result *res)
{
    return cxr_evaluate_ex(m, store, split, batch, threads, prefetch, class_weights, interrupted,
                           metrics, res, NULL, NULL);
}

cxr_status cxr_evaluate_ex(cxr_model *m, const cxr_store *store, const char *split, int batch,
                           int threads, int prefetch, const float *class_weights,
                           volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                           cxr_eval_result *res, cxr_eval_hook hook, void *user)
{
    cxr_status st = CXR_OK;
    cxr_loader *l = NULL;
    const cxr_model_config *c = cxr_model_get_config(m);
    float *probs = NULL, *logits = NULL;
    double t0 = cxr_now_s(), num = 0, den = 0;
    memset(res, 0, sizeof *res);
    if (batch > c->batch_capacity) batch = c->batch_capacity;
    cxr_loader_options lo;
    cxr_loader_options_defaults(&lo);
    lo.batch = batch;
    lo.shuffle = 0;
    lo.threads = threads > 0 ? threads : 1;
    lo.prefetch = prefetch;
    cxr_split_info info;
    CXR_TRY(cxr_store_split(store, split, &info));
    if (info.size != c->image_size)
        CXR_THROW(CXR_E_MISMATCH, "%s: split '%s' has %dx%d images, the model expects %dx%d",
                  cxr_store_path(store), split, info.size, info.size, c->image_size, c->image_size);
    if (cxr_store_n_classes(store) != c->n_classes)
        CXR_THROW(CXR_E_MISMATCH, "%s: %d classes, the model has %d", cxr_store_path(store),
                  cxr_store_n_classes(store), c->n_classes);
    CXR_TRY(cxr_loader_create(&l, store, split, &lo));
    probs = malloc((size_t)batch * c->n_classes * sizeof *probs);
    logits = malloc((size_t)batch * c->n_classes * sizeof *logits);
    if (!probs || !logits) CXR_THROW(CXR_E_NOMEM, "evaluate: out of memory");
    CXR_TRY(cxr_loader_begin_epoch(l, 0));
    for (;;) {
        cxr_batch b;
        CXR_TRY(cxr_loader_next_batch(l, &b));
        if (b.n == 0) break;
        CXR_TRY(cxr_model_forward(m, b.images, b.n, 0));
        CXR_TRY(cxr_model_probs(m, probs, b.n));
        CXR_TRY(cxr_model_logits(m, logits, b.n));
        CXR_TRY(cxr_metrics_add(metrics, probs, b.labels, b.n));
        if (hook) hook(user, b.n, b.indices, b.labels, probs);
        weighted_ce(logits, b.labels, class_weights, b.n, c->n_classes, &num, &den);
        if (interrupted && *interrupted) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    }
    res->loss = den > 0 ? num / den : NAN;
    res->wait_s = cxr_loader_wait_seconds(l);
bail:
    res->seconds = cxr_now_s() - t0;
    cxr_loader_destroy(l);
    free(probs);
    free(logits);
    return st;
}

/* ---------------------------------------------------------------- JSON helpers */
/* A float recipe value as its shortest decimal (0.01, not 0.00999999977648258). */
static double float_value(float f)
{
    char b[32];
    snprintf(b, sizeof b, "%.9g", (double)f);
    for (int p = 1; p <= 9; p++) {
        snprintf(b, sizeof b, "%.*g", p, (double)f);
        if ((float)strtod(b, NULL) == f) break;
    }
    return strtod(b, NULL);
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
}

/* Write one line and flush. */
static cxr_status log_line(FILE *f, const char *path, cJSON *o)
{
    if (!f) return CXR_OK;
    char *s = cJSON_PrintUnformatted(o);
    if (!s) return cxr_set_error(CXR_E_NOMEM, "log: out of memory");
    int ok = fprintf(f, "%s\n", s) >= 0 && fflush(f) == 0;
    cJSON_free(s);
    return ok ? CXR_OK : cxr_set_error(CXR_E_IO, "%s: cannot write the log", path);
}

static void add_metrics(cJSON *o, const cxr_metrics_report *r)
{
    add_num(o, "eval_acc", r->accuracy);
    add_num(o, "precision", r->pos_precision);
    add_num(o, "recall", r->pos_recall);
    add_num(o, "specificity", r->specificity);
    add_num(o, "f1", r->pos_f1);
    add_num(o, "auc", r->auc);
    add_num(o, "macro_f1", r->macro_f1);
    add_num(o, "balanced_accuracy", r->balanced_accuracy);
    cJSON *pc = cJSON_AddArrayToObject(o, "per_class");
    for (int c = 0; c < r->k; c++) {
        cJSON *e = cJSON_CreateObject();
        add_num(e, "precision", r->precision[c]);
        add_num(e, "recall", r->recall[c]);
        add_num(e, "f1", r->f1[c]);
        add_num(e, "auc", r->auc_ovr[c]);
        cJSON_AddItemToArray(pc, e);
    }
    cJSON *cm = cJSON_AddArrayToObject(o, "confusion");
    for (int i = 0; i < r->k; i++) {
        cJSON *row = cJSON_CreateArray();
        for (int j = 0; j < r->k; j++)
            cJSON_AddItemToArray(row,
                                 cJSON_CreateNumber((double)r->confusion[(size_t)i * r->k + j]));
        cJSON_AddItemToArray(cm, row);
    }
    if (r->k == 2 && r->n_roc > 0) {
        cJSON *roc = cJSON_AddArrayToObject(o, "roc");
        for (int64_t i = 0; i < r->n_roc; i++) {
            cJSON *p = cJSON_CreateArray();
            cJSON_AddItemToArray(p, cJSON_CreateNumber(r->roc_fpr[i]));
            cJSON_AddItemToArray(p, cJSON_CreateNumber(r->roc_tpr[i]));
            cJSON_AddItemToArray(roc, p);
        }
    }
}

/* ---------------------------------------------------------------- training */
void cxr_train_options_defaults(cxr_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 26;
    o->batch = 64;
    /* Not the study's 0.01: with Adam, dense1's fan-in (131072 at S = 256) makes 0.01 diverge
     * (specs/model.md "Learning rate"). */
    o->lr = 1e-4f;
    o->seed = 1;
    o->threads = omp_get_max_threads(); /* cores available, or OMP_NUM_THREADS */
    o->prefetch = 1;
    o->monitor = 1;
    o->monitor_gpu = -1;
    o->resident = -1;
    o->device_desc = "cpu";
    o->tool_version = "cxr-train " CXR_VERSION_STRING;
}

static void note(const cxr_train_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(const cxr_train_options *o, const char *fmt, ...)
{
    if (!o->on_note) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    o->on_note(o->user, buf);
}

cxr_status cxr_train_run(const cxr_train_options *o, cxr_backend *be)
{
    cxr_status st = CXR_OK;
    cxr_store *store = NULL;
    cxr_model *model = NULL;
    cxr_loader *tl = NULL;
    cxr_gpu_loader *gl = NULL;
    cxr_metrics *met = NULL;
    cxr_monitor *mon = NULL;
    FILE *logf = NULL;
    float *probs = NULL;
    int32_t *labels_k = NULL; /* GPU path: this step's labels, kept past the next batch's call */
    cJSON *line = NULL;
    cxr_checkpoint_meta meta, rmeta;
    cxr_metrics_report rep;
    memset(&meta, 0, sizeof meta);
    memset(&rmeta, 0, sizeof rmeta);
    memset(&rep, 0, sizeof rep);

    if (!o->store_path) return cxr_set_error(CXR_E_ARG, "train: no store given");
    if (o->epochs < 1 || o->batch < 1 || !(o->lr > 0) || o->threads < 1)
        return cxr_set_error(CXR_E_ARG, "train: epochs, batch, threads must be >= 1 and lr > 0");
    CXR_TRY(cxr_store_open(&store, o->store_path));
    if (!cxr_store_has_split(store, "train"))
        CXR_THROW(CXR_E_FORMAT, "%s: no /train split to train on", o->store_path);
    const char *eval_split = cxr_store_has_split(store, "val")    ? "val"
                             : cxr_store_has_split(store, "test") ? "test"
                                                                  : NULL;
    cxr_split_info tinfo, einfo;
    memset(&einfo, 0, sizeof einfo);
    CXR_TRY(cxr_store_split(store, "train", &tinfo));
    if (eval_split) CXR_TRY(cxr_store_split(store, eval_split, &einfo));
    if (tinfo.n == 0) CXR_THROW(CXR_E_FORMAT, "%s: /train is empty", o->store_path);
    const int C = cxr_store_n_classes(store);
    const float *cw = cxr_store_class_weights(store);

    /* recipe: the options, or the checkpoint's when resuming */
    int batch = o->batch, start_epoch = 0, epochs = o->epochs;
    uint64_t seed = o->seed;
    cxr_adam_params adam;
    cxr_adam_defaults(&adam);
    adam.lr = o->lr;
    cxr_model_config cfg;
    cxr_model_config_defaults(&cfg, C);
    if (o->resume_path) {
        CXR_TRY(cxr_checkpoint_read_meta(o->resume_path, &rmeta));
        if (rmeta.n_classes != C)
            CXR_THROW(CXR_E_MISMATCH, "resume %s: checkpoint has %d classes, store %s has %d",
                      o->resume_path, rmeta.n_classes, o->store_path, C);
        for (int c = 0; c < C; c++)
            if (strcmp(rmeta.class_names[c], cxr_store_class_name(store, c)) != 0)
                CXR_THROW(CXR_E_MISMATCH, "resume %s: class %d is '%s', store %s has '%s'",
                          o->resume_path, c, rmeta.class_names[c], o->store_path,
                          cxr_store_class_name(store, c));
        if (o->batch_set && o->batch != rmeta.batch)
            CXR_THROW(CXR_E_ARG, "resume %s: --batch %d differs from the checkpoint's %d",
                      o->resume_path, o->batch, rmeta.batch);
        if (o->seed_set && o->seed != rmeta.seed)
            CXR_THROW(CXR_E_ARG, "resume %s: --seed %llu differs from the checkpoint's %llu",
                      o->resume_path, (unsigned long long)o->seed, (unsigned long long)rmeta.seed);
        if (o->lr_set && o->lr != rmeta.adam.lr)
            CXR_THROW(CXR_E_ARG, "resume %s: --lr %g differs from the checkpoint's %g",
                      o->resume_path, o->lr, rmeta.adam.lr);
        cfg = rmeta.model;
        batch = rmeta.batch;
        seed = rmeta.seed;
        adam = rmeta.adam;
        start_epoch = rmeta.epoch;
        if (!o->epochs_set) epochs = rmeta.epochs;
        if (start_epoch >= epochs)
            note(o, "resume: %s already has %d of %d epochs; nothing to do", o->resume_path,
                 start_epoch, epochs);
    }
    cfg.image_size = tinfo.size;
    cfg.batch_capacity = batch;
    cfg.seed = seed;
    CXR_TRY(cxr_model_config_check(&cfg));
    CXR_TRY(cxr_model_create(&model, &cfg, be));
    CXR_TRY(cxr_model_set_threads(model, o->threads));
    cxr_cuda_ctx *cu = cxr_backend_cuda_context(be); /* NULL unless on the CUDA backend */
    if (o->precision) {
        cxr_precision prec;
        CXR_TRY(cxr_precision_parse(o->precision, &prec));
        CXR_TRY(cxr_backend_set_precision(be, prec));
    }
    if (o->resume_path) {
        CXR_TRY(cxr_checkpoint_load(o->resume_path, model, NULL));
        note(o, "resume: %s after epoch %d (step %lld)", o->resume_path, start_epoch,
             (long long)cxr_model_get_step(model));
    }

    /* checkpoint metadata */
    meta.model = cfg;
    meta.adam = adam;
    meta.epochs = epochs;
    meta.batch = batch;
    meta.threads = o->threads;
    meta.seed = seed;
    meta.threshold = 0.5;
    meta.pp = *cxr_store_preprocess(store);
    meta.n_classes = C;
    meta.class_names = calloc((size_t)C, sizeof(char *));
    if (!meta.class_names) CXR_THROW(CXR_E_NOMEM, "train: out of memory");
    for (int c = 0; c < C; c++)
        if (!(meta.class_names[c] = strdup(cxr_store_class_name(store, c))))
            CXR_THROW(CXR_E_NOMEM, "train: out of memory");
    snprintf(meta.store, sizeof meta.store, "%s", o->store_path);
    snprintf(meta.tool_version, sizeof meta.tool_version, "%s", o->tool_version);

    cxr_loader_options lo;
    cxr_loader_options_defaults(&lo);
    lo.batch = batch;
    lo.shuffle = 1;
    lo.seed = seed;
    lo.threads = o->threads;
    lo.prefetch = o->prefetch;
    if (cu) /* the loader's GPU half: batches land in the model's input on the device */
        CXR_TRY(
            cxr_gpu_loader_create(&gl, cu, store, "train", &lo, (cxr_resident_mode)o->resident));
    else
        CXR_TRY(cxr_loader_create(&tl, store, "train", &lo));
    CXR_TRY(cxr_metrics_create(&met, C));
    probs = malloc((size_t)batch * C * sizeof *probs);
    labels_k = malloc((size_t)batch * sizeof *labels_k);
    if (!probs || !labels_k) CXR_THROW(CXR_E_NOMEM, "train: out of memory");
    if (o->monitor || o->monitor_log)
        CXR_TRY(cxr_monitor_create(&mon, 1.0, o->monitor_log, o->monitor_gpu));

    if (o->log_path) {
        logf = fopen(o->log_path, o->resume_path ? "a" : "w");
        if (!logf) CXR_THROW(CXR_E_IO, "%s: cannot open the log for writing", o->log_path);
        line = cJSON_CreateObject();
        cJSON_AddStringToObject(line, "type", "run");
        cJSON_AddStringToObject(line, "tool", o->tool_version);
        cJSON_AddStringToObject(line, "store", o->store_path);
        cJSON_AddStringToObject(line, "device", o->device_desc ? o->device_desc : be->name);
        cJSON *cl = cJSON_AddArrayToObject(line, "classes");
        for (int c = 0; c < C; c++)
            cJSON_AddItemToArray(cl, cJSON_CreateString(cxr_store_class_name(store, c)));
        cJSON *r = cJSON_AddObjectToObject(line, "recipe");
        cJSON_AddNumberToObject(r, "epochs", epochs);
        cJSON_AddNumberToObject(r, "batch", batch);
        cJSON_AddNumberToObject(r, "lr", float_value(adam.lr));
        cJSON_AddNumberToObject(r, "seed", (double)seed);
        cJSON_AddNumberToObject(r, "threads", o->threads);
        cJSON_AddStringToObject(r, "precision", o->precision ? o->precision : "fp32");
        if (gl) cJSON_AddBoolToObject(r, "resident", cxr_gpu_loader_is_resident(gl));
        cJSON_AddBoolToObject(r, "prefetch", o->prefetch != 0);
        cJSON_AddNumberToObject(r, "keep_prob", float_value(cfg.keep_prob));
        cJSON_AddNumberToObject(r, "alpha", float_value(cfg.alpha));
        if (o->max_steps > 0) cJSON_AddNumberToObject(r, "max_steps", (double)o->max_steps);
        cJSON_AddNumberToObject(line, "train_images", (double)tinfo.n);
        cJSON_AddNumberToObject(line, "eval_images", (double)einfo.n);
        cJSON_AddStringToObject(line, "eval_split", eval_split ? eval_split : "");
        cJSON_AddNumberToObject(line, "image_size", tinfo.size);
        if (o->resume_path) {
            cJSON_AddStringToObject(line, "resumed_from", o->resume_path);
            cJSON_AddNumberToObject(line, "start_epoch", start_epoch + 1);
        }
        CXR_TRY(log_line(logf, o->log_path, line));
        cJSON_Delete(line);
        line = NULL;
    }
    if (!eval_split) note(o, "%s has neither /val nor /test: no evaluation", o->store_path);

    for (int e = start_epoch; e < epochs; e++) {
        if (mon) {
            cxr_monitor_summary junk;
            cxr_monitor_set_epoch(mon, e + 1);
            cxr_monitor_summary_reset(mon, &junk); /* start the epoch's period */
        }
        double t0 = cxr_now_s(), loss_num = 0, loss_den = 0;
        int64_t correct = 0, seen = 0, steps = 0;
        int64_t n_batches = gl ? cxr_gpu_loader_n_batches(gl) : cxr_loader_n_batches(tl);
        if (o->max_steps > 0 && n_batches > o->max_steps) n_batches = o->max_steps;
        CXR_TRY(gl ? cxr_gpu_loader_begin_epoch(gl, e) : cxr_loader_begin_epoch(tl, e));
        /* GPU: batch k+1 is asked for after step k is queued and before the host reads step
         * k's loss and probabilities (the only waits on the device), so its host-to-device
         * copy overlaps step k's compute; the loader writes it into the model input on the
         * compute stream, after step k. Same batches, same order, same results. */
        cxr_gpu_batch gb = { 0 };
        if (gl) CXR_TRY(cxr_gpu_loader_next(gl, cxr_model_input(model), &gb));
        for (;;) {
            if (o->max_steps > 0 && steps >= o->max_steps) break;
            cxr_batch b;
            float loss;
            if (gl) {
                if (gb.n == 0) break;
                memset(&b, 0, sizeof b);
                b.n = gb.n; /* images NULL: already in cxr_model_input */
                memcpy(labels_k, gb.labels, (size_t)gb.n * sizeof *labels_k);
                b.labels = labels_k;
                CXR_TRY(cxr_model_forward(model, NULL, b.n, 1));
                CXR_TRY(cxr_model_loss_backward(model, gb.labels, cw, b.n, NULL));
                CXR_TRY(cxr_model_step(model, &adam));
                if (o->max_steps <= 0 || steps + 1 < o->max_steps)
                    CXR_TRY(cxr_gpu_loader_next(gl, cxr_model_input(model), &gb));
                else
                    gb.n = 0;
                CXR_TRY(cxr_model_probs(model, probs, b.n));
                CXR_TRY(cxr_model_last_loss(model, &loss));
            } else {
                CXR_TRY(cxr_loader_next_batch(tl, &b));
                if (b.n == 0) break;
                CXR_TRY(cxr_model_forward(model, b.images, b.n, 1));
                CXR_TRY(cxr_model_loss_backward(model, b.labels, cw, b.n, &loss));
                CXR_TRY(cxr_model_step(model, &adam));
                CXR_TRY(cxr_model_probs(model, probs, b.n));
            }
            double wsum = 0;
            for (int i = 0; i < b.n; i++) {
                const float *p = probs + (size_t)i * C;
                int arg = 0;
                for (int c = 1; c < C; c++)
                    if (p[c] > p[arg]) arg = c;
                correct += arg == b.labels[i];
                wsum += cw ? cw[b.labels[i]] : 1.0;
            }
            if (!isfinite(loss))
                CXR_THROW(CXR_E_INTERNAL,
                          "epoch %d step %lld: the loss is %g (training diverged; "
                          "try a smaller --lr)",
                          e + 1, (long long)steps + 1, loss);
            loss_num += (double)loss * wsum;
            loss_den += wsum;
            seen += b.n;
            steps++;
            if (o->on_progress) {
                cxr_train_progress p = { e + 1,
                                         epochs,
                                         steps,
                                         n_batches,
                                         seen,
                                         loss_num / loss_den,
                                         (double)correct / (double)seen,
                                         0,
                                         cxr_now_s() - t0 };
                p.images_per_s = p.elapsed_s > 0 ? (double)seen / p.elapsed_s : 0;
                o->on_progress(o->user, &p);
            }
            if (o->interrupted && *o->interrupted)
                CXR_THROW(CXR_E_INTERRUPTED,
                          "interrupted in epoch %d after step %lld; the last "
                          "checkpoint holds epoch %d",
                          e + 1, (long long)steps, e);
        }
        double epoch_s = cxr_now_s() - t0;
        double wait_s = gl ? cxr_gpu_loader_wait_seconds(gl) : cxr_loader_wait_seconds(tl);

        cxr_epoch_summary sum;
        memset(&sum, 0, sizeof sum);
        sum.epoch = e + 1;
        sum.epochs = epochs;
        sum.train_loss = loss_den > 0 ? loss_num / loss_den : NAN;
        sum.train_acc = seen ? (double)correct / (double)seen : NAN;
        sum.epoch_s = epoch_s;
        sum.images_per_s = epoch_s > 0 ? (double)seen / epoch_s : 0;
        sum.data_wait_s = wait_s;
        sum.data_wait_frac = epoch_s > 0 ? wait_s / epoch_s : 0;
        sum.steps = steps;
        sum.eval_loss = sum.eval_acc = sum.auc = sum.f1 = NAN;

        cxr_metrics_reset(met);
        cxr_eval_result er;
        memset(&er, 0, sizeof er);
        if (eval_split) {
            CXR_TRY(cxr_evaluate(model, store, eval_split, batch, o->threads, o->prefetch, cw,
                                 o->interrupted, met, &er));
            CXR_TRY(cxr_metrics_compute(met, 0.5, &rep));
            sum.eval_loss = er.loss;
            sum.eval_acc = rep.accuracy;
            sum.auc = rep.auc;
            sum.f1 = rep.pos_f1;
            sum.eval_s = er.seconds;
        }

        /* checkpoint first, so the log never mentions an epoch that has no checkpoint */
        if (o->checkpoint_path) {
            meta.epoch = e + 1;
            CXR_TRY(cxr_checkpoint_save(o->checkpoint_path, model, &meta));
        }
        if (logf) {
            line = cJSON_CreateObject();
            cJSON_AddStringToObject(line, "type", "epoch");
            cJSON_AddNumberToObject(line, "epoch", e + 1);
            add_num(line, "train_loss", sum.train_loss);
            add_num(line, "train_acc", sum.train_acc);
            if (eval_split) {
                add_num(line, "eval_loss", er.loss);
                add_metrics(line, &rep);
            }
            add_num(line, "epoch_s", epoch_s);
            add_num(line, "eval_s", er.seconds);
            add_num(line, "images_per_s", sum.images_per_s);
            add_num(line, "data_wait_s", wait_s);
            add_num(line, "data_wait_frac", sum.data_wait_frac);
            size_t mfree = 0, mtotal = 0;
            if (cu && cxr_cuda_mem_info(cu, &mfree, &mtotal) == CXR_OK)
                add_num(line, "gpu_mem_used_mb", (double)(mtotal - mfree) / 1048576.0);
            cJSON_AddNumberToObject(line, "steps", (double)steps);
            cJSON_AddNumberToObject(line, "step_total", (double)cxr_model_get_step(model));
            if (mon) {
                cxr_monitor_summary ms;
                char buf[2048];
                cxr_monitor_summary_reset(mon, &ms);
                if (cxr_monitor_summary_json(&ms, buf, sizeof buf) < sizeof buf) {
                    cJSON *mj = cJSON_Parse(buf);
                    if (mj) cJSON_AddItemToObject(line, "monitor", mj);
                }
            }
            CXR_TRY(log_line(logf, o->log_path, line));
            cJSON_Delete(line);
            line = NULL;
        }
        cxr_metrics_report_free(&rep);
        if (o->on_epoch) o->on_epoch(o->user, &sum);
    }
    if (mon) CXR_TRY(cxr_monitor_stop(mon));
bail:
    cJSON_Delete(line);
    cxr_metrics_report_free(&rep);
    if (logf && fclose(logf) != 0 && st == CXR_OK)
        st = cxr_set_error(CXR_E_IO, "%s: cannot close the log", o->log_path);
    cxr_monitor_destroy(mon);
    cxr_metrics_destroy(met);
    cxr_loader_destroy(tl);
    cxr_gpu_loader_destroy(gl);
    cxr_model_destroy(model);
    cxr_store_close(store);
    cxr_checkpoint_meta_free(&meta);
    cxr_checkpoint_meta_free(&rmeta);
    free(probs);
    free(labels_k);
    return st;
}
