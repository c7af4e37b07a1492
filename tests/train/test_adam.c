/* test_adam.c: three Adam steps of the CPU op against values worked out by hand (in double,
 * from the bias-corrected update in specs/model.md), for one parameter with gradients
 * 0.5, -1, 0.25, lr 0.1:
 *   t=1: m=0.05, v=0.00025, m^=0.5, v^=0.25              -> p = 1 - 0.1*0.5/(0.5+1e-8) = 0.900000002
 *   t=2: m=-0.055, v=0.00124975, m^=-0.289474, v^=0.625188 -> p = 0.93661035
 *   t=3: m=-0.0245, v=0.00131100025                       -> p = 0.95027942
 * plus: a zero gradient leaves p alone at t=1, and the op refuses t < 1. */
#include "cxr_test.h"
#include "cpu_internal.h"

int main(void)
{
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 2));
    float p = 1.0f, m = 0.0f, v = 0.0f;
    const float g[3] = { 0.5f, -1.0f, 0.25f };
    const double want_p[3] = { 0.900000002, 0.93661035424, 0.95027942034 };
    const double want_m[3] = { 0.05, -0.055, -0.0245 };
    const double want_v[3] = { 0.00025, 0.00124975, 0.00131100025 };
    for (int t = 1; t <= 3; t++) {
        CHECK_OK(
            cxr_adam_step_cpu(be->ctx, &p, &m, &v, &g[t - 1], 1, 0.1f, 0.9f, 0.999f, 1e-8f, t));
        CHECK_CLOSE(p, want_p[t - 1], 1e-6, 0);
        CHECK_CLOSE(m, want_m[t - 1], 1e-8, 1e-6);
        /* 0.999f is 0.99900001287, so 1 - beta2 in float is 1.3e-5 below 0.001: v carries that
         * relative offset (p does not: it cancels in m^/sqrt(v^) up to 1e-6) */
        CHECK_CLOSE(v, want_v[t - 1] * (1.0 - (double)0.999f) / 0.001, 1e-12, 1e-6);
    }
    /* a long vector takes the same path as element 0 (the loop is split over threads) */
    enum { N = 100003 };
    static float P[N], M[N], V[N], G[N];
    for (int i = 0; i < N; i++) P[i] = 1.0f, G[i] = (i % 2) ? 0.5f : 0.0f;
    CHECK_OK(cxr_adam_step_cpu(be->ctx, P, M, V, G, N, 0.1f, 0.9f, 0.999f, 1e-8f, 1));
    int bad = 0;
    for (int i = 0; i < N; i++) bad += P[i] != ((i % 2) ? P[1] : 1.0f);
    CHECK(bad == 0);
    CHECK_CLOSE(P[1], 0.900000002, 1e-6, 0);
    CHECK(cxr_adam_step_cpu(be->ctx, &p, &m, &v, g, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0) == CXR_E_ARG);
    cxr_backend_destroy(be);
    TEST_END();
}
