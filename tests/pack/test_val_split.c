/* test_val_split.c: cxr_plan_split_val_by_patient against a slow oracle of its rule (tests/pack).
 *
 * The rule (specs/store.md, "Validation split by patient"): for each class in index order, walk
 * all patients in (FNV-1a 64 of the id, id) order, skipping those already chosen and those
 * without an image of the class, choosing each until the class's val images reach
 * round(fraction * its train images); a chosen patient moves with all its images. The oracle
 * below is that sentence, O(classes x patients log patients); the library must choose the same
 * items in the same order on plans with 2 to 2000 classes and patients spanning classes. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_pack.h"
#include "cxr_test.h"

typedef struct {
    char id[256]; /* a file name's stem: at most NAME_MAX bytes */
    uint64_t hash;
    int64_t n_class;
    int chosen;
} opat;

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* the spec's basis (one digit short of FNV's) */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const opat *)a)->id, ((const opat *)b)->id);
}

static int by_hash(const void *a, const void *b)
{
    const opat *x = a, *y = b;
    if (x->hash != y->hash) return x->hash < y->hash ? -1 : 1;
    return strcmp(x->id, y->id);
}

static opat *find(opat *p, int64_t n, const char *rel)
{
    opat key;
    cxr_patient_id(key.id, sizeof key.id, rel);
    opat *hit = bsearch(&key, p, (size_t)n, sizeof *p, by_id);
    REQUIRE(hit);
    return hit;
}

/* val flags of the train items (in plan order) by the rule, literally */
static void oracle(const cxr_pack_split *tr, int n_classes, double fraction, char *in_val)
{
    int64_t n = tr->n, np = 0;
    opat *p = calloc((size_t)n + 1, sizeof *p), *order = calloc((size_t)n + 1, sizeof *order);
    REQUIRE(p && order);
    for (int64_t i = 0; i < n; i++) cxr_patient_id(p[i].id, sizeof p[i].id, tr->items[i].rel);
    qsort(p, (size_t)n, sizeof *p, by_id);
    for (int64_t i = 0; i < n; i++)
        if (!np || strcmp(p[np - 1].id, p[i].id)) p[np++] = p[i];
    for (int64_t k = 0; k < np; k++) p[k].hash = fnv(p[k].id);
    for (int c = 0; c < n_classes; c++) {
        int64_t n_c = 0, taken = 0;
        for (int64_t k = 0; k < np; k++) p[k].n_class = 0;
        for (int64_t i = 0; i < n; i++) {
            if (tr->items[i].label != c) continue;
            opat *q = find(p, np, tr->items[i].rel);
            n_c++;
            q->n_class++;
            taken += q->chosen;
        }
        int64_t target = (int64_t)(fraction * (double)n_c + 0.5);
        memcpy(order, p, (size_t)np * sizeof *p);
        qsort(order, (size_t)np, sizeof *order, by_hash);
        for (int64_t k = 0; k < np && taken < target; k++) {
            if (order[k].chosen || !order[k].n_class) continue;
            opat *q = bsearch(&order[k], p, (size_t)np, sizeof *p, by_id);
            q->chosen = 1;
            taken += q->n_class;
        }
    }
    for (int64_t i = 0; i < n; i++) in_val[i] = (char)find(p, np, tr->items[i].rel)->chosen;
    free(p);
    free(order);
}

static uint64_t rnd(uint64_t *s)
{
    *s += 0x9E3779B97F4A7C15ull;
    uint64_t z = *s;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* n images of n_pat patients over n_classes classes (skewed: class = min of two draws), a
 * patient's images mostly of one class, some of another; names as in the Kaggle tree */
static void make_plan(cxr_pack_plan *pl, int n_classes, int64_t n, int64_t n_pat, uint64_t seed)
{
    memset(pl, 0, sizeof *pl);
    pl->n_classes = n_classes;
    pl->class_names = calloc((size_t)n_classes, sizeof *pl->class_names);
    REQUIRE(pl->class_names);
    for (int c = 0; c < n_classes; c++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", c);
        REQUIRE(pl->class_names[c] = strdup(name));
    }
    pl->n_splits = 1;
    strcpy(pl->splits[0].name, "train");
    for (int64_t i = 0; i < n; i++) {
        int64_t pt = (int64_t)(rnd(&seed) % (uint64_t)n_pat);
        uint64_t a = rnd(&seed) % (uint64_t)n_classes, b = rnd(&seed) % (uint64_t)n_classes;
        int y = (int)(pt % 5 ? (uint64_t)pt % (uint64_t)n_classes : (a < b ? a : b));
        char rel[160];
        snprintf(rel, sizeof rel, "train/c%d/person%lld_virus_%lld.jpeg", y, (long long)pt,
                 (long long)i);
        CHECK_OK(cxr_plan_add_item(&pl->splits[0], rel, rel, y, 1));
    }
}

static void check_case(int n_classes, int64_t n, int64_t n_pat, double fraction, uint64_t seed)
{
    cxr_pack_plan pl;
    make_plan(&pl, n_classes, n, n_pat, seed);
    char *want = calloc((size_t)n + 1, 1);
    REQUIRE(want);
    oracle(&pl.splits[0], n_classes, fraction, want);
    cxr_pack_item *orig = malloc((size_t)n * sizeof *orig);
    REQUIRE(orig);
    memcpy(orig, pl.splits[0].items, (size_t)n * sizeof *orig); /* the strings stay owned */
    CHECK_OK(cxr_plan_split_val_by_patient(&pl, fraction));
    REQUIRE(pl.n_splits == 2 && !strcmp(pl.splits[1].name, "val"));
    int64_t k_tr = 0, k_va = 0, bad = 0;
    for (int64_t i = 0; i < n; i++) {
        const cxr_pack_split *s = &pl.splits[want[i] ? 1 : 0];
        int64_t *k = want[i] ? &k_va : &k_tr;
        if (*k >= s->n || s->items[*k].rel != orig[i].rel) {
            if (!bad)
                fprintf(stderr, "first difference: %s, %s by the rule\n", orig[i].rel,
                        want[i] ? "val" : "train");
            bad++;
        }
        (*k)++;
    }
    if (bad || k_tr != pl.splits[0].n || k_va != pl.splits[1].n)
        fprintf(stderr,
                "%d classes, %lld images, %lld patients: %lld items differ from the rule "
                "(train %lld/%lld, val %lld/%lld)\n",
                n_classes, (long long)n, (long long)n_pat, (long long)bad, (long long)k_tr,
                (long long)pl.splits[0].n, (long long)k_va, (long long)pl.splits[1].n);
    CHECK(bad == 0 && k_tr == pl.splits[0].n && k_va == pl.splits[1].n);
    CHECK(k_va > 0);
    free(orig);
    free(want);
    cxr_plan_free(&pl);
}

int main(void)
{
    check_case(2, 600, 180, 0.1, 1);
    check_case(2, 600, 600, 0.25, 2); /* one image per patient */
    check_case(7, 3000, 200, 0.1, 3); /* patients with many images, over several classes */
    check_case(60, 4000, 900, 0.1, 4);
    check_case(2000, 6000, 3000, 0.2, 5); /* many classes of a few images, some of one */
    check_case(3, 50, 1, 0.1, 6);         /* one patient holds everything */

    /* stems of 130 bytes that differ past byte 127 are distinct patients (an id cut to 127
     * bytes made the 10 one patient: val took all of them, train none) */
    {
        cxr_pack_plan lp;
        make_plan(&lp, 1, 0, 1, 8);
        char stem[131];
        memset(stem, 'x', 130);
        stem[130] = 0;
        for (int i = 0; i < 10; i++) {
            char rel[200];
            snprintf(rel, sizeof rel, "train/c0/%s_%d.jpeg", stem, i);
            CHECK_OK(cxr_plan_add_item(&lp.splits[0], rel, rel, 0, 1));
        }
        CHECK_OK(cxr_plan_split_val_by_patient(&lp, 0.3));
        CHECK(lp.n_splits == 2 && lp.splits[0].n == 7 && lp.splits[1].n == 3);
        cxr_plan_free(&lp);
    }

    /* the patient ids of specs/store.md: personN_... -> personN (digits required), IM-XXXX-...
     * and NORMAL2-IM-XXXX-... through the digits after IM- (digits required), else the stem */
    {
        static const char *const cases[][2] = {
            { "train/P/person1234_virus_2.jpeg", "person1234" },
            { "person7_bacteria_1.jpeg", "person7" },
            { "person_virus.jpeg", "person_virus" },       /* no digits: the stem */
            { "person_bacteria.jpeg", "person_bacteria" }, /* (not one patient "person") */
            { "person12.jpeg", "person12" },
            { "IM-0115-0001.jpeg", "IM-0115" },
            { "NORMAL2-IM-1427-0001.jpeg", "NORMAL2-IM-1427" },
            { "IM--0001.jpeg", "IM--0001" }, /* no digits after IM-: the stem */
            { "IM--0002.jpeg", "IM--0002" },
            { "IM-0115.jpeg", "IM-0115" },
            { "scan.v2.jpeg", "scan.v2" },
            { ".jpeg", ".jpeg" },
            /* the mutation round's survivors: a 9 among the digits, digits not followed by
             * the separator the rule names (the stem, whole) */
            { "person19_virus_9.jpeg", "person19" },
            { "person90_bacteria_1.jpeg", "person90" },
            { "IM-0919-0001.jpeg", "IM-0919" },
            { "person12x_virus.jpeg", "person12x_virus" },
            { "person12-1.jpeg", "person12-1" },
            { "IM-0115_0001.jpeg", "IM-0115_0001" },
            { "NORMAL2-IM-1427a-0001.jpeg", "NORMAL2-IM-1427a-0001" },
        };
        for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
            char id[256];
            cxr_patient_id(id, sizeof id, cases[i][0]);
            if (strcmp(id, cases[i][1]) != 0) {
                fprintf(stderr, "patient of %s: '%s', want '%s'\n", cases[i][0], id, cases[i][1]);
                cxr_test_failures++;
            }
        }
    }

    /* an id longer than the buffer is cut to cap - 1 bytes and its NUL, never past cap: here
     * cap is the id's length (10), so one byte more would be written past the buffer */
    {
        char buf[16];
        memset(buf, 'Z', sizeof buf);
        cxr_patient_id(buf, 10, "train/P/person1234_virus_2.jpeg");
        CHECK(strcmp(buf, "person123") == 0 && buf[10] == 'Z');
        memset(buf, 'Z', sizeof buf);
        cxr_patient_id(buf, 1, "person1234_virus_2.jpeg");
        CHECK(buf[0] == 0 && buf[1] == 'Z');
        memset(buf, 'Z', sizeof buf);
        cxr_patient_id(buf, 0, "person1234_virus_2.jpeg");
        CHECK(buf[0] == 'Z');
    }

    /* a label outside the plan's classes is refused, naming the item */
    cxr_pack_plan pl;
    make_plan(&pl, 3, 20, 5, 7);
    pl.splits[0].items[4].label = 3;
    CHECK(cxr_plan_split_val_by_patient(&pl, 0.1) == CXR_E_ARG);
    CHECK(strstr(cxr_last_error(), pl.splits[0].items[4].rel) != NULL);
    cxr_plan_free(&pl);
    /* a fraction outside (0, 1) is refused and leaves the plan as it was */
    const double bad_f[] = { 0.0, 1.0, -0.1, 1.5, NAN };
    for (size_t k = 0; k < sizeof bad_f / sizeof *bad_f; k++) {
        make_plan(&pl, 3, 20, 5, 7);
        CHECK(cxr_plan_split_val_by_patient(&pl, bad_f[k]) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "must be in (0, 1)") != NULL);
        CHECK(pl.n_splits == 1);
        cxr_plan_free(&pl);
    }
    TEST_END();
}
