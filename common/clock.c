/* clock.c: the monotonic clock behind cxr_clock.h. */
#include "cxr_clock.h"

#include <time.h>

double cxr_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
