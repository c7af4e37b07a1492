/* cxr-eval: evaluate a trained checkpoint on a split of a cxr store and print the metrics of
 * train/cxr_metrics.h, plus the decision threshold that maximises balanced accuracy there. */
#include <cjson/cJSON.h>
#include <omp.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>

#include "cxr_signals.h"
#include "cxr_augment.h"
#include "cxr_checkpoint.h"
#include "cxr_files.h"
#include "cxr_parse.h"
#include "cxr_table.h"
#include "cxr_trainer.h"
#include "cxr_json.h"


#define USAGE "usage: cxr-eval MODEL.h5 STORE.h5 [options]"

static void usage(FILE *f)
{
    fprintf(
        f, USAGE
        "\n"
        "\n"
        "Evaluate the checkpoint MODEL.h5 (from cxr-train, or a weights-only file from\n"
        "cxr-export --weights) on one split of STORE.h5 and print:\n"
        "loss (class-weighted cross-entropy, as in training; unweighted when the store has no\n"
        "training image of the split's classes, e.g. a store of test images alone), accuracy,\n"
        "the confusion matrix (rows true class, columns predicted), per-class\n"
        "precision/recall/F1/one-vs-rest AUC, macro F1;\n"
        "for two classes (positive = class 1) precision, recall (sensitivity), specificity, F1 "
        "and\n"
        "ROC AUC (exact, ties count 1/2); for more classes the macro one-vs-rest AUC.\n"
        "A figure with a zero denominator (the recall of a class the split lacks, the precision\n"
        "of one never predicted, an AUC without both classes) is n/a (null in --json); a macro\n"
        "mean is over the classes where its figure is defined.\n"
        "For two classes it also prints the threshold on p[class 1] that maximises balanced "
        "accuracy\n"
        "((sensitivity + specificity) / 2) on this split. cxr-train already chooses it on val and\n"
        "stores it in MODEL; on any split but val it is a diagnostic (how well the scores could\n"
        "separate that split), never a threshold to evaluate that split with.\n"
        "\n"
        "Options:\n"
        "  --split NAME      train, val or test (default test)\n"
        "  --threshold T     binary decision: class 1 iff p[1] >= T (default: the threshold "
        "cxr-train\n"
        "                    chose on val and stored in MODEL, else 0.5; stderr says which)\n"
        "  --batch N         images per forward pass (default 64; cxr-train evaluates at its\n"
        "                    --batch: another N may change probabilities in their last bits)\n"
        "  --threads N       CPU threads (default: OMP_NUM_THREADS if set, else the cores "
        "available)\n"
        "  --device D        auto (default), cpu or cuda[:N]\n"
        "  --no-prefetch     synchronous loading\n"
        "  -q, --quiet       no threshold line on stderr (the report and --json name it and its\n"
        "                    source) unless it is a default 0.5; no progress line; notes and\n"
        "                    warnings still print\n"
        "  --json            print every metric as one JSON object instead of the text report\n"
        "                    (loss_weights: \"class\" or \"uniform\", as the loss above; with\n"
        "                    loss_left_out, the images of classes of class weight 0)\n"
        "  --tta N           test-time augmentation: average the probabilities over N views, 1..8\n"
        "                    (default 1: none): the image, then rotated +5 and -5 degrees, zoomed\n"
        "                    1.05 and 0.95, shifted 4%% of the side (+x+y, -x-y, +x-y); the same\n"
        "                    code as training's augmentation (specs/model.md \"Augmentation\").\n"
        "                    With N > 1 (and for --ensemble) the loss is -log of the averaged\n"
        "                    probability, at most 69.08 an image (specs/model.md). A binary\n"
        "                    model's threshold chosen on val is chosen again on val with the\n"
        "                    same N views (a pass over val first; not with --threshold)\n"
        "  --perturb A       evaluate on transformed images, to see how the model's answers move\n"
        "                    with acquisition-like changes: A is an augmentation spec as "
        "cxr-train\n"
        "                    --augment's, image i transformed as training would in epoch 0 with\n"
        "                    --perturb-seed; a range MIN:MAX with MIN = MAX is a fixed change,\n"
        "                    e.g. aspect=1.25:1.25 stretches every image 1.25x wider than tall\n"
        "                    (area kept). Default none\n"
        "  --perturb-seed N  the seed of --perturb's draws (default 1; refused when it draws\n"
        "                    nothing)\n"
        "  --predictions F   write one row per image to F (a temporary beside it, renamed into\n"
        "                    place when complete): a header line, then path (in the store),\n"
        "                    label (true class), class (predicted), p_<class> for every class\n"
        "                    (%%.9g: the float itself), and for two classes threshold (%%.17g)\n"
        "  --format F        of --predictions: tsv (default), csv or jsonl, quoted and escaped as\n"
        "                    cxr-predict's (see cxr-predict --help)\n"
        "  --ensemble M.h5   add model M.h5 to an ensemble with MODEL (repeatable): the metrics\n"
        "                    are those of the mean of the members' class probabilities, each\n"
        "                    member evaluated as alone (same --tta, --perturb), one at a time\n"
        "                    (memory: one model, plus the split's images x classes sums). Each\n"
        "                    member's loss and AUC are reported too. Two classes: without\n"
        "                    --threshold the ensemble's threshold is chosen on the store's /val,\n"
        "                    unperturbed, by balanced accuracy (cxr-train's criterion; one more\n"
        "                    pass over val when --split is not val or --perturb is given), else\n"
        "                    0.5 (no /val, or val lacks a class; stderr says why); the members'\n"
        "                    stored thresholds do not apply to a mean\n"
        "  -h, --help        this help;  --version  the version\n"
        "\n"
        "Exit codes: 0 ok; 2 usage error; 3 bad input data (not a checkpoint, other format "
        "version,\n"
        "missing dataset, store and model disagree on classes or image size, corrupted chunk);\n"
        "4 I/O error; 5 device error; 130 interrupted; 1 other errors.\n");
}

/* The text report prints names as stderr does, escaped (a class folder's newline or escape
 * sequence must not reach the terminal as it is), cut to its columns at whole characters. */
#define TEXT_NAME (4 * 4096 + 4) /* a path of PATH_MAX bytes, every one escaped as \xHH */
static const char *esc(char *buf, const char *s) { return cxr_escape_name(buf, TEXT_NAME, s); }

/* A figure to 4 decimals, or "n/a" where it is undefined (an AUC of a split holding one class;
 * --json gives null, the training log leaves it out). */
static const char *fig4(char buf[32], double v)
{
    if (isnan(v)) return "n/a";
    snprintf(buf, 32, "%.4f", v);
    return buf;
}

/* A class name in a table column of `width` characters, escaped, left- or right-aligned. */
static void put_cell(const char *name, int width, int left)
{
    char b[TEXT_NAME];
    int shown;
    cxr_escape_cell(b, sizeof b, name, width, &shown);
    printf("%s%*s%s", left ? b : "", width - shown, "", left ? "" : b);
}

/* s for the command line the report suggests: as it is when the shell reads it so, quoted
 * when it holds a space or another character the shell would take, after "./" when it starts
 * with '-' (an option), escaped (not for pasting) when it holds a control character or is not
 * UTF-8. */
static const char *shell_word(char *buf, const char *s)
{
    if (!cxr_text_plain(s) || !cxr_shell_word(buf, TEXT_NAME, s)) return esc(buf, s);
    return buf;
}

/* A binary model's threshold chosen again on val's probabilities with --tta's views (met): the
 * best by balanced accuracy, or, where none can be chosen (val lacks a class), the model's with
 * why. The source is written into buf. */
static void retune_source(cxr_metrics *met, int tta, double *threshold, char *buf, size_t cap,
                          const char **source)
{
    const double stored = *threshold;
    double bal;
    if (cxr_metrics_best_threshold(met, threshold, &bal) == CXR_OK)
        snprintf(buf, cap,
                 "chosen on val with --tta %d, balanced accuracy %.4f there; the model's, %.9g, "
                 "was chosen without",
                 tta, bal, stored);
    else
        snprintf(buf, cap,
                 "chosen on val without --tta, stored in the model: none can be chosen on val "
                 "with the views (%s)",
                 cxr_last_error());
    *source = buf;
}

static int fail(cxr_status st)
{
    cxr_print_error("cxr-eval", cxr_last_error()); /* it may quote store strings */
    return cxr_exit_code(st);
}

static cJSON *num_array(const double *v, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cxr_json_number(v[i]));
    return a;
}

/* --json: the text report's figures as one object on one line (NaN becomes null). */
static cxr_status print_json(const char *model_path, const char *store_path, const char *split,
                             const cxr_checkpoint_meta *meta, const cxr_eval_result *er,
                             const cxr_metrics_report *r, cxr_metrics *met, double threshold,
                             int tta, const char *perturb, const char *threshold_source,
                             double model_threshold, const char *loss_weights,
                             int64_t loss_left_out, const char *const *member_paths,
                             const cxr_ensemble_member *members, int n_members)
{
    const int K = r->k;
    cJSON *o = cJSON_CreateObject();
    if (!o) return cxr_set_error(CXR_E_NOMEM, "--json: out of memory");
    cxr_json_add_text(o, "model", model_path);
    cxr_json_add_number(o, "epoch", meta->epoch);
    cxr_json_add_number(o, "step", (double)meta->step);
    if (meta->average_count > 0) /* weight averaging: the first model is the mean of these */
        cxr_json_add_number(o, "averaged_epochs", meta->average_count);
    cxr_json_add_text(o, "store", store_path);
    cJSON_AddStringToObject(o, "split", split);
    cxr_json_add_number(o, "images", (double)r->n);
    if (tta > 1) cxr_json_add_number(o, "tta", tta);
    if (perturb) cJSON_AddStringToObject(o, "perturb", perturb);
    if (n_members > 1) {
        cJSON *ens = cJSON_AddArrayToObject(o, "ensemble");
        for (int j = 0; j < n_members; j++) {
            cJSON *e = cJSON_CreateObject();
            cxr_json_add_text(e, "model", member_paths[j]);
            cxr_json_add_number(e, "epoch", members[j].epoch);
            if (members[j].averaged > 0)
                cxr_json_add_number(e, "averaged_epochs", members[j].averaged);
            cxr_json_add_number(e, "loss", members[j].result.loss);
            cxr_json_add_number(e, K == 2 ? "roc_auc" : "macro_ovr_auc", members[j].auc);
            cJSON_AddItemToArray(ens, e);
        }
    }
    cJSON *cl = cJSON_AddArrayToObject(o, "classes");
    for (int c = 0; c < K; c++) cxr_json_append_text(cl, meta->class_names[c]);
    cxr_json_add_number(o, "loss", er->loss);
    cJSON_AddStringToObject(o, "loss_weights", loss_weights); /* what stderr's note says */
    if (loss_left_out > 0) cxr_json_add_number(o, "loss_left_out", (double)loss_left_out);
    cxr_json_add_number(o, "accuracy", r->accuracy);
    cxr_json_add_number(o, "balanced_accuracy", r->balanced_accuracy);
    cxr_json_add_number(o, "macro_f1", r->macro_f1);
    if (K == 2) {
        cxr_json_add_number(o, "threshold", threshold);
        cJSON_AddStringToObject(o, "threshold_source", threshold_source);
        if (!isnan(model_threshold)) /* --tta: the model's own, the threshold chosen again */
            cxr_json_add_number(o, "model_threshold", model_threshold);
        cxr_json_add_number(o, "precision", r->pos_precision);
        cxr_json_add_number(o, "recall", r->pos_recall);
        cxr_json_add_number(o, "specificity", r->specificity);
        cxr_json_add_number(o, "f1", r->pos_f1);
        cxr_json_add_number(o, "roc_auc", r->auc);
        double bt, bal;
        if (cxr_metrics_best_threshold(met, &bt, &bal) == CXR_OK) {
            cxr_json_add_number(o, "best_threshold", bt);
            cxr_json_add_number(o, "best_threshold_balanced_accuracy", bal);
        }
    } else {
        cxr_json_add_number(o, "macro_specificity", r->specificity);
        cxr_json_add_number(o, "macro_ovr_auc", r->macro_auc);
    }
    if (cxr_json_add_int_matrix(o, "confusion", r->confusion, K) != 0)
        cJSON_AddNullToObject(o, "confusion"); /* (out of memory) */
    cJSON *pc = cJSON_AddObjectToObject(o, "per_class");
    cJSON_AddItemToObject(pc, "precision", num_array(r->precision, K));
    cJSON_AddItemToObject(pc, "recall", num_array(r->recall, K));
    cJSON_AddItemToObject(pc, "f1", num_array(r->f1, K));
    cJSON_AddItemToObject(pc, "auc", num_array(r->auc_ovr, K));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) return cxr_set_error(CXR_E_NOMEM, "--json: out of memory");
    printf("%s\n", text);
    cJSON_free(text);
    return fflush(stdout) == 0 ? CXR_OK
                               : cxr_set_error(CXR_E_IO, "--json: cannot write standard output: %s",
                                               strerror(errno));
}

enum {
    O_SPLIT = 256,
    O_THR,
    O_BATCH,
    O_THREADS,
    O_DEVICE,
    O_NOPREF,
    O_PRED,
    O_VERSION,
    O_JSON,
    O_FORMAT,
    O_TTA,
    O_PERTURB,
    O_PSEED,
    O_ENSEMBLE
};

typedef struct {
    cxr_table *t;
    const cxr_store *s;
    const char *split;
    const cxr_checkpoint_meta *meta;
    double threshold;
} pred_out;

static void write_predictions(void *user, int n, const int64_t *idx, const int32_t *labels,
                              const float *probs)
{
    pred_out *p = user;
    const int K = p->meta->n_classes;
    for (int i = 0; i < n; i++) {
        const float *q = probs + (size_t)i * K;
        const int pred = cxr_predicted_class(q, K, p->threshold);
        cxr_table_str(p->t, cxr_store_image_path(p->s, p->split, idx[i]));
        cxr_table_str(p->t, p->meta->class_names[labels[i]]);
        cxr_table_str(p->t, p->meta->class_names[pred]);
        for (int k = 0; k < K; k++) cxr_table_num(p->t, q[k]);
        if (K == 2) cxr_table_num_exact(p->t, p->threshold);
        cxr_table_end_row(p->t);
    }
}

/* --predictions: path, label, class, p_<class>..., threshold (two classes). */
static cxr_status open_predictions(pred_out *po, const char *path, cxr_table_format fmt)
{
    static const char *lead[] = { "path", "label", "class" };
    const int K = po->meta->n_classes;
    return cxr_table_open_probs(&po->t, path, fmt, lead, 3, po->meta->class_names, K, K == 2);
}

/* One ensemble pass over `split`: its mean probabilities into *ens, added to met (in chunks:
 * cxr_metrics_add counts in int). */
static cxr_status ensemble_pass(const char *const *paths, int n, cxr_backend *be,
                                const cxr_store *s, const char *split, int batch, int threads,
                                int prefetch, const float *cw, volatile sig_atomic_t *interrupted,
                                int tta, const cxr_augment_params *pp, uint64_t pseed,
                                cxr_ensemble_member *members, cxr_metrics *met,
                                cxr_ensemble_eval *ens)
{
    cxr_status st = cxr_evaluate_ensemble(paths, n, be, s, split, batch, threads, prefetch, cw,
                                          interrupted, tta, pp, pseed, members, ens);
    if (st == CXR_OK) st = cxr_metrics_reserve(met, ens->n); /* counted in the ensemble's check */
    for (int64_t i0 = 0; st == CXR_OK && i0 < ens->n; i0 += 1 << 20) {
        const int64_t c = ens->n - i0 < (1 << 20) ? ens->n - i0 : (1 << 20);
        st = cxr_metrics_add(met, ens->probs + (size_t)i0 * ens->k, ens->labels + i0, (int)c);
    }
    return st;
}

int main(int argc, char **argv)
{
    cxr_std_fds_open(); /* before any file is opened (cxr_files.h) */
    cxr_signals_ignore_write_signals();
    const char *split = "test", *device = "auto", *pred_path = NULL;
    int split_given = 0;
    double threshold = NAN;
    int json = 0, tta = 1;
    cxr_augment_params perturb;
    cxr_augment_params_none(&perturb);
    uint64_t perturb_seed = 1;
    int format_given = 0, perturb_given = 0, perturb_seed_given = 0; /* each needs the other */
    char perturb_desc[CXR_AUGMENT_SPEC_MAX + 32] = "";
    cxr_table_format pred_format = CXR_TABLE_TSV;
    int batch = 64, threads = omp_get_max_threads(), prefetch = 1, quiet = 0, c;
    const char *member_paths[CXR_ENSEMBLE_MAX + 1];
    int n_members = 1; /* member_paths[0] is MODEL */
    static const struct option longs[] = { { "split", required_argument, 0, O_SPLIT },
                                           { "threshold", required_argument, 0, O_THR },
                                           { "json", no_argument, 0, O_JSON },
                                           { "batch", required_argument, 0, O_BATCH },
                                           { "threads", required_argument, 0, O_THREADS },
                                           { "device", required_argument, 0, O_DEVICE },
                                           { "no-prefetch", no_argument, 0, O_NOPREF },
                                           { "predictions", required_argument, 0, O_PRED },
                                           { "format", required_argument, 0, O_FORMAT },
                                           { "tta", required_argument, 0, O_TTA },
                                           { "perturb", required_argument, 0, O_PERTURB },
                                           { "perturb-seed", required_argument, 0, O_PSEED },
                                           { "ensemble", required_argument, 0, O_ENSEMBLE },
                                           { "quiet", no_argument, 0, 'q' },
                                           { "help", no_argument, 0, 'h' },
                                           { "version", no_argument, 0, O_VERSION },
                                           { 0, 0, 0, 0 } };
    while ((c = getopt_long(argc, argv, "hq", longs, NULL)) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case O_SPLIT:
            split = optarg;
            split_given = 1;
            if (strcmp(split, "train") && strcmp(split, "val") && strcmp(split, "test")) {
                cxr_set_error(CXR_E_ARG, "--split: expected train, val or test, got '%s'", split);
                return cxr_option_error("cxr-eval");
            }
            break;
        case O_THR:
            if (cxr_parse_double(optarg, "--threshold", 0, 1, 0, &threshold))
                return cxr_option_error("cxr-eval");
            break;
        case O_BATCH:
            if (cxr_parse_int(optarg, "--batch", 1, 4096, &batch))
                return cxr_option_error("cxr-eval");
            break;
        case O_THREADS:
            if (cxr_parse_int(optarg, "--threads", 1, 1024, &threads))
                return cxr_option_error("cxr-eval");
            break;
        case O_DEVICE: /* a usage error before any work (a folder walk, a store read) */
            if (!cxr_device_option_ok("cxr-eval", optarg)) return 2;
            device = optarg;
            break;
        case O_NOPREF: prefetch = 0; break;
        case O_PRED: pred_path = optarg; break;
        case O_JSON: json = 1; break;
        case O_TTA:
            if (cxr_parse_int(optarg, "--tta", 1, CXR_TTA_MAX, &tta))
                return cxr_option_error("cxr-eval");
            break;
        case O_PERTURB:
            if (cxr_augment_parse(optarg, &perturb) != CXR_OK ||
                cxr_augment_check_normal(optarg) != CXR_OK) {
                cxr_print_error("cxr-eval: --perturb", cxr_last_error());
                return 2;
            }
            perturb_given = 1;
            break;
        case O_PSEED: {
            long v;
            if (cxr_parse_long(optarg, "--perturb-seed", 0, 0x7fffffffL, &v))
                return cxr_option_error("cxr-eval");
            perturb_seed = (uint64_t)v;
            perturb_seed_given = 1;
            break;
        }
        case O_FORMAT:
            if (cxr_table_format_parse(optarg, &pred_format) != CXR_OK)
                return cxr_option_error("cxr-eval");
            format_given = 1;
            break;
        case O_ENSEMBLE:
            if (n_members > CXR_ENSEMBLE_MAX) {
                fprintf(stderr, "cxr-eval: --ensemble: at most %d models in all\n",
                        CXR_ENSEMBLE_MAX + 1);
                return 2;
            }
            member_paths[n_members++] = optarg;
            break;
        case 'h':
            cxr_stdout_hold();
            usage(stdout);
            return cxr_stdout_exit("cxr-eval");
        case O_VERSION: return cxr_version_exit("cxr-eval");
        default: return cxr_usage_error(USAGE);
        }
    }
    if (!cxr_threads_ok("cxr-eval", threads)) return 2;
    if (optind != argc - 2) {
        const char *last = argv[argc - 1];
        const int a_split = optind == argc - 3 && (!strcmp(last, "train") || !strcmp(last, "val") ||
                                                   !strcmp(last, "test"));
        if (a_split && split_given) /* --split val test: one split a run */
            fprintf(stderr,
                    "cxr-eval: expected MODEL.h5 STORE.h5; '%s' after them is one argument too "
                    "many: one split a run (--split %s was given; run again with --split %s)\n",
                    last, split, last);
        else if (a_split)
            fprintf(stderr,
                    "cxr-eval: expected MODEL.h5 STORE.h5; a split is chosen with --split "
                    "(--split %s)\n",
                    last);
        else
            fprintf(stderr, "cxr-eval: expected MODEL.h5 STORE.h5 (see --help)\n");
        return 2;
    }
    if (perturb_seed_given && perturb_given && !cxr_augment_draws(&perturb)) {
        fprintf(stderr, "cxr-eval: --perturb-seed with a --perturb that draws nothing (none, or "
                        "fixed changes MIN:MIN): the seed would change nothing\n");
        return 2;
    }
    if ((format_given && !pred_path) || (perturb_seed_given && !perturb_given)) {
        fprintf(stderr, "cxr-eval: %s applies to %s only\n",
                format_given && !pred_path ? "--format" : "--perturb-seed",
                format_given && !pred_path ? "--predictions" : "--perturb");
        return 2;
    }
    const char *model_path = argv[optind], *store_path = argv[optind + 1];
    member_paths[0] = model_path;
    const int ensemble = n_members > 1;
    volatile sig_atomic_t *interrupted = cxr_signals_stop_on_interrupt();

    cxr_status st = CXR_OK;
    cxr_backend *be = NULL;
    cxr_model *m = NULL;
    cxr_store *s = NULL;
    cxr_metrics *met = NULL, *val_met = NULL;
    float *uniform = NULL; /* the loss's weights when the store's are 0 for every class here */
    cxr_ensemble_member members[CXR_ENSEMBLE_MAX + 1];
    cxr_ensemble_eval ens;
    memset(members, 0, sizeof members);
    memset(&ens, 0, sizeof ens);
    cxr_checkpoint_meta meta;
    cxr_metrics_report r;
    pred_out po = { 0 };
    memset(&meta, 0, sizeof meta);
    memset(&r, 0, sizeof r);
    cxr_device dev;
    int rc = 0;

    const char *inputs[CXR_ENSEMBLE_MAX + 2];
    for (int j = 0; j < n_members; j++) inputs[j] = member_paths[j];
    inputs[n_members] = store_path;
    for (int j = 0; j <= n_members; j++) CXR_TRY(cxr_input_check(inputs[j]));
    for (int j = 1; j < n_members; j++) /* a model given twice would count twice in the mean */
        for (int i = 0; i < j; i++)
            if (cxr_same_output(member_paths[i], member_paths[j]))
                CXR_THROW(CXR_E_ARG,
                          "--ensemble %s: the same model file as %s; give each member once",
                          member_paths[j], member_paths[i]);
    if (pred_path) {
        CXR_TRY(cxr_output_check("--predictions", pred_path, inputs, n_members + 1, NULL));
        CXR_TRY(cxr_output_not_ours("--predictions", pred_path, "a predictions table"));
        CXR_TRY(cxr_output_not_other("--predictions", pred_path, "a predictions table",
                                     CXR_OUTPUT_TABLE));
        CXR_TRY(cxr_output_probe("--predictions", pred_path));
        CXR_TRY(cxr_output_lock("cxr-eval", "--predictions", pred_path)); /* one run per output */
    }
    /* the inputs first: a bad one is refused before anything is said about the device */
    CXR_TRY(cxr_checkpoint_read_meta(model_path, &meta)); /* an ensemble keeps MODEL's */
    if (!isnan(threshold) && meta.n_classes != 2)         /* it would be ignored */
        CXR_THROW(CXR_E_ARG, "--threshold applies to a model of two classes; %s has %d", model_path,
                  meta.n_classes);
    int head = meta.model.head,
        ipool = meta.model.input_pool; /* any member's: the device runs it */
    if (!ensemble) cxr_checkpoint_meta_free(&meta);
    CXR_TRY(cxr_store_open(&s, store_path));
    for (int j = 1; j < n_members; j++) { /* every member, before any pass */
        cxr_checkpoint_meta mj;
        CXR_TRY(cxr_checkpoint_read_meta(member_paths[j], &mj));
        st = cxr_checkpoint_check_store(&mj, member_paths[j], s);
        if (mj.model.head == CXR_HEAD_GAP) head = CXR_HEAD_GAP;
        if (mj.model.input_pool > ipool) ipool = mj.model.input_pool;
        cxr_checkpoint_meta_free(&mj);
        if (st != CXR_OK) goto bail;
    }
    CXR_TRY(cxr_device_open_model(&be, device, threads, head, ipool, &dev));
    if (dev.note[0]) fprintf(stderr, "cxr-eval: %s\n", dev.note);
    if (!cxr_store_has_split(s, split))
        CXR_THROW(CXR_E_FORMAT, "%s: no split '%s'", store_path, split);
    cxr_split_info si;
    CXR_TRY(cxr_store_split(s, split, &si));
    if (si.n == 0) /* every metric would be 0/0 */
        CXR_THROW(CXR_E_FORMAT, "%s: split '%s' holds no image: nothing to evaluate", store_path,
                  split);
    /* the model's buffers for the largest batch there is: no more than the split's images (or
     * val's, which --tta may evaluate too: in the batches a --split val run has) */
    int64_t most = si.n;
    cxr_split_info vi;
    if (tta > 1 && cxr_store_has_split(s, "val") && cxr_store_split(s, "val", &vi) == CXR_OK &&
        vi.n > most)
        most = vi.n;
    if (!ensemble)
        CXR_TRY(cxr_checkpoint_open_model(model_path, be, most < batch ? (int)most : batch, threads,
                                          &m, &meta));
    CXR_TRY(cxr_checkpoint_check_store(&meta, model_path, s));
    const int K = meta.n_classes;
    const char *thr_source = NULL;
    const int threshold_given = !isnan(threshold); /* --threshold, before the model's is taken */
    /* a model's threshold chosen on val was chosen on its plain probabilities: with --tta the
     * probabilities are others, so it is chosen again on val with the same views (as an
     * ensemble's is): in a pass over val first, or, for --split val itself without --perturb
     * or --predictions, from that pass (its metrics are computed after it) */
    int retune = 0, retune_after = 0;
    static char chosen[256];
    double stored = NAN; /* the model's, when another is chosen for the views */
    if (!ensemble) {
        thr_source = cxr_threshold_choose(&meta, &threshold);
        const int views =
            tta > 1 && K == 2 && !threshold_given && strcmp(meta.threshold_split, "val") == 0;
        if (views && !cxr_store_has_split(s, "val")) {
            thr_source = "chosen on val without --tta, stored in the model: this store has no /val "
                         "to choose one with the views on";
        }
        retune = views && cxr_store_has_split(s, "val");
        retune_after =
            retune && !strcmp(split, "val") && !cxr_augment_active(&perturb) && !pred_path;
        if (K == 2 && !retune && (!quiet || cxr_threshold_is_default(thr_source)))
            cxr_threshold_say(stderr, "cxr-eval", threshold, thr_source);
    }
    CXR_TRY(cxr_metrics_create(&met, K));
    cxr_eval_result er;
    const int perturbed = cxr_augment_active(&perturb);
    if (perturbed) {
        char spec[CXR_AUGMENT_SPEC_MAX];
        cxr_augment_format(&perturb, spec, sizeof spec);
        if (cxr_augment_draws(&perturb)) /* a fixed change has no seed to name */
            snprintf(perturb_desc, sizeof perturb_desc, "%s seed %llu", spec,
                     (unsigned long long)perturb_seed);
        else
            snprintf(perturb_desc, sizeof perturb_desc, "%s", spec);
    }
    const float *cw = cxr_store_class_weights(s);
    /* a class without training images has class weight 0 (a class only test/ has; a store of
     * test images alone has no train split at all): its images would count 0 in the loss */
    int64_t unweighted = 0;
    int n_zero = 0, n_weighted = 0, first_zero = -1;
    for (int c = 0; c < K; c++) {
        if (si.class_counts[c] == 0) continue;
        if (cw[c] > 0) {
            n_weighted++;
            continue;
        }
        if (first_zero < 0) first_zero = c;
        n_zero++;
        unweighted += si.class_counts[c];
    }
    char ep[TEXT_NAME]; /* the store's path in the notes */
    if (n_zero > 0 && n_weighted == 0) {
        if (!(uniform = malloc((size_t)K * sizeof *uniform)))
            CXR_THROW(CXR_E_NOMEM, "out of memory");
        for (int c = 0; c < K; c++) uniform[c] = 1.0f;
        cw = uniform;
        fprintf(stderr,
                "cxr-eval: note: %s has no training image of the classes in '%s' (class weights "
                "0), so the loss is unweighted: the mean cross-entropy\n",
                esc(ep, store_path), split);
    } else if (n_zero > 0) {
        fprintf(stderr,
                "cxr-eval: note: the loss leaves out %lld image(s) of %d class(es) with no "
                "training image in %s (class weight 0), e.g. '",
                (long long)unweighted, n_zero, esc(ep, store_path));
        cxr_fputs_escaped(cxr_store_class_name(s, first_zero), stderr);
        fputs("'; the other metrics count them\n", stderr);
    }
    const cxr_augment_params *pp = perturbed ? &perturb : NULL;
    if (retune && !retune_after) {
        cxr_eval_result ver;
        CXR_TRY(cxr_metrics_create(&val_met, K));
        if (!quiet)
            fprintf(stderr, "cxr-eval: the model on val with --tta %d, to choose its threshold\n",
                    tta);
        CXR_TRY(cxr_evaluate_tta(m, s, "val", batch, threads, prefetch, cw, interrupted, val_met,
                                 &ver, NULL, NULL, tta, NULL, 0));
        CXR_TRY(cxr_eval_check_finite(&ver, s, "val", model_path));
        stored = threshold;
        retune_source(val_met, tta, &threshold, chosen, sizeof chosen, &thr_source);
        if (!quiet || cxr_threshold_is_default(thr_source))
            cxr_threshold_say(stderr, "cxr-eval", threshold, thr_source);
    }
    if (!ensemble) {
        po = (pred_out){ NULL, s, split, &meta, threshold };
        if (pred_path) CXR_TRY(open_predictions(&po, pred_path, pred_format));
        st = cxr_evaluate_tta(m, s, split, batch, threads, prefetch, cw, interrupted, met, &er,
                              po.t ? write_predictions : NULL, &po, tta, pp, perturb_seed);
        if (st != CXR_OK) goto bail;
        CXR_TRY(cxr_eval_check_finite(&er, s, split, model_path));
        if (retune_after) { /* val itself, with the views: chosen from this pass */
            stored = threshold;
            retune_source(met, tta, &threshold, chosen, sizeof chosen, &thr_source);
            if (!quiet || cxr_threshold_is_default(thr_source))
                cxr_threshold_say(stderr, "cxr-eval", threshold, thr_source);
        }
    } else {
        /* The ensemble's own threshold, chosen as cxr-train chooses a model's: on clean val
         * (a --perturb changes the images judged, not the decision rule). */
        const int choose = K == 2 && isnan(threshold);
        const int have_val = cxr_store_has_split(s, "val");
        const int val_pass = choose && have_val && (strcmp(split, "val") != 0 || perturbed);
        if (!choose) threshold = K == 2 ? threshold : 0.5;
        thr_source = K == 2 ? "--threshold" : "";
        if (val_pass) {
            CXR_TRY(cxr_metrics_create(&val_met, K));
            if (!quiet) fprintf(stderr, "cxr-eval: the ensemble on val, to choose its threshold\n");
            CXR_TRY(ensemble_pass(member_paths, n_members, be, s, "val", batch, threads, prefetch,
                                  cw, interrupted, tta, NULL, 0, NULL, val_met, &ens));
            cxr_ensemble_eval_free(&ens);
        }
        CXR_TRY(ensemble_pass(member_paths, n_members, be, s, split, batch, threads, prefetch, cw,
                              interrupted, tta, pp, perturb_seed, members, met, &ens));
        static char chosen[160];
        if (choose && !have_val) {
            threshold = 0.5;
            thr_source =
                CXR_THRESHOLD_DEFAULT ": the store has no /val to choose the ensemble's on";
        } else if (choose) {
            double bal;
            if (cxr_metrics_best_threshold(val_pass ? val_met : met, &threshold, &bal) == CXR_OK) {
                snprintf(chosen, sizeof chosen,
                         "chosen on val for this ensemble (balanced accuracy %.4f there)", bal);
            } else {
                threshold = 0.5;
                snprintf(chosen, sizeof chosen,
                         CXR_THRESHOLD_DEFAULT ": none can be chosen on val (%s)",
                         cxr_last_error());
            }
            thr_source = chosen;
        }
        if (K == 2 && (!quiet || cxr_threshold_is_default(thr_source)))
            cxr_threshold_say(stderr, "cxr-eval", threshold, thr_source);
        er = (cxr_eval_result){ .loss = ens.loss, .seconds = ens.seconds, .first_nonfinite = -1 };
        po = (pred_out){ NULL, s, split, &meta, threshold };
        if (pred_path) {
            CXR_TRY(open_predictions(&po, pred_path, pred_format));
            int64_t idx[256];
            for (int64_t i0 = 0; i0 < ens.n; i0 += 256) {
                const int n = (int)(ens.n - i0 < 256 ? ens.n - i0 : 256);
                for (int i = 0; i < n; i++) idx[i] = i0 + i;
                write_predictions(&po, n, idx, ens.labels + i0, ens.probs + (size_t)i0 * K);
            }
        }
    }
    CXR_TRY(cxr_metrics_compute(met, threshold, &r));
    st = cxr_table_close(po.t); /* renamed into place only after a complete evaluation */
    po.t = NULL;
    if (st != CXR_OK) goto bail;

    if (json) {
        CXR_TRY(print_json(model_path, store_path, split, &meta, &er, &r, met, threshold, tta,
                           perturbed ? perturb_desc : NULL, thr_source, stored,
                           cw == uniform ? "uniform" : "class", cw == uniform ? 0 : unweighted,
                           member_paths, members, n_members));
        goto bail;
    }
    char e1[TEXT_NAME], e2[TEXT_NAME], f4[32];
    if (!ensemble) {
        printf("model     %s (epoch %d, step %lld, %d classes, %dx%d)\n", esc(e1, model_path),
               meta.epoch, (long long)meta.step, K, meta.model.image_size, meta.model.image_size);
        if (meta.average_count > 0)
            printf("weights   the mean of epochs %d-%d (cxr-train --average-from)\n",
                   meta.average_from, meta.epoch);
    } else {
        printf("ensemble  %d models: the mean of their class probabilities (%d classes, %dx%d)\n",
               n_members, K, meta.model.image_size, meta.model.image_size);
        for (int j = 0; j < n_members; j++) {
            char avg[64] = ""; /* as --json's averaged_epochs: a mean is not that epoch's weights */
            if (members[j].averaged > 0)
                snprintf(avg, sizeof avg, ", the mean of %d epoch%s", members[j].averaged,
                         members[j].averaged == 1 ? "" : "s");
            printf("  member  %s (epoch %d%s): loss %.6f, %s %s (%.2f s)\n",
                   esc(e1, member_paths[j]), members[j].epoch, avg, members[j].result.loss,
                   K == 2 ? "roc_auc" : "macro AUC", fig4(f4, members[j].auc),
                   members[j].result.seconds);
        }
    }
    printf("store     %s, split %s: %lld images (%.2f s on %s)\n", esc(e1, store_path), split,
           (long long)r.n, er.seconds, dev.desc);
    if (tta > 1)
        printf("tta       %d (probabilities averaged over the identity and %d fixed transforms)\n",
               tta, tta - 1);
    if (perturbed)
        printf("perturb   %s (every image transformed before the model)\n", perturb_desc);
    printf("loss      %.6f\n", er.loss);
    printf("accuracy  %s\n", fig4(f4, r.accuracy));
    if (K == 2) {
        esc(e1, meta.class_names[1]);
        printf("threshold %.9g (predict %s when p[%s] >= threshold; %s)\n", threshold, e1, e1,
               thr_source);
        printf("positive class: %s\n", e1);
        printf("precision    %s\n", fig4(f4, r.pos_precision));
        printf("recall       %s (sensitivity)\n", fig4(f4, r.pos_recall));
        printf("specificity  %s\n", fig4(f4, r.specificity));
        printf("f1           %s\n", fig4(f4, r.pos_f1));
        printf("roc_auc      %s\n", fig4(f4, r.auc));
    } else {
        printf("macro specificity %s\n", fig4(f4, r.specificity));
        printf("macro ovr AUC     %s\n", fig4(f4, r.macro_auc));
    }
    printf("balanced accuracy %s\n", fig4(f4, r.balanced_accuracy));
    printf("macro f1          %s\n", fig4(f4, r.macro_f1));
    /* the matrix up to 64 classes, as cxr-pack's table (4096 classes printed 218 MB) */
    if (K <= 64) {
        printf("\nconfusion (rows = true, columns = predicted):\n%-16s", "");
        for (int j = 0; j < K; j++) {
            putchar(' ');
            put_cell(meta.class_names[j], 12, 0);
        }
        printf("\n");
        for (int i = 0; i < K; i++) {
            put_cell(meta.class_names[i], 16, 1);
            for (int j = 0; j < K; j++)
                printf(" %12lld", (long long)r.confusion[(size_t)i * K + j]);
            printf("\n");
        }
    } else {
        printf("\nconfusion: %d x %d, printed up to 64 classes (--json has it)\n", K, K);
    }
    printf("\n%-16s %9s %9s %9s %9s\n", "class", "precision", "recall", "f1", "auc");
    for (int i = 0; i < K; i++) {
        put_cell(meta.class_names[i], 16, 1);
        char f4p[32], f4r[32], f4f[32];
        printf(" %9s %9s %9s %9s\n", fig4(f4p, r.precision[i]), fig4(f4r, r.recall[i]),
               fig4(f4f, r.f1[i]), fig4(f4, r.auc_ovr[i]));
    }
    if (K == 2) {
        double bt, bal;
        if (cxr_metrics_best_threshold(met, &bt, &bal) != CXR_OK) {
            const char *why = cxr_last_error(); /* "best threshold: need both classes ..." */
            const char *said = "best threshold: ";
            if (strncmp(why, said, strlen(said)) == 0) why += strlen(said);
            printf("\nbest threshold: not defined (%s)\n", why);
        } else if (strcmp(split, "val") == 0 && ensemble)
            printf("\nbest threshold on val by balanced accuracy: %.9g (balanced accuracy %.4f)\n"
                   "(the same command with --split test chooses and applies it by itself;\n"
                   "for cxr-predict with the same --ensemble models: --threshold %.17g)\n",
                   bt, bal, bt);
        else if (strcmp(split, "val") == 0 && bt == threshold && !threshold_given &&
                 strcmp(meta.threshold_split, "val") == 0 && tta > 1) /* chosen again above */
            printf("\nbest threshold on val by balanced accuracy: %.9g (balanced accuracy %.4f):\n"
                   "the one applied above, which --split test with the same --tta applies too\n"
                   "(for cxr-predict --tta %d: --threshold %.17g)\n",
                   bt, bal, tta, bt);
        else if (strcmp(split, "val") == 0 && bt == threshold && !threshold_given &&
                 strcmp(meta.threshold_split, "val") == 0) /* the model's own, from this val */
            printf("\nbest threshold on val by balanced accuracy: %.9g (balanced accuracy %.4f):\n"
                   "the one applied above, which --split test applies too\n",
                   bt, bal);
        else if (strcmp(split, "val") == 0)
            printf("\nbest threshold on val by balanced accuracy: %.9g (balanced accuracy %.4f)\n"
                   "(to apply it to test: cxr-eval %s %s --split test --threshold %.17g)\n",
                   bt, bal, shell_word(e1, model_path), shell_word(e2, store_path), bt);
        else /* chosen on the split it would be judged on: an optimistic bound, not a setting */
            printf("\nbalanced accuracy at the best threshold chosen on %s itself: %.4f (at %.9g;\n"
                   "a diagnostic of how well the scores separate %s, not a threshold to evaluate\n"
                   "it with: thresholds are chosen on val)\n",
                   split, bal, bt, split);
    }
    CXR_TRY(cxr_stdout_close());
bail:
    if (st != CXR_OK) rc = fail(st);
    cxr_table_discard(po.t);
    cxr_metrics_report_free(&r);
    cxr_metrics_destroy(met);
    cxr_metrics_destroy(val_met);
    cxr_ensemble_eval_free(&ens);
    cxr_store_close(s);
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
    cxr_checkpoint_meta_free(&meta);
    free(uniform);
    return rc;
}
