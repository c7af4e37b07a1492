/* fpenv.c: flush-to-zero / denormals-are-zero on the calling thread (cxr_fpenv.h). */
#include "cxr_fpenv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

#define CXR_MXCSR_DAZ 0x0040u /* bit 6: denormal inputs read as zero */
#define CXR_MXCSR_FTZ 0x8000u /* bit 15: denormal results written as zero */

void cxr_fp_flush_denormals(void)
{
    const unsigned m = _mm_getcsr();
    if ((m & (CXR_MXCSR_DAZ | CXR_MXCSR_FTZ)) != (CXR_MXCSR_DAZ | CXR_MXCSR_FTZ))
        _mm_setcsr(m | CXR_MXCSR_DAZ | CXR_MXCSR_FTZ);
}

int cxr_fp_flushing(void)
{
    const unsigned b = CXR_MXCSR_DAZ | CXR_MXCSR_FTZ;
    return (_mm_getcsr() & b) == b;
}

unsigned cxr_fp_mxcsr(void) { return _mm_getcsr(); }
void cxr_fp_restore(unsigned m) { _mm_setcsr(m); }
#else
void cxr_fp_flush_denormals(void) {}
int cxr_fp_flushing(void) { return 1; }
unsigned cxr_fp_mxcsr(void) { return 0; }
void cxr_fp_restore(unsigned m) { (void)m; }
#endif
