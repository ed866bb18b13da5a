/* op_bn.c - batch normalisation over (B,HW) per channel: the inference form
 * (running statistics, a per-channel affine map) and the training form
 * (batch statistics, with the full backward through mean and variance), plus
 * PyTorch's running-statistics update.
 *
 * Channels are independent, so large tensors are cut into one range of
 * channels per thread of the operator pool (gn_ops_parallel, ops.c);
 * each channel's sums are the same whatever the cut.
 * What it deliberately does not do: keep state. The batch mean and inverse
 * std live in caller-provided caches; running statistics change only through
 * gn_bn_update_running(). No folding into convolutions (that is calib's). */
#include "gn_bn.h"
#include "gn_err.h"
#include "gn_ops.h"
#include "gn_moments.h"

#include <math.h>

/* op_conv.c's thread pool (not in gn_ops.h, whose API is fixed): runs
 * f(ctx, t, T) for t < T when `work` is large enough; returns T. */

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

/* z = act(x*scale + shift): affine_f's value, then the activation exactly
 * as op_act.c computes it */
static void affine_act_f(float *z, const float *x, float scale, float shift, const gn_act_fuse *a,
                         size_t n)
{
    const float p = a->p, q = a->q;
    size_t i = 0;
    switch (a->kind) {
    case GN_SET_RELU:
        for (; i + BLK <= n; i += BLK) {
            float t[BLK];
            for (int k = 0; k < BLK; k++) t[k] = x[i + k] * scale + shift;
            for (int k = 0; k < BLK; k++) z[i + k] = t[k] > 0.0f ? t[k] : 0.0f;
        }
        for (; i < n; i++) {
            float t = x[i] * scale + shift;
            z[i] = t > 0.0f ? t : 0.0f;
        }
        break;
    case GN_SET_CLIP:
        for (; i + BLK <= n; i += BLK) {
            float t[BLK];
            for (int k = 0; k < BLK; k++) t[k] = x[i + k] * scale + shift;
            for (int k = 0; k < BLK; k++) {
                float v = t[k] < p ? p : t[k];
                z[i + k] = v > q ? q : v;
            }
        }
        for (; i < n; i++) {
            float v = x[i] * scale + shift;
            v = v < p ? p : v;
            z[i] = v > q ? q : v;
        }
        break;
    default: /* GN_SET_LEAKY */
        for (; i + BLK <= n; i += BLK) {
            float t[BLK];
            for (int k = 0; k < BLK; k++) t[k] = x[i + k] * scale + shift;
            for (int k = 0; k < BLK; k++) z[i + k] = t[k] > 0.0f ? t[k] : p * t[k];
        }
        for (; i < n; i++) {
            float t = x[i] * scale + shift;
            z[i] = t > 0.0f ? t : p * t;
        }
        break;
    }
}

/* g = the gradient at the BN output, from dy at the activation output and
 * its output z, as op_act.c's first-writer backward leaves it (0 + g: a -0
 * becomes +0 there too) */
static void act_grad(float *g, const float *dy, const gn_act_fuse *a, size_t o, size_t n)
{
    const float *z = a->z + o, p = a->p, q = a->q;
    dy += o;
    size_t i = 0;
    /* blocks of 8 through locals, as everywhere here, so gcc -O2 vectorises */
    switch (a->kind) {
    case GN_SET_RELU:
        for (; i + BLK <= n; i += BLK) {
            float t[BLK], d[BLK];
            for (int k = 0; k < BLK; k++) t[k] = z[i + k], d[k] = dy[i + k];
            for (int k = 0; k < BLK; k++) d[k] = t[k] > 0.0f ? d[k] : 0.0f;
            for (int k = 0; k < BLK; k++) g[i + k] = 0.0f + d[k];
        }
        for (; i < n; i++) g[i] = 0.0f + (z[i] > 0.0f ? dy[i] : 0.0f);
        break;
    case GN_SET_CLIP:
        for (; i + BLK <= n; i += BLK) {
            float t[BLK], d[BLK];
            for (int k = 0; k < BLK; k++) t[k] = z[i + k], d[k] = dy[i + k];
            for (int k = 0; k < BLK; k++) d[k] = (t[k] > p && t[k] < q) ? d[k] : 0.0f;
            for (int k = 0; k < BLK; k++) g[i + k] = 0.0f + d[k];
        }
        for (; i < n; i++) g[i] = 0.0f + ((z[i] > p && z[i] < q) ? dy[i] : 0.0f);
        break;
    default:
        for (; i + BLK <= n; i += BLK) {
            float t[BLK], d[BLK];
            for (int k = 0; k < BLK; k++) t[k] = z[i + k], d[k] = dy[i + k];
            for (int k = 0; k < BLK; k++) d[k] = t[k] > 0.0f ? d[k] : p * d[k];
            for (int k = 0; k < BLK; k++) g[i + k] = 0.0f + d[k];
        }
        for (; i < n; i++) g[i] = 0.0f + (z[i] > 0.0f ? dy[i] : p * dy[i]);
        break;
    }
}

static void check_bn(const gn_bn_shape *s)
{
    GN_ASSERT(s->B >= 1 && s->C >= 1 && s->HW >= 1 && s->eps >= 0.0f);
}

/* Everything one call needs; each part works on channels [c0,c1). */
typedef struct {
    const gn_bn_shape *s;
    float *y, *dx, *dgamma, *dbeta, *mean, *invstd;
    const float *x, *dy, *gamma, *beta, *rmean, *rvar, *cmean, *cinvstd;
    int set; /* dx = 0 + g instead of dx += g (first writer) */
    const gn_act_fuse *act; /* fused activation after the BN, or NULL */
    const gn_bn_tap *tap;   /* a loss on the input's statistics, or NULL */
} bn_job;

static void channels(const bn_job *j, int t, int T, int *c0, int *c1)
{
    *c0 = (int)((long)j->s->C * t / T);
    *c1 = (int)((long)j->s->C * (t + 1) / T);
}

static size_t elems(const gn_bn_shape *s) { return (size_t)s->B * s->C * s->HW; }

/* plane o's output: y + o, or act(...) into the activation's output */
static void bn_store(const bn_job *j, size_t o, float scale, float shift, size_t HW)
{
    if (j->act)
        affine_act_f(j->y + o, j->x + o, scale, shift, j->act, HW);
    else
        affine_f(j->y + o, j->x + o, scale, shift, HW);
}

/* channel c's output planes; with a tap, the input's moments too (the
 * numbers gn_chan_moments gives), each plane's taken just after reading it */
static void bn_store_channel(const bn_job *j, int c, float scale, float shift)
{
    const gn_bn_shape *s = j->s;
    const size_t HW = (size_t)s->HW;
    if (!j->tap || !j->tap->mom) {
        for (int b = 0; b < s->B; b++) bn_store(j, ((size_t)b * s->C + c) * HW, scale, shift, HW);
        return;
    }
    double na = 0, ma = 0, qa = 0;
    for (int b = 0; b < s->B; b++) {
        const size_t o = ((size_t)b * s->C + c) * HW;
        bn_store(j, o, scale, shift, HW);
        float mp, qp;
        gn_plane_moments(&mp, &qp, j->x + o, HW); /* the plane is in L1 now */
        gn_moments_merge(&na, &ma, &qa, (double)HW, mp, qp);
    }
    j->tap->mom[c] = ma;
    j->tap->mom[s->C + c] = qa;
}

/* plane o's gradient at the BN output: dy + o itself, or built in buf */
static const float *bn_dy(const bn_job *j, float *buf, size_t o, size_t HW)
{
    if (!j->act) return j->dy + o;
    act_grad(buf, j->dy, j->act, o, HW);
    return buf;
}

static void infer_fwd_part(void *ctx, int t, int T)
{
    const bn_job *j = ctx;
    const gn_bn_shape *s = j->s;
    int c0, c1;
    channels(j, t, T, &c0, &c1);
    for (int c = c0; c < c1; c++) {
        const float inv = (float)(1.0 / sqrt((double)j->rvar[c] + s->eps));
        const float scale = (j->gamma ? j->gamma[c] : 1.0f) * inv;
        const float shift = (j->beta ? j->beta[c] : 0.0f) - j->rmean[c] * scale;
        bn_store_channel(j, c, scale, shift);
    }
}

void gn_bn_forward_infer(float *y, const float *x, const float *gamma, const float *beta,
                         const float *rmean, const float *rvar, const gn_bn_shape *s)
{
    gn_bn_forward_infer_act(y, x, gamma, beta, rmean, rvar, s, NULL);
}

/* plane o's gradient at the BN output, the activation's output z made
 * again from x (gn_act_fuse.remake): the forward's own affine_act_f on the
 * same plane, so the same z */
static const float *bn_dy_remake(const bn_job *j, float *buf, float *zbuf, size_t o, size_t HW,
                                 float scale, float shift)
{
    gn_act_fuse a = *j->act;
    affine_act_f(zbuf, j->x + o, scale, shift, &a, HW);
    a.z = zbuf;
    act_grad(buf, j->dy + o, &a, 0, HW);
    return buf;
}

static void infer_bwd_part(void *ctx, int t, int T)
{
    const bn_job *j = ctx;
    float buf[GN_BN_FUSE_MAX_HW]; /* a fused activation's gradient, one plane */
    float zbuf[GN_BN_FUSE_MAX_HW]; /* its output, made again (remake) */
    const gn_bn_shape *s = j->s;
    const size_t HW = (size_t)s->HW;
    int c0, c1;
    channels(j, t, T, &c0, &c1);
    for (int c = c0; c < c1; c++) {
        const float inv = (float)(1.0 / sqrt((double)j->rvar[c] + s->eps));
        const float scale = (j->gamma ? j->gamma[c] : 1.0f) * inv;
        const int remake = j->act && !j->act->z;
        const float shift = remake ? (j->act->beta ? j->act->beta[c] : 0.0f) - j->rmean[c] * scale : 0.0f;
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            const float *dyp = remake ? bn_dy_remake(j, buf, zbuf, o, HW, scale, shift)
                                      : bn_dy(j, buf, o, HW); // (HW)
            if (j->dx && j->tap && j->tap->a) {
                /* the loss term first, then the BN's own, as two writers would */
                float *dxp = j->dx + o;
                const float *xp = j->x + o;
                const float la = j->tap->a[c], lb = j->tap->b[c], lm = j->tap->m[c];
                size_t i = 0;
                for (; i + BLK <= HW; i += BLK) {
                    float g[BLK], d[BLK];
                    for (int k = 0; k < BLK; k++) g[k] = dyp[i + k] * scale;
                    for (int k = 0; k < BLK; k++) d[k] = j->set ? 0.0f : dxp[i + k];
                    for (int k = 0; k < BLK; k++) d[k] = d[k] + (la + lb * (xp[i + k] - lm));
                    for (int k = 0; k < BLK; k++) dxp[i + k] = d[k] + g[k];
                }
                for (; i < HW; i++)
                    dxp[i] = ((j->set ? 0.0f : dxp[i]) + (la + lb * (xp[i] - lm))) + dyp[i] * scale;
            } else if (j->dx) {
                float *dxp = j->dx + o;
                size_t i = 0;
                for (; i + BLK <= HW; i += BLK) {
                    float g[BLK];
                    for (int k = 0; k < BLK; k++) g[k] = dyp[i + k] * scale;
                    if (j->set)
                        for (int k = 0; k < BLK; k++) dxp[i + k] = 0.0f + g[k];
                    else
                        for (int k = 0; k < BLK; k++) dxp[i + k] += g[k];
                }
                for (; i < HW; i++) dxp[i] = (j->set ? 0.0f : dxp[i]) + dyp[i] * scale;
            }
            if (j->dgamma)
                sums_dy(dyp, j->x + o, j->rmean[c], HW, &sdy, &sdyx);
            else if (j->dbeta)
                sdy += sum_f(dyp, HW);
        }
        if (j->dbeta) j->dbeta[c] += (float)sdy;
        if (j->dgamma) j->dgamma[c] += (float)(sdyx * inv);
    }
}

static void bn_backward_infer(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *gamma, const float *rmean,
                              const float *rvar, const gn_bn_shape *s, int set,
                              const gn_act_fuse *a, const gn_bn_tap *tap)
{
    GN_ASSERT(dy && rvar);
    GN_ASSERT(!dgamma || (x && rmean));
    GN_ASSERT(!tap || !tap->a || (x && tap->b && tap->m));
    GN_ASSERT(!a || a->z || (x && rmean));
    check_bn(s);
    if (!dx && !dgamma && !dbeta) return;
    bn_job j = {.s = s, .dx = dx, .dgamma = dgamma, .dbeta = dbeta, .dy = dy, .x = x,
                .gamma = gamma, .rmean = rmean, .rvar = rvar, .set = set, .act = a, .tap = tap};
    gn_ops_parallel(infer_bwd_part, &j, elems(s));
}

void gn_bn_backward_infer(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const float *x, const float *gamma, const float *rmean,
                          const float *rvar, const gn_bn_shape *s)
{
    bn_backward_infer(dx, dgamma, dbeta, dy, x, gamma, rmean, rvar, s, 0, NULL, NULL);
}

void gn_bn_backward_infer_set(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *gamma, const float *rmean,
                              const float *rvar, const gn_bn_shape *s)
{
    GN_ASSERT(dx);
    bn_backward_infer(dx, dgamma, dbeta, dy, x, gamma, rmean, rvar, s, 1, NULL, NULL);
}

static void train_fwd_part(void *ctx, int t, int T)
{
    const bn_job *j = ctx;
    const gn_bn_shape *s = j->s;
    const size_t HW = (size_t)s->HW;
    const double n = (double)s->B * s->HW;
    int c0, c1;
    channels(j, t, T, &c0, &c1);
    for (int c = c0; c < c1; c++) {
        /* two passes (mean, then squared deviations): no cancellation */
        double sum = 0;
        for (int b = 0; b < s->B; b++) sum += sum_f(j->x + ((size_t)b * s->C + c) * HW, HW);
        const double mu = sum / n;
        double ss = 0;
        for (int b = 0; b < s->B; b++)
            ss += sqdev_f(j->x + ((size_t)b * s->C + c) * HW, (float)mu, HW);
        const float inv = (float)(1.0 / sqrt(ss / n + s->eps));
        j->mean[c] = (float)mu;
        j->invstd[c] = inv;
        const float scale = (j->gamma ? j->gamma[c] : 1.0f) * inv;
        const float shift = (j->beta ? j->beta[c] : 0.0f) - j->mean[c] * scale;
        bn_store_channel(j, c, scale, shift);
    }
}

void gn_bn_forward_train(float *y, float *mean, float *invstd, const float *x,
                         const float *gamma, const float *beta, const gn_bn_shape *s)
{
    gn_bn_forward_train_act(y, mean, invstd, x, gamma, beta, s, NULL);
}

/* With xhat = (x-mean)*invstd, n = B*HW:
 *   dbeta += sum dy, dgamma += sum dy*xhat,
 *   dx += gamma*invstd * (dy - mean(dy) - xhat*mean(dy*xhat)). */
static void train_bwd_part(void *ctx, int t, int T)
{
    const bn_job *j = ctx;
    float buf[GN_BN_FUSE_MAX_HW]; /* a fused activation's gradient, one plane */
    const gn_bn_shape *s = j->s;
    const size_t HW = (size_t)s->HW;
    const double n = (double)s->B * s->HW;
    int c0, c1;
    channels(j, t, T, &c0, &c1);
    for (int c = c0; c < c1; c++) {
        const float m = j->cmean[c], inv = j->cinvstd[c];
        double sdy = 0, sdyx = 0;
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            sums_dy(bn_dy(j, buf, o, HW), j->x + o, m, HW, &sdy, &sdyx); // (HW)
        }
        sdyx *= inv; /* sum dy*xhat */
        if (j->dbeta) j->dbeta[c] += (float)sdy;
        if (j->dgamma) j->dgamma[c] += (float)sdyx;
        if (!j->dx) continue;
        /* dx += k*dy - k*mean(dy) + a*(x - m), k = gamma*invstd, a = -k*invstd*mean(dy*xhat) */
        const float k = (j->gamma ? j->gamma[c] : 1.0f) * inv;
        const float kmdy = (float)(k * sdy / n), a = (float)(-k * inv * sdyx / n);
        for (int b = 0; b < s->B; b++) {
            const size_t o = ((size_t)b * s->C + c) * HW;
            const float *xp = j->x + o, *dyp = bn_dy(j, buf, o, HW);
            float *dxp = j->dx + o; // (HW)
            size_t i = 0;
            for (; i + BLK <= HW; i += BLK) {
                float g[BLK];
                for (int q = 0; q < BLK; q++) g[q] = k * dyp[i + q] - kmdy + a * (xp[i + q] - m);
                if (j->set)
                    for (int q = 0; q < BLK; q++) dxp[i + q] = 0.0f + g[q];
                else
                    for (int q = 0; q < BLK; q++) dxp[i + q] += g[q];
            }
            for (; i < HW; i++) dxp[i] = (j->set ? 0.0f : dxp[i]) + (k * dyp[i] - kmdy + a * (xp[i] - m));
        }
    }
}

static void bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *mean, const float *invstd,
                              const float *gamma, const gn_bn_shape *s, int set,
                              const gn_act_fuse *a)
{
    GN_ASSERT(dy && x && mean && invstd);
    check_bn(s);
    if (!dx && !dgamma && !dbeta) return;
    bn_job j = {.s = s, .dx = dx, .dgamma = dgamma, .dbeta = dbeta, .dy = dy, .x = x,
                .gamma = gamma, .cmean = mean, .cinvstd = invstd, .set = set, .act = a};
    gn_ops_parallel(train_bwd_part, &j, elems(s));
}

void gn_bn_backward_train(float *dx, float *dgamma, float *dbeta, const float *dy,
                          const float *x, const float *mean, const float *invstd,
                          const float *gamma, const gn_bn_shape *s)
{
    bn_backward_train(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, s, 0, NULL);
}

void gn_bn_backward_train_set(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *mean, const float *invstd,
                              const float *gamma, const gn_bn_shape *s)
{
    GN_ASSERT(dx);
    bn_backward_train(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, s, 1, NULL);
}

/* a: NULL (no activation) only where a plain entry point passes it */
static void check_act(const gn_bn_shape *s, const gn_act_fuse *a, int bwd)
{
    if (!a) return;
    GN_ASSERT(a->kind == GN_SET_RELU || a->kind == GN_SET_CLIP ||
              (a->kind == GN_SET_LEAKY && a->p > 0));
    GN_ASSERT(!bwd || ((a->z || a->remake) && s->HW <= GN_BN_FUSE_MAX_HW));
}

void gn_bn_forward_infer_act(float *z, const float *x, const float *gamma, const float *beta,
                             const float *rmean, const float *rvar, const gn_bn_shape *s,
                             const gn_act_fuse *a)
{
    gn_bn_forward_infer_tap(z, x, gamma, beta, rmean, rvar, s, a, NULL);
}

void gn_bn_forward_infer_tap(float *z, const float *x, const float *gamma, const float *beta,
                             const float *rmean, const float *rvar, const gn_bn_shape *s,
                             const gn_act_fuse *act, const gn_bn_tap *tap)
{
    GN_ASSERT(z && x && rmean && rvar);
    check_bn(s);
    check_act(s, act, 0);
    bn_job j = {.s = s, .y = z, .x = x, .gamma = gamma, .beta = beta, .rmean = rmean,
                .rvar = rvar, .act = act, .tap = tap};
    gn_ops_parallel(infer_fwd_part, &j, elems(s));
}

void gn_bn_forward_train_act(float *z, float *mean, float *invstd, const float *x,
                             const float *gamma, const float *beta, const gn_bn_shape *s,
                             const gn_act_fuse *a)
{
    GN_ASSERT(z && mean && invstd && x);
    check_bn(s);
    check_act(s, a, 0);
    bn_job j = {.s = s, .y = z, .mean = mean, .invstd = invstd, .x = x, .gamma = gamma,
                .beta = beta, .act = a};
    gn_ops_parallel(train_fwd_part, &j, elems(s));
}

void gn_bn_backward_infer_act(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *gamma, const float *rmean,
                              const float *rvar, const gn_bn_shape *s, int set,
                              const gn_act_fuse *a)
{
    GN_ASSERT(a);
    gn_bn_backward_infer_tap(dx, dgamma, dbeta, dy, x, gamma, rmean, rvar, s, set, a, NULL);
}

void gn_bn_backward_infer_tap(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *gamma, const float *rmean,
                              const float *rvar, const gn_bn_shape *s, int set,
                              const gn_act_fuse *act, const gn_bn_tap *tap)
{
    check_act(s, act, 1);
    GN_ASSERT(!set || dx);
    bn_backward_infer(dx, dgamma, dbeta, dy, x, gamma, rmean, rvar, s, set, act, tap);
}

void gn_bn_backward_train_act(float *dx, float *dgamma, float *dbeta, const float *dy,
                              const float *x, const float *mean, const float *invstd,
                              const float *gamma, const gn_bn_shape *s, int set,
                              const gn_act_fuse *a)
{
    GN_ASSERT(a && a->z); /* no remake here */
    check_act(s, a, 1);
    GN_ASSERT(!set || dx);
    bn_backward_train(dx, dgamma, dbeta, dy, x, mean, invstd, gamma, s, set, a);
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
