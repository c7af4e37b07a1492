/* report_log.c: reads training logs and monitor samples files (specs/log.md) with cJSON into
 * the structs of cxr_report.h, through the writers' key tables (train/cxr_trainlog.h,
 * runtime/cxr_monitor.h). Each line is checked on its own: a bad line is named through the
 * warning callback ("file:line: reason") and skipped, so one torn line at the end of a crashed
 * run costs nothing else.
 */
#define _GNU_SOURCE /* fopencookie */
#include "cxr_report.h"
#include "cxr_files.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Line-level parse error: the reason is written into err and the line skipped. */
typedef struct {
    char msg[256];
} line_err;

static int bad(line_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(line_err *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* Optional number: absent or null -> NAN; wrong type -> error. */
static int get_num(const cJSON *o, const char *key, double *out, line_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NAN;
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsNumber(it)) return bad(e, "key \"%s\": expected a number", key);
    *out = it->valuedouble;
    return 0;
}

/* Optional integer: absent -> keeps *out; non-integral or wrong type -> error. */
static int get_int(const cJSON *o, const char *key, int64_t *out, line_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) ||
        fabs(it->valuedouble) > 9e15)
        return bad(e, "key \"%s\": expected an integer", key);
    *out = (int64_t)it->valuedouble;
    return 0;
}

/* Optional string, duplicated into *out (freed first). */
static int get_str(const cJSON *o, const char *key, char **out, line_err *e)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!it || cJSON_IsNull(it)) return 0;
    if (!cJSON_IsString(it)) return bad(e, "key \"%s\": expected a string", key);
    char *s = strdup(it->valuestring);
    if (!s) return bad(e, "out of memory");
    free(*out);
    *out = s;
    return 0;
}

/* The numbers of a field table into record. */
static int get_fields(const cJSON *o, void *record, const cxr_log_field *f, int n, line_err *e)
{
    for (int i = 0; i < n; i++)
        if (get_num(o, f[i].key, cxr_log_num(record, &f[i]), e)) return -1;
    return 0;
}

/* The item of key, or NULL when it is absent or null ("not measured"). */
static const cJSON *get_item(const cJSON *o, const char *key)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return it && !cJSON_IsNull(it) ? it : NULL;
}

/* An epoch without its per-class detail and confusion matrix (of other classes than its run's,
 * drop_other_classes); its ROC, of p[1] whatever the matrix, is kept (the page said a binary
 * run had none). */
static void drop_detail(cxr_log_epoch *ep)
{
    for (int i = 0; i < cxr_log_n_class_fields; i++) {
        double **a = cxr_log_array(ep, &cxr_log_class_fields[i]);
        free(*a);
        *a = NULL;
    }
    free(ep->confusion);
    ep->confusion = NULL;
    ep->k = ep->n_per_class = 0;
}

static void epoch_free(cxr_log_epoch *ep)
{
    drop_detail(ep);
    free(ep->roc_fpr);
    free(ep->roc_tpr);
}

/* An epoch's detail is of the classes the run's line names (the last one read, which the page
 * uses), or left out with the epoch's other figures kept, said once for the file: a 3000x3000
 * matrix in a 2-class run's line was drawn as the run's, its columns numbered. After the whole
 * file is read: an epoch line before the run line (a torn first line, a resume's) too. */
static void drop_other_classes(cxr_log_run *run, const char *path, cxr_report_warn_fn warn,
                               void *ctx)
{
    const int k = run->n_classes;
    int n = 0, first = 0, have = 0;
    for (int i = 0; k > 0 && i < run->n_epochs; i++) {
        cxr_log_epoch *ep = &run->epochs[i];
        const int other = ep->k > 0 && ep->k != k                       ? ep->k
                          : ep->n_per_class > 0 && ep->n_per_class != k ? ep->n_per_class
                                                                        : 0;
        if (!other) continue;
        if (n++ == 0) first = ep->epoch, have = other;
        drop_detail(ep);
    }
    if (n && warn) {
        char msg[512];
        snprintf(msg, sizeof msg,
                 "%s: %d epoch line(s) (the first: epoch %d) hold a confusion matrix or per-class "
                 "figures of %d classes, the run's line names %d: left out (their other figures "
                 "kept)",
                 path, n, first, have, k);
        warn(ctx, msg);
    }
}

static int parse_monitor(const cJSON *mo, cxr_monitor_summary *m, int *gpu_reported, line_err *e)
{
    if (!cJSON_IsObject(mo)) return bad(e, "key \"%s\": expected an object", CXR_LOG_MONITOR);
    int64_t n = 0;
    if (get_int(mo, CXR_LOG_MONITOR_SAMPLES, &n, e) ||
        get_fields(mo, m, cxr_log_monitor_fields, cxr_log_n_monitor_fields, e))
        return -1;
    m->n_samples = (int)n;
    const cJSON *g = get_item(mo, CXR_LOG_MONITOR_GPU);
    if (g && !cJSON_IsString(g))
        return bad(e, "key \"%s.%s\": expected a string", CXR_LOG_MONITOR, CXR_LOG_MONITOR_GPU);
    m->gpu_ok = isfinite(m->gpu_util_mean) || isfinite(m->gpu_mem_mb_mean);
    *gpu_reported = m->gpu_ok || g;
    if (!m->gpu_ok && g) {
        const char *r = g->valuestring;
        const char *pre = "not available: ";
        if (strncmp(r, pre, strlen(pre)) == 0) r += strlen(pre);
        snprintf(m->gpu_reason, sizeof m->gpu_reason, "%s", r);
    }
    return 0;
}

static int parse_per_class(const cJSON *pc, cxr_log_epoch *ep, line_err *e)
{
    if (!cJSON_IsArray(pc)) return bad(e, "key \"%s\": expected an array", CXR_LOG_PER_CLASS);
    int k = cJSON_GetArraySize(pc);
    for (int f = 0; f < cxr_log_n_class_fields; f++) {
        double **a = cxr_log_array(ep, &cxr_log_class_fields[f]);
        if (!(*a = calloc((size_t)k + 1, sizeof **a))) return bad(e, "out of memory");
    }
    ep->n_per_class = k;
    int i = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, pc)
    {
        if (!cJSON_IsObject(c)) return bad(e, "key \"%s\": expected objects", CXR_LOG_PER_CLASS);
        for (int f = 0; f < cxr_log_n_class_fields; f++)
            if (get_num(c, cxr_log_class_fields[f].key,
                        &(*cxr_log_array(ep, &cxr_log_class_fields[f]))[i], e))
                return -1;
        i++;
    }
    return 0;
}

static int parse_confusion(const cJSON *cm, cxr_log_epoch *ep, line_err *e)
{
    if (!cJSON_IsArray(cm))
        return bad(e, "key \"%s\": expected an array of rows", CXR_LOG_CONFUSION);
    int k = cJSON_GetArraySize(cm);
    /* up to a store's most classes (CXR_MAX_CLASSES, formats/cxr_store.h): any log cxr-train
     * writes */
    if (k < 1 || k > 4096)
        return bad(e, "key \"%s\": %d rows (a store holds 1 to 4096 classes)", CXR_LOG_CONFUSION,
                   k);
    ep->confusion = calloc((size_t)k * (size_t)k, sizeof *ep->confusion);
    if (!ep->confusion) return bad(e, "out of memory");
    ep->k = k;
    int r = 0;
    const cJSON *row;
    cJSON_ArrayForEach(row, cm)
    {
        if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != k)
            return bad(e, "key \"%s\": row %d is not an array of %d counts", CXR_LOG_CONFUSION,
                       r + 1, k);
        int c = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row)
        {
            if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9e15 ||
                v->valuedouble != floor(v->valuedouble))
                return bad(e, "key \"%s\": row %d column %d is not a count", CXR_LOG_CONFUSION,
                           r + 1, c + 1);
            ep->confusion[(size_t)r * k + c] = (int64_t)v->valuedouble;
            c++;
        }
        r++;
    }
    return 0;
}

static int parse_roc(const cJSON *roc, cxr_log_epoch *ep, line_err *e)
{
    if (!cJSON_IsArray(roc))
        return bad(e, "key \"%s\": expected an array of [fpr,tpr]", CXR_LOG_ROC);
    int n_pts = cJSON_GetArraySize(roc);
    ep->roc_fpr = malloc(((size_t)n_pts + 1) * sizeof *ep->roc_fpr);
    ep->roc_tpr = malloc(((size_t)n_pts + 1) * sizeof *ep->roc_tpr);
    if (!ep->roc_fpr || !ep->roc_tpr) return bad(e, "out of memory");
    int i = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, roc)
    {
        const cJSON *x = cJSON_GetArrayItem(p, 0), *y = cJSON_GetArrayItem(p, 1);
        if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) != 2 || !cJSON_IsNumber(x) ||
            !cJSON_IsNumber(y))
            return bad(e, "key \"%s\": point %d is not [fpr,tpr]", CXR_LOG_ROC, i + 1);
        ep->roc_fpr[i] = x->valuedouble;
        ep->roc_tpr[i] = y->valuedouble;
        i++;
    }
    ep->n_roc = n_pts;
    return 0;
}

static int parse_epoch(const cJSON *o, cxr_log_epoch *ep, line_err *e)
{
    memset(ep, 0, sizeof *ep);
    int64_t n = -1;
    if (get_int(o, CXR_LOG_EPOCH, &n, e)) return -1;
    if (n < 1 || n > 1000000) /* 1-based: an epoch 0 was refused as a best_epoch past it */
        return bad(e, "epoch line without a valid integer \"%s\" (1 to 1000000)", CXR_LOG_EPOCH);
    ep->epoch = (int)n;
    ep->steps = ep->step_total = -1;
    if (get_fields(o, ep, cxr_log_epoch_result_fields, cxr_log_epoch_n_result_fields, e) ||
        get_fields(o, ep, cxr_log_epoch_cost_fields, cxr_log_epoch_n_cost_fields, e) ||
        get_int(o, CXR_LOG_STEPS, &ep->steps, e) ||
        get_int(o, CXR_LOG_STEP_TOTAL, &ep->step_total, e))
        return -1;
    int64_t nonfinite = 0, averaged = 0;
    if (get_int(o, CXR_LOG_EVAL_NONFINITE, &nonfinite, e) ||
        get_int(o, CXR_LOG_AVERAGED, &averaged, e))
        return -1;
    if (nonfinite < 0 || averaged < 0 || averaged > 1000000)
        return bad(e, "key \"%s\" or \"%s\" out of range", CXR_LOG_EVAL_NONFINITE,
                   CXR_LOG_AVERAGED);
    ep->eval_nonfinite = nonfinite;
    ep->averaged = (int)averaged;
    /* model selection and early stopping (specs/log.md): the kept epoch, the stop */
    int64_t best = 0;
    if (get_int(o, "best_epoch", &best, e) || get_num(o, "best_value", &ep->best_value, e))
        return -1;
    if (best < 0 || best > n) return bad(e, "key \"best_epoch\" out of range");
    ep->best_epoch = (int)best;
    const cJSON *stop = get_item(o, "stopped");
    if (stop && !cJSON_IsString(stop)) return bad(e, "key \"stopped\": expected a string");
    if (stop) /* a literal: the record owns no string */
        ep->stopped = strcmp(stop->valuestring, "patience") == 0 ? "patience" : "another reason";
    const cJSON *it;
    if ((it = get_item(o, CXR_LOG_PER_CLASS)) && parse_per_class(it, ep, e)) return -1;
    if ((it = get_item(o, CXR_LOG_CONFUSION)) && parse_confusion(it, ep, e)) return -1;
    if ((it = get_item(o, CXR_LOG_ROC)) && parse_roc(it, ep, e)) return -1;
    if ((it = get_item(o, CXR_LOG_MONITOR))) {
        if (parse_monitor(it, &ep->monitor, &ep->monitor_gpu_reported, e)) return -1;
        ep->has_monitor = 1;
    }
    return 0;
}

/* A run line's keys all of the right type, checked before any is taken: a bad line changes
 * nothing of the run. */
static int check_run(const cJSON *o, line_err *e)
{
    static const char *const strs[] = { CXR_LOG_TOOL,    CXR_LOG_STORE,     CXR_LOG_DEVICE,
                                        CXR_LOG_KERNELS, CXR_LOG_CPU_MODEL, CXR_LOG_EVAL_SPLIT };
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
        const cJSON *it = get_item(o, strs[i]);
        if (it && !cJSON_IsString(it)) return bad(e, "key \"%s\": expected a string", strs[i]);
    }
    int64_t n;
    if (get_int(o, CXR_LOG_TRAIN_IMAGES, &n, e) || get_int(o, CXR_LOG_EVAL_IMAGES, &n, e))
        return -1;
    const cJSON *cl = get_item(o, CXR_LOG_CLASSES), *c;
    if (cl) {
        int strings = cJSON_IsArray(cl);
        cJSON_ArrayForEach(c, cl) strings = strings && cJSON_IsString(c);
        if (!strings) return bad(e, "key \"%s\": expected an array of strings", CXR_LOG_CLASSES);
    }
    const cJSON *re = get_item(o, CXR_LOG_RECIPE);
    if (re && !cJSON_IsObject(re)) return bad(e, "key \"%s\": expected an object", CXR_LOG_RECIPE);
    const cJSON *sel = re ? get_item(re, "select") : NULL; /* taken last, after everything else */
    if (sel && !cJSON_IsString(sel)) return bad(e, "key \"select\": expected a string");
    return 0;
}

static int parse_run(const cJSON *o, cxr_log_run *run, line_err *e)
{
    if (check_run(o, e)) return -1;
    if (get_str(o, CXR_LOG_TOOL, &run->tool, e) || get_str(o, CXR_LOG_STORE, &run->store, e) ||
        get_str(o, CXR_LOG_DEVICE, &run->device, e) ||
        get_str(o, CXR_LOG_KERNELS, &run->kernels, e) ||
        get_str(o, CXR_LOG_CPU_MODEL, &run->cpu_model, e) ||
        get_str(o, CXR_LOG_EVAL_SPLIT, &run->eval_split, e) ||
        get_int(o, CXR_LOG_TRAIN_IMAGES, &run->train_images, e) ||
        get_int(o, CXR_LOG_EVAL_IMAGES, &run->eval_images, e))
        return -1;
    const cJSON *cl = get_item(o, CXR_LOG_CLASSES);
    if (cl) {
        const cJSON *c;
        int k = cJSON_GetArraySize(cl), i = 0;
        char **names = calloc((size_t)k + 1, sizeof *names);
        if (!names) return bad(e, "out of memory");
        cJSON_ArrayForEach(c, cl)
        {
            if (!(names[i++] = strdup(c->valuestring))) {
                while (i > 0) free(names[--i]);
                free(names);
                return bad(e, "out of memory");
            }
        }
        for (int j = 0; j < run->n_classes; j++) free(run->classes[j]);
        free(run->classes);
        run->classes = names;
        run->n_classes = k;
    }
    const cJSON *re = get_item(o, CXR_LOG_RECIPE);
    if (re) {
        free(run->recipe_json);
        run->recipe_json = cJSON_PrintUnformatted(re);
        if (get_str(re, "select", &run->select, e)) return -1;
        if (run->select && strcmp(run->select, "none") == 0) {
            free(run->select);
            run->select = NULL;
        }
    }
    return 0;
}

static int parse_bench(const cJSON *o, cxr_log_bench *b, line_err *e)
{
    memset(b, 0, sizeof *b);
    if (get_str(o, CXR_LOG_BENCH_CONFIG, &b->config, e) ||
        get_fields(o, b, cxr_log_bench_fields, cxr_log_n_bench_fields, e)) {
        free(b->config);
        b->config = NULL;
        return -1;
    }
    if (!b->config) return bad(e, "benchmark line without a \"%s\" string", CXR_LOG_BENCH_CONFIG);
    return 0;
}

static int parse_step(const cJSON *o, cxr_log_step *st, line_err *e)
{
    memset(st, 0, sizeof *st);
    int64_t step = -1, epoch = -1;
    if (get_int(o, CXR_LOG_STEP, &step, e) || get_int(o, CXR_LOG_EPOCH, &epoch, e) ||
        get_fields(o, st, cxr_log_step_fields, cxr_log_n_step_fields, e))
        return -1;
    if (step < 1) return bad(e, "step line without a positive integer \"%s\"", CXR_LOG_STEP);
    st->step = step;
    st->epoch = epoch >= 0 && epoch <= 1000000 ? (int)epoch : -1;
    return 0;
}

static int parse_sample(const cJSON *o, cxr_monitor_sample *s, line_err *e)
{
    int64_t ep = -1;
    if (get_num(o, CXR_MONITOR_SAMPLE_T, &s->t, e) || get_int(o, CXR_MONITOR_SAMPLE_EPOCH, &ep, e))
        return -1;
    for (int i = 0; i < cxr_monitor_n_sample_fields; i++) {
        const cxr_monitor_sample_field *f = &cxr_monitor_sample_fields[i];
        if (get_num(o, f->key, (double *)((char *)s + f->offset), e)) return -1;
    }
    if (!isfinite(s->t)) /* absent (NaN), or a JSON number too large for a double */
        return bad(e, "sample without a finite number \"%s\"", CXR_MONITOR_SAMPLE_T);
    if (ep < -1 || ep > 1000000)
        return bad(e, "key \"%s\": %lld is not an epoch", CXR_MONITOR_SAMPLE_EPOCH, (long long)ep);
    s->epoch = (int)ep;
    return 0;
}

static char *base_name(const char *path)
{
    const char *b = strrchr(path, '/');
    return strdup(b ? b + 1 : path);
}

/* A JSON escape of NUL (\u0000) made U+FFFD's (\uFFFD) in place, same length: cJSON hands out
 * strings as C strings, which a decoded NUL would cut short (the rest of the value lost) where
 * specs/log.md shows a control character as U+FFFD. Escapes are walked pairwise, so an escaped
 * backslash followed by "u0000" is left alone. */
static void nul_escapes_to_fffd(char *line, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (line[i] != '\\') continue;
        if (line[i + 1] == 'u' && i + 5 < len && !memcmp(line + i + 2, "0000", 4))
            memcpy(line + i + 2, "FFFD", 4);
        i++; /* the escaped character: a backslash here starts no escape */
    }
}

/* A log read through zlib, as a stdio stream (fopencookie: getline as for any file): gzip
 * compressed (`gzip train.jsonl`, as tests/bench/results keeps logs; members one after another
 * read as one, as gzip -d does) or not (a file that does not start with gzip's magic is read as
 * it is). zlib's gzread would end quietly at bytes after the last member that start no member,
 * losing whatever was appended to the file; inflate is driven here so that they are an error, as
 * are a damaged stream (zlib's reason kept) and one cut short. */
typedef struct {
    FILE *raw;
    const char *path;
    z_stream zs;
    int gzip;       /* the file starts with gzip's magic: inflate; else pass the bytes through */
    int member_end; /* inflate ended a member: what follows must be another, or nothing */
    int eof;        /* raw is at its end */
    unsigned char in[1 << 16];
    char why[224];
} gz_stream;

/* Top up the input buffer (what is left of it moved to the front). -1: a read error. */
static int gz_fill(gz_stream *g)
{
    if (g->eof) return 0;
    if (g->zs.avail_in && g->zs.next_in != g->in) memmove(g->in, g->zs.next_in, g->zs.avail_in);
    g->zs.next_in = g->in;
    errno = 0;
    size_t k = fread(g->in + g->zs.avail_in, 1, sizeof g->in - g->zs.avail_in, g->raw);
    g->zs.avail_in += (uInt)k;
    if (ferror(g->raw)) {
        snprintf(g->why, sizeof g->why, "%s", strerror(errno ? errno : EIO));
        return -1;
    }
    if (feof(g->raw)) g->eof = 1;
    return 0;
}

static ssize_t gz_fail(void)
{
    errno = EIO;
    return -1;
}

static ssize_t gz_stream_read(void *cookie, char *buf, size_t n)
{
    gz_stream *g = cookie;
    if (g->why[0]) return gz_fail();
    if (!g->gzip) { /* the bytes looked at for the magic first, then the file */
        size_t k = n < g->zs.avail_in ? n : g->zs.avail_in;
        memcpy(buf, g->zs.next_in, k);
        g->zs.next_in += k;
        g->zs.avail_in -= (uInt)k;
        if (k) return (ssize_t)k;
        errno = 0;
        k = fread(buf, 1, n, g->raw);
        if (ferror(g->raw)) {
            snprintf(g->why, sizeof g->why, "%s", strerror(errno ? errno : EIO));
            return gz_fail();
        }
        return (ssize_t)k;
    }
    if (n > UINT_MAX) n = UINT_MAX;
    for (;;) {
        if (g->member_end) { /* another member, or the end of the file */
            if (g->zs.avail_in < 2 && gz_fill(g) < 0) return gz_fail();
            if (!g->zs.avail_in) return 0;
            if (g->zs.avail_in < 2 || g->zs.next_in[0] != 0x1f || g->zs.next_in[1] != 0x8b) {
                long long after = (long long)g->zs.avail_in;
                if (!g->eof) { /* count them: the message says how much was appended */
                    long here = ftell(g->raw), total = -1;
                    if (here >= 0 && fseek(g->raw, 0, SEEK_END) == 0) total = ftell(g->raw);
                    after = total >= here && here >= 0 ? after + (total - here) : -1;
                }
                char many[32] = "data";
                if (after >= 0) snprintf(many, sizeof many, "%lld byte(s)", after);
                snprintf(g->why, sizeof g->why,
                         "%s after the end of the gzip data that start no gzip member (a damaged "
                         "file, or text appended to a compressed log)",
                         many);
                return gz_fail();
            }
            if (inflateReset(&g->zs) != Z_OK) {
                snprintf(g->why, sizeof g->why, "zlib cannot start the next gzip member");
                return gz_fail();
            }
            g->member_end = 0;
        }
        if (!g->zs.avail_in && gz_fill(g) < 0) return gz_fail();
        g->zs.next_out = (Bytef *)buf;
        g->zs.avail_out = (uInt)n;
        int rc = inflate(&g->zs, Z_NO_FLUSH);
        size_t made = n - g->zs.avail_out;
        if (rc == Z_STREAM_END)
            g->member_end = 1;
        else if (rc == Z_MEM_ERROR) {
            snprintf(g->why, sizeof g->why, "%s", strerror(ENOMEM));
            return gz_fail();
        } else if (rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
            snprintf(g->why, sizeof g->why, "%s (a damaged gzip file)",
                     g->zs.msg ? g->zs.msg : "zlib error");
            return gz_fail();
        } else if (!made && !g->zs.avail_in && g->eof) { /* Z_BUF_ERROR: no input left */
            snprintf(g->why, sizeof g->why, "the gzip stream ends early (a truncated file)");
            return gz_fail();
        }
        if (made) return (ssize_t)made; /* an error after it is met by the next call */
    }
}

static int gz_stream_close(void *cookie)
{
    gz_stream *g = cookie;
    if (g->gzip) inflateEnd(&g->zs);
    fclose(g->raw);
    free(g);
    return 0;
}

static FILE *open_log(const char *path, gz_stream **gs)
{
    gz_stream *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->path = path;
    if (!(g->raw = fopen(path, "rb"))) {
        int e = errno ? errno : ENOMEM;
        free(g);
        errno = e;
        return NULL;
    }
    g->zs.next_in = g->in;
    while (g->zs.avail_in < 2 && !g->eof && gz_fill(g) == 0) {
    }
    if (g->why[0]) { /* the first read failed: the caller's read loop says so */
    } else if (g->zs.avail_in >= 2 && g->in[0] == 0x1f && g->in[1] == 0x8b) {
        g->gzip = 1;
        if (inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK) { /* 16: a gzip wrapper */
            fclose(g->raw);
            free(g);
            errno = ENOMEM;
            return NULL;
        }
    }
    FILE *f = fopencookie(g, "r",
                          (cookie_io_functions_t){ .read = gz_stream_read,
                                                   .close = gz_stream_close });
    if (!f) {
        gz_stream_close(g);
        errno = ENOMEM;
        return NULL;
    }
    *gs = g;
    return f;
}

/* Bad lines named one by one per file; the rest are counted. */
#define MAX_WARNINGS 20

/* Drive the line loop for both file kinds. kind 0: training log into run; 1: samples. */
static cxr_status read_lines(const char *path, cxr_report_warn_fn warn, void *ctx, cxr_log_run *run,
                             cxr_samples *smp)
{
    cxr_status st = CXR_OK;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, cap_ep = 0, cap_b = 0, cap_s = 0, cap_st = 0, seen_run = 0, n_bad = 0;
    gz_stream *gs = NULL;
    errno = 0;
    FILE *f = open_log(path, &gs);
    if (!f) return cxr_set_error(CXR_E_IO, "%s: cannot open: %s", path, strerror(errno));
    while ((len = cxr_log_read_line(f, &line, &cap)) >= 0 && !ferror(f)) { /* not a cut line */
        lineno++;
        const int too_long = (size_t)len > CXR_LOG_LINE_MAX;
        if (too_long) len = (ssize_t)CXR_LOG_LINE_MAX; /* the bytes kept: its beginning */
        /* a model or a store given for a log: said as such, not as a screen of bad lines */
        if (lineno == 1 && len >= 6 && memcmp(line, CXR_HDF5_SIGNATURE, 6) == 0) /* to its \n */
            CXR_THROW(CXR_E_FORMAT,
                      "%s: an HDF5 file (a cxr model or store?), not a %s: give the JSON lines "
                      "file cxr-train's %s wrote",
                      path, run ? "training log" : "samples file", run ? "--log" : "--monitor-log");
        /* the other kind of JSON lines file: which list it goes in, not one warning a line */
        const char *other = run ? CXR_MONITOR_MARK : CXR_TRAINLOG_MARK;
        if (lineno == 1 && strncmp(line, other, strlen(other)) == 0)
            CXR_THROW(CXR_E_FORMAT, "%s: a %s, not a %s: give it %s", path,
                      run ? "samples file (cxr-train --monitor-log)" : "training log",
                      run ? "training log" : "samples file",
                      run ? "after --samples" : "before --samples, or after --runs");
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
        /* blank lines are harmless; a line of NUL bytes (a crash's tail) is not blank */
        if (strspn(line, " \t") == (size_t)len) continue;
        if (run)
            run->n_lines++;
        else
            smp->n_lines++;
        line_err e = { { 0 } };
        int rc = 0;
        const char *end = NULL;
        cJSON *o = NULL;
        int64_t values = 0, matrix = 0;
        errno = 0;
        if (too_long) { /* cxr_log_read_line: a damaged or foreign file, not parsed */
            bad(&e, "longer than any line cxr-train writes (over %zu MiB)", CXR_LOG_LINE_MAX >> 20);
        } else if (!cxr_log_line_values_ok(line, (size_t)len, &values, &matrix)) {
            if (values > CXR_LOG_LINE_VALUES_MAX)
                bad(&e, "%lld JSON values, more than any line cxr-train writes (%lld)",
                    (long long)values, (long long)CXR_LOG_LINE_VALUES_MAX);
            else
                bad(&e,
                    "%lld JSON values in its \"%s\" and \"%s\", more than any cxr-train wrote "
                    "(%lld)",
                    (long long)matrix, CXR_LOG_CONFUSION, CXR_LOG_ROC,
                    (long long)CXR_LOG_LINE_ARRAY_VALUES_MAX);
        } else {
            nul_escapes_to_fffd(line, (size_t)len);
            o = cJSON_ParseWithLengthOpts(line, (size_t)len, &end, 0);
        }
        /* cJSON says NULL for bad syntax and for a failed allocation alike: malloc's ENOMEM
         * tells the second, which is no fault of the line (it was skipped, the page lacking an
         * epoch, exit 0) */
        if (!o && errno == ENOMEM)
            CXR_THROW(CXR_E_NOMEM, "%s:%d: out of memory reading the line (%lld bytes)", path,
                      lineno, (long long)len);
        const cJSON *ty = o ? cJSON_GetObjectItemCaseSensitive(o, CXR_LOG_TYPE) : NULL;
        if (o && end) end += strspn(end, " \t");
        if (e.msg[0])
            rc = -1; /* not parsed: said above */
        else if (!o)
            rc = bad(&e, "not valid JSON");
        else if (end && end < line + len) /* e.g. a torn line with a resume's run line after it */
            rc = bad(&e, "text after the JSON object at column %d", (int)(end - line) + 1);
        else if (!cJSON_IsObject(o))
            rc = bad(&e, "not a JSON object");
        else if (smp) {
            if (cap_s <= smp->n) {
                cap_s = cap_s ? 2 * cap_s : 256;
                cxr_monitor_sample *ns = realloc(smp->s, (size_t)cap_s * sizeof *ns);
                if (!ns) {
                    cJSON_Delete(o);
                    CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
                }
                smp->s = ns;
            }
            rc = parse_sample(o, &smp->s[smp->n], &e);
            if (rc == 0) smp->n++;
        } else if (!cJSON_IsString(ty)) {
            rc = bad(&e, "no string \"%s\" key", CXR_LOG_TYPE);
        } else if (strcmp(ty->valuestring, CXR_LOG_TYPE_RUN) == 0) {
            /* a later run line is a --resume appending to the log: same run, counted. One
             * that resumes nothing is another run's (logs joined by hand): said */
            const int again = seen_run > 0;
            if ((rc = parse_run(o, run, &e)) == 0) run->n_run_lines = ++seen_run;
            if (rc == 0 && again && warn &&
                !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "resumed_from"))) {
                char msg[512];
                snprintf(msg, sizeof msg,
                         "%s:%d: a run line that resumes nothing (no resumed_from): another "
                         "run's lines follow, read as this run's (an epoch logged again "
                         "replaces the earlier one); give each run its own log",
                         path, lineno);
                warn(ctx, msg);
            }
        } else if (strcmp(ty->valuestring, CXR_LOG_TYPE_EPOCH) == 0) {
            if (cap_ep <= run->n_epochs) {
                cap_ep = cap_ep ? 2 * cap_ep : 16;
                cxr_log_epoch *ne = realloc(run->epochs, (size_t)cap_ep * sizeof *ne);
                if (!ne) {
                    cJSON_Delete(o);
                    CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
                }
                run->epochs = ne;
            }
            cxr_log_epoch *ep = &run->epochs[run->n_epochs];
            rc = parse_epoch(o, ep, &e);
            if (rc == 0)
                run->n_epochs++;
            else
                epoch_free(ep);
        } else if (strcmp(ty->valuestring, CXR_LOG_TYPE_BENCHMARK) == 0) {
            if (cap_b <= run->n_bench) {
                cap_b = cap_b ? 2 * cap_b : 8;
                cxr_log_bench *nb = realloc(run->bench, (size_t)cap_b * sizeof *nb);
                if (!nb) {
                    cJSON_Delete(o);
                    CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
                }
                run->bench = nb;
            }
            rc = parse_bench(o, &run->bench[run->n_bench], &e);
            if (rc == 0) run->n_bench++;
        } else if (strcmp(ty->valuestring, CXR_LOG_TYPE_STEP) == 0) {
            if (cap_st <= run->n_steps) {
                cap_st = cap_st ? 2 * cap_st : 256;
                cxr_log_step *ns = realloc(run->steps, (size_t)cap_st * sizeof *ns);
                if (!ns) {
                    cJSON_Delete(o);
                    CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
                }
                run->steps = ns;
            }
            rc = parse_step(o, &run->steps[run->n_steps], &e);
            if (rc == 0) run->n_steps++;
        } /* other types: newer trainers may add some; unknown is not malformed */
        cJSON_Delete(o);
        if (rc) {
            if (run)
                run->n_skipped++;
            else
                smp->n_skipped++;
            if (warn && ++n_bad <= MAX_WARNINGS) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s:%d: %s; line skipped", path, lineno, e.msg);
                warn(ctx, msg);
            }
        }
    }
    if (ferror(f))
        CXR_THROW(CXR_E_IO, "%s: read error: %s", path, gs->why[0] ? gs->why : strerror(errno));
    if (!feof(f)) /* the read failed without an error on the stream: memory ran out */
        CXR_THROW(errno == ENOMEM ? CXR_E_NOMEM : CXR_E_IO, "%s: line %d cannot be read: %s", path,
                  lineno + 1, strerror(errno));
    if (warn && n_bad > MAX_WARNINGS) { /* a binary file given by mistake: not a flood */
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %d more bad lines skipped (the first %d are named above)",
                 path, n_bad - MAX_WARNINGS, MAX_WARNINGS);
        warn(ctx, msg);
    }
    if (run) drop_other_classes(run, path, warn, ctx); /* (NULL: a samples file) */
bail:
    free(line);
    fclose(f);
    return st;
}

void cxr_log_run_free(cxr_log_run *run)
{
    if (!run) return;
    for (int i = 0; i < run->n_epochs; i++) epoch_free(&run->epochs[i]);
    for (int i = 0; i < run->n_bench; i++) free(run->bench[i].config);
    for (int i = 0; i < run->n_classes; i++) free(run->classes[i]);
    free(run->classes);
    free(run->select);
    free(run->epochs);
    free(run->bench);
    free(run->steps);
    free(run->path);
    free(run->label);
    free(run->tool);
    free(run->store);
    free(run->device);
    free(run->kernels);
    free(run->cpu_model);
    free(run->eval_split);
    free(run->recipe_json);
    free(run);
}

typedef struct {
    int epoch, line; /* an epoch line's epoch number and its index in the log */
} epoch_key;

static int epoch_key_cmp(const void *a, const void *b)
{
    const epoch_key *x = a, *y = b;
    if (x->epoch != y->epoch) return (x->epoch > y->epoch) - (x->epoch < y->epoch);
    return (x->line > y->line) - (x->line < y->line);
}

/* A resumed run may log an epoch twice (the first attempt died after logging it but before
 * its checkpoint): keep the last line of each epoch number, in epoch order. Sorted by (epoch,
 * line): n log n however the lines are ordered (a search per line and an insertion sort took
 * seconds for a log of 10,000 epochs in reverse). */
static void dedupe_epochs(cxr_log_run *run)
{
    int n = run->n_epochs, out = 0;
    if (n < 2) return;
    epoch_key *k = malloc((size_t)n * sizeof *k);
    cxr_log_epoch *kept = malloc((size_t)n * sizeof *kept);
    if (!k || !kept) { /* a few bytes a line: left as read rather than fail the report */
        free(k);
        free(kept);
        return;
    }
    for (int i = 0; i < n; i++) k[i] = (epoch_key){ run->epochs[i].epoch, i };
    qsort(k, (size_t)n, sizeof *k, epoch_key_cmp);
    for (int i = 0; i < n; i++) {
        if (i + 1 < n && k[i + 1].epoch == k[i].epoch) /* a later line of the same epoch */
            epoch_free(&run->epochs[k[i].line]);
        else
            kept[out++] = run->epochs[k[i].line];
    }
    memcpy(run->epochs, kept, (size_t)out * sizeof *kept);
    run->n_epochs = out;
    free(k);
    free(kept);
}

/* A step line's place: sorted by (step, line), which makes qsort stable. */
typedef struct {
    int64_t step;
    int line;
} step_key;

static int step_key_cmp(const void *a, const void *b)
{
    const step_key *x = a, *y = b;
    if (x->step != y->step) return x->step < y->step ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

/* Steps logged twice (a resume repeats the steps after the last checkpoint): keep the last
 * line of each step number, in step order. O(n log n): a run can log millions of steps. */
static void dedupe_steps(cxr_log_run *run)
{
    int n = run->n_steps, out = 0;
    if (n < 2) return;
    step_key *order = malloc((size_t)n * sizeof *order);
    cxr_log_step *tmp = malloc((size_t)n * sizeof *tmp);
    if (!order || !tmp) {
        free(order);
        free(tmp);
        return;
    }
    for (int i = 0; i < n; i++) order[i] = (step_key){ run->steps[i].step, i };
    qsort(order, (size_t)n, sizeof *order, step_key_cmp);
    for (int i = 0; i < n; i++) {
        const cxr_log_step *s = &run->steps[order[i].line];
        if (i + 1 < n && order[i + 1].step == s->step) continue; /* a later line */
        tmp[out++] = *s;
    }
    memcpy(run->steps, tmp, (size_t)out * sizeof *tmp);
    run->n_steps = out;
    free(order);
    free(tmp);
}

cxr_status cxr_log_read(const char *path, cxr_report_warn_fn warn, void *ctx, cxr_log_run **out)
{
    cxr_status st = CXR_OK;
    *out = NULL;
    cxr_log_run *run = calloc(1, sizeof *run);
    if (!run) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", path);
    run->train_images = run->eval_images = -1;
    run->path = strdup(path);
    run->label = base_name(path);
    if (!run->path || !run->label) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    CXR_TRY(read_lines(path, warn, ctx, run, NULL));
    dedupe_epochs(run);
    dedupe_steps(run);
    if (run->n_epochs == 0)
        CXR_THROW(CXR_E_FORMAT,
                  "%s" CXR_LOG_NO_EPOCHS "%d non-blank lines read, %d skipped): not a training log "
                  "of specs/log.md, or the run stopped before its first epoch ended",
                  path, run->n_lines, run->n_skipped);
    *out = run;
    run = NULL;
bail:
    cxr_log_run_free(run);
    return st;
}

void cxr_samples_free(cxr_samples *s)
{
    if (!s) return;
    free(s->s);
    free(s->path);
    free(s->label);
    free(s);
}

cxr_status cxr_samples_read(const char *path, cxr_report_warn_fn warn, void *ctx, cxr_samples **out)
{
    cxr_status st = CXR_OK;
    *out = NULL;
    cxr_samples *s = calloc(1, sizeof *s);
    if (!s) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", path);
    s->path = strdup(path);
    s->label = base_name(path);
    if (!s->path || !s->label) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    CXR_TRY(read_lines(path, warn, ctx, NULL, s));
    if (s->n == 0)
        CXR_THROW(CXR_E_FORMAT, "%s: no sample lines (%d non-blank lines read, %d skipped)", path,
                  s->n_lines, s->n_skipped);
    *out = s;
    s = NULL;
bail:
    cxr_samples_free(s);
    return st;
}
