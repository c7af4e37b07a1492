/* test_strtab.c: the string table of manifest planning (formats/manifest_table.c), built here
 * with a key limit of 200,000 bytes (CMakeLists.txt) so that the limit is reached in a test:
 * the keys fill the table up to the limit itself (the arena's growth by doubling stopped at
 * half of it, 2 GiB of the 4 GiB that 32-bit offsets address), the key that would pass it is
 * refused as CXR_E_FORMAT with a message that says what to do (it was "out of memory"), and
 * the table stays usable. */
#include <stdio.h>
#include <string.h>

#include "cxr_test.h"
#include "manifest_internal.h"

int main(void)
{
    enum { KEY = 36 }; /* a UUID's length */
    REQUIRE(CXR_STRTAB_ARENA_MAX == 200000);
    cxr_strtab t = { 0 };
    char key[64];
    cxr_status st = CXR_OK;
    int64_t inserted = 0;
    for (;; inserted++) {
        snprintf(key, sizeof key, "%0*lld", KEY, (long long)inserted);
        cxr_strtab_entry *e;
        int found = -1;
        st = cxr_strtab_get(&t, key, KEY, &e, &found);
        if (st != CXR_OK) {
            CHECK(e == NULL);
            break;
        }
        REQUIRE(e && found == 0 && strcmp(cxr_strtab_key(&t, e), key) == 0);
    }
    CHECK(st == CXR_E_FORMAT);
    CHECK(strstr(cxr_last_error(), "split it") != NULL);
    /* full: fewer than one more key's bytes were left */
    CHECK(t.arena_len <= CXR_STRTAB_ARENA_MAX);
    CHECK(t.arena_len + KEY + 1 > CXR_STRTAB_ARENA_MAX);
    /* the arena grew up to the limit, not past it (doubling 131,072 to 262,144 bytes here, and
     * 2 GiB to 4 GiB with the 32-bit limit, would take memory no key can use) */
    CHECK(t.arena_cap <= CXR_STRTAB_ARENA_MAX);
    CHECK(inserted == CXR_STRTAB_ARENA_MAX / (KEY + 1));
    CHECK((int64_t)t.n == inserted);
    /* still usable: every key is found, none inserted twice */
    for (int64_t i = 0; i < inserted; i++) {
        snprintf(key, sizeof key, "%0*lld", KEY, (long long)i);
        cxr_strtab_entry *e;
        int found = 0;
        CHECK_OK(cxr_strtab_get(&t, key, KEY, &e, &found));
        CHECK(found == 1 && e && strcmp(cxr_strtab_key(&t, e), key) == 0);
    }
    CHECK((int64_t)t.n == inserted);
    cxr_strtab_free(&t);
    TEST_END();
}
