/* manifest_internal.h: what the manifest sources share, not part of the public API: the
 * string -> count table that exploration (manifest_explore.c) and planning (manifest_plan.c)
 * count labels and ids in (manifest_table.c), and reading a manifest's header line
 * (manifest_csv.c). */
#ifndef CXR_MANIFEST_INTERNAL_H
#define CXR_MANIFEST_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_hash.h"
#include "cxr_manifest.h"

/* One distinct string. Keys live in the table's arena, NUL-terminated, at offset off. */
typedef struct {
    uint64_t hash; /* cxr_fnv1a64 of the key */
    uint32_t off, len;
    int64_t count; /* the caller's counter (0 when inserted) */
    int32_t cls;   /* the caller's class index (-1 when inserted) */
    int32_t used;
} cxr_strtab_entry;

/* Open addressing with linear probing; keys in one growing arena (offsets survive realloc).
 * Zero-initialise before use, free with cxr_strtab_free. */
typedef struct {
    cxr_strtab_entry *e;
    size_t cap, n; /* cap is a power of two (or 0) */
    char *arena;
    size_t arena_len, arena_cap;
} cxr_strtab;

/* Free the entries and the arena; leaves the table zeroed. */
void cxr_strtab_free(cxr_strtab *t);
/* The NUL-terminated key of an entry (in the arena: valid until the next insertion). */
const char *cxr_strtab_key(const cxr_strtab *t, const cxr_strtab_entry *e);
/* The most bytes of keys (each with its NUL) a table holds: entries keep 32-bit offsets.
 * A test build may define it smaller. */
#ifndef CXR_STRTAB_ARENA_MAX
#define CXR_STRTAB_ARENA_MAX ((size_t)UINT32_MAX)
#endif
/* Find the key s[0..n) or insert it into *out; *found says which. Entry pointers are valid
 * until the next call (any call may rehash: one that finds its key or fails too). CXR_E_NOMEM
 * when an allocation fails, CXR_E_FORMAT when the keys would pass CXR_STRTAB_ARENA_MAX (the
 * message says so); no key is added then. */
cxr_status cxr_strtab_get(cxr_strtab *t, const char *s, size_t n, cxr_strtab_entry **out,
                          int *found);

/* An entry with its key, as cxr_strtab_by_count lists them. */
typedef struct {
    const char *key;
    cxr_strtab_entry *e;
} cxr_strtab_item;
/* All t->n entries, count descending, ties by cxr_label_cmp of the keys: a malloc'd array the
 * caller frees (valid until the next insertion). NULL on allocation failure. */
cxr_strtab_item *cxr_strtab_by_count(cxr_strtab *t);

/* Read the header record of r into *f, *n (the reader's fields: valid until the next read).
 * CXR_E_FORMAT "<name>: empty file (no header line)" when there is none; the reader's errors. */
cxr_status cxr_manifest_read_header(cxr_csv *r, const cxr_csv_field **f, int *n);

#endif
