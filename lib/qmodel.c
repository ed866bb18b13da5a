/* qmodel.c - BatchNorm folding, quantiser insertion, reconstruction units
 * and the quantised-model file (see gn_qmodel.h). */
#include "gn_qmodel.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gn_err.h"
#include "gn_quant.h"

/* copies parameter i of src into dst under the same name (once) */
static int copy_param(gn_graph *dst, const gn_graph *src, int i)
{
    if (i < 0) return -1;
    int j = gn_graph_find_param(dst, src->params[i].name);
    if (j >= 0) return j;
    return gn_graph_add_param(dst, src->params[i].name, src->params[i].ndim, src->params[i].dims,
                              src->params[i].data);
}

/* a fresh parameter name based on `base` */
static void fresh_name(const gn_graph *g, char *buf, size_t len, const char *base)
{
    snprintf(buf, len, "%s", base);
    /* a base too long for buf keeps room for the suffix, so names stay distinct */
    int keep = len > 16 ? (int)(len - 13) : 0;
    for (int k = 2; gn_graph_find_param(g, buf) >= 0; k++) snprintf(buf, len, "%.*s.%d", keep, base, k);
}

static int consumers(const gn_graph *g, int t, int *first)
{
    int c = 0;
    if (first) *first = -1;
    for (int k = 0; k < g->nn; k++)
        for (int j = 0; j < g->nodes[k].nin; j++)
            if (g->nodes[k].in[j] == t) {
                if (first && *first < 0) *first = k;
                c++;
            }
    return c + (t == g->output);
}

static int producer(const gn_graph *g, int t)
{
    for (int k = 0; k < g->nn; k++)
        if (g->nodes[k].out == t) return k;
    return -1;
}

/* copies node n of src into dst (names mapped, params copied); returns it */
static gn_node *copy_node(gn_graph *dst, const gn_graph *src, const gn_node *n)
{
    int in[GN_MAXIN], out = gn_graph_tensor(dst, src->t[n->out].name), p[GN_NSLOT];
    for (int j = 0; j < n->nin; j++) in[j] = gn_graph_tensor(dst, src->t[n->in[j]].name);
    for (int s = 0; s < GN_NSLOT; s++) p[s] = copy_param(dst, src, n->p[s]);
    gn_node *m = gn_graph_add_node(dst, n->op, n->name);
    char *nm = m->name;
    *m = *n;
    m->name = nm;
    for (int j = 0; j < n->nin; j++) m->in[j] = in[j];
    m->out = out;
    for (int s = 0; s < GN_NSLOT; s++) m->p[s] = p[s];
    return m;
}

int gn_fold_bn(const gn_graph *src, gn_graph **out)
{
    gn_graph *g = gn_graph_new();
    g->input = gn_graph_tensor(g, src->t[src->input].name);
    char *skip = gn_xcalloc((size_t)src->nn + 1, 1);
    int *bn_of = gn_xmalloc(((size_t)src->nn + 1) * sizeof(int)); /* conv -> its BN */
    for (int k = 0; k < src->nn; k++) bn_of[k] = -1;
    for (int k = 0; k < src->nn; k++) {
        const gn_node *b = &src->nodes[k];
        if (b->op != GN_OP_BN || b->p[GN_P_MEAN] < 0) continue;
        int c = producer(src, b->in[0]);
        if (c < 0 || src->nodes[c].op != GN_OP_CONV || consumers(src, b->in[0], NULL) != 1) continue;
        bn_of[c] = k;
        skip[k] = 1;
    }
    int rc = 0;
    for (int k = 0; k < src->nn && !rc; k++) {
        if (skip[k]) continue;
        const gn_node *n = &src->nodes[k];
        if (bn_of[k] < 0) {
            copy_node(g, src, n);
            continue;
        }
        const gn_node *b = &src->nodes[bn_of[k]];
        const gn_param *w = &src->params[n->p[GN_P_W]];
        int Co = w->dims[0];
        size_t K = w->n / (size_t)Co;
        float *nw = gn_xmalloc(w->n * sizeof(float)), *nb = gn_xmalloc((size_t)Co * sizeof(float));
        const float *ga = b->p[GN_P_GAMMA] >= 0 ? src->params[b->p[GN_P_GAMMA]].data : NULL;
        const float *be = b->p[GN_P_BETA] >= 0 ? src->params[b->p[GN_P_BETA]].data : NULL;
        const float *mu = src->params[b->p[GN_P_MEAN]].data, *va = src->params[b->p[GN_P_VAR]].data;
        const float *ob = n->p[GN_P_B] >= 0 ? src->params[n->p[GN_P_B]].data : NULL;
        for (int c = 0; c < Co; c++) {
            /* computed in double, rounded once */
            double sc = (ga ? ga[c] : 1.0) / sqrt((double)va[c] + (double)b->eps);
            for (size_t i = 0; i < K; i++) nw[(size_t)c * K + i] = (float)(w->data[(size_t)c * K + i] * sc);
            nb[c] = (float)(((ob ? ob[c] : 0.0) - mu[c]) * sc + (be ? be[c] : 0.0));
        }
        char wn[512], bn[512];
        fresh_name(g, wn, sizeof wn, w->name);
        if (n->p[GN_P_B] >= 0) fresh_name(g, bn, sizeof bn, src->params[n->p[GN_P_B]].name);
        else {
            char base[512];
            snprintf(base, sizeof base, "%s.bias", n->name);
            fresh_name(g, bn, sizeof bn, base);
        }
        int in = gn_graph_tensor(g, src->t[n->in[0]].name);
        int o = gn_graph_tensor(g, src->t[b->out].name);
        int pw = gn_graph_add_param(g, wn, w->ndim, w->dims, nw);
        int pb = gn_graph_add_param(g, bn, 1, &Co, nb);
        free(nw), free(nb);
        gn_node *m = gn_graph_add_node(g, GN_OP_CONV, n->name);
        char *nm = m->name;
        *m = *n;
        m->name = nm;
        m->in[0] = in;
        m->out = o;
        for (int s = 0; s < GN_NSLOT; s++) m->p[s] = -1;
        m->p[GN_P_W] = pw;
        m->p[GN_P_B] = pb;
    }
    free(skip);
    free(bn_of);
    g->output = gn_graph_tensor(g, src->t[src->output].name);
    const gn_tensorinfo *ti = &src->t[src->input];
    if (!rc) rc = gn_graph_finalize(g, ti->c, ti->h, ti->w);
    if (rc) {
        gn_graph_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

static int is_wlayer(const gn_node *n) { return n->op == GN_OP_CONV || n->op == GN_OP_LINEAR; }

const char *gn_layer_param_name(const gn_graph *g, int k, char *buf, size_t len)
{
    const gn_node *n = &g->nodes[k];
    if (!is_wlayer(n) || n->p[GN_P_W] < 0) return NULL;
    const char *pn = g->params[n->p[GN_P_W]].name;
    size_t l = strlen(pn);
    if (l > 7 && !strcmp(pn + l - 7, ".weight")) l -= 7;
    snprintf(buf, len, "%.*s", (int)l, pn);
    return buf;
}

int gn_layer_named(const gn_graph *g, int k, const char *name)
{
    const gn_node *n = &g->nodes[k];
    if (!is_wlayer(n)) return 0;
    if (!strcmp(n->name, name)) return 1;
    if (n->p[GN_P_W] < 0) return 0;
    char b[512];
    const char *pn = g->params[n->p[GN_P_W]].name;
    return !strcmp(pn, name) || ((gn_layer_param_name(g, k, b, sizeof b)) && !strcmp(b, name));
}

/* the override naming weight layer k, or NULL */
static const gn_bits_override *find_ov(const gn_qconfig *cfg, const gn_graph *g, int k)
{
    for (int i = 0; i < cfg->nov; i++)
        if (gn_layer_named(g, k, cfg->ov[i].layer)) return &cfg->ov[i];
    return NULL;
}

/* adds the weight quantiser of node m (already in g) with `bits`, initialised */
static void add_wquant(gn_graph *g, int node, int bits)
{
    gn_node *m = &g->nodes[node];
    const gn_param *w = &g->params[m->p[GN_P_W]];
    int Co = w->dims[0], dims[4];
    size_t K = w->n / (size_t)Co;
    float *step = gn_xmalloc((size_t)Co * sizeof(float)), *zp = gn_xmalloc((size_t)Co * sizeof(float));
    float *fl = gn_xmalloc(w->n * sizeof(float)), *v = gn_xmalloc(w->n * sizeof(float));
    for (int c = 0; c < Co; c++) gn_clip_search_asym(&step[c], &zp[c], w->data + (size_t)c * K, K, bits);
    gn_wq_shape s = {.Cout = Co, .K = K, .bits = bits};
    gn_wquant_init(fl, v, w->data, step, &s);
    for (int d = 0; d < 4; d++) dims[d] = w->dims[d];
    int ndim = w->ndim;
    w = NULL; /* adding parameters below may move g->params */
    char nm[600], base[560];
    const char *nn = g->nodes[node].name;
    int ps[4];
    snprintf(base, sizeof base, "%s.wq.step", nn), fresh_name(g, nm, sizeof nm, base);
    ps[0] = gn_graph_add_param(g, nm, 1, &Co, step);
    snprintf(base, sizeof base, "%s.wq.zero_point", nn), fresh_name(g, nm, sizeof nm, base);
    ps[1] = gn_graph_add_param(g, nm, 1, &Co, zp);
    snprintf(base, sizeof base, "%s.wq.rounding", nn), fresh_name(g, nm, sizeof nm, base);
    ps[2] = gn_graph_add_param(g, nm, ndim, dims, v);
    snprintf(base, sizeof base, "%s.wq.floor", nn), fresh_name(g, nm, sizeof nm, base);
    ps[3] = gn_graph_add_param(g, nm, ndim, dims, fl);
    m = &g->nodes[node];
    m->p[GN_P_WSTEP] = ps[0], m->p[GN_P_WZP] = ps[1], m->p[GN_P_WV] = ps[2], m->p[GN_P_WFLOOR] = ps[3];
    m->wbits = bits;
    free(step), free(zp), free(fl), free(v);
}

int gn_layer_bits(const gn_graph *src, const gn_qconfig *cfg, int *wb, int *ab)
{
    int nl = 0, firstl = -1, secondl = -1, lastl = -1;
    for (int k = 0; k < src->nn; k++)
        if (is_wlayer(&src->nodes[k])) {
            if (nl == 0) firstl = k;
            else if (nl == 1) secondl = k;
            lastl = k;
            nl++;
        }
    if (!nl) return gn_err_set("model has no convolution or linear layer to quantise");
    for (int i = 0; i < cfg->nov; i++) {
        int found = 0;
        for (int k = 0; k < src->nn && !found; k++) found = gn_layer_named(src, k, cfg->ov[i].layer);
        if (!found)
            return gn_err_set("--bits: no convolution or linear layer named '%s' (calib --list-layers "
                              "shows them)", cfg->ov[i].layer);
    }
    /* bits requested for each tensor feeding a weight layer; shared -> max */
    int *abits = gn_xcalloc((size_t)src->nt, sizeof(int));
    for (int k = 0; k < src->nn; k++) wb[k] = ab[k] = 0;
    for (int k = 0; k < src->nn; k++) {
        const gn_node *n = &src->nodes[k];
        if (!is_wlayer(n)) continue;
        int w = cfg->wbits, a = cfg->abits;
        if (k == firstl) w = cfg->first_last;
        if (k == secondl) a = cfg->first_last;
        if (k == lastl) w = a = cfg->first_last;
        const gn_bits_override *o = find_ov(cfg, src, k);
        if (o && o->wbits) w = o->wbits;
        if (o && o->abits) a = o->abits;
        wb[k] = w;
        int t = n->in[0];
        if (t != src->input && a > abits[t]) abits[t] = a;
    }
    for (int k = 0; k < src->nn; k++) {
        int t = src->nodes[k].in[0];
        if (wb[k] && t != src->input) ab[k] = abits[t];
    }
    free(abits);
    return 0;
}

int gn_quantize(const gn_graph *src, const gn_qconfig *cfg, gn_graph **out)
{
    int *wb = gn_xcalloc((size_t)src->nn, sizeof(int)), *ab = gn_xcalloc((size_t)src->nn, sizeof(int));
    if (gn_layer_bits(src, cfg, wb, ab)) {
        free(wb), free(ab);
        return 1;
    }
    /* activation bits of each tensor feeding a weight layer (shared: the max) */
    int *abits = gn_xcalloc((size_t)src->nt, sizeof(int));
    for (int k = 0; k < src->nn; k++)
        if (wb[k] && ab[k]) abits[src->nodes[k].in[0]] = ab[k];
    gn_graph *g = gn_graph_new();
    g->input = gn_graph_tensor(g, src->t[src->input].name);
    int *qt = gn_xmalloc((size_t)src->nt * sizeof(int)); /* src tensor -> quantised tensor in g */
    for (int t = 0; t < src->nt; t++) qt[t] = -1;
    for (int k = 0; k < src->nn; k++) {
        const gn_node *n = &src->nodes[k];
        for (int j = 0; j < n->nin; j++) {
            int t = n->in[j];
            if (!abits[t] || qt[t] >= 0) continue;
            char nm[600], pn[600];
            snprintf(nm, sizeof nm, "%s:q", src->t[t].name);
            int in = gn_graph_tensor(g, src->t[t].name), o = gn_graph_tensor(g, nm);
            snprintf(nm, sizeof nm, "%s.aq.step", src->t[t].name);
            fresh_name(g, pn, sizeof pn, nm);
            int one = 1;
            int p = gn_graph_add_param(g, pn, 1, &one, NULL);
            snprintf(nm, sizeof nm, "%s.aq", src->t[t].name);
            gn_node *a = gn_graph_add_node(g, GN_OP_AQUANT, nm);
            a->nin = 1, a->in[0] = in, a->out = o, a->p[GN_P_ASTEP] = p;
            a->abits = abits[t];
            qt[t] = o;
        }
        gn_node *m = copy_node(g, src, n);
        for (int j = 0; j < n->nin; j++)
            if (qt[n->in[j]] >= 0) g->nodes[g->nn - 1].in[j] = qt[n->in[j]];
        (void)m;
        if (is_wlayer(n)) add_wquant(g, g->nn - 1, wb[k]);
    }
    g->output = gn_graph_tensor(g, src->t[src->output].name);
    free(abits), free(wb), free(ab), free(qt);
    const gn_tensorinfo *ti = &src->t[src->input];
    int rc = gn_graph_finalize(g, ti->c, ti->h, ti->w);
    if (rc) {
        gn_graph_free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* ---- units ---------------------------------------------------------------- */

/* marks in `anc` every tensor from which tensor t is computed (t included) */
static void ancestors(const gn_graph *g, const int *prod, int t, char *anc)
{
    if (anc[t]) return;
    anc[t] = 1;
    int k = prod[t];
    if (k < 0) return;
    for (int j = 0; j < g->nodes[k].nin; j++) ancestors(g, prod, g->nodes[k].in[j], anc);
}

static int is_act(const gn_node *n)
{
    return n->op == GN_OP_RELU || n->op == GN_OP_CLIP || n->op == GN_OP_LEAKY || n->op == GN_OP_TANH ||
           n->op == GN_OP_HSWISH;
}

/* ---- atoms: the graph cut where exactly one tensor crosses ------------------
 * Between nodes p-1 and p, the tensors made before p (the model input counts
 * as made before node 0) and read at p or later "cross" the cut. Where one
 * tensor crosses, a unit may end: the node ranges between such cuts are the
 * atoms, the smallest pieces a unit is made of. A residual block, an
 * Inception module, a Fire module, a ShuffleNet unit, a squeeze-excitation
 * and a whole dense block are each one atom (a dense layer's earlier
 * features pass by it to later concatenations, so no cut falls inside the
 * block; dense_block splits it). */
enum { AT_WL, AT_AQ, AT_ACT, AT_SE, AT_MULTI, AT_OTHER };

typedef struct {
    int n;
    int *s, *e, *kind; /* [n] first and last node, kind */
    int *of;           /* [nn] atom of node k */
} atoms;

static int is_wlayer_n(const gn_node *n) { return n->op == GN_OP_CONV || n->op == GN_OP_LINEAR; }

/* an element-wise node an activation atom may hold (SiLU is Sigmoid, Mul;
 * opset 13's HardSwish is HardSigmoid, Mul) */
static int is_pointwise(const gn_node *n)
{
    return is_act(n) || n->op == GN_OP_SIGMOID || n->op == GN_OP_HSIGMOID || n->op == GN_OP_MUL;
}

static void find_atoms(const gn_graph *g, atoms *A)
{
    const int nn = g->nn;
    int *prod = gn_xmalloc(((size_t)g->nt + 1) * sizeof(int)), *last = gn_xmalloc(((size_t)g->nt + 1) * sizeof(int));
    int *cross = gn_xcalloc((size_t)nn + 2, sizeof(int));
    for (int t = 0; t < g->nt; t++) prod[t] = -2, last[t] = -1;
    prod[g->input] = -1;
    for (int k = 0; k < nn; k++) {
        prod[g->nodes[k].out] = k;
        for (int j = 0; j < g->nodes[k].nin; j++) last[g->nodes[k].in[j]] = k;
    }
    last[g->output] = nn;
    /* tensor t crosses cuts p = prod+1 .. last */
    for (int t = 0; t < g->nt; t++)
        if (prod[t] >= -1 && last[t] > prod[t]) {
            cross[prod[t] + 1]++;
            cross[last[t] + 1]--;
        }
    for (int p = 1; p <= nn; p++) cross[p] += cross[p - 1];
    A->s = gn_xmalloc(((size_t)nn + 1) * sizeof(int));
    A->e = gn_xmalloc(((size_t)nn + 1) * sizeof(int));
    A->kind = gn_xmalloc(((size_t)nn + 1) * sizeof(int));
    A->of = gn_xmalloc(((size_t)nn + 1) * sizeof(int));
    A->n = 0;
    for (int k = 0; k < nn; k++) {
        if (k == 0 || cross[k] == 1) A->s[A->n++] = k;
        A->of[k] = A->n - 1;
        A->e[A->n - 1] = k;
    }
    for (int a = 0; a < A->n; a++) {
        int w = 0, pw = 1, mul_last = g->nodes[A->e[a]].op == GN_OP_MUL, branch = 0;
        for (int k = A->s[a]; k <= A->e[a]; k++) {
            w += is_wlayer_n(&g->nodes[k]);
            pw &= is_pointwise(&g->nodes[k]);
            branch |= g->nodes[k].op == GN_OP_ADD || g->nodes[k].op == GN_OP_CONCAT;
        }
        const gn_node *f = &g->nodes[A->s[a]];
        int one = A->s[a] == A->e[a];
        A->kind[a] = one && is_wlayer_n(f) ? AT_WL
                   : one && f->op == GN_OP_AQUANT ? AT_AQ
                   : !w && pw ? AT_ACT
                   : !one && w && mul_last && !branch ? AT_SE
                   : !one && w ? AT_MULTI
                   : AT_OTHER;
    }
    free(prod), free(last), free(cross);
}

static void free_atoms(atoms *A) { free(A->s), free(A->e), free(A->kind), free(A->of); }

static int atom_is(const atoms *A, int a, int kind) { return a >= 0 && a < A->n && A->kind[a] == kind; }

/* atom a is one 1x1 dense convolution */
static int atom_1x1(const gn_graph *g, const atoms *A, int a)
{
    if (!atom_is(A, a, AT_WL)) return 0;
    const gn_node *n = &g->nodes[A->s[a]];
    return n->op == GN_OP_CONV && n->groups == 1 && n->kh == 1 && n->kw == 1;
}

static int range_free(const char *cov, int s, int e)
{
    for (int k = s; k <= e; k++)
        if (cov[k]) return 0;
    return 1;
}

/* Nodes s..e (a piece of a dense block between its concatenations) read
 * exactly one tensor made before s (`in`, when in >= 0 it must be that one),
 * hold a weight layer and no concatenation, use no inner tensor after e, and
 * make a tensor (node e's) that only concatenations read. */
static int dense_piece(const gn_graph *g, const int *prod, int s, int e, int in)
{
    int ext = -1, w = 0;
    for (int k = s; k <= e; k++) {
        const gn_node *n = &g->nodes[k];
        if (n->op == GN_OP_CONCAT) return 0;
        w |= is_wlayer_n(n);
        for (int j = 0; j < n->nin; j++) {
            int t = n->in[j];
            if (prod[t] >= s) continue;
            if (ext >= 0 && ext != t) return 0;
            ext = t;
        }
    }
    if (!w || ext < 0 || (in >= 0 && ext != in)) return 0;
    int readers = 0;
    for (int k = e + 1; k < g->nn; k++)
        for (int j = 0; j < g->nodes[k].nin; j++) {
            int t = g->nodes[k].in[j], p = prod[t];
            if (p < s || p > e) continue;
            if (p < e || g->nodes[k].op != GN_OP_CONCAT) return 0;
            readers++;
        }
    for (int k = s; k <= e; k++)
        if (g->nodes[k].out == g->output) return 0;
    return readers > 0;
}

/* Atom a is a dense block (DenseNet) when it ends in a concatenation and its
 * other nodes, cut at its concatenations, are dense pieces: each a dense
 * layer, reading one tensor (the concatenation before it, or the block's
 * input for a first layer without one) and making one new feature, which
 * only later concatenations read while the earlier features pass by it.
 * Then each layer is a unit (blk, cov) and the concatenations, which have
 * no weights and no quantisers, are glue: in no unit, run between units
 * (glue, cov). Returns 1 when it marked the block. */
static int dense_block(const gn_graph *g, const int *prod, const atoms *A, int a, int *blk, char *cov,
                       char *glue)
{
    int s = A->s[a], e = A->e[a], pieces = 0;
    if (g->nodes[e].op != GN_OP_CONCAT || !range_free(cov, s, e)) return 0;
    for (int k = s; k <= e;) {
        if (g->nodes[k].op == GN_OP_CONCAT) {
            k++;
            continue;
        }
        int q = k;
        while (g->nodes[q + 1].op != GN_OP_CONCAT) q++;
        if (!dense_piece(g, prod, k, q, k > s ? g->nodes[k - 1].out : -1)) return 0;
        pieces++;
        k = q + 1;
    }
    if (!pieces) return 0;
    for (int k = s; k <= e;) {
        cov[k] = 1;
        if (g->nodes[k].op == GN_OP_CONCAT) {
            glue[k++] = 1;
            continue;
        }
        int q = k;
        while (g->nodes[q + 1].op != GN_OP_CONCAT) cov[++q] = 1;
        blk[k] = q;
        k = q + 1;
    }
    return 1;
}

int gn_unit_resolve(const gn_graph *g, gn_unit *u)
{
    int ext = -1;
    for (int k = u->first; k < u->last; k++)
        for (int j = 0; j < g->nodes[k].nin; j++) {
            int t = g->nodes[k].in[j], inside = 0;
            for (int q = u->first; q < k && !inside; q++) inside = g->nodes[q].out == t;
            if (inside) continue;
            if (ext >= 0 && ext != t)
                return gn_err_set("unit %s..%s takes two outside inputs (%s, %s)",
                                  g->nodes[u->first].name, g->nodes[u->last - 1].name,
                                  g->t[ext].name, g->t[t].name);
            ext = t;
        }
    u->in = ext;
    u->out = g->nodes[u->last - 1].out;
    for (int k = u->first; k < u->last - 1; k++) {
        int t = g->nodes[k].out;
        for (int q = u->last; q < g->nn; q++)
            for (int j = 0; j < g->nodes[q].nin; j++)
                if (g->nodes[q].in[j] == t)
                    return gn_err_set("unit %s..%s: inner tensor %s is used by %s outside it",
                                      g->nodes[u->first].name, g->nodes[u->last - 1].name,
                                      g->t[t].name, g->nodes[q].name);
        if (t == g->output) return gn_err_set("unit ends after the model output");
    }
    return 0;
}

int gn_find_units(const gn_graph *g, gn_unit **units, int *nunits)
{
    int nn = g->nn;
    int *prod = gn_xmalloc((size_t)g->nt * sizeof(int));
    for (int t = 0; t < g->nt; t++) prod[t] = -1;
    for (int k = 0; k < nn; k++) prod[g->nodes[k].out] = k;
    int *blk = gn_xmalloc((size_t)nn * sizeof(int)); /* block end (inclusive) starting at k, or -1 */
    char *cov = gn_xcalloc((size_t)nn, 1);
    for (int k = 0; k < nn; k++) blk[k] = -1;
    char *a0 = gn_xmalloc((size_t)g->nt), *a1 = gn_xmalloc((size_t)g->nt);
    /* residual blocks: from the fork of the add's two inputs to the add (+act) */
    for (int k = 0; k < nn; k++) {
        const gn_node *n = &g->nodes[k];
        if (n->op != GN_OP_ADD) continue;
        memset(a0, 0, (size_t)g->nt), memset(a1, 0, (size_t)g->nt);
        ancestors(g, prod, n->in[0], a0);
        ancestors(g, prod, n->in[1], a1);
        int fork = -1, best = -2;
        for (int t = 0; t < g->nt; t++)
            if (a0[t] && a1[t] && prod[t] > best) best = prod[t], fork = t;
        if (fork < 0) continue;
        int start;
        if (prod[fork] >= 0 && g->nodes[prod[fork]].op == GN_OP_AQUANT) start = prod[fork];
        else consumers(g, fork, &start);
        int end = k;
        int fc;
        if (k + 1 < nn && is_act(&g->nodes[k + 1]) && g->nodes[k + 1].in[0] == n->out &&
            consumers(g, n->out, &fc) == 1)
            end = k + 1;
        int clash = 0;
        for (int q = start; q <= end; q++) clash |= cov[q];
        if (clash || start < 0) continue;
        for (int q = start; q <= end; q++) cov[q] = 1;
        blk[start] = end;
    }
    /* inverted residuals without a shortcut, MBConv (MnasNet, EfficientNet,
     * MobileNetV3): [expand 1x1, act,] depthwise, act, [squeeze-excitation,]
     * project 1x1, on atoms (an activation atom may be SiLU's Sigmoid, Mul) */
    atoms A;
    find_atoms(g, &A);
    for (int d = 0; d < A.n; d++) {
        const gn_node *dn = &g->nodes[A.s[d]];
        if (!atom_is(&A, d, AT_WL) || dn->op != GN_OP_CONV || dn->groups <= 1 ||
            dn->groups != g->t[dn->in[0]].c)
            continue;
        int j = d;
        if (atom_is(&A, j - 1, AT_AQ)) j--;
        if (atom_is(&A, j - 1, AT_ACT) && atom_1x1(g, &A, j - 2)) {
            j -= 2;
            if (atom_is(&A, j - 1, AT_AQ)) j--;
        }
        int q = d + 1;
        if (!atom_is(&A, q, AT_ACT)) continue;
        q++;
        if (atom_is(&A, q, AT_SE)) q++;
        if (atom_is(&A, q, AT_AQ)) q++;
        if (!atom_1x1(g, &A, q)) continue;
        int start = A.s[j], end = A.e[q];
        if (!range_free(cov, start, end)) continue;
        for (int p = start; p <= end; p++) cov[p] = 1;
        blk[start] = end;
    }
    /* dense blocks: a unit per dense layer, the concatenations glue */
    char *glue = gn_xcalloc((size_t)nn, 1);
    for (int a = 0; a < A.n; a++)
        if (atom_is(&A, a, AT_MULTI)) dense_block(g, prod, &A, a, blk, cov, glue);
    /* any other atom with branches and weights (Inception and Fire modules,
     * ShuffleNet units, a squeeze-excitation on its own): a
     * unit, with the activation quantiser of its input before it and an
     * activation atom after it */
    for (int a = 0; a < A.n; a++) {
        if (!atom_is(&A, a, AT_MULTI) && !atom_is(&A, a, AT_SE)) continue;
        int start = A.s[a], end = A.e[a];
        if (!range_free(cov, start, end)) continue;
        if (atom_is(&A, a - 1, AT_AQ) && !cov[A.s[a - 1]]) start = A.s[a - 1];
        if (atom_is(&A, a + 1, AT_ACT) && range_free(cov, A.s[a + 1], A.e[a + 1])) end = A.e[a + 1];
        for (int p = start; p <= end; p++) cov[p] = 1;
        blk[start] = end;
    }
    /* everything else: a unit per weight layer, with the parameter-free nodes
     * before it and the activation right after it */
    gn_unit *u = gn_xcalloc((size_t)nn + 1, sizeof *u);
    int nu = 0, pend = -1, rc = 0;
    for (int k = 0; k < nn;) {
        if (glue[k]) {
            /* a dense block's concatenation, in no unit: parameter-free
             * nodes pending before it end the unit before */
            if (pend >= 0) {
                if (nu > 0 && u[nu - 1].last == pend) u[nu - 1].last = k;
                else u[nu].first = pend, u[nu].last = k, nu++;
            }
            pend = -1;
            k++;
            continue;
        }
        if (blk[k] >= 0) {
            /* weight-free nodes between a unit and a block (a stem's max
             * pool, a channel shuffle) end the unit before; the activation
             * quantisers among them start the block */
            int first = k;
            while (pend >= 0 && first > pend && g->nodes[first - 1].op == GN_OP_AQUANT) first--;
            if (pend >= 0 && first > pend) {
                if (nu > 0 && u[nu - 1].last == pend) u[nu - 1].last = first;
                else u[nu].first = pend, u[nu].last = first, nu++;
            }
            pend = -1;
            u[nu].first = first, u[nu].last = blk[k] + 1, nu++;
            k = blk[k] + 1;
            continue;
        }
        if (pend < 0) pend = k;
        const gn_node *n = &g->nodes[k];
        k++;
        if (is_wlayer(n)) {
            if (k < nn && !cov[k] && blk[k] < 0 && is_act(&g->nodes[k]) && g->nodes[k].in[0] == n->out) k++;
            else if (k < nn && !cov[k] && blk[k] < 0 && A.s[A.of[k]] == k && A.kind[A.of[k]] == AT_ACT &&
                     g->nodes[k].in[0] == n->out)
                k = A.e[A.of[k]] + 1; /* an activation of several nodes (SiLU) */
            u[nu].first = pend, u[nu].last = k, nu++, pend = -1;
        }
    }
    if (pend >= 0) {
        if (nu > 0 && u[nu - 1].last == pend) u[nu - 1].last = nn;
        else u[nu].first = pend, u[nu].last = nn, nu++;
    }
    for (int i = 0; i < nu && !rc; i++) rc = gn_unit_resolve(g, &u[i]);
    free(prod), free(blk), free(cov), free(glue), free(a0), free(a1);
    free_atoms(&A);
    if (rc) {
        free(u);
        return rc;
    }
    *units = u;
    *nunits = nu;
    return 0;
}

void gn_unit_describe(const gn_graph *g, const gn_unit *u, char *buf, size_t len)
{
    int nq = 0;
    for (int k = u->first; k < u->last; k++) nq += is_wlayer(&g->nodes[k]);
    snprintf(buf, len, "%s .. %s (%d nodes, %d weight layers)", g->nodes[u->first].name,
             g->nodes[u->last - 1].name, u->last - u->first, nq);
}

int gn_unit_param_list(const gn_graph *g, const gn_unit *u, int *idx, int max)
{
    int n = 0;
    for (int k = u->first; k < u->last; k++) {
        const gn_node *nd = &g->nodes[k];
        int slots[4], ns = 0;
        if (nd->wbits) slots[ns++] = GN_P_WSTEP, slots[ns++] = GN_P_WV;
        if (nd->op == GN_OP_AQUANT) slots[ns++] = GN_P_ASTEP;
        for (int s = 0; s < ns && n < max; s++) idx[n++] = nd->p[slots[s]];
    }
    return n;
}

/* ---- file ------------------------------------------------------------------ */

static int write_q(hid_t f, const void *arg)
{
    const gn_qmodel *q = arg;
    int v = GN_QMODEL_FORMAT;
    int rc = gn_h5_attr_str_w(f, "genie_kind", "qmodel") || gn_h5_attr_ints_w(f, "genie_format", &v, 1) ||
             gn_model_write_graph(f, q->g);
    int bits[3] = {q->wbits, q->abits, q->first_last};
    rc = rc || gn_h5_attr_ints_w(f, "bits", bits, 3) ||
         gn_h5_attr_str_w(f, "model_sha256", q->model_sha) ||
         gn_h5_attr_str_w(f, "data_model_sha256", q->data_sha);
    if (!rc) {
        int *r = gn_xmalloc(((size_t)q->nunits * 4 + 1) * sizeof(int));
        for (int i = 0; i < q->nunits; i++)
            r[4 * i] = q->units[i].first, r[4 * i + 1] = q->units[i].last, r[4 * i + 2] = q->done[i],
            r[4 * i + 3] = q->fitted ? q->fitted[i] : 0;
        size_t dims[2] = {(size_t)q->nunits, 4};
        rc = gn_h5_write_i32(f, "units", 2, dims, r);
        free(r);
    }
    return rc;
}

int gn_qmodel_save(const char *path, const gn_qmodel *q)
{
    return gn_h5_save(path, write_q, q);
}

/* a node that may lie outside every unit: no parameters (no weights, no
 * quantisers), as a dense block's concatenations */
static int is_glue(const gn_node *n)
{
    for (int s = 0; s < GN_NSLOT; s++)
        if (n->p[s] >= 0) return 0;
    return 1;
}

static int glue_error(const char *path, const gn_graph *g, int k)
{
    return gn_err_set("%s: /units: node %d (%s) has parameters and lies in no unit", path, k, g->nodes[k].name);
}

static int read_q(hid_t f, const char *path, gn_qmodel *q)
{
    int v = 0, bits[3] = {0, 0, 0};
    char *ms = NULL, *ds = NULL;
    if (gn_h5_attr_ints_r(f, "genie_format", &v, 1, 0)) {
        gn_err_prefix("%s", path);
        return GN_EIO;
    }
    if (v != GN_QMODEL_FORMAT)
        return gn_err_set("%s: qmodel format version %d, this genie reads %d", path, v, GN_QMODEL_FORMAT);
    if (gn_h5_attr_ints_r(f, "bits", bits, 3, 0) || gn_h5_attr_str_r(f, "model_sha256", &ms, 1) ||
        gn_h5_attr_str_r(f, "data_model_sha256", &ds, 1)) {
        gn_err_prefix("%s", path);
        return GN_EIO;
    }
    q->wbits = bits[0], q->abits = bits[1], q->first_last = bits[2];
    snprintf(q->model_sha, sizeof q->model_sha, "%s", ms ? ms : "");
    snprintf(q->data_sha, sizeof q->data_sha, "%s", ds ? ds : "");
    free(ms), free(ds);
    if (gn_model_read_graph(f, path, &q->g)) return GN_EIO;
    size_t dims[4];
    int *r = NULL;
    if (gn_h5_read_i32(f, path, "units", 2, dims, &r)) return GN_EIO;
    int rc = 0;
    /* 3 columns: written before the fitted flag existed (steps are calib's) */
    size_t nc = dims[1];
    if (nc != 3 && nc != 4) rc = gn_err_set("%s: /units has %zu columns, expected 4 (or 3)", path, nc);
    q->nunits = (int)dims[0];
    q->units = gn_xcalloc(dims[0] + 1, sizeof *q->units);
    q->done = gn_xcalloc(dims[0] + 1, sizeof(int));
    q->fitted = gn_xcalloc(dims[0] + 1, sizeof(int));
    for (int i = 0; i < q->nunits && !rc; i++) {
        const int *row = r + nc * (size_t)i;
        q->units[i].first = row[0], q->units[i].last = row[1], q->done[i] = row[2];
        q->fitted[i] = nc == 4 ? row[3] : 0;
        if (q->units[i].first < 0 || q->units[i].last > q->g->nn || q->units[i].first >= q->units[i].last ||
            (i && q->units[i].first < q->units[i - 1].last))
            rc = gn_err_set("%s: /units row %d: bad node range %d..%d", path, i, q->units[i].first,
                            q->units[i].last);
        /* before and between units only glue */
        for (int k = i ? q->units[i - 1].last : 0; k < q->units[i].first && !rc; k++)
            if (!is_glue(&q->g->nodes[k])) rc = glue_error(path, q->g, k);
        if (!rc && gn_unit_resolve(q->g, &q->units[i])) gn_err_prefix("%s", path), rc = GN_EIO;
    }
    /* and after the last */
    for (int k = q->nunits ? q->units[q->nunits - 1].last : 0; k < q->g->nn && !rc; k++)
        if (!is_glue(&q->g->nodes[k])) rc = glue_error(path, q->g, k);
    free(r);
    return rc;
}

int gn_qmodel_load(const char *path, gn_qmodel *q)
{
    memset(q, 0, sizeof *q);
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    char kind[64];
    int rc = gn_h5_kind(f, kind, sizeof kind);
    if (!rc && strcmp(kind, "qmodel"))
        rc = gn_err_set("%s: is %s%s file, expected a quantised model (made by calib)", path,
                        *kind ? "a genie " : "not a genie", kind);
    if (!rc) rc = read_q(f, path, q);
    H5Fclose(f);
    if (rc) gn_qmodel_free(q);
    return rc;
}

void gn_qmodel_free(gn_qmodel *q)
{
    gn_graph_free(q->g);
    free(q->units);
    free(q->done);
    free(q->fitted);
    memset(q, 0, sizeof *q);
}
