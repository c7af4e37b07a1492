/* parse.c: number parsing behind cxr_parse.h. */
#include "cxr_parse.h"
#include "c_locale.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

cxr_status cxr_parse_long(const char *s, const char *name, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    const long v = s ? strtol(s, &end, 10) : 0;
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

int cxr_threads_ok(const char *tool, int threads)
{
    if (threads >= 1 && threads <= CXR_THREADS_MAX) return 1;
    fprintf(stderr,
            "%s: the default thread count (OMP_NUM_THREADS, else the cores) is %d, outside the "
            "1..%d that --threads takes: set OMP_NUM_THREADS lower, or give --threads N\n",
            tool, threads, CXR_THREADS_MAX);
    return 0;
}
