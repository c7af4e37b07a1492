/* gpu_test.h: helpers of the GPU parity tests: open the CUDA backend or skip (exit 77 with the
 * reason), random data, host<->device copies through the backend table, and validate() in the
 * style of llm.c's validate_result: |gpu - ref| <= atol + rtol*|ref| per element, printing the
 * first mismatches and counting failures. */
#ifndef CXR_GPU_TEST_H
#define CXR_GPU_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_backend_cuda.h"
#include "cxr_test.h"
#include "cxr_ops.h"

/* Open GPU 0, or exit 77 ("no GPU: <reason>, skipped") when there is no usable device
 * (CXR_E_NODEVICE) or no CUDA in the build (CXR_E_UNSUPPORTED). Any other error (a GPU is there
 * but cuDNN/cuBLAS cannot start, say) fails the test: a broken install must not read "skipped". */
static inline cxr_backend *gpu_or_skip(const char *test)
{
    cxr_backend *be = NULL;
    cxr_status st = cxr_backend_cuda_create(&be, 0);
    if (st == CXR_E_NODEVICE || st == CXR_E_UNSUPPORTED) {
        printf("%s: no GPU: %s, skipped\n", test, cxr_last_error());
        exit(CXR_SKIP_CODE);
    }
    if (st != CXR_OK) {
        fprintf(stderr, "%s: a GPU answers but the CUDA backend cannot start: %s\n", test,
                cxr_last_error());
        exit(1);
    }
    return be;
}

/* xorshift64* uniform in [-1,1) */
static inline float gpu_test_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (float)((*s * 2685821657736338717ull) >> 40) / 8388608.0f - 1.0f;
}

static inline float *rand_host(size_t n, uint64_t seed, float scale)
{
    float *p = malloc(n * sizeof *p + 4);
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 7;
    REQUIRE(p != NULL);
    for (size_t i = 0; i < n; i++) p[i] = scale * gpu_test_rand(&s);
    return p;
}

/* device copy of host data (bytes) */
static inline void *to_dev(cxr_backend *g, const void *h, size_t bytes)
{
    void *d = NULL;
    CHECK_OK(g->alloc(g->ctx, &d, bytes));
    CHECK_OK(g->upload(g->ctx, d, h, bytes));
    return d;
}

/* device buffer of `bytes` filled with 0x7F bytes (floats 3.4e38, index bytes 127): outputs
 * that an op must OVERWRITE start from this, so an op that adds into them, or leaves part of
 * them unwritten, fails the comparison (a zeroed buffer would hide both). */
static inline void *dev_junk(cxr_backend *g, size_t bytes)
{
    unsigned char *h = malloc(bytes + 4);
    REQUIRE(h != NULL);
    memset(h, 0x7F, bytes);
    void *d = to_dev(g, h, bytes);
    free(h);
    return d;
}

static inline float *from_dev(cxr_backend *g, const void *d, size_t n)
{
    float *h = malloc(n * sizeof *h + 4);
    REQUIRE(h != NULL);
    CHECK_OK(g->download(g->ctx, h, d, n * sizeof *h));
    return h;
}

static inline float amax(const float *x, size_t n)
{
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fabsf(x[i]) > m ? fabsf(x[i]) : m;
    return m;
}

/* The worst diff/tolerance of the last validate() call. */
static double validate_worst;

/* Count elements outside atol + rtol*|ref|; print the first 5 and a summary. Returns 1 if ok. */
static inline int validate(const char *what, const float *gpu, const float *ref, size_t n,
                           double atol, double rtol)
{
    size_t bad = 0;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)gpu[i] - (double)ref[i]);
        const double tol = atol + rtol * fabs((double)ref[i]);
        if (!(d <= tol)) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: gpu %.9g ref %.9g diff %.3g tol %.3g\n", what, i,
                        (double)gpu[i], (double)ref[i], d, tol);
            bad++;
        }
        if (d / (tol > 0 ? tol : 1e-30) > worst) worst = d / (tol > 0 ? tol : 1e-30);
    }
    validate_worst = worst;
    printf("%-34s n=%-9zu atol=%.2e rtol=%.1e worst diff/tol=%.3f %s\n", what, n, atol, rtol, worst,
           bad ? "MISMATCH" : "ok");
    if (bad) {
        fprintf(stderr, "%s: %zu of %zu elements out of tolerance\n", what, bad, n);
        cxr_test_failures++;
    }
    return bad == 0;
}

/* Norm-wise comparison: ||gpu - ref||_2 <= rtol ||ref||_2 (for results whose elements may
 * legitimately move by O(1) under input rounding, e.g. a gradient routed through a max-pool
 * argmax that flips between two near-equal values). Prints the relative error; counts a
 * failure. Returns 1 if ok; validate_worst = relative error / rtol. */
static inline int validate_norm(const char *what, const float *gpu, const float *ref, size_t n,
                                double rtol)
{
    double d2 = 0.0, r2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)gpu[i] - (double)ref[i];
        d2 += d * d;
        r2 += (double)ref[i] * (double)ref[i];
    }
    const double rel = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
    const int ok = rel <= rtol; /* NaN fails */
    validate_worst = rtol > 0 ? rel / rtol : (rel > 0 ? INFINITY : 0.0);
    printf("%-34s n=%-9zu |d|/|ref|=%.2e   rtol=%.1e worst diff/tol=%.3f %s\n", what, n, rel, rtol,
           validate_worst, ok ? "ok" : "MISMATCH");
    if (!ok) {
        fprintf(stderr, "%s: relative L2 error %.3g over %.3g\n", what, rel, rtol);
        cxr_test_failures++;
    }
    return ok;
}

/* Tolerance of a reduction of length L in a precision (specs/gpu.md "Tolerances"):
 *   atol = (4 eps_in + 4 eps32 sqrt(L)) * amax(ref),  rtol = 1e-5 | 4 eps_in
 * eps_in: rounding of the inputs (0 fp32, 2^-11 tf32, 2^-8 bf16); eps32 = 2^-24 (unit
 * roundoff) for the accumulation in another order. */
static inline void reduction_tol(cxr_precision p, size_t L, float ref_amax, double *atol,
                                 double *rtol)
{
    const double eps_in = p == CXR_PRECISION_FP32   ? 0.0
                          : p == CXR_PRECISION_TF32 ? 1.0 / 2048.0
                                                    : 1.0 / 256.0;
    const double u32 = 1.0 / 16777216.0;
    *atol = (4.0 * eps_in + 4.0 * u32 * sqrt((double)L)) * ref_amax;
    *rtol = p == CXR_PRECISION_FP32 ? 1e-5 : 4.0 * eps_in;
}
#endif
