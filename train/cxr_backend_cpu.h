/* cxr_backend_cpu.h: settings of the CPU backend (cxr_ops.h: cxr_backend_cpu_create).
 *
 * The backend computes with our own AVX2+FMA kernels (the conv product at AVX-512 width where
 * the CPU has it), or with oneDNN primitives (a build with -DCXR_DNNL=ON) for the ops and layers
 * where they are the better choice on the CPU at hand; see specs/model.md, "CPU
 * implementation". CXR_CPU_DNNL=none|all|LIST in the environment, LIST of conv_fwd,
 * conv_bwd_data, conv_bwd_w, dense (both passes), dense_fwd, dense_bwd separated by commas
 * (another name: cxr_backend_cpu_create fails with CXR_E_ARG naming it), overrides that
 * choice (CXR_CPU_DNNL_MIN_C the per-layer thresholds, CXR_CPU_ISA=avx2 the kernel width,
 * CXR_DNNL_ALGO=direct oneDNN's Winograd, CXR_DNNL_FWD=fused its Winograd forward of
 * conv3-conv4 on AVX-512); CXR_CPU_PARALLEL=blas selects the im2col + sgemm path of CPUs
 * without AVX2. */
#ifndef CXR_BACKEND_CPU_H
#define CXR_BACKEND_CPU_H

#include <stddef.h>

#include "cxr_precision.h"
#include "cxr_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* fp32 (the default) or bf16: convolutions and dense products with bf16 inputs and weights on
 * oneDNN, fp32 accumulation, outputs, gradients and master weights. bf16 needs a CPU with
 * AVX512-BF16 or AMX and a build with oneDNN: CXR_E_UNSUPPORTED with the reason otherwise
 * (emulating bf16 on AVX2 would be slower than fp32). tf32: CXR_E_ARG (a GPU format). */
cxr_status cxr_backend_cpu_set_precision(cxr_backend *be, cxr_precision p);
/* on: the ops that follow are an evaluation's forward pass (cxr_model_forward sets it for each
 * pass, from its `training` argument): in fp32 the convolutions and the dense layers then run
 * on our kernels, whose sums have one order at any thread count, so evaluations and predictions
 * do not depend on the thread count (oneDNN's matmul, the dense forward's default in training,
 * and its convolution forward, the default of conv2-conv4 on AVX-512 CPUs, split their sums by
 * thread). Any CXR_CPU_DNNL list keeps oneDNN for the passes it names, and so does bf16.
 * Nothing when be is not the CPU backend. */
void cxr_backend_cpu_set_inference(cxr_backend *be, int on);
/* The threads the backend computes with: those asked of cxr_backend_cpu_create (all cores for
 * <= 0), at most 256, and no more than the OpenMP runtime grants (OMP_THREAD_LIMIT...: the
 * backend takes the team it is given, never a team smaller than its work's split). 0 when be
 * is not the CPU backend. */
int cxr_backend_cpu_threads(cxr_backend *be);
/* 1 when the CPU has AVX512-BF16 or AMX-BF16. */
int cxr_cpu_has_bf16(void);
/* 1 when the CPU has AMX-BF16 (tile matrix products; the kernel grants their state on request):
 * where bf16 training beats fp32 (specs/model.md, "Against TensorFlow 2.21"). */
int cxr_cpu_has_amx_bf16(void);
/* The kernels in use, one line: "own AVX2+FMA kernels; oneDNN (avx2) for: dense_fwd (training
 * passes; evaluation on ours); fp32; ...". */
void cxr_backend_cpu_describe(cxr_backend *be, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
