/* loss.cu: row softmax and the class-weighted softmax cross-entropy with label smoothing and
 * mixup (forward and gradient in one kernel) on the GPU (twin of loss.c). Rows are short (C
 * classes), so a thread takes a row and repeats the CPU's arithmetic: float max and exp, double
 * sums, the loss from log-sum-exp in double; the batch sums run in image order on one thread
 * (deterministic). The model checks the labels on the host before calling; a label out of range
 * here makes the loss NaN. */
#include <math.h>

#include "cuda_ops.cuh"

__device__ static void softmax_row(float *p, const float *z, int C)
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
    for (int c = 0; c < C; c++) p[c] = __fmul_rn(p[c], inv);
}

__global__ void softmax_kernel(float *probs, const float *logits, int N, int C)
{
    for (int n = blockIdx.x * blockDim.x + threadIdx.x; n < N; n += gridDim.x * blockDim.x)
        softmax_row(probs + (size_t)n * C, logits + (size_t)n * C, C);
}

/* Mixup: image n's weights of its label and of its partner's, as cxr_ops.h cxr_mix_weights. */
__device__ static void mix_weights(const int32_t *labels, const int32_t *labels2, const float *mix,
                                   const float *cw, int n, double *a, double *b)
{
    *a = __dmul_rn((double)mix[n], cw ? (double)cw[labels[n]] : 1.0);
    *b = __dmul_rn(__dsub_rn(1.0, (double)mix[n]), cw ? (double)cw[labels2[n]] : 1.0);
}

/* -sum_c q[c] log p[c] for label y, as loss.c's xent_of */
__device__ static double xent_of(const float *z, int y, float mx, double lse, double zs,
                                 double l_on, double l_all)
{
    double zq = (double)z[y] - mx;
    if (l_all != 0.0) zq = __dadd_rn(__dmul_rn(l_on, zq), __dmul_rn(l_all, zs));
    return lse - zq;
}

__global__ void xent_kernel(float *loss, float *dlogits, float *probs, const float *logits,
                            const int32_t *labels, const int32_t *labels2, const float *mix,
                            const float *cw, float q_on, float q_off, double l_on, double l_all,
                            int N, int C, double *terms /* (N) */)
{
    __shared__ double wsum;
    __shared__ int bad;
    if (threadIdx.x == 0) {
        double ws = 0.0;
        int b = 0;
        for (int n = 0; n < N; n++) {
            const int y = labels[n], y2 = mix ? labels2[n] : 0;
            if (y < 0 || y >= C || y2 < 0 || y2 >= C ||
                (mix && !(mix[n] >= 0.0f && mix[n] <= 1.0f))) {
                b = 1;
            } else if (mix) {
                double wa, wb;
                mix_weights(labels, labels2, mix, cw, n, &wa, &wb);
                ws = __dadd_rn(ws, __dadd_rn(wa, wb));
            } else {
                ws += cw ? (double)cw[y] : 1.0;
            }
        }
        wsum = ws;
        bad = b || !(ws > 0.0);
    }
    __syncthreads();
    if (bad) {
        if (threadIdx.x == 0) *loss = __int_as_float(0x7fc00000); /* NaN */
        return;
    }
    for (int n = threadIdx.x; n < N; n += blockDim.x) {
        const float *z = logits + (size_t)n * C;
        float *p = probs + (size_t)n * C;
        const int y = labels[n];
        const double wy = cw ? (double)cw[y] : 1.0;
        softmax_row(p, z, C);
        float mx = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > mx) mx = z[c];
        double se = 0.0, zs = 0.0;
        for (int c = 0; c < C; c++) {
            se += exp((double)z[c] - mx);
            zs += (double)z[c] - mx;
        }
        /* no fused multiply-add: the CPU's roundings; eps = 0 (l_all 0) leaves out the sum's
         * term, as loss.c: 0 * (-inf) from an overflowed logit is NaN */
        float *d = dlogits + (size_t)n * C;
        const double lse = log(se);
        if (mix) {
            const int y2 = labels2[n];
            double a, b;
            mix_weights(labels, labels2, mix, cw, n, &a, &b);
            double t = 0.0;
            if (a != 0.0) t = __dmul_rn(a, xent_of(z, y, mx, lse, zs, l_on, l_all));
            if (b != 0.0) t = __dadd_rn(t, __dmul_rn(b, xent_of(z, y2, mx, lse, zs, l_on, l_all)));
            terms[n] = t;
            const double ga = __ddiv_rn(a, wsum), gb = __ddiv_rn(b, wsum);
            for (int c = 0; c < C; c++) {
                const double pc = p[c];
                const double u = __dmul_rn(ga, __dsub_rn(pc, c == y ? q_on : q_off));
                const double v = __dmul_rn(gb, __dsub_rn(pc, c == y2 ? q_on : q_off));
                d[c] = __double2float_rn(__dadd_rn(u, v));
            }
            continue;
        }
        terms[n] = wy * xent_of(z, y, mx, lse, zs, l_on, l_all);
        const float g = (float)(wy / wsum);
        for (int c = 0; c < C; c++) d[c] = __fmul_rn(g, __fsub_rn(p[c], c == y ? q_on : q_off));
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double lsum = 0.0;
        for (int n = 0; n < N; n++) lsum += terms[n];
        *loss = (float)(lsum / wsum);
    }
}

extern "C" cxr_status cxr_softmax_forward_cuda(void *ctx, float *probs /* (N,C) */,
                                               const float *logits /* (N,C) */, int N, int C)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    softmax_kernel<<<(N + 127) / 128, 128, 0, be->cu->compute>>>(probs, logits, N, C);
    CUDA_LAUNCH_CHECK("softmax_forward");
bail:
    return st;
}

extern "C" cxr_status
cxr_softmax_xent_cuda(void *ctx, float *loss /* (1) */, float *dlogits /* (N,C) */,
                      float *probs /* (N,C) */, const float *logits /* (N,C) */,
                      const int32_t *labels /* (N) */, const int32_t *labels2 /* (N) or NULL */,
                      const float *mix /* (N) or NULL */,
                      const float *class_weights /* (C) or NULL */, float eps, int N, int C)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (!(eps >= 0.0f && eps < 1.0f))
        return cxr_set_error(CXR_E_ARG, "softmax_xent: label smoothing %g not in [0,1)", eps);
    const cxr_smoothing q = cxr_smoothing_of(eps, C); /* on the host, as loss.c (cxr_ops.h) */
    double *terms = (double *)cxr_cuda_scratch(be, (size_t)N * sizeof(double));
    if (!terms) return cxr_wrap_error(cxr_cuda_grow_status(), "softmax_xent (N=%d)", N);
    if (mix && !labels2) return cxr_set_error(CXR_E_ARG, "softmax_xent: mix without labels2");
    xent_kernel<<<1, 256, 0, be->cu->compute>>>(loss, dlogits, probs, logits, labels,
                                                mix ? labels2 : NULL, mix, class_weights, q.q_on,
                                                q.q_off, q.l_on, q.l_all, N, C, terms);
    CUDA_LAUNCH_CHECK("softmax_xent");
bail:
    return st;
}
