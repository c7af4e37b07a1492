/* sgemm.c: the general matrix product of the CPU backend's im2col path (CPUs without AVX2+FMA,
 * or CXR_CPU_PARALLEL=blas; conv.c, dense.c). oneDNN's dnnl_sgemm in a build with oneDNN, so
 * such a build does not link OpenBLAS at all: Debian's OpenBLAS (pthread build) starts a thread
 * per core when it loads, before any code of ours, and under an address-space limit too small
 * for their buffers one of them spins forever and the process never exits (README, "Under
 * resource limits"). OpenBLAS's cblas_sgemm only in a build without oneDNN.
 *
 * Called inside our OpenMP regions, one product per thread, each on its calling thread alone
 * (oneDNN with its team size set to 1 for the call; OpenBLAS set to one thread, backend_cpu.c),
 * so its bits depend on the product's shape only. oneDNN's GEMM kernels point the stack
 * pointer into the heap, so asynchronous signals are held back from the calling thread while
 * one runs (cxr_signals.h; the team's workers block them for good). */
#include "cpu_internal.h"

#ifdef CXR_HAVE_DNNL
#include <dnnl.h>
#include <omp.h>

#include "cxr_signals.h"
#else
#include <cblas.h>
#endif

cxr_status cxr_cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
#ifdef CXR_HAVE_DNNL
    /* one thread: oneDNN would start a team of omp_get_max_threads() where the calling region
     * is inactive (a team of one), and split the product's sums by it */
    const int team = omp_get_max_threads();
    omp_set_num_threads(1);
    cxr_sigmask_saved old;
    cxr_sigmask_block_async(&old);
    const dnnl_status_t s = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A,
                                       lda, B, ldb, beta, C, ldc);
    cxr_sigmask_restore(&old);
    omp_set_num_threads(team);
    if (s == dnnl_success) return CXR_OK;
    return s == dnnl_out_of_memory ? CXR_E_NOMEM : CXR_E_INTERNAL;
#else
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return CXR_OK;
#endif
}

void cxr_cpu_sgemm_single_threaded(void)
{
#ifndef CXR_HAVE_DNNL
    openblas_set_num_threads(1);
#endif
}
