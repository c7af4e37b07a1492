/* cxr_splitmix.h: splitmix64 (Steele, Lea and Flood 2014), the one mixing function behind every
 * random stream of cxr: the loader's shuffle (runtime/loader.c) and the model's counter-based
 * init and dropout masks (train/rng.h). Static inline, and __host__ __device__ under nvcc, so a
 * CUDA kernel computes the same bits.
 *
 *   cxr_splitmix64_mix(z):   z = (z ^ z>>30) * 0xBF58476D1CE4E5B9;
 *                            z = (z ^ z>>27) * 0x94D049BB133111EB;  return z ^ z>>31
 *   cxr_splitmix64_next(&x): x += CXR_SPLITMIX64_GAMMA; return cxr_splitmix64_mix(x)
 *
 * Both are pinned: the training order and the model's init and dropout masks depend on them
 * bit for bit. */
#ifndef CXR_SPLITMIX_H
#define CXR_SPLITMIX_H

#include <stdint.h>

#ifdef __CUDACC__
#define CXR_SPLITMIX_FN __host__ __device__ __forceinline__
#else
#define CXR_SPLITMIX_FN static inline
#endif

/* The golden-ratio increment of the splitmix64 sequence. */
#define CXR_SPLITMIX64_GAMMA 0x9E3779B97F4A7C15ULL

/* splitmix64's output function (its finalizer): a bijection of 64-bit words. */
CXR_SPLITMIX_FN uint64_t cxr_splitmix64_mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* The next word of the splitmix64 sequence whose state is *state. */
CXR_SPLITMIX_FN uint64_t cxr_splitmix64_next(uint64_t *state)
{
    *state += CXR_SPLITMIX64_GAMMA;
    return cxr_splitmix64_mix(*state);
}

#endif
