/* backend_cuda.cu: the CUDA backend: device memory, the compute stream, and the op table filled
 * with the GPU twins of the CPU ops (conv.cu, pool.cu, dense.cu, act.cu, loss.cu, adam.cu).
 * Everything is queued on the context's compute stream; only download and sync wait for it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_ops.cuh"
#include "cxr_backend_cpu.h"
#include "cxr_backend_cuda.h"

static cxr_cuda_backend *B(void *ctx) { return (cxr_cuda_backend *)ctx; }

extern "C" void *cxr_cuda_scratch(cxr_cuda_backend *b, size_t bytes)
{
    return cxr_cuda_grow(&b->scratch, &b->scratch_bytes, bytes, (size_t)4 << 20, b->cu->compute,
                         "op scratch");
}

extern "C" void cxr_bf16_shadows_touch(cxr_cuda_backend *b, const void *p, size_t bytes, int drop)
{
    const uintptr_t lo = (uintptr_t)p;
    for (int i = 0; i < CXR_BF16_SHADOWS; i++) {
        cxr_bf16_shadow *s = &b->shadow[i];
        const uintptr_t slo = (uintptr_t)s->src, shi = slo + s->n * sizeof(float);
        if (!s->src) continue;
        if (bytes != SIZE_MAX && (shi <= lo || lo + bytes <= slo)) continue;
        s->valid = 0;
        if (drop) {
            cudaFree(s->dst);
            memset(s, 0, sizeof *s);
        }
    }
}

static cxr_status cuda_set_threads(void *ctx, int n)
{
    (void)ctx;
    (void)n;
    return CXR_OK;
}

static cxr_status cuda_alloc(void *ctx, void **p, size_t bytes)
{
    cxr_status st = CXR_OK;
    const size_t rounded = bytes ? (bytes + 255) / 256 * 256 : 256;
    *p = NULL;
    CUDA_TRY("cuda alloc", cudaMalloc(p, rounded));
    /* zeroed as the table promises; ordered before any later op on the compute stream */
    CUDA_TRY("cuda alloc", cudaMemsetAsync(*p, 0, rounded, B(ctx)->cu->compute));
    return CXR_OK;
bail:
    if (*p) cudaFree(*p);
    *p = NULL;
    return cxr_wrap_error(st, "cuda backend: cannot allocate %zu bytes", bytes);
}

static void cuda_free(void *ctx, void *p)
{
    if (!p) return;
    /* queued ops may still use p: cudaFree waits for the device (only at teardown) */
    cudaStreamSynchronize(B(ctx)->cu->compute);
    /* the allocation's size is unknown here: drop every bf16 shadow (frees happen at teardown;
     * a shadow still needed is converted again at its next use) */
    cxr_bf16_shadows_touch(B(ctx), NULL, SIZE_MAX, 1);
    cudaFree(p);
}

static void cuda_reserve(void *ctx, size_t bytes)
{
    cxr_cuda_ctx *cu = B(ctx)->cu; /* the largest model's: the map and workspace are shared */
    if (bytes + CONV_WS_LIMIT > cu->reserve) cu->reserve = bytes + CONV_WS_LIMIT;
}

static cxr_status cuda_zero(void *ctx, void *p, size_t bytes)
{
    cxr_status st = CXR_OK;
    cxr_bf16_shadows_touch(B(ctx), p, bytes, 0);
    CUDA_TRY("cuda zero", cudaMemsetAsync(p, 0, bytes, B(ctx)->cu->compute));
bail:
    return st;
}

static cxr_status cuda_upload(void *ctx, void *dst, const void *src_host, size_t bytes)
{
    cxr_status st = CXR_OK;
    cxr_bf16_shadows_touch(B(ctx), dst, bytes, 0);
    /* pageable source: the driver stages it before returning, so the caller may reuse it; a
     * page-locked one (host_alloc) is read later, by the copy engine */
    CUDA_TRY("cuda upload",
             cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, B(ctx)->cu->compute));
bail:
    return st;
}

static cxr_status cuda_download(void *ctx, void *dst_host, const void *src, size_t bytes)
{
    cxr_status st = CXR_OK;
    cudaStream_t s = B(ctx)->cu->compute;
    CUDA_TRY("cuda download", cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_TRY("cuda download", cudaStreamSynchronize(s));
bail:
    return st;
}

static cxr_status cuda_sync(void *ctx)
{
    cxr_status st = CXR_OK;
    CUDA_TRY("cuda sync", cudaStreamSynchronize(B(ctx)->cu->compute));
bail:
    return st;
}

static cxr_status cuda_host_alloc(void *ctx, void **p, size_t bytes)
{
    cxr_status st = CXR_OK;
    (void)ctx;
    *p = NULL;
    CUDA_TRY("cuda host alloc", cudaMallocHost(p, bytes ? bytes : 1));
    memset(*p, 0, bytes);
bail:
    return st;
}

static void cuda_host_free(void *ctx, void *p)
{
    (void)ctx;
    if (p) cudaFreeHost(p); /* waits for the device, as cuda_free does */
}

/* Page-locked dst_host: the copy is truly asynchronous (a pageable one would wait). */
static cxr_status cuda_download_async(void *ctx, void *dst_host, const void *src, size_t bytes)
{
    cxr_status st = CXR_OK;
    CUDA_TRY("cuda download_async",
             cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, B(ctx)->cu->compute));
bail:
    return st;
}

static cxr_status cuda_fence_mark(void *ctx, int fence)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *b = B(ctx);
    if (fence < 0 || fence >= CXR_BACKEND_FENCES)
        return cxr_set_error(CXR_E_ARG, "cuda fence_mark: fence %d", fence);
    if (!b->fence[fence])
        CUDA_TRY("cuda fence_mark",
                 cudaEventCreateWithFlags(&b->fence[fence], cudaEventDisableTiming));
    CUDA_TRY("cuda fence_mark", cudaEventRecord(b->fence[fence], b->cu->compute));
bail:
    return st;
}

static cxr_status cuda_fence_wait(void *ctx, int fence)
{
    cxr_status st = CXR_OK;
    cxr_cuda_backend *b = B(ctx);
    if (fence < 0 || fence >= CXR_BACKEND_FENCES)
        return cxr_set_error(CXR_E_ARG, "cuda fence_wait: fence %d", fence);
    if (b->fence[fence]) CUDA_TRY("cuda fence_wait", cudaEventSynchronize(b->fence[fence]));
bail:
    return st;
}

static void cuda_destroy(cxr_backend *be)
{
    if (!be) return;
    cxr_cuda_backend *b = B(be->ctx);
    if (b) {
        if (b->cu) {
            cudaSetDevice(b->cu->device);
            cudaStreamSynchronize(b->cu->compute);
        }
        cxr_conv_plans_destroy(b);
        for (int i = 0; i < CXR_BACKEND_FENCES; i++)
            if (b->fence[i]) cudaEventDestroy(b->fence[i]);
        cudaFree(b->map);
        for (int i = 0; i < CXR_BF16_SHADOWS; i++) cudaFree(b->shadow[i].dst);
        cudaFree(b->scratch);
        cxr_cuda_ctx_destroy(b->cu);
        free(b);
    }
    free(be);
}

extern "C" cxr_status cxr_backend_cuda_create(cxr_backend **out, int device)
{
    cxr_status st = CXR_OK;
    *out = NULL;
    cxr_backend *be = (cxr_backend *)calloc(1, sizeof *be);
    cxr_cuda_backend *b = (cxr_cuda_backend *)calloc(1, sizeof *b);
    if (!be || !b) {
        free(be);
        free(b);
        return cxr_set_error(CXR_E_NOMEM, "cuda backend: out of memory");
    }
    st = cxr_cuda_ctx_create(&b->cu, device);
    if (st != CXR_OK) {
        free(be);
        free(b);
        return st;
    }
    be->name = "cuda";
    be->ctx = b;
    be->on_device = 1;
    be->max_tensor_elems = ((size_t)1 << 31) - 1; /* cudnnSetTensor4dDescriptor's limit */
    be->reserve = cuda_reserve;
    be->destroy = cuda_destroy;
    be->set_threads = cuda_set_threads;
    be->alloc = cuda_alloc;
    be->free = cuda_free;
    be->zero = cuda_zero;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->sync = cuda_sync;
    be->host_alloc = cuda_host_alloc;
    be->host_free = cuda_host_free;
    be->download_async = cuda_download_async;
    be->fence_mark = cuda_fence_mark;
    be->fence_wait = cuda_fence_wait;
    be->conv3x3_forward = cxr_conv3x3_forward_cuda;
    be->conv3x3_backward = cxr_conv3x3_backward_cuda;
    be->maxpool2_forward = cxr_maxpool2_forward_cuda;
    be->maxpool2_backward = cxr_maxpool2_backward_cuda;
    be->dense_forward = cxr_dense_forward_cuda;
    be->dense_backward = cxr_dense_backward_cuda;
    be->leaky_relu_forward = cxr_leaky_relu_forward_cuda;
    be->leaky_relu_backward = cxr_leaky_relu_backward_cuda;
    be->dropout_apply = cxr_dropout_apply_cuda;
    be->softmax_forward = cxr_softmax_forward_cuda;
    be->softmax_xent = cxr_softmax_xent_cuda;
    be->adam_step = cxr_adam_step_cuda;
    be->global_avgpool_forward = cxr_global_avgpool_forward_cuda;
    be->global_avgpool_backward = cxr_global_avgpool_backward_cuda;
    be->avgpool_forward = cxr_avgpool_forward_cuda;
    be->scale_shift = cxr_scale_shift_cuda;
    /* CXR_CUDA_FUSED=0 leaves the fused slots NULL (the graph then runs the unfused kernels):
     * the A/B timing of the fusion on one card (specs/gpu.md "Fusion") */
    const char *fused = getenv("CXR_CUDA_FUSED");
    if (!fused || strcmp(fused, "0") != 0) {
        be->conv3x3_lrelu_pool_forward = cxr_conv3x3_lrelu_pool_forward_cuda;
        be->maxpool2_lrelu_backward = cxr_maxpool2_lrelu_backward_cuda;
    }
    *out = be;
    return CXR_OK;
}

extern "C" cxr_cuda_ctx *cxr_backend_cuda_context(cxr_backend *be)
{
    if (!be || !be->name || strcmp(be->name, "cuda") != 0) return NULL;
    return B(be->ctx)->cu;
}

extern "C" void cxr_backend_cuda_set_log(cxr_backend *be, void (*fn)(void *user, const char *line),
                                         void *user)
{
    if (!cxr_backend_cuda_context(be)) return;
    B(be->ctx)->log = fn;
    B(be->ctx)->log_user = user;
}

/* Called by the core's shim (train/backend_cuda_loader.c) for the CUDA backend only; the
 * shim answers for the others. */
extern "C" cxr_status cxr_backend_set_precision(cxr_backend *be, cxr_precision p)
{
    cxr_cuda_ctx *c = cxr_backend_cuda_context(be);
    if (!c) return cxr_set_error(CXR_E_INTERNAL, "cuda set precision: not the CUDA backend");
    cxr_cuda_set_precision(c, p); /* conv plans are keyed by precision: new ones get chosen */
    return CXR_OK;
}
