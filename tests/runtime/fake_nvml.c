/* fake_nvml.c: a stand-in for libnvidia-ml.so.1 with three GPUs on PCI buses 1, 2 and 3, so
 * that test_monitor.c can tell which one the monitor watches: device i (NVML index i, bus
 * i + 1) reports utilization 10 (i + 1) % and (i + 1) GiB used of 16. Only the entry points
 * runtime/monitor.c looks up. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvml_types.h"

enum { OK = 0, INVALID_ARGUMENT = 2, NOT_FOUND = 6, N_GPUS = 3 };

static int index_of(nvml_device d) { return (int)(uintptr_t)d - 1; }

int nvmlInit_v2(void) { return OK; }
int nvmlShutdown(void) { return OK; }
const char *nvmlErrorString(int r) { return r == NOT_FOUND ? "Not Found" : "Invalid Argument"; }

int nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvml_device *d)
{
    if (i >= N_GPUS) return INVALID_ARGUMENT;
    *d = (nvml_device)(uintptr_t)(i + 1);
    return OK;
}

/* "DOMAIN:BUS:DEVICE.FUNCTION" in hex, as cudaDeviceGetPCIBusId writes it */
int nvmlDeviceGetHandleByPciBusId_v2(const char *id, nvml_device *d)
{
    unsigned dom, bus, dev, fn;
    char end;
    if (!id || sscanf(id, "%x:%x:%x.%x%c", &dom, &bus, &dev, &fn, &end) != 4)
        return INVALID_ARGUMENT;
    if (dom != 0 || dev != 0 || fn != 0 || bus < 1 || bus > N_GPUS) return NOT_FOUND;
    *d = (nvml_device)(uintptr_t)bus;
    return OK;
}

/* CXR_FAKE_NVML_VARY set: the k-th reading adds 5 (k % 3) % and (k % 3) x 256 MiB, so that a
 * maximum differs from a mean; CXR_FAKE_NVML_MEMFAIL set: the memory reading fails. */
static unsigned vary(unsigned *k) { return getenv("CXR_FAKE_NVML_VARY") ? (*k)++ % 3 : 0; }

int nvmlDeviceGetUtilizationRates(nvml_device d, nvml_utilization *u)
{
    static unsigned k;
    u->gpu = 10u * (unsigned)(index_of(d) + 1) + 5u * vary(&k);
    u->memory = 1;
    return OK;
}

int nvmlDeviceGetMemoryInfo(nvml_device d, nvml_memory *m)
{
    static unsigned k;
    if (getenv("CXR_FAKE_NVML_MEMFAIL")) return INVALID_ARGUMENT;
    m->total = 16ull << 30;
    m->used = ((unsigned long long)(index_of(d) + 1) << 30) + ((unsigned long long)vary(&k) << 28);
    m->free = m->total - m->used;
    return OK;
}
