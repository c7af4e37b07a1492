/* dense.c: fully connected layer, CPU reference: out = in @ W^T + b, W (OUT,IN) row-major.
 *
 * Own kernels on AVX2+FMA CPUs (gemm_avx2.c), so the dense layers never depend on which CPU
 * OpenBLAS thinks it runs on (Debian's 0.3.21 calls a Sapphire Rapids Xeon "Prescott" and runs
 * its SSE3 kernels); the OpenMP threads split the output columns, so every element is summed
 * in one fixed order whatever the thread count:
 *  - forward: cxr_gemm_nt (dot products of rows of `in` and rows of W), threads over OUT;
 *  - dW (OUT,IN) += dout^T @ in: cxr_gemm_wcol with the N images as the inner dimension
 *    (row j of `in` is "column" j), threads over IN;
 *  - din (N,IN) += dout @ W: cxr_gemm_wcol with the OUT rows of W as the inner dimension,
 *    threads over IN.
 * Without AVX2 (or CXR_CPU_PARALLEL=blas): single-threaded OpenBLAS on each thread's slice of
 * columns. */
#include <cblas.h>
#include <omp.h>

#include "cpu_internal.h"
#include "dnnl_cpu.h"
#include "ops.h"

/* Columns [c0,c1) of n for thread t of nt, on multiples of 16 (the kernels' panel width). */
static void col_range(int n, int t, int nt, int *c0, int *c1)
{
    const int panels = (n + 15) / 16;
    *c0 = (int)((long)panels * t / nt) * 16;
    *c1 = (int)((long)panels * (t + 1) / nt) * 16;
    if (*c0 > n) *c0 = n;
    if (*c1 > n) *c1 = n;
}

/* Threads for a product with n output columns: no more than one per 16-column panel. */
static int col_threads(void *ctx, int n)
{
    const int nt = cxr_cpu_threads(ctx), panels = (n + 15) / 16;
    return nt < panels ? nt : panels;
}

static int use_own(void *ctx)
{
    return !((cxr_cpu_ctx *)ctx)->blas_parallel && cxr_gemm_wcol_available();
}

cxr_status cxr_dense_forward_cpu(void *ctx, float *out /* (N,OUT) */, const float *in /* (N,IN) */,
                                 const float *w /* (OUT,IN) */, const float *b /* (OUT) */, int N,
                                 int IN, int OUT)
{
    if (!ctx) return cxr_set_error(CXR_E_ARG, "dense_forward: no cpu context");
    cxr_cpu_enter(ctx);
#ifdef CXR_HAVE_DNNL
    if (cxr_cpu_dnnl(ctx, CXR_DNNL_DENSE))
        return cxr_dnnl_dense_forward(((cxr_cpu_ctx *)ctx)->dnnl, out, in, w, b, N, IN, OUT);
#endif
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) out[(size_t)n * OUT + o] = b[o];
    const int own = use_own(ctx);
    /* own kernel: 4-row blocks of W per thread; BLAS: 16-column slices */
    const int nt =
        own ? (cxr_cpu_threads(ctx) < (OUT + 3) / 4 ? cxr_cpu_threads(ctx) : (OUT + 3) / 4)
            : col_threads(ctx, OUT);
#pragma omp parallel num_threads(nt)
    {
        const int t = omp_get_thread_num();
        if (own) {
            const int q = (OUT + 3) / 4;
            int o0 = (int)((long)q * t / nt) * 4, o1 = (int)((long)q * (t + 1) / nt) * 4;
            if (o1 > OUT) o1 = OUT;
            if (o0 < o1)
                cxr_gemm_nt(out + o0, (size_t)OUT, in, (size_t)IN, w + (size_t)o0 * IN, (size_t)IN,
                            N, o1 - o0, IN);
        } else {
            int o0, o1;
            col_range(OUT, t, nt, &o0, &o1);
            if (o0 < o1)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, o1 - o0, IN, 1.0f, in, IN,
                            w + (size_t)o0 * IN, IN, 1.0f, out + o0, OUT);
        }
    }
    return CXR_OK;
}

cxr_status cxr_dense_backward_cpu(void *ctx, float *din /* (N,IN) or NULL */,
                                  float *dw /* (OUT,IN) */, float *db /* (OUT) */,
                                  const float *dout /* (N,OUT) */, const float *in /* (N,IN) */,
                                  const float *w /* (OUT,IN) */, int N, int IN, int OUT)
{
    if (!ctx) return cxr_set_error(CXR_E_ARG, "dense_backward: no cpu context");
    cxr_cpu_enter(ctx);
    /* db (OUT) += column sums of dout, images in order */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) db[o] += dout[(size_t)n * OUT + o];
#ifdef CXR_HAVE_DNNL
    if (cxr_cpu_dnnl(ctx, CXR_DNNL_DENSE))
        return cxr_dnnl_dense_backward(((cxr_cpu_ctx *)ctx)->dnnl, din, dw, dout, in, w, N, IN,
                                       OUT);
#endif
    const int own = use_own(ctx);
    const int mx = N > OUT ? N : OUT;
    if (own && (long)mx * IN > 0x7fffffffL)
        return cxr_set_error(CXR_E_ARG, "dense_backward: %d x %d too large for int offsets", mx,
                             IN);
    /* shared, read-only in the parallel region: dout^T (OUT,N) and the offset table */
    const size_t doutT_f = ((size_t)OUT * N + 15) / 16 * 16;
    float *scr = own ? cxr_cpu_scratch(ctx, 0, (doutT_f + (size_t)mx) * sizeof(float)) : NULL;
    if (own && !scr) return cxr_set_error(CXR_E_NOMEM, "dense_backward: no scratch");
    float *doutT = scr;
    int *offs = own ? (int *)(scr + doutT_f) : NULL;
    if (own)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OUT; o++) doutT[(size_t)o * N + n] = dout[(size_t)n * OUT + o];
    const int nt = col_threads(ctx, IN);
    /* dW (OUT,IN) += dout^T (OUT,N) @ in (N,IN) */
    if (own)
        for (int j = 0; j < N; j++) offs[j] = j * IN;
#pragma omp parallel num_threads(nt)
    {
        int c0, c1;
        col_range(IN, omp_get_thread_num(), nt, &c0, &c1);
        if (c0 < c1 && own)
            cxr_gemm_wcol(dw + c0, (size_t)IN, doutT, (size_t)N, in + c0, offs, OUT, c1 - c0, N,
                          NULL, 0.0f, 0);
        else if (c0 < c1)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, c1 - c0, N, 1.0f, dout, OUT,
                        in + c0, IN, 1.0f, dw + c0, IN);
    }
    if (!din) return CXR_OK;
    /* din (N,IN) += dout (N,OUT) @ W (OUT,IN) */
    if (own)
        for (int j = 0; j < OUT; j++) offs[j] = j * IN;
#pragma omp parallel num_threads(nt)
    {
        int c0, c1;
        col_range(IN, omp_get_thread_num(), nt, &c0, &c1);
        if (c0 < c1 && own)
            cxr_gemm_wcol(din + c0, (size_t)IN, dout, (size_t)OUT, w + c0, offs, N, c1 - c0, OUT,
                          NULL, 0.0f, 0);
        else if (c0 < c1)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, c1 - c0, OUT, 1.0f, dout, OUT,
                        w + c0, IN, 1.0f, din + c0, IN);
    }
    return CXR_OK;
}
