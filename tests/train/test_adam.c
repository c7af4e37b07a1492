/* test_adam.c: three Adam steps of the CPU op against values worked out by hand (in double,
 * from the bias-corrected update in specs/model.md), for one parameter with gradients
 * 0.5, -1, 0.25, lr 0.1:
 *   t=1: m=0.05, v=0.00025, m^=0.5, v^=0.25              -> p = 1 - 0.1*0.5/(0.5+1e-8) = 0.900000002
 *   t=2: m=-0.055, v=0.00124975, m^=-0.289474, v^=0.625188 -> p = 0.93661035
 *   t=3: m=-0.0245, v=0.00131100025                       -> p = 0.95027942
 * plus: a zero gradient leaves p alone at t=1, and the op refuses t < 1.
 * AdamW (decoupled weight decay wd): wd = 0 gives plain Adam's bits (against the formula before
 * AdamW, written out below, on 100003 random elements over 3 steps); wd = 0.5, lr 0.1 at t=1:
 *   p = 1 * (1 - 0.1*0.5) - 0.1*0.5/(0.5+1e-8) = 0.95 - 0.099999998 = 0.850000002,
 *   and with a zero gradient p = 0.95 (p = -2: -1.9): every weight shrinks toward 0 by lr*wd. */
#include <math.h>
#include <string.h>
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
            cxr_adam_step_cpu(be->ctx, &p, &m, &v, &g[t - 1], 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0, t));
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
    CHECK_OK(cxr_adam_step_cpu(be->ctx, P, M, V, G, N, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 1));
    int bad = 0;
    for (int i = 0; i < N; i++) bad += P[i] != ((i % 2) ? P[1] : 1.0f);
    CHECK(bad == 0);
    CHECK_CLOSE(P[1], 0.900000002, 1e-6, 0);
    CHECK(cxr_adam_step_cpu(be->ctx, &p, &m, &v, g, 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0, 0) ==
          CXR_E_ARG);

    /* wd = 0: bit-identical to plain Adam as it was written before AdamW */
    static float Q[N], QM[N], QV[N];
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        x = x * 1664525u + 1013904223u;
        P[i] = Q[i] = (float)((double)x / 4294967296.0 - 0.5);
        M[i] = V[i] = QM[i] = QV[i] = 0;
    }
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < N; i++) {
            x = x * 1664525u + 1013904223u;
            G[i] = (float)((double)x / 4294967296.0 - 0.5) * 0.01f;
        }
        CHECK_OK(cxr_adam_step_cpu(be->ctx, P, M, V, G, N, 1e-3f, 0.9f, 0.999f, 1e-8f, 0, t));
        const float c1 = (float)(1.0 / (1.0 - pow(0.9f, t))),
                    c2 = (float)(1.0 / (1.0 - pow(0.999f, t)));
        for (int i = 0; i < N; i++) {
            QM[i] = 0.9f * QM[i] + (1.0f - 0.9f) * G[i];
            QV[i] = 0.999f * QV[i] + (1.0f - 0.999f) * G[i] * G[i];
            Q[i] -= 1e-3f * (QM[i] * c1) / (sqrtf(QV[i] * c2) + 1e-8f);
        }
    }
    CHECK(memcmp(P, Q, sizeof P) == 0 && memcmp(M, QM, sizeof M) == 0);

    /* wd > 0: the hand computation above, and every weight moves toward 0 */
    p = 1.0f, m = 0.0f, v = 0.0f;
    CHECK_OK(cxr_adam_step_cpu(be->ctx, &p, &m, &v, &g[0], 1, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1));
    CHECK_CLOSE(p, 0.850000002, 1e-6, 0);
    float z[5] = { 1.0f, -2.0f, 0.0f, 3.0f, -4.0f }, zm[5] = { 0 }, zv[5] = { 0 }, zg[5] = { 0 };
    CHECK_OK(cxr_adam_step_cpu(be->ctx, z, zm, zv, zg, 5, 0.1f, 0.9f, 0.999f, 1e-8f, 0.5f, 1));
    CHECK(z[0] == 0.95f && z[1] == -1.9f && z[2] == 0.0f);
    CHECK_CLOSE(z[3], 2.85, 1e-6, 0);
    CHECK_CLOSE(z[4], -3.8, 1e-6, 0);
    cxr_backend_destroy(be);
    TEST_END();
}
