/* gn_blas_selftest.h - the sgemm self-test (blas_selftest.c): is the
 * OpenBLAS kernel in use right?
 * What it deliberately does not do: choose or replace a kernel
 * (gn_blas_init.h does, from its answer). */
#ifndef GN_BLAS_SELFTEST_H
#define GN_BLAS_SELFTEST_H

/* Runs products through OpenBLAS in the shapes genie uses (small odd sizes
 * that take OpenBLAS's small-matrix kernels; conv-sized odd ones above
 * 100^3 that take its blocked kernels; NN, NT, TN, TT; alpha and beta,
 * beta = 0 over a C full of NaN, padded leading dimensions), on one thread,
 * with inputs whose products and sums are exact, and compares with a
 * double reference: every entry of the small products, and of the large
 * ones one entry in 29 plus weighted sums of every row and column (so any
 * one wrong entry shows). `inject` non-zero corrupts one result (to test
 * what follows a failure). Returns 0 when everything matches to 1e-6 of
 * its magnitude (a correct kernel matches exactly), -1 otherwise; *err
 * gets the worst relative error (INFINITY for NaN), *ms the time taken.
 * Allocates and frees scratch; leaves OpenBLAS's thread count as it was. */
int gn_blas_selftest(int inject, double *err, double *ms);

#endif
