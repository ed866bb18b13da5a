/* check.h - tiny unit-test macros: report file:line, count failures, and
 * make main() exit non-zero when anything failed. Each test binary ends with
 * `return check_summary("name");`, which prints "name: N passed, N failed". */
#ifndef CHECK_H
#define CHECK_H
#include <math.h>
#include <stdio.h>

static int check_pass_, check_fail_;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (cond) check_pass_++;                                               \
        else {                                                                 \
            check_fail_++;                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                      \
    } while (0)

/* |a-b| <= tol; prints both values on failure */
#define CHECK_NEAR(a, b, tol)                                                  \
    do {                                                                       \
        double a_ = (a), b_ = (b), t_ = (tol);                                 \
        if (fabs(a_ - b_) <= t_) check_pass_++;                                \
        else {                                                                 \
            check_fail_++;                                                     \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s=%.9g %s=%.9g tol %.3g\n", \
                    __FILE__, __LINE__, #a, a_, #b, b_, t_);                   \
        }                                                                      \
    } while (0)

static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_pass_, check_fail_);
    return check_fail_ ? 1 : 0;
}
#endif
