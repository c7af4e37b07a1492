/* c_locale.h (internal, not installed): numbers written and read with a '.' whatever locale
 * the host process set.
 *
 * The tools never call setlocale, so they run in the "C" locale. The library also runs inside
 * other processes (the Python bindings, a C program linking libcxr) that may have called
 * setlocale(LC_ALL, "") under a locale whose decimal separator is a comma (de_DE, fr_FR...):
 * printf's %g and strtod then write and read "0,5", which breaks every format cxr writes
 * (augmentation specs stored in checkpoints, CSV and JSON lines, ONNX metadata, the HTML
 * report's SVG coordinates) and every number it parses. The functions that format or parse
 * numbers run between cxr_c_locale_enter and cxr_c_locale_leave: the "C" locale on the calling
 * thread only (uselocale), the host's locale untouched. */
#ifndef CXR_C_LOCALE_H
#define CXR_C_LOCALE_H

#include <locale.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Switch the calling thread to the "C" locale; returns what to give cxr_c_locale_leave (the
 * thread's locale before, or (locale_t)0 when the "C" locale object could not be made: then
 * nothing changed). Pairs nest. */
locale_t cxr_c_locale_enter(void);
void cxr_c_locale_leave(locale_t before);

#ifdef __cplusplus
}
#endif
#endif
