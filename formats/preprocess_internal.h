/* preprocess_internal.h: the pixel steps of preprocess.c that the decoder (decode.c) calls
 * between decoding a JPEG and returning its tensor. Not installed. */
#ifndef CXR_PREPROCESS_INTERNAL_H
#define CXR_PREPROCESS_INTERNAL_H

#include "cxr_preprocess.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* 1 when a w x h image is center-cropped to a square (cxr_crop_box) */
static inline int cxr_wants_crop(int w, int h, double crop_ratio)
{
    return crop_ratio > 0.0 && h > 0 && fabs((double)w / (double)h - 1.0) > crop_ratio;
}

/* 1 when the w x h window (rows `stride` bytes apart) holds one value: a real image differs
 * within its first few pixels, so this costs next to nothing */
static inline int cxr_window_constant(const uint8_t *px, int w, int h, int stride)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (px[(size_t)y * stride + x] != px[0]) return 0;
    return 1;
}

static inline void cxr_center_square(int w, int h, int *x0, int *y0, int *cw, int *ch)
{
    int side = w < h ? w : h;
    *x0 = (w - side) / 2;
    *y0 = (h - side) / 2;
    *cw = *ch = side;
}

/* Coefficient table of one axis: per output pixel, first tap and count; weights padded to
 * kmax per output pixel. lop/wp are the same taps as exactly kmax per pixel starting at lop
 * (moved left where lo + kmax would pass the end, with zero weights in front), for loops with
 * a fixed trip count: a zero-weight tap adds +0 to a sum of nonnegative terms, so the result
 * is the same to the bit, and the branch on a per-pixel count (2-4 taps, mispredicted) goes. */
typedef struct {
    int in, out, kmax;
    double off, ext; /* the source extent (span_of, preprocess.c) */
    int *lo, *n, *lop;
    float *w, *wp;
    float *ws; /* wp transposed: ws[k * out + i] = wp[i * kmax + k], for 4-wide SIMD loads */
    size_t cap_out, cap_w;
} axis_table;

/* The table of an axis of `in` source pixels whose extent [off, off + ext) is resized to `out`
 * (scratch grown as needed; CXR_E_NOMEM), and its memory freed. */
cxr_status cxr_axis_table_build(axis_table *t, int in, double off, double ext, int out);
void cxr_axis_table_free(axis_table *t);
/* Resize the w-wide window at src (rows `stride` bytes apart) by the two tables into dst
 * (tx->out x ty->out); tmp holds ty->out * w floats. The same to the bit as cxr_resize. */
void cxr_resize_tables(float *dst, const uint8_t *src, int w, int stride, const axis_table *tx,
                       const axis_table *ty, float *tmp);
/* cxr_equalize then cxr_normalize(mode) for mode minmax or none, bit for bit; bins: n bytes of
 * scratch. */
void cxr_equalize_normalize(float *img, uint8_t *bins, size_t n, cxr_norm mode);

#endif
