/* cxr_parse.h: whole-string number parsing for command-line options and settings, with the
 * error as a value: CXR_E_ARG and a message naming the option, the range and what was given,
 * e.g. "--batch: expected an integer in [1, 4096], got '0'". The tools print it and exit 2. */
#ifndef CXR_PARSE_H
#define CXR_PARSE_H

#include <stddef.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* s, all of it, as a decimal integer in [lo, hi] (blanks before and after it allowed).
 * name: the option for the message ("--threads"). *out is written only on success. */
cxr_status cxr_parse_long(const char *s, const char *name, long lo, long hi, long *out);
cxr_status cxr_parse_int(const char *s, const char *name, int lo, int hi, int *out);

/* Which bounds of cxr_parse_double's range are excluded: (lo, hi], [lo, hi), (lo, hi). */
enum { CXR_PARSE_OPEN_LO = 1, CXR_PARSE_OPEN_HI = 2 };
/* s, all of it, as a number (strtod's syntax; blanks before and after it allowed) in the range
 * lo..hi, each bound included unless `open` excludes it; NaN is never in range; "-0" gives +0.
 * *out is written only on success. */
cxr_status cxr_parse_double(const char *s, const char *name, double lo, double hi, int open,
                            double *out);

/* The tools' --threads range; their default is OpenMP's (OMP_NUM_THREADS, else the cores). */
#define CXR_THREADS_MAX 1024
/* The smallest stack an OpenMP worker thread may be given (OMP_STACKSIZE): CLAHE alone keeps
 * 64 KiB of tables on it. */
#define CXR_THREAD_STACK_MIN (128 * 1024)
/* The smallest stack size limit (RLIMIT_STACK, `ulimit -s`) the tools run under: the main
 * thread holds buffers of paths and commands (cxr-pack died of SIGSEGV at 160 KiB, not at 192). */
#define CXR_STACK_LIMIT_MIN (256 * 1024)
/* 1 when the stack size limit is CXR_STACK_LIMIT_MIN or more (or none); else the line below on
 * stderr and 0. The tools check it before main (tools/tool_init.c): under about 96 KiB main's
 * own frame crashed before any check in it could run. */
int cxr_stack_limit_ok(const char *tool);
/* 1 when the tool can start its threads; else a line on stderr and 0, for the tool to exit 2:
 * - `threads`, its thread count, past 1..CXR_THREADS_MAX (only OMP_NUM_THREADS can give more:
 *   --threads is parsed within the range): "TOOL: the default thread count (OMP_NUM_THREADS,
 *   else the cores) is N ..." (a default of 100000 threads crashed libgomp creating them);
 * - a stack size limit below CXR_STACK_LIMIT_MIN: "TOOL: the stack size limit (ulimit -s) is N
 *   KiB; the tools need 256 KiB or more ...";
 * - for more than one thread, worker stacks below CXR_THREAD_STACK_MIN (OMP_STACKSIZE, else
 *   GOMP_STACKSIZE, as libgomp reads them; a value it ignores, not a size or one pthreads
 *   will not set (below the system's thread minimum), is not looked at): "TOOL:
 *   OMP_STACKSIZE=64K gives each worker thread a stack of 65536 bytes; they need 128 KiB or
 *   more ..." (a pack at 64K died of SIGSEGV in the decoder, one at 16K of libgomp's "Thread
 *   creation failed"). */
int cxr_threads_ok(const char *tool, int threads);

/* The tools' heartbeat off a terminal: the seconds between progress lines, 60 unless
 * CXR_PROGRESS_S holds a number >= 0 (a test knob, read in the C locale; else not looked at). */
double cxr_progress_every_s(void);

/* v as the shortest of "%.15g", "%.16g" and "%.17g" that reads back as v (0.1 -> "0.1", not
 * "0.10000000000000001"; 0.7581601142883301 in 16 digits), into buf (NUL-terminated,
 * truncated to cap bytes); returns buf. */
const char *cxr_format_double(char *buf, size_t cap, double v);

#ifdef __cplusplus
}
#endif
#endif
