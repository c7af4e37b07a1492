/* gemm_avx512.c: the AVX-512 variant of gemm_avx2.c's convolution product, used when the CPU
 * has AVX-512F (cxr_conv_avx512_available) unless CXR_CPU_ISA=avx2 (backend_cpu.c).
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

#else /* not x86-64 GCC/Clang: the AVX2 kernels or sgemm */
int cxr_conv_avx512_available(void) { return 0; }
void cxr_gemm_wcol512(float *C, size_t ldc, const float *A, size_t lda, const float *B,
                      const int *offs, int M, int N, int Kd, const float *bias, float alpha,
                      int relu)
{
    (void)C, (void)ldc, (void)A, (void)lda, (void)B, (void)offs, (void)M, (void)N, (void)Kd;
    (void)bias, (void)alpha, (void)relu;
}
#endif
