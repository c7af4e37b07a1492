/* cxr-train: train the study's CNN on a cxr store. A thin front end over train/cxr_trainer.h:
 * parse options, pick the device, install the SIGINT handler, show progress, map the result
 * to an exit code. */
#define _GNU_SOURCE /* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxr_signals.h"
#include "cxr_augment.h"
#include "cxr_backend_cuda.h"
#include "cxr_checkpoint.h"
#include "cxr_clock.h"
#include "cxr_files.h"
#include "cxr_hash.h"
#include "cxr_parse.h"
#include "cxr_cuda.h"
#include "cxr_tmpfile.h"
#include "cxr_trainer.h"


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
        "                      images within windows of W shards: auto (the shards holding 256\n"
        "                      images, 1 to 4), split (the whole split, up to 2 GiB of images; "
        "windows\n"
        "                      of 512 MiB beyond) or a number (default: the recipe's;\n"
        "                      specs/model.md \"Training order\")\n"
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
        "                      if set, else the cores available; %d here)\n"
        "  --log FILE.jsonl    training log, one JSON line per epoch (specs/log.md); appended on\n"
        "                      --resume\n"
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
        "                      uninterrupted run (same device, --precision and --threads);\n"
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
        "                      (--resume appends, like --log)\n"
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
        "  -q, --quiet         no progress output\n"
        "  -h, --help          this help;  --version  the version\n"
        "\n"
        "With a /val split, each epoch chooses the decision threshold on val (binary: the best\n"
        "balanced accuracy, ties to the one closest to 0.5) and stores it in the checkpoint, "
        "where\n"
        "cxr-eval and cxr-predict find it.\n"
        "\n"
        "Output: on a terminal a progress bar on stderr (loss, accuracy, img/s, ETA), else one "
        "line\n"
        "per epoch. SIGINT (Ctrl-C), SIGTERM or SIGHUP stops after the current step; the last\n"
        "complete checkpoint stays valid. A second signal kills the program; the temporary it\n"
        "leaves (.FILE.cxr-tmp-PID-...) is removed by the next run that writes FILE. A signal\n"
        "ignored when cxr-train starts (SIGHUP under nohup) stays ignored.\n"
        "\n"
        "Exit codes: 0 ok; 2 usage error; 3 bad input data (store of another format version, "
        "missing\n"
        "dataset, labels out of range, corrupted chunk, checkpoint that does not match the "
        "model);\n"
        "4 I/O error; 5 device error (built without CUDA, no usable GPU, CUDA failure); 130\n"
        "interrupted; 1 other errors (e.g. training diverged).\n",
        r->epochs, r->batch, r->lr, CXR_TRAIN_DEFAULT_SEED, d->compute.threads);
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
    double last_draw;
} ui_state;

static void ui_progress(void *user, const cxr_train_progress *p)
{
    ui_state *ui = user;
    if (ui->quiet || !ui->tty) return;
    double t = cxr_now_s();
    if (p->step < p->steps && t - ui->last_draw < 0.2) return;
    ui->last_draw = t;
    int width = 24, fill = p->steps ? (int)(width * p->step / p->steps) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double eta = p->step > 0 ? p->elapsed_s / (double)p->step * (double)(p->steps - p->step) : 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld loss %.4f acc %.3f %.1f img/s ETA %dm%02ds",
            p->epoch, p->epochs, bar, (long long)p->step, (long long)p->steps, p->loss, p->acc,
            p->images_per_s, (int)eta / 60, (int)eta % 60);
    fflush(stderr);
}

static void ui_epoch(void *user, const cxr_epoch_summary *s)
{
    ui_state *ui = user;
    if (ui->quiet) return;
    if (ui->tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr,
            "epoch %d/%d: train loss %.4f acc %.3f | eval loss %.4f acc %.3f auc %.3f f1 %.3f | "
            "%.1f s, %.1f img/s, data wait %.1f%%\n",
            s->epoch, s->epochs, s->train_loss, s->train_acc, s->eval_loss, s->eval_acc, s->auc,
            s->f1, s->epoch_s, s->images_per_s, 100.0 * s->data_wait_frac);
}

static void ui_note(void *user, const char *line)
{
    (void)user;
    cxr_print_error("cxr-train", line); /* notes name files */
}

/* A bad option value: the parser's message, exit code 2. */
static int bad_option(void)
{
    cxr_print_error("cxr-train", cxr_last_error());
    return 2;
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

/* Where the model goes without --checkpoint: the resumed file on --resume (a resume keeps
 * saving where it left off), else beside STORE as STORE-stem.model.h5, numbered .model-N.h5
 * rather than replacing a model (or a best model, MODEL.best.h5) already there or one another
 * run has reserved (reserve); in the current folder when STORE's folder is not writable. NULL with --no-checkpoint or when no free name is
 * found. */
/* The default name, reserved: created (O_EXCL, or linked in from an O_TMPFILE already written,
 * so that a run started at the same time takes the next number), locked (flock, held until
 * exit) and holding one line that says whose it is
 * ("cxr-train: reserved by pid P on HOST, machine M, boot B"); replaced by the first save,
 * removed at exit while still that file (a run that ends before its first save: an error, an
 * interrupt). A run killed before its first save leaves it: the next run takes it over
 * (reclaim) only when it is sure the name is free: its own user's file, that line, this host
 * and machine, and another boot or a pid that is gone, with the lock taken. Anything else there
 * (an empty file an older cxr-train reserved, another user's, machine's or unknown machine's
 * reservation, a file system without flock) is numbered past, as before. A dead run's
 * reservation beside a best model (killed between its first best model and first checkpoint)
 * is removed with the checkpoint's temporary, the best model kept, and the name numbered past. */
/* Files this run removes at exit while they are still the ones it made (a save or another run
 * may have replaced them): the default name's reservation (also of that size) and the two
 * model locks (lock_model, below). */
enum { EXIT_RESERVATION, EXIT_LOCK_MODEL, EXIT_LOCK_BEST, N_EXIT_FILES };
static struct {
    char path[4200];
    dev_t dev;
    ino_t ino;
    off_t size; /* -1: any */
} exit_files[N_EXIT_FILES];

static void drop_exit_files(void)
{
    for (int k = 0; k < N_EXIT_FILES; k++) {
        struct stat sb;
        if (exit_files[k].path[0] && stat(exit_files[k].path, &sb) == 0 &&
            sb.st_dev == exit_files[k].dev && sb.st_ino == exit_files[k].ino &&
            (exit_files[k].size < 0 || sb.st_size == exit_files[k].size))
            unlink(exit_files[k].path);
    }
}

/* exit_files[k] is the file sb describes, at the path already in exit_files[k].path. */
static void remove_at_exit(int k, const struct stat *sb, off_t size)
{
    static int registered;
    if (!registered++) atexit(drop_exit_files);
    exit_files[k].dev = sb->st_dev, exit_files[k].ino = sb->st_ino, exit_files[k].size = size;
}

/* The first line of file f, "" when unreadable: the kernel's boot id, the machine id. */
static void first_line(const char *f, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *fp = fopen(f, "r");
    if (!fp) return;
    if (!fgets(buf, (int)cap, fp)) buf[0] = 0;
    fclose(fp);
    buf[strcspn(buf, "\n")] = 0;
}

/* Whose a reservation is, after "pid P": " on HOST, machine M, boot " (the boot id follows,
 * into boot[64]). M: the machine id, else (a container without /etc/machine-id) "boot:" and the
 * boot id, which names this machine for this boot only. */
static void reservation_where(char *buf, size_t cap, char *boot)
{
    char host[256] = "", machine[64];
    gethostname(host, sizeof host - 1);
    first_line("/etc/machine-id", machine, sizeof machine);
    first_line("/proc/sys/kernel/random/boot_id", boot, 64);
    snprintf(buf, cap, " on %s, machine %s%s, boot ", host,
             machine[0] ? "" : "boot:", machine[0] ? machine : boot);
}

/* Write into fd (holding its lock) whose reservation it is. 0 when it cannot be written. */
static int write_reservation(int fd)
{
    char where[512], boot[64], line[700];
    reservation_where(where, sizeof where, boot);
    const int n = snprintf(line, sizeof line, "cxr-train: reserved by pid %ld%s%s\n",
                           (long)getpid(), where, boot);
    return n > 0 && (size_t)n < sizeof line && ftruncate(fd, 0) == 0 &&
           pwrite(fd, line, (size_t)n, 0) == n;
}

/* fd, holding its lock and its reservation line, is buf: remember it, to remove it at exit
 * while still that (the fd stays open, and the lock with it, until exit). 0 on failure. */
static int remember_reservation(const char *buf, int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) return 0;
    snprintf(exit_files[EXIT_RESERVATION].path, sizeof exit_files[0].path, "%s", buf);
    remove_at_exit(EXIT_RESERVATION, &sb, sb.st_size);
    return 1;
}

static int hold_reservation(const char *buf, int fd)
{
    return write_reservation(fd) && remember_reservation(buf, fd);
}

/* buf reserved whole at once: an anonymous file of the folder (O_TMPFILE), locked and written,
 * then linked in as buf, so a run killed at any moment leaves no reservation or a whole one
 * (created empty and then written, a kill between left an empty file that no run takes over).
 * 1: reserved; 0: buf exists; -1: not possible here (no O_TMPFILE or /proc: reserve's way). */
static int reserve_whole(const char *buf)
{
    const char *slash = strrchr(buf, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - buf) + 1 : 1, slash ? buf : ".");
    const int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || !write_reservation(fd)) {
        close(fd);
        return -1;
    }
    if (linkat(AT_FDCWD, self, AT_FDCWD, buf, AT_SYMLINK_FOLLOW) != 0) {
        const int e = errno;
        close(fd);
        return e == EEXIST ? 0 : -1;
    }
    if (!remember_reservation(buf, fd)) unlink(buf), close(fd);
    return 1;
}

/* 1 when buf is taken for this run: created now, or not creatable here (the checks that follow
 * name why); 0 when another file or run holds it. */
static int reserve(const char *buf)
{
    const int whole = reserve_whole(buf);
    if (whole >= 0) return whole;
    int fd = open(buf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return errno != EEXIST;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        close(fd); /* a reclaiming run locked it first: the name is its */
        return 0;
    }
    if (!hold_reservation(buf, fd)) unlink(buf), close(fd); /* the checks that follow say why */
    return 1;
}

/* Whether a reservation's line names a run that is gone: this host and machine (same hostname
 * and machine id, the latter known), and another boot of it or, in this boot, a pid that no
 * longer exists. Anything else (another machine, one with the same name, an unknown machine,
 * a live or unknown pid) is not free. */
static int reservation_free(const char *line)
{
    static const char head[] = "cxr-train: reserved by pid ";
    char where[512], boot[64], *end = NULL;
    if (strncmp(line, head, sizeof head - 1) != 0) return 0;
    const char *p = line + sizeof head - 1;
    const long pid = *p >= '1' && *p <= '9' ? strtol(p, &end, 10) : 0;
    reservation_where(where, sizeof where, boot);
    if (pid <= 0 || strstr(where, ", machine boot:, ") || strncmp(end, where, strlen(where)) != 0)
        return 0; /* (neither id known: no machine to match) */
    const char *their_boot = end + strlen(where);
    const size_t bl = strcspn(their_boot, "\n");
    if (boot[0] && bl > 0 && (bl != strlen(boot) || strncmp(their_boot, boot, bl) != 0))
        return 1; /* this machine booted again since */
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

/* A descriptor of buf, locked, when buf is a reservation of this user's whose run is gone
 * (killed before its first save: reservation_free); else -1. An empty file is not one (it
 * could be anyone's; reserve leaves none where O_TMPFILE works). */
static int dead_reservation(const char *buf)
{
    struct stat sb, fb;
    if (lstat(buf, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid() || sb.st_size == 0 ||
        sb.st_size >= 700)
        return -1;
    int fd = open(buf, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -1;
    char line[700];
    const ssize_t got =
        flock(fd, LOCK_EX | LOCK_NB) == 0 ? pread(fd, line, sizeof line - 1, 0) : -1;
    if (got >= 0) line[got] = 0;
    /* still the file at buf (not replaced by a save meanwhile) */
    if (got > 0 && reservation_free(line) && fstat(fd, &fb) == 0 && lstat(buf, &sb) == 0 &&
        sb.st_dev == fb.st_dev && sb.st_ino == fb.st_ino)
        return fd;
    close(fd);
    return -1;
}

/* 1 when buf is a dead run's reservation (dead_reservation), now taken for this run; else 0. */
static int reclaim(const char *buf)
{
    const int fd = dead_reservation(buf);
    if (fd < 0) return 0;
    if (hold_reservation(buf, fd)) return 1;
    unlink(buf); /* truncated and not rewritten (a full disk): no empty leftover */
    close(fd);
    return 0;
}

/* buf's best model is there, so no run takes buf again: a dead run's reservation at buf (killed
 * between its first best model and its first checkpoint) and its checkpoint's temporaries
 * are removed, the best model kept and named. */
static void drop_dead_reservation(const char *buf, const char *best)
{
    const int fd = dead_reservation(buf);
    if (fd < 0) return;
    if (unlink(buf) == 0) {
        cxr_tmpfile_sweep(buf);
        fputs("cxr-train: note: removed the reservation of a run killed before its first "
              "checkpoint, ",
              stderr);
        cxr_fputs_escaped(buf, stderr);
        fputs("; its best model stays in ", stderr);
        cxr_fputs_escaped(best, stderr);
        fputc('\n', stderr);
    }
    close(fd);
}

static const char *default_checkpoint(const cxr_train_options *o, char *buf, size_t cap)
{
    if (o->io.resume_path) return o->io.resume_path;
    const char *store = o->io.store_path, *slash = strrchr(store, '/');
    size_t dir_len = slash ? (size_t)(slash - store) + 1 : 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", (int)dir_len, store);
    if (dir_len && access(dir, W_OK) != 0) dir[0] = 0, dir_len = 0;
    const char *base = slash ? slash + 1 : store;
    size_t stem = strlen(base);
    if (stem > 3 && strcmp(base + stem - 3, ".h5") == 0) stem -= 3;
    for (int i = 0; i < 1000; i++) {
        char num[16] = "";
        if (i) snprintf(num, sizeof num, "-%d", i);
        int n = snprintf(buf, cap, "%s%.*s.model%s.h5", dir, (int)stem, base, num);
        if (n < 0 || (size_t)n >= cap) return NULL;
        /* taken when the model or its best model is there: a run whose checkpoint was deleted
         * may have left its MODEL.best.h5, which this run's selection would replace */
        char best[4096];
        if (cxr_train_best_path(buf, best, sizeof best) != CXR_OK) continue;
        if (access(best, F_OK) == 0) {
            if (access(buf, F_OK) == 0) drop_dead_reservation(buf, best);
            continue;
        }
        if (access(buf, F_OK) != 0 ? reserve(buf) : reclaim(buf)) return buf;
    }
    return NULL;
}

/* One run per model: two cxr-train runs saving to the same MODEL.h5 (the same --checkpoint, or
 * two --resume of it) replaced each other's files epoch by epoch, leaving MODEL.h5 and
 * MODEL.best.h5 of different runs and one log of interleaved epochs. A run holds an flock on
 * ".MODEL.h5.cxr-lock" and ".MODEL.best.h5.cxr-lock" beside them (of the file a symbolic link
 * names) from before it is announced until exit, so that a run whose checkpoint is another's
 * best model is refused too: the models themselves are replaced at every save, and HDF5 takes
 * its own flock on them while writing. A name too long for the folder gets its first 200 bytes
 * and a hash. The lock file holds the holder's pid for the message; it is removed at exit while
 * still this run's (one a killed run left is taken over: the kernel released its lock). Where
 * no lock file can be made (a folder this user cannot write in, where the save itself will say
 * why; a file system without flock), the run goes on as before. */

/* Lock file `slot` for `model`: 1 when held or when none can be made, 0 with *holder = the
 * holder's pid (0 when unknown) when another run holds it. */
static int lock_one(const char *model, int slot, long *holder)
{
    char *real = NULL, *lp = exit_files[EXIT_LOCK_MODEL + slot].path;
    const size_t cap = sizeof exit_files[0].path;
    if (cxr_tmpfile_resolve(model, &real) != CXR_OK) real = NULL; /* the save will say why */
    const char *p = real ? real : model, *slash = strrchr(p, '/');
    const int dir_len = slash ? (int)(slash - p) + 1 : 0;
    const char *base = p + dir_len;
    int n;
    if (strlen(base) <= 200) {
        n = snprintf(lp, cap, "%.*s.%s.cxr-lock", dir_len, p, base);
    } else { /* NAME_MAX is 255: the first 200 bytes and the whole name's FNV-1a */
        n = snprintf(lp, cap, "%.*s.%.200s-%016llx.cxr-lock", dir_len, p, base,
                     (unsigned long long)cxr_fnv1a64(base, strlen(base)));
    }
    free(real);
    if (n < 0 || (size_t)n >= cap) return lp[0] = 0, 1;
    for (int attempt = 0; attempt < 10; attempt++) {
        /* O_NONBLOCK: a FIFO there never blocks the open (it is then no lock file) */
        int fd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
        const int read_only = fd < 0 && errno == EACCES;
        if (read_only) fd = open(lp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) return lp[0] = 0, 1; /* another user's, in their folder: as before */
        struct stat a, b;
        if (fstat(fd, &a) != 0 || !S_ISREG(a.st_mode)) { /* not a lock file: as before */
            close(fd);
            return lp[0] = 0, 1;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            const int busy = errno == EWOULDBLOCK;
            char line[64] = "";
            ssize_t got = busy ? pread(fd, line, sizeof line - 1, 0) : -1;
            close(fd);
            lp[0] = 0;
            if (!busy) return 1; /* no flock here: as before */
            *holder = got > 0 ? strtol(line, NULL, 10) : 0;
            /* a holder that could not write its pid (another user's file) left an earlier
             * one: named only while that process lives */
            if (*holder <= 0 || (kill((pid_t)*holder, 0) != 0 && errno == ESRCH)) *holder = 0;
            return 0;
        }
        /* still the file at that name (not one a finishing run removed)? */
        if (stat(lp, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
            close(fd);
            continue;
        }
        char line[32];
        const int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
        if (read_only || ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len) {
            /* read-only (another user's file) or a full disk: the lock holds; the pid is only
             * for a message */
        }
        remove_at_exit(EXIT_LOCK_MODEL + slot, &a, -1);
        return 1; /* fd stays open, and the lock with it, until exit */
    }
    return lp[0] = 0, 1;
}

/* Both locks of the run writing `model` (its checkpoint and its best model); 0 with the
 * holder's pid when another run holds either. */
static int lock_model(const char *model, long *holder)
{
    char best[4096];
    if (!lock_one(model, 0, holder)) return 0;
    return cxr_train_best_path(model, best, sizeof best) != CXR_OK || lock_one(best, 1, holder);
}

/* Inputs that are regular files; outputs that are neither an input nor a device (cxr_files.h),
 * nor one another. */
static cxr_status check_files(const cxr_train_options *o)
{
    const char *in[] = { o->io.store_path, o->io.resume_path };
    char best[4096] = "";
    /* a best model is written when the run selects: by --select, the recipe or (unknown yet)
     * the resumed checkpoint */
    const cxr_train_recipe *rp = cxr_train_recipe_find(o->recipe.name);
    const char *sel = o->recipe.select ? o->recipe.select : rp ? rp->select : "none";
    const int selects = strcmp(sel, "none") != 0 || (o->io.resume_path && !o->recipe.select);
    if (o->io.checkpoint_path && selects &&
        cxr_train_best_path(o->io.checkpoint_path, best, sizeof best))
        return CXR_E_ARG;
    const struct {
        const char *opt, *path;
    } out[] = { { "--log", o->io.log_path },
                { "--checkpoint", o->io.checkpoint_path },
                { "--monitor-log", o->io.monitor_log },
                { "the best model", best[0] ? best : NULL } };
    for (int i = 0; i < 2; i++)
        if (in[i] && cxr_input_check(in[i]) != CXR_OK) return CXR_E_ARG;
    /* the checkpoint may be the resumed file: it is replaced whole, by a rename, once saved */
    for (int i = 0; i < 4; i++) {
        cxr_status st = out[i].path
                            ? cxr_output_check(out[i].opt, out[i].path, in, i == 1 ? 1 : 2, NULL)
                            : CXR_OK;
        /* the models are written through temporaries (the logs are appended to): one must be
         * creatable there now, not found to be impossible after the first epoch */
        if (st == CXR_OK && out[i].path && (i == 1 || i == 3))
            st = cxr_output_probe(out[i].opt, out[i].path);
        if (st != CXR_OK) return st;
    }
    for (int i = 0; i < 4; i++)
        for (int j = i + 1; j < 4; j++)
            if (out[i].path && out[j].path && cxr_same_output(out[i].path, out[j].path))
                return cxr_set_error(CXR_E_ARG,
                                     "%s %s and %s %s: the same file for two outputs; give each "
                                     "its own",
                                     out[i].opt, out[i].path, out[j].opt, out[j].path);
    return CXR_OK;
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
    cxr_signals_ignore_file_size();
    cxr_train_options o;
    cxr_train_options_defaults(&o);
    const char *device = "auto";
    ui_state ui = { .tty = isatty(2) };
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
            if (cxr_parse_long(optarg, "--epochs", 1, 100000, &v)) return bad_option();
            o.recipe.epochs = (int)v;
            break;
        case O_BATCH:
            if (cxr_parse_long(optarg, "--batch", 1, 4096, &v)) return bad_option();
            o.recipe.batch = (int)v;
            break;
        case O_LR:
            if (parse_positive_float(optarg, "--lr", 10, &o.recipe.lr)) return bad_option();
            break;
        case O_SEED:
            if (cxr_parse_long(optarg, "--seed", 0, 0x7fffffffL, &v)) return bad_option();
            o.recipe.seed = v;
            break;
        case O_THREADS:
            if (cxr_parse_long(optarg, "--threads", 1, 1024, &v)) return bad_option();
            o.compute.threads = (int)v;
            break;
        case O_LOG: o.io.log_path = optarg; break;
        case O_LOGEVERY:
            if (cxr_parse_long(optarg, "--log-every", 0, 1L << 40, &v)) return bad_option();
            o.io.log_every = v;
            break;
        case O_CKPT: o.io.checkpoint_path = optarg; break;
        case O_NOCKPT: no_checkpoint = 1; break;
        case O_RESUME: o.io.resume_path = optarg; break;
        case O_NOPREF: o.compute.prefetch = 0; break;
        case O_MONLOG: o.io.monitor_log = optarg; break;
        case O_NOMON: o.compute.monitor = 0; break;
        case O_MAXSTEPS:
            if (cxr_parse_long(optarg, "--max-steps", 1, 1L << 40, &v)) return bad_option();
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
            if (cxr_parse_long(optarg, "--warmup-steps", 0, 0x7fffffffL, &v)) return bad_option();
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
            if (parse_float_option(optarg, "--weight-decay", 100, 0, &d)) return bad_option();
            o.recipe.weight_decay = (float)d;
            break;
        }
        case O_SMOOTH: {
            double d;
            if (parse_float_option(optarg, "--label-smoothing", 1, CXR_PARSE_OPEN_HI, &d))
                return bad_option();
            if (!((float)d < 1.0f)) { /* 1 - 1e-9 is 1 in float */
                cxr_set_error(CXR_E_ARG, "--label-smoothing %s: 1 in single precision", optarg);
                return bad_option();
            }
            o.recipe.label_smoothing = (float)d;
            break;
        }
        case O_MIXUP: {
            double d;
            if (parse_float_option(optarg, "--mixup", CXR_LOADER_MIXUP_MAX, 0, &d))
                return bad_option();
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
            if (cxr_parse_long(optarg, "--input-pool", 1, 8, &v)) return bad_option();
            if (v & (v - 1)) {
                cxr_set_error(CXR_E_ARG, "--input-pool %s: not 1, 2, 4 or 8", optarg);
                return bad_option();
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
            if (cxr_parse_long(optarg, "--patience", 0, 100000, &v)) return bad_option();
            o.recipe.patience = (int)v;
            break;
        case O_AVERAGE:
            if (cxr_parse_long(optarg, "--average-from", 0, 100000, &v)) return bad_option();
            o.recipe.average_from = (int)v;
            break;
        case O_WINDOW:
            if (cxr_shuffle_window_parse(optarg, &o.recipe.shuffle_window) != CXR_OK) {
                cxr_wrap_error(CXR_E_ARG, "--shuffle-window");
                return bad_option();
            }
            break;
        case O_STEP_EPOCHS:
            if (cxr_parse_long(optarg, "--lr-step-epochs", 1, 100000, &v)) return bad_option();
            o.recipe.lr_step_epochs = (int)v;
            break;
        case O_GAMMA:
            if (parse_positive_float(optarg, "--lr-gamma", 1, &o.recipe.lr_gamma))
                return bad_option();
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
        if (!(o.io.checkpoint_path = default_checkpoint(&o, ckbuf, sizeof ckbuf))) {
            fprintf(stderr,
                    "cxr-train: no free name for the model beside %s: give --checkpoint "
                    "FILE or --no-checkpoint\n",
                    o.io.store_path);
            return 2;
        }
        default_ck = 1; /* said once the inputs and the device are known to be good */
    }
    cxr_status fst = check_files(&o);
    if (fst != CXR_OK) {
        cxr_print_error("cxr-train", cxr_last_error());
        return cxr_exit_code(fst);
    }
    long holder = 0;
    if (o.io.checkpoint_path && !lock_model(o.io.checkpoint_path, &holder)) {
        char esc[4096];
        char who[48] = "";
        if (holder > 0) snprintf(who, sizeof who, " (pid %ld)", holder);
        fprintf(stderr,
                "cxr-train: %s (or its best model) is being written by another cxr-train run%s: "
                "wait for it to end, or give another --checkpoint\n",
                cxr_escape_name(esc, sizeof esc, o.io.checkpoint_path), who);
        return 2;
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
    }
    if (default_ck) {
        char esc[4096];
        fprintf(stderr,
                "cxr-train: saving the model to %s after every epoch (--checkpoint FILE "
                "to choose, --no-checkpoint for none)\n",
                cxr_escape_name(esc, sizeof esc, o.io.checkpoint_path));
    }
    if (o.compute.monitor && dev.kind == CXR_DEVICE_CUDA) o.compute.monitor_gpu = dev.index;

    o.cb.on_progress = ui_progress;
    o.cb.on_epoch = ui_epoch;
    o.cb.on_note = ui_note;
    o.cb.user = &ui;

    st = cxr_train_run(&o, be);
    cxr_backend_destroy(be);
    if (st != CXR_OK) {
        if (ui.tty && !ui.quiet) fprintf(stderr, "\r\033[K");
        cxr_print_error("cxr-train", cxr_last_error());
        return cxr_exit_code(st);
    }
    return 0;
}
