/* gn_mul.h - element-wise product, with a per-channel vector broadcast over H,W
 * (op_mul.c).
 * Conventions as gn_ops.h. */
#ifndef GN_MUL_H
#define GN_MUL_H

#include <stddef.h>

/* y (B,C,HW) = a (B,C,HW) * b: b (B,C,HW), or (B,C) when bcast */
void gn_mul_forward(float *y, const float *a, const float *b, int B, int C, int HW, int bcast);
/* da += dy * b; db += dy * a (summed over HW when bcast); either may be NULL */
void gn_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b, int B,
                     int C, int HW, int bcast);

#endif
