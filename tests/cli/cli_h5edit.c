/* cli_h5edit: small HDF5 surgery for the CLI bad-input tests (no h5py needed).
 *   cli_h5edit setattr FILE NAME INT          set an int32 root attribute
 *   cli_h5edit delete FILE PATH               unlink a dataset or group
 *   cli_h5edit label FILE SPLIT INDEX VALUE   overwrite one label
 *   cli_h5edit corrupt FILE SPLIT SHARD       flip a byte in the middle of a raw image chunk
 *   cli_h5edit reshape FILE DSET D0 [D1...]   replace a float dataset by zeros of another shape
 */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *msg)
{
    fprintf(stderr, "cli_h5edit: %s\n", msg);
    return 1;
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
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0) return die("cannot open the file");
    int ok = 0;
    if (strcmp(op, "setattr") == 0 && argc == 5) {
        int32_t v = atoi(argv[4]);
        if (H5Aexists(f, argv[3]) > 0) H5Adelete(f, argv[3]);
        hid_t sp = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(f, argv[3], H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, &v) >= 0;
        H5Aclose(a);
        H5Sclose(sp);
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
    }
    H5Fclose(f);
    return ok ? 0 : die("operation failed");
}
