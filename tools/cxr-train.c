/* cxr-train: train the study's CNN on a cxr store. A thin front end over train/cxr_trainer.h:
 * parse options, pick the device, install the SIGINT handler, show progress, map the result
 * to an exit code. Its model files (checks, the default name, one run per model) are in
 * train_files.c. */
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <unistd.h>

#include "cxr_signals.h"
#include "cxr_augment.h"
#include "cxr_backend_cpu.h"
#include "cxr_backend_cuda.h"
#include "cxr_checkpoint.h"
#include "cxr_clock.h"
#include "cxr_files.h"
#include "cxr_parse.h"
#include "cxr_cuda.h"
#include "cxr_tmpfile.h"
#include "cxr_trainer.h"
#include "train_files.h"


#define USAGE "usage: cxr-train STORE.h5 [options]"

static void usage(FILE *f, const cxr_train_options *d)
{
    int n_recipes;
    const cxr_train_recipe *recipes = cxr_train_recipes(&n_recipes), *r = &recipes[0];
    fprintf(
        f,
        USAGE
        "\n"
        "\n"
        "Train the CNN of specs/model.md on STORE's /train split, evaluating after every epoch on "
        "/val\n"
        "(or /test when /val is missing or empty). Images come from the shard loader (mmap + "
        "raw chunk\n"
        "decode on worker threads, shuffled per epoch from (seed, epoch)).\n"
        "\n"
        "Options:\n"
        "  --device D          auto (default), cpu or cuda[:N]. auto takes the GPU when the build "
        "has\n"
        "                      CUDA and a GPU answers, else the CPU, and says which on stderr.\n"
        "  --recipe R          named settings (default %s); options given explicitly win:\n",
        r->name);
    for (int i = 0; i < n_recipes; i++)
        fprintf(f, "                        %-10s %s\n", recipes[i].name, recipes[i].about);
    fprintf(
        f,
        "  --epochs N          epochs to train in total (default %d; on --resume, the "
        "checkpoint's)\n"
        "  --batch N           images per step (default %d)\n"
        "  --lr F              Adam learning rate (default %g; the study's 0.01 diverges with "
        "this\n"
        "                      network at 256x256, see specs/model.md \"Learning rate\")\n"
        "  --schedule S        learning rate over the run: constant, cosine (to 0 at the end) or "
        "step\n"
        "                      (x0.1 every third of the steps, counted after the warmup)\n"
        "                      (default: the recipe's)\n"
        "  --warmup-steps N    steps of linear warmup to --lr (default: the recipe's; also "
        "--warmup)\n"
        "  --lr-step-epochs N  step schedule: decay every N epochs (default: a third of the "
        "steps)\n"
        "  --lr-gamma F        step schedule: the factor of each decay (default 0.1)\n"
        "  --weight-decay F    AdamW's decoupled weight decay (0: plain Adam; default: the "
        "recipe's)\n"
        "  --label-smoothing F\n"
        "                      the loss's targets: 1-F on the label plus F/C on every class, F\n"
        "                      in [0,1) (0: none; default: the recipe's)\n"
        "  --mixup A           train on pairs of images of a batch mixed with a weight drawn\n"
        "                      from Beta(A, A), their losses weighted alike; A in [0, 4] (0:\n"
        "                      none; default: the recipe's; specs/model.md \"Mixup\")\n"
        "  --head H            what dense1 reads of conv4's pooled map: flatten (the study's,\n"
        "                      all of it) or gap (each channel's mean)\n"
        "                      (default: the recipe's; specs/model.md \"Head\")\n"
        "  --input-pool K      the network reads the image's KxK means (K = 1, 2, 4, 8): a\n"
        "                      S/K view of the store's SxS images (default 1; specs/model.md\n"
        "                      \"Input pool\")\n"
        "  --select M          keep the best epoch's model by val_auc, val_loss or\n"
        "                      val_balanced_accuracy (binary: at the threshold chosen on val) in\n"
        "                      MODEL.best.h5 beside the checkpoint; none: no selection (default: "
        "the\n"
        "                      recipe's). On /val only: refused when STORE's /val is missing\n"
        "                      or empty, or (AUC, balanced accuracy) holds one class\n"
        "  --patience N        stop after N epochs without a better --select metric (0: never;\n"
        "                      default: the recipe's); may be changed on --resume\n"
        "  --average-from E    weight averaging: from epoch E on, the mean of the epoch-end\n"
        "                      weights is evaluated, selected and saved as the model (0: off;\n"
        "                      default: the recipe's; specs/model.md \"Weight averaging\")\n"
        "  --shuffle-window W  the training order: each epoch the shards are shuffled and the\n"
        "                      images within windows of W shards: split (the whole split, up to\n"
        "                      2 GiB of images; windows of 512 MiB beyond), a number, or auto\n"
        "                      (default; split on a run of at most %d epochs' steps where the\n"
        "                      memory allows, else the shards holding 256 images, 1 to 4; a\n"
        "                      resume keeps the checkpoint's; specs/model.md \"Training order\")\n"
        "  --augment A         train-time augmentation of /train images, drawn from (seed, epoch,\n"
        "                      image): none, default (rotate=10,scale=0.9:1.1,translate=0.08,\n"
        "                      brightness=0.1,contrast=0.1,hflip=0), or key=value,... changing\n"
        "                      none (\"default,KEY=V\" changes default): rotate=DEG, "
        "scale=MIN:MAX,\n"
        "                      translate=FRACTION, brightness=F, contrast=F, hflip=0|1,\n"
        "                      aspect=MIN:MAX (width/height stretch, log-uniform; off in "
        "default),\n"
        "                      detail=MIN:MAX (gain of the detail under 4 px, log-uniform; off\n"
        "                      in default), border=MIN:MAX (outer band hidden, a fraction of\n"
        "                      the side; off in default), erase=MIN:MAX (a rectangle of that\n"
        "                      area fraction set to noise, with probability erase_p=P, 0.5\n"
        "                      unless given; off in default)\n"
        "                      (specs/model.md \"Augmentation\"; default: the recipe's). GPU: the\n"
        "                      loader streams (--resident on is refused)\n"
        "  --seed N            seed of initialisation, dropout, shuffling and augmentation "
        "(default %d)\n"
        "  --threads N         CPU threads for the ops and loader workers (default: "
        "OMP_NUM_THREADS\n"
        "                      if set, else the cores available; %d here). The CPU backend's ops\n"
        "                      run on at most 256 of them (its device line says how many)\n"
        "  --log FILE.jsonl    training log, one JSON line per epoch (specs/log.md); appended on\n"
        "                      --resume. An existing FILE that is no training log (a model, a\n"
        "                      .gz, cxr-eval's JSON) is refused, untouched; so is one another\n"
        "                      run is writing; an earlier log is replaced (said on stderr) at\n"
        "                      the first epoch line, the run writing beside it until then\n"
        "                      (follow the log by name: tail -F). Without it no log is kept\n"
        "                      (the epoch lines go to stderr only)\n"
        "  --log-every N       also a `step` line in the log after every N-th optimizer step\n"
        "                      (step, epoch, loss, lr, img/s; default 0: none). Steps count over\n"
        "                      the whole run, so a resume logs the same steps\n"
        "  --checkpoint FILE   HDF5 checkpoint written at the end of every epoch (temp file +\n"
        "                      rename: the previous one stays valid until the new one is\n"
        "                      complete). Default: the --resume file (not a *.best.h5: give one),\n"
        "                      else STORE-stem.model.h5\n"
        "                      beside STORE (numbered .model-N.h5 rather than replacing one or\n"
        "                      its .best.h5; in the current folder when STORE's is read-only),\n"
        "                      said on stderr; the name is reserved at the start (a line saying\n"
        "                      whose, until the first save), so runs started together take\n"
        "                      different ones (one a killed run of this user left on this\n"
        "                      machine is taken over). One run per model: a run whose model\n"
        "                      (given or resumed) another run is writing is refused (2)\n"
        "  --no-checkpoint     save no model\n"
        "  --resume FILE       continue from a checkpoint: same results to the bit as an\n"
        "                      uninterrupted run (same device, --precision, --threads and\n"
        "                      CPU knobs: another kernel path than the log's is warned of);\n"
        "                      batch, seed, lr,\n"
        "                      schedule, warmup, weight decay, label smoothing, augmentation,\n"
        "                      selection metric and its best so far, weight averaging and its\n"
        "                      mean so far come from the checkpoint (giving different ones,\n"
        "                      also through --recipe, is an error); another store, --threads\n"
        "                      or --precision is warned about, another --max-steps refused\n"
        "                      if it changes an epoch's steps (the epochs done would not\n"
        "                      match), else noted\n"
        "  --no-prefetch       load batches synchronously in the training thread (for comparison)\n"
        "  --monitor-log FILE  resource samples (CPU, RSS, GPU) about every second, JSON Lines\n"
        "                      (--resume appends; refused as --log is: another kind of file, or\n"
        "                      one another run is writing)\n"
        "  --no-monitor        do not sample resources (no `monitor` object in the log; not with\n"
        "                      --monitor-log)\n"
        "  --max-steps N       at most N steps per epoch (quick tests)\n"
        "  --precision P       GPU arithmetic of convolutions and GEMMs: fp32 (default, exact), "
        "tf32\n"
        "                      or bf16 (dense GEMMs in bf16, convolutions tf32; specs/gpu.md).\n"
        "                      CPU: fp32, or bf16 on CPUs with AVX512-BF16/AMX in a oneDNN build\n"
        "                      (refused elsewhere, with the reason; specs/model.md)\n"
        "  --resident M        GPU loader: auto (default: the whole split in device memory when "
        "it\n"
        "                      fits), on, or off (streamed through pinned buffers); a CPU run\n"
        "                      ignores it, with a note\n"
        "  -q, --quiet         no progress bar, epoch lines, device line or no-log note; notes\n"
        "                      on the run's files (where the model goes, a log replaced, a\n"
        "                      resume, the best epoch, done), warnings and errors still print\n"
        "  -h, --help          this help;  --version  the version\n"
        "\n"
        "With a /val split, each epoch chooses the decision threshold on val (binary: the best\n"
        "balanced accuracy, ties to the one closest to 0.5) and stores it in the checkpoint, "
        "where\n"
        "cxr-eval and cxr-predict find it.\n"
        "\n"
        "Output: on a terminal a progress bar on stderr (loss, accuracy, img/s, ETA; then the\n"
        "evaluation's images done), else one line per epoch, and within an epoch one a minute.\n"
        "SIGINT (Ctrl-C), SIGTERM or SIGHUP stops after the current step (after the\n"
        "epoch's evaluation and saves when that step was its last, or when the signal came in\n"
        "that evaluation); the last complete checkpoint stays valid, and the message gives the\n"
        "command that goes on. A second signal kills the program; the temporary it\n"
        "leaves (.FILE.cxr-tmp-PID-...) is removed by a later run that writes FILE once it is 15\n"
        "minutes unwritten, and said by one that finds it younger. A signal ignored when\n"
        "cxr-train starts (SIGHUP under nohup) stays ignored.\n"
        "\n"
        "Exit codes: 0 ok; 2 usage error; 3 bad input data (store of another format version, "
        "missing\n"
        "dataset, labels out of range, corrupted chunk, checkpoint that does not match the "
        "model,\n"
        "an existing --log or --monitor-log that is no such log);\n"
        "4 I/O error; 5 device error (built without CUDA, no usable GPU, CUDA failure); 130\n"
        "interrupted; 1 other errors (e.g. training diverged).\n",
        r->epochs, r->batch, r->lr, CXR_TRAIN_SHORT_RUN_EPOCHS, CXR_TRAIN_DEFAULT_SEED,
        d->compute.threads);
}

/* "a, b or c": the recipe names, for an error message. */
static void recipe_names(char *buf, size_t cap)
{
    int n;
    const cxr_train_recipe *r = cxr_train_recipes(&n);
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s",
                                i == 0       ? ""
                                : i == n - 1 ? " or "
                                             : ", ",
                                r[i].name);
}

typedef struct {
    int tty, quiet;
    const cxr_train_options *o; /* for ui_ready */
    int default_ck;             /* the checkpoint is cxr-train's default name, to be said */
    int bar; /* a progress bar is on the terminal's last line: cleared before other output */
    double last_draw; /* off a terminal: the last heartbeat's time (the start, before any) */
    double every_s;   /* off a terminal: a heartbeat within an epoch at most this often (60) */
} ui_state;

static void ui_progress(void *user, const cxr_train_progress *p)
{
    ui_state *ui = user;
    if (ui->quiet) return;
    double t = cxr_now_s();
    const int evaluating = p->eval_n > 0 && p->eval_done < p->eval_n;
    if (!ui->tty) { /* one line an epoch (ui_epoch), and within a long one a heartbeat */
        if (t - ui->last_draw < ui->every_s || (p->step >= p->steps && !evaluating)) return;
        ui->last_draw = t;
        if (evaluating)
            fprintf(stderr, "cxr-train: epoch %d/%d: %s %lld/%lld evaluated, %.1f s\n", p->epoch,
                    p->epochs, p->eval_split, (long long)p->eval_done, (long long)p->eval_n,
                    p->eval_elapsed_s);
        else
            fprintf(stderr,
                    "cxr-train: epoch %d/%d: step %lld/%lld, loss %.4f, acc %.3f, %.1f img/s, "
                    "%.1f s\n",
                    p->epoch, p->epochs, (long long)p->step, (long long)p->steps, p->loss, p->acc,
                    p->images_per_s, p->elapsed_s);
        return;
    }
    if ((p->step < p->steps || evaluating) && t - ui->last_draw < 0.2) return;
    ui->last_draw = t;
    int width = 24, fill = p->steps ? (int)(width * p->step / p->steps) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double eta = p->step > 0 ? p->elapsed_s / (double)p->step * (double)(p->steps - p->step) : 0;
    char tail[96]; /* the last step done: the evaluation (its progress) and the saves come */
    if (evaluating) {
        const double left = p->eval_done > 0 ? p->eval_elapsed_s / (double)p->eval_done *
                                                   (double)(p->eval_n - p->eval_done)
                                             : 0;
        snprintf(tail, sizeof tail, "; %s %lld/%lld ETA %dm%02ds", p->eval_split,
                 (long long)p->eval_done, (long long)p->eval_n, (int)left / 60, (int)left % 60);
    } else if (p->step >= p->steps)
        snprintf(tail, sizeof tail, "; finishing the epoch");
    else
        snprintf(tail, sizeof tail, " ETA %dm%02ds", (int)eta / 60, (int)eta % 60);
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f acc %.3f %.1f img/s%s", p->epoch,
            p->epochs, bar, (long long)p->step, (long long)p->steps, p->loss, p->acc,
            p->images_per_s, tail);
    fflush(stderr);
    ui->bar = 1;
}

static void ui_epoch(void *user, const cxr_epoch_summary *s)
{
    ui_state *ui = user;
    if (ui->quiet) return;
    if (ui->tty) fprintf(stderr, "\r\033[K");
    ui->bar = 0;
    /* undefined figures are said so, not printed as nan (the log leaves them out) */
    char ev[160], f[4][16];
    const double v[4] = { s->eval_loss, s->eval_acc, s->auc, s->f1 };
    for (int i = 0; i < 4; i++)
        if (isnan(v[i]))
            snprintf(f[i], sizeof f[i], "n/a");
        else
            snprintf(f[i], sizeof f[i], i ? "%.3f" : "%.4f", v[i]);
    /* nothing evaluated: no accuracy either (non-finite probabilities leave the loss NaN but
     * still count an accuracy, and cxr-train warns of them) */
    if (isnan(s->eval_loss) && isnan(s->eval_acc))
        snprintf(ev, sizeof ev, "no evaluation");
    else
        /* binary: accuracy and F1 at 0.5, the log's too (specs/log.md; the threshold chosen on
         * val, which the model keeps and cxr-eval applies, can give others); K classes: the
         * most probable class, and macro averages */
        snprintf(ev, sizeof ev,
                 s->n_classes > 2 ? "eval loss %s acc %s macro auc %s macro f1 %s"
                                  : "eval loss %s acc@0.5 %s auc %s f1@0.5 %s",
                 f[0], f[1], f[2], f[3]);
    fprintf(stderr,
            "epoch %d/%d: train loss %.4f acc %.3f | %s | %.1f s, %.1f img/s, data wait %.1f%%\n",
            s->epoch, s->epochs, s->train_loss, s->train_acc, ev, s->epoch_s, s->images_per_s,
            100.0 * s->data_wait_frac);
}

static void ui_note(void *user, const char *line)
{
    ui_state *ui = user;
    if (ui->bar) fprintf(stderr, "\r\033[K"); /* not appended to the bar's line */
    ui->bar = 0;
    cxr_print_error("cxr-train", line); /* notes name files */
}

/* The run's checks are done (cxr_train_callbacks.on_ready): what it will write, said now so that
 * no note on a file precedes a refusal (a "replaces the log" note, then an error, read as if the
 * log were gone). Nothing when a resume has nothing to train. */
static void ui_ready(void *user, int trains)
{
    ui_state *ui = user;
    const cxr_train_options *o = ui->o;
    if (!trains) return;
    if (ui->default_ck) {
        char esc[4096];
        fprintf(stderr,
                "cxr-train: saving the model to %s after every epoch (--checkpoint FILE "
                "to choose, --no-checkpoint for none)\n",
                cxr_escape_name(esc, sizeof esc, o->io.checkpoint_path));
    }
    if (!o->io.log_path && !ui->quiet) /* the epoch lines above go to the terminal only */
        fprintf(stderr, "cxr-train: note: no training log (--log FILE.jsonl keeps one: a JSON line "
                        "per epoch, from which cxr-report draws the run's curves)\n");
    /* a log is written line by line as plain text, whatever its name: said for one named .gz */
    const size_t ll = o->io.log_path ? strlen(o->io.log_path) : 0;
    if (ll > 3 && !strcasecmp(o->io.log_path + ll - 3, ".gz") && !o->io.resume_path) {
        char esc[4096];
        fprintf(stderr,
                "cxr-train: note: --log %s is written as plain JSON lines (a line at a time); "
                "gzip it once the run is done (cxr-report reads either)\n",
                cxr_escape_name(esc, sizeof esc, o->io.log_path));
    }
    /* a fresh run replaces the log it is given (at its first epoch line; before, the old one
     * stands): said, for a user who meant --resume or another name */
    const long long old_lines = o->io.log_path && !o->io.resume_path
                                    ? train_replaced_log_lines(o->io.log_path)
                                    : 0;
    if (old_lines > 0) {
        char esc[4096];
        fprintf(stderr,
                "cxr-train: note: --log %s holds an earlier log (%lld line%s): this run replaces "
                "it from its first epoch line (--resume appends; another name keeps both)\n",
                cxr_escape_name(esc, sizeof esc, o->io.log_path), old_lines,
                old_lines == 1 ? "" : "s");
    }
}

/* A value the trainer holds as a float: one other than 0 below the least normal float is
 * refused, since it reads as 0 once the training threads flush denormals (a weight decay, label
 * smoothing or mixup then off, a rate the recipe's), unsaid. */
static int normal_float(double d, const char *name, const char *arg)
{
    if (d == 0.0 || !((float)fabs(d) < FLT_MIN)) return 0;
    cxr_set_error(CXR_E_ARG,
                  "%s %s: below the least normal float, %g (training flushes smaller ones to 0)",
                  name, arg, (double)FLT_MIN);
    return -1;
}

/* An option the trainer holds as a float: a double in 0..hi (`open` as cxr_parse_double's),
 * and a normal float (normal_float). */
static int parse_float_option(const char *arg, const char *name, double hi, int open, double *d)
{
    return cxr_parse_double(arg, name, 0, hi, open, d) || normal_float(*d, name, arg) ? -1 : 0;
}

/* An option > 0 (0 in the trainer means "the recipe's"): in (0, hi]. */
static int parse_positive_float(const char *arg, const char *name, double hi, float *out)
{
    double d;
    if (parse_float_option(arg, name, hi, CXR_PARSE_OPEN_LO, &d)) return -1;
    *out = (float)d;
    return 0;
}

enum {
    O_DEVICE = 256,
    O_EPOCHS,
    O_BATCH,
    O_LR,
    O_SEED,
    O_THREADS,
    O_LOG,
    O_CKPT,
    O_RESUME,
    O_NOPREF,
    O_MONLOG,
    O_NOMON,
    O_MAXSTEPS,
    O_VERSION,
    O_PRECISION,
    O_RESIDENT,
    O_RECIPE,
    O_SCHEDULE,
    O_WARMUP,
    O_NOCKPT,
    O_AUGMENT,
    O_WD,
    O_SMOOTH,
    O_MIXUP,
    O_SELECT,
    O_PATIENCE,
    O_AVERAGE,
    O_WINDOW,
    O_STEP_EPOCHS,
    O_GAMMA,
    O_LOGEVERY,
    O_HEAD,
    O_INPOOL
};

int main(int argc, char **argv)
{
    cxr_std_fds_open(); /* before any file is opened (cxr_files.h) */
    cxr_signals_ignore_write_signals();
    cxr_train_options o;
    cxr_train_options_defaults(&o);
    const char *device = "auto";
    ui_state ui = { .tty = isatty(2),
                    .last_draw = cxr_now_s(),
                    .every_s = cxr_progress_every_s() };
    static const struct option longs[] = { { "device", required_argument, 0, O_DEVICE },
                                           { "epochs", required_argument, 0, O_EPOCHS },
                                           { "batch", required_argument, 0, O_BATCH },
                                           { "lr", required_argument, 0, O_LR },
                                           { "seed", required_argument, 0, O_SEED },
                                           { "threads", required_argument, 0, O_THREADS },
                                           { "log", required_argument, 0, O_LOG },
                                           { "checkpoint", required_argument, 0, O_CKPT },
                                           { "resume", required_argument, 0, O_RESUME },
                                           { "no-prefetch", no_argument, 0, O_NOPREF },
                                           { "monitor-log", required_argument, 0, O_MONLOG },
                                           { "no-monitor", no_argument, 0, O_NOMON },
                                           { "max-steps", required_argument, 0, O_MAXSTEPS },
                                           { "quiet", no_argument, 0, 'q' },
                                           { "help", no_argument, 0, 'h' },
                                           { "version", no_argument, 0, O_VERSION },
                                           { "precision", required_argument, 0, O_PRECISION },
                                           { "resident", required_argument, 0, O_RESIDENT },
                                           { "recipe", required_argument, 0, O_RECIPE },
                                           { "schedule", required_argument, 0, O_SCHEDULE },
                                           { "warmup", required_argument, 0, O_WARMUP },
                                           { "no-checkpoint", no_argument, 0, O_NOCKPT },
                                           { "augment", required_argument, 0, O_AUGMENT },
                                           { "warmup-steps", required_argument, 0, O_WARMUP },
                                           { "weight-decay", required_argument, 0, O_WD },
                                           { "label-smoothing", required_argument, 0, O_SMOOTH },
                                           { "mixup", required_argument, 0, O_MIXUP },
                                           { "select", required_argument, 0, O_SELECT },
                                           { "patience", required_argument, 0, O_PATIENCE },
                                           { "average-from", required_argument, 0, O_AVERAGE },
                                           { "shuffle-window", required_argument, 0, O_WINDOW },
                                           { "lr-step-epochs", required_argument, 0,
                                             O_STEP_EPOCHS },
                                           { "lr-gamma", required_argument, 0, O_GAMMA },
                                           { "log-every", required_argument, 0, O_LOGEVERY },
                                           { "head", required_argument, 0, O_HEAD },
                                           { "input-pool", required_argument, 0, O_INPOOL },
                                           { 0, 0, 0, 0 } };
    int c, no_checkpoint = 0;
    long v;
    while ((c = getopt_long(argc, argv, "qh", longs, NULL)) != -1) {
        switch (c) {
        case O_DEVICE: /* a usage error before any work (a folder walk, a store read) */
            if (!cxr_device_option_ok("cxr-train", optarg)) return 2;
            device = optarg;
            break;
        case O_EPOCHS:
            if (cxr_parse_long(optarg, "--epochs", 1, 100000, &v))
                return cxr_option_error("cxr-train");
            o.recipe.epochs = (int)v;
            break;
        case O_BATCH:
            if (cxr_parse_long(optarg, "--batch", 1, 4096, &v))
                return cxr_option_error("cxr-train");
            o.recipe.batch = (int)v;
            break;
        case O_LR:
            if (parse_positive_float(optarg, "--lr", 10, &o.recipe.lr))
                return cxr_option_error("cxr-train");
            break;
        case O_SEED:
            if (cxr_parse_long(optarg, "--seed", 0, 0x7fffffffL, &v))
                return cxr_option_error("cxr-train");
            o.recipe.seed = v;
            break;
        case O_THREADS:
            if (cxr_parse_long(optarg, "--threads", 1, 1024, &v))
                return cxr_option_error("cxr-train");
            o.compute.threads = (int)v;
            break;
        case O_LOG: o.io.log_path = optarg; break;
        case O_LOGEVERY:
            if (cxr_parse_long(optarg, "--log-every", 0, 1L << 40, &v))
                return cxr_option_error("cxr-train");
            o.io.log_every = v;
            break;
        case O_CKPT: o.io.checkpoint_path = optarg; break;
        case O_NOCKPT: no_checkpoint = 1; break;
        case O_RESUME: o.io.resume_path = optarg; break;
        case O_NOPREF: o.compute.prefetch = 0; break;
        case O_MONLOG: o.io.monitor_log = optarg; break;
        case O_NOMON: o.compute.monitor = 0; break;
        case O_MAXSTEPS:
            if (cxr_parse_long(optarg, "--max-steps", 1, 1L << 40, &v))
                return cxr_option_error("cxr-train");
            o.recipe.max_steps = v;
            break;
        case O_PRECISION: {
            cxr_precision prec;
            if (cxr_precision_parse(optarg, &prec) != CXR_OK) {
                cxr_print_error("cxr-train: --precision", cxr_last_error());
                return 2;
            }
            o.compute.precision = optarg;
            break;
        }
        case O_RESIDENT: {
            cxr_resident_mode rm;
            if (cxr_resident_parse(optarg, &rm) != CXR_OK) {
                cxr_print_error("cxr-train: --resident", cxr_last_error());
                return 2;
            }
            o.compute.resident = (int)rm;
            break;
        }
        case O_RECIPE:
            if (!cxr_train_recipe_find(optarg)) {
                char names[256];
                recipe_names(names, sizeof names);
                fprintf(stderr, "cxr-train: --recipe: '%s' is not %s\n", optarg, names);
                return 2;
            }
            o.recipe.name = optarg;
            break;
        case O_SCHEDULE: {
            cxr_lr_kind k;
            if (cxr_lr_schedule_parse(optarg, &k) != CXR_OK) {
                cxr_print_error("cxr-train: --schedule", cxr_last_error());
                return 2;
            }
            o.recipe.schedule = optarg;
            break;
        }
        case O_WARMUP:
            if (cxr_parse_long(optarg, "--warmup-steps", 0, 0x7fffffffL, &v))
                return cxr_option_error("cxr-train");
            o.recipe.warmup_steps = (int)v;
            break;
        case O_AUGMENT: {
            cxr_augment_params ap;
            if (cxr_augment_parse(optarg, &ap) != CXR_OK ||
                cxr_augment_check_normal(optarg) != CXR_OK) {
                cxr_print_error("cxr-train: --augment", cxr_last_error());
                return 2;
            }
            o.recipe.augment = optarg;
            break;
        }
        case O_WD: {
            double d;
            if (parse_float_option(optarg, "--weight-decay", 100, 0, &d))
                return cxr_option_error("cxr-train");
            o.recipe.weight_decay = (float)d;
            break;
        }
        case O_SMOOTH: {
            double d;
            if (parse_float_option(optarg, "--label-smoothing", 1, CXR_PARSE_OPEN_HI, &d))
                return cxr_option_error("cxr-train");
            if (!((float)d < 1.0f)) { /* 1 - 1e-9 is 1 in float */
                cxr_set_error(CXR_E_ARG, "--label-smoothing %s: 1 in single precision", optarg);
                return cxr_option_error("cxr-train");
            }
            o.recipe.label_smoothing = (float)d;
            break;
        }
        case O_MIXUP: {
            double d;
            if (parse_float_option(optarg, "--mixup", CXR_LOADER_MIXUP_MAX, 0, &d))
                return cxr_option_error("cxr-train");
            o.recipe.mixup = (float)d;
            break;
        }
        case O_HEAD: {
            int h;
            if (cxr_model_head_parse(optarg, &h) != CXR_OK) {
                fprintf(stderr, "cxr-train: --head: %s\n", cxr_last_error());
                return 2;
            }
            o.recipe.head = optarg;
            break;
        }
        case O_INPOOL:
            if (cxr_parse_long(optarg, "--input-pool", 1, 8, &v))
                return cxr_option_error("cxr-train");
            if (v & (v - 1)) {
                cxr_set_error(CXR_E_ARG, "--input-pool %s: not 1, 2, 4 or 8", optarg);
                return cxr_option_error("cxr-train");
            }
            o.recipe.input_pool = (int)v;
            break;
        case O_SELECT: {
            cxr_select_kind k;
            if (cxr_select_parse(optarg, &k) != CXR_OK) {
                fprintf(stderr, "cxr-train: --select: %s\n", cxr_last_error());
                return 2;
            }
            o.recipe.select = optarg;
            break;
        }
        case O_PATIENCE:
            if (cxr_parse_long(optarg, "--patience", 0, 100000, &v))
                return cxr_option_error("cxr-train");
            o.recipe.patience = (int)v;
            break;
        case O_AVERAGE:
            if (cxr_parse_long(optarg, "--average-from", 0, 100000, &v))
                return cxr_option_error("cxr-train");
            o.recipe.average_from = (int)v;
            break;
        case O_WINDOW:
            if (cxr_shuffle_window_parse(optarg, &o.recipe.shuffle_window) != CXR_OK) {
                cxr_wrap_error(CXR_E_ARG, "--shuffle-window");
                return cxr_option_error("cxr-train");
            }
            break;
        case O_STEP_EPOCHS:
            if (cxr_parse_long(optarg, "--lr-step-epochs", 1, 100000, &v))
                return cxr_option_error("cxr-train");
            o.recipe.lr_step_epochs = (int)v;
            break;
        case O_GAMMA:
            if (parse_positive_float(optarg, "--lr-gamma", 1, &o.recipe.lr_gamma))
                return cxr_option_error("cxr-train");
            break;
        case 'q': ui.quiet = 1; break;
        case 'h':
            cxr_stdout_hold();
            usage(stdout, &o);
            return cxr_stdout_exit("cxr-train");
        case O_VERSION: return cxr_version_exit("cxr-train");
        default: return cxr_usage_error(USAGE);
        }
    }
    if (!cxr_threads_ok("cxr-train", o.compute.threads)) return 2;
    if (optind != argc - 1) {
        fprintf(stderr, "cxr-train: expected one STORE.h5 argument (see --help)\n");
        return 2;
    }
    o.io.store_path = argv[optind];
    if (!o.compute.monitor && o.io.monitor_log) { /* it sampled and logged all the same */
        fprintf(stderr, "cxr-train: --no-monitor and --monitor-log contradict each other: give "
                        "one\n");
        return 2;
    }
    if (o.io.log_every > 0 && !o.io.log_path) {
        fprintf(stderr, "cxr-train: --log-every needs --log FILE.jsonl\n");
        return 2;
    }
    if (o.io.checkpoint_path && no_checkpoint) {
        fprintf(stderr, "cxr-train: --checkpoint %s and --no-checkpoint: give one of them\n",
                o.io.checkpoint_path);
        return 2;
    }
    char ckbuf[4096];
    int default_ck = 0;
    const size_t rl = o.io.resume_path ? strlen(o.io.resume_path) : 0;
    if (!o.io.checkpoint_path && !no_checkpoint && rl > 8 &&
        strcmp(o.io.resume_path + rl - 8, ".best.h5") == 0) {
        /* a resume saves where it left off: here, over the run's best model */
        fprintf(stderr,
                "cxr-train: --resume %s: a best model; its run's checkpoint is %.*s.h5. To "
                "branch from the best epoch, give --checkpoint NEW.h5 (without it, the resumed "
                "file would be written over)\n",
                o.io.resume_path, (int)(rl - 8), o.io.resume_path);
        return 2;
    }
    /* from here on a first signal stops the run cleanly (a second kills): the reserved default
     * name is then removed at exit too, and the run stops at its first check of the flag */
    o.cb.interrupted = cxr_signals_stop_on_interrupt();
    if (!o.io.checkpoint_path && !no_checkpoint) {
        if (!(o.io.checkpoint_path = train_default_checkpoint(&o, ckbuf, sizeof ckbuf))) {
            fprintf(stderr,
                    "cxr-train: no free name for the model beside %s: give --checkpoint "
                    "FILE or --no-checkpoint\n",
                    o.io.store_path);
            return 2;
        }
        default_ck = 1; /* said once the inputs and the device are known to be good */
        o.io.checkpoint_reserved = !o.io.resume_path; /* the file there: this run's reservation */
    }
    cxr_status fst = train_check_files(&o);
    if (fst != CXR_OK) {
        cxr_print_error("cxr-train", cxr_last_error());
        return cxr_exit_code(fst);
    }
    if (o.io.checkpoint_path && (fst = train_lock_model(o.io.checkpoint_path)) != CXR_OK) {
        cxr_print_error("cxr-train", cxr_last_error());
        return cxr_exit_code(fst);
    }

    /* a missing or wrong input is refused before anything is said about the device */
    cxr_store *probe = NULL;
    cxr_checkpoint_meta rmeta;
    memset(&rmeta, 0, sizeof rmeta);
    cxr_status st = cxr_store_open(&probe, o.io.store_path);
    cxr_store_close(probe);
    if (st == CXR_OK && o.io.resume_path) st = cxr_checkpoint_read_meta(o.io.resume_path, &rmeta);
    if (st == CXR_OK && o.io.resume_path) /* before "saving the model to" names it */
        st = cxr_checkpoint_resumable(&rmeta, o.io.resume_path);
    /* the model's head and input pool, which the device must run */
    int head = CXR_HEAD_FLATTEN, ipool = 1;
    if (st == CXR_OK)
        st = cxr_train_model_variant(&o.recipe, o.io.resume_path ? &rmeta.model : NULL, &head,
                                     &ipool);
    cxr_checkpoint_meta_free(&rmeta);
    if (st != CXR_OK) {
        cxr_print_error("cxr-train", cxr_last_error());
        return cxr_exit_code(st);
    }

    cxr_backend *be = NULL;
    cxr_device dev;
    st = cxr_device_open_model(&be, device, o.compute.threads, head, ipool, &dev);
    if (st != CXR_OK) {
        cxr_print_error("cxr-train", cxr_last_error());
        return cxr_exit_code(st);
    }
    if (dev.note[0])
        fprintf(stderr, "cxr-train: %s\n", dev.note);
    else if (!ui.quiet)
        fprintf(stderr, "cxr-train: device %s\n", dev.desc);
    o.compute.device_desc = dev.desc;
    /* --resident is the GPU loader's: a CPU run ignored it unsaid (options hunt) */
    if (dev.kind == CXR_DEVICE_CPU && o.compute.resident != CXR_RESIDENT_AUTO)
        fprintf(stderr,
                "cxr-train: note: --resident %s is for the GPU loader; a CPU run reads the store "
                "through its shard loader\n",
                o.compute.resident == CXR_RESIDENT_ON ? "on" : "off");
    /* on the CPU, a precision it lacks is refused now, before the run is announced: tf32 (a GPU
     * format) and bf16 without AVX512-BF16/AMX; under auto that is the device's fault (5) */
    if (o.compute.precision && dev.kind == CXR_DEVICE_CPU) {
        cxr_precision prec = CXR_PRECISION_FP32;
        st = cxr_precision_parse(o.compute.precision, &prec);
        if (st == CXR_OK) st = cxr_backend_set_precision(be, prec);
        if (st != CXR_OK) {
            const int is_auto = !device || !strcmp(device, "auto");
            if (is_auto)
                cxr_wrap_error(st, "--precision %s with --device auto, which found no usable GPU",
                               o.compute.precision);
            cxr_print_error("cxr-train", cxr_last_error());
            cxr_backend_destroy(be);
            return is_auto ? 5 : cxr_exit_code(st);
        }
        /* without AMX, oneDNN's bf16 kernels reorder more than vdpbf16ps saves */
        if (prec == CXR_PRECISION_BF16 && !cxr_cpu_has_amx_bf16())
            fprintf(stderr,
                    "cxr-train: note: --precision bf16 on a CPU without AMX: measured slower than "
                    "fp32 on an Intel Xeon (0.5-0.6x: its bf16 dot products run at half the FLOP "
                    "rate of its fp32 FMAs) and about even on an AMD Zen 4; fp32 (the default) is "
                    "likely as fast here (specs/model.md)\n");
    }
    if (o.compute.monitor && dev.kind == CXR_DEVICE_CUDA) o.compute.monitor_gpu = dev.index;

    o.cb.on_progress = ui_progress;
    o.cb.on_epoch = ui_epoch;
    o.cb.on_note = ui_note;
    o.cb.on_ready = ui_ready;
    o.cb.user = &ui;
    ui.o = &o;
    ui.default_ck = default_ck;

    st = cxr_train_run(&o, be);
    cxr_backend_destroy(be);
    if (st != CXR_OK) {
        if (ui.tty && !ui.quiet) fprintf(stderr, "\r\033[K");
        cxr_print_error("cxr-train", cxr_last_error());
        /* what to change, on the CPU (a GPU's memory has its own advice, --resident off) and
         * where the cause above, which names an op or a buffer, gives none (--shard) */
        const char *why = cxr_last_error();
        if (st == CXR_E_NOMEM && dev.kind == CXR_DEVICE_CPU && !strstr(why, "--shard"))
            fprintf(stderr, /* the cause above names an address-space limit, if one is set */
                    "cxr-train: out of memory; a smaller --batch needs less (the activations "
                    "and the loaders' batches grow with it: specs/model.md, \"Memory\")\n");
        return cxr_exit_code(st);
    }
    char best[4096];
    if (o.io.checkpoint_path) { /* a killed run's temporaries, a checkpoint's size each */
        cxr_tmpfile_note_leftovers("cxr-train", o.io.checkpoint_path);
        if (cxr_train_best_path(o.io.checkpoint_path, best, sizeof best) == CXR_OK)
            cxr_tmpfile_note_leftovers("cxr-train", best);
    }
    return 0;
}
