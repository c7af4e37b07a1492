/* test_schedule.c: the learning-rate schedules' values (train/schedule.c, specs/model.md). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cxr_trainer.h"

static int near(float a, double b) { return fabs((double)a - b) <= 1e-6 * fabs(b) + 1e-12; }

int main(void)
{
    int fails = 0;
    cxr_lr_schedule sc = { CXR_LR_CONSTANT, 1e-3f, 0, 1000, 0, 0.1f };
    for (int64_t s = 0; s < 2000; s += 250) fails += !near(cxr_lr_at(&sc, s), 1e-3);
    /* warmup: (s+1)/W of the peak, then the peak */
    sc.warmup = 100;
    fails += !near(cxr_lr_at(&sc, 0), 1e-5);
    fails += !near(cxr_lr_at(&sc, 49), 5e-4);
    fails += !near(cxr_lr_at(&sc, 99), 1e-3);
    fails += !near(cxr_lr_at(&sc, 100), 1e-3);
    /* cosine after warmup: peak at the end of warmup, half way down midway, 0 at the end */
    sc.kind = CXR_LR_COSINE;
    fails += !near(cxr_lr_at(&sc, 100), 1e-3);
    fails += !near(cxr_lr_at(&sc, 550), 5e-4);
    fails += !(cxr_lr_at(&sc, 1000) == 0.0f && cxr_lr_at(&sc, 5000) == 0.0f);
    for (int64_t s = 101; s < 1000; s++) fails += !(cxr_lr_at(&sc, s) < cxr_lr_at(&sc, s - 1));
    /* past the last step it stays 0: within one more span of it too, where an unclamped
     * cos(pi f), f in (1, 2], climbs back to the peak (5000 alone is past 2 spans) */
    for (int64_t s = 1000; s <= 1900; s += 25) fails += cxr_lr_at(&sc, s) != 0.0f;
    /* a step before the first is the first's rate, not a negative one (-4/W of the peak) */
    fails += cxr_lr_at(&sc, -5) != cxr_lr_at(&sc, 0) || !(cxr_lr_at(&sc, -1) > 0);
    /* step: x0.1 every step_every steps after warmup */
    sc.kind = CXR_LR_STEP;
    sc.warmup = 0;
    sc.step_every = 300;
    fails += !near(cxr_lr_at(&sc, 299), 1e-3);
    fails += !near(cxr_lr_at(&sc, 300), 1e-4);
    fails += !near(cxr_lr_at(&sc, 600), 1e-5);
    /* another factor, after a warmup: decays counted from the warmup's end */
    sc.step_gamma = 0.5f;
    sc.warmup = 50;
    fails += !near(cxr_lr_at(&sc, 49), 1e-3);
    fails += !near(cxr_lr_at(&sc, 349), 1e-3);
    fails += !near(cxr_lr_at(&sc, 350), 5e-4);
    fails += !near(cxr_lr_at(&sc, 950), 1.25e-4);
    /* degenerate spans hold the peak: a cosine whose warmup takes every step (0/0 made the
     * rate NaN after it), a step decay with no interval (a division by zero) */
    cxr_lr_schedule all_warm = { CXR_LR_COSINE, 1e-3f, 10, 10, 0, 0.1f };
    fails += !near(cxr_lr_at(&all_warm, 10), 1e-3) || !near(cxr_lr_at(&all_warm, 12), 1e-3);
    cxr_lr_schedule no_step = { CXR_LR_STEP, 1e-3f, 0, 1000, 0, 0.1f };
    fails += !near(cxr_lr_at(&no_step, 0), 1e-3) || !near(cxr_lr_at(&no_step, 999), 1e-3);
    cxr_lr_kind k;
    fails += cxr_lr_schedule_parse("cosine", &k) != CXR_OK || k != CXR_LR_COSINE;
    fails += cxr_lr_schedule_parse("step", &k) != CXR_OK || k != CXR_LR_STEP;
    fails += cxr_lr_schedule_parse("linear", &k) != CXR_E_ARG;
    /* the names round trip; a kind past them is "?" */
    for (int i = CXR_LR_CONSTANT; i <= CXR_LR_STEP; i++)
        fails += cxr_lr_schedule_parse(cxr_lr_schedule_name((cxr_lr_kind)i), &k) != CXR_OK ||
                 (int)k != i;
    fails += strcmp(cxr_lr_schedule_name((cxr_lr_kind)(CXR_LR_STEP + 1)), "?") != 0;
    if (fails)
        fprintf(stderr, "test_schedule: %d checks failed\n", fails);
    else
        printf("test_schedule: ok\n");
    return fails != 0;
}
