/* trainlog.c: the keys of the training log (specs/log.md) and its writer (cxr_trainlog.h).
 * Lines are built with cJSON, which prints a number with 15 significant digits when they read
 * back within a relative DBL_EPSILON, else 17: the same run writes the same text, so tests
 * compare losses as strings (tests/cli/test_resume.sh).
 */
#include "cxr_trainlog.h"
#include "cxr_json.h"
#include "cxr_files.h"
#include "cxr_trainer.h"

#include "cxr_tmpfile.h"
#include <errno.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIELD(type, name)           \
    {                               \
#name, offsetof(type, name) \
    }
#define COUNT(a) ((int)(sizeof(a) / sizeof(a)[0]))

const cxr_log_field cxr_log_epoch_result_fields[] = {
    FIELD(cxr_log_epoch, train_loss),
    FIELD(cxr_log_epoch, train_acc),
    FIELD(cxr_log_epoch, eval_loss),
    FIELD(cxr_log_epoch, eval_acc),
    FIELD(cxr_log_epoch, precision),
    FIELD(cxr_log_epoch, recall),
    FIELD(cxr_log_epoch, specificity),
    FIELD(cxr_log_epoch, f1),
    FIELD(cxr_log_epoch, auc),
    FIELD(cxr_log_epoch, macro_f1),
    FIELD(cxr_log_epoch, balanced_accuracy),
    FIELD(cxr_log_epoch, threshold),
};
const int cxr_log_epoch_n_result_fields = COUNT(cxr_log_epoch_result_fields);

const cxr_log_field cxr_log_epoch_cost_fields[] = {
    FIELD(cxr_log_epoch, epoch_s),        FIELD(cxr_log_epoch, eval_s),
    FIELD(cxr_log_epoch, images_per_s),   FIELD(cxr_log_epoch, data_wait_s),
    FIELD(cxr_log_epoch, data_wait_frac), FIELD(cxr_log_epoch, gpu_mem_used_mb),
};
const int cxr_log_epoch_n_cost_fields = COUNT(cxr_log_epoch_cost_fields);

const cxr_log_field cxr_log_class_fields[] = {
    { "precision", offsetof(cxr_log_epoch, class_precision) },
    { "recall", offsetof(cxr_log_epoch, class_recall) },
    { "f1", offsetof(cxr_log_epoch, class_f1) },
    { "auc", offsetof(cxr_log_epoch, class_auc) },
};
const int cxr_log_n_class_fields = COUNT(cxr_log_class_fields);

const cxr_log_field cxr_log_monitor_fields[] = {
    FIELD(cxr_monitor_summary, cpu_util_mean),    FIELD(cxr_monitor_summary, cpu_util_max),
    FIELD(cxr_monitor_summary, rss_mb_mean),      FIELD(cxr_monitor_summary, rss_mb_max),
    FIELD(cxr_monitor_summary, gpu_util_mean),    FIELD(cxr_monitor_summary, gpu_util_max),
    FIELD(cxr_monitor_summary, gpu_mem_mb_mean),  FIELD(cxr_monitor_summary, gpu_mem_mb_max),
    FIELD(cxr_monitor_summary, gpu_mem_total_mb),
};
const int cxr_log_n_monitor_fields = COUNT(cxr_log_monitor_fields);

const cxr_log_field cxr_log_bench_fields[] = {
    FIELD(cxr_log_bench, first_epoch_s),
    FIELD(cxr_log_bench, later_epoch_s),
    FIELD(cxr_log_bench, images_per_s),
    FIELD(cxr_log_bench, data_wait_frac),
};
const int cxr_log_n_bench_fields = COUNT(cxr_log_bench_fields);

const cxr_log_field cxr_log_step_fields[] = {
    FIELD(cxr_log_step, loss),
    FIELD(cxr_log_step, lr),
    FIELD(cxr_log_step, images_per_s),
};
const int cxr_log_n_step_fields = COUNT(cxr_log_step_fields);

struct cxr_trainlog {
    FILE *f;
    char *path;
    cxr_tmpfile kept; /* a fresh run's file beside an earlier log, which replaces it at the run's
                         first epoch (cxr_log_open's keep) */
    int created;      /* no file was there: removed at close if it holds no epoch or stop */
    int records;      /* epoch and stop lines written */
};

static double get(const void *record, const cxr_log_field *f)
{
    return *(const double *)((const char *)record + f->offset);
}

static void add_num(cJSON *o, const char *key, double v)
{
    if (isfinite(v)) cxr_json_add_number(o, key, v);
}

static void add_fields(cJSON *o, const void *record, const cxr_log_field *f, int n)
{
    for (int i = 0; i < n; i++) add_num(o, f[i].key, get(record, &f[i]));
}

/* A float as its shortest decimal (0.01, not 0.00999999977648258). */
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

/* Resource figures to 6 significant digits: samples a second apart carry no more. */
static double six_digits(double v)
{
    char b[32];
    snprintf(b, sizeof b, "%.6g", v);
    return strtod(b, NULL);
}

/* Write one line and flush; takes o. */
static cxr_status put_line(cxr_trainlog *log, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory writing the log", log->path);
    const size_t n = strlen(s);
    s[n] = '\n'; /* cJSON's buffer has room: its NUL */
    /* whole or not at all: a full disk leaves no torn line for cxr-report to stop at */
    const int e = cxr_log_put_line(log->f, s, n + 1) == 0 ? 0 : errno;
    cJSON_free(s);
    return !e ? CXR_OK
              : cxr_set_error(CXR_E_IO, "%s: cannot write the log: %s", log->path, strerror(e));
}

cxr_status cxr_trainlog_open(cxr_trainlog **out, const char *path, int append)
{
    *out = NULL;
    cxr_trainlog *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", path);
    }
    cxr_status st = CXR_OK;
    cxr_tmpfile_init(&log->kept);
    /* A fresh run's log replaces an earlier one only once the run's first epoch is in it: until
     * then the run writes a temporary beside it, the earlier log left whole and locked
     * (cxr_log_open), and removes it when the log is closed without an epoch (bad input met in
     * the first epoch, an interrupt, an error): a failed or killed rerun does not lose the
     * earlier run's log. Where no temporary can be created for want of space the run is refused
     * with the log untouched; where none may be (a log this user may write but not read, a
     * read-only folder) the log is emptied in place, as it always was. */
    log->f = cxr_log_open("--log", path, append, CXR_TRAINLOG_MARK, append ? NULL : &log->kept,
                          &log->created, &st);
    if (!log->f) {
        free(log->path);
        free(log);
        return st;
    }
    /* plain lines appended to a gzip-compressed log would be lost to its readers (zlib ignores
     * what follows the last gzip member): cxr_log_open refuses it, the file untouched. Readers
     * then skip a torn last line, not the resume's first */
    errno = 0;
    if (append && cxr_end_last_line(log->f) != 0) {
        const int e = errno;
        st = cxr_set_error(CXR_E_IO, "%s: cannot end the log's last line: %s", path,
                           e ? strerror(e) : "write failed");
        fclose(log->f);
        cxr_tmpfile_discard(&log->kept);
        free(log->path);
        free(log);
        return st;
    }
    *out = log;
    return CXR_OK;
}

cxr_status cxr_trainlog_close(cxr_trainlog *log)
{
    if (!log) return CXR_OK;
    cxr_status st = CXR_OK;
    /* no epoch in it: this run's file removed, the earlier log as it was */
    cxr_tmpfile_discard(&log->kept);
    /* a log this run created and ended before its first epoch: a run line alone read as a log
     * by the next run ("an earlier log") and refused by cxr-report; emptied, then removed */
    if (log->created && !log->records && fflush(log->f) == 0) (void)!ftruncate(fileno(log->f), 0);
    if (cxr_log_close(log->f, log->path, log->created) != 0 && st == CXR_OK)
        st = cxr_set_error(CXR_E_IO, "%s: cannot close the log", log->path);
    free(log->path);
    free(log);
    return st;
}

/* The run line's recipe object, re (NULL: memory ran out, the object is left out). */
static void add_recipe(cJSON *re, const cxr_log_run_line *r)
{
    if (!re) return;
    if (r->recipe) cJSON_AddStringToObject(re, "name", r->recipe);
    cJSON_AddNumberToObject(re, "epochs", r->epochs);
    cJSON_AddNumberToObject(re, "batch", r->batch);
    cJSON_AddNumberToObject(re, "lr", float_value(r->lr));
    if (r->schedule) {
        cJSON_AddStringToObject(re, "schedule", r->schedule);
        cJSON_AddNumberToObject(re, "warmup_steps", (double)r->warmup_steps);
        if (strcmp(r->schedule, "step") == 0) {
            cJSON_AddNumberToObject(re, "lr_step_every", (double)r->lr_step_every);
            cJSON_AddNumberToObject(re, "lr_gamma", float_value((float)r->lr_gamma));
        }
        cJSON_AddNumberToObject(re, "weight_decay", float_value((float)r->weight_decay));
        cJSON_AddNumberToObject(re, "label_smoothing", float_value((float)r->label_smoothing));
    }
    if (r->select) {
        cJSON_AddStringToObject(re, "select", r->select);
        cJSON_AddNumberToObject(re, "patience", r->patience);
    }
    if (r->average_from > 0) cJSON_AddNumberToObject(re, "average_from", r->average_from);
    if (r->mixup > 0) cJSON_AddNumberToObject(re, "mixup", float_value((float)r->mixup));
    if (r->recipe) { /* with the run's definition: "auto", "split" or a number of shards */
        char w[16];
        cJSON_AddStringToObject(re, "shuffle_window",
                                cxr_shuffle_window_name(r->shuffle_window, w, sizeof w));
    }
    cJSON_AddNumberToObject(re, "seed", (double)r->seed);
    cJSON_AddNumberToObject(re, "threads", r->threads);
    cJSON_AddStringToObject(re, "precision", r->precision);
    if (r->resident >= 0) cJSON_AddBoolToObject(re, "resident", r->resident);
    cJSON_AddBoolToObject(re, "prefetch", r->prefetch != 0);
    cJSON_AddNumberToObject(re, "keep_prob", float_value(r->keep_prob));
    cJSON_AddNumberToObject(re, "alpha", float_value(r->alpha));
    if (r->head) cJSON_AddStringToObject(re, "head", r->head);
    if (r->input_pool > 1) cJSON_AddNumberToObject(re, "input_pool", r->input_pool);
    if (r->input_scale > 0 && (r->input_scale != 1 || r->input_shift != 0)) {
        cJSON_AddNumberToObject(re, "input_scale", float_value(r->input_scale));
        cJSON_AddNumberToObject(re, "input_shift", float_value(r->input_shift));
    }
    if (r->max_steps > 0) cJSON_AddNumberToObject(re, "max_steps", (double)r->max_steps);
    if (r->augment) cJSON_AddStringToObject(re, "augment", r->augment);
}

cxr_status cxr_trainlog_write_run(cxr_trainlog *log, const cxr_log_run_line *r)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return put_line(log, NULL);
    cJSON_AddStringToObject(o, CXR_LOG_TYPE, CXR_LOG_TYPE_RUN);
    cJSON_AddStringToObject(o, CXR_LOG_TOOL, r->tool);
    cxr_json_add_text(o, CXR_LOG_STORE, r->store);
    cJSON_AddStringToObject(o, CXR_LOG_DEVICE, r->device);
    if (r->kernels) cJSON_AddStringToObject(o, CXR_LOG_KERNELS, r->kernels);
    if (r->cpu_model) cJSON_AddStringToObject(o, CXR_LOG_CPU_MODEL, r->cpu_model);
    cJSON *cl = cJSON_AddArrayToObject(o, CXR_LOG_CLASSES);
    for (int c = 0; c < r->n_classes; c++) cxr_json_append_text(cl, r->classes[c]);
    add_recipe(cJSON_AddObjectToObject(o, CXR_LOG_RECIPE), r);
    cJSON_AddNumberToObject(o, CXR_LOG_TRAIN_IMAGES, (double)r->train_images);
    cJSON_AddNumberToObject(o, CXR_LOG_EVAL_IMAGES, (double)r->eval_images);
    cJSON_AddStringToObject(o, CXR_LOG_EVAL_SPLIT, r->eval_split);
    cJSON_AddNumberToObject(o, "image_size", r->image_size);
    if (r->equalize) { /* which images these are: a store's file name does not say */
        cJSON *pp = cJSON_AddObjectToObject(o, "preprocessing");
        cJSON_AddStringToObject(pp, "equalize", r->equalize);
        if (r->clahe_clip > 0) cJSON_AddNumberToObject(pp, "clahe_clip", r->clahe_clip);
        if (r->normalize) cJSON_AddStringToObject(pp, "normalize", r->normalize);
        cJSON_AddNumberToObject(pp, "crop_ratio", r->crop_ratio);
    }
    if (r->best_model) cxr_json_add_text(o, "best_model", r->best_model);
    if (r->resumed_from) {
        cxr_json_add_text(o, "resumed_from", r->resumed_from);
        cJSON_AddNumberToObject(o, "start_epoch", r->start_epoch);
    }
    return put_line(log, o);
}

static void add_monitor(cJSON *o, const cxr_monitor_summary *m)
{
    cJSON *mo = cJSON_AddObjectToObject(o, CXR_LOG_MONITOR);
    cJSON_AddNumberToObject(mo, CXR_LOG_MONITOR_SAMPLES, m->n_samples);
    for (int i = 0; i < cxr_log_n_monitor_fields; i++)
        add_num(mo, cxr_log_monitor_fields[i].key, six_digits(get(m, &cxr_log_monitor_fields[i])));
    if (!m->gpu_ok) {
        char reason[sizeof m->gpu_reason + 32];
        snprintf(reason, sizeof reason, "not available: %s", m->gpu_reason);
        cJSON_AddStringToObject(mo, CXR_LOG_MONITOR_GPU, reason);
    }
}

int64_t cxr_log_roc_next(const double *fpr, const double *tpr, int64_t n, int64_t i)
{
    const double step = 1.0 / CXR_LOG_ROC_STEPS;
    int64_t j = i + 1;
    if (n > CXR_LOG_ROC_STEPS)
        while (j < n - 1 && fabs(fpr[j] - fpr[i]) < step && fabs(tpr[j] - tpr[i]) < step) j++;
    return j;
}

/* per_class, confusion and roc (thinned: cxr_log_roc_next): the evaluation's detail, between
 * results and costs. */
static void add_detail(cJSON *o, const cxr_log_epoch *e)
{
    if (e->n_per_class > 0) {
        cJSON *pc = cJSON_AddArrayToObject(o, CXR_LOG_PER_CLASS);
        for (int c = 0; c < e->n_per_class; c++) {
            cJSON *entry = cJSON_CreateObject();
            for (int i = 0; i < cxr_log_n_class_fields; i++) {
                const double *a =
                    *(double *const *)((const char *)e + cxr_log_class_fields[i].offset);
                if (a) add_num(entry, cxr_log_class_fields[i].key, a[c]);
            }
            cJSON_AddItemToArray(pc, entry);
        }
    }
    if (e->k > 0 && e->k <= CXR_LOG_CONFUSION_MAX_CLASSES &&
        cxr_json_add_int_matrix(o, CXR_LOG_CONFUSION, e->confusion, e->k) != 0)
        cJSON_AddNullToObject(o, CXR_LOG_CONFUSION); /* (out of memory: a null says so) */
    if (e->n_roc > 0) {
        cJSON *roc = cJSON_AddArrayToObject(o, CXR_LOG_ROC);
        for (int64_t i = 0; i < e->n_roc;
             i = cxr_log_roc_next(e->roc_fpr, e->roc_tpr, e->n_roc, i)) {
            cJSON *p = cJSON_CreateArray();
            cJSON_AddItemToArray(p, cJSON_CreateNumber(e->roc_fpr[i]));
            cJSON_AddItemToArray(p, cJSON_CreateNumber(e->roc_tpr[i]));
            cJSON_AddItemToArray(roc, p);
        }
    }
}

cxr_status cxr_trainlog_write_epoch(cxr_trainlog *log, const cxr_log_epoch *e)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return put_line(log, NULL);
    cJSON_AddStringToObject(o, CXR_LOG_TYPE, CXR_LOG_TYPE_EPOCH);
    cJSON_AddNumberToObject(o, CXR_LOG_EPOCH, e->epoch);
    add_fields(o, e, cxr_log_epoch_result_fields, cxr_log_epoch_n_result_fields);
    add_detail(o, e);
    add_fields(o, e, cxr_log_epoch_cost_fields, cxr_log_epoch_n_cost_fields);
    if (e->steps >= 0) cJSON_AddNumberToObject(o, CXR_LOG_STEPS, (double)e->steps);
    if (e->step_total >= 0) cJSON_AddNumberToObject(o, CXR_LOG_STEP_TOTAL, (double)e->step_total);
    if (e->lr > 0) cJSON_AddNumberToObject(o, "lr", float_value((float)e->lr));
    if (e->best_epoch > 0) {
        cJSON_AddNumberToObject(o, "best_epoch", e->best_epoch);
        add_num(o, "best_value", e->best_value);
    }
    if (e->stopped) cJSON_AddStringToObject(o, "stopped", e->stopped);
    if (e->eval_nonfinite > 0)
        cJSON_AddNumberToObject(o, CXR_LOG_EVAL_NONFINITE, (double)e->eval_nonfinite);
    if (e->averaged > 0) cJSON_AddNumberToObject(o, CXR_LOG_AVERAGED, e->averaged);
    if (e->has_monitor) add_monitor(o, &e->monitor);
    cxr_status st = put_line(log, o);
    /* the run has an epoch: its log replaces the earlier one (renamed into place; later lines
     * go on in it) */
    if (st == CXR_OK && log->kept.path) {
        st = cxr_tmpfile_commit(&log->kept);
        if (st != CXR_OK)
            st = cxr_wrap_error(st, "%s: this run's log, written beside it, cannot replace it",
                                log->path);
        cxr_tmpfile_discard(&log->kept);
    }
    if (st == CXR_OK) log->records++;
    return st;
}

cxr_status cxr_trainlog_write_stop(cxr_trainlog *log, int epoch, const char *stopped,
                                   int best_epoch, double best_value)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return put_line(log, NULL);
    cJSON_AddStringToObject(o, CXR_LOG_TYPE, CXR_LOG_TYPE_STOP);
    cJSON_AddNumberToObject(o, CXR_LOG_EPOCH, epoch);
    cJSON_AddStringToObject(o, "stopped", stopped);
    if (best_epoch > 0) {
        cJSON_AddNumberToObject(o, "best_epoch", best_epoch);
        add_num(o, "best_value", best_value);
    }
    const cxr_status st = put_line(log, o);
    if (st == CXR_OK) log->records++;
    return st;
}

cxr_status cxr_trainlog_write_step(cxr_trainlog *log, const cxr_log_step *st)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return put_line(log, NULL);
    cJSON_AddStringToObject(o, CXR_LOG_TYPE, CXR_LOG_TYPE_STEP);
    cJSON_AddNumberToObject(o, CXR_LOG_STEP, (double)st->step);
    cJSON_AddNumberToObject(o, CXR_LOG_EPOCH, st->epoch);
    add_num(o, "loss", st->loss);
    if (isfinite(st->lr)) add_num(o, "lr", float_value((float)st->lr));
    add_num(o, "images_per_s", six_digits(st->images_per_s));
    return put_line(log, o);
}

ssize_t cxr_log_read_line(FILE *f, char **line, size_t *cap)
{
    size_t n = 0;
    if (!*line) *cap = 0; /* as getline takes it */
    int c, any = 0, too_long = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        any = 1;
        if (n == CXR_LOG_LINE_MAX) {
            too_long = 1; /* read on to the line's end, keeping nothing more */
        } else {
            if (n + 2 > *cap) {
                size_t want = *cap ? 2 * *cap : 256;
                if (want > CXR_LOG_LINE_MAX + 1) want = CXR_LOG_LINE_MAX + 1;
                char *p = realloc(*line, want);
                if (!p) {
                    errno = ENOMEM;
                    return -1;
                }
                *line = p;
                *cap = want;
            }
            (*line)[n++] = (char)c;
        }
        if (c == '\n') break;
    }
    if (!any || ferror(f)) return -1;
    (*line)[n] = '\0';
    return too_long ? (ssize_t)CXR_LOG_LINE_MAX + 1 : (ssize_t)n;
}

/* Whether the string of n bytes at s (its quotes included) is one of the keys whose arrays
 * cxr_log_line_values counts apart. */
static int big_array_key(const char *s, size_t n)
{
    static const char m[] = "\"" CXR_LOG_CONFUSION "\"", r[] = "\"" CXR_LOG_ROC "\"";
    return (n == sizeof m - 1 && !memcmp(s, m, n)) || (n == sizeof r - 1 && !memcmp(s, r, n));
}

int64_t cxr_log_line_values(const char *s, size_t n, int64_t *arrays)
{
    /* the bytes the count looks at; runs of others (digits, letters) are passed in a tight loop
     * (the 40 accuracy logs of tests/bench/results, 23 MB: 0.035 s, 0.06-0.08 s byte by byte,
     * getline 0.006 s, Intel Xeon) */
    static const unsigned char seen[256] = {
        ['"'] = 1, ['\\'] = 1, ['['] = 1, [']'] = 1, ['{'] = 1, ['}'] = 1, [','] = 1, [':'] = 1
    };
    int64_t v = 1, m = 0; /* values outside those arrays, in them */
    int in_string = 0, depth = 0, at_key = 0;
    int matrix = 0; /* the array's depth, 0 outside */
    size_t str = 0; /* where the last string began */
    for (size_t i = 0; i < n; i++) {
        if (in_string)
            while (i < n && s[i] != '"' && s[i] != '\\') i++;
        else if (!at_key) /* (after a key, a letter between it and its colon is looked at) */
            while (i < n && !seen[(unsigned char)s[i]]) i++;
        if (i == n) break;
        const char c = s[i];
        if (in_string) {
            if (c == '\\') {
                i++; /* the escaped character, a quote included */
            } else if (c == '"') {
                in_string = 0;
                at_key = depth == 1 && !matrix && big_array_key(s + str, i + 1 - str);
            }
            continue;
        }
        if (c == '"') {
            in_string = 1;
            str = i;
        } else if (c == '[' || c == '{') {
            if (at_key == 2 && c == '[') matrix = depth + 1; /* the array opens: its items inside */
            if (matrix && depth >= matrix)
                m++;
            else
                v++;
            depth++;
        } else if (c == ']' || c == '}') {
            if (depth-- == matrix) matrix = 0;
        } else if (c == ',') {
            if (matrix)
                m++;
            else
                v++;
        }
        if (c == ':' && at_key == 1)
            at_key = 2; /* the key's value follows */
        else if (c != ' ' && c != '\t' && c != '"')
            at_key = 0;
    }
    if (arrays) *arrays = m;
    return v;
}

int cxr_log_line_values_ok(const char *s, size_t n, int64_t *values, int64_t *arrays)
{
    int64_t m = 0;
    const int64_t v = cxr_log_line_values(s, n, &m);
    if (values) *values = v;
    if (arrays) *arrays = m;
    return v <= CXR_LOG_LINE_VALUES_MAX && m <= CXR_LOG_LINE_ARRAY_VALUES_MAX;
}

cxr_status cxr_trainlog_read_tail(const char *path, int epoch, cxr_trainlog_tail *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return CXR_OK;
        return cxr_set_error(CXR_E_IO, "%s: cannot read the log: %s", path, strerror(errno));
    }
    static const char run_mark[] = CXR_TRAINLOG_MARK;
    static const char epoch_mark[] = "{\"" CXR_LOG_TYPE "\":\"" CXR_LOG_TYPE_EPOCH "\"";
    static const char stop_mark[] = "{\"" CXR_LOG_TYPE "\":\"stop\"";
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = cxr_log_read_line(f, &line, &cap)) >= 0) {
        const int run = !strncmp(line, run_mark, sizeof run_mark - 1);
        if (!run && strncmp(line, epoch_mark, sizeof epoch_mark - 1) != 0 &&
            strncmp(line, stop_mark, sizeof stop_mark - 1) != 0)
            continue; /* step lines, bench lines: not read */
        if ((size_t)len > CXR_LOG_LINE_MAX ||
            !cxr_log_line_values_ok(line, (size_t)len, NULL, NULL))
            continue; /* no line cxr-train writes: a damaged file's, passed over */
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        if (!o) continue;
        if (run) {
            const cJSON *re = cJSON_GetObjectItemCaseSensitive(o, CXR_LOG_RECIPE);
            const cJSON *name = cJSON_GetObjectItemCaseSensitive(re, "name"),
                        *seed = cJSON_GetObjectItemCaseSensitive(re, "seed"),
                        *batch = cJSON_GetObjectItemCaseSensitive(re, "batch");
            if (cJSON_IsNumber(seed) && cJSON_IsNumber(batch)) {
                t->has_run = 1;
                t->seed = seed->valuedouble;
                t->batch = batch->valueint;
                snprintf(t->recipe, sizeof t->recipe, "%s",
                         cJSON_IsString(name) ? name->valuestring : "");
                const cJSON *tool = cJSON_GetObjectItemCaseSensitive(o, CXR_LOG_TOOL);
                snprintf(t->tool, sizeof t->tool, "%s",
                         cJSON_IsString(tool) ? tool->valuestring : "");
                char *rj = cJSON_PrintUnformatted(re); /* (longer than the field: not kept) */
                snprintf(t->recipe_json, sizeof t->recipe_json, "%s",
                         rj && strlen(rj) < sizeof t->recipe_json ? rj : "");
                free(rj);
                const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, CXR_LOG_KERNELS);
                snprintf(t->kernels, sizeof t->kernels, "%s",
                         cJSON_IsString(k) ? k->valuestring : "");
                const cJSON *ti = cJSON_GetObjectItemCaseSensitive(o, CXR_LOG_TRAIN_IMAGES),
                            *ei = cJSON_GetObjectItemCaseSensitive(o, CXR_LOG_EVAL_IMAGES),
                            *es = cJSON_GetObjectItemCaseSensitive(o, CXR_LOG_EVAL_SPLIT);
                t->train_images = cJSON_IsNumber(ti) ? (int64_t)ti->valuedouble : -1;
                t->eval_images = cJSON_IsNumber(ei) ? (int64_t)ei->valuedouble : -1;
                t->has_eval_split = cJSON_IsString(es);
                snprintf(t->eval_split, sizeof t->eval_split, "%s",
                         t->has_eval_split ? es->valuestring : "");
            }
        } else {
            const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "epoch");
            if (cJSON_IsNumber(e)) {
                t->last_epoch = e->valueint;
                if (e->valueint == epoch) t->has_epoch = 1;
            }
        }
        cJSON_Delete(o);
    }
    const int bad = ferror(f) || !feof(f), e = errno; /* (not at the end: out of memory) */
    free(line);
    fclose(f);
    if (bad)
        return cxr_set_error(e == ENOMEM ? CXR_E_NOMEM : CXR_E_IO, "%s: cannot read the log: %s",
                             path, strerror(e));
    return CXR_OK;
}

/* Recipe keys not compared: those a resume may change (epochs along a chain of resumes, an older
 * copy of the run's own log holding the first part's; patience; max_steps where an epoch's steps
 * stay), those that leave the results alone (threads, precision, resident, prefetch: warned of
 * elsewhere or not at all), shuffle_window ("auto" in run lines before 0.23, resolved since),
 * and those the trainer compares itself (name, seed, batch: its message names them). */
static const char *const recipe_free_keys[] = { "name",      "epochs",        "batch",
                                                "seed",      "patience",      "threads",
                                                "precision", "resident",      "prefetch",
                                                "max_steps", "shuffle_window" };

static int recipe_key_free(const char *k)
{
    for (int i = 0; i < COUNT(recipe_free_keys); i++)
        if (strcmp(k, recipe_free_keys[i]) == 0) return 1;
    return 0;
}

/* "KEY: V_LOG in the log, V_RUN here" into why (NULL: "absent (its default)"). */
static void recipe_differs_at(char *why, size_t cap, const char *key, const cJSON *in_log,
                              const cJSON *here)
{
    static const char absent[] = "absent (its default)";
    char *a = in_log ? cJSON_PrintUnformatted(in_log) : NULL,
         *b = here ? cJSON_PrintUnformatted(here) : NULL;
    const char *va = in_log ? (a ? a : "?") : absent, *vb = here ? (b ? b : "?") : absent;
    snprintf(why, cap, "%s: %s in the log, %s here", key, va, vb);
    free(a);
    free(b);
}

/* Whether a run line's writer ("cxr-train X.Y.Z", its tool) is `major`.`minor` or later. */
static int writer_since(const char *tool, int major, int minor)
{
    const char *v = strrchr(tool, ' ');
    int a, b;
    if (!v || sscanf(v + 1, "%d.%d", &a, &b) != 2) return 0;
    return a > major || (a == major && b >= minor);
}

cxr_status cxr_trainlog_recipe_differs(const cxr_trainlog_tail *t, const cxr_log_run_line *run,
                                       char *why, size_t cap)
{
    why[0] = '\0';
    if (!t->has_run || !t->recipe_json[0]) return CXR_OK;
    cJSON *logged = cJSON_Parse(t->recipe_json), *mine = cJSON_CreateObject();
    const cJSON *it;
    cxr_status st = CXR_OK;
    if (!logged || !mine) {
        st = cxr_set_error(CXR_E_NOMEM, "the log's recipe: out of memory");
        goto bail;
    }
    /* a key the writer leaves out at its default (mixup, average_from, input_pool, ...) is that
     * default where the log is of 0.24 or later; before, absent was also "unknown" */
    const int defaults = writer_since(t->tool, 0, 24);
    add_recipe(mine, run);
    cJSON_ArrayForEach(it, mine)
    {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(logged, it->string);
        if (recipe_key_free(it->string) || (l ? cJSON_Compare(l, it, 1) : !defaults) ||
            (run->lr_step_every <= 0 && !strcmp(it->string, "lr_step_every")))
            continue; /* (an interval 0: the run does not know it yet) */
        recipe_differs_at(why, cap, it->string, l, it);
        break;
    }
    if (!why[0]) /* ... and a key the log has at a value where this run has its default */
        cJSON_ArrayForEach(it, logged)
        {
            if (!it->string || recipe_key_free(it->string) ||
                cJSON_GetObjectItemCaseSensitive(mine, it->string))
                continue;
            recipe_differs_at(why, cap, it->string, it, NULL);
            break;
        }
bail:
    cJSON_Delete(logged);
    cJSON_Delete(mine);
    return st;
}
