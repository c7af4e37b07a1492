/* h5.c: HDF5 plumbing shared by the store and checkpoints (h5_internal.h), cxr_hdf5_init,
 * cxr_hdf5_error, and the split names of cxr_store.h. Every HDF5 function here runs on the
 * single HDF5 thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxr_files.h"
#include "reservation.h"
#include "store_internal.h"
#include "zstd_filter.h"

const char *const cxr_split_names[CXR_N_SPLITS] = { "train", "val", "test" };

int cxr_split_index(const char *s)
{
    for (int i = 0; s && i < CXR_N_SPLITS; i++)
        if (strcmp(s, cxr_split_names[i]) == 0) return i;
    return -1;
}

static pthread_once_t h5_once = PTHREAD_ONCE_INIT;
static herr_t h5_init_rc = -1;

static void h5_init_once(void)
{
    /* No exit-time cleanup: when an H5Fclose fails (flushing metadata to a full disk, say),
     * HDF5 1.10.8 leaves the file's ID registered over a file it has already torn down, and
     * its atexit handler (H5_term_library -> H5F__close_cb) then crashes the process after our
     * error message (seen: cxr-pack exits with SIGSEGV instead of 4 on ENOSPC and EFBIG). Every
     * file we open we close, so the handler has nothing else to do. Effective only before any
     * other HDF5 call, hence first here, and the tools reach HDF5 through this function. */
    H5dont_atexit();
    /* Library code never prints: HDF5's error stack is read back by cxr_hdf5_error instead. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    h5_init_rc = H5Zregister(&cxr_h5z_zstd_class);
}

cxr_status cxr_hdf5_init(void)
{
    pthread_once(&h5_once, h5_init_once);
    if (h5_init_rc < 0)
        return cxr_set_error(CXR_E_HDF5, "cannot register the zstd HDF5 filter (id %d)",
                             CXR_ZSTD_FILTER_ID);
    return CXR_OK;
}

cxr_status cxr_zstd_filter_register(void) { return cxr_hdf5_init(); }

typedef struct {
    char desc[256]; /* the innermost entry's description */
    int nomem;      /* an entry says HDF5 could not allocate memory */
    int held;       /* HDF5's file lock was refused: another process holds the file */
    int marked;     /* the file is marked open for writing (its superblock's status flags) */
} h5_walk;

/* Whether entry e is HDF5's file lock refused because another process holds a conflicting
 * lock (one that has the file open for writing: HDF5 locks exclusively to write, shared to
 * read). The minor code names the lock; the errno, which HDF5 gives only inside the driver's
 * description ("unable to lock file, errno = 11, error message = ..."), tells a held lock
 * (EWOULDBLOCK) from a file system without locks (ENOSYS), which is no one's doing. Without an
 * errno there (another HDF5's wording), the lock refused is taken as held. */
static int lock_held(const H5E_error2_t *e)
{
    if (e->min_num != H5E_CANTLOCKFILE) return 0;
    const char *p = e->desc ? strstr(e->desc, "errno = ") : NULL;
    if (!p) return 1;
    const long err = strtol(p + strlen("errno = "), NULL, 10);
    return err == EWOULDBLOCK || err == EAGAIN;
}

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    (void)n;
    h5_walk *w = data;
    if (!e) return 0;
    /* Walking downward, the last entry seen is the innermost (most specific) one. */
    if (e->desc) snprintf(w->desc, sizeof w->desc, "%s", e->desc);
    if ((e->maj_num == H5E_RESOURCE && e->min_num == H5E_NOSPACE) ||
        (e->desc && strstr(e->desc, "memory allocation failed")))
        w->nomem = 1;
    if (lock_held(e)) w->held = 1;
    /* HDF5's wording for a file whose writer has it open without a lock, or ended without
     * closing it (H5Fsuper.c) */
    if (e->desc && strstr(e->desc, "already open for write")) w->marked = 1;
    return 0;
}

/* HDF5's file-driver messages run long ("file write failed: time = <date>\n, filename = ...,
 * errno = 28, error message = 'No space left on device', buf = 0x..., ..."): keep the part
 * before the first ':' and the quoted system message, "file write failed: No space left on
 * device". Other descriptions are kept as they are. */
static void tidy_h5_desc(char *d, size_t cap)
{
    const char *m = strstr(d, "error message = '");
    char *colon = strchr(d, ':');
    if (!m || !colon) return;
    m += strlen("error message = '");
    const char *end = strchr(m, '\'');
    int mlen = end ? (int)(end - m) : (int)strlen(m);
    char out[256];
    snprintf(out, sizeof out, "%.*s: %.*s", (int)(colon - d), d, mlen, m);
    snprintf(d, cap, "%s", out);
}

cxr_status cxr_hdf5_error(cxr_status code, const char *file, const char *fmt, ...)
{
    char msg[512];
    h5_walk w = { "", 0, 0, 0 };
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    H5Eclear2(H5E_DEFAULT);
    tidy_h5_desc(w.desc, sizeof w.desc);
    /* HDF5 out of memory is the machine's failure, not a bad file's nor the disk's: the caller's
     * code (CXR_E_FORMAT: "not a valid checkpoint", CXR_E_IO) would blame those */
    if (w.nomem) code = CXR_E_NOMEM;
    /* Not the file's fault (the caller's "corrupt or not a cxr checkpoint" blamed it) but
     * another program's, which has it open for writing (h5py, a viewer, a cxr-train run): an
     * I/O error, gone once that program closes the file. Not HDF5_USE_FILE_LOCKING=FALSE: read
     * while another process writes it, the file may be read half-written. */
    if (w.held)
        return cxr_set_error(CXR_E_IO,
                             "%s: in use by another process, which holds it open for writing "
                             "(HDF5's file lock): close it there, or wait for that program to "
                             "end, and try again",
                             file);
    /* nor here, where the bytes may be whole: a program writing it now (its lock off), or one
     * that ended without closing it, whose mark outlives it */
    if (w.marked)
        return cxr_set_error(CXR_E_IO,
                             "%s: marked as open for writing by another program (one writing "
                             "it now, or one that ended without closing it): once no program "
                             "has it open, `h5clear -s %s` clears the mark",
                             file, file);
    if (w.desc[0]) return cxr_set_error(code, "%s: %s (HDF5: %s)", file, msg, w.desc);
    return cxr_set_error(code, "%s: %s", file, msg);
}


hid_t cxr_h5_fapl(void)
{
    hid_t p = H5Pcreate(H5P_FILE_ACCESS);
    if (p >= 0 && (H5Pset_libver_bounds(p, H5F_LIBVER_V110, H5F_LIBVER_V110) < 0 ||
                   H5Pset_fclose_degree(p, H5F_CLOSE_STRONG) < 0)) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

cxr_status cxr_output_format_check(const char *opt, const char *out, const char *const *allowed,
                                   int n_allowed, const char *what)
{
    struct stat sb;
    if (stat(out, &sb) != 0 || !S_ISREG(sb.st_mode)) return CXR_OK;
    cxr_status st = cxr_output_not_log(opt, out, what); /* a log is no HDF5 file: checked apart */
    if (st == CXR_OK) st = cxr_hdf5_init();
    if (st != CXR_OK) return st;
    hid_t f = -1;
    if (cxr_h5_open(out, "file", &f) != CXR_OK) /* not HDF5, or damaged: replaced as before */
        return CXR_OK;
    char *fmt = NULL;
    const int r = cxr_h5_attr_get_str(f, "format", &fmt);
    H5Fclose(f);
    if (r < 0) return CXR_OK; /* a damaged attribute: as a damaged file */
    int ok = 0;
    for (int i = 0; r == 1 && i < n_allowed; i++) ok |= strcmp(fmt, allowed[i]) == 0;
    if (!ok && r == 1)
        st = cxr_set_error(CXR_E_ARG,
                           "%s %s: exists and is an HDF5 file of format '%s', not %s: not "
                           "overwritten; remove it or give another name",
                           opt, out, fmt, what);
    else if (!ok)
        st = cxr_set_error(CXR_E_ARG,
                           "%s %s: exists and is an HDF5 file without a 'format' attribute "
                           "(another program's), not %s: not overwritten; remove it or give "
                           "another name",
                           opt, out, what);
    free(fmt);
    return st;
}

cxr_status cxr_h5_create(cxr_tmpfile *t, const char *target, hid_t fcpl, hid_t fapl, hid_t *file)
{
    cxr_status st = CXR_OK;
    char *name = NULL;
    hid_t f = -1;
    *file = -1;
    CXR_TRY(cxr_hdf5_init());
    CXR_TRY(cxr_tmpfile_create(t, target, 0));
    size_t cap = strlen(t->path) + 64;
    if (!(name = malloc(cap))) CXR_THROW(CXR_E_NOMEM, "%s: out of memory", target);
    f = H5Fcreate(cxr_tmpfile_open_name(t, name, cap), H5F_ACC_TRUNC, fcpl, fapl);
    if (f < 0) {
        st = cxr_hdf5_error(CXR_E_IO, target, "cannot create its temporary file %s", t->path);
        goto bail;
    }
    void *h = NULL;
    if (H5Fget_vfd_handle(f, fapl, &h) < 0 || !h || !cxr_tmpfile_same_file(t, *(int *)h)) {
        H5Eclear2(H5E_DEFAULT);
        CXR_THROW(CXR_E_IO, "%s: HDF5 did not open the temporary file %s it was given", target,
                  t->path);
    }
    *file = f;
    f = -1;
bail:
    if (f >= 0) H5Fclose(f);
    if (st != CXR_OK) cxr_tmpfile_discard(t);
    free(name);
    return st;
}

cxr_status cxr_h5_open(const char *path, const char *what, hid_t *file)
{
    cxr_status st = CXR_OK;
    hid_t fapl = -1;
    struct stat sb;
    *file = -1;
    CXR_TRY(cxr_hdf5_init());
    /* Opened by us first: a missing or unreadable file is an I/O error, and anything but a
     * regular file (a FIFO would block HDF5's open) is refused before HDF5 sees it. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) CXR_THROW(CXR_E_IO, "%s: cannot open %s: %s", path, what, strerror(errno));
    int reg = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    /* the name cxr-train reserves for its model until the first save holds one line */
    static const char reserved[] = CXR_RESERVATION_HEAD;
    char line[700] = "";
    const ssize_t got = reg ? pread(fd, line, sizeof line - 1, 0) : -1;
    const int is_reserved =
        got >= (ssize_t)sizeof reserved - 1 && memcmp(line, reserved, sizeof reserved - 1) == 0;
    close(fd);
    if (!reg) CXR_THROW(CXR_E_IO, "%s: cannot open %s: not a regular file", path, what);
    if (is_reserved && cxr_reservation_gone(line)) /* (line: NUL-terminated by its zeros) */
        CXR_THROW(CXR_E_FORMAT,
                  "%s: not a %s: the name a cxr-train run (pid %ld) reserved for its model, "
                  "but that run is no longer running (killed before its first save): the file "
                  "holds no model and can be removed",
                  path, what, strtol(line + sizeof reserved - 1, NULL, 10));
    if (is_reserved)
        CXR_THROW(CXR_E_FORMAT,
                  "%s: not a %s yet: the name a cxr-train run reserved for its model, which it "
                  "writes at the end of its first epoch",
                  path, what);
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        CXR_THROW(CXR_E_FORMAT, "%s: not an HDF5 file (not a cxr %s)", path, what);
    }
    /* HDF5 refuses to open a file twice in one process with two close degrees: the default
     * one (h5py's) lets a program hold the file open in h5py and here at once. */
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fclose_degree(fapl, H5F_CLOSE_DEFAULT) < 0) {
        st = cxr_hdf5_error(CXR_E_HDF5, path, "file access list");
        goto bail;
    }
    *file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (*file < 0) st = cxr_hdf5_error(CXR_E_FORMAT, path, "corrupt or not a cxr %s", what);
bail:
    if (fapl >= 0) H5Pclose(fapl);
    return st;
}

hid_t cxr_h5_dcpl_notime(void)
{
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p >= 0 && H5Pset_obj_track_times(p, 0) < 0) {
        H5Pclose(p);
        return -1;
    }
    return p;
}

#define CHECKED_CHUNK_BYTES (4u << 20)

herr_t cxr_h5_write_checked(hid_t loc, const char *name, hid_t ftype, hid_t mtype, int rank,
                            const hsize_t *dims, const void *data)
{
    herr_t rc = -1;
    hid_t dcpl = cxr_h5_dcpl_notime(), sp = H5Screate_simple(rank, dims, NULL), d = -1;
    hsize_t total = 1, row = H5Tget_size(ftype), chunk[8];
    if (dcpl < 0 || sp < 0 || rank < 1 || rank > 8 || row == 0) goto done;
    for (int i = 0; i < rank; i++) total *= dims[i];
    for (int i = 1; i < rank; i++) row *= dims[i];
    if (total == 0) {
        if (H5Pset_layout(dcpl, H5D_COMPACT) < 0) goto done;
    } else {
        chunk[0] = CHECKED_CHUNK_BYTES / row;
        if (chunk[0] < 1) chunk[0] = 1;
        if (chunk[0] > dims[0]) chunk[0] = dims[0];
        for (int i = 1; i < rank; i++) chunk[i] = dims[i];
        if (H5Pset_chunk(dcpl, rank, chunk) < 0 || H5Pset_fletcher32(dcpl) < 0) goto done;
    }
    d = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) goto done;
    rc = total ? H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
    /* a chunk that fits HDF5's chunk cache reaches the file at the close: its failure is the
     * write's (the chunk left a hole, which reads back as zeros that pass Fletcher32) */
    if (rc >= 0) {
        rc = H5Dclose(d);
        d = -1;
    }
done:;
    /* the closes below reset HDF5's error stack: keep the failure's for cxr_hdf5_error */
    hid_t es = rc < 0 ? H5Eget_current_stack() : -1;
    if (d >= 0) H5Dclose(d);
    if (sp >= 0) H5Sclose(sp);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (es >= 0) H5Eset_current_stack(es);
    return rc;
}

int cxr_h5_is_checked(hid_t d)
{
    hid_t p = H5Dget_create_plist(d);
    int ok = 0;
    if (p < 0) goto done;
    H5D_layout_t lay = H5Pget_layout(p);
    if (lay == H5D_COMPACT) ok = 1;
    /* Fletcher32 and nothing else: a compression filter on a small dataset could expand a
     * few bytes on disk into gigabytes on reading (a decompression bomb) */
    if (lay == H5D_CHUNKED && H5Pget_nfilters(p) == 1) {
        unsigned flags = 0, cfg = 0;
        size_t ncd = 0;
        ok = H5Pget_filter2(p, 0, &flags, &ncd, NULL, 0, NULL, &cfg) == H5Z_FILTER_FLETCHER32;
    }
    H5Pclose(p);
done:
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

int cxr_h5_is_complete(hid_t d)
{
    /* chunk by chunk: H5Dget_space_status compares bytes, and a checksummed chunk is larger
     * than its elements (every such dataset reads as partly allocated) */
    hsize_t dims[H5S_MAX_RANK], chunk[H5S_MAX_RANK], have = 0, want = 1;
    hid_t sp = H5Dget_space(d), p = H5Dget_create_plist(d);
    int ok = 0;
    const int rank = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
    if (rank < 0 || p < 0) goto done;
    const H5D_layout_t layout = H5Pget_layout(p);
    if (layout == H5D_CONTIGUOUS) { /* no checksum bytes: the status compares exactly */
        H5D_space_status_t status = H5D_SPACE_STATUS_ERROR;
        hssize_t n = H5Sget_simple_extent_npoints(sp);
        ok = n == 0 || (H5Dget_space_status(d, &status) >= 0 &&
                        status == H5D_SPACE_STATUS_ALLOCATED);
        goto done;
    }
    if (layout != H5D_CHUNKED) {
        ok = 1; /* compact: inside the object header, written with it */
        goto done;
    }
    if (H5Pget_chunk(p, rank, chunk) != rank) goto done;
    for (int i = 0; i < rank; i++) {
        if (chunk[i] == 0) goto done;
        want *= (dims[i] + chunk[i] - 1) / chunk[i];
    }
    ok = want == 0 || (H5Dget_num_chunks(d, sp, &have) >= 0 && have == want);
done:
    if (p >= 0) H5Pclose(p);
    if (sp >= 0) H5Sclose(sp);
    H5Eclear2(H5E_DEFAULT);
    return ok;
}

int cxr_h5_utf8_escape(const char *s, char **out)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    *out = NULL;
    for (size_t i = 0; u[i];) {
        int k = cxr_utf8_seq(u + i);
        i += k ? (size_t)k : 1;
        bad += !k;
    }
    if (!bad) return 0;
    char *o = malloc(strlen(s) + 3 * bad + 1);
    if (!o) return -1;
    *out = o;
    for (size_t i = 0; u[i];) {
        int k = cxr_utf8_seq(u + i);
        if (k) {
            memcpy(o, u + i, (size_t)k);
            o += k, i += (size_t)k;
        } else {
            o += sprintf(o, "\\x%02X", u[i]);
            i++;
        }
    }
    *o = 0;
    return 1;
}

/* A fixed-length UTF-8 string type of `size` bytes (caller closes). */
static hid_t fixed_str_type(size_t size, H5T_str_t pad)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    if (H5Tset_size(t, size) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0 ||
        H5Tset_strpad(t, pad) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

herr_t cxr_h5_write_strings(hid_t loc, const char *name, const char *const *v, int64_t n)
{
    herr_t rc = -1;
    hsize_t dims[1] = { (hsize_t)(n > 0 ? n : 0) };
    hid_t t = -1;
    const char **s = NULL;
    char **esc = NULL, *buf = NULL; /* escaped copies of the strings that are not valid UTF-8 */
    size_t len = 0;
    if (n > 0) {
        s = malloc((size_t)n * sizeof *s);
        esc = calloc((size_t)n, sizeof *esc);
        if (!s || !esc) goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        s[i] = v[i] ? v[i] : "";
        if (cxr_h5_utf8_escape(s[i], &esc[i]) < 0) goto done;
        if (esc[i]) s[i] = esc[i];
        size_t l = strlen(s[i]);
        if (l > len) len = l;
    }
    len++; /* the terminator: h5dump then prints each string up to its end */
    if (n > 0) {
        if (!(buf = calloc((size_t)n, len))) goto done;
        for (int64_t i = 0; i < n; i++) memcpy(buf + (size_t)i * len, s[i], strlen(s[i]));
    }
    t = fixed_str_type(len, H5T_STR_NULLTERM);
    if (t < 0) goto done;
    rc = cxr_h5_write_checked(loc, name, t, t, 1, dims, buf);
done:;
    hid_t es = rc < 0 ? H5Eget_current_stack() : -1; /* H5Tclose resets the error stack */
    if (t >= 0) H5Tclose(t);
    if (es >= 0) H5Eset_current_stack(es);
    if (esc)
        for (int64_t i = 0; i < n; i++) free(esc[i]);
    free(esc);
    free(s);
    free(buf);
    return rc;
}

cxr_status cxr_h5_read_strings(hid_t d, const char *file, const char *what, int64_t n, char ***out,
                               char **arena_out)
{
    cxr_status st = CXR_OK;
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    char **v = NULL, *arena = NULL, *buf = NULL;
    hsize_t dims[1] = { 0 };
    size_t len = ft >= 0 ? H5Tget_size(ft) : 0;
    if (ft < 0 || sp < 0 || H5Tget_class(ft) != H5T_STRING || H5Tis_variable_str(ft) != 0 ||
        len < 1 || len > (1u << 20))
        CXR_THROW(CXR_E_FORMAT, "%s: '%s' is not a dataset of fixed-length strings", file, what);
    if (H5Sget_simple_extent_ndims(sp) != 1 || H5Sget_simple_extent_dims(sp, dims, NULL) != 1 ||
        dims[0] != (hsize_t)n)
        CXR_THROW(CXR_E_FORMAT, "%s: '%s' does not hold %lld strings", file, what, (long long)n);
    if (!cxr_h5_is_checked(d))
        CXR_THROW(CXR_E_FORMAT, "%s: '%s' is stored without a checksum", file, what);
    if (!cxr_h5_is_complete(d)) CXR_THROW(CXR_E_FORMAT, "%s: '%s' " CXR_H5_INCOMPLETE, file, what);
    v = calloc((size_t)(n ? n : 1), sizeof *v);
    buf = malloc((size_t)(n ? n : 1) * len);
    if (!v || !buf) CXR_THROW(CXR_E_NOMEM, "%s: '%s'", file, what);
    if (n && H5Dread(d, ft, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = cxr_hdf5_error(CXR_E_FORMAT, file, "cannot read '%s'", what);
        goto bail;
    }
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) total += strnlen(buf + (size_t)i * len, len) + 1;
    if (!(arena = malloc(total ? total : 1))) CXR_THROW(CXR_E_NOMEM, "%s: '%s'", file, what);
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t l = strnlen(buf + (size_t)i * len, len);
        memcpy(arena + pos, buf + (size_t)i * len, l);
        arena[pos + l] = '\0';
        v[i] = arena + pos;
        pos += l + 1;
    }
    *out = v;
    *arena_out = arena;
    v = NULL;
    arena = NULL;
bail:
    free(v);
    free(arena);
    free(buf);
    if (ft >= 0) H5Tclose(ft);
    if (sp >= 0) H5Sclose(sp);
    H5Eclear2(H5E_DEFAULT);
    return st;
}

static herr_t attr_put(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *v)
{
    herr_t rc = -1;
    hid_t sp = H5Screate(H5S_SCALAR), a = -1;
    if (sp < 0) return -1;
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) goto done;
    a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto done;
    rc = H5Awrite(a, mtype, v);
done:
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    return rc;
}

herr_t cxr_h5_attr_put_str(hid_t obj, const char *name, const char *value)
{
    const char *v = value ? value : "";
    char *esc;
    if (cxr_h5_utf8_escape(v, &esc) < 0) return -1;
    if (esc) v = esc;
    hid_t t = fixed_str_type(strlen(v) + 1, H5T_STR_NULLTERM);
    herr_t rc = t < 0 ? -1 : attr_put(obj, name, t, t, v);
    if (t >= 0) H5Tclose(t);
    free(esc);
    return rc;
}

herr_t cxr_h5_attr_put_i32(hid_t obj, const char *name, int32_t value)
{
    return attr_put(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

herr_t cxr_h5_attr_put_i64(hid_t obj, const char *name, int64_t value)
{
    return attr_put(obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

herr_t cxr_h5_attr_put_f64(hid_t obj, const char *name, double value)
{
    return attr_put(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

/* Open a scalar (or single-element) attribute of the given class; -1/0/1 as documented. On an
 * HDF5 failure (a damaged file) HDF5's error stack is left for cxr_hdf5_error. */
static int attr_open(hid_t obj, const char *name, H5T_class_t cls, hid_t *a_out)
{
    htri_t ex = H5Aexists(obj, name);
    if (ex <= 0) return ex == 0 ? 0 : -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    int ok = t >= 0 && sp >= 0 && H5Tget_class(t) == cls && H5Sget_simple_extent_npoints(sp) == 1;
    /* a variable-length string would be read from the unchecked global heap */
    if (ok && cls == H5T_STRING) ok = H5Tis_variable_str(t) == 0;
    if (t >= 0) H5Tclose(t);
    if (sp >= 0) H5Sclose(sp);
    if (!ok) {
        H5Aclose(a);
        return -1;
    }
    *a_out = a;
    return 1;
}

/* Read attribute a (closed here) as mtype into v: 1, or -1 with HDF5's error stack kept. */
static int attr_read_close(hid_t a, hid_t mtype, void *v)
{
    herr_t rc = H5Aread(a, mtype, v);
    hid_t es = rc < 0 ? H5Eget_current_stack() : -1;
    H5Aclose(a);
    if (es >= 0) H5Eset_current_stack(es);
    return rc < 0 ? -1 : 1;
}

int cxr_h5_attr_get_str(hid_t obj, const char *name, char **out)
{
    hid_t a = -1;
    int r = attr_open(obj, name, H5T_STRING, &a);
    if (r <= 0) return r;
    hid_t ft = H5Aget_type(a);
    size_t len = ft >= 0 ? H5Tget_size(ft) : 0;
    if (len > CXR_H5_STR_MAX) {
        if (ft >= 0) H5Tclose(ft);
        H5Aclose(a);
        return -2;
    }
    char *v = len >= 1 ? calloc(len + 1, 1) : NULL;
    herr_t rc = v ? H5Aread(a, ft, v) : -1;
    hid_t es = rc < 0 ? H5Eget_current_stack() : -1;
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    if (es >= 0) H5Eset_current_stack(es);
    if (rc < 0) {
        free(v);
        return -1;
    }
    *out = v;
    return 1;
}

int cxr_h5_attr_get_i64(hid_t obj, const char *name, int64_t *out)
{
    hid_t a = -1;
    int r = attr_open(obj, name, H5T_INTEGER, &a);
    return r <= 0 ? r : attr_read_close(a, H5T_NATIVE_INT64, out);
}

int cxr_h5_attr_get_f64(hid_t obj, const char *name, double *out)
{
    hid_t a = -1;
    int r = attr_open(obj, name, H5T_FLOAT, &a);
    return r <= 0 ? r : attr_read_close(a, H5T_NATIVE_DOUBLE, out);
}

int cxr_h5_exists(hid_t loc, const char *name)
{
    htri_t r = H5Lexists(loc, name, H5P_DEFAULT);
    if (r < 0) H5Eclear2(H5E_DEFAULT);
    return r > 0;
}

cxr_status cxr_h5_require(hid_t loc, const char *name, const char *file, int *exists)
{
    /* each component in turn: H5Lexists fails (rather than says no) below a missing group */
    char part[512];
    *exists = 0;
    while (*name == '/') name++; /* relative to loc; an empty name is not a link */
    if (!*name || strlen(name) >= sizeof part)
        return cxr_set_error(CXR_E_ARG, "%s: link name '%.64s' empty or too long", file, name);
    for (const char *p = name;; p++) {
        if (*p != '/' && *p) continue;
        if (p > name && p[-1] == '/') { /* "a//b": the empty component is no lookup */
            if (!*p) break;
            continue;
        }
        snprintf(part, sizeof part, "%.*s", (int)(p - name), name);
        htri_t r = H5Lexists(loc, part, H5P_DEFAULT);
        if (r < 0)
            return cxr_hdf5_error(CXR_E_FORMAT, file, "damaged: cannot read the link /%s", part);
        if (r == 0) return CXR_OK;
        if (!*p) break;
    }
    *exists = 1;
    return CXR_OK;
}
