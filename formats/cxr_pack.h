/* cxr_pack.h: what cxr-pack does, as a library: build a pack plan (which file goes to which
 * split with which label) from an image tree or a CSV manifest, then run the parallel
 * decode -> preprocess -> compress -> write pipeline over it.
 *
 * Owners: scan.c (tree), manifest_plan.c (CSV), pack.c (pipeline). The plan is plain data so
 * both front ends and the tests can build one.
 */
#ifndef CXR_PACK_H
#define CXR_PACK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "cxr_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    char *path;    /* file to read (as opened) */
    char *rel;     /* path recorded in the store, relative to the source root */
    int32_t label; /* class index */
    uint64_t size; /* bytes when planned: the packer decodes the largest files first */
} cxr_pack_item;

typedef struct {
    char name[16]; /* "train", "val" or "test" */
    cxr_pack_item *items;
    int64_t n, cap;
} cxr_pack_split;

typedef struct {
    char *split; /* "train", "val", "test"; "" for a manifest row */
    char *path;  /* recorded in the store: relative to the source root for a tree's skip (shown
                   * under it), a manifest row's id or "<manifest>:<line>" */
    char *reason;
    int64_t line; /* a manifest row's line, shown after its id (0: none; since 0.21) */
} cxr_pack_skip;

typedef struct {
    int n_classes;
    char **class_names; /* [n_classes] */
    int n_splits;
    cxr_pack_split splits[3]; /* written in this order (train, val, test) */
    cxr_pack_skip *skipped;   /* inputs skipped while planning (recorded in the store) */
    int64_t n_skipped, cap_skipped;
    char *source; /* provenance: the input root or manifest */
} cxr_pack_plan;

/* Free everything the plan owns (not the struct itself); leaves it zeroed. */
void cxr_plan_free(cxr_pack_plan *plan);
/* Append an item to a split (path, rel copied). CXR_E_NOMEM on allocation failure. */
cxr_status cxr_plan_add_item(cxr_pack_split *s, const char *path, const char *rel, int32_t label,
                             uint64_t size);
/* Append a planning skip (strings copied; split may be ""). CXR_E_NOMEM on allocation failure. */
cxr_status cxr_plan_add_skip(cxr_pack_plan *p, const char *split, const char *path,
                             const char *reason);

/* Scan ROOT/{train,val,test}/<class>/<files> (classes = union of folder names, sorted;
 * files sorted; hidden and system files ignored; the rules are in scan.c and cxr-pack --help).
 * `plan` is zeroed first and freed on error: CXR_E_ARG (root not a directory), CXR_E_FORMAT
 * (train/ or test/ missing, a val/ there but no folder, no class folder, more than
 * CXR_MAX_CLASSES), CXR_E_IO (a folder cannot be read), CXR_E_NOMEM. */
cxr_status cxr_plan_from_tree(cxr_pack_plan *plan, const char *root);
/* Move a fraction of train into a new val split, grouped by patient and stratified by class
 * (specs/store.md, "Validation split by patient"), deterministic. CXR_E_ARG if fraction is not
 * in (0, 1) or a val split already exists, CXR_E_FORMAT without a train split. */
cxr_status cxr_plan_split_val_by_patient(cxr_pack_plan *plan, double fraction);
/* The images of a class of n that the val split aims at for `fraction` (whole patients are
 * then taken until it is reached, so a class may get more). */
int64_t cxr_val_target(double fraction, int64_t n);
/* Patient id of an image file name (a path: only its last component is used):
 * "personN_..." -> "personN"; "IM-XXXX-YYYY.jpeg" -> "IM-XXXX";
 * "NORMAL2-IM-XXXX-YYYY.jpeg" -> "NORMAL2-IM-XXXX"; anything else -> the stem (name without
 * its extension). Writes a NUL-terminated id (truncated to cap-1 bytes) into out. */
void cxr_patient_id(char *out, size_t cap, const char *file_name);

/* ---- CSV manifests (formats/manifest_plan.c; the CSV reader and --explore are in
 * cxr_manifest.h; the rules are in specs/store.md, "Manifest inputs") ---- */
/* How the selected classes of a manifest are indexed (cxr_manifest_options.class_order). */
typedef enum {
    CXR_CLASS_ORDER_COUNT = 0, /* most rows first, ties by cxr_label_cmp (the default) */
    CXR_CLASS_ORDER_NAME = 1   /* by cxr_label_cmp of the label ids (numbers numerically) */
} cxr_class_order;

typedef struct {
    int top_classes;      /* keep the K most frequent classes; 0: all (at most CXR_MAX_CLASSES) */
    int64_t min_count;    /* drop classes with fewer usable manifest rows (default 1) */
    double val_fraction;  /* per class, stratified (default 0.1) */
    double test_fraction; /* per class, stratified (default 0.1) */
    int strict;           /* 1: a malformed line or a skipped row is an error */
    int class_order;      /* a cxr_class_order: how the selected classes are indexed (since
                             0.18; the selection itself is always by count) */
} cxr_manifest_options;
/* The defaults noted above (all classes, min_count 1, fractions 0.1, not strict, classes in
 * count order). */
void cxr_manifest_options_defaults(cxr_manifest_options *o);

/* What cxr_plan_from_manifest saw (rows = data records, header excluded). Each skipped row is
 * also in plan->skipped with one of the reasons named below; rows of classes that were not
 * selected are only counted (other_class). */
typedef struct {
    int64_t rows;
    int64_t malformed;     /* reason "malformed line" (path "<manifest>:<line>") */
    int64_t missing;       /* reasons "missing id", "missing url and label", ... */
    int64_t bad_id;        /* reason "bad id" ('/', '\\', a leading '.', over 251 bytes) */
    int64_t duplicate;     /* reason "duplicate id" (among rows of the selected classes) */
    int64_t not_found;     /* reason "image not found" (neither layout exists) */
    int64_t other_class;   /* rows of classes not selected (top-K / min-count) or dropped */
    int64_t dropped;       /* selected classes dropped in pass 2: fewer usable rows than
                              max(1, min_count) once their images were looked for */
    int64_t planned;       /* items in the plan, all splits */
    int64_t classes_total; /* distinct labels among usable rows */
    int64_t long_label;    /* reason "label of N bytes, longer than a class name may be (4096)"
                              (since 0.24; before, such a label's class stopped the pack) */
} cxr_manifest_summary;

/* Plan from a manifest with columns id, url and landmark_id (or label), read by header name.
 * Images are IMAGES/<id>.jpg or IMAGES/<a>/<b>/<c>/<id>.jpg (first three characters of the
 * id). Classes: the top_classes most frequent labels with >= min_count rows (ties by
 * cxr_label_cmp), named by their original label id, indexed 0..K-1 in that order, or in
 * cxr_label_cmp order of their ids with class_order CXR_CLASS_ORDER_NAME (which classes and
 * rows are kept does not depend on it). Splits
 * train/val/test (val and test only when their fraction > 0), stratified per class by an id
 * hash, deterministic. Two streaming passes; memory grows with classes plus selected rows.
 * `plan` must be zeroed (or freed); on error it is freed. `sum` may be NULL.
 * Errors: CXR_E_IO (file), CXR_E_FORMAT (no header, missing column, strict skip, no image found),
 * CXR_E_ARG (bad options, or more than CXR_MAX_CLASSES classes selected). */
cxr_status cxr_plan_from_manifest(cxr_pack_plan *plan, const char *manifest, const char *images,
                                  const cxr_manifest_options *opt, cxr_manifest_summary *sum);

/* Progress report, passed to cxr_pack_options.on_progress from the calling thread. */
typedef struct {
    const char *split;           /* split being packed */
    int split_index;             /* index into plan->splits */
    int64_t done, total;         /* inputs of this split processed (packed + skipped) / planned */
    int64_t done_all, total_all; /* same over all splits */
    int64_t skipped;             /* skipped so far (all splits, planning skips included) */
    uint64_t input_bytes;        /* JPEG bytes read so far (all splits) */
    double seconds;              /* since cxr_pack_run started */
    int split_done;              /* 1 on the last report of a split */
} cxr_pack_progress;

typedef struct {
    const char *name, *value;
} cxr_pack_attr;

typedef struct {
    const char *output; /* store path */
    int threads;        /* OpenMP workers (>= 1) */
    int window;         /* shards decoded per round (0: threads, at most 6, never more
                                  than the largest split's shards, lowered until the ring fits
                                  cxr_mem_available(); a given one that does not fit is
                                  CXR_E_NOMEM); the output does not depend on it, memory does */
    int strict;         /* 1: the first skipped input is fatal (CXR_E_DECODE) */
    cxr_store_options store;
    const cxr_pack_attr *attrs; /* extra root attributes (provenance), n_attrs of them */
    int n_attrs;
    volatile sig_atomic_t *interrupted; /* set by a signal handler; the run stops cleanly */
    /* Duplicates (formats/pack_dups.c; specs/store.md, "Duplicates"). Every packed image is
     * hashed (XXH3-64 of its file bytes and of its preprocessed float32 tensor), the hashes are
     * stored per split (file_hash, pixel_hash) and identical inputs are counted within and
     * across splits (cxr_pack_summary.dup_*, root attribute "duplicates"). */
    int no_hashes;                 /* 1: none of that (the A/B baseline; the store has no hashes) */
    int drop_duplicates;           /* 1: pack one copy: the test one, else val, else the first */
    const char *duplicates_report; /* TSV of every group (pixel_hash, file_hash, split, path,
                                      status), written when the store is; NULL: none */
    /* Optional callbacks, always called from the thread that called cxr_pack_run (the library
     * prints nothing itself). on_skip: once per skipped input, in plan order, path as opened. */
    void (*on_skip)(void *ctx, const char *split, const char *path, const char *reason);
    void (*on_progress)(void *ctx, const cxr_pack_progress *p);
    void *ctx;
} cxr_pack_options;

/* Classes counted per split in cxr_pack_summary.images (the first ones; the store has all). */
#define CXR_PACK_SUMMARY_CLASSES 64

/* Groups of >= 2 images with the same hash, among the images that decoded (packed, or dropped
 * by drop_duplicates). */
typedef struct {
    int64_t groups;      /* groups */
    int64_t copies;      /* images beyond the first of each group */
    int64_t within;      /* images beyond the first of their group in their split */
    int64_t across;      /* groups with members in >= 2 splits */
    int64_t pairs[3][3]; /* [a][b], a < b plan splits: groups with members in both */
    int64_t labels;      /* groups whose members carry different classes (since 0.21) */
} cxr_dup_counts;

typedef struct {
    int64_t images[3][CXR_PACK_SUMMARY_CLASSES]; /* per plan split, per class (the first 64) */
    int64_t packed, skipped;
    uint64_t raw_bytes, stored_bytes; /* float32 image bytes packed / chunk bytes written */
    uint64_t input_bytes;             /* JPEG bytes read */
    double seconds;
    int hashed;                          /* !no_hashes: the dup_* below are filled */
    cxr_dup_counts dup_file, dup_pixels; /* identical file bytes; identical preprocessed images */
    int64_t dup_dropped;                 /* by drop_duplicates (also counted in skipped) */
    int window, window_wanted;           /* shards a round used; the default before the memory free
                                  lowered it (equal when it did not) */
} cxr_pack_summary;

/* The summary's duplicate counts as one line (the store's "duplicates" attribute, cxr-pack's
 * stderr): "identical files: G groups, C extra copies (W of them within a split; A groups
 * across splits: train-test N, ...); identical pixels: ...; dropped D". */
void cxr_pack_dups_format(const cxr_pack_summary *sum, const cxr_pack_plan *plan, char *buf,
                          size_t cap);

/* Run the pipeline; on success the store exists at opt->output. On any failure nothing is left
 * at opt->output (and a previous file there is untouched). Skipped inputs are reported through
 * opt->on_skip and recorded in the store. Errors: CXR_E_INTERRUPTED when *opt->interrupted was
 * set, CXR_E_DECODE for the first skip under strict, the writer's codes otherwise.
 * Memory (W: the window after that cap): 2W+2 chunks of shard*size^2*4 bytes (shuffled images) plus
 * as many compressed chunks plus, per thread, the largest input file, one image and the decoder's
 * scratch, whatever the number of inputs (W = window). */
cxr_status cxr_pack_run(const cxr_pack_plan *plan, const cxr_pack_options *opt,
                        cxr_pack_summary *sum);

#ifdef __cplusplus
}
#endif
#endif
