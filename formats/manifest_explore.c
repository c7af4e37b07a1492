/* manifest_explore.c: the one-pass exploration of a CSV manifest behind `cxr-pack --explore`
 * (cxr_manifest.h): rows, columns, missing values per column and the label distribution, and
 * the report printed from them (format in specs/store.md, "Manifest inputs"). Memory: one table
 * entry per distinct label. */
#define _GNU_SOURCE /* open_memstream, strndup */
#include "cxr_files.h"
#include "cxr_store.h"
#include "manifest_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cxr_manifest_stats_free(cxr_manifest_stats *st)
{
    if (!st) return;
    free(st->source);
    for (int i = 0; st->column_names && i < st->n_columns; i++) free(st->column_names[i]);
    free(st->column_names);
    free(st->missing);
    for (int i = 0; i < st->n_top; i++) free(st->top[i].label);
    memset(st, 0, sizeof *st);
}

/* The label distribution from the per-label counts: classes, the cumulative "<" bins and the
 * CXR_EXPLORE_TOP most frequent labels (copied into *out). */
static cxr_status summarize_labels(cxr_manifest_stats *out, cxr_strtab *t, const char *path)
{
    cxr_status st = CXR_OK;
    out->n_classes = (int64_t)t->n;
    cxr_strtab_item *v = cxr_strtab_by_count(t);
    if (!v) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < t->n; i++) {
        int64_t c = v[i].e->count;
        out->classes_lt10 += c < 10;
        out->classes_lt100 += c < 100;
        out->classes_lt1000 += c < 1000;
        out->classes_ge1000 += c >= 1000;
    }
    for (size_t i = 0; i < t->n && i < CXR_EXPLORE_TOP; i++) {
        if (!(out->top[i].label = strdup(v[i].key)))
            CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
        out->top[i].count = v[i].e->count;
        out->n_top = (int)i + 1;
    }
bail:
    free(v);
    return st;
}

cxr_status cxr_manifest_explore(cxr_manifest_stats *out, const char *path, int strict)
{
    cxr_status st = CXR_OK;
    cxr_csv *r = NULL;
    cxr_strtab t = { 0 };
    const cxr_csv_field *f;
    int n;
    int64_t line = 0;
    cxr_manifest_columns cols;
    memset(out, 0, sizeof *out);
    CXR_TRY(cxr_csv_open(&r, path));
    if (!(out->source = strdup(path))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    CXR_TRY(cxr_manifest_read_header(r, &f, &n));
    CXR_TRY(cxr_manifest_columns_find(&cols, f, n, path, 1, 0));
    out->column_names = calloc((size_t)n, sizeof *out->column_names);
    out->missing = calloc((size_t)n, sizeof *out->missing);
    if (!out->column_names || !out->missing) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    out->n_columns = n;
    for (int i = 0; i < n; i++)
        if (!(out->column_names[i] = strndup(f[i].s, f[i].len)))
            CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    out->has_label = cols.label >= 0;
    for (;;) {
        cxr_status rs = cxr_csv_next(r, &f, &n, &line);
        if (rs == CXR_OK && n == 0) break;
        if (rs == CXR_OK && n != cols.n_columns)
            rs = cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %d fields, expected %d", path,
                               (long long)line, n, cols.n_columns);
        else if (rs == CXR_OK && cxr_manifest_is_header_row(&cols, f, n))
            rs = cxr_set_error(CXR_E_FORMAT, "%s: line %lld: repeated header row", path,
                               (long long)line);
        out->rows++;
        if (rs == CXR_E_FORMAT) {
            if (strict) CXR_TRY(rs);
            if (!out->malformed++) out->first_malformed_line = line;
            continue;
        }
        CXR_TRY(rs);
        cxr_csv_field lab = cols.label >= 0 ? cxr_manifest_label(&f[cols.label]) : f[0];
        /* the label column counts as missing as pack counts it: after trimming (" None ") */
        for (int i = 0; i < out->n_columns; i++)
            out->missing[i] += cxr_csv_missing(i == cols.label ? &lab : &f[i]);
        /* a class counts the rows packing can use (rule 2: an id, a url and the label, one no
         * longer than a class name may be), so that its top classes are those --top-classes
         * selects */
        if (cols.label >= 0 && !cxr_csv_missing(&lab) && !cxr_csv_missing(&f[cols.id]) &&
            !cxr_csv_missing(&f[cols.url]) && lab.len <= CXR_CLASS_NAME_MAX) {
            int found;
            cxr_strtab_entry *e;
            if ((st = cxr_strtab_get(&t, lab.s, lab.len, &e, &found)) != CXR_OK) {
                st = cxr_wrap_error(st, "%s: labels", path);
                goto bail;
            }
            e->count++;
        }
    }
    CXR_TRY(summarize_labels(out, &t, path));
bail:
    cxr_strtab_free(&t);
    cxr_csv_destroy(r);
    if (st != CXR_OK) cxr_manifest_stats_free(out);
    return st;
}

cxr_status cxr_manifest_explore_format(const cxr_manifest_stats *s, char **text)
{
    size_t size = 0;
    *text = NULL;
    FILE *m = open_memstream(text, &size);
    if (!m) return cxr_set_error(CXR_E_NOMEM, "explore: out of memory");
    /* the manifest's own text (names, labels) escaped: a CR or a terminal escape in a label
     * must not reach the terminal as it is */
    fprintf(m, "manifest: ");
    cxr_fputs_escaped(s->source, m);
    fprintf(m, "\nrows: %lld\n", (long long)s->rows);
    fprintf(m, "columns:");
    for (int i = 0; i < s->n_columns; i++) {
        fprintf(m, "%s ", i ? "," : "");
        cxr_fputs_escaped(s->column_names[i], m);
    }
    fprintf(m, "\n");
    if (s->malformed)
        fprintf(m, "malformed lines: %lld (first at line %lld)\n", (long long)s->malformed,
                (long long)s->first_malformed_line);
    else
        fprintf(m, "malformed lines: 0\n");
    fprintf(m, "missing values (empty or None):\n");
    for (int i = 0; i < s->n_columns; i++) {
        fprintf(m, "  ");
        cxr_fputs_escaped(s->column_names[i], m);
        fprintf(m, ": %lld\n", (long long)s->missing[i]);
    }
    if (!s->has_label) {
        fprintf(m, "classes: no landmark_id or label column\n");
    } else {
        fprintf(m, "unique classes: %lld\n", (long long)s->n_classes);
        fprintf(m, "top %d classes (label: usable rows):\n", s->n_top);
        for (int i = 0; i < s->n_top; i++) {
            fprintf(m, "  %2d. ", i + 1);
            cxr_fputs_escaped(s->top[i].label, m);
            fprintf(m, ": %lld\n", (long long)s->top[i].count);
        }
        fprintf(m, "classes with < 10 images: %lld\n", (long long)s->classes_lt10);
        fprintf(m, "classes with < 100 images: %lld\n", (long long)s->classes_lt100);
        fprintf(m, "classes with < 1000 images: %lld\n", (long long)s->classes_lt1000);
        fprintf(m, "classes with >= 1000 images: %lld\n", (long long)s->classes_ge1000);
    }
    if (fclose(m) != 0 || !*text) {
        free(*text);
        *text = NULL;
        return cxr_set_error(CXR_E_NOMEM, "explore: out of memory");
    }
    return CXR_OK;
}
