/* manifest_table.c: the string -> count table of manifest_internal.h, in which manifest
 * exploration and planning count labels (one entry per distinct label) and planning finds
 * duplicate ids. */
#include "manifest_internal.h"

#include <stdlib.h>
#include <string.h>

void cxr_strtab_free(cxr_strtab *t)
{
    free(t->e);
    free(t->arena);
    memset(t, 0, sizeof *t);
}

const char *cxr_strtab_key(const cxr_strtab *t, const cxr_strtab_entry *e)
{
    return t->arena + e->off;
}

static int table_grow(cxr_strtab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 1024;
    cxr_strtab_entry *e = calloc(cap, sizeof *e);
    if (!e) return -1;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->e[i].used) continue;
        size_t j = t->e[i].hash & (cap - 1);
        while (e[j].used) j = (j + 1) & (cap - 1);
        e[j] = t->e[i];
    }
    free(t->e);
    t->e = e;
    t->cap = cap;
    return 0;
}

cxr_status cxr_strtab_get(cxr_strtab *t, const char *s, size_t n, cxr_strtab_entry **out,
                          int *found)
{
    *out = NULL;
    if ((t->n + 1) * 4 > t->cap * 3 && table_grow(t))
        return cxr_set_error(CXR_E_NOMEM, "out of memory (%zu distinct keys)", t->n);
    uint64_t h = cxr_fnv1a64(s, n);
    size_t j = h & (t->cap - 1);
    while (t->e[j].used) {
        cxr_strtab_entry *e = &t->e[j];
        if (e->hash == h && e->len == n && memcmp(t->arena + e->off, s, n) == 0) {
            *found = 1;
            *out = e;
            return CXR_OK;
        }
        j = (j + 1) & (t->cap - 1);
    }
    const size_t need = t->arena_len + n + 1;
    if (need > CXR_STRTAB_ARENA_MAX)
        return cxr_set_error(CXR_E_FORMAT,
                             "%zu distinct keys fill the %llu bytes a table holds (offsets are "
                             "32-bit): too many distinct ids or labels for one manifest; "
                             "split it",
                             t->n, (unsigned long long)CXR_STRTAB_ARENA_MAX);
    if (need > t->arena_cap) {
        /* doubling, but up to the limit itself: doubling alone stopped at half of it */
        size_t cap = t->arena_cap ? t->arena_cap : 65536;
        while (cap < need) cap = cap > CXR_STRTAB_ARENA_MAX / 2 ? CXR_STRTAB_ARENA_MAX : cap * 2;
        char *a = realloc(t->arena, cap);
        if (!a)
            return cxr_set_error(CXR_E_NOMEM, "out of memory (%zu distinct keys, %zu bytes)", t->n,
                                 cap);
        t->arena = a;
        t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, s, n);
    t->arena[t->arena_len + n] = 0;
    t->e[j] = (cxr_strtab_entry){ .hash = h,
                                  .off = (uint32_t)t->arena_len,
                                  .len = (uint32_t)n,
                                  .count = 0,
                                  .cls = -1,
                                  .used = 1 };
    t->arena_len = need;
    t->n++;
    *found = 0;
    *out = &t->e[j];
    return CXR_OK;
}

/* qsort without a context argument (the key travels in the item): thread-safe. */
static int by_count_desc(const void *pa, const void *pb)
{
    const cxr_strtab_item *a = pa, *b = pb;
    if (a->e->count != b->e->count) return a->e->count > b->e->count ? -1 : 1;
    return cxr_label_cmp(a->key, a->e->len, b->key, b->e->len);
}

cxr_strtab_item *cxr_strtab_by_count(cxr_strtab *t)
{
    cxr_strtab_item *v = malloc((t->n ? t->n : 1) * sizeof *v);
    if (!v) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < t->cap; i++)
        if (t->e[i].used) v[k++] = (cxr_strtab_item){ cxr_strtab_key(t, &t->e[i]), &t->e[i] };
    qsort(v, k, sizeof *v, by_count_desc);
    return v;
}
