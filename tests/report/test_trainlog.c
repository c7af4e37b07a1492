/* test_trainlog: the log writer (train/trainlog.c) and the report's reader (report/report_log.c)
 * agree. A run line and epoch records written with cxr_trainlog read back with cxr_log_read
 * to the same values: numbers as cJSON prints them (monitor figures to 6 digits), NAN numbers left
 * out of the text, arrays, the GPU reason with characters JSON must escape, and a resume that
 * appends a second run line and repeats an epoch.
 * usage: test_trainlog TMPDIR
 */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cxr_files.h"
#include "cxr_monitor.h"
#include "cxr_report.h"
#include "cxr_store.h"
#include "cxr_test.h"
#include "cxr_trainlog.h"

/* cJSON prints 15 significant digits when they read back within a relative DBL_EPSILON of the
 * number, else 17: a number comes back within that epsilon, not always to the bit. */
#define SAME(a, b) ((isnan(a) && isnan(b)) || fabs((a) - (b)) <= 2.23e-16 * fmax(fabs(a), fabs(b)))

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Epoch 1: an evaluated binary epoch with ROC and a monitor whose GPU was not available. */
static double cls_p[2] = { 0.5, 1.0 / 3.0 }, cls_r[2] = { 1, 0.125 }, cls_f1[2] = { 2.0 / 3, 0.2 };
static double cls_auc[2] = { 0.828125, NAN };
static int64_t confusion[4] = { 8, 0, 7, 1 };
static double fpr[3] = { 0, 0.125, 1 }, tpr[3] = { 0, 0.625, 1 };

static void fill_epoch1(cxr_log_epoch *e)
{
    memset(e, 0, sizeof *e);
    e->epoch = 1;
    for (int i = 0; i < cxr_log_epoch_n_result_fields; i++)
        *cxr_log_num(e, &cxr_log_epoch_result_fields[i]) = 0.1 * (i + 1) / 3.0;
    for (int i = 0; i < cxr_log_epoch_n_cost_fields; i++)
        *cxr_log_num(e, &cxr_log_epoch_cost_fields[i]) = 1e3 / 7.0 * (i + 1);
    e->train_loss = 15.012341777483622;
    e->gpu_mem_used_mb = NAN;
    e->steps = 6;
    e->step_total = 6;
    e->n_per_class = 2;
    e->class_precision = cls_p;
    e->class_recall = cls_r;
    e->class_f1 = cls_f1;
    e->class_auc = cls_auc;
    e->k = 2;
    e->confusion = confusion;
    e->n_roc = 3;
    e->roc_fpr = fpr;
    e->roc_tpr = tpr;
    e->has_monitor = 1;
    e->monitor.n_samples = 9;
    e->monitor.cpu_util_mean = 141.60412345;
    e->monitor.cpu_util_max = 193.42;
    e->monitor.rss_mb_mean = 1504.8111;
    e->monitor.rss_mb_max = 1678.43;
    e->monitor.gpu_util_mean = e->monitor.gpu_util_max = NAN;
    e->monitor.gpu_mem_mb_mean = e->monitor.gpu_mem_mb_max = e->monitor.gpu_mem_total_mb = NAN;
    snprintf(e->monitor.gpu_reason, sizeof e->monitor.gpu_reason, "lib \"nvml\"\\\tgone");
}

/* Epoch 2: no evaluation (results NAN but the training ones, no arrays), GPU monitored. */
static void fill_epoch2(cxr_log_epoch *e, double train_loss)
{
    memset(e, 0, sizeof *e);
    e->epoch = 2;
    for (int i = 0; i < cxr_log_epoch_n_result_fields; i++)
        *cxr_log_num(e, &cxr_log_epoch_result_fields[i]) = NAN;
    for (int i = 0; i < cxr_log_epoch_n_cost_fields; i++)
        *cxr_log_num(e, &cxr_log_epoch_cost_fields[i]) = 0.25 * (i + 1);
    e->train_loss = train_loss;
    e->train_acc = 0.70833333333333337;
    e->steps = 6;
    e->step_total = 12;
    e->has_monitor = 1;
    e->monitor.n_samples = 3;
    e->monitor.cpu_util_mean = e->monitor.cpu_util_max = 99.5;
    e->monitor.rss_mb_mean = e->monitor.rss_mb_max = 2000;
    e->monitor.gpu_ok = 1;
    e->monitor.gpu_util_mean = 87.25;
    e->monitor.gpu_util_max = 100;
    e->monitor.gpu_mem_mb_mean = e->monitor.gpu_mem_mb_max = 5120.5;
    e->monitor.gpu_mem_total_mb = 143771;
}

static double six(double v)
{
    char b[32];
    snprintf(b, sizeof b, "%.6g", v);
    return strtod(b, NULL);
}

static void compare(const cxr_log_epoch *got, const cxr_log_epoch *want)
{
    CHECK(got->epoch == want->epoch);
    for (int i = 0; i < cxr_log_epoch_n_result_fields; i++) {
        const cxr_log_field *f = &cxr_log_epoch_result_fields[i];
        if (!SAME(*cxr_log_num((void *)got, f), *cxr_log_num((void *)want, f))) {
            fprintf(stderr, "epoch %d: %s differs\n", want->epoch, f->key);
            CHECK(0);
        }
    }
    for (int i = 0; i < cxr_log_epoch_n_cost_fields; i++) {
        const cxr_log_field *f = &cxr_log_epoch_cost_fields[i];
        if (!SAME(*cxr_log_num((void *)got, f), *cxr_log_num((void *)want, f))) {
            fprintf(stderr, "epoch %d: %s differs\n", want->epoch, f->key);
            CHECK(0);
        }
    }
    CHECK(got->steps == want->steps && got->step_total == want->step_total);
    CHECK(got->n_per_class == want->n_per_class && got->k == want->k && got->n_roc == want->n_roc);
    for (int c = 0; c < want->n_per_class; c++) {
        CHECK(SAME(got->class_precision[c], want->class_precision[c]));
        CHECK(SAME(got->class_recall[c], want->class_recall[c]));
        CHECK(SAME(got->class_f1[c], want->class_f1[c]));
        CHECK(SAME(got->class_auc[c], want->class_auc[c]));
    }
    for (int i = 0; i < want->k * want->k; i++) CHECK(got->confusion[i] == want->confusion[i]);
    for (int i = 0; i < want->n_roc; i++)
        CHECK(got->roc_fpr[i] == want->roc_fpr[i] && got->roc_tpr[i] == want->roc_tpr[i]);
    const cxr_monitor_summary *gm = &got->monitor, *wm = &want->monitor;
    CHECK(got->has_monitor == want->has_monitor && gm->n_samples == wm->n_samples);
    CHECK(gm->gpu_ok == wm->gpu_ok && got->monitor_gpu_reported);
    for (int i = 0; i < cxr_log_n_monitor_fields; i++) {
        const cxr_log_field *f = &cxr_log_monitor_fields[i];
        CHECK(SAME(*cxr_log_num((void *)gm, f), six(*cxr_log_num((void *)wm, f))));
    }
    CHECK(strcmp(gm->gpu_reason, wm->gpu_reason) == 0);
}

static void count_warning(void *ctx, const char *msg)
{
    (void)msg;
    ++*(int *)ctx;
}

/* cxr_trainlog_recipe_differs on the tail of the log at path. */
static cxr_status differs_in(const char *path, const cxr_log_run_line *run, char *why, size_t cap)
{
    cxr_trainlog_tail t;
    const cxr_status st = cxr_trainlog_read_tail(path, 0, &t);
    return st != CXR_OK ? st : cxr_trainlog_recipe_differs(&t, run, why, cap);
}

/* The last warning, kept. */
static void keep_warning(void *ctx, const char *msg) { snprintf(ctx, 512, "%s", msg); }

/* A stream of `len` bytes 'x', then "\n{}\nab" (no newline at the end), made as read. */
typedef struct {
    size_t len, at;
} long_line;
static ssize_t long_line_read(void *cookie, char *buf, size_t n)
{
    static const char tail[] = "\n{}\nab";
    long_line *l = cookie;
    size_t k = 0;
    for (; k < n && l->at < l->len + sizeof tail - 1; k++, l->at++)
        buf[k] = l->at < l->len ? 'x' : tail[l->at - l->len];
    return (ssize_t)k;
}

/* The largest number of JSON values a line of the file at path holds. */
static int64_t most_values(const char *path, size_t *longest)
{
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int64_t most = 0;
    *longest = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        int64_t m = 0;
        const int64_t v = cxr_log_line_values(line, (size_t)n, &m) + m;
        if (v > most) most = v;
        if ((size_t)n > *longest) *longest = (size_t)n;
    }
    free(line);
    fclose(f);
    return most;
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    /* the marks the tools' output checks look for (common/, below the writers) are the writers' */
    CHECK(strcmp(CXR_FILES_TRAINLOG_MARK, CXR_TRAINLOG_MARK) == 0);
    CHECK(strcmp(CXR_FILES_SAMPLES_MARK, CXR_MONITOR_MARK) == 0);
    char path[1200];
    snprintf(path, sizeof path, "%s/trainlog.jsonl", argv[1]);
    unlink(path); /* an earlier run's ends gzip-compressed, which a fresh log refuses to empty */
    static char n0[] = "NORMAL", n1[] = "PNEUMONIA";
    char *classes[] = { n0, n1 };
    cxr_log_run_line rl = { .tool = "cxr-train test",
                            .store = "s.h5",
                            .device = "cpu (2 threads)",
                            .kernels = "own AVX2+FMA kernels; fp32",
                            .cpu_model = "Some CPU",
                            .n_classes = 2,
                            .classes = classes,
                            .epochs = 2,
                            .batch = 8,
                            .lr = 1e-4f,
                            .seed = 5,
                            .threads = 2,
                            .precision = "fp32",
                            .resident = -1,
                            .prefetch = 1,
                            .keep_prob = 0.75f,
                            .alpha = 0.5f,
                            .train_images = 48,
                            .eval_images = 16,
                            .eval_split = "test",
                            .image_size = 256,
                            .equalize = "clahe",
                            .normalize = "minmax",
                            .crop_ratio = 0.2,
                            .clahe_clip = 4 };
    cxr_log_epoch e1, e2, e2b;
    fill_epoch1(&e1);
    fill_epoch2(&e2, 7.2172055548896124);
    fill_epoch2(&e2b, 7.0);

    /* a run of two epochs, then a resume that appends its run line and redoes epoch 2 */
    cxr_trainlog *log = NULL;
    CHECK_OK(cxr_trainlog_open(&log, path, 0));
    CHECK_OK(cxr_trainlog_write_run(log, &rl));
    CHECK_OK(cxr_trainlog_write_epoch(log, &e1));
    CHECK_OK(cxr_trainlog_write_epoch(log, &e2));
    CHECK_OK(cxr_trainlog_close(log));
    CHECK_OK(cxr_trainlog_open(&log, path, 1));
    rl.resumed_from = "ck.h5";
    rl.start_epoch = 2;
    rl.clahe_clip = 0; /* not written */
    CHECK_OK(cxr_trainlog_write_run(log, &rl));
    CHECK_OK(cxr_trainlog_write_epoch(log, &e2b));
    CHECK_OK(cxr_trainlog_close(log));
    CHECK_OK(cxr_trainlog_close(NULL));

    /* the text: NAN numbers are left out, floats at their shortest, resume keys present */
    const char *text = slurp(path);
    const char *l2 = strstr(text, "\"epoch\":2,");
    REQUIRE(l2);
    CHECK(strstr(text, "\"lr\":0.0001,") && strstr(text, "\"keep_prob\":0.75,"));
    CHECK(!strstr(text, "\"resident\"") && !strstr(text, "\"max_steps\""));
    CHECK(strstr(text, "\"resumed_from\":\"ck.h5\",\"start_epoch\":2"));
    const char *pp1 = strstr(text, "\"image_size\":256,\"preprocessing\":{\"equalize\":\"clahe\","
                                   "\"clahe_clip\":4,\"normalize\":\"minmax\",\"crop_ratio\":0.2}");
    REQUIRE(pp1); /* the first run line's; the resume's second one has no clahe_clip */
    const char *pp2 = strstr(strstr(pp1, "\"preprocessing\"") + 1, "\"preprocessing\":");
    const char *want2 = "\"preprocessing\":{\"equalize\":\"clahe\",\"normalize\":";
    CHECK(pp2 && strncmp(pp2, want2, strlen(want2)) == 0);
    CHECK(strstr(text, "\"train_loss\":15.012341777483622,"));
    const char *gm = strstr(text, "\"gpu_mem_used_mb\":");
    CHECK(gm && gm > l2); /* epoch 1 measured none */
    CHECK(!strstr(l2, "\"eval_loss\"") && !strstr(l2, "\"per_class\"") && !strstr(l2, "\"roc\""));
    CHECK(strstr(text, "\"cpu_util_mean\":141.604,"));

    cxr_log_run *run = NULL;
    CHECK_OK(cxr_log_read(path, NULL, NULL, &run));
    CHECK(run->n_skipped == 0 && run->n_run_lines == 2 && run->n_epochs == 2);
    CHECK(strcmp(run->tool, rl.tool) == 0 && strcmp(run->store, rl.store) == 0 &&
          strcmp(run->device, rl.device) == 0 && strcmp(run->eval_split, "test") == 0);
    CHECK(run->kernels && strcmp(run->kernels, rl.kernels) == 0 && run->cpu_model &&
          strcmp(run->cpu_model, rl.cpu_model) == 0);
    CHECK(run->n_classes == 2 && strcmp(run->classes[1], "PNEUMONIA") == 0);
    CHECK(run->train_images == 48 && run->eval_images == 16);
    CHECK(run->recipe_json && strstr(run->recipe_json, "\"batch\":8"));
    if (run->n_epochs == 2) {
        compare(&run->epochs[0], &e1);
        compare(&run->epochs[1], &e2b); /* the resume's line wins */
    }
    cxr_log_run_free(run);

    /* a run killed mid-line, then resumed: the torn line is ended, so the resume's run line
     * and epoch are read (before, they were glued to the torn line and lost with it) */
    FILE *torn = fopen(path, "w");
    REQUIRE(torn);
    fputs("{\"type\":\"run\",\"tool\":\"first\"}\n{\"type\":\"epoch\",\"epoch\":1,\"train_lo",
          torn);
    fclose(torn);
    CHECK_OK(cxr_trainlog_open(&log, path, 1));
    CHECK_OK(cxr_trainlog_write_run(log, &rl));
    CHECK_OK(cxr_trainlog_write_epoch(log, &e2b));
    CHECK_OK(cxr_trainlog_close(log));
    int n_torn = 0;
    run = NULL;
    CHECK_OK(cxr_log_read(path, count_warning, &n_torn, &run));
    CHECK(run && run->n_run_lines == 2 && run->n_skipped == 1 && n_torn == 1);
    CHECK(run && strcmp(run->tool, rl.tool) == 0 && run->n_epochs == 1 &&
          run->epochs[0].epoch == 2);
    cxr_log_run_free(run);
    /* a log ending in its newline gets no blank line */
    size_t len_before = strlen(slurp(path));
    CHECK_OK(cxr_trainlog_open(&log, path, 1));
    CHECK_OK(cxr_trainlog_close(log));
    CHECK(strlen(slurp(path)) == len_before);

    /* the confusion matrix up to CXR_LOG_CONFUSION_MAX_CLASSES classes, absent beyond (4096
     * classes made epoch lines of 34 MB) */
    for (int k = CXR_LOG_CONFUSION_MAX_CLASSES; k <= CXR_LOG_CONFUSION_MAX_CLASSES + 1; k++) {
        int64_t *cm = calloc((size_t)k * k, sizeof *cm);
        REQUIRE(cm);
        cxr_log_epoch big;
        fill_epoch1(&big);
        big.k = k;
        big.confusion = cm;
        unlink(path); /* epoch lines only: no log a fresh open would empty (cxr_log_open) */
        CHECK_OK(cxr_trainlog_open(&log, path, 0));
        CHECK_OK(cxr_trainlog_write_epoch(log, &big));
        CHECK_OK(cxr_trainlog_close(log));
        const char *t = slurp(path);
        CHECK((strstr(t, "\"confusion\":") != NULL) == (k <= CXR_LOG_CONFUSION_MAX_CLASSES));
        CHECK(strstr(t, "\"per_class\":") != NULL);
        free(cm);
    }

    /* the recipe's documented keys (specs/log.md): a step schedule's decay (lr_step_every,
     * lr_gamma; only for "step"), and `resident` false for a GPU run that did not hold its split
     * (only a CPU run's -1 leaves it out) */
    for (int k = 0; k < 2; k++) {
        unlink(path);
        cxr_log_run_line r2 = rl;
        r2.resumed_from = NULL;
        r2.schedule = k ? "cosine" : "step";
        r2.lr_step_every = 300;
        r2.lr_gamma = 0.5;
        r2.resident = 0;
        r2.lr = 1.2345678e-4f; /* a float of 8 significant digits, written with all of them */
        CHECK_OK(cxr_trainlog_open(&log, path, 0));
        CHECK_OK(cxr_trainlog_write_run(log, &r2));
        CHECK_OK(cxr_trainlog_write_epoch(log, &e1));
        CHECK_OK(cxr_trainlog_close(log));
        const char *t = slurp(path);
        CHECK((strstr(t, "\"lr_step_every\":300,\"lr_gamma\":0.5,") != NULL) == (k == 0));
        CHECK(strstr(t, "\"schedule\":\"") && strstr(t, "\"resident\":false,"));
        CHECK(strstr(t, "\"lr\":0.00012345678,") != NULL);
    }

    /* an ROC of one point per distinct score is logged thinned past CXR_LOG_ROC_STEPS points
     * (90,002 distinct scores made an epoch line of about 3.6 MB): a staircase of 100,001
     * points keeps its ends and at most 2 x 2000 + 2, every point passed over within 1/2000 of
     * a kept one in both rates; 2,000 points are logged whole */
    for (int big = 0; big < 2; big++) {
        const int64_t n = big ? 100001 : CXR_LOG_ROC_STEPS;
        double *f = malloc(sizeof(double) * (size_t)n), *t = malloc(sizeof(double) * (size_t)n);
        REQUIRE(f && t);
        for (int64_t i = 0; i < n; i++) { /* up and across by turns, (0,0) to (1,1) */
            f[i] = (double)(i / 2) / (double)((n - 1) / 2);
            t[i] = (double)((i + 1) / 2) / (double)((n - 1) / 2 + ((n - 1) % 2));
        }
        f[n - 1] = t[n - 1] = 1;
        cxr_log_epoch eb;
        fill_epoch1(&eb);
        eb.n_roc = (int)n;
        eb.roc_fpr = f;
        eb.roc_tpr = t;
        unlink(path);
        CHECK_OK(cxr_trainlog_open(&log, path, 0));
        CHECK_OK(cxr_trainlog_write_run(log, &rl));
        CHECK_OK(cxr_trainlog_write_epoch(log, &eb));
        CHECK_OK(cxr_trainlog_close(log));
        cxr_log_run *rb = NULL;
        CHECK_OK(cxr_log_read(path, NULL, NULL, &rb));
        REQUIRE(rb && rb->n_epochs == 1);
        const cxr_log_epoch *g = &rb->epochs[0];
        const int m = g->n_roc;
        CHECK(big ? m > CXR_LOG_ROC_STEPS / 2 && m <= 2 * CXR_LOG_ROC_STEPS + 2 : m == n);
        CHECK(m > 1 && g->roc_fpr[0] == 0 && g->roc_tpr[0] == 0 && g->roc_fpr[m - 1] == 1 &&
              g->roc_tpr[m - 1] == 1);
        /* each logged point is one of the curve's, in order (cJSON's printer keeps 15 digits
         * where they read back within about an ulp) */
        int64_t k = 0, far = 0, lost = 0;
        for (int j = 0; j < m; j++) {
            while (k < n &&
                   !(fabs(f[k] - g->roc_fpr[j]) < 1e-12 && fabs(t[k] - g->roc_tpr[j]) < 1e-12))
                k++;
            lost += k == n;
        }
        CHECK(lost == 0);
        for (int64_t i = 0, j = 0; i < n; i++) { /* the kept point at or before i is close */
            while (j + 1 < m && g->roc_fpr[j + 1] <= f[i] + 1e-12 &&
                   g->roc_tpr[j + 1] <= t[i] + 1e-12)
                j++;
            if (fabs(f[i] - g->roc_fpr[j]) >= 1.0 / CXR_LOG_ROC_STEPS ||
                fabs(t[i] - g->roc_tpr[j]) >= 1.0 / CXR_LOG_ROC_STEPS)
                far++;
        }
        CHECK(far == 0);
        cxr_log_run_free(rb);
        free(f);
        free(t);
    }

    /* thinning starts past CXR_LOG_ROC_STEPS points, not at twice that, and keeps no point but
     * the last within 1/2000 of the one kept before it: a diagonal of 3,001 points (1/3000
     * apart) is every second point, 1,501 */
    {
        const int64_t n = 3001;
        double f[3001], t[3001];
        for (int64_t i = 0; i < n; i++) f[i] = t[i] = (double)i / (double)(n - 1);
        int64_t m = 0, near = 0, prev = -1;
        for (int64_t i = 0; i < n; prev = i, i = cxr_log_roc_next(f, t, n, i), m++)
            if (prev >= 0 && i < n - 1 && fabs(f[i] - f[prev]) < 1.0 / CXR_LOG_ROC_STEPS &&
                fabs(t[i] - t[prev]) < 1.0 / CXR_LOG_ROC_STEPS)
                near++;
        CHECK(m == 1501 && near == 0 && prev == n - 1);
    }

    /* what a resume reads back (cxr_trainlog_read_tail): the last run line's seed and batch, and
     * the epoch of the last epoch or stop line, a stop line counting as a line for its epoch */
    unlink(path);
    CHECK_OK(cxr_trainlog_open(&log, path, 0));
    CHECK_OK(cxr_trainlog_write_run(log, &rl));
    CHECK_OK(cxr_trainlog_write_epoch(log, &e1));
    CHECK_OK(cxr_trainlog_write_stop(log, 3, "patience", 1, 0.5));
    CHECK_OK(cxr_trainlog_close(log));
    cxr_trainlog_tail tail;
    CHECK_OK(cxr_trainlog_read_tail(path, 3, &tail));
    CHECK(tail.has_run && tail.seed == 5 && tail.batch == 8 && tail.last_epoch == 3 &&
          tail.has_epoch);
    CHECK_OK(cxr_trainlog_read_tail(path, 2, &tail));
    CHECK(tail.last_epoch == 3 && !tail.has_epoch);

    /* ... and whether its recipe is this run's (cxr_trainlog_recipe_differs): keys that define
     * the training are compared, the first that differs named; those a resume may change, or
     * that leave the results alone, and keys the log lacks are not */
    {
        char why[256];
        cxr_log_run_line same = rl;
        same.epochs = 9;
        same.threads = 7;
        same.patience = 3;
        same.precision = "bf16";
        CHECK_OK(differs_in(path, &same, why, sizeof why));
        CHECK(why[0] == '\0');
        cxr_log_run_line other = rl;
        other.alpha = 0.25f;
        CHECK_OK(differs_in(path, &other, why, sizeof why));
        CHECK(strcmp(why, "alpha: 0.5 in the log, 0.25 here") == 0);
        other = rl;
        other.augment = "none";
        CHECK_OK(differs_in(path, &other, why, sizeof why));
        CHECK(why[0] == '\0'); /* the log's run line has no augment: an older writer's */
        other.keep_prob = 1.0f;
        CHECK_OK(differs_in(path, &other, why, sizeof why));
        CHECK(strcmp(why, "keep_prob: 0.75 in the log, 1 here") == 0);
        CHECK_OK(differs_in("/nonexistent-dir/x.jsonl", &other, why, sizeof why));
        CHECK(why[0] == '\0');
        /* a log of 0.24 or later: a key left out is its default, both ways; the name, seed,
         * batch (the trainer's own check), the order, the steps cap and what does not change
         * the results are not compared; a step interval of 0 (not known yet) is not either */
        char rpath[1200];
        snprintf(rpath, sizeof rpath, "%s/recipe.jsonl", argv[1]);
        cxr_log_run_line rs = rl;
        rs.tool = "cxr-train 0.24.0";
        rs.recipe = "standard";
        rs.schedule = "step";
        rs.lr_step_every = 6;
        rs.select = "val_auc";
        rs.augment = "none";
        unlink(rpath);
        CHECK_OK(cxr_trainlog_open(&log, rpath, 0));
        CHECK_OK(cxr_trainlog_write_run(log, &rs));
        CHECK_OK(cxr_trainlog_write_epoch(log, &e1));
        CHECK_OK(cxr_trainlog_close(log));
        same = rs;
        same.recipe = "study";
        same.seed = 99;
        same.batch = 3;
        same.shuffle_window = 3;
        same.max_steps = 5;
        same.prefetch = !rs.prefetch;
        same.resident = 1;
        same.lr_step_every = 0;
        CHECK_OK(differs_in(rpath, &same, why, sizeof why));
        CHECK(why[0] == '\0');
        other = rs;
        other.lr_step_every = 7;
        CHECK_OK(differs_in(rpath, &other, why, sizeof why));
        CHECK(strcmp(why, "lr_step_every: 6 in the log, 7 here") == 0);
        other = rs;
        other.mixup = 0.25;
        CHECK_OK(differs_in(rpath, &other, why, sizeof why));
        CHECK(strcmp(why, "mixup: absent (its default) in the log, 0.25 here") == 0);
        CHECK_OK(differs_in(path, &other, why, sizeof why));
        CHECK(why[0] == '\0'); /* ... where the writer is older, absent may be unknown */
        other = rs;
        other.average_from = 3;
        unlink(rpath);
        CHECK_OK(cxr_trainlog_open(&log, rpath, 0));
        CHECK_OK(cxr_trainlog_write_run(log, &other));
        CHECK_OK(cxr_trainlog_write_epoch(log, &e1));
        CHECK_OK(cxr_trainlog_close(log));
        CHECK_OK(differs_in(rpath, &rs, why, sizeof why));
        CHECK(strcmp(why, "average_from: 3 in the log, absent (its default) here") == 0);
        unlink(rpath);
    }

    /* a resume does not append plain lines to a gzip-compressed log; the file is untouched */
    FILE *gz = fopen(path, "wb");
    REQUIRE(gz);
    const unsigned char gz_bytes[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03 };
    REQUIRE(fwrite(gz_bytes, 1, sizeof gz_bytes, gz) == sizeof gz_bytes && fclose(gz) == 0);
    CHECK(cxr_trainlog_open(&log, path, 1) == CXR_E_FORMAT && log == NULL);
    CHECK(strstr(cxr_last_error(), "gzip") != NULL && strstr(cxr_last_error(), path) != NULL);
    struct stat gst;
    CHECK(stat(path, &gst) == 0 && gst.st_size == (off_t)sizeof gz_bytes);

    /* a log this run created, closed before its first epoch (bad input met, an interrupt):
     * removed, not left holding a run line alone (the next run's "earlier log") */
    unlink(path);
    CHECK_OK(cxr_trainlog_open(&log, path, 0));
    CHECK_OK(cxr_trainlog_write_run(log, &rl));
    CHECK_OK(cxr_trainlog_close(log));
    CHECK(access(path, F_OK) != 0 && errno == ENOENT);

    /* over an earlier log, a fresh run whose first epoch line does not fit (a file size limit
     * standing in for a full disk): the write fails, and the earlier log stays as it was (the
     * run's file beside it replaces it only once an epoch is in it) */
    unlink(path);
    CHECK_OK(cxr_trainlog_open(&log, path, 0));
    CHECK_OK(cxr_trainlog_write_run(log, &rl));
    CHECK_OK(cxr_trainlog_write_epoch(log, &e1));
    CHECK_OK(cxr_trainlog_close(log));
    char *earlier = strdup(slurp(path));
    REQUIRE(earlier);
    CHECK_OK(cxr_trainlog_open(&log, path, 0));
    CHECK_OK(cxr_trainlog_write_run(log, &rl));
    {
        struct rlimit was, lim;
        REQUIRE(getrlimit(RLIMIT_FSIZE, &was) == 0);
        void (*sig)(int) = signal(SIGXFSZ, SIG_IGN);
        lim = was;
        lim.rlim_cur = strlen(earlier) - 1; /* the same two lines, but for their last byte */
        REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
        CHECK(cxr_trainlog_write_epoch(log, &e1) == CXR_E_IO);
        REQUIRE(setrlimit(RLIMIT_FSIZE, &was) == 0);
        signal(SIGXFSZ, sig);
    }
    CHECK_OK(cxr_trainlog_close(log));
    CHECK(strcmp(slurp(path), earlier) == 0);
    free(earlier);

    /* the reader's bounds on a line (CXR_LOG_LINE_MAX, CXR_LOG_LINE_VALUES_MAX). Values are
     * counted as cJSON would make nodes: brackets and commas inside strings are not values */
    {
        static const char v6[] = "{\"a\":[1,2,3],\"b\":\"x,[{\\\"\"}";
        int64_t m = -1;
        CHECK(cxr_log_line_values(v6, strlen(v6), &m) == 6 && m == 0);
        cJSON *o = cJSON_Parse(v6); /* the same count as cJSON's: object, array, 3, string */
        CHECK(o && cJSON_GetArraySize(cJSON_GetObjectItem(o, "a")) == 3);
        cJSON_Delete(o);
        CHECK(cxr_log_line_values("[]", 2, NULL) == 2 && cxr_log_line_values("7", 1, NULL) == 1);
        /* a top-level "confusion" array's values are counted apart: k rows of k, k (k + 1) - 1;
         * the key nested deeper, or as a string, is any other */
        static const char c2[] = "{\"confusion\" : [[1,0],[0,1]],\"n\":[{\"confusion\":[[1]]}]}";
        CHECK(cxr_log_line_values(c2, strlen(c2), &m) == 8 && m == 5);
        static const char c3[] = "{\"x\":\"confusion\",\"y\":[[1,2]],\"confusion\":null}";
        CHECK(cxr_log_line_values(c3, strlen(c3), &m) == 7 && m == 0);
        static const char r3[] = "{\"roc\":[[0,0],[0.5,1],[1,1]],\"x\":1}"; /* 3 points: 8 */
        CHECK(cxr_log_line_values(r3, strlen(r3), &m) == 4 && m == 8);
    }
    /* the most values and bytes cxr-train writes stay far inside them: a run line naming 4096
     * classes of CXR_CLASS_NAME_MAX plain bytes and an epoch of theirs (per_class; no confusion
     * matrix past 256 classes) with a staircase ROC none of whose 4,001 points is thinned away;
     * a run of 256 classes with its matrix. Each reads back whole */
    {
        enum { K = 4096, KM = 256, NR = 3999 };
        double *pc = malloc(K * sizeof *pc), *f = malloc(NR * sizeof *f),
               *t = malloc(NR * sizeof *t);
        int64_t *cm = malloc((size_t)KM * KM * sizeof *cm);
        char **names = malloc(K * sizeof *names);
        REQUIRE(pc && f && t && cm && names);
        for (int c = 0; c < K; c++) {
            pc[c] = 1.0 / 3.0 + c;
            REQUIRE((names[c] = malloc(CXR_CLASS_NAME_MAX + 1)));
            memset(names[c], 'a' + c % 26, CXR_CLASS_NAME_MAX);
            names[c][CXR_CLASS_NAME_MAX] = '\0';
            memcpy(names[c],
                   (char[5]){ (char)('A' + c / 676), (char)('A' + c / 26 % 26),
                              (char)('A' + c % 26), 'Z', 'Z' },
                   5); /* distinct */
        }
        for (int i = 0; i < NR; i++) { /* up, right, up, right, ... by 1/1999 */
            f[i] = (double)(i / 2) / 1999.0;
            t[i] = (double)((i + 1) / 2) / 1999.0;
        }
        for (int i = 0; i < KM * KM; i++) cm[i] = 1234567890123 + i;
        cxr_log_epoch big;
        fill_epoch1(&big);
        big.n_per_class = big.k = K;
        big.class_precision = big.class_recall = big.class_f1 = big.class_auc = pc;
        big.n_roc = NR;
        big.roc_fpr = f;
        big.roc_tpr = t;
        cxr_log_run_line many = rl;
        many.n_classes = K;
        many.classes = names;
        unlink(path);
        CHECK_OK(cxr_trainlog_open(&log, path, 0));
        CHECK_OK(cxr_trainlog_write_run(log, &many));
        CHECK_OK(cxr_trainlog_write_epoch(log, &big));
        CHECK_OK(cxr_trainlog_close(log));
        size_t longest = 0, longest2 = 0;
        int64_t most = most_values(path, &longest);
        CHECK(longest > (size_t)K * CXR_CLASS_NAME_MAX && longest < CXR_LOG_LINE_MAX / 6);
        int warned = 0;
        cxr_log_run *rb = NULL;
        CHECK_OK(cxr_log_read(path, count_warning, &warned, &rb));
        CHECK(warned == 0 && rb && rb->n_epochs == 1 && rb->n_classes == K &&
              strcmp(rb->classes[K - 1], names[K - 1]) == 0 && rb->epochs[0].n_per_class == K &&
              rb->epochs[0].n_roc == NR);
        cxr_log_run_free(rb);
        for (int c = 0; c < KM; c++) names[c][8] = '\0'; /* short names */
        many.n_classes = KM;
        big.n_per_class = big.k = KM;
        big.confusion = cm;
        unlink(path);
        CHECK_OK(cxr_trainlog_open(&log, path, 0));
        CHECK_OK(cxr_trainlog_write_run(log, &many));
        CHECK_OK(cxr_trainlog_write_epoch(log, &big));
        CHECK_OK(cxr_trainlog_close(log));
        const int64_t most2 = most_values(path, &longest2);
        if (most2 > most) most = most2;
        CHECK(most > 20000 && most < 100000); /* the header's "under 100,000" */
        rb = NULL;
        CHECK_OK(cxr_log_read(path, count_warning, &warned, &rb));
        CHECK(warned == 0 && rb && rb->n_epochs == 1 && rb->epochs[0].k == KM &&
              rb->epochs[0].confusion[KM * KM - 1] == cm[KM * KM - 1]);
        cxr_log_run_free(rb);
        for (int c = 0; c < K; c++) free(names[c]);
        free(names);
        free(cm);
        free(pc);
        free(f);
        free(t);
    }
    /* a line past CXR_LOG_LINE_MAX is read to its end, its beginning kept; the lines after it
     * are read as ever, the last one without its newline too */
    {
        long_line ll = { CXR_LOG_LINE_MAX + 5, 0 };
        FILE *s = fopencookie(&ll, "r", (cookie_io_functions_t){ .read = long_line_read });
        REQUIRE(s);
        char *line = NULL;
        size_t cap = 0;
        CHECK(cxr_log_read_line(s, &line, &cap) == (ssize_t)CXR_LOG_LINE_MAX + 1);
        CHECK(cap <= CXR_LOG_LINE_MAX + 1 && line[0] == 'x' && line[CXR_LOG_LINE_MAX - 1] == 'x' &&
              line[CXR_LOG_LINE_MAX] == '\0');
        CHECK(cxr_log_read_line(s, &line, &cap) == 3 && strcmp(line, "{}\n") == 0);
        CHECK(cxr_log_read_line(s, &line, &cap) == 2 && strcmp(line, "ab") == 0);
        CHECK(cxr_log_read_line(s, &line, &cap) == -1 && feof(s) && !ferror(s));
        fclose(s);
        /* a line of CXR_LOG_LINE_MAX bytes, its newline counted, is within */
        ll = (long_line){ CXR_LOG_LINE_MAX - 1, 0 };
        REQUIRE((s = fopencookie(&ll, "r", (cookie_io_functions_t){ .read = long_line_read })));
        CHECK(cxr_log_read_line(s, &line, &cap) == (ssize_t)CXR_LOG_LINE_MAX &&
              line[CXR_LOG_LINE_MAX - 1] == '\n');
        fclose(s);
        free(line);
        /* a NULL buffer with a capacity is taken as empty, as getline takes it */
        ll = (long_line){ 3, 0 };
        REQUIRE((s = fopencookie(&ll, "r", (cookie_io_functions_t){ .read = long_line_read })));
        line = NULL;
        cap = 512;
        CHECK(cxr_log_read_line(s, &line, &cap) == 4 && strcmp(line, "xxx\n") == 0);
        fclose(s);
        free(line);
    }
    /* a line of more values than any cxr-train writes (a damaged file: 27 MB of "1," took cJSON
     * 1.1 GB) is not parsed: cxr-report skips it, saying why, and a resume's tail passes it over */
    {
        unlink(path);
        CHECK_OK(cxr_trainlog_open(&log, path, 0));
        CHECK_OK(cxr_trainlog_write_run(log, &rl));
        CHECK_OK(cxr_trainlog_write_epoch(log, &e1));
        CHECK_OK(cxr_trainlog_close(log));
        FILE *a = fopen(path, "a");
        REQUIRE(a);
        fputs("{\"type\":\"epoch\",\"epoch\":2,\"x\":[1", a);
        for (int64_t i = 0; i < CXR_LOG_LINE_VALUES_MAX; i++) fputs(",1", a);
        fputs("]}\n", a);
        REQUIRE(fclose(a) == 0);
        char said[512] = "";
        cxr_log_run *rb = NULL;
        CHECK_OK(cxr_log_read(path, keep_warning, said, &rb));
        CHECK(rb && rb->n_epochs == 1 && rb->n_skipped == 1);
        CHECK(strstr(said, ":3: ") && strstr(said, "JSON values, more than any line cxr-train"));
        cxr_log_run_free(rb);
        CHECK_OK(cxr_trainlog_read_tail(path, 2, &tail));
        CHECK(tail.has_run && tail.last_epoch == 1 && !tail.has_epoch);
        /* a confusion matrix and an ROC curve are bounded apart, by the whole 4096-class
         * matrices of writers before 0.15: past it such a line is not parsed either */
        REQUIRE((a = fopen(path, "a")));
        fputs("{\"type\":\"epoch\",\"epoch\":3,\"confusion\":[[1", a);
        for (int64_t i = 0; i < CXR_LOG_LINE_ARRAY_VALUES_MAX; i++) fputs(",1", a);
        fputs("]]}\n", a);
        REQUIRE(fclose(a) == 0);
        said[0] = '\0';
        rb = NULL;
        CHECK_OK(cxr_log_read(path, keep_warning, said, &rb));
        CHECK(rb && rb->n_epochs == 1 && rb->n_skipped == 2);
        CHECK(strstr(said, ":4: 16781313 JSON values in its \"confusion\" and \"roc\", more "
                           "than any cxr-train wrote (16781312)"));
        cxr_log_run_free(rb);
        CHECK_OK(cxr_trainlog_read_tail(path, 3, &tail));
        CHECK(tail.last_epoch == 1 && !tail.has_epoch);
    }

    /* a log that cannot be opened is named */
    CHECK(cxr_trainlog_open(&log, "/nonexistent-dir/x.jsonl", 0) == CXR_E_IO && log == NULL);
    CHECK(strstr(cxr_last_error(), "/nonexistent-dir/x.jsonl") != NULL);
    TEST_END();
}
