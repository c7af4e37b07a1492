/* fuzz_common.h: what the libFuzzer targets share. Inputs that our readers take by path are
 * written to an anonymous memory file (memfd) and opened as /proc/self/fd/N, so nothing lands
 * on disk; HDF5 cannot open such a path (it fails to resolve its real path), so the HDF5
 * targets write the input to a file in a private folder under $TMPDIR, removed at exit, where
 * cxr-report's HTML goes too. Findings abort(): a crash is what libFuzzer reports. */
#ifndef CXR_FUZZ_COMMON_H
#define CXR_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A failed check of the target's own oracle: print and abort (libFuzzer saves the input). */
#define FUZZ_CHECK(cond, ...)                                                             \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

/* A memory file holding data[0..size); its path (/proc/self/fd/N) goes into path[cap].
 * Returns the descriptor (close it when done), or aborts: a harness failure, not a finding. */
static inline int fuzz_memfile(const char *name, const uint8_t *data, size_t size, char *path,
                               size_t cap)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w <= 0) {
            perror("memfd write");
            abort();
        }
        done += (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* A private folder under $TMPDIR (else /tmp), created on first use and removed with all it
 * holds at a normal exit (a crash leaves it for the post-mortem). */
static char fuzz_tmp[4096];
static int fuzz_rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    if (remove(path) != 0) perror(path);
    return 0;
}
static void fuzz_tmp_remove(void)
{
    if (fuzz_tmp[0]) nftw(fuzz_tmp, fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}
static inline const char *fuzz_tmpdir(void)
{
    if (fuzz_tmp[0]) return fuzz_tmp;
    const char *base = getenv("TMPDIR");
    snprintf(fuzz_tmp, sizeof fuzz_tmp, "%s/cxr-fuzz-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(fuzz_tmp)) {
        perror("mkdtemp");
        abort();
    }
    atexit(fuzz_tmp_remove);
    return fuzz_tmp;
}

/* Write data[0..size) to NAME in the private folder; its path goes into path[cap]. */
static inline void fuzz_tmpfile(const char *name, const uint8_t *data, size_t size, char *path,
                                size_t cap)
{
    snprintf(path, cap, "%s/%s", fuzz_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
