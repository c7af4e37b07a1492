/* cxr_augment.h: train-time augmentation and test-time transforms of a decoded image (one
 * channel, S x S floats, already equalized and normalized by the store), applied by the loader's
 * worker threads (cxr_loader_options.augment) and by test-time augmentation (cxr-eval and
 * cxr-predict --tta). specs/model.md "Augmentation" gives the reasons for the ranges.
 *
 * A transform (cxr_augment_xform) maps output pixel (x, y), with c = (S-1)/2, to the input point
 *   flip:  x' = S-1-x if flip else x
 *   d    = (x' - c - tx, y - c - ty)
 *   src  = ((cos a * d.x + sin a * d.y) / sx, (-sin a * d.x + cos a * d.y) / sy) + c
 *   sx = scale * sqrt(aspect), sy = scale / sqrt(aspect)
 * i.e. the input is scaled by `scale` about the centre (stretched to `aspect` = width/height
 * factor, area kept), rotated by `a` (radians), shifted by (tx, ty) pixels, then mirrored
 * left-right when flip is set. The value at src is bilinear in
 * the four neighbouring pixels; a neighbour outside the image takes the image's minimum (its
 * background: -1 in a store normalized to [-1,1]). Then, when detail != 1, v = b + detail *
 * (v - b) where b is the warped image blurred by a Gaussian of CXR_AUGMENT_DETAIL_SIGMA pixels
 * (separable, taps to 3 sigma, edges replicated): detail < 1 softens the fine structure (ribs,
 * vessels, film grain), > 1 sharpens it (an unsharp mask), and the large-scale brightness stays.
 * Then v = contrast * (v - m) + brightness * h + m, clamped to the input image's [min, max],
 * where m = (min + max) / 2 and h = (max - min) / 2 are the centre and half-width of that range
 * (each product and sum rounded to float in this order; m added only when not 0): contrast
 * about the centre, brightness in units of the half-width, so that the ranges mean the same on
 * a store normalized to [-1, 1] (m = 0, h = 1: v = contrast * v + brightness, to the bit) and on
 * a zscore255 one (every image spans [0, 255]: m = h = 127.5; a none store's images span what
 * equalization left; before 0.17, m = 0 and h = 1 on every image). Last, when
 * border > 0, the outer B = floor(border * S) pixels on every side take the image's minimum (the
 * background), hiding the film's periphery.
 * Last of all, random erasing (Zhong et al., AAAI 2020): with probability erase_p, the
 * rectangle of erase_w x erase_h pixels at (erase_x, erase_y) takes noise uniform in the input
 * image's [min, max], drawn row by row from the splitmix64 state erase_seed.
 *
 * Randomness: the transform of image `index` (its index in the store's split) in epoch `epoch`
 * (0-based) of a run with seed `seed` is drawn from the splitmix64 sequence (cxr_splitmix.h)
 * whose state is
 *   mix(seed ^ mix(G*(stream+1) ^ mix(G*(epoch+1) ^ mix(G*(index+1)))))   stream = 2
 * (the loader's shuffle uses stream 1), ten draws in this order, each u = (next >> 40) * 2^-24
 * in [0,1): rotation a = rotate_deg * pi/180 * (2u-1); scale = scale_min + (scale_max -
 * scale_min) * u; tx = translate * S * (2u-1); ty likewise; contrast = 1 + contrast * (2u-1);
 * brightness = brightness * (2u-1); flip = hflip && u < 0.5; aspect = exp(log aspect_min +
 * (log aspect_max - log aspect_min) * u) (log-uniform: a stretch and its inverse are equally
 * likely; computed in double, so 1:1 gives exactly 1); detail likewise from detail_min..max;
 * border = border_min + (border_max - border_min) * u; then five for erasing: erase when u <
 * erase_p; area a = erase_min + (erase_max - erase_min) * u (a fraction of S^2); width/height
 * r = R^(2u-1), R = CXR_AUGMENT_ERASE_RATIO; erase_x = floor(u * (S - w + 1)), erase_y likewise,
 * with w = lrint(sqrt(a S^2 r)), h = lrint(sqrt(a S^2 / r)), each at most S (a = 0: nothing
 * erased); then erase_seed = the next word. Every draw is made whatever the ranges,
 * so that one range does not change the others' values (the eighth to fifteenth, added later,
 * leave the earlier draws of every earlier run as they were). The image is therefore a pure
 * function of (params, seed, epoch, index, input): never of threads, timing or batch.
 */
#ifndef CXR_AUGMENT_H
#define CXR_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ranges of the random transform. All zero (scale 1..1): no augmentation. */
typedef struct cxr_augment_params {
    float rotate_deg;           /* rotation uniform in [-rotate_deg, rotate_deg] degrees */
    float scale_min, scale_max; /* zoom uniform in [scale_min, scale_max] (> 0) */
    float translate;            /* shift per axis uniform in [-t, t] x the image side */
    float brightness;           /* added offset uniform in [-b, b] (normalized units: of the
                                   image's half-range) */
    float contrast;             /* factor uniform in [1-k, 1+k] about the centre of the
                                   image's [min, max] */
    int hflip;                  /* 1: mirror left-right with probability 1/2 */
    float aspect_min, aspect_max; /* width/height stretch log-uniform in [min, max] (> 0) */
    float detail_min, detail_max; /* gain of the fine detail log-uniform in [min, max] (> 0) */
    float border_min, border_max; /* hidden outer band uniform in [min, max] x the side */
    float erase_min, erase_max;   /* erased rectangle's area uniform in [min, max] x S^2 */
    float erase_p;                /* probability of erasing (> 0; CXR_AUGMENT_ERASE_P) */
} cxr_augment_params;

/* Random erasing's defaults, Zhong et al.'s: probability 1/2, width/height in [1/3.3, 3.3]. */
#define CXR_AUGMENT_ERASE_P     0.5f
#define CXR_AUGMENT_ERASE_RATIO 3.3

/* The blur that separates fine detail from the rest (see above), in pixels of the S x S image. */
#define CXR_AUGMENT_DETAIL_SIGMA 4
/* One drawn transform (see above). */
typedef struct {
    float angle;  /* radians */
    float scale;  /* > 0 */
    float tx, ty; /* pixels */
    float contrast, brightness;
    int flip;
    float aspect; /* width/height stretch, area kept; 1: none */
    float detail; /* gain of the detail under CXR_AUGMENT_DETAIL_SIGMA px; 1: none */
    float border; /* the outer band set to the background, a fraction of the side; 0: none */
    int erase_x, erase_y, erase_w, erase_h; /* the erased rectangle, pixels; w or h 0: none */
    uint64_t erase_seed;                    /* the state its noise is drawn from */
} cxr_augment_xform;

/* No augmentation: every range 0, scale, aspect and detail 1..1, no flip, no border, no
 * erasing (erase 0..0, erase_p CXR_AUGMENT_ERASE_P). */
void cxr_augment_params_none(cxr_augment_params *p);
/* The default augmentation: rotate 10 degrees, scale 0.9-1.1, translate 0.08, brightness 0.1,
 * contrast 0.1, no flip (a chest is not left-right symmetric). */
void cxr_augment_params_default(cxr_augment_params *p);
/* 1 when p can change an image (some range is not the identity's), else 0. */
int cxr_augment_active(const cxr_augment_params *p);
/* 1 when p draws anything from its seed (a range, a flip, an erased rectangle's place), 0 when
 * every image gets the same change (MIN:MAX ranges with MIN = MAX) or none. */
int cxr_augment_draws(const cxr_augment_params *p);

/* Parse an augmentation spec into *p: "none", "default", or comma-separated key=value pairs
 * that change the none params ("default,key=value,..." changes the default's): rotate=DEG,
 * scale=MIN:MAX, translate=F, brightness=F, contrast=F, hflip=0|1, aspect=MIN:MAX,
 * detail=MIN:MAX, border=MIN:MAX, erase=MIN:MAX, erase_p=P. Ranges: rotate 0..45, scale and
 * aspect 0.5..2, detail 0.25..4, border 0..0.4 and erase 0..0.5 with MIN <= MAX, translate
 * 0..0.5, brightness 0..1, contrast 0..0.9, erase_p above 0 up to 1 and only with an erase
 * range (MAX > 0). CXR_E_ARG naming the bad part otherwise (*p unchanged). */
cxr_status cxr_augment_parse(const char *spec, cxr_augment_params *p);
/* CXR_E_ARG naming it when a number of `spec` other than 0 is below the least normal float
 * once rounded to one (the loader's threads flush it to 0: that part of the augmentation would
 * be off, unsaid), else CXR_OK. For command lines: the tools refuse such a spec, while
 * cxr_augment_parse reads one that a checkpoint stored before they did. */
cxr_status cxr_augment_check_normal(const char *spec);
/* The canonical spec of p into buf (cap bytes): "none" when inactive, else
 * "rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1,hflip=0", with
 * ",aspect=MIN:MAX", ",detail=MIN:MAX", ",border=MIN:MAX" and ",erase=MIN:MAX,erase_p=P" appended
 * only when their range is not the identity's (1:1, 1:1, 0:0, 0:0; so the specs of earlier
 * runs are unchanged), in the shortest %g form that reads back as the same
 * float: parsing it gives p back exactly. At most CXR_AUGMENT_SPEC_MAX bytes with the
 * terminator. */
#define CXR_AUGMENT_SPEC_MAX 320
void cxr_augment_format(const cxr_augment_params *p, char *buf, size_t cap);

/* The transform of (seed, epoch, index) under p for an S x S image (see above). */
void cxr_augment_draw(const cxr_augment_params *p, uint64_t seed, int epoch, int64_t index,
                      int size, cxr_augment_xform *x);
/* 1 when x leaves every image unchanged. */
int cxr_augment_xform_is_identity(const cxr_augment_xform *x);
/* dst (S,S) = x applied to src (S,S); dst and src must not overlap. An identity transform
 * copies src bit for bit. */
void cxr_augment_apply(const cxr_augment_xform *x, const float *src, float *dst, int size);
/* cxr_augment_draw + cxr_augment_apply, computed as the loader's threads compute them
 * (denormals flushed), the calling thread's floating-point mode left as it was. */
void cxr_augment_image(const cxr_augment_params *p, uint64_t seed, int epoch, int64_t index,
                       const float *src, float *dst, int size);

/* Test-time augmentation: the fixed transforms t = 0 .. CXR_TTA_MAX-1 (0 is the identity) that
 * --tta N averages over (t < N): mild, inside the default training ranges, no flip, no stretch,
 * no photometric change and no erasing. */
#define CXR_TTA_MAX 8
void cxr_augment_tta_xform(int t, int size, cxr_augment_xform *x);

#ifdef __cplusplus
}
#endif
#endif
