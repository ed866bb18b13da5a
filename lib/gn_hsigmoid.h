/* gn_hsigmoid.h - HardSigmoid max(0, min(1, alpha*x + beta)), forward and backward
 * (op_hsigmoid.c).
 * Conventions as gn_ops.h. */
#ifndef GN_HSIGMOID_H
#define GN_HSIGMOID_H

#include <stddef.h>

void gn_hsigmoid_forward(float *y, const float *x, float alpha, float beta, size_t n);
void gn_hsigmoid_backward(float *dx, const float *dy, const float *x, float alpha, float beta,
                          size_t n);

#endif
