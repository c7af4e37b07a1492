/* zstd_filter.c: the HDF5 zstd filter (id 32015, cd_values[0] = level), see specs/store.md.
 *
 * Built twice from this one source: into libcxr (registered by cxr_zstd_filter_register in
 * formats/h5.c) and into the plugin libh5zzstd.so for h5dump/h5py. Buffers handed to and
 * from HDF5 are allocated with H5allocate_memory/H5free_memory so the plugin stays correct
 * even against an HDF5 built with its own memory checking; nothing else here calls HDF5.
 */
#include "zstd_filter.h"

#include <string.h>
#include <zstd.h>

static size_t zstd_compress_buf(int level, size_t nbytes, size_t *buf_size, void **buf)
{
    size_t bound = ZSTD_compressBound(nbytes);
    void *out = H5allocate_memory(bound > 0 ? bound : 1, 0);
    if (!out) return 0;
    size_t got = ZSTD_compress(out, bound, *buf, nbytes, level);
    if (ZSTD_isError(got)) {
        H5free_memory(out);
        return 0;
    }
    H5free_memory(*buf);
    *buf = out;
    *buf_size = bound;
    return got;
}

static size_t zstd_decompress_buf(size_t nbytes, size_t *buf_size, void **buf)
{
    /* Exactly one frame, carrying its content size: anything else is a corrupt chunk. */
    unsigned long long want = ZSTD_getFrameContentSize(*buf, nbytes);
    if (want == ZSTD_CONTENTSIZE_UNKNOWN || want == ZSTD_CONTENTSIZE_ERROR) return 0;
    if ((size_t)want != want) return 0;
    /* a cxr chunk is under 4 GiB (cxr_store_chunk_fits): a frame declaring more is no chunk
     * of ours, and its allocation would be a decompression bomb */
    if (want > ((unsigned long long)4 << 30)) return 0;
    size_t frame = ZSTD_findFrameCompressedSize(*buf, nbytes);
    if (ZSTD_isError(frame) || frame != nbytes) return 0;
    void *out = H5allocate_memory(want > 0 ? (size_t)want : 1, 0);
    if (!out) return 0;
    size_t got = ZSTD_decompress(out, (size_t)want, *buf, nbytes);
    if (ZSTD_isError(got) || got != want) {
        H5free_memory(out);
        return 0;
    }
    H5free_memory(*buf);
    *buf = out;
    *buf_size = want > 0 ? (size_t)want : 1;
    return got;
}

size_t cxr_h5z_zstd_filter(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                           size_t nbytes, size_t *buf_size, void **buf)
{
    if (!buf || !*buf || !buf_size) return 0;
    if (flags & H5Z_FLAG_REVERSE) return zstd_decompress_buf(nbytes, buf_size, buf);
    /* cd_values are unsigned in HDF5; negative (fast) levels travel as two's complement. */
    int level = cd_nelmts > 0 ? (int)cd_values[0] : CXR_H5Z_ZSTD_DEFAULT_LEVEL;
    if (level > ZSTD_maxCLevel()) level = ZSTD_maxCLevel();
    if (level < ZSTD_minCLevel()) level = ZSTD_minCLevel();
    return zstd_compress_buf(level, nbytes, buf_size, buf);
}

const H5Z_class2_t cxr_h5z_zstd_class = {
    H5Z_CLASS_T_VERS, /* version of this struct */
    (H5Z_filter_t)CXR_H5Z_ZSTD_ID,
    1, /* encoder present */
    1, /* decoder present */
    "zstd (cxr, id 32015)",
    NULL, /* can_apply */
    NULL, /* set_local */
    cxr_h5z_zstd_filter,
};
