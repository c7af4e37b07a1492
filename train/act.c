/* act.c: elementwise ops, CPU reference: leaky ReLU (forward, and backward in place from the
 * forward output), inverted dropout with counter-based masks (rng.h), applied in place to
 * activations in the forward and to their gradients in the backward, and the input scale. */
#include <string.h>

#include "cpu_internal.h"
#include "cxr_ops.h"
#include "rng.h"

#define select_f cxr_select_f /* cpu_internal.h */

cxr_status cxr_leaky_relu_forward_cpu(void *ctx, float *out /* (n) */, const float *in /* (n) */,
                                      float alpha, size_t n)
{
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float v = in[i];
        out[i] = select_f(v > 0.0f, v, alpha * v);
    }
    return CXR_OK;
}

cxr_status cxr_scale_shift_cpu(void *ctx, float *out /* (n) */, const float *in /* (n) */,
                               float scale, float shift, size_t n)
{
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float v = in[i] * scale; /* rounded here: no fused multiply-add (cxr_ops.h) */
        out[i] = v + shift;
    }
    return CXR_OK;
}

cxr_status cxr_leaky_relu_backward_cpu(void *ctx, float *d /* (n) */, const float *y /* (n) */,
                                       float alpha, size_t n)
{
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float g = d[i];
        d[i] = select_f(y[i] > 0.0f, g, alpha * g);
    }
    return CXR_OK;
}

cxr_status cxr_dropout_apply_cpu(void *ctx, float *x /* (n) */, uint64_t key, float keep_prob,
                                 size_t n)
{
    if (!(keep_prob > 0.0f && keep_prob <= 1.0f))
        return cxr_set_error(CXR_E_ARG, "dropout: keep_prob %g not in (0,1]", keep_prob);
    if (keep_prob == 1.0f) return CXR_OK;
    const uint32_t thr = cxr_dropout_threshold(keep_prob);
    const float scale = 1.0f / keep_prob;
    const size_t words = (n + 3) / 4;
    const int nt = cxr_cpu_threads(ctx);
    /* one 64-bit word gives the four 16-bit lanes of elements 4j..4j+3 */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (size_t j = 0; j < words; j++) {
        const uint64_t wv = cxr_rng_word(key, j);
        const size_t i0 = 4 * j;
        const int m = n - i0 < 4 ? (int)(n - i0) : 4;
        for (int l = 0; l < m; l++) {
            const uint32_t u = (uint32_t)(wv >> (16 * l)) & 0xFFFFu;
            x[i0 + l] = select_f(u < thr, x[i0 + l] * scale, 0.0f);
        }
    }
    return CXR_OK;
}
