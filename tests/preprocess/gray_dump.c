/* gray_dump FILE SIZE: decode FILE with cxr_preprocess_file (no crop, no equalization,
 * normalize none: the decoded gray values as floats) at SIZE x SIZE and print one value per
 * line. For test_adobe_cmyk.py, which compares them with PIL's rendering. */
#include <stdio.h>
#include <stdlib.h>

#include "cxr_preprocess.h"
#include "cxr_status.h"

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gray_dump FILE SIZE\n");
        return 2;
    }
    cxr_preprocess_params p;
    cxr_preprocess_defaults(&p);
    p.size = atoi(argv[2]);
    p.equalize = 0;
    p.normalize = CXR_NORM_NONE;
    p.crop_ratio = 0;
    float *out = malloc((size_t)p.size * (size_t)p.size * sizeof *out);
    cxr_decoder *d = cxr_decoder_create();
    if (!out || !d) return 1;
    if (cxr_preprocess_file(d, &p, argv[1], out) != CXR_OK) {
        fprintf(stderr, "gray_dump: %s\n", cxr_last_error());
        return 3;
    }
    for (int i = 0; i < p.size * p.size; i++) printf("%.4f\n", out[i]);
    cxr_decoder_destroy(d);
    free(out);
    return 0;
}
