/* cxr_monitor.h: the resource sampler behind the training log's `monitor` objects and the
 * samples file (specs/log.md).
 *
 * A background thread samples, every `interval_s` seconds, this process's CPU utilization
 * (utime+stime from /proc/self/stat over wall time, percent of one core) and resident memory
 * (/proc/self/statm), and, through NVML loaded at run time with dlopen("libnvidia-ml.so.1"),
 * one GPU's utilization and memory. A machine without the NVIDIA driver still runs: the
 * monitor then records why ("not available: <reason>") and samples CPU and memory only.
 * Every function is thread-safe on one monitor handle.
 */
#ifndef CXR_MONITOR_H
#define CXR_MONITOR_H

#include <stddef.h>

#include "cxr_status.h"
#include "cxr_tmpfile.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cxr_monitor cxr_monitor;

/* Mean and max of each quantity over the samples of one period (an epoch). A quantity with no
 * samples is NAN. When gpu_ok is 0 the gpu_* fields are NAN and gpu_reason says why. */
typedef struct {
    int n_samples;
    double cpu_util_mean, cpu_util_max; /* percent of one core: 200 = two cores busy */
    double rss_mb_mean, rss_mb_max;     /* resident set size, MiB */
    int gpu_ok;
    double gpu_util_mean, gpu_util_max;     /* percent */
    double gpu_mem_mb_mean, gpu_mem_mb_max; /* device memory used, MiB */
    double gpu_mem_total_mb;
    char gpu_reason[192]; /* "" when gpu_ok, else e.g. "libnvidia-ml.so.1: cannot open ..." */
} cxr_monitor_summary;

/* One line of the samples file (specs/log.md "Samples file"): t and epoch, then the numbers
 * of cxr_monitor_sample_fields. A number that was not measured is NAN (its key is left out);
 * a reader gives -1 for an absent epoch. */
typedef struct {
    double t; /* seconds since the monitor started */
    int epoch;
    double cpu_util, rss_mb, gpu_util, gpu_mem_mb, gpu_mem_total_mb;
} cxr_monitor_sample;

#define CXR_MONITOR_SAMPLE_T     "t"
/* How every samples file begins: `t` is each line's first key (cxr_log_open). */
#define CXR_MONITOR_MARK         "{\"" CXR_MONITOR_SAMPLE_T "\":"
#define CXR_MONITOR_SAMPLE_EPOCH "epoch"

/* A number of a sample line: key, offset of its double in cxr_monitor_sample, and the digits
 * written after the decimal point. The samples file's writer (monitor.c) and reader
 * (report/report_log.c) share this table. */
typedef struct {
    const char *key;
    size_t offset;
    int decimals;
} cxr_monitor_sample_field;
extern const cxr_monitor_sample_field cxr_monitor_sample_fields[];
extern const int cxr_monitor_n_sample_fields;

/* Start sampling every interval_s seconds (> 0; 1.0 in training, ~0.05 in tests).
 * samples_path: NULL for none, else a JSON Lines file (created/truncated) that receives one
 * flushed line per sample (specs/log.md "Samples file"). gpu_index: the NVML device index to
 * watch, or -1 to leave the GPU unmonitored (reason "not requested").
 * On success *out owns the thread and the file; release with cxr_monitor_destroy.
 * Errors: CXR_E_ARG (bad interval, out NULL), CXR_E_IO (samples file cannot be created),
 * CXR_E_NOMEM, CXR_E_INTERNAL (thread creation). NVML failures are not errors. */
cxr_status cxr_monitor_create(cxr_monitor **out, double interval_s, const char *samples_path,
                              int gpu_index);
/* As cxr_monitor_create, but loads NVML from nvml_lib (NULL = "libnvidia-ml.so.1"); tests
 * pass a name that does not exist to exercise the "not available" path on any machine. */
cxr_status cxr_monitor_create_ex(cxr_monitor **out, double interval_s, const char *samples_path,
                                 int gpu_index, const char *nvml_lib);
/* As cxr_monitor_create, for a resumed run: the samples file is appended to (created if
 * absent), a last line a killed run left torn is ended first, and the times go on after its
 * last sample's (t = that + interval_s at this call). */
cxr_status cxr_monitor_resume(cxr_monitor **out, double interval_s, const char *samples_path,
                              int gpu_index);
/* As cxr_monitor_create (append 0) or cxr_monitor_resume (append 1), watching the GPU whose
 * PCI bus id is pci_bus_id ("0000:3B:00.0", cxr_cuda_pci_bus_id) instead of an NVML index:
 * NVML numbers the GPUs in PCI order and ignores CUDA_VISIBLE_DEVICES, CUDA numbers them after
 * that variable and fastest first, so a CUDA device's index can be another GPU's in NVML.
 * NULL or "": as gpu_index -1. nvml_lib as for cxr_monitor_create_ex. */
cxr_status cxr_monitor_create_pci(cxr_monitor **out, double interval_s, const char *samples_path,
                                  int append, const char *pci_bus_id, const char *nvml_lib);
/* As cxr_monitor_create (watching the GPU of PCI bus id pci_bus_id when it is neither NULL nor
 * "", as cxr_monitor_create_pci, else NVML's gpu_index), for a run that leaves an earlier samples
 * file whole until it has something worth keeping: the samples go to a temporary beside it
 * (*kept, cxr_log_open's `keep`), the earlier file held locked; the caller makes it the file
 * (cxr_tmpfile_commit) or removes it (cxr_tmpfile_discard) when the run ends before. *kept is
 * empty (path NULL) on every failure, without a samples file and for an empty or new one.
 * CXR_E_IO, the file untouched, when no temporary can be created for want of space. For
 * cxr-train's run: messages name the file as --monitor-log (the other functions' as "samples
 * file"). */
cxr_status cxr_monitor_create_kept(cxr_monitor **out, double interval_s, const char *samples_path,
                                   int gpu_index, const char *pci_bus_id, cxr_tmpfile *kept);
/* Set the epoch number that later samples carry (0 before training starts). */
void cxr_monitor_set_epoch(cxr_monitor *m, int epoch);
/* Take one sample now (besides the periodic ones), e.g. at the end of a short epoch. */
void cxr_monitor_sample_now(cxr_monitor *m);
/* Fill *out with the summary of the samples taken since the previous call (or since create)
 * and start a new period. A sample is taken first, so a period is never empty. */
void cxr_monitor_summary_reset(cxr_monitor *m, cxr_monitor_summary *out);
/* Whether NVML works on this monitor; when not, copy the reason into reason (cap bytes). */
int cxr_monitor_gpu_available(cxr_monitor *m, char *reason, size_t cap);
/* CXR_E_IO when a sample line could not be written so far (the message names the file and the
 * reason), else CXR_OK: for a caller that stops a long run at the next epoch rather than at
 * the end. */
cxr_status cxr_monitor_status(cxr_monitor *m);
/* Stop the thread, flush and close the samples file. Returns CXR_E_IO if any sample line
 * could not be written (as cxr_monitor_status). Safe to call twice. */
cxr_status cxr_monitor_stop(cxr_monitor *m);
/* Stop (ignoring its status: the last error message is left as it was) and free. NULL-safe. */
void cxr_monitor_destroy(cxr_monitor *m);

#ifdef __cplusplus
}
#endif
#endif
