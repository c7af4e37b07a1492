/* fuzz_make_seeds.c: writes the generated seed inputs of the fuzz targets (tests/fuzz/
 * README.md) into OUT/{jpeg,store,checkpoint}/: small JPEGs of every colorspace and
 * subsampling TurboJPEG writes (baseline and progressive, odd sizes, one large enough for a
 * reduced DCT scale), two tiny stores (tests/store/store_testutil.h) and a checkpoint of a
 * tiny model. Built by the regular compiler, run as the fuzz tests' setup fixture.
 * Usage: fuzz_make_seeds OUT */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "../store/store_testutil.h"
#include "cxr_checkpoint.h"

static void die(const char *what, const char *why)
{
    fprintf(stderr, "fuzz_make_seeds: %s: %s\n", what, why);
    exit(1);
}

static void put_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) die(path, strerror(errno));
}

static void subdir(char *buf, size_t cap, const char *out, const char *name)
{
    snprintf(buf, cap, "%s/%s", out, name);
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) die(buf, strerror(errno));
}

typedef struct {
    const char *name;
    int w, h, pf, samp, flags;
} jpeg_spec;

static void make_jpegs(const char *out)
{
    static const jpeg_spec specs[] = {
        { "gray_16x16.jpg", 16, 16, TJPF_GRAY, TJSAMP_GRAY, 0 },
        { "rgb420_40x24.jpg", 40, 24, TJPF_RGB, TJSAMP_420, 0 },
        { "rgb444_prog_24x40.jpg", 24, 40, TJPF_RGB, TJSAMP_444, TJFLAG_PROGRESSIVE },
        { "rgb422_9x7.jpg", 9, 7, TJPF_RGB, TJSAMP_422, 0 },
        { "rgb440_13x31.jpg", 13, 31, TJPF_RGB, TJSAMP_440, 0 },
        { "cmyk_32x32.jpg", 32, 32, TJPF_CMYK, TJSAMP_444, 0 },
        { "gray_prog_520x530.jpg", 520, 530, TJPF_GRAY, TJSAMP_GRAY, TJFLAG_PROGRESSIVE },
    };
    char dir[4096], path[4200];
    subdir(dir, sizeof dir, out, "jpeg");
    for (size_t k = 0; k < sizeof specs / sizeof *specs; k++) {
        const jpeg_spec *s = &specs[k];
        int ps = tjPixelSize[s->pf];
        unsigned char *px = malloc((size_t)s->w * s->h * ps);
        if (!px) die("jpeg", "out of memory");
        for (int y = 0; y < s->h; y++)
            for (int x = 0; x < s->w; x++)
                for (int c = 0; c < ps; c++)
                    px[((size_t)y * s->w + x) * ps + c] =
                        (unsigned char)(128 + 100 * sin(0.07 * x * (c + 1) + 0.05 * y));
        tjhandle tj = tjInitCompress();
        unsigned char *jpeg = NULL;
        unsigned long len = 0;
        if (!tj ||
            tjCompress2(tj, px, s->w, 0, s->h, s->pf, &jpeg, &len, s->samp, 60, s->flags) != 0)
            die(s->name, tj ? tjGetErrorStr2(tj) : "tjInitCompress failed");
        snprintf(path, sizeof path, "%s/%s", dir, s->name);
        put_file(path, jpeg, len);
        tjFree(jpeg);
        tjDestroy(tj);
        free(px);
    }
}

static void make_stores(const char *out)
{
    char dir[4096], path[4200];
    subdir(dir, sizeof dir, out, "store");
    static const tu_spec specs[2] = {
        { .shard = 4, .size = 6, .n_classes = 3, .n_label_classes = 3, .n = { 10, 4, -1 } },
        { .shard = 2, .size = 8, .n_classes = 2, .n_label_classes = 2, .n = { 3, -1, 2 } },
    };
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/store%d.h5", dir, k);
        if (tu_write_store(path, &specs[k], 1) != CXR_OK) die(path, cxr_last_error());
    }
}

static void make_checkpoint(const char *out)
{
    char dir[4096], path[4200];
    subdir(dir, sizeof dir, out, "checkpoint");
    snprintf(path, sizeof path, "%s/tiny.h5", dir);
    cxr_backend *be = NULL;
    cxr_model *m = NULL;
    cxr_model_config c;
    cxr_model_config_defaults(&c, 2);
    c.image_size = 8;
    c.channels[0] = c.channels[1] = c.channels[2] = c.channels[3] = 2;
    c.dense[0] = c.dense[1] = 4;
    c.batch_capacity = 1;
    static char n0[] = "NORMAL", n1[] = "PNEUMONIA";
    static char *names[2] = { n0, n1 };
    cxr_checkpoint_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.model = c;
    cxr_adam_defaults(&meta.adam);
    meta.epochs = meta.batch = meta.threads = 1;
    meta.threshold = 0.5;
    cxr_preprocess_defaults(&meta.pp);
    meta.pp.size = c.image_size;
    meta.n_classes = 2;
    meta.class_names = names;
    snprintf(meta.store, sizeof meta.store, "seed.h5");
    snprintf(meta.tool_version, sizeof meta.tool_version, "fuzz_make_seeds");
    if (cxr_backend_cpu_create(&be, 1) != CXR_OK || cxr_model_create(&m, &c, be) != CXR_OK ||
        cxr_checkpoint_save(path, m, &meta) != CXR_OK)
        die(path, cxr_last_error());
    /* a run's checkpoint with a weight average (/average, average_from, average_count) */
    snprintf(path, sizeof path, "%s/averaged.h5", dir);
    meta.has_run = 1;
    meta.epoch = 1;
    cxr_model_set_step(m, 1); /* an epoch takes a step at least: else the file is refused */
    snprintf(meta.recipe, sizeof meta.recipe, "standard");
    snprintf(meta.schedule, sizeof meta.schedule, "constant");
    snprintf(meta.select, sizeof meta.select, "none");
    meta.lr_gamma = 0.1;
    meta.average_from = meta.average_count = 1;
    snprintf(meta.precision, sizeof meta.precision, "fp32");
    /* what identifies its store's images (store_content, store_pixels), so the fuzzer starts
     * from both attributes' texts */
    meta.has_store_content = 1;
    meta.store_content = (cxr_store_content){ .n = { 48, -1, 16 },
                                              .set = { 0x0123456789abcdefull, 0, 7 },
                                              .order = { 1, 0, 0xfedcba9876543210ull },
                                              .pixels = { 0x8000000000000001ull, 0, 0 },
                                              .has_pixels = { 1, 0, 1 } };
    float *avg = malloc(cxr_model_n_params(m) * sizeof *avg);
    if (!avg || cxr_model_get_block(m, CXR_BLOCK_PARAMS, avg) != CXR_OK ||
        cxr_checkpoint_save_averaged(path, m, &meta, avg) != CXR_OK)
        die(path, avg ? cxr_last_error() : "out of memory");
    free(avg);
    cxr_model_destroy(m);
    /* a model of a [0, 255] store: format version 3, input_scale and input_shift */
    snprintf(path, sizeof path, "%s/scaled.h5", dir);
    if (cxr_model_config_input_range(&c, 0, 255) != CXR_OK) die(path, cxr_last_error());
    meta.model = c;
    meta.pp.normalize = CXR_NORM_ZSCORE255;
    meta.average_from = meta.average_count = 0;
    meta.epoch = 0; /* a new model: no step taken */
    if (cxr_model_create(&m, &c, be) != CXR_OK || cxr_checkpoint_save(path, m, &meta) != CXR_OK)
        die(path, cxr_last_error());
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_seeds OUT\n");
        return 2;
    }
    if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) die(argv[1], strerror(errno));
    make_jpegs(argv[1]);
    make_stores(argv[1]);
    make_checkpoint(argv[1]);
    return 0;
}
