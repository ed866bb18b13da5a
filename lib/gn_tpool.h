/* gn_tpool.h - the thread pool every operator shares: a run splits one job
 * into T parts f(ctx, t, T), part 0 in the caller, the others on kept
 * worker threads, and returns when all are done.
 *
 * Waking a blocked worker costs about 20 us, more than a whole elementwise
 * pass over a reconstruction batch, so workers and the caller poll for up
 * to 50 us before they block: back-to-back runs hand over in about a
 * microsecond, and no thread spins while another waits for a core.
 * What it deliberately does not do: decide T (gn_ops_parallel and the
 * convolution do), or allocate anything but its threads. */
#ifndef GN_TPOOL_H
#define GN_TPOOL_H

/* Most parts a run has (workers the pool starts, plus the caller). */
#define GN_TPOOL_MAX 8

typedef void (*gn_tpool_fn)(void *ctx, int t, int T);

/* Runs f(ctx, t, T) for t = 0..T-1 (T capped at GN_TPOOL_MAX), part 0 in
 * the caller; returns the T actually used. Parts must write disjoint
 * memory. Runs f(ctx, 0, 1) alone when T is 1, another thread holds the
 * pool, or no worker could be started. When more than one part runs,
 * solo(1) is called (if solo is not NULL) before the workers start and
 * solo(0) after they are all done, under the pool's lock (the convolution
 * sets OpenBLAS to one thread meanwhile). Workers block every signal, so
 * handlers run where they did. */
int gn_tpool_run(gn_tpool_fn f, void *ctx, int T, void (*solo)(int on));

#endif
