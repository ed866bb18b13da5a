/* blas.c - the sgemm wrapper (see gn_blas.h). Nothing else in genie calls
 * CBLAS directly. */
#include "gn_blas.h"

#include <cblas.h>

void gn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gn_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int gn_get_threads(void) { return openblas_get_num_threads(); }
