/* kill_at.c: an LD_PRELOAD shim for the CLI tests: kills the process (SIGKILL, as a crash or
 * the OOM killer would) at an exact point of its file operations, windows that a kill after a
 * delay almost never hits. CXR_TEST_KILL="FUNC N WHEN [SUFFIX]": before or after (WHEN) the
 * Nth call of FUNC (rename, linkat, open, or any of them; or fopen, named alone) whose new or
 * opened path ends with SUFFIX (any path without one); a fifth word TERM sends SIGTERM instead,
 * TERMINT SIGTERM and then SIGINT (a second stop signal), STOP SIGSTOP (the test holds the run
 * there until its SIGCONT), and EIO makes a rename "before" fail with EIO, undone (a device
 * error, not a crash). CXR_TEST_FAIL_WRITE="SIZE PATTERN": every write, pwrite or pwrite64 of
 * exactly SIZE bytes to a file whose path contains PATTERN fails with EIO, writing nothing (one
 * write lost to a device error: a bad block, a quota met and freed again). Only for tests; the
 * tools know nothing of it. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static char func[16], when[8], suffix[256], sig[8];
static int target = -1, calls;

static void setup(void)
{
    if (target >= 0) return;
    target = 0;
    const char *spec = getenv("CXR_TEST_KILL");
    if (spec && sscanf(spec, "%15s %d %7s %255s %7s", func, &target, when, suffix, sig) < 3)
        target = 0;
}

/* 1 when this call of fn on path is the one to kill at (FUNC "any": rename, linkat or open) */
static int counted(const char *fn, const char *path)
{
    setup();
    if (target <= 0 || (strcmp(fn, func) != 0 && strcmp(func, "any") != 0) || !path) return 0;
    const size_t n = strlen(path), m = strlen(suffix);
    if (m && (n < m || strcmp(path + n - m, suffix) != 0)) return 0;
    return ++calls == target;
}

static void at(int hit, const char *w)
{
    if (!hit || strcmp(when, w) != 0 || !strcmp(sig, "EIO")) return;
    if (!strcmp(sig, "TERMINT")) {
        raise(SIGTERM);
        raise(SIGINT);
    } else {
        raise(!strcmp(sig, "TERM") ? SIGTERM : !strcmp(sig, "STOP") ? SIGSTOP : SIGKILL);
    }
}

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    if (!real) real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    const int hit = counted("rename", to);
    if (hit && !strcmp(when, "before") && !strcmp(sig, "EIO")) {
        errno = EIO;
        return -1;
    }
    at(hit, "before");
    const int r = real(from, to);
    at(hit, "after");
    return r;
}

int linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
    static int (*real)(int, const char *, int, const char *, int);
    if (!real)
        real = (int (*)(int, const char *, int, const char *, int))dlsym(RTLD_NEXT, "linkat");
    const int hit = counted("linkat", to);
    at(hit, "before");
    const int r = real(fd1, from, fd2, to, flags);
    at(hit, "after");
    return r;
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    va_list ap;
    va_start(ap, flags);
    const mode_t mode = (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
    va_end(ap);
    const int hit = counted("open", path);
    at(hit, "before");
    const int r = real(path, flags, mode);
    at(hit, "after");
    return r;
}

/* the same function on x86-64 (large files are the default) */
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

/* stdio's opens do not go through open() (glibc calls its own): a reader of text files */
FILE *fopen(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (!real) real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    setup();
    const int hit = !strcmp(func, "fopen") && counted("fopen", path);
    at(hit, "before");
    FILE *r = real(path, mode);
    at(hit, "after");
    return r;
}

/* CXR_TEST_FAIL_WRITE: 1 when a write of n bytes to fd is to fail */
static int write_fails(int fd, size_t n)
{
    static long long size = -1;
    static char pattern[256];
    if (size < 0) {
        const char *spec = getenv("CXR_TEST_FAIL_WRITE");
        size = 0;
        if (spec && sscanf(spec, "%lld %255s", &size, pattern) != 2) size = 0;
    }
    if (size <= 0 || (long long)n != size) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    const ssize_t k = readlink(link, path, sizeof path - 1);
    if (k <= 0) return 0;
    path[k] = '\0';
    return strstr(path, pattern) != NULL;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (write_fails(fd, n)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    if (write_fails(fd, n)) {
        errno = EIO;
        return -1;
    }
    return real(fd, buf, n, off);
}

/* the same function on x86-64 (large files are the default) */
ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) __attribute__((alias("pwrite")));
