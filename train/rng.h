/* rng.h: the counter-based random numbers of the model (parameter init and dropout masks).
 *
 * Everything is a pure function of (seed, counters), so a training step is reproducible from
 * the seed alone, any thread may compute any element, and a CUDA kernel can produce the same
 * bits: the functions are static inline and marked CXR_HD (__host__ __device__ under nvcc).
 *
 * Exact definition (specs/model.md, "Random numbers"):
 *   mix64(z)   = splitmix64 finalizer of z + 0x9E3779B97F4A7C15
 *   key(seed, a, b) = mix64(mix64(mix64(seed) ^ a) ^ b)
 *   word(key, j)    = mix64(key + j * 0x9E3779B97F4A7C15)
 * Dropout: layer buffer element i (flat index over the batch's (n,c,h,w)) is kept iff
 *   ((word(key(seed, step, layer), i >> 2) >> (16 * (i & 3))) & 0xFFFF) < round(keep * 65536)
 * so keep = 0.75 is exact (threshold 49152). Init: element i of tensor t gets
 *   u = (word(key(seed, 0xC0FFEE, t), i) >> 40) * 2^-24 in [0,1).
 */
#ifndef CXR_RNG_H
#define CXR_RNG_H

#include <stdint.h>

#include "cxr_splitmix.h"

#ifdef __CUDACC__
#define CXR_HD __host__ __device__ __forceinline__
#else
#define CXR_HD static inline
#endif

#define CXR_RNG_GAMMA       CXR_SPLITMIX64_GAMMA
#define CXR_RNG_INIT_STREAM 0xC0FFEEULL

/* One splitmix64 step from state z: the finalizer of z + gamma (common/cxr_splitmix.h). */
CXR_HD uint64_t cxr_mix64(uint64_t z) { return cxr_splitmix64_mix(z + CXR_RNG_GAMMA); }

/* Key of one stream: (seed, a, b) = (seed, step, layer) for dropout, (seed, INIT, tensor). */
CXR_HD uint64_t cxr_rng_key(uint64_t seed, uint64_t a, uint64_t b)
{
    return cxr_mix64(cxr_mix64(cxr_mix64(seed) ^ a) ^ b);
}

/* The j-th 64-bit word of a stream. */
CXR_HD uint64_t cxr_rng_word(uint64_t key, uint64_t j)
{
    return cxr_mix64(key + j * CXR_RNG_GAMMA);
}

/* Dropout threshold for a keep probability in [0,1]: keep iff 16-bit lane < threshold. */
CXR_HD uint32_t cxr_dropout_threshold(float keep)
{
    double t = (double)keep * 65536.0 + 0.5;
    if (t < 0) t = 0;
    if (t > 65536.0) t = 65536.0;
    return (uint32_t)t;
}

/* 1 if element i of the stream `key` is kept. */
CXR_HD int cxr_dropout_keep(uint64_t key, uint64_t i, uint32_t threshold)
{
    uint64_t w = cxr_rng_word(key, i >> 2);
    return ((uint32_t)(w >> (16 * (i & 3))) & 0xFFFFu) < threshold;
}

/* Uniform in [0,1) with 24 random bits (exactly representable in float). */
CXR_HD float cxr_rng_uniform(uint64_t key, uint64_t i)
{
    return (float)(cxr_rng_word(key, i) >> 40) * (1.0f / 16777216.0f);
}

#endif
