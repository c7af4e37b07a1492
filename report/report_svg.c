/* report_svg.c: the small SVG toolkit behind the HTML report (report_svg.h): nice tick
 * steps (1/2/5 x 10^k), axes with grid and labels, polylines, grouped bars and a legend that
 * wraps under the plot so it never covers data. Text widths are estimated (7 px per character
 * at 12 px sans-serif), which is enough to lay out labels without a font engine.
 */
#include "report_svg.h"

#include "cxr_files.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cxr_sb_printf(cxr_sb *b, const char *fmt, ...)
{
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->p && (size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t ncap = b->cap ? b->cap : 4096;
        while (ncap < b->len + (size_t)n + 1) ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
}

/* A Unicode noncharacter (U+FDD0..U+FDEF, U+xFFFE, U+xFFFF: an HTML parse error, and U+FFFE
 * and U+FFFF are not XML) as the valid n-byte sequence at s. */
static int nonchar(const char *s, int n)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned cp;
    if (n == 3)
        cp = (u[0] & 0x0fu) << 12 | (u[1] & 0x3fu) << 6 | (u[2] & 0x3fu);
    else if (n == 4)
        cp = (u[0] & 0x07u) << 18 | (u[1] & 0x3fu) << 12 | (u[2] & 0x3fu) << 6 | (u[3] & 0x3fu);
    else
        return 0;
    return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

void cxr_sb_esc(cxr_sb *b, const char *s)
{
    while (s && *s) {
        const unsigned char c = (unsigned char)*s;
        int n = c < 0x80 ? 1 : cxr_utf8_seq((const unsigned char *)s);
        switch (c) {
        case '&': cxr_sb_printf(b, "&amp;"); break;
        case '<': cxr_sb_printf(b, "&lt;"); break;
        case '>': cxr_sb_printf(b, "&gt;"); break;
        case '"': cxr_sb_printf(b, "&quot;"); break;
        case '\'': cxr_sb_printf(b, "&#39;"); break;
        default:
            /* the page is UTF-8: a byte that starts no valid sequence (a Latin-1 file name, a
             * string cut mid-character) and a control character other than tab and newline
             * (C0, DEL, C1: U+0080-U+009F, which HTML forbids too) are shown as U+FFFD */
            if (n == 0 || (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ||
                (n == 2 && c == 0xc2 && (unsigned char)s[1] < 0xa0) || nonchar(s, n)) {
                cxr_sb_printf(b, "&#xFFFD;");
                n = n ? n : 1;
            } else
                cxr_sb_printf(b, "%.*s", n, s);
        }
        s += n;
    }
}

void cxr_sb_free(cxr_sb *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

const char *cxr_plot_color(int i)
{
    /* ten, then their darker and their lighter variants: twenty runs told apart by colour */
    static const char *pal[] = { "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                 "#0b3c5d", "#7f1416", "#145214", "#a14f00", "#4b2a75",
                                 "#4a2c25", "#a3266f", "#3d3d3d", "#6b6c0e", "#0b6570" };
    return pal[((i % 20) + 20) % 20];
}

/* Bytes of the first k characters of s (UTF-8; a byte of no valid sequence counts as one). */
static size_t char_bytes(const char *s, int k)
{
    size_t i = 0;
    for (int c = 0; c < k && s[i]; c++) {
        int n = cxr_utf8_seq((const unsigned char *)s + i);
        i += n ? (size_t)n : 1;
    }
    return i;
}

static int n_chars(const char *s)
{
    int c = 0;
    for (size_t i = 0; s[i]; c++) {
        int n = cxr_utf8_seq((const unsigned char *)s + i);
        i += n ? (size_t)n : 1;
    }
    return c;
}

void cxr_short_name(char *buf, size_t cap, const char *name, int max_chars)
{
    const int n = n_chars(name);
    if (n <= max_chars || max_chars < 5) {
        snprintf(buf, cap, "%.*s", (int)char_bytes(name, max_chars < 5 ? n : max_chars), name);
        return;
    }
    const int head = (max_chars - 3) / 2, tail = max_chars - 3 - head;
    const char *end = name + char_bytes(name, n - tail);
    snprintf(buf, cap, "%.*s...%s", (int)char_bytes(name, head), name, end);
}

void cxr_plot_legend(cxr_plot *p, const char *text, const char *color, const char *dash, int box)
{
    if (p->n_legend >= CXR_PLOT_MAX_LEGEND - 1) { /* the last slot: "+N more" */
        p->n_legend_more++;
        return;
    }
    cxr_legend *l = &p->legend[p->n_legend++];
    /* cut at a character boundary: a cut sequence would show as U+FFFD */
    size_t k = 0;
    while (text[k]) {
        int n = cxr_utf8_seq((const unsigned char *)text + k);
        n = n ? n : 1;
        if (k + (size_t)n >= sizeof l->text) break;
        k += (size_t)n;
    }
    memcpy(l->text, text, k);
    l->text[k] = '\0';
    l->color = color;
    l->dash = dash;
    l->box = box;
}

/* The legend with its "+N more" entry, when entries were left out. */
static int legend_entries(const cxr_plot *p) { return p->n_legend + (p->n_legend_more > 0); }
static const char *legend_text(const cxr_plot *p, int i, char *more, size_t cap)
{
    if (i < p->n_legend) return p->legend[i].text;
    snprintf(more, cap, "+%d more (not named here)", p->n_legend_more);
    return more;
}

static double nice_num(double x, int round_it)
{
    double e = floor(log10(x)), f = x / pow(10, e), nf;
    if (round_it)
        nf = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
    else
        nf = f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * pow(10, e);
}

void cxr_plot_nice(double *lo, double *hi, int n, int integer, double *step)
{
    if (!isfinite(*lo) || !isfinite(*hi)) {
        *lo = 0;
        *hi = 1;
    }
    /* within +-1e307, each end (before ordering them: two ends beyond it on one side are then
     * equal, and widened below): a range that overflows (-1e308 .. 1e308) or that would once
     * rounded up to a nice number (0 .. 1.5e308 -> 2e308); values beyond are drawn past the
     * axis */
    *lo = fmin(fmax(*lo, -1e307), 1e307);
    *hi = fmin(fmax(*hi, -1e307), 1e307);
    if (*hi < *lo) {
        double t = *lo;
        *lo = *hi;
        *hi = t;
    }
    if (*hi - *lo < 1e-12) {
        double d = fabs(*hi) > 1e-12 ? 0.1 * fabs(*hi) : 1;
        *lo -= d;
        *hi += d;
    }
    double range = nice_num(*hi - *lo, 0);
    double s = nice_num(range / (n > 1 ? n - 1 : 1), 1);
    if (integer && s < 1) s = 1;
    *lo = floor(*lo / s + 1e-9) * s;
    *hi = ceil(*hi / s - 1e-9) * s;
    *step = s;
}

static int text_w(const char *s) { return 7 * (int)strlen(s ? s : ""); }

/* Position of legend entry i: column x (left of swatch) and row; returns rows used. */
static int legend_layout(const cxr_plot *p, int *xs, int *rows)
{
    int x = p->ml, row = 0, right = p->width - 10;
    char more[48];
    for (int i = 0; i < legend_entries(p); i++) {
        int w = 30 + text_w(legend_text(p, i, more, sizeof more)) + 18;
        if (x + w > right && x > p->ml) {
            row++;
            x = p->ml;
        }
        if (xs) xs[i] = x;
        if (rows) rows[i] = row;
        x += w;
    }
    return legend_entries(p) ? row + 1 : 0;
}

/* A coordinate kept within 1e5 px of the chart (NaN as the far side): a value far past a
 * fixed axis (an ROC point of 1e40) drawn beyond the clip, not printed as "inf" or as 40
 * digits, which SVG refuses, losing the whole line. */
static double bounded(double v) { return v > 1e5 ? 1e5 : v >= -1e5 ? v : -1e5; }

static double px(const cxr_plot *p, double x)
{
    double pw = p->width - p->ml - p->mr;
    return bounded(p->ml + (x - p->xmin) / (p->xmax - p->xmin) * pw);
}
static double py(const cxr_plot *p, double y)
{
    return bounded(p->mt + p->height_plot - (y - p->ymin) / (p->ymax - p->ymin) * p->height_plot);
}

static void tick_label(char *buf, size_t cap, double v, double step)
{
    if (fabs(v) < step * 1e-6) v = 0; /* no "-0" */
    if (fabs(v) >= 1e6 || step < 1e-6) {
        /* exponent form, with the digits that tell neighbouring ticks apart */
        int digits = (int)ceil(log10(fmax(fabs(v), step) / step) - 1e-9) + 1;
        snprintf(buf, cap, "%.*g", digits < 1 ? 1 : digits > 15 ? 15 : digits, v);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    snprintf(buf, cap, "%.*f", dec, v);
}

/* The ticks lo, lo + step, ... up to hi: how many (at most 64), stepped by index, not by a sum
 * that stops moving when step is below lo's precision (two values far from 0 and close
 * together made the loop endless). */
static int tick_count(double lo, double hi, double step)
{
    if (!(step > 0) || !isfinite(lo) || !isfinite(hi) || !(lo + step > lo)) return 1;
    double n = floor((hi - lo) / step + 1e-6) + 1;
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}

void cxr_plot_begin(cxr_sb *b, cxr_plot *p)
{
    if (!p->width) p->width = 580;
    if (!p->height_plot) p->height_plot = 260;
    cxr_plot_nice(&p->xmin, &p->xmax, 7, p->integer_x, &p->xstep);
    cxr_plot_nice(&p->ymin, &p->ymax, 6, 0, &p->ystep);
    /* left margin from the widest y tick label */
    int wmax = 0;
    for (int i = 0, n = tick_count(p->ymin, p->ymax, p->ystep); i < n; i++) {
        const double v = p->ymin + i * p->ystep;
        char t[32];
        tick_label(t, sizeof t, v, p->ystep);
        if (text_w(t) > wmax) wmax = text_w(t);
    }
    p->ml = 30 + wmax + 8;
    p->mr = 18;
    p->mt = 34;
    p->legend_rows = legend_layout(p, NULL, NULL);
    p->mb = 48 + (p->legend_rows ? 8 + 20 * p->legend_rows : 0);
    p->height = p->mt + p->height_plot + p->mb;
    cxr_sb_printf(b, "<svg class=\"chart\" id=\"");
    cxr_sb_esc(b, p->id);
    cxr_sb_printf(b, "\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n",
                  p->width, p->height, p->width, p->height);
    cxr_sb_printf(b, "<title>");
    cxr_sb_esc(b, p->title);
    cxr_sb_printf(b, "</title>\n<clipPath id=\"");
    cxr_sb_esc(b, p->id);
    cxr_sb_printf(b, "-clip\"><rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/></clipPath>\n",
                  p->ml, p->mt - 4, p->width - p->ml - p->mr, p->height_plot + 8);
    cxr_sb_printf(b, "<text class=\"ctitle\" x=\"%d\" y=\"20\">", p->width / 2);
    cxr_sb_esc(b, p->title);
    cxr_sb_printf(b, "</text>\n");
    int x0 = p->ml, x1 = p->width - p->mr, y0 = p->mt, y1 = p->mt + p->height_plot;
    cxr_sb_printf(b, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", x0,
                  y0, x1 - x0, y1 - y0);
    for (int i = 0, n = tick_count(p->ymin, p->ymax, p->ystep); i < n; i++) {
        const double v = p->ymin + i * p->ystep;
        char t[32];
        tick_label(t, sizeof t, v, p->ystep);
        double y = py(p, v);
        cxr_sb_printf(b, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>", x0,
                      y, x1, y);
        cxr_sb_printf(b, "<text class=\"ytick\" x=\"%d\" y=\"%.1f\">%s</text>\n", x0 - 6, y + 4, t);
    }
    for (int i = 0, n = tick_count(p->xmin, p->xmax, p->xstep); i < n; i++) {
        const double v = p->xmin + i * p->xstep;
        char t[32];
        tick_label(t, sizeof t, v, p->xstep);
        double x = px(p, v);
        cxr_sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x,
                      y0, x, y1);
        cxr_sb_printf(b, "<text class=\"xtick\" x=\"%.1f\" y=\"%d\">%s</text>\n", x, y1 + 16, t);
    }
    cxr_sb_printf(b, "<text class=\"xlabel\" x=\"%d\" y=\"%d\">", (x0 + x1) / 2, y1 + 36);
    cxr_sb_esc(b, p->xlabel);
    cxr_sb_printf(b, "</text>\n<text class=\"ylabel\" transform=\"translate(14,%d) rotate(-90)\">",
                  (y0 + y1) / 2);
    cxr_sb_esc(b, p->ylabel);
    cxr_sb_printf(b, "</text>\n");
}

void cxr_plot_line(cxr_sb *b, const cxr_plot *p, const double *x, const double *y, int n,
                   const char *color, const char *dash, const char *cls, int run)
{
    int m = 0;
    for (int i = 0; i < n; i++) m += isfinite(x[i]) && isfinite(y[i]);
    if (m == 0) return;
    cxr_sb_printf(b, "<polyline class=\"series %s\" data-run=\"%d\" clip-path=\"url(#", cls, run);
    cxr_sb_esc(b, p->id);
    cxr_sb_printf(b, "-clip)\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s%s%s points=\"",
                  color, dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
    for (int i = 0; i < n; i++)
        if (isfinite(x[i]) && isfinite(y[i]))
            cxr_sb_printf(b, "%.1f,%.1f ", px(p, x[i]), py(p, y[i]));
    cxr_sb_printf(b, "\"/>\n");
    if (m <= 40)
        for (int i = 0; i < n; i++)
            if (isfinite(x[i]) && isfinite(y[i]))
                cxr_sb_printf(b,
                              "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>",
                              px(p, x[i]), py(p, y[i]), color);
    cxr_sb_printf(b, "\n");
}

void cxr_plot_refline(cxr_sb *b, const cxr_plot *p, double x0, double y0, double x1, double y1)
{
    cxr_sb_printf(b,
                  "<line class=\"ref\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"#999\" stroke-dasharray=\"4 4\"/>\n",
                  px(p, x0), py(p, y0), px(p, x1), py(p, y1));
}

static void legend_draw(cxr_sb *b, const cxr_plot *p, int top)
{
    int xs[CXR_PLOT_MAX_LEGEND + 1], rows[CXR_PLOT_MAX_LEGEND + 1];
    char more[48];
    legend_layout(p, xs, rows);
    cxr_sb_printf(b, "<g class=\"legend\">\n");
    for (int i = 0; i < legend_entries(p); i++) {
        const cxr_legend *l = i < p->n_legend ? &p->legend[i] : NULL;
        int y = top + 20 * rows[i];
        if (!l) /* "+N more": text only */
            ;
        else if (l->box)
            cxr_sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"22\" height=\"10\" fill=\"%s\"/>",
                          xs[i], y - 9, l->color);
        else
            cxr_sb_printf(b,
                          "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
                          "stroke-width=\"2.5\"%s%s%s/>",
                          xs[i], y - 4, xs[i] + 24, y - 4, l->color,
                          l->dash ? " stroke-dasharray=\"" : "", l->dash ? l->dash : "",
                          l->dash ? "\"" : "");
        cxr_sb_printf(b, "<text class=\"legend-item\" x=\"%d\" y=\"%d\">", xs[i] + 30, y);
        cxr_sb_esc(b, legend_text(p, i, more, sizeof more));
        cxr_sb_printf(b, "</text>\n");
    }
    cxr_sb_printf(b, "</g>\n");
}

void cxr_plot_end(cxr_sb *b, const cxr_plot *p)
{
    legend_draw(b, p, p->mt + p->height_plot + 48 + 14);
    cxr_sb_printf(b, "</svg>\n");
}

void cxr_plot_hbars(cxr_sb *b, const char *id, const char *title, const char *xlabel, int width,
                    const char *const *cats, int n_cat, const char *const *sers,
                    const char *const *colors, int n_ser, const double *v)
{
    cxr_plot p;
    memset(&p, 0, sizeof p);
    p.id = id;
    p.title = title;
    p.xlabel = xlabel;
    p.ylabel = "";
    p.width = width;
    double vmax = 0;
    for (int i = 0; i < n_cat * n_ser; i++)
        if (isfinite(v[i]) && v[i] > vmax) vmax = v[i];
    p.xmin = 0;
    p.xmax = vmax > 0 ? fmin(vmax, 1e307) * 1.12 : 1; /* room for the value labels */
    cxr_plot_nice(&p.xmin, &p.xmax, 6, 0, &p.xstep);
    /* category labels of CXR_PLOT_NAME_CHARS characters at most (a longer one keeps its two
     * ends): the column left of the bars stays narrower than the chart */
    char(*lab)[4 * CXR_PLOT_NAME_CHARS + 8] = malloc((size_t)(n_cat ? n_cat : 1) * sizeof *lab);
    if (!lab) {
        b->failed = 1;
        return;
    }
    int wcat = 0;
    for (int c = 0; c < n_cat; c++) {
        cxr_short_name(lab[c], sizeof lab[c], cats[c], CXR_PLOT_NAME_CHARS);
        if (text_w(lab[c]) > wcat) wcat = text_w(lab[c]);
    }
    if (wcat > width / 2) wcat = width / 2;
    p.mr = 24;
    p.mt = 34;
    int bar_h = 16, group_h = n_ser * bar_h + 14;
    p.height_plot = n_cat * group_h + 6;
    for (int s = 0; s < n_ser; s++) cxr_plot_legend(&p, sers[s], colors[s], NULL, 1);
    p.ml = 16; /* the legend starts at the left edge: the category column is empty down there */
    p.legend_rows = legend_layout(&p, NULL, NULL);
    p.ml = wcat + 16;
    p.mb = 48 + (p.legend_rows ? 8 + 20 * p.legend_rows : 0);
    p.height = p.mt + p.height_plot + p.mb;
    p.ymin = 0;
    p.ymax = 1;
    cxr_sb_printf(b, "<svg class=\"chart bars\" id=\"");
    cxr_sb_esc(b, id);
    cxr_sb_printf(b, "\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">\n<title>",
                  p.width, p.height, p.width, p.height);
    cxr_sb_esc(b, title);
    cxr_sb_printf(b, "</title>\n<text class=\"ctitle\" x=\"%d\" y=\"20\">", p.width / 2);
    cxr_sb_esc(b, title);
    cxr_sb_printf(b, "</text>\n");
    int x0 = p.ml, x1 = p.width - p.mr, y0 = p.mt, y1 = p.mt + p.height_plot;
    cxr_sb_printf(b, "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\"/>\n", x0,
                  y0, x1 - x0, y1 - y0);
    for (int i = 0, n = tick_count(p.xmin, p.xmax, p.xstep); i < n; i++) {
        const double t = p.xmin + i * p.xstep;
        char lab[32];
        tick_label(lab, sizeof lab, t, p.xstep);
        double x = px(&p, t);
        cxr_sb_printf(b, "<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>", x,
                      y0, x, y1);
        cxr_sb_printf(b, "<text class=\"xtick\" x=\"%.1f\" y=\"%d\">%s</text>\n", x, y1 + 16, lab);
    }
    for (int c = 0; c < n_cat; c++) {
        int gy = y0 + 6 + c * group_h;
        cxr_sb_printf(b, "<text class=\"cat\" x=\"%d\" y=\"%d\">", x0 - 8,
                      gy + n_ser * bar_h / 2 + 4);
        cxr_sb_esc(b, lab[c]);
        cxr_sb_printf(b, "</text>\n");
        for (int s = 0; s < n_ser; s++) {
            double val = v[c * n_ser + s];
            if (!isfinite(val)) continue;
            /* a negative value: no bar; one past the axis (over 1e307) stops at its end */
            double w = fmax(px(&p, fmin(val, p.xmax)) - x0, 0);
            cxr_sb_printf(b,
                          "<rect class=\"bar\" data-cat=\"%d\" data-ser=\"%d\" x=\"%d\" y=\"%d\" "
                          "width=\"%.1f\" height=\"%d\" fill=\"%s\"/>",
                          c, s, x0, gy + s * bar_h, w, bar_h - 2, colors[s]);
            cxr_sb_printf(b, "<text class=\"barval\" x=\"%.1f\" y=\"%d\">%.3g</text>\n", x0 + w + 4,
                          gy + s * bar_h + bar_h - 5, val);
        }
    }
    cxr_sb_printf(b, "<text class=\"xlabel\" x=\"%d\" y=\"%d\">", (x0 + x1) / 2, y1 + 36);
    cxr_sb_esc(b, xlabel);
    cxr_sb_printf(b, "</text>\n");
    p.ml = 16;
    legend_draw(b, &p, y1 + 48 + 14);
    cxr_sb_printf(b, "</svg>\n");
    free(lab);
}
