/* blas.c - the sgemm wrapper and its reference twin, and OpenBLAS threads
 * (see gn_blas.h). Nothing else in genie calls CBLAS's products (the
 * self-test, blas_selftest.c, calls them to test the kernel itself).
 *
 * What it deliberately does not do: reach into OpenBLAS's internal tables
 * (blas_init.c chooses the kernel). */
#include "gn_blas.h"

#include <cblas.h>
#include <stddef.h>

static int use_ref; /* gn_sgemm runs gn_sgemm_ref */

void gn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (use_ref) {
        gn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* op(A)[i][k] and op(B)[k][j] of row-major storage */
#define OPA(i, k)                                                                                  \
    (ta ? A[(size_t)(k) * (size_t)lda + (size_t)(i)] : A[(size_t)(i) * (size_t)lda + (size_t)(k)])
#define OPB(k, j)                                                                                  \
    (tb ? B[(size_t)(j) * (size_t)ldb + (size_t)(k)] : B[(size_t)(k) * (size_t)ldb + (size_t)(j)])

void gn_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)OPA(i, k) * (double)OPB(k, j);
            float *c = &C[(size_t)i * (size_t)ldc + (size_t)j];
            /* beta == 0: C is not read (it may hold NaN), as in BLAS */
            *c = (float)((double)alpha * s + (beta != 0.0f ? (double)beta * (double)*c : 0.0));
        }
}

void gn_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int gn_get_threads(void) { return openblas_get_num_threads(); }
void gn_blas_set_reference(int on) { use_ref = on != 0; }
int gn_blas_get_reference(void) { return use_ref; }

