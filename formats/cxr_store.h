/* cxr_store.h: the cxr HDF5 store (specs/store.md): writer, reader and raw-chunk codec.
 *
 * A store holds, per split (/train, /test, /val), images float32 [N,S,S] chunked one shard
 * per chunk, filtered shuffle -> zstd (HDF5 filter 32015) -> Fletcher32, plus labels, paths,
 * class counts and a shard index (file offset and size of every chunk, 4096-aligned) so a
 * reader can mmap the file and decode chunks without HDF5 (cxr_chunk_decode).
 *
 * Threading: the writer and reader handles are used from one thread at a time. The chunk codec
 * functions (cxr_chunk_*) are thread-safe: each calling thread keeps its own zstd contexts and
 * shuffle buffer (chunk.c), reused from call to call and freed when the thread exits.
 */
#ifndef CXR_STORE_H
#define CXR_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_preprocess.h"
#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CXR_STORE_FORMAT   "cxr-store"
#define CXR_STORE_VERSION  2
#define CXR_ZSTD_FILTER_ID 32015
#define CXR_MAX_CLASSES    4096
/* The longest class name a store takes, in bytes (a folder's name is at most 255; a manifest's
 * label longer than this is refused): stored escaped, at most 4x, well inside the 1 MiB a reader
 * accepts for a string. */
#define CXR_CLASS_NAME_MAX 4096
/* The zstd level cxr_store_options_defaults gives (cxr-pack's default): a fast one, since
 * shuffled float32 images barely compress at any level while the cost climbs (measurements in
 * specs/store.md, "Packing pipeline"). */
#define CXR_STORE_ZSTD_LEVEL (-5)
/* 1 when a raw chunk of `shard` images of size x size float32 fits HDF5's chunk limit (under
 * 4 GiB): the writer, the reader and cxr-pack's allocation all ask this. */
static inline int cxr_store_chunk_fits(int shard, int size)
{
    return (uint64_t)shard * (uint64_t)size * (uint64_t)size * 4 <= 0xffffffffull;
}

/* The splits a store may hold (specs/store.md), in the order the writer, the reader and the
 * folder scan of cxr-pack list them: "train", "val", "test". */
#define CXR_N_SPLITS 3
extern const char *const cxr_split_names[CXR_N_SPLITS];
/* The index of split name s in cxr_split_names, or -1 (also for NULL). */
int cxr_split_index(const char *s);

/* Register the zstd filter with this process's HDF5 library (idempotent, thread-safe).
 * Also turns off HDF5's automatic error printing (H5Eset_auto2(H5E_DEFAULT, NULL, NULL)):
 * store functions report HDF5's message through cxr_last_error() instead. The writer and
 * reader call it themselves. */
cxr_status cxr_zstd_filter_register(void);
/* The process-wide HDF5 setup, for every cxr HDF5 user (store, checkpoints) before its first
 * HDF5 call; cxr_zstd_filter_register is the same call. Beyond the above, it asks HDF5 not to
 * install its atexit cleanup, which crashes HDF5 1.10.8 after a failed H5Fclose (formats/h5.c
 * says how). Idempotent, thread-safe. Both settings are the process's: a host program that uses
 * HDF5 itself gets no automatic error printing on the default error stack, and its own files
 * are not closed for it at exit (a file it leaves open is not flushed: it closes its files
 * itself, as h5py does). */
cxr_status cxr_hdf5_init(void);
/* Set `code` with "<file>: <message> (HDF5: <innermost HDF5 error, tidied>)", e.g. "...: cannot
 * write X (HDF5: file write failed: No space left on device)", and clear HDF5's error stack.
 * CXR_E_NOMEM instead of `code` when HDF5 could not allocate memory; CXR_E_IO with "<file>: in
 * use by another process, which holds it open for writing (HDF5's file lock) ..." instead of the
 * message when HDF5 could not lock the file because another process holds it. */
cxr_status cxr_hdf5_error(cxr_status code, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---------------------------------------------------------------- raw chunk codec */
/* Encode a shard: images[n][size][size] (n <= shard; the rest of the chunk is zero padding)
 * -> byte shuffle (4-byte elements) -> one zstd frame with content size -> 4-byte LE
 * Fletcher32 of the compressed bytes appended. *out is (re)allocated with malloc as needed and
 * *out_cap updated; *out_size receives the chunk's byte size. */
cxr_status cxr_chunk_encode(uint8_t **out, size_t *out_cap, size_t *out_size, const float *images,
                            int n, int shard, int size, int level);
/* The same, in two steps, for a producer that shuffles each image into place while it is still
 * in cache (cxr-pack): a shuffled chunk is cxr_chunk_bytes(shard, size) bytes, plane j (byte j
 * of every float) at j*shard*size*size, image slot k at k*size*size inside each plane.
 * cxr_chunk_shuffle_image puts one image into a slot; cxr_chunk_move_image moves a slot
 * (between chunks or within one; the two slots must not be the same memory);
 * cxr_chunk_encode_shuffled zeroes the slots [n, clean_from) in place and encodes: the output
 * equals cxr_chunk_encode's for the same images. The caller vouches that the slots from
 * clean_from on are zero already (never written since the buffer came zeroed from the
 * system): pass shard when it does not know. */
size_t cxr_chunk_bytes(int shard, int size);
/* The most bytes an encoded chunk can take (zstd's bound + the checksum): an *out buffer of
 * this capacity is never reallocated by the encoders. */
size_t cxr_chunk_encoded_max(int shard, int size);
void cxr_chunk_shuffle_image(uint8_t *shuf, int shard, int size, int slot, const float *image);
void cxr_chunk_move_image(uint8_t *dst, int to, const uint8_t *src, int from, int shard, int size);
cxr_status cxr_chunk_encode_shuffled(uint8_t **out, size_t *out_cap, size_t *out_size,
                                     uint8_t *shuf, int n, int clean_from, int shard, int size,
                                     int level);
/* Decode a raw chunk (as stored on disk) holding n images (1 <= n <= shard; the rows past n,
 * a last chunk's padding, are decoded but not looked at, as specs/store.md asks of a raw
 * reader) into out[shard*size*size]: verify the Fletcher32, zstd-decompress into scratch
 * (>= shard*size*size*4 bytes), unshuffle into out, check that the n images' values are pixels
 * (cxr_first_bad_pixel). CXR_E_CHECKSUM on a bad checksum, CXR_E_FORMAT on a bad frame or size
 * (out untouched) or a bad pixel (out holds the chunk: cxr_first_bad_pixel finds it). */
cxr_status cxr_chunk_decode(float *out, void *scratch, const uint8_t *raw, size_t raw_size,
                            int shard, int size, int n);
/* The image (0-based in its chunk) whose bad pixel (cxr_first_bad_pixel) made this thread's
 * last cxr_chunk_decode fail; -1 when that call failed otherwise or succeeded. Tells a bad
 * value from a bad frame, after which out holds whatever it held before. */
int64_t cxr_chunk_nonfinite_image(void);
/* Put this thread's decoder back to its state between calls, after a cxr_chunk_decode that was
 * abandoned midway (a SIGBUS from its mapped input, cxr_guard_mapped_read). */
void cxr_chunk_decode_abandoned(void);
/* Index of the first NaN or infinity among v[0..n), or -1. */
int64_t cxr_first_nonfinite(const float *v, size_t n);
/* Every normalization writes pixels in [-1, 1] (minmax) or [0, 255] (zscore255, none): a store
 * value of magnitude CXR_PIXEL_LIMIT or more, like NaN or an infinity, is damage, not data. */
#define CXR_PIXEL_LIMIT 512.0f
/* Index of the first value among v[0..n) that no store holds (NaN, infinite, or of magnitude
 * CXR_PIXEL_LIMIT or more), or -1; cxr_bad_pixel_kind(v[i]) names it for a message:
 * "non-finite pixel" or "out-of-range pixel". */
int64_t cxr_first_bad_pixel(const float *v, size_t n);
const char *cxr_bad_pixel_kind(float x);
/* What to add after such a value in a message: why a finite one is refused, else "". */
const char *cxr_bad_pixel_note(float x);
/* HDF5's Fletcher32 over `len` bytes, as H5Z_FILTER_FLETCHER32 computes it. */
uint32_t cxr_fletcher32(const uint8_t *data, size_t len);
/* 1 when a stored chunk's bytes (raw_size >= 5: the frame, then its little-endian Fletcher32)
 * match their sum; *stored and *computed for a message. */
int cxr_chunk_sum_ok(const uint8_t *raw, size_t raw_size, uint32_t *stored, uint32_t *computed);

/* ---------------------------------------------------------------- writer */
typedef struct {
    int shard;                /* images per chunk (default 64) */
    int zstd_level;           /* default CXR_STORE_ZSTD_LEVEL */
    cxr_preprocess_params pp; /* recorded as attributes */
    const char *source;       /* provenance: input root or manifest path */
    const char *tool_version; /* e.g. "cxr-pack 0.1.0" */
} cxr_store_options;
/* Shard 64, CXR_STORE_ZSTD_LEVEL, cxr_preprocess_defaults, empty source and tool_version. */
void cxr_store_options_defaults(cxr_store_options *o);

typedef struct cxr_store_writer cxr_store_writer;

/* Start a store that will appear at `path` only when cxr_store_writer_finish succeeds; until
 * then it is written to a temporary file beside it (see cxr_store_writer_temp_path).
 * Before any file exists: CXR_E_ARG for options a reader would refuse (the class count, a
 * class without a name, shard, zstd level, or preprocessing that cxr_preprocess_check refuses),
 * CXR_E_FORMAT for class names a store cannot hold (longer than CXR_CLASS_NAME_MAX bytes, or two
 * stored alike): they come from the data (folder names, a manifest's labels), and cxr-pack exits
 * 3 on them. */
cxr_status cxr_store_writer_create(cxr_store_writer **out, const char *path,
                                   const cxr_store_options *opt, int n_classes,
                                   const char *const *class_names);
/* The temporary file being written (for a signal handler to unlink). */
const char *cxr_store_writer_temp_path(const cxr_store_writer *w);
/* Begin a split ("train", "test", "val") of at most n_images images (an upper bound: inputs
 * may be skipped while packing). The images dataset is extendible along axis 0 and
 * cxr_store_writer_end_split sets its extent to the number of images actually put. */
cxr_status cxr_store_writer_begin_split(cxr_store_writer *w, const char *split, int64_t n_images);
/* Write the next chunk of the current split, in order (shard index 0,1,2...): raw is the output
 * of cxr_chunk_encode for the n images it holds, labels/paths describe those images. */
cxr_status cxr_store_writer_put_chunk(cxr_store_writer *w, const uint8_t *raw, size_t raw_size,
                                      int n, const int32_t *labels, const char *const *paths);
/* Optional, before end_split: the split's per-image hashes (specs/store.md, "Duplicates"),
 * n = the images put so far, written as the datasets file_hash and pixel_hash (uint64 [n]). */
cxr_status cxr_store_writer_put_hashes(cxr_store_writer *w, const uint64_t *file_hash,
                                       const uint64_t *pixel_hash, int64_t n);
/* Finish the current split: labels, paths, class_counts, shard_index. */
cxr_status cxr_store_writer_end_split(cxr_store_writer *w);
/* Record a skipped input (path relative to the source, reason) for split (may be ""). */
cxr_status cxr_store_writer_add_skipped(cxr_store_writer *w, const char *split, const char *path,
                                        const char *reason);
/* Set a free-form provenance string attribute on the root (e.g. "command_line"). */
cxr_status cxr_store_writer_set_attr(cxr_store_writer *w, const char *name, const char *value);
/* Write class weights and remaining metadata, close the temporary file and fsync it: every
 * byte is then on disk (a full disk or a failing device shows here), nothing is in place yet.
 * Optional before finish, for a caller that puts a companion file in place between the two. */
cxr_status cxr_store_writer_close(cxr_store_writer *w);
/* cxr_store_writer_close unless done, then rename into place. */
cxr_status cxr_store_writer_finish(cxr_store_writer *w);
/* Free the writer; if not finished, close and delete the temporary file. NULL-safe. */
void cxr_store_writer_destroy(cxr_store_writer *w);

/* ---------------------------------------------------------------- reader */
typedef struct cxr_store cxr_store;

typedef struct {
    int64_t n;                    /* images */
    int64_t n_shards;             /* chunks = ceil(n / shard) */
    int shard;                    /* images per chunk */
    int size;                     /* image side */
    const int32_t *labels;        /* [n], owned by the store */
    const int64_t *class_counts;  /* [n_classes] */
    const uint64_t *chunk_offset; /* [n_shards] byte offset in the file */
    const uint64_t *chunk_size;   /* [n_shards] bytes on disk */
} cxr_split_info;

/* Refuse (CXR_E_ARG, nothing touched) an output `out` that a tool writing `what` ("a store",
 * "a weights file", ...) would replace while it is another kind of cxr file: an HDF5 file whose
 * root 'format' attribute is none of allowed[0..n_allowed) (a store written over a trained
 * model), or one without that attribute (another program's HDF5 file). A file that is absent,
 * not HDF5 or damaged (HDF5 cannot open it, or its 'format' cannot be read) passes: replacing
 * it is what a run that failed before wants. */
cxr_status cxr_output_format_check(const char *opt, const char *out, const char *const *allowed,
                                   int n_allowed, const char *what);

/* Open and validate (format name/version, shapes, labels in range, index consistent). */
cxr_status cxr_store_open(cxr_store **out, const char *path);
void cxr_store_close(cxr_store *s);             /* NULL-safe */
const char *cxr_store_path(const cxr_store *s); /* as given to cxr_store_open */
/* A read-only descriptor of the file cxr_store_open validated (owned by the store): raw readers
 * map this, not the path, which may name another file by then. */
int cxr_store_fd(const cxr_store *s);
int cxr_store_n_classes(const cxr_store *s);
const char *cxr_store_class_name(const cxr_store *s, int c); /* 0 <= c < n_classes; owned */
const float *cxr_store_class_weights(const cxr_store *s);    /* [n_classes] */
/* The preprocessing recorded in the store's attributes. */
const cxr_preprocess_params *cxr_store_preprocess(const cxr_store *s);
/* 1 if the split exists. */
int cxr_store_has_split(const cxr_store *s, const char *split);
/* Split metadata; CXR_E_FORMAT naming the split if absent. */
cxr_status cxr_store_split(const cxr_store *s, const char *split, cxr_split_info *info);
/* Source-relative path of image i of a split (owned by the store). */
const char *cxr_store_image_path(const cxr_store *s, const char *split, int64_t i);
/* Read image i through HDF5 (filters applied by HDF5) into out[size*size]. */
cxr_status cxr_store_read_image(cxr_store *s, const char *split, int64_t i, float *out);
/* Read chunk k through HDF5 into out[shard*size*size] (for checking the raw decoder). */
cxr_status cxr_store_read_chunk_hdf5(cxr_store *s, const char *split, int64_t k, float *out);
/* The split's pixel_hash dataset (specs/store.md, "Duplicates": XXH3-64 of each image as stored)
 * into *out, malloc'd [n] (free it); *out NULL and CXR_OK when the store has none (packed with
 * --no-duplicate-check, or by an older cxr-pack). CXR_E_FORMAT when it is there but malformed. */
cxr_status cxr_store_read_pixel_hashes(cxr_store *s, const char *split, uint64_t **out);

#ifdef __cplusplus
}
#endif
#endif
