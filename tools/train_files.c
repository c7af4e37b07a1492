/* train_files.c: cxr-train's model files, a second file of that tool (like pack_manifest.c of
 * cxr-pack): the checks of its inputs and outputs, the default model name reserved beside the
 * store, and the lock that allows one run per model, with the clean-up of both at exit.
 */
#define _GNU_SOURCE /* O_TMPFILE */
#include "train_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxr_checkpoint.h"
#include "cxr_files.h"
#include "cxr_hash.h"
#include "cxr_monitor.h"
#include "cxr_tmpfile.h"
#include "cxr_trainlog.h"
#include "reservation.h"

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
 * may have replaced them): the default name's reservation (also of that size). */
enum { EXIT_RESERVATION, N_EXIT_FILES };
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

/* Write into fd (holding its lock) whose reservation it is. 0 when it cannot be written. */
static int write_reservation(int fd)
{
    char where[512], boot[64], line[700];
    cxr_reservation_where(where, sizeof where, boot);
    const int n =
        snprintf(line, sizeof line, CXR_RESERVATION_HEAD "%ld%s%s\n", (long)getpid(), where, boot);
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
    const int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
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
    int fd = open(buf, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return errno != EEXIST;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        close(fd); /* a reclaiming run locked it first: the name is its */
        return 0;
    }
    if (!hold_reservation(buf, fd)) unlink(buf), close(fd); /* the checks that follow say why */
    return 1;
}

/* A descriptor of buf, locked, when buf is a reservation of this user's whose run is gone
 * (killed before its first save: cxr_reservation_gone); else -1. An empty file is not one (it
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
    if (got > 0 && cxr_reservation_gone(line) && fstat(fd, &fb) == 0 && lstat(buf, &sb) == 0 &&
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

/* Where the model goes without --checkpoint: the resumed file on --resume (a resume keeps
 * saving where it left off), else beside STORE as STORE-stem.model.h5, numbered .model-N.h5
 * rather than replacing a model (or a best model, MODEL.best.h5) already there or one another
 * run has reserved (reserve); in the current folder when STORE's folder is not writable. NULL with
 * --no-checkpoint or when no free name is found. */
const char *train_default_checkpoint(const cxr_train_options *o, char *buf, size_t cap)
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
 * MODEL.best.h5 of different runs and one log of interleaved epochs. Both are locked
 * (cxr_output_lock, as every tool locks its outputs) from before the run is announced until exit,
 * so that a run whose checkpoint is another's best model is refused too: the models themselves
 * are replaced at every save, and HDF5 takes its own flock on them while writing. */
cxr_status train_lock_model(const char *model)
{
    char best[4096];
    cxr_status st = cxr_output_lock("cxr-train", "--checkpoint", model);
    if (st == CXR_OK && cxr_train_best_path(model, best, sizeof best) == CXR_OK)
        st = cxr_output_lock("cxr-train", "--checkpoint", best);
    return st;
}

/* Inputs that are regular files; outputs that are neither an input nor a device (cxr_files.h),
 * nor one another. */
cxr_status train_check_files(const cxr_train_options *o)
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
    struct stat sb;
    for (int i = 0; i < 2; i++)
        if (in[i] && cxr_input_check(in[i]) != CXR_OK)
            /* a folder of images given for the store: what to do with it */
            return i == 0 && stat(in[i], &sb) == 0 && S_ISDIR(sb.st_mode)
                       ? cxr_set_error(CXR_E_ARG,
                                       "%s; cxr-train reads a store: pack the folder into one "
                                       "first (cxr-pack %s -o STORE.h5)",
                                       cxr_last_error(), in[i])
                       : CXR_E_ARG;
    /* --resume STORE: said as such (the checkpoint, the resumed file by default, was refused
     * as "--checkpoint STORE: is the same file as the input", an option not given) */
    if (o->io.resume_path && cxr_same_output(o->io.resume_path, o->io.store_path))
        return cxr_set_error(CXR_E_ARG,
                             "--resume %s: is the store being trained on, not a checkpoint; give "
                             "the model a run saved (its checkpoint, by default STORE-stem.model.h5 "
                             "beside the store)",
                             o->io.resume_path);
    /* the checkpoint may be the resumed file: it is replaced whole, by a rename, once saved */
    for (int i = 0; i < 4; i++) {
        cxr_status st = out[i].path
                            ? cxr_output_check(out[i].opt, out[i].path, in, i == 1 ? 1 : 2, NULL)
                            : CXR_OK;
        /* the models are written through temporaries (the logs are appended to): one must be
         * creatable there now, not found to be impossible after the first epoch */
        /* not a store or a weights file (the resumed file: its own check says what it is) */
        static const char *const model_format[] = { CXR_CHECKPOINT_FORMAT };
        if (st == CXR_OK && out[i].path && (i == 1 || i == 3) &&
            !(o->io.resume_path && cxr_same_output(out[i].path, o->io.resume_path)))
            st = cxr_output_format_check(out[i].opt, out[i].path, model_format, 1, "a checkpoint");
        if (st == CXR_OK && out[i].path && (i == 1 || i == 3))
            st = cxr_output_not_other(out[i].opt, out[i].path, "a checkpoint", 0);
        if (st == CXR_OK && out[i].path && (i == 1 || i == 3)) {
            st = cxr_output_probe(out[i].opt, out[i].path);
            /* HDF5 makes a relative name absolute from the working folder: in one whose path
             * is past PATH_MAX it cannot create the model ("can't retrieve real path"), found
             * after the first epoch */
            char cwd[4096];
            if (st == CXR_OK && out[i].path[0] != '/' && !getcwd(cwd, sizeof cwd) &&
                errno == ERANGE)
                st = cxr_set_error(CXR_E_IO,
                                   "%s %s: cannot write there: the working folder's path is "
                                   "longer than %zu bytes, under which HDF5 cannot create a "
                                   "file; run from a folder nearer the root, or give a path "
                                   "from one",
                                   out[i].opt, out[i].path, sizeof cwd);
        }
        /* the logs are written in place: one that is no such log is refused now, before the
         * other is opened (the samples file was emptied, then the log refused) */
        if (st == CXR_OK && out[i].path && (i == 0 || i == 2))
            st = cxr_log_check(out[i].opt, out[i].path, o->io.resume_path != NULL,
                               i == 0 ? CXR_TRAINLOG_MARK : CXR_MONITOR_MARK);
        /* ... and an earlier one a fresh run replaces is left whole while the run writes a
         * temporary beside it (cxr_log_open): one must be creatable there, found now, before
         * any note says the earlier log stays until the first epoch */
        struct stat ls;
        if (st == CXR_OK && out[i].path && (i == 0 || i == 2) && !o->io.resume_path &&
            stat(out[i].path, &ls) == 0 && S_ISREG(ls.st_mode) && ls.st_size > 0 &&
            access(out[i].path, R_OK) == 0 &&
            (st = cxr_output_probe(out[i].opt, out[i].path)) != CXR_OK)
            st = cxr_set_error(st,
                               "%s; it holds an earlier log, left whole until this run's first "
                               "epoch while the run writes beside it: give another %s, or "
                               "empty it first (: > FILE) to have it written in place",
                               cxr_last_error(), out[i].opt);
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

long long train_replaced_log_lines(const char *path)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return 0;
    struct stat sb;
    long long lines = 0;
    char buf[65536], last = '\n';
    ssize_t n = 0;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode))
        while ((n = read(fd, buf, sizeof buf)) > 0) {
            for (ssize_t i = 0; i < n; i++) lines += buf[i] == '\n';
            last = buf[n - 1];
        }
    close(fd);
    return n < 0 ? 0 : lines + (last != '\n');
}
