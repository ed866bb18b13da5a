/* test_estop - the early-stop criterion (gn_estop.h) on synthetic
 * sequences whose stopping point is worked out by hand. */
#include <math.h>

#include "check.h"
#include "gn_estop.h"

/* the observation (from 1) at which e first says stop on v[0..n), 0 if never */
static long stop_at(gn_estop *e, const double *v, long n)
{
    for (long i = 0; i < n; i++)
        if (gn_estop_step(e, v[i])) return i + 1;
    return 0;
}

int main(void)
{
    gn_estop e;
    double v[64];
    /* a constant: the first value is the best, patience 3 more say stop */
    for (int i = 0; i < 64; i++) v[i] = 1.0;
    gn_estop_init(&e, 1, 0, 3, 1);
    CHECK(stop_at(&e, v, 64) == 4);
    CHECK(e.best_at == 1);
    /* ... but never before min_obs */
    gn_estop_init(&e, 1, 0, 1, 10);
    CHECK(stop_at(&e, v, 64) == 10);
    /* 100/n falls by more than 0.1% a step up to n = 20, then stays at 5:
     * the best is at 20, stop at 20 + 5 */
    for (int i = 0; i < 64; i++) v[i] = i < 20 ? 100.0 / (i + 1) : 5.0;
    gn_estop_init(&e, 1, 1e-3, 5, 1);
    CHECK(stop_at(&e, v, 64) == 25);
    CHECK(e.best_at == 20);
    CHECK_NEAR(e.best, 5.0, 0);
    /* the fall is measured from the best, not step to step: 0.05% a step
     * is under the tolerance, but three steps (0.15%) are not; patience 2
     * stops before the third step, patience 3 never */
    for (int i = 0; i < 64; i++) v[i] = pow(0.9995, i);
    gn_estop_init(&e, 1, 1e-3, 2, 1);
    CHECK(stop_at(&e, v, 64) == 3);
    gn_estop_init(&e, 1, 1e-3, 3, 1);
    CHECK(stop_at(&e, v, 64) == 0);
    CHECK(e.best_at == 64);
    /* noise 1, 0, 1, 0, ...: unsmoothed, the first 0 is the best (stop at
     * 2 + 3); with weight 0.5 the average's lows 0.5, 0.375, 0.34375,
     * 0.3359, 0.33398, 0.333496 (n = 12, 0.146% below the last) improve
     * until the next, 0.0366% lower, does not: stop at 12 + 3 */
    for (int i = 0; i < 64; i++) v[i] = i % 2 ? 0.0 : 1.0;
    gn_estop_init(&e, 1, 1e-3, 3, 1);
    CHECK(stop_at(&e, v, 64) == 5);
    gn_estop_init(&e, 0.5, 1e-3, 3, 1);
    CHECK(stop_at(&e, v, 64) == 15);
    CHECK(e.best_at == 12);
    CHECK_NEAR(e.best, 0.3334960938, 1e-9);
    /* once stopped, it stays stopped; a NaN stops at once */
    CHECK(gn_estop_step(&e, 0.0) == 1 || e.since == 0);
    gn_estop_init(&e, 1, 0, 100, 1);
    CHECK(gn_estop_step(&e, 1.0) == 0);
    CHECK(gn_estop_step(&e, NAN) == 1);
    /* the same sequence twice: the same stop (a function of the values) */
    for (int i = 0; i < 64; i++) v[i] = 1.0 / (1 + i) + 0.01 * ((i * 7919) % 13);
    gn_estop_init(&e, 0.3, 1e-3, 3, 1);
    long a = stop_at(&e, v, 64);
    gn_estop_init(&e, 0.3, 1e-3, 3, 1);
    CHECK(a > 0 && stop_at(&e, v, 64) == a);
    return check_summary("test_estop");
}
