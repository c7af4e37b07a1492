/* test_status.c: cxr_wrap_error puts the context first and cuts long messages at the buffer's
 * end (CXR_MSG_MAX), never past it (a long context keeps its first CXR_MSG_MAX / 2 - 1 bytes and
 * then the message); a message holding a 4096-byte path keeps what follows it; a message may
 * quote the one it replaces; an out of memory under an address-space limit (ulimit -v) names
 * the limit, once, unless it names another limit or a GPU's memory, and no other status does
 * (in a child process, whose limit is set);
 * cxr_exit_code maps the pinned statuses to the documented exit codes. */
#include "cxr_status.h"
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int limit_named(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur == RLIM_INFINITY) {
        cxr_set_error(CXR_E_NOMEM, "cannot allocate 8 bytes");
        if (strcmp(cxr_last_error(), "cannot allocate 8 bytes")) {
            printf("no limit, yet: %s\n", cxr_last_error());
            return 1;
        }
    }
    r.rlim_cur = (rlim_t)1 << 45; /* 32 TiB: nothing below allocates */
    if (r.rlim_max != RLIM_INFINITY && r.rlim_max < r.rlim_cur) r.rlim_cur = r.rlim_max;
    if (setrlimit(RLIMIT_AS, &r)) {
        printf("setrlimit failed\n");
        return 1;
    }
    char want[160];
    snprintf(want, sizeof want,
             "cannot allocate 8 bytes (this process's address space is limited to %.0f MiB: "
             "ulimit -v)",
             (double)r.rlim_cur / 1048576.0);
    cxr_set_error(CXR_E_NOMEM, "cannot allocate 8 bytes");
    if (strcmp(cxr_last_error(), want)) {
        printf("want '%s', got '%s'\n", want, cxr_last_error());
        return 1;
    }
    cxr_set_error(CXR_E_NOMEM, "outer (%s)", cxr_last_error()); /* named once */
    if (strstr(strstr(cxr_last_error(), "ulimit -v") + 1, "ulimit -v")) {
        printf("named twice: %s\n", cxr_last_error());
        return 1;
    }
    /* a message naming what ran out already: another limit, a GPU's memory */
    static const char *const named[] = { "cannot open: Too many open files (ulimit -n)",
                                         "split 'train' does not fit in device memory",
                                         "cuda alloc: cudaMalloc(p, n) failed: out of memory",
                                         "gpu loader: out of memory",
                                         "CUDA error 2: out of memory",
                                         "GPU 0 has 1.2 GiB free, needs 3.0" };
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        cxr_set_error(CXR_E_NOMEM, "%s", named[i]);
        if (strcmp(cxr_last_error(), named[i])) {
            printf("the address-space limit added to '%s'\n", named[i]);
            return 1;
        }
    }
    cxr_set_error(CXR_E_IO, "cannot read x");
    if (strcmp(cxr_last_error(), "cannot read x")) {
        printf("an I/O error named the limit: %s\n", cxr_last_error());
        return 1;
    }
    return 0;
}

int main(void)
{
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        const int r = limit_named();
        fflush(stdout);
        _exit(r);
    }
    int ws = 0;
    if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
        printf("the address-space limit's checks failed\n");
        return 1;
    }
    cxr_set_error(CXR_E_IO, "inner %d", 7);
    cxr_wrap_error(CXR_E_IO, "file %s", "a.h5");
    if (strcmp(cxr_last_error(), "file a.h5: inner 7")) {
        printf("bad: %s\n", cxr_last_error());
        return 1;
    }
    enum { HALF = CXR_MSG_MAX / 2 - 1 };
    static char big[2 * CXR_MSG_MAX];
    memset(big, 'x', sizeof big - 1);
    cxr_set_error(CXR_E_IO, "%.4095s: split 'train' shard 1: checksum", big);
    if (strlen(cxr_last_error()) != 4095 + 33) {
        printf("a long path cut the message: %zu\n", strlen(cxr_last_error()));
        return 1;
    }
    cxr_set_error(CXR_E_IO, "%s", big);
    cxr_wrap_error(CXR_E_IO, "ctx");
    if (strncmp(cxr_last_error(), "ctx: xxx", 8) || strlen(cxr_last_error()) != CXR_MSG_MAX - 1) {
        printf("bad long: %zu\n", strlen(cxr_last_error()));
        return 1;
    }
    /* a context longer than its buffer keeps its first HALF bytes and the message */
    cxr_set_error(CXR_E_IO, "m");
    cxr_wrap_error(CXR_E_IO, "%s", big);
    const char *e = cxr_last_error();
    if (strlen(e) != HALF + 3 || strspn(e, "x") != HALF || strcmp(e + HALF, ": m") != 0) {
        printf("bad long context: %zu bytes, ends '%s'\n", strlen(e), e + strspn(e, "x"));
        return 1;
    }
    /* a message may quote the one it replaces (its buffer would be read as it is written) */
    cxr_set_error(CXR_E_IO, "inner reason");
    cxr_set_error(CXR_E_IO, "outer words (%s): advice", cxr_last_error());
    if (strcmp(cxr_last_error(), "outer words (inner reason): advice")) {
        printf("bad quoted: %s\n", cxr_last_error());
        return 1;
    }
    if (cxr_exit_code(CXR_OK) != 0 || cxr_exit_code(CXR_E_ARG) != 2 ||
        cxr_exit_code(CXR_E_CHECKSUM) != 3 || cxr_exit_code(CXR_E_IO) != 4 ||
        cxr_exit_code(CXR_E_NODEVICE) != 5 || cxr_exit_code(CXR_E_INTERRUPTED) != 130) {
        printf("bad exit codes\n");
        return 1;
    }
    return 0;
}
