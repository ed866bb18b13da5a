/* gn_slice.h - a range of channels (op_slice.c).
 * Conventions as gn_ops.h. */
#ifndef GN_SLICE_H
#define GN_SLICE_H

#include <stddef.h>

/* y (B,cn,HW) = x (B,C,HW) channels [c0, c0+cn) */
void gn_slice_forward(float *y, const float *x, int B, int C, int c0, int cn, int HW);
void gn_slice_backward(float *dx, const float *dy, int B, int C, int c0, int cn, int HW);

#endif
