/* gn_blas.h - the one sgemm wrapper every matrix product goes through
 * (row-major CBLAS), and thread control for OpenBLAS. */
#ifndef GN_BLAS_H
#define GN_BLAS_H

/* C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C; row-major,
 * ta/tb non-zero transpose A/B. lda/ldb/ldc as in CBLAS row-major. */
void gn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* Sets the threads OpenBLAS may use (n >= 1). */
void gn_set_threads(int n);
int gn_get_threads(void);
#endif
