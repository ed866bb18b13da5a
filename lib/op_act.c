/* op_act.c - element-wise operators: ReLU, Clip (ReLU6), LeakyReLU, Tanh,
 * the sum of two tensors, and gradient accumulation (the backward of
 * Identity, Add and Flatten/Reshape).
 *
 * Loops run in blocks of 8 that are loaded into locals first: gcc -O2 then
 * vectorises them (its cheap cost model leaves plain loops of unknown trip
 * count scalar), and a forward may still run in place (y == x).
 * What it deliberately does not do: broadcasting (Add's inputs share one
 * shape). At a kink the backward takes the flat side: ReLU'(0) = 0, and Clip
 * passes gradient only strictly inside (lo, hi). Any gradient pointer may be
 * NULL: the call is then a no-op. */
#include "gn_err.h"
#include "gn_ops.h"

#include <math.h>

#define BLK 8

void gn_relu_forward(float *y, const float *x, size_t n)
{
    GN_ASSERT(y && x);
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = x[i + k];
        for (int k = 0; k < BLK; k++) y[i + k] = t[k] > 0.0f ? t[k] : 0.0f;
    }
    for (; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void gn_relu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float g[BLK], v[BLK];
        for (int k = 0; k < BLK; k++) g[k] = dy[i + k], v[k] = x[i + k];
        for (int k = 0; k < BLK; k++) dx[i + k] += v[k] > 0.0f ? g[k] : 0.0f;
    }
    for (; i < n; i++) dx[i] += x[i] > 0.0f ? dy[i] : 0.0f;
}

void gn_clip_forward(float *y, const float *x, float lo, float hi, size_t n)
{
    GN_ASSERT(y && x && lo <= hi);
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = x[i + k];
        for (int k = 0; k < BLK; k++) {
            float v = t[k] < lo ? lo : t[k];
            y[i + k] = v > hi ? hi : v;
        }
    }
    for (; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

void gn_clip_backward(float *dx, const float *dy, const float *x, float lo, float hi, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float g[BLK], v[BLK];
        for (int k = 0; k < BLK; k++) g[k] = dy[i + k], v[k] = x[i + k];
        for (int k = 0; k < BLK; k++) dx[i + k] += (v[k] > lo && v[k] < hi) ? g[k] : 0.0f;
    }
    for (; i < n; i++) dx[i] += (x[i] > lo && x[i] < hi) ? dy[i] : 0.0f;
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
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = a[i + k] + b[i + k];
        for (int k = 0; k < BLK; k++) y[i + k] = t[k];
    }
    for (; i < n; i++) y[i] = a[i] + b[i];
}

void gn_accum(float *dx, const float *dy, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy);
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float g[BLK];
        for (int k = 0; k < BLK; k++) g[k] = dy[i + k];
        for (int k = 0; k < BLK; k++) dx[i + k] += g[k];
    }
    for (; i < n; i++) dx[i] += dy[i];
}
