/* ops.c - what the operators share: the thread pool as they use it (see
 * gn_ops.h). */
#include "gn_ops.h"

#include <stddef.h>

#include "gn_blas.h"
#include "gn_tpool.h"

/* OpenBLAS at one thread while the pool's threads run parts (each part's
 * sgemm is single-threaded); called by gn_tpool_run under its lock. */
static int pool_saved_threads;
static void blas_solo(int on)
{
    if (on) {
        pool_saved_threads = gn_get_threads();
        gn_set_threads(1);
    } else {
        gn_set_threads(pool_saved_threads);
    }
}

int gn_ops_run(void (*f)(void *ctx, int t, int T), void *ctx, int T)
{
    return gn_tpool_run(f, ctx, T, blas_solo);
}

/* The pool, for the operators (gn_ops.h). Runs f(ctx, t, T) for t = 0..T-1, part 0 in
 * the caller, on min(gn_get_threads(), GN_TPOOL_MAX) threads when
 * `work` (elements touched) is at least OPS_PAR_MIN, else f(ctx, 0, 1);
 * returns the T used. Below OPS_PAR_MIN a memory-bound pass gains nothing
 * from a second thread: with the polling hand-over (~1 us) the threshold
 * was tried at 2^15 and gave the same reconstruction step times at batch 8
 * (tests/bench/bench_recon), so it stays where the old ~20 us wake-up put it. */
#define OPS_PAR_MIN ((size_t)1 << 18)

int gn_ops_parallel(void (*f)(void *ctx, int t, int T), void *ctx, size_t work)
{
    int T = gn_get_threads();
    if (T > GN_TPOOL_MAX) T = GN_TPOOL_MAX;
    if (work < OPS_PAR_MIN) T = 1;
    return gn_ops_run(f, ctx, T);
}
