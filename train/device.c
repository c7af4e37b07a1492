/* device.c: --device's parsing and the backend it opens (cxr_trainer.h: cxr_device_open,
 * cxr_device_open_model), for cxr-train, cxr-eval and cxr-predict: auto takes the GPU when the
 * build has CUDA and one answers, else the CPU, and says why.
 */
#include "cxr_trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_backend_cpu.h"
#include "cxr_backend_cuda.h"
#include "cxr_cuda.h"
#include "cxr_files.h"

/* --device's value: auto (NULL too), cpu, cuda or cuda:N. */
static cxr_status parse_device(const char *spec, int *want_cuda, int *is_auto, int *index)
{
    *want_cuda = *is_auto = *index = 0;
    if (!spec || strcmp(spec, "auto") == 0) {
        *is_auto = 1;
    } else if (strcmp(spec, "cpu") == 0) {
    } else if (strcmp(spec, "cuda") == 0) {
        *want_cuda = 1;
    } else if (strncmp(spec, "cuda:", 5) == 0) {
        char *end = NULL; /* digits only: strtol alone takes " 1" and "+1" */
        const long v = spec[5] >= '0' && spec[5] <= '9' ? strtol(spec + 5, &end, 10) : -1;
        if (!end || *end || v < 0 || v > 64)
            return cxr_set_error(CXR_E_ARG, "--device %s: the GPU index is a number from 0 to 64",
                                 spec);
        *want_cuda = 1;
        *index = (int)v;
    } else {
        return cxr_set_error(CXR_E_ARG, "--device %s: expected auto, cpu or cuda", spec);
    }
    return CXR_OK;
}

int cxr_device_option_ok(const char *tool, const char *spec)
{
    int want_cuda, is_auto, index;
    if (parse_device(spec, &want_cuda, &is_auto, &index) == CXR_OK) return 1;
    cxr_print_error(tool, cxr_last_error());
    return 0;
}

cxr_status cxr_device_open(cxr_backend **out, const char *spec, int threads, cxr_device *dev)
{
    *out = NULL;
    memset(dev, 0, sizeof *dev);
    dev->kind = CXR_DEVICE_CPU;
    dev->index = -1;
    int want_cuda, is_auto, index;
    cxr_status ps = parse_device(spec, &want_cuda, &is_auto, &index);
    if (ps != CXR_OK) return ps;
    if (want_cuda || is_auto) {
#ifdef CXR_HAVE_CUDA
        cxr_status st = cxr_backend_cuda_create(out, index);
        if (st == CXR_OK) {
            char gpu[400];
            dev->kind = CXR_DEVICE_CUDA;
            dev->index = index;
            snprintf(dev->desc, sizeof dev->desc, "cuda:%d", index);
            cxr_cuda_describe(cxr_backend_cuda_context(*out), gpu, sizeof gpu);
            snprintf(dev->note, sizeof dev->note, "device %s", gpu);
            return CXR_OK;
        }
        if (!is_auto) return cxr_wrap_error(st, "--device %s", spec);
        /* no GPU at all: nothing to say; a GPU that fails: say why it is not used */
        if (st != CXR_E_NODEVICE)
            snprintf(dev->note, sizeof dev->note,
                     "device auto: the GPU cannot be used (%s); "
                     "using the CPU",
                     cxr_last_error());
#else
        (void)index;
        if (!is_auto)
            return cxr_set_error(
                CXR_E_UNSUPPORTED,
                "--device %s: built without CUDA "
                "(reconfigure with -DCXR_CUDA=ON on a machine with the CUDA toolkit)",
                spec);
#endif
    }
    cxr_status st = cxr_backend_cpu_create(out, threads);
    if (st != CXR_OK) return st;
    /* the threads it computes with: a runtime's OMP_THREAD_LIMIT, or the 256 the backend
     * takes at most, may give fewer than asked for */
    const int n = cxr_backend_cpu_threads(*out);
    snprintf(dev->desc, sizeof dev->desc, "cpu (%d thread%s)", n, n == 1 ? "" : "s");
    return CXR_OK;
}

cxr_status cxr_device_open_model(cxr_backend **out, const char *spec, int threads, int head,
                                 int input_pool, cxr_device *dev)
{
    cxr_status st = cxr_device_open(out, spec, threads, dev);
    if (st != CXR_OK) return st;
    cxr_backend *be = *out;
    const char *missing = NULL;
    if (head == CXR_HEAD_GAP && (!be->global_avgpool_forward || !be->global_avgpool_backward))
        missing = "global average pool, which the model's head gap needs";
    else if (input_pool > 1 && !be->avgpool_forward)
        missing = "average pool, which the model's input pool needs";
    if (!missing) return CXR_OK;
    const int is_auto = !spec || strcmp(spec, "auto") == 0;
    char name[32];
    snprintf(name, sizeof name, "%s", be->name);
    cxr_backend_destroy(be);
    *out = NULL;
    if (!is_auto)
        return cxr_set_error(CXR_E_UNSUPPORTED,
                             "--device %s: the %s backend has no %s (--device cpu runs it)", spec,
                             name, missing);
    if ((st = cxr_device_open(out, "cpu", threads, dev)) != CXR_OK) return st;
    snprintf(dev->note, sizeof dev->note, "device auto: the %s backend has no %s; using the %s",
             name, missing, dev->desc);
    return CXR_OK;
}
