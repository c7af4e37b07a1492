/* nvml_types.h: the few NVML declarations runtime/monitor.c uses (NVML is dlopen'ed, and
 * nvml.h is not required to build); tests/runtime/fake_nvml.c implements them. Internal, not
 * installed. */
#ifndef CXR_NVML_TYPES_H
#define CXR_NVML_TYPES_H

typedef int nvml_return;
typedef struct nvml_device_st *nvml_device;
typedef struct {
    unsigned int gpu, memory;
} nvml_utilization;
typedef struct {
    unsigned long long total, free, used;
} nvml_memory;

#endif
