/* cuda_internal.cuh: the CUDA context's fields and the error macros, for .cu files only
 * (runtime/ and train/). Not a public header: C callers use cxr_cuda.h.
 *
 * CUDA_TRY / CUDNN_TRY / CUBLAS_TRY evaluate a library call and, on failure, record
 * CXR_E_CUDA with "<what>: <call> failed at file:line: <library's error string>" and jump to
 * the function's `bail:` label with `cxr_status st` (house style, like CXR_TRY). `what` is a
 * string naming the op or layer (e.g. "conv3x3_forward (64x16x256x256)").
 * CUDA_LAUNCH_CHECK(what) checks cudaGetLastError() after a kernel launch.
 */
#ifndef CXR_CUDA_INTERNAL_CUH
#define CXR_CUDA_INTERNAL_CUH

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "cxr_cuda.h"

struct cxr_cuda_ctx {
    int device;
    cudaDeviceProp prop;
    cudaStream_t compute, copy;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    void *workspace; /* shared by all convolutions on the compute stream */
    size_t workspace_bytes;
    cxr_precision precision;
    int driver_version, runtime_version, cublas_version; /* for cxr_cuda_describe */
    size_t reserve; /* device bytes a model will still allocate at its first step (its conv map
                     * and workspace): --resident auto leaves them free (backend reserve op) */
};

#ifdef __cplusplus
extern "C" {
#endif
/* Names for cuBLAS statuses (cuBLAS has cublasGetStatusString from 11.4; kept for clarity). */
const char *cxr_cublas_status_string(cublasStatus_t s);
/* A device buffer *buf of *cap bytes grown to at least `bytes`, rounded up to `step`-byte
 * multiples, never shrunk: growing first synchronizes `stream` (queued work may still read the
 * old buffer). NULL with the error set (naming `what`) when it cannot grow: CXR_E_NOMEM, or
 * CXR_E_CUDA when an earlier kernel's fault surfaces at the synchronization (callers pass
 * cxr_cuda_grow_status() on, so a fault does not read as out of memory). */
void *cxr_cuda_grow(void **buf, size_t *cap, size_t bytes, size_t step, cudaStream_t stream,
                    const char *what);
/* The status of this thread's last failed cxr_cuda_grow. */
cxr_status cxr_cuda_grow_status(void);
/* The context's workspace of at least `bytes` (grown, never shrunk; growing synchronizes the
 * device once). NULL with the error set when it cannot grow (as cxr_cuda_grow). */
void *cxr_cuda_workspace(cxr_cuda_ctx *c, size_t bytes);
#ifdef __cplusplus
}
#endif

#define CUDA_TRY(what, call)                                                                    \
    do {                                                                                        \
        cudaError_t e_ = (call);                                                                \
        if (e_ != cudaSuccess) {                                                                \
            st = cxr_set_error(e_ == cudaErrorMemoryAllocation ? CXR_E_NOMEM : CXR_E_CUDA,      \
                               "%s: %s failed at %s:%d: %s", (what), #call, __FILE__, __LINE__, \
                               cudaGetErrorString(e_));                                         \
            goto bail;                                                                          \
        }                                                                                       \
    } while (0)

#define CUDNN_TRY(what, call)                                                                     \
    do {                                                                                          \
        cudnnStatus_t e_ = (call);                                                                \
        if (e_ != CUDNN_STATUS_SUCCESS) {                                                         \
            st = cxr_set_error(CXR_E_CUDA, "%s: %s failed at %s:%d: %s", (what), #call, __FILE__, \
                               __LINE__, cudnnGetErrorString(e_));                                \
            goto bail;                                                                            \
        }                                                                                         \
    } while (0)

#define CUBLAS_TRY(what, call)                                                                    \
    do {                                                                                          \
        cublasStatus_t e_ = (call);                                                               \
        if (e_ != CUBLAS_STATUS_SUCCESS) {                                                        \
            st = cxr_set_error(CXR_E_CUDA, "%s: %s failed at %s:%d: %s", (what), #call, __FILE__, \
                               __LINE__, cxr_cublas_status_string(e_));                           \
            goto bail;                                                                            \
        }                                                                                         \
    } while (0)

#define CUDA_LAUNCH_CHECK(what) CUDA_TRY(what, cudaGetLastError())

/* Grid for a grid-stride loop over n items with 256-thread blocks (at most 65535*8 blocks). */
static inline unsigned cxr_grid_for(size_t n)
{
    size_t b = (n + 255) / 256;
    if (b < 1) b = 1;
    if (b > 65535u * 8u) b = 65535u * 8u;
    return (unsigned)b;
}

#endif
