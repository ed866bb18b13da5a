/* gn_concat.h - concatenation along channels (op_concat.c).
 * Conventions as gn_ops.h. */
#ifndef GN_CONCAT_H
#define GN_CONCAT_H

#include <stddef.h>

/* y (B, sum c[i], HW) from x[i] (B, c[i], HW); backward: dx[i] (NULL: skipped) += */
void gn_concat_forward(float *y, const float *const *x, const int *c, int n, int B, int HW);
void gn_concat_backward(float *const *dx, const float *dy, const int *c, int n, int B, int HW);

#endif
