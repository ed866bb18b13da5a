/* gn_distill.h - Genie-D (GENIE.md section 1): synthesising a calibration
 * batch from a model's BatchNorm statistics alone, plus the two baselines
 * `distill` offers: optimising the pixels directly ("pixel") and plain
 * Gaussian noise ("noise").
 *
 * Pieces, each usable and tested on its own:
 *   - the generator, a gn_graph built in code (Linear, Reshape, BN(128),
 *     Upsample, Conv, BN(64), LeakyReLU(0.2), Upsample, Conv, Tanh,
 *     BN(C, no affine)), run with batch statistics; PyTorch's default init;
 *   - the teacher, a copy of the model with a swing node in front of every
 *     convolution whose stride is not 1, run in inference mode;
 *   - the loss kernels: BatchNorm-statistics term and input term, each
 *     returning the mean and std parts and adding its gradient;
 *   - the distiller: teacher, generator, optimisers and scratch allocated
 *     once, then any number of batches made without allocating.
 *
 * Randomness: batch k draws everything - latents, generator weights, the
 * pixel/noise initialisation, every swing offset - from one gn_rng seeded
 * with (seed, k), so a batch is the same whichever process makes it.
 *
 * Deliberate deviations from the reference (also in distill(1)):
 *   - the unbiased std of a tensor with a single element per channel is
 *     undefined (PyTorch gives NaN); such a layer is refused (B >= 2 and
 *     images of at least 2 pixels are required);
 *   - where a std is exactly 0 the std term's gradient is taken as 0
 *     (the reference would produce NaN/inf).
 * What this does not do: files, options or printing (bin/distill.c). */
#ifndef GN_DISTILL_H
#define GN_DISTILL_H

#include <stddef.h>
#include <stdint.h>

#include "gn_graph.h"
#include "gn_rng.h"
#include "gn_run.h"
#include "gn_stats.h"

typedef enum { GN_DISTILL_GENIE = 0, GN_DISTILL_PIXEL = 1, GN_DISTILL_NOISE = 2 } gn_distill_method;

typedef struct {
    gn_distill_method method;
    int batch;            /* images per batch B (>= 2) */
    int iters;            /* iterations per batch (genie, pixel) */
    int swing;            /* 1: swing convolutions on */
    uint64_t seed;
    int latent;           /* latent dimension (256) */
    float lr_z;           /* Adam lr of the latents (0.1) */
    float lr_g;           /* Adam lr of the generator (0.01) */
    float lr_x;           /* Adam lr of the pixels, method pixel (0.25) */
    float plateau_factor; /* ReduceLROnPlateau on the latents'/pixels' lr: 0.1, */
    int plateau_patience; /* 100, */
    float plateau_threshold; /* 1e-4 (relative), */
    float plateau_min_lr; /* 1e-4 */
    float g_gamma;        /* generator lr x 0.95 ... */
    int g_every;          /* ... every 100 iterations */
    float beta1, beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
    int log_every;        /* a loss row at iterations 1, 1+k, 1+2k, ... (1) */
    /* early stop (genie, pixel; off by default, a deviation from GENIE.md's
     * fixed count): stop a batch once the total loss's moving average
     * (gn_estop.h) has not improved by es_tol (relative) for early_stop
     * iterations, after at least es_min iterations; o->iters stays the cap */
    int early_stop;       /* patience in iterations; 0: off */
    int es_min;           /* 200 */
    float es_alpha;       /* 0.01: a moving average over about 100 iterations */
    float es_tol;         /* 1e-3 */
    int products;         /* the teacher's convolutions: GN_PRODUCTS_FP32 (the
                           * default) or _BF16 (gn_blas_bf16.h; fp32 where the
                           * CPU lacks bf16) */
} gn_distill_opts;

/* The defaults of GENIE.md (method genie, B 128, 4000 iterations, swing on,
 * seed 0, log every iteration). */
void gn_distill_defaults(gn_distill_opts *o);
/* Rows of loss history one batch produces: ceil(iters/log_every), or 1 for
 * noise (the loss of the noise batch, as "iteration 1"). */
int gn_distill_log_rows(const gn_distill_opts *o);
const char *gn_distill_method_name(gn_distill_method m);
/* -1 if unknown */
int gn_distill_method_from_name(const char *s);

/* ---- generator ----------------------------------------------------------- */

/* Builds the generator for C x H x W images (H, W divisible by 4; GENIE.md
 * says S x S, a rectangle works the same way) from a latent of `latent`
 * values; finalized, weights zero. Input tensor "z" (latent,1,1), output
 * "x" (C,H,W). Returns 0 or an error naming the shape. */
int gn_generator_build(gn_graph **out, int C, int H, int W, int latent);
/* PyTorch's default initialisation from rng: Linear/Conv weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BatchNorm gamma 1, beta 0. */
void gn_generator_init(gn_graph *g, gn_rng *rng);

/* ---- teacher ------------------------------------------------------------- */

/* A copy of `model` (finalized) with, when `swing`, a swing node in front of
 * every convolution whose stride is not 1 (input tensor NAME becomes
 * NAME~swing~CONV). *nswing receives the count (may be NULL). The model is
 * not modified. Returns NULL with an error when the copy cannot be
 * finalized. */
gn_graph *gn_teacher_build(const gn_graph *model, int swing, int *nswing);

/* ---- loss kernels -------------------------------------------------------- */

/* BatchNorm-statistics term of one tensor x (B,C,HW) with n = B*HW >= 2:
 * m_c, s_c = mean and unbiased std over batch and space;
 *   *mterm = sum_c (mu_c - m_c)^2 / C,  *sterm = sum_c (sd_c - s_c)^2 / C,
 * and, when dx is not NULL, dx (B,C,HW) += scale * d(mterm + sterm)/dx.
 * ws: 4*C doubles of scratch. */
void gn_bnloss_forward_backward(double *mterm, double *sterm, float *dx, const float *x,
                                const float *mu, const float *sd, int B, int C, int HW,
                                float scale, double *ws);
/* The same with dx's first-writer form (gn_ops.h): dx = 0 + the gradient,
 * the bits adding it into a zeroed dx gives, without reading dx. */
void gn_bnloss_forward_backward_set(double *mterm, double *sterm, float *dx, const float *x,
                                    const float *mu, const float *sd, int B, int C, int HW,
                                    float scale, double *ws);
/* Input term of images x (B,C,HW), HW >= 2: m_ic, s_ic = mean and unbiased
 * std of image i, channel c over space;
 *   *mterm = sum_ic m_ic^2 / B,  *sterm = sum_ic (1 - s_ic)^2 / B,
 * and dx (B,C,HW) += scale * gradient when dx is not NULL. */
void gn_inputloss_forward_backward(double *mterm, double *sterm, float *dx, const float *x,
                                   int B, int C, int HW, float scale);

/* ---- the distiller ------------------------------------------------------- */

typedef struct gn_distiller gn_distiller;

/* Called after every iteration: it counts from 1 within the batch; lr_a is
 * the latents' (genie) or pixels' (pixel) learning rate, lr_b the
 * generator's (0 for pixel). */
typedef void (*gn_distill_cb)(void *arg, long it, double total, double mterm, double sterm,
                              double lr_a, double lr_b);

/* Prepares everything for batches of o->batch images of `model`'s input
 * shape with targets `st` (which must match the model: gn_bnstats_match).
 * Fails on a model without BatchNorm, an input not divisible by 4 (genie),
 * an image or BatchNorm tensor too small for an unbiased std. The model is
 * copied; it may be freed afterwards. */
int gn_distiller_new(gn_distiller **out, const gn_graph *model, const gn_bnstats *st,
                     const gn_distill_opts *o);
void gn_distiller_free(gn_distiller *d);
/* Makes batch k: x (B,C,H,W) receives the images (the generator's output at
 * the last iteration, or the pixels as evaluated at the last iteration;
 * with early stop, the iteration it stopped at, the same images the full
 * run has there), loss (gn_distill_log_rows x 3: total, mean term, std
 * term) the history (NaN in rows after an early stop).
 * cb may be NULL. Allocates nothing. Returns 0 (no failure mode left). */
int gn_distiller_batch(gn_distiller *d, uint64_t k, float *x, float *loss, gn_distill_cb cb,
                       void *arg);
/* The loss of images x (b <= B images) through the teacher (swing offsets
 * drawn from the distiller's current stream when swing is on); when dx is
 * not NULL it receives (is overwritten with) the gradient. Returns the
 * total; *mterm and *sterm the parts. Allocates nothing. */
double gn_distiller_loss(gn_distiller *d, const float *x, int b, float *dx, double *mterm,
                         double *sterm);
/* How the last batch ended: iterations run, and whether early stop ended it
 * (then the criterion's moving average and best average, and the
 * iteration of that best). */
typedef struct {
    long iters;
    int stopped;
    double ema, best;
    long best_at;
} gn_distill_stop;
const gn_distill_stop *gn_distiller_stop(const gn_distiller *d);
/* The teacher run (for tests: swing offsets, activations). */
gn_run *gn_distiller_teacher(gn_distiller *d);
/* Bytes held (runs, optimiser state, scratch). */
size_t gn_distiller_bytes(const gn_distiller *d);

#endif
