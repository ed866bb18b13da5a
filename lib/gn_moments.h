/* gn_moments.h - the moment kernels (op_moments.c): mean and sum of
 * squared deviations (M2) of image planes and of channels, combined by
 * Chan et al.'s rule. BatchNorm's tapped forward (op_bn.c), Genie-D's
 * statistics loss (distill.c) and bnstats' measurement (stats.c) share
 * them, so their numbers are the same bits.
 * What it deliberately does not do: the statistics file (gn_stats.h). */
#ifndef GN_MOMENTS_H
#define GN_MOMENTS_H

#include <stddef.h>

/* Mean and sum of squared deviations (M2) of n floats, two passes over the
 * data (which should be cache-sized: one image plane), several accumulators
 * so the compiler vectorises. */
void gn_plane_moments(float *mean, float *m2, const float *x, size_t n);
/* Chan et al.: merges (nb, mp, qp), one plane's count, mean and M2, into
 * the running (*na, *ma, *qa) */
static inline void gn_moments_merge(double *na, double *ma, double *qa, double nb, float mp,
                                    float qp)
{
    const double n = *na + nb, d = (double)mp - *ma;
    *ma += d * nb / n;
    *qa += (double)qp + d * d * *na * nb / n;
    *na = n;
}
/* Per-channel mean (C) and M2 (C) of x (B,C,HW) over batch and space, the
 * planes' moments combined in double (Chan et al.): count is B*HW. */
void gn_chan_moments(double *mean, double *m2, const float *x, int B, int C, int HW);

#endif
