/* test_tolerance_model.c: the whole-step tolerances of the GPU tests (step_check.h) against the
 * error they must admit, measured without a GPU: the CPU backend with the GPU's input rounding
 * emulated (rounding_backend.h: tf32 for convolutions, tf32 or bf16 for the dense GEMMs; tf32
 * both truncated and rounded to nearest) must pass within HALF of the tf32/bf16 tolerances,
 * with dropout off and on; and the emulation must be visible, i.e. fail the fp32 tolerances
 * (else this test would show nothing). CPU only: runs in every build. */
#include <math.h>
#include "rounding_backend.h"
#include "step_check.h"

int main(void)
{
    cxr_backend *cpu = NULL;
    CHECK_OK(cxr_backend_cpu_create(&cpu, 2));
    const cxr_precision precs[2] = { CXR_PRECISION_TF32, CXR_PRECISION_BF16 };
    const float keeps[2] = { 1.0f, 0.75f };
    double worst = 0;
    for (int i = 0; i < 2; i++)
        for (int nearest = 0; nearest < 2; nearest++)
            for (int k = 0; k < 2; k++) {
                cxr_backend *rbe = NULL;
                CHECK_OK(rounding_backend_create(&rbe, precs[i], nearest, 2));
                /* the plain loss, then mixup's: the same tolerances hold for both */
                const double w = fmax(step_check(cpu, rbe, 0, precs[i], keeps[k], 0.5, 0),
                                      step_check(cpu, rbe, 0, precs[i], keeps[k], 0.5, 1));
                printf("tolerance model %s (tf32 %s) keep %.2f: worst error / half tolerance "
                       "%.3f\n",
                       cxr_precision_name(precs[i]), nearest ? "to nearest" : "truncated", keeps[k],
                       w);
                worst = w > worst ? w : worst;
                cxr_backend_destroy(rbe);
                if (nearest || k) continue;
                /* the same rounding must break the fp32 tolerances */
                CHECK_OK(rounding_backend_create(&rbe, precs[i], nearest, 2));
                const int before = cxr_test_failures;
                const double w32 = step_check(cpu, rbe, 0, CXR_PRECISION_FP32, keeps[k], 1.0, 0);
                printf("tolerance model %s against the fp32 tolerances: worst %.1f (must be "
                       "> 1)\n",
                       cxr_precision_name(precs[i]), w32);
                cxr_test_failures = before;
                CHECK(w32 > 1.0);
                cxr_backend_destroy(rbe);
            }
    printf("tolerance model: worst emulated error / half tolerance over all cases %.3f\n", worst);
    cxr_backend_destroy(cpu);
    TEST_END();
}
