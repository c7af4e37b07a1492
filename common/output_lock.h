/* output_lock.h (internal, not installed): what the lock file of an output says of the run that
 * holds it (cxr_output_lock, cxr_files.h), and the refusal that names that run, one for the lock
 * and for cxr_output_check, so that both say the same. */
#ifndef CXR_OUTPUT_LOCK_H
#define CXR_OUTPUT_LOCK_H

#include <stddef.h>

#include "cxr_status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The holder named by a lock file's `line` (NUL-terminated; "PID TOOL\n"): *pid and tool (cap
 * bytes) when that process still lives, else 0 and "" (a stale line: an earlier holder's, left in
 * a file the holder could not write). A line of a pid alone is cxr-train's from before 0.19. */
void cxr_lock_holder(const char *line, long *pid, char *tool, size_t cap);

/* CXR_E_ARG "OUT is being written by another TOOL run (pid N): wait for it to end, or give
 * another OPT" (a cxr-train's adds "(its model or best model)"; pid 0 and tool "" when unknown:
 * "another cxr run"; an OPT that is no option, "the best model", reads "another name"). */
cxr_status cxr_output_busy(const char *opt, const char *out, long pid, const char *tool);

#ifdef __cplusplus
}
#endif
#endif
