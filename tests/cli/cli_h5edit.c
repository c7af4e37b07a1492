/* cli_h5edit: small HDF5 surgery for the CLI bad-input tests (no h5py needed).
 *   cli_h5edit setattr FILE NAME INT          set an int32 root attribute
 *   cli_h5edit setattrf FILE NAME NUMBER      set a float64 root attribute
 *   cli_h5edit seti64 FILE NAME INT           set an int64 root attribute (any int64 value)
 *   cli_h5edit setstr FILE NAME TEXT          set a fixed-length string root attribute
 *   cli_h5edit delete FILE PATH               unlink a dataset or group
 *   cli_h5edit delattr FILE NAME...           delete root attributes (an older checkpoint)
 *   cli_h5edit label FILE SPLIT INDEX VALUE   overwrite one label
 *   cli_h5edit corrupt FILE SPLIT SHARD       flip a byte in the middle of a raw image chunk
 *   cli_h5edit reshape FILE DSET D0 [D1...]   replace a float dataset by zeros of another shape
 *   cli_h5edit setf FILE DSET INDEX VALUE     set element INDEX (flat) of a float dataset,
 *                                             through HDF5 (checksums stay valid); VALUE "nan" ok
 *   cli_h5edit flip FILE DSET                 flip a byte in the middle of the dataset's first
 *                                             chunk on disk (HDF5 is not told)
 *   cli_h5edit nan FILE SPLIT INDEX           pixel (0,0) of image INDEX becomes NaN, through
 *                                             HDF5, and the split's shard_index follows the chunks
 *   cli_h5edit fill FILE SPLIT INDEX VALUE    every pixel of image INDEX becomes VALUE, likewise
 */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cxr_store.h" /* cxr_hdf5_init: the zstd filter */

static int die(const char *msg)
{
    fprintf(stderr, "cli_h5edit: %s\n", msg);
    return 1;
}

/* Replace root attribute `name` by a scalar of file type ft holding *v (memory type mt). */
static int put_scalar(hid_t f, const char *name, hid_t ft, hid_t mt, const void *v)
{
    if (H5Aexists(f, name) > 0) H5Adelete(f, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, mt, v) >= 0;
    H5Aclose(a);
    H5Sclose(sp);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 4) return die("usage: see the source");
    const char *op = argv[1], *file = argv[2];
    if (strcmp(op, "corrupt") == 0) {
        if (argc != 5) return die("corrupt FILE SPLIT SHARD");
        hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
        char name[256];
        snprintf(name, sizeof name, "/%s/shard_index", argv[3]);
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        if (f < 0 || d < 0) return die("cannot open the shard index");
        hid_t sp = H5Dget_space(d);
        hsize_t dims[2];
        H5Sget_simple_extent_dims(sp, dims, NULL);
        uint64_t *idx = malloc(dims[0] * 2 * sizeof *idx);
        H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx);
        H5Sclose(sp);
        H5Dclose(d);
        H5Fclose(f);
        long k = atol(argv[4]);
        if (k < 0 || (hsize_t)k >= dims[0]) return die("shard out of range");
        long off = (long)(idx[2 * k] + idx[2 * k + 1] / 2);
        FILE *fp = fopen(file, "r+b");
        if (!fp || fseek(fp, off, SEEK_SET) != 0) return die("cannot open the file");
        int c = fgetc(fp);
        fseek(fp, off, SEEK_SET);
        fputc(c ^ 0x5A, fp);
        fclose(fp);
        free(idx);
        return 0;
    }
    if (strcmp(op, "flip") == 0) {
        if (argc != 4) return die("flip FILE DSET");
        hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
        hid_t d = f < 0 ? -1 : H5Dopen2(f, argv[3], H5P_DEFAULT);
        haddr_t addr = HADDR_UNDEF;
        hsize_t size = 0, off[8] = { 0 };
        unsigned mask = 0;
        if (d < 0 || H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) < 0 || size < 1)
            return die("no first chunk");
        H5Dclose(d);
        H5Fclose(f);
        FILE *fp = fopen(file, "r+b");
        long at = (long)(addr + size / 2);
        if (!fp || fseek(fp, at, SEEK_SET) != 0) return die("cannot open the file");
        int c = fgetc(fp);
        fseek(fp, at, SEEK_SET);
        fputc(c ^ 0x5A, fp);
        fclose(fp);
        return 0;
    }
    if (cxr_hdf5_init() != CXR_OK) return die("cannot register the zstd filter");
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_alignment(fapl, 1, 4096); /* rewritten chunks stay where a store's reader wants them */
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, fapl);
    if (f < 0) return die("cannot open the file");
    int ok = 0;
    if (strcmp(op, "setattr") == 0 && argc == 5) {
        int32_t v = atoi(argv[4]);
        ok = put_scalar(f, argv[3], H5T_STD_I32LE, H5T_NATIVE_INT32, &v);
    } else if (strcmp(op, "seti64") == 0 && argc == 5) {
        int64_t v = strtoll(argv[4], NULL, 10);
        ok = put_scalar(f, argv[3], H5T_STD_I64LE, H5T_NATIVE_INT64, &v);
    } else if (strcmp(op, "setattrf") == 0 && argc == 5) {
        double v = strtod(argv[4], NULL);
        ok = put_scalar(f, argv[3], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
    } else if (strcmp(op, "setstr") == 0 && argc == 5) {
        if (H5Aexists(f, argv[3]) > 0) H5Adelete(f, argv[3]);
        hid_t sp = H5Screate(H5S_SCALAR), t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, strlen(argv[4]) + 1);
        H5Tset_strpad(t, H5T_STR_NULLTERM);
        hid_t a = H5Acreate2(f, argv[3], t, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, t, argv[4]) >= 0;
        H5Aclose(a);
        H5Tclose(t);
        H5Sclose(sp);
    } else if (strcmp(op, "delattr") == 0) {
        ok = 1;
        for (int i = 3; i < argc; i++) ok = ok && H5Adelete(f, argv[i]) >= 0;
    } else if (strcmp(op, "delete") == 0 && argc == 4) {
        ok = H5Ldelete(f, argv[3], H5P_DEFAULT) >= 0;
    } else if (strcmp(op, "label") == 0 && argc == 6) {
        char name[256];
        snprintf(name, sizeof name, "/%s/labels", argv[3]);
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
        hid_t fs = H5Dget_space(d);
        hsize_t start = (hsize_t)atol(argv[4]), one = 1;
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &one, NULL);
        hid_t ms = H5Screate_simple(1, &one, NULL);
        int32_t v = atoi(argv[5]);
        ok = d >= 0 && H5Dwrite(d, H5T_NATIVE_INT32, ms, fs, H5P_DEFAULT, &v) >= 0;
        H5Sclose(ms);
        H5Sclose(fs);
        H5Dclose(d);
    } else if (strcmp(op, "reshape") == 0 && argc >= 5) {
        hsize_t dims[8];
        int nd = argc - 4;
        size_t n = 1;
        for (int i = 0; i < nd && i < 8; i++) n *= (size_t)(dims[i] = (hsize_t)atol(argv[4 + i]));
        H5Ldelete(f, argv[3], H5P_DEFAULT);
        hid_t sp = H5Screate_simple(nd, dims, NULL);
        hid_t d = H5Dcreate2(f, argv[3], H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        float *z = calloc(n, sizeof *z);
        ok = d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, z) >= 0;
        free(z);
        H5Dclose(d);
        H5Sclose(sp);
    } else if (strcmp(op, "setf") == 0 && argc == 6) {
        hid_t d = H5Dopen2(f, argv[3], H5P_DEFAULT), fs = H5Dget_space(d);
        hsize_t n = (hsize_t)H5Sget_simple_extent_npoints(fs), i = (hsize_t)atol(argv[4]), one = 1;
        float v = strtof(argv[5], NULL);
        /* element i of the flattened dataset: select it by its coordinates */
        int nd = H5Sget_simple_extent_ndims(fs);
        hsize_t dims[8], at[8];
        H5Sget_simple_extent_dims(fs, dims, NULL);
        for (int k = nd - 1, r = (int)i; k >= 0; k--)
            at[k] = (hsize_t)r % dims[k], r /= (int)dims[k];
        hid_t ms = H5Screate_simple(1, &one, NULL);
        ok = d >= 0 && i < n && H5Sselect_elements(fs, H5S_SELECT_SET, 1, at) >= 0 &&
             H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &v) >= 0;
        H5Sclose(ms);
        H5Sclose(fs);
        H5Dclose(d);
    } else if ((strcmp(op, "nan") == 0 && argc == 5) || (strcmp(op, "fill") == 0 && argc == 6)) {
        const int fill = op[0] == 'f';
        char name[256];
        snprintf(name, sizeof name, "/%s/images", argv[3]);
        hid_t d = H5Dopen2(f, name, H5P_DEFAULT), fs = H5Dget_space(d);
        hsize_t dims[3], at[3] = { (hsize_t)atol(argv[4]), 0, 0 }, chunk[3];
        H5Sget_simple_extent_dims(fs, dims, NULL);
        hid_t dcpl = H5Dget_create_plist(d);
        H5Pget_chunk(dcpl, 3, chunk);
        H5Pclose(dcpl);
        /* one pixel (nan), or the whole image: a block of 1 x H x W at (INDEX, 0, 0) */
        hsize_t count[3] = { 1, fill ? dims[1] : 1, fill ? dims[2] : 1 };
        const size_t npx = (size_t)(count[1] * count[2]);
        float *v = malloc(npx * sizeof *v);
        for (size_t k = 0; v && k < npx; k++) v[k] = fill ? strtof(argv[5], NULL) : NAN;
        hid_t ms = H5Screate_simple(3, count, NULL);
        ok = v && d >= 0 && at[0] < dims[0] &&
             H5Sselect_hyperslab(fs, H5S_SELECT_SET, at, NULL, count, NULL) >= 0 &&
             H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, v) >= 0;
        free(v);
        H5Sclose(ms);
        H5Sclose(fs);
        /* the rewritten chunk may have moved: the index must say where */
        snprintf(name, sizeof name, "/%s/shard_index", argv[3]);
        hid_t ix = H5Dopen2(f, name, H5P_DEFAULT);
        hsize_t nsh = (dims[0] + chunk[0] - 1) / chunk[0];
        uint64_t *idx = calloc(nsh * 2 + 2, sizeof *idx);
        for (hsize_t k = 0; ok && k < nsh; k++) {
            hsize_t off[3] = { k * chunk[0], 0, 0 }, size = 0;
            haddr_t addr = 0;
            unsigned mask = 0;
            ok = H5Dget_chunk_info_by_coord(d, off, &mask, &addr, &size) >= 0;
            idx[2 * k] = addr;
            idx[2 * k + 1] = size;
        }
        ok = ok && ix >= 0 &&
             H5Dwrite(ix, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, idx) >= 0;
        free(idx);
        H5Dclose(ix);
        H5Dclose(d);
    }
    H5Fclose(f);
    H5Pclose(fapl);
    return ok ? 0 : die("operation failed");
}
