/* cxr_fpenv.h: the floating-point environment of the threads that compute.
 *
 * Denormal (subnormal) floats cost about 100 cycles per operand on Intel cores (AMD's handle
 * them at full speed): a training step whose gradients decay into the denormal range ran 8x
 * slower on a Sapphire Rapids Xeon (issue 13). cxr therefore computes with flush-to-zero
 * (results that would be denormal become 0) and denormals-are-zero (denormal inputs read as
 * 0), the MXCSR bits 15 and 6, on every thread that computes: the CPU backend sets them on
 * the calling thread and on every OpenMP worker (train/backend_cpu.c), the loader on its
 * threads (runtime/loader.c). The GPU libraries do the same by default (specs/model.md,
 * "Denormals"). On CPUs other than x86 these calls do nothing.
 */
#ifndef CXR_FPENV_H
#define CXR_FPENV_H

#ifdef __cplusplus
extern "C" {
#endif

/* Set flush-to-zero and denormals-are-zero on the calling thread. */
void cxr_fp_flush_denormals(void);
/* 1 when the calling thread has both bits set (or the CPU has no MXCSR), else 0. */
int cxr_fp_flushing(void);
/* The calling thread's MXCSR (0 where there is none): for tests and diagnostics. */
unsigned cxr_fp_mxcsr(void);
/* Set the calling thread's MXCSR to m, a value cxr_fp_mxcsr returned (nothing where there is
 * none): what flushes on a caller's thread for a while puts its mode back. */
void cxr_fp_restore(unsigned m);

#ifdef __cplusplus
}
#endif
#endif
