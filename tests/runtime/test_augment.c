/* test_augment.c: train-time augmentation (runtime/cxr_augment.h) and its use by the loader.
 * Identity gives the input bit for bit; integer shifts, a flip, a half-pixel shift, a 90-degree
 * rotation and the photometric jitter match their closed forms; the border and random erasing
 * touch only their pixels; spec parse/format round-trip;
 * the loader's augmented images are cxr_augment_image of the stored ones for (seed, epoch,
 * index), identical at any thread count, prefetch, window and batch, and change with the epoch
 * and the seed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_augment.h"
#include "cxr_fpenv.h"
#include "cxr_loader.h"
#include "cxr_test.h"
#include "loader_fixture.h"

#define S      24
#define SHARD  8
#define NTRAIN 29

static float *random_image(int size, uint64_t seed)
{
    float *img = malloc((size_t)size * size * sizeof *img);
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 7;
    for (int i = 0; i < size * size; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        img[i] = (float)((x >> 40) & 0xFFFF) / 32768.0f - 1.0f;
    }
    return img;
}

static float image_min(const float *v, int n)
{
    float m = v[0];
    for (int i = 1; i < n; i++) m = v[i] < m ? v[i] : m;
    return m;
}

static void identity_xform(cxr_augment_xform *x)
{
    memset(x, 0, sizeof *x);
    x->scale = 1;
    x->contrast = 1;
    x->aspect = 1;
    x->detail = 1;
}

static void test_identity(void)
{
    float *src = random_image(S, 1), *dst = malloc(S * S * sizeof *dst);
    src[5] = -0.0f; /* a negative zero survives too */
    cxr_augment_params p;
    cxr_augment_params_none(&p);
    CHECK(!cxr_augment_active(&p));
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 5; i++) {
            cxr_augment_xform x;
            cxr_augment_draw(&p, 42, e, i, S, &x);
            CHECK(cxr_augment_xform_is_identity(&x));
            memset(dst, 0x7f, S * S * sizeof *dst);
            cxr_augment_image(&p, 42, e, i, src, dst, S);
            CHECK(memcmp(src, dst, S * S * sizeof *dst) == 0);
        }
    /* TTA transform 0 is the identity, the others are not */
    cxr_augment_xform x;
    cxr_augment_tta_xform(0, S, &x);
    CHECK(cxr_augment_xform_is_identity(&x));
    for (int t = 1; t < CXR_TTA_MAX; t++) {
        cxr_augment_tta_xform(t, S, &x);
        CHECK(!cxr_augment_xform_is_identity(&x));
        CHECK(x.contrast == 1 && x.brightness == 0 && !x.flip);
        for (int u = 0; u < t; u++) { /* eight different views, not repeats */
            cxr_augment_xform y;
            cxr_augment_tta_xform(u, S, &y);
            CHECK(x.angle != y.angle || x.scale != y.scale || x.tx != y.tx || x.ty != y.ty);
        }
    }
    /* the rotations are +-5 degrees, a pair */
    cxr_augment_xform r1, r2;
    cxr_augment_tta_xform(1, S, &r1);
    cxr_augment_tta_xform(2, S, &r2);
    CHECK_CLOSE(r1.angle, 5 * M_PI / 180, 1e-7, 0);
    CHECK(r2.angle == -r1.angle);
    free(src);
    free(dst);
}

/* Integer shifts (tx, ty): dst(x, y) = src(x - tx, y - ty), the image minimum outside. */
static void test_integer_shift(void)
{
    float *src = random_image(S, 2), *dst = malloc(S * S * sizeof *dst);
    const float lo = image_min(src, S * S);
    const int shifts[][2] = { { 3, -2 }, { -5, 0 }, { 0, 7 }, { 1, 1 }, { -S, 0 } };
    for (size_t k = 0; k < sizeof shifts / sizeof shifts[0]; k++) {
        cxr_augment_xform x;
        identity_xform(&x);
        x.tx = (float)shifts[k][0];
        x.ty = (float)shifts[k][1];
        cxr_augment_apply(&x, src, dst, S);
        int bad = 0;
        for (int y = 0; y < S; y++)
            for (int xo = 0; xo < S; xo++) {
                int sx = xo - shifts[k][0], sy = y - shifts[k][1];
                float want = sx >= 0 && sx < S && sy >= 0 && sy < S ? src[sy * S + sx] : lo;
                bad += dst[y * S + xo] != want;
            }
        if (bad)
            fprintf(stderr, "shift (%d,%d): %d pixels differ\n", shifts[k][0], shifts[k][1], bad);
        CHECK(bad == 0);
    }
    /* flip alone: dst(x, y) = src(S-1-x, y) */
    cxr_augment_xform x;
    identity_xform(&x);
    x.flip = 1;
    cxr_augment_apply(&x, src, dst, S);
    int bad = 0;
    for (int y = 0; y < S; y++)
        for (int xo = 0; xo < S; xo++) bad += dst[y * S + xo] != src[y * S + S - 1 - xo];
    CHECK(bad == 0);
    free(src);
    free(dst);
}

/* A half-pixel shift is the mean of horizontal neighbours; a 90-degree rotation moves a point
 * (clockwise on screen, y pointing down); the photometric part is the documented clamp. */
static void test_interpolation_and_photometric(void)
{
    float *src = random_image(S, 3), *dst = malloc(S * S * sizeof *dst);
    cxr_augment_xform x;
    identity_xform(&x);
    x.tx = 0.5f;
    cxr_augment_apply(&x, src, dst, S);
    double worst = 0;
    for (int y = 0; y < S; y++)
        for (int xo = 1; xo < S; xo++) {
            double want = 0.5 * ((double)src[y * S + xo - 1] + src[y * S + xo]);
            double d = fabs(dst[y * S + xo] - want);
            worst = d > worst ? d : worst;
        }
    CHECK(worst < 1e-6);

    const int O = 33, c = 16; /* odd side: the centre is a pixel */
    float *pt = calloc((size_t)O * O, sizeof *pt), *rot = malloc((size_t)O * O * sizeof *rot);
    pt[c * O + c + 8] = 1; /* (c+8, c) */
    identity_xform(&x);
    x.angle = (float)(M_PI / 2);
    cxr_augment_apply(&x, pt, rot, O);
    CHECK(rot[(c + 8) * O + c] > 0.999f); /* now at (c, c+8) */
    double total = 0;
    for (int i = 0; i < O * O; i++) total += rot[i];
    CHECK(fabs(total - 1) < 1e-3);
    /* a stretch: aspect r with scale 1 moves (c+8, c) to (c+8*sqrt r, c) and (c, c+8) to
     * (c, c+8/sqrt r); r = 4 gives integer targets (c+16, c) and (c, c+4) */
    identity_xform(&x);
    x.aspect = 4;
    cxr_augment_apply(&x, pt, rot, O);
    CHECK(rot[c * O + c + 16] > 0.999f);
    memset(pt, 0, (size_t)O * O * sizeof *pt);
    pt[(c + 8) * O + c] = 1;
    cxr_augment_apply(&x, pt, rot, O);
    /* (c, c+8) samples to the output rows y with (y-c)*2 = 8: y = c+4 exactly */
    CHECK(rot[(c + 4) * O + c] > 0.999f);
    CHECK(!cxr_augment_xform_is_identity(&x));
    /* stretch then rotate: (c+8, c) is stretched to (c+16, c), then turned 90 degrees to
     * (c, c+16) (the sine terms take the x axis' 1/sx, not the y axis' 1/sy) */
    memset(pt, 0, (size_t)O * O * sizeof *pt);
    pt[c * O + c + 8] = 1;
    x.angle = (float)(M_PI / 2);
    cxr_augment_apply(&x, pt, rot, O);
    CHECK(rot[(c + 16) * O + c] > 0.999f);
    free(pt);
    free(rot);

    /* the photometric step on an image of a [-1, 1] store (its range exactly that): v =
     * contrast * v + brightness to the bit, clamped to the range */
    identity_xform(&x);
    x.contrast = 1.3f;
    x.brightness = 0.05f;
    src[0] = -1.0f, src[1] = 1.0f;
    cxr_augment_apply(&x, src, dst, S);
    const float lo = -1.0f, hi = 1.0f;
    int bad = 0, clamped = 0;
    for (int i = 0; i < S * S; i++) {
        float v = x.contrast * src[i] + x.brightness;
        float want = v < lo ? lo : v > hi ? hi : v;
        bad += dst[i] != want;
        clamped += want != v;
    }
    CHECK(bad == 0);
    CHECK(clamped > 0);
    /* the same images as a [0, 255] store holds them: contrast about 127.5, brightness in units
     * of 127.5, so the result is the [-1, 1] image's, scaled (to float rounding) */
    x.brightness = 0.05f;
    cxr_augment_apply(&x, src, dst, S);
    float *s255 = malloc(S * S * sizeof *s255), *d255 = malloc(S * S * sizeof *d255);
    REQUIRE(s255 && d255);
    for (int i = 0; i < S * S; i++) s255[i] = src[i] * 127.5f + 127.5f;
    cxr_augment_apply(&x, s255, d255, S);
    double w255 = 0;
    for (int i = 0; i < S * S; i++) {
        const double e = fabs(d255[i] - (dst[i] * 127.5 + 127.5));
        w255 = e > w255 ? e : w255;
    }
    CHECK(w255 < 1e-3);
    if (w255 >= 1e-3) fprintf(stderr, "photometric step on [0, 255]: worst %g\n", w255);
    free(s255), free(d255);
    free(src);
    free(dst);
}

/* The FNV-1a hash of cxr_augment_image(SPEC, seed 9, epoch e, index 2) of random_image(24, 3)
 * with its first pixels -1 and 1 (the range of a [-1, 1] store's images), for e = 0 ..
 * epochs-1: 1 when it is `want`, else 0, printing the hash found. The pins are 0.16's code's
 * (before the photometric step took the image's range): on such images 0.17 changed no bit. */
static int pinned_hash(const char *spec, int epochs, uint64_t want)
{
    enum { P = 24 };
    cxr_augment_params p;
    CHECK_OK(cxr_augment_parse(spec, &p));
    float *src = random_image(P, 3), *dst = malloc(P * P * sizeof *dst);
    REQUIRE(src && dst);
    src[0] = -1.0f, src[1] = 1.0f; /* the range of every image of a [-1, 1] store */
    uint64_t h = 1469598103934665603ull;
    for (int e = 0; e < epochs; e++) {
        cxr_augment_image(&p, 9, e, 2, src, dst, P);
        const unsigned char *q = (const unsigned char *)dst;
        for (size_t k = 0; k < P * P * sizeof *dst; k++) h = (h ^ q[k]) * 1099511628211ull;
    }
    if (h != want)
        fprintf(stderr, "pinned pixels of %s: hash %#llx\n", spec, (unsigned long long)h);
    free(src);
    free(dst);
    return h == want;
}

/* 1 when a and b hold the same values of the first n draws (cxr_augment.h's order: angle,
 * scale, tx, ty, contrast, brightness, flip, aspect, detail), else 0 */
static int same_first_draws(const cxr_augment_xform *a, const cxr_augment_xform *b, int n)
{
    const float va[9] = { a->angle,      a->scale,       a->tx,     a->ty,    a->contrast,
                          a->brightness, (float)a->flip, a->aspect, a->detail };
    const float vb[9] = { b->angle,      b->scale,       b->tx,     b->ty,    b->contrast,
                          b->brightness, (float)b->flip, b->aspect, b->detail };
    for (int i = 0; i < n && i < 9; i++)
        if (va[i] != vb[i]) return 0;
    return 1;
}

/* format p into buf, parse it back: the same params, bit for bit */
static void check_round_trip(const cxr_augment_params *p, char *buf, size_t cap)
{
    cxr_augment_params q;
    cxr_augment_format(p, buf, cap);
    CHECK_OK(cxr_augment_parse(buf, &q));
    CHECK(memcmp(p, &q, sizeof q) == 0);
}

static void test_spec(void)
{
    cxr_augment_params p;
    char buf[160];
    CHECK_OK(cxr_augment_parse("default", &p));
    check_round_trip(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1,"
                      "hflip=0") == 0);
    CHECK_OK(cxr_augment_parse("none", &p));
    CHECK(!cxr_augment_active(&p));
    cxr_augment_format(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "none") == 0);
    CHECK_OK(cxr_augment_parse("default,hflip=1,rotate=3", &p));
    CHECK(p.hflip == 1 && p.rotate_deg == 3.0f && p.translate == 0.08f);
    CHECK_OK(cxr_augment_parse("translate=0.125", &p));
    CHECK(p.translate == 0.125f && p.rotate_deg == 0 && p.scale_min == 1 && cxr_augment_active(&p));
    CHECK_OK(cxr_augment_parse("scale=0.8:1.25", &p));
    check_round_trip(&p, buf, sizeof buf);
    /* aspect: off in default and in the canonical spec unless given; round trip */
    CHECK_OK(cxr_augment_parse("default,rotate=20", &p)); /* an item overrides default's */
    CHECK(p.rotate_deg == 20);
    CHECK_OK(cxr_augment_parse("erase=0.1:0.2,erase_p=0.5", &p)); /* erase is not erase_p */
    CHECK_OK(cxr_augment_parse("default,aspect=0.8:1.25", &p));
    CHECK(p.aspect_min == 0.8f && p.aspect_max == 1.25f && p.rotate_deg == 10);
    check_round_trip(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1,"
                      "hflip=0,aspect=0.8:1.25") == 0);
    CHECK_OK(cxr_augment_parse("aspect=0.9:1.1", &p));
    CHECK(cxr_augment_active(&p) && p.scale_min == 1 && p.rotate_deg == 0);
    CHECK_OK(cxr_augment_parse("aspect=1:1", &p));
    CHECK(!cxr_augment_active(&p) && !cxr_augment_draws(&p));
    /* a fixed change is active but draws nothing; a range, a flip or an erase draws */
    CHECK_OK(cxr_augment_parse("aspect=1.25:1.25,detail=2:2,border=0.1:0.1", &p));
    CHECK(cxr_augment_active(&p) && !cxr_augment_draws(&p));
    CHECK_OK(cxr_augment_parse("hflip=1", &p));
    CHECK(cxr_augment_draws(&p));
    CHECK_OK(cxr_augment_parse("erase=0.1:0.1", &p));
    CHECK(cxr_augment_draws(&p));
    /* "-0" is 0 in the canonical spec */
    CHECK_OK(cxr_augment_parse("rotate=-0,border=-0:0.1,hflip=1", &p));
    cxr_augment_format(&p, buf, sizeof buf);
    CHECK(strstr(buf, "rotate=0,") && strstr(buf, "border=0:0.1") && !strstr(buf, "-0"));
    { /* the longest spec fits CXR_AUGMENT_SPEC_MAX */
        char big[CXR_AUGMENT_SPEC_MAX];
        CHECK_OK(cxr_augment_parse("rotate=0.123456789,scale=0.523456789:1.923456789,translate="
                                   "0.123456789,brightness=0.123456789,contrast=0.123456789,"
                                   "hflip=1,aspect=0.523456789:1.923456789",
                                   &p));
        check_round_trip(&p, big, sizeof big);
        CHECK(strlen(big) < sizeof big - 1);
    }
    const char *bad[] = { "",
                          "foo",
                          "rotate=",
                          "rotate=91",
                          "rotate=-1",
                          "scale=1.1:0.9",
                          "scale=1",
                          "hflip=2",
                          "default,",
                          "contrast=1",
                          "translate=0.1,",
                          "rotate=1x",
                          "aspect=1.2",
                          "aspect=1.2:0.9",
                          "aspect=0.4:1",
                          "aspect=1:2.5",
                          "detail=2",
                          "detail=2:0.5",
                          "detail=0.2:1",
                          "detail=1:4.5",
                          "erase=0.2",
                          "erase=0.3:0.1",
                          "erase=0:0.6",
                          "erase_p=0.3", /* a probability without an area */
                          "erase_p=0.5", /* ... its default value too */
                          "default,erase_p=0.5",
                          "erase=0:0,erase_p=1",
                          "erase=0.1:0.2,erase_p=0",
                          "erase=0.1:0.2,erase_p=1.5",
                          "rotate=10,rotate=20", /* a key twice: which was meant? */
                          "default,scale=0.8:1.2,hflip=1,scale=0.9:1.1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.rotate_deg = 77;
        CHECK(cxr_augment_parse(bad[i], &p) == CXR_E_ARG);
        CHECK(p.rotate_deg == 77);
    }
    /* the draws stay inside the ranges and cover them */
    cxr_augment_params_default(&p);
    p.hflip = 1;
    float amax = 0, smin = 2, smax = 0, tmax = 0;
    int flips = 0;
    for (int i = 0; i < 2000; i++) {
        cxr_augment_xform x;
        cxr_augment_draw(&p, 9, i % 7, i, 256, &x);
        amax = fabsf(x.angle) > amax ? fabsf(x.angle) : amax;
        smin = x.scale < smin ? x.scale : smin;
        smax = x.scale > smax ? x.scale : smax;
        tmax = fabsf(x.tx) > tmax ? fabsf(x.tx) : tmax;
        CHECK(fabsf(x.ty) <= 0.08f * 256 && fabsf(x.brightness) <= 0.1f);
        CHECK(x.contrast >= 0.9f && x.contrast <= 1.1f);
        flips += x.flip;
    }
    CHECK(amax <= 10 * M_PI / 180 + 1e-6 && amax > 9.5 * M_PI / 180);
    CHECK(smin >= 0.9f && smin < 0.91f && smax <= 1.1f && smax > 1.09f);
    CHECK(tmax <= 0.08f * 256 && tmax > 0.075f * 256);
    CHECK(flips > 900 && flips < 1100);
    /* brightness and contrast each from its own range (the defaults are equal: 0.1 and 0.1) */
    p.brightness = 0.2f;
    p.contrast = 0.05f;
    float bmax = 0, kmin = 2, kmax = 0;
    for (int i = 0; i < 2000; i++) {
        cxr_augment_xform x;
        cxr_augment_draw(&p, 9, i % 7, i, 256, &x);
        bmax = fabsf(x.brightness) > bmax ? fabsf(x.brightness) : bmax;
        kmin = x.contrast < kmin ? x.contrast : kmin;
        kmax = x.contrast > kmax ? x.contrast : kmax;
    }
    CHECK(bmax <= 0.2f && bmax > 0.19f);
    CHECK(kmin >= 0.95f && kmin < 0.955f && kmax <= 1.05f && kmax > 1.045f);

    /* the stretch is the eighth draw: adding it changes none of the first seven; it is
     * log-uniform (as many below 1 as above for 0.8:1.25) and stays in range */
    cxr_augment_params d, da;
    cxr_augment_params_default(&d);
    CHECK_OK(cxr_augment_parse("default,aspect=0.8:1.25", &da));
    int below = 0;
    float rmin = 2, rmax = 0;
    double mean_log = 0;
    for (int i = 0; i < 2000; i++) {
        cxr_augment_xform x0, x1;
        cxr_augment_draw(&d, 9, i % 7, i, 256, &x0);
        cxr_augment_draw(&da, 9, i % 7, i, 256, &x1);
        CHECK(x0.aspect == 1);
        CHECK(same_first_draws(&x0, &x1, 7));
        CHECK(x1.aspect >= 0.8f && x1.aspect <= 1.25f);
        rmin = x1.aspect < rmin ? x1.aspect : rmin;
        rmax = x1.aspect > rmax ? x1.aspect : rmax;
        below += x1.aspect < 1;
        mean_log += log(x1.aspect) / 2000;
    }
    CHECK(rmin < 0.81f && rmax > 1.23f);
    CHECK(below > 900 && below < 1100);
    /* log-uniform on [0.8, 1.25]: mean log 0 (sd of the mean 0.003); uniform would give +0.017 */
    CHECK(fabs(mean_log) < 0.008);
}

/* The detail gain: its spec, its draw (the ninth: the first eight unchanged), and what it does
 * to an image: fine structure scaled by the gain, the large-scale content left alone. */
static void test_detail(void)
{
    cxr_augment_params p, d;
    char buf[CXR_AUGMENT_SPEC_MAX];
    CHECK_OK(cxr_augment_parse("default,aspect=0.8:1.25,detail=0.5:2", &p));
    CHECK(p.detail_min == 0.5f && p.detail_max == 2 && p.aspect_min == 0.8f);
    check_round_trip(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1,"
                      "hflip=0,aspect=0.8:1.25,detail=0.5:2") == 0);
    CHECK_OK(cxr_augment_parse("detail=0.25:4", &p));
    CHECK(cxr_augment_active(&p) && p.rotate_deg == 0 && p.aspect_min == 1);
    check_round_trip(&p, buf, sizeof buf);
    CHECK_OK(cxr_augment_parse("detail=1:1", &p));
    CHECK(!cxr_augment_active(&p));
    cxr_augment_params_default(&d);
    CHECK_OK(cxr_augment_parse("default,detail=0.5:2", &p));
    int below = 0;
    float kmin = 4, kmax = 0;
    for (int i = 0; i < 2000; i++) {
        cxr_augment_xform x0, x1;
        cxr_augment_draw(&d, 9, i % 7, i, 256, &x0);
        cxr_augment_draw(&p, 9, i % 7, i, 256, &x1);
        CHECK(x0.detail == 1);
        CHECK(same_first_draws(&x0, &x1, 8));
        CHECK(x1.detail >= 0.5f && x1.detail <= 2);
        kmin = x1.detail < kmin ? x1.detail : kmin;
        kmax = x1.detail > kmax ? x1.detail : kmax;
        below += x1.detail < 1;
    }
    CHECK(kmin < 0.51f && kmax > 1.97f);
    CHECK(below > 900 && below < 1100); /* log-uniform: half below 1 */

    /* pixels: a 64 x 64 image = a horizontal ramp + a +-0.2 checkerboard (pure fine detail,
     * which the blur all but removes: what is left, largest in the top and bottom rows where
     * the replicated ends meet it, stays under 1e-4). Gain k keeps the ramp (a Gaussian keeps
     * a linear function; away from the left and right edges, where the replicated ends bend
     * it) and scales the checkerboard by k. */
    enum { O = 64 };
    float *src = malloc(O * O * sizeof *src), *dst = malloc(O * O * sizeof *dst);
    REQUIRE(src && dst);
    for (int y = 0; y < O; y++)
        for (int xx = 0; xx < O; xx++)
            src[y * O + xx] = -0.5f + (float)xx / O + ((xx + y) % 2 ? 0.2f : -0.2f);
    const float gains[] = { 0.5f, 0.25f, 1.5f };
    for (int g = 0; g < 3; g++) {
        cxr_augment_xform x;
        identity_xform(&x);
        x.detail = gains[g];
        CHECK(!cxr_augment_xform_is_identity(&x));
        cxr_augment_apply(&x, src, dst, O);
        double worst = 0;
        for (int y = 0; y < O; y++)
            for (int xx = 16; xx < O - 16; xx++) {
                const float ramp = -0.5f + (float)xx / O;
                const float want = ramp + gains[g] * (src[y * O + xx] - ramp);
                const double e = fabs((double)dst[y * O + xx] - want);
                worst = e > worst ? e : worst;
            }
        CHECK(worst < 1e-4);
        if (worst >= 1e-4) fprintf(stderr, "detail %g: worst %g\n", gains[g], worst);
    }
    /* against a reference: a random image through rotation, zoom, shift, stretch, flip, detail
     * and the photometric step = the geometry alone (detail 1; checked above and by the closed
     * forms), then in double: b = that image blurred by a Gaussian of CXR_AUGMENT_DETAIL_SIGMA px
     * (taps to 3 sigma, normalized, ends replicated), rows then columns; v = clamp(contrast *
     * (b + k (w - b) - m) + brightness * h + m) to the input's [min, max], m and h its centre
     * and half-width (this image's range is not [-1, 1]). A wrong sigma, a missing pass or
     * other edges miss this by 1e-2 or more. */
    {
        enum { R = 48, TR = 3 * CXR_AUGMENT_DETAIL_SIGMA };
        float *img = random_image(R, 5), *got = malloc(R * R * sizeof *got),
              *geo = malloc(R * R * sizeof *geo);
        double *h = malloc(R * R * sizeof *h), *b = malloc(R * R * sizeof *b), t[TR + 1], ts = 0;
        REQUIRE(img && got && geo && h && b);
        for (int i = 0; i <= TR; i++) {
            t[i] =
                exp(-0.5 * ((double)i / CXR_AUGMENT_DETAIL_SIGMA) * i / CXR_AUGMENT_DETAIL_SIGMA);
            ts += i ? 2 * t[i] : t[i];
        }
        cxr_augment_xform x;
        identity_xform(&x);
        x.angle = 0.1f, x.scale = 1.07f, x.tx = 2.5f, x.ty = -1.25f, x.flip = 1, x.aspect = 0.9f;
        cxr_augment_apply(&x, img, geo, R); /* photometric off: no clamp either */
        x.contrast = 1.1f, x.brightness = -0.05f;
        for (int y = 0; y < R; y++)
            for (int xx = 0; xx < R; xx++) {
                double acc = 0;
                for (int j = -TR; j <= TR; j++) {
                    const int c = xx + j < 0 ? 0 : xx + j >= R ? R - 1 : xx + j;
                    acc += t[j < 0 ? -j : j] / ts * geo[y * R + c];
                }
                h[y * R + xx] = acc;
            }
        for (int y = 0; y < R; y++)
            for (int xx = 0; xx < R; xx++) {
                double acc = 0;
                for (int j = -TR; j <= TR; j++) {
                    const int r = y + j < 0 ? 0 : y + j >= R ? R - 1 : y + j;
                    acc += t[j < 0 ? -j : j] / ts * h[r * R + xx];
                }
                b[y * R + xx] = acc;
            }
        const double lo = image_min(img, R * R);
        double top = img[0];
        for (int i = 1; i < R * R; i++) top = img[i] > top ? img[i] : top;
        const float ks[] = { 0.5f, 1.7f };
        for (int g = 0; g < 2; g++) {
            x.detail = ks[g];
            cxr_augment_apply(&x, img, got, R);
            double worst = 0;
            int clamped = 0;
            for (int i = 0; i < R * R; i++) {
                const double m = (lo + top) / 2, hw = (top - lo) / 2; /* not [-1, 1] here */
                double v = x.contrast * (b[i] + ks[g] * (geo[i] - b[i]) - m) + x.brightness * hw + m;
                clamped += v < lo || v > top;
                v = v < lo ? lo : v > top ? top : v;
                const double e = fabs(got[i] - v);
                worst = e > worst ? e : worst;
            }
            CHECK(worst < 1e-5);
            if (worst >= 1e-5) fprintf(stderr, "detail %g vs reference: worst %g\n", ks[g], worst);
            CHECK(g == 0 || clamped > 0); /* 1.7 sharpens past the range somewhere */
        }
        free(img), free(got), free(geo), free(h), free(b);
    }
    /* pinned, computed with runtime/augment.c as the gain was added (Debian 12's glibc: the gain
     * and the taps go through exp): a later change to these pixels changes the training images
     * of a run with it */
    CHECK(pinned_hash("default,detail=0.5:2", 3, 0x2b701db53ee8bb5aull));
    /* a constant image stays constant; a gain past the range is clamped to the input's own */
    for (int i = 0; i < O * O; i++) src[i] = 0.25f;
    cxr_augment_xform x;
    identity_xform(&x);
    x.detail = 3;
    cxr_augment_apply(&x, src, dst, O);
    int bad = 0;
    for (int i = 0; i < O * O; i++) bad += fabsf(dst[i] - 0.25f) > 1e-6f;
    CHECK(bad == 0);
    for (int i = 0; i < O * O; i++) src[i] = i % 2 ? 1.0f : -1.0f;
    cxr_augment_apply(&x, src, dst, O);
    for (int i = 0; i < O * O; i++) bad += dst[i] < -1 || dst[i] > 1;
    CHECK(bad == 0);
    free(src);
    free(dst);
}

/* parse spec into *p: its canonical form is want, and parses back to *p bit for bit */
static void check_canonical(const char *spec, const char *want, cxr_augment_params *p)
{
    char buf[CXR_AUGMENT_SPEC_MAX];
    CHECK_OK(cxr_augment_parse(spec, p));
    check_round_trip(p, buf, sizeof buf);
    if (strcmp(buf, want) != 0) fprintf(stderr, "%s: canonical %s, want %s\n", spec, buf, want);
    CHECK(strcmp(buf, want) == 0);
}

/* The hidden border: its spec, its draw (the tenth: the first nine unchanged), and its pixels:
 * the outer floor(border * S) on every side are the input's minimum, the rest is the transform
 * without it, bit for bit. */
static void test_border(void)
{
    cxr_augment_params p, d;
    char buf[CXR_AUGMENT_SPEC_MAX];
    CHECK_OK(cxr_augment_parse("default,detail=0.5:2,border=0:0.2", &p));
    CHECK(p.border_min == 0 && p.border_max == 0.2f && p.detail_max == 2);
    check_round_trip(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1,"
                      "hflip=0,detail=0.5:2,border=0:0.2") == 0);
    CHECK_OK(cxr_augment_parse("border=0.1:0.1", &p));
    CHECK(cxr_augment_active(&p) && p.rotate_deg == 0);
    CHECK_OK(cxr_augment_parse("border=0:0", &p));
    CHECK(!cxr_augment_active(&p));
    { /* the longest spec of all keys fits CXR_AUGMENT_SPEC_MAX */
        char big[CXR_AUGMENT_SPEC_MAX];
        CHECK_OK(cxr_augment_parse("rotate=0.123456789,scale=0.523456789:1.923456789,translate="
                                   "0.123456789,brightness=0.123456789,contrast=0.123456789,"
                                   "hflip=1,aspect=0.523456789:1.923456789,detail="
                                   "0.253456789:3.923456789,border=0.123456789:0.323456789,"
                                   "erase=0.123456789:0.323456789,erase_p=0.123456789",
                                   &p));
        check_round_trip(&p, big, sizeof big);
        CHECK(strlen(big) < sizeof big - 1);
    }
    const char *bad[] = { "border=0.2", "border=0.3:0.1", "border=-0.1:0.1", "border=0:0.5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.border_max = 0.3f;
        CHECK(cxr_augment_parse(bad[i], &p) == CXR_E_ARG);
        CHECK(p.border_max == 0.3f); /* unchanged */
    }
    cxr_augment_params_default(&d);
    CHECK_OK(cxr_augment_parse("default,border=0.05:0.2", &p));
    float bmin = 1, bmax = 0;
    double mean = 0;
    for (int i = 0; i < 2000; i++) {
        cxr_augment_xform x0, x1;
        cxr_augment_draw(&d, 9, i % 7, i, 256, &x0);
        cxr_augment_draw(&p, 9, i % 7, i, 256, &x1);
        CHECK(x0.border == 0);
        CHECK(same_first_draws(&x0, &x1, 9));
        CHECK(x1.border >= 0.05f && x1.border <= 0.2f);
        bmin = x1.border < bmin ? x1.border : bmin;
        bmax = x1.border > bmax ? x1.border : bmax;
        mean += x1.border / 2000;
    }
    CHECK(bmin < 0.052f && bmax > 0.198f);
    CHECK(fabs(mean - 0.125) < 0.004); /* uniform: sd of the mean 0.001 */

    enum { O = 40 };
    float *src = random_image(O, 7), *dst = malloc(O * O * sizeof *dst),
          *ref = malloc(O * O * sizeof *ref);
    REQUIRE(src && dst && ref);
    const float lo = image_min(src, O * O);
    cxr_augment_xform x;
    identity_xform(&x);
    /* a contrast below 1 and a brightness above 0 lift the transformed image's minimum above
     * the input's: the band must hold the input's, set after the photometric step */
    x.angle = 0.05f, x.tx = 1.5f, x.contrast = 0.8f, x.brightness = 0.1f, x.detail = 0.7f;
    cxr_augment_apply(&x, src, ref, O);
    CHECK(image_min(ref, O * O) > lo);
    const float borders[] = { 0.1f, 0.26f, 0.02f }; /* B = 4, 10, 0 */
    const int Bs[] = { 4, 10, 0 };
    for (int k = 0; k < 3; k++) {
        x.border = borders[k];
        cxr_augment_apply(&x, src, dst, O);
        int bad = 0;
        for (int y = 0; y < O; y++)
            for (int xx = 0; xx < O; xx++) {
                const int out = y < Bs[k] || y >= O - Bs[k] || xx < Bs[k] || xx >= O - Bs[k];
                bad += dst[y * O + xx] != (out ? lo : ref[y * O + xx]);
            }
        CHECK(bad == 0);
    }
    identity_xform(&x);
    x.border = 0.1f;
    CHECK(!cxr_augment_xform_is_identity(&x));
    cxr_augment_apply(&x, src, dst, O);
    CHECK(dst[0] == lo && dst[4 * O + 4] == src[4 * O + 4] && dst[3 * O + 20] == lo);
    free(src), free(dst), free(ref);
    /* pinned, computed as the border was added, over 6 epochs (B from 1 to 4 pixels): it fixes
     * which draw the border takes and where the band goes */
    CHECK(pinned_hash("default,border=0.05:0.2", 6, 0xfae7d3c9eb2b460cull));
}

/* Random erasing: its spec (erase_p beside the range; the longest spec and the refused ones are
 * test_border's and test_spec's), its draws (the eleventh to
 * fifteenth and a noise seed: the first ten unchanged), the rate, size, shape and place of the
 * rectangle, and its pixels: noise in the input's [min, max] inside it, the transform without it
 * bit for bit outside. */
static void test_erase(void)
{
    cxr_augment_params p, d;
    const char *def = "rotate=10,scale=0.9:1.1,translate=0.08,brightness=0.1,contrast=0.1,hflip=0";
    char want[CXR_AUGMENT_SPEC_MAX];
    snprintf(want, sizeof want, "%s,erase=0.02:0.4,erase_p=0.5", def);
    check_canonical("default,erase=0.02:0.4", want, &p);
    CHECK(p.erase_min == 0.02f && p.erase_max == 0.4f && p.erase_p == 0.5f);
    check_canonical("erase=0.1:0.2,erase_p=1",
                    "rotate=0,scale=1:1,translate=0,brightness=0,"
                    "contrast=0,hflip=0,erase=0.1:0.2,erase_p=1",
                    &p);
    check_canonical("default", def, &p); /* earlier runs' specs are unchanged */
    check_canonical("erase=0:0", "none", &p);
    enum { N = 4000, D = 256 };
    cxr_augment_params_default(&d);
    CHECK_OK(cxr_augment_parse("default,border=0:0.1,erase=0.02:0.4", &p));
    cxr_augment_params db = d; /* the same without erasing */
    db.border_max = 0.1f;
    int erased = 0, wide = 0, tall = 0, bad_place = 0, bad_area = 0;
    double mean_area = 0;
    for (int i = 0; i < N; i++) {
        cxr_augment_xform x0, x1;
        cxr_augment_draw(&db, 9, i % 7, i, D, &x0);
        cxr_augment_draw(&p, 9, i % 7, i, D, &x1);
        CHECK(x0.erase_w == 0 && x0.erase_h == 0);
        CHECK(same_first_draws(&x0, &x1, 9) && x0.border == x1.border);
        if (!x1.erase_w) continue;
        erased++;
        const double a = (double)x1.erase_w * x1.erase_h / (D * D);
        const double r = (double)x1.erase_w / x1.erase_h;
        /* area within [0.02, 0.4] up to the rounding of each side (< 1 px) */
        bad_area += a < 0.02 * 0.9 || a > 0.4 * 1.1;
        mean_area += a;
        wide += r > 2, tall += r < 0.5;
        CHECK(r > 1 / 3.4 && r < 3.4);
        bad_place += x1.erase_x < 0 || x1.erase_y < 0 || x1.erase_x + x1.erase_w > D ||
                     x1.erase_y + x1.erase_h > D;
    }
    /* probability 1/2: sd of the count sqrt(N)/2 = 32 */
    CHECK(abs(erased - N / 2) < 160);
    CHECK(bad_area == 0 && bad_place == 0);
    CHECK(fabs(mean_area / erased - 0.21) < 0.01); /* uniform area, the rounding near even */
    CHECK(wide > erased / 5 && tall > erased / 5); /* log-uniform in [1/3.3, 3.3]: ~0.29 each */

    enum { O = 40 };
    float *src = random_image(O, 7), *dst = malloc(O * O * sizeof *dst),
          *ref = malloc(O * O * sizeof *ref), *again = malloc(O * O * sizeof *again);
    REQUIRE(src && dst && ref && again);
    float lo = src[0], hi = src[0];
    for (int i = 1; i < O * O; i++) {
        lo = src[i] < lo ? src[i] : lo;
        hi = src[i] > hi ? src[i] : hi;
    }
    cxr_augment_xform x;
    identity_xform(&x);
    x.angle = 0.05f, x.tx = 1.5f, x.contrast = 0.8f, x.border = 0.1f;
    cxr_augment_apply(&x, src, ref, O);
    x.erase_x = 30, x.erase_y = 2, x.erase_w = 10, x.erase_h = 15, x.erase_seed = 77;
    cxr_augment_apply(&x, src, dst, O);
    cxr_augment_apply(&x, src, again, O);
    CHECK(memcmp(dst, again, O * O * sizeof *dst) == 0);
    int outside_bad = 0, inside_range_bad = 0, inside_same = 0;
    float imin = hi, imax = lo;
    for (int y = 0; y < O; y++)
        for (int xx = 0; xx < O; xx++) {
            const float v = dst[y * O + xx];
            if (xx >= 30 && y >= 2 && y < 17) {
                inside_range_bad += !(v >= lo && v <= hi);
                inside_same += v == ref[y * O + xx];
                imin = v < imin ? v : imin;
                imax = v > imax ? v : imax;
            } else {
                outside_bad += v != ref[y * O + xx];
            }
        }
    CHECK(outside_bad == 0 && inside_range_bad == 0 && inside_same == 0);
    /* 150 uniform values spread over the range */
    CHECK(imin < lo + 0.1f * (hi - lo) && imax > hi - 0.1f * (hi - lo));
    x.erase_seed = 78; /* another seed, other noise */
    cxr_augment_apply(&x, src, again, O);
    CHECK(memcmp(dst, again, O * O * sizeof *dst) != 0);
    identity_xform(&x);
    x.erase_w = 3, x.erase_h = 0; /* an empty rectangle is the identity */
    CHECK(cxr_augment_xform_is_identity(&x));
    x.erase_h = 1;
    CHECK(!cxr_augment_xform_is_identity(&x));
    cxr_augment_apply(&x, src, dst, O);
    CHECK(memcmp(dst + 3, src + 3, (O * O - 3) * sizeof *dst) == 0 && dst[0] != src[0]);
    free(src), free(dst), free(ref), free(again);
    /* pinned, computed as erasing was added, over 6 epochs: it fixes which draws erasing takes,
     * where the rectangle goes and its noise */
    CHECK(pinned_hash("default,erase=0.02:0.4", 6, 0x032d8b4b4f4bc94dull));
}

/* The transforms and pixels of the default augmentation as they were before the stretch was
 * added (computed with runtime/augment.c of ddc01d9): every earlier run's training images are
 * unchanged. Draws of (seed 9, epoch e, index i) at S = 256, e = 0..2, i = 0..3; then an FNV-1a
 * hash of cxr_augment_image(default, 9, e, 2) of random_image(24, 3) for e = 0..2. */
static void test_pinned(void)
{
    static const float want[12][6] = {
        { 0x1.1904b4p-3, 0x1.0cf5bep+0, -0x1.62fc9ep+3, 0x1.825628p+3, 0x1.1916c2p+0, -0x1.00f69ep-4 },
        { -0x1.eb4af4p-5, 0x1.0ab1a2p+0, -0x1.cbae76p+3, 0x1.331f7p+2, 0x1.1184acp+0, 0x1.84134p-6 },
        { -0x1.2092bap-6, 0x1.15ee8ep+0, 0x1.4882b2p+3, 0x1.8131eap-1, 0x1.16630ap+0, 0x1.4a79bp-4 },
        { -0x1.f63a22p-4, 0x1.d17f18p-1, 0x1.dce528p+2, 0x1.8f7052p+1, 0x1.f84a3p-1, -0x1.41598p-6 },
        { -0x1.7743cep-5, 0x1.d1a06p-1, -0x1.bf6cep+3, 0x1.71e3d6p+0, 0x1.180d7ap+0, -0x1.2dc4e6p-7 },
        { -0x1.19cc26p-3, 0x1.e58daap-1, -0x1.9fd36ap+3, -0x1.4aa3ep+3, 0x1.d6b02ep-1, -0x1.3439p-6 },
        { 0x1.7e7ff4p-6, 0x1.ce371ep-1, 0x1.2c15bap+4, 0x1.3a8c3p+4, 0x1.13f93p+0, 0x1.e84b4ep-5 },
        { -0x1.9e0e1ep-6, 0x1.04b9e6p+0, 0x1.76270ap+2, 0x1.0fb466p+4, 0x1.d5b13cp-1, -0x1.691834p-7 },
        { 0x1.a5bd9cp-4, 0x1.eab03p-1, 0x1.0a0624p+4, -0x1.1145c8p+4, 0x1.ef81bcp-1, -0x1.110c94p-4 },
        { -0x1.58d2b2p-5, 0x1.d24d3ep-1, 0x1.6ac1f6p+3, 0x1.91cf48p+1, 0x1.0772d6p+0, -0x1.6bd90ap-4 },
        { 0x1.cde1c6p-6, 0x1.15f77ap+0, 0x1.418ed6p+3, -0x1.c386dcp+3, 0x1.fac95p-1, 0x1.653466p-6 },
        { 0x1.d3ace4p-4, 0x1.005c26p+0, 0x1.1af4f8p+4, 0x1.67047p+2, 0x1.e7d26ep-1, -0x1.3552eap-4 },
    };
    cxr_augment_params p;
    cxr_augment_params_default(&p);
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < 4; i++) {
            cxr_augment_xform x;
            cxr_augment_draw(&p, 9, e, i, 256, &x);
            const float *w = want[e * 4 + i];
            CHECK(x.angle == w[0] && x.scale == w[1] && x.tx == w[2] && x.ty == w[3] &&
                  x.contrast == w[4] && x.brightness == w[5] && !x.flip && x.aspect == 1);
        }
    CHECK(pinned_hash("default", 3, 0x8831a68865fb9699ull));
}

/* Every image of one epoch, by split index, into all[NTRAIN][S*S]. */
static void loader_epoch(const char *path, const cxr_augment_params *p, uint64_t seed, int epoch,
                         int threads, int prefetch, int window, int batch, float *all)
{
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = batch;
    o.shuffle = 1;
    o.seed = seed;
    o.window = window;
    o.threads = threads;
    o.prefetch = prefetch;
    o.augment = p;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, s, "train", &o));
    memset(all, 0, (size_t)NTRAIN * S * S * sizeof *all);
    CHECK_OK(cxr_loader_begin_epoch(l, epoch));
    int got = 0;
    for (;;) {
        cxr_batch b;
        CHECK_OK(cxr_loader_next_batch(l, &b));
        if (b.n == 0) break;
        for (int i = 0; i < b.n; i++)
            memcpy(all + (size_t)b.indices[i] * S * S, b.images + (size_t)i * S * S,
                   S * S * sizeof(float));
        got += b.n;
    }
    CHECK(got == NTRAIN);
    cxr_loader_destroy(l);
    cxr_store_close(s);
}

static void test_loader(const char *path)
{
    const size_t n = (size_t)NTRAIN * S * S;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *ref = malloc(n * sizeof *ref);
    float *raw = malloc(S * S * sizeof *raw);
    cxr_augment_params p;
    cxr_augment_params_default(&p);
    p.hflip = 1;
    /* the reference: the stored image through cxr_augment_image */
    cxr_store *s;
    CHECK_OK(cxr_store_open(&s, path));
    for (int i = 0; i < NTRAIN; i++) {
        CHECK_OK(cxr_store_read_image(s, "train", i, raw));
        cxr_augment_image(&p, 11, 2, i, raw, ref + (size_t)i * S * S, S);
    }
    cxr_store_close(s);
    const struct {
        int threads, prefetch, window, batch;
    } cfg[] = { { 1, 0, 1, 5 }, { 1, 1, 2, 8 }, { 3, 1, 1, 4 }, { 4, 1, 3, 29 } };
    for (size_t k = 0; k < sizeof cfg / sizeof cfg[0]; k++) {
        loader_epoch(path, &p, 11, 2, cfg[k].threads, cfg[k].prefetch, cfg[k].window, cfg[k].batch,
                     a);
        if (memcmp(a, ref, n * sizeof *a) != 0)
            fprintf(stderr, "threads %d prefetch %d window %d batch %d: images differ\n",
                    cfg[k].threads, cfg[k].prefetch, cfg[k].window, cfg[k].batch);
        CHECK(memcmp(a, ref, n * sizeof *a) == 0);
    }
    /* another epoch, another seed: every image changes */
    loader_epoch(path, &p, 11, 3, 2, 1, 2, 8, a);
    loader_epoch(path, &p, 12, 2, 2, 1, 2, 8, b);
    int same_e = 0, same_s = 0;
    for (int i = 0; i < NTRAIN; i++) {
        same_e += memcmp(a + (size_t)i * S * S, ref + (size_t)i * S * S, S * S * 4) == 0;
        same_s += memcmp(b + (size_t)i * S * S, ref + (size_t)i * S * S, S * S * 4) == 0;
    }
    CHECK(same_e == 0 && same_s == 0);
    /* inactive params: the stored images */
    cxr_augment_params_none(&p);
    loader_epoch(path, &p, 11, 2, 2, 1, 2, 8, a);
    CHECK_OK(cxr_store_open(&s, path));
    int bad = 0;
    for (int i = 0; i < NTRAIN; i++) {
        CHECK_OK(cxr_store_read_image(s, "train", i, raw));
        bad += memcmp(raw, a + (size_t)i * S * S, S * S * 4) != 0;
    }
    CHECK(bad == 0);
    cxr_store_close(s);
    free(a);
    free(b);
    free(ref);
    free(raw);
}

/* cxr_augment_image computes as the loader's threads do, denormals flushed, from a thread that
 * keeps them (a Python caller's), and leaves that thread's mode as it was: a rotation of an
 * image of denormal pixels gives zeros there, not denormals the loader never delivers. */
static void test_image_flushes(void)
{
    const int n = 32;
    float *src = malloc((size_t)n * n * sizeof *src), *dst = malloc((size_t)n * n * sizeof *dst);
    REQUIRE(src && dst);
    for (int i = 0; i < n * n; i++) src[i] = i % n < n / 2 ? 1e-40f : 0.5f;
    cxr_augment_params p;
    CHECK_OK(cxr_augment_parse("rotate=10", &p));
    const unsigned before = cxr_fp_mxcsr();
    if (!before) { /* no MXCSR (not x86): nothing flushes, here or in the loader's threads */
        fprintf(stderr, "note: the flush case was not run (no MXCSR on this CPU)\n");
        free(src);
        free(dst);
        return;
    }
    REQUIRE(!cxr_fp_flushing()); /* this thread keeps denormals */
    int subnormal = 0, zeros = 0;
    cxr_augment_image(&p, 3, 0, 1, src, dst, n);
    for (int i = 0; i < n * n; i++) {
        subnormal += fpclassify(dst[i]) == FP_SUBNORMAL;
        zeros += dst[i] == 0.0f;
    }
    CHECK(subnormal == 0 && zeros > n * n / 4);
    CHECK(cxr_fp_mxcsr() == before);
    free(src);
    free(dst);
}

/* A further mutation round's survivors, each check failing on its mutant: which keys make a spec
 * active and which draw (each term of the two predicates; hflip alone was "none"), a spec whose
 * first word only starts with "default", hflip's one digit, erase_p given before erase, the
 * least normal float accepted, a value needing 9 digits to read back, the stretch and the
 * detail gain drawn from their own uniforms, brightness alone, -0 kept by the photometric step
 * on a [-1, 1] image, and a test-time index past the table. */
static void test_spec_and_draw_edges(void)
{
    static const struct {
        const char *spec;
        int active, draws;
    } keys[] = {
        { "none", 0, 0 },           { "rotate=5", 1, 1 },      { "scale=1:1.2", 1, 1 },
        { "scale=0.8:1", 1, 1 },    { "scale=1.2:1.2", 1, 0 }, { "translate=0.1", 1, 1 },
        { "brightness=0.1", 1, 1 }, { "contrast=0.1", 1, 1 },  { "hflip=1", 1, 1 },
        { "hflip=0", 0, 0 },        { "aspect=1:1.5", 1, 1 },  { "aspect=0.8:1", 1, 1 },
        { "aspect=0.8:0.8", 1, 0 }, { "detail=1:2", 1, 1 },    { "detail=0.5:1", 1, 1 },
        { "detail=2:2", 1, 0 },     { "border=0:0.1", 1, 1 },  { "border=0.1:0.1", 1, 0 },
        { "erase=0:0.1", 1, 1 },    { "erase=0.1:0.1", 1, 1 }, /* the rectangle's place is drawn */
    };
    cxr_augment_params p;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        CHECK_OK(cxr_augment_parse(keys[i].spec, &p));
        if (cxr_augment_active(&p) != keys[i].active || cxr_augment_draws(&p) != keys[i].draws) {
            fprintf(stderr, "%s: active %d draws %d, want %d %d\n", keys[i].spec,
                    cxr_augment_active(&p), cxr_augment_draws(&p), keys[i].active, keys[i].draws);
            cxr_test_failures++;
        }
    }
    char buf[CXR_AUGMENT_SPEC_MAX];
    CHECK_OK(cxr_augment_parse("hflip=1", &p));
    cxr_augment_format(&p, buf, sizeof buf);
    CHECK(strcmp(buf, "rotate=0,scale=1:1,translate=0,brightness=0,contrast=0,hflip=1") == 0);

    const char *bad[] = { "defaultx", "default;rotate=5", "hflip=10", "hflip=1x", "hflip=01" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p.rotate_deg = 77;
        if (cxr_augment_parse(bad[i], &p) != CXR_E_ARG || p.rotate_deg != 77) {
            fprintf(stderr, "augment '%s' was taken\n", bad[i]);
            cxr_test_failures++;
        }
    }
    /* erase_p before erase is not erase twice (their keys share five letters) */
    CHECK_OK(cxr_augment_parse("erase_p=0.5,erase=0.1:0.2", &p));
    CHECK(p.erase_p == 0.5f && p.erase_min == 0.1f && p.erase_max == 0.2f);

    /* FLT_MIN (2^-126) is normal: taken; half of it is not */
    CHECK(cxr_augment_check_normal("rotate=1.17549435e-38") == CXR_OK);
    CHECK(cxr_augment_check_normal("rotate=5.9e-39") == CXR_E_ARG);

    /* 10 + 11 x 2^-20: "10.00001" (8 digits) reads back as another float; 9 digits are needed */
    CHECK_OK(cxr_augment_parse("rotate=10.0000105", &p));
    CHECK(p.rotate_deg == 0x1.400016p+3f);
    check_round_trip(&p, buf, sizeof buf);
    CHECK(strncmp(buf, "rotate=10.0000105,", 18) == 0);

    /* the stretch (8th draw) and the detail gain (9th) from their own uniforms: u of each,
     * recovered from its log-uniform range, differs between them in most draws */
    CHECK_OK(cxr_augment_parse("aspect=0.5:2,detail=0.25:4", &p));
    int differ = 0;
    for (int i = 0; i < 64; i++) {
        cxr_augment_xform x;
        cxr_augment_draw(&p, 9, 1, i, 256, &x);
        const double ua = log(x.aspect / 0.5) / log(4.0), ud = log(x.detail / 0.25) / log(16.0);
        CHECK(ua >= -1e-6 && ua <= 1 + 1e-6 && ud >= -1e-6 && ud <= 1 + 1e-6);
        differ += fabs(ua - ud) > 1e-3;
    }
    CHECK(differ > 48);

    /* brightness alone (contrast 1, no detail gain) shifts by brightness x the half-width, clamped;
     * a [-1, 1] image keeps contrast * v + brightness to the bit, a -0 too */
    float *src = random_image(S, 11), *dst = malloc(S * S * sizeof *dst);
    REQUIRE(src && dst);
    src[0] = -1.0f, src[1] = 1.0f, src[5] = -0.0f;
    cxr_augment_xform x;
    identity_xform(&x);
    x.brightness = 0.25f;
    cxr_augment_apply(&x, src, dst, S);
    int bad_px = 0;
    for (int i = 0; i < S * S; i++) {
        const float v = src[i] + 0.25f;
        bad_px += dst[i] != (v > 1 ? 1.0f : v);
    }
    CHECK(bad_px == 0);
    identity_xform(&x);
    x.contrast = 0.5f;
    x.brightness = -0.0f;
    cxr_augment_apply(&x, src, dst, S);
    bad_px = 0;
    for (int i = 0; i < S * S; i++) {
        const float want = x.contrast * src[i] + x.brightness;
        bad_px += memcmp(&dst[i], &want, sizeof want) != 0;
    }
    CHECK(bad_px == 0 && signbit(dst[5]));
    free(src);
    free(dst);

    /* a test-time index past the table is the identity, not the word after it */
    cxr_augment_tta_xform(CXR_TTA_MAX, S, &x);
    CHECK(cxr_augment_xform_is_identity(&x));
    cxr_augment_tta_xform(-1, S, &x);
    CHECK(cxr_augment_xform_is_identity(&x));
}

int main(void)
{
    char path[256];
    snprintf(path, sizeof path, "/tmp/cxr_test_augment_%d.h5", (int)getpid());
    (void)fixture_corrupt_copy; /* the fixture header's other helper */
    REQUIRE(fixture_store(path, S, SHARD, NTRAIN, 0, 0, 5) == CXR_OK);
    test_identity();
    test_integer_shift();
    test_interpolation_and_photometric();
    test_spec();
    test_detail();
    test_border();
    test_erase();
    test_pinned();
    test_image_flushes();
    test_spec_and_draw_edges();
    test_loader(path);
    unlink(path);
    TEST_END();
}
