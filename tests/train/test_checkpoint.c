/* test_checkpoint.c: checkpoint round trip (parameters, Adam m/v, step, meta to the bit), shape
 * validation, format/version checks, atomic replacement. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_checkpoint.h"
#include "cxr_test.h"

static void small_config(cxr_model_config *c, int size, int c2)
{
    cxr_model_config_defaults(c, 2);
    c->image_size = size;
    c->channels[0] = 4;
    c->channels[1] = c2;
    c->channels[2] = 8;
    c->channels[3] = 8;
    c->dense[0] = 16;
    c->dense[1] = 8;
    c->batch_capacity = 4;
    c->seed = 3;
}

static void fill_meta(cxr_checkpoint_meta *m, const cxr_model_config *c)
{
    static char n0[] = "NORMAL", n1[] = "PNEUMONIA";
    static char *names[2] = { n0, n1 };
    memset(m, 0, sizeof *m);
    m->model = *c;
    cxr_adam_defaults(&m->adam);
    m->adam.lr = 0.001f;
    m->epochs = 26;
    m->batch = 4;
    m->threads = 2;
    m->epoch = 3;
    m->seed = 12345678901ull;
    m->threshold = 0.4375;
    cxr_preprocess_defaults(&m->pp);
    m->pp.size = c->image_size;
    m->pp.normalize = CXR_NORM_ZSCORE255;
    m->pp.crop_ratio = 0.25;
    m->n_classes = 2;
    m->class_names = names;
    snprintf(m->store, sizeof m->store, "some/store.h5");
    snprintf(m->tool_version, sizeof m->tool_version, "test");
}

static int blocks_equal(cxr_model *a, cxr_model *b, cxr_block which)
{
    size_t n = cxr_model_n_params(a);
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    CHECK_OK(cxr_model_get_block(a, which, x));
    CHECK_OK(cxr_model_get_block(b, which, y));
    int eq = memcmp(x, y, n * sizeof *x) == 0;
    for (size_t i = 0; i < n && !eq; i++)
        if (x[i] != y[i]) {
            fprintf(stderr, "block %d differs first at %zu of %zu: %g vs %g\n", (int)which, i, n,
                    x[i], y[i]);
            break;
        }
    free(x);
    free(y);
    return eq;
}

int main(void)
{
    char path[128], bad[128];
    snprintf(path, sizeof path, "ckpt_test_%d.h5", (int)getpid());
    snprintf(bad, sizeof bad, "ckpt_test_bad_%d.h5", (int)getpid());
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 2));
    cxr_model_config cfg;
    small_config(&cfg, 16, 6);
    cxr_model *a, *b;
    CHECK_OK(cxr_model_create(&a, &cfg, be));

    /* two training steps so that Adam's m, v and t are not trivial */
    float x[4 * 16 * 16];
    int32_t y[4] = { 0, 1, 1, 0 };
    for (int i = 0; i < 4 * 16 * 16; i++) x[i] = sinf(0.37f * (float)i);
    cxr_adam_params adam;
    cxr_adam_defaults(&adam);
    adam.lr = 0.001f;
    for (int s = 0; s < 2; s++) {
        CHECK_OK(cxr_model_forward(a, x, 4, 1));
        CHECK_OK(cxr_model_loss_backward(a, y, NULL, 4, NULL));
        CHECK_OK(cxr_model_step(a, &adam));
    }
    cxr_checkpoint_meta meta, got;
    fill_meta(&meta, &cfg);
    CHECK_OK(cxr_checkpoint_save(path, a, &meta));
    CHECK(access(path, F_OK) == 0);

    /* a model with another seed differs until loaded */
    cfg.seed = 99;
    CHECK_OK(cxr_model_create(&b, &cfg, be));
    CHECK(!blocks_equal(a, b, CXR_BLOCK_PARAMS));
    CHECK_OK(cxr_checkpoint_load(path, b, &got));
    CHECK(blocks_equal(a, b, CXR_BLOCK_PARAMS));
    CHECK(blocks_equal(a, b, CXR_BLOCK_ADAM_M));
    CHECK(blocks_equal(a, b, CXR_BLOCK_ADAM_V));
    CHECK(cxr_model_get_step(b) == 2);
    CHECK(got.epoch == 3 && got.epochs == 26 && got.batch == 4 && got.step == 2);
    CHECK(got.seed == 12345678901ull);
    CHECK(got.adam.lr == 0.001f);
    CHECK(got.threshold == 0.4375);
    CHECK(got.model.image_size == 16 && got.model.channels[1] == 6 && got.model.dense[0] == 16);
    CHECK(got.model.keep_prob == cfg.keep_prob && got.model.alpha == cfg.alpha);
    CHECK(got.pp.size == 16 && got.pp.normalize == CXR_NORM_ZSCORE255 && got.pp.crop_ratio == 0.25);
    CHECK(got.n_classes == 2 && strcmp(got.class_names[1], "PNEUMONIA") == 0);
    CHECK(strcmp(got.store, "some/store.h5") == 0);
    /* same outputs after loading */
    float pa[8], pb[8];
    CHECK_OK(cxr_model_forward(a, x, 4, 0));
    CHECK_OK(cxr_model_probs(a, pa, 4));
    CHECK_OK(cxr_model_forward(b, x, 4, 0));
    CHECK_OK(cxr_model_probs(b, pb, 4));
    CHECK(memcmp(pa, pb, sizeof pa) == 0);
    cxr_checkpoint_meta_free(&got);

    /* open_model builds the same network from the file alone */
    cxr_model *c2;
    CHECK_OK(cxr_checkpoint_open_model(path, be, 1, 2, &c2, &got));
    CHECK(blocks_equal(a, c2, CXR_BLOCK_PARAMS));
    cxr_model_destroy(c2);
    cxr_checkpoint_meta_free(&got);

    /* a model with another conv2 width: the mismatch is named, the model untouched */
    cxr_model_config other;
    small_config(&other, 16, 5);
    cxr_model *d;
    CHECK_OK(cxr_model_create(&d, &other, be));
    cxr_status st = cxr_checkpoint_load(path, d, NULL);
    CHECK(st == CXR_E_MISMATCH);
    fprintf(stderr, "expected error: %s\n", cxr_last_error());
    CHECK(strstr(cxr_last_error(), "layer conv2.w has shape 6x4x3x3, model expects 5x4x3x3") !=
          NULL);
    CHECK(cxr_model_get_step(d) == 0);
    cxr_model_destroy(d);
    /* another image size */
    small_config(&other, 24, 6);
    CHECK_OK(cxr_model_create(&d, &other, be));
    CHECK(cxr_checkpoint_load(path, d, NULL) == CXR_E_MISMATCH);
    cxr_model_destroy(d);

    /* missing file, not HDF5, not a checkpoint, other version, missing dataset */
    CHECK(cxr_checkpoint_read_meta("no/such/ckpt.h5", &got) == CXR_E_IO);
    FILE *f = fopen(bad, "w");
    fputs("not hdf5\n", f);
    fclose(f);
    CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
    hid_t h = H5Fcreate(bad, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(h);
    CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "not a cxr checkpoint") != NULL);

    /* copy, then set format_version = 2 */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
    REQUIRE(system(cmd) == 0);
    h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t at = H5Aopen(h, "format_version", H5P_DEFAULT);
    int32_t two = 2;
    H5Awrite(at, H5T_NATIVE_INT32, &two);
    H5Aclose(at);
    H5Fclose(h);
    CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_VERSION);
    CHECK(strstr(cxr_last_error(), "version 2") != NULL);
    CHECK(cxr_checkpoint_load(bad, b, NULL) == CXR_E_VERSION);

    REQUIRE(system(cmd) == 0);
    h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    H5Ldelete(h, "adam_v/dense1.b", H5P_DEFAULT);
    H5Fclose(h);
    CHECK(cxr_checkpoint_load(bad, b, NULL) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "adam_v/dense1.b") != NULL);

    /* an attribute holding more values than its field (found by fuzz_checkpoint: the reader
     * wrote all 64 over its stack) is refused, naming it */
    static const char *const widened[2] = { "epoch", "channels" };
    for (int k = 0; k < 2; k++) {
        REQUIRE(system(cmd) == 0);
        int32_t many[64] = { 0 };
        hsize_t n64 = 64;
        h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t sp64 = H5Screate_simple(1, &n64, NULL);
        REQUIRE(h >= 0 && sp64 >= 0 && H5Adelete(h, widened[k]) >= 0);
        hid_t a64 = H5Acreate2(h, widened[k], H5T_NATIVE_INT32, sp64, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(a64 >= 0 && H5Awrite(a64, H5T_NATIVE_INT32, many) >= 0);
        H5Aclose(a64);
        H5Sclose(sp64);
        H5Fclose(h);
        CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), widened[k]) != NULL);
    }

    /* saving over an existing checkpoint leaves no temp file behind */
    meta.epoch = 4;
    CHECK_OK(cxr_checkpoint_save(path, a, &meta));
    CHECK_OK(cxr_checkpoint_read_meta(path, &got));
    CHECK(got.epoch == 4);
    cxr_checkpoint_meta_free(&got);
    snprintf(cmd, sizeof cmd, "ls %s.tmp.* >/dev/null 2>&1", path);
    CHECK(system(cmd) != 0);
    /* an unwritable target fails cleanly */
    CHECK(cxr_checkpoint_save("no/such/dir/ck.h5", a, &meta) == CXR_E_IO);

    cxr_model_destroy(a);
    cxr_model_destroy(b);
    cxr_backend_destroy(be);
    unlink(path);
    unlink(bad);
    TEST_END();
}
