/* report_svg.h: internal helpers of the HTML report (not a public API): a growable text
 * buffer with HTML escaping, and inline-SVG charts (axes with nice ticks, polyline series,
 * horizontal grouped bars, a legend under the plot). Used by report_html.c only.
 */
#ifndef CXR_REPORT_SVG_H
#define CXR_REPORT_SVG_H

#include <stddef.h>

/* Growable buffer; on allocation failure `failed` is set and further writes are dropped. */
typedef struct {
    char *p;
    size_t len, cap;
    int failed;
} cxr_sb;

void cxr_sb_printf(cxr_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s with & < > " ' escaped for HTML text and attributes. */
void cxr_sb_esc(cxr_sb *b, const char *s);
void cxr_sb_free(cxr_sb *b);

/* The characters of a name in a legend or a bar label: a longer one keeps its start and its
 * end with "..." between (cxr_short_name). */
#define CXR_PLOT_NAME_CHARS 48

/* One legend entry: a colored sample (line with dash pattern, or a box) and its text. */
typedef struct {
    char text[4 * CXR_PLOT_NAME_CHARS + 96]; /* a copy (cxr_plot_legend): a shortened name of
                                              * 4-byte characters and what follows it fit */
    const char *color;
    const char *dash; /* NULL = solid */
    int box;          /* 1 = filled box (bars) */
} cxr_legend;

#define CXR_PLOT_MAX_LEGEND 64

/* One chart. Fill id, title, labels, data ranges and the legend, then plot_begin, series,
 * plot_end. Ranges are widened to nice tick values by plot_begin. */
typedef struct {
    const char *id, *title, *xlabel, *ylabel;
    double xmin, xmax, ymin, ymax;
    int integer_x;          /* x ticks on integers only (epochs) */
    int width, height_plot; /* total width, height of the plot area */
    int n_legend;
    int n_legend_more; /* entries past CXR_PLOT_MAX_LEGEND - 1, said as "+N more" */
    cxr_legend legend[CXR_PLOT_MAX_LEGEND];
    /* computed */
    int ml, mr, mt, mb, legend_rows, height;
    double xstep, ystep;
} cxr_plot;

/* Palette color for series i (cycles through 20). */
const char *cxr_plot_color(int i);
/* Add a legend entry, its text copied (cut at a character boundary); entries past
 * CXR_PLOT_MAX_LEGEND - 1 are counted in n_legend_more and drawn as one "+N more" entry. */
void cxr_plot_legend(cxr_plot *p, const char *text, const char *color, const char *dash, int box);
/* name into buf, shortened to max_chars characters when longer: its start, "...", its end
 * (run names differ at either end). */
void cxr_short_name(char *buf, size_t cap, const char *name, int max_chars);
/* Widen [*lo, *hi] to nice multiples of a 1/2/5 step giving about n ticks; sets *step. */
void cxr_plot_nice(double *lo, double *hi, int n, int integer, double *step);
void cxr_plot_begin(cxr_sb *b, cxr_plot *p);
/* A polyline through the finite (x[i], y[i]); nothing if none. cls and data attributes let
 * tests find it: class="series <cls>" data-run="run". Markers when n is small. */
void cxr_plot_line(cxr_sb *b, const cxr_plot *p, const double *x, const double *y, int n,
                   const char *color, const char *dash, const char *cls, int run);
/* A straight reference line in data coordinates (e.g. the ROC diagonal). */
void cxr_plot_refline(cxr_sb *b, const cxr_plot *p, double x0, double y0, double x1, double y1);
void cxr_plot_end(cxr_sb *b, const cxr_plot *p);

/* Horizontal grouped bar chart: n_cat categories (labels on the left) of n_ser bars each,
 * v[c * n_ser + s] (NAN = no bar). Legend names the series. Values printed at bar ends. */
void cxr_plot_hbars(cxr_sb *b, const char *id, const char *title, const char *xlabel, int width,
                    const char *const *cats, int n_cat, const char *const *sers,
                    const char *const *colors, int n_ser, const double *v);

#endif
