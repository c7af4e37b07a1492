/* adam.cu: one Adam(W) step over the flat parameter block on the GPU (twin of adam.c), one pass.
 * The bias corrections are computed on the host exactly as the CPU does, and every product and
 * sum uses the round-to-nearest intrinsics (__fmul_rn/__fadd_rn), which the compiler may not
 * fuse into FMAs: with IEEE division and sqrt (nvcc's defaults) the result is bit-identical to
 * the CPU reference (built without FMA contraction for x86-64-v2). The same pass rewrites the
 * bf16 shadows of weights inside the block (cuda_ops.cuh; dense.cu under --precision bf16) from
 * the new values, rounded as dense.cu's conversion rounds them. */
#include <math.h>
#include <string.h>

#include <cuda_bf16.h>

#include "cuda_ops.cuh"

/* Up to CXR_BF16_SHADOWS ranges [off, off + n) of the block with a bf16 copy to rewrite. */
typedef struct {
    size_t off[CXR_BF16_SHADOWS], n[CXR_BF16_SHADOWS];
    __nv_bfloat16 *dst[CXR_BF16_SHADOWS];
    int count;
} shadow_ranges;

__global__ void adam_kernel(float *__restrict__ p, float *__restrict__ m, float *__restrict__ v,
                            const float *__restrict__ g, size_t n, float lr, float b1, float b2,
                            float a1, float a2, float c1, float c2, float eps, float decay,
                            shadow_ranges sh)
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
        const float pi = __fsub_rn(__fmul_rn(p[i], decay), __fdiv_rn(num, den));
        p[i] = pi;
        for (int r = 0; r < sh.count; r++)
            if (i - sh.off[r] < sh.n[r]) sh.dst[r][i - sh.off[r]] = __float2bfloat16_rn(pi);
    }
}

extern "C" cxr_status cxr_adam_step_cuda(void *ctx, float *params /* (n) */, float *m /* (n) */,
                                         float *v /* (n) */, const float *grads /* (n) */, size_t n,
                                         float lr, float beta1, float beta2, float eps, float wd,
                                         int64_t t)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    if (t < 1) return cxr_set_error(CXR_E_ARG, "adam_step: step %lld < 1", (long long)t);
    {
        const float c1 = (float)(1.0 / (1.0 - pow((double)beta1, (double)t)));
        const float c2 = (float)(1.0 / (1.0 - pow((double)beta2, (double)t)));
        const float decay = (float)(1.0 - (double)lr * (double)wd); /* as adam.c */
        shadow_ranges sh;
        memset(&sh, 0, sizeof sh);
        for (int k = 0; k < CXR_BF16_SHADOWS; k++) {
            const cxr_bf16_shadow *s = &be->shadow[k];
            /* only current copies of weights wholly inside the block (a stale one is converted
             * again when next used) */
            if (!s->src || !s->valid || s->src < params || s->src + s->n > params + n) continue;
            sh.off[sh.count] = (size_t)(s->src - params);
            sh.n[sh.count] = s->n;
            sh.dst[sh.count] = (__nv_bfloat16 *)s->dst;
            sh.count++;
        }
        adam_kernel<<<cxr_grid_for(n), 256, 0, be->cu->compute>>>(params, m, v, grads, n, lr, beta1,
                                                                  beta2, 1.0f - beta1, 1.0f - beta2,
                                                                  c1, c2, eps, decay, sh);
    }
    CUDA_LAUNCH_CHECK("adam_step");
bail:
    return st;
}
