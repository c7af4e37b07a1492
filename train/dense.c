/* dense.c: fully connected layer, CPU reference: out = in @ W^T + b, W (OUT,IN) row-major.
 * One OpenBLAS sgemm per product with all the context's threads (the dense GEMMs are few and
 * large: dense1's W alone is 131072 x 512). */
#include <cblas.h>

#include "cpu_internal.h"
#include "ops.h"

cxr_status cxr_dense_forward_cpu(void *ctx, float *out /* (N,OUT) */, const float *in /* (N,IN) */,
                                 const float *w /* (OUT,IN) */, const float *b /* (OUT) */, int N,
                                 int IN, int OUT)
{
    (void)ctx;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) out[(size_t)n * OUT + o] = b[o];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OUT, IN, 1.0f, in, IN, w, IN, 1.0f, out,
                OUT);
    return CXR_OK;
}

cxr_status cxr_dense_backward_cpu(void *ctx, float *din /* (N,IN) or NULL */,
                                  float *dw /* (OUT,IN) */, float *db /* (OUT) */,
                                  const float *dout /* (N,OUT) */, const float *in /* (N,IN) */,
                                  const float *w /* (OUT,IN) */, int N, int IN, int OUT)
{
    (void)ctx;
    /* db (OUT) += column sums of dout, images in order */
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OUT; o++) db[o] += dout[(size_t)n * OUT + o];
    /* dW (OUT,IN) += dout^T (OUT,N) @ in (N,IN) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OUT, IN, N, 1.0f, dout, OUT, in, IN, 1.0f,
                dw, IN);
    /* din (N,IN) += dout (N,OUT) @ W (OUT,IN) */
    if (din)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, IN, OUT, 1.0f, dout, OUT, w, IN,
                    1.0f, din, IN);
    return CXR_OK;
}
