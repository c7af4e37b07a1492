/* cxr_test.h: the few assertion macros our C tests use. A failed check prints file:line and
 * the values, and the test exits 1 at the end (CHECK) or at once (REQUIRE). Exit 77 = skipped. */
#ifndef CXR_TEST_H
#define CXR_TEST_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int cxr_test_failures;
#define CXR_SKIP_CODE 77

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            cxr_test_failures++;                                                     \
        }                                                                            \
    } while (0)
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)
/* |a-b| <= atol + rtol*|b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                              \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))) {                                        \
            fprintf(stderr, "%s:%d: CHECK_CLOSE failed: %s=%.9g vs %s=%.9g\n", __FILE__, __LINE__, \
                    #a, a_, #b, b_);                                                               \
            cxr_test_failures++;                                                                   \
        }                                                                                          \
    } while (0)
#define CHECK_OK(expr)                                                          \
    do {                                                                        \
        cxr_status s_ = (expr);                                                 \
        if (s_ != CXR_OK) {                                                     \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr, \
                    cxr_status_name(s_), cxr_last_error());                     \
            exit(1);                                                            \
        }                                                                       \
    } while (0)
#define TEST_END()                                                                         \
    do {                                                                                   \
        if (cxr_test_failures) fprintf(stderr, "%d check(s) failed\n", cxr_test_failures); \
        return cxr_test_failures ? 1 : 0;                                                  \
    } while (0)
#endif
