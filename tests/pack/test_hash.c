/* test_hash (pack.hash): the hashes cxr-pack stores are what specs/store.md, "Duplicates", says:
 * file_hash[i] = XXH3-64 (seed 0) of image i's file bytes, pixel_hash[i] = XXH3-64 of the
 * S*S float32 image as stored, in store order. Also: XXH3's published value for the empty input
 * (pins the hash function), and the AVX2 build (pack_hash_avx2.c) equals the baseline build on
 * every length 0..4100 and on 256 KiB, when the CPU has AVX2.
 * usage: test_hash SAMPLE_DIR TMP_DIR */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "cxr_pack.h"
#include "cxr_test.h"

#if defined(CXR_XXH3_AVX2)
uint64_t cxr_xxh3_avx2(const void *data, size_t len); /* formats/pack_hash_avx2.c */
#endif

static uint64_t *read_u64(const char *store, const char *dset, int64_t n)
{
    uint64_t *v = malloc((size_t)(n + 1) * sizeof *v);
    hid_t f = H5Fopen(store, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, dset, H5P_DEFAULT) : -1;
    hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
    REQUIRE(v && sp >= 0 && H5Sget_simple_extent_npoints(sp) == n);
    REQUIRE(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    REQUIRE(argc == 3);
    const char *sample = argv[1];
    CHECK(XXH3_64bits("", 0) == 0x2D06800538D394C2ull); /* xxHash's test vector */

    static uint8_t buf[256 << 10];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)((i * 2654435761u) >> 13);
#if defined(CXR_XXH3_AVX2)
    if (__builtin_cpu_supports("avx2")) {
        int bad = 0;
        for (size_t n = 0; n <= 4100; n++)
            bad += cxr_xxh3_avx2(buf + 3, n) != XXH3_64bits(buf + 3, n);
        CHECK(bad == 0);
        CHECK(cxr_xxh3_avx2(buf, sizeof buf) == XXH3_64bits(buf, sizeof buf));
    } else
        printf("no AVX2 on this CPU: the AVX2 build is not compared\n");
#endif

    char out[4096];
    snprintf(out, sizeof out, "%s/hash.h5", argv[2]);
    mkdir(argv[2], 0777);
    cxr_pack_plan plan;
    REQUIRE(cxr_plan_from_tree(&plan, sample) == CXR_OK);
    cxr_pack_options opt;
    memset(&opt, 0, sizeof opt);
    cxr_store_options_defaults(&opt.store);
    opt.output = out;
    opt.threads = 2;
    cxr_pack_summary sum;
    REQUIRE(cxr_pack_run(&plan, &opt, &sum) == CXR_OK);
    CHECK(sum.hashed == 1 && sum.dup_file.groups == 0 && sum.dup_pixels.groups == 0);

    cxr_store *s = NULL;
    REQUIRE(cxr_store_open(&s, out) == CXR_OK);
    int checked = 0;
    for (int k = 0; k < CXR_N_SPLITS; k++) {
        const char *split = cxr_split_names[k];
        cxr_split_info info;
        if (!cxr_store_has_split(s, split)) continue;
        REQUIRE(cxr_store_split(s, split, &info) == CXR_OK);
        char name[64];
        snprintf(name, sizeof name, "/%s/file_hash", split);
        uint64_t *fh = read_u64(out, name, info.n);
        snprintf(name, sizeof name, "/%s/pixel_hash", split);
        uint64_t *ph = read_u64(out, name, info.n);
        size_t px = (size_t)info.size * (size_t)info.size;
        float *img = malloc(px * sizeof *img);
        REQUIRE(img);
        for (int64_t i = 0; i < info.n; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", sample, cxr_store_image_path(s, split, i));
            FILE *f = fopen(path, "rb");
            REQUIRE(f);
            size_t len = fread(buf, 1, sizeof buf, f);
            fclose(f);
            REQUIRE(len < sizeof buf);
            CHECK(fh[i] == XXH3_64bits(buf, len));
            REQUIRE(cxr_store_read_image(s, split, i, img) == CXR_OK);
            CHECK(ph[i] == XXH3_64bits(img, px * sizeof *img));
            checked++;
        }
        uint64_t *read = NULL; /* the reader's view of the same dataset */
        REQUIRE(cxr_store_read_pixel_hashes(s, split, &read) == CXR_OK && read);
        CHECK(memcmp(read, ph, (size_t)info.n * sizeof *ph) == 0);
        free(read);
        free(img);
        free(fh);
        free(ph);
    }
    CHECK(checked == 64);
    cxr_store_close(s);

    /* a pixel_hash of another length is refused by name; none at all reads as none */
    {
        hid_t f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT);
        REQUIRE(f >= 0 && H5Ldelete(f, "/train/pixel_hash", H5P_DEFAULT) >= 0);
        hsize_t n = 3, chunk = 3;
        uint64_t v[3] = { 1, 2, 3 };
        hid_t sp = H5Screate_simple(1, &n, NULL), pl = H5Pcreate(H5P_DATASET_CREATE);
        REQUIRE(sp >= 0 && pl >= 0 && H5Pset_chunk(pl, 1, &chunk) >= 0 &&
                H5Pset_fletcher32(pl) >= 0);
        hid_t d =
            H5Dcreate2(f, "/train/pixel_hash", H5T_STD_U64LE, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
        REQUIRE(d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
        H5Dclose(d);
        H5Pclose(pl);
        H5Sclose(sp);
        REQUIRE(H5Ldelete(f, "/test/pixel_hash", H5P_DEFAULT) >= 0);
        H5Fclose(f);
        uint64_t *read = NULL;
        REQUIRE(cxr_store_open(&s, out) == CXR_OK);
        CHECK(cxr_store_read_pixel_hashes(s, "train", &read) == CXR_E_FORMAT && !read);
        CHECK(strstr(cxr_last_error(), "'/train/pixel_hash' has 3 rows, expected") != NULL);
        CHECK(cxr_store_read_pixel_hashes(s, "test", &read) == CXR_OK && !read);
        CHECK(cxr_store_read_pixel_hashes(s, "nosuch", &read) == CXR_E_FORMAT && !read);
        cxr_store_close(s);
    }
    cxr_plan_free(&plan);
    remove(out);
    printf("%d images: stored hashes = XXH3-64 of the file and of the stored image\n", checked);
    return cxr_test_failures ? 1 : 0;
}
