/* test_estop - the early-stop criterion (gn_estop.h) on synthetic
 * sequences whose stopping point is worked out by hand. */
#include <math.h>

#include "check.h"
#include "gn_estop.h"
#include "gn_recon.h"

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
    /* recon-block --early-stop's criterion (gn_recon_es_init), observed
     * from the budget's end: a flat held-out error stops at the second
     * check (the first sets the best), so the unit runs one check period
     * past its budget */
    gn_recon_opts o;
    gn_recon_defaults(&o);
    CHECK(o.es_patience == 1 && fabs(o.es_budget - 0.45) < 1e-7);
    for (int i = 0; i < 64; i++) v[i] = 0.1139;
    gn_recon_es_init(&e, &o);
    CHECK(stop_at(&e, v, 64) == 2);
    CHECK(e.best_at == 1);
    /* it extends while still falling: 1% a check for 9 checks, then flat
     * after observation 10; the average (weight 0.3) lags, its gap to the
     * flat value shrinks by 0.7 a check and its fall stays over 0.1% of
     * the best up to observation 16 (0.116%), under it at 17 (0.081%) */
    for (int i = 0; i < 64; i++) v[i] = pow(0.99, i < 10 ? i : 9);
    gn_recon_es_init(&e, &o);
    CHECK(stop_at(&e, v, 64) == 17);
    CHECK(e.best_at == 16);
    /* a fall of 0.2% a check moves the average 0.06%: not a fall, stop */
    for (int i = 0; i < 64; i++) v[i] = pow(0.998, i);
    gn_recon_es_init(&e, &o);
    CHECK(stop_at(&e, v, 64) == 2);
    /* a rising error (the soft bits hardening the wrong way) stops too */
    for (int i = 0; i < 64; i++) v[i] = 1.0 + 0.01 * i;
    gn_recon_es_init(&e, &o);
    CHECK(stop_at(&e, v, 64) == 2);
    /* the budget's schedule (gn_recon_es_sched): 0.45 x 4000 = 1800
     * iterations, every rate x 4000/1800; the budget rounds, and stays in
     * [1, iters] */
    gn_recon_opts so;
    o.iters = 4000;
    CHECK(gn_recon_es_sched(&o, &so) == 1800 && so.iters == 1800 && o.iters == 4000);
    CHECK_NEAR(so.lr_round, 1e-3 * 4000.0 / 1800.0, 1e-9);
    CHECK_NEAR(so.lr_wstep, 1e-4 * 4000.0 / 1800.0, 1e-10);
    CHECK_NEAR(so.lr_astep, 4e-5 * 4000.0 / 1800.0, 1e-10);
    CHECK(so.beta_start == o.beta_start && so.warmup == o.warmup);
    o.iters = 1000;
    CHECK(gn_recon_es_sched(&o, &so) == 450);
    o.es_budget = 0.3f;
    CHECK(gn_recon_es_sched(&o, &so) == 300);
    o.iters = 5, o.es_budget = 0.1f;
    CHECK(gn_recon_es_sched(&o, &so) == 1 && so.lr_round == o.lr_round * 5);
    o.es_budget = 1;
    CHECK(gn_recon_es_sched(&o, &so) == 5 && so.lr_round == o.lr_round);
    return check_summary("test_estop");
}
