/* op_pool.c - max and average pooling over (KH,KW) windows with stride and
 * asymmetric zero padding, and global average pooling.
 *
 * Max pooling caches, per output, the flat index h*W+w of the winning cell
 * in its input plane; padding cells never win (ties go to the first cell in
 * row-major order). Average pooling divides by KH*KW when
 * count_include_pad is set, else by the number of real cells in the window.
 * With ceil_mode the output size is rounded up as PyTorch does (the last
 * window must start inside the input or its top/left padding); a window
 * running past the input's end is clipped to its real cells.
 * What it deliberately does not do: dilation, ceil_mode for average pooling
 * (its divisor rules differ), or windows made only of padding
 * (gn_pool_shape_init refuses a pad as large as the kernel). */
#include "gn_pool.h"
#include "gn_err.h"


/* outputs along one axis: span = in + pads - kernel >= 0 */
static int out_size(int span, int stride, int in, int pad0, int ceil_mode)
{
    if (!ceil_mode) return span / stride + 1;
    int o = (span + stride - 1) / stride + 1;
    if ((o - 1) * stride >= in + pad0) o--; /* the last window would start in the end pad */
    return o;
}

int gn_pool_shape_init(gn_pool_shape *s)
{
    if (s->B < 1 || s->C < 1 || s->H < 1 || s->W < 1 || s->KH < 1 || s->KW < 1 || s->SH < 1 ||
        s->SW < 1 || s->PT < 0 || s->PL < 0 || s->PB < 0 || s->PR < 0)
        return -1;
    /* a pad smaller than the kernel keeps a real cell in every window */
    if (s->PT >= s->KH || s->PB >= s->KH || s->PL >= s->KW || s->PR >= s->KW) return -1;
    int sh = s->H + s->PT + s->PB - s->KH, sw = s->W + s->PL + s->PR - s->KW;
    if (sh < 0 || sw < 0) return -1;
    s->OH = out_size(sh, s->SH, s->H, s->PT, s->ceil_mode);
    s->OW = out_size(sw, s->SW, s->W, s->PL, s->ceil_mode);
    return 0;
}

static void check_pool(const gn_pool_shape *s)
{
    GN_ASSERT(s->B >= 1 && s->C >= 1 && s->OH >= 1 && s->OW >= 1);
    GN_ASSERT(s->OH == out_size(s->H + s->PT + s->PB - s->KH, s->SH, s->H, s->PT, s->ceil_mode));
    GN_ASSERT(s->OW == out_size(s->W + s->PL + s->PR - s->KW, s->SW, s->W, s->PL, s->ceil_mode));
}

/* The window of output (oh,ow), clipped to the real cells: rows [h0,h1),
 * columns [w0,w1). Never empty for a shape gn_pool_shape_init accepted. */
static void window(const gn_pool_shape *s, int oh, int ow, int *h0, int *h1, int *w0, int *w1)
{
    int hs = oh * s->SH - s->PT, ws = ow * s->SW - s->PL;
    *h0 = hs < 0 ? 0 : hs;
    *h1 = hs + s->KH > s->H ? s->H : hs + s->KH;
    *w0 = ws < 0 ? 0 : ws;
    *w1 = ws + s->KW > s->W ? s->W : ws + s->KW;
}

void gn_maxpool_forward(float *y, int *argmax, const float *x, const gn_pool_shape *s)
{
    GN_ASSERT(y && argmax && x);
    check_pool(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    const size_t planes = (size_t)s->B * s->C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW; // (H,W)
        float *yp = y + pl * P;        // (OH,OW)
        int *ap = argmax + pl * P;     // (OH,OW)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                int h0, h1, w0, w1;
                window(s, oh, ow, &h0, &h1, &w0, &w1);
                int best = h0 * s->W + w0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++)
                        if (xp[h * s->W + w] > xp[best]) best = h * s->W + w;
                yp[oh * s->OW + ow] = xp[best];
                ap[oh * s->OW + ow] = best;
            }
    }
}

void gn_maxpool_backward(float *dx, const float *dy, const int *argmax, const gn_pool_shape *s)
{
    if (!dx) return;
    GN_ASSERT(dy && argmax);
    check_pool(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    const size_t planes = (size_t)s->B * s->C;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * HW; // (H,W)
        const float *dyp = dy + pl * P;
        const int *ap = argmax + pl * P;
        for (size_t i = 0; i < P; i++) {
            GN_ASSERT(ap[i] >= 0 && (size_t)ap[i] < HW);
            dxp[ap[i]] += dyp[i];
        }
    }
}

static float divisor(const gn_pool_shape *s, int h0, int h1, int w0, int w1)
{
    return s->count_include_pad ? (float)(s->KH * s->KW) : (float)((h1 - h0) * (w1 - w0));
}

void gn_avgpool_forward(float *y, const float *x, const gn_pool_shape *s)
{
    GN_ASSERT(y && x);
    check_pool(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    const size_t planes = (size_t)s->B * s->C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * HW; // (H,W)
        float *yp = y + pl * P;        // (OH,OW)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                int h0, h1, w0, w1;
                window(s, oh, ow, &h0, &h1, &w0, &w1);
                float acc = 0;
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) acc += xp[h * s->W + w];
                yp[oh * s->OW + ow] = acc / divisor(s, h0, h1, w0, w1);
            }
    }
}

void gn_avgpool_backward(float *dx, const float *dy, const gn_pool_shape *s)
{
    if (!dx) return;
    GN_ASSERT(dy);
    check_pool(s);
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    const size_t planes = (size_t)s->B * s->C;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * HW; // (H,W)
        const float *dyp = dy + pl * P;
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                int h0, h1, w0, w1;
                window(s, oh, ow, &h0, &h1, &w0, &w1);
                const float g = dyp[oh * s->OW + ow] / divisor(s, h0, h1, w0, w1);
                for (int h = h0; h < h1; h++)
                    for (int w = w0; w < w1; w++) dxp[h * s->W + w] += g;
            }
    }
}

void gn_gap_forward(float *y, const float *x, int B, int C, int HW)
{
    GN_ASSERT(y && x && B >= 1 && C >= 1 && HW >= 1);
    const size_t planes = (size_t)B * C;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *xp = x + pl * (size_t)HW; // (HW)
        float acc = 0;
        for (int i = 0; i < HW; i++) acc += xp[i];
        y[pl] = acc / (float)HW; // (B,C)
    }
}

void gn_gap_backward(float *dx, const float *dy, int B, int C, int HW)
{
    if (!dx) return;
    GN_ASSERT(dy && B >= 1 && C >= 1 && HW >= 1);
    const size_t planes = (size_t)B * C;
    for (size_t pl = 0; pl < planes; pl++) {
        float *dxp = dx + pl * (size_t)HW; // (HW)
        const float g = dy[pl] / (float)HW;
        for (int i = 0; i < HW; i++) dxp[i] += g;
    }
}
