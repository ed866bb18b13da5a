/* gn_estop.h - an early-stop criterion for a noisy, decreasing sequence
 * (distill's loss, recon-block's held-out error): "it has stopped improving".
 *
 * Each observation v updates an exponential moving average
 *   ema_1 = v_1,   ema_n = ema_{n-1} + alpha (v_n - ema_{n-1}).
 * The best average so far improves when ema_n < best - rel_tol |best| (a
 * relative tolerance, so the criterion does not depend on the loss's
 * scale); patience consecutive observations without such an improvement,
 * after at least min_obs observations, mean stop. A pure function of the
 * values: the same sequence stops at the same observation, on any host.
 * What this does not do: decide what is observed or when (the caller). */
#ifndef GN_ESTOP_H
#define GN_ESTOP_H

typedef struct {
    double alpha;   /* weight of a new value in the average (0 < alpha <= 1; 1: none) */
    double rel_tol; /* relative improvement that counts (>= 0) */
    long patience;  /* observations without improvement that mean stop (>= 1) */
    long min_obs;   /* never stop before this many observations */
    /* state */
    long n;         /* observations so far */
    long since;     /* of them since the last improvement */
    long best_at;   /* the observation (from 1) of the best average */
    double ema, best;
} gn_estop;

void gn_estop_init(gn_estop *e, double alpha, double rel_tol, long patience, long min_obs);
/* Adds observation v; returns 1 when the criterion says stop (and keeps
 * saying so for every later observation), else 0. A NaN observation stops
 * at once (nothing can improve after it). */
int gn_estop_step(gn_estop *e, double v);

#endif
