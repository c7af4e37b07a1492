/* pack_dups.c: per-image hashes and duplicate detection for cxr_pack_run (pack_dups.h;
 * specs/store.md, "Duplicates").
 *
 * XXH3-64 from libxxhash (Debian's libxxhash-dev), header-only (XXH_INLINE_ALL): nothing to
 * link, and at ~20 GB/s the two hashes of an image (its ~0.2-2 MB file and its 256 KiB tensor)
 * cost tens of microseconds against milliseconds of JPEG decoding. A 64-bit hash over a few
 * million images makes an accidental collision improbable (about n^2 / 2^65: 1e-7 for 2e6).
 */
#include "pack_dups.h"
#include "cxr_files.h"
#include "cxr_tmpfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#if defined(CXR_XXH3_AVX2)
uint64_t cxr_xxh3_avx2(const void *data, size_t len); /* pack_hash_avx2.c */
static int have_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
static uint64_t cxr_xxh3_avx2(const void *data, size_t len) { return XXH3_64bits(data, len); }
static int have_avx2(void) { return 0; }
#endif

#define REF(split, item) (((int64_t)(split) << 40) | (item))
#define REF_SPLIT(ref)   ((int)((ref) >> 40))
#define REF_ITEM(ref)    ((ref) & ((1ll << 40) - 1))

enum { NOT_HASHED = 0, HASHED = 1, DROPPED = 2 };

/* Open addressing, keys are hashes already (their low bits index), value -1 = empty. */
typedef struct {
    uint64_t *key;
    int64_t *val;
    size_t mask;
} u64map;

struct cxr_dups {
    const cxr_pack_plan *plan;
    int avx2;             /* XXH3 through cxr_xxh3_avx2 (same values, fewer instructions) */
    uint64_t *hash[3][2]; /* [split][file, pixels][item] */
    uint8_t *state[3];    /* [split][item] */
    uint64_t *stored[3][2];
    int64_t n_stored[3];
    /* pixel hash -> the copy a drop names: in the later splits (the first with those pixels in
     * the latest split holding any), and among this split's kept items (unique pixels). An
     * identical file has identical pixels, so a map of file hashes would name nothing more. */
    u64map later, seen;
};

static void map_free(u64map *m)
{
    free(m->key);
    free(m->val);
    memset(m, 0, sizeof *m);
}

/* Empty, for at least n keys (load <= 1/2). */
static int map_reset(u64map *m, int64_t n)
{
    size_t cap = 16;
    while (cap < (size_t)n * 2) cap *= 2;
    if (cap != m->mask + 1 || !m->key) {
        map_free(m);
        m->key = malloc(cap * sizeof *m->key);
        m->val = malloc(cap * sizeof *m->val);
        if (!m->key || !m->val) return 0;
        m->mask = cap - 1;
    }
    memset(m->val, 0xff, cap * sizeof *m->val);
    return 1;
}

static int64_t map_get(const u64map *m, uint64_t k)
{
    for (size_t i = (size_t)k & m->mask;; i = (i + 1) & m->mask) {
        if (m->val[i] < 0) return -1;
        if (m->key[i] == k) return m->val[i];
    }
}

/* Insert unless present (the first value stays). */
static void map_put(u64map *m, uint64_t k, int64_t v)
{
    size_t i = (size_t)k & m->mask;
    for (; m->val[i] >= 0; i = (i + 1) & m->mask)
        if (m->key[i] == k) return;
    m->key[i] = k;
    m->val[i] = v;
}

cxr_dups *cxr_dups_create(const cxr_pack_plan *plan)
{
    cxr_dups *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->plan = plan;
    d->avx2 = have_avx2();
    for (int s = 0; s < plan->n_splits; s++) {
        size_t n = (size_t)plan->splits[s].n + 1;
        for (int w = 0; w < 2; w++)
            if (!(d->hash[s][w] = malloc(n * sizeof(uint64_t))) ||
                !(d->stored[s][w] = malloc(n * sizeof(uint64_t))))
                goto fail;
        if (!(d->state[s] = calloc(n, 1))) goto fail;
    }
    return d;
fail:
    cxr_dups_destroy(d);
    return NULL;
}

void cxr_dups_destroy(cxr_dups *d)
{
    if (!d) return;
    for (int s = 0; s < 3; s++) {
        for (int w = 0; w < 2; w++) {
            free(d->hash[s][w]);
            free(d->stored[s][w]);
        }
        free(d->state[s]);
    }
    map_free(&d->later);
    map_free(&d->seen);
    free(d);
}

void cxr_dups_hash(cxr_dups *d, int split, int64_t item, const uint8_t *file, size_t len,
                   const float *img, size_t pixels)
{
    if (!img) {
        d->state[split][item] = NOT_HASHED;
        return;
    }
    uint64_t (*h)(const void *, size_t) = d->avx2 ? cxr_xxh3_avx2 : XXH3_64bits;
    d->hash[split][0][item] = h(file, len);
    d->hash[split][1][item] = h(img, pixels * sizeof *img);
    d->state[split][item] = HASHED;
}

cxr_status cxr_dups_begin_split(cxr_dups *d, int split)
{
    const cxr_pack_plan *p = d->plan;
    int64_t later = 0;
    for (int s = split + 1; s < p->n_splits; s++) later += p->splits[s].n;
    if (!map_reset(&d->later, later) || !map_reset(&d->seen, p->splits[split].n))
        return cxr_set_error(CXR_E_NOMEM, "out of memory for the duplicate index");
    /* the last split first: the copy a drop names is the one of highest priority */
    for (int s = p->n_splits - 1; s > split; s--)
        for (int64_t i = 0; i < p->splits[s].n; i++)
            if (d->state[s][i] == HASHED) map_put(&d->later, d->hash[s][1][i], REF(s, i));
    d->n_stored[split] = 0;
    return CXR_OK;
}

int cxr_dups_drop(cxr_dups *d, int split, int64_t item, int drop, char *reason, size_t cap)
{
    static const char *const what[2] = { "identical file", "identical pixels" };
    if (!drop || d->state[split][item] != HASHED) return 0;
    if (strcmp(d->plan->splits[split].name, "test") == 0) return 0; /* the test split as given */
    /* the copy named is the one kept (a copy in a split between, or a later byte-identical one
     * in the same split, is dropped for it in turn); the reason says whether its bytes are ours */
    const uint64_t pix = d->hash[split][1][item];
    int64_t ref = map_get(&d->later, pix);
    if (ref < 0) ref = map_get(&d->seen, pix);
    if (ref < 0) {
        map_put(&d->seen, pix, REF(split, item));
        return 0;
    }
    const int rs = REF_SPLIT(ref);
    const int64_t ri = REF_ITEM(ref);
    const cxr_pack_split *sp = &d->plan->splits[rs];
    snprintf(reason, cap, "duplicate of %s in %s (%s)", sp->items[ri].rel, sp->name,
             what[d->hash[rs][0][ri] == d->hash[split][0][item] ? 0 : 1]);
    d->state[split][item] = DROPPED;
    return 1;
}

void cxr_dups_place(cxr_dups *d, int split, int64_t item, int64_t pos)
{
    for (int w = 0; w < 2; w++) d->stored[split][w][pos] = d->hash[split][w][item];
    if (pos + 1 > d->n_stored[split]) d->n_stored[split] = pos + 1;
}

const uint64_t *cxr_dups_stored(const cxr_dups *d, int split, int which, int64_t *n)
{
    *n = d->n_stored[split];
    return d->stored[split][which];
}

/* ---------------------------------------------------------------- groups */
typedef struct {
    uint64_t key, other;
    int64_t ref;
} entry;

static int entry_cmp(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* Every hashed item as (hash `which`, the other hash, ref), sorted by (key, ref). */
static entry *entries(const cxr_dups *d, int which, int64_t *n)
{
    const cxr_pack_plan *p = d->plan;
    int64_t total = 0, k = 0;
    for (int s = 0; s < p->n_splits; s++) total += p->splits[s].n;
    entry *e = malloc((size_t)(total + 1) * sizeof *e);
    if (!e) return NULL;
    for (int s = 0; s < p->n_splits; s++)
        for (int64_t i = 0; i < p->splits[s].n; i++)
            if (d->state[s][i] != NOT_HASHED)
                e[k++] = (entry){ d->hash[s][which][i], d->hash[s][!which][i], REF(s, i) };
    qsort(e, (size_t)k, sizeof *e, entry_cmp);
    *n = k;
    return e;
}

static int32_t label_of(const cxr_pack_plan *p, int64_t ref)
{
    return p->splits[REF_SPLIT(ref)].items[REF_ITEM(ref)].label;
}

static void count_groups(const cxr_pack_plan *p, const entry *e, int64_t n, cxr_dup_counts *c)
{
    memset(c, 0, sizeof *c);
    for (int64_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && e[b].key == e[a].key;) b++;
        if (b - a < 2) continue;
        int64_t per[3] = { 0, 0, 0 };
        int mixed = 0; /* one image under two classes: one of its labels is wrong */
        for (int64_t i = a; i < b; i++) {
            per[REF_SPLIT(e[i].ref)]++;
            mixed |= label_of(p, e[i].ref) != label_of(p, e[a].ref);
        }
        c->labels += mixed;
        c->groups++;
        c->copies += b - a - 1;
        int present = 0;
        for (int s = 0; s < 3; s++)
            if (per[s]) {
                present++;
                c->within += per[s] - 1;
                for (int t = s + 1; t < 3; t++)
                    if (per[t]) c->pairs[s][t]++;
            }
        if (present > 1) c->across++;
    }
}

cxr_status cxr_dups_count(cxr_dups *d, cxr_pack_summary *sum)
{
    for (int w = 0; w < 2; w++) {
        int64_t n = 0;
        entry *e = entries(d, w, &n);
        if (!e) return cxr_set_error(CXR_E_NOMEM, "out of memory counting duplicates");
        count_groups(d->plan, e, n, w ? &sum->dup_pixels : &sum->dup_file);
        free(e);
    }
    sum->hashed = 1;
    return CXR_OK;
}

static int ref_cmp(const void *a, const void *b)
{
    const entry *const *x = a, *const *y = b;
    return (*x)->ref < (*y)->ref ? -1 : (*x)->ref > (*y)->ref;
}

cxr_status cxr_dups_write_report(cxr_dups *d, const char *path, cxr_tmpfile *tf)
{
    cxr_status st = CXR_OK;
    FILE *f = NULL;
    const entry **first = NULL;
    int64_t n = 0, ng = 0;
    entry *e = entries(d, 1, &n);
    if (!e || !(first = malloc((size_t)(n + 1) * sizeof *first)))
        CXR_THROW(CXR_E_NOMEM, "%s: out of memory", path);
    for (int64_t a = 0, b; a < n; a = b) { /* groups by their first member, in plan order */
        for (b = a + 1; b < n && e[b].key == e[a].key;) b++;
        if (b - a > 1) first[ng++] = &e[a];
    }
    qsort(first, (size_t)ng, sizeof *first, ref_cmp);

    CXR_TRY(cxr_tmpfile_create(tf, path, 1));
    if (!(f = cxr_tmpfile_stream(tf, "w"))) {
        st = CXR_E_IO; /* the message names the temporary */
        goto bail;
    }
    fputs("pixel_hash\tfile_hash\tsplit\tpath\tstatus\tclass\n", f);
    for (int64_t g = 0; g < ng; g++)
        for (const entry *m = first[g]; m < e + n && m->key == first[g]->key; m++) {
            const cxr_pack_split *sp = &d->plan->splits[REF_SPLIT(m->ref)];
            fprintf(f, "%016llx\t%016llx\t%s\t", (unsigned long long)m->key,
                    (unsigned long long)m->other, sp->name);
            cxr_fputs_field(sp->items[REF_ITEM(m->ref)].rel, f);
            fprintf(f, "\t%s\t",
                    d->state[REF_SPLIT(m->ref)][REF_ITEM(m->ref)] == DROPPED ? "dropped"
                                                                             : "packed");
            cxr_fputs_field(d->plan->class_names[label_of(d->plan, m->ref)], f);
            fputc('\n', f);
        }
    if (ferror(f) || fflush(f) != 0)
        CXR_THROW(CXR_E_IO, "%s: write failed: %s", tf->target, strerror(errno));
    if (fclose(f) != 0) {
        f = NULL;
        CXR_THROW(CXR_E_IO, "%s: close failed: %s", tf->target, strerror(errno));
    }
    f = NULL;
bail:
    if (f) fclose(f);
    free(first);
    free(e);
    return st;
}

/* ---------------------------------------------------------------- summary line */
static size_t fmt_counts(char *buf, size_t cap, const char *name, const cxr_dup_counts *c,
                         const cxr_pack_plan *plan)
{
    size_t k = (size_t)snprintf(buf, cap,
                                "%s: %lld groups, %lld extra copies (%lld of them within a "
                                "split; %lld groups across splits",
                                name, (long long)c->groups, (long long)c->copies,
                                (long long)c->within, (long long)c->across);
    const char *sep = ": ";
    for (int a = 0; a < plan->n_splits; a++)
        for (int b = a + 1; b < plan->n_splits; b++)
            if (c->pairs[a][b] && k < cap) {
                k += (size_t)snprintf(buf + k, cap - k, "%s%s-%s %lld", sep, plan->splits[a].name,
                                      plan->splits[b].name, (long long)c->pairs[a][b]);
                sep = ", ";
            }
    if (c->labels && k < cap) /* said only when some: the line as before 0.21 otherwise */
        k += (size_t)snprintf(buf + k, cap - k, "; %lld group%s with different classes",
                              (long long)c->labels, c->labels == 1 ? "" : "s");
    if (k < cap) k += (size_t)snprintf(buf + k, cap - k, ")");
    return k;
}

void cxr_pack_dups_format(const cxr_pack_summary *sum, const cxr_pack_plan *plan, char *buf,
                          size_t cap)
{
    if (!cap) return;
    buf[0] = 0;
    if (!sum->hashed) {
        snprintf(buf, cap, "not checked (no hashes)");
        return;
    }
    size_t k = fmt_counts(buf, cap, "identical files", &sum->dup_file, plan);
    if (k < cap) k += (size_t)snprintf(buf + k, cap - k, "; ");
    if (k < cap) k += fmt_counts(buf + k, cap - k, "identical pixels", &sum->dup_pixels, plan);
    if (k < cap) snprintf(buf + k, cap - k, "; dropped %lld", (long long)sum->dup_dropped);
}
