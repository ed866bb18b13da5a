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
 * What this file does not do: graph bookkeeping (gn_graph.h/gn_run.h). */
#ifndef GN_OPS_H
#define GN_OPS_H

#include <stddef.h>

/* ---- convolution (op_conv.c) -------------------------------------------- */
typedef struct {
    int B, Cin, H, W;       /* input (B,Cin,H,W) */
    int Cout, KH, KW;       /* weight (Cout, Cin/groups, KH, KW) */
    int SH, SW;             /* stride */
    int PT, PL, PB, PR;     /* zero padding: top, left, bottom, right */
    int groups;             /* 1 = dense; Cin = groups = Cout/k is depthwise */
    int OH, OW;             /* output (B,Cout,OH,OW); filled by gn_conv_shape_init */
} gn_conv_shape;

/* Computes OH, OW. Returns 0, or -1 if the shape is impossible (no output
 * pixel, channels not divisible by groups). */
int gn_conv_shape_init(gn_conv_shape *s);
/* Floats of scratch that forward/backward need for this shape (for one
 * sample's im2col in the dense case). */
size_t gn_conv2d_workspace(const gn_conv_shape *s);
/* y (B,Cout,OH,OW) = conv(x, w) + b; b may be NULL. Dense/grouped with
 * Cin/groups > 1 use im2col + sgemm, except dense 3x3/s1/p1 ones with >= 8
 * channels in and out (multiples of 4) on AVX-512 CPUs: Winograd
 * F(2x2,3x3) forward and backward to x (gn_wino.h); depthwise has its own
 * direct kernel. */
void gn_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const gn_conv_shape *s, float *ws);
/* dx (B,Cin,H,W), dw (Cout,Cin/g,KH,KW), db (Cout) += ...; any may be NULL. */
void gn_conv2d_backward(float *dx, float *dw, float *db, const float *dy,
                        const float *x, const float *w, const gn_conv_shape *s,
                        float *ws);
/* The same with dx's first-writer form: dx = the gradient, its old
 * contents never read (the bits adding into zeros gives). */
void gn_conv2d_backward_set(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, const gn_conv_shape *s,
                            float *ws);
void gn_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                           const gn_conv_shape *s);
void gn_conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy,
                            const float *x, const float *w, const gn_conv_shape *s);

/* ---- batch normalisation (op_bn.c) -------------------------------------- */
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
 * bit-identical to the two operators run one after the other. */
typedef struct {
    int kind;
    float p, q;
    const float *z;
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

/* ---- element-wise activations (op_act.c); n = element count ------------- */
void gn_relu_forward(float *y, const float *x, size_t n);
void gn_relu_backward(float *dx, const float *dy, const float *x, size_t n);
/* Clip / ReLU6: y = min(max(x, lo), hi); gradient passes where lo < x < hi. */
void gn_clip_forward(float *y, const float *x, float lo, float hi, size_t n);
void gn_clip_backward(float *dx, const float *dy, const float *x, float lo, float hi, size_t n);
void gn_leaky_forward(float *y, const float *x, float slope, size_t n);
void gn_leaky_backward(float *dx, const float *dy, const float *x, float slope, size_t n);
void gn_tanh_forward(float *y, const float *x, size_t n);
/* uses the forward output y: dx += dy*(1-y^2) */
void gn_tanh_backward(float *dx, const float *dy, const float *y, size_t n);
/* y = a + b */
void gn_add_forward(float *y, const float *a, const float *b, size_t n);
/* y = max(a + b, 0) in one pass (Add -> ReLU fused) */
void gn_add_relu_forward(float *y, const float *a, const float *b, size_t n);
/* dx += dy (Identity, Add's two inputs, Flatten/Reshape) */
void gn_accum(float *dx, const float *dy, size_t n);

/* First-writer forms, for gn_run: what the backward above would leave in a
 * zeroed dx, bit for bit (dx = 0 + g), without zeroing dx first.
 * op: GN_SET_RELU / CLIP (p, q = lo, hi) / LEAKY (p = slope) / TANH (x is
 * the forward output y) / COPY (gn_accum; x unused). */
enum { GN_SET_RELU, GN_SET_CLIP, GN_SET_LEAKY, GN_SET_TANH, GN_SET_COPY };
void gn_act_backward_set(int op, float *dx, const float *dy, const float *x, float p, float q,
                         size_t n);

/* ---- pooling (op_pool.c) ------------------------------------------------- */
typedef struct {
    int B, C, H, W;
    int KH, KW, SH, SW, PT, PL, PB, PR;
    int count_include_pad; /* AveragePool only */
    int OH, OW;            /* filled by gn_pool_shape_init */
} gn_pool_shape;
int gn_pool_shape_init(gn_pool_shape *s);
/* argmax (B,C,OH,OW) caches the flat index h*W+w of the max inside x's plane */
void gn_maxpool_forward(float *y, int *argmax, const float *x, const gn_pool_shape *s);
void gn_maxpool_backward(float *dx, const float *dy, const int *argmax, const gn_pool_shape *s);
void gn_avgpool_forward(float *y, const float *x, const gn_pool_shape *s);
void gn_avgpool_backward(float *dx, const float *dy, const gn_pool_shape *s);
/* global average pool: x (B,C,HW) -> y (B,C) */
void gn_gap_forward(float *y, const float *x, int B, int C, int HW);
void gn_gap_backward(float *dx, const float *dy, int B, int C, int HW);

/* ---- fully connected (op_linear.c) --------------------------------------- */
/* y (B,O) = x (B,I) . w(O,I)^T + b(O); b may be NULL. Via sgemm. */
void gn_linear_forward(float *y, const float *x, const float *w, const float *b, int B,
                       int I, int O);
void gn_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int B, int I, int O);
void gn_linear_forward_ref(float *y, const float *x, const float *w, const float *b, int B,
                           int I, int O);

/* ---- nearest-neighbour upsample x2 (op_upsample.c) ----------------------- */
/* x (B,C,H,W) -> y (B,C,2H,2W) */
void gn_upsample2_forward(float *y, const float *x, int B, int C, int H, int W);
void gn_upsample2_backward(float *dx, const float *dy, int B, int C, int H, int W);
/* first-writer form: dx = 0 + the sum of its four cells */
void gn_upsample2_backward_set(float *dx, const float *dy, int B, int C, int H, int W);

/* ---- swing (op_swing.c): Genie-D's swing convolution input ------------- */
/* y (B,C,H,W) = crop of reflect_pad(x, 1) (B,C,H+2,W+2) at offset (oy, ox),
 * oy, ox in {0,1,2}; (1,1) is the identity. One offset for the whole batch. */
void gn_swing_forward(float *y, const float *x, int oy, int ox, int B, int C, int H, int W);
/* dx += the adjoint of the above (reflected cells fold back onto their source) */
void gn_swing_backward(float *dx, const float *dy, int oy, int ox, int B, int C, int H, int W);

/* ---- softmax cross-entropy (op_xent.c) ----------------------------------- */
/* logits (B,K), labels (B). Returns the mean loss over the batch; if dlogits
 * is not NULL, ADDS scale*(softmax - onehot)/B into it. probs (B,K) is scratch
 * the caller provides (may be NULL when dlogits is NULL). */
float gn_xent_forward_backward(float *dlogits, float *probs, const float *logits,
                               const int *labels, int B, int K, float scale);

/* ---- the operator thread pool (op_conv.c, over gn_pool.h) ---------------- */
/* Runs f(ctx, t, T) for t = 0..T-1 (part 0 in the caller) on
 * min(gn_get_threads(), GN_POOL_MAX) threads when `work` (elements
 * touched) is large enough to pay for a wake-up, else f(ctx, 0, 1). Parts
 * must write disjoint memory. Returns the T used. A call made while another
 * thread holds the pool runs serially. */
int gn_ops_parallel(void (*f)(void *ctx, int t, int T), void *ctx, size_t work);

#endif
