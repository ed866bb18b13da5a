/* op_sigmoid.c - the logistic sigmoid y = 1/(1+exp(-x)), element-wise: the
 * gate of squeeze-excitation and, times its input, SiLU (x*sigmoid(x) is
 * Sigmoid followed by Mul in an exported graph).
 * What it deliberately does not do: a fused SiLU kernel (the Mul does it). */
#include <math.h>

#include "gn_err.h"
#include "gn_sigmoid.h"

void gn_sigmoid_forward(float *y, const float *x, size_t n)
{
    GN_ASSERT(y && x);
    for (size_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

/* from the forward output: dx += dy * y * (1 - y) */
void gn_sigmoid_backward(float *dx, const float *dy, const float *y, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && y);
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}
