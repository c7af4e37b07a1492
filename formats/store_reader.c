/* store_reader.c: opens and validates a cxr store (specs/store.md, "Validation by the
 * reader"), keeps its metadata in memory and reads images or whole chunks through HDF5.
 * The raw path (mmap + cxr_chunk_decode at the shard_index offsets) needs only the metadata
 * exposed here. Single-threaded like every HDF5 caller in cxr. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "cxr_files.h"
#include "store_internal.h"

typedef struct {
    int present;
    hid_t images;
    cxr_split_info info;
    int32_t *labels;
    int64_t *class_counts;
    uint64_t *chunk_offset, *chunk_size;
    char **paths; /* [n] into path_arena */
    char *path_arena;
} split_data;

struct cxr_store {
    char *path;
    hid_t file;
    int fd; /* the file HDF5 opened (cxr_store_fd) */
    int n_classes;
    char **class_names;
    float *class_weights;
    cxr_preprocess_params pp;
    int shard, size;
    split_data split[CXR_N_SPLITS];
};


/* CXR_E_FORMAT unless loc/name (which exists) is the object's only link, a hard one: a soft,
 * external or second hard link would make one split (or dataset) read as another, or as another
 * file's. `what`: "group" or "dataset", for the message. */
static cxr_status single_link(const cxr_store *s, hid_t loc, const char *where, const char *name,
                              const char *what)
{
    H5L_info_t li;
    if (H5Lget_info(loc, name, &li, H5P_DEFAULT) < 0)
        return cxr_hdf5_error(CXR_E_FORMAT, s->path, "cannot read link '%s/%s'", where, name);
    if (li.type != H5L_TYPE_HARD)
        return cxr_set_error(CXR_E_FORMAT, "%s: '%s/%s' is a%s link, not the %s itself", s->path,
                             where, name, li.type == H5L_TYPE_SOFT ? " soft" : "n external", what);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info2_t oi;
    herr_t e = H5Oget_info_by_name3(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    H5O_info_t oi;
    herr_t e = H5Oget_info_by_name2(loc, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    if (e < 0) return cxr_hdf5_error(CXR_E_FORMAT, s->path, "cannot read '%s/%s'", where, name);
    if (oi.rc != 1)
        return cxr_set_error(CXR_E_FORMAT,
                             "%s: the %s '%s/%s' has %u links: it is also another split or "
                             "dataset of the store",
                             s->path, what, where, name, oi.rc);
    return CXR_OK;
}

/* Open dataset loc/name; checks class, rank and (when dims_want[i] >= 0) each dimension.
 * On success *dims receives the dimensions. */
static cxr_status open_ds(const cxr_store *s, hid_t loc, const char *where, const char *name,
                          H5T_class_t cls, int rank, hsize_t *dims, hid_t *out, hid_t dapl)
{
    cxr_status st = CXR_OK;
    hid_t d = -1, t = -1, sp = -1;
    if (!cxr_h5_exists(loc, name))
        CXR_THROW(CXR_E_FORMAT, "%s: missing dataset '%s/%s'", s->path, where, name);
    CXR_TRY(single_link(s, loc, where, name, "dataset"));
    d = H5Dopen2(loc, name, dapl);
    if (d < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "cannot open dataset '%s/%s'", where, name);
        goto bail;
    }
    t = H5Dget_type(d);
    sp = H5Dget_space(d);
    if (t < 0 || sp < 0 || H5Tget_class(t) != cls)
        CXR_THROW(CXR_E_FORMAT, "%s: '%s/%s' has the wrong element type", s->path, where, name);
    if (H5Sget_simple_extent_ndims(sp) != rank)
        CXR_THROW(CXR_E_FORMAT, "%s: '%s/%s' has rank %d, expected %d", s->path, where, name,
                  H5Sget_simple_extent_ndims(sp), rank);
    H5Sget_simple_extent_dims(sp, dims, NULL);
    /* the images carry their own pipeline (check_images); everything else must be verified
     * by HDF5 on reading */
    if (strcmp(name, "images") != 0 && !cxr_h5_is_checked(d))
        CXR_THROW(CXR_E_FORMAT,
                  "%s: '%s/%s' is stored without a checksum, or with filters besides it", s->path,
                  where, name);
    if (strcmp(name, "images") != 0 && !cxr_h5_is_complete(d))
        CXR_THROW(CXR_E_FORMAT, "%s: '%s/%s' " CXR_H5_INCOMPLETE, s->path, where, name);
    *out = d;
    d = -1;
bail:
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    return st;
}

/* A root attribute that is missing (r == 0) or unreadable (r < 0: damaged, or of another
 * kind; HDF5's reason is added when it has one). */
static cxr_status attr_error(const cxr_store *s, int r, const char *name, const char *kind)
{
    if (r == 0) return cxr_set_error(CXR_E_FORMAT, "%s: missing attribute '%s'", s->path, name);
    if (r == -2)
        return cxr_set_error(CXR_E_FORMAT, "%s: attribute '%s' is a string of more than %u bytes",
                             s->path, name, CXR_H5_STR_MAX);
    return cxr_hdf5_error(CXR_E_FORMAT, s->path,
                          "attribute '%s' is unreadable (damaged, or not %s)", name, kind);
}

/* 1 if attribute `name` is a variable-length string (as version 1 wrote them; not read). */
static int attr_is_vlen_str(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
    int v = t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) > 0;
    if (t >= 0) H5Tclose(t);
    if (a >= 0) H5Aclose(a);
    return v; /* on failure HDF5's reason stays for attr_error */
}

static int name_cmp(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    int c = strcmp(*x, *y);
    return c ? c : (*x > *y) - (*x < *y); /* equal names in class order (one arena) */
}

/* No two class names equal: sorted, then neighbours compared (C log C comparisons; all pairs
 * made a store of 4096 long names a minutes-long open). */
static cxr_status check_distinct_names(const cxr_store *s)
{
    const int n = s->n_classes;
    const char **v = malloc((size_t)n * sizeof *v);
    if (!v) return cxr_set_error(CXR_E_NOMEM, "%s: class names", s->path);
    for (int c = 0; c < n; c++) {
        v[c] = s->class_names[c];
        if (!cxr_utf8_valid(v[c])) { /* cxr-pack escapes what is not (specs/store.md) */
            char esc[160];
            free(v);
            return cxr_set_error(CXR_E_FORMAT,
                                 "%s: '/class_names': class %d's name '%s' is not valid UTF-8 "
                                 "(every store writer escapes such bytes: damaged or hand-made)",
                                 s->path, c, cxr_escape_name(esc, sizeof esc, s->class_names[c]));
        }
    }
    qsort(v, (size_t)n, sizeof *v, name_cmp);
    cxr_status st = CXR_OK;
    for (int i = 1; i < n && st == CXR_OK; i++)
        if (strcmp(v[i - 1], v[i]) == 0) {
            int a = -1, b = -1; /* the class indices: the arena's order is the classes' */
            for (int c = 0; c < n; c++)
                if (s->class_names[c] == v[i - 1])
                    a = c;
                else if (s->class_names[c] == v[i])
                    b = c;
            st = cxr_set_error(CXR_E_FORMAT, "%s: '/class_names': classes %d and %d are both '%s'",
                               s->path, a, b, v[i]);
        }
    free(v);
    return st;
}

static cxr_status read_root(cxr_store *s)
{
    cxr_status st = CXR_OK;
    char *fmt = NULL, *str = NULL;
    int64_t ver = -1, v = 0;
    double f = 0;
    hid_t d = -1;
    hsize_t dims[1];
    char *arena = NULL;
    int r = cxr_h5_attr_get_str(s->file, "format", &fmt);
    int rv = cxr_h5_attr_get_i64(s->file, "format_version", &ver);
    if (r == 0)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: not a cxr store (no 'format' attribute), expected %s version %d", s->path,
                  CXR_STORE_FORMAT, CXR_STORE_VERSION);
    if (r < 0 && !attr_is_vlen_str(s->file, "format"))
        CXR_TRY(attr_error(s, r, "format", "a string"));
    if (r == 1 && strcmp(fmt, CXR_STORE_FORMAT) == 0 && rv != 1)
        CXR_TRY(attr_error(s, rv, "format_version", "an integer"));
    if (r != 1 || strcmp(fmt, CXR_STORE_FORMAT) != 0 || rv != 1 || ver != CXR_STORE_VERSION) {
        char vbuf[32] = "?";
        if (rv > 0) snprintf(vbuf, sizeof vbuf, "%lld", (long long)ver);
        /* a model given for the store (cxr-eval's arguments swapped): said as such; the names
         * are train/cxr_checkpoint.h's CXR_CHECKPOINT_FORMAT and CXR_WEIGHTS_FORMAT */
        const int model = r == 1 && (!strcmp(fmt, "cxr-checkpoint") || !strcmp(fmt, "cxr-weights"));
        const char *hint = model ? ": a model, not a store (give the store cxr-pack wrote here)"
                           : rv > 0 && ver < CXR_STORE_VERSION ? ": re-pack it with this cxr-pack"
                                                               : "";
        /* version 1 stored its strings variable-length: not read, they bypass HDF5's checks */
        if (r != 1)
            CXR_THROW(CXR_E_VERSION,
                      "%s: found format_version %s with a variable-length 'format' string (as "
                      "cxr-store version 1 wrote), expected %s version %d%s",
                      s->path, vbuf, CXR_STORE_FORMAT, CXR_STORE_VERSION, hint);
        CXR_THROW(CXR_E_VERSION, "%s: found %s version %s, expected %s version %d%s", s->path, fmt,
                  vbuf, CXR_STORE_FORMAT, CXR_STORE_VERSION, hint);
    }
    static const char *const str_attrs[] = { "tool_version", "source", "grayscale",
                                             "resize_filter" };
    for (size_t i = 0; i < sizeof str_attrs / sizeof *str_attrs; i++) {
        r = cxr_h5_attr_get_str(s->file, str_attrs[i], &str);
        if (r <= 0) CXR_TRY(attr_error(s, r, str_attrs[i], "a fixed-length string"));
        free(str);
        str = NULL;
    }
    cxr_preprocess_defaults(&s->pp);
    static const char *const int_attrs[] = { "image_size", "equalize", "max_side", "zstd_level",
                                             "shard_size" };
    for (size_t i = 0; i < sizeof int_attrs / sizeof *int_attrs; i++) {
        r = cxr_h5_attr_get_i64(s->file, int_attrs[i], &v);
        if (r <= 0) CXR_TRY(attr_error(s, r, int_attrs[i], "an integer"));
        if (i == 0) {
            if (v < 1 || v > 16384)
                CXR_THROW(CXR_E_FORMAT, "%s: attribute 'image_size' is %lld, outside [1, 16384]",
                          s->path, (long long)v);
            s->pp.size = s->size = (int)v;
        } else if (i == 1 || i == 2) {
            if (v < INT32_MIN || v > INT32_MAX)
                CXR_THROW(CXR_E_FORMAT, "%s: attribute '%s' is %lld, not a 32-bit integer", s->path,
                          int_attrs[i], (long long)v);
            *(i == 1 ? &s->pp.equalize : &s->pp.max_side) = (int)v;
        } else if (i == 3) {
            if (v < ZSTD_minCLevel() || v > ZSTD_maxCLevel())
                CXR_THROW(CXR_E_FORMAT,
                          "%s: attribute 'zstd_level' is %lld, outside zstd's levels [%d, %d]",
                          s->path, (long long)v, ZSTD_minCLevel(), ZSTD_maxCLevel());
        } else if (i == 4) {
            if (v < 1 || v > (1 << 24))
                CXR_THROW(CXR_E_FORMAT, "%s: attribute 'shard_size' is %lld, outside [1, %d]",
                          s->path, (long long)v, 1 << 24);
            s->shard = (int)v;
        }
    }
    r = cxr_h5_attr_get_f64(s->file, "crop_ratio", &f);
    if (r <= 0) CXR_TRY(attr_error(s, r, "crop_ratio", "a float"));
    s->pp.crop_ratio = f;
    /* CLAHE stores since 0.4 name their clip limit; one without it used CXR_CLAHE_CLIP. */
    r = cxr_h5_attr_get_f64(s->file, "clahe_clip", &f);
    if (r < 0) CXR_TRY(attr_error(s, r, "clahe_clip", "a float"));
    if (r > 0) s->pp.clahe_clip = f;
    r = cxr_h5_attr_get_str(s->file, "normalize", &str);
    if (r <= 0) CXR_TRY(attr_error(s, r, "normalize", "a fixed-length string"));
    if (cxr_norm_parse(str, &s->pp.normalize) != CXR_OK)
        CXR_THROW(CXR_E_FORMAT, "%s: attribute 'normalize': unknown normalization '%s'", s->path,
                  str);
    if (!cxr_store_chunk_fits(s->shard, s->size))
        CXR_THROW(CXR_E_FORMAT, "%s: a chunk of shard_size %d images of %dx%d exceeds 4 GiB",
                  s->path, s->shard, s->size, s->size);
    if (cxr_preprocess_check(&s->pp) != CXR_OK) {
        st = cxr_wrap_error(CXR_E_FORMAT, "%s: preprocessing attributes", s->path);
        goto bail;
    }

    /* classes */
    CXR_TRY(open_ds(s, s->file, "", "class_names", H5T_STRING, 1, dims, &d, H5P_DEFAULT));
    if (dims[0] < 1 || dims[0] > CXR_MAX_CLASSES)
        CXR_THROW(CXR_E_FORMAT, "%s: '/class_names' has %llu entries, expected 1..%d", s->path,
                  (unsigned long long)dims[0], CXR_MAX_CLASSES);
    s->n_classes = (int)dims[0];
    CXR_TRY(cxr_h5_read_strings(d, s->path, "/class_names", s->n_classes, &s->class_names, &arena));
    arena = NULL; /* class_names[0] is the arena's start */
    for (int c = 0; c < s->n_classes; c++)
        if (!s->class_names[c][0])
            CXR_THROW(CXR_E_FORMAT, "%s: '/class_names': class %d has an empty name", s->path, c);
    CXR_TRY(check_distinct_names(s));
    H5Dclose(d);
    d = -1;
    CXR_TRY(open_ds(s, s->file, "", "class_weights", H5T_FLOAT, 1, dims, &d, H5P_DEFAULT));
    if (dims[0] != (hsize_t)s->n_classes)
        CXR_THROW(CXR_E_FORMAT, "%s: '/class_weights' has %llu rows, expected %d", s->path,
                  (unsigned long long)dims[0], s->n_classes);
    s->class_weights = malloc((size_t)s->n_classes * sizeof *s->class_weights);
    if (!s->class_weights) CXR_THROW(CXR_E_NOMEM, "%s", s->path);
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->class_weights) < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "reading '/class_weights'");
        goto bail;
    }
    for (int c = 0; c < s->n_classes; c++)
        if (!isfinite(s->class_weights[c]) || s->class_weights[c] < 0)
            CXR_THROW(CXR_E_FORMAT, "%s: '/class_weights': weight %g of class %d", s->path,
                      (double)s->class_weights[c], c);
bail:
    if (d >= 0) H5Dclose(d);
    free(fmt);
    free(str);
    free(arena);
    return st;
}

static cxr_status check_images(const cxr_store *s, hid_t d, const char *split)
{
    cxr_status st = CXR_OK;
    hid_t p = H5Dget_create_plist(d);
    if (p < 0) return cxr_hdf5_error(CXR_E_FORMAT, s->path, "'/%s/images' creation list", split);
    hsize_t chunk[3];
    if (H5Pget_layout(p) != H5D_CHUNKED || H5Pget_chunk(p, 3, chunk) != 3 ||
        chunk[0] != (hsize_t)s->shard || chunk[1] != (hsize_t)s->size ||
        chunk[2] != (hsize_t)s->size)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: '/%s/images': not chunked [%d, %d, %d] (shard_size, image_size)", s->path,
                  split, s->shard, s->size, s->size);
    static const H5Z_filter_t want[3] = { H5Z_FILTER_SHUFFLE, CXR_ZSTD_FILTER_ID,
                                          H5Z_FILTER_FLETCHER32 };
    int nf = H5Pget_nfilters(p);
    if (nf != 3)
        CXR_THROW(CXR_E_FORMAT, "%s: '/%s/images': %d filters, expected shuffle, zstd, fletcher32",
                  s->path, split, nf);
    for (unsigned i = 0; i < 3; i++) {
        unsigned flags = 0, cfg = 0;
        size_t ncd = 0;
        char name[64];
        H5Z_filter_t id = H5Pget_filter2(p, i, &flags, &ncd, NULL, sizeof name, name, &cfg);
        if (id != want[i])
            CXR_THROW(CXR_E_FORMAT, "%s: '/%s/images': filter %u is %d, expected %d", s->path,
                      split, i, (int)id, (int)want[i]);
    }
bail:
    H5Pclose(p);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

/* Entries in file order, none sharing a byte with the next: the writer appends a split's
 * chunks in order, so an entry naming another chunk of its split (two entries swapped, one
 * naming another's chunk) breaks it. */
static cxr_status in_order(const cxr_store *s, const char *where, const uint64_t *off,
                           const uint64_t *size, int64_t n)
{
    for (int64_t k = 1; k < n; k++)
        if (off[k - 1] + size[k - 1] > off[k])
            return cxr_set_error(CXR_E_FORMAT,
                                 "%s: index inconsistent: '%s/shard_index' chunk %lld does not "
                                 "follow chunk %lld in the file",
                                 s->path, where, (long long)k, (long long)(k - 1));
    return CXR_OK;
}

/* The chunk at o (z bytes) starts a zstd frame that declares exactly one shard of float32
 * images: read from its header alone, so that a reader through HDF5 (whose zstd filter
 * allocates what the frame declares) never meets a chunk that would expand to more. */
static int frame_size_ok(const cxr_store *s, uint64_t o, uint64_t z)
{
    unsigned char head[18]; /* ZSTD_FRAMEHEADERSIZE_MAX (zstd.h exposes it to static links only) */
    const size_t want = z - 4 < sizeof head ? (size_t)(z - 4) : sizeof head;
    if (pread(s->fd, head, want, (off_t)o) != (ssize_t)want) return 0;
    const unsigned long long c = ZSTD_getFrameContentSize(head, want);
    return c == (unsigned long long)s->shard * (unsigned long long)s->size * s->size * 4;
}

static cxr_status read_split(cxr_store *s, int slot, off_t file_size)
{
    cxr_status st = CXR_OK;
    const char *name = cxr_split_names[slot];
    split_data *sd = &s->split[slot];
    hid_t g = -1, d = -1, dapl = -1;
    hsize_t dims[3];
    int64_t *wide = NULL; /* the labels as read */
    char where[16];
    snprintf(where, sizeof where, "/%s", name);
    g = H5Gopen2(s->file, name, H5P_DEFAULT);
    if (g < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "cannot open group '%s'", where);
        goto bail;
    }
    /* A chunk is decompressed whole: let HDF5 keep one so reading image after image of the
     * same shard costs one decompression, not `shard`. */
    size_t chunk_bytes = (size_t)s->shard * s->size * s->size * 4;
    dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0 || H5Pset_chunk_cache(dapl, 521, chunk_bytes + 1, 1.0) < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, s->path, "dataset access list");
        goto bail;
    }
    CXR_TRY(open_ds(s, g, where, "images", H5T_FLOAT, 3, dims, &sd->images, dapl));
    {
        /* the raw reader (cxr_chunk_decode) reads the bytes as little-endian float32 */
        hid_t t = H5Dget_type(sd->images);
        htri_t le32 = H5Tequal(t, H5T_IEEE_F32LE);
        H5Tclose(t);
        if (le32 <= 0)
            CXR_THROW(CXR_E_FORMAT, "%s: '%s/images' is not little-endian float32", s->path, where);
    }
    if (dims[1] != (hsize_t)s->size || dims[2] != (hsize_t)s->size)
        CXR_THROW(CXR_E_FORMAT, "%s: wrong image size: '%s/images' is %llux%llu, image_size is %d",
                  s->path, where, (unsigned long long)dims[1], (unsigned long long)dims[2],
                  s->size);
    CXR_TRY(check_images(s, sd->images, name));
    int64_t n = (int64_t)dims[0];
    int64_t n_shards = n / s->shard + (n % s->shard != 0);
    /* every chunk starts on its own 4096-byte boundary inside the file: a larger count is a
     * lie, refused before anything is allocated by it */
    if (n < 0 || n_shards > (int64_t)(file_size / CXR_STORE_ALIGN) + 1)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: '%s/images' declares %llu images (%lld chunks), more than a file of %lld "
                  "bytes can hold",
                  s->path, where, (unsigned long long)dims[0], (long long)n_shards,
                  (long long)file_size);
    sd->info.n = n;
    sd->info.n_shards = n_shards;
    sd->info.shard = s->shard;
    sd->info.size = s->size;

    /* labels */
    CXR_TRY(open_ds(s, g, where, "labels", H5T_INTEGER, 1, dims, &d, H5P_DEFAULT));
    if ((int64_t)dims[0] != n)
        CXR_THROW(CXR_E_FORMAT, "%s: '%s/labels' has %llu rows, expected %lld", s->path, where,
                  (unsigned long long)dims[0], (long long)n);
    /* read as int64, whatever integer type holds them (int32, as cxr-pack writes, or another
     * of a hand-made store): HDF5 would clamp a wider value into int32 and the message below
     * quote the clamped one. Checked, then kept as int32 */
    sd->labels = malloc((size_t)(n ? n : 1) * sizeof *sd->labels);
    wide = malloc((size_t)(n ? n : 1) * sizeof *wide);
    if (!sd->labels || !wide) CXR_THROW(CXR_E_NOMEM, "%s: labels", s->path);
    if (n && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, wide) < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "reading '%s/labels'", where);
        goto bail;
    }
    H5Dclose(d);
    d = -1;
    for (int64_t i = 0; i < n; i++) {
        if (wide[i] < 0 || wide[i] >= s->n_classes)
            CXR_THROW(CXR_E_MISMATCH,
                      "%s: label %lld of image %lld in '%s/labels' out of range [0, %d)", s->path,
                      (long long)wide[i], (long long)i, where, s->n_classes);
        sd->labels[i] = (int32_t)wide[i];
    }
    free(wide);
    wide = NULL;

    /* paths */
    CXR_TRY(open_ds(s, g, where, "paths", H5T_STRING, 1, dims, &d, H5P_DEFAULT));
    if ((int64_t)dims[0] != n)
        CXR_THROW(CXR_E_FORMAT, "%s: '%s/paths' has %llu rows, expected %lld", s->path, where,
                  (unsigned long long)dims[0], (long long)n);
    {
        char what[32];
        snprintf(what, sizeof what, "%s/paths", where);
        CXR_TRY(cxr_h5_read_strings(d, s->path, what, n, &sd->paths, &sd->path_arena));
    }
    H5Dclose(d);
    d = -1;

    /* class_counts */
    CXR_TRY(open_ds(s, g, where, "class_counts", H5T_INTEGER, 1, dims, &d, H5P_DEFAULT));
    if (dims[0] != (hsize_t)s->n_classes)
        CXR_THROW(CXR_E_FORMAT, "%s: '%s/class_counts' has %llu rows, expected %d", s->path, where,
                  (unsigned long long)dims[0], s->n_classes);
    sd->class_counts = calloc((size_t)s->n_classes, sizeof *sd->class_counts);
    int64_t *hist = calloc((size_t)s->n_classes, sizeof *hist);
    if (!sd->class_counts || !hist) {
        free(hist);
        CXR_THROW(CXR_E_NOMEM, "%s: class counts", s->path);
    }
    if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, sd->class_counts) < 0) {
        free(hist);
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "reading '%s/class_counts'", where);
        goto bail;
    }
    H5Dclose(d);
    d = -1;
    for (int64_t i = 0; i < n; i++) hist[sd->labels[i]]++;
    for (int c = 0; c < s->n_classes; c++)
        if (hist[c] != sd->class_counts[c]) {
            free(hist);
            CXR_THROW(CXR_E_FORMAT, "%s: '%s/class_counts' disagrees with labels for class %d",
                      s->path, where, c);
        }
    free(hist);

    /* shard_index, checked against HDF5's own chunk records */
    CXR_TRY(open_ds(s, g, where, "shard_index", H5T_INTEGER, 2, dims, &d, H5P_DEFAULT));
    if ((int64_t)dims[0] != n_shards || dims[1] != 2)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: index inconsistent: '%s/shard_index' is [%llu, %llu], expected [%lld, 2]",
                  s->path, where, (unsigned long long)dims[0], (unsigned long long)dims[1],
                  (long long)n_shards);
    uint64_t *ix = malloc((size_t)(n_shards ? n_shards : 1) * 2 * sizeof *ix);
    sd->chunk_offset = malloc((size_t)(n_shards ? n_shards : 1) * sizeof(uint64_t));
    sd->chunk_size = malloc((size_t)(n_shards ? n_shards : 1) * sizeof(uint64_t));
    if (!ix || !sd->chunk_offset || !sd->chunk_size) {
        free(ix);
        CXR_THROW(CXR_E_NOMEM, "%s: shard index", s->path);
    }
    if (n_shards && H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) < 0) {
        free(ix);
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "reading '%s/shard_index'", where);
        goto bail;
    }
    for (int64_t k = 0; k < n_shards; k++) {
        sd->chunk_offset[k] = ix[2 * k];
        sd->chunk_size[k] = ix[2 * k + 1];
    }
    free(ix);
    /* Every entry is checked on its own (aligned, inside the file, a zstd frame of the right
     * size) and against HDF5's record of the chunk. HDF5 1.10 finds a chunk's record by walking
     * the chunk index, so checking all n against it is O(n^2): 20 s to open a store of 10^6
     * images. So up to FULL_CHECK shards all are; beyond, SAMPLED_CHECK of them evenly spaced
     * (the first and the last among them), the entries are checked to be in file order without
     * overlaps, as the writer appends them (so an unsampled entry naming another chunk, of its
     * split or another's, is out of order: the first and last are checked against HDF5), and
     * their number against HDF5's count of chunks. */
    enum { FULL_CHECK = 512, SAMPLED_CHECK = 256 };
    const int all = n_shards <= FULL_CHECK;
    if (!all) {
        hsize_t nch = 0;
        const hid_t space = H5Dget_space(sd->images);
        const herr_t got = space < 0 ? -1 : H5Dget_num_chunks(sd->images, space, &nch);
        if (space >= 0) H5Sclose(space);
        if (got < 0) {
            st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "counting the chunks of '%s/images'", where);
            goto bail;
        }
        if ((int64_t)nch != n_shards)
            CXR_THROW(CXR_E_FORMAT,
                      "%s: index inconsistent: '%s/shard_index' has %lld entries, '%s/images' "
                      "%llu chunks",
                      s->path, where, (long long)n_shards, where, (unsigned long long)nch);
        CXR_TRY(in_order(s, where, sd->chunk_offset, sd->chunk_size, n_shards));
    }
    for (int64_t k = 0, next = 0, i = 0; k < n_shards; k++) {
        hsize_t off[3] = { (hsize_t)(k * s->shard), 0, 0 };
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0;
        const int sampled = all || k == next;
        if (!all && k == next) /* the i-th of SAMPLED_CHECK, evenly spaced over 0..n-1 */
            next = ++i < SAMPLED_CHECK ? i * (n_shards - 1) / (SAMPLED_CHECK - 1) : n_shards;
        if (sampled && (H5Dget_chunk_info_by_coord(sd->images, off, &mask, &addr, &size) < 0 ||
                        addr == HADDR_UNDEF)) {
            H5Eclear2(H5E_DEFAULT);
            CXR_THROW(CXR_E_FORMAT,
                      "%s: index inconsistent: '%s/shard_index' chunk %lld: "
                      "no such chunk in '%s/images'",
                      s->path, where, (long long)k, where);
        }
        uint64_t o = sd->chunk_offset[k], z = sd->chunk_size[k];
        if (!sampled) addr = o, size = z; /* (not looked up: the checks below still apply) */
        const char *why = NULL;
        if (o != (uint64_t)addr || z != (uint64_t)size)
            why = "differs from HDF5's chunk record";
        else if (mask != 0)
            why = "chunk written with filters skipped";
        else if (o % CXR_STORE_ALIGN != 0)
            why = "offset not 4096-aligned";
        else if (z < 5 || z > (uint64_t)file_size || o > (uint64_t)file_size - z)
            why = "outside the file";
        else if (!frame_size_ok(s, o, z))
            why = "its zstd frame does not declare shard_size x image_size^2 x 4 bytes";
        if (why)
            CXR_THROW(CXR_E_FORMAT,
                      "%s: index inconsistent: '%s/shard_index' chunk %lld: %s (index %llu+%llu, "
                      "HDF5 %llu+%llu)",
                      s->path, where, (long long)k, why, (unsigned long long)o,
                      (unsigned long long)z, (unsigned long long)addr, (unsigned long long)size);
    }
    sd->info.labels = sd->labels;
    sd->info.class_counts = sd->class_counts;
    sd->info.chunk_offset = sd->chunk_offset;
    sd->info.chunk_size = sd->chunk_size;
    sd->present = 1;
bail:
    free(wide);
    if (d >= 0) H5Dclose(d);
    if (dapl >= 0) H5Pclose(dapl);
    if (g >= 0) H5Gclose(g);
    return st;
}

/* class_weights must be what the writer derives from /train/class_counts (specs/store.md,
 * "Class weights"), by the same function, so equal to the bit: all zero without a train
 * split, never all zero with one. */
static cxr_status check_class_weights(const cxr_store *s)
{
    const split_data *tr = &s->split[0];
    int64_t n_train = tr->present ? tr->info.n : 0;
    for (int c = 0; c < s->n_classes; c++) {
        int64_t nc = tr->present ? tr->class_counts[c] : 0;
        const float want = cxr_store_class_weight(n_train, s->n_classes, nc);
        if (s->class_weights[c] != want)
            return cxr_set_error(CXR_E_FORMAT,
                                 "%s: '/class_weights': class %d ('%s') has weight %.9g, expected "
                                 "%.9g from '/train/class_counts' (%lld of %lld images)",
                                 s->path, c, s->class_names[c], (double)s->class_weights[c],
                                 (double)want, (long long)nc, (long long)n_train);
    }
    return CXR_OK;
}

/* s->fd: a descriptor of the very file HDF5 opened (its sec2 driver's, duplicated), so that a
 * raw reader (the loader's mmap) reads what was validated here even when the path names another
 * file by then (cxr-pack renames a new store into place). Another driver: the path, at once. */
static cxr_status keep_fd(cxr_store *s)
{
    hid_t fapl = H5Fget_access_plist(s->file);
    void *h = NULL;
    if (fapl >= 0 && H5Pget_driver(fapl) == H5FD_SEC2 &&
        H5Fget_vfd_handle(s->file, H5P_DEFAULT, &h) >= 0 && h)
        s->fd = fcntl(*(int *)h, F_DUPFD_CLOEXEC, 0);
    else
        s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    if (fapl >= 0) H5Pclose(fapl);
    H5Eclear2(H5E_DEFAULT);
    if (s->fd < 0) return cxr_set_error(CXR_E_IO, "%s: cannot open: %s", s->path, strerror(errno));
    return CXR_OK;
}

cxr_status cxr_store_open(cxr_store **out, const char *path)
{
    cxr_status st = CXR_OK;
    cxr_store *s = NULL;
    struct stat stt;
    if (out) *out = NULL;
    if (!out || !path) return cxr_set_error(CXR_E_ARG, "cxr_store_open: missing argument");
    CXR_TRY(cxr_hdf5_init());
    s = calloc(1, sizeof *s);
    if (!s) CXR_THROW(CXR_E_NOMEM, "%s", path);
    s->file = -1;
    s->fd = -1;
    for (int i = 0; i < CXR_N_SPLITS; i++) s->split[i].images = -1;
    if (!(s->path = strdup(path))) CXR_THROW(CXR_E_NOMEM, "%s", path);
    CXR_TRY(cxr_h5_open(path, "store", &s->file));
    CXR_TRY(keep_fd(s));
    if (fstat(s->fd, &stt) != 0) CXR_THROW(CXR_E_IO, "%s: cannot stat: %s", path, strerror(errno));
    {
        /* HDF5 1.10 reports chunk addresses relative to a user block, the raw readers use
         * them as file offsets: with one, the two would read different bytes */
        hsize_t ub = 0;
        hid_t fcpl = H5Fget_create_plist(s->file);
        const int got = fcpl >= 0 && H5Pget_userblock(fcpl, &ub) >= 0;
        if (fcpl >= 0) H5Pclose(fcpl);
        if (!got) CXR_THROW(CXR_E_FORMAT, "%s: cannot read its creation properties", path);
        if (ub != 0)
            CXR_THROW(CXR_E_FORMAT,
                      "%s: has a user block of %llu bytes (h5jam); a store has none (remove it "
                      "with h5unjam)",
                      path, (unsigned long long)ub);
    }
    CXR_TRY(read_root(s));
    int any = 0;
    for (int i = 0; i < CXR_N_SPLITS; i++) {
        if (!cxr_h5_exists(s->file, cxr_split_names[i])) continue;
        CXR_TRY(single_link(s, s->file, "", cxr_split_names[i], "group"));
        CXR_TRY(read_split(s, i, stt.st_size));
        any = 1;
    }
    if (!any) CXR_THROW(CXR_E_FORMAT, "%s: no split (train, val or test)", path);
    CXR_TRY(check_class_weights(s));
    *out = s;
    s = NULL;
bail:
    cxr_store_close(s);
    return st;
}

void cxr_store_close(cxr_store *s)
{
    if (!s) return;
    for (int i = 0; i < CXR_N_SPLITS; i++) {
        split_data *sd = &s->split[i];
        if (sd->images >= 0) H5Dclose(sd->images);
        free(sd->labels);
        free(sd->class_counts);
        free(sd->chunk_offset);
        free(sd->chunk_size);
        free(sd->paths);
        free(sd->path_arena);
    }
    if (s->file >= 0) H5Fclose(s->file);
    H5Eclear2(H5E_DEFAULT);
    if (s->fd >= 0) close(s->fd);
    if (s->class_names) free(s->class_names[0]);
    free(s->class_names);
    free(s->class_weights);
    free(s->path);
    free(s);
}

const char *cxr_store_path(const cxr_store *s) { return s->path; }
int cxr_store_fd(const cxr_store *s) { return s->fd; }
int cxr_store_n_classes(const cxr_store *s) { return s->n_classes; }
const char *cxr_store_class_name(const cxr_store *s, int c)
{
    return c >= 0 && c < s->n_classes ? s->class_names[c] : NULL;
}
const float *cxr_store_class_weights(const cxr_store *s) { return s->class_weights; }
const cxr_preprocess_params *cxr_store_preprocess(const cxr_store *s) { return &s->pp; }

int cxr_store_has_split(const cxr_store *s, const char *split)
{
    int k = cxr_split_index(split);
    return k >= 0 && s->split[k].present;
}

static const split_data *get_split(const cxr_store *s, const char *split)
{
    int k = cxr_split_index(split);
    if (k < 0 || !s->split[k].present) {
        cxr_set_error(CXR_E_FORMAT, "%s: no split '%s'", s->path, split ? split : "(null)");
        return NULL;
    }
    return &s->split[k];
}

cxr_status cxr_store_split(const cxr_store *s, const char *split, cxr_split_info *info)
{
    const split_data *sd = get_split(s, split);
    if (!sd) return CXR_E_FORMAT;
    *info = sd->info;
    return CXR_OK;
}

const char *cxr_store_image_path(const cxr_store *s, const char *split, int64_t i)
{
    int k = cxr_split_index(split);
    if (k < 0 || !s->split[k].present || i < 0 || i >= s->split[k].info.n) return NULL;
    return s->split[k].paths[i];
}

/* HDF5 says only "filter returned failure" when a chunk does not read: the chunks of rows
 * first..first+count-1 are looked at here as the raw reader would see them, so that a file cut
 * short is CXR_E_IO and a bad Fletcher32 CXR_E_CHECKSUM, each naming the shard (specs/store.md,
 * "Validation by the reader"). CXR_OK: neither (HDF5's error stands). */
static cxr_status diagnose_rows(const cxr_store *s, const char *split, const split_data *sd,
                                int64_t first, int64_t count)
{
    cxr_status st = CXR_OK;
    uint8_t *raw = NULL;
    struct stat sb;
    for (int64_t k = first / s->shard; k <= (first + count - 1) / s->shard && !st; k++) {
        const uint64_t off = sd->chunk_offset[k], n = sd->chunk_size[k], end = off + n;
        if (fstat(s->fd, &sb) == 0 && (uint64_t)sb.st_size < end)
            CXR_THROW(CXR_E_IO,
                      "%s: split '%s' shard %lld: the file is cut to %lld bytes (the chunk ends "
                      "at %llu): truncated, or rewritten in place while open",
                      s->path, split, (long long)k, (long long)sb.st_size, (unsigned long long)end);
        if (n < 5) continue;
        uint8_t *r = realloc(raw, (size_t)n);
        if (!r) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", s->path);
        raw = r;
        ssize_t got = pread(s->fd, raw, (size_t)n, (off_t)off);
        if (got != (ssize_t)n)
            CXR_THROW(CXR_E_IO, "%s: split '%s' shard %lld (offset %llu, %llu bytes): %s", s->path,
                      split, (long long)k, (unsigned long long)off, (unsigned long long)n,
                      got < 0 ? strerror(errno) : "read short");
        uint32_t want, sum;
        if (!cxr_chunk_sum_ok(raw, (size_t)n, &want, &sum))
            CXR_THROW(CXR_E_CHECKSUM,
                      "%s: split '%s' shard %lld (offset %llu, %llu bytes): chunk Fletcher32 "
                      "mismatch: stored %08x, computed %08x",
                      s->path, split, (long long)k, (unsigned long long)off, (unsigned long long)n,
                      want, sum);
    }
bail:
    free(raw);
    return st;
}

/* Read rows [first, first+count) of a split's images into out. */
static cxr_status read_rows(cxr_store *s, const char *split, const split_data *sd, int64_t first,
                            int64_t count, float *out)
{
    cxr_status st = CXR_OK;
    hsize_t start[3] = { (hsize_t)first, 0, 0 };
    hsize_t cnt[3] = { (hsize_t)count, (hsize_t)s->size, (hsize_t)s->size };
    hid_t fs = H5Dget_space(sd->images), ms = H5Screate_simple(3, cnt, NULL);
    if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) < 0 ||
        H5Dread(sd->images, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, out) < 0)
        st = cxr_hdf5_error(CXR_E_HDF5, s->path, "reading '/%s/images' rows %lld..%lld", split,
                            (long long)first, (long long)(first + count - 1));
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (st != CXR_OK && fs >= 0 && ms >= 0) { /* CXR_OK: nothing found, HDF5's message kept */
        const cxr_status why = diagnose_rows(s, split, sd, first, count);
        if (why != CXR_OK) return why;
    }
    return st;
}

cxr_status cxr_store_read_image(cxr_store *s, const char *split, int64_t i, float *out)
{
    const split_data *sd = get_split(s, split);
    if (!sd) return CXR_E_FORMAT;
    if (i < 0 || i >= sd->info.n)
        return cxr_set_error(CXR_E_ARG, "%s: image %lld of '/%s' out of range (n = %lld)", s->path,
                             (long long)i, split, (long long)sd->info.n);
    cxr_status st = read_rows(s, split, sd, i, 1, out);
    int64_t bad = st == CXR_OK ? cxr_first_bad_pixel(out, (size_t)s->size * s->size) : -1;
    if (bad >= 0)
        return cxr_set_error(
            CXR_E_FORMAT, "%s: split '%s' image %lld (%s): %s %g at (y %lld, x %lld)%s", s->path,
            split, (long long)i, sd->paths[i], cxr_bad_pixel_kind(out[bad]), (double)out[bad],
            (long long)(bad / s->size), (long long)(bad % s->size), cxr_bad_pixel_note(out[bad]));
    return st;
}

cxr_status cxr_store_read_chunk_hdf5(cxr_store *s, const char *split, int64_t k, float *out)
{
    const split_data *sd = get_split(s, split);
    if (!sd) return CXR_E_FORMAT;
    if (k < 0 || k >= sd->info.n_shards)
        return cxr_set_error(CXR_E_ARG, "%s: chunk %lld of '/%s' out of range (%lld chunks)",
                             s->path, (long long)k, split, (long long)sd->info.n_shards);
    int64_t first = k * s->shard;
    int64_t rows = sd->info.n - first < s->shard ? sd->info.n - first : s->shard;
    size_t per = (size_t)s->size * s->size;
    if (rows < s->shard) memset(out + (size_t)rows * per, 0, (size_t)(s->shard - rows) * per * 4);
    return read_rows(s, split, sd, first, rows, out);
}

cxr_status cxr_store_read_pixel_hashes(cxr_store *s, const char *split, uint64_t **out)
{
    cxr_status st = CXR_OK;
    const split_data *sd = get_split(s, split);
    hid_t g = -1, d = -1;
    hsize_t dims[1];
    uint64_t *h = NULL;
    char where[16];
    *out = NULL;
    if (!sd) return CXR_E_FORMAT;
    snprintf(where, sizeof where, "/%s", split);
    g = H5Gopen2(s->file, split, H5P_DEFAULT);
    if (g < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "cannot open group '%s'", where);
        goto bail;
    }
    if (!cxr_h5_exists(g, "pixel_hash")) goto bail; /* optional (--no-duplicate-check, older) */
    CXR_TRY(open_ds(s, g, where, "pixel_hash", H5T_INTEGER, 1, dims, &d, H5P_DEFAULT));
    if ((int64_t)dims[0] != sd->info.n)
        CXR_THROW(CXR_E_FORMAT, "%s: '%s/pixel_hash' has %llu rows, expected %lld", s->path, where,
                  (unsigned long long)dims[0], (long long)sd->info.n);
    h = malloc((size_t)(sd->info.n ? sd->info.n : 1) * sizeof *h);
    if (!h) CXR_THROW(CXR_E_NOMEM, "%s: '%s/pixel_hash'", s->path, where);
    if (sd->info.n && H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, h) < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, s->path, "reading '%s/pixel_hash'", where);
        goto bail;
    }
    *out = h;
    h = NULL;
bail:
    free(h);
    if (d >= 0) H5Dclose(d);
    if (g >= 0) H5Gclose(g);
    return st;
}
