/* parse.c: number parsing behind cxr_parse.h. */
#include "cxr_parse.h"
#include "c_locale.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Past the blanks trailing a number: "2 " is read as " 2" is (strtol and strtod skip leading
 * ones), e.g. a count from a command's output with its newline kept. */
static char *skip_blanks(char *p)
{
    while (isspace((unsigned char)*p)) p++;
    return p;
}

cxr_status cxr_parse_long(const char *s, const char *name, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    const long v = s ? strtol(s, &end, 10) : 0;
    if (s && end != s) end = skip_blanks(end);
    if (!s || end == s || *end || errno || v < lo || v > hi)
        return cxr_set_error(CXR_E_ARG, "%s: expected an integer in [%ld, %ld], got '%s'", name, lo,
                             hi, s ? s : "");
    *out = v;
    return CXR_OK;
}

cxr_status cxr_parse_int(const char *s, const char *name, int lo, int hi, int *out)
{
    long v = 0;
    cxr_status st = cxr_parse_long(s, name, lo, hi, &v);
    if (st == CXR_OK) *out = (int)v;
    return st;
}

cxr_status cxr_parse_double(const char *s, const char *name, double lo, double hi, int open,
                            double *out)
{
    char *end = NULL;
    /* no errno check: an overflow gives +-inf and an underflow a tiny value, and the range
     * test judges both */
    const locale_t before = cxr_c_locale_enter(); /* "0.5" in any host locale */
    const double v = s ? strtod(s, &end) : 0.0;
    cxr_c_locale_leave(before);
    if (s && end != s) end = skip_blanks(end);
    const int above = (open & CXR_PARSE_OPEN_LO) ? v > lo : v >= lo;
    const int below = (open & CXR_PARSE_OPEN_HI) ? v < hi : v <= hi;
    if (!s || end == s || *end || !(above && below))
        return cxr_set_error(CXR_E_ARG, "%s: expected a number in %c%g, %g%c, got '%s'", name,
                             (open & CXR_PARSE_OPEN_LO) ? '(' : '[', lo, hi,
                             (open & CXR_PARSE_OPEN_HI) ? ')' : ']', s ? s : "");
    *out = v == 0 ? 0.0 : v; /* "-0" is 0, not a -0 printed back in reports and JSON */
    return CXR_OK;
}

const char *cxr_format_double(char *buf, size_t cap, double v)
{
    const locale_t before = cxr_c_locale_enter();
    for (int digits = 15; digits <= 17; digits++) { /* the fewest that read back as v */
        snprintf(buf, cap, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    cxr_c_locale_leave(before);
    return buf;
}

double cxr_progress_every_s(void)
{
    const char *s = getenv("CXR_PROGRESS_S");
    double v = -1;
    if (s) {
        char *end;
        const locale_t before = cxr_c_locale_enter();
        v = strtod(s, &end);
        cxr_c_locale_leave(before);
        if (end == s || *end) v = -1;
    }
    return v >= 0 ? v : 60;
}

/* 1 with *bytes the stack size that the variable `name` gives OpenMP's threads, read as libgomp
 * (12) reads it (strtoul's number, a sign allowed, then B, K, M or G in any case, K without one;
 * blanks around); 0 when it is unset or not such a value (libgomp then ignores it). */
static int omp_stacksize(const char *name, unsigned long long *bytes)
{
    const char *s = getenv(name);
    if (!s) return 0;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0;
    char *end = NULL;
    errno = 0;
    const unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s) return 0;
    while (isspace((unsigned char)*end)) end++;
    int shift = 10;
    if (*end) {
        const char *u = strchr("bkmg", tolower((unsigned char)*end++));
        if (!u) return 0;
        shift = (int)(u - "bkmg") * 10;
        while (isspace((unsigned char)*end)) end++;
        if (*end) return 0;
    }
    if (((v << shift) >> shift) != v) return 0;
    *bytes = v << shift;
    return 1;
}

int cxr_stack_limit_ok(const char *tool)
{
    /* the main thread's stack, and by default every other thread's (glibc sizes them by it) */
    struct rlimit rl;
    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < CXR_STACK_LIMIT_MIN) {
        /* formatted into a static buffer: fprintf to the unbuffered stderr takes 8 KiB of stack
         * for its own buffer, which crashed it half the time at 16 KiB */
        static char line[512];
        snprintf(line, sizeof line,
                 "%s: the stack size limit (ulimit -s) is %llu KiB; the tools need %d KiB or more "
                 "(a thread past its stack crashes): raise it (ulimit -s 8192, the usual "
                 "default)\n",
                 tool, (unsigned long long)rl.rlim_cur / 1024, CXR_STACK_LIMIT_MIN / 1024);
        fputs(line, stderr);
        return 0;
    }
    return 1;
}

int cxr_threads_ok(const char *tool, int threads)
{
    if (threads < 1 || threads > CXR_THREADS_MAX) {
        fprintf(stderr,
                "%s: the default thread count (OMP_NUM_THREADS, else the cores) is %d, outside "
                "the 1..%d that --threads takes: set OMP_NUM_THREADS lower, or give --threads N\n",
                tool, threads, CXR_THREADS_MAX);
        return 0;
    }
    if (!cxr_stack_limit_ok(tool)) return 0;
    /* libgomp takes GOMP_STACKSIZE where OMP_STACKSIZE is unset or not a size */
    const char *name = "OMP_STACKSIZE";
    unsigned long long stack = 0; /* 0: libgomp's default (a size it cannot set is ignored) */
    if (!omp_stacksize(name, &stack)) omp_stacksize(name = "GOMP_STACKSIZE", &stack);
    /* one pthreads will not set (below the system's thread minimum: libgomp says "Stack size
     * less than minimum" and keeps its default) is nothing to refuse */
    pthread_attr_t attr;
    if (stack && pthread_attr_init(&attr) == 0) {
        if (pthread_attr_setstacksize(&attr, (size_t)stack) == EINVAL) stack = 0;
        pthread_attr_destroy(&attr);
    }
    if (threads > 1 && stack && stack < CXR_THREAD_STACK_MIN) {
        fprintf(stderr,
                "%s: %s=%s gives each worker thread a stack of %llu bytes; they need %d KiB or "
                "more (a thread past its stack crashes): unset it, or give %dK or more\n",
                tool, name, getenv(name), stack, CXR_THREAD_STACK_MIN / 1024,
                CXR_THREAD_STACK_MIN / 1024);
        return 0;
    }
    return 1;
}
