/* conv.cu: 3x3 'same' convolution on the GPU (twin of conv.c) through cuDNN's legacy API.
 *
 * Per shape (N,C,K,H,W,precision) a plan caches the tensor/filter/convolution descriptors and
 * the algorithms chosen once by measurement (cudnnFindConvolution*Algorithm), keeping only
 * deterministic algorithms (perf.determinism; this drops e.g. BWD_FILTER_ALGO_0/3 and
 * BWD_DATA_ALGO_0) and, in fp32, only FMA kernels (CUDNN_FMA_MATH: no TF32 tensor cores).
 * The workspace is the context's, grown to the largest need and reused.
 *   forward:  y = conv(x, w) (beta 0), then y += b by cudnnAddTensor
 *   backward: din += conv^T(dout, w) and dw += corr(x, dout) (beta 1: the table's "adds"),
 *             db += sum over (n, y, x) of dout: per-plane double sums, then over n in image
 *             order (fixed order: deterministic).
 */
#include <stdio.h>
#include <string.h>

#include "cuda_ops.cuh"

/* Largest workspace an algorithm may ask for (bigger ones are skipped). */
#define CONV_WS_LIMIT ((size_t)1 << 30)

static void plan_release(cxr_conv_plan *p)
{
    if (!p->used) return;
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->bias) cudnnDestroyTensorDescriptor(p->bias);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->fwd_conv) cudnnDestroyConvolutionDescriptor(p->fwd_conv);
    if (p->bwd_data_conv) cudnnDestroyConvolutionDescriptor(p->bwd_data_conv);
    if (p->bwd_filter_conv) cudnnDestroyConvolutionDescriptor(p->bwd_filter_conv);
    memset(p, 0, sizeof *p);
}

extern "C" void cxr_conv_plans_destroy(cxr_cuda_backend *b)
{
    for (int i = 0; i < CXR_CONV_PLANS; i++) plan_release(&b->plans[i]);
}

/* Index of the first (fastest) usable result of a cudnnFind* call, or n when none: succeeded,
 * CUDNN_DETERMINISTIC, workspace within the limit. cudnnFind* also times every algorithm with
 * CUDNN_DEFAULT_MATH, which allows TF32 tensor cores on Ampere and later; in fp32 the descriptor
 * stays CUDNN_FMA_MATH, so an algorithm picked by its DEFAULT_MATH (TF32) time would then run as
 * an FMA kernel that was never timed (slower than measured, or not supported for the shape).
 * fp32 therefore takes the fastest result measured with CUDNN_FMA_MATH, and a DEFAULT_MATH one
 * only when no FMA result qualifies. */
template <typename Perf> static int pick_algo(const Perf *r, int n, cxr_precision prec)
{
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].determinism != CUDNN_DETERMINISTIC ||
                r[i].memory > CONV_WS_LIMIT)
                continue;
            if (prec != CXR_PRECISION_FP32) return i;
            if (r[i].mathType == (pass == 0 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH)) return i;
        }
    return n;
}

static cxr_status make_conv_desc(cudnnConvolutionDescriptor_t *d, cxr_precision prec,
                                 const char *what)
{
    cxr_status st = CXR_OK;
    CUDNN_TRY(what, cudnnCreateConvolutionDescriptor(d));
    CUDNN_TRY(what, cudnnSetConvolution2dDescriptor(*d, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                    CUDNN_DATA_FLOAT));
    /* fp32: FMA kernels only. tf32 (and bf16, whose convolutions run as tf32): tensor cores on
     * fp32 data, i.e. TF32 inputs with fp32 accumulation (no down-conversion to fp16). */
    CUDNN_TRY(what, cudnnSetConvolutionMathType(
                        *d, prec == CXR_PRECISION_FP32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH));
bail:
    return st;
}

static cxr_status plan_build(cxr_cuda_backend *b, cxr_conv_plan *p, int N, int C, int K, int H,
                             int W, cxr_precision prec, const char *what)
{
    cxr_status st = CXR_OK;
    cudnnHandle_t h = b->cu->cudnn;
    cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    cudnnConvolutionBwdDataAlgoPerf_t dp[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    cudnnConvolutionBwdFilterAlgoPerf_t wp[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int nf = 0, nd = 0, nw = 0, i = 0;
    plan_release(p);
    p->used = 1;
    p->N = N, p->C = C, p->K = K, p->H = H, p->W = W, p->prec = prec;
    CUDNN_TRY(what, cudnnCreateTensorDescriptor(&p->x));
    CUDNN_TRY(what, cudnnCreateTensorDescriptor(&p->y));
    CUDNN_TRY(what, cudnnCreateTensorDescriptor(&p->bias));
    CUDNN_TRY(what, cudnnCreateFilterDescriptor(&p->w));
    CUDNN_TRY(what,
              cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, C, H, W));
    CUDNN_TRY(what,
              cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, N, K, H, W));
    CUDNN_TRY(what,
              cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, K, 1, 1));
    CUDNN_TRY(what,
              cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, K, C, 3, 3));
    CXR_TRY(make_conv_desc(&p->fwd_conv, prec, what));
    CXR_TRY(make_conv_desc(&p->bwd_data_conv, prec, what));
    CXR_TRY(make_conv_desc(&p->bwd_filter_conv, prec, what));

    /* measured choice, fastest first; keep the first deterministic one that fits */
    CUDNN_TRY(what,
              cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->fwd_conv, p->y,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &nf, fp));
    i = pick_algo(fp, nf, prec);
    if (i == nf) CXR_THROW(CXR_E_CUDA, "%s: cuDNN offers no deterministic forward algorithm", what);
    p->fwd_algo = fp[i].algo;
    if (prec != CXR_PRECISION_FP32)
        CUDNN_TRY(what, cudnnSetConvolutionMathType(p->fwd_conv, fp[i].mathType));
    CUDNN_TRY(what, cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->fwd_conv, p->y,
                                                            p->fwd_algo, &p->fwd_ws));

    CUDNN_TRY(what, cudnnFindConvolutionBackwardDataAlgorithm(h, p->w, p->y, p->bwd_data_conv, p->x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                              &nd, dp));
    i = pick_algo(dp, nd, prec);
    if (i == nd)
        CXR_THROW(CXR_E_CUDA, "%s: cuDNN offers no deterministic backward-data algorithm", what);
    p->bwd_data_algo = dp[i].algo;
    if (prec != CXR_PRECISION_FP32)
        CUDNN_TRY(what, cudnnSetConvolutionMathType(p->bwd_data_conv, dp[i].mathType));
    CUDNN_TRY(what, cudnnGetConvolutionBackwardDataWorkspaceSize(
                        h, p->w, p->y, p->bwd_data_conv, p->x, p->bwd_data_algo, &p->bwd_data_ws));

    CUDNN_TRY(what, cudnnFindConvolutionBackwardFilterAlgorithm(
                        h, p->x, p->y, p->bwd_filter_conv, p->w,
                        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &nw, wp));
    i = pick_algo(wp, nw, prec);
    if (i == nw)
        CXR_THROW(CXR_E_CUDA, "%s: cuDNN offers no deterministic backward-filter algorithm", what);
    p->bwd_filter_algo = wp[i].algo;
    if (prec != CXR_PRECISION_FP32)
        CUDNN_TRY(what, cudnnSetConvolutionMathType(p->bwd_filter_conv, wp[i].mathType));
    CUDNN_TRY(what,
              cudnnGetConvolutionBackwardFilterWorkspaceSize(
                  h, p->x, p->y, p->bwd_filter_conv, p->w, p->bwd_filter_algo, &p->bwd_filter_ws));
    return CXR_OK;
bail:
    plan_release(p);
    return st;
}

/* The cached plan for a shape, built (and measured) on first use. */
static cxr_status plan_get(cxr_cuda_backend *b, cxr_conv_plan **out, int N, int C, int K, int H,
                           int W, const char *what)
{
    const cxr_precision prec = b->cu->precision;
    for (int i = 0; i < CXR_CONV_PLANS; i++) {
        cxr_conv_plan *p = &b->plans[i];
        if (p->used && p->N == N && p->C == C && p->K == K && p->H == H && p->W == W &&
            p->prec == prec) {
            *out = p;
            return CXR_OK;
        }
    }
    cxr_conv_plan *p = NULL;
    for (int i = 0; i < CXR_CONV_PLANS && !p; i++)
        if (!b->plans[i].used) p = &b->plans[i];
    if (!p) {
        p = &b->plans[b->next_evict];
        b->next_evict = (b->next_evict + 1) % CXR_CONV_PLANS;
    }
    *out = p;
    return plan_build(b, p, N, C, K, H, W, prec, what);
}

extern "C" cxr_status cxr_conv3x3_forward_cuda(void *ctx, float *out /* (N,K,H,W) */,
                                               const float *in /* (N,C,H,W) */,
                                               const float *w /* (K,C,3,3) */,
                                               const float *b /* (K) */, int N, int C, int K, int H,
                                               int W)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    cxr_conv_plan *p = NULL;
    void *ws = NULL;
    const float one = 1.0f, zero = 0.0f;
    char what[96];
    snprintf(what, sizeof what, "conv3x3_forward (N=%d C=%d K=%d %dx%d)", N, C, K, H, W);
    CXR_TRY(plan_get(be, &p, N, C, K, H, W, what));
    ws = cxr_cuda_workspace(be->cu, p->fwd_ws);
    if (!ws && p->fwd_ws) return cxr_wrap_error(CXR_E_NOMEM, "%s", what);
    CUDNN_TRY(what, cudnnConvolutionForward(be->cu->cudnn, &one, p->x, in, p->w, w, p->fwd_conv,
                                            p->fwd_algo, ws, p->fwd_ws, &zero, p->y, out));
    CUDNN_TRY(what, cudnnAddTensor(be->cu->cudnn, &one, p->bias, b, &one, p->y, out));
bail:
    return st;
}

/* Bias gradient in two deterministic passes, with K x N blocks so that the work fills the GPU
 * (one block per channel would leave most SMs idle: specs/gpu.md): block (k, n) sums the plane
 * dout[n,k,:] (contiguous, coalesced) in double, threads striding the plane and then a fixed
 * tree, into part[k,n]; then one thread per channel adds part[k,0..N-1] in image order to db[k]. */
__global__ void conv_bias_part(double *__restrict__ part /* (K,N) */,
                               const float *__restrict__ dout /* (N,K,HW) */, int N, int K, int HW)
{
    __shared__ double sh[256];
    const int k = blockIdx.x, n = blockIdx.y;
    const float *plane = dout + ((size_t)n * K + k) * (size_t)HW;
    double s = 0.0;
    for (int q = threadIdx.x; q < HW; q += blockDim.x) s += (double)plane[q];
    sh[threadIdx.x] = s;
    __syncthreads();
    for (int h = blockDim.x / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) sh[threadIdx.x] += sh[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) part[(size_t)k * N + n] = sh[0];
}

__global__ void conv_bias_sum(float *__restrict__ db /* (K) */,
                              const double *__restrict__ part /* (K,N) */, int N, int K)
{
    const int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= K) return;
    double s = 0.0;
    for (int n = 0; n < N; n++) s += part[(size_t)k * N + n];
    db[k] += (float)s;
}

extern "C" cxr_status cxr_conv3x3_backward_cuda(void *ctx, float *din /* (N,C,H,W) or NULL */,
                                                float *dw /* (K,C,3,3) */, float *db /* (K) */,
                                                const float *dout /* (N,K,H,W) */,
                                                const float *in /* (N,C,H,W) */,
                                                const float *w /* (K,C,3,3) */, int N, int C, int K,
                                                int H, int W)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    cxr_conv_plan *p = NULL;
    void *ws = NULL;
    size_t need = 0;
    double *part = NULL;
    const float one = 1.0f;
    char what[96];
    snprintf(what, sizeof what, "conv3x3_backward (N=%d C=%d K=%d %dx%d)", N, C, K, H, W);
    CXR_TRY(plan_get(be, &p, N, C, K, H, W, what));
    need = p->bwd_filter_ws > p->bwd_data_ws ? p->bwd_filter_ws : p->bwd_data_ws;
    ws = cxr_cuda_workspace(be->cu, need);
    if (!ws && need) return cxr_wrap_error(CXR_E_NOMEM, "%s", what);
    part = (double *)cxr_cuda_scratch(be, (size_t)K * N * sizeof(double));
    if (!part) return cxr_wrap_error(CXR_E_NOMEM, "%s (bias partial sums)", what);
    conv_bias_part<<<dim3((unsigned)K, (unsigned)N), 256, 0, be->cu->compute>>>(part, dout, N, K,
                                                                                H * W);
    CUDA_LAUNCH_CHECK(what);
    conv_bias_sum<<<(K + 255) / 256, 256, 0, be->cu->compute>>>(db, part, N, K);
    CUDA_LAUNCH_CHECK(what);
    CUDNN_TRY(what, cudnnConvolutionBackwardFilter(be->cu->cudnn, &one, p->x, in, p->y, dout,
                                                   p->bwd_filter_conv, p->bwd_filter_algo, ws,
                                                   p->bwd_filter_ws, &one, p->w, dw));
    if (din)
        CUDNN_TRY(what, cudnnConvolutionBackwardData(be->cu->cudnn, &one, p->w, w, p->y, dout,
                                                     p->bwd_data_conv, p->bwd_data_algo, ws,
                                                     p->bwd_data_ws, &one, p->x, din));
bail:
    return st;
}
