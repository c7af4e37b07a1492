/* cxr_metrics.h: classification metrics of a split, accumulated batch by batch from the
 * model's probabilities and the true labels.
 *
 * K classes (K >= 2). Binary is K = 2 with the positive class 1 (PNEUMONIA in the study).
 * Predicted class: for K = 2, class 1 iff p[1] >= threshold (0.5 = the usual argmax, with a
 * tie at exactly 0.5 going to the positive class); for K > 2, the argmax (lowest index on ties).
 *
 * Reported: accuracy, the KxK confusion matrix (row = true class, column = predicted),
 * per-class precision/recall/F1 and their macro averages; binary: precision, recall
 * (sensitivity), specificity and F1 of the positive class, the exact ROC AUC of p[1] (ties in
 * score handled by the trapezoid rule over the sorted scores, i.e. a tie between a positive and
 * a negative counts 1/2) and the ROC points; K > 2: the macro mean of one-vs-rest AUCs.
 * A ratio with a zero denominator is undefined, NAN: the recall of a class the split does not
 * hold, the precision of a class never predicted, a binary specificity without negatives (0
 * before 0.22, which read as every such image missed); F1 (2TP / (2TP + FP + FN)) is NAN only
 * for a class neither held nor predicted, 0 for one held or predicted without a hit. AUC of a
 * class with no positives or no negatives is NAN. Each macro mean is over the classes whose
 * value is defined (NAN when none is): the macro recall is the balanced accuracy.
 */
#ifndef CXR_METRICS_H
#define CXR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cxr_metrics cxr_metrics;

/* An empty accumulator for k classes (2 <= k <= 4096). CXR_E_ARG / CXR_E_NOMEM. */
cxr_status cxr_metrics_create(cxr_metrics **out, int k);
void cxr_metrics_destroy(cxr_metrics *m); /* NULL-safe */
/* Forget all samples (keeps k). */
void cxr_metrics_reset(cxr_metrics *m);
/* Add n samples: probs (n,k) row-major (copied), labels (n) in [0,k).
 * CXR_E_MISMATCH naming the first label out of range (nothing is added then); CXR_E_NOMEM. */
cxr_status cxr_metrics_add(cxr_metrics *m, const float *probs, const int32_t *labels, int n);
/* Room for n samples in all, allocated at once (cxr_metrics_add grows by doubling otherwise):
 * CXR_E_NOMEM saying how much when the machine has less memory free than n x (k + 1) x 4
 * bytes. Every sample's k probabilities are kept, since the AUC ranks them all. */
cxr_status cxr_metrics_reserve(cxr_metrics *m, int64_t n);
int64_t cxr_metrics_count(const cxr_metrics *m);
int cxr_metrics_classes(const cxr_metrics *m);

typedef struct {
    int k;
    int64_t n;
    double threshold; /* the binary threshold used (0.5 unless given) */
    double accuracy;
    int64_t *confusion; /* [k*k], row = true, col = predicted */
    double *precision;  /* [k] per class */
    double *recall;     /* [k] */
    double *f1;         /* [k] */
    double *auc_ovr; /* [k] one-vs-rest AUC of p[c] (NAN if undefined); two classes: both p[1]'s */
    double macro_precision, macro_recall, macro_f1, macro_auc;
    double balanced_accuracy; /* mean recall over the classes present in the split's labels
                               * (macro_recall) */
    /* binary (k == 2), positive class 1; for k > 2 these hold the macro averages
     * (specificity = mean one-vs-rest specificity) */
    double pos_precision, pos_recall, specificity, pos_f1, auc;
    /* binary only: ROC curve of p[1], n_roc points from (0,0) to (1,1), fpr ascending */
    int64_t n_roc;
    double *roc_fpr, *roc_tpr;
} cxr_metrics_report;

/* The predicted class of one image's k probabilities p, by the rule above (threshold: k = 2
 * only). The metrics, cxr-eval's predictions file and cxr-predict all decide with it. */
int cxr_predicted_class(const float *p, int k, double threshold);

/* Compute the report; `threshold` is used for k == 2 (pass 0.5 for the default). The report
 * owns its arrays: free them with cxr_metrics_report_free. CXR_E_NOMEM. */
cxr_status cxr_metrics_compute(const cxr_metrics *m, double threshold, cxr_metrics_report *r);
void cxr_metrics_report_free(cxr_metrics_report *r); /* NULL-safe; zeroes it */

/* Binary only: the threshold on p[1] that maximises balanced accuracy ((TPR + TNR) / 2) on the
 * accumulated samples. Each split of the sorted distinct scores has one candidate: 0.5 when
 * 0.5 gives that split, else the midpoint between the two scores it separates (above all: just
 * above the highest; below all but the lowest: the lowest itself), so applying the result with
 * ">= threshold" reproduces the split. Ties in balanced accuracy (compared exactly, in integer
 * counts) go to the candidate closest to 0.5, then to the higher one; cxr-train stores this
 * threshold, chosen on val, in its checkpoints (specs/model.md "Threshold"). *bal_acc receives the
 * balanced accuracy reached (may be NULL). CXR_E_ARG if k != 2 or no samples, or a class is
 * absent. */
cxr_status cxr_metrics_best_threshold(const cxr_metrics *m, double *threshold, double *bal_acc);

/* Class-weighted cross-entropy of n probability rows (n, k) (TTA's and ensembles' averages):
 * adds sum of w[label] * -log(max(p[label], 1e-30)) to *num and sum of w[label] to *den
 * (cw NULL: all weights 1). Labels must be in [0, k). */
void cxr_metrics_weighted_ce(const float *probs, const int32_t *labels, const float *cw, int64_t n,
                             int k, double *num, double *den);

/* 1 when the k probabilities of one image are all finite, 0 when one is not (a network whose
 * weights overflow on that image gives NaN). */
int cxr_probs_finite(const float *row, int k);

/* Exact ROC AUC of scores against binary truths (pos[i] != 0), ties by the trapezoid rule.
 * NAN if there are no positives or no negatives. Exposed for tests. */
double cxr_roc_auc(const float *scores, const uint8_t *pos, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
