/* memory.c: the memory this process can still get (cxr_memory.h). */
#include "cxr_memory.h"
#include "c_locale.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* The value of `key` (e.g. "MemAvailable:") in /proc/meminfo, in bytes; -1 if absent. */
static int64_t meminfo(const char *text, const char *key)
{
    const char *p = strstr(text, key);
    if (!p) return -1;
    long long kb = -1;
    if (sscanf(p + strlen(key), " %lld", &kb) != 1 || kb < 0) return -1;
    return (int64_t)kb * 1024;
}

/* A cgroup folder's path, under fsroot (the files in it take up to 64 more bytes). */
#define CG_PATH 8192

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
    char path[CG_PATH + 64], line[256], name[64];
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
        char path[CG_PATH + 64];
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

/* mountinfo's escapes (\040 for a space, \011, \012, \134) decoded in place. */
static void unescape_octal(char *s)
{
    char *w = s;
    for (const char *r = s; *r; w++)
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w = *r++;
        }
    *w = 0;
}

/* The length of `root` as a prefix of cgroup path `path` ("/" prefixes every path: 0), or -1
 * when it is none. */
static long root_prefix(const char *root, const char *path)
{
    if (strcmp(root, "/") == 0) return 0;
    const size_t n = strlen(root);
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == 0) ? (long)n : -1;
}

/* Where the v1 memory controller shows the cgroup `path` (from mountinfo: a "cgroup" file
 * system whose super options name "memory"; of several mounts of it, the one whose root is the
 * longest prefix of path) and the part of path below that root: 1. 0 when mountinfo lists no
 * such mount (or cannot be read), -1 when none of those it lists shows path. */
static int v1_memory_mount(const char *mountinfo, const char *path, char *mnt, size_t cap,
                           const char **rel)
{
    FILE *f = fopen(mountinfo, "r");
    if (!f) return 0;
    char line[8192];
    long best = -1;
    int mounts = 0;
    while (fgets(line, sizeof line, f)) {
        char r[2048], m[2048];
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(line, "%*s %*s %*s %2047s %2047s", r, m) != 2) continue;
        char fstype[64], source[1024], opts[2048];
        if (sscanf(sep + 3, "%63s %1023s %2047s", fstype, source, opts) != 3) continue;
        if (strcmp(fstype, "cgroup") != 0) continue;
        int memory = 0;
        for (char *sv, *o = strtok_r(opts, ",", &sv); o; o = strtok_r(NULL, ",", &sv))
            memory |= strcmp(o, "memory") == 0;
        if (!memory) continue;
        mounts++;
        unescape_octal(r);
        unescape_octal(m);
        const long k = root_prefix(r, path);
        if (k > best) {
            best = k;
            snprintf(mnt, cap, "%s", m);
            *rel = path + k;
        }
    }
    fclose(f);
    return best >= 0 ? 1 : mounts ? -1 : 0;
}

int64_t cxr_mem_cgroup_headroom(const char *fsroot)
{
    char path[CG_PATH + 64], line[4096], dir[CG_PATH] = "";
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
        char mnt[2048] = "/sys/fs/cgroup/memory";
        const char *rel = v1;
        snprintf(path, sizeof path, "%s/proc/self/mountinfo", fsroot);
        if (v1_memory_mount(path, v1, mnt, sizeof mnt, &rel) < 0)
            return -1; /* mounted, but nowhere this process's cgroup shows */
        const int top = snprintf(dir, sizeof dir, "%s%s", fsroot, mnt);
        if (top < 0 || (size_t)top >= sizeof dir ||
            (size_t)snprintf(dir + top, sizeof dir - (size_t)top, "%s",
                             strcmp(rel, "/") == 0 ? "" : rel) >= sizeof dir - (size_t)top)
            return -1; /* a path this long names no cgroup we can read */
        return headroom_up(dir, (size_t)top, 1);
    }
    if (have_v2) {
        const int top = snprintf(dir, sizeof dir, "%s/sys/fs/cgroup", fsroot);
        if (top < 0 || (size_t)top >= sizeof dir ||
            (size_t)snprintf(dir + top, sizeof dir - (size_t)top, "%s",
                             strcmp(v2, "/") == 0 ? "" : v2) >= sizeof dir - (size_t)top)
            return -1;
        return headroom_up(dir, (size_t)top, 0);
    }
    return -1;
}

const char *cxr_mem_limit_note(char *buf, size_t n)
{
    struct rlimit r;
    if (!n) return buf;
    buf[0] = 0;
    if (getrlimit(RLIMIT_AS, &r) == 0 && r.rlim_cur != RLIM_INFINITY)
        snprintf(buf, n, " (this process's address space is limited to %.0f MiB: ulimit -v)",
                 cxr_mib((double)r.rlim_cur));
    return buf;
}

int64_t cxr_mem_available(void)
{
    const char *env = getenv("CXR_MEM_AVAILABLE_MB");
    if (env && *env) {
        char *end;
        const locale_t before = cxr_c_locale_enter();
        double mb = strtod(env, &end);
        cxr_c_locale_leave(before);
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
