/* pool.c: 2x2 max pooling, stride 2, CPU reference. The forward records the argmax of each
 * window in one byte (0..3, row-major in the window, ties to the lowest), so the backward
 * needs neither the input nor the output, and dropout may later overwrite the output.
 * Also the global average pool of the `gap` head (cxr_ops.h). */
#include <string.h>

#include "cpu_internal.h"
#include "cxr_ops.h"

cxr_status cxr_maxpool2_forward_cpu(void *ctx, float *out /* (N,C,H/2,W/2) */,
                                    uint8_t *idx /* (N,C,H/2,W/2) */,
                                    const float *in /* (N,C,H,W) */, int N, int C, int H, int W)
{
    if ((H | W) & 1) return cxr_set_error(CXR_E_ARG, "maxpool2_forward: odd size %dx%d", H, W);
    const int Ho = H / 2, Wo = W / 2;
    const long planes = (long)N * C;
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *x = in + (size_t)p * H * W;
        float *y = out + (size_t)p * Ho * Wo;
        uint8_t *ix = idx + (size_t)p * Ho * Wo;
        for (int i = 0; i < Ho; i++) {
            const float *r0 = x + (size_t)(2 * i) * W;
            cxr_pool_row(y + (size_t)i * Wo, ix + (size_t)i * Wo, r0, r0 + W, Wo);
        }
    }
    return CXR_OK;
}

cxr_status cxr_maxpool2_backward_cpu(void *ctx, float *din /* (N,C,H,W) */,
                                     const float *dout /* (N,C,H/2,W/2) */,
                                     const uint8_t *idx /* (N,C,H/2,W/2) */, int N, int C, int H,
                                     int W)
{
    if ((H | W) & 1) return cxr_set_error(CXR_E_ARG, "maxpool2_backward: odd size %dx%d", H, W);
    const int Ho = H / 2, Wo = W / 2;
    const long planes = (long)N * C;
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long p = 0; p < planes; p++) {
        float *dx = din + (size_t)p * H * W;
        const float *dy = dout + (size_t)p * Ho * Wo;
        const uint8_t *ix = idx + (size_t)p * Ho * Wo;
        /* din is written (cxr_ops.h): each plane zeroed, then the gradients routed to the argmax */
        memset(dx, 0, sizeof(float) * (size_t)H * W);
        for (int i = 0; i < Ho; i++) {
            for (int j = 0; j < Wo; j++) {
                const int a = ix[(size_t)i * Wo + j];
                dx[(size_t)(2 * i + (a >> 1)) * W + 2 * j + (a & 1)] = dy[(size_t)i * Wo + j];
            }
        }
    }
    return CXR_OK;
}

cxr_status cxr_maxpool2_lrelu_backward_cpu(void *ctx, float *din /* (N,C,H,W) */,
                                           const float *dout /* (N,C,H/2,W/2) */,
                                           const uint8_t *idx /* (N,C,H/2,W/2) */,
                                           const float *yp /* (N,C,H/2,W/2) */, float alpha, int N,
                                           int C, int H, int W)
{
    if ((H | W) & 1)
        return cxr_set_error(CXR_E_ARG, "maxpool2_lrelu_backward: odd size %dx%d", H, W);
    const int Ho = H / 2, Wo = W / 2;
    const long planes = (long)N * C;
    const int nt = cxr_cpu_threads(ctx);
    /* Every element of din is written once (the window's argmax gets the gradient, the other
     * three 0), so din needs no zeroing and is streamed exactly once. The value equals the
     * separate ops': 0 + g scattered, then scaled by the slope at the argmax, whose sign the
     * pooled output carries. */
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long p = 0; p < planes; p++) {
        float *dx = din + (size_t)p * H * W;
        const float *dy = dout + (size_t)p * Ho * Wo, *yy = yp + (size_t)p * Ho * Wo;
        const uint8_t *ix = idx + (size_t)p * Ho * Wo;
        for (int i = 0; i < Ho; i++) {
            float *d0 = dx + (size_t)(2 * i) * W, *d1 = d0 + W;
            const float *g = dy + (size_t)i * Wo, *y = yy + (size_t)i * Wo;
            const uint8_t *a = ix + (size_t)i * Wo;
            int j = 0;
#ifdef __SSE4_1__
            const __m128 zero = _mm_setzero_ps(), al = _mm_set1_ps(alpha);
            for (; j + 4 <= Wo; j += 4) {
                int ab;
                memcpy(&ab, a + j, 4);
                const __m128i av = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(ab));
                const __m128 gv = _mm_loadu_ps(g + j);
                const __m128 s =
                    _mm_blendv_ps(_mm_mul_ps(al, gv), gv, _mm_cmpgt_ps(_mm_loadu_ps(y + j), zero));
                const __m128 m0 = _mm_castsi128_ps(_mm_cmpeq_epi32(av, _mm_set1_epi32(0)));
                const __m128 m1 = _mm_castsi128_ps(_mm_cmpeq_epi32(av, _mm_set1_epi32(1)));
                const __m128 m2 = _mm_castsi128_ps(_mm_cmpeq_epi32(av, _mm_set1_epi32(2)));
                const __m128 m3 = _mm_castsi128_ps(_mm_cmpeq_epi32(av, _mm_set1_epi32(3)));
                const __m128 v0 = _mm_and_ps(s, m0), v1 = _mm_and_ps(s, m1);
                const __m128 v2 = _mm_and_ps(s, m2), v3 = _mm_and_ps(s, m3);
                _mm_storeu_ps(d0 + 2 * j, _mm_unpacklo_ps(v0, v1));
                _mm_storeu_ps(d0 + 2 * j + 4, _mm_unpackhi_ps(v0, v1));
                _mm_storeu_ps(d1 + 2 * j, _mm_unpacklo_ps(v2, v3));
                _mm_storeu_ps(d1 + 2 * j + 4, _mm_unpackhi_ps(v2, v3));
            }
#endif
            for (; j < Wo; j++) {
                const float s = cxr_select_f(y[j] > 0.0f, g[j], alpha * g[j]);
                d0[2 * j] = a[j] == 0 ? s : 0.0f;
                d0[2 * j + 1] = a[j] == 1 ? s : 0.0f;
                d1[2 * j] = a[j] == 2 ? s : 0.0f;
                d1[2 * j + 1] = a[j] == 3 ? s : 0.0f;
            }
        }
    }
    return CXR_OK;
}

cxr_status cxr_global_avgpool_forward_cpu(void *ctx, float *out /* (N,C) */,
                                          const float *in /* (N,C,HW) */, int N, int C, int HW)
{
    if (HW < 1) return cxr_set_error(CXR_E_ARG, "global_avgpool_forward: %d elements", HW);
    const long planes = (long)N * C;
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *x = in + (size_t)p * HW;
        double s = 0.0;
        for (int j = 0; j < HW; j++) s += x[j];
        out[p] = (float)(s / HW);
    }
    return CXR_OK;
}

cxr_status cxr_global_avgpool_backward_cpu(void *ctx, float *din /* (N,C,HW) */,
                                           const float *dout /* (N,C) */, int N, int C, int HW)
{
    if (HW < 1) return cxr_set_error(CXR_E_ARG, "global_avgpool_backward: %d elements", HW);
    const long planes = (long)N * C;
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long p = 0; p < planes; p++) {
        const float g = dout[p] / (float)HW;
        float *dx = din + (size_t)p * HW;
        for (int j = 0; j < HW; j++) dx[j] = g;
    }
    return CXR_OK;
}

cxr_status cxr_avgpool_forward_cpu(void *ctx, float *out /* (N,C,H/k,W/k) */,
                                   const float *in /* (N,C,H,W) */, int N, int C, int H, int W,
                                   int k)
{
    if (k < 1 || H % k || W % k)
        return cxr_set_error(CXR_E_ARG, "avgpool_forward: %dx%d is not a multiple of %d", H, W, k);
    const int Ho = H / k, Wo = W / k;
    const long planes = (long)N * C;
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *x = in + (size_t)p * H * W;
        float *y = out + (size_t)p * Ho * Wo;
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                double s = 0.0;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) s += x[(size_t)(i * k + a) * W + j * k + b];
                y[(size_t)i * Wo + j] = (float)(s / (k * k));
            }
    }
    return CXR_OK;
}
