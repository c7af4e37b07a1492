/* pack_dups.h (internal to formats/pack*.c): per-image hashes and duplicate detection for
 * cxr_pack_run (specs/store.md, "Duplicates").
 *
 * Each item of the plan gets two XXH3-64 hashes (seed 0; libxxhash's header, inlined): of its
 * file bytes (exact copies, whatever their names) and of its preprocessed image, the S x S
 * float32 tensor as stored (copies that decode identically: metadata added or stripped, a
 * lossless re-encode such as jpegtran's progressive). A re-encode at another quality changes
 * pixels and is not found. cxr_dups_hash is thread-safe for distinct items; everything else
 * is for the calling thread.
 */
#ifndef CXR_PACK_DUPS_H
#define CXR_PACK_DUPS_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_pack.h"
#include "cxr_tmpfile.h"

typedef struct cxr_dups cxr_dups;

/* For the plan's items (none hashed yet). NULL when out of memory. */
cxr_dups *cxr_dups_create(const cxr_pack_plan *plan);
void cxr_dups_destroy(cxr_dups *d); /* NULL-safe */

/* Hash item `item` of split `split`: its file bytes, and its preprocessed image (pixels floats;
 * img NULL when it did not decode: the item is then not hashed). */
void cxr_dups_hash(cxr_dups *d, int split, int64_t item, const uint8_t *file, size_t len,
                   const float *img, size_t pixels);

/* Before the survivors of `split` are placed, with drop != 0: index the hashed items of the
 * later splits (which have priority) and forget the previous split's. */
cxr_status cxr_dups_begin_split(cxr_dups *d, int split);
/* A survivor of `split` (hashed), in plan order. With drop: 1 when it is to be dropped (a copy
 * is in a later split, or earlier in this one; never in the split named "test"), with the
 * reason ("duplicate of test/X/y.jpeg (identical file)") in reason; else 0. Without drop, 0. */
int cxr_dups_drop(cxr_dups *d, int split, int64_t item, int drop, char *reason, size_t cap);
/* Record that survivor `item` of `split` is image `pos` of the split in the store. */
void cxr_dups_place(cxr_dups *d, int split, int64_t item, int64_t pos);
/* The hashes of the split's n stored images, in store order: which 0 = file, 1 = pixels. */
const uint64_t *cxr_dups_stored(const cxr_dups *d, int split, int which, int64_t *n);

/* Count the groups over every hashed item (packed or dropped) into sum->dup_file/dup_pixels. */
cxr_status cxr_dups_count(cxr_dups *d, cxr_pack_summary *sum);
/* Write the TSV report (header pixel_hash, file_hash, split, path, status; one line per member
 * of each group of identical pixels, groups in plan order of their first member) into a
 * temporary of `path` (*tf, created here; the caller commits it once the store is in place, and
 * discards it in any case). CXR_E_IO naming the file. */
cxr_status cxr_dups_write_report(cxr_dups *d, const char *path, cxr_tmpfile *tf);

#endif
