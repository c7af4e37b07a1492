/* sigmask.c: block asynchronous signals on the calling thread (cxr_sigmask.h). */
#include <pthread.h>
#include <signal.h>

#include "cxr_sigmask.h"

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
