/* test_plan.c: cxr_plan_from_manifest and cxr_manifest_explore on the generated fixture
 * (fixture.h): exact counts per skip reason, class names = original ids by frequency (ties by
 * numeric id), both image layouts, per-class stratified splits chosen by id hash, determinism,
 * --strict, a missing column, a dropped class's ids going to their next rows (test_dropped_holder)
 * and the exact --explore report, with its top-20 cut and bins at their bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_manifest.h"
#include "cxr_pack.h"
#include "cxr_test.h"
#include "fixture.h"

static char g_dir[256], g_csv[512], g_img[512];

/* FNV-1a 64, written again here so the test checks the documented split rule. */
static uint64_t fnv(const char *s)
{
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* The id's order (specs/store.md "Splits"): fnv through splitmix64's finalizer, written again. */
static uint64_t id_order(const char *s)
{
    uint64_t z = fnv(s);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* id of an item: its rel without directories and ".jpg" */
static void item_id(char *out, size_t cap, const cxr_pack_item *it)
{
    const char *b = strrchr(it->rel, '/');
    b = b ? b + 1 : it->rel;
    snprintf(out, cap, "%.*s", (int)(strlen(b) - 4), b);
}

static int64_t count_reason(const cxr_pack_plan *p, const char *prefix)
{
    int64_t n = 0;
    for (int64_t i = 0; i < p->n_skipped; i++)
        n += strncmp(p->skipped[i].reason, prefix, strlen(prefix)) == 0;
    return n;
}

static int has_skip(const cxr_pack_plan *p, const char *path, const char *reason)
{
    for (int64_t i = 0; i < p->n_skipped; i++)
        if (!strcmp(p->skipped[i].path, path) && !strcmp(p->skipped[i].reason, reason) &&
            !strcmp(p->skipped[i].split, ""))
            return 1;
    return 0;
}

static void test_top3(void)
{
    /* the reference hash is the standard FNV-1a 64 (published test vectors) */
    CHECK(fnv("") == 0xcbf29ce484222325ull);
    CHECK(fnv("a") == 0xaf63dc4c8601ec8cull);
    CHECK(fnv("foobar") == 0x85944171f73967e8ull);
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.top_classes = 3;
    o.val_fraction = 0.2;
    o.test_fraction = 0.2;
    cxr_pack_plan p, q;
    cxr_manifest_summary s;
    CHECK_OK(cxr_plan_from_manifest(&p, g_csv, g_img, &o, &s));
    CHECK(s.rows == 33);
    CHECK(s.malformed == 2);
    CHECK(s.missing == 4);
    CHECK(s.bad_id == 1);
    CHECK(s.duplicate == 1);
    CHECK(s.not_found == 2);
    CHECK(s.other_class == 5);
    CHECK(s.planned == 18);
    CHECK(s.classes_total == 5);
    CHECK(p.n_skipped == 10);
    CHECK(count_reason(&p, "malformed line") == 2);
    CHECK(count_reason(&p, "missing ") == 4);
    CHECK(count_reason(&p, "bad id") == 1);
    CHECK(count_reason(&p, "duplicate id") == 1);
    CHECK(count_reason(&p, "image not found") == 2);
    char loc[600];
    snprintf(loc, sizeof loc, "%s:24", g_csv);
    CHECK(has_skip(&p, loc, "malformed line: 4 fields, expected 3"));
    snprintf(loc, sizeof loc, "%s:25", g_csv);
    CHECK(has_skip(&p, loc, "malformed line: unterminated quote"));
    snprintf(loc, sizeof loc, "%s:12", g_csv);
    CHECK(has_skip(&p, loc, "missing id"));
    CHECK(has_skip(&p, "n0001", "missing url and label"));
    CHECK(has_skip(&p, "n0003", "missing label"));
    CHECK(has_skip(&p, "a7001", "duplicate id"));
    CHECK(has_skip(&p, "../etc", "bad id"));
    CHECK(has_skip(&p, "a7007", "image not found"));
    CHECK(has_skip(&p, "c4203", "image not found"));
    CHECK(p.source && strcmp(p.source, g_csv) == 0);

    REQUIRE(p.n_classes == 3);
    CHECK(strcmp(p.class_names[0], "7") == 0);
    CHECK(strcmp(p.class_names[1], "5") == 0); /* tie with 42 at 6 rows: numeric order */
    CHECK(strcmp(p.class_names[2], "42") == 0);

    REQUIRE(p.n_splits == 3);
    CHECK(strcmp(p.splits[0].name, "train") == 0);
    CHECK(strcmp(p.splits[1].name, "val") == 0);
    CHECK(strcmp(p.splits[2].name, "test") == 0);
    /* per class n = 7, 6, 5: round(0.2 n) = 1 each to test and val */
    const int64_t want[3][3] = { { 5, 4, 3 }, { 1, 1, 1 }, { 1, 1, 1 } };
    for (int sp = 0; sp < 3; sp++) {
        int64_t got[3] = { 0, 0, 0 };
        uint64_t prev = 0;
        for (int64_t i = 0; i < p.splits[sp].n; i++) {
            const cxr_pack_item *it = &p.splits[sp].items[i];
            REQUIRE(it->label >= 0 && it->label < 3);
            got[it->label]++;
            char id[64], path[1200];
            item_id(id, sizeof id, it);
            uint64_t h = id_order(id);
            CHECK(i == 0 || h >= prev); /* items by id hash within a split */
            prev = h;
            snprintf(path, sizeof path, "%s/%s", g_img, it->rel);
            CHECK(strcmp(it->path, path) == 0);
            CHECK(access(it->path, R_OK) == 0);
        }
        for (int c = 0; c < 3; c++) CHECK(got[c] == want[sp][c]);
    }
    /* both layouts: a7002 nested, a7000 flat */
    int nested = 0, flat = 0;
    for (int sp = 0; sp < 3; sp++)
        for (int64_t i = 0; i < p.splits[sp].n; i++) {
            nested += strcmp(p.splits[sp].items[i].rel, "a/7/0/a7002.jpg") == 0;
            flat += strcmp(p.splits[sp].items[i].rel, "a7000.jpg") == 0;
        }
    CHECK(nested == 1 && flat == 1);
    /* stratification rule: per class, the smallest id hash goes to test, the next to val */
    for (int c = 0; c < 3; c++) {
        uint64_t best[2] = { UINT64_MAX, UINT64_MAX };
        char best_id[2][64] = { "", "" };
        for (int sp = 0; sp < 3; sp++)
            for (int64_t i = 0; i < p.splits[sp].n; i++) {
                if (p.splits[sp].items[i].label != c) continue;
                char id[64];
                item_id(id, sizeof id, &p.splits[sp].items[i]);
                uint64_t h = id_order(id);
                if (h < best[0]) {
                    best[1] = best[0];
                    memcpy(best_id[1], best_id[0], 64);
                    best[0] = h;
                    snprintf(best_id[0], 64, "%s", id);
                } else if (h < best[1]) {
                    best[1] = h;
                    snprintf(best_id[1], 64, "%s", id);
                }
            }
        for (int k = 0; k < 2; k++) {
            const cxr_pack_split *sp = &p.splits[k == 0 ? 2 : 1];
            int found = 0;
            for (int64_t i = 0; i < sp->n; i++) {
                char id[64];
                item_id(id, sizeof id, &sp->items[i]);
                found += sp->items[i].label == c && strcmp(id, best_id[k]) == 0;
            }
            CHECK(found == 1);
        }
    }
    /* determinism: a second plan is identical item by item */
    CHECK_OK(cxr_plan_from_manifest(&q, g_csv, g_img, &o, NULL));
    for (int sp = 0; sp < 3; sp++) {
        REQUIRE(q.splits[sp].n == p.splits[sp].n);
        for (int64_t i = 0; i < p.splits[sp].n; i++) {
            CHECK(strcmp(q.splits[sp].items[i].rel, p.splits[sp].items[i].rel) == 0);
            CHECK(q.splits[sp].items[i].label == p.splits[sp].items[i].label);
        }
    }
    cxr_plan_free(&q);
    cxr_plan_free(&p);
}

static void test_options(void)
{
    cxr_manifest_options o;
    cxr_pack_plan p;
    cxr_manifest_summary s;
    /* all classes with >= 3 rows, no test split */
    cxr_manifest_options_defaults(&o);
    o.min_count = 3;
    o.test_fraction = 0;
    CHECK_OK(cxr_plan_from_manifest(&p, g_csv, g_img, &o, &s));
    REQUIRE(p.n_classes == 4);
    CHECK(strcmp(p.class_names[3], "100") == 0);
    CHECK(s.other_class == 2 && s.planned == 21);
    CHECK(p.n_splits == 2 && strcmp(p.splits[1].name, "val") == 0);
    CHECK(p.splits[0].n + p.splits[1].n == 21);
    cxr_plan_free(&p);
    /* --strict: the first skipped row is the error, naming file and line */
    cxr_manifest_options_defaults(&o);
    o.top_classes = 3;
    o.strict = 1;
    CHECK(cxr_plan_from_manifest(&p, g_csv, g_img, &o, NULL) == CXR_E_FORMAT);
    char want[2048];
    snprintf(want, sizeof want, "%s: line 9: a7007: image not found (--strict)", g_csv);
    CHECK(strcmp(cxr_last_error(), want) == 0);
    CHECK(p.n_classes == 0 && p.n_skipped == 0); /* freed on error */
    /* an images folder without any of the files: an error, not an empty store */
    char empty[600];
    snprintf(empty, sizeof empty, "%s/empty", g_dir);
    REQUIRE(fixture_mkdir(empty) == 0);
    cxr_manifest_options_defaults(&o);
    o.top_classes = 3;
    CHECK(cxr_plan_from_manifest(&p, g_csv, empty, &o, NULL) == CXR_E_FORMAT);
    snprintf(want, sizeof want,
             "%s: no image found under %s for the 22 rows of the selected "
             "classes (looked for DIR/<id>.jpg and DIR/<a>/<b>/<c>/<id>.jpg)",
             g_csv, empty);
    CHECK(strcmp(cxr_last_error(), want) == 0);
    /* classes indexed by label id: the same three classes (chosen by count), the same items
     * in the same splits and order, each with its own label's new index */
    cxr_pack_plan q;
    cxr_manifest_options_defaults(&o);
    o.top_classes = 3;
    CHECK_OK(cxr_plan_from_manifest(&p, g_csv, g_img, &o, NULL));
    o.class_order = CXR_CLASS_ORDER_NAME;
    CHECK_OK(cxr_plan_from_manifest(&q, g_csv, g_img, &o, NULL));
    REQUIRE(q.n_classes == 3 && p.n_classes == 3);
    CHECK(strcmp(q.class_names[0], "5") == 0); /* numerically: 5, 7, 42 (by count: 7, 5, 42) */
    CHECK(strcmp(q.class_names[1], "7") == 0);
    CHECK(strcmp(q.class_names[2], "42") == 0);
    REQUIRE(q.n_splits == p.n_splits);
    for (int sp = 0; sp < p.n_splits; sp++) {
        REQUIRE(q.splits[sp].n == p.splits[sp].n);
        for (int64_t i = 0; i < p.splits[sp].n; i++) {
            const cxr_pack_item *a = &p.splits[sp].items[i], *b = &q.splits[sp].items[i];
            CHECK(strcmp(a->rel, b->rel) == 0);
            CHECK(strcmp(p.class_names[a->label], q.class_names[b->label]) == 0);
        }
    }
    cxr_plan_free(&p);
    cxr_plan_free(&q);
    /* bad options */
    cxr_manifest_options_defaults(&o);
    o.class_order = 2;
    CHECK(cxr_plan_from_manifest(&p, g_csv, g_img, &o, NULL) == CXR_E_ARG);
    cxr_manifest_options_defaults(&o);
    o.val_fraction = 0.6;
    o.test_fraction = 0.4;
    CHECK(cxr_plan_from_manifest(&p, g_csv, g_img, &o, NULL) == CXR_E_ARG);
    /* missing column */
    char bad[600];
    snprintf(bad, sizeof bad, "%s/nourl.csv", g_dir);
    FILE *f = fopen(bad, "w");
    REQUIRE(f);
    fputs("id,landmark_id\na7000,7\n", f);
    fclose(f);
    cxr_manifest_options_defaults(&o);
    CHECK(cxr_plan_from_manifest(&p, bad, g_img, &o, NULL) == CXR_E_FORMAT);
    snprintf(want, sizeof want, "%s: header has no 'url' column (its columns: 'id', 'landmark_id')",
             bad);
    CHECK(strcmp(cxr_last_error(), want) == 0);
}

/* Plan manifest `text` (written to <g_dir>/<sub>/m.csv) with images <id>.jpg for the ids in
 * `have` (any bytes: planning only looks for the files), --min-count `min`, train only. */
static void plan_case_in(const char *sub, const char *text, const char *const *have, int n_have,
                         int min, int order, cxr_pack_plan *p, cxr_manifest_summary *s)
{
    char dir[600], img[700], csv[700], path[800];
    snprintf(dir, sizeof dir, "%s/%s", g_dir, sub);
    snprintf(img, sizeof img, "%s/images", dir);
    snprintf(csv, sizeof csv, "%s/m.csv", dir);
    REQUIRE(fixture_mkdir(dir) == 0 && fixture_mkdir(img) == 0);
    FILE *f = fopen(csv, "w");
    REQUIRE(f && fputs(text, f) >= 0 && fclose(f) == 0);
    for (int i = 0; i < n_have; i++) {
        snprintf(path, sizeof path, "%s/%s.jpg", img, have[i]);
        REQUIRE((f = fopen(path, "w")) && fputs("x", f) >= 0 && fclose(f) == 0);
    }
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.min_count = min;
    o.class_order = order;
    o.val_fraction = o.test_fraction = 0;
    CHECK_OK(cxr_plan_from_manifest(p, csv, img, &o, s));
}

/* plan_case_in with the classes in count order (the default). */
static void plan_case(const char *sub, const char *text, const char *const *have, int n_have,
                      int min, cxr_pack_plan *p, cxr_manifest_summary *s)
{
    plan_case_in(sub, text, have, n_have, min, CXR_CLASS_ORDER_COUNT, p, s);
}

static int n_items(const cxr_pack_plan *p, const char *rel)
{
    int n = 0;
    for (int64_t i = 0; i < p->splits[0].n; i++) n += strcmp(p->splits[0].items[i].rel, rel) == 0;
    return n;
}

/* Sequential ids (img00001..img00300, the first 150 of one class, the rest of the other): the
 * splits are not blocks of the sequence, nor a split's order runs of one class. By FNV-1a alone
 * test held img00080..img00089 and img00095..img00099 of the first class, and train's first
 * 64-image shard was all of it (a new user's walk); mixed, they scatter. */
static void test_sequential_ids(void)
{
    enum { N = 300 };
    char dir[600], img[700], csv[700], path[800];
    snprintf(dir, sizeof dir, "%s/sequential", g_dir);
    snprintf(img, sizeof img, "%s/images", dir);
    snprintf(csv, sizeof csv, "%s/m.csv", dir);
    REQUIRE(fixture_mkdir(dir) == 0 && fixture_mkdir(img) == 0);
    FILE *f = fopen(csv, "w");
    REQUIRE(f && fputs("id,url,label\n", f) >= 0);
    for (int i = 1; i <= N; i++) {
        fprintf(f, "img%05d,u,%s\n", i, i <= N / 2 ? "A" : "B");
        FILE *g;
        snprintf(path, sizeof path, "%s/img%05d.jpg", img, i);
        REQUIRE((g = fopen(path, "w")) && fputs("x", g) >= 0 && fclose(g) == 0);
    }
    REQUIRE(fclose(f) == 0);
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.val_fraction = o.test_fraction = 0.1;
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(cxr_plan_from_manifest(&p, csv, img, &o, &s));
    REQUIRE(p.n_splits == 3 && p.splits[0].n == 240 && p.splits[2].n == 30);
    int first[2] = { 0, 0 }; /* the classes of train's first 64 items */
    for (int64_t i = 0; i < 64; i++) first[p.splits[0].items[i].label]++;
    CHECK(first[0] >= 16 && first[1] >= 16);
    int in_test[N + 2] = { 0 }, run = 0, longest = 0;
    for (int64_t i = 0; i < p.splits[2].n; i++) {
        char id[64];
        item_id(id, sizeof id, &p.splits[2].items[i]);
        in_test[atoi(id + 3)] = 1;
    }
    for (int i = 1; i <= N; i++) {
        run = in_test[i] ? run + 1 : 0;
        if (run > longest) longest = run;
    }
    CHECK(longest <= 3); /* 15 of 150 a class, at random: runs of 2, now and then 3 */
    cxr_plan_free(&p);
}

/* Which classes are dropped in pass 2 does not depend on --class-order: two classes tied at 2
 * images under --min-count 3 drop the first in count order ("10", 5 rows in pass 1), whose id a
 * then lifts "9" to 3; name order (9 before 10) dropped "9" first, and kept "10" instead. */
static void test_drop_order(void)
{
    const char *have[] = { "a", "b", "c", "d" };
    const char *text = "id,url,label\na,u,10\nb,u,9\na,u,9\nb,u,10\nc,u,10\nd,u,9\n"
                       "m1,u,10\nm2,u,10\n";
    cxr_pack_plan p, q;
    cxr_manifest_summary s, t;
    plan_case_in("order-count", text, have, 4, 3, CXR_CLASS_ORDER_COUNT, &p, &s);
    plan_case_in("order-name", text, have, 4, 3, CXR_CLASS_ORDER_NAME, &q, &t);
    REQUIRE(p.n_classes == 1 && q.n_classes == 1 && p.n_splits == 1 && q.n_splits == 1);
    CHECK(strcmp(p.class_names[0], "9") == 0 && strcmp(q.class_names[0], "9") == 0);
    CHECK(s.dropped == 1 && t.dropped == 1);
    REQUIRE(p.splits[0].n == 3 && q.splits[0].n == 3);
    for (int64_t i = 0; i < 3; i++)
        CHECK(strcmp(p.splits[0].items[i].rel, q.splits[0].items[i].rel) == 0);
    CHECK(n_items(&q, "a.jpg") == 1 && n_items(&q, "b.jpg") == 1 && n_items(&q, "d.jpg") == 1);
    cxr_plan_free(&p);
    cxr_plan_free(&q);
}

/* Name order on a permutation that is not its own inverse (count order 42, 5, 7; name order 5,
 * 7, 42: a 3-cycle): every item keeps its own label. A swap of two classes, as in the other
 * cases, could not tell the permutation from its inverse. */
static void test_name_cycle(void)
{
    const char *have[] = { "a1", "a2", "a3", "a4", "b1", "b2", "b3", "c1", "c2" };
    cxr_pack_plan p;
    cxr_manifest_summary s;
    plan_case_in("cycle",
                 "id,url,label\na1,u,42\na2,u,42\na3,u,42\na4,u,42\nb1,u,5\nb2,u,5\nb3,u,5\n"
                 "c1,u,7\nc2,u,7\n",
                 have, 9, 1, CXR_CLASS_ORDER_NAME, &p, &s);
    REQUIRE(p.n_classes == 3 && p.n_splits == 1 && p.splits[0].n == 9);
    CHECK(!strcmp(p.class_names[0], "5") && !strcmp(p.class_names[1], "7") &&
          !strcmp(p.class_names[2], "42"));
    for (int64_t i = 0; i < p.splits[0].n; i++) {
        const cxr_pack_item *it = &p.splits[0].items[i];
        const char *want = it->rel[0] == 'a' ? "42" : it->rel[0] == 'b' ? "5" : "7";
        CHECK(strcmp(p.class_names[it->label], want) == 0);
    }
    cxr_plan_free(&p);
}

/* An id whose first row is of a class dropped in pass 2 (too few images found) goes to its next
 * row of a kept class: that row was a "duplicate id" only while the dropped class was selected. */
static void test_dropped_holder(void)
{
    cxr_pack_plan p;
    cxr_manifest_summary s;
    /* class A: 3 usable rows in pass 1, 1 image (d1); class B: d1 again, b1, b2, d1 once more */
    const char *have[] = { "d1", "b1", "b2" };
    plan_case("holder",
              "id,url,landmark_id\na1,u,A\na2,u,A\nd1,u,A\nd1,u,B\nb1,u,B\nb2,u,B\nd1,u,B\n", have,
              3, 2, &p, &s);
    REQUIRE(p.n_classes == 1 && p.n_splits == 1);
    CHECK(strcmp(p.class_names[0], "B") == 0);
    CHECK(s.dropped == 1 && s.planned == 3 && p.splits[0].n == 3);
    CHECK(n_items(&p, "d1.jpg") == 1);
    /* the later d1 row of B is still a duplicate; A's missing images are still named */
    CHECK(s.duplicate == 1 && count_reason(&p, "duplicate id") == 1);
    CHECK(s.not_found == 2 && has_skip(&p, "a1", "image not found") &&
          has_skip(&p, "a2", "image not found"));
    CHECK(p.n_skipped == 3);
    CHECK(s.other_class == 1); /* A's d1 row, its class dropped */
    cxr_plan_free(&p);

    /* classes dropped one at a time: X and Y have 1 image each (x, y1; Y's x a duplicate), tied,
     * so X goes first (first in class order) and its x lifts Y to 2: Y stays beside Z. Dropping
     * every short class at once lost Y too. */
    const char *have2[] = { "x", "y1", "z1", "z2" };
    plan_case("chain",
              "id,url,landmark_id\nx,u,X\nxm1,u,X\nxm2,u,X\nx,u,Y\ny1,u,Y\nym,u,Y\n"
              "z1,u,Z\nz2,u,Z\n",
              have2, 4, 2, &p, &s);
    REQUIRE(p.n_classes == 2);
    CHECK(strcmp(p.class_names[0], "Y") == 0 && strcmp(p.class_names[1], "Z") == 0);
    CHECK(s.dropped == 1 && s.planned == 4 && n_items(&p, "x.jpg") == 1);
    CHECK(s.duplicate == 0 && s.other_class == 1 && s.not_found == 3 && p.n_skipped == 3);
    cxr_plan_free(&p);

    /* an id passed on twice (--min-count 3): A, B and C have 1, 1 and 2 images; A goes first and
     * its x lifts B to 2, still short; B goes next and x lifts C to 3. The summary adds up. */
    const char *have3[] = { "x", "b1", "c1", "c2" };
    plan_case("twice",
              "id,url,landmark_id\nx,u,A\nam1,u,A\nam2,u,A\nx,u,B\nb1,u,B\nbm,u,B\nx,u,C\n"
              "c1,u,C\nc2,u,C\n",
              have3, 4, 3, &p, &s);
    REQUIRE(p.n_classes == 1);
    CHECK(strcmp(p.class_names[0], "C") == 0 && n_items(&p, "x.jpg") == 1 && s.planned == 3);
    CHECK(s.dropped == 2 && s.duplicate == 0 && s.not_found == 3 && s.other_class == 3);
    CHECK(s.rows == s.malformed + s.missing + s.bad_id + s.duplicate + s.not_found + s.other_class +
                        s.planned);
    CHECK(p.n_skipped == 3 && count_reason(&p, "duplicate id") == 0);
    cxr_plan_free(&p);
    /* an id passed on skips rows of classes already dropped: B (no image) goes first, then A,
     * whose x's next row is B's; it goes to C's row, which lifts C to 3 (x was lost to the
     * dropped B, C left with 2) */
    const char *have4[] = { "x", "c1", "c2" };
    plan_case("skipdropped",
              "id,url,landmark_id\nx,u,A\nam1,u,A\nx,u,B\nbm1,u,B\nbm2,u,B\nx,u,C\nc1,u,C\n"
              "c2,u,C\n",
              have4, 3, 2, &p, &s);
    REQUIRE(p.n_classes == 1);
    CHECK(strcmp(p.class_names[0], "C") == 0 && n_items(&p, "x.jpg") == 1 && s.planned == 3);
    CHECK(s.dropped == 2 && s.duplicate == 1 && count_reason(&p, "duplicate id") == 1);
    cxr_plan_free(&p);
}

/* The report's edges (specs/store.md, "--explore"): the 20 most frequent classes of 22 listed,
 * and the bins at their bounds: a class of 1000 rows is ">= 1000", one of 999 "< 1000", one of
 * 100 not "< 100", one of 10 not "< 10". */
static void test_explore_edges(void)
{
    char csv[600];
    snprintf(csv, sizeof csv, "%s/edges.csv", g_dir);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fputs("id,url,landmark_id\n", f);
    const int sizes[] = { 1000, 999, 100, 99, 10, 9 };
    int row = 0;
    for (int c = 0; c < 6; c++)
        for (int i = 0; i < sizes[c]; i++) fprintf(f, "r%d,u,s%d\n", row++, sizes[c]);
    for (int c = 0; c < 16; c++) fprintf(f, "r%d,u,t%02d\n", row++, c); /* 16 of 1 row */
    REQUIRE(fclose(f) == 0);
    cxr_manifest_stats s;
    CHECK_OK(cxr_manifest_explore(&s, csv, 0));
    CHECK(s.n_classes == 22 && s.rows == row);
    CHECK(s.n_top == 20);
    if (s.n_top == 20)
        CHECK(!strcmp(s.top[0].label, "s1000") && s.top[0].count == 1000 &&
              !strcmp(s.top[19].label, "t13") && s.top[19].count == 1);
    CHECK(s.classes_ge1000 == 1);
    CHECK(s.classes_lt1000 == 21);
    CHECK(s.classes_lt100 == 19); /* 99, 10, 9 and the 16 */
    CHECK(s.classes_lt10 == 17);  /* 9 and the 16 */
    cxr_manifest_stats_free(&s);
}

static void test_explore(void)
{
    cxr_manifest_stats s;
    char *text = NULL, want[4096];
    CHECK_OK(cxr_manifest_explore(&s, g_csv, 0));
    CHECK(s.rows == 33 && s.n_classes == 5 && s.malformed == 2);
    CHECK_OK(cxr_manifest_explore_format(&s, &text));
    snprintf(want, sizeof want,
             "manifest: %s\n"
             "rows: 33\n"
             "columns: landmark_id, id, url\n"
             "malformed lines: 2 (first at line 24)\n"
             "missing values (empty or None):\n"
             "  landmark_id: 3\n"
             "  id: 1\n"
             "  url: 2\n"
             "unique classes: 5\n"
             "top 5 classes (label: usable rows):\n"
             "   1. 7: 10\n" /* not 11: a row of 7 lacks its id or url, as packing counts */
             "   2. 5: 6\n"
             "   3. 42: 6\n"
             "   4. 100: 3\n"
             "   5. abc: 2\n"
             "classes with < 10 images: 4\n"
             "classes with < 100 images: 5\n"
             "classes with < 1000 images: 5\n"
             "classes with >= 1000 images: 0\n",
             g_csv);
    CHECK(text && strcmp(text, want) == 0);
    if (text && strcmp(text, want)) fprintf(stderr, "got:\n%s\nwant:\n%s", text, want);
    free(text);
    cxr_manifest_stats_free(&s);
    /* strict exploration stops at the first malformed line */
    CHECK(cxr_manifest_explore(&s, g_csv, 1) == CXR_E_FORMAT);
    snprintf(want, sizeof want, "%s: line 24: 4 fields, expected 3", g_csv);
    CHECK(strcmp(cxr_last_error(), want) == 0);
}

/* An id of fewer than three characters has the flat layout only: "ab"'s image where a nested
 * layout of three characters would look for it (a/b/ab.jpg: its third character taken from past
 * its end) is not found; "abc" in the same folders is. */
static void test_short_id_flat_only(void)
{
    cxr_pack_plan p;
    cxr_manifest_summary s;
    char path[800];
    const char *dirs[] = { "short", "short/images", "short/images/a", "short/images/a/b" };
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, dirs[i]);
        REQUIRE(fixture_mkdir(path) == 0);
    }
    snprintf(path, sizeof path, "%s/short/images/a/b/ab.jpg", g_dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f && fputs("x", f) >= 0 && fclose(f) == 0);
    const char *have[] = { "abc" };
    plan_case("short", "id,url,landmark_id\nabc,u,A\nab,u,A\n", have, 1, 1, &p, &s);
    CHECK(s.planned == 1 && n_items(&p, "abc.jpg") == 1);
    CHECK(s.not_found == 1 && has_skip(&p, "ab", "image not found"));
    cxr_plan_free(&p);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/cxr-manifest-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    REQUIRE(mkdtemp(g_dir));
    REQUIRE(fixture_write(g_dir) == 0);
    snprintf(g_csv, sizeof g_csv, "%s/manifest.csv", g_dir);
    snprintf(g_img, sizeof g_img, "%s/images", g_dir);
    test_top3();
    test_options();
    test_dropped_holder();
    test_short_id_flat_only();
    test_drop_order();
    test_name_cycle();
    test_sequential_ids();
    test_explore();
    test_explore_edges();
    if (!cxr_test_failures) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    } else {
        fprintf(stderr, "fixture kept in %s\n", g_dir);
    }
    TEST_END();
}
