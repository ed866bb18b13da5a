/* check.h - tiny unit-test macros: report file:line, count failures, and
 * make main() exit non-zero when anything failed. Each test binary ends with
 * `return check_summary("name");`, which prints "name: N passed, N failed,
 * N skipped"; tests/run-all counts a binary without that line as failed,
 * and shows every CHECK_SKIP line in its summary. */
#ifndef CHECK_H
#define CHECK_H
#include <math.h>
#include <stdio.h>

static int check_pass_, check_fail_, check_skip_;

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

/* A part of a test that cannot run here (printf-style reason): prints
 * "SKIP: reason" on stdout and counts it. */
#define CHECK_SKIP(...)                                                        \
    do {                                                                       \
        check_skip_++;                                                         \
        printf("SKIP: ");                                                      \
        printf(__VA_ARGS__);                                                   \
        printf("\n");                                                          \
    } while (0)

static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed, %d skipped\n", name, check_pass_, check_fail_, check_skip_);
    return check_fail_ ? 1 : 0;
}
#endif
