/* cuda_stub.c: cxr_cuda.h in a build without CUDA: every entry point answers
 * CXR_E_UNSUPPORTED "built without CUDA", so callers compile the same in both builds. */
#ifndef CXR_HAVE_CUDA
#include <stdio.h>

#include "cxr_cuda.h"

#define NO_CUDA(what)                                                                           \
    cxr_set_error(CXR_E_UNSUPPORTED, "%s: built without CUDA (reconfigure with -DCXR_CUDA=ON)", \
                  what)

cxr_status cxr_cuda_ctx_create(cxr_cuda_ctx **out, int device)
{
    (void)device;
    *out = NULL;
    return NO_CUDA("cuda context");
}
void cxr_cuda_ctx_destroy(cxr_cuda_ctx *c) { (void)c; }
void cxr_cuda_describe(const cxr_cuda_ctx *c, char *buf, size_t cap)
{
    (void)c;
    if (cap) snprintf(buf, cap, "no CUDA");
}
int cxr_cuda_device(const cxr_cuda_ctx *c)
{
    (void)c;
    return -1;
}
cxr_status cxr_cuda_mem_info(cxr_cuda_ctx *c, size_t *free_bytes, size_t *total_bytes)
{
    (void)c;
    *free_bytes = *total_bytes = 0;
    return NO_CUDA("cuda mem info");
}
void cxr_cuda_set_precision(cxr_cuda_ctx *c, cxr_precision p)
{
    (void)c;
    (void)p;
}
cxr_precision cxr_cuda_get_precision(const cxr_cuda_ctx *c)
{
    (void)c;
    return CXR_PRECISION_FP32;
}
cxr_status cxr_cuda_sync(cxr_cuda_ctx *c)
{
    (void)c;
    return NO_CUDA("cuda sync");
}
cxr_status cxr_gpu_loader_create(cxr_gpu_loader **out, cxr_cuda_ctx *ctx, const cxr_store *store,
                                 const char *split, const cxr_loader_options *opt,
                                 cxr_resident_mode resident)
{
    (void)ctx, (void)store, (void)split, (void)opt, (void)resident;
    *out = NULL;
    return NO_CUDA("gpu loader");
}
void cxr_gpu_loader_destroy(cxr_gpu_loader *g) { (void)g; }
int cxr_gpu_loader_is_resident(const cxr_gpu_loader *g)
{
    (void)g;
    return 0;
}
int64_t cxr_gpu_loader_n_images(const cxr_gpu_loader *g)
{
    (void)g;
    return 0;
}
int64_t cxr_gpu_loader_n_batches(const cxr_gpu_loader *g)
{
    (void)g;
    return 0;
}
size_t cxr_gpu_loader_device_bytes(const cxr_gpu_loader *g)
{
    (void)g;
    return 0;
}
cxr_status cxr_gpu_loader_begin_epoch(cxr_gpu_loader *g, int epoch)
{
    (void)g, (void)epoch;
    return NO_CUDA("gpu loader");
}
cxr_status cxr_gpu_loader_next(cxr_gpu_loader *g, float *dst, cxr_gpu_batch *b)
{
    (void)g, (void)dst;
    b->n = 0;
    return NO_CUDA("gpu loader");
}
double cxr_gpu_loader_wait_seconds(cxr_gpu_loader *g)
{
    (void)g;
    return 0.0;
}
#else
/* ISO C forbids an empty translation unit. */
typedef int cxr_cuda_stub_unused;
#endif
