/* test_log.c: reading training logs and samples files (report/report_log.c).
 * Every value the reader returns is compared with the fixture read independently with cJSON;
 * the malformed fixture must name lines 3, 5 and 6 and keep the three good epochs; a log
 * without epoch lines must fail with a message naming the file.
 * usage: test_report_log FIXTURE_DIR
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_report.h"
#include "cxr_test.h"

static char dir[1024];

static const char *fx(const char *name)
{
    static char p[4][1200];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof p[i], "%s/%s", dir, name);
    return p[i];
}

typedef struct {
    int n;
    char msg[16][512];
} warnings;

static void collect(void *ctx, const char *m)
{
    warnings *w = ctx;
    if (w->n < 16) snprintf(w->msg[w->n], sizeof w->msg[0], "%s", m);
    w->n++;
}

/* Read every line of a file as cJSON objects (the fixture's own truth). */
static int load_lines(const char *path, cJSON **objs, int max)
{
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) >= 0 && n < max) {
        cJSON *o = cJSON_Parse(line);
        if (o && cJSON_IsObject(o))
            objs[n++] = o;
        else
            cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    return n;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

#define CHECK_SAME(a, b) CHECK((isnan(a) && isnan(b)) || (a) == (b))

/* Compare each epoch of run with the epoch objects of the fixture. */
static void compare_epochs(const cxr_log_run *run, cJSON **objs, int n)
{
    int e = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(objs[i], "type");
        if (!cJSON_IsString(ty) || strcmp(ty->valuestring, "epoch") != 0) continue;
        const cJSON *o = objs[i];
        REQUIRE(e < run->n_epochs);
        const cxr_log_epoch *ep = &run->epochs[e++];
        CHECK(ep->epoch == (int)num(o, "epoch"));
        CHECK_SAME(ep->train_loss, num(o, "train_loss"));
        CHECK_SAME(ep->train_acc, num(o, "train_acc"));
        CHECK_SAME(ep->eval_loss, num(o, "eval_loss"));
        CHECK_SAME(ep->eval_acc, num(o, "eval_acc"));
        CHECK_SAME(ep->precision, num(o, "precision"));
        CHECK_SAME(ep->recall, num(o, "recall"));
        CHECK_SAME(ep->specificity, num(o, "specificity"));
        CHECK_SAME(ep->f1, num(o, "f1"));
        CHECK_SAME(ep->auc, num(o, "auc"));
        CHECK_SAME(ep->macro_f1, num(o, "macro_f1"));
        CHECK_SAME(ep->balanced_accuracy, num(o, "balanced_accuracy"));
        CHECK_SAME(ep->epoch_s, num(o, "epoch_s"));
        CHECK_SAME(ep->eval_s, num(o, "eval_s"));
        CHECK_SAME(ep->images_per_s, num(o, "images_per_s"));
        CHECK_SAME(ep->data_wait_s, num(o, "data_wait_s"));
        CHECK_SAME(ep->data_wait_frac, num(o, "data_wait_frac"));
        CHECK(ep->steps == (isnan(num(o, "steps")) ? -1 : (int64_t)num(o, "steps")));
        CHECK(ep->step_total == (isnan(num(o, "step_total")) ? -1 : (int64_t)num(o, "step_total")));
        CHECK_SAME(ep->gpu_mem_used_mb, num(o, "gpu_mem_used_mb"));
        const cJSON *cm = cJSON_GetObjectItemCaseSensitive(o, "confusion");
        CHECK(ep->k == cJSON_GetArraySize(cm));
        for (int r = 0; r < ep->k; r++)
            for (int c = 0; c < ep->k; c++)
                CHECK(ep->confusion[r * ep->k + c] ==
                      (int64_t)cJSON_GetArrayItem(cJSON_GetArrayItem(cm, r), c)->valuedouble);
        const cJSON *roc = cJSON_GetObjectItemCaseSensitive(o, "roc");
        CHECK(ep->n_roc == (roc ? cJSON_GetArraySize(roc) : 0));
        for (int p = 0; p < ep->n_roc; p++) {
            CHECK(ep->roc_fpr[p] == cJSON_GetArrayItem(cJSON_GetArrayItem(roc, p), 0)->valuedouble);
            CHECK(ep->roc_tpr[p] == cJSON_GetArrayItem(cJSON_GetArrayItem(roc, p), 1)->valuedouble);
        }
        const cJSON *pc = cJSON_GetObjectItemCaseSensitive(o, "per_class");
        CHECK(ep->n_per_class == (pc ? cJSON_GetArraySize(pc) : 0));
        for (int c = 0; c < ep->n_per_class; c++) {
            CHECK_SAME(ep->class_precision[c], num(cJSON_GetArrayItem(pc, c), "precision"));
            CHECK_SAME(ep->class_recall[c], num(cJSON_GetArrayItem(pc, c), "recall"));
            CHECK_SAME(ep->class_f1[c], num(cJSON_GetArrayItem(pc, c), "f1"));
            CHECK_SAME(ep->class_auc[c], num(cJSON_GetArrayItem(pc, c), "auc"));
        }
        const cJSON *mo = cJSON_GetObjectItemCaseSensitive(o, "monitor");
        CHECK(ep->has_monitor == (mo != NULL));
        if (mo) {
            CHECK(ep->monitor.n_samples == (int)num(mo, "samples"));
            CHECK_SAME(ep->monitor.cpu_util_mean, num(mo, "cpu_util_mean"));
            CHECK_SAME(ep->monitor.cpu_util_max, num(mo, "cpu_util_max"));
            CHECK_SAME(ep->monitor.rss_mb_max, num(mo, "rss_mb_max"));
            CHECK_SAME(ep->monitor.gpu_util_mean, num(mo, "gpu_util_mean"));
            CHECK_SAME(ep->monitor.gpu_mem_mb_max, num(mo, "gpu_mem_mb_max"));
            CHECK_SAME(ep->monitor.gpu_mem_total_mb, num(mo, "gpu_mem_total_mb"));
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(mo, "gpu");
            CHECK(ep->monitor.gpu_ok == !isnan(num(mo, "gpu_util_mean")));
            if (cJSON_IsString(g)) {
                /* the reader keeps the reason without the "not available: " prefix */
                CHECK(strncmp(g->valuestring, "not available: ", 15) == 0);
                CHECK(strcmp(ep->monitor.gpu_reason, g->valuestring + 15) == 0);
            }
        }
    }
    CHECK(e == run->n_epochs);
}

/* path's content replaced by text (the next case of a test reading one file) */
static void put_text(const char *path, const char *text)
{
    const int fd = open(path, O_WRONLY | O_TRUNC);
    const size_t n = strlen(text);
    REQUIRE(fd >= 0 && write(fd, text, n) == (ssize_t)n);
    close(fd);
}

static void free_lines(cJSON **objs, int n)
{
    for (int i = 0; i < n; i++) cJSON_Delete(objs[i]);
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    snprintf(dir, sizeof dir, "%s", argv[1]);
    cJSON *objs[256];
    warnings w;

    /* 2-class CPU run: every value as in the fixture; run line fields too */
    memset(&w, 0, sizeof w);
    cxr_log_run *run = NULL;
    CHECK_OK(cxr_log_read(fx("cpu2_3ep.jsonl"), collect, &w, &run));
    CHECK(w.n == 0);
    CHECK(run->n_epochs == 3);
    CHECK(run->n_skipped == 0);
    CHECK(strcmp(run->label, "cpu2_3ep.jsonl") == 0);
    CHECK(run->device && strcmp(run->device, "cpu") == 0);
    CHECK(run->n_classes == 2 && strcmp(run->classes[1], "PNEUMONIA") == 0);
    CHECK(run->train_images == 5216 && run->eval_images == 624);
    CHECK(run->eval_split && strcmp(run->eval_split, "test") == 0);
    CHECK(run->recipe_json && strstr(run->recipe_json, "\"batch\":32"));
    /* a few literal golden values of the hand-written fixture */
    CHECK(run->epochs[2].confusion[0] == 180 && run->epochs[2].confusion[3] == 368);
    CHECK_CLOSE(run->epochs[0].train_loss, 0.5123, 0, 0);
    CHECK(!run->epochs[0].monitor.gpu_ok);
    CHECK(strstr(run->epochs[0].monitor.gpu_reason, "libnvidia-ml.so.1") != NULL);
    int n = load_lines(fx("cpu2_3ep.jsonl"), objs, 256);
    compare_epochs(run, objs, n);
    free_lines(objs, n);
    cxr_log_run_free(run);

    /* GPU run: monitor GPU values and the benchmark section */
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(fx("gpu2_bench.jsonl"), collect, &w, &run));
    CHECK(w.n == 0);
    CHECK(run->n_epochs == 4);
    CHECK(run->epochs[1].monitor.gpu_ok);
    n = load_lines(fx("gpu2_bench.jsonl"), objs, 256);
    compare_epochs(run, objs, n);
    int b = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(objs[i], "type");
        if (strcmp(ty->valuestring, "benchmark") != 0) continue;
        REQUIRE(b < run->n_bench);
        CHECK(strcmp(run->bench[b].config,
                     cJSON_GetObjectItemCaseSensitive(objs[i], "config")->valuestring) == 0);
        CHECK(run->bench[b].first_epoch_s == num(objs[i], "first_epoch_s"));
        CHECK(run->bench[b].later_epoch_s == num(objs[i], "later_epoch_s"));
        CHECK(run->bench[b].images_per_s == num(objs[i], "images_per_s"));
        CHECK(run->bench[b].data_wait_frac == num(objs[i], "data_wait_frac"));
        b++;
    }
    CHECK(b == 4 && run->n_bench == 4);
    free_lines(objs, n);
    cxr_log_run_free(run);

    /* 3-class run: 3x3 confusion, per-class metrics, no ROC */
    CHECK_OK(cxr_log_read(fx("k3_3ep.jsonl"), NULL, NULL, &run));
    CHECK(run->n_classes == 3 && run->epochs[0].k == 3 && run->epochs[0].n_per_class == 3);
    CHECK(run->epochs[0].n_roc == 0);
    n = load_lines(fx("k3_3ep.jsonl"), objs, 256);
    compare_epochs(run, objs, n);
    free_lines(objs, n);
    cxr_log_run_free(run);

    /* malformed lines are named (file:line) and skipped; the good epochs remain */
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(fx("malformed.jsonl"), collect, &w, &run));
    CHECK(w.n == 3);
    CHECK(run->n_skipped == 3);
    CHECK(run->n_epochs == 3);
    for (int i = 0; i < 3; i++) CHECK(run->epochs[i].epoch == i + 1);
    CHECK(w.n >= 3 && strstr(w.msg[0], "malformed.jsonl:3:") && strstr(w.msg[0], "not valid JSON"));
    CHECK(w.n >= 3 && strstr(w.msg[1], "malformed.jsonl:5:") &&
          strstr(w.msg[1], "not a JSON object"));
    CHECK(w.n >= 3 && strstr(w.msg[2], "malformed.jsonl:6:") && strstr(w.msg[2], "train_loss"));
    /* the surviving epoch 3 is the good line 7 (train_loss a number) */
    CHECK_CLOSE(run->epochs[2].train_loss, 0.2675, 0, 0);
    cxr_log_run_free(run);

    /* --resume appends a second run line and may repeat an epoch: the last line wins */
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(fx("resumed.jsonl"), collect, &w, &run));
    CHECK(w.n == 0 && run->n_skipped == 0);
    CHECK(run->n_run_lines == 2);
    CHECK(run->n_epochs == 3);
    for (int i = 0; i < run->n_epochs; i++) CHECK(run->epochs[i].epoch == i + 1);
    CHECK_CLOSE(run->epochs[1].train_loss, 0.3399, 0, 0);
    cxr_log_run_free(run);

    /* a count beyond what a long long holds is not a count (found by fuzz_log: the cast was
     * undefined behaviour), nor is a sample's epoch beyond an int: those lines are skipped */
    char tmp[] = "report_log_bigXXXXXX";
    int fd = mkstemp(tmp);
    static const char big[] = "{\"type\":\"epoch\",\"epoch\":1,\"confusion\":[[3.6e82,0],[0,1]]}\n"
                              "{\"type\":\"epoch\",\"epoch\":2,\"confusion\":[[9e15,0],[0,1]]}\n";
    REQUIRE(fd >= 0 && write(fd, big, sizeof big - 1) == (ssize_t)(sizeof big - 1));
    close(fd);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_epochs == 1 && run->epochs[0].epoch == 2 && run->epochs[0].k == 2 &&
          run->epochs[0].confusion[0] == 9000000000000000LL);
    CHECK(w.n == 1 && strstr(w.msg[0], ":1:") && strstr(w.msg[0], "is not a count"));
    cxr_log_run_free(run);
    /* an epoch line whose confusion or per_class holds other classes than the run line names
     * keeps its epoch without that detail, said (a 3x3 matrix in a 2-class run's line was
     * drawn as the run's) */
    static const char other_k[] =
        "{\"type\":\"run\",\"tool\":\"A\",\"classes\":[\"N\",\"P\"]}\n"
        "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.5,"
        "\"confusion\":[[1,0,0],[0,1,0],[0,0,1]]}\n"
        "{\"type\":\"epoch\",\"epoch\":2,\"per_class\":[{\"precision\":1},{\"precision\":1},"
        "{\"precision\":1}]}\n"
        "{\"type\":\"epoch\",\"epoch\":3,\"confusion\":[[1,0],[0,1]]}\n";
    put_text(tmp, other_k);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_epochs == 3 && run->n_skipped == 0);
    CHECK(run->n_epochs == 3 && run->epochs[0].k == 0 && !run->epochs[0].confusion &&
          run->epochs[0].train_loss == 0.5 && run->epochs[1].n_per_class == 0 &&
          run->epochs[2].k == 2);
    CHECK(w.n == 1 && strstr(w.msg[0], ": 2 epoch line(s) (the first: epoch 1) hold a confusion "
                                       "matrix or per-class figures of 3 classes, the run's line "
                                       "names 2: left out"));
    cxr_log_run_free(run);
    /* ... the run line read after such an epoch line too (a torn first run line, a resume's
     * line naming the classes): the last run line's classes, which the page uses (the epoch
     * before it was drawn with its 3 columns numbered) */
    static const char late_run[] =
        "{\"type\":\"run\",\"tool\":\"A\",\"classes\":[\"N\",\"P\"\n"
        "{\"type\":\"epoch\",\"epoch\":1,\"confusion\":[[1,0,0],[0,1,0],[0,0,1]]}\n"
        "{\"type\":\"run\",\"tool\":\"A\",\"resumed_from\":\"m.h5\",\"classes\":[\"N\",\"P\"]}\n"
        "{\"type\":\"epoch\",\"epoch\":2,\"confusion\":[[1,0],[0,1]]}\n";
    put_text(tmp, late_run);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_epochs == 2 && run->epochs[0].k == 0 && run->epochs[1].k == 2);
    CHECK(w.n == 2 && strstr(w.msg[0], ":1:") && strstr(w.msg[1], "(the first: epoch 1)"));
    cxr_log_run_free(run);
    /* an epoch line of epoch 0 (epochs are 1-based) is skipped naming "epoch" (it was named
     * by "best_epoch" out of range) */
    static const char zero[] = "{\"type\":\"epoch\",\"epoch\":0,\"train_loss\":0.5}\n"
                               "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.4}\n";
    put_text(tmp, zero);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_epochs == 1 && run->epochs[0].epoch == 1);
    CHECK(w.n == 1 && strstr(w.msg[0], ":1:") &&
          strstr(w.msg[0], "epoch line without a valid integer \"epoch\""));
    cxr_log_run_free(run);
    /* text after a line's object (a torn line with a resume's line glued on) skips the line,
     * and a run line with one bad key changes nothing of the run */
    static const char glued[] =
        "{\"type\":\"run\",\"tool\":\"A\",\"train_images\":5}\n"
        "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.5}\n"
        "{\"type\":\"epoch\",\"epoch\":2,\"train_loss\":0.4}{\"type\":\"run\",\"tool\":\"R\"}\n"
        "{\"type\":\"run\",\"tool\":\"B\",\"resumed_from\":\"c.h5\",\"train_images\":\"12\"}\n"
        "{\"type\":\"epoch\",\"epoch\":3,\"train_loss\":0.3}  \n";
    put_text(tmp, glued);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_epochs == 2 && run->epochs[0].epoch == 1 && run->epochs[1].epoch == 3);
    CHECK(run->n_skipped == 2 && w.n == 2);
    CHECK(w.n == 2 && strstr(w.msg[0], ":3:") && strstr(w.msg[0], "text after the JSON object"));
    CHECK(w.n == 2 && strstr(w.msg[1], ":4:") && strstr(w.msg[1], "train_images"));
    CHECK(strcmp(run->tool, "A") == 0 && run->train_images == 5);
    cxr_log_run_free(run);
    /* the kept model: best_epoch from 0 (none) up to the line's own epoch; one beyond it skips
     * the line (an epoch not yet run); the recipe's select is read with the run line */
    static const char best[] =
        "{\"type\":\"run\",\"recipe\":{\"select\":\"val_loss\"}}\n"
        "{\"type\":\"epoch\",\"epoch\":1,\"best_epoch\":1,\"best_value\":0.5}\n"
        "{\"type\":\"epoch\",\"epoch\":2,\"best_epoch\":3,\"best_value\":0.4}\n"
        "{\"type\":\"epoch\",\"epoch\":3,\"best_epoch\":3,\"best_value\":0.3,"
        "\"stopped\":\"patience\"}\n";
    put_text(tmp, best);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_epochs == 2 && run->epochs[0].best_epoch == 1 && run->epochs[1].epoch == 3 &&
          run->epochs[1].best_epoch == 3 && run->epochs[1].stopped &&
          strcmp(run->epochs[1].stopped, "patience") == 0);
    CHECK(w.n == 1 && strstr(w.msg[0], ":3:") && strstr(w.msg[0], "best_epoch"));
    CHECK(run->select && strcmp(run->select, "val_loss") == 0);
    cxr_log_run_free(run);
    /* a key of the wrong type skips its line whatever the key: a benchmark's config that is not
     * a string (the reader took its NULL string: a crash), per_class items that are not objects
     * (read as all-missing figures), a confusion row longer than the matrix (its extra counts
     * written past the matrix); and a run line whose eval_split is not a string changes nothing
     * of the run (its tool was taken before the bad key was met) */
    static const char types[] =
        "{\"type\":\"run\",\"tool\":\"A\",\"classes\":[\"N\",\"P\"]}\n"
        "{\"type\":\"benchmark\",\"config\":5,\"first_epoch_s\":1}\n"
        "{\"type\":\"epoch\",\"epoch\":1,\"per_class\":[1,2]}\n"
        "{\"type\":\"epoch\",\"epoch\":2,\"confusion\":[[1,0,7],[0,1]]}\n"
        "{\"type\":\"run\",\"tool\":\"C\",\"resumed_from\":\"c.h5\",\"eval_split\":5}\n"
        "{\"type\":\"epoch\",\"epoch\":3,\"train_loss\":0.3}\n";
    put_text(tmp, types);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_epochs == 1 && run->epochs[0].epoch == 3 && run->n_bench == 0);
    CHECK(run->n_skipped == 4 && w.n == 4);
    CHECK(w.n == 4 && strstr(w.msg[0], ":2:") && strstr(w.msg[0], "\"config\": expected a string"));
    CHECK(w.n == 4 && strstr(w.msg[1], ":3:") && strstr(w.msg[1], "expected objects"));
    CHECK(w.n == 4 && strstr(w.msg[2], ":4:") &&
          strstr(w.msg[2], "row 1 is not an array of 2 counts"));
    CHECK(w.n == 4 && strstr(w.msg[3], ":5:") &&
          strstr(w.msg[3], "\"eval_split\": expected a string"));
    CHECK(run->tool && strcmp(run->tool, "A") == 0 && !run->eval_split && run->n_run_lines == 1);
    cxr_log_run_free(run);
    /* ... a recipe's select that is not a string too (the same NULL string) */
    static const char sel[] = "{\"type\":\"run\",\"recipe\":{\"select\":5}}\n"
                              "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.3}\n";
    put_text(tmp, sel);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_skipped == 1 && !run->select && w.n == 1 && strstr(w.msg[0], ":1:") &&
          strstr(w.msg[0], "\"select\": expected a string"));
    cxr_log_run_free(run);
    /* ... and after a first run line it changes nothing of the run: tool, recipe and selection
     * stay the first line's (the select was met after the tool and recipe were taken: the page
     * showed tool B, lr 9 and selection val_loss, a mutation round) */
    static const char sel2[] =
        "{\"type\":\"run\",\"tool\":\"A\",\"recipe\":{\"select\":\"val_loss\",\"lr\":0.1}}\n"
        "{\"type\":\"run\",\"tool\":\"B\",\"resumed_from\":\"c.h5\",\"recipe\":{\"select\":5,"
        "\"lr\":9}}\n"
        "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.3}\n";
    put_text(tmp, sel2);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(run->n_skipped == 1 && run->tool && !strcmp(run->tool, "A") && run->select &&
          !strcmp(run->select, "val_loss") && run->recipe_json &&
          strstr(run->recipe_json, "\"lr\":0.1") && run->n_run_lines == 1);
    cxr_log_run_free(run);
    /* a recipe's select "none" is no selection (NULL, as for a run without one); a line of
     * blanks and tabs is blank, not a malformed line */
    static const char none[] = "{\"type\":\"run\",\"recipe\":{\"select\":\"none\"}}\n"
                               " \t \n"
                               "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.3}\n";
    put_text(tmp, none);
    memset(&w, 0, sizeof w);
    CHECK_OK(cxr_log_read(tmp, collect, &w, &run));
    CHECK(!run->select && run->n_skipped == 0 && w.n == 0 && run->n_lines == 2);
    cxr_log_run_free(run);
    /* a step line's epoch is kept from 0 up to 1000000, beyond that it is -1 (unknown) */
    static const char steps[] = "{\"type\":\"epoch\",\"epoch\":1,\"train_loss\":0.5}\n"
                                "{\"type\":\"step\",\"step\":1,\"epoch\":1000000,\"loss\":1}\n"
                                "{\"type\":\"step\",\"step\":2,\"epoch\":1000001,\"loss\":1}\n";
    put_text(tmp, steps);
    CHECK_OK(cxr_log_read(tmp, NULL, NULL, &run));
    CHECK(run->n_steps == 2 && run->steps[0].epoch == 1000000 && run->steps[1].epoch == -1);
    cxr_log_run_free(run);
    /* a sample's epoch: -1 (before the first) is one, -2 is not; 1000000 is one (as for a step
     * line), 1000001 is not */
    static const char epochs[] = "{\"t\":1,\"epoch\":5000000000}\n{\"t\":2,\"epoch\":3}\n"
                                 "{\"t\":3,\"epoch\":-2}\n{\"t\":4,\"epoch\":-1}\n"
                                 "{\"t\":5,\"epoch\":1000000}\n{\"t\":6,\"epoch\":1000001}\n";
    put_text(tmp, epochs);
    memset(&w, 0, sizeof w);
    cxr_samples *sb = NULL;
    CHECK_OK(cxr_samples_read(tmp, collect, &w, &sb));
    CHECK(sb->n == 3 && sb->s[0].epoch == 3 && sb->s[1].epoch == -1);
    CHECK(sb->n_lines == 6 && sb->n_skipped == 3);
    CHECK(sb->n == 3 && sb->s[2].t == 5 && sb->s[2].epoch == 1000000);
    CHECK(w.n == 3 && strstr(w.msg[0], ":1:") && strstr(w.msg[0], "is not an epoch"));
    CHECK(w.n == 3 && strstr(w.msg[1], ":3:") && strstr(w.msg[1], "is not an epoch"));
    CHECK(w.n == 3 && strstr(w.msg[2], ":6:") && strstr(w.msg[2], "is not an epoch"));
    cxr_samples_free(sb);
    unlink(tmp);

    /* no epoch lines: a clear error naming the file */
    run = (cxr_log_run *)1;
    cxr_status st = cxr_log_read(fx("no_epochs.jsonl"), NULL, NULL, &run);
    CHECK(st == CXR_E_FORMAT);
    CHECK(run == NULL);
    CHECK(strstr(cxr_last_error(), "no_epochs.jsonl") &&
          strstr(cxr_last_error(), "no epoch lines"));
    /* ... with what was read: its run and benchmark lines, none skipped */
    CHECK(strstr(cxr_last_error(), "no epoch lines (2 non-blank lines read, 0 skipped)"));
    st = cxr_log_read(fx("does_not_exist.jsonl"), NULL, NULL, &run);
    CHECK(st == CXR_E_IO && strstr(cxr_last_error(), "does_not_exist.jsonl"));

    /* samples file: every line read back */
    cxr_samples *s = NULL;
    CHECK_OK(cxr_samples_read(fx("samples_gpu.jsonl"), NULL, NULL, &s));
    n = load_lines(fx("samples_gpu.jsonl"), objs, 256);
    CHECK(s->n == n && n > 30);
    for (int i = 0; i < n && i < s->n; i++) {
        CHECK(s->s[i].t == num(objs[i], "t"));
        CHECK(s->s[i].epoch == (int)num(objs[i], "epoch"));
        CHECK(s->s[i].cpu_util == num(objs[i], "cpu_util"));
        CHECK(s->s[i].rss_mb == num(objs[i], "rss_mb"));
        CHECK(s->s[i].gpu_util == num(objs[i], "gpu_util"));
        CHECK_SAME(s->s[i].gpu_mem_mb, num(objs[i], "gpu_mem_mb"));
        CHECK_SAME(s->s[i].gpu_mem_total_mb, num(objs[i], "gpu_mem_total_mb"));
    }
    free_lines(objs, n);
    cxr_samples_free(s);
    /* a training log is not a samples file: said once, by its first line (since 0.18; each
     * line was named), and the other way round */
    memset(&w, 0, sizeof w);
    st = cxr_samples_read(fx("cpu2_3ep.jsonl"), collect, &w, &s);
    CHECK(st == CXR_E_FORMAT && w.n == 0 &&
          strstr(cxr_last_error(), "cpu2_3ep.jsonl: a training log, not a samples file"));
    cxr_log_run *lr = NULL;
    st = cxr_log_read(fx("samples_gpu.jsonl"), collect, &w, &lr);
    CHECK(st == CXR_E_FORMAT && w.n == 0 &&
          strstr(cxr_last_error(), "samples_gpu.jsonl: a samples file (cxr-train --monitor-log)"));
    cxr_log_run_free(lr);
    TEST_END();
}
