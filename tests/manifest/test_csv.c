/* test_csv.c: unit tests of the manifest CSV reader (formats/cxr_manifest.h): quoted fields
 * with commas and doubled quotes, CRLF, empty fields, a BOM, header columns found by name in
 * any order, a missing column named in the error, and malformed lines named by line number
 * (the reader goes on after them). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_manifest.h"
#include "cxr_test.h"

static int field_is(const cxr_csv_field *f, const char *s)
{
    return f->len == strlen(s) && memcmp(f->s, s, f->len) == 0;
}

static void test_quoted_crlf_empty(void)
{
    const char text[] = "\xEF\xBB\xBFid,url,landmark_id\r\n"
                        "a1,\"http://x/a,b\",12\r\n"
                        "\"a\"\"2\",\"say \"\"hi\"\"\",\r\n"
                        "\r\n"
                        ",,\n"
                        "a4,\"\",None"; /* no final newline */
    cxr_csv *r = NULL;
    const cxr_csv_field *f;
    int n;
    int64_t line;
    CHECK_OK(cxr_csv_open_mem(&r, text, sizeof text - 1, "t.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    REQUIRE(n == 3);
    CHECK(line == 1);
    CHECK(field_is(&f[0], "id"));          /* BOM stripped */
    CHECK(field_is(&f[2], "landmark_id")); /* CR stripped */
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    REQUIRE(n == 3);
    CHECK(line == 2);
    CHECK(field_is(&f[0], "a1"));
    CHECK(field_is(&f[1], "http://x/a,b"));
    CHECK(field_is(&f[2], "12"));
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    REQUIRE(n == 3);
    CHECK(field_is(&f[0], "a\"2"));
    CHECK(field_is(&f[1], "say \"hi\""));
    CHECK(f[2].len == 0);
    CHECK(cxr_csv_missing(&f[2]));
    CHECK_OK(cxr_csv_next(r, &f, &n, &line)); /* the blank CRLF line is skipped */
    REQUIRE(n == 3);
    CHECK(line == 5);
    CHECK(f[0].len == 0 && f[1].len == 0 && f[2].len == 0);
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    REQUIRE(n == 3);
    CHECK(line == 6);
    CHECK(field_is(&f[0], "a4"));
    CHECK(f[1].len == 0);
    CHECK(field_is(&f[2], "None"));
    CHECK(cxr_csv_missing(&f[2]));
    CHECK(!cxr_csv_missing(&f[0]));
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    CHECK(n == 0);
    CHECK_OK(cxr_csv_next(r, &f, &n, &line)); /* stays at the end */
    CHECK(n == 0);
    cxr_csv_destroy(r);
}

static void test_malformed(void)
{
    const char text[] = "id,url,label\n"
                        "a,\"open,1\n" /* line 2: unterminated quote */
                        "b,\"x\"y,1\n" /* line 3: text after a closing quote */
                        "a7\",u,17\n"  /* line 4: a quote inside an unquoted field */
                        "c,u,1\n";     /* line 5: fine, read after the errors */
    cxr_csv *r = NULL;
    const cxr_csv_field *f;
    int n;
    int64_t line;
    CHECK_OK(cxr_csv_open_mem(&r, text, sizeof text - 1, "bad.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    cxr_status st = cxr_csv_next(r, &f, &n, &line);
    CHECK(st == CXR_E_FORMAT);
    CHECK(line == 2);
    CHECK(strcmp(cxr_last_error(), "bad.csv: line 2: unterminated quote") == 0);
    st = cxr_csv_next(r, &f, &n, &line);
    CHECK(st == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), "bad.csv: line 3: text after a closing quote") == 0);
    st = cxr_csv_next(r, &f, &n, &line);
    CHECK(st == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), "bad.csv: line 4: quote inside an unquoted field") == 0);
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    REQUIRE(n == 3);
    CHECK(line == 5);
    CHECK(field_is(&f[0], "c"));
    cxr_csv_destroy(r);
}

static void test_columns(void)
{
    const char text[] = "landmark_id,extra,url,id\n";
    cxr_csv *r = NULL;
    const cxr_csv_field *f;
    int n;
    cxr_manifest_columns c;
    CHECK_OK(cxr_csv_open_mem(&r, text, sizeof text - 1, "perm.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, NULL));
    CHECK_OK(cxr_manifest_columns_find(&c, f, n, "perm.csv", 1, 1));
    CHECK(c.n_columns == 4 && c.label == 0 && c.url == 2 && c.id == 3);
    cxr_csv_destroy(r);

    const char t2[] = "id,url,label\n"; /* "label" accepted when there is no landmark_id */
    CHECK_OK(cxr_csv_open_mem(&r, t2, sizeof t2 - 1, "lab.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, NULL));
    CHECK_OK(cxr_manifest_columns_find(&c, f, n, "lab.csv", 1, 1));
    CHECK(c.id == 0 && c.url == 1 && c.label == 2);
    cxr_csv_destroy(r);

    const char t3[] = "id,url\n"; /* test.csv: fine without a label unless one is required */
    CHECK_OK(cxr_csv_open_mem(&r, t3, sizeof t3 - 1, "test.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, NULL));
    CHECK_OK(cxr_manifest_columns_find(&c, f, n, "test.csv", 1, 0));
    CHECK(c.label == -1);
    CHECK(cxr_manifest_columns_find(&c, f, n, "test.csv", 1, 1) == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), "test.csv: header has no 'landmark_id' or 'label' column (its "
                                   "columns: 'id', 'url')") == 0);
    cxr_csv_destroy(r);

    const char t4[] = "ID,url,landmark_id\n"; /* names are case-sensitive */
    CHECK_OK(cxr_csv_open_mem(&r, t4, sizeof t4 - 1, "case.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, NULL));
    CHECK(cxr_manifest_columns_find(&c, f, n, "case.csv", 1, 1) == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), "case.csv: header has no 'id' column (its columns: 'ID', "
                                   "'url', 'landmark_id')") == 0);
    cxr_csv_destroy(r);

    /* spaces after the commas are part of the names: the message shows them */
    const char t5[] = "id, url, landmark_id\n";
    CHECK_OK(cxr_csv_open_mem(&r, t5, sizeof t5 - 1, "sp.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, NULL));
    CHECK(cxr_manifest_columns_find(&c, f, n, "sp.csv", 1, 1) == CXR_E_FORMAT);
    CHECK(strcmp(cxr_last_error(), "sp.csv: header has no 'url' column (its columns: 'id', ' url', "
                                   "' landmark_id')") == 0);
    cxr_csv_destroy(r);

    /* both label columns: landmark_id is the label, wherever it stands; label is carried along */
    const char t6[] = "label,id,url,landmark_id\n";
    CHECK_OK(cxr_csv_open_mem(&r, t6, sizeof t6 - 1, "both.csv"));
    CHECK_OK(cxr_csv_next(r, &f, &n, NULL));
    CHECK_OK(cxr_manifest_columns_find(&c, f, n, "both.csv", 1, 1));
    CHECK(c.label == 3 && strcmp(c.label_name, "landmark_id") == 0);
    cxr_csv_destroy(r);
}

static void test_label_order(void)
{
    CHECK(cxr_label_cmp("5", 1, "42", 2) < 0); /* numeric, not "42" < "5" */
    CHECK(cxr_label_cmp("42", 2, "5", 1) > 0);
    CHECK(cxr_label_cmp("007", 3, "7", 1) > 0); /* the same number, two labels: fewer zeros first */
    CHECK(cxr_label_cmp("7", 1, "007", 3) < 0);
    CHECK(cxr_label_cmp("07", 2, "007", 3) < 0);
    CHECK(cxr_label_cmp("7", 1, "7", 1) == 0);
    CHECK(cxr_label_cmp("99999999999999999999999", 23, "100000000000000000000000", 24) < 0);
    CHECK(cxr_label_cmp("9", 1, "abc", 3) < 0); /* numbers before other labels */
    CHECK(cxr_label_cmp("ab", 2, "abc", 3) < 0);
    /* spaces and tabs around a label are not part of it, on either side */
    const char *padded[] = { "17", " 17", "17 ", "17\t", "\t17", " \t17\t ", "\t 17 \t" };
    for (size_t i = 0; i < sizeof padded / sizeof *padded; i++) {
        const cxr_csv_field f = { padded[i], strlen(padded[i]) }, t = cxr_manifest_label(&f);
        CHECK(t.len == 2 && memcmp(t.s, "17", 2) == 0);
    }
    const cxr_csv_field inner = { "a b", 3 }; /* inside, kept */
    CHECK(cxr_manifest_label(&inner).len == 3);
}

/* A new temporary file (its name in path), open for writing. */
static FILE *temp_file(char *path, size_t cap)
{
    snprintf(path, cap, "%s/cxr-csv-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    REQUIRE(f);
    return f;
}

/* Close f (a manifest written at path) and open a reader on it, past its header. */
static cxr_csv *reopen_past_header(FILE *f, const char *path)
{
    REQUIRE(fclose(f) == 0);
    cxr_csv *r = NULL;
    const cxr_csv_field *fl;
    int n;
    CHECK_OK(cxr_csv_open(&r, path));
    REQUIRE(r);
    CHECK_OK(cxr_csv_next(r, &fl, &n, NULL));
    CHECK(n == 3 && field_is(&fl[2], "landmark_id"));
    return r;
}

/* A file read in blocks: records across block boundaries and one line longer than a block
 * (6 MiB quoted field) come back whole, with the right line numbers, CRLF or not. */
static void test_blocks(void)
{
    char path[256];
    FILE *f = temp_file(path, sizeof path);
    const int rows = 300000, big_at = 150000;
    const size_t big = (size_t)6 << 20;
    fputs("id,url,landmark_id\r\n", f);
    for (int i = 0; i < rows; i++) {
        if (i == big_at) {
            fputs("big,\"", f);
            for (size_t k = 0; k < big; k++) fputc(k % 1000 == 999 ? ',' : 'u', f);
            fputs("\",1\n", f);
        } else {
            fprintf(f, "id%07d,http://host/path/%07d.jpg,%d%s", i, i, i % 97,
                    i % 2 ? "\r\n" : "\n");
        }
    }
    cxr_csv *r = reopen_past_header(f, path);
    const cxr_csv_field *fl;
    int n;
    int64_t line;
    int bad = 0;
    for (int i = 0; i < rows; i++) {
        CHECK_OK(cxr_csv_next(r, &fl, &n, &line));
        if (n != 3 || line != i + 2) {
            bad++;
            continue;
        }
        if (i == big_at) {
            CHECK(field_is(&fl[0], "big") && fl[1].len == big && field_is(&fl[2], "1"));
            CHECK(fl[1].s[0] == 'u' && fl[1].s[999] == ',' && fl[1].s[big - 1] == 'u');
            continue;
        }
        char id[32], lab[16];
        snprintf(id, sizeof id, "id%07d", i);
        snprintf(lab, sizeof lab, "%d", i % 97);
        bad += !field_is(&fl[0], id) || !field_is(&fl[2], lab) || fl[1].len != 28;
    }
    CHECK(bad == 0);
    CHECK_OK(cxr_csv_next(r, &fl, &n, &line));
    CHECK(n == 0);
    cxr_csv_destroy(r);
    unlink(path);
}

/* A line over the reader's 64 MiB limit (a file without newlines) is a malformed line, dropped
 * up to its newline with memory bounded; the next line reads as usual. */
static void test_long_line(void)
{
    char path[256];
    FILE *f = temp_file(path, sizeof path);
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    fputs("id,url,landmark_id\n", f);
    for (int k = 0; k < 65; k++) REQUIRE(fwrite(chunk, 1, sizeof chunk, f) == sizeof chunk);
    fputs("\na,u,1\n", f);
    cxr_csv *r = reopen_past_header(f, path);
    const cxr_csv_field *fl;
    int n;
    int64_t line;
    CHECK(cxr_csv_next(r, &fl, &n, &line) == CXR_E_FORMAT && line == 2);
    CHECK(strstr(cxr_last_error(), "line 2: line longer than 64 MiB") &&
          !strcmp(cxr_csv_why(r), "line longer than 64 MiB"));
    CHECK_OK(cxr_csv_next(r, &fl, &n, &line));
    CHECK(n == 3 && line == 3 && field_is(&fl[0], "a"));
    CHECK_OK(cxr_csv_next(r, &fl, &n, &line));
    CHECK(n == 0);
    cxr_csv_destroy(r);
    unlink(path);
    /* whole lines over the limit too, newline included (it read as one 65 MiB field) */
    const size_t big = (size_t)65 << 20;
    char *mem = malloc(big + 16);
    REQUIRE(mem);
    memset(mem, 'x', big);
    memcpy(mem + big, "\na,u,1\n", 8);
    CHECK_OK(cxr_csv_open_mem(&r, mem, big + 8, "mem.csv"));
    CHECK(cxr_csv_next(r, &fl, &n, &line) == CXR_E_FORMAT && line == 1);
    CHECK(strstr(cxr_last_error(), "mem.csv: line 1: line longer than 64 MiB"));
    CHECK_OK(cxr_csv_next(r, &fl, &n, &line));
    CHECK(n == 3 && line == 2 && field_is(&fl[0], "a"));
    cxr_csv_destroy(r);
    free(mem);
}

/* A line of exactly the limit (64 MiB before its newline) is read, from a file as from memory;
 * one byte more is refused by both. */
static void test_line_at_limit(void)
{
    const size_t lim = (size_t)64 << 20;
    char *mem = malloc(lim + 16);
    REQUIRE(mem);
    for (int more = 0; more <= 1; more++) {
        const size_t len = lim + (size_t)more;
        memset(mem, 'x', len);
        memcpy(mem + len, "\na,u,1\n", 8);
        char path[256];
        FILE *f = temp_file(path, sizeof path);
        fputs("id,url,landmark_id\n", f);
        REQUIRE(fwrite(mem, 1, len + 7, f) == len + 7);
        cxr_csv *r = reopen_past_header(f, path);
        const cxr_csv_field *fl;
        int n;
        int64_t line;
        cxr_status st = cxr_csv_next(r, &fl, &n, &line);
        if (more) {
            CHECK(st == CXR_E_FORMAT && line == 2);
        } else {
            CHECK(st == CXR_OK && n == 1 && fl[0].len == lim && line == 2);
            if (st != CXR_OK) fprintf(stderr, "file, a line of 64 MiB: %s\n", cxr_last_error());
        }
        CHECK(cxr_csv_next(r, &fl, &n, &line) == CXR_OK && n == 3 && line == 3);
        cxr_csv_destroy(r);
        unlink(path);
        CHECK_OK(cxr_csv_open_mem(&r, mem, len + 7, "mem.csv"));
        st = cxr_csv_next(r, &fl, &n, &line);
        if (more)
            CHECK(st == CXR_E_FORMAT && line == 1);
        else
            CHECK(st == CXR_OK && n == 1 && fl[0].len == lim && line == 1);
        CHECK(cxr_csv_next(r, &fl, &n, &line) == CXR_OK && n == 3 && line == 2);
        cxr_csv_destroy(r);
    }
    free(mem);
}

static void test_file_errors(void)
{
    cxr_csv *r = NULL;
    CHECK(cxr_csv_open(&r, "/nonexistent/manifest.csv") == CXR_E_IO);
    CHECK(strstr(cxr_last_error(), "/nonexistent/manifest.csv") != NULL);
    CHECK(r == NULL);
    cxr_manifest_stats s;
    CHECK(cxr_manifest_explore(&s, "/nonexistent/manifest.csv", 0) == CXR_E_IO);
}

/* The first record of `text` (len bytes, read from memory) into its n fields: CXR_OK or the
 * reader's error. */
static cxr_status first_record(const char *text, size_t len, cxr_csv **r, const cxr_csv_field **f,
                               int *n)
{
    CHECK_OK(cxr_csv_open_mem(r, text, len, "m.csv"));
    return cxr_csv_next(*r, f, n, NULL);
}

/* The header of `text` through cxr_manifest_columns_find (require id and url, not a label). */
static cxr_status columns_of(const char *text, cxr_manifest_columns *c)
{
    cxr_csv *r = NULL;
    const cxr_csv_field *f;
    int n;
    CHECK_OK(first_record(text, strlen(text), &r, &f, &n));
    cxr_status st = cxr_manifest_columns_find(c, f, n, "h.csv", 1, 0);
    cxr_csv_destroy(r);
    return st;
}

/* A mutation round's survivors, each check failing on its mutant: memory input read no further
 * than its length, text after a closing quote at the line's end, a rewind past the byte-order
 * mark, "None" only whole, a header of two equal names, of several duplicates the one whose
 * second column comes first, the eight names a missing-column message lists, a repeated header
 * recognised only with the header's field count, its mark only at the line's start and without
 * a label column, and an empty label not a number. */
static void test_reader_edges(void)
{
    cxr_csv *r = NULL;
    const cxr_csv_field *f;
    int n;
    /* `a,"b"` of `a,"b""`: the quote past the length is not an escaped one */
    const char past[] = "a,\"b\"\"";
    CHECK(first_record(past, 5, &r, &f, &n) == CXR_OK && n == 2 && field_is(&f[1], "b"));
    cxr_csv_destroy(r);
    const char *after[] = { "\"a\"x", "x,\"a\"b", "x,\"a\"b\r\n" };
    for (size_t i = 0; i < sizeof after / sizeof *after; i++) {
        CHECK(first_record(after[i], strlen(after[i]), &r, &f, &n) == CXR_E_FORMAT);
        CHECK(cxr_csv_why(r) && !strcmp(cxr_csv_why(r), "text after a closing quote"));
        cxr_csv_destroy(r);
    }
    /* a rewind skips the mark again: a quoted first name after it reads as at the start */
    const char bom[] = "\xEF\xBB\xBF\"id\",url\n1,2\n";
    int64_t line = 0;
    CHECK(first_record(bom, sizeof bom - 1, &r, &f, &n) == CXR_OK && n == 2 &&
          field_is(&f[0], "id"));
    CHECK_OK(cxr_csv_next(r, &f, &n, &line));
    CHECK(n == 2 && line == 2 && field_is(&f[0], "1"));
    CHECK_OK(cxr_csv_rewind(r));
    CHECK(cxr_csv_next(r, &f, &n, &line) == CXR_OK && n == 2 && line == 1 && field_is(&f[0], "id"));
    cxr_csv_destroy(r);

    const cxr_csv_field none5 = { "None5", 5 }, non = { "Nonex", 3 }, none = { "Nonex", 4 };
    CHECK(!cxr_csv_missing(&none5) && !cxr_csv_missing(&non) && cxr_csv_missing(&none));

    cxr_manifest_columns c;
    CHECK(columns_of("id,id\n", &c) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "column 'id' appears twice (columns 1 and 2)"));
    CHECK(columns_of("a,b,a,b,id,url\n", &c) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "column 'a' appears twice (columns 1 and 3)"));
    CHECK(columns_of("c1,c2,c3,c4,c5,c6,c7,c8,c9\n", &c) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "'c7', 'c8', ...)") && !strstr(cxr_last_error(), "'c9'"));

    CHECK_OK(columns_of("id,url,label\n", &c));
    const cxr_csv_field rep[4] = { { "id", 2 }, { "url", 3 }, { "label", 5 }, { "x", 1 } };
    CHECK(cxr_manifest_is_header_row(&c, rep, 3) == 1);
    CHECK(cxr_manifest_is_header_row(&c, rep, 4) == 0);
    const cxr_csv_field marked[3] = { { "\xEF\xBB\xBFid", 5 }, { "url", 3 }, { "label", 5 } };
    const cxr_csv_field mid[3] = { { "id", 2 }, { "\xEF\xBB\xBFurl", 6 }, { "label", 5 } };
    CHECK(cxr_manifest_is_header_row(&c, marked, 3) == 1);
    CHECK(cxr_manifest_is_header_row(&c, mid, 3) == 0);
    CHECK_OK(columns_of("id,url\n", &c));
    CHECK(c.label == -1 && cxr_manifest_is_header_row(&c, rep, 2) == 1);

    CHECK(cxr_label_cmp("", 0, "5", 1) > 0 && cxr_label_cmp("5", 1, "", 0) < 0);
}

int main(void)
{
    test_quoted_crlf_empty();
    test_malformed();
    test_columns();
    test_label_order();
    test_blocks();
    test_long_line();
    test_file_errors();
    test_reader_edges();
    test_line_at_limit();
    TEST_END();
}
