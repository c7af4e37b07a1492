/* memory.c: the memory this process can still get (cxr_memory.h). */
#include "cxr_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value of `key` (e.g. "MemAvailable:") in /proc/meminfo, in bytes; -1 if absent. */
static int64_t meminfo(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) return -1;
    long long kb = -1;
    if (sscanf(p + strlen(key), " %lld", &kb) != 1 || kb < 0) return -1;
    return (int64_t)kb * 1024;
}

/* One number from a file (cgroup's "max" is -1: no limit). -2 on failure. */
static int64_t read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -2;
    char buf[64] = { 0 };
    int64_t v = -2;
    if (fgets(buf, sizeof buf, f)) {
        long long x;
        if (strncmp(buf, "max", 3) == 0)
            v = -1;
        else if (sscanf(buf, "%lld", &x) == 1 && x >= 0)
            v = (int64_t)x;
    }
    fclose(f);
    return v;
}

/* The file cache a cgroup holds ("file" of memory.stat), which the kernel reclaims before it
 * would refuse memory; 0 if unreadable. */
static int64_t cgroup_file_cache(const char *dir)
{
    char path[4300], line[256];
    snprintf(path, sizeof path, "%s/memory.stat", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long long v = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "file %lld", &v) == 1) break;
    fclose(f);
    return v > 0 ? (int64_t)v : 0;
}

/* The least headroom under the cgroup v2 memory limits of the process's cgroup and its
 * ancestors (a limit may be set on a job's or a pod's cgroup only): memory.max - memory.current
 * + the reclaimable file cache; -1 without any limit. */
static int64_t cgroup_headroom(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    if (!f) return -1;
    char line[4096], dir[4200] = "";
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0) { /* the unified hierarchy */
            line[strcspn(line, "\n")] = 0;
            snprintf(dir, sizeof dir, "/sys/fs/cgroup%s", line + 3);
            break;
        }
    fclose(f);
    int64_t least = -1;
    for (size_t root = strlen("/sys/fs/cgroup"); dir[0] && strlen(dir) >= root;) {
        char path[4300];
        snprintf(path, sizeof path, "%s/memory.max", dir);
        const int64_t max = read_number(path);
        snprintf(path, sizeof path, "%s/memory.current", dir);
        const int64_t cur = read_number(path);
        if (max >= 0 && cur >= 0) { /* a limit here ("max" reads -1: none) */
            int64_t room = (max > cur ? max - cur : 0) + cgroup_file_cache(dir);
            if (room > max) room = max;
            if (least < 0 || room < least) least = room;
        }
        if (strlen(dir) == root) break;
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = 0; /* the parent cgroup */
    }
    return least;
}

int64_t cxr_mem_available(void)
{
    const char *env = getenv("CXR_MEM_AVAILABLE_MB");
    if (env && *env) {
        char *end;
        double mb = strtod(env, &end);
        if (end != env && *end == 0 && mb >= 0) /* clamped: "inf" or 1e30 is "no limit" */
            return mb < 1e12 ? (int64_t)(mb * 1048576.0) : INT64_MAX / 2;
    }
    char text[8192];
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    int64_t avail = meminfo(text, "MemAvailable:"), swap = meminfo(text, "SwapFree:");
    if (avail < 0) return -1;
    if (swap > 0) avail += swap;
    int64_t cg = cgroup_headroom();
    return cg >= 0 && cg < avail ? cg : avail;
}
