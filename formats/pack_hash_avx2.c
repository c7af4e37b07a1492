/* pack_hash_avx2.c: XXH3-64 compiled for AVX2 (only this file gets -mavx2, formats/CMakeLists.txt),
 * which pack_dups.c calls when the CPU has AVX2: half the instructions of the SSE2 build that
 * the x86-64-v2 baseline allows, for the 256 KiB tensor each packed image hashes. XXH3's value
 * does not depend on the vector width (test pack.hash checks both builds agree). */
#if defined(CXR_XXH3_AVX2) && defined(__AVX2__)
#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

uint64_t cxr_xxh3_avx2(const void *data, size_t len);
uint64_t cxr_xxh3_avx2(const void *data, size_t len) { return XXH3_64bits(data, len); }
#else
typedef int cxr_pack_hash_avx2_empty; /* ISO C: no empty translation unit */
#endif
