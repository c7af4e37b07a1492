/* test_model.c: the whole graph on reduced configurations (CPU backend).
 *  1. gradient check end to end: image side 16 (pools reach 2x2), channels {2,3,4,3}, dense
 *     {5,6}, 3 classes, class weights, dropout ON with its masks fixed (same step): every
 *     parameter's analytic gradient against a central difference of the weighted loss
 *     (step 1e-3, threshold 1e-3 * max(|a|,|b|,1));
 *  2. overfitting: 8 noise images of side 32, 2 classes, dropout off, Adam lr 1e-3 must reach
 *     100% training accuracy within 150 steps;
 *  3. determinism: same seed -> bit-identical losses over 4 steps with dropout; another seed
 *     -> different losses; the parameter block after the steps is identical too;
 *  4. API checks: tensor layout, block round trip, config and label errors;
 *  5. the fused CPU ops give the same losses and parameters, to the bit, as the separate ops
 *     the graph uses when a backend does not provide the fused slots.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_augment.h"
#include "cxr_model.h"
#include "cxr_test.h"
#include "cxr_trainer.h"
#include "rng.h"

static void noise(float *x, size_t n, uint64_t seed)
{
    uint64_t k = cxr_rng_key(seed, 99, 0);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * cxr_rng_uniform(k, i) - 1.0f;
}

static void small_config(cxr_model_config *c, int S, int n_classes, int batch)
{
    cxr_model_config_defaults(c, n_classes);
    c->image_size = S;
    c->batch_capacity = batch;
}

static double loss_at(cxr_model *m, const float *x, const int32_t *y, const float *cw, int n)
{
    float l;
    CHECK_OK(cxr_model_forward(m, x, n, 1));
    CHECK_OK(cxr_model_loss_backward(m, y, cw, n, &l));
    return l;
}

static void test_gradcheck(cxr_backend *be, int head)
{
    cxr_model_config c;
    small_config(&c, 16, 3, 2);
    c.head = head;
    c.channels[0] = 2, c.channels[1] = 3, c.channels[2] = 4, c.channels[3] = 3;
    c.dense[0] = 5, c.dense[1] = 6;
    c.seed = 11;
    cxr_model *m;
    CHECK_OK(cxr_model_create(&m, &c, be));
    const int n = 2;
    float x[2 * 16 * 16];
    noise(x, sizeof x / 4, 3);
    int32_t y[2] = { 2, 0 };
    float cw[3] = { 0.7f, 1.0f, 2.5f };
    const size_t P = cxr_model_n_params(m);
    float *p = malloc(P * 4), *g = malloc(P * 4);
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_PARAMS, p));
    double l0 = loss_at(m, x, y, cw, n);
    CHECK(isfinite(l0) && l0 > 0);
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_GRADS, g));
    const float h = 1e-3f;
    int checked = 0, bad = 0, kinked = 0;
    for (int t = 0; t < CXR_MODEL_N_TENSORS; t++) {
        const cxr_tensor_info *ti = cxr_model_tensor(m, t);
        for (size_t j = 0; j < ti->count; j++) {
            size_t i = ti->offset + j;
            float s = p[i];
            p[i] = s + h;
            CHECK_OK(cxr_model_set_block(m, CXR_BLOCK_PARAMS, p));
            double lp = loss_at(m, x, y, cw, n);
            p[i] = s - h;
            CHECK_OK(cxr_model_set_block(m, CXR_BLOCK_PARAMS, p));
            double lm = loss_at(m, x, y, cw, n);
            p[i] = s;
            double num = (lp - lm) / (2.0 * h), a = g[i];
            double tol = 1e-3 * fmax(fmax(fabs(a), fabs(num)), 1.0);
            /* A leaky-ReLU or max-pool kink crossed inside [s-h, s+h] bends the loss: for a
             * piecewise-linear bend the central difference is off by exactly
             * (L+ - 2 L0 + L-) / 2h. Skip (and count) the parameters where that bend could
             * exceed a quarter of the tolerance, as Caffe's checker skips its kinks. */
            if (fabs(lp - 2.0 * l0 + lm) / (2.0 * h) > 0.25 * tol) {
                kinked++;
                continue;
            }
            checked++;
            if (!(fabs(a - num) <= tol)) {
                if (bad++ < 10)
                    fprintf(stderr, "%s[%zu]: analytic %.7g numeric %.7g\n", ti->name, j, a, num);
            }
        }
    }
    fprintf(stderr,
            "end-to-end gradient check, head %s: %d parameters checked, %d mismatches, %d skipped "
            "at a kink, loss %.6f\n",
            cxr_model_head_name(head), checked, bad, kinked, l0);
    /* dense1 reads the flattened 3 x 2 x 2 map, or its 3 channel means */
    CHECK(cxr_model_tensor(m, CXR_TENSOR_DENSE1_W)->shape[1] == (head == CXR_HEAD_GAP ? 3 : 12));
    CHECK(bad == 0);
    CHECK(kinked * 20 < checked + kinked); /* under 5% of the parameters */
    /* the gradient of the conv1 bias cannot be all zero (the signal reaches the first layer) */
    const cxr_tensor_info *b1 = cxr_model_tensor(m, CXR_TENSOR_CONV1_B);
    double s = 0;
    for (size_t j = 0; j < b1->count; j++) s += fabs(g[b1->offset + j]);
    CHECK(s > 0);
    free(p), free(g);
    cxr_model_destroy(m);
}

/* Head gap on a backend without the average pool: refused at creation, naming both; the
 * names parse both ways, and an unknown head is refused. */
static void test_head_refused(cxr_backend *be)
{
    cxr_backend bare = *be;
    bare.global_avgpool_forward = NULL;
    cxr_model_config c;
    small_config(&c, 16, 2, 2);
    c.head = CXR_HEAD_GAP;
    cxr_model *m = NULL;
    CHECK(cxr_model_create(&m, &c, &bare) == CXR_E_UNSUPPORTED && m == NULL);
    CHECK(strstr(cxr_last_error(), "head gap") && strstr(cxr_last_error(), be->name));
    c.head = 2;
    CHECK(cxr_model_config_check(&c) == CXR_E_ARG);
    int h = -1;
    CHECK_OK(cxr_model_head_parse("gap", &h));
    CHECK(h == CXR_HEAD_GAP && !strcmp(cxr_model_head_name(h), "gap"));
    CHECK_OK(cxr_model_head_parse("flatten", &h));
    CHECK(h == CXR_HEAD_FLATTEN && !strcmp(cxr_model_head_name(h), "flatten"));
    CHECK(cxr_model_head_parse("Gap", &h) == CXR_E_ARG && strstr(cxr_last_error(), "Gap"));
}

/* A backend's limit on one tensor's elements (cuda: cuDNN's 2^31 - 1; its 4-D descriptors
 * refused conv2's output of 1024 x 32 x 256 x 256 at the first forward) refuses the batch at
 * creation, naming the largest that fits. At S = 16 the largest activation of one image is
 * conv2's 32 x 16 x 16 = 8192 elements. */
static void test_tensor_limit(cxr_backend *be)
{
    cxr_backend lim = *be;
    lim.max_tensor_elems = 8192 * 3;
    cxr_model_config c;
    small_config(&c, 16, 2, 3);
    cxr_model *m = NULL;
    CHECK_OK(cxr_model_create(&m, &c, &lim));
    cxr_model_destroy(m);
    m = NULL;
    c.batch_capacity = 4;
    CHECK(cxr_model_create(&m, &c, &lim) == CXR_E_ARG && m == NULL);
    CHECK(strstr(cxr_last_error(), "batch 4: a batch's largest activation would hold 32768 "
                                   "elements") &&
          strstr(cxr_last_error(), "at most 3 images per batch at image size 16"));
    CHECK(cxr_model_create_inference(&m, &c, &lim) == CXR_E_ARG && m == NULL);
    /* the input pool's raw image never reaches the limited op: 128 px pooled by 8 runs the
     * 16 px model's activations (the raw 128 x 128 = 16384 per image was counted, refusing
     * the batch) */
    c.image_size = 128;
    c.input_pool = 8;
    c.batch_capacity = 3;
    lim.max_tensor_elems = 8192 * 3;
    CHECK_OK(cxr_model_create(&m, &c, &lim));
    cxr_model_destroy(m);
    m = NULL;
    c.image_size = 64;
    c.input_pool = 1;
    lim.max_tensor_elems = 32 * 64 * 64 * 3 - 1; /* not even one batch of 3 at 64 px ... */
    CHECK(cxr_model_create(&m, &c, &lim) == CXR_E_ARG &&
          strstr(cxr_last_error(), "at most 2 images"));
    lim.max_tensor_elems = 1000; /* ... nor one image: not "at most 0 images" */
    CHECK(cxr_model_create(&m, &c, &lim) == CXR_E_ARG && m == NULL);
    CHECK(strstr(cxr_last_error(), "image size 64: one image's largest activation would hold "
                                   "131072 elements") &&
          !strstr(cxr_last_error(), "at most 0"));
}

/* A backend with a reserve op is told the fused path's map at creation (cuda: so that the GPU
 * loader's --resident auto leaves it free; it is allocated only at the first step): conv2's
 * output is the largest, batch x 32 x S x S floats. */
static size_t reserved;
static void record_reserve(void *ctx, size_t bytes)
{
    (void)ctx;
    reserved = bytes;
}
static void test_reserve(cxr_backend *be)
{
    cxr_backend r = *be;
    r.reserve = record_reserve;
    cxr_model_config c;
    small_config(&c, 16, 2, 3);
    cxr_model *m = NULL;
    reserved = 1;
    CHECK_OK(cxr_model_create(&m, &c, &r));
    CHECK(reserved == (be->conv3x3_lrelu_pool_forward && be->maxpool2_lrelu_backward
                           ? (size_t)3 * 32 * 16 * 16 * sizeof(float)
                           : 0));
    cxr_model_destroy(m);
}

/* One training forward and backward of ma on xa and of mb on xb (n images, labels y): the same
 * loss (returned) and the same gradients, to the bit. */
static float same_step(cxr_model *ma, const float *xa, cxr_model *mb, const float *xb,
                       const int32_t *y, int n)
{
    float la, lb;
    CHECK_OK(cxr_model_forward(ma, xa, n, 1));
    CHECK_OK(cxr_model_loss_backward(ma, y, NULL, n, &la));
    CHECK_OK(cxr_model_forward(mb, xb, n, 1));
    CHECK_OK(cxr_model_loss_backward(mb, y, NULL, n, &lb));
    CHECK(la == lb);
    const size_t P = cxr_model_n_params(ma);
    REQUIRE(P == cxr_model_n_params(mb));
    float *ga = malloc(P * 4), *gb = malloc(P * 4);
    REQUIRE(ga && gb);
    CHECK_OK(cxr_model_get_block(ma, CXR_BLOCK_GRADS, ga));
    CHECK_OK(cxr_model_get_block(mb, CXR_BLOCK_GRADS, gb));
    CHECK(memcmp(ga, gb, P * 4) == 0);
    free(ga), free(gb);
    return la;
}

/* input_pool k: a model on S x S images equals, to the bit, the same weights on the images'
 * k x k means (S/k), in the forward and in every gradient (conv1's input is the pooled view);
 * a bad pool or size is refused. */
static void test_input_pool(cxr_backend *be)
{
    enum { N = 3, S = 32, K = 4, SP = S / K };
    cxr_model_config a, b;
    small_config(&a, S, 2, N);
    a.input_pool = K;
    a.seed = 5;
    small_config(&b, SP, 2, N);
    b.seed = 5;
    cxr_model *ma, *mb;
    CHECK_OK(cxr_model_create(&ma, &a, be));
    CHECK_OK(cxr_model_create(&mb, &b, be));
    REQUIRE(cxr_model_n_params(ma) == cxr_model_n_params(mb));
    float x[N * S * S], xp[N * SP * SP];
    noise(x, N * S * S, 9);
    for (int i = 0; i < N; i++)
        for (int r = 0; r < SP; r++)
            for (int c = 0; c < SP; c++) {
                double s = 0;
                for (int u = 0; u < K; u++)
                    for (int v = 0; v < K; v++) s += x[(i * S + r * K + u) * S + c * K + v];
                xp[(i * SP + r) * SP + c] = (float)(s / (K * K));
            }
    int32_t y[N] = { 0, 1, 1 };
    const float la = same_step(ma, x, mb, xp, y, N);
    fprintf(stderr, "input pool %d on %dx%d: loss %.7g, the same as on the %dx%d means\n", K, S, S,
            la, SP, SP);
    cxr_model_destroy(ma), cxr_model_destroy(mb);
    cxr_backend bare = *be; /* a backend without the op: refused at creation, named */
    bare.avgpool_forward = NULL;
    cxr_model *none = NULL;
    CHECK(cxr_model_create(&none, &a, &bare) == CXR_E_UNSUPPORTED && none == NULL);
    CHECK(strstr(cxr_last_error(), "input_pool 4") != NULL);
    a.input_pool = 3;
    CHECK(cxr_model_config_check(&a) == CXR_E_ARG);
    a.input_pool = 8; /* 32 is not a multiple of 64 */
    CHECK(cxr_model_config_check(&a) == CXR_E_ARG);
}

/* An input scale (a, b): the model on x equals, to the bit, the same weights on x * a + b (one
 * rounding after the product, one after the sum), in the forward and in every gradient, also
 * after an input pool (pooled first, then scaled); the range helper gives [0, 255] -> [-1, 1]
 * and [-1, 1] itself exactly; bounds and a backend without the op are refused. */
static void test_input_scale(cxr_backend *be)
{
    enum { N = 3, S = 32, K = 2, SP = S / K };
    for (int pool = 0; pool < 2; pool++) {
        const int side = pool ? SP : S;
        cxr_model_config a, b;
        small_config(&a, S, 2, N);
        a.seed = 6;
        CHECK_OK(cxr_model_config_input_range(&a, 0, 255));
        a.input_pool = pool ? K : 1;
        small_config(&b, side, 2, N);
        b.seed = 6;
        cxr_model *ma, *mb;
        CHECK_OK(cxr_model_create(&ma, &a, be));
        CHECK_OK(cxr_model_create(&mb, &b, be));
        float x[N * S * S], xs[N * S * S];
        noise(x, N * S * S, 11);
        for (int i = 0; i < N * S * S; i++) x[i] = (x[i] + 1.0f) * 127.5f;
        for (int i = 0; i < N; i++)
            for (int r = 0; r < side; r++)
                for (int c = 0; c < side; c++) {
                    double s = 0;
                    const int k = pool ? K : 1;
                    for (int u = 0; u < k; u++)
                        for (int v = 0; v < k; v++) s += x[(i * S + r * k + u) * S + c * k + v];
                    const float m = (float)(s / (k * k)), t = m * a.input_scale;
                    xs[(i * side + r) * side + c] = t + a.input_shift;
                }
        int32_t y[N] = { 1, 0, 1 };
        const float la = same_step(ma, x, mb, xs, y, N);
        /* the input is left as it was given: a second forward of the model's own input (the
         * loader's path, x NULL) scales it again from the original, not twice */
        float lb;
        CHECK_OK(cxr_model_forward(ma, NULL, N, 1));
        CHECK_OK(cxr_model_loss_backward(ma, y, NULL, N, &lb));
        CHECK(la == lb);
        fprintf(stderr, "input scale %.9g %+g%s: loss %.7g, the same as on the scaled images\n",
                a.input_scale, a.input_shift, pool ? " after an input pool of 2" : "", la);
        cxr_model_destroy(ma), cxr_model_destroy(mb);
    }
    cxr_model_config c;
    small_config(&c, S, 2, N);
    CHECK(cxr_model_config_input_plain(&c));
    CHECK_OK(cxr_model_config_input_range(&c, -1, 1));
    CHECK(c.input_scale == 1.0f && c.input_shift == 0.0f && cxr_model_config_input_plain(&c));
    CHECK_OK(cxr_model_config_input_range(&c, 0, 255));
    CHECK(c.input_scale == (float)(2.0 / 255.0) && c.input_shift == -1.0f &&
          !cxr_model_config_input_plain(&c));
    CHECK(cxr_model_config_input_range(&c, 1, 1) == CXR_E_ARG);
    CHECK(cxr_model_config_input_range(&c, 0, INFINITY) == CXR_E_ARG);
    CHECK(cxr_model_config_input_range(&c, NAN, 1) == CXR_E_ARG);
    CHECK(c.input_scale == (float)(2.0 / 255.0)); /* a refusal changes nothing */
    cxr_backend bare = *be; /* a backend without the op: refused at creation, named */
    bare.scale_shift = NULL;
    cxr_model *none = NULL;
    CHECK(cxr_model_create(&none, &c, &bare) == CXR_E_UNSUPPORTED && none == NULL);
    CHECK(strstr(cxr_last_error(), "input scale") && strstr(cxr_last_error(), "cpu backend"));
    c.input_scale = 1.0f, c.input_shift = 0.0f; /* ... but a plain model needs no such op */
    CHECK_OK(cxr_model_create(&none, &c, &bare));
    cxr_model_destroy(none);
    static const float bad[][2] = { { 0.0f, 0.0f },     { -1.0f, 0.0f },   { 0x1p-21f, 0.0f },
                                    { 0x1p21f, 0.0f },  { NAN, 0.0f },     { 1.0f, NAN },
                                    { 1.0f, INFINITY }, { 1.0f, -0x1p21f } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        c.input_scale = bad[i][0], c.input_shift = bad[i][1];
        CHECK(cxr_model_config_check(&c) == CXR_E_ARG);
    }
    c.input_scale = 0x1p-20f, c.input_shift = -0x1p20f; /* the bounds themselves are taken */
    CHECK_OK(cxr_model_config_check(&c));
    c.input_scale = 0x1p20f, c.input_shift = 0x1p20f;
    CHECK_OK(cxr_model_config_check(&c));
}

static void test_overfit(cxr_backend *be)
{
    cxr_model_config c;
    const int n = 8, S = 32;
    small_config(&c, S, 2, n);
    c.channels[0] = 4, c.channels[1] = 8, c.channels[2] = 8, c.channels[3] = 16;
    c.dense[0] = 32, c.dense[1] = 32;
    c.keep_prob = 1.0f;
    c.seed = 3;
    cxr_model *m;
    CHECK_OK(cxr_model_create(&m, &c, be));
    float *x = malloc((size_t)n * S * S * 4), probs[16];
    noise(x, (size_t)n * S * S, 8);
    int32_t y[8] = { 0, 1, 1, 0, 1, 0, 0, 1 };
    cxr_adam_params ap;
    cxr_adam_defaults(&ap);
    ap.lr = 1e-3f;
    int step, acc = 0;
    float loss = 0;
    for (step = 1; step <= 150; step++) {
        CHECK_OK(cxr_model_forward(m, x, n, 1));
        CHECK_OK(cxr_model_loss_backward(m, y, NULL, n, &loss));
        CHECK_OK(cxr_model_step(m, &ap));
        CHECK_OK(cxr_model_forward(m, x, n, 0));
        CHECK_OK(cxr_model_probs(m, probs, n));
        acc = 0;
        for (int i = 0; i < n; i++) acc += (probs[2 * i + 1] > probs[2 * i]) == (y[i] == 1);
        if (acc == n) break;
    }
    fprintf(stderr, "overfit: %d/%d correct after %d steps (last loss %.4f)\n", acc, n, step, loss);
    CHECK(acc == n);
    CHECK(cxr_model_get_step(m) == step);
    free(x);
    cxr_model_destroy(m);
}

/* Test-time augmentation: the mean of the probabilities over transforms 0..tta-1 of
 * cxr_augment_tta_xform, each applied to every image (computed here by hand). */
static void test_tta(cxr_backend *be)
{
    cxr_model_config c;
    const int n = 3, S = 32;
    small_config(&c, S, 2, n);
    c.channels[0] = 4, c.channels[1] = 8, c.channels[2] = 8, c.channels[3] = 8;
    c.dense[0] = 16, c.dense[1] = 16;
    c.seed = 5;
    cxr_model *m;
    CHECK_OK(cxr_model_create(&m, &c, be));
    float *x = malloc((size_t)n * S * S * 4), *xt = malloc((size_t)n * S * S * 4);
    REQUIRE(x && xt);
    noise(x, (size_t)n * S * S, 21);
    float got[6], p[6];
    /* 2 views too (a count of 2 returning the plain pass passed with 4 alone), and all 8 */
    static const int counts[] = { 2, 4, CXR_TTA_MAX };
    for (size_t k = 0; k < sizeof counts / sizeof *counts; k++) {
        const int tta = counts[k];
        double want[6] = { 0 };
        CHECK_OK(cxr_model_probs_tta(m, x, n, tta, got));
        for (int t = 0; t < tta; t++) {
            cxr_augment_xform xf;
            cxr_augment_tta_xform(t, S, &xf);
            for (int i = 0; i < n; i++)
                cxr_augment_apply(&xf, x + (size_t)i * S * S, xt + (size_t)i * S * S, S);
            CHECK_OK(cxr_model_forward(m, xt, n, 0));
            CHECK_OK(cxr_model_probs(m, p, n));
            for (int i = 0; i < 2 * n; i++) want[i] += p[i] / (double)tta;
        }
        for (int i = 0; i < 2 * n; i++) CHECK_CLOSE(got[i], want[i], 1e-6, 0);
    }
    /* 1..CXR_TTA_MAX, all the table holds, or CXR_E_ARG (0 divided the sum by 0, and the
     * table's bound was checked only through cxr-predict --tta 8: a mutation round) */
    CHECK_OK(cxr_model_probs_tta(m, x, n, CXR_TTA_MAX, got));
    CHECK(cxr_model_probs_tta(m, x, n, 0, got) == CXR_E_ARG);
    CHECK(cxr_model_probs_tta(m, x, n, CXR_TTA_MAX + 1, got) == CXR_E_ARG);
    free(x);
    free(xt);
    cxr_model_destroy(m);
}

static void run_steps(cxr_backend *be, uint64_t seed, float *losses, int steps, float *params_out)
{
    cxr_model_config c;
    const int n = 4, S = 32;
    small_config(&c, S, 3, n);
    c.channels[0] = 4, c.channels[1] = 8, c.channels[2] = 8, c.channels[3] = 8;
    c.dense[0] = 16, c.dense[1] = 16;
    c.seed = seed; /* dropout on (keep 0.75) */
    cxr_model *m;
    CHECK_OK(cxr_model_create(&m, &c, be));
    float x[4 * 32 * 32];
    noise(x, sizeof x / 4, 77);
    int32_t y[4] = { 0, 1, 2, 1 };
    float cw[3] = { 1.0f, 0.5f, 2.0f };
    cxr_adam_params ap;
    cxr_adam_defaults(&ap);
    ap.lr = 1e-3f;
    for (int s = 0; s < steps; s++) {
        CHECK_OK(cxr_model_forward(m, x, n, 1));
        CHECK_OK(cxr_model_loss_backward(m, y, cw, n, &losses[s]));
        CHECK_OK(cxr_model_step(m, &ap));
    }
    if (params_out) CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_PARAMS, params_out));
    cxr_model_destroy(m);
}

static void test_determinism(cxr_backend *be)
{
    float a[4], b[4], d[4];
    run_steps(be, 5, a, 4, NULL);
    run_steps(be, 5, b, 4, NULL);
    run_steps(be, 6, d, 4, NULL);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, d, sizeof a) != 0);
    for (int i = 0; i < 4; i++)
        fprintf(stderr, "step %d: seed 5 %.9g / %.9g, seed 6 %.9g\n", i, a[i], b[i], d[i]);
    /* losses vary step to step (new masks, new weights) */
    CHECK(a[0] != a[1]);
}

static void set_classes_1(cxr_model_config *c) { c->n_classes = 1; }
static void set_alpha_0(cxr_model_config *c) { c->alpha = 0.0f; }
static void set_alpha_1(cxr_model_config *c) { c->alpha = 1.0f; }
static void set_batch_65537(cxr_model_config *c) { c->batch_capacity = 65537; }
static void set_channels_4097(cxr_model_config *c) { c->channels[3] = 4097; }

static void test_api(cxr_backend *be)
{
    cxr_model_config c;
    small_config(&c, 16, 2, 2);
    cxr_model *m = NULL;
    c.image_size = 20;
    CHECK(cxr_model_create(&m, &c, be) == CXR_E_ARG && m == NULL);
    c.image_size = 16;
    c.keep_prob = 0.0f;
    CHECK(cxr_model_create(&m, &c, be) == CXR_E_ARG);
    c.keep_prob = 0.75f;
    CHECK_OK(cxr_model_create(&m, &c, be));
    /* layout: tensors in order, disjoint, inside the block */
    size_t end = 0;
    for (int t = 0; t < CXR_MODEL_N_TENSORS; t++) {
        const cxr_tensor_info *ti = cxr_model_tensor(m, t);
        size_t cnt = 1;
        for (int d = 0; d < ti->ndim; d++) cnt *= (size_t)ti->shape[d];
        CHECK(cnt == ti->count);
        CHECK(ti->offset >= end);
        end = ti->offset + ti->count;
    }
    CHECK(end <= cxr_model_n_params(m));
    /* and each on a 16-float (64-byte) boundary (specs/model.md), also where the sizes are not
     * multiples of 16 (above, all but the last are) */
    cxr_model_config odd = c;
    odd.channels[0] = 2, odd.channels[1] = 3, odd.channels[2] = 4, odd.channels[3] = 3;
    odd.dense[0] = 5, odd.dense[1] = 6;
    cxr_tensor_info lt[CXR_MODEL_N_TENSORS];
    const size_t lnp = cxr_model_layout(&odd, lt);
    for (int t = 0; t < CXR_MODEL_N_TENSORS; t++)
        CHECK(lt[t].offset % 16 == 0 && lt[t].offset + lt[t].count <= lnp);
    CHECK(cxr_model_tensor(m, CXR_MODEL_N_TENSORS) == NULL);
    const cxr_tensor_info *d1 = cxr_model_tensor(m, CXR_TENSOR_DENSE1_W);
    CHECK(strcmp(d1->name, "dense1.w") == 0 && d1->shape[0] == 512 && d1->shape[1] == 128 * 2 * 2);
    /* init: bounded by the Kaiming-uniform bound, biases zero */
    size_t P = cxr_model_n_params(m);
    float *p = malloc(P * 4), *q = malloc(P * 4);
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_PARAMS, p));
    const cxr_tensor_info *w2 = cxr_model_tensor(m, CXR_TENSOR_CONV2_W),
                          *bb = cxr_model_tensor(m, CXR_TENSOR_CONV2_B);
    float bound = sqrtf(2.0f / 1.25f) * sqrtf(3.0f / (16 * 9)), mx = 0;
    for (size_t j = 0; j < w2->count; j++) mx = fmaxf(mx, fabsf(p[w2->offset + j]));
    CHECK(mx <= bound && mx > 0.9f * bound);
    for (size_t j = 0; j < bb->count; j++) CHECK(p[bb->offset + j] == 0.0f);
    /* block round trip */
    for (size_t i = 0; i < P; i++) p[i] = (float)i * 1e-6f;
    CHECK_OK(cxr_model_set_block(m, CXR_BLOCK_ADAM_V, p));
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_ADAM_V, q));
    CHECK(memcmp(p, q, P * 4) == 0);
    /* bad labels and n */
    float x[2 * 16 * 16] = { 0 };
    int32_t bad[2] = { 0, 2 };
    CHECK(cxr_model_forward(m, x, 3, 1) == CXR_E_ARG);
    CHECK_OK(cxr_model_forward(m, x, 2, 1));
    CHECK(cxr_model_loss_backward(m, bad, NULL, 2, NULL) == CXR_E_MISMATCH);
    CHECK(strstr(cxr_last_error(), "label 2") != NULL);
    /* a backward of another n than the last forward's; a class weight of 0 is allowed (a class
     * absent from train), a negative one is not; smoothing must stay below 1 */
    int32_t good[2] = { 0, 1 };
    CHECK(cxr_model_loss_backward(m, good, NULL, 1, NULL) == CXR_E_ARG);
    const float cw0[2] = { 0.0f, 1.0f }, cwn[2] = { -1.0f, 1.0f };
    CHECK_OK(cxr_model_loss_backward(m, good, cw0, 2, NULL));
    CHECK_OK(cxr_model_forward(m, x, 2, 1));
    CHECK(cxr_model_loss_backward(m, good, cwn, 2, NULL) == CXR_E_ARG);
    CHECK(cxr_model_set_label_smoothing(m, 1.0f) == CXR_E_ARG);
    CHECK_OK(cxr_model_set_label_smoothing(m, 0.5f));
    free(p), free(q);
    cxr_model_destroy(m);
    /* an inference-only model cannot train */
    CHECK_OK(cxr_model_create_inference(&m, &c, be));
    CHECK_OK(cxr_model_forward(m, x, 2, 0));
    CHECK(cxr_model_loss_backward(m, good, NULL, 2, NULL) == CXR_E_ARG);
    cxr_model_destroy(m);
    /* the configuration's bounds, each on its own */
    struct {
        const char *what;
        void (*set)(cxr_model_config *);
        int ok;
    } bounds[] = {
        { "1 class", set_classes_1, 0 },
        { "alpha 0", set_alpha_0, 0 },
        { "alpha 1", set_alpha_1, 1 },
        { "batch 65537", set_batch_65537, 0 },
        { "4097 channels", set_channels_4097, 0 },
    };
    for (size_t i = 0; i < sizeof bounds / sizeof *bounds; i++) {
        cxr_model_config b = c;
        bounds[i].set(&b);
        const cxr_status st = cxr_model_config_check(&b);
        if ((st == CXR_OK) != bounds[i].ok) {
            fprintf(stderr, "config %s: %s\n", bounds[i].what, cxr_status_name(st));
            cxr_test_failures++;
        }
    }
}

/* The fused CPU ops (conv+leaky ReLU+pool forward, pool+leaky ReLU backward) against the
 * separate ops the graph falls back to when a backend leaves the fused slots NULL: same losses
 * and same parameters after 4 steps with dropout, to the bit. */
static void test_fused_equals_separate(cxr_backend *be)
{
    CHECK(be->conv3x3_lrelu_pool_forward != NULL && be->maxpool2_lrelu_backward != NULL);
    cxr_backend sep = *be;
    sep.conv3x3_lrelu_pool_forward = NULL;
    sep.maxpool2_lrelu_backward = NULL;
    cxr_model_config c;
    cxr_model *m;
    small_config(&c, 32, 3, 4);
    c.channels[0] = 4, c.channels[1] = 8, c.channels[2] = 8, c.channels[3] = 8;
    c.dense[0] = 16, c.dense[1] = 16;
    CHECK_OK(cxr_model_create(&m, &c, be));
    const size_t P = cxr_model_n_params(m), act_fused = cxr_model_activation_bytes(m);
    cxr_model_destroy(m);
    CHECK_OK(cxr_model_create(&m, &c, &sep));
    CHECK(cxr_model_activation_bytes(m) > act_fused); /* a2, a3, a4 are not stored when fused */
    cxr_model_destroy(m);
    float lf[4], ls[4];
    float *pf = malloc(P * 4), *ps = malloc(P * 4);
    run_steps(be, 5, lf, 4, pf);
    run_steps(&sep, 5, ls, 4, ps);
    CHECK(memcmp(lf, ls, sizeof lf) == 0);
    CHECK(memcmp(pf, ps, P * 4) == 0);
    for (int i = 0; i < 4; i++)
        fprintf(stderr, "step %d: fused %.9g separate %.9g\n", i, lf[i], ls[i]);
    free(pf), free(ps);
}

/* A step's results read one step late (cxr_model_results_queue / _wait, the trainer's way):
 * the loss and probabilities equal those read at once, to the bit, with the backend's
 * asynchronous slots and without them (the synchronous fallback). */
static void test_results_late(cxr_backend *be)
{
    cxr_backend plain = *be;
    plain.host_alloc = NULL, plain.host_free = NULL;
    plain.download_async = NULL, plain.fence_mark = NULL, plain.fence_wait = NULL;
    cxr_backend *bes[2] = { be, &plain };
    for (int k = 0; k < 2; k++) {
        cxr_model_config c;
        cxr_model *m;
        enum { n = 4, S = 32, C = 3, STEPS = 4 };
        small_config(&c, S, C, n);
        c.channels[0] = 4, c.channels[1] = 8, c.channels[2] = 8, c.channels[3] = 8;
        c.dense[0] = 16, c.dense[1] = 16;
        CHECK_OK(cxr_model_create(&m, &c, bes[k]));
        float x[n * S * S], loss[STEPS], probs[STEPS][n * C];
        noise(x, sizeof x / 4, 31);
        int32_t y[n] = { 0, 2, 1, 2 };
        cxr_adam_params ap;
        cxr_adam_defaults(&ap);
        ap.lr = 1e-3f;
        int same = 1;
        for (int s = 0; s <= STEPS; s++) {
            if (s < STEPS) {
                CHECK_OK(cxr_model_forward(m, x, n, 1));
                CHECK_OK(cxr_model_loss_backward(m, y, NULL, n, &loss[s]));
                CHECK_OK(cxr_model_probs(m, probs[s], n));
                CHECK_OK(cxr_model_results_queue(m, s % CXR_MODEL_RESULT_SLOTS, n));
                CHECK_OK(cxr_model_step(m, &ap));
            }
            if (s == 0) continue;
            float l;
            const float *p;
            CHECK_OK(cxr_model_results_wait(m, (s - 1) % CXR_MODEL_RESULT_SLOTS, &l, &p));
            same &= memcmp(&l, &loss[s - 1], sizeof l) == 0;
            same &= memcmp(p, probs[s - 1], sizeof probs[0]) == 0;
        }
        CHECK(same);
        CHECK(cxr_model_results_queue(m, CXR_MODEL_RESULT_SLOTS, n) == CXR_E_ARG);
        CHECK(cxr_model_results_queue(m, 0, n + 1) == CXR_E_ARG);
        fprintf(stderr, "results late (%s): %s\n", k ? "no async slots" : "async slots",
                same ? "same bits" : "DIFFER");
        cxr_model_destroy(m);
    }
}

/* cxr_model_loss_backward_mixed: every mix 1 is the unmixed loss (the same value) and the
 * partner's label counts (a mix of 0.5 between two classes is not either label's loss);
 * bad mixes and partner labels are refused before anything runs. */
static void test_mixed_loss(cxr_backend *be)
{
    cxr_model_config c;
    small_config(&c, 16, 2, 4);
    c.channels[0] = 2, c.channels[1] = 3, c.channels[2] = 4, c.channels[3] = 3;
    c.dense[0] = 5, c.dense[1] = 6;
    c.seed = 5;
    cxr_model *m;
    CHECK_OK(cxr_model_create(&m, &c, be));
    enum { N = 4 };
    float x[N * 16 * 16];
    noise(x, sizeof x / 4, 8);
    const int32_t y[N] = { 0, 1, 1, 0 }, y2[N] = { 0, 1, 0, 1 }, bad_y2[N] = { 0, 2, 0, 1 };
    const float cw[2] = { 1.5f, 0.6f }, ones[N] = { 1, 1, 1, 1 }, half[N] = { 1, 1, 0.5f, 0.5f };
    const float bad_mix[N] = { 1, 1, -0.5f, 1 };
    float plain, all1, mixed, other;
    CHECK_OK(cxr_model_forward(m, x, N, 0));
    CHECK_OK(cxr_model_loss_backward(m, y, cw, N, &plain));
    CHECK_OK(cxr_model_loss_backward_mixed(m, y, y2, ones, cw, N, &all1));
    CHECK(plain == all1);
    CHECK_OK(cxr_model_loss_backward_mixed(m, y, y2, half, cw, N, &mixed));
    CHECK_OK(cxr_model_loss_backward(m, y2, cw, N, &other));
    CHECK(mixed != plain && mixed != other && isfinite(mixed));
    CHECK(cxr_model_loss_backward_mixed(m, y, y2, bad_mix, cw, N, NULL) == CXR_E_ARG);
    CHECK(cxr_model_loss_backward_mixed(m, y, bad_y2, half, cw, N, NULL) == CXR_E_MISMATCH);
    CHECK(cxr_model_loss_backward_mixed(m, y, NULL, half, cw, N, NULL) == CXR_E_ARG);
    cxr_model_destroy(m);
}

int main(void)
{
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 2));
    test_api(be);
    test_gradcheck(be, CXR_HEAD_FLATTEN);
    test_gradcheck(be, CXR_HEAD_GAP);
    test_head_refused(be);
    test_tensor_limit(be);
    test_reserve(be);
    test_input_pool(be);
    test_input_scale(be);
    test_overfit(be);
    test_tta(be);
    test_determinism(be);
    test_fused_equals_separate(be);
    test_results_late(be);
    test_mixed_loss(be);
    cxr_backend_destroy(be);
    TEST_END();
}
