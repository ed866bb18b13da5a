/* gn_act.h - element-wise activations, Add and copies, forward and
 * backward (op_act.c); n = element count.
 * Conventions as gn_ops.h. */
#ifndef GN_ACT_H
#define GN_ACT_H

#include <stddef.h>

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

#endif
