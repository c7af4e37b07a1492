/* bench_loader: decode throughput of the shard loader alone (no consumer compute).
 *   bench_loader STORE.h5 [SPLIT [BATCH [EPOCHS]]]
 * For each configuration (no-prefetch; prefetch with 1, 2 worker threads) runs EPOCHS shuffled
 * epochs (the first one warms the page cache) and prints images/s of the last ones and the
 * consumer's wait fraction. Not a test: run it by hand and quote its output. */
#include <stdio.h>
#include <stdlib.h>

#include "cxr_clock.h"
#include "cxr_loader.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_loader STORE.h5 [SPLIT [BATCH [EPOCHS]]]\n");
        return 2;
    }
    const char *split = argc > 2 ? argv[2] : "train";
    int batch = argc > 3 ? atoi(argv[3]) : 64, epochs = argc > 4 ? atoi(argv[4]) : 3;
    cxr_store *s;
    if (cxr_store_open(&s, argv[1]) != CXR_OK) {
        fprintf(stderr, "bench_loader: %s\n", cxr_last_error());
        return 3;
    }
    struct {
        int prefetch, threads;
    } cfg[] = { { 0, 1 }, { 1, 1 }, { 1, 2 } };
    for (size_t c = 0; c < sizeof cfg / sizeof cfg[0]; c++) {
        cxr_loader_options o;
        cxr_loader_options_defaults(&o);
        o.batch = batch;
        o.shuffle = 1;
        o.prefetch = cfg[c].prefetch;
        o.threads = cfg[c].threads;
        cxr_loader *l;
        if (cxr_loader_create(&l, s, split, &o) != CXR_OK) {
            fprintf(stderr, "bench_loader: %s\n", cxr_last_error());
            return 3;
        }
        double best = 0, t_sum = 0;
        int64_t n = 0;
        for (int e = 0; e < epochs; e++) {
            double t0 = cxr_now_s();
            int64_t got = 0;
            cxr_batch b;
            cxr_loader_begin_epoch(l, e);
            while (cxr_loader_next_batch(l, &b) == CXR_OK && b.n > 0) got += b.n;
            double t = cxr_now_s() - t0;
            if (e > 0 || epochs == 1) {
                t_sum += t;
                n += got;
                if (got / t > best) best = got / t;
            }
        }
        printf("%-22s %lld images, %.0f images/s (best epoch %.0f)\n",
               cfg[c].prefetch
                   ? (cfg[c].threads == 1 ? "prefetch, 1 worker" : "prefetch, 2 workers")
                   : "no-prefetch",
               (long long)n, n / t_sum, best);
        cxr_loader_destroy(l);
    }
    cxr_store_close(s);
    return 0;
}
