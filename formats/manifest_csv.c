/* manifest_csv.c: the CSV reader of cxr_manifest.h: RFC 4180 records read from a file in
 * 4 MiB blocks (memory stays flat whatever the file size) or parsed in place from memory; a
 * fast path splits lines without quotes with memchr. The dialect is documented in
 * cxr_manifest.h and specs/store.md ("Manifest inputs"). */
#include "manifest_internal.h"
#include "cxr_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ================================================================ CSV reader */
/* A file is read in blocks of CSV_BLOCK bytes into one buffer (grown only for a longer line),
 * so memory stays flat whatever the file size; memory input is parsed in place. */
#define CSV_BLOCK ((size_t)4 << 20)
/* The longest line read: memory stays bounded on a file without newlines (a binary file, a
 * wrong path). A manifest line is an id, a URL and a label: far shorter. */
#define CSV_MAX_LINE_MIB 64
#define CSV_MAX_LINE     ((size_t)CSV_MAX_LINE_MIB << 20)
#define CXR_STR_(x)      #x
#define CXR_STR(x)       CXR_STR_(x)

struct cxr_csv {
    char *name;
    const char *data; /* buffered bytes (file) or the caller's memory */
    size_t len, pos;
    int64_t line; /* line number of the next line to read (1-based) */
    int fd;       /* -1 for memory input */
    int eof;      /* no more bytes to read beyond data[len] */
    char *buf;    /* file buffer */
    size_t cap;
    cxr_csv_field *fields;
    int cap_fields;
    char *scratch; /* unescaped quoted fields of the current record */
    size_t cap_scratch;
    const char *why; /* the last malformed line's reason (a literal), or NULL */
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
        if (!b)
            return cxr_set_error(CXR_E_NOMEM, "%s: out of memory (line of %zu bytes)", r->name,
                                 keep);
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

cxr_status cxr_csv_rewind(cxr_csv *r)
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
    r->fields[n] = (cxr_csv_field){ s, len };
    return 0;
}

/* Split one line [p, e) with quotes. Unescaped text goes to r->scratch, which holds at least
 * e - p bytes, so field pointers into it stay valid. Returns field count, -1 on NOMEM, or -2/-3/-5
 * for an unterminated quote / text after a closing quote / a quote inside an unquoted field
 * (RFC 4180: a field holding a quote is quoted; the second half of a quoted field broken over
 * two lines, `000",http://u,17`, is then malformed, not a record). */
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
            if (memchr(p, '"', (size_t)(fe - p))) return -5;
            if (csv_push(r, n++, p, (size_t)(fe - p))) return -1;
            p = fe;
        }
        if (p >= e) break;
        p++;          /* the comma */
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
        if (!nl && !r->eof && rest > CSV_MAX_LINE) { /* too long: drop it up to its newline */
            int64_t this_line = r->line++;
            if (line) *line = this_line;
            while (!nl && !r->eof) {
                r->pos = r->len;
                cxr_status st = csv_fill(r);
                if (st != CXR_OK) return st;
                nl = memchr(r->data, '\n', r->len);
            }
            r->pos = nl ? (size_t)(nl + 1 - r->data) : r->len;
            r->why = "line longer than " CXR_STR(CSV_MAX_LINE_MIB) " MiB";
            return cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %s", r->name, (long long)this_line,
                                 r->why);
        }
        if (!nl && !r->eof) { /* the line goes on past the buffer: read more */
            cxr_status st = csv_fill(r);
            if (st != CXR_OK) return st;
            continue;
        }
        const char *e = nl ? nl : p + rest;
        r->pos = nl ? (size_t)(nl + 1 - r->data) : r->len;
        int64_t this_line = r->line++;
        if (line) *line = this_line;
        /* whole but too long: a buffer grown by an earlier long line (or a file read from
         * memory) can hold one up to twice the limit with its newline */
        if ((size_t)(e - p) > CSV_MAX_LINE) {
            r->why = "line longer than " CXR_STR(CSV_MAX_LINE_MIB) " MiB";
            return cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %s", r->name, (long long)this_line,
                                 r->why);
        }
        if (e > p && e[-1] == '\r') e--;
        if (e == p) continue; /* blank line */
        int n = 0;
        if (memchr(p, '\0', (size_t)(e - p))) {
            n = -4; /* not text: a label "x\0y" would be class "x" */
        } else if (!memchr(p, '"', (size_t)(e - p))) {
            for (;;) { /* fast path: no quotes on this line */
                const char *c = memchr(p, ',', (size_t)(e - p));
                if (csv_push(r, n++, p, c ? (size_t)(c - p) : (size_t)(e - p))) {
                    n = -1;
                    break;
                }
                if (!c) break;
                p = c + 1;
            }
        } else {
            n = csv_split_quoted(r, p, e);
        }
        if (n == -1)
            return cxr_set_error(CXR_E_NOMEM, "%s: line %lld: out of memory", r->name,
                                 (long long)this_line);
        r->why = n == -2   ? "unterminated quote"
                 : n == -3 ? "text after a closing quote"
                 : n == -4 ? "NUL byte in the line"
                 : n == -5 ? "quote inside an unquoted field"
                           : NULL;
        if (r->why)
            return cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %s", r->name, (long long)this_line,
                                 r->why);
        *fields = r->fields;
        *n_fields = n;
        return CXR_OK;
    }
}

/* UTF-16 text (PowerShell's "> file.csv", a spreadsheet's "Unicode Text"): a byte-order mark
 * FF FE or FE FF, or ASCII with every other byte NUL. */
static int csv_looks_utf16(const cxr_csv *r)
{
    const unsigned char *d = (const unsigned char *)r->data + r->pos;
    if (r->len - r->pos < 2) return 0;
    return (d[0] == 0xFF && d[1] == 0xFE) || (d[0] == 0xFE && d[1] == 0xFF) ||
           (d[0] == 0) != (d[1] == 0);
}

/* What a file that is no text at all begins as ("an HDF5 file (a cxr store or model?)", "an
 * Excel workbook or other zip archive", ...), else NULL: named, rather than a header of
 * binary bytes without an 'id' column. */
static const char *csv_binary_kind(const cxr_csv *r)
{
    const unsigned char *d = (const unsigned char *)r->data + r->pos;
    const size_t n = r->len - r->pos;
    if (n >= 8 && !memcmp(d, "\x89HDF\r\n\x1a\n", 8)) return "an HDF5 file (a cxr store or model?)";
    if (n >= 4 && !memcmp(d, "PK\x03\x04", 4))
        return "a zip archive (an Excel workbook? save it as \"CSV UTF-8\")";
    if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b) return "gzip-compressed (gunzip it first)";
    return cxr_image_kind(d, n);
}

cxr_status cxr_manifest_read_header(cxr_csv *r, const cxr_csv_field **f, int *n)
{
    int64_t line = 0;
    const char *kind = csv_binary_kind(r);
    if (kind)
        return cxr_set_error(CXR_E_FORMAT, "%s: is %s, not a CSV manifest", cxr_csv_name(r),
                             kind);
    /* named as what it is (it read as "line 1: NUL byte in the line") */
    if (csv_looks_utf16(r))
        return cxr_set_error(CXR_E_FORMAT,
                             "%s: is UTF-16 text, not UTF-8: save it as \"CSV UTF-8\", or convert "
                             "it (iconv -f UTF-16 -t UTF-8)",
                             cxr_csv_name(r));
    cxr_status st = cxr_csv_next(r, f, n, &line);
    if (st != CXR_OK) return st;
    if (*n == 0)
        return cxr_set_error(CXR_E_FORMAT, "%s: empty file (no header line)", cxr_csv_name(r));
    return CXR_OK;
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

/* The names of the header sorted by (length, bytes, column): equal names are neighbours. */
typedef struct {
    const cxr_csv_field *f;
    int col;
} named_column;

static int named_column_cmp(const void *a, const void *b)
{
    const named_column *x = a, *y = b;
    if (x->f->len != y->f->len) return x->f->len < y->f->len ? -1 : 1;
    int c = x->f->len ? memcmp(x->f->s, y->f->s, x->f->len) : 0;
    return c ? c : (x->col > y->col) - (x->col < y->col);
}

/* CXR_E_FORMAT naming a column that appears twice: of all such, the one whose second
 * appearance comes first, and its first appearance (O(n log n): a wrong file's first line can
 * hold a million fields). Unnamed columns may repeat (a spreadsheet's trailing commas): no
 * name can ask for one. */
static cxr_status duplicate_column(const cxr_csv_field *header, int n, const char *name)
{
    if (n < 2) return CXR_OK;
    named_column *v = malloc((size_t)n * sizeof *v);
    if (!v) return cxr_set_error(CXR_E_NOMEM, "%s: header: out of memory (%d columns)", name, n);
    for (int i = 0; i < n; i++) v[i] = (named_column){ &header[i], i };
    qsort(v, (size_t)n, sizeof *v, named_column_cmp);
    int first = -1, second = -1;
    for (int k = 0; k < n;) { /* each run of equal names: its first two columns */
        int e = k + 1;
        while (e < n && v[e].f->len == v[k].f->len && !memcmp(v[e].f->s, v[k].f->s, v[k].f->len))
            e++;
        if (e - k >= 2 && v[k].f->len > 0 && (second < 0 || v[k + 1].col < second))
            first = v[k].col, second = v[k + 1].col;
        k = e;
    }
    free(v);
    if (second < 0) return CXR_OK;
    return cxr_set_error(CXR_E_FORMAT,
                         "%s: header: column '%.*s' appears twice (columns %d and %d)", name,
                         (int)header[second].len, header[second].s, first + 1, second + 1);
}

cxr_status cxr_manifest_columns_find(cxr_manifest_columns *cols, const cxr_csv_field *header, int n,
                                     const char *name, int require_id_url, int require_label)
{
    cols->n_columns = n;
    /* a carriage return left inside the header: the file ends its lines with CR alone (classic
     * Mac OS, Excel's "CSV (Macintosh)"), so the whole file reads as one line */
    for (int i = 0; i < n; i++)
        if (memchr(header[i].s, '\r', header[i].len))
            return cxr_set_error(CXR_E_FORMAT,
                                 "%s: line 1: a carriage return inside the header: lines ended "
                                 "by CR alone are not supported (convert the file to LF or CRLF)",
                                 name);
    /* A column named twice is refused: which of the two the user meant is unknowable. */
    cxr_status dup = duplicate_column(header, n, name);
    if (dup != CXR_OK) return dup;
    cols->id = cxr_csv_find(header, n, "id");
    cols->url = cxr_csv_find(header, n, "url");
    cols->label = cxr_csv_find(header, n, "landmark_id");
    cols->label_name = "landmark_id";
    if (cols->label < 0) {
        cols->label = cxr_csv_find(header, n, "label");
        cols->label_name = "label";
    }
    const char *need = require_id_url && cols->id < 0     ? "'id'"
                       : require_id_url && cols->url < 0  ? "'url'"
                       : require_label && cols->label < 0 ? "'landmark_id' or 'label'"
                                                          : NULL;
    if (!need) return CXR_OK;
    /* the names as read, so that " url" or "Url" shows why it is not "url" */
    char seen[512];
    size_t k = 0;
    for (int i = 0; i < n && i < 8 && k < sizeof seen; i++) {
        int m = snprintf(seen + k, sizeof seen - k, "%s'%.*s%s'", i ? ", " : "",
                         (int)(header[i].len > 40 ? 40 : header[i].len), header[i].s,
                         header[i].len > 40 ? "..." : "");
        k = m < 0 ? sizeof seen : k + (size_t)m;
    }
    return cxr_set_error(CXR_E_FORMAT, "%s: header has no %s column (its columns: %s%s)", name,
                         need, k < sizeof seen ? seen : "?", n > 8 ? ", ..." : "");
}

cxr_csv_field cxr_manifest_label(const cxr_csv_field *f)
{
    cxr_csv_field t = *f;
    while (t.len && (t.s[0] == ' ' || t.s[0] == '\t')) t.s++, t.len--;
    while (t.len && (t.s[t.len - 1] == ' ' || t.s[t.len - 1] == '\t')) t.len--;
    return t;
}

static int field_is(const cxr_csv_field *f, const char *s)
{
    return f->len == strlen(s) && !memcmp(f->s, s, f->len);
}

int cxr_manifest_is_header_row(const cxr_manifest_columns *cols, const cxr_csv_field *f, int n)
{
    if (n != cols->n_columns || cols->id < 0 || cols->url < 0) return 0;
    /* a header repeated by `cat a.csv b.csv` keeps b's byte-order mark at its line's start */
    cxr_csv_field g[3] = { f[cols->id], f[cols->url], cols->label >= 0 ? f[cols->label] : f[0] };
    const int at[3] = { cols->id, cols->url, cols->label };
    for (int k = 0; k < 3; k++)
        if (at[k] == 0 && g[k].len >= 3 && !memcmp(g[k].s, "\xEF\xBB\xBF", 3))
            g[k].s += 3, g[k].len -= 3;
    if (!field_is(&g[0], "id") || !field_is(&g[1], "url")) return 0;
    return cols->label < 0 || field_is(&g[2], cols->label_name);
}

static int all_digits(const char *s, size_t n)
{
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

const char *cxr_csv_why(const cxr_csv *r) { return r->why; }

int cxr_label_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int da = all_digits(a, alen), db = all_digits(b, blen);
    if (da != db) return da ? -1 : 1; /* numbers first */
    if (da) {
        size_t a0 = alen, b0 = blen; /* with their leading zeros */
        while (alen > 1 && *a == '0') a++, alen--;
        while (blen > 1 && *b == '0') b++, blen--;
        if (alen != blen) return alen < blen ? -1 : 1;
        int c = memcmp(a, b, alen);
        if (c) return c;
        return a0 < b0 ? -1 : a0 > b0; /* the same number: fewer leading zeros first */
    }
    size_t m = alen < blen ? alen : blen;
    int c = memcmp(a, b, m);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}
