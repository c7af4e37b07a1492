/* h5_internal.h (internal to libcxr: not installed, it needs hdf5.h): the HDF5 file
 * conventions shared by the store (formats/) and checkpoints (train/), chosen so that a
 * damaged file is refused, never a crash or a hang of the reader:
 *
 *  - file format of HDF5 1.10 (libver bounds V110..V110): superblock v3, object headers v2,
 *    new-style groups, fractal heaps, v2 B-trees and the 1.10 chunk indexes, every one of
 *    them carrying a checksum that HDF5 verifies when it reads them;
 *  - strings are fixed-length (never variable-length: those live in the global heap, which
 *    carries no checksum and whose damaged lengths crash libhdf5 1.10.8);
 *  - every dataset's data is either inside its object header (compact layout, covered by the
 *    header's checksum: used for empty datasets) or in chunks with the Fletcher32 filter
 *    (cxr_h5_write_checked), so HDF5 verifies it on every read;
 *  - files are created through a cxr_tmpfile (common/cxr_tmpfile.h): a fresh O_EXCL name that
 *    HDF5 opens through /proc/self/fd, so it never follows a name someone replaced.
 *
 * Every function runs on the single thread that talks to HDF5 (Debian's HDF5 is not
 * thread-safe). Functions returning herr_t/hid_t leave HDF5's error stack for
 * cxr_hdf5_error (cxr_store.h) to report.
 */
#ifndef CXR_H5_INTERNAL_H
#define CXR_H5_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "cxr_status.h"
#include "cxr_tmpfile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A file access list for writing and reading cxr files: the libver bounds above and
 * H5F_CLOSE_STRONG. Caller closes; <0 on failure. */
hid_t cxr_h5_fapl(void);

/* Create the HDF5 file that will become `target`: a cxr_tmpfile (no lock: HDF5 takes its own)
 * opened by H5Fcreate through /proc/self/fd, then checked to be that very file. fcpl and fapl
 * as for H5Fcreate (fapl from cxr_h5_fapl). On success *file is open and *t holds the
 * temporary: close the file, then cxr_tmpfile_commit (or cxr_tmpfile_discard). On error
 * nothing is left: CXR_E_IO naming target and the reason. */
cxr_status cxr_h5_create(cxr_tmpfile *t, const char *target, hid_t fcpl, hid_t fapl, hid_t *file);

/* Open an existing cxr file read-only. `what` names the kind in messages ("store",
 * "checkpoint"). CXR_E_IO if it cannot be opened as a file (missing, unreadable, a folder);
 * CXR_E_FORMAT when it is not HDF5 or HDF5 refuses it ("<path>: corrupt or not a cxr <what>:
 * <HDF5's reason>", e.g. "incorrect metadata checksum after all read attempts"). */
cxr_status cxr_h5_open(const char *path, const char *what, hid_t *file);

/* A dataset creation list with object timestamps off (caller closes). */
hid_t cxr_h5_dcpl_notime(void);

/* Write a dataset of `rank` dims `dims` that HDF5 verifies on every read: Fletcher32 over
 * chunks of up to 4 MiB along axis 0 (the other axes whole), or compact (inside the checksummed
 * object header) when it holds no element. ftype is the file type, mtype the memory type of
 * data. No timestamps. <0 on failure. */
herr_t cxr_h5_write_checked(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                            const hsize_t *dims, const void *data);
/* 1 if dataset d is stored as cxr_h5_write_checked stores it (compact, or chunked with
 * Fletcher32), else 0. */
int cxr_h5_is_checked(hid_t d);
/* 1 if every element of dataset d has its place in the file (no chunk left unwritten, which
 * HDF5 reads as the fill value with no checksum to see it), else 0. */
int cxr_h5_is_complete(hid_t d);
/* what a reader says of a dataset that is not complete */
#define CXR_H5_INCOMPLETE \
    "holds chunks never written (an incomplete file: its writer stopped, or it was copied in part)"

/* Strings are UTF-8. One that is not valid UTF-8 (a file name from a file system in another
 * encoding) is stored with each offending byte as the four characters \xNN: *out receives that
 * malloc'ed copy (return 1), or NULL when s is valid UTF-8 as it is (return 0); -1 when out of
 * memory (*out NULL: nothing is to be stored). */
int cxr_h5_utf8_escape(const char *s, char **out);

/* A 1-D dataset of n fixed-length UTF-8 strings (NULL entries become ""), null-terminated,
 * each padded with NULs to the longest plus one, written with cxr_h5_write_checked. <0 on
 * failure. */
herr_t cxr_h5_write_strings(hid_t loc, const char *name, const char *const *v, int64_t n);
/* Read such a dataset of n strings: *out receives n pointers into one malloc'd block returned
 * in *arena (free both). CXR_E_FORMAT naming `file` and `what` if it is not a 1-D dataset of
 * n fixed-length strings, or HDF5 cannot read it (a failed checksum); CXR_E_NOMEM. */
cxr_status cxr_h5_read_strings(hid_t d, const char *file, const char *what, int64_t n, char ***out,
                               char **arena);

/* Scalar attributes on obj; strings fixed-length UTF-8, null-terminated. <0 on failure. */
herr_t cxr_h5_attr_put_str(hid_t obj, const char *name, const char *value);
herr_t cxr_h5_attr_put_i32(hid_t obj, const char *name, int32_t value);
herr_t cxr_h5_attr_put_i64(hid_t obj, const char *name, int64_t value);
herr_t cxr_h5_attr_put_f64(hid_t obj, const char *name, double value);
/* Readers: 1 found and read, 0 absent, -1 present but not of that kind (an integer, a float,
 * a fixed-length string: a variable-length string is refused unread) or unreadable.
 * cxr_h5_attr_get_str returns a malloc'd string in *out, or -2 for a string of more than
 * CXR_H5_STR_MAX bytes (left unread: no attribute of ours is near it). */
#define CXR_H5_STR_MAX (1u << 20)
int cxr_h5_attr_get_str(hid_t obj, const char *name, char **out);
int cxr_h5_attr_get_i64(hid_t obj, const char *name, int64_t *out);
int cxr_h5_attr_get_f64(hid_t obj, const char *name, double *out);

/* 1 if the link `name` (a path relative to loc) exists, else 0. */
int cxr_h5_exists(hid_t loc, const char *name);
/* The same for a file that must hold `name`: 1 if it exists; 0 if not; CXR_E_FORMAT naming
 * `file` and HDF5's reason when the lookup itself fails (a damaged object header or B-tree: a
 * metadata checksum), which cxr_h5_exists would call missing. */
cxr_status cxr_h5_require(hid_t loc, const char *name, const char *file, int *exists);

#ifdef __cplusplus
}
#endif
#endif
