/* cxr_json.h: cJSON helpers shared by the writers of JSON (the training log, cxr-eval --json,
 * the ONNX model's metadata). */
#ifndef CXR_JSON_H
#define CXR_JSON_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Strings that may hold any bytes (paths, class names) in JSON, which must be UTF-8, as cxr's
 * tables do (cxr_table.h): obj[name] = s with each byte that starts no valid UTF-8 sequence
 * replaced by U+FFFD, and then obj[name + "_hex"] = s's exact bytes as hex, so a file whose name
 * is not UTF-8 can still be found. The array form appends the repaired string alone. */
struct cJSON;
void cxr_json_add_text(struct cJSON *obj, const char *name, const char *s);
void cxr_json_append_text(struct cJSON *array, const char *s);
/* obj[name] = v in the fewest of 15, 16 or 17 significant digits that read back as exactly v
 * (cxr_format_double: not always the shortest such decimal, 5e-324 prints as
 * 4.94065645841247e-324), or null when v is not finite, as cJSON prints it. cJSON's own printer
 * keeps 15 digits when they read back within about an ulp: a threshold printed so could decide
 * one image otherwise when pasted back. */
void cxr_json_add_number(struct cJSON *obj, const char *name, double v);
/* The same number as an item (for an array); NULL when memory ran out. */
struct cJSON *cxr_json_number(double v);
/* obj[name] = the k x k matrix m (row-major) as an array of k rows of integers, each row one
 * preformatted item rather than k number nodes (a 4096-class matrix took 1.3 GB as nodes). 0, or
 * -1 when memory ran out (obj is then left without it). */
int cxr_json_add_int_matrix(struct cJSON *obj, const char *name, const int64_t *m, int k);

#ifdef __cplusplus
}
#endif

#endif
