/* manifest.c: CSV manifests (cxr_manifest.h, cxr_pack.h): a streaming RFC 4180 reader over an
 * file read in blocks, the one-pass exploration behind `cxr-pack --explore`, and the two-pass pack plan
 * of a landmark-style manifest (id,url,label rows; images found by id under a folder).
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

/* ================================================================ CSV reader */
/* A file is read in blocks of CSV_BLOCK bytes into one buffer (grown only for a longer line),
 * so memory stays flat whatever the file size; memory input is parsed in place. */
#define CSV_BLOCK ((size_t)4 << 20)

struct cxr_csv {
    char *name;
    const char *data;        /* buffered bytes (file) or the caller's memory */
    size_t len, pos;
    int64_t line;            /* line number of the next line to read (1-based) */
    int fd;                  /* -1 for memory input */
    int eof;                 /* no more bytes to read beyond data[len] */
    char *buf;               /* file buffer */
    size_t cap;
    cxr_csv_field *fields;
    int cap_fields;
    char *scratch;           /* unescaped quoted fields of the current record */
    size_t cap_scratch;
};

static cxr_status csv_init(cxr_csv **out, const char *name)
{
    *out = NULL;
    cxr_csv *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) {
        free(r);
        return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", name);
    }
    r->line = 1;
    r->fd = -1;
    *out = r;
    return CXR_OK;
}

/* Keep data[pos, len) and read more after it; grows the buffer when that tail fills it. */
static cxr_status csv_fill(cxr_csv *r)
{
    size_t keep = r->len - r->pos;
    if (keep && r->pos) memmove(r->buf, r->buf + r->pos, keep);
    r->pos = 0;
    r->len = keep;
    if (keep + CSV_BLOCK / 2 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : CSV_BLOCK;
        char *b = realloc(r->buf, cap);
        if (!b) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory (line of %zu bytes)",
                                     r->name, keep);
        r->buf = b;
        r->cap = cap;
    }
    while (r->len < r->cap) {
        ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return cxr_set_error(CXR_E_IO, "%s: read failed: %s", r->name, strerror(errno));
        if (k == 0) {
            r->eof = 1;
            break;
        }
        r->len += (size_t)k;
    }
    r->data = r->buf;
    return CXR_OK;
}

static void csv_skip_bom(cxr_csv *r)
{
    if (r->len >= 3 && memcmp(r->data, "\xEF\xBB\xBF", 3) == 0) r->pos = 3;
}

cxr_status cxr_csv_open_mem(cxr_csv **out, const char *data, size_t len, const char *name)
{
    cxr_status st = csv_init(out, name ? name : "(memory)");
    if (st != CXR_OK) return st;
    (*out)->data = data;
    (*out)->len = len;
    (*out)->eof = 1;
    csv_skip_bom(*out);
    return CXR_OK;
}

cxr_status cxr_csv_open(cxr_csv **out, const char *path)
{
    cxr_status st = csv_init(out, path);
    if (st != CXR_OK) return st;
    cxr_csv *r = *out;
    struct stat sb;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0 || fstat(r->fd, &sb) != 0) {
        st = cxr_set_error(CXR_E_IO, "%s: cannot open: %s", path, strerror(errno));
        goto bail;
    }
    if (S_ISDIR(sb.st_mode)) {
        st = cxr_set_error(CXR_E_IO, "%s: is a directory", path);
        goto bail;
    }
    posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    if ((st = csv_fill(r)) != CXR_OK) goto bail;
    csv_skip_bom(r);
    return CXR_OK;
bail:
    cxr_csv_destroy(r);
    *out = NULL;
    return st;
}

void cxr_csv_destroy(cxr_csv *r)
{
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    free(r->buf);
    free(r->fields);
    free(r->scratch);
    free(r->name);
    free(r);
}

const char *cxr_csv_name(const cxr_csv *r) { return r->name; }

static cxr_status csv_rewind(cxr_csv *r)
{
    r->pos = 0;
    r->line = 1;
    if (r->fd >= 0) {
        if (lseek(r->fd, 0, SEEK_SET) != 0)
            return cxr_set_error(CXR_E_IO, "%s: cannot seek: %s", r->name, strerror(errno));
        r->len = 0;
        r->eof = 0;
        cxr_status st = csv_fill(r);
        if (st != CXR_OK) return st;
    }
    csv_skip_bom(r);
    return CXR_OK;
}

static int csv_push(cxr_csv *r, int n, const char *s, size_t len)
{
    if (n == r->cap_fields) {
        int cap = r->cap_fields ? r->cap_fields * 2 : 16;
        cxr_csv_field *f = realloc(r->fields, (size_t)cap * sizeof *f);
        if (!f) return -1;
        r->fields = f;
        r->cap_fields = cap;
    }
    r->fields[n] = (cxr_csv_field){s, len};
    return 0;
}

/* Split one line [p, e) with quotes. Unescaped text goes to r->scratch, which holds at least
 * e - p bytes, so field pointers into it stay valid. Returns field count, -1 on NOMEM, or -2/-3
 * for an unterminated quote / text after a closing quote. */
static int csv_split_quoted(cxr_csv *r, const char *p, const char *e)
{
    size_t need = (size_t)(e - p) + 1;
    if (need > r->cap_scratch) {
        char *s = realloc(r->scratch, need);
        if (!s) return -1;
        r->scratch = s;
        r->cap_scratch = need;
    }
    char *w = r->scratch;
    int n = 0;
    for (;;) {
        if (p < e && *p == '"') {
            const char *start = w;
            p++;
            for (;;) {
                if (p >= e) return -2;
                if (*p == '"') {
                    if (p + 1 < e && p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            if (p < e && *p != ',') return -3;
            if (csv_push(r, n++, start, (size_t)(w - start))) return -1;
        } else {
            const char *c = memchr(p, ',', (size_t)(e - p));
            const char *fe = c ? c : e;
            if (csv_push(r, n++, p, (size_t)(fe - p))) return -1;
            p = fe;
        }
        if (p >= e) break;
        p++; /* the comma */
        if (p == e) { /* trailing comma: one last empty field */
            if (csv_push(r, n++, p, 0)) return -1;
            break;
        }
    }
    return n;
}

cxr_status cxr_csv_next(cxr_csv *r, const cxr_csv_field **fields, int *n_fields, int64_t *line)
{
    *n_fields = 0;
    *fields = r->fields;
    for (;;) {
        if (r->pos >= r->len) {
            if (r->eof) return CXR_OK;
            cxr_status st = csv_fill(r);
            if (st != CXR_OK) return st;
            continue;
        }
        const char *p = r->data + r->pos;
        size_t rest = r->len - r->pos;
        const char *nl = memchr(p, '\n', rest);
        if (!nl && !r->eof) { /* the line goes on past the buffer: read more */
            cxr_status st = csv_fill(r);
            if (st != CXR_OK) return st;
            continue;
        }
        const char *e = nl ? nl : p + rest;
        r->pos = nl ? (size_t)(nl + 1 - r->data) : r->len;
        int64_t this_line = r->line++;
        if (line) *line = this_line;
        if (e > p && e[-1] == '\r') e--;
        if (e == p) continue; /* blank line */
        int n = 0;
        if (!memchr(p, '"', (size_t)(e - p))) {
            for (;;) { /* fast path: no quotes on this line */
                const char *c = memchr(p, ',', (size_t)(e - p));
                if (csv_push(r, n++, p, c ? (size_t)(c - p) : (size_t)(e - p))) { n = -1; break; }
                if (!c) break;
                p = c + 1;
            }
        } else {
            n = csv_split_quoted(r, p, e);
        }
        if (n == -1) return cxr_set_error(CXR_E_NOMEM, "%s: line %lld: out of memory", r->name,
                                          (long long)this_line);
        if (n == -2) return cxr_set_error(CXR_E_FORMAT, "%s: line %lld: unterminated quote",
                                          r->name, (long long)this_line);
        if (n == -3) return cxr_set_error(CXR_E_FORMAT,
                                          "%s: line %lld: text after a closing quote", r->name,
                                          (long long)this_line);
        *fields = r->fields;
        *n_fields = n;
        return CXR_OK;
    }
}

int cxr_csv_find(const cxr_csv_field *fields, int n_fields, const char *name)
{
    size_t len = strlen(name);
    for (int i = 0; i < n_fields; i++)
        if (fields[i].len == len && memcmp(fields[i].s, name, len) == 0) return i;
    return -1;
}

int cxr_csv_missing(const cxr_csv_field *f)
{
    return f->len == 0 || (f->len == 4 && memcmp(f->s, "None", 4) == 0);
}

cxr_status cxr_manifest_columns_find(cxr_manifest_columns *cols, const cxr_csv_field *header,
                                     int n, const char *name, int require_id_url,
                                     int require_label)
{
    cols->n_columns = n;
    cols->id = cxr_csv_find(header, n, "id");
    cols->url = cxr_csv_find(header, n, "url");
    cols->label = cxr_csv_find(header, n, "landmark_id");
    if (cols->label < 0) cols->label = cxr_csv_find(header, n, "label");
    if (require_id_url && cols->id < 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: header has no 'id' column", name);
    if (require_id_url && cols->url < 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: header has no 'url' column", name);
    if (require_label && cols->label < 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: header has no 'landmark_id' or 'label' column",
                             name);
    return CXR_OK;
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

int cxr_label_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int da = all_digits(a, alen), db = all_digits(b, blen);
    if (da != db) return da ? -1 : 1; /* numbers first */
    if (da) {
        while (alen > 1 && *a == '0') a++, alen--;
        while (blen > 1 && *b == '0') b++, blen--;
        if (alen != blen) return alen < blen ? -1 : 1;
    }
    size_t m = alen < blen ? alen : blen;
    int c = memcmp(a, b, m);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

/* ================================================================ string -> count table */
/* Open addressing, linear probing; keys live in one growing arena (offsets survive realloc). */
typedef struct {
    uint64_t hash;
    uint32_t off, len;
    int64_t count;
    int32_t cls;     /* class index once selected, else -1 */
    int32_t used;
} str_entry;

typedef struct {
    str_entry *e;
    size_t cap, n;     /* cap is a power of two */
    char *arena;
    size_t arena_len, arena_cap;
} str_table;

/* FNV-1a 64 (also the split hash of an id: documented in specs/store.md). */
static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
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
    t->e[j] = (str_entry){.hash = h, .off = (uint32_t)t->arena_len, .len = (uint32_t)n,
                          .count = 0, .cls = -1, .used = 1};
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
        if (t->e[i].used) v[k++] = (sorted_entry){table_key(t, &t->e[i]), &t->e[i]};
    qsort(v, k, sizeof *v, by_count_desc);
    return v;
}

/* ================================================================ exploration */
static cxr_status read_header(cxr_csv *r, const cxr_csv_field **f, int *n)
{
    int64_t line = 0;
    cxr_status st = cxr_csv_next(r, f, n, &line);
    if (st != CXR_OK) return st;
    if (*n == 0) return cxr_set_error(CXR_E_FORMAT, "%s: empty file (no header line)", r->name);
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
    str_table t = {0};
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
    *o = (cxr_manifest_options){.top_classes = 0, .min_count = 1, .val_fraction = 0.1,
                                .test_fraction = 0.1, .strict = 0};
}

typedef struct {
    uint64_t hash;     /* FNV-1a 64 of the id */
    uint32_t id_off;   /* id (NUL-terminated) in the id table's arena */
    uint32_t id_len;
    int32_t label;
    int32_t nested;    /* 1: IMAGES/a/b/c/<id>.jpg, 0: IMAGES/<id>.jpg */
    int32_t split;     /* index into plan->splits once assigned */
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
                           const char *manifest, int64_t line, const char *path,
                           const char *reason)
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

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
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
    str_table labels = {0}, ids = {0};
    sorted_entry *sorted = NULL;
    row_vec rows = {0};
    cxr_manifest_summary s = {0};
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
        CXR_THROW(CXR_E_ARG, "%s: bad manifest options (top-classes >= 0, min-count >= 1, "
                  "fractions >= 0 with val + test < 1)", manifest);
    CXR_TRY(cxr_csv_open(&r, manifest));

    /* Pass 1: count usable rows per label. */
    CXR_TRY(read_header(r, &f, &n));
    CXR_TRY(cxr_manifest_columns_find(&cols, f, n, manifest, 1, 1));
    for (;;) {
        cxr_status rs = cxr_csv_next(r, &f, &n, &line);
        if (rs == CXR_E_FORMAT) continue; /* reported in pass 2 */
        CXR_TRY(rs);
        if (n == 0) break;
        if (n != cols.n_columns || cxr_csv_missing(&f[cols.id]) ||
            cxr_csv_missing(&f[cols.url]) || cxr_csv_missing(&f[cols.label]))
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
        CXR_THROW(CXR_E_ARG, "%s: %d classes selected, a store holds at most %d: use "
                  "--top-classes or --min-count", manifest, n_sel, CXR_MAX_CLASSES);
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
    CXR_TRY(csv_rewind(r));
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
        for (int layout = 0; layout < 2 && nested < 0; layout++) {
            if (layout == 1 && id->len < 3) break;
            int k = snprintf(path, path_cap, "%.*s/", (int)dir_len, images);
            row_rel(path + k, path_cap - (size_t)k, idz, id->len, layout);
            if (is_file(path)) nested = layout;
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
        rows.r[rows.n++] = (plan_row){.hash = ie->hash, .id_off = ie->off,
                                      .id_len = ie->len, .label = le->cls, .nested = nested};
    }

    /* Splits: per class, rows by id hash; the first round(n*test) go to test, the next
     * round(n*val) to val, the rest to train. */
    int i_train = 0, i_val = -1, i_test = -1;
    strcpy(plan->splits[plan->n_splits++].name, "train");
    if (opt->val_fraction > 0) strcpy(plan->splits[i_val = plan->n_splits++].name, "val");
    if (opt->test_fraction > 0) strcpy(plan->splits[i_test = plan->n_splits++].name, "test");
    qsort_r(rows.r, rows.n, sizeof *rows.r, rows_by_label_hash, ids.arena);
    for (size_t a = 0, b; a < rows.n; a = b) {
        for (b = a; b < rows.n && rows.r[b].label == rows.r[a].label; b++) {}
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
        CXR_TRY(cxr_plan_add_item(&plan->splits[w->split], path, rel, w->label));
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
