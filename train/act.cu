/* act.cu: elementwise ops on the GPU (twin of act.c): leaky ReLU forward/backward, inverted
 * dropout and the input scale. The dropout mask comes from the same counter RNG as the CPU
 * (rng.h, compiled here as __host__ __device__), so masks are bit-identical; leaky ReLU and
 * dropout do one IEEE multiply per element (no contraction possible), the input scale a multiply
 * and an add kept apart (__fmul_rn, __fadd_rn), so the outputs are bit-identical to the CPU's. */
#include "cuda_ops.cuh"
#include "rng.h"

__global__ void lrelu_fwd(float *out, const float *in, float alpha, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float x = in[i];
        out[i] = x > 0.0f ? x : alpha * x;
    }
}

__global__ void lrelu_bwd(float *d, const float *y, float alpha, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        d[i] = y[i] > 0.0f ? d[i] : alpha * d[i];
}

/* one thread per 64-bit word = four 16-bit lanes = elements 4j..4j+3 (as the CPU) */
__global__ void dropout_kernel(float *x, uint64_t key, uint32_t thr, float scale, size_t n)
{
    const size_t words = (n + 3) / 4;
    for (size_t j = blockIdx.x * (size_t)blockDim.x + threadIdx.x; j < words;
         j += (size_t)gridDim.x * blockDim.x) {
        const uint64_t wv = cxr_rng_word(key, j);
        const size_t i0 = 4 * j;
        const int m = n - i0 < 4 ? (int)(n - i0) : 4;
        for (int l = 0; l < m; l++) {
            const uint32_t u = (uint32_t)(wv >> (16 * l)) & 0xFFFFu;
            x[i0 + l] = u < thr ? x[i0 + l] * scale : 0.0f;
        }
    }
}

/* rounded after the product and after the sum, as the CPU (no contraction into an FMA) */
__global__ void scale_shift_kernel(float *out, const float *in, float scale, float shift, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = __fadd_rn(__fmul_rn(in[i], scale), shift);
}

extern "C" cxr_status cxr_scale_shift_cuda(void *ctx, float *out, const float *in, float scale,
                                           float shift, size_t n)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (n == 0) return CXR_OK;
    scale_shift_kernel<<<cxr_grid_for(n), 256, 0, be->cu->compute>>>(out, in, scale, shift, n);
    CUDA_LAUNCH_CHECK("scale_shift");
bail:
    return st;
}

extern "C" cxr_status cxr_leaky_relu_forward_cuda(void *ctx, float *out, const float *in,
                                                  float alpha, size_t n)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (n == 0) return CXR_OK;
    lrelu_fwd<<<cxr_grid_for(n), 256, 0, be->cu->compute>>>(out, in, alpha, n);
    CUDA_LAUNCH_CHECK("leaky_relu_forward");
bail:
    return st;
}

extern "C" cxr_status cxr_leaky_relu_backward_cuda(void *ctx, float *d, const float *y, float alpha,
                                                   size_t n)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (n == 0) return CXR_OK;
    lrelu_bwd<<<cxr_grid_for(n), 256, 0, be->cu->compute>>>(d, y, alpha, n);
    CUDA_LAUNCH_CHECK("leaky_relu_backward");
bail:
    return st;
}

extern "C" cxr_status cxr_dropout_apply_cuda(void *ctx, float *x, uint64_t key, float keep_prob,
                                             size_t n)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (!(keep_prob > 0.0f && keep_prob <= 1.0f))
        return cxr_set_error(CXR_E_ARG, "dropout: keep_prob %g not in (0,1]", keep_prob);
    if (keep_prob == 1.0f || n == 0) return CXR_OK;
    {
        const uint32_t thr = cxr_dropout_threshold(keep_prob);
        const float scale = 1.0f / keep_prob; /* computed on the host, as the CPU does */
        dropout_kernel<<<cxr_grid_for((n + 3) / 4), 256, 0, be->cu->compute>>>(x, key, thr, scale,
                                                                               n);
    }
    CUDA_LAUNCH_CHECK("dropout");
bail:
    return st;
}
