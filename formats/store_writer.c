/* store_writer.c: writes a cxr store (specs/store.md) into a temporary beside the output
 * (cxr_h5_create) and renames it into place on finish. Chunks arrive already encoded
 * (cxr_chunk_encode, worker threads) and go to disk unchanged through H5Dwrite_chunk; this file is
 * the single HDF5 thread. */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "store_internal.h"

struct cxr_store_writer {
    char *path; /* what messages name: the output, never its temporary (tf.path) */
    cxr_tmpfile tf;
    cxr_store_options opt;
    char *source, *tool_version;
    int n_classes;
    char **class_names;
    hid_t file, dcpl_notime, gcpl_notime;
    int finished;
    /* current split */
    char split[8];
    hid_t group, images;
    int64_t upper, count, n_shards;
    int last_partial; /* a chunk with n < shard was put: no more chunks */
    int32_t *labels;
    char **paths;
    int64_t cap;
    uint64_t *where; /* the split's shard index: [2 x shard] address and size of each chunk
                      * (address 0 until end_split looks it up: chunk_is_at) */
    int64_t cap_where;
    uint8_t *check; /* scratch for chunk_is_at */
    int64_t *class_counts;
    int done_split[CXR_N_SPLITS]; /* train, val, test written */
    int64_t train_counts_set;
    int64_t *train_counts; /* [n_classes], copied at end_split("train") */
    int64_t n_train;
    /* skipped inputs */
    char **sk_split, **sk_path, **sk_reason;
    int64_t n_sk, cap_sk;
};

static const char *const reserved_attrs[] = { "format",        "format_version", "tool_version",
                                              "source",        "image_size",     "grayscale",
                                              "resize_filter", "equalize",       "normalize",
                                              "crop_ratio",    "max_side",       "zstd_level",
                                              "shard_size",    "clahe_clip" };

void cxr_store_options_defaults(cxr_store_options *o)
{
    memset(o, 0, sizeof *o);
    o->shard = 64;
    o->zstd_level = CXR_STORE_ZSTD_LEVEL;
    cxr_preprocess_defaults(&o->pp);
    o->source = "";
    o->tool_version = "";
}

const char *cxr_store_writer_temp_path(const cxr_store_writer *w) { return w ? w->tf.path : NULL; }

typedef struct {
    const char *stored; /* the name as the store holds it */
    int index;
} stored_name;

static int stored_name_cmp(const void *a, const void *b)
{
    const stored_name *x = a, *y = b;
    int c = strcmp(x->stored, y->stored);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Every class has a name, and no two are stored alike: compared as stored, since a name that
 * is not UTF-8 is stored escaped (cxr_h5_utf8_escape) and may then equal another name's text.
 * Each name escaped once, then sorted: n log n for up to CXR_MAX_CLASSES. */
static cxr_status check_class_names(const char *path, int n, const char *const *names)
{
    cxr_status st = CXR_OK;
    stored_name *v = calloc((size_t)n, sizeof *v);
    char **esc = calloc((size_t)n, sizeof *esc);
    if (!v || !esc) CXR_THROW(CXR_E_NOMEM, "%s: class names", path);
    for (int c = 0; c < n; c++) {
        if (!names[c] || !*names[c]) CXR_THROW(CXR_E_ARG, "%s: class %d has no name", path, c);
        if (strlen(names[c]) > CXR_CLASS_NAME_MAX)
            CXR_THROW(CXR_E_FORMAT, "%s: class %d's name is %zu bytes long (at most %d)", path, c,
                      strlen(names[c]), CXR_CLASS_NAME_MAX);
        if (cxr_h5_utf8_escape(names[c], &esc[c]) < 0)
            CXR_THROW(CXR_E_NOMEM, "%s: class names", path);
        v[c] = (stored_name){ esc[c] ? esc[c] : names[c], c };
    }
    qsort(v, (size_t)n, sizeof *v, stored_name_cmp);
    for (int i = 1; i < n; i++)
        if (strcmp(v[i - 1].stored, v[i].stored) == 0)
            CXR_THROW(CXR_E_FORMAT, "%s: classes %d and %d are both stored as '%s'", path,
                      v[i - 1].index, v[i].index, v[i].stored);
bail:
    for (int c = 0; esc && c < n; c++) free(esc[c]);
    free(esc);
    free(v);
    return st;
}

cxr_status cxr_store_writer_create(cxr_store_writer **out, const char *path,
                                   const cxr_store_options *opt, int n_classes,
                                   const char *const *class_names)
{
    cxr_status st = CXR_OK;
    cxr_store_writer *w = NULL;
    hid_t fapl = -1, fcpl = -1;
    if (out) *out = NULL;
    if (!out || !path || !*path || !opt || !class_names)
        CXR_THROW(CXR_E_ARG, "cxr_store_writer_create: missing argument");
    if (n_classes < 1 || n_classes > CXR_MAX_CLASSES)
        CXR_THROW(CXR_E_ARG, "%s: %d classes, expected 1..%d", path, n_classes, CXR_MAX_CLASSES);
    if (opt->shard < 1 || opt->pp.size < 1)
        CXR_THROW(CXR_E_ARG, "%s: bad shard %d or image size %d", path, opt->shard, opt->pp.size);
    if (!cxr_store_chunk_fits(opt->shard, opt->pp.size))
        CXR_THROW(CXR_E_ARG, "%s: a chunk of %d images of %dx%d exceeds HDF5's 4 GiB chunk limit",
                  path, opt->shard, opt->pp.size, opt->pp.size);
    if (opt->zstd_level < ZSTD_minCLevel() || opt->zstd_level > ZSTD_maxCLevel())
        CXR_THROW(CXR_E_ARG, "%s: zstd level %d outside [%d, %d]", path, opt->zstd_level,
                  ZSTD_minCLevel(), ZSTD_maxCLevel());
    if (cxr_preprocess_check(&opt->pp) != CXR_OK) { /* e.g. a CLAHE clip limit of 0 */
        st = cxr_wrap_error(CXR_E_ARG, "%s: preprocessing", path);
        goto bail;
    }
    CXR_TRY(check_class_names(path, n_classes, class_names));
    CXR_TRY(cxr_hdf5_init());

    w = calloc(1, sizeof *w);
    if (!w) CXR_THROW(CXR_E_NOMEM, "%s: writer", path);
    w->file = w->dcpl_notime = w->gcpl_notime = w->group = w->images = -1;
    cxr_tmpfile_init(&w->tf);
    w->opt = *opt;
    w->n_classes = n_classes;
    w->path = strdup(path);
    w->source = strdup(opt->source ? opt->source : "");
    w->tool_version = strdup(opt->tool_version ? opt->tool_version : "");
    w->class_names = calloc((size_t)n_classes, sizeof *w->class_names);
    w->class_counts = calloc((size_t)n_classes, sizeof *w->class_counts);
    w->train_counts = calloc((size_t)n_classes, sizeof *w->train_counts);
    if (!w->path || !w->source || !w->tool_version || !w->class_names || !w->class_counts ||
        !w->train_counts)
        CXR_THROW(CXR_E_NOMEM, "%s: writer", path);
    w->opt.source = w->source;
    w->opt.tool_version = w->tool_version;
    for (int c = 0; c < n_classes; c++)
        if (!(w->class_names[c] = strdup(class_names[c]))) CXR_THROW(CXR_E_NOMEM, "%s", path);

    fapl = cxr_h5_fapl();
    fcpl = H5Pcreate(H5P_FILE_CREATE);
    w->dcpl_notime = cxr_h5_dcpl_notime();
    w->gcpl_notime = H5Pcreate(H5P_GROUP_CREATE);
    /* The file creation list is also the root group's creation list: without this the root
     * group's object header carries timestamps and two identical stores differ. */
    if (fapl < 0 || fcpl < 0 || w->dcpl_notime < 0 || w->gcpl_notime < 0 ||
        H5Pset_obj_track_times(fcpl, 0) < 0 || H5Pset_obj_track_times(w->gcpl_notime, 0) < 0 ||
        H5Pset_alignment(fapl, 1, CXR_STORE_ALIGN) < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, path, "property lists");
        goto bail;
    }
    CXR_TRY(cxr_h5_create(&w->tf, path, fcpl, fapl, &w->file));
    if (cxr_h5_write_strings(w->file, "class_names", (const char *const *)w->class_names,
                             n_classes) < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, w->path, "writing class_names");
        goto bail;
    }
    *out = w;
    w = NULL;
bail:
    if (fapl >= 0) H5Pclose(fapl);
    if (fcpl >= 0) H5Pclose(fcpl);
    cxr_store_writer_destroy(w);
    return st;
}

cxr_status cxr_store_writer_begin_split(cxr_store_writer *w, const char *split, int64_t n_images)
{
    cxr_status st = CXR_OK;
    hid_t sp = -1, dcpl = -1;
    if (!w || w->finished) return cxr_set_error(CXR_E_ARG, "begin_split: no open writer");
    int slot = cxr_split_index(split);
    if (slot < 0)
        CXR_THROW(CXR_E_ARG, "%s: split '%s' is not train, val or test", w->path,
                  split ? split : "(null)");
    if (w->group >= 0)
        CXR_THROW(CXR_E_ARG, "%s: begin_split('%s') while split '%s' is open", w->path, split,
                  w->split);
    if (w->done_split[slot]) CXR_THROW(CXR_E_ARG, "%s: split '%s' written twice", w->path, split);
    if (n_images < 0) CXR_THROW(CXR_E_ARG, "%s: split '%s': negative size", w->path, split);

    int S = w->opt.pp.size, shard = w->opt.shard;
    hsize_t dims[3] = { 0, (hsize_t)S, (hsize_t)S };
    hsize_t maxd[3] = { H5S_UNLIMITED, (hsize_t)S, (hsize_t)S };
    hsize_t chunk[3] = { (hsize_t)shard, (hsize_t)S, (hsize_t)S };
    unsigned cd[1] = { (unsigned)w->opt.zstd_level };
    float zero = 0.0f;
    w->group = H5Gcreate2(w->file, split, H5P_DEFAULT, w->gcpl_notime, H5P_DEFAULT);
    if (w->group < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, w->path, "creating group /%s", split);
        goto bail;
    }
    snprintf(w->split, sizeof w->split, "%s", split);
    sp = H5Screate_simple(3, dims, maxd);
    dcpl = H5Pcopy(w->dcpl_notime);
    if (sp < 0 || dcpl < 0 || H5Pset_chunk(dcpl, 3, chunk) < 0 || H5Pset_shuffle(dcpl) < 0 ||
        H5Pset_filter(dcpl, CXR_ZSTD_FILTER_ID, H5Z_FLAG_MANDATORY, 1, cd) < 0 ||
        H5Pset_fletcher32(dcpl) < 0 || H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &zero) < 0 ||
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_INCR) < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, w->path, "/%s/images creation list", split);
        goto bail;
    }
    w->images = H5Dcreate2(w->group, "images", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (w->images < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, w->path, "creating /%s/images", split);
        goto bail;
    }
    w->upper = n_images;
    w->count = w->n_shards = 0;
    w->last_partial = 0;
    memset(w->class_counts, 0, (size_t)w->n_classes * sizeof *w->class_counts);
bail:
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    return st;
}

static int grow(void **p, int64_t *cap, int64_t need, size_t elem)
{
    if (need <= *cap) return 1;
    int64_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return 0;
    *p = q;
    *cap = nc;
    return 1;
}

/* Ask the kernel to start writing the chunks out now (asynchronously) rather than all at once
 * in finish's fsync: the writeback work then overlaps the packing instead of following it (on
 * a 1.1 GB store, the final fsync was ~0.2 s with one core busy and the other idle). Advisory:
 * errors are ignored, fsync still decides. */
static void start_writeback(const cxr_store_writer *w)
{
#ifdef SYNC_FILE_RANGE_WRITE
    if (w->tf.fd >= 0) (void)sync_file_range(w->tf.fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#else
    (void)w;
#endif
}

/* 1 when the temporary holds exactly `raw` at byte `at`. HDF5 1.10 says where a chunk went
 * only by walking the dataset's chunk index (H5Dget_chunk_info*), O(chunks) a call: asked of
 * every chunk at end_split it was O(shards^2), 24 s of an 84 s pack of 1 M images. A chunk
 * usually goes to the end of the file's allocated space, aligned; put_chunk guesses that
 * address and keeps it only when the file's bytes there are the chunk's own, which nothing
 * else can put there (the space was past the end of the file before the write). A chunk HDF5
 * put elsewhere (free space, an aggregator's block) is looked up at end_split as before. */
static int chunk_is_at(cxr_store_writer *w, uint64_t at, const uint8_t *raw, size_t n)
{
    enum { STEP = 1 << 18 };
    if (w->tf.fd < 0 || (!w->check && !(w->check = malloc(STEP)))) return 0;
    for (size_t done = 0; done < n;) {
        size_t want = n - done < STEP ? n - done : STEP;
        ssize_t got = pread(w->tf.fd, w->check, want, (off_t)(at + done));
        if (got <= 0 || memcmp(w->check, raw + done, (size_t)got) != 0) return 0;
        done += (size_t)got;
    }
    return 1;
}

cxr_status cxr_store_writer_put_chunk(cxr_store_writer *w, const uint8_t *raw, size_t raw_size,
                                      int n, const int32_t *labels, const char *const *paths)
{
    cxr_status st = CXR_OK;
    if (!w || w->finished || w->group < 0)
        return cxr_set_error(CXR_E_ARG, "put_chunk: no split open");
    int shard = w->opt.shard;
    int S = w->opt.pp.size;
    if (!raw || !labels || !paths || n < 1 || n > shard)
        CXR_THROW(CXR_E_ARG, "%s: /%s chunk %lld: bad arguments (n=%d)", w->path, w->split,
                  (long long)w->n_shards, n);
    if (w->last_partial)
        CXR_THROW(CXR_E_ARG, "%s: /%s: chunk after a partial chunk (only the last may be partial)",
                  w->path, w->split);
    if (w->count + n > w->upper)
        CXR_THROW(CXR_E_ARG, "%s: /%s: more than the %lld images announced", w->path, w->split,
                  (long long)w->upper);
    if (raw_size < 5 || raw_size > 0xffffffffu)
        CXR_THROW(CXR_E_ARG, "%s: /%s chunk %lld: size %zu", w->path, w->split,
                  (long long)w->n_shards, raw_size);
    /* Cheap sanity on what goes to disk: the frame header's content size and the checksum. */
    {
        unsigned long long content = ZSTD_getFrameContentSize(raw, raw_size - 4);
        unsigned long long want = (unsigned long long)shard * S * S * 4;
        const uint8_t *t = raw + raw_size - 4;
        uint32_t sum =
            (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
        if (content != want)
            CXR_THROW(CXR_E_FORMAT, "%s: /%s chunk %lld: frame holds %llu bytes, expected %llu",
                      w->path, w->split, (long long)w->n_shards, content, want);
        if (cxr_fletcher32(raw, raw_size - 4) != sum)
            CXR_THROW(CXR_E_CHECKSUM, "%s: /%s chunk %lld: bad Fletcher32", w->path, w->split,
                      (long long)w->n_shards);
    }
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= w->n_classes)
            CXR_THROW(CXR_E_MISMATCH, "%s: /%s image %lld: label %d out of range [0, %d)", w->path,
                      w->split, (long long)(w->count + i), labels[i], w->n_classes);
    }
    int64_t cap = w->cap;
    if (!grow((void **)&w->labels, &cap, w->count + n, sizeof *w->labels))
        CXR_THROW(CXR_E_NOMEM, "%s: labels", w->path);
    cap = w->cap;
    if (!grow((void **)&w->paths, &cap, w->count + n, sizeof *w->paths))
        CXR_THROW(CXR_E_NOMEM, "%s: paths", w->path);
    w->cap = cap;
    cap = w->cap_where;
    if (!grow((void **)&w->where, &cap, 2 * (w->n_shards + 1), sizeof *w->where))
        CXR_THROW(CXR_E_NOMEM, "%s: shard index", w->path);
    w->cap_where = cap;

    hsize_t ext[3] = { (hsize_t)(w->count + n), (hsize_t)S, (hsize_t)S };
    hsize_t off[3] = { (hsize_t)w->count, 0, 0 };
    hsize_t end = 0; /* the file's allocated end before the chunk is written */
    if (H5Dset_extent(w->images, ext) < 0 || H5Fget_filesize(w->file, &end) < 0 ||
        H5Dwrite_chunk(w->images, H5P_DEFAULT, 0, off, raw_size, raw) < 0) {
        st = cxr_hdf5_error(CXR_E_IO, w->path, "writing /%s/images chunk %lld", w->split,
                            (long long)w->n_shards);
        goto bail;
    }
    uint64_t at = ((uint64_t)end + CXR_STORE_ALIGN - 1) / CXR_STORE_ALIGN * CXR_STORE_ALIGN;
    w->where[2 * w->n_shards] = chunk_is_at(w, at, raw, raw_size) ? at : 0;
    w->where[2 * w->n_shards + 1] = raw_size;
    for (int i = 0; i < n; i++) {
        char *p = strdup(paths[i] ? paths[i] : "");
        if (!p) CXR_THROW(CXR_E_NOMEM, "%s: paths", w->path);
        w->labels[w->count] = labels[i];
        w->paths[w->count] = p;
        w->class_counts[labels[i]]++;
        w->count++;
    }
    w->n_shards++;
    if (n < shard) w->last_partial = 1;
    start_writeback(w);
bail:
    return st;
}

static void free_split_rows(cxr_store_writer *w)
{
    for (int64_t i = 0; i < w->count; i++) free(w->paths[i]);
    w->count = 0;
}

cxr_status cxr_store_writer_put_hashes(cxr_store_writer *w, const uint64_t *file_hash,
                                       const uint64_t *pixel_hash, int64_t n)
{
    if (!w || w->finished || w->group < 0)
        return cxr_set_error(CXR_E_ARG, "put_hashes: no split open");
    if (n != w->count || (n && (!file_hash || !pixel_hash)))
        return cxr_set_error(CXR_E_ARG, "%s: /%s: %lld hashes for %lld images", w->path, w->split,
                             (long long)n, (long long)w->count);
    hsize_t n1[1] = { (hsize_t)n };
    if (cxr_h5_write_checked(w->group, "file_hash", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, n1,
                             file_hash) < 0 ||
        cxr_h5_write_checked(w->group, "pixel_hash", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, n1,
                             pixel_hash) < 0)
        return cxr_hdf5_error(CXR_E_IO, w->path, "writing /%s hashes", w->split);
    return CXR_OK;
}

cxr_status cxr_store_writer_end_split(cxr_store_writer *w)
{
    cxr_status st = CXR_OK;
    if (!w || w->finished || w->group < 0)
        return cxr_set_error(CXR_E_ARG, "end_split: no split open");
    int S = w->opt.pp.size;
    hsize_t ext[3] = { (hsize_t)w->count, (hsize_t)S, (hsize_t)S };
    if (H5Dset_extent(w->images, ext) < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, w->path, "/%s/images extent", w->split);
        goto bail;
    }
    for (int64_t k = 0; k < w->n_shards; k++) { /* the index: put_chunk's, its gaps looked up */
        hsize_t off[3] = { (hsize_t)(k * w->opt.shard), 0, 0 };
        unsigned mask = 0;
        haddr_t addr = w->where[2 * k];
        hsize_t size = w->where[2 * k + 1];
        if (addr == 0 && (H5Dget_chunk_info_by_coord(w->images, off, &mask, &addr, &size) < 0 ||
                          addr == HADDR_UNDEF)) {
            st = cxr_hdf5_error(CXR_E_HDF5, w->path, "/%s/images: no chunk info for shard %lld",
                                w->split, (long long)k);
            goto bail;
        }
        if (addr % CXR_STORE_ALIGN != 0)
            CXR_THROW(CXR_E_INTERNAL, "%s: /%s chunk %lld at offset %llu is not %d-aligned",
                      w->path, w->split, (long long)k, (unsigned long long)addr, CXR_STORE_ALIGN);
        w->where[2 * k] = (uint64_t)addr;
        w->where[2 * k + 1] = (uint64_t)size;
    }
    hsize_t n1[1] = { (hsize_t)w->count };
    hsize_t c1[1] = { (hsize_t)w->n_classes };
    hsize_t ix[2] = { (hsize_t)w->n_shards, 2 };
    if (cxr_h5_write_checked(w->group, "labels", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, n1,
                             w->labels) < 0 ||
        cxr_h5_write_strings(w->group, "paths", (const char *const *)w->paths, w->count) < 0 ||
        cxr_h5_write_checked(w->group, "class_counts", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, c1,
                             w->class_counts) < 0 ||
        cxr_h5_write_checked(w->group, "shard_index", H5T_STD_U64LE, H5T_NATIVE_UINT64, 2, ix,
                             w->where) < 0) {
        st = cxr_hdf5_error(CXR_E_IO, w->path, "writing /%s metadata", w->split);
        goto bail;
    }
    int slot = cxr_split_index(w->split);
    if (slot == 0) {
        memcpy(w->train_counts, w->class_counts, (size_t)w->n_classes * sizeof *w->train_counts);
        w->n_train = w->count;
        w->train_counts_set = 1;
    }
    w->done_split[slot] = 1;
    /* checked as every write is (cxr_h5_write_checked): a close flushes what HDF5 cached */
    const herr_t rd = H5Dclose(w->images);
    /* the group's close resets HDF5's error stack: the images' failure is kept for the message */
    const hid_t es = rd < 0 ? H5Eget_current_stack() : -1;
    const herr_t rg = H5Gclose(w->group);
    w->images = w->group = -1;
    if (es >= 0) H5Eset_current_stack(es);
    if (rd < 0 || rg < 0) {
        st = cxr_hdf5_error(CXR_E_IO, w->path, "writing /%s", w->split);
        goto bail;
    }
    free_split_rows(w);
bail:
    return st;
}

cxr_status cxr_store_writer_add_skipped(cxr_store_writer *w, const char *split, const char *path,
                                        const char *reason)
{
    cxr_status st = CXR_OK;
    if (!w || w->finished) return cxr_set_error(CXR_E_ARG, "add_skipped: no open writer");
    int64_t c1 = w->cap_sk, c2 = w->cap_sk, c3 = w->cap_sk;
    if (!grow((void **)&w->sk_split, &c1, w->n_sk + 1, sizeof(char *)) ||
        !grow((void **)&w->sk_path, &c2, w->n_sk + 1, sizeof(char *)) ||
        !grow((void **)&w->sk_reason, &c3, w->n_sk + 1, sizeof(char *)))
        CXR_THROW(CXR_E_NOMEM, "%s: skipped list", w->path);
    w->cap_sk = c1;
    char *a = strdup(split ? split : ""), *b = strdup(path ? path : ""),
         *c = strdup(reason ? reason : "");
    if (!a || !b || !c) {
        free(a), free(b), free(c);
        CXR_THROW(CXR_E_NOMEM, "%s: skipped list", w->path);
    }
    w->sk_split[w->n_sk] = a;
    w->sk_path[w->n_sk] = b;
    w->sk_reason[w->n_sk] = c;
    w->n_sk++;
bail:
    return st;
}

cxr_status cxr_store_writer_set_attr(cxr_store_writer *w, const char *name, const char *value)
{
    if (!w || w->finished) return cxr_set_error(CXR_E_ARG, "set_attr: no open writer");
    if (!name || !*name || strchr(name, '/') || strchr(name, '.') == name)
        return cxr_set_error(CXR_E_ARG, "%s: bad attribute name '%s'", w->path,
                             name ? name : "(null)");
    for (size_t i = 0; i < sizeof reserved_attrs / sizeof *reserved_attrs; i++)
        if (strcmp(name, reserved_attrs[i]) == 0)
            return cxr_set_error(CXR_E_ARG, "%s: attribute '%s' is reserved by the store format",
                                 w->path, name);
    if (cxr_h5_attr_put_str(w->file, name, value) < 0)
        return cxr_hdf5_error(CXR_E_HDF5, w->path, "attribute '%s'", name);
    return CXR_OK;
}

static cxr_status write_root_meta(cxr_store_writer *w)
{
    cxr_status st = CXR_OK;
    float *wt = calloc((size_t)w->n_classes, sizeof *wt);
    hid_t g = -1;
    if (!wt) return cxr_set_error(CXR_E_NOMEM, "%s: class weights", w->path);
    for (int c = 0; c < w->n_classes; c++)
        wt[c] = cxr_store_class_weight(w->n_train, w->n_classes, w->train_counts[c]);
    hsize_t c1[1] = { (hsize_t)w->n_classes };
    if (cxr_h5_write_checked(w->file, "class_weights", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, c1,
                             wt) < 0)
        goto h5fail;
    g = H5Gcreate2(w->file, "skipped", H5P_DEFAULT, w->gcpl_notime, H5P_DEFAULT);
    if (g < 0 || cxr_h5_write_strings(g, "split", (const char *const *)w->sk_split, w->n_sk) < 0 ||
        cxr_h5_write_strings(g, "path", (const char *const *)w->sk_path, w->n_sk) < 0 ||
        cxr_h5_write_strings(g, "reason", (const char *const *)w->sk_reason, w->n_sk) < 0)
        goto h5fail;
    const cxr_preprocess_params *pp = &w->opt.pp;
    const char *norm = cxr_norm_name(pp->normalize);
    hid_t f = w->file;
    if (cxr_h5_attr_put_str(f, "format", CXR_STORE_FORMAT) < 0 ||
        cxr_h5_attr_put_i32(f, "format_version", CXR_STORE_VERSION) < 0 ||
        cxr_h5_attr_put_str(f, "tool_version", w->tool_version) < 0 ||
        cxr_h5_attr_put_str(f, "source", w->source) < 0 ||
        cxr_h5_attr_put_i32(f, "image_size", pp->size) < 0 ||
        cxr_h5_attr_put_str(f, "grayscale", CXR_STORE_GRAYSCALE_DESC) < 0 ||
        cxr_h5_attr_put_str(f, "resize_filter", CXR_STORE_RESIZE_DESC) < 0 ||
        cxr_h5_attr_put_i32(f, "equalize", pp->equalize) < 0 ||
        cxr_h5_attr_put_str(f, "normalize", norm ? norm : "") < 0 ||
        cxr_h5_attr_put_f64(f, "crop_ratio", pp->crop_ratio) < 0 ||
        cxr_h5_attr_put_i32(f, "max_side", pp->max_side) < 0 ||
        cxr_h5_attr_put_i32(f, "zstd_level", w->opt.zstd_level) < 0 ||
        cxr_h5_attr_put_i32(f, "shard_size", w->opt.shard) < 0 ||
        (pp->equalize == CXR_EQUALIZE_CLAHE &&
         cxr_h5_attr_put_f64(f, "clahe_clip", pp->clahe_clip) < 0))
        goto h5fail;
    goto bail;
h5fail:
    st = cxr_hdf5_error(CXR_E_HDF5, w->path, "writing root metadata");
bail:
    if (g >= 0) H5Gclose(g);
    free(wt);
    return st;
}

cxr_status cxr_store_writer_close(cxr_store_writer *w)
{
    cxr_status st = CXR_OK;
    if (!w || w->finished || w->file < 0) return cxr_set_error(CXR_E_ARG, "close: no open writer");
    if (w->group >= 0)
        CXR_THROW(CXR_E_ARG, "%s: finish with split '%s' still open", w->path, w->split);
    if (!w->done_split[0] && !w->done_split[1] && !w->done_split[2])
        CXR_THROW(CXR_E_ARG, "%s: finish with no split written", w->path);
    CXR_TRY(write_root_meta(w));
    herr_t rc = H5Fclose(w->file);
    w->file = -1;
    if (rc < 0) {
        st = cxr_hdf5_error(CXR_E_IO, w->path, "closing the store");
        goto bail;
    }
    /* durable before close returns: a caller commits other files (the duplicates report)
     * only once the store can no longer fail but for its rename */
    CXR_TRY(cxr_tmpfile_sync(&w->tf));
bail:
    return st;
}

cxr_status cxr_store_writer_finish(cxr_store_writer *w)
{
    cxr_status st = CXR_OK;
    if (!w || w->finished) return cxr_set_error(CXR_E_ARG, "finish: no open writer");
    if (w->file >= 0) CXR_TRY(cxr_store_writer_close(w));
    CXR_TRY(cxr_tmpfile_commit(&w->tf));
    w->finished = 1;
bail:
    return st;
}

void cxr_store_writer_destroy(cxr_store_writer *w)
{
    if (!w) return;
    if (w->images >= 0) H5Dclose(w->images);
    if (w->group >= 0) H5Gclose(w->group);
    if (w->file >= 0) H5Fclose(w->file);
    if (w->dcpl_notime >= 0) H5Pclose(w->dcpl_notime);
    if (w->gcpl_notime >= 0) H5Pclose(w->gcpl_notime);
    H5Eclear2(H5E_DEFAULT);
    cxr_tmpfile_discard(&w->tf); /* removes the temporary unless committed */
    if (w->paths) free_split_rows(w);
    free(w->paths);
    free(w->labels);
    free(w->where);
    free(w->check);
    for (int64_t i = 0; i < w->n_sk; i++) {
        free(w->sk_split[i]);
        free(w->sk_path[i]);
        free(w->sk_reason[i]);
    }
    free(w->sk_split);
    free(w->sk_path);
    free(w->sk_reason);
    if (w->class_names)
        for (int c = 0; c < w->n_classes; c++) free(w->class_names[c]);
    free(w->class_names);
    free(w->class_counts);
    free(w->train_counts);
    free(w->source);
    free(w->tool_version);
    free(w->path);
    free(w);
}
