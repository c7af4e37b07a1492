/* test_gpu_step.c: whole training steps of the model graph (train/model.c) on the CUDA backend
 * against the CPU backend, small config (16x16 images, 4 images), from the same initial
 * parameters: the loss and every parameter gradient of step 1, then the loss after an Adam step;
 * once with dropout off and once on (the masks come from the same counter RNG, so they must
 * match: a wrong mask shows as gradients off by whole terms). Also: two GPU runs of the same
 * step give bit-identical gradients (determinism). Exits 77 without a GPU. */
#include "cxr_model.h"
#include "gpu_test.h"

static void config(cxr_model_config *c, float keep)
{
    cxr_model_config_defaults(c, 2);
    c->image_size = 16;
    c->channels[0] = 4, c->channels[1] = 8, c->channels[2] = 8, c->channels[3] = 16;
    c->dense[0] = 32, c->dense[1] = 16;
    c->batch_capacity = 4;
    c->keep_prob = keep;
    c->seed = 7;
}

/* one step on a model: forward, loss+backward; grads (n_params) into g; returns the loss */
static float step(cxr_model *m, const float *x, const int32_t *lab, const float *cw, float *g)
{
    float loss = 0;
    CHECK_OK(cxr_model_forward(m, x, 4, 1));
    CHECK_OK(cxr_model_loss_backward(m, lab, cw, 4, &loss));
    CHECK_OK(cxr_model_get_block(m, CXR_BLOCK_GRADS, g));
    return loss;
}

static void run(cxr_backend *cpu, cxr_backend *gpu, float keep)
{
    cxr_model_config c;
    cxr_model *mc = NULL, *mg = NULL, *mg2 = NULL;
    config(&c, keep);
    CHECK_OK(cxr_model_create(&mc, &c, cpu));
    CHECK_OK(cxr_model_create(&mg, &c, gpu));
    CHECK_OK(cxr_model_create(&mg2, &c, gpu));
    const size_t np = cxr_model_n_params(mc);
    float *x = rand_host(4 * 16 * 16, 99, 1.0f);
    const int32_t lab[4] = { 0, 1, 1, 0 };
    const float cw[2] = { 1.9f, 0.67f };
    float *gc = malloc(np * 4), *gg = malloc(np * 4), *gg2 = malloc(np * 4);
    float *pc = malloc(np * 4), *pg = malloc(np * 4);
    REQUIRE(gc && gg && gg2 && pc && pg);
    CHECK_OK(cxr_model_get_block(mc, CXR_BLOCK_PARAMS, pc));
    CHECK_OK(cxr_model_get_block(mg, CXR_BLOCK_PARAMS, pg));
    validate("initial params (exact)", pg, pc, np, 0.0, 0.0);

    float lc = step(mc, x, lab, cw, gc), lg = step(mg, x, lab, cw, gg);
    float lg2 = step(mg2, x, lab, cw, gg2);
    char what[96];
    snprintf(what, sizeof what, "step loss (keep %.2f)", keep);
    validate(what, &lg, &lc, 1, 0.0, 1e-5);
    /* per tensor: errors of ~1e-6 per layer accumulate over 9 layers and the backward chain;
     * atol relative to the tensor's largest gradient, rtol 1e-3 */
    for (int t = 0; t < CXR_MODEL_N_TENSORS; t++) {
        const cxr_tensor_info *ti = cxr_model_tensor(mc, t);
        const float *r = gc + ti->offset, *q = gg + ti->offset;
        snprintf(what, sizeof what, "grad %s (keep %.2f)", ti->name, keep);
        validate(what, q, r, ti->count, 1e-4 * amax(r, ti->count), 1e-3);
    }
    validate("gpu determinism: grads of two runs (exact)", gg2, gg, np, 0.0, 0.0);
    validate("gpu determinism: loss of two runs (exact)", &lg2, &lg, 1, 0.0, 0.0);

    /* an Adam step with a small lr (a gradient that is ~0 may flip sign between devices, which
     * moves that parameter by 2 lr), then the next step's loss */
    cxr_adam_params ap;
    cxr_adam_defaults(&ap);
    ap.lr = 1e-4f;
    CHECK_OK(cxr_model_step(mc, &ap));
    CHECK_OK(cxr_model_step(mg, &ap));
    lc = step(mc, x, lab, cw, gc);
    lg = step(mg, x, lab, cw, gg);
    snprintf(what, sizeof what, "loss after adam (keep %.2f)", keep);
    validate(what, &lg, &lc, 1, 0.0, 1e-3);

    cxr_model_destroy(mc);
    cxr_model_destroy(mg);
    cxr_model_destroy(mg2);
    free(x), free(gc), free(gg), free(gg2), free(pc), free(pg);
}

int main(void)
{
    cxr_backend *gpu = gpu_or_skip("gpu_step"), *cpu = NULL;
    CHECK_OK(cxr_backend_cpu_create(&cpu, 2));
    run(cpu, gpu, 1.0f);
    run(cpu, gpu, 0.75f);
    cxr_backend_destroy(cpu);
    cxr_backend_destroy(gpu);
    TEST_END();
}
