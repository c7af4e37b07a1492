/* adam.cu: one Adam step over the flat parameter block on the GPU (twin of adam.c), one pass.
 * The bias corrections are computed on the host exactly as the CPU does, and every product and
 * sum uses the round-to-nearest intrinsics (__fmul_rn/__fadd_rn), which the compiler may not
 * fuse into FMAs: with IEEE division and sqrt (nvcc's defaults) the result is bit-identical to
 * the CPU reference (built without FMA contraction for x86-64-v2). */
#include <math.h>

#include "cuda_ops.cuh"

__global__ void adam_kernel(float *__restrict__ p, float *__restrict__ m, float *__restrict__ v,
                            const float *__restrict__ g, size_t n, float lr, float b1, float b2,
                            float a1, float a2, float c1, float c2, float eps)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const float gi = g[i];
        const float mi = __fadd_rn(__fmul_rn(b1, m[i]), __fmul_rn(a1, gi));
        const float vi = __fadd_rn(__fmul_rn(b2, v[i]), __fmul_rn(__fmul_rn(a2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        const float num = __fmul_rn(lr, __fmul_rn(mi, c1));
        const float den = __fadd_rn(sqrtf(__fmul_rn(vi, c2)), eps);
        p[i] = __fsub_rn(p[i], __fdiv_rn(num, den));
    }
}

extern "C" cxr_status cxr_adam_step_cuda(void *ctx, float *params /* (n) */, float *m /* (n) */,
                                         float *v /* (n) */, const float *grads /* (n) */, size_t n,
                                         float lr, float beta1, float beta2, float eps, int64_t t)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (t < 1) return cxr_set_error(CXR_E_ARG, "adam_step: step %lld < 1", (long long)t);
    {
        const float c1 = (float)(1.0 / (1.0 - pow((double)beta1, (double)t)));
        const float c2 = (float)(1.0 / (1.0 - pow((double)beta2, (double)t)));
        adam_kernel<<<cxr_grid_for(n), 256, 0, be->cu->compute>>>(
            params, m, v, grads, n, lr, beta1, beta2, 1.0f - beta1, 1.0f - beta2, c1, c2, eps);
    }
    CUDA_LAUNCH_CHECK("adam_step");
bail:
    return st;
}
