/* test_status.c: cxr_wrap_error puts the context first and cuts long messages at the buffer's
 * end (CXR_MSG_MAX), never past it (a long context keeps its first CXR_MSG_MAX / 2 - 1 bytes and
 * then the message); a message holding a 4096-byte path keeps what follows it; a message may
 * quote the one it replaces;
 * cxr_exit_code maps the pinned statuses to the documented exit codes. */
#include "cxr_status.h"
#include <stdio.h>
#include <string.h>
int main(void)
{
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
