/* gn_sigmoid.h - the logistic sigmoid, forward and backward (op_sigmoid.c).
 * Conventions as gn_ops.h. */
#ifndef GN_SIGMOID_H
#define GN_SIGMOID_H

#include <stddef.h>

void gn_sigmoid_forward(float *y, const float *x, size_t n);
/* uses the forward output y: dx += dy * y * (1 - y) */
void gn_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n);

#endif
