/* cxr_precision.h: the arithmetic a backend computes convolutions and GEMMs in, shared by the
 * CPU backend (fp32, bf16) and the GPU's (fp32, tf32, bf16), and its names. No CUDA needed. */
#ifndef CXR_PRECISION_H
#define CXR_PRECISION_H

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Arithmetic of convolutions and GEMMs (specs/gpu.md "Precisions"; the CPU's:
 * cxr_backend_cpu.h). */
typedef enum {
    CXR_PRECISION_FP32 = 0, /* IEEE fp32 (on the GPU FMA kernels only, no tensor cores): the
                               parity default */
    CXR_PRECISION_TF32 = 1, /* GPU: tensor cores with TF32 inputs, fp32 accumulation and storage */
    CXR_PRECISION_BF16 = 2  /* bf16 inputs, fp32 master weights and accumulation. GPU: dense
                               GEMMs, convolutions as TF32; CPU (oneDNN): both */
} cxr_precision;

/* "fp32" | "tf32" | "bf16" -> *out; CXR_E_ARG naming the string otherwise. Works without CUDA. */
cxr_status cxr_precision_parse(const char *s, cxr_precision *out);
const char *cxr_precision_name(cxr_precision p); /* "fp32", "tf32", "bf16" */

#ifdef __cplusplus
}
#endif

#endif
