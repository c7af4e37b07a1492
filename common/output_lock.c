/* output_lock.c: one writer per output (cxr_output_lock, cxr_files.h). Every tool writes its
 * output through a temporary renamed into place, so two runs writing one file tear nothing, but
 * the last to finish would replace the other's output after that one said "wrote". A run holds
 * an flock on ".NAME.cxr-lock" beside the file (the lock cxr-train holds on its models), whose
 * line names it for the refusal.
 */
#define _GNU_SOURCE
#include "output_lock.h"
#include "cxr_files.h"
#include "cxr_signals.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

void cxr_lock_holder(const char *line, long *pid, char *tool, size_t cap)
{
    char *end;
    *pid = strtol(line, &end, 10);
    tool[0] = 0;
    if (*pid <= 0 || (kill((pid_t)*pid, 0) != 0 && errno == ESRCH)) {
        *pid = 0;
        return;
    }
    while (*end == ' ') end++;
    const size_t n = strspn(end, "abcdefghijklmnopqrstuvwxyz0123456789-_");
    if (n == 0) /* the pid alone: the lock line of cxr-train before other tools took locks */
        snprintf(tool, cap, "cxr-train");
    else
        snprintf(tool, cap, "%.*s", (int)n, end);
}

cxr_status cxr_output_busy(const char *opt, const char *out, long pid, const char *tool)
{
    char who[48] = "";
    if (pid > 0) snprintf(who, sizeof who, " (pid %ld)", pid);
    const int train = strcmp(tool, "cxr-train") == 0;
    return cxr_set_error(CXR_E_ARG,
                         "%s is being written by another %s run%s%s: wait for it to end, or give "
                         "another %s",
                         out, tool[0] ? tool : "cxr", who,
                         train ? " (its model or best model)" : "", opt[0] == '-' ? opt : "name");
}

/* The lock files this process holds, removed at exit, or by a stop signal that kills it, while
 * still the files it made (a run that found one a killed run left has taken it over). `held` is
 * set last: the signal handler reads whole entries only. */
enum { N_LOCKS = 8 };
static struct {
    char path[4200];
    dev_t dev;
    ino_t ino;
    volatile sig_atomic_t held;
} locks[N_LOCKS];

/* stat and unlink only: called from a signal handler too. The descriptors stay open, and the
 * locks held, until the process ends: a run that opened the file meanwhile finds it gone once it
 * has the lock, and makes another. */
static void drop_locks(void)
{
    for (int k = 0; k < N_LOCKS; k++) {
        struct stat sb;
        if (locks[k].held && stat(locks[k].path, &sb) == 0 && sb.st_dev == locks[k].dev &&
            sb.st_ino == locks[k].ino)
            unlink(locks[k].path);
    }
}

/* The lock files go at exit, and with a stop signal that kills the tool: one whose action was
 * death when the first lock was taken (cxr-export and cxr-report, which have no stop handler
 * until they write) or the stop handler's second (cxr_signals_last_words). */
static void remove_at_end(void)
{
    static int done;
    if (done++) return;
    atexit(drop_locks);
    cxr_signals_last_words(drop_locks);
}

/* 1 when fd's file is a lock file this process holds already (an output locked twice). */
static int held_here(const struct stat *a)
{
    for (int k = 0; k < N_LOCKS; k++)
        if (locks[k].held && locks[k].dev == a->st_dev && locks[k].ino == a->st_ino) return 1;
    return 0;
}

cxr_status cxr_output_lock(const char *tool, const char *opt, const char *out)
{
    char lp[sizeof locks[0].path];
    if (cxr_model_lock_path(lp, sizeof lp, out) != 0) return CXR_OK; /* no name: as before */
    for (int attempt = 0; attempt < 10; attempt++) {
        /* O_NONBLOCK: a FIFO there never blocks the open (it is then no lock file) */
        int fd = open(lp, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
        const int read_only = fd < 0 && errno == EACCES;
        if (read_only) fd = open(lp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        /* a folder this user cannot create in (where the output's own write says why, if it
         * fails), another user's file in theirs: unlocked, as before */
        if (fd < 0) return CXR_OK;
        struct stat a, b;
        if (fstat(fd, &a) != 0 || !S_ISREG(a.st_mode) || held_here(&a)) {
            close(fd); /* not a lock file, or ours already */
            return CXR_OK;
        }
        if (cxr_flock_ex_nb(fd) != 0) {
            const int busy = errno == EWOULDBLOCK;
            char line[96] = "", holder[32];
            const ssize_t got = busy ? pread(fd, line, sizeof line - 1, 0) : -1;
            close(fd);
            if (!busy) return CXR_OK; /* a file system without flock: as before */
            long pid;
            line[got > 0 ? got : 0] = 0;
            cxr_lock_holder(line, &pid, holder, sizeof holder);
            return cxr_output_busy(opt, out, pid, holder);
        }
        /* still the file at that name (not one a finishing run removed)? */
        if (stat(lp, &b) != 0 || a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
            close(fd);
            continue;
        }
        char line[96];
        const int len = snprintf(line, sizeof line, "%ld %s\n", (long)getpid(), tool);
        if (read_only || len <= 0 || (size_t)len >= sizeof line || ftruncate(fd, 0) != 0 ||
            pwrite(fd, line, (size_t)len, 0) != len) {
            /* read-only (another user's file) or a full disk: the lock holds; the line is only
             * for a message */
        }
        /* (more outputs than slots: held all the same, the file left at exit as a killed run's) */
        for (int k = 0; k < N_LOCKS; k++)
            if (!locks[k].held) {
                memcpy(locks[k].path, lp, sizeof lp);
                locks[k].dev = a.st_dev, locks[k].ino = a.st_ino;
                /* the slot whole before the signal handler may see it held */
                atomic_signal_fence(memory_order_release);
                locks[k].held = 1;
                remove_at_end();
                break;
            }
        return CXR_OK; /* fd stays open, and the lock with it, until exit */
    }
    return CXR_OK;
}
