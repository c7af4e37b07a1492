/* pack_manifest.c: cxr-pack's manifest mode (pack_manifest.h): option values, help text, and
 * the glue from the options to cxr_plan_from_manifest and the summary line. */
#include "pack_manifest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cxr_files.h"
#include "cxr_parse.h"

void pack_manifest_args_defaults(pack_manifest_args *m)
{
    memset(m, 0, sizeof *m);
    cxr_manifest_options_defaults(&m->opt);
    m->crop_ratio = CXR_MANIFEST_CROP_RATIO;
    m->normalize = CXR_MANIFEST_NORMALIZE;
}

cxr_status pack_manifest_option(pack_manifest_args *m, int code, const char *value)
{
    double v;
    if (code == PACK_OPT_EXPLORE) {
        m->explore = 1;
        return CXR_OK;
    }
    if (!value) return cxr_set_error(CXR_E_ARG, "manifest option %d: needs a value", code);
    switch (code) {
    /* one of each, as one SRC_DIR: a second took the first's place, unsaid (a whole manifest
     * not packed) */
    case PACK_OPT_MANIFEST:
        if (m->manifest)
            return cxr_set_error(CXR_E_ARG,
                                 "--manifest given twice (%s, %s): one manifest per store; join "
                                 "them into one file first",
                                 m->manifest, value);
        m->manifest = value;
        break;
    case PACK_OPT_IMAGES:
        if (m->images)
            return cxr_set_error(CXR_E_ARG, "--images given twice (%s, %s): give one folder",
                                 m->images, value);
        m->images = value;
        break;
    /* the shared parsers: their messages give the ranges as checked (these said ">= 1" and
     * "[0, 1)" while refusing 1e16 and 0.9999995) */
    case PACK_OPT_TOP_CLASSES:
        if (cxr_parse_int(value, "--top-classes", 0, CXR_MAX_CLASSES, &m->opt.top_classes) !=
            CXR_OK)
            return CXR_E_ARG;
        m->top_set = 1;
        break;
    case PACK_OPT_MIN_COUNT: {
        long c;
        if (cxr_parse_long(value, "--min-count", 1, 1000000000000000L, &c) != CXR_OK)
            return CXR_E_ARG;
        m->opt.min_count = c;
        m->min_set = 1;
        break;
    }
    case PACK_OPT_TEST_FRACTION:
        if (cxr_parse_double(value, "--test-fraction", 0, 0.999999, 0, &v) != CXR_OK)
            return CXR_E_ARG;
        m->opt.test_fraction = v;
        m->test_set = 1;
        break;
    case PACK_OPT_CLASS_ORDER:
        if (!strcmp(value, "count")) m->opt.class_order = CXR_CLASS_ORDER_COUNT;
        else if (!strcmp(value, "name")) m->opt.class_order = CXR_CLASS_ORDER_NAME;
        else
            return cxr_set_error(CXR_E_ARG, "--class-order: expected count or name, got '%s'",
                                 value);
        m->order_set = 1;
        break;
    case PACK_OPT_CROP_RATIO:
        if (cxr_parse_double(value, "--crop-ratio", 0, 1e6, 0, &v) != CXR_OK) return CXR_E_ARG;
        m->crop_ratio = v;
        m->crop_set = 1;
        break;
    case PACK_OPT_NORMALIZE:
        if (cxr_norm_parse(value, &m->normalize) != CXR_OK)
            return cxr_set_error(
                CXR_E_ARG, "--normalize: expected minmax, zscore255 or none, got '%s'", value);
        m->norm_set = 1;
        break;
    case PACK_OPT_EQUALIZE:
        if (cxr_equalize_parse(value, &m->equalize) != CXR_OK)
            return cxr_set_error(CXR_E_ARG,
                                 "--equalize: expected global, clahe or none, got '%s'", value);
        m->eq_set = 1;
        break;
    case PACK_OPT_CLAHE_CLIP:
        if (cxr_parse_double(value, "--clahe-clip", 0, CXR_CLAHE_CLIP_MAX, CXR_PARSE_OPEN_LO,
                             &m->clahe_clip) != CXR_OK)
            return CXR_E_ARG;
        m->clip_set = 1;
        break;
    default: return cxr_set_error(CXR_E_ARG, "option %d: not a manifest option", code);
    }
    return CXR_OK;
}

const char *pack_manifest_help(void)
{
    return "\n"
           "Manifest mode: cxr-pack --manifest FILE.csv --images DIR -o STORE.h5 [options]\n"
           "             cxr-pack --manifest FILE.csv --explore\n"
           "A CSV manifest (header read by name: id, url, and landmark_id or label; RFC 4180\n"
           "quoting, LF or CRLF) lists the images: DIR/<id>.jpg, or DIR/<a>/<b>/<c>/<id>.jpg\n"
           "with a, b, c the first three characters of the id. Classes are the original label\n"
           "ids, the most frequent first (ties by label id, numerically), indexed 0..K-1\n"
           "(--class-order name: by label id). Splits are stratified per class by a hash of the\n"
           "id (FNV-1a, mixed): round(n x test-fraction) to test, round(n x val-fraction) to\n"
           "val, the rest to train. Rows with an empty or \"None\" id/url/label, a label past\n"
           "4096 bytes, a bad id, a duplicate id, a missing image or a malformed line (wrong\n"
           "field count, unterminated quote: named by line number) are skipped, counted per\n"
           "reason and recorded in the store; only --strict makes them fatal.\n"
           "  --manifest FILE       pack (or explore) the images a CSV manifest lists\n"
           "  --images DIR          where the images are (required to pack)\n"
           "  --explore             print rows, columns, missing values per column, unique "
           "classes, the\n"
           "                        20 most frequent classes and classes with < 10, < 100, < 1000 "
           "and\n"
           "                        >= 1000 usable rows (cumulative); pack nothing (only --strict "
           "and\n"
           "                        --quiet go with it). One streaming pass: FILE may be a pipe,\n"
           "                        or - for standard input (a pack reads FILE twice: a file)\n"
           "  --top-classes K       keep the K most frequent classes (default 0: all; a store "
           "holds at\n"
           "                        most 4096 classes)\n"
           "  --min-count N         drop classes with fewer than N usable rows (default 1)\n"
           "  --class-order ORDER   how the kept classes are indexed: count (most rows first; "
           "default)\n"
           "                        or name (by label id, numbers numerically: NORMAL, PNEUMONIA "
           "as a\n"
           "                        folder tree has them); which classes are kept does not "
           "change. Of\n"
           "                        two classes, cxr-eval's positive class is index 1\n"
           "  --val-fraction F      val share per class, 0 <= F < 1 (manifest default 0.1; 0: "
           "none)\n"
           "  --test-fraction F     test share per class, 0 <= F < 1 (default 0.1; 0: no test "
           "split);\n"
           "                        val + test < 1\n"
           "\n"
           "Preprocessing, either mode (the store records the values used):\n"
           "  --crop-ratio R        center-crop to a square when |w/h - 1| > R; 0 never (default "
           "0.2 for\n"
           "                        manifests, 0 for folders)\n"
           "  --normalize NAME      minmax, zscore255 or none (default zscore255 for manifests, "
           "minmax\n"
           "                        for folders)\n"
           "  --equalize NAME       clahe (contrast-limited, 8x8 tiles, clip limit 2 or "
           "--clahe-clip;\n"
           "                        default for folders),\n"
           "                        global (256-bin histogram equalization of the whole image; "
           "default for\n"
           "                        manifests) or none\n"
           "  --clahe-clip C        CLAHE's clip limit, 0 < C <= 256 (default 2; larger: stronger "
           "local\n"
           "                        contrast); with --equalize clahe\n";
}

cxr_status pack_manifest_preprocess(const pack_manifest_args *m, cxr_preprocess_params *pp)
{
    if (m->crop_set || m->manifest) pp->crop_ratio = m->crop_ratio;
    if (m->norm_set || m->manifest) pp->normalize = m->normalize;
    /* Folders (chest X-rays) get CLAHE: it beat the study's global equalization on the patient-
     * grouped val split, three seeds out of three (tests/bench/results/accuracy/clahe-plan.md).
     * Manifests keep the library's default (global): nothing was measured on them. */
    if (m->eq_set) pp->equalize = m->equalize;
    else if (!m->manifest) pp->equalize = CXR_EQUALIZE_CLAHE;
    if (!m->clip_set) return CXR_OK;
    if (pp->equalize != CXR_EQUALIZE_CLAHE)
        return cxr_set_error(CXR_E_ARG,
                             "--clahe-clip needs CLAHE, but this store's equalization "
                             "is %s (add --equalize clahe)",
                             cxr_equalize_name(pp->equalize));
    pp->clahe_clip = m->clahe_clip;
    return CXR_OK;
}

cxr_status pack_manifest_plan(const pack_manifest_args *m, double val_fraction, int strict,
                              cxr_pack_plan *plan, cxr_manifest_summary *sum, char *desc,
                              size_t cap)
{
    memset(plan, 0, sizeof *plan);
    if (!m->images)
        return cxr_set_error(CXR_E_ARG, "--manifest %s: --images DIR is required to pack",
                             m->manifest);
    struct stat sb; /* "" would put the images under / */
    errno = 0;
    if (!*m->images || stat(m->images, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cxr_set_error(CXR_E_ARG, "--images '%s': not a directory%s%s", m->images,
                             *m->images && errno ? ": " : "",
                             *m->images && errno ? strerror(errno) : "");
    cxr_manifest_options o = m->opt;
    if (val_fraction >= 0) o.val_fraction = val_fraction; /* given (0: no val split) */
    o.strict = strict;
    char vf[32], tf[32];
    cxr_format_double(vf, sizeof vf, o.val_fraction);
    cxr_format_double(tf, sizeof tf, o.test_fraction);
    /* named here, with the default that took part (the planner's message lists every rule) */
    if (!(o.val_fraction + o.test_fraction < 1))
        return cxr_set_error(CXR_E_ARG,
                             "--val-fraction %s%s and --test-fraction %s%s: their sum must be "
                             "below 1 (the rest of each class is train)",
                             vf, val_fraction >= 0 ? "" : " (the default)", tf,
                             m->test_set ? "" : " (the default)");
    size_t len = strlen(desc);
    char images[4 * 4096 + 5]; /* a shell word: the recorded command replays as it ran */
    if (len < cap)
        snprintf(desc + len, cap - len,
                 " --images %s --top-classes %d --min-count %lld --val-fraction %s"
                 " --test-fraction %s --class-order %s",
                 cxr_shell_word(images, sizeof images, m->images) ? images : m->images,
                 o.top_classes, (long long)o.min_count, vf, tf,
                 o.class_order == CXR_CLASS_ORDER_NAME ? "name" : "count");
    cxr_status st = cxr_plan_from_manifest(plan, m->manifest, m->images, &o, sum);
    /* a fraction asked for but too small for every class: a model selected or judged on an
     * empty split (cxr-train then evaluates on test, or nothing) is said now, as folders say it */
    for (int s = 0; st == CXR_OK && s < plan->n_splits; s++) {
        const int val = strcmp(plan->splits[s].name, "val") == 0;
        if (plan->splits[s].n > 0 || (!val && strcmp(plan->splits[s].name, "test") != 0))
            continue;
        fprintf(stderr,
                "cxr-pack: warning: --%s-fraction %s%s leaves the %s split empty: each class "
                "gives it its images times the fraction, rounded, and keeps one for train\n",
                val ? "val" : "test", val ? vf : tf,
                (val ? val_fraction >= 0 : m->test_set) ? "" : " (the default)",
                plan->splits[s].name);
    }
    /* every class of one row, and many of them: the label column is rarely the right one (a
     * header naming the columns in another order made each url a class: a new user's walk) */
    if (st == CXR_OK && plan->n_classes >= 20 && sum->planned == plan->n_classes)
        fprintf(stderr,
                "cxr-pack: warning: each of the %d classes holds one row: are the labels in "
                "the header's label column (landmark_id, else label) the classes?\n",
                plan->n_classes);
    return st;
}

void pack_manifest_summary_format(const cxr_manifest_summary *s, char *buf, size_t cap)
{
    int n =
        snprintf(buf, cap,
                 "manifest: %lld rows, %lld planned; skipped: %lld malformed, %lld missing "
                 "id/url/label, %lld bad id, %lld duplicate id, %lld image not found; %lld "
                 "rows of other classes (%lld classes in the manifest)",
                 (long long)s->rows, (long long)s->planned, (long long)s->malformed,
                 (long long)s->missing, (long long)s->bad_id, (long long)s->duplicate,
                 (long long)s->not_found, (long long)s->other_class, (long long)s->classes_total);
    if (s->long_label > 0 && n > 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n,
                      "; %lld row(s) skipped for a label longer than a class name may be (%d "
                      "bytes)",
                      (long long)s->long_label, CXR_CLASS_NAME_MAX);
    if (s->dropped > 0 && n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n,
                 "; %lld selected class(es) dropped: too few of their images found",
                 (long long)s->dropped);
}
