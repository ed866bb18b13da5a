/* gn_upconv.h - nearest upsample x2 followed by a dense 3x3, stride-1,
 * pad-1 convolution, as one operator (op_upconv.c): Genie-D's generator
 * has this pair (GENIE.md section 1, steps 7-8), and gn_run runs it so
 * when the upsampled tensor has no other reader.
 *
 * Every output pixel (2i+a, 2j+c) sees a 2x2 neighbourhood of x itself, so
 * the pair is computed on the small input: by Winograd with the products
 * the repeated pixels zero left out (gn_wino_up_run; at least 8 channels
 * in and out, multiples of 4, when gn_wino_enabled()), or else by four 2x2
 * convolutions of x, one per phase (a,c), interleaved. The same function as
 * the two operators one after the other; the float sums differ in their
 * last bits.
 * Conventions as gn_ops.h: backward adds into every gradient given (or,
 * with set, writes dx as its first writer), any may be NULL; scratch comes
 * from ws, sized by gn_upconv_workspace. */
#ifndef GN_UPCONV_H
#define GN_UPCONV_H

#include <stddef.h>

typedef struct {
    int B, Cin, H, W; /* x (B,Cin,H,W): the upsample's input */
    int Cout;         /* w (Cout,Cin,3,3), b (Cout); y (B,Cout,2H,2W) */
} gn_upconv_shape;

/* Non-zero when the pair runs by Winograd for this shape: its backward
 * then can write dx as first writer (set); by phases it only adds. */
int gn_upconv_wino(const gn_upconv_shape *s);
/* Floats of ws forward and backward need for s (for up to s->B samples). */
size_t gn_upconv_workspace(const gn_upconv_shape *s);
/* y (B,Cout,2H,2W) = conv3x3(upsample2(x), w) + b; b may be NULL. */
void gn_upconv_forward(float *y, const float *x, const float *w, const float *b,
                       const gn_upconv_shape *s, float *ws);
/* dx (B,Cin,H,W), dw (Cout,Cin,3,3), db (Cout) += the gradients from dy
 * (B,Cout,2H,2W); x is the forward's input. set (only when
 * gn_upconv_wino(s)): dx = the gradient, its old contents never read. */
void gn_upconv_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const gn_upconv_shape *s, int set, float *ws);

#endif
