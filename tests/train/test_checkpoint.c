/* test_checkpoint.c: checkpoint round trip (parameters, Adam m/v, step, meta to the bit), shape
 * and element-type validation (before any allocation of the file's size), format/version
 * checks, atomic replacement. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxr_checkpoint.h"
#include "cxr_test.h"


/* Whether a temporary of this process (".<name>.cxr-tmp-<pid>-<hex>", cxr_tmpfile.h) is left in
 * the working directory. Only this process's: ctest runs the other tests of this folder at the
 * same time, in the same directory, and theirs come and go (that made this test fail now and
 * then under ctest -j). */
static int own_temporaries_left(void)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "ls -A | grep -q -e '\\.cxr-tmp-%d-'", (int)getpid());
    return system(cmd) == 0;
}

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
    m->pp.equalize = CXR_EQUALIZE_CLAHE;
    m->pp.clahe_clip = 3.5;
    m->n_classes = 2;
    m->class_names = names;
    snprintf(m->store, sizeof m->store, "some/store.h5");
    snprintf(m->tool_version, sizeof m->tool_version, "test");
}

/* Replace the root attribute `name` of file with one of this type and space holding data. */
static void replace_attr(const char *file, const char *name, hid_t type, hid_t space,
                         const void *data)
{
    hid_t h = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(h >= 0 && (H5Aexists(h, name) <= 0 || H5Adelete(h, name) >= 0));
    hid_t a = H5Acreate2(h, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, type, data) >= 0);
    H5Aclose(a);
    H5Fclose(h);
}

/* Replace (or add) the root attribute `name` of file with the fixed-length string text. */
static void replace_str_attr(const char *file, const char *name, const char *text)
{
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    REQUIRE(t >= 0 && sp >= 0 && H5Tset_size(t, strlen(text) + 1) >= 0);
    replace_attr(file, name, t, sp, text);
    H5Tclose(t);
    H5Sclose(sp);
}

/* 1 if file has no root attribute `name`. */
static int attr_absent(const char *file, const char *name)
{
    hid_t h = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    REQUIRE(h >= 0);
    const htri_t e = H5Aexists(h, name);
    H5Fclose(h);
    return e == 0;
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

/* Overwrite element i of float dataset `name` through HDF5 (its checksum stays valid). */
static void poke_float(const char *file, const char *name, hsize_t i, float v)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, name, H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t fs = H5Dget_space(d);
    hsize_t dims[4], at[4], one = 1;
    int nd = H5Sget_simple_extent_ndims(fs);
    H5Sget_simple_extent_dims(fs, dims, NULL);
    for (int k = nd - 1; k >= 0; k--) at[k] = i % dims[k], i /= dims[k];
    hid_t ms = H5Screate_simple(1, &one, NULL);
    REQUIRE(H5Sselect_elements(fs, H5S_SELECT_SET, 1, at) >= 0);
    REQUIRE(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
    H5Fclose(f);
}

static void set_f64_attr(const char *file, const char *name, double v)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT), a = H5Aopen(f, name, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    H5Fclose(f);
}

/* Class `cls`'s name in file's fixed-width /class_names set to `name` (shorter than the width),
 * as a damaged or edited file would hold it. */
static void set_class_name(const char *file, int cls, const char *name)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "class_names", 0);
    REQUIRE(d >= 0);
    hid_t ty = H5Dget_type(d);
    const size_t w = H5Tget_size(ty);
    char *buf = calloc(2, w);
    REQUIRE(buf && cls < 2 && strlen(name) < w &&
            H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    memset(buf + (size_t)cls * w, 0, w);
    memcpy(buf + (size_t)cls * w, name, strlen(name));
    REQUIRE(H5Dwrite(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    free(buf);
    H5Tclose(ty);
    H5Dclose(d);
    H5Fclose(f);
}

/* 1 when opening `file` for inference is refused as a format error whose message holds why, no
 * model made. */
static int open_refused(const char *file, cxr_backend *be, const char *why)
{
    cxr_model *m = NULL;
    cxr_checkpoint_meta g;
    const cxr_status st = cxr_checkpoint_open_model(file, be, 1, 2, &m, &g);
    const int made = m != NULL;
    if (st == CXR_OK) cxr_checkpoint_meta_free(&g);
    cxr_model_destroy(m);
    if (st != CXR_E_FORMAT || made || !strstr(cxr_last_error(), why)) {
        fprintf(stderr, "%s: status %d, '%s'; wanted a format error with '%s'\n", file, (int)st,
                cxr_last_error(), why);
        return 0;
    }
    return 1;
}

/* Copy attribute `name` of src to dst; strings become variable-length, as version 1 had them. */
static herr_t copy_attr_v1(hid_t src, const char *name, const H5A_info_t *info, void *dst_p)
{
    (void)info;
    hid_t dst = *(hid_t *)dst_p, a = H5Aopen(src, name, H5P_DEFAULT), t = H5Aget_type(a);
    hid_t sp = H5Aget_space(a), b;
    char buf[4096] = "";
    if (H5Tget_class(t) == H5T_STRING) {
        REQUIRE(H5Tget_size(t) < sizeof buf && H5Aread(a, t, buf) >= 0);
        hid_t vt = H5Tcopy(H5T_C_S1);
        H5Tset_size(vt, H5T_VARIABLE);
        const char *p = buf;
        b = H5Acreate2(dst, name, vt, sp, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(b >= 0 && H5Awrite(b, vt, &p) >= 0);
        H5Tclose(vt);
    } else {
        REQUIRE(H5Aread(a, t, buf) >= 0);
        b = H5Acreate2(dst, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(b >= 0 && H5Awrite(b, t, buf) >= 0);
    }
    if (strcmp(name, "format_version") == 0) {
        int32_t one = 1;
        REQUIRE(H5Awrite(b, H5T_NATIVE_INT32, &one) >= 0);
    }
    H5Aclose(b);
    H5Sclose(sp);
    H5Tclose(t);
    H5Aclose(a);
    return 0;
}

/* A version 1 checkpoint with the same content: HDF5's earliest file format, variable-length
 * strings, tensors contiguous without checksums; class 1 named name1 (version 1 stored names
 * as they came, UTF-8 or not). */
static void write_v1(const char *from, const char *to, const cxr_model *m, const char *name1)
{
    hid_t s = H5Fopen(from, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Fcreate(to, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(s >= 0 && d >= 0);
    H5Aiterate2(s, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, copy_attr_v1, &d);
    const char *names[2] = { "NORMAL", name1 };
    hsize_t two = 2;
    hid_t vt = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &two, NULL);
    H5Tset_size(vt, H5T_VARIABLE);
    hid_t ds = H5Dcreate2(d, "class_names", vt, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(ds >= 0 && H5Dwrite(ds, vt, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) >= 0);
    H5Dclose(ds);
    H5Sclose(sp);
    H5Tclose(vt);
    const char *groups[3] = { "params", "adam_m", "adam_v" };
    static float buf[1 << 20];
    for (int g = 0; g < 3; g++) {
        hid_t gd = H5Gcreate2(d, groups[g], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        for (int i = 0; i < CXR_MODEL_N_TENSORS; i++) {
            const cxr_tensor_info *t = cxr_model_tensor(m, i);
            char name[128];
            snprintf(name, sizeof name, "%s/%s", groups[g], t->name);
            hid_t x = H5Dopen2(s, name, H5P_DEFAULT), xs = H5Dget_space(x);
            REQUIRE(H5Sget_simple_extent_npoints(xs) <= (1 << 20));
            REQUIRE(H5Dread(x, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
            hid_t y =
                H5Dcreate2(gd, t->name, H5T_IEEE_F32LE, xs, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            REQUIRE(y >= 0 &&
                    H5Dwrite(y, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
            H5Dclose(y);
            H5Sclose(xs);
            H5Dclose(x);
        }
        H5Gclose(gd);
    }
    H5Fclose(d);
    H5Fclose(s);
}

static int32_t file_version(const char *path)
{
    int32_t v = -1;
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t at = h >= 0 ? H5Aopen(h, "format_version", H5P_DEFAULT) : -1;
    if (at < 0 || H5Aread(at, H5T_NATIVE_INT32, &v) < 0) v = -1;
    if (at >= 0) H5Aclose(at);
    if (h >= 0) H5Fclose(h);
    return v;
}

/* The input scale travels through save and open_model in a format version 3 file (a plain
 * model's file stays version 2, which readers before 0.17 read, and holds no scale); a version 3
 * file without either attribute, or with one that is no float32 scale, is refused naming it, and
 * so is a version 2 file given one; a scaled file does not load into a plain model. */
static void check_input_scale(const char *path, cxr_backend *be, const cxr_model_config *cfg,
                              cxr_checkpoint_meta *meta)
{
    cxr_model_config sc = *cfg;
    CHECK_OK(cxr_model_config_input_range(&sc, 0, 255));
    cxr_model *s, *s2, *plain;
    cxr_checkpoint_meta got;
    CHECK_OK(cxr_model_create(&s, &sc, be));
    CHECK_OK(cxr_model_create(&plain, cfg, be));
    CHECK_OK(cxr_checkpoint_save(path, plain, meta));
    CHECK(file_version(path) == 2);
    hid_t h = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(h >= 0 && H5Aexists(h, "input_scale") == 0 && H5Aexists(h, "input_shift") == 0);
    H5Fclose(h);
    CHECK_OK(cxr_checkpoint_save(path, s, meta));
    CHECK(file_version(path) == 3);
    CHECK_OK(cxr_checkpoint_open_model(path, be, 1, 2, &s2, &got));
    CHECK(got.model.input_scale == sc.input_scale && got.model.input_shift == -1.0f);
    CHECK(cxr_model_get_config(s2)->input_scale == sc.input_scale &&
          cxr_model_get_config(s2)->input_shift == -1.0f && blocks_equal(s, s2, CXR_BLOCK_PARAMS));
    cxr_checkpoint_meta_free(&got);
    cxr_model_destroy(s2);
    /* a weights file (float32 and bfloat16) of the scaled model: version 3, the scale read back */
    for (int bf16 = 0; bf16 < 2; bf16++) {
        CHECK_OK(cxr_checkpoint_save_weights(path, s, meta, bf16));
        CHECK(file_version(path) == 3);
        CHECK_OK(cxr_checkpoint_open_model(path, be, 1, 2, &s2, &got));
        CHECK(got.weights_only && got.model.input_scale == sc.input_scale &&
              cxr_model_get_config(s2)->input_shift == -1.0f);
        cxr_checkpoint_meta_free(&got);
        cxr_model_destroy(s2);
    }
    CHECK_OK(cxr_checkpoint_save(path, s, meta));
    CHECK(cxr_checkpoint_load(path, plain, NULL) == CXR_E_MISMATCH);
    CHECK(strstr(cxr_last_error(), "input scale 0.00784313772 and shift -1, the model has 1 and "
                                   "0") != NULL);
    /* bad values, each refused naming the attribute */
    static const struct {
        const char *name;
        double v;
    } bad[] = { { "input_scale", 0.0 },           { "input_scale", 0.1 /* not a float32 */ },
                { "input_scale", -2.0 / 255 },     { "input_shift", NAN },
                { "input_shift", 0x1p21 },         { "input_scale", 0x1p-21 } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_OK(cxr_checkpoint_save(path, s, meta));
        set_f64_attr(path, bad[i].name, bad[i].v);
        CHECK(cxr_checkpoint_read_meta(path, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "'input_scale'") && strstr(cxr_last_error(), "'input_shift'") &&
              strstr(cxr_last_error(), "not an input scale"));
    }
    /* either attribute missing from a version 3 file */
    static const char *const names[2] = { "input_scale", "input_shift" };
    for (int i = 0; i < 2; i++) {
        CHECK_OK(cxr_checkpoint_save(path, s, meta));
        h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(h >= 0 && H5Adelete(h, names[i]) >= 0);
        H5Fclose(h);
        CHECK(cxr_checkpoint_read_meta(path, &got) == CXR_E_FORMAT);
        char want[96];
        snprintf(want, sizeof want, "misses attribute '%s' (format version 3)", names[i]);
        CHECK(strstr(cxr_last_error(), want) != NULL);
    }
    /* a version 2 file given either attribute (an edit) is refused, not read unscaled */
    for (int i = 0; i < 2; i++) {
        CHECK_OK(cxr_checkpoint_save(path, plain, meta));
        h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t at = H5Acreate2(h, names[i], H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        const double v = i ? -1.0 : 2.0 / 255;
        REQUIRE(h >= 0 && at >= 0 && H5Awrite(at, H5T_NATIVE_DOUBLE, &v) >= 0);
        H5Aclose(at);
        H5Sclose(sp);
        H5Fclose(h);
        CHECK(cxr_checkpoint_read_meta(path, &got) == CXR_E_FORMAT);
        char want[128];
        snprintf(want, sizeof want,
                 "checkpoint format version 2 carries attribute '%s', which only version 3",
                 names[i]);
        CHECK(strstr(cxr_last_error(), want) != NULL);
        CHECK(cxr_checkpoint_load(path, plain, NULL) == CXR_E_FORMAT);
    }
    cxr_model_destroy(s);
    cxr_model_destroy(plain);
}

/* Two store contents equal member by member (not by memcmp: the struct's 4 bytes of tail
 * padding are indeterminate in a local, and were not zero on the sanitizer build) */
static int content_same(const cxr_store_content *a, const cxr_store_content *b)
{
    return !memcmp(a->n, b->n, sizeof a->n) && !memcmp(a->set, b->set, sizeof a->set) &&
           !memcmp(a->order, b->order, sizeof a->order) &&
           !memcmp(a->pixels, b->pixels, sizeof a->pixels) &&
           !memcmp(a->has_pixels, b->has_pixels, sizeof a->has_pixels);
}

/* store_content (since 0.19): written when recorded, read back to the bit, absent in a file
 * without it (an older checkpoint: has_store_content 0), refused when malformed; and the
 * differences a resume names: sizes, a val carved from train or merged into it, other images,
 * another order. */
static void test_store_content(cxr_model *m, const cxr_model_config *cfg, const char *path)
{
    cxr_checkpoint_meta meta, got;
    fill_meta(&meta, cfg);
    CHECK_OK(cxr_checkpoint_save(path, m, &meta));
    CHECK_OK(cxr_checkpoint_read_meta(path, &got));
    CHECK(got.has_store_content == 0);
    cxr_checkpoint_meta_free(&got);
    cxr_store_content c = { { 5216, -1, 624 },
                            { 0x0123456789abcdefull, 0, 0xfedcba9876543210ull },
                            { 0xffffffffffffffffull, 0, 1 },
                            { 0, 0, 0 },
                            { 0, 0, 0 } };
    meta.has_store_content = 1;
    meta.store_content = c;
    CHECK_OK(cxr_checkpoint_save(path, m, &meta));
    CHECK_OK(cxr_checkpoint_read_meta(path, &got));
    CHECK(got.has_store_content == 1 && content_same(&got.store_content, &c));
    cxr_checkpoint_meta_free(&got);
    CHECK(attr_absent(path, "store_pixels")); /* no split digested: not written */
    /* store_pixels (since 0.20): per split, read back to the bit, "none" kept apart from 0 */
    c.pixels[0] = 0x8000000000000001ull, c.has_pixels[0] = 1;
    c.pixels[2] = 0, c.has_pixels[2] = 1;
    meta.store_content = c;
    CHECK_OK(cxr_checkpoint_save(path, m, &meta));
    CHECK_OK(cxr_checkpoint_read_meta(path, &got));
    CHECK(got.has_store_content == 1 && content_same(&got.store_content, &c));
    cxr_checkpoint_meta_free(&got);
    /* malformed: each refused by name (the pixels' first, while store_content is whole) */
    const struct {
        const char *name, *text;
    } bad[] = { { "store_pixels", "train 0123456789abcdef" },
                { "store_pixels", "train none; test none; val none" },
                { "store_pixels", "train none; val none; test none; more" },
                { "store_pixels", "train 12 34; val none; test none" },
                /* 258 bytes, past any such attribute's length, well-formed in its first 255
                 * (213 blanks read as one): it was cut there and read */
                { "store_pixels", "train                                                      "
                                  "                                                           "
                                  "                                                           "
                                  "                                         "
                                  "none; val none; test 0123456789abcdefXYZ" },
                { "store_content", "train 5216 0123456789abcdef" },
                { "store_content", "val none; train none; test none" },
                { "store_content", "train -1 0 0; val none; test none" },
                { "store_content", "train none; val none; test none; more" } };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[64];
        snprintf(want, sizeof want, "checkpoint attribute '%s' is '", bad[i].name);
        replace_str_attr(path, bad[i].name, bad[i].text);
        CHECK(cxr_checkpoint_read_meta(path, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), want) != NULL);
    }
    meta.has_store_content = 0; /* pixels without the content they belong to (a damaged file) */
    CHECK_OK(cxr_checkpoint_save(path, m, &meta));
    CHECK(attr_absent(path, "store_content") && attr_absent(path, "store_pixels"));
    replace_str_attr(path, "store_pixels", "train 0000000000000001; val none; test none");
    CHECK_OK(cxr_checkpoint_read_meta(path, &got)); /* ignored: it identifies nothing */
    CHECK(!got.has_store_content && !got.store_content.has_pixels[0] &&
          !got.store_content.has_pixels[1] && !got.store_content.has_pixels[2]);
    cxr_checkpoint_meta_free(&got);

    char buf[512];
    cxr_store_content then = { { 8, -1, 4 }, { 100, 0, 7 }, { 1, 0, 2 }, { 0, 0, 0 }, { 0, 0, 0 } },
                      now = then;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 0 && buf[0] == 0);
    now.n[1] = 0; /* an empty val is as good as none */
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 0 && buf[0] == 0);
    /* val carved from train: 8 = 6 + 2 images, and the sums add up */
    now.n[0] = 6, now.set[0] = 60, now.order[0] = 5;
    now.n[1] = 2, now.set[1] = 40, now.order[1] = 6;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 3);
    CHECK(strcmp(buf, "train: 8 images then, 6 now; val: none then, 2 now (carved from the "
                      "images trained on)") == 0);
    /* ... but not where the pixels trained on differ from train's and val's now */
    then.has_pixels[0] = now.has_pixels[0] = now.has_pixels[1] = 1;
    then.pixels[0] = 30, now.pixels[0] = 10, now.pixels[1] = 20;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 3 && strstr(buf, "carved"));
    now.pixels[1] = 21;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 3 && !strstr(buf, "carved"));
    now.pixels[1] = 20;
    /* ... and back: val merged into train */
    CHECK(cxr_store_content_diff(&now, &then, buf, sizeof buf) == 3);
    CHECK(strcmp(buf, "train: 6 images then, 8 now (val's images among them); val: 2 images "
                      "then, none now") == 0);
    now.pixels[1] = 21; /* (nor merged where the pixels do not add up) */
    CHECK(cxr_store_content_diff(&now, &then, buf, sizeof buf) == 3 && !strstr(buf, "among them"));
    now.pixels[1] = 20;
    /* a val of the same size from elsewhere is not carved */
    now.set[1] = 41;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 3 && !strstr(buf, "carved"));
    /* the same count of other images (or labels), and the same ones in another order */
    now = then, now.set[2] = 8;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 4);
    CHECK(strcmp(buf, "test: 4 images then and now, but other images or labels") == 0);
    now = then, now.order[0] = 9;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) ==
          (1 | CXR_STORE_CONTENT_ORDER_ONLY(0)));
    CHECK(strcmp(buf, "train: the same 8 images in another order") == 0);
    /* pixels: compared only where both sides digested them; an order-free digest, so other
     * pixels in another order are both said, and not as an order-only change */
    then.pixels[0] = 11, then.has_pixels[0] = 1, now = then, now.pixels[0] = 12;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 1);
    CHECK(strcmp(buf, "train: the same 8 images by name and label, but other pixels (files "
                      "changed under the same names, or another decoder)") == 0);
    now.order[0] = 9;
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 1);
    CHECK(strstr(buf, "train: the same 8 images by name and label in another order, but other "
                      "pixels") == buf);
    now = then, now.pixels[0] = 12, now.has_pixels[0] = 0; /* a store packed without pixel_hash */
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 0 && buf[0] == 0);
    now = then, now.pixels[2] = 12, now.has_pixels[2] = 1; /* then had none for test */
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 0 && buf[0] == 0);
    now = then, now.pixels[0] = 12, now.set[2] = 8; /* two splits differ, each said */
    CHECK(cxr_store_content_diff(&then, &now, buf, sizeof buf) == 5);
    CHECK(strstr(buf, "train: the same 8 images by name and label, but other pixels") == buf &&
          strstr(buf, "; test: 4 images then and now, but other images or labels") != NULL);
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

    /* four training steps (one an epoch at least) so that Adam's m, v and t are not trivial */
    float x[4 * 16 * 16];
    int32_t y[4] = { 0, 1, 1, 0 };
    for (int i = 0; i < 4 * 16 * 16; i++) x[i] = sinf(0.37f * (float)i);
    cxr_adam_params adam;
    cxr_adam_defaults(&adam);
    adam.lr = 0.001f;
    for (int s = 0; s < 4; s++) {
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
    CHECK(cxr_model_get_step(b) == 4);
    CHECK(got.epoch == 3 && got.epochs == 26 && got.batch == 4 && got.step == 4);
    CHECK(got.seed == 12345678901ull);
    CHECK(got.adam.lr == 0.001f);
    CHECK(got.threshold == 0.4375);
    CHECK(got.model.image_size == 16 && got.model.channels[1] == 6 && got.model.dense[0] == 16);
    CHECK(got.model.keep_prob == cfg.keep_prob && got.model.alpha == cfg.alpha);
    CHECK(got.pp.size == 16 && got.pp.normalize == CXR_NORM_ZSCORE255 && got.pp.crop_ratio == 0.25);
    CHECK(got.pp.equalize == CXR_EQUALIZE_CLAHE && got.pp.clahe_clip == 3.5);
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

    test_store_content(a, &cfg, bad);

    /* a damaged object header on the way to a tensor (the /params group's, its first byte
     * flipped: HDF5 cannot read the link) is named damaged, with HDF5's reason, not "missing
     * dataset", which sent users looking for an incomplete or edited file */
    {
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        hid_t hf = H5Fopen(bad, H5F_ACC_RDONLY, H5P_DEFAULT);
        H5O_info_t oi;
        REQUIRE(hf >= 0 &&
                H5Oget_info_by_name2(hf, "params", &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0);
        H5Fclose(hf);
        FILE *fb = fopen(bad, "r+b");
        REQUIRE(fb && fseek(fb, (long)oi.addr, SEEK_SET) == 0);
        const int byte = fgetc(fb);
        REQUIRE(byte != EOF && fseek(fb, (long)oi.addr, SEEK_SET) == 0);
        fputc(byte ^ 0xFF, fb);
        REQUIRE(fclose(fb) == 0);
        CHECK(cxr_checkpoint_open_model(bad, be, 1, 2, &c2, &got) == CXR_E_FORMAT);
        fprintf(stderr, "expected error: %s\n", cxr_last_error());
        CHECK(strstr(cxr_last_error(), "damaged: cannot read the link /params") &&
              strstr(cxr_last_error(), "HDF5:") && !strstr(cxr_last_error(), "missing"));
        cxr_model_config ec;
        small_config(&ec, 16, 6);
        cxr_model *e;
        CHECK_OK(cxr_model_create(&e, &ec, be));
        CHECK(cxr_checkpoint_load(bad, e, NULL) == CXR_E_FORMAT); /* --resume's reader */
        CHECK(strstr(cxr_last_error(), "damaged: cannot read the link /params") != NULL);
        cxr_model_destroy(e);
    }

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

    /* copy, then set format_version = 4 (one past the newest) */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
    REQUIRE(system(cmd) == 0);
    h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t at = H5Aopen(h, "format_version", H5P_DEFAULT);
    int32_t four = 4;
    H5Awrite(at, H5T_NATIVE_INT32, &four);
    H5Aclose(at);
    H5Fclose(h);
    CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_VERSION);
    CHECK(strstr(cxr_last_error(), "version 4, this program reads versions 1 to 3") != NULL);
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
    /* an intact string attribute past the reader's bound is refused by name and size (it was
     * "'store' or 'tool_version' is unreadable") */
    {
        REQUIRE(system(cmd) == 0);
        const size_t n = 2u << 20;
        char *big = malloc(n);
        REQUIRE(big != NULL);
        memset(big, '/', n - 1);
        big[n - 1] = '\0';
        hid_t t = H5Tcopy(H5T_C_S1), sp1 = H5Screate(H5S_SCALAR);
        REQUIRE(H5Tset_size(t, n) >= 0);
        replace_attr(bad, "store", t, sp1, big);
        H5Sclose(sp1);
        H5Tclose(t);
        free(big);
        CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "attribute 'store' holds 2097152 bytes") != NULL);
    }

    /* version 2 checksums every tensor */
    {
        hid_t hf = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t dd = H5Dopen2(hf, "params/dense1.w", H5P_DEFAULT), pl = H5Dget_create_plist(dd);
        CHECK(H5Pget_layout(pl) == H5D_CHUNKED && H5Pget_nfilters(pl) == 1);
        unsigned fl = 0, cfg2 = 0;
        size_t ncd = 0;
        CHECK(H5Pget_filter2(pl, 0, &fl, &ncd, NULL, 0, NULL, &cfg2) == H5Z_FILTER_FLETCHER32);
        H5Pclose(pl);
        H5Dclose(dd);
        H5Fclose(hf);
    }
    /* values that pass the checksums but make no sense: a NaN or infinite parameter, a negative
     * second moment, attributes out of range; each names the file and what */
    {
        struct {
            const char *ds;
            float v;
            const char *want;
        } cases[] = {
            { "params/out.w", NAN, "/params/out.w holds a non-finite value nan at element 5" },
            { "adam_m/conv1.b", INFINITY, "/adam_m/conv1.b holds a non-finite value inf" },
            { "adam_v/dense2.w", -1.0f, "/adam_v/dense2.w holds a negative second moment -1" },
        };
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
            REQUIRE(system(cmd) == 0);
            poke_float(bad, cases[k].ds, 5, cases[k].v);
            cxr_model *e;
            CHECK_OK(cxr_model_create(&e, &cfg, be));
            CHECK(cxr_checkpoint_load(bad, e, NULL) == CXR_E_FORMAT);
            fprintf(stderr, "expected error: %s\n", cxr_last_error());
            CHECK(strstr(cxr_last_error(), bad) && strstr(cxr_last_error(), cases[k].want));
            CHECK(cxr_model_get_step(e) == 0); /* untouched */
            cxr_model_destroy(e);
        }
        /* each attribute out of its range, one at a time (each is checked by its own line) */
        const char *attrs[] = {
            "lr",           "beta2",    "threshold",     "beta1",      "eps",
            "weight_decay", "lr_gamma", "warmup_steps",  "best_epoch", "average_from",
            "max_steps",    "batch",    "shuffle_window", "beta1",     "shuffle_window"
        };
        /* the last two at their bounds: beta1 1 (Adam divides by 1 - beta1^t), a window one
         * below CXR_LOADER_WINDOW_SPLIT */
        const double vals[] = { NAN,  1.0,  2.0,  1.5,  0.0,      -1.0,    2.0, -5.0,
                                99.0, -1.0, -1.0, 100000.0, -1000.0, 1.0, -2.0 };
        enum { N_ATTRS = sizeof attrs / sizeof *attrs };
        _Static_assert(N_ATTRS == sizeof vals / sizeof *vals, "one value per attribute");
        /* on a file with the run's definition (the attributes from warmup_steps on) */
        cxr_checkpoint_meta rm = meta;
        rm.has_run = 1;
        snprintf(rm.recipe, sizeof rm.recipe, "standard");
        snprintf(rm.schedule, sizeof rm.schedule, "cosine");
        snprintf(rm.select, sizeof rm.select, "val_auc");
        rm.lr_gamma = 0.1;
        CHECK_OK(cxr_checkpoint_save(bad, a, &rm));
        CHECK_OK(cxr_checkpoint_read_meta(bad, &got));
        cxr_checkpoint_meta_free(&got);
        char run_path[160];
        snprintf(run_path, sizeof run_path, "%s.run.h5", path);
        REQUIRE(rename(bad, run_path) == 0);
        for (int k = 0; k < N_ATTRS; k++) {
            snprintf(cmd, sizeof cmd, "cp %s %s", run_path, bad);
            REQUIRE(system(cmd) == 0);
            set_f64_attr(bad, attrs[k], vals[k]);
            CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
            char want[64];
            snprintf(want, sizeof want, "checkpoint attribute '%s'", attrs[k]);
            CHECK(strstr(cxr_last_error(), want) != NULL);
        }
        /* an epoch past the run's epochs (26), with steps enough for it: no run writes one */
        snprintf(cmd, sizeof cmd, "cp %s %s", run_path, bad);
        REQUIRE(system(cmd) == 0);
        set_f64_attr(bad, "step", 1000);
        set_f64_attr(bad, "epoch", 27);
        CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "'epoch': 27, past its run's 26 epochs") != NULL);
        /* an int64 attribute below INT32_MIN for an int field: refused, not cut to 32 bits
         * (-4294967295 is 1 in the low 32) */
        snprintf(cmd, sizeof cmd, "cp %s %s", run_path, bad);
        REQUIRE(system(cmd) == 0);
        {
            const int64_t low = -4294967295LL;
            hid_t sp = H5Screate(H5S_SCALAR);
            replace_attr(bad, "epoch", H5T_STD_I64LE, sp, &low);
            H5Sclose(sp);
        }
        CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "'epoch'") != NULL);
        snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
        REQUIRE(system(cmd) == 0);
        set_f64_attr(bad, "crop_ratio", NAN);
        CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "crop_ratio must be finite") != NULL);
        snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
        REQUIRE(system(cmd) == 0);
        set_f64_attr(bad, "crop_ratio", -1);
        CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "crop_ratio -1 must be 0 (never crop) or positive") != NULL);
        const double clips[] = { 0, -1, 300, NAN };
        for (int k = 0; k < 4; k++) {
            snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
            REQUIRE(system(cmd) == 0);
            set_f64_attr(bad, "clahe_clip", clips[k]);
            CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
            CHECK(strstr(cxr_last_error(), "clahe_clip") != NULL &&
                  strstr(cxr_last_error(), "out of range (0, 256]") != NULL);
        }
    }
    /* version 1 (no checksums, variable-length strings) still loads, to the same values */
    {
        write_v1(path, bad, a, "PNEUMONIA\xff");
        cxr_model *e;
        CHECK_OK(cxr_model_create(&e, &cfg, be));
        CHECK_OK(cxr_checkpoint_load(bad, e, &got));
        /* a name that is not UTF-8 escaped as a version 2 file stores it, not refused */
        CHECK(got.checksummed == 0 && strcmp(got.class_names[1], "PNEUMONIA\\xFF") == 0);
        CHECK(strcmp(got.store, "some/store.h5") == 0 && got.pp.normalize == CXR_NORM_ZSCORE255);
        CHECK(blocks_equal(a, e, CXR_BLOCK_PARAMS) && blocks_equal(a, e, CXR_BLOCK_ADAM_V));
        cxr_checkpoint_meta_free(&got);
        /* ... but not one whose contiguous tensor was made and never written (no checksum to
         * see it: HDF5 reads the fill value, zeros) */
        {
            char cut[600], cp[1300];
            snprintf(cut, sizeof cut, "%s.unwritten", bad);
            snprintf(cp, sizeof cp, "cp %s %s", bad, cut);
            REQUIRE(system(cp) == 0);
            hid_t f = H5Fopen(cut, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "params/conv1.w", 0);
            REQUIRE(d >= 0);
            hid_t sp = H5Dget_space(d);
            REQUIRE(H5Dclose(d) >= 0 && H5Ldelete(f, "params/conv1.w", H5P_DEFAULT) >= 0);
            d = H5Dcreate2(f, "params/conv1.w", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                           H5P_DEFAULT);
            REQUIRE(d >= 0);
            H5Dclose(d);
            H5Sclose(sp);
            H5Fclose(f);
            CHECK(cxr_checkpoint_load(cut, e, NULL) == CXR_E_FORMAT);
            CHECK(strstr(cxr_last_error(), "/params/conv1.w holds chunks never written") != NULL);
            unlink(cut);
        }
        /* a version 1 string attribute that is an array of 64 strings: refused, not read over
         * the one pointer it fits in (cxr-predict, -eval and -export crashed on such a file) */
        const char *many[64];
        for (int k = 0; k < 64; k++) many[k] = "cxr-checkpoint";
        hsize_t n64 = 64;
        hid_t vt = H5Tcopy(H5T_C_S1), sp = H5Screate_simple(1, &n64, NULL);
        H5Tset_size(vt, H5T_VARIABLE);
        replace_attr(bad, "format", vt, sp, many);
        H5Sclose(sp);
        H5Tclose(vt);
        CHECK(cxr_checkpoint_load(bad, e, NULL) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "format") != NULL);
        cxr_model_destroy(e);
    }

    /* saving over an existing checkpoint leaves no temp file behind */
    meta.epoch = 4;
    CHECK_OK(cxr_checkpoint_save(path, a, &meta));
    CHECK_OK(cxr_checkpoint_read_meta(path, &got));
    CHECK(got.epoch == 4);
    cxr_checkpoint_meta_free(&got);
    /* more epochs than steps (4) is no run's file: refused as the file's fault, naming 'step'
     * (a resume blamed the options, exit 2; eval and predict took it) */
    meta.epoch = 5;
    CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
    CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "'step': 4, fewer than its 5 epoch(s)") != NULL);
    meta.epoch = 4;
    CHECK(!own_temporaries_left());
    CHECK(got.model.head == CXR_HEAD_FLATTEN && got.model.input_pool == 1);

    /* the head: gap travels through save and open_model; a file without the attribute (before
     * 0.9) has the study's flatten head; an unknown head is refused, naming the attribute */
    {
        cxr_model_config gc = cfg;
        gc.head = CXR_HEAD_GAP;
        cxr_model *g, *g2;
        CHECK_OK(cxr_model_create(&g, &gc, be));
        cxr_checkpoint_meta gm;
        fill_meta(&gm, &gc);
        gm.epoch = 0; /* a model that took no step has trained no epoch */
        CHECK_OK(cxr_checkpoint_save(bad, g, &gm));
        CHECK_OK(cxr_checkpoint_open_model(bad, be, 1, 2, &g2, &got));
        CHECK(got.model.head == CXR_HEAD_GAP && blocks_equal(g, g2, CXR_BLOCK_PARAMS));
        CHECK(cxr_model_tensor(g2, CXR_TENSOR_DENSE1_W)->shape[1] == gc.channels[3]);
        cxr_checkpoint_meta_free(&got);
        cxr_model_destroy(g2);
        /* the input pool travels the same way */
        cxr_model_config pc = cfg;
        pc.input_pool = 2;
        cxr_model *p2;
        CHECK_OK(cxr_model_create(&p2, &pc, be));
        CHECK_OK(cxr_checkpoint_save(bad, p2, &gm));
        CHECK_OK(cxr_checkpoint_open_model(bad, be, 1, 2, &g2, &got));
        CHECK(got.model.input_pool == 2 && cxr_model_get_config(g2)->input_pool == 2 &&
              blocks_equal(p2, g2, CXR_BLOCK_PARAMS));
        cxr_checkpoint_meta_free(&got);
        cxr_model_destroy(p2);
        check_input_scale(bad, be, &cfg, &gm);
        /* a gap file at input pool 2 into a gap model at pool 1: the tensors have the same
         * shapes, so only the comparison of the variant refuses it */
        cxr_model_config gp = gc;
        gp.input_pool = 2;
        CHECK_OK(cxr_model_create(&p2, &gp, be));
        CHECK_OK(cxr_checkpoint_save(bad, p2, &gm));
        cxr_model_destroy(p2);
        CHECK(cxr_checkpoint_load(bad, g, NULL) == CXR_E_MISMATCH);
        CHECK(strstr(cxr_last_error(), "head gap with input pool 2, the model has head gap with "
                                       "input pool 1") != NULL);
        CHECK_OK(cxr_checkpoint_save(bad, g, &gm)); /* the gap file again, for what follows */
        /* ... nor at another image size, for the same reason: refused by the sizes */
        cxr_model_config gs = gc;
        gs.image_size = gc.image_size + 8;
        CHECK_OK(cxr_model_create(&p2, &gs, be));
        CHECK(cxr_checkpoint_load(bad, p2, NULL) == CXR_E_MISMATCH);
        CHECK(strstr(cxr_last_error(), "2 classes on 16x16 images, model expects 2 classes on "
                                       "24x24") != NULL);
        CHECK(cxr_model_get_step(p2) == 0);
        cxr_model_destroy(p2);
        cxr_model_destroy(g2);
        cxr_model_destroy(g);
        hid_t h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(h >= 0 && H5Adelete(h, "head") >= 0);
        H5Fclose(h);
        CHECK_OK(cxr_checkpoint_read_meta(bad, &got));
        CHECK(got.model.head == CXR_HEAD_FLATTEN);
        cxr_checkpoint_meta_free(&got);
        /* a gap file read as flatten no longer fits its dense1: refused by shape, named */
        cxr_model *f;
        CHECK(cxr_checkpoint_open_model(bad, be, 1, 2, &f, &got) != CXR_OK);
        CHECK(strstr(cxr_last_error(), "dense1") != NULL);
        h = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t st = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
        H5Tset_size(st, 5);
        hid_t at = H5Acreate2(h, "head", st, sp, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(h >= 0 && at >= 0 && H5Awrite(at, st, "pool") >= 0);
        H5Aclose(at);
        H5Sclose(sp);
        H5Tclose(st);
        H5Fclose(h);
        CHECK(cxr_checkpoint_read_meta(bad, &got) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "'head'") && strstr(cxr_last_error(), "pool"));
    }
    /* a model holding a value the loader refuses (training that diverged without a non-finite
     * loss) is never written: the error names the tensor, the earlier file stays as it was */
    {
        snprintf(cmd, sizeof cmd, "cp %s %s", path, bad);
        REQUIRE(system(cmd) == 0);
        const size_t np = cxr_model_n_params(a);
        float *h = malloc(np * sizeof *h), *keep = malloc(np * sizeof *keep);
        REQUIRE(h && keep);
        const struct {
            cxr_block block;
            float v;
            const char *want;
        } cases[] = {
            { CXR_BLOCK_PARAMS, NAN,
              "/params/out.w would hold a non-finite value nan at element 3" },
            { CXR_BLOCK_ADAM_M, INFINITY, "/adam_m/out.w would hold a non-finite value inf" },
            { CXR_BLOCK_ADAM_V, -1.0f, "/adam_v/out.w would hold a negative second moment -1" },
        };
        const size_t at = cxr_model_tensor(a, CXR_TENSOR_OUT_W)->offset + 3;
        for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
            CHECK_OK(cxr_model_get_block(a, cases[k].block, keep));
            memcpy(h, keep, np * sizeof *h);
            h[at] = cases[k].v;
            CHECK_OK(cxr_model_set_block(a, cases[k].block, h));
            CHECK(cxr_checkpoint_save(path, a, &meta) == CXR_E_INTERNAL);
            fprintf(stderr, "expected error: %s\n", cxr_last_error());
            CHECK(strstr(cxr_last_error(), path) && strstr(cxr_last_error(), cases[k].want) &&
                  strstr(cxr_last_error(), "the earlier file is kept"));
            if (cases[k].block == CXR_BLOCK_PARAMS) /* cxr-export --weights: the same rule */
                CHECK(cxr_checkpoint_save_weights(path, a, &meta, 0) == CXR_E_INTERNAL);
            snprintf(cmd, sizeof cmd, "cmp -s %s %s", path, bad);
            CHECK(system(cmd) == 0);
            CHECK_OK(cxr_model_set_block(a, cases[k].block, keep));
        }
        /* where no file was, the message says so (it said "the earlier file is kept") */
        char fresh[1200];
        snprintf(fresh, sizeof fresh, "%s.fresh.h5", path);
        CHECK_OK(cxr_model_get_block(a, CXR_BLOCK_PARAMS, keep));
        memcpy(h, keep, np * sizeof *h);
        h[at] = NAN;
        CHECK_OK(cxr_model_set_block(a, CXR_BLOCK_PARAMS, h));
        CHECK(cxr_checkpoint_save(fresh, a, &meta) == CXR_E_INTERNAL);
        CHECK(strstr(cxr_last_error(), "try a smaller --lr); not written, and none was before") &&
              access(fresh, F_OK) != 0);
        CHECK_OK(cxr_model_set_block(a, CXR_BLOCK_PARAMS, keep));
        /* a finite parameter beyond bfloat16's range: float32 weights are written, bf16 ones
         * refused (they would round to infinity, which the loader refuses) */
        CHECK_OK(cxr_model_get_block(a, CXR_BLOCK_PARAMS, keep));
        memcpy(h, keep, np * sizeof *h);
        h[at] = 3.4e38f;
        CHECK_OK(cxr_model_set_block(a, CXR_BLOCK_PARAMS, h));
        CHECK_OK(cxr_checkpoint_save_weights(bad, a, &meta, 0));
        CHECK(cxr_checkpoint_save_weights(bad, a, &meta, 1) == CXR_E_ARG);
        CHECK(strstr(cxr_last_error(), "/params/out.w holds 3.4e+38 at element 3, beyond "
                                       "bfloat16's range") != NULL);
        h[at] = 3.38e38f; /* rounds to bfloat16's largest, 3.3895e38: written and read back */
        CHECK_OK(cxr_model_set_block(a, CXR_BLOCK_PARAMS, h));
        CHECK_OK(cxr_checkpoint_save_weights(bad, a, &meta, 1));
        cxr_model *w16;
        CHECK_OK(cxr_checkpoint_open_model(bad, be, 1, 2, &w16, &got));
        cxr_checkpoint_meta_free(&got);
        cxr_model_destroy(w16);
        /* rounding to nearest, ties to even: 1 + 2^-8 (halfway between 1 and 1 + 2^-7) to 1,
         * 1 + 3 * 2^-8 to 1 + 2^-6; read back so by us, and by HDF5's conversion (h5py's) */
        h[at] = 1.00390625f;
        h[at + 1] = 1.01171875f;
        CHECK_OK(cxr_model_set_block(a, CXR_BLOCK_PARAMS, h));
        CHECK_OK(cxr_checkpoint_save_weights(bad, a, &meta, 1));
        CHECK_OK(cxr_checkpoint_open_model(bad, be, 1, 2, &w16, &got));
        cxr_checkpoint_meta_free(&got);
        float *r16 = malloc(np * sizeof *r16);
        REQUIRE(r16);
        CHECK_OK(cxr_model_get_block(w16, CXR_BLOCK_PARAMS, r16));
        CHECK(r16[at] == 1.0f && r16[at + 1] == 1.015625f);
        cxr_model_destroy(w16);
        hid_t f16 = H5Fopen(bad, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t d16 = f16 >= 0 ? H5Dopen2(f16, "params/out.w", H5P_DEFAULT) : -1;
        REQUIRE(d16 >= 0);
        REQUIRE(cxr_model_tensor(a, CXR_TENSOR_OUT_W)->count >= 5);
        CHECK(H5Dread(d16, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, r16) >= 0 &&
              r16[3] == 1.0f && r16[4] == 1.015625f);
        H5Dclose(d16);
        H5Fclose(f16);
        free(r16);
        CHECK_OK(cxr_model_set_block(a, CXR_BLOCK_PARAMS, keep));
        CHECK(!own_temporaries_left());
        free(h);
        free(keep);
    }
    /* a tensor of another element type (or byte order) is refused by name, not converted by
     * HDF5 */
    for (int k = 0; k < 2; k++) {
        const hid_t types[2] = { H5T_STD_I32LE, H5T_IEEE_F32BE };
        const char *said[2] = { "/params/conv1.w holds int32 elements",
                                "/params/conv1.w holds float32 big-endian elements" };
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "params/conv1.w", 0);
        REQUIRE(d >= 0);
        hid_t sp = H5Dget_space(d);
        int32_t iv[4 * 1 * 3 * 3] = { 0 }; /* zeros in either type */
        REQUIRE(H5Dclose(d) >= 0 && H5Ldelete(f, "params/conv1.w", H5P_DEFAULT) >= 0);
        d = H5Dcreate2(f, "params/conv1.w", types[k], sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        REQUIRE(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv) >= 0);
        H5Dclose(d);
        H5Sclose(sp);
        H5Fclose(f);
        CHECK(open_refused(bad, be, said[k]));
        CHECK(cxr_checkpoint_load(bad, b, NULL) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), said[k]) != NULL);
    }
    /* ... and one of the right type and values rewritten without its checksum (h5py or
     * h5repack without fletcher32, an edited file): refused, its damage would go unseen (a
     * mutant reading it passed every test) */
    {
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "params/conv1.w", 0);
        REQUIRE(d >= 0);
        hid_t sp = H5Dget_space(d);
        float v[4 * 1 * 3 * 3];
        REQUIRE(H5Sget_simple_extent_npoints(sp) == 4 * 1 * 3 * 3 &&
                H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        REQUIRE(H5Dclose(d) >= 0 && H5Ldelete(f, "params/conv1.w", H5P_DEFAULT) >= 0);
        d = H5Dcreate2(f, "params/conv1.w", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
        REQUIRE(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        H5Dclose(d);
        H5Sclose(sp);
        H5Fclose(f);
        CHECK(cxr_checkpoint_load(bad, b, NULL) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "/params/conv1.w is stored without a checksum") != NULL);
    }
    /* ... or rewritten checksummed, a chunk per filter, and only the first filter written (a
     * writer that stopped; each chunk's checksum right): refused, HDF5 would read the rest as
     * zeros (they were read, and trained on) */
    {
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "params/conv1.w", 0);
        REQUIRE(d >= 0);
        hid_t sp = H5Dget_space(d), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t dims[4], chunk[4], one[4], at[4] = { 0 };
        float v[4 * 1 * 3 * 3];
        REQUIRE(H5Sget_simple_extent_dims(sp, dims, NULL) == 4 && dims[0] == 4 &&
                H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        memcpy(chunk, dims, sizeof chunk);
        chunk[0] = 1;
        memcpy(one, chunk, sizeof one);
        REQUIRE(H5Pset_chunk(dcpl, 4, chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0);
        REQUIRE(H5Dclose(d) >= 0 && H5Ldelete(f, "params/conv1.w", H5P_DEFAULT) >= 0);
        d = H5Dcreate2(f, "params/conv1.w", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        hid_t ms = H5Screate_simple(4, one, NULL);
        REQUIRE(d >= 0 && ms >= 0 &&
                H5Sselect_hyperslab(sp, H5S_SELECT_SET, at, NULL, one, NULL) >= 0 &&
                H5Dwrite(d, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, v) >= 0);
        H5Sclose(ms);
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(sp);
        H5Fclose(f);
        CHECK(cxr_checkpoint_load(bad, b, NULL) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "/params/conv1.w holds chunks never written") != NULL);
    }
    /* a class name that is not valid UTF-8 (the writers escape such bytes) is refused by name:
     * two of them would print as one key "p_X\ufffd" in cxr-predict's JSON */
    {
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        set_class_name(bad, 1, "X\xff");
        CHECK(open_refused(bad, be, "class 1's name 'X\\xff' is not valid UTF-8"));
    }
    /* two classes of one name (class 1 renamed as class 0): refused, naming both */
    {
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        set_class_name(bad, 1, "NORMAL");
        CHECK(open_refused(bad, be, "checkpoint classes 0 and 1 are both 'NORMAL'"));
    }
    /* class_names rewritten without its checksum, or checksummed with a third name: refused,
     * read by neither (mutants reading either passed every test) */
    for (int k = 0; k < 2; k++) {
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT), d = H5Dopen2(f, "class_names", 0);
        REQUIRE(d >= 0);
        hid_t ty = H5Dget_type(d);
        const size_t w = H5Tget_size(ty);
        char *buf = calloc(3, w);
        REQUIRE(buf && w >= 2 && H5Dread(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
        buf[2 * w] = 'X';
        hsize_t n = k ? 3 : 2;
        hid_t sp = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        REQUIRE(sp >= 0 && dcpl >= 0);
        if (k) REQUIRE(H5Pset_chunk(dcpl, 1, &n) >= 0 && H5Pset_fletcher32(dcpl) >= 0);
        REQUIRE(H5Dclose(d) >= 0 && H5Ldelete(f, "class_names", H5P_DEFAULT) >= 0);
        d = H5Dcreate2(f, "class_names", ty, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        REQUIRE(d >= 0 && H5Dwrite(d, ty, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
        H5Dclose(d);
        H5Pclose(dcpl);
        H5Sclose(sp);
        H5Tclose(ty);
        H5Fclose(f);
        free(buf);
        CHECK(open_refused(bad, be,
                           k ? "'class_names' does not hold 2 strings"
                             : "'class_names' is stored without a checksum"));
    }
    /* a checkpoint without one of its Adam tensors is incomplete, each block's alike */
    for (int k = 0; k < 2; k++) {
        const char *gone = k ? "adam_v/conv1.w" : "adam_m/dense2.b";
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(f >= 0 && H5Ldelete(f, gone, H5P_DEFAULT) >= 0);
        H5Fclose(f);
        char want[64];
        snprintf(want, sizeof want, "missing dataset /%s", gone);
        CHECK(open_refused(bad, be, want));
    }
    /* a weights file of a mean (its /params are the mean: average_count > 0) with an /average
     * group too: damaged or edited, refused */
    {
        cxr_checkpoint_meta wm = meta; /* a run's: average_from is of its definition */
        wm.has_run = 1;
        snprintf(wm.recipe, sizeof wm.recipe, "standard");
        snprintf(wm.schedule, sizeof wm.schedule, "cosine");
        snprintf(wm.select, sizeof wm.select, "val_auc");
        wm.lr_gamma = 0.1;
        wm.average_from = 2;
        wm.average_count = wm.epoch - wm.average_from + 1;
        CHECK_OK(cxr_checkpoint_save_weights(bad, a, &wm, 0));
        CHECK_OK(cxr_checkpoint_read_meta(bad, &got));
        CHECK(got.weights_only && got.average_count == wm.average_count);
        cxr_checkpoint_meta_free(&got);
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t g = f >= 0 ? H5Gcreate2(f, "average", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        REQUIRE(g >= 0);
        H5Gclose(g);
        H5Fclose(f);
        CHECK(open_refused(bad, be, "has /average but is a weights file"));
    }
    /* a checkpoint that averages no epoch (average_count 0) with an /average group: refused by
     * the inference reader and by --resume's alike */
    {
        cxr_checkpoint_meta am = meta;
        am.average_from = am.average_count = 0;
        CHECK_OK(cxr_checkpoint_save(bad, a, &am));
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
        hid_t g = f >= 0 ? H5Gcreate2(f, "average", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) : -1;
        REQUIRE(g >= 0);
        H5Gclose(g);
        H5Fclose(f);
        CHECK(open_refused(bad, be, "has /average but averages no epoch"));
        cxr_model *e;
        CHECK_OK(cxr_model_create(&e, cxr_model_get_config(a), be));
        CHECK(cxr_checkpoint_load(bad, e, NULL) == CXR_E_FORMAT);
        CHECK(strstr(cxr_last_error(), "has /average but averages no epoch") != NULL);
        CHECK(cxr_model_get_step(e) == 0); /* untouched */
        cxr_model_destroy(e);
    }
    /* an architecture attribute edited to a large layer is refused from the tensors' shapes
     * before a model of that size is made: in a child limited to 1 GiB of address space, dense
     * 65536x65536 (a 17 GB parameter block) is the shape error, not an allocation failure */
    {
        CHECK_OK(cxr_checkpoint_save(bad, a, &meta));
        hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT), at = H5Aopen(f, "dense", H5P_DEFAULT);
        const int32_t big[2] = { 65536, 65536 };
        REQUIRE(at >= 0 && H5Awrite(at, H5T_NATIVE_INT32, big) >= 0);
        H5Aclose(at);
        H5Fclose(f);
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            struct rlimit lim = { 1ull << 30, 1ull << 30 };
            cxr_model *w = NULL;
            cxr_checkpoint_meta g;
            if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(2);
            cxr_status st = cxr_checkpoint_open_model(bad, be, 1, 1, &w, &g);
            fprintf(stderr, "dense 65536x65536: %s\n", cxr_last_error());
            _exit(st == CXR_E_MISMATCH && !w &&
                          strstr(cxr_last_error(), "layer dense1.w has shape 16x32, model expects "
                                                   "65536x32")
                      ? 0
                      : 1);
        }
        int ws = 0;
        REQUIRE(waitpid(pid, &ws, 0) == pid);
        CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    /* the store's path as long as a path may be (PATH_MAX - 1 bytes: realpath's longest) is
     * kept whole (it was cut at 1023 bytes before 0.15) */
    {
        cxr_checkpoint_meta lm = meta;
        char *p = lm.store;
        for (int k = 0; k < 4095; k++) p[k] = k % 32 == 31 ? '/' : (char)('a' + k % 26);
        p[4095] = '\0';
        CHECK_OK(cxr_checkpoint_save(bad, a, &lm));
        CHECK_OK(cxr_checkpoint_read_meta(bad, &got));
        CHECK(strlen(got.store) == 4095 && strcmp(got.store, lm.store) == 0);
        cxr_checkpoint_meta_free(&got);
    }
    /* an unwritable target fails cleanly */
    CHECK(cxr_checkpoint_save("no/such/dir/ck.h5", a, &meta) == CXR_E_IO);

    /* opening a model for evaluation on the backend a model trains on changes nothing for the
     * training model: its training passes compute as before (the dense layers' choice between
     * oneDNN and our kernels is made per pass, not for the backend; at 64 px dense1 reads 8192
     * values, where the two differ in the last bits) */
    {
        cxr_model_config bc;
        cxr_model_config_defaults(&bc, 2);
        bc.image_size = 64;
        bc.batch_capacity = 8;
        bc.seed = 5;
        cxr_model *t, *e;
        cxr_backend *be2; /* its own: no evaluation has run on it before */
        CHECK_OK(cxr_backend_cpu_create(&be2, 2));
        CHECK_OK(cxr_model_create(&t, &bc, be2));
        CHECK_OK(cxr_model_set_threads(t, 2));
        float *xb = malloc(8 * 64 * 64 * sizeof *xb), l1[16], l2[16];
        CHECK(xb != NULL);
        for (int i = 0; xb && i < 8 * 64 * 64; i++) xb[i] = sinf(0.013f * (float)i);
        CHECK_OK(cxr_model_forward(t, xb, 8, 1));
        CHECK_OK(cxr_model_logits(t, l1, 8));
        cxr_checkpoint_meta bm;
        fill_meta(&bm, &bc);
        bm.epoch = 0; /* a model that took no step has trained no epoch */
        CHECK_OK(cxr_checkpoint_save(bad, t, &bm));
        CHECK_OK(cxr_checkpoint_open_model(bad, be2, 8, 2, &e, &got));
        CHECK_OK(cxr_model_forward(e, xb, 8, 0));
        CHECK_OK(cxr_model_forward(t, xb, 8, 1));
        CHECK_OK(cxr_model_logits(t, l2, 8));
        CHECK(memcmp(l1, l2, sizeof l1) == 0);
        cxr_checkpoint_meta_free(&got);
        cxr_model_destroy(e);
        cxr_model_destroy(t);
        cxr_backend_destroy(be2);
        free(xb);
    }

    cxr_model_destroy(a);
    cxr_model_destroy(b);
    cxr_backend_destroy(be);
    unlink(path);
    unlink(bad);
    char run_path[160];
    snprintf(run_path, sizeof run_path, "%s.run.h5", path);
    unlink(run_path);
    TEST_END();
}
