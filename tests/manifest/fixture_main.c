/* fixture_main.c: `manifest_fixture DIR` writes the landmark-style fixture of fixture.h under
 * DIR (created if needed) for the end-to-end tests in test_manifest.py. */
#include "fixture.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: manifest_fixture DIR\n");
        return 2;
    }
    if (fixture_mkdir(argv[1]) || fixture_write(argv[1])) {
        fprintf(stderr, "manifest_fixture: cannot write the fixture under %s\n", argv[1]);
        return 1;
    }
    return 0;
}
