/* manifest_plan.c: the pack plan of a landmark-style CSV manifest (cxr_plan_from_manifest,
 * cxr_pack.h): id,url,label rows whose images are found by id under a folder. Two streaming
 * passes: the first counts the usable rows per label and picks the classes, the second keeps
 * the rows of those classes whose image exists and records every skip; the kept rows are then
 * split per class by id hash. Memory: one table entry per distinct label plus the kept rows.
 * The rules and their order: specs/store.md, "Manifest inputs". */
#define _GNU_SOURCE /* qsort_r, strndup */
#include "cxr_pack.h"
#include "cxr_files.h"
#include "cxr_splitmix.h"
#include "manifest_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

void cxr_manifest_options_defaults(cxr_manifest_options *o)
{
    *o = (cxr_manifest_options){
        .top_classes = 0,
        .min_count = 1,
        .val_fraction = 0.1,
        .test_fraction = 0.1,
        .strict = 0,
        .class_order = CXR_CLASS_ORDER_COUNT,
    };
}

/* A kept row: its image exists and its class is selected. */
typedef struct {
    uint64_t hash;   /* the id's order: FNV-1a 64 of it, mixed (plan_hash) */
    uint32_t id_off; /* id (NUL-terminated) in the id table's arena */
    uint32_t id_len;
    int32_t label;
    int32_t nested; /* 1: IMAGES/a/b/c/<id>.jpg, 0: IMAGES/<id>.jpg */
    int32_t split;  /* index into plan->splits once assigned */
    uint64_t size;  /* file size when found */
} plan_row;

/* A row skipped as a duplicate id (rule 5), remembered until the classes are final: when the
 * class of the row its id went to is dropped, the id's next row of a class still in takes its
 * place (pass_on_ids). */
typedef struct {
    int64_t holder; /* index into rows of the row that holds the id; -1: none (no image) */
    int64_t skip;   /* index of its record in plan->skipped */
    int32_t label;  /* its class (pass 2's numbering) */
} dup_row;

/* The state of one cxr_plan_from_manifest call. */
typedef struct {
    cxr_pack_plan *plan;
    const char *manifest, *images;
    size_t dir_len; /* of images, trailing slashes left out */
    const cxr_manifest_options *opt;
    cxr_manifest_summary sum;
    cxr_csv *csv;
    cxr_manifest_columns cols;
    cxr_strtab labels; /* usable rows per label (pass 1); .cls: class index, -1 not selected */
    cxr_strtab ids;    /* ids of the rows of selected classes (pass 2) */
    plan_row *rows;    /* kept rows */
    size_t n_rows, cap_rows;
    dup_row *dups; /* rows skipped as duplicate ids, in line order */
    size_t n_dups, cap_dups;
    char *path; /* scratch for "<images>/<rel>" */
    size_t path_cap;
    /* pass 1's data rows and those it passed over, with the first's line and reason: named
     * when no class is left (a manifest whose every row is malformed said only that) */
    int64_t rows_seen, rows_unusable, first_unusable_line;
    char first_unusable[200];
} planner;

/* The reason a row with missing values is skipped, naming them: "missing url", "missing id
 * and label", "missing id, url and label". NULL when none is missing. */
static const char *missing_reason(const cxr_csv_field *id, const cxr_csv_field *url,
                                  const cxr_csv_field *lab)
{
    static const char *const why[8] = { NULL,
                                        "missing id",
                                        "missing url",
                                        "missing id and url",
                                        "missing label",
                                        "missing id and label",
                                        "missing url and label",
                                        "missing id, url and label" };
    return why[cxr_csv_missing(id) | cxr_csv_missing(url) << 1 | cxr_csv_missing(lab) << 2];
}

/* The reason a row whose label no store can hold as a class name is skipped (one such row
 * stopped the whole pack). */
static void long_label_reason(char *buf, size_t cap, size_t len)
{
    snprintf(buf, cap, "label of %zu bytes, longer than a class name may be (%d)", len,
             CXR_CLASS_NAME_MAX);
}

/* Why no image was found, where the first row not found says it (into buf, "" else): its id
 * ends in .jpg or .jpeg (an id names its image without the suffix), or its image is there as
 * <id>.jpeg or <id>.JPG (only <id>.jpg is looked for). */
static void not_found_hint(const planner *pl, char *buf, size_t cap)
{
    static const char *const other[] = { ".jpeg", ".JPG", ".JPEG", ".Jpg" };
    buf[0] = '\0';
    for (int64_t i = 0; i < pl->plan->n_skipped; i++) {
        const cxr_pack_skip *k = &pl->plan->skipped[i];
        if (strcmp(k->reason, "image not found") != 0) continue;
        const size_t n = strlen(k->path);
        for (int j = 0; j < 2; j++) {
            const char *sfx = j ? ".jpeg" : ".jpg";
            const size_t m = strlen(sfx);
            if (n > m && strcasecmp(k->path + n - m, sfx) == 0) {
                snprintf(buf, cap, "; the ids end in %s (%s): an id names its image without it",
                         k->path + n - m, k->path);
                return;
            }
        }
        char p[4400];
        struct stat sb;
        for (size_t j = 0; j < sizeof other / sizeof *other; j++) {
            snprintf(p, sizeof p, "%s/%s%s", pl->images, k->path, other[j]);
            if (stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) {
                snprintf(buf, cap,
                         "; %s is there: images are looked for as <id>.jpg only, flat or nested",
                         p);
                return;
            }
        }
        return; /* the first row not found only */
    }
}

/* Pass 1 passes over a row: count it, and keep the first's line and reason. */
static void unusable(planner *pl, int64_t line, const char *why)
{
    if (pl->rows_unusable++ == 0) {
        pl->first_unusable_line = line;
        snprintf(pl->first_unusable, sizeof pl->first_unusable, "%s", why);
    }
}

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

/* "<manifest>:<line>", malloc'd (NULL on allocation failure). */
static char *line_loc(const char *manifest, int64_t line)
{
    size_t need = strlen(manifest) + 24;
    char *loc = malloc(need);
    if (loc) snprintf(loc, need, "%s:%lld", manifest, (long long)line);
    return loc;
}

/* An id names the file <id>.jpg: at most NAME_MAX (255) bytes with the suffix. */
#define ID_MAX 251

static int bad_id(const char *s, size_t n)
{
    if (s[0] == '.' || n > ID_MAX) return 1;
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

/* Bytes of the first three characters of id (n bytes) in *lens: UTF-8 sequences, a byte that
 * starts none counted alone. 0 when the id has fewer than three. */
static int first_three(const char *id, size_t n, size_t lens[3])
{
    size_t at = 0;
    for (int k = 0; k < 3; k++) {
        if (at >= n) return 0;
        unsigned char b[5] = { 0 }; /* bounded: ids in the arena are not terminated */
        memcpy(b, id + at, n - at < 4 ? n - at : 4);
        const int q = cxr_utf8_seq(b);
        lens[k] = q > 0 ? (size_t)q : 1;
        at += lens[k];
    }
    return 1;
}

/* rel of a row into buf: "<id>.jpg", or nested "a/b/c/<id>.jpg" (an id of fewer than three
 * characters has only the flat layout: find_image checks). */
static void row_rel(char *buf, size_t cap, const char *id, size_t n, int nested)
{
    size_t l[3];
    if (nested && first_three(id, n, l))
        snprintf(buf, cap, "%.*s/%.*s/%.*s/%.*s.jpg", (int)l[0], id, (int)l[1], id + l[0],
                 (int)l[2], id + l[0] + l[1], (int)n, id);
    else
        snprintf(buf, cap, "%.*s.jpg", (int)n, id);
}

static cxr_status path_reserve(planner *pl, size_t need)
{
    if (need <= pl->path_cap) return CXR_OK;
    char *p = realloc(pl->path, need);
    if (!p) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    pl->path = p;
    pl->path_cap = need;
    return CXR_OK;
}

static cxr_status check_options(const cxr_manifest_options *opt, const char *manifest)
{
    if (opt->top_classes < 0 || opt->min_count < 1 || !(opt->val_fraction >= 0) ||
        !(opt->test_fraction >= 0) || !(opt->val_fraction + opt->test_fraction < 1) ||
        (opt->class_order != CXR_CLASS_ORDER_COUNT && opt->class_order != CXR_CLASS_ORDER_NAME))
        return cxr_set_error(CXR_E_ARG,
                             "%s: bad manifest options (top-classes >= 0, min-count >= 1, "
                             "fractions >= 0 with val + test < 1, class order count or name)",
                             manifest);
    return CXR_OK;
}

/* Pass 1: read the header's columns and count the usable rows per label (right field count,
 * id, url and label present). Malformed lines are passed over: pass 2 reports them. */
static cxr_status count_labels(planner *pl)
{
    cxr_status st = CXR_OK;
    const cxr_manifest_columns *c = &pl->cols;
    const cxr_csv_field *f;
    int n;
    int64_t line = 0;
    CXR_TRY(cxr_manifest_read_header(pl->csv, &f, &n));
    CXR_TRY(cxr_manifest_columns_find(&pl->cols, f, n, pl->manifest, 1, 1));
    for (;;) {
        cxr_status rs = cxr_csv_next(pl->csv, &f, &n, &line);
        if (rs == CXR_E_FORMAT) { /* the reason as pass 2 records it */
            const char *why = cxr_csv_why(pl->csv);
            pl->rows_seen++;
            unusable(pl, line, why ? why : "malformed");
            continue;
        }
        CXR_TRY(rs);
        if (n == 0) break;
        if (cxr_manifest_is_header_row(c, f, n)) continue;
        pl->rows_seen++;
        if (n != c->n_columns) {
            char why[64];
            snprintf(why, sizeof why, "%d fields, expected %d", n, c->n_columns);
            unusable(pl, line, why);
            continue;
        }
        cxr_csv_field lab = cxr_manifest_label(&f[c->label]);
        const char *missing = missing_reason(&f[c->id], &f[c->url], &lab);
        if (missing) {
            unusable(pl, line, missing);
            continue;
        }
        if (lab.len > CXR_CLASS_NAME_MAX) { /* no class of a store: pass 2 skips it, named */
            char why[96];
            long_label_reason(why, sizeof why, lab.len);
            unusable(pl, line, why);
            continue;
        }
        int found;
        cxr_strtab_entry *e;
        if ((st = cxr_strtab_get(&pl->labels, lab.s, lab.len, &e, &found)) != CXR_OK) {
            st = cxr_wrap_error(st, "%s: labels", pl->manifest);
            goto bail;
        }
        e->count++;
    }
    pl->sum.classes_total = (int64_t)pl->labels.n;
bail:
    return st;
}

/* Classes: labels by usable rows, most first (ties by label id), those with at least
 * min_count rows, the first top_classes of them (0: all). Each gets its class index (.cls), its
 * place in that order (CXR_CLASS_ORDER_NAME renumbers the classes kept at the end,
 * order_by_name), and its label id as the plan's class name. */
static cxr_status select_classes(planner *pl)
{
    cxr_status st = CXR_OK;
    const cxr_manifest_options *opt = pl->opt;
    cxr_pack_plan *plan = pl->plan;
    int n_sel = 0;
    cxr_strtab_item *sorted = cxr_strtab_by_count(&pl->labels);
    if (!sorted) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    for (size_t i = 0; i < pl->labels.n; i++) {
        if (sorted[i].e->count < opt->min_count) break;
        if (opt->top_classes && n_sel == opt->top_classes) break;
        n_sel++;
    }
    /* where the first row's fault is its label, the column named: with both, landmark_id */
    const int label_why = strstr(pl->first_unusable, "label") && pl->cols.label_name;
    if (n_sel == 0 && pl->rows_unusable > 0)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: no class with at least %lld usable rows: %lld of its %lld data rows are "
                  "not usable, the first at line %lld: %s%s%s%s",
                  pl->manifest, (long long)opt->min_count, (long long)pl->rows_unusable,
                  (long long)pl->rows_seen, (long long)pl->first_unusable_line, pl->first_unusable,
                  label_why ? " (labels are read from column '" : "",
                  label_why ? pl->cols.label_name : "", label_why ? "')" : "");
    if (n_sel == 0)
        CXR_THROW(CXR_E_FORMAT, "%s: no class with at least %lld usable rows (%lld data rows)",
                  pl->manifest, (long long)opt->min_count, (long long)pl->rows_seen);
    if (n_sel > CXR_MAX_CLASSES)
        CXR_THROW(CXR_E_ARG,
                  "%s: %d classes selected, a store holds at most %d: use "
                  "--top-classes or --min-count",
                  pl->manifest, n_sel, CXR_MAX_CLASSES);
    if (!(plan->class_names = calloc((size_t)n_sel, sizeof *plan->class_names)))
        CXR_THROW(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    for (int c = 0; c < n_sel; c++) { /* (no label past CXR_CLASS_NAME_MAX: pass 1 skips them) */
        sorted[c].e->cls = c;
        if (!(plan->class_names[c] = strdup(sorted[c].key)))
            CXR_THROW(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
        plan->n_classes = c + 1;
    }
bail:
    free(sorted);
    return st;
}

/* Record a skipped row (path: the id, shown with its line, or "<manifest>:<line>", by_line,
 * which holds it already); under strict it is the error. */
static cxr_status skip_row(planner *pl, int64_t line, const char *path, int by_line,
                           const char *reason)
{
    if (pl->opt->strict)
        return cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %s: %s (--strict)", pl->manifest,
                             (long long)line, path, reason);
    cxr_status st = cxr_plan_add_skip(pl->plan, "", path, reason);
    if (st == CXR_OK) pl->plan->skipped[pl->plan->n_skipped - 1].line = by_line ? 0 : line;
    return st;
}

/* Rule 1: a malformed line, recorded at "<manifest>:<line>" with its reason (why). */
static cxr_status skip_malformed(planner *pl, int64_t line, const char *why)
{
    char reason[192];
    snprintf(reason, sizeof reason, "malformed line: %s", why);
    char *loc = line_loc(pl->manifest, line);
    if (!loc) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    cxr_status st = cxr_plan_add_skip(pl->plan, "", loc, reason);
    free(loc);
    if (st == CXR_OK) pl->sum.malformed++;
    return st;
}

/* Rules 2 and 4: skip a row named by a copy of its id (or by its line when the id is missing,
 * `by_line`), counting it in *count. */
static cxr_status skip_copied(planner *pl, int64_t line, const cxr_csv_field *id, int by_line,
                              const char *reason, int64_t *count)
{
    /* an id too long to name a file is not copied: every row of /skipped would be as wide */
    const int named_by_line = by_line || id->len > ID_MAX;
    char *loc = named_by_line ? line_loc(pl->manifest, line) : strndup(id->s, id->len);
    if (!loc) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    cxr_status st = skip_row(pl, line, loc, named_by_line, reason);
    free(loc);
    if (st == CXR_OK) (*count)++;
    return st;
}

/* Find the image of id idz (n bytes): IMAGES/<id>.jpg first, then IMAGES/<a>/<b>/<c>/<id>.jpg
 * (a, b, c its first three characters) for ids of three characters or more. *nested: the
 * layout found (0 flat, 1 nested) or -1; *size its bytes. */
static cxr_status find_image(planner *pl, const char *idz, size_t n, int *nested, uint64_t *size)
{
    cxr_status st = path_reserve(pl, pl->dir_len + 2 * n + 16);
    if (st != CXR_OK) return st;
    *nested = -1;
    *size = 0;
    size_t l[3];
    for (int layout = 0; layout < 2 && *nested < 0; layout++) {
        if (layout == 1 && !first_three(idz, n, l)) break;
        int k = snprintf(pl->path, pl->path_cap, "%.*s/", (int)pl->dir_len, pl->images);
        row_rel(pl->path + k, pl->path_cap - (size_t)k, idz, n, layout);
        if (is_file(pl->path, size)) *nested = layout;
    }
    return CXR_OK;
}

/* Room for one more element in the array *v of *cap elements of `size` bytes holding n. */
static cxr_status grow(planner *pl, void **v, size_t *cap, size_t n, size_t size)
{
    if (n < *cap) return CXR_OK;
    const size_t c = *cap ? *cap * 2 : 1024;
    void *p = realloc(*v, c * size);
    if (!p) return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    *v = p;
    *cap = c;
    return CXR_OK;
}

static cxr_status push_row(planner *pl, plan_row r)
{
    cxr_status st = grow(pl, (void **)&pl->rows, &pl->cap_rows, pl->n_rows, sizeof r);
    if (st == CXR_OK) pl->rows[pl->n_rows++] = r;
    return st;
}

/* Where an id falls in the splits and in its split's order: its FNV-1a 64 (the table's hash)
 * through splitmix64's finalizer. FNV-1a alone orders ids that differ in their last characters
 * next to each other (img00400..img00499 were the first 100 of img00000..img00999), so
 * sequential ids made val and test blocks of the sequence and shards of one class; mixed, each
 * output bit depends on every input bit (since 0.24: a manifest packed before splits so no more). */
static uint64_t plan_hash(uint64_t fnv) { return cxr_splitmix64_mix(fnv); }

static cxr_status keep_row(planner *pl, const cxr_strtab_entry *id, int32_t label, int nested,
                           uint64_t size)
{
    return push_row(pl, (plan_row){ .hash = plan_hash(id->hash),
                                    .id_off = id->off,
                                    .id_len = id->len,
                                    .label = label,
                                    .nested = nested,
                                    .size = size });
}

/* Remember duplicate d, whose skip is the plan's last record. */
static cxr_status note_dup(planner *pl, dup_row d)
{
    d.skip = pl->plan->n_skipped - 1;
    cxr_status st = grow(pl, (void **)&pl->dups, &pl->cap_dups, pl->n_dups, sizeof d);
    if (st == CXR_OK) pl->dups[pl->n_dups++] = d;
    return st;
}

/* Rules 2-6 for a well-formed record f (line `line`): missing values, a label of another class,
 * a bad id, a duplicate id, no image; else the row is kept. */
static cxr_status take_record(planner *pl, const cxr_csv_field *f, int64_t line)
{
    cxr_status st = CXR_OK;
    cxr_csv_field lab_trim = cxr_manifest_label(&f[pl->cols.label]);
    const cxr_csv_field *id = &f[pl->cols.id], *lab = &lab_trim;
    const char *missing = missing_reason(id, &f[pl->cols.url], lab);
    if (missing) return skip_copied(pl, line, id, cxr_csv_missing(id), missing, &pl->sum.missing);
    if (lab->len > CXR_CLASS_NAME_MAX) {
        char why[96];
        long_label_reason(why, sizeof why, lab->len);
        return skip_copied(pl, line, id, 0, why, &pl->sum.long_label);
    }
    int found;
    cxr_strtab_entry *le, *ie;
    if ((st = cxr_strtab_get(&pl->labels, lab->s, lab->len, &le, &found)) != CXR_OK)
        return cxr_wrap_error(st, "%s: labels", pl->manifest);
    if (le->cls < 0) {
        pl->sum.other_class++;
        return CXR_OK;
    }
    if (bad_id(id->s, id->len)) return skip_copied(pl, line, id, 0, "bad id", &pl->sum.bad_id);
    if ((st = cxr_strtab_get(&pl->ids, id->s, id->len, &ie, &found)) != CXR_OK)
        return cxr_wrap_error(st, "%s: ids", pl->manifest);
    const char *idz = cxr_strtab_key(&pl->ids, ie);
    if (found) {
        const dup_row d = { .holder = ie->count - 1, .label = le->cls };
        CXR_TRY(skip_row(pl, line, idz, 0, "duplicate id"));
        pl->sum.duplicate++;
        return note_dup(pl, d);
    }
    int nested;
    uint64_t size;
    CXR_TRY(find_image(pl, idz, id->len, &nested, &size));
    if (nested < 0) {
        CXR_TRY(skip_row(pl, line, idz, 0, "image not found"));
        pl->sum.not_found++;
        return CXR_OK;
    }
    ie->count = (int64_t)pl->n_rows + 1; /* the id's holder, for a later duplicate */
    CXR_TRY(keep_row(pl, ie, le->cls, nested, size));
bail:
    return st;
}

/* Pass 2: every data record, in order, through the rules: kept, skipped with its reason
 * (recorded in the plan; the error under strict) or only counted. No kept row is an error. */
static cxr_status collect_rows(planner *pl)
{
    cxr_status st = CXR_OK;
    const cxr_csv_field *f;
    int n;
    int64_t line = 0;
    CXR_TRY(cxr_csv_rewind(pl->csv));
    CXR_TRY(cxr_manifest_read_header(pl->csv, &f, &n));
    for (;;) {
        cxr_status rs = cxr_csv_next(pl->csv, &f, &n, &line);
        if (rs == CXR_OK && n == 0) break;
        pl->sum.rows++;
        char why[64];
        const char *rw = rs == CXR_E_FORMAT ? cxr_csv_why(pl->csv) : NULL;
        snprintf(why, sizeof why, "%s", rw ? rw : "malformed");
        if (rs == CXR_OK && n != pl->cols.n_columns) {
            snprintf(why, sizeof why, "%d fields, expected %d", n, pl->cols.n_columns);
            rs = cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %s", pl->manifest, (long long)line,
                               why);
        } else if (rs == CXR_OK && cxr_manifest_is_header_row(&pl->cols, f, n)) {
            snprintf(why, sizeof why, "repeated header row");
            rs = cxr_set_error(CXR_E_FORMAT, "%s: line %lld: %s", pl->manifest, (long long)line,
                               why);
        }
        if (rs == CXR_E_FORMAT) {
            if (pl->opt->strict) CXR_TRY(rs);
            CXR_TRY(skip_malformed(pl, line, why));
            continue;
        }
        CXR_TRY(rs);
        CXR_TRY(take_record(pl, f, line));
    }
    if (pl->n_rows == 0) {
        char hint[4600];
        not_found_hint(pl, hint, sizeof hint);
        CXR_THROW(CXR_E_FORMAT,
                  "%s: no image found under %s for the %lld rows of the selected "
                  "classes (looked for DIR/<id>.jpg and DIR/<a>/<b>/<c>/<id>.jpg)%s",
                  pl->manifest, pl->images,
                  (long long)(pl->sum.not_found + pl->sum.duplicate + pl->sum.bad_id), hint);
    }
bail:
    return st;
}

/* The duplicate rows of one id, for drop_thin_classes: dups[idx[first .. first+len)] in line
 * order; cand: the first of them not yet looked at; next: the following group listed under
 * the same class (the class of the row that holds the id now; -1: the last). */
typedef struct {
    size_t first, len, cand;
    int64_t next;
} dup_group;

static int dups_by_holder(const void *pa, const void *pb, void *ctx)
{
    const dup_row *d = ctx;
    const size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (d[a].holder != d[b].holder) return d[a].holder < d[b].holder ? -1 : 1;
    return a < b ? -1 : a > b; /* line order within an id */
}

/* State of drop_thin_classes: rows per class, classes dropped, the ids' groups by holder
 * class, and the skip records of rows that took an id (removed at the end). */
typedef struct {
    int64_t *kept, *head;
    unsigned char *dropped, *gone;
    size_t *idx;
    dup_group *g;
    size_t n_g, n_gone;
} thinning;

static void thinning_free(thinning *t)
{
    free(t->kept), free(t->head), free(t->dropped), free(t->gone), free(t->idx), free(t->g);
}

/* Group the duplicates (those whose id a row holds) by id, each listed under its holder's
 * class. */
static cxr_status group_dups(planner *pl, thinning *t, int k)
{
    size_t n = 0;
    t->idx = malloc((pl->n_dups ? pl->n_dups : 1) * sizeof *t->idx);
    t->g = malloc((pl->n_dups ? pl->n_dups : 1) * sizeof *t->g);
    t->gone = calloc(pl->plan->n_skipped ? (size_t)pl->plan->n_skipped : 1, 1);
    if (!t->idx || !t->g || !t->gone)
        return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    for (size_t i = 0; i < pl->n_dups; i++)
        if (pl->dups[i].holder >= 0) t->idx[n++] = i;
    qsort_r(t->idx, n, sizeof *t->idx, dups_by_holder, pl->dups);
    for (int c = 0; c < k; c++) t->head[c] = -1;
    for (size_t a = 0, b; a < n; a = b) {
        const int64_t h = pl->dups[t->idx[a]].holder;
        for (b = a; b < n && pl->dups[t->idx[b]].holder == h; b++) {
        }
        dup_group *g = &t->g[t->n_g];
        const int32_t cls = pl->rows[h].label;
        *g = (dup_group){ .first = a, .len = b - a, .cand = 0, .next = t->head[cls] };
        t->head[cls] = (int64_t)t->n_g++;
    }
    return CXR_OK;
}

/* Class c is dropped: each id it held goes to the id's first later row of a class not dropped
 * (a new kept row, the holder's image: images are found by id; that row's "duplicate id"
 * record goes), and is then listed under that class. */
static cxr_status pass_on_ids(planner *pl, thinning *t, int c)
{
    for (int64_t gi = t->head[c], next; gi >= 0; gi = next) {
        dup_group *g = &t->g[gi];
        next = g->next;
        const dup_row *d = NULL;
        while (g->cand < g->len && !d) {
            const dup_row *x = &pl->dups[t->idx[g->first + g->cand++]];
            if (!t->dropped[x->label]) d = x;
        }
        if (!d) continue; /* no row of a class left: the id goes with the class */
        plan_row r = pl->rows[d->holder];
        r.label = d->label;
        const cxr_status st = push_row(pl, r);
        if (st != CXR_OK) return st;
        t->kept[d->label]++;
        t->gone[d->skip] = 1;
        t->n_gone++;
        g->next = t->head[d->label];
        t->head[d->label] = gi;
    }
    t->head[c] = -1;
    return CXR_OK;
}

/* A selected class whose rows, once their images were looked for (pass 2), number fewer than
 * max(1, min_count) is dropped and the classes after it renumbered: a store never holds a class
 * without images, and --min-count holds for the images found. Classes are dropped one at a
 * time, the fewest rows first (ties: the first in class order, which had more rows in pass 1,
 * so lost more of them to pass 2), and the ids a dropped class held go to their next rows of
 * classes still in (pass_on_ids) before the next one is judged, so that a class those rows
 * lift to the count stays. A dropped class's rows count as other classes'. Classes are not
 * refilled from below the --top-classes cut: the store then has fewer. */
static cxr_status drop_thin_classes(planner *pl)
{
    cxr_status st = CXR_OK;
    cxr_pack_plan *plan = pl->plan;
    const int k = plan->n_classes;
    const int64_t need = pl->opt->min_count > 1 ? pl->opt->min_count : 1;
    thinning t = { 0 };
    int *to = malloc((size_t)k * sizeof *to);
    t.kept = calloc((size_t)k, sizeof *t.kept);
    t.head = malloc((size_t)k * sizeof *t.head);
    t.dropped = calloc((size_t)k, 1);
    if (!to || !t.kept || !t.head || !t.dropped)
        CXR_THROW(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    for (size_t i = 0; i < pl->n_rows; i++) t.kept[pl->rows[i].label]++;
    CXR_TRY(group_dups(pl, &t, k));
    for (;;) {
        int c = -1;
        for (int j = 0; j < k; j++)
            if (!t.dropped[j] && t.kept[j] < need && (c < 0 || t.kept[j] < t.kept[c])) c = j;
        if (c < 0) break;
        t.dropped[c] = 1;
        pl->sum.dropped++;
        pl->sum.other_class += t.kept[c];
        CXR_TRY(pass_on_ids(pl, &t, c));
    }
    int n = 0;
    for (int c = 0; c < k; c++) {
        if (!t.dropped[c]) {
            to[c] = n;
            plan->class_names[n++] = plan->class_names[c];
            continue;
        }
        to[c] = -1;
        free(plan->class_names[c]);
        plan->class_names[c] = NULL;
    }
    for (int c = n; c < k; c++) plan->class_names[c] = NULL;
    plan->n_classes = n;
    size_t m = 0;
    for (size_t i = 0; i < pl->n_rows; i++) {
        const int32_t c = to[pl->rows[i].label];
        if (c < 0) continue;
        pl->rows[m] = pl->rows[i];
        pl->rows[m++].label = c;
    }
    pl->n_rows = m;
    int64_t s = 0; /* the skip records of rows that took an id */
    for (int64_t j = 0; t.n_gone && j < plan->n_skipped; j++) {
        if (!t.gone[j]) {
            plan->skipped[s++] = plan->skipped[j];
            continue;
        }
        free(plan->skipped[j].split);
        free(plan->skipped[j].path);
        free(plan->skipped[j].reason);
    }
    if (t.n_gone) plan->n_skipped = s;
    pl->sum.duplicate -= (int64_t)t.n_gone;
    if (n == 0)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: none of the %d selected classes has %lld usable row(s) once the images "
                  "under %s were looked for (the reasons are in the skips)",
                  pl->manifest, k, (long long)need, pl->images);
bail:
    thinning_free(&t);
    free(to);
    return st;
}

static int class_by_label(const void *a, const void *b, void *names)
{
    const char *const *n = names;
    const char *x = n[*(const int *)a], *y = n[*(const int *)b];
    return cxr_label_cmp(x, strlen(x), y, strlen(y));
}

/* CXR_CLASS_ORDER_NAME: the classes kept, renumbered in cxr_label_cmp order of their ids. Done
 * once every choice is made (which classes, which rows), so the order moves the indices only:
 * drop_thin_classes breaks its ties by count order. */
static cxr_status order_by_name(planner *pl)
{
    cxr_pack_plan *plan = pl->plan;
    const int k = plan->n_classes;
    if (pl->opt->class_order != CXR_CLASS_ORDER_NAME || k < 2) return CXR_OK;
    int *by = malloc((size_t)k * sizeof *by), *to = malloc((size_t)k * sizeof *to);
    char **names = malloc((size_t)k * sizeof *names);
    if (!by || !to || !names) {
        free(by);
        free(to);
        free(names);
        return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", pl->manifest);
    }
    for (int c = 0; c < k; c++) by[c] = c;
    qsort_r(by, (size_t)k, sizeof *by, class_by_label, plan->class_names);
    for (int c = 0; c < k; c++) {
        to[by[c]] = c;
        names[c] = plan->class_names[by[c]];
    }
    memcpy(plan->class_names, names, (size_t)k * sizeof *names);
    for (size_t i = 0; i < pl->n_rows; i++) pl->rows[i].label = to[pl->rows[i].label];
    free(by);
    free(to);
    free(names);
    return CXR_OK;
}

/* Splits train, val (fraction > 0), test (fraction > 0). Per class, rows by id hash: the first
 * round(n*test) go to test, the next round(n*val) to val, the rest to train. */
static void assign_splits(planner *pl)
{
    cxr_pack_plan *plan = pl->plan;
    const cxr_manifest_options *opt = pl->opt;
    plan_row *rows = pl->rows;
    int i_train = 0, i_val = -1, i_test = -1;
    strcpy(plan->splits[plan->n_splits++].name, "train");
    if (opt->val_fraction > 0) strcpy(plan->splits[i_val = plan->n_splits++].name, "val");
    if (opt->test_fraction > 0) strcpy(plan->splits[i_test = plan->n_splits++].name, "test");
    qsort_r(rows, pl->n_rows, sizeof *rows, rows_by_label_hash, pl->ids.arena);
    for (size_t a = 0, b; a < pl->n_rows; a = b) {
        for (b = a; b < pl->n_rows && rows[b].label == rows[a].label; b++) {
        }
        size_t cn = b - a;
        size_t nt = i_test >= 0 ? (size_t)floor((double)cn * opt->test_fraction + 0.5) : 0;
        size_t nv = i_val >= 0 ? (size_t)floor((double)cn * opt->val_fraction + 0.5) : 0;
        if (nt > cn) nt = cn;
        if (nv > cn - nt) nv = cn - nt;
        if (nt + nv == cn) { /* every class keeps a train row: val, then test, gives it up */
            if (nv > 0)
                nv--;
            else if (nt > 0)
                nt--;
        }
        for (size_t k = 0; k < cn; k++)
            rows[a + k].split = k < nt ? i_test : k < nt + nv ? i_val : i_train;
    }
}

/* The plan's items: within a split, by id hash (classes interleaved, so shards mix classes). */
static cxr_status add_items(planner *pl)
{
    cxr_status st = CXR_OK;
    qsort_r(pl->rows, pl->n_rows, sizeof *pl->rows, rows_by_hash, pl->ids.arena);
    char rel[1024];
    for (size_t k = 0; k < pl->n_rows; k++) {
        const plan_row *w = &pl->rows[k];
        row_rel(rel, sizeof rel, pl->ids.arena + w->id_off, w->id_len, w->nested);
        CXR_TRY(path_reserve(pl, pl->dir_len + strlen(rel) + 2));
        snprintf(pl->path, pl->path_cap, "%.*s/%s", (int)pl->dir_len, pl->images, rel);
        CXR_TRY(cxr_plan_add_item(&pl->plan->splits[w->split], pl->path, rel, w->label, w->size));
        pl->sum.planned++;
    }
bail:
    return st;
}

cxr_status cxr_plan_from_manifest(cxr_pack_plan *plan, const char *manifest, const char *images,
                                  const cxr_manifest_options *opt, cxr_manifest_summary *sum)
{
    cxr_status st = CXR_OK;
    planner pl = {
        .plan = plan, .manifest = manifest, .images = images, .opt = opt, .dir_len = strlen(images)
    };
    while (pl.dir_len > 1 && images[pl.dir_len - 1] == '/') pl.dir_len--;
    memset(plan, 0, sizeof *plan);

    CXR_TRY(check_options(opt, manifest));
    CXR_TRY(cxr_csv_open(&pl.csv, manifest));
    CXR_TRY(count_labels(&pl)); /* pass 1 */
    CXR_TRY(select_classes(&pl));
    if (!(plan->source = strdup(manifest))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", manifest);
    CXR_TRY(collect_rows(&pl)); /* pass 2 */
    CXR_TRY(drop_thin_classes(&pl));
    CXR_TRY(order_by_name(&pl));
    assign_splits(&pl);
    CXR_TRY(add_items(&pl));
bail:
    free(pl.path);
    free(pl.rows);
    free(pl.dups);
    cxr_strtab_free(&pl.labels);
    cxr_strtab_free(&pl.ids);
    cxr_csv_destroy(pl.csv);
    if (st != CXR_OK) cxr_plan_free(plan);
    if (sum) *sum = pl.sum;
    return st;
}
