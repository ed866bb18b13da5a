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
            const float *xp = x + o; // (HW)
            float *yp = y + o;       // (HW)
            for (size_t i = 0; i < HW; i++) yp[i] = xp[i] * scale + shift;
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
                for (size_t i = 0; i < HW; i++) dxp[i] += dyp[i] * scale;
            }
            if (dbeta) {
                float acc = 0;
                for (size_t i = 0; i < HW; i++) acc += dyp[i];
                sdy += acc;
            }
            if (dgamma) {
                const float *xp = x + o;
                float acc = 0;
                for (size_t i = 0; i < HW; i++) acc += dyp[i] * (xp[i] - rmean[c]);
                sdyx += acc;
            }
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
        for (int b = 0; b < s->B; b++) {
            const float *xp = x + ((size_t)b * s->C + c) * HW; // (HW)
            float acc = 0;
            for (size_t i = 0; i < HW; i++) acc += xp[i];
            sum += acc;
        }
        const double mu = sum / n;
        double ss = 0;
        for (int b = 0; b < s->B; b++) {
            const float *xp = x + ((size_t)b * s->C + c) * HW;
            const float m = (float)mu;
            float acc = 0;
            for (size_t i = 0; i < HW; i++) acc += (xp[i] - m) * (xp[i] - m);
            ss += acc;
        }
        const float inv = (float)(1.0 / sqrt(ss / n + s->eps));
        mean[c] = (float)mu;
        invstd[c] = inv;
        const float scale = (gamma ? gamma[c] : 1.0f) * inv;
        const float shift = (beta ? beta[c] : 0.0f) - mean[c] * scale;
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            const float *xp = x + o;
            float *yp = y + o;
            for (size_t i = 0; i < HW; i++) yp[i] = xp[i] * scale + shift;
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
            const float *xp = x + o, *dyp = dy + o; // (HW)
            float a0 = 0, a1 = 0;
            for (size_t i = 0; i < HW; i++) {
                a0 += dyp[i];
                a1 += dyp[i] * (xp[i] - m);
            }
            sdy += a0;
            sdyx += a1;
        }
        sdyx *= inv; /* sum dy*xhat */
        if (dbeta) dbeta[c] += (float)sdy;
        if (dgamma) dgamma[c] += (float)sdyx;
        if (!dx) continue;
        const float k = (gamma ? gamma[c] : 1.0f) * inv;
        const float mdy = (float)(sdy / n), mdyx = (float)(sdyx / n);
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            const float *xp = x + o, *dyp = dy + o;
            float *dxp = dx + o; // (HW)
            for (size_t i = 0; i < HW; i++) {
                const float xh = (xp[i] - m) * inv;
                dxp[i] += k * (dyp[i] - mdy - xh * mdyx);
            }
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
