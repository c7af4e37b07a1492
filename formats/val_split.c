/* val_split.c: a validation split carved out of train, grouped by patient
 * (cxr_plan_split_val_by_patient, cxr_patient_id in cxr_pack.h; specs/store.md, "Validation
 * split by patient"): every image of a patient lands on one side.
 */
#include "cxr_pack.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The patient id of file_name as a span of it: *id (into file_name) and its length. */
static size_t patient_span(const char *file_name, const char **id)
{
    const char *base = strrchr(file_name, '/');
    base = base ? base + 1 : file_name;
    size_t len = strlen(base);
    const char *dot = strrchr(base, '.');
    if (dot && dot != base) len = (size_t)(dot - base);
    size_t keep = len;
    if (len > 6 && strncmp(base, "person", 6) == 0) {
        size_t i = 6;
        while (i < len && base[i] >= '0' && base[i] <= '9') i++;
        if (i > 6 && i < len && base[i] == '_') keep = i;
    } else {
        size_t p = 0;
        if (strncmp(base, "NORMAL2-", 8) == 0) p = 8;
        if (len > p + 3 && strncmp(base + p, "IM-", 3) == 0) {
            /* IM-XXXX-YYYY: keep through the first group of digits after "IM-" */
            size_t i = p + 3;
            while (i < len && base[i] >= '0' && base[i] <= '9') i++;
            if (i > p + 3 && i < len && base[i] == '-') keep = i;
        }
    }
    *id = base;
    return keep;
}

int64_t cxr_val_target(double fraction, int64_t n) { return (int64_t)(fraction * (double)n + 0.5); }

void cxr_patient_id(char *out, size_t cap, const char *file_name)
{
    if (cap == 0) return;
    const char *id;
    size_t keep = patient_span(file_name, &id);
    if (keep > cap - 1) keep = cap - 1;
    memcpy(out, id, keep);
    out[keep] = 0;
}

/* Not cxr_fnv1a64: FNV-1a 64 with offset basis 1469598103934665603, one digit short of the
 * standard one; every store's val split depends on it, so it stays (specs/store.md, "Validation
 * split by patient"). */
static uint64_t patient_hash_v1(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* A patient's id is a span of an item's name (patient_span), not a copy: the whole stem
 * whatever its length (a copy of 127 bytes made patients of distinct long stems one), and no
 * per-image buffer. */
typedef struct {
    const char *id;
    size_t len;
    uint64_t hash;
    int selected;
} patient;

/* the order strcmp gives the ids as strings */
static int cmp_span(const char *a, size_t na, const char *b, size_t nb)
{
    int c = memcmp(a, b, na < nb ? na : nb);
    return c ? c : (na > nb) - (na < nb);
}

static int cmp_patient_id(const void *a, const void *b)
{
    const patient *x = a, *y = b;
    return cmp_span(x->id, x->len, y->id, y->len);
}

typedef struct {
    uint64_t hash;
    const char *id;
    size_t len;
    int index; /* into the patients sorted by id */
} hash_entry;

/* hash order, ties (never seen with 64 bits) by id */
static int cmp_hash_entry(const void *a, const void *b)
{
    const hash_entry *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return cmp_span(x->id, x->len, y->id, y->len);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

cxr_status cxr_plan_split_val_by_patient(cxr_pack_plan *plan, double fraction)
{
    cxr_status st = CXR_OK;
    patient *pat = NULL;
    hash_entry *by_hash = NULL;
    int *item_pat = NULL, *rank = NULL, *cls_pat = NULL;
    int64_t *cnt = NULL, *by_class = NULL, *start = NULL;
    cxr_pack_item *keep = NULL, *moved = NULL;
    int64_t n_pat = 0;

    if (!(fraction > 0.0 && fraction < 1.0))
        CXR_THROW(CXR_E_ARG, "val fraction %g: must be in (0, 1)", fraction);
    int t = -1;
    for (int s = 0; s < plan->n_splits; s++) {
        if (!strcmp(plan->splits[s].name, "val"))
            CXR_THROW(CXR_E_ARG, "the source already has a val split: drop --val-fraction or val/");
        if (!strcmp(plan->splits[s].name, "train")) t = s;
    }
    if (t < 0) CXR_THROW(CXR_E_FORMAT, "no train split to carve val from");
    cxr_pack_split *tr = &plan->splits[t];
    int64_t n = tr->n;

    /* distinct patients, each item mapped to its patient */
    pat = calloc((size_t)(n ? n : 1), sizeof *pat);
    item_pat = malloc((size_t)(n ? n : 1) * sizeof *item_pat);
    if (!pat || !item_pat) CXR_THROW(CXR_E_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) pat[i].len = patient_span(tr->items[i].rel, &pat[i].id);
    qsort(pat, (size_t)n, sizeof *pat, cmp_patient_id);
    for (int64_t i = 0; i < n; i++)
        if (n_pat == 0 || cmp_patient_id(&pat[n_pat - 1], &pat[i])) pat[n_pat++] = pat[i];
    for (int64_t p = 0; p < n_pat; p++) pat[p].hash = patient_hash_v1(pat[p].id, pat[p].len);
    for (int64_t i = 0; i < n; i++) {
        patient key = { 0 };
        key.len = patient_span(tr->items[i].rel, &key.id);
        patient *hit = bsearch(&key, pat, (size_t)n_pat, sizeof *pat, cmp_patient_id);
        item_pat[i] = (int)(hit - pat);
    }

    /* per class (stratified): the class's patients in hash order until its target is reached;
     * a chosen patient moves with all its images, whatever their class. Each class touches
     * only its own items and patients, so the whole is O(n log n) for any number of classes. */
    rank = malloc((size_t)(n_pat ? n_pat : 1) * sizeof *rank);
    by_hash = malloc((size_t)(n_pat ? n_pat : 1) * sizeof *by_hash);
    cnt = calloc((size_t)(n_pat ? n_pat : 1), sizeof *cnt);
    cls_pat = malloc((size_t)(n ? n : 1) * sizeof *cls_pat);
    by_class = malloc((size_t)(n ? n : 1) * sizeof *by_class);
    start = calloc((size_t)plan->n_classes + 1, sizeof *start);
    if (!rank || !by_hash || !cnt || !cls_pat || !by_class || !start)
        CXR_THROW(CXR_E_NOMEM, "out of memory");
    for (int64_t p = 0; p < n_pat; p++)
        by_hash[p] = (hash_entry){
            .hash = pat[p].hash, .id = pat[p].id, .len = pat[p].len, .index = (int)p
        };
    qsort(by_hash, (size_t)n_pat, sizeof *by_hash, cmp_hash_entry);
    for (int64_t k = 0; k < n_pat; k++) rank[by_hash[k].index] = (int)k;
    /* items bucketed by class (a counting sort: plan order kept within each class) */
    for (int64_t i = 0; i < n; i++) {
        int32_t y = tr->items[i].label;
        if (y < 0 || y >= plan->n_classes)
            CXR_THROW(CXR_E_ARG, "%s: label %d outside the plan's %d classes", tr->items[i].rel,
                      (int)y, plan->n_classes);
        start[y + 1]++;
    }
    for (int c = 0; c < plan->n_classes; c++) start[c + 1] += start[c];
    for (int64_t i = 0; i < n; i++) by_class[start[tr->items[i].label]++] = i;
    for (int c = plan->n_classes; c > 0; c--) start[c] = start[c - 1]; /* undo the fill */
    start[0] = 0;
    for (int c = 0; c < plan->n_classes; c++) {
        int64_t n_c = start[c + 1] - start[c], taken = 0, np = 0;
        for (int64_t j = start[c]; j < start[c + 1]; j++) {
            int pp = item_pat[by_class[j]];
            if (cnt[pp]++ == 0) cls_pat[np++] = rank[pp]; /* by rank: sorts into hash order */
            if (pat[pp].selected) taken++;
        }
        const int64_t target = cxr_val_target(fraction, n_c);
        qsort(cls_pat, (size_t)np, sizeof *cls_pat, cmp_int);
        for (int64_t k = 0; k < np && taken < target; k++) {
            int pp = by_hash[cls_pat[k]].index;
            patient *hit = &pat[pp];
            if (hit->selected) continue;
            hit->selected = 1;
            taken += cnt[pp];
        }
        for (int64_t k = 0; k < np; k++) cnt[by_hash[cls_pat[k]].index] = 0;
    }

    /* split the items, keeping plan order in both */
    keep = malloc((size_t)(n ? n : 1) * sizeof *keep);
    moved = malloc((size_t)(n ? n : 1) * sizeof *moved);
    if (!keep || !moved) CXR_THROW(CXR_E_NOMEM, "out of memory");
    int64_t nk = 0, nm = 0;
    for (int64_t i = 0; i < n; i++) {
        if (pat[item_pat[i]].selected)
            moved[nm++] = tr->items[i];
        else
            keep[nk++] = tr->items[i];
    }
    /* insert val right after train */
    for (int s = plan->n_splits; s > t + 1; s--) plan->splits[s] = plan->splits[s - 1];
    plan->n_splits++;
    cxr_pack_split *va = &plan->splits[t + 1];
    memset(va, 0, sizeof *va);
    snprintf(va->name, sizeof va->name, "val");
    va->items = moved;
    va->n = va->cap = nm;
    moved = NULL;
    free(tr->items);
    tr->items = keep;
    tr->n = nk;
    tr->cap = n ? n : 1;
    keep = NULL;
bail:
    free(pat);
    free(by_hash);
    free(item_pat);
    free(rank);
    free(cls_pat);
    free(cnt);
    free(by_class);
    free(start);
    free(keep);
    free(moved);
    return st;
}
