/* gn_hswish.h - HardSwish x*max(0, min(1, x/6 + 1/2)), forward and backward
 * (op_hswish.c).
 * Conventions as gn_ops.h. */
#ifndef GN_HSWISH_H
#define GN_HSWISH_H

#include <stddef.h>

void gn_hswish_forward(float *y, const float *x, size_t n);
void gn_hswish_backward(float *dx, const float *dy, const float *x, size_t n);

#endif
