/* fail_fsync.c: an LD_PRELOAD shim for tests. fsync and fdatasync fail with EIO on a file
 * whose path contains $CXR_TEST_FAIL_FSYNC: a device that loses the last writes, seen only
 * when they are made durable. Every other call goes to the C library's. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fails(int fd)
{
    const char *pat = getenv("CXR_TEST_FAIL_FSYNC");
    if (!pat || !*pat) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = '\0';
    return strstr(path, pat) != NULL;
}

static int call(int fd, const char *name)
{
    if (fails(fd)) {
        errno = EIO;
        return -1;
    }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, name);
    return real(fd);
}

int fsync(int fd) { return call(fd, "fsync"); }
int fdatasync(int fd) { return call(fd, "fdatasync"); }
