/* bench_val_split.c: cost of cxr-pack's patient-grouped val split (cxr_plan_split_val_by_patient)
 * against the number of classes, at a fixed number of images.
 *   bench_val_split [IMAGES] [CLASSES...]   (default 200000 images; 2 20 200 2000 classes)
 * Each row splits the same images (IMAGES/3 patients, names as in the Kaggle tree) labelled with
 * that many classes, best of 3, and prints ms and the ratio to the first row: the peer is the
 * same call with 2 classes, so the ratio says how the split scales with classes on any machine.
 * Built by tests/pack/CMakeLists.txt; not a ctest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_cpu.h"

#include "cxr_pack.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int make_plan(cxr_pack_plan *pl, int n_classes, long n)
{
    memset(pl, 0, sizeof *pl);
    pl->n_classes = n_classes;
    pl->class_names = calloc((size_t)n_classes, sizeof *pl->class_names);
    if (!pl->class_names) return -1;
    for (int c = 0; c < n_classes; c++) {
        char name[32];
        snprintf(name, sizeof name, "c%d", c);
        if (!(pl->class_names[c] = strdup(name))) return -1;
    }
    pl->n_splits = 1;
    strcpy(pl->splits[0].name, "train");
    uint64_t s = 12345;
    for (long i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        long patient = (long)((s >> 20) % (uint64_t)(n / 3 + 1));
        int y = (int)((uint64_t)patient * 2654435761u % (uint64_t)n_classes);
        char rel[96];
        snprintf(rel, sizeof rel, "train/c%d/person%ld_virus_%ld.jpeg", y, patient, i);
        if (cxr_plan_add_item(&pl->splits[0], rel, rel, y, 1)) return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    int defaults[] = { 2, 20, 200, 2000 };
    int n_rows = argc > 2 ? argc - 2 : 4;
    double first = 0;
    bench_print_cpu();
    printf("images %ld\n%8s %10s %8s %8s\n", n, "classes", "ms", "ratio", "val");
    for (int r = 0; r < n_rows; r++) {
        int k = argc > 2 ? atoi(argv[2 + r]) : defaults[r];
        double best = 1e300;
        long n_val = 0;
        for (int rep = 0; rep < 3; rep++) {
            cxr_pack_plan pl;
            if (make_plan(&pl, k, n)) {
                fprintf(stderr, "bench_val_split: out of memory\n");
                return 1;
            }
            double t0 = now_ms();
            if (cxr_plan_split_val_by_patient(&pl, 0.1)) {
                fprintf(stderr, "bench_val_split: %s\n", cxr_last_error());
                return 1;
            }
            double ms = now_ms() - t0;
            if (ms < best) best = ms;
            n_val = (long)pl.splits[1].n;
            cxr_plan_free(&pl);
        }
        if (r == 0) first = best;
        printf("%8d %10.1f %8.2f %8ld\n", k, best, best / first, n_val);
    }
    return 0;
}
