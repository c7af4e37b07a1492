/* store_dump: test helper for tests/pack. Opens a store with the library reader and writes the
 * images of one split, as the reader returns them (cxr_store_read_image), to a raw float32
 * file; prints "n <N> size <S>" and one "label <i> <label> <path>" line per image.
 * Also checks that each chunk decoded through HDF5 equals the images read one by one.
 * Usage: store_dump STORE SPLIT OUT.f32   (exit 1 on any error) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_store.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: store_dump STORE SPLIT OUT.f32\n");
        return 2;
    }
    cxr_store *s = NULL;
    cxr_split_info info;
    if (cxr_store_open(&s, argv[1]) != CXR_OK || cxr_store_split(s, argv[2], &info) != CXR_OK) {
        fprintf(stderr, "store_dump: %s\n", cxr_last_error());
        return 1;
    }
    size_t px = (size_t)info.size * (size_t)info.size;
    float *img = malloc(px * sizeof *img), *chunk = malloc(px * (size_t)info.shard * sizeof *chunk);
    FILE *f = fopen(argv[3], "wb");
    if (!img || !chunk || !f) return 1;
    printf("n %lld size %d\n", (long long)info.n, info.size);
    int bad = 0;
    for (int64_t i = 0; i < info.n; i++) {
        if (i % info.shard == 0 &&
            cxr_store_read_chunk_hdf5(s, argv[2], i / info.shard, chunk) != CXR_OK) {
            fprintf(stderr, "store_dump: chunk %lld: %s\n", (long long)(i / info.shard),
                    cxr_last_error());
            return 1;
        }
        if (cxr_store_read_image(s, argv[2], i, img) != CXR_OK) {
            fprintf(stderr, "store_dump: image %lld: %s\n", (long long)i, cxr_last_error());
            return 1;
        }
        if (memcmp(img, chunk + (size_t)(i % info.shard) * px, px * sizeof *img) != 0) {
            fprintf(stderr, "store_dump: image %lld differs between image and chunk reads\n",
                    (long long)i);
            bad = 1;
        }
        fwrite(img, sizeof *img, px, f);
        printf("label %lld %d %s\n", (long long)i, info.labels[i],
               cxr_store_image_path(s, argv[2], i));
    }
    fclose(f);
    free(img);
    free(chunk);
    cxr_store_close(s);
    return bad;
}
