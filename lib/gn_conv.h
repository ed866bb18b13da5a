/* gn_conv.h - 2-D convolution, forward and backward (op_conv.c).
 * Conventions as gn_ops.h. */
#ifndef GN_CONV_H
#define GN_CONV_H

#include <stddef.h>

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

#endif
