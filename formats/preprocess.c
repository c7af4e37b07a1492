/* preprocess.c: one JPEG in, one normalized square float32 tensor out (cxr_preprocess.h).
 *
 * Pipeline (each step specified in specs/store.md, section "Preprocessing"):
 *   TurboJPEG header -> size checks -> decode at a reduced DCT scale straight to gray
 *   -> optional center crop -> separable antialiased (triangle) resize -> equalization (none,
 *   global 256-bin histogram, or CLAHE: cxr_preprocess.h) -> per-image normalization.
 * A cxr_decoder is meant to live in one thread: it holds the tjhandle, scratch buffers that only
 * grow, and a small cache of resize coefficient tables keyed by (src w, src h, dst w, dst h), so
 * the steady state allocates nothing per image. TurboJPEG installs its own setjmp-based libjpeg
 * error manager, so a corrupt file can never make libjpeg call exit(); TJFLAG_STOPONWARNING
 * turns libjpeg's "corrupt data" warnings into errors and TJFLAG_LIMITSCANS refuses progressive
 * files with absurd scan counts.
 */
#include "cxr_preprocess.h"
#include "cxr_files.h"
#include "cxr_parse.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>

#define DEFAULT_SIZE     256
#define DEFAULT_MAX_SIDE 16384
#define MAX_OUTPUT_SIDE  16384
#define MAX_FILE_BYTES   ((size_t)1 << 30)
/* the coefficient buffer a progressive or multi-scan JPEG needs (buffered_coef_over): 256 MiB
 * is a 16384 x 8192 gray image or 89 Mpx of 4:2:0 color */
#define MAX_COEF_BYTES   ((uint64_t)256 << 20)
#define N_TABLES         4

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

static int wants_crop(int w, int h, double crop_ratio)
{
    return crop_ratio > 0.0 && h > 0 && fabs((double)w / (double)h - 1.0) > crop_ratio;
}

/* 1 when the w x h window (rows `stride` bytes apart) holds one value: a real image differs
 * within its first few pixels, so this costs next to nothing */
static int window_constant(const uint8_t *px, int w, int h, int stride)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (px[(size_t)y * stride + x] != px[0]) return 0;
    return 1;
}

static void center_square(int w, int h, int *x0, int *y0, int *cw, int *ch)
{
    int side = w < h ? w : h;
    *x0 = (w - side) / 2;
    *y0 = (h - side) / 2;
    *cw = *ch = side;
}

void cxr_crop_box(int w, int h, double crop_ratio, int *x0, int *y0, int *cw, int *ch)
{
    if (wants_crop(w, h, crop_ratio)) {
        center_square(w, h, x0, y0, cw, ch);
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

/* Coefficient table of one axis: per output pixel, first tap and count; weights padded to
 * kmax per output pixel. lop/wp are the same taps as exactly kmax per pixel starting at lop
 * (moved left where lo + kmax would pass the end, with zero weights in front), for loops with
 * a fixed trip count: a zero-weight tap adds +0 to a sum of nonnegative terms, so the result
 * is the same to the bit, and the branch on a per-pixel count (2-4 taps, mispredicted) goes. */
typedef struct {
    int in, out, kmax;
    double off, ext; /* the source extent (span_of) */
    int *lo, *n, *lop;
    float *w, *wp;
    float *ws; /* wp transposed: ws[k * out + i] = wp[i * kmax + k], for 4-wide SIMD loads */
    size_t cap_out, cap_w;
} axis_table;

static cxr_status axis_table_build(axis_table *t, int in, double off, double ext, int out)
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

static void axis_table_free(axis_table *t)
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
static void resize_tables(float *dst, const uint8_t *src, int w, int stride, const axis_table *tx,
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
    /* Allocation-free twin of resize_tables (it has no way to report ENOMEM): the same weights
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
     * equalize_normalize has a branch-free SSE twin of this (X-rays are full of values at
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
static void equalize_normalize(float *img, uint8_t *bins, size_t n, cxr_norm mode)
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

/* ---------------------------------------------------------------------------------------
 * Decoder
 * ------------------------------------------------------------------------------------- */

typedef struct {
    int w, h, dw, dh; /* key: source crop size and output size; w == 0 marks an empty slot */
    axis_table x, y;
} table_pair;

struct cxr_decoder {
    tjhandle tj;
    uint8_t *pix; /* decoded pixels, 1, 3 or 4 bytes each */
    size_t cap_pix;
    uint8_t *gray; /* gray image when the JPEG decoded to RGB/CMYK */
    size_t cap_gray;
    float *tmp; /* horizontal resize pass */
    size_t cap_tmp;
    uint8_t *file; /* file contents for cxr_preprocess_file */
    size_t cap_file;
    uint8_t *bins; /* equalization bin of every output pixel */
    size_t cap_bins;
    table_pair tables[N_TABLES];
    int next_table;
    cxr_decode_info info;
};

cxr_decoder *cxr_decoder_create(void)
{
    cxr_decoder *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->tj = tjInitDecompress();
    if (!d->tj) {
        free(d);
        return NULL;
    }
    return d;
}

void cxr_decoder_destroy(cxr_decoder *d)
{
    if (!d) return;
    if (d->tj) tjDestroy(d->tj);
    free(d->pix);
    free(d->gray);
    free(d->tmp);
    free(d->file);
    free(d->bins);
    for (int i = 0; i < N_TABLES; i++) {
        axis_table_free(&d->tables[i].x);
        axis_table_free(&d->tables[i].y);
    }
    free(d);
}

void cxr_decoder_last_info(const cxr_decoder *d, cxr_decode_info *info) { *info = d->info; }

/* A scratch buffer of at least `need` bytes: `buf` itself when it is big enough, otherwise a
 * new allocation (with headroom, so slightly larger images do not reallocate) that replaces it;
 * the old contents are not kept. NULL on allocation failure, with `buf` left as it was. */
static void *grow(void *buf, size_t *cap, size_t need)
{
    if (need <= *cap) return buf;
    size_t want = need + need / 4;
    void *p = malloc(want);
    if (!p) return NULL;
    free(buf);
    *cap = want;
    return p;
}

#define GROW(field, cap, need, what)                                                      \
    do {                                                                                  \
        void *g_ = grow(d->field, &d->cap, (need));                                       \
        if (!g_)                                                                          \
            CXR_THROW(CXR_E_NOMEM, "out of memory for the %s buffer (%zu bytes)", (what), \
                      (size_t)(need));                                                    \
        d->field = g_;                                                                    \
    } while (0)

/* The tables of a w x h source window whose extent [ox, ox + ex) x [oy, oy + ey) is resized to
 * dw x dh (span_of). */
static cxr_status tables_for(cxr_decoder *d, int w, int h, double ox, double oy, double ex,
                             double ey, int dw, int dh, table_pair **out)
{
    for (int i = 0; i < N_TABLES; i++) {
        table_pair *t = &d->tables[i];
        if (t->w == w && t->h == h && t->dw == dw && t->dh == dh && t->x.off == ox &&
            t->x.ext == ex && t->y.off == oy && t->y.ext == ey) {
            *out = t;
            return CXR_OK;
        }
    }
    table_pair *t = &d->tables[d->next_table];
    d->next_table = (d->next_table + 1) % N_TABLES;
    t->w = 0; /* invalid until both axes are built */
    cxr_status st = axis_table_build(&t->x, w, ox, ex, dw);
    if (st == CXR_OK) st = axis_table_build(&t->y, h, oy, ey, dh);
    if (st != CXR_OK) return st;
    t->w = w;
    t->h = h;
    t->dw = dw;
    t->dh = dh;
    *out = t;
    return CXR_OK;
}

/* Smallest TurboJPEG scaling factor <= 1 that keeps both sides of the (cropped) region at least
 * `target`; 1/1 unless the region is at least twice the target on both sides. */
static tjscalingfactor choose_scale(int cw, int ch, int target)
{
    tjscalingfactor best = { 1, 1 };
    if (cw < 2 * target || ch < 2 * target) return best;
    int n = 0;
    tjscalingfactor *f = tjGetScalingFactors(&n);
    for (int i = 0; f && i < n; i++) {
        if (f[i].num > f[i].denom) continue;
        if (TJSCALED(cw, f[i]) < target || TJSCALED(ch, f[i]) < target) continue;
        if ((double)f[i].num / f[i].denom < (double)best.num / best.denom) best = f[i];
    }
    return best;
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
    if (p->equalize == CXR_EQUALIZE_CLAHE &&
        !(p->clahe_clip > 0.0 && p->clahe_clip <= CXR_CLAHE_CLIP_MAX))
        return cxr_set_error(CXR_E_ARG, "clahe_clip %g out of range (0, %g]", p->clahe_clip,
                             CXR_CLAHE_CLIP_MAX);
    return CXR_OK;
}

static const char *colorspace_name(int cs)
{
    switch (cs) {
    case TJCS_RGB: return "RGB";
    case TJCS_YCbCr: return "YCbCr";
    case TJCS_GRAY: return "gray";
    case TJCS_CMYK: return "CMYK";
    case TJCS_YCCK: return "YCCK";
    }
    return "unknown";
}

/* What the markers before the first scan say, walked by their lengths (TEM and RSTn have none
 * and are stepped over, as libjpeg does); a truncated or odd stream ends the walk with what was
 * found so far and first_sos 0 (the decoder reports its own errors).
 * adobe: an Adobe APP14 marker (FF EE, "Adobe"). By the convention of Photoshop, which PIL,
 * ImageMagick and web browsers follow, the CMYK/YCCK samples of such a file are stored inverted
 * (0 = full ink); libjpeg passes them through as stored.
 * sof, first_sos: offsets of the first frame header and of the first scan header (0: none). */
typedef struct {
    int adobe, progressive;
    size_t sof, first_sos;
    uint8_t sof_marker; /* the frame's SOFn marker byte (0xC0..0xCF) */
} jpeg_markers;

static jpeg_markers read_markers(const uint8_t *j, size_t len)
{
    jpeg_markers k = { 0 };
    size_t i = 2;
    if (len < 4 || j[0] != 0xFF || j[1] != 0xD8) return k;
    while (i + 4 <= len) {
        if (j[i] != 0xFF) return k;
        uint8_t m = j[i + 1];
        if (m == 0xFF) { /* fill byte */
            i++;
            continue;
        }
        if (m == 0xD9) return k;                     /* end of image */
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) { /* TEM, RSTn: no length */
            i += 2;
            continue;
        }
        if (m == 0xDA) { /* start of scan: the headers end here */
            k.first_sos = i;
            return k;
        }
        size_t seg = ((size_t)j[i + 2] << 8) | j[i + 3];
        if (seg < 2) {
            /* libjpeg skips an APPn, COM or DNL segment of a bogus length 0 or 1 past its
             * length bytes, without a warning (jdmarker.c skip_variable, get_interesting_appn);
             * any other marker with it is a decode error */
            if ((m >= 0xE0 && m <= 0xEF) || m == 0xFE || m == 0xDC) {
                i += 4;
                continue;
            }
            return k;
        }
        /* libjpeg's test (examine_app14): 12 bytes of data after the length, "Adobe" first */
        if (m == 0xEE && seg >= 14 && i + 9 <= len && !memcmp(j + i + 4, "Adobe", 5)) k.adobe = 1;
        if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC && !k.sof) {
            k.sof = i;
            k.sof_marker = m;
            k.progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
        }
        i += 2 + seg;
    }
    return k;
}

/* Bytes of DCT coefficients libjpeg buffers for the whole image before it can output a row,
 * when it must and they are over `cap`, else 0. It must for a progressive frame (SOF2, SOF6,
 * SOF10, SOF14) and for a sequential file whose first scan holds fewer components than the
 * frame (they come in separate scans); an interleaved sequential file is decoded a row of blocks
 * at a time. Headers the walk cannot read give 0 (TurboJPEG's own header check has passed; its
 * decode then judges them). The size: the frame's components at their sampling factors, padded
 * to whole MCUs, 64 coefficients of 2 bytes per 8x8 block, what jdcoefct.c allocates. A walk
 * over the headers alone, up to the first scan's. */
static uint64_t buffered_coef_over(const uint8_t *j, size_t len, const jpeg_markers *k,
                                   uint64_t cap)
{
    const size_t sof = k->sof, first_sos = k->first_sos;
    const int progressive = k->progressive;
    if (!sof || !first_sos || sof + 10 > len || first_sos + 5 > len) return 0;
    const uint8_t *f = j + sof + 4; /* precision, height (2), width (2), components, ... */
    uint64_t h = ((uint64_t)f[1] << 8) | f[2], w = ((uint64_t)f[3] << 8) | f[4];
    int nc = f[5], hmax = 1, vmax = 1;
    if (nc < 1 || sof + 10 + 3 * (size_t)nc > len) return 0;
    for (int c = 0; c < nc; c++) {
        int hs = f[7 + 3 * c] >> 4, vs = f[7 + 3 * c] & 15;
        hmax = hs > hmax ? hs : hmax;
        vmax = vs > vmax ? vs : vmax;
    }
    uint64_t mcu_x = (w + 8 * (uint64_t)hmax - 1) / (8 * (uint64_t)hmax);
    uint64_t mcu_y = (h + 8 * (uint64_t)vmax - 1) / (8 * (uint64_t)vmax), blocks = 0;
    for (int c = 0; c < nc; c++)
        blocks += mcu_x * (uint64_t)(f[7 + 3 * c] >> 4) * mcu_y * (uint64_t)(f[7 + 3 * c] & 15);
    const uint64_t bytes = blocks * 64 * 2;
    /* libjpeg buffers the whole image when the first scan holds fewer components than the
     * frame (jdinput.c: has_multiple_scans), whatever follows in the file */
    const int first_scan_components = j[first_sos + 4];
    return bytes > cap && (progressive || first_scan_components < nc) ? bytes : 0;
}

/* After a failure, start from a fresh tjhandle: TurboJPEG 2.1 does not abort the libjpeg
 * object when tjDecompressHeader3 fails, and the next header read would resume the half-parsed
 * marker state of the bad file ("Bogus marker length" on a good one). Failures are rare, so
 * the cost does not matter. */
static void reset_handle(cxr_decoder *d)
{
    if (d->tj) tjDestroy(d->tj);
    d->tj = tjInitDecompress(); /* NULL: the next call reports CXR_E_NOMEM */
}

/* A header whose one fault is libjpeg's JWRN_JFIF_MAJOR: a JFIF segment whose version is not
 * 1.x (0.00 and 2.01 occur in the wild; the version changes nothing the decoder does). Then a
 * copy of the file with that version set to 1.02 (malloc'd; NULL when the warning is another or
 * no such segment comes before the first scan), which decodes under the usual rule: any other
 * warning is corrupt data. TurboJPEG keeps the first warning's text only, so the copy is what
 * lets a later warning still stop the decode. */
static uint8_t *jfif_version_fixed(tjhandle tj, const uint8_t *jpeg, size_t len)
{
    const char *why = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || !why || !strstr(why, "unknown JFIF revision number"))
        return NULL;
    for (size_t i = 2; i + 4 <= len && jpeg[i] == 0xFF;) {
        const unsigned m = jpeg[i + 1];
        if (m == 0xDA || m == 0xD9) break; /* the first scan, or the end */
        const size_t seg = (size_t)jpeg[i + 2] << 8 | jpeg[i + 3];
        if (seg < 2 || i + 2 + seg > len) break;
        if (m == 0xE0 && seg >= 16 && memcmp(jpeg + i + 4, "JFIF", 5) == 0) {
            uint8_t *c = malloc(len);
            if (!c) return NULL;
            memcpy(c, jpeg, len);
            c[i + 9] = 1, c[i + 10] = 2;
            return c;
        }
        i += 2 + seg;
    }
    return NULL;
}

/* A decode stopped by libjpeg's JWRN_JPEG_EOF ("Premature end of JPEG file") of a file whose
 * whole image is one Huffman-coded scan (a baseline or extended sequential frame, SOF0/SOF1,
 * whose first scan holds all its components) and which does not end in the EOI marker: the one
 * case where the data can be complete (a writer that never wrote the last two bytes). Never
 * completed this way: a multi-scan file (cut between scans, it would decode short of its later
 * scans without a warning) and an arithmetic-coded one (libjpeg's arithmetic decoder reads a
 * marker inside the scan as zeros without a warning, so a cut file would pass). */
static int single_scan_without_eoi(tjhandle tj, const uint8_t *jpeg, size_t len,
                                   const jpeg_markers *mk)
{
    const char *why = tjGetErrorStr2(tj);
    if (tjGetErrorCode(tj) != TJERR_WARNING || !why || !strstr(why, "Premature end of JPEG file"))
        return 0;
    if (len < 2 || (jpeg[len - 2] == 0xFF && jpeg[len - 1] == 0xD9)) return 0;
    if (!mk->sof || !mk->first_sos || (mk->sof_marker != 0xC0 && mk->sof_marker != 0xC1)) return 0;
    if (mk->sof + 10 > len || mk->first_sos + 5 > len) return 0;
    return jpeg[mk->first_sos + 4] == jpeg[mk->sof + 9]; /* Ns of the scan == Nf of the frame */
}

cxr_status cxr_preprocess_jpeg(cxr_decoder *d, const cxr_preprocess_params *p, const uint8_t *jpeg,
                               size_t len, float *out)
{
    cxr_status st = CXR_OK;
    int w = 0, h = 0, subsamp = 0, cs = 0;
    uint8_t *fixed = NULL; /* jfif_version_fixed's copy, if one was made */
    memset(&d->info, 0, sizeof d->info);
    if (!d->tj) {
        d->tj = tjInitDecompress();
        if (!d->tj)
            return cxr_set_error(CXR_E_NOMEM,
                                 "out of memory: cannot create a TurboJPEG decompressor");
    }
    CXR_TRY(cxr_preprocess_check(p));
    if (len == 0) CXR_THROW(CXR_E_DECODE, "empty file");
    if (len > MAX_FILE_BYTES) CXR_THROW(CXR_E_DECODE, "JPEG of %zu bytes is too large", len);

    /* Header first: nothing is allocated for an image we are going to refuse (but a copy of
     * one whose only fault is its JFIF version: jfif_version_fixed). */
    if (tjDecompressHeader3(d->tj, jpeg, (unsigned long)len, &w, &h, &subsamp, &cs) != 0) {
        fixed = jfif_version_fixed(d->tj, jpeg, len);
        if (!fixed ||
            tjDecompressHeader3(d->tj, fixed, (unsigned long)len, &w, &h, &subsamp, &cs) != 0)
            CXR_THROW(CXR_E_DECODE, "not a readable JPEG: %s", tjGetErrorStr2(d->tj));
        jpeg = fixed;
    }
    if (w <= 0 || h <= 0) CXR_THROW(CXR_E_DECODE, "JPEG declares an empty image (%dx%d)", w, h);
    if (w > p->max_side || h > p->max_side)
        CXR_THROW(CXR_E_DECODE, "image is %dx%d, larger than max_side %d", w, h, p->max_side);
    /* a progressive (or multi-scan) file is buffered whole as coefficients, whatever the DCT
     * scale: bounded per decoder, so that N threads of such files stay within N x the cap */
    const jpeg_markers mk = read_markers(jpeg, len); /* also the CMYK inversion's, below */
    const uint64_t coef = buffered_coef_over(jpeg, len, &mk, MAX_COEF_BYTES);
    if (!mk.first_sos) {
        /* TurboJPEG read the headers up to a scan, so a walk that found none has parted from
         * libjpeg's: fail closed, with the most any frame of this size could buffer (4
         * components at sampling factors up to 4, padded to whole MCUs) */
        const uint64_t most = 4 * ((uint64_t)(w + 7) / 8 + 4) * ((uint64_t)(h + 7) / 8 + 4) * 128;
        if (most > MAX_COEF_BYTES)
            CXR_THROW(CXR_E_DECODE,
                      "JPEG of %dx%d whose markers cxr cannot follow to its first scan: decoding "
                      "it might buffer up to %s%llu MiB of coefficients, over the %llu MiB limit",
                      w, h, most % 1048576 ? "more than " : "", (unsigned long long)(most >> 20),
                      (unsigned long long)(MAX_COEF_BYTES >> 20));
    }
    if (coef)
        CXR_THROW(CXR_E_DECODE,
                  "progressive or multi-scan JPEG of %dx%d: decoding it buffers %s%llu MiB of "
                  "coefficients, over the %llu MiB limit",
                  w, h, coef % 1048576 ? "more than " : "", (unsigned long long)(coef >> 20),
                  (unsigned long long)(MAX_COEF_BYTES >> 20));

    int crop = wants_crop(w, h, p->crop_ratio);
    int cw = w, ch = h;
    if (crop) cw = ch = (w < h ? w : h);
    tjscalingfactor f = choose_scale(cw, ch, p->size);
    int sw = TJSCALED(w, f), sh = TJSCALED(h, f);

    /* YCbCr and gray JPEGs decode straight to their luma channel; the others go through RGB. */
    int pf = TJPF_GRAY, ps = 1;
    if (cs == TJCS_RGB)
        pf = TJPF_RGB, ps = 3;
    else if (cs == TJCS_CMYK || cs == TJCS_YCCK)
        pf = TJPF_CMYK, ps = 4;
    else if (cs != TJCS_GRAY && cs != TJCS_YCbCr)
        CXR_THROW(CXR_E_DECODE, "unsupported JPEG colorspace %d", cs);

    size_t npix = (size_t)sw * (size_t)sh;
    GROW(pix, cap_pix, npix * ps, "decode");
    int flags = TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS;
    int rc = tjDecompress2(d->tj, jpeg, (unsigned long)len, d->pix, sw, 0, sh, pf, flags);
    if (rc != 0 && single_scan_without_eoi(d->tj, jpeg, len, &mk)) {
        /* every scan is there and only the end marker is missing: the image is whole. Decoded
         * again with the marker appended, under the same rule: data cut inside the scan then
         * meets the marker early, which libjpeg reports as corrupt data */
        const int own = jpeg == fixed; /* already jfif_version_fixed's copy */
        uint8_t *c = own ? realloc(fixed, len + 2) : malloc(len + 2);
        if (!c) CXR_THROW(CXR_E_NOMEM, "out of memory: a copy of a JPEG of %zu bytes", len);
        if (!own) memcpy(c, jpeg, len);
        c[len] = 0xFF, c[len + 1] = 0xD9;
        jpeg = fixed = c;
        len += 2;
        rc = tjDecompress2(d->tj, jpeg, (unsigned long)len, d->pix, sw, 0, sh, pf, flags);
    }
    if (rc != 0) {
        const char *why = tjGetErrorStr2(d->tj);
        /* libjpeg's JERR_OUT_OF_MEMORY ("Insufficient memory (case N)"), TurboJPEG's own
         * allocation failures: the machine's fault, not the file's (cxr-pack stops, no skip) */
        if (why && (strstr(why, "Insufficient memory") || strstr(why, "Memory allocation failure")))
            CXR_THROW(CXR_E_NOMEM, "out of memory decoding (%s, %dx%d): %s", colorspace_name(cs), w,
                      h, why);
        if (tjGetErrorCode(d->tj) == TJERR_WARNING)
            CXR_THROW(CXR_E_DECODE, "corrupt JPEG data (%s JPEG, %dx%d): %s", colorspace_name(cs),
                      w, h, tjGetErrorStr2(d->tj));
        CXR_THROW(CXR_E_DECODE, "JPEG decode failed (%s, %dx%d): %s", colorspace_name(cs), w, h,
                  tjGetErrorStr2(d->tj));
    }

    const uint8_t *gray = d->pix;
    if (ps != 1) {
        GROW(gray, cap_gray, npix, "gray");
        if (ps == 4) {
            /* R = (255-C)(255-K)/255, likewise G, B (what PIL does). With an Adobe marker the
             * stored samples are 255-C, 255-K (inverted), so R = C'K'/255. */
            uint8_t *px = d->pix;
            unsigned inv = mk.adobe ? 0u : 255u;
            for (size_t i = 0; i < npix; i++) {
                unsigned k = inv ^ px[4 * i + 3];
                for (int c = 0; c < 3; c++)
                    px[3 * i + c] = (uint8_t)(((inv ^ px[4 * i + c]) * k + 127u) / 255u);
            }
        }
        cxr_rgb_to_gray(d->gray, d->pix, npix);
        gray = d->gray;
    }

    /* The region in scaled pixels, exactly: the whole image or the square of step 3, taken on
     * the full-size grid and scaled by m/n. A side that is not a multiple of n ends inside its
     * last scaled pixel (TJSCALED rounds up: 1026 at 1/4 is 256.5 pixels, decoded as 257);
     * resized as whole pixels, the image was stretched by up to n - 1 source pixels towards
     * its right and bottom edges. The window decoded pixels are read from is the region
     * rounded out to whole pixels. */
    const double fm = (double)f.num / (double)f.denom;
    int x0 = 0, y0 = 0, side = 0;
    double ox = 0.0, oy = 0.0, ex = (double)w * fm, ey = (double)h * fm;
    if (crop) {
        center_square(w, h, &x0, &y0, &side, &side);
        ox = (double)x0 * fm, oy = (double)y0 * fm;
        ex = ey = (double)side * fm;
    }
    x0 = (int)floor(ox), y0 = (int)floor(oy);
    cw = (int)ceil(ox + ex) - x0, ch = (int)ceil(oy + ey) - y0;
    if (cw > sw - x0) cw = sw - x0;
    if (ch > sh - y0) ch = sh - y0;
    ox -= x0, oy -= y0;

    size_t n = (size_t)p->size * (size_t)p->size;
    const uint8_t *win = gray + (size_t)y0 * sw + x0;
    if (window_constant(win, cw, ch, sw)) {
        /* exactly its value: the weights' float sums would leave it some ulps apart (77 +-
         * 8e-6, more the more taps), which min-max stretched to the whole of [-1, 1] */
        for (size_t i = 0; i < n; i++) out[i] = (float)win[0];
    } else {
        table_pair *t = NULL;
        CXR_TRY(tables_for(d, cw, ch, ox, oy, ex, ey, p->size, p->size, &t));
        GROW(tmp, cap_tmp, (size_t)p->size * (size_t)cw * sizeof(float), "resize");
        resize_tables(out, win, cw, sw, &t->x, &t->y, d->tmp);
    }

    if (p->equalize == CXR_EQUALIZE_GLOBAL && p->normalize != CXR_NORM_ZSCORE255) {
        GROW(bins, cap_bins, n, "equalize");
        equalize_normalize(out, d->bins, n, p->normalize);
    } else {
        if (p->equalize == CXR_EQUALIZE_GLOBAL) cxr_equalize(out, n);
        if (p->equalize == CXR_EQUALIZE_CLAHE)
            cxr_clahe(out, p->size, p->size, CXR_CLAHE_TILES, p->clahe_clip);
        cxr_normalize(out, n, p->normalize);
    }

    d->info.width = w;
    d->info.height = h;
    d->info.colorspace = cs;
    d->info.scale_num = f.num;
    d->info.scale_denom = f.denom;
    d->info.scaled_width = sw;
    d->info.scaled_height = sh;
    d->info.crop_x = x0;
    d->info.crop_y = y0;
    d->info.crop_w = cw;
    d->info.crop_h = ch;
bail:
    free(fixed);
    if (st != CXR_OK) reset_handle(d);
    return st;
}

/* Read the whole file into d->file (normally with one read()); *len gets its size. The reasons
 * are cxr-pack's skip reasons, recorded in stores: keep their wording. */
static cxr_status read_file(cxr_decoder *d, const char *path, size_t *len)
{
    cxr_status st = CXR_OK;
    struct stat sb;
    /* O_NONBLOCK: a FIFO in place of a file must not hang the reader; fstat refuses it below */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) /* out of descriptors or memory: the run stops, the file is not skipped */
        return cxr_set_error(cxr_open_status(errno), "cannot open: %s%s", strerror(errno),
                             cxr_open_note(errno));
    if (fstat(fd, &sb) != 0) CXR_THROW(CXR_E_IO, "cannot stat: %s", strerror(errno));
    if (!S_ISREG(sb.st_mode)) CXR_THROW(CXR_E_IO, "not a regular file");
    if (sb.st_size == 0) CXR_THROW(CXR_E_DECODE, "empty file");
    if ((uint64_t)sb.st_size > CXR_JPEG_MAX_FILE)
        CXR_THROW(CXR_E_DECODE, "file larger than %u MiB", CXR_JPEG_MAX_FILE >> 20);
    size_t want = (size_t)sb.st_size, got = 0;
    void *g = grow(d->file, &d->cap_file, want);
    if (!g) CXR_THROW(CXR_E_NOMEM, "out of memory reading %zu bytes", want);
    d->file = g;
    while (got < want) {
        ssize_t r = read(fd, d->file + got, want - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) CXR_THROW(CXR_E_IO, "read failed: %s", strerror(errno));
        if (r == 0) break;
        got += (size_t)r;
    }
    if (got != want) CXR_THROW(CXR_E_DECODE, "short read (%zu of %zu bytes)", got, want);
    *len = got;
bail:
    close(fd);
    return st;
}

const uint8_t *cxr_decoder_file(const cxr_decoder *d) { return d->file; }

cxr_status cxr_decode_file(cxr_decoder *d, const cxr_preprocess_params *p, const char *path,
                           float *out, uint64_t *bytes)
{
    size_t len = 0;
    cxr_status st = read_file(d, path, &len);
    if (bytes) *bytes = len;
    if (st == CXR_OK) st = cxr_preprocess_jpeg(d, p, d->file, len, out);
    return st;
}

cxr_status cxr_preprocess_file(cxr_decoder *d, const cxr_preprocess_params *p, const char *path,
                               float *out)
{
    cxr_status st = cxr_decode_file(d, p, path, out, NULL);
    if (st != CXR_OK) return cxr_wrap_error(st, "%s", path);
    return CXR_OK;
}
