/* cxr_manifest.h: CSV manifests (id,url,label rows, as in the Google Landmark Recognition
 * Challenge's train.csv/test.csv): a streaming CSV reader and the one-pass exploration that
 * `cxr-pack --manifest FILE --explore` prints (manifest_csv.c, manifest_explore.c). Building a
 * pack plan from a manifest is cxr_plan_from_manifest in cxr_pack.h (manifest_plan.c).
 *
 * CSV dialect (specs/store.md, "Manifest inputs"): RFC 4180 fields separated by ',', records
 * ended by LF or CRLF, a field may be quoted with '"' (commas and doubled quotes "" inside);
 * a quoted field must close on its own line (no embedded line breaks: a quote left open at the
 * end of a line is a malformed line, and reading resumes at the next line). A UTF-8 BOM at the
 * start of the file is ignored. Blank lines are ignored.
 */
#ifndef CXR_MANIFEST_H
#define CXR_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_pack.h"
#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- CSV reader */
typedef struct {
    const char *s; /* not NUL-terminated; points into the file or the reader's scratch */
    size_t len;
} cxr_csv_field;

typedef struct cxr_csv cxr_csv;

/* Open `path` for reading (in 4 MiB blocks; an empty file is fine). `name` in messages is the path.
 * CXR_E_IO naming the file if it cannot be opened or mapped. Destroy with cxr_csv_destroy. */
cxr_status cxr_csv_open(cxr_csv **out, const char *path);
/* Read from memory (not copied: `data` must outlive the reader); `name` is used in messages. */
cxr_status cxr_csv_open_mem(cxr_csv **out, const char *data, size_t len, const char *name);
void cxr_csv_destroy(cxr_csv *r); /* NULL-safe */
/* The name messages use (the path, or open_mem's name); owned by the reader. */
const char *cxr_csv_name(const cxr_csv *r);
/* Go back to the first record (the header) for another pass. CXR_E_IO if the seek fails. */
cxr_status cxr_csv_rewind(cxr_csv *r);

/* Next record. Returns CXR_OK with *n_fields fields in *fields (an array owned by the reader,
 * valid until the next call), or CXR_OK with *n_fields = 0 at end of input. A malformed line
 * (unterminated quote, text after a closing quote, a NUL byte, over 64 MiB: dropped up to its
 * newline) returns CXR_E_FORMAT with the message
 * "<name>: line <N>: <reason>"; the reader has then moved to the next line and may go on.
 * *line receives the 1-based line number of the record (may be NULL). */
cxr_status cxr_csv_next(cxr_csv *r, const cxr_csv_field **fields, int *n_fields, int64_t *line);
/* The reason of the malformed line cxr_csv_next last returned CXR_E_FORMAT for, without file
 * and line ("unterminated quote"...): a string that lives as long as the program. */
const char *cxr_csv_why(const cxr_csv *r);

/* Index of the header field equal to `name` (exact, case-sensitive), or -1. */
int cxr_csv_find(const cxr_csv_field *fields, int n_fields, const char *name);

/* A value is missing when it is empty or the literal "None" (what the landmark data uses). */
int cxr_csv_missing(const cxr_csv_field *f);

/* Manifest column positions, read from the header by name: id = "id", url = "url",
 * label = "landmark_id" or else "label". -1 when a column is absent. */
typedef struct {
    int n_columns;
    int id, url, label;
    const char *label_name; /* "landmark_id" or "label" (static) */
} cxr_manifest_columns;
/* Fill *cols from a header record. Returns CXR_E_FORMAT naming `name` and the missing column
 * when `require_id_url` and id or url is absent, or `require_label` and no label column, and
 * naming the column when two header fields are equal (any column: which one is meant is
 * ambiguous; of several, the pair whose second column comes first), and when a header field
 * holds a carriage return (a file whose lines end with CR alone reads as one line). */
cxr_status cxr_manifest_columns_find(cxr_manifest_columns *cols, const cxr_csv_field *header, int n,
                                     const char *name, int require_id_url, int require_label);
/* The label value with leading and trailing spaces and tabs removed (" 1" and "1 " are the
 * label "1"); points into *f. */
cxr_csv_field cxr_manifest_label(const cxr_csv_field *f);
/* 1 when a data record repeats the header (id field "id", url field "url" and label field the
 * label column's name; the line's first field may start with a UTF-8 byte-order mark): what
 * concatenating two CSV files leaves in the middle. */
int cxr_manifest_is_header_row(const cxr_manifest_columns *cols, const cxr_csv_field *f, int n);

/* Deterministic order of label ids: all-digit labels compare as numbers (without overflow:
 * by length, then bytes), other labels by bytes after them. <0, 0, >0 like strcmp. */
int cxr_label_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* ---------------------------------------------------------------- exploration */
#define CXR_EXPLORE_TOP 20

typedef struct {
    char *label; /* original label id (owned by the stats) */
    int64_t count;
} cxr_label_count;

typedef struct {
    char *source;                 /* manifest path (owned) */
    int64_t rows;                 /* data records, header excluded, malformed included */
    int64_t malformed;            /* malformed lines (not otherwise counted) */
    int64_t first_malformed_line; /* 0 if none */
    int n_columns;                /* header columns, all of them (since 0.14; 64 at most before) */
    char **column_names;          /* [n_columns], owned */
    int64_t *missing;             /* [n_columns]: empty or "None" per column, over the rows of
                                     the header's width (others are malformed); owned */
    int has_label;                        /* 0 for a manifest without a label column (test.csv) */
    int64_t n_classes;                    /* distinct labels of usable rows (id, url, label) */
    int n_top;                            /* <= CXR_EXPLORE_TOP */
    cxr_label_count top[CXR_EXPLORE_TOP]; /* most frequent first, ties by cxr_label_cmp */
    int64_t classes_lt10, classes_lt100, classes_lt1000, classes_ge1000; /* cumulative "<" bins */
} cxr_manifest_stats;

/* One streaming pass over the manifest (memory: one entry per distinct label). Missing values
 * are counted per column; classes count the rows packing can use (an id, a url and a label;
 * duplicate ids counted). Malformed lines
 * are counted, not fatal, unless `strict` (then CXR_E_FORMAT naming the line). A missing
 * header, or no id/url column, is CXR_E_FORMAT naming the file. Free with
 * cxr_manifest_stats_free. */
cxr_status cxr_manifest_explore(cxr_manifest_stats *st, const char *path, int strict);
void cxr_manifest_stats_free(cxr_manifest_stats *st); /* NULL-safe; leaves it zeroed */
/* The report `cxr-pack --explore` prints (format in specs/store.md), as a malloc'd
 * NUL-terminated string in *text (caller frees). CXR_E_NOMEM on allocation failure. */
cxr_status cxr_manifest_explore_format(const cxr_manifest_stats *st, char **text);

/* ---------------------------------------------------------------- manifest-mode defaults */
/* Preprocessing defaults of manifest mode (specs/store.md): crop when |w/h - 1| > 0.2,
 * zscore255. */
#define CXR_MANIFEST_CROP_RATIO 0.2
#define CXR_MANIFEST_NORMALIZE  CXR_NORM_ZSCORE255

#ifdef __cplusplus
}
#endif
#endif
