/* gn_quant.h - Genie-M's quantisers as kernels (GENIE.md section 2):
 * per-output-channel asymmetric weight quantiser with fixed floor integers,
 * learned step and AdaRound's rectified-sigmoid rounding; per-tensor
 * activation quantiser with a learned step (straight-through estimator) and
 * QDrop; the clipping search that initialises both.
 * Conventions as gn_ops.h: backward ADDS, NULL gradients are skipped.
 * What this does not do: decide where quantisers go (qmodel.c). */
#ifndef GN_QUANT_H
#define GN_QUANT_H

#include <stddef.h>
#include <stdint.h>

#define GN_RS_GAMMA (-0.1f)
#define GN_RS_ZETA 1.1f

/* rectified sigmoid h(v) = clamp(sigmoid(v)(zeta-gamma)+gamma, 0, 1) */
float gn_rsig(float v);
/* dh/dv (0 where h is clamped) */
float gn_rsig_grad(float v);
/* v with h(v) = r for r in [0,1): v = -log((zeta-gamma)/(r-gamma) - 1) */
float gn_rsig_inv(float r);

/* Clipping search (GENIE.md): for r = 1.00, 0.99, ... 0.01 try
 * step = r(M-m)/(2^b-1), zp = round(-r m/step), score = mean |x-Q(x)|^2.4 over
 * the n values, and keep the best. Weight form: asymmetric grid 0..2^b-1. */
void gn_clip_search_asym(float *step, float *zp, const float *x, size_t n, int bits);
/* Activation form: symmetric, M = max|x|; signed: m = -M, grid
 * [-2^(b-1), 2^(b-1)-1]; unsigned: m = 0, grid [0, 2^b-1]. Returns the step. */
float gn_clip_search_act(const float *x, size_t n, int bits, int is_signed);

/* ---- weight quantiser: w (Cout, K) per output channel ------------------- */
typedef struct {
    int Cout;
    size_t K;  /* elements per output channel */
    int bits;
} gn_wq_shape;

/* wq = (clamp(wfloor + h + zp, 0, 2^b-1) - zp) * step, with h = h(v) when
 * soft, [v >= 0] when not. */
void gn_wquant_forward(float *wq, const float *wfloor, const float *v, const float *step,
                       const float *zp, int soft, const gn_wq_shape *s);
/* dstep (Cout) += sum dwq*(q-zp); dv += dwq*step*h'(v) inside the grid (soft
 * rounding only). */
void gn_wquant_backward(float *dstep, float *dv, const float *dwq, const float *wfloor,
                        const float *v, const float *step, const float *zp,
                        const gn_wq_shape *s);
/* Initialises wfloor = floor(w/step) and v = h^-1(w/step - floor(w/step)). */
void gn_wquant_init(float *wfloor, float *v, const float *w, const float *step,
                    const gn_wq_shape *s);
/* Integer codes q = clamp(wfloor + [v>=0] + zp, 0, 2^b-1) (hard rounding). */
void gn_wquant_codes(uint8_t *q, const float *wfloor, const float *v, const float *zp,
                     const gn_wq_shape *s);
/* x^p for x in [0,1] and p >= 0, to about 1e-7 * (1 + |p ln x|) relative
 * (exp(p ln x) in Cephes' polynomials; the rounding loss's gradient). */
float gn_powf01(float x, float p);
/* Rounding regulariser sum(1 - |2h(v)-1|^beta); dv += scale * its gradient
 * when dv is not NULL. */
double gn_round_loss(float *dv, const float *v, size_t n, float beta, float scale);

/* The same with the sigmoid sg = 1/(1+exp(-v)) computed once per weight
 * (gn_rsig_sigmoid) and shared by the forward, the backward and the
 * rounding loss of one step: bit-identical to the functions above, which
 * are their reference twins, with one expf per weight instead of five. */
void gn_rsig_sigmoid(float *sg, const float *v, size_t n);
/* soft rounding only */
void gn_wquant_forward_sg(float *wq, const float *wfloor, const float *sg, const float *step,
                          const float *zp, const gn_wq_shape *s);
void gn_wquant_backward_sg(float *dstep, float *dv, const float *dwq, const float *wfloor,
                           const float *sg, const float *step, const float *zp,
                           const gn_wq_shape *s);
/* dv += scale * the rounding loss's gradient; returns the loss when
 * want_loss (its pow in double is most of the cost), else 0. */
double gn_round_loss_sg(float *dv, const float *sg, size_t n, float beta, float scale,
                        int want_loss);

/* ---- activation quantiser ------------------------------------------------ */
/* QDrop masks are bit sets: element i is kept (passes unquantised) when bit
 * i%64 of keep[i/64] is set; keep may be NULL (nothing kept). This is the
 * order in which gn_rng_u64 words fill them, 64 elements a word. */
static inline int gn_keep_bit(const uint64_t *keep, size_t i)
{
    return keep && ((keep[i >> 6] >> (i & 63)) & 1);
}
/* y = round(clamp(x/s, qn, qp)) * s, or x where kept (QDrop). */
void gn_aquant_forward(float *y, const float *x, float s, float qn, float qp,
                       const uint64_t *keep, size_t n);
/* dx += dy inside the range or kept, 0 outside; ds += dy*(q - x/s) inside,
 * dy*q outside (kept elements contribute nothing). Every term dy*(...) is
 * exact in double; the fast kernel sums them in 8 running partial sums
 * (deterministic, and within a few ulp of double of the plain sum). */
void gn_aquant_backward(float *dx, float *ds, const float *dy, const float *x, float s,
                        float qn, float qp, const uint64_t *keep, size_t n);
/* The reference twins: plain loops, one running double sum. */
void gn_aquant_forward_ref(float *y, const float *x, float s, float qn, float qp,
                           const uint64_t *keep, size_t n);
void gn_aquant_backward_ref(float *dx, float *ds, const float *dy, const float *x, float s,
                            float qn, float qp, const uint64_t *keep, size_t n);
/* QDrop on a unit's input: y = x1 where the bit is set, else x0 (bits as
 * the keep masks above). */
void gn_select_bits(float *y, const float *x0, const float *x1, const uint64_t *bits, size_t n);
void gn_select_bits_ref(float *y, const float *x0, const float *x1, const uint64_t *bits,
                        size_t n);
/* The grid of an activation quantiser. */
void gn_aquant_range(int bits, int is_signed, float *qn, float *qp);

#endif
