/* metrics.c: classification metrics behind cxr_metrics.h (accuracy, confusion, per-class and
 * macro precision/recall/F1, exact ROC AUC with ties, ROC points, balanced-accuracy threshold).
 * The accumulator keeps every (probabilities, label) pair, since AUC needs all scores.
 */
#include "cxr_metrics.h"
#include "cxr_memory.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cxr_metrics {
    int k;
    int64_t n, cap;
    float *probs;    /* (cap, k) */
    int32_t *labels; /* (cap) */
};

cxr_status cxr_metrics_create(cxr_metrics **out, int k)
{
    *out = NULL;
    if (k < 2 || k > 4096) return cxr_set_error(CXR_E_ARG, "metrics: %d classes (need 2..4096)", k);
    cxr_metrics *m = calloc(1, sizeof *m);
    if (!m) return cxr_set_error(CXR_E_NOMEM, "metrics: out of memory");
    m->k = k;
    *out = m;
    return CXR_OK;
}

void cxr_metrics_destroy(cxr_metrics *m)
{
    if (!m) return;
    free(m->probs);
    free(m->labels);
    free(m);
}

void cxr_metrics_reset(cxr_metrics *m) { m->n = 0; }
int64_t cxr_metrics_count(const cxr_metrics *m) { return m->n; }
int cxr_metrics_classes(const cxr_metrics *m) { return m->k; }

/* Room for cap samples in all: every buffer reallocated once to exactly that. */
static cxr_status grow(cxr_metrics *m, int64_t cap)
{
    float *p = realloc(m->probs, (size_t)cap * m->k * sizeof *p);
    if (!p) return cxr_set_error(CXR_E_NOMEM, "metrics: out of memory");
    m->probs = p;
    int32_t *l = realloc(m->labels, (size_t)cap * sizeof *l);
    if (!l) return cxr_set_error(CXR_E_NOMEM, "metrics: out of memory");
    m->labels = l;
    m->cap = cap;
    return CXR_OK;
}

cxr_status cxr_metrics_reserve(cxr_metrics *m, int64_t n)
{
    if (n <= m->cap) return CXR_OK;
    const double need = (double)n * ((double)m->k * sizeof(float) + sizeof(int32_t));
    const int64_t avail = cxr_mem_available(); /* -1: not known, then the allocation tells */
    char why[96] = "which could not be allocated";
    if (avail >= 0 && need > (double)avail)
        snprintf(why, sizeof why, "more than the %.1f MiB this machine has free",
                 cxr_mib((double)avail));
    else if (grow(m, n) == CXR_OK)
        return CXR_OK;
    return cxr_set_error(CXR_E_NOMEM,
                         "the evaluation keeps every image's %d class probabilities (the ROC AUC "
                         "ranks them all): %.1f MiB for %lld images, %s",
                         m->k, cxr_mib(need), (long long)n, why);
}

cxr_status cxr_metrics_add(cxr_metrics *m, const float *probs, const int32_t *labels, int n)
{
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= m->k)
            return cxr_set_error(CXR_E_MISMATCH,
                                 "metrics: label %d of sample %lld out of range [0,%d)", labels[i],
                                 (long long)(m->n + i), m->k);
    if (m->n + n > m->cap) {
        int64_t cap = m->cap ? m->cap : 256;
        while (cap < m->n + n) cap *= 2;
        const cxr_status st = grow(m, cap);
        if (st != CXR_OK) return st;
    }
    memcpy(m->probs + (size_t)m->n * m->k, probs, (size_t)n * m->k * sizeof *probs);
    memcpy(m->labels + m->n, labels, (size_t)n * sizeof *labels);
    m->n += n;
    return CXR_OK;
}

/* ---------------------------------------------------------------- ROC */
typedef struct {
    double s;
    int pos;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    double x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x < y) - (x > y);
}

/* Sorted (descending) copy of scores with truths; NaN scores sort last (as -inf). */
static scored *sorted_scores(const float *scores, size_t stride, const uint8_t *pos,
                             const int32_t *labels, int cls, int64_t n, int64_t *P, int64_t *N)
{
    scored *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) return NULL;
    *P = *N = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = scores[(size_t)i * stride];
        v[i].s = isnan(s) ? -INFINITY : s;
        v[i].pos = pos ? pos[i] != 0 : labels[i] == cls;
        if (v[i].pos)
            (*P)++;
        else
            (*N)++;
    }
    qsort(v, (size_t)n, sizeof *v, by_score_desc);
    return v;
}

/* AUC over a sorted array; optionally the ROC points (n_groups + 1 of them). */
static double auc_sorted(const scored *v, int64_t n, int64_t P, int64_t N, double *fpr, double *tpr,
                         int64_t *n_pts)
{
    double area = 0; /* in units of (positive, negative) pairs */
    int64_t tp = 0, fp = 0, pts = 0;
    if (fpr) {
        fpr[0] = 0;
        tpr[0] = 0;
    }
    pts = 1;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, gp = 0, gn = 0;
        while (j < n && v[j].s == v[i].s) {
            if (v[j].pos)
                gp++;
            else
                gn++;
            j++;
        }
        /* negatives of this group rank below the positives seen before and tie (1/2) with
         * the group's own positives: the trapezoid over the group's ROC segment */
        area += (double)gn * ((double)tp + 0.5 * (double)gp);
        tp += gp;
        fp += gn;
        if (fpr) {
            fpr[pts] = N ? (double)fp / (double)N : 0;
            tpr[pts] = P ? (double)tp / (double)P : 0;
        }
        pts++;
        i = j;
    }
    if (n_pts) *n_pts = pts;
    if (P == 0 || N == 0) return NAN;
    return area / ((double)P * (double)N);
}

/* Number of v[0..n) (ascending) below s, or at most s where or_equal: a binary search without
 * a data-dependent branch. */
static int64_t count_before(const float *v, int64_t n, float s, int or_equal)
{
    const float *b = v;
    while (n > 1) {
        const int64_t half = n / 2;
        b += half & -(int64_t)((b[half - 1] < s) | (or_equal & (b[half - 1] == s)));
        n -= half;
    }
    return (b - v) + (n == 1 && ((b[0] < s) | (or_equal & (b[0] == s))));
}

static int by_float_asc(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* One-vs-rest AUC of every class of probs (n x k, row-major) into auc[k], NaN scores as -inf:
 * each class's positive scores sorted, then one pass over the rows ranks every negative
 * score among its class's positives. O(n k log(n / k)) reading the matrix in row order, where
 * a sort of each class's column reads it k times with a stride of k floats. The same pair
 * counts as auc_sorted (half-integers, exact in a double), so the same AUC to the bit. */
static cxr_status auc_ovr_all(const float *probs, const int32_t *labels, int k, int64_t n,
                              double *auc)
{
    cxr_status st = CXR_E_NOMEM;
    int64_t *start = calloc((size_t)k + 1, sizeof *start), *fill = NULL;
    float *pos = malloc((size_t)(n ? n : 1) * sizeof *pos);
    double *area = calloc((size_t)k, sizeof *area);
    if (!start || !pos || !area) goto nomem;
    for (int64_t i = 0; i < n; i++) start[labels[i] + 1]++;
    for (int c = 0; c < k; c++) start[c + 1] += start[c];
    if (!(fill = malloc((size_t)k * sizeof *fill))) goto nomem;
    memcpy(fill, start, (size_t)k * sizeof *fill);
    for (int64_t i = 0; i < n; i++) {
        const float s = probs[(size_t)i * k + labels[i]];
        pos[fill[labels[i]]++] = isnan(s) ? -INFINITY : s;
    }
    for (int c = 0; c < k; c++)
        qsort(pos + start[c], (size_t)(start[c + 1] - start[c]), sizeof *pos, by_float_asc);
    for (int64_t i = 0; i < n; i++) {
        const float *row = probs + (size_t)i * k;
        for (int c = 0; c < k; c++) {
            const int64_t P = start[c + 1] - start[c];
            if (c == labels[i] || P == 0) continue;
            const float s = isnan(row[c]) ? -INFINITY : row[c];
            const float *v = pos + start[c];
            const int64_t lt = count_before(v, P, s, 0);
            /* ties are rare but may be all of a class (saturated probabilities): searched */
            const int64_t le = lt < P && v[lt] == s ? lt + count_before(v + lt, P - lt, s, 1) : lt;
            area[c] += (double)(P - le) + 0.5 * (double)(le - lt);
        }
    }
    for (int c = 0; c < k; c++) {
        const int64_t P = start[c + 1] - start[c], N = n - P;
        auc[c] = P == 0 || N == 0 ? NAN : area[c] / ((double)P * (double)N);
    }
    st = CXR_OK;
nomem:
    free(start);
    free(fill);
    free(pos);
    free(area);
    return st == CXR_OK ? st : cxr_set_error(st, "metrics: out of memory");
}

double cxr_roc_auc(const float *scores, const uint8_t *pos, int64_t n)
{
    int64_t P, N;
    scored *v = sorted_scores(scores, 1, pos, NULL, 0, n, &P, &N);
    if (!v) return NAN;
    double a = auc_sorted(v, n, P, N, NULL, NULL, NULL);
    free(v);
    return a;
}

/* ---------------------------------------------------------------- report */
/* a / b, undefined (NAN) when b is 0: a class that no image holds has no recall, one that none
 * is called no precision (a 0 there read as every such image missed) */
static double ratio(double a, double b) { return b > 0 ? a / b : NAN; }

/* The mean of the values of v[0..k) that are defined (NAN when none is). */
static double defined_mean(const double *v, int k)
{
    double sum = 0;
    int n = 0;
    for (int c = 0; c < k; c++)
        if (!isnan(v[c])) sum += v[c], n++;
    return n ? sum / n : NAN;
}

void cxr_metrics_report_free(cxr_metrics_report *r)
{
    if (!r) return;
    free(r->confusion);
    free(r->precision);
    free(r->recall);
    free(r->f1);
    free(r->auc_ovr);
    free(r->roc_fpr);
    free(r->roc_tpr);
    memset(r, 0, sizeof *r);
}

int cxr_predicted_class(const float *p, int k, double threshold)
{
    if (k == 2) return (double)p[1] >= threshold;
    int pred = 0;
    for (int c = 1; c < k; c++)
        if (p[c] > p[pred]) pred = c;
    return pred;
}

cxr_status cxr_metrics_compute(const cxr_metrics *m, double threshold, cxr_metrics_report *r)
{
    const int k = m->k;
    const int64_t n = m->n;
    memset(r, 0, sizeof *r);
    r->k = k;
    r->n = n;
    r->threshold = threshold;
    r->confusion = calloc((size_t)k * k, sizeof *r->confusion);
    r->precision = calloc((size_t)k, sizeof(double));
    r->recall = calloc((size_t)k, sizeof(double));
    r->f1 = calloc((size_t)k, sizeof(double));
    r->auc_ovr = calloc((size_t)k, sizeof(double));
    if (!r->confusion || !r->precision || !r->recall || !r->f1 || !r->auc_ovr) goto nomem;

    for (int64_t i = 0; i < n; i++) {
        const int pred = cxr_predicted_class(m->probs + (size_t)i * k, k, threshold);
        r->confusion[(size_t)m->labels[i] * k + pred]++;
    }
    int64_t correct = 0;
    double spec_sum = 0; /* the one-vs-rest specificities that are defined, and their count */
    int n_spec = 0;
    for (int c = 0; c < k; c++) {
        int64_t row = 0, col = 0, tp = r->confusion[(size_t)c * k + c];
        for (int j = 0; j < k; j++) {
            row += r->confusion[(size_t)c * k + j];
            col += r->confusion[(size_t)j * k + c];
        }
        correct += tp;
        r->precision[c] = ratio((double)tp, (double)col);
        r->recall[c] = ratio((double)tp, (double)row);
        /* 2TP / (2TP + FP + FN): 0 for a class held or called without a hit, undefined only
         * for one neither held nor called */
        const double p = r->precision[c], q = r->recall[c];
        r->f1[c] = row + col == 0 ? NAN : tp == 0 ? 0 : 2 * p * q / (p + q);
        int64_t fp = col - tp, tn = n - row - col + tp;
        const double spec = ratio((double)tn, (double)(tn + fp));
        if (!isnan(spec)) spec_sum += spec, n_spec++;
    }
    /* each macro mean over the classes where its value is defined: a class absent from the
     * split has no recall (the mean recall is then the balanced accuracy), one never called no
     * precision; AUC's below is taken alike */
    r->macro_precision = defined_mean(r->precision, k);
    r->macro_recall = defined_mean(r->recall, k);
    r->macro_f1 = defined_mean(r->f1, k);
    r->accuracy = ratio((double)correct, (double)n);
    r->balanced_accuracy = r->macro_recall;

    /* one-vs-rest AUC of each class's probability */
    if (k > 2) {
        if (auc_ovr_all(m->probs, m->labels, k, n, r->auc_ovr) != CXR_OK) goto nomem;
    } else {
        /* two classes: class 0's AUC is class 1's (set below). p0 = 1 - p1 ranks the same
         * pairs, but a float p0 saturates at 1.0 where p1 still holds 1e-23 (every confident
         * image tied: AUC 0.5) */
        int64_t P, N;
        scored *v = sorted_scores(m->probs + 1, 2, NULL, m->labels, 1, n, &P, &N);
        r->roc_fpr = malloc((size_t)(n + 1) * sizeof(double));
        r->roc_tpr = malloc((size_t)(n + 1) * sizeof(double));
        if (!v || !r->roc_fpr || !r->roc_tpr) {
            free(v);
            goto nomem;
        }
        r->auc_ovr[1] = auc_sorted(v, n, P, N, r->roc_fpr, r->roc_tpr, &r->n_roc);
        free(v);
    }
    int n_auc = 0;
    double auc_sum = 0;
    for (int c = k == 2; c < k; c++)
        if (!isnan(r->auc_ovr[c])) {
            auc_sum += r->auc_ovr[c];
            n_auc++;
        }
    if (k == 2) r->auc_ovr[0] = r->auc_ovr[1];
    r->macro_auc = n_auc ? auc_sum / n_auc : NAN;

    if (k == 2) {
        r->pos_precision = r->precision[1];
        r->pos_recall = r->recall[1];
        r->specificity = r->recall[0];
        r->pos_f1 = r->f1[1];
        r->auc = r->auc_ovr[1];
        r->macro_auc = r->auc;
    } else {
        r->pos_precision = r->macro_precision;
        r->pos_recall = r->macro_recall;
        r->specificity = n_spec ? spec_sum / n_spec : NAN;
        r->pos_f1 = r->macro_f1;
        r->auc = r->macro_auc;
    }
    return CXR_OK;
nomem:
    cxr_metrics_report_free(r);
    return cxr_set_error(CXR_E_NOMEM, "metrics: out of memory");
}

cxr_status cxr_metrics_best_threshold(const cxr_metrics *m, double *threshold, double *bal_acc)
{
    if (m->k != 2)
        return cxr_set_error(CXR_E_ARG, "best threshold: binary only (have %d classes)", m->k);
    int64_t P, N, n = m->n;
    scored *v = sorted_scores(m->probs + 1, 2, NULL, m->labels, 1, n, &P, &N);
    if (!v) return cxr_set_error(CXR_E_NOMEM, "metrics: out of memory");
    if (P == 0 || N == 0) {
        free(v);
        return cxr_set_error(CXR_E_ARG,
                             "best threshold: need both classes (%lld positive, %lld "
                             "negative samples)",
                             (long long)P, (long long)N);
    }
    /* Cut k puts the k highest distinct scores' images on the positive side; every threshold
     * in (next lower score, lowest positive score] gives it. Its candidate is 0.5 when 0.5 lies
     * in that interval, else the midpoint (above the highest: just above it; the last cut: the
     * lowest score). Balanced accuracy compares exactly as tp*N + tn*P (integers); ties go to
     * the candidate closest to 0.5, then to the higher one. */
    double best_t = 0, best_d = INFINITY;
    __int128 best_b = -1;
    int64_t tp = 0, fp = 0;
    for (int64_t i = -1; i < n;) {
        int64_t j = i + 1; /* the next group starts at j */
        if (i >= 0)
            for (j = i; j < n && v[j].s == v[i].s; j++) {
                if (v[j].pos)
                    tp++;
                else
                    fp++;
            }
        const double hi = i >= 0 ? v[i].s : INFINITY, lo = j < n ? v[j].s : -INFINITY;
        double t = i < 0 ? nextafter(v[0].s, INFINITY) : j < n ? 0.5 * (v[i].s + v[j].s) : v[i].s;
        if (0.5 > lo && 0.5 <= hi) t = 0.5;
        const __int128 b = (__int128)tp * N + (__int128)(N - fp) * P;
        const double d = fabs(t - 0.5);
        if (b > best_b || (b == best_b && d < best_d)) best_b = b, best_t = t, best_d = d;
        i = j;
    }
    const double best = 0.5 * (double)best_b / ((double)P * (double)N);
    free(v);
    *threshold = best_t;
    if (bal_acc) *bal_acc = best;
    return CXR_OK;
}

void cxr_metrics_weighted_ce(const float *probs, const int32_t *labels, const float *cw, int64_t n,
                             int k, double *num, double *den)
{
    for (int64_t i = 0; i < n; i++) {
        double p = probs[(size_t)i * k + labels[i]], w = cw ? cw[labels[i]] : 1.0;
        *num += w * -log(p > 1e-30 ? p : 1e-30);
        *den += w;
    }
}

int cxr_probs_finite(const float *row, int k)
{
    for (int c = 0; c < k; c++)
        if (!isfinite(row[c])) return 0;
    return 1;
}
