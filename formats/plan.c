/* plan.c: the pack plan's memory management (cxr_pack.h): append items and planning skips,
 * free everything. The plan is plain data shared by the tree scanner, the CSV manifest reader
 * and the pipeline. */
#include "cxr_pack.h"

#include <stdlib.h>
#include <string.h>

void cxr_plan_free(cxr_pack_plan *plan)
{
    if (!plan) return;
    for (int c = 0; c < plan->n_classes; c++) free(plan->class_names[c]);
    free(plan->class_names);
    for (int s = 0; s < 3; s++) {
        cxr_pack_split *sp = &plan->splits[s];
        for (int64_t i = 0; i < sp->n; i++) {
            free(sp->items[i].path);
            free(sp->items[i].rel);
        }
        free(sp->items);
    }
    for (int64_t i = 0; i < plan->n_skipped; i++) {
        free(plan->skipped[i].split);
        free(plan->skipped[i].path);
        free(plan->skipped[i].reason);
    }
    free(plan->skipped);
    free(plan->source);
    memset(plan, 0, sizeof *plan);
}

cxr_status cxr_plan_add_item(cxr_pack_split *s, const char *path, const char *rel, int32_t label,
                             uint64_t size)
{
    if (s->n == s->cap) {
        int64_t cap = s->cap ? s->cap * 2 : 256;
        cxr_pack_item *items = realloc(s->items, (size_t)cap * sizeof *items);
        if (!items)
            return cxr_set_error(CXR_E_NOMEM, "plan: out of memory (%lld items)", (long long)cap);
        s->items = items;
        s->cap = cap;
    }
    char *p = strdup(path), *r = strdup(rel ? rel : path);
    if (!p || !r) {
        free(p);
        free(r);
        return cxr_set_error(CXR_E_NOMEM, "plan: out of memory");
    }
    s->items[s->n++] = (cxr_pack_item){ .path = p, .rel = r, .label = label, .size = size };
    return CXR_OK;
}

cxr_status cxr_plan_add_skip(cxr_pack_plan *p, const char *split, const char *path,
                             const char *reason)
{
    if (p->n_skipped == p->cap_skipped) {
        int64_t cap = p->cap_skipped ? p->cap_skipped * 2 : 16;
        cxr_pack_skip *sk = realloc(p->skipped, (size_t)cap * sizeof *sk);
        if (!sk) return cxr_set_error(CXR_E_NOMEM, "plan: out of memory");
        p->skipped = sk;
        p->cap_skipped = cap;
    }
    char *a = strdup(split ? split : ""), *b = strdup(path), *c = strdup(reason);
    if (!a || !b || !c) {
        free(a);
        free(b);
        free(c);
        return cxr_set_error(CXR_E_NOMEM, "plan: out of memory");
    }
    p->skipped[p->n_skipped++] = (cxr_pack_skip){ .split = a, .path = b, .reason = c };
    return CXR_OK;
}
