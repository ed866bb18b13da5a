/* op_slice.c - channels [c0, c0+cn) of a tensor: one output of an ONNX Split
 * along channels (ShuffleNetV2's chunk in two). Backward adds the gradient
 * into those channels only.
 * What it deliberately does not do: other axes, steps. */
#include <string.h>

#include "gn_err.h"
#include "gn_slice.h"

/* y (B,cn,HW) = x (B,C,HW)[:, c0:c0+cn] */
void gn_slice_forward(float *y, const float *x, int B, int C, int c0, int cn, int HW)
{
    GN_ASSERT(y && x && c0 >= 0 && cn >= 1 && c0 + cn <= C);
    const size_t m = (size_t)cn * HW;
    for (int b = 0; b < B; b++)
        memcpy(y + (size_t)b * m, x + ((size_t)b * C + (size_t)c0) * HW, m * sizeof(float));
}

void gn_slice_backward(float *dx, const float *dy, int B, int C, int c0, int cn, int HW)
{
    if (!dx) return;
    GN_ASSERT(dy && c0 >= 0 && cn >= 1 && c0 + cn <= C);
    const size_t m = (size_t)cn * HW;
    for (int b = 0; b < B; b++) {
        float *d = dx + ((size_t)b * C + (size_t)c0) * HW;
        const float *s = dy + (size_t)b * m;
        for (size_t j = 0; j < m; j++) d[j] += s[j];
    }
}
