/* test_hdf5_filters.c: our raw layout against HDF5's own filters.
 *  1. Fletcher32: datasets of uint8 with only HDF5's Fletcher32 filter, chunk lengths odd and
 *     even; the raw chunk (H5Dread_chunk) must be data + little-endian cxr_fletcher32(data).
 *  2. Whole pipeline: a float32 [shard,S,S] dataset written normally with H5Dwrite through
 *     shuffle -> zstd (our registered filter) -> fletcher32 must store exactly the bytes
 *     cxr_chunk_encode produces, and cxr_chunk_decode of them gives the data back. This pins
 *     the shuffle byte order and the checksum byte order to what HDF5 does.
 *  3. cxr_hdf5_error's status for HDF5's out-of-memory errors (below).
 *  4. cxr_h5_write_checked fails when its data cannot reach the file (below). */
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxr_store.h"
#include "cxr_test.h"
#include "h5_internal.h"

static uint64_t rng = 12345;
static uint8_t next8(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (uint8_t)(rng >> 56);
}

static void fletcher_case(hid_t f, size_t len)
{
    char name[32];
    snprintf(name, sizeof name, "f%zu", len);
    hsize_t dims[1] = { len }, chunk[1] = { len };
    uint8_t *data = malloc(len), *raw = malloc(len + 16);
    REQUIRE(data && raw);
    for (size_t i = 0; i < len; i++) data[i] = next8();
    hid_t sp = H5Screate_simple(1, dims, NULL), p = H5Pcreate(H5P_DATASET_CREATE);
    REQUIRE(H5Pset_chunk(p, 1, chunk) >= 0 && H5Pset_fletcher32(p) >= 0);
    hid_t d = H5Dcreate2(f, name, H5T_NATIVE_UINT8, sp, H5P_DEFAULT, p, H5P_DEFAULT);
    REQUIRE(d >= 0);
    REQUIRE(H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    REQUIRE(H5Dflush(d) >= 0);
    hsize_t off[1] = { 0 }, sz = 0;
    uint32_t mask = 0;
    REQUIRE(H5Dget_chunk_storage_size(d, off, &sz) >= 0);
    CHECK(sz == len + 4);
    REQUIRE(H5Dread_chunk(d, H5P_DEFAULT, off, &mask, raw) >= 0);
    CHECK(mask == 0);
    CHECK(memcmp(raw, data, len) == 0);
    uint32_t want = cxr_fletcher32(data, len);
    uint32_t got = (uint32_t)raw[len] | (uint32_t)raw[len + 1] << 8 | (uint32_t)raw[len + 2] << 16 |
                   (uint32_t)raw[len + 3] << 24;
    if (got != want)
        fprintf(stderr, "len %zu: HDF5 stored %08x, cxr_fletcher32 %08x\n", len, got, want);
    CHECK(got == want);
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(sp);
    free(data);
    free(raw);
}

/* 3. cxr_hdf5_error: HDF5 out of memory is CXR_E_NOMEM whatever the caller's code (a checkpoint
 *    read that ran out of memory said "not a valid checkpoint", exit 3); another HDF5 error
 *    keeps the caller's code. The innermost description is quoted either way. */
static void error_code_case(void)
{
    /* the innermost first, as HDF5 pushes them */
    H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_RESOURCE, H5E_NOSPACE,
             "memory allocation failed for raw data chunk");
    H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_DATASET, H5E_READERROR,
             "can't read data");
    CHECK(cxr_hdf5_error(CXR_E_FORMAT, "m.h5", "cannot read %s", "/params/w") == CXR_E_NOMEM);
    CHECK(strcmp(cxr_last_error(), "m.h5: cannot read /params/w (HDF5: memory allocation failed "
                                   "for raw data chunk)") == 0);
    H5Epush2(H5E_DEFAULT, __FILE__, __func__, __LINE__, H5E_ERR_CLS, H5E_IO, H5E_WRITEERROR,
             "file write failed");
    CHECK(cxr_hdf5_error(CXR_E_IO, "m.h5", "cannot write") == CXR_E_IO);
}

/* 4. cxr_h5_write_checked: a dataset small enough for HDF5's chunk cache reaches the file only
 *    when it is closed. Where that write fails (a file size limit standing in for a full disk)
 *    the dataset is not written, and the call says so: a close that failed unseen left a chunk
 *    never written. In a child, which leaves its file unclosed. */
static void write_failure_case(const char *path)
{
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        if (fapl < 0 || H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0) _exit(3);
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        struct stat sb;
        if (f < 0 || H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || stat(path, &sb) != 0) _exit(3);
        static int32_t v[16384]; /* 64 kB: one chunk, well inside the 1 MiB chunk cache */
        for (int i = 0; i < 16384; i++) v[i] = i;
        const struct rlimit lim = { (rlim_t)sb.st_size, (rlim_t)sb.st_size }; /* no growth */
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(3);
        hsize_t n[1] = { 16384 };
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        const herr_t rc = cxr_h5_write_checked(f, "v", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, n, v);
        _exit(rc < 0 ? 0 : 1);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "write_checked past a file size limit: %s\n",
                WIFEXITED(st) && WEXITSTATUS(st) == 1 ? "said it wrote" : "child failed");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    CHECK_OK(cxr_zstd_filter_register());
    error_code_case();
    {
        char p[4096];
        snprintf(p, sizeof p, "%s.limit", argv[1]);
        write_failure_case(p);
        unlink(p);
    }
    CHECK_OK(cxr_zstd_filter_register()); /* idempotent */
    CHECK(H5Zfilter_avail(CXR_ZSTD_FILTER_ID) > 0);
    hid_t f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const size_t lens[] = { 1, 2, 3, 719, 720, 721, 722, 1001, 65537, 200000 };
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) fletcher_case(f, lens[i]);

    const int shard = 6, size = 40, level = 3;
    const size_t per = (size_t)size * size, total = per * shard;
    float *img = malloc(total * 4), *back = malloc(total * 4);
    void *scratch = malloc(total * 4);
    REQUIRE(img && back && scratch);
    for (size_t i = 0; i < total; i++)
        img[i] = (float)((i * 2654435761u) % 1000) * 0.001f - 0.5f + (float)(i % per) * 1e-4f;
    hsize_t dims[3] = { (hsize_t)shard, (hsize_t)size, (hsize_t)size };
    unsigned cd[1] = { level };
    hid_t sp = H5Screate_simple(3, dims, NULL), p = H5Pcreate(H5P_DATASET_CREATE);
    REQUIRE(H5Pset_chunk(p, 3, dims) >= 0 && H5Pset_shuffle(p) >= 0 &&
            H5Pset_filter(p, CXR_ZSTD_FILTER_ID, H5Z_FLAG_MANDATORY, 1, cd) >= 0 &&
            H5Pset_fletcher32(p) >= 0);
    hid_t d = H5Dcreate2(f, "images", H5T_IEEE_F32LE, sp, H5P_DEFAULT, p, H5P_DEFAULT);
    REQUIRE(d >= 0);
    REQUIRE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, img) >= 0);
    REQUIRE(H5Dflush(d) >= 0);
    hsize_t off[3] = { 0, 0, 0 }, sz = 0;
    uint32_t mask = 1;
    REQUIRE(H5Dget_chunk_storage_size(d, off, &sz) >= 0);
    uint8_t *hraw = malloc(sz), *craw = NULL;
    size_t ccap = 0, csz = 0;
    REQUIRE(hraw);
    REQUIRE(H5Dread_chunk(d, H5P_DEFAULT, off, &mask, hraw) >= 0);
    CHECK(mask == 0);
    CHECK_OK(cxr_chunk_encode(&craw, &ccap, &csz, img, shard, shard, size, level));
    fprintf(stderr, "pipeline chunk: HDF5 %llu bytes, cxr_chunk_encode %zu bytes\n",
            (unsigned long long)sz, csz);
    CHECK(csz == sz);
    CHECK(csz == sz && memcmp(craw, hraw, csz) == 0);
    CHECK_OK(cxr_chunk_decode(back, scratch, hraw, (size_t)sz, shard, size, shard));
    CHECK(memcmp(back, img, total * 4) == 0);
    /* And HDF5 reads what we encoded: overwrite the chunk raw, read back through filters. */
    REQUIRE(H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, csz, craw) >= 0);
    memset(back, 0, total * 4);
    REQUIRE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    CHECK(memcmp(back, img, total * 4) == 0);
    H5Dclose(d);
    H5Pclose(p);
    H5Sclose(sp);
    H5Fclose(f);
    free(img);
    free(back);
    free(scratch);
    free(hraw);
    free(craw);
    TEST_END();
}
