/* cxr_status.h: status codes and error messages shared by every cxr library.
 *
 * Library functions never exit() or print: they return a cxr_status and leave a message with
 * context (file name, split, shard, layer) in a thread-local buffer, read with cxr_last_error().
 * Only tools/ and tests/ decide to print and exit. The numeric values are pinned: tools map
 * them to exit codes (see cxr_exit_code) and they must not change.
 */
#ifndef CXR_STATUS_H
#define CXR_STATUS_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CXR_OK = 0,
    CXR_E_ARG = 1,          /* bad argument or option */
    CXR_E_IO = 2,           /* open/read/write/rename failed */
    CXR_E_NOMEM = 3,        /* allocation failed */
    CXR_E_FORMAT = 4,       /* a file is not what it should be (missing dataset, bad shape...) */
    CXR_E_VERSION = 5,      /* store/checkpoint of another format version */
    CXR_E_DECODE = 6,       /* an input image could not be decoded */
    CXR_E_CHECKSUM = 7,     /* a chunk failed its Fletcher32 */
    CXR_E_COMPRESS = 8,     /* zstd failed */
    CXR_E_HDF5 = 9,         /* an HDF5 call failed */
    CXR_E_CUDA = 10,        /* a CUDA/cuDNN/cuBLAS call failed */
    CXR_E_NODEVICE = 11,    /* no usable GPU */
    CXR_E_INTERRUPTED = 12, /* a signal asked us to stop */
    CXR_E_MISMATCH = 13,    /* checkpoint does not match the model, labels out of range */
    CXR_E_UNSUPPORTED = 14, /* built without the feature asked for */
    CXR_E_INTERNAL = 15
} cxr_status;

/* The longest message kept (bytes with the final NUL): room for two paths of PATH_MAX and the
 * reason, so that a long path never hides what happened. A longer message loses its tail. */
#define CXR_MSG_MAX 10240

/* Record `code` with a printf-style message for this thread; returns `code`. The message may
 * quote the one it replaces (an argument cxr_last_error()). Both leave errno as it was. A
 * CXR_E_NOMEM message gains cxr_mem_limit_note's words when an address-space limit is set and
 * it names no limit already ("ulimit -") nor a GPU's memory ("device memory", CUDA, GPU). */
cxr_status cxr_set_error(cxr_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message with "context: " (e.g. a file name); returns `code`. */
cxr_status cxr_wrap_error(cxr_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The last message recorded on this thread ("" if none). Valid until the next set/wrap. */
const char *cxr_last_error(void);
/* A short constant name for a status ("checksum", "io", ...). */
const char *cxr_status_name(cxr_status code);
/* Process exit code for a status: 0 ok, 2 usage, 3 input/data error, 4 I/O, 5 device,
 * 130 interrupted, 1 anything else. Documented in every tool's --help. */
int cxr_exit_code(cxr_status code);
/* The library's version, "MAJOR.MINOR.PATCH" (the tools' --version, cxr.pc, cxrConfig.cmake). */
const char *cxr_version_string(void);

/* Set the error and jump to the function's single cleanup label `bail`, with `st` as the
 * status variable (turbojpeg's THROW, zstd's RETURN_ERROR_IF). */
#define CXR_THROW(code, ...)                     \
    do {                                         \
        st = cxr_set_error((code), __VA_ARGS__); \
        goto bail;                               \
    } while (0)
/* Evaluate a call returning cxr_status; on failure keep its message and jump to `bail`. */
#define CXR_TRY(expr)                \
    do {                             \
        st = (expr);                 \
        if (st != CXR_OK) goto bail; \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
