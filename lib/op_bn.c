/* op_bn.c - batch normalisation over (B,HW) per channel: the inference form
 * (running statistics, a per-channel affine map) and the training form
 * (batch statistics, with the full backward through mean and variance), plus
 * PyTorch's running-statistics update.
 *
 * What it deliberately does not do: keep state. The batch mean and inverse
 * std live in caller-provided caches; running statistics change only through
 * gn_bn_update_running(). No folding into convolutions (that is calib's). */
#include "gn_err.h"
#include "gn_ops.h"

#include <math.h>

#define BLK 8

/* Sums in 8 running partial sums: gcc -O2 vectorises the blocks, and the
 * rounding error grows with n/8 instead of n. */
static float sum_f(const float *x, size_t n)
{
    float a[BLK] = {0};
    size_t i = 0;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++) a[k] += x[i + k];
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) s += x[i];
    return s;
}

/* sum (x-m)^2 */
static float sqdev_f(const float *x, float m, size_t n)
{
    float a[BLK] = {0};
    size_t i = 0;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++) {
            float d = x[i + k] - m;
            a[k] += d * d;
        }
    float s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) s += (x[i] - m) * (x[i] - m);
    return s;
}

/* *sdy += sum dy, *sdyx += sum dy*(x-m) */
static void sums_dy(const float *dy, const float *x, float m, size_t n, double *sdy, double *sdyx)
{
    float a[BLK] = {0}, b[BLK] = {0};
    size_t i = 0;
    for (; i + BLK <= n; i += BLK)
        for (int k = 0; k < BLK; k++) {
            a[k] += dy[i + k];
            b[k] += dy[i + k] * (x[i + k] - m);
        }
    float sa = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    float sb = ((b[0] + b[1]) + (b[2] + b[3])) + ((b[4] + b[5]) + (b[6] + b[7]));
    for (; i < n; i++) sa += dy[i], sb += dy[i] * (x[i] - m);
    *sdy += sa;
    *sdyx += sb;
}

/* y = x*scale + shift; y may be x */
static void affine_f(float *y, const float *x, float scale, float shift, size_t n)
{
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = x[i + k] * scale + shift;
        for (int k = 0; k < BLK; k++) y[i + k] = t[k];
    }
    for (; i < n; i++) y[i] = x[i] * scale + shift;
}

static void check_bn(const gn_bn_shape *s)
{
    GN_ASSERT(s->B >= 1 && s->C >= 1 && s->HW >= 1 && s->eps >= 0.0f);
}

void gn_bn_forward_infer(float *y, const float *x, const float *gamma, const float *beta,
                         const float *rmean, const float *rvar, const gn_bn_shape *s)
{
    GN_ASSERT(y && x && rmean && rvar);
    check_bn(s);
    const size_t HW = (size_t)s->HW;
    for (int c = 0; c < s->C; c++) {
        const float inv = (float)(1.0 / sqrt((double)rvar[c] + s->eps));
        const float scale = (gamma ? gamma[c] : 1.0f) * inv;
        const float shift = (beta ? beta[c] : 0.0f) - rmean[c] * scale;
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            affine_f(y + o, x + o, scale, shift, HW); // (HW)
        }
    }
}

void gn_bn_backward_infer(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const float *x, const float *gamma, const float *rmean,
                          const float *rvar, const gn_bn_shape *s)
{
    GN_ASSERT(dy && rvar);
    GN_ASSERT(!dgamma || (x && rmean));
    check_bn(s);
    const size_t HW = (size_t)s->HW;
    for (int c = 0; c < s->C; c++) {
        const float inv = (float)(1.0 / sqrt((double)rvar[c] + s->eps));
        const float scale = (gamma ? gamma[c] : 1.0f) * inv;
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            const float *dyp = dy + o; // (HW)
            if (dx) {
                float *dxp = dx + o;
                size_t i = 0;
                for (; i + BLK <= HW; i += BLK) {
                    float g[BLK];
                    for (int k = 0; k < BLK; k++) g[k] = dyp[i + k] * scale;
                    for (int k = 0; k < BLK; k++) dxp[i + k] += g[k];
                }
                for (; i < HW; i++) dxp[i] += dyp[i] * scale;
            }
            if (dgamma)
                sums_dy(dyp, x + o, rmean[c], HW, &sdy, &sdyx);
            else if (dbeta)
                sdy += sum_f(dyp, HW);
        }
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)(sdyx * inv);
    }
}

void gn_bn_forward_train(float *y, float *mean, float *invstd, const float *x,
                         const float *gamma, const float *beta, const gn_bn_shape *s)
{
    GN_ASSERT(y && mean && invstd && x);
    check_bn(s);
    const size_t HW = (size_t)s->HW;
    const double n = (double)s->B * s->HW;
    for (int c = 0; c < s->C; c++) {
        /* two passes (mean, then squared deviations): no cancellation */
        double sum = 0;
        for (int b = 0; b < s->B; b++) sum += sum_f(x + ((size_t)b * s->C + c) * HW, HW);
        const double mu = sum / n;
        double ss = 0;
        for (int b = 0; b < s->B; b++) ss += sqdev_f(x + ((size_t)b * s->C + c) * HW, (float)mu, HW);
        const float inv = (float)(1.0 / sqrt(ss / n + s->eps));
        mean[c] = (float)mu;
        invstd[c] = inv;
        const float scale = (gamma ? gamma[c] : 1.0f) * inv;
        const float shift = (beta ? beta[c] : 0.0f) - mean[c] * scale;
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            affine_f(y + o, x + o, scale, shift, HW); // (HW)
        }
    }
}

/* With xhat = (x-mean)*invstd and g = dy*gamma, n = B*HW:
 *   dbeta += sum dy, dgamma += sum dy*xhat,
 *   dx += gamma*invstd * (dy - mean(dy) - xhat*mean(dy*xhat)). */
void gn_bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const float *x, const float *mean, const float *invstd,
                          const float *gamma, const gn_bn_shape *s)
{
    GN_ASSERT(dy && x && mean && invstd);
    check_bn(s);
    if (!dx && !dgamma && !dbeta) return;
    const size_t HW = (size_t)s->HW;
    const double n = (double)s->B * s->HW;
    for (int c = 0; c < s->C; c++) {
        const float m = mean[c], inv = invstd[c];
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            sums_dy(dy + o, x + o, m, HW, &sdy, &sdyx); // (HW)
        }
        sdyx *= inv; /* sum dy*xhat */
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)sdyx;
        if (!dx) continue;
        /* dx += k*(dy - mean(dy)) + a*(x - m), k = gamma*invstd, a = -k*invstd*mean(dy*xhat) */
        const float k = (gamma ? gamma[c] : 1.0f) * inv;
        const float kmdy = (float)(k * sdy / n), a = (float)(-k * inv * sdyx / n);
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            const float *xp = x + o, *dyp = dy + o;
            float *dxp = dx + o; // (HW)
            size_t i = 0;
            for (; i + BLK <= HW; i += BLK) {
                float g[BLK];
                for (int j = 0; j < BLK; j++) g[j] = k * dyp[i + j] - kmdy + a * (xp[i + j] - m);
                for (int j = 0; j < BLK; j++) dxp[i + j] += g[j];
            }
            for (; i < HW; i++) dxp[i] += k * dyp[i] - kmdy + a * (xp[i] - m);
        }
    }
}

void gn_bn_update_running(float *rmean, float *rvar, const float *mean, const float *invstd,
                          float momentum, const gn_bn_shape *s)
{
    GN_ASSERT(rmean && rvar && mean && invstd);
    check_bn(s);
    const double n = (double)s->B * s->HW;
    /* unbiased = biased * n/(n-1); a single value has no spread to correct */
    const double unbias = n > 1 ? n / (n - 1) : 1.0;
    for (int c = 0; c < s->C; c++) {
        double inv = invstd[c];
        double var = 1.0 / (inv * inv) - s->eps; /* the biased batch variance */
        if (var < 0) var = 0;
        rmean[c] = (float)((1.0 - momentum) * rmean[c] + (double)momentum * mean[c]);
        rvar[c] = (float)((1.0 - momentum) * rvar[c] + (double)momentum * var * unbias);
    }
}
