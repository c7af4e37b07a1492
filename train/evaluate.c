/* evaluate.c: a model's pass over a store's split (cxr_trainer.h: cxr_evaluate, with test-time
 * augmentation cxr_evaluate_tta): the class-weighted loss and the metrics' inputs, for
 * cxr-train's epochs and cxr-eval.
 */
#include "cxr_trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_augment.h"
#include "cxr_clock.h"
#include "cxr_loader.h"

/* Class-weighted cross-entropy of one batch from logits, in double: sums into *num, *den. */
static void weighted_ce(const float *logits, const int32_t *labels, const float *cw, int n, int C,
                        double *num, double *den)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * C;
        double mx = z[0], s = 0;
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < C; c++) s += exp((double)z[c] - mx);
        double ce = -((double)z[labels[i]] - mx - log(s));
        double w = cw ? cw[labels[i]] : 1.0;
        *num += w * ce;
        *den += w;
    }
}

cxr_status cxr_evaluate(cxr_model *m, const cxr_store *store, const char *split, int batch,
                        int threads, int prefetch, const float *class_weights,
                        volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                        cxr_eval_result *res)
{
    return cxr_evaluate_ex(m, store, split, batch, threads, prefetch, class_weights, interrupted,
                           metrics, res, NULL, NULL);
}

cxr_status cxr_evaluate_ex(cxr_model *m, const cxr_store *store, const char *split, int batch,
                           int threads, int prefetch, const float *class_weights,
                           volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                           cxr_eval_result *res, cxr_eval_hook hook, void *user)
{
    return cxr_evaluate_tta(m, store, split, batch, threads, prefetch, class_weights, interrupted,
                            metrics, res, hook, user, 1, NULL, 0);
}

cxr_status cxr_eval_check_finite(const cxr_eval_result *res, const cxr_store *store,
                                 const char *split, const char *model)
{
    if (res->n_nonfinite == 0) return CXR_OK;
    return cxr_set_error(CXR_E_MISMATCH,
                         "%s on %s, split %s: the probabilities of %lld image(s) are not finite, "
                         "the first image %lld (%s): the model's weights overflow on them; no "
                         "metrics",
                         model, cxr_store_path(store), split, (long long)res->n_nonfinite,
                         (long long)res->first_nonfinite,
                         cxr_store_image_path(store, split, res->first_nonfinite));
}

cxr_status cxr_evaluate_tta(cxr_model *m, const cxr_store *store, const char *split, int batch,
                            int threads, int prefetch, const float *class_weights,
                            volatile sig_atomic_t *interrupted, cxr_metrics *metrics,
                            cxr_eval_result *res, cxr_eval_hook hook, void *user, int tta,
                            const cxr_augment_params *perturb, uint64_t perturb_seed)
{
    cxr_status st = CXR_OK;
    cxr_loader *l = NULL;
    const cxr_model_config *c = cxr_model_get_config(m);
    float *probs = NULL, *logits = NULL;
    double t0 = cxr_now_s(), num = 0, den = 0;
    memset(res, 0, sizeof *res);
    res->first_nonfinite = -1;
    if (batch > c->batch_capacity) batch = c->batch_capacity;
    cxr_loader_options lo;
    cxr_loader_options_defaults(&lo);
    lo.batch = batch;
    lo.shuffle = 0;
    lo.threads = threads > 0 ? threads : 1;
    lo.prefetch = prefetch;
    lo.augment = perturb; /* epoch 0 below */
    lo.seed = perturb_seed;
    cxr_split_info info;
    CXR_TRY(cxr_store_split(store, split, &info));
    if (info.size != c->image_size)
        CXR_THROW(CXR_E_MISMATCH, "%s: split '%s' has %dx%d images, the model expects %dx%d",
                  cxr_store_path(store), split, info.size, info.size, c->image_size, c->image_size);
    if (cxr_store_n_classes(store) != c->n_classes)
        CXR_THROW(CXR_E_MISMATCH, "%s: %d classes, the model has %d", cxr_store_path(store),
                  cxr_store_n_classes(store), c->n_classes);
    if ((st = cxr_metrics_reserve(metrics, cxr_metrics_count(metrics) + info.n)) != CXR_OK) {
        cxr_wrap_error(st, "%s: split '%s'", cxr_store_path(store), split);
        goto bail;
    }
    CXR_TRY(cxr_loader_create(&l, store, split, &lo));
    probs = malloc((size_t)batch * c->n_classes * sizeof *probs);
    logits = malloc((size_t)batch * c->n_classes * sizeof *logits);
    if (!probs || !logits) CXR_THROW(CXR_E_NOMEM, "evaluate: out of memory");
    CXR_TRY(cxr_loader_begin_epoch(l, 0));
    for (;;) {
        cxr_batch b;
        CXR_TRY(cxr_loader_next_batch(l, &b));
        if (b.n == 0) break;
        CXR_TRY(cxr_model_probs_tta(m, b.images, b.n, tta, probs));
        for (int i = 0; i < b.n; i++) {
            if (cxr_probs_finite(probs + (size_t)i * c->n_classes, c->n_classes)) continue;
            if (res->first_nonfinite < 0) res->first_nonfinite = b.indices[i];
            res->n_nonfinite++;
        }
        if (tta == 1) CXR_TRY(cxr_model_logits(m, logits, b.n));
        CXR_TRY(cxr_metrics_add(metrics, probs, b.labels, b.n));
        if (hook) hook(user, b.n, b.indices, b.labels, probs);
        if (tta == 1)
            weighted_ce(logits, b.labels, class_weights, b.n, c->n_classes, &num, &den);
        else
            cxr_metrics_weighted_ce(probs, b.labels, class_weights, b.n, c->n_classes, &num, &den);
        if (interrupted && *interrupted) CXR_THROW(CXR_E_INTERRUPTED, "interrupted");
    }
    res->loss = den > 0 ? num / den : NAN;
    res->wait_s = cxr_loader_wait_seconds(l);
bail:
    res->seconds = cxr_now_s() - t0;
    cxr_loader_destroy(l);
    free(probs);
    free(logits);
    return st;
}
