/* h5z_zstd_plugin.c: entry points that make libh5zzstd.so a dynamically loaded HDF5 filter
 * plugin (HDF5_PLUGIN_PATH=<build>/plugins), so h5dump, h5ls and h5py can read cxr stores.
 * The filter itself is zstd_filter.c, the same code libcxr registers. */
#include <H5PLextern.h>

#include "zstd_filter.h"

H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }

const void *H5PLget_plugin_info(void) { return &cxr_h5z_zstd_class; }
