/* cuda_common.c: the parts of cxr_cuda.h that need no CUDA (option parsing), compiled in every
 * build so tools can parse --resident the same way with CUDA on or off. */
#include <string.h>

#include "cxr_cuda.h"

cxr_status cxr_resident_parse(const char *s, cxr_resident_mode *out)
{
    if (s && strcmp(s, "auto") == 0)
        *out = CXR_RESIDENT_AUTO;
    else if (s && strcmp(s, "on") == 0)
        *out = CXR_RESIDENT_ON;
    else if (s && strcmp(s, "off") == 0)
        *out = CXR_RESIDENT_OFF;
    else
        return cxr_set_error(CXR_E_ARG, "resident '%s': expected auto, on or off", s ? s : "");
    return CXR_OK;
}
