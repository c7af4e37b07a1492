/* cuda_module.h: the boundary between the core and the CUDA module (specs/gpu.md "The CUDA
 * module"). Internal: included by runtime/cuda_loader.c, train/backend_cuda_loader.c (the core's
 * shims) and train/cuda_module.cu (the module's entry); not installed.
 *
 * Every CUDA source (the .cu files of runtime/ and train/) is built into one shared module,
 * libcxr_cuda.so, which alone links cudart (static), cuBLAS and cuDNN. The core (the static
 * libraries, libcxr.so and every tool) links none of them: the shims implement cxr_cuda.h and
 * cxr_backend_cuda.h and dlopen() the module the first time a GPU is asked for.
 *
 * The module exports one symbol, CXR_CUDA_MODULE_ENTRY. The core calls it with its ABI number
 * and the table of core functions the module calls back (cxr_cuda_core); it returns the
 * module's table (cxr_cuda_module), whose abi, size and struct sizes the core checks before
 * using any slot, so a module built from other sources is refused with a message instead of
 * crashing.
 *
 * Why a table of core functions rather than -rdynamic executables: the module must use the
 * core's single copy of everything with state (the thread-local error message, the CPU loader
 * it drives), and it is loaded by the tools (static core) and by libcxr.so, which Python opens
 * with RTLD_LOCAL, where a module's undefined symbols would not resolve. The module defines
 * the few core functions its sources call (cxr_set_error, cxr_loader_next_batch, ...) as
 * forwarders through this table, and exports nothing else (version script), so no core global
 * is duplicated in it and no core symbol is interposed by it.
 *
 * Change CXR_CUDA_MODULE_ABI whenever either table or a struct passed across changes meaning;
 * added slots and changed struct sizes are also caught by the size checks.
 */
#ifndef CXR_CUDA_MODULE_H
#define CXR_CUDA_MODULE_H

#include <stdint.h>

#include "cxr_augment.h"
#include "cxr_cuda.h"
#include "cxr_loader.h"
#include "cxr_status.h"
#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CXR_CUDA_MODULE_ABI   1u
#define CXR_CUDA_MODULE_ENTRY "cxr_cuda_module_entry"
#define CXR_CUDA_MODULE_NAME  "libcxr_cuda.so"

/* Core functions the module's sources call. */
typedef struct {
    uint32_t size; /* sizeof(cxr_cuda_core) */
    __typeof__(cxr_set_error) *set_error;
    __typeof__(cxr_wrap_error) *wrap_error;
    __typeof__(cxr_precision_name) *precision_name;
    __typeof__(cxr_augment_active) *augment_active;
    __typeof__(cxr_store_split) *store_split;
    __typeof__(cxr_loader_create) *loader_create;
    __typeof__(cxr_loader_destroy) *loader_destroy;
    __typeof__(cxr_loader_begin_epoch) *loader_begin_epoch;
    __typeof__(cxr_loader_next_batch) *loader_next_batch;
    __typeof__(cxr_loader_wait_seconds) *loader_wait_seconds;
    __typeof__(cxr_loader_n_images) *loader_n_images;
    __typeof__(cxr_loader_n_batches) *loader_n_batches;
    __typeof__(cxr_loader_epoch_order) *loader_epoch_order;
} cxr_cuda_core;

struct cxr_backend; /* train/cxr_ops.h */

/* The module's implementations of cxr_cuda.h and cxr_backend_cuda.h. */
typedef struct {
    uint32_t abi;  /* CXR_CUDA_MODULE_ABI of the module's build */
    uint32_t size; /* sizeof(cxr_cuda_module) */
    /* sizes of the structs passed across, as the module was compiled */
    uint32_t core_size, loader_options_size, batch_size, gpu_batch_size, split_info_size;
    uint32_t backend_size; /* sizeof(cxr_backend), checked by train/backend_cuda_loader.c */
    const char *version;   /* "VERSION+FINGERPRINT": cxr_version_string and CXR_CUDA_BOUNDARY
                            * (runtime/CMakeLists.txt) of the module's build; must equal the
                            * core's */
    __typeof__(cxr_cuda_ctx_create) *ctx_create;
    __typeof__(cxr_cuda_ctx_destroy) *ctx_destroy;
    __typeof__(cxr_cuda_describe) *describe;
    __typeof__(cxr_cuda_device) *device;
    __typeof__(cxr_cuda_mem_info) *mem_info;
    __typeof__(cxr_cuda_pci_bus_id) *pci_bus_id;
    __typeof__(cxr_cuda_set_precision) *set_precision;
    __typeof__(cxr_cuda_get_precision) *get_precision;
    __typeof__(cxr_cuda_sync) *sync;
    __typeof__(cxr_gpu_loader_create) *gpu_loader_create;
    __typeof__(cxr_gpu_loader_destroy) *gpu_loader_destroy;
    __typeof__(cxr_gpu_loader_is_resident) *gpu_loader_is_resident;
    __typeof__(cxr_gpu_loader_n_images) *gpu_loader_n_images;
    __typeof__(cxr_gpu_loader_n_batches) *gpu_loader_n_batches;
    __typeof__(cxr_gpu_loader_device_bytes) *gpu_loader_device_bytes;
    __typeof__(cxr_gpu_loader_begin_epoch) *gpu_loader_begin_epoch;
    __typeof__(cxr_gpu_loader_next) *gpu_loader_next;
    __typeof__(cxr_gpu_loader_wait_seconds) *gpu_loader_wait_seconds;
    /* cxr_backend_cuda.h; set_precision is called for the CUDA backend only */
    cxr_status (*backend_create)(struct cxr_backend **out, int device);
    cxr_cuda_ctx *(*backend_context)(struct cxr_backend *be);
    cxr_status (*backend_set_precision)(struct cxr_backend *be, cxr_precision p);
    void (*backend_set_log)(struct cxr_backend *be, void (*fn)(void *user, const char *line),
                            void *user);
} cxr_cuda_module;

/* The module's one exported function: keeps `core` when abi matches its own (and core's size),
 * and returns its table in any case so that the core can name the mismatch. */
typedef const cxr_cuda_module *cxr_cuda_module_entry_fn(uint32_t abi, const cxr_cuda_core *core);

/* Core side (runtime/cuda_loader.c). Load the module once per process (thread-safe) and
 * return its table, or NULL with the load's status and message set again on this thread:
 * CXR_E_UNSUPPORTED without CUDA in the build, CXR_E_NODEVICE when no NVIDIA driver loads
 * (the module is then never opened), CXR_E_CUDA when the module is missing, cannot be loaded
 * (the path and dlerror's reason) or is stale. */
const cxr_cuda_module *cxr_cuda_module_get(cxr_status *st);
/* The table when the module is already loaded, else NULL; never loads. */
const cxr_cuda_module *cxr_cuda_module_loaded(void);
/* The path the module was (or was to be) loaded from; "" before the first load attempt. */
const char *cxr_cuda_module_path(void);

#ifdef __cplusplus
}
#endif
#endif
