/* cpu_internal.h: the CPU backend's internals, shared by backend_cpu.c and the *_cpu op files
 * (and by the op tests): its context, its ops, the AVX2 kernels and inline helpers.
 * Not a public header: callers use cxr_ops.h and cxr_model.h. */
#ifndef CXR_CPU_INTERNAL_H
#define CXR_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <omp.h>

#include "cxr_status.h"
#ifdef __SSE4_1__
#include <smmintrin.h>
#endif

#include "cxr_ops.h"

#define CXR_CPU_MAX_THREADS 256

typedef struct {
    int n_threads;       /* OpenMP threads for the ops: the team the runtime granted the calling
                          * thread (backend_cpu.c, cxr_cpu_enter), at most n_asked */
    int n_asked;         /* threads asked for (cxr_backend_cpu_create, set_threads) */
    int blas_parallel;   /* 1: the im2col + sgemm path (CXR_CPU_PARALLEL=blas), else direct */
    int avx512;          /* direct kernels at AVX-512 width (gemm_avx512.c): the CPU has AVX-512F
                          * and CXR_CPU_ISA is not avx2 */
    size_t strip_floats; /* conv column-strip target in floats (0: default 128 Ki; tests) */
    float *scratch[CXR_CPU_MAX_THREADS];
    size_t scratch_bytes[CXR_CPU_MAX_THREADS];
    int keep_denormals;    /* CXR_CPU_DENORMALS=keep: no flushing (benchmark diagnostic) */
    struct cxr_dnnl *dnnl; /* oneDNN primitives (dnnl_cpu.h), NULL when none are used */
    unsigned dnnl_ops;     /* CXR_DNNL_* bits: the ops that run on oneDNN */
    int dnnl_min_c_env[3], dnnl_min_c_set; /* CXR_CPU_DNNL_MIN_C=F,D,W given (cpu_knobs) */
    int dnnl_min_c[3];     /* conv fwd, bwd data, bwd weights: on oneDNN only for layers of at
                            * least this many input channels (backend_cpu.c, dnnl_layers) */
    unsigned dnnl_fp32_ops; /* the fp32 choice made at creation (back to it from bf16) */
    int dnnl_explicit;      /* CXR_CPU_DNNL was set at creation: every layer of its ops */
    int inference;          /* the pass being run is an evaluation's forward, not training's
                             * (cxr_backend_cpu_set_inference, set by cxr_model_forward): the
                             * convolutions and dense layers on our kernels in fp32 unless
                             * CXR_CPU_DNNL was set (cxr_cpu_fixed_order) */
    int bf16;               /* --precision bf16: conv and dense products on oneDNN in bf16 (conv1's
                            * stay ours, in fp32, unless CXR_CPU_DNNL was set; conv2's forward
                            * too where oneDNN runs no AMX: dnnl_min_c) */
    float *map;            /* oneDNN forward: a chunk's conv map the pool reads (fused slot) */
    size_t map_bytes;
    size_t dnnl_chunk; /* oneDNN convolutions' chunk target in bytes (0: 128 MiB; tests) */
    int wino;      /* our forward and input gradient of layers of >= 16 channels by
                    * Winograd (winograd.c, conv.c); CXR_CPU_WINOGRAD=0: direct products */
    float *wino_u; /* the transformed weights of the op being run */
    size_t wino_u_bytes;
} cxr_cpu_ctx;

/* Threads the ops may use. */
int cxr_cpu_threads(void *ctx);
/* Per-thread scratch of at least `bytes` for thread `tid` (< cxr_cpu_threads), or NULL when
 * it cannot grow. Only thread `tid` may call it for its own slot while ops run. */
float *cxr_cpu_scratch(void *ctx, int tid, size_t bytes);

/* The CPU ops (conv.c, pool.c, dense.c, act.c, loss.c, adam.c): the CPU backend's table
 * entries, contracts in cxr_ops.h. ctx is the CPU backend's (be->ctx of cxr_backend_cpu_create). */
cxr_conv3x3_forward_fn cxr_conv3x3_forward_cpu;
cxr_conv3x3_backward_fn cxr_conv3x3_backward_cpu;
cxr_conv3x3_lrelu_pool_forward_fn cxr_conv3x3_lrelu_pool_forward_cpu;
cxr_maxpool2_forward_fn cxr_maxpool2_forward_cpu;
cxr_maxpool2_backward_fn cxr_maxpool2_backward_cpu;
cxr_maxpool2_lrelu_backward_fn cxr_maxpool2_lrelu_backward_cpu;
cxr_global_avgpool_forward_fn cxr_global_avgpool_forward_cpu;
cxr_global_avgpool_backward_fn cxr_global_avgpool_backward_cpu;
cxr_avgpool_forward_fn cxr_avgpool_forward_cpu;
cxr_dense_forward_fn cxr_dense_forward_cpu;
cxr_dense_backward_fn cxr_dense_backward_cpu;
cxr_leaky_relu_forward_fn cxr_leaky_relu_forward_cpu;
cxr_scale_shift_fn cxr_scale_shift_cpu;
cxr_leaky_relu_backward_fn cxr_leaky_relu_backward_cpu;
cxr_dropout_apply_fn cxr_dropout_apply_cpu;
cxr_softmax_forward_fn cxr_softmax_forward_cpu;
cxr_softmax_xent_fn cxr_softmax_xent_cpu;
cxr_adam_step_fn cxr_adam_step_cpu;

/* C (M,N) = alpha A (M,K) @ B (K,N) + beta C, row-major; A, B transposed when trans_a, trans_b
 * (sgemm.c: oneDNN's sgemm, or OpenBLAS's in a build without oneDNN). Runs on the calling
 * thread inside the ops' OpenMP regions. CXR_E_NOMEM or CXR_E_INTERNAL when it failed (C then
 * undefined); it sets no error message (a thread of a region calls it). */
cxr_status cxr_cpu_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                         int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* What went wrong in a thread of an op's OpenMP region, kept in *failed (shared by the region)
 * and reported by cxr_cpu_region_failed after it (error messages are the calling thread's):
 * a product's status, or CXR_CPU_SHORT_TEAM when the runtime ran the region on fewer threads
 * than the ot slices the op split its work into (slices would be left undone; the backend's
 * team setup makes its thread count the team the runtime grants, backend_cpu.c). */
#define CXR_CPU_SHORT_TEAM (-1)
static inline void cxr_cpu_note_failure(cxr_status st, int *failed)
{
    if (st != CXR_OK) {
#pragma omp atomic write
        *failed = (int)st;
    }
}
static inline void cxr_cpu_check_team(int ot, int *failed)
{
    if (omp_get_thread_num() == 0 && omp_get_num_threads() != ot) {
#pragma omp atomic write
        *failed = CXR_CPU_SHORT_TEAM;
    }
}
cxr_status cxr_cpu_region_failed(const char *op, int failed, int ot);
/* Whose sgemm it is, for the backend's description. */
#ifdef CXR_HAVE_DNNL
#define CXR_CPU_SGEMM_NAME "oneDNN sgemm"
#else
#define CXR_CPU_SGEMM_NAME "OpenBLAS"
#endif
/* Keep the product single-threaded (OpenBLAS's pool; nothing to do for oneDNN's). */
void cxr_cpu_sgemm_single_threaded(void);

/* Return the status of a call when it failed (functions without a cleanup label). */
#define CXR_CPU_RET(expr)             \
    do {                              \
        const cxr_status r_ = (expr); \
        if (r_ != CXR_OK) return r_;  \
    } while (0)

/* Which ops run on oneDNN (backend_cpu.c chooses; CXR_CPU_DNNL overrides). */
enum {
    CXR_DNNL_CONV_FWD = 1,      /* conv forward (+ bias + leaky ReLU) */
    CXR_DNNL_CONV_BWD_DATA = 2, /* conv input gradient */
    CXR_DNNL_CONV_BWD_W = 4,    /* conv weight and bias gradient */
    CXR_DNNL_DENSE_FWD = 8,     /* the dense layers' forward product */
    CXR_DNNL_DENSE_BWD = 16,    /* the dense layers' two gradient products */
    CXR_DNNL_DENSE = CXR_DNNL_DENSE_FWD | CXR_DNNL_DENSE_BWD
};
static inline int cxr_cpu_dnnl(void *ctx, unsigned op)
{
    const cxr_cpu_ctx *c = ctx;
    return c->dnnl && (c->dnnl_ops & op);
}
/* Whether an evaluation's forward pass (fp32, the default choice of ops) runs its forward ops on
 * our kernels, whose sums have one order whatever the thread count (oneDNN's convolution
 * forward and matmul change their last bits with it), so cxr-eval and cxr-predict give the same
 * bits at any thread count (cxr_backend_cpu_set_inference; CXR_CPU_DNNL or bf16 keep oneDNN). */
static inline int cxr_cpu_eval_on_ours(const cxr_cpu_ctx *c)
{
    return !c->bf16 && !c->dnnl_explicit;
}
/* The pass being run is such a forward. */
static inline int cxr_cpu_fixed_order(const cxr_cpu_ctx *c)
{
    return c->inference && cxr_cpu_eval_on_ours(c);
}
/* Whether conv op (CXR_DNNL_CONV_*) of a layer with C input channels runs on oneDNN. */
static inline int cxr_cpu_dnnl_conv(void *ctx, unsigned op, int C)
{
    const cxr_cpu_ctx *c = ctx;
    const int i = op == CXR_DNNL_CONV_FWD ? 0 : op == CXR_DNNL_CONV_BWD_DATA ? 1 : 2;
    if (op == CXR_DNNL_CONV_FWD && cxr_cpu_fixed_order(c)) return 0;
    return cxr_cpu_dnnl(ctx, op) && C >= c->dnnl_min_c[i];
}

/* backend_cpu.c: called at the start of the ops that begin a forward, backward or Adam step,
 * and before every oneDNN op: makes sure the calling thread and its OpenMP team compute with
 * flush-to-zero + denormals-are-zero (cxr_fpenv.h) and that the team's workers block
 * asynchronous signals (cxr_signals.h); a no-op (one MXCSR read) once they do. */
void cxr_cpu_enter(void *ctx);

/* gemm_avx2.c: C (M,N) += A (M,Kd) @ B (Kd,N), C and A row-major with leading dimensions,
 * B[j][p] = B[offs[j] + p] (an im2col row, or a shifted row of a padded image), accumulated
 * in one fixed order (C, then j = 0, 1, ...). bias (M) non-NULL: C's old values are not read,
 * the sums start from bias[row] (the same bits as filling C with the bias first). relu: C
 * receives x > 0 ? x : alpha x of the sums. Only when cxr_gemm_wcol_available() (AVX2+FMA). */
/* Epilogue flags of one pass of the gemm_avx2.c / gemm_avx512.c products over an
 * inner-dimension chunk. */
typedef struct {
    const float *bias; /* first chunk: start from bias[row] instead of loading C */
    int relu;          /* last chunk: store leaky ReLU (x > 0 ? x : alpha x) of the sums */
    float alpha;
} cxr_gemm_ep;
int cxr_gemm_wcol_available(void);
void cxr_gemm_wcol(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                   const int *offs, int M, int N, int Kd, const float *bias, float alpha, int relu);

/* gemm_avx2.c: the weight gradient of H rows of an image read in place: dw (M,Kd) += for
 * every output pixel (y,x), g[m*hw + y*W+x] * pad[offs[j] + y*(W+2) + x], with g the output
 * gradient planes (plane stride hw) and pad/offs a zero-bordered band of the input as for
 * cxr_gemm_wcol. Fixed order (bands of rows, 8 pixel lanes, reduced once per band). Only
 * with AVX2+FMA. */
void cxr_conv_dw(float *dw, const float *g, size_t hw, const float *pad, const int *offs, int M,
                 int Kd, int H, int W);

/* gemm_avx512.c: cxr_gemm_wcol at AVX-512 width, for CPUs with AVX-512F
 * (cxr_conv_avx512_available): the same bits as cxr_gemm_wcol. */
int cxr_conv_avx512_available(void);
void cxr_gemm_wcol512(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                      const int *offs, int M, int N, int Kd, const float *bias, float alpha,
                      int relu);

/* gemm_avx512.c: the dense layers' forward of one inner block (kc <= 256 floats) at AVX-512
 * width, the same bits as cxr_gemm_nt over that block: C (M,N) += Apk @ B (N,kc)^T, with Apk
 * the block's A (M,kc) packed in pairs of rows by cxr_nt512_pack (ceil(M/2) * 16 *
 * ceil(kc/8) floats: at most (M + 1) * (kc + 7) / 8 * 8). */
void cxr_nt512_pack(float *dst, const float *A, size_t lda, int M, int kc);
void cxr_gemm_nt512(float *C, size_t ldc, const float *Apk, const float *B, size_t ldb, int M,
                    int N, int kc);

/* winograd.c: the forward of a 3x3 convolution, and its input gradient, by F(2x2, 3x3) for
 * conv.c's direct path. cxr_wino_weights: U (16, K, C) from w (K, C, 3, 3), or with flip from
 * the flipped, transposed kernel of w (C, K, 3, 3) (the input gradient's, K and C swapped).
 * cxr_wino_rows: two output rows of the K planes at Y (planes ldc apart, rows W apart; W even)
 * from the four rows of a zero-bordered band of C channels (as for cxr_gemm_wcol: channel
 * planes `plane` floats apart, rows W + 2 long) that they read, plus bias (the input gradient:
 * zeros), leaky ReLU'd when relu; the products on cxr_gemm_wcol (wide: its AVX-512 twin, the
 * same bits). Work buffers per thread: */
typedef struct {
    float *V; /* (16, C, ldv): transformed input tiles, ldv >= W/2 */
    size_t ldv;
    float *M; /* (16, K, ldm): their products, ldm >= W/2 */
    size_t ldm;
    const int *offs;   /* offs[c] = c * ldv */
    const float *zero; /* K zeros (the products' bias) */
} cxr_wino_work;
void cxr_wino_weights(float *U, const float *w, int K, int C, int flip);
void cxr_wino_rows(float *Y, size_t ldc, const float *U, const float *band, size_t plane, int C,
                   int K, int W, const float *bias, float alpha, int relu, const cxr_wino_work *wk,
                   int wide);

/* gemm_avx2.c: C (M,N) += A (M,K) @ B (N,K)^T (both row-major, K contiguous), as dot products
 * in blocks of 256 along K, each block's sum added to C in order (so the result does not
 * depend on how N is split over threads). The dense layers' forward. Only with AVX2+FMA. */
void cxr_gemm_nt(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                 int M, int N, int K);

/* c ? a : b through bit masks: GCC (with its default -ftrapping-math) will not if-convert a
 * float compare-and-select, leaving a scalar loop whose branch random signs mispredict half
 * the time; this form vectorises to cmpps/and/or. NaN propagates (no max/min tricks). */
static inline float cxr_select_f(int c, float a, float b)
{
    uint32_t ua, ub, m = (uint32_t) - (int32_t)c;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    ua = (ua & m) | (ub & ~m);
    memcpy(&a, &ua, 4);
    return a;
}

/* One output row of the 2x2 max pool: y[j], ix[j] (j < Wo) from input rows r0, r1 (2*Wo
 * floats each). Same compare order as the definition (window index 0..3, a later element wins
 * only when strictly greater, so ties go to the lowest and NaN never wins), hence the same
 * bits whether the SSE or the scalar path runs. */
static inline void cxr_pool_row(float *y, uint8_t *ix, const float *r0, const float *r1, int Wo)
{
    int j = 0;
#ifdef __SSE4_1__
    const __m128i one = _mm_set1_epi32(1), two = _mm_set1_epi32(2), three = _mm_set1_epi32(3);
    for (; j + 4 <= Wo; j += 4) {
        const __m128 a0 = _mm_loadu_ps(r0 + 2 * j), a1 = _mm_loadu_ps(r0 + 2 * j + 4);
        const __m128 b0 = _mm_loadu_ps(r1 + 2 * j), b1 = _mm_loadu_ps(r1 + 2 * j + 4);
        const __m128 e0 = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 o0 = _mm_shuffle_ps(a0, a1, _MM_SHUFFLE(3, 1, 3, 1));
        const __m128 e1 = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0));
        const __m128 o1 = _mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1));
        __m128 m = e0, c;
        __m128i a = _mm_setzero_si128();
        c = _mm_cmpgt_ps(o0, m);
        m = _mm_blendv_ps(m, o0, c);
        a = _mm_blendv_epi8(a, one, _mm_castps_si128(c));
        c = _mm_cmpgt_ps(e1, m);
        m = _mm_blendv_ps(m, e1, c);
        a = _mm_blendv_epi8(a, two, _mm_castps_si128(c));
        c = _mm_cmpgt_ps(o1, m);
        m = _mm_blendv_ps(m, o1, c);
        a = _mm_blendv_epi8(a, three, _mm_castps_si128(c));
        _mm_storeu_ps(y + j, m);
        const __m128i a16 = _mm_packs_epi32(a, a);
        const int bytes = _mm_cvtsi128_si32(_mm_packus_epi16(a16, a16));
        memcpy(ix + j, &bytes, 4);
    }
#endif
    for (; j < Wo; j++) {
        float m = r0[2 * j];
        uint8_t a = 0;
        if (r0[2 * j + 1] > m) m = r0[2 * j + 1], a = 1;
        if (r1[2 * j] > m) m = r1[2 * j], a = 2;
        if (r1[2 * j + 1] > m) m = r1[2 * j + 1], a = 3;
        y[j] = m;
        ix[j] = a;
    }
}

/* An environment knob of the CPU backend: *out NULL when unset or set empty (as unset), else
 * its value, which must be one of the NULL-ended vals (any case: AVX2 as avx2; *out is then the
 * entry of vals); another is CXR_E_ARG naming the knob and `what` it takes (a knob that
 * silently kept the default made a benchmark measure nothing). */
cxr_status cxr_cpu_knob(const char *name, const char *const *vals, const char *what,
                        const char **out);
/* oneDNN's three knobs (CXR_DNNL_DENSE, CXR_DNNL_ALGO, CXR_DNNL_FWD) through cxr_cpu_knob:
 * checked when the backend is made, read where oneDNN's context is (dnnl_cpu.c). */
cxr_status cxr_dnnl_knobs(const char **dense, const char **algo, const char **fwd);

#endif
