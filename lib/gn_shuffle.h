/* gn_shuffle.h - ShuffleNet's channel shuffle (op_shuffle.c).
 * Conventions as gn_ops.h. */
#ifndef GN_SHUFFLE_H
#define GN_SHUFFLE_H

#include <stddef.h>

/* y[k*G+g] = x[g*(C/G)+k] over channels, x and y (B,C,HW) */
void gn_shuffle_forward(float *y, const float *x, int B, int C, int G, int HW);
void gn_shuffle_backward(float *dx, const float *dy, int B, int C, int G, int HW);

#endif
