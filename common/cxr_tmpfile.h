/* cxr_tmpfile.h: the one way cxr writes an output file: into a temporary beside it, renamed
 * into place when complete.
 *
 * The temporary is ".<name>.cxr-tmp-<pid>-<16 hex digits from getrandom>" in the output's
 * folder, created with O_CREAT | O_EXCL | O_NOFOLLOW: a name nobody can predict, and never a
 * file or symlink someone planted. A run that dies without cleaning up (kill -9, a crash, a
 * power cut) leaves its temporary behind; the next cxr_tmpfile_create for the same output
 * removes it once its owner is provably gone: the pid in the name is not a running process,
 * no process holds a lock on the file (HDF5 holds an flock on a file it writes; the other
 * writers ask for one here) and it was last written to more than CXR_TMPFILE_STALE_S ago (a
 * writer in another pid namespace whose HDF5 takes no lock, HDF5_USE_FILE_LOCKING=FALSE as on
 * network file systems, is seen by none of the other two). Only regular files owned by the
 * calling user are removed.
 *
 * A file that exists and that this user may not write to (write-protected, access(2) W_OK:
 * root may) is not replaced: refused before a temporary is made, so a made-read-only result is
 * never lost to a rerun. Nor is another user's file in a sticky folder (/tmp's mode 1777) that
 * is not this user's either: the rename would fail with EPERM after all the work.
 *
 * Not thread-safe per object; distinct objects may be used from distinct threads.
 */
#ifndef CXR_TMPFILE_H
#define CXR_TMPFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Seconds a temporary must have gone unwritten before a sweep may remove it. */
#define CXR_TMPFILE_STALE_S 900

typedef struct {
    char *path;   /* the temporary (malloc'd), NULL once committed or discarded */
    char *target; /* the output path (malloc'd) */
    int fd;       /* read-write descriptor on the temporary, -1 once closed */
    int held;     /* a descriptor on the file the temporary will replace, holding its lock
                     until then (cxr_log_open: an earlier log stays locked and whole until the run
                     that replaces it commits), closed at commit or discard; -1 for none */
} cxr_tmpfile;

/* The empty state: no temporary (path and target NULL, fd and held -1), what cxr_tmpfile_discard
 * leaves and what the other functions leave on failure; discarding it does nothing. A struct
 * about to be discarded must be in it or made by cxr_tmpfile_create: a zeroed one holds fd 0,
 * which discard would close. */
void cxr_tmpfile_init(cxr_tmpfile *t);

/* CXR_E_IO naming `target` when it exists and this user may not write to it (see above), errno
 * EACCES (write-protected) or EPERM (another user's file in a sticky folder). */
cxr_status cxr_tmpfile_check_writable(const char *target);

/* Create the temporary for `target` (mode 0666 minus the umask; at commit, the mode, and as far
 * as this user may, the owner and group of the file it replaces) after refusing a
 * write-protected target (cxr_tmpfile_check_writable) and removing stale temporaries
 * (cxr_tmpfile_sweep). A target that is a symbolic
 * link is written through: t->target becomes the file it resolves to (realpath), replaced
 * beside itself; a link that does not resolve is CXR_E_IO. With lock != 0 an exclusive flock is
 * held on t->fd until commit or discard; pass 0 for a file HDF5 will write (HDF5 takes its own
 * flock, which ours would block). On error nothing is created and *t is empty: CXR_E_IO naming the
 * folder and the reason, CXR_E_NOMEM. */
cxr_status cxr_tmpfile_create(cxr_tmpfile *t, const char *target, int lock);

/* The file an output path is written to: *resolved = realpath(target) (malloc'd) when target
 * is a symbolic link, else NULL (target itself). A link that does not resolve is CXR_E_IO
 * naming it and the reason. */
cxr_status cxr_tmpfile_resolve(const char *target, char **resolved);

/* A name that opens this very temporary even if its directory entry was replaced since:
 * "/proc/self/fd/<fd>" when /proc is mounted, else t->path. Written into buf. */
const char *cxr_tmpfile_open_name(const cxr_tmpfile *t, char *buf, size_t cap);

/* 1 if `fd` refers to the same file as the temporary (same device and inode), else 0. */
int cxr_tmpfile_same_file(const cxr_tmpfile *t, int fd);

/* Make the temporary's bytes durable (fsync) without renaming it: for a writer that must know
 * its output is safe before it commits another file. Writes through other descriptors must be
 * finished first. CXR_E_IO naming the file and the reason. */
cxr_status cxr_tmpfile_sync(cxr_tmpfile *t);

/* Make the temporary the output: fsync, close, rename onto target, fsync the folder (best
 * effort). Writes through other descriptors (HDF5's) must be finished and closed first.
 * CXR_E_IO naming the file and the reason; on error the temporary is still there (discard
 * removes it). */
cxr_status cxr_tmpfile_commit(cxr_tmpfile *t);

/* For writers through stdio: a stream on the temporary (mode "w" or "wb") with a descriptor of
 * its own (t->fd stays open for the commit), and, once everything is written, the stream's
 * flush and close checked and the temporary committed (*f becomes NULL either way). NULL /
 * CXR_E_IO naming the temporary and the reason. */
FILE *cxr_tmpfile_stream(cxr_tmpfile *t, const char *mode);
cxr_status cxr_tmpfile_commit_stream(cxr_tmpfile *t, FILE **f);

/* Remove the temporary (if not committed) and free *t. Idempotent, NULL-safe. */
void cxr_tmpfile_discard(cxr_tmpfile *t);

/* A second name for the file at `target` (no symbolic link resolved: the caller's file): a hard
 * link named as one of its temporaries (so a sweep removes it once stale), malloc'd. NULL when
 * there is no file there, or no link can be made (no hard links on that file system). For a
 * writer that replaces two files and puts the first back when the second fails. */
char *cxr_tmpfile_link(const char *target);

/* Remove the stale temporaries of `target` (see above). Returns how many were removed. */
int cxr_tmpfile_sweep(const char *target);

/* The temporaries of `target` (beside the file a symbolic link names) that a sweep keeps only
 * for their age: this user's, of a process not running here, written to less than
 * CXR_TMPFILE_STALE_S ago (a run killed a moment ago: a 1.2 GB store's worth at 256 px). How
 * many; *bytes their size, `first` (cap bytes) the first one's path. For a tool's note once its
 * own output is in place. */
int cxr_tmpfile_leftovers(const char *target, int64_t *bytes, char *first, size_t cap);
/* Those, said on stderr as "TOOL: note: PATH (N MiB), left by a run that ended before ... "
 * (nothing when there are none): for a tool whose own output is in place (a walk found a killed
 * pack's 134 MB beside the store a rerun wrote, unmentioned). */
void cxr_tmpfile_note_leftovers(const char *tool, const char *target);

#ifdef __cplusplus
}
#endif
#endif
