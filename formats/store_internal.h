/* store_internal.h (internal to formats/store_*.c): HDF5 helpers shared by the store writer
 * and reader: one-time library setup, HDF5 error text capture, typed scalar attributes and
 * variable-length UTF-8 string datasets. All of these must run on the one thread that talks
 * to HDF5 (Debian's HDF5 is not thread-safe). */
#ifndef CXR_STORE_INTERNAL_H
#define CXR_STORE_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "cxr_store.h"

/* Fixed descriptions recorded in the root attributes (specs/store.md, Root attributes). */
#define CXR_STORE_GRAYSCALE_DESC "BT.601 luma, Y = round(0.299 R + 0.587 G + 0.114 B)"
#define CXR_STORE_RESIZE_DESC    CXR_RESIZE_FILTER_NAME /* cxr_preprocess.h */
#define CXR_STORE_ALIGN          4096

/* HDF5 setup (cxr_hdf5_init) and errors (cxr_hdf5_error) are in cxr_store.h. */

/* Strings go into the store as UTF-8 (H5T_CSET_UTF8). A string that is not valid UTF-8 (a file
 * name from a file system in another encoding, say) is stored with each offending byte as the
 * four characters \xNN, so every reader can decode it: this returns that malloc'ed copy, or
 * NULL when s is valid UTF-8 as it is (or on ENOMEM: s is then stored unchanged). */
char *cxr_h5_utf8_escape(const char *s);
/* A variable-length UTF-8 string type (caller closes). */
hid_t cxr_h5_vlstr_type(void);
/* Scalar attributes on obj; each returns <0 on HDF5 failure. */
herr_t cxr_h5_attr_put_str(hid_t obj, const char *name, const char *value);
herr_t cxr_h5_attr_put_i32(hid_t obj, const char *name, int32_t value);
herr_t cxr_h5_attr_put_f64(hid_t obj, const char *name, double value);
/* Readers: 1 found and read, 0 absent, -1 present but not readable as that type.
 * cxr_h5_attr_get_str returns a malloc'd string in *out. */
int cxr_h5_attr_get_str(hid_t obj, const char *name, char **out);
int cxr_h5_attr_get_i64(hid_t obj, const char *name, int64_t *out);
int cxr_h5_attr_get_f64(hid_t obj, const char *name, double *out);

/* Write a 1-D variable-length UTF-8 string dataset of n entries (NULL entries become "").
 * dcpl: creation list with timestamps off. Returns <0 on failure. */
herr_t cxr_h5_write_strings(hid_t loc, const char *name, const char *const *v, int64_t n,
                            hid_t dcpl);
/* A dataset creation list with object timestamps off (caller closes). */
hid_t cxr_h5_dcpl_notime(void);

/* 1 if the link `name` (a path relative to loc, one level) exists, else 0. */
int cxr_h5_exists(hid_t loc, const char *name);

#endif
