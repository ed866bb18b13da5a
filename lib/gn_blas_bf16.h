/* gn_blas_bf16.h - bf16 products with fp32 accumulation (blas_bf16.c):
 * whether this CPU has them, the per-thread choice of products for the
 * convolutions, the packed kernel op_wino.c's 16 products run with it, and
 * the general packed product op_conv.c's im2col products run with it (the
 * same 4-row micro-kernel).
 *
 * bf16 keeps fp32's exponent and 8 bits of significand (7 stored): an
 * operand rounded to nearest even (vcvtne2ps2bf16) is within 2^-9 of
 * itself relative, a product of two within about 2^-8. vdpbf16ps
 * (_mm512_dpbf16_ps) multiplies 32 such pairs and adds them into 16 fp32
 * sums, twice the multiplies of an fp32 FMA per instruction. Inputs
 * below fp32's normal range count as zero (the instructions flush them).
 *
 * Deterministic: each output is one fixed sequence of operations on its
 * row of U and column of V, whatever the thread count or block.
 *
 * What it deliberately does not do: any product through OpenBLAS
 * (Debian's 0.3.21 has no cblas_sbgemm), threads of its own (the
 * convolutions split the batch), linear layers, depthwise convolutions, or
 * weight gradients (distillation's teacher has none). */
#ifndef GN_BLAS_BF16_H
#define GN_BLAS_BF16_H

#include <stddef.h>

/* The CPU and OS can run the kernels: avx512f, avx512bw, avx512_bf16 and
 * OS zmm state (cpuid, read once). */
int gn_bf16_cpu(void);
/* gn_bf16_cpu() and bf16 not switched off: by GN_NO_BF16=1 in the
 * environment (read once; as a CPU without the instruction) or by
 * gn_bf16_set_disabled(1) (tests). */
int gn_bf16_available(void);
void gn_bf16_set_disabled(int on);

/* Products of the calling thread's convolutions: GN_PRODUCTS_FP32 (the
 * default) or GN_PRODUCTS_BF16 (where gn_bf16_available(): Winograd's 16
 * products and the im2col convolutions' forward and backward-to-input
 * products in bf16; depthwise convolutions and weight gradients stay
 * fp32). Returns the previous choice. */
enum { GN_PRODUCTS_FP32 = 0, GN_PRODUCTS_BF16 = 1 };
int gn_products_set(int products);
/* Whether this thread's convolutions run bf16 products now: it chose
 * GN_PRODUCTS_BF16 and gn_bf16_available(). */
int gn_products_bf16(void);
/* "fp32" or "bf16"; -1 from gn_products_from_name for any other name. */
const char *gn_products_name(int products);
int gn_products_from_name(const char *s);

/* The packed operands, in place (call only when gn_bf16_available()):
 * gn_bf16_round_rows: each of `rows` rows of n floats (n even, rows
 * contiguous) becomes n bf16 at the start of its row (the row keeps its
 * stride of n floats; element pairs (2p, 2p+1) form word p).
 * gn_bf16_pair_rows: a (rows, ld) matrix whose first nc columns are used
 * (nc a multiple of 16) becomes ceil(rows/2) pair rows: pair row p, at
 * v + 2p*ld, holds word n = (v[2p][n], v[2p+1][n]) for n < nc (the second
 * half 0 when rows is odd). */
void gn_bf16_round_rows(float *a, size_t rows, size_t n);
void gn_bf16_pair_rows(float *v, int rows, size_t ld, size_t nc);
/* M (Ko, ld) = U (Ko, Ci) . V (Ci, ld) on the first nc columns, with U
 * packed by gn_bf16_round_rows(U, Ko, Ci) and V by gn_bf16_pair_rows(V, Ci,
 * ld, nc): Ko a multiple of 4, Ci even, nc a multiple of 48. Products in
 * bf16, sums in fp32 over pairs in order. */
void gn_bf16_gemm(float *M, const float *U, const float *V, int Ko, int Ci, size_t ld,
                  size_t nc);
/* The general product C (M, N) = op(A) (M, K) . B (K, N), op(A) = A or
 * A^T (ta), with bf16 products and fp32 sums: the convolutions' forward
 * (W . col) and backward to the input (W^T . dy). Any M, N, K >= 1 (K
 * odd too); B is never transposed. gn_bf16_pack_a: Ap
 * (gn_bf16_a_floats(M, K) floats) from A, (M, K) with row stride lda, or
 * (K, M) when ta, packed once for many products. gn_bf16_gemm_pa: C = the
 * product with B (K, N), row stride ldb, or C += it when add (the sum
 * rounded to fp32 once more); it packs B a block of columns at a time
 * into scratch (gn_bf16_b_floats(K, N) floats: 256 KiB at most, or 48
 * columns of ceil(K/2) pair rows where that is more).
 * Both round to nearest even as gn_bf16_round. Single-threaded; the
 * convolutions thread over samples. Each output's sum is one fixed
 * sequence (pairs of the inner dimension in order, from +0), whatever M,
 * N or where the output sits. Call only when gn_bf16_cpu(). */
size_t gn_bf16_a_floats(int M, int K);
size_t gn_bf16_b_floats(int K, int N);
void gn_bf16_pack_a(float *Ap, int ta, int M, int K, const float *A, int lda);
void gn_bf16_gemm_pa(int M, int N, int K, const float *Ap, const float *B, int ldb, int add,
                     float *C, int ldc, float *scratch);
/* A float's bf16 rounding (nearest even; NaN stays NaN; inputs below the
 * normal range become signed zero), as the kernels round: for tests. */
float gn_bf16_round(float x);

#endif
