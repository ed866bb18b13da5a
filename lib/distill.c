/* distill.c - Genie-D: generator, swung teacher, loss kernels and the
 * per-batch optimisation (see gn_distill.h and GENIE.md section 1).
 *
 * One iteration of method genie, batch B:
 *   x = G(z)                       generator run, batch statistics
 *   teacher(x)                     inference mode, swing offsets drawn
 *   L = input term(x) + sum_l BN term(a_l)   a_l = input of teacher BN l
 *   dL/da_l injected into the teacher run, backward to dL/dx (GN_WANT_INPUT)
 *   dL/dx injected as the generator's output gradient, backward to dL/dz and
 *   the generator's parameter gradients
 *   Adam on z (ReduceLROnPlateau on L), Adam on G (x0.95 every 100 its).
 * What it deliberately does not do: update any teacher parameter, keep
 * running statistics of the generator's BatchNorms (never used), or
 * allocate anything once the distiller exists. */
#include "gn_distill.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas_bf16.h"
#include "gn_err.h"
#include "gn_estop.h"
#include "gn_moments.h"
#include "gn_optim.h"

void gn_distill_defaults(gn_distill_opts *o)
{
    memset(o, 0, sizeof *o);
    o->method = GN_DISTILL_GENIE;
    o->batch = 128;
    o->iters = 4000;
    o->swing = 1;
    o->seed = 0;
    o->latent = 256;
    o->lr_z = 0.1f;
    o->lr_g = 0.01f;
    o->lr_x = 0.25f;
    o->plateau_factor = 0.1f;
    o->plateau_patience = 100;
    o->plateau_threshold = 1e-4f;
    o->plateau_min_lr = 1e-4f;
    o->g_gamma = 0.95f;
    o->g_every = 100;
    o->beta1 = 0.9f;
    o->beta2 = 0.999f;
    o->adam_eps = 1e-8f;
    o->log_every = 1;
    o->es_min = 200;
    o->es_alpha = 0.01f;
    o->es_tol = 1e-3f;
    o->products = GN_PRODUCTS_FP32;
}

int gn_distill_log_rows(const gn_distill_opts *o)
{
    if (o->method == GN_DISTILL_NOISE) return 1;
    return (o->iters + o->log_every - 1) / o->log_every;
}

static const char *method_names[] = {"genie", "pixel", "noise"};

const char *gn_distill_method_name(gn_distill_method m)
{
    return (int)m >= 0 && (int)m < 3 ? method_names[m] : "?";
}

int gn_distill_method_from_name(const char *s)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, method_names[i])) return i;
    return -1;
}

/* ---- generator ----------------------------------------------------------- */

#define GEN_C1 128
#define GEN_C2 64

/* adds a node with one input and one output tensor (by name) */
static gn_node *add1(gn_graph *g, gn_opkind op, const char *name, const char *in, const char *out)
{
    int ti = gn_graph_tensor(g, in), to = gn_graph_tensor(g, out);
    gn_node *n = gn_graph_add_node(g, op, name);
    n->nin = 1;
    n->in[0] = ti;
    n->out = to;
    return n;
}

int gn_generator_build(gn_graph **out, int C, int H, int W, int latent)
{
    if (C < 1 || H < 4 || W < 4 || H % 4 || W % 4)
        return gn_err_set("the generator makes images whose height and width are multiples of 4 "
                          "(at least 4); the model takes %dx%dx%d",
                          C, H, W);
    if (latent < 1) return gn_err_set("latent dimension %d", latent);
    gn_graph *g = gn_graph_new();
    const int h4 = H / 4, w4 = W / 4, F = GEN_C1 * h4 * w4;
    int d2[2] = {F, latent}, d1[1] = {F};
    int pw = gn_graph_add_param(g, "gen.linear.weight", 2, d2, NULL);
    int pb = gn_graph_add_param(g, "gen.linear.bias", 1, d1, NULL);
    int c1[1] = {GEN_C1}, c2[1] = {GEN_C2}, cc[1] = {C};
    int g0 = gn_graph_add_param(g, "gen.bn0.weight", 1, c1, NULL);
    int b0 = gn_graph_add_param(g, "gen.bn0.bias", 1, c1, NULL);
    int w1d[4] = {GEN_C2, GEN_C1, 3, 3};
    int w1 = gn_graph_add_param(g, "gen.conv0.weight", 4, w1d, NULL);
    int bb1 = gn_graph_add_param(g, "gen.conv0.bias", 1, c2, NULL);
    int g1 = gn_graph_add_param(g, "gen.bn1.weight", 1, c2, NULL);
    int b1 = gn_graph_add_param(g, "gen.bn1.bias", 1, c2, NULL);
    int w2d[4] = {C, GEN_C2, 3, 3};
    int w2 = gn_graph_add_param(g, "gen.conv1.weight", 4, w2d, NULL);
    int bb2 = gn_graph_add_param(g, "gen.conv1.bias", 1, cc, NULL);
    gn_node *n;
    n = add1(g, GN_OP_LINEAR, "gen.linear", "z", "gen.linear");
    n->p[GN_P_W] = pw, n->p[GN_P_B] = pb;
    n = add1(g, GN_OP_RESHAPE, "gen.view", "gen.linear", "gen.view");
    n->rc = GEN_C1, n->rh = h4, n->rw = w4;
    n = add1(g, GN_OP_BN, "gen.bn0", "gen.view", "gen.bn0");
    n->p[GN_P_GAMMA] = g0, n->p[GN_P_BETA] = b0;
    add1(g, GN_OP_UPSAMPLE, "gen.up0", "gen.bn0", "gen.up0");
    n = add1(g, GN_OP_CONV, "gen.conv0", "gen.up0", "gen.conv0");
    n->p[GN_P_W] = w1, n->p[GN_P_B] = bb1, n->kh = n->kw = 3, n->pt = n->pl = n->pb = n->pr = 1;
    n = add1(g, GN_OP_BN, "gen.bn1", "gen.conv0", "gen.bn1");
    n->p[GN_P_GAMMA] = g1, n->p[GN_P_BETA] = b1;
    n = add1(g, GN_OP_LEAKY, "gen.act", "gen.bn1", "gen.act");
    n->slope = 0.2f;
    add1(g, GN_OP_UPSAMPLE, "gen.up1", "gen.act", "gen.up1");
    n = add1(g, GN_OP_CONV, "gen.conv1", "gen.up1", "gen.conv1");
    n->p[GN_P_W] = w2, n->p[GN_P_B] = bb2, n->kh = n->kw = 3, n->pt = n->pl = n->pb = n->pr = 1;
    add1(g, GN_OP_TANH, "gen.tanh", "gen.conv1", "gen.tanh");
    add1(g, GN_OP_BN, "gen.bn2", "gen.tanh", "x"); /* no affine, no running stats */
    g->input = gn_graph_find_tensor(g, "z");
    g->output = gn_graph_find_tensor(g, "x");
    if (gn_graph_finalize(g, latent, 1, 1)) {
        gn_err_prefix("generator");
        gn_graph_free(g);
        return GN_EINVAL;
    }
    gn_graph_alloc_grads(g);
    *out = g;
    return 0;
}

void gn_generator_init(gn_graph *g, gn_rng *rng)
{
    for (int k = 0; k < g->nn; k++) {
        const gn_node *n = &g->nodes[k];
        if (n->op == GN_OP_LINEAR || n->op == GN_OP_CONV) {
            gn_param *w = &g->params[n->p[GN_P_W]];
            size_t fan_in = w->n / (size_t)w->dims[0];
            float bound = (float)(1.0 / sqrt((double)fan_in));
            gn_rng_fill_uniform(rng, w->data, w->n, -bound, bound);
            if (n->p[GN_P_B] >= 0) {
                gn_param *b = &g->params[n->p[GN_P_B]];
                gn_rng_fill_uniform(rng, b->data, b->n, -bound, bound);
            }
        } else if (n->op == GN_OP_BN) {
            if (n->p[GN_P_GAMMA] >= 0) {
                gn_param *p = &g->params[n->p[GN_P_GAMMA]];
                for (size_t i = 0; i < p->n; i++) p->data[i] = 1.0f;
            }
            if (n->p[GN_P_BETA] >= 0) {
                gn_param *p = &g->params[n->p[GN_P_BETA]];
                memset(p->data, 0, p->n * sizeof(float));
            }
        }
    }
}

/* ---- teacher ------------------------------------------------------------- */

gn_graph *gn_teacher_build(const gn_graph *model, int swing, int *nswing)
{
    gn_graph *t = gn_graph_new();
    for (int i = 0; i < model->nt; i++) gn_graph_tensor(t, model->t[i].name);
    for (int i = 0; i < model->np; i++) {
        const gn_param *p = &model->params[i];
        GN_ASSERT(gn_graph_add_param(t, p->name, p->ndim, p->dims, p->data) == i);
    }
    int ns = 0, rc = 0;
    for (int k = 0; k < model->nn && !rc; k++) {
        const gn_node *m = &model->nodes[k];
        int in0 = m->in[0];
        if (swing && m->op == GN_OP_CONV && (m->sh != 1 || m->sw != 1)) {
            size_t len = strlen(model->t[in0].name) + strlen(m->name) + 16;
            char *nm = gn_xmalloc(len);
            snprintf(nm, len, "%s~swing~%s", model->t[in0].name, m->name);
            if (gn_graph_find_tensor(t, nm) >= 0) {
                rc = gn_err_set("model already has a tensor named %s", nm);
                free(nm);
                break;
            }
            int ts = gn_graph_tensor(t, nm);
            snprintf(nm, len, "%s~swing", m->name);
            gn_node *s = gn_graph_add_node(t, GN_OP_SWING, nm);
            free(nm);
            s->nin = 1;
            s->in[0] = in0;
            s->out = ts;
            in0 = ts;
            ns++;
        }
        gn_node *n = gn_graph_add_node(t, m->op, m->name);
        char *keep = n->name;
        *n = *m;
        n->name = keep;
        n->in[0] = in0;
    }
    t->input = model->input;
    t->output = model->output;
    const gn_tensorinfo *x = &model->t[model->input];
    if (!rc && gn_graph_finalize(t, x->c, x->h, x->w)) {
        gn_err_prefix("teacher with swing convolutions");
        rc = GN_EINVAL;
    }
    if (rc) {
        gn_graph_free(t);
        return NULL;
    }
    if (nswing) *nswing = ns;
    return t;
}

/* ---- loss kernels -------------------------------------------------------- */

/* The BN term of one layer from its input's per-channel mean m and M2 q
 * over n = B*HW values: *mterm, *sterm, and (a non-NULL) the gradient's
 * coefficients dL/dx = a_c + b_c (x - mc_c), times scale. */
static void bnloss_coef(double *mterm, double *sterm, const double *m, const double *q,
                        const float *mu, const float *sd, int B, int C, int HW, float scale,
                        float *a, float *b, float *mc)
{
    const double n = (double)B * HW;
    GN_ASSERT(n >= 2 && C >= 1);
    double mt = 0, st = 0;
    for (int c = 0; c < C; c++) {
        const double s = sqrt(q[c] / (n - 1)), dm = (double)mu[c] - m[c], ds = (double)sd[c] - s;
        mt += dm * dm;
        st += ds * ds;
        if (!a) continue;
        /* dL/dx = a_c + b_c (x - m_c), a_c = -2 dm/(C n),
         * b_c = -2 ds/(C (n-1) s) (0 where s = 0) */
        const double bc = s > 0 ? -2.0 * ds / ((double)C * (n - 1) * s) : 0.0;
        a[c] = (float)(scale * -2.0 * dm / ((double)C * n));
        b[c] = (float)(scale * bc);
        mc[c] = (float)m[c];
    }
    *mterm = mt / C;
    *sterm = st / C;
}

/* ws: 2*C doubles and 3*C floats */
static void bnloss(double *mterm, double *sterm, float *dx, const float *x, const float *mu,
                   const float *sd, int B, int C, int HW, float scale, double *ws, int set)
{
    double *m = ws, *q = ws + C; // (C), (C)
    float *a = (float *)(ws + 2 * C), *b = a + C, *mc = b + C;
    gn_chan_moments(m, q, x, B, C, HW);
    bnloss_coef(mterm, sterm, m, q, mu, sd, B, C, HW, scale, dx ? a : NULL, b, mc);
    if (!dx) return;
    const size_t P = (size_t)HW;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < B; i++) {
            const size_t o = ((size_t)i * C + c) * P;
            const float *xp = x + o; // (HW)
            float *dp = dx + o;      // (HW)
            if (set)
                for (size_t j = 0; j < P; j++) dp[j] = 0.0f + (a[c] + b[c] * (xp[j] - mc[c]));
            else
                for (size_t j = 0; j < P; j++) dp[j] += a[c] + b[c] * (xp[j] - mc[c]);
        }
}

void gn_bnloss_forward_backward(double *mterm, double *sterm, float *dx, const float *x,
                                const float *mu, const float *sd, int B, int C, int HW,
                                float scale, double *ws)
{
    bnloss(mterm, sterm, dx, x, mu, sd, B, C, HW, scale, ws, 0);
}

void gn_bnloss_forward_backward_set(double *mterm, double *sterm, float *dx, const float *x,
                                    const float *mu, const float *sd, int B, int C, int HW,
                                    float scale, double *ws)
{
    GN_ASSERT(dx);
    bnloss(mterm, sterm, dx, x, mu, sd, B, C, HW, scale, ws, 1);
}

void gn_inputloss_forward_backward(double *mterm, double *sterm, float *dx, const float *x,
                                   int B, int C, int HW, float scale)
{
    GN_ASSERT(B >= 1 && C >= 1 && HW >= 2);
    const size_t P = (size_t)HW;
    double mt = 0, st = 0;
    for (size_t pl = 0; pl < (size_t)B * C; pl++) {
        const float *xp = x + pl * P; // (HW)
        float mf, qf;
        gn_plane_moments(&mf, &qf, xp, P);
        const double m = mf, s = sqrt((double)qf / (double)(HW - 1));
        mt += m * m;
        st += (1.0 - s) * (1.0 - s);
        if (!dx) continue;
        const float a = (float)(scale * 2.0 * m / ((double)B * HW));
        const float b = s > 0 ? (float)(scale * -2.0 * (1.0 - s) / ((double)B * (HW - 1) * s)) : 0.0f;
        float *dp = dx + pl * P; // (HW)
        for (size_t j = 0; j < P; j++) dp[j] += a + b * (xp[j] - mf);
    }
    *mterm = mt / B;
    *sterm = st / B;
}

/* ---- the distiller ------------------------------------------------------- */

struct gn_distiller {
    gn_distill_opts o;
    gn_graph *teacher;
    gn_run *rt;
    int nbn;
    int *bn_in;       /* [nbn] teacher tensor entering BN l */
    const float **mu, **sd; /* [nbn] targets of BN l (into tmean/tstd) */
    float *tmean, *tstd;
    int last_bn;      /* index of the last BN node: backward stops there */
    gn_bn_tap *tap;   /* [nbn] BN l's loss, carried by its node's own passes */
    double *mom;      /* 2*C doubles per layer: the taps' moments */
    float *coef;      /* 3*C floats per layer: the taps' gradient coefficients */
    double *ws;       /* 4 * max C doubles */
    int C, H, W;
    size_t per;       /* C*H*W */
    gn_rng rng;       /* the current batch's stream */
    /* genie */
    gn_graph *gen;
    gn_run *rg;
    float *z;         /* (B, latent) */
    gn_adam opt_z, opt_g;
    gn_param *lw; /* the Linear weight whose gradient is in the teacher's idle arena, or NULL */
    /* pixel / gradient buffer */
    float *x, *dx;    /* (B, C,H,W) */
    gn_adam opt_x;
    gn_distill_stop stop; /* how the last batch ended */
};

gn_run *gn_distiller_teacher(gn_distiller *d) { return d->rt; }

const gn_distill_stop *gn_distiller_stop(const gn_distiller *d) { return &d->stop; }

/* Everything the first iteration writes is touched here, at once (see
 * gn_prefault): at 3x224x224 that is some 2.5 GB, the generator's Linear
 * and its two Adam moments half of it, written seconds into the first
 * iteration otherwise. Not the runs' workspaces, which a pass uses only a
 * part of, nor anything for noise (one forward). The values are the same
 * either way. */
static void prefault_adam(gn_adam *a)
{
    for (int i = 0; i < a->nvar; i++) {
        gn_prefault(a->var[i].m, a->var[i].n * sizeof(float));
        gn_prefault(a->var[i].v, a->var[i].n * sizeof(float));
    }
}

static void prefault(gn_distiller *d)
{
    if (d->o.method == GN_DISTILL_NOISE) return;
    const size_t nx = (size_t)d->o.batch * d->per * sizeof(float);
    gn_run_prefault(d->rt);
    gn_prefault(d->dx, nx);
    if (d->o.method == GN_DISTILL_PIXEL) gn_prefault(d->x, nx); /* genie's x is the generator's output */
    if (d->gen) {
        gn_run_prefault(d->rg);
        for (int i = 0; i < d->gen->np; i++) {
            gn_param *p = &d->gen->params[i];
            gn_prefault(p->data, p->n * sizeof(float));
            if (p != d->lw) gn_prefault(p->grad, p->n * sizeof(float)); /* lw's: the teacher's arena */
        }
        gn_prefault(d->z, (size_t)d->o.batch * d->o.latent * sizeof(float));
    }
    prefault_adam(&d->opt_z);
    prefault_adam(&d->opt_g);
    prefault_adam(&d->opt_x);
}

int gn_distiller_new(gn_distiller **out, const gn_graph *model, const gn_bnstats *st,
                     const gn_distill_opts *o)
{
    GN_ASSERT(o->batch >= 1 && o->iters >= 1 && o->log_every >= 1);
    if (o->batch < 2)
        return gn_err_set("batch of %d: the BatchNorm statistics need at least 2 images", o->batch);
    const gn_tensorinfo *xi = &model->t[model->input];
    if (xi->h * xi->w < 2)
        return gn_err_set("the model takes %dx%dx%d inputs: the input term needs images of at "
                          "least 2 pixels",
                          xi->c, xi->h, xi->w);
    int nbn = gn_bnstats_nodes(model, NULL, 0);
    if (nbn == 0) return gn_err_set("model has no BatchNorm layer (Genie-D needs BatchNorm statistics)");
    if (nbn != st->nl) return gn_err_set("statistics of %d layers for a model with %d BatchNorm layers", st->nl, nbn);
    gn_distiller *d = gn_xcalloc(1, sizeof *d);
    d->o = *o;
    d->C = xi->c, d->H = xi->h, d->W = xi->w;
    d->per = (size_t)d->C * d->H * d->W;
    gn_rng_seed(&d->rng, o->seed, 0); /* until a batch reseeds it */
    int rc = 0;
    /* noise is scored with the same (swung) teacher, for comparability */
    d->teacher = gn_teacher_build(model, o->swing, NULL);
    if (!d->teacher) {
        free(d);
        return GN_EINVAL;
    }
    gn_graph *t = d->teacher;
    d->nbn = nbn;
    d->bn_in = gn_xcalloc((size_t)nbn, sizeof(int));
    d->mu = gn_xcalloc((size_t)nbn, sizeof(float *));
    d->sd = gn_xcalloc((size_t)nbn, sizeof(float *));
    d->tap = gn_xcalloc((size_t)nbn, sizeof(gn_bn_tap));
    d->mom = gn_xmalloc(2 * st->total * sizeof(double));
    d->coef = gn_xmalloc(3 * st->total * sizeof(float));
    d->tmean = gn_xmalloc(st->total * sizeof(float));
    d->tstd = gn_xmalloc(st->total * sizeof(float));
    memcpy(d->tmean, st->mean, st->total * sizeof(float));
    memcpy(d->tstd, st->std, st->total * sizeof(float));
    int cmax = 1, l = 0;
    for (int k = 0; k < t->nn; k++) {
        const gn_node *n = &t->nodes[k];
        if (n->op != GN_OP_BN) continue;
        const gn_tensorinfo *a = &t->t[n->in[0]];
        if (a->c != st->c[l]) {
            rc = gn_err_set("BatchNorm layer %s has %d channels, the statistics %d", n->name, a->c, st->c[l]);
            break;
        }
        if ((double)o->batch * a->h * a->w < 2) {
            rc = gn_err_set("BatchNorm layer %s sees %d value(s) per channel: no unbiased std",
                            n->name, o->batch * a->h * a->w);
            break;
        }
        d->bn_in[l] = n->in[0];
        gn_bn_tap *tp = &d->tap[l];
        float *cf = d->coef + 3 * st->off[l];
        tp->mom = d->mom + 2 * st->off[l];
        tp->a = cf, tp->b = cf + a->c, tp->m = cf + 2 * a->c;
        d->mu[l] = d->tmean + st->off[l];
        d->sd[l] = d->tstd + st->off[l];
        if (a->c > cmax) cmax = a->c;
        d->last_bn = k;
        l++;
    }
    if (rc) {
        gn_distiller_free(d);
        return rc;
    }
    d->ws = gn_xmalloc(4 * (size_t)cmax * sizeof(double));
    /* the teacher's weights are fixed: its backward goes to the input only,
     * so it keeps no convolution inputs and no weight gradients, makes its
     * BN -> ReLU masks again from the BN inputs (which the loss keeps anyway),
     * and holds values and gradients only while they are live
     * (gn_run_new_lean) */
    d->rt = gn_run_new_lean(t, o->batch, GN_WANT_INPUT | GN_LEAN_BN_INFER);
    d->rt->bn_train = 0;
    d->rt->update_running = 0;
    for (int k = 0, m = 0; k < t->nn; k++)
        if (t->nodes[k].op == GN_OP_BN) gn_run_bn_tap(d->rt, k, &d->tap[m++]);
    d->x = gn_xmalloc((size_t)o->batch * d->per * sizeof(float));
    d->dx = gn_xcalloc((size_t)o->batch * d->per, sizeof(float));
    if (o->method == GN_DISTILL_GENIE) {
        if (gn_generator_build(&d->gen, d->C, d->H, d->W, o->latent)) {
            gn_distiller_free(d);
            return GN_EINVAL;
        }
        d->rg = gn_run_new_lean(d->gen, o->batch, GN_WANT_INPUT | GN_WANT_PARAMS);
        d->rg->bn_train = 1;
        d->rg->update_running = 0;
        /* the gradient of the generator's Linear weight (103 M values at
         * 3x224x224) is used from the generator's backward to Adam's step,
         * while the teacher's arena is idle: it lives there */
        gn_param *lw = &d->gen->params[d->gen->nodes[0].p[GN_P_W]];
        float *idle = gn_run_idle(d->rt, lw->n);
        if (idle) {
            free(lw->grad);
            lw->grad = idle;
            d->lw = lw;
        }
        d->z = gn_xmalloc((size_t)o->batch * o->latent * sizeof(float));
        gn_adam_init(&d->opt_z, o->lr_z);
        gn_adam_init(&d->opt_g, o->lr_g);
        gn_adam *as[2] = {&d->opt_z, &d->opt_g};
        for (int i = 0; i < 2; i++)
            as[i]->beta1 = o->beta1, as[i]->beta2 = o->beta2, as[i]->eps = o->adam_eps;
        gn_adam_add(&d->opt_z, d->z, d->rg->grad[d->gen->input], (size_t)o->batch * o->latent);
        for (int i = 0; i < d->gen->np; i++)
            gn_adam_add(&d->opt_g, d->gen->params[i].data, d->gen->params[i].grad,
                        d->gen->params[i].n);
    } else if (o->method == GN_DISTILL_PIXEL) {
        gn_adam_init(&d->opt_x, o->lr_x);
        d->opt_x.beta1 = o->beta1, d->opt_x.beta2 = o->beta2, d->opt_x.eps = o->adam_eps;
        gn_adam_add(&d->opt_x, d->x, d->dx, (size_t)o->batch * d->per);
    }
    prefault(d);
    *out = d;
    return 0;
}

void gn_distiller_free(gn_distiller *d)
{
    if (!d) return;
    if (d->lw) d->lw->grad = NULL; /* the teacher's */
    gn_run_free(d->rt);
    gn_run_free(d->rg);
    gn_graph_free(d->teacher);
    gn_graph_free(d->gen);
    gn_adam_free(&d->opt_z);
    gn_adam_free(&d->opt_g);
    gn_adam_free(&d->opt_x);
    free(d->bn_in);
    free(d->tap);
    free(d->mom);
    free(d->coef);
    free(d->mu);
    free(d->sd);
    free(d->tmean);
    free(d->tstd);
    free(d->ws);
    free(d->z);
    free(d->x);
    free(d->dx);
    free(d);
}

size_t gn_distiller_bytes(const gn_distiller *d)
{
    size_t b = gn_run_bytes(d->rt) + 2 * (size_t)d->o.batch * d->per * sizeof(float);
    if (d->rg) {
        b += gn_run_bytes(d->rg);
        for (int i = 0; i < d->gen->np; i++)
            b += (&d->gen->params[i] == d->lw ? 3 : 4) * d->gen->params[i].n * sizeof(float);
        b += 3 * (size_t)d->o.batch * d->o.latent * sizeof(float);
    }
    if (d->o.method == GN_DISTILL_PIXEL) b += 2 * (size_t)d->o.batch * d->per * sizeof(float);
    return b;
}

double gn_distiller_loss(gn_distiller *d, const float *x, int b, float *dx, double *mterm,
                         double *sterm)
{
    GN_ASSERT(b >= 1 && b <= d->o.batch);
    gn_run *r = d->rt;
    gn_graph *t = d->teacher;
    r->swing_rng = d->o.swing ? &d->rng : NULL;
    const int products = gn_products_set(d->o.products); /* the teacher's only */
    gn_run_forward(r, x, b); /* the BN nodes' taps record their inputs' moments */
    double mt = 0, st = 0;
    for (int l = 0; l < d->nbn; l++) {
        const gn_tensorinfo *a = &t->t[d->bn_in[l]];
        const gn_bn_tap *tp = &d->tap[l];
        double m, s;
        bnloss_coef(&m, &s, tp->mom, tp->mom + a->c, d->mu[l], d->sd[l], b, a->c, a->h * a->w,
                    1.0f, dx ? tp->a : NULL, tp->b, tp->m);
        mt += m;
        st += s;
    }
    if (dx) {
        /* each BN node adds its loss term to its input's gradient, the
         * first writer there (gn_bn_tap): the same bits as the term written
         * before the backward and the BN adding into it */
        gn_run_forget_grad(r);
        gn_run_backward_nodes(r, GN_WANT_INPUT, 0, d->last_bn + 1);
        memcpy(dx, gn_run_grad(r, t->input), (size_t)b * d->per * sizeof(float));
    }
    gn_products_set(products);
    double m, s;
    gn_inputloss_forward_backward(&m, &s, dx, x, b, d->C, d->H * d->W, 1.0f);
    mt += m;
    st += s;
    *mterm = mt;
    *sterm = st;
    return mt + st;
}

/* writes row `row` of the history when iteration it (0-based) is logged */
static void log_row(const gn_distill_opts *o, float *loss, long it, double total, double mt,
                    double st)
{
    if (!loss || it % o->log_every) return;
    float *r = loss + 3 * (size_t)(it / o->log_every);
    r[0] = (float)total, r[1] = (float)mt, r[2] = (float)st;
}

/* Early stop (off by default; a deviation from GENIE.md's fixed count, see
 * distill(1)): the criterion of gn_estop.h on the total loss. The learning
 * rate schedules are per iteration (the plateau scheduler and the
 * generator's x0.95 every 100), not defined on the total count, so a stop
 * truncates them: the batch is the full run's prefix. */
static void es_begin(gn_distiller *d, gn_estop *e, float *loss)
{
    const gn_distill_opts *o = &d->o;
    memset(&d->stop, 0, sizeof d->stop);
    gn_estop_init(e, o->es_alpha, o->es_tol, o->early_stop, o->es_min);
    if (o->early_stop && loss)
        for (size_t i = 0; i < 3 * (size_t)gn_distill_log_rows(o); i++) loss[i] = NAN;
}

/* whether iteration it (0-based), of loss total, ends the batch */
static int es_step(gn_distiller *d, gn_estop *e, long it, double total)
{
    d->stop.iters = it + 1;
    if (!d->o.early_stop || !gn_estop_step(e, total)) return 0;
    d->stop.stopped = 1, d->stop.ema = e->ema, d->stop.best = e->best, d->stop.best_at = e->best_at;
    return 1;
}

static void batch_genie(gn_distiller *d, float *x, float *loss, gn_distill_cb cb, void *arg)
{
    const gn_distill_opts *o = &d->o;
    const int B = o->batch;
    gn_graph *g = d->gen;
    gn_run *rg = d->rg;
    gn_rng_fill_normal(&d->rng, d->z, (size_t)B * o->latent, 0.0f, 1.0f);
    gn_generator_init(g, &d->rng);
    gn_adam_reset(&d->opt_z);
    gn_adam_reset(&d->opt_g);
    gn_plateau pl;
    gn_plateau_init(&pl, o->plateau_factor, o->plateau_patience, o->plateau_threshold, 0,
                    o->plateau_min_lr);
    double lr_z = o->lr_z, lr_g = o->lr_g;
    const size_t nx = (size_t)B * d->per;
    gn_estop es;
    es_begin(d, &es, loss);
    for (long it = 0; it < o->iters; it++) {
        d->opt_z.lr = (float)lr_z;
        d->opt_g.lr = (float)lr_g;
        gn_run_forward(rg, d->z, B);
        const float *xg = rg->val[g->output]; // (B,C,H,W)
        double mt, st;
        double total = gn_distiller_loss(d, xg, B, d->dx, &mt, &st);
        gn_run_forget_grad(rg);
        memcpy(gn_run_grad_set(rg, g->output), d->dx, nx * sizeof(float));
        gn_graph_zero_grads(g);
        gn_run_backward(rg, GN_WANT_INPUT | GN_WANT_PARAMS);
        gn_adam_step(&d->opt_z);
        gn_adam_step(&d->opt_g);
        log_row(o, loss, it, total, mt, st);
        if (cb) cb(arg, it + 1, total, mt, st, lr_z, lr_g);
        /* scheduler_z.step(loss) every iteration; scheduler_g.step() after
         * every g_every-th */
        lr_z = gn_plateau_step(&pl, total, lr_z);
        if ((it + 1) % o->g_every == 0) lr_g *= o->g_gamma;
        const int stop = es_step(d, &es, it, total);
        if (it == o->iters - 1 || stop) memcpy(x, xg, nx * sizeof(float));
        if (stop) break;
    }
}

static void batch_pixel(gn_distiller *d, float *x, float *loss, gn_distill_cb cb, void *arg)
{
    const gn_distill_opts *o = &d->o;
    const int B = o->batch;
    const size_t nx = (size_t)B * d->per;
    gn_rng_fill_normal(&d->rng, d->x, nx, 0.0f, 1.0f);
    gn_adam_reset(&d->opt_x);
    gn_plateau pl;
    gn_plateau_init(&pl, o->plateau_factor, o->plateau_patience, o->plateau_threshold, 0,
                    o->plateau_min_lr);
    double lr = o->lr_x;
    gn_estop es;
    es_begin(d, &es, loss);
    for (long it = 0; it < o->iters; it++) {
        d->opt_x.lr = (float)lr;
        double mt, st;
        double total = gn_distiller_loss(d, d->x, B, d->dx, &mt, &st);
        const int stop = es_step(d, &es, it, total);
        if (it == o->iters - 1 || stop) memcpy(x, d->x, nx * sizeof(float));
        gn_adam_step(&d->opt_x);
        log_row(o, loss, it, total, mt, st);
        if (cb) cb(arg, it + 1, total, mt, st, lr, 0.0);
        lr = gn_plateau_step(&pl, total, lr);
        if (stop) break;
    }
}

int gn_distiller_batch(gn_distiller *d, uint64_t k, float *x, float *loss, gn_distill_cb cb,
                       void *arg)
{
    gn_rng_seed(&d->rng, d->o.seed, k);
    switch (d->o.method) {
    case GN_DISTILL_GENIE: batch_genie(d, x, loss, cb, arg); break;
    case GN_DISTILL_PIXEL: batch_pixel(d, x, loss, cb, arg); break;
    case GN_DISTILL_NOISE: {
        const size_t nx = (size_t)d->o.batch * d->per;
        gn_rng_fill_normal(&d->rng, x, nx, 0.0f, 1.0f);
        double mt, st, total = gn_distiller_loss(d, x, d->o.batch, NULL, &mt, &st);
        if (loss) loss[0] = (float)total, loss[1] = (float)mt, loss[2] = (float)st;
        if (cb) cb(arg, 1, total, mt, st, 0.0, 0.0);
        break;
    }
    }
    return 0;
}
