/* bench_cpu.h: the "# cpu:" line every benchmark prints, so that its figures name the machine
 * (the model name of /proc/cpuinfo, the cores online). */
#ifndef CXR_BENCH_CPU_H
#define CXR_BENCH_CPU_H

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void bench_print_cpu(void)
{
    char line[512], model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f) fclose(f);
    printf("# cpu: %s, %ld cores\n", model, sysconf(_SC_NPROCESSORS_ONLN));
}

#endif
