/* test_signals.c: cxr_signals.h. The stop handler: the first SIGINT/SIGTERM/SIGHUP sets the flag
 * and the process lives on, a second one of any of them kills it (the default action); one
 * ignored on entry (nohup) stays ignored; system calls restart (SA_RESTART). The asynchronous mask: blocks SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPROF, SIGALRM,
 * never SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT; a signal sent meanwhile is delivered on
 * restore. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cxr_signals.h"
#include "cxr_test.h"

static int blocked(int sig)
{
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    return sigismember(&cur, sig);
}

/* In a child: ignore `ignored` (0: none), install, raise `first` then `second`; how the child
 * ended, and whether the flag was set after the first. */
static int twice_in_child(int ignored, int first, int second, int *flag_after_first)
{
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (ignored) signal(ignored, SIG_IGN);
        volatile sig_atomic_t *stop = cxr_signals_stop_on_interrupt();
        raise(first);
        char c = *stop ? '1' : '0';
        if (write(fds[1], &c, 1) != 1) _exit(3);
        raise(second);
        _exit(*stop ? 10 : 0); /* reached only when the second signal did not kill */
    }
    close(fds[1]);
    char c = '?';
    if (read(fds[0], &c, 1) != 1) c = '?';
    close(fds[0]);
    *flag_after_first = c == '1';
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
    TEST_END();
}
