/* op_linear.c - the fully connected layer y = x w^T + b, on gn_sgemm.
 *
 * What it deliberately does not do: flatten its input (a (C,H,W) sample is
 * already I contiguous floats in NCHW) or keep a transposed copy of w. */
#include "gn_linear.h"
#include "gn_blas.h"
#include "gn_err.h"

void gn_linear_forward(float *y, const float *x, const float *w, const float *b, int B,
                       int I, int O)
{
    GN_ASSERT(y && x && w && B >= 1 && I >= 1 && O >= 1);
    if (b)
        for (int n = 0; n < B; n++)
            for (int o = 0; o < O; o++) y[(size_t)n * O + o] = b[o]; // (B,O)
    // y (B,O) = x (B,I) . w^T (I,O) [+ y]
    gn_sgemm(0, 1, B, O, I, 1.0f, x, I, w, I, b ? 1.0f : 0.0f, y, O);
}

void gn_linear_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, int B, int I, int O)
{
    GN_ASSERT(dy && B >= 1 && I >= 1 && O >= 1);
    if (dx) {
        GN_ASSERT(w);
        // dx (B,I) += dy (B,O) . w (O,I)
        gn_sgemm(0, 0, B, I, O, 1.0f, dy, O, w, I, 1.0f, dx, I);
    }
    if (dw) {
        GN_ASSERT(x);
        // dw (O,I) += dy^T (O,B) . x (B,I)
        gn_sgemm(1, 0, O, I, B, 1.0f, dy, O, x, I, 1.0f, dw, I);
    }
    if (db)
        for (int n = 0; n < B; n++)
            for (int o = 0; o < O; o++) db[o] += dy[(size_t)n * O + o]; // (O)
}

void gn_linear_forward_ref(float *y, const float *x, const float *w, const float *b, int B,
                           int I, int O)
{
    for (int n = 0; n < B; n++)
        for (int o = 0; o < O; o++) {
            double acc = b ? b[o] : 0.0;
            for (int i = 0; i < I; i++) acc += (double)x[(size_t)n * I + i] * w[(size_t)o * I + i];
            y[(size_t)n * O + o] = (float)acc;
        }
}
