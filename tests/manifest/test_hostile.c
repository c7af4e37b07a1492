/* test_hostile.c: manifests a careless or hostile user writes (specs/store.md, "Manifest
 * inputs"): a header row repeated in the middle (two CSVs concatenated) is a malformed line,
 * not a phantom class; labels " 1" and "1 " are the label "1" (spaces and tabs around a label
 * are removed); a repeated header that starts with a byte-order mark is one too; lines ended
 * by CR alone are refused saying so; a column named twice in the header is refused naming the
 * file and column; a
 * long manifest path, a NUL byte, a two-row class and labels "5"/"05" (test below); the edges
 * of the rules: bad ids ('.', '\', 251/252 bytes), pass 1's usable rows, the class count and
 * class-name limits, a header row needing all three names, a file of only a BOM, a file in
 * UTF-16, and the flat layout tried first.
 * The images are empty files: planning only checks that they exist. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
 * classes in a fixed order, fewer leading zeros first; the train row given back is val's. */
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
    int64_t train_rows[2] = { 0, 0 }, test_rows[2] = { 0, 0 }, val_rows = 0;
    for (int k = 0; k < p.n_splits; k++)
        for (int64_t i = 0; i < p.splits[k].n; i++) {
            const int32_t c = p.splits[k].items[i].label;
            if (!strcmp(p.splits[k].name, "train")) train_rows[c]++;
            if (!strcmp(p.splits[k].name, "test")) test_rows[c]++;
            if (!strcmp(p.splits[k].name, "val")) val_rows++;
        }
    CHECK(train_rows[0] == 1 && train_rows[1] == 1); /* 2 rows: 1 test, 0 val, 1 train */
    /* round(0.6) = 1 each to test and val would leave no train row: val gives its row back */
    CHECK(test_rows[0] == 1 && test_rows[1] == 1 && val_rows == 0);
    cxr_plan_free(&p);
}

/* csv planned with the default options but no val or test split (every usable row in train). */
static cxr_status plan_unsplit(cxr_pack_plan *p, const char *csv, cxr_manifest_summary *s)
{
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.val_fraction = o.test_fraction = 0;
    return cxr_plan_from_manifest(p, csv, g_dir, &o, s);
}

/* Rule 4 (specs/store.md): an id starting with '.' or holding '\' is a bad id even with its file
 * there (ids become paths); an id of 251 bytes, the longest whose <id>.jpg fits a file name, is
 * an id like any other, one of 252 is bad and recorded by its line; a '.' inside an id is fine. */
static void test_id_rules(void)
{
    char csv[512], want[700], text[1400];
    char id251[252], id252[253];
    memset(id251, 'i', 251);
    id251[251] = 0;
    memset(id252, 'j', 252);
    id252[252] = 0;
    snprintf(csv, sizeof csv, "%s/ids.csv", g_dir);
    snprintf(text, sizeof text,
             "id,url,landmark_id\n.hid,u,1\na.b,u,1\nback\\slash,u,1\n%s,u,1\n%s,u,1\n", id251,
             id252);
    write_file(csv, text);
    touch_images((const char *[]){ ".hid", "a.b", "back\\slash", id251 }, 4);
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(plan_unsplit(&p, csv, &s));
    CHECK(s.bad_id == 3 && s.planned == 2);
    CHECK(has_skip(&p, ".hid", "bad id"));
    CHECK(has_skip(&p, "back\\slash", "bad id"));
    snprintf(want, sizeof want, "%s:6", csv);
    CHECK(has_skip(&p, want, "bad id")); /* the 252-byte id, by its line */
    char rel[260];
    snprintf(rel, sizeof rel, "%s.jpg", id251);
    int found = 0;
    for (int64_t i = 0; p.n_splits == 1 && i < p.splits[0].n; i++)
        found +=
            !strcmp(p.splits[0].items[i].rel, rel) || !strcmp(p.splits[0].items[i].rel, "a.b.jpg");
    CHECK(found == 2);
    cxr_plan_free(&p);
}

/* Pass 1 counts the rows that pass rules 1-2 (an id, a url and a label): a class with more rows
 * but fewer usable ones loses the --top-classes slot. */
static void test_pass1_usable_rows(void)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s/usable.csv", g_dir);
    write_file(csv, "id,url,landmark_id\nu1,,A\n,u,A\nu3,None,A\nu4,u,A\nv1,u,B\nv2,u,B\n");
    touch_images((const char *[]){ "u1", "u3", "u4", "v1", "v2" }, 5);
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.top_classes = 1;
    o.val_fraction = o.test_fraction = 0;
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s));
    CHECK(p.n_classes == 1 && !strcmp(p.class_names[0], "B"));
    CHECK(s.missing == 3 && s.planned == 2 && s.other_class == 1);
    cxr_plan_free(&p);
    cxr_manifest_stats st; /* --explore counts them the same way */
    CHECK_OK(cxr_manifest_explore(&st, csv, 0));
    CHECK(st.n_top == 2 && !strcmp(st.top[0].label, "B") && st.top[0].count == 2 &&
          st.top[1].count == 1);
    cxr_manifest_stats_free(&st);
}

/* The limits on selected classes, at their edges: 4096 classes pass the selection (the plan then
 * fails for want of images), 4097 are refused naming the count; a label of CXR_CLASS_NAME_MAX
 * (4096) bytes is a class name, one byte more is refused. */
static void test_class_limits(void)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s/many.csv", g_dir);
    FILE *f = fopen(csv, "w");
    REQUIRE(f);
    fputs("id,url,landmark_id\n", f);
    for (int i = 0; i < 4097; i++) fprintf(f, "n%d,u,L%d\n", i, i);
    REQUIRE(fclose(f) == 0);
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_ARG);
    CHECK(strstr(cxr_last_error(), "4097 classes selected, a store holds at most 4096") != NULL);
    o.top_classes = 4096;
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "no image found under") != NULL);

    static char text[2 * 4200];
    char label[4098];
    memset(label, 'L', sizeof label - 1);
    label[4096] = 0; /* 4096 bytes */
    snprintf(csv, sizeof csv, "%s/longlabel.csv", g_dir);
    snprintf(text, sizeof text, "id,url,landmark_id\nk1,u,%s\n", label);
    write_file(csv, text);
    touch_images((const char *[]){ "k1" }, 1);
    cxr_manifest_options_defaults(&o);
    CHECK_OK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s));
    CHECK(p.n_classes == 1 && strlen(p.class_names[0]) == 4096);
    cxr_plan_free(&p);
    label[4096] = 'L';
    label[4097] = 0; /* 4097 bytes */
    snprintf(text, sizeof text, "id,url,landmark_id\nk1,u,%s\n", label);
    write_file(csv, text);
    CHECK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s) == CXR_E_FORMAT); /* no class left */
    CHECK(strstr(cxr_last_error(),
                 "line 2: label of 4097 bytes, longer than a class name may be (4096)") != NULL);
    /* ... beside a row of a class that fits: that row's class is packed, the long one skipped,
     * named and counted (one such row stopped the whole pack before 0.24) */
    snprintf(text, sizeof text, "id,url,landmark_id\nk1,u,%s\nk2,u,short\n", label);
    write_file(csv, text);
    touch_images((const char *[]){ "k2" }, 1);
    CHECK_OK(cxr_plan_from_manifest(&p, csv, g_dir, &o, &s));
    CHECK(p.n_classes == 1 && strcmp(p.class_names[0], "short") == 0 && s.long_label == 1 &&
          p.n_skipped == 1 && strcmp(p.skipped[0].path, "k1") == 0 &&
          strcmp(p.skipped[0].reason,
                 "label of 4097 bytes, longer than a class name may be (4096)") == 0);
    cxr_plan_free(&p);
    /* --explore's classes are a pack's: the long label is none (it was the top class) */
    cxr_manifest_stats es;
    CHECK_OK(cxr_manifest_explore(&es, csv, 0));
    CHECK(es.n_classes == 1 && es.n_top == 1 && strcmp(es.top[0].label, "short") == 0);
    cxr_manifest_stats_free(&es);
}

/* A repeated header is all three names: a data row with id "id" and url "url" but a label is a
 * row like any other (its image id.jpg packed), not a header. */
static void test_header_row_needs_all_three(void)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s/idrow.csv", g_dir);
    write_file(csv, "id,url,landmark_id\nid,url,7\nq1,u,7\n");
    touch_images((const char *[]){ "id", "q1" }, 2);
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(plan_unsplit(&p, csv, &s));
    CHECK(s.malformed == 0 && s.planned == 2);
    cxr_plan_free(&p);
}

/* A file that is only a byte-order mark (an empty sheet saved as "CSV UTF-8") has no header. */
static void test_bom_only(void)
{
    char csv[512];
    snprintf(csv, sizeof csv, "%s/bomonly.csv", g_dir);
    write_file(csv, "\xEF\xBB\xBF");
    cxr_manifest_stats st;
    CHECK(cxr_manifest_explore(&st, csv, 0) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "empty file (no header line)") != NULL);
}

/* A manifest saved as UTF-16 (PowerShell's "> train.csv", a spreadsheet's "Unicode Text"), with
 * its byte-order mark or without, little- or big-endian: named as such, for explore and pack (it
 * read as "line 1: NUL byte in the line"). */
static void test_utf16(void)
{
    static const char text[] = "id,url,landmark_id\na1,u,1\n";
    static const char *const boms[] = { "\xFF\xFE", "\xFE\xFF", "", "" };
    for (int k = 0; k < 4; k++) {
        char csv[512];
        snprintf(csv, sizeof csv, "%s/utf16-%d.csv", g_dir, k);
        FILE *f = fopen(csv, "wb");
        REQUIRE(f);
        fputs(boms[k], f);
        for (const char *c = text; *c; c++) { /* k odd: big-endian */
            if (k % 2) fputc(0, f);
            fputc(*c, f);
            if (!(k % 2)) fputc(0, f);
        }
        REQUIRE(fclose(f) == 0);
        cxr_manifest_stats st;
        CHECK(cxr_manifest_explore(&st, csv, 0) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "is UTF-16 text, not UTF-8") != NULL);
        cxr_pack_plan p;
        memset(&p, 0, sizeof p);
        cxr_manifest_summary s;
        CHECK(plan_unsplit(&p, csv, &s) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "is UTF-16 text, not UTF-8") != NULL);
        cxr_plan_free(&p);
    }
}

/* A file that is no text given as the manifest (a store, a workbook, a gzipped CSV, an image):
 * named by what it is, for explore and pack (a store read as a header "with no 'id' column
 * (its columns: '\x89HDF')"). */
static void test_binary(void)
{
    static const struct {
        const char *head, *said;
        size_t n;
    } kinds[] = {
        { "\x89HDF\r\n\x1a\n\0\0", "is an HDF5 file (a cxr store or model?), not a CSV manifest", 10 },
        { "PK\x03\x04\x14\0", "is a zip archive (an Excel workbook?", 6 },
        { "\x1f\x8b\x08\0", "is gzip-compressed (gunzip it first), not a CSV manifest", 4 },
        { "\xff\xd8\xff\xe0\0\x10JFIF", "is a JPEG image, not a CSV manifest", 10 },
    };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
        char csv[512];
        snprintf(csv, sizeof csv, "%s/binary-%zu.csv", g_dir, k);
        FILE *f = fopen(csv, "wb");
        REQUIRE(f && fwrite(kinds[k].head, 1, kinds[k].n, f) == kinds[k].n);
        fputs("id,url,landmark_id\n", f); /* a header further on is not read as one */
        REQUIRE(fclose(f) == 0);
        cxr_manifest_stats st;
        CHECK(cxr_manifest_explore(&st, csv, 0) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), kinds[k].said) != NULL);
        cxr_pack_plan p;
        memset(&p, 0, sizeof p);
        cxr_manifest_summary s;
        CHECK(plan_unsplit(&p, csv, &s) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), kinds[k].said) != NULL);
        cxr_plan_free(&p);
    }
}

/* Rule 6: the flat layout is tried first; with both DIR/<id>.jpg and DIR/<a>/<b>/<c>/<id>.jpg
 * there, the plan holds the flat one. */
static void test_flat_first(void)
{
    char csv[512], path[700];
    snprintf(csv, sizeof csv, "%s/both.csv", g_dir);
    write_file(csv, "id,url,landmark_id\nfgh1,u,1\n");
    touch_images((const char *[]){ "fgh1" }, 1);
    snprintf(path, sizeof path, "%s/f", g_dir);
    REQUIRE(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/f/g", g_dir);
    REQUIRE(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/f/g/h", g_dir);
    REQUIRE(mkdir(path, 0755) == 0);
    snprintf(path, sizeof path, "%s/f/g/h/fgh1.jpg", g_dir);
    write_file(path, "");
    cxr_pack_plan p;
    cxr_manifest_summary s;
    CHECK_OK(plan_unsplit(&p, csv, &s));
    CHECK(s.planned == 1 && p.n_splits == 1 && p.splits[0].n == 1 &&
          !strcmp(p.splits[0].items[0].rel, "fgh1.jpg"));
    cxr_plan_free(&p);
}

/* No image found for any row: the error says why where the first row shows it, ids that end
 * in .jpg (a file name given for the id) or an image there as <id>.jpeg (a new user's walk:
 * the Kaggle images are .jpeg; the error named only what was looked for). */
static void test_not_found_hint(void)
{
    char csv[512], path[700];
    cxr_pack_plan p;
    cxr_manifest_summary s;
    snprintf(csv, sizeof csv, "%s/suffix.csv", g_dir);
    write_file(csv, "id,url,landmark_id\nsfx1.jpg,u,1\n");
    touch_images((const char *[]){ "sfx1" }, 1);
    CHECK(plan_unsplit(&p, csv, &s) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "; the ids end in .jpg (sfx1.jpg): an id names its image "
                                   "without it") != NULL);
    snprintf(csv, sizeof csv, "%s/jpeg.csv", g_dir);
    write_file(csv, "id,url,landmark_id\njpg1,u,1\n");
    snprintf(path, sizeof path, "%s/jpg1.jpeg", g_dir);
    write_file(path, "");
    char want[800];
    snprintf(want, sizeof want,
             "; %s is there: images are looked for as <id>.jpg only, flat or nested", path);
    CHECK(plan_unsplit(&p, csv, &s) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), want) != NULL);
    snprintf(csv, sizeof csv, "%s/none.csv", g_dir);
    write_file(csv, "id,url,landmark_id\nnone1,u,1\n");
    CHECK(plan_unsplit(&p, csv, &s) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "<id>.jpg)") && !strstr(cxr_last_error(), "<id>.jpg); "));
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
    test_id_rules();
    test_pass1_usable_rows();
    test_class_limits();
    test_header_row_needs_all_three();
    test_bom_only();
    test_utf16();
    test_binary();
    test_flat_first();
    test_not_found_hint();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    TEST_END();
}
