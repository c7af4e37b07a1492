/* schedule.c: the learning rate of each Adam step (cxr_trainer.h, specs/model.md
 * "Learning-rate schedule"). A pure function of the step, so a resumed run gets the same rates. */
#include <math.h>
#include <string.h>

#include "cxr_trainer.h"

static const char *const names[] = { "constant", "cosine", "step" };

const char *cxr_lr_schedule_name(cxr_lr_kind kind)
{
    return (unsigned)kind < 3 ? names[kind] : "?";
}

cxr_status cxr_lr_schedule_parse(const char *name, cxr_lr_kind *kind)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *kind = (cxr_lr_kind)i;
            return CXR_OK;
        }
    return cxr_set_error(CXR_E_ARG,
                         "learning-rate schedule: expected constant, cosine or step, "
                         "got '%s'",
                         name ? name : "(null)");
}

float cxr_lr_at(const cxr_lr_schedule *sc, int64_t s)
{
    if (s < 0) s = 0;
    if (sc->warmup > 0 && s < sc->warmup)
        return (float)((double)sc->lr * (double)(s + 1) / (double)sc->warmup);
    switch (sc->kind) {
    case CXR_LR_COSINE: {
        const int64_t span = sc->total - sc->warmup;
        if (span <= 0) return sc->lr;
        double f = (double)(s - sc->warmup) / (double)span;
        if (f > 1) f = 1;
        return (float)((double)sc->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * f)));
    }
    case CXR_LR_STEP: {
        if (sc->step_every <= 0) return sc->lr;
        const int64_t k = (s - (sc->warmup > 0 ? sc->warmup : 0)) / sc->step_every;
        return (float)((double)sc->lr * pow((double)sc->step_gamma, (double)k));
    }
    default: return sc->lr;
    }
}
