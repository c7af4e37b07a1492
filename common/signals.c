/* signals.c: the tools' stop handler and the asynchronous-signal mask (cxr_signals.h). */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "cxr_signals.h"

/* All signals but the synchronous ones, which report a fault of the thread itself. */
static void async_set(sigset_t *s)
{
    static const int sync[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT };
    sigfillset(s);
    for (unsigned i = 0; i < sizeof sync / sizeof sync[0]; i++) sigdelset(s, sync[i]);
}

void cxr_sigmask_block_async(sigset_t *old)
{
    sigset_t s;
    async_set(&s);
    pthread_sigmask(SIG_BLOCK, &s, old);
}

void cxr_sigmask_restore(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

int cxr_sigmask_async_blocked(void)
{
    sigset_t s, cur;
    async_set(&s);
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    for (int sig = 1; sig < SIGRTMIN; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sigismember(&s, sig) && !sigismember(&cur, sig))
            return 0;
    return 1;
}

static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

volatile sig_atomic_t *cxr_signals_stop_on_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND | SA_RESTART; /* a second signal kills at once */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    return &stop_requested;
}
