/* loader_gpu.cu: the loader's GPU half (cxr_cuda.h; diagram in specs/gpu.md "Loader").
 *
 * Streamed: the CPU loader's worker threads decode chunks from the mmapped store into its ring
 * of batch buffers (depth >= 2), page-locked here once with cudaHostRegister. Batch k:
 *   copy stream:    wait consumed[j] -> H2D ring buffer -> staging[j] -> record copied[j]
 *   compute stream: record t0[j] -> wait copied[j] -> record t1[j] -> D2D staging[j] -> dst
 *                   -> record consumed[j]          (j = k % 2)
 * so the copy of batch k+1 overlaps the compute of batch k, and staging[j] is rewritten only
 * after the compute stream has consumed it. The host blocks only on copied[j] of the previous
 * batch before handing its ring buffer back to the CPU loader (the loader's contract). The
 * compute stream's data wait is the sum of elapsed(t0[j], t1[j]).
 *
 * Resident: the split is decoded once (through the CPU loader), copied into one device array
 * (n,S,S), and each batch is a gather kernel over the epoch's order on the compute stream.
 * With augmentation (cxr_loader_options.augment) or mixup the loader streams: the CPU
 * loader's workers augment each image and its assembler mixes each batch, exactly as in a CPU
 * run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.cuh"
#include "cxr_augment.h"

#define N_STAGE 2
#define MAX_REG 16
/* Resident auto keeps this much device memory free besides the split (cuDNN workspaces,
 * evaluation batches, fragmentation). */
#define RESIDENT_MARGIN ((size_t)1536 << 20)

struct cxr_gpu_loader {
    cxr_cuda_ctx *ctx;
    cxr_loader *cpu;
    cxr_loader_options opt;
    const int32_t *split_labels; /* store-owned (n) */
    int64_t n, n_batches;
    size_t img; /* floats per image */
    int resident;
    /* resident */
    float *all;       /* device (n,S,S) */
    int64_t *order_h; /* pinned (n) epoch order */
    int64_t *order_d; /* device (n) */
    cudaEvent_t order_copied;
    int begun;    /* an epoch's order is there (begin_epoch has run) */
    int64_t pos;  /* next image of the epoch */
    int32_t *lab; /* host (bmax) labels of the current batch */
    int bmax;     /* the most images a batch holds: --batch, or the split's n when smaller (the
                   * CPU loader's ring buffers hold that many, and so do the buffers here) */
    int64_t step;
    /* streamed */
    float *stage[N_STAGE];
    cudaEvent_t copied[N_STAGE], consumed[N_STAGE], t0[N_STAGE], t1[N_STAGE];
    int timed[N_STAGE]; /* t0/t1 of slot j hold a pair not yet added to gpu_wait_ms */
    int64_t k;          /* batches delivered this epoch */
    int prev_copy;      /* slot whose copy must finish before the next CPU-loader call, -1 */
    const void *reg[MAX_REG];
    int n_reg;
    double gpu_wait_ms;
    double host_wait_s; /* resident: time in begin_epoch/next beyond kernel launches (0) */
};

__global__ void gather_images(float4 *__restrict__ dst /* (n, img/4) */,
                              const float4 *__restrict__ all /* (N, img/4) */,
                              const int64_t *__restrict__ order /* (n) */, int n, size_t img4)
{
    const size_t total = (size_t)n * img4;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t r = i / img4, p = i - r * img4;
        dst[i] = all[(size_t)order[r] * img4 + p];
    }
}

extern "C" void cxr_gpu_loader_destroy(cxr_gpu_loader *g)
{
    if (!g) return;
    cudaSetDevice(g->ctx->device);
    cudaStreamSynchronize(g->ctx->copy);
    cudaStreamSynchronize(g->ctx->compute);
    for (int i = 0; i < g->n_reg; i++) cudaHostUnregister((void *)g->reg[i]);
    for (int j = 0; j < N_STAGE; j++) {
        cudaFree(g->stage[j]);
        if (g->copied[j]) cudaEventDestroy(g->copied[j]);
        if (g->consumed[j]) cudaEventDestroy(g->consumed[j]);
        if (g->t0[j]) cudaEventDestroy(g->t0[j]);
        if (g->t1[j]) cudaEventDestroy(g->t1[j]);
    }
    if (g->order_copied) cudaEventDestroy(g->order_copied);
    cudaFree(g->all);
    cudaFree(g->order_d);
    cudaFreeHost(g->order_h);
    cxr_loader_destroy(g->cpu);
    free(g->lab);
    free(g);
}

/* Decode the whole split once into g->all (resident mode). */
static cxr_status fill_resident(cxr_gpu_loader *g)
{
    cxr_status st = CXR_OK;
    const char *what = "gpu loader (resident fill)";
    float *pin[N_STAGE] = { NULL, NULL };
    cudaEvent_t done[N_STAGE] = { NULL, NULL };
    const size_t bb = (size_t)g->bmax * g->img * sizeof(float);
    int64_t k = 0;
    for (int j = 0; j < N_STAGE; j++) {
        CUDA_TRY(what, cudaHostAlloc((void **)&pin[j], bb, cudaHostAllocDefault));
        CUDA_TRY(what, cudaEventCreateWithFlags(&done[j], cudaEventDisableTiming));
    }
    CXR_TRY(cxr_loader_begin_epoch(g->cpu, 0));
    for (;; k++) {
        cxr_batch b;
        CXR_TRY(cxr_loader_next_batch(g->cpu, &b));
        if (b.n == 0) break;
        const int j = (int)(k % N_STAGE);
        CUDA_TRY(what, cudaEventSynchronize(done[j])); /* pin[j]'s previous copies are done */
        memcpy(pin[j], b.images, (size_t)b.n * g->img * sizeof(float));
        for (int i = 0; i < b.n; i++) {
            if (b.indices[i] < 0 || b.indices[i] >= g->n)
                CXR_THROW(CXR_E_INTERNAL, "%s: image index %lld outside the split", what,
                          (long long)b.indices[i]);
            CUDA_TRY(what, cudaMemcpyAsync(g->all + (size_t)b.indices[i] * g->img,
                                           pin[j] + (size_t)i * g->img, g->img * sizeof(float),
                                           cudaMemcpyHostToDevice, g->ctx->copy));
        }
        CUDA_TRY(what, cudaEventRecord(done[j], g->ctx->copy));
    }
    CUDA_TRY(what, cudaStreamSynchronize(g->ctx->copy));
bail:
    if (st != CXR_OK) cudaStreamSynchronize(g->ctx->copy);
    for (int j = 0; j < N_STAGE; j++) {
        cudaFreeHost(pin[j]);
        if (done[j]) cudaEventDestroy(done[j]);
    }
    return st;
}

extern "C" cxr_status cxr_gpu_loader_create(cxr_gpu_loader **out, cxr_cuda_ctx *ctx,
                                            const cxr_store *store, const char *split,
                                            const cxr_loader_options *opt,
                                            cxr_resident_mode resident)
{
    cxr_status st = CXR_OK;
    const char *what = "gpu loader";
    cxr_split_info info;
    size_t free_b = 0, total_b = 0, need = 0;
    *out = NULL;
    if (opt->parts != 1) /* the resident copy and the batch gather index the whole split */
        return cxr_set_error(CXR_E_ARG, "gpu loader: parts must be 1 (got %d)", opt->parts);
    /* the resident copy is decoded once; augmented images change every epoch and come from the
     * CPU loader's workers (the same function as a CPU run): streamed only */
    if (cxr_augment_active(opt->augment) || opt->mixup > 0) {
        if (resident == CXR_RESIDENT_ON)
            return cxr_set_error(CXR_E_ARG,
                                 "gpu loader: --resident on holds the split decoded once, and "
                                 "%s changes the images every epoch: use --resident off (or "
                                 "auto), or %s",
                                 opt->mixup > 0 ? "mixup" : "augmentation",
                                 opt->mixup > 0 ? "--mixup 0" : "--augment none");
        resident = CXR_RESIDENT_OFF;
    }
    cxr_gpu_loader *g = (cxr_gpu_loader *)calloc(1, sizeof *g);
    if (!g) return cxr_set_error(CXR_E_NOMEM, "gpu loader: out of memory");
    g->ctx = ctx;
    g->opt = *opt;
    g->prev_copy = -1;
    CUDA_TRY(what, cudaSetDevice(ctx->device));
    CXR_TRY(cxr_store_split(store, split, &info));
    CXR_TRY(cxr_loader_create(&g->cpu, store, split, opt));
    g->split_labels = info.labels;
    g->n = cxr_loader_n_images(g->cpu);
    g->n_batches = cxr_loader_n_batches(g->cpu);
    g->img = (size_t)info.size * (size_t)info.size;
    if (g->img % 4)
        CXR_THROW(CXR_E_FORMAT, "%s: image side %d gives a pixel count not divisible by 4", what,
                  info.size);
    g->bmax = (int64_t)opt->batch < g->n ? opt->batch : g->n > 0 ? (int)g->n : 1;
    g->lab = (int32_t *)malloc((size_t)g->bmax * sizeof(int32_t));
    if (!g->lab) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", what);

    need = (size_t)g->n * g->img * sizeof(float) + (size_t)g->n * sizeof(int64_t);
    CXR_TRY(cxr_cuda_mem_info(ctx, &free_b, &total_b));
    if (resident == CXR_RESIDENT_AUTO)
        g->resident = need + ctx->reserve + RESIDENT_MARGIN + total_b / 20 <= free_b;
    else
        g->resident = resident == CXR_RESIDENT_ON;

    if (g->resident) {
        cudaError_t e = cudaMalloc((void **)&g->all, (size_t)g->n * g->img * sizeof(float));
        if (e == cudaSuccess)
            e = cudaMalloc((void **)&g->order_d, (size_t)(g->n + 1) * sizeof(int64_t));
        if (e != cudaSuccess) {
            cudaGetLastError(); /* an allocation failure is not sticky: clear it */
            cudaFree(g->all);
            g->all = NULL;
            if (resident == CXR_RESIDENT_ON)
                CXR_THROW(CXR_E_NOMEM,
                          "%s: split '%s' (%lld images, %.1f MiB) does not fit in device "
                          "memory (%.1f MiB free): %s; use --resident off",
                          what, split, (long long)g->n, (double)need / 1048576.0,
                          (double)free_b / 1048576.0, cudaGetErrorString(e));
            g->resident = 0; /* auto: the free-memory estimate was wrong; stream instead */
        }
    }
    if (g->resident) {
        CUDA_TRY(what, cudaHostAlloc((void **)&g->order_h, (size_t)(g->n + 1) * sizeof(int64_t),
                                     cudaHostAllocDefault));
        CUDA_TRY(what, cudaEventCreateWithFlags(&g->order_copied, cudaEventDisableTiming));
        CXR_TRY(fill_resident(g));
    } else {
        for (int j = 0; j < N_STAGE; j++) {
            CUDA_TRY(what,
                     cudaMalloc((void **)&g->stage[j], (size_t)g->bmax * g->img * sizeof(float)));
            CUDA_TRY(what, cudaEventCreateWithFlags(&g->copied[j], cudaEventDisableTiming));
            CUDA_TRY(what, cudaEventCreateWithFlags(&g->consumed[j], cudaEventDisableTiming));
            CUDA_TRY(what, cudaEventCreate(&g->t0[j]));
            CUDA_TRY(what, cudaEventCreate(&g->t1[j]));
        }
    }
    *out = g;
    return CXR_OK;
bail:
    cxr_gpu_loader_destroy(g);
    return st;
}

extern "C" int cxr_gpu_loader_is_resident(const cxr_gpu_loader *g) { return g->resident; }
extern "C" int64_t cxr_gpu_loader_n_images(const cxr_gpu_loader *g) { return g->n; }
extern "C" int64_t cxr_gpu_loader_n_batches(const cxr_gpu_loader *g) { return g->n_batches; }
extern "C" size_t cxr_gpu_loader_device_bytes(const cxr_gpu_loader *g)
{
    if (g->resident) return (size_t)g->n * (g->img * sizeof(float) + sizeof(int64_t));
    return N_STAGE * (size_t)g->bmax * g->img * sizeof(float);
}

/* Add finished (t0, t1) pairs of slot j to the GPU wait total. */
static cxr_status collect_wait(cxr_gpu_loader *g, int j)
{
    cxr_status st = CXR_OK;
    float ms = 0.0f;
    if (!g->timed[j]) return CXR_OK;
    CUDA_TRY("gpu loader (wait timing)", cudaEventSynchronize(g->t1[j]));
    CUDA_TRY("gpu loader (wait timing)", cudaEventElapsedTime(&ms, g->t0[j], g->t1[j]));
    g->gpu_wait_ms += ms;
    g->timed[j] = 0;
bail:
    return st;
}

extern "C" cxr_status cxr_gpu_loader_begin_epoch(cxr_gpu_loader *g, int epoch)
{
    cxr_status st = CXR_OK;
    const char *what = "gpu loader (begin epoch)";
    if (epoch < 0) return cxr_set_error(CXR_E_ARG, "gpu loader: negative epoch %d", epoch);
    CUDA_TRY(what, cudaSetDevice(g->ctx->device));
    g->step = 0;
    g->pos = 0;
    g->k = 0;
    g->gpu_wait_ms = 0.0;
    g->host_wait_s = 0.0;
    if (g->resident) {
        /* the previous epoch's order upload must be done before the host array changes */
        CUDA_TRY(what, cudaEventSynchronize(g->order_copied));
        CXR_TRY(cxr_loader_epoch_order(g->cpu, epoch, g->order_h));
        CUDA_TRY(what, cudaMemcpyAsync(g->order_d, g->order_h, (size_t)g->n * sizeof(int64_t),
                                       cudaMemcpyHostToDevice, g->ctx->compute));
        CUDA_TRY(what, cudaEventRecord(g->order_copied, g->ctx->compute));
        g->begun = 1;
        return CXR_OK;
    }
    /* an abandoned epoch may have a copy in flight from a ring buffer the loader will reuse */
    CUDA_TRY(what, cudaStreamSynchronize(g->ctx->copy));
    for (int j = 0; j < N_STAGE; j++) g->timed[j] = 0;
    g->prev_copy = -1;
    CXR_TRY(cxr_loader_begin_epoch(g->cpu, epoch));
bail:
    return st;
}

/* Page-lock the CPU loader's ring buffer p once (it holds `bytes`); on failure the copy still
 * works from pageable memory, only without overlap. */
static void register_ring_buffer(cxr_gpu_loader *g, const void *p, size_t bytes)
{
    for (int i = 0; i < g->n_reg; i++)
        if (g->reg[i] == p) return;
    if (g->n_reg == MAX_REG) return;
    const cudaError_t e = cudaHostRegister((void *)p, bytes, cudaHostRegisterDefault);
    if (e == cudaSuccess)
        g->reg[g->n_reg++] = p;
    else
        cudaGetLastError(); /* clear the sticky-free error; fall back to pageable copies */
    if (getenv("CXR_GPU_LOADER_VERBOSE")) /* diagnostics: is the copy asynchronous at all? */
        fprintf(stderr, "gpu loader: ring buffer %p (%zu bytes): %s\n", p, bytes,
                e == cudaSuccess ? "page-locked" : cudaGetErrorString(e));
}

extern "C" cxr_status cxr_gpu_loader_next(cxr_gpu_loader *g, float *dst, cxr_gpu_batch *b)
{
    cxr_status st = CXR_OK;
    const char *what = "gpu loader (next batch)";
    cudaStream_t cs = g->ctx->compute, ps = g->ctx->copy;
    cxr_batch hb;
    int j = 0;
    size_t bytes = 0;
    memset(b, 0, sizeof *b);
    if (g->resident) {
        if (!g->begun) /* no order yet: the gather would read past the device arrays */
            return cxr_set_error(CXR_E_ARG, "gpu loader: next batch before begin_epoch");
        const int64_t left = g->n - g->pos;
        const int n = (int)(left < g->opt.batch ? left : g->opt.batch);
        b->step = g->step;
        if (n <= 0) return CXR_OK;
        const size_t img4 = g->img / 4;
        gather_images<<<cxr_grid_for((size_t)n * img4), 256, 0, cs>>>(
            (float4 *)dst, (const float4 *)g->all, g->order_d + g->pos, n, img4);
        CUDA_LAUNCH_CHECK("gpu loader (gather kernel)");
        for (int i = 0; i < n; i++) g->lab[i] = g->split_labels[g->order_h[g->pos + i]];
        b->n = n;
        b->labels = g->lab;
        b->indices = g->order_h + g->pos;
        g->pos += n;
        g->step++;
        return CXR_OK;
    }
    /* the CPU loader reuses the previous batch's ring buffer once we call it again */
    if (g->prev_copy >= 0) CUDA_TRY(what, cudaEventSynchronize(g->copied[g->prev_copy]));
    g->prev_copy = -1;
    CXR_TRY(cxr_loader_next_batch(g->cpu, &hb));
    b->step = hb.step;
    if (hb.n == 0) return CXR_OK;
    j = (int)(g->k % N_STAGE);
    CXR_TRY(collect_wait(g, j));
    /* the ring buffer's own size (bmax images), never more: cudaHostRegister would page-lock
     * whatever lies past it */
    register_ring_buffer(g, hb.images, (size_t)g->bmax * g->img * sizeof(float));
    bytes = (size_t)hb.n * g->img * sizeof(float);
    CUDA_TRY(what, cudaStreamWaitEvent(ps, g->consumed[j], 0));
    CUDA_TRY(what, cudaMemcpyAsync(g->stage[j], hb.images, bytes, cudaMemcpyHostToDevice, ps));
    /* from here the ring buffer is the copy's until copied[j]: a later next() waits on it
     * whatever fails below (one whose event was not recorded waits for the stream instead) */
    if (cudaEventRecord(g->copied[j], ps) != cudaSuccess) {
        cudaGetLastError(); /* not the next kernel launch's error when the retry succeeds */
        cudaStreamSynchronize(ps);
        CUDA_TRY(what, cudaEventRecord(g->copied[j], ps));
    }
    g->prev_copy = j;
    CUDA_TRY(what, cudaEventRecord(g->t0[j], cs));
    CUDA_TRY(what, cudaStreamWaitEvent(cs, g->copied[j], 0));
    CUDA_TRY(what, cudaEventRecord(g->t1[j], cs));
    CUDA_TRY(what, cudaMemcpyAsync(dst, g->stage[j], bytes, cudaMemcpyDeviceToDevice, cs));
    CUDA_TRY(what, cudaEventRecord(g->consumed[j], cs));
    g->timed[j] = 1;
    g->k++;
    b->n = hb.n;
    b->labels = hb.labels;
    b->indices = hb.indices;
    b->labels2 = hb.labels2;
    b->mix = hb.mix;
bail:
    return st;
}

extern "C" double cxr_gpu_loader_wait_seconds(cxr_gpu_loader *g)
{
    if (g->resident) return g->host_wait_s;
    for (int j = 0; j < N_STAGE; j++)
        if (collect_wait(g, j) != CXR_OK) break;
    return cxr_loader_wait_seconds(g->cpu) + g->gpu_wait_ms * 1e-3;
}
