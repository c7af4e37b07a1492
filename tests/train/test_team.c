/* test_team.c: the CPU backend's ops under OpenMP teams other than the one asked for. A host
 * may call them from inside a parallel region of its own (libgomp then grants a team of one),
 * from several threads of it in turn, or turn dynamic adjustment back on between ops: every
 * call must compute all of its output (the same bits as a top-level call: the conv forward
 * splits by image, the dense forward of an evaluation by output) and the backend must come
 * back to its full team at the top level. Before, a nested call failed ("fewer than the 2
 * threads asked for"), a call from another thread of the region left the backend at one
 * thread for good, and omp_set_dynamic(1) by the host made later ops fail under load. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"
#include "cxr_backend_cpu.h"
#include "cxr_test.h"

enum { N = 4, C = 2, K = 4, S = 8, IN = K * S * S, OUT = 8 };

static float conv_ref[N * K * S * S], dense_ref[N * OUT];

static cxr_status run(cxr_backend *be, const float *x, const float *w, const float *b,
                      const float *wd, const float *bd, float *conv_out, float *dense_out)
{
    cxr_status st = be->conv3x3_forward(be->ctx, conv_out, x, w, b, N, C, K, S, S);
    if (st == CXR_OK) st = be->dense_forward(be->ctx, dense_out, conv_out, wd, bd, N, IN, OUT);
    return st;
}

static int same(const float *conv_out, const float *dense_out)
{
    return !memcmp(conv_out, conv_ref, sizeof conv_ref) &&
           !memcmp(dense_out, dense_ref, sizeof dense_ref);
}

int main(void)
{
    static float x[N * C * S * S], w[K * C * 9], b[K], wd[OUT * IN], bd[OUT];
    static float co[N * K * S * S], dn[N * OUT];
    unsigned r = 1;
    for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
        x[i] = (float)(r = r * 1103515245 + 12345) / 4e9f - 0.5f;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++)
        w[i] = (float)(r = r * 1103515245 + 12345) / 4e9f - 0.5f;
    for (size_t i = 0; i < sizeof wd / sizeof wd[0]; i++)
        wd[i] = (float)(r = r * 1103515245 + 12345) / 4e10f;
    for (int i = 0; i < K; i++) b[i] = 0.1f * (float)i;
    for (int i = 0; i < OUT; i++) bd[i] = -0.05f * (float)i;

    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 2));
    cxr_backend_cpu_set_inference(be, 1);
    CHECK(cxr_backend_cpu_threads(be) == 2);
    CHECK_OK(run(be, x, w, b, wd, bd, conv_ref, dense_ref));

    /* from the master of a host region, then from each of its threads in turn (one active
     * level, libgomp's default, whatever the environment says) */
    omp_set_max_active_levels(1);
    cxr_status st_master = CXR_E_INTERNAL, st_each[2] = { CXR_E_INTERNAL, CXR_E_INTERNAL };
    int same_master = 0, same_each[2] = { 0, 0 }, inner = 0;
#pragma omp parallel num_threads(2)
    {
#pragma omp master
        {
            st_master = run(be, x, w, b, wd, bd, co, dn);
            same_master = same(co, dn);
            inner = cxr_backend_cpu_threads(be);
        }
#pragma omp barrier
        for (int t = 0; t < omp_get_num_threads(); t++) {
            if (t == omp_get_thread_num()) {
                float c2[N * K * S * S], d2[N * OUT];
                st_each[t] = run(be, x, w, b, wd, bd, c2, d2);
                same_each[t] = same(c2, d2);
            }
#pragma omp barrier
        }
    }
    if (st_master != CXR_OK) fprintf(stderr, "nested call: %s\n", cxr_last_error());
    CHECK(st_master == CXR_OK && same_master);
    CHECK(inner == 1); /* a nested region's team is one thread here */
    CHECK(st_each[0] == CXR_OK && same_each[0]);
    CHECK(st_each[1] == CXR_OK && same_each[1]);

    /* the top level again: the full team */
    memset(co, 0, sizeof co);
    CHECK(run(be, x, w, b, wd, bd, co, dn) == CXR_OK && same(co, dn));
    CHECK(cxr_backend_cpu_threads(be) == 2);

    /* the host turns dynamic adjustment on between ops: still the full team, all computed */
    omp_set_dynamic(1);
    CHECK(run(be, x, w, b, wd, bd, co, dn) == CXR_OK && same(co, dn));
    CHECK(cxr_backend_cpu_threads(be) == 2);
    CHECK(!omp_get_dynamic()); /* turned off again for the backend's regions (cxr_ops.h) */

    /* nested teams allowed, then not, between two calls from a host region: each call computes
     * with what it is granted (a team set up once inside a region went stale: "fewer than the
     * 2 threads asked for") */
    for (int levels = 2; levels >= 1; levels--) {
        omp_set_max_active_levels(levels);
        cxr_status st = CXR_E_INTERNAL;
        int ok = 0;
#pragma omp parallel num_threads(2)
#pragma omp master
        {
            float c2[N * K * S * S], d2[N * OUT];
            st = run(be, x, w, b, wd, bd, c2, d2);
            ok = same(c2, d2);
        }
        if (st != CXR_OK) fprintf(stderr, "max active levels %d: %s\n", levels, cxr_last_error());
        CHECK(st == CXR_OK && ok);
    }
    omp_set_max_active_levels(1);
    cxr_backend_destroy(be);
    TEST_END();
}
