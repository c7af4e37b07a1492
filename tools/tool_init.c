/* tool_init.c: what every tool checks before its main runs (linked into each tool, not into
 * libcxr, whose callers run their own process).
 *
 * The stack size limit: a tool's main holds buffers of paths and commands (cxr-pack's ~70 KiB),
 * taken when main is entered, so under about 96 KiB a tool died of SIGSEGV before a check in main
 * (cxr_threads_ok) could say why. A constructor runs on the loader's small frame first. */
#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>

#include "cxr_parse.h"

__attribute__((constructor)) static void tool_stack_limit(void)
{
    if (!cxr_stack_limit_ok(program_invocation_short_name)) _exit(2);
}
