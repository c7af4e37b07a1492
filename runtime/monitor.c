/* monitor.c: the resource sampler (cxr_monitor.h). One pthread wakes every interval, reads
 * /proc/self/stat and /proc/self/statm, asks NVML (dlopen'ed, never linked, so the build and
 * CPU-only machines need no driver) for one GPU's utilization and memory, appends the sample
 * to the samples file and folds it into the running per-epoch mean/max.
 */
#include "cxr_monitor.h"
#include "c_locale.h"
#include "cxr_clock.h"
#include "cxr_files.h"

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvml_types.h"

typedef struct {
    void *lib;
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    nvml_return (*handle_by_index)(unsigned int, nvml_device *);
    nvml_return (*handle_by_pci)(const char *, nvml_device *);
    nvml_return (*utilization)(nvml_device, nvml_utilization *);
    nvml_return (*memory)(nvml_device, nvml_memory *);
    const char *(*error_string)(nvml_return);
    nvml_device dev;
    int ok;
    char reason[192];
} nvml_api;

/* Running accumulation for one period. */
typedef struct {
    int n, n_cpu, n_gpu;
    double cpu_sum, cpu_max, rss_sum, rss_max;
    double gpu_sum, gpu_max, gmem_sum, gmem_max, gmem_total;
} accum;

struct cxr_monitor {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int thread_started, stopping, stopped;
    double interval_s;
    double t0;         /* monotonic seconds at create */
    double last_t;     /* time of the previous CPU reading */
    double last_ticks; /* utime+stime (clock ticks) at last_t */
    double tick_hz, page_mb;
    int epoch;
    FILE *samples;
    char *samples_path;
    int samples_created; /* no file was there: removed at close if nothing was written */
    int write_failed; /* the errno of the first failed sample write (EIO when unknown) */
    accum acc;
    nvml_api nv;
};

/* utime+stime of this process in clock ticks, or -1. Fields 14 and 15 of /proc/self/stat,
 * counted after the ')' that closes the command name (which may itself hold spaces). */
static double read_cpu_ticks(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
        2)
        return -1;
    return (double)(utime + stime);
}

static double read_rss_pages(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return -1;
    unsigned long long size = 0, resident = 0;
    int got = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    return got == 2 ? (double)resident : -1;
}

static void nvml_fail(nvml_api *nv, const char *what, nvml_return r)
{
    const char *es = nv->error_string ? nv->error_string(r) : NULL;
    snprintf(nv->reason, sizeof nv->reason, "%s failed: %s (code %d)", what, es ? es : "?", r);
}

/* Load and initialise NVML and find the device (by PCI bus id when pci is not empty, else by
 * index); on any failure leave ok = 0 with the reason. */
static void nvml_open(nvml_api *nv, const char *lib, int gpu_index, const char *pci)
{
    memset(nv, 0, sizeof *nv);
    if (gpu_index < 0 && !(pci && *pci)) {
        snprintf(nv->reason, sizeof nv->reason, "not requested");
        return;
    }
    nv->lib = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!nv->lib) {
        const char *e = dlerror();
        snprintf(nv->reason, sizeof nv->reason, "%s", e ? e : "dlopen failed");
        return;
    }
    *(void **)&nv->init = dlsym(nv->lib, "nvmlInit_v2");
    *(void **)&nv->shutdown = dlsym(nv->lib, "nvmlShutdown");
    *(void **)&nv->handle_by_index = dlsym(nv->lib, "nvmlDeviceGetHandleByIndex_v2");
    *(void **)&nv->handle_by_pci = dlsym(nv->lib, "nvmlDeviceGetHandleByPciBusId_v2");
    *(void **)&nv->utilization = dlsym(nv->lib, "nvmlDeviceGetUtilizationRates");
    *(void **)&nv->memory = dlsym(nv->lib, "nvmlDeviceGetMemoryInfo");
    *(void **)&nv->error_string = dlsym(nv->lib, "nvmlErrorString");
    const int by_pci = pci && *pci;
    if (!nv->init || !nv->shutdown || (by_pci ? !nv->handle_by_pci : !nv->handle_by_index) ||
        !nv->utilization || !nv->memory) {
        snprintf(nv->reason, sizeof nv->reason, "%s lacks the NVML entry points", lib);
        dlclose(nv->lib);
        nv->lib = NULL;
        return;
    }
    nvml_return r = nv->init();
    if (r != 0) {
        nvml_fail(nv, "nvmlInit_v2", r);
        dlclose(nv->lib);
        nv->lib = NULL;
        return;
    }
    r = by_pci ? nv->handle_by_pci(pci, &nv->dev)
               : nv->handle_by_index((unsigned)gpu_index, &nv->dev);
    if (r != 0) {
        char what[96];
        if (by_pci)
            snprintf(what, sizeof what, "nvmlDeviceGetHandleByPciBusId_v2(%.40s)", pci);
        else
            snprintf(what, sizeof what, "nvmlDeviceGetHandleByIndex_v2(%d)", gpu_index);
        nvml_fail(nv, what, r);
        nv->shutdown();
        dlclose(nv->lib);
        nv->lib = NULL;
        return;
    }
    nv->ok = 1;
}

static void nvml_close(nvml_api *nv)
{
    if (!nv->lib) return;
    nv->shutdown();
    dlclose(nv->lib);
    nv->lib = NULL;
    nv->ok = 0;
}

#define SAMPLE_FIELD(name, decimals)                        \
    {                                                       \
#name, offsetof(cxr_monitor_sample, name), decimals \
    }
const cxr_monitor_sample_field cxr_monitor_sample_fields[] = {
    SAMPLE_FIELD(cpu_util, 2),   SAMPLE_FIELD(rss_mb, 2),           SAMPLE_FIELD(gpu_util, 1),
    SAMPLE_FIELD(gpu_mem_mb, 1), SAMPLE_FIELD(gpu_mem_total_mb, 1),
};
const int cxr_monitor_n_sample_fields =
    (int)(sizeof cxr_monitor_sample_fields / sizeof cxr_monitor_sample_fields[0]);

/* One line of the samples file, whole or not at all (cxr_log_put_line: a full disk leaves no
 * torn line); numbers that are NAN are left out. -1 (errno) on failure. */
static int write_sample(FILE *f, const cxr_monitor_sample *s)
{
    char line[512]; /* room for any sane sample; one past it is refused below, not cut */
    const locale_t before = cxr_c_locale_enter(); /* JSON numbers in any host locale */
    int n = snprintf(line, sizeof line, "{\"%s\":%.3f,\"%s\":%d", CXR_MONITOR_SAMPLE_T, s->t,
                     CXR_MONITOR_SAMPLE_EPOCH, s->epoch);
    for (int i = 0; i < cxr_monitor_n_sample_fields && n >= 0 && (size_t)n < sizeof line; i++) {
        const cxr_monitor_sample_field *fd = &cxr_monitor_sample_fields[i];
        double v = *(const double *)((const char *)s + fd->offset);
        if (!isnan(v))
            n += snprintf(line + n, sizeof line - (size_t)n, ",\"%s\":%.*f", fd->key,
                          fd->decimals, v);
    }
    cxr_c_locale_leave(before);
    if (n >= 0 && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "}\n");
    if (n < 0 || (size_t)n >= sizeof line) { /* a number out of all measure: not written torn */
        errno = EOVERFLOW;
        return -1;
    }
    return cxr_log_put_line(f, line, (size_t)n);
}

/* Take one sample; caller holds m->mu. */
static void sample_locked(cxr_monitor *m)
{
    double now = cxr_now_s();
    double ticks = read_cpu_ticks();
    double cpu = NAN;
    /* utime/stime move in clock ticks (10 ms): over a short window one tick reads as hundreds
     * of percent. A sample taken less than half an interval (and 2 ticks) after the previous
     * CPU reading (summary_reset or sample_now right after a periodic one) leaves CPU
     * unmeasured and keeps the baseline, so the next reading spans the whole window. */
    double min_window = fmax(0.5 * m->interval_s, 2.0 / m->tick_hz);
    if (ticks >= 0 && m->last_ticks >= 0 && now - m->last_t >= min_window) {
        cpu = 100.0 * (ticks - m->last_ticks) / m->tick_hz / (now - m->last_t);
        m->last_ticks = ticks;
        m->last_t = now;
    } else if (m->last_ticks < 0) {
        m->last_ticks = ticks;
        m->last_t = now;
    }
    double pages = read_rss_pages();
    double rss = pages >= 0 ? pages * m->page_mb : NAN;

    double gutil = NAN, gmem = NAN, gtotal = NAN;
    if (m->nv.ok) {
        nvml_utilization u;
        nvml_memory mem;
        if (m->nv.utilization(m->nv.dev, &u) == 0) gutil = u.gpu;
        if (m->nv.memory(m->nv.dev, &mem) == 0) {
            gmem = (double)mem.used / (1024.0 * 1024.0);
            gtotal = (double)mem.total / (1024.0 * 1024.0);
        }
    }

    accum *a = &m->acc;
    if (!isnan(cpu)) {
        a->cpu_sum += cpu;
        if (a->n_cpu == 0 || cpu > a->cpu_max) a->cpu_max = cpu;
        a->n_cpu++;
    }
    if (!isnan(rss)) {
        a->rss_sum += rss;
        if (a->n == 0 || rss > a->rss_max) a->rss_max = rss;
    }
    a->n++;
    if (!isnan(gutil) && !isnan(gmem)) {
        a->gpu_sum += gutil;
        a->gmem_sum += gmem;
        if (a->n_gpu == 0 || gutil > a->gpu_max) a->gpu_max = gutil;
        if (a->n_gpu == 0 || gmem > a->gmem_max) a->gmem_max = gmem;
        a->gmem_total = gtotal;
        a->n_gpu++;
    }

    if (m->samples) {
        cxr_monitor_sample smp = { now - m->t0, m->epoch, cpu, rss, gutil, gmem, gtotal };
        if (write_sample(m->samples, &smp) != 0 && !m->write_failed)
            m->write_failed = errno ? errno : EIO;
    }
}

static void *sampler_main(void *arg)
{
    cxr_monitor *m = arg;
    pthread_mutex_lock(&m->mu);
    double next = cxr_now_s() + m->interval_s;
    while (!m->stopping) {
        struct timespec ts;
        ts.tv_sec = (time_t)next;
        ts.tv_nsec = (long)((next - (double)ts.tv_sec) * 1e9);
        int rc = pthread_cond_timedwait(&m->cv, &m->mu, &ts);
        if (m->stopping) break;
        if (rc == ETIMEDOUT) {
            sample_locked(m);
            next += m->interval_s;
            double now = cxr_now_s();
            /* woke late (a loaded machine, a suspend): a new schedule from now, so periodic
             * samples stay at least half an interval apart and each measures CPU */
            if (next < now + 0.5 * m->interval_s) next = now + m->interval_s;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* A resumed run's samples file, opened "a+": its last line ended if a killed run left it torn
 * (cxr_end_last_line), and the time of its last whole sample line (0 if none) in *last_t. */
static cxr_status samples_reopen(FILE *f, const char *path, double *last_t)
{
    static const char key[] = "{\"" CXR_MONITOR_SAMPLE_T "\":";
    char buf[4097];
    *last_t = 0;
    if (fseek(f, 0, SEEK_END) != 0) return CXR_OK; /* not a file: nothing to continue */
    long size = ftell(f), from = size > 4096 ? size - 4096 : 0;
    if (size <= 0) return CXR_OK;
    if (fseek(f, from, SEEK_SET) != 0)
        return cxr_set_error(CXR_E_IO, "%s: cannot read the samples file: %s", path,
                             strerror(errno));
    size_t n = fread(buf, 1, (size_t)(size - from), f);
    buf[n] = '\0';
    /* whole lines only: from the first newline when the read began mid-file, up to the last */
    char *p = from > 0 ? strchr(buf, '\n') : buf, *end = strrchr(buf, '\n');
    const locale_t before = cxr_c_locale_enter(); /* "t":12.345 in any host locale */
    for (; p && end && p < end; p = strchr(p, '\n')) {
        if (*p == '\n') p++;
        double t;
        if (strncmp(p, key, sizeof key - 1) == 0 && sscanf(p + sizeof key - 1, "%lf", &t) == 1 &&
            isfinite(t) && t > *last_t)
            *last_t = t;
    }
    cxr_c_locale_leave(before);
    if (cxr_end_last_line(f) != 0)
        return cxr_set_error(CXR_E_IO, "%s: cannot end the samples file's last line: %s", path,
                             strerror(errno));
    return CXR_OK;
}

static cxr_status monitor_start(cxr_monitor **out, double interval_s, const char *samples_path,
                                int append, int gpu_index, const char *pci, const char *nvml_lib,
                                cxr_tmpfile *keep, const char *opt)
{
    cxr_status st = CXR_OK;
    cxr_monitor *m = NULL;
    pthread_condattr_t ca;
    int ca_init = 0;
    if (!out) return cxr_set_error(CXR_E_ARG, "cxr_monitor_create: out is NULL");
    *out = NULL;
    if (!(interval_s > 0) || interval_s > 3600)
        return cxr_set_error(CXR_E_ARG, "cxr_monitor_create: interval %g s is not in (0, 3600]",
                             interval_s);
    m = calloc(1, sizeof *m);
    if (!m) CXR_THROW(CXR_E_NOMEM, "cxr_monitor_create: out of memory");
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&ca);
    ca_init = 1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    m->interval_s = interval_s;
    m->tick_hz = (double)sysconf(_SC_CLK_TCK);
    if (!(m->tick_hz > 0)) m->tick_hz = 100;
    m->page_mb = (double)sysconf(_SC_PAGESIZE) / (1024.0 * 1024.0);
    m->t0 = m->last_t = cxr_now_s();
    m->last_ticks = read_cpu_ticks();
    if (samples_path) {
        m->samples_path = strdup(samples_path);
        if (!m->samples_path) CXR_THROW(CXR_E_NOMEM, "cxr_monitor_create: out of memory");
        m->samples = cxr_log_open(opt, samples_path, append, CXR_MONITOR_MARK, keep,
                                  &m->samples_created, &st);
        if (!m->samples) goto bail;
        double last_t;
        if (append) {
            CXR_TRY(samples_reopen(m->samples, samples_path, &last_t));
            if (last_t > 0) m->t0 -= last_t + interval_s; /* times go on after the last */
        }
    }
    nvml_open(&m->nv, nvml_lib ? nvml_lib : "libnvidia-ml.so.1", gpu_index, pci);
    const int e = pthread_create(&m->thread, NULL, sampler_main, m);
    if (e) /* EAGAIN: no room for its stack (ulimit -v) or too many threads (ulimit -u) */
        CXR_THROW(e == EAGAIN ? CXR_E_NOMEM : CXR_E_INTERNAL,
                  "cxr_monitor_create: cannot start the sampler thread: %s", strerror(e));
    m->thread_started = 1;
    *out = m;
    m = NULL;
bail:
    if (ca_init) pthread_condattr_destroy(&ca);
    cxr_monitor_destroy(m);
    if (st != CXR_OK && keep) cxr_tmpfile_discard(keep); /* the earlier file as it was */
    return st;
}

cxr_status cxr_monitor_create_ex(cxr_monitor **out, double interval_s, const char *samples_path,
                                 int gpu_index, const char *nvml_lib)
{
    return monitor_start(out, interval_s, samples_path, 0, gpu_index, NULL, nvml_lib, NULL,
                         "samples file");
}

cxr_status cxr_monitor_create(cxr_monitor **out, double interval_s, const char *samples_path,
                              int gpu_index)
{
    return monitor_start(out, interval_s, samples_path, 0, gpu_index, NULL, NULL, NULL,
                         "samples file");
}

cxr_status cxr_monitor_resume(cxr_monitor **out, double interval_s, const char *samples_path,
                              int gpu_index)
{
    return monitor_start(out, interval_s, samples_path, 1, gpu_index, NULL, NULL, NULL,
                         "samples file");
}

cxr_status cxr_monitor_create_pci(cxr_monitor **out, double interval_s, const char *samples_path,
                                  int append, const char *pci_bus_id, const char *nvml_lib)
{
    return monitor_start(out, interval_s, samples_path, append != 0, -1, pci_bus_id, nvml_lib,
                         NULL, "samples file");
}

cxr_status cxr_monitor_create_kept(cxr_monitor **out, double interval_s, const char *samples_path,
                                   int gpu_index, const char *pci_bus_id, cxr_tmpfile *kept)
{
    cxr_tmpfile_init(kept); /* empty on every failure, and without a samples file */
    return monitor_start(out, interval_s, samples_path, 0,
                         pci_bus_id && pci_bus_id[0] ? -1 : gpu_index, pci_bus_id, NULL, kept,
                         "--monitor-log");
}

void cxr_monitor_set_epoch(cxr_monitor *m, int epoch)
{
    pthread_mutex_lock(&m->mu);
    m->epoch = epoch;
    pthread_mutex_unlock(&m->mu);
}

void cxr_monitor_sample_now(cxr_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    if (!m->stopped) sample_locked(m);
    pthread_mutex_unlock(&m->mu);
}

void cxr_monitor_summary_reset(cxr_monitor *m, cxr_monitor_summary *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&m->mu);
    if (!m->stopped) sample_locked(m);
    const accum *a = &m->acc;
    out->n_samples = a->n;
    out->cpu_util_mean = a->n_cpu ? a->cpu_sum / a->n_cpu : NAN;
    out->cpu_util_max = a->n_cpu ? a->cpu_max : NAN;
    out->rss_mb_mean = a->n ? a->rss_sum / a->n : NAN;
    out->rss_mb_max = a->n ? a->rss_max : NAN;
    out->gpu_ok = m->nv.ok && a->n_gpu > 0;
    out->gpu_util_mean = out->gpu_ok ? a->gpu_sum / a->n_gpu : NAN;
    out->gpu_util_max = out->gpu_ok ? a->gpu_max : NAN;
    out->gpu_mem_mb_mean = out->gpu_ok ? a->gmem_sum / a->n_gpu : NAN;
    out->gpu_mem_mb_max = out->gpu_ok ? a->gmem_max : NAN;
    out->gpu_mem_total_mb = out->gpu_ok ? a->gmem_total : NAN;
    if (!out->gpu_ok)
        snprintf(out->gpu_reason, sizeof out->gpu_reason, "%s",
                 m->nv.ok ? "NVML returned no readings" : m->nv.reason);
    memset(&m->acc, 0, sizeof m->acc);
    pthread_mutex_unlock(&m->mu);
}

int cxr_monitor_gpu_available(cxr_monitor *m, char *reason, size_t cap)
{
    pthread_mutex_lock(&m->mu);
    int ok = m->nv.ok;
    if (!ok && reason && cap) snprintf(reason, cap, "%s", m->nv.reason);
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* cxr_monitor_stop without its status: no error message set (destroy runs on the way out of a
 * failure, whose message is the one to print) */
static void monitor_halt(cxr_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (m->thread_started) {
        pthread_join(m->thread, NULL);
        m->thread_started = 0;
    }
    pthread_mutex_lock(&m->mu);
    m->stopped = 1;
    if (m->samples) {
        if (cxr_log_close(m->samples, m->samples_path, m->samples_created) != 0 && !m->write_failed)
            m->write_failed = errno ? errno : EIO;
        m->samples = NULL;
    }
    nvml_close(&m->nv);
    pthread_mutex_unlock(&m->mu);
}

cxr_status cxr_monitor_stop(cxr_monitor *m)
{
    if (!m) return CXR_OK;
    monitor_halt(m);
    return cxr_monitor_status(m);
}

cxr_status cxr_monitor_status(cxr_monitor *m)
{
    pthread_mutex_lock(&m->mu);
    const int failed = m->write_failed;
    pthread_mutex_unlock(&m->mu);
    if (failed)
        return cxr_set_error(CXR_E_IO, "%s: could not write monitor samples: %s",
                             m->samples_path ? m->samples_path : "(samples)", strerror(failed));
    return CXR_OK;
}

void cxr_monitor_destroy(cxr_monitor *m)
{
    if (!m) return;
    monitor_halt(m);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    free(m->samples_path);
    free(m);
}
