/* dense.cu: fully connected layer on the GPU (twin of dense.c) through cuBLAS.
 *
 * Row-major out (N,OUT) = in (N,IN) @ W^T with W (OUT,IN) is, read column-major, the product
 * out^T (OUT x N) = W' (IN x OUT)^T @ in' (IN x N), so every product is one cublasGemmEx with
 * the operands as stored (the "row-major trick"):
 *   forward  out^T  = op_T(W) in'          m=OUT n=N  k=IN   (beta 1 after the bias fill)
 *   dW       dW'    = in' op_T(dout')      m=IN  n=OUT k=N   (beta 0: writes)
 *   din      din'   = W' dout'             m=IN  n=N  k=OUT  (beta 0: writes)
 * Precision: fp32 = CUBLAS_COMPUTE_32F (no tensor cores); tf32 = CUBLAS_COMPUTE_32F_FAST_TF32;
 * bf16 = both operands rounded to bf16 (round to nearest even), fp32 accumulation and fp32
 * output (the fp32 weights stay the master copy). The activations are rounded into the
 * backend's scratch at each call; the weights W come from their bf16 shadow (cuda_ops.cuh),
 * which Adam rewrites in its own pass, so dense1's 67M weights are not converted twice a step.
 * Bias: a kernel fills out with b before the GEMM; db sums dout's columns over n in order (the
 * CPU's order, so db is bit-identical).
 */
#include <string.h>

#include <cuda_bf16.h>

#include "cuda_ops.cuh"

__global__ void fill_bias(float *out /* (N,OUT) */, const float *b /* (OUT) */, int N, int OUT)
{
    const size_t total = (size_t)N * OUT;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = b[i % (size_t)OUT];
}

__global__ void bias_grad(float *db /* (OUT) */, const float *dout /* (N,OUT) */, int N, int OUT)
{
    const int o = blockIdx.x * blockDim.x + threadIdx.x;
    if (o >= OUT) return;
    float acc = dout[o]; /* written, in the CPU's order */
    for (int n = 1; n < N; n++) acc += dout[(size_t)n * OUT + o];
    db[o] = acc;
}

__global__ void to_bf16(__nv_bfloat16 *dst, const float *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

/* *out = the bf16 shadow of weights w (n floats): found, made or refreshed (converted on the
 * compute stream). CXR_E_NOMEM / CXR_E_CUDA when its memory cannot be had. */
static cxr_status weights_bf16(cxr_cuda_backend *be, const __nv_bfloat16 **out, const float *w,
                               size_t n, const char *what)
{
    cxr_status st = CXR_OK;
    cxr_bf16_shadow *s = NULL;
    *out = NULL;
    for (int i = 0; i < CXR_BF16_SHADOWS && !s; i++)
        if (be->shadow[i].src == w && be->shadow[i].n == n) s = &be->shadow[i];
    if (!s) {
        for (int i = 0; i < CXR_BF16_SHADOWS && !s; i++)
            if (!be->shadow[i].src) s = &be->shadow[i];
        if (!s) {
            s = &be->shadow[be->next_shadow];
            be->next_shadow = (be->next_shadow + 1) % CXR_BF16_SHADOWS;
            /* queued GEMMs may still read the evicted copy */
            CUDA_TRY(what, cudaStreamSynchronize(be->cu->compute));
            cudaFree(s->dst);
            memset(s, 0, sizeof *s);
        }
        CUDA_TRY(what, cudaMalloc(&s->dst, n * sizeof(__nv_bfloat16)));
        s->src = w;
        s->n = n;
    }
    if (!s->valid) {
        to_bf16<<<cxr_grid_for(n), 256, 0, be->cu->compute>>>((__nv_bfloat16 *)s->dst, w, n);
        CUDA_LAUNCH_CHECK(what);
        s->valid = 1;
    }
    *out = (const __nv_bfloat16 *)s->dst;
    return CXR_OK;
bail:
    if (s && !s->valid) {
        cudaFree(s->dst);
        memset(s, 0, sizeof *s);
    }
    return cxr_wrap_error(st, "%s (bf16 copy of %zu weights)", what, n);
}

/* C (m x n, ldc) = op(A) op(B) + C, column-major, in the context's precision. In bf16, A16 (when
 * not NULL) is A already rounded to bf16 (the weights' shadow). */
static cxr_status gemm(cxr_cuda_backend *be, cublasOperation_t ta, cublasOperation_t tb, int m,
                       int n, int k, const float *A, const __nv_bfloat16 *A16, int lda,
                       const float *B, int ldb, float beta, float *C, int ldc, const char *what)
{
    cxr_status st = CXR_OK;
    const float one = 1.0f;
    const cxr_precision prec = be->cu->precision;
    cublasHandle_t h = be->cu->cublas;
    if (prec != CXR_PRECISION_BF16) {
        const cublasComputeType_t ct =
            prec == CXR_PRECISION_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
        CUBLAS_TRY(what, cublasGemmEx(h, ta, tb, m, n, k, &one, A, CUDA_R_32F, lda, B, CUDA_R_32F,
                                      ldb, &beta, C, CUDA_R_32F, ldc, ct, CUBLAS_GEMM_DEFAULT));
        return CXR_OK;
    }
    {
        const size_t na = (size_t)lda * (ta == CUBLAS_OP_N ? k : m);
        const size_t nb = (size_t)ldb * (tb == CUBLAS_OP_N ? n : k);
        const size_t a_bytes = A16 ? 0 : (na * sizeof(__nv_bfloat16) + 255) / 256 * 256;
        char *s = (char *)cxr_cuda_scratch(be, a_bytes + nb * sizeof(__nv_bfloat16));
        if (!s) return cxr_wrap_error(cxr_cuda_grow_status(), "%s (bf16 operands)", what);
        const __nv_bfloat16 *a16 = A16;
        __nv_bfloat16 *b16 = (__nv_bfloat16 *)(s + a_bytes);
        if (!a16) {
            to_bf16<<<cxr_grid_for(na), 256, 0, be->cu->compute>>>((__nv_bfloat16 *)s, A, na);
            CUDA_LAUNCH_CHECK(what);
            a16 = (const __nv_bfloat16 *)s;
        }
        to_bf16<<<cxr_grid_for(nb), 256, 0, be->cu->compute>>>(b16, B, nb);
        CUDA_LAUNCH_CHECK(what);
        CUBLAS_TRY(what, cublasGemmEx(h, ta, tb, m, n, k, &one, a16, CUDA_R_16BF, lda, b16,
                                      CUDA_R_16BF, ldb, &beta, C, CUDA_R_32F, ldc,
                                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    }
bail:
    return st;
}

extern "C" cxr_status cxr_dense_forward_cuda(void *ctx, float *out /* (N,OUT) */,
                                             const float *in /* (N,IN) */,
                                             const float *w /* (OUT,IN) */,
                                             const float *b /* (OUT) */, int N, int IN, int OUT)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    const __nv_bfloat16 *w16 = NULL;
    if (be->cu->precision == CXR_PRECISION_BF16)
        CXR_TRY(weights_bf16(be, &w16, w, (size_t)OUT * IN, "dense_forward"));
    fill_bias<<<cxr_grid_for((size_t)N * OUT), 256, 0, be->cu->compute>>>(out, b, N, OUT);
    CUDA_LAUNCH_CHECK("dense_forward (bias)");
    CXR_TRY(gemm(be, CUBLAS_OP_T, CUBLAS_OP_N, OUT, N, IN, w, w16, IN, in, IN, 1.0f, out, OUT,
                 "dense_forward"));
bail:
    return st;
}

extern "C" cxr_status cxr_dense_backward_cuda(void *ctx, float *din /* (N,IN) or NULL */,
                                              float *dw /* (OUT,IN) */, float *db /* (OUT) */,
                                              const float *dout /* (N,OUT) */,
                                              const float *in /* (N,IN) */,
                                              const float *w /* (OUT,IN) */, int N, int IN, int OUT)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    bias_grad<<<(OUT + 255) / 256, 256, 0, be->cu->compute>>>(db, dout, N, OUT);
    CUDA_LAUNCH_CHECK("dense_backward (bias)");
    /* beta 0: the gradients are written (cxr_ops.h), never read */
    CXR_TRY(gemm(be, CUBLAS_OP_N, CUBLAS_OP_T, IN, OUT, N, in, NULL, IN, dout, OUT, 0.0f, dw, IN,
                 "dense_backward (dW)"));
    if (din) {
        const __nv_bfloat16 *w16 = NULL;
        if (be->cu->precision == CXR_PRECISION_BF16)
            CXR_TRY(weights_bf16(be, &w16, w, (size_t)OUT * IN, "dense_backward (din)"));
        CXR_TRY(gemm(be, CUBLAS_OP_N, CUBLAS_OP_N, IN, N, OUT, w, w16, IN, dout, OUT, 0.0f, din, IN,
                     "dense_backward (din)"));
    }
bail:
    return st;
}
