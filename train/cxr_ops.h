/* cxr_ops.h: the model's layer operations and the per-op backend dispatch table.
 *
 * Every op exists as a CPU reference (train/conv.c, pool.c, dense.c, act.c, loss.c, adam.c;
 * OpenMP, our kernels and oneDNN, named *_cpu) and, when CUDA is on, as a GPU twin beside it
 * (conv.cu...).
 * The model graph (train/model.c) is written once and calls ops only through a cxr_backend,
 * a table of function pointers (ggml's backend interface has the same shape): each op's
 * signature and contract is one function type below; the CPU backend fills the table with its
 * *_cpu functions (cpu_internal.h), the CUDA backend with kernels on device pointers
 * (cxr_backend_cuda.h). Slots marked "(optional)" may be NULL.
 *
 * Conventions (house style, specs/model.md):
 *  - Layout NCHW float32, row-major; conv weights (K,C,3,3); dense weights (OUT,IN), i.e.
 *    out = in @ W^T + b (the PyTorch layout); a flattened conv map is in (c,h,w) order.
 *  - Argument order: backend context first (like a cuBLAS handle), then outputs, cached
 *    values, inputs, weights, sizes last. Every pointer carries a shape comment.
 *  - All pointers are backend memory (host memory for the CPU backend, device memory for a
 *    GPU backend) unless marked "host".
 *  - Backward ops WRITE their gradient outputs (dW, db, din, dlogits): every element is
 *    overwritten and nothing is read from them, so no zeroing is needed (a GPU writes them with
 *    beta 0 instead of a memset then beta 1). Exception: the elementwise ops (leaky ReLU
 *    backward, dropout) rescale a gradient in place.
 *  - Ops return CXR_OK or an error (CXR_E_NOMEM when scratch cannot grow, CXR_E_CUDA...) with
 *    a message naming the op. They never print.
 *  - Determinism: for a given backend, thread count and input, results are bit-identical
 *    (no reductions in scheduling-dependent order).
 */
#ifndef CXR_OPS_H
#define CXR_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ op signatures
 * Each op's contract, written once. A backend implements the ops as functions of these types
 * (CPU: cxr_*_cpu, declared in cpu_internal.h; CUDA: cxr_*_cuda, in cuda_ops.cuh) and puts
 * them into the table below. ctx is the backend's own state (cxr_backend.ctx). */

/* 3x3 convolution, stride 1, zero padding 1 ('same'). */
typedef cxr_status cxr_conv3x3_forward_fn(void *ctx, float *out /* (N,K,H,W) */,
                                          const float *in /* (N,C,H,W) */,
                                          const float *w /* (K,C,3,3) */, const float *b /* (K) */,
                                          int N, int C, int K, int H, int W);
/* din may be NULL (first layer: no input gradient needed). */
typedef cxr_status cxr_conv3x3_backward_fn(void *ctx, float *din /* (N,C,H,W) or NULL */,
                                           float *dw /* (K,C,3,3) */, float *db /* (K) */,
                                           const float *dout /* (N,K,H,W) */,
                                           const float *in /* (N,C,H,W) */,
                                           const float *w /* (K,C,3,3) */, int N, int C, int K,
                                           int H, int W);
/* 2x2 max pool, stride 2 (H, W even). idx records the argmax in the window:
 * 0 (y,x) 1 (y,x+1) 2 (y+1,x) 3 (y+1,x+1); ties go to the lowest index. */
typedef cxr_status cxr_maxpool2_forward_fn(void *ctx, float *out /* (N,C,H/2,W/2) */,
                                           uint8_t *idx /* (N,C,H/2,W/2) */,
                                           const float *in /* (N,C,H,W) */, int N, int C, int H,
                                           int W);
/* din is written whole: dout at each window's argmax, 0 at the other three elements. */
typedef cxr_status cxr_maxpool2_backward_fn(void *ctx, float *din /* (N,C,H,W) */,
                                            const float *dout /* (N,C,H/2,W/2) */,
                                            const uint8_t *idx /* (N,C,H/2,W/2) */, int N, int C,
                                            int H, int W);
/* Fully connected: out = in @ W^T + b. */
typedef cxr_status cxr_dense_forward_fn(void *ctx, float *out /* (N,OUT) */,
                                        const float *in /* (N,IN) */, const float *w /* (OUT,IN) */,
                                        const float *b /* (OUT) */, int N, int IN, int OUT);
typedef cxr_status cxr_dense_backward_fn(void *ctx, float *din /* (N,IN) or NULL */,
                                         float *dw /* (OUT,IN) */, float *db /* (OUT) */,
                                         const float *dout /* (N,OUT) */,
                                         const float *in /* (N,IN) */,
                                         const float *w /* (OUT,IN) */, int N, int IN, int OUT);
/* Leaky ReLU y = x > 0 ? x : alpha*x; out may equal in (in place). */
typedef cxr_status cxr_leaky_relu_forward_fn(void *ctx, float *out /* (n) */,
                                             const float *in /* (n) */, float alpha, size_t n);
/* In place: d *= (y > 0 ? 1 : alpha), with y the forward OUTPUT (alpha > 0 keeps the sign,
 * so the output suffices and the pre-activation need not be stored). */
typedef cxr_status cxr_leaky_relu_backward_fn(void *ctx, float *d /* (n) dL/dy in, dL/dx out */,
                                              const float *y /* (n) */, float alpha, size_t n);
/* Inverted dropout, in place: x[i] *= keep(i) ? 1/keep_prob : 0, with keep(i) from
 * rng.h cxr_dropout_keep(key, i, cxr_dropout_threshold(keep_prob)). The same call applies
 * the mask to the activations (forward) and to their gradient (backward). */
typedef cxr_status cxr_dropout_apply_fn(void *ctx, float *x /* (n) */, uint64_t key,
                                        float keep_prob, size_t n);
/* Row softmax: probs (N,C) from logits (N,C) (max-subtracted, in float). */
typedef cxr_status cxr_softmax_forward_fn(void *ctx, float *probs /* (N,C) */,
                                          const float *logits /* (N,C) */, int N, int C);
/* Class-weighted softmax cross-entropy with label smoothing eps in [0,1), forward and backward
 * in one pass. The target of image i is q_i[c] = (1-eps) [c == y_i] + eps/C (eps = 0: one-hot):
 *   L = sum_i w[y_i] * (-sum_c q_i[c] log p_i[c]) / sum_i w[y_i]
 *   dlogits[i,c] = w[y_i] * (p_i[c] - q_i[c]) / sum_j w[y_j]
 * with q's two values rounded to float once (eps/C and 1 - eps + eps/C), so eps = 0 is the
 * plain cross-entropy to the bit. loss (1 element, backend memory) is overwritten with L; probs
 * receives the softmax. class_weights may be NULL (all 1). Labels must be in [0,C) and eps in
 * [0,1): the model checks them on the host before calling.
 * Mixup (mix != NULL, with labels2; cxr_loader.h): image i counts a_i = mix_i w[y_i] for its
 * label and b_i = (1 - mix_i) w[y2_i] for its partner's (in double), W = sum_i (a_i + b_i):
 *   L = sum_i (a_i CE(q_{y_i}) + b_i CE(q_{y2_i})) / W
 *   dlogits[i,c] = (a_i/W) (p_i[c] - q_{y_i}[c]) + (b_i/W) (p_i[c] - q_{y2_i}[c])
 * (products and sums in double, in that order, rounded to float at the end). mix must be in
 * [0,1]; every mix 1 gives the unmixed loss (the gradient within rounding). */
/* Mixup's weights of image i's label and of its partner's: a = mix w[y], b = (1 - mix) w[y2]
 * (cw NULL: weights 1), in double; the loss divides by the batch's sum of a + b. The CPU op,
 * the model's checks and the trainer's epoch mean take them from here (the CUDA op repeats
 * the same products with explicit roundings). */
static inline void cxr_mix_weights(float mix, int32_t y, int32_t y2, const float *cw, double *a,
                                   double *b)
{
    *a = (double)mix * (cw ? (double)cw[y] : 1.0);
    *b = (1.0 - (double)mix) * (cw ? (double)cw[y2] : 1.0);
}
typedef cxr_status cxr_softmax_xent_fn(void *ctx, float *loss /* (1) */, float *dlogits /* (N,C) */,
                                       float *probs /* (N,C) */, const float *logits /* (N,C) */,
                                       const int32_t *labels /* (N) */,
                                       const int32_t *labels2 /* (N) or NULL */,
                                       const float *mix /* (N) or NULL */,
                                       const float *class_weights /* (C) or NULL */, float eps,
                                       int N, int C);
/* The smoothed target's two values, rounded to float once (q_on on the label, q_off elsewhere),
 * and the loss's weights of z[y] and of sum_c z[c] in double (l_on, l_all); eps = 0: 1, 0, 1, 0.
 * The CPU op and the CUDA op's host side both take them from here, so they agree to the bit. */
typedef struct {
    float q_on, q_off;
    double l_on, l_all;
} cxr_smoothing;
static inline cxr_smoothing cxr_smoothing_of(float eps, int C)
{
    cxr_smoothing s;
    s.q_off = eps / (float)C;
    s.q_on = 1.0f - eps + s.q_off;
    s.l_on = 1.0 - (double)eps;
    s.l_all = (double)eps / C;
    return s;
}
/* Adam with bias correction, one flat loop over all parameters (t >= 1 is the step), with
 * AdamW's decoupled weight decay wd (Loshchilov & Hutter; torch.optim.AdamW):
 *   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *   p = p * (1 - lr*wd) - lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * The factor 1 - lr*wd is rounded to float once; wd = 0 makes it exactly 1, so plain Adam's
 * bits are unchanged. */
typedef cxr_status cxr_adam_step_fn(void *ctx, float *params /* (n) */, float *m /* (n) */,
                                    float *v /* (n) */, const float *grads /* (n) */, size_t n,
                                    float lr, float beta1, float beta2, float eps, float wd,
                                    int64_t t);
/* Fused: conv3x3_forward + leaky ReLU, and when pooled != NULL also maxpool2_forward of the
 * activated map. out (the activated map) may be NULL when pooled is given: the full map is
 * then never written to memory. H and W even when pooled != NULL. Results equal the separate
 * ops' bit for bit on the CPU backend. */
typedef cxr_status cxr_conv3x3_lrelu_pool_forward_fn(void *ctx, float *out /* (N,K,H,W) or NULL */,
                                                     float *pooled /* (N,K,H/2,W/2) or NULL */,
                                                     uint8_t *idx /* (N,K,H/2,W/2) or NULL */,
                                                     const float *in /* (N,C,H,W) */,
                                                     const float *w /* (K,C,3,3) */,
                                                     const float *b /* (K) */, float alpha, int N,
                                                     int C, int K, int H, int W);
/* Fused: maxpool2_backward + leaky_relu_backward in one pass. din is OVERWRITTEN (no zeroing
 * needed): din[argmax] = dout * (y > 0 ? 1 : alpha), 0 elsewhere, where y is the pooled
 * activation as the forward left it (dropout applied in place keeps the sign where kept, and
 * where dropped dout is 0). Results equal the separate ops' bit for bit on the CPU backend. */
typedef cxr_status cxr_maxpool2_lrelu_backward_fn(void *ctx, float *din /* (N,C,H,W) */,
                                                  const float *dout /* (N,C,H/2,W/2) */,
                                                  const uint8_t *idx /* (N,C,H/2,W/2) */,
                                                  const float *y /* (N,C,H/2,W/2) */, float alpha,
                                                  int N, int C, int H, int W);

/* Global average pool (the `gap` head, cxr_model.h): out[n,c] = the mean of in[n,c,0..HW-1],
 * summed in double in index order and rounded to float once. */
typedef cxr_status cxr_global_avgpool_forward_fn(void *ctx, float *out /* (N,C) */,
                                                 const float *in /* (N,C,HW) */, int N, int C,
                                                 int HW);
/* din[n,c,j] = dout[n,c] / HW for every j; din is written whole. */
typedef cxr_status cxr_global_avgpool_backward_fn(void *ctx, float *din /* (N,C,HW) */,
                                                  const float *dout /* (N,C) */, int N, int C,
                                                  int HW);

/* k x k average pool, stride k (the model's input pool): out[n,c,i,j] = the mean of the window
 * in[n,c,ki..ki+k-1, kj..kj+k-1], summed in double in row-major order, rounded to float once.
 * H and W multiples of k. Forward only (the input needs no gradient). */
typedef cxr_status cxr_avgpool_forward_fn(void *ctx, float *out /* (N,C,H/k,W/k) */,
                                          const float *in /* (N,C,H,W) */, int N, int C, int H,
                                          int W, int k);

/* out[i] = in[i] * scale + shift for i < n (out may be in): the model's input scale
 * (cxr_model_config.input_scale). One rounding after the product, one after the sum (no
 * fused multiply-add), so every backend gives the same bits. */
typedef cxr_status cxr_scale_shift_fn(void *ctx, float *out /* (n) */, const float *in /* (n) */,
                                      float scale, float shift, size_t n);

/* ------------------------------------------------------------------ backend table */
#define CXR_BACKEND_FENCES 4 /* fence_mark / fence_wait */
typedef struct cxr_backend cxr_backend;
struct cxr_backend {
    const char *name; /* "cpu" or "cuda" */
    void *ctx;        /* backend state: CPU = thread count + per-thread scratch; CUDA = handles */
    int on_device;    /* 0: pointers are host memory; 1: device memory */

    void (*destroy)(cxr_backend *be); /* frees ctx and be itself */
    /* Worker threads for the CPU backend (<= 0: all cores); a GPU backend may ignore it. */
    cxr_status (*set_threads)(void *ctx, int n_threads);

    /* memory: alloc returns zeroed memory aligned to >= 64 bytes; free is NULL-safe. */
    cxr_status (*alloc)(void *ctx, void **p, size_t bytes);
    void (*free)(void *ctx, void *p);
    cxr_status (*zero)(void *ctx, void *p, size_t bytes);
    cxr_status (*upload)(void *ctx, void *dst, const void *src_host, size_t bytes);
    cxr_status (*download)(void *ctx, void *dst_host, const void *src, size_t bytes);
    cxr_status (*sync)(void *ctx); /* wait until queued work is done */
    /* Copies that do not stall the queue (optional, all five or none; NULL: the caller copies
     * synchronously). host_alloc returns zeroed host memory that upload and download_async
     * copy from/to directly (page-locked on a GPU), host_free is NULL-safe. download_async
     * queues a copy of src into dst_host behind the work queued so far and returns without
     * waiting; upload from host_alloc memory does not wait either, so the source must not be
     * rewritten before the copy is done. fence_mark marks fence `fence` (0 <= fence <
     * CXR_BACKEND_FENCES) behind the work queued so far; fence_wait waits until the work up to
     * that fence's last mark is done (a fence never marked: at once). The CPU backend copies
     * at once and its fences are no-ops. */
    cxr_status (*host_alloc)(void *ctx, void **p, size_t bytes);
    void (*host_free)(void *ctx, void *p);
    cxr_status (*download_async)(void *ctx, void *dst_host, const void *src, size_t bytes);
    cxr_status (*fence_mark)(void *ctx, int fence);
    cxr_status (*fence_wait)(void *ctx, int fence);

    /* ops, contracts above */
    cxr_conv3x3_forward_fn *conv3x3_forward;
    cxr_conv3x3_backward_fn *conv3x3_backward;
    cxr_maxpool2_forward_fn *maxpool2_forward;
    cxr_maxpool2_backward_fn *maxpool2_backward;
    cxr_dense_forward_fn *dense_forward;
    cxr_dense_backward_fn *dense_backward;
    cxr_leaky_relu_forward_fn *leaky_relu_forward;
    cxr_leaky_relu_backward_fn *leaky_relu_backward;
    cxr_dropout_apply_fn *dropout_apply;
    cxr_softmax_forward_fn *softmax_forward;
    cxr_softmax_xent_fn *softmax_xent;
    cxr_adam_step_fn *adam_step;

    /* Fused ops. NULL = not provided: the graph then runs the separate ops above instead
     * (model.c takes the fused path only when both slots are set). */
    cxr_conv3x3_lrelu_pool_forward_fn *conv3x3_lrelu_pool_forward; /* (optional) */
    cxr_maxpool2_lrelu_backward_fn *maxpool2_lrelu_backward;       /* (optional) */

    /* Ops of a model variant. NULL = not provided: a model that needs one is refused at
     * creation, naming the backend. */
    cxr_global_avgpool_forward_fn *global_avgpool_forward;   /* (optional) head gap */
    cxr_global_avgpool_backward_fn *global_avgpool_backward; /* (optional) head gap */
    cxr_avgpool_forward_fn *avgpool_forward;                 /* (optional) input_pool > 1 */

    /* The most elements one activation tensor of a batch may hold (0: no limit). cuda: 2^31 - 1,
     * as cuDNN's tensor descriptors: a model whose batch would pass it is refused at creation,
     * naming the largest batch that fits (since 0.14). */
    size_t max_tensor_elems;
    /* (optional) A model's working buffer the backend allocates at the model's first step, of
     * `bytes` (cuda: the fused convolutions' full-size map, plus its workspace cap): a loader
     * that sizes itself to the free memory before that step leaves room for it (since 0.14). */
    void (*reserve)(void *ctx, size_t bytes);
    /* (optional) A model whose input scale is not 1 and 0 needs it (since 0.17); NULL: such a
     * model is refused at creation, naming the backend. */
    cxr_scale_shift_fn *scale_shift;
};

/* The CPU backend (host memory, OpenMP, our kernels and oneDNN). n_threads <= 0: all cores
 * (cxr_backend_cpu_threads: the count it computes with). Free it with be->destroy(be) or
 * cxr_backend_destroy. CXR_E_NOMEM on failure. The CUDA backend is created by
 * cxr_backend_cuda_create (cxr_backend_cuda.h).
 * A thread that runs the backend's ops keeps what they set on it, for the ops that follow, also
 * after the backend is destroyed: its OpenMP default team size (omp_set_num_threads) with
 * dynamic adjustment off (omp_set_dynamic(0)), and, unless CXR_CPU_DENORMALS=keep, flush-to-zero
 * and denormals-are-zero (specs/model.md, "Denormals"); OpenMP's worker threads block
 * asynchronous signals. A host whose own code on that thread needs other settings sets them
 * again after the ops, or runs them on a thread of its own. */
cxr_status cxr_backend_cpu_create(cxr_backend **out, int n_threads);
/* NULL-safe. */
void cxr_backend_destroy(cxr_backend *be);

#ifdef __cplusplus
}
#endif
#endif
