/* h5_readmap FILE: print every byte range HDF5 reads while visiting all of FILE (each object,
 * each attribute's value, each dataset's values), one "OFFSET LENGTH KIND" line per read, KIND
 * "meta" (superblock, object headers, B-trees, heaps...) or "data" (raw dataset bytes). Reads
 * go through HDF5's log driver. The flip sweep (test_flip_sweep.py) flips the bytes listed here.
 * Exit 1 if the file cannot be visited (it must be intact). */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int failed;

static herr_t read_attr(hid_t loc, const char *name, const H5A_info_t *ai, void *d)
{
    (void)ai, (void)d;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT), t = H5Aget_type(a), sp = H5Aget_space(a);
    size_t n = (size_t)H5Sget_simple_extent_npoints(sp) * H5Tget_size(t);
    void *b = malloc(n + 16);
    if (a < 0 || !b || H5Aread(a, t, b) < 0) failed = 1;
    free(b);
    H5Tclose(t);
    H5Sclose(sp);
    H5Aclose(a);
    return 0;
}

static herr_t visit(hid_t loc, const char *name, const H5O_info_t *info, void *d)
{
    (void)d;
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) return failed = 1, 0;
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, read_attr, NULL);
    if (info->type == H5O_TYPE_DATASET) {
        hid_t t = H5Dget_type(o), sp = H5Dget_space(o);
        size_t n = (size_t)H5Sget_simple_extent_npoints(sp) * H5Tget_size(t);
        void *b = malloc(n + 16);
        if (!b || (n && H5Dread(o, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) < 0)) failed = 1;
        free(b);
        H5Tclose(t);
        H5Sclose(sp);
    }
    H5Oclose(o);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: h5_readmap FILE\n");
        return 2;
    }
    char log[] = "/tmp/h5_readmap.XXXXXX";
    int fd = mkstemp(log);
    if (fd < 0) return perror("mkstemp"), 1;
    close(fd);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_log(fapl, log, H5FD_LOG_LOC_READ, 0);
    hid_t f = H5Fopen(argv[1], H5F_ACC_RDONLY, fapl);
    if (f < 0 || H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, visit, NULL, H5O_INFO_BASIC) < 0)
        failed = 1;
    if (f >= 0) H5Fclose(f);
    H5Pclose(fapl);
    FILE *in = fopen(log, "r");
    char line[512], kind[64];
    unsigned long long a, b;
    while (in && fgets(line, sizeof line, in))
        if (sscanf(line, " %llu- %llu (%*[^)]) (%63[^)]) Read", &a, &b, kind) == 3)
            printf("%llu %llu %s\n", a, b - a + 1, strcmp(kind, "H5FD_MEM_DRAW") ? "meta" : "data");
    if (in) fclose(in);
    unlink(log);
    if (failed) fprintf(stderr, "h5_readmap: %s: cannot read all of it\n", argv[1]);
    return failed;
}
