/* loss.c: row softmax and class-weighted softmax cross-entropy with label smoothing (forward +
 * backward), CPU reference. Sums run in double over the batch, in image order (deterministic). */
#include <math.h>

#include "cpu_internal.h"

static void softmax_row(float *p /* (C) */, const float *z /* (C) */, int C)
{
    float mx = z[0];
    for (int c = 1; c < C; c++)
        if (z[c] > mx) mx = z[c];
    double s = 0.0;
    for (int c = 0; c < C; c++) {
        p[c] = expf(z[c] - mx);
        s += p[c];
    }
    const float inv = (float)(1.0 / s);
    for (int c = 0; c < C; c++) p[c] *= inv;
}

cxr_status cxr_softmax_forward_cpu(void *ctx, float *probs /* (N,C) */,
                                   const float *logits /* (N,C) */, int N, int C)
{
    (void)ctx;
    for (int n = 0; n < N; n++) softmax_row(probs + (size_t)n * C, logits + (size_t)n * C, C);
    return CXR_OK;
}

cxr_status cxr_softmax_xent_cpu(void *ctx, float *loss /* (1) */, float *dlogits /* (N,C) */,
                                float *probs /* (N,C) */, const float *logits /* (N,C) */,
                                const int32_t *labels /* (N) */,
                                const float *class_weights /* (C) or NULL */, float eps, int N,
                                int C)
{
    (void)ctx;
    if (!(eps >= 0.0f && eps < 1.0f))
        return cxr_set_error(CXR_E_ARG, "softmax_xent: label smoothing %g not in [0,1)", eps);
    const cxr_smoothing q = cxr_smoothing_of(eps, C); /* ops.h */
    double wsum = 0.0, lsum = 0.0;
    for (int n = 0; n < N; n++) {
        const int y = labels[n];
        if (y < 0 || y >= C)
            return cxr_set_error(CXR_E_MISMATCH, "softmax_xent: label %d of image %d not in [0,%d)",
                                 y, n, C);
        wsum += class_weights ? class_weights[y] : 1.0;
    }
    if (!(wsum > 0.0))
        return cxr_set_error(CXR_E_ARG, "softmax_xent: class weights of the batch sum to %g", wsum);
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * C;
        float *p = probs + (size_t)n * C;
        const int y = labels[n];
        const double wy = class_weights ? class_weights[y] : 1.0;
        softmax_row(p, z, C);
        /* -sum_c q[c] log p[c] = log sum exp(z - max) - sum_c q[c] (z[c] - max) (sum q = 1),
         * computed without the rounded p */
        float mx = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c];
        double se = 0.0, zs = 0.0;
        for (int c = 0; c < C; c++) {
            se += exp((double)z[c] - mx);
            zs += (double)z[c] - mx;
        }
        /* eps = 0 leaves out the sum's term: 0 * (-inf) from an overflowed logit is NaN */
        double zq = (double)z[y] - mx;
        if (q.l_all != 0.0) zq = q.l_on * zq + q.l_all * zs;
        lsum += wy * (log(se) - zq);
        const float g = (float)(wy / wsum);
        float *d = dlogits + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] = g * (p[c] - (c == y ? q.q_on : q.q_off));
    }
    *loss = (float)(lsum / wsum);
    return CXR_OK;
}
