/* cxr_memory.h: how much memory this process can still get, so that a tool whose buffers grow
 * with a store's shard size can refuse (or shrink its work) with a clear message before it
 * allocates, instead of being killed by the kernel hours into a run. */
#ifndef CXR_MEMORY_H
#define CXR_MEMORY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes the process could still use: the kernel's MemAvailable plus SwapFree (/proc/meminfo),
 * and no more than a cgroup v2 limit's headroom (memory.max - memory.current of the process's
 * cgroup) where one is set. -1 when nothing could be read (then no check is made). The
 * environment variable CXR_MEM_AVAILABLE_MB, when set to a number, is the answer instead
 * (tests; a user who knows better). */
int64_t cxr_mem_available(void);

/* Bytes as MiB for messages. */
static inline double cxr_mib(double bytes) { return bytes / 1048576.0; }

#ifdef __cplusplus
}
#endif
#endif
