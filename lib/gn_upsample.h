/* gn_upsample.h - nearest-neighbour upsample x2, forward and backward
 * (op_upsample.c).
 * Conventions as gn_ops.h. */
#ifndef GN_UPSAMPLE_H
#define GN_UPSAMPLE_H

#include <stddef.h>

/* x (B,C,H,W) -> y (B,C,2H,2W) */
void gn_upsample2_forward(float *y, const float *x, int B, int C, int H, int W);
void gn_upsample2_backward(float *dx, const float *dy, int B, int C, int H, int W);
/* first-writer form: dx = 0 + the sum of its four cells */
void gn_upsample2_backward_set(float *dx, const float *dy, int B, int C, int H, int W);

#endif
