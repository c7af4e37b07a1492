/* pool.c: 2x2 max pooling, stride 2, CPU reference. The forward records the argmax of each
 * window in one byte (0..3, row-major in the window, ties to the lowest), so the backward
 * needs neither the input nor the output, and dropout may later overwrite the output. */
#include "cpu_internal.h"
#include "ops.h"

cxr_status cxr_maxpool2_forward_cpu(void *ctx, float *out /* (N,C,H/2,W/2) */,
                                    uint8_t *idx /* (N,C,H/2,W/2) */,
                                    const float *in /* (N,C,H,W) */, int N, int C, int H, int W) {
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
            const float *r0 = x + (size_t)(2 * i) * W, *r1 = r0 + W;
            for (int j = 0; j < Wo; j++) {
                float m = r0[2 * j];
                uint8_t a = 0;
                if (r0[2 * j + 1] > m) m = r0[2 * j + 1], a = 1;
                if (r1[2 * j] > m) m = r1[2 * j], a = 2;
                if (r1[2 * j + 1] > m) m = r1[2 * j + 1], a = 3;
                y[(size_t)i * Wo + j] = m;
                ix[(size_t)i * Wo + j] = a;
            }
        }
    }
    return CXR_OK;
}

cxr_status cxr_maxpool2_backward_cpu(void *ctx, float *din /* (N,C,H,W) */,
                                     const float *dout /* (N,C,H/2,W/2) */,
                                     const uint8_t *idx /* (N,C,H/2,W/2) */, int N, int C, int H,
                                     int W) {
    if ((H | W) & 1) return cxr_set_error(CXR_E_ARG, "maxpool2_backward: odd size %dx%d", H, W);
    const int Ho = H / 2, Wo = W / 2;
    const long planes = (long)N * C;
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long p = 0; p < planes; p++) {
        float *dx = din + (size_t)p * H * W;
        const float *dy = dout + (size_t)p * Ho * Wo;
        const uint8_t *ix = idx + (size_t)p * Ho * Wo;
        for (int i = 0; i < Ho; i++) {
            for (int j = 0; j < Wo; j++) {
                const int a = ix[(size_t)i * Wo + j];
                dx[(size_t)(2 * i + (a >> 1)) * W + 2 * j + (a & 1)] += dy[(size_t)i * Wo + j];
            }
        }
    }
    return CXR_OK;
}
