/* conv.cu: 3x3 'same' convolution on the GPU (twin of conv.c) through cuDNN's legacy API.
 *
 * Per shape (N,C,K,H,W,precision) a plan caches the tensor and filter descriptors; each of the
 * three directions (forward, backward-data, backward-filter) gets its convolution descriptor and
 * algorithm when it is first used, so an evaluation-only batch size never builds a backward and
 * conv1 (no input gradient) never builds backward-data.
 *
 * The algorithm is chosen repeatably, never by timing: cuDNN's heuristic ranking
 * (cudnnGetConvolution*Algorithm_v7, a pure function of the shape, the device and the library
 * version), the first entry that is deterministic, allowed in the precision, and whose workspace
 * cuDNN confirms for the descriptor's math type within the limit. Two processes, and a resumed
 * run, therefore run the same kernels. fp32 allows only the exact-summation algorithms
 * (implicit GEMM, precomputed implicit GEMM, GEMM; backward ALGO_1): Winograd and FFT change
 * the rounding by about the whole fp32 parity tolerance. The workspace is the context's, grown
 * to the largest need and reused.
 *   forward:  y = conv(x, w) (beta 0), then y += b by cudnnAddTensor; the fused forward
 *             (conv3x3_lrelu_pool_forward) replaces the add by one epilogue kernel that also
 *             activates and pools
 *   backward: din = conv^T(dout, w) and dw = corr(x, dout) (beta 0: the table's backward
 *             ops write their outputs, so nothing is zeroed first), db = sum over (n, y, x)
 *             of dout: per-plane double sums, then over n in image order (fixed order:
 *             deterministic).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.cuh"


static const char *const dir_names[CXR_CONV_DIRS] = { "forward", "backward-data",
                                                      "backward-filter" };

static void plan_release(cxr_conv_plan *p)
{
    if (!p->used) return;
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->bias) cudnnDestroyTensorDescriptor(p->bias);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    for (int d = 0; d < CXR_CONV_DIRS; d++)
        if (p->conv[d]) cudnnDestroyConvolutionDescriptor(p->conv[d]);
    memset(p, 0, sizeof *p);
}

extern "C" void cxr_conv_plans_destroy(cxr_cuda_backend *b)
{
    for (int i = 0; i < CXR_CONV_PLANS; i++) plan_release(&b->plans[i]);
}

static const char *algo_name(int dir, int a)
{
    static const char *const fwd[] = { "IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM",
                                       "GEMM",          "DIRECT",
                                       "FFT",           "FFT_TILING",
                                       "WINOGRAD",      "WINOGRAD_NONFUSED" };
    static const char *const bd[] = { "ALGO_0",     "ALGO_1",   "FFT",
                                      "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED" };
    static const char *const bf[] = { "ALGO_0",    "ALGO_1",   "FFT",
                                      "ALGO_3",    "WINOGRAD", "WINOGRAD_NONFUSED",
                                      "FFT_TILING" };
    if (dir == CXR_CONV_FWD && a >= 0 && a < 8) return fwd[a];
    if (dir == CXR_CONV_BWD_DATA && a >= 0 && a < 6) return bd[a];
    if (dir == CXR_CONV_BWD_FILTER && a >= 0 && a < 7) return bf[a];
    return "?";
}

static const char *math_name(cudnnMathType_t m)
{
    switch (m) {
    case CUDNN_DEFAULT_MATH: return "default math";
    case CUDNN_TENSOR_OP_MATH: return "tensor-op math";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor-op math with down-conversion";
    case CUDNN_FMA_MATH: return "FMA math";
    }
    return "?";
}

/* Whether algorithm a of direction dir may run in precision prec. Non-deterministic algorithms
 * never (BWD_DATA_ALGO_0, BWD_FILTER_ALGO_0/3 use atomics); in fp32 only those that sum each
 * output in plain fp32 arithmetic. */
static int algo_allowed(int dir, int a, cxr_precision prec)
{
    if (dir == CXR_CONV_FWD)
        return prec != CXR_PRECISION_FP32 || a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
               a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
               a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM;
    if (dir == CXR_CONV_BWD_DATA)
        return a != CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 &&
               (prec != CXR_PRECISION_FP32 || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1);
    return a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 && a != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 &&
           (prec != CXR_PRECISION_FP32 || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1);
}

/* One heuristic entry, whatever the direction. */
typedef struct {
    int algo;
    cudnnStatus_t status;
    size_t memory;
    cudnnDeterminism_t determinism;
    cudnnMathType_t math;
} ranked_algo;

/* cuDNN's heuristic ranking for direction dir of plan p (the convolution descriptor's math type
 * set), into *out (malloc'ed, *n entries; sized by the library's MaxCount). */
static cxr_status rank_algos(cudnnHandle_t h, const cxr_conv_plan *p, int dir, ranked_algo **out,
                             int *n, const char *what)
{
    cxr_status st = CXR_OK;
    int cap = 0, got = 0;
    void *perf = NULL;
    *out = NULL;
    *n = 0;
    if (dir == CXR_CONV_FWD)
        CUDNN_TRY(what, cudnnGetConvolutionForwardAlgorithmMaxCount(h, &cap));
    else if (dir == CXR_CONV_BWD_DATA)
        CUDNN_TRY(what, cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &cap));
    else
        CUDNN_TRY(what, cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &cap));
    if (cap < 1) cap = 1;
    perf = calloc((size_t)cap, sizeof(cudnnConvolutionFwdAlgoPerf_t) +
                                   sizeof(cudnnConvolutionBwdDataAlgoPerf_t) +
                                   sizeof(cudnnConvolutionBwdFilterAlgoPerf_t));
    *out = (ranked_algo *)calloc((size_t)cap, sizeof **out);
    if (!perf || !*out) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", what);
#define RANK_COPY(T)                                                                        \
    for (int i = 0; i < got; i++) {                                                         \
        const T *r = (const T *)perf + i;                                                   \
        (*out)[i] =                                                                         \
            ranked_algo{ (int)r->algo, r->status, r->memory, r->determinism, r->mathType }; \
    }
    if (dir == CXR_CONV_FWD) {
        CUDNN_TRY(what, cudnnGetConvolutionForwardAlgorithm_v7(
                            h, p->x, p->w, p->conv[dir], p->y, cap, &got,
                            (cudnnConvolutionFwdAlgoPerf_t *)perf));
        RANK_COPY(cudnnConvolutionFwdAlgoPerf_t)
    } else if (dir == CXR_CONV_BWD_DATA) {
        CUDNN_TRY(what, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                            h, p->w, p->y, p->conv[dir], p->x, cap, &got,
                            (cudnnConvolutionBwdDataAlgoPerf_t *)perf));
        RANK_COPY(cudnnConvolutionBwdDataAlgoPerf_t)
    } else {
        CUDNN_TRY(what, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                            h, p->x, p->y, p->conv[dir], p->w, cap, &got,
                            (cudnnConvolutionBwdFilterAlgoPerf_t *)perf));
        RANK_COPY(cudnnConvolutionBwdFilterAlgoPerf_t)
    }
#undef RANK_COPY
    *n = got;
bail:
    free(perf);
    if (st != CXR_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* cuDNN's workspace for algorithm a of direction dir with the descriptor as it is set; any
 * status but success (NOT_SUPPORTED: the algorithm cannot run this shape with this math type)
 * means the algorithm is not usable. */
static cudnnStatus_t workspace_of(cudnnHandle_t h, const cxr_conv_plan *p, int dir, int a,
                                  size_t *bytes)
{
    if (dir == CXR_CONV_FWD)
        return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv[dir], p->y,
                                                       (cudnnConvolutionFwdAlgo_t)a, bytes);
    if (dir == CXR_CONV_BWD_DATA)
        return cudnnGetConvolutionBackwardDataWorkspaceSize(
            h, p->w, p->y, p->conv[dir], p->x, (cudnnConvolutionBwdDataAlgo_t)a, bytes);
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(
        h, p->x, p->y, p->conv[dir], p->w, (cudnnConvolutionBwdFilterAlgo_t)a, bytes);
}

/* Try algorithm a with math type m on direction dir: usable when cuDNN confirms a workspace
 * within the limit. Sets the descriptor's math type (left set when usable). */
static int try_algo(cudnnHandle_t h, cxr_conv_plan *p, int dir, int a, cudnnMathType_t m)
{
    size_t ws = 0;
    if (cudnnSetConvolutionMathType(p->conv[dir], m) != CUDNN_STATUS_SUCCESS) return 0;
    if (workspace_of(h, p, dir, a, &ws) != CUDNN_STATUS_SUCCESS || ws > CONV_WS_LIMIT) return 0;
    p->algo[dir] = a;
    p->ws[dir] = ws;
    p->math[dir] = m;
    return 1;
}

/* Choose direction dir's algorithm of plan p (first use of that direction). */
static cxr_status plan_choose(cxr_cuda_backend *b, cxr_conv_plan *p, int dir, const char *what)
{
    cxr_status st = CXR_OK;
    cudnnHandle_t h = b->cu->cudnn;
    const int fp32 = p->prec == CXR_PRECISION_FP32;
    /* fp32: FMA kernels only. tf32 (and bf16, whose convolutions run as tf32): tensor cores on
     * fp32 data, i.e. TF32 inputs with fp32 accumulation (never down-conversion to fp16). */
    const cudnnMathType_t want = fp32 ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH;
    ranked_algo *r = NULL;
    int n = 0, rank = -1;
    char line[256];
    if (!p->conv[dir]) /* a direction tried again after a failure keeps its descriptor */
        CUDNN_TRY(what, cudnnCreateConvolutionDescriptor(&p->conv[dir]));
    CUDNN_TRY(what, cudnnSetConvolution2dDescriptor(p->conv[dir], 1, 1, 1, 1, 1, 1,
                                                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    CUDNN_TRY(what, cudnnSetConvolutionMathType(p->conv[dir], want));
    CXR_TRY(rank_algos(h, p, dir, &r, &n, what));
    for (int i = 0; i < n && rank < 0; i++) {
        if (r[i].status != CUDNN_STATUS_SUCCESS || r[i].determinism != CUDNN_DETERMINISTIC ||
            r[i].memory > CONV_WS_LIMIT || !algo_allowed(dir, r[i].algo, p->prec) ||
            r[i].math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
            continue;
        /* fp32 runs every algorithm with FMA math, whatever math the heuristic ranked it
         * under; tf32 takes the math type the entry was ranked with */
        if (try_algo(h, p, dir, r[i].algo, fp32 ? CUDNN_FMA_MATH : r[i].math)) rank = i;
    }
    if (rank < 0) {
        /* the heuristic offered nothing usable: the exact algorithms in a fixed order */
        static const int fwd[] = { CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                   CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                   CUDNN_CONVOLUTION_FWD_ALGO_GEMM };
        const int *cand = dir == CXR_CONV_FWD ? fwd : NULL;
        const int nc = dir == CXR_CONV_FWD ? 3 : 1;
        for (int i = 0; i < nc && p->algo[dir] < 0; i++)
            try_algo(h, p, dir, cand ? cand[i] : 1 /* BWD_*_ALGO_1 */, want);
        if (p->algo[dir] < 0)
            CXR_THROW(CXR_E_CUDA,
                      "%s: cuDNN offers no deterministic %s algorithm for %s (%d ranked)", what,
                      dir_names[dir], cxr_precision_name(p->prec), n);
    }
    if (b->log) {
        snprintf(line, sizeof line,
                 "cuda conv N=%d C=%d K=%d %dx%d %s %s: %s (%s, workspace %.1f MiB, %s)", p->N,
                 p->C, p->K, p->H, p->W, cxr_precision_name(p->prec), dir_names[dir],
                 algo_name(dir, p->algo[dir]), math_name(p->math[dir]),
                 (double)p->ws[dir] / 1048576.0,
                 rank >= 0 ? (rank == 0 ? "heuristic's first" : "heuristic's first usable")
                           : "fixed fallback");
        b->log(b->log_user, line);
    }
bail:
    free(r);
    return st;
}

static cxr_status plan_build(cxr_conv_plan *p, int N, int C, int K, int H, int W,
                             cxr_precision prec, const char *what)
{
    cxr_status st = CXR_OK;
    plan_release(p);
    p->used = 1;
    p->N = N, p->C = C, p->K = K, p->H = H, p->W = W, p->prec = prec;
    for (int d = 0; d < CXR_CONV_DIRS; d++) p->algo[d] = -1;
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
    return CXR_OK;
bail:
    plan_release(p);
    return st;
}

/* The cached plan for a shape with direction dir ready (descriptors on first use of the shape,
 * the direction's algorithm on its first use). */
static cxr_status plan_get(cxr_cuda_backend *b, cxr_conv_plan **out, int dir, int N, int C, int K,
                           int H, int W, const char *what)
{
    cxr_status st = CXR_OK;
    const cxr_precision prec = b->cu->precision;
    cxr_conv_plan *p = NULL;
    for (int i = 0; i < CXR_CONV_PLANS && !p; i++) {
        cxr_conv_plan *q = &b->plans[i];
        if (q->used && q->N == N && q->C == C && q->K == K && q->H == H && q->W == W &&
            q->prec == prec)
            p = q;
    }
    if (!p) {
        for (int i = 0; i < CXR_CONV_PLANS && !p; i++)
            if (!b->plans[i].used) p = &b->plans[i];
        if (!p) {
            p = &b->plans[b->next_evict];
            b->next_evict = (b->next_evict + 1) % CXR_CONV_PLANS;
        }
        CXR_TRY(plan_build(p, N, C, K, H, W, prec, what));
    }
    if (p->algo[dir] < 0) CXR_TRY(plan_choose(b, p, dir, what));
    *out = p;
bail:
    return st;
}

/* out = conv(in, w) without the bias (beta 0: out is only written); the plan for the shape in
 * *pp. */
static cxr_status conv_forward_plain(cxr_cuda_backend *be, cxr_conv_plan **pp, float *out,
                                     const float *in, const float *w, int N, int C, int K, int H,
                                     int W, const char *what)
{
    cxr_status st = CXR_OK;
    cxr_conv_plan *p = NULL;
    void *ws = NULL;
    const float one = 1.0f, zero = 0.0f;
    CXR_TRY(plan_get(be, &p, CXR_CONV_FWD, N, C, K, H, W, what));
    ws = cxr_cuda_workspace(be->cu, p->ws[CXR_CONV_FWD]);
    if (!ws && p->ws[CXR_CONV_FWD]) return cxr_wrap_error(cxr_cuda_grow_status(), "%s", what);
    CUDNN_TRY(what,
              cudnnConvolutionForward(be->cu->cudnn, &one, p->x, in, p->w, w, p->conv[CXR_CONV_FWD],
                                      (cudnnConvolutionFwdAlgo_t)p->algo[CXR_CONV_FWD], ws,
                                      p->ws[CXR_CONV_FWD], &zero, p->y, out));
    *pp = p;
bail:
    return st;
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
    const float one = 1.0f;
    char what[96];
    snprintf(what, sizeof what, "conv3x3_forward (N=%d C=%d K=%d %dx%d)", N, C, K, H, W);
    CXR_TRY(conv_forward_plain(be, &p, out, in, w, N, C, K, H, W, what));
    CUDNN_TRY(what, cudnnAddTensor(be->cu->cudnn, &one, p->bias, b, &one, p->y, out));
bail:
    return st;
}

/* The fused forward's epilogue (one pass over the conv map, which cuDNN wrote without bias):
 * v = map + b[k] and y = v > 0 ? v : alpha v, with round-to-nearest adds and multiplies and
 * no contraction, i.e. the bits cudnnAddTensor and the leaky ReLU kernel give. */
__device__ __forceinline__ float bias_lrelu(float x, float bk, float alpha)
{
    const float v = __fadd_rn(x, bk);
    return v > 0.0f ? v : __fmul_rn(alpha, v);
}

/* No pool (conv1): y written over the map, elementwise, (N*K planes of HW). */
__global__ void conv_epilogue_lrelu(float *out /* (N,K,HW), may be map */,
                                    const float *map /* (N,K,HW) */,
                                    const float *__restrict__ b /* (K) */, float alpha,
                                    size_t total, int K, size_t HW)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const int k = (int)((i / HW) % (size_t)K);
        out[i] = bias_lrelu(map[i], b[k], alpha);
    }
}

/* With the 2x2 pool: one thread per pooled element (plane P = n*K + k, row i, column j) reads
 * its window (two float2 rows), activates the four values, writes them to out when out is not
 * NULL (it may be map itself), and the window's max and argmax with the CPU's comparisons
 * (cxr_pool_row: a later element wins only when strictly greater: ties to the lowest index,
 * NaN never wins). */
__global__ void conv_epilogue_lrelu_pool(float *__restrict__ pooled /* (N,K,Ho,Wo) */,
                                         uint8_t *__restrict__ idx /* (N,K,Ho,Wo) */,
                                         float *out /* (N,K,H,W) or NULL; may alias map */,
                                         const float *map /* (N,K,H,W) */,
                                         const float *__restrict__ b /* (K) */, float alpha,
                                         size_t total, int K, int H, int W)
{
    const int Ho = H / 2, Wo = W / 2;
    const size_t phw = (size_t)Ho * Wo;
    for (size_t o = blockIdx.x * (size_t)blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        const size_t P = o / phw;
        const int r = (int)(o - P * phw), i = r / Wo, j = r - i * Wo;
        const float bk = b[(int)(P % (size_t)K)];
        const size_t a0 = (P * H + 2 * (size_t)i) * W + 2 * (size_t)j, a1 = a0 + W;
        const float2 u = *(const float2 *)(map + a0), v = *(const float2 *)(map + a1);
        const float y0 = bias_lrelu(u.x, bk, alpha), y1 = bias_lrelu(u.y, bk, alpha);
        const float y2 = bias_lrelu(v.x, bk, alpha), y3 = bias_lrelu(v.y, bk, alpha);
        if (out) {
            *(float2 *)(out + a0) = make_float2(y0, y1);
            *(float2 *)(out + a1) = make_float2(y2, y3);
        }
        float m = y0;
        uint8_t a = 0;
        if (y1 > m) m = y1, a = 1;
        if (y2 > m) m = y2, a = 2;
        if (y3 > m) m = y3, a = 3;
        pooled[o] = m;
        idx[o] = a;
    }
}

/* cuDNN's convolution with beta 0, then ONE epilogue kernel for bias + leaky ReLU (+ pool):
 * where the unfused ops stream the map four more times (add bias, activate, pool). Without
 * out, cuDNN writes into the backend's map buffer (grown to the largest layer) and only the
 * pooled map and its argmax leave the epilogue. Same bits as conv3x3_forward_cuda, the leaky
 * ReLU and maxpool2 kernels run one after the other. */
extern "C" cxr_status cxr_conv3x3_lrelu_pool_forward_cuda(
    void *ctx, float *out /* (N,K,H,W) or NULL */, float *pooled /* (N,K,H/2,W/2) or NULL */,
    uint8_t *idx /* (N,K,H/2,W/2) or NULL */, const float *in /* (N,C,H,W) */,
    const float *w /* (K,C,3,3) */, const float *b /* (K) */, float alpha, int N, int C, int K,
    int H, int W)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *be = (cxr_cuda_backend *)ctx;
    cxr_conv_plan *p = NULL;
    float *map = out;
    char what[112];
    snprintf(what, sizeof what, "conv3x3_lrelu_pool_forward (N=%d C=%d K=%d %dx%d)", N, C, K, H, W);
    if (!out && !pooled) return cxr_set_error(CXR_E_ARG, "%s: no output", what);
    if (pooled && (!idx || ((H | W) & 1)))
        return cxr_set_error(CXR_E_ARG, "%s: pool of %dx%d (idx %p)", what, H, W, (void *)idx);
    if (!map) {
        const size_t bytes = (size_t)N * K * H * W * sizeof(float);
        map = (float *)cxr_cuda_grow((void **)&be->map, &be->map_bytes, bytes, (size_t)16 << 20,
                                     be->cu->compute, "conv map");
        if (!map) return cxr_wrap_error(cxr_cuda_grow_status(), "%s", what);
    }
    CXR_TRY(conv_forward_plain(be, &p, map, in, w, N, C, K, H, W, what));
    if (pooled) {
        const size_t total = (size_t)N * K * (H / 2) * (W / 2);
        conv_epilogue_lrelu_pool<<<cxr_grid_for(total), 256, 0, be->cu->compute>>>(
            pooled, idx, out, map, b, alpha, total, K, H, W);
    } else {
        const size_t total = (size_t)N * K * H * W;
        conv_epilogue_lrelu<<<cxr_grid_for(total), 256, 0, be->cu->compute>>>(
            out, map, b, alpha, total, K, (size_t)H * W);
    }
    CUDA_LAUNCH_CHECK(what);
bail:
    return st;
}

/* Bias gradient in two deterministic passes, with N x K blocks so that the work fills the GPU
 * (one block per channel would leave most SMs idle: specs/gpu.md): block (n, k) sums the plane
 * dout[n,k,:] (contiguous, coalesced) in double, threads striding the plane and then a fixed
 * tree, into part[k,n]; then one thread per channel adds part[k,0..N-1] in image order,
 * written to db[k]. */
__global__ void conv_bias_part(double *__restrict__ part /* (K,N) */,
                               const float *__restrict__ dout /* (N,K,HW) */, int N, int K, int HW)
{
    __shared__ double sh[256];
    const int n = blockIdx.x, k = blockIdx.y; /* the batch on x: y stops at 65535 */
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
    db[k] = (float)s;
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
    const float one = 1.0f, zero = 0.0f;
    char what[96];
    snprintf(what, sizeof what, "conv3x3_backward (N=%d C=%d K=%d %dx%d)", N, C, K, H, W);
    CXR_TRY(plan_get(be, &p, CXR_CONV_BWD_FILTER, N, C, K, H, W, what));
    if (din) CXR_TRY(plan_get(be, &p, CXR_CONV_BWD_DATA, N, C, K, H, W, what));
    need = p->ws[CXR_CONV_BWD_FILTER];
    if (din && p->ws[CXR_CONV_BWD_DATA] > need) need = p->ws[CXR_CONV_BWD_DATA];
    ws = cxr_cuda_workspace(be->cu, need);
    if (!ws && need) return cxr_wrap_error(cxr_cuda_grow_status(), "%s", what);
    part = (double *)cxr_cuda_scratch(be, (size_t)K * N * sizeof(double));
    if (!part) return cxr_wrap_error(cxr_cuda_grow_status(), "%s (bias partial sums)", what);
    conv_bias_part<<<dim3((unsigned)N, (unsigned)K), 256, 0, be->cu->compute>>>(part, dout, N, K,
                                                                                H * W);
    CUDA_LAUNCH_CHECK(what);
    conv_bias_sum<<<(K + 255) / 256, 256, 0, be->cu->compute>>>(db, part, N, K);
    CUDA_LAUNCH_CHECK(what);
    CUDNN_TRY(what, cudnnConvolutionBackwardFilter(
                        be->cu->cudnn, &one, p->x, in, p->y, dout, p->conv[CXR_CONV_BWD_FILTER],
                        (cudnnConvolutionBwdFilterAlgo_t)p->algo[CXR_CONV_BWD_FILTER], ws,
                        p->ws[CXR_CONV_BWD_FILTER], &zero, p->w, dw));
    if (din)
        CUDNN_TRY(what, cudnnConvolutionBackwardData(
                            be->cu->cudnn, &one, p->w, w, p->y, dout, p->conv[CXR_CONV_BWD_DATA],
                            (cudnnConvolutionBwdDataAlgo_t)p->algo[CXR_CONV_BWD_DATA], ws,
                            p->ws[CXR_CONV_BWD_DATA], &zero, p->x, din));
bail:
    return st;
}
