/* blas_selftest.c - the sgemm self-test (see gn_blas_selftest.h): the
 * kernel OpenBLAS runs, called through CBLAS directly (never through
 * gn_sgemm, which may run the reference), against a double reference. */
#include "gn_blas_selftest.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gn_err.h"

/* op(A)[i][k] and op(B)[k][j] of row-major storage (as blas.c) */
#define OPA(i, k)                                                                                  \
    (ta ? A[(size_t)(k) * (size_t)lda + (size_t)(i)] : A[(size_t)(i) * (size_t)lda + (size_t)(k)])
#define OPB(k, j)                                                                                  \
    (tb ? B[(size_t)(j) * (size_t)ldb + (size_t)(k)] : B[(size_t)(k) * (size_t)ldb + (size_t)(j)])

/* A product shape: op(A) (M,K), op(B) (K,N), leading dimensions padded by
 * `pad`; `every` checks one entry in that many directly (1 = all), the
 * rest through weighted row and column sums. */
struct st_case {
    int ta, tb, M, N, K, pad;
    float alpha, beta;
    int nan_c, every;
};
enum { ST_MAX = 160 }; /* no dimension above this */
static const struct st_case st_cases[] = {
    /* below 100^3 multiply-adds: OpenBLAS's small-matrix kernels on
     * AVX-512, one per transpose pair; odd sizes hit the edge cases */
    {0, 0, 23, 19, 37, 0, 1.5f, 0.5f, 0, 1},
    {0, 1, 17, 29, 31, 3, 1.0f, 0.0f, 1, 1},
    {1, 0, 29, 21, 40, 0, -0.5f, 1.0f, 0, 1},
    {1, 1, 13, 11, 9, 2, 2.0f, 0.25f, 0, 1},
    /* above 100^3 (or, for TN, M*N > 1200): the blocked kernels, their
     * edge cases and pack routines, shaped like a convolution's forward
     * W.col (NN), weight gradient dY.col^T (NT) and column gradient
     * W^T.dY (TN) */
    {0, 0, 67, 131, 125, 0, 1.0f, 0.0f, 1, 29},
    {0, 1, 131, 67, 125, 0, 1.0f, 1.0f, 0, 29},
    {1, 0, 45, 53, 67, 0, 1.0f, 0.0f, 0, 7},
};

/* multiples of 1/8 in [-1/2, 1/2]: with K <= 160 every product and
 * partial sum (and every weighted row or column sum below) is exact, so a
 * correct kernel matches the reference exactly whatever order it adds in;
 * `nonzero` leaves 0 out (for weights) */
static void st_fill(float *v, size_t n, unsigned seed, int nonzero)
{
    uint32_t h = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        h = h * 1664525u + 1013904223u;
        int q = (int)((h >> 16) % 9u) - 4;
        v[i] = (float)(nonzero && !q ? 1 : q) * 0.125f;
    }
}

/* element counts of a case's A, B and C (with padding) */
static void st_sizes(const struct st_case *t, size_t *na, size_t *nb, size_t *nc)
{
    *na = (size_t)(t->ta ? t->K : t->M) * (size_t)((t->ta ? t->M : t->K) + t->pad);
    *nb = (size_t)(t->tb ? t->N : t->K) * (size_t)((t->tb ? t->K : t->N) + t->pad);
    *nc = (size_t)t->M * (size_t)(t->N + t->pad);
}

static double rel_err(double got, double ref, double mag)
{
    double e = fabs(got - ref) / (mag > 0 ? mag : 1.0);
    return isnan(e) ? INFINITY : e;
}

/* Runs one case in `buf` (room for A, B, C and a copy of C); returns the
 * worst relative error found. Entries not checked directly are checked
 * through C.x against A.(B.x) and y.C against (y.A).B with nonzero
 * weights x, y: in exact arithmetic one wrong entry always shows, and two
 * would have to cancel in both its row and its column. */
static double st_case_run(const struct st_case *t, int inject, float *buf)
{
    const int ta = t->ta, tb = t->tb, M = t->M, N = t->N, K = t->K;
    const int lda = (ta ? M : K) + t->pad, ldb = (tb ? K : N) + t->pad, ldc = N + t->pad;
    const double al = t->alpha, be = t->beta;
    GN_ASSERT(M <= ST_MAX && N <= ST_MAX && K <= ST_MAX);
    size_t na, nb, nc;
    st_sizes(t, &na, &nb, &nc);
    float *A = buf, *B = A + na, *C = B + nb, *C0 = C + nc;
    st_fill(A, na, (unsigned)(M * 7 + K), 0);
    st_fill(B, nb, (unsigned)(N * 13 + K), 0);
    st_fill(C0, nc, (unsigned)(M + N), 0);
    if (t->nan_c)
        for (size_t i = 0; i < nc; i++) C0[i] = NAN;
    memcpy(C, C0, nc * sizeof(float));
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, t->alpha, A, lda, B, ldb, t->beta, C, ldc);
    if (inject) C[0] += 1.0f;
#define CIJ(P, i, j) ((double)P[(size_t)(i) * (size_t)ldc + (size_t)(j)])
    double worst = 0;
    /* entries, directly */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            if (((size_t)i * (size_t)N + (size_t)j) % (size_t)t->every) continue;
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)OPA(i, k) * (double)OPB(k, j);
                s += p;
                mag += fabs(p);
            }
            double c0 = be != 0 ? be * CIJ(C0, i, j) : 0;
            worst = fmax(worst, rel_err(CIJ(C, i, j), al * s + c0, fabs(al) * mag + fabs(c0)));
        }
    if (t->every == 1) return worst;
    /* rows: C.x against alpha A.(B.x) + beta C0.x */
    float xf[ST_MAX], yf[ST_MAX];
    double bx[ST_MAX], bxa[ST_MAX], ya[ST_MAX], yaa[ST_MAX];
    st_fill(xf, (size_t)N, 7u, 1);
    st_fill(yf, (size_t)M, 11u, 1);
    for (int k = 0; k < K; k++) {
        bx[k] = bxa[k] = 0;
        for (int j = 0; j < N; j++) {
            bx[k] += (double)OPB(k, j) * xf[j];
            bxa[k] += fabs((double)OPB(k, j) * xf[j]);
        }
    }
    for (int i = 0; i < M; i++) {
        double got = 0, ref = 0, mag = 0;
        for (int j = 0; j < N; j++) {
            got += CIJ(C, i, j) * xf[j];
            if (be != 0) ref += be * CIJ(C0, i, j) * xf[j], mag += fabs(be * CIJ(C0, i, j) * xf[j]);
        }
        for (int k = 0; k < K; k++) {
            ref += al * (double)OPA(i, k) * bx[k];
            mag += fabs(al * (double)OPA(i, k)) * bxa[k];
        }
        worst = fmax(worst, rel_err(got, ref, mag));
    }
    /* columns: y.C against alpha (y.A).B + beta y.C0 */
    for (int k = 0; k < K; k++) {
        ya[k] = yaa[k] = 0;
        for (int i = 0; i < M; i++) {
            ya[k] += (double)yf[i] * (double)OPA(i, k);
            yaa[k] += fabs((double)yf[i] * (double)OPA(i, k));
        }
    }
    for (int j = 0; j < N; j++) {
        double got = 0, ref = 0, mag = 0;
        for (int i = 0; i < M; i++) {
            got += (double)yf[i] * CIJ(C, i, j);
            if (be != 0) ref += be * yf[i] * CIJ(C0, i, j), mag += fabs(be * yf[i] * CIJ(C0, i, j));
        }
        for (int k = 0; k < K; k++) {
            ref += al * ya[k] * (double)OPB(k, j);
            mag += fabs(al) * yaa[k] * fabs((double)OPB(k, j));
        }
        worst = fmax(worst, rel_err(got, ref, mag));
    }
#undef CIJ
    return worst;
}

int gn_blas_selftest(int inject, double *err, double *ms)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const size_t ncase = sizeof st_cases / sizeof st_cases[0];
    size_t most = 0;
    for (size_t c = 0; c < ncase; c++) {
        size_t na, nb, nc;
        st_sizes(&st_cases[c], &na, &nb, &nc);
        if (na + nb + 2 * nc > most) most = na + nb + 2 * nc;
    }
    float *buf = gn_xmalloc(most * sizeof(float));
    /* one thread: the kernels and pack routines are what differ between
     * kernel tables (the threaded driver is common code), and waking
     * OpenBLAS's thread pool the first time costs milliseconds */
    int nt = openblas_get_num_threads();
    openblas_set_num_threads(1);
    double worst = 0;
    for (size_t c = 0; c < ncase; c++) {
        double e = st_case_run(&st_cases[c], inject && c == 0, buf);
        if (!(e <= worst)) worst = e;
    }
    openblas_set_num_threads(nt);
    free(buf);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (err) *err = worst;
    if (ms) *ms = 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec);
    return worst <= 1e-6 ? 0 : -1;
}

