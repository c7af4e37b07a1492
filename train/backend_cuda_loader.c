/* backend_cuda_loader.c: cxr_backend_cuda.h in the core. With CUDA in the build the backend
 * lives in the CUDA module (runtime/cuda_module.h), loaded by cxr_backend_cuda_create the
 * first time; the calls on an existing backend go to the module only for the CUDA backend, so
 * a CPU run never loads it. Without CUDA the GPU backend is reported as not built. */
#include <string.h>

#include "cuda_module.h"
#include "cxr_backend_cpu.h"
#include "cxr_backend_cuda.h"

/* The module's table when be is its backend (the module is then loaded), else NULL. */
static const cxr_cuda_module *cuda_of(const cxr_backend *be)
{
    if (!be || !be->name || strcmp(be->name, "cuda") != 0) return NULL;
    return cxr_cuda_module_loaded();
}

cxr_status cxr_backend_cuda_create(cxr_backend **out, int device)
{
    *out = NULL;
#ifdef CXR_HAVE_CUDA
    cxr_status st;
    const cxr_cuda_module *m = cxr_cuda_module_get(&st);
    if (!m) return st;
    if (m->backend_size != sizeof(cxr_backend))
        return cxr_set_error(CXR_E_CUDA,
                             "the CUDA module %s is stale: its op table (train/cxr_ops.h) is %u "
                             "bytes, this program's %zu; rebuild or reinstall it with this "
                             "program",
                             cxr_cuda_module_path(), m->backend_size, sizeof(cxr_backend));
    return m->backend_create(out, device);
#else
    (void)device;
    return cxr_set_error(CXR_E_UNSUPPORTED,
                         "cuda backend: built without CUDA "
                         "(reconfigure with -DCXR_CUDA=ON on a machine with the CUDA toolkit)");
#endif
}

cxr_cuda_ctx *cxr_backend_cuda_context(cxr_backend *be)
{
    const cxr_cuda_module *m = cuda_of(be);
    return m ? m->backend_context(be) : NULL;
}

cxr_status cxr_backend_set_precision(cxr_backend *be, cxr_precision p)
{
    const cxr_cuda_module *m = cuda_of(be);
    if (m) return m->backend_set_precision(be, p);
    if (be && be->name && !strcmp(be->name, "cpu")) return cxr_backend_cpu_set_precision(be, p);
    if (p == CXR_PRECISION_FP32) return CXR_OK;
#ifdef CXR_HAVE_CUDA
    return cxr_set_error(CXR_E_ARG,
                         "precision %s: only the CUDA backend has it (the %s "
                         "backend computes in fp32)",
                         cxr_precision_name(p), be && be->name ? be->name : "?");
#else
    return cxr_set_error(CXR_E_ARG,
                         "precision %s: only the CUDA backend has it (this build has "
                         "no CUDA; the CPU computes in fp32)",
                         cxr_precision_name(p));
#endif
}

void cxr_backend_cuda_set_log(cxr_backend *be, void (*fn)(void *user, const char *line), void *user)
{
    const cxr_cuda_module *m = cuda_of(be);
    if (m) m->backend_set_log(be, fn, user);
}
