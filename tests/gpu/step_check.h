/* step_check.h: one whole training step of the model graph (train/model.c) on a backend under
 * test against the CPU reference, small config (16x16 images, 4 images), from the same initial
 * parameters: the loss and every parameter gradient of step 1, then the loss after an Adam
 * step. Used by test_gpu_step.c (the CUDA backend) and test_tolerance_model.c (a CPU backend
 * that rounds like the GPU's tf32/bf16 inputs, to show the tolerances below hold that error). */
#ifndef CXR_STEP_CHECK_H
#define CXR_STEP_CHECK_H
#include "cxr_model.h"
#include "gpu_test.h"

/* tf32/bf16 whole-step tolerances (below) */
#define STEP_LOSS_RTOL 1.2e-2
#define STEP_GRAD_RTOL 0.1


/* The step's config: fp32 16x16 images, 4 of them; tf32 and bf16 64x64, 8 of them (enough
 * elements that one flipped max-pool choice, see below, moves a tensor's norm by ~1%). */
static inline void step_config(cxr_model_config *c, cxr_precision p, float keep)
{
    cxr_model_config_defaults(c, 2);
    c->image_size = p == CXR_PRECISION_FP32 ? 16 : 64;
    c->channels[0] = 4, c->channels[1] = 8, c->channels[2] = 8, c->channels[3] = 16;
    c->dense[0] = 32, c->dense[1] = 16;
    c->batch_capacity = p == CXR_PRECISION_FP32 ? 4 : 8;
    c->keep_prob = keep;
    c->seed = 7;
}

/* Whole-step tolerances (specs/gpu.md "Tolerances"). fp32: the summation order alone, per
 * element: atol 1e-4 max|g|, rtol 1e-3. tf32 and bf16: each convolution (tf32 in both) and
 * dense GEMM rounds its inputs, which also flips max-pool choices and leaky-ReLU signs between
 * near-equal values and so moves single gradient elements by O(1): the gradients are compared
 * norm-wise, ||d|| <= grad_rtol ||g|| per tensor. The figures are twice the worst error that
 * test_tolerance_model.c measures with the GPU's rounding emulated on the CPU (it checks that
 * the emulation stays within half of them). */
typedef struct {
    double loss_rtol; /* step-1 loss */
    double grad_atol; /* fp32: times the tensor's max |gradient|; 0: norm-wise */
    double grad_rtol; /* fp32: per element; tf32/bf16: relative L2 error of the tensor */
    double adam_rtol; /* loss after an Adam step */
} step_tolerance;

static inline step_tolerance step_tolerance_of(cxr_precision p)
{
    if (p == CXR_PRECISION_FP32) return (step_tolerance){ 1e-5, 1e-4, 1e-3, 1e-3 };
    return (step_tolerance){ STEP_LOSS_RTOL, 0.0, STEP_GRAD_RTOL, STEP_LOSS_RTOL };
}

/* one step on a model: forward, loss+backward (mixup's when mix != NULL); grads (n_params)
 * into g; returns the loss */
static inline float step_once_mixed(cxr_model *m, const float *x, const int32_t *lab,
                                    const int32_t *lab2, const float *mix, const float *cw,
                                    float *g)
{
    float loss = 0;
    const int n = cxr_model_get_config(m)->batch_capacity;
    CHECK_OK(cxr_model_forward(m, x, n, 1));
    CHECK_OK(cxr_model_loss_backward_mixed(m, lab, lab2, mix, cw, n, &loss));
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_GRADS, g));
    return loss;
}

static inline float step_once(cxr_model *m, const float *x, const int32_t *lab, const float *cw,
                              float *g)
{
    return step_once_mixed(m, x, lab, NULL, NULL, cw, g);
}

/* Step 1 on ref and tst from the same initial parameters, compared with the tolerances of
 * precision p times `scale`; then an Adam step (lr 1e-4: a gradient that is ~0 may flip sign
 * between backends, which moves that parameter by 2 lr) and the next loss. With tst2 (another
 * model on tst's backend, or NULL) the two runs of tst must agree to the bit. mixed: the
 * loss is mixup's (partners' labels and weights as a mixed batch carries them). Failures are
 * counted (cxr_test_failures); returns the worst diff/tolerance seen. */
static inline double step_check(cxr_backend *ref, cxr_backend *tst, int determinism,
                                cxr_precision p, float keep, double scale, int mixed)
{
    cxr_model_config c;
    cxr_model *mr = NULL, *mt = NULL, *mt2 = NULL;
    const step_tolerance tol = step_tolerance_of(p);
    double worst = 0;
    step_config(&c, p, keep);
    const int N = c.batch_capacity, S = c.image_size;
    CHECK_OK(cxr_model_create(&mr, &c, ref));
    CHECK_OK(cxr_model_create(&mt, &c, tst));
    if (determinism) CHECK_OK(cxr_model_create(&mt2, &c, tst));
    const size_t np = cxr_model_n_params(mr);
    float *x = rand_host((size_t)N * S * S, 99, 1.0f);
    int32_t lab[8], lab2[8];
    float mixv[8];
    REQUIRE(N <= 8);
    for (int i = 0; i < N; i++) lab[i] = i % 4 == 1 || i % 4 == 2;
    for (int i = 0; i < N; i++) lab2[i] = lab[N - 1 - i], mixv[i] = 0.2f + 0.1f * (float)i;
    const int32_t *l2 = mixed ? lab2 : NULL;
    const float *mx = mixed ? mixv : NULL;
    const float cw[2] = { 1.9f, 0.67f };
    float *gr = malloc(np * 4), *gt = malloc(np * 4), *gt2 = malloc(np * 4);
    float *pr = malloc(np * 4), *pt = malloc(np * 4);
    REQUIRE(gr && gt && gt2 && pr && pt);
    CHECK_OK(cxr_model_get_block(mr, CXR_BLOCK_PARAMS, pr));
    CHECK_OK(cxr_model_get_block(mt, CXR_BLOCK_PARAMS, pt));
    validate("initial params (exact)", pt, pr, np, 0.0, 0.0);

    float lr = step_once_mixed(mr, x, lab, l2, mx, cw, gr);
    float lt = step_once_mixed(mt, x, lab, l2, mx, cw, gt);
    char what[96];
    snprintf(what, sizeof what, "%s step loss (keep %.2f%s)", cxr_precision_name(p), keep,
             mixed ? ", mixup" : "");
    validate(what, &lt, &lr, 1, 0.0, scale * tol.loss_rtol);
    worst = fmax(worst, validate_worst);
    for (int t = 0; t < CXR_MODEL_N_TENSORS; t++) {
        const cxr_tensor_info *ti = cxr_model_tensor(mr, t);
        const float *r = gr + ti->offset, *q = gt + ti->offset;
        snprintf(what, sizeof what, "%s grad %s (keep %.2f)", cxr_precision_name(p), ti->name,
                 keep);
        if (tol.grad_atol > 0)
            validate(what, q, r, ti->count, scale * tol.grad_atol * amax(r, ti->count),
                     scale * tol.grad_rtol);
        else
            validate_norm(what, q, r, ti->count, scale * tol.grad_rtol);
        worst = fmax(worst, validate_worst);
    }
    if (determinism) {
        float lt2 = step_once_mixed(mt2, x, lab, l2, mx, cw, gt2);
        validate("determinism: grads of two runs (exact)", gt2, gt, np, 0.0, 0.0);
        validate("determinism: loss of two runs (exact)", &lt2, &lt, 1, 0.0, 0.0);
    }

    cxr_adam_params ap;
    cxr_adam_defaults(&ap);
    ap.lr = 1e-4f;
    CHECK_OK(cxr_model_step(mr, &ap));
    CHECK_OK(cxr_model_step(mt, &ap));
    lr = step_once_mixed(mr, x, lab, l2, mx, cw, gr);
    lt = step_once_mixed(mt, x, lab, l2, mx, cw, gt);
    snprintf(what, sizeof what, "%s loss after adam (keep %.2f)", cxr_precision_name(p), keep);
    validate(what, &lt, &lr, 1, 0.0, scale * tol.adam_rtol);
    worst = fmax(worst, validate_worst);

    cxr_model_destroy(mr);
    cxr_model_destroy(mt);
    cxr_model_destroy(mt2);
    free(x), free(gr), free(gt), free(gt2), free(pr), free(pt);
    return worst;
}
#endif
