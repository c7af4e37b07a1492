/* dnnl_cpu.h: oneDNN primitives for the CPU backend (dnnl_cpu.c), present in a build with
 * -DCXR_DNNL=ON (CXR_HAVE_DNNL). Not a public header. Semantics as the ops in cxr_ops.h: forward
 * outputs and gradients are written (nothing is read from them). Errors: CXR_E_UNSUPPORTED when oneDNN has
 * no implementation on this CPU (bf16 on a CPU without AVX-512), CXR_E_NOMEM, CXR_E_INTERNAL. */
#ifndef CXR_DNNL_CPU_H
#define CXR_DNNL_CPU_H

#include <stddef.h>

#include "cxr_status.h"

typedef struct cxr_dnnl cxr_dnnl;

/* bf16: convolutions and matmuls read bf16 copies of inputs and weights, write fp32. */
cxr_status cxr_dnnl_create(cxr_dnnl **out, int bf16);
void cxr_dnnl_destroy(cxr_dnnl *d); /* NULL-safe */
/* out (N,K,H,W) = conv3x3(in (N,C,H,W), w (K,C,3,3)) + b, leaky ReLU (alpha) when relu.
 * relu_left NULL: the ReLU is applied when relu. relu_left given (with relu): oneDNN may leave the
 * ReLU to the caller, and says so in *relu_left (1: out holds conv + b only): where its forward
 * without the ReLU is Winograd and C >= 32 (oneDNN 2.6 has no Winograd forward with a leaky ReLU
 * post-op; on AVX-512 the study's conv3 and conv4 at batch 64; specs/model.md "Winograd
 * forward"). CXR_DNNL_FWD=fused keeps the fused direct forward. */
cxr_status cxr_dnnl_conv_forward(cxr_dnnl *d, float *out, const float *in, const float *w,
                                 const float *b, float alpha, int relu, int *relu_left, int N,
                                 int C, int K, int H, int W);
/* din (N,C,H,W) = the input gradient of dout (N,K,H,W) */
cxr_status cxr_dnnl_conv_backward_data(cxr_dnnl *d, float *din, const float *dout, const float *w,
                                       int N, int C, int K, int H, int W);
/* dw (K,C,3,3) = weight gradient, db (K) = bias gradient */
cxr_status cxr_dnnl_conv_backward_weights(cxr_dnnl *d, float *dw, float *db, const float *dout,
                                          const float *in, int N, int C, int K, int H, int W);
/* out (N,OUT) = in (N,IN) @ W^T + b, W (OUT,IN) */
cxr_status cxr_dnnl_dense_forward(cxr_dnnl *d, float *out, const float *in, const float *w,
                                  const float *b, int N, int IN, int OUT);
/* dw (OUT,IN) = dout^T @ in; din (N,IN) = dout @ W (din may be NULL). db: the caller. */
cxr_status cxr_dnnl_dense_backward(cxr_dnnl *d, float *din, float *dw, const float *dout,
                                   const float *in, const float *w, int N, int IN, int OUT);
/* oneDNN's ISA on this CPU ("avx2", "avx512_core_amx"...) and the name of cached primitive i
 * (NULL past the end): for the benchmark's "ISA path" line. */
const char *cxr_dnnl_isa(void);
/* 1 when oneDNN may run avx512_core code here (not capped below it by ONEDNN_MAX_CPU_ISA). */
int cxr_dnnl_isa_avx512_core(void);
/* How convolutions are created: "auto" (oneDNN may pick Winograd, the forward too), "direct
 * ..." or "auto, fused forward ..." (the environment's CXR_DNNL_ALGO and CXR_DNNL_FWD), for the
 * backend's description: each changes the last bits of a run. */
const char *cxr_dnnl_conv_mode(const cxr_dnnl *d);
/* 1 when a bf16 context runs the dense matmuls in bf16 too, 0 when they stay fp32
 * (CXR_DNNL_DENSE=bf16|fp32 chooses; the default is dnnl_cpu.c's DENSE_BF16_DEFAULT). */
int cxr_dnnl_dense_bf16(const cxr_dnnl *d);
const char *cxr_dnnl_last_impl(const cxr_dnnl *d, int i);
/* The largest of the buffers that hold the primitives' copies of their arguments (tests). */
size_t cxr_dnnl_largest_copy(const cxr_dnnl *d);

#endif
