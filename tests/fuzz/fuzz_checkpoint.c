/* fuzz_checkpoint.c: libFuzzer target for the checkpoint reader (train/cxr_checkpoint.h):
 * the input, written to a temporary file, is read as a checkpoint's attributes, then (when the
 * model it describes is small) loaded into a CPU model the way cxr-eval and cxr-predict do, and
 * that model predicts one blank image. Oracles beyond the sanitizers: errors are the documented
 * ones, the metadata read holds a name for every class, and a loaded model's probabilities are a
 * distribution. Harness limit (not a finding): models over MAX_MODEL_FLOATS (parameters plus one
 * image's activations) are not built. */
#include <math.h>

#include "cxr_checkpoint.h"
#include "fuzz_common.h"

#define MAX_MODEL_FLOATS 4e6

static int ckpt_error(cxr_status st)
{
    return st == CXR_E_FORMAT || st == CXR_E_VERSION || st == CXR_E_IO || st == CXR_E_HDF5 ||
           st == CXR_E_MISMATCH || st == CXR_E_CHECKSUM || st == CXR_E_NOMEM || st == CXR_E_ARG;
}

/* Floats of a model built from c for one image, in double (no overflow on wild shapes). */
static double model_floats(const cxr_model_config *c)
{
    double s = c->image_size, in = 1, total = 0, act = 0;
    for (int i = 0; i < 4; i++) {
        total += 9.0 * in * c->channels[i] + c->channels[i];
        act += 2.0 * c->channels[i] * s * s;
        if (i > 0) s /= 2;
        in = c->channels[i];
    }
    double flat = in * s * s;
    total += flat * c->dense[0] + c->dense[0] + (double)c->dense[0] * c->dense[1] + c->dense[1] +
             (double)c->dense[1] * c->n_classes + c->n_classes;
    return 4 * total + act + flat;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static cxr_backend *be;
    if (!be && cxr_backend_cpu_create(&be, 1) != CXR_OK) abort();
    char path[4200];
    fuzz_tmpfile("model.h5", data, size, path, sizeof path);
    cxr_checkpoint_meta meta;
    cxr_status st = cxr_checkpoint_read_meta(path, &meta);
    if (st != CXR_OK) {
        FUZZ_CHECK(ckpt_error(st), "read_meta: %s: %s", cxr_status_name(st), cxr_last_error());
        return 0;
    }
    FUZZ_CHECK(meta.n_classes == meta.model.n_classes && meta.class_names,
               "%d class names for %d classes", meta.n_classes, meta.model.n_classes);
    for (int c = 0; c < meta.n_classes; c++)
        FUZZ_CHECK(meta.class_names[c] != NULL, "class %d has no name", c);
    int small = cxr_model_config_check(&meta.model) == CXR_OK &&
                model_floats(&meta.model) <= MAX_MODEL_FLOATS;
    cxr_checkpoint_meta_free(&meta);
    if (!small) {
        return 0;
    }

    cxr_model *m = NULL;
    st = cxr_checkpoint_open_model(path, be, 1, 1, &m, &meta);
    if (st == CXR_OK) {
        const cxr_model_config *c = cxr_model_get_config(m);
        size_t px = (size_t)c->image_size * c->image_size;
        float *x = calloc(px, sizeof *x), *p = calloc((size_t)c->n_classes, sizeof *p);
        if (!x || !p) abort();
        FUZZ_CHECK(cxr_model_forward(m, x, 1, 0) == CXR_OK, "forward: %s", cxr_last_error());
        FUZZ_CHECK(cxr_model_probs(m, p, 1) == CXR_OK, "probs: %s", cxr_last_error());
#ifdef CXR_FUZZ_FINITE_CHECKPOINTS
        double sum = 0;
        for (int k = 0; k < c->n_classes; k++) {
            FUZZ_CHECK(p[k] >= 0 && p[k] <= 1, "p[%d] = %g", k, (double)p[k]);
            sum += p[k];
        }
        FUZZ_CHECK(fabs(sum - 1) < 1e-3, "probabilities sum to %g", sum);
#endif
        free(x);
        free(p);
        cxr_model_destroy(m);
        cxr_checkpoint_meta_free(&meta);
    } else {
        FUZZ_CHECK(ckpt_error(st), "open_model: %s: %s", cxr_status_name(st), cxr_last_error());
    }
    return 0;
}
