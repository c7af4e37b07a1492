/* cuda_ops.cuh: the CUDA backend's state and its op entry points, shared by backend_cuda.cu and
 * the GPU twins of the CPU ops (conv.cu, pool.cu, dense.cu, act.cu, loss.cu, adam.cu).
 * Not a public header: callers use cxr_ops.h (the table) and cxr_backend_cuda.h. */
#ifndef CXR_CUDA_OPS_CUH
#define CXR_CUDA_OPS_CUH

#include "cuda_internal.cuh"
#include "cxr_ops.h"

#define CXR_CONV_PLANS 24

/* Directions of a convolution plan. */
enum { CXR_CONV_FWD = 0, CXR_CONV_BWD_DATA = 1, CXR_CONV_BWD_FILTER = 2, CXR_CONV_DIRS = 3 };

/* Descriptors of one convolution shape and, per direction once first used, its convolution
 * descriptor (own math type) and the algorithm chosen from cuDNN's heuristic (conv.cu). */
/* Largest workspace a convolution algorithm may ask for (bigger ones are skipped). */
#define CONV_WS_LIMIT ((size_t)1 << 30)

typedef struct {
    int used;
    int N, C, K, H, W;
    cxr_precision prec;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv[CXR_CONV_DIRS]; /* NULL until the direction is used */
    int algo[CXR_CONV_DIRS];                          /* -1 until chosen */
    cudnnMathType_t math[CXR_CONV_DIRS];
    size_t ws[CXR_CONV_DIRS];
} cxr_conv_plan;

/* A bf16 copy of a dense weight tensor for --precision bf16 (dense.cu): made when a dense op
 * first meets the weights, rewritten by every Adam step whose parameter block holds them (in
 * the same kernel, adam.cu), and marked stale when anything else writes them through the table
 * (upload, zero) or frees them; a stale copy is converted again at its next use. No other
 * writer of parameters exists. */
#define CXR_BF16_SHADOWS 8
typedef struct {
    const float *src; /* device (n) fp32 weights; NULL = slot unused */
    size_t n;
    void *dst; /* device (n) __nv_bfloat16 */
    int valid;
} cxr_bf16_shadow;

typedef struct {
    cxr_cuda_ctx *cu; /* owned */
    cxr_conv_plan plans[CXR_CONV_PLANS];
    int next_evict;
    void *scratch; /* op scratch (bf16 operand copies, loss terms), grown */
    size_t scratch_bytes;
    void (*log)(void *user, const char *line); /* cxr_backend_cuda_set_log; NULL: silent */
    void *log_user;
    cxr_bf16_shadow shadow[CXR_BF16_SHADOWS];
    int next_shadow;                       /* round-robin reuse when all slots are taken */
    cudaEvent_t fence[CXR_BACKEND_FENCES]; /* fence_mark's events, created at first use */
    float *map;                            /* conv3x3_lrelu_pool_forward: the conv map when the
                                              caller keeps none, grown */
    size_t map_bytes;
} cxr_cuda_backend;

#ifdef __cplusplus
extern "C" {
#endif
/* Backend scratch of at least `bytes` on the compute stream (grown: synchronizes once). NULL
 * with CXR_E_NOMEM set when it cannot grow. */
void *cxr_cuda_scratch(cxr_cuda_backend *b, size_t bytes);
void cxr_conv_plans_destroy(cxr_cuda_backend *b);
/* Mark stale every bf16 shadow whose weights overlap [p, p + bytes) (written through the table;
 * bytes SIZE_MAX: every shadow); drop = 1 also frees them (the memory is being freed). */
void cxr_bf16_shadows_touch(cxr_cuda_backend *b, const void *p, size_t bytes, int drop);


/* The CUDA ops (conv.cu, pool.cu, dense.cu, act.cu, loss.cu, adam.cu): the CUDA backend's table
 * entries, contracts in cxr_ops.h. ctx is the cxr_cuda_backend. */
cxr_conv3x3_forward_fn cxr_conv3x3_forward_cuda;
cxr_conv3x3_backward_fn cxr_conv3x3_backward_cuda;
cxr_maxpool2_forward_fn cxr_maxpool2_forward_cuda;
cxr_maxpool2_backward_fn cxr_maxpool2_backward_cuda;
cxr_dense_forward_fn cxr_dense_forward_cuda;
cxr_dense_backward_fn cxr_dense_backward_cuda;
cxr_leaky_relu_forward_fn cxr_leaky_relu_forward_cuda;
cxr_scale_shift_fn cxr_scale_shift_cuda;
cxr_leaky_relu_backward_fn cxr_leaky_relu_backward_cuda;
cxr_dropout_apply_fn cxr_dropout_apply_cuda;
cxr_softmax_forward_fn cxr_softmax_forward_cuda;
cxr_softmax_xent_fn cxr_softmax_xent_cuda;
cxr_adam_step_fn cxr_adam_step_cuda;
cxr_conv3x3_lrelu_pool_forward_fn cxr_conv3x3_lrelu_pool_forward_cuda;
cxr_maxpool2_lrelu_backward_fn cxr_maxpool2_lrelu_backward_cuda;
cxr_global_avgpool_forward_fn cxr_global_avgpool_forward_cuda;
cxr_global_avgpool_backward_fn cxr_global_avgpool_backward_cuda;
cxr_avgpool_forward_fn cxr_avgpool_forward_cuda;
#ifdef __cplusplus
}
#endif

#endif
