/* sigstorm_shim.c: LD_PRELOAD helper of test_signals.sh. Installs a handler that does nothing
 * for SIGUSR1 (without SA_RESTART: interrupted system calls fail with EINTR), so that a storm
 * of SIGUSR1 reaches whichever thread the kernel picks without ending the process: what a
 * profiler's SIGPROF, or a Ctrl-C under Python, does to a running cxr. */
#include <signal.h>
#include <string.h>

static void ignore_signal(int sig) { (void)sig; }

__attribute__((constructor)) static void sigstorm_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore_signal;
    sigaction(SIGUSR1, &sa, NULL);
}
