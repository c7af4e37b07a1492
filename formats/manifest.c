/* manifest.c: CSV manifests (cxr_manifest.h, cxr_pack.h): the one-pass exploration behind
 * `cxr-pack --explore`, the two-pass pack plan of a landmark-style manifest (id,url,label rows;
 * images found by id under a folder) and cxr-pack's manifest options. The CSV reader is in
 * manifest_csv.c.
 *
 * Memory: exploration keeps one hash-table entry per distinct label; planning keeps, in
 * addition, the rows of the selected classes only. Rules and formats: specs/store.md,
 * "Manifest inputs".
 */
#define _GNU_SOURCE /* qsort_r */
#include "cxr_manifest.h"
#include "cxr_pack.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ================================================================ string -> count table */
/* Open addressing, linear probing; keys live in one growing arena (offsets survive realloc). */
typedef struct {
    uint64_t hash;
    uint32_t off, len;
    int64_t count;
    int32_t cls; /* class index once selected, else -1 */
    int32_t used;
} str_entry;

typedef struct {
    str_entry *e;
    size_t cap, n; /* cap is a power of two */
    char *arena;
    size_t arena_len, arena_cap;
} str_table;

/* FNV-1a 64 (also the split hash of an id: documented in specs/store.md). */
static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void table_free(str_table *t)
{
    free(t->e);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

static const char *table_key(const str_table *t, const str_entry *e) { return t->arena + e->off; }

static int table_grow(str_table *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    str_entry *e = calloc(cap, sizeof *e);
    if (!e) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].used) continue;
        size_t j = t->e[i].hash & (cap - 1);
        while (e[j].used) j = (j + 1) & (cap - 1);
        e[j] = t->e[i];
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

/* Find or insert key; *found tells which. NULL on allocation failure. */
static str_entry *table_get(str_table *t, const char *s, size_t n, int *found)
{
    if ((t->n + 1) * 4 > t->cap * 3 && table_grow(t)) return NULL;
    uint64_t h = fnv1a(s, n);
    size_t j = h & (t->cap - 1);
    while (t->e[j].used) {
        str_entry *e = &t->e[j];
        if (e->hash == h && e->len == n && memcmp(t->arena + e->off, s, n) == 0) {
            *found = 1;
            return e;
        }
        j = (j + 1) & (t->cap - 1);
    }
    if (t->arena_len + n + 1 > t->arena_cap || t->arena_len + n + 1 > UINT32_MAX) {
        size_t cap = t->arena_cap ? t->arena_cap * 2 : 65536;
        while (cap < t->arena_len + n + 1) cap *= 2;
        char *a = cap <= UINT32_MAX ? realloc(t->arena, cap) : NULL;
        if (!a) return NULL;
        t->arena = a;
        t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, s, n);
    t->arena[t->arena_len + n] = 0;
    t->e[j] = (str_entry){ .hash = h,
                           .off = (uint32_t)t->arena_len,
                           .len = (uint32_t)n,
                           .count = 0,
                           .cls = -1,
                           .used = 1 };
    t->arena_len += n + 1;
    t->n++;
    *found = 0;
    return &t->e[j];
}

/* A table entry with its key, for sorting without a context argument (thread-safe). */
typedef struct {
    const char *key;
    str_entry *e;
} sorted_entry;

static int by_count_desc(const void *pa, const void *pb)
{
    const sorted_entry *a = pa, *b = pb;
    if (a->e->count != b->e->count) return a->e->count > b->e->count ? -1 : 1;
    return cxr_label_cmp(a->key, a->e->len, b->key, b->e->len);
}

/* Entries sorted by count descending, ties by cxr_label_cmp; malloc'd (t->n of them). */
static sorted_entry *table_sorted(str_table *t)
{
    sorted_entry *v = malloc((t->n ? t->n : 1) * sizeof *v);
    if (!v) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].used) v[k++] = (sorted_entry){ table_key(t, &t->e[i]), &t->e[i] };
    qsort(v, k, sizeof *v, by_count_desc);
    return v;
}

/* ================================================================ exploration */
static cxr_status read_header(cxr_csv *r, const cxr_csv_field **f, int *n)
{
    int64_t line = 0;
    cxr_status st = cxr_csv_next(r, f, n, &line);
    if (st != CXR_OK) return st;
    if (*n == 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: empty file (no header line)", cxr_csv_name(r));
    return CXR_OK;
}

void cxr_manifest_stats_free(cxr_manifest_stats *st)
{
    if (!st) return;
    free(st->source);
    for (int i = 0; i < st->n_columns; i++) free(st->column_names[i]);
    for (int i = 0; i < st->n_top; i++) free(st->top[i].label);
    memset(st, 0, sizeof *st);
}

cxr_status cxr_manifest_explore(cxr_manifest_stats *out, const char *path, int strict)
{
    cxr_status st = CXR_OK;
    cxr_csv *r = NULL;
    str_table t = { 0 };
    sorted_entry *v = NULL;
    const cxr_csv_field *f;
    int n;
    int64_t line = 0;
    cxr_manifest_columns cols;
    memset(out, 0, sizeof *out);
    CXR_TRY(cxr_csv_open(&r, path));
    if (!(out->source = strdup(path))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    CXR_TRY(read_header(r, &f, &n));
    CXR_TRY(cxr_manifest_columns_find(&cols, f, n, path, 1, 0));
    for (int i = 0; i < n && i < CXR_EXPLORE_MAX_COLUMNS; i++) {
        if (!(out->column_names[i] = strndup(f[i].s, f[i].len)))
            CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
        out->n_columns = i + 1;
    }
    out->has_label = cols.label >= 0;
    for (;;) {
        cxr_status rs = cxr_csv_next(r, &f, &n, &line);
        if (rs == CXR_OK && n == 0) break;
        if (rs == CXR_OK && n != cols.n_columns)
            rs = cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %d fields, expected %d", path,
                               (long long)line, n, cols.n_columns);
        out->rows++;
        if (rs == CXR_E_FORMAT) {
            if (strict) CXR_TRY(rs);
            if (!out->malformed++) out->first_malformed_line = line;
            continue;
        }
        CXR_TRY(rs);
        for (int i = 0; i < out->n_columns; i++) out->missing[i] += cxr_csv_missing(&f[i]);
        if (cols.label >= 0 && !cxr_csv_missing(&f[cols.label])) {
            int found;
            str_entry *e = table_get(&t, f[cols.label].s, f[cols.label].len, &found);
            if (!e) CXR_THROW(CXR_E_NOMEM, "%s: out of memory (%zu labels)", path, t.n);
            e->count++;
        }
    }
    out->n_classes = (int64_t)t.n;
    if (!(v = table_sorted(&t))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < t.n; i++) {
        int64_t c = v[i].e->count;
        out->classes_lt10 += c < 10;
        out->classes_lt100 += c < 100;
        out->classes_lt1000 += c < 1000;
        out->classes_ge1000 += c >= 1000;
    }
    for (size_t i = 0; i < t.n && i < CXR_EXPLORE_TOP; i++) {
        if (!(out->top[i].label = strdup(v[i].key)))
            CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
        out->top[i].count = v[i].e->count;
        out->n_top = (int)i + 1;
    }
bail:
    free(v);
    table_free(&t);
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
    fprintf(m, "manifest: %s\n", s->source);
    fprintf(m, "rows: %lld\n", (long long)s->rows);
    fprintf(m, "columns:");
    for (int i = 0; i < s->n_columns; i++) fprintf(m, "%s %s", i ? "," : "", s->column_names[i]);
    fprintf(m, "\n");
    if (s->malformed)
        fprintf(m, "malformed lines: %lld (first at line %lld)\n", (long long)s->malformed,
                (long long)s->first_malformed_line);
    else
        fprintf(m, "malformed lines: 0\n");
    fprintf(m, "missing values (empty or None):\n");
    for (int i = 0; i < s->n_columns; i++)
        fprintf(m, "  %s: %lld\n", s->column_names[i], (long long)s->missing[i]);
    if (!s->has_label) {
        fprintf(m, "classes: no landmark_id or label column\n");
    } else {
        fprintf(m, "unique classes: %lld\n", (long long)s->n_classes);
        fprintf(m, "top %d classes (label: images):\n", s->n_top);
        for (int i = 0; i < s->n_top; i++)
            fprintf(m, "  %2d. %s: %lld\n", i + 1, s->top[i].label, (long long)s->top[i].count);
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

/* ================================================================ pack plan */
void cxr_manifest_options_defaults(cxr_manifest_options *o)
{
    *o = (cxr_manifest_options){
        .top_classes = 0, .min_count = 1, .val_fraction = 0.1, .test_fraction = 0.1, .strict = 0
    };
}

typedef struct {
    uint64_t hash;   /* FNV-1a 64 of the id */
    uint32_t id_off; /* id (NUL-terminated) in the id table's arena */
    uint32_t id_len;
    int32_t label;
    int32_t nested; /* 1: IMAGES/a/b/c/<id>.jpg, 0: IMAGES/<id>.jpg */
    int32_t split;  /* index into plan->splits once assigned */
    uint64_t size;  /* file size when found */
} plan_row;

typedef struct {
    const char *arena;
    plan_row *r;
    size_t n, cap;
} row_vec;

static int rows_by_label_hash(const void *pa, const void *pb, void *ctx)
{
    const plan_row *a = pa, *b = pb;
    const char *arena = ctx;
    if (a->label != b->label) return a->label < b->label ? -1 : 1;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return strcmp(arena + a->id_off, arena + b->id_off);
}

static int rows_by_hash(const void *pa, const void *pb, void *ctx)
{
    const plan_row *a = pa, *b = pb;
    const char *arena = ctx;
    if (a->hash != b->hash) return a->hash < b->hash ? -1 : 1;
    return strcmp(arena + a->id_off, arena + b->id_off);
}

/* Record a skipped row; under strict it is the error. */
static cxr_status skip_row(cxr_pack_plan *plan, const cxr_manifest_options *opt,
                           const char *manifest, int64_t line, const char *path, const char *reason)
{
    if (opt->strict)
        return cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %s: %s (--strict)", manifest,
                             (long long)line, path, reason);
    return cxr_plan_add_skip(plan, "", path, reason);
}

/* "<manifest>:<line>", malloc'd (NULL on allocation failure). */
static char *line_loc(const char *manifest, int64_t line)
{
    size_t need = strlen(manifest) + 24;
    char *loc = malloc(need);
    if (loc) snprintf(loc, need, "%s:%lld", manifest, (long long)line);
    return loc;
}

static int bad_id(const char *s, size_t n)
{
    if (s[0] == '.') return 1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || s[i] == '\\' || s[i] == 0) return 1;
    return 0;
}

static int is_file(const char *path, uint64_t *size)
{
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) return 0;
    *size = (uint64_t)sb.st_size;
    return 1;
}

/* rel of a row: "<id>.jpg" or "a/b/c/<id>.jpg" into buf. */
static void row_rel(char *buf, size_t cap, const char *id, size_t n, int nested)
{
    if (nested)
        snprintf(buf, cap, "%c/%c/%c/%.*s.jpg", id[0], id[1], id[2], (int)n, id);
    else
        snprintf(buf, cap, "%.*s.jpg", (int)n, id);
}

cxr_status cxr_plan_from_manifest(cxr_pack_plan *plan, const char *manifest, const char *images,
                                  const cxr_manifest_options *opt, cxr_manifest_summary *sum)
{
    cxr_status st = CXR_OK;
    cxr_csv *r = NULL;
    str_table labels = { 0 }, ids = { 0 };
    sorted_entry *sorted = NULL;
    row_vec rows = { 0 };
    cxr_manifest_summary s = { 0 };
    const cxr_csv_field *f;
    int n, n_sel = 0;
    int64_t line = 0;
    cxr_manifest_columns cols;
    char *path = NULL;
    size_t path_cap = 0, dir_len = strlen(images);
    while (dir_len > 1 && images[dir_len - 1] == '/') dir_len--;

    memset(plan, 0, sizeof *plan);
    if (opt->top_classes < 0 || opt->min_count < 1 || !(opt->val_fraction >= 0) ||
        !(opt->test_fraction >= 0) || !(opt->val_fraction + opt->test_fraction < 1))
        CXR_THROW(CXR_E_ARG,
                  "%s: bad manifest options (top-classes >= 0, min-count >= 1, "
                  "fractions >= 0 with val + test < 1)",
                  manifest);
    CXR_TRY(cxr_csv_open(&r, manifest));

    /* Pass 1: count usable rows per label. */
    CXR_TRY(read_header(r, &f, &n));
    CXR_TRY(cxr_manifest_columns_find(&cols, f, n, manifest, 1, 1));
    for (;;) {
        cxr_status rs = cxr_csv_next(r, &f, &n, &line);
        if (rs == CXR_E_FORMAT) continue; /* reported in pass 2 */
        CXR_TRY(rs);
        if (n == 0) break;
        if (n != cols.n_columns || cxr_csv_missing(&f[cols.id]) || cxr_csv_missing(&f[cols.url]) ||
            cxr_csv_missing(&f[cols.label]))
            continue;
        int found;
        str_entry *e = table_get(&labels, f[cols.label].s, f[cols.label].len, &found);
        if (!e) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
        e->count++;
    }
    s.classes_total = (int64_t)labels.n;

    /* Classes: most frequent first, ties by label id. */
    if (!(sorted = table_sorted(&labels))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
    for (size_t i = 0; i < labels.n; i++) {
        if (sorted[i].e->count < opt->min_count) break;
        if (opt->top_classes && n_sel == opt->top_classes) break;
        n_sel++;
    }
    if (n_sel == 0)
        CXR_THROW(CXR_E_FORMAT, "%s: no class with at least %lld usable rows", manifest,
                  (long long)opt->min_count);
    if (n_sel > CXR_MAX_CLASSES)
        CXR_THROW(CXR_E_ARG,
                  "%s: %d classes selected, a store holds at most %d: use "
                  "--top-classes or --min-count",
                  manifest, n_sel, CXR_MAX_CLASSES);
    if (!(plan->class_names = calloc((size_t)n_sel, sizeof *plan->class_names)))
        CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
    for (int c = 0; c < n_sel; c++) {
        sorted[c].e->cls = c;
        if (!(plan->class_names[c] = strdup(sorted[c].key)))
            CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
        plan->n_classes = c + 1;
    }
    if (!(plan->source = strdup(manifest))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);

    /* Pass 2: keep rows of the selected classes whose image exists; record every skip. */
    CXR_TRY(cxr_csv_rewind(r));
    CXR_TRY(read_header(r, &f, &n));
    for (;;) {
        cxr_status rs = cxr_csv_next(r, &f, &n, &line);
        if (rs == CXR_OK && n == 0) break;
        s.rows++;
        if (rs == CXR_OK && n != cols.n_columns)
            rs = cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %d fields, expected %d", manifest,
                               (long long)line, n, cols.n_columns);
        if (rs == CXR_E_FORMAT) {
            if (opt->strict) CXR_TRY(rs);
            /* the reason is the message after its "<file>: line N: " prefix */
            const char *msg = cxr_last_error() + strlen(manifest);
            const char *p = strstr(msg, ": line ");
            if (p && (p = strstr(p + 7, ": "))) msg = p + 2;
            char reason[192];
            snprintf(reason, sizeof reason, "malformed line: %s", msg);
            char *loc = line_loc(manifest, line);
            if (!loc) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
            st = cxr_plan_add_skip(plan, "", loc, reason);
            free(loc);
            CXR_TRY(st);
            s.malformed++;
            continue;
        }
        CXR_TRY(rs);
        const cxr_csv_field *id = &f[cols.id], *lab = &f[cols.label];
        if (cxr_csv_missing(id) || cxr_csv_missing(&f[cols.url]) || cxr_csv_missing(lab)) {
            char *loc;
            if (cxr_csv_missing(id)) {
                loc = line_loc(manifest, line);
            } else {
                loc = strndup(id->s, id->len);
            }
            if (!loc) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
            st = skip_row(plan, opt, manifest, line, loc, "missing id, url or label");
            free(loc);
            CXR_TRY(st);
            s.missing++;
            continue;
        }
        int found;
        str_entry *le = table_get(&labels, lab->s, lab->len, &found);
        if (!le) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
        if (le->cls < 0) {
            s.other_class++;
            continue;
        }
        if (bad_id(id->s, id->len)) {
            char *loc = strndup(id->s, id->len);
            if (!loc) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
            st = skip_row(plan, opt, manifest, line, loc, "bad id");
            free(loc);
            CXR_TRY(st);
            s.bad_id++;
            continue;
        }
        str_entry *ie = table_get(&ids, id->s, id->len, &found);
        if (!ie) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
        const char *idz = table_key(&ids, ie);
        if (found) {
            CXR_TRY(skip_row(plan, opt, manifest, line, idz, "duplicate id"));
            s.duplicate++;
            continue;
        }
        size_t need = dir_len + id->len + 16;
        if (need > path_cap) {
            char *p = realloc(path, need);
            if (!p) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
            path = p;
            path_cap = need;
        }
        int nested = -1;
        uint64_t size = 0;
        for (int layout = 0; layout < 2 && nested < 0; layout++) {
            if (layout == 1 && id->len < 3) break;
            int k = snprintf(path, path_cap, "%.*s/", (int)dir_len, images);
            row_rel(path + k, path_cap - (size_t)k, idz, id->len, layout);
            if (is_file(path, &size)) nested = layout;
        }
        if (nested < 0) {
            CXR_TRY(skip_row(plan, opt, manifest, line, idz, "image not found"));
            s.not_found++;
            continue;
        }
        if (rows.n == rows.cap) {
            size_t cap = rows.cap ? rows.cap * 2 : 1024;
            plan_row *v = realloc(rows.r, cap * sizeof *v);
            if (!v) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
            rows.r = v;
            rows.cap = cap;
        }
        rows.r[rows.n++] = (plan_row){ .hash = ie->hash,
                                       .id_off = ie->off,
                                       .id_len = ie->len,
                                       .label = le->cls,
                                       .nested = nested,
                                       .size = size };
    }

    if (rows.n == 0)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: no image found under %s for the %lld rows of the selected "
                  "classes (looked for DIR/<id>.jpg and DIR/<a>/<b>/<c>/<id>.jpg)",
                  manifest, images, (long long)(s.not_found + s.duplicate + s.bad_id));

    /* Splits: per class, rows by id hash; the first round(n*test) go to test, the next
     * round(n*val) to val, the rest to train. */
    int i_train = 0, i_val = -1, i_test = -1;
    strcpy(plan->splits[plan->n_splits++].name, "train");
    if (opt->val_fraction > 0) strcpy(plan->splits[i_val = plan->n_splits++].name, "val");
    if (opt->test_fraction > 0) strcpy(plan->splits[i_test = plan->n_splits++].name, "test");
    qsort_r(rows.r, rows.n, sizeof *rows.r, rows_by_label_hash, ids.arena);
    for (size_t a = 0, b; a < rows.n; a = b) {
        for (b = a; b < rows.n && rows.r[b].label == rows.r[a].label; b++) {
        }
        size_t cn = b - a;
        size_t nt = i_test >= 0 ? (size_t)floor((double)cn * opt->test_fraction + 0.5) : 0;
        size_t nv = i_val >= 0 ? (size_t)floor((double)cn * opt->val_fraction + 0.5) : 0;
        if (nt > cn) nt = cn;
        if (nv > cn - nt) nv = cn - nt;
        for (size_t k = 0; k < cn; k++)
            rows.r[a + k].split = k < nt ? i_test : k < nt + nv ? i_val : i_train;
    }
    /* Within a split, items by id hash (classes interleaved), so shards mix classes. */
    qsort_r(rows.r, rows.n, sizeof *rows.r, rows_by_hash, ids.arena);
    char rel[1024];
    for (size_t k = 0; k < rows.n; k++) {
        const plan_row *w = &rows.r[k];
        const char *idz = ids.arena + w->id_off;
        row_rel(rel, sizeof rel, idz, w->id_len, w->nested);
        size_t need = dir_len + strlen(rel) + 2;
        if (need > path_cap) {
            char *p = realloc(path, need);
            if (!p) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
            path = p;
            path_cap = need;
        }
        snprintf(path, path_cap, "%.*s/%s", (int)dir_len, images, rel);
        CXR_TRY(cxr_plan_add_item(&plan->splits[w->split], path, rel, w->label, w->size));
        s.planned++;
    }
bail:
    free(path);
    free(rows.r);
    free(sorted);
    table_free(&labels);
    table_free(&ids);
    cxr_csv_destroy(r);
    if (st != CXR_OK) cxr_plan_free(plan);
    if (sum) *sum = s;
    return st;
}
