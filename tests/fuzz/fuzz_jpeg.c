/* fuzz_jpeg.c: libFuzzer target for JPEG decode + preprocessing (formats/cxr_preprocess.h).
 * Each input is preprocessed with the store's defaults (what cxr-pack and cxr-predict do),
 * then with parameters picked by the input's last byte (output side, normalization,
 * equalization, crop; JPEG decoders ignore bytes after the end marker), then with the defaults
 * again. Oracles beyond the sanitizers: a success gives finite values in the range of the
 * normalization, and the decoder's state never leaks into the next call (the third call equals
 * the first, status and every bit). */
#include <math.h>

#include "cxr_preprocess.h"
#include "fuzz_common.h"

#define MAX_SIDE 256

static void check_range(const float *out, int side, cxr_norm mode)
{
    double lo = mode == CXR_NORM_MINMAX ? -1.0 : 0.0, hi = mode == CXR_NORM_MINMAX ? 1.0 : 255.0;
    size_t n = (size_t)side * side;
    for (size_t i = 0; i < n; i++)
        FUZZ_CHECK(isfinite(out[i]) && out[i] >= lo - 1e-4 && out[i] <= hi + 1e-4,
                   "pixel %zu of %zu is %g, outside [%g,%g] (%s)", i, n, out[i], lo, hi,
                   cxr_norm_name(mode));
}

static void params_from_byte(cxr_preprocess_params *p, uint8_t b)
{
    static const int sides[4] = { 8, 17, 64, MAX_SIDE };
    static const double crops[4] = { 0.0, 0.2, 1e-9, -1.0 };
    cxr_preprocess_defaults(p);
    p->size = sides[b & 3];
    p->normalize = (cxr_norm)((b >> 2) % 3);
    p->equalize = (b >> 4) & 1;
    p->crop_ratio = crops[(b >> 5) & 3];
    if (b & 0x80) p->max_side = 200; /* the refusal path: data/sample images are 224 wide */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cxr_decoder *d;
    static float *a, *b;
    if (!d) {
        d = cxr_decoder_create();
        a = malloc(sizeof(float) * MAX_SIDE * MAX_SIDE);
        b = malloc(sizeof(float) * MAX_SIDE * MAX_SIDE);
        if (!d || !a || !b) abort();
    }
    cxr_preprocess_params def, var;
    cxr_preprocess_defaults(&def);
    FUZZ_CHECK(def.size <= MAX_SIDE, "default size %d", def.size);
    params_from_byte(&var, size ? data[size - 1] : 0);

    cxr_status s1 = cxr_preprocess_jpeg(d, &def, data, size, a);
    char why1[512]; /* the first decode's error, for the report below */
    snprintf(why1, sizeof why1, "%s", s1 == CXR_OK ? "no error" : cxr_last_error());
    if (s1 == CXR_OK) check_range(a, def.size, def.normalize);
    cxr_status s2 = cxr_preprocess_jpeg(d, &var, data, size, b);
    if (s2 == CXR_OK) check_range(b, var.size, var.normalize);
    cxr_status s3 = cxr_preprocess_jpeg(d, &def, data, size, b);
    FUZZ_CHECK(s3 == s1, "same input, same parameters: status %s (%s) then %s (%s)",
               cxr_status_name(s1), why1, cxr_status_name(s3),
               s3 == CXR_OK ? "no error" : cxr_last_error());
    if (s1 == CXR_OK)
        FUZZ_CHECK(memcmp(a, b, sizeof(float) * def.size * def.size) == 0,
                   "same input, same parameters, different pixels");
    return 0;
}
