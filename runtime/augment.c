/* augment.c: the random affine + detail gain + brightness/contrast + border + erasing transform of
 * cxr_augment.h, its draw from (seed, epoch, index), the spec parser and the fixed test-time
 * transforms. Plain float arithmetic in a fixed order, so an image's result depends only on
 * its inputs (the loader's threads all run this same code).
 */
#include "cxr_augment.h"
#include "cxr_fpenv.h"
#include "c_locale.h"
#include "cxr_splitmix.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <float.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

void cxr_augment_params_none(cxr_augment_params *p)
{
    memset(p, 0, sizeof *p);
    p->scale_min = p->scale_max = 1.0f;
    p->aspect_min = p->aspect_max = 1.0f;
    p->detail_min = p->detail_max = 1.0f;
    p->border_min = p->border_max = 0.0f;
    p->erase_min = p->erase_max = 0.0f;
    p->erase_p = CXR_AUGMENT_ERASE_P;
}

void cxr_augment_params_default(cxr_augment_params *p)
{
    cxr_augment_params_none(p);
    p->rotate_deg = 10.0f;
    p->scale_min = 0.9f;
    p->scale_max = 1.1f;
    p->translate = 0.08f;
    p->brightness = 0.1f;
    p->contrast = 0.1f;
}

int cxr_augment_active(const cxr_augment_params *p)
{
    return p &&
           (p->rotate_deg != 0 || p->scale_min != 1 || p->scale_max != 1 || p->translate != 0 ||
            p->brightness != 0 || p->contrast != 0 || p->hflip || p->aspect_min != 1 ||
            p->aspect_max != 1 || p->detail_min != 1 || p->detail_max != 1 || p->border_min != 0 ||
            p->border_max != 0 || p->erase_max != 0);
}

int cxr_augment_draws(const cxr_augment_params *p)
{
    return p &&
           (p->rotate_deg != 0 || p->scale_min != p->scale_max || p->translate != 0 ||
            p->brightness != 0 || p->contrast != 0 || p->hflip || p->aspect_min != p->aspect_max ||
            p->detail_min != p->detail_max || p->border_min != p->border_max || p->erase_max != 0);
}

/* ---------------------------------------------------------------- spec */
/* The MIN:MAX items: key, allowed values, the identity range ID:ID (stretch, detail and border
 * are left out of a canonical spec when they hold it, so earlier specs stay as they were), and
 * the two fields. */
static const struct range_key {
    const char *key;
    float lo, hi, id;
    size_t min, max; /* offsets in cxr_augment_params */
} RANGES[] = {
    { "scale", 0.5f, 2, 1, offsetof(cxr_augment_params, scale_min),
      offsetof(cxr_augment_params, scale_max) },
    { "aspect", 0.5f, 2, 1, offsetof(cxr_augment_params, aspect_min),
      offsetof(cxr_augment_params, aspect_max) },
    { "detail", 0.25f, 4, 1, offsetof(cxr_augment_params, detail_min),
      offsetof(cxr_augment_params, detail_max) },
    { "border", 0, 0.4f, 0, offsetof(cxr_augment_params, border_min),
      offsetof(cxr_augment_params, border_max) },
    { "erase", 0, 0.5f, 0, offsetof(cxr_augment_params, erase_min),
      offsetof(cxr_augment_params, erase_max) },
};
#define N_RANGES (sizeof RANGES / sizeof RANGES[0])

static float *field(cxr_augment_params *p, size_t off) { return (float *)((char *)p + off); }
static float cfield(const cxr_augment_params *p, size_t off)
{
    return *(const float *)((const char *)p + off);
}

/* The shortest %g form of v that strtof reads back as v. */
static void put_float(char *buf, size_t cap, float v)
{
    const locale_t before = cxr_c_locale_enter(); /* a '.' in any host locale (c_locale.h) */
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    cxr_c_locale_leave(before);
}

void cxr_augment_format(const cxr_augment_params *p, char *buf, size_t cap)
{
    if (!cxr_augment_active(p)) {
        snprintf(buf, cap, "none");
        return;
    }
    char r[32], s0[32], s1[32], t[32], b[32], c[32];
    put_float(r, sizeof r, p->rotate_deg);
    put_float(s0, sizeof s0, p->scale_min);
    put_float(s1, sizeof s1, p->scale_max);
    put_float(t, sizeof t, p->translate);
    put_float(b, sizeof b, p->brightness);
    put_float(c, sizeof c, p->contrast);
    int n = snprintf(buf, cap,
                     "rotate=%s,scale=%s:%s,translate=%s,brightness=%s,contrast=%s,hflip=%d", r,
                     s0, s1, t, b, c, p->hflip ? 1 : 0);
    for (size_t i = 1; i < N_RANGES; i++) { /* scale, always there, is in the line above */
        const struct range_key *r = &RANGES[i];
        const float lo = cfield(p, r->min), hi = cfield(p, r->max);
        if (lo == r->id && hi == r->id) continue;
        char a0[32], a1[32];
        put_float(a0, sizeof a0, lo);
        put_float(a1, sizeof a1, hi);
        if (n >= 0 && (size_t)n < cap) {
            int m = snprintf(buf + n, cap - (size_t)n, ",%s=%s:%s", r->key, a0, a1);
            n = m < 0 ? m : n + m;
        }
    }
    if (p->erase_max != 0 && n >= 0 && (size_t)n < cap) { /* its probability beside it */
        char e[32];
        put_float(e, sizeof e, p->erase_p);
        snprintf(buf + n, cap - (size_t)n, ",erase_p=%s", e);
    }
}

/* A float in [lo, hi] from text that ends at `end` (exclusive). (A spec stored in a checkpoint
 * is read again with it: what it took once it keeps taking; the tools refuse subnormal values
 * on their command lines with cxr_augment_check_normal.) */
static int parse_float(const char *s, const char *end, float lo, float hi, float *out)
{
    char tmp[64], *e;
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= sizeof tmp) return 0;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    const locale_t before = cxr_c_locale_enter();
    float v = strtof(tmp, &e);
    cxr_c_locale_leave(before);
    if (*e || !(v >= lo && v <= hi)) return 0;
    *out = v == 0.0f ? 0.0f : v; /* "-0" is 0, not a "-0" in the canonical spec */
    return 1;
}

cxr_status cxr_augment_check_normal(const char *spec)
{
    for (const char *s = spec; s && *s; s++) {
        if (*s != '=' && *s != ':') continue;
        char *e;
        errno = 0;
        const locale_t before = cxr_c_locale_enter();
        const float v = strtof(s + 1, &e); /* rounded as the parser rounds it */
        cxr_c_locale_leave(before);
        const int under = v == 0.0f ? errno == ERANGE : fabsf(v) < FLT_MIN; /* 1e-46: 0 */
        if (e == s + 1 || !under) continue;
        return cxr_set_error(CXR_E_ARG,
                             "'%s': %.*s is below the least normal float, %g (the loader "
                             "flushes smaller ones to 0)",
                             spec, (int)(e - (s + 1)), s + 1, (double)FLT_MIN);
    }
    return CXR_OK;
}

/* One key=value item of [s, end) into *p. */
static int parse_item(const char *s, const char *end, cxr_augment_params *p)
{
    const char *eq = memchr(s, '=', (size_t)(end - s));
    if (!eq) return 0;
    size_t k = (size_t)(eq - s);
    const char *v = eq + 1;
#define KEY(name) (k == sizeof name - 1 && memcmp(s, name, k) == 0)
    if (KEY("rotate")) return parse_float(v, end, 0, 45, &p->rotate_deg);
    if (KEY("translate")) return parse_float(v, end, 0, 0.5f, &p->translate);
    if (KEY("brightness")) return parse_float(v, end, 0, 1, &p->brightness);
    if (KEY("contrast")) return parse_float(v, end, 0, 0.9f, &p->contrast);
    if (KEY("erase_p")) {
        float e;
        if (!parse_float(v, end, 0, 1, &e) || !(e > 0)) return 0;
        p->erase_p = e;
        return 1;
    }
    if (KEY("hflip")) {
        if (end - v != 1 || (*v != '0' && *v != '1')) return 0;
        p->hflip = *v == '1';
        return 1;
    }
    for (size_t i = 0; i < N_RANGES; i++) {
        const struct range_key *r = &RANGES[i];
        if (!(k == strlen(r->key) && memcmp(s, r->key, k) == 0)) continue;
        const char *colon = memchr(v, ':', (size_t)(end - v));
        float a, b;
        if (!colon || !parse_float(v, colon, r->lo, r->hi, &a) ||
            !parse_float(colon + 1, end, r->lo, r->hi, &b) || a > b)
            return 0;
        *field(p, r->min) = a;
        *field(p, r->max) = b;
        return 1;
    }
#undef KEY
    return 0;
}

cxr_status cxr_augment_parse(const char *spec, cxr_augment_params *out)
{
    cxr_augment_params p;
    if (!spec) return cxr_set_error(CXR_E_ARG, "augment: no spec");
    cxr_augment_params_none(&p);
    const char *s = spec;
    size_t len = strlen(spec);
    if (len > 0 && spec[len - 1] == ',')
        return cxr_set_error(CXR_E_ARG, "augment '%s': trailing comma", spec);
    if (strcmp(s, "none") == 0) {
        *out = p;
        return CXR_OK;
    }
    if (strncmp(s, "default", 7) == 0 && (s[7] == 0 || s[7] == ',')) {
        cxr_augment_params_default(&p);
        s += s[7] ? 8 : 7;
    } else if (!*s) {
        return cxr_set_error(CXR_E_ARG, "augment: empty spec (none, default or key=value,...)");
    }
    const char *items = s; /* the items after "default": a key once (which value was meant?) */
    int erase_p_given = 0;
    while (*s) {
        const char *end = strchr(s, ',');
        if (!end) end = s + strlen(s);
        const char *eq = memchr(s, '=', (size_t)(end - s));
        erase_p_given |= eq == s + 7 && !strncmp(s, "erase_p", 7);
        for (const char *t = items; eq && t < s; t = strchr(t, ',') + 1)
            if (!strncmp(t, s, (size_t)(eq - s + 1)))
                return cxr_set_error(CXR_E_ARG, "augment '%s': '%.*s' given twice", spec,
                                     (int)(eq - s), s);
        if (!parse_item(s, end, &p))
            return cxr_set_error(CXR_E_ARG,
                                 "augment '%s': bad item '%.*s' (rotate=0..45, scale=MIN:MAX in "
                                 "0.5..2, translate=0..0.5, brightness=0..1, contrast=0..0.9, "
                                 "hflip=0|1, aspect=MIN:MAX in 0.5..2, detail=MIN:MAX in 0.25..4, "
                                 "border=MIN:MAX in 0..0.4, erase=MIN:MAX in 0..0.5, "
                                 "erase_p=0..1 above 0)",
                                 spec, (int)(end - s), s);
        s = *end ? end + 1 : end;
    }
    /* a probability without an area would be dropped by cxr_augment_format: refused, its
     * default value too */
    if (p.erase_max == 0 && erase_p_given)
        return cxr_set_error(CXR_E_ARG, "augment '%s': erase_p without erase=MIN:MAX (MAX > 0)",
                             spec);
    *out = p;
    return CXR_OK;
}

/* ---------------------------------------------------------------- draw */
/* u in [0,1): the top 24 bits of the next word. */
static float next_unit(uint64_t *state)
{
    return (float)(cxr_splitmix64_next(state) >> 40) * (1.0f / 16777216.0f);
}

void cxr_augment_draw(const cxr_augment_params *p, uint64_t seed, int epoch, int64_t index,
                      int size, cxr_augment_xform *x)
{
    const uint64_t G = CXR_SPLITMIX64_GAMMA, stream = 2;
    uint64_t k = cxr_splitmix64_mix(G * ((uint64_t)index + 1));
    k = cxr_splitmix64_mix(G * ((uint64_t)epoch + 1) ^ k);
    k = cxr_splitmix64_mix(G * (stream + 1) ^ k);
    uint64_t state = cxr_splitmix64_mix(seed ^ k);
    float u[15];
    for (int i = 0; i < 15; i++) u[i] = next_unit(&state);
    x->angle = (float)((double)p->rotate_deg * (M_PI / 180.0)) * (2 * u[0] - 1);
    x->scale = p->scale_min + (p->scale_max - p->scale_min) * u[1];
    x->tx = p->translate * (float)size * (2 * u[2] - 1);
    x->ty = p->translate * (float)size * (2 * u[3] - 1);
    x->contrast = 1 + p->contrast * (2 * u[4] - 1);
    x->brightness = p->brightness * (2 * u[5] - 1);
    x->flip = p->hflip && u[6] < 0.5f;
    const double la = log((double)p->aspect_min), lb = log((double)p->aspect_max);
    x->aspect = (float)exp(la + (lb - la) * (double)u[7]);
    const double da = log((double)p->detail_min), db = log((double)p->detail_max);
    x->detail = (float)exp(da + (db - da) * (double)u[8]);
    x->border = p->border_min + (p->border_max - p->border_min) * u[9];
    /* the erased rectangle: area a x S^2, width/height r; placed wholly inside the image */
    x->erase_x = x->erase_y = x->erase_w = x->erase_h = 0;
    x->erase_seed = cxr_splitmix64_next(&state);
    const double area = (double)p->erase_min + (double)(p->erase_max - p->erase_min) * u[11];
    if (u[10] < p->erase_p && area > 0) {
        const double lr = log(CXR_AUGMENT_ERASE_RATIO), r = exp(lr * (2 * (double)u[12] - 1));
        const double px = area * size * size;
        long w = lrint(sqrt(px * r)), h = lrint(sqrt(px / r));
        w = w > size ? size : w;
        h = h > size ? size : h;
        x->erase_w = (int)w;
        x->erase_h = (int)h;
        x->erase_x = (int)((double)u[13] * (double)(size - w + 1));
        x->erase_y = (int)((double)u[14] * (double)(size - h + 1));
    }
}

int cxr_augment_xform_is_identity(const cxr_augment_xform *x)
{
    return x->angle == 0 && x->scale == 1 && x->tx == 0 && x->ty == 0 && x->contrast == 1 &&
           x->brightness == 0 && !x->flip && x->aspect == 1 && x->detail == 1 && x->border == 0 &&
           (x->erase_w <= 0 || x->erase_h <= 0);
}

/* ---------------------------------------------------------------- apply */
/* Bilinear value at (sx, sy); neighbours outside the S x S image are `fill`. */
static inline float sample(const float *src, int S, float sx, float sy, float fill)
{
    if (!(sx > -1 && sx < (float)S && sy > -1 && sy < (float)S)) return fill;
    const float fx0 = floorf(sx), fy0 = floorf(sy);
    const int x0 = (int)fx0, y0 = (int)fy0;
    const float fx = sx - fx0, fy = sy - fy0;
    float v00, v01, v10, v11;
    if (x0 >= 0 && y0 >= 0 && x0 < S - 1 && y0 < S - 1) {
        const float *q = src + (size_t)y0 * S + x0;
        v00 = q[0], v01 = q[1], v10 = q[S], v11 = q[S + 1];
    } else {
        const int in_x0 = x0 >= 0, in_x1 = x0 + 1 < S, in_y0 = y0 >= 0, in_y1 = y0 + 1 < S;
        const float *r0 = src + (size_t)y0 * S, *r1 = r0 + S;
        v00 = in_y0 && in_x0 ? r0[x0] : fill;
        v01 = in_y0 && in_x1 ? r0[x0 + 1] : fill;
        v10 = in_y1 && in_x0 ? r1[x0] : fill;
        v11 = in_y1 && in_x1 ? r1[x0 + 1] : fill;
    }
    const float top = v00 + fx * (v01 - v00), bot = v10 + fx * (v11 - v10);
    return top + fy * (bot - top);
}

/* The geometric part of a transform: the source point of output pixel (xo, y) is
 * (ax * dx + bx * dy + c, -by * dx + ay * dy + c) with d the centred, shifted output point. */
typedef struct {
    float ax, bx, ay, by, c;
} warp;

static warp warp_of(const cxr_augment_xform *x, int S)
{
    /* per axis of the source: 1/sx on x, 1/sy on y (aspect 1: both 1/scale, as before it) */
    const double ra = sqrt((double)x->aspect);
    const double sx = (double)x->scale * ra, sy = (double)x->scale / ra;
    const double ca = cos((double)x->angle), sa = sin((double)x->angle);
    return (warp){ (float)(ca / sx), (float)(sa / sx), (float)(ca / sy), (float)(sa / sy),
                   0.5f * (float)(S - 1) };
}

/* Row y of the warped image into out[S]. */
static void warp_row(const cxr_augment_xform *x, const warp *w, const float *src, int S, int y,
                     float fill, float *out)
{
    const float dy = (float)y - w->c - x->ty;
    const float rx = w->bx * dy + w->c, ry = w->ay * dy + w->c;
    for (int xo = 0; xo < S; xo++) {
        const float dx = (float)(x->flip ? S - 1 - xo : xo) - w->c - x->tx;
        out[xo] = sample(src, S, w->ax * dx + rx, -w->by * dx + ry, fill);
    }
}

/* The detail blur's taps: a Gaussian of CXR_AUGMENT_DETAIL_SIGMA px to 3 sigma, summing to 1. */
#define DETAIL_R (3 * CXR_AUGMENT_DETAIL_SIGMA)
static void detail_taps(float t[DETAIL_R + 1])
{
    double w[DETAIL_R + 1], sum = 0;
    for (int i = 0; i <= DETAIL_R; i++) {
        const double r = (double)i / CXR_AUGMENT_DETAIL_SIGMA;
        w[i] = exp(-0.5 * r * r);
        sum += i ? 2 * w[i] : w[i];
    }
    for (int i = 0; i <= DETAIL_R; i++) t[i] = (float)(w[i] / sum);
}

/* n values at v[0], v[stride], ... blurred in place by taps t, the ends replicated; line: n +
 * 2 DETAIL_R floats of scratch. */
static void blur_line(float *v, int n, size_t stride, const float t[DETAIL_R + 1], float *line)
{
    for (int i = 0; i < DETAIL_R; i++) {
        line[i] = v[0];
        line[DETAIL_R + n + i] = v[(size_t)(n - 1) * stride];
    }
    for (int i = 0; i < n; i++) line[DETAIL_R + i] = v[(size_t)i * stride];
    for (int i = 0; i < n; i++) {
        const float *q = line + DETAIL_R + i;
        float acc = t[0] * q[0];
        for (int k = 1; k <= DETAIL_R; k++) acc += t[k] * (q[-k] + q[k]);
        v[(size_t)i * stride] = acc;
    }
}

/* dst = b + detail * (warped - b), b the warped image blurred (rows, then columns); the warped
 * row is made again beside b. line: S + 2 DETAIL_R floats of scratch. */
static void warp_detail(const cxr_augment_xform *x, const warp *w, const float *src, float *dst,
                        int S, float fill, float *line)
{
    float t[DETAIL_R + 1];
    detail_taps(t);
    for (int y = 0; y < S; y++) {
        warp_row(x, w, src, S, y, fill, dst + (size_t)y * S);
        blur_line(dst + (size_t)y * S, S, 1, t, line);
    }
    for (int xo = 0; xo < S; xo++) blur_line(dst + xo, S, (size_t)S, t, line);
    for (int y = 0; y < S; y++) {
        float *out = dst + (size_t)y * S;
        warp_row(x, w, src, S, y, fill, line);
        for (int xo = 0; xo < S; xo++) out[xo] += x->detail * (line[xo] - out[xo]);
    }
}

void cxr_augment_apply(const cxr_augment_xform *x, const float *src, float *dst, int S)
{
    const size_t n = (size_t)S * S;
    if (cxr_augment_xform_is_identity(x)) {
        memcpy(dst, src, n * sizeof *dst);
        return;
    }
    float lo = src[0], hi = src[0];
    for (size_t i = 1; i < n; i++) {
        lo = src[i] < lo ? src[i] : lo;
        hi = src[i] > hi ? src[i] : hi;
    }
    const warp w = warp_of(x, S);
    const int detail = x->detail != 1;
    const int photo = x->contrast != 1 || x->brightness != 0 || detail;
    /* contrast about the centre of the image's range, brightness in units of its half-width: in
     * a store's normalized units whatever its range (a [-1, 1] image: 0 and 1, so that v =
     * contrast * v + brightness to the bit; a [0, 255] one: 127.5 and 127.5) */
    const float mid = (lo + hi) * 0.5f, half = (hi - lo) * 0.5f, shift = x->brightness * half;
    if (detail) { /* scratch sized to the image: ~1 KB of stack at 256 */
        float line[S + 2 * DETAIL_R];
        warp_detail(x, &w, src, dst, S, lo, line);
    }
    for (int y = 0; y < S; y++) {
        float *out = dst + (size_t)y * S;
        if (!detail) warp_row(x, &w, src, S, y, lo, out);
        if (photo)
            for (int xo = 0; xo < S; xo++) {
                float v = x->contrast * (out[xo] - mid) + shift;
                if (mid != 0) v += mid; /* (a -0 of a [-1, 1] image stays -0, as before) */
                out[xo] = v < lo ? lo : v > hi ? hi : v;
            }
    }
    const int B = x->border > 0 ? (int)floorf(x->border * (float)S) : 0;
    /* the periphery hidden: whole rows at the top and bottom, the two side spans of the rest */
    for (int y = 0; B > 0 && y < S; y++) {
        float *out = dst + (size_t)y * S;
        const int whole = y < B || y >= S - B;
        for (int xo = 0; xo < (whole ? S : B); xo++) out[xo] = lo;
        for (int xo = S - B; !whole && xo < S; xo++) out[xo] = lo;
    }
    /* the erased rectangle: noise uniform in the input's [lo, hi], row by row */
    if (x->erase_w > 0 && x->erase_h > 0) {
        uint64_t state = x->erase_seed;
        const int x0 = x->erase_x < 0 ? 0 : x->erase_x, y0 = x->erase_y < 0 ? 0 : x->erase_y;
        const int x1 = x->erase_x + x->erase_w, y1 = x->erase_y + x->erase_h;
        for (int y = y0; y < (y1 < S ? y1 : S); y++)
            for (int xo = x0; xo < (x1 < S ? x1 : S); xo++)
                dst[(size_t)y * S + xo] = lo + (hi - lo) * next_unit(&state);
    }
}

void cxr_augment_image(const cxr_augment_params *p, uint64_t seed, int epoch, int64_t index,
                       const float *src, float *dst, int size)
{
    /* as the loader's threads compute it, whatever the caller's mode (a Python thread keeps
     * denormals): flushed, the caller's mode put back */
    const unsigned mxcsr = cxr_fp_mxcsr();
    cxr_fp_flush_denormals();
    cxr_augment_xform x;
    cxr_augment_draw(p, seed, epoch, index, size, &x);
    cxr_augment_apply(&x, src, dst, size);
    cxr_fp_restore(mxcsr);
}

/* ---------------------------------------------------------------- test time */
void cxr_augment_tta_xform(int t, int size, cxr_augment_xform *x)
{
    /* identity; rotate +-5 degrees; zoom 1.05 / 0.95; shift 4% of the side on a diagonal */
    static const struct {
        float deg, scale, tx, ty;
    } T[CXR_TTA_MAX] = { { 0, 1, 0, 0 },           { 5, 1, 0, 0 },         { -5, 1, 0, 0 },
                         { 0, 1.05f, 0, 0 },       { 0, 0.95f, 0, 0 },     { 0, 1, 0.04f, 0.04f },
                         { 0, 1, -0.04f, -0.04f }, { 0, 1, 0.04f, -0.04f } };
    if (t < 0 || t >= CXR_TTA_MAX) t = 0;
    memset(x, 0, sizeof *x);
    x->angle = (float)((double)T[t].deg * (M_PI / 180.0));
    x->scale = T[t].scale;
    x->tx = T[t].tx * (float)size;
    x->ty = T[t].ty * (float)size;
    x->contrast = 1;
    x->aspect = 1;
    x->detail = 1;
    x->border = 0;
}
