/* test_html_threads.c FIXTURE_DIR: two threads write HTML reports of two runs at once, and each
 * report names its own run only (the charts' legend texts were kept in static buffers shared by
 * every call: up to a fifth of the reports carried the other thread's run name).
 * usage: test_report_html_threads FIXTURE_DIR */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_report.h"
#include "cxr_test.h"

#define ROUNDS 200

static char tmp[] = "/tmp/cxr-report-threads.XXXXXX";
static const char *labels[2] = { "AAAAAAAAAAAA.jsonl", "BBBBBBBBBBBB.jsonl" };

typedef struct {
    int i;
    cxr_log_run *run;
    int written, foreign;
} job;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b) b[fread(b, 1, (size_t)n, f)] = 0;
    fclose(f);
    return b;
}

static void *writer(void *arg)
{
    job *j = arg;
    char out[128];
    snprintf(out, sizeof out, "%s/%d.html", tmp, j->i);
    for (int r = 0; r < ROUNDS; r++) {
        if (cxr_report_write_html(out, &j->run, 1, NULL, 0) != CXR_OK) continue;
        j->written++;
        char *html = slurp(out);
        if (html && strstr(html, labels[!j->i])) j->foreign++;
        free(html);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2 && mkdtemp(tmp));
    job jobs[2];
    for (int i = 0; i < 2; i++) {
        char src[1200], dst[128], cmd[1400];
        snprintf(src, sizeof src, "%s/cpu2_3ep.jsonl", argv[1]);
        snprintf(dst, sizeof dst, "%s/%s", tmp, labels[i]);
        snprintf(cmd, sizeof cmd, "cp '%s' '%s'", src, dst);
        REQUIRE(system(cmd) == 0);
        jobs[i] = (job){ .i = i };
        CHECK_OK(cxr_log_read(dst, NULL, NULL, &jobs[i].run));
        REQUIRE(jobs[i].run && !strcmp(jobs[i].run->label, labels[i]));
    }
    pthread_t t[2];
    for (int i = 0; i < 2; i++) REQUIRE(pthread_create(&t[i], NULL, writer, &jobs[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(jobs[i].written == ROUNDS);
        if (jobs[i].foreign)
            fprintf(stderr, "thread %d: %d of %d reports name the other thread's run\n", i,
                    jobs[i].foreign, jobs[i].written);
        CHECK(jobs[i].foreign == 0);
        cxr_log_run_free(jobs[i].run);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    TEST_END();
}
