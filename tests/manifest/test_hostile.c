/* test_hostile.c: manifests a careless or hostile user writes (specs/store.md, "Manifest
 * inputs"): a header row repeated in the middle (two CSVs concatenated) is a malformed line,
 * not a phantom class; labels " 1" and "1 " are the label "1" (spaces and tabs around a label
 * are removed); a repeated header that starts with a byte-order mark is one too; lines ended
 * by CR alone are refused saying so; a column named twice in the header is refused naming the
 * file and column; a
 * long manifest path, a NUL byte, a two-row class and labels "5"/"05" (test below).
 * The images are empty files: planning only checks that they exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_manifest.h"
#include "cxr_pack.h"
#include "cxr_test.h"

static char g_dir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    REQUIRE(fputs(text, f) >= 0);
    REQUIRE(fclose(f) == 0);
}

/* Empty files g_dir/<id>.jpg: planning only checks that the images exist. */
static void touch_images(const char *const *ids, int n)
{
    for (int i = 0; i < n; i++) {
        char img[600];
        snprintf(img, sizeof img, "%s/%s.jpg", g_dir, ids[i]);
        write_file(img, "");
    }
}

static int has_skip(const cxr_pack_plan *p, const char *path, const char *reason)
{
    for (int64_t i = 0; i < p->n_skipped; i++)
        if (!strcmp(p->skipped[i].path, path) && !strcmp(p->skipped[i].reason, reason)) return 1;
    return 0;
}

static void test_header_and_spaces(void)
{
    char csv[512], want[700];
    snprintf(csv, sizeof csv, "%s/cat.csv", g_dir);
    write_file(csv, "id,url,landmark_id\n"
                    "a1,u,1\n"
                    "a2,u, 1\n"
                    "a3,u,\"1 \"\n"
                    "id,url,landmark_id\n"
                    "b1,u,2\n"
                    "b2,u,\t2\n"
                    "c1,u, \n");
    touch_images((const char *[]){ "a1", "a2", "a3", "b1", "b2", "c1" }, 6);
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s));
    CHECK(p.n_classes == 2);
    if (p.n_classes == 2) {
        CHECK(!strcmp(p.class_names[0], "1"));
        CHECK(!strcmp(p.class_names[1], "2"));
    }
    CHECK(s.classes_total == 2);
    CHECK(s.malformed == 1);
    CHECK(s.missing == 1); /* " " is an empty label */
    snprintf(want, sizeof want, "%s:5", csv);
    CHECK(has_skip(&p, want, "malformed line: repeated header row"));
    cxr_plan_free(&p);

    cxr_manifest_stats st;
    CHECK_OK(cxr_manifest_explore(&st, csv, 0));
    CHECK(st.n_classes == 2);
    CHECK(st.malformed == 1 && st.first_malformed_line == 5);
    CHECK(st.n_top == 2 && !strcmp(st.top[0].label, "1") && st.top[0].count == 3);
    CHECK(st.missing[2] == 1); /* " " counted as pack counts it (it was in no count at all) */
    cxr_manifest_stats_free(&st);

    o.strict = 1;
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_FORMAT);
    snprintf(want, sizeof want, "%s: line 5: repeated header row", csv);
    CHECK(strcmp(cxr_last_error(), want) == 0);
    CHECK(cxr_manifest_explore(&st, csv, 1) == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), want) == 0);
}

/* Two CSV files that each start with a byte-order mark (Excel's "CSV UTF-8"), concatenated:
 * the second header keeps its mark at its line's start, and is still a repeated header, not a
 * class "landmark_id" that could take a --top-classes slot from a real one. */
static void test_header_with_bom(void)
{
    char csv[512], want[700];
    snprintf(csv, sizeof csv, "%s/bom.csv", g_dir);
    write_file(csv, "\xEF\xBB\xBFid,url,landmark_id\nm1,u,m\nm2,u,m\n"
                    "\xEF\xBB\xBFid,url,landmark_id\nx1,u,x\n"
                    "\xEF\xBB\xBFid,url,landmark_id\n");
    touch_images((const char *[]){ "m1", "m2", "x1" }, 3);
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.top_classes = 2;
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s));
    CHECK(p.n_classes == 2 && s.malformed == 2);
    if (p.n_classes == 2) CHECK(!strcmp(p.class_names[0], "m") && !strcmp(p.class_names[1], "x"));
    snprintf(want, sizeof want, "%s:4", csv);
    CHECK(has_skip(&p, want, "malformed line: repeated header row"));
    cxr_plan_free(&p);
    cxr_manifest_stats st;
    CHECK_OK(cxr_manifest_explore(&st, csv, 0));
    CHECK(st.n_classes == 2 && st.malformed == 2 && st.first_malformed_line == 4);
    cxr_manifest_stats_free(&st);
    o.strict = 1;
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_FORMAT);
    snprintf(want, sizeof want, "%s: line 4: repeated header row", csv);
    CHECK(strcmp(cxr_last_error(), want) == 0);
}

/* Lines ended by CR alone (classic Mac OS) read as one line: the message says so, rather than
 * naming a column that "appears twice" */
static void test_cr_only(void)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s/cr.csv", g_dir);
    write_file(csv, "id,url,landmark_id\ra1,u,1\ra2,u,2\r");
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "cr.csv: line 1: a carriage return inside the header") &&
          strstr(cxr_last_error(), "convert the file to LF or CRLF"));
    cxr_manifest_stats st;
    CHECK(cxr_manifest_explore(&st, csv, 0) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "CR alone"));
}

static void test_duplicate_column(void)
{
    char csv[512], want[700];
    snprintf(csv, sizeof csv, "%s/dup.csv", g_dir);
    write_file(csv, "id,url,landmark_id,id\na1,u,1,a9\n");
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    cxr_pack_plan p;
    cxr_manifest_summary s;
    snprintf(want, sizeof want, "%s: header: column 'id' appears twice (columns 1 and 4)", csv);
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), want) == 0);
    cxr_manifest_stats st;
    CHECK(cxr_manifest_explore(&st, csv, 0) == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), want) == 0);
    /* of several, the name whose second column comes first, with its first column */
    write_file(csv, "x,id,y,url,y,landmark_id,x\na,b,c,d,e,f,g\n");
    snprintf(want, sizeof want, "%s: header: column 'y' appears twice (columns 3 and 5)", csv);
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), want) == 0);
    /* unnamed columns may repeat (a spreadsheet's trailing commas): nothing reads them */
    write_file(csv, "id,url,landmark_id,,\na1,u,1,,\n");
    CHECK(cxr_manifest_explore(&st, csv, 1) == CXR_OK && st.n_columns == 5 && st.rows == 1);
    cxr_manifest_stats_free(&st);
}

/* A malformed line's reason comes from the reader, not from the error message parsed back (a
 * manifest path longer than the message buffer left the reason empty and read past it); a NUL
 * byte makes a line malformed (a label "x\0y" was class "x", like "x\0z"); a class of two rows
 * with val and test fractions 0.3 keeps a train row; labels "5" and "05" (equal counts) are two
 * classes in a fixed order, fewer leading zeros first. */
static void test_long_path_nul_tiny_class(void)
{
    char csv[1400], want[1500];
    int n = snprintf(csv, sizeof csv, "%s/", g_dir);
    while (n < 1150) n += snprintf(csv + n, sizeof csv - (size_t)n, "./");
    snprintf(csv + n, sizeof csv - (size_t)n, "long.csv");
    static const char text[] = "id,url,landmark_id\n"
                               "a1,u,5\n"
                               "a2,u,05\n"
                               "a3,\"u,5\n"
                               "a4,u,x\0y\n"
                               "a5,u,5\n"
                               "a6,u,05\n";
    FILE *f = fopen(csv, "w");
    REQUIRE(f && fwrite(text, 1, sizeof text - 1, f) == sizeof text - 1 && fclose(f) == 0);
    touch_images((const char *[]){ "a1", "a2", "a3", "a4", "a5", "a6" }, 6);
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.val_fraction = 0.3;
    o.test_fraction = 0.3;
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s));
    CHECK(s.malformed == 2);
    snprintf(want, sizeof want, "%s:4", csv);
    CHECK(has_skip(&p, want, "malformed line: unterminated quote"));
    snprintf(want, sizeof want, "%s:5", csv);
    CHECK(has_skip(&p, want, "malformed line: NUL byte in the line"));
    CHECK(p.n_classes == 2);
    if (p.n_classes == 2) CHECK(!strcmp(p.class_names[0], "5") && !strcmp(p.class_names[1], "05"));
    int64_t train_rows[2] = { 0, 0 };
    for (int k = 0; k < p.n_splits; k++)
        if (!strcmp(p.splits[k].name, "train"))
            for (int64_t i = 0; i < p.splits[k].n; i++) train_rows[p.splits[k].items[i].label]++;
    CHECK(train_rows[0] == 1 && train_rows[1] == 1); /* 2 rows: 1 test, 0 val, 1 train */
    cxr_plan_free(&p);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/cxr-manifest-hostile-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    REQUIRE(mkdtemp(g_dir));
    test_header_and_spaces();
    test_duplicate_column();
    test_header_with_bom();
    test_cr_only();
    test_long_path_nul_tiny_class();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    TEST_END();
}
