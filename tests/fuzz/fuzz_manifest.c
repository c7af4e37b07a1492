/* fuzz_manifest.c: libFuzzer target for CSV manifests (formats/cxr_manifest.h, cxr_pack.h).
 * The input is read as CSV from memory and, through a memory file, from "disk" (the block
 * reader); then explored (cxr-pack --explore, lenient and strict) and planned against a small
 * image folder the target makes under $TMPDIR (ids 1, a, abc, a7000, b5000 nested, xyz1
 * nested). Oracles beyond the sanitizers: both readers return the same records, a rewind
 * reads them again, cxr_label_cmp is antisymmetric, a plan is consistent (labels in range,
 * every item under the image folder, no id planned twice), and indexing the classes by label id
 * changes only the indices. */
#include <sys/stat.h>

#include "cxr_manifest.h"
#include "cxr_pack.h"
#include "fuzz_common.h"

static char images[4200];

static void touch(const char *rel)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", images, rel);
    for (char *s = path + strlen(images) + 1; (s = strchr(s, '/')); s++) {
        *s = 0;
        mkdir(path, 0700);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    if (!f || fputs("x", f) < 0 || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

static void make_images(void)
{
    snprintf(images, sizeof images, "%s/images", fuzz_tmpdir());
    if (mkdir(images, 0700) != 0) {
        perror(images);
        abort();
    }
    static const char *const rels[] = { "1.jpg",     "a.jpg",           "abc.jpg",
                                        "a7000.jpg", "b/5/0/b5000.jpg", "x/y/z/xyz1.jpg" };
    for (size_t i = 0; i < sizeof rels / sizeof *rels; i++) touch(rels[i]);
}

typedef struct {
    cxr_status st;
    int n;
    int64_t line;
    size_t bytes;  /* total field bytes */
    uint64_t hash; /* FNV-1a over the fields with their lengths */
} record;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ull;
    return h;
}

static record next_record(cxr_csv *r, const cxr_csv_field **f)
{
    record rec = { 0 };
    rec.hash = 0xcbf29ce484222325ull;
    rec.st = cxr_csv_next(r, f, &rec.n, &rec.line);
    if (rec.st != CXR_OK) return rec;
    for (int i = 0; i < rec.n; i++) {
        rec.bytes += (*f)[i].len;
        rec.hash = fnv(fnv(rec.hash, &(*f)[i].len, sizeof(size_t)), (*f)[i].s, (*f)[i].len);
    }
    return rec;
}

static int sign(int x) { return (x > 0) - (x < 0); }

/* Read every record from memory, from the memory file, and from memory again after a rewind:
 * the three sequences must agree. Also checks cxr_label_cmp on consecutive first fields. */
static void read_all(const uint8_t *data, size_t size, const char *path)
{
    cxr_csv *mem = NULL, *file = NULL;
    FUZZ_CHECK(cxr_csv_open_mem(&mem, (const char *)data, size, "fuzz.csv") == CXR_OK, "%s",
               cxr_last_error());
    cxr_status st = cxr_csv_open(&file, path);
    FUZZ_CHECK(st == CXR_OK, "open memory file: %s", cxr_last_error());
    char *prev = NULL;
    size_t prev_len = 0;
    for (int pass = 0; pass < 2; pass++) {
        int64_t records = 0;
        for (;;) {
            const cxr_csv_field *f, *g;
            record a = next_record(mem, &f);
            if (a.st == CXR_OK && a.n > 0) {
                FUZZ_CHECK(a.bytes <= size, "record of %zu field bytes from %zu input bytes",
                           a.bytes, size);
                if (prev) {
                    int x = cxr_label_cmp(prev, prev_len, f[0].s, f[0].len);
                    int y = cxr_label_cmp(f[0].s, f[0].len, prev, prev_len);
                    FUZZ_CHECK(sign(x) == -sign(y), "cxr_label_cmp not antisymmetric (%d, %d)", x,
                               y);
                    FUZZ_CHECK(cxr_label_cmp(prev, prev_len, prev, prev_len) == 0,
                               "cxr_label_cmp(a, a) != 0");
                }
                free(prev);
                prev = malloc(f[0].len + 1);
                if (!prev) abort();
                memcpy(prev, f[0].s, f[0].len);
                prev_len = f[0].len;
            }
            if (pass == 0) {
                record b = next_record(file, &g);
                FUZZ_CHECK(a.st == b.st && a.n == b.n && a.line == b.line && a.hash == b.hash,
                           "memory and file readers differ at record %lld: status %d/%d, "
                           "%d/%d fields, line %lld/%lld",
                           (long long)records, (int)a.st, (int)b.st, a.n, b.n, (long long)a.line,
                           (long long)b.line);
            }
            records++;
            if (a.st == CXR_OK && a.n == 0) break;
            FUZZ_CHECK(a.st == CXR_OK || a.st == CXR_E_FORMAT, "status %s: %s",
                       cxr_status_name(a.st), cxr_last_error());
            FUZZ_CHECK(records <= (int64_t)size + 1, "more records than bytes");
        }
        FUZZ_CHECK(cxr_csv_rewind(mem) == CXR_OK, "rewind: %s", cxr_last_error());
    }
    free(prev);
    cxr_csv_destroy(mem);
    cxr_csv_destroy(file);
}

static void explore(const char *path)
{
    for (int strict = 0; strict < 2; strict++) {
        cxr_manifest_stats s;
        cxr_status st = cxr_manifest_explore(&s, path, strict);
        if (st != CXR_OK) {
            FUZZ_CHECK(st == CXR_E_FORMAT, "explore: %s: %s", cxr_status_name(st),
                       cxr_last_error());
            continue;
        }
        FUZZ_CHECK(s.n_top <= CXR_EXPLORE_TOP && s.n_top <= s.n_classes, "n_top %d of %lld",
                   s.n_top, (long long)s.n_classes);
        FUZZ_CHECK(s.malformed <= s.rows && (!strict || s.malformed == 0), "malformed %lld",
                   (long long)s.malformed);
        char *text = NULL;
        FUZZ_CHECK(cxr_manifest_explore_format(&s, &text) == CXR_OK, "%s", cxr_last_error());
        free(text);
        cxr_manifest_stats_free(&s);
    }
}

static void check_plan(const cxr_pack_plan *p)
{
    size_t dl = strlen(images);
    FUZZ_CHECK(p->n_classes >= 1 && p->n_classes <= CXR_MAX_CLASSES, "%d classes", p->n_classes);
    for (int k = 0; k < p->n_splits; k++) {
        const cxr_pack_split *s = &p->splits[k];
        for (int64_t i = 0; i < s->n; i++) {
            const cxr_pack_item *it = &s->items[i];
            FUZZ_CHECK(it->label >= 0 && it->label < p->n_classes, "label %d of %d classes",
                       (int)it->label, p->n_classes);
            FUZZ_CHECK(strncmp(it->path, images, dl) == 0 && it->path[dl] == '/' &&
                           strcmp(it->path + dl + 1, it->rel) == 0,
                       "item %s (rel %s) is not under %s", it->path, it->rel, images);
            FUZZ_CHECK(!strstr(it->rel, ".."), "rel %s", it->rel);
            for (int k2 = 0; k2 <= k; k2++)
                for (int64_t j = 0; j < (k2 == k ? i : p->splits[k2].n); j++)
                    FUZZ_CHECK(strcmp(p->splits[k2].items[j].rel, it->rel) != 0, "%s planned twice",
                               it->rel);
        }
    }
}

/* The plan of the same options with classes indexed by label id: the same classes in
 * cxr_label_cmp order, the same items in the same splits and order, each with its own label. */
static void same_plan_by_name(const char *path, cxr_manifest_options o, const cxr_pack_plan *p)
{
    o.class_order = CXR_CLASS_ORDER_NAME;
    cxr_pack_plan q = { 0 };
    cxr_status st = cxr_plan_from_manifest(&q, path, images, &o, NULL);
    FUZZ_CHECK(st == CXR_OK, "plan by name: %s: %s", cxr_status_name(st), cxr_last_error());
    FUZZ_CHECK(q.n_classes == p->n_classes && q.n_splits == p->n_splits, "%d/%d classes",
               q.n_classes, p->n_classes);
    for (int c = 1; c < q.n_classes; c++) {
        const char *a = q.class_names[c - 1], *b = q.class_names[c];
        FUZZ_CHECK(cxr_label_cmp(a, strlen(a), b, strlen(b)) < 0, "classes %d, %d out of order",
                   c - 1, c);
    }
    for (int k = 0; k < p->n_splits; k++) {
        FUZZ_CHECK(q.splits[k].n == p->splits[k].n, "split %d: %lld items, %lld by count", k,
                   (long long)q.splits[k].n, (long long)p->splits[k].n);
        for (int64_t i = 0; i < p->splits[k].n; i++) {
            const cxr_pack_item *x = &p->splits[k].items[i], *y = &q.splits[k].items[i];
            FUZZ_CHECK(strcmp(x->rel, y->rel) == 0 &&
                           strcmp(p->class_names[x->label], q.class_names[y->label]) == 0,
                       "split %d item %lld: %s/%s by count, %s/%s by name", k, (long long)i, x->rel,
                       p->class_names[x->label], y->rel, q.class_names[y->label]);
        }
    }
    cxr_plan_free(&q);
}

static void plan(const char *path, int strict, int top)
{
    cxr_manifest_options o;
    cxr_manifest_options_defaults(&o);
    o.strict = strict;
    o.top_classes = top;
    cxr_pack_plan p = { 0 };
    cxr_manifest_summary sum;
    cxr_status st = cxr_plan_from_manifest(&p, path, images, &o, &sum);
    if (st == CXR_OK) {
        check_plan(&p);
        same_plan_by_name(path, o, &p);
        cxr_plan_free(&p);
    } else {
        FUZZ_CHECK(st == CXR_E_FORMAT || st == CXR_E_ARG, "plan: %s: %s", cxr_status_name(st),
                   cxr_last_error());
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!images[0]) make_images();
    char path[64];
    int fd = fuzz_memfile("manifest.csv", data, size, path, sizeof path);
    read_all(data, size, path);
    explore(path);
    plan(path, 0, 0);
    plan(path, 1, 2);
    close(fd);
    return 0;
}
