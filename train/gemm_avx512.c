/* gemm_avx512.c: the AVX-512 variants of gemm_avx2.c's convolution product and of its dense
 * layers' forward (cxr_gemm_nt512, at the end), used when the CPU has AVX-512F
 * (cxr_conv_avx512_available) unless CXR_CPU_ISA=avx2 (backend_cpu.c).
 *
 * cxr_gemm_wcol512: C (M, pixels) (+)= W (M, Kd) @ columns (Kd, pixels), as cxr_gemm_wcol, with
 * a register block of 8 weight rows x 32 pixels (16 zmm accumulators; one broadcast per weight,
 * two loads per column). Every output element is still one chain of FMAs over the inner
 * dimension in the same order, starting from the bias or from C, so the forward and the input
 * gradient are bit-identical to the AVX2 kernel's (train.ops_avx512 checks it).
 *
 * The weight gradient stays on gemm_avx2.c's cxr_conv_dw: at 16 pixel lanes (4 or 8 planes x 3
 * columns) it ran 1.4-1.7x slower than at 8 on a Xeon with AVX-512 (bench_ops_cpu; specs/model.md,
 * "oneDNN and instruction sets"), so every result of our kernels is the same on AVX2 and
 * AVX-512 CPUs. Where the backend uses oneDNN instead (by default every conv op but conv1's on
 * AVX-512 CPUs), this kernel runs conv1, and every layer in a build without oneDNN.
 */
#include <stddef.h>
#include <string.h>

#include "cpu_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,fma")))
#define INL __attribute__((always_inline)) inline

int cxr_conv_avx512_available(void)
{
    static int ok = -1;
    if (ok < 0) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    }
    return ok;
}


/* C[0..MR)[0..32) (+)= A[0..MR)[0..Kd) @ B[0..Kd)[0..32); masked: only the lanes in m0/m1. */
static TGT INL void tile(const int MR, const int masked, float *C, size_t ldc, const float *A,
                         size_t lda, const float *B, const int *offs, int Kd, __mmask16 m0,
                         __mmask16 m1, const float *bias, const cxr_gemm_ep *ep)
{
    __m512 c0[8], c1[8];
    for (int i = 0; i < MR; i++) {
        if (bias) {
            c0[i] = c1[i] = _mm512_set1_ps(bias[i]);
        } else {
            c0[i] = masked ? _mm512_maskz_loadu_ps(m0, C + i * ldc) : _mm512_loadu_ps(C + i * ldc);
            c1[i] = masked ? _mm512_maskz_loadu_ps(m1, C + i * ldc + 16)
                           : _mm512_loadu_ps(C + i * ldc + 16);
        }
    }
    for (int j = 0; j < Kd; j++) {
        const float *b = B + offs[j];
        const __m512 b0 = masked ? _mm512_maskz_loadu_ps(m0, b) : _mm512_loadu_ps(b);
        const __m512 b1 = masked ? _mm512_maskz_loadu_ps(m1, b + 16) : _mm512_loadu_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            const __m512 a = _mm512_set1_ps(A[i * lda + j]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
    }
    if (ep->relu) {
        /* the same select as cxr_select_f: x > 0 ? x : alpha * x (NaN takes alpha * x) */
        const __m512 al = _mm512_set1_ps(ep->alpha), z = _mm512_setzero_ps();
        for (int i = 0; i < MR; i++) {
            c0[i] = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(c0[i], z, _CMP_GT_OQ),
                                         _mm512_mul_ps(al, c0[i]), c0[i]);
            c1[i] = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(c1[i], z, _CMP_GT_OQ),
                                         _mm512_mul_ps(al, c1[i]), c1[i]);
        }
    }
    for (int i = 0; i < MR; i++) {
        if (masked) {
            _mm512_mask_storeu_ps(C + i * ldc, m0, c0[i]);
            _mm512_mask_storeu_ps(C + i * ldc + 16, m1, c1[i]);
        } else {
            _mm512_storeu_ps(C + i * ldc, c0[i]);
            _mm512_storeu_ps(C + i * ldc + 16, c1[i]);
        }
    }
}

/* Inner-dimension chunks of KC rows of B: a 32-pixel panel of the chunk (KC x 128 bytes) stays
 * in L1 while every group of 8 weight rows passes over it. */
#define KC 192

#define TILE(MR)                                                                                  \
    tile(MR, masked, C + m * ldc, ldc, A + m * lda, lda, B, offs, Kd, m0, m1, bs ? bs + m : NULL, \
         ep)

static TGT INL void panel(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                          const int *offs, int M, int Kd, const int masked, __mmask16 m0,
                          __mmask16 m1, const cxr_gemm_ep *ep)
{
    const float *bs = ep->bias;
    int m = 0;
    for (; m + 8 <= M; m += 8) TILE(8);
    switch (M - m) {
    case 7: TILE(7); break;
    case 6: TILE(6); break;
    case 5: TILE(5); break;
    case 4: TILE(4); break;
    case 3: TILE(3); break;
    case 2: TILE(2); break;
    case 1: TILE(1); break;
    default: break;
    }
}

TGT void cxr_gemm_wcol512(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                          const int *offs, int M, int N, int Kd, const float *bias, float alpha,
                          int relu)
{
    const int r = N % 32;
    const __mmask16 m0 = (__mmask16)(r >= 16 ? 0xFFFF : (1u << r) - 1);
    const __mmask16 m1 = (__mmask16)(r >= 16 ? (1u << (r - 16)) - 1 : 0);
    for (int k0 = 0; k0 < Kd; k0 += KC) {
        const int kc = Kd - k0 < KC ? Kd - k0 : KC;
        const cxr_gemm_ep ep = { k0 == 0 ? bias : NULL, relu && k0 + kc == Kd, alpha };
        int p = 0;
        for (; p + 32 <= N; p += 32)
            panel(C + p, ldc, A + k0, lda, B + p, offs + k0, M, kc, 0, 0xFFFF, 0xFFFF, &ep);
        if (p < N) panel(C + p, ldc, A + k0, lda, B + p, offs + k0, M, kc, 1, m0, m1, &ep);
    }
}

/* ---- dense layers' forward: gemm_avx2.c's cxr_gemm_nt at twice the width, the same bits
 *
 * cxr_gemm_nt sums each dot product of a K block in 8 lanes (lane l: the products at k = l mod
 * 8, in order, from 0), then reduces the 8 lanes with hsum8. Here a zmm holds two such 8-lane
 * sums, of rows 2p and 2p + 1 of A against one row of B: A is packed in pairs of rows (16
 * floats: 8 of row 2p, then the same 8 of row 2p + 1), each row of B is loaded once as 8 floats
 * into both halves, and each half is reduced by the same hsum8. Every lane sees the same FMAs in
 * the same order as at AVX2 width, so the results are bit-identical (train.ops_avx512). */

void cxr_nt512_pack(float *dst, const float *A, size_t lda, int M, int kc)
{
    const int nch = (kc + 7) / 8, full = kc / 8;
    for (int i = 0; i < M + (M & 1); i++) {
        float *d = dst + (size_t)(i / 2) * nch * 16 + 8 * (i & 1);
        if (i == M) { /* the missing row of an odd M: +0 */
            for (int c = 0; c < nch; c++) memset(d + (size_t)c * 16, 0, 8 * sizeof(float));
            continue;
        }
        const float *a = A + (size_t)i * lda;
        for (int c = 0; c < full; c++) memcpy(d + (size_t)c * 16, a + 8 * c, 8 * sizeof(float));
        if (full < nch) /* the partial chunk, +0 past the block's end */
            for (int l = 0; l < 8; l++)
                d[(size_t)full * 16 + l] = 8 * full + l < kc ? a[8 * full + l] : 0.0f;
    }
}

/* 8 floats in both halves of a zmm */
static TGT INL __m512 bcast8(__m256 v)
{
    return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_castps_pd(v)));
}

/* gemm_avx2.c's hsum8, the same adds in the same order */
static TGT INL float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* MP pairs of rows of A (from pair p) x NR rows of B, over the block's nch chunks of 8 */
static TGT INL void nt512_block(const int MP, const int NR, float *C, size_t ldc, int M, int p,
                                const float *Ap, int nch, const float *B, size_t ldb, int kc,
                                __m256i tail)
{
    __m512 acc[4][4];
    for (int i = 0; i < MP; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    const float *a0 = Ap + (size_t)p * nch * 16;
    const size_t lda = (size_t)nch * 16; /* one pair's packed block */
    int c = 0;
    for (; c < kc / 8; c++) {
        __m512 b[4];
        for (int j = 0; j < NR; j++) b[j] = bcast8(_mm256_loadu_ps(B + j * ldb + 8 * c));
        for (int i = 0; i < MP; i++) {
            const __m512 a = _mm512_loadu_ps(a0 + i * lda + 16 * c);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
        }
    }
    if (c < nch) { /* the block's partial chunk: +0 past its end, as maskload gives */
        __m512 b[4];
        for (int j = 0; j < NR; j++) b[j] = bcast8(_mm256_maskload_ps(B + j * ldb + 8 * c, tail));
        for (int i = 0; i < MP; i++) {
            const __m512 a = _mm512_loadu_ps(a0 + i * lda + 16 * c);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_fmadd_ps(a, b[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MP; i++) {
        const int r = 2 * (p + i);
        for (int j = 0; j < NR; j++) {
            C[(size_t)r * ldc + j] += hsum8(_mm512_castps512_ps256(acc[i][j]));
            if (r + 1 < M)
                C[(size_t)(r + 1) * ldc + j] +=
                    hsum8(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[i][j]), 1)));
        }
    }
}

/* NR rows of B against every pair of rows of A */
static TGT INL void nt512_rows(const int NR, float *C, size_t ldc, int M, const float *Apk, int nch,
                               const float *B, size_t ldb, int kc, __m256i tail)
{
    const int pairs = (M + 1) / 2;
    int p = 0;
    for (; p + 4 <= pairs; p += 4) nt512_block(4, NR, C, ldc, M, p, Apk, nch, B, ldb, kc, tail);
    switch (pairs - p) {
    case 3: nt512_block(3, NR, C, ldc, M, p, Apk, nch, B, ldb, kc, tail); break;
    case 2: nt512_block(2, NR, C, ldc, M, p, Apk, nch, B, ldb, kc, tail); break;
    case 1: nt512_block(1, NR, C, ldc, M, p, Apk, nch, B, ldb, kc, tail); break;
    default: break;
    }
}

TGT void cxr_gemm_nt512(float *C, size_t ldc, const float *Apk, const float *B, size_t ldb, int M,
                        int N, int kc)
{
    const int nch = (kc + 7) / 8;
    const __m256i tail =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(kc & 7), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    int j = 0;
    for (; j + 4 <= N; j += 4) nt512_rows(4, C + j, ldc, M, Apk, nch, B + j * ldb, ldb, kc, tail);
    switch (N - j) {
    case 3: nt512_rows(3, C + j, ldc, M, Apk, nch, B + j * ldb, ldb, kc, tail); break;
    case 2: nt512_rows(2, C + j, ldc, M, Apk, nch, B + j * ldb, ldb, kc, tail); break;
    case 1: nt512_rows(1, C + j, ldc, M, Apk, nch, B + j * ldb, ldb, kc, tail); break;
    default: break;
    }
}

#else /* not x86-64 GCC/Clang: the AVX2 kernels or sgemm */
int cxr_conv_avx512_available(void) { return 0; }
void cxr_nt512_pack(float *dst, const float *A, size_t lda, int M, int kc)
{
    (void)dst, (void)A, (void)lda, (void)M, (void)kc;
}
void cxr_gemm_nt512(float *C, size_t ldc, const float *Apk, const float *B, size_t ldb, int M,
                    int N, int kc)
{
    (void)C, (void)ldc, (void)Apk, (void)B, (void)ldb, (void)M, (void)N, (void)kc;
}
void cxr_gemm_wcol512(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                      const int *offs, int M, int N, int Kd, const float *bias, float alpha,
                      int relu)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)B, (void)offs, (void)M, (void)N, (void)Kd;
    (void)bias, (void)alpha, (void)relu;
}
#endif
