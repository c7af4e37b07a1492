/* cxr_hash.h: FNV-1a 64, the string hash of manifests (their table and the id hash their
 * splits are stratified by, specs/store.md "Manifest inputs") and of cxr-train's shortened lock
 * names. Pinned: manifest splits depend on it bit for bit. (A folder's val split by patient
 * keeps its own offset basis, one digit short: formats/scan.c.) */
#ifndef CXR_HASH_H
#define CXR_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of n bytes: offset basis 14695981039346656037, prime 1099511628211. */
static inline uint64_t cxr_fnv1a64(const char *s, size_t n)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

#endif
