/* test_memory.c: cxr_mem_cgroup_headroom (common/cxr_memory.h) on fake proc/ and sys/ trees:
 * cgroup v2 and v1 (its own mount, a mount shared with another controller, a container's
 * namespace root), limits set on an ancestor only, the reclaimable file cache counted, "no
 * limit" in each version's spelling. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cxr_memory.h"
#include "cxr_test.h"

static char root[256];

/* Write `text` to root/rel, creating the folders on the way. */
static void put(const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; (p = strchr(p, '/')); p++) {
        *p = 0;
        mkdir(path, 0700);
        *p = '/';
    }
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fputs(text, f);
    fclose(f);
}

static void fresh(void)
{
    if (root[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        REQUIRE(system(cmd) == 0);
    }
    snprintf(root, sizeof root, "/tmp/cxr-test-memory-XXXXXX");
    REQUIRE(mkdtemp(root));
}

#define NOLIMIT_V1 "9223372036854771712\n"

int main(void)
{
    /* v2: the limit is on the job's cgroup, not the task's ("max"); usage 600000, of which the
     * file cache 100000 can be reclaimed */
    fresh();
    put("proc/self/cgroup", "0::/job/task\n");
    put("sys/fs/cgroup/job/memory.max", "1000000\n");
    put("sys/fs/cgroup/job/memory.current", "600000\n");
    put("sys/fs/cgroup/job/memory.stat", "anon 500000\nfile 100000\nfile_mapped 7\n");
    put("sys/fs/cgroup/job/task/memory.max", "max\n");
    put("sys/fs/cgroup/job/task/memory.current", "300000\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 500000);
    /* the least of two limits wins */
    put("sys/fs/cgroup/job/task/memory.max", "350000\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 50000);
    /* no limit anywhere */
    put("sys/fs/cgroup/job/task/memory.max", "max\n");
    put("sys/fs/cgroup/job/memory.max", "max\n");
    CHECK(cxr_mem_cgroup_headroom(root) == -1);

    /* v1 (a hybrid machine: the 0:: line too, but memory is v1's): the limit on an ancestor,
     * the kernel's "no limit" on the process's own cgroup and on the mount's root; the file
     * cache is total_active_file + total_inactive_file, not "cache" */
    fresh();
    put("proc/self/cgroup", "9:name=systemd:/\n4:memory:/api/x\n2:cpuacct:/\n0::/\n");
    put("proc/self/mountinfo",
        "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", NOLIMIT_V1);
    put("sys/fs/cgroup/memory/memory.usage_in_bytes", "9000000\n");
    put("sys/fs/cgroup/memory/api/memory.limit_in_bytes", "2000000\n");
    put("sys/fs/cgroup/memory/api/memory.usage_in_bytes", "1500000\n");
    put("sys/fs/cgroup/memory/api/memory.stat",
        "cache 999999\nrss 1\ntotal_cache 999999\ntotal_inactive_file 100000\n"
        "total_active_file 50000\n");
    put("sys/fs/cgroup/memory/api/x/memory.limit_in_bytes", NOLIMIT_V1);
    put("sys/fs/cgroup/memory/api/x/memory.usage_in_bytes", "1400000\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 650000);
    /* the room never exceeds the limit (a cache larger than the usage left) */
    put("sys/fs/cgroup/memory/api/memory.stat", "total_inactive_file 1900000\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 2000000);
    /* no limit at any level */
    put("sys/fs/cgroup/memory/api/memory.limit_in_bytes", NOLIMIT_V1);
    CHECK(cxr_mem_cgroup_headroom(root) == -1);

    /* v1 with memory mounted together with cpu, found through mountinfo */
    fresh();
    put("proc/self/cgroup", "5:cpu,memory:/a\n");
    put("proc/self/mountinfo",
        "40 31 0:33 / /sys/fs/cgroup/cpu,memory rw,relatime - cgroup cgroup rw,cpu,memory\n");
    put("sys/fs/cgroup/cpu,memory/a/memory.limit_in_bytes", "4096000\n");
    put("sys/fs/cgroup/cpu,memory/a/memory.usage_in_bytes", "96000\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 4000000);

    /* v1 in a container without a cgroup namespace: the mount shows the hierarchy from
     * /docker/c1 down, so /docker/c1/sub is the mount's sub/ */
    fresh();
    put("proc/self/cgroup", "4:memory:/docker/c1/sub\n");
    put("proc/self/mountinfo",
        "50 45 0:32 /docker/c1 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n");
    put("sys/fs/cgroup/memory/memory.limit_in_bytes", "8000000\n");
    put("sys/fs/cgroup/memory/memory.usage_in_bytes", "1000000\n");
    put("sys/fs/cgroup/memory/sub/memory.limit_in_bytes", NOLIMIT_V1);
    put("sys/fs/cgroup/memory/sub/memory.usage_in_bytes", "500000\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 7000000);

    /* memory mounted twice (a bind mount of another cgroup first): the mount whose root is the
     * longest prefix of the process's cgroup is the one read; a mount point with a space is
     * written \040 by mountinfo */
    fresh();
    put("proc/self/cgroup", "4:memory:/docker/c1\n");
    put("proc/self/mountinfo",
        "60 45 0:32 /other /mnt/x rw - cgroup cgroup rw,memory\n"
        "61 45 0:32 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup rw,memory\n"
        "62 45 0:32 /docker /mnt/d rw - cgroup cgroup rw,memory\n");
    put("mnt/x/docker/c1/memory.limit_in_bytes", "1000\n"); /* another cgroup's: never read */
    put("mnt/x/docker/c1/memory.usage_in_bytes", "0\n");
    put("mnt/d/c1/memory.limit_in_bytes", "5000000\n");
    put("mnt/d/c1/memory.usage_in_bytes", "2000000\n");
    put("sys/fs/cgroup/my memory/docker/c1/memory.limit_in_bytes", "9000000\n");
    put("sys/fs/cgroup/my memory/docker/c1/memory.usage_in_bytes", "2000000\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 3000000); /* /mnt/d: root /docker */
    put("proc/self/mountinfo", "61 45 0:32 / /sys/fs/cgroup/my\\040memory rw - cgroup cgroup "
                               "rw,memory\n");
    CHECK(cxr_mem_cgroup_headroom(root) == 7000000); /* the space decoded */
    /* mounted, but nowhere this cgroup shows: no answer rather than another cgroup's */
    put("proc/self/mountinfo", "60 45 0:32 /other /mnt/x rw - cgroup cgroup rw,memory\n");
    CHECK(cxr_mem_cgroup_headroom(root) == -1);

    /* nothing readable: no answer */
    fresh();
    CHECK(cxr_mem_cgroup_headroom(root) == -1);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    CHECK(system(cmd) == 0);
    TEST_END();
}
