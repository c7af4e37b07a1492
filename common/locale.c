/* locale.c: the calling thread's "C" locale for numbers (c_locale.h). */
#include "c_locale.h"

#include <pthread.h>

static locale_t c_locale;
static pthread_once_t c_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void) { c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); }

locale_t cxr_c_locale_enter(void)
{
    pthread_once(&c_once, make_c_locale);
    return c_locale ? uselocale(c_locale) : (locale_t)0;
}

void cxr_c_locale_leave(locale_t before)
{
    if (before) uselocale(before);
}
