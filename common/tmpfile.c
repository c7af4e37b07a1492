/* tmpfile.c: temporaries renamed into place, and the removal of stale ones (cxr_tmpfile.h). */
#define _GNU_SOURCE /* getrandom, O_CLOEXEC, fstatat */
#include "cxr_tmpfile.h"
#include "cxr_files.h"
#include "cxr_memory.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TMP_TAG ".cxr-tmp-"
/* ".<base>" + TMP_TAG + pid + "-" + 16 hex must fit NAME_MAX (255): the base is cut to this. */
#define BASE_MAX 200

/* Split target into its folder (malloc'd; "." when none) and the temporary's name prefix
 * ".<base>.cxr-tmp-" (malloc'd). */
static cxr_status split_target(const char *target, char **dir, char **prefix)
{
    *dir = *prefix = NULL;
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        errno = EINVAL;
        return cxr_set_error(CXR_E_ARG, "%s: not a file name", target);
    }
    size_t bl = strlen(base);
    if (bl > BASE_MAX) bl = BASE_MAX;
    *dir = slash ? strndup(target, slash == target ? 1 : (size_t)(slash - target)) : strdup(".");
    *prefix = malloc(bl + sizeof TMP_TAG + 1);
    if (!*dir || !*prefix) {
        free(*dir);
        free(*prefix);
        *dir = *prefix = NULL;
        return cxr_set_error(CXR_E_NOMEM, "%s: out of memory", target);
    }
    (*prefix)[0] = '.';
    memcpy(*prefix + 1, base, bl);
    memcpy(*prefix + 1 + bl, TMP_TAG, sizeof TMP_TAG); /* with the terminator */
    return CXR_OK;
}

/* The pid of a temporary's name "<prefix><pid>-<16 hex>", or -1 if the rest is not that. */
static long parse_owner(const char *rest)
{
    char *end;
    errno = 0;
    long pid = strtol(rest, &end, 10);
    if (end == rest || errno || pid < 1 || pid > INT_MAX || *end != '-') return -1;
    for (int i = 1; i <= 16; i++)
        if (!((end[i] >= '0' && end[i] <= '9') || (end[i] >= 'a' && end[i] <= 'f'))) return -1;
    return end[17] == '\0' ? pid : -1;
}

/* Not written to for CXR_TMPFILE_STALE_S: a live writer in another pid namespace (a container,
 * another NFS client) with no lock to see (HDF5_USE_FILE_LOCKING=FALSE, as on many network file
 * systems) has written to its temporary more recently than that. */
static int quiet_for_long(const struct stat *a)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0) return 0;
    return (double)(now.tv_sec - a->st_mtim.tv_sec) > CXR_TMPFILE_STALE_S;
}

/* A temporary `name` (in the folder dfd; its owner's pid after the prefix's pl bytes) of a
 * process not running here, this user's and a regular file (*a its stat): what a sweep may
 * remove once stale, if no one holds its lock. */
static int dead_owner(int dfd, const char *name, size_t pl, struct stat *a)
{
    long pid = parse_owner(name + pl);
    if (pid < 0 || pid == (long)getpid()) return 0;
    /* a live process (or one we may not signal) may still be writing it */
    if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) return 0;
    return fstatat(dfd, name, a, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(a->st_mode) &&
           a->st_uid == geteuid();
}

int cxr_tmpfile_leftovers(const char *target, int64_t *bytes, char *first, size_t cap)
{
    char *dir = NULL, *prefix = NULL, *resolved = NULL;
    int n = 0;
    *bytes = 0;
    if (cap) first[0] = '\0';
    /* beside the file a symbolic link names, where cxr_tmpfile_create puts them */
    if (!target || cxr_tmpfile_resolve(target, &resolved) != CXR_OK) return 0;
    if (split_target(resolved ? resolved : target, &dir, &prefix) != CXR_OK) {
        free(resolved);
        return 0;
    }
    DIR *d = opendir(dir);
    if (d) {
        const size_t pl = strlen(prefix);
        struct dirent *e;
        struct stat a;
        while ((e = readdir(d)) != NULL) {
            if (strncmp(e->d_name, prefix, pl) != 0) continue;
            /* not opened: a lock taken to look could fail a live writer's (another pid
             * namespace's) taking it */
            if (!dead_owner(dirfd(d), e->d_name, pl, &a) || quiet_for_long(&a)) continue;
            if (n++ == 0 && cap) snprintf(first, cap, "%s/%s", dir, e->d_name);
            *bytes += (int64_t)a.st_size;
        }
        closedir(d);
    }
    free(resolved);
    free(dir);
    free(prefix);
    return n;
}

void cxr_tmpfile_note_leftovers(const char *tool, const char *target)
{
    char first[4096 + 64];
    int64_t bytes = 0;
    const int n = cxr_tmpfile_leftovers(target, &bytes, first, sizeof first);
    if (n == 0) return;
    fprintf(stderr, "%s: note: ", tool);
    cxr_fputs_escaped(first, stderr);
    if (n > 1) fprintf(stderr, " and %d more", n - 1);
    fprintf(stderr,
            " (%.1f MiB), left by a run that ended before its output was complete (killed), "
            "unless a run of another container or host writes %s: a later run removes %s once "
            "%d minutes unwritten\n",
            cxr_mib((double)bytes), n > 1 ? "them" : "it", n > 1 ? "them" : "it",
            CXR_TMPFILE_STALE_S / 60);
}

int cxr_tmpfile_sweep(const char *target)
{
    char *dir = NULL, *prefix = NULL;
    int removed = 0;
    if (!target || split_target(target, &dir, &prefix) != CXR_OK) return 0;
    DIR *d = opendir(dir);
    if (!d) goto done;
    int dfd = dirfd(d);
    size_t pl = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, pl) != 0) continue;
        struct stat a, b;
        if (!dead_owner(dfd, e->d_name, pl, &a) || !quiet_for_long(&a)) continue;
        int fd = openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        /* same file as examined, and no writer (in another pid namespace, say) holds it */
        if (fstat(fd, &b) == 0 && b.st_dev == a.st_dev && b.st_ino == a.st_ino &&
            flock(fd, LOCK_EX | LOCK_NB) == 0 && unlinkat(dfd, e->d_name, 0) == 0)
            removed++;
        close(fd);
    }
    closedir(d);
done:
    free(dir);
    free(prefix);
    return removed;
}

static uint64_t random64(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) == (ssize_t)sizeof r) return r;
    /* no getrandom (old kernel): O_EXCL still guarantees a fresh file, only less unguessable */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    static uint64_t counter;
    r = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)getpid() << 40) ^
        (++counter * 0x9E3779B97F4A7C15ull);
    return r;
}

cxr_status cxr_tmpfile_resolve(const char *target, char **resolved)
{
    /* a symbolic link is written through: the file it names is replaced, beside itself (the
     * rename would otherwise replace the link with a file, leaving its target stale) */
    struct stat ls;
    *resolved = NULL;
    if (lstat(target, &ls) == 0 && S_ISLNK(ls.st_mode) && !(*resolved = realpath(target, NULL)))
        return cxr_set_error(CXR_E_IO,
                             "%s: a symbolic link whose target cannot be resolved: %s; give the "
                             "file's own path",
                             target, strerror(errno));
    return CXR_OK;
}

cxr_status cxr_tmpfile_check_writable(const char *target)
{
    struct stat o, d;
    if (stat(target, &o) != 0 || !S_ISREG(o.st_mode)) return CXR_OK;
    /* (errno EACCES, as refused); chmod is the owner's: another user's file names its owner */
    if (access(target, W_OK) != 0 && errno == EACCES) {
        if (o.st_uid != geteuid())
            return cxr_set_error(CXR_E_IO,
                                 "%s: is not writable by this user (owner uid %u, mode %04o): "
                                 "not replaced; give another name",
                                 target, (unsigned)o.st_uid, (unsigned)(o.st_mode & 07777));
        return cxr_set_error(CXR_E_IO,
                             "%s: is write-protected (mode %04o): not replaced; make it writable "
                             "(chmod u+w) or give another name",
                             target, (unsigned)(o.st_mode & 07777));
    }
    /* in a sticky folder (/tmp's mode 1777) only the file's owner, the folder's or root may
     * replace it by a rename: found now, not at the commit after all the work */
    char dir[4096];
    const uid_t me = geteuid();
    if (me != 0 && o.st_uid != me && stat(cxr_parent_dir(dir, sizeof dir, target), &d) == 0 &&
        (d.st_mode & S_ISVTX) && d.st_uid != me) {
        errno = EPERM; /* what the rename would fail with */
        return cxr_set_error(CXR_E_IO,
                             "%s: belongs to another user (uid %u) in a sticky folder (mode "
                             "%04o, like /tmp): this user cannot replace it; give another name",
                             target, (unsigned)o.st_uid, (unsigned)(d.st_mode & 07777));
    }
    return CXR_OK;
}

void cxr_tmpfile_init(cxr_tmpfile *t)
{
    t->path = t->target = NULL;
    t->fd = t->held = -1;
}

cxr_status cxr_tmpfile_create(cxr_tmpfile *t, const char *target, int lock)
{
    cxr_status st = CXR_OK;
    char *dir = NULL, *prefix = NULL;
    if (!t) return cxr_set_error(CXR_E_ARG, "cxr_tmpfile_create: no object");
    cxr_tmpfile_init(t);
    if (!target || !*target) return cxr_set_error(CXR_E_ARG, "cxr_tmpfile_create: no path");
    char *resolved = NULL;
    CXR_TRY(cxr_tmpfile_resolve(target, &resolved));
    if (resolved) target = resolved;
    st = cxr_tmpfile_check_writable(target);
    if (st == CXR_OK) st = split_target(target, &dir, &prefix);
    if (st != CXR_OK) {
        free(resolved);
        return st;
    }
    cxr_tmpfile_sweep(target);
    size_t cap = strlen(dir) + 1 + strlen(prefix) + 32;
    t->path = malloc(cap);
    t->target = resolved ? resolved : strdup(target);
    resolved = NULL;
    if (!t->path || !t->target) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", target);
    for (int attempt = 0;; attempt++) {
        snprintf(t->path, cap, "%s/%s%ld-%016llx", dir, prefix, (long)getpid(),
                 (unsigned long long)random64());
        t->fd = open(t->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (t->fd >= 0) break;
        if (errno != EEXIST || attempt >= 100)
            CXR_THROW(CXR_E_IO, "%s: cannot create a temporary file in %s: %s", target, dir,
                      strerror(errno));
    }
    if (lock && flock(t->fd, LOCK_EX | LOCK_NB) != 0)
        CXR_THROW(CXR_E_IO, "%s: cannot lock its temporary file %s: %s", target, t->path,
                  strerror(errno));
bail:
    if (st != CXR_OK) {
        if (t->fd >= 0) {
            unlink(t->path);
            close(t->fd);
        }
        free(t->path);
        free(t->target);
        cxr_tmpfile_init(t);
    }
    free(dir);
    free(prefix);
    return st;
}

char *cxr_tmpfile_link(const char *target)
{
    char *dir = NULL, *prefix = NULL, *name = NULL;
    if (access(target, F_OK) != 0 || split_target(target, &dir, &prefix) != CXR_OK)
        return NULL; /* (split_target's message is no one's: the caller goes on without) */
    const size_t cap = strlen(dir) + 1 + strlen(prefix) + 32;
    if ((name = malloc(cap)))
        for (int attempt = 0;; attempt++) {
            snprintf(name, cap, "%s/%s%ld-%016llx", dir, prefix, (long)getpid(),
                     (unsigned long long)random64());
            if (link(target, name) == 0) break;
            if (errno != EEXIST || attempt >= 100) {
                free(name);
                name = NULL;
                break;
            }
        }
    free(dir);
    free(prefix);
    return name;
}

const char *cxr_tmpfile_open_name(const cxr_tmpfile *t, char *buf, size_t cap)
{
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", t->fd);
    struct stat a, b;
    /* the magic link reopens the descriptor's own file, whatever its name now points to */
    if (t->fd >= 0 && stat(proc, &a) == 0 && fstat(t->fd, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino)
        snprintf(buf, cap, "%s", proc);
    else
        snprintf(buf, cap, "%s", t->path ? t->path : "");
    return buf;
}

int cxr_tmpfile_same_file(const cxr_tmpfile *t, int fd)
{
    struct stat a, b;
    return t && t->fd >= 0 && fd >= 0 && fstat(t->fd, &a) == 0 && fstat(fd, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

FILE *cxr_tmpfile_stream(cxr_tmpfile *t, const char *mode)
{
    int fd = t && t->fd >= 0 ? dup(t->fd) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, mode) : NULL;
    if (!f) {
        cxr_set_error(CXR_E_IO, "%s: cannot write its temporary file: %s",
                      t && t->target ? t->target : "temporary file",
                      strerror(errno ? errno : EBADF));
        if (fd >= 0) close(fd);
    }
    return f;
}

cxr_status cxr_tmpfile_commit_stream(cxr_tmpfile *t, FILE **f)
{
    FILE *s = *f;
    *f = NULL;
    int bad = ferror(s) || fflush(s) != 0;
    int e = errno;
    if (fclose(s) != 0 && !bad) bad = 1, e = errno;
    if (bad) return cxr_set_error(CXR_E_IO, "%s: write failed: %s", t->target, strerror(e));
    return cxr_tmpfile_commit(t);
}

cxr_status cxr_tmpfile_sync(cxr_tmpfile *t)
{
    if (!t || !t->path || t->fd < 0)
        return cxr_set_error(CXR_E_ARG, "cxr_tmpfile_sync: no temporary file");
    if (fsync(t->fd) != 0)
        return cxr_set_error(CXR_E_IO, "%s: cannot sync it to disk: %s", t->target,
                             strerror(errno));
    return CXR_OK;
}

cxr_status cxr_tmpfile_commit(cxr_tmpfile *t)
{
    if (!t || !t->path || t->fd < 0)
        return cxr_set_error(CXR_E_ARG, "cxr_tmpfile_commit: no temporary file");
    /* the bytes must be durable before the rename makes them visible (after a sync this
     * fsync finds nothing left to write) */
    cxr_status st = cxr_tmpfile_sync(t);
    if (st != CXR_OK) return st;
    int rc = close(t->fd);
    t->fd = -1;
    if (rc != 0)
        return cxr_set_error(CXR_E_IO, "%s: cannot close it: %s", t->target, strerror(errno));
    /* a file replaced keeps its permissions (a checkpoint made private stays private) and, as
     * far as this user may give them, its owner and group (chown first: it clears set-id bits) */
    struct stat o;
    if (stat(t->target, &o) == 0 && S_ISREG(o.st_mode)) {
        if (chown(t->path, o.st_uid, o.st_gid) != 0) (void)!chown(t->path, (uid_t)-1, o.st_gid);
        (void)chmod(t->path, o.st_mode & 07777);
    }
    if (rename(t->path, t->target) != 0)
        return cxr_set_error(CXR_E_IO, "%s: cannot rename its temporary into place: %s", t->target,
                             strerror(errno));
    free(t->path);
    t->path = NULL;
    if (t->held >= 0) close(t->held); /* the file replaced, and its lock: no longer at target */
    t->held = -1;
    const char *slash = strrchr(t->target, '/');
    char *dir = slash ? strndup(t->target, slash == t->target ? 1 : (size_t)(slash - t->target))
                      : strdup(".");
    if (dir) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd); /* best effort: the rename is already visible */
            close(dfd);
        }
        free(dir);
    }
    return CXR_OK;
}

void cxr_tmpfile_discard(cxr_tmpfile *t)
{
    if (!t) return;
    if (t->path) unlink(t->path);
    if (t->fd >= 0) close(t->fd);
    if (t->held >= 0) close(t->held);
    free(t->path);
    free(t->target);
    cxr_tmpfile_init(t);
}
