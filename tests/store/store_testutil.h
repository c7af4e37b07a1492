/* store_testutil.h: synthetic stores for tests/store. Image values are small multiples of
 * 0.25 (exact in float32 and printed exactly by h5dump), so other tools (h5dump, h5py) can
 * recompute them: value(split k, image i, y, x) = ((k*131 + i*7 + y*3 + x) % 97) * 0.25 - 12.
 * Labels: (i * 5 + k) % n_label_classes; class n_label_classes..C-1 never occur. */
#ifndef STORE_TESTUTIL_H
#define STORE_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_store.h"

static float tu_value(int k, long i, int y, int x)
{
    return (float)(((k * 131 + i * 7 + y * 3 + x) % 97) * 0.25 - 12.0);
}

typedef struct {
    int shard, size, n_classes, n_label_classes;
    int64_t n[3];      /* images in train, val, test; < 0: split absent */
    int64_t nan_image; /* 1 + the train image whose pixel (0, 1) is NaN; 0: none */
    float bad_value;   /* that pixel's value instead of NaN, when not 0 */
} tu_spec;

static const char *const tu_splits[3] = { "train", "val", "test" };

static void tu_images(float *dst, int k, long first, int n, int size)
{
    for (int j = 0; j < n; j++)
        for (int y = 0; y < size; y++)
            for (int x = 0; x < size; x++)
                dst[((size_t)j * size + y) * size + x] = tu_value(k, first + j, y, x);
}

/* Write a store through the public API; returns the status of the first failing call. */
static cxr_status tu_write_store(const char *path, const tu_spec *sp, int finish)
{
    cxr_status st;
    cxr_store_options o;
    cxr_store_options_defaults(&o);
    o.shard = sp->shard;
    o.pp.size = sp->size;
    o.zstd_level = 3;
    o.source = "/synthetic/root";
    o.tool_version = "test_store 1";
    char names[16][16];
    const char *np[16];
    for (int c = 0; c < sp->n_classes; c++) {
        snprintf(names[c], sizeof names[c], "class%02d", c);
        np[c] = names[c];
    }
    cxr_store_writer *w = NULL;
    size_t per = (size_t)sp->size * sp->size;
    float *img = calloc((size_t)sp->shard * per, sizeof *img);
    uint8_t *raw = NULL;
    size_t cap = 0, rsz = 0;
    int32_t *lab = calloc((size_t)sp->shard, sizeof *lab);
    char(*pbuf)[32] = calloc((size_t)sp->shard, 32);
    const char **pp = calloc((size_t)sp->shard, sizeof *pp);
    if (!img || !lab || !pbuf || !pp) return CXR_E_NOMEM;
    if ((st = cxr_store_writer_create(&w, path, &o, sp->n_classes, np)) != CXR_OK) goto done;
    if ((st = cxr_store_writer_set_attr(w, "command_line", "test_store --synthetic")) != CXR_OK)
        goto done;
    for (int k = 0; k < 3; k++) {
        if (sp->n[k] < 0) continue;
        if ((st = cxr_store_writer_begin_split(w, tu_splits[k], sp->n[k] + 3)) != CXR_OK) goto done;
        for (long first = 0; first < sp->n[k]; first += sp->shard) {
            int n = (int)(sp->n[k] - first < sp->shard ? sp->n[k] - first : sp->shard);
            tu_images(img, k, first, n, sp->size);
            if (k == 0 && sp->nan_image > first && sp->nan_image <= first + n)
                img[(size_t)(sp->nan_image - 1 - first) * per + 1] =
                    sp->bad_value != 0 ? sp->bad_value : NAN;
            for (int j = 0; j < n; j++) {
                lab[j] = (int32_t)(((first + j) * 5 + k) % sp->n_label_classes);
                snprintf(pbuf[j], 32, "%s/c%d/img%05ld.jpeg", tu_splits[k], lab[j], first + j);
                pp[j] = pbuf[j];
            }
            if ((st = cxr_chunk_encode(&raw, &cap, &rsz, img, n, sp->shard, sp->size, 3)) != CXR_OK)
                goto done;
            if ((st = cxr_store_writer_put_chunk(w, raw, rsz, n, lab, pp)) != CXR_OK) goto done;
        }
        if ((st = cxr_store_writer_end_split(w)) != CXR_OK) goto done;
    }
    if ((st = cxr_store_writer_add_skipped(w, "train", "train/c0/broken.jpeg", "not a JPEG")) !=
        CXR_OK)
        goto done;
    if (finish) st = cxr_store_writer_finish(w);
done:
    cxr_store_writer_destroy(w);
    free(img);
    free(raw);
    free(lab);
    free(pbuf);
    free(pp);
    return st;
}

#endif
