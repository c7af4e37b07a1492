/* read_image.c: a program outside the cxr tree, built against an installed cxr (find_package
 * or pkg-config). It opens STORE, reads image I of SPLIT through HDF5 (cxr_store_read_image)
 * and through the shard loader (mmap + raw-chunk decode), checks that both agree, and prints
 * the image's size, label, path and pixel sum. Exit 0 ok, 1 on any error or disagreement. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cxr/cxr_loader.h> /* the <cxr/...> spelling */
#include "cxr_store.h"      /* and the in-tree spelling (-I<prefix>/include/cxr) */

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: read_image STORE.h5 SPLIT INDEX\n");
        return 1;
    }
    const char *path = argv[1], *split = argv[2];
    long idx = strtol(argv[3], NULL, 10);
    cxr_store *s = NULL;
    cxr_loader *l = NULL;
    float *img = NULL;
    int rc = 1;
    cxr_split_info info;
    if (cxr_store_open(&s, path) != CXR_OK || cxr_store_split(s, split, &info) != CXR_OK) goto out;
    if (idx < 0 || idx >= info.n) {
        fprintf(stderr, "read_image: index %ld outside [0,%lld)\n", idx, (long long)info.n);
        goto out;
    }
    size_t px = (size_t)info.size * info.size;
    img = malloc(px * sizeof *img);
    if (!img || cxr_store_read_image(s, split, idx, img) != CXR_OK) goto out;

    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = (int)(idx + 1);
    cxr_batch b;
    if (cxr_loader_create(&l, s, split, &o) != CXR_OK || cxr_loader_begin_epoch(l, 0) != CXR_OK ||
        cxr_loader_next_batch(l, &b) != CXR_OK)
        goto out;
    if (b.n != idx + 1 || b.indices[idx] != idx ||
        memcmp(b.images + (size_t)idx * px, img, px * sizeof *img) != 0) {
        fprintf(stderr, "read_image: loader and HDF5 disagree on image %ld\n", idx);
        goto out;
    }
    double sum = 0, lo = img[0], hi = img[0];
    for (size_t i = 0; i < px; i++) {
        sum += img[i];
        lo = img[i] < lo ? img[i] : lo;
        hi = img[i] > hi ? img[i] : hi;
    }
    printf("%s[%ld]: %dx%d label %s path %s sum %.6f min %.6f max %.6f\n", split, idx, info.size,
           info.size, cxr_store_class_name(s, info.labels[idx]),
           cxr_store_image_path(s, split, idx), sum, lo, hi);
    rc = 0;
out:
    if (rc) fprintf(stderr, "read_image: %s\n", cxr_last_error());
    cxr_loader_destroy(l);
    cxr_store_close(s);
    free(img);
    return rc;
}
