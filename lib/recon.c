/* recon.c - Genie-M block reconstruction of one unit (see gn_recon.h). */
#include "gn_recon.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_base.h"
#include "gn_calibrate.h"
#include "gn_err.h"
#include "gn_optim.h"
#include "gn_quant.h"
#include "gn_rng.h"
#include "gn_run.h"

void gn_recon_defaults(gn_recon_opts *o)
{
    memset(o, 0, sizeof *o);
    o->iters = 20000;
    o->batch = 32;
    o->seed = 0;
    o->lr_wstep = 1e-4f;
    o->lr_astep = 4e-5f;
    o->lr_round = 1e-3f;
    o->warmup = 0.2f;
    o->beta_start = 20;
    o->beta_end = 2;
    o->lambda = 1.0f;
    o->input_drop = 1;
    o->qdrop = 1;
    o->collect_batch = 64;
    o->lazy_steps = 1;
    o->es_budget = 0.45f;
    o->es_patience = 1;
}

void gn_recon_es_init(gn_estop *e, const gn_recon_opts *o) { gn_estop_init(e, 0.3, 1e-3, o->es_patience, 1); }

long gn_recon_es_sched(const gn_recon_opts *o, gn_recon_opts *so)
{
    *so = *o;
    long b = (long)((double)o->es_budget * (double)o->iters + 0.5);
    so->iters = b < 1 ? 1 : b > o->iters ? o->iters : b;
    /* Adam moves a parameter by about its learning rate a step, so the
     * distance the rounding variables and steps can travel is the rate
     * times the schedule's length: scaled by N/budget, as far as the full
     * schedule lets them (recon-block(1)). The weight steps of 8-bit
     * layers too, unless the guard finds the unit worse than its start at
     * the warm-up's end: train() reruns it with their full rate (set_wide8) */
    const double f = (double)o->iters / (double)so->iters;
    so->lr_round = (float)(o->lr_round * f);
    so->lr_wstep = (float)(o->lr_wstep * f), so->lr_astep = (float)(o->lr_astep * f);
    return so->iters;
}

int gn_recon_batch(size_t n) { return n / 32 > 0 ? (int)(n / 32 > 65536 ? 65536 : n / 32) : 1; }

/* runs nodes [0, last) of r on b samples of x */
static void run_prefix(gn_run *r, const float *x, int b, int last)
{
    r->b = b;
    memcpy(r->val[r->g->input], x, (size_t)b * gn_tensor_size(r->g, r->g->input) * sizeof(float));
    gn_run_forward_nodes(r, 0, last);
}

/* mean over samples and space of the channel-summed squared error */
static double rec_error(const float *yh, const float *y, size_t n, size_t chw, int c)
{
    double s = 0;
    for (size_t i = 0; i < n * chw; i++) {
        double d = (double)yh[i] - y[i];
        s += d * d;
    }
    return s / ((double)n * (double)(chw / (size_t)c));
}

double gn_recon_sqerr_ref(float *dy, const float *yh, const float *y, size_t n, double c)
{
    double L = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)yh[i] - y[i];
        L += d * d;
        dy[i] = (float)(c * d);
    }
    return L;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* the twin's operations 4 lanes at a time (exact float->double conversion,
 * double subtract, multiply, round to float), so dy is bit-identical; L in
 * 4 partial sums */
__attribute__((target("avx2"))) static double sqerr_avx2(float *dy, const float *yh,
                                                          const float *y, size_t n, double c)
{
    __m256d acc = _mm256_setzero_pd();
    const __m256d vc = _mm256_set1_pd(c);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(yh + i)), _mm256_cvtps_pd(_mm_loadu_ps(y + i)));
        acc = _mm256_add_pd(acc, _mm256_mul_pd(d, d));
        _mm_storeu_ps(dy + i, _mm256_cvtpd_ps(_mm256_mul_pd(vc, d)));
    }
    double a[4];
    _mm256_storeu_pd(a, acc);
    return (a[0] + a[1]) + (a[2] + a[3]) + gn_recon_sqerr_ref(dy + i, yh + i, y + i, n - i, c);
}
#endif

double gn_recon_sqerr(float *dy, const float *yh, const float *y, size_t n, double c)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) return sqerr_avx2(dy, yh, y, n, c);
#endif
    return gn_recon_sqerr_ref(dy, yh, y, n, c);
}

/* The unit's samples: x (FP32 input), x~ (the quantised model's input), y
 * (FP32 output), and room for the unit's outputs yh. */
typedef struct {
    size_t n, in_sz, out_sz;
    int oc;             /* output channels */
    float *X, *XT, *Y, *YH;
} unit_data;

static void unit_data_free(unit_data *d) { free(d->X), free(d->XT), free(d->Y), free(d->YH); }

/* collects x, x~ and y over the n images x through rc (cb samples a
 * forward); with fp_input x~ is x, and the quantised prefix is not run */
static void collect(gn_run *rc, const gn_unit *u, const float *x, int cb, int fp_input, unit_data *d)
{
    gn_graph *g = rc->g;
    size_t x_sz = gn_tensor_size(g, g->input);
    for (size_t s = 0; s < d->n; s += (size_t)cb) {
        int b = (int)(d->n - s < (size_t)cb ? d->n - s : (size_t)cb);
        rc->qmode = 0;
        run_prefix(rc, x + s * x_sz, b, u->last);
        memcpy(d->X + s * d->in_sz, rc->val[u->in], (size_t)b * d->in_sz * sizeof(float));
        memcpy(d->Y + s * d->out_sz, rc->val[u->out], (size_t)b * d->out_sz * sizeof(float));
        rc->qmode = 1; /* as the hard-rounded error after it runs the unit */
        if (fp_input) {
            memcpy(d->XT + s * d->in_sz, d->X + s * d->in_sz, (size_t)b * d->in_sz * sizeof(float));
            continue;
        }
        run_prefix(rc, x + s * x_sz, b, u->first);
        memcpy(d->XT + s * d->in_sz, rc->val[u->in], (size_t)b * d->in_sz * sizeof(float));
    }
}

/* the unit's hard-rounded output error on x~ (rc in qmode 1, nothing soft) */
static double hard_error(gn_run *rc, const gn_unit *u, int cb, unit_data *d)
{
    for (size_t s = 0; s < d->n; s += (size_t)cb) {
        int b = (int)(d->n - s < (size_t)cb ? d->n - s : (size_t)cb);
        rc->b = b;
        memcpy(rc->val[u->in], d->XT + s * d->in_sz, (size_t)b * d->in_sz * sizeof(float));
        gn_run_forward_nodes(rc, u->first, u->last);
        memcpy(d->YH + s * d->out_sz, rc->val[u->out], (size_t)b * d->out_sz * sizeof(float));
    }
    return rec_error(d->YH, d->Y, d->n, d->out_sz, d->oc);
}

/* A weight step learned in the unfolded scale (gn_recon_opts.wstep_scale):
 * the step d = c*u per channel, Adam on u with the gradient c*g. */
typedef struct {
    float *d, *g;     /* the folded step and its gradient (the graph's) */
    float *u, *gu;    /* the unfolded step and its gradient (Adam's), owned */
    const float *c;   /* |gamma|/sigma per channel */
    size_t n;
} unfolded_step;

/* the folded step from its unfolded values: d = c*u */
static void fold(unfolded_step *w)
{
    for (size_t c = 0; c < w->n; c++) w->d[c] = w->c[c] * w->u[c];
}

/* the unfolded step whose Adam variable is data, or NULL */
static unfolded_step *unfolded_of(unfolded_step *us, int nus, const float *data)
{
    for (int e = 0; e < nus; e++)
        if (us[e].u == data) return &us[e];
    return NULL;
}

/* registers the unit's weight steps, rounding variables and activation
 * steps with their Adam groups and marks them trainable in r; a parameter
 * that two nodes share (one quantiser split per consumer) is registered
 * once. A weight step with a scale sc[j] is registered as its unfolded
 * twin, appended to us (*nus of them; us has room for every node). */
static void add_params(gn_run *r, const gn_unit *u, float *const *sc, gn_adam *aw, gn_adam *aa,
                       gn_adam *av, unfolded_step *us, int *nus)
{
    gn_graph *g = r->g;
    memset(r->trainable, 0, (size_t)g->np + 1);
    *nus = 0;
    for (int j = u->first; j < u->last; j++) {
        gn_node *nd = &g->nodes[j];
        int slots[3], ns = 0;
        gn_adam *grp[3];
        if (nd->wbits) slots[ns] = GN_P_WSTEP, grp[ns++] = aw, slots[ns] = GN_P_WV, grp[ns++] = av;
        if (nd->op == GN_OP_AQUANT) slots[ns] = GN_P_ASTEP, grp[ns++] = aa;
        for (int s = 0; s < ns; s++) {
            gn_param *p = &g->params[nd->p[slots[s]]];
            if (r->trainable[nd->p[slots[s]]]) continue;
            r->trainable[nd->p[slots[s]]] = 1;
            if (!p->grad) p->grad = gn_xcalloc(p->n, sizeof(float));
            if (slots[s] == GN_P_WSTEP && sc && sc[j]) {
                unfolded_step *w = &us[(*nus)++];
                w->d = p->data, w->g = p->grad, w->c = sc[j], w->n = p->n;
                w->u = gn_xmalloc(p->n * sizeof(float)), w->gu = gn_xcalloc(p->n, sizeof(float));
                for (size_t i = 0; i < p->n; i++) w->u[i] = p->data[i] / w->c[i];
                gn_adam_add(grp[s], w->u, w->gu, w->n);
            } else {
                gn_adam_add(grp[s], p->data, p->grad, p->n);
            }
        }
    }
}

/* whether unit u has a weight layer of 8 or more bits */
static int has_wide8(const gn_graph *g, const gn_unit *u)
{
    for (int j = u->first; j < u->last; j++)
        if (g->nodes[j].wbits >= 8) return 1;
    return 0;
}

/* sets the rate factor of the weight steps of u's layers with 8 or more
 * bits (their Adam variables in aw: the step, or its unfolded twin) */
static void set_wide8(gn_adam *aw, gn_graph *g, const gn_unit *u, unfolded_step *us, int nus, float f)
{
    for (int j = u->first; j < u->last; j++) {
        const gn_node *nd = &g->nodes[j];
        if (nd->wbits < 8) continue;
        float *d = g->params[nd->p[GN_P_WSTEP]].data;
        for (int e = 0; e < nus; e++)
            if (us[e].d == d) d = us[e].u;
        for (int v = 0; v < aw->nvar; v++)
            if (aw->var[v].data == d) aw->var[v].lr_scale = f;
    }
}

/* the scratch of the training loop */
typedef struct {
    size_t *idx;    /* [max(n, B)] sample order (partial Fisher-Yates) */
    size_t *picks;  /* [B] the samples of this iteration */
    uint64_t *bits; /* input-QDrop draws, one bit an element */
    size_t nbits;
} batch_state;

/* fills r's unit input with a batch of B distinct samples (with replacement
 * only if n < B), each element x (FP) or x~ with probability 1/2 under
 * input QDrop */
static void draw_batch(gn_run *r, const gn_unit *u, const unit_data *d, int B, int input_drop,
                       gn_rng *rng, batch_state *bs)
{
    float *xin = r->val[u->in];
    size_t n = d->n, in_sz = d->in_sz;
    for (int i = 0; i < B; i++) {
        size_t pick;
        if ((size_t)B <= n) {
            size_t j = (size_t)i + gn_rng_below(rng, (uint32_t)(n - (size_t)i));
            size_t t = bs->idx[i];
            bs->idx[i] = bs->idx[j], bs->idx[j] = t;
            pick = bs->idx[i];
        } else {
            pick = gn_rng_below(rng, (uint32_t)n);
        }
        bs->picks[i] = pick;
        /* element m is x (FP) where bit m of the draws is set */
        for (size_t w = 0; w < bs->nbits; w++) bs->bits[w] = gn_rng_u64(rng);
        const float *a = d->XT + pick * in_sz, *f = d->X + pick * in_sz;
        float *dst = xin + (size_t)i * in_sz;
        if (input_drop)
            gn_select_bits(dst, a, f, bs->bits, in_sz);
        else
            memcpy(dst, a, in_sz * sizeof(float));
    }
}

/* the reconstruction loss of r's last forward against y; sets its gradient
 * at the unit's output. hw: 1 / (B * H*W of the output) */
static double rec_loss(gn_run *r, const gn_unit *u, const unit_data *d, const size_t *picks,
                       int B, double hw)
{
    /* the loss below writes all of dy; backward's first writers overwrite the rest */
    gn_run_forget_grad(r);
    const float *yh = r->val[u->out];
    float *dy = gn_run_grad_set(r, u->out);
    double L = 0;
    for (int i = 0; i < B; i++)
        L += gn_recon_sqerr(dy + (size_t)i * d->out_sz, yh + (size_t)i * d->out_sz,
                            d->Y + picks[i] * d->out_sz, d->out_sz, 2.0 * hw);
    return L * hw;
}

int gn_recon_schedule(const gn_recon_opts *o, long t1, double *beta, double *lr_w, double *lr_a)
{
    /* the learning rates of iteration t1 (from 1): the cosine at t1 - 1 */
    *lr_w = gn_cosine_lr(o->lr_wstep, 0, o->iters, t1 - 1);
    *lr_a = gn_cosine_lr(o->lr_astep, 0, o->iters, t1 - 1);
    double warm = o->warmup * (double)o->iters;
    *beta = o->beta_start;
    if ((double)t1 < warm) return 0;
    double rel = ((double)t1 - warm) / ((double)o->iters - warm);
    *beta = o->beta_end + (o->beta_start - o->beta_end) * (rel < 1 ? 1 - rel : 0);
    return 1;
}

/* adds the rounding loss's gradient at beta (after the warm-up:
 * gn_recon_schedule) into the rounding variables' gradients; returns the
 * loss when want, else 0 */
static double round_step(gn_run *r, const gn_unit *u, const gn_recon_opts *o, double beta, int want)
{
    gn_graph *g = r->g;
    double L = 0;
    for (int j = u->first; j < u->last; j++) {
        gn_node *nd = &g->nodes[j];
        if (!nd->wbits) continue;
        gn_param *v = &g->params[nd->p[GN_P_WV]];
        /* r->wsg[j]: sigmoid(v) of this iteration's forward (v is unchanged since) */
        L += gn_round_loss_sg(v->grad, r->wsg[j], v->n, (float)beta, o->lambda, want);
    }
    return L;
}

/* counts the soft bits still undecided (0.01 < h < 0.99) */
static void count_undecided(const gn_graph *g, const gn_unit *u, gn_recon_log *log)
{
    for (int j = u->first; j < u->last; j++) {
        const gn_node *nd = &g->nodes[j];
        if (!nd->wbits) continue;
        const gn_param *v = &g->params[nd->p[GN_P_WV]];
        for (size_t i = 0; i < v->n; i++) {
            float h = gn_rsig(v->data[i]);
            log->undecided += h > 0.01f && h < 0.99f;
        }
        log->nsoft += (long)v->n;
    }
}

/* the training loop: soft rounding and QDrop inside the unit */
/* Early stop (off by default; a deviation from GENIE.md's fixed count,
 * recon-block(1)): the schedule runs over a budget instead of o->iters
 * (sched, below), the last samples are held out (es_split), and es_check
 * decides at a check iteration. The held-out error is the unit's hard-rounded
 * output through rc (plain quantisers), as after the unit: what the next unit
 * will see, on samples the training never drew. */
typedef struct {
    gn_estop e;
    long every;
    unit_data held;
} es_state;

/* splits d into the training samples (*dt) and the held-out last ones */
static void es_split(const unit_data *d, unit_data *dt, es_state *es)
{
    size_t nh = d->n / 16 > 0 ? d->n / 16 : 1;
    *dt = *d, es->held = *d;
    dt->n = d->n - nh;
    es->held.n = nh;
    es->held.X = d->X + dt->n * d->in_sz, es->held.XT = d->XT + dt->n * d->in_sz;
    es->held.Y = d->Y + dt->n * d->out_sz; /* YH: the first nh rows of d's scratch */
}

/* whether the unit stops after iteration t1 (from 1); logs the undecided
 * share, which does not enter the decision (recon-block(1)) */
static int es_check(es_state *es, gn_run *rc, const gn_unit *u, int cb, const gn_graph *g, long t1,
                    gn_recon_log *log)
{
    gn_recon_log c = {0};
    count_undecided(g, u, &c);
    double err = hard_error(rc, u, cb, &es->held);
    int stagnant = gn_estop_step(&es->e, err);
    log->es_share = c.nsoft ? (double)c.undecided / (double)c.nsoft : 0;
    log->es_heldout = es->e.ema, log->es_best = es->e.best;
    log->es_best_at = t1 - (es->e.n - es->e.best_at) * es->every;
    return stagnant;
}

/* the early stop's guard: the unit's start, to go back to. It fires when
 * the held-out error at the warm-up's end is above GUARD_RISE times the
 * start's (resnet20's first unit at F = 0.45: 35 times, 1.1e-4 to 0.0039;
 * mbv2-tiny's, which then falls below its start: 1.06 times) */
#define GUARD_RISE 2.0

typedef struct {
    int on;
    long at;            /* the iteration of the check (from 1): the warm-up's end */
    long fired;         /* the iteration it fired at, or 0 */
    double start, err;  /* the held-out error at the start, and when it fired */
    float **data;       /* [nvar] copies of the Adam variables' values */
    int nvar;
    gn_rng rng;
    size_t *idx;        /* [n] the sample order */
} guard_state;

static void guard_init(guard_state *gs, gn_adam *const *grp, const gn_rng *rng, const batch_state *bs,
                       size_t n, gn_run *rc, const gn_unit *u, int cb, es_state *es)
{
    gs->on = 1;
    gs->start = hard_error(rc, u, cb, &es->held);
    gs->nvar = grp[0]->nvar + grp[1]->nvar + grp[2]->nvar;
    gs->data = gn_xcalloc((size_t)gs->nvar + 1, sizeof *gs->data);
    for (int a = 0, i = 0; a < 3; a++)
        for (int j = 0; j < grp[a]->nvar; j++, i++) {
            const gn_adam_var *v = &grp[a]->var[j];
            gs->data[i] = gn_xmalloc(v->n * sizeof(float));
            memcpy(gs->data[i], v->data, v->n * sizeof(float));
        }
    gs->rng = *rng;
    gs->idx = gn_xmalloc((n + 1) * sizeof(size_t));
    memcpy(gs->idx, bs->idx, n * sizeof(size_t));
}

/* the parameters, optimiser and random stream as at guard_init */
static void guard_restore(const guard_state *gs, gn_adam *const *grp, gn_rng *rng, batch_state *bs, size_t n,
                          unfolded_step *us, int nus)
{
    for (int a = 0, i = 0; a < 3; a++)
        for (int j = 0; j < grp[a]->nvar; j++, i++) {
            gn_adam_var *v = &grp[a]->var[j];
            memcpy(v->data, gs->data[i], v->n * sizeof(float));
            memset(v->m, 0, v->n * sizeof(float)), memset(v->v, 0, v->n * sizeof(float));
            v->t = 0;
        }
    for (int i = 0; i < nus; i++) fold(&us[i]);
    *rng = gs->rng;
    memcpy(bs->idx, gs->idx, n * sizeof(size_t));
}

static void guard_free(guard_state *gs)
{
    for (int i = 0; i < gs->nvar; i++) free(gs->data[i]);
    free(gs->data), free(gs->idx);
}

/* trains unit u of g (q's graph, or a split one: gn_recon_split_graph);
 * sc: the unfolded-step factors by node of g, or NULL; rc runs q's graph
 * for the early stop's held-out error (not with a split graph) */
static int train(gn_graph *g, const gn_unit *u, float *const *sc, int k, const unit_data *d0,
                 const gn_recon_opts *o0, gn_recon_log *log, gn_run *rc, int cb)
{
    int rcode = 0;
    /* the schedule's length: o0->iters, or the early-stop budget */
    gn_recon_opts so = *o0;
    const gn_recon_opts *o = &so;
    unit_data dt = *d0;
    const unit_data *d = &dt;
    es_state es;
    if (o0->early_stop) {
        gn_recon_es_sched(o0, &so);
        es_split(d0, &dt, &es);
        es.every = o0->es_every > 0 ? o0->es_every : o0->iters / 200 > 0 ? o0->iters / 200 : 1;
        gn_recon_es_init(&es.e, o0);
        log->nheld = (long)es.held.n;
        log->es_sched = so.iters, log->es_every = es.every;
    }
    /* a stage runs iterations [from, cap) of the schedule (o->iters long) */
    const long from = o0->stage_to > 0 ? o0->stage_from : 0;
    const long cap = o0->stage_to > 0 ? o0->stage_to : o0->iters;
    int B = o->batch;
    size_t n = d->n;
    gn_run *r = gn_run_new(g, B, 1);
    gn_rng rng;
    /* a stage after the first draws from a stream of its own, named by its
     * first iteration: the same bits wherever and with whatever else it runs */
    gn_rng_seed(&rng, o->seed, 0x5245434fULL + (uint64_t)k + ((uint64_t)from << 32));
    r->qmode = 1;
    r->soft_first = u->first, r->soft_last = u->last;
    r->qdrop_rng = o->qdrop ? &rng : NULL;
    gn_adam aw, aa, av;
    gn_adam_init(&aw, o->lr_wstep);
    gn_adam_init(&aa, o->lr_astep);
    gn_adam_init(&av, o->lr_round);
    unfolded_step *us = gn_xcalloc((size_t)(u->last - u->first) + 1, sizeof *us);
    int nus;
    add_params(r, u, sc, &aw, &aa, &av, us, &nus);
    batch_state bs;
    bs.idx = gn_xmalloc((size_t)(n < (size_t)B ? (size_t)B : n) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) bs.idx[i] = i;
    bs.nbits = (d->in_sz + 63) / 64;
    bs.bits = gn_xmalloc(bs.nbits * sizeof(uint64_t));
    bs.picks = gn_xmalloc((size_t)B * sizeof(size_t));
    gn_adam *grp[3] = {&aw, &aa, &av};
    /* the early stop's guard (recon-block(1)): a unit with an 8-bit weight
     * layer starts with every rate divided; if at the warm-up's end its
     * held-out hard-rounded error is above GUARD_RISE times its start, it
     * restarts from its initial parameters, optimiser and random stream
     * with the full rate on the 8-bit weight steps */
    guard_state gs = {0};
    if (o0->early_stop && from == 0 && !o0->resume && has_wide8(g, u)) {
        guard_init(&gs, grp, &rng, &bs, n, rc, u, cb, &es);
        gs.at = (long)((double)o->warmup * (double)o->iters + 0.5);
        if (gs.at < 1) gs.at = 1;
    }
    if (o0->resume) {
        /* the previous stage's optimiser, as it left it (checked by gn_recon_unit) */
        const gn_recon_state *st = o0->resume;
        int bad = st->nvar != aw.nvar + aa.nvar + av.nvar;
        for (int a = 0, i = 0; a < 3 && !bad; a++)
            for (int j = 0; j < grp[a]->nvar && !bad; j++, i++) {
                const gn_adam_var *v = &grp[a]->var[j];
                bad = st->var[i].n != v->n || !st->var[i].u != !unfolded_of(us, nus, v->data);
            }
        if (bad) {
            rcode = gn_err_set("the optimiser state's %d tensors are not the unit's %d learned ones", st->nvar,
                               aw.nvar + aa.nvar + av.nvar);
            goto out;
        }
        rng = st->rng;
        for (size_t i = 0; i < n; i++) bs.idx[i] = (size_t)st->order[i];
        for (int a = 0, i = 0; a < 3; a++)
            for (int j = 0; j < grp[a]->nvar; j++, i++) {
                gn_adam_var *v = &grp[a]->var[j];
                memcpy(v->m, st->var[i].m, v->n * sizeof(float));
                memcpy(v->v, st->var[i].v, v->n * sizeof(float));
                v->t = st->var[i].t;
                unfolded_step *w = unfolded_of(us, nus, v->data);
                if (w) { /* its unfolded values, and the folded step from them */
                    memcpy(w->u, st->var[i].u, w->n * sizeof(float));
                    fold(w);
                }
            }
    }
    double hw = 1.0 / ((double)B * (double)(d->out_sz / (size_t)d->oc));
    const gn_recon_progress *pg = o->progress;
    double rec_acc = 0, round_l = 0, beta = o->beta_start;
    /* the training loss's first and last 1%: of the stage, or of the schedule */
    const long span = o0->stage_to > 0 ? cap - from : o->iters;
    long acc_n = 0, win = span / 100 > 0 ? span / 100 : 1;
    double l0 = gn_now(), lc0 = gn_cpu_now();
    long it;
    double rec_since = 0;
    long n_since = 0;
    for (it = from; it < cap; it++) {
        const int check = o0->early_stop && it + 1 >= o->iters && ((it + 1 - o->iters) % es.every == 0 || it == cap - 1);
        draw_batch(r, u, d, B, o->input_drop, &rng, &bs);
        r->b = B;
        gn_run_forward_nodes(r, u->first, u->last);
        double L = rec_loss(r, u, d, bs.picks, B, hw);
        gn_adam_zero_grad(&aw), gn_adam_zero_grad(&aa), gn_adam_zero_grad(&av);
        for (int i = 0; i < nus; i++) memset(us[i].g, 0, us[i].n * sizeof(float));
        gn_run_backward_nodes(r, GN_WANT_PARAMS, u->first, u->last);
        for (int i = 0; i < nus; i++)
            for (size_t c = 0; c < us[i].n; c++) us[i].gu[c] = us[i].c[c] * us[i].g[c];
        /* the rounding loss's value is only logged: it is computed (a pow in
         * double per weight) at the last iteration and when progress asks */
        const int show = it == cap - 1 || check || (pg && pg->due && pg->due(pg->arg, it + 1));
        /* the schedule counts iterations from 1, as the reference does; no
         * rounding loss in the warm-up, where beta stays beta_start */
        double lw, la, b;
        if (gn_recon_schedule(o, it + 1, &b, &lw, &la)) round_l = round_step(r, u, o, b, show), beta = b;
        else round_l = 0;
        aw.lr = (float)lw, aa.lr = (float)la;
        gn_adam_step(&aw), gn_adam_step(&aa), gn_adam_step(&av);
        for (int i = 0; i < nus; i++) fold(&us[i]);
        if (it - from < win) log->rec_first += L / (double)win;
        if (it >= cap - win) rec_acc += L, acc_n++;
        rec_since += L, n_since++;
        if (show && pg && pg->report) pg->report(pg->arg, k, it + 1, cap, L, round_l * o->lambda, beta);
        if (check && es_check(&es, rc, u, cb, g, it + 1, log)) {
            log->stopped = 1;
            it++;
            break;
        }
        if (check) rec_since = 0, n_since = 0;
        if (gs.on && !gs.fired && it + 1 == gs.at) {
            double e = hard_error(rc, u, cb, &es.held);
            if (e > GUARD_RISE * gs.start) {
                /* back to the start, the 8-bit weight steps at the full rate */
                gs.fired = it + 1, gs.err = e;
                guard_restore(&gs, grp, &rng, &bs, n, us, nus);
                set_wide8(&aw, g, u, us, nus, (float)((double)o->iters / (double)o0->iters));
                gn_recon_es_init(&es.e, o0);
                log->rec_first = 0, rec_acc = 0, acc_n = 0, rec_since = 0, n_since = 0;
                round_l = 0, beta = o->beta_start;
                it = from - 1;
            }
        }
    }
    log->iters_run = it - from + gs.fired;
    log->guard_at = gs.fired, log->guard_start = gs.start, log->guard_err = gs.err;
    guard_free(&gs);
    if (o0->save) {
        gn_recon_state *st = o0->save;
        gn_recon_state_free(st);
        memset(st, 0, sizeof *st);
        st->batch = B, st->iters = o->iters, st->from = from, st->to = it, st->seed = o->seed;
        st->warmup = o->warmup;
        st->rng = rng;
        st->norder = n;
        st->order = gn_xmalloc((n + 1) * sizeof(int64_t));
        for (size_t i = 0; i < n; i++) st->order[i] = (int64_t)bs.idx[i];
        st->nvar = aw.nvar + aa.nvar + av.nvar;
        st->var = gn_xcalloc((size_t)st->nvar + 1, sizeof *st->var);
        for (int a = 0, i = 0; a < 3; a++)
            for (int j = 0; j < grp[a]->nvar; j++, i++) {
                const gn_adam_var *v = &grp[a]->var[j];
                gn_recon_svar *sv = &st->var[i];
                sv->n = v->n, sv->t = v->t;
                sv->m = gn_xmalloc(v->n * sizeof(float)), sv->v = gn_xmalloc(v->n * sizeof(float));
                memcpy(sv->m, v->m, v->n * sizeof(float)), memcpy(sv->v, v->v, v->n * sizeof(float));
                if (unfolded_of(us, nus, v->data)) {
                    sv->u = gn_xmalloc(v->n * sizeof(float));
                    memcpy(sv->u, v->data, v->n * sizeof(float));
                }
            }
    }
    /* stopped: the mean over the last check period */
    if (log->stopped) rec_acc = rec_since, acc_n = n_since;
    log->loop_seconds = gn_now() - l0, log->loop_cpu = gn_cpu_now() - lc0;
    log->rec_last = acc_n ? rec_acc / (double)acc_n : 0;
    log->round_last = round_l;
    log->beta_last = beta;
out:
    gn_adam_free(&aw), gn_adam_free(&aa), gn_adam_free(&av);
    for (int i = 0; i < nus; i++) free(us[i].u), free(us[i].gu);
    free(us);
    gn_run_free(r);
    free(bs.idx), free(bs.bits), free(bs.picks);
    return rcode;
}

/* readers of tensor t among nodes [from, to) */
static int readers(const gn_graph *g, int t, int from, int to)
{
    int c = 0;
    for (int j = from; j < to; j++)
        for (int s = 0; s < g->nodes[j].nin; s++)
            if (g->nodes[j].in[s] == t) {
                c++;
                break;
            }
    return c;
}

gn_unit gn_recon_tight_unit(const gn_graph *g, const gn_unit *u)
{
    gn_unit t = *u;
    while (t.first + 1 < t.last) {
        const gn_node *nd = &g->nodes[t.first];
        int params = 0;
        for (int s = 0; s < GN_NSLOT; s++) params |= nd->p[s] >= 0;
        if (nd->op == GN_OP_AQUANT || nd->wbits || params || nd->nin != 1 || nd->in[0] != t.in ||
            readers(g, t.in, t.first, t.last) != 1)
            break;
        t.in = nd->out;
        t.first++;
    }
    return t;
}

gn_graph *gn_recon_split_graph(const gn_graph *g, const gn_unit *u, int *pmap, int *orig, gn_unit *su)
{
    gn_graph *g2 = gn_graph_new();
    int *pm = gn_xmalloc(((size_t)g->np + 1) * sizeof(int)); /* g -> g2 */
    for (int i = 0; i < g->np; i++) pm[i] = -1;
    int nr = 0, cap = 2 * (u->last - u->first) + 1;
    int *rnode = gn_xmalloc((size_t)cap * sizeof(int)), *rfrom = gn_xmalloc((size_t)cap * sizeof(int));
    int *rto = gn_xmalloc((size_t)cap * sizeof(int)); /* reader rnode reads rfrom as g2's tensor rto */
    g2->input = gn_graph_tensor(g2, g->t[u->in].name);
    int rc = 0;
    for (int j = u->first; j < u->last && !rc; j++) {
        const gn_node *n = &g->nodes[j];
        int in[GN_MAXIN], p[GN_NSLOT], out = gn_graph_tensor(g2, g->t[n->out].name);
        for (int s = 0; s < n->nin; s++) {
            in[s] = gn_graph_tensor(g2, g->t[n->in[s]].name);
            for (int e = 0; e < nr; e++)
                if (rnode[e] == j && rfrom[e] == n->in[s]) in[s] = rto[e];
        }
        for (int s = 0; s < GN_NSLOT; s++) {
            int q = n->p[s];
            if (q >= 0 && pm[q] < 0) {
                const gn_param *gp = &g->params[q];
                pm[q] = gn_graph_add_param(g2, gp->name, gp->ndim, gp->dims, gp->data);
                if (pm[q] < 0) rc = -1;
                else pmap[pm[q]] = q;
            }
            p[s] = q >= 0 ? pm[q] : -1;
        }
        if (rc) break;
        int copies = n->op == GN_OP_AQUANT ? readers(g, n->out, j + 1, u->last) : 0;
        for (int c = 0, seen = 0, r = j + 1; c < copies; r++) {
            int reads = 0;
            for (int s = 0; s < g->nodes[r].nin; s++) reads |= g->nodes[r].in[s] == n->out;
            if (!reads) continue;
            c++;
            if (!seen++) continue; /* the first reader keeps the original */
            char nm[512];
            snprintf(nm, sizeof nm, "%s#%d", g->t[n->out].name, c);
            rnode[nr] = r, rfrom[nr] = n->out, rto[nr++] = gn_graph_tensor(g2, nm);
        }
        for (int e = -1; e < nr; e++) {
            if (e >= 0 && (rfrom[e] != n->out || n->op != GN_OP_AQUANT)) continue;
            gn_node *m = gn_graph_add_node(g2, n->op, n->name);
            char *nm = m->name;
            *m = *n;
            m->name = nm;
            for (int s = 0; s < n->nin; s++) m->in[s] = in[s];
            m->out = e < 0 ? out : rto[e];
            for (int s = 0; s < GN_NSLOT; s++) m->p[s] = p[s];
            orig[g2->nn - 1] = j;
        }
    }
    free(pm), free(rnode), free(rfrom), free(rto);
    if (!rc) {
        g2->output = gn_graph_find_tensor(g2, g->t[u->out].name);
        const gn_tensorinfo *ti = &g->t[u->in];
        rc = gn_graph_finalize(g2, ti->c, ti->h, ti->w);
    }
    if (rc) {
        gn_graph_free(g2);
        return NULL;
    }
    *su = (gn_unit){.first = 0, .last = g2->nn, .in = g2->input, .out = g2->output};
    return g2;
}

int gn_recon_fold_scales(const gn_graph *fp, const gn_graph *qg, float ***out)
{
    float **sc = gn_xcalloc((size_t)qg->nn + 1, sizeof(float *));
    for (int b = 0; b < fp->nn; b++) {
        const gn_node *bn = &fp->nodes[b];
        if (bn->op != GN_OP_BN || bn->p[GN_P_MEAN] < 0) continue;
        int c = -1;
        for (int k = 0; k < fp->nn; k++)
            if (fp->nodes[k].out == bn->in[0]) c = k;
        if (c < 0 || fp->nodes[c].op != GN_OP_CONV || readers(fp, bn->in[0], 0, fp->nn) != 1 ||
            bn->in[0] == fp->output)
            continue;
        int j = -1;
        for (int k = 0; k < qg->nn && j < 0; k++)
            if (qg->nodes[k].op == GN_OP_CONV && !strcmp(qg->nodes[k].name, fp->nodes[c].name)) j = k;
        if (j < 0 || !qg->nodes[j].wbits) continue;
        const gn_param *ws = &qg->params[qg->nodes[j].p[GN_P_WSTEP]];
        const float *ga = bn->p[GN_P_GAMMA] >= 0 ? fp->params[bn->p[GN_P_GAMMA]].data : NULL;
        const float *va = fp->params[bn->p[GN_P_VAR]].data;
        if (fp->params[bn->p[GN_P_VAR]].n != ws->n) {
            gn_recon_fold_scales_free(sc, qg->nn);
            return gn_err_set("%s: %zu channels in the FP32 model, %zu in the quantised one",
                              qg->nodes[j].name, fp->params[bn->p[GN_P_VAR]].n, ws->n);
        }
        sc[j] = gn_xmalloc(ws->n * sizeof(float));
        for (size_t i = 0; i < ws->n; i++) {
            double f = fabs(ga ? (double)ga[i] : 1.0) / sqrt((double)va[i] + (double)bn->eps);
            sc[j][i] = (float)(f > 0 ? f : 1.0);
        }
    }
    *out = sc;
    return 0;
}

void gn_recon_fold_scales_free(float **sc, int nn)
{
    if (!sc) return;
    for (int j = 0; j < nn; j++) free(sc[j]);
    free(sc);
}

void gn_recon_fit_steps(gn_qmodel *q, int k, const float *x, size_t n)
{
    const gn_unit *u = &q->units[k];
    gn_graph *g = q->g;
    if (q->fitted && q->fitted[k]) return;
    int any = 0;
    for (int j = u->first; j < u->last; j++)
        if (g->nodes[j].op == GN_OP_AQUANT) g->params[g->nodes[j].p[GN_P_ASTEP]].data[0] = 0, any = 1;
    if (any) gn_fit_act_steps(g, x, n, u->first, u->last, u->last);
    if (q->fitted) q->fitted[k] = 1;
}

int gn_recon_unit(gn_qmodel *q, int k, const float *x, size_t n, const gn_recon_opts *o,
                  gn_recon_log *log)
{
    gn_graph *g = q->g;
    if (k < 0 || k >= q->nunits) return gn_err_set("unit %d out of range 0..%d", k, q->nunits - 1);
    if (n < 1) return gn_err_set("no calibration samples");
    if (o->batch < 1) return gn_err_set("reconstruction batch %d is not positive", o->batch);
    if (o->early_stop && n < 2)
        return gn_err_set("early stop holds samples out: it needs at least 2 calibration samples, not %zu", n);
    if (o->stage_to > 0 && (o->stage_from < 0 || o->stage_from >= o->stage_to || o->stage_to > o->iters))
        return gn_err_set("stage: iterations %ld..%ld are not within 0..%ld", o->stage_from, o->stage_to, o->iters);
    if (o->stage_to > 0 && o->early_stop)
        return gn_err_set("a stage of the schedule and early stop do not go together");
    if (o->early_stop && o->qdrop_per_consumer)
        return gn_err_set("early stop and one QDrop mask per consumer do not go together");
    if (o->resume && (o->stage_to <= 0 || o->resume->to != o->stage_from || o->resume->iters != o->iters ||
                      o->resume->seed != o->seed || o->resume->unit != k || o->resume->batch != o->batch ||
                      o->resume->norder != n || o->resume->warmup != o->warmup))
        return gn_err_set("the optimiser state (unit %d, iterations %ld..%ld of %ld, warm-up %g, seed %llu, batch "
                          "%d, %zu samples) does not end where this stage (unit %d, iterations %ld..%ld of %ld, "
                          "warm-up %g, seed %llu, batch %d, %zu samples) starts",
                          o->resume->unit, o->resume->from + 1, o->resume->to, o->resume->iters,
                          (double)o->resume->warmup, (unsigned long long)o->resume->seed, o->resume->batch,
                          o->resume->norder, k, o->stage_from + 1, o->stage_to, o->iters, (double)o->warmup,
                          (unsigned long long)o->seed, o->batch, n);
    if (o->resume)
        for (size_t i = 0; i < n; i++)
            if (o->resume->order[i] < 0 || (size_t)o->resume->order[i] >= n)
                return gn_err_set("the optimiser state's sample order names sample %lld of %zu",
                                  (long long)o->resume->order[i], n);
    /* the unit's input is taken after its leading parameter-free nodes
     * with tight_units (the classifier's pooling and flatten) */
    gn_unit ut = o->tight_units ? gn_recon_tight_unit(g, &q->units[k]) : q->units[k];
    const gn_unit *u = &ut;
    memset(log, 0, sizeof *log);
    double t0 = gn_now();
    if (o->lazy_steps) gn_recon_fit_steps(q, k, x, n);
    /* with qdrop_per_consumer the loop trains a graph of the unit alone, one
     * quantiser node per consumer (split_graph) */
    gn_graph *g2 = NULL;
    gn_unit su;
    int *pmap = NULL, *orig = NULL;
    float **sc2 = NULL;
    if (o->qdrop_per_consumer) {
        pmap = gn_xmalloc(((size_t)g->np + 1) * sizeof(int));
        orig = gn_xmalloc((2 * (size_t)(u->last - u->first) + 1) * sizeof(int));
        if (!(g2 = gn_recon_split_graph(g, u, pmap, orig, &su))) {
            free(pmap), free(orig);
            return -1;
        }
        if (o->wstep_scale) {
            sc2 = gn_xcalloc((size_t)g2->nn + 1, sizeof(float *));
            for (int j = 0; j < g2->nn; j++) sc2[j] = o->wstep_scale[orig[j]];
        }
    }
    unit_data d = {.n = n, .in_sz = gn_tensor_size(g, u->in), .out_sz = gn_tensor_size(g, u->out),
                   .oc = g->t[u->out].c};
    d.X = gn_xmalloc(n * d.in_sz * sizeof(float)), d.XT = gn_xmalloc(n * d.in_sz * sizeof(float));
    d.Y = gn_xmalloc(n * d.out_sz * sizeof(float));
    d.YH = gn_xmalloc(n * d.out_sz * sizeof(float));
    int cb = o->collect_batch < 1 ? 64 : o->collect_batch;
    /* forward only, each value held until its last reader, but the unit's
     * input and output, which are read and written from outside */
    const int keep[2] = {u->in, u->out};
    gn_run *rc = gn_run_new_lean_keep(g, cb, 0, keep, 2);
    collect(rc, u, x, cb, o->fp_input, &d);
    log->rec_before = hard_error(rc, u, cb, &d);
    int trc;
    if (g2) {
        trc = train(g2, &su, sc2, k, &d, o, log, rc, cb);
        for (int i = 0; i < g2->np && !trc; i++)
            memcpy(g->params[pmap[i]].data, g2->params[i].data, g2->params[i].n * sizeof(float));
        gn_graph_free(g2);
        free(pmap), free(orig), free(sc2);
    } else {
        trc = train(g, u, o->wstep_scale, k, &d, o, log, rc, cb);
    }
    if (trc) {
        gn_run_free(rc);
        unit_data_free(&d);
        return trc;
    }
    if (o->save) o->save->unit = k;
    /* after: hard rounding, plain quantisers */
    count_undecided(g, u, log);
    log->rec_after = hard_error(rc, u, cb, &d);
    log->seconds = gn_now() - t0;
    q->done[k] = 1;
    gn_run_free(rc);
    unit_data_free(&d);
    return 0;
}

void gn_recon_state_free(gn_recon_state *s)
{
    for (int i = 0; i < s->nvar; i++) free(s->var[i].m), free(s->var[i].v), free(s->var[i].u);
    free(s->var), free(s->order);
    memset(s, 0, sizeof *s);
}

/* 64-bit values as pairs of int32 (low, high) */
static void split64(int *w, uint64_t x) { w[0] = (int)(uint32_t)x, w[1] = (int)(uint32_t)(x >> 32); }
static uint64_t join64(const int *w) { return (uint64_t)(uint32_t)w[0] | (uint64_t)(uint32_t)w[1] << 32; }

int gn_recon_state_write(hid_t f, const char *name, const gn_recon_state *s)
{
    hid_t g = gn_h5_group(f, name);
    if (g < 0) return gn_err_set("cannot create group %s", name);
    int sched[6] = {s->unit, s->batch, (int)s->iters, (int)s->from, (int)s->to, s->nvar}, r[13];
    for (int i = 0; i < 4; i++) split64(r + 2 * i, s->rng.s[i]);
    uint64_t sp;
    memcpy(&sp, &s->rng.spare, sizeof sp);
    split64(r + 8, sp), split64(r + 10, s->seed);
    r[12] = s->rng.have_spare;
    int rc = gn_h5_attr_ints_w(g, "schedule", sched, 6) || gn_h5_attr_ints_w(g, "rng", r, 13) ||
             gn_h5_attr_floats_w(g, "warmup", &s->warmup, 1);
    int *ord = gn_xmalloc((s->norder + 1) * sizeof(int));
    for (size_t i = 0; i < s->norder; i++) ord[i] = (int)s->order[i];
    size_t dn = s->norder;
    if (!rc) rc = gn_h5_write_i32(g, "order", 1, &dn, ord);
    free(ord);
    for (int i = 0; i < s->nvar && !rc; i++) {
        const gn_recon_svar *v = &s->var[i];
        char nm[64];
        size_t n = v->n;
        int t = (int)v->t;
        snprintf(nm, sizeof nm, "m.%d", i);
        rc = gn_h5_write_f32(g, nm, 1, &n, v->m);
        if (!rc) {
            hid_t ds = H5Dopen2(g, nm, H5P_DEFAULT);
            rc = gn_h5_attr_ints_w(ds, "t", &t, 1);
            H5Dclose(ds);
        }
        snprintf(nm, sizeof nm, "v.%d", i);
        if (!rc) rc = gn_h5_write_f32(g, nm, 1, &n, v->v);
        snprintf(nm, sizeof nm, "u.%d", i);
        if (!rc && v->u) rc = gn_h5_write_f32(g, nm, 1, &n, v->u);
    }
    H5Gclose(g);
    return rc;
}

int gn_recon_state_read(hid_t f, const char *path, const char *name, gn_recon_state *s)
{
    memset(s, 0, sizeof *s);
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0)
        return gn_err_set("%s: no optimiser state (/%s): not a unit file of a stage", path, name);
    hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
    if (g < 0) return gn_err_set("%s: /%s: not a group", path, name);
    int sched[6], r[13], rc = 0;
    if (gn_h5_attr_ints_r(g, "schedule", sched, 6, 0) || gn_h5_attr_ints_r(g, "rng", r, 13, 0)) {
        gn_err_prefix("%s: /%s", path, name);
        H5Gclose(g);
        return 1;
    }
    s->unit = sched[0], s->batch = sched[1], s->iters = sched[2], s->from = sched[3], s->to = sched[4];
    /* files before --warmup have none: GENIE.md's 0.2 */
    s->warmup = 0.2f;
    if (gn_h5_attr_floats_r(g, "warmup", &s->warmup, 1, 1)) {
        gn_err_prefix("%s: /%s", path, name);
        H5Gclose(g);
        return 1;
    }
    if (sched[5] < 0 || sched[5] > 1 << 20) {
        H5Gclose(g);
        return gn_err_set("%s: /%s: schedule: %d tensors", path, name, sched[5]);
    }
    for (int i = 0; i < 4; i++) s->rng.s[i] = join64(r + 2 * i);
    uint64_t sp = join64(r + 8);
    memcpy(&s->rng.spare, &sp, sizeof sp);
    s->seed = join64(r + 10);
    s->rng.have_spare = r[12] != 0;
    size_t dims[4];
    int *ord = NULL;
    char full[128];
    snprintf(full, sizeof full, "%s/order", name);
    if (gn_h5_read_i32(f, path, full, 1, dims, &ord)) rc = 1;
    else {
        s->norder = dims[0];
        s->order = gn_xmalloc((s->norder + 1) * sizeof(int64_t));
        for (size_t i = 0; i < s->norder; i++) s->order[i] = ord[i];
    }
    free(ord);
    if (!rc) s->nvar = sched[5], s->var = gn_xcalloc((size_t)s->nvar + 1, sizeof *s->var);
    for (int i = 0; i < s->nvar && !rc; i++) {
        gn_recon_svar *v = &s->var[i];
        size_t dm[4], dv[4], du[4];
        snprintf(full, sizeof full, "%s/m.%d", name, i);
        rc = gn_h5_read_f32(f, path, full, 1, dm, &v->m);
        if (!rc) {
            hid_t ds = H5Dopen2(f, full, H5P_DEFAULT);
            int t = 0;
            if (gn_h5_attr_ints_r(ds, "t", &t, 1, 0)) gn_err_prefix("%s: %s", path, full), rc = 1;
            H5Dclose(ds);
            v->t = t, v->n = dm[0];
        }
        snprintf(full, sizeof full, "%s/v.%d", name, i);
        if (!rc) rc = gn_h5_read_f32(f, path, full, 1, dv, &v->v);
        if (!rc && dv[0] != dm[0]) rc = gn_err_set("%s: %s: %zu values, m.%d has %zu", path, full, dv[0], i, dm[0]);
        snprintf(full, sizeof full, "%s/u.%d", name, i);
        if (!rc && H5Lexists(f, full, H5P_DEFAULT) > 0) {
            rc = gn_h5_read_f32(f, path, full, 1, du, &v->u);
            if (!rc && du[0] != dm[0]) rc = gn_err_set("%s: %s: %zu values, m.%d has %zu", path, full, du[0], i, dm[0]);
        }
        /* what Adam would turn into NaN: a negative step count or second
         * moment, a non-finite value */
        if (!rc && v->t < 0) rc = gn_err_set("%s: %s/m.%d: step count %ld", path, name, i, v->t);
        for (size_t j = 0; j < v->n && !rc; j++)
            if (!isfinite(v->m[j]) || !isfinite(v->v[j]) || v->v[j] < 0 || (v->u && !isfinite(v->u[j])))
                rc = gn_err_set("%s: %s: tensor %d, element %zu: m %g, v %g%s", path, name, i, j, v->m[j],
                                v->v[j], v->u ? " (or its unfolded step) not finite" : "");
    }
    H5Gclose(g);
    if (rc) gn_recon_state_free(s);
    return rc;
}
