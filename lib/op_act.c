/* op_act.c - element-wise operators: ReLU, Clip (ReLU6), LeakyReLU, Tanh,
 * the sum of two tensors, and gradient accumulation (the backward of
 * Identity, Add and Flatten/Reshape).
 *
 * What it deliberately does not do: broadcasting (Add's inputs have one
 * shape) or in-place tricks on the gradient; the backward of a kink takes the
 * gradient of the flat side (ReLU'(0) = 0, Clip passes only strictly inside
 * (lo, hi)). Any gradient pointer may be NULL: the call is then a no-op. */
#include "gn_err.h"
#include "gn_ops.h"

#include <math.h>

void gn_relu_forward(float *y, const float *x, size_t n)
{
    GN_ASSERT(y && x);
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void gn_relu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

void gn_clip_forward(float *y, const float *x, float lo, float hi, size_t n)
{
    GN_ASSERT(y && x && lo <= hi);
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v < lo ? lo : v > hi ? hi : v;
    }
}

void gn_clip_backward(float *dx, const float *dy, const float *x, float lo, float hi, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    for (size_t i = 0; i < n; i++) dx[i] += (x[i] > lo && x[i] < hi) ? dy[i] : 0.0f;
}

void gn_leaky_forward(float *y, const float *x, float slope, size_t n)
{
    GN_ASSERT(y && x);
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : slope * x[i];
}

void gn_leaky_backward(float *dx, const float *dy, const float *x, float slope, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    for (size_t i = 0; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : slope * dy[i];
}

void gn_tanh_forward(float *y, const float *x, size_t n)
{
    GN_ASSERT(y && x);
    for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

void gn_tanh_backward(float *dx, const float *dy, const float *y, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && y);
    for (size_t i = 0; i < n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

void gn_add_forward(float *y, const float *a, const float *b, size_t n)
{
    GN_ASSERT(y && a && b);
    for (size_t i = 0; i < n; i++) y[i] = a[i] + b[i];
}

void gn_accum(float *dx, const float *dy, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy);
    for (size_t i = 0; i < n; i++) dx[i] += dy[i];
}
