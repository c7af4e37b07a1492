/* pack_manifest.h: cxr-pack's manifest mode (--manifest FILE --images DIR ...): the options'
 * values, their help text, and the steps from those options to a pack plan and a summary line,
 * over the library's cxr_manifest.h. Built into cxr-pack only. */
#ifndef CXR_TOOLS_PACK_MANIFEST_H
#define CXR_TOOLS_PACK_MANIFEST_H

#include <stddef.h>

#include "cxr_manifest.h"

/* getopt_long codes of the manifest options (cxr-pack's option table lists them by name). */
enum {
    PACK_OPT_MANIFEST = 512, /* --manifest FILE */
    PACK_OPT_IMAGES,         /* --images DIR */
    PACK_OPT_EXPLORE,        /* --explore (no argument) */
    PACK_OPT_TOP_CLASSES,    /* --top-classes K */
    PACK_OPT_MIN_COUNT,      /* --min-count N */
    PACK_OPT_TEST_FRACTION,  /* --test-fraction F */
    PACK_OPT_CROP_RATIO,     /* --crop-ratio R */
    PACK_OPT_NORMALIZE,      /* --normalize NAME */
    PACK_OPT_EQUALIZE,       /* --equalize NAME (either mode) */
    PACK_OPT_CLAHE_CLIP,     /* --clahe-clip C (either mode, with CLAHE) */
    PACK_OPT_CLASS_ORDER     /* --class-order count|name */
};

typedef struct {
    const char *manifest;     /* --manifest FILE (NULL: tree mode); borrowed from argv */
    const char *images;       /* --images DIR */
    int explore;              /* --explore */
    cxr_manifest_options opt; /* --top-classes, --min-count, --test-fraction, --class-order
                                 (the tool's --val-fraction and --strict are passed to
                                 pack_manifest_plan) */
    double crop_ratio;        /* --crop-ratio R, when crop_set */
    cxr_norm normalize;       /* --normalize NAME, when norm_set */
    int equalize;             /* --equalize NAME (a CXR_EQUALIZE_*), when eq_set */
    double clahe_clip;        /* --clahe-clip C, when clip_set */
    int crop_set, norm_set, eq_set, clip_set;
    int top_set, min_set, test_set, order_set; /* given (they need --manifest) */
} pack_manifest_args;

/* No manifest, library defaults for the plan, the manifest defaults for preprocessing. */
void pack_manifest_args_defaults(pack_manifest_args *m);
/* Take option `code` (a PACK_OPT_*) with its value (NULL for --explore). CXR_E_ARG with
 * "--name: expected ..., got '<value>'" on a bad value or an unknown code. */
cxr_status pack_manifest_option(pack_manifest_args *m, int code, const char *value);
/* The help text for these options (static, ends with a newline). */
const char *pack_manifest_help(void);
/* Preprocessing for this run: an explicit --crop-ratio/--normalize/--equalize/--clahe-clip
 * wins; otherwise manifest mode takes CXR_MANIFEST_CROP_RATIO / CXR_MANIFEST_NORMALIZE and
 * *pp's equalization (the library's: global); tree mode keeps *pp's crop and normalization and
 * takes CXR_EQUALIZE_CLAHE; the clip limit stays *pp's (CXR_CLAHE_CLIP). CXR_E_ARG when
 * --clahe-clip is given and the equalization is not CLAHE. */
cxr_status pack_manifest_preprocess(const pack_manifest_args *m, cxr_preprocess_params *pp);
/* The plan of manifest mode: checks that --images is given (CXR_E_ARG), takes val_fraction
 * (>= 0: the tool's --val-fraction, 0 for no val split; < 0: the default) and strict, then
 * cxr_plan_from_manifest (its errors). Appends the content-determining options to desc
 * (NUL-terminated, cap bytes) for the store's command_line. *plan is zeroed first and freed on
 * error. */
cxr_status pack_manifest_plan(const pack_manifest_args *m, double val_fraction, int strict,
                              cxr_pack_plan *plan, cxr_manifest_summary *sum, char *desc,
                              size_t cap);
/* One line describing what planning saw ("manifest: 33 rows, 18 planned; skipped: ..."), into
 * buf (NUL-terminated, truncated to cap bytes). */
void pack_manifest_summary_format(const cxr_manifest_summary *s, char *buf, size_t cap);

#endif
