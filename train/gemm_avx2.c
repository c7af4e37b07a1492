/* gemm_avx2.c: the 3x3 convolutions' products on AVX2+FMA, read in place (conv.c's direct path).
 *
 * cxr_gemm_wcol: C (M, pixels) (+)= W (M, Kd) @ columns (Kd, pixels), for the forward
 * (out = W @ cols(in) + b, leaky ReLU at the store) and the input gradient
 * (din += W_flipped @ cols(dout)). Column j = (c,ky,kx) of a pixel is a shifted row of a
 * zero-bordered band of the input, reached through an offset table, so no im2col strip is
 * written and nothing is packed (sgemm would copy the strip once more into its panel format,
 * a large share of the work at these small M and Kd: specs/model.md). Register
 * block: 4 weight rows x 24 pixels (12 ymm accumulators, enough to cover two FMA units'
 * latency of 5 cycles; 8 were not), one broadcast per weight and three loads per column; the
 * rest of a row in 16-pixel and masked tiles; inner-dimension chunks of KC.
 *
 * cxr_conv_dw: dW (M, Kd) += sum over pixels of dout[m] * column j, as dot products: 4 planes x
 * 3 columns of 8-lane accumulators over bands of ~1024 pixels, reduced once per band.
 *
 * Each output element is accumulated in one fixed order whatever the tile or strip it falls
 * in, so results do not depend on strip sizes or thread counts. Compiled for AVX2+FMA by
 * function attribute and used only when the CPU has both (cxr_gemm_wcol_available); otherwise
 * conv.c uses im2col + sgemm.
 */
#include <stddef.h>

#include "cpu_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma")))
#define INL __attribute__((always_inline)) inline

int cxr_gemm_wcol_available(void)
{
    static int ok = -1;
    if (ok < 0) {
        __builtin_cpu_init();
        ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    }
    return ok;
}


/* C[0..MR)[0..8 NV) (+)= A[0..MR)[0..Kd) @ B[0..Kd)[0..8 NV), NV = 2 or 3 vectors of 8 pixels;
 * masked (NV = 2 only): only the lanes in m0/m1. At MR = 4, NV = 3 holds 12 accumulators: the
 * 8 of NV = 2 cap the tile at 8 FMAs per FMA latency (5 cycles on Zen 2: 80% of two pipes), 12
 * cover it, in 16 ymm registers with the 3 loads and the broadcast. Each output is the same
 * chain of FMAs over the columns in order whatever the tile it falls in. */
static TGT INL void tile(const int MR, const int NV, const int masked, float *C, size_t ldc,
                         const float *A, size_t lda, const float *B, const int *offs, int Kd,
                         __m256i m0, __m256i m1, const float *bias, const cxr_gemm_ep *ep)
{
    __m256 c[4][3];
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) {
            const float *ci = C + i * ldc + 8 * v;
            c[i][v] = bias     ? _mm256_broadcast_ss(bias + i)
                      : masked ? _mm256_maskload_ps(ci, v ? m1 : m0)
                               : _mm256_loadu_ps(ci);
        }
    for (int j = 0; j < Kd; j++) {
        const float *b = B + offs[j];
        __m256 bv[3];
        for (int v = 0; v < NV; v++)
            bv[v] =
                masked ? _mm256_maskload_ps(b + 8 * v, v ? m1 : m0) : _mm256_loadu_ps(b + 8 * v);
        for (int i = 0; i < MR; i++) {
            const __m256 a = _mm256_broadcast_ss(A + i * lda + j);
            for (int v = 0; v < NV; v++) c[i][v] = _mm256_fmadd_ps(a, bv[v], c[i][v]);
        }
    }
    if (ep->relu) {
        /* the same select as cxr_select_f: x > 0 ? x : alpha * x (NaN takes alpha * x) */
        const __m256 al = _mm256_set1_ps(ep->alpha), z = _mm256_setzero_ps();
        for (int i = 0; i < MR; i++)
            for (int v = 0; v < NV; v++)
                c[i][v] = _mm256_blendv_ps(_mm256_mul_ps(al, c[i][v]), c[i][v],
                                           _mm256_cmp_ps(c[i][v], z, _CMP_GT_OQ));
    }
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++) {
            float *ci = C + i * ldc + 8 * v;
            if (masked)
                _mm256_maskstore_ps(ci, v ? m1 : m0, c[i][v]);
            else
                _mm256_storeu_ps(ci, c[i][v]);
        }
}

/* Blocking: inner-dimension chunks of KC rows of B, so that a 24-pixel panel of the chunk
 * (KC x 96 bytes) stays in L1 while every group of 4 weight rows passes over it. */
#define KC 192 /* not critical: specs/model.md */

/* All M rows of C over one tile of 8 NV pixels, in blocks of 4 weight rows. */
static TGT INL void panel(const int NV, float *C, size_t ldc, const float *A, size_t lda,
                          const float *B, const int *offs, int M, int Kd, const int masked,
                          __m256i m0, __m256i m1, const cxr_gemm_ep *ep)
{
    const float *bs = ep->bias;
    int m = 0;
    for (; m + 4 <= M; m += 4)
        tile(4, NV, masked, C + m * ldc, ldc, A + m * lda, lda, B, offs, Kd, m0, m1,
             bs ? bs + m : NULL, ep);
    switch (M - m) {
    case 3:
        tile(3, NV, masked, C + m * ldc, ldc, A + m * lda, lda, B, offs, Kd, m0, m1,
             bs ? bs + m : NULL, ep);
        break;
    case 2:
        tile(2, NV, masked, C + m * ldc, ldc, A + m * lda, lda, B, offs, Kd, m0, m1,
             bs ? bs + m : NULL, ep);
        break;
    case 1:
        tile(1, NV, masked, C + m * ldc, ldc, A + m * lda, lda, B, offs, Kd, m0, m1,
             bs ? bs + m : NULL, ep);
        break;
    default: break;
    }
}

/* How many 24-pixel blocks start a row of N pixels: as many as fit, one fewer where that leaves
 * the rest a multiple of 16 and the count does not (N = 128: 4 x 24 + 2 x 16, not 5 x 24 + a
 * half-masked 16), so the study's rows (256, 128, 64) need no masked tile. */
static int blocks24(int N)
{
    int a = N / 24;
    if (a > 0 && (N - 24 * a) % 16 != 0 && (N - 24 * (a - 1)) % 16 == 0) a--;
    return a;
}

TGT void cxr_gemm_wcol(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                       const int *offs, int M, int N, int Kd, const float *bias, float alpha,
                       int relu)
{
    const __m256i all = _mm256_set1_epi32(-1);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int n24 = 24 * blocks24(N), r = (N - n24) % 16;
    const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(r), lane);
    const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32(r - 8), lane);
    for (int k0 = 0; k0 < Kd; k0 += KC) {
        const int kc = Kd - k0 < KC ? Kd - k0 : KC;
        const float *Ak = A + k0;
        const int *ok = offs + k0;
        const cxr_gemm_ep ep = { k0 == 0 ? bias : NULL, relu && k0 + kc == Kd, alpha };
        int p = 0;
        for (; p < n24; p += 24) panel(3, C + p, ldc, Ak, lda, B + p, ok, M, kc, 0, all, all, &ep);
        for (; p + 16 <= N; p += 16)
            panel(2, C + p, ldc, Ak, lda, B + p, ok, M, kc, 0, all, all, &ep);
        if (p < N) panel(2, C + p, ldc, Ak, lda, B + p, ok, M, kc, 1, m0, m1, &ep);
    }
}

/* ---- weight gradient: dW (M,Kd) += sum over pixels of g[m][pixel] * column j of pixel */

/* sum of the 8 lanes, in a fixed order */
static TGT INL float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* MR gradient planes x NR columns over the rows [y0,y1) of the image: 12 vector accumulators
 * of 8 pixel lanes, reduced once per band. */
static TGT INL void dw_block(const int MR, const int NR, float *dw, size_t ldw, const float *g,
                             size_t hw, const float *pad, const int *offs, int W, int y0, int y1,
                             __m256i tail)
{
    __m256 acc[4][3];
    for (int i = 0; i < MR; i++)
        for (int q = 0; q < NR; q++) acc[i][q] = _mm256_setzero_ps();
    const int pw = W + 2, w8 = W & ~7;
    for (int y = y0; y < y1; y++) {
        const float *gr = g + (size_t)y * W;
        const float *pr = pad + (size_t)y * pw;
        int x = 0;
        for (; x < w8; x += 8) {
            __m256 p[3];
            for (int q = 0; q < NR; q++) p[q] = _mm256_loadu_ps(pr + offs[q] + x);
            for (int i = 0; i < MR; i++) {
                const __m256 d = _mm256_loadu_ps(gr + i * hw + x);
                for (int q = 0; q < NR; q++) acc[i][q] = _mm256_fmadd_ps(d, p[q], acc[i][q]);
            }
        }
        if (x < W) {
            __m256 p[3];
            for (int q = 0; q < NR; q++) p[q] = _mm256_maskload_ps(pr + offs[q] + x, tail);
            for (int i = 0; i < MR; i++) {
                const __m256 d = _mm256_maskload_ps(gr + i * hw + x, tail);
                for (int q = 0; q < NR; q++) acc[i][q] = _mm256_fmadd_ps(d, p[q], acc[i][q]);
            }
        }
    }
    for (int i = 0; i < MR; i++)
        for (int q = 0; q < NR; q++) dw[i * ldw + q] += hsum8(acc[i][q]);
}

static TGT INL void dw_rows(const int MR, float *dw, size_t ldw, const float *g, size_t hw,
                            const float *pad, const int *offs, int Kd, int W, int y0, int y1,
                            __m256i tail)
{
    int j = 0;
    for (; j + 3 <= Kd; j += 3) dw_block(MR, 3, dw + j, ldw, g, hw, pad, offs + j, W, y0, y1, tail);
    if (Kd - j == 2) dw_block(MR, 2, dw + j, ldw, g, hw, pad, offs + j, W, y0, y1, tail);
    if (Kd - j == 1) dw_block(MR, 1, dw + j, ldw, g, hw, pad, offs + j, W, y0, y1, tail);
}

TGT void cxr_conv_dw(float *dw, const float *g, size_t hw, const float *pad, const int *offs, int M,
                     int Kd, int H, int W)
{
    const __m256i tail =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(W & 7), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    /* bands of about 1024 pixels: long enough to amortise the reductions, short enough that a
     * band of the gradient planes and of the padded input stay in L1/L2 across the blocks */
    int band = 1024 / (W > 0 ? W : 1);
    if (band < 1) band = 1;
    for (int y0 = 0; y0 < H; y0 += band) {
        const int y1 = y0 + band < H ? y0 + band : H;
        int m = 0;
        for (; m + 4 <= M; m += 4)
            dw_rows(4, dw + m * (size_t)Kd, Kd, g + m * hw, hw, pad, offs, Kd, W, y0, y1, tail);
        switch (M - m) {
        case 3:
            dw_rows(3, dw + m * (size_t)Kd, Kd, g + m * hw, hw, pad, offs, Kd, W, y0, y1, tail);
            break;
        case 2:
            dw_rows(2, dw + m * (size_t)Kd, Kd, g + m * hw, hw, pad, offs, Kd, W, y0, y1, tail);
            break;
        case 1:
            dw_rows(1, dw + m * (size_t)Kd, Kd, g + m * hw, hw, pad, offs, Kd, W, y0, y1, tail);
            break;
        default: break;
        }
    }
}

/* ---- dense layers' forward: C (M,N) += A (M,K) @ B (N,K)^T, as dot products along K */

/* MR rows of A x NR rows of B over k in [0,kc): 8-lane partial sums, reduced once. */
static TGT INL void nt_block(const int MR, const int NR, float *C, size_t ldc, const float *A,
                             size_t lda, const float *B, size_t ldb, int kc, __m256i tail)
{
    __m256 acc[3][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_ps();
    const int k8 = kc & ~7;
    int k = 0;
    for (; k < k8; k += 8) {
        __m256 b[4];
        for (int j = 0; j < NR; j++) b[j] = _mm256_loadu_ps(B + j * ldb + k);
        for (int i = 0; i < MR; i++) {
            const __m256 a = _mm256_loadu_ps(A + i * lda + k);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_fmadd_ps(a, b[j], acc[i][j]);
        }
    }
    if (k < kc) {
        __m256 b[4];
        for (int j = 0; j < NR; j++) b[j] = _mm256_maskload_ps(B + j * ldb + k, tail);
        for (int i = 0; i < MR; i++) {
            const __m256 a = _mm256_maskload_ps(A + i * lda + k, tail);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_fmadd_ps(a, b[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) C[i * ldc + j] += hsum8(acc[i][j]);
}

#define NT_ROWS(NR)                                                                          \
    do {                                                                                     \
        int i = 0;                                                                           \
        for (; i + 3 <= M; i += 3)                                                           \
            nt_block(3, NR, C + i * ldc + j, ldc, A + i * lda + k0, lda, Bj, ldb, kc, tail); \
        if (M - i == 2)                                                                      \
            nt_block(2, NR, C + i * ldc + j, ldc, A + i * lda + k0, lda, Bj, ldb, kc, tail); \
        if (M - i == 1)                                                                      \
            nt_block(1, NR, C + i * ldc + j, ldc, A + i * lda + k0, lda, Bj, ldb, kc, tail); \
    } while (0)

/* Inner-dimension blocks: a 4-row slice of B (4 x KD floats) stays in L1 while every row of A
 * passes over it, and the A block (M x KD) stays in L2. */
#define KD 256

TGT void cxr_gemm_nt(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                     int M, int N, int K)
{
    for (int k0 = 0; k0 < K; k0 += KD) {
        const int kc = K - k0 < KD ? K - k0 : KD;
        const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(kc & 7),
                                                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        int j = 0;
        for (; j + 4 <= N; j += 4) {
            const float *Bj = B + j * ldb + k0;
            NT_ROWS(4);
        }
        const float *Bj = B + j * ldb + k0;
        switch (N - j) {
        case 3: NT_ROWS(3); break;
        case 2: NT_ROWS(2); break;
        case 1: NT_ROWS(1); break;
        default: break;
        }
    }
}

#else /* not x86-64 GCC/Clang: callers fall back to sgemm */
int cxr_gemm_wcol_available(void) { return 0; }
void cxr_gemm_wcol(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                   const int *offs, int M, int N, int Kd, const float *bias, float alpha, int relu)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)B, (void)offs, (void)M, (void)N, (void)Kd;
    (void)bias, (void)alpha, (void)relu;
}
void cxr_conv_dw(float *dw, const float *g, size_t hw, const float *pad, const int *offs, int M,
                 int Kd, int H, int W)
{
    (void)dw, (void)g, (void)hw, (void)pad, (void)offs, (void)M, (void)Kd, (void)H, (void)W;
}
void cxr_gemm_nt(float *C, size_t ldc, const float *A, size_t lda, const float *B, size_t ldb,
                 int M, int N, int K)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)B, (void)ldb, (void)M, (void)N, (void)K;
}
#endif
