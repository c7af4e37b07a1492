/* cxr_table.h: rows of results (cxr-predict's predictions, cxr-eval --predictions) as TSV, CSV
 * or JSON Lines, to standard output or to a file written through cxr_tmpfile (renamed into
 * place by cxr_table_close only when complete).
 *
 *  - tsv: a header line of the column names, then one line per row, fields separated by tabs;
 *    a field holding a tab, CR, LF or '"' is quoted, '"' doubled (cxr_fputs_field).
 *  - csv: the same with commas (RFC 4180: a field holding ',', CR, LF or '"' is quoted).
 *  - jsonl: no header; one JSON object per row whose keys are the column names, in order.
 *    Strings are valid JSON and valid UTF-8 whatever their bytes: '"', '\' and the control
 *    characters are escaped (\n, \t, \r, \b, \f, else \u00XX); a byte that does not start a
 *    valid UTF-8 sequence becomes U+FFFD, and then the object also carries "<column>_hex": the
 *    field's exact bytes as lowercase hex, so a file name that is not UTF-8 can still be found.
 * Numbers: cxr_table_num %.9g, which reads back as the same float (a probability), and
 * cxr_table_num_exact %.17g, the same double (a threshold): `p >= threshold` on the file decides
 * every row as the tool did (tsv/csv: NAN as an empty field; jsonl: null). An empty value
 * (cxr_table_none) is an empty field or null.
 */
#ifndef CXR_TABLE_H
#define CXR_TABLE_H

#include <stdio.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { CXR_TABLE_TSV = 0, CXR_TABLE_CSV = 1, CXR_TABLE_JSONL = 2 } cxr_table_format;

/* "tsv", "csv" or "jsonl"; CXR_E_ARG naming the value otherwise. */
cxr_status cxr_table_format_parse(const char *name, cxr_table_format *out);

typedef struct cxr_table cxr_table;

/* Start a table with n_cols columns named cols (copied) in format fmt, to `path` (through a
 * temporary beside it) or to stdout when path is NULL; tsv and csv write the header line.
 * Errors: CXR_E_IO naming the file, CXR_E_NOMEM. */
cxr_status cxr_table_open(cxr_table **out, const char *path, cxr_table_format fmt,
                          const char *const *cols, int n_cols);
/* cxr_table_open with the columns lead[0..n_lead), then p_<name> for each of the n_classes
 * class names, then "threshold" when with_threshold: the predictions of cxr-predict and
 * cxr-eval --predictions. */
cxr_status cxr_table_open_probs(cxr_table **out, const char *path, cxr_table_format fmt,
                                const char *const *lead, int n_lead, char *const *classes,
                                int n_classes, int with_threshold);
/* The next field of the current row: a string, a number, nothing. Values beyond n_cols are
 * dropped. */
void cxr_table_str(cxr_table *t, const char *s);
void cxr_table_num(cxr_table *t, double v);       /* a float's value: %.9g */
void cxr_table_num_exact(cxr_table *t, double v); /* a double's value: %.17g */
void cxr_table_none(cxr_table *t);
/* End the row (a missing field is written empty). */
void cxr_table_end_row(cxr_table *t);
/* CXR_E_IO naming the file when a write so far has failed (a full disk shows at the first
 * buffer flushed), so a long run can stop there rather than at cxr_table_close; else CXR_OK. */
cxr_status cxr_table_check(cxr_table *t);
/* Finish: check every write, flush; for a file, rename the temporary into place (stdout is
 * flushed but left open for cxr_stdout_close). Frees t (NULL-safe). CXR_E_IO naming the file
 * (or "standard output") and the reason; on error a file's temporary is removed and nothing
 * is left at path. */
cxr_status cxr_table_close(cxr_table *t);
/* Give up: remove the temporary, free t. NULL-safe. */
void cxr_table_discard(cxr_table *t);

/* Write s as a JSON string with its quotes, by the rule above. Returns 1 when a byte was
 * replaced by U+FFFD (s is not valid UTF-8), else 0. */
int cxr_fputs_json(const char *s, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
