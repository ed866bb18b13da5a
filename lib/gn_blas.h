/* gn_blas.h - the one sgemm wrapper every matrix product goes through
 * (row-major CBLAS), its plain reference twin, and thread control for
 * OpenBLAS (blas.c).
 *
 * The rest of the OpenBLAS family, one header each: CPU features
 * (gn_cpu.h), the ISA levels of OpenBLAS's kernels and which to run
 * (gn_blas_pick.h), the sgemm self-test (gn_blas_selftest.h), and the
 * start-up check that may re-execute the program (gn_blas_init.h; see
 * genie-blas(7)).
 *
 * What it deliberately does not do: tune OpenBLAS's block sizes or
 * threads. */
#ifndef GN_BLAS_H
#define GN_BLAS_H

#include <stddef.h>

/* C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C; row-major,
 * ta/tb non-zero transpose A/B. lda/ldb/ldc as in CBLAS row-major. C is not
 * read when beta == 0. */
void gn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* The reference twin of gn_sgemm: same arguments and contract, plain loops
 * with a double accumulator. Slow; used by tests, by the start-up
 * self-test, and by gn_sgemm when no OpenBLAS kernel passed its self-test. */
void gn_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
/* Sets the threads OpenBLAS may use (n >= 1). */
void gn_set_threads(int n);
int gn_get_threads(void);
/* Makes gn_sgemm run gn_sgemm_ref (on != 0) or OpenBLAS (for tests, and
 * for gn_blas_init when no kernel passed its self-test). */
void gn_blas_set_reference(int on);
/* Whether gn_sgemm runs gn_sgemm_ref. */
int gn_blas_get_reference(void);

#endif
