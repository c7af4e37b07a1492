/* stale_module.c: CUDA modules of another build (test_cuda_module.sh), which the core must
 * refuse with a message naming the file, before it calls anything in their (empty) tables:
 *  STALE_KIND 0: another ABI number (0);
 *  STALE_KIND 1: this ABI, but one struct crossing the boundary has another size;
 *  STALE_KIND 2: this ABI and every size, but the boundary headers' fingerprint differs (a
 *                reordered op slot or enum keeps the sizes: only the fingerprint sees it). */
#include "cuda_module.h"
#include "cxr_cuda.h"
#include "cxr_ops.h"

const cxr_cuda_module *cxr_cuda_module_entry(uint32_t abi, const cxr_cuda_core *core);
const cxr_cuda_module *cxr_cuda_module_entry(uint32_t abi, const cxr_cuda_core *core)
{
    static cxr_cuda_module m;
    (void)abi, (void)core;
    if (STALE_KIND == 0) {
        m.abi = 0;
        m.size = 8;
        return &m;
    }
    m.abi = CXR_CUDA_MODULE_ABI;
    m.size = sizeof(cxr_cuda_module);
    m.core_size = sizeof(cxr_cuda_core);
    m.loader_options_size = sizeof(cxr_loader_options) + (STALE_KIND == 1 ? 8 : 0);
    m.batch_size = sizeof(cxr_batch);
    m.gpu_batch_size = sizeof(cxr_gpu_batch);
    m.split_info_size = sizeof(cxr_split_info);
    m.backend_size = sizeof(cxr_backend);
    m.version = STALE_KIND == 2 ? CXR_VERSION_STRING "+0000000000000000"
                                : CXR_VERSION_STRING "+" CXR_CUDA_BOUNDARY;
    return &m;
}
