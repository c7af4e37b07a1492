/* rounding_backend.h: a CPU backend that emulates the GPU's reduced-precision inputs, to size the
 * tolerances of the GPU tests without a GPU (tests/gpu/test_tolerance_model.c).
 *
 * It is the CPU backend with its convolution and dense ops wrapped: before each product the
 * operands are rounded as the GPU rounds them (specs/gpu.md "Precisions"), then the fp32 CPU op
 * runs on the rounded copies. tf32 (convolutions in tf32 and bf16 mode, dense GEMMs in tf32):
 * to 10 mantissa bits, either by truncation (the low 13 bits cleared, as a tensor core fed fp32
 * registers does) or to nearest even (as a conversion instruction does): which one cuDNN and
 * cuBLAS apply is not documented, so the tolerances must hold both; bf16 (dense GEMMs in bf16
 * mode): round to nearest even to 8 bits (dense.cu's __float2bfloat16_rn). Bias gradients stay
 * fp32, as on the GPU. The fused slots are left out, so the model runs the separate ops. Host
 * memory; one thread drives it, and one rounding backend exists at a time (its state is
 * file-static: the table's ctx stays the CPU backend's, which every unwrapped op needs). */
#ifndef CXR_ROUNDING_BACKEND_H
#define CXR_ROUNDING_BACKEND_H
#include <stdlib.h>
#include <string.h>

#include "cxr_cuda.h"
#include "cpu_internal.h"
#include "cxr_ops.h"

typedef struct {
    cxr_backend *cpu;   /* owned */
    cxr_precision prec; /* tf32 or bf16 */
    int tf32_nearest;   /* 1: tf32 rounds to nearest even; 0: truncates */
    float *tmp[3];      /* rounded operand copies, grown */
    size_t tmp_n[3];
} rounding_state;
static rounding_state rb;

static inline float round_tf32(float x, int nearest)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7F800000u) != 0x7F800000u) /* keep 10 mantissa bits */
        u = nearest ? (u + 0xFFFu + ((u >> 13) & 1u)) & 0xFFFFE000u : u & 0xFFFFE000u;
    memcpy(&x, &u, 4);
    return x;
}

static inline float round_bf16(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* copy of src (n) rounded into temporary slot i */
static inline const float *rounded(rounding_state *c, int i, const float *src, size_t n, int bf16)
{
    if (c->tmp_n[i] < n) {
        free(c->tmp[i]);
        c->tmp[i] = malloc(n * sizeof(float));
        c->tmp_n[i] = c->tmp[i] ? n : 0;
        if (!c->tmp[i]) abort();
    }
    for (size_t k = 0; k < n; k++)
        c->tmp[i][k] = bf16 ? round_bf16(src[k]) : round_tf32(src[k], c->tf32_nearest);
    return c->tmp[i];
}

static cxr_status rb_conv_fwd(void *ctx, float *out, const float *in, const float *w,
                              const float *b, int N, int C, int K, int H, int W)
{
    rounding_state *c = &rb;
    const float *ri = rounded(c, 0, in, (size_t)N * C * H * W, 0);
    const float *rw = rounded(c, 1, w, (size_t)K * C * 9, 0);
    return cxr_conv3x3_forward_cpu(ctx, out, ri, rw, b, N, C, K, H, W);
}

static cxr_status rb_conv_bwd(void *ctx, float *din, float *dw, float *db, const float *dout,
                              const float *in, const float *w, int N, int C, int K, int H, int W)
{
    rounding_state *c = &rb;
    const size_t plane = (size_t)H * W;
    /* the bias gradient from the fp32 dout (the GPU's own kernel), in the CPU's order */
    float *dbj = calloc((size_t)K, sizeof(float));
    if (!dbj) return cxr_set_error(CXR_E_NOMEM, "rounding backend");
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (int n = 0; n < N; n++)
            for (size_t q = 0; q < plane; q++) s += dout[((size_t)n * K + k) * plane + q];
        db[k] = (float)s; /* written (cxr_ops.h) */
    }
    const float *rd = rounded(c, 0, dout, (size_t)N * K * plane, 0);
    const float *ri = rounded(c, 1, in, (size_t)N * C * plane, 0);
    const float *rw = rounded(c, 2, w, (size_t)K * C * 9, 0);
    cxr_status st = cxr_conv3x3_backward_cpu(ctx, din, dw, dbj, rd, ri, rw, N, C, K, H, W);
    free(dbj);
    return st;
}

static cxr_status rb_dense_fwd(void *ctx, float *out, const float *in, const float *w,
                               const float *b, int N, int IN, int OUT)
{
    rounding_state *c = &rb;
    const int bf = c->prec == CXR_PRECISION_BF16;
    const float *ri = rounded(c, 0, in, (size_t)N * IN, bf);
    const float *rw = rounded(c, 1, w, (size_t)OUT * IN, bf);
    return cxr_dense_forward_cpu(ctx, out, ri, rw, b, N, IN, OUT);
}

static cxr_status rb_dense_bwd(void *ctx, float *din, float *dw, float *db, const float *dout,
                               const float *in, const float *w, int N, int IN, int OUT)
{
    rounding_state *c = &rb;
    const int bf = c->prec == CXR_PRECISION_BF16;
    /* db from the fp32 dout (the GPU's own kernel, same order as the CPU) */
    for (int o = 0; o < OUT; o++) {
        float acc = dout[o]; /* written (cxr_ops.h), in the CPU's order */
        for (int n = 1; n < N; n++) acc += dout[(size_t)n * OUT + o];
        db[o] = acc;
    }
    float *dbj = calloc((size_t)OUT, sizeof(float));
    if (!dbj) return cxr_set_error(CXR_E_NOMEM, "rounding backend");
    const float *rd = rounded(c, 0, dout, (size_t)N * OUT, bf);
    const float *ri = rounded(c, 1, in, (size_t)N * IN, bf);
    const float *rw = rounded(c, 2, w, (size_t)OUT * IN, bf);
    cxr_status st = cxr_dense_backward_cpu(ctx, din, dw, dbj, rd, ri, rw, N, IN, OUT);
    free(dbj);
    return st;
}

static void rb_destroy(cxr_backend *be)
{
    if (!be) return;
    for (int i = 0; i < 3; i++) free(rb.tmp[i]);
    cxr_backend_destroy(rb.cpu);
    memset(&rb, 0, sizeof rb);
    free(be);
}

/* The rounding backend for precision p (tf32 or bf16; tf32 to nearest or truncated) over a new
 * CPU backend of n_threads. */
static inline cxr_status rounding_backend_create(cxr_backend **out, cxr_precision p,
                                                 int tf32_nearest, int n_threads)
{
    *out = NULL;
    cxr_backend *cpu = NULL;
    if (rb.cpu) return cxr_set_error(CXR_E_ARG, "rounding backend: one at a time");
    cxr_status st = cxr_backend_cpu_create(&cpu, n_threads);
    if (st != CXR_OK) return st;
    cxr_backend *be = malloc(sizeof *be);
    if (!be) {
        cxr_backend_destroy(cpu);
        return cxr_set_error(CXR_E_NOMEM, "rounding backend: out of memory");
    }
    *be = *cpu; /* every slot and the ctx of the CPU backend, then the wrapped ones */
    rb.cpu = cpu;
    rb.prec = p;
    rb.tf32_nearest = tf32_nearest;
    be->name = "cpu-rounding";
    be->destroy = rb_destroy;
    be->conv3x3_forward = rb_conv_fwd;
    be->conv3x3_backward = rb_conv_bwd;
    be->dense_forward = rb_dense_fwd;
    be->dense_backward = rb_dense_bwd;
    be->conv3x3_lrelu_pool_forward = NULL;
    be->maxpool2_lrelu_backward = NULL;
    *out = be;
    return CXR_OK;
}
#endif
