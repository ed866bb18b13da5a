/* gn_recon.h - Genie-M's block reconstruction of one unit (GENIE.md
 * section 2, "Reconstruction"): the unit's activation steps fitted at its
 * turn, QDrop on the unit input, soft rounding and QDrop inside the unit's
 * quantisers, the annealed rounding loss, Adam on weight steps / activation
 * steps (cosine-annealed) and rounding variables.
 * What this does not do: choose units, write files or print (progress goes
 * to a callback). */
#ifndef GN_RECON_H
#define GN_RECON_H

#include <stdint.h>

#include "gn_estop.h"
#include "gn_h5.h"
#include "gn_qmodel.h"
#include "gn_rng.h"

/* Progress of a unit's training loop. due(arg, it) says whether iteration
 * it (counted from 1) wants a report: the rounding loss's value is computed
 * only then and at the last iteration (NULL: never). report(arg, unit, it,
 * total, rec, round, beta) gets the iteration's reconstruction loss,
 * rounding loss (times lambda, 0 during the warm-up) and beta. */
typedef struct {
    int (*due)(void *arg, long it);
    void (*report)(void *arg, int unit, long it, long total, double rec, double round, double beta);
    void *arg;
} gn_recon_progress;

typedef struct {
    long iters;        /* 20000 */
    int batch;         /* 32 (recon-block's default is N/32, gn_recon_batch) */
    uint64_t seed;
    float lr_wstep;    /* 1e-4 */
    float lr_astep;    /* 4e-5 */
    float lr_round;    /* 1e-3 */
    float warmup;      /* 0.2: rounding loss off for this fraction */
    float beta_start, beta_end; /* 20 -> 2 */
    float lambda;      /* 1.0 */
    int input_drop;    /* 1: each input element is x (FP) or x~ with probability 1/2 */
    int qdrop;         /* QDrop inside the quantisers (1) */
    int collect_batch; /* samples per forward when collecting x, x~, y (64) */
    int lazy_steps;    /* 1: fit the unit's activation steps at its turn
                          (gn_recon_fit_steps) unless already fitted; 0: keep
                          the steps q has (calib's up-front ones) */
    /* early stop (off by default; a deviation from GENIE.md's fixed count,
     * recon-block(1)): the whole schedule (warm-up, beta 20 -> 2, the
     * steps' cosine) runs over a budget of es_budget x iters, the learning
     * rates x iters/budget (gn_recon_es_sched; a unit with an 8-bit
     * weight layer whose held-out error at the warm-up's end is above twice
     * its start's restarts with the full rate on those weight steps: the
     * guard, gn_recon_log.guard_at); the last
     * max(1, n/16) calibration samples are held out of training; from the
     * budget's end on, every es_every iterations, the unit stops at the
     * first check where its hard-rounded error on the held-out samples has
     * stopped falling (gn_recon_es_init); iters stays the cap */
    int early_stop;
    float es_budget;    /* 0.45 */
    long es_every;      /* 0: iters/200, at least 1 */
    int es_patience;    /* 1 */
    int fp_input;      /* 1: x~ is x, the FP32 model's input to the unit (the
                          unit learns as if every unit before it were exact) */
    int tight_units;   /* 1: the unit's input is taken after its leading nodes
                          without parameters (gn_recon_tight_unit) */
    int qdrop_per_consumer; /* 1: a quantiser that several nodes of the unit
                          read draws one QDrop mask per reader (0: one mask) */
    float *const *wstep_scale; /* [nn] or NULL: node j's weight steps are
                          learned in the unfolded scale, step = c*u per
                          channel with Adam on u, c = wstep_scale[j] (NULL
                          entry: as they are); gn_recon_fold_scales */
    /* a stage of the schedule (recon-block --stage; genie-parallel(7),
     * WAVEFRONT): when stage_to > 0, only iterations [stage_from, stage_to)
     * of the iters-long schedule run, with the warm-up, beta and the
     * learning rates at the global iteration; the unit starts from the
     * parameters q holds. Without resume, Adam's moments start at zero
     * and the draws come from stream (seed, K) for a stage from iteration
     * 0 (so stage 0..N is the whole run's first N iterations bit for bit),
     * stream (seed, K + 2^32 x stage_from) otherwise. With resume (the
     * state the previous stage saved, ending at stage_from), the stage
     * continues that optimiser exactly: S stages on unchanged inputs are
     * the one run bit for bit. 0, 0: the whole schedule. Not with
     * early_stop. */
    long stage_from, stage_to;
    const struct gn_recon_state *resume; /* NULL: a fresh optimiser */
    struct gn_recon_state *save; /* non-NULL: receives the state at the end (free with gn_recon_state_free) */
    const gn_recon_progress *progress; /* NULL: silent */
} gn_recon_opts;

/* The optimiser of a unit's training loop after a stage, everything the
 * loop carries from one iteration to the next but the parameters: Adam's
 * moments and step count of every learned tensor (in the loop's order:
 * weight steps, activation steps, rounding variables, each by node), the
 * unfolded weight steps Adam moves (gn_recon_opts.wstep_scale), the random
 * generator (batches, input QDrop, QDrop) and the sample order. The
 * learning rates and beta are functions of the iteration and need nothing. */
typedef struct {
    float *m, *v, *u; /* u: the unfolded step Adam moves, NULL when the tensor is learned as it is */
    size_t n;
    long t;
} gn_recon_svar;
typedef struct gn_recon_state {
    int unit, batch;
    long iters, from, to; /* the schedule, and the iterations [from, to) run so far */
    float warmup;         /* the schedule's warm-up fraction (gn_recon_opts.warmup) */
    uint64_t seed;
    gn_rng rng;
    size_t norder;
    int64_t *order;
    int nvar;
    gn_recon_svar *var;
} gn_recon_state;
void gn_recon_state_free(gn_recon_state *s);
/* Writes s into group NAME of an open HDF5 file (genie-unit(5), /optim);
 * reads it back (the file's path for messages). */
int gn_recon_state_write(hid_t f, const char *name, const gn_recon_state *s);
int gn_recon_state_read(hid_t f, const char *path, const char *name, gn_recon_state *s);

void gn_recon_defaults(gn_recon_opts *o);
/* The early stop's criterion on the held-out error, one observation per
 * check from the budget's end on: moving average weight 0.3, a fall counts
 * when 0.1% below the best, o->es_patience checks without one stop
 * (gn_estop.h). With patience 1 a unit stops one check after the budget
 * unless the error is still falling there: the held-out error extends a
 * unit, it never shortens one. */
void gn_recon_es_init(gn_estop *e, const gn_recon_opts *o);
/* The early stop's schedule: *so = *o with iters the budget (es_budget x
 * iters rounded, at least 1, at most iters) and the learning rates (of
 * the rounding variables and of the weight and activation steps)
 * multiplied by iters over the budget. Returns the budget. (The weight
 * steps of layers with 8 or more bits get o's rate back, through their
 * Adam variables' lr_scale, in a unit the early stop's guard reruns:
 * gn_recon_log.guard_at.) */
long gn_recon_es_sched(const gn_recon_opts *o, gn_recon_opts *so);

typedef struct {
    double rec_first, rec_last; /* reconstruction loss, mean over the first / last 1% of iterations */
    double round_last;          /* rounding loss at the end */
    double beta_last;           /* the rounding loss's beta at the last iteration */
    double seconds;
    double loop_seconds, loop_cpu; /* the iterations alone: wall and process CPU */
    double rec_before, rec_after; /* hard-rounded output error on the calibration set */
    int undecided;              /* soft bits with 0.01 < h < 0.99 at the end */
    long nsoft;
    /* early stop: iterations run, whether the criterion ended the unit (0:
     * it ran to the cap), held-out samples, the held-out error's moving
     * average and best (at iteration es_best_at) at the last check, and the
     * undecided share there */
    long iters_run;
    int stopped;
    long nheld, es_best_at, es_sched, es_every;
    double es_heldout, es_best, es_share;
    /* early stop's guard: the iteration (from 1) at which the unit restarted
     * with the full rate on its 8-bit weight steps (0: it did not; its
     * iterations are in iters_run), its held-out error at the start and there */
    long guard_at;
    double guard_start, guard_err;
} gn_recon_log;

/* The reconstruction loss's kernel: returns sum (yh-y)^2 over n elements
 * (in double) and sets dy = (float)(c*(yh-y)). The fast kernel gives the
 * same dy bits and sums in partial sums; the _ref twin sums in order. */
double gn_recon_sqerr(float *dy, const float *yh, const float *y, size_t n, double c);
double gn_recon_sqerr_ref(float *dy, const float *yh, const float *y, size_t n, double c);

/* The schedule at iteration t1 (counted from 1) of o->iters: the rounding
 * loss's beta (*beta; beta_start during the warm-up, and the return value
 * is 0 then, else 1) and the steps' learning rates (cosine-annealed to 0 over
 * o->iters) in *lr_w and *lr_a. A stage (stage_from, stage_to) runs its
 * iterations with exactly these values. */
int gn_recon_schedule(const gn_recon_opts *o, long t1, double *beta, double *lr_w, double *lr_a);

/* The authors' reconstruction batch for n calibration samples: n/32, at
 * least 1 (8 for 256 images, 32 for 1024). */
int gn_recon_batch(size_t n);

/* Fits unit k's activation steps at its turn (GENIE.md section 2,
 * "Activation quantiser"), unless q->fitted[k] says they already were:
 * every activation quantiser node inside the unit (those in its node
 * range; a shared quantiser that belongs to an earlier unit keeps its step)
 * gets its step and signedness from the clipping search on the first
 * min(n, 32) samples of x that reach it through q as it is - units before k
 * as q holds them (reconstructed ones hard-rounded), no QDrop, unit k's own
 * weights soft (h(v), about FP32 clamped to the grid). Sets q->fitted[k]
 * (q->fitted may be NULL: then the steps are always fitted). */
void gn_recon_fit_steps(gn_qmodel *q, int k, const float *x, size_t n);

/* Unit u with its input moved past its leading nodes that have no
 * parameters and read only the unit's input, which nothing else in the
 * unit reads (the classifier's global pooling and flatten: the unit then
 * starts at its quantiser, on the pooled vector, as the authors' unit
 * does). Stops at an activation quantiser or a weight layer, and leaves at
 * least one node. */
gn_unit gn_recon_tight_unit(const gn_graph *g, const gn_unit *u);

/* A training graph of unit u of g alone in which every activation
 * quantiser read by several nodes of the unit is one node per reader (the
 * first reader keeps the original, each later one reads a copy placed right
 * after it that shares the step parameter), so that each reader draws its
 * own QDrop mask, as the authors' code does. Parameters are copied: pmap[i]
 * receives the index in g of the new graph's parameter i (room for g->np),
 * orig[j] the node of g that its node j copies (room for 2*(u->last -
 * u->first)); *su is the unit over the whole new graph. Returns the graph
 * (the caller frees it), or NULL with an error. */
gn_graph *gn_recon_split_graph(const gn_graph *g, const gn_unit *u, int *pmap, int *orig, gn_unit *su);

/* The per-channel factors |gamma|/sqrt(var+eps) that gn_fold_bn folded into
 * each weight-quantised convolution of the quantised graph qg, read from
 * the FP32 model fp (the same node names): *out gets an array of qg->nn
 * entries, NULL where no BatchNorm was folded (free with
 * gn_recon_fold_scales_free). Error when channel counts differ. */
int gn_recon_fold_scales(const gn_graph *fp, const gn_graph *qg, float ***out);
void gn_recon_fold_scales_free(float **sc, int nn);

/* Reconstructs unit k of q in place on the calibration images x (n, C,H,W).
 * The x~ input comes from q itself (units before k as they are in q).
 * With o->lazy_steps, fits the unit's activation steps first
 * (gn_recon_fit_steps). Sets q->done[k]. Returns 0 or an error. Prints
 * nothing; progress goes to o->progress. */
int gn_recon_unit(gn_qmodel *q, int k, const float *x, size_t n, const gn_recon_opts *o,
                  gn_recon_log *log);

#endif
