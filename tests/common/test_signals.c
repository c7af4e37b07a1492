/* test_signals.c: cxr_signals.h. The stop handler: the first SIGINT/SIGTERM/SIGHUP sets the flag
 * and the process lives on, a second one of any of them kills it (the default action); one ignored
 * on entry (nohup) stays ignored; system calls restart (SA_RESTART). The asynchronous mask: blocks
 * SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPROF, SIGALRM, never SIGSEGV, SIGBUS, SIGFPE, SIGILL,
 * SIGABRT; a signal sent meanwhile is delivered on restore, or, for the stop signals and
 * cxr_sigmask_restore_taking_stop, taken (not if ignored or held by the caller) as one first stop
 * signal, however many came. The guard of mapped reads: a read past the end of a mapped file cut
 * short returns 1 from cxr_guard_mapped_read instead of killing, again and again, on any thread,
 * with SIGBUS unblocked after; a SIGBUS it does not own (outside the guarded range, outside a
 * guard, sent by kill) still kills, or reaches the handler installed before, which may return, and
 * the guard works on after it, also after another handler replaced it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxr_signals.h"
#include "cxr_test.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static int blocked(int sig)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

/* A child that reports n bytes through a pipe (fds[1] in the child) before it may die of a
 * signal: child_fork forks (0 in the child), child_end reads the report into buf (filled with
 * 0xff when it did not come) and returns how the child ended. */
static pid_t child_fork(int fds[2])
{
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid > 0) close(fds[1]);
    return pid;
}
static int child_end(pid_t pid, int fds[2], void *buf, size_t n)
{
    if (read(fds[0], buf, n) != (ssize_t)n) memset(buf, 0xff, n);
    close(fds[0]);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return status;
}

/* In a child: ignore `ignored` (0: none), install, raise `first` then `second`; how the child
 * ended, and whether the flag was set after the first. */
static int twice_in_child(int ignored, int first, int second, int *flag_after_first)
{
    int fds[2];
    const pid_t pid = child_fork(fds);
    if (pid == 0) {
        if (ignored) signal(ignored, SIG_IGN);
        volatile sig_atomic_t *stop = cxr_signals_stop_on_interrupt();
        raise(first);
        char c = *stop ? '1' : '0';
        if (write(fds[1], &c, 1) != 1) _exit(3);
        raise(second);
        _exit(*stop ? 10 : 0); /* reached only when the second signal did not kill */
    }
    char c;
    const int status = child_end(pid, fds, &c, 1);
    *flag_after_first = c == '1';
    return status;
}

/* In a child, as cxr-export writes its output: the stop handler installed or not, `ignored`
 * ignored and `held` blocked before (0: none), every asynchronous signal blocked, SIGTERM and
 * SIGINT raised (`raised`; and `ignored`), then cxr_sigmask_restore_taking_stop. What it returned
 * goes to *got, the stop flag to *flag, whether `held` is still pending and blocked to *kept;
 * then the child raises SIGTERM (the next signal) and exits 10 if it lives on. */
static int held_in_child(int handler, int ignored, int held, int raised, int *got, int *flag,
                         int *kept)
{
    int fds[2];
    const pid_t pid = child_fork(fds);
    if (pid == 0) {
        if (ignored) signal(ignored, SIG_IGN);
        volatile sig_atomic_t *stop = handler ? cxr_signals_stop_on_interrupt() : NULL;
        if (held) {
            sigset_t h;
            sigemptyset(&h);
            sigaddset(&h, held);
            pthread_sigmask(SIG_BLOCK, &h, NULL);
        }
        cxr_sigmask_saved old;
        cxr_sigmask_block_async(&old);
        if (raised) {
            raise(SIGTERM);
            raise(SIGINT);
            if (ignored) raise(ignored);
        }
        int r[3] = { cxr_sigmask_restore_taking_stop(&old), stop && *stop, 0 };
        sigset_t pend;
        sigpending(&pend);
        r[2] = held && sigismember(&pend, held) && blocked(held);
        if (write(fds[1], r, sizeof r) != (ssize_t)sizeof r) _exit(3);
        raise(SIGTERM);
        _exit(10);
    }
    int r[3];
    const int status = child_end(pid, fds, r, sizeof r); /* -1s when no report came */
    *got = r[0], *flag = r[1], *kept = r[2];
    return status;
}

/* A file of 4 pages mapped whole, then cut to 1: its pages 1-3 are gone (SIGBUS to read). */
static long page;
static volatile unsigned char *cut_map;

static void map_cut_file(void)
{
    char path[64];
    snprintf(path, sizeof path, "signals_test_cut_%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    REQUIRE(f);
    for (long i = 0; i < 4 * page; i++) fputc((int)(i % 251), f);
    REQUIRE(fclose(f) == 0);
    FILE *r = fopen(path, "rb");
    REQUIRE(r);
    void *m = mmap(NULL, (size_t)(4 * page), PROT_READ, MAP_SHARED, fileno(r), 0);
    REQUIRE(m != MAP_FAILED);
    fclose(r); /* the mapping stays */
    REQUIRE(truncate(path, page) == 0);
    unlink(path);
    cut_map = m;
}

typedef struct {
    long from, to; /* bytes read: [from, to) of the mapping */
} span;

static int sum_span(void *arg)
{
    const span *sp = arg;
    unsigned sum = 0;
    for (long i = sp->from; i < sp->to; i++) sum += cut_map[i];
    return (int)(sum & 0x7fffffff);
}

static int guarded(long from, long to, long g_from, long g_to, int *st)
{
    span sp = { from, to };
    return cxr_guard_mapped_read((const void *)(cut_map + g_from), (size_t)(g_to - g_from),
                                 sum_span, &sp, st);
}

static void *guard_in_thread(void *arg)
{
    int st = -1, *faulted = arg;
    *faulted = guarded(0, 4 * page, 0, 4 * page, &st);
    return NULL;
}

static int kill_self_bus(void *arg)
{
    (void)arg;
    kill(getpid(), SIGBUS);
    return 0;
}

static volatile sig_atomic_t bus_calls;
static void count_bus(int sig)
{
    (void)sig;
    bus_calls++;
}

/* In a child: a handler that returns gets a SIGBUS the guard does not own, and the guard still
 * works after it (replaced: after the guard was installed, another handler took SIGBUS over);
 * 0 when both held. */
static int chained_in_child(int replaced)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(10); /* a guard that re-faults for ever ends here */
        int st;
        if (!replaced) signal(SIGBUS, count_bus);
        if (guarded(0, 4 * page, 0, 4 * page, &st) != 1) _exit(3);
        if (replaced) signal(SIGBUS, count_bus);
        if (guarded(0, 4 * page, 0, 4 * page, &st) != 1) _exit(4);
        kill(getpid(), SIGBUS); /* sent: to count_bus, not ours */
        if (bus_calls != 1) _exit(5);
        if (guarded(0, 4 * page, 0, 4 * page, &st) != 1) _exit(6);
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return status;
}

static void on_bus_before(int sig)
{
    (void)sig;
    _exit(42);
}

/* In a child: how = 0 reads a gone page outside any guard, 1 reads one outside the guarded
 * range, 2 sends itself SIGBUS in a guard; before = 1 installs a SIGBUS handler first (it exits
 * 42), 2 the default action with SA_SIGINFO, 3 ignores SIGBUS. The child's status. */
static int unowned_in_child(int how, int before)
{
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(10); /* a fault that re-runs for ever ends here */
        if (before == 1) signal(SIGBUS, on_bus_before);
        if (before == 3) signal(SIGBUS, SIG_IGN);
        if (before == 2) { /* the default action, set with SA_SIGINFO */
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            sa.sa_flags = SA_SIGINFO;
            sigaction(SIGBUS, &sa, NULL);
        }
        int st;
        if (guarded(0, 4 * page, 0, 4 * page, &st) != 1) _exit(3); /* the guard is installed */
        if (how == 0) (void)sum_span(&(span){ 0, 4 * page });
        if (how == 1) (void)guarded(0, 4 * page, 0, page, &st);
        if (how == 2) {
            span sp = { 0, 1 };
            (void)cxr_guard_mapped_read((const void *)cut_map, (size_t)page,
                                        (int (*)(void *))kill_self_bus, &sp, &st);
        }
        _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    return status;
}

int main(void)
{
    const int stop_sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (int i = 0; i < 3; i++) {
        int flag = 0;
        int status = twice_in_child(0, stop_sigs[i], stop_sigs[i], &flag);
        CHECK(flag); /* the first signal set the flag and the process went on */
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == stop_sigs[i]); /* the second killed */
        /* a second signal of another kind kills too (Ctrl-C, then SIGTERM) */
        const int other = stop_sigs[(i + 1) % 3];
        flag = 0;
        status = twice_in_child(0, stop_sigs[i], other, &flag);
        CHECK(flag);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == other);
    }
    /* nohup: SIGHUP ignored on entry stays ignored (no flag, no death); SIGINT still stops */
    int flag = 1;
    int status = twice_in_child(SIGHUP, SIGHUP, SIGINT, &flag);
    CHECK(!flag);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 10);
    /* stop signals held back while a tool writes its output are taken, however many came,
     * instead of delivered (which killed the tool after its output was whole): the tool lives
     * on, told the first (the lowest-numbered: SIGINT), the flag set where the handler is
     * installed, and the next signal kills (as after a first signal) */
    int got, stopped, kept;
    for (int handler = 0; handler < 2; handler++) {
        status = held_in_child(handler, 0, 0, 1, &got, &stopped, &kept);
        CHECK(got == SIGINT && stopped == handler);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    }
    /* nothing held: nothing taken, and SIGTERM still stops (the handler) or kills */
    status = held_in_child(1, 0, 0, 0, &got, &stopped, &kept);
    CHECK(got == 0 && stopped == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 10);
    /* one blocked in the saved mask stays pending and blocked: the caller holds it */
    status = held_in_child(1, 0, SIGINT, 1, &got, &stopped, &kept);
    CHECK(got == SIGTERM && stopped && kept);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
    /* nohup: an ignored SIGHUP is not taken (it came first otherwise) and kills no one */
    status = held_in_child(0, SIGHUP, 0, 1, &got, &stopped, &kept);
    CHECK(got == SIGINT);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);

    volatile sig_atomic_t *stop = cxr_signals_stop_on_interrupt();
    CHECK(*stop == 0);
    struct sigaction sa;
    sigaction(SIGHUP, NULL, &sa);
    CHECK(sa.sa_flags & SA_RESTART);
    CHECK(sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN);

    CHECK(!cxr_sigmask_async_blocked());
    cxr_sigmask_saved old;
    cxr_sigmask_block_async(&old);
    CHECK(cxr_sigmask_async_blocked());
    const int async[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPROF, SIGALRM, SIGCHLD, SIGWINCH };
    for (unsigned i = 0; i < sizeof async / sizeof async[0]; i++) CHECK(blocked(async[i]));
    const int sync[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP };
    for (unsigned i = 0; i < sizeof sync / sizeof sync[0]; i++) CHECK(!blocked(sync[i]));
    raise(SIGHUP); /* held back while blocked ... */
    CHECK(*stop == 0);
    cxr_sigmask_restore(&old);
    CHECK(*stop == 1); /* ... and delivered on restore */
    CHECK(!blocked(SIGINT));

    page = sysconf(_SC_PAGESIZE);
    map_cut_file();
    /* first, before this process installs the guard (pthread_once): each child installs it */
    for (int how = 0; how < 3; how++) {
        status = unowned_in_child(how, 0);
        /* the default action kills (under AddressSanitizer, its handler was there before) */
        CHECK(SANITIZED || (WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS));
        status = unowned_in_child(how, 1);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
        status = unowned_in_child(how, 2);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
        /* ignored before: a SIGBUS sent stays ignored, a fault kills (the kernel overrides
         * ignoring one) */
        status = unowned_in_child(how, 3);
        CHECK(how == 2 ? WIFEXITED(status) && WEXITSTATUS(status) == 0
                       : WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS);
    }
    for (int replaced = 0; replaced < 2; replaced++) {
        status = chained_in_child(replaced);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    int st = -1, want = sum_span(&(span){ 0, page });
    CHECK(guarded(0, page, 0, 4 * page, &st) == 0 && st == want); /* the page still there */
    for (int i = 0; i < 3; i++) { /* caught, again and again, SIGBUS unblocked after */
        st = -1;
        CHECK(guarded(0, 4 * page, 0, 4 * page, &st) == 1 && st == -1);
        CHECK(guarded(2 * page, 2 * page + 8, 2 * page, 3 * page, &st) == 1);
        CHECK(!blocked(SIGBUS));
    }
    CHECK(guarded(0, page, 0, 4 * page, &st) == 0 && st == want);
    /* after this process used the guard: a child of fork is guarded too (on its own thread id) */
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        alarm(10);
        int cst;
        _exit(guarded(0, 4 * page, 0, 4 * page, &cst) == 1 ? 0 : 5);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    int faulted = 0;
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, guard_in_thread, &faulted) == 0);
    pthread_join(th, NULL);
    CHECK(faulted == 1);
    TEST_END();
}
