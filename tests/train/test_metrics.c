/* test_metrics.c: metrics against values computed by hand (K = 2, K = 3, AUC with ties). */
#include <math.h>
#include <string.h>

#include "cxr_json.h"
#include "cxr_metrics.h"
#include "cxr_test.h"

#include <cjson/cJSON.h>
#include <stdlib.h>

/* K = 2, positive class 1. (label, p1), p0 = 1 - p1:
 *   0:(1,.9) 1:(1,.8) 2:(0,.7) 3:(1,.6) 4:(0,.6) 5:(0,.3) 6:(1,.2) 7:(0,.1)
 * threshold 0.5 -> predicted 1 for samples 0..4.
 * confusion rows (true) 0: [2 2] (5,7 | 2,4), 1: [1 3] (6 | 0,1,3); accuracy 5/8.
 * class 1: precision 3/5, recall 3/4, F1 = 2*.6*.75/1.35 = 2/3; specificity 2/4.
 * class 0: precision 2/3, recall 1/2, F1 = 4/7; macro F1 = (4/7 + 2/3)/2 = 13/21.
 * AUC (P=4, N=4, 16 pairs): positives .9 -> 4, .8 -> 4, .6 -> 2 + 1/2 (tie with the
 * negative .6), .2 -> 1: 11.5/16 = 0.71875.
 * ROC (descending score groups): (0,0) (0,.25) (0,.5) (.25,.5) (.5,.75) (.75,.75) (.75,1) (1,1).
 * Balanced accuracy per cut: .9:.625 .8:.75 .7:.625 .6:.625 .3:.5 .2:.625 .1:.5 -> best .75
 * with the cut between .8 and .7: threshold .75. */
static void test_binary(void)
{
    const float p1[8] = { .9f, .8f, .7f, .6f, .6f, .3f, .2f, .1f };
    const int32_t y[8] = { 1, 1, 0, 1, 0, 0, 1, 0 };
    float probs[16];
    for (int i = 0; i < 8; i++) {
        probs[2 * i] = 1.0f - p1[i];
        probs[2 * i + 1] = p1[i];
    }
    cxr_metrics *m;
    CHECK_OK(cxr_metrics_create(&m, 2));
    /* two batches, to exercise accumulation */
    CHECK_OK(cxr_metrics_add(m, probs, y, 3));
    CHECK_OK(cxr_metrics_add(m, probs + 6, y + 3, 5));
    CHECK(cxr_metrics_count(m) == 8);
    cxr_metrics_report r;
    CHECK_OK(cxr_metrics_compute(m, 0.5, &r));
    CHECK(r.confusion[0] == 2 && r.confusion[1] == 2 && r.confusion[2] == 1 && r.confusion[3] == 3);
    CHECK_CLOSE(r.accuracy, 5.0 / 8, 1e-12, 0);
    CHECK_CLOSE(r.pos_precision, 0.6, 1e-12, 0);
    CHECK_CLOSE(r.pos_recall, 0.75, 1e-12, 0);
    CHECK_CLOSE(r.pos_f1, 2.0 / 3, 1e-12, 0);
    CHECK_CLOSE(r.specificity, 0.5, 1e-12, 0);
    CHECK_CLOSE(r.precision[0], 2.0 / 3, 1e-12, 0);
    CHECK_CLOSE(r.f1[0], 4.0 / 7, 1e-12, 0);
    CHECK_CLOSE(r.macro_f1, 13.0 / 21, 1e-12, 0);
    CHECK_CLOSE(r.auc, 0.71875, 1e-12, 0);
    const double fpr[8] = { 0, 0, 0, .25, .5, .75, .75, 1 },
                 tpr[8] = { 0, .25, .5, .5, .75, .75, 1, 1 };
    CHECK(r.n_roc == 8);
    for (int i = 0; i < 8 && i < r.n_roc; i++) {
        CHECK_CLOSE(r.roc_fpr[i], fpr[i], 1e-12, 0);
        CHECK_CLOSE(r.roc_tpr[i], tpr[i], 1e-12, 0);
    }
    cxr_metrics_report_free(&r);

    double t, bal;
    CHECK_OK(cxr_metrics_best_threshold(m, &t, &bal));
    CHECK_CLOSE(bal, 0.75, 1e-12, 0);
    CHECK_CLOSE(t, 0.75, 1e-6, 0);
    /* applying it reproduces the best cut: predicted 1 for samples 0,1 only */
    CHECK_OK(cxr_metrics_compute(m, t, &r));
    CHECK(r.confusion[0] == 4 && r.confusion[1] == 0 && r.confusion[2] == 2 && r.confusion[3] == 2);
    CHECK_CLOSE(r.balanced_accuracy, 0.75, 1e-12, 0);
    cxr_metrics_report_free(&r);

    /* a label out of range is refused and adds nothing */
    const int32_t bad[1] = { 2 };
    CHECK(cxr_metrics_add(m, probs, bad, 1) == CXR_E_MISMATCH);
    CHECK(strstr(cxr_last_error(), "out of range") != NULL);
    CHECK(cxr_metrics_count(m) == 8);
    cxr_metrics_destroy(m);
}

/* K = 3. (label, probs) -> argmax:
 *   0:(0,[.7 .2 .1])->0  1:(0,[.3 .4 .3])->1  2:(1,[.1 .8 .1])->1
 *   3:(1,[.2 .3 .5])->2  4:(2,[.1 .1 .8])->2  5:(2,[.2 .5 .3])->1
 * confusion rows: [1 1 0] [0 1 1] [0 1 1]; accuracy 3/6.
 * precision: 1/1, 1/3, 1/2; recall 1/2 each; F1: 2/3, 2/5, 1/2; macro F1 = 47/90.
 * specificity (TN/(TN+FP)): c0 4/4, c1 2/4, c2 3/4 -> mean .75.
 * one-vs-rest AUC: c0: both positives (.7,.3) above all negatives (.1 .2 .1 .2) -> 1;
 *   c1: positives .8 (4 of 4), .3 (above .2,.1: 2) -> 6/8 = .75;
 *   c2: positives .8 (4), .3 (above .1,.1: 2, tie with .3: 1/2) -> 6.5/8 = .8125;
 *   macro = 2.5625/3. */
static void test_three(void)
{
    const float probs[18] = { .7f, .2f, .1f, .3f, .4f, .3f, .1f, .8f, .1f,
                              .2f, .3f, .5f, .1f, .1f, .8f, .2f, .5f, .3f };
    const int32_t y[6] = { 0, 0, 1, 1, 2, 2 };
    const int64_t conf[9] = { 1, 1, 0, 0, 1, 1, 0, 1, 1 };
    cxr_metrics *m;
    CHECK_OK(cxr_metrics_create(&m, 3));
    CHECK_OK(cxr_metrics_add(m, probs, y, 6));
    cxr_metrics_report r;
    CHECK_OK(cxr_metrics_compute(m, 0.5, &r));
    for (int i = 0; i < 9; i++) CHECK(r.confusion[i] == conf[i]);
    CHECK_CLOSE(r.accuracy, 0.5, 1e-12, 0);
    CHECK_CLOSE(r.precision[0], 1.0, 1e-12, 0);
    CHECK_CLOSE(r.precision[1], 1.0 / 3, 1e-12, 0);
    CHECK_CLOSE(r.precision[2], 0.5, 1e-12, 0);
    for (int c = 0; c < 3; c++) CHECK_CLOSE(r.recall[c], 0.5, 1e-12, 0);
    CHECK_CLOSE(r.f1[0], 2.0 / 3, 1e-12, 0);
    CHECK_CLOSE(r.f1[1], 0.4, 1e-12, 0);
    CHECK_CLOSE(r.f1[2], 0.5, 1e-12, 0);
    CHECK_CLOSE(r.macro_f1, 47.0 / 90, 1e-12, 0);
    /* with more than two classes the "positive" figures the log and cxr-eval print are the
     * macro averages: precision is the mean of the classes' precisions, not of their recalls
     * (a mutant reporting macro recall as precision passed every test) */
    CHECK_CLOSE(r.macro_precision, (1.0 + 1.0 / 3 + 0.5) / 3, 1e-12, 0);
    CHECK_CLOSE(r.pos_precision, (1.0 + 1.0 / 3 + 0.5) / 3, 1e-12, 0);
    CHECK_CLOSE(r.macro_recall, 0.5, 1e-12, 0);
    CHECK_CLOSE(r.pos_recall, 0.5, 1e-12, 0);
    CHECK_CLOSE(r.pos_f1, 47.0 / 90, 1e-12, 0);
    CHECK_CLOSE(r.balanced_accuracy, 0.5, 1e-12, 0);
    CHECK_CLOSE(r.specificity, 0.75, 1e-12, 0);
    CHECK_CLOSE(r.auc_ovr[0], 1.0, 1e-12, 0);
    CHECK_CLOSE(r.auc_ovr[1], 0.75, 1e-12, 0);
    CHECK_CLOSE(r.auc_ovr[2], 0.8125, 1e-12, 0);
    CHECK_CLOSE(r.macro_auc, 2.5625 / 3, 1e-12, 0);
    CHECK_CLOSE(r.auc, 2.5625 / 3, 1e-12, 0);
    CHECK(r.n_roc == 0);
    cxr_metrics_report_free(&r);
    double t;
    CHECK(cxr_metrics_best_threshold(m, &t, NULL) == CXR_E_ARG);
    cxr_metrics_destroy(m);
}

/* The threshold rule's ties (specs/model.md "Threshold"): the best balanced accuracy, ties to
 * the candidate closest to 0.5, and 0.5 itself when it gives a best cut. */
static double best_t(const float *p1, const int32_t *y, int n, double *bal)
{
    cxr_metrics *m;
    float probs[32];
    for (int i = 0; i < n; i++) probs[2 * i] = 1.0f - p1[i], probs[2 * i + 1] = p1[i];
    double t = -1;
    CHECK_OK(cxr_metrics_create(&m, 2));
    CHECK_OK(cxr_metrics_add(m, probs, y, n));
    CHECK_OK(cxr_metrics_best_threshold(m, &t, bal));
    cxr_metrics_destroy(m);
    return t;
}

static void test_threshold_ties(void)
{
    double bal;
    /* separable: every cut in (.2, .98] is perfect, 0.5 among them (the old rule said .59) */
    const float a[4] = { .99f, .98f, .2f, .1f };
    const int32_t ya[4] = { 1, 1, 0, 0 };
    CHECK(best_t(a, ya, 4, &bal) == 0.5);
    CHECK_CLOSE(bal, 1.0, 1e-12, 0);
    /* .9(1) .8(0) .7(1) .6(0): cuts after .9 and after .7 both give .75; .65 is closer to 0.5
     * than .85 (the old rule kept the first, .85) */
    const float b[4] = { .9f, .8f, .7f, .6f };
    const int32_t yb[4] = { 1, 0, 1, 0 };
    CHECK_CLOSE(best_t(b, yb, 4, &bal), 0.5 * ((double).7f + (double).6f), 1e-12, 0);
    CHECK_CLOSE(bal, 0.75, 1e-12, 0);
    /* saturated: the one best cut lies above 0.5: its midpoint */
    const float c[4] = { .999f, .998f, .9f, .6f };
    CHECK_CLOSE(best_t(c, ya, 4, &bal), 0.5 * ((double).998f + (double).9f), 1e-12, 0);
    /* every score below 0.5: the best cut's midpoint, .15 */
    const float d[3] = { .3f, .2f, .1f };
    const int32_t yd[3] = { 1, 1, 0 };
    CHECK_CLOSE(best_t(d, yd, 3, &bal), 0.5 * ((double).2f + (double).1f), 1e-12, 0);
    CHECK_CLOSE(bal, 1.0, 1e-12, 0);
}

/* AUC with ties, computed by hand. */
static void test_auc_ties(void)
{
    /* all tied: every pair counts 1/2 */
    const float s1[4] = { .5f, .5f, .5f, .5f };
    const uint8_t p1[4] = { 1, 0, 1, 0 };
    CHECK_CLOSE(cxr_roc_auc(s1, p1, 4), 0.5, 1e-12, 0);
    /* positives .9 and .5, negatives .5 .5 .1: .9 beats 3; .5 beats .1 and ties two (2 x 1/2)
     * -> (3 + 2)/6 */
    const float s2[5] = { .5f, .9f, .1f, .5f, .5f };
    const uint8_t p2[5] = { 1, 1, 0, 0, 0 };
    CHECK_CLOSE(cxr_roc_auc(s2, p2, 5), 5.0 / 6, 1e-12, 0);
    /* perfectly wrong order -> 0; one class only -> NAN */
    const float s3[3] = { .1f, .2f, .3f };
    const uint8_t p3[3] = { 1, 0, 0 };
    CHECK_CLOSE(cxr_roc_auc(s3, p3, 3), 0.0, 1e-12, 0);
    const uint8_t p4[3] = { 1, 1, 1 };
    CHECK(isnan(cxr_roc_auc(s3, p4, 3)));
}

/* A confident model's float probabilities: p0 is 1.0f for every image while p1 still ranks
 * them (1e-23 .. 1e-20); class 0's one-vs-rest AUC is class 1's (it was 0.5, every p0 tied).
 * A split without class 1: balanced accuracy is class 0's recall, not its mean with a 0. */
static void test_saturated_and_absent(void)
{
    const float p1[4] = { 4e-20f, 3e-21f, 2e-22f, 1e-23f };
    const int32_t y[4] = { 1, 0, 1, 0 }; /* pairs: 4e-20 beats both, 2e-22 beats 1e-23: 3/4 */
    float probs[8];
    for (int i = 0; i < 4; i++) probs[2 * i] = 1.0f - p1[i], probs[2 * i + 1] = p1[i];
    CHECK(probs[0] == 1.0f && probs[6] == 1.0f);
    cxr_metrics *m;
    CHECK_OK(cxr_metrics_create(&m, 2));
    CHECK_OK(cxr_metrics_add(m, probs, y, 4));
    cxr_metrics_report r;
    CHECK_OK(cxr_metrics_compute(m, 1e-21, &r));
    CHECK_CLOSE(r.auc, 0.75, 1e-12, 0);
    CHECK_CLOSE(r.auc_ovr[1], 0.75, 1e-12, 0);
    CHECK_CLOSE(r.auc_ovr[0], 0.75, 1e-12, 0);
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(m);

    const float q1[4] = { .2f, .7f, .1f, .3f }; /* all NORMAL; one called PNEUMONIA at 0.5 */
    const int32_t z[4] = { 0, 0, 0, 0 };
    for (int i = 0; i < 4; i++) probs[2 * i] = 1.0f - q1[i], probs[2 * i + 1] = q1[i];
    CHECK_OK(cxr_metrics_create(&m, 2));
    CHECK_OK(cxr_metrics_add(m, probs, z, 4));
    CHECK_OK(cxr_metrics_compute(m, 0.5, &r));
    CHECK_CLOSE(r.specificity, 0.75, 1e-12, 0);
    CHECK_CLOSE(r.balanced_accuracy, 0.75, 1e-12, 0);
    /* class 1 is not held: its recall is undefined, not 0, and left out of the macro mean
     * (it was the plain mean with a 0, 0.375); called once without a hit, its precision and F1
     * are 0 */
    CHECK(isnan(r.recall[1]) && isnan(r.pos_recall));
    CHECK_CLOSE(r.macro_recall, 0.75, 1e-12, 0);
    CHECK(r.precision[1] == 0.0 && r.f1[1] == 0.0);
    CHECK_CLOSE(r.macro_f1, (2.0 * 3 / (4 + 3) + 0.0) / 2, 1e-12, 0);
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(m);

    /* every image PNEUMONIA, one called NORMAL: no specificity (it read 0, every NORMAL
     * image "missed"); NORMAL's precision 0 (called once, wrongly), its recall undefined, its
     * F1 0; at threshold 0 nothing is called NORMAL: its precision and F1 undefined too, the
     * macro F1 PNEUMONIA's alone */
    const int32_t o[4] = { 1, 1, 1, 1 };
    CHECK_OK(cxr_metrics_create(&m, 2));
    CHECK_OK(cxr_metrics_add(m, probs, o, 4));
    CHECK_OK(cxr_metrics_compute(m, 0.15, &r)); /* .1 is called NORMAL */
    CHECK(isnan(r.specificity) && isnan(r.recall[0]));
    CHECK(r.precision[0] == 0.0 && r.f1[0] == 0.0);
    CHECK_CLOSE(r.pos_recall, 0.75, 1e-12, 0);
    CHECK_CLOSE(r.balanced_accuracy, 0.75, 1e-12, 0);
    CHECK_CLOSE(r.macro_f1, (2.0 * 3 / (3 + 4) + 0.0) / 2, 1e-12, 0);
    cxr_metrics_report_free(&r);
    CHECK_OK(cxr_metrics_compute(m, 0.0, &r));
    CHECK(isnan(r.precision[0]) && isnan(r.f1[0]) && isnan(r.specificity));
    CHECK(r.pos_precision == 1.0 && r.pos_recall == 1.0);
    CHECK(r.macro_f1 == 1.0 && r.macro_precision == 1.0 && r.accuracy == 1.0);
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(m);

    /* K = 3, every image class 0, called 0, 1 and 2: class 0 has no specificity (no image of
     * another class), classes 1 and 2 each 2/3 (one of three called wrongly): the mean over the
     * two defined, 2/3 (over all three classes, 4/9, passed every test: a mutation round) */
    const float p3[9] = { .8f, .1f, .1f, .1f, .8f, .1f, .1f, .1f, .8f };
    const int32_t z3[3] = { 0, 0, 0 };
    CHECK_OK(cxr_metrics_create(&m, 3));
    CHECK_OK(cxr_metrics_add(m, p3, z3, 3));
    CHECK_OK(cxr_metrics_compute(m, 0.5, &r));
    CHECK_CLOSE(r.specificity, 2.0 / 3, 1e-12, 0);
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(m);
}

/* Room for a split reserved at once; one the machine cannot hold is refused, saying how much
 * it needs, before anything is allocated (a split of a million images of 4096 classes keeps
 * 16 GB of probabilities). */
static void test_reserve(void)
{
    cxr_metrics *m = NULL;
    CHECK_OK(cxr_metrics_create(&m, 4096));
    CHECK(cxr_metrics_reserve(m, (int64_t)1 << 40) == CXR_E_NOMEM);
    CHECK(strstr(cxr_last_error(), "4096 class probabilities") &&
          strstr(cxr_last_error(), "MiB for 1099511627776 images"));
    CHECK_OK(cxr_metrics_reserve(m, 3));
    float p[3 * 4096] = { 0 };
    const int32_t y[3] = { 0, 1, 4095 };
    for (int i = 0; i < 3; i++) p[i * 4096 + y[i]] = 1.0f;
    CHECK_OK(cxr_metrics_add(m, p, y, 3));
    CHECK_OK(cxr_metrics_add(m, p, y, 3)); /* past the reservation: grows */
    CHECK(cxr_metrics_count(m) == 6);
    cxr_metrics_destroy(m);
}

/* Edges no test held (a mutation hunt): ">= threshold" at a score equal to it, 0.5 at the low
 * end of the best interval, equal distances from 0.5, the cut above every score, a class never
 * predicted, -log's clamp and the weights in the loss's denominator, NaN scores, argmax ties,
 * a split of one class. */
static void test_edges(void)
{
    double bal;
    /* .9(1) .5(0) .2(0): the best cut is between .9 and .5; 0.5 would call the .5 positive */
    const float a[3] = { .9f, .5f, .2f };
    const int32_t ya[3] = { 1, 0, 0 };
    CHECK_CLOSE(best_t(a, ya, 3, &bal), 0.5 * ((double).9f + (double).5f), 1e-12, 0);
    CHECK_CLOSE(bal, 1.0, 1e-12, 0);
    /* .75(1) .625(0) .375(1) .25(0): the cuts after .75 and after .375 tie at .75, their
     * candidates .6875 and .3125 equally far from 0.5: the higher */
    const float b[4] = { .75f, .625f, .375f, .25f };
    const int32_t yb[4] = { 1, 0, 1, 0 };
    CHECK(best_t(b, yb, 4, &bal) == 0.6875);
    /* .5625(0) .125(1): the best cut is above every score: just above the highest, so that
     * ">=" calls nothing positive (the score itself would call the .5625 positive) */
    const float c[2] = { .5625f, .125f };
    const int32_t yc[2] = { 0, 1 };
    CHECK(best_t(c, yc, 2, &bal) == nextafter((double).5625f, INFINITY));
    CHECK_CLOSE(bal, 0.5, 1e-12, 0);

    /* a score equal to the threshold is positive; at threshold 1 nothing is, and the F1 of a
     * class never predicted is 0, not 0/0 */
    const float p[4] = { .75f, .25f, .25f, .75f }; /* p1 = .25 (label 1), .75 (label 0) */
    const int32_t y[2] = { 1, 0 };
    cxr_metrics *m;
    cxr_metrics_report r;
    CHECK_OK(cxr_metrics_create(&m, 2));
    CHECK_OK(cxr_metrics_add(m, p, y, 2));
    CHECK_OK(cxr_metrics_compute(m, 0.25, &r));
    CHECK(r.confusion[3] == 1 && r.confusion[1] == 1); /* both called positive */
    cxr_metrics_report_free(&r);
    CHECK_OK(cxr_metrics_compute(m, 1.0, &r));
    CHECK(r.confusion[1] == 0 && r.confusion[3] == 0);
    CHECK(r.pos_f1 == 0.0 && isfinite(r.macro_f1));
    CHECK(isnan(r.pos_precision)); /* never called positive: no precision (it read 0) */
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(m);
    CHECK(cxr_predicted_class(p + 2, 2, 0.25) == 1 && cxr_predicted_class(p, 2, 0.25) == 1);
    /* argmax ties go to the first class */
    const float t3[3] = { .2f, .4f, .4f };
    CHECK(cxr_predicted_class(t3, 3, 0.5) == 1);

    /* -log(max(p, 1e-30)) weighted by w[label]; the denominator sums the weights */
    const float q[4] = { 0.0f, 1.0f, .75f, .25f };
    const int32_t yq[2] = { 0, 1 };
    const float cw[2] = { 2.0f, 0.5f };
    double num = 0, den = 0;
    cxr_metrics_weighted_ce(q, yq, cw, 2, 2, &num, &den);
    CHECK_CLOSE(num, 2.0 * -log(1e-30) + 0.5 * -log(0.25), 1e-9, 0);
    CHECK(den == 2.5);

    /* a NaN score ranks below every other: the positive NaN loses its pair with .3 */
    const float sn[3] = { NAN, .8f, .3f };
    const uint8_t pn[3] = { 1, 1, 0 };
    CHECK_CLOSE(cxr_roc_auc(sn, pn, 3), 0.5, 1e-12, 0);

    /* one class only: no threshold to choose */
    const int32_t y0[2] = { 0, 0 };
    CHECK_OK(cxr_metrics_create(&m, 2));
    CHECK_OK(cxr_metrics_add(m, p, y0, 2));
    double t = -1;
    CHECK(cxr_metrics_best_threshold(m, &t, &bal) == CXR_E_ARG);
    CHECK(strstr(cxr_last_error(), "need both classes") != NULL);
    cxr_metrics_destroy(m);
}

/* A further mutation round's survivors. The ROC points of a split with P != N (the binary test
 * has P = N = 4, so dividing fp by P passed); a class absent from a split of three: its AUC is
 * NaN and the macro AUC is the mean over the other two (summing the NaN, or dividing by k,
 * passed); 0.5 equal to the lowest score of the best cut's positive side is that cut's
 * candidate; the last cut's candidate is the lowest score itself; +-inf is not finite. */
static void test_unbalanced_absent_edges(void)
{
    /* p1 .9(1) .7(0) .7(1) .3(0) .3(0): P = 2, N = 3. Groups: .9 -> (0, 1/2); .7 (one of each)
     * -> (1/3, 1); .3 -> (1, 1). AUC: .9 beats 3, .7 ties 1 (1/2) and beats 2: 5.5/6. */
    const float p1[5] = { .9f, .7f, .7f, .3f, .3f };
    const int32_t y[5] = { 1, 0, 1, 0, 0 };
    float probs[10];
    for (int i = 0; i < 5; i++) probs[2 * i] = 1.0f - p1[i], probs[2 * i + 1] = p1[i];
    cxr_metrics *m;
    cxr_metrics_report r;
    CHECK_OK(cxr_metrics_create(&m, 2));
    CHECK_OK(cxr_metrics_add(m, probs, y, 5));
    CHECK_OK(cxr_metrics_compute(m, 0.5, &r));
    const double fpr[4] = { 0, 0, 1.0 / 3, 1 }, tpr[4] = { 0, .5, 1, 1 };
    CHECK(r.n_roc == 4);
    for (int i = 0; i < 4 && i < r.n_roc; i++) {
        CHECK_CLOSE(r.roc_fpr[i], fpr[i], 1e-12, 0);
        CHECK_CLOSE(r.roc_tpr[i], tpr[i], 1e-12, 0);
    }
    CHECK_CLOSE(r.auc, 5.5 / 6, 1e-12, 0);
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(m);

    /* K = 3, no image of class 2. (label, probs):
     *   (0,[.6 .3 .1]) (0,[.4 .4 .2]) (1,[.2 .7 .1]) (1,[.5 .3 .2])
     * c0: positives .6 (beats .2 and .5), .4 (beats .2): 3/4; c1: positives .7 (beats .3 and
     * .4), .3 (ties .3): 2.5/4; c2: no positive, NaN. Macro: (.75 + .625) / 2. */
    const float q[12] = { .6f, .3f, .1f, .4f, .4f, .2f, .2f, .7f, .1f, .5f, .3f, .2f };
    const int32_t z[4] = { 0, 0, 1, 1 };
    CHECK_OK(cxr_metrics_create(&m, 3));
    CHECK_OK(cxr_metrics_add(m, q, z, 4));
    CHECK_OK(cxr_metrics_compute(m, 0.5, &r));
    CHECK_CLOSE(r.auc_ovr[0], 0.75, 1e-12, 0);
    CHECK_CLOSE(r.auc_ovr[1], 0.625, 1e-12, 0);
    CHECK(isnan(r.auc_ovr[2]));
    CHECK_CLOSE(r.macro_auc, 0.6875, 1e-12, 0);
    CHECK_CLOSE(r.auc, 0.6875, 1e-12, 0);
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(m);

    double bal;
    /* .5(1) .25(0): the perfect cut holds every threshold in (.25, .5], 0.5 at its top */
    const float a[2] = { .5f, .25f };
    const int32_t ya[2] = { 1, 0 };
    CHECK(best_t(a, ya, 2, &bal) == 0.5);
    CHECK_CLOSE(bal, 1.0, 1e-12, 0);
    /* .6(0) .45(1): above every score and every image positive both give .5 (the cut between
     * gives 0); .45 is nearer 0.5 than just above .6: the lowest score itself */
    const float b[2] = { .6f, .45f };
    const int32_t yb[2] = { 0, 1 };
    CHECK(best_t(b, yb, 2, &bal) == (double).45f);
    CHECK_CLOSE(bal, 0.5, 1e-12, 0);

    const float fin[2] = { .5f, .5f }, pinf[2] = { .5f, INFINITY }, ninf[2] = { -INFINITY, .5f },
                nan2[2] = { NAN, .5f };
    CHECK(cxr_probs_finite(fin, 2) == 1);
    CHECK(cxr_probs_finite(pinf, 2) == 0);
    CHECK(cxr_probs_finite(ninf, 2) == 0);
    CHECK(cxr_probs_finite(nan2, 2) == 0);
}

/* the metrics' JSON numbers (cxr-eval --json, the training log): exact, and a value that is
 * not finite (a loss of +inf, a metric of NaN) is null, never the bare word JSON lacks */
static void test_json_numbers(void)
{
    cJSON *o = cJSON_CreateObject();
    REQUIRE(o);
    cxr_json_add_number(o, "pinf", INFINITY);
    cxr_json_add_number(o, "ninf", -INFINITY);
    cxr_json_add_number(o, "nan", NAN);
    cxr_json_add_number(o, "t", 0.7581601142883301);
    char *text = cJSON_PrintUnformatted(o);
    REQUIRE(text);
    CHECK(strcmp(text, "{\"pinf\":null,\"ninf\":null,\"nan\":null,\"t\":0.7581601142883301}") == 0);
    cJSON *back = cJSON_Parse(text);
    CHECK(back && cJSON_GetObjectItem(back, "t")->valuedouble == 0.7581601142883301);
    if (cxr_test_failures) fprintf(stderr, "json: %s\n", text);
    cJSON_Delete(back);
    free(text);
    cJSON_Delete(o);
}

/* Many classes: every one-vs-rest AUC equals a count over all (positive, negative) pairs,
 * ties 1/2, NaN as -inf (to the bit: both are half-integer counts over P x N), with absent
 * classes NaN. Scores on a coarse grid so ties are common. */
static void test_many_classes_pairs(void)
{
    enum { K = 9, N = 700 };
    static float probs[N * K];
    static int32_t y[N];
    uint32_t r = 12345;
    for (int i = 0; i < N; i++) {
        r = r * 1664525u + 1013904223u;
        y[i] = (int32_t)((r >> 8) % (K - 1)); /* class K-1 absent */
        for (int c = 0; c < K; c++) {
            r = r * 1664525u + 1013904223u;
            probs[i * K + c] = (float)((r >> 8) % 17) / 16.0f;
        }
        if (i % 97 == 5) probs[i * K + (i % K)] = NAN;
    }
    cxr_metrics *m;
    CHECK_OK(cxr_metrics_create(&m, K));
    CHECK_OK(cxr_metrics_add(m, probs, y, N));
    cxr_metrics_report rep;
    CHECK_OK(cxr_metrics_compute(m, 0.5, &rep));
    for (int c = 0; c < K; c++) {
        double pairs = 0, P = 0, Nn = 0;
        for (int i = 0; i < N; i++) {
            if (y[i] != c) continue;
            P++;
            float a = probs[i * K + c];
            if (isnan(a)) a = -INFINITY;
            for (int j = 0; j < N; j++) {
                if (y[j] == c) continue;
                float b = probs[j * K + c];
                if (isnan(b)) b = -INFINITY;
                pairs += a > b ? 1.0 : a == b ? 0.5 : 0.0;
            }
        }
        Nn = N - P;
        if (P == 0) {
            CHECK(isnan(rep.auc_ovr[c]));
        } else {
            CHECK(rep.auc_ovr[c] == pairs / (P * Nn));
        }
    }
    cxr_metrics_report_free(&rep);
    cxr_metrics_destroy(m);
}

/* Scale: 1,024 classes x 16,384 images (a landmark store's val is 4,096 x 80k), random scores
 * (macro AUC near 0.5), and 3 classes x 300,000 images all tied (every AUC exactly 0.5). Not
 * timed here (speed belongs in a benchmark: tests/bench/results/scale_walk_2026-12-07.txt has
 * the figures): run so that a slow path shows as a slow test, and a wrong one fails. */
static void test_many_classes_large(void)
{
    enum { K = 1024, N = 16384 };
    float *probs = malloc((size_t)N * K * sizeof *probs);
    int32_t *y = malloc((size_t)N * sizeof *y);
    REQUIRE(probs && y);
    uint32_t r = 7;
    for (size_t i = 0; i < (size_t)N * K; i++) {
        r = r * 1664525u + 1013904223u;
        probs[i] = (float)(r >> 8) * (1.0f / 16777216.0f);
    }
    for (int i = 0; i < N; i++) y[i] = i % K;
    cxr_metrics *m;
    CHECK_OK(cxr_metrics_create(&m, K));
    CHECK_OK(cxr_metrics_add(m, probs, y, N));
    cxr_metrics_report rep;
    CHECK_OK(cxr_metrics_compute(m, 0.5, &rep));
    CHECK(fabs(rep.macro_auc - 0.5) < 0.01);
    cxr_metrics_report_free(&rep);
    cxr_metrics_destroy(m);
    /* saturated: 3 classes, 300,000 images, every score 0 (one tie of 100,000 positives) */
    for (size_t i = 0; i < (size_t)300000 * 3; i++) probs[i] = 0;
    free(y);
    REQUIRE((y = malloc((size_t)300000 * sizeof *y)));
    for (int i = 0; i < 300000; i++) y[i] = i % 3;
    CHECK_OK(cxr_metrics_create(&m, 3));
    CHECK_OK(cxr_metrics_add(m, probs, y, 300000));
    CHECK_OK(cxr_metrics_compute(m, 0.5, &rep));
    CHECK(rep.auc_ovr[0] == 0.5 && rep.auc_ovr[1] == 0.5 && rep.auc_ovr[2] == 0.5);
    cxr_metrics_report_free(&rep);
    cxr_metrics_destroy(m);
    free(probs);
    free(y);
}

int main(void)
{
    test_json_numbers();
    test_reserve();
    test_binary();
    test_saturated_and_absent();
    test_three();
    test_auc_ties();
    test_threshold_ties();
    test_edges();
    test_unbalanced_absent_edges();
    test_many_classes_pairs();
    test_many_classes_large();
    TEST_END();
}
