/* op_hswish.c - HardSwish y = x * max(0, min(1, x/6 + 1/2)), element-wise
 * (MobileNetV3's activation; ONNX opset 14's HardSwish, PyTorch's
 * hardswish). Opset 13 exports it as HardSigmoid then Mul instead.
 * What it deliberately does not do: other slopes (ONNX fixes 1/6, 1/2). */
#include "gn_err.h"
#include "gn_hswish.h"

void gn_hswish_forward(float *y, const float *x, size_t n)
{
    GN_ASSERT(y && x);
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        y[i] = v <= -3.0f ? 0.0f : v >= 3.0f ? v : v * (v + 3.0f) / 6.0f;
    }
}

/* dx += dy * (0 below -3, x/3 + 1/2 in [-3,3], 1 above 3), PyTorch's rule */
void gn_hswish_backward(float *dx, const float *dy, const float *x, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float d = v < -3.0f ? 0.0f : v <= 3.0f ? v / 3.0f + 0.5f : 1.0f;
        dx[i] += dy[i] * d;
    }
}
