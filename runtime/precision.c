/* precision.c: the names of cxr_precision.h. */
#include <string.h>

#include "cxr_precision.h"

cxr_status cxr_precision_parse(const char *s, cxr_precision *out)
{
    if (s && strcmp(s, "fp32") == 0)
        *out = CXR_PRECISION_FP32;
    else if (s && strcmp(s, "tf32") == 0)
        *out = CXR_PRECISION_TF32;
    else if (s && strcmp(s, "bf16") == 0)
        *out = CXR_PRECISION_BF16;
    else
        return cxr_set_error(CXR_E_ARG, "precision '%s': expected fp32, tf32 or bf16", s ? s : "");
    return CXR_OK;
}

const char *cxr_precision_name(cxr_precision p)
{
    switch (p) {
    case CXR_PRECISION_FP32: return "fp32";
    case CXR_PRECISION_TF32: return "tf32";
    case CXR_PRECISION_BF16: return "bf16";
    }
    return "?";
}
