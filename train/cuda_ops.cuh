/* cuda_ops.cuh: the CUDA backend's state and its op entry points, shared by backend_cuda.cu and
 * the GPU twins of the CPU ops (conv.cu, pool.cu, dense.cu, act.cu, loss.cu, adam.cu).
 * Not a public header: callers use ops.h (the table) and cxr_backend_cuda.h. */
#ifndef CXR_CUDA_OPS_CUH
#define CXR_CUDA_OPS_CUH

#include "cuda_internal.cuh"
#include "ops.h"

#define CXR_CONV_PLANS 24

/* Descriptors and measured algorithms of one convolution shape (cached, specs/gpu.md). */
typedef struct {
    int used;
    int N, C, K, H, W;
    cxr_precision prec;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t fwd_conv, bwd_data_conv, bwd_filter_conv; /* own math type each */
    cudnnConvolutionFwdAlgo_t fwd_algo;
    cudnnConvolutionBwdDataAlgo_t bwd_data_algo;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter_algo;
    size_t fwd_ws, bwd_data_ws, bwd_filter_ws;
} cxr_conv_plan;

typedef struct {
    cxr_cuda_ctx *cu; /* owned */
    cxr_conv_plan plans[CXR_CONV_PLANS];
    int next_evict;
    void *scratch; /* op scratch (bf16 operand copies, loss terms), grown */
    size_t scratch_bytes;
} cxr_cuda_backend;

#ifdef __cplusplus
extern "C" {
#endif
/* Backend scratch of at least `bytes` on the compute stream (grown: synchronizes once). NULL
 * with CXR_E_NOMEM set when it cannot grow. */
void *cxr_cuda_scratch(cxr_cuda_backend *b, size_t bytes);
void cxr_conv_plans_destroy(cxr_cuda_backend *b);


/* The CUDA ops (conv.cu, pool.cu, dense.cu, act.cu, loss.cu, adam.cu): the CUDA backend's table
 * entries, contracts in ops.h. ctx is the cxr_cuda_backend. */
cxr_conv3x3_forward_fn cxr_conv3x3_forward_cuda;
cxr_conv3x3_backward_fn cxr_conv3x3_backward_cuda;
cxr_maxpool2_forward_fn cxr_maxpool2_forward_cuda;
cxr_maxpool2_backward_fn cxr_maxpool2_backward_cuda;
cxr_dense_forward_fn cxr_dense_forward_cuda;
cxr_dense_backward_fn cxr_dense_backward_cuda;
cxr_leaky_relu_forward_fn cxr_leaky_relu_forward_cuda;
cxr_leaky_relu_backward_fn cxr_leaky_relu_backward_cuda;
cxr_dropout_apply_fn cxr_dropout_apply_cuda;
cxr_softmax_forward_fn cxr_softmax_forward_cuda;
cxr_softmax_xent_fn cxr_softmax_xent_cuda;
cxr_adam_step_fn cxr_adam_step_cuda;
#ifdef __cplusplus
}
#endif

#endif
