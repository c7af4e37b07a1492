/* cxr_clock.h: the monotonic clock every library and tool times its work with. */
#ifndef CXR_CLOCK_H
#define CXR_CLOCK_H

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: only differences mean anything). */
double cxr_now_s(void);

#ifdef __cplusplus
}
#endif
#endif
