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

/* A class's weight, w_c = N_train / (C * n_c) in double, stored as float; 0 for a class absent
 * from train (never inf/NaN). The writer stores it, the reader checks it to the bit. */
static inline float cxr_store_class_weight(int64_t n_train, int n_classes, int64_t n_c)
{
    return n_c > 0 ? (float)((double)n_train / ((double)n_classes * (double)n_c)) : 0.0f;
}

/* HDF5 setup (cxr_hdf5_init) and errors (cxr_hdf5_error) are in cxr_store.h. */

#endif
