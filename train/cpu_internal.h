/* cpu_internal.h: the CPU backend's context, shared by backend_cpu.c and the *_cpu op files.
 * Not a public header: callers use ops.h and cxr_model.h. */
#ifndef CXR_CPU_INTERNAL_H
#define CXR_CPU_INTERNAL_H

#include <stddef.h>

#define CXR_CPU_MAX_THREADS 256

typedef struct {
    int n_threads;     /* OpenMP threads for the ops, and OpenBLAS threads for big GEMMs */
    int blas_parallel; /* 1: convolutions one image at a time with multithreaded BLAS */
    size_t strip_floats; /* conv column-strip target in floats (0: default 128 Ki; tests) */
    float *scratch[CXR_CPU_MAX_THREADS];
    size_t scratch_bytes[CXR_CPU_MAX_THREADS];
} cxr_cpu_ctx;

#endif
