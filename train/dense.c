/* dense.c: fully connected layer, CPU reference: out = in @ W^T + b, W (OUT,IN) row-major.
 *
 * Own kernels on AVX2+FMA CPUs (gemm_avx2.c; the forward at AVX-512 width where the CPU has it,
 * gemm_avx512.c, the same bits), so the dense layers never depend on which CPU a
 * BLAS thinks it runs on (Debian's OpenBLAS 0.3.21 calls a Sapphire Rapids Xeon "Prescott" and
 * runs its SSE3 kernels); the OpenMP threads split the output columns, so every element is summed
 * in one fixed order whatever the thread count:
 *  - forward: cxr_gemm_nt (dot products of rows of `in` and rows of W), threads over OUT;
 *  - dW (OUT,IN) = dout^T @ in: cxr_gemm_wcol with the N images as the inner dimension
 *    (row j of `in` is "column" j), threads over IN;
 *  - din (N,IN) = dout @ W: cxr_gemm_wcol with the OUT rows of W as the inner dimension,
 *    threads over IN.
 * Without AVX2 (or CXR_CPU_PARALLEL=blas): a single-threaded sgemm (sgemm.c) on each thread's
 * slice of columns. */
#include <string.h>

#include <omp.h>

#include "cpu_internal.h"
#include "dnnl_cpu.h"
#include "cxr_ops.h"

/* Columns of a packed block: dW's B (N rows of `in`) and din's (OUT rows of W). Rows of the big
 * matrices are IN floats apart, which maps a column of them onto one cache set; packed rows are
 * PB + 16 floats apart. */
#define PB_DW  256
#define PB_DIN 128
#define KD_FWD 256 /* = gemm_avx2.c KD: one block per cxr_gemm_nt call keeps the same sums */

/* Columns [c0,c1) of n for thread t of nt, on multiples of 16 (the kernels' panel width). */
static void col_range(int n, int t, int nt, int *c0, int *c1)
{
    const int panels = (n + 15) / 16;
    *c0 = (int)((long)panels * t / nt) * 16;
    *c1 = (int)((long)panels * (t + 1) / nt) * 16;
    if (*c0 > n) *c0 = n;
    if (*c1 > n) *c1 = n;
}

/* Output columns of one sgemm of the forward on the im2col path: 64 (a panel of W, 64 rows
 * of IN floats, per product). */
#define FWD_PANEL 64

/* Threads for a product with n output columns: no more than one per 16-column panel. */
static int col_threads(void *ctx, int n)
{
    const int nt = cxr_cpu_threads(ctx), panels = (n + 15) / 16;
    return nt < panels ? nt : panels;
}

/* C (M, cols c0..c1) = A (M,Kd) @ B (Kd rows, ldb apart): blocks of pb columns of B copied to
 * `pack` (rows pb + 16 floats apart), then cxr_gemm_wcol for groups of `mg` rows of C, its sums
 * started from `zeros` (M floats of 0) so that C is written, never read: the same bits as
 * zeroing C and adding. The same summation order as one cxr_gemm_wcol over all columns. */
static void blocked_wcol(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                         size_t ldb, int M, int Kd, int c0, int c1, int pb, int mg, float *pack,
                         int *offs, const float *zeros)
{
    const size_t ps = (size_t)pb + 16;
    for (int j = 0; j < Kd; j++) offs[j] = (int)(j * ps);
    for (int p0 = c0; p0 < c1; p0 += pb) {
        const int n = c1 - p0 < pb ? c1 - p0 : pb;
        for (int j = 0; j < Kd; j++)
            memcpy(pack + j * ps, B + j * ldb + p0, sizeof(float) * (size_t)n);
        for (int m = 0; m < M; m += mg)
            cxr_gemm_wcol(C + m * ldc + p0, ldc, A + m * lda, lda, pack, offs,
                          M - m < mg ? M - m : mg, n, Kd, zeros + m, 0.0f, 0);
    }
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
    const cxr_cpu_ctx *c = ctx;
    /* an evaluation's pass in fp32 keeps our fixed order (cxr_backend_cpu_set_inference) */
    if (cxr_cpu_dnnl(ctx, CXR_DNNL_DENSE_FWD) && !cxr_cpu_fixed_order(c))
        return cxr_dnnl_dense_forward(c->dnnl, out, in, w, b, N, IN, OUT);
#endif
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) out[(size_t)n * OUT + o] = b[o];
    const int own = use_own(ctx), wide = own && ((cxr_cpu_ctx *)ctx)->avx512;
    for (int t = 0; own && t < cxr_cpu_threads(ctx); t++) /* wide: pairs of rows, one padded */
        if (!cxr_cpu_scratch(ctx, t, (size_t)(N + 1) * KD_FWD * sizeof(float)))
            return cxr_set_error(CXR_E_NOMEM, "dense_forward: no scratch");
    /* own kernel: 4-row blocks of W per thread; sgemm: panels of FWD_PANEL columns, one
     * product each whatever the thread count, so an evaluation's pass has the same bits at
     * any thread count on this path too (a slice per thread gave products of other widths) */
    const int panels = (OUT + FWD_PANEL - 1) / FWD_PANEL, all = cxr_cpu_threads(ctx);
    const int nt = own ? (all < (OUT + 3) / 4 ? all : (OUT + 3) / 4) : all < panels ? all : panels;
    int failed = 0;
#pragma omp parallel num_threads(nt)
    {
        cxr_cpu_check_team(nt, &failed);
        const int t = omp_get_thread_num();
        if (own) {
            const int q = (OUT + 3) / 4;
            int o0 = (int)((long)q * t / nt) * 4, o1 = (int)((long)q * (t + 1) / nt) * 4;
            if (o1 > OUT) o1 = OUT;
            /* blocks of KD_FWD columns of `in` packed contiguously (its rows are IN floats
             * apart, one cache set); the same sums as one cxr_gemm_nt over all of K */
            float *pack = cxr_cpu_scratch(ctx, t, 0);
            for (int k0 = 0; k0 < IN && o0 < o1; k0 += KD_FWD) {
                const int kc = IN - k0 < KD_FWD ? IN - k0 : KD_FWD;
                if (wide) { /* twice the width, the same bits (gemm_avx512.c) */
                    cxr_nt512_pack(pack, in + k0, (size_t)IN, N, kc);
                    cxr_gemm_nt512(out + o0, (size_t)OUT, pack, w + (size_t)o0 * IN + k0,
                                   (size_t)IN, N, o1 - o0, kc);
                    continue;
                }
                for (int n = 0; n < N; n++)
                    memcpy(pack + (size_t)n * KD_FWD, in + (size_t)n * IN + k0,
                           sizeof(float) * (size_t)kc);
                cxr_gemm_nt(out + o0, (size_t)OUT, pack, KD_FWD, w + (size_t)o0 * IN + k0,
                            (size_t)IN, N, o1 - o0, kc);
            }
        } else {
            for (int p = t; p < panels; p += nt) {
                const int o0 = p * FWD_PANEL, o1 = o0 + FWD_PANEL < OUT ? o0 + FWD_PANEL : OUT;
                cxr_cpu_note_failure(cxr_cpu_sgemm(0, 1, N, o1 - o0, IN, 1.0f, in, IN,
                                                   w + (size_t)o0 * IN, IN, 1.0f, out + o0, OUT),
                                     &failed);
            }
        }
    }
    if (failed) return cxr_cpu_region_failed("dense_forward", failed, nt);
    return CXR_OK;
}

cxr_status cxr_dense_backward_cpu(void *ctx, float *din /* (N,IN) or NULL */,
                                  float *dw /* (OUT,IN) */, float *db /* (OUT) */,
                                  const float *dout /* (N,OUT) */, const float *in /* (N,IN) */,
                                  const float *w /* (OUT,IN) */, int N, int IN, int OUT)
{
    if (!ctx) return cxr_set_error(CXR_E_ARG, "dense_backward: no cpu context");
    cxr_cpu_enter(ctx);
    /* db (OUT) = column sums of dout, images in order */
    memcpy(db, dout, sizeof(float) * (size_t)OUT);
    for (int n = 1; n < N; n++)
        for (int o = 0; o < OUT; o++) db[o] += dout[(size_t)n * OUT + o];
#ifdef CXR_HAVE_DNNL
    if (cxr_cpu_dnnl(ctx, CXR_DNNL_DENSE_BWD))
        return cxr_dnnl_dense_backward(((cxr_cpu_ctx *)ctx)->dnnl, din, dw, dout, in, w, N, IN,
                                       OUT);
#endif
    const int own = use_own(ctx);
    const int nt = col_threads(ctx, IN);
    if (!own) {
        int failed = 0;
#pragma omp parallel num_threads(nt)
        {
            cxr_cpu_check_team(nt, &failed);
            int c0, c1;
            col_range(IN, omp_get_thread_num(), nt, &c0, &c1);
            if (c0 < c1) { /* dW (OUT,IN) = dout^T @ in; din (N,IN) = dout @ W (beta 0) */
                cxr_status st = cxr_cpu_sgemm(1, 0, OUT, c1 - c0, N, 1.0f, dout, OUT, in + c0, IN,
                                              0.0f, dw + c0, IN);
                if (st == CXR_OK && din)
                    st = cxr_cpu_sgemm(0, 0, N, c1 - c0, OUT, 1.0f, dout, OUT, w + c0, IN, 0.0f,
                                       din + c0, IN);
                cxr_cpu_note_failure(st, &failed);
            }
        }
        if (failed) return cxr_cpu_region_failed("dense_backward", failed, nt);
        return CXR_OK;
    }
    /* thread 0's scratch: dout^T (OUT,N), read by all threads; then every thread's packed
     * block of B, its offsets and max(N, OUT) zeros (the products' starting sums) */
    const size_t doutT_f = ((size_t)OUT * N + 15) / 16 * 16;
    const int kmax = N > OUT ? N : OUT;
    const size_t kmax16 = ((size_t)kmax + 15) / 16 * 16;
    const size_t pack_f = (size_t)kmax * (PB_DW + 16) + kmax16 + (size_t)kmax + 16;
    for (int t = 0; t < nt; t++)
        if (!cxr_cpu_scratch(ctx, t, ((t ? 0 : doutT_f) + pack_f) * sizeof(float)))
            return cxr_set_error(CXR_E_NOMEM, "dense_backward: no scratch");
    float *doutT = cxr_cpu_scratch(ctx, 0, 0);
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) doutT[(size_t)o * N + n] = dout[(size_t)n * OUT + o];
    int failed = 0;
#pragma omp parallel num_threads(nt)
    {
        cxr_cpu_check_team(nt, &failed);
        const int t = omp_get_thread_num();
        float *pack = cxr_cpu_scratch(ctx, t, 0) + (t ? 0 : doutT_f);
        int *offs = (int *)(pack + (size_t)kmax * (PB_DW + 16));
        float *zeros = pack + (size_t)kmax * (PB_DW + 16) + kmax16;
        memset(zeros, 0, sizeof(float) * (size_t)kmax);
        int c0, c1;
        col_range(IN, t, nt, &c0, &c1);
        /* dW (OUT,IN) = dout^T (OUT,N) @ in (N,IN): the N images are the inner dimension;
         * groups of 4 rows of dW sweep a packed block of `in`, so dW streams row by row */
        blocked_wcol(dw, (size_t)IN, doutT, (size_t)N, in, (size_t)IN, OUT, N, c0, c1, PB_DW, 4,
                     pack, offs, zeros);
        /* din (N,IN) = dout (N,OUT) @ W (OUT,IN): the OUT rows of W are the inner dimension */
        if (din)
            blocked_wcol(din, (size_t)IN, dout, (size_t)OUT, w, (size_t)IN, N, OUT, c0, c1, PB_DIN,
                         N, pack, offs, zeros);
    }
    if (failed) return cxr_cpu_region_failed("dense_backward", failed, nt);
    return CXR_OK;
}
