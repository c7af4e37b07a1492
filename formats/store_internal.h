/* store_internal.h (internal to formats/store_*.c): what the store writer and reader share
 * beyond the HDF5 conventions of h5_internal.h. */
#ifndef CXR_STORE_INTERNAL_H
#define CXR_STORE_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "h5_internal.h"
#include "cxr_store.h"

/* Fixed descriptions recorded in the root attributes (specs/store.md, Root attributes). */
#define CXR_STORE_GRAYSCALE_DESC "BT.601 luma, Y = round(0.299 R + 0.587 G + 0.114 B)"
#define CXR_STORE_RESIZE_DESC    CXR_RESIZE_FILTER_NAME /* cxr_preprocess.h */
#define CXR_STORE_ALIGN          4096

/* HDF5 setup (cxr_hdf5_init) and errors (cxr_hdf5_error) are in cxr_store.h. */

#endif
