/* test_trainer.c: what cxr_train_run feeds the model, checked against the model and loader APIs
 * driven by hand. With --mixup, the first step's loss (a run of one step: its epoch's train loss)
 * is the mixed loss of the loader's first mixed batch (cxr_model_loss_backward_mixed), not the
 * unmixed loss of the same images: the trainer hands the batch's partners' labels and weights to
 * the loss. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cxr_loader.h"
#include "cxr_model.h"
#include "cxr_test.h"
#include "cxr_trainer.h"
#include "ops.h"
#include "runtime/loader_fixture.h"

enum { S = 16, SHARD = 8, NTRAIN = 24, NVAL = 8, BATCH = 8, SEED = 7 };
#define MIXUP 0.4f

static double epoch_loss = NAN;
static void on_epoch(void *user, const cxr_epoch_summary *s)
{
    (void)user;
    epoch_loss = s->train_loss;
}

/* The loss of the first training step by hand: the loader's batch 0 of epoch 0 (mixed when
 * mixup > 0), a fresh model of the run's seed, forward in training mode (dropout of step 0),
 * then the mixed loss (mixed = 1) or the plain loss of the same images (mixed = 0). */
static float first_step_loss(cxr_store *st, float mixup, int mixed)
{
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 1));
    cxr_model_config c;
    cxr_model_config_defaults(&c, 2);
    c.image_size = S;
    c.batch_capacity = BATCH;
    c.seed = SEED;
    cxr_model *m;
    CHECK_OK(cxr_model_create(&m, &c, be));
    CHECK_OK(cxr_model_set_threads(m, 1));
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = BATCH;
    o.shuffle = 1;
    o.seed = SEED;
    o.threads = 1;
    o.mixup = mixup;
    cxr_loader *l;
    CHECK_OK(cxr_loader_create(&l, st, "train", &o));
    CHECK_OK(cxr_loader_begin_epoch(l, 0));
    cxr_batch b;
    CHECK_OK(cxr_loader_next_batch(l, &b));
    REQUIRE(b.n == BATCH);
    float loss = NAN;
    CHECK_OK(cxr_model_forward(m, b.images, b.n, 1));
    const float *cw = cxr_store_class_weights(st);
    if (mixed)
        CHECK_OK(cxr_model_loss_backward_mixed(m, b.labels, b.labels2, b.mix, cw, b.n, &loss));
    else
        CHECK_OK(cxr_model_loss_backward(m, b.labels, cw, b.n, &loss));
    cxr_loader_destroy(l);
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
    return loss;
}

/* One step of the study recipe (no augmentation) through cxr_train_run; its train loss. */
static double run_one_step(const char *store, float mixup)
{
    cxr_train_options o;
    cxr_train_options_defaults(&o);
    o.recipe.name = "study";
    o.recipe.batch = BATCH;
    o.recipe.epochs = 1;
    o.recipe.max_steps = 1;
    o.recipe.seed = SEED;
    o.recipe.mixup = mixup;
    o.io.store_path = store;
    o.compute.threads = 1;
    o.compute.monitor = 0;
    o.cb.on_epoch = on_epoch;
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 1));
    epoch_loss = NAN;
    CHECK_OK(cxr_train_run(&o, be));
    cxr_backend_destroy(be);
    return epoch_loss;
}

int main(void)
{
    (void)fixture_corrupt_copy; /* the fixture header's other helper */
    char path[64];
    snprintf(path, sizeof path, "trainer_test_%d.h5", (int)getpid());
    CHECK_OK(fixture_store(path, S, SHARD, NTRAIN, NVAL, 0, 3));
    cxr_store *st;
    CHECK_OK(cxr_store_open(&st, path));
    const float mixed = first_step_loss(st, MIXUP, 1), unmixed = first_step_loss(st, MIXUP, 0);
    const float plain = first_step_loss(st, 0, 0);
    /* the check can tell the two apart */
    CHECK(isfinite(mixed) && fabsf(mixed - unmixed) > 1e-3f * fabsf(mixed));
    const double run_mixed = run_one_step(path, MIXUP), run_plain = run_one_step(path, 0);
    printf("first step: run %.9g, by hand mixed %.9g (unmixed loss of the mixed images %.9g); "
           "without mixup: run %.9g, by hand %.9g\n",
           run_mixed, mixed, unmixed, run_plain, plain);
    CHECK((float)run_mixed == mixed);
    CHECK((float)run_plain == plain);
    cxr_store_close(st);
    unlink(path);
    TEST_END();
}
