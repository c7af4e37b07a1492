/* bench_augment: the cost of train-time augmentation (cxr_augment.h) on one thread.
 *   bench_augment STORE.h5 [ROUNDS [SPEC]]
 * (1) cxr_augment_image alone on the first 64 images of /train, 640 draws per round: images/s
 * of one thread; (2) the loader without prefetch (decode, and augment, all in this thread), one
 * shuffled epoch of /train per variant, alternated none / SPEC (default "default") for ROUNDS
 * rounds: images/s of each and their ratio. Times are this thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID: everything runs in it), so a loaded machine slows the run but not
 * the figures much. Not a test: run it by hand and quote its output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cxr_augment.h"
#include "cxr_clock.h"
#include "cxr_loader.h"

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double loader_epoch(cxr_store *s, const cxr_augment_params *p, int epoch, int64_t *n)
{
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.shuffle = 1;
    o.prefetch = 0;
    o.augment = p;
    cxr_loader *l;
    if (cxr_loader_create(&l, s, "train", &o) != CXR_OK) return -1;
    double t0 = cpu_s();
    cxr_batch b;
    *n = 0;
    cxr_loader_begin_epoch(l, epoch);
    while (cxr_loader_next_batch(l, &b) == CXR_OK && b.n > 0) *n += b.n;
    double t = cpu_s() - t0;
    cxr_loader_destroy(l);
    return t;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_augment STORE.h5 [ROUNDS [SPEC]]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 3;
    cxr_augment_params p, none;
    cxr_augment_params_none(&none);
    cxr_store *s;
    if (cxr_augment_parse(argc > 3 ? argv[3] : "default", &p) != CXR_OK ||
        cxr_store_open(&s, argv[1]) != CXR_OK) {
        fprintf(stderr, "bench_augment: %s\n", cxr_last_error());
        return 2;
    }
    char spec[160];
    cxr_augment_format(&p, spec, sizeof spec);
    cxr_split_info info;
    if (cxr_store_split(s, "train", &info) != CXR_OK || info.n < 1) return 3;
    const int S = info.size, n = info.n < 64 ? (int)info.n : 64;
    const size_t img = (size_t)S * S;
    float *src = malloc((size_t)n * img * sizeof *src), *dst = malloc(img * sizeof *dst);
    for (int i = 0; i < n; i++)
        if (cxr_store_read_image(s, "train", i, src + (size_t)i * img) != CXR_OK) return 3;
    printf("augment %s, %dx%d images\n", spec, S, S);
    double sink = 0;
    for (int r = 0; r < rounds; r++) {
        double t0 = cpu_s(), w0 = cxr_now_s();
        for (int e = 0; e < 10; e++)
            for (int i = 0; i < n; i++) {
                cxr_augment_image(&p, 1, e + 10 * r, i, src + (size_t)i * img, dst, S);
                sink += dst[img / 2];
            }
        double t = cpu_s() - t0, w = cxr_now_s() - w0;
        printf("round %d: cxr_augment_image alone: %.0f images per CPU-second of one thread "
               "(%.3f ms/image; wall %.3f ms/image)\n",
               r, 10.0 * n / t, 1e3 * t / (10.0 * n), 1e3 * w / (10.0 * n));
    }
    for (int r = 0; r < rounds; r++) {
        int64_t na, nb;
        double ta = loader_epoch(s, &none, r, &na), tb = loader_epoch(s, &p, r, &nb);
        printf("round %d: loader, one thread, no prefetch: none %.0f images/CPU-s, augmented %.0f "
               "images/CPU-s (%.3f ms/image more, x%.3f)\n",
               r, na / ta, nb / tb, 1e3 * (tb / nb - ta / na), (nb / tb) / (na / ta));
    }
    if (sink == 12345.678) printf("\n"); /* keep the work */
    free(src);
    free(dst);
    cxr_store_close(s);
    return 0;
}
