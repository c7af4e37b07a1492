/* test_gpu_step.c: whole training steps of the model graph (train/model.c) on the CUDA backend.
 *
 *   test_gpu_step [fp32|tf32|bf16]   against the CPU backend (step_check.h: small config, loss
 *       and every parameter gradient of step 1, the loss after an Adam step; dropout off and
 *       on, whose masks come from the same counter RNG, so a wrong mask shows as gradients off by
 *       whole terms), and two GPU runs of a step bit-identical. In bf16 also: after Adam, the
 *       dense weights' bf16 copy (rewritten by the Adam kernel) equals a fresh conversion.
 *   test_gpu_step digest PREC        three steps of the study's real shapes (256x256, batch
 *       64, then a short batch of 32) with Adam and dropout; prints a digest of the losses,
 *       parameters and gradients. tests/gpu/two_process.sh runs it twice: two processes must
 *       print the same digest (the convolution algorithms are chosen repeatably, conv.cu).
 * Exits 77 without a GPU. */
#include "rounding_backend.h"
#include "step_check.h"

/* After Adam, a bf16 step must read the weights' bf16 copy as Adam left it: the gradients of a
 * model whose copy was rewritten by Adam equal those after forcing a fresh conversion (the
 * parameters re-uploaded unchanged, which marks the copy stale). */
static void check_bf16_shadow(cxr_backend *gpu)
{
    cxr_model_config c;
    cxr_model *m = NULL;
    step_config(&c, CXR_PRECISION_BF16, 0.75f);
    CHECK_OK(cxr_model_create(&m, &c, gpu));
    const size_t np = cxr_model_n_params(m);
    const int N = c.batch_capacity, S = c.image_size;
    float *x = rand_host((size_t)N * S * S, 5, 1.0f), *g1 = malloc(np * 4), *g2 = malloc(np * 4);
    float *p = malloc(np * 4);
    int32_t lab[8];
    REQUIRE(N <= 8);
    for (int i = 0; i < N; i++) lab[i] = i % 3 != 1;
    REQUIRE(g1 && g2 && p);
    cxr_adam_params ap;
    cxr_adam_defaults(&ap);
    ap.lr = 1e-3f;
    step_once(m, x, lab, NULL, g1);   /* makes the copies */
    CHECK_OK(cxr_model_step(m, &ap)); /* rewrites them */
    const int64_t t = cxr_model_get_step(m);
    float l1 = step_once(m, x, lab, NULL, g1);
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_PARAMS, p));
    CHECK_OK(cxr_model_set_block(m, CXR_BLOCK_PARAMS, p)); /* same values, copies stale */
    cxr_model_set_step(m, t);                              /* same dropout masks */
    float l2 = step_once(m, x, lab, NULL, g2);
    validate("bf16 copy after adam = fresh conversion: loss (exact)", &l1, &l2, 1, 0.0, 0.0);
    validate("bf16 copy after adam = fresh conversion: grads (exact)", g1, g2, np, 0.0, 0.0);
    cxr_model_destroy(m);
    free(x), free(g1), free(g2), free(p);
}

/* Informative (never fails): how far the GPU's step is from the CPU step with the GPU's rounding
 * emulated both ways (rounding_backend.h), against its distance from the fp32 CPU: tells on the
 * first device run which rounding cuDNN/cuBLAS apply to tf32 inputs. */
static void report_rounding(cxr_backend *gpu, cxr_precision prec)
{
    cxr_model_config c;
    step_config(&c, prec, 1.0f);
    const int N = c.batch_capacity, S = c.image_size;
    float *x = rand_host((size_t)N * S * S, 99, 1.0f);
    int32_t lab[8];
    REQUIRE(N <= 8);
    for (int i = 0; i < N; i++) lab[i] = i % 4 == 1 || i % 4 == 2;
    float *g[4] = { NULL, NULL, NULL, NULL };
    const char *names[4] = { "gpu", "cpu fp32", "cpu truncated tf32", "cpu nearest tf32" };
    size_t np = 0;
    for (int k = 0; k < 4; k++) {
        cxr_backend *be = gpu;
        cxr_model *m = NULL;
        if (k == 1) CHECK_OK(cxr_backend_cpu_create(&be, 2));
        if (k >= 2) CHECK_OK(rounding_backend_create(&be, prec, k == 3, 2));
        CHECK_OK(cxr_model_create(&m, &c, be));
        np = cxr_model_n_params(m);
        g[k] = malloc(np * 4);
        REQUIRE(g[k]);
        step_once(m, x, lab, NULL, g[k]);
        cxr_model_destroy(m);
        if (be != gpu) cxr_backend_destroy(be);
    }
    for (int k = 1; k < 4; k++) {
        double d2 = 0, r2 = 0;
        for (size_t i = 0; i < np; i++) {
            const double d = (double)g[0][i] - g[k][i];
            d2 += d * d;
            r2 += (double)g[k][i] * g[k][i];
        }
        printf("rounding (%s): all gradients, |gpu - %s| / |%s| = %.3e\n", cxr_precision_name(prec),
               names[k], names[k], sqrt(d2 / r2));
    }
    for (int k = 0; k < 4; k++) free(g[k]);
    free(x);
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* Three steps at the study's shapes; prints "digest PREC <hex>" and the losses. */
static int digest(cxr_backend *gpu, cxr_precision prec)
{
    cxr_model_config c;
    cxr_model *m = NULL;
    cxr_model_config_defaults(&c, 2);
    CHECK_OK(cxr_model_create(&m, &c, gpu));
    const size_t np = cxr_model_n_params(m), img = (size_t)c.image_size * c.image_size;
    float *x = rand_host((size_t)(c.batch_capacity + 2) * img, 42, 1.0f), *buf = malloc(np * 4);
    int32_t lab[64];
    REQUIRE(buf && c.batch_capacity <= 64);
    for (int i = 0; i < c.batch_capacity; i++) lab[i] = i % 3 != 0;
    const float cw[2] = { 1.94f, 0.67f };
    cxr_adam_params ap;
    cxr_adam_defaults(&ap);
    ap.lr = 1e-4f;
    uint64_t h = 0xcbf29ce484222325ull;
    const int ns[3] = { c.batch_capacity, c.batch_capacity, c.batch_capacity / 2 };
    printf("digest %s losses", cxr_precision_name(prec));
    for (int s = 0; s < 3; s++) {
        float loss = 0;
        CHECK_OK(cxr_model_forward(m, x + (size_t)s * img, ns[s], 1)); /* other images each step */
        CHECK_OK(cxr_model_loss_backward(m, lab, cw, ns[s], &loss));
        CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_GRADS, buf));
        h = fnv1a(h, &loss, sizeof loss);
        h = fnv1a(h, buf, np * 4);
        CHECK_OK(cxr_model_step(m, &ap));
        printf(" %.9g", loss);
    }
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_PARAMS, buf));
    h = fnv1a(h, buf, np * 4);
    printf("\ndigest %s %016llx\n", cxr_precision_name(prec), (unsigned long long)h);
    cxr_model_destroy(m);
    free(x), free(buf);
    TEST_END();
}

static void print_line(void *user, const char *line)
{
    (void)user;
    printf("%s\n", line);
}

/* A model with an input scale (a [0, 255] store's) on x gives, on the GPU, the loss and every
 * gradient of the plain model on x * a + b, to the bit: the scale op rounds as the CPU's does and
 * the rest of the step is the same computation (specs/model.md "Input scale"). */
static void check_input_scale(cxr_backend *gpu, cxr_precision prec)
{
    cxr_model_config c, cs;
    step_config(&c, prec, 0.75f);
    cs = c;
    CHECK_OK(cxr_model_config_input_range(&cs, 0, 255));
    cxr_model *ms = NULL, *mp = NULL;
    CHECK_OK(cxr_model_create(&ms, &cs, gpu));
    CHECK_OK(cxr_model_create(&mp, &c, gpu));
    const int N = c.batch_capacity, S = c.image_size;
    const size_t n = (size_t)N * S * S, np = cxr_model_n_params(ms);
    float *x = rand_host(n, 17, 1.0f), *xs = malloc(n * 4), *gs = malloc(np * 4),
          *gp = malloc(np * 4);
    REQUIRE(xs && gs && gp);
    for (size_t i = 0; i < n; i++) {
        x[i] = x[i] * 127.5f + 127.5f;         /* the store's [0, 255] */
        const float t = x[i] * cs.input_scale; /* (no contraction: -ffp-contract=off) */
        xs[i] = t + cs.input_shift;
    }
    int32_t lab[8];
    REQUIRE(N <= 8);
    for (int i = 0; i < N; i++) lab[i] = i % 2;
    const float cw[2] = { 1.0f, 1.0f };
    float ls = step_once_mixed(ms, x, lab, NULL, NULL, cw, gs);
    float lp = step_once_mixed(mp, xs, lab, NULL, NULL, cw, gp);
    validate("input scale: loss (exact)", &ls, &lp, 1, 0.0, 0.0);
    validate("input scale: grads (exact)", gs, gp, np, 0.0, 0.0);
    free(x), free(xs), free(gs), free(gp);
    cxr_model_destroy(ms), cxr_model_destroy(mp);
}

int main(int argc, char **argv)
{
    cxr_precision prec = CXR_PRECISION_FP32;
    const int dig = argc > 1 && strcmp(argv[1], "digest") == 0;
    if (argc > 1 + dig && cxr_precision_parse(argv[1 + dig], &prec) != CXR_OK) {
        fprintf(stderr, "usage: test_gpu_step [digest] [fp32|tf32|bf16]\n");
        return 2;
    }
    cxr_backend *gpu = gpu_or_skip("gpu_step"), *cpu = NULL;
    CHECK_OK(cxr_backend_set_precision(gpu, prec));
    if (dig) return digest(gpu, prec); /* stdout: the digest only (compared as a string) */
    cxr_backend_cuda_set_log(gpu, print_line, NULL);
    CHECK_OK(cxr_backend_cpu_create(&cpu, 2));
    printf("gpu_step: precision %s\n", cxr_precision_name(prec));
    step_check(cpu, gpu, 1, prec, 1.0f, 1.0, 0);
    step_check(cpu, gpu, 1, prec, 0.75f, 1.0, 0);
    step_check(cpu, gpu, 1, prec, 0.75f, 1.0, 1); /* mixup's loss */
    check_input_scale(gpu, prec);
    if (prec != CXR_PRECISION_FP32) report_rounding(gpu, prec);
    if (prec == CXR_PRECISION_BF16) check_bf16_shadow(gpu);
    cxr_backend_destroy(cpu);
    cxr_backend_destroy(gpu);
    TEST_END();
}
