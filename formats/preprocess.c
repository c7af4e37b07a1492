/* preprocess.c: the pixel steps of cxr_preprocess.h, from decoded gray pixels to the
 * normalized square float32 tensor, and the preprocessing parameters (defaults, names, checks).
 * The JPEG decoder that runs them is decode.c.
 *
 * Pipeline (each step specified in specs/store.md, section "Preprocessing"):
 *   TurboJPEG header -> size checks -> decode at a reduced DCT scale straight to gray
 *   (decode.c) -> optional center crop -> separable antialiased (triangle) resize ->
 *   equalization (none, global 256-bin histogram, or CLAHE: cxr_preprocess.h) -> per-image
 *   normalization.
 */
#include "cxr_preprocess.h"
#include "preprocess_internal.h"
#include "cxr_files.h"
#include "cxr_parse.h"

#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SIZE     256
#define DEFAULT_MAX_SIDE 16384
#define MAX_OUTPUT_SIDE  16384

/* ---------------------------------------------------------------------------------------
 * Parameters and names
 * ------------------------------------------------------------------------------------- */

void cxr_preprocess_defaults(cxr_preprocess_params *p)
{
    p->size = DEFAULT_SIZE;
    p->equalize = 1;
    p->normalize = CXR_NORM_MINMAX;
    p->crop_ratio = 0.0; /* never crop: the study stretched every X-ray to a square */
    p->max_side = DEFAULT_MAX_SIDE;
    p->clahe_clip = CXR_CLAHE_CLIP;
}

const char *cxr_norm_name(cxr_norm n)
{
    switch (n) {
    case CXR_NORM_MINMAX: return "minmax";
    case CXR_NORM_ZSCORE255: return "zscore255";
    case CXR_NORM_NONE: return "none";
    }
    return "unknown";
}

cxr_status cxr_norm_parse(const char *name, cxr_norm *out)
{
    static const cxr_norm all[] = { CXR_NORM_MINMAX, CXR_NORM_ZSCORE255, CXR_NORM_NONE };
    if (name)
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
            if (strcmp(name, cxr_norm_name(all[i])) == 0) {
                *out = all[i];
                return CXR_OK;
            }
    return cxr_set_error(CXR_E_ARG,
                         "unknown normalization '%s' (expected minmax, zscore255 "
                         "or none)",
                         name ? name : "(null)");
}

void cxr_norm_range(cxr_norm n, double *lo, double *hi)
{
    *lo = n == CXR_NORM_MINMAX ? -1.0 : 0.0;
    *hi = n == CXR_NORM_MINMAX ? 1.0 : 255.0;
}

const char *cxr_equalize_name(int equalize)
{
    switch (equalize) {
    case CXR_EQUALIZE_NONE: return "none";
    case CXR_EQUALIZE_GLOBAL: return "global";
    case CXR_EQUALIZE_CLAHE: return "clahe";
    }
    return NULL;
}

cxr_status cxr_equalize_parse(const char *name, int *out)
{
    for (int e = CXR_EQUALIZE_NONE; e <= CXR_EQUALIZE_CLAHE; e++)
        if (name && strcmp(name, cxr_equalize_name(e)) == 0) {
            *out = e;
            return CXR_OK;
        }
    return cxr_set_error(CXR_E_ARG, "unknown equalization '%s' (expected global, clahe or none)",
                         name ? name : "(null)");
}

/* ---------------------------------------------------------------------------------------
 * Gray conversion and crop
 * ------------------------------------------------------------------------------------- */

void cxr_rgb_to_gray(uint8_t *dst, const uint8_t *rgb, size_t n_pixels)
{
    /* Exact decimal weights in integers: round(0.299R + 0.587G + 0.114B), halves up.
     * dst may equal rgb (pixel i is written after bytes 3i..3i+2 are read). */
    for (size_t i = 0; i < n_pixels; i++) {
        unsigned y = 299u * rgb[3 * i] + 587u * rgb[3 * i + 1] + 114u * rgb[3 * i + 2];
        dst[i] = (uint8_t)((y + 500u) / 1000u);
    }
}

void cxr_crop_box(int w, int h, double crop_ratio, int *x0, int *y0, int *cw, int *ch)
{
    if (cxr_wants_crop(w, h, crop_ratio)) {
        cxr_center_square(w, h, x0, y0, cw, ch);
    } else {
        *x0 = *y0 = 0;
        *cw = w;
        *ch = h;
    }
}

/* ---------------------------------------------------------------------------------------
 * Antialiased resize: PIL-style bilinear. For an axis of `in` source and `out` output pixels,
 * scale = in/out; the triangle filter's radius is max(scale, 1) source pixels, so a downscale
 * averages every source pixel and an upscale is plain bilinear with half-pixel centers.
 * ------------------------------------------------------------------------------------- */

typedef struct {
    double center, inv_fs, total;
    int lo, n;
} tap_span;

static double triangle(double t)
{
    t = fabs(t);
    return t < 1.0 ? 1.0 - t : 0.0;
}

/* Source taps [lo, lo+n) of output pixel i and the sum of their raw weights, for `out` output
 * pixels over the source extent [off, off + ext) of the `in` pixels there are (ext = in, off =
 * 0 but for a DCT-scaled decode, whose last pixel may hold less than a whole pixel's worth of
 * the image: the extent is then fractional). */
static tap_span span_of(int in, double off, double ext, int out, int i)
{
    tap_span s;
    double scale = ext / (double)out;
    double fs = scale > 1.0 ? scale : 1.0;
    s.center = off + ((double)i + 0.5) * scale;
    s.inv_fs = 1.0 / fs;
    int lo = (int)floor(s.center - fs + 0.5);
    int hi = (int)floor(s.center + fs + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    if (hi <= lo) { /* cannot happen for in, out >= 1; keep the nearest pixel to be safe */
        lo = (int)s.center < in ? (int)s.center : in - 1;
        hi = lo + 1;
    }
    s.lo = lo;
    s.n = hi - lo;
    s.total = 0.0;
    for (int k = 0; k < s.n; k++) s.total += triangle((lo + k - s.center + 0.5) * s.inv_fs);
    return s;
}

/* Normalized weight of tap k: both resize paths call this, so they agree to the bit. */
static float tap_weight(const tap_span *s, int k)
{
    if (s->total <= 0.0) return k == 0 ? 1.0f : 0.0f;
    return (float)(triangle((s->lo + k - s->center + 0.5) * s->inv_fs) / s->total);
}

cxr_status cxr_axis_table_build(axis_table *t, int in, double off, double ext, int out)
{
    int kmax = 0;
    if ((size_t)out > t->cap_out) {
        int *lo = realloc(t->lo, (size_t)out * sizeof *lo);
        if (lo) t->lo = lo;
        int *n = realloc(t->n, (size_t)out * sizeof *n);
        if (n) t->n = n;
        int *lop = realloc(t->lop, (size_t)out * sizeof *lop);
        if (lop) t->lop = lop;
        if (!lo || !n || !lop) return cxr_set_error(CXR_E_NOMEM, "resize table for %d pixels", out);
        t->cap_out = (size_t)out;
    }
    for (int i = 0; i < out; i++) {
        tap_span s = span_of(in, off, ext, out, i);
        t->lo[i] = s.lo;
        t->n[i] = s.n;
        if (s.n > kmax) kmax = s.n;
    }
    size_t need = (size_t)out * (size_t)kmax;
    if (need > t->cap_w) {
        float *w = realloc(t->w, need * sizeof *w);
        if (w) t->w = w;
        float *wp = realloc(t->wp, need * sizeof *wp);
        if (wp) t->wp = wp;
        float *ws = realloc(t->ws, need * sizeof *ws);
        if (ws) t->ws = ws;
        if (!w || !wp || !ws)
            return cxr_set_error(CXR_E_NOMEM, "resize weights (%zu floats)", need);
        t->cap_w = need;
    }
    for (int i = 0; i < out; i++) {
        tap_span s = span_of(in, off, ext, out, i);
        int lop = s.lo + kmax <= in ? s.lo : in - kmax; /* kmax <= in: n <= in for every pixel */
        int shift = s.lo - lop;
        t->lop[i] = lop;
        for (int k = 0; k < kmax; k++) {
            t->w[(size_t)i * kmax + k] = k < s.n ? tap_weight(&s, k) : 0.0f;
            int j = k - shift;
            t->wp[(size_t)i * kmax + k] = j >= 0 && j < s.n ? tap_weight(&s, j) : 0.0f;
            t->ws[(size_t)k * out + i] = t->wp[(size_t)i * kmax + k];
        }
    }
    t->in = in;
    t->off = off;
    t->ext = ext;
    t->out = out;
    t->kmax = kmax;
    return CXR_OK;
}

void cxr_axis_table_free(axis_table *t)
{
    free(t->lo);
    free(t->n);
    free(t->lop);
    free(t->w);
    free(t->wp);
    free(t->ws);
}

/* Table-driven resize, vertical pass first: it runs along contiguous rows (vectorizes) and
 * cuts the row count to dh before the gather-style horizontal pass. tmp holds dh * w floats.
 * The accumulation order (taps in increasing source index, float sums from 0, columns first)
 * matches cxr_resize exactly. The SSE2 paths keep that order per output value: each lane does
 * the scalar code's operations in the scalar code's order (0 + w*p is exactly w*p here, as
 * weights and pixels are nonnegative), so the result is the same to the bit. */
void cxr_resize_tables(float *dst, const uint8_t *src, int w, int stride, const axis_table *tx,
                       const axis_table *ty, float *tmp)
{
    int dw = tx->out, dh = ty->out;
    for (int oy = 0; oy < dh; oy++) {
        float *trow = tmp + (size_t)oy * w;
        const float *wy = ty->w + (size_t)oy * ty->kmax;
        const uint8_t *base = src + (size_t)ty->lo[oy] * stride;
        const int ny = ty->n[oy];
        int x = 0;
#ifdef __SSE2__
        /* 16 columns at a time, all taps of the column in registers: one pass over trow */
        const __m128i z = _mm_setzero_si128();
        for (; x + 16 <= w; x += 16) {
            __m128 a0 = _mm_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int j = 0; j < ny; j++) {
                __m128i b = _mm_loadu_si128((const __m128i *)(base + (size_t)j * stride + x));
                __m128i lo = _mm_unpacklo_epi8(b, z), hi = _mm_unpackhi_epi8(b, z);
                __m128 wj = _mm_set1_ps(wy[j]);
                a0 = _mm_add_ps(a0, _mm_mul_ps(wj, _mm_cvtepi32_ps(_mm_unpacklo_epi16(lo, z))));
                a1 = _mm_add_ps(a1, _mm_mul_ps(wj, _mm_cvtepi32_ps(_mm_unpackhi_epi16(lo, z))));
                a2 = _mm_add_ps(a2, _mm_mul_ps(wj, _mm_cvtepi32_ps(_mm_unpacklo_epi16(hi, z))));
                a3 = _mm_add_ps(a3, _mm_mul_ps(wj, _mm_cvtepi32_ps(_mm_unpackhi_epi16(hi, z))));
            }
            _mm_storeu_ps(trow + x, a0);
            _mm_storeu_ps(trow + x + 4, a1);
            _mm_storeu_ps(trow + x + 8, a2);
            _mm_storeu_ps(trow + x + 12, a3);
        }
#endif
        for (int xx = x; xx < w; xx++) trow[xx] = 0.0f;
        for (int j = 0; j < ny; j++) {
            const uint8_t *row = base + (size_t)j * stride;
            float wj = wy[j];
            for (int xx = x; xx < w; xx++) trow[xx] += wj * (float)row[xx];
        }
        float *drow = dst + (size_t)oy * dw;
        const int K = tx->kmax;
        int ox = 0;
#ifdef __SSE2__
        /* 4 outputs at a time: their taps gathered per k, the weights from the transposed table */
        for (; ox + 4 <= dw; ox += 4) {
            const int *lp = tx->lop + ox;
            const float *p0 = trow + lp[0], *p1 = trow + lp[1], *p2 = trow + lp[2],
                        *p3 = trow + lp[3];
            __m128 acc = _mm_setzero_ps();
            for (int k = 0; k < K; k++) {
                __m128 p = _mm_setr_ps(p0[k], p1[k], p2[k], p3[k]);
                acc = _mm_add_ps(acc, _mm_mul_ps(_mm_loadu_ps(tx->ws + (size_t)k * dw + ox), p));
            }
            _mm_storeu_ps(drow + ox, acc);
        }
#endif
        for (; ox < dw; ox++) {
            const float *wx = tx->wp + (size_t)ox * K;
            const float *p = trow + tx->lop[ox];
            float acc = 0.0f;
            for (int k = 0; k < K; k++) acc += wx[k] * p[k];
            drow[ox] = acc;
        }
    }
}

void cxr_resize(float *dst, int dw, int dh, const uint8_t *src, int w, int h, int stride)
{
    /* Allocation-free twin of cxr_resize_tables (it has no way to report ENOMEM): the same weights
     * and the same summation order, recomputed per output pixel. Slower; meant for tests and
     * one-off calls. The decoder path uses the cached tables. */
    for (int oy = 0; oy < dh; oy++) {
        tap_span sy = span_of(h, 0.0, h, dh, oy);
        for (int ox = 0; ox < dw; ox++) {
            tap_span sx = span_of(w, 0.0, w, dw, ox);
            float acc = 0.0f;
            for (int k = 0; k < sx.n; k++) {
                const uint8_t *p = src + (size_t)sy.lo * stride + sx.lo + k;
                float col = 0.0f;
                for (int j = 0; j < sy.n; j++)
                    col += tap_weight(&sy, j) * (float)p[(size_t)j * stride];
                acc += tap_weight(&sx, k) * col;
            }
            dst[(size_t)oy * dw + ox] = acc;
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Equalization and normalization
 * ------------------------------------------------------------------------------------- */

static inline int bin_of(float x)
{
    /* round half up, clamped to [0,255], NaN to 0; after the clamp, truncation is floor.
     * cxr_equalize_normalize has a branch-free SSE twin of this (X-rays are full of values at
     * exactly 0 and 255, which makes these branches mispredict). */
    x = x > 0.0f ? x : 0.0f; /* NaN fails the test: 0 */
    x = x < 255.0f ? x : 255.0f;
    return (int)(x + 0.5f);
}

/* The equalization lookup table for a histogram of n values (see cxr_equalize). */
static void equalize_lut(float lut[256], const size_t hist[256], size_t n)
{
    size_t cdf[256], run = 0, cdf_min = 0;
    for (int v = 0; v < 256; v++) {
        run += hist[v];
        cdf[v] = run;
        if (cdf_min == 0 && run > 0) cdf_min = run; /* cdf of the smallest occupied bin */
    }
    for (int v = 0; v < 256; v++) {
        if (n == cdf_min || cdf[v] < cdf_min)
            lut[v] = 0.0f; /* constant image; empty low bins */
        else
            lut[v] = (float)(255.0 * (double)(cdf[v] - cdf_min) / (double)(n - cdf_min));
    }
}

void cxr_equalize(float *img, size_t n)
{
    size_t hist[256] = { 0 };
    for (size_t i = 0; i < n; i++) hist[bin_of(img[i])]++;
    float lut[256];
    equalize_lut(lut, hist, n);
    for (size_t i = 0; i < n; i++) img[i] = lut[bin_of(img[i])];
}

/* CLAHE (cxr_preprocess.h). Tile i of g along a side of n pixels covers [i*n/g, (i+1)*n/g);
 * its center is the middle of that span. A pixel between the centers of tiles j and j+1 takes
 * (1-t) of tile j's table and t of tile j+1's, t its fractional distance from j's center; a
 * pixel before the first center or after the last takes that tile's table alone. */
#define CLAHE_MAX_TILES 8

/* Where tile i of g starts along a side of n pixels (tile g: n). */
static int clahe_edge(int i, int n, int g) { return (int)((int64_t)i * n / g); }

/* The centers of the g tiles along a side of n pixels, into c[0..g-1]. */
static void clahe_centers(double *c, int n, int g)
{
    for (int i = 0; i < g; i++)
        c[i] = 0.5 * (double)(clahe_edge(i, n, g) + clahe_edge(i + 1, n, g) - 1);
}

/* For coordinate x: the lower tile *j (kept between calls, x increasing from 0), and the
 * weight of tile *j + 1 (0 at or outside the outer centers). */
static double clahe_step(int x, const double *c, int g, int *j)
{
    while (*j + 1 < g && (double)x >= c[*j + 1]) (*j)++;
    if (*j + 1 >= g || (double)x <= c[*j]) return 0.0;
    return ((double)x - c[*j]) / (c[*j + 1] - c[*j]);
}

void cxr_clahe(float *img, int w, int h, int tiles, double clip)
{
    if (w < 1 || h < 1) return;
    if (tiles < 1) tiles = 1;
    if (tiles > CLAHE_MAX_TILES) tiles = CLAHE_MAX_TILES;
    int gx = tiles < w ? tiles : w, gy = tiles < h ? tiles : h;
    float lut[CLAHE_MAX_TILES * CLAHE_MAX_TILES][256]; /* 64 KiB */
    int only = -1; /* the one bin of every tile so far (a constant image), -2 once two */
    for (int ty = 0; ty < gy; ty++)
        for (int tx = 0; tx < gx; tx++) {
            int x0 = clahe_edge(tx, w, gx), x1 = clahe_edge(tx + 1, w, gx);
            int y0 = clahe_edge(ty, h, gy), y1 = clahe_edge(ty + 1, h, gy);
            size_t hist[256] = { 0 }, area = (size_t)(x1 - x0) * (size_t)(y1 - y0);
            /* each pixel keeps its bin (an exact small integer in float) for the blend below */
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) {
                    float *px = img + (size_t)y * w + x;
                    int b = bin_of(*px);
                    *px = (float)b;
                    hist[b]++;
                }
            /* a tile of one bin holds it at its first pixel (counted per tile, not per pixel) */
            const int b0 = (int)img[(size_t)y0 * w + x0];
            only = only != -2 && (only == -1 || only == b0) && hist[b0] == area ? b0 : -2;
            if (clip > 0) {
                /* as OpenCV: at least 1 count; the excess spread evenly, its remainder one
                 * count per bin at a regular step from bin 0 */
                double lim = clip * (double)area / 256.0;
                size_t limit = lim < 1.0 ? 1 : (size_t)lim, excess = 0;
                for (int v = 0; v < 256; v++)
                    if (hist[v] > limit) excess += hist[v] - limit, hist[v] = limit;
                size_t batch = excess / 256, rest = excess - batch * 256;
                for (int v = 0; v < 256; v++) hist[v] += batch;
                if (rest) {
                    size_t step = 256 / rest > 1 ? 256 / rest : 1;
                    for (size_t v = 0; v < 256 && rest > 0; v += step, rest--) hist[v]++;
                }
            }
            equalize_lut(lut[ty * gx + tx], hist, area);
        }
    if (only >= 0) {
        /* a constant image stays constant: its tiles' tables differ only by the rounding of
         * unequal tile areas (a side not a multiple of the tile count), which the blend would
         * spread over the image as contrast (specs/store.md: a constant image gives zeros) */
        for (size_t i = 0; i < (size_t)w * (size_t)h; i++) img[i] = lut[0][only];
        return;
    }
    double cx[CLAHE_MAX_TILES], cy[CLAHE_MAX_TILES];
    clahe_centers(cx, w, gx);
    clahe_centers(cy, h, gy);
    /* Columns in blocks of CLAHE_BLOCK: each column's tile and weight are worked out once per
     * block, not once per pixel (a 256-wide image is one block). */
    enum { CLAHE_BLOCK = 256 };
    int bj[CLAHE_BLOCK], bj1[CLAHE_BLOCK];
    float bf[CLAHE_BLOCK];
    for (int x0 = 0, jx = 0; x0 < w; x0 += CLAHE_BLOCK) {
        int nb = w - x0 < CLAHE_BLOCK ? w - x0 : CLAHE_BLOCK;
        for (int k = 0; k < nb; k++) {
            bf[k] = (float)clahe_step(x0 + k, cx, gx, &jx);
            bj[k] = jx;
            bj1[k] = jx + 1 < gx ? jx + 1 : jx;
        }
        int jy = 0;
        for (int y = 0; y < h; y++) {
            float fy = (float)clahe_step(y, cy, gy, &jy);
            int jy1 = jy + 1 < gy ? jy + 1 : jy;
            const float(*t0)[256] = lut + jy * gx, (*t1)[256] = lut + jy1 * gx;
            float *row = img + (size_t)y * w + x0;
            for (int k = 0; k < nb; k++) {
                int b = (int)row[k]; /* the bin, stored by the histogram pass */
                float fx = bf[k];
                float top = (1.0f - fx) * t0[bj[k]][b] + fx * t0[bj1[k]][b];
                float bot = (1.0f - fx) * t1[bj[k]][b] + fx * t1[bj1[k]][b];
                row[k] = (1.0f - fy) * top + fy * bot;
            }
        }
    }
}

/* x -> (x - lo) * k + base, clamped to [base, base + range] to keep exact bounds despite
 * rounding; k = range / (hi - lo). */
static inline float rescale_one(float x, double lo, double k, double range, double base)
{
    double v = ((double)x - lo) * k + base;
    if (v < base) v = base;
    if (v > base + range) v = base + range;
    return (float)v;
}

/* x -> (x - lo) / (hi - lo) * range + base, or all zeros when hi == lo. */
static void rescale(float *img, size_t n, double lo, double hi, double range, double base)
{
    if (!(hi > lo)) {
        for (size_t i = 0; i < n; i++) img[i] = 0.0f;
        return;
    }
    double k = range / (hi - lo);
    for (size_t i = 0; i < n; i++) img[i] = rescale_one(img[i], lo, k, range, base);
}

/* cxr_equalize followed by cxr_normalize(mode) for mode minmax or none, bit for bit, in two
 * passes instead of five: after equalization every value is lut[bin], so the min-max over the
 * image is the min-max over the occupied bins' entries and the rescale can be applied to the
 * 256 entries instead of every pixel. (zscore255 sums over pixels; it keeps the plain path.)
 * The first pass keeps each pixel's bin in bins[n] so the second is a pure byte lookup, and
 * counts into four histograms so consecutive equal bins do not serialize on one counter. */
void cxr_equalize_normalize(float *img, uint8_t *bins, size_t n, cxr_norm mode)
{
    uint32_t h4[4][256] = { { 0 } };
    size_t i = 0;
#ifdef __SSE2__
    /* bin_of on 4 pixels at once: maxps/minps give its clamp without branches (the compiler
     * keeps the scalar ternaries as branches unless NaNs are ruled out), and maxps(x, 0)
     * returns its second operand, 0, for NaN, as bin_of does. */
    const __m128 zero = _mm_setzero_ps(), top = _mm_set1_ps(255.0f), half = _mm_set1_ps(0.5f);
    /* 16 pixels per step: the four bin vectors pack to 16 bytes (values 0..255 survive both
     * saturating packs), stored at once, and the counts come from two 64-bit words by shifts
     * instead of a store and reload per 4 pixels. Pixel i still counts in table i % 4. */
    for (; i + 16 <= n; i += 16) {
        __m128i b[4];
        for (int k = 0; k < 4; k++) {
            __m128 x = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(img + i + 4 * k), zero), top);
            b[k] = _mm_cvttps_epi32(_mm_add_ps(x, half));
        }
        __m128i v = _mm_packus_epi16(_mm_packs_epi32(b[0], b[1]), _mm_packs_epi32(b[2], b[3]));
        _mm_storeu_si128((__m128i *)(bins + i), v);
        uint64_t lo = (uint64_t)_mm_cvtsi128_si64(v);
        uint64_t hi = (uint64_t)_mm_cvtsi128_si64(_mm_unpackhi_epi64(v, v));
        for (int k = 0; k < 8; k++) h4[k & 3][(lo >> (8 * k)) & 0xff]++;
        for (int k = 0; k < 8; k++) h4[k & 3][(hi >> (8 * k)) & 0xff]++;
    }
    for (; i + 4 <= n; i += 4) {
        __m128 x = _mm_min_ps(_mm_max_ps(_mm_loadu_ps(img + i), zero), top);
        __m128i b = _mm_cvttps_epi32(_mm_add_ps(x, half));
        uint32_t q[4];
        _mm_storeu_si128((__m128i *)q, b);
        for (int k = 0; k < 4; k++) h4[k][bins[i + k] = (uint8_t)q[k]]++;
    }
#else
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; k++) h4[k][bins[i + k] = (uint8_t)bin_of(img[i + k])]++;
#endif
    for (; i < n; i++) h4[0][bins[i] = (uint8_t)bin_of(img[i])]++;
    size_t hist[256];
    for (int v = 0; v < 256; v++) hist[v] = (size_t)h4[0][v] + h4[1][v] + h4[2][v] + h4[3][v];
    float lut[256];
    equalize_lut(lut, hist, n);
    if (mode == CXR_NORM_MINMAX && n) {
        float lo = INFINITY, hi = -INFINITY;
        for (int v = 0; v < 256; v++)
            if (hist[v]) {
                if (lut[v] < lo) lo = lut[v];
                if (lut[v] > hi) hi = lut[v];
            }
        if (!(hi > lo)) {
            for (int v = 0; v < 256; v++) lut[v] = 0.0f;
        } else {
            double k = 2.0 / ((double)hi - (double)lo);
            for (int v = 0; v < 256; v++) lut[v] = rescale_one(lut[v], lo, k, 2.0, -1.0);
        }
    }
    for (i = 0; i < n; i++) img[i] = lut[bins[i]];
}

static void min_max(const float *img, size_t n, double *lo, double *hi)
{
    float a = n ? img[0] : 0.0f, b = a;
    for (size_t i = 1; i < n; i++) {
        if (img[i] < a) a = img[i];
        if (img[i] > b) b = img[i];
    }
    *lo = a;
    *hi = b;
}

void cxr_normalize(float *img, size_t n, cxr_norm mode)
{
    double lo, hi;
    if (n == 0 || mode == CXR_NORM_NONE) return;
    if (mode == CXR_NORM_MINMAX) {
        min_max(img, n, &lo, &hi);
        rescale(img, n, lo, hi, 2.0, -1.0);
        return;
    }
    /* zscore255: z = (x - mean) / std (population std), then min-max of z to [0, 255]. */
    double sum = 0.0, sq = 0.0;
    for (size_t i = 0; i < n; i++) sum += img[i];
    double mean = sum / (double)n;
    for (size_t i = 0; i < n; i++) sq += ((double)img[i] - mean) * ((double)img[i] - mean);
    double sd = sqrt(sq / (double)n);
    if (!(sd > 0.0) || !isfinite(sd)) {
        for (size_t i = 0; i < n; i++) img[i] = 0.0f;
        return;
    }
    for (size_t i = 0; i < n; i++) img[i] = (float)(((double)img[i] - mean) / sd);
    min_max(img, n, &lo, &hi);
    rescale(img, n, lo, hi, 255.0, 0.0);
}

int cxr_preprocess_same_steps(const cxr_preprocess_params *a, const cxr_preprocess_params *b)
{
    return a->equalize == b->equalize && a->normalize == b->normalize &&
           a->crop_ratio == b->crop_ratio &&
           (a->equalize != CXR_EQUALIZE_CLAHE || a->clahe_clip == b->clahe_clip);
}

const char *cxr_preprocess_pair_label(const cxr_preprocess_params *a,
                                      const cxr_preprocess_params *b, int with_size, char *buf,
                                      size_t n)
{
    char ea[48], eb[48], sz[48] = "";
    if (with_size) snprintf(sz, sizeof sz, "size %d/%d, ", a->size, b->size);
    snprintf(buf, n, "%sequalize %s/%s, normalize %s/%s, crop ratio %g/%g", sz,
             cxr_equalize_label(a, ea, sizeof ea), cxr_equalize_label(b, eb, sizeof eb),
             cxr_norm_name(a->normalize), cxr_norm_name(b->normalize), a->crop_ratio,
             b->crop_ratio);
    return buf;
}

const char *cxr_equalize_label(const cxr_preprocess_params *p, char *buf, size_t n)
{
    const char *name = cxr_equalize_name(p->equalize);
    char clip[32];
    if (p->equalize == CXR_EQUALIZE_CLAHE)
        snprintf(buf, n, "%s clip %s", name, cxr_format_double(clip, sizeof clip, p->clahe_clip));
    else
        snprintf(buf, n, "%s", name ? name : "?");
    return buf;
}

cxr_status cxr_preprocess_check(const cxr_preprocess_params *p)
{
    if (p->size < 1 || p->size > MAX_OUTPUT_SIDE)
        return cxr_set_error(CXR_E_ARG, "output size %d out of range 1..%d", p->size,
                             MAX_OUTPUT_SIDE);
    if (p->max_side < 1)
        return cxr_set_error(CXR_E_ARG, "max_side %d must be positive", p->max_side);
    if (!cxr_equalize_name(p->equalize))
        return cxr_set_error(CXR_E_ARG, "equalize %d is not 0 (none), 1 (global) or 2 (clahe)",
                             p->equalize);
    if (p->normalize != CXR_NORM_MINMAX && p->normalize != CXR_NORM_ZSCORE255 &&
        p->normalize != CXR_NORM_NONE)
        return cxr_set_error(CXR_E_ARG, "unknown normalization %d", (int)p->normalize);
    if (!isfinite(p->crop_ratio)) return cxr_set_error(CXR_E_ARG, "crop_ratio must be finite");
    /* cxr-pack takes none below 0; a model edited to one was read by cxr-predict and
     * cxr-export (which never cropped with it), refused by cxr-eval only as another store's */
    if (p->crop_ratio < 0)
        return cxr_set_error(CXR_E_ARG, "crop_ratio %g must be 0 (never crop) or positive",
                             p->crop_ratio);
    if (p->equalize == CXR_EQUALIZE_CLAHE &&
        !(p->clahe_clip > 0.0 && p->clahe_clip <= CXR_CLAHE_CLIP_MAX))
        return cxr_set_error(CXR_E_ARG, "clahe_clip %g out of range (0, %g]", p->clahe_clip,
                             CXR_CLAHE_CLIP_MAX);
    return CXR_OK;
}
