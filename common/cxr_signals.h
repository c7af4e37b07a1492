/* cxr_signals.h: how cxr takes signals.
 *
 * Stopping: every tool stops cleanly on the first SIGINT, SIGTERM or SIGHUP (a closed terminal)
 * and is killed by a second one of any of them: cxr_signals_stop_on_interrupt installs the
 * handler, which sets a flag that the tool's loop reads between steps, batches or images, and
 * puts the previous actions back; the tool then exits 130 with its outputs untouched or complete
 * (its temporaries removed; one killed by the second signal leaves its temporary, which the
 * next run writing that output removes once 15 minutes unwritten, cxr_tmpfile.h, but not its
 * output locks' files, cxr_signals_last_words). A signal
 * ignored when the tool starts (nohup's SIGHUP, SIGINT in a script's background job) stays
 * ignored. SA_RESTART: a read or write in progress completes instead of failing with EINTR.
 * A closed pipe does not stop a tool (cxr_signals_ignore_write_signals): a hangup that kills the
 * `tee` a tool's stderr goes to still stops the tool cleanly. cxr-export and cxr-report, whose
 * work is one write, hold the stop signals back while they write instead, and exit 130 with the
 * output complete (cxr_sigmask_restore_taking_stop).
 *
 * Keeping signals away from threads running code that cannot take one:
 *
 * oneDNN's generated x86 GEMM kernels (jit_avx_gemm_f32, jit_avx512_common_gemm_f32) point the
 * stack pointer into a heap buffer while they run (oneDNN issue #4845, fixed by PR #4855 in
 * 2026, after Debian 12's 2.6.3). A signal delivered to a thread inside one has its frame
 * written by the kernel below that stack pointer, into the heap: glibc later aborts ("corrupted
 * size vs. prev_size", "free(): invalid pointer") or a primitive fails. Any handled signal does
 * it: cxr's own SIGINT/SIGTERM/SIGHUP, a profiler's SIGPROF, Python's SIGINT handler.
 *
 * The CPU backend therefore blocks every asynchronous signal on its OpenMP workers for good
 * (they run nothing else) and on the calling thread for the length of each oneDNN primitive
 * (train/dnnl_cpu.c); a signal sent meanwhile stays pending and is delivered, and handled as
 * before, the moment the primitive returns. Synchronous signals (SIGSEGV, SIGBUS, SIGFPE,
 * SIGILL, SIGTRAP, SIGSYS, SIGABRT) are never blocked: blocking them would hide a crash.
 */
#ifndef CXR_SIGNALS_H
#define CXR_SIGNALS_H

#include <signal.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Ignore the signals a write raises, so that the write fails instead and the tool goes on as
 * after any failed write, instead of the signal killing it silently with its temporary left
 * behind: SIGXFSZ (a write past the file size limit, ulimit -f: EFBIG, which the writers report,
 * "...: File too large", exit 4, and clean up after) and SIGPIPE (a write to a pipe whose reader
 * is gone: `| head`, or a `| tee` killed by the hangup that was to stop the tool cleanly: EPIPE).
 * A message to such a stderr is lost, harmlessly; standard output's failure is the tool's exit 4
 * ("standard output: write failed: Broken pipe", cxr_stdout_close, or at the first failed flush
 * where the tool writes rows as it goes). Only the tools call it, first thing in main: the library
 * leaves a host program's signal actions alone. */
void cxr_signals_ignore_write_signals(void);

/* Install the stop handler for SIGINT, SIGTERM and SIGHUP, except where ignored on entry (first
 * signal: set the returned flag; second: the previous action, usually death). The flag is 1 once
 * a signal arrived. Call it early in main; a second call changes nothing. */
volatile sig_atomic_t *cxr_signals_stop_on_interrupt(void);
/* fn (async-signal-safe: stat, unlink) runs when a stop signal kills the tool, just before it
 * dies: a second one after the stop handler's first, or one whose action is death now (which
 * this makes so). The output locks' files go so (output_lock.c). */
void cxr_signals_last_words(void (*fn)(void));

/* A thread's signal mask, saved (a POSIX sigset_t inside; opaque so that this header needs
 * nothing beyond C11). */
typedef struct {
    unsigned long long opaque[16];
} cxr_sigmask_saved;

/* Block every asynchronous signal on the calling thread; the previous mask goes to *old (may be
 * NULL). */
void cxr_sigmask_block_async(cxr_sigmask_saved *old);
/* Put back a mask saved by cxr_sigmask_block_async: pending signals are delivered now. */
void cxr_sigmask_restore(const cxr_sigmask_saved *old);
/* The same for a tool that holds stop signals back while it writes an output (cxr-export,
 * cxr-report): the SIGINT, SIGTERM and SIGHUP held meanwhile are taken first instead of
 * delivered, since delivered they would kill the tool (the default action, or a second one meeting
 * the stop handler) after its output was whole, an exit status (143) that reads as a failure.
 * However many came, they count as one first stop signal: the flag of
 * cxr_signals_stop_on_interrupt is set and its handler's previous actions are put back, so the
 * next signal kills. One ignored (nohup's SIGHUP) or blocked in the saved mask is left to the
 * restore. Returns the first signal taken, or 0: the tool then says that the output is complete
 * and exits 130, as cxr-train when a signal comes as its last epoch ends. */
int cxr_sigmask_restore_taking_stop(const cxr_sigmask_saved *old);
/* 1 when every asynchronous signal is blocked on the calling thread (for tests), else 0. */
int cxr_sigmask_async_blocked(void);

/* Reading a mapped file raises SIGBUS in the reading thread where the page is gone: another
 * program cut the file short in place (truncate, or a writer that rewrites instead of renaming),
 * or the device failed to read it (EIO). cxr_guard_mapped_read runs fn(arg) so that such a
 * SIGBUS, from a read of [base, base + len) on this thread, abandons fn at that read and returns
 * 1 instead of killing the process; otherwise fn's status goes to *st and it returns 0. fn must
 * be safe to abandon at any instruction that reads those bytes: it holds no lock and no
 * allocation across such reads (a decode of the mapped bytes into the caller's buffers, which may
 * allocate or lock between them). Each call (re)installs a SIGBUS handler for the process when
 * the current action is not it; a SIGBUS it does not own (another address, a thread outside a
 * guard, one sent by kill) goes to the action that was there before: a handler is called, the
 * default action still kills. Up to 256 threads at once are guarded; more read unguarded. The
 * handler stays installed for the process (libcxr is never unloaded: it is linked -z nodelete). */
int cxr_guard_mapped_read(const void *base, size_t len, int (*fn)(void *), void *arg, int *st);

#ifdef __cplusplus
}
#endif
#endif
