/* cxr_memory.h: how much memory this process can still get, so that a tool whose buffers grow
 * with a store's shard size can refuse (or shrink its work) with a clear message before it
 * allocates, instead of being killed by the kernel hours into a run. */
#ifndef CXR_MEMORY_H
#define CXR_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes the process could still use: the kernel's MemAvailable plus SwapFree (/proc/meminfo),
 * and no more than the headroom under a cgroup memory limit (cxr_mem_cgroup_headroom) where one
 * is set. -1 when nothing could be read (then no check is made). The environment variable
 * CXR_MEM_AVAILABLE_MB, when set to a number, is the answer instead (tests; a user who knows
 * better). */
int64_t cxr_mem_available(void);

/* The least headroom under the memory limits of the process's cgroup and its ancestors (a limit
 * may be set on a job's or a pod's cgroup only): limit - usage + the file cache the kernel
 * reclaims first; -1 without any limit. cgroup v1 (a hierarchy with the memory controller, in
 * /proc/self/cgroup, mounted where /proc/self/mountinfo says: memory.limit_in_bytes,
 * memory.usage_in_bytes, memory.stat's total_(in)active_file; a limit of 2^62 or more is none;
 * of several mounts, the one whose root is the longest prefix of the cgroup's path; none that
 * shows it: -1)
 * is read when present, else v2 (the "0::" line under /sys/fs/cgroup: memory.max,
 * memory.current, memory.stat's file). Every path is read under `fsroot` ("" for the real
 * machine; a folder holding a fake proc/ and sys/ for tests). */
int64_t cxr_mem_cgroup_headroom(const char *fsroot);

/* " (this process's address space is limited to N MiB: ulimit -v)" into buf (n bytes) when
 * RLIMIT_AS is finite, else "": for the message of an allocation or a mapping that failed (a
 * batch scheduler's vmem limit, e.g. Grid Engine's h_vmem, is such a limit). Returns buf. */
const char *cxr_mem_limit_note(char *buf, size_t n);

/* Bytes as MiB for messages. */
static inline double cxr_mib(double bytes) { return bytes / 1048576.0; }

#ifdef __cplusplus
}
#endif
#endif
