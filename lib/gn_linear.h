/* gn_linear.h - fully connected layer, forward and backward (op_linear.c).
 * Conventions as gn_ops.h. */
#ifndef GN_LINEAR_H
#define GN_LINEAR_H

#include <stddef.h>

/* y (B,O) = x (B,I) . w(O,I)^T + b(O); b may be NULL. Via sgemm. */
void gn_linear_forward(float *y, const float *x, const float *w, const float *b, int B,
                       int I, int O);
void gn_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int B, int I, int O);
void gn_linear_forward_ref(float *y, const float *x, const float *w, const float *b, int B,
                           int I, int O);

#endif
