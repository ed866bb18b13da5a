/* gn_bn.h - batch normalisation, forward and backward, with a fused
 * activation and a statistics-loss tap (op_bn.c).
 * Conventions as gn_ops.h. */
#ifndef GN_BN_H
#define GN_BN_H

#include <stddef.h>

#include "gn_act.h" /* GN_SET_*: the fused activation's kind */

typedef struct {
    int B, C, HW;  /* x (B,C,HW) */
    float eps;
} gn_bn_shape;

/* Inference: y = gamma*(x-rmean)/sqrt(rvar+eps)+beta. gamma/beta NULL = 1/0. */
void gn_bn_forward_infer(float *y, const float *x, const float *gamma, const float *beta,
                         const float *rmean, const float *rvar, const gn_bn_shape *s);
void gn_bn_backward_infer(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const float *x, const float *gamma, const float *rmean,
                          const float *rvar, const gn_bn_shape *s);
/* Training: batch statistics over (B,HW). Caches mean (C) and invstd (C),
 * invstd = 1/sqrt(biased_var + eps). gamma/beta NULL = no affine. */
void gn_bn_forward_train(float *y, float *mean, float *invstd, const float *x,
                         const float *gamma, const float *beta, const gn_bn_shape *s);
/* Full backward through the batch mean and variance. */
void gn_bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const float *x, const float *mean, const float *invstd,
                          const float *gamma, const gn_bn_shape *s);
/* The same two with dx's first-writer form (see gn_act_backward_set):
 * dx = 0 + what they would add; dgamma/dbeta still add. */
void gn_bn_backward_infer_set(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *gamma, const float *rmean,
                              const float *rvar, const gn_bn_shape *s);
void gn_bn_backward_train_set(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *mean, const float *invstd,
                              const float *gamma, const gn_bn_shape *s);
/* An activation fused into the BatchNorm (or Add) before it: gn_run runs
 * BN -> ReLU / Clip / LeakyReLU (slope > 0) and Add -> ReLU as one pass
 * each way when the intermediate tensor has no other reader. kind is
 * GN_SET_RELU, GN_SET_CLIP (p, q = lo, hi) or GN_SET_LEAKY (p = slope); z
 * is the activation's output, from which its backward recovers the mask
 * (z > 0, lo < z < hi: the same elements as on the input). Results are
 * bit-identical to the two operators run one after the other. In the
 * inference backward z may be NULL with remake set: each plane of z is
 * then made again from x, as the forward made it (beta: the BN's shift
 * parameter, NULL = 0), so z need not be kept (the same bits). */
typedef struct {
    int kind;
    float p, q;
    const float *z;
    int remake;
    const float *beta;
} gn_act_fuse;
/* GN_BN_FUSE_MAX_HW: the largest plane (H*W) a fused BatchNorm backward
 * takes (the activation's gradient of one plane is built on the stack). */
#define GN_BN_FUSE_MAX_HW 4096
/* z = act(BN(x)); the BN output itself is not stored (a NULL: y = BN(x),
 * the plain forward). */
void gn_bn_forward_infer_act(float *z, const float *x, const float *gamma, const float *beta,
                             const float *rmean, const float *rvar, const gn_bn_shape *s,
                             const gn_act_fuse *a);
void gn_bn_forward_train_act(float *z, float *mean, float *invstd, const float *x,
                             const float *gamma, const float *beta, const gn_bn_shape *s,
                             const gn_act_fuse *a);
/* dy is the gradient at the activation's output a->z; set: first writer */
void gn_bn_backward_infer_act(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *gamma, const float *rmean,
                              const float *rvar, const gn_bn_shape *s, int set,
                              const gn_act_fuse *a);
void gn_bn_backward_train_act(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *mean, const float *invstd,
                              const float *gamma, const gn_bn_shape *s, int set,
                              const gn_act_fuse *a);
/* A loss on the statistics of an inference-mode BatchNorm's input (Genie-D's
 * BN term, distill.c), carried by the BN's own passes instead of passes of
 * its own over x and dx:
 * - forward also stores mom[c] = mean and mom[C+c] = M2 of x per channel,
 *   the numbers gn_chan_moments() (gn_moments.h) gives, from each plane just read;
 * - backward, with a set, gives x the gradient a_c + b_c (x - m_c) of the
 *   loss plus the BN's own: dx = ((set ? 0 : dx) + (a + b (x - m))) + g,
 *   the same bits as the loss writing its term first and the BN adding. */
typedef struct {
    double *mom;      /* (2, C), written by forward; NULL: not recorded */
    float *a, *b, *m; /* (C) each, the tap owner's; a NULL: no loss term in backward */
} gn_bn_tap;
/* gn_bn_forward_infer_act / gn_bn_backward_infer_act with a tap (act may
 * be NULL: no fused activation) */
void gn_bn_forward_infer_tap(float *z, const float *x, const float *gamma, const float *beta,
                             const float *rmean, const float *rvar, const gn_bn_shape *s,
                             const gn_act_fuse *act, const gn_bn_tap *tap);
void gn_bn_backward_infer_tap(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *gamma, const float *rmean,
                              const float *rvar, const gn_bn_shape *s, int set,
                              const gn_act_fuse *act, const gn_bn_tap *tap);
/* running = (1-momentum)*running + momentum*batch, with the unbiased
 * variance (PyTorch's rule), from the cached mean/invstd. */
void gn_bn_update_running(float *rmean, float *rvar, const float *mean,
                          const float *invstd, float momentum, const gn_bn_shape *s);

#endif
