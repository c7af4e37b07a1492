/* cxr_backend_cuda.h: the CUDA backend of the op table (cxr_ops.h) and its settings.
 *
 * The backend fills every slot of cxr_backend with device-memory ops (cuDNN convolutions,
 * cuBLAS dense layers, own kernels for pooling, activations, dropout, loss and Adam; see
 * specs/gpu.md). All work is queued on the context's compute stream; download and sync wait.
 * One host thread drives a backend, the one that created it: the ops do not call cudaSetDevice,
 * so on another thread a backend of device >= 1 would address device 0.
 * In a build without CUDA these functions exist and return CXR_E_UNSUPPORTED.
 */
#ifndef CXR_BACKEND_CUDA_H
#define CXR_BACKEND_CUDA_H

#include "cxr_cuda.h"
#include "cxr_ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Open GPU `device` as a backend (precision fp32). CXR_E_NODEVICE "no usable GPU: <reason>"
 * without a device, CXR_E_UNSUPPORTED "built without CUDA" in a CPU-only build, CXR_E_CUDA
 * when a handle cannot be made. Free with cxr_backend_destroy. */
cxr_status cxr_backend_cuda_create(cxr_backend **out, int device);
/* The backend's CUDA context (borrowed), or NULL when be is not the CUDA backend. */
cxr_cuda_ctx *cxr_backend_cuda_context(cxr_backend *be);
/* Choose the arithmetic of convolutions and GEMMs (cxr_precision.h). On the CPU backend this is
 * cxr_backend_cpu_set_precision (fp32, or bf16 where the CPU has AVX512-BF16/AMX). */
cxr_status cxr_backend_set_precision(cxr_backend *be, cxr_precision p);
/* Lines about the backend's choices, one per choice, as it makes them: the convolution
 * algorithm of each (shape, precision, direction) when first used ("cuda conv N=64 C=16 K=32
 * 256x256 fp32 forward: IMPLICIT_PRECOMP_GEMM (FMA math, workspace 0.0 MiB, ...)"). fn NULL (the
 * default): silent. Ops never print; the caller decides where the lines go. No-op when be is
 * not the CUDA backend. */
void cxr_backend_cuda_set_log(cxr_backend *be, void (*fn)(void *user, const char *line),
                              void *user);

#ifdef __cplusplus
}
#endif
#endif
