/* op_conv.c - 2-D convolution, forward and backward (see gn_ops.h).
 *
 * Dense and grouped convolutions are lowered to im2col + gn_sgemm, and
 * backward to gn_sgemm + col2im (darknet's scheme). Samples go through in
 * chunks: the im2col matrices of `nb` samples sit side by side in one
 * (Cin/g*KH*KW, nb*OH*OW) matrix, so that on small feature maps (14x14, 7x7)
 * each sgemm is wide enough to keep every OpenBLAS thread busy, while the
 * chunk still stays cache-sized. A 1x1, stride-1, unpadded convolution whose
 * chunk is one sample skips im2col: the input plane already is the matrix.
 * Depthwise convolutions (one input channel per group, any channel
 * multiplier) have their own direct kernel, because one sgemm per 1-channel
 * group would be nothing but call overhead.
 *
 * What it deliberately does not do: dilation, Winograd/FFT, threads of its
 * own (parallelism is OpenBLAS's, inside gn_sgemm), or any allocation:
 * scratch comes from `ws`, sized by gn_conv2d_workspace(). */
#include "gn_blas.h"
#include "gn_err.h"
#include "gn_ops.h"

#include <string.h>

/* Target columns (nb*OH*OW) of one im2col chunk. Measured on ResNet-20 /
 * 28x28 with 2 OpenBLAS threads: below ~2000 columns the sgemms do not
 * split well over threads; far above, the chunk falls out of L2. */
#define CONV_COLS 3200

static int conv_out(int in, int pa, int pb, int k, int stride)
{
    int span = in + pa + pb - k;
    return span < 0 ? 0 : span / stride + 1;
}

int gn_conv_shape_init(gn_conv_shape *s)
{
    if (s->B < 1 || s->Cin < 1 || s->H < 1 || s->W < 1 || s->Cout < 1 || s->KH < 1 ||
        s->KW < 1 || s->SH < 1 || s->SW < 1 || s->PT < 0 || s->PL < 0 || s->PB < 0 ||
        s->PR < 0 || s->groups < 1)
        return -1;
    if (s->Cin % s->groups || s->Cout % s->groups) return -1;
    s->OH = conv_out(s->H, s->PT, s->PB, s->KH, s->SH);
    s->OW = conv_out(s->W, s->PL, s->PR, s->KW, s->SW);
    if (s->OH < 1 || s->OW < 1) return -1;
    /* every sgemm dimension (at most Kg and nb*OH*OW) must fit an int */
    if ((size_t)s->Cin / s->groups * s->KH * s->KW > 0x7fffffff ||
        (size_t)s->OH * s->OW > 0x7fffffff / 2)
        return -1;
    return 0;
}

/* The shape is the one gn_conv_shape_init() accepted. */
static void check_shape(const gn_conv_shape *s)
{
    GN_ASSERT(s->B >= 1 && s->groups >= 1 && s->Cin % s->groups == 0 &&
              s->Cout % s->groups == 0);
    GN_ASSERT(s->OH == conv_out(s->H, s->PT, s->PB, s->KH, s->SH) && s->OH >= 1);
    GN_ASSERT(s->OW == conv_out(s->W, s->PL, s->PR, s->KW, s->SW) && s->OW >= 1);
}

static int is_depthwise(const gn_conv_shape *s) { return s->groups == s->Cin && s->groups > 1; }

static int is_pointwise(const gn_conv_shape *s)
{
    return s->KH == 1 && s->KW == 1 && s->SH == 1 && s->SW == 1 && s->PT == 0 && s->PL == 0 &&
           s->PB == 0 && s->PR == 0;
}

/* Samples per im2col chunk. */
static int chunk_samples(const gn_conv_shape *s)
{
    size_t P = (size_t)s->OH * s->OW;
    size_t nb = (CONV_COLS + P - 1) / P;
    if (nb > (size_t)s->B) nb = (size_t)s->B;
    if (nb * P > 0x7fffffff) nb = 1; /* sgemm's N is an int */
    return (int)nb;
}

/* Floats of scratch:
 *   depthwise: 0 (direct kernel);
 *   otherwise, with Kg = Cin/g*KH*KW, Og = Cout/g, P = OH*OW and
 *   nb = min(B, ceil(CONV_COLS/P)) samples per chunk:
 *     nb == 1: Kg*P (one sample's im2col; 0 for a 1x1/s1/unpadded conv),
 *     nb > 1:  (Kg + Og)*nb*P (the chunk's im2col, and its output or output
 *              gradient in (Og, nb*P) order);
 *   so the bound is (Kg + Og) * max(P, CONV_COLS + P) floats. */
size_t gn_conv2d_workspace(const gn_conv_shape *s)
{
    check_shape(s);
    if (is_depthwise(s)) return 0;
    size_t P = (size_t)s->OH * s->OW;
    size_t Kg = (size_t)(s->Cin / s->groups) * s->KH * s->KW;
    size_t Og = (size_t)(s->Cout / s->groups);
    size_t nb = (size_t)chunk_samples(s);
    if (nb == 1) return is_pointwise(s) ? 0 : Kg * P;
    return (Kg + Og) * nb * P;
}

/* Output positions o in [*lo, *hi) whose input o*stride + k - pad is inside
 * [0, in); outside that range the input is padding. */
static void valid_range(int k, int pad, int stride, int in, int out, int *lo, int *hi)
{
    int a = pad - k, b = in + pad - k;
    int l = a > 0 ? (a + stride - 1) / stride : 0;
    int h = b > 0 ? (b + stride - 1) / stride : 0;
    if (h > out) h = out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* col (C*KH*KW rows, stride ldc) = im2col of x (C,H,W), first OH*OW columns;
 * row (c*KH+kh)*KW+kw, column oh*OW+ow holds x[c][oh*SH+kh-PT][ow*SW+kw-PL]
 * or 0 in the padding. */
static void im2col(float *col, size_t ldc, const float *x, int C, const gn_conv_shape *s)
{
    const int H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        const float *xc = x + c * HW; // (H,W)
        for (int kh = 0; kh < s->KH; kh++) {
            int ohl, ohh;
            valid_range(kh, s->PT, s->SH, H, OH, &ohl, &ohh);
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + ((size_t)(c * s->KH + kh) * s->KW + kw) * ldc; // (OH,OW)
                int owl, owh;
                valid_range(kw, s->PL, SW, W, OW, &owl, &owh);
                if (ohl > 0) memset(row, 0, sizeof(float) * ohl * OW);
                for (int oh = ohl; oh < ohh; oh++) {
                    float *d = row + (size_t)oh * OW;
                    const float *xr = xc + (size_t)(oh * s->SH + kh - s->PT) * W; // (W)
                    const int off = kw - s->PL;
                    for (int ow = 0; ow < owl; ow++) d[ow] = 0;
                    if (SW == 1) {
                        if (owh > owl)
                            memcpy(d + owl, xr + owl + off, sizeof(float) * (owh - owl));
                    } else {
                        for (int ow = owl; ow < owh; ow++) d[ow] = xr[ow * SW + off];
                    }
                    for (int ow = owh; ow < OW; ow++) d[ow] = 0;
                }
                if (ohh < OH) memset(row + (size_t)ohh * OW, 0, sizeof(float) * (OH - ohh) * OW);
            }
        }
    }
}

/* dx (C,H,W) += col2im(col): the adjoint of im2col (padding cells dropped). */
static void col2im(float *dx, const float *col, size_t ldc, int C, const gn_conv_shape *s)
{
    const int H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)H * W;
    for (int c = 0; c < C; c++) {
        float *dxc = dx + c * HW; // (H,W)
        for (int kh = 0; kh < s->KH; kh++) {
            int ohl, ohh;
            valid_range(kh, s->PT, s->SH, H, OH, &ohl, &ohh);
            for (int kw = 0; kw < s->KW; kw++) {
                const float *row = col + ((size_t)(c * s->KH + kh) * s->KW + kw) * ldc; // (OH,OW)
                int owl, owh;
                valid_range(kw, s->PL, SW, W, OW, &owl, &owh);
                const int off = kw - s->PL;
                for (int oh = ohl; oh < ohh; oh++) {
                    const float *d = row + (size_t)oh * OW;
                    float *xr = dxc + (size_t)(oh * s->SH + kh - s->PT) * W; // (W)
                    if (SW == 1) {
                        float *xo = xr + owl + off;
                        const float *dd = d + owl;
                        for (int i = 0; i < owh - owl; i++) xo[i] += dd[i];
                    } else {
                        for (int ow = owl; ow < owh; ow++) xr[ow * SW + off] += d[ow];
                    }
                }
            }
        }
    }
}

/* ---- depthwise: direct kernels ------------------------------------------ */

/* y (B,Cout,OH,OW); output channel co reads input channel co/m. */
static void dw_forward(float *y, const float *x, const float *w, const float *bias,
                       const gn_conv_shape *s)
{
    const int m = s->Cout / s->Cin, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    for (int b = 0; b < s->B; b++) {
        for (int co = 0; co < s->Cout; co++) {
            const float *xp = x + ((size_t)b * s->Cin + co / m) * HW; // (H,W)
            float *yp = y + ((size_t)b * s->Cout + co) * P;            // (OH,OW)
            const float *wp = w + (size_t)co * s->KH * s->KW;          // (KH,KW)
            const float b0 = bias ? bias[co] : 0.0f;
            for (size_t i = 0; i < P; i++) yp[i] = b0;
            for (int kh = 0; kh < s->KH; kh++) {
                int ohl, ohh;
                valid_range(kh, s->PT, s->SH, s->H, s->OH, &ohl, &ohh);
                for (int kw = 0; kw < s->KW; kw++) {
                    int owl, owh;
                    valid_range(kw, s->PL, SW, s->W, OW, &owl, &owh);
                    const float wv = wp[kh * s->KW + kw];
                    const int off = kw - s->PL;
                    for (int oh = ohl; oh < ohh; oh++) {
                        const float *xr = xp + (size_t)(oh * s->SH + kh - s->PT) * s->W;
                        float *yr = yp + (size_t)oh * OW;
                        if (SW == 1) {
                            const float *xo = xr + owl + off;
                            float *yo = yr + owl;
                            for (int i = 0; i < owh - owl; i++) yo[i] += wv * xo[i];
                        } else {
                            for (int ow = owl; ow < owh; ow++) yr[ow] += wv * xr[ow * SW + off];
                        }
                    }
                }
            }
        }
    }
}

static void dw_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        const gn_conv_shape *s)
{
    const int m = s->Cout / s->Cin, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    for (int b = 0; b < s->B; b++) {
        for (int co = 0; co < s->Cout; co++) {
            const size_t xo_ = ((size_t)b * s->Cin + co / m) * HW;
            const float *xp = x + xo_;                                  // (H,W)
            float *dxp = dx ? dx + xo_ : NULL;                          // (H,W)
            const float *dyp = dy + ((size_t)b * s->Cout + co) * P;     // (OH,OW)
            for (int kh = 0; kh < s->KH; kh++) {
                int ohl, ohh;
                valid_range(kh, s->PT, s->SH, s->H, s->OH, &ohl, &ohh);
                for (int kw = 0; kw < s->KW; kw++) {
                    int owl, owh;
                    valid_range(kw, s->PL, SW, s->W, OW, &owl, &owh);
                    const size_t wi = ((size_t)co * s->KH + kh) * s->KW + kw;
                    const float wv = w[wi];
                    const int off = kw - s->PL;
                    float acc = 0;
                    for (int oh = ohl; oh < ohh; oh++) {
                        const size_t r = (size_t)(oh * s->SH + kh - s->PT) * s->W;
                        const float *dyr = dyp + (size_t)oh * OW;
                        if (dxp) {
                            float *xr = dxp + r;
                            for (int ow = owl; ow < owh; ow++) xr[ow * SW + off] += wv * dyr[ow];
                        }
                        if (dw) {
                            const float *xr = xp + r;
                            for (int ow = owl; ow < owh; ow++) acc += dyr[ow] * xr[ow * SW + off];
                        }
                    }
                    if (dw) dw[wi] += acc;
                }
            }
        }
    }
}

/* ---- dense / grouped ----------------------------------------------------- */

void gn_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const gn_conv_shape *s, float *ws)
{
    GN_ASSERT(y && x && w);
    check_shape(s);
    if (is_depthwise(s)) {
        dw_forward(y, x, w, b, s);
        return;
    }
    const int G = s->groups, Cg = s->Cin / G, Og = s->Cout / G;
    const int Kg = Cg * s->KH * s->KW;
    const size_t P = (size_t)s->OH * s->OW, HW = (size_t)s->H * s->W;
    const int nb = chunk_samples(s), direct = is_pointwise(s);
    GN_ASSERT(ws || gn_conv2d_workspace(s) == 0);
    for (int b0 = 0; b0 < s->B; b0 += nb) {
        const int n = nb < s->B - b0 ? nb : s->B - b0;
        const int N = n * (int)P;
        for (int g = 0; g < G; g++) {
            const float *wg = w + (size_t)g * Og * Kg; // (Og,Kg)
            if (n == 1) {
                const float *xs = x + ((size_t)b0 * s->Cin + (size_t)g * Cg) * HW; // (Cg,H,W)
                float *ys = y + ((size_t)b0 * s->Cout + (size_t)g * Og) * P;      // (Og,P)
                const float *col = xs;                                              // (Kg,P)
                if (!direct) {
                    im2col(ws, P, xs, Cg, s);
                    col = ws;
                }
                gn_sgemm(0, 0, Og, N, Kg, 1.0f, wg, Kg, col, N, 0.0f, ys, N);
                if (b)
                    for (int o = 0; o < Og; o++) {
                        float *yr = ys + o * P;
                        const float bv = b[g * Og + o];
                        for (size_t i = 0; i < P; i++) yr[i] += bv;
                    }
                continue;
            }
            float *col = ws;                  // (Kg, n*P): sample j in columns j*P..
            float *out = ws + (size_t)Kg * N; // (Og, n*P)
            for (int j = 0; j < n; j++)
                im2col(col + j * P, N, x + ((size_t)(b0 + j) * s->Cin + (size_t)g * Cg) * HW, Cg,
                       s);
            gn_sgemm(0, 0, Og, N, Kg, 1.0f, wg, Kg, col, N, 0.0f, out, N);
            for (int j = 0; j < n; j++)
                for (int o = 0; o < Og; o++) {
                    const float *src = out + (size_t)o * N + j * P;
                    float *dst = y + ((size_t)(b0 + j) * s->Cout + (size_t)g * Og + o) * P;
                    const float bv = b ? b[g * Og + o] : 0.0f;
                    for (size_t i = 0; i < P; i++) dst[i] = src[i] + bv;
                }
        }
    }
}

void gn_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const gn_conv_shape *s, float *ws)
{
    GN_ASSERT(dy);
    check_shape(s);
    const size_t P = (size_t)s->OH * s->OW, HW = (size_t)s->H * s->W;
    if (db)
        for (int b = 0; b < s->B; b++)
            for (int o = 0; o < s->Cout; o++) {
                const float *d = dy + ((size_t)b * s->Cout + o) * P; // (OH,OW)
                float acc = 0;
                for (size_t i = 0; i < P; i++) acc += d[i];
                db[o] += acc;
            }
    if (!dx && !dw) return;
    GN_ASSERT(w && (x || !dw));
    if (is_depthwise(s)) {
        dw_backward(dx, dw, dy, x, w, s);
        return;
    }
    const int G = s->groups, Cg = s->Cin / G, Og = s->Cout / G;
    const int Kg = Cg * s->KH * s->KW;
    const int nb = chunk_samples(s), direct = is_pointwise(s);
    GN_ASSERT(ws || gn_conv2d_workspace(s) == 0);
    for (int b0 = 0; b0 < s->B; b0 += nb) {
        const int n = nb < s->B - b0 ? nb : s->B - b0;
        const int N = n * (int)P;
        for (int g = 0; g < G; g++) {
            const float *wg = w + (size_t)g * Og * Kg; // (Og,Kg)
            float *dwg = dw ? dw + (size_t)g * Og * Kg : NULL;
            if (n == 1) {
                const size_t xo = ((size_t)b0 * s->Cin + (size_t)g * Cg) * HW;
                const float *dys = dy + ((size_t)b0 * s->Cout + (size_t)g * Og) * P; // (Og,P)
                if (dw) {
                    const float *col = x + xo; // (Kg,P)
                    if (!direct) {
                        im2col(ws, P, x + xo, Cg, s);
                        col = ws;
                    }
                    // dW (Og,Kg) += dy (Og,P) . col^T (P,Kg)
                    gn_sgemm(0, 1, Og, Kg, N, 1.0f, dys, N, col, N, 1.0f, dwg, Kg);
                }
                if (dx) {
                    // dcol (Kg,P) = W^T (Kg,Og) . dy (Og,P); a 1x1 conv adds straight into dx
                    if (direct) {
                        gn_sgemm(1, 0, Kg, N, Og, 1.0f, wg, Kg, dys, N, 1.0f, dx + xo, N);
                    } else {
                        gn_sgemm(1, 0, Kg, N, Og, 1.0f, wg, Kg, dys, N, 0.0f, ws, N);
                        col2im(dx + xo, ws, P, Cg, s);
                    }
                }
                continue;
            }
            float *col = ws;                  // (Kg, n*P)
            float *dyc = ws + (size_t)Kg * N; // (Og, n*P)
            for (int j = 0; j < n; j++)
                for (int o = 0; o < Og; o++)
                    memcpy(dyc + (size_t)o * N + j * P,
                           dy + ((size_t)(b0 + j) * s->Cout + (size_t)g * Og + o) * P,
                           sizeof(float) * P);
            if (dw) {
                for (int j = 0; j < n; j++)
                    im2col(col + j * P, N, x + ((size_t)(b0 + j) * s->Cin + (size_t)g * Cg) * HW,
                           Cg, s);
                gn_sgemm(0, 1, Og, Kg, N, 1.0f, dyc, N, col, N, 1.0f, dwg, Kg);
            }
            if (dx) {
                gn_sgemm(1, 0, Kg, N, Og, 1.0f, wg, Kg, dyc, N, 0.0f, col, N);
                for (int j = 0; j < n; j++)
                    col2im(dx + ((size_t)(b0 + j) * s->Cin + (size_t)g * Cg) * HW, col + j * P, N,
                           Cg, s);
            }
        }
    }
}

/* ---- reference twins: plain loops, no workspace ------------------------- */

void gn_conv2d_forward_ref(float *y, const float *x, const float *w, const float *b,
                           const gn_conv_shape *s)
{
    check_shape(s);
    const int Cg = s->Cin / s->groups, Og = s->Cout / s->groups;
    for (int n = 0; n < s->B; n++)
        for (int co = 0; co < s->Cout; co++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    const int g = co / Og;
                    double acc = b ? b[co] : 0.0;
                    for (int c = 0; c < Cg; c++)
                        for (int kh = 0; kh < s->KH; kh++)
                            for (int kw = 0; kw < s->KW; kw++) {
                                int ih = oh * s->SH + kh - s->PT, iw = ow * s->SW + kw - s->PL;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                acc += (double)x[(((size_t)n * s->Cin + g * Cg + c) * s->H + ih) *
                                                     s->W + iw] *
                                       w[(((size_t)co * Cg + c) * s->KH + kh) * s->KW + kw];
                            }
                    y[(((size_t)n * s->Cout + co) * s->OH + oh) * s->OW + ow] = (float)acc;
                }
}

void gn_conv2d_backward_ref(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const gn_conv_shape *s)
{
    check_shape(s);
    const int Cg = s->Cin / s->groups, Og = s->Cout / s->groups;
    for (int n = 0; n < s->B; n++)
        for (int co = 0; co < s->Cout; co++)
            for (int oh = 0; oh < s->OH; oh++)
                for (int ow = 0; ow < s->OW; ow++) {
                    const int g = co / Og;
                    const float d = dy[(((size_t)n * s->Cout + co) * s->OH + oh) * s->OW + ow];
                    if (db) db[co] += d;
                    for (int c = 0; c < Cg; c++)
                        for (int kh = 0; kh < s->KH; kh++)
                            for (int kw = 0; kw < s->KW; kw++) {
                                int ih = oh * s->SH + kh - s->PT, iw = ow * s->SW + kw - s->PL;
                                if (ih < 0 || ih >= s->H || iw < 0 || iw >= s->W) continue;
                                size_t xi = (((size_t)n * s->Cin + g * Cg + c) * s->H + ih) * s->W +
                                            iw;
                                size_t wi = (((size_t)co * Cg + c) * s->KH + kh) * s->KW + kw;
                                if (dx) dx[xi] += w[wi] * d;
                                if (dw) dw[wi] += x[xi] * d;
                            }
                }
}
