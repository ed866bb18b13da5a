/* gn_swing.h - Genie-D's swing convolution input: a reflect-padded
 * shifted crop, forward and backward (op_swing.c).
 * Conventions as gn_ops.h. */
#ifndef GN_SWING_H
#define GN_SWING_H

#include <stddef.h>

/* y (B,C,H,W) = crop of reflect_pad(x, 1) (B,C,H+2,W+2) at offset (oy, ox),
 * oy, ox in {0,1,2}; (1,1) is the identity. One offset for the whole batch. */
void gn_swing_forward(float *y, const float *x, int oy, int ox, int B, int C, int H, int W);
/* dx += the adjoint of the above (reflected cells fold back onto their source) */
void gn_swing_backward(float *dx, const float *dy, int oy, int ox, int B, int C, int H, int W);

#endif
