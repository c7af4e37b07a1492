/* adam.c: one Adam(W) step with bias correction over the flat parameter block, CPU reference. */
#include <math.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cpu_internal.h"
#include "cxr_ops.h"

/* The update of elements [lo, hi). SSE by hand because GCC (math-errno on) will not vectorise a
 * loop calling sqrtf; every SSE operation is correctly rounded and in the scalar order, so the
 * vector and tail paths give the same bits. */
static void adam_range(float *restrict params, float *restrict m, float *restrict v,
                       const float *restrict grads, size_t lo, size_t hi, float lr, float beta1,
                       float beta2, float eps, float c1, float c2, float decay)
{
    const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
    size_t i = lo;
#if defined(__SSE2__)
    const __m128 B1 = _mm_set1_ps(beta1), B2 = _mm_set1_ps(beta2), A1 = _mm_set1_ps(a1),
                 A2 = _mm_set1_ps(a2), LR = _mm_set1_ps(lr), C1 = _mm_set1_ps(c1),
                 C2 = _mm_set1_ps(c2), EPS = _mm_set1_ps(eps), D = _mm_set1_ps(decay);
    for (; i + 4 <= hi; i += 4) {
        const __m128 g = _mm_loadu_ps(grads + i);
        const __m128 mi = _mm_add_ps(_mm_mul_ps(B1, _mm_loadu_ps(m + i)), _mm_mul_ps(A1, g));
        const __m128 vi =
            _mm_add_ps(_mm_mul_ps(B2, _mm_loadu_ps(v + i)), _mm_mul_ps(_mm_mul_ps(A2, g), g));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        const __m128 num = _mm_mul_ps(LR, _mm_mul_ps(mi, C1));
        const __m128 den = _mm_add_ps(_mm_sqrt_ps(_mm_mul_ps(vi, C2)), EPS);
        const __m128 pd = _mm_mul_ps(_mm_loadu_ps(params + i), D);
        _mm_storeu_ps(params + i, _mm_sub_ps(pd, _mm_div_ps(num, den)));
    }
#endif
    for (; i < hi; i++) {
        const float g = grads[i];
        const float mi = beta1 * m[i] + a1 * g;
        const float vi = beta2 * v[i] + a2 * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] = params[i] * decay - lr * (mi * c1) / (sqrtf(vi * c2) + eps);
    }
}

cxr_status cxr_adam_step_cpu(void *ctx, float *params /* (n) */, float *m /* (n) */,
                             float *v /* (n) */, const float *grads /* (n) */, size_t n, float lr,
                             float beta1, float beta2, float eps, float wd, int64_t t)
{
    if (t < 1) return cxr_set_error(CXR_E_ARG, "adam_step: step %lld < 1", (long long)t);
    if (ctx) cxr_cpu_enter(ctx); /* v = g^2 of small gradients is where denormals appear */
    /* bias corrections in double, then the loop in float */
    const float c1 = (float)(1.0 / (1.0 - pow((double)beta1, (double)t)));
    const float c2 = (float)(1.0 / (1.0 - pow((double)beta2, (double)t)));
    const float decay = (float)(1.0 - (double)lr * (double)wd); /* 1 exactly when wd = 0 */
    const size_t chunk = 1 << 16;
    const long chunks = (long)((n + chunk - 1) / chunk);
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (long k = 0; k < chunks; k++) {
        const size_t lo = (size_t)k * chunk, hi = lo + chunk < n ? lo + chunk : n;
        adam_range(params, m, v, grads, lo, hi, lr, beta1, beta2, eps, c1, c2, decay);
    }
    return CXR_OK;
}
