/* cxr-predict: classify JPEG files and folders of them with a trained checkpoint, preprocessing
 * each exactly as the store the model was trained on (the parameters are copied into the
 * checkpoint), in batches decoded on worker threads (formats/cxr_images.h). */
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
#include "cxr_clock.h"
#include "cxr_files.h"
#include "cxr_images.h"
#include "cxr_metrics.h"
#include "cxr_parse.h"
#include "cxr_table.h"
#include "cxr_trainer.h"

#define REASON_CAP 512


#define USAGE "usage: cxr-predict MODEL.h5 IMAGE|FOLDER... [options]"

static void usage(FILE *f)
{
    fprintf(
        f, USAGE
        "\n"
        "\n"
        "Classify JPEG images with the checkpoint MODEL.h5. Each argument after MODEL.h5 is an "
        "image\n"
        "(taken whatever its name) or a folder, searched recursively for *.jpg and *.jpeg (any "
        "case):\n"
        "entries in bytewise name order, depth first (the output does not depend on the "
        "thread\n"
        "count); hidden entries (leading '.'), Thumbs.db and desktop.ini ignored, symbolic links\n"
        "followed (a folder reached again, through a link or another PATH, is searched once, and\n"
        "named; an image is classified under each name given or found), other files ignored.\n"
        "Every image is preprocessed exactly as the training store was (size, equalization,\n"
        "normalization, crop: the store's attributes, copied into the checkpoint)\n"
        "by cxr-pack's decoder, on --threads workers, --batch images at a time (memory: one "
        "batch,\n"
        "whatever the number of images), then passed through the network without dropout.\n"
        "MODEL.h5 may also be a weights-only file (cxr-export --weights): the same results.\n"
        "\n"
        "Output (stdout, or -o FILE): one row per image, in argument order, as --format:\n"
        "  tsv (default) or csv: a header line, then per image: path, class (the predicted one),\n"
        "  probability (of that class), p_<class> for every class in index order, and for two\n"
        "  classes threshold (class 1 is predicted when p[1] >= threshold). A field holding the\n"
        "  separator, CR, LF or '\"' is quoted with '\"' doubled (RFC 4180; tsv: tab, csv: "
        "comma).\n"
        "  jsonl: one JSON object per image with the same keys; strings are valid UTF-8 JSON:\n"
        "  control characters escaped, a byte that is not UTF-8 replaced by U+FFFD, and then the\n"
        "  exact name also given as \"path_hex\" (its bytes in hex).\n"
        "Probabilities are printed with %%.9g and the threshold with %%.17g: read back as float32\n"
        "and double, they are the very numbers compared, so p >= threshold gives the class\n"
        "printed (a p read as a double may differ from it in the last digits: at a threshold\n"
        "within 1e-9 of p, compare as float32).\n"
        "\n"
        "An image that cannot be read or decoded, and a folder entry that cannot be searched (an\n"
        "unreadable folder, a dangling link, a symbolic-link loop, a folder reached again through\n"
        "a link), get a line on stderr\n"
        "(\"cxr-predict: PATH: reason\", control characters escaped) and are counted; the "
        "others are\n"
        "still classified. A summary line ends stderr unless -q: images classified and "
        "skipped, the\n"
        "seconds and img/s of decoding + the network, the seconds spent finding the images\n"
        "(walking the folders: seconds for a million files) and those loading the model.\n"
        "\n"
        "Options:\n"
        "  --format F        tsv (default), csv or jsonl\n"
        "  -o, --output FILE write the rows to FILE (a temporary beside it, renamed into place "
        "when\n"
        "                    complete; refused when FILE is the model, an image or the file\n"
        "                    a standard stream goes to; left as it was when no image could\n"
        "                    be classified); -o - is standard output, as without -o\n"
        "  --threshold T     binary decision threshold on p[class 1] (default: the threshold\n"
        "                    cxr-train chose on val and stored in MODEL, else 0.5; stderr says "
        "which)\n"
        "  --batch N         images decoded and classified together (default 16; another N\n"
        "                    may change probabilities in their last bits)\n"
        "  --threads N       CPU threads for decoding and the network (default: OMP_NUM_THREADS "
        "if\n"
        "                    set, else the cores available)\n"
        "  --device D        auto (default), cpu or cuda[:N]\n"
        "  --tta N           test-time augmentation: average the probabilities over N views, 1..8\n"
        "                    (default 1: none), as cxr-eval --tta\n"
        "  --ensemble M.h5   add model M.h5 to an ensemble with MODEL (repeatable): p is the mean\n"
        "                    of the members' probabilities (as cxr-eval --ensemble). Members must\n"
        "                    share MODEL's classes and preprocessing (each image is decoded once,\n"
        "                    within MODEL's largest side) and are all held in memory. Two\n"
        "                    classes: give the ensemble's threshold, chosen on val by cxr-eval\n"
        "                    --ensemble --split val, with --threshold; without it 0.5 is used\n"
        "                    (stderr says so): the members' stored thresholds do not apply to a\n"
        "                    mean\n"
        "  -q, --quiet       no summary line, no threshold line unless it is a default 0.5\n"
        "                    (notes, skips and errors still print)\n"
        "  -h, --help        this help;  --version  the version\n"
        "\n"
        "Exit codes: 0 every image classified; 3 at least one image or folder entry skipped (the\n"
        "rest classified), no image found or classified, or the checkpoint is not a valid cxr\n"
        "checkpoint; 2 usage error; 4 I/O error (the model, -o FILE or stdout); 5 device error;\n"
        "130 interrupted (-o FILE left untouched); 1 other errors.\n");
}

typedef struct {
    const char *device, *out_path;
    double threshold;
    int threads, batch, quiet, tta;
    cxr_table_format format;
    const char *models[CXR_ENSEMBLE_MAX + 1]; /* models[0] is MODEL */
    int n_models;
} options;

enum { O_THR = 256, O_THREADS, O_DEVICE, O_VERSION, O_BATCH, O_FORMAT, O_TTA, O_ENSEMBLE };

/* Options into *o; returns -1 to go on, else the exit code. optind: the first argument. */
static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longs[] = { { "threshold", required_argument, 0, O_THR },
                                           { "threads", required_argument, 0, O_THREADS },
                                           { "device", required_argument, 0, O_DEVICE },
                                           { "batch", required_argument, 0, O_BATCH },
                                           { "format", required_argument, 0, O_FORMAT },
                                           { "tta", required_argument, 0, O_TTA },
                                           { "ensemble", required_argument, 0, O_ENSEMBLE },
                                           { "output", required_argument, 0, 'o' },
                                           { "quiet", no_argument, 0, 'q' },
                                           { "help", no_argument, 0, 'h' },
                                           { "version", no_argument, 0, O_VERSION },
                                           { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "ho:q", longs, NULL)) != -1) {
        switch (c) {
        case O_THR:
            if (cxr_parse_double(optarg, "--threshold", 0, 1, 0, &o->threshold))
                return cxr_option_error("cxr-predict");
            break;
        case O_THREADS:
            if (cxr_parse_int(optarg, "--threads", 1, 1024, &o->threads))
                return cxr_option_error("cxr-predict");
            break;
        case O_BATCH:
            if (cxr_parse_int(optarg, "--batch", 1, 4096, &o->batch))
                return cxr_option_error("cxr-predict");
            break;
        case O_FORMAT:
            if (cxr_table_format_parse(optarg, &o->format) != CXR_OK)
                return cxr_option_error("cxr-predict");
            break;
        case O_TTA:
            if (cxr_parse_int(optarg, "--tta", 1, CXR_TTA_MAX, &o->tta))
                return cxr_option_error("cxr-predict");
            break;
        case O_ENSEMBLE:
            if (o->n_models > CXR_ENSEMBLE_MAX) {
                fprintf(stderr, "cxr-predict: --ensemble: at most %d models in all\n",
                        CXR_ENSEMBLE_MAX + 1);
                return 2;
            }
            o->models[o->n_models++] = optarg;
            break;
        case O_DEVICE: /* a usage error before any work (a folder walk, a store read) */
            if (!cxr_device_option_ok("cxr-predict", optarg)) return 2;
            o->device = optarg;
            break;
        case 'o': o->out_path = strcmp(optarg, "-") ? optarg : NULL; break; /* -: stdout */
        case 'q': o->quiet = 1; break;
        case 'h':
            cxr_stdout_hold();
            usage(stdout);
            return cxr_stdout_exit("cxr-predict");
        case O_VERSION: return cxr_version_exit("cxr-predict");
        default: return cxr_usage_error(USAGE);
        }
    }
    if (!cxr_threads_ok("cxr-predict", o->threads)) return 2;
    if (argc - optind < 2) {
        fprintf(stderr, "cxr-predict: expected MODEL.h5 IMAGE|FOLDER... (see --help)\n");
        return 2;
    }
    o->models[0] = argv[optind];
    return -1;
}

/* "cxr-predict: PATH: reason" on stderr, escaped; the reason may already start with "PATH:". */
static void say_skip(void *ctx, const char *path, const char *reason)
{
    (void)ctx;
    fputs("cxr-predict: ", stderr);
    const size_t n = strlen(path);
    if (!(strncmp(reason, path, n) == 0 && reason[n] == ':')) {
        cxr_fputs_escaped(path, stderr);
        fputs(": ", stderr);
    }
    cxr_fputs_escaped(reason, stderr);
    fputc('\n', stderr);
}

/* The state of a run: the models (one, or an ensemble's members), the decoder and one batch
 * of images. */
typedef struct {
    const options *o;
    cxr_model *m[CXR_ENSEMBLE_MAX + 1];
    cxr_checkpoint_meta meta; /* MODEL's */
    cxr_image_decoder *dec;
    cxr_table *out;
    float *img, *probs, *member; /* [batch][S*S], [batch][K], [batch][K] */
    double *sum;                 /* [batch][K] */
    cxr_status *st;              /* [batch] */
    char *reasons;               /* [batch][REASON_CAP] */
    int *keep;                   /* [batch] list index of each decoded image */
    double threshold;
    int64_t done, skipped;
} run;

/* The table's columns: path, class, probability, p_<class>..., threshold (two classes). */
static cxr_status open_table(run *r)
{
    static const char *lead[] = { "path", "class", "probability" };
    const int K = r->meta.n_classes;
    return cxr_table_open_probs(&r->out, r->o->out_path, r->o->format, lead, 3, r->meta.class_names,
                                K, K == 2);
}

/* Decode paths[0..n), classify the images that decoded, write their rows in order; the others
 * are reported and counted. A network failure is an error (not an image's fault). */
static cxr_status predict_batch(run *r, const char *const *paths, int n)
{
    cxr_status st = CXR_OK;
    const int K = r->meta.n_classes;
    const size_t pixels = (size_t)r->meta.pp.size * (size_t)r->meta.pp.size;
    cxr_image_decode(r->dec, &r->meta.pp, paths, n, r->img, r->st, r->reasons, REASON_CAP);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        if (r->st[i] != CXR_OK) {
            if (r->st[i] == CXR_E_NOMEM) /* memory, file descriptors: not the image's fault */
                CXR_THROW(CXR_E_NOMEM, "%s: %s", paths[i], r->reasons + (size_t)i * REASON_CAP);
            say_skip(NULL, paths[i], r->reasons + (size_t)i * REASON_CAP);
            r->skipped++;
            continue;
        }
        if (ok != i) memcpy(r->img + (size_t)ok * pixels, r->img + (size_t)i * pixels, pixels * 4);
        r->keep[ok++] = i;
    }
    if (ok == 0) return CXR_OK;
    const int M = r->o->n_models;
    if (M == 1) {
        CXR_TRY(cxr_model_probs_tta(r->m[0], r->img, ok, r->o->tta, r->probs));
    } else { /* the members' mean, summed in double in member order (as cxr-eval --ensemble) */
        for (size_t q = 0; q < (size_t)ok * K; q++) r->sum[q] = 0;
        for (int j = 0; j < M; j++) {
            CXR_TRY(cxr_model_probs_tta(r->m[j], r->img, ok, r->o->tta, r->member));
            for (size_t q = 0; q < (size_t)ok * K; q++) r->sum[q] += r->member[q];
        }
        for (size_t q = 0; q < (size_t)ok * K; q++) r->probs[q] = (float)(r->sum[q] / M);
    }
    int rows = 0;
    for (int j = 0; j < ok; j++) {
        const float *p = r->probs + (size_t)j * K;
        if (!cxr_probs_finite(p, K)) { /* no class, no row: a skip (exit 3) */
            say_skip(NULL, paths[r->keep[j]],
                     "the model's probabilities are not finite (its weights overflow on this "
                     "image): not classified");
            r->skipped++;
            continue;
        }
        int pred = cxr_predicted_class(p, K, r->threshold);
        cxr_table_str(r->out, paths[r->keep[j]]);
        cxr_table_str(r->out, r->meta.class_names[pred]);
        cxr_table_num(r->out, p[pred]);
        for (int k = 0; k < K; k++) cxr_table_num(r->out, p[k]);
        if (K == 2) cxr_table_num_exact(r->out, r->threshold);
        cxr_table_end_row(r->out);
        rows++;
    }
    r->done += rows;
    /* rows appear as they are computed; a failed write stops the run with its reason (ENOSPC,
     * EPIPE), which a later check could no longer tell */
    if (!r->o->out_path && fflush(stdout) != 0)
        CXR_THROW(CXR_E_IO, "standard output: write failed: %s", strerror(errno));
bail:
    return st;
}

static cxr_status alloc_batch(run *r)
{
    const size_t B = (size_t)r->o->batch, S = (size_t)r->meta.pp.size;
    r->img = malloc(B * S * S * sizeof *r->img);
    r->probs = malloc(B * (size_t)r->meta.n_classes * sizeof *r->probs);
    r->st = malloc(B * sizeof *r->st);
    r->reasons = malloc(B * REASON_CAP);
    r->keep = malloc(B * sizeof *r->keep);
    r->member = malloc(B * (size_t)r->meta.n_classes * sizeof *r->member);
    r->sum = malloc(B * (size_t)r->meta.n_classes * sizeof *r->sum);
    if (!r->img || !r->probs || !r->st || !r->reasons || !r->keep || !r->member || !r->sum)
        return cxr_set_error(CXR_E_NOMEM, "out of memory for a batch of %d images", r->o->batch);
    return cxr_image_decoder_create(&r->dec, r->o->threads);
}

/* Refuse an output that is a model or one of the images, or that another run writes; lock it
 * (cxr_files.h). */
static cxr_status check_output(const options *o, const cxr_image_list *l)
{
    if (!o->out_path) return CXR_OK;
    const int M = o->n_models;
    const char **in = malloc(((size_t)l->n + M) * sizeof *in);
    if (!in) return cxr_set_error(CXR_E_NOMEM, "out of memory");
    for (int j = 0; j < M; j++) in[j] = o->models[j];
    for (int64_t i = 0; i < l->n; i++) in[i + M] = l->paths[i];
    cxr_status st = cxr_output_check("-o", o->out_path, in, (int)(l->n + M), NULL);
    free(in);
    if (st == CXR_OK) st = cxr_output_not_ours("-o", o->out_path, "a predictions table");
    if (st == CXR_OK)
        st = cxr_output_not_other("-o", o->out_path, "a predictions table", CXR_OUTPUT_TABLE);
    /* CXR_E_ARG: the file standard output is, which -o - writes to as it is */
    if (st == CXR_OK && (st = cxr_output_probe("-o", o->out_path)) == CXR_E_ARG)
        st = cxr_set_error(st, "%s, or -o - to write to standard output", cxr_last_error());
    return st != CXR_OK ? st : cxr_output_lock("cxr-predict", "-o", o->out_path); /* held to exit */
}

/* An ensemble member must classify what MODEL classifies from what MODEL sees. */
static cxr_status check_member(const cxr_checkpoint_meta *a, const char *pa,
                               const cxr_checkpoint_meta *b, const char *pb)
{
    if (a->n_classes != b->n_classes)
        return cxr_set_error(CXR_E_MISMATCH, "--ensemble %s has %d classes, %s has %d", pb,
                             b->n_classes, pa, a->n_classes);
    for (int c = 0; c < a->n_classes; c++)
        if (strcmp(a->class_names[c], b->class_names[c]) != 0)
            return cxr_set_error(CXR_E_MISMATCH, "--ensemble %s: class %d is '%s', in %s '%s'", pb,
                                 c, b->class_names[c], pa, a->class_names[c]);
    const cxr_preprocess_params *x = &a->pp, *y = &b->pp;
    char steps[256];
    if (x->size != y->size || !cxr_preprocess_same_steps(x, y))
        return cxr_set_error(CXR_E_MISMATCH,
                             "--ensemble %s preprocesses images otherwise than %s (%s): each "
                             "image is decoded once for all members",
                             pb, pa, cxr_preprocess_pair_label(y, x, 1, steps, sizeof steps));
    return CXR_OK;
}

int main(int argc, char **argv)
{
    cxr_std_fds_open(); /* before any file is opened (cxr_files.h) */
    cxr_signals_ignore_write_signals();
    options o = { .device = "auto",
                  .threshold = NAN,
                  .threads = omp_get_max_threads(),
                  .batch = 16,
                  .tta = 1,
                  .n_models = 1 };
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    rc = 0;
    const char *model_path = argv[optind];
    volatile sig_atomic_t *interrupted = cxr_signals_stop_on_interrupt();

    cxr_status st = CXR_OK;
    cxr_backend *be = NULL;
    cxr_image_list list = { 0 };
    run r = { .o = &o };
    cxr_device dev;
    int64_t walk_skipped = 0;
    double t0 = cxr_now_s(), t_walk = 0; /* the summary's: finding the images, the rest */

    const int M = o.n_models;
    /* the models first: a missing one is refused before anything is said about the device */
    for (int j = 0; j < M; j++) CXR_TRY(cxr_input_check(o.models[j]));
    for (int j = 1; j < M; j++) /* a model given twice would count twice in the mean */
        for (int i = 0; i < j; i++)
            if (cxr_same_output(o.models[i], o.models[j]))
                CXR_THROW(CXR_E_ARG,
                          "--ensemble %s: the same model file as %s; give each member once",
                          o.models[j], o.models[i]);
    CXR_TRY(cxr_checkpoint_read_meta(model_path, &r.meta));
    if (!isnan(o.threshold) && r.meta.n_classes != 2) /* it would be ignored */
        CXR_THROW(CXR_E_ARG, "--threshold applies to a model of two classes; %s has %d", model_path,
                  r.meta.n_classes);
    int head = r.meta.model.head, ipool = r.meta.model.input_pool; /* any member's: the device */
    for (int j = 1; j < M; j++) {
        cxr_checkpoint_meta mj;
        CXR_TRY(cxr_checkpoint_read_meta(o.models[j], &mj));
        if (mj.model.head == CXR_HEAD_GAP) head = CXR_HEAD_GAP;
        if (mj.model.input_pool > ipool) ipool = mj.model.input_pool;
        st = check_member(&r.meta, model_path, &mj, o.models[j]);
        cxr_checkpoint_meta_free(&mj);
        if (st != CXR_OK) goto bail;
    }
    cxr_checkpoint_meta_free(&r.meta);
    t_walk = cxr_now_s();
    CXR_TRY(cxr_image_list_add_paths(&list, (const char *const *)argv + optind + 1,
                                     argc - optind - 1, say_skip, NULL, &walk_skipped));
    CXR_TRY(check_output(&o, &list));
    t_walk = cxr_now_s() - t_walk; /* seconds at a million files: not the model's */
    if (list.n == 0)
        CXR_THROW(CXR_E_FORMAT, "no .jpg/.jpeg image to classify in the %d path(s) given%s",
                  argc - optind - 1, walk_skipped ? " (the skips are above)" : "");
    /* buffers for the largest batch there is: no batch holds more than the images found (the
     * network sees the same batches) */
    if (o.batch > list.n) o.batch = (int)list.n;
    CXR_TRY(cxr_device_open_model(&be, o.device, o.threads, head, ipool, &dev));
    if (dev.note[0]) fprintf(stderr, "cxr-predict: %s\n", dev.note);
    CXR_TRY(cxr_checkpoint_open_model(model_path, be, o.batch, o.threads, &r.m[0], &r.meta));
    for (int j = 1; j < M; j++) {
        cxr_checkpoint_meta mj;
        CXR_TRY(cxr_checkpoint_open_model(o.models[j], be, o.batch, o.threads, &r.m[j], &mj));
        cxr_checkpoint_meta_free(&mj);
    }
    r.threshold = o.threshold;
    const char *thr_source = cxr_threshold_choose(&r.meta, &r.threshold);
    if (M > 1 && isnan(o.threshold)) {
        r.threshold = 0.5;
        thr_source =
            CXR_THRESHOLD_DEFAULT " for an ensemble: choose its threshold on val with "
                                  "cxr-eval --ensemble --split val and pass it with --threshold";
    }
    if (r.meta.n_classes == 2 && (!o.quiet || cxr_threshold_is_default(thr_source)))
        cxr_threshold_say(stderr, "cxr-predict", r.threshold, thr_source);
    /* a threshold chosen on val was chosen on plain probabilities; cxr-eval chooses one for the
     * views (it has the store's val) */
    if (r.meta.n_classes == 2 && o.tta > 1 && isnan(o.threshold) &&
        !cxr_threshold_is_default(thr_source))
        fprintf(stderr,
                "cxr-predict: note: the model's threshold was chosen on val without --tta; "
                "cxr-eval MODEL STORE --split val --tta %d chooses one for these views (give it "
                "with --threshold)\n",
                o.tta);
    r.skipped = walk_skipped;
    CXR_TRY(alloc_batch(&r));
    CXR_TRY(open_table(&r));
    double t1 = cxr_now_s(); /* the model is loaded: img/s counts decoding and the network */
    for (int64_t i = 0; i < list.n; i += o.batch) {
        if (*interrupted)
            CXR_THROW(CXR_E_INTERRUPTED, "interrupted after %lld images", (long long)i);
        int n = list.n - i < o.batch ? (int)(list.n - i) : o.batch;
        CXR_TRY(predict_batch(&r, (const char *const *)list.paths + i, n));
        if (cxr_table_check(r.out) != CXR_OK) { /* a full disk: stop now, not after the rest */
            char why[4400];
            snprintf(why, sizeof why, "%s", cxr_last_error());
            CXR_THROW(CXR_E_IO, "%s (stopped after %lld of %lld images)", why, (long long)(i + n),
                      (long long)list.n);
        }
    }
    if (o.out_path && r.done == 0) { /* every image skipped: the file keeps what it held */
        cxr_table_discard(r.out);
        r.out = NULL;
        CXR_THROW(CXR_E_FORMAT,
                  "no image classified (%lld skipped, named above): -o %s left as "
                  "it was",
                  (long long)r.skipped, o.out_path);
    }
    st = cxr_table_close(r.out);
    r.out = NULL;
    if (st != CXR_OK) goto bail;
    if (!o.quiet) {
        double s = cxr_now_s() - t1;
        fprintf(stderr,
                "cxr-predict: %lld image(s) classified, %lld skipped, %.2f s (%.1f img/s) after "
                "%.2f s finding the images and %.2f s loading the model%s\n",
                (long long)r.done, (long long)r.skipped, s, s > 0 ? (double)r.done / s : 0.0,
                t_walk, t1 - t0 - t_walk, M > 1 ? "s" : "");
    }
    if (r.skipped) rc = 3;
    if (!o.out_path) CXR_TRY(cxr_stdout_close()); /* with -o nothing goes to stdout */
bail:
    if (st != CXR_OK) {
        cxr_print_error("cxr-predict", cxr_last_error());
        rc = cxr_exit_code(st);
    }
    cxr_table_discard(r.out);
    free(r.img);
    free(r.probs);
    free(r.st);
    free(r.reasons);
    free(r.keep);
    free(r.member);
    free(r.sum);
    cxr_image_decoder_destroy(r.dec);
    for (int j = 0; j < o.n_models; j++) cxr_model_destroy(r.m[j]);
    cxr_backend_destroy(be);
    cxr_checkpoint_meta_free(&r.meta);
    cxr_image_list_free(&list);
    return rc;
}
