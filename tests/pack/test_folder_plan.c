/* test_folder_plan.c: unit tests of the pack plan (tests/pack): patient ids, the tree scanner's
 * rules (sorted classes and files, hidden/system files ignored, non-JPEG files skipped, missing
 * folders) and the patient-grouped val split (disjoint, stratified, deterministic). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxr_pack.h"
#include "cxr_test.h"

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    REQUIRE(f);
    fputs("x", f);
    fclose(f);
}

static void mk(const char *root, const char *sub)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, sub);
    mkdir(p, 0755);
}

static void check_id(const char *name, const char *want)
{
    char id[64];
    cxr_patient_id(id, sizeof id, name);
    if (strcmp(id, want)) fprintf(stderr, "patient id of %s: got %s, want %s\n", name, id, want);
    CHECK(strcmp(id, want) == 0);
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    check_id("train/PNEUMONIA/person1_bacteria_1.jpeg", "person1");
    check_id("person1000_virus_1681.jpeg", "person1000");
    check_id("IM-0115-0001.jpeg", "IM-0115");
    check_id("IM-0435-0001-0002.jpeg", "IM-0435");
    check_id("NORMAL2-IM-0381-0001.jpeg", "NORMAL2-IM-0381");
    check_id("scan_17.jpg", "scan_17");
    check_id("personX_1.jpg", "personX_1");

    /* a generated tree */
    char root[] = "/tmp/cxr_plan_XXXXXX";
    REQUIRE(mkdtemp(root));
    mk(root, "train");
    mk(root, "test");
    mk(root, "train/b");
    mk(root, "train/a");
    mk(root, "test/c");
    mk(root, "test/a");
    mk(root, "train/d"); /* no image in any split: no class (drop_empty_classes) */
    mk(root, "test/d");
    mk(root, "train/.hidden");
    char d[600];
    snprintf(d, sizeof d, "%s/train/b", root);
    touch(d, "z.jpg");
    touch(d, "B.JPEG");
    touch(d, "UPPER.JPG"); /* .jpg in any case, as .jpeg */
    touch(d, "a.jpeg");
    touch(d, ".DS_Store");
    touch(d, "Thumbs.db");
    touch(d, "desktop.ini");
    touch(d, "notes.txt");
    touch(d, "._a.jpg");
    snprintf(d, sizeof d, "%s/train", root);
    touch(d, "loose.jpg");
    snprintf(d, sizeof d, "%s/test/c", root);
    touch(d, "1.jpg");
    snprintf(d, sizeof d, "%s/test/a", root);
    touch(d, "2.jpg"); /* a: a class of test alone (train/a empty) */
    snprintf(d, sizeof d, "%s/test/d", root);
    touch(d, "d.txt");

    cxr_pack_plan plan;
    CHECK_OK(cxr_plan_from_tree(&plan, root));
    CHECK(plan.n_classes == 3);
    if (plan.n_classes == 3) {
        CHECK(!strcmp(plan.class_names[0], "a") && !strcmp(plan.class_names[1], "b") &&
              !strcmp(plan.class_names[2], "c"));
    }
    CHECK(plan.n_splits == 2);
    CHECK(!strcmp(plan.splits[0].name, "train") && !strcmp(plan.splits[1].name, "test"));
    CHECK(plan.splits[0].n == 4);
    if (plan.splits[0].n == 4) { /* bytewise: "B.JPEG" < "UPPER.JPG" < "a.jpeg" < "z.jpg" */
        CHECK(!strcmp(plan.splits[0].items[0].rel, "train/b/B.JPEG"));
        CHECK(!strcmp(plan.splits[0].items[1].rel, "train/b/UPPER.JPG"));
        CHECK(!strcmp(plan.splits[0].items[2].rel, "train/b/a.jpeg"));
        CHECK(!strcmp(plan.splits[0].items[3].rel, "train/b/z.jpg"));
        CHECK(plan.splits[0].items[0].label == 1);
    }
    CHECK(plan.splits[1].n == 2 && plan.splits[1].items[0].label == 0 &&
          plan.splits[1].items[1].label == 2); /* test/a/2.jpg, test/c/1.jpg */
    /* loose.jpg (no class folder), notes.txt, d.txt, and d's two folders */
    CHECK(plan.n_skipped == 5);
    /* each with its own reason */
    for (int64_t k = 0; k < plan.n_skipped; k++) {
        const cxr_pack_skip *sk = &plan.skipped[k];
        if (strstr(sk->path, "loose.jpg")) {
            if (strcmp(sk->reason, "not inside a class folder"))
                fprintf(stderr, "%s skipped for: %s\n", sk->path, sk->reason);
            CHECK(!strcmp(sk->path, "train/loose.jpg") &&
                  !strcmp(sk->reason, "not inside a class folder"));
        } else if (!strcmp(sk->path, "train/d") || !strcmp(sk->path, "test/d")) {
            CHECK(!strcmp(sk->reason, "a class folder without a .jpg/.jpeg file in any split: "
                                      "no class of the store"));
        } else if (!strcmp(sk->path, "test/d/d.txt")) {
            CHECK(!strcmp(sk->reason, "not a .jpg/.jpeg file"));
        } else {
            if (!strstr(sk->path, "notes.txt") || strcmp(sk->reason, "not a .jpg/.jpeg file"))
                fprintf(stderr, "%s skipped for: %s\n", sk->path, sk->reason);
            CHECK(!strcmp(sk->path, "train/b/notes.txt") &&
                  !strcmp(sk->reason, "not a .jpg/.jpeg file"));
        }
    }
    cxr_plan_free(&plan);

    /* missing test/ */
    snprintf(d, sizeof d, "rm -rf '%s/test'", root);
    CHECK(system(d) == 0);
    cxr_status st = cxr_plan_from_tree(&plan, root);
    CHECK(st == CXR_E_FORMAT && strstr(cxr_last_error(), "test"));
    snprintf(d, sizeof d, "rm -rf '%s'", root);
    CHECK(system(d) == 0);
    CHECK(cxr_plan_from_tree(&plan, "/nonexistent/cxr") == CXR_E_ARG);

    /* val split on the sample: disjoint patients, stratified, deterministic */
    cxr_pack_plan p1, p2;
    CHECK_OK(cxr_plan_from_tree(&p1, argv[1]));
    CHECK_OK(cxr_plan_from_tree(&p2, argv[1]));
    int64_t n_train = p1.splits[0].n;
    CHECK_OK(cxr_plan_split_val_by_patient(&p1, 0.25));
    CHECK_OK(cxr_plan_split_val_by_patient(&p2, 0.25));
    REQUIRE(p1.n_splits == 3 && !strcmp(p1.splits[1].name, "val") &&
            !strcmp(p1.splits[2].name, "test"));
    CHECK(p1.splits[0].n + p1.splits[1].n == n_train);
    CHECK(p1.splits[1].n > 0);
    for (int c = 0; c < p1.n_classes; c++) {
        int64_t nv = 0;
        for (int64_t i = 0; i < p1.splits[1].n; i++) nv += p1.splits[1].items[i].label == c;
        CHECK(nv > 0); /* stratified: every class present in val */
    }
    CHECK(p1.splits[1].n == p2.splits[1].n);
    for (int64_t i = 0; i < p1.splits[1].n && i < p2.splits[1].n; i++)
        CHECK(!strcmp(p1.splits[1].items[i].rel, p2.splits[1].items[i].rel));
    for (int64_t i = 0; i < p1.splits[0].n; i++) {
        char a[128], b[128];
        cxr_patient_id(a, sizeof a, p1.splits[0].items[i].rel);
        for (int64_t j = 0; j < p1.splits[1].n; j++) {
            cxr_patient_id(b, sizeof b, p1.splits[1].items[j].rel);
            if (!strcmp(a, b)) fprintf(stderr, "patient %s in train and val\n", a);
            CHECK(strcmp(a, b) != 0);
        }
    }
    CHECK(cxr_plan_split_val_by_patient(&p1, 0.25) == CXR_E_ARG); /* val exists now */
    cxr_plan_free(&p1);
    cxr_plan_free(&p2);
    TEST_END();
}
