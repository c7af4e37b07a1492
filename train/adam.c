/* adam.c: one Adam step with bias correction over the flat parameter block, CPU reference. */
#include <math.h>

#include "cpu_internal.h"
#include "ops.h"

cxr_status cxr_adam_step_cpu(void *ctx, float *params /* (n) */, float *m /* (n) */,
                             float *v /* (n) */, const float *grads /* (n) */, size_t n, float lr,
                             float beta1, float beta2, float eps, int64_t t) {
    if (t < 1) return cxr_set_error(CXR_E_ARG, "adam_step: step %lld < 1", (long long)t);
    /* bias corrections in double, then the loop in float */
    const float c1 = (float)(1.0 / (1.0 - pow((double)beta1, (double)t)));
    const float c2 = (float)(1.0 / (1.0 - pow((double)beta2, (double)t)));
    const float a1 = 1.0f - beta1, a2 = 1.0f - beta2;
    const int nt = cxr_cpu_threads(ctx);
#pragma omp parallel for simd num_threads(nt) schedule(static)
    for (size_t i = 0; i < n; i++) {
        const float g = grads[i];
        const float mi = beta1 * m[i] + a1 * g;
        const float vi = beta2 * v[i] + a2 * g * g;
        m[i] = mi;
        v[i] = vi;
        params[i] -= lr * (mi * c1) / (sqrtf(vi * c2) + eps);
    }
    return CXR_OK;
}
