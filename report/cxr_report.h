/* cxr_report.h: reading training logs and monitor samples (specs/log.md) and drawing them as
 * one self-contained HTML report (inline CSS and SVG, nothing fetched), for cxr-report. The
 * keys and the record of an epoch line come from the writer's train/cxr_trainlog.h, those of
 * a samples line from runtime/cxr_monitor.h.
 *
 * Reading is tolerant line by line: a line that is not JSON, not an object, lacks `type`, or
 * carries a known key with the wrong type is reported through the warning callback as
 * "file:line: reason" and skipped; the rest of the file is still used.
 */
#ifndef CXR_REPORT_H
#define CXR_REPORT_H

#include <stdint.h>

#include "cxr_monitor.h"
#include "cxr_status.h"
#include "cxr_trainlog.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per skipped line with "file:line: reason". ctx is passed through. */
typedef void (*cxr_report_warn_fn)(void *ctx, const char *message);

/* One training log. Strings absent from the log are NULL; counts absent are -1. */
typedef struct {
    char *path;
    char *label; /* file name without directories */
    char *tool, *store, *device, *eval_split;
    char *kernels, *cpu_model; /* what computed (specs/log.md), NULL in older logs */
    char *recipe_json; /* the `recipe` object as compact JSON, or NULL */
    char *select;      /* the recipe's model selection metric ("val_auc"), NULL: none */
    int n_classes;
    char **classes;
    int64_t train_images, eval_images;
    int n_epochs;
    cxr_log_epoch *epochs; /* by epoch number; an epoch logged twice (resume) keeps its last line */
    int n_bench;
    cxr_log_bench *bench;
    int n_steps;         /* `step` lines (cxr-train --log-every), 0 when none */
    cxr_log_step *steps; /* by step number; a step logged twice (resume) keeps its last line */
    int n_run_lines;     /* > 1 when --resume appended to the log */
    int n_lines, n_skipped;
} cxr_log_run;

typedef struct {
    char *path, *label;
    int n;
    cxr_monitor_sample *s;
    int n_lines, n_skipped;
} cxr_samples;

/* Read a training log. warn (may be NULL) gets each skipped line. On success *out owns the
 * run (free with cxr_log_run_free). Errors: CXR_E_IO (cannot open/read: message names the
 * file), CXR_E_FORMAT (no usable `epoch` line: "<file>: no epoch lines ..."), CXR_E_NOMEM. */
cxr_status cxr_log_read(const char *path, cxr_report_warn_fn warn, void *ctx, cxr_log_run **out);
/* The words of cxr_log_read's CXR_E_FORMAT for a log without an epoch line ("PATH: no epoch
 * lines (...)"), which cxr-report tells from a file of another kind given as a log. */
#define CXR_LOG_NO_EPOCHS ": no epoch lines ("
void cxr_log_run_free(cxr_log_run *run);

/* Read a samples file (specs/log.md "Samples file"), same conventions. CXR_E_FORMAT when no
 * line holds a sample. */
cxr_status cxr_samples_read(const char *path, cxr_report_warn_fn warn, void *ctx,
                            cxr_samples **out);
void cxr_samples_free(cxr_samples *s);

/* Write the HTML report of n_runs runs (n_runs >= 1) and n_samples samples files (may be 0)
 * to out_path, through a temporary file in the same folder renamed into place when complete.
 * Errors: CXR_E_ARG, CXR_E_IO (message names the file), CXR_E_NOMEM. */
cxr_status cxr_report_write_html(const char *out_path, cxr_log_run *const *runs, int n_runs,
                                 cxr_samples *const *samples, int n_samples);

#ifdef __cplusplus
}
#endif
#endif
