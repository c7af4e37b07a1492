/* test_jpeg.c: end-to-end preprocessing on JPEGs this test makes itself with tjCompress2, and
 * bad inputs it writes to a scratch folder (argv[1]). Checks the reduced-scale DCT decode
 * against full-scale decode + resize, the 3- and 4-channel paths, upscaling, the crop path,
 * determinism across decoders and the resize-table cache, and that every bad file gives
 * CXR_E_DECODE with the file name and the reason. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>

#include "cxr_preprocess.h"
#include "arith_jpeg.h"
#include "cxr_test.h"

static const char *tmpdir;    /* main: where the test writes its JPEGs */
static char valid_path[4096]; /* a good JPEG, decoded after every bad one */

/* ---- helpers ---- */

typedef struct {
    unsigned char *buf;
    unsigned long len;
} jpeg_buf;

static jpeg_buf compress_flags(const uint8_t *px, int w, int h, int pf, int subsamp, int quality,
                               int flags)
{
    jpeg_buf j = { NULL, 0 };
    tjhandle c = tjInitCompress();
    REQUIRE(c != NULL);
    if (tjCompress2(c, px, w, 0, h, pf, &j.buf, &j.len, subsamp, quality, flags)) {
        fprintf(stderr, "tjCompress2: %s\n", tjGetErrorStr2(c));
        exit(1);
    }
    tjDestroy(c);
    return j;
}

static jpeg_buf compress(const uint8_t *px, int w, int h, int pf, int subsamp, int quality)
{
    return compress_flags(px, w, h, pf, subsamp, quality, TJFLAG_ACCURATEDCT);
}

/* Full-scale decode to gray (for references). */
static uint8_t *decode_gray_full(const jpeg_buf *j, int *w, int *h)
{
    tjhandle d = tjInitDecompress();
    int ss, cs;
    REQUIRE(d && tjDecompressHeader3(d, j->buf, j->len, w, h, &ss, &cs) == 0);
    uint8_t *g = malloc((size_t)*w * *h);
    REQUIRE(g && tjDecompress2(d, j->buf, j->len, g, *w, 0, *h, TJPF_GRAY, 0) == 0);
    tjDestroy(d);
    return g;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(len == 0 || fwrite(data, 1, len, f) == len);
    REQUIRE(fclose(f) == 0);
}

static void diff_stats(const float *a, const float *b, size_t n, double *max_abs, double *mean_abs)
{
    double mx = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= mx)) mx = d; /* NaN propagates to mx */
        sum += d;
    }
    *max_abs = mx;
    *mean_abs = sum / (double)n;
}

static cxr_preprocess_params raw_params(int size)
{
    /* resize output only: no equalization, no normalization, no crop */
    cxr_preprocess_params p;
    cxr_preprocess_defaults(&p);
    p.size = size;
    p.equalize = 0;
    p.normalize = CXR_NORM_NONE;
    return p;
}

/* A smooth 1024 x 2048 gradient: v = 0.45*255*x/W + 0.45*255*y/H + 10 sin(2 pi x/256). */
static uint8_t *gradient(int w, int h)
{
    uint8_t *g = malloc((size_t)w * h);
    REQUIRE(g != NULL);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double v = 0.45 * 255.0 * x / w + 0.45 * 255.0 * y / h +
                       10.0 * sin(2.0 * 3.14159265358979 * x / 256.0) + 12.0;
            g[(size_t)y * w + x] = (uint8_t)lrint(v);
        }
    return g;
}

/* ---- tests ---- */

static void test_dct_scaling(cxr_decoder *d)
{
    const int W = 1024, H = 2048, S = 256;
    uint8_t *g = gradient(W, H);
    jpeg_buf j = compress(g, W, H, TJPF_GRAY, TJSAMP_GRAY, 95);
    float *out = malloc(sizeof(float) * S * S), *ref = malloc(sizeof(float) * S * S);
    REQUIRE(out && ref);

    cxr_preprocess_params p = raw_params(S);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decode_info info;
    cxr_decoder_last_info(d, &info);
    /* smallest factor keeping both sides >= 256: 1/4 gives 256 x 512, 1/8 would give 128 */
    CHECK(info.width == W && info.height == H && info.colorspace == TJCS_GRAY);
    CHECK(info.scale_num * 4 == info.scale_denom);
    CHECK(info.scaled_width == 256 && info.scaled_height == 512);
    CHECK(info.crop_x == 0 && info.crop_y == 0 && info.crop_w == 256 && info.crop_h == 512);

    /* Reference: decode at full scale, resize 1024 x 2048 -> 256 x 256 directly. The 1/4 DCT
     * scale is itself a low-pass (4x4 block means for smooth content), so on this smooth image
     * the two paths agree to well under a gray level; 1.0 max / 0.25 mean is the bound we
     * promise in specs/store.md for smooth content. */
    int fw, fh;
    uint8_t *full = decode_gray_full(&j, &fw, &fh);
    cxr_resize(ref, S, S, full, fw, fh, fw);
    double mx, mean;
    diff_stats(out, ref, (size_t)S * S, &mx, &mean);
    printf("dct 1/4 vs full decode + resize: max |diff| %.4f, mean %.4f\n", mx, mean);
    CHECK(mx <= 1.0);
    CHECK(mean <= 0.25);

    /* Crop path: crop_ratio 0.2, w/h = 0.5 -> square of side 1024 -> scale 1/4 (256) -> the
     * decoded 256 x 512 is cropped to rows 128..383 and resized 256 -> 256 (identity). */
    p.crop_ratio = 0.2;
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decoder_last_info(d, &info);
    CHECK(info.scale_num * 4 == info.scale_denom);
    CHECK(info.crop_x == 0 && info.crop_y == 128 && info.crop_w == 256 && info.crop_h == 256);
    cxr_resize(ref, S, S, full + (size_t)512 * fw, 1024, 1024, fw);
    diff_stats(out, ref, (size_t)S * S, &mx, &mean);
    printf("cropped, dct 1/4 vs full decode + crop + resize: max %.4f, mean %.4f\n", mx, mean);
    CHECK(mx <= 1.0);
    CHECK(mean <= 0.25);

    /* Defaults (equalize + minmax): finite, in [-1, 1], reaching both ends. */
    cxr_preprocess_defaults(&p);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    float lo = out[0], hi = out[0];
    int finite = 1;
    for (int i = 0; i < S * S; i++) {
        finite &= isfinite(out[i]) != 0;
        lo = fminf(lo, out[i]);
        hi = fmaxf(hi, out[i]);
    }
    CHECK(finite && lo == -1.0f && hi == 1.0f);

    free(full);
    free(out);
    free(ref);
    tjFree(j.buf);
    free(g);
}

/* A side that is not a multiple of the scale's denominator: 1026 at 1/4 is 256.5 scaled pixels,
 * decoded as 257 (TJSCALED rounds up). Resized as 257 whole pixels, the image was stretched
 * towards its right and bottom edges by up to 2 source pixels: on this pattern (a sine of period
 * 180 px and amplitude 100 across, times a cosine down) a mean |diff| of 2.05 against a full
 * decode + resize, 3.6 over the last 16 columns; resized over its exact extent, 0.18 and 0.16,
 * as at 1024 (0.28). */
static void test_dct_scaling_partial_pixel(cxr_decoder *d)
{
    const int W = 1026, S = 256;
    uint8_t *g = malloc((size_t)W * W);
    float *out = malloc(sizeof(float) * S * S), *ref = malloc(sizeof(float) * S * S);
    REQUIRE(g && out && ref);
    for (int y = 0; y < W; y++)
        for (int x = 0; x < W; x++)
            g[(size_t)y * W + x] = (uint8_t)lrint(128.0 + 100.0 * sin(2.0 * M_PI * x / 180.0) *
                                                              cos(2.0 * M_PI * y / 240.0));
    jpeg_buf j = compress(g, W, W, TJPF_GRAY, TJSAMP_GRAY, 98);
    cxr_preprocess_params p = raw_params(S);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decode_info info;
    cxr_decoder_last_info(d, &info);
    CHECK(info.scale_num * 4 == info.scale_denom && info.scaled_width == 257);
    int fw, fh;
    uint8_t *full = decode_gray_full(&j, &fw, &fh);
    cxr_resize(ref, S, S, full, fw, fh, fw);
    double mx, mean, edge = 0;
    diff_stats(out, ref, (size_t)S * S, &mx, &mean);
    for (int y = 0; y < S; y++)
        for (int x = S - 16; x < S; x++) edge += fabs(out[y * S + x] - ref[y * S + x]);
    edge /= 16.0 * S;
    printf("dct 1/4 of 1026 x 1026 vs full decode + resize: max %.4f, mean %.4f, last 16 columns "
           "%.4f\n",
           mx, mean, edge);
    CHECK(mean <= 0.25 && edge <= 0.25);
    free(full);
    free(out);
    free(ref);
    tjFree(j.buf);
    free(g);
}

/* A constant JPEG gives zeros (specs/store.md) at any size and in every mode but none: its
 * region resizes to exactly its value (the weights' float sums left it some ulps apart, more
 * the more taps, which min-max stretched to -1..1: a 60 x 50 constant at 16 px, a 410 x 300 at
 * 256, a 4000 x 3000 after a 1/8 DCT decode at 16), and CLAHE keeps it constant at sizes whose
 * tiles differ in area (224, 100, 33) */
static void test_constant_images(cxr_decoder *d)
{
    const int dims[][2] = { { 60, 50 }, { 410, 300 }, { 4000, 3000 }, { 1026, 771 } };
    const int sizes[] = { 16, 33, 100, 224, 256 };
    const int values[] = { 1, 77, 255 };
    const int eq[] = { 0, 1, 2 }, norm[] = { CXR_NORM_MINMAX, CXR_NORM_ZSCORE255 };
    float *out = malloc(sizeof(float) * 256 * 256);
    REQUIRE(out);
    int bad = 0;
    for (int di = 0; di < 4; di++)
        for (int vi = 0; vi < 3; vi++) {
            const int W = dims[di][0], H = dims[di][1];
            uint8_t *g = malloc((size_t)W * H);
            REQUIRE(g);
            memset(g, values[vi], (size_t)W * H);
            jpeg_buf j = compress(g, W, H, TJPF_GRAY, TJSAMP_GRAY, 90);
            for (int si = 0; si < 5; si++)
                for (int e = 0; e < 3; e++)
                    for (int nm = 0; nm < 2; nm++) {
                        cxr_preprocess_params p = raw_params(sizes[si]);
                        p.equalize = eq[e];
                        p.normalize = norm[nm];
                        CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
                        for (int i = 0; i < sizes[si] * sizes[si]; i++)
                            if (out[i] != 0.0f) {
                                if (bad++ < 5)
                                    printf("constant %d, %dx%d at %d, equalize %d, normalize %d: "
                                           "pixel %d is %g\n",
                                           values[vi], W, H, sizes[si], eq[e], norm[nm], i,
                                           (double)out[i]);
                                break;
                            }
                    }
            tjFree(j.buf);
            free(g);
        }
    CHECK(bad == 0);
    /* many taps (a 1/8 decode of 4000 x 16376, 2047 rows to 16): 16 ulps of tolerance on the
     * range did not cover the rounding (review) */
    const int W = 4000, H = 16376;
    uint8_t *g = malloc((size_t)W * H);
    REQUIRE(g);
    memset(g, 1, (size_t)W * H);
    jpeg_buf j = compress(g, W, H, TJPF_GRAY, TJSAMP_GRAY, 90);
    cxr_preprocess_params p = raw_params(16);
    p.normalize = CXR_NORM_MINMAX;
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    float lo = out[0], hi = out[0];
    for (int i = 1; i < 16 * 16; i++) lo = fminf(lo, out[i]), hi = fmaxf(hi, out[i]);
    CHECK(lo == 0.0f && hi == 0.0f);
    tjFree(j.buf);
    free(g);
    free(out);
}

static void test_color(cxr_decoder *d)
{
    /* 3-channel JPEG (YCbCr, 4:4:4, quality 100) decodes to its luma channel. Reference: our
     * BT.601 formula on the original RGB, then the same resize. Differences come from JPEG
     * rounding (q100 4:4:4: about 1 level) and libjpeg's 16-bit fixed-point luma (+-0.5). */
    const int W = 96, H = 80, S = 64;
    uint8_t rgb[96 * 80 * 3], gray[96 * 80];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *px = rgb + 3 * (y * W + x);
            px[0] = (uint8_t)(2 * x + 30);
            px[1] = (uint8_t)(3 * y);
            px[2] = (uint8_t)(250 - x - y);
        }
    cxr_rgb_to_gray(gray, rgb, (size_t)W * H);
    float out[64 * 64], ref[64 * 64];
    cxr_resize(ref, S, S, gray, W, H, W);
    cxr_preprocess_params p = raw_params(S);
    cxr_decode_info info;
    double mx, mean;

    jpeg_buf j = compress(rgb, W, H, TJPF_RGB, TJSAMP_444, 100);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decoder_last_info(d, &info);
    CHECK(info.colorspace == TJCS_YCbCr);
    CHECK(info.scale_num == info.scale_denom); /* 80 < 2*64: full scale */
    diff_stats(out, ref, (size_t)S * S, &mx, &mean);
    printf("RGB JPEG luma vs rgb_to_gray reference: max %.4f, mean %.4f\n", mx, mean);
    CHECK(mx <= 2.0);
    CHECK(mean <= 0.75);
    tjFree(j.buf);

    /* 4-channel: a CMYK image compressed as YCCK goes through CMYK -> RGB -> gray. libjpeg
     * writes an Adobe APP14 marker, so the samples are read as inverted (Adobe convention:
     * stored C' = 255 - C): C' = R and K' = 255 (K = 0) give back the RGB above. */
    uint8_t cmyk[96 * 80 * 4];
    for (int i = 0; i < W * H; i++) {
        for (int c = 0; c < 3; c++) cmyk[4 * i + c] = rgb[3 * i + c];
        cmyk[4 * i + 3] = 255;
    }
    j = compress(cmyk, W, H, TJPF_CMYK, TJSAMP_444, 100);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decoder_last_info(d, &info);
    CHECK(info.colorspace == TJCS_YCCK);
    diff_stats(out, ref, (size_t)S * S, &mx, &mean);
    printf("YCCK JPEG via CMYK->RGB->gray vs reference: max %.4f, mean %.4f\n", mx, mean);
    CHECK(mx <= 2.0);
    CHECK(mean <= 0.75);
    tjFree(j.buf);
}

static void test_resize_bitexact(cxr_decoder *d)
{
    /* The decoder's table-driven resize (SIMD on x86) must equal cxr_resize to the bit, for
     * widths that are not multiples of the vector width, up- and downscales with 2 to 5 taps,
     * and non-square sources (sizes below twice the target: no DCT scaling). */
    static const int sz[][3] = { { 37, 53, 20 },    { 37, 53, 101 },  { 250, 131, 77 },
                                 { 224, 224, 256 }, { 19, 300, 160 }, { 301, 17, 9 },
                                 { 64, 64, 64 } };
    for (size_t c = 0; c < sizeof sz / sizeof sz[0]; c++) {
        int W = sz[c][0], H = sz[c][1], S = sz[c][2];
        uint8_t *g = malloc((size_t)W * H);
        float *out = malloc(sizeof(float) * S * S), *ref = malloc(sizeof(float) * S * S);
        REQUIRE(g && out && ref);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                g[(size_t)y * W + x] = (uint8_t)((x * 13 + y * 5 + (x * y) % 23) & 255);
        jpeg_buf j = compress(g, W, H, TJPF_GRAY, TJSAMP_GRAY, 95);
        cxr_preprocess_params p = raw_params(S);
        CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
        cxr_decode_info info;
        cxr_decoder_last_info(d, &info);
        CHECK(info.scale_num == 1 && info.scale_denom == 1);
        int fw, fh;
        uint8_t *full = decode_gray_full(&j, &fw, &fh);
        cxr_resize(ref, S, S, full, fw, fh, fw);
        size_t bad = 0;
        for (size_t i = 0; i < (size_t)S * S; i++)
            bad += memcmp(&out[i], &ref[i], sizeof(float)) != 0;
        if (bad) {
            fprintf(stderr, "resize %dx%d -> %d: %zu values differ from cxr_resize\n", W, H, S,
                    bad);
            cxr_test_failures++;
        }
        free(full);
        tjFree(j.buf);
        free(g);
        free(out);
        free(ref);
    }
}

/* j with its DHT segments cut out: an abbreviated datastream that leaves libjpeg's standard
 * Huffman tables (what TurboJPEG wrote) to the decoder. */
static jpeg_buf without_huffman_tables(const jpeg_buf *j)
{
    jpeg_buf o = { malloc(j->len), 0 };
    REQUIRE(o.buf);
    memcpy(o.buf, j->buf, 2);
    size_t i = 2, n = 2;
    while (i + 4 <= j->len && j->buf[i] == 0xFF && j->buf[i + 1] != 0xDA) {
        const size_t seg = 2 + ((size_t)j->buf[i + 2] << 8 | j->buf[i + 3]);
        if (j->buf[i + 1] != 0xC4) memcpy(o.buf + n, j->buf + i, seg), n += seg;
        i += seg;
    }
    memcpy(o.buf + n, j->buf + i, j->len - i); /* the scan and what follows */
    o.len = n + j->len - i;
    return o;
}

/* An image is decoded the same whatever the decoder decoded before: libjpeg keeps the tables an
 * image defines for the next, so an image that defines none (here, no Huffman tables) decoded
 * with the previous image's (a progressive JPEG's optimized ones) instead of the standard ones:
 * corrupt data, or other pixels, depending on the thread's history (fuzz_jpeg's same-input
 * oracle found it; tests/fuzz/regressions/jpeg/state-*.jpg is its pair). */
static void test_no_state_between_images(cxr_decoder *d)
{
    const int W = 48;
    uint8_t g[48 * 48], h[48 * 48];
    for (int i = 0; i < W * W; i++) {
        g[i] = (uint8_t)((i * 37 + (i / W) * 11) & 255);
        h[i] = (uint8_t)(255 - ((i * 13) % 251));
    }
    jpeg_buf plain = compress(g, W, W, TJPF_GRAY, TJSAMP_GRAY, 90);
    jpeg_buf abbreviated = without_huffman_tables(&plain);
    CHECK(abbreviated.len < plain.len);
    jpeg_buf prog = compress_flags(h, W, W, TJPF_GRAY, TJSAMP_GRAY, 75,
                                   TJFLAG_ACCURATEDCT | TJFLAG_PROGRESSIVE);
    cxr_preprocess_params p = raw_params(W);
    float *a = malloc(sizeof(float) * W * W), *b = malloc(sizeof(float) * W * W);
    REQUIRE(a && b);
    cxr_decoder *fresh = cxr_decoder_create();
    REQUIRE(fresh);
    CHECK_OK(cxr_preprocess_jpeg(fresh, &p, abbreviated.buf, abbreviated.len, a));
    CHECK_OK(cxr_preprocess_jpeg(fresh, &p, plain.buf, plain.len, b));
    CHECK(memcmp(a, b, sizeof(float) * W * W) == 0); /* the standard tables, as written */
    cxr_decoder_destroy(fresh);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, prog.buf, prog.len, b));
    const cxr_status st = cxr_preprocess_jpeg(d, &p, abbreviated.buf, abbreviated.len, b);
    CHECK(st == CXR_OK);
    if (st != CXR_OK) fprintf(stderr, "after a progressive JPEG: %s\n", cxr_last_error());
    CHECK(st != CXR_OK || memcmp(a, b, sizeof(float) * W * W) == 0);
    free(a), free(b);
    tjFree(plain.buf), tjFree(prog.buf), free(abbreviated.buf);
}

static void test_upscale_and_determinism(cxr_decoder *d)
{
    /* 64 x 64 -> 256 x 256: no DCT scaling; the cached-table path must equal cxr_resize (same
     * weights, same summation order) on the decoded pixels. */
    const int W = 64, S = 256;
    uint8_t g[64 * 64];
    for (int y = 0; y < W; y++)
        for (int x = 0; x < W; x++) g[y * W + x] = (uint8_t)((x * 7 + y * 3 + (x * y) % 17) & 255);
    jpeg_buf j = compress(g, W, W, TJPF_GRAY, TJSAMP_GRAY, 90);
    float *out = malloc(sizeof(float) * S * S), *ref = malloc(sizeof(float) * S * S),
          *again = malloc(sizeof(float) * S * S);
    REQUIRE(out && ref && again);
    cxr_preprocess_params p = raw_params(S);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decode_info info;
    cxr_decoder_last_info(d, &info);
    CHECK(info.scale_num == 1 && info.scale_denom == 1 && info.scaled_width == 64);
    int fw, fh;
    uint8_t *full = decode_gray_full(&j, &fw, &fh);
    cxr_resize(ref, S, S, full, fw, fh, fw);
    double mx, mean;
    diff_stats(out, ref, (size_t)S * S, &mx, &mean);
    CHECK(mx <= 1e-4);
    /* corners of an upscale are the corner pixels themselves */
    CHECK_CLOSE(out[0], full[0], 1e-4, 0);
    CHECK_CLOSE(out[S * S - 1], full[W * W - 1], 1e-4, 0);

    /* At S = 64 the resize is the identity (weights 1 and 0), so the whole pipeline must equal
     * equalize + normalize applied by hand to the decoded pixels, for each normalization, to
     * the bit (the decoder fuses the two steps into one lookup table for minmax and none). */
    const cxr_norm modes[] = { CXR_NORM_MINMAX, CXR_NORM_ZSCORE255, CXR_NORM_NONE };
    for (int m = 0; m < 3; m++) {
        cxr_preprocess_defaults(&p);
        p.size = W;
        p.normalize = modes[m];
        CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
        for (int i = 0; i < W * W; i++) ref[i] = full[i];
        cxr_equalize(ref, (size_t)W * W);
        cxr_normalize(ref, (size_t)W * W, modes[m]);
        diff_stats(out, ref, (size_t)W * W, &mx, &mean);
        if (!(mx == 0.0)) {
            fprintf(stderr, "pipeline vs by-hand steps (%s): max %g\n", cxr_norm_name(modes[m]),
                    mx);
            cxr_test_failures++;
        }
    }

    /* CLAHE takes the clip limit it is given: at S = 64, clip limits 2 and 16 equal cxr_clahe
     * with that limit applied by hand (then minmax), to the bit, and differ from each other.
     * (A tile of 8 x 8 pixels caps its bins at max(1, floor(c * 64 / 256)): 1 for any c < 8.) */
    float *by_clip[2] = { NULL, NULL };
    for (int k = 0; k < 2; k++) {
        cxr_preprocess_defaults(&p);
        p.size = W;
        p.equalize = CXR_EQUALIZE_CLAHE;
        p.clahe_clip = k ? 16.0 : 2.0;
        by_clip[k] = malloc(sizeof(float) * W * W);
        REQUIRE(by_clip[k] != NULL);
        CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, by_clip[k]));
        for (int i = 0; i < W * W; i++) ref[i] = full[i];
        cxr_clahe(ref, W, W, CXR_CLAHE_TILES, p.clahe_clip);
        cxr_normalize(ref, (size_t)W * W, CXR_NORM_MINMAX);
        diff_stats(by_clip[k], ref, (size_t)W * W, &mx, &mean);
        CHECK(mx == 0.0);
    }
    diff_stats(by_clip[0], by_clip[1], (size_t)W * W, &mx, &mean);
    CHECK(mx > 0.01);
    free(by_clip[0]);
    free(by_clip[1]);

    /* Determinism: full defaults, a second decoder, and the first decoder again after more
     * distinct sizes than its table cache holds: identical to the bit. */
    cxr_preprocess_defaults(&p);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decoder *d2 = cxr_decoder_create();
    REQUIRE(d2 != NULL);
    CHECK_OK(cxr_preprocess_jpeg(d2, &p, j.buf, j.len, again));
    CHECK(memcmp(out, again, sizeof(float) * S * S) == 0);
    for (int s = 100; s < 110; s++) { /* 10 other output sizes evict the cached tables */
        cxr_preprocess_params q = p;
        q.size = s;
        CHECK_OK(cxr_preprocess_jpeg(d2, &q, j.buf, j.len, ref));
    }
    CHECK_OK(cxr_preprocess_jpeg(d2, &p, j.buf, j.len, again));
    CHECK(memcmp(out, again, sizeof(float) * S * S) == 0);
    cxr_decoder_destroy(d2);

    free(full);
    free(out);
    free(ref);
    free(again);
    tjFree(j.buf);
}

/* Expect CXR_E_DECODE (or `code`) from cxr_preprocess_file with a message naming the file and
 * containing `reason`. */
static void expect_bad(cxr_decoder *d, const cxr_preprocess_params *p, const char *path,
                       cxr_status code, const char *reason)
{
    static float out[64 * 64];
    cxr_status st = cxr_preprocess_file(d, p, path, out);
    const char *msg = cxr_last_error();
    printf("%-28s -> %s: %s\n", strrchr(path, '/') ? strrchr(path, '/') + 1 : path,
           cxr_status_name(st), msg);
    if (st != code || !strstr(msg, path) || !strstr(msg, reason)) {
        fprintf(stderr, "FAIL %s: got %s \"%s\", want %s with the path and \"%s\"\n", path,
                cxr_status_name(st), msg, cxr_status_name(code), reason);
        cxr_test_failures++;
    }
    /* a failure must not leave the decoder in a state that breaks the next, valid file */
    if (valid_path[0] && cxr_preprocess_file(d, p, valid_path, out) != CXR_OK &&
        strstr(path, "valid.jpeg") == NULL) {
        fprintf(stderr, "FAIL: valid file after %s: %s\n", path, cxr_last_error());
        cxr_test_failures++;
    }
}

static size_t find_marker(const unsigned char *b, size_t len, unsigned char m)
{
    for (size_t i = 2; i + 1 < len; i++)
        if (b[i] == 0xFF && b[i + 1] == m) return i;
    return 0;
}

static void test_bad_inputs(cxr_decoder *d)
{
    char path[4096];
    cxr_preprocess_params p;
    cxr_preprocess_defaults(&p);
    p.size = 64;

    /* a valid, busy 256 x 192 JPEG to cut up (noise keeps its entropy data long) */
    const int W = 256, H = 192;
    uint8_t *g = malloc((size_t)W * H);
    REQUIRE(g != NULL);
    uint32_t r = 12345;
    for (int i = 0; i < W * H; i++) {
        r = r * 1664525u + 1013904223u;
        g[i] = (uint8_t)((i % W) / 2 + (r >> 27));
    }
    jpeg_buf j = compress(g, W, H, TJPF_GRAY, TJSAMP_GRAY, 90);
    snprintf(valid_path, sizeof valid_path, "%s/valid.jpeg", tmpdir);
    write_file(valid_path, j.buf, j.len);
    float out[64 * 64];
    CHECK_OK(cxr_preprocess_file(d, &p, valid_path, out));

    /* a JFIF segment of version 2.01 (0.00 and 2.01 occur in the wild): libjpeg warns, and the
     * image is the same (it was refused as "not a readable JPEG"); truncated, it is still
     * refused as corrupt (the tolerance covers that one warning only) */
    {
        unsigned char *v2 = malloc(j.len);
        REQUIRE(v2 != NULL);
        memcpy(v2, j.buf, j.len);
        const size_t app0 = find_marker(v2, j.len, 0xE0);
        REQUIRE(app0 && memcmp(v2 + app0 + 4, "JFIF", 5) == 0);
        v2[app0 + 9] = 2, v2[app0 + 10] = 1;
        float o2[64 * 64];
        CHECK_OK(cxr_preprocess_jpeg(d, &p, v2, j.len, o2));
        CHECK(memcmp(o2, out, sizeof out) == 0);
        CHECK(cxr_preprocess_jpeg(d, &p, v2, j.len / 2, o2) == CXR_E_DECODE);
        CHECK(strstr(cxr_last_error(), "corrupt JPEG data") != NULL);
        free(v2);
    }

    snprintf(path, sizeof path, "%s/empty.jpeg", tmpdir);
    write_file(path, "", 0);
    expect_bad(d, &p, path, CXR_E_DECODE, "empty file");

    /* a file that holds fewer bytes than its size says (sysfs gives 4096 for its small text
     * files): a short read, not a decode of the bytes that came */
    {
        static const char sys_file[] = "/sys/devices/system/cpu/online";
        struct stat sb;
        if (stat(sys_file, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size >= 64)
            expect_bad(d, &p, sys_file, CXR_E_DECODE, "short read (");
        else
            fprintf(stderr, "%s: not a file longer than its bytes here, short read unchecked\n",
                    sys_file);
    }

    snprintf(path, sizeof path, "%s/truncated.jpeg", tmpdir);
    write_file(path, j.buf, j.len / 2);
    expect_bad(d, &p, path, CXR_E_DECODE, "corrupt JPEG data");

    /* cut before its frame header (TurboJPEG then says 0x0, as for tables only): said so, not
     * "an empty image" (libjpeg itself refuses a frame of zero height: "Empty JPEG image") */
    {
        const size_t sof = find_marker(j.buf, j.len, 0xC0);
        REQUIRE(sof > 4);
        for (size_t cut = 2; cut <= sof; cut = cut < sof / 2 ? sof / 2 : cut + sof / 2) {
            snprintf(path, sizeof path, "%s/cut_%zu.jpeg", tmpdir, cut);
            write_file(path, j.buf, cut);
            expect_bad(d, &p, path, CXR_E_DECODE, "JPEG has no frame header");
        }
    }

    /* a file whose one fault is a missing EOI marker (a writer that never wrote its last two
     * bytes) holds the whole image: decoded as the complete file is, also with the JFIF version
     * fault; cut inside its scan, or a multi-scan (progressive) file cut before its EOI, it is
     * still refused */
    {
        float o2[64 * 64];
        REQUIRE(j.len > 100 && j.buf[j.len - 2] == 0xFF && j.buf[j.len - 1] == 0xD9);
        snprintf(path, sizeof path, "%s/no_eoi.jpeg", tmpdir);
        write_file(path, j.buf, j.len - 2);
        CHECK_OK(cxr_preprocess_file(d, &p, path, o2));
        CHECK(memcmp(o2, out, sizeof out) == 0);
        unsigned char *v2 = malloc(j.len);
        REQUIRE(v2 != NULL);
        memcpy(v2, j.buf, j.len);
        const size_t app0 = find_marker(v2, j.len, 0xE0);
        v2[app0 + 9] = 2, v2[app0 + 10] = 1;
        memset(o2, 0, sizeof o2);
        CHECK_OK(cxr_preprocess_jpeg(d, &p, v2, j.len - 2, o2));
        CHECK(memcmp(o2, out, sizeof out) == 0);
        free(v2);
        for (size_t cut = 3; cut < 200; cut *= 4) { /* 3, 12, 48, 192 bytes short */
            CHECK(cxr_preprocess_jpeg(d, &p, j.buf, j.len - cut, o2) == CXR_E_DECODE);
            CHECK(strstr(cxr_last_error(), "corrupt JPEG data") != NULL);
        }
        /* arithmetic-coded (SOF9): whole it decodes, and without its EOI alone it is still
         * refused, cut by 2 to 200 bytes too: libjpeg's arithmetic decoder reads an appended
         * marker as zeros without a warning, so a cut file completed with one would pass */
        const size_t an = sizeof arith_jpeg;
        REQUIRE(arith_jpeg[an - 2] == 0xFF && arith_jpeg[an - 1] == 0xD9);
        REQUIRE(find_marker(arith_jpeg, an, 0xC9) > 0);
        CHECK_OK(cxr_preprocess_jpeg(d, &p, arith_jpeg, an, o2));
        for (size_t cut = 2; cut <= 200; cut += 9) {
            CHECK(cxr_preprocess_jpeg(d, &p, arith_jpeg, an - cut, o2) == CXR_E_DECODE);
            CHECK(strstr(cxr_last_error(), "Premature end of JPEG file") != NULL);
        }
        /* progressive: cut just before its last scan, the rest would decode without a warning
         * (fewer refinement scans) if the marker were appended, so it is refused as before */
        jpeg_buf pj = compress_flags(g, W, H, TJPF_GRAY, TJSAMP_GRAY, 90,
                                     TJFLAG_ACCURATEDCT | TJFLAG_PROGRESSIVE);
        size_t last_sos = 0;
        for (size_t i = 2; i + 1 < pj.len; i++)
            if (pj.buf[i] == 0xFF && pj.buf[i + 1] == 0xDA) last_sos = i;
        REQUIRE(last_sos > find_marker(pj.buf, pj.len, 0xDA));
        CHECK(cxr_preprocess_jpeg(d, &p, pj.buf, last_sos, o2) == CXR_E_DECODE);
        CHECK(strstr(cxr_last_error(), "Premature end of JPEG file") != NULL);
        tjFree(pj.buf);
    }

    snprintf(path, sizeof path, "%s/text.jpeg", tmpdir);
    const char *text = "This is a text file, not a JPEG.\n";
    write_file(path, text, strlen(text));
    expect_bad(d, &p, path, CXR_E_DECODE, "not a readable JPEG");
    /* another format under a .jpeg name: named, with its fix */
    snprintf(path, sizeof path, "%s/png.jpeg", tmpdir);
    write_file(path, "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16);
    expect_bad(d, &p, path, CXR_E_DECODE, "not a readable JPEG: a PNG image (convert it to JPEG)");
    unsigned char dcm[140] = { 0 };
    memcpy(dcm + 128, "DICM\2\0", 6);
    snprintf(path, sizeof path, "%s/dicom.jpg", tmpdir);
    write_file(path, dcm, sizeof dcm);
    expect_bad(d, &p, path, CXR_E_DECODE, "not a readable JPEG: a DICOM file (convert it to JPEG)");
    /* ... but a JPEG whose header is broken is not told to be converted to JPEG */
    {
        unsigned char *broken = malloc(j.len);
        REQUIRE(broken != NULL);
        memcpy(broken, j.buf, j.len);
        const size_t at = find_marker(broken, j.len, 0xC0);
        REQUIRE(at > 0);
        broken[at + 4] = 7; /* SOF0's sample precision: 7 bits */
        static float o[64 * 64];
        snprintf(path, sizeof path, "%s/broken_header.jpeg", tmpdir);
        write_file(path, broken, j.len);
        free(broken);
        CHECK(cxr_preprocess_file(d, &p, path, o) == CXR_E_DECODE);
        CHECK(strstr(cxr_last_error(), "not a readable JPEG: ") != NULL &&
              strstr(cxr_last_error(), "convert it") == NULL);
        printf("broken_header.jpeg -> %s\n", cxr_last_error());
    }

    /* SOF0 declares 60000 x 60000: rejected from the header, before any allocation */
    unsigned char *b = malloc(j.len);
    REQUIRE(b != NULL);
    memcpy(b, j.buf, j.len);
    size_t sof = find_marker(b, j.len, 0xC0);
    REQUIRE(sof > 0);
    b[sof + 5] = 60000 >> 8, b[sof + 6] = 60000 & 255; /* height */
    b[sof + 7] = 60000 >> 8, b[sof + 8] = 60000 & 255; /* width */
    snprintf(path, sizeof path, "%s/huge_header.jpeg", tmpdir);
    write_file(path, b, j.len);
    expect_bad(d, &p, path, CXR_E_DECODE, "60000x60000, larger than max_side 16384");

    /* only the height is too large: 100 wide, 20000 high */
    b[sof + 5] = 20000 >> 8, b[sof + 6] = 20000 & 255;
    b[sof + 7] = 0, b[sof + 8] = 100;
    snprintf(path, sizeof path, "%s/tall_header.jpeg", tmpdir);
    write_file(path, b, j.len);
    expect_bad(d, &p, path, CXR_E_DECODE, "100x20000, larger than max_side 16384");

    /* A progressive file is buffered whole as coefficients before any output, at any DCT
     * scale: 16384 x 16384 gray would take 512 MiB per decoder, so it is refused from its
     * headers (a small one decodes). The same size in a baseline file is decoded a row of
     * blocks at a time: not this refusal (its data is then found short). */
    {
        uint8_t *gpx = malloc(64 * 64);
        REQUIRE(gpx);
        for (int i = 0; i < 64 * 64; i++) gpx[i] = (uint8_t)(i * 7 + (i >> 6) * 13);
        jpeg_buf pj = compress_flags(gpx, 64, 64, TJPF_GRAY, TJSAMP_GRAY, 90,
                                     TJFLAG_ACCURATEDCT | TJFLAG_PROGRESSIVE);
        size_t s2 = find_marker(pj.buf, pj.len, 0xC2);
        REQUIRE(s2 > 0);
        snprintf(path, sizeof path, "%s/progressive_small.jpeg", tmpdir);
        write_file(path, pj.buf, pj.len);
        float *o = malloc(sizeof(float) * (size_t)p.size * p.size);
        REQUIRE(o);
        CHECK_OK(cxr_preprocess_file(d, &p, path, o));
        unsigned char *small = malloc(pj.len);
        REQUIRE(small);
        memcpy(small, pj.buf, pj.len);
        pj.buf[s2 + 5] = 16384 >> 8, pj.buf[s2 + 6] = 0; /* height */
        pj.buf[s2 + 7] = 16384 >> 8, pj.buf[s2 + 8] = 0; /* width */
        snprintf(path, sizeof path, "%s/progressive_huge.jpeg", tmpdir);
        write_file(path, pj.buf, pj.len);
        expect_bad(d, &p, path, CXR_E_DECODE,
                   "progressive or multi-scan JPEG of 16384x16384: decoding it buffers 512 MiB "
                   "of coefficients, over the 256 MiB limit");
        /* just over the limit: 16384 x 9000 buffers 2048 x 1125 blocks of 128 bytes */
        pj.buf[s2 + 5] = 9000 >> 8, pj.buf[s2 + 6] = 9000 & 255;
        snprintf(path, sizeof path, "%s/progressive_over.jpeg", tmpdir);
        write_file(path, pj.buf, pj.len);
        expect_bad(
            d, &p, path, CXR_E_DECODE,
            "progressive or multi-scan JPEG of 16384x9000: decoding it buffers more than 281 MiB");
        pj.buf[s2 + 5] = 16384 >> 8, pj.buf[s2 + 6] = 0;
        /* nor does a marker after SOI that libjpeg steps over without a warning: TEM
         * (0xFF01, no length), and an APP1, a COM and a DNL of the bogus lengths 0 and 1,
         * which libjpeg skips past their length bytes */
        static const struct {
            const char *name;
            unsigned char bytes[4];
            size_t n;
        } hide[] = {
            { "tem", { 0xFF, 0x01 }, 2 },
            { "app1_len0", { 0xFF, 0xE1, 0x00, 0x00 }, 4 },
            { "com_len1", { 0xFF, 0xFE, 0x00, 0x01 }, 4 },
            { "dnl_len0", { 0xFF, 0xDC, 0x00, 0x00 }, 4 },
        };
        unsigned char *in = malloc(pj.len + 4);
        REQUIRE(in);
        for (size_t k = 0; k < sizeof hide / sizeof *hide; k++) {
            memcpy(in, pj.buf, 2);
            memcpy(in + 2, hide[k].bytes, hide[k].n);
            memcpy(in + 2 + hide[k].n, pj.buf + 2, pj.len - 2);
            snprintf(path, sizeof path, "%s/progressive_huge_%s.jpeg", tmpdir, hide[k].name);
            write_file(path, in, pj.len + hide[k].n);
            expect_bad(d, &p, path, CXR_E_DECODE, "decoding it buffers 512 MiB of coefficients");
            /* the same bytes in the small file: it decodes (libjpeg takes them as they are) */
            memcpy(in + 2 + hide[k].n, small + 2, pj.len - 2);
            snprintf(path, sizeof path, "%s/progressive_small_%s.jpeg", tmpdir, hide[k].name);
            write_file(path, in, pj.len + hide[k].n);
            CHECK_OK(cxr_preprocess_file(d, &p, path, o));
        }
        free(in);
        free(small);
        jpeg_buf bj = compress(gpx, 64, 64, TJPF_GRAY, TJSAMP_GRAY, 90);
        size_t s0 = find_marker(bj.buf, bj.len, 0xC0);
        REQUIRE(s0 > 0);
        bj.buf[s0 + 5] = 16384 >> 8, bj.buf[s0 + 6] = 0;
        bj.buf[s0 + 7] = 16384 >> 8, bj.buf[s0 + 8] = 0;
        snprintf(path, sizeof path, "%s/baseline_huge.jpeg", tmpdir);
        write_file(path, bj.buf, bj.len);
        CHECK(cxr_preprocess_file(d, &p, path, o) == CXR_E_DECODE);
        CHECK(strstr(cxr_last_error(), "progressive") == NULL);
        free(o);
        free(gpx);
        tjFree(pj.buf);
        tjFree(bj.buf);
    }

    /* width 0 in the header */
    memcpy(b, j.buf, j.len);
    b[sof + 7] = 0, b[sof + 8] = 0;
    snprintf(path, sizeof path, "%s/zero_width.jpeg", tmpdir);
    write_file(path, b, j.len);
    expect_bad(d, &p, path, CXR_E_DECODE, "JPEG");

    /* valid headers up to the end of the SOS segment, then pseudo-random bytes, no EOI */
    memcpy(b, j.buf, j.len);
    size_t sos = find_marker(b, j.len, 0xDA);
    REQUIRE(sos > 0);
    size_t data = sos + 2 + ((size_t)b[sos + 2] << 8 | b[sos + 3]);
    for (size_t i = data; i < j.len; i++) {
        r = r * 1664525u + 1013904223u;
        b[i] = (uint8_t)(r >> 24);
    }
    snprintf(path, sizeof path, "%s/garbage_data.jpeg", tmpdir);
    write_file(path, b, j.len);
    expect_bad(d, &p, path, CXR_E_DECODE, "corrupt JPEG data");

    /* max_side: 256 x 192 is refused under 255 and accepted at 256 */
    snprintf(path, sizeof path, "%s/valid.jpeg", tmpdir);
    p.max_side = 255;
    expect_bad(d, &p, path, CXR_E_DECODE, "256x192, larger than max_side 255");
    p.max_side = 256;
    CHECK_OK(cxr_preprocess_file(d, &p, path, out));

    /* a missing file is an I/O error naming the file */
    snprintf(path, sizeof path, "%s/no_such_file.jpeg", tmpdir);
    expect_bad(d, &p, path, CXR_E_IO, "cannot open");
    /* a folder, though named like a JPEG, is no regular file: an I/O error that says so */
    snprintf(path, sizeof path, "%s/folder.jpeg", tmpdir);
    REQUIRE(mkdir(path, 0777) == 0 || errno == EEXIST);
    expect_bad(d, &p, path, CXR_E_IO, "not a regular file");
    rmdir(path);

    /* in-memory: zero length; bad parameters */
    CHECK(cxr_preprocess_jpeg(d, &p, j.buf, 0, out) == CXR_E_DECODE);
    p.size = 0;
    CHECK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out) == CXR_E_ARG);
    p.size = 64;
    p.normalize = (cxr_norm)7;
    CHECK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out) == CXR_E_ARG);

    /* the decoder still works after all that, and info was cleared by the failures */
    cxr_preprocess_defaults(&p);
    p.size = 64;
    cxr_decode_info info;
    cxr_decoder_last_info(d, &info);
    CHECK(info.width == 0);
    CHECK_OK(cxr_preprocess_jpeg(d, &p, j.buf, j.len, out));
    cxr_decoder_last_info(d, &info);
    CHECK(info.width == W && info.height == H);
    for (int i = 0; i < 64 * 64; i++) CHECK(isfinite(out[i]) && out[i] >= -1.0f && out[i] <= 1.0f);

    free(b);
    free(g);
    tjFree(j.buf);
}

int main(int argc, char **argv)
{
    /* the files it writes go to the folder given (ctest: the build tree's), else to a fresh
     * one under /tmp: never into the folder it is run from (a source checkout) */
    static char fresh[] = "/tmp/cxr_test_jpeg.XXXXXX";
    if (argc > 1) {
        tmpdir = argv[1];
        if (mkdir(tmpdir, 0777) != 0 && errno != EEXIST) {
            perror(tmpdir);
            return 1;
        }
    } else if (!(tmpdir = mkdtemp(fresh))) {
        perror(fresh);
        return 1;
    } else {
        printf("test files in %s\n", tmpdir);
    }
    cxr_decoder *d = cxr_decoder_create();
    REQUIRE(d != NULL);
    cxr_decoder_destroy(NULL); /* NULL-safe */
    test_dct_scaling(d);
    test_dct_scaling_partial_pixel(d);
    test_constant_images(d);
    test_color(d);
    test_resize_bitexact(d);
    test_upscale_and_determinism(d);
    test_no_state_between_images(d);
    test_bad_inputs(d);
    cxr_decoder_destroy(d);
    if (tmpdir == fresh) { /* made here: removed with what the test wrote in it */
        DIR *dir = opendir(tmpdir);
        for (struct dirent *e; dir && (e = readdir(dir));) {
            char f[4096];
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
                snprintf(f, sizeof f, "%s/%s", tmpdir, e->d_name) < (int)sizeof f)
                unlink(f);
        }
        if (dir) closedir(dir);
        rmdir(tmpdir);
    }
    TEST_END();
}
