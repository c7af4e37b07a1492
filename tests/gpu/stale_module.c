/* stale_module.c: a CUDA module of another ABI (test_cuda_module.sh): its entry point answers
 * with ABI 0 and an empty table, which the core must refuse with a message naming the file. */
#include "cuda_module.h"

const cxr_cuda_module *cxr_cuda_module_entry(uint32_t abi, const cxr_cuda_core *core);
const cxr_cuda_module *cxr_cuda_module_entry(uint32_t abi, const cxr_cuda_core *core)
{
    static cxr_cuda_module m;
    (void)abi, (void)core;
    m.abi = 0;
    m.size = 8;
    return &m;
}
