/* pool.cu: 2x2 max pooling, stride 2, on the GPU (twin of pool.c) with own kernels rather than
 * cuDNN pooling, to keep the table's semantics exactly: the forward records the argmax of each
 * window in one byte (0..3, row-major in the window, ties to the lowest index, the same
 * comparisons as the CPU), and the backward routes each output gradient through that index,
 * writing the whole window (0 off the argmax: no zeroing pass).
 * Windows do not overlap, so every input element receives at most one gradient: no atomics,
 * deterministic, and bit-identical to the CPU. The fused pool + leaky ReLU backward writes every
 * element of din in the same pass (no zeroing, no scatter).
 * The global average pool of head gap: one thread per (n,c) plane sums it in double in index
 * order and divides once, as pool.c does, so the two agree to the bit on normal numbers (the
 * CPU flushes subnormals to zero, specs/model.md "Denormals"; the GPU keeps them); its backward
 * writes every element, dout / HW in IEEE single division (__fdiv_rn). */
#include "cuda_ops.cuh"

__global__ void maxpool2_fwd(float *__restrict__ out /* (P,Ho,Wo) */,
                             uint8_t *__restrict__ idx /* (P,Ho,Wo) */,
                             const float *__restrict__ in /* (P,H,W) */, size_t total, int H, int W)
{
    const int Ho = H / 2, Wo = W / 2;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t p = o / ((size_t)Ho * Wo);
        const int r = (int)(o - p * (size_t)Ho * Wo), i = r / Wo, j = r - i * Wo;
        const float *r0 = in + (p * H + 2 * i) * (size_t)W + 2 * j, *r1 = r0 + W;
        float m = r0[0];
        uint8_t a = 0;
        if (r0[1] > m) m = r0[1], a = 1;
        if (r1[0] > m) m = r1[0], a = 2;
        if (r1[1] > m) m = r1[1], a = 3;
        out[o] = m;
        idx[o] = a;
    }
}

__global__ void maxpool2_bwd(float *__restrict__ din /* (P,H,W) */,
                             const float *__restrict__ dout /* (P,Ho,Wo) */,
                             const uint8_t *__restrict__ idx /* (P,Ho,Wo) */, size_t total, int H,
                             int W)
{
    const int Ho = H / 2, Wo = W / 2;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t p = o / ((size_t)Ho * Wo);
        const int r = (int)(o - p * (size_t)Ho * Wo), i = r / Wo, j = r - i * Wo;
        const int a = idx[o];
        const float g = dout[o];
        const size_t a0 = (p * H + 2 * (size_t)i) * W + 2 * (size_t)j;
        /* the whole window is written (cxr_ops.h: din is written, not accumulated) */
        *(float2 *)(din + a0) = make_float2(a == 0 ? g : 0.0f, a == 1 ? g : 0.0f);
        *(float2 *)(din + a0 + W) = make_float2(a == 2 ? g : 0.0f, a == 3 ? g : 0.0f);
    }
}

/* Pool backward and the leaky ReLU backward before it, one thread per pooled element: the
 * window's four input gradients are written (the argmax gets dout scaled by the slope where the
 * pooled activation y is, the others 0), so din needs no zeroing and is written once. */
__global__ void maxpool2_lrelu_bwd(float *__restrict__ din /* (P,H,W) */,
                                   const float *__restrict__ dout /* (P,Ho,Wo) */,
                                   const uint8_t *__restrict__ idx /* (P,Ho,Wo) */,
                                   const float *__restrict__ y /* (P,Ho,Wo) */, float alpha,
                                   size_t total, int H, int W)
{
    const int Ho = H / 2, Wo = W / 2;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t p = o / ((size_t)Ho * Wo);
        const int r = (int)(o - p * (size_t)Ho * Wo), i = r / Wo, j = r - i * Wo;
        const int a = idx[o];
        const float g = dout[o];
        const float s = y[o] > 0.0f ? g : __fmul_rn(alpha, g);
        const size_t a0 = (p * H + 2 * (size_t)i) * W + 2 * (size_t)j;
        *(float2 *)(din + a0) = make_float2(a == 0 ? s : 0.0f, a == 1 ? s : 0.0f);
        *(float2 *)(din + a0 + W) = make_float2(a == 2 ? s : 0.0f, a == 3 ? s : 0.0f);
    }
}

extern "C" cxr_status cxr_maxpool2_forward_cuda(void *ctx, float *out /* (N,C,H/2,W/2) */,
                                                uint8_t *idx /* (N,C,H/2,W/2) */,
                                                const float *in /* (N,C,H,W) */, int N, int C,
                                                int H, int W)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    const size_t total = (size_t)N * C * (H / 2) * (W / 2);
    if ((H | W) & 1) return cxr_set_error(CXR_E_ARG, "maxpool2_forward: odd size %dx%d", H, W);
    maxpool2_fwd<<<cxr_grid_for(total), 256, 0, be->cu->compute>>>(out, idx, in, total, H, W);
    CUDA_LAUNCH_CHECK("maxpool2_forward");
bail:
    return st;
}

extern "C" cxr_status cxr_maxpool2_backward_cuda(void *ctx, float *din /* (N,C,H,W) */,
                                                 const float *dout /* (N,C,H/2,W/2) */,
                                                 const uint8_t *idx /* (N,C,H/2,W/2) */, int N,
                                                 int C, int H, int W)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    const size_t total = (size_t)N * C * (H / 2) * (W / 2);
    if ((H | W) & 1) return cxr_set_error(CXR_E_ARG, "maxpool2_backward: odd size %dx%d", H, W);
    maxpool2_bwd<<<cxr_grid_for(total), 256, 0, be->cu->compute>>>(din, dout, idx, total, H, W);
    CUDA_LAUNCH_CHECK("maxpool2_backward");
bail:
    return st;
}

extern "C" cxr_status cxr_maxpool2_lrelu_backward_cuda(void *ctx, float *din /* (N,C,H,W) */,
                                                       const float *dout /* (N,C,H/2,W/2) */,
                                                       const uint8_t *idx /* (N,C,H/2,W/2) */,
                                                       const float *y /* (N,C,H/2,W/2) */,
                                                       float alpha, int N, int C, int H, int W)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    const size_t total = (size_t)N * C * (H / 2) * (W / 2);
    if ((H | W) & 1)
        return cxr_set_error(CXR_E_ARG, "maxpool2_lrelu_backward: odd size %dx%d", H, W);
    if (total == 0) return CXR_OK;
    maxpool2_lrelu_bwd<<<cxr_grid_for(total), 256, 0, be->cu->compute>>>(din, dout, idx, y, alpha,
                                                                         total, H, W);
    CUDA_LAUNCH_CHECK("maxpool2_lrelu_backward");
bail:
    return st;
}

__global__ void gap_fwd(float *__restrict__ out /* (P) */,
                        const float *__restrict__ in /* (P,HW) */, size_t planes, int HW)
{
    for (size_t p = blockIdx.x * (size_t)blockDim.x + threadIdx.x; p < planes;
         p += (size_t)gridDim.x * blockDim.x) {
        const float *x = in + p * (size_t)HW;
        double s = 0.0;
        for (int j = 0; j < HW; j++) s = __dadd_rn(s, (double)x[j]);
        out[p] = (float)__ddiv_rn(s, (double)HW);
    }
}

__global__ void gap_bwd(float *__restrict__ din /* (P,HW) */,
                        const float *__restrict__ dout /* (P) */, size_t total, int HW)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        din[i] = __fdiv_rn(dout[i / (size_t)HW], (float)HW);
}

extern "C" cxr_status cxr_global_avgpool_forward_cuda(void *ctx, float *out /* (N,C) */,
                                                      const float *in /* (N,C,HW) */, int N, int C,
                                                      int HW)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    const size_t planes = (size_t)N * C;
    if (HW < 1) return cxr_set_error(CXR_E_ARG, "global_avgpool_forward: %d elements", HW);
    if (planes == 0) return CXR_OK;
    gap_fwd<<<cxr_grid_for(planes), 256, 0, be->cu->compute>>>(out, in, planes, HW);
    CUDA_LAUNCH_CHECK("global_avgpool_forward");
bail:
    return st;
}

extern "C" cxr_status cxr_global_avgpool_backward_cuda(void *ctx, float *din /* (N,C,HW) */,
                                                       const float *dout /* (N,C) */, int N, int C,
                                                       int HW)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    const size_t total = (size_t)N * C * HW;
    if (HW < 1) return cxr_set_error(CXR_E_ARG, "global_avgpool_backward: %d elements", HW);
    if (total == 0) return CXR_OK;
    gap_bwd<<<cxr_grid_for(total), 256, 0, be->cu->compute>>>(din, dout, total, HW);
    CUDA_LAUNCH_CHECK("global_avgpool_backward");
bail:
    return st;
}

/* The input pool's k x k mean, one thread per output: the CPU's double sum in the same
 * (row-major) order, divided once. */
__global__ void avgpool_fwd(float *__restrict__ out /* (P,Ho,Wo) */,
                            const float *__restrict__ in /* (P,H,W) */, size_t total, int H, int W,
                            int k)
{
    const int Ho = H / k, Wo = W / k;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t p = o / ((size_t)Ho * Wo);
        const int r = (int)(o - p * (size_t)Ho * Wo), i = r / Wo, j = r - i * Wo;
        double s = 0.0;
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
                s = __dadd_rn(s, (double)in[(p * H + (size_t)(i * k + a)) * W + j * k + b]);
        out[o] = (float)__ddiv_rn(s, (double)(k * k));
    }
}

extern "C" cxr_status cxr_avgpool_forward_cuda(void *ctx, float *out /* (N,C,H/k,W/k) */,
                                               const float *in /* (N,C,H,W) */, int N, int C, int H,
                                               int W, int k)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (k < 1 || H % k || W % k)
        return cxr_set_error(CXR_E_ARG, "avgpool_forward: %dx%d is not a multiple of %d", H, W, k);
    const size_t total = (size_t)N * C * (H / k) * (W / k);
    if (total == 0) return CXR_OK;
    avgpool_fwd<<<cxr_grid_for(total), 256, 0, be->cu->compute>>>(out, in, total, H, W, k);
    CUDA_LAUNCH_CHECK("avgpool_forward");
bail:
    return st;
}
