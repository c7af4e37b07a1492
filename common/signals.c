/* signals.c: the tools' stop handler, the asynchronous-signal mask and the guard of mapped reads
 * (cxr_signals.h). */
#define _GNU_SOURCE /* syscall, SYS_gettid */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

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

static void (*volatile last_words)(void); /* cxr_signals_last_words' */

/* A stop signal whose action is death (a second one after the stop handler's first, or any
 * before a tool installs it): the last words said, then death of that signal (blocked in the
 * handler: delivered, and fatal, as it returns). */
static void on_fatal_stop(int sig)
{
    void (*fn)(void) = last_words;
    if (fn) fn();
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
    raise(sig);
}

static void fatal_stop_action(struct sigaction *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sa_handler = on_fatal_stop;
    sigfillset(&sa->sa_mask);
}

static int is_default(const struct sigaction *a)
{
    return !(a->sa_flags & SA_SIGINFO) && a->sa_handler == SIG_DFL;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    const int saved = errno;
    /* atomic: worker threads read the flag (pack's decode loop, the loader's callers) */
    __atomic_store_n(&stop_requested, 1, __ATOMIC_RELAXED);
    /* a second signal, of any of the three, meets the action from before: death (after the
     * last words, where that action is the default) */
    struct sigaction fatal;
    fatal_stop_action(&fatal);
    for (int i = 0; i < N_STOP; i++)
        if (stop_installed[i])
            sigaction(stop_signals[i], is_default(&stop_before[i]) ? &fatal : &stop_before[i],
                      NULL);
    errno = saved;
}

void cxr_signals_last_words(void (*fn)(void))
{
    last_words = fn;
    struct sigaction fatal, cur;
    fatal_stop_action(&fatal);
    /* only the default action: an ignored signal (nohup) stays ignored, and the stop handler
     * ends the tool by exit or, on its second signal, here */
    for (int i = 0; i < N_STOP; i++)
        if (sigaction(stop_signals[i], NULL, &cur) == 0 && is_default(&cur))
            sigaction(stop_signals[i], &fatal, NULL);
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

int cxr_sigmask_restore_taking_stop(const cxr_sigmask_saved *old)
{
    sigset_t prev, pending, take;
    memcpy(&prev, old, sizeof prev);
    sigemptyset(&take);
    sigpending(&pending);
    for (int i = 0; i < N_STOP; i++) {
        struct sigaction cur;
        const int sig = stop_signals[i];
        /* an ignored one is dropped by the restore: taken, it would stop a nohup'd tool */
        if (sigismember(&pending, sig) && !sigismember(&prev, sig) &&
            sigaction(sig, NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
            sigaddset(&take, sig);
    }
    const struct timespec now = { 0, 0 };
    int first = 0, sig;
    /* the held signals are blocked on this thread: sigtimedwait takes them, process-directed
     * (kill) or not, without delivery */
    while ((sig = sigtimedwait(&take, NULL, &now)) > 0)
        if (!first) first = sig;
    if (first) on_stop_signal(first);
    pthread_sigmask(SIG_SETMASK, &prev, NULL);
    return first;
}

/* ------------------------------------------------- SIGBUS from a mapped file's read */

/* The guards in progress, one slot per thread inside cxr_guard_mapped_read, found by the
 * handler through its thread id: a lock-free array of atomics, so the handler touches no
 * thread-local storage (in a shared library, as Python loads libcxr, the first touch of a
 * thread's TLS block may call malloc, which a signal handler must not). A thread that finds
 * every slot taken reads unguarded. */
typedef struct {
    const char *lo, *hi; /* the mapped bytes the guarded reader reads */
    sigjmp_buf env;
} bus_guard;

enum { BUS_SLOTS = 256 };
static struct {
    _Atomic int tid;  /* the owning thread, 0 when free */
    bus_guard *guard; /* written and read by the owning thread only */
} bus_slots[BUS_SLOTS];

/* The action ours displaced: a SIGBUS not ours goes there. A handler may run on another thread
 * while bus_install replaces it (a SIGBUS delivered before another handler replaced ours), so the
 * action is kept as a seqlock of two copies: bus_install (under bus_mu) writes the copy not in
 * use and then advances bus_before_gen, whose low bit names the copy in use; the handler copies
 * the one the generation names and copies again if the generation moved meanwhile, so it never
 * keeps a half-written action. */
static struct sigaction bus_before[2];
static _Atomic unsigned bus_before_gen;
static pthread_mutex_t bus_mu = PTHREAD_MUTEX_INITIALIZER;

static int thread_id(void) { return (int)syscall(SYS_gettid); }

/* A SIGBUS that is not a guard's: to the action from before, as the kernel would have taken it
 * (its own mask and flags aside). A handler of its own is called; for the default action (or
 * ignore, which the kernel overrides for a fault), that action is put back: a fault re-runs its
 * instruction on return and raises it again under it, a signal sent by kill is sent again
 * (pending until this handler returns; ignored stays ignored). */
static void pass_on(int sig, siginfo_t *si, void *ctx)
{
    struct sigaction before;
    unsigned gen;
    do {
        gen = atomic_load(&bus_before_gen);
        before = bus_before[gen & 1];
        atomic_thread_fence(memory_order_acquire); /* the copy is done before the re-check */
    } while (atomic_load(&bus_before_gen) != gen);
    /* SIG_DFL and SIG_IGN are values of the handler whatever the flags say */
    if (before.sa_handler != SIG_DFL && before.sa_handler != SIG_IGN) {
        if (before.sa_flags & SA_SIGINFO)
            before.sa_sigaction(sig, si, ctx);
        else
            before.sa_handler(sig);
        return;
    }
    const int fault = si->si_code > 0;
    if (before.sa_handler == SIG_IGN && !fault) return;
    signal(SIGBUS, SIG_DFL);
    if (!fault) raise(sig);
}

static void on_bus(int sig, siginfo_t *si, void *ctx)
{
    /* si_code > 0: raised by the kernel for a fault of this thread, si_addr its address */
    if (si->si_code > 0) {
        const int me = thread_id();
        const char *at = si->si_addr;
        for (int i = 0; i < BUS_SLOTS; i++)
            if (atomic_load(&bus_slots[i].tid) == me) {
                bus_guard *g = bus_slots[i].guard;
                /* the mask saved by sigsetjmp, SIGBUS unblocked, comes back */
                if (g && at >= g->lo && at < g->hi) siglongjmp(g->env, 1);
                break;
            }
    }
    pass_on(sig, si, ctx);
}

/* Ours installed, unless it is: the first call, and again after another handler replaced it
 * (a library's, or a child's after fork: PyTorch's DataLoader workers install their own), which
 * then becomes the action from before. 1 when ours is installed. */
static int bus_install(void)
{
    struct sigaction cur;
    pthread_mutex_lock(&bus_mu);
    int ok = sigaction(SIGBUS, NULL, &cur) == 0;
    if (ok && !((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == on_bus)) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_bus;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_SIGINFO;
        const unsigned next = atomic_load(&bus_before_gen) + 1;
        bus_before[next & 1] = cur;
        atomic_store(&bus_before_gen, next); /* seq_cst: after the copy is written */
        ok = sigaction(SIGBUS, &sa, NULL) == 0;
    }
    pthread_mutex_unlock(&bus_mu);
    return ok;
}

int cxr_guard_mapped_read(const void *base, size_t len, int (*fn)(void *), void *arg, int *st)
{
    /* asked each time, not kept: a child of fork runs on its own id with its parent's TLS */
    const int my_tid = thread_id();
    int slot = -1;
    for (int i = 0; i < BUS_SLOTS && slot < 0; i++) {
        int free_tid = 0;
        if (atomic_compare_exchange_strong(&bus_slots[i].tid, &free_tid, my_tid)) slot = i;
    }
    if (slot < 0 || !bus_install()) { /* no slot or no handler: read as without the guard */
        if (slot >= 0) atomic_store(&bus_slots[slot].tid, 0);
        *st = fn(arg);
        return 0;
    }
    bus_guard g;
    g.lo = base;
    g.hi = (const char *)base + len;
    if (sigsetjmp(g.env, 1)) { /* a SIGBUS in [lo, hi): fn abandoned */
        bus_slots[slot].guard = NULL;
        atomic_store(&bus_slots[slot].tid, 0);
        return 1;
    }
    bus_slots[slot].guard = &g;
    *st = fn(arg);
    bus_slots[slot].guard = NULL;
    atomic_store(&bus_slots[slot].tid, 0);
    return 0;
}

void cxr_signals_ignore_write_signals(void)
{
    signal(SIGXFSZ, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}
