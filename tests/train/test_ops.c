/* test_ops.c: the CPU ops against direct definitions (forward) and central finite differences
 * (backward).
 *
 * Gradient checks (Caffe style): the op runs in float; the scalar checked is
 * L = sum_i r_i * out_i with fixed random r (so dout = r), accumulated in double; each input,
 * weight and bias element is moved by +-h (h = 1e-2) and the numeric derivative
 * (L+ - L-) / 2h must match the analytic one within 1e-3 * max(|a|, |b|, 1). Inputs of the
 * kinked ops (leaky ReLU, max pool) are kept at least 5h away from their kinks, so the
 * differences are exact up to float rounding.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "cxr_test.h"
#include "cxr_ops.h"
#include "rng.h"

static void *ctx;
static uint64_t rs = 12345;

static float frand(void)
{ /* uniform [-1, 1) */
    rs = cxr_mix64(rs);
    return (float)((rs >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static void fill(float *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = frand();
}
/* n floats of junk (99): a backward op writes its outputs (cxr_ops.h), so a result that reads or
 * leaves part of them fails the gradient checks */
static float *junk(size_t n)
{
    float *p = malloc(n * sizeof *p);
    for (size_t i = 0; p && i < n; i++) p[i] = 99.0f;
    return p;
}
static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static int fd_fail;
static void check_grad(const char *what, size_t i, double analytic, double numeric)
{
    double tol = 1e-3 * fmax(fmax(fabs(analytic), fabs(numeric)), 1.0);
    if (!(fabs(analytic - numeric) <= tol)) {
        if (fd_fail++ < 10)
            fprintf(stderr, "%s[%zu]: analytic %.7g numeric %.7g\n", what, i, analytic, numeric);
        cxr_test_failures++;
    }
}

#define H_STEP 1e-2f

/* ---------------------------------------------------------------- conv */
static double conv_L(const float *x, const float *w, const float *b, const float *r, float *out,
                     int N, int C, int K, int H, int W)
{
    cxr_conv3x3_forward_cpu(ctx, out, x, w, b, N, C, K, H, W);
    return dot(out, r, (size_t)N * K * H * W);
}

static void test_conv(int N, int C, int K, int H, int W)
{
    size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * 9, no = (size_t)N * K * H * W;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(K * 4), *r = malloc(no * 4);
    float *out = malloc(no * 4), *dx = junk(nx), *dw = junk(nw), *db = junk(K);
    fill(x, nx), fill(w, nw), fill(b, K), fill(r, no);
    /* the direct path first, whatever CXR_CPU_PARALLEL says (the other path is compared below;
     * the write checks at the end rerun the direct one) */
    const int keep_blas = ((cxr_cpu_ctx *)ctx)->blas_parallel;
    ((cxr_cpu_ctx *)ctx)->blas_parallel = 0;
    /* forward against the direct definition */
    CHECK_OK(cxr_conv3x3_forward_cpu(ctx, out, x, w, b, N, C, K, H, W));
    double maxerr = 0;
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    double s = b[k];
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int yy = y + ky - 1, xi = xx + kx - 1;
                                if (yy < 0 || yy >= H || xi < 0 || xi >= W) continue;
                                s += (double)w[((k * C + c) * 3 + ky) * 3 + kx] *
                                     x[((size_t)(n * C + c) * H + yy) * W + xi];
                            }
                    double e = fabs(s - out[((size_t)(n * K + k) * H + y) * W + xx]);
                    if (e > maxerr) maxerr = e;
                }
    CHECK(maxerr < 1e-4);
    /* backward */
    CHECK_OK(cxr_conv3x3_backward_cpu(ctx, dx, dw, db, r, x, w, N, C, K, H, W));
    for (size_t i = 0; i < nx; i++) {
        float s = x[i];
        x[i] = s + H_STEP;
        double lp = conv_L(x, w, b, r, out, N, C, K, H, W);
        x[i] = s - H_STEP;
        double lm = conv_L(x, w, b, r, out, N, C, K, H, W);
        x[i] = s;
        check_grad("conv dx", i, dx[i], (lp - lm) / (2.0 * H_STEP));
    }
    for (size_t i = 0; i < nw; i++) {
        float s = w[i];
        w[i] = s + H_STEP;
        double lp = conv_L(x, w, b, r, out, N, C, K, H, W);
        w[i] = s - H_STEP;
        double lm = conv_L(x, w, b, r, out, N, C, K, H, W);
        w[i] = s;
        check_grad("conv dw", i, dw[i], (lp - lm) / (2.0 * H_STEP));
    }
    for (int i = 0; i < K; i++) {
        float s = b[i];
        b[i] = s + H_STEP;
        double lp = conv_L(x, w, b, r, out, N, C, K, H, W);
        b[i] = s - H_STEP;
        double lm = conv_L(x, w, b, r, out, N, C, K, H, W);
        b[i] = s;
        check_grad("conv db", i, db[i], (lp - lm) / (2.0 * H_STEP));
    }
    /* the other product path (one image at a time over multithreaded OpenBLAS, as with
     * CXR_CPU_PARALLEL=blas; im2col + sgemm instead of the direct AVX2 kernel) agrees */
    {
        float *o2 = malloc(no * 4), *dx2 = junk(nx), *dw2b = junk(nw), *db2 = junk(K);
        ((cxr_cpu_ctx *)ctx)->blas_parallel = 1;
        CHECK_OK(cxr_conv3x3_forward_cpu(ctx, o2, x, w, b, N, C, K, H, W));
        CHECK_OK(cxr_conv3x3_backward_cpu(ctx, dx2, dw2b, db2, r, x, w, N, C, K, H, W));
        ((cxr_cpu_ctx *)ctx)->blas_parallel = 0;
        CHECK_OK(cxr_conv3x3_forward_cpu(ctx, out, x, w, b, N, C, K, H, W));
        for (size_t i = 0; i < no; i++) CHECK_CLOSE(o2[i], out[i], 1e-5, 1e-5);
        for (size_t i = 0; i < nx; i++) CHECK_CLOSE(dx2[i], dx[i], 1e-5, 1e-5);
        for (size_t i = 0; i < nw; i++) CHECK_CLOSE(dw2b[i], dw[i], 1e-5, 1e-5);
        for (int i = 0; i < K; i++) CHECK_CLOSE(db2[i], db[i], 1e-5, 1e-5);
        free(o2), free(dx2), free(dw2b), free(db2);
    }
    /* writes: a second backward over the first one's results gives the same bits, with and
     * without din */
    float *dw2 = malloc(nw * 4), *dx3 = malloc(nx * 4), *db3 = malloc(K * 4);
    memcpy(dw2, dw, nw * 4), memcpy(dx3, dx, nx * 4), memcpy(db3, db, K * 4);
    CHECK_OK(cxr_conv3x3_backward_cpu(ctx, dx, dw, db, r, x, w, N, C, K, H, W));
    CHECK(memcmp(dw, dw2, nw * 4) == 0 && memcmp(dx, dx3, nx * 4) == 0);
    CHECK(memcmp(db, db3, K * 4) == 0);
    CHECK_OK(cxr_conv3x3_backward_cpu(ctx, NULL, dw, db, r, x, w, N, C, K, H, W));
    CHECK(memcmp(dw, dw2, nw * 4) == 0 && memcmp(db, db3, K * 4) == 0);
    ((cxr_cpu_ctx *)ctx)->blas_parallel = keep_blas;
    free(dx3), free(db3);
    free(x), free(w), free(b), free(r), free(out), free(dx), free(dw), free(db), free(dw2);
}

/* ---------------------------------------------------------------- pool */
static void test_pool(void)
{
    const int N = 2, C = 3, H = 6, W = 8, Ho = 3, Wo = 4;
    size_t nx = (size_t)N * C * H * W, no = (size_t)N * C * Ho * Wo;
    float *x = malloc(nx * 4), *out = malloc(no * 4), *r = malloc(no * 4), *dx = junk(nx);
    uint8_t *idx = malloc(no);
    /* distinct values spaced 0.1 apart (> 2h), shuffled */
    for (size_t i = 0; i < nx; i++) x[i] = 0.1f * (float)i - 5.0f;
    for (size_t i = nx - 1; i > 0; i--) {
        rs = cxr_mix64(rs);
        size_t j = rs % (i + 1);
        float t = x[i];
        x[i] = x[j], x[j] = t;
    }
    fill(r, no);
    CHECK_OK(cxr_maxpool2_forward_cpu(ctx, out, idx, x, N, C, H, W));
    for (int p = 0; p < N * C; p++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                const float *q = x + (size_t)p * H * W;
                float m = fmaxf(fmaxf(q[2 * i * W + 2 * j], q[2 * i * W + 2 * j + 1]),
                                fmaxf(q[(2 * i + 1) * W + 2 * j], q[(2 * i + 1) * W + 2 * j + 1]));
                CHECK(out[(size_t)p * Ho * Wo + i * Wo + j] == m);
            }
    CHECK_OK(cxr_maxpool2_backward_cpu(ctx, dx, r, idx, N, C, H, W));
    for (size_t i = 0; i < nx; i++) {
        float s = x[i];
        x[i] = s + H_STEP;
        cxr_maxpool2_forward_cpu(ctx, out, idx, x, N, C, H, W);
        double lp = dot(out, r, no);
        x[i] = s - H_STEP;
        cxr_maxpool2_forward_cpu(ctx, out, idx, x, N, C, H, W);
        double lm = dot(out, r, no);
        x[i] = s;
        check_grad("pool dx", i, dx[i], (lp - lm) / (2.0 * H_STEP));
    }
    /* ties go to the lowest window index */
    float tie[4] = { 1, 1, 1, 1 }, o;
    uint8_t ti;
    CHECK_OK(cxr_maxpool2_forward_cpu(ctx, &o, &ti, tie, 1, 1, 2, 2));
    CHECK(ti == 0 && o == 1.0f);
    free(x), free(out), free(r), free(dx), free(idx);
}

/* The global average pool (head gap): the mean in double, and the gradient spread evenly,
 * every element of din written (junk before). */
static void test_global_avgpool(void)
{
    const int N = 3, C = 4, HW = 37;
    size_t nx = (size_t)N * C * HW, no = (size_t)N * C;
    float *x = malloc(nx * 4), *out = malloc(no * 4), *r = malloc(no * 4), *dx = junk(nx);
    fill(x, nx);
    fill(r, no);
    CHECK_OK(cxr_global_avgpool_forward_cpu(ctx, out, x, N, C, HW));
    for (size_t p = 0; p < no; p++) {
        double s = 0;
        for (int j = 0; j < HW; j++) s += x[p * HW + j];
        CHECK(out[p] == (float)(s / HW));
    }
    CHECK_OK(cxr_global_avgpool_backward_cpu(ctx, dx, r, N, C, HW));
    for (size_t i = 0; i < nx; i++) CHECK(dx[i] == r[i / HW] / (float)HW);
    CHECK(cxr_global_avgpool_forward_cpu(ctx, out, x, N, C, 0) == CXR_E_ARG);
    free(x), free(out), free(r), free(dx);
}

/* The input pool: the k x k window mean in double, and sizes that are not multiples refused. */
static void test_avgpool(void)
{
    const int N = 2, C = 1, H = 12, W = 8, k = 4;
    float x[N * C * H * W], y[N * C * (H / k) * (W / k)];
    fill(x, sizeof x / 4);
    CHECK_OK(cxr_avgpool_forward_cpu(ctx, y, x, N, C, H, W, k));
    for (int p = 0; p < N * C; p++)
        for (int i = 0; i < H / k; i++)
            for (int j = 0; j < W / k; j++) {
                double s = 0;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) s += x[(p * H + i * k + a) * W + j * k + b];
                CHECK(y[(p * (H / k) + i) * (W / k) + j] == (float)(s / (k * k)));
            }
    CHECK(cxr_avgpool_forward_cpu(ctx, y, x, N, C, 10, W, k) == CXR_E_ARG);
}

/* ---------------------------------------------------------------- dense */
static void test_dense(void)
{
    const int N = 3, IN = 7, OUT = 5;
    size_t nx = N * IN, nw = OUT * IN, no = N * OUT;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(OUT * 4), *r = malloc(no * 4);
    float *out = malloc(no * 4), *dx = junk(nx), *dw = junk(nw), *db = junk(OUT);
    fill(x, nx), fill(w, nw), fill(b, OUT), fill(r, no);
    CHECK_OK(cxr_dense_forward_cpu(ctx, out, x, w, b, N, IN, OUT));
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            double s = b[o];
            for (int i = 0; i < IN; i++) s += (double)x[n * IN + i] * w[o * IN + i];
            CHECK_CLOSE(out[n * OUT + o], s, 1e-5, 1e-5);
        }
    CHECK_OK(cxr_dense_backward_cpu(ctx, dx, dw, db, r, x, w, N, IN, OUT));
    float *ps[3] = { x, w, b };
    float *gs[3] = { dx, dw, db };
    size_t ns[3] = { nx, nw, OUT };
    const char *names[3] = { "dense dx", "dense dw", "dense db" };
    for (int t = 0; t < 3; t++)
        for (size_t i = 0; i < ns[t]; i++) {
            float s = ps[t][i];
            ps[t][i] = s + H_STEP;
            cxr_dense_forward_cpu(ctx, out, x, w, b, N, IN, OUT);
            double lp = dot(out, r, no);
            ps[t][i] = s - H_STEP;
            cxr_dense_forward_cpu(ctx, out, x, w, b, N, IN, OUT);
            double lm = dot(out, r, no);
            ps[t][i] = s;
            check_grad(names[t], i, gs[t][i], (lp - lm) / (2.0 * H_STEP));
        }
    free(x), free(w), free(b), free(r), free(out), free(dx), free(dw), free(db);
}

/* The dense layer at sizes where our kernels block their work, which test_dense's 7 inputs
 * never reach: IN = 700 over 2 threads gives each thread's slice of columns two blocks of dW
 * (256 columns a block) and three of din (128), and the forward three blocks of the inner
 * dimension (256, 256, 188: a partial chunk of 8); OUT = 37 leaves a partial block of W's
 * rows. The forward and every gradient against sums in double, within 1e-5 of the sum of the
 * terms' magnitudes, at AVX2 width and, where the CPU has it, at AVX-512 width (on an
 * AVX2-only CPU train.ops_avx512 is skipped: this is then the only check of these paths). */
static void dense_large_fail(const char *what, int wide, const float *got, const double *ref,
                             const double *mag, size_t n)
{
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++)
        if (!(fabs(got[i] - ref[i]) <= 1e-5 * mag[i] + 1e-7) && !bad++) first = i;
    if (bad) {
        fprintf(stderr, "dense %s (wide %d): %zu of %zu wrong, first [%zu] %.7g, want %.7g\n", what,
                wide, bad, n, first, got[first], ref[first]);
        cxr_test_failures++;
    }
}

static void test_dense_large(void)
{
    enum { N = 5, IN = 700, OUT = 37 };
    cxr_cpu_ctx *c = ctx;
    const int keep_blas = c->blas_parallel, keep_wide = c->avx512;
    const size_t nx = (size_t)N * IN, nw = (size_t)OUT * IN, no = (size_t)N * OUT;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(OUT * 4), *r = malloc(no * 4);
    double *fo = calloc(no, 8), *mo = calloc(no, 8), *fx = calloc(nx, 8), *mx = calloc(nx, 8);
    double *fw = calloc(nw, 8), *mw = calloc(nw, 8), *fb = calloc(OUT, 8), *mb = calloc(OUT, 8);
    fill(x, nx), fill(w, nw), fill(b, OUT), fill(r, no);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) {
            const double g = r[n * OUT + o];
            fo[n * OUT + o] = b[o], mo[n * OUT + o] = fabs(b[o]);
            fb[o] += g, mb[o] += fabs(g);
            for (int i = 0; i < IN; i++) {
                const double xi = x[(size_t)n * IN + i], wi = w[(size_t)o * IN + i];
                fo[n * OUT + o] += xi * wi, mo[n * OUT + o] += fabs(xi * wi);
                fx[(size_t)n * IN + i] += g * wi, mx[(size_t)n * IN + i] += fabs(g * wi);
                fw[(size_t)o * IN + i] += g * xi, mw[(size_t)o * IN + i] += fabs(g * xi);
            }
        }
    c->blas_parallel = 0; /* whatever CXR_CPU_PARALLEL says: our kernels */
    for (int v = 0; v <= cxr_conv_avx512_available(); v++) {
        c->avx512 = v;
        float *out = junk(no), *dx = junk(nx), *dw = junk(nw), *db = junk(OUT);
        CHECK_OK(cxr_dense_forward_cpu(ctx, out, x, w, b, N, IN, OUT));
        CHECK_OK(cxr_dense_backward_cpu(ctx, dx, dw, db, r, x, w, N, IN, OUT));
        dense_large_fail("forward", v, out, fo, mo, no);
        dense_large_fail("din", v, dx, fx, mx, nx);
        dense_large_fail("dW", v, dw, fw, mw, nw);
        dense_large_fail("db", v, db, fb, mb, OUT);
        free(out), free(dx), free(dw), free(db);
    }
    c->blas_parallel = keep_blas, c->avx512 = keep_wide;
    free(x), free(w), free(b), free(r), free(fo), free(mo), free(fx), free(mx), free(fw), free(mw);
    free(fb), free(mb);
}

/* The backend's zero op splits a buffer of 4 MiB or more over its threads (the model's
 * cxr_model_init_params zeroes the gradients and Adam's moments with it): at 3 threads, a size
 * that 3 does not divide leaves a remainder to the last thread, which the other tests' 2
 * threads and even sizes never do. Every byte is 0 after. */
static void test_zero_split(void)
{
    cxr_backend *be3 = NULL;
    CHECK_OK(cxr_backend_cpu_create(&be3, 3));
    if (!be3) return;
    const size_t bytes = ((size_t)1 << 22) + 4; /* 2 more than a multiple of 3 */
    unsigned char *p = malloc(bytes);
    REQUIRE(p);
    memset(p, 0xAB, bytes);
    CHECK(cxr_cpu_threads(be3->ctx) == 3);
    CHECK_OK(be3->zero(be3->ctx, p, bytes));
    size_t left = 0;
    for (size_t i = 0; i < bytes; i++) left += p[i] != 0;
    if (left) {
        fprintf(stderr, "zero of %zu bytes over 3 threads: %zu bytes not 0\n", bytes, left);
        cxr_test_failures++;
    }
    free(p);
    cxr_backend_destroy(be3);
}

/* ---------------------------------------------------------------- leaky ReLU and dropout */
static void test_elementwise(void)
{
    const size_t n = 64;
    const float alpha = 0.5f;
    float x[64], y[64], r[64], d[64];
    for (size_t i = 0; i < n; i++) { /* away from the kink at 0 */
        float v = frand();
        x[i] = v >= 0 ? v + 0.05f : v - 0.05f;
    }
    fill(r, n);
    CHECK_OK(cxr_leaky_relu_forward_cpu(ctx, y, x, alpha, n));
    for (size_t i = 0; i < n; i++) CHECK(y[i] == (x[i] > 0 ? x[i] : alpha * x[i]));
    memcpy(d, r, sizeof d);
    CHECK_OK(cxr_leaky_relu_backward_cpu(ctx, d, y, alpha, n));
    for (size_t i = 0; i < n; i++) {
        float s = x[i], t;
        x[i] = s + H_STEP;
        cxr_leaky_relu_forward_cpu(ctx, &t, &x[i], alpha, 1);
        double lp = (double)t * r[i];
        x[i] = s - H_STEP;
        cxr_leaky_relu_forward_cpu(ctx, &t, &x[i], alpha, 1);
        double lm = (double)t * r[i];
        x[i] = s;
        check_grad("leaky dx", i, d[i], (lp - lm) / (2.0 * H_STEP));
    }
    /* dropout with a fixed key: forward is x * mask / keep; its gradient is the same map */
    const uint64_t key = cxr_rng_key(7, 3, 1);
    const float keep = 0.75f;
    float xd[64];
    memcpy(xd, x, sizeof xd);
    CHECK_OK(cxr_dropout_apply_cpu(ctx, xd, key, keep, n));
    memcpy(d, r, sizeof d);
    CHECK_OK(cxr_dropout_apply_cpu(ctx, d, key, keep, n));
    int kept = 0;
    for (size_t i = 0; i < n; i++) {
        int k = cxr_dropout_keep(key, i, cxr_dropout_threshold(keep));
        kept += k;
        CHECK(xd[i] == (k ? x[i] * (1.0f / keep) : 0.0f));
        float s = x[i], t;
        t = s + H_STEP;
        double lp = (double)(k ? t / keep : 0.0f) * r[i];
        t = s - H_STEP;
        double lm = (double)(k ? t / keep : 0.0f) * r[i];
        check_grad("dropout dx", i, d[i], (lp - lm) / (2.0 * H_STEP));
    }
    CHECK(kept > 0 && kept < 64);
    /* keep_prob 1 is the identity */
    memcpy(d, x, sizeof d);
    CHECK_OK(cxr_dropout_apply_cpu(ctx, d, key, 1.0f, n));
    CHECK(memcmp(d, x, sizeof d) == 0);
    CHECK(cxr_dropout_apply_cpu(ctx, d, key, 0.0f, n) == CXR_E_ARG);
}

/* Dropout over counts that are not a multiple of 4 (one random word masks four elements; the
 * other tests use 64 and 2^22): every element, the last word's too, is x / keep where
 * cxr_dropout_keep keeps it and 0 where not. */
static void test_dropout_tail(void)
{
    const uint64_t key = cxr_rng_key(5, 2, 3);
    const float keep = 0.5f;
    for (size_t n = 61; n <= 64; n++) {
        float x[64];
        int wrong = 0;
        for (size_t i = 0; i < n; i++) x[i] = 1.0f + (float)i;
        CHECK_OK(cxr_dropout_apply_cpu(ctx, x, key, keep, n));
        for (size_t i = 0; i < n; i++) {
            const int k = cxr_dropout_keep(key, i, cxr_dropout_threshold(keep));
            wrong += x[i] != (k ? (1.0f + (float)i) * (1.0f / keep) : 0.0f);
        }
        if (wrong) {
            fprintf(stderr, "dropout of %zu elements: %d not masked as cxr_dropout_keep says\n", n,
                    wrong);
            cxr_test_failures++;
        }
    }
}

static void test_dropout_stats(void)
{
    const size_t n = 1 << 22;
    float *x = malloc(n * 4), *y = malloc(n * 4);
    for (size_t i = 0; i < n; i++) x[i] = 1.0f;
    memcpy(y, x, n * 4);
    const uint64_t key = cxr_rng_key(42, 0, 1);
    CHECK_OK(cxr_dropout_apply_cpu(ctx, x, key, 0.75f, n));
    CHECK_OK(cxr_dropout_apply_cpu(ctx, y, key, 0.75f, n));
    CHECK(memcmp(x, y, n * 4) == 0); /* deterministic per counter */
    size_t kept = 0, same_other = 0;
    for (size_t i = 0; i < n; i++) kept += x[i] != 0.0f;
    double frac = (double)kept / n; /* sd = sqrt(.75*.25/n) = 2.1e-4 */
    fprintf(stderr, "dropout keep fraction %.5f over %zu elements\n", frac, n);
    CHECK(fabs(frac - 0.75) < 2e-3);
    for (size_t i = 0; i < n; i++) CHECK(x[i] == 0.0f || x[i] == 1.0f / 0.75f);
    /* another step's key gives another mask (agreement ~ .75^2 + .25^2 = .625) */
    for (size_t i = 0; i < n; i++) y[i] = 1.0f;
    CHECK_OK(cxr_dropout_apply_cpu(ctx, y, cxr_rng_key(42, 1, 1), 0.75f, n));
    for (size_t i = 0; i < n; i++) same_other += (x[i] != 0.0f) == (y[i] != 0.0f);
    CHECK(fabs((double)same_other / n - 0.625) < 3e-3);
    /* other keep probabilities */
    for (size_t i = 0; i < n; i++) y[i] = 1.0f;
    CHECK_OK(cxr_dropout_apply_cpu(ctx, y, key, 0.5f, n));
    kept = 0;
    for (size_t i = 0; i < n; i++) kept += y[i] != 0.0f;
    CHECK(fabs((double)kept / n - 0.5) < 2e-3);
    free(x), free(y);
}

/* ---------------------------------------------------------------- fused ops */
/* conv + leaky ReLU + pool forward and pool + leaky ReLU backward against the separate ops,
 * to the bit, with the strips of the separate conv (odd rows) differing from the fused one's
 * (even rows), and with a dropped-out (zeroed) share of the pooled map in the backward. */
static void test_fused(int N, int C, int K, int H, int W, size_t strip_floats)
{
    const float alpha = 0.5f;
    const int Ho = H / 2, Wo = W / 2;
    size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * 9, no = (size_t)N * K * H * W;
    size_t np = no / 4;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(K * 4);
    float *o1 = malloc(no * 4), *o2 = malloc(no * 4), *p1 = malloc(np * 4), *p2 = malloc(np * 4);
    float *g = malloc(np * 4), *d1 = malloc(no * 4), *d2 = malloc(no * 4);
    uint8_t *i1 = malloc(np), *i2 = malloc(np);
    fill(x, nx), fill(w, nw), fill(b, K), fill(g, np);
    ((cxr_cpu_ctx *)ctx)->strip_floats = strip_floats;
    CHECK_OK(cxr_conv3x3_forward_cpu(ctx, o1, x, w, b, N, C, K, H, W));
    CHECK_OK(cxr_leaky_relu_forward_cpu(ctx, o1, o1, alpha, no));
    CHECK_OK(cxr_maxpool2_forward_cpu(ctx, p1, i1, o1, N, K, H, W));
    CHECK_OK(cxr_conv3x3_lrelu_pool_forward_cpu(ctx, o2, p2, i2, x, w, b, alpha, N, C, K, H, W));
    CHECK(memcmp(o1, o2, no * 4) == 0);
    CHECK(memcmp(p1, p2, np * 4) == 0 && memcmp(i1, i2, np) == 0);
    memset(o2, 0, no * 4);
    CHECK_OK(
        cxr_conv3x3_lrelu_pool_forward_cpu(ctx, o2, NULL, NULL, x, w, b, alpha, N, C, K, H, W));
    CHECK(memcmp(o1, o2, no * 4) == 0);
    memset(p2, 0, np * 4);
    CHECK_OK(cxr_conv3x3_lrelu_pool_forward_cpu(ctx, NULL, p2, i2, x, w, b, alpha, N, C, K, H, W));
    CHECK(memcmp(p1, p2, np * 4) == 0 && memcmp(i1, i2, np) == 0);
    CHECK(cxr_conv3x3_lrelu_pool_forward_cpu(ctx, NULL, NULL, NULL, x, w, b, alpha, N, C, K, H,
                                             W) == CXR_E_ARG);
    /* backward: every 5th pooled unit dropped (value and gradient 0), the rest kept */
    for (size_t i = 0; i < np; i += 5) p1[i] = 0.0f, g[i] = 0.0f;
    for (size_t i = 0; i < no; i++) d1[i] = 99.0f; /* written, not accumulated */
    CHECK_OK(cxr_maxpool2_backward_cpu(ctx, d1, g, i1, N, K, H, W));
    CHECK_OK(cxr_leaky_relu_backward_cpu(ctx, d1, o1, alpha, no));
    for (size_t i = 0; i < no; i++) d2[i] = 99.0f; /* overwritten, not accumulated */
    CHECK_OK(cxr_maxpool2_lrelu_backward_cpu(ctx, d2, g, i1, p1, alpha, N, K, H, W));
    int diff = 0;
    for (size_t i = 0; i < no; i++) diff += d1[i] != d2[i];
    CHECK(diff == 0);
    ((cxr_cpu_ctx *)ctx)->strip_floats = 0;
    (void)Ho, (void)Wo;
    free(x), free(w), free(b), free(o1), free(o2), free(p1), free(p2), free(g), free(d1), free(d2),
        free(i1), free(i2);
}

/* ---------------------------------------------------------------- Winograd */
/* The products by Winograd (the forward of layers of >= 16 input channels, the input gradient
 * of layers of >= 16 output channels; rows of >= 32 pixels, even sizes) and by the direct
 * product, each against the definition in double: both within 1e-6 of the sum of the terms'
 * magnitudes (the scale of a float sum's rounding error; F(2x2, 3x3)'s transforms add a few
 * roundings of that scale), and, where Winograd applies, not the same bits (it ran). */
static int wino_fail;
static void wino_check(const char *what, const float *vw, const float *vd, const double *ref,
                       const double *mag, size_t n, int applies)
{
    double worst_w = 0, worst_d = 0;
    for (size_t i = 0; i < n; i++) {
        worst_w = fmax(worst_w, fabs(vw[i] - ref[i]) / mag[i]);
        worst_d = fmax(worst_d, fabs(vd[i] - ref[i]) / mag[i]);
    }
    printf("%s: worst error / magnitude %.3g (direct %.3g)%s\n", what, worst_w, worst_d,
           applies ? "" : ", Winograd does not apply");
    const int bad =
        !(worst_w < 1e-6 && worst_d < 1e-6) || (memcmp(vw, vd, n * sizeof *vw) != 0) != applies;
    if (bad && wino_fail++ < 10) fprintf(stderr, "%s: FAILED\n", what);
    cxr_test_failures += bad;
}

static void test_winograd(int N, int C, int K, int H, int W, size_t strip_floats)
{
    cxr_cpu_ctx *c = ctx;
    if (!cxr_gemm_wcol_available()) return; /* no direct path, so no Winograd: im2col + sgemm */
    const int keep_wino = c->wino, keep_blas = c->blas_parallel;
    c->blas_parallel = 0; /* whatever CXR_CPU_PARALLEL says: the direct path */
    size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * 9, no = (size_t)N * K * H * W;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(K * 4), *g = malloc(no * 4);
    float *ow = malloc(no * 4), *od = malloc(no * 4), *xw = junk(nx), *xd = junk(nx);
    float *dw = junk(nw), *db = junk(K), *o2 = malloc(no * 4), *x2 = junk(nx);
    float *dww = junk(nw), *dwd = junk(nw);
    double *fref = malloc(no * 8), *fmag = malloc(no * 8);
    double *dref = calloc(nx, 8), *dmag = calloc(nx, 8);
    double *wref = calloc(nw, 8), *wmag = calloc(nw, 8);
    fill(x, nx), fill(w, nw), fill(b, K), fill(g, no);
    c->strip_floats = strip_floats;
    for (int v = 0; v < 2; v++) {
        c->wino = v;
        CHECK_OK(cxr_conv3x3_forward_cpu(ctx, v ? ow : od, x, w, b, N, C, K, H, W));
        CHECK_OK(
            cxr_conv3x3_backward_cpu(ctx, v ? xw : xd, v ? dww : dwd, db, g, x, w, N, C, K, H, W));
    }
    /* the weight gradient alone (no din) is the same */
    c->wino = 1;
    CHECK_OK(cxr_conv3x3_backward_cpu(ctx, NULL, dw, db, g, x, w, N, C, K, H, W));
    CHECK(memcmp(dw, dww, nw * 4) == 0);
    /* each 2x2 tile is computed alone: whole-image strips and one thread give the same bits */
    c->strip_floats = 0;
    const int threads = c->n_threads;
    c->n_threads = 1;
    CHECK_OK(cxr_conv3x3_forward_cpu(ctx, o2, x, w, b, N, C, K, H, W));
    CHECK_OK(cxr_conv3x3_backward_cpu(ctx, x2, dw, db, g, x, w, N, C, K, H, W));
    c->n_threads = threads;
    CHECK(memcmp(o2, ow, no * 4) == 0 && memcmp(x2, xw, nx * 4) == 0);
    c->wino = keep_wino, c->blas_parallel = keep_blas;
    /* the forward, and each of its terms' share of din = sum over outputs of w * dout */
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    const size_t o = ((size_t)(n * K + k) * H + y) * W + xx;
                    fref[o] = b[k], fmag[o] = fabs(b[k]);
                    for (int ci = 0; ci < C; ci++)
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++) {
                                int yy = y + ky - 1, xi = xx + kx - 1;
                                if (yy < 0 || yy >= H || xi < 0 || xi >= W) continue;
                                const size_t ix = ((size_t)(n * C + ci) * H + yy) * W + xi;
                                const double wt = w[((k * C + ci) * 3 + ky) * 3 + kx];
                                fref[o] += wt * x[ix], fmag[o] += fabs(wt * x[ix]);
                                dref[ix] += wt * g[o], dmag[ix] += fabs(wt * g[o]);
                                const size_t iw = ((size_t)(k * C + ci) * 3 + ky) * 3 + kx;
                                wref[iw] += (double)g[o] * x[ix];
                                wmag[iw] += fabs((double)g[o] * x[ix]);
                            }
                }
    char what[96];
    snprintf(what, sizeof what, "winograd %dx%dx%dx%dx%d forward", N, C, K, H, W);
    wino_check(what, ow, od, fref, fmag, no, C >= 16 && W >= 32);
    snprintf(what, sizeof what, "winograd %dx%dx%dx%dx%d input gradient", N, C, K, H, W);
    wino_check(what, xw, xd, dref, dmag, nx, K >= 16 && W >= 32);
    snprintf(what, sizeof what, "winograd %dx%dx%dx%dx%d weight gradient", N, C, K, H, W);
    wino_check(what, dww, dwd, wref, wmag, nw, 0); /* direct: winograd.md, part 3 */
    free(x), free(w), free(b), free(g), free(ow), free(od), free(xw), free(xd), free(dw), free(db);
    free(o2), free(x2), free(fref), free(fmag), free(dref), free(dmag), free(dww), free(dwd);
    free(wref), free(wmag);
}

/* ---------------------------------------------------------------- weighted softmax CE */
static double xent_L(const float *z, const int32_t *lab, const float *cw, float eps, float *p,
                     float *dz, int N, int C)
{
    float loss;
    cxr_softmax_xent_cpu(ctx, &loss, dz, p, z, lab, NULL, NULL, cw, eps, N, C);
    return loss;
}

/* The loss against its definition in double, its gradient against central differences, with
 * label smoothing eps (0: one-hot targets). */
static void test_xent_eps(float eps)
{
    enum { N = 5, C = 4 };
    float z[N * C], p[N * C], dz[N * C], scratch[N * C];
    int32_t lab[N] = { 0, 3, 1, 1, 2 };
    float cw[C] = { 0.5f, 2.0f, 1.0f, 3.0f };
    for (int i = 0; i < N * C; i++) z[i] = 2.0f * frand();
    for (int i = 0; i < N * C; i++) dz[i] = 99.0f; /* written, not accumulated */
    float loss;
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &loss, dz, p, z, lab, NULL, NULL, cw, eps, N, C));
    /* loss against the definition in double: -sum_c q[c] log p[c] */
    double num = 0, den = 0;
    for (int n = 0; n < N; n++) {
        double se = 0, ce = 0;
        for (int c = 0; c < C; c++) se += exp(z[n * C + c]);
        for (int c = 0; c < C; c++) {
            const double q = (c == lab[n] ? 1.0 - eps : 0.0) + (double)eps / C;
            ce -= q * (z[n * C + c] - log(se));
        }
        num += cw[lab[n]] * ce;
        den += cw[lab[n]];
        double ps = 0;
        for (int c = 0; c < C; c++) ps += p[n * C + c];
        CHECK_CLOSE(ps, 1.0, 1e-6, 0);
    }
    CHECK_CLOSE(loss, num / den, 1e-6, 1e-6);
    for (int i = 0; i < N * C; i++) {
        float s = z[i];
        z[i] = s + H_STEP;
        double lp = xent_L(z, lab, cw, eps, p, scratch, N, C);
        z[i] = s - H_STEP;
        double lm = xent_L(z, lab, cw, eps, p, scratch, N, C);
        z[i] = s;
        check_grad("xent dz", (size_t)i, dz[i], (lp - lm) / (2.0 * H_STEP));
    }
    /* unweighted (NULL) equals all-ones weights; bad label is refused */
    float ones[C] = { 1, 1, 1, 1 }, l1, l2;
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &l1, scratch, p, z, lab, NULL, NULL, NULL, eps, N, C));
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &l2, scratch, p, z, lab, NULL, NULL, ones, eps, N, C));
    CHECK(l1 == l2);
    int32_t bad[N] = { 0, 4, 1, 1, 2 };
    CHECK(cxr_softmax_xent_cpu(ctx, &l1, scratch, p, z, bad, NULL, NULL, NULL, eps, N, C) ==
          CXR_E_MISMATCH);
}

/* Mixup's loss (cxr_ops.h): against its definition in double, its gradient against central
 * differences, with label smoothing eps; every mix 1 is the unmixed loss; a mix of 0 takes the
 * partner's label alone; bad mixes and partner labels are refused. */
static float xent_mixed_L(const float *z, const int32_t *lab, const int32_t *lab2, const float *mix,
                          const float *cw, float eps, float *p, float *dz, int N, int C)
{
    float loss = NAN;
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &loss, dz, p, z, lab, lab2, mix, cw, eps, N, C));
    return loss;
}

static void test_xent_mixup(float eps)
{
    enum { N = 6, C = 3 };
    float z[N * C], p[N * C], dz[N * C], scratch[N * C], d1[N * C];
    const int32_t lab[N] = { 0, 2, 1, 1, 0, 2 }, lab2[N] = { 2, 0, 1, 1, 2, 0 };
    const float mix[N] = { 0.9f, 0.1f, 0.5f, 0.5f, 0.0f, 1.0f };
    const float cw[C] = { 0.5f, 2.0f, 1.3f };
    for (int i = 0; i < N * C; i++) z[i] = 2.0f * frand();
    for (int i = 0; i < N * C; i++) dz[i] = 99.0f; /* written, not accumulated */
    const float loss = xent_mixed_L(z, lab, lab2, mix, cw, eps, p, dz, N, C);
    double num = 0, den = 0;
    for (int n = 0; n < N; n++) {
        double se = 0;
        for (int c = 0; c < C; c++) se += exp(z[n * C + c]);
        for (int k = 0; k < 2; k++) {
            const int y = k ? lab2[n] : lab[n];
            const double a = (k ? 1.0 - mix[n] : mix[n]) * cw[y];
            double ce = 0;
            for (int c = 0; c < C; c++) {
                const double q = (c == y ? 1.0 - eps : 0.0) + (double)eps / C;
                ce -= q * (z[n * C + c] - log(se));
            }
            num += a * ce;
            den += a;
        }
    }
    CHECK_CLOSE(loss, num / den, 1e-6, 1e-6);
    for (int i = 0; i < N * C; i++) {
        const float s = z[i];
        z[i] = s + H_STEP;
        const double lp = xent_mixed_L(z, lab, lab2, mix, cw, eps, p, scratch, N, C);
        z[i] = s - H_STEP;
        const double lm = xent_mixed_L(z, lab, lab2, mix, cw, eps, p, scratch, N, C);
        z[i] = s;
        check_grad("xent mixup dz", (size_t)i, dz[i], (lp - lm) / (2.0 * H_STEP));
    }
    /* every mix 1: the unmixed loss, the gradient within a rounding; every mix 0: the loss of
     * the partners' labels */
    const float ones[N] = { 1, 1, 1, 1, 1, 1 }, zeros[N] = { 0 };
    float l0, l1;
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &l0, scratch, p, z, lab, NULL, NULL, cw, eps, N, C));
    l1 = xent_mixed_L(z, lab, lab2, ones, cw, eps, p, d1, N, C);
    CHECK(l0 == l1);
    for (int i = 0; i < N * C; i++) CHECK_CLOSE(d1[i], scratch[i], 1e-7, 1e-6);
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &l0, scratch, p, z, lab2, NULL, NULL, cw, eps, N, C));
    l1 = xent_mixed_L(z, lab, lab2, zeros, cw, eps, p, d1, N, C);
    CHECK(l0 == l1);
    for (int i = 0; i < N * C; i++) CHECK_CLOSE(d1[i], scratch[i], 1e-7, 1e-6);
    /* refused: a mix outside [0,1], a partner's label out of range, a mix without labels2 */
    const float bad_mix[N] = { 0.5f, 1.5f, 0.5f, 0.5f, 0.5f, 0.5f };
    const int32_t bad_lab2[N] = { 0, 3, 1, 1, 0, 2 };
    CHECK(cxr_softmax_xent_cpu(ctx, &l0, d1, p, z, lab, lab2, bad_mix, cw, eps, N, C) == CXR_E_ARG);
    CHECK(cxr_softmax_xent_cpu(ctx, &l0, d1, p, z, lab, bad_lab2, mix, cw, eps, N, C) ==
          CXR_E_MISMATCH);
    CHECK(cxr_softmax_xent_cpu(ctx, &l0, d1, p, z, lab, NULL, mix, cw, eps, N, C) == CXR_E_ARG);
}

/* eps = 0 is the one-hot loss of before label smoothing to the bit: loss and dlogits against
 * that formula copied here (float p, log-sum-exp in double, g = w / sum w), with a logit that
 * overflowed to -inf off the label (finite loss: the smoothing term must stay out). */
static void test_xent_eps0_bits(void)
{
    enum { N = 6, C = 3 };
    float z[N * C], p[N * C], dz[N * C], loss;
    int32_t lab[N] = { 0, 2, 1, 1, 0, 2 };
    float cw[C] = { 1.7f, 0.6f, 1.1f };
    for (int i = 0; i < N * C; i++) z[i] = 4.0f * frand();
    z[1 * C + 0] = -INFINITY; /* image 1, label 2 */
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &loss, dz, p, z, lab, NULL, NULL, cw, 0.0f, N, C));
    double wsum = 0.0, lsum = 0.0;
    for (int n = 0; n < N; n++) wsum += cw[lab[n]];
    int same = 1;
    for (int n = 0; n < N; n++) {
        const float *zn = z + n * C, *pn = p + n * C;
        float mx = zn[0];
        for (int c = 1; c < C; c++)
            if (zn[c] > mx) mx = zn[c];
        double se = 0.0;
        for (int c = 0; c < C; c++) se += exp((double)zn[c] - mx);
        lsum += cw[lab[n]] * (log(se) - ((double)zn[lab[n]] - mx));
        const float g = (float)(cw[lab[n]] / wsum);
        for (int c = 0; c < C; c++) {
            const float want = g * (pn[c] - (c == lab[n] ? 1.0f : 0.0f));
            same &= memcmp(&want, &dz[n * C + c], sizeof want) == 0;
        }
    }
    const float want_loss = (float)(lsum / wsum);
    CHECK(isfinite(loss));
    CHECK(memcmp(&want_loss, &loss, sizeof loss) == 0);
    CHECK(same);
}

/* A logit far above the others in each position of the row (exp would overflow unless the
 * row's max over all of it is subtracted first): the softmax against its definition in double,
 * and the loss and its gradient finite and against it too. */
static void test_softmax_large(void)
{
    enum { C = 4 };
    for (int at = 0; at < C; at++) {
        float z[C], p[C], p2[C], dz[C], loss;
        for (int c = 0; c < C; c++) z[c] = (float)c - 2.0f;
        z[at] = 200.0f;
        CHECK_OK(cxr_softmax_forward_cpu(ctx, p, z, 1, C));
        const int32_t y = (at + 1) % C; /* the label off the large logit: a loss of ~200 */
        CHECK_OK(cxr_softmax_xent_cpu(ctx, &loss, dz, p2, z, &y, NULL, NULL, NULL, 0.0f, 1, C));
        double se = 0;
        for (int c = 0; c < C; c++) se += exp((double)z[c] - 200.0);
        for (int c = 0; c < C; c++) {
            const double want = exp((double)z[c] - 200.0) / se;
            CHECK_CLOSE(p[c], want, 1e-7, 1e-6);
            CHECK_CLOSE(dz[c], want - (c == y), 1e-7, 1e-6);
        }
        CHECK_CLOSE(loss, log(se) - ((double)z[y] - 200.0), 0, 1e-6);
    }
}

static void test_xent(void)
{
    test_softmax_large();
    test_xent_eps0_bits();
    test_xent_eps(0.0f);
    test_xent_eps(0.1f);
    test_xent_eps(0.5f);
    test_xent_mixup(0.0f);
    test_xent_mixup(0.1f);
    /* smoothing lowers the gradient's pull on a confident right answer: with z = (8, 0) and
     * label 0, eps = 0 pushes z[0] up (dz[0] < 0); eps = 0.1 pushes it down (p[0] ~ 0.9997 is
     * above the target 0.95) */
    float z[2] = { 8.0f, 0.0f }, p[2], d0[2], d1[2], l;
    int32_t y = 0;
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &l, d0, p, z, &y, NULL, NULL, NULL, 0.0f, 1, 2));
    CHECK_OK(cxr_softmax_xent_cpu(ctx, &l, d1, p, z, &y, NULL, NULL, NULL, 0.1f, 1, 2));
    CHECK(d0[0] < 0 && d1[0] > 0);
    CHECK_CLOSE(d1[0], p[0] - 0.95f, 1e-7, 0);
    /* eps outside [0,1) is refused */
    const float bad_eps[] = { -0.1f, 1.0f, NAN };
    for (int i = 0; i < 3; i++)
        CHECK(cxr_softmax_xent_cpu(ctx, &l, d1, p, z, &y, NULL, NULL, NULL, bad_eps[i], 1, 2) ==
              CXR_E_ARG);
}

/* ---------------------------------------------------------------- AVX-512 vs AVX2 kernels */
/* The same conv ops with the AVX-512 kernels and with the AVX2 ones give the same bits:
 * forward, fused forward (leaky ReLU at the store) and input gradient (one FMA chain per
 * element in the same order), and the weight gradient (the AVX2 kernel in both). Shapes with
 * a whole 32-pixel tile and a tail, 1-7 leftover weight rows. */
/* ---------------------------------------------------------------- direct product */
/* cxr_gemm_wcol (and its AVX-512 twin where the CPU has it) against its contract, to the bit:
 * each output is one chain of fused multiply-adds over the columns in order, from the bias (or
 * from C when there is none), then the leaky ReLU. Rows of N pixels cover every split of a row
 * into 24- and 16-pixel tiles and masked tails, M every remainder of the 4-row blocks, Kd one
 * and three chunks of the inner dimension. */
static void wcol_case(int wide, int M, int N, int Kd, int with_bias, int relu)
{
    const size_t ldc = (size_t)N + 3, lda = (size_t)Kd + 1, ldb = (size_t)N + 40;
    float *A = malloc((size_t)M * lda * 4), *B = malloc((size_t)Kd * ldb * 4);
    float *C = malloc((size_t)M * ldc * 4), *ref = malloc((size_t)M * ldc * 4);
    float *bias = malloc((size_t)M * 4);
    int *offs = malloc((size_t)Kd * sizeof *offs);
    fill(A, (size_t)M * lda), fill(B, (size_t)Kd * ldb), fill(C, (size_t)M * ldc), fill(bias, M);
    for (int j = 0; j < Kd; j++) /* shifted rows, as the padded band's columns are */
        offs[j] = (int)((size_t)(Kd - 1 - j) * ldb) + j % 3;
    memcpy(ref, C, (size_t)M * ldc * 4);
    const float alpha = 0.5f;
    for (int m = 0; m < M; m++)
        for (int p = 0; p < N; p++) {
            float acc = with_bias ? bias[m] : ref[m * ldc + p];
            for (int j = 0; j < Kd; j++) acc = fmaf(A[m * lda + j], B[offs[j] + p], acc);
            ref[m * ldc + p] = relu && !(acc > 0.0f) ? alpha * acc : acc;
        }
    (wide ? cxr_gemm_wcol512 : cxr_gemm_wcol)(C, ldc, A, lda, B, offs, M, N, Kd,
                                              with_bias ? bias : NULL, alpha, relu);
    if (memcmp(C, ref, (size_t)M * ldc * 4) != 0) { /* the padding columns too: never written */
        fprintf(stderr, "wcol%s M=%d N=%d Kd=%d bias=%d relu=%d: not the contract's bits\n",
                wide ? "512" : "", M, N, Kd, with_bias, relu);
        cxr_test_failures++;
    }
    free(A), free(B), free(C), free(ref), free(bias), free(offs);
}

/* The direct product against its definition, bit for bit: at AVX2 width (wide 0, train.ops)
 * or AVX-512 width (wide 1, train.ops_avx512, which reports skipped without AVX-512F: this
 * check was in train.ops, where such a CPU passed it without running it). */
static void test_wcol_bits(int wide)
{
    if (!cxr_gemm_wcol_available()) return; /* callers use im2col + sgemm */
    static const int ns[] = {
        1, 7, 8, 9, 16, 23, 24, 25, 32, 40, 47, 48, 56, 64, 72, 80, 128, 256
    };
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (int M = 1; M <= 9; M += (M < 5 ? 1 : 4))
            wcol_case(wide, M, ns[i], ns[i] % 2 ? 9 : 400, (int)i % 2, (int)(i / 2) % 2);
    wcol_case(wide, 32, 256, 144, 1, 1); /* conv2's forward, one image row */
    wcol_case(wide, 16, 128, 288, 0, 0); /* conv3's input gradient, two chunks */
}

static void test_wide(int N, int C, int K, int H, int W)
{
    cxr_cpu_ctx *c = ctx;
    const float alpha = 0.5f;
    size_t nx = (size_t)N * C * H * W, nw = (size_t)K * C * 9, no = (size_t)N * K * H * W;
    size_t np = (size_t)N * K * (H / 2) * (W / 2);
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(K * 4), *r = malloc(no * 4);
    float *o[2], *f[2], *p[2], *dx[2], *dw[2], *db[2];
    uint8_t *ix[2];
    fill(x, nx), fill(w, nw), fill(b, K), fill(r, no);
    c->blas_parallel = 0; /* whatever CXR_CPU_PARALLEL says: the direct kernels */
    for (int v = 0; v < 2; v++) {
        c->avx512 = v;
        o[v] = malloc(no * 4), f[v] = malloc(no * 4), p[v] = malloc(np * 4), ix[v] = malloc(np);
        dx[v] = junk(nx), dw[v] = junk(nw), db[v] = junk(K);
        CHECK_OK(cxr_conv3x3_forward_cpu(ctx, o[v], x, w, b, N, C, K, H, W));
        memset(f[v], 0, no * 4), memset(p[v], 0, np * 4), memset(ix[v], 0, np);
        if (H % 2 == 0 && W % 2 == 0) /* the fused pool wants whole windows */
            CHECK_OK(cxr_conv3x3_lrelu_pool_forward_cpu(ctx, f[v], p[v], ix[v], x, w, b, alpha, N,
                                                        C, K, H, W));
        else /* the fused forward without a pool: the map only */
            CHECK_OK(cxr_conv3x3_lrelu_pool_forward_cpu(ctx, f[v], NULL, NULL, x, w, b, alpha, N, C,
                                                        K, H, W));
        CHECK_OK(cxr_conv3x3_backward_cpu(ctx, dx[v], dw[v], db[v], r, x, w, N, C, K, H, W));
    }
    CHECK(memcmp(o[0], o[1], no * 4) == 0);
    CHECK(memcmp(f[0], f[1], no * 4) == 0);
    CHECK(memcmp(p[0], p[1], np * 4) == 0 && memcmp(ix[0], ix[1], np) == 0);
    CHECK(memcmp(dx[0], dx[1], nx * 4) == 0);
    CHECK(memcmp(db[0], db[1], K * 4) == 0);
    CHECK(memcmp(dw[0], dw[1], nw * 4) == 0);
    c->avx512 = 1;
    for (int v = 0; v < 2; v++)
        free(o[v]), free(f[v]), free(p[v]), free(ix[v]), free(dx[v]), free(dw[v]), free(db[v]);
    free(x), free(w), free(b), free(r);
}

/* The dense forward at AVX-512 width (pairs of images in a zmm) against AVX2 width, bit for bit:
 * odd batches (a padded pair), inner sizes with a partial chunk of 8 and several blocks of 256,
 * output counts that leave 1-3 rows of W. With inf, every row of W but the first starts with
 * an infinity: a partial chunk read past its row's end (the padded images' zeros times it) makes
 * the row before NaN. */
static void test_wide_dense(int N, int IN, int OUT, int inf)
{
    cxr_cpu_ctx *c = ctx;
    size_t nx = (size_t)N * IN, nw = (size_t)OUT * IN, no = (size_t)N * OUT;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(OUT * 4), *o[2];
    fill(x, nx), fill(w, nw), fill(b, OUT);
    for (int r = 1; inf && r < OUT; r++) w[(size_t)r * IN] = INFINITY;
    c->blas_parallel = 0;
    for (int v = 0; v < 2; v++) {
        c->avx512 = v;
        o[v] = junk(no);
        CHECK_OK(cxr_dense_forward_cpu(ctx, o[v], x, w, b, N, IN, OUT));
    }
    if (memcmp(o[0], o[1], no * 4) != 0) {
        fprintf(stderr, "dense forward N=%d IN=%d OUT=%d: AVX-512 and AVX2 differ\n", N, IN, OUT);
        cxr_test_failures++;
    }
    c->avx512 = 1;
    free(x), free(w), free(b), free(o[0]), free(o[1]);
}

/* The wide dense forward packs the images in pairs, an odd batch's last pair padded with a row
 * of zeros: N + 1 rows of a block of up to 256 inputs (dense.c KD_FWD) in each thread's
 * scratch. On a new backend, whose scratch no earlier op has grown, with N = 7 and one whole
 * block, the scratch the op reserved holds them (the mutation round's M95, scratch for N rows,
 * wrote 1 KiB past it unseen: an AddressSanitizer build, tests/sanitize.sh, would report it only
 * where no larger op ran first), and the result is the AVX2 width's, bit for bit. */
static void test_wide_dense_fresh(void)
{
    enum { N = 7, IN = 256, OUT = 8 };
    cxr_backend *fresh = NULL;
    CHECK_OK(cxr_backend_cpu_create(&fresh, 2));
    if (!fresh) return;
    cxr_cpu_ctx *c = fresh->ctx;
    c->dnnl_ops = 0, c->blas_parallel = 0;
    float *x = malloc((size_t)N * IN * 4), *w = malloc((size_t)OUT * IN * 4), *b = malloc(OUT * 4);
    float *o[2] = { junk((size_t)N * OUT), junk((size_t)N * OUT) };
    fill(x, (size_t)N * IN), fill(w, (size_t)OUT * IN), fill(b, OUT);
    c->avx512 = 1;
    CHECK_OK(cxr_dense_forward_cpu(c, o[1], x, w, b, N, IN, OUT));
    for (int t = 0; t < cxr_cpu_threads(c) && t < 2; t++)
        CHECK(c->scratch_bytes[t] >= (size_t)(N + 1) * IN * sizeof(float));
    c->avx512 = 0;
    CHECK_OK(cxr_dense_forward_cpu(c, o[0], x, w, b, N, IN, OUT));
    CHECK(memcmp(o[0], o[1], (size_t)N * OUT * 4) == 0);
    free(x), free(w), free(b), free(o[0]), free(o[1]);
    cxr_backend_destroy(fresh);
}

/* The kernels themselves, one K block: cxr_nt512_pack + cxr_gemm_nt512 against cxr_gemm_nt from
 * the same C, bit for bit (test_wide_dense above goes through the backend's choice). */
static void test_nt512_block(int M, int N, int kc)
{
    const size_t lda = (size_t)kc + 3, ldb = (size_t)kc + 5, ldc = (size_t)N + 2;
    float *A = malloc((size_t)M * lda * 4), *B = malloc((size_t)N * ldb * 4);
    float *C[2] = { malloc((size_t)M * ldc * 4), malloc((size_t)M * ldc * 4) };
    float *pk = malloc((size_t)(M + 1) * (size_t)((kc + 7) / 8 * 8) * 4);
    fill(A, (size_t)M * lda), fill(B, (size_t)N * ldb), fill(C[0], (size_t)M * ldc);
    memcpy(C[1], C[0], (size_t)M * ldc * 4);
    cxr_gemm_nt(C[0], ldc, A, lda, B, ldb, M, N, kc);
    cxr_nt512_pack(pk, A, lda, M, kc);
    cxr_gemm_nt512(C[1], ldc, pk, B, ldb, M, N, kc);
    if (memcmp(C[0], C[1], (size_t)M * ldc * 4) != 0) {
        fprintf(stderr, "gemm_nt512 M=%d N=%d kc=%d: not cxr_gemm_nt's bits\n", M, N, kc);
        cxr_test_failures++;
    }
    free(A), free(B), free(C[0]), free(C[1]), free(pk);
}

int main(int argc, char **argv)
{
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 2));
    ctx = be->ctx;
    /* our kernels here, whatever the CPU's default (oneDNN's ops: train.dnnl) */
    ((cxr_cpu_ctx *)ctx)->dnnl_ops = 0;
    if (argc > 1 && !strcmp(argv[1], "avx512")) {
        if (!cxr_conv_avx512_available() || !cxr_gemm_wcol_available()) {
            printf("skipped: this CPU has no AVX-512F\n");
            cxr_backend_destroy(be);
            return 77;
        }
        test_wide(2, 3, 10, 6, 38);  /* a 32-pixel tile + 6, 8 + 2 rows; dW 2 x 16 + 6 */
        test_wide(1, 2, 9, 5, 37);   /* tail of 5, unfused only (odd sizes) */
        test_wide(3, 1, 16, 8, 64);  /* conv1-like, odd batch over 2 threads */
        test_wide(1, 16, 7, 4, 20);  /* only a masked tile, 7 rows; din: 16 rows */
        test_wide(2, 5, 13, 10, 33); /* tails of 1 pixel */
        test_wide(1, 24, 23, 4, 40); /* inner dimensions 216 and 207: two chunks of <= 192 */
        test_wide(2, 3, 12, 4, 48);  /* 8 + 4 rows, a tail of exactly 16 pixels */
        test_wide(1, 6, 14, 6, 30);  /* 8 + 6 rows, only a masked tile */
        test_wide(1, 16, 16, 4, 34); /* Winograd forward and din: products at both widths */
        test_wcol_bits(1);
        test_wide_dense(7, 523, 13, 0); /* 3 pairs + a padded one; blocks 256, 256, 11 */
        test_wide_dense(1, 8, 1, 0);
        test_wide_dense(64, 600, 6, 0);  /* 32 pairs: 8 blocks of 4 pairs; 4 + 2 rows of W */
        test_wide_dense(9, 5, 3, 1);     /* only a partial chunk */
        test_wide_dense(10, 1024, 2, 0); /* dense3's shape */
        test_wide_dense(3, 130, 7, 1);   /* 2 pairs (one padded), chunks of 8 and a tail of 2 */
        test_wide_dense_fresh();
        for (int M = 1; M <= 11; M += 2)
            for (int N = 1; N <= 9; N += 4)
                for (int kc = 1; kc <= 256; kc += kc < 17 ? 3 : 79) test_nt512_block(M, N, kc);
        test_nt512_block(10, 8, 256);
        cxr_backend_destroy(be);
        TEST_END();
    }
    test_wcol_bits(0);
    test_conv(2, 3, 4, 5, 6);
    test_conv(3, 1, 2, 4, 4); /* conv1 shape (C = 1), odd batch over 2 threads */
    test_conv(1, 2, 3, 3, 1); /* width 1 */
    test_conv(1, 16, 3, 2, 32); /* forward by Winograd: finite differences through it */
    test_conv(1, 4, 16, 2, 32); /* input gradient by Winograd, against finite differences */
    /* strips of 1 and 2 rows (the study's sizes use strips of a few rows) */
    ((cxr_cpu_ctx *)ctx)->strip_floats = 3 * 9 * 6;
    test_conv(2, 3, 4, 5, 6);
    ((cxr_cpu_ctx *)ctx)->strip_floats = 2 * 2 * 9 * 7;
    test_conv(2, 2, 3, 5, 7);
    ((cxr_cpu_ctx *)ctx)->strip_floats = 0;
    test_pool();
    test_global_avgpool();
    test_avgpool();
    test_fused(2, 3, 4, 6, 10, 3 * 9 * 10 * 3);  /* separate strips of 3 rows, fused of 2 */
    test_fused(3, 1, 16, 8, 20, 0);              /* conv1-like, odd batch, whole-image strips */
    test_fused(1, 5, 3, 12, 18, 5 * 9 * 18 * 5); /* Wo = 9: SSE and scalar tails */
    /* the forward by Winograd (conv2-conv4's path): 8-tile vectors and tails of 1 and 4 tiles,
     * whole-image strips and strips of 2 rows; the fused op still equals the separate ones */
    test_winograd(2, 16, 6, 4, 34, 0);
    test_winograd(1, 20, 9, 6, 40, 20 * 9 * 40 * 2);
    test_winograd(1, 32, 4, 2, 64, 0);
    test_winograd(1, 4, 16, 4, 34, 0);                /* the input gradient only */
    test_winograd(1, 16, 20, 6, 40, 20 * 9 * 40 * 2); /* both, din in strips of 2 rows */
    test_winograd(1, 16, 16, 4, 30, 0);               /* rows of 30: neither */
    test_winograd(2, 16, 16, 6, 32, 16 * 9 * 32 * 4); /* strips of 4 rows and a last of 2 */
    test_winograd(2, 16, 8, 70, 32, 0);               /* 70 rows, 2 images */
    test_fused(2, 16, 6, 8, 40, 0);
    test_fused(1, 16, 5, 6, 34, 16 * 9 * 34 * 2);
    test_dense();
    test_dense_large();
    test_zero_split();
    test_elementwise();
    test_dropout_stats();
    test_dropout_tail();
    test_xent();
    cxr_backend_destroy(be);
    TEST_END();
}
