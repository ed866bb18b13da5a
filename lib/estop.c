/* estop.c - the early-stop criterion (see gn_estop.h). */
#include "gn_estop.h"

void gn_estop_init(gn_estop *e, double alpha, double rel_tol, long patience, long min_obs)
{
    e->alpha = alpha > 0 && alpha <= 1 ? alpha : 1;
    e->rel_tol = rel_tol > 0 ? rel_tol : 0;
    e->patience = patience >= 1 ? patience : 1;
    e->min_obs = min_obs;
    e->n = e->since = e->best_at = 0;
    e->ema = e->best = 0;
}

int gn_estop_step(gn_estop *e, double v)
{
    if (v != v) return e->n++, e->ema = v, 1;
    e->ema = e->n++ ? e->ema + e->alpha * (v - e->ema) : v;
    const double mag = e->best < 0 ? -e->best : e->best;
    if (e->n == 1 || e->ema < e->best - e->rel_tol * mag) {
        e->best = e->ema, e->best_at = e->n, e->since = 0;
    } else {
        e->since++;
    }
    return e->n >= e->min_obs && e->since >= e->patience;
}
