/* cxr-predict: classify JPEG files with a trained checkpoint, preprocessing each exactly as the
 * store the model was trained on (the parameters are copied into the checkpoint). */
#include <omp.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_augment.h"
#include "cxr_checkpoint.h"
#include "cxr_files.h"
#include "cxr_parse.h"
#include "cxr_preprocess.h"
#include "cxr_trainer.h"

/* A bad option value: the parser's message, exit code 2. */
static int bad_option(void)
{
    fprintf(stderr, "cxr-predict: %s\n", cxr_last_error());
    return 2;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: cxr-predict MODEL.h5 IMAGE... [options]\n"
        "\n"
        "Classify each IMAGE (JPEG) with the checkpoint MODEL.h5. Every image is preprocessed "
        "exactly\n"
        "as the training store was (size, equalization, normalization, crop: the store's "
        "attributes,\n"
        "copied into the checkpoint), then passed through the network without dropout.\n"
        "MODEL.h5 may also be a weights-only file (cxr-export --weights): the same results.\n"
        "\n"
        "Output on stdout, one line per image, tab-separated: IMAGE, predicted class, its "
        "probability,\n"
        "then p[class] for every class in index order. For two classes the prediction is class 1 "
        "when\n"
        "p[1] >= threshold. An image that cannot be read or decoded gets a line on stderr\n"
        "(\"cxr-predict: IMAGE: reason\") and the others are still classified.\n"
        "\n"
        "Options:\n"
        "  --threshold T     binary decision threshold on p[class 1] (default: the threshold\n"
        "                    cxr-train chose on val and stored in MODEL, else 0.5; stderr says "
        "which)\n"
        "  --threads N       CPU threads (default: OMP_NUM_THREADS if set, else the cores "
        "available)\n"
        "  --device D        auto (default), cpu or cuda[:N]\n"
        "  --tta N           test-time augmentation: average the probabilities over N views, 1..8\n"
        "                    (default 1: none), as cxr-eval --tta\n"
        "  -h, --help        this help;  --version  the version\n"
        "\n"
        "Exit codes: 0 every image classified; 3 at least one image failed (bad JPEG...) or the\n"
        "checkpoint is not a valid cxr checkpoint; 2 usage error; 4 I/O error; 5 device error;\n"
        "1 other errors.\n");
}

enum { O_THR = 256, O_THREADS, O_DEVICE, O_VERSION, O_TTA };

int main(int argc, char **argv)
{
    const char *device = "auto";
    double threshold = NAN;
    int threads = omp_get_max_threads(), c, tta = 1;
    static const struct option longs[] = { { "threshold", required_argument, 0, O_THR },
                                           { "threads", required_argument, 0, O_THREADS },
                                           { "device", required_argument, 0, O_DEVICE },
                                           { "tta", required_argument, 0, O_TTA },
                                           { "help", no_argument, 0, 'h' },
                                           { "version", no_argument, 0, O_VERSION },
                                           { 0, 0, 0, 0 } };
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case O_THR:
            if (cxr_parse_double(optarg, "--threshold", 0, 1, 0, &threshold)) return bad_option();
            break;
        case O_THREADS:
            if (cxr_parse_int(optarg, "--threads", 1, 1024, &threads)) return bad_option();
            break;
        case O_DEVICE: device = optarg; break;
        case O_TTA:
            if (cxr_parse_int(optarg, "--tta", 1, CXR_TTA_MAX, &tta)) return bad_option();
            break;
        case 'h': usage(stdout); return 0;
        case O_VERSION: printf("cxr-predict %s\n", CXR_VERSION_STRING); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (argc - optind < 2) {
        fprintf(stderr, "cxr-predict: expected MODEL.h5 IMAGE... (see --help)\n");
        return 2;
    }
    const char *model_path = argv[optind];

    cxr_status st = CXR_OK, first_bad = CXR_OK;
    cxr_backend *be = NULL;
    cxr_model *m = NULL;
    cxr_decoder *dec = NULL;
    float *img = NULL, *probs = NULL;
    cxr_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    cxr_device dev;
    int rc = 0;

    CXR_TRY(cxr_input_check(model_path));
    /* the model first: a missing one is refused before anything is said about the device */
    CXR_TRY(cxr_checkpoint_read_meta(model_path, &meta));
    cxr_checkpoint_meta_free(&meta);
    CXR_TRY(cxr_device_open(&be, device, threads, &dev));
    if (dev.note[0]) fprintf(stderr, "cxr-predict: %s\n", dev.note);
    CXR_TRY(cxr_checkpoint_open_model(model_path, be, 1, threads, &m, &meta));
    const char *thr_source = cxr_threshold_choose(&meta, &threshold);
    if (meta.n_classes == 2) cxr_threshold_say(stderr, "cxr-predict", threshold, thr_source);
    const int S = meta.pp.size, K = meta.n_classes;
    dec = cxr_decoder_create();
    img = malloc((size_t)S * S * sizeof *img);
    probs = malloc((size_t)K * sizeof *probs);
    if (!dec || !img || !probs) CXR_THROW(CXR_E_NOMEM, "out of memory");

    for (int a = optind + 1; a < argc; a++) {
        const char *path = argv[a];
        cxr_status e = cxr_input_check(path); /* a FIFO would block the decoder */
        if (e == CXR_OK) e = cxr_preprocess_file(dec, &meta.pp, path, img);
        if (e == CXR_OK) e = cxr_model_probs_tta(m, img, 1, tta, probs);
        if (e != CXR_OK) {
            /* the preprocess message names the file; make sure the line does */
            const char *msg = cxr_last_error();
            fputs("cxr-predict: ", stderr);
            if (!strstr(msg, path)) {
                cxr_fputs_escaped(path, stderr);
                fputs(": ", stderr);
            }
            cxr_fputs_escaped(msg, stderr);
            fputc('\n', stderr);
            if (first_bad == CXR_OK) first_bad = e;
            if (e != CXR_E_DECODE && e != CXR_E_IO && e != CXR_E_ARG && e != CXR_E_FORMAT)
                CXR_THROW(e, "%s: %s", path, cxr_status_name(e)); /* model failure: stop */
            continue;
        }
        int pred = 0;
        if (K == 2) {
            pred = (double)probs[1] >= threshold;
        } else {
            for (int k = 1; k < K; k++)
                if (probs[k] > probs[pred]) pred = k;
        }
        cxr_fputs_field(path, stdout);
        putchar('\t');
        cxr_fputs_field(meta.class_names[pred], stdout);
        printf("\t%.6f", probs[pred]);
        for (int k = 0; k < K; k++) printf("\t%.6f", probs[k]);
        printf("\n");
        fflush(stdout);
    }
    if (first_bad != CXR_OK) rc = cxr_exit_code(first_bad) ? cxr_exit_code(first_bad) : 1;
    if (rc == 4 || rc == 2) rc = 3; /* an unreadable input file is bad input here */
    CXR_TRY(cxr_stdout_close());
bail:
    if (st != CXR_OK) {
        fprintf(stderr, "cxr-predict: %s\n", cxr_last_error());
        rc = cxr_exit_code(st);
    }
    free(img);
    free(probs);
    cxr_decoder_destroy(dec);
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
    cxr_checkpoint_meta_free(&meta);
    return rc;
}
