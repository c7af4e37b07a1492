/* backend_cpu.c: the CPU backend: host memory, thread count, per-thread scratch, and the
 * dispatch table filled with the *_cpu ops (conv.c, pool.c, dense.c, act.c, loss.c, adam.c).
 *
 * Threading model (specs/model.md, "CPU implementation"): convolutions run OpenMP threads over
 * the images of a batch, each calling single-threaded OpenBLAS on its own scratch; the large
 * dense GEMMs let OpenBLAS use all threads. CXR_CPU_PARALLEL=blas in the environment switches
 * convolutions to one image at a time with multithreaded BLAS (for the benchmark comparison).
 */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "cpu_internal.h"
#include "ops.h"

static cxr_status cpu_set_threads(void *vctx, int n)
{
    cxr_cpu_ctx *c = vctx;
    if (n <= 0) n = omp_get_num_procs();
    if (n > CXR_CPU_MAX_THREADS) n = CXR_CPU_MAX_THREADS;
    c->n_threads = n;
    openblas_set_num_threads(n);
    return CXR_OK;
}

static cxr_status cpu_alloc(void *ctx, void **p, size_t bytes)
{
    (void)ctx;
    *p = NULL;
    size_t rounded = (bytes + 63) / 64 * 64;
    if (rounded == 0) rounded = 64;
    void *q = aligned_alloc(64, rounded);
    if (!q) return cxr_set_error(CXR_E_NOMEM, "cpu backend: cannot allocate %zu bytes", bytes);
    memset(q, 0, rounded);
    *p = q;
    return CXR_OK;
}

static void cpu_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static cxr_status cpu_zero(void *ctx, void *p, size_t bytes)
{
    cxr_cpu_ctx *c = ctx;
    /* Big activation gradients (hundreds of MB): split the memset over the threads. */
    if (bytes < (1u << 22) || c->n_threads == 1) {
        memset(p, 0, bytes);
        return CXR_OK;
    }
    int nt = c->n_threads;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int t = 0; t < nt; t++) {
        size_t lo = bytes / (size_t)nt * (size_t)t;
        size_t hi = t == nt - 1 ? bytes : bytes / (size_t)nt * (size_t)(t + 1);
        memset((char *)p + lo, 0, hi - lo);
    }
    return CXR_OK;
}

static cxr_status cpu_copy(void *ctx, void *dst, const void *src, size_t bytes)
{
    (void)ctx;
    if (dst != src) memmove(dst, src, bytes);
    return CXR_OK;
}

static cxr_status cpu_sync(void *ctx)
{
    (void)ctx;
    return CXR_OK;
}

int cxr_cpu_threads(void *ctx) { return ctx ? ((cxr_cpu_ctx *)ctx)->n_threads : 1; }

float *cxr_cpu_scratch(void *ctx, int tid, size_t bytes)
{
    cxr_cpu_ctx *c = ctx;
    if (!c || tid < 0 || tid >= CXR_CPU_MAX_THREADS) return NULL;
    if (c->scratch_bytes[tid] < bytes) {
        free(c->scratch[tid]);
        size_t rounded = (bytes + 63) / 64 * 64;
        c->scratch[tid] = aligned_alloc(64, rounded);
        c->scratch_bytes[tid] = c->scratch[tid] ? rounded : 0;
    }
    return c->scratch[tid];
}

static void cpu_destroy(cxr_backend *be)
{
    if (!be) return;
    cxr_cpu_ctx *c = be->ctx;
    if (c) {
        for (int i = 0; i < CXR_CPU_MAX_THREADS; i++) free(c->scratch[i]);
        free(c);
    }
    free(be);
}

void cxr_backend_destroy(cxr_backend *be)
{
    if (be && be->destroy) be->destroy(be);
}

cxr_status cxr_backend_cpu_create(cxr_backend **out, int n_threads)
{
    *out = NULL;
    cxr_backend *be = calloc(1, sizeof *be);
    cxr_cpu_ctx *c = calloc(1, sizeof *c);
    if (!be || !c) {
        free(be);
        free(c);
        return cxr_set_error(CXR_E_NOMEM, "cpu backend: out of memory");
    }
    const char *mode = getenv("CXR_CPU_PARALLEL");
    c->blas_parallel = mode && strcmp(mode, "blas") == 0;
    be->name = "cpu";
    be->ctx = c;
    be->on_device = 0;
    be->destroy = cpu_destroy;
    be->set_threads = cpu_set_threads;
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->zero = cpu_zero;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->sync = cpu_sync;
    be->conv3x3_forward = cxr_conv3x3_forward_cpu;
    be->conv3x3_backward = cxr_conv3x3_backward_cpu;
    be->maxpool2_forward = cxr_maxpool2_forward_cpu;
    be->maxpool2_backward = cxr_maxpool2_backward_cpu;
    be->dense_forward = cxr_dense_forward_cpu;
    be->dense_backward = cxr_dense_backward_cpu;
    be->leaky_relu_forward = cxr_leaky_relu_forward_cpu;
    be->leaky_relu_backward = cxr_leaky_relu_backward_cpu;
    be->dropout_apply = cxr_dropout_apply_cpu;
    be->softmax_forward = cxr_softmax_forward_cpu;
    be->softmax_xent = cxr_softmax_xent_cpu;
    be->adam_step = cxr_adam_step_cpu;
    be->conv3x3_lrelu_pool_forward = cxr_conv3x3_lrelu_pool_forward_cpu;
    be->maxpool2_lrelu_backward = cxr_maxpool2_lrelu_backward_cpu;
    cpu_set_threads(c, n_threads);
    *out = be;
    return CXR_OK;
}
