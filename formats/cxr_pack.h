/* cxr_pack.h: what cxr-pack does, as a library: build a pack plan (which file goes to which
 * split with which label) from an image tree or a CSV manifest, then run the parallel
 * decode -> preprocess -> compress -> write pipeline over it.
 *
 * Owners: scan.c (tree), manifest.c (CSV), pack.c (pipeline). The plan is plain data so both
 * front ends and the tests can build one.
 */
#ifndef CXR_PACK_H
#define CXR_PACK_H

#include <signal.h>
#include <stdint.h>

#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *path;      /* file to read (as opened) */
    char *rel;       /* path recorded in the store, relative to the source root */
    int32_t label;   /* class index */
} cxr_pack_item;

typedef struct {
    char name[16];   /* "train", "val" or "test" */
    cxr_pack_item *items;
    int64_t n, cap;
} cxr_pack_split;

typedef struct {
    char *split, *path, *reason;
} cxr_pack_skip;

typedef struct {
    int n_classes;
    char **class_names;       /* [n_classes] */
    int n_splits;
    cxr_pack_split splits[3]; /* written in this order (train, val, test) */
    cxr_pack_skip *skipped;   /* inputs skipped while planning (recorded in the store) */
    int64_t n_skipped, cap_skipped;
    char *source;             /* provenance: the input root or manifest */
} cxr_pack_plan;

/* Free everything the plan owns (not the struct itself); leaves it zeroed. */
void cxr_plan_free(cxr_pack_plan *plan);
/* Append helpers (copy the strings). */
cxr_status cxr_plan_add_item(cxr_pack_split *s, const char *path, const char *rel, int32_t label);
cxr_status cxr_plan_add_skip(cxr_pack_plan *p, const char *split, const char *path, const char *reason);

/* Scan ROOT/{train,val,test}/<class>/<files> (classes = union of folder names, sorted;
 * files sorted; hidden and system files ignored). */
cxr_status cxr_plan_from_tree(cxr_pack_plan *plan, const char *root);
/* Move a fraction of train into a new val split, grouped by patient (documented in
 * specs/store.md), deterministic. Error if a val split already exists. */
cxr_status cxr_plan_split_val_by_patient(cxr_pack_plan *plan, double fraction);

typedef struct {
    const char *output;        /* store path */
    int threads;               /* OpenMP workers (>= 1) */
    int strict;                /* 1: the first skipped input is fatal */
    int progress;              /* 1: progress bar on stderr, else one line per split */
    cxr_store_options store;
    volatile sig_atomic_t *interrupted; /* set by a signal handler; the run stops cleanly */
} cxr_pack_options;

typedef struct {
    int64_t images[3][CXR_MAX_CLASSES > 64 ? 64 : CXR_MAX_CLASSES]; /* per split, per class (first 64) */
    int64_t packed, skipped;
    uint64_t raw_bytes, stored_bytes;
    double seconds;
} cxr_pack_summary;

/* Run the pipeline; on success the store exists at opt->output. On any failure nothing is left
 * at opt->output (and a previous file there is untouched). Skips print one line each on stderr
 * ("skip: <path>: <reason>"). */
cxr_status cxr_pack_run(const cxr_pack_plan *plan, const cxr_pack_options *opt,
                        cxr_pack_summary *sum);

#ifdef __cplusplus
}
#endif
#endif
