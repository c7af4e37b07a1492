/* memory.c: the memory this process can still get (cxr_memory.h). */
#include "cxr_memory.h"

#include <stdint.h>
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

/* The reclaimable file cache of a cgroup's memory.stat: the sum of the values of `keys` (v2:
 * "file"; v1: "total_active_file" and "total_inactive_file", which count the hierarchy below
 * as usage_in_bytes does); 0 if unreadable. */
static int64_t cgroup_file_cache(const char *dir, const char *const *keys)
{
    char path[4300], line[256], name[64];
    snprintf(path, sizeof path, "%s/memory.stat", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    long long v, sum = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "%63s %lld", name, &v) == 2 && v > 0)
            for (const char *const *k = keys; *k; k++)
                if (strcmp(name, *k) == 0) sum += v;
    fclose(f);
    return (int64_t)sum;
}

/* The least headroom under the memory limits of cgroup folder `dir` and its ancestors up to
 * `top` (a limit may be set on a job's or a pod's cgroup only): limit - usage + the reclaimable
 * file cache, no more than the limit; -1 without any limit. */
static int64_t headroom_up(char *dir, size_t top, int v1)
{
    static const char *const v2_cache[] = { "file", NULL };
    static const char *const v1_cache[] = { "total_active_file", "total_inactive_file", NULL };
    int64_t least = -1;
    while (strlen(dir) >= top) {
        char path[4300];
        snprintf(path, sizeof path, "%s/%s", dir, v1 ? "memory.limit_in_bytes" : "memory.max");
        int64_t max = read_number(path);
        /* v1 writes "no limit" as the page counter's maximum, about 2^63 */
        if (v1 && max >= (INT64_C(1) << 62)) max = -1;
        snprintf(path, sizeof path, "%s/%s", dir, v1 ? "memory.usage_in_bytes" : "memory.current");
        const int64_t cur = read_number(path);
        if (max >= 0 && cur >= 0) { /* a limit here */
            int64_t room =
                (max > cur ? max - cur : 0) + cgroup_file_cache(dir, v1 ? v1_cache : v2_cache);
            if (room > max) room = max;
            if (least < 0 || room < least) least = room;
        }
        if (strlen(dir) == top) break;
        char *slash = strrchr(dir, '/');
        if (!slash) break;
        *slash = 0; /* the parent cgroup */
    }
    return least;
}

/* Where the v1 memory controller is mounted (from mountinfo: a "cgroup" file system whose
 * super options name "memory") and the cgroup path its root stands for; 0 if not found. */
static int v1_memory_mount(const char *mountinfo, char *mnt, size_t cap, char *root, size_t rcap)
{
    FILE *f = fopen(mountinfo, "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char r[2048], m[2048];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %2047s %2047s", r, m) != 2) continue;
        char fstype[64], source[1024], opts[2048];
        if (sscanf(sep + 3, "%63s %1023s %2047s", fstype, source, opts) != 3) continue;
        if (strcmp(fstype, "cgroup") != 0) continue;
        for (char *sv, *o = strtok_r(opts, ",", &sv); o; o = strtok_r(NULL, ",", &sv))
            if (strcmp(o, "memory") == 0) found = 1;
        if (found) {
            snprintf(mnt, cap, "%s", m);
            snprintf(root, rcap, "%s", r);
        }
    }
    fclose(f);
    return found;
}

int64_t cxr_mem_cgroup_headroom(const char *fsroot)
{
    char path[4300], line[4096], dir[8400] = "";
    snprintf(path, sizeof path, "%s/proc/self/cgroup", fsroot);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char v2[4096] = "", v1[4096] = "";
    int have_v2 = 0, have_v1 = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) continue;
        *c1 = *c2 = 0;
        if (strcmp(line, "0") == 0 && c1[1] == 0) { /* "0::path": the unified hierarchy */
            snprintf(v2, sizeof v2, "%s", c2 + 1);
            have_v2 = 1;
        } else { /* "N:controllers:path" of a v1 hierarchy */
            for (char *sv, *o = strtok_r(c1 + 1, ",", &sv); o; o = strtok_r(NULL, ",", &sv))
                if (strcmp(o, "memory") == 0) {
                    snprintf(v1, sizeof v1, "%s", c2 + 1);
                    have_v1 = 1;
                }
        }
    }
    fclose(f);
    if (have_v1) { /* a v1 memory controller, wherever mounted (usually /sys/fs/cgroup/memory) */
        char mnt[2048] = "/sys/fs/cgroup/memory", root[2048] = "/";
        snprintf(path, sizeof path, "%s/proc/self/mountinfo", fsroot);
        v1_memory_mount(path, mnt, sizeof mnt, root, sizeof root);
        /* the mount shows the hierarchy from `root` down (a container's namespace) */
        const char *rel = v1;
        const size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
        if (rl && strncmp(v1, root, rl) == 0 && (v1[rl] == '/' || v1[rl] == 0)) rel = v1 + rl;
        const size_t top = (size_t)snprintf(dir, sizeof dir, "%s%s", fsroot, mnt);
        snprintf(dir + top, sizeof dir - top, "%s", strcmp(rel, "/") == 0 ? "" : rel);
        return headroom_up(dir, top, 1);
    }
    if (have_v2) {
        const size_t top = (size_t)snprintf(dir, sizeof dir, "%s/sys/fs/cgroup", fsroot);
        snprintf(dir + top, sizeof dir - top, "%s", strcmp(v2, "/") == 0 ? "" : v2);
        return headroom_up(dir, top, 0);
    }
    return -1;
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
    int64_t cg = cxr_mem_cgroup_headroom("");
    return cg >= 0 && cg < avail ? cg : avail;
}
