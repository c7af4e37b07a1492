/* ensemble.c: evaluate the mean of several models' class probabilities on a split
 * (cxr_trainer.h, cxr-eval --ensemble). Members are opened and evaluated one after the other,
 * each exactly as cxr_evaluate_tta evaluates it alone; only the running sum of their
 * probabilities (split images x classes, in double) stays between them.
 */
#include "cxr_trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_checkpoint.h"
#include "cxr_clock.h"
#include "cxr_memory.h"

typedef struct {
    double *sum; /* (n, k) */
    int k;
} accumulate;

static void add_probs(void *user, int n, const int64_t *idx, const int32_t *labels,
                      const float *probs)
{
    (void)labels;
    accumulate *a = user;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < a->k; c++)
            a->sum[(size_t)idx[i] * a->k + c] += probs[(size_t)i * a->k + c];
}

void cxr_ensemble_eval_free(cxr_ensemble_eval *e)
{
    if (!e) return;
    free(e->probs);
    memset(e, 0, sizeof *e);
}

cxr_status cxr_evaluate_ensemble(const char *const *paths, int n_models, cxr_backend *be,
                                 const cxr_store *store, const char *split, int batch,
                                 int threads, int prefetch, const float *class_weights,
                                 volatile sig_atomic_t *interrupted, int tta,
                                 const cxr_augment_params *perturb, uint64_t perturb_seed,
                                 cxr_ensemble_member *members, cxr_ensemble_eval *out)
{
    cxr_status st = CXR_OK;
    cxr_model *m = NULL;
    cxr_metrics *scratch = NULL;
    cxr_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    memset(out, 0, sizeof *out);
    accumulate acc = { NULL, cxr_store_n_classes(store) };
    const double t0 = cxr_now_s();
    if (n_models < 1) return cxr_set_error(CXR_E_ARG, "ensemble: no models");
    cxr_split_info info;
    CXR_TRY(cxr_store_split(store, split, &info));
    const int K = acc.k;
    /* every image's K probabilities: summed (double), averaged (float), and in two metrics
     * (a member's and the ensemble's, 4 (K + 1) bytes each), refused up front with the size */
    const double need = (double)info.n * K * (sizeof *acc.sum + sizeof *out->probs) +
                        2.0 * (double)info.n * (K + 1) * sizeof(float);
    const int64_t avail = cxr_mem_available();
    if (avail >= 0 && need > (double)avail)
        return cxr_set_error(CXR_E_NOMEM,
                             "%s: split '%s': an ensemble keeps every image's %d class "
                             "probabilities (summed, averaged and ranked for the AUC): %.1f MiB "
                             "for %lld images, more than the %.1f MiB this machine has free",
                             cxr_store_path(store), split, K, cxr_mib(need), (long long)info.n,
                             cxr_mib((double)avail));
    acc.sum = calloc((size_t)info.n * K, sizeof *acc.sum);
    out->probs = malloc((size_t)info.n * K * sizeof *out->probs);
    if (!acc.sum || !out->probs) CXR_THROW(CXR_E_NOMEM, "ensemble: out of memory");
    /* a model's buffers for the largest batch there is: no more than the split's images */
    const int cap = batch < info.n ? batch : info.n > 0 ? (int)info.n : 1;
    for (int j = 0; j < n_models; j++) {
        cxr_eval_result er;
        CXR_TRY(cxr_checkpoint_open_model(paths[j], be, cap, threads, &m, &meta));
        CXR_TRY(cxr_checkpoint_check_store(&meta, paths[j], store));
        if (!scratch) CXR_TRY(cxr_metrics_create(&scratch, K));
        cxr_metrics_reset(scratch);
        CXR_TRY(cxr_evaluate_tta(m, store, split, batch, threads, prefetch, class_weights,
                                 interrupted, scratch, &er, add_probs, &acc, tta, perturb,
                                 perturb_seed));
        CXR_TRY(cxr_eval_check_finite(&er, store, split, paths[j]));
        if (cxr_metrics_count(scratch) != info.n)
            CXR_THROW(CXR_E_FORMAT, "ensemble: %s evaluated %lld of %lld images of split '%s'",
                      paths[j], (long long)cxr_metrics_count(scratch), (long long)info.n, split);
        if (members) {
            cxr_metrics_report r;
            memset(&r, 0, sizeof r);
            CXR_TRY(cxr_metrics_compute(scratch, 0.5, &r));
            members[j].result = er;
            members[j].epoch = meta.epoch;
            members[j].averaged = meta.average_count;
            members[j].auc = K == 2 ? r.auc : r.macro_auc;
            cxr_metrics_report_free(&r);
        }
        cxr_model_destroy(m);
        m = NULL;
        cxr_checkpoint_meta_free(&meta);
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < (size_t)info.n * K; i++) out->probs[i] = (float)(acc.sum[i] / n_models);
    cxr_metrics_weighted_ce(out->probs, info.labels, class_weights, info.n, K, &num, &den);
    out->n = info.n;
    out->k = K;
    out->labels = info.labels;
    out->loss = den > 0 ? num / den : NAN;
bail:
    out->seconds = cxr_now_s() - t0;
    if (st != CXR_OK) cxr_ensemble_eval_free(out);
    cxr_model_destroy(m);
    cxr_checkpoint_meta_free(&meta);
    cxr_metrics_destroy(scratch);
    free(acc.sum);
    return st;
}
