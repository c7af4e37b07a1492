/* cxr_preprocess.h: one JPEG in, one normalized square float32 tensor out.
 *
 * The same code serves cxr-pack (building a store) and cxr-predict (applying a store's
 * preprocessing, read back from its attributes), so a model sees identical inputs in both.
 * Steps, each documented in specs/store.md and exposed for unit tests:
 *   decode (libjpeg-turbo, reduced DCT scale when the image is >= 2x the target)
 *   -> grayscale (BT.601 luma) -> optional aspect center-crop -> antialiased resize
 *   -> histogram equalization (256 bins, of the whole image by default, or CLAHE)
 *   -> normalization (min-max to [-1,1] by default).
 */
#ifndef CXR_PREPROCESS_H
#define CXR_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CXR_NORM_MINMAX = 0,    /* per image: (x - min) / (max - min) * 2 - 1; constant -> 0 */
    CXR_NORM_ZSCORE255 = 1, /* per image: z = (x - mean)/std, then min-max of z to [0,255] */
    CXR_NORM_NONE = 2       /* equalized 8-bit values as float, 0..255 */
} cxr_norm;

/* Values of cxr_preprocess_params.equalize (the store's and the checkpoint's `equalize`). */
enum {
    CXR_EQUALIZE_NONE = 0,   /* none */
    CXR_EQUALIZE_GLOBAL = 1, /* 256-bin histogram equalization of the whole image (the study's) */
    CXR_EQUALIZE_CLAHE = 2   /* contrast-limited adaptive equalization: CXR_CLAHE_TILES^2 tiles,
                                clip limit clahe_clip (cxr_clahe) */
};
#define CXR_CLAHE_TILES 8
#define CXR_CLAHE_CLIP     2.0   /* the default clahe_clip, and what a file without one used */
#define CXR_CLAHE_CLIP_MAX 256.0 /* above this no tile bin is ever clipped */

typedef struct {
    int size;           /* output side in pixels (default 256) */
    int equalize;       /* a CXR_EQUALIZE_* (default CXR_EQUALIZE_GLOBAL) */
    cxr_norm normalize; /* default CXR_NORM_MINMAX */
    double crop_ratio;  /* center-crop to square when |w/h - 1| > crop_ratio; 0: never (below
                           0: refused, cxr_preprocess_check) */
    int max_side;       /* reject images with a side larger than this (default 16384) */
    double clahe_clip;  /* CLAHE's clip limit, (0, CXR_CLAHE_CLIP_MAX] (default CXR_CLAHE_CLIP);
                           read only when equalize is CXR_EQUALIZE_CLAHE */
} cxr_preprocess_params;

/* Defaults above (the chest X-ray study's preprocessing). */
void cxr_preprocess_defaults(cxr_preprocess_params *p);
/* Stable text names for attributes: "minmax", "zscore255", "none"; parse returns CXR_E_ARG. */
const char *cxr_norm_name(cxr_norm n);
cxr_status cxr_norm_parse(const char *name, cxr_norm *out);
/* The range a normalization's pixels lie in: minmax [-1, 1]; zscore255 and none [0, 255]. */
void cxr_norm_range(cxr_norm n, double *lo, double *hi);
/* Names of the CXR_EQUALIZE_* values: "none", "global", "clahe" (NULL for another value);
 * parse returns CXR_E_ARG. */
const char *cxr_equalize_name(int equalize);
cxr_status cxr_equalize_parse(const char *name, int *out);
/* 1 if a and b apply the same steps to an image at a given size: the same equalize (and, for
 * CLAHE, clahe_clip), normalize and crop_ratio. size and max_side are not compared. */
int cxr_preprocess_same_steps(const cxr_preprocess_params *a, const cxr_preprocess_params *b);
/* p's equalization for messages, in buf: "none", "global", or "clahe clip C"; returns buf. */
const char *cxr_equalize_label(const cxr_preprocess_params *p, char *buf, size_t n);
/* a's and b's steps side by side for a mismatch message, in buf: "size A/B, equalize A/B,
 * normalize A/B, crop ratio A/B" ("size" only when with_size); returns buf. */
const char *cxr_preprocess_pair_label(const cxr_preprocess_params *a,
                                      const cxr_preprocess_params *b, int with_size, char *buf,
                                      size_t n);
/* CXR_OK if p is usable: size 1..16384, max_side >= 1, a known equalize, a known normalize,
 * a finite crop_ratio, a clahe_clip in (0, CXR_CLAHE_CLIP_MAX] when equalize is CLAHE; else
 * CXR_E_ARG saying which (the caller adds the file name). */
cxr_status cxr_preprocess_check(const cxr_preprocess_params *p);

/* Per-thread decoder: a turbojpeg handle plus scratch buffers that grow as needed. */
typedef struct cxr_decoder cxr_decoder;
cxr_decoder *cxr_decoder_create(void);    /* NULL on allocation failure */
void cxr_decoder_destroy(cxr_decoder *d); /* NULL-safe */

/* Decode and preprocess an in-memory JPEG into out[size*size] (row-major, float32).
 * Never exits or prints; a corrupt-data warning is an error. On failure returns CXR_E_DECODE
 * (or CXR_E_NOMEM) with the reason in cxr_last_error() (the caller adds the file name). */
cxr_status cxr_preprocess_jpeg(cxr_decoder *d, const cxr_preprocess_params *p, const uint8_t *jpeg,
                               size_t len, float *out);
/* The largest input file cxr_decode_file reads: it bounds the per-thread read buffer. */
#define CXR_JPEG_MAX_FILE (64u << 20)

/* Read the file at `path` into d's buffer and preprocess it as cxr_preprocess_jpeg: what
 * cxr-pack does with each input and cxr-predict with each image. Never blocks on a FIFO (opened
 * O_NONBLOCK, then refused as "not a regular file"). *bytes (may be NULL) gets the bytes read,
 * also when decoding then fails. Errors, with the reason alone in cxr_last_error() (the caller
 * adds the file name; cxr-pack records it as the skip reason): CXR_E_IO (cannot open, stat or
 * read; not a regular file), CXR_E_DECODE (empty file, larger than CXR_JPEG_MAX_FILE, short
 * read, not a usable JPEG), CXR_E_NOMEM. */
cxr_status cxr_decode_file(cxr_decoder *d, const cxr_preprocess_params *p, const char *path,
                           float *out, uint64_t *bytes);
/* The bytes of the file the last cxr_decode_file call on d read (as many as it reported), valid
 * until the next call on d; for hashing the input (cxr-pack's duplicate detection). */
const uint8_t *cxr_decoder_file(const cxr_decoder *d);
/* cxr_decode_file, with the error message naming the file. */
cxr_status cxr_preprocess_file(cxr_decoder *d, const cxr_preprocess_params *p, const char *path,
                               float *out);

/* What the last successful cxr_preprocess_jpeg/_file call on `d` did (all zero after a
 * failure): source size and TurboJPEG colorspace (TJCS_*), the DCT scaling factor used
 * (num/denom, 1/1 = full size), the decoded size, and the crop rectangle in decoded pixels.
 * For tests, benchmarks and logs. */
typedef struct {
    int width, height, colorspace;
    int scale_num, scale_denom;
    int scaled_width, scaled_height;
    int crop_x, crop_y, crop_w, crop_h;
} cxr_decode_info;
void cxr_decoder_last_info(const cxr_decoder *d, cxr_decode_info *info);

/* Text for the store's `resize_filter` attribute: names the filter cxr_resize implements. */
#define CXR_RESIZE_FILTER_NAME "antialiased bilinear (triangle, support scaled by downscale factor)"

/* ---- individual steps (exposed for unit tests) ---- */
/* Interleaved RGB (3 bytes/pixel) to BT.601 luma, rounded: Y = 0.299R + 0.587G + 0.114B. */
void cxr_rgb_to_gray(uint8_t *dst, const uint8_t *rgb, size_t n_pixels);
/* Center crop rectangle (x0,y0,w,h) for a w x h image under crop_ratio (identity if not
 * cropped). */
void cxr_crop_box(int w, int h, double crop_ratio, int *x0, int *y0, int *cw, int *ch);
/* Antialiased resize of an 8-bit gray image (src w x h, row stride `stride`) to dst (dw x dh) as
 * float in 0..255. Filter documented in specs/store.md. */
void cxr_resize(float *dst, int dw, int dh, const uint8_t *src, int w, int h, int stride);
/* Histogram equalization over 256 bins of the (rounded) 0..255 values, in place. */
void cxr_equalize(float *img, size_t n);
/* Contrast-limited adaptive histogram equalization (CLAHE), in place, of a w x h image of values
 * 0..255 (rounded to 256 bins like cxr_equalize): the image is cut into tiles x tiles tiles
 * (tiles clamped to 1..8; fewer along a side shorter than that); each tile's histogram is
 * clipped at max(1, floor(clip * tile pixels / 256)) counts (clip <= 0: no clipping), the
 * excess spread over the 256 bins, and turned into an equalization table as cxr_equalize's;
 * each pixel's value is the bilinear blend of the tables of the four tiles whose centers
 * surround it. Output 0..255. With one tile and no clipping it equals cxr_equalize.
 * specs/store.md step 5b gives the details (not bit-compatible with OpenCV's CLAHE). */
void cxr_clahe(float *img, int w, int h, int tiles, double clip);
/* Normalization in place as described for cxr_norm. Constant images give finite values. */
void cxr_normalize(float *img, size_t n, cxr_norm mode);

#ifdef __cplusplus
}
#endif
#endif
