/* op_upsample.c - nearest-neighbour upsampling by 2 in H and W:
 * y[b][c][2h+i][2w+j] = x[b][c][h][w], i,j in {0,1}.
 *
 * What it deliberately does not do: other factors, bilinear modes or
 * ONNX's coordinate-transformation variants (nearest x2 has only one). */
#include "gn_upsample.h"
#include "gn_err.h"

void gn_upsample2_forward(float *y, const float *x, int B, int C, int H, int W)
{
    GN_ASSERT(y && x && B >= 1 && C >= 1 && H >= 1 && W >= 1);
    const size_t planes = (size_t)B * C, W2 = 2 * (size_t)W;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * H * W;  // (H,W)
        float *yp = y + pl * 4 * H * W;    // (2H,2W)
        for (int h = 0; h < H; h++) {
            float *r0 = yp + 2 * (size_t)h * W2, *r1 = r0 + W2;
            const float *xr = xp + (size_t)h * W;
            for (int w = 0; w < W; w++) r0[2 * w] = r0[2 * w + 1] = xr[w];
            for (size_t i = 0; i < W2; i++) r1[i] = r0[i];
        }
    }
}

static void up_backward(float *dx, const float *dy, int B, int C, int H, int W, int set)
{
    GN_ASSERT(dy && B >= 1 && C >= 1 && H >= 1 && W >= 1);
    const size_t planes = (size_t)B * C, W2 = 2 * (size_t)W;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * H * W;          // (H,W)
        const float *dyp = dy + pl * 4 * H * W; // (2H,2W)
        for (int h = 0; h < H; h++) {
            const float *r0 = dyp + 2 * (size_t)h * W2, *r1 = r0 + W2;
            float *xr = dxp + (size_t)h * W;
            if (set)
                for (int w = 0; w < W; w++)
                    xr[w] = 0.0f + ((r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]));
            else
                for (int w = 0; w < W; w++)
                    xr[w] += (r0[2 * w] + r0[2 * w + 1]) + (r1[2 * w] + r1[2 * w + 1]);
        }
    }
}

void gn_upsample2_backward(float *dx, const float *dy, int B, int C, int H, int W)
{
    if (!dx) return;
    up_backward(dx, dy, B, C, H, W, 0);
}

void gn_upsample2_backward_set(float *dx, const float *dy, int B, int C, int H, int W)
{
    GN_ASSERT(dx);
    up_backward(dx, dy, B, C, H, W, 1);
}
