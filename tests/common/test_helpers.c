/* test_helpers.c: the small shared helpers of common/: option parsing (values, ranges, the
 * message naming the option), splitmix64 against the reference sequence, the monotonic clock,
 * a results table's numbers read back exactly, names escaped for the terminal and cut to a
 * buffer or a column, an output's kind by its first bytes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cxr_clock.h"
#include "cxr_files.h"
#include "cxr_parse.h"
#include "cxr_splitmix.h"
#include "cxr_status.h"
#include "cxr_table.h"
#include "cxr_test.h"

static void test_parse_int(void)
{
    int v = -1;
    long l = -1;
    CHECK(cxr_parse_int("42", "--n", 1, 100, &v) == CXR_OK && v == 42);
    CHECK(cxr_parse_int("-7", "--level", -7, 22, &v) == CXR_OK && v == -7);
    CHECK(cxr_parse_int(" 5", "--n", 1, 100, &v) == CXR_OK && v == 5);   /* as strtol */
    CHECK(cxr_parse_int("5 \n", "--n", 1, 100, &v) == CXR_OK && v == 5); /* and after it */
    v = 9;
    CHECK(cxr_parse_int("0", "--batch", 1, 4096, &v) == CXR_E_ARG && v == 9);
    CHECK(strcmp(cxr_last_error(), "--batch: expected an integer in [1, 4096], got '0'") == 0);
    const char *bad[] = { "",     "abc", "5x",         "1.5",
                          "4097", "-1",  "4294967297", "99999999999999999999",
                          " ",    "5 x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(cxr_parse_int(bad[i], "--batch", 1, 4096, &v) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "--batch: ") == cxr_last_error());
    }
    CHECK(v == 9);
    CHECK(cxr_parse_int(NULL, "--n", 1, 2, &v) == CXR_E_ARG);
    /* blanks alone are no number where 0 is in range (strtol read nothing; the blanks after
     * a number are skipped only past one) */
    CHECK(cxr_parse_int(" ", "--level", 0, 22, &v) == CXR_E_ARG);
    CHECK(cxr_parse_int(" \n", "--level", 0, 22, &v) == CXR_E_ARG);
    CHECK(cxr_parse_long("1099511627776", "--max-steps", 1, 1L << 40, &l) == CXR_OK &&
          l == 1L << 40);
    CHECK(cxr_parse_long("1099511627777", "--max-steps", 1, 1L << 40, &l) == CXR_E_ARG);
}

static void test_parse_double(void)
{
    double d = -1;
    CHECK(cxr_parse_double("0.5", "--t", 0, 1, 0, &d) == CXR_OK && d == 0.5);
    CHECK(cxr_parse_double("0", "--t", 0, 1, 0, &d) == CXR_OK && d == 0);
    CHECK(cxr_parse_double("-0", "--t", 0, 1, 0, &d) == CXR_OK && d == 0 && !signbit(d));
    CHECK(cxr_parse_double("1", "--t", 0, 1, 0, &d) == CXR_OK && d == 1);
    CHECK(cxr_parse_double(" 0.25\t", "--t", 0, 1, 0, &d) == CXR_OK && d == 0.25);
    CHECK(cxr_parse_double("1e-4", "--lr", 0, 10, CXR_PARSE_OPEN_LO, &d) == CXR_OK && d == 1e-4);
    d = 7;
    CHECK(cxr_parse_double("0", "--lr", 0, 10, CXR_PARSE_OPEN_LO, &d) == CXR_E_ARG && d == 7);
    CHECK(strcmp(cxr_last_error(), "--lr: expected a number in (0, 10], got '0'") == 0);
    const int open = CXR_PARSE_OPEN_LO | CXR_PARSE_OPEN_HI;
    CHECK(cxr_parse_double("1", "--val-fraction", 0, 1, open, &d) == CXR_E_ARG);
    CHECK(strcmp(cxr_last_error(), "--val-fraction: expected a number in (0, 1), got '1'") == 0);
    const char *bad[] = { "", "x", "0.5x", "nan", "inf", "-0.1", "1.01", " ", "0.5 x", "1e999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(cxr_parse_double(bad[i], "--t", 0, 1, 0, &d) == CXR_E_ARG);
    CHECK(strcmp(cxr_last_error(), "--t: expected a number in [0, 1], got '1e999'") == 0);
    CHECK(d == 7);
}

static void test_splitmix(void)
{
    /* the first words of splitmix64 from state 0 (Vigna's splitmix64.c) */
    const uint64_t want[3] = { 0xE220A8397B1DCDAFULL, 0x6E789E6AA1B965F4ULL,
                               0x06C45D188009454FULL };
    uint64_t state = 0;
    for (int i = 0; i < 3; i++) CHECK(cxr_splitmix64_next(&state) == want[i]);
    CHECK(state == 3 * CXR_SPLITMIX64_GAMMA);
    CHECK(cxr_splitmix64_mix(CXR_SPLITMIX64_GAMMA) == want[0]);
    CHECK(cxr_splitmix64_mix(0) == 0);
}

static void test_clock(void)
{
    const double t0 = cxr_now_s();
    struct timespec ts = { 0, 20 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    const double t1 = cxr_now_s();
    CHECK(t1 - t0 >= 0.019 && t1 - t0 < 10.0);
}

/* A table's numbers read back as the very values: a float probability (cxr_table_num) and a
 * double threshold (cxr_table_num_exact), tiny ones included: %.6f wrote a saturated model's
 * threshold of 4.4e-23 and its probabilities as 0.000000, and 0.5 + 1e-9 as 0.500000. */
static void test_table_numbers(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/cxr-test-table-%d.tsv", (int)getpid());
    const char *cols[] = { "p", "threshold" };
    const float p[3] = { 4.3712e-23f, 0.99579882f, 1.0f - 1e-7f };
    const double t[3] = { 4.3712345678901234e-23, 0.5 + 1e-9, 0.31884115934371948 };
    cxr_table *tb;
    CHECK_OK(cxr_table_open(&tb, path, CXR_TABLE_TSV, cols, 2));
    for (int i = 0; i < 3; i++) {
        cxr_table_num(tb, p[i]);
        cxr_table_num_exact(tb, t[i]);
        cxr_table_end_row(tb);
    }
    CHECK_OK(cxr_table_close(tb));
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    char line[256];
    REQUIRE(fgets(line, sizeof line, f)); /* the header */
    for (int i = 0; i < 3; i++) {
        REQUIRE(fgets(line, sizeof line, f));
        char *tab = strchr(line, '\t');
        REQUIRE(tab);
        const float q = strtof(line, NULL);
        const double u = strtod(tab + 1, NULL);
        CHECK(q == p[i] && u == t[i]);
        if (q != p[i] || u != t[i]) fprintf(stderr, "row %d read back as %s", i, line);
    }
    fclose(f);
    unlink(path);
}

static void test_escape(void)
{
    char b[64];
    int shown = -1;
    /* C0, DEL, backslash, invalid UTF-8 and C1 (CSI, NEL) escaped; other characters kept */
    CHECK(strcmp(
              cxr_escape_name(b, sizeof b, "a\nb\x1b[2J\x7f\\\xff\xc2\x9b\xc2\x85\xc2\xa0\xc3\xad"),
              "a\\nb\\x1b[2J\\x7f\\\\\\xff\\xc2\\x9b\\xc2\\x85\xc2\xa0\xc3\xad") == 0);
    /* a name that fits in cap - 1 bytes is whole; one byte more is cut at a whole character
     * (an escape is not split), with "..." */
    CHECK(strcmp(cxr_escape_name(b, 6, "abcde"), "abcde") == 0);
    CHECK(strcmp(cxr_escape_name(b, 6, "abcdef"), "ab...") == 0);
    CHECK(strcmp(cxr_escape_name(b, 7, "a\nbcdef"), "a\\n...") == 0);
    CHECK(strcmp(cxr_escape_name(b, 7, "ab\ncdef"), "ab...") == 0);
    CHECK(strcmp(cxr_escape_name(b, 3, "abcdef"), "") == 0); /* no room for "..." */
    /* a column counts characters, not bytes: a two-byte character is one */
    CHECK(strcmp(cxr_escape_cell(b, sizeof b,
                                 "Neumon\xc3\xad"
                                 "a",
                                 8, &shown),
                 "Neumon\xc3\xad"
                 "a") == 0 &&
          shown == 8);
    CHECK(strcmp(cxr_escape_cell(b, sizeof b,
                                 "Neumon\xc3\xad"
                                 "a_v\xc3\xadrica",
                                 12, &shown),
                 "Neumon\xc3\xad"
                 "a_...") == 0 &&
          shown == 12);
    CHECK(strcmp(cxr_escape_cell(b, sizeof b, "ab\tcdefgh", 6, &shown), "ab...") == 0 &&
          shown == 5);
    CHECK(strcmp(cxr_escape_cell(b, sizeof b, "x", 2, &shown), "x") == 0 && shown == 1);
    /* East Asian wide characters take two columns: 6 of them (12 columns) cut to 11 */
    CHECK(strcmp(cxr_escape_cell(b, sizeof b,
                                 "\xe8\x82\xba\xe7\x82\x8e\xe8\x82\xba\xe7\x82\x8e"
                                 "\xe8\x82\xba\xe7\x82\x8e",
                                 11, &shown),
                 "\xe8\x82\xba\xe7\x82\x8e\xe8\x82\xba\xe7\x82\x8e...") == 0 &&
          shown == 11);
    CHECK(strcmp(cxr_escape_cell(b, sizeof b, "\xe8\x82\xba\xe7\x82\x8e", 4, &shown),
                 "\xe8\x82\xba\xe7\x82\x8e") == 0 &&
          shown == 4);
    /* a combining mark takes none (macOS's decomposed e + U+0301, three of them: 3 columns), a
     * rocket (U+1F680) and a U+1FA80 yo-yo two each (a session-73 review: 6 and 1 before) */
    static const char nfd[] = "e\xcc\x81"
                              "e\xcc\x81"
                              "e\xcc\x81";
    CHECK(strcmp(cxr_escape_cell(b, sizeof b, nfd, 3, &shown), nfd) == 0 && shown == 3);
    CHECK(cxr_escape_cell(b, sizeof b, "\xf0\x9f\x9a\x80\xf0\x9f\xaa\x80", 9, &shown) &&
          shown == 4);
    /* plain text: escaping would change only backslashes */
    CHECK(cxr_text_plain("a\\b c'\xc3\xad") == 1);
    CHECK(cxr_text_plain("a\nb") == 0 && cxr_text_plain("a\xff") == 0 &&
          cxr_text_plain("a\xc2\x9b") == 0 && cxr_text_plain("\x7f") == 0);
}

/* cxr_shell_word: bare when the shell reads it so, else single-quoted ('\'' for a quote), after
 * "./" when it starts with '-'; NULL when the buffer is too small */
static void test_shell_word(void)
{
    char b[64];
    CHECK(strcmp(cxr_shell_word(b, sizeof b, "a/b-c_1.h5"), "a/b-c_1.h5") == 0);
    CHECK(strcmp(cxr_shell_word(b, sizeof b, "my list's.csv"), "'my list'\\''s.csv'") == 0);
    CHECK(strcmp(cxr_shell_word(b, sizeof b, "-x.h5"), "./-x.h5") == 0);
    CHECK(strcmp(cxr_shell_word(b, sizeof b, "-a b"), "'./-a b'") == 0);
    CHECK(strcmp(cxr_shell_word(b, sizeof b, ""), "''") == 0);
    CHECK(strcmp(cxr_shell_word(b, sizeof b, "$HOME;`x`"), "'$HOME;`x`'") == 0);
    CHECK(cxr_shell_word(b, 4, "abcd") == NULL && cxr_shell_word(b, 6, "a b c") == NULL);
}

/* cxr_format_double: the shortest of %.15g, %.16g and %.17g that reads back as the same double
 * (the logs' and specs' numbers are exact), and the short form when it does */
static void test_format_double(void)
{
    const double vs[] = { 0.1 + 0.2, 1.0 / 3.0, 0.25, 1e-300, -2.5e17, 0.1, 0.7581601142883301 };
    const char *shortest[] = {
        "0.30000000000000004", "0.3333333333333333", "0.25", "1e-300", "-2.5e+17", "0.1",
        "0.7581601142883301"
    };
    for (size_t i = 0; i < sizeof vs / sizeof *vs; i++) {
        char buf[64];
        cxr_format_double(buf, sizeof buf, vs[i]);
        CHECK(strtod(buf, NULL) == vs[i]);
        CHECK(strcmp(buf, shortest[i]) == 0);
    }
}

/* cxr_output_kind_of by the first bytes: each image format by its signature (TIFF in either byte
 * order, a RIFF file only when it is WebP), an ONNX model, an HTML page after a BOM and blanks
 * in any case, a predictions table as TSV, CSV or JSON lines, a duplicates table; a file that is
 * none of them, or too short to tell, is NULL */
static const char *kind_of(const char *head, size_t n, unsigned *kind)
{
    *kind = 99;
    return cxr_output_kind_of(head, n, kind);
}

static void test_output_kinds(void)
{
    static const struct {
        const char *head;
        size_t n;
        const char *name;
        unsigned kind;
    } cases[] = {
        { "\xff\xd8\xff\xe0", 4, "a JPEG image", CXR_OUTPUT_IMAGE },
        { "\x89PNG\r\n\x1a\n", 8, "a PNG image", CXR_OUTPUT_IMAGE },
        { "GIF89a\x01\0", 8, "a GIF image", CXR_OUTPUT_IMAGE },
        { "GIF87a", 6, "a GIF image", CXR_OUTPUT_IMAGE },
        { "II*\0\x08\0\0\0", 8, "a TIFF image", CXR_OUTPUT_IMAGE },
        { "MM\0*\0\0\0\x08", 8, "a TIFF image", CXR_OUTPUT_IMAGE },
        { "RIFF\x24\0\0\0WEBPVP8 ", 16, "a WebP image", CXR_OUTPUT_IMAGE },
        { "RIFF\x24\0\0\0WAVEfmt ", 16, NULL, 0 }, /* a sound, not an image */
        { "\0\0\0\x0cjP  \r\n\x87\n", 12, "a JPEG 2000 image", CXR_OUTPUT_IMAGE },
        { "\x08\x07\x12\x07pytorch", 11, "an ONNX model", CXR_OUTPUT_ONNX },
        { "\x08\x08\x3a\x90\x01", 5, "an ONNX model", CXR_OUTPUT_ONNX }, /* the graph next */
        { "<!DOCTYPE html><html>", 21, "an HTML page", CXR_OUTPUT_HTML },
        { "\xef\xbb\xbf<!doctype html>", 17, "an HTML page", CXR_OUTPUT_HTML },
        { " \r\n\t<HTML lang=en>", 18, "an HTML page", CXR_OUTPUT_HTML },
        { "\xef\xbb\xbf\n<html>", 10, "an HTML page", CXR_OUTPUT_HTML },
        { "path\tlabel\tp\n", 13, "a predictions table (cxr-eval, cxr-predict)", CXR_OUTPUT_TABLE },
        { "path,label,p\n", 13, "a predictions table (cxr-eval, cxr-predict)", CXR_OUTPUT_TABLE },
        { "{\"path\":\"a.jpg\"}", 16, "a predictions table (cxr-eval, cxr-predict)",
          CXR_OUTPUT_TABLE },
        { "pixel_hash\tfile_hash\n", 21, "a duplicates table (cxr-pack --duplicates-report)",
          CXR_OUTPUT_DUPS },
        { "\x89PNG\r\n\x1a", 7, NULL, 0 }, /* too short to tell */
        { "<p>html</p>", 11, NULL, 0 },
        { "paths\tx\n", 8, NULL, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned kind;
        const char *name = kind_of(cases[i].head, cases[i].n, &kind);
        const int ok = cases[i].name ? name && !strcmp(name, cases[i].name) && kind == cases[i].kind
                                     : !name && kind == 0;
        CHECK(ok);
        if (!ok) fprintf(stderr, "output kind case %zu: %s (%u)\n", i, name ? name : "NULL", kind);
    }
    /* DICOM: "DICM" after the 128-byte preamble, which needs the 132 bytes */
    char dcm[140] = { 0 };
    memcpy(dcm + 128, "DICM", 4);
    unsigned kind;
    const char *name = kind_of(dcm, sizeof dcm, &kind);
    CHECK(name && !strcmp(name, "a DICOM file") && kind == CXR_OUTPUT_IMAGE);
    CHECK(kind_of(dcm, 131, &kind) == NULL && kind == 0);
}

int main(void)
{
    test_escape();
    test_output_kinds();
    test_table_numbers();
    test_parse_int();
    test_parse_double();
    test_shell_word();
    test_format_double();
    test_splitmix();
    test_clock();
    TEST_END();
}
