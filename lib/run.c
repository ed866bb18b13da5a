/* run.c - forward and backward over the graph (see gn_run.h): a dispatch
 * from node kinds to the kernels of gn_ops.h. Memory is sized once in
 * gn_run_new; nothing here allocates afterwards. */
#include "gn_run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_base.h"

#include "gn_err.h"
#include "gn_ops.h"
#include "gn_quant.h"
#include "gn_rng.h"
#include "gn_upconv.h"

static gn_conv_shape conv_shape(const gn_graph *g, const gn_node *n, int B)
{
    const gn_tensorinfo *x = &g->t[n->in[0]];
    const gn_param *w = &g->params[n->p[GN_P_W]];
    gn_conv_shape s = {.B = B, .Cin = x->c, .H = x->h, .W = x->w, .Cout = w->dims[0],
                       .KH = w->dims[2], .KW = w->dims[3], .SH = n->sh, .SW = n->sw,
                       .PT = n->pt, .PL = n->pl, .PB = n->pb, .PR = n->pr, .groups = n->groups};
    GN_ASSERT(gn_conv_shape_init(&s) == 0);
    return s;
}

static gn_pool_shape pool_shape(const gn_graph *g, const gn_node *n, int B)
{
    const gn_tensorinfo *x = &g->t[n->in[0]];
    gn_pool_shape s = {.B = B, .C = x->c, .H = x->h, .W = x->w, .KH = n->kh, .KW = n->kw,
                       .SH = n->sh, .SW = n->sw, .PT = n->pt, .PL = n->pl, .PB = n->pb,
                       .PR = n->pr, .count_include_pad = n->count_include_pad,
                       .ceil_mode = n->op == GN_OP_MAXPOOL && n->ceil_mode};
    GN_ASSERT(gn_pool_shape_init(&s) == 0);
    return s;
}

static float *pdata(const gn_graph *g, const gn_node *n, int slot)
{
    return n->p[slot] >= 0 ? g->params[n->p[slot]].data : NULL;
}

static const float *weight_for(gn_run *r, int k);

/* Pairs (k, k+1) that run as one pass each way: BatchNorm -> ReLU / Clip /
 * LeakyReLU (slope > 0, so the mask is readable from the output) and Add ->
 * ReLU, in graphs without quantisers (a quantised graph's unit boundaries
 * are read from outside; there BN is folded anyway), where node k's output
 * is read by node k+1 only and is not the graph's output. */
static void plan_fusion(gn_run *r)
{
    const gn_graph *g = r->g;
    if (gn_env_flag("GN_NO_FUSE")) return;
    for (int k = 0; k < g->nn; k++)
        if (g->nodes[k].op == GN_OP_AQUANT || g->nodes[k].wbits) return;
    int *readers = gn_xcalloc((size_t)g->nt, sizeof(int));
    for (int k = 0; k < g->nn; k++)
        for (int j = 0; j < g->nodes[k].nin; j++) readers[g->nodes[k].in[j]]++;
    for (int k = 0; k + 1 < g->nn; k++) {
        const gn_node *n = &g->nodes[k], *m = &g->nodes[k + 1];
        if (m->nin != 1 || m->in[0] != n->out || readers[n->out] != 1 || n->out == g->output)
            continue;
        const gn_tensorinfo *ti = &g->t[n->in[0]];
        if (n->op == GN_OP_BN)
            r->fuse[k] = (m->op == GN_OP_RELU || m->op == GN_OP_CLIP ||
                          (m->op == GN_OP_LEAKY && m->slope > 0)) &&
                         ti->h * ti->w <= GN_BN_FUSE_MAX_HW;
        else if (n->op == GN_OP_ADD)
            r->fuse[k] = m->op == GN_OP_RELU;
        else if (n->op == GN_OP_UPSAMPLE && m->op == GN_OP_CONV && m->groups == 1 &&
                 g->params[m->p[GN_P_W]].dims[2] == 3 && g->params[m->p[GN_P_W]].dims[3] == 3 &&
                 m->sh == 1 && m->sw == 1 && m->pt == 1 && m->pl == 1 && m->pb == 1 && m->pr == 1)
            r->fuse[k] = 1;
    }
    free(readers);
}

/* ---- nearest upsample x2 -> 3x3 convolution as one (gn_upconv.h) -------- */

/* the pair of upsample k and convolution m = k+1, for B samples */
static gn_upconv_shape upc_shape(const gn_graph *g, const gn_node *m, int B)
{
    const gn_tensorinfo *x = &g->t[m->in[0]]; /* the upsampled (C,2h,2w) */
    gn_upconv_shape s = {.B = B, .Cin = x->c, .H = x->h / 2, .W = x->w / 2,
                         .Cout = g->params[m->p[GN_P_W]].dims[0]};
    return s;
}

static void upc_forward(gn_run *r, int k)
{
    const gn_graph *g = r->g;
    const gn_node *n = &g->nodes[k], *m = &g->nodes[k + 1];
    gn_upconv_shape s = upc_shape(g, m, r->b);
    gn_upconv_forward(r->val[m->out], r->val[n->in[0]], weight_for(r, k + 1), pdata(g, m, GN_P_B),
                      &s, r->ws);
}

/* the operator kind a node k run with fusion f counts as: its own (a BN or
 * Add with its activation), or the convolution of an upsample pair */
static gn_opkind pair_op(const gn_graph *g, int k, int f)
{
    return g->nodes[f && g->nodes[k].op == GN_OP_UPSAMPLE ? k + 1 : k].op;
}

/* the fused activation of node k's successor; z its output */
static gn_act_fuse fused_act(const gn_run *r, int k)
{
    const gn_node *m = &r->g->nodes[k + 1];
    gn_act_fuse a = {.kind = GN_SET_RELU, .z = r->val[m->out]};
    if (m->op == GN_OP_CLIP) a.kind = GN_SET_CLIP, a.p = m->lo, a.q = m->hi;
    if (m->op == GN_OP_LEAKY) a.kind = GN_SET_LEAKY, a.p = m->slope;
    return a;
}

/* everything of a run but its values and gradients */
static gn_run *run_init(gn_graph *g, int Bmax, int with_grad)
{
    GN_ASSERT(Bmax >= 1);
    gn_run *r = gn_xcalloc(1, sizeof *r);
    r->g = g;
    r->Bmax = Bmax;
    r->b = Bmax;
    r->with_grad = with_grad;
    r->val = gn_xcalloc((size_t)g->nt, sizeof(float *));
    r->grad = gn_xcalloc((size_t)g->nt, sizeof(float *));
    r->cache = gn_xcalloc((size_t)g->nn, sizeof(float *));
    r->argmax = gn_xcalloc((size_t)g->nn, sizeof(int *));
    r->swing_off = gn_xcalloc(2 * (size_t)g->nn + 2, sizeof(int));
    r->wq = gn_xcalloc((size_t)g->nn, sizeof(float *));
    r->wsg = gn_xcalloc((size_t)g->nn, sizeof(float *));
    r->keep = gn_xcalloc((size_t)g->nn, sizeof(uint64_t *));
    size_t maxw = 1;
    r->trainable = gn_xmalloc((size_t)g->np + 1);
    memset(r->trainable, 1, (size_t)g->np + 1);
    r->fuse = gn_xcalloc((size_t)g->nn + 1, 1);
    r->ffwd = gn_xcalloc((size_t)g->nn + 1, 1);
    r->skip = gn_xcalloc((size_t)g->nt + 1, 1);
    plan_fusion(r);
    size_t ws = 0;
    for (int k = 0; k < g->nn; k++) {
        const gn_node *n = &g->nodes[k];
        if (r->fuse[k] && n->op == GN_OP_UPSAMPLE) {
            gn_upconv_shape s = upc_shape(g, &g->nodes[k + 1], Bmax);
            const size_t need = gn_upconv_workspace(&s);
            if (need > ws) ws = need;
        }
        if (n->op == GN_OP_BN) {
            r->cache[k] = gn_xcalloc(2 * (size_t)g->t[n->in[0]].c, sizeof(float));
            if (n->p[GN_P_MEAN] >= 0) r->trainable[n->p[GN_P_MEAN]] = 0;
            if (n->p[GN_P_VAR] >= 0) r->trainable[n->p[GN_P_VAR]] = 0;
        } else if (n->op == GN_OP_MAXPOOL) {
            r->argmax[k] = gn_xcalloc((size_t)Bmax * gn_tensor_size(g, n->out), sizeof(int));
        } else if (n->op == GN_OP_CONV) {
            gn_conv_shape s = conv_shape(g, n, Bmax);
            size_t need = gn_conv2d_workspace(&s);
            if (need > ws) ws = need;
        } else if (n->op == GN_OP_AQUANT) {
            r->keep[k] = gn_xcalloc(((size_t)Bmax * gn_tensor_size(g, n->out) + 63) / 64, sizeof(uint64_t));
        }
        if (n->wbits) {
            size_t nw = g->params[n->p[GN_P_W]].n;
            r->wq[k] = gn_xcalloc(nw, sizeof(float));
            r->wsg[k] = gn_xcalloc(nw, sizeof(float));
            if (nw > maxw) maxw = nw;
        }
    }
    r->dwq = gn_xcalloc(maxw, sizeof(float));
    r->need = gn_xcalloc((size_t)g->nt + 1, 1);
    r->bntap = gn_xcalloc((size_t)g->nn + 1, sizeof *r->bntap);
    r->gvalid = gn_xmalloc((size_t)g->nt + 1);
    memset(r->gvalid, 1, (size_t)g->nt + 1); /* calloc'ed: valid zeros */
    r->nws = ws;
    r->ws = gn_xcalloc(ws ? ws : 1, sizeof(float));
    r->own = gn_xmalloc((size_t)g->nt + 1);
    memset(r->own, 1, (size_t)g->nt + 1);
    return r;
}

gn_run *gn_run_new(gn_graph *g, int Bmax, int with_grad)
{
    gn_run *r = run_init(g, Bmax, with_grad);
    for (int t = 0; t < g->nt; t++) {
        size_t n = (size_t)Bmax * gn_tensor_size(g, t);
        r->val[t] = gn_xcalloc(n, sizeof(float));
        if (with_grad) r->grad[t] = gn_xcalloc(n, sizeof(float));
    }
    return r;
}

/* ---- lean runs: values and gradients placed by lifetime ------------------
 * Time is a line of steps: node k's forward at step k, its backward at
 * step 2nn-1-k. A fused pair (k, k+1) counts as both of its steps either
 * way. Each tensor's value is live from its producer's forward to its last
 * reader (forward, or a backward that reads it); its gradient from the
 * backward of its first writer (its last consumer) to the backward of its
 * producer. Spans that are not live at the same time may share memory; the
 * graph's input and output are live throughout. A pair's middle tensor has no value (never stored)
 * and a gradient only over the pair's backward (read, zero, when a
 * backward's range ends inside the pair; none for an upsample's output,
 * whose pair's backward is never split). Spans are placed in one arena. */

typedef struct {
    int s0, s1;  /* live over steps [s0, s1] */
    size_t n;    /* floats */
    float **at;  /* where its address goes */
} span;

static int pair_lo(const gn_run *r, int k) { return k > 0 && r->fuse[k - 1] ? k - 1 : k; }
static int pair_hi(const gn_run *r, int k) { return r->fuse[k] ? k + 1 : k; }
static int fwd_lo(const gn_run *r, int k) { return pair_lo(r, k); }
static int fwd_hi(const gn_run *r, int k) { return pair_hi(r, k); }
static int bwd_lo(const gn_run *r, int k) { return 2 * r->g->nn - 1 - pair_hi(r, k); }
static int bwd_hi(const gn_run *r, int k) { return 2 * r->g->nn - 1 - pair_lo(r, k); }

static int node_has_trainable(const gn_run *r, const gn_node *n);

/* a lean run's BN node n whose fused activation's mask its backward makes
 * again from n's input (GN_LEAN_BN_INFER, running statistics) */
static int remakes_mask(const gn_run *r, const gn_node *n)
{
    return r->lean && (r->lean_want & GN_LEAN_BN_INFER) && n->op == GN_OP_BN && n->p[GN_P_MEAN] >= 0;
}

static void extend(int *end, int s)
{
    if (s > *end) *end = s;
}

/* the tensors whose values node k's backward reads (lean want), added to
 * vend: the last step each is needed. A pair's second node reads nothing
 * of its own: from node 0 on, its backward always runs inside the first's
 * (gn_run_backward_nodes), which reads for both. */
static void bwd_reads(const gn_run *r, int k, int *vend)
{
    const gn_graph *g = r->g;
    const gn_node *n = &g->nodes[k];
    const int s = bwd_hi(r, k);
    if (k > 0 && r->fuse[k - 1]) return;
    const int wparams = (r->lean_want & GN_WANT_PARAMS) && node_has_trainable(r, n);
    switch (n->op) {
    case GN_OP_UPSAMPLE: /* with its convolution: the weight gradient reads the upsample's input */
        if (r->fuse[k] && (r->lean_want & GN_WANT_PARAMS) && node_has_trainable(r, &g->nodes[k + 1]))
            extend(&vend[n->in[0]], s);
        break;
    case GN_OP_CONV: case GN_OP_LINEAR:
        if (wparams) extend(&vend[n->in[0]], s);
        break;
    case GN_OP_BN:
        extend(&vend[n->in[0]], s);
        if (r->fuse[k] && !remakes_mask(r, n)) extend(&vend[g->nodes[k + 1].out], s);
        break;
    case GN_OP_ADD:
        if (r->fuse[k]) extend(&vend[g->nodes[k + 1].out], s);
        break;
    case GN_OP_RELU: case GN_OP_CLIP: case GN_OP_LEAKY: case GN_OP_HSIGMOID: case GN_OP_HSWISH:
    case GN_OP_AQUANT:
        extend(&vend[n->in[0]], s);
        break;
    case GN_OP_TANH: case GN_OP_SIGMOID: extend(&vend[n->out], s); break;
    case GN_OP_MUL:
        extend(&vend[n->in[0]], s);
        extend(&vend[n->in[1]], s);
        break;
    default: break;
    }
}

static int span_cmp(const void *a, const void *b)
{
    const span *x = a, *y = b;
    /* the spans of the whole run first: they go at the bottom, so that the
     * rest of the arena is one block, idle between passes (gn_run_idle) */
    if ((x->s0 < 0) != (y->s0 < 0)) return x->s0 < 0 ? -1 : 1;
    if (x->n != y->n) return x->n > y->n ? -1 : 1;
    return x->s0 < y->s0 ? -1 : x->s0 > y->s0;
}

gn_run *gn_run_new_lean(gn_graph *g, int Bmax, unsigned want)
{
    return gn_run_new_lean_keep(g, Bmax, want, NULL, 0);
}

gn_run *gn_run_new_lean_keep(gn_graph *g, int Bmax, unsigned want, const int *keep, int nkeep)
{
    GN_ASSERT(nkeep == 0 || want == 0);
    gn_run *r = run_init(g, Bmax, (want & ~GN_LEAN_BN_INFER) != 0);
    r->lean = 1;
    r->lean_want = want;
    /* a kept tensor is stored: not the middle of a fused pair */
    for (int j = 0; j < nkeep; j++)
        for (int k = 0; k < g->nn; k++)
            if (g->nodes[k].out == keep[j]) r->fuse[k] = 0;
    const int nt = g->nt, nn = g->nn, END = 2 * nn + 1;
    int *prod = gn_xmalloc(((size_t)nt + 1) * sizeof(int));
    int *vend = gn_xmalloc(((size_t)nt + 1) * sizeof(int));
    int *gbeg = gn_xmalloc(((size_t)nt + 1) * sizeof(int));
    char *mid = gn_xcalloc((size_t)nt + 1, 1);
    for (int t = 0; t < nt; t++) prod[t] = -1, vend[t] = -1, gbeg[t] = END;
    for (int k = 0; k < nn; k++) {
        const gn_node *n = &g->nodes[k];
        prod[n->out] = k;
        if (r->fuse[k]) mid[n->out] = 1;
        for (int j = 0; j < n->nin; j++) {
            const int t = n->in[j];
            if (!mid[t]) extend(&vend[t], fwd_hi(r, k));
            if (bwd_lo(r, k) < gbeg[t]) gbeg[t] = bwd_lo(r, k);
        }
        if (r->with_grad) bwd_reads(r, k, vend);
    }
    memset(r->own, 0, (size_t)nt);
    span *sp = gn_xmalloc(2 * ((size_t)nt + 1) * sizeof *sp);
    int ns = 0;
    for (int t = 0; t < nt; t++) {
        const size_t n = (size_t)Bmax * gn_tensor_size(g, t);
        const int k = prod[t];
        r->own[t] = t == g->input || t == g->output || k < 0;
        for (int j = 0; j < nkeep; j++) r->own[t] |= keep[j] == t;
        if (r->own[t]) {
            sp[ns++] = (span){-1, END, n, &r->val[t]};
            if (r->with_grad) sp[ns++] = (span){-1, END, n, &r->grad[t]};
            continue;
        }
        if (!mid[t]) {
            int e = vend[t] > fwd_hi(r, k) ? vend[t] : fwd_hi(r, k);
            sp[ns++] = (span){fwd_lo(r, k), e, n, &r->val[t]};
        }
        /* an upsample's output fused into its convolution has no gradient:
         * their backward always runs as one */
        if (r->with_grad && !(mid[t] && g->nodes[k].op == GN_OP_UPSAMPLE)) {
            int b0 = gbeg[t] < bwd_lo(r, k) ? gbeg[t] : bwd_lo(r, k);
            sp[ns++] = (span){b0, bwd_hi(r, k), n, &r->grad[t]};
        }
    }
    /* greedy by size: biggest first, each at the lowest offset where it
     * meets no span placed before it that is live at the same time */
    qsort(sp, (size_t)ns, sizeof *sp, span_cmp);
    size_t *lo = gn_xmalloc(((size_t)ns + 1) * sizeof(size_t));
    int *near = gn_xmalloc(((size_t)ns + 1) * sizeof(int));
    size_t total = 0;
    for (int i = 0; i < ns; i++) {
        int m = 0;
        for (int j = 0; j < i; j++)
            if (sp[j].s0 <= sp[i].s1 && sp[i].s0 <= sp[j].s1) near[m++] = j;
        /* the placed spans it meets, by offset (insertion sort: few) */
        for (int x = 1; x < m; x++)
            for (int y = x; y > 0 && lo[near[y - 1]] > lo[near[y]]; y--) {
                int tmp = near[y];
                near[y] = near[y - 1], near[y - 1] = tmp;
            }
        size_t off = 0;
        for (int x = 0; x < m; x++) {
            const int j = near[x];
            if (lo[j] >= off + sp[i].n) break; /* it fits below j */
            const size_t e = (lo[j] + sp[j].n + 63) & ~(size_t)63; /* 256-byte aligned */
            if (e > off) off = e;
        }
        lo[i] = off;
        if (off + sp[i].n > total) total = off + sp[i].n;
        if (sp[i].s0 < 0) r->idle_off = (off + sp[i].n + 63) & ~(size_t)63;
    }
    r->nblk = 1;
    r->blk = gn_xcalloc(1, sizeof(float *));
    r->blk_n = gn_xcalloc(1, sizeof(size_t));
    r->blk_n[0] = total;
    r->blk[0] = gn_xcalloc(total ? total : 1, sizeof(float));
    for (int i = 0; i < ns; i++) *sp[i].at = r->blk[0] + lo[i];
    /* shared gradients start stale; the graph's own ones are zeros */
    memcpy(r->gvalid, r->own, (size_t)nt);
    free(near);
    free(lo);
    free(sp);
    free(mid);
    free(gbeg);
    free(vend);
    free(prod);
    return r;
}

float *gn_run_idle(gn_run *r, size_t n)
{
    GN_ASSERT(r->lean);
    return r->idle_off + n <= r->blk_n[0] ? r->blk[0] + r->idle_off : NULL;
}

void gn_run_prefault(gn_run *r)
{
    const gn_graph *g = r->g;
    if (r->lean)
        for (int b = 0; b < r->nblk; b++) gn_prefault(r->blk[b], r->blk_n[b] * sizeof(float));
    else
        for (int t = 0; t < g->nt; t++) {
            const size_t n = (size_t)r->Bmax * gn_tensor_size(g, t) * sizeof(float);
            gn_prefault(r->val[t], n);
            if (r->grad[t]) gn_prefault(r->grad[t], n);
        }
    for (int k = 0; k < g->nn; k++)
        if (r->argmax[k])
            gn_prefault(r->argmax[k], (size_t)r->Bmax * gn_tensor_size(g, g->nodes[k].out) * sizeof(int));
}

void gn_run_bn_tap(gn_run *r, int k, const gn_bn_tap *tap)
{
    GN_ASSERT(k >= 0 && k < r->g->nn && r->g->nodes[k].op == GN_OP_BN);
    r->bntap[k] = tap;
}

void gn_run_free(gn_run *r)
{
    if (!r) return;
    if (r->lean)
        for (int b = 0; b < r->nblk; b++) free(r->blk[b]);
    else
        for (int t = 0; t < r->g->nt; t++) {
            free(r->val[t]);
            free(r->grad[t]);
        }
    free(r->blk);
    free(r->blk_n);
    free(r->own);
    for (int k = 0; k < r->g->nn; k++) {
        free(r->cache[k]);
        free(r->argmax[k]);
    }
    free(r->val);
    free(r->grad);
    free(r->cache);
    free(r->argmax);
    for (int k = 0; k < r->g->nn; k++) {
        free(r->wq[k]);
        free(r->wsg[k]);
        free(r->keep[k]);
    }
    free(r->wq);
    free(r->wsg);
    free(r->keep);
    free(r->dwq);
    free(r->need);
    free(r->gvalid);
    free(r->bntap);
    free(r->fuse);
    free(r->ffwd);
    free(r->skip);
    free(r->trainable);
    free(r->swing_off);
    free(r->ws);
    free(r);
}

size_t gn_run_bytes(const gn_run *r)
{
    size_t b = 0;
    for (int i = 0; i < r->nblk; i++) b += r->blk_n[i] * sizeof(float);
    for (int t = 0; t < r->g->nt && !r->lean; t++)
        b += (r->with_grad ? 2 : 1) * (size_t)r->Bmax * gn_tensor_size(r->g, t) * sizeof(float);
    return b + r->nws * sizeof(float);
}

static gn_wq_shape wq_shape(const gn_graph *g, const gn_node *n)
{
    const gn_param *w = &g->params[n->p[GN_P_W]];
    gn_wq_shape s = {.Cout = w->dims[0], .K = w->n / (size_t)w->dims[0], .bits = n->wbits};
    return s;
}

static int is_soft(const gn_run *r, int k) { return k >= r->soft_first && k < r->soft_last; }

/* the weight node k computes with: raw, or fake-quantised into r->wq[k] */
static const float *weight_for(gn_run *r, int k)
{
    const gn_graph *g = r->g;
    const gn_node *n = &g->nodes[k];
    if (!r->qmode || !n->wbits) return pdata(g, n, GN_P_W);
    gn_wq_shape s = wq_shape(g, n);
    if (is_soft(r, k)) {
        gn_rsig_sigmoid(r->wsg[k], pdata(g, n, GN_P_WV), g->params[n->p[GN_P_WV]].n);
        gn_wquant_forward_sg(r->wq[k], pdata(g, n, GN_P_WFLOOR), r->wsg[k],
                             pdata(g, n, GN_P_WSTEP), pdata(g, n, GN_P_WZP), &s);
        return r->wq[k];
    }
    gn_wquant_forward(r->wq[k], pdata(g, n, GN_P_WFLOOR), pdata(g, n, GN_P_WV),
                      pdata(g, n, GN_P_WSTEP), pdata(g, n, GN_P_WZP), 0, &s);
    return r->wq[k];
}

static void aquant_forward(gn_run *r, int k, float *y, const float *x, size_t cnt)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    float *step = &g->params[n->p[GN_P_ASTEP]].data[0];
    if (!r->qmode) {
        memcpy(y, x, cnt * sizeof(float));
        return;
    }
    if (r->act_init && !(*step > 0)) {
        int neg = 0;
        for (size_t i = 0; i < cnt && !neg; i++) neg = x[i] < 0;
        n->asigned = neg;
        *step = gn_clip_search_act(x, cnt, n->abits, neg);
    }
    float qn, qp;
    gn_aquant_range(n->abits, n->asigned, &qn, &qp);
    const uint64_t *keep = NULL;
    if (r->qdrop_rng && is_soft(r, k)) {
        /* one draw per 64 elements, bit j of draw i for element 64i+j */
        uint64_t *m = r->keep[k];
        for (size_t i = 0; i < (cnt + 63) / 64; i++) m[i] = gn_rng_u64(r->qdrop_rng);
        keep = m;
    }
    gn_aquant_forward(y, x, *step, qn, qp, keep, cnt);
}

/* fused: node k+1 (an activation) runs inside node k, into its output */
static void forward_node(gn_run *r, int k, int fused)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    int B = r->b;
    float *x = r->val[n->in[0]], *y = r->val[n->out];
    gn_act_fuse act;
    if (fused) act = fused_act(r, k), y = r->val[g->nodes[k + 1].out];
    size_t nin = (size_t)B * gn_tensor_size(g, n->in[0]);
    const gn_tensorinfo *ti = &g->t[n->in[0]];
    switch (n->op) {
    case GN_OP_CONV: {
        gn_conv_shape s = conv_shape(g, n, B);
        gn_conv2d_forward(y, x, weight_for(r, k), pdata(g, n, GN_P_B), &s, r->ws);
        break;
    }
    case GN_OP_BN: {
        gn_bn_shape s = {.B = B, .C = ti->c, .HW = ti->h * ti->w, .eps = n->eps};
        float *rm = pdata(g, n, GN_P_MEAN), *rv = pdata(g, n, GN_P_VAR);
        if (r->bn_train || !rm) {
            float *mean = r->cache[k], *invstd = r->cache[k] + ti->c;
            if (fused)
                gn_bn_forward_train_act(y, mean, invstd, x, pdata(g, n, GN_P_GAMMA),
                                        pdata(g, n, GN_P_BETA), &s, &act);
            else
                gn_bn_forward_train(y, mean, invstd, x, pdata(g, n, GN_P_GAMMA),
                                    pdata(g, n, GN_P_BETA), &s);
            if (r->update_running && rm) gn_bn_update_running(rm, rv, mean, invstd, n->momentum, &s);
        } else {
            gn_bn_forward_infer_tap(y, x, pdata(g, n, GN_P_GAMMA), pdata(g, n, GN_P_BETA), rm, rv,
                                    &s, fused ? &act : NULL, r->bntap[k]);
        }
        break;
    }
    case GN_OP_RELU: gn_relu_forward(y, x, nin); break;
    case GN_OP_CLIP: gn_clip_forward(y, x, n->lo, n->hi, nin); break;
    case GN_OP_LEAKY: gn_leaky_forward(y, x, n->slope, nin); break;
    case GN_OP_TANH: gn_tanh_forward(y, x, nin); break;
    case GN_OP_ADD:
        if (fused)
            gn_add_relu_forward(y, x, r->val[n->in[1]], nin);
        else
            gn_add_forward(y, x, r->val[n->in[1]], nin);
        break;
    case GN_OP_IDENTITY: case GN_OP_FLATTEN: case GN_OP_RESHAPE:
        memcpy(y, x, nin * sizeof(float));
        break;
    case GN_OP_MAXPOOL: {
        gn_pool_shape s = pool_shape(g, n, B);
        gn_maxpool_forward(y, r->argmax[k], x, &s);
        break;
    }
    case GN_OP_AVGPOOL: {
        gn_pool_shape s = pool_shape(g, n, B);
        gn_avgpool_forward(y, x, &s);
        break;
    }
    case GN_OP_GAP: gn_gap_forward(y, x, B, ti->c, ti->h * ti->w); break;
    case GN_OP_LINEAR: {
        const gn_param *w = &g->params[n->p[GN_P_W]];
        gn_linear_forward(y, x, weight_for(r, k), pdata(g, n, GN_P_B), B, w->dims[1], w->dims[0]);
        break;
    }
    case GN_OP_UPSAMPLE: gn_upsample2_forward(y, x, B, ti->c, ti->h, ti->w); break;
    case GN_OP_SWING: {
        int oy = 1, ox = 1;
        if (r->swing_rng) {
            oy = (int)gn_rng_below(r->swing_rng, 3);
            ox = (int)gn_rng_below(r->swing_rng, 3);
        }
        r->swing_off[2 * k] = oy, r->swing_off[2 * k + 1] = ox;
        gn_swing_forward(y, x, oy, ox, B, ti->c, ti->h, ti->w);
        break;
    }
    case GN_OP_AQUANT: aquant_forward(r, k, y, x, nin); break;
    case GN_OP_SIGMOID: gn_sigmoid_forward(y, x, nin); break;
    case GN_OP_HSIGMOID: gn_hsigmoid_forward(y, x, n->alpha, n->beta, nin); break;
    case GN_OP_HSWISH: gn_hswish_forward(y, x, nin); break;
    case GN_OP_MUL: {
        const gn_tensorinfo *tb = &g->t[n->in[1]];
        gn_mul_forward(y, x, r->val[n->in[1]], B, ti->c, ti->h * ti->w, tb->h * tb->w == 1 && ti->h * ti->w > 1);
        break;
    }
    case GN_OP_CONCAT: {
        const float *xs[GN_MAXIN];
        int cs[GN_MAXIN];
        for (int j = 0; j < n->nin; j++) xs[j] = r->val[n->in[j]], cs[j] = g->t[n->in[j]].c;
        gn_concat_forward(y, xs, cs, n->nin, B, ti->h * ti->w);
        break;
    }
    case GN_OP_SLICE: gn_slice_forward(y, x, B, ti->c, n->c0, n->cn, ti->h * ti->w); break;
    case GN_OP_SHUFFLE: gn_shuffle_forward(y, x, B, ti->c, n->groups, ti->h * ti->w); break;
    default: GN_ASSERT(!"unknown operator");
    }
}

/* ---- GN_PROFILE: where the time goes --------------------------------------
 * With GN_PROFILE set in the environment, every forward and backward node is
 * timed; gn_run_profile_print gives one line per operator kind: calls and
 * seconds forward and backward, and the share of all node time. Off, it
 * costs one branch per node. */
static int prof_on = -1;
static double prof_t[2][GN_OP_COUNT];
static long prof_n[2][GN_OP_COUNT];

void gn_run_profile_print(FILE *f)
{
    double tot = 0;
    for (int d = 0; d < 2; d++)
        for (int o = 0; o < GN_OP_COUNT; o++) tot += prof_t[d][o];
    if (tot <= 0) return;
    fprintf(f, "GN_PROFILE: %-10s %9s %10s %9s %10s %6s\n", "operator", "fwd calls", "fwd s",
            "bwd calls", "bwd s", "share");
    for (int o = 0; o < GN_OP_COUNT; o++)
        if (prof_n[0][o] || prof_n[1][o])
            fprintf(f, "GN_PROFILE: %-10s %9ld %10.3f %9ld %10.3f %5.1f%%\n",
                    gn_op_name((gn_opkind)o), prof_n[0][o], prof_t[0][o], prof_n[1][o], prof_t[1][o],
                    100 * (prof_t[0][o] + prof_t[1][o]) / tot);
    fprintf(f, "GN_PROFILE: all nodes %.3f s\n", tot);
}

static int prof_enabled(void)
{
    if (prof_on < 0) prof_on = gn_env_flag("GN_PROFILE");
    return prof_on;
}

static void prof_add(int dir, gn_opkind op, double t0)
{
    prof_t[dir][op] += gn_now() - t0;
    prof_n[dir][op]++;
}

/* a lean run's range [first, last) reads, of what is made before it,
 * only tensors of their own (the graph's input and the kept ones) */
static int lean_range_ok(gn_run *r, int first, int last)
{
    const gn_graph *g = r->g;
    int ok = 1;
    memset(r->need, 0, (size_t)g->nt);
    for (int k = first; k < last; k++) {
        for (int j = 0; j < g->nodes[k].nin; j++) ok &= r->own[g->nodes[k].in[j]] || r->need[g->nodes[k].in[j]];
        r->need[g->nodes[k].out] = 1;
    }
    return ok;
}

void gn_run_forward_nodes(gn_run *r, int first, int last)
{
    GN_ASSERT(!r->lean || (first == 0 && last == r->g->nn) ||
              (!r->with_grad && lean_range_ok(r, first, last)));
    const int prof = prof_enabled();
    for (int k = first; k < last; k++) {
        const int f = r->fuse[k] && k + 1 < last;
        double t0 = prof ? gn_now() : 0;
        if (f && r->g->nodes[k].op == GN_OP_UPSAMPLE)
            upc_forward(r, k);
        else
            forward_node(r, k, f);
        if (prof) prof_add(0, pair_op(r->g, k, f), t0);
        r->ffwd[k] = (char)f;
        if (f) r->ffwd[++k] = 0;
    }
}

void gn_run_forward(gn_run *r, const float *x, int b)
{
    GN_ASSERT(b >= 1 && b <= r->Bmax);
    r->b = b;
    if (x) memcpy(r->val[r->g->input], x, (size_t)b * gn_tensor_size(r->g, r->g->input) * sizeof(float));
    gn_run_forward_nodes(r, 0, r->g->nn);
}

void gn_run_zero_grad(gn_run *r)
{
    GN_ASSERT(r->with_grad);
    for (int t = 0; t < r->g->nt; t++) {
        r->gvalid[t] = r->own[t]; /* a lean run's shared ones: stale */
        if (r->own[t])
            memset(r->grad[t], 0, (size_t)r->Bmax * gn_tensor_size(r->g, t) * sizeof(float));
    }
}

void gn_run_forget_grad(gn_run *r)
{
    GN_ASSERT(r->with_grad);
    memset(r->gvalid, 0, (size_t)r->g->nt);
}

float *gn_run_grad(gn_run *r, int t)
{
    GN_ASSERT(r->with_grad && t >= 0 && t < r->g->nt && r->grad[t]);
    if (!r->gvalid[t]) {
        memset(r->grad[t], 0, (size_t)r->b * gn_tensor_size(r->g, t) * sizeof(float));
        r->gvalid[t] = 1;
    }
    return r->grad[t];
}

float *gn_run_grad_set(gn_run *r, int t)
{
    GN_ASSERT(r->with_grad && t >= 0 && t < r->g->nt);
    r->gvalid[t] = 1;
    return r->grad[t];
}

/* The gradient of tensor t for a backward to write, NULL when not needed.
 * A stale one is handed over as it is, with *set = 1, when the kernel has a
 * first-writer form (can_set); otherwise it is zeroed first. */
static float *dx_for(gn_run *r, int t, const char *need, int can_set, int *set)
{
    *set = 0;
    if (!need[t]) return NULL;
    if (!r->gvalid[t] && can_set) {
        *set = 1;
        r->gvalid[t] = 1;
        return r->grad[t];
    }
    return gn_run_grad(r, t);
}

/* parameter gradient pointer for slot s of node n, or NULL when not wanted */
static float *pgrad(gn_run *r, const gn_node *n, int slot, unsigned want)
{
    if (!(want & GN_WANT_PARAMS) || n->p[slot] < 0 || !r->trainable[n->p[slot]]) return NULL;
    gn_param *p = &r->g->params[n->p[slot]];
    if (!p->grad) p->grad = gn_xcalloc(p->n, sizeof(float));
    return p->grad;
}

/* Where the weight gradient of node k goes: the raw weight's grad when the
 * node is not quantised; otherwise a zeroed scratch, pushed through the
 * quantiser into the step and rounding grads by wgrad_end. NULL = none. */
static float *wgrad_begin(gn_run *r, int k, unsigned want)
{
    const gn_node *n = &r->g->nodes[k];
    if (!r->qmode || !n->wbits) return pgrad(r, n, GN_P_W, want);
    if (!pgrad(r, n, GN_P_WSTEP, want) && !pgrad(r, n, GN_P_WV, want)) return NULL;
    memset(r->dwq, 0, r->g->params[n->p[GN_P_W]].n * sizeof(float));
    return r->dwq;
}

static void wgrad_end(gn_run *r, int k, unsigned want)
{
    gn_graph *g = r->g;
    const gn_node *n = &g->nodes[k];
    if (!r->qmode || !n->wbits) return;
    float *dstep = pgrad(r, n, GN_P_WSTEP, want), *dv = pgrad(r, n, GN_P_WV, want);
    if (!dstep && !dv) return;
    gn_wq_shape s = wq_shape(g, n);
    if (is_soft(r, k)) {
        gn_wquant_backward_sg(dstep, dv, r->dwq, pdata(g, n, GN_P_WFLOOR), r->wsg[k],
                              pdata(g, n, GN_P_WSTEP), pdata(g, n, GN_P_WZP), &s);
        return;
    }
    gn_wquant_backward(dstep, dv, r->dwq, pdata(g, n, GN_P_WFLOOR), pdata(g, n, GN_P_WV),
                       pdata(g, n, GN_P_WSTEP), pdata(g, n, GN_P_WZP), &s);
}

/* kinds whose backward has a first-writer form for dx (gn_ops.h) */
static int can_set_dx(const gn_run *r, const gn_node *n)
{
    switch (n->op) {
    case GN_OP_BN: case GN_OP_RELU: case GN_OP_CLIP: case GN_OP_LEAKY: case GN_OP_TANH:
    case GN_OP_ADD: case GN_OP_IDENTITY: case GN_OP_FLATTEN: case GN_OP_RESHAPE:
    case GN_OP_UPSAMPLE: case GN_OP_CONV: return 1;
    case GN_OP_AQUANT: return !r->qmode;
    default: return 0;
    }
}

static void conv_node_backward(gn_run *r, int k, unsigned want, float *dx, int set,
                               const float *dy, const float *x)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    gn_conv_shape s = conv_shape(g, n, r->b);
    const float *w = r->qmode && n->wbits ? r->wq[k] : pdata(g, n, GN_P_W);
    float *dw = wgrad_begin(r, k, want);
    if (set)
        gn_conv2d_backward_set(dx, dw, pgrad(r, n, GN_P_B, want), dy, x, w, &s, r->ws);
    else
        gn_conv2d_backward(dx, dw, pgrad(r, n, GN_P_B, want), dy, x, w, &s, r->ws);
    wgrad_end(r, k, want);
}

static void bn_node_backward(gn_run *r, int k, unsigned want, float *dx, int set,
                             const float *dy, const float *x)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    const gn_tensorinfo *ti = &g->t[n->in[0]];
    gn_bn_shape s = {.B = r->b, .C = ti->c, .HW = ti->h * ti->w, .eps = n->eps};
    float *rm = pdata(g, n, GN_P_MEAN), *rv = pdata(g, n, GN_P_VAR);
    if ((r->bn_train || !rm) && set)
        gn_bn_backward_train_set(dx, pgrad(r, n, GN_P_GAMMA, want), pgrad(r, n, GN_P_BETA, want),
                                 dy, x, r->cache[k], r->cache[k] + ti->c,
                                 pdata(g, n, GN_P_GAMMA), &s);
    else if (r->bn_train || !rm)
        gn_bn_backward_train(dx, pgrad(r, n, GN_P_GAMMA, want), pgrad(r, n, GN_P_BETA, want),
                             dy, x, r->cache[k], r->cache[k] + ti->c,
                             pdata(g, n, GN_P_GAMMA), &s);
    else
        gn_bn_backward_infer_tap(dx, pgrad(r, n, GN_P_GAMMA, want),
                                 pgrad(r, n, GN_P_BETA, want), dy, x, pdata(g, n, GN_P_GAMMA),
                                 rm, rv, &s, set, NULL, r->bntap[k]);
}

/* the element-wise kinds: ReLU, Clip, LeakyReLU, Tanh (from its output y)
 * and the copies (Identity, Flatten, Reshape) */
static void act_node_backward(const gn_node *n, float *dx, int set, const float *dy,
                              const float *x, const float *y, size_t nin)
{
    switch (n->op) {
    case GN_OP_RELU:
        if (set) gn_act_backward_set(GN_SET_RELU, dx, dy, x, 0, 0, nin);
        else if (dx) gn_relu_backward(dx, dy, x, nin);
        break;
    case GN_OP_CLIP:
        if (set) gn_act_backward_set(GN_SET_CLIP, dx, dy, x, n->lo, n->hi, nin);
        else if (dx) gn_clip_backward(dx, dy, x, n->lo, n->hi, nin);
        break;
    case GN_OP_LEAKY:
        if (set) gn_act_backward_set(GN_SET_LEAKY, dx, dy, x, n->slope, 0, nin);
        else if (dx) gn_leaky_backward(dx, dy, x, n->slope, nin);
        break;
    case GN_OP_TANH:
        if (set) gn_act_backward_set(GN_SET_TANH, dx, dy, y, 0, 0, nin);
        else if (dx) gn_tanh_backward(dx, dy, y, nin);
        break;
    default: /* Identity, Flatten, Reshape */
        if (set) gn_act_backward_set(GN_SET_COPY, dx, dy, NULL, 0, 0, nin);
        else if (dx) gn_accum(dx, dy, nin);
        break;
    }
}

static void linear_node_backward(gn_run *r, int k, unsigned want, float *dx, const float *dy,
                                 const float *x)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    const gn_param *w = &g->params[n->p[GN_P_W]];
    const float *wd = r->qmode && n->wbits ? r->wq[k] : w->data;
    float *dw = wgrad_begin(r, k, want);
    gn_linear_backward(dx, dw, pgrad(r, n, GN_P_B, want), dy, x, wd, r->b, w->dims[1],
                       w->dims[0]);
    wgrad_end(r, k, want);
}

static void aquant_node_backward(gn_run *r, int k, unsigned want, float *dx, int set,
                                 const float *dy, const float *x, size_t nin)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    float qn, qp;
    gn_aquant_range(n->abits, n->asigned, &qn, &qp);
    const uint64_t *keep = r->qdrop_rng && is_soft(r, k) ? r->keep[k] : NULL;
    float *ds = pgrad(r, n, GN_P_ASTEP, want);
    if (!r->qmode) {
        if (set) gn_act_backward_set(GN_SET_COPY, dx, dy, NULL, 0, 0, nin);
        else if (dx) gn_accum(dx, dy, nin);
    } else if (dx || ds) {
        gn_aquant_backward(dx, ds, dy, x, g->params[n->p[GN_P_ASTEP]].data[0], qn, qp, keep, nin);
    }
}

static void backward_node(gn_run *r, int k, unsigned want, const char *need)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    int B = r->b;
    const gn_tensorinfo *ti = &g->t[n->in[0]];
    float *x = r->val[n->in[0]], *dy = gn_run_grad(r, n->out);
    size_t nin = (size_t)B * gn_tensor_size(g, n->in[0]);
    /* an activation that ran inside the node before it: its input was not
     * stored, and its output gives the same mask (gn_act_fuse) */
    if (k > 0 && r->ffwd[k - 1]) x = r->val[n->out];
    /* a convolution fused with its upsample has no stored input: its backward runs with the upsample's */
    GN_ASSERT(!(k > 0 && r->ffwd[k - 1] && g->nodes[k - 1].op == GN_OP_UPSAMPLE));
    int set;
    float *dx = dx_for(r, n->in[0], need, can_set_dx(r, n), &set);
    switch (n->op) {
    case GN_OP_CONV: conv_node_backward(r, k, want, dx, set, dy, x); break;
    case GN_OP_BN: bn_node_backward(r, k, want, dx, set, dy, x); break;
    case GN_OP_RELU: case GN_OP_CLIP: case GN_OP_LEAKY: case GN_OP_TANH:
    case GN_OP_IDENTITY: case GN_OP_FLATTEN: case GN_OP_RESHAPE:
        act_node_backward(n, dx, set, dy, x, r->val[n->out], nin);
        break;
    case GN_OP_ADD: {
        if (set) gn_act_backward_set(GN_SET_COPY, dx, dy, NULL, 0, 0, nin);
        else if (dx) gn_accum(dx, dy, nin);
        int set1;
        float *dx1 = dx_for(r, n->in[1], need, 1, &set1);
        if (set1) gn_act_backward_set(GN_SET_COPY, dx1, dy, NULL, 0, 0, nin);
        else if (dx1) gn_accum(dx1, dy, nin);
        break;
    }
    case GN_OP_MAXPOOL: {
        gn_pool_shape s = pool_shape(g, n, B);
        if (dx) gn_maxpool_backward(dx, dy, r->argmax[k], &s);
        break;
    }
    case GN_OP_AVGPOOL: {
        gn_pool_shape s = pool_shape(g, n, B);
        if (dx) gn_avgpool_backward(dx, dy, &s);
        break;
    }
    case GN_OP_GAP: if (dx) gn_gap_backward(dx, dy, B, ti->c, ti->h * ti->w); break;
    case GN_OP_LINEAR: linear_node_backward(r, k, want, dx, dy, x); break;
    case GN_OP_UPSAMPLE:
        if (set) gn_upsample2_backward_set(dx, dy, B, ti->c, ti->h, ti->w);
        else if (dx) gn_upsample2_backward(dx, dy, B, ti->c, ti->h, ti->w);
        break;
    case GN_OP_AQUANT: aquant_node_backward(r, k, want, dx, set, dy, x, nin); break;
    case GN_OP_SIGMOID: gn_sigmoid_backward(dx, dy, r->val[n->out], nin); break;
    case GN_OP_HSIGMOID: gn_hsigmoid_backward(dx, dy, x, n->alpha, n->beta, nin); break;
    case GN_OP_HSWISH: gn_hswish_backward(dx, dy, x, nin); break;
    case GN_OP_MUL: {
        const gn_tensorinfo *tb = &g->t[n->in[1]];
        int s1;
        float *db = dx_for(r, n->in[1], need, 0, &s1);
        if (dx || db)
            gn_mul_backward(dx, db, dy, x, r->val[n->in[1]], B, ti->c, ti->h * ti->w,
                            tb->h * tb->w == 1 && ti->h * ti->w > 1);
        break;
    }
    case GN_OP_CONCAT: {
        float *dxs[GN_MAXIN];
        int cs[GN_MAXIN], s1;
        dxs[0] = dx, cs[0] = ti->c;
        for (int j = 1; j < n->nin; j++)
            dxs[j] = dx_for(r, n->in[j], need, 0, &s1), cs[j] = g->t[n->in[j]].c;
        gn_concat_backward(dxs, dy, cs, n->nin, B, ti->h * ti->w);
        break;
    }
    case GN_OP_SLICE: gn_slice_backward(dx, dy, B, ti->c, n->c0, n->cn, ti->h * ti->w); break;
    case GN_OP_SHUFFLE: gn_shuffle_backward(dx, dy, B, ti->c, n->groups, ti->h * ti->w); break;
    case GN_OP_SWING:
        if (dx) gn_swing_backward(dx, dy, r->swing_off[2 * k], r->swing_off[2 * k + 1], B, ti->c, ti->h, ti->w);
        break;
    default: GN_ASSERT(!"unknown operator");
    }
}

/* the backward of the upsample k and convolution k+1 run as one
 * (gn_upconv.h) */
static void upc_backward(gn_run *r, int k, unsigned want, const char *need)
{
    gn_graph *g = r->g;
    const gn_node *n = &g->nodes[k], *m = &g->nodes[k + 1];
    gn_upconv_shape s = upc_shape(g, m, r->b);
    int set;
    /* by phases the pair adds into dx; by Winograd it writes it (first writer) */
    float *dx = dx_for(r, n->in[0], need, gn_upconv_wino(&s), &set);
    float *dw = wgrad_begin(r, k + 1, want), *db = pgrad(r, m, GN_P_B, want);
    gn_upconv_backward(dx, dw, db, gn_run_grad(r, m->out), r->val[n->in[0]], weight_for(r, k + 1),
                       &s, set, r->ws);
    wgrad_end(r, k + 1, want);
}

/* the backward of node k (BN or Add) and of the activation k+1 fused into
 * it, from the gradient at the activation's output; node k's own output
 * gradient is never formed */
static void backward_fused(gn_run *r, int k, unsigned want, const char *need)
{
    gn_graph *g = r->g;
    gn_node *n = &g->nodes[k];
    const int B = r->b;
    const gn_tensorinfo *ti = &g->t[n->in[0]];
    gn_act_fuse a = fused_act(r, k);
    if (remakes_mask(r, n)) {
        GN_ASSERT(!r->bn_train); /* planned so (GN_LEAN_BN_INFER) */
        a.z = NULL, a.remake = 1, a.beta = pdata(g, n, GN_P_BETA);
    }
    const float *x = r->val[n->in[0]], *dy = gn_run_grad(r, g->nodes[k + 1].out);
    const size_t nin = (size_t)B * gn_tensor_size(g, n->in[0]);
    int set;
    if (n->op == GN_OP_ADD) {
        for (int j = 0; j < 2; j++) {
            float *d = dx_for(r, n->in[j], need, 1, &set);
            if (set) gn_act_backward_set(GN_SET_RELU, d, dy, a.z, 0, 0, nin);
            else if (d) gn_relu_backward(d, dy, a.z, nin);
        }
        return;
    }
    float *dx = dx_for(r, n->in[0], need, 1, &set);
    gn_bn_shape s = {.B = B, .C = ti->c, .HW = ti->h * ti->w, .eps = n->eps};
    float *rm = pdata(g, n, GN_P_MEAN), *rv = pdata(g, n, GN_P_VAR);
    float *dgamma = pgrad(r, n, GN_P_GAMMA, want), *dbeta = pgrad(r, n, GN_P_BETA, want);
    if (r->bn_train || !rm)
        gn_bn_backward_train_act(dx, dgamma, dbeta, dy, x, r->cache[k], r->cache[k] + ti->c,
                                 pdata(g, n, GN_P_GAMMA), &s, set, &a);
    else
        gn_bn_backward_infer_tap(dx, dgamma, dbeta, dy, x, pdata(g, n, GN_P_GAMMA), rm, rv, &s, set,
                                 &a, r->bntap[k]);
}

static int node_has_trainable(const gn_run *r, const gn_node *n)
{
    for (int s = 0; s < GN_NSLOT; s++)
        if (n->p[s] >= 0 && r->trainable[n->p[s]]) return 1;
    return 0;
}

void gn_run_backward_nodes(gn_run *r, unsigned want, int first, int last)
{
    GN_ASSERT(r->with_grad && !(want & ~(r->lean ? r->lean_want : ~0u) & ~GN_LEAN_BN_INFER));
    GN_ASSERT(!r->lean || first == 0);
    gn_graph *g = r->g;
    /* a lean run's shared gradient blocks hold whatever was there last */
    for (int t = 0; t < g->nt && r->lean; t++)
        if (!r->own[t]) r->gvalid[t] = 0;
    /* need[t]: some gradient asked for lies upstream of tensor t, so dL/dt must
     * be computed. The first node's inputs count as "input" for slices. */
    char *need = r->need;
    memset(need, 0, (size_t)g->nt);
    if (want & GN_WANT_INPUT) {
        need[g->input] = 1;
        for (int k = first; k < last; k++)
            for (int j = 0; j < g->nodes[k].nin; j++) {
                int t = g->nodes[k].in[j];
                int produced = 0;
                for (int q = first; q < k && !produced; q++) produced = g->nodes[q].out == t;
                if (!produced) need[t] = 1;
            }
    }
    for (int k = first; k < last; k++) {
        const gn_node *n = &g->nodes[k];
        int any = (want & GN_WANT_PARAMS) && node_has_trainable(r, n);
        for (int j = 0; j < n->nin; j++) any |= need[n->in[j]];
        if (any) need[n->out] = 1;
    }
    const int prof = prof_enabled();
    memset(r->skip, 0, (size_t)g->nt);
    for (int k = last - 1; k >= first; k--) {
        if (!need[g->nodes[k].out]) continue;
        double t0 = prof ? gn_now() : 0;
        if (k - 1 >= first && r->fuse[k - 1] && need[g->nodes[k - 1].out]) {
            k--; /* node k+1 runs inside node k */
            if (g->nodes[k].op == GN_OP_UPSAMPLE)
                upc_backward(r, k, want, need);
            else
                backward_fused(r, k, want, need);
            r->skip[g->nodes[k].out] = 1;
        } else {
            backward_node(r, k, want, need);
        }
        if (prof) prof_add(1, pair_op(g, k, r->skip[g->nodes[k].out]), t0);
    }
    /* a needed gradient no node wrote is zero (but a fused pair's middle
     * gradient is never formed) */
    for (int t = 0; t < g->nt; t++)
        if (need[t] && !r->gvalid[t] && !r->skip[t] && r->own[t]) gn_run_grad(r, t);
}

void gn_run_backward(gn_run *r, unsigned want) { gn_run_backward_nodes(r, want, 0, r->g->nn); }
