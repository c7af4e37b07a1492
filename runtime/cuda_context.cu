/* cuda_context.cu: the CUDA device context of cxr_cuda.h: device choice, a compute and a copy
 * stream, cuDNN and cuBLAS handles bound to the compute stream, the convolution workspace and
 * the precision. Every CUDA/cuDNN/cuBLAS status becomes a cxr_status with a message. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_internal.cuh"

const char *cxr_cublas_status_string(cublasStatus_t s)
{
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "success";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "invalid value";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "architecture mismatch";
    case CUBLAS_STATUS_MAPPING_ERROR: return "mapping error";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "execution failed";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "internal error";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "license error";
    }
    return "unknown cuBLAS status";
}

/* Why cudaGetDeviceCount failed, as a status: CXR_E_NODEVICE "no NVIDIA GPU" when this machine
 * has none (no NVIDIA driver library at all, or the driver sees no device), CXR_E_CUDA when
 * there is an NVIDIA driver but CUDA cannot use it (a driver older than the runtime, a device
 * in a bad state): a GPU that fails must not read as "no GPU". */
static cxr_status device_count_error(cudaError_t e)
{
    if (e == cudaErrorNoDevice)
        return cxr_set_error(CXR_E_NODEVICE, "no NVIDIA GPU (the NVIDIA driver sees no device)");
    void *drv = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!drv)
        return cxr_set_error(CXR_E_NODEVICE, "no NVIDIA GPU (no NVIDIA driver: %s)",
                             "libcuda.so.1 not found");
    dlclose(drv);
    int rt = 0;
    cudaRuntimeGetVersion(&rt);
    return cxr_set_error(CXR_E_CUDA,
                         "an NVIDIA driver is installed but CUDA %d.%d cannot use it: "
                         "cudaGetDeviceCount: %s",
                         rt / 1000, rt % 1000 / 10, cudaGetErrorString(e));
}

/* A kernel that does nothing, built as every kernel of the module is: whether the GPU can run
 * this build's code at all (cudaFuncGetAttributes finds no image for a GPU older than the
 * build's architectures: a T4, sm_75, against the default 80-virtual 90-real). */
__global__ void cxr_arch_probe(void) {}

#ifndef CXR_CUDA_ARCHS
#define CXR_CUDA_ARCHS "?"
#endif

extern "C" cxr_status cxr_cuda_ctx_create(cxr_cuda_ctx **out, int device)
{
    cxr_status st = CXR_OK;
    const char *what = "cuda context";
    *out = NULL;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* not sticky: clear it */
        return device_count_error(e);
    }
    if (n == 0)
        return cxr_set_error(CXR_E_NODEVICE, "no NVIDIA GPU (the driver reports 0 devices)");
    if (device < 0 || device >= n)
        return cxr_set_error(CXR_E_NODEVICE, "no GPU %d: the driver reports %d device(s)", device,
                             n);
    cxr_cuda_ctx *c = (cxr_cuda_ctx *)calloc(1, sizeof *c);
    if (!c) return cxr_set_error(CXR_E_NOMEM, "cuda context: out of memory");
    c->device = device;
    c->precision = CXR_PRECISION_FP32;
    CUDA_TRY(what, cudaSetDevice(device));
    CUDA_TRY(what, cudaGetDeviceProperties(&c->prop, device));
    {
        /* refused here, where --device auto falls back to the CPU, not at the first kernel of a
         * run already under way ("no kernel image is available for execution on the device") */
        cudaFuncAttributes fa;
        const cudaError_t pe = cudaFuncGetAttributes(&fa, cxr_arch_probe);
        if (pe != cudaSuccess) {
            cudaGetLastError(); /* not sticky: clear it */
            st = cxr_set_error(CXR_E_CUDA,
                               "GPU %d (%s, sm_%d%d): this build has no code it can run (%s; "
                               "built for CMAKE_CUDA_ARCHITECTURES %s): rebuild with "
                               "-DCMAKE_CUDA_ARCHITECTURES=%d%d, with a CUDA toolkit that still "
                               "builds for it (CUDA 13 starts at sm_75), or use --device cpu",
                               device, c->prop.name, c->prop.major, c->prop.minor,
                               cudaGetErrorString(pe), CXR_CUDA_ARCHS, c->prop.major,
                               c->prop.minor);
            goto bail;
        }
    }
    CUDA_TRY(what, cudaStreamCreateWithFlags(&c->compute, cudaStreamNonBlocking));
    CUDA_TRY(what, cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking));
    CUDNN_TRY(what, cudnnCreate(&c->cudnn));
    CUDNN_TRY(what, cudnnSetStream(c->cudnn, c->compute));
    CUBLAS_TRY(what, cublasCreate(&c->cublas));
    CUBLAS_TRY(what, cublasSetStream(c->cublas, c->compute));
    /* no atomics: cuBLAS results are then bit-reproducible run to run on one GPU model */
    CUBLAS_TRY(what, cublasSetAtomicsMode(c->cublas, CUBLAS_ATOMICS_NOT_ALLOWED));
    CUDA_TRY(what, cudaDriverGetVersion(&c->driver_version));
    CUDA_TRY(what, cudaRuntimeGetVersion(&c->runtime_version));
    CUBLAS_TRY(what, cublasGetVersion(c->cublas, &c->cublas_version));
    *out = c;
    return CXR_OK;
bail:
    cxr_cuda_ctx_destroy(c);
    return st;
}

extern "C" void cxr_cuda_ctx_destroy(cxr_cuda_ctx *c)
{
    if (!c) return;
    cudaSetDevice(c->device);
    if (c->compute) cudaStreamSynchronize(c->compute);
    if (c->copy) cudaStreamSynchronize(c->copy);
    cudaFree(c->workspace);
    if (c->cublas) cublasDestroy(c->cublas);
    if (c->cudnn) cudnnDestroy(c->cudnn);
    if (c->compute) cudaStreamDestroy(c->compute);
    if (c->copy) cudaStreamDestroy(c->copy);
    free(c);
}

extern "C" void cxr_cuda_describe(const cxr_cuda_ctx *c, char *buf, size_t cap)
{
    if (!cap) return;
    /* cuDNN 9 numbers its versions major*10000 + minor*100 + patch; cuBLAS major*10000 +
     * minor*100 + patch too; CUDA major*1000 + minor*10 */
    const size_t dnn = cudnnGetVersion();
    snprintf(buf, cap,
             "cuda:%d %s (sm_%d%d, %.1f GiB; driver %d.%d, runtime %d.%d, cuDNN %zu.%zu.%zu "
             "(built with %d.%d.%d), cuBLAS %d.%d.%d)",
             c->device, c->prop.name, c->prop.major, c->prop.minor,
             (double)c->prop.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), c->driver_version / 1000,
             c->driver_version % 1000 / 10, c->runtime_version / 1000,
             c->runtime_version % 1000 / 10, dnn / 10000, dnn % 10000 / 100, dnn % 100, CUDNN_MAJOR,
             CUDNN_MINOR, CUDNN_PATCHLEVEL, c->cublas_version / 10000,
             c->cublas_version % 10000 / 100, c->cublas_version % 100);
}

extern "C" int cxr_cuda_device(const cxr_cuda_ctx *c) { return c ? c->device : -1; }

extern "C" void cxr_cuda_pci_bus_id(const cxr_cuda_ctx *c, char *buf, size_t cap)
{
    if (!cap) return;
    buf[0] = '\0';
    if (c && cap <= INT_MAX && cudaDeviceGetPCIBusId(buf, (int)cap, c->device) != cudaSuccess) {
        (void)cudaGetLastError(); /* not sticky: clear it for the next call's check */
        buf[0] = '\0';
    }
}

extern "C" cxr_status cxr_cuda_mem_info(cxr_cuda_ctx *c, size_t *free_bytes, size_t *total_bytes)
{
    cxr_status st = CXR_OK;
    *free_bytes = *total_bytes = 0;
    CUDA_TRY("cuda mem info", cudaSetDevice(c->device));
    CUDA_TRY("cuda mem info", cudaMemGetInfo(free_bytes, total_bytes));
bail:
    return st;
}

extern "C" void cxr_cuda_set_precision(cxr_cuda_ctx *c, cxr_precision p) { c->precision = p; }
extern "C" cxr_precision cxr_cuda_get_precision(const cxr_cuda_ctx *c) { return c->precision; }

extern "C" cxr_status cxr_cuda_sync(cxr_cuda_ctx *c)
{
    cxr_status st = CXR_OK;
    CUDA_TRY("cuda sync (copy stream)", cudaStreamSynchronize(c->copy));
    CUDA_TRY("cuda sync (compute stream)", cudaStreamSynchronize(c->compute));
bail:
    return st;
}

static thread_local cxr_status grow_status = CXR_OK;

extern "C" cxr_status cxr_cuda_grow_status(void) { return grow_status; }

extern "C" void *cxr_cuda_grow(void **buf, size_t *cap, size_t bytes, size_t step,
                               cudaStream_t stream, const char *what)
{
    cxr_status st = CXR_OK;
    if (bytes <= *cap) return *buf;
    const size_t want = (bytes + step - 1) / step * step;
    CUDA_TRY(what, cudaStreamSynchronize(stream));
    CUDA_TRY(what, cudaFree(*buf));
    *buf = NULL;
    *cap = 0;
    CUDA_TRY(what, cudaMalloc(buf, want));
    *cap = want;
    return *buf;
bail:
    grow_status = cxr_wrap_error(st, "cannot grow the %s to %zu bytes", what, want);
    return NULL;
}

extern "C" void *cxr_cuda_workspace(cxr_cuda_ctx *c, size_t bytes)
{
    /* 16 MiB steps so a few shapes settle the size quickly; queued convolutions may still read
     * the old workspace, hence the compute stream */
    return cxr_cuda_grow(&c->workspace, &c->workspace_bytes, bytes, (size_t)16 << 20, c->compute,
                         "conv workspace");
}
