/* op_quant.c - quantiser kernels (see gn_quant.h). Plain loops: these run on
 * weights (small) and on activations once per layer. */
#include "gn_quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"

float gn_rsig(float v)
{
    float h = 1.0f / (1.0f + expf(-v)) * (GN_RS_ZETA - GN_RS_GAMMA) + GN_RS_GAMMA;
    return h < 0 ? 0 : h > 1 ? 1 : h;
}

float gn_rsig_grad(float v)
{
    float sg = 1.0f / (1.0f + expf(-v));
    float h = sg * (GN_RS_ZETA - GN_RS_GAMMA) + GN_RS_GAMMA;
    if (h < 0 || h > 1) return 0; /* torch.clamp passes the gradient at the bounds */
    return sg * (1 - sg) * (GN_RS_ZETA - GN_RS_GAMMA);
}

float gn_rsig_inv(float r)
{
    return -logf((GN_RS_ZETA - GN_RS_GAMMA) / (r - GN_RS_GAMMA) - 1.0f);
}

/* |d|^2.4 in float, as the reference computes it (torch float32 pow) */
static inline float lp24(float d) { return d == 0 ? 0 : powf(fabsf(d), 2.4f); }

void gn_clip_search_asym(float *step, float *zp, const float *x, size_t n, int bits)
{
    float M = -INFINITY, m = INFINITY;
    for (size_t i = 0; i < n; i++) {
        if (x[i] > M) M = x[i];
        if (x[i] < m) m = x[i];
    }
    float qmax = (float)((1 << bits) - 1);
    double best = INFINITY;
    float bs = 1, bz = 0;
    for (int k = 100; k >= 1; k--) {
        float r = (float)k / 100.0f;
        float d = r * (M - m) / qmax;
        if (!(d > 1e-12f)) d = 1e-12f;
        float z = nearbyintf(-r * m / d);
        double sc = 0;
        for (size_t i = 0; i < n; i++) {
            float q = nearbyintf(x[i] / d) + z;
            q = q < 0 ? 0 : q > qmax ? qmax : q;
            sc += lp24(x[i] - (q - z) * d);
        }
        sc /= (double)n;
        if (sc < best) best = sc, bs = d, bz = z;
    }
    *step = bs;
    *zp = bz;
}

void gn_aquant_range(int bits, int is_signed, float *qn, float *qp)
{
    if (is_signed) {
        *qn = -(float)(1 << (bits - 1));
        *qp = (float)((1 << (bits - 1)) - 1);
    } else {
        *qn = 0;
        *qp = (float)((1 << bits) - 1);
    }
}

float gn_clip_search_act(const float *x, size_t n, int bits, int is_signed)
{
    float M = 0;
    for (size_t i = 0; i < n; i++)
        if (fabsf(x[i]) > M) M = fabsf(x[i]);
    float m = is_signed ? -M : 0, qn, qp;
    gn_aquant_range(bits, is_signed, &qn, &qp);
    /* zeros quantise to zero at every step: they add nothing to any score
     * (but count in the mean, which does not change the argmin) */
    float *nz = gn_xmalloc((n ? n : 1) * sizeof(float));
    size_t k0 = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0) nz[k0++] = x[i];
    float qmax = (float)((1 << bits) - 1);
    double best = INFINITY;
    float bs = 1;
    for (int k = 100; k >= 1; k--) {
        float r = (float)k / 100.0f;
        float d = r * (M - m) / qmax;
        if (!(d > 1e-12f)) d = 1e-12f;
        double sc = 0;
        for (size_t i = 0; i < k0; i++) {
            float q = nz[i] / d;
            q = nearbyintf(q < qn ? qn : q > qp ? qp : q);
            sc += lp24(nz[i] - q * d);
        }
        sc /= (double)n;
        if (sc < best) best = sc, bs = d;
    }
    free(nz);
    return bs;
}

void gn_wquant_forward(float *wq, const float *wfloor, const float *v, const float *step,
                       const float *zp, int soft, const gn_wq_shape *s)
{
    float qmax = (float)((1 << s->bits) - 1);
    for (int c = 0; c < s->Cout; c++) {
        size_t o = (size_t)c * s->K;
        float d = step[c], z = zp[c];
        for (size_t i = o; i < o + s->K; i++) {
            float h = soft ? gn_rsig(v[i]) : (v[i] >= 0 ? 1.0f : 0.0f);
            float q = wfloor[i] + h + z;
            q = q < 0 ? 0 : q > qmax ? qmax : q;
            wq[i] = (q - z) * d;
        }
    }
}

void gn_wquant_backward(float *dstep, float *dv, const float *dwq, const float *wfloor,
                        const float *v, const float *step, const float *zp,
                        const gn_wq_shape *s)
{
    float qmax = (float)((1 << s->bits) - 1);
    for (int c = 0; c < s->Cout; c++) {
        size_t o = (size_t)c * s->K;
        float d = step[c], z = zp[c];
        double ds = 0;
        for (size_t i = o; i < o + s->K; i++) {
            float h = gn_rsig(v[i]);
            float u = wfloor[i] + h + z;
            float q = u < 0 ? 0 : u > qmax ? qmax : u;
            ds += (double)dwq[i] * (q - z);
            if (dv && u >= 0 && u <= qmax) dv[i] += dwq[i] * d * gn_rsig_grad(v[i]);
        }
        if (dstep) dstep[c] += (float)ds;
    }
}

void gn_wquant_init(float *wfloor, float *v, const float *w, const float *step,
                    const gn_wq_shape *s)
{
    for (int c = 0; c < s->Cout; c++)
        for (size_t i = (size_t)c * s->K; i < (size_t)(c + 1) * s->K; i++) {
            float t = w[i] / step[c];
            float f = floorf(t);
            float r = t - f;
            /* keep r strictly inside (0,1) so v is finite */
            if (r < 1e-6f) r = 1e-6f;
            if (r > 1 - 1e-6f) r = 1 - 1e-6f;
            wfloor[i] = f;
            v[i] = gn_rsig_inv(r);
        }
}

void gn_wquant_codes(uint8_t *q, const float *wfloor, const float *v, const float *zp,
                     const gn_wq_shape *s)
{
    float qmax = (float)((1 << s->bits) - 1);
    for (int c = 0; c < s->Cout; c++)
        for (size_t i = (size_t)c * s->K; i < (size_t)(c + 1) * s->K; i++) {
            float u = wfloor[i] + (v[i] >= 0 ? 1.0f : 0.0f) + zp[c];
            u = u < 0 ? 0 : u > qmax ? qmax : u;
            q[i] = (uint8_t)u;
        }
}

double gn_round_loss(float *dv, const float *v, size_t n, float beta, float scale)
{
    double L = 0;
    for (size_t i = 0; i < n; i++) {
        float h = gn_rsig(v[i]);
        float a = 2 * h - 1, aa = fabsf(a);
        L += 1.0 - pow(aa, beta);
        if (dv && aa > 0) {
            /* d/dv [1 - |2h-1|^beta] = -beta |2h-1|^(beta-1) sign(2h-1) 2 h'(v) */
            float g = -beta * powf(aa, beta - 1) * (a > 0 ? 1.0f : -1.0f) * 2.0f * gn_rsig_grad(v[i]);
            dv[i] += scale * g;
        }
    }
    return L;
}

void gn_aquant_forward(float *y, const float *x, float s, float qn, float qp,
                       const uint8_t *keep, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (keep && keep[i]) {
            y[i] = x[i];
            continue;
        }
        float t = x[i] / s;
        t = t < qn ? qn : t > qp ? qp : t;
        y[i] = nearbyintf(t) * s;
    }
}

void gn_aquant_backward(float *dx, float *ds, const float *dy, const float *x, float s,
                        float qn, float qp, const uint8_t *keep, size_t n)
{
    double g = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep && keep[i]) {
            if (dx) dx[i] += dy[i];
            continue;
        }
        float t = x[i] / s;
        if (t < qn) g += (double)dy[i] * qn;
        else if (t > qp) g += (double)dy[i] * qp;
        else {
            g += (double)dy[i] * (nearbyintf(t) - t);
            if (dx) dx[i] += dy[i];
        }
    }
    if (ds) *ds += (float)g;
}
