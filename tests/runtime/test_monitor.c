/* test_monitor: the resource sampler (runtime/monitor.c).
 * - NVML that cannot be loaded gives "not available: <reason>" and no failure;
 * - CPU utilization is positive while a test thread spins, RSS grows when memory is touched;
 * - the samples file holds valid JSON lines (parsed with cJSON) carrying the epoch.
 * (The summary's `monitor` object in the training log: tests/report/test_trainlog.c.)
 * usage: test_monitor TMPDIR
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cxr_clock.h"
#include "cxr_monitor.h"
#include "cxr_test.h"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void *spin(void *arg)
{
    double until = cxr_now_s() + *(double *)arg;
    volatile double x = 0;
    while (cxr_now_s() < until)
        for (int i = 0; i < 10000; i++) x += i * 1e-9;
    return NULL;
}

static void sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };
    nanosleep(&ts, NULL);
}

static double jnum(const cJSON *o, const char *k)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(it) ? it->valuedouble : NAN;
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    char path[1200];
    snprintf(path, sizeof path, "%s/monitor_samples.jsonl", argv[1]);
    cxr_monitor *m = NULL;

    CHECK(cxr_monitor_create(&m, 0, NULL, 0) == CXR_E_ARG && m == NULL);

    CHECK_OK(cxr_monitor_create_ex(&m, 0.05, path, 0, "libcxr-no-such-nvml.so"));
    char reason[256] = "";
    CHECK(!cxr_monitor_gpu_available(m, reason, sizeof reason));
    CHECK(strstr(reason, "libcxr-no-such-nvml.so") != NULL);

    /* epoch 1: a thread spins for 0.4 s while we wait */
    cxr_monitor_set_epoch(m, 1);
    double wall0 = cxr_now_s(), cpu0 = cpu_s();
    double busy = 0.4;
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, spin, &busy) == 0);
    pthread_join(th, NULL);
    cxr_monitor_summary s1;
    cxr_monitor_summary_reset(m, &s1);
    /* the process's own CPU time over the period, as the monitor should see it */
    double expect = 100.0 * (cpu_s() - cpu0) / (cxr_now_s() - wall0);
    fprintf(stderr,
            "epoch 1: %d samples, cpu mean %.1f max %.1f %% (process clock: %.1f %%), "
            "rss max %.1f MiB\n",
            s1.n_samples, s1.cpu_util_mean, s1.cpu_util_max, expect, s1.rss_mb_max);
    CHECK(s1.n_samples >= 3); /* 0.4 s at 50 ms, even on a loaded machine */
    /* positive while the thread spins (however busy the shared machine is), and close to the
     * process clock: windows are not aligned with the period and ticks are 10 ms, so loose */
    CHECK(s1.cpu_util_mean > 1 && s1.cpu_util_max > 1);
    CHECK(fabs(s1.cpu_util_mean - expect) <= 0.5 * expect + 15);
    CHECK(s1.cpu_util_max <= 100.0 * 64 + 1); /* percent of one core, at most #cores x 100 */
    CHECK(s1.rss_mb_mean > 0 && s1.rss_mb_max >= s1.rss_mb_mean);
    CHECK(!s1.gpu_ok && isnan(s1.gpu_util_mean) && strstr(s1.gpu_reason, "libcxr-no-such-nvml"));

    /* epoch 2: touch 96 MiB; the period's max RSS must grow by most of it */
    cxr_monitor_set_epoch(m, 2);
    size_t big = 96u << 20;
    char *mem = malloc(big);
    REQUIRE(mem);
    memset(mem, 1, big);
    sleep_s(0.2);
    cxr_monitor_summary s2;
    cxr_monitor_summary_reset(m, &s2);
    double t_s2 =
        cxr_now_s(); /* the thread samples on until stop, at least half an interval apart */
    fprintf(stderr, "epoch 2: %d samples, rss max %.1f MiB (epoch 1 max %.1f)\n", s2.n_samples,
            s2.rss_mb_max, s1.rss_mb_max);
    CHECK(s2.n_samples >= 2);
    CHECK(s2.rss_mb_max >= s1.rss_mb_max + 80);
    CHECK(mem[big - 1] == 1);
    free(mem);
    CHECK_OK(cxr_monitor_stop(m));
    int after_s2 = (int)((cxr_now_s() - t_s2) / 0.025) + 1;
    CHECK_OK(cxr_monitor_stop(m));
    cxr_monitor_destroy(m);

    /* the samples file: one JSON object per line, times ascending, epochs 1 then 2 */
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char line[1024];
    int n = 0, n1 = 0, n2 = 0, n_cpu = 0;
    double last_t = -1;
    while (fgets(line, sizeof line, f)) {
        cJSON *l = cJSON_Parse(line);
        CHECK(l && cJSON_IsObject(l));
        if (!l) continue;
        double t = jnum(l, "t");
        int ep = (int)jnum(l, "epoch");
        CHECK(t >= last_t);
        last_t = t;
        CHECK(jnum(l, "rss_mb") > 0);
        /* a forced sample right after a periodic one leaves CPU unmeasured (key absent) */
        double cu = jnum(l, "cpu_util");
        CHECK(isnan(cu) || cu >= 0);
        n_cpu += !isnan(cu);
        CHECK(cJSON_GetObjectItemCaseSensitive(l, "gpu_util") == NULL); /* no NVML here */
        n1 += ep == 1;
        n2 += ep == 2;
        n++;
        cJSON_Delete(l);
    }
    fclose(f);
    fprintf(stderr, "samples file: %d lines (%d epoch 1, %d epoch 2), %d with cpu_util\n", n, n1,
            n2, n_cpu);
    /* each of the two summary_reset samples lacks it, or the periodic one right after it */
    CHECK(n_cpu >= n - 2);
    /* every summarized sample is in the file; the thread may add one between a summary and the
     * next set_epoch, and one per half interval between the last summary and stop */
    CHECK(n >= s1.n_samples + s2.n_samples && n <= s1.n_samples + s2.n_samples + 1 + after_s2);
    CHECK(n1 >= s1.n_samples && n1 <= s1.n_samples + 2 && n2 >= 1);

    /* GPU not requested, and the real libnvidia-ml.so.1: available or a reason, never a failure */
    CHECK_OK(cxr_monitor_create(&m, 0.05, NULL, -1));
    CHECK(!cxr_monitor_gpu_available(m, reason, sizeof reason) &&
          strcmp(reason, "not requested") == 0);
    cxr_monitor_destroy(m);
    CHECK_OK(cxr_monitor_create(&m, 0.05, NULL, 0));
    sleep_s(0.12);
    cxr_monitor_summary s3;
    cxr_monitor_summary_reset(m, &s3);
    if (cxr_monitor_gpu_available(m, reason, sizeof reason)) {
        fprintf(stderr, "NVML works: gpu util %.1f%%, mem %.0f / %.0f MiB\n", s3.gpu_util_mean,
                s3.gpu_mem_mb_mean, s3.gpu_mem_total_mb);
        CHECK(s3.gpu_ok && s3.gpu_mem_total_mb > 0 && s3.gpu_util_mean >= 0);
    } else {
        fprintf(stderr, "NVML: not available: %s\n", reason);
        CHECK(!s3.gpu_ok && reason[0] != '\0' && strcmp(s3.gpu_reason, reason) == 0);
    }
    cxr_monitor_destroy(m);
    cxr_monitor_destroy(NULL);
    TEST_END();
}
