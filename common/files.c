/* files.c: output/input file checks, stdout close, escaping (cxr_files.h). */
#define _GNU_SOURCE
#include "cxr_files.h"
#include "cxr_hash.h"
#include "cxr_tmpfile.h"
#include "output_lock.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static const char *kind_name(mode_t m)
{
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

/* Is the folder `dir` (or one above it) the folder with identity *t? Walks up through "..". */
static int inside_tree(const char *dir, const struct stat *t)
{
    size_t n = strlen(dir);
    char *p = malloc(n + 4 * 4096 + 1);
    if (!p) return 0;
    memcpy(p, dir, n + 1);
    int found = 0;
    struct stat a, up;
    for (int depth = 0; depth < 4096 && stat(p, &a) == 0; depth++) {
        if (a.st_dev == t->st_dev && a.st_ino == t->st_ino) {
            found = 1;
            break;
        }
        size_t m = strlen(p);
        char *q = realloc(p, m + 4);
        if (!q) break;
        p = q;
        memcpy(p + m, "/..", 4);
        if (stat(p, &up) != 0 || (up.st_dev == a.st_dev && up.st_ino == a.st_ino)) break;
    }
    free(p);
    return found;
}

const char *cxr_parent_dir(char *buf, size_t cap, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, cap, ".");
    else
        snprintf(buf, cap, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    return buf;
}

int cxr_flock_ex_nb(int fd)
{
    for (int i = 0;; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK || i == 10) return -1;
        const struct timespec ts = { 0, 2000000 }; /* 2 ms */
        nanosleep(&ts, NULL);
        errno = EWOULDBLOCK;
    }
}

int cxr_model_lock_path(char *buf, size_t cap, const char *model)
{
    char *real = NULL;
    if (cxr_tmpfile_resolve(model, &real) != CXR_OK) real = NULL; /* the save will say why */
    const char *p = real ? real : model, *slash = strrchr(p, '/');
    const int dir_len = slash ? (int)(slash - p) + 1 : 0;
    const char *base = p + dir_len;
    int n;
    if (strlen(base) <= 200) {
        n = snprintf(buf, cap, "%.*s.%s.cxr-lock", dir_len, p, base);
    } else { /* NAME_MAX is 255: the first 200 bytes and the whole name's FNV-1a */
        n = snprintf(buf, cap, "%.*s.%.200s-%016llx.cxr-lock", dir_len, p, base,
                     (unsigned long long)cxr_fnv1a64(base, strlen(base)));
    }
    free(real);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* 1 when another process holds an exclusive flock on path (a shared one, an HDF5 reader's, is
 * not in the way; a symbolic link is followed, as the writers follow it), 2 when that file is a
 * default model name another cxr-train run reserved ("cxr-train: reserved by pid N ..."), 3 when
 * it is an HDF5 file (HDF5 locks a file it opens for writing: h5py's, another program's); *pid
 * and tool (32 bytes): the holder when the file names it (a lock file's line, cxr_lock_holder),
 * else 0 and "". A reservation of this very process (cxr-train checking the name it reserved) is
 * not held. */
static int held_exclusively(const char *path, long *pid, char tool[32])
{
    static const char reserved[] = "cxr-train: reserved by pid ";
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    *pid = 0, tool[0] = 0;
    if (fd < 0) return 0;
    int held = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_SH | LOCK_NB) != 0 &&
               errno == EWOULDBLOCK;
    if (held) {
        char line[96] = "";
        ssize_t got = pread(fd, line, sizeof line - 1, 0);
        const size_t rl = sizeof reserved - 1;
        if (got > (ssize_t)rl && !strncmp(line, reserved, rl)) {
            *pid = strtol(line + rl, NULL, 10);
            held = *pid == (long)getpid() ? 0 : 2;
            if (*pid <= 0 || (kill((pid_t)*pid, 0) != 0 && errno == ESRCH)) *pid = 0;
            snprintf(tool, 32, "cxr-train");
        } else if (got >= 8 && !memcmp(line, CXR_HDF5_SIGNATURE, 8)) {
            held = 3;
        } else if (got > 0) {
            cxr_lock_holder(line, pid, tool, 32);
        }
    }
    close(fd);
    return held;
}

cxr_status cxr_output_check(const char *opt, const char *out, const char *const *inputs,
                            int n_inputs, const char *tree)
{
    struct stat o, s;
    char dir[4096];
    if (!*out) return cxr_set_error(CXR_E_ARG, "%s: an empty file name", opt);
    if (!strcmp(out, "-")) /* would have made a file named "-" */
        return cxr_set_error(CXR_E_ARG,
                             "%s -: this output is a file, not standard output (./- names a "
                             "file called -)",
                             opt);
    cxr_parent_dir(dir, sizeof dir, out);
    int exists = stat(out, &o) == 0;
    /* a name longer than the file system takes (NAME_MAX, PATH_MAX): the temporary is made
     * unnamed or under a short name, so only the rename at the end would find it */
    if (!exists && errno == ENAMETOOLONG)
        return cxr_set_error(CXR_E_IO, "%s %s: cannot write there: %s", opt, out,
                             strerror(ENAMETOOLONG));
    if (!exists) { /* its folder must be there: found now, not when the first save comes */
        int found = stat(dir, &s) == 0;
        if (!found || !S_ISDIR(s.st_mode))
            return cxr_set_error(CXR_E_IO, "%s %s: cannot write there: %s: %s", opt, out, dir,
                                 found ? "not a folder" : strerror(errno));
    }
    if (exists && !S_ISREG(o.st_mode))
        return cxr_set_error(CXR_E_ARG, "%s %s: is %s, not a regular file; refusing to replace it",
                             opt, out, kind_name(o.st_mode));
    for (int i = 0; exists && i < n_inputs; i++)
        if (inputs[i] && stat(inputs[i], &s) == 0 && s.st_dev == o.st_dev && s.st_ino == o.st_ino)
            return cxr_set_error(CXR_E_ARG,
                                 "%s %s: is the same file as the input %s; refusing to overwrite "
                                 "it",
                                 opt, out, inputs[i]);
    if (tree && stat(tree, &s) == 0 && S_ISDIR(s.st_mode) && inside_tree(dir, &s))
        return cxr_set_error(CXR_E_ARG,
                             "%s %s: is inside the source folder %s; refusing to write there", opt,
                             out, tree);
    long pid = 0;
    char tool[32] = "";
    const int held = exists ? held_exclusively(out, &pid, tool) : 0;
    if (held == 1)
        return cxr_set_error(CXR_E_IO,
                             "%s %s: in use by another process (a running cxr-train's log or "
                             "samples file?): not replaced",
                             opt, out);
    if (held == 3)
        return cxr_set_error(CXR_E_IO,
                             "%s %s: in use by another process, which holds this HDF5 file open "
                             "for writing: not replaced; close it there, or wait for that "
                             "program to end, and try again",
                             opt, out);
    /* another run's output (cxr_output_lock): refused here too, before the tool's other checks
     * and any work, as the lock itself would refuse it */
    char lock[4096];
    if (held == 2 ||
        (cxr_model_lock_path(lock, sizeof lock, out) == 0 && held_exclusively(lock, &pid, tool)))
        return cxr_output_busy(opt, out, pid, tool);
    return CXR_OK;
}

/* The first bytes of the regular file at `out` into head (cap bytes, NUL-ended): their count,
 * or -1 when it is absent, unreadable or not a regular file. */
static ssize_t output_head(const char *out, char *head, size_t cap)
{
    const int fd = open(out, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return -1; /* absent, or unreadable: the write says why, if anything */
    struct stat sb;
    ssize_t n = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? pread(fd, head, cap - 1, 0) : -1;
    close(fd);
    head[n > 0 ? n : 0] = '\0';
    return n;
}

const char *cxr_image_kind(const void *head, size_t n)
{
    const unsigned char *h = head;
    if (n >= 3 && h[0] == 0xff && h[1] == 0xd8 && h[2] == 0xff) return "a JPEG image";
    if (n >= 8 && !memcmp(h, "\x89PNG\r\n\x1a\n", 8)) return "a PNG image";
    if (n >= 132 && !memcmp(h + 128, "DICM", 4)) return "a DICOM file";
    if (n >= 6 && (!memcmp(h, "GIF87a", 6) || !memcmp(h, "GIF89a", 6))) return "a GIF image";
    if (n >= 4 && (!memcmp(h, "II*\0", 4) || !memcmp(h, "MM\0*", 4))) return "a TIFF image";
    if (n >= 12 && !memcmp(h, "RIFF", 4) && !memcmp(h + 8, "WEBP", 4)) return "a WebP image";
    if (n >= 12 && !memcmp(h, "\0\0\0\x0cjP  \r\n\x87\n", 12)) return "a JPEG 2000 image";
    return NULL;
}

/* The refusal of an output whose first n bytes, head (NUL-ended, room for 32), begin as a
 * training log or samples file does, plain or gzip-compressed (inflated here: output_head found
 * a regular file, so gzopen cannot block); CXR_OK for any other. */
static cxr_status refuse_log(const char *opt, const char *out, const char *what, char *head,
                             ssize_t n)
{
    const int gz = n >= 2 && (unsigned char)head[0] == 0x1f && (unsigned char)head[1] == 0x8b;
    if (gz) {
        gzFile g = gzopen(out, "rb");
        n = g ? gzread(g, head, 31) : -1;
        if (g) gzclose(g);
        head[n > 0 ? n : 0] = '\0';
    }
    const char *kind = NULL;
    if (n > 0 && strncmp(head, CXR_FILES_TRAINLOG_MARK, strlen(CXR_FILES_TRAINLOG_MARK)) == 0)
        kind = gz ? "a gzip-compressed training log" : "a training log (cxr-train --log)";
    else if (n > 0 && strncmp(head, CXR_FILES_SAMPLES_MARK, strlen(CXR_FILES_SAMPLES_MARK)) == 0)
        kind = gz ? "a gzip-compressed samples file" : "a samples file (cxr-train --monitor-log)";
    if (!kind) return CXR_OK;
    return cxr_set_error(CXR_E_ARG,
                         "%s %s: exists and is %s, not %s: not overwritten; remove it or give "
                         "another name",
                         opt, out, kind, what);
}

const char *cxr_output_kind_of(const void *head, size_t n, unsigned *kind)
{
    const unsigned char *h = head;
    const char *image = cxr_image_kind(head, n);
    *kind = image ? CXR_OUTPUT_IMAGE : 0;
    if (image) return image;
    /* ModelProto: ir_version (field 1, a one-byte varint), then another of its fields (2-8:
     * producer_name, producer_version, domain, model_version, doc_string, graph, opset_import),
     * as exporters write it */
    if (n >= 3 && h[0] == 0x08 && h[1] >= 1 && h[1] < 0x80 &&
        (h[2] == 0x12 || h[2] == 0x1a || h[2] == 0x22 || h[2] == 0x28 || h[2] == 0x32 ||
         h[2] == 0x3a || h[2] == 0x42)) {
        *kind = CXR_OUTPUT_ONNX;
        return "an ONNX model";
    }
    size_t i = n >= 3 && h[0] == 0xef && h[1] == 0xbb && h[2] == 0xbf ? 3 : 0; /* a BOM */
    while (i < n && (h[i] == ' ' || h[i] == '\t' || h[i] == '\r' || h[i] == '\n')) i++;
    if ((n - i >= 14 && !strncasecmp((const char *)h + i, "<!doctype html", 14)) ||
        (n - i >= 5 && !strncasecmp((const char *)h + i, "<html", 5))) {
        *kind = CXR_OUTPUT_HTML;
        return "an HTML page";
    }
    if ((n >= 5 && (!memcmp(h, "path\t", 5) || !memcmp(h, "path,", 5))) ||
        (n >= 8 && !memcmp(h, "{\"path\":", 8))) {
        *kind = CXR_OUTPUT_TABLE;
        return "a predictions table (cxr-eval, cxr-predict)";
    }
    if (n >= 11 && !memcmp(h, "pixel_hash\t", 11)) {
        *kind = CXR_OUTPUT_DUPS;
        return "a duplicates table (cxr-pack --duplicates-report)";
    }
    return NULL;
}

cxr_status cxr_output_not_other(const char *opt, const char *out, const char *what,
                                unsigned may_replace)
{
    char head[160]; /* a DICOM file's preamble and mark */
    const ssize_t n = output_head(out, head, sizeof head);
    unsigned kind;
    const char *name = n > 0 ? cxr_output_kind_of(head, (size_t)n, &kind) : NULL;
    if (!name || (kind & may_replace)) return CXR_OK;
    return cxr_set_error(CXR_E_ARG,
                         "%s %s: exists and is %s, not %s: not overwritten; remove it or give "
                         "another name",
                         opt, out, name, what);
}

cxr_status cxr_output_not_log(const char *opt, const char *out, const char *what)
{
    char head[32];
    return refuse_log(opt, out, what, head, output_head(out, head, sizeof head));
}

cxr_status cxr_output_not_ours(const char *opt, const char *out, const char *what)
{
    char head[32];
    const ssize_t n = output_head(out, head, sizeof head);
    if (n >= 8 && memcmp(head, CXR_HDF5_SIGNATURE, 8) == 0)
        return cxr_set_error(CXR_E_ARG,
                             "%s %s: exists and is an HDF5 file (a cxr model or store?), not %s: "
                             "not overwritten; remove it or give another name",
                             opt, out, what);
    return refuse_log(opt, out, what, head, n);
}

void cxr_std_fds_open(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            /* the lowest free descriptor: this one, as every lower one is open; opened the
             * other way round (as gnulib's stdopen), so that writing to a closed standard output
             * still fails (EBADF: exit 4) instead of vanishing */
            int got = open("/dev/null", fd ? O_RDONLY : O_WRONLY);
            if (got >= 0 && got != fd) close(got);
        }
}

cxr_status cxr_output_probe(const char *opt, const char *out)
{
    /* /dev/stdout, /proc/self/fd/1 or a redirection to the same file: the rename would replace
     * the file the stream writes to (an appended-to log lost) and what the tool writes there
     * would go to the unlinked one */
    static const char *const std_name[3] = { "", "standard output", "standard error" };
    struct stat o, s;
    const int exists = stat(out, &o) == 0;
    for (int fd = 1; fd < 3 && exists; fd++) /* (a read from stdin is unharmed) */
        if (fstat(fd, &s) == 0 && S_ISREG(s.st_mode) && s.st_dev == o.st_dev &&
            s.st_ino == o.st_ino)
            return cxr_set_error(CXR_E_ARG,
                                 "%s %s: is the file this program's %s is; refusing to replace "
                                 "it (it is written whole and renamed into place): give another "
                                 "file",
                                 opt, out, std_name[fd]);
    /* the folder the temporary will go to: the resolved file's, as cxr_tmpfile_create does */
    char *resolved = NULL, dir[4096];
    if (cxr_tmpfile_resolve(out, &resolved) != CXR_OK) return cxr_wrap_error(CXR_E_IO, "%s", opt);
    if (cxr_tmpfile_check_writable(resolved ? resolved : out) != CXR_OK) {
        free(resolved);
        return cxr_wrap_error(CXR_E_IO, "%s", opt);
    }
    cxr_parent_dir(dir, sizeof dir, resolved ? resolved : out);
    /* an unnamed file: nothing to see or leave behind (a named one would look like the real
     * temporary, which tells a watcher the run is under way) */
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    int e = errno;
    cxr_status st = CXR_OK;
    if (fd >= 0) {
        close(fd);
    } else if (e == EOPNOTSUPP || e == EISDIR || e == EINVAL) { /* no O_TMPFILE there */
        cxr_tmpfile probe;
        if (cxr_tmpfile_create(&probe, resolved ? resolved : out, 0) != CXR_OK)
            st = cxr_wrap_error(CXR_E_IO, "%s", opt);
        else
            cxr_tmpfile_discard(&probe);
    } else {
        st = cxr_set_error(CXR_E_IO, "%s: %s: cannot create a temporary file in %s: %s", opt, out,
                           dir, strerror(e));
    }
    free(resolved);
    return st;
}

/* The name a write to `p` creates: p with its symbolic links followed (up to 40) as far as they
 * lead, the last one dangling (a link to a file not yet made), into buf; p itself when it does
 * not fit. */
static const char *created_name(const char *p, char *buf, size_t cap)
{
    char cur[4096], target[4096];
    struct stat sb;
    if (snprintf(cur, sizeof cur, "%s", p) >= (int)sizeof cur) return p;
    for (int hops = 0; hops < 40 && lstat(cur, &sb) == 0 && S_ISLNK(sb.st_mode); hops++) {
        const ssize_t n = readlink(cur, target, sizeof target - 1);
        if (n <= 0) break;
        target[n] = '\0';
        char dir[4096];
        cxr_parent_dir(dir, sizeof dir, cur);
        if (target[0] == '/' || strcmp(dir, ".") == 0) {
            if (snprintf(cur, sizeof cur, "%s", target) >= (int)sizeof cur) return p;
        } else if (snprintf(buf, cap, "%s/%s", dir, target) >= (int)cap ||
                   snprintf(cur, sizeof cur, "%s", buf) >= (int)sizeof cur) {
            return p;
        }
    }
    return snprintf(buf, cap, "%s", cur) < (int)cap ? buf : p;
}

int cxr_same_output(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0) return 1;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* not both made yet: the names the writes would create, a dangling link's target included
     * (a --log linked to the checkpoint's name, not yet saved, was written over by the model) */
    char fa[4096], fb[4096];
    a = created_name(a, fa, sizeof fa);
    b = created_name(b, fb, sizeof fb);
    if (strcmp(a, b) == 0) return 1;
    const char *ba = strrchr(a, '/'), *bb = strrchr(b, '/');
    return strcmp(ba ? ba + 1 : a, bb ? bb + 1 : b) == 0 && cxr_same_folder(a, b);
}

int cxr_same_folder(const char *a, const char *b)
{
    struct stat sa, sb;
    char da[4096], db[4096];
    cxr_parent_dir(da, sizeof da, a);
    cxr_parent_dir(db, sizeof db, b);
    if (strcmp(da, db) == 0) return 1;
    return stat(da, &sa) == 0 && stat(db, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int cxr_end_last_line(FILE *f)
{
    if (fseek(f, -1, SEEK_END) != 0) return 0; /* empty, or not seekable (a pipe) */
    int last = fgetc(f);
    if (fseek(f, 0, SEEK_END) != 0) return -1; /* a read is followed by a seek */
    return last == '\n' || (fputc('\n', f) != EOF && fflush(f) == 0) ? 0 : -1;
}

/* What fd holds against `mark` (cxr_log_check): CXR_OK for an empty file or one whose first
 * bytes that are not white space are `mark`. */
static cxr_status log_head(int fd, const char *opt, const char *path, int append, const char *mark)
{
    unsigned char head[512];
    const ssize_t got = pread(fd, head, sizeof head, 0);
    if (got < 0)
        return cxr_set_error(CXR_E_IO, "%s %s: cannot read: %s", opt, path, strerror(errno));
    ssize_t i = 0;
    while (i < got && (head[i] == ' ' || head[i] == '\t' || head[i] == '\n' || head[i] == '\r'))
        i++;
    const size_t ml = strlen(mark);
    if (i == got || ((size_t)(got - i) >= ml && memcmp(head + i, mark, ml) == 0)) return CXR_OK;
    if (got >= 2 && head[0] == 0x1f && head[1] == 0x8b)
        return append ? cxr_set_error(CXR_E_FORMAT,
                                      "%s %s: it is gzip-compressed; a resume appends plain lines "
                                      "to it: gunzip it first, or give another",
                                      opt, path)
                      : cxr_set_error(CXR_E_FORMAT,
                                      "%s %s: exists and is gzip-compressed, not such a log: not "
                                      "overwritten; remove it or give another name",
                                      opt, path);
    return cxr_set_error(CXR_E_FORMAT,
                         "%s %s: exists and is not such a log (its first line does not begin "
                         "with %s): not %s; remove it or give another name",
                         opt, path, mark, append ? "appended to" : "overwritten");
}

cxr_status cxr_log_check(const char *opt, const char *path, int append, const char *mark)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) return CXR_OK; /* absent, or unreadable: the open says why, if anything */
    struct stat sb;
    cxr_status st = CXR_OK;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode)) st = log_head(fd, opt, path, append, mark);
    close(fd);
    return st;
}

FILE *cxr_log_open(const char *opt, const char *path, int append, const char *mark,
                   cxr_tmpfile *keep, int *created, cxr_status *st)
{
    FILE *f = NULL;
    struct stat sb;
    if (keep) cxr_tmpfile_init(keep);
    if (created) *created = lstat(path, &sb) != 0 && errno == ENOENT;
    /* no O_TRUNC: what the file holds is looked at, under the lock, before it is emptied. A
     * file this user may write but not read (mode 0200) is written as before, unread */
    int readable, fd, locked, tries = 0;
    struct stat at;
    do { /* the lock must be the file's at path: a run's temporary renamed over it meanwhile
          * leaves this one locking a file no name reaches, beside a log another run writes */
        if (tries++ > 0) close(fd);
        readable = 1;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
        if (fd < 0 && errno == EACCES) {
            fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY, 0666);
            readable = 0;
        }
        if (fd < 0) {
            *st = cxr_set_error(CXR_E_IO, "%s %s: cannot open for writing: %s", opt, path,
                                strerror(errno));
            return NULL;
        }
        locked = cxr_flock_ex_nb(fd) == 0;
        if (!locked && errno == EWOULDBLOCK) {
            *st = cxr_set_error(CXR_E_IO,
                                "%s %s: in use by another process (it holds the file's lock): "
                                "two runs would write one log; give this run another",
                                opt, path);
            goto fail;
        } /* a file system without flock: as before */
    } while (locked && tries < 8 && fstat(fd, &sb) == 0 &&
             (stat(path, &at) != 0 || at.st_dev != sb.st_dev || at.st_ino != sb.st_ino));
    if (readable && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
        (*st = log_head(fd, opt, path, append, mark)) != CXR_OK)
        goto fail;
    /* An earlier log stays whole until the caller's run has something worth keeping: the run
     * writes a temporary beside it, which replaces it then (cxr_tmpfile_commit: renamed into
     * place, the stream going on in it) or is removed (cxr_tmpfile_discard), so even a killed
     * run leaves it whole. The earlier file is held open and locked until one of the two. */
    if (!append && keep && readable && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
        sb.st_size > 0) {
        errno = 0;
        if (cxr_tmpfile_create(keep, path, 1) == CXR_OK) {
            if (!(f = cxr_tmpfile_stream(keep, "w"))) {
                *st = CXR_E_IO;
                goto fail;
            }
            keep->held = fd; /* closed by the commit or discard */
            *st = CXR_OK;
            return f;
        }
        /* no file beside it (a folder this user may not create in, a full disk): refused, the
         * earlier file whole; emptied in place, it was lost with a run that failed first, while
         * the caller had said it stays until the first epoch */
        const int e = errno ? errno : EPERM;
        *st = cxr_set_error(CXR_E_IO,
                            "%s %s: holds an earlier log, left whole until this run's first "
                            "epoch while the run writes beside it, and no file can be created "
                            "there (%s): the file is left as it was; give another %s, or empty "
                            "it first (: > FILE) to have it written in place",
                            opt, path, strerror(e), opt);
        goto fail;
    }
    f = fdopen(fd, append ? (readable ? "a+" : "a") : "w");
    if (!f) {
        *st = cxr_set_error(CXR_E_IO, "%s %s: %s", opt, path, strerror(errno));
        goto fail;
    }
    /* emptied only now, when nothing can fail before the first line */
    if (!append && ftruncate(fd, 0) != 0 && errno != EINVAL) {
        *st = cxr_set_error(CXR_E_IO, "%s %s: cannot empty: %s", opt, path, strerror(errno));
        fclose(f);
        if (keep) cxr_tmpfile_discard(keep);
        return NULL;
    }
    *st = CXR_OK;
    return f; /* the lock lasts as long as the stream's descriptor */
fail:
    close(fd);
    if (keep) cxr_tmpfile_discard(keep);
    return NULL;
}

int cxr_log_put_line(FILE *f, const char *line, size_t n)
{
    const int fd = fileno(f);
    const off_t at = fflush(f) == 0 ? lseek(fd, 0, SEEK_END) : (off_t)-1;
    size_t done = 0;
    int e = at < 0 ? errno : 0;
    while (!e && done < n) {
        const ssize_t w = write(fd, line + done, n - done);
        if (w > 0)
            done += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else
            e = w < 0 ? errno : ENOSPC;
    }
    if (e && at >= 0 && done > 0) (void)!ftruncate(fd, at);
    errno = e;
    return e ? -1 : 0;
}

int cxr_log_close(FILE *f, const char *path, int created)
{
    struct stat a, b;
    if (created) {
        fflush(f); /* what it holds, if it can (a line that could not be written stays out) */
        if (fstat(fileno(f), &a) == 0 && a.st_size == 0 && stat(path, &b) == 0 &&
            a.st_dev == b.st_dev && a.st_ino == b.st_ino)
            unlink(path);
    }
    return fclose(f);
}

cxr_status cxr_input_check(const char *path)
{
    struct stat s;
    if (stat(path, &s) == 0 && !S_ISREG(s.st_mode))
        return cxr_set_error(CXR_E_ARG, "%s: is %s, not a regular file", path,
                             kind_name(s.st_mode));
    return CXR_OK;
}

void cxr_stdout_hold(void)
{
    static char buf[1 << 16];
    setvbuf(stdout, buf, _IOFBF, sizeof buf);
}

int cxr_version_exit(const char *tool)
{
    printf("%s %s\n", tool, CXR_VERSION_STRING);
    return cxr_stdout_exit(tool);
}

int cxr_usage_error(const char *usage_line)
{
    fprintf(stderr, "%s  (--help for more)\n", usage_line);
    return 2;
}

int cxr_option_error(const char *tool)
{
    cxr_print_error(tool, cxr_last_error());
    return 2;
}

cxr_status cxr_stdout_close(void)
{
    int bad = ferror(stdout);
    errno = 0;
    if (fflush(stdout) != 0 || bad) {
        int e = errno;
        fclose(stdout);
        return cxr_set_error(CXR_E_IO, "standard output: write failed: %s",
                             e ? strerror(e) : "error on an earlier write");
    }
    if (fclose(stdout) != 0)
        return cxr_set_error(CXR_E_IO, "standard output: close failed: %s", strerror(errno));
    return CXR_OK;
}

int cxr_stdout_exit(const char *tool)
{
    if (cxr_stdout_close() == CXR_OK) return 0;
    fprintf(stderr, "%s: %s\n", tool, cxr_last_error());
    return cxr_exit_code(CXR_E_IO);
}

int cxr_utf8_seq(const unsigned char *s)
{
    if (s[0] < 0x80) return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        unsigned lo = s[0] == 0xE0 ? 0xA0 : 0x80, hi = s[0] == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        unsigned lo = s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

int cxr_utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (int n; *u; u += n)
        if (!(n = cxr_utf8_seq(u))) return 0;
    return 1;
}

char *cxr_utf8_repair(const char *s, int *replaced)
{
    const unsigned char *u = (const unsigned char *)s;
    char *out = malloc(3 * strlen(s) + 1), *o = out; /* U+FFFD is 3 bytes for each 1 */
    if (replaced) *replaced = 0;
    if (!out) return NULL;
    while (*u) {
        int n = cxr_utf8_seq(u);
        if (n == 0) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3, u++;
            if (replaced) *replaced = 1;
        } else {
            memcpy(o, u, (size_t)n);
            o += n, u += n;
        }
    }
    *o = 0;
    return out;
}

char *cxr_hex_bytes(const char *s)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = strlen(s);
    char *out = malloc(2 * n + 1);
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[(unsigned char)s[i] >> 4];
        out[2 * i + 1] = hex[(unsigned char)s[i] & 15];
    }
    out[2 * n] = 0;
    return out;
}

/* The escaped form of the character at u (k bytes consumed), into e (at least 8 bytes):
 * control characters (C0, DEL and C1: U+0080-U+009F act on a terminal alike), backslash and
 * bytes of no valid sequence escaped, every other character as it is. */
static size_t escape_one(const unsigned char *u, char *e, size_t *k)
{
    static const char hex[] = "0123456789abcdef";
    const int n = cxr_utf8_seq(u);
    *k = n ? (size_t)n : 1;
    if (n > 2 || (n == 2 && !(u[0] == 0xc2 && u[1] < 0xa0))) {
        memcpy(e, u, (size_t)n);
        return (size_t)n;
    }
    if (n == 2) { /* C1: both bytes */
        memcpy(e, "\\xc2\\x", 6);
        e[6] = hex[u[1] >> 4], e[7] = hex[u[1] & 15];
        return 8;
    }
    const unsigned c = u[0];
    if (n == 1 && c >= 0x20 && c != 0x7f && c != '\\') {
        e[0] = (char)c;
        return 1;
    }
    e[0] = '\\';
    if (c == '\n' || c == '\t' || c == '\r' || c == '\\') {
        e[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : '\\';
        return 2;
    }
    e[1] = 'x', e[2] = hex[c >> 4], e[3] = hex[c & 15];
    return 4;
}

/* The columns a terminal gives an escaped unit of n bytes: one per byte of an escape (ASCII);
 * for a multibyte character one, two for the East Asian wide ones (Unicode's EastAsianWidth W
 * and F: Hangul, CJK, kana, fullwidth forms, emoji), none for a combining mark, a variation
 * selector or a zero-width joiner (macOS writes accented folder names decomposed, e and U+0301:
 * counted one each, a table of them went out of line) */
static size_t unit_chars(const char *e, size_t n)
{
    const unsigned char *u = (const unsigned char *)e;
    if (u[0] < 0x80) return n;
    uint32_t c = n == 2 ? u[0] & 0x1fu : n == 3 ? u[0] & 0x0fu : u[0] & 0x07u;
    for (size_t i = 1; i < n; i++) c = c << 6 | (u[i] & 0x3fu);
    static const uint32_t wide[][2] = {
        { 0x1100, 0x115f },   { 0x2329, 0x232a },   { 0x2e80, 0x303e },   { 0x3041, 0x33ff },
        { 0x3400, 0x4dbf },   { 0x4e00, 0x9fff },   { 0xa000, 0xa4cf },   { 0xac00, 0xd7a3 },
        { 0xf900, 0xfaff },   { 0xfe10, 0xfe19 },   { 0xfe30, 0xfe6f },   { 0xff00, 0xff60 },
        { 0xffe0, 0xffe6 },   { 0x1f300, 0x1f64f }, { 0x1f680, 0x1f6ff }, { 0x1f900, 0x1f9ff },
        { 0x1fa70, 0x1faff }, { 0x20000, 0x3fffd },
    };
    static const uint32_t none[][2] = {
        { 0x0300, 0x036f }, { 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x200b, 0x200d },
        { 0x20d0, 0x20ff }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        if (c >= none[i][0] && c <= none[i][1]) return 0;
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++)
        if (c >= wide[i][0] && c <= wide[i][1]) return 2;
    return 1;
}

/* cxr_escape_name and cxr_escape_cell: the whole escaped name when it fits in cap - 1 bytes
 * and `width` characters, else the whole escaped units that leave room for "..." */
static const char *escape_fit(char *buf, size_t cap, const char *s, size_t width, int *shown)
{
    const unsigned char *u;
    size_t o = 0, k, bytes = 0, chars = 0;
    char e[8];
    if (shown) *shown = 0;
    if (cap == 0) return buf;
    for (u = (const unsigned char *)s; *u; u += k) {
        const size_t n = escape_one(u, e, &k);
        bytes += n, chars += unit_chars(e, n);
    }
    const int cut = bytes >= cap || chars > width;
    if (cut && (cap < 4 || width < 3)) { /* no room for "..." */
        buf[0] = 0;
        return buf;
    }
    const size_t room = cut ? cap - 4 : cap - 1, wroom = cut ? width - 3 : width;
    chars = 0;
    for (u = (const unsigned char *)s; *u; u += k) {
        const size_t n = escape_one(u, e, &k), c = unit_chars(e, n);
        if (o + n > room || chars + c > wroom) break;
        memcpy(buf + o, e, n);
        o += n, chars += c;
    }
    memcpy(buf + o, cut ? "..." : "", cut ? 4 : 1);
    if (shown) *shown = (int)(chars + (cut ? 3 : 0));
    return buf;
}

const char *cxr_escape_name(char *buf, size_t cap, const char *s)
{
    return escape_fit(buf, cap, s, SIZE_MAX, NULL);
}

const char *cxr_escape_cell(char *buf, size_t cap, const char *s, int width, int *shown)
{
    return escape_fit(buf, cap, s, width > 0 ? (size_t)width : 0, shown);
}

cxr_status cxr_open_status(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOMEM ? CXR_E_NOMEM : CXR_E_IO;
}

const char *cxr_open_note(int e)
{
    return e == EMFILE   ? " (this process's limit of open files, ulimit -n: not the file's fault)"
           : e == ENFILE ? " (the system's limit of open files: not the file's fault)"
           : e == ENOMEM ? " (not the file's fault)"
                         : "";
}

int cxr_text_plain(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k;
    char e[8];
    for (; *u; u += k) {
        const size_t n = escape_one(u, e, &k);
        if (*u != '\\' && (n != k || memcmp(e, u, n) != 0)) return 0;
    }
    return 1;
}

void cxr_fputs_escaped(const char *s, FILE *f)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k;
    char e[8];
    while (*u) {
        fwrite(e, 1, escape_one(u, e, &k), f);
        u += k;
    }
}

const char *cxr_shell_word(char *buf, size_t cap, const char *s)
{
    const size_t n = strlen(s), dash = s[0] == '-' ? 2 : 0;
    if (n > 0 && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                           "_./:@%+=,-") == n) {
        if (n + dash >= cap) return NULL;
        memcpy(buf, "./", dash);
        memcpy(buf + dash, s, n + 1);
        return buf;
    }
    size_t o = 0;
    if (cap < 5) return NULL;
    buf[o++] = '\'';
    memcpy(buf + o, "./", dash);
    o += dash;
    for (const char *p = s; *p; p++) {
        const char *piece = *p == '\'' ? "'\\''" : NULL;
        const size_t len = piece ? 4 : 1;
        if (o + len + 2 > cap) return NULL;
        if (piece)
            memcpy(buf + o, piece, len);
        else
            buf[o] = *p;
        o += len;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

void cxr_print_error(const char *tool, const char *msg)
{
    fputs(tool, stderr);
    fputs(": ", stderr);
    cxr_fputs_escaped(msg, stderr);
    fputc('\n', stderr);
}

void cxr_fputs_field(const char *s, FILE *f) { cxr_fputs_field_sep(s, '\t', f); }

void cxr_fputs_field_sep(const char *s, char sep, FILE *f)
{
    const char special[] = { sep, '\r', '\n', '"', 0 };
    if (!strpbrk(s, special)) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}
