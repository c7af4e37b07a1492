/* tta.c: test-time augmentation (cxr_trainer.h): the model's class probabilities averaged over
 * the fixed transforms of cxr_augment_tta_xform, for cxr-eval and cxr-predict --tta.
 */
#include "cxr_trainer.h"

#include <stdlib.h>

#include "cxr_augment.h"

cxr_status cxr_model_probs_tta(cxr_model *m, const float *images, int n, int tta, float *probs)
{
    cxr_status st = CXR_OK;
    float *x = NULL, *p = NULL;
    double *sum = NULL;
    if (tta < 1 || tta > CXR_TTA_MAX)
        return cxr_set_error(CXR_E_ARG, "tta %d: expected 1..%d", tta, CXR_TTA_MAX);
    CXR_TRY(cxr_model_forward(m, images, n, 0));
    CXR_TRY(cxr_model_probs(m, probs, n));
    if (tta == 1) return CXR_OK;
    const cxr_model_config *c = cxr_model_get_config(m);
    const int S = c->image_size, C = c->n_classes;
    const size_t img = (size_t)S * S, np = (size_t)n * C;
    x = malloc((size_t)n * img * sizeof *x);
    p = malloc(np * sizeof *p);
    sum = malloc(np * sizeof *sum);
    if (!x || !p || !sum) CXR_THROW(CXR_E_NOMEM, "tta: out of memory");
    for (size_t i = 0; i < np; i++) sum[i] = probs[i];
    for (int t = 1; t < tta; t++) {
        cxr_augment_xform xf;
        cxr_augment_tta_xform(t, S, &xf);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++)
            cxr_augment_apply(&xf, images + (size_t)i * img, x + (size_t)i * img, S);
        CXR_TRY(cxr_model_forward(m, x, n, 0));
        CXR_TRY(cxr_model_probs(m, p, n));
        for (size_t i = 0; i < np; i++) sum[i] += p[i];
    }
    for (size_t i = 0; i < np; i++) probs[i] = (float)(sum[i] / tta);
bail:
    free(x);
    free(p);
    free(sum);
    return st;
}
