/* op_swing.c - Genie-D's swing convolution input: reflect-pad the input by
 * one pixel on every side and crop it back to H x W at offset (oy, ox) in
 * {0,1,2}^2 (one offset for the whole batch), so that a strided convolution
 * after it samples a randomly shifted grid. (1,1) is the identity.
 *
 * What it deliberately does not do: draw the offset (gn_run does, from
 * r->swing_rng) or pad by more than one pixel (the reference's jitter 1).
 * Reflection is PyTorch's 'reflect' mode (edge not repeated), so H, W >= 2. */
#include "gn_swing.h"
#include "gn_err.h"

/* source index of padded-and-cropped index i + o - 1 under reflection */
static inline int reflect1(int p, int n) { return p < 0 ? -p : (p >= n ? 2 * (n - 1) - p : p); }

void gn_swing_forward(float *y, const float *x, int oy, int ox, int B, int C, int H, int W)
{
    GN_ASSERT(y && x && y != x && oy >= 0 && oy <= 2 && ox >= 0 && ox <= 2 && H >= 2 && W >= 2);
    const size_t HW = (size_t)H * W, planes = (size_t)B * C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW; // (H,W)
        float *yp = y + pl * HW;       // (H,W)
        for (int i = 0; i < H; i++) {
            const float *xr = xp + (size_t)reflect1(i + oy - 1, H) * W;
            float *yr = yp + (size_t)i * W;
            /* interior columns are a shifted copy; the at most one reflected
             * column at either end is done separately */
            int j0 = ox == 0 ? 1 : 0, j1 = ox == 2 ? W - 1 : W;
            for (int j = j0; j < j1; j++) yr[j] = xr[j + ox - 1];
            if (ox == 0) yr[0] = xr[1];
            if (ox == 2) yr[W - 1] = xr[W - 2];
        }
    }
}

void gn_swing_backward(float *dx, const float *dy, int oy, int ox, int B, int C, int H, int W)
{
    GN_ASSERT(dx && dy && oy >= 0 && oy <= 2 && ox >= 0 && ox <= 2 && H >= 2 && W >= 2);
    const size_t HW = (size_t)H * W, planes = (size_t)B * C;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * HW;       // (H,W)
        const float *dyp = dy + pl * HW; // (H,W)
        for (int i = 0; i < H; i++) {
            float *dxr = dxp + (size_t)reflect1(i + oy - 1, H) * W;
            const float *dyr = dyp + (size_t)i * W;
            int j0 = ox == 0 ? 1 : 0, j1 = ox == 2 ? W - 1 : W;
            for (int j = j0; j < j1; j++) dxr[j + ox - 1] += dyr[j];
            if (ox == 0) dxr[1] += dyr[0];
            if (ox == 2) dxr[W - 2] += dyr[W - 1];
        }
    }
}
