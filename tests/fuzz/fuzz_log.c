/* fuzz_log.c: libFuzzer target for cxr-report's readers (cxr_report.h): the input is read
 * as a training log and as a samples file, and whatever reads is drawn into the HTML report
 * (the run once and overlaid on itself, with the samples when they read), written under the
 * target's private $TMPDIR folder. Oracles beyond the sanitizers: the epochs of a read log
 * are in strictly increasing order (one line per epoch after resume dedup), every skipped line
 * was warned about (named, or past the first 20 counted), and a readable log always makes a
 * report. */
#include "cxr_report.h"
#include "fuzz_common.h"

#include <stdlib.h>
#include <string.h>

/* Lines accounted for: one a named line, N for "..: N more bad lines skipped" (past 20). */
static void count_warning(void *ctx, const char *message)
{
    const char *more = strstr(message, " more bad lines skipped");
    int n = 1;
    if (more) {
        const char *p = more;
        while (p > message && p[-1] >= '0' && p[-1] <= '9') p--;
        n = atoi(p);
    }
    *(int *)ctx += n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[4200];
    if (!out[0]) snprintf(out, sizeof out, "%s/report.html", fuzz_tmpdir());
    char path[64];
    int fd = fuzz_memfile("run.jsonl", data, size, path, sizeof path);

    /* a file that starts with gzip's magic is inflated: damaged, cut short or followed by
     * bytes that start no member, it is a read error naming gzip (specs/log.md) */
    const int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    int warned = 0;
    cxr_log_run *run = NULL;
    cxr_status st = cxr_log_read(path, count_warning, &warned, &run);
    if (st == CXR_OK) {
        FUZZ_CHECK(run->n_epochs > 0, "a log without epochs read");
        FUZZ_CHECK(warned == run->n_skipped, "%d warnings for %d skipped lines", warned,
                   run->n_skipped);
        for (int i = 1; i < run->n_epochs; i++)
            FUZZ_CHECK(run->epochs[i - 1].epoch < run->epochs[i].epoch,
                       "epoch %d listed before epoch %d", run->epochs[i - 1].epoch,
                       run->epochs[i].epoch);
        for (int i = 1; i < run->n_steps; i++)
            FUZZ_CHECK(run->steps[i - 1].step < run->steps[i].step, "step %lld before step %lld",
                       (long long)run->steps[i - 1].step, (long long)run->steps[i].step);
    } else {
        FUZZ_CHECK(st == CXR_E_FORMAT || (gz && st == CXR_E_IO && strstr(cxr_last_error(), "gzip")),
                   "log: %s: %s", cxr_status_name(st), cxr_last_error());
    }

    warned = 0;
    cxr_samples *smp = NULL;
    st = cxr_samples_read(path, count_warning, &warned, &smp);
    if (st == CXR_OK)
        FUZZ_CHECK(warned == smp->n_skipped, "%d warnings for %d skipped lines", warned,
                   smp->n_skipped);
    else
        FUZZ_CHECK(st == CXR_E_FORMAT || (gz && st == CXR_E_IO && strstr(cxr_last_error(), "gzip")),
                   "samples: %s: %s", cxr_status_name(st), cxr_last_error());

    if (run) {
        cxr_log_run *runs[2] = { run, run };
        cxr_samples *s[1] = { smp };
        for (int n = 1; n <= 2; n++) {
            st = cxr_report_write_html(out, runs, n, s, smp ? 1 : 0);
            FUZZ_CHECK(st == CXR_OK, "report of %d run(s): %s", n, cxr_last_error());
        }
    }
    cxr_log_run_free(run);
    cxr_samples_free(smp);
    close(fd);
    return 0;
}
