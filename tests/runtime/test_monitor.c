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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

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
    (void)x;
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
    REQUIRE(argc == 3);
    char path[1200];
    snprintf(path, sizeof path, "%s/monitor_samples.jsonl", argv[1]);
    cxr_monitor *m = NULL;

    CHECK(cxr_monitor_create(&m, 0, NULL, 0) == CXR_E_ARG && m == NULL);
    CHECK(cxr_monitor_create(&m, 3601, NULL, 0) == CXR_E_ARG && m == NULL); /* over an hour */
    /* a period shorter than the interval still has its sample: the reset takes one */
    {
        cxr_monitor_summary s0;
        CHECK_OK(cxr_monitor_create(&m, 10, NULL, -1));
        cxr_monitor_summary_reset(m, &s0);
        CHECK(s0.n_samples == 1 && s0.rss_mb_max > 0);
        cxr_monitor_destroy(m);
        m = NULL;
    }

    /* a file that is no samples file is refused as the library's "samples file", and
     * cxr_monitor_create_kept's (cxr-train's) as --monitor-log, its *kept left empty on every
     * failure: a bad interval before any file is opened too */
    {
        char other[1300];
        snprintf(other, sizeof other, "%s/not_samples.txt", argv[1]);
        FILE *o = fopen(other, "w");
        REQUIRE(o && fputs("some text\n", o) >= 0 && fclose(o) == 0);
        CHECK(cxr_monitor_create(&m, 0.05, other, -1) == CXR_E_FORMAT && m == NULL);
        CHECK(strstr(cxr_last_error(), "samples file ") && strstr(cxr_last_error(), other));
        cxr_tmpfile kept;
        memset(&kept, 0xab, sizeof kept);
        CHECK(cxr_monitor_create_kept(&m, 0.05, other, -1, NULL, &kept) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "--monitor-log ") && kept.path == NULL && kept.fd == -1);
        memset(&kept, 0xab, sizeof kept);
        CHECK(cxr_monitor_create_kept(&m, 0, other, -1, NULL, &kept) == CXR_E_ARG);
        CHECK(m == NULL && kept.path == NULL && kept.fd == -1);
        unlink(other);
    }

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
    double t_r1 = cxr_now_s();
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
    double t_e2 = cxr_now_s();
    cxr_monitor_set_epoch(m, 2);
    size_t big = 96u << 20;
    char *mem = malloc(big);
    REQUIRE(mem);
    memset(mem, 1, big);
    sleep_s(0.2);
    cxr_monitor_summary s2;
    double t_r2 = cxr_now_s();
    cxr_monitor_summary_reset(m, &s2);
    fprintf(stderr, "epoch 2: %d samples, rss max %.1f MiB (epoch 1 max %.1f)\n", s2.n_samples,
            s2.rss_mb_max, s1.rss_mb_max);
    CHECK(s2.n_samples >= 2);
    CHECK(s2.rss_mb_max >= s1.rss_mb_max + 80);
    CHECK(mem[big - 1] == 1);
    free(mem);
    CHECK_OK(cxr_monitor_stop(m));
    double t_stop = cxr_now_s();
    CHECK_OK(cxr_monitor_stop(m));
    cxr_monitor_destroy(m);

    /* the samples file: one JSON object per line, times ascending, epochs 1 then 2.
     * A sample measures CPU iff at least min_window has passed since the previous CPU reading
     * (the baseline at create, t = 0): a rule on the file's own times, whatever the machine's
     * load (t has 1 ms resolution: within 1.1 ms of the window either way is accepted). */
    double min_window = fmax(0.5 * 0.05, 2.0 / (double)sysconf(_SC_CLK_TCK));
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char line[1024];
    int n = 0, n1 = 0, n2 = 0, n_cpu = 0, bad_rule = 0, cnt[2] = { 0, 0 };
    int last_ep = 0;
    double last_t = -1, last_cpu_t = 0, sum[2] = { 0, 0 }, mx[2] = { -1, -1 };
    double rss_sum = 0, rss_max = -1;
    int rss_n = 0;
    while (fgets(line, sizeof line, f)) {
        cJSON *l = cJSON_Parse(line);
        CHECK(l && cJSON_IsObject(l));
        if (!l) continue;
        double t = jnum(l, "t");
        int ep = (int)jnum(l, "epoch");
        CHECK(t >= last_t && ep >= last_ep);
        last_t = t;
        last_ep = ep;
        CHECK(jnum(l, "rss_mb") > 0);
        {
            /* summary 1's RSS mean and max are those of its samples too */
            const double r = jnum(l, "rss_mb");
            if (n < s1.n_samples) rss_sum += r, rss_max = fmax(rss_max, r), rss_n++;
            /* written with 2 decimals, as the summaries' 0.006 tolerance assumes */
            const char *at = strstr(line, "\"rss_mb\":"), *dot = at ? strchr(at, '.') : NULL;
            CHECK(dot && strspn(dot + 1, "0123456789") == 2);
        }
        double cu = jnum(l, "cpu_util"), since = t - last_cpu_t;
        if (fabs(since - min_window) > 0.0011 && isnan(cu) != (since < min_window)) {
            fprintf(stderr, "sample %d at t %.3f: cpu_util %s %.3f s after the last reading\n", n,
                    t, isnan(cu) ? "absent" : "present", since);
            bad_rule++;
        }
        if (!isnan(cu)) {
            CHECK(cu >= 0);
            last_cpu_t = t;
            n_cpu++;
            /* the first s1.n_samples lines are summary 1's samples, the next s2.n_samples 2's */
            int k = n < s1.n_samples ? 0 : n < s1.n_samples + s2.n_samples ? 1 : -1;
            if (k >= 0) {
                sum[k] += cu;
                mx[k] = fmax(mx[k], cu);
                cnt[k]++;
            }
        }
        CHECK(cJSON_GetObjectItemCaseSensitive(l, "gpu_util") == NULL); /* no NVML here */
        n1 += ep == 1;
        n2 += ep == 2;
        n++;
        cJSON_Delete(l);
    }
    fclose(f);
    fprintf(stderr, "samples file: %d lines (%d epoch 1, %d epoch 2), %d with cpu_util\n", n, n1,
            n2, n_cpu);
    CHECK(bad_rule == 0);
    CHECK(rss_n == s1.n_samples && rss_n > 0);
    if (rss_n > 0) {
        CHECK_CLOSE(rss_sum / rss_n, s1.rss_mb_mean, 0.006, 0);
        CHECK_CLOSE(rss_max, s1.rss_mb_max, 0.006, 0);
    }
    /* each summary's CPU mean and max are those of its samples (the file has 2 decimals) */
    CHECK(cnt[0] > 0);
    if (cnt[0] > 0) {
        CHECK_CLOSE(sum[0] / cnt[0], s1.cpu_util_mean, 0.006, 0);
        CHECK_CLOSE(mx[0], s1.cpu_util_max, 0.006, 0);
    }
    if (cnt[1] > 0) {
        CHECK_CLOSE(sum[1] / cnt[1], s2.cpu_util_mean, 0.006, 0);
        CHECK_CLOSE(mx[1], s2.cpu_util_max, 0.006, 0);
    } else {
        CHECK(isnan(s2.cpu_util_mean) && isnan(s2.cpu_util_max));
    }
    /* every summarized sample is in the file; the thread adds only its periodic samples between
     * the last summary and stop, or between summary 1 and set_epoch(2): over a span of L s, at
     * most L / 0.05 + 2 (a late sample, then deadlines 50 ms apart) */
    int extra = n - s1.n_samples - s2.n_samples, extra1 = n - n2 - s1.n_samples;
    CHECK(extra >= 0 && extra <= (t_stop - t_r2) / 0.05 + 2);
    CHECK(extra1 >= 0 && extra1 <= (t_e2 - t_r1) / 0.05 + 2 && n1 >= 1 && n2 >= 1);

    /* a resumed run (cxr_monitor_resume) keeps the file: a last line torn by a killed run is
     * ended, and the new samples' times go on after the last whole sample's (last_t) */
    f = fopen(path, "a");
    REQUIRE(f && fputs("{\"t\":99999", f) >= 0 && fclose(f) == 0);
    long before = 0;
    f = fopen(path, "r");
    REQUIRE(f && fseek(f, 0, SEEK_END) == 0 && (before = ftell(f)) > 0 && fclose(f) == 0);
    CHECK_OK(cxr_monitor_resume(&m, 0.05, path, -1));
    cxr_monitor_set_epoch(m, 3);
    cxr_monitor_sample_now(m);
    CHECK_OK(cxr_monitor_stop(m));
    cxr_monitor_destroy(m);
    m = NULL;
    f = fopen(path, "r");
    REQUIRE(f);
    int n_old = 0, n_new = 0, torn = 0, old_ok = 1;
    while (fgets(line, sizeof line, f)) {
        cJSON *l = cJSON_Parse(line);
        if (!l) { /* the torn line, ended by the resume */
            torn += strcmp(line, "{\"t\":99999\n") == 0;
            continue;
        }
        double t = jnum(l, "t");
        if ((int)jnum(l, "epoch") == 3) {
            n_new++;
            CHECK(t >= last_t + 0.05 - 0.0011);
        } else {
            n_old++;
            old_ok = old_ok && t <= last_t;
        }
        cJSON_Delete(l);
    }
    fclose(f);
    CHECK(n_old == n && old_ok && torn == 1 && n_new >= 1);

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

    /* which GPU: in the stand-in NVML (three GPUs; device i on PCI bus i + 1 reports 10 (i + 1)
     * % and i + 1 GiB), by index, and by PCI bus id, which need not be the same GPU's index (a
     * CUDA device's index under CUDA_VISIBLE_DEVICES) */
    const char *fake = argv[2];
    static const struct {
        int index;
        const char *pci;
        double util; /* NAN: not available */
    } which[] = {
        { 0, NULL, 10 },
        { 2, NULL, 30 },
        { -1, "0000:02:00.0", 20 },
        { -1, "0000:03:00.0", 30 },
        { -1, "0000:09:00.0", NAN },
        { 7, NULL, NAN },
    };
    for (size_t k = 0; k < sizeof which / sizeof *which; k++) {
        m = NULL;
        if (which[k].pci)
            CHECK_OK(cxr_monitor_create_pci(&m, 0.02, NULL, 0, which[k].pci, fake));
        else
            CHECK_OK(cxr_monitor_create_ex(&m, 0.02, NULL, which[k].index, fake));
        if (!m) continue;
        sleep_s(0.1);
        cxr_monitor_summary s;
        cxr_monitor_summary_reset(m, &s);
        char what[64];
        if (which[k].pci)
            snprintf(what, sizeof what, "bus %s", which[k].pci);
        else
            snprintf(what, sizeof what, "index %d", which[k].index);
        fprintf(stderr, "stand-in NVML, %s: gpu util %.0f%%, mem %.0f MiB%s%s\n", what,
                s.gpu_util_mean, s.gpu_mem_mb_mean, s.gpu_ok ? "" : "; ", s.gpu_reason);
        if (isnan(which[k].util)) {
            CHECK(!s.gpu_ok && isnan(s.gpu_util_mean));
            CHECK(strstr(s.gpu_reason,
                         which[k].pci
                             ? "nvmlDeviceGetHandleByPciBusId_v2(0000:09:00.0) failed: Not Found"
                             : "nvmlDeviceGetHandleByIndex_v2(7) failed") != NULL);
        } else {
            CHECK(s.gpu_ok && s.n_samples >= 1 && s.gpu_util_mean == which[k].util);
            CHECK(s.gpu_mem_mb_mean == which[k].util / 10 * 1024 && s.gpu_mem_total_mb == 16384);
        }
        cxr_monitor_destroy(m);
    }
    /* readings that vary: the summary's GPU max and mean are its samples' (from the file) */
    setenv("CXR_FAKE_NVML_VARY", "1", 1);
    snprintf(path, sizeof path, "%s/monitor_gpu.jsonl", argv[1]);
    CHECK_OK(cxr_monitor_create_ex(&m, 0.02, path, 0, fake));
    sleep_s(0.3); /* about 15 samples; 3 in a row differ */
    cxr_monitor_summary sv;
    cxr_monitor_summary_reset(m, &sv);
    cxr_monitor_destroy(m);
    unsetenv("CXR_FAKE_NVML_VARY");
    {
        FILE *g = fopen(path, "r");
        REQUIRE(g);
        char line[1024];
        double us = 0, umax = -1, ms = 0, mmax = -1;
        int k = 0;
        while (k < sv.n_samples && fgets(line, sizeof line, g)) {
            cJSON *l = cJSON_Parse(line);
            REQUIRE(l);
            const double u = jnum(l, "gpu_util"), mb = jnum(l, "gpu_mem_mb");
            us += u, ms += mb, umax = fmax(umax, u), mmax = fmax(mmax, mb);
            k++;
            cJSON_Delete(l);
        }
        fclose(g);
        CHECK(k == sv.n_samples && k >= 3 && sv.gpu_ok);
        CHECK(umax > us / k && sv.gpu_util_max == umax && sv.gpu_mem_mb_max == mmax);
        CHECK_CLOSE(sv.gpu_util_mean, us / k, 1e-9, 0);
        CHECK_CLOSE(sv.gpu_mem_mb_mean, ms / k, 1e-9, 0);
    }
    /* a memory reading that fails: no GPU figures (a utilization alone is not a sample) */
    setenv("CXR_FAKE_NVML_MEMFAIL", "1", 1);
    CHECK_OK(cxr_monitor_create_ex(&m, 0.02, NULL, 0, fake));
    sleep_s(0.06);
    cxr_monitor_summary_reset(m, &sv);
    cxr_monitor_destroy(m);
    unsetenv("CXR_FAKE_NVML_MEMFAIL");
    CHECK(!sv.gpu_ok && isnan(sv.gpu_util_mean) && sv.gpu_reason[0] != '\0');

    /* a file that fills (a file size limit, as a full disk): the sample that does not fit is not
     * written in part, so the file ends after its last whole line (it ended in a torn one, which
     * cxr-report skipped), and the failure is said, naming the file */
    snprintf(path, sizeof path, "%s/monitor_full.jsonl", argv[1]);
    struct rlimit was;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &was) == 0);
    struct rlimit lim = { 1000, was.rlim_max }; /* ~13 samples; not a multiple of their length */
    signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_OK(cxr_monitor_create(&m, 60, path, -1)); /* only the samples taken here */
    int tries = 0;
    while (cxr_monitor_status(m) == CXR_OK && tries++ < 200) cxr_monitor_sample_now(m);
    cxr_status full = cxr_monitor_stop(m);
    cxr_monitor_destroy(m);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &was) == 0);
    signal(SIGXFSZ, SIG_DFL);
    CHECK(full == CXR_E_IO && tries < 200);
    CHECK(strstr(cxr_last_error(), "monitor_full.jsonl: could not write monitor samples: File too "
                                   "large") != NULL);
    {
        FILE *g = fopen(path, "r");
        REQUIRE(g);
        char text[1100];
        const size_t got = fread(text, 1, sizeof text - 1, g);
        fclose(g);
        text[got] = '\0';
        const int ends = got > 0 && text[got - 1] == '\n';
        int lines = 0, bad = 0;
        for (char *l = text, *nl; (nl = strchr(l, '\n')); l = nl + 1, lines++) {
            *nl = '\0';
            cJSON *o = cJSON_Parse(l);
            bad += !o || !cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "t"));
            cJSON_Delete(o);
        }
        CHECK(got > 500 && got <= 1000 && ends && lines >= 5 && !bad);
    }
    /* destroyed on the way out of another failure, a monitor whose samples could not be written
     * leaves that failure's message (cxr-train's full disk at a checkpoint, with the resume it
     * names, was replaced by "could not write monitor samples") */
    snprintf(path, sizeof path, "%s/monitor_full2.jsonl", argv[1]);
    signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    CHECK_OK(cxr_monitor_create(&m, 60, path, -1));
    tries = 0;
    while (cxr_monitor_status(m) == CXR_OK && tries++ < 200) cxr_monitor_sample_now(m);
    CHECK(tries < 200);
    cxr_set_error(CXR_E_IO, "the caller's own failure");
    cxr_monitor_destroy(m);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &was) == 0);
    signal(SIGXFSZ, SIG_DFL);
    CHECK(strcmp(cxr_last_error(), "the caller's own failure") == 0);
    TEST_END();
}
