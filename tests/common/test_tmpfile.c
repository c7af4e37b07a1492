/* test_tmpfile.c: cxr_tmpfile (common/cxr_tmpfile.h). Temporaries are fresh O_EXCL files named
 * ".<name>.cxr-tmp-<pid>-<16 hex>" beside the target; commit renames (keeping the replaced
 * file's mode; a failed fsync renames nothing), discard removes; a lock holds; a planted symlink
 * is never followed; the sweep removes a temporary only when its pid is gone and nobody holds a
 * lock on it, and never a symlink, another target's or a longer name. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <signal.h>
#include <unistd.h>

#include "cxr_test.h"
#include "cxr_files.h"
#include "cxr_tmpfile.h"

static char dir[256];

/* fsync fails with EIO while fail_fsync is set (a device that loses the last writes, seen only
 * when they are made durable): the library's calls come here, the program's definition first */
static int fail_fsync;
int fsync(int fd)
{
    if (fail_fsync) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fsync, fd);
}

static char *slurp_line(const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(buf, (int)cap, f)) buf[0] = 0;
        fclose(f);
    }
    return buf;
}

static char *at(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

/* Last written longer ago than a sweep waits for (CXR_TMPFILE_STALE_S), as a killed run's
 * temporary is once that time has passed. */
static void make_old(const char *path)
{
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= CXR_TMPFILE_STALE_S + 60;
    ts[1] = ts[0];
    REQUIRE(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) == 0);
}

static int exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static int count_temps(void)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls -A %s | grep -c cxr-tmp", dir);
    FILE *p = popen(cmd, "r");
    int n = -1;
    REQUIRE(p && fscanf(p, "%d", &n) == 1);
    pclose(p);
    return n;
}

/* cxr_tmpfile_leftovers: the young temporary of a process that has ended is named, beside the
 * file a symbolic link to the output names too; an old one (the sweep's) is not, nor a live
 * process's. */
static void test_leftovers(void)
{
    char target[300], link[300], young[400], old[400], live[400], first[500];
    snprintf(target, sizeof target, "%s/lo.h5", dir);
    snprintf(link, sizeof link, "%s/lo-link.h5", dir);
    put(target, "store");
    REQUIRE(symlink(target, link) == 0);
    const pid_t dead = fork();
    REQUIRE(dead >= 0);
    if (dead == 0) _exit(0);
    REQUIRE(waitpid(dead, NULL, 0) == dead);
    snprintf(young, sizeof young, "%s/.lo.h5.cxr-tmp-%d-0123456789abcdef", dir, (int)dead);
    snprintf(old, sizeof old, "%s/.lo.h5.cxr-tmp-%d-fedcba9876543210", dir, (int)dead);
    snprintf(live, sizeof live, "%s/.lo.h5.cxr-tmp-%d-00000000000000aa", dir, (int)getppid());
    put(young, "12345");
    put(old, "1234567");
    make_old(old);
    put(live, "123");
    int64_t bytes = -1;
    CHECK(cxr_tmpfile_leftovers(target, &bytes, first, sizeof first) == 1 && bytes == 5 &&
          strcmp(first, young) == 0);
    bytes = -1;
    CHECK(cxr_tmpfile_leftovers(link, &bytes, first, sizeof first) == 1 && bytes == 5 &&
          strcmp(first, young) == 0);
    unlink(young);
    CHECK(cxr_tmpfile_leftovers(target, &bytes, first, sizeof first) == 0 && bytes == 0 &&
          first[0] == '\0');
    unlink(old);
    unlink(live);
    unlink(link);
    unlink(target);
}

/* A temporary whose pid is a process this user may not signal (kill gives EPERM: pid 1, for
 * any user but root) may be a live writer's: the sweep keeps it. Run in a child as nobody when
 * the test runs as root; said and skipped where pid 1 can be signalled. */
static void test_sweep_eperm(void)
{
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(77);
        errno = 0;
        if (kill(1, 0) == 0 || errno != EPERM) _exit(77);
        char d[64], target[96], t[128];
        snprintf(d, sizeof d, "/tmp/cxr-test-eperm.%d", (int)getpid());
        snprintf(target, sizeof target, "%s/out.h5", d);
        snprintf(t, sizeof t, "%s/.out.h5.cxr-tmp-1-0123456789abcdef", d);
        if (mkdir(d, 0700) != 0) _exit(3);
        FILE *f = fopen(t, "w");
        if (!f) _exit(4);
        fclose(f);
        make_old(t); /* stale by age: kept for the pid it may not signal */
        const int n = cxr_tmpfile_sweep(target), kept = access(t, F_OK) == 0;
        unlink(t);
        rmdir(d);
        _exit(n == 0 && kept ? 0 : 5);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        fprintf(stderr, "note: the sweep's EPERM case was not run (pid 1 can be signalled)\n");
        return;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A file this user may not write to is refused, not replaced: by the create and by the probe
 * every tool makes before any work (as root, in a child as nobody: root may write anyway). */
static void test_write_protected(void)
{
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(77);
        char d[64], target[96];
        snprintf(d, sizeof d, "/tmp/cxr-test-ro.%d", (int)getpid());
        snprintf(target, sizeof target, "%s/result.onnx", d);
        if (mkdir(d, 0700) != 0) _exit(3);
        FILE *f = fopen(target, "w");
        if (!f) _exit(4);
        fputs("precious", f);
        fclose(f);
        chmod(target, 0444);
        cxr_tmpfile t;
        int bad = 0;
        if (cxr_tmpfile_create(&t, target, 0) != CXR_E_IO ||
            !strstr(cxr_last_error(), "result.onnx: is write-protected (mode 0444)"))
            bad |= 1;
        if (cxr_output_probe("-o", target) != CXR_E_IO || !strstr(cxr_last_error(), "-o")) bad |= 2;
        char cmd[160];
        snprintf(cmd, sizeof cmd, "ls -A %s | grep -c cxr-tmp > /dev/null", d);
        if (system(cmd) == 0) bad |= 4; /* a temporary was made */
        chmod(target, 0644);            /* writable: replaced as before */
        if (cxr_tmpfile_create(&t, target, 0) != CXR_OK || cxr_tmpfile_commit(&t) != CXR_OK)
            bad |= 8;
        cxr_tmpfile_discard(&t);
        unlink(target);
        rmdir(d);
        _exit(bad ? 10 + bad : 0);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        fprintf(stderr, "note: the write-protected case was not run (cannot become nobody)\n");
        return;
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fprintf(stderr, "write-protected child: status %d\n", WEXITSTATUS(st));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* A file of another user, mode 0644 (writable by its owner): said to be not writable by this
 * user, with its owner, not "write-protected ... chmod u+w", which only its owner may run. Made
 * by root, refused to nobody in a child. */
static void test_other_owner(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "note: the other-owner case was not run (not root)\n");
        return;
    }
    char d[64], target[96];
    snprintf(d, sizeof d, "/tmp/cxr-test-owner.%d", (int)getpid());
    snprintf(target, sizeof target, "%s/model.h5", d);
    REQUIRE(mkdir(d, 0700) == 0 && chmod(d, 0777) == 0);
    FILE *f = fopen(target, "w");
    REQUIRE(f && fputs("precious", f) >= 0 && fclose(f) == 0 && chmod(target, 0644) == 0);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(77);
        cxr_tmpfile t;
        const int ok = cxr_tmpfile_create(&t, target, 0) == CXR_E_IO &&
                       strstr(cxr_last_error(),
                              "model.h5: is not writable by this user (owner uid 0, mode 0644): "
                              "not replaced; give another name") != NULL;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        fprintf(stderr, "note: the other-owner case was not run (cannot become nobody)\n");
    else
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(target);
    rmdir(d);
}

/* A write that fails (past ulimit -f here) is reported naming the output, not the temporary
 * that the failure removes. */
static void test_write_failure_names_output(void)
{
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        struct rlimit rl = { 16, 16 };
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(3);
        cxr_tmpfile t;
        if (cxr_tmpfile_create(&t, at("big.txt"), 1) != CXR_OK) _exit(4);
        FILE *f = cxr_tmpfile_stream(&t, "w");
        if (!f) _exit(5);
        for (int i = 0; i < 4096; i++) fputc('x', f);
        const cxr_status s = cxr_tmpfile_commit_stream(&t, &f);
        const char *m = cxr_last_error();
        const int ok = s == CXR_E_IO && strstr(m, "big.txt: write failed: File too large") &&
                       !strstr(m, "cxr-tmp");
        if (!ok) fprintf(stderr, "message: %s\n", m);
        cxr_tmpfile_discard(&t);
        _exit(ok && !exists(at("big.txt")) ? 0 : 6);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* An earlier log beside which no temporary may be made (another user's log in a sticky folder,
 * /tmp's mode 1777: the rename would be refused, so the create refuses it without a system call
 * failing) is refused, left whole, whatever errno held before (a stale EIO said "free space";
 * emptied in place, it was lost with a run that failed first); emptied by the user, it is
 * written in place. */
static int read_all(const char *path, char *buf, size_t cap);
static int open_as_nobody(const char *target, int want_open)
{
    fflush(NULL);
    pid_t c = fork();
    REQUIRE(c >= 0);
    if (c == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(77);
        cxr_tmpfile keep;
        cxr_status s;
        errno = EIO; /* left by some earlier call */
        FILE *f = cxr_log_open("--log", target, 0, "{\"type\":\"run\"", &keep, NULL, &s);
        if (!f) fprintf(stderr, "log open: %s\n", cxr_last_error());
        int ok;
        if (want_open)
            ok = f && keep.path == NULL && keep.held == -1 &&
                 cxr_log_put_line(f, "{\"type\":\"run\",\"n\":2}\n", 22) == 0;
        else
            ok = !f && s == CXR_E_IO && keep.path == NULL &&
                 strstr(cxr_last_error(), "no file can be created there (Operation not "
                                          "permitted): the file is left as it was") != NULL;
        if (f) fclose(f);
        _exit(ok ? 0 : 5);
    }
    int st = 0;
    REQUIRE(waitpid(c, &st, 0) == c);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
static void test_log_without_temporary(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "note: the sticky-folder log case was not run (not root)\n");
        return;
    }
    char d[64], target[96], buf[64];
    snprintf(d, sizeof d, "/tmp/cxr-test-sticky.%d", (int)getpid());
    snprintf(target, sizeof target, "%s/run.jsonl", d);
    REQUIRE(mkdir(d, 0700) == 0 && chmod(d, 01777) == 0);
    put(target, "{\"type\":\"run\"}\n");
    REQUIRE(chmod(target, 0666) == 0);
    const int refused = open_as_nobody(target, 0);
    const int n0 = read_all(target, buf, sizeof buf);
    const int whole = n0 > 0 && strcmp(buf, "{\"type\":\"run\"}\n") == 0;
    put(target, ""); /* emptied by its user: written in place */
    const int opened = refused == 77 ? 77 : open_as_nobody(target, 1);
    const int n1 = read_all(target, buf, sizeof buf);
    unlink(target);
    rmdir(d);
    if (refused == 77) {
        fprintf(stderr, "note: the sticky-folder log case was not run (cannot become nobody)\n");
        return;
    }
    CHECK(refused == 0 && whole);
    CHECK(opened == 0 && n1 > 0 && strcmp(buf, "{\"type\":\"run\",\"n\":2}\n") == 0);
}

/* A file replaced keeps its owner and group (as root, who may give them). */
static void test_owner_kept(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "note: the owner case was not run (not root)\n");
        return;
    }
    cxr_tmpfile t;
    put(at("owned"), "old");
    REQUIRE(chown(at("owned"), 65534, 65534) == 0 && chmod(at("owned"), 0640) == 0);
    CHECK_OK(cxr_tmpfile_create(&t, at("owned"), 0));
    CHECK_OK(cxr_tmpfile_commit(&t));
    struct stat sb;
    CHECK(stat(at("owned"), &sb) == 0 && sb.st_uid == 65534 && sb.st_gid == 65534 &&
          (sb.st_mode & 07777) == 0640);
    cxr_tmpfile_discard(&t);
    unlink(at("owned"));
}

/* This process's open descriptors (a count): a lock held past its use leaks one. Read here, not
 * by a child through popen, whose pipe's other end this process holds until the child runs. */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    REQUIRE(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the listing's own */
}

static int read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    const size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return (int)n;
}

/* cxr_log_open's keep: an earlier log is left whole, the stream writing a temporary beside it,
 * and the earlier file stays locked (another open is refused, nothing created); the temporary
 * is removed (discard: the run ended before anything worth keeping) or replaces the file
 * (commit), the stream going on in it; under a file size limit (as a full disk) the open needs
 * no room (it made a copy, and was refused); `created` says whether anything was there. */
static void test_log_open_keep(void)
{
    const char *mark = "{\"type\":\"run\"";
    const char *old = "{\"type\":\"run\",\"n\":1}\n{\"type\":\"epoch\",\"epoch\":1}\n";
    const char *l1 = "{\"type\":\"run\",\"n\":2}\n", *l2 = "{\"type\":\"epoch\",\"epoch\":1}\n";
    char buf[4096], want[256];
    cxr_tmpfile keep;
    cxr_status st;
    int created = -1;
    put(at("log.jsonl"), old);
    const int before = count_temps();
    FILE *f = cxr_log_open("--log", at("log.jsonl"), 0, mark, &keep, &created, &st);
    REQUIRE(f);
    CHECK(created == 0 && keep.path != NULL && keep.held >= 0 && count_temps() == before + 1);
    CHECK(cxr_log_put_line(f, l1, strlen(l1)) == 0);
    CHECK(read_all(keep.path, buf, sizeof buf) >= 0 && strcmp(buf, l1) == 0); /* written beside */
    CHECK(read_all(at("log.jsonl"), buf, sizeof buf) >= 0 && strcmp(buf, old) == 0); /* whole */
    /* held by the open above (the earlier file's lock): refused, nothing created */
    cxr_tmpfile keep2;
    FILE *g = cxr_log_open("--log", at("log.jsonl"), 0, mark, &keep2, NULL, &st);
    CHECK(g == NULL && st == CXR_E_IO && keep2.path == NULL && keep2.fd == -1 && keep2.held == -1);
    CHECK(strstr(cxr_last_error(), "in use by another process") != NULL);
    CHECK(count_temps() == before + 1);
    /* the run ended before anything worth keeping: its file removed, the earlier one as it was,
     * and free again */
    cxr_tmpfile_discard(&keep);
    CHECK(keep.held == -1 && count_temps() == before);
    CHECK(cxr_log_close(f, at("log.jsonl"), created) == 0);
    CHECK(read_all(at("log.jsonl"), buf, sizeof buf) >= 0 && strcmp(buf, old) == 0);
    /* ... or it did: its file replaces the earlier one, and later lines go on in it; the
     * earlier file's descriptor (its lock) closed by the commit, none left open at the close */
    const int fds = count_fds();
    f = cxr_log_open("--log", at("log.jsonl"), 0, mark, &keep, &created, &st);
    REQUIRE(f);
    CHECK(cxr_log_put_line(f, l1, strlen(l1)) == 0);
    CHECK_OK(cxr_tmpfile_commit(&keep));
    cxr_tmpfile_discard(&keep);
    CHECK(cxr_log_put_line(f, l2, strlen(l2)) == 0);
    snprintf(want, sizeof want, "%s%s", l1, l2);
    CHECK(read_all(at("log.jsonl"), buf, sizeof buf) >= 0 && strcmp(buf, want) == 0);
    CHECK(count_temps() == before);
    /* ... still locked by the stream, now on the file in place */
    g = cxr_log_open("--log", at("log.jsonl"), 0, mark, &keep2, NULL, &st);
    CHECK(g == NULL && st == CXR_E_IO && strstr(cxr_last_error(), "in use by another") != NULL);
    CHECK(cxr_log_close(f, at("log.jsonl"), created) == 0);
    CHECK(count_fds() == fds);
    put(at("log.jsonl"), old);
    /* another holder of the lock (as another run would be) while it is opened */
    const int holder = open(at("log.jsonl"), O_RDONLY);
    REQUIRE(holder >= 0 && flock(holder, LOCK_EX) == 0);
    g = cxr_log_open("--log", at("log.jsonl"), 0, mark, &keep2, NULL, &st);
    CHECK(g == NULL && st == CXR_E_IO && keep2.path == NULL);
    CHECK(strstr(cxr_last_error(), "in use by another process") != NULL);
    CHECK(count_temps() == before);
    CHECK(read_all(at("log.jsonl"), buf, sizeof buf) >= 0 && strcmp(buf, old) == 0);
    close(holder);
    /* a file size limit below the earlier file's size (as a full disk): opened all the same, a
     * line that does not fit fails, and the discard leaves the earlier file as it was */
    struct rlimit lim, was;
    REQUIRE(getrlimit(RLIMIT_FSIZE, &was) == 0);
    void (*sig)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = was;
    lim.rlim_cur = 16;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    g = cxr_log_open("--log", at("log.jsonl"), 0, mark, &keep2, NULL, &st);
    CHECK(g != NULL && keep2.path != NULL);
    if (g) {
        CHECK(cxr_log_put_line(g, l1, strlen(l1)) == -1 && errno == EFBIG);
        cxr_tmpfile_discard(&keep2);
        fclose(g);
    }
    REQUIRE(setrlimit(RLIMIT_FSIZE, &was) == 0);
    signal(SIGXFSZ, sig);
    CHECK(read_all(at("log.jsonl"), buf, sizeof buf) >= 0 && strcmp(buf, old) == 0);
    CHECK(count_temps() == before);
    /* appended to (a resume's log) with room for part of a line only: the part is taken back,
     * the file ends at its last whole line as before (no torn line for its readers) */
    put(at("append.jsonl"), old);
    g = cxr_log_open("--log", at("append.jsonl"), 1, mark, NULL, NULL, &st);
    CHECK(g != NULL);
    if (g) {
        sig = signal(SIGXFSZ, SIG_IGN);
        lim = was;
        lim.rlim_cur = (rlim_t)strlen(old) + 4;
        REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);
        CHECK(cxr_log_put_line(g, l1, strlen(l1)) == -1 && errno == EFBIG);
        REQUIRE(setrlimit(RLIMIT_FSIZE, &was) == 0);
        signal(SIGXFSZ, sig);
        fclose(g);
    }
    CHECK(read_all(at("append.jsonl"), buf, sizeof buf) >= 0 && strcmp(buf, old) == 0);
    /* appended to: no temporary, whatever keep says; a new file: created */
    g = cxr_log_open("--log", at("log.jsonl"), 1, mark, &keep2, &created, &st);
    CHECK(g != NULL && keep2.path == NULL && created == 0);
    if (g) fclose(g);
    g = cxr_log_open("--log", at("new.jsonl"), 0, mark, &keep2, &created, &st);
    CHECK(g != NULL && keep2.path == NULL && created == 1);
    if (g) CHECK(cxr_log_close(g, at("new.jsonl"), created) == 0);
    CHECK(!exists(at("new.jsonl"))); /* nothing written to a file it created: removed */
    /* a log given through a symbolic link: the file it names is replaced, the link stays */
    put(at("target.jsonl"), old);
    REQUIRE(symlink("target.jsonl", at("link.jsonl")) == 0);
    g = cxr_log_open("--log", at("link.jsonl"), 0, mark, &keep2, NULL, &st);
    CHECK(g != NULL && keep2.path != NULL);
    if (g) {
        CHECK(cxr_log_put_line(g, l1, strlen(l1)) == 0);
        CHECK_OK(cxr_tmpfile_commit(&keep2));
        cxr_tmpfile_discard(&keep2);
        fclose(g);
    }
    struct stat ls;
    CHECK(lstat(at("link.jsonl"), &ls) == 0 && S_ISLNK(ls.st_mode));
    CHECK(read_all(at("target.jsonl"), buf, sizeof buf) >= 0 && strcmp(buf, l1) == 0);
    CHECK(count_temps() == before);
    unlink(at("link.jsonl"));
    unlink(at("target.jsonl"));
    unlink(at("log.jsonl"));
}

/* A second open of a log whose first run replaces it meanwhile: the second opens the earlier
 * file, waits for its lock (cxr_flock_ex_nb: ~20 ms) while the first renames its temporary over
 * the name and lets the earlier file go; the lock it then gets is on a file no name reaches, so
 * it opens the name again and finds the first run's lock there: refused. Without that look it
 * wrote its own temporary, renamed later over the first run's live log. The child is timed into
 * that window 10 times (a late child opens the new file at once and is refused all the same). */
static void test_log_open_race(void)
{
    const char *mark = "{\"type\":\"run\"";
    const char *old = "{\"type\":\"run\",\"n\":1}\n";
    int opened = 0, refused = 0;
    for (int k = 0; k < 10; k++) {
        put(at("race.jsonl"), old);
        cxr_tmpfile keep;
        cxr_status st;
        FILE *f = cxr_log_open("--log", at("race.jsonl"), 0, mark, &keep, NULL, &st);
        REQUIRE(f && keep.path);
        fflush(NULL);
        const pid_t c = fork();
        REQUIRE(c >= 0);
        if (c == 0) {
            /* the parent's descriptors shared by fork would hold its locks past its closes */
            for (int fd = 3; fd < 1024; fd++) close(fd);
            cxr_tmpfile k2;
            cxr_status s2;
            FILE *g = cxr_log_open("--log", at("race.jsonl"), 0, mark, &k2, NULL, &s2);
            _exit(g ? 1 : s2 == CXR_E_IO && strstr(cxr_last_error(), "in use") ? 0 : 2);
        }
        const struct timespec ts = { 0, 6000000 }; /* 6 ms: the child waits for the lock */
        nanosleep(&ts, NULL);
        CHECK_OK(cxr_tmpfile_commit(&keep));
        cxr_tmpfile_discard(&keep);
        int ws = 0;
        REQUIRE(waitpid(c, &ws, 0) == c);
        opened += WIFEXITED(ws) && WEXITSTATUS(ws) == 1;
        refused += WIFEXITED(ws) && WEXITSTATUS(ws) == 0;
        fclose(f);
    }
    if (opened) fprintf(stderr, "log open race: the second open went ahead %d time(s)\n", opened);
    CHECK(opened == 0 && refused == 10);
    unlink(at("race.jsonl"));
    char stale[700]; /* the temporaries a second open that went ahead left */
    snprintf(stale, sizeof stale, "rm -f %s/.race.jsonl.cxr-tmp-*", dir);
    (void)!system(stale);
}

/* A log that holds only white space ("\n  \n") counts as empty: checked and opened, not
 * refused as "not such a log", and emptied for the run. */
static void test_log_blank(void)
{
    const char *mark = "{\"type\":\"run\"";
    char buf[64];
    cxr_status st;
    put(at("blank.jsonl"), "\n  \n");
    st = cxr_log_check("--log", at("blank.jsonl"), 0, mark);
    if (st != CXR_OK) fprintf(stderr, "check of a blank log: %s\n", cxr_last_error());
    CHECK(st == CXR_OK);
    CHECK(cxr_log_check("--log", at("blank.jsonl"), 1, mark) == CXR_OK);
    FILE *f = cxr_log_open("--log", at("blank.jsonl"), 0, mark, NULL, NULL, &st);
    if (!f) fprintf(stderr, "open of a blank log: %s\n", cxr_last_error());
    CHECK(f != NULL && st == CXR_OK);
    if (f) CHECK(cxr_log_close(f, at("blank.jsonl"), 0) == 0);
    CHECK(read_all(at("blank.jsonl"), buf, sizeof buf) == 0); /* emptied */
    unlink(at("blank.jsonl"));
}

/* The write-only case's open, by the file's owner: the read-write open must fail with EACCES
 * (77 when it does not: nothing to test), cxr_log_open then writes the file, uncopied. 0 when
 * it did, else a code (said on stderr). */
static int write_only_open(const char *path)
{
    const char *mark = "{\"type\":\"run\"";
    const int probe = open(path, O_RDWR);
    if (probe >= 0 || errno != EACCES) {
        if (probe >= 0) close(probe);
        return 77;
    }
    cxr_tmpfile keep;
    cxr_status s;
    int created = -1;
    FILE *f = cxr_log_open("--log", path, 0, mark, &keep, &created, &s);
    if (!f) {
        fprintf(stderr, "write-only log: %s\n", cxr_last_error());
        return 5;
    }
    const int copied = keep.path != NULL; /* nothing to copy it from */
    cxr_tmpfile_discard(&keep);
    fputs("{\"type\":\"run\"}\n", f);
    if (cxr_log_close(f, path, created) != 0) return 7;
    return copied || created != 0 ? 6 : 0;
}

/* A log this user may write but not read (mode 0200, its own) is written as before, unread
 * and uncopied: the read-write open's EACCES falls back to a write-only one. As its owner in
 * this process; as root (who may read anyway), in a child as nobody. */
static void test_log_write_only_in(int dir_writable);
static void test_log_write_only(void)
{
    test_log_write_only_in(0);
    /* where a temporary could be made beside it: none is, all the same (the file's content
     * unread, not known to be a log; replaced by rename, a log would take the temporary's
     * owner and mode) */
    test_log_write_only_in(1);
}

static void test_log_write_only_in(int dir_writable)
{
    char d[600], path[700], buf[256];
    snprintf(d, sizeof d, "%s/wronly", dir);
    snprintf(path, sizeof path, "%s/run.jsonl", d);
    REQUIRE(mkdir(d, 0755) == 0);
    put(path, "earlier content\n");
    int code;
    if (geteuid() != 0) {
        REQUIRE(chmod(path, 0200) == 0);
        code = write_only_open(path);
    } else if (chmod(dir, 0711) != 0 || chown(path, 65534, 65534) != 0 ||
               chmod(path, 0200) != 0 || (dir_writable && chown(d, 65534, 65534) != 0)) {
        code = 77; /* a user namespace without nobody, say */
    } else {
        fflush(NULL);
        pid_t c = fork();
        REQUIRE(c >= 0);
        if (c == 0) /* nobody may search dir and d, and write in d only where dir_writable */
            _exit(setgid(65534) != 0 || setuid(65534) != 0 ? 77 : write_only_open(path));
        int st = 0;
        REQUIRE(waitpid(c, &st, 0) == c);
        code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    chmod(dir, 0700);
    chmod(path, 0600);
    const int n = read_all(path, buf, sizeof buf);
    unlink(path);
    rmdir(d);
    if (code == 77) {
        fprintf(stderr, "note: the write-only log case was not run (no EACCES to fall back "
                        "from)\n");
        return;
    }
    if (code != 0) fprintf(stderr, "write-only log: ended with code %d\n", code);
    CHECK(code == 0);
    CHECK(n >= 0 && strcmp(buf, "{\"type\":\"run\"}\n") == 0); /* emptied, then written */
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cxr-test-tmpfile.%d", (int)getpid());
    mkdir(dir, 0700);

    /* the name: in the target's folder, hidden, pid and 16 hex digits; mode 0666 - umask */
    cxr_tmpfile t;
    mode_t old = umask(022);
    CHECK_OK(cxr_tmpfile_create(&t, at("out.h5"), 0));
    umask(old);
    char want[600];
    snprintf(want, sizeof want, "%s/.out.h5.cxr-tmp-%d-", dir, (int)getpid());
    CHECK(strncmp(t.path, want, strlen(want)) == 0 && strlen(t.path) == strlen(want) + 16);
    struct stat sb;
    CHECK(fstat(t.fd, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    /* two temporaries for one target never share a name */
    cxr_tmpfile t2;
    CHECK_OK(cxr_tmpfile_create(&t2, at("out.h5"), 0));
    CHECK(strcmp(t.path, t2.path) != 0);
    cxr_tmpfile_discard(&t2);
    CHECK(t2.path == NULL && t2.fd == -1);
    /* the /proc name reopens the same file even after its name is replaced */
    char name[600];
    cxr_tmpfile_open_name(&t, name, sizeof name);
    CHECK(strncmp(name, "/proc/self/fd/", 14) == 0);
    int fd = open(name, O_RDWR);
    CHECK(cxr_tmpfile_same_file(&t, fd));
    close(fd);
    /* commit: the content appears at the target, the temporary is gone; the new file takes the
     * mode of the one it replaced (a checkpoint made private stays private) */
    put(at("out.h5"), "old");
    REQUIRE(chmod(at("out.h5"), 0604) == 0); /* a mode no usual umask gives the temporary */
    REQUIRE(write(t.fd, "new", 3) == 3);
    char tpath[600];
    snprintf(tpath, sizeof tpath, "%s", t.path);
    CHECK_OK(cxr_tmpfile_commit(&t));
    CHECK(!exists(tpath));
    char buf[8] = "";
    CHECK(strcmp(slurp_line(at("out.h5"), buf, sizeof buf), "new") == 0);
    CHECK(stat(at("out.h5"), &sb) == 0 && (sb.st_mode & 0777) == 0604);
    cxr_tmpfile_discard(&t); /* after a commit: frees only */
    CHECK(exists(at("out.h5")));

    /* a commit whose fsync fails is an I/O error and renames nothing: the old file stays */
    CHECK_OK(cxr_tmpfile_create(&t, at("out.h5"), 0));
    REQUIRE(write(t.fd, "lost", 4) == 4);
    snprintf(tpath, sizeof tpath, "%s", t.path);
    fail_fsync = 1;
    CHECK(cxr_tmpfile_commit(&t) == CXR_E_IO);
    fail_fsync = 0;
    CHECK(strstr(cxr_last_error(), "cannot sync it to disk") != NULL);
    CHECK(strstr(cxr_last_error(), "cxr-tmp") == NULL); /* the output named, not its temporary */
    CHECK(strcmp(slurp_line(at("out.h5"), buf, sizeof buf), "new") == 0);
    cxr_tmpfile_discard(&t);
    CHECK(!exists(tpath));

    /* discard removes the temporary, the target is untouched; lock 1 holds an flock on it that
     * another open file description cannot take (a sweeper in another pid namespace) */
    CHECK_OK(cxr_tmpfile_create(&t, at("out.h5"), 1));
    snprintf(tpath, sizeof tpath, "%s", t.path);
    int other_fd = open(tpath, O_RDONLY);
    CHECK(other_fd >= 0 && flock(other_fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK);
    close(other_fd);
    cxr_tmpfile_discard(&t);
    CHECK(!exists(tpath) && exists(at("out.h5")));

    /* stale ones: a dead pid's regular file last written long ago goes; one written lately
     * (a writer in another pid namespace whose HDF5 takes no lock) stays; a live pid's stays; a
     * locked one stays; a symlink (to a file that must survive) stays; another target's stays */
    const char *dead = ".out.h5.cxr-tmp-2147483646-0123456789abcdef";
    const char *locked = ".out.h5.cxr-tmp-2147483645-0123456789abcdef";
    const char *link = ".out.h5.cxr-tmp-2147483644-0123456789abcdef";
    const char *other = ".other.h5.cxr-tmp-2147483646-0123456789abcdef";
    const char *odd = ".out.h5.cxr-tmp-2147483646-0123456789abcdeX";
    const char *longer = ".out.h5.cxr-tmp-2147483646-0123456789abcdef.keep"; /* a user's file */
    const char *recent = ".out.h5.cxr-tmp-2147483643-0123456789abcdef";
    char live[128];
    snprintf(live, sizeof live, ".out.h5.cxr-tmp-%d-0123456789abcdef", (int)getppid());
    put(at(dead), "x");
    put(at(locked), "x");
    put(at(other), "x");
    put(at(odd), "x");
    put(at(longer), "x");
    put(at(live), "x");
    put(at(recent), "x");
    put(at("victim"), "keep");
    REQUIRE(symlink(at("victim"), at(link)) == 0);
    const char *old_ones[] = { dead, locked, other, odd, longer, live, link };
    for (int i = 0; i < 7; i++) make_old(at(old_ones[i]));
    int lfd = open(at(locked), O_RDONLY);
    REQUIRE(lfd >= 0 && flock(lfd, LOCK_EX) == 0); /* a writer in another pid namespace */
    CHECK(cxr_tmpfile_sweep(at("out.h5")) == 1);
    CHECK(!exists(at(dead)));
    CHECK(exists(at(locked)) && exists(at(link)) && exists(at(other)) && exists(at(odd)) &&
          exists(at(longer)) && exists(at(live)) && exists(at("victim")) && exists(at(recent)));
    close(lfd);                                        /* the lock goes with its owner: now stale */
    CHECK_OK(cxr_tmpfile_create(&t, at("out.h5"), 0)); /* creating sweeps */
    CHECK(!exists(at(locked)) && exists(at(link)));
    cxr_tmpfile_discard(&t);
    CHECK(count_temps() == 6); /* link, other, odd, longer, live, recent */

    /* a target of the longest name a folder takes (255 bytes): its temporary's name is cut
     * to fit too, and the commit gives the target */
    {
        char name[256];
        memset(name, 'n', 255);
        name[255] = '\0';
        CHECK_OK(cxr_tmpfile_create(&t, at(name), 0));
        CHECK(strlen(strrchr(t.path, '/') + 1) <= 255);
        CHECK_OK(cxr_tmpfile_commit(&t));
        CHECK(exists(at(name)) && count_temps() == 6);
        cxr_tmpfile_discard(&t); /* after a commit: frees only */
        CHECK(unlink(at(name)) == 0);
    }

    /* a folder that cannot be written: CXR_E_IO naming the target, nothing created */
    CHECK(cxr_tmpfile_create(&t, "/proc/cxr-no/out.h5", 0) == CXR_E_IO);
    CHECK(strstr(cxr_last_error(), "/proc/cxr-no/out.h5") != NULL);
    CHECK(t.path == NULL && t.fd == -1);
    CHECK(cxr_tmpfile_create(&t, at("sub/"), 0) == CXR_E_ARG);

    test_sweep_eperm();
    test_leftovers();
    test_write_protected();
    test_other_owner();
    test_write_failure_names_output();
    test_owner_kept();
    test_log_open_race();
    test_log_without_temporary();
    test_log_open_keep();
    test_log_blank();
    test_log_write_only();

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    TEST_END();
}
