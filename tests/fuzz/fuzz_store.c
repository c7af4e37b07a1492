/* fuzz_store.c: libFuzzer target for the store reader (formats/cxr_store.h) and the shard
 * loader (runtime/cxr_loader.h): the input, written to a temporary file, is opened as a store;
 * every class name and split is read, each image of a split through HDF5 (filters applied by HDF5)
 * and through the loader (mmap + raw chunk decode, no prefetch threads). Oracles beyond the
 * sanitizers: whatever both paths read is bit-identical, labels and paths exist for every image,
 * and errors are the documented ones. Harness limits (not findings): at most MAX_IMAGES images per
 * split are read, and none of a store whose chunk would exceed MAX_CHUNK_FLOATS (a real store's
 * chunk is 64 x 256 x 256). */
#include "cxr_loader.h"
#include "cxr_store.h"
#include "fuzz_common.h"

#define MAX_IMAGES       64
#define MAX_CHUNK_FLOATS ((size_t)1 << 22)

static int store_error(cxr_status st)
{
    return st == CXR_E_FORMAT || st == CXR_E_VERSION || st == CXR_E_IO || st == CXR_E_HDF5 ||
           st == CXR_E_MISMATCH || st == CXR_E_CHECKSUM || st == CXR_E_NOMEM;
}

static void read_split(cxr_store *s, const char *split)
{
    cxr_split_info in;
    FUZZ_CHECK(cxr_store_split(s, split, &in) == CXR_OK, "%s", cxr_last_error());
    FUZZ_CHECK(in.n >= 0 && in.shard > 0 && in.size > 0 &&
                   in.n_shards == (in.n + in.shard - 1) / in.shard,
               "split %s: n %lld, shard %d, %lld shards", split, (long long)in.n, in.shard,
               (long long)in.n_shards);
    for (int64_t i = 0; i < in.n; i++) {
        FUZZ_CHECK(in.labels[i] >= 0 && in.labels[i] < cxr_store_n_classes(s), "label %d",
                   (int)in.labels[i]);
        FUZZ_CHECK(cxr_store_image_path(s, split, i) != NULL, "no path for image %lld",
                   (long long)i);
    }
    size_t per = (size_t)in.size * in.size;
    if ((size_t)in.shard * per > MAX_CHUNK_FLOATS) return;
    int64_t n = in.n < MAX_IMAGES ? in.n : MAX_IMAGES;
    float *h5 = calloc((size_t)(n ? n : 1) * per, sizeof *h5);
    cxr_status *h5st = calloc((size_t)(n ? n : 1), sizeof *h5st);
    if (!h5 || !h5st) abort();
    for (int64_t i = 0; i < n; i++) {
        h5st[i] = cxr_store_read_image(s, split, i, h5 + (size_t)i * per);
        FUZZ_CHECK(h5st[i] == CXR_OK || store_error(h5st[i]), "read_image: %s", cxr_last_error());
    }

    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = 4;
    o.prefetch = 0;
    cxr_loader *l = NULL;
    cxr_status st = cxr_loader_create(&l, s, split, &o);
    if (st == CXR_OK) st = cxr_loader_begin_epoch(l, 0);
    for (int64_t seen = 0; st == CXR_OK && seen < n;) {
        cxr_batch b;
        st = cxr_loader_next_batch(l, &b);
        if (st != CXR_OK || b.n == 0) break;
        for (int j = 0; j < b.n; j++) {
            int64_t i = b.indices[j];
            FUZZ_CHECK(i == seen + j, "sequential loader gave image %lld at %lld", (long long)i,
                       (long long)(seen + j));
            FUZZ_CHECK(b.labels[j] == in.labels[i], "label %d, store says %d", (int)b.labels[j],
                       (int)in.labels[i]);
            if (i < n && h5st[i] == CXR_OK)
                FUZZ_CHECK(memcmp(b.images + (size_t)j * per, h5 + (size_t)i * per,
                                  per * sizeof(float)) == 0,
                           "image %lld of %s: loader and HDF5 differ", (long long)i, split);
        }
        seen += b.n;
    }
    FUZZ_CHECK(st == CXR_OK || store_error(st), "loader: %s: %s", cxr_status_name(st),
               cxr_last_error());
    cxr_loader_destroy(l);
    free(h5);
    free(h5st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[4200];
    fuzz_tmpfile("store.h5", data, size, path, sizeof path);
    cxr_store *s = NULL;
    cxr_status st = cxr_store_open(&s, path);
    if (st == CXR_OK) {
        int nc = cxr_store_n_classes(s);
        FUZZ_CHECK(nc >= 1 && nc <= CXR_MAX_CLASSES, "%d classes", nc);
        for (int c = 0; c < nc; c++) {
            FUZZ_CHECK(cxr_store_class_name(s, c) != NULL, "class %d has no name", c);
            FUZZ_CHECK(cxr_store_class_weights(s)[c] >= 0, "weight of class %d", c);
        }
        static const char *const splits[3] = { "train", "val", "test" };
        for (int k = 0; k < 3; k++)
            if (cxr_store_has_split(s, splits[k])) read_split(s, splits[k]);
        cxr_store_close(s);
    } else {
        FUZZ_CHECK(store_error(st), "open: %s: %s", cxr_status_name(st), cxr_last_error());
    }
    return 0;
}
