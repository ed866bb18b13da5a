/* op_hsigmoid.c - ONNX HardSigmoid y = max(0, min(1, alpha*x + beta)),
 * element-wise (PyTorch's hardsigmoid is alpha 1/6, beta 1/2): the
 * squeeze-excitation gate of MobileNetV3.
 * What it deliberately does not do: a gradient at the two kinks (zero there,
 * as PyTorch's). */
#include "gn_err.h"
#include "gn_hsigmoid.h"

void gn_hsigmoid_forward(float *y, const float *x, float alpha, float beta, size_t n)
{
    GN_ASSERT(y && x);
    for (size_t i = 0; i < n; i++) {
        float v = alpha * x[i] + beta;
        y[i] = v < 0 ? 0.0f : v > 1 ? 1.0f : v;
    }
}

/* dx += dy * alpha where 0 < alpha*x + beta < 1 */
void gn_hsigmoid_backward(float *dx, const float *dy, const float *x, float alpha, float beta,
                          size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    for (size_t i = 0; i < n; i++) {
        float v = alpha * x[i] + beta;
        if (v > 0 && v < 1) dx[i] += dy[i] * alpha;
    }
}
