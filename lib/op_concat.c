/* op_concat.c - concatenation along channels of n tensors of one H,W
 * (Inception's branches, a dense block's features, a ShuffleNet unit's two
 * halves). Backward hands each input its channels of the gradient.
 * What it deliberately does not do: other axes. */
#include <string.h>

#include "gn_err.h"
#include "gn_concat.h"

/* y (B, sum c, HW) = [x[0] (B,c[0],HW), ..., x[n-1]] */
void gn_concat_forward(float *y, const float *const *x, const int *c, int n, int B, int HW)
{
    GN_ASSERT(y && x && c && n >= 1 && B >= 1 && HW >= 1);
    size_t Ct = 0;
    for (int i = 0; i < n; i++) Ct += (size_t)c[i];
    for (int b = 0; b < B; b++) {
        float *yb = y + (size_t)b * Ct * HW;
        for (int i = 0; i < n; i++) {
            const size_t m = (size_t)c[i] * HW;
            memcpy(yb, x[i] + (size_t)b * m, m * sizeof(float));
            yb += m;
        }
    }
}

/* dx[i] += its channels of dy; a NULL dx[i] is skipped */
void gn_concat_backward(float *const *dx, const float *dy, const int *c, int n, int B, int HW)
{
    GN_ASSERT(dx && dy && c && n >= 1);
    size_t Ct = 0;
    for (int i = 0; i < n; i++) Ct += (size_t)c[i];
    for (int b = 0; b < B; b++) {
        const float *db = dy + (size_t)b * Ct * HW;
        for (int i = 0; i < n; i++) {
            const size_t m = (size_t)c[i] * HW;
            if (dx[i]) {
                float *d = dx[i] + (size_t)b * m;
                for (size_t j = 0; j < m; j++) d[j] += db[j];
            }
            db += m;
        }
    }
}
