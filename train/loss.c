/* loss.c: row softmax and class-weighted softmax cross-entropy with label smoothing and mixup
 * (forward + backward), CPU reference. Sums run in double over the batch, in image order
 * (deterministic). */
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

/* A row's max (returned), log sum exp(z - max) and sum (z - max), in double. */
static float row_sums(const float *z, int C, double *lse, double *zs)
{
    float mx = z[0];
    for (int c = 1; c < C; c++)
        if (z[c] > mx) mx = z[c];
    double se = 0.0, s = 0.0;
    for (int c = 0; c < C; c++) {
        se += exp((double)z[c] - mx);
        s += (double)z[c] - mx;
    }
    *lse = log(se);
    *zs = s;
    return mx;
}

/* -sum_c q[c] log p[c] for the smoothed target of label y: log sum exp(z - max) - sum_c q[c]
 * (z[c] - max) (sum q = 1), computed without the rounded p; eps = 0 leaves out the sum's term
 * (0 * (-inf) from an overflowed logit is NaN). lse = log sum exp(z - mx), zs = sum (z - mx). */
static double xent_of(const float *z, int y, float mx, double lse, double zs, cxr_smoothing q)
{
    double zq = (double)z[y] - mx;
    if (q.l_all != 0.0) zq = q.l_on * zq + q.l_all * zs;
    return lse - zq;
}

/* The mixup loss of cxr_ops.h (mix != NULL). */
static cxr_status xent_mixed(float *loss, float *dlogits, float *probs, const float *logits,
                             const int32_t *labels, const int32_t *labels2, const float *mix,
                             const float *cw, float eps, int N, int C)
{
    const cxr_smoothing q = cxr_smoothing_of(eps, C);
    double wsum = 0.0, lsum = 0.0;
    if (!labels2) return cxr_set_error(CXR_E_ARG, "softmax_xent: mix without labels2");
    for (int n = 0; n < N; n++) {
        const int y = labels[n], y2 = labels2[n];
        if (y < 0 || y >= C || y2 < 0 || y2 >= C)
            return cxr_set_error(CXR_E_MISMATCH,
                                 "softmax_xent: labels %d, %d of image %d not in [0,%d)", y, y2, n,
                                 C);
        if (!(mix[n] >= 0.0f && mix[n] <= 1.0f))
            return cxr_set_error(CXR_E_ARG, "softmax_xent: mix %g of image %d not in [0,1]", mix[n],
                                 n);
        double a, b;
        cxr_mix_weights(mix[n], y, y2, cw, &a, &b);
        wsum += a + b;
    }
    if (!(wsum > 0.0))
        return cxr_set_error(CXR_E_ARG, "softmax_xent: class weights of the batch sum to %g", wsum);
    for (int n = 0; n < N; n++) {
        const float *z = logits + (size_t)n * C;
        float *p = probs + (size_t)n * C;
        const int y = labels[n], y2 = labels2[n];
        double a, b;
        cxr_mix_weights(mix[n], y, y2, cw, &a, &b);
        softmax_row(p, z, C);
        double lse, zs;
        const float mx = row_sums(z, C, &lse, &zs);
        /* a term of weight 0 is left out: its CE may be inf from an overflowed logit */
        double t = 0.0;
        if (a != 0.0) t = a * xent_of(z, y, mx, lse, zs, q);
        if (b != 0.0) t += b * xent_of(z, y2, mx, lse, zs, q);
        lsum += t;
        const double ga = a / wsum, gb = b / wsum;
        float *d = dlogits + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            const double pc = p[c];
            const double u = ga * (pc - (c == y ? q.q_on : q.q_off));
            const double v = gb * (pc - (c == y2 ? q.q_on : q.q_off));
            d[c] = (float)(u + v);
        }
    }
    *loss = (float)(lsum / wsum);
    return CXR_OK;
}

cxr_status cxr_softmax_xent_cpu(void *ctx, float *loss /* (1) */, float *dlogits /* (N,C) */,
                                float *probs /* (N,C) */, const float *logits /* (N,C) */,
                                const int32_t *labels /* (N) */,
                                const int32_t *labels2 /* (N) or NULL */,
                                const float *mix /* (N) or NULL */,
                                const float *class_weights /* (C) or NULL */, float eps, int N,
                                int C)
{
    (void)ctx;
    if (!(eps >= 0.0f && eps < 1.0f))
        return cxr_set_error(CXR_E_ARG, "softmax_xent: label smoothing %g not in [0,1)", eps);
    if (mix)
        return xent_mixed(loss, dlogits, probs, logits, labels, labels2, mix, class_weights, eps, N,
                          C);
    const cxr_smoothing q = cxr_smoothing_of(eps, C); /* cxr_ops.h */
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
        double lse, zs;
        const float mx = row_sums(z, C, &lse, &zs);
        lsum += wy * xent_of(z, y, mx, lse, zs, q);
        const float g = (float)(wy / wsum);
        float *d = dlogits + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] = g * (p[c] - (c == y ? q.q_on : q.q_off));
    }
    *loss = (float)(lsum / wsum);
    return CXR_OK;
}
