/* table.c: TSV / CSV / JSON Lines rows (cxr_table.h). */
#include "cxr_table.h"
#include "c_locale.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_files.h"
#include "cxr_tmpfile.h"

struct cxr_table {
    FILE *f;
    cxr_table_format fmt;
    int n_cols, col;
    char **cols;
    const char *path; /* NULL: stdout */
    cxr_tmpfile tmp;
    int err; /* errno of the first row whose writes failed (ENOSPC, EPIPE), 0 before any */
};

cxr_status cxr_table_format_parse(const char *name, cxr_table_format *out)
{
    static const char *names[] = { "tsv", "csv", "jsonl" };
    for (int i = 0; i < 3; i++)
        if (strcmp(name, names[i]) == 0) {
            *out = (cxr_table_format)i;
            return CXR_OK;
        }
    return cxr_set_error(CXR_E_ARG, "--format: '%s' is not tsv, csv or jsonl", name);
}

int cxr_fputs_json(const char *s, FILE *f)
{
    const unsigned char *u = (const unsigned char *)s;
    int replaced = 0;
    fputc('"', f);
    while (*u) {
        int n = cxr_utf8_seq(u);
        unsigned c = *u;
        if (n == 0) {
            fputs("\xef\xbf\xbd", f); /* U+FFFD */
            replaced = 1;
            u++;
        } else if (n > 1) {
            fwrite(u, 1, (size_t)n, f);
            u += n;
        } else {
            if (c == '"' || c == '\\')
                fprintf(f, "\\%c", c);
            else if (c == '\n')
                fputs("\\n", f);
            else if (c == '\t')
                fputs("\\t", f);
            else if (c == '\r')
                fputs("\\r", f);
            else if (c == '\b')
                fputs("\\b", f);
            else if (c == '\f')
                fputs("\\f", f);
            else if (c < 0x20)
                fprintf(f, "\\u%04x", c);
            else
                fputc((int)c, f);
            u++;
        }
    }
    fputc('"', f);
    return replaced;
}

/* Start the next field; 0 when the row is full. For jsonl, writes the key. */
static int field_begin(cxr_table *t)
{
    if (t->col >= t->n_cols) return 0;
    if (t->col == 0 && !t->err) errno = 0; /* a row's failed write leaves its reason (end_row) */
    if (t->fmt == CXR_TABLE_JSONL) {
        fputc(t->col == 0 ? '{' : ',', t->f);
        cxr_fputs_json(t->cols[t->col], t->f);
        fputc(':', t->f);
    } else if (t->col > 0) {
        fputc(t->fmt == CXR_TABLE_CSV ? ',' : '\t', t->f);
    }
    return 1;
}

static void text_field(cxr_table *t, const char *s)
{
    cxr_fputs_field_sep(s, t->fmt == CXR_TABLE_CSV ? ',' : '\t', t->f);
}

void cxr_table_str(cxr_table *t, const char *s)
{
    if (!field_begin(t)) return;
    const char *name = t->cols[t->col++];
    if (t->fmt != CXR_TABLE_JSONL) {
        text_field(t, s);
        return;
    }
    if (cxr_fputs_json(s, t->f)) { /* not UTF-8: the exact bytes too, as "<name>_hex" */
        size_t n = strlen(name);
        char *key = malloc(n + 5);
        if (key) {
            memcpy(key, name, n);
            memcpy(key + n, "_hex", 5);
            fputc(',', t->f);
            cxr_fputs_json(key, t->f);
            free(key);
            fputs(":\"", t->f);
            for (const unsigned char *u = (const unsigned char *)s; *u; u++)
                fprintf(t->f, "%02x", *u);
            fputc('"', t->f);
        }
    }
}

static void table_num(cxr_table *t, const char *fmt, double v)
{
    if (!field_begin(t)) return;
    t->col++;
    if (isfinite(v)) {
        const locale_t before = cxr_c_locale_enter(); /* a '.' in any host locale */
        fprintf(t->f, fmt, v);
        cxr_c_locale_leave(before);
    } else if (t->fmt == CXR_TABLE_JSONL)
        fputs("null", t->f);
}

/* 9 significant digits read back as the same float, 17 as the same double: %.6f printed a
 * threshold of 4.4e-23 (a saturated model's, chosen on val) as 0.000000 */
void cxr_table_num(cxr_table *t, double v) { table_num(t, "%.9g", v); }
void cxr_table_num_exact(cxr_table *t, double v) { table_num(t, "%.17g", v); }

void cxr_table_none(cxr_table *t)
{
    if (!field_begin(t)) return;
    t->col++;
    if (t->fmt == CXR_TABLE_JSONL) fputs("null", t->f);
}

void cxr_table_end_row(cxr_table *t)
{
    while (t->col < t->n_cols) cxr_table_none(t);
    if (t->fmt == CXR_TABLE_JSONL) fputc('}', t->f);
    fputc('\n', t->f);
    t->col = 0;
    /* the reason of a write of this row that failed (errno was cleared at its first field), kept
     * now: later calls (a flush of a buffer the failure emptied) leave errno at 0 */
    if (!t->err && ferror(t->f)) t->err = errno;
}

/* The reason of the table's failed writes: the first failure's, else errno now. */
static const char *write_failure(const cxr_table *t)
{
    if (t->err) return strerror(t->err);
    return errno ? strerror(errno) : "error on an earlier write";
}

static void table_free(cxr_table *t)
{
    for (int i = 0; i < t->n_cols; i++) free(t->cols[i]);
    free(t->cols);
    free(t);
}

cxr_status cxr_table_open(cxr_table **out, const char *path, cxr_table_format fmt,
                          const char *const *cols, int n_cols)
{
    cxr_status st = CXR_OK;
    *out = NULL;
    cxr_table *t = calloc(1, sizeof *t);
    if (!t || !(t->cols = calloc((size_t)n_cols, sizeof *t->cols))) {
        free(t);
        return cxr_set_error(CXR_E_NOMEM, "out of memory");
    }
    cxr_tmpfile_init(&t->tmp);
    t->fmt = fmt;
    t->path = path;
    for (; t->n_cols < n_cols; t->n_cols++)
        if (!(t->cols[t->n_cols] = strdup(cols[t->n_cols])))
            CXR_THROW(CXR_E_NOMEM, "out of memory");
    if (!path) {
        t->f = stdout;
    } else {
        CXR_TRY(cxr_tmpfile_create(&t->tmp, path, 1));
        if (!(t->f = cxr_tmpfile_stream(&t->tmp, "w"))) { /* its own fd; tmp.fd stays for commit */
            st = CXR_E_IO; /* the message names the temporary and the reason */
            goto bail;
        }
    }
    if (fmt != CXR_TABLE_JSONL) {
        for (int i = 0; i < n_cols; i++) {
            if (i) fputc(fmt == CXR_TABLE_CSV ? ',' : '\t', t->f);
            text_field(t, cols[i]);
        }
        fputc('\n', t->f);
    }
    *out = t;
    t = NULL;
bail:
    if (t) cxr_table_discard(t);
    return st;
}

cxr_status cxr_table_open_probs(cxr_table **out, const char *path, cxr_table_format fmt,
                                const char *const *lead, int n_lead, char *const *classes,
                                int n_classes, int with_threshold)
{
    cxr_status st = CXR_OK;
    char **names = calloc((size_t)n_classes + 1, sizeof *names);
    const char **cols = calloc((size_t)(n_lead + n_classes + 1), sizeof *cols);
    int n = 0;
    if (!names || !cols) CXR_THROW(CXR_E_NOMEM, "out of memory");
    for (int i = 0; i < n_lead; i++) cols[n++] = lead[i];
    for (int k = 0; k < n_classes; k++) {
        size_t len = strlen(classes[k]) + 3;
        if (!(names[k] = malloc(len))) CXR_THROW(CXR_E_NOMEM, "out of memory");
        snprintf(names[k], len, "p_%s", classes[k]);
        cols[n++] = names[k];
    }
    if (with_threshold) cols[n++] = "threshold";
    st = cxr_table_open(out, path, fmt, cols, n);
bail:
    for (int k = 0; names && k < n_classes; k++) free(names[k]);
    free(names);
    free(cols);
    return st;
}

cxr_status cxr_table_check(cxr_table *t)
{
    if (!t || !ferror(t->f)) return CXR_OK;
    errno = 0; /* the reason from a write tried now: errno may no longer be the failed one's */
    fflush(t->f);
    return cxr_set_error(CXR_E_IO, "%s: write failed: %s", t->path ? t->path : "standard output",
                         write_failure(t));
}

cxr_status cxr_table_close(cxr_table *t)
{
    if (!t) return CXR_OK;
    cxr_status st = CXR_OK;
    const char *name = t->path ? t->path : "standard output";
    errno = 0;
    int bad = ferror(t->f), fl = fflush(t->f);
    if (bad || fl != 0)
        st = cxr_set_error(CXR_E_IO, "%s: write failed: %s", name, write_failure(t));
    if (t->path) {
        if (fclose(t->f) != 0 && st == CXR_OK)
            st = cxr_set_error(CXR_E_IO, "%s: close failed: %s", name, strerror(errno));
        t->f = NULL;
        if (st == CXR_OK) st = cxr_tmpfile_commit(&t->tmp);
        cxr_tmpfile_discard(&t->tmp);
    }
    table_free(t);
    return st;
}

void cxr_table_discard(cxr_table *t)
{
    if (!t) return;
    if (t->path) {
        if (t->f) fclose(t->f);
        cxr_tmpfile_discard(&t->tmp);
    }
    table_free(t);
}
