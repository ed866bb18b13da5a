/* op_quant.c - quantiser kernels (see gn_quant.h). Plain loops for the
 * weight quantiser (weights are small); the activation quantiser, which
 * runs on whole activations every reconstruction step, also has AVX2
 * kernels beside its reference twins. */
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

/* ---- x^p for x in [0,1], p >= 0: the rounding loss's gradient ----------------
 * |2h-1|^(beta-1) for every weight of a unit every step was the largest cost
 * of a reconstruction step after the convolutions when it called libm's
 * powf. This is exp(p ln x) with Cephes' single-precision logf and expf
 * polynomials, in plain multiplies and adds so that the AVX2 kernel below
 * repeats it lane by lane, bit for bit. Relative error about 1e-7 * (1 +
 * |p ln x|) (tests/unit/test_quant.c checks it against double pow); results
 * below 2^-126 are 0. */
#define PW_SQRTHF 0.707106781186547524f
#define PW_LN_C1 0.693359375f
#define PW_LN_C2 -2.12194440e-4f

float gn_powf01(float x, float p)
{
    if (!(x > 0)) return p == 0 ? 1.0f : 0.0f;
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    float e = (float)((int)(u >> 23) - 126); /* x = m 2^e, m in [0.5, 1) */
    u = (u & 0x007fffffu) | 0x3f000000u;
    float m;
    memcpy(&m, &u, sizeof m);
    if (m < PW_SQRTHF) {
        e = e - 1.0f;
        m = m + m - 1.0f;
    } else {
        m = m - 1.0f;
    }
    float z = m * m;
    float y = 7.0376836292e-2f;
    y = y * m + -1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m + -1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m + -1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m + -2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    y = y + e * PW_LN_C2;
    y = y + -0.5f * z;
    float t = p * (m + y + e * PW_LN_C1); /* p ln x <= 0 */
    if (t < -87.0f) return 0.0f;
    float n = floorf(t * 1.44269504088896341f + 0.5f);
    float r = t - n * PW_LN_C1 - n * PW_LN_C2;
    float q = 1.9875691500e-4f;
    q = q * r + 1.3981999507e-3f;
    q = q * r + 8.3334519073e-3f;
    q = q * r + 4.1665795894e-2f;
    q = q * r + 1.6666665459e-1f;
    q = q * r + 5.0000001201e-1f;
    q = q * r * r + r + 1.0f;
    uint32_t b = (uint32_t)((int)n + 127) << 23;
    float two_n;
    memcpy(&two_n, &b, sizeof two_n);
    return q * two_n;
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
            float g = -beta * gn_powf01(aa, beta - 1) * (a > 0 ? 1.0f : -1.0f) * 2.0f * gn_rsig_grad(v[i]);
            dv[i] += scale * g;
        }
    }
    return L;
}

/* ---- soft rounding from a cached sigmoid ------------------------------------
 * The expressions of gn_rsig / gn_rsig_grad with their common sigmoid
 * factored out: the same float operations in the same order. */

static inline float rs_h(float sg)
{
    float h = sg * (GN_RS_ZETA - GN_RS_GAMMA) + GN_RS_GAMMA;
    return h < 0 ? 0 : h > 1 ? 1 : h;
}

static inline float rs_grad(float sg)
{
    float h = sg * (GN_RS_ZETA - GN_RS_GAMMA) + GN_RS_GAMMA;
    if (h < 0 || h > 1) return 0;
    return sg * (1 - sg) * (GN_RS_ZETA - GN_RS_GAMMA);
}

void gn_rsig_sigmoid(float *sg, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) sg[i] = 1.0f / (1.0f + expf(-v[i]));
}

static void wq_fwd_sg_plain(float *wq, const float *wfloor, const float *sg, const float *step,
                            const float *zp, const gn_wq_shape *s)
{
    float qmax = (float)((1 << s->bits) - 1);
    for (int c = 0; c < s->Cout; c++) {
        size_t o = (size_t)c * s->K;
        float d = step[c], z = zp[c];
        for (size_t i = o; i < o + s->K; i++) {
            float q = wfloor[i] + rs_h(sg[i]) + z;
            q = q < 0 ? 0 : q > qmax ? qmax : q;
            wq[i] = (q - z) * d;
        }
    }
}

static void wq_bwd_sg_plain(float *dstep, float *dv, const float *dwq, const float *wfloor,
                            const float *sg, const float *step, const float *zp,
                            const gn_wq_shape *s)
{
    float qmax = (float)((1 << s->bits) - 1);
    for (int c = 0; c < s->Cout; c++) {
        size_t o = (size_t)c * s->K;
        float d = step[c], z = zp[c];
        double ds = 0;
        for (size_t i = o; i < o + s->K; i++) {
            float u = wfloor[i] + rs_h(sg[i]) + z;
            float q = u < 0 ? 0 : u > qmax ? qmax : u;
            ds += (double)dwq[i] * (q - z);
            if (dv && u >= 0 && u <= qmax) dv[i] += dwq[i] * d * rs_grad(sg[i]);
        }
        if (dstep) dstep[c] += (float)ds;
    }
}

static double round_sg_plain(float *dv, const float *sg, size_t n, float beta, float scale,
                             int want_loss)
{
    double L = 0;
    for (size_t i = 0; i < n; i++) {
        float h = rs_h(sg[i]);
        float a = 2 * h - 1, aa = fabsf(a);
        if (want_loss) L += 1.0 - pow(aa, beta);
        if (dv && aa > 0) {
            float g = -beta * gn_powf01(aa, beta - 1) * (a > 0 ? 1.0f : -1.0f) * 2.0f * rs_grad(sg[i]);
            dv[i] += scale * g;
        }
    }
    return L;
}

/* ---- activation quantiser: reference twins --------------------------------- */

void gn_aquant_forward_ref(float *y, const float *x, float s, float qn, float qp,
                           const uint64_t *keep, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (gn_keep_bit(keep, i)) {
            y[i] = x[i];
            continue;
        }
        float t = x[i] / s;
        t = t < qn ? qn : t > qp ? qp : t;
        y[i] = nearbyintf(t) * s;
    }
}

/* one element of the backward; returns its ds term dy*(q - x/s) or dy*q
 * (exact in double), 0 when kept */
static inline double aq_bwd1(float *dx, const float *dy, const float *x, float s, float qn,
                             float qp, const uint64_t *keep, size_t i)
{
    if (gn_keep_bit(keep, i)) {
        if (dx) dx[i] += dy[i];
        return 0;
    }
    float t = x[i] / s;
    if (t < qn) return (double)dy[i] * qn;
    if (t > qp) return (double)dy[i] * qp;
    if (dx) dx[i] += dy[i];
    return (double)dy[i] * (nearbyintf(t) - t);
}

void gn_aquant_backward_ref(float *dx, float *ds, const float *dy, const float *x, float s,
                            float qn, float qp, const uint64_t *keep, size_t n)
{
    double g = 0;
    for (size_t i = 0; i < n; i++) g += aq_bwd1(dx, dy, x, s, qn, qp, keep, i);
    if (ds) *ds += (float)g;
}

void gn_select_bits_ref(float *y, const float *x0, const float *x1, const uint64_t *bits,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) y[i] = gn_keep_bit(bits, i) ? x1[i] : x0[i];
}

/* ---- activation quantiser: AVX2 kernels, 8 elements a step ------------------
 * The same operations as the twins lane by lane (divide, compare-and-blend
 * clamp that keeps NaN as the scalar code does, round to nearest even,
 * multiply), so y and dx are bit-identical to them; only ds's double sum
 * runs in 8 partial sums. Chosen at run time (cpuid); elsewhere the twins
 * run. Tails shorter than 8 go through the twins' scalar code. */
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define AQ_AVX2 1

/* lane k set when bit i+k of the mask is (i a multiple of 8) */
__attribute__((target("avx2"))) static inline __m256 keep8(const uint64_t *keep, size_t i)
{
    if (!keep) return _mm256_setzero_ps();
    const int byte = (int)((keep[i >> 6] >> (i & 63)) & 0xff);
    const __m256i sel = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256i m = _mm256_and_si256(_mm256_set1_epi32(byte), sel);
    return _mm256_castsi256_ps(_mm256_cmpeq_epi32(m, sel));
}

__attribute__((target("avx2"))) static void aq_fwd_avx2(float *y, const float *x, float s,
                                                         float qn, float qp,
                                                         const uint64_t *keep, size_t n)
{
    const __m256 vs = _mm256_set1_ps(s), vn = _mm256_set1_ps(qn), vp = _mm256_set1_ps(qp);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 xv = _mm256_loadu_ps(x + i);
        __m256 t = _mm256_div_ps(xv, vs);
        t = _mm256_blendv_ps(t, vn, _mm256_cmp_ps(t, vn, _CMP_LT_OQ));
        t = _mm256_blendv_ps(t, vp, _mm256_cmp_ps(t, vp, _CMP_GT_OQ));
        __m256 q = _mm256_mul_ps(_mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), vs);
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(q, xv, keep8(keep, i)));
    }
    gn_aquant_forward_ref(y + i, x + i, s, qn, qp, NULL, n - i);
    for (; i < n; i++)
        if (gn_keep_bit(keep, i)) y[i] = x[i];
}

__attribute__((target("avx2"))) static void aq_bwd_avx2(float *dx, float *ds, const float *dy,
                                                         const float *x, float s, float qn,
                                                         float qp, const uint64_t *keep,
                                                         size_t n)
{
    const __m256 vs = _mm256_set1_ps(s), vn = _mm256_set1_ps(qn), vp = _mm256_set1_ps(qp);
    __m256d g0 = _mm256_setzero_pd(), g1 = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(dy + i), k = keep8(keep, i);
        const __m256 t = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
        const __m256 lt = _mm256_cmp_ps(t, vn, _CMP_LT_OQ), gt = _mm256_cmp_ps(t, vp, _CMP_GT_OQ);
        /* f = q - x/s inside, qn below, qp above, 0 where kept */
        __m256 f = _mm256_sub_ps(_mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), t);
        f = _mm256_blendv_ps(f, vp, gt);
        f = _mm256_blendv_ps(f, vn, lt);
        f = _mm256_andnot_ps(k, f);
        if (ds) {
            g0 = _mm256_add_pd(g0, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(g)),
                                                 _mm256_cvtps_pd(_mm256_castps256_ps128(f))));
            g1 = _mm256_add_pd(g1, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(g, 1)),
                                                 _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1))));
        }
        if (dx) {
            /* pass where kept or inside; elsewhere dx is left as it is */
            const __m256 pass = _mm256_or_ps(k, _mm256_andnot_ps(_mm256_or_ps(lt, gt), _mm256_castsi256_ps(_mm256_set1_epi32(-1))));
            const __m256 d = _mm256_loadu_ps(dx + i);
            _mm256_storeu_ps(dx + i, _mm256_blendv_ps(d, _mm256_add_ps(d, g), pass));
        }
    }
    double a[8];
    _mm256_storeu_pd(a, g0);
    _mm256_storeu_pd(a + 4, g1);
    double sum = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
    for (; i < n; i++) sum += aq_bwd1(dx, dy, x, s, qn, qp, keep, i);
    if (ds) *ds += (float)sum;
}

__attribute__((target("avx2"))) static void sel_avx2(float *y, const float *x0, const float *x1,
                                                      const uint64_t *bits, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(_mm256_loadu_ps(x0 + i), _mm256_loadu_ps(x1 + i),
                                                 keep8(bits, i)));
    for (; i < n; i++) y[i] = gn_keep_bit(bits, i) ? x1[i] : x0[i];
}

static int have_avx2(void) { return __builtin_cpu_supports("avx2"); }
#else
#define AQ_AVX2 0
static int have_avx2(void) { return 0; }
#endif

void gn_aquant_forward(float *y, const float *x, float s, float qn, float qp,
                       const uint64_t *keep, size_t n)
{
#if AQ_AVX2
    if (have_avx2()) {
        aq_fwd_avx2(y, x, s, qn, qp, keep, n);
        return;
    }
#endif
    gn_aquant_forward_ref(y, x, s, qn, qp, keep, n);
}

void gn_aquant_backward(float *dx, float *ds, const float *dy, const float *x, float s,
                        float qn, float qp, const uint64_t *keep, size_t n)
{
#if AQ_AVX2
    if (have_avx2()) {
        aq_bwd_avx2(dx, ds, dy, x, s, qn, qp, keep, n);
        return;
    }
#endif
    gn_aquant_backward_ref(dx, ds, dy, x, s, qn, qp, keep, n);
}

void gn_select_bits(float *y, const float *x0, const float *x1, const uint64_t *bits, size_t n)
{
#if AQ_AVX2
    if (have_avx2()) {
        sel_avx2(y, x0, x1, bits, n);
        return;
    }
#endif
    gn_select_bits_ref(y, x0, x1, bits, n);
}

/* ---- soft rounding from a cached sigmoid: AVX2 kernels ------------------------
 * Lane by lane the operations of the plain loops above (compare-and-blend
 * clamps, no FMA contraction), 8 weights a step; the channel's step
 * gradient is still summed in double one term after the other, in order,
 * so every result is bit-identical. */
#if AQ_AVX2
#define RS_C (GN_RS_ZETA - GN_RS_GAMMA)

/* clamp(v, lo, hi) as v < lo ? lo : v > hi ? hi : v */
__attribute__((target("avx2"))) static inline __m256 clamp8(__m256 v, __m256 lo, __m256 hi)
{
    v = _mm256_blendv_ps(v, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
    return _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
}

/* rs_grad of 8 sigmoids */
__attribute__((target("avx2"))) static inline __m256 rs_grad8(__m256 sg)
{
    const __m256 h = _mm256_add_ps(_mm256_mul_ps(sg, _mm256_set1_ps(RS_C)), _mm256_set1_ps(GN_RS_GAMMA));
    const __m256 out = _mm256_or_ps(_mm256_cmp_ps(h, _mm256_setzero_ps(), _CMP_LT_OQ),
                                    _mm256_cmp_ps(h, _mm256_set1_ps(1.0f), _CMP_GT_OQ));
    const __m256 g = _mm256_mul_ps(_mm256_mul_ps(sg, _mm256_sub_ps(_mm256_set1_ps(1.0f), sg)),
                                   _mm256_set1_ps(RS_C));
    return _mm256_andnot_ps(out, g);
}

/* rs_h of 8 sigmoids */
__attribute__((target("avx2"))) static inline __m256 rs_h8(__m256 sg)
{
    const __m256 h = _mm256_add_ps(_mm256_mul_ps(sg, _mm256_set1_ps(RS_C)), _mm256_set1_ps(GN_RS_GAMMA));
    return clamp8(h, _mm256_setzero_ps(), _mm256_set1_ps(1.0f));
}

__attribute__((target("avx2"))) static void wq_fwd_sg_avx2(float *wq, const float *wfloor,
                                                            const float *sg, const float *step,
                                                            const float *zp, const gn_wq_shape *s)
{
    const __m256 zero = _mm256_setzero_ps(), vq = _mm256_set1_ps((float)((1 << s->bits) - 1));
    for (int c = 0; c < s->Cout; c++) {
        const size_t o = (size_t)c * s->K, e = o + s->K;
        const __m256 d = _mm256_set1_ps(step[c]), z = _mm256_set1_ps(zp[c]);
        size_t i = o;
        for (; i + 8 <= e; i += 8) {
            __m256 q = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(wfloor + i), rs_h8(_mm256_loadu_ps(sg + i))), z);
            q = clamp8(q, zero, vq);
            _mm256_storeu_ps(wq + i, _mm256_mul_ps(_mm256_sub_ps(q, z), d));
        }
        const float qmax = (float)((1 << s->bits) - 1), dd = step[c], zz = zp[c];
        for (; i < e; i++) {
            float q = wfloor[i] + rs_h(sg[i]) + zz;
            q = q < 0 ? 0 : q > qmax ? qmax : q;
            wq[i] = (q - zz) * dd;
        }
    }
}

__attribute__((target("avx2"))) static void wq_bwd_sg_avx2(float *dstep, float *dv,
                                                            const float *dwq, const float *wfloor,
                                                            const float *sg, const float *step,
                                                            const float *zp, const gn_wq_shape *s)
{
    const float qmax = (float)((1 << s->bits) - 1);
    const __m256 zero = _mm256_setzero_ps(), vq = _mm256_set1_ps(qmax);
    for (int c = 0; c < s->Cout; c++) {
        const size_t o = (size_t)c * s->K, e = o + s->K;
        const float dd = step[c], zz = zp[c];
        const __m256 d = _mm256_set1_ps(dd), z = _mm256_set1_ps(zz);
        double ds = 0;
        size_t i = o;
        for (; i + 8 <= e; i += 8) {
            const __m256 sgv = _mm256_loadu_ps(sg + i), g = _mm256_loadu_ps(dwq + i);
            const __m256 u = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(wfloor + i), rs_h8(sgv)), z);
            const __m256 qz = _mm256_sub_ps(clamp8(u, zero, vq), z);
            /* the terms dwq*(q-z) are exact in double; add them in order */
            double t[8];
            _mm256_storeu_pd(t, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(g)),
                                              _mm256_cvtps_pd(_mm256_castps256_ps128(qz))));
            _mm256_storeu_pd(t + 4, _mm256_mul_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(g, 1)),
                                                  _mm256_cvtps_pd(_mm256_extractf128_ps(qz, 1))));
            for (int k = 0; k < 8; k++) ds += t[k];
            if (dv) {
                const __m256 in = _mm256_and_ps(_mm256_cmp_ps(u, zero, _CMP_GE_OQ),
                                                _mm256_cmp_ps(u, vq, _CMP_LE_OQ));
                const __m256 old = _mm256_loadu_ps(dv + i);
                const __m256 nw = _mm256_add_ps(old, _mm256_mul_ps(_mm256_mul_ps(g, d), rs_grad8(sgv)));
                _mm256_storeu_ps(dv + i, _mm256_blendv_ps(old, nw, in));
            }
        }
        for (; i < e; i++) {
            float u = wfloor[i] + rs_h(sg[i]) + zz;
            float q = u < 0 ? 0 : u > qmax ? qmax : u;
            ds += (double)dwq[i] * (q - zz);
            if (dv && u >= 0 && u <= qmax) dv[i] += dwq[i] * dd * rs_grad(sg[i]);
        }
        if (dstep) dstep[c] += (float)ds;
    }
}

/* gn_powf01 of 8 lanes, operation for operation */
__attribute__((target("avx2"))) static inline __m256 powf01_8(__m256 x, float p)
{
    const __m256i u = _mm256_castps_si256(x);
    __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_srli_epi32(u, 23), _mm256_set1_epi32(126)));
    __m256 m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(u, _mm256_set1_epi32(0x007fffff)),
                                                   _mm256_set1_epi32(0x3f000000)));
    const __m256 lo = _mm256_cmp_ps(m, _mm256_set1_ps(PW_SQRTHF), _CMP_LT_OQ);
    const __m256 one = _mm256_set1_ps(1.0f);
    e = _mm256_blendv_ps(e, _mm256_sub_ps(e, one), lo);
    m = _mm256_blendv_ps(_mm256_sub_ps(m, one), _mm256_sub_ps(_mm256_add_ps(m, m), one), lo);
    const __m256 z = _mm256_mul_ps(m, m);
#define PW_STEP(acc, v, c) acc = _mm256_add_ps(_mm256_mul_ps(acc, v), _mm256_set1_ps(c))
    __m256 y = _mm256_set1_ps(7.0376836292e-2f);
    PW_STEP(y, m, -1.1514610310e-1f);
    PW_STEP(y, m, 1.1676998740e-1f);
    PW_STEP(y, m, -1.2420140846e-1f);
    PW_STEP(y, m, 1.4249322787e-1f);
    PW_STEP(y, m, -1.6668057665e-1f);
    PW_STEP(y, m, 2.0000714765e-1f);
    PW_STEP(y, m, -2.4999993993e-1f);
    PW_STEP(y, m, 3.3333331174e-1f);
    y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
    y = _mm256_add_ps(y, _mm256_mul_ps(e, _mm256_set1_ps(PW_LN_C2)));
    y = _mm256_add_ps(y, _mm256_mul_ps(_mm256_set1_ps(-0.5f), z));
    const __m256 t = _mm256_mul_ps(_mm256_set1_ps(p), _mm256_add_ps(_mm256_add_ps(m, y),
                                                                    _mm256_mul_ps(e, _mm256_set1_ps(PW_LN_C1))));
    const __m256 under = _mm256_cmp_ps(t, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    const __m256 n = _mm256_floor_ps(_mm256_add_ps(_mm256_mul_ps(t, _mm256_set1_ps(1.44269504088896341f)),
                                                   _mm256_set1_ps(0.5f)));
    const __m256 r = _mm256_sub_ps(_mm256_sub_ps(t, _mm256_mul_ps(n, _mm256_set1_ps(PW_LN_C1))),
                                   _mm256_mul_ps(n, _mm256_set1_ps(PW_LN_C2)));
    __m256 q = _mm256_set1_ps(1.9875691500e-4f);
    PW_STEP(q, r, 1.3981999507e-3f);
    PW_STEP(q, r, 8.3334519073e-3f);
    PW_STEP(q, r, 4.1665795894e-2f);
    PW_STEP(q, r, 1.6666665459e-1f);
    PW_STEP(q, r, 5.0000001201e-1f);
#undef PW_STEP
    q = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(_mm256_mul_ps(q, r), r), r), one);
    const __m256i ni = _mm256_cvttps_epi32(_mm256_blendv_ps(n, _mm256_setzero_ps(), under));
    const __m256 two_n = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
    return _mm256_andnot_ps(under, _mm256_mul_ps(q, two_n));
}

/* the gradient part only (want_loss = 0) */
__attribute__((target("avx2"))) static void round_sg_avx2(float *dv, const float *sg, size_t n,
                                                           float beta, float scale)
{
    const __m256 one = _mm256_set1_ps(1.0f), two = _mm256_set1_ps(2.0f), zero = _mm256_setzero_ps();
    const __m256 nb = _mm256_set1_ps(-beta), vs = _mm256_set1_ps(scale);
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 sgv = _mm256_loadu_ps(sg + i);
        const __m256 a = _mm256_sub_ps(_mm256_mul_ps(two, rs_h8(sgv)), one);
        const __m256 aa = _mm256_and_ps(a, absm);
        const __m256 pos = _mm256_cmp_ps(aa, zero, _CMP_GT_OQ);
        if (!_mm256_movemask_ps(pos)) continue;
        const __m256 pw = powf01_8(aa, beta - 1);
        const __m256 sign = _mm256_blendv_ps(_mm256_set1_ps(-1.0f), one, _mm256_cmp_ps(a, zero, _CMP_GT_OQ));
        __m256 g = _mm256_mul_ps(_mm256_mul_ps(nb, pw), sign);
        g = _mm256_mul_ps(_mm256_mul_ps(g, two), rs_grad8(sgv));
        const __m256 old = _mm256_loadu_ps(dv + i);
        _mm256_storeu_ps(dv + i, _mm256_blendv_ps(old, _mm256_add_ps(old, _mm256_mul_ps(vs, g)), pos));
    }
    round_sg_plain(dv + i, sg + i, n - i, beta, scale, 0);
}
#endif

void gn_wquant_forward_sg(float *wq, const float *wfloor, const float *sg, const float *step,
                          const float *zp, const gn_wq_shape *s)
{
#if AQ_AVX2
    if (have_avx2()) {
        wq_fwd_sg_avx2(wq, wfloor, sg, step, zp, s);
        return;
    }
#endif
    wq_fwd_sg_plain(wq, wfloor, sg, step, zp, s);
}

void gn_wquant_backward_sg(float *dstep, float *dv, const float *dwq, const float *wfloor,
                           const float *sg, const float *step, const float *zp,
                           const gn_wq_shape *s)
{
#if AQ_AVX2
    if (have_avx2()) {
        wq_bwd_sg_avx2(dstep, dv, dwq, wfloor, sg, step, zp, s);
        return;
    }
#endif
    wq_bwd_sg_plain(dstep, dv, dwq, wfloor, sg, step, zp, s);
}

double gn_round_loss_sg(float *dv, const float *sg, size_t n, float beta, float scale,
                        int want_loss)
{
#if AQ_AVX2
    if (dv && !want_loss && have_avx2()) {
        round_sg_avx2(dv, sg, n, beta, scale);
        return 0;
    }
#endif
    return round_sg_plain(dv, sg, n, beta, scale, want_loss);
}
