/* cxr-export: a trained model for deployment: the network as ONNX (train/cxr_onnx.h), or a
 * weights-only model file that cxr-eval and cxr-predict read like a checkpoint
 * (cxr_checkpoint_save_weights). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cxr_checkpoint.h"
#include "cxr_files.h"
#include "cxr_signals.h"
#include "cxr_onnx.h"

#define USAGE "usage: cxr-export MODEL.h5 -o OUT [--external-data | --weights [--bf16]] [-q]"

static void usage(FILE *f)
{
    fprintf(f,
            USAGE
            "\n"
            "\n"
            "Export the model of MODEL.h5 (a cxr-train checkpoint, or a weights file) for "
            "deployment.\n"
            "\n"
            "Default: OUT is an ONNX model (opset %d, IR version %d): the evaluation network "
            "(no dropout)\n"
            "as Conv, LeakyRelu, MaxPool, Flatten, Gemm and Softmax nodes of the default domain\n"
            "(AveragePool first with an input pool, then Constant, Mul and Add with an input "
            "scale,\n"
            "GlobalAveragePool with the gap head), float32.\n"
            "  input  'image'          float32 (N,1,S,S), N dynamic: the preprocessed image "
            "exactly as\n"
            "                          a cxr store holds it (decoded, gray, resized to S, "
            "equalized,\n"
            "                          normalized; the model's preprocessing, in the metadata)\n"
            "  output 'probabilities'  float32 (N,C): softmax over the classes\n"
            "  metadata_props          cxr.class_names (JSON list), cxr.preprocessing (JSON), "
            "cxr.threshold\n"
            "The weights are in OUT, or in OUT.data beside it (ONNX external data, offsets "
            "4096-aligned)\n"
            "with --external-data, or when OUT would hold 2 GiB or more (the most a protobuf "
            "may: from an\n"
            "image side of about 728 on); onnxruntime and onnx.load find OUT.data in OUT's "
            "folder\n"
            "(so then an OUT that is a symbolic link into another folder is refused). An OUT.data "
            "that an\n"
            "OUT holding its own weights does not read is left as it was, and said.\n"
            "\n"
            "--weights: OUT is a weights-only model file (HDF5, format cxr-weights): the "
            "parameters, the\n"
            "classes, preprocessing and threshold, no optimizer state, every tensor checksummed. "
            "cxr-eval\n"
            "and cxr-predict take it wherever they take a checkpoint; cxr-train --resume refuses "
            "it.\n"
            "\n"
            "Options:\n"
            "  -o, --output OUT  the file to write (required; never one of the inputs): written "
            "to a\n"
            "                    temporary file beside it and renamed into place when complete\n"
            "  --external-data   ONNX: the weights in OUT.data at any size (default: only "
            "past 2 GiB)\n"
            "  --weights         write the weights-only model file instead of ONNX\n"
            "  --bf16            with --weights: store the parameters as bfloat16 (half the "
            "size,\n"
            "                    rounded to nearest even; widened exactly on load)\n"
            "  -q, --quiet       say nothing on success (else one line on stderr: the file\n"
            "                    written, its kind and size)\n"
            "  -h, --help        this help;  --version  the version\n"
            "\n"
            "Exit codes: 0 ok; 2 usage error (also an OUT that is MODEL.h5 itself); 3 bad input "
            "data\n"
            "(not a cxr checkpoint or weights file, damaged, other format version); 4 I/O "
            "error; 130\n"
            "interrupted while OUT was written (SIGINT, SIGTERM or SIGHUP, held back until OUT "
            "is\n"
            "whole: it is complete, and said so; one before that ends the tool at once, nothing\n"
            "written); 1 other errors.\n",
            CXR_ONNX_OPSET, CXR_ONNX_IR_VERSION);
}

enum { O_WEIGHTS = 256, O_BF16, O_EXTERNAL, O_VERSION };

int main(int argc, char **argv)
{
    cxr_std_fds_open(); /* before any file is opened (cxr_files.h) */
    cxr_signals_ignore_write_signals();
    const char *out = NULL;
    int weights = 0, bf16 = 0, external = 0, quiet = 0, c;
    static const struct option longs[] = {
        { "output", required_argument, 0, 'o' }, { "weights", no_argument, 0, O_WEIGHTS },
        { "bf16", no_argument, 0, O_BF16 },      { "external-data", no_argument, 0, O_EXTERNAL },
        { "help", no_argument, 0, 'h' },         { "version", no_argument, 0, O_VERSION },
        { "quiet", no_argument, 0, 'q' },        { 0, 0, 0, 0 }
    };
    while ((c = getopt_long(argc, argv, "hqo:", longs, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case O_WEIGHTS: weights = 1; break;
        case O_BF16: bf16 = 1; break;
        case O_EXTERNAL: external = 1; break;
        case 'q': quiet = 1; break;
        case 'h':
            cxr_stdout_hold();
            usage(stdout);
            return cxr_stdout_exit("cxr-export");
        case O_VERSION: return cxr_version_exit("cxr-export");
        default: return cxr_usage_error(USAGE);
        }
    }
    if (argc - optind != 1 || !out) {
        fprintf(stderr, "cxr-export: expected MODEL.h5 -o OUT (see --help)\n");
        return 2;
    }
    if (bf16 && !weights) {
        fprintf(stderr, "cxr-export: --bf16 applies to --weights only (ONNX is float32)\n");
        return 2;
    }
    if (external && weights) {
        fprintf(stderr, "cxr-export: --external-data applies to ONNX, not to --weights\n");
        return 2;
    }
    const char *in = argv[optind];
    cxr_status st = CXR_OK;
    cxr_sigmask_saved held;
    int holding = 0;
    cxr_backend *be = NULL;
    cxr_model *m = NULL;
    cxr_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    char *data = NULL; /* ONNX: OUT.data, where the weights may go */
    int wrote_data = 0;

    CXR_TRY(cxr_input_check(in));
    CXR_TRY(cxr_output_check("-o", out, &in, 1, NULL));
    static const char *const weights_format[] = { CXR_WEIGHTS_FORMAT };
    if (!weights)
        CXR_TRY(cxr_output_not_ours("-o", out, "an ONNX model"));
    else
        CXR_TRY(cxr_output_format_check("-o", out, weights_format, 1, "a weights file"));
    CXR_TRY(cxr_output_not_other("-o", out, weights ? "a weights file" : "an ONNX model",
                                 weights ? 0 : CXR_OUTPUT_ONNX));
    CXR_TRY(cxr_output_probe("-o", out));
    /* one run per output, until exit */
    CXR_TRY(cxr_output_lock("cxr-export", "-o", out));
    CXR_TRY(cxr_checkpoint_read_meta(in, &meta)); /* a bad input is named before any work */
    cxr_checkpoint_meta_free(&meta);
    CXR_TRY(cxr_backend_cpu_create(&be, 1));
    CXR_TRY(cxr_checkpoint_open_model(in, be, 1, 1, &m, &meta));
    const cxr_onnx_layout layout = external ? CXR_ONNX_EXTERNAL : CXR_ONNX_AUTO;
    int apart = 0;
    if (!weights) CXR_TRY(cxr_onnx_goes_external(out, m, &meta, layout, &apart));
    if (apart) { /* its weights file too: not the input, not OUT itself, writable */
        struct stat a, b;
        CXR_TRY(cxr_onnx_data_path(out, &data));
        if (stat(data, &a) == 0 && stat(out, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            CXR_THROW(CXR_E_ARG, "-o %s: its weights file %s is the same file; refusing to write",
                      out, data);
        CXR_TRY(cxr_output_check("-o's weights file", data, &in, 1, NULL));
        CXR_TRY(cxr_output_not_ours("-o's weights file", data, "an ONNX weights file"));
        /* (raw floats, no signature: only an image is told apart, the others' bytes could be
         * the start of an earlier export's weights) */
        CXR_TRY(cxr_output_not_other("-o's weights file", data, "an ONNX weights file",
                                     (unsigned)~CXR_OUTPUT_IMAGE));
        CXR_TRY(cxr_output_probe("-o's weights file", data));
        CXR_TRY(cxr_output_lock("cxr-export", "-o", data));
    }
    /* a stop signal (Ctrl-C, SIGTERM, SIGHUP) waits until the output is whole: held back while
     * it is written (killed midway, its temporary stayed until the next run for that output),
     * it then ends the tool with exit 130, saying that the output is complete */
    cxr_sigmask_block_async(&held);
    holding = 1;
    st = weights ? cxr_checkpoint_save_weights(out, m, &meta, bf16)
                 : cxr_onnx_write_as(out, m, &meta, layout, &wrote_data);
    if (st == CXR_OK && !quiet) { /* the whole name, escaped, as cxr-pack says its store */
        struct stat sb;
        fputs("cxr-export: wrote ", stderr);
        cxr_fputs_escaped(out, stderr);
        if (weights)
            fprintf(stderr, " (weights file, %s", bf16 ? "bfloat16" : "float32");
        else
            fprintf(stderr, " (ONNX, opset %d", CXR_ONNX_OPSET);
        if (stat(out, &sb) == 0) fprintf(stderr, ", %lld bytes", (long long)sb.st_size);
        if (wrote_data && data) { /* data: set when the check above saw them go apart */
            fputs("; weights in ", stderr);
            cxr_fputs_escaped(data, stderr);
            if (stat(data, &sb) == 0) fprintf(stderr, ", %lld bytes", (long long)sb.st_size);
        }
        fputs(")\n", stderr);
    }
    /* a model read from a bfloat16 weights file holds its rounded parameters: a float32 export
     * keeps that rounding (its probabilities differ from the checkpoint's by up to ~1e-3) */
    if (st == CXR_OK && meta.bf16 && !(weights && bf16) && !quiet) {
        fputs("cxr-export: note: ", stderr);
        cxr_fputs_escaped(in, stderr);
        fprintf(stderr,
                " holds bfloat16 parameters: this %s has them as rounded there, not the "
                "checkpoint's\n",
                weights ? "weights file" : "model");
    }
    /* an earlier export's weights beside OUT, which this self-contained model does not read:
     * left (not ours to remove), but said */
    struct stat sd;
    if (st == CXR_OK && !weights && !wrote_data && !data &&
        cxr_onnx_data_path(out, &data) == CXR_OK && stat(data, &sd) == 0 && S_ISREG(sd.st_mode)) {
        fputs("cxr-export: note: ", stderr);
        cxr_fputs_escaped(data, stderr);
        fputs(", where --external-data puts the weights, is left as it was: this model holds "
              "its own and does not read it\n",
              stderr);
    }
bail:
    /* a failed write keeps its own exit status: the stop was honoured all the same */
    if (holding && cxr_sigmask_restore_taking_stop(&held) && st == CXR_OK)
        st = cxr_set_error(CXR_E_INTERRUPTED, "interrupted as %s was written: it is complete", out);
    if (st != CXR_OK) cxr_print_error("cxr-export", cxr_last_error());
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
    cxr_checkpoint_meta_free(&meta);
    free(data);
    return st == CXR_OK ? 0 : cxr_exit_code(st);
}
