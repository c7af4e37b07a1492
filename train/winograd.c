/* winograd.c: the 3x3 convolution's forward (and its input gradient, the same convolution of
 * the output gradient with the flipped, transposed kernel) by Winograd's minimal filtering
 * F(2x2, 3x3)
 * (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), for conv.c's
 * direct path: each 2x2 block of outputs comes from a 4x4 patch d of the zero-bordered input,
 *
 *     Y = A^T [ sum over c of (G g_c G^T) .* (B^T d_c B) ] A
 *
 * so the products are 16 matrix products U_xi (K x C) @ V_xi (C x tiles), one per point xi of
 * the 4x4 transformed tile, which run in cxr_gemm_wcol: 16 C K multiplications per 4 outputs
 * against 36 C K, 2.25x fewer. B^T d B and A^T m A are additions only; G g G^T halves.
 *
 *     B^T = | 1  0 -1  0 |    G = |  1    0    0  |    A^T = | 1  1  1  0 |
 *           | 0  1  1  0 |        | 1/2  1/2  1/2 |          | 0  1 -1 -1 |
 *           | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
 *           | 0  1  0 -1 |        |  0    0    1  |
 *
 * Every value is computed in one fixed order (the expressions below, left to right), so the
 * results do not depend on threads, strips or instruction width; they differ from the direct
 * product's by rounding only. The transforms run on AVX2, 8 tiles to a vector (conv.c takes
 * this path only on CPUs with AVX2 and FMA).
 */
#include <stddef.h>

#include "cpu_internal.h"

/* U[(xi*K + k)*C + c] = (G g G^T)[xi] of g = w[k][c] (w: K, C, 3, 3), or with flip of
 * g[j] = w[c][k][8 - j] (w: C, K, 3, 3; the input gradient's flipped, transposed kernel). */
void cxr_wino_weights(float *U, const float *w, int K, int C, int flip)
{
    for (int k = 0; k < K; k++)
        for (int c = 0; c < C; c++) {
            float g[9];
            for (int j = 0; j < 9; j++)
                g[j] = flip ? w[((size_t)c * K + k) * 9 + 8 - j] : w[((size_t)k * C + c) * 9 + j];
            float t[4][3];
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) {
                const float u[4] = { t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]),
                                     0.5f * (t[i][0] - t[i][1] + t[i][2]), t[i][2] };
                for (int j = 0; j < 4; j++) U[((size_t)(4 * i + j) * K + k) * C + c] = u[j];
            }
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2,fma")))

/* The transforms below, 8 tiles to a vector, then the tiles left one at a time: the same
 * expressions in the same order, so a tile's values do not depend on where it falls. */

/* d[2t], d[2t+1] for t = 0..7 from the 16 floats at d. */
static TGT inline void deinterleave(const float *d, __m256 *even, __m256 *odd)
{
    const __m256 a = _mm256_loadu_ps(d), b = _mm256_loadu_ps(d + 8);
    *even = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                              _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))),
                              _MM_SHUFFLE(3, 1, 2, 0)));
}

/* V[(xi*C + c)*ldv + t] = (B^T d B)[xi] of the patch of tile t = 0..W/2-1 of channel c: rows
 * 0..3 of the band at `band` (channel planes `plane` floats apart, rows W + 2 long), columns
 * 2t..2t+3. Rows first: e0 = d0 - d2, e1 = d1 + d2, e2 = d2 - d1, e3 = d1 - d3; then the same
 * combination of the columns of each e. */
static TGT void input_tiles(float *V, size_t ldv, const float *band, size_t plane, int C, int W)
{
    const int T = W / 2;
    const size_t pw = (size_t)W + 2, xs = (size_t)C * ldv;
    for (int c = 0; c < C; c++) {
        const float *d[4];
        d[0] = band + (size_t)c * plane, d[1] = d[0] + pw, d[2] = d[1] + pw, d[3] = d[2] + pw;
        float *v = V + (size_t)c * ldv;
        int t = 0;
        for (; t + 8 <= T; t += 8) { /* reads up to d[i][2t + 17] <= W + 1 */
            __m256 col[4][4];        /* col[i][j] = d[i][2t + j] */
            for (int i = 0; i < 4; i++) {
                deinterleave(d[i] + 2 * t, &col[i][0], &col[i][1]);
                deinterleave(d[i] + 2 * t + 2, &col[i][2], &col[i][3]);
            }
            for (int j = 0; j < 4; j++) {
                const __m256 e0 = _mm256_sub_ps(col[0][j], col[2][j]);
                const __m256 e1 = _mm256_add_ps(col[1][j], col[2][j]);
                const __m256 e2 = _mm256_sub_ps(col[2][j], col[1][j]);
                const __m256 e3 = _mm256_sub_ps(col[1][j], col[3][j]);
                col[0][j] = e0, col[1][j] = e1, col[2][j] = e2, col[3][j] = e3;
            }
            for (int i = 0; i < 4; i++) {
                const __m256 *e = col[i];
                _mm256_storeu_ps(v + (size_t)(4 * i + 0) * xs + t, _mm256_sub_ps(e[0], e[2]));
                _mm256_storeu_ps(v + (size_t)(4 * i + 1) * xs + t, _mm256_add_ps(e[1], e[2]));
                _mm256_storeu_ps(v + (size_t)(4 * i + 2) * xs + t, _mm256_sub_ps(e[2], e[1]));
                _mm256_storeu_ps(v + (size_t)(4 * i + 3) * xs + t, _mm256_sub_ps(e[1], e[3]));
            }
        }
        for (; t < T; t++) {
            float e[4][4];
            for (int j = 0; j < 4; j++) {
                const int x = 2 * t + j;
                e[0][j] = d[0][x] - d[2][x];
                e[1][j] = d[1][x] + d[2][x];
                e[2][j] = d[2][x] - d[1][x];
                e[3][j] = d[1][x] - d[3][x];
            }
            for (int i = 0; i < 4; i++) {
                v[(size_t)(4 * i + 0) * xs + t] = e[i][0] - e[i][2];
                v[(size_t)(4 * i + 1) * xs + t] = e[i][1] + e[i][2];
                v[(size_t)(4 * i + 2) * xs + t] = e[i][2] - e[i][1];
                v[(size_t)(4 * i + 3) * xs + t] = e[i][1] - e[i][3];
            }
        }
    }
}

/* Rows 0 and 1 (W pixels each, W apart) of the K output planes (ldc apart) at Y from
 * M[(xi*K + k)*ldm + t]: rows r0 = (m0 + m1) + m2, r1 = (m1 - m2) - m3, then outputs
 * b + ((r[0] + r[1]) + r[2]) and b + ((r[1] - r[2]) - r[3]) of each, then x > 0 ? x : alpha x
 * when relu. */
static TGT void output_tiles(float *Y, size_t ldc, const float *Mx, size_t ldm, int K, int W,
                             const float *bias, float alpha, int relu)
{
    const int T = W / 2;
    const size_t xs = (size_t)K * ldm;
    const __m256 al = _mm256_set1_ps(alpha), z = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        const float *m = Mx + (size_t)k * ldm;
        float *y0 = Y + (size_t)k * ldc, *y1 = y0 + W;
        const float b = bias[k];
        const __m256 bv = _mm256_set1_ps(b);
        int t = 0;
        for (; t + 8 <= T; t += 8) {
            __m256 r0[4], r1[4], o[4];
            for (int j = 0; j < 4; j++) {
                const __m256 m0 = _mm256_loadu_ps(m + (size_t)j * xs + t);
                const __m256 m1 = _mm256_loadu_ps(m + (size_t)(4 + j) * xs + t);
                const __m256 m2 = _mm256_loadu_ps(m + (size_t)(8 + j) * xs + t);
                const __m256 m3 = _mm256_loadu_ps(m + (size_t)(12 + j) * xs + t);
                r0[j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                r1[j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
            }
            o[0] = _mm256_add_ps(bv, _mm256_add_ps(_mm256_add_ps(r0[0], r0[1]), r0[2]));
            o[1] = _mm256_add_ps(bv, _mm256_sub_ps(_mm256_sub_ps(r0[1], r0[2]), r0[3]));
            o[2] = _mm256_add_ps(bv, _mm256_add_ps(_mm256_add_ps(r1[0], r1[1]), r1[2]));
            o[3] = _mm256_add_ps(bv, _mm256_sub_ps(_mm256_sub_ps(r1[1], r1[2]), r1[3]));
            if (relu)
                for (int q = 0; q < 4; q++)
                    o[q] = _mm256_blendv_ps(_mm256_mul_ps(al, o[q]), o[q],
                                            _mm256_cmp_ps(o[q], z, _CMP_GT_OQ));
            for (int r = 0; r < 2; r++) { /* pixels 2t, 2t+1 of tile t: interleave */
                const __m256 lo = _mm256_unpacklo_ps(o[2 * r], o[2 * r + 1]);
                const __m256 hi = _mm256_unpackhi_ps(o[2 * r], o[2 * r + 1]);
                float *yr = (r ? y1 : y0) + 2 * t;
                _mm256_storeu_ps(yr, _mm256_permute2f128_ps(lo, hi, 0x20));
                _mm256_storeu_ps(yr + 8, _mm256_permute2f128_ps(lo, hi, 0x31));
            }
        }
        for (; t < T; t++) {
            float r0[4], r1[4];
            for (int j = 0; j < 4; j++) {
                const float m0 = m[(size_t)j * xs + t], m1 = m[(size_t)(4 + j) * xs + t];
                const float m2 = m[(size_t)(8 + j) * xs + t], m3 = m[(size_t)(12 + j) * xs + t];
                r0[j] = (m0 + m1) + m2;
                r1[j] = (m1 - m2) - m3;
            }
            float o[4] = { b + ((r0[0] + r0[1]) + r0[2]), b + ((r0[1] - r0[2]) - r0[3]),
                           b + ((r1[0] + r1[1]) + r1[2]), b + ((r1[1] - r1[2]) - r1[3]) };
            if (relu)
                for (int q = 0; q < 4; q++) o[q] = o[q] > 0.0f ? o[q] : alpha * o[q];
            y0[2 * t] = o[0], y0[2 * t + 1] = o[1];
            y1[2 * t] = o[2], y1[2 * t + 1] = o[3];
        }
    }
}

void cxr_wino_rows(float *Y, size_t ldc, const float *U, const float *band, size_t plane, int C,
                   int K, int W, const float *bias, float alpha, int relu, const cxr_wino_work *wk,
                   int wide)
{
    const int T = W / 2;
    input_tiles(wk->V, wk->ldv, band, plane, C, W);
    for (int xi = 0; xi < 16; xi++)
        (wide ? cxr_gemm_wcol512 : cxr_gemm_wcol)(
            wk->M + (size_t)xi * K * wk->ldm, wk->ldm, U + (size_t)xi * K * C, (size_t)C,
            wk->V + (size_t)xi * C * wk->ldv, wk->offs, K, T, C, wk->zero, 0.0f, 0);
    output_tiles(Y, ldc, wk->M, wk->ldm, K, W, bias, alpha, relu);
}

#else /* not x86-64 GCC/Clang: conv.c never takes this path (no direct kernels) */
void cxr_wino_rows(float *Y, size_t ldc, const float *U, const float *band, size_t plane, int C,
                   int K, int W, const float *bias, float alpha, int relu, const cxr_wino_work *wk,
                   int wide)
{
    (void)Y, (void)ldc, (void)U, (void)band, (void)plane, (void)C, (void)K, (void)W, (void)bias;
    (void)alpha, (void)relu, (void)wk, (void)wide;
}
#endif
