/* cxr_images.h: JPEG images outside a store, for cxr-predict: files and folders turned into one
 * sorted list of image files (formats/scan.c, with cxr-pack's folder rules), and batches of
 * them decoded on OpenMP threads with cxr_decode_file, the read + preprocessing cxr-pack applies
 * to each input (formats/images.c). The window of decoded images is the caller's: memory is one
 * batch, whatever the number of files.
 */
#ifndef CXR_IMAGES_H
#define CXR_IMAGES_H

#include <stddef.h>
#include <stdint.h>

#include "cxr_preprocess.h"
#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A growing list of image paths (each malloc'd). Zero it before the first use. */
typedef struct {
    char **paths;
    int64_t n, cap;
} cxr_image_list;

/* Called for each entry a walk leaves out, with the path as reached and the reason. */
typedef void (*cxr_image_skip_fn)(void *ctx, const char *path, const char *reason);

/* Append `path`: a folder is walked recursively, a regular file (of any name) is appended as
 * given (the decoder reports what it cannot read), a path that cannot be stat'ed ("cannot open:
 * <strerror>") and anything else (a FIFO, a device) are reported through skip, never opened. In a
 * folder, entries come in bytewise order of their names (files and folders interleaved, depth
 * first); hidden entries (leading '.') and system files (Thumbs.db, desktop.ini) are ignored as
 * cxr-pack does; symlinks are followed; files named *.jpg / *.jpeg (any case) are taken, other
 * regular files ignored. Reported through skip (may be NULL) and left out: an entry that cannot be
 * stat'ed (a dangling link), a *.jpg that is not a regular file, a folder that cannot be read, a
 * folder that is one of its own ancestors (a symlink loop; st_dev + st_ino), and a folder searched
 * already in this walk (reached again through another link: searched once). An image is listed
 * under each name it is reached by (a file given twice, a hard link). Returns CXR_OK or
 * CXR_E_NOMEM; *skipped (may be NULL) is increased by the entries reported. */
cxr_status cxr_image_list_add(cxr_image_list *l, const char *path, cxr_image_skip_fn skip,
                              void *ctx, int64_t *skipped);
/* cxr_image_list_add of paths[0..n) in turn, as one walk: a folder searched for one path is not
 * searched again for a later one (the same folder given twice, or one inside another, or
 * reached through a link), and is reported so. */
cxr_status cxr_image_list_add_paths(cxr_image_list *l, const char *const *paths, int n,
                                    cxr_image_skip_fn skip, void *ctx, int64_t *skipped);
/* Free the paths and the array; leaves *l zeroed. */
void cxr_image_list_free(cxr_image_list *l);

/* One decoder per thread. */
typedef struct cxr_image_decoder cxr_image_decoder;
/* CXR_E_NOMEM, CXR_E_ARG (threads < 1). */
cxr_status cxr_image_decoder_create(cxr_image_decoder **out, int threads);
void cxr_image_decoder_destroy(cxr_image_decoder *d); /* NULL-safe */

/* Decode paths[0..n) on the decoder's threads (cxr_decode_file each, dynamic schedule) into
 * out + i * p->size^2. st[i] gets each image's status; for a failure, reasons + i * reason_cap
 * gets the reason (without the file name). Any number of images may fail; nothing else can. */
void cxr_image_decode(cxr_image_decoder *d, const cxr_preprocess_params *p,
                      const char *const *paths, int n, float *out, cxr_status *st, char *reasons,
                      size_t reason_cap);

#ifdef __cplusplus
}
#endif
#endif
