/* store_make_sample.c: writes the small synthetic store (store_testutil.h) that the h5dump
 * and h5py checks read with the filter plugin: shard 4, 6x6 images, 3 classes,
 * train 10 images (3 chunks, last partial), val 4, no test.
 * Usage: store_make_sample OUT.cxr */
#include "store_testutil.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: store_make_sample OUT.cxr\n");
        return 2;
    }
    tu_spec sp = {
        .shard = 4, .size = 6, .n_classes = 3, .n_label_classes = 3, .n = { 10, 4, -1 }
    };
    cxr_status st = tu_write_store(argv[1], &sp, 1);
    if (st != CXR_OK) {
        fprintf(stderr, "store_make_sample: %s\n", cxr_last_error());
        return 1;
    }
    return 0;
}
