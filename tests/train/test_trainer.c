/* test_trainer.c: what cxr_train_run feeds the model, checked against the model and loader APIs
 * driven by hand. With --mixup, the first step's loss (a run of one step: its epoch's train loss)
 * is the mixed loss of the loader's first mixed batch (cxr_model_loss_backward_mixed), not the
 * unmixed loss of the same images: the trainer hands the batch's partners' labels and weights to
 * the loss; and the epoch's train loss weights each step by its batch's normaliser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cxr_checkpoint.h"
#include "cxr_loader.h"
#include "cxr_model.h"
#include "cxr_test.h"
#include "cxr_trainer.h"
#include "cxr_ops.h"
#include "runtime/loader_fixture.h"

enum { S = 16, SHARD = 8, NTRAIN = 24, NVAL = 8, BATCH = 8, SEED = 7 };
#define MIXUP 0.4f

static double epoch_loss = NAN;
static void on_epoch(void *user, const cxr_epoch_summary *s)
{
    (void)user;
    epoch_loss = s->train_loss;
}

/* The training loader cxr_train_run opens for these runs, at the start of epoch 0. */
static cxr_loader *epoch0_loader(cxr_store *st, float mixup)
{
    cxr_loader_options o;
    cxr_loader_options_defaults(&o);
    o.batch = BATCH;
    o.shuffle = 1;
    o.seed = SEED;
    o.threads = 1;
    o.mixup = mixup;
    cxr_loader *l = NULL;
    CHECK_OK(cxr_loader_create(&l, st, "train", &o));
    REQUIRE(l);
    CHECK_OK(cxr_loader_begin_epoch(l, 0));
    return l;
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
    cxr_loader *l = epoch0_loader(st, mixup);
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

/* cxr_evaluate's own refusals, which the tools' checks before it and the trainer's after it hid
 * (a mutation round: either dropped passed every test): a model of another image size is
 * refused before an image is read, and a raised interrupt flag stops the pass after a batch. */
static void check_evaluate_stops(cxr_store *st)
{
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 1));
    cxr_model_config c;
    cxr_model_config_defaults(&c, 2);
    c.image_size = 2 * S;
    c.batch_capacity = BATCH;
    c.seed = SEED;
    cxr_model *m;
    CHECK_OK(cxr_model_create(&m, &c, be));
    cxr_metrics *mt;
    CHECK_OK(cxr_metrics_create(&mt, 2));
    cxr_eval_result r;
    CHECK(cxr_evaluate(m, st, "train", BATCH, 1, 0, NULL, NULL, mt, &r) == CXR_E_MISMATCH);
    CHECK(strstr(cxr_last_error(), "the model expects") != NULL && cxr_metrics_count(mt) == 0);
    cxr_model_destroy(m);
    c.image_size = S;
    CHECK_OK(cxr_model_create(&m, &c, be));
    CHECK_OK(cxr_model_set_threads(m, 1));
    volatile sig_atomic_t stop = 1;
    CHECK(cxr_evaluate(m, st, "train", BATCH, 1, 0, NULL, &stop, mt, &r) == CXR_E_INTERRUPTED);
    CHECK(cxr_metrics_count(mt) == BATCH); /* of NTRAIN: the first batch, then the flag */
    cxr_metrics_destroy(mt);
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
}

/* `steps` steps of the study recipe (no augmentation) through cxr_train_run, each step's loss
 * logged to `log` (NULL: none); the epoch's train loss. */
static double run_steps(const char *store, float mixup, int steps, const char *log)
{
    cxr_train_options o;
    cxr_train_options_defaults(&o);
    o.recipe.name = "study";
    o.recipe.batch = BATCH;
    o.recipe.epochs = 1;
    o.recipe.max_steps = steps;
    o.recipe.seed = SEED;
    o.recipe.mixup = mixup;
    o.io.store_path = store;
    o.io.log_path = log;
    o.io.log_every = 1;
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

/* An interrupt (the flag SIGINT sets) raised while step `at` of `epoch` is reported: the run
 * stops after the step being done then. When that is the epoch's last step (progress is
 * reported one step late), the epoch is finished first: evaluated, logged and saved; else the
 * epoch is given up. Returns the epochs the on_epoch callback saw; *held: the checkpoint's. */
static volatile sig_atomic_t stop_flag;
static int64_t stop_at, epochs_seen;
static int stop_epoch;
static void on_progress_stop(void *user, const cxr_train_progress *p)
{
    (void)user;
    if (p->epoch == stop_epoch && p->step == stop_at) stop_flag = 1;
}
static void on_epoch_count(void *user, const cxr_epoch_summary *s)
{
    (void)user;
    (void)s;
    epochs_seen++;
}
/* ... of a run resumed from `resume` (NULL: a fresh run, ck removed first) into ck (NULL: none,
 * --no-checkpoint); *held: the epoch ck holds, else resume. */
static int64_t run_interrupted_from(const char *store, const char *resume, const char *ck,
                                    int epoch, int64_t at, int *held, char *msg, size_t cap)
{
    cxr_train_options o;
    cxr_train_options_defaults(&o);
    o.recipe.name = "study";
    o.recipe.batch = BATCH; /* NTRAIN / BATCH = 3 steps an epoch */
    o.recipe.epochs = 3;
    o.recipe.seed = SEED;
    o.io.store_path = store;
    o.io.resume_path = resume;
    o.io.checkpoint_path = ck;
    o.compute.threads = 1;
    o.compute.monitor = 0;
    o.cb.on_progress = on_progress_stop;
    o.cb.on_epoch = on_epoch_count;
    o.cb.interrupted = &stop_flag;
    stop_flag = 0, stop_at = at, stop_epoch = epoch, epochs_seen = 0;
    if (!resume) unlink(ck);
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 1));
    CHECK(cxr_train_run(&o, be) == CXR_E_INTERRUPTED);
    snprintf(msg, cap, "%s", cxr_last_error());
    cxr_backend_destroy(be);
    cxr_checkpoint_meta m;
    memset(&m, 0, sizeof m);
    const char *f = ck ? ck : resume;
    *held = access(f, F_OK) == 0 && cxr_checkpoint_read_meta(f, &m) == CXR_OK ? m.epoch : -1;
    cxr_checkpoint_meta_free(&m);
    return epochs_seen;
}
static int64_t run_interrupted(const char *store, const char *ck, int epoch, int64_t at, int *held,
                               char *msg, size_t cap)
{
    return run_interrupted_from(store, NULL, ck, epoch, at, held, msg, cap);
}

/* The epoch's train loss over three steps is the mean of the steps' losses (from the log's step
 * lines) weighted by each batch's normaliser, to the bit: with mixup, sum_i mix_i w[y_i] +
 * (1 - mix_i) w[y2_i] of the loader's batch (cxr_ops.h cxr_mix_weights), else sum_i w[y_i]. */
static void check_epoch_mean(const char *store, cxr_store *st, float mixup)
{
    enum { STEPS = 3 };
    char log[64];
    snprintf(log, sizeof log, "trainer_test_%d.jsonl", (int)getpid());
    unlink(log);
    const double epoch = run_steps(store, mixup, STEPS, log);
    double loss[STEPS];
    int n = 0;
    FILE *f = fopen(log, "r");
    REQUIRE(f);
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"type\":\"step\"") ? strstr(line, "\"loss\":") : NULL;
        if (p && n < STEPS) loss[n++] = strtod(p + 7, NULL);
    }
    fclose(f);
    unlink(log);
    REQUIRE(n == STEPS);
    cxr_loader *l = epoch0_loader(st, mixup);
    const float *cw = cxr_store_class_weights(st);
    double num = 0, den = 0, w_first = -1;
    int varies = 0;
    for (int k = 0; k < STEPS; k++) {
        cxr_batch b;
        CHECK_OK(cxr_loader_next_batch(l, &b));
        REQUIRE(b.n == BATCH && (b.mix != NULL) == (mixup > 0));
        double w = 0;
        for (int i = 0; i < b.n; i++) {
            double a = cw[b.labels[i]], c = 0;
            if (b.mix) cxr_mix_weights(b.mix[i], b.labels[i], b.labels2[i], cw, &a, &c);
            w += b.mix ? a + c : a;
        }
        if (k == 0) w_first = w;
        varies += w != w_first;
        num += (double)(float)loss[k] * w;
        den += w;
    }
    cxr_loader_destroy(l);
    printf("epoch mean over %d steps (mixup %g): run %.17g, from the log and the batches %.17g\n",
           STEPS, (double)mixup, epoch, num / den);
    CHECK(varies > 0); /* unequal weights: a plain mean would differ */
    CHECK(epoch == num / den);
}

/* A resume that writes no checkpoint (--no-checkpoint: checkpoint_path NULL), interrupted after
 * it trained an epoch: its message says the epoch is not kept and gives the command that goes
 * on from the resumed file, which still holds the epoch it started from (it said only "no
 * checkpoint is written", with no command). */
static void check_no_checkpoint_resume(const char *store, const char *ck)
{
    int held;
    char msg[4096], want[1024];
    /* ck holds epoch 1: flagged while step 1 of epoch 2 is reported, epoch 2 is given up */
    CHECK(run_interrupted(store, ck, 2, 1, &held, msg, sizeof msg) == 1 && held == 1);
    /* resumed with no checkpoint: epoch 2 done, epoch 3 given up; ck still holds epoch 1 */
    CHECK(run_interrupted_from(store, ck, NULL, 3, 1, &held, msg, sizeof msg) == 1 && held == 1);
    printf("no-checkpoint resume interrupted: %s\n", msg);
    snprintf(want, sizeof want,
             "epoch 2 is not kept (--no-checkpoint); %s holds epoch 1; go on with: cxr-train %s "
             "--resume %s --epochs 3 --no-checkpoint",
             ck, store, ck);
    CHECK(strstr(msg, want) != NULL);
}

/* cxr_evaluate_ensemble refuses a member made for other preprocessing than the store's before
 * any pass (a mutation round: without its own check it evaluated one, cxr-eval's checks before
 * the call hiding it): ck's parameters saved again with another equalization. */
static void check_ensemble_member_store(cxr_store *st, const char *ck)
{
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 1));
    cxr_model *m;
    cxr_checkpoint_meta meta;
    CHECK_OK(cxr_checkpoint_open_model(ck, be, BATCH, 1, &m, &meta));
    char other[96];
    snprintf(other, sizeof other, "%s.other.h5", ck);
    meta.pp.equalize =
        meta.pp.equalize == CXR_EQUALIZE_NONE ? CXR_EQUALIZE_GLOBAL : CXR_EQUALIZE_NONE;
    CHECK_OK(cxr_checkpoint_save_weights(other, m, &meta, 0));
    const char *paths[2] = { ck, other };
    cxr_ensemble_eval out;
    CHECK(cxr_evaluate_ensemble(paths, 2, be, st, "val", BATCH, 1, 0, NULL, NULL, 1, NULL, 0, NULL,
                                &out) == CXR_E_MISMATCH);
    CHECK(strstr(cxr_last_error(), "other preprocessing") != NULL);
    unlink(other);
    cxr_checkpoint_meta_free(&meta);
    cxr_model_destroy(m);
    cxr_backend_destroy(be);
}

/* The evaluation's progress (cxr_train_progress's eval fields): reported after the epoch's last
 * step, batch by batch, in the split's images up to all of them, and never while training. */
static struct {
    int calls, train_calls, bad;
    int64_t last_done;
} ev;
static void on_progress_eval(void *user, const cxr_train_progress *p)
{
    (void)user;
    if (p->eval_n == 0) { /* a training step's: no evaluation fields */
        ev.train_calls++;
        if (p->eval_split || p->eval_done || ev.calls) ev.bad++; /* (one epoch: none after) */
        return;
    }
    ev.calls++;
    if (!p->eval_split || strcmp(p->eval_split, "val") != 0 || p->eval_n != NVAL ||
        p->eval_done <= ev.last_done || p->eval_done > p->eval_n || p->step != p->steps ||
        !(p->eval_elapsed_s >= 0))
        ev.bad++;
    ev.last_done = p->eval_done;
}
static void check_eval_progress(const char *store)
{
    cxr_train_options o;
    cxr_train_options_defaults(&o);
    o.recipe.name = "study";
    o.recipe.batch = BATCH / 2; /* NVAL / (BATCH / 2) = 2 evaluation batches */
    o.recipe.epochs = 1;
    o.recipe.seed = SEED;
    o.io.store_path = store;
    o.compute.threads = 1;
    o.compute.monitor = 0;
    o.cb.on_progress = on_progress_eval;
    memset(&ev, 0, sizeof ev);
    cxr_backend *be;
    CHECK_OK(cxr_backend_cpu_create(&be, 1));
    CHECK_OK(cxr_train_run(&o, be));
    cxr_backend_destroy(be);
    printf("progress: %d training call(s), %d evaluation call(s), the last at %lld of %d\n",
           ev.train_calls, ev.calls, (long long)ev.last_done, NVAL);
    CHECK(ev.train_calls == NTRAIN / (BATCH / 2) && ev.calls == 2 && ev.last_done == NVAL);
    CHECK(ev.bad == 0);
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
    const double run_mixed = run_steps(path, MIXUP, 1, NULL),
                 run_plain = run_steps(path, 0, 1, NULL);
    printf("first step: run %.9g, by hand mixed %.9g (unmixed loss of the mixed images %.9g); "
           "without mixup: run %.9g, by hand %.9g\n",
           run_mixed, mixed, unmixed, run_plain, plain);
    CHECK((float)run_mixed == mixed);
    CHECK((float)run_plain == plain);
    check_epoch_mean(path, st, MIXUP);
    check_epoch_mean(path, st, 0);
    check_eval_progress(path);
    check_evaluate_stops(st);
    char ck[64], msg[4096];
    snprintf(ck, sizeof ck, "trainer_test_%d.ck.h5", (int)getpid());
    int held;
    /* flagged while step 2 is reported, after step 3, the last, was done: the epoch is kept */
    CHECK(run_interrupted(path, ck, 1, 2, &held, msg, sizeof msg) == 1 && held == 1);
    CHECK(strstr(msg, "interrupted before epoch 2") != NULL);
    printf("interrupt after the last step: %s\n", msg);
    /* flagged while step 3, the last, is reported, after the loop's last look at the flag: the
     * evaluation meets it, and the epoch is kept all the same (it was thrown away: "interrupted
     * while evaluating epoch 1") */
    CHECK(run_interrupted(path, ck, 1, 3, &held, msg, sizeof msg) == 1 && held == 1);
    CHECK(strstr(msg, "interrupted before epoch 2") != NULL);
    printf("interrupt in the evaluation: %s\n", msg);
    /* flagged while step 1 is reported, after step 2: the epoch is given up, nothing saved */
    CHECK(run_interrupted(path, ck, 1, 1, &held, msg, sizeof msg) == 0 && held == -1);
    CHECK(strstr(msg, "interrupted in epoch 1 after step 2") != NULL);
    printf("interrupt mid-epoch: %s\n", msg);
    /* ... after the run's last step: the run is complete, and says it was interrupted */
    CHECK(run_interrupted(path, ck, 3, 2, &held, msg, sizeof msg) == 3 && held == 3);
    CHECK(strstr(msg, "interrupted as the run's last epoch ended: it is complete") != NULL);
    check_no_checkpoint_resume(path, ck);
    check_ensemble_member_store(st, ck);
    unlink(ck);
    cxr_store_close(st);
    unlink(path);
    TEST_END();
}
