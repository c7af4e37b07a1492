/* test_unload.c LIBCXR: a host that dlopen()s libcxr, uses it and dlclose()s it keeps it loaded
 * (linked -z nodelete): the SIGBUS handler its guarded mapped reads install stays for the
 * process, and after an unload it would point into unmapped code (a host's own later SIGBUS
 * then crashed in it, SIGSEGV, instead of its own default action). */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cxr_test.h"

int main(int argc, char **argv)
{
    REQUIRE(argc == 2);
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) fprintf(stderr, "dlopen %s: %s\n", argv[1], dlerror());
    REQUIRE(h);
    /* any call: the library's constructors ran at load, the handler comes with a mapped read,
     * but being unloadable at all is what is checked */
    const char *(*version)(void) = (const char *(*)(void))dlsym(h, "cxr_version_string");
    if (version) CHECK(strlen(version()) > 0);
    CHECK(dlclose(h) == 0);
    void *again = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
    if (!again) fprintf(stderr, "%s was unloaded by dlclose\n", argv[1]);
    CHECK(again != NULL);
    if (again) dlclose(again);
    TEST_END();
}
