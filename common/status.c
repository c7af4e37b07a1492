/* status.c: thread-local error messages behind cxr_status.h. */
#include "cxr_status.h"

#include "cxr_memory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char last_msg[CXR_MSG_MAX];

cxr_status cxr_set_error(cxr_status code, const char *fmt, ...)
{
    char msg[sizeof last_msg]; /* formatted apart: an argument may be cxr_last_error() */
    const int e = errno;       /* kept for the caller, who may pass it on */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* an allocation that failed under an address-space limit (ulimit -v, a batch scheduler's
     * vmem limit) says so, whichever library or tool it failed in, once; not where the message
     * names what ran out already: another limit (ulimit -n: files), or a GPU's memory */
    if (code == CXR_E_NOMEM && !strstr(msg, "ulimit -") && !strstr(msg, "device memory") &&
        !strstr(msg, "CUDA") && !strstr(msg, "cuda") && !strstr(msg, "GPU") &&
        !strstr(msg, "gpu")) {
        char note[96];
        const size_t n = strlen(msg);
        snprintf(msg + n, sizeof msg - n, "%s", cxr_mem_limit_note(note, sizeof note));
    }
    memcpy(last_msg, msg, sizeof msg);
    errno = e;
    return code;
}

cxr_status cxr_wrap_error(cxr_status code, const char *fmt, ...)
{
    char prefix[CXR_MSG_MAX / 2], old[sizeof last_msg];
    const int e = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_msg, sizeof old);
    /* "prefix: old", cut to the buffer: a long message loses its tail, never the context */
    size_t pl = strnlen(prefix, sizeof prefix), ol = strnlen(old, sizeof old); /* pl < half */
    if (ol > sizeof last_msg - 3 - pl) ol = sizeof last_msg - 3 - pl;
    memcpy(last_msg, prefix, pl);
    memcpy(last_msg + pl, ": ", 2);
    memcpy(last_msg + pl + 2, old, ol);
    last_msg[pl + 2 + ol] = '\0';
    errno = e;
    return code;
}

const char *cxr_last_error(void) { return last_msg; }

const char *cxr_status_name(cxr_status code)
{
    static const char *const names[] = { "ok",          "argument", "io",          "out of memory",
                                         "format",      "version",  "decode",      "checksum",
                                         "compress",    "hdf5",     "cuda",        "no device",
                                         "interrupted", "mismatch", "unsupported", "internal" };
    if ((unsigned)code < sizeof names / sizeof names[0]) return names[code];
    return "unknown";
}

int cxr_exit_code(cxr_status code)
{
    switch (code) {
    case CXR_OK: return 0;
    case CXR_E_ARG: return 2;
    case CXR_E_FORMAT:
    case CXR_E_VERSION:
    case CXR_E_DECODE:
    case CXR_E_CHECKSUM:
    case CXR_E_MISMATCH: return 3;
    case CXR_E_IO:
    case CXR_E_HDF5: return 4;
    case CXR_E_CUDA:
    case CXR_E_NODEVICE:
    case CXR_E_UNSUPPORTED: return 5;
    case CXR_E_INTERRUPTED: return 130;
    default: return 1;
    }
}

const char *cxr_version_string(void) { return CXR_VERSION_STRING; }
