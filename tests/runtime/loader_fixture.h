/* loader_fixture.h: a small synthetic store for the loader and trainer tests, written with the
 * store writer API (random images, labels alternating over the classes). */
#ifndef LOADER_FIXTURE_H
#define LOADER_FIXTURE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_store.h"

/* The fixture's store options: the defaults with this image size and shard. */
static void fixture_options(cxr_store_options *o, int size, int shard)
{
    cxr_store_options_defaults(o);
    o->shard = shard;
    o->pp.size = size;
    o->source = "synthetic";
    o->tool_version = "test";
}

/* When not 0: every 4th pixel of each image is this value in even-numbered images and 0 in odd
 * ones (a denormal here gives pairs of images whose differences are denormal). */
static float fixture_tiny;

/* Write a store at path with the given splits (n_val or n_test may be 0 to omit them). */
static cxr_status fixture_store(const char *path, int size, int shard, int n_train, int n_val,
                                int n_test, unsigned seed)
{
    cxr_status st = CXR_OK;
    cxr_store_writer *w = NULL;
    cxr_store_options o;
    fixture_options(&o, size, shard);
    const char *names[2] = { "NORMAL", "PNEUMONIA" };
    float *img = malloc((size_t)shard * size * size * sizeof(float));
    uint8_t *raw = NULL;
    size_t cap = 0, raw_size = 0;
    int32_t labels[4096];
    char pbuf[4096][24];
    const char *paths[4096];
    const char *split_names[3] = { "train", "val", "test" };
    int counts[3] = { n_train, n_val, n_test };
    uint64_t x = seed * 2654435761u + 1;
    if (!img) return CXR_E_NOMEM;
    CXR_TRY(cxr_store_writer_create(&w, path, &o, 2, names));
    for (int s = 0; s < 3; s++) {
        if (counts[s] == 0) continue;
        CXR_TRY(cxr_store_writer_begin_split(w, split_names[s], counts[s]));
        for (int first = 0; first < counts[s]; first += shard) {
            int n = counts[s] - first < shard ? counts[s] - first : shard;
            for (size_t e = 0; e < (size_t)n * size * size; e++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                img[e] = (float)((x >> 40) & 0xFFFF) / 32768.0f - 1.0f;
                const size_t pix = e % ((size_t)size * size), im = e / ((size_t)size * size);
                if (fixture_tiny != 0 && pix % 4 == 0) img[e] = (first + im) % 2 ? 0 : fixture_tiny;
            }
            for (int i = 0; i < n; i++) {
                labels[i] = (first + i) % 3 == 0 ? 0 : 1;
                snprintf(pbuf[i], sizeof pbuf[i], "%s/%d.jpeg", split_names[s], first + i);
                paths[i] = pbuf[i];
            }
            CXR_TRY(cxr_chunk_encode(&raw, &cap, &raw_size, img, n, shard, size, 1));
            CXR_TRY(cxr_store_writer_put_chunk(w, raw, raw_size, n, labels, paths));
        }
        CXR_TRY(cxr_store_writer_end_split(w));
    }
    CXR_TRY(cxr_store_writer_finish(w));
bail:
    cxr_store_writer_destroy(w);
    free(img);
    free(raw);
    return st;
}

/* Copy a file, flipping one byte at `offset`. */
static int fixture_corrupt_copy(const char *src, const char *dst, long offset)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    if (!in || !out) return 0;
    int c;
    long at = 0;
    while ((c = fgetc(in)) != EOF) {
        if (at == offset) c ^= 0x5A;
        fputc(c, out);
        at++;
    }
    fclose(in);
    return fclose(out) == 0;
}
#endif
