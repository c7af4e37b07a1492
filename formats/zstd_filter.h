/* zstd_filter.h (internal): the HDF5 zstd filter (id 32015) shared by libcxr, which registers
 * it with cxr_zstd_filter_register(), and the loadable plugin libh5zzstd.so
 * (h5z_zstd_plugin.c). Depends only on HDF5's public filter types and libzstd, never on
 * cxr_common, so the plugin links without our libraries. */
#ifndef CXR_ZSTD_FILTER_H
#define CXR_ZSTD_FILTER_H

#include <hdf5.h>

#define CXR_H5Z_ZSTD_ID            32015
#define CXR_H5Z_ZSTD_DEFAULT_LEVEL 3

/* The filter class handed to H5Zregister / H5PLget_plugin_info. */
extern const H5Z_class2_t cxr_h5z_zstd_class;

/* The filter callback (H5Z_func_t): compress with level cd_values[0] (default 3 when
 * cd_nelmts is 0), or with H5Z_FLAG_REVERSE decompress one frame carrying its content size.
 * Returns the new size of *buf (which it replaces), 0 on any failure (HDF5 then reports the
 * error); never aborts or prints. */
size_t cxr_h5z_zstd_filter(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                           size_t nbytes, size_t *buf_size, void **buf);

#endif
