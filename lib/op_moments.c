/* op_moments.c - per-plane and per-channel mean and M2 (see gn_moments.h).
 * What it deliberately does not do: finish the statistics (variance, std)
 * or know where the numbers go. */
#include "gn_moments.h"

#include "gn_err.h"

void gn_plane_moments(float *mean, float *m2, const float *x, size_t n)
{
    GN_ASSERT(n >= 1);
    float a[8] = {0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) a[k] += x[i + k];
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) s += x[i];
    const float m = s / (float)n;
    float q[8] = {0};
    i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            const float d = x[i + k] - m;
            q[k] += d * d;
        }
    float ss = ((q[0] + q[1]) + (q[2] + q[3])) + ((q[4] + q[5]) + (q[6] + q[7]));
    for (; i < n; i++) ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *m2 = ss;
}

void gn_chan_moments(double *mean, double *m2, const float *x, int B, int C, int HW)
{
    GN_ASSERT(B >= 1 && C >= 1 && HW >= 1);
    const size_t P = (size_t)HW;
    for (int c = 0; c < C; c++) {
        double na = 0, ma = 0, qa = 0;
        for (int b = 0; b < B; b++) {
            float mp, qp;
            gn_plane_moments(&mp, &qp, x + ((size_t)b * C + c) * P, P); // (HW)
            gn_moments_merge(&na, &ma, &qa, (double)HW, mp, qp);
        }
        mean[c] = ma;
        m2[c] = qa;
    }
}
