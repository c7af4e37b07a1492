/* test_validation.c: cxr_store_open's checks (specs/store.md, "Validation by the
 * reader"). A good store is written, copied, and each copy damaged one way with plain HDF5;
 * each must fail with the documented status and a message naming the file. Also: a corrupted
 * byte inside a chunk -> CXR_E_CHECKSUM from the raw decoder and through HDF5 (a store cut short
 * while open: CXR_E_IO). */
#include <fcntl.h>
#include <sys/stat.h>
#include <hdf5.h>
#include <unistd.h>

#include "cxr_test.h"
#include "store_testutil.h"

static char dir[400];

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    REQUIRE(a && b);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, a)) > 0) REQUIRE(fwrite(buf, 1, n, b) == n);
    fclose(a);
    fclose(b);
}

static void set_int_attr(hid_t f, const char *name, int v)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    REQUIRE(a >= 0);
    REQUIRE(H5Awrite(a, H5T_NATIVE_INT, &v) >= 0);
    H5Aclose(a);
}

/* Replace a string attribute: fixed-length as the writer stores it, or variable-length as
 * version 1 did (its value then lives in the unchecked global heap). */
static void set_str_attr(hid_t f, const char *name, const char *v, int vlen)
{
    REQUIRE(H5Adelete(f, name) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, vlen ? H5T_VARIABLE : strlen(v) + 1);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, t, vlen ? (const void *)&v : (const void *)v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

static void set_f64_attr(hid_t f, const char *name, double v)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    REQUIRE(a >= 0);
    REQUIRE(H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
}

/* Create a float64 attribute (one that is absent). */
static void new_f64_attr(hid_t f, const char *name, double v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, H5T_NATIVE_DOUBLE, &v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
}

/* Overwrite the whole of a float or fixed-string dataset (its pipeline stays: checksummed). */
static void overwrite(hid_t f, const char *ds, hid_t mtype, const void *data)
{
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t t = mtype >= 0 ? H5Tcopy(mtype) : H5Dget_type(d);
    REQUIRE(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Tclose(t);
    H5Dclose(d);
}

/* Replace /train/labels by the same values stored with the creation list dcpl. */
static void rewrite_labels(hid_t f, hid_t dcpl)
{
    hid_t d = H5Dopen2(f, "/train/labels", H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t sp = H5Dget_space(d);
    int32_t lab[64];
    REQUIRE(H5Sget_simple_extent_npoints(sp) <= 64);
    REQUIRE(H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(d);
    REQUIRE(H5Ldelete(f, "/train/labels", H5P_DEFAULT) >= 0);
    d = H5Dcreate2(f, "/train/labels", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
}

/* /train/labels stored contiguously, without a checksum. */
static void unchecked_labels(hid_t f) { rewrite_labels(f, H5P_DEFAULT); }

/* /train/labels made again, checksummed as the writer makes it, and never written (a writer
 * that stopped): HDF5 reads its chunk as zeros and has no checksum to check. */
static void unwritten_labels(hid_t f)
{
    hid_t d = H5Dopen2(f, "/train/labels", H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    REQUIRE(sp >= 0 && dcpl >= 0 && H5Dclose(d) >= 0);
    REQUIRE(H5Ldelete(f, "/train/labels", H5P_DEFAULT) >= 0);
    d = H5Dcreate2(f, "/train/labels", H5T_STD_I32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

static void poke_i32(hid_t f, const char *ds, hsize_t i, int v)
{
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t fs = H5Dget_space(d);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    REQUIRE(H5Sselect_elements(fs, H5S_SELECT_SET, 1, &i) >= 0);
    REQUIRE(H5Dwrite(d, H5T_NATIVE_INT, ms, fs, H5P_DEFAULT, &v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(d);
}

/* A file access like the writer's (HDF5 1.10 formats, everything at 4096-aligned offsets): a
 * chunk written through it passes the alignment check, so only the check under test can tell. */
static hid_t open_aligned(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    REQUIRE(fapl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) >= 0 &&
            H5Pset_alignment(fapl, 1, 4096) >= 0);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, fapl);
    H5Pclose(fapl);
    REQUIRE(f >= 0);
    return f;
}

/* Point entry k of a split's shard index at HDF5's record of chunk `at` of dataset d. */
static void index_to(hid_t f, const char *index, int64_t k, hid_t d, const hsize_t *at)
{
    unsigned mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    REQUIRE(H5Dget_chunk_info_by_coord(d, at, &mask, &addr, &size) >= 0 && addr != HADDR_UNDEF);
    hid_t x = H5Dopen2(f, index, H5P_DEFAULT);
    REQUIRE(x >= 0);
    hid_t fs = H5Dget_space(x);
    hsize_t start[2] = { (hsize_t)k, 0 }, count[2] = { 1, 2 };
    hid_t ms = H5Screate_simple(2, count, NULL);
    REQUIRE(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
    const uint64_t v[2] = { (uint64_t)addr, (uint64_t)size };
    REQUIRE(H5Dwrite(x, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, v) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    H5Dclose(x);
}

/* A filter that changes nothing (registered by this test under an id of its own): in place of
 * the shuffle it leaves every chunk a valid zstd frame of the right size, checksummed. */
enum { IDENTITY_FILTER = 32500 };
static size_t identity_filter(unsigned flags, size_t n_cd, const unsigned cd[], size_t nbytes,
                              size_t *buf_size, void **buf)
{
    (void)flags, (void)n_cd, (void)cd, (void)buf_size, (void)buf;
    return nbytes;
}
static const H5Z_class2_t identity_class = {
    H5Z_CLASS_T_VERS, IDENTITY_FILTER, 1, 1, "test identity", NULL, NULL, identity_filter
};

/* /test/images (3 images, one chunk) recreated with the filters identity, zstd, fletcher32
 * in place of shuffle, zstd, fletcher32 (or, with `append`, shuffle, zstd, fletcher32,
 * identity), written aligned, and /test/shard_index pointed at it */
static void other_filters(const char *path, int append)
{
    REQUIRE(H5Zregister(&identity_class) >= 0);
    const H5Z_filter_t first = append ? H5Z_FILTER_SHUFFLE : IDENTITY_FILTER;
    hid_t f = open_aligned(path);
    static float img[3 * 16 * 16];
    hid_t d = H5Dopen2(f, "/test/images", H5P_DEFAULT);
    REQUIRE(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0);
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    H5Dclose(d);
    REQUIRE(H5Ldelete(f, "/test/images", H5P_DEFAULT) >= 0);
    hsize_t chunk[3] = { 8, 16, 16 }, at[3] = { 0, 0, 0 };
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    REQUIRE(H5Pset_chunk(dcpl, 3, chunk) >= 0 &&
            H5Pset_filter(dcpl, first, H5Z_FLAG_MANDATORY, 0, NULL) >= 0 &&
            H5Pset_filter(dcpl, CXR_ZSTD_FILTER_ID, H5Z_FLAG_MANDATORY, 0, NULL) >= 0 &&
            H5Pset_fletcher32(dcpl) >= 0 &&
            (!append || H5Pset_filter(dcpl, IDENTITY_FILTER, H5Z_FLAG_MANDATORY, 0, NULL) >= 0));
    d = H5Dcreate2(f, "/test/images", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0);
    REQUIRE(H5Dflush(d) >= 0);
    index_to(f, "/test/shard_index", 0, d, at);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(t);
    REQUIRE(H5Fclose(f) >= 0);
}

typedef enum {
    V_VERSION,
    V_FORMAT_NAME,
    V_NO_FORMAT,
    V_NO_LABELS,
    V_LABEL_RANGE,
    V_IMAGE_SIZE,
    V_INDEX,
    V_COUNTS,
    V_NO_NORMALIZE,
    V_NO_IMAGES,
    V_VLEN_ATTR,
    V_LONG_ATTR,
    V_V1,
    V_UNCHECKED,
    V_UNWRITTEN,
    V_CROP_NAN,
    V_EQUALIZE,
    V_CLAHE_CLIP,
    V_MAX_SIDE,
    V_CLASS_EMPTY,
    V_CLASS_DUP,
    V_CLASS_NOT_UTF8,
    V_WEIGHTS_ZERO,
    V_WEIGHTS_OFF,
    V_NO_VERSION,
    V_VERSION_FLOAT,
    V_BIG_ENDIAN,
    V_SOFT_SPLIT,
    V_SOFT_DATASET,
    V_HARD_SPLIT,
    V_META_ZSTD,
    V_META_ZSTD_LAST,
    V_HUGE_EXTENT,
    V_FRAME_SIZE,
    V_LABELS_LONG,
    V_COUNTS_LONG,
    V_WEIGHTS_LONG,
    V_INDEX_LONG,
    V_LABEL_NEG,
    V_LABEL_WIDE,
    V_ZSTD_LEVEL,
    V_INT_ARRAY,
    V_STR_ARRAY,
    V_CHUNK_MASK,
    V_CHUNK_UNALIGNED,
    V_SHARD_SIZE,
    V_PATHS_LONG,
    V_CLASSES_NONE,
    V_IMAGE_SIZE_BIG,
    V_IMAGE_WIDTH,
    V_COUNTS_LAST
} variant;

/* Rewrite /val's chunk 0 through HDF5 with `mask` (filters skipped) and `extra` bytes more (a
 * new place in the file: this file access has no alignment; HDF5 1.10 keeps the old mask of a
 * chunk rewritten in place), and point /val/shard_index's entry at HDF5's new record of it, so
 * that only the check under test can tell. */
static void rewrite_chunk0(hid_t f, unsigned mask, size_t extra)
{
    hid_t d = H5Dopen2(f, "/val/images", H5P_DEFAULT);
    REQUIRE(d >= 0);
    hsize_t off[3] = { 0, 0, 0 }, size = 0;
    REQUIRE(H5Dget_chunk_storage_size(d, off, &size) >= 0 && size > 0);
    uint8_t *buf = calloc(1, (size_t)size + extra);
    uint32_t filters = 0;
    REQUIRE(buf && H5Dread_chunk(d, H5P_DEFAULT, off, &filters, buf) >= 0 && filters == 0);
    REQUIRE(H5Dwrite_chunk(d, H5P_DEFAULT, mask, off, (size_t)size + extra, buf) >= 0);
    unsigned got_mask = 0;
    haddr_t addr = HADDR_UNDEF;
    hsize_t got_size = 0;
    REQUIRE(H5Dget_chunk_info_by_coord(d, off, &got_mask, &addr, &got_size) >= 0);
    REQUIRE(got_mask == mask && got_size == size + extra);
    H5Dclose(d);
    free(buf);
    hid_t x = H5Dopen2(f, "/val/shard_index", H5P_DEFAULT);
    REQUIRE(x >= 0);
    uint64_t ix[2];
    REQUIRE(H5Dread(x, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) >= 0);
    ix[0] = (uint64_t)addr, ix[1] = (uint64_t)got_size;
    REQUIRE(H5Dwrite(x, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) >= 0);
    H5Dclose(x);
    if (!mask) REQUIRE(addr % 4096 != 0); /* else this damage shows nothing */
}

/* Recreate dataset ds one row longer (its last row repeated), chunked and checksummed as the
 * writer's are: a length the reader must check before it reads into arrays of its own size
 * (the reader without those checks wrote past its buffers: free() aborted, or not even that). */
static void append_row(hid_t f, const char *ds)
{
    hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
    const int rank = H5Sget_simple_extent_ndims(sp);
    REQUIRE(rank >= 1 && rank <= 2);
    hsize_t dims[2] = { 0, 1 };
    REQUIRE(H5Sget_simple_extent_dims(sp, dims, NULL) == rank && dims[0] >= 1);
    const size_t row = H5Tget_size(t) * (size_t)(rank == 2 ? dims[1] : 1);
    char *buf = malloc(row * (size_t)(dims[0] + 1));
    REQUIRE(buf && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    memcpy(buf + row * dims[0], buf + row * (dims[0] - 1), row);
    H5Dclose(d);
    H5Sclose(sp);
    REQUIRE(H5Ldelete(f, ds, H5P_DEFAULT) >= 0);
    dims[0]++;
    sp = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    REQUIRE(H5Pset_chunk(dcpl, rank, dims) >= 0 && H5Pset_fletcher32(dcpl) >= 0);
    d = H5Dcreate2(f, ds, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(d >= 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Tclose(t);
    free(buf);
}

/* Replace attribute `name` by an array of two elements of its own type, each its value: not a
 * scalar (a reader taking it for one reads two elements into the room of one). */
static void array_attr(hid_t f, const char *name)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    REQUIRE(a >= 0);
    hid_t t = H5Aget_type(a);
    const size_t size = H5Tget_size(t);
    char *v = calloc(2, size);
    REQUIRE(t >= 0 && v && H5Aread(a, t, v) >= 0);
    memcpy(v + size, v, size);
    H5Aclose(a);
    REQUIRE(H5Adelete(f, name) >= 0);
    hsize_t two = 2;
    hid_t sp = H5Screate_simple(1, &two, NULL);
    a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(sp >= 0 && a >= 0 && H5Awrite(a, t, v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    free(v);
}

/* Image 0 of /train labelled -1, with class counts and weights made consistent with the
 * labels, so that only the range check stands between it and hist[-1]++. */
static void negative_label(hid_t f)
{
    enum { N = 20, C = 4 }; /* the good store's train split */
    int32_t lab[N];
    int64_t cc[C] = { 0 };
    float w[C];
    hid_t d = H5Dopen2(f, "/train/labels", H5P_DEFAULT);
    REQUIRE(d >= 0 && H5Dread(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    lab[0] = -1;
    REQUIRE(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(d);
    for (int i = 0; i < N; i++)
        if (lab[i] >= 0) cc[lab[i]]++;
    for (int c = 0; c < C; c++)
        w[c] = cc[c] > 0 ? (float)((double)N / ((double)C * (double)cc[c])) : 0.0f;
    overwrite(f, "/train/class_counts", H5T_NATIVE_INT64, cc);
    overwrite(f, "/class_weights", H5T_NATIVE_FLOAT, w);
}

/* /train/labels as int64, checksummed, one of them 2^32 (int32 would clamp it to 2^31 - 1) */
static void wide_labels(hid_t f)
{
    hid_t d = H5Dopen2(f, "/train/labels", H5P_DEFAULT);
    REQUIRE(d >= 0);
    hid_t sp = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
    int64_t lab[64];
    REQUIRE(H5Sget_simple_extent_npoints(sp) <= 64);
    REQUIRE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(d);
    lab[5] = (int64_t)1 << 32;
    REQUIRE(H5Ldelete(f, "/train/labels", H5P_DEFAULT) >= 0);
    d = H5Dcreate2(f, "/train/labels", H5T_STD_I64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(d >= 0 && H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, lab) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

/* /train/labels as the same values, chunked with zstd before the Fletcher32 (a compression
 * filter on metadata: what a decompression bomb needs) */
static void zstd_labels(hid_t f, int checksum_first)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t chunk = 8;
    REQUIRE(H5Pset_chunk(dcpl, 1, &chunk) >= 0);
    REQUIRE(!checksum_first || H5Pset_fletcher32(dcpl) >= 0);
    REQUIRE(H5Pset_filter(dcpl, CXR_ZSTD_FILTER_ID, H5Z_FLAG_MANDATORY, 0, NULL) >= 0);
    REQUIRE(checksum_first || H5Pset_fletcher32(dcpl) >= 0);
    rewrite_labels(f, dcpl);
    H5Pclose(dcpl);
}

/* /train/images declaring 2^31 images, none written: a few bytes on disk */
static void huge_extent(hid_t f)
{
    REQUIRE(H5Ldelete(f, "/train/images", H5P_DEFAULT) >= 0);
    hsize_t dims[3] = { (hsize_t)1 << 31, 16, 16 }, chunk[3] = { 8, 16, 16 };
    hid_t sp = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    REQUIRE(H5Pset_chunk(dcpl, 3, chunk) >= 0 && H5Pset_shuffle(dcpl) >= 0 &&
            H5Pset_filter(dcpl, CXR_ZSTD_FILTER_ID, H5Z_FLAG_MANDATORY, 0, NULL) >= 0 &&
            H5Pset_fletcher32(dcpl) >= 0);
    hid_t d = H5Dcreate2(f, "/train/images", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    REQUIRE(d >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
}

/* /val/images chunk 0 replaced by a valid chunk (checksum and all) whose frame holds two
 * shards' bytes, and the shard index following it */
static void frame_size(hid_t f)
{
    static float img[2 * 8 * 16 * 16];
    uint8_t *raw = NULL;
    size_t cap = 0, n = 0;
    CHECK_OK(cxr_chunk_encode(&raw, &cap, &n, img, 8, 2 * 8, 16, 3));
    hid_t d = H5Dopen2(f, "/val/images", H5P_DEFAULT);
    hsize_t off[3] = { 0, 0, 0 }, size = 0;
    REQUIRE(d >= 0 && H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, n, raw) >= 0);
    free(raw);
    unsigned mask = 0;
    haddr_t addr = 0;
    REQUIRE(H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) >= 0);
    H5Dclose(d);
    hid_t ix = H5Dopen2(f, "/val/shard_index", H5P_DEFAULT);
    uint64_t v[2];
    REQUIRE(ix >= 0 && H5Dread(ix, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    v[0] = addr, v[1] = size;
    REQUIRE(H5Dwrite(ix, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(ix);
}

static void damage(hid_t f, variant v)
{
    switch (v) {
    case V_VERSION: set_int_attr(f, "format_version", 3); break;
    case V_FORMAT_NAME: set_str_attr(f, "format", "other-store", 0); break;
    case V_NO_FORMAT: REQUIRE(H5Adelete(f, "format") >= 0); break;
    case V_NO_LABELS: REQUIRE(H5Ldelete(f, "/train/labels", H5P_DEFAULT) >= 0); break;
    case V_LABEL_RANGE: poke_i32(f, "/train/labels", 3, 4); break;
    case V_IMAGE_SIZE: set_int_attr(f, "image_size", 12); break;
    case V_INDEX: {
        hid_t d = H5Dopen2(f, "/val/shard_index", H5P_DEFAULT);
        REQUIRE(d >= 0);
        uint64_t ix[2];
        REQUIRE(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) >= 0);
        ix[0] += 4096;
        REQUIRE(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) >= 0);
        H5Dclose(d);
        break;
    }
    case V_COUNTS: {
        hid_t d = H5Dopen2(f, "/train/class_counts", H5P_DEFAULT);
        REQUIRE(d >= 0);
        int64_t c[4];
        REQUIRE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0);
        c[0]++;
        REQUIRE(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0);
        H5Dclose(d);
        break;
    }
    case V_NO_NORMALIZE: REQUIRE(H5Adelete(f, "normalize") >= 0); break;
    case V_NO_IMAGES: REQUIRE(H5Ldelete(f, "/val/images", H5P_DEFAULT) >= 0); break;
    case V_VLEN_ATTR: set_str_attr(f, "source", "/synthetic/root", 1); break;
    case V_LONG_ATTR: { /* an intact string past the reader's bound (CXR_H5_STR_MAX, 1 MiB)
                         * by one byte: said so, not "damaged" */
        char *big = malloc((1u << 20) + 1);
        REQUIRE(big != NULL);
        memset(big, 'S', 1u << 20);
        big[1u << 20] = '\0'; /* a type of 1 MiB + 1 bytes */
        set_str_attr(f, "source", big, 0);
        free(big);
        break;
    }
    case V_V1: /* what version 1 looked like at its root */
        set_str_attr(f, "format", "cxr-store", 1);
        set_int_attr(f, "format_version", 1);
        break;
    case V_UNCHECKED: unchecked_labels(f); break;
    case V_UNWRITTEN: unwritten_labels(f); break;
    case V_CROP_NAN: set_f64_attr(f, "crop_ratio", NAN); break;
    case V_EQUALIZE: set_int_attr(f, "equalize", 7); break;
    case V_CLAHE_CLIP: /* a CLAHE store whose clip limit is out of range */
        set_int_attr(f, "equalize", 2);
        new_f64_attr(f, "clahe_clip", 300);
        break;
    case V_MAX_SIDE: set_int_attr(f, "max_side", 0); break;
    case V_CLASS_EMPTY:
    case V_CLASS_DUP:
    case V_CLASS_NOT_UTF8: {
        /* class names are fixed-length strings "class00".. of 8 bytes with the terminator */
        char names[4][8];
        for (int c = 0; c < 4; c++) snprintf(names[c], sizeof names[c], "class%02d", c);
        if (v == V_CLASS_EMPTY) memset(names[2], 0, sizeof names[2]);
        if (v == V_CLASS_DUP) memcpy(names[3], names[1], sizeof names[3]);
        if (v == V_CLASS_NOT_UTF8) names[2][5] = (char)0xff; /* writers escape it: "\xFF" */
        overwrite(f, "/class_names", -1, names);
        break;
    }
    case V_WEIGHTS_ZERO:
    case V_WEIGHTS_OFF: {
        float w[4] = { 0, 0, 0, 0 }; /* all zero, or the right ones with class 1's off by 1 ulp */
        if (v == V_WEIGHTS_OFF) {
            hid_t d = H5Dopen2(f, "/class_weights", H5P_DEFAULT);
            REQUIRE(d >= 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
            H5Dclose(d);
            w[1] = nextafterf(w[1], 10.0f);
        }
        overwrite(f, "/class_weights", H5T_NATIVE_FLOAT, w);
        break;
    }
    case V_NO_VERSION: REQUIRE(H5Adelete(f, "format_version") >= 0); break;
    case V_VERSION_FLOAT: /* the right value, as a float64 */
        REQUIRE(H5Adelete(f, "format_version") >= 0);
        new_f64_attr(f, "format_version", 2);
        break;
    case V_BIG_ENDIAN: { /* the test images as big-endian float32, the right shape */
        REQUIRE(H5Ldelete(f, "/test/images", H5P_DEFAULT) >= 0);
        hsize_t dims[3] = { 3, 16, 16 };
        hid_t sp = H5Screate_simple(3, dims, NULL);
        hid_t d = H5Dcreate2(f, "/test/images", H5T_IEEE_F32BE, sp, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        REQUIRE(sp >= 0 && d >= 0);
        H5Dclose(d);
        H5Sclose(sp);
        break;
    }
    case V_SOFT_SPLIT: /* /test made to read as /train */
        REQUIRE(H5Ldelete(f, "/test", H5P_DEFAULT) >= 0);
        REQUIRE(H5Lcreate_soft("/train", f, "/test", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        break;
    case V_HARD_SPLIT:
        /* /test a second hard link to /train's group (h5py: f['test'] = f['train']) */
        REQUIRE(H5Ldelete(f, "/test", H5P_DEFAULT) >= 0);
        REQUIRE(H5Lcreate_hard(f, "/train", f, "/test", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        break;
    case V_META_ZSTD: zstd_labels(f, 0); break;
    case V_META_ZSTD_LAST: zstd_labels(f, 1); break;
    case V_HUGE_EXTENT: huge_extent(f); break;
    case V_FRAME_SIZE: frame_size(f); break;
    case V_SOFT_DATASET:
        REQUIRE(H5Ldelete(f, "/val/labels", H5P_DEFAULT) >= 0);
        REQUIRE(H5Lcreate_soft("/train/labels", f, "/val/labels", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        break;
    case V_LABELS_LONG: append_row(f, "/train/labels"); break;
    case V_COUNTS_LONG: append_row(f, "/train/class_counts"); break;
    case V_WEIGHTS_LONG: append_row(f, "/class_weights"); break;
    case V_INDEX_LONG: append_row(f, "/train/shard_index"); break;
    case V_LABEL_NEG: negative_label(f); break;
    case V_LABEL_WIDE: wide_labels(f); break;
    case V_ZSTD_LEVEL: set_int_attr(f, "zstd_level", 99); break;
    case V_INT_ARRAY: array_attr(f, "image_size"); break;
    case V_STR_ARRAY: array_attr(f, "normalize"); break;
    case V_CHUNK_MASK: rewrite_chunk0(f, 1, 8); break;
    case V_CHUNK_UNALIGNED: rewrite_chunk0(f, 0, 1); break;
    case V_SHARD_SIZE: set_int_attr(f, "shard_size", (1 << 24) + 1); break;
    case V_PATHS_LONG: append_row(f, "/train/paths"); break;
    case V_CLASSES_NONE: { /* /class_names of no entry, chunked and checksummed */
        hid_t d = H5Dopen2(f, "/class_names", H5P_DEFAULT);
        REQUIRE(d >= 0);
        hid_t t = H5Dget_type(d);
        H5Dclose(d);
        REQUIRE(H5Ldelete(f, "/class_names", H5P_DEFAULT) >= 0);
        hsize_t zero = 0, unlim = H5S_UNLIMITED, chunk = 1;
        hid_t sp = H5Screate_simple(1, &zero, &unlim), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        REQUIRE(H5Pset_chunk(dcpl, 1, &chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0);
        d = H5Dcreate2(f, "/class_names", t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        REQUIRE(d >= 0);
        H5Dclose(d), H5Pclose(dcpl), H5Sclose(sp), H5Tclose(t);
        break;
    }
    case V_IMAGE_SIZE_BIG: set_int_attr(f, "image_size", 16385); break;
    case V_IMAGE_WIDTH: { /* /val/images of image_size rows but half as many columns */
        hid_t d = H5Dopen2(f, "/val/images", H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
        hsize_t dims[3];
        REQUIRE(sp >= 0 && H5Sget_simple_extent_dims(sp, dims, NULL) == 3);
        H5Sclose(sp);
        H5Dclose(d);
        REQUIRE(H5Ldelete(f, "/val/images", H5P_DEFAULT) >= 0);
        dims[2] /= 2;
        sp = H5Screate_simple(3, dims, NULL);
        d = H5Dcreate2(f, "/val/images", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                       H5P_DEFAULT);
        REQUIRE(d >= 0);
        H5Dclose(d);
        H5Sclose(sp);
        break;
    }
    case V_COUNTS_LAST: { /* the last class's count, not the first's */
        hid_t d = H5Dopen2(f, "/train/class_counts", H5P_DEFAULT), sp = H5Dget_space(d);
        int64_t c[4];
        REQUIRE(d >= 0 && H5Sget_simple_extent_npoints(sp) == 4);
        REQUIRE(H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0);
        c[3]++;
        REQUIRE(H5Dwrite(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0);
        H5Sclose(sp);
        H5Dclose(d);
        break;
    }
    }
}

static void expect(const char *good, variant v, const char *tag, cxr_status want_st,
                   const char *want_text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bad_%s.cxr", dir, tag);
    copy_file(good, path);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    damage(f, v);
    REQUIRE(H5Fclose(f) >= 0);
    cxr_store *s = NULL;
    cxr_status st = cxr_store_open(&s, path);
    const char *msg = cxr_last_error();
    int ok = st == want_st && s == NULL && strstr(msg, path) && strstr(msg, want_text);
    fprintf(stderr, "%-12s -> %s: %s%s\n", tag, cxr_status_name(st), msg, ok ? "" : "   <-- WRONG");
    CHECK(st == want_st);
    CHECK(s == NULL);
    CHECK(strstr(msg, path) != NULL);
    CHECK(strstr(msg, want_text) != NULL);
    cxr_store_close(s);
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    snprintf(dir, sizeof dir, "%s", argv[1]);
    mkdir(dir, 0777);
    char good[512];
    snprintf(good, sizeof good, "%s/good.cxr", dir);
    tu_spec sp = {
        .shard = 8, .size = 16, .n_classes = 4, .n_label_classes = 4, .n = { 20, 8, 3 }
    };
    CHECK_OK(tu_write_store(good, &sp, 1));
    cxr_store *s = NULL;
    CHECK_OK(cxr_store_open(&s, good));
    cxr_store_close(s);

    expect(good, V_VERSION, "version", CXR_E_VERSION,
           "found cxr-store version 3, expected cxr-store version 2");
    expect(good, V_FORMAT_NAME, "format", CXR_E_VERSION,
           "found other-store version 2, expected cxr-store version 2");
    expect(good, V_NO_FORMAT, "noformat", CXR_E_FORMAT, "not a cxr store");
    expect(good, V_NO_LABELS, "nolabels", CXR_E_FORMAT, "missing dataset '/train/labels'");
    expect(good, V_NO_IMAGES, "noimages", CXR_E_FORMAT, "missing dataset '/val/images'");
    expect(good, V_LABEL_RANGE, "labelrange", CXR_E_MISMATCH,
           "label 4 of image 3 in '/train/labels' out of range [0, 4)");
    expect(good, V_IMAGE_SIZE, "imagesize", CXR_E_FORMAT, "wrong image size");
    expect(good, V_INDEX, "index", CXR_E_FORMAT, "index inconsistent");
    expect(good, V_COUNTS, "counts", CXR_E_FORMAT, "class_counts' disagrees with labels");
    expect(good, V_COUNTS_LAST, "countslast", CXR_E_FORMAT,
           "'/train/class_counts' disagrees with labels for class 3");
    expect(good, V_IMAGE_WIDTH, "imagewidth", CXR_E_FORMAT,
           "wrong image size: '/val/images' is 16x8, image_size is 16");
    expect(good, V_NO_NORMALIZE, "nonormalize", CXR_E_FORMAT, "attribute 'normalize'");
    /* strings from the unchecked global heap are not read; data without a checksum is refused */
    expect(good, V_VLEN_ATTR, "vlen", CXR_E_FORMAT,
           "attribute 'source' is unreadable (damaged, or not a fixed-length string)");
    expect(good, V_LONG_ATTR, "longattr", CXR_E_FORMAT,
           "attribute 'source' is a string of more than 1048576 bytes");
    { /* ... and one of exactly 1 MiB is read */
        char path[512];
        snprintf(path, sizeof path, "%s/mibattr.cxr", dir);
        copy_file(good, path);
        hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        char *big = malloc(1u << 20);
        REQUIRE(f >= 0 && big != NULL);
        memset(big, 'S', (1u << 20) - 1);
        big[(1u << 20) - 1] = '\0';
        set_str_attr(f, "source", big, 0);
        free(big);
        REQUIRE(H5Fclose(f) >= 0);
        cxr_store *m = NULL;
        CHECK_OK(cxr_store_open(&m, path));
        cxr_store_close(m);
    }
    expect(good, V_V1, "v1", CXR_E_VERSION,
           "found format_version 1 with a variable-length 'format' string (as cxr-store version 1 "
           "wrote), expected cxr-store version 2: re-pack it with this cxr-pack");
    expect(good, V_UNCHECKED, "unchecked", CXR_E_FORMAT,
           "'/train/labels' is stored without a checksum");
    expect(good, V_UNWRITTEN, "unwritten", CXR_E_FORMAT,
           "'/train/labels' holds chunks never written (an incomplete file");
    /* values out of range */
    expect(good, V_CROP_NAN, "cropnan", CXR_E_FORMAT, "crop_ratio must be finite");
    expect(good, V_EQUALIZE, "equalize", CXR_E_FORMAT,
           "equalize 7 is not 0 (none), 1 (global) or 2 (clahe)");
    expect(good, V_CLAHE_CLIP, "clip", CXR_E_FORMAT, "clahe_clip 300 out of range (0, 256]");
    expect(good, V_MAX_SIDE, "maxside", CXR_E_FORMAT, "max_side 0 must be positive");
    /* the version's own attribute: missing, or not an integer */
    expect(good, V_NO_VERSION, "noversion", CXR_E_FORMAT, "missing attribute 'format_version'");
    expect(good, V_VERSION_FLOAT, "versionfloat", CXR_E_FORMAT,
           "attribute 'format_version' is unreadable (damaged, or not an integer)");
    /* bytes the raw reader would misread, and a split or dataset that is another one's */
    expect(good, V_BIG_ENDIAN, "bigendian", CXR_E_FORMAT,
           "'/test/images' is not little-endian float32");
    expect(good, V_SOFT_SPLIT, "softsplit", CXR_E_FORMAT, "'/test' is a soft link, not the group");
    expect(good, V_SOFT_DATASET, "softds", CXR_E_FORMAT,
           "'/val/labels' is a soft link, not the dataset itself");
    expect(good, V_HARD_SPLIT, "hardsplit", CXR_E_FORMAT,
           "the group '/train' has 2 links: it is also another split or dataset of the store");
    /* what would expand or allocate far beyond the file: a compression filter on metadata, an
     * extent of 2^31 unwritten images, a chunk whose frame declares more than a shard */
    expect(good, V_META_ZSTD, "metazstd", CXR_E_FORMAT,
           "'/train/labels' is stored without a checksum, or with filters besides it");
    /* ... also after the checksum, as the first filter (a mutant taking "the first filter is
     * Fletcher32" for "only Fletcher32" read it) */
    expect(good, V_META_ZSTD_LAST, "metazstd2", CXR_E_FORMAT,
           "'/train/labels' is stored without a checksum, or with filters besides it");
    expect(good, V_HUGE_EXTENT, "huge", CXR_E_FORMAT,
           "'/train/images' declares 2147483648 images (268435456 chunks), more than a file of");
    expect(good, V_FRAME_SIZE, "framesize", CXR_E_FORMAT,
           "its zstd frame does not declare shard_size x image_size^2 x 4 bytes");
    /* a user block (h5jam): HDF5 1.10's chunk addresses would not be the file offsets the raw
     * readers use */
    if (system("command -v h5jam >/dev/null 2>&1") == 0) {
        char ub[512], jam[512], cmd[2048];
        snprintf(ub, sizeof ub, "%s/ub.txt", dir);
        snprintf(jam, sizeof jam, "%s/bad_userblock.cxr", dir);
        FILE *u = fopen(ub, "w");
        REQUIRE(u);
        fputs("a user block\n", u);
        fclose(u);
        unlink(jam);
        snprintf(cmd, sizeof cmd, "h5jam -i '%s' -u '%s' -o '%s' >/dev/null", good, ub, jam);
        REQUIRE(system(cmd) == 0);
        CHECK(cxr_store_open(&s, jam) == CXR_E_FORMAT && s == NULL);
        CHECK(strstr(cxr_last_error(), jam) &&
              strstr(cxr_last_error(), "has a user block of 512 bytes (h5jam)"));
    } else {
        fprintf(stderr, "h5jam not found: the user block check is not run\n");
    }
    expect(good, V_CLASS_EMPTY, "classempty", CXR_E_FORMAT, "class 2 has an empty name");
    expect(good, V_CLASS_DUP, "classdup", CXR_E_FORMAT, "classes 1 and 3 are both 'class01'");
    expect(good, V_CLASS_NOT_UTF8, "classutf8", CXR_E_FORMAT,
           "'/class_names': class 2's name 'class\\xff2' is not valid UTF-8");
    expect(good, V_WEIGHTS_ZERO, "weights0", CXR_E_FORMAT,
           "'/class_weights': class 0 ('class00') has weight 0, expected");
    expect(good, V_WEIGHTS_OFF, "weightsoff", CXR_E_FORMAT,
           "'/class_weights': class 1 ('class01') has weight");
    /* metadata of the wrong length (each read into an array of the expected one), a negative
     * label behind consistent counts, a compression level zstd does not have */
    expect(good, V_LABELS_LONG, "labelslong", CXR_E_FORMAT,
           "'/train/labels' has 21 rows, expected 20");
    expect(good, V_COUNTS_LONG, "countslong", CXR_E_FORMAT,
           "'/train/class_counts' has 5 rows, expected 4");
    expect(good, V_WEIGHTS_LONG, "weightslong", CXR_E_FORMAT,
           "'/class_weights' has 5 rows, expected 4");
    expect(good, V_INDEX_LONG, "indexlong", CXR_E_FORMAT,
           "'/train/shard_index' is [4, 2], expected [3, 2]");
    expect(good, V_LABEL_NEG, "labelneg", CXR_E_MISMATCH,
           "label -1 of image 0 in '/train/labels' out of range [0, 4)");
    expect(good, V_LABEL_WIDE, "labelwide", CXR_E_MISMATCH,
           "label 4294967296 of image 5 in '/train/labels' out of range [0, 4)");
    /* a chunk HDF5 records as written with its zstd filter skipped (raw shuffled floats), one
     * at an offset the mapped reader's pages do not start at */
    expect(good, V_CHUNK_MASK, "chunkmask", CXR_E_FORMAT,
           "'/val/shard_index' chunk 0: chunk written with filters skipped");
    expect(good, V_CHUNK_UNALIGNED, "chunkunaligned", CXR_E_FORMAT,
           "'/val/shard_index' chunk 0: offset not 4096-aligned");
    expect(good, V_SHARD_SIZE, "shardsize", CXR_E_FORMAT,
           "attribute 'shard_size' is 16777217, outside [1, 16777216]");
    expect(good, V_IMAGE_SIZE_BIG, "imagesizebig", CXR_E_FORMAT,
           "attribute 'image_size' is 16385, outside [1, 16384]");
    expect(good, V_PATHS_LONG, "pathslong", CXR_E_FORMAT,
           "'/train/paths' has 21 rows, expected 20");
    expect(good, V_CLASSES_NONE, "classesnone", CXR_E_FORMAT,
           "'/class_names' has 0 entries, expected 1..");
    expect(good, V_ZSTD_LEVEL, "zstdlevel", CXR_E_FORMAT,
           "attribute 'zstd_level' is 99, outside zstd's levels [");
    /* a root attribute of two elements where the format has one (each the right value) */
    expect(good, V_INT_ARRAY, "intarray", CXR_E_FORMAT,
           "attribute 'image_size' is unreadable (damaged, or not an integer)");
    expect(good, V_STR_ARRAY, "strarray", CXR_E_FORMAT,
           "attribute 'normalize' is unreadable (damaged, or not a fixed-length string)");
    /* the images' filters by id and number: another filter in the shuffle's place, or a fourth
     * after the three, is refused, though each chunk is still an aligned, checksummed zstd
     * frame of the right size */
    for (int append = 0; append < 2; append++) {
        char p[512];
        snprintf(p, sizeof p, "%s/bad_filter%d.cxr", dir, append);
        copy_file(good, p);
        other_filters(p, append);
        s = NULL;
        const cxr_status st = cxr_store_open(&s, p);
        fprintf(stderr, "filters %d    -> %s: %s\n", append, cxr_status_name(st), cxr_last_error());
        CHECK(st == CXR_E_FORMAT && s == NULL);
        CHECK(strstr(cxr_last_error(),
                     append ? "'/test/images': 4 filters, expected shuffle, zstd, fletcher32"
                            : "'/test/images': filter 0 is 32500, expected 2") != NULL);
        cxr_store_close(s);
    }

    /* a split of more shards than are all checked against HDF5's chunk records (512): a valid
     * store opens; entries outside the sample (chunks 1 and 2) naming another chunk (chunk 2's,
     * each other's, val's first) are out of file order; the last entry (always in the sample)
     * moved is a record mismatch */
    {
        char big[512], bad[512];
        snprintf(big, sizeof big, "%s/big.cxr", dir);
        tu_spec bs = {
            .shard = 1, .size = 16, .n_classes = 2, .n_label_classes = 2, .n = { 600, 2, 1 }
        };
        CHECK_OK(tu_write_store(big, &bs, 1));
        CHECK_OK(cxr_store_open(&s, big));
        cxr_store_close(s);
        /* the writer's index, every entry of every split (the reader samples 256 of the 600
         * here), against HDF5's own record of the chunk */
        hid_t f = H5Fopen(big, H5F_ACC_RDONLY, H5P_DEFAULT);
        REQUIRE(f >= 0);
        for (int k = 0; k < 3; k++) {
            static const char *const sp[3] = { "train", "val", "test" };
            static uint64_t ix[600 * 2];
            char name[64];
            snprintf(name, sizeof name, "/%s/shard_index", sp[k]);
            hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
            snprintf(name, sizeof name, "/%s/images", sp[k]);
            hid_t im = H5Dopen2(f, name, H5P_DEFAULT);
            REQUIRE(d >= 0 && im >= 0 &&
                    H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) >= 0);
            int wrong = 0;
            for (int c = 0; c < bs.n[k]; c++) {
                hsize_t off[3] = { (hsize_t)c, 0, 0 }, size = 0;
                haddr_t addr = HADDR_UNDEF;
                unsigned mask = 0;
                REQUIRE(H5Dget_chunk_info_by_coord(im, off, &mask, &addr, &size) >= 0);
                wrong += addr != ix[2 * c] || size != ix[2 * c + 1];
            }
            if (wrong)
                fprintf(stderr, "/%s: %d of %d index entries wrong\n", sp[k], wrong, (int)bs.n[k]);
            CHECK(wrong == 0);
            H5Dclose(im);
            H5Dclose(d);
        }
        H5Fclose(f);
        for (int v = 0; v < 4; v++) {
            snprintf(bad, sizeof bad, "%s/big_bad%d.cxr", dir, v);
            copy_file(big, bad);
            hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
            REQUIRE(f >= 0);
            hid_t d = H5Dopen2(f, "/train/shard_index", H5P_DEFAULT), dv;
            REQUIRE(d >= 0);
            static uint64_t ix[600 * 2], vx[2 * 2];
            REQUIRE(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) >= 0);
            const uint64_t e1[2] = { ix[2], ix[3] };
            switch (v) {
            case 0: ix[2] = ix[4], ix[3] = ix[5]; break; /* 1 names 2's */
            case 1: ix[2] = ix[4], ix[3] = ix[5], ix[4] = e1[0], ix[5] = e1[1]; break; /* swap */
            case 2: /* 1 names val's first chunk */
                dv = H5Dopen2(f, "/val/shard_index", H5P_DEFAULT);
                REQUIRE(dv >= 0 &&
                        H5Dread(dv, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, vx) >= 0);
                H5Dclose(dv);
                ix[2] = vx[0], ix[3] = vx[1];
                break;
            default: ix[2 * 599] += 4096; break;
            }
            REQUIRE(H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ix) >= 0);
            H5Dclose(d);
            REQUIRE(H5Fclose(f) >= 0);
            s = NULL;
            const cxr_status st = cxr_store_open(&s, bad);
            fprintf(stderr, "big index %d -> %s: %s\n", v, cxr_status_name(st), cxr_last_error());
            CHECK(st == CXR_E_FORMAT && s == NULL);
            CHECK(strstr(cxr_last_error(), v < 3 ? "'/train/shard_index' chunk 2 does not follow "
                                                   "chunk 1 in the file"
                                                 : "'/train/shard_index' chunk 599: differs from "
                                                   "HDF5's chunk record") != NULL);
            cxr_store_close(s);
        }
        /* /train/images rewritten chunk by chunk but for chunk 1, which goes to a dataset of
         * its own written between chunks 0 and 2: every index entry points at a chunk in file
         * order, each sampled one (1 is not) at HDF5's record of it, but HDF5 holds 599 */
        snprintf(bad, sizeof bad, "%s/big_missing.cxr", dir);
        copy_file(big, bad);
        f = open_aligned(bad);
        REQUIRE(H5Lmove(f, "/train/images", f, "/old_images", H5P_DEFAULT, H5P_DEFAULT) >= 0);
        hid_t old = H5Dopen2(f, "/old_images", H5P_DEFAULT);
        REQUIRE(old >= 0);
        hid_t t = H5Dget_type(old), sp = H5Dget_space(old), pl = H5Dget_create_plist(old);
        hsize_t one[3] = { 1, 16, 16 }, z[3] = { 0, 0, 0 };
        hid_t sp1 = H5Screate_simple(3, one, NULL);
        hid_t im = H5Dcreate2(f, "/train/images", t, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        hid_t c1 = H5Dcreate2(f, "/chunk1", t, sp1, H5P_DEFAULT, pl, H5P_DEFAULT);
        REQUIRE(im >= 0 && c1 >= 0);
        static uint8_t buf[1 << 16];
        for (int c = 0; c < 600; c++) {
            hsize_t off[3] = { (hsize_t)c, 0, 0 }, size = 0;
            uint32_t filters = 0;
            REQUIRE(H5Dget_chunk_storage_size(old, off, &size) >= 0 && size <= sizeof buf);
            REQUIRE(H5Dread_chunk(old, H5P_DEFAULT, off, &filters, buf) >= 0 && filters == 0);
            REQUIRE(H5Dwrite_chunk(c == 1 ? c1 : im, H5P_DEFAULT, 0, c == 1 ? z : off, (size_t)size,
                                   buf) >= 0);
            index_to(f, "/train/shard_index", c, c == 1 ? c1 : im, c == 1 ? z : off);
        }
        H5Dclose(c1), H5Dclose(im), H5Dclose(old);
        H5Sclose(sp1), H5Sclose(sp), H5Pclose(pl), H5Tclose(t);
        REQUIRE(H5Fclose(f) >= 0);
        s = NULL;
        const cxr_status st = cxr_store_open(&s, bad);
        fprintf(stderr, "big missing -> %s: %s\n", cxr_status_name(st), cxr_last_error());
        CHECK(st == CXR_E_FORMAT && s == NULL);
        CHECK(strstr(cxr_last_error(), "'/train/shard_index' has 600 entries, '/train/images' "
                                       "599 chunks") != NULL);
        cxr_store_close(s);
    }

    /* /train/paths as h5py writes fixed-length strings: null-padded, as wide as the longest
     * path, so a path of that length (here every one) ends at the row's end with no terminator;
     * each reads back whole and alone, not run on into the next row */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/padded_paths.cxr", dir);
        copy_file(good, p);
        hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(f >= 0);
        hid_t d = H5Dopen2(f, "/train/paths", H5P_DEFAULT);
        REQUIRE(d >= 0);
        hid_t t = H5Dget_type(d), sp = H5Dget_space(d);
        const size_t w = H5Tget_size(t);
        const hssize_t n = H5Sget_simple_extent_npoints(sp);
        REQUIRE(n > 1);
        char *buf = calloc((size_t)n, w), *packed = calloc((size_t)n, w);
        REQUIRE(buf && packed && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
        H5Dclose(d);
        size_t longest = 0;
        for (hssize_t i = 0; i < n; i++)
            if (strnlen(buf + (size_t)i * w, w) > longest)
                longest = strnlen(buf + (size_t)i * w, w);
        for (hssize_t i = 0; i < n; i++)
            memcpy(packed + (size_t)i * longest, buf + (size_t)i * w,
                   strnlen(buf + (size_t)i * w, w));
        REQUIRE(H5Ldelete(f, "/train/paths", H5P_DEFAULT) >= 0);
        hid_t pt = H5Tcopy(H5T_C_S1), dcpl = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t chunk = (hsize_t)n;
        REQUIRE(H5Tset_size(pt, longest) >= 0 && H5Tset_strpad(pt, H5T_STR_NULLPAD) >= 0 &&
                H5Pset_chunk(dcpl, 1, &chunk) >= 0 && H5Pset_fletcher32(dcpl) >= 0);
        d = H5Dcreate2(f, "/train/paths", pt, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        REQUIRE(d >= 0 && H5Dwrite(d, pt, H5S_ALL, H5S_ALL, H5P_DEFAULT, packed) >= 0);
        H5Dclose(d), H5Pclose(dcpl), H5Tclose(pt), H5Tclose(t), H5Sclose(sp);
        REQUIRE(H5Fclose(f) >= 0);
        cxr_store *g = NULL;
        s = NULL;
        CHECK_OK(cxr_store_open(&g, good));
        CHECK_OK(cxr_store_open(&s, p));
        int same = 0;
        for (int64_t i = 0; s && g && i < n; i++) {
            const char *a = cxr_store_image_path(s, "train", i),
                       *b = cxr_store_image_path(g, "train", i);
            if (a && b && strcmp(a, b) == 0)
                same++;
            else
                fprintf(stderr, "padded path %lld: '%s', not '%s'\n", (long long)i, a ? a : "?",
                        b ? b : "?");
        }
        CHECK(same == n);
        cxr_store_close(s);
        cxr_store_close(g);
        s = NULL;
        free(buf);
        free(packed);
    }

    /* not HDF5 at all, and no file */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/text.cxr", dir);
        FILE *f = fopen(p, "w");
        REQUIRE(f);
        fputs("hello\n", f);
        fclose(f);
        CHECK(cxr_store_open(&s, p) == CXR_E_FORMAT && s == NULL);
        CHECK(strstr(cxr_last_error(), p) && strstr(cxr_last_error(), "not an HDF5 file"));
        snprintf(p, sizeof p, "%s/absent.cxr", dir);
        unlink(p);
        CHECK(cxr_store_open(&s, p) == CXR_E_IO && s == NULL);
        CHECK(strstr(cxr_last_error(), p) != NULL);
    }

    /* a NaN pixel in a store that passes every checksum: that image is refused, naming it */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/nan.cxr", dir);
        tu_spec ns = sp;
        ns.nan_image = 1 + 11;
        CHECK_OK(tu_write_store(p, &ns, 1));
        CHECK_OK(cxr_store_open(&s, p));
        float img[16 * 16];
        CHECK_OK(cxr_store_read_image(s, "train", 10, img));
        CHECK(cxr_store_read_image(s, "train", 11, img) == CXR_E_FORMAT);
        fprintf(stderr, "nan          -> %s\n", cxr_last_error());
        CHECK(strstr(cxr_last_error(), "split 'train' image 11 (train/c3/img00011.jpeg)") != NULL);
        CHECK(strstr(cxr_last_error(), "non-finite pixel nan at (y 0, x 1)") != NULL);
        cxr_store_close(s);
        s = NULL;
        /* a finite value no normalization writes (damage, not a picture to learn from) */
        const float big[3] = { 3e38f, -512.0f, 1e6f };
        for (int b = 0; b < 3; b++) {
            ns.bad_value = big[b];
            CHECK_OK(tu_write_store(p, &ns, 1));
            CHECK_OK(cxr_store_open(&s, p));
            CHECK_OK(cxr_store_read_image(s, "train", 10, img));
            CHECK(cxr_store_read_image(s, "train", 11, img) == CXR_E_FORMAT);
            fprintf(stderr, "%-12g -> %s\n", (double)big[b], cxr_last_error());
            char want[96];
            snprintf(want, sizeof want, "out-of-range pixel %g at (y 0, x 1)", (double)big[b]);
            CHECK(strstr(cxr_last_error(), want) != NULL);
            cxr_store_close(s);
            s = NULL;
        }
        ns.bad_value = 511.9f; /* the largest magnitudes below the limit are values */
        CHECK_OK(tu_write_store(p, &ns, 1));
        CHECK_OK(cxr_store_open(&s, p));
        CHECK_OK(cxr_store_read_image(s, "train", 11, img));
        CHECK(img[1] == 511.9f);
        cxr_store_close(s);
        s = NULL;
    }

    /* a flipped byte inside chunk 1 of train */
    {
        char p[512];
        snprintf(p, sizeof p, "%s/corrupt.cxr", dir);
        copy_file(good, p);
        CHECK_OK(cxr_store_open(&s, p));
        cxr_split_info in;
        CHECK_OK(cxr_store_split(s, "train", &in));
        REQUIRE(in.n_shards >= 2);
        uint64_t off = in.chunk_offset[1], size = in.chunk_size[1];
        cxr_store_close(s);
        int fd = open(p, O_RDWR);
        REQUIRE(fd >= 0);
        uint8_t *raw = malloc(size);
        REQUIRE(raw && pread(fd, raw, size, (off_t)off) == (ssize_t)size);
        raw[size / 2] ^= 0x10;
        REQUIRE(pwrite(fd, raw, size, (off_t)off) == (ssize_t)size);
        close(fd);
        size_t elems = (size_t)sp.shard * sp.size * sp.size;
        float *out = malloc(elems * 4);
        void *scratch = malloc(elems * 4);
        REQUIRE(out && scratch);
        CHECK(cxr_chunk_decode(out, scratch, raw, size, sp.shard, sp.size, sp.shard) ==
              CXR_E_CHECKSUM);
        CHECK_OK(cxr_store_open(&s, p)); /* metadata is intact */
        /* through HDF5 too: its "filter returned failure" is looked into, and said as the raw
         * reader says it */
        CHECK(cxr_store_read_chunk_hdf5(s, "train", 1, out) == CXR_E_CHECKSUM);
        CHECK(strstr(cxr_last_error(), p) != NULL);
        CHECK(strstr(cxr_last_error(), "split 'train' shard 1 (offset") != NULL);
        CHECK(strstr(cxr_last_error(), "Fletcher32 mismatch") != NULL);
        CHECK(cxr_store_read_image(s, "train", sp.shard + 1, out) == CXR_E_CHECKSUM);
        CHECK_OK(cxr_store_read_chunk_hdf5(s, "train", 0, out)); /* other chunks still read */
        CHECK_OK(cxr_store_read_image(s, "train", 1, out));
        /* cut short while open, inside chunk 1: an I/O error naming the cut, not a checksum */
        REQUIRE(truncate(p, (off_t)(off + size / 2)) == 0);
        CHECK(cxr_store_read_image(s, "train", sp.shard, out) == CXR_E_IO);
        CHECK(strstr(cxr_last_error(), "shard 1: the file is cut to") != NULL);
        cxr_store_close(s);
        free(raw);
        free(out);
        free(scratch);
    }
    TEST_END();
}
