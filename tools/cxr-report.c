/* cxr-report: draws one or more training logs (specs/log.md) and monitor samples files as a
 * single self-contained HTML page (inline CSS and SVG; opens offline).
 *
 *   cxr-report RUN.jsonl [RUN2.jsonl ...] [--samples S.jsonl ...] -o report.html
 *
 * Malformed lines are named on stderr as file:line and skipped; a log without epoch lines among
 * others is left out of the page, said. Exit codes: 0 ok, 2 usage, 3 no log usable (e.g. no
 * epoch lines), 4 I/O error, 130 a stop signal while the page was written (it is complete).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cxr_files.h"
#include "cxr_signals.h"
#include "cxr_report.h"

/* Logs and samples files that are regular files; an output that is none of them, nor another
 * run's, locked for this one (cxr_files.h). */
static cxr_status check_files(const char *out, const char **runs, int n_runs, const char **samps,
                              int n_samp)
{
    for (int i = 0; i < n_runs; i++)
        if (cxr_input_check(runs[i]) != CXR_OK) return CXR_E_ARG;
    for (int i = 0; i < n_samp; i++)
        if (cxr_input_check(samps[i]) != CXR_OK) return CXR_E_ARG;
    /* a file given twice was drawn as two runs of one name, one on the other */
    for (int k = 0; k < 2; k++) {
        const char **v = k ? samps : runs;
        const int n = k ? n_samp : n_runs;
        struct stat sb; /* one that is not there is said so when it is read */
        for (int j = 1; j < n; j++)
            for (int i = 0, there = stat(v[j], &sb) == 0; i < j && there; i++)
                if (cxr_same_output(v[i], v[j]))
                    return cxr_set_error(CXR_E_ARG, "%s: the same %s as %s; give each once", v[j],
                                         k ? "samples file" : "training log", v[i]);
    }
    cxr_status st = cxr_output_check("-o", out, runs, n_runs, NULL);
    if (st == CXR_OK) st = cxr_output_check("-o", out, samps, n_samp, NULL);
    if (st == CXR_OK) st = cxr_output_not_ours("-o", out, "an HTML page");
    if (st == CXR_OK) st = cxr_output_not_other("-o", out, "an HTML page", CXR_OUTPUT_HTML);
    if (st == CXR_OK) st = cxr_output_probe("-o", out);
    return st != CXR_OK ? st : cxr_output_lock("cxr-report", "-o", out); /* held until exit */
}

#define USAGE \
    "usage: cxr-report RUN.jsonl [RUN2.jsonl ...] [--samples S.jsonl ...] -o OUT.html [-q]"

static void usage(FILE *to)
{
    fprintf(to, USAGE
            "\n"
            "\n"
            "Writes one self-contained HTML report (inline CSS and SVG, opens offline): loss and\n"
            "accuracy curves, ROC, confusion matrix, time per epoch, benchmark comparisons,\n"
            "CPU/GPU use over time. Several runs are drawn on the same axes. Malformed log lines\n"
            "are named on stderr as file:line and skipped. Logs and samples files may be gzip\n"
            "compressed (RUN.jsonl.gz). Runs are named by their file names, or by as many of\n"
            "their folders as tell them apart (a/run.jsonl, b/run.jsonl); a file given twice is\n"
            "refused.\n"
            "\n"
            "Options:\n"
            "  -o, --output FILE  the HTML page to write (required)\n"
            "  --samples          the files after it are monitor samples (cxr-train\n"
            "                     --monitor-log), drawn as CPU/GPU use over time\n"
            "  --runs             the files after it are training logs again (the default)\n"
            "  --                 every argument after it is a file (of the kind before it),\n"
            "                     one named -x.jsonl too\n"
            "  -q, --quiet        no line on success (warnings and errors still print)\n"
            "  -h, --help         this help;  --version  the version\n"
            "\n"
            "A log without epoch lines (a run stopped in its first epoch) among others is left\n"
            "out of the page, with a warning.\n"
            "\n"
            "Exit codes: 0 ok; 2 usage error; 3 unusable input (e.g. a log without epoch lines,\n"
            "given alone or with others as unusable);\n"
            "4 I/O error; 130 interrupted while the page was written (SIGINT, SIGTERM or SIGHUP,\n"
            "held back until it is whole: it is complete, and said so; one before that ends the\n"
            "tool at once, nothing written); 1 other (out of memory).\n");
}

static void warn_stderr(void *ctx, const char *msg)
{
    (void)ctx;
    fputs("cxr-report: warning: ", stderr);
    cxr_fputs_escaped(msg, stderr); /* it quotes file names and log lines */
    fputc('\n', stderr);
}

int main(int argc, char **argv)
{
    cxr_std_fds_open(); /* before any file is opened (cxr_files.h) */
    cxr_signals_ignore_write_signals();
    const char *out = NULL;
    int n_runs = 0, n_samp = 0, rc = 0, quiet = 0;
    const char **run_paths = calloc((size_t)argc, sizeof *run_paths);
    const char **samp_paths = calloc((size_t)argc, sizeof *samp_paths);
    cxr_log_run **runs = calloc((size_t)argc, sizeof *runs);
    cxr_samples **samps = calloc((size_t)argc, sizeof *samps);
    if (!run_paths || !samp_paths || !runs || !samps) { /* the limit named, as every tool's */
        cxr_set_error(CXR_E_NOMEM, "out of memory");
        cxr_print_error("cxr-report", cxr_last_error());
        return 1;
    }
    int in_samples = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            cxr_stdout_hold();
            usage(stdout);
            rc = cxr_stdout_exit("cxr-report");
            goto done;
        } else if (strcmp(argv[i], "--version") == 0) {
            rc = cxr_version_exit("cxr-report");
            goto done;
        } else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "cxr-report: %s needs a file\n", argv[i]);
                rc = cxr_usage_error(USAGE);
                goto done;
            }
            out = argv[++i];
        } else if (strncmp(argv[i], "--output=", 9) == 0) { /* as getopt_long takes it */
            out = argv[i] + 9;
        } else if (strcmp(argv[i], "--") == 0) { /* the rest are files, "-x.jsonl" too */
            for (i++; i < argc; i++)
                if (in_samples)
                    samp_paths[n_samp++] = argv[i];
                else
                    run_paths[n_runs++] = argv[i];
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(argv[i], "--samples") == 0) {
            in_samples = 1;
        } else if (strcmp(argv[i], "--runs") == 0) {
            in_samples = 0;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "cxr-report: unknown option %s\n", argv[i]);
            rc = cxr_usage_error(USAGE);
            goto done;
        } else if (in_samples) {
            samp_paths[n_samp++] = argv[i];
        } else {
            run_paths[n_runs++] = argv[i];
        }
    }
    if (!out || n_runs == 0) {
        fprintf(stderr, "cxr-report: %s\n",
                !out ? "-o OUT.html is required" : "at least one training log is required");
        rc = cxr_usage_error(USAGE);
        goto done;
    }
    cxr_status fst = check_files(out, run_paths, n_runs, samp_paths, n_samp);
    if (fst != CXR_OK) {
        cxr_print_error("cxr-report", cxr_last_error());
        rc = cxr_exit_code(fst); /* 2; 4 for an output folder that is not there */
        goto done;
    }
    /* a log that is no usable training log (no epoch line: a run killed in its first epoch)
     * among others is left out of the page, said; alone, or unreadable, it ends the tool */
    int kept = 0, left_out = 0;
    for (int i = 0; i < n_runs; i++) {
        cxr_status st = cxr_log_read(run_paths[i], warn_stderr, NULL, &runs[kept]);
        /* (not a samples file or a model given as a run, which stay refusals) */
        if (st == CXR_E_FORMAT && n_runs > 1 && strstr(cxr_last_error(), CXR_LOG_NO_EPOCHS)) {
            char why[CXR_MSG_MAX];
            snprintf(why, sizeof why, "%s", cxr_last_error());
            cxr_set_error(st, "warning: %s; left out of the page", why);
            cxr_print_error("cxr-report", cxr_last_error());
            left_out++;
            continue;
        }
        if (st != CXR_OK) {
            cxr_print_error("cxr-report", cxr_last_error());
            rc = cxr_exit_code(st);
            goto done;
        }
        kept++;
    }
    if (kept == 0) { /* every one left out: none to draw */
        fprintf(stderr, "cxr-report: none of the %d logs has an epoch line: no page written\n",
                n_runs);
        rc = cxr_exit_code(CXR_E_FORMAT);
        goto done;
    }
    n_runs = kept;
    for (int i = 0; i < n_samp; i++) {
        cxr_status st = cxr_samples_read(samp_paths[i], warn_stderr, NULL, &samps[i]);
        if (st != CXR_OK) {
            cxr_print_error("cxr-report", cxr_last_error());
            rc = cxr_exit_code(st);
            goto done;
        }
    }
    /* a stop signal waits until the page is whole (as cxr-export: held back while it is
     * written, killed midway its temporary stayed), then ends the tool with exit 130 */
    cxr_sigmask_saved held;
    cxr_sigmask_block_async(&held);
    cxr_status st = cxr_report_write_html(out, runs, n_runs, samps, n_samp);
    /* a failed write keeps its own exit status: the stop was honoured all the same */
    const int stopped = cxr_sigmask_restore_taking_stop(&held);
    if (st != CXR_OK) {
        cxr_print_error("cxr-report", cxr_last_error());
        rc = cxr_exit_code(st);
        goto done;
    }
    int epochs = 0;
    for (int i = 0; i < n_runs; i++) epochs += runs[i]->n_epochs;
    char esc[4096];
    cxr_escape_name(esc, sizeof esc, out);
    if (!quiet)
        fprintf(stderr, "cxr-report: wrote %s (%d run(s), %d epoch(s), %d samples file(s)%s)\n",
                esc, n_runs, epochs, n_samp, left_out ? "; logs left out, as said above" : "");
    if (stopped) {
        fprintf(stderr, "cxr-report: interrupted as %s was written: it is complete\n", esc);
        rc = cxr_exit_code(CXR_E_INTERRUPTED);
    }
done:
    for (int i = 0; i < argc; i++) {
        cxr_log_run_free(runs[i]);
        cxr_samples_free(samps[i]);
    }
    free(runs);
    free(samps);
    free(run_paths);
    free(samp_paths);
    return rc;
}
