/* test_validation.c: cxr_store_open's checks (specs/store.md, "Validation by the
 * reader"). A good store is written, copied, and each copy damaged one way with plain HDF5;
 * each must fail with the documented status and a message naming the file. Also: a corrupted
 * byte inside a chunk -> CXR_E_CHECKSUM from the raw decoder and a read error through HDF5. */
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

static void set_str_attr(hid_t f, const char *name, const char *v)
{
    REQUIRE(H5Adelete(f, name) >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(a >= 0 && H5Awrite(a, t, &v) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
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
    V_NO_IMAGES
} variant;

static void damage(hid_t f, variant v)
{
    switch (v) {
    case V_VERSION: set_int_attr(f, "format_version", 2); break;
    case V_FORMAT_NAME: set_str_attr(f, "format", "other-store"); break;
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
           "found cxr-store version 2, expected cxr-store version 1");
    expect(good, V_FORMAT_NAME, "format", CXR_E_VERSION,
           "found other-store version 1, expected cxr-store version 1");
    expect(good, V_NO_FORMAT, "noformat", CXR_E_FORMAT, "not a cxr store");
    expect(good, V_NO_LABELS, "nolabels", CXR_E_FORMAT, "missing dataset '/train/labels'");
    expect(good, V_NO_IMAGES, "noimages", CXR_E_FORMAT, "missing dataset '/val/images'");
    expect(good, V_LABEL_RANGE, "labelrange", CXR_E_MISMATCH,
           "label 4 of image 3 in '/train/labels' out of range [0, 4)");
    expect(good, V_IMAGE_SIZE, "imagesize", CXR_E_FORMAT, "wrong image size");
    expect(good, V_INDEX, "index", CXR_E_FORMAT, "index inconsistent");
    expect(good, V_COUNTS, "counts", CXR_E_FORMAT, "class_counts' disagrees with labels");
    expect(good, V_NO_NORMALIZE, "nonormalize", CXR_E_FORMAT, "attribute 'normalize'");

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
        CHECK(cxr_chunk_decode(out, scratch, raw, size, sp.shard, sp.size) == CXR_E_CHECKSUM);
        CHECK_OK(cxr_store_open(&s, p)); /* metadata is intact */
        CHECK(cxr_store_read_chunk_hdf5(s, "train", 1, out) == CXR_E_HDF5);
        CHECK(strstr(cxr_last_error(), p) != NULL);
        CHECK_OK(cxr_store_read_chunk_hdf5(s, "train", 0, out)); /* other chunks still read */
        cxr_store_close(s);
        free(raw);
        free(out);
        free(scratch);
    }
    TEST_END();
}
