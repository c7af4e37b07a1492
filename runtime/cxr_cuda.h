/* cxr_cuda.h: the CUDA device context and the loader's GPU half (specs/gpu.md).
 *
 * Plain C API, usable from every build: with CUDA off (no CXR_HAVE_CUDA) every function below
 * exists and returns CXR_E_UNSUPPORTED "built without CUDA" (the #ifndef CXR_HAVE_CUDA half of
 * runtime/cuda_loader.c, the loader of the CUDA module, not of data), so callers
 * need no #ifdef. The CUDA types live in runtime/cuda_internal.cuh, for .cu files only.
 *
 * Context: one per device and training run; it holds the device index, a compute stream and a
 * copy stream, the cuDNN and cuBLAS handles (bound to the compute stream), a workspace reused
 * across convolutions, and the precision. No globals: two contexts may coexist.
 *
 * GPU loader: batches of a split delivered into device memory, ordered on the compute stream.
 *  - streamed: the CPU loader (cxr_loader.h) decodes chunks on worker threads into its ring of
 *    batch buffers, which are page-locked once (cudaHostRegister); each batch goes to one of
 *    two device staging buffers by cudaMemcpyAsync on the copy stream while the compute stream
 *    works on the previous batch; events order the two streams (copy-done waited on by the
 *    compute stream; staging-consumed waited on by the copy stream before reuse).
 *  - resident: the whole decoded split is copied once into device memory; each batch is then a
 *    gather kernel (by the epoch's image order) on the compute stream, with no host traffic.
 * Both deliver exactly the batches of the CPU loader with the same options (same order).
 */
#ifndef CXR_CUDA_H
#define CXR_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_loader.h"
#include "cxr_precision.h"
#include "cxr_status.h"
#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cxr_cuda_ctx cxr_cuda_ctx;

/* Open device `device` (0-based): streams, handles. CXR_E_NODEVICE "no NVIDIA GPU (reason)" when
 * the machine has none (no NVIDIA driver, or the driver sees no device) and when the index is
 * out of range; CXR_E_CUDA when an NVIDIA driver is there but CUDA cannot use it (e.g. older
 * than the runtime) or a later call fails; CXR_E_UNSUPPORTED without CUDA. Free with destroy. */
cxr_status cxr_cuda_ctx_create(cxr_cuda_ctx **out, int device);
void cxr_cuda_ctx_destroy(cxr_cuda_ctx *c); /* NULL-safe; waits for queued work first */

/* "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB; driver 13.0, runtime 13.0, cuDNN 9.19.0
 * (built with 9.19.0), cuBLAS 13.0.0)" into buf (always terminated). */
void cxr_cuda_describe(const cxr_cuda_ctx *c, char *buf, size_t cap);
int cxr_cuda_device(const cxr_cuda_ctx *c);
/* The device's PCI bus id as NVML names it ("0000:3B:00.0", cudaDeviceGetPCIBusId) into buf,
 * "" without CUDA or when the driver gives none: what matches a CUDA device to NVML's, whose
 * indices ignore CUDA_VISIBLE_DEVICES and CUDA's fastest-first order. */
void cxr_cuda_pci_bus_id(const cxr_cuda_ctx *c, char *buf, size_t cap);
/* Free and total device memory in bytes (cudaMemGetInfo). */
cxr_status cxr_cuda_mem_info(cxr_cuda_ctx *c, size_t *free_bytes, size_t *total_bytes);
void cxr_cuda_set_precision(cxr_cuda_ctx *c, cxr_precision p);
cxr_precision cxr_cuda_get_precision(const cxr_cuda_ctx *c);
/* Wait until both streams are idle. */
cxr_status cxr_cuda_sync(cxr_cuda_ctx *c);

/* ---------------------------------------------------------------- GPU loader */
typedef enum {
    CXR_RESIDENT_AUTO = -1, /* resident when the split fits in free memory minus a margin */
    CXR_RESIDENT_OFF = 0,   /* always streamed */
    CXR_RESIDENT_ON = 1     /* resident, CXR_E_NOMEM with the sizes when it does not fit */
} cxr_resident_mode;

/* "auto" | "on" | "off" -> *out (CXR_E_ARG otherwise). Works without CUDA. */
cxr_status cxr_resident_parse(const char *s, cxr_resident_mode *out);

typedef struct {
    int n;                  /* images in this batch; 0 = end of epoch */
    const int32_t *labels;  /* host (n); valid until the next call */
    const int64_t *indices; /* host (n) image indices within the split; same lifetime */
    int64_t step;           /* 0-based batch number within the epoch */
    const int32_t *labels2; /* host (n) with mixup (cxr_loader.h): partners' labels; else NULL */
    const float *mix;       /* host (n) with mixup: the weight of labels[i]; else NULL */
} cxr_gpu_batch;

typedef struct cxr_gpu_loader cxr_gpu_loader;

/* A GPU loader over `split` of an open store (the store and ctx must outlive it); opt as for
 * cxr_loader_create (batch, shuffle, seed, window, threads, depth, prefetch; parts must be 1:
 * CXR_E_ARG otherwise). resident: see above. Resident mode decodes the whole split here (a few
 * seconds for 5216 images). With opt->augment active or opt->mixup > 0 the loader streams
 * (auto and off; on is CXR_E_ARG): the CPU loader's workers augment and its assembler mixes
 * every batch as in a CPU run, so both give the same images.
 * Errors: those of cxr_loader_create, CXR_E_NOMEM (device memory, naming the sizes),
 * CXR_E_CUDA naming the call. */
cxr_status cxr_gpu_loader_create(cxr_gpu_loader **out, cxr_cuda_ctx *ctx, const cxr_store *store,
                                 const char *split, const cxr_loader_options *opt,
                                 cxr_resident_mode resident);
void cxr_gpu_loader_destroy(cxr_gpu_loader *g); /* NULL-safe; waits for its copies first */
int cxr_gpu_loader_is_resident(const cxr_gpu_loader *g);
int64_t cxr_gpu_loader_n_images(const cxr_gpu_loader *g);
int64_t cxr_gpu_loader_n_batches(const cxr_gpu_loader *g);
/* Device bytes held by the loader (the resident split, or the staging buffers). */
size_t cxr_gpu_loader_device_bytes(const cxr_gpu_loader *g);
/* Start epoch `epoch` (selects the shuffle, as cxr_loader_begin_epoch); resets wait timers. */
cxr_status cxr_gpu_loader_begin_epoch(cxr_gpu_loader *g, int epoch);
/* Next batch: enqueue on the compute stream the writing of its images into dst (device,
 * (batch,S,S) floats, e.g. cxr_model_input) so that later compute-stream work sees them, and
 * fill *b (b->n == 0 at the end of the epoch). Never synchronizes the device; the host waits
 * only for the CPU loader, for the previous batch's host-to-device copy and, to time its wait,
 * for the compute stream to reach the batch two back (specs/gpu.md). Errors: the CPU
 * loader's (naming file, split, shard), CXR_E_CUDA. */
cxr_status cxr_gpu_loader_next(cxr_gpu_loader *g, float *dst /* (batch,S,S) device */,
                               cxr_gpu_batch *b);
/* Seconds since begin_epoch that data was not ready: the host's wait inside the CPU loader
 * plus the time the compute stream waited on copy-done events (event timing). */
double cxr_gpu_loader_wait_seconds(cxr_gpu_loader *g);

#ifdef __cplusplus
}
#endif
#endif
