/* gn_ops.h - the operator kernels: forward and backward side by side.
 *
 * Conventions (llm.c / darknet style):
 * - raw float* in NCHW order; shapes come in a struct, last argument;
 * - argument order: outputs, caches, inputs, weights, shape (then workspace);
 * - backward ADDS into every gradient it is given (caller zeroes), and any
 *   gradient pointer may be NULL: that gradient is then neither computed nor
 *   touched. This is how "gradients for any subset" is honoured;
 * - no allocation inside forward/backward: scratch comes from `ws`, sized by
 *   the matching *_workspace() call up front;
 * - every fast kernel has a plain *_ref twin that tests compare against.
 * One header per operator file: op_X.c declares in gn_X.h. This header
 * states the conventions, includes every operator's header (so a caller
 * of many operators includes this one), and declares what the operators
 * share: the thread pool as they use it (ops.c).
 * What this file does not do: graph bookkeeping (gn_graph.h/gn_run.h). */
#ifndef GN_OPS_H
#define GN_OPS_H

#include <stddef.h>

#include "gn_act.h"
#include "gn_bn.h"
#include "gn_conv.h"
#include "gn_linear.h"
#include "gn_pool.h"
#include "gn_swing.h"
#include "gn_upsample.h"
#include "gn_xent.h"
#include "gn_sigmoid.h"
#include "gn_hsigmoid.h"
#include "gn_hswish.h"
#include "gn_mul.h"
#include "gn_concat.h"
#include "gn_slice.h"
#include "gn_shuffle.h"

/* ---- the operator thread pool (ops.c, over gn_tpool.h) ------------------ */
/* Runs f(ctx, t, T) for t = 0..T-1 (part 0 in the caller) on
 * min(gn_get_threads(), GN_TPOOL_MAX) threads when `work` (elements
 * touched) is large enough to pay for a wake-up, else f(ctx, 0, 1). Parts
 * must write disjoint memory. Returns the T used. A call made while another
 * thread holds the pool runs serially. */
int gn_ops_parallel(void (*f)(void *ctx, int t, int T), void *ctx, size_t work);
/* gn_tpool_run(f, ctx, T, ...) with OpenBLAS at one thread while more than
 * one part runs (each part's sgemm then runs on its own thread); returns
 * the T used. The convolution splits its batch with it. */
int gn_ops_run(void (*f)(void *ctx, int t, int T), void *ctx, int T);

#endif
