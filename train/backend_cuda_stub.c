/* backend_cuda_stub.c: cxr_backend_cuda.h in a build without CUDA (the CUDA build compiles
 * backend_cuda.cu instead): the GPU backend is reported as not built. */
#include <string.h>

#include "cxr_backend_cpu.h"
#include "cxr_backend_cuda.h"

#ifndef CXR_HAVE_CUDA
cxr_status cxr_backend_cuda_create(cxr_backend **out, int device)
{
    (void)device;
    *out = NULL;
    return cxr_set_error(CXR_E_UNSUPPORTED,
                         "cuda backend: built without CUDA "
                         "(reconfigure with -DCXR_CUDA=ON on a machine with the CUDA toolkit)");
}

cxr_cuda_ctx *cxr_backend_cuda_context(cxr_backend *be)
{
    (void)be;
    return NULL;
}

cxr_status cxr_backend_set_precision(cxr_backend *be, cxr_precision p)
{
    if (be && be->name && !strcmp(be->name, "cpu")) return cxr_backend_cpu_set_precision(be, p);
    if (p == CXR_PRECISION_FP32) return CXR_OK;
    return cxr_set_error(CXR_E_ARG,
                         "precision %s: only the CUDA backend has it (this build has "
                         "no CUDA; the CPU computes in fp32)",
                         cxr_precision_name(p));
}

void cxr_backend_cuda_set_log(cxr_backend *be, void (*fn)(void *user, const char *line), void *user)
{
    (void)be, (void)fn, (void)user;
}
#else
typedef int cxr_backend_cuda_stub_unused; /* ISO C: no empty translation unit */
#endif
