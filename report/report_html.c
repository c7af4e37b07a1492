/* report_html.c: lays out the training report (cxr_report_write_html): a runs table, loss and
 * accuracy curves, the last evaluation (metrics, ROC, confusion matrices), speed per epoch,
 * the benchmark comparisons and resource use. One HTML file with inline CSS and SVG only, so
 * it opens offline; written to a temporary file and renamed into place.
 *
 * Element ids and classes are part of what tests check: chart-loss, chart-step-loss (step
 * lines of cxr-train --log-every), chart-acc, chart-roc,
 * chart-time, chart-ips, chart-bench, chart-cpu, chart-rss, chart-gpu, chart-gpumem,
 * table.confusion#confusion-<run> with td.cm-cell, polyline.series[data-run], .na notes.
 */
#include "cxr_report.h"
#include "c_locale.h"
#include "cxr_parse.h"
#include "cxr_tmpfile.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "report_svg.h"

#include <cjson/cJSON.h>

typedef struct {
    cxr_sb *b;
    cxr_log_run *const *runs;
    int n_runs;
    cxr_samples *const *samples;
    int n_samples;
    const char **names;   /* display name per run */
    const char **s_names; /* display name per samples file */
} page;

static const char *CSS =
    "body{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;font-size:14px;color:#222;"
    "max-width:1200px;margin:0 auto;padding:8px 10px;background:#fff}\n"
    "h1{font-size:24px;margin:8px 0}h2{font-size:19px;margin:26px 0 8px;border-bottom:2px solid "
    "#ccc;padding-bottom:3px}h3{font-size:15px;margin:14px 0 6px}\n"
    ".grid{display:flex;flex-wrap:wrap;gap:16px}.grid>div{flex:0 0 auto}\n"
    "table{border-collapse:collapse;margin:6px 0 10px}td,th{border:1px solid #ccc;"
    "padding:3px 8px;text-align:right}th{background:#f0f0f0}td.l,th.l{text-align:left}\n"
    "table.confusion td.cm-cell{min-width:54px;text-align:center;font-weight:bold}\n"
    "table.confusion th.corner{background:#fff;border:none}\n"
    ".na{color:#8a4b00;background:#fff4e0;border:1px solid #f0c890;padding:4px 8px;"
    "display:inline-block;margin:3px 0}\n.muted{color:#666;font-size:12px}\n"
    ".swatch{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}\n"
    "svg.chart{background:#fff;border:1px solid #ddd}\n"
    "svg text{font-family:'DejaVu Sans',Arial,Helvetica,sans-serif;font-size:12px;fill:#222}\n"
    "svg .ctitle{font-size:14px;font-weight:bold;text-anchor:middle}\n"
    "svg .ytick{text-anchor:end}svg .xtick,svg .xlabel{text-anchor:middle}\n"
    "svg .ylabel{text-anchor:middle}svg .cat{text-anchor:end}svg .barval{font-size:11px}\n"
    "svg .grid{stroke:#e4e4e4;stroke-width:1}svg .frame{fill:none;stroke:#888}\n"
    "code{font-size:12px;word-break:break-all}\n";

/* ---- helpers ------------------------------------------------------------------------ */

static void num_cell(cxr_sb *b, double v, const char *fmt)
{
    if (isfinite(v) && fabs(v) >= 1e9) { /* a fixed-point format would print hundreds of digits:
                                          * %.6g in its place, the text around it kept */
        const char *pc = strchr(fmt, '%'), *end = pc ? pc + strcspn(pc, "fgeFGE") : NULL;
        cxr_sb_printf(b, "<td>%.*s%.6g", end && *end ? (int)(pc - fmt) : 0, fmt, v);
        for (const char *q = end && *end ? end + 1 : ""; *q; q++) { /* the rest, "%%" as "%" */
            if (q[0] == '%' && q[1] == '%') q++;
            cxr_sb_printf(b, "%c", *q);
        }
        cxr_sb_printf(b, "</td>");
    } else if (isfinite(v)) {
        cxr_sb_printf(b, "<td>");
        cxr_sb_printf(b, fmt, v);
        cxr_sb_printf(b, "</td>");
    } else {
        cxr_sb_printf(b, "<td class=\"muted\">&ndash;</td>");
    }
}

static const cxr_log_epoch *last_epoch(const cxr_log_run *r) { return &r->epochs[r->n_epochs - 1]; }

/* Last epoch of the run that carries a confusion matrix / ROC (the last evaluation). A ROC
 * needs a finite AUC: an evaluation split without one of the classes has none (older logs still
 * wrote its flat curve). */
static const cxr_log_epoch *last_with(const cxr_log_run *r, int want_roc)
{
    for (int i = r->n_epochs - 1; i >= 0; i--)
        if (want_roc ? r->epochs[i].n_roc > 0 && isfinite(r->epochs[i].auc) : r->epochs[i].k > 0)
            return &r->epochs[i];
    return NULL;
}

/* Field accessor for per-epoch series. */
typedef double (*ep_field)(const cxr_log_epoch *);
#define FIELD(name, expr) \
    static double name(const cxr_log_epoch *e) { return (expr); }
FIELD(f_train_loss, e->train_loss)
FIELD(f_eval_loss, e->eval_loss)
FIELD(f_train_acc, e->train_acc)
FIELD(f_eval_acc, e->eval_acc)
FIELD(f_epoch_s, e->epoch_s)
FIELD(f_eval_s, e->eval_s)
FIELD(f_ips, e->images_per_s)
FIELD(f_cpu_mean, e->has_monitor ? e->monitor.cpu_util_mean : NAN)
FIELD(f_cpu_max, e->has_monitor ? e->monitor.cpu_util_max : NAN)
FIELD(f_rss_mean, e->has_monitor ? e->monitor.rss_mb_mean : NAN)
FIELD(f_rss_max, e->has_monitor ? e->monitor.rss_mb_max : NAN)
FIELD(f_gpu_mean, e->has_monitor && e->monitor.gpu_ok ? e->monitor.gpu_util_mean : NAN)
FIELD(f_gpu_max, e->has_monitor && e->monitor.gpu_ok ? e->monitor.gpu_util_max : NAN)
FIELD(f_gmem_mean, e->has_monitor && e->monitor.gpu_ok ? e->monitor.gpu_mem_mb_mean : NAN)
FIELD(f_gmem_max, e->has_monitor && e->monitor.gpu_ok ? e->monitor.gpu_mem_mb_max : NAN)

/* A legend entry "NAME WHAT": the name shortened to CXR_PLOT_NAME_CHARS characters (its two
 * ends kept), so that what follows it (" train", " eval", the AUC) is never cut off. */
static void legend_named(cxr_plot *p, const char *name, const char *what, const char *color,
                         const char *dash)
{
    char shortname[4 * CXR_PLOT_NAME_CHARS + 8], text[sizeof shortname + 88];
    cxr_short_name(shortname, sizeof shortname, name, CXR_PLOT_NAME_CHARS);
    snprintf(text, sizeof text, "%s%s%s", shortname, what[0] ? " " : "", what);
    cxr_plot_legend(p, text, color, dash, 0);
}

typedef struct {
    ep_field f;
    const char *name; /* legend suffix and class */
    const char *dash;
} series_def;

static int run_has(const cxr_log_run *r, ep_field f)
{
    for (int i = 0; i < r->n_epochs; i++)
        if (isfinite(f(&r->epochs[i]))) return 1;
    return 0;
}

/* A per-epoch line chart: for each run, one polyline per series that has data. Returns 0 if
 * no run had any data (nothing drawn). y_from_zero anchors the y axis at 0. */
/* A chart's data range, widened point by point (start: xmin, ymin = INFINITY; xmax,
 * ymax = -INFINITY). */
static void range_add(cxr_plot *p, double x, double y)
{
    p->xmin = fmin(p->xmin, x);
    p->xmax = fmax(p->xmax, x);
    p->ymin = fmin(p->ymin, y);
    p->ymax = fmax(p->ymax, y);
}

/* 0 when no point was added; else the y axis from 0 (y_from_zero) and at most y_cap, and a
 * single x widened to a range of 2. */
static int range_close(cxr_plot *p, int y_from_zero, double y_cap)
{
    if (!isfinite(p->xmin)) return 0;
    if (y_from_zero && p->ymin > 0) p->ymin = 0;
    if (isfinite(y_cap) && p->ymax > y_cap) p->ymax = y_cap;
    if (p->xmin == p->xmax) {
        p->xmin -= 1;
        p->xmax += 1;
    }
    return 1;
}

static int epoch_chart(page *pg, const char *id, const char *title, const char *ylabel,
                       const series_def *defs, int n_defs, int y_from_zero, double y_cap)
{
    cxr_plot p;
    memset(&p, 0, sizeof p);
    p.id = id;
    p.title = title;
    p.xlabel = "epoch";
    p.ylabel = ylabel;
    p.integer_x = 1;
    p.xmin = p.ymin = INFINITY;
    p.xmax = p.ymax = -INFINITY;
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        for (int d = 0; d < n_defs; d++) {
            if (!run_has(run, defs[d].f)) continue;
            for (int i = 0; i < run->n_epochs; i++) {
                double v = defs[d].f(&run->epochs[i]);
                if (!isfinite(v)) continue;
                range_add(&p, run->epochs[i].epoch, v);
            }
            legend_named(&p, pg->names[r], defs[d].name, cxr_plot_color(r), defs[d].dash);
        }
    }
    if (!range_close(&p, y_from_zero, y_cap)) return 0;
    cxr_plot_begin(pg->b, &p);
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        double *x = malloc(sizeof(double) * (size_t)run->n_epochs * 2);
        if (!x) {
            pg->b->failed = 1;
            return 0;
        }
        double *y = x + run->n_epochs;
        for (int d = 0; d < n_defs; d++) {
            for (int i = 0; i < run->n_epochs; i++) {
                x[i] = run->epochs[i].epoch;
                y[i] = defs[d].f(&run->epochs[i]);
            }
            cxr_plot_line(pg->b, &p, x, y, run->n_epochs, cxr_plot_color(r), defs[d].dash,
                          defs[d].name, r);
        }
        free(x);
    }
    cxr_plot_end(pg->b, &p);
    return 1;
}

/* A line of n points (x, y) thinned in place to at most STEP_POINTS of them (a chart is ~800 px
 * wide; a run logging every step of millions, or sampled every second for days, would make a
 * page of megabytes): up to that, every point; beyond, the points cut into STEP_POINTS / 2 runs
 * of consecutive ones, each drawn by its lowest and its highest y in x order, so spikes and the
 * envelope stay. Returns the count. */
#define STEP_POINTS 4000
static int thin_series(double *x, double *y, int n)
{
    int m = 0, buckets = STEP_POINTS / 2;
    if (n <= STEP_POINTS) return n;
    for (int k = 0; k < buckets; k++) {
        /* in place: bucket k starts at n k / buckets >= 2k, past the (at most 2k) points
         * written before it; its two are read before they are written */
        int lo = (int)((int64_t)n * k / buckets), hi = (int)((int64_t)n * (k + 1) / buckets);
        int imin = -1, imax = -1;
        for (int i = lo; i < hi; i++) {
            if (!isfinite(y[i])) continue;
            if (imin < 0 || y[i] < y[imin]) imin = i;
            if (imax < 0 || y[i] > y[imax]) imax = i;
        }
        if (imin < 0) continue;
        int first = imin < imax ? imin : imax, second = imin < imax ? imax : imin;
        const double x1 = x[first], y1 = y[first], x2 = x[second], y2 = y[second];
        x[m] = x1;
        y[m++] = y1;
        if (second != first) {
            x[m] = x2;
            y[m++] = y2;
        }
    }
    return m;
}

/* The points of a run's step-loss line (thin_series). Returns the count. */
static int thin_steps(const cxr_log_run *run, double *x, double *y)
{
    for (int i = 0; i < run->n_steps; i++) {
        x[i] = (double)run->steps[i].step;
        y[i] = run->steps[i].loss;
    }
    return thin_series(x, y, run->n_steps);
}

/* The points of an ROC curve drawn (cxr_log_roc_next: a log since 0.20.1 holds them so, an
 * earlier one every point, one per distinct score: a val split of 90,000 images made a polyline
 * of 1 MB per run), within half a pixel of the chart. Returns the count. */
static int thin_roc(const cxr_log_epoch *e, double *x, double *y)
{
    int m = 0;
    for (int64_t i = 0; i < e->n_roc; i = cxr_log_roc_next(e->roc_fpr, e->roc_tpr, e->n_roc, i)) {
        x[m] = e->roc_fpr[i];
        y[m++] = e->roc_tpr[i];
    }
    return m;
}

/* The loss of the `step` lines (thinned: thin_steps) against the step number, one polyline
 * per run that has them. Returns 0 when no run has step lines (nothing drawn). */
static int step_chart(page *pg)
{
    cxr_plot p;
    memset(&p, 0, sizeof p);
    p.id = "chart-step-loss";
    p.title = "Loss per step";
    p.xlabel = "step";
    p.ylabel = "batch loss";
    p.integer_x = 1;
    p.xmin = p.ymin = INFINITY;
    p.xmax = p.ymax = -INFINITY;
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        int has = 0;
        for (int i = 0; i < run->n_steps; i++) {
            double v = run->steps[i].loss;
            if (!isfinite(v)) continue;
            has = 1;
            range_add(&p, (double)run->steps[i].step, v);
        }
        if (has) legend_named(&p, pg->names[r], "", cxr_plot_color(r), NULL);
    }
    if (!range_close(&p, 1, INFINITY)) return 0;
    cxr_plot_begin(pg->b, &p);
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        if (run->n_steps == 0) continue;
        double *x = malloc(sizeof(double) * 2 * (size_t)run->n_steps);
        if (!x) {
            pg->b->failed = 1;
            return 0;
        }
        int m = thin_steps(run, x, x + run->n_steps);
        cxr_plot_line(pg->b, &p, x, x + run->n_steps, m, cxr_plot_color(r), NULL, "step", r);
        free(x);
    }
    cxr_plot_end(pg->b, &p);
    return 1;
}

/* The run line's recipe as "key value" pairs ("name standard, epochs 14, batch 64, lr 0.0001"),
 * in the log's order and with its keys; a value that is not a string, number or boolean stays
 * JSON, and a recipe that is not an object is shown as it is. */
static void recipe_text(cxr_sb *b, const char *json)
{
    cJSON *o = cJSON_Parse(json);
    if (!cJSON_IsObject(o)) {
        cxr_sb_esc(b, json);
        cJSON_Delete(o);
        return;
    }
    const cJSON *c;
    int i = 0;
    cJSON_ArrayForEach(c, o)
    {
        cxr_sb_printf(b, "%s", i++ ? ", " : "");
        cxr_sb_esc(b, c->string ? c->string : "?");
        if (cJSON_IsString(c)) {
            cxr_sb_printf(b, " ");
            cxr_sb_esc(b, c->valuestring);
        } else if (cJSON_IsNumber(c)) { /* as the log has it: a seed of 2^31 - 1 whole */
            char num[32];
            const double v = c->valuedouble;
            if (v == floor(v) && fabs(v) < 9007199254740992.0) /* 2^53 */
                cxr_sb_printf(b, " %.0f", v);
            else
                cxr_sb_printf(b, " %s", cxr_format_double(num, sizeof num, v));
        } else if (cJSON_IsBool(c)) {
            cxr_sb_printf(b, " %s", cJSON_IsTrue(c) ? "true" : "false");
        } else {
            char *t = cJSON_PrintUnformatted(c);
            cxr_sb_printf(b, " ");
            cxr_sb_esc(b, t ? t : "?");
            free(t);
        }
    }
    cJSON_Delete(o);
}

/* ---- sections ----------------------------------------------------------------------- */

static void section_runs(page *pg)
{
    cxr_sb *b = pg->b;
    cxr_sb_printf(b, "<h2>Runs</h2>\n<table id=\"runs\"><tr><th class=\"l\">run</th>"
                     "<th class=\"l\">device</th><th class=\"l\">classes</th><th>train / eval "
                     "images</th><th>epochs</th><th>last eval acc</th><th>last AUC</th></tr>\n");
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        cxr_sb_printf(b,
                      "<tr class=\"run\"><td class=\"l\"><span class=\"swatch\" "
                      "style=\"background:%s\"></span>",
                      cxr_plot_color(r));
        cxr_sb_esc(b, pg->names[r]);
        cxr_sb_printf(b, "</td><td class=\"l\">");
        cxr_sb_esc(b, run->device ? run->device : "?");
        if (run->cpu_model || run->kernels) { /* which CPU and kernels: runs repeat on one path */
            cxr_sb_printf(b, "<br><small>");
            cxr_sb_esc(b, run->cpu_model ? run->cpu_model : "");
            cxr_sb_printf(b, "%s", run->cpu_model && run->kernels ? "; " : "");
            cxr_sb_esc(b, run->kernels ? run->kernels : "");
            cxr_sb_printf(b, "</small>");
        }
        cxr_sb_printf(b, "</td><td class=\"l\">");
        for (int c = 0; c < run->n_classes; c++) {
            if (c) cxr_sb_printf(b, ", ");
            cxr_sb_esc(b, run->classes[c]);
        }
        cxr_sb_printf(b, "</td><td>");
        if (run->train_images >= 0)
            cxr_sb_printf(b, "%lld", (long long)run->train_images);
        else
            cxr_sb_printf(b, "?");
        cxr_sb_printf(b, " / ");
        if (run->eval_images >= 0)
            cxr_sb_printf(b, "%lld", (long long)run->eval_images);
        else
            cxr_sb_printf(b, "?");
        if (run->eval_split && *run->eval_split) {
            cxr_sb_printf(b, " (");
            cxr_sb_esc(b, run->eval_split);
            cxr_sb_printf(b, ")");
        }
        cxr_sb_printf(b, "</td><td>%d</td>", run->n_epochs);
        num_cell(b, last_epoch(run)->eval_acc, "%.4f");
        num_cell(b, last_epoch(run)->auc, "%.4f");
        cxr_sb_printf(b, "</tr>\n");
    }
    cxr_sb_printf(b, "</table>\n");
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        cxr_sb_printf(b, "<div class=\"muted\"><b>");
        cxr_sb_esc(b, pg->names[r]);
        cxr_sb_printf(b, "</b>: file <code>");
        cxr_sb_esc(b, run->path);
        cxr_sb_printf(b, "</code>");
        if (run->tool) {
            cxr_sb_printf(b, ", tool ");
            cxr_sb_esc(b, run->tool);
        }
        if (run->store) {
            cxr_sb_printf(b, ", store <code>");
            cxr_sb_esc(b, run->store);
            cxr_sb_printf(b, "</code>");
        }
        if (run->recipe_json) {
            cxr_sb_printf(b, ", recipe <code>");
            recipe_text(b, run->recipe_json);
            cxr_sb_printf(b, "</code>");
        }
        if (run->n_run_lines > 1) cxr_sb_printf(b, ", resumed %d time(s)", run->n_run_lines - 1);
        if (run->n_skipped)
            cxr_sb_printf(b, ", <b>%d malformed line(s) skipped</b>", run->n_skipped);
        cxr_sb_printf(b, "</div>\n");
    }
}

static void section_curves(page *pg)
{
    static const series_def loss[] = { { f_train_loss, "train", NULL },
                                       { f_eval_loss, "eval", "7 4" } };
    static const series_def acc[] = { { f_train_acc, "train", NULL },
                                      { f_eval_acc, "eval", "7 4" } };
    cxr_sb_printf(pg->b, "<h2>Loss and accuracy</h2>\n<div class=\"grid\"><div>");
    if (!epoch_chart(pg, "chart-loss", "Loss per epoch", "loss", loss, 2, 1, INFINITY))
        cxr_sb_printf(pg->b, "<p class=\"na\">no loss values in the logs</p>");
    cxr_sb_printf(pg->b, "</div><div>");
    if (step_chart(pg)) cxr_sb_printf(pg->b, "</div><div>"); /* only with --log-every logs */
    if (!epoch_chart(pg, "chart-acc", "Accuracy per epoch", "accuracy", acc, 2, 0, 1.0))
        cxr_sb_printf(pg->b, "<p class=\"na\">no accuracy values in the logs</p>");
    cxr_sb_printf(pg->b, "</div></div>\n");
}

/* The most classes whose confusion matrix is drawn: a table of k x k cells (4096 classes made
 * a page of 1.9 GB); beyond, the page says where the matrix is. */
#define CONFUSION_MAX_CLASSES 64

static void confusion_table(page *pg, int r, const cxr_log_epoch *ep)
{
    cxr_sb *b = pg->b;
    const cxr_log_run *run = pg->runs[r];
    int k = ep->k;
    char num[32];
    cxr_sb_printf(b, "<h3>Confusion matrix: ");
    cxr_sb_esc(b, pg->names[r]);
    if (k > CONFUSION_MAX_CLASSES) {
        cxr_sb_printf(b,
                      ", epoch %d</h3>\n<p class=\"na\">%d classes: the %d x %d matrix is drawn "
                      "up to %d classes; it is in the log's epoch line (key confusion)</p>\n",
                      ep->epoch, k, k, k, CONFUSION_MAX_CLASSES);
        return;
    }
    cxr_sb_printf(b,
                  ", epoch %d</h3>\n<table class=\"confusion\" id=\"confusion-%d\" "
                  "data-k=\"%d\"><tr><th class=\"corner\">true \\ predicted</th>",
                  ep->epoch, r, k);
    for (int c = 0; c < k; c++) {
        cxr_sb_printf(b, "<th>");
        if (run->n_classes == k)
            cxr_sb_esc(b, run->classes[c]);
        else
            cxr_sb_printf(b, "%d", c);
        cxr_sb_printf(b, "</th>");
    }
    cxr_sb_printf(b, "<th>recall</th></tr>\n");
    for (int i = 0; i < k; i++) {
        long long row = 0;
        for (int j = 0; j < k; j++) row += ep->confusion[(size_t)i * k + j];
        cxr_sb_printf(b, "<tr><th>");
        if (run->n_classes == k)
            cxr_sb_esc(b, run->classes[i]);
        else
            cxr_sb_printf(b, "%d", i);
        cxr_sb_printf(b, "</th>");
        for (int j = 0; j < k; j++) {
            long long v = ep->confusion[(size_t)i * k + j];
            double frac = row ? (double)v / (double)row : 0;
            /* shade by share of the true class: the diagonal darkens as the model improves */
            cxr_sb_printf(
                b,
                "<td class=\"cm-cell\" data-row=\"%d\" data-col=\"%d\" style=\"background:"
                "rgba(31,119,180,%.3f);color:%s\">%lld</td>",
                i, j, 0.08 + 0.85 * frac, frac > 0.5 ? "#fff" : "#222", v);
        }
        if (row) /* a class with no image in the split has no recall */
            snprintf(num, sizeof num, "%.3f", (double)ep->confusion[(size_t)i * k + i] / row);
        else
            snprintf(num, sizeof num, "n/a");
        cxr_sb_printf(b, "<td>%s</td></tr>\n", num);
    }
    cxr_sb_printf(b, "</table>\n");
}

/* The model a run kept: its best epoch (model selection), and an early stop, as its last epoch
 * line has them (specs/log.md); the last epoch's model otherwise. */
static void kept_cell(cxr_sb *b, const cxr_log_run *run)
{
    const cxr_log_epoch *e = last_epoch(run);
    cxr_sb_printf(b, "<td class=\"l\">");
    if (e->best_epoch > 0) {
        cxr_sb_printf(b, "epoch %d (best ", e->best_epoch);
        cxr_sb_esc(b, run->select ? run->select : "value");
        if (!isfinite(e->best_value)) /* as num_cell: no "nan", no 301 digits */
            cxr_sb_printf(b, ")");
        else
            cxr_sb_printf(b, fabs(e->best_value) >= 1e9 ? " %.6g)" : " %.4f)", e->best_value);
    } else {
        cxr_sb_printf(b, "the last epoch's");
    }
    if (e->stopped) {
        cxr_sb_printf(b, "; stopped early (");
        cxr_sb_esc(b, e->stopped);
        cxr_sb_printf(b, ")");
    }
    cxr_sb_printf(b, "</td>");
}

static void section_eval(page *pg)
{
    cxr_sb *b = pg->b;
    int multi = 0; /* a run of more than 2 classes: accuracy of the most probable class */
    for (int r = 0; r < pg->n_runs; r++) multi |= pg->runs[r]->n_classes > 2;
    /* the log's figures, at threshold 0.5 (cxr-eval applies the one the model keeps) */
    cxr_sb_printf(b,
                  "<h2>Last evaluation</h2>\n<p>At threshold 0.5, as the training log has "
                  "them; cxr-eval applies the threshold chosen on val that the model keeps%s. "
                  "The kept model is the best epoch's where the run selected one "
                  "(<code>MODEL.best.h5</code> beside a run's checkpoint), else the last "
                  "epoch's.</p>\n"
                  "<table id=\"metrics\"><tr><th class=\"l\">run</th>"
                  "<th>epoch</th><th>eval loss</th><th>accuracy</th><th>precision</th>"
                  "<th>recall</th><th>specificity</th><th>F1</th><th>AUC</th>"
                  "<th class=\"l\">kept model</th></tr>\n",
                  multi ? " (a run of more than 2 classes: the most probable class, and macro "
                          "averages of precision, recall, F1 and AUC)"
                        : "");
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_epoch *e = last_epoch(pg->runs[r]);
        cxr_sb_printf(b, "<tr><td class=\"l\">");
        cxr_sb_esc(b, pg->names[r]);
        cxr_sb_printf(b, "</td><td>%d", e->epoch);
        if (e->averaged > 0) /* the figures are the mean weights' (specs/log.md) */
            cxr_sb_printf(b, " (mean of %d epochs)", e->averaged);
        if (e->eval_nonfinite > 0)
            cxr_sb_printf(b,
                          " <span class=\"nonfinite\">(%lld image(s) with non-finite "
                          "probabilities: not meaningful)</span>",
                          (long long)e->eval_nonfinite);
        cxr_sb_printf(b, "</td>");
        num_cell(b, e->eval_loss, "%.4f");
        num_cell(b, e->eval_acc, "%.4f");
        num_cell(b, e->precision, "%.4f");
        num_cell(b, e->recall, "%.4f");
        num_cell(b, e->specificity, "%.4f");
        num_cell(b, e->f1, "%.4f");
        num_cell(b, e->auc, "%.4f");
        kept_cell(b, pg->runs[r]);
        cxr_sb_printf(b, "</tr>\n");
    }
    cxr_sb_printf(b, "</table>\n");
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        const cxr_log_epoch *e = last_epoch(run);
        if (e->n_per_class == 0) continue;
        cxr_sb_printf(b, "<h3>Per class: ");
        cxr_sb_esc(b, pg->names[r]);
        cxr_sb_printf(b, "</h3><table class=\"per-class\"><tr><th class=\"l\">class</th>"
                         "<th>precision</th><th>recall</th><th>F1</th></tr>\n");
        for (int c = 0; c < e->n_per_class; c++) {
            cxr_sb_printf(b, "<tr><td class=\"l\">");
            if (c < run->n_classes)
                cxr_sb_esc(b, run->classes[c]);
            else
                cxr_sb_printf(b, "%d", c);
            cxr_sb_printf(b, "</td>");
            num_cell(b, e->class_precision[c], "%.4f");
            num_cell(b, e->class_recall[c], "%.4f");
            num_cell(b, e->class_f1[c], "%.4f");
            cxr_sb_printf(b, "</tr>\n");
        }
        cxr_sb_printf(b, "</table>\n");
    }

    cxr_sb_printf(b, "<div class=\"grid\">");
    int any_roc = 0;
    for (int r = 0; r < pg->n_runs; r++) any_roc |= last_with(pg->runs[r], 1) != NULL;
    if (any_roc) {
        cxr_plot p;
        memset(&p, 0, sizeof p);
        p.id = "chart-roc";
        p.title = "ROC curve (last evaluation)";
        p.xlabel = "false positive rate";
        p.ylabel = "true positive rate";
        p.xmin = p.ymin = 0;
        p.xmax = p.ymax = 1;
        p.height_plot = 300;
        for (int r = 0; r < pg->n_runs; r++) {
            const cxr_log_epoch *e = last_with(pg->runs[r], 1);
            if (!e) continue;
            char what[64];
            snprintf(what, sizeof what, "(AUC %.3f, epoch %d)", e->auc, e->epoch);
            legend_named(&p, pg->names[r], what, cxr_plot_color(r), NULL);
        }
        cxr_plot_begin(b, &p);
        cxr_plot_refline(b, &p, 0, 0, 1, 1);
        for (int r = 0; r < pg->n_runs; r++) {
            const cxr_log_epoch *e = last_with(pg->runs[r], 1);
            if (!e) continue;
            double *x = malloc(sizeof(double) * 2 * ((size_t)e->n_roc + 1));
            if (!x) {
                pg->b->failed = 1;
                return;
            }
            int m = thin_roc(e, x, x + e->n_roc + 1);
            cxr_plot_line(b, &p, x, x + e->n_roc + 1, m, cxr_plot_color(r), NULL, "roc", r);
            free(x);
        }
        cxr_plot_end(b, &p);
    } else {
        cxr_sb_printf(b, "<p class=\"na\">no ROC points in the logs (binary runs only)</p>");
    }
    cxr_sb_printf(b, "<div>");
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_epoch *e = last_with(pg->runs[r], 0);
        if (e) {
            confusion_table(pg, r, e);
        } else if (pg->runs[r]->n_classes > CXR_LOG_CONFUSION_MAX_CLASSES) {
            cxr_sb_printf(b, "<h3>Confusion matrix: ");
            cxr_sb_esc(b, pg->names[r]);
            cxr_sb_printf(b,
                          "</h3>\n<p class=\"na\">%d classes: a log carries the matrix up to %d "
                          "classes; cxr-eval --json on the model prints it</p>\n",
                          pg->runs[r]->n_classes, CXR_LOG_CONFUSION_MAX_CLASSES);
        }
    }
    cxr_sb_printf(b, "</div></div>\n");
}

static void section_speed(page *pg)
{
    static const series_def t[] = { { f_epoch_s, "train", NULL }, { f_eval_s, "eval", "7 4" } };
    static const series_def ips[] = { { f_ips, "train", NULL } };
    cxr_sb *b = pg->b;
    cxr_sb_printf(b, "<h2>Time per epoch</h2>\n<div class=\"grid\"><div>");
    if (!epoch_chart(pg, "chart-time", "Wall time per epoch", "seconds", t, 2, 1, INFINITY))
        cxr_sb_printf(b, "<p class=\"na\">no epoch times in the logs</p>");
    cxr_sb_printf(b, "</div><div>");
    if (!epoch_chart(pg, "chart-ips", "Training throughput", "images / s", ips, 1, 1, INFINITY))
        cxr_sb_printf(b, "<p class=\"na\">no images/s in the logs</p>");
    cxr_sb_printf(b, "</div></div>\n<table id=\"epochs\"><tr><th class=\"l\">run</th><th>epoch</th>"
                     "<th>train loss</th><th>train acc</th><th>eval loss</th><th>eval acc</th>"
                     "<th>epoch s</th><th>eval s</th><th>images/s</th><th>data wait</th>"
                     "<th>GPU MB</th></tr>\n");
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        for (int i = 0; i < run->n_epochs; i++) {
            const cxr_log_epoch *e = &run->epochs[i];
            cxr_sb_printf(b, "<tr><td class=\"l\">");
            cxr_sb_esc(b, pg->names[r]);
            cxr_sb_printf(b, "</td><td>%d</td>", e->epoch);
            num_cell(b, e->train_loss, "%.4f");
            num_cell(b, e->train_acc, "%.4f");
            num_cell(b, e->eval_loss, "%.4f");
            num_cell(b, e->eval_acc, "%.4f");
            num_cell(b, e->epoch_s, "%.2f");
            num_cell(b, e->eval_s, "%.2f");
            num_cell(b, e->images_per_s, "%.1f");
            num_cell(b, isfinite(e->data_wait_frac) ? 100 * e->data_wait_frac : NAN, "%.1f%%");
            num_cell(b, e->gpu_mem_used_mb, "%.0f");
            cxr_sb_printf(b, "</tr>\n");
        }
    }
    cxr_sb_printf(b, "</table>\n");
}

/* Find, in the same run, the config equal to `cfg` with `from` replaced by `to`. */
static const cxr_log_bench *bench_pair(const cxr_log_run *run, const char *cfg, const char *from,
                                       const char *to)
{
    const char *at = strstr(cfg, from);
    if (!at) return NULL;
    char want[256];
    snprintf(want, sizeof want, "%.*s%s%s", (int)(at - cfg), cfg, to, at + strlen(from));
    for (int i = 0; i < run->n_bench; i++)
        if (strcmp(run->bench[i].config, want) == 0) return &run->bench[i];
    return NULL;
}

static void compare_row(page *pg, int r, const char *what, const cxr_log_bench *slow,
                        const cxr_log_bench *fast)
{
    cxr_sb *b = pg->b;
    cxr_sb_printf(b, "<tr class=\"cmp\"><td class=\"l\">");
    cxr_sb_esc(b, pg->names[r]);
    cxr_sb_printf(b, "</td><td class=\"l\">%s</td><td class=\"l\">", what);
    cxr_sb_esc(b, slow->config);
    cxr_sb_printf(b, " &rarr; ");
    cxr_sb_esc(b, fast->config);
    cxr_sb_printf(b, "</td>");
    num_cell(b, slow->later_epoch_s, "%.2f s");
    num_cell(b, fast->later_epoch_s, "%.2f s");
    num_cell(b, slow->later_epoch_s / fast->later_epoch_s, "%.2f&times;");
    cxr_sb_printf(b, "</tr>\n");
}

static void section_bench(page *pg)
{
    cxr_sb *b = pg->b;
    int n = 0;
    for (int r = 0; r < pg->n_runs; r++) n += pg->runs[r]->n_bench;
    if (n == 0) return;
    const char **cats = calloc((size_t)n, sizeof *cats);
    char(*catbuf)[256] = calloc((size_t)n, sizeof *catbuf);
    double *v = calloc((size_t)n * 2, sizeof *v);
    if (!cats || !catbuf || !v) {
        b->failed = 1;
        goto done;
    }
    int c = 0;
    for (int r = 0; r < pg->n_runs; r++)
        for (int i = 0; i < pg->runs[r]->n_bench; i++, c++) {
            const cxr_log_bench *bn = &pg->runs[r]->bench[i];
            if (pg->n_runs > 1)
                snprintf(catbuf[c], sizeof catbuf[c], "%s: %s", pg->names[r], bn->config);
            else
                snprintf(catbuf[c], sizeof catbuf[c], "%s", bn->config);
            cats[c] = catbuf[c];
            v[2 * c] = bn->first_epoch_s;
            v[2 * c + 1] = bn->later_epoch_s;
        }
    cxr_sb_printf(b, "<h2>Comparisons (benchmark)</h2>\n");
    static const char *sers[] = { "first epoch (s)", "later epochs, mean (s)" };
    static const char *cols[] = { "#ff7f0e", "#1f77b4" };
    cxr_plot_hbars(b, "chart-bench", "Epoch time per configuration", "seconds per epoch", 1180,
                   cats, n, sers, cols, 2, v);
    cxr_sb_printf(b, "<table id=\"bench\"><tr><th class=\"l\">run</th><th class=\"l\">config</th>"
                     "<th>first epoch s</th><th>later epochs s</th><th>first / later</th>"
                     "<th>images/s</th><th>data wait</th></tr>\n");
    for (int r = 0; r < pg->n_runs; r++)
        for (int i = 0; i < pg->runs[r]->n_bench; i++) {
            const cxr_log_bench *bn = &pg->runs[r]->bench[i];
            cxr_sb_printf(b, "<tr class=\"bench\"><td class=\"l\">");
            cxr_sb_esc(b, pg->names[r]);
            cxr_sb_printf(b, "</td><td class=\"l\">");
            cxr_sb_esc(b, bn->config);
            cxr_sb_printf(b, "</td>");
            num_cell(b, bn->first_epoch_s, "%.2f");
            num_cell(b, bn->later_epoch_s, "%.2f");
            num_cell(b, bn->first_epoch_s / bn->later_epoch_s, "%.2f");
            num_cell(b, bn->images_per_s, "%.1f");
            num_cell(b, isfinite(bn->data_wait_frac) ? 100 * bn->data_wait_frac : NAN, "%.1f%%");
            cxr_sb_printf(b, "</tr>\n");
        }
    cxr_sb_printf(b, "</table>\n");
    /* Derived speed-ups between configurations that differ in one word. */
    cxr_sb_printf(b, "<table id=\"speedups\"><tr><th class=\"l\">run</th><th class=\"l\">comparison"
                     "</th><th class=\"l\">configs</th><th>slower, later epochs</th><th>faster, "
                     "later epochs</th><th>speed-up</th></tr>\n");
    int rows = 0;
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        for (int i = 0; i < run->n_bench; i++) {
            const cxr_log_bench *bn = &run->bench[i], *o;
            if ((o = bench_pair(run, bn->config, "no-prefetch", "prefetch")))
                compare_row(pg, r, "prefetch on vs off", bn, o), rows++;
            if (strncmp(bn->config, "cpu", 3) == 0 &&
                ((o = bench_pair(run, bn->config, "cpu", "gpu")) ||
                 (o = bench_pair(run, bn->config, "cpu", "cuda"))))
                compare_row(pg, r, "GPU vs CPU", bn, o), rows++;
        }
    }
    if (!rows)
        cxr_sb_printf(b, "<tr><td class=\"l muted\" colspan=\"6\">no pair of configurations "
                         "differing only in prefetch or device</td></tr>\n");
    cxr_sb_printf(b, "</table>\n");
done:
    free(cats);
    free(catbuf);
    free(v);
}

/* The length of a file name without a trailing ".gz": a log and its gzip copy are one name. */
static size_t without_gz(const char *name)
{
    const size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".gz") == 0 ? n - 3 : n;
}

/* The length of a file name without a trailing ".gz" and then ".jsonl". */
static size_t name_stem(const char *name)
{
    size_t n = without_gz(name);
    if (n > 6 && strncmp(name + n - 6, ".jsonl", 6) == 0) n -= 6;
    return n;
}

/* The length of a path's folder part ("a/b/x.jsonl": 3, "x.jsonl": 0). */
static size_t dir_len(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? (size_t)(slash - path) : 0;
}

/* Color of samples file s: its run's color when the file name starts with the run's log name
 * without ".jsonl" or ".jsonl.gz" (cpu-prefetch.samples.jsonl <-> cpu-prefetch.jsonl), a run in
 * the samples file's own folder first (a/train.samples.jsonl is a/train.jsonl's, not
 * b/train.jsonl's), then the longest such name (run-2.samples.jsonl is run-2.jsonl's, not
 * run.jsonl's), else its own. */
static const char *samples_color(const page *pg, int s)
{
    const char *sp = pg->samples[s]->path, *sl = pg->samples[s]->label;
    const size_t sd = dir_len(sp);
    int best = -1, best_dir = 0;
    size_t best_n = 0;
    for (int r = 0; r < pg->n_runs; r++) {
        const char *rp = pg->runs[r]->path, *rl = pg->runs[r]->label;
        const size_t n = name_stem(rl);
        const int same_dir = dir_len(rp) == sd && strncmp(rp, sp, sd) == 0;
        if (strncmp(sl, rl, n) == 0 && (sl[n] == '.' || sl[n] == '_' || sl[n] == '-') &&
            (best < 0 || same_dir > best_dir || (same_dir == best_dir && n > best_n)))
            best = r, best_n = n, best_dir = same_dir;
    }
    return cxr_plot_color(best >= 0 ? best : pg->n_runs + s);
}

/* Time-series chart from samples files: one polyline per file that has the quantity. */
static int samples_chart(page *pg, const char *id, const char *title, const char *ylabel,
                         size_t off, int from_zero)
{
    cxr_plot p;
    memset(&p, 0, sizeof p);
    p.id = id;
    p.title = title;
    p.xlabel = "seconds since start";
    p.ylabel = ylabel;
    p.xmin = p.ymin = INFINITY;
    p.xmax = p.ymax = -INFINITY;
    for (int s = 0; s < pg->n_samples; s++) {
        const cxr_samples *sm = pg->samples[s];
        int has = 0;
        for (int i = 0; i < sm->n; i++) {
            double v = *(const double *)((const char *)&sm->s[i] + off);
            if (!isfinite(v)) continue;
            has = 1;
            p.xmin = fmin(p.xmin, sm->s[i].t);
            p.xmax = fmax(p.xmax, sm->s[i].t);
            p.ymin = fmin(p.ymin, v);
            p.ymax = fmax(p.ymax, v);
        }
        if (has) legend_named(&p, pg->s_names[s], "", samples_color(pg, s), NULL);
    }
    if (!isfinite(p.xmin)) return 0;
    if (from_zero && p.ymin > 0) p.ymin = 0;
    cxr_plot_begin(pg->b, &p);
    for (int s = 0; s < pg->n_samples; s++) {
        const cxr_samples *sm = pg->samples[s];
        double *x = malloc(sizeof(double) * 2 * (size_t)sm->n);
        if (!x) {
            pg->b->failed = 1;
            return 0;
        }
        for (int i = 0; i < sm->n; i++) {
            x[i] = sm->s[i].t;
            x[sm->n + i] = *(const double *)((const char *)&sm->s[i] + off);
        }
        int m = thin_series(x, x + sm->n, sm->n);
        cxr_plot_line(pg->b, &p, x, x + sm->n, m, samples_color(pg, s), NULL, "sample", s);
        free(x);
    }
    cxr_plot_end(pg->b, &p);
    return 1;
}

static void section_resources(page *pg)
{
    cxr_sb *b = pg->b;
    cxr_sb_printf(b, "<h2>Resource use</h2>\n");
    /* GPU notes: why a run's GPU was not monitored, from its last logged monitor object (an
     * earlier failure that a resumed run no longer has is not news) */
    for (int r = 0; r < pg->n_runs; r++) {
        const cxr_log_run *run = pg->runs[r];
        for (int i = run->n_epochs - 1; i >= 0; i--) {
            const cxr_log_epoch *e = &run->epochs[i];
            if (!e->has_monitor) continue;
            if (e->monitor.gpu_ok) break;
            cxr_sb_printf(b, "<div class=\"na gpu-na\">");
            cxr_sb_esc(b, pg->names[r]);
            cxr_sb_printf(b, ": GPU not available: ");
            cxr_sb_esc(b, e->monitor.gpu_reason[0] ? e->monitor.gpu_reason : "not reported");
            cxr_sb_printf(b, "</div><br>\n");
            break;
        }
    }
    cxr_sb_printf(b, "<div class=\"grid\">");
    if (pg->n_samples > 0) {
        cxr_sb_printf(b, "<div>");
        if (!samples_chart(pg, "chart-cpu", "CPU utilization (samples)", "% of one core",
                           offsetof(cxr_monitor_sample, cpu_util), 1))
            cxr_sb_printf(b, "<p class=\"na\">no CPU samples</p>");
        cxr_sb_printf(b, "</div><div>");
        if (!samples_chart(pg, "chart-rss", "Resident memory (samples)", "MiB",
                           offsetof(cxr_monitor_sample, rss_mb), 1))
            cxr_sb_printf(b, "<p class=\"na\">no memory samples</p>");
        cxr_sb_printf(b, "</div><div>");
        if (!samples_chart(pg, "chart-gpu", "GPU utilization (samples)", "%",
                           offsetof(cxr_monitor_sample, gpu_util), 1))
            cxr_sb_printf(b, "<p class=\"na gpu-na\">GPU utilization: not available (no GPU values "
                             "in the samples files)</p>");
        cxr_sb_printf(b, "</div><div>");
        if (!samples_chart(pg, "chart-gpumem", "GPU memory used (samples)", "MiB",
                           offsetof(cxr_monitor_sample, gpu_mem_mb), 1))
            cxr_sb_printf(b, "<p class=\"na gpu-na\">GPU memory: not available (no GPU values in "
                             "the samples files)</p>");
        cxr_sb_printf(b, "</div>");
    } else {
        static const series_def cpu[] = { { f_cpu_mean, "mean", NULL },
                                          { f_cpu_max, "max", "7 4" } };
        static const series_def rss[] = { { f_rss_mean, "mean", NULL },
                                          { f_rss_max, "max", "7 4" } };
        static const series_def gpu[] = { { f_gpu_mean, "mean", NULL },
                                          { f_gpu_max, "max", "7 4" } };
        static const series_def gm[] = { { f_gmem_mean, "mean", NULL },
                                         { f_gmem_max, "max", "7 4" } };
        cxr_sb_printf(b, "<div>");
        if (!epoch_chart(pg, "chart-cpu", "CPU utilization per epoch", "% of one core", cpu, 2, 1,
                         INFINITY))
            cxr_sb_printf(b, "<p class=\"na\">CPU utilization: not measured</p>");
        cxr_sb_printf(b, "</div><div>");
        if (!epoch_chart(pg, "chart-rss", "Resident memory per epoch", "MiB", rss, 2, 1, INFINITY))
            cxr_sb_printf(b, "<p class=\"na\">memory: not measured</p>");
        cxr_sb_printf(b, "</div><div>");
        if (!epoch_chart(pg, "chart-gpu", "GPU utilization per epoch", "%", gpu, 2, 1, INFINITY))
            cxr_sb_printf(b,
                          "<p class=\"na gpu-na\">GPU utilization: not available in any run</p>");
        cxr_sb_printf(b, "</div><div>");
        if (!epoch_chart(pg, "chart-gpumem", "GPU memory per epoch", "MiB", gm, 2, 1, INFINITY))
            cxr_sb_printf(b, "<p class=\"na gpu-na\">GPU memory: not available in any run</p>");
        cxr_sb_printf(b, "</div>");
    }
    cxr_sb_printf(b, "</div>\n");
}

/* The last k components of a path ("b/run.jsonl" for k = 2), or the whole path. */
static const char *path_tail(const char *path, int k)
{
    for (const char *p = path + strlen(path); p > path; p--)
        if (p[-1] == '/' && --k == 0) return p;
    return path;
}

/* Equal but for a trailing ".gz" (without_gz). */
static int same_name(const char *a, const char *b)
{
    const size_t la = without_gz(a);
    return la == without_gz(b) && memcmp(a, b, la) == 0;
}

/* Files are named by the fewest trailing path components that tell them all apart: the file
 * names, else "a/run.jsonl" and "b/run.jsonl" (not two whole paths); a file given twice keeps
 * its whole path (cxr-report refuses one; a library caller may pass it). */
static void short_names(const char *const *paths, int n, const char **names)
{
    for (int k = 1;; k++) {
        int unique = 1, whole = 1;
        for (int i = 0; i < n; i++) {
            names[i] = path_tail(paths[i], k);
            whole &= names[i] == paths[i];
            for (int j = 0; j < i && unique; j++) unique = !same_name(names[i], names[j]);
        }
        if (unique || whole) return;
    }
}

static cxr_status write_html(const char *out_path, cxr_log_run *const *runs, int n_runs,
                             cxr_samples *const *samples, int n_samples)
{
    cxr_status st = CXR_OK;
    cxr_sb b = { 0 };
    cxr_tmpfile tf = { NULL, NULL, -1, -1 };
    FILE *f = NULL;
    const char **names = NULL;
    if (!out_path || !runs || n_runs < 1 || n_samples < 0 || (n_samples && !samples))
        return cxr_set_error(CXR_E_ARG, "cxr_report_write_html: no runs or bad arguments");
    const int n_files = n_runs + n_samples;
    names = calloc((size_t)n_files * 2, sizeof *names); /* the paths, then their names */
    if (!names) CXR_THROW(CXR_E_NOMEM, "report: out of memory");
    for (int i = 0; i < n_files; i++)
        names[i] = i < n_runs ? runs[i]->path : samples[i - n_runs]->path;
    short_names(names, n_runs, names + n_files);
    if (n_samples) short_names(names + n_runs, n_samples, names + n_files + n_runs);

    page pg = { &b, runs, n_runs, samples, n_samples, names + n_files, names + n_files + n_runs };
    time_t now = time(NULL);
    char when[64] = "";
    struct tm tm_now; /* localtime_r: localtime's struct is shared by every thread */
    if (localtime_r(&now, &tm_now)) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm_now);
    cxr_sb_printf(&b,
                  "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
                  "<title>cxr training report</title>\n<style>\n%s</style></head><body>\n"
                  "<h1>cxr training report</h1>\n<p class=\"muted\">%d run(s), %d samples "
                  "file(s); generated %s by cxr-report " CXR_VERSION_STRING "</p>\n",
                  CSS, n_runs, n_samples, when);
    section_runs(&pg);
    section_curves(&pg);
    section_eval(&pg);
    section_speed(&pg);
    section_bench(&pg);
    section_resources(&pg);
    cxr_sb_printf(&b, "</body></html>\n");
    if (b.failed) CXR_THROW(CXR_E_NOMEM, "report: out of memory building the page");

    CXR_TRY(cxr_tmpfile_create(&tf, out_path, 1));
    if (!(f = cxr_tmpfile_stream(&tf, "w"))) {
        st = CXR_E_IO;
        goto bail;
    }
    if (fwrite(b.p, 1, b.len, f) != b.len)
        CXR_THROW(CXR_E_IO, "%s: write failed: %s", tf.target, strerror(errno));
    CXR_TRY(cxr_tmpfile_commit_stream(&tf, &f));
bail:
    if (f) fclose(f);
    cxr_tmpfile_discard(&tf); /* removes the temporary unless committed */
    free(names);
    cxr_sb_free(&b);
    return st;
}

cxr_status cxr_report_write_html(const char *out_path, cxr_log_run *const *runs, int n_runs,
                                 cxr_samples *const *samples, int n_samples)
{
    /* numbers with a '.' in the page and its SVG whatever the host's locale (c_locale.h) */
    const locale_t before = cxr_c_locale_enter();
    const cxr_status st = write_html(out_path, runs, n_runs, samples, n_samples);
    cxr_c_locale_leave(before);
    return st;
}
