/* reservation.c: the default model name's reservation line, whose it is and whether its run is
 * gone (reservation.h). */
#include "reservation.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* The first line of file f, "" when unreadable: the kernel's boot id, the machine id. */
static void first_line(const char *f, char *buf, size_t cap)
{
    buf[0] = 0;
    FILE *fp = fopen(f, "r");
    if (!fp) return;
    if (!fgets(buf, (int)cap, fp)) buf[0] = 0;
    fclose(fp);
    buf[strcspn(buf, "\n")] = 0;
}

void cxr_reservation_where(char *buf, size_t cap, char *boot)
{
    char host[256] = "", machine[64];
    gethostname(host, sizeof host - 1);
    first_line("/etc/machine-id", machine, sizeof machine);
    first_line("/proc/sys/kernel/random/boot_id", boot, 64);
    snprintf(buf, cap, " on %s, machine %s%s, boot ", host,
             machine[0] ? "" : "boot:", machine[0] ? machine : boot);
}

int cxr_reservation_gone(const char *line)
{
    static const char head[] = CXR_RESERVATION_HEAD;
    char where[512], boot[64], *end = NULL;
    if (strncmp(line, head, sizeof head - 1) != 0) return 0;
    const char *p = line + sizeof head - 1;
    const long pid = *p >= '1' && *p <= '9' ? strtol(p, &end, 10) : 0;
    cxr_reservation_where(where, sizeof where, boot);
    if (pid <= 0 || strstr(where, ", machine boot:, ") || strncmp(end, where, strlen(where)) != 0)
        return 0; /* (neither id known: no machine to match) */
    const char *their_boot = end + strlen(where);
    const size_t bl = strcspn(their_boot, "\n");
    if (boot[0] && bl > 0 && (bl != strlen(boot) || strncmp(their_boot, boot, bl) != 0))
        return 1; /* this machine booted again since */
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}
