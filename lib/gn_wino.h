/* gn_wino.h - Winograd F(2x2,3x3) for dense 3x3, stride-1, pad-1
 * convolutions (op_wino.c); used by op_conv.c, not a public operator.
 *
 * y = A^T [ (G g G^T) . (B^T d B) ] A on every 2x2 output tile (Lavin &
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2016): 16
 * multiplies per tile and channel pair instead of 36. The 16 products
 * (one per tile position xi) are (Ko x Ci) . (Ci x tiles) matrix products,
 * run by genie's own register-blocked kernels (AVX-512, AVX2+FMA, or plain
 * C, chosen by cpuid once), and the transforms by AVX-512 code or by plain
 * loops left to gcc's vectoriser. The backward pass to the input of such a
 * convolution is itself one (dy convolved with the flipped, transposed
 * weights, pad 1), so the same code serves both. Results differ from
 * im2col + sgemm in the last bits (the transforms add and halve); the unit
 * tests bound the difference. */
#ifndef GN_WINO_H
#define GN_WINO_H

#include <stddef.h>

/* Floats of U for Ko output and Ci input channels: 16*Ko*Ci. */
size_t gn_wino_u_floats(int Ko, int Ci);
/* U[xi][k][c] = (G g G^T)[xi] of the 3x3 kernel g that maps input channel c
 * to output channel k. w is a convolution's (Cout, Cin, 3, 3) weight.
 * flip = 0: the convolution itself (Ko = Cout, Ci = Cin). flip = 1: its
 * backward to the input (Ko = Cin, Ci = Cout; g = w[c][k] rotated 180). */
void gn_wino_weights(float *U, const float *w, int Cout, int Cin, int flip);
/* Samples per chunk, and floats of one thread's scratch for a chunk. */
int gn_wino_chunk(int Ko, int Ci, int H, int W);
size_t gn_wino_floats(int Ko, int Ci, int H, int W);
/* y (nb, Ko, H, W) = (acc ? y : 0) + conv3x3_pad1(x (nb, Ci, H, W), U) + bias
 * (bias may be NULL), for nb samples, in chunks of gn_wino_chunk(); ws has
 * gn_wino_floats() floats. */
void gn_wino_run(float *y, int acc, const float *x, const float *U, const float *bias, int Ko,
                 int Ci, int H, int W, int nb, float *ws);

/* The same with bf16 products (gn_blas_bf16.h; only when
 * gn_bf16_available(), Ci even): Ub is U after gn_wino_weights_bf16(U, Ko,
 * Ci), which rounds the 16*Ko*Ci weights to bf16 in place (U keeps its
 * size). The transforms stay fp32; V is rounded in the scratch. */
void gn_wino_weights_bf16(float *U, int Ko, int Ci);
void gn_wino_run_bf16(float *y, int acc, const float *x, const float *Ub, const float *bias,
                      int Ko, int Ci, int H, int W, int nb, float *ws);

/* Nearest upsample x2 followed by a 3x3/s1/p1 convolution, by the same
 * transforms with the 7 products the repeated pixels zero left out (9 per
 * tile of 2x2 outputs, one tile per input pixel; op_wino.c):
 * U has 9*Ko*Ci floats: gn_wino_up_weights(U, w, Cout, Cin, 0) for the
 * forward (Ko = Cout, Ci = Cin), (..., 1) for its adjoint (Ko = Cin, Ci =
 * Cout). gn_wino_up_run, adjoint 0: out (nb, Ko, 2H, 2W) (=|+=)
 * conv(upsample(in (nb, Ci, H, W))) + bias; adjoint 1: out (nb, Ko, H, W)
 * (=|+=) the gradient at the upsample's input from in (nb, Ci, 2H, 2W), the
 * gradient at the convolution's output (bias unused; out may be NULL when
 * dU is given). ws: gn_wino_up_floats. */
size_t gn_wino_up_u_floats(int Ko, int Ci);
void gn_wino_up_weights(float *U, const float *w, int Cout, int Cin, int transpose);
int gn_wino_up_chunk(int Ko, int Ci, int H, int W);
size_t gn_wino_up_floats(int Ko, int Ci, int H, int W);
void gn_wino_up_run(float *out, int acc, const float *in, const float *U, const float *bias,
                    int Ko, int Ci, int H, int W, int nb, int adjoint, float *dU, const float *x,
                    float *ws);
/* With adjoint 1 and dU non-NULL, gn_wino_up_run also adds to dU (9, Cout,
 * Cin) the gradient of the transformed weights, from x (nb, Cin, H, W), the
 * pair's forward input: 9 products per tile again. gn_wino_up_dw then adds
 * the 3x3 weights' gradient it implies to dw (Cout, Cin, 3, 3). */
void gn_wino_up_dw(float *dw, const float *dU, int Cout, int Cin);

/* Chooses the products' kernel: "c", "avx2" (with FMA) or "avx512", or
 * NULL for the best this CPU has (the default; the environment variable
 * GN_WINO_ISA names one too). -1 if the CPU lacks it. */
int gn_wino_set_isa(const char *isa);
/* Whether Winograd beats im2col + sgemm here: with the AVX-512 kernel and
 * transforms. With AVX2 only (generic transforms) it measured slower than
 * OpenBLAS's Haswell sgemm on ResNet-20 (537 against 583 images/s forward
 * and backward), so op_conv.c then keeps im2col, unless a kernel was asked
 * for by name. */
int gn_wino_pays(void);
/* gn_wino_pays() and the environment has no GN_NO_WINO=1 (read once) */
int gn_wino_enabled(void);

#endif
