/* images.c: batches of JPEG files decoded on OpenMP threads (cxr_images.h). The folder walk
 * that lists them is in scan.c, beside cxr-pack's, whose rules it shares. */
#include "cxr_images.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

struct cxr_image_decoder {
    int threads;
    cxr_decoder **dec; /* [threads] */
};

cxr_status cxr_image_decoder_create(cxr_image_decoder **out, int threads)
{
    *out = NULL;
    if (threads < 1) return cxr_set_error(CXR_E_ARG, "image decoder: %d threads", threads);
    cxr_image_decoder *d = calloc(1, sizeof *d);
    if (!d || !(d->dec = calloc((size_t)threads, sizeof *d->dec))) {
        free(d);
        return cxr_set_error(CXR_E_NOMEM, "out of memory (image decoder)");
    }
    d->threads = threads;
    for (int t = 0; t < threads; t++)
        if (!(d->dec[t] = cxr_decoder_create())) {
            cxr_image_decoder_destroy(d);
            return cxr_set_error(CXR_E_NOMEM, "out of memory (image decoder)");
        }
    *out = d;
    return CXR_OK;
}

void cxr_image_decoder_destroy(cxr_image_decoder *d)
{
    if (!d) return;
    for (int t = 0; t < d->threads; t++) cxr_decoder_destroy(d->dec[t]);
    free(d->dec);
    free(d);
}

void cxr_image_decode(cxr_image_decoder *d, const cxr_preprocess_params *p,
                      const char *const *paths, int n, float *out, cxr_status *st, char *reasons,
                      size_t reason_cap)
{
    const size_t pixels = (size_t)p->size * (size_t)p->size;
    int threads = d->threads < n ? d->threads : (n > 0 ? n : 1);
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        cxr_decoder *dec = d->dec[omp_get_thread_num()];
        st[i] = cxr_decode_file(dec, p, paths[i], out + (size_t)i * pixels, NULL);
        if (st[i] != CXR_OK && reasons && reason_cap)
            snprintf(reasons + (size_t)i * reason_cap, reason_cap, "%s", cxr_last_error());
    }
}
