/* cuda_module.cu: the entry point of the CUDA module libcxr_cuda.so (runtime/cuda_module.h):
 * the module's table of cxr_cuda.h / cxr_backend_cuda.h implementations, and the core
 * functions the module's sources call, forwarded through the core's table. These forwarders
 * and everything else in the module are local to it (version script: only the entry point is
 * exported), so the module holds no copy of a core global (the error message, the CPU loader)
 * and never interposes a core symbol. */
#include <stdarg.h>
#include <stdio.h>

#include "cuda_module.h"
#include "cxr_backend_cuda.h"

static const cxr_cuda_core *core; /* set by the entry point before any other call */

/* ---------------------------------------------------------------- core, forwarded */
extern "C" cxr_status cxr_set_error(cxr_status code, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return core->set_error(code, "%s", msg);
}

extern "C" cxr_status cxr_wrap_error(cxr_status code, const char *fmt, ...)
{
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    return core->wrap_error(code, "%s", prefix);
}

extern "C" const char *cxr_precision_name(cxr_precision p) { return core->precision_name(p); }
extern "C" int cxr_augment_active(const cxr_augment_params *p) { return core->augment_active(p); }
extern "C" cxr_status cxr_store_split(const cxr_store *s, const char *split, cxr_split_info *info)
{
    return core->store_split(s, split, info);
}
extern "C" cxr_status cxr_loader_create(cxr_loader **out, const cxr_store *store, const char *split,
                                        const cxr_loader_options *opt)
{
    return core->loader_create(out, store, split, opt);
}
extern "C" void cxr_loader_destroy(cxr_loader *l) { core->loader_destroy(l); }
extern "C" cxr_status cxr_loader_begin_epoch(cxr_loader *l, int epoch)
{
    return core->loader_begin_epoch(l, epoch);
}
extern "C" cxr_status cxr_loader_next_batch(cxr_loader *l, cxr_batch *b)
{
    return core->loader_next_batch(l, b);
}
extern "C" double cxr_loader_wait_seconds(const cxr_loader *l)
{
    return core->loader_wait_seconds(l);
}
extern "C" int64_t cxr_loader_n_images(const cxr_loader *l) { return core->loader_n_images(l); }
extern "C" int64_t cxr_loader_n_batches(const cxr_loader *l) { return core->loader_n_batches(l); }
extern "C" cxr_status cxr_loader_epoch_order(const cxr_loader *l, int epoch, int64_t *out)
{
    return core->loader_epoch_order(l, epoch, out);
}

/* ---------------------------------------------------------------- the module's table */
static const cxr_cuda_module table = {
    CXR_CUDA_MODULE_ABI,
    sizeof(cxr_cuda_module),
    sizeof(cxr_cuda_core),
    sizeof(cxr_loader_options),
    sizeof(cxr_batch),
    sizeof(cxr_gpu_batch),
    sizeof(cxr_split_info),
    sizeof(cxr_backend),
    CXR_VERSION_STRING "+" CXR_CUDA_BOUNDARY,
    cxr_cuda_ctx_create,
    cxr_cuda_ctx_destroy,
    cxr_cuda_describe,
    cxr_cuda_device,
    cxr_cuda_mem_info,
    cxr_cuda_pci_bus_id,
    cxr_cuda_set_precision,
    cxr_cuda_get_precision,
    cxr_cuda_sync,
    cxr_gpu_loader_create,
    cxr_gpu_loader_destroy,
    cxr_gpu_loader_is_resident,
    cxr_gpu_loader_n_images,
    cxr_gpu_loader_n_batches,
    cxr_gpu_loader_device_bytes,
    cxr_gpu_loader_begin_epoch,
    cxr_gpu_loader_next,
    cxr_gpu_loader_wait_seconds,
    cxr_backend_cuda_create,
    cxr_backend_cuda_context,
    cxr_backend_set_precision,
    cxr_backend_cuda_set_log,
};

extern "C" cxr_cuda_module_entry_fn cxr_cuda_module_entry; /* the type the core calls */
extern "C" __attribute__((visibility("default"))) const cxr_cuda_module *
cxr_cuda_module_entry(uint32_t abi, const cxr_cuda_core *c)
{
    if (abi == CXR_CUDA_MODULE_ABI && c && c->size == sizeof(cxr_cuda_core)) core = c;
    return &table;
}
