/* test_steps.c: golden values for each preprocessing step (formats/preprocess.c) on small
 * hand-made arrays. Every expected number is worked out by hand in the comment beside it, from
 * the definitions in specs/store.md, section "Preprocessing". */
#include <math.h>
#include <string.h>

#include "cxr_preprocess.h"
#include "cxr_test.h"
#include "preprocess_internal.h"

static void test_rgb_to_gray(void)
{
    /* Y = round(0.299R + 0.587G + 0.114B):
     *   (255,0,0)     -> 76.245   -> 76
     *   (0,255,0)     -> 149.685  -> 150
     *   (0,0,255)     -> 29.07    -> 29
     *   (255,255,255) -> 255
     *   (10,20,30)    -> 2.99 + 11.74 + 3.42 = 18.15  -> 18
     *   (100,150,200) -> 29.9 + 88.05 + 22.8 = 140.75 -> 141
     *   (1,0,5)       -> 0.299 + 0.57 = 0.869         -> 1
     *   (0,0,0)       -> 0
     *   (0,0,250)     -> 28.5 exactly: halves up      -> 29
     *   (5,0,0)       -> 1.495                        -> 1 */
    const uint8_t rgb[] = { 255, 0,   0,   0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30,
                            100, 150, 200, 1, 0,   5, 0, 0, 0,   0,   0,   250, 5,  0,  0 };
    const uint8_t want[] = { 76, 150, 29, 255, 18, 141, 1, 0, 29, 1 };
    enum { N = sizeof want };
    uint8_t got[N];
    cxr_rgb_to_gray(got, rgb, N);
    for (int i = 0; i < N; i++) CHECK(got[i] == want[i]);
    /* in place (documented as allowed) gives the same */
    uint8_t buf[sizeof rgb];
    memcpy(buf, rgb, sizeof rgb);
    cxr_rgb_to_gray(buf, buf, N);
    for (int i = 0; i < N; i++) CHECK(buf[i] == want[i]);
}

static void check_box(int w, int h, double r, int x0, int y0, int cw, int ch)
{
    int a, b, c, d;
    cxr_crop_box(w, h, r, &a, &b, &c, &d);
    if (a != x0 || b != y0 || c != cw || d != ch) {
        fprintf(stderr, "crop_box(%d,%d,%g) = (%d,%d,%d,%d), want (%d,%d,%d,%d)\n", w, h, r, a, b,
                c, d, x0, y0, cw, ch);
        cxr_test_failures++;
    }
}

static void test_crop_box(void)
{
    check_box(300, 200, 0.0, 0, 0, 300, 200); /* ratio <= 0: never crop */
    check_box(300, 200, -1.0, 0, 0, 300, 200);
    check_box(300, 200, 0.2, 50, 0, 200, 200); /* w/h = 1.5, |0.5| > 0.2: side 200, x0 = 100/2 */
    check_box(200, 300, 0.2, 0, 50, 200, 200); /* w/h = 0.667, |-0.333| > 0.2 */
    check_box(210, 200, 0.1, 0, 0, 210, 200);  /* w/h = 1.05, 0.05 <= 0.1: keep */
    check_box(301, 200, 0.2, 50, 0, 200, 200); /* odd margin 101: x0 = 101/2 = 50 (floor) */
    check_box(200, 200, 0.01, 0, 0, 200, 200); /* square: nothing to crop */
    check_box(1000, 2900, 0.5, 0, 950, 1000, 1000); /* 0.345 -> |-0.655| > 0.5 */
    check_box(300, 200, 0.5, 0, 0, 300, 200);       /* |0.5| exactly at the ratio: kept (> crops) */
}

static int close_all(const float *got, const double *want, int n, double tol, const char *what)
{
    int bad = 0;
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= tol)) {
            if (bad < 5) fprintf(stderr, "%s[%d] = %.7g, want %.7g\n", what, i, got[i], want[i]);
            bad++;
        }
    if (bad) cxr_test_failures++;
    return bad;
}

static void test_resize_down2(void)
{
    /* 4x4 -> 2x2. scale 2, so the triangle has radius 2 source pixels:
     * output 0: center 1.0, taps x = 0,1,2 at distances 0.5,0.5,1.5 -> raw weights 0.75,0.75,0.25,
     *           normalized 3/7, 3/7, 1/7 (the tap at x = -1 falls outside and is dropped)
     * output 1: center 3.0, taps 1,2,3 -> 1/7, 3/7, 3/7.
     * NOTE: these are triangle-filter weights, not the plain 2x2 box average (which would be
     * 1/2,1/2): a PIL-style antialiased bilinear spreads each output over 4 source pixels.
     * S[y][x] = 40y + 10x is linear, so out = 40*E[y] + 10*E[x] with E = 5/7 (output 0) and
     * 16/7 (output 1):
     *   out00 = 50*5/7 = 250/7, out01 = 200/7 + 160/7 = 360/7,
     *   out10 = 640/7 + 50/7 = 690/7, out11 = 800/7. */
    uint8_t s[16];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) s[y * 4 + x] = (uint8_t)(40 * y + 10 * x);
    float o[4];
    cxr_resize(o, 2, 2, s, 4, 4, 4);
    const double want[] = { 250.0 / 7, 360.0 / 7, 690.0 / 7, 800.0 / 7 };
    close_all(o, want, 4, 1e-4, "down2 linear");

    /* One hot pixel S[1][2] = 70: out[oy][ox] = 70 * wy[oy](y=1) * wx[ox](x=2) with
     * wy0(1) = 3/7, wy1(1) = 1/7, wx0(2) = 1/7, wx1(2) = 3/7:
     *   out00 = 70*3/49 = 30/7, out01 = 70*9/49 = 90/7, out10 = 70/49 = 10/7, out11 = 30/7. */
    memset(s, 0, sizeof s);
    s[1 * 4 + 2] = 70;
    cxr_resize(o, 2, 2, s, 4, 4, 4);
    const double want2[] = { 30.0 / 7, 90.0 / 7, 10.0 / 7, 30.0 / 7 };
    close_all(o, want2, 4, 1e-4, "down2 hot pixel");

    /* Row stride: the same 4x4 stored inside an 8-wide buffer with junk around it. */
    uint8_t big[4 * 8];
    memset(big, 255, sizeof big);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++) big[y * 8 + 2 + x] = (uint8_t)(40 * y + 10 * x);
    cxr_resize(o, 2, 2, big + 2, 4, 4, 8);
    close_all(o, want, 4, 1e-4, "down2 strided");
}

static void test_resize_ramp(void)
{
    /* 1-D ramp v = 10x, 16 -> 4 (h = 1 -> 1 is the identity). scale 4, radius 4:
     * interior output i (center 4i+2) takes x = 4i-2 .. 4i+5 with weights
     * (1,3,5,7,7,5,3,1)/32, symmetric about x = 4i+1.5, so out = 10*(4i+1.5): 55 and 95,
     * a ramp with step 40 = slope * scale (the same as the 4-pixel box means).
     * output 0 (center 2) keeps x = 0..5, raw weights .625,.875,.875,.625,.375,.125 (sum 3.5),
     * sum w*x = .875 + 1.75 + 1.875 + 1.5 + .625 = 6.625, so out0 = 10 * 6.625 / 3.5 =
     * 66.25 / 3.5 = 18.928571; output 3 by symmetry 150 - 18.928571 = 131.071429. */
    uint8_t s[16];
    for (int x = 0; x < 16; x++) s[x] = (uint8_t)(10 * x);
    float o[4];
    cxr_resize(o, 4, 1, s, 16, 1, 16);
    const double want[] = { 66.25 / 3.5, 55.0, 95.0, 150.0 - 66.25 / 3.5 };
    close_all(o, want, 4, 1e-4, "ramp");
    for (int i = 1; i < 4; i++) CHECK(o[i] > o[i - 1]);
    CHECK_CLOSE(o[2] - o[1], 40.0, 1e-4, 0);

    /* The same ramp along y (a 1-wide column) gives the same numbers. */
    cxr_resize(o, 1, 4, s, 1, 16, 1);
    close_all(o, want, 4, 1e-4, "ramp vertical");
}

static void test_resize_constant(void)
{
    /* Weights sum to 1 per output pixel, so a constant image stays constant, down and up. */
    uint8_t s[37 * 23];
    memset(s, 200, sizeof s);
    float down[11 * 7], up[50 * 40];
    cxr_resize(down, 11, 7, s, 37, 23, 37);
    cxr_resize(up, 50, 40, s, 37, 23, 37);
    double worst = 0;
    for (int i = 0; i < 11 * 7; i++) worst = fmax(worst, fabs(down[i] - 200.0));
    for (int i = 0; i < 50 * 40; i++) worst = fmax(worst, fabs(up[i] - 200.0));
    CHECK(worst <= 1e-3);
}

static void test_resize_up(void)
{
    /* 2x2 -> 4x4 (scale 0.5: plain bilinear, half-pixel centers, edges clamped).
     * Per axis: output 0 -> [1, 0], 1 -> [.75, .25], 2 -> [.25, .75], 3 -> [0, 1].
     * S = [[0, 100], [200, 40]].
     * Rows along x: row0 -> 0, 25, 75, 100; row1 -> 200, 160, 80, 40.
     * Along y: out1 = .75 row0 + .25 row1 = 50, 58.75, 76.25, 85;
     *          out2 = .25 row0 + .75 row1 = 150, 126.25, 78.75, 55. */
    const uint8_t s[] = { 0, 100, 200, 40 };
    float o[16];
    cxr_resize(o, 4, 4, s, 2, 2, 2);
    const double want[] = { 0,   25,     75,    100, 50,  58.75, 76.25, 85,
                            150, 126.25, 78.75, 55,  200, 160,   80,    40 };
    close_all(o, want, 16, 1e-4, "up2");
}

static void test_equalize(void)
{
    /* 16 pixels over 8 levels 20..160 with counts 1,1,2,2,2,2,3,3.
     * cdf = 1,2,4,6,8,10,13,16; cdf_min = 1 (cdf of the smallest occupied bin), N = 16:
     * out(v) = 255 (cdf - 1) / 15 = 17 (cdf - 1) = 0, 17, 51, 85, 119, 153, 204, 255. */
    const int level[8] = { 20, 40, 60, 80, 100, 120, 140, 160 };
    const int count[8] = { 1, 1, 2, 2, 2, 2, 3, 3 };
    const double out_of[8] = { 0, 17, 51, 85, 119, 153, 204, 255 };
    float img[16];
    double want[16];
    int k = 0;
    /* interleave the levels so the order of pixels is not sorted */
    for (int rep = 0; rep < 3; rep++)
        for (int l = 7; l >= 0; l--)
            if (count[l] > rep) {
                img[k] = (float)level[l];
                want[k] = out_of[l];
                k++;
            }
    REQUIRE(k == 16);
    cxr_equalize(img, 16);
    close_all(img, want, 16, 1e-4, "equalize 8 levels");

    /* Binning rounds half up and clamps: 0.49 -> 0, 9.6 -> 10, 10.4 -> 10, 10.5 -> 11,
     * -3 -> 0, 300 -> 255. Bins: 0:3, 10:2, 11:1, 255:1 (N = 7, cdf_min = 3):
     * out(0) = 0, out(10) = 255*(5-3)/4 = 127.5, out(11) = 255*3/4 = 191.25, out(255) = 255. */
    float b[] = { 0.49f, 9.6f, 10.4f, 10.5f, -3.0f, 300.0f, 0.0f };
    const double wb[] = { 0, 127.5, 127.5, 191.25, 0, 255, 0 };
    cxr_equalize(b, 7);
    close_all(b, wb, 7, 1e-4, "equalize rounding");

    /* A constant image (N == cdf_min) gives zeros. */
    float c[5] = { 7, 7, 7, 7, 7 };
    const double wc[5] = { 0 };
    cxr_equalize(c, 5);
    close_all(c, wc, 5, 0, "equalize constant");
}

static void test_clahe(void)
{
    /* One tile without clipping is cxr_equalize, bit for bit. */
    float a[37 * 29], b[37 * 29];
    for (int i = 0; i < 37 * 29; i++) a[i] = b[i] = (float)((i * 7919) % 263) - 3.5f;
    cxr_equalize(a, 37 * 29);
    cxr_clahe(b, 37, 29, 1, 0.0);
    CHECK(memcmp(a, b, sizeof a) == 0);

    /* Interpolation, one row of 16 and 2 tiles: tile 0 holds columns 0..7 (values 0..7, center
     * 3.5), tile 1 columns 8..15 (values 100..107, center 11.5). Each tile's table is
     * cxr_equalize's of its 8 distinct values: t0(v) = 255 v / 7 for v 0..7 and 255 above;
     * t1(100 + k) = 255 k / 7, and 0 below 100. Columns up to 3 take t0 alone, from 12 t1
     * alone; between, column x takes (1 - f) t0 + f t1 with f = (x - 3.5) / 8:
     *   x=4 (v 4):   f = 0.0625, 0.9375 * 145.714 = 136.607
     *   x=7 (v 7):   f = 0.4375, 0.5625 * 255 = 143.4375
     *   x=8 (v 100): f = 0.5625, 0.4375 * 255 = 111.5625
     *   x=11 (v 103): f = 0.9375, 0.0625 * 255 + 0.9375 * 109.286 = 118.393 */
    float r[16];
    double want[16];
    for (int x = 0; x < 16; x++) r[x] = (float)(x < 8 ? x : 92 + x);
    for (int x = 0; x < 4; x++) want[x] = 255.0 * x / 7;
    for (int x = 12; x < 16; x++) want[x] = 255.0 * (x - 8) / 7;
    want[4] = 0.9375 * 255.0 * 4 / 7;
    want[5] = 0.8125 * 255.0 * 5 / 7;
    want[6] = 0.6875 * 255.0 * 6 / 7;
    want[7] = 0.5625 * 255.0;
    want[8] = 0.4375 * 255.0;
    want[9] = 0.3125 * 255.0 + 0.6875 * 255.0 / 7;
    want[10] = 0.1875 * 255.0 + 0.8125 * 255.0 * 2 / 7;
    want[11] = 0.0625 * 255.0 + 0.9375 * 255.0 * 3 / 7;
    cxr_clahe(r, 16, 1, 2, 0.0);
    close_all(r, want, 16, 1e-3, "clahe interpolation");

    /* Clipping: 64x64, one tile, every tenth pixel a ramp value ((i / 10) % 256), the others
     * 100: bin 100 holds 3,688 (the ramp hits 100 twice), bins 0..153 hold 2 each, the rest 1.
     * The limit is 2 * 4096 / 256 = 32; only bin 100 exceeds it, by 3,656 = 14 * 256 + 72: every
     * bin gains 14, and 72 bins one more, from bin 0 at a step of 256 / 72 = 3 (bins 0, 3, ...,
     * 213; 99 is one of them, 100 not). So hist(99) = 17, hist(100) = 46, cdf_min = hist(0) =
     * 17, and the table's step at 100 is 255 * 46 / (4096 - 17) = 2.87570; unclipped it is
     * 255 * 3688 / (4096 - 2) = 229.72. The brightest bin maps to 255 either way. */
    static float c[4096], u[4096];
    for (int i = 0; i < 4096; i++) c[i] = u[i] = i % 10 ? 100.0f : (float)((i / 10) % 256);
    cxr_clahe(c, 64, 64, 1, 2.0);
    cxr_clahe(u, 64, 64, 1, 0.0);
    float c99 = 0, c100 = 0, u99 = 0, u100 = 0, c255 = 0;
    for (int i = 0; i < 4096; i++) {
        if (i % 10 == 0 && (i / 10) % 256 == 99) c99 = c[i], u99 = u[i];
        if (i % 10 == 0 && (i / 10) % 256 == 255) c255 = c[i];
        if (i % 10 != 0) c100 = c[i], u100 = u[i];
    }
    CHECK(fabs((c100 - c99) - 255.0 * 46 / 4079) < 1e-3);
    CHECK(fabs((u100 - u99) - 255.0 * 3688 / 4094) < 1e-3);
    CHECK(c255 == 255.0f);
    /* where the remainder went: cdf(99) = 100 * (2 + 14) + the 34 bins 0, 3, ..., 99 = 1634
     * (the remainder on bins 0..71 instead would give 1672) */
    CHECK(fabs(c99 - 255.0 * (1634 - 17) / 4079) < 1e-3);

    /* A limit below one count is one count (as OpenCV): a 2x2 tile of 10, 10, 10, 200 has
     * limit 2 * 4 / 256 -> 1, so bin 10 keeps 1 and its excess 2 goes to bins 0 and 128 (step
     * 256 / 2); cdf_min = hist(0) = 1, cdf(10) = 2: 10 maps to 255 (2 - 1) / 3 = 85 (with a
     * limit of 0 every count would be spread, and 10 map to 0) */
    float lo[4] = { 10, 10, 200, 10 };
    cxr_clahe(lo, 2, 2, 1, 2.0);
    CHECK(fabs(lo[0] - 85.0) < 1e-3 && fabs(lo[3] - 85.0) < 1e-3 && lo[2] == 255.0f);

    /* The limit divides by the 256 bins (above, 2 * 4096 / 256 = 32 is whole: / 255 would give
     * it too): 15x17 = 255 pixels, 100 of 0, 100 of 128, 55 of 255, clip 4: the limit is
     * floor(4 * 255 / 256) = 3 (4 over 255). Each bin is capped at 3, E = 97 + 97 + 52 = 246
     * goes one each to bins 0..245 (step 256 / 246 -> 1): hist(0) = 4, hist(1..127) = 1,
     * hist(128) = 4; cdf_min = 4, cdf(128) = 135, so 128 maps to 255 * 131 / 251 = 133.088
     * (a limit of 4 gives 255 * 132 / 250 = 134.64), 0 to 0 and 255 to 255. */
    static float t3[255];
    for (int i = 0; i < 255; i++) t3[i] = i < 100 ? 0.0f : i < 200 ? 128.0f : 255.0f;
    cxr_clahe(t3, 15, 17, 1, 4.0);
    CHECK(t3[0] == 0.0f && t3[254] == 255.0f);
    CHECK(fabs(t3[150] - 255.0 * 131 / 251) < 1e-3);

    /* Each bin gains floor(E / 256) of the excess (the 3,656 above gives 14 either way over 255
     * or 256): 64x64 at clip 2 (limit 32), pixels 0..229 one each, the other 3,866 of 100, so
     * hist(100) = 3,867 and E = 3,835 = 14 * 256 + 251: every bin gains 14 and bins 0..250 one
     * more (step 256 / 251 -> 1). hist(v) = 16 for v in 0..229 but 100, hist(100) = 47; cdf_min
     * = 16, cdf(100) = 100 * 16 + 47 = 1647, cdf(229) = 229 * 16 + 47 = 3711: 100 maps to
     * 255 * 1631 / 4080 = 101.9375 and 229 to 255 * 3695 / 4080 = 230.9375 (floor(E / 255) =
     * 15 would leave a negative remainder). */
    for (int i = 0; i < 4096; i++) c[i] = i < 230 ? (float)i : 100.0f;
    cxr_clahe(c, 64, 64, 1, 2.0);
    CHECK(c[0] == 0.0f);
    CHECK(fabs(c[100] - 255.0 * 1631 / 4080) < 1e-3 && fabs(c[4000] - 255.0 * 1631 / 4080) < 1e-3);
    CHECK(fabs(c[229] - 255.0 * 3695 / 4080) < 1e-3);

    /* Both axes, 16x16 in 2x2 tiles of 8x8 (centers 3.5 and 11.5 on each axis). Tile (row,
     * col) holds base + (x % 8) with base 0 (0,0), 4 (0,1), 2 (1,0), 6 (1,1): 8 distinct values
     * 8 times each, so its table is 255 (cdf - 8) / 56 with cdf = 8 * (values <= v):
     * at v = 4: T00 = 255 * 32 / 56 = 145.714, T01 = 0, T10 = 255 * 16 / 56 = 72.857, T11 = 0.
     * Pixel (x 8, y 6) holds 4 + 0 = 4; fx = (8 - 3.5) / 8 = 0.5625, fy = (6 - 3.5) / 8 =
     * 0.3125: 0.6875 (0.4375 T00 + 0.5625 T01) + 0.3125 (0.4375 T10 + 0.5625 T11) = 53.789
     * (with the rows and columns of tiles swapped it would be 72.003). Pixel (3, 3), before
     * both first centers, is T00 at 3 = 255 * 24 / 56 = 109.286. */
    static float q[256];
    const int base[2][2] = { { 0, 4 }, { 2, 6 } };
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) q[y * 16 + x] = (float)(base[y / 8][x / 8] + x % 8);
    cxr_clahe(q, 16, 16, 2, 0.0);
    double t00 = 255.0 * 32 / 56, t10 = 255.0 * 16 / 56;
    CHECK(fabs(q[6 * 16 + 8] - (0.6875 * 0.4375 * t00 + 0.3125 * 0.4375 * t10)) < 1e-3);
    CHECK(fabs(q[3 * 16 + 3] - 255.0 * 24 / 56) < 1e-3);

    /* Transposing the image transposes the result (tiles of uneven size: 37 and 29 are not
     * multiples of 8), up to the order of the float blend. */
    static float im[37 * 29], tr[37 * 29];
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 37; x++)
            im[y * 37 + x] = tr[x * 29 + y] = (float)((x * 7 + y * 13 + (x * y) % 11) % 256);
    cxr_clahe(im, 37, 29, 8, 2.0);
    cxr_clahe(tr, 29, 37, 8, 2.0);
    double worst = 0;
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 37; x++) worst = fmax(worst, fabs(im[y * 37 + x] - tr[x * 29 + y]));
    CHECK(worst < 1e-3);

    /* Edge cases stay finite and within 0..255: a constant image (all 0), tiles beyond the
     * image's sides (clamped), one pixel, the largest tile count (8) on 256x256. */
    float k[9] = { 5, 5, 5, 5, 5, 5, 5, 5, 5 };
    cxr_clahe(k, 3, 3, 8, 2.0);
    for (int i = 0; i < 9; i++) CHECK(k[i] == 0.0f);
    float one[1] = { 77 };
    cxr_clahe(one, 1, 1, 8, 2.0);
    CHECK(one[0] == 0.0f);
    static float big[256 * 256];
    for (int i = 0; i < 256 * 256; i++) big[i] = (float)((i * 31 + (i >> 8) * 17) % 256);
    cxr_clahe(big, 256, 256, 99, 2.0);
    int in_range = 1;
    for (int i = 0; i < 256 * 256; i++) in_range &= big[i] >= 0.0f && big[i] <= 255.0f;
    CHECK(in_range);
}

static void test_normalize(void)
{
    /* minmax on 2,4,6,10: (x-2)/8*2-1 = -1, -0.5, 0, 1 */
    float a[] = { 2, 4, 6, 10 };
    const double wa[] = { -1, -0.5, 0, 1 };
    cxr_normalize(a, 4, CXR_NORM_MINMAX);
    close_all(a, wa, 4, 1e-6, "minmax");

    /* zscore255 on 2,4,6,10: mean 5.5, deviations -3.5,-1.5,.5,4.5, variance 35/4, std 2.95804;
     * z = -1.18322, -0.50709, 0.16903, 1.52128; min-max of z to [0,255]:
     * (z + 1.18322) / 2.70450 * 255 = 0, 63.75, 127.5, 255 */
    float z[] = { 2, 4, 6, 10 };
    const double wz[] = { 0, 63.75, 127.5, 255 };
    cxr_normalize(z, 4, CXR_NORM_ZSCORE255);
    close_all(z, wz, 4, 1e-4, "zscore255");

    /* none leaves values alone */
    float n[] = { 2, 4, 6, 10 };
    const double wn[] = { 2, 4, 6, 10 };
    cxr_normalize(n, 4, CXR_NORM_NONE);
    close_all(n, wn, 4, 0, "none");

    /* constant image: finite zeros in every mode */
    const cxr_norm modes[] = { CXR_NORM_MINMAX, CXR_NORM_ZSCORE255 };
    for (int m = 0; m < 2; m++) {
        float c[6] = { 3, 3, 3, 3, 3, 3 };
        cxr_normalize(c, 6, modes[m]);
        for (int i = 0; i < 6; i++) CHECK(isfinite(c[i]) && c[i] == 0.0f);
    }
    /* one pixel is a constant image too */
    float one[1] = { 42 };
    cxr_normalize(one, 1, CXR_NORM_ZSCORE255);
    CHECK(one[0] == 0.0f);
    /* a real difference of 0.004 levels (one gray level of one pixel, 4096 px to 256) is a
     * range, stretched like any other */
    for (int m = 0; m < 2; m++) {
        float r[4] = { 77.0f, 77.004f, 77.0f, 77.0f };
        cxr_normalize(r, 4, modes[m]);
        CHECK(r[1] == (m == 0 ? 1.0f : 255.0f) && r[0] == (m == 0 ? -1.0f : 0.0f));
    }
}

/* CLAHE keeps a constant image constant at sizes whose tiles have unequal areas (S = 100: a
 * constant 1 came out as 3.04..3.57, minmax then -1..1), and with the resize's float noise in
 * the input */
static void test_clahe_constant(void)
{
    const int sizes[] = { 100, 33, 224 };
    for (int k = 0; k < 3; k++) {
        const int S = sizes[k];
        float *img = malloc(sizeof(float) * S * S);
        REQUIRE(img);
        for (int i = 0; i < S * S; i++) img[i] = i % 3 ? 1.0f : 1.0000001f;
        cxr_clahe(img, S, S, 8, 2.0);
        float lo = img[0], hi = img[0];
        for (int i = 1; i < S * S; i++) lo = fminf(lo, img[i]), hi = fmaxf(hi, img[i]);
        CHECK(lo == hi);
        cxr_normalize(img, (size_t)S * S, CXR_NORM_MINMAX);
        CHECK(img[0] == 0.0f && img[S * S - 1] == 0.0f);
        free(img);
    }
}

static void test_names_and_defaults(void)
{
    cxr_preprocess_params p;
    cxr_preprocess_defaults(&p);
    CHECK(p.size == 256);
    CHECK(p.equalize == 1);
    CHECK(p.normalize == CXR_NORM_MINMAX);
    CHECK(p.crop_ratio == 0.0);
    CHECK(p.max_side == 16384);
    const cxr_norm all[] = { CXR_NORM_MINMAX, CXR_NORM_ZSCORE255, CXR_NORM_NONE };
    const char *names[] = { "minmax", "zscore255", "none" };
    for (int i = 0; i < 3; i++) {
        cxr_norm back = CXR_NORM_NONE;
        CHECK(strcmp(cxr_norm_name(all[i]), names[i]) == 0);
        CHECK(cxr_norm_parse(names[i], &back) == CXR_OK && back == all[i]);
    }
    cxr_norm x;
    CHECK(cxr_norm_parse("zscore", &x) == CXR_E_ARG);
    CHECK(strstr(cxr_last_error(), "zscore") != NULL);
    CHECK(cxr_norm_parse(NULL, &x) == CXR_E_ARG);

    const char *eq[] = { "none", "global", "clahe" };
    for (int e = 0; e < 3; e++) {
        int back = -1;
        CHECK(strcmp(cxr_equalize_name(e), eq[e]) == 0);
        CHECK(cxr_equalize_parse(eq[e], &back) == CXR_OK && back == e);
        p.equalize = e;
        CHECK(cxr_preprocess_check(&p) == CXR_OK);
    }
    int e = 0;
    CHECK(cxr_equalize_name(3) == NULL && cxr_equalize_parse("CLAHE", &e) == CXR_E_ARG);
    CHECK(strstr(cxr_last_error(), "CLAHE") != NULL);
    p.equalize = 3;
    CHECK(cxr_preprocess_check(&p) == CXR_E_ARG);
    CHECK(strstr(cxr_last_error(), "equalize 3") != NULL);
    /* the clip limit: default 2; (0, 256] with CLAHE, not read otherwise */
    cxr_preprocess_defaults(&p);
    CHECK(p.clahe_clip == CXR_CLAHE_CLIP && CXR_CLAHE_CLIP == 2.0);
    const double clips[] = { 0, -1, 256.5, NAN, INFINITY };
    for (int k = 0; k < 5; k++) {
        p.clahe_clip = clips[k];
        p.equalize = CXR_EQUALIZE_GLOBAL;
        CHECK(cxr_preprocess_check(&p) == CXR_OK);
        p.equalize = CXR_EQUALIZE_CLAHE;
        CHECK(cxr_preprocess_check(&p) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "clahe_clip") != NULL);
    }
    p.clahe_clip = 256;
    CHECK(cxr_preprocess_check(&p) == CXR_OK);
    /* same steps: the clip limit counts for CLAHE only; size and max_side do not count */
    cxr_preprocess_params q = p;
    char buf[48];
    q.size = 7, q.max_side = 9;
    CHECK(cxr_preprocess_same_steps(&p, &q));
    CHECK(strcmp(cxr_equalize_label(&q, buf, sizeof buf), "clahe clip 256") == 0);
    q.clahe_clip = 4;
    CHECK(!cxr_preprocess_same_steps(&p, &q));
    p.equalize = q.equalize = CXR_EQUALIZE_GLOBAL;
    CHECK(cxr_preprocess_same_steps(&p, &q));
    CHECK(strcmp(cxr_equalize_label(&q, buf, sizeof buf), "global") == 0);
    q.crop_ratio = 0.5;
    CHECK(!cxr_preprocess_same_steps(&p, &q));
}

/* cxr_equalize_normalize (the decoder's step) is cxr_equalize then cxr_normalize, bit for bit,
 * for minmax and none, on values between the integers (a resized image's, which the binning
 * rounds half up: -3.0 .. 259.0 in steps of 0.1), at sizes that take its paths of 16, 4 and 1
 * pixels. */
static void test_equalize_normalize(void)
{
    static float a[999], b[999];
    static uint8_t bins[999];
    const size_t sizes[] = { 3, 7, 16, 23, 999 };
    const cxr_norm modes[] = { CXR_NORM_MINMAX, CXR_NORM_NONE };
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 5; k++) {
            const size_t n = sizes[k];
            for (size_t i = 0; i < n; i++) a[i] = b[i] = (float)((i * 7919) % 2621) * 0.1f - 3.0f;
            cxr_equalize(a, n);
            cxr_normalize(a, n, modes[m]);
            cxr_equalize_normalize(b, bins, n, modes[m]);
            if (memcmp(a, b, n * sizeof *a) != 0) {
                fprintf(stderr, "equalize_normalize %s, %zu pixels: not equalize + normalize\n",
                        cxr_norm_name(modes[m]), n);
                cxr_test_failures++;
            }
        }
}

int main(void)
{
    test_rgb_to_gray();
    test_crop_box();
    test_resize_down2();
    test_resize_ramp();
    test_resize_constant();
    test_resize_up();
    test_equalize();
    test_equalize_normalize();
    test_clahe();
    test_normalize();
    test_clahe_constant();
    test_names_and_defaults();
    TEST_END();
}
