/* op_conv.c - 2-D convolution, forward and backward (see gn_ops.h).
 *
 * Dense and grouped convolutions are lowered to im2col + gn_sgemm per sample
 * and group, and backward to gn_sgemm + col2im (darknet's scheme):
 *   y (Og,P) = W (Og,Kg) . col (Kg,P)
 *   dW^T (Kg,Og) += col (Kg,P) . dy^T (P,Og)   (faster than dW for small Og)
 *   dcol (Kg,P) = W^T (Kg,Og) . dy (Og,P), then dx += col2im(dcol)
 * with Kg = Cin/g*KH*KW and P = OH*OW. A 1x1, stride-1, unpadded convolution
 * skips im2col (the input plane already is the matrix, and dx comes straight
 * out of the sgemm). A same-size stride-1 convolution (3x3 pad 1 and the
 * like) orders the im2col rows by tap, so that im2col/col2im move whole
 * shifted planes (blk_layout); if it has at most SMALL_OUT output channels
 * it runs directly on the zero-padded input instead (small_out). Depthwise convolutions (one input channel per
 * group, any channel multiplier) have their own direct kernel: one sgemm per
 * 1-channel group would be nothing but call overhead.
 *
 * Threads: with B >= 2 and gn_get_threads() > 1 the batch is split into
 * contiguous sample ranges over the operators' thread pool (tpool.c: at most
 * CONV_MAX_THREADS, started on first use and kept), each with its own slice
 * of `ws` and single-threaded sgemm calls; OpenBLAS is set to one thread for
 * the duration and restored afterwards. Letting OpenBLAS split each small
 * sgemm instead was measured slower than one thread on ResNet-20 / 28x28
 * with 2 cores: the im2col buffer one core writes is the one the other
 * core's sgemm just read, so cache lines bounce, and im2col stays serial.
 * Each thread accumulates dw into its own slice; the slices are summed after
 * the join. One batch at a time uses the pool; a call from another thread
 * meanwhile runs serially. With B == 1 OpenBLAS threads as configured.
 * gn_ops_parallel() (ops.c) lends the pool to BatchNorm and the element-wise
 * operators. Every sgemm is one sample's: timing the sgemm shapes alone,
 * batching 8 samples' im2col into one wider product gained ~10% at 7x7 and
 * lost at 28x28, under 2% over ResNet-20, for a workspace 8 times larger.
 *
 * Dense 3x3/s1/p1 convolutions with >= 8 channels in and out run forward and
 * backward-to-the-input by Winograd F(2x2,3x3) instead (wino(), op_wino.c).
 *
 * With bf16 products (gn_products_set, the calling thread's choice; where
 * the CPU has them) the forward and backward-to-the-input sgemms run as
 * gn_bf16_gemm_pa instead (bf16_shape): the weights packed once per
 * call, each sample's col / x / dy packed by its thread in blocks into its
 * own scratch. Otherwise the calls, and so the bits, are the fp32 ones.
 *
 * What it deliberately does not do: dilation, FFT, or allocation
 * (scratch comes from `ws`, sized by gn_conv2d_workspace(); the pool's
 * threads are the one-off exception). */
#include "gn_conv.h"
#include "gn_blas.h"
#include "gn_blas_bf16.h"
#include "gn_err.h"
#include "gn_ops.h"
#include "gn_tpool.h"
#include "gn_wino.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Most threads one convolution uses; the workspace is sized for this many. */
#define CONV_MAX_THREADS GN_TPOOL_MAX

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
    /* sgemm dimensions (Kg, OH*OW, H*W) are ints */
    if ((size_t)s->Cin / s->groups * s->KH * s->KW > 0x7fffffff ||
        (size_t)s->OH * s->OW > 0x7fffffff || (size_t)s->H * s->W > 0x7fffffff)
        return -1;
    return 0;
}

/* The shape is one gn_conv_shape_init() accepted. */
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

static int max_threads(const gn_conv_shape *s)
{
    return s->B < CONV_MAX_THREADS ? s->B : CONV_MAX_THREADS;
}

/* Same-size stride-1 convolutions ("same" padding: 3x3/p1 and the like)
 * order their im2col rows (kh,kw,c) instead of (c,kh,kw): then the rows of
 * one tap (kh,kw) are the group's input planes shifted by one constant, and
 * im2col/col2im move whole (Cg,P) blocks at once. The weights are permuted
 * to match, once per call. */
static int blk_layout(const gn_conv_shape *s)
{
    return !is_depthwise(s) && !is_pointwise(s) && s->SH == 1 && s->SW == 1 && s->OH == s->H &&
           s->OW == s->W;
}

/* Dense same-size stride-1 convolutions with at most SMALL_OUT output
 * channels (a generator's last layer: 64 -> 1 channel, 3x3): im2col would
 * build a (Cin*KH*KW, P) matrix per sample for a product with M = Cout =
 * 1. They run directly instead, on the input zero-padded to
 * (Cin, H+KH-1, W+KW-1): in that layout every tap of every channel is one
 * contiguous multiply-add run over the output plane taken with the padded
 * width (the extra columns are discarded, or hold zeros in backward). */
#define SMALL_OUT 4

static int small_out(const gn_conv_shape *s)
{
    return s->groups == 1 && s->Cout <= SMALL_OUT && s->Cin > 1 && s->KH * s->KW > 1 &&
           blk_layout(s);
}

/* Floats of one thread's scratch for small_out(): the padded input and its
 * gradient (Cin, Hp, Wp) twice, and one padded-width plane per output
 * channel (Cout, H, Wp). */
static size_t small_floats(const gn_conv_shape *s)
{
    const size_t Hp = (size_t)s->H + s->KH - 1, Wp = (size_t)s->W + s->KW - 1;
    return 2 * (size_t)s->Cin * Hp * Wp + (size_t)s->Cout * s->H * Wp;
}

/* Dense 3x3, stride-1, pad-1 convolutions with at least 8 input and output
 * channels, both multiples of 4, run forward and backward-to-the-input by
 * Winograd F(2x2,3x3) (op_wino.c, gn_wino.h): 16 multiplies per 2x2 output
 * tile and channel pair instead of 36, where the CPU has AVX-512
 * (gn_wino_pays()). Their weight gradient stays im2col + sgemm.
 * GN_NO_WINO=1 (read once) turns this off. */
static int wino_shape(const gn_conv_shape *s)
{
    return s->groups == 1 && s->KH == 3 && s->KW == 3 && s->SH == 1 && s->SW == 1 && s->PT == 1 &&
           s->PL == 1 && s->PB == 1 && s->PR == 1 && s->Cin >= 8 && s->Cout >= 8 &&
           s->Cin % 4 == 0 && s->Cout % 4 == 0;
}

static int wino(const gn_conv_shape *s)
{
    return wino_shape(s) && gn_wino_enabled();
}

/* one thread's Winograd scratch (the same for forward and backward) */
static size_t wino_floats(const gn_conv_shape *s)
{
    return wino_shape(s) ? gn_wino_floats(s->Cout, s->Cin, s->H, s->W) : 0;
}

/* Floats of one thread's im2col buffer: Kg*P, or 0 where none is built. */
static size_t col_floats(const gn_conv_shape *s)
{
    if (small_out(s)) return small_floats(s);
    if (is_depthwise(s) || is_pointwise(s)) return 0;
    return (size_t)(s->Cin / s->groups) * s->KH * s->KW * s->OH * s->OW;
}

static size_t w_floats(const gn_conv_shape *s)
{
    return (size_t)s->Cout * (s->Cin / s->groups) * s->KH * s->KW;
}

/* Convolutions whose products are sgemm calls (not depthwise, not
 * small_out) run them in bf16 (gn_blas_bf16.h) when the calling thread
 * chose GN_PRODUCTS_BF16 and the CPU has it: forward and backward to the
 * input; the weight gradient stays fp32 (distillation's teacher has none).
 * The weights are packed once per call, every group's (forward: W (Og,Kg);
 * backward: W^T (Kg,Og)), and each thread packs its sample's right factor
 * (col or x (Kg,P); dy (Og,P)) a block at a time into its own scratch.
 * Workspace for these only where gn_bf16_cpu(). */
static int bf16_shape(const gn_conv_shape *s)
{
    return !small_out(s) && !is_depthwise(s) && gn_bf16_cpu();
}

/* packed weights of one group */
static size_t bf16_a_group(const gn_conv_shape *s)
{
    const int Og = s->Cout / s->groups, Kg = s->Cin / s->groups * s->KH * s->KW;
    const size_t f = gn_bf16_a_floats(Og, Kg), b = gn_bf16_a_floats(Kg, Og);
    return f > b ? f : b;
}

static size_t bf16_a_floats(const gn_conv_shape *s)
{
    return bf16_shape(s) ? (size_t)s->groups * bf16_a_group(s) : 0;
}

/* one thread's scratch for packing the right factor */
static size_t bf16_b_floats(const gn_conv_shape *s)
{
    if (!bf16_shape(s)) return 0;
    const int Og = s->Cout / s->groups, Kg = s->Cin / s->groups * s->KH * s->KW,
              P = s->OH * s->OW;
    const size_t f = gn_bf16_b_floats(Kg, P), b = gn_bf16_b_floats(Og, P);
    return f > b ? f : b;
}

/* With T = min(B, CONV_MAX_THREADS), Kg = Cin/g*KH*KW, P = OH*OW:
 *   Cout*Kg           the weights in (kh,kw,c) order (blk_layout only),
 *   16*Cout*Cin       the Winograd-transformed weights (wino_shape only),
 *   T * wino_floats   one Winograd scratch per thread (wino_shape only),
 *   T * Kg*P          one im2col buffer per thread (none for depthwise and
 *                     1x1/s1/unpadded convolutions),
 *   T * Cout*Kg       one dw accumulator per thread,
 *   about Cout*Kg + T * 64Ki  the bf16 packed weights and per-thread
 *                     scratch (where gn_bf16_cpu(); see bf16_shape; the
 *                     scratch 24*max(Kg,Og) floats when that is more);
 * never 0, and growing with B up to B = CONV_MAX_THREADS: size it with the
 * largest batch that will run. For ResNet-20 on 28x28 the largest is 3.7 MB
 * (16->16 at 28x28, B >= 8). */
size_t gn_conv2d_workspace(const gn_conv_shape *s)
{
    check_shape(s);
    size_t T = (size_t)max_threads(s);
    return (blk_layout(s) && !small_out(s) ? w_floats(s) : 0) + T * col_floats(s) +
           T * w_floats(s) + (wino_shape(s) ? gn_wino_u_floats(s->Cout, s->Cin) : 0) +
           T * wino_floats(s) + bf16_a_floats(s) + T * bf16_b_floats(s);
}

/* ---- im2col / col2im ------------------------------------------------------ */

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

/* d[i] += s[i], in blocks of 8 so that gcc -O2 vectorises it (its cheap
 * cost model leaves loops of unknown trip count scalar). */
static void add_to(float *restrict d, const float *restrict s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) d[i + k] += s[i + k];
    for (; i < n; i++) d[i] += s[i];
}

/* d[i] += a*s[i], blocked like add_to. */
static void axpy_to(float *restrict d, float a, const float *restrict s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) d[i + k] += a * s[i + k];
    for (; i < n; i++) d[i] += a * s[i];
}

/* A stride-1 "same width" row (SH = SW = 1, OW = W): cell p = oh*OW+ow of
 * every im2col row reads x[p + delta], so the rows [ohl,ohh) are one
 * contiguous run of the plane from the first valid cell to the last, except
 * for the owl + (OW-owh) cells per output row that wrap into the
 * neighbouring input row and must be padding instead. */
static int flat_rows(const gn_conv_shape *s)
{
    return s->SH == 1 && s->SW == 1 && s->OW == s->W;
}

/* col (C*KH*KW, OH*OW) = im2col of x (C,H,W): row (c*KH+kh)*KW+kw, column
 * oh*OW+ow holds x[c][oh*SH+kh-PT][ow*SW+kw-PL], or 0 in the padding. */
static void im2col(float *col, const float *x, int C, const gn_conv_shape *s)
{
    const int H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)H * W, P = (size_t)OH * OW;
    const int flat = flat_rows(s);
    for (int c = 0; c < C; c++) {
        const float *xc = x + c * HW; // (H,W)
        for (int kh = 0; kh < s->KH; kh++) {
            int ohl, ohh;
            valid_range(kh, s->PT, s->SH, H, OH, &ohl, &ohh);
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + ((size_t)(c * s->KH + kh) * s->KW + kw) * P; // (OH,OW)
                int owl, owh;
                valid_range(kw, s->PL, SW, W, OW, &owl, &owh);
                const int off = kw - s->PL;
                if (ohh <= ohl || owh <= owl) {
                    memset(row, 0, sizeof(float) * P);
                    continue;
                }
                if (ohl > 0) memset(row, 0, sizeof(float) * ohl * OW);
                if (flat) {
                    /* one run from (ohl,owl) to (ohh-1,owh-1), then re-pad the wrapped cells */
                    const size_t p0 = (size_t)ohl * OW + owl, p1 = (size_t)(ohh - 1) * OW + owh;
                    const float *src = xc + (size_t)(ohl + kh - s->PT) * W + owl + off;
                    memcpy(row + p0, src, sizeof(float) * (p1 - p0));
                    for (int oh = ohl; oh < ohh; oh++) {
                        float *d = row + (size_t)oh * OW; // (OW)
                        for (int ow = 0; ow < owl; ow++) d[ow] = 0;
                        for (int ow = owh; ow < OW; ow++) d[ow] = 0;
                    }
                } else {
                    for (int oh = ohl; oh < ohh; oh++) {
                        float *d = row + (size_t)oh * OW;                               // (OW)
                        const float *xr = xc + (size_t)(oh * s->SH + kh - s->PT) * W; // (W)
                        for (int ow = 0; ow < owl; ow++) d[ow] = 0;
                        if (SW == 1)
                            memcpy(d + owl, xr + owl + off, sizeof(float) * (owh - owl));
                        else
                            for (int ow = owl; ow < owh; ow++) d[ow] = xr[ow * SW + off];
                        for (int ow = owh; ow < OW; ow++) d[ow] = 0;
                    }
                }
                if (ohh < OH) memset(row + (size_t)ohh * OW, 0, sizeof(float) * (OH - ohh) * OW);
            }
        }
    }
}

/* dx (C,H,W) += col2im(col (C*KH*KW, OH*OW)): the adjoint of im2col. Clobbers
 * col's padding cells (flat_rows: it zeroes them, then adds whole runs). */
static void col2im(float *dx, float *col, int C, const gn_conv_shape *s)
{
    const int H = s->H, W = s->W, OH = s->OH, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)H * W, P = (size_t)OH * OW;
    const int flat = flat_rows(s);
    for (int c = 0; c < C; c++) {
        float *dxc = dx + c * HW; // (H,W)
        for (int kh = 0; kh < s->KH; kh++) {
            int ohl, ohh;
            valid_range(kh, s->PT, s->SH, H, OH, &ohl, &ohh);
            for (int kw = 0; kw < s->KW; kw++) {
                float *row = col + ((size_t)(c * s->KH + kh) * s->KW + kw) * P; // (OH,OW)
                int owl, owh;
                valid_range(kw, s->PL, SW, W, OW, &owl, &owh);
                const int off = kw - s->PL;
                if (ohh <= ohl || owh <= owl) continue;
                if (flat) {
                    const size_t p0 = (size_t)ohl * OW + owl, p1 = (size_t)(ohh - 1) * OW + owh;
                    for (int oh = ohl; oh < ohh; oh++) {
                        float *d = row + (size_t)oh * OW; // (OW)
                        for (int ow = 0; ow < owl; ow++) d[ow] = 0;
                        for (int ow = owh; ow < OW; ow++) d[ow] = 0;
                    }
                    add_to(dxc + (size_t)(ohl + kh - s->PT) * W + owl + off, row + p0, p1 - p0);
                    continue;
                }
                for (int oh = ohl; oh < ohh; oh++) {
                    const float *d = row + (size_t)oh * OW;                     // (OW)
                    float *xr = dxc + (size_t)(oh * s->SH + kh - s->PT) * W; // (W)
                    if (SW == 1)
                        add_to(xr + owl + off, d + owl, owh - owl);
                    else
                        for (int ow = owl; ow < owh; ow++) xr[ow * SW + off] += d[ow];
                }
            }
        }
    }
}

/* 0.0f read through a volatile: gcc cannot see it is zero, so the short
 * zeroing loops below stay inline stores instead of becoming one memset
 * call per 7..28-float row (measured 20-40% of im2col_blk). */
static const float zero_f = 0.0f;

/* Sets the padding cells of one tap's (C, OH*OW) block to 0: rows outside
 * [ohl,ohh) of every plane, and columns outside [owl,owh) of every row. The
 * planes' rows follow one another, so the columns are one sweep over C*OH
 * rows. */
static void blk_pad(float *blk, int C, const gn_conv_shape *s, int ohl, int ohh, int owl, int owh)
{
    const int OH = s->OH, OW = s->OW;
    const size_t P = (size_t)OH * OW;
    const float z = *(const volatile float *)&zero_f;
    if (ohl > 0 || ohh < OH)
        for (int c = 0; c < C; c++) {
            float *r = blk + c * P; // (OH,OW)
            for (size_t i = 0; i < (size_t)ohl * OW; i++) r[i] = z;
            for (size_t i = (size_t)ohh * OW; i < P; i++) r[i] = z;
        }
    if (owl > 0 || owh < OW) {
        const size_t rows = (size_t)C * OH;
        for (size_t r = 0; r < rows; r++) {
            float *d = blk + r * OW; // (OW)
            for (int ow = 0; ow < owl; ow++) d[ow] = z;
            for (int ow = owh; ow < OW; ow++) d[ow] = z;
        }
    }
}

/* blk_layout: col ((kh,kw,c), P) = im2col of x (C,H,W) with OH = H, OW = W.
 * Tap (kh,kw) reads x shifted by delta = (kh-PT)*W + kw-PL, so its (C,P)
 * block is one copy of x from the first valid cell of plane 0 to the last of
 * plane C-1; the cells that wrapped into a neighbouring row or plane are then
 * set back to padding. */
static void im2col_blk(float *col, const float *x, int C, const gn_conv_shape *s)
{
    const size_t P = (size_t)s->OH * s->OW;
    for (int kh = 0; kh < s->KH; kh++) {
        int ohl, ohh;
        valid_range(kh, s->PT, 1, s->H, s->OH, &ohl, &ohh);
        for (int kw = 0; kw < s->KW; kw++) {
            int owl, owh;
            valid_range(kw, s->PL, 1, s->W, s->OW, &owl, &owh);
            float *blk = col + (size_t)(kh * s->KW + kw) * C * P; // (C,P)
            if (ohh <= ohl || owh <= owl) {
                memset(blk, 0, sizeof(float) * C * P);
                continue;
            }
            const ptrdiff_t delta = (ptrdiff_t)(kh - s->PT) * s->W + (kw - s->PL);
            const size_t p0 = (size_t)ohl * s->OW + owl;
            const size_t p1 = (size_t)(C - 1) * P + (size_t)(ohh - 1) * s->OW + owh;
            memcpy(blk + p0, x + (ptrdiff_t)p0 + delta, sizeof(float) * (p1 - p0));
            blk_pad(blk, C, s, ohl, ohh, owl, owh);
        }
    }
}

/* dx (C,H,W) += the adjoint of im2col_blk. Zeroes col's padding cells, then
 * adds each tap's block in one run. */
static void col2im_blk(float *dx, float *col, int C, const gn_conv_shape *s)
{
    const size_t P = (size_t)s->OH * s->OW;
    for (int kh = 0; kh < s->KH; kh++) {
        int ohl, ohh;
        valid_range(kh, s->PT, 1, s->H, s->OH, &ohl, &ohh);
        for (int kw = 0; kw < s->KW; kw++) {
            int owl, owh;
            valid_range(kw, s->PL, 1, s->W, s->OW, &owl, &owh);
            if (ohh <= ohl || owh <= owl) continue;
            float *blk = col + (size_t)(kh * s->KW + kw) * C * P; // (C,P)
            const ptrdiff_t delta = (ptrdiff_t)(kh - s->PT) * s->W + (kw - s->PL);
            const size_t p0 = (size_t)ohl * s->OW + owl;
            const size_t p1 = (size_t)(C - 1) * P + (size_t)(ohh - 1) * s->OW + owh;
            blk_pad(blk, C, s, ohl, ohh, owl, owh);
            add_to(dx + (ptrdiff_t)p0 + delta, blk + p0, p1 - p0);
        }
    }
}

/* ---- depthwise: direct kernels on samples [b0,b1) ------------------------- */

/* y (B,Cout,OH,OW); output channel co reads input channel co/m. */
static void dw_forward(float *y, const float *x, const float *w, const float *bias,
                       const gn_conv_shape *s, int b0, int b1)
{
    const int m = s->Cout / s->Cin, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    for (int b = b0; b < b1; b++) {
        for (int co = 0; co < s->Cout; co++) {
            const float *xp = x + ((size_t)b * s->Cin + co / m) * HW; // (H,W)
            float *yp = y + ((size_t)b * s->Cout + co) * P;            // (OH,OW)
            const float *wp = w + (size_t)co * s->KH * s->KW;          // (KH,KW)
            const float bv = bias ? bias[co] : 0.0f;
            for (size_t i = 0; i < P; i++) yp[i] = bv;
            for (int kh = 0; kh < s->KH; kh++) {
                int ohl, ohh;
                valid_range(kh, s->PT, s->SH, s->H, s->OH, &ohl, &ohh);
                for (int kw = 0; kw < s->KW; kw++) {
                    int owl, owh;
                    valid_range(kw, s->PL, SW, s->W, OW, &owl, &owh);
                    const float wv = wp[kh * s->KW + kw];
                    const int off = kw - s->PL;
                    for (int oh = ohl; oh < ohh; oh++) {
                        const float *xr = xp + (size_t)(oh * s->SH + kh - s->PT) * s->W; // (W)
                        float *yr = yp + (size_t)oh * OW;                                 // (OW)
                        if (SW == 1) {
                            axpy_to(yr + owl, wv, xr + owl + off, owh - owl);
                        } else {
                            for (int ow = owl; ow < owh; ow++) yr[ow] += wv * xr[ow * SW + off];
                        }
                    }
                }
            }
        }
    }
}

/* dx (B,Cin,H,W) and dw (Cout,1,KH,KW) += ...; either may be NULL. */
static void dw_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        const gn_conv_shape *s, int b0, int b1)
{
    const int m = s->Cout / s->Cin, OW = s->OW, SW = s->SW;
    const size_t HW = (size_t)s->H * s->W, P = (size_t)s->OH * s->OW;
    for (int b = b0; b < b1; b++) {
        for (int co = 0; co < s->Cout; co++) {
            const size_t xoff = ((size_t)b * s->Cin + co / m) * HW;
            const float *dyp = dy + ((size_t)b * s->Cout + co) * P; // (OH,OW)
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
                        const size_t r = xoff + (size_t)(oh * s->SH + kh - s->PT) * s->W;
                        const float *dyr = dyp + (size_t)oh * OW; // (OW)
                        if (dx) {
                            float *xr = dx + r; // (W)
                            if (SW == 1)
                                axpy_to(xr + owl + off, wv, dyr + owl, owh - owl);
                            else
                                for (int ow = owl; ow < owh; ow++) xr[ow * SW + off] += wv * dyr[ow];
                        }
                        if (dw) {
                            const float *xr = x + r; // (W)
                            for (int ow = owl; ow < owh; ow++) acc += dyr[ow] * xr[ow * SW + off];
                        }
                    }
                    if (dw) dw[wi] += acc;
                }
            }
        }
    }
}

/* ---- few output channels: direct kernels on samples [b0,b1) ------------- */

/* sum a[i]*b[i] over n in 8 running sums, blocked for gcc's vectoriser */
static float dot_f(const float *restrict a, const float *restrict b, size_t n)
{
    float acc[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += a[i + k] * b[i + k];
    float r = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++) r += a[i] * b[i];
    return r;
}

/* The runs of the direct kernels: d += a*src, and both d += a*g and
 * return sum g*x over the same run (backward reads g once for dx and dw).
 * With AVX2 and FMA when cpuid has them (chosen per call), else the
 * blocked loops above; each is deterministic on a given machine. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static void so_axpy_avx2(float *d, float a, const float *x,
                                                              size_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(d + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(d + i)));
    for (; i < n; i++) d[i] = __builtin_fmaf(a, x[i], d[i]);
}

__attribute__((target("avx2,fma"))) static float so_both_avx2(float *d, float a, const float *g,
                                                               const float *x, size_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 g0 = _mm256_loadu_ps(g + i), g1 = _mm256_loadu_ps(g + i + 8);
        s0 = _mm256_fmadd_ps(g0, _mm256_loadu_ps(x + i), s0);
        s1 = _mm256_fmadd_ps(g1, _mm256_loadu_ps(x + i + 8), s1);
        if (d) {
            _mm256_storeu_ps(d + i, _mm256_fmadd_ps(va, g0, _mm256_loadu_ps(d + i)));
            _mm256_storeu_ps(d + i + 8, _mm256_fmadd_ps(va, g1, _mm256_loadu_ps(d + i + 8)));
        }
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(s0, s1));
    float r = ((t[0] + t[1]) + (t[2] + t[3])) + ((t[4] + t[5]) + (t[6] + t[7]));
    for (; i < n; i++) {
        r = __builtin_fmaf(g[i], x[i], r);
        if (d) d[i] = __builtin_fmaf(a, g[i], d[i]);
    }
    return r;
}
static int so_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
static int so_avx2(void) { return 0; }
#endif

static void so_axpy(int fast, float *d, float a, const float *x, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (fast) {
        so_axpy_avx2(d, a, x, n);
        return;
    }
#endif
    axpy_to(d, a, x, n);
}

/* d (may be NULL) += a*g; returns sum g*x */
static float so_both(int fast, float *d, float a, const float *g, const float *x, size_t n)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (fast) return so_both_avx2(d, a, g, x, n);
#endif
    if (d) axpy_to(d, a, g, n);
    return dot_f(g, x, n);
}

/* xp (C, Hp, Wp) = x (C, H, W) zero-padded by PT rows on top and PL columns
 * on the left */
static void pad_planes(float *xp, const float *x, int C, const gn_conv_shape *s)
{
    const size_t Hp = (size_t)s->H + s->KH - 1, Wp = (size_t)s->W + s->KW - 1;
    memset(xp, 0, sizeof(float) * C * Hp * Wp);
    for (int c = 0; c < C; c++)
        for (int h = 0; h < s->H; h++)
            memcpy(xp + ((size_t)c * Hp + h + s->PT) * Wp + s->PL,
                   x + ((size_t)c * s->H + h) * s->W, sizeof(float) * s->W);
}

/* Output cell (h,w) is q = h*Wp + w of the padded-width plane, and tap
 * (kh,kw) of channel c reads the padded input at q + kh*Wp + kw; the run
 * q < Q = (H-1)*Wp + W covers every output cell and reads nothing beyond
 * the padded plane. */
static void so_forward(float *y, const float *x, const float *w, const float *bias,
                       const gn_conv_shape *s, float *scr, int b0, int b1)
{
    const int C = s->Cin, KH = s->KH, KW = s->KW, taps = KH * KW;
    const size_t Hp = (size_t)s->H + KH - 1, Wp = (size_t)s->W + KW - 1;
    const size_t Q = (size_t)(s->H - 1) * Wp + s->W, P = (size_t)s->H * s->W;
    float *xp = scr, *yq = scr + 2 * (size_t)C * Hp * Wp; // (C,Hp,Wp), (H,Wp)
    const int fast = so_avx2();
    for (int b = b0; b < b1; b++) {
        pad_planes(xp, x + (size_t)b * C * s->H * s->W, C, s);
        for (int o = 0; o < s->Cout; o++) {
            memset(yq, 0, sizeof(float) * Q);
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < KH; kh++)
                    for (int kw = 0; kw < KW; kw++) {
                        const float wv = w[((size_t)o * C + c) * taps + kh * KW + kw];
                        so_axpy(fast, yq, wv, xp + ((size_t)c * Hp + kh) * Wp + kw, Q);
                    }
            float *yo = y + ((size_t)b * s->Cout + o) * P; // (H,W)
            const float bv = bias ? bias[o] : 0.0f;
            for (int h = 0; h < s->H; h++)
                for (int ww = 0; ww < s->W; ww++) yo[(size_t)h * s->W + ww] = yq[h * Wp + ww] + bv;
        }
    }
}

/* dx (B,Cin,H,W) and dw (Cout,Cin,KH,KW) += ...; either may be NULL. The
 * output gradient is spread to the padded width with zeros in the extra
 * columns, so that the runs add nothing there. */
static void so_backward(float *dx, float *dw, const float *dy, const float *x, const float *w,
                        const gn_conv_shape *s, float *scr, int b0, int b1)
{
    const int C = s->Cin, KH = s->KH, KW = s->KW, taps = KH * KW;
    const size_t Hp = (size_t)s->H + KH - 1, Wp = (size_t)s->W + KW - 1;
    const size_t Q = (size_t)(s->H - 1) * Wp + s->W, P = (size_t)s->H * s->W;
    const size_t HWp = Hp * Wp;
    float *xp = scr, *dxp = scr + (size_t)C * HWp, *dq = dxp + (size_t)C * HWp; // (C,Hp,Wp) x2, (H,Wp)
    const int fast = so_avx2();
    for (int b = b0; b < b1; b++) {
        if (dw) pad_planes(xp, x + (size_t)b * C * s->H * s->W, C, s);
        if (dx) memset(dxp, 0, sizeof(float) * C * HWp);
        for (int o = 0; o < s->Cout; o++) {
            const float *dyo = dy + ((size_t)b * s->Cout + o) * P; // (H,W)
            memset(dq, 0, sizeof(float) * Q);
            for (int h = 0; h < s->H; h++) memcpy(dq + h * Wp, dyo + (size_t)h * s->W, sizeof(float) * s->W);
            for (int c = 0; c < C; c++)
                for (int kh = 0; kh < KH; kh++)
                    for (int kw = 0; kw < KW; kw++) {
                        const size_t wi = ((size_t)o * C + c) * taps + kh * KW + kw;
                        const size_t off = ((size_t)c * Hp + kh) * Wp + kw;
                        if (dw)
                            dw[wi] += so_both(fast, dx ? dxp + off : NULL, w[wi], dq, xp + off, Q);
                        else
                            so_axpy(fast, dxp + off, w[wi], dq, Q);
                    }
        }
        if (dx)
            for (int c = 0; c < C; c++)
                for (int h = 0; h < s->H; h++)
                    add_to(dx + (((size_t)b * C + c) * s->H + h) * s->W,
                           dxp + ((size_t)c * Hp + h + s->PT) * Wp + s->PL, s->W);
    }
}

/* ---- dense / grouped: one thread's share ---------------------------------- */

typedef struct {
    const gn_conv_shape *s;
    float *y;           /* forward output, or NULL for a backward run */
    float *dx, *dw;     /* backward outputs (either may be NULL) */
    const float *dy, *x, *w, *b;
    const float *wk;    /* the weights in im2col row order (w itself unless blk_layout) */
    float *col, *acc;   /* per-thread im2col buffers and dw accumulators, in ws */
    const float *U;     /* Winograd weights (wino() only: forward, or backward to dx) */
    int set;            /* backward: dx = the gradient (first writer), not += */
    int bf16;           /* U holds bf16 weights: Winograd runs bf16 products */
    float *wg;          /* per-thread Winograd scratch, in ws */
    int bf16g;          /* the forward / dx sgemms run in bf16 (bf16_shape) */
    const float *Ap;    /* bf16g: the packed weights, bf16_a_group(s) floats a group */
    float *bp;          /* bf16g: per-thread packed right factors, in ws */
} conv_job;

/* Thread t of T: samples [B*t/T, B*(t+1)/T), its own im2col buffer, and its
 * own dw accumulator, zeroed here: for each group the transposed (Kg, Og),
 * whose sgemm runs faster than (Og, Kg) for the narrow Og of small
 * networks; depthwise keeps dw's own (Cout,KH,KW) order. */
static void conv_part(void *ctx, int t, int T)
{
    const conv_job *j = ctx;
    const gn_conv_shape *s = j->s;
    const int b0 = (int)((long)s->B * t / T), b1 = (int)((long)s->B * (t + 1) / T);
    float *col = j->col + (size_t)t * col_floats(s); // (Kg,P)
    float *acc = NULL;
    if (j->dw) {
        acc = j->acc + (size_t)t * w_floats(s);
        memset(acc, 0, sizeof(float) * w_floats(s));
    }
    if (small_out(s)) {
        if (j->y)
            so_forward(j->y, j->x, j->w, j->b, s, col, b0, b1);
        else
            so_backward(j->dx, acc, j->dy, j->x, j->w, s, col, b0, b1);
        return;
    }
    if (is_depthwise(s)) {
        if (j->y)
            dw_forward(j->y, j->x, j->w, j->b, s, b0, b1);
        else
            dw_backward(j->dx, acc, j->dy, j->x, j->w, s, b0, b1);
        return;
    }
    const int G = s->groups, Cg = s->Cin / G, Og = s->Cout / G;
    const int Kg = Cg * s->KH * s->KW, P = s->OH * s->OW, HW = s->H * s->W;
    const int direct = is_pointwise(s), blk = blk_layout(s);
    const int use_wg = wino(s);
    float *bp = j->bf16g ? j->bp + (size_t)t * bf16_b_floats(s) : NULL;
    const size_t as = j->bf16g ? bf16_a_group(s) : 0;
    if (use_wg && j->y) {
        (j->bf16 ? gn_wino_run_bf16 : gn_wino_run)(
            j->y + (size_t)b0 * s->Cout * P, 0, j->x + (size_t)b0 * s->Cin * HW, j->U, j->b,
            s->Cout, s->Cin, s->H, s->W, b1 - b0, j->wg + t * wino_floats(s));
        return;
    }
    for (int b = b0; b < b1; b++) {
        for (int g = 0; g < G; g++) {
            const float *wg = j->wk + (size_t)g * Og * Kg;                // (Og,Kg)
            const size_t xo = ((size_t)b * s->Cin + (size_t)g * Cg) * HW; // (Cg,H,W)
            const size_t yo = ((size_t)b * s->Cout + (size_t)g * Og) * P; // (Og,P)
            const float *xcol = direct ? j->x + xo : col;                 // (Kg,P)
            if (j->y || acc) {
                if (blk)
                    im2col_blk(col, j->x + xo, Cg, s);
                else if (!direct)
                    im2col(col, j->x + xo, Cg, s);
            }
            if (j->y) {
                // y (Og,P) = W (Og,Kg) . col (Kg,P)
                if (bp) {
                    gn_bf16_gemm_pa(Og, P, Kg, j->Ap + g * as, xcol, P, 0, j->y + yo, P, bp);
                } else {
                    gn_sgemm(0, 0, Og, P, Kg, 1.0f, wg, Kg, xcol, P, 0.0f, j->y + yo, P);
                }
                if (j->b)
                    for (int o = 0; o < Og; o++) {
                        float *yr = j->y + yo + (size_t)o * P;
                        const float bv = j->b[g * Og + o];
                        for (int i = 0; i < P; i++) yr[i] += bv;
                    }
                continue;
            }
            if (acc)
                // dW^T (Kg,Og) += col (Kg,P) . dy^T (P,Og)
                gn_sgemm(0, 1, Kg, Og, P, 1.0f, xcol, P, j->dy + yo, P, 1.0f,
                         acc + (size_t)g * Kg * Og, Og);
            if (j->dx && !use_wg) {
                // dcol (Kg,P) = W^T (Kg,Og) . dy (Og,P); a 1x1 conv's dcol is dx itself
                if (direct) {
                    if (bp)
                        gn_bf16_gemm_pa(Kg, P, Og, j->Ap + g * as, j->dy + yo, P, 1, j->dx + xo,
                                        P, bp);
                    else
                        gn_sgemm(1, 0, Kg, P, Og, 1.0f, wg, Kg, j->dy + yo, P, 1.0f, j->dx + xo,
                                 P);
                    continue;
                }
                if (bp)
                    gn_bf16_gemm_pa(Kg, P, Og, j->Ap + g * as, j->dy + yo, P, 0, col, P, bp);
                else
                    gn_sgemm(1, 0, Kg, P, Og, 1.0f, wg, Kg, j->dy + yo, P, 0.0f, col, P);
                if (blk)
                    col2im_blk(j->dx + xo, col, Cg, s);
                else
                    col2im(j->dx + xo, col, Cg, s);
            }
        }
    }
    if (use_wg && j->dx)
        (j->bf16 ? gn_wino_run_bf16 : gn_wino_run)(
            j->dx + (size_t)b0 * s->Cin * HW, !j->set, j->dy + (size_t)b0 * s->Cout * P, j->U,
            NULL, s->Cin, s->Cout, s->H, s->W, b1 - b0, j->wg + t * wino_floats(s));
}

/* Runs conv_part over the batch on up to gn_get_threads() threads, then adds
 * the per-thread dw accumulators into dw. */
static void conv_run(conv_job *j, float *ws)
{
    const gn_conv_shape *s = j->s;
    const int G = s->groups, Cg = s->Cin / G, Og = s->Cout / G;
    const int Kg = Cg * s->KH * s->KW, blk = blk_layout(s) && !small_out(s);
    const size_t nw = w_floats(s);
    j->wk = j->w;
    const int taps = s->KH * s->KW;
    if (blk) {
        float *wk = ws; // (G*Og,Kg) rows in (kh,kw,c) order: wk[o][tap*Cg+c] = w[o][c*taps+tap]
        for (size_t o = 0; o < (size_t)s->Cout; o++) {
            const float *wr = j->w + o * Kg;
            float *d = wk + o * Kg;
            for (int tap = 0; tap < taps; tap++)
                for (int c = 0; c < Cg; c++) d[tap * Cg + c] = wr[c * taps + tap];
        }
        j->wk = wk;
        ws += nw;
    }
    if (wino(s) && (j->y || j->dx)) {
        float *U = ws; // (16, Cout, Cin) forward, (16, Cin, Cout) backward
        gn_wino_weights(U, j->w, s->Cout, s->Cin, !j->y);
        /* bf16 products (gn_products_set): U rounded in place, once per
         * call; V is rounded per chunk in the products' scratch */
        j->bf16 = gn_products_bf16();
        if (j->bf16) gn_wino_weights_bf16(U, j->y ? s->Cout : s->Cin, j->y ? s->Cin : s->Cout);
        j->U = U;
    }
    if (wino_shape(s)) ws += gn_wino_u_floats(s->Cout, s->Cin);
    j->col = ws;
    j->acc = ws + (size_t)max_threads(s) * col_floats(s);
    j->wg = j->acc + (size_t)max_threads(s) * nw;
    j->bf16g = bf16_shape(s) && !wino(s) && (j->y || j->dx) && gn_products_bf16();
    if (j->bf16g) {
        float *Ap = j->wg + (size_t)max_threads(s) * wino_floats(s);
        const size_t as = bf16_a_group(s);
        for (int g = 0; g < G; g++) {
            const float *wg = j->wk + (size_t)g * Og * Kg; // (Og,Kg)
            if (j->y)
                gn_bf16_pack_a(Ap + g * as, 0, Og, Kg, wg, Kg);
            else
                gn_bf16_pack_a(Ap + g * as, 1, Kg, Og, wg, Kg);
        }
        j->Ap = Ap;
        j->bp = Ap + bf16_a_floats(s);
    }
    int T = gn_get_threads();
    if (T > max_threads(s)) T = max_threads(s);
    T = gn_ops_run(conv_part, j, T);
    if (!j->dw) return;
    for (int t = 0; t < T; t++) {
        const float *a = j->acc + (size_t)t * nw;
        if (is_depthwise(s) || small_out(s)) {
            for (size_t i = 0; i < nw; i++) j->dw[i] += a[i];
            continue;
        }
        /* dw (Og,Kg) += the transposed accumulator (Kg,Og), whose rows are
         * in (kh,kw,c) order under blk_layout: row tap*Cg+c is column c*taps+tap */
        for (int g = 0; g < G; g++)
            for (int o = 0; o < Og; o++) {
                float *d = j->dw + ((size_t)g * Og + o) * Kg; // (Kg)
                const float *ag = a + (size_t)g * Kg * Og + o;  // column o of (Kg,Og)
                if (blk) {
                    for (int c = 0; c < Cg; c++)
                        for (int tap = 0; tap < taps; tap++)
                            d[c * taps + tap] += ag[(size_t)(tap * Cg + c) * Og];
                } else {
                    for (int kk = 0; kk < Kg; kk++) d[kk] += ag[(size_t)kk * Og];
                }
            }
    }
}

void gn_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                       const gn_conv_shape *s, float *ws)
{
    GN_ASSERT(y && x && w);
    check_shape(s);
    GN_ASSERT(ws);
    conv_job j = {.s = s, .y = y, .x = x, .w = w, .b = b};
    conv_run(&j, ws);
}

static void conv_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                          const float *w, const gn_conv_shape *s, float *ws, int set)
{
    GN_ASSERT(dy);
    check_shape(s);
    const size_t P = (size_t)s->OH * s->OW;
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
    GN_ASSERT(ws);
    conv_job j = {.s = s, .dx = dx, .dw = dw, .dy = dy, .x = x, .w = w, .set = set};
    conv_run(&j, ws);
}

void gn_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const gn_conv_shape *s, float *ws)
{
    conv_backward(dx, dw, db, dy, x, w, s, ws, 0);
}

void gn_conv2d_backward_set(float *dx, float *dw, float *db, const float *dy, const float *x,
                            const float *w, const gn_conv_shape *s, float *ws)
{
    GN_ASSERT(dx);
    check_shape(s);
    /* Winograd writes dx whole (never a -0: its sums start from +0, so the
     * bits are those of adding into zeros); the other kernels add, into
     * zeros */
    if (!wino(s)) memset(dx, 0, sizeof(float) * (size_t)s->B * s->Cin * s->H * s->W);
    conv_backward(dx, dw, db, dy, x, w, s, ws, wino(s));
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
