/* test_fpenv.c: the CPU backend computes with flush-to-zero + denormals-are-zero on every
 * thread without the caller doing anything (cxr_fpenv.h, issue 13): ops run from a thread
 * whose MXCSR is the default, on data whose products are denormal, give exact zeros on every
 * OpenMP thread's share (a thread without the bits would leave ~1e-40 values), and the MXCSR
 * read inside an OpenMP region of the same team has both bits. Also from a second thread that
 * did not create the backend. The team's worker thread also blocks asynchronous signals and
 * the calling thread does not (cxr_signals.h), also with CXR_CPU_DENORMALS=keep in new threads
 * (which may reuse an ended thread's pthread_t). Skipped (77) on CPUs without MXCSR. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>
#include <signal.h>

#include "cxr_fpenv.h"
#include "cxr_signals.h"
#include "cxr_test.h"
#include "cxr_ops.h"

#define NI 4 /* images: two per thread */

static float *filled(size_t n, float v)
{
    float *p = malloc(n * sizeof(float));
    REQUIRE(p);
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}

static int all_zero(const float *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0.0f) return 0;
    return 1;
}

/* The ops on denormal-producing data; 1e-20 * 1e-20 = 1e-40 (denormal: flushed by FTZ),
 * 1e-39 (a denormal input) * 1e30 = 1e-9 (normal: zero only with DAZ). */
static void run_ops(cxr_backend *be, const char *who)
{
    const int C = 2, K = 3, H = 8, W = 8;
    const size_t in_n = (size_t)NI * C * H * W, out_n = (size_t)NI * K * H * W;
    float *b = filled(16, 0.0f), *db = filled(16, 0.0f);
    /* FTZ: products of 1e-20 */
    float *x = filled(in_n, 1e-20f), *w = filled((size_t)K * C * 9, 1e-20f);
    float *y = filled(out_n, 1.0f);
    CHECK_OK(be->conv3x3_forward(be->ctx, y, x, w, b, NI, C, K, H, W));
    if (!all_zero(y, out_n)) fprintf(stderr, "%s: conv forward kept a denormal\n", who);
    CHECK(all_zero(y, out_n));
    /* DAZ: a denormal input times a large weight */
    float *xd = filled(in_n, 1e-39f), *wl = filled((size_t)K * C * 9, 1e30f);
    CHECK_OK(be->conv3x3_forward(be->ctx, y, xd, wl, b, NI, C, K, H, W));
    CHECK(all_zero(y, out_n));
    /* backward: dW = dout . x and din = dout . w, all products 1e-40 */
    /* gradients start at 1: backward ops write them (cxr_ops.h), flushed products included */
    float *g = filled(out_n, 1e-20f), *dx = filled(in_n, 1.0f), *dw = filled((size_t)K * C * 9, 1);
    CHECK_OK(be->conv3x3_backward(be->ctx, dx, dw, db, g, x, w, NI, C, K, H, W));
    CHECK(all_zero(dx, in_n));
    CHECK(all_zero(dw, (size_t)K * C * 9));
    /* dense: forward, dW, din */
    const int IN = 40, OUT = 36;
    float *a = filled((size_t)NI * IN, 1e-20f), *wd = filled((size_t)OUT * IN, 1e-20f);
    float *o = filled((size_t)NI * OUT, 1.0f), *bd = filled((size_t)OUT, 0.0f);
    CHECK_OK(be->dense_forward(be->ctx, o, a, wd, bd, NI, IN, OUT));
    CHECK(all_zero(o, (size_t)NI * OUT));
    float *go = filled((size_t)NI * OUT, 1e-20f), *gi = filled((size_t)NI * IN, 1.0f);
    float *gw = filled((size_t)OUT * IN, 1.0f), *gb = filled((size_t)OUT, 0.0f);
    CHECK_OK(be->dense_backward(be->ctx, gi, gw, gb, go, a, wd, NI, IN, OUT));
    CHECK(all_zero(gi, (size_t)NI * IN));
    CHECK(all_zero(gw, (size_t)OUT * IN));
    /* Adam: v = (1 - b2) g^2 = 1e-43 for g = 1e-20, over enough elements for every thread */
    const size_t np = 1 << 18;
    float *p = filled(np, 0.5f), *m = filled(np, 0.0f), *v = filled(np, 0.0f);
    float *gr = filled(np, 1e-20f);
    CHECK_OK(be->adam_step(be->ctx, p, m, v, gr, np, 1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 1));
    CHECK(all_zero(v, np));
    /* the MXCSR of this thread and of every thread of its OpenMP team; the team's worker blocks
     * asynchronous signals (oneDNN's kernels run there, cxr_signals.h), this thread does not */
    int flushing = 0, nthr = 0, blocked = 0;
#pragma omp parallel num_threads(2) reduction(+ : flushing, nthr, blocked)
    {
        flushing += cxr_fp_flushing();
        nthr += 1;
        blocked += omp_get_thread_num() != 0 && cxr_sigmask_async_blocked();
    }
    CHECK(nthr == 2);
    CHECK(flushing == 2);
    CHECK(cxr_fp_flushing());
    if (blocked != 1) fprintf(stderr, "%s: the OpenMP worker takes asynchronous signals\n", who);
    CHECK(blocked == 1);
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    CHECK(!sigismember(&cur, SIGINT)); /* Ctrl-C still reaches the calling thread */
    free(b), free(db), free(x), free(w), free(y), free(xd), free(wl), free(g), free(dx), free(dw);
    free(a), free(wd), free(o), free(bd), free(go), free(gi), free(gw), free(gb);
    free(p), free(m), free(v), free(gr);
}

static cxr_backend *shared_be;

static void *second_thread(void *arg)
{
    (void)arg;
    REQUIRE(!cxr_fp_flushing()); /* a new thread of the test: default MXCSR */
    run_ops(shared_be, "second thread");
    return NULL;
}

static void *first_thread(void *arg)
{
    (void)arg;
    REQUIRE(!cxr_fp_flushing());
    CHECK_OK(cxr_backend_cpu_create(&shared_be, 2));
    run_ops(shared_be, "creating thread");
    return NULL;
}

/* CXR_CPU_DENORMALS=keep: nothing is flushed, but every new thread's team still blocks
 * signals on its workers, also when the thread got the pthread_t of one that has ended
 * (glibc reuses them). */
static void *keep_thread(void *arg)
{
    cxr_backend *be = arg;
    const int IN = 64, OUT = 32;
    float *a = filled((size_t)NI * IN, 1.0f), *w = filled((size_t)OUT * IN, 0.5f);
    float *bias = filled(OUT, 0.0f), *o = filled((size_t)NI * OUT, 0.0f);
    /* a convolution first: on AVX2 it is ours, so the thread's pool starts outside oneDNN */
    const int C = 2, K = 4, H = 8, W = 8;
    float *x = filled((size_t)NI * C * H * W, 1.0f), *cw = filled((size_t)K * C * 9, 0.25f);
    float *cb = filled(K, 0.0f), *y = filled((size_t)NI * K * H * W, 0.0f);
    CHECK_OK(be->conv3x3_forward(be->ctx, y, x, cw, cb, NI, C, K, H, W));
    CHECK(y[(size_t)H * W / 2 + W / 2] == 4.5f); /* an inner pixel: 2 channels x 9 x 0.25 */
    CHECK_OK(be->dense_forward(be->ctx, o, a, w, bias, NI, IN, OUT));
    CHECK(o[0] == 32.0f);
    /* kept indeed: products of 1e-20 and 1e-20 (1e-40, subnormal) survive in a convolution and
     * a dense layer, which flush them to 0 otherwise (run_ops); no thread of the team flushes
     * (these checks could not fail before: the values above are normal) */
    float *ta = filled((size_t)NI * IN, 1e-20f), *tw = filled((size_t)OUT * IN, 1e-20f);
    CHECK_OK(be->dense_forward(be->ctx, o, ta, tw, bias, NI, IN, OUT));
    CHECK(!all_zero(o, (size_t)NI * OUT));
    float *tx = filled((size_t)NI * C * H * W, 1e-20f), *tcw = filled((size_t)K * C * 9, 1e-20f);
    CHECK_OK(be->conv3x3_forward(be->ctx, y, tx, tcw, cb, NI, C, K, H, W));
    CHECK(!all_zero(y, (size_t)NI * K * H * W));
    free(ta), free(tw), free(tx), free(tcw);
    free(x), free(cw), free(cb), free(y);
    int blocked = 0, nthr = 0, flushing = 0;
#pragma omp parallel num_threads(2) reduction(+ : blocked, nthr, flushing)
    {
        blocked += omp_get_thread_num() != 0 && cxr_sigmask_async_blocked();
        nthr += 1;
        flushing += cxr_fp_flushing();
    }
    CHECK(nthr == 2);
    CHECK(flushing == 0);
    if (blocked != 1) fprintf(stderr, "keep: the OpenMP worker takes asynchronous signals\n");
    CHECK(blocked == 1);
    free(a), free(w), free(bias), free(o);
    return NULL;
}

int main(void)
{
    if (!cxr_fp_mxcsr()) {
        printf("no MXCSR on this CPU: skipped\n");
        return CXR_SKIP_CODE;
    }
    /* the test's own threads start with the default MXCSR: the library must set the bits */
    REQUIRE(!cxr_fp_flushing());
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, first_thread, NULL) == 0);
    pthread_join(t, NULL);
    REQUIRE(pthread_create(&t, NULL, second_thread, NULL) == 0);
    pthread_join(t, NULL);
    cxr_backend_destroy(shared_be);

    setenv("CXR_CPU_DENORMALS", "keep", 1);
    cxr_backend *kb = NULL;
    CHECK_OK(cxr_backend_cpu_create(&kb, 2));
    for (int i = 0; i < 3; i++) {
        REQUIRE(pthread_create(&t, NULL, keep_thread, kb) == 0);
        pthread_join(t, NULL);
    }
    cxr_backend_destroy(kb);
    TEST_END();
}
