/* signals.c: the tools' stop handler, the asynchronous-signal mask and the guard of mapped reads
 * (cxr_signals.h). */
#include <pthread.h>
#include <setjmp.h>
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

_Static_assert(sizeof(sigset_t) <= sizeof(cxr_sigmask_saved), "cxr_sigmask_saved is too small");

void cxr_sigmask_block_async(cxr_sigmask_saved *old)
{
    sigset_t s, prev;
    async_set(&s);
    pthread_sigmask(SIG_BLOCK, &s, &prev);
    if (old) memcpy(old, &prev, sizeof prev);
}

void cxr_sigmask_restore(const cxr_sigmask_saved *old)
{
    sigset_t prev;
    memcpy(&prev, old, sizeof prev);
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
}

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

enum { N_STOP = 3 };
static const int stop_signals[N_STOP] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction stop_before[N_STOP]; /* what each had before, put back on the first */
static int stop_installed[N_STOP];
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
    /* a second signal, of any of the three, meets the action from before: death */
    for (int i = 0; i < N_STOP; i++)
        if (stop_installed[i]) sigaction(stop_signals[i], &stop_before[i], NULL);
}

volatile sig_atomic_t *cxr_signals_stop_on_interrupt(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigfillset(&sa.sa_mask); /* the handler is not interrupted by the others */
    sa.sa_flags = SA_RESTART;
    for (int i = 0; i < N_STOP; i++) {
        struct sigaction old;
        if (sigaction(stop_signals[i], NULL, &old) != 0) continue;
        /* ignored on entry (nohup; a background job of a script for SIGINT): stays ignored */
        if (old.sa_handler == SIG_IGN || old.sa_handler == on_stop_signal) continue;
        stop_before[i] = old;
        stop_installed[i] = 1;
        sigaction(stop_signals[i], &sa, NULL);
    }
    return &stop_requested;
}

/* ------------------------------------------------- SIGBUS from a mapped file's read */

typedef struct {
    const char *lo, *hi; /* the mapped bytes the guarded reader reads */
    sigjmp_buf env;
} bus_guard;

static _Thread_local bus_guard *volatile bus_active; /* this thread's guard, NULL outside one */
static struct sigaction bus_before; /* the action before ours, put back for a SIGBUS not ours */
static int bus_installed;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void on_bus(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    bus_guard *g = bus_active;
    const char *at = si->si_addr;
    /* si_code > 0: raised by the kernel for a fault of this thread, si_addr its address */
    if (g && si->si_code > 0 && at >= g->lo && at < g->hi) {
        bus_active = NULL;
        siglongjmp(g->env, 1); /* the mask saved by sigsetjmp, SIGBUS unblocked, comes back */
    }
    /* Not ours: the action from before. A fault re-runs its instruction on return and raises it
     * again under that action; a SIGBUS sent by another process is sent again (pending until
     * this handler returns). */
    sigaction(SIGBUS, &bus_before, NULL);
    if (si->si_code <= 0) raise(sig);
}

static void bus_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_bus;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO;
    bus_installed = sigaction(SIGBUS, &sa, &bus_before) == 0;
}

int cxr_guard_mapped_read(const void *base, size_t len, int (*fn)(void *), void *arg, int *st)
{
    pthread_once(&bus_once, bus_install);
    if (!bus_installed) { /* no handler: read as without the guard */
        *st = fn(arg);
        return 0;
    }
    bus_guard g;
    g.lo = base;
    g.hi = (const char *)base + len;
    if (sigsetjmp(g.env, 1)) return 1; /* a SIGBUS in [lo, hi): fn abandoned */
    bus_active = &g;
    *st = fn(arg);
    bus_active = NULL;
    return 0;
}
