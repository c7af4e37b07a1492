/* bench_ops_cpu.c: the CPU backend's conv and dense ops alone at the study's shapes, our kernels
 * against oneDNN's (CXR_CPU_DNNL=none vs all, backends in one process), alternated, the best
 * of `reps` per op. Prints ms per image, GFLOP/s and the time over ours per op: the
 * measurement behind the backend's per-op and per-layer choice (specs/model.md, "oneDNN").
 * Also our kernels at AVX2 width where the CPU has AVX-512 (CXR_CPU_ISA=avx2), and oneDNN in
 * bf16 where the CPU has AVX512-BF16 or AMX (the backend's --precision bf16).
 * Usage: bench_ops_cpu [batch=16] [reps=3] [threads=2] [dense: only the dense layer] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cpu.h"
#include "cxr_backend_cpu.h"
#include "cpu_internal.h"
#include "cxr_clock.h"
#include "cxr_ops.h"
#include "rng.h"

static float *rnd(size_t n, uint64_t seed)
{
    float *p = malloc(n * sizeof(float));
    if (!p) exit(1);
    const uint64_t k = cxr_rng_key(seed, 1, 2);
    for (size_t i = 0; i < n; i++) p[i] = 2.0f * cxr_rng_uniform(k, i) - 1.0f;
    return p;
}

enum { FWD, BWD_W, BWD_ALL, D_FWD, D_BWD, NOPS };
static const char *op_name[NOPS] = { "fwd(+lrelu+pool)", "bwd weights", "bwd data+weights",
                                     "dense1 fwd", "dense1 bwd" };

typedef struct {
    int C, K, S;
} layer;

static void die(void)
{
    fprintf(stderr, "bench_ops_cpu: %s\n", cxr_last_error());
    exit(1);
}

/* one timed run of op on layer l (conv) or dense1 */
static double run(cxr_backend *be, int op, const layer *l, int N, float *x, float *w, float *b,
                  float *y, float *p, uint8_t *ix, float *g, float *dx, float *dw, float *db)
{
    const int C = l->C, K = l->K, S = l->S;
    const double t0 = cxr_now_s();
    cxr_status st = CXR_OK;
    switch (op) {
    case FWD:
        st = be->conv3x3_lrelu_pool_forward(be->ctx, C == 1 ? y : NULL, C == 1 ? NULL : p,
                                            C == 1 ? NULL : ix, x, w, b, 0.5f, N, C, K, S, S);
        break;
    case BWD_W: st = be->conv3x3_backward(be->ctx, NULL, dw, db, g, x, w, N, C, K, S, S); break;
    case BWD_ALL: st = be->conv3x3_backward(be->ctx, dx, dw, db, g, x, w, N, C, K, S, S); break;
    case D_FWD: st = be->dense_forward(be->ctx, y, x, w, b, N, 131072, 512); break;
    case D_BWD: st = be->dense_backward(be->ctx, dx, dw, db, g, x, w, N, 131072, 512); break;
    }
    if (st) die();
    return cxr_now_s() - t0;
}

int main(int argc, char **argv)
{
    const int N = argc > 1 ? atoi(argv[1]) : 16, reps = argc > 2 ? atoi(argv[2]) : 3;
    const int threads = argc > 3 ? atoi(argv[3]) : 2;
    const int only_dense = argc > 4 && !strcmp(argv[4], "dense");
    /* our kernels (at AVX-512 width where the CPU has it), the same at AVX2 width where that
     * differs, oneDNN fp32, and oneDNN bf16 where the CPU has AVX512-BF16 or AMX */
    enum { OWN, OWN_AVX2, DNNL, DNNL_BF16, NB };
    const char *names[NB] = { "own", "own-avx2", "onednn", "onednn-bf16" };
    cxr_backend *be[NB] = { NULL };
    setenv("CXR_CPU_DNNL", "none", 1);
    if (cxr_backend_cpu_create(&be[OWN], threads)) die();
    if (((cxr_cpu_ctx *)be[OWN]->ctx)->avx512) {
        setenv("CXR_CPU_ISA", "avx2", 1);
        if (cxr_backend_cpu_create(&be[OWN_AVX2], threads)) die();
        unsetenv("CXR_CPU_ISA");
    }
    setenv("CXR_CPU_DNNL", "all", 1);
    if (cxr_backend_cpu_create(&be[DNNL], threads)) die();
    if (cxr_cpu_has_bf16()) {
        if (cxr_backend_cpu_create(&be[DNNL_BF16], threads)) die();
        if (cxr_backend_cpu_set_precision(be[DNNL_BF16], CXR_PRECISION_BF16)) die();
    }
    char d[256];
    bench_print_cpu();
    cxr_backend_cpu_describe(be[OWN], d, sizeof d);
    printf("# batch %d, %d threads, best of %d, backends alternated; own: %s\n", N, threads, reps,
           d);
    cxr_backend_cpu_describe(be[DNNL], d, sizeof d);
    printf("# onednn: %s\n", d);
    printf("# ms per image (GFLOP/s), and time / own's\n");
    const layer L[4] = { { 1, 16, 256 }, { 16, 32, 256 }, { 32, 64, 128 }, { 64, 128, 64 } };
    /* buffers sized for the largest use */
    const size_t big = only_dense ? (size_t)N * 131072 : (size_t)N * 32 * 256 * 256;
    float *x = rnd(big, 1), *y = rnd(big, 2), *p = rnd(big / 4, 3), *g = rnd(big, 4);
    float *dx = rnd(big, 5), *w = rnd((size_t)512 * 131072, 6), *dw = rnd((size_t)512 * 131072, 7);
    float *b = rnd(1024, 8), *db = rnd(1024, 9);
    uint8_t *ix = malloc(big / 4);
    if (!ix) return 1;
    for (size_t i = 0; i < (size_t)512 * 131072; i++) w[i] *= 0.01f;
    for (int li = only_dense ? 4 : 0; li < 5; li++) {
        const int dense = li == 4;
        const layer *l = &L[dense ? 0 : li];
        const int op0 = dense ? D_FWD : FWD, op1 = dense ? D_BWD + 1 : BWD_ALL + 1;
        for (int op = op0; op < op1; op++) {
            if (!dense && li == 0 && op == BWD_ALL) continue; /* conv1 has no input gradient */
            double best[NB] = { 1e30, 1e30, 1e30, 1e30 };
            for (int r = 0; r <= reps; r++) /* r = 0 warms up (creates the primitives) */
                for (int i = 0; i < NB; i++) {
                    if (!be[i]) continue;
                    const double t = run(be[i], op, l, N, x, w, b, y, p, ix, g, dx, dw, db);
                    if (r > 0 && t < best[i]) best[i] = t;
                }
            double flop = dense ? 2.0 * N * 131072 * 512 * (op == D_BWD ? 2 : 1)
                                : 2.0 * N * l->S * l->S * l->C * l->K * 9 * (op == BWD_ALL ? 2 : 1);
            printf("%-7s %-18s",
                   dense ? "dense1" : (const char *[]){ "conv1", "conv2", "conv3", "conv4" }[li],
                   op_name[op]);
            for (int i = 0; i < NB; i++)
                if (be[i])
                    printf(" | %s %.3f (%.0f) %.2f", names[i], 1e3 * best[i] / N,
                           flop / best[i] * 1e-9, best[i] / best[OWN]);
            printf("\n");
        }
    }
    for (int i = 0; i < NB; i++)
        if (be[i]) cxr_backend_destroy(be[i]);
    free(x), free(y), free(p), free(g), free(dx), free(w), free(dw), free(b), free(db), free(ix);
    return 0;
}
