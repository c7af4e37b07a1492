/* cxr_files.h: the checks every tool makes on the files it is given, in one place: an output
 * that would destroy an input or a device, an input that is not a regular file (a FIFO would
 * block the reader), the final flush of standard output, and names escaped for the terminal
 * and quoted in tab-separated output. */
#ifndef CXR_FILES_H
#define CXR_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "cxr_status.h"
#include "cxr_tmpfile.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Refuse the output `out` (given by option `opt`, e.g. "-o", for the message) when its name is
 * empty or "-" (taken for standard output, it would have made a file named "-"), when it
 * exists and is not a regular file (device node, FIFO, directory, socket), when it is the
 * same file (st_dev and st_ino, through symlinks) as one of inputs[0..n_inputs) (NULL
 * entries skipped), or when `tree` is not NULL and `out` lies inside the folder `tree` (checked
 * on its parent folder, so an output not yet created counts too): CXR_E_ARG. A new output whose
 * folder is missing (or not a folder), or whose name is longer than the file system takes
 * (ENAMETOOLONG: a component past NAME_MAX, the path past PATH_MAX), is CXR_E_IO, found before
 * any work rather than at the first save or the final rename. The message names the files;
 * nothing is touched. */
cxr_status cxr_output_check(const char *opt, const char *out, const char *const *inputs,
                            int n_inputs, const char *tree);
/* It also refuses an output that another run writes: a running cxr-train's log or samples file
 * (an exclusive flock on the file itself, cxr_log_open: CXR_E_IO "in use by another process"), or
 * an output another run of any tool holds the lock of (cxr_output_lock: CXR_E_ARG "OUT is being
 * written by another TOOL run (pid N): wait for it to end, or give another OPT"; a cxr-train's
 * checkpoint or best model adds "(its model or best model)"). Replaced by another tool, the
 * run's later lines went to a file no name reached, or its output took the name back. An HDF5
 * file another program holds open for writing (HDF5's exclusive flock: h5py's "r+") is CXR_E_IO
 * "in use by another process, which holds this HDF5 file open for writing". */

/* The 8 bytes an HDF5 file starts with (no user block: cxr writes none). */
#define CXR_HDF5_SIGNATURE "\x89HDF\r\n\x1a\n"

/* How a training log and a samples file begin (train/cxr_trainlog.h's CXR_TRAINLOG_MARK and
 * runtime/cxr_monitor.h's CXR_MONITOR_MARK, which report.trainlog checks are these). */
#define CXR_FILES_TRAINLOG_MARK "{\"type\":\"run\""
#define CXR_FILES_SAMPLES_MARK  "{\"t\":"

/* Refuse (CXR_E_ARG, nothing touched) an output `out` that exists as a regular file beginning as
 * a training log or samples file does (cxr-train's --log, --monitor-log), for a tool about to
 * write `what` there ("a store", "an HTML page"): a log is no tool's output. */
cxr_status cxr_output_not_log(const char *opt, const char *out, const char *what);
/* Files no HDF5 file that an output must not replace, by their first bytes
 * (cxr_output_kind_of): our other outputs, and images. */
enum {
    CXR_OUTPUT_ONNX = 1,  /* cxr-export's model, or any ONNX model */
    CXR_OUTPUT_HTML = 2,  /* cxr-report's page, or any HTML page */
    CXR_OUTPUT_TABLE = 4, /* cxr-eval --predictions, cxr-predict -o (tsv, csv, jsonl) */
    CXR_OUTPUT_DUPS = 8,  /* cxr-pack --duplicates-report */
    CXR_OUTPUT_IMAGE = 16 /* cxr_image_kind: a data set's input, which no output replaces */
};
/* Which of those the first n bytes of a file, head (160 are enough), begin as: its name ("an
 * ONNX model", "a PNG image", ...) and *kind, else NULL and 0. */
const char *cxr_output_kind_of(const void *head, size_t n, unsigned *kind);
/* The same refusal for an output that exists as one of those kinds but the ones in
 * `may_replace` (a mask: a tool's own kind; 0 for a tool that writes none of them): a page,
 * table or model of ours is another run's result, an image an input (since 0.21; cxr-export
 * --weights -o m.onnx replaced a deployed model, cxr-pack SRC -o x.jpeg an image). A tool that
 * can name the input an output is (cxr-pack) checks that first. */
cxr_status cxr_output_not_other(const char *opt, const char *out, const char *what,
                                unsigned may_replace);
/* The image format that the first n bytes of a file, head, begin as ("a JPEG image", "a PNG
 * image", "a DICOM file" ("DICM" after its 128-byte preamble), GIF, TIFF, WebP, JPEG 2000), else
 * NULL: by signature only, not a check that the file is whole. */
const char *cxr_image_kind(const void *head, size_t n);
/* The same, and also for a file starting with HDF5's signature (a cxr model or store), for a
 * tool that writes no HDF5 file ("an HTML page", "a predictions table", "an ONNX model"). */
cxr_status cxr_output_not_ours(const char *opt, const char *out, const char *what);

/* flock(fd, LOCK_EX | LOCK_NB), tried again for up to ~20 ms while it fails with EWOULDBLOCK:
 * another tool's output check holds a shared lock on the file for a few microseconds
 * (cxr_output_check), which must not pass for a run holding it. 0 when locked, else -1 with
 * errno. */
int cxr_flock_ex_nb(int fd);

/* The lock file of an output `model` (cxr_output_lock; first cxr-train's models), into buf (cap
 * bytes): ".NAME.cxr-lock" beside the file a symbolic link names, or, for a name of more than
 * 200 bytes, ".FIRST200-HASH.cxr-lock". 0, or -1 when it does not fit. */
int cxr_model_lock_path(char *buf, size_t cap, const char *model);
/* One run per output, for the tools (the process's signal actions change; the library's callers
 * do not need it): lock the output `out` of the tool `tool` ("cxr-pack"; given by option `opt`,
 * for the message) until the process ends. Every tool writes through a temporary renamed into
 * place, so two runs to one file tore nothing, but the last to end replaced the output the other
 * had said it wrote. An flock on the lock file beside it (cxr_model_lock_path, of the file a
 * symbolic link names), holding the line "PID TOOL" for the refusal of others. Another run
 * holding it: CXR_E_ARG "OUT is being written by another TOOL run (pid N): wait for it to end, or
 * give another OPT", nothing touched (cxr_output_check says the same before). Called after the
 * output's checks, before any work.
 * The file is removed at exit while still this run's, and by a SIGINT, SIGTERM or SIGHUP whose
 * action is the default when the first lock is taken (the handler then kills the tool, of that
 * signal, as before); one a killed run left (SIGKILL) blocks nothing: the kernel released its
 * lock, and the next run takes the file over. Where no lock file can be made (a folder this user
 * cannot create in, where the output's own checks or write say why; a file system without flock)
 * the run goes on unlocked, as before: CXR_OK (another user's lock file, read-only, is locked
 * all the same, its line left as it was). An output locked twice by one process is held once. Up to 8
 * outputs a process. */
cxr_status cxr_output_lock(const char *tool, const char *opt, const char *out);
/* Open /dev/null on any of descriptors 0, 1 and 2 that is closed (a tool started with 2>&-):
 * else the first file the tool opens gets that number, and messages meant for standard error
 * would be written into it (an output table, a store). Opened the other way round (0 for
 * writing, 1 and 2 for reading): output to a closed stream still fails. Every tool calls it
 * first thing. */
void cxr_std_fds_open(void);
/* For an output written through a cxr_tmpfile (cxr_tmpfile.h): CXR_E_ARG when it is the file
 * standard output or error is (/dev/stdout, /proc/self/fd/1, a redirection to the same file: the
 * rename would replace the file under the stream); then, a file can be created in the
 * folder its temporary will go to, tried with an unnamed file (O_TMPFILE; where the file system
 * has none, a cxr_tmpfile created and removed): a read-only folder or file system, no free
 * inode, a symlink that does not resolve are found before any work, not after the first epoch
 * or the whole pack. CXR_E_IO "OPT: OUT: cannot create a temporary file in DIR: reason"
 * otherwise. */
cxr_status cxr_output_probe(const char *opt, const char *out);

/* The folder holding `path`, into buf (cap bytes): "." without a slash, "/" for a name at the
 * root. Returns buf. */
const char *cxr_parent_dir(char *buf, size_t cap, const char *path);
/* f, a JSON Lines file opened "a+" to append to (a resumed run's log): a last line that a
 * killed run left without its newline is ended, so appended lines start on their own. Nothing
 * for an empty or unseekable file. Leaves f at its end; 0, or -1 (errno) on a failed write. */
int cxr_end_last_line(FILE *f);

/* The JSON Lines logs a run writes line by line (cxr-train's log and samples file), opened
 * never at another file's expense. `mark` is how such a log begins (its first line's first
 * bytes: "{\"type\":\"run\"" for a training log): an existing file that is neither empty nor
 * begins so (a model, a store, a gzip-compressed log, cxr-eval's JSON, another kind of log) is
 * CXR_E_FORMAT "not overwritten" (append == 0) or "not appended to" (append != 0, a resume),
 * untouched.
 *
 * cxr_log_check: that content check alone, reading only (no file created, no lock): for a
 * tool's checks before any work, so that no output is emptied before another is refused.
 * cxr_log_open: created when absent (0666 minus the umask); an exclusive flock held on it until
 * the stream is closed, so that two runs never write one log (another holding it: CXR_E_IO "in
 * use by another process", untouched); the content check again; then emptied (append == 0) or
 * opened "a+" to append (reads allowed). A file this user may write but not read is written as
 * before, unchecked. `opt` names the file in messages. NULL on failure, with *st set.
 * `keep` (append == 0; NULL for none): where the file holds something (regular, not empty,
 * readable), it is left whole and the stream writes a temporary beside it instead (*keep,
 * cxr_tmpfile_create, locked), while keep->held holds the earlier file open and locked: the
 * caller makes its file the log (cxr_tmpfile_commit: renamed into place, the stream going on in
 * it) once its run has something worth keeping, or removes it (cxr_tmpfile_discard) when the
 * run ends before, the earlier file untouched either way until then, even by a killed run. No
 * temporary can be created (a folder this user may not create in, a full disk): CXR_E_IO, the
 * file untouched (an empty one is written in place, as one this user may not read).
 * `created` (NULL for none): 1 when nothing was at path before (lstat: not even a dangling
 * link), for cxr_log_close. */
cxr_status cxr_log_check(const char *opt, const char *path, int append, const char *mark);
FILE *cxr_log_open(const char *opt, const char *path, int append, const char *mark,
                   cxr_tmpfile *keep, int *created, cxr_status *st);
/* Append `line` (n bytes, its newline included) to a log cxr_log_open gave, whole or not at all:
 * written past the stream (flushed first) at the file's end, and a write that fails part way (a
 * full disk) is cut back to where the line began, so the log stays a file of whole lines. 0, or
 * -1 with errno (ENOSPC for a write that wrote nothing without saying why). */
int cxr_log_put_line(FILE *f, const char *line, size_t n);
/* Close a log cxr_log_open gave; when `created` (as cxr_log_open set it) and nothing was
 * written to it, the empty file is removed first, still locked: a run that could not write its
 * first line (a full disk) leaves no empty log behind. fclose's result. */
int cxr_log_close(FILE *f, const char *path, int created);

/* 1 when a and b name the same output file: the same name, the same existing file (st_dev and
 * st_ino, through symlinks), or, for files not yet created, the same name in the same folder
 * reached another way. */
int cxr_same_output(const char *a, const char *b);
/* 1 when paths a and b name entries of one folder: the same folder name, or two names of one
 * folder (st_dev and st_ino). */
int cxr_same_folder(const char *a, const char *b);

/* Refuse an input that exists and is not a regular file (FIFO, device, directory, socket):
 * CXR_E_ARG with a message naming it. Never opens it, so it never blocks. A missing file is
 * left to the reader (CXR_OK). */
cxr_status cxr_input_check(const char *path);

/* Flush and close standard output, checking every step: CXR_E_IO ("standard output: ...") when
 * an earlier write or the flush failed (a full disk, /dev/full, a closed pipe). */
cxr_status cxr_stdout_close(void);
/* Give stdout one buffer of 64 KiB, before anything is written to it: a text that fits (a
 * --help) is written at cxr_stdout_close, whose failure then keeps its reason (a flush in the
 * middle of the text failed first, and its errno was gone by the close). */
void cxr_stdout_hold(void);
/* A tool's exit status after its last word on stdout (--help, --version): 0 once
 * cxr_stdout_close succeeds, else its message as "TOOL: ..." on stderr and 4 (I/O). */
int cxr_stdout_exit(const char *tool);
/* --version: "TOOL VERSION" on stdout, then cxr_stdout_exit(tool). */
int cxr_version_exit(const char *tool);
/* A usage error (an unknown option, a missing argument; getopt has named it): the tool's
 * usage line and a pointer to --help on stderr, not the whole help, whose first lines (the
 * error) would scroll away; returns 2. */
int cxr_usage_error(const char *usage_line);
/* A bad option value (cxr_parse_* or another parser has set the message): "TOOL: message" on
 * stderr, escaped as cxr_print_error does; returns 2. */
int cxr_option_error(const char *tool);

/* `s` with control characters (C0, DEL and C1, U+0080-U+009F), backslash and invalid UTF-8
 * escaped (\n, \t, \\, \xHH: a C1 character's two bytes as \xc2\xHH), written into buf: the whole
 * of it when it fits in cap - 1 bytes, else the whole characters that fit followed by "...";
 * returns buf. For names in messages: a newline in a file name cannot forge a line of its own,
 * an escape sequence cannot reach the terminal. */
const char *cxr_escape_name(char *buf, size_t cap, const char *s);
/* The same cut also to `width` columns of a terminal (one per byte of an escape, one per
 * character, two per East Asian wide character), for a table's column; *shown: the columns
 * written. */
const char *cxr_escape_cell(char *buf, size_t cap, const char *s, int width, int *shown);
/* 1 when s holds no control character and is valid UTF-8 (escaping changes nothing but its
 * backslashes), else 0. */
int cxr_text_plain(const char *s);
/* Print `s` escaped as above to f. */
void cxr_fputs_escaped(const char *s, FILE *f);
/* `s`, a path, as one word of a POSIX shell command, into buf: as it is when it holds only
 * letters, digits and _ . / : @ % + = , - (and is not empty), else in single quotes (a ' inside
 * written '\''); after "./" when it starts with '-' (read as an option otherwise). Returns buf;
 * NULL when buf is too small (4 * strlen(s) + 5 bytes always suffice). */
const char *cxr_shell_word(char *buf, size_t cap, const char *s);
/* "TOOL: msg\n" on stderr with msg escaped as above: for library messages, which may quote
 * file names and store strings. */
void cxr_print_error(const char *tool, const char *msg);
/* Write `s` as one field of tab-separated output: as is when it holds no tab, CR, LF or '"';
 * else in double quotes with '"' doubled (RFC 4180, as Python's csv reads with delimiter='\t'). */
void cxr_fputs_field(const char *s, FILE *f);
/* The same with another separator: sep ',' gives RFC 4180 CSV fields. */
void cxr_fputs_field_sep(const char *s, char sep, FILE *f);

/* The status of a failed open()/opendir() with errno e: CXR_E_NOMEM when the machine or the
 * process ran out of something (memory, file descriptors: EMFILE, ENFILE), which is no fault
 * of the file (an input is then not skipped: the run stops), else CXR_E_IO. */
cxr_status cxr_open_status(int e);
/* A note for a message after strerror(e) when cxr_open_status(e) is CXR_E_NOMEM ("" else). */
const char *cxr_open_note(int e);

/* Length of the valid UTF-8 sequence at s (1..4), 0 when s starts an invalid one. */
int cxr_utf8_seq(const unsigned char *s);
/* 1 when the whole of s is valid UTF-8, else 0. */
int cxr_utf8_valid(const char *s);
/* A copy of s that is valid UTF-8 (malloc'd; NULL when out of memory): each byte that does not
 * start a valid sequence becomes U+FFFD. *replaced (may be NULL) is set to 1 when one did, else
 * 0. For JSON, whose strings must be UTF-8 (cJSON writes a string's bytes as they are). */
char *cxr_utf8_repair(const char *s, int *replaced);
/* s's bytes as lowercase hex digits (malloc'd; NULL when out of memory). */
char *cxr_hex_bytes(const char *s);

#ifdef __cplusplus
}
#endif
#endif
