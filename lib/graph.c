/* graph.c - building, checking and copying the static model graph (see
 * gn_graph.h). Shape inference lives here; execution does not. */
#include "gn_graph.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gn_err.h"
#include "gn_ops.h"

static const char *op_names[GN_OP_COUNT] = {
    [GN_OP_CONV] = "conv",       [GN_OP_BN] = "batchnorm",   [GN_OP_RELU] = "relu",
    [GN_OP_CLIP] = "clip",       [GN_OP_LEAKY] = "leakyrelu", [GN_OP_TANH] = "tanh",
    [GN_OP_ADD] = "add",         [GN_OP_IDENTITY] = "identity", [GN_OP_MAXPOOL] = "maxpool",
    [GN_OP_AVGPOOL] = "avgpool", [GN_OP_GAP] = "globalavgpool", [GN_OP_LINEAR] = "linear",
    [GN_OP_FLATTEN] = "flatten", [GN_OP_UPSAMPLE] = "upsample", [GN_OP_RESHAPE] = "reshape", [GN_OP_SWING] = "swing", [GN_OP_AQUANT] = "aquant",
    [GN_OP_SIGMOID] = "sigmoid", [GN_OP_HSIGMOID] = "hardsigmoid", [GN_OP_HSWISH] = "hardswish",
    [GN_OP_MUL] = "mul", [GN_OP_CONCAT] = "concat", [GN_OP_SLICE] = "slice",
    [GN_OP_SHUFFLE] = "shuffle",
};

const char *gn_op_name(gn_opkind op) { return op >= 0 && op < GN_OP_COUNT ? op_names[op] : "?"; }

int gn_op_from_name(const char *s)
{
    for (int i = 0; i < GN_OP_COUNT; i++)
        if (op_names[i] && !strcmp(op_names[i], s)) return i;
    return -1;
}

gn_graph *gn_graph_new(void)
{
    gn_graph *g = gn_xcalloc(1, sizeof *g);
    g->input = g->output = -1;
    return g;
}

void gn_graph_free(gn_graph *g)
{
    if (!g) return;
    for (int i = 0; i < g->nt; i++) free(g->t[i].name);
    for (int i = 0; i < g->nn; i++) free(g->nodes[i].name);
    for (int i = 0; i < g->np; i++) {
        free(g->params[i].name);
        free(g->params[i].data);
        free(g->params[i].grad);
    }
    free(g->t);
    free(g->nodes);
    free(g->params);
    free(g);
}

static void *grow(void *p, int *cap, int need, size_t elt)
{
    if (need <= *cap) return p;
    GN_ASSERT(need > 0 && need < INT_MAX / 2); /* counts are bounded by the files read */
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need) nc *= 2;
    void *q = gn_xrealloc(p, (size_t)nc, elt);
    memset((char *)q + (size_t)*cap * elt, 0, (size_t)(nc - *cap) * elt);
    *cap = nc;
    return q;
}

int gn_graph_find_tensor(const gn_graph *g, const char *name)
{
    for (int i = 0; i < g->nt; i++)
        if (!strcmp(g->t[i].name, name)) return i;
    return -1;
}

int gn_graph_tensor(gn_graph *g, const char *name)
{
    int i = gn_graph_find_tensor(g, name);
    if (i >= 0) return i;
    g->t = grow(g->t, &g->cap_t, g->nt + 1, sizeof *g->t);
    g->t[g->nt].name = gn_xstrdup(name);
    return g->nt++;
}

int gn_graph_find_param(const gn_graph *g, const char *name)
{
    for (int i = 0; i < g->np; i++)
        if (!strcmp(g->params[i].name, name)) return i;
    return -1;
}

int gn_graph_add_param(gn_graph *g, const char *name, int ndim, const int *dims,
                       const float *data)
{
    GN_ASSERT(ndim >= 1 && ndim <= 4);
    if (gn_graph_find_param(g, name) >= 0) {
        gn_err_set("parameter %s defined twice", name);
        return -1;
    }
    size_t n = 1;
    for (int d = 0; d < ndim; d++)
        if (dims[d] < 1 || __builtin_mul_overflow(n, (size_t)dims[d], &n) || n > GN_MAX_PARAM) {
            gn_err_set("parameter %s: dimension %d is %d (or too many values)", name, d, dims[d]);
            return -1;
        }
    g->params = grow(g->params, &g->cap_p, g->np + 1, sizeof *g->params);
    gn_param *p = &g->params[g->np];
    p->name = gn_xstrdup(name);
    p->ndim = ndim;
    p->n = 1;
    for (int d = 0; d < 4; d++) p->dims[d] = d < ndim ? dims[d] : 1;
    for (int d = 0; d < ndim; d++) p->n *= (size_t)dims[d];
    p->data = gn_xcalloc(p->n, sizeof(float));
    if (data) memcpy(p->data, data, p->n * sizeof(float));
    p->grad = NULL;
    return g->np++;
}

gn_node *gn_graph_add_node(gn_graph *g, gn_opkind op, const char *name)
{
    g->nodes = grow(g->nodes, &g->cap_n, g->nn + 1, sizeof *g->nodes);
    gn_node *n = &g->nodes[g->nn++];
    memset(n, 0, sizeof *n);
    n->op = op;
    n->name = gn_xstrdup(name);
    for (int j = 0; j < GN_MAXIN; j++) n->in[j] = -1;
    n->out = -1;
    for (int s = 0; s < GN_NSLOT; s++) n->p[s] = -1;
    n->kh = n->kw = 1;
    n->sh = n->sw = 1;
    n->groups = 1;
    n->eps = 1e-5f;
    n->momentum = 0.1f;
    n->slope = 0.01f;
    n->lo = -INFINITY;
    n->hi = INFINITY;
    return n;
}

size_t gn_tensor_size(const gn_graph *g, int i)
{
    return (size_t)g->t[i].c * g->t[i].h * g->t[i].w;
}

int gn_graph_count_op(const gn_graph *g, gn_opkind op)
{
    int k = 0;
    for (int i = 0; i < g->nn; i++) k += g->nodes[i].op == op;
    return k;
}

/* checks parameter slot s of node n has n_expected elements (and exists if
 * required). */
static int check_param(const gn_graph *g, const gn_node *n, int s, const char *role,
                       size_t expect, int required)
{
    if (n->p[s] < 0) {
        if (required) return gn_err_set("node %s: missing %s parameter", n->name, role);
        return 0;
    }
    if (n->p[s] >= g->np) return gn_err_set("node %s: bad parameter index %d", n->name, n->p[s]);
    const gn_param *p = &g->params[n->p[s]];
    if (p->n != expect)
        return gn_err_set("node %s: %s parameter %s has %zu elements, expected %zu", n->name,
                          role, p->name, p->n, expect);
    return 0;
}

/* a quantised conv/linear has all four quantiser parameters, shaped right */
static int check_wquant(const gn_graph *g, const gn_node *n, const gn_param *w)
{
    if (!n->wbits) return 0;
    if (n->wbits < 2 || n->wbits > 8)
        return gn_err_set("node %s: weight bits %d outside 2..8", n->name, n->wbits);
    size_t co = (size_t)w->dims[0];
    return check_param(g, n, GN_P_WSTEP, "weight step", co, 1) ||
           check_param(g, n, GN_P_WZP, "zero point", co, 1) ||
           check_param(g, n, GN_P_WV, "rounding", w->n, 1) ||
           check_param(g, n, GN_P_WFLOOR, "floor", w->n, 1);
}

/* c*h*w, or SIZE_MAX when it overflows */
static size_t vol(int c, int h, int w)
{
    size_t v;
    if (c < 0 || h < 0 || w < 0 || __builtin_mul_overflow((size_t)c, (size_t)h, &v) ||
        __builtin_mul_overflow(v, (size_t)w, &v))
        return SIZE_MAX;
    return v;
}

/* the attributes of node n are in range for its operator (they come from
 * files: model files and ONNX); 0 or an error naming the node and value */
static int check_attrs(const gn_node *n)
{
    const int big = GN_MAX_WINDOW;
    switch (n->op) {
    case GN_OP_CONV: case GN_OP_MAXPOOL: case GN_OP_AVGPOOL:
        if (n->kh < 1 || n->kw < 1 || n->kh > big || n->kw > big)
            return gn_err_set("node %s: kernel %dx%d outside 1..%d", n->name, n->kh, n->kw, big);
        if (n->sh < 1 || n->sw < 1 || n->sh > big || n->sw > big)
            return gn_err_set("node %s: stride %dx%d outside 1..%d", n->name, n->sh, n->sw, big);
        if (n->pt < 0 || n->pl < 0 || n->pb < 0 || n->pr < 0 || n->pt > big || n->pl > big ||
            n->pb > big || n->pr > big)
            return gn_err_set("node %s: pads %d,%d,%d,%d outside 0..%d", n->name, n->pt, n->pl,
                              n->pb, n->pr, big);
        if (n->op == GN_OP_CONV && (n->groups < 1 || n->groups > 1 << 20))
            return gn_err_set("node %s: groups %d outside 1..%d", n->name, n->groups, 1 << 20);
        if (n->ceil_mode && n->op != GN_OP_MAXPOOL)
            return gn_err_set("node %s: ceil_mode with %s", n->name, gn_op_name(n->op));
        if (n->count_include_pad != 0 && n->count_include_pad != 1)
            return gn_err_set("node %s: count_include_pad %d is not 0 or 1", n->name,
                              n->count_include_pad);
        break;
    case GN_OP_BN:
        if (!isfinite(n->eps) || n->eps < 0)
            return gn_err_set("node %s: eps %g is not a finite number >= 0", n->name, n->eps);
        if (!isfinite(n->momentum))
            return gn_err_set("node %s: momentum %g is not finite", n->name, n->momentum);
        break;
    case GN_OP_CLIP:
        if (isnan(n->lo) || isnan(n->hi) || n->lo > n->hi)
            return gn_err_set("node %s: clip bounds %g..%g", n->name, n->lo, n->hi);
        break;
    case GN_OP_LEAKY:
        if (!isfinite(n->slope)) return gn_err_set("node %s: slope %g", n->name, n->slope);
        break;
    case GN_OP_RESHAPE:
        if (n->rc < 1 || n->rh < 1 || n->rw < 1 || n->rc > GN_MAX_SAMPLE ||
            n->rh > GN_MAX_SAMPLE || n->rw > GN_MAX_SAMPLE)
            return gn_err_set("node %s: reshape to %dx%dx%d", n->name, n->rc, n->rh, n->rw);
        break;
    case GN_OP_HSIGMOID:
        if (!isfinite(n->alpha) || !isfinite(n->beta))
            return gn_err_set("node %s: hard sigmoid alpha %g, beta %g", n->name, n->alpha, n->beta);
        break;
    case GN_OP_AQUANT:
        if (n->asigned != 0 && n->asigned != 1)
            return gn_err_set("node %s: signedness %d is not 0 or 1", n->name, n->asigned);
        break;
    default:
        break;
    }
    return 0;
}

/* node n's inputs exist and are computed before it (known[t]: tensor t
 * is), and its output is not computed yet */
static int check_wiring(const gn_graph *g, const gn_node *n, const char *known)
{
    int want_in = n->op == GN_OP_ADD || n->op == GN_OP_MUL ? 2 : 1;
    if (n->op == GN_OP_CONCAT && n->nin >= 1 && n->nin <= GN_MAXIN) want_in = n->nin;
    if (n->nin != want_in)
        return gn_err_set("node %s (%s): %d inputs, expected %d", n->name, gn_op_name(n->op),
                          n->nin, want_in);
    for (int j = 0; j < n->nin; j++)
        if (n->in[j] < 0 || n->in[j] >= g->nt || !known[n->in[j]])
            return gn_err_set("node %s: input %s is not computed before it (graph not in "
                              "topological order)",
                              n->name, n->in[j] >= 0 && n->in[j] < g->nt ? g->t[n->in[j]].name : "?");
    if (n->out < 0 || n->out >= g->nt || known[n->out])
        return gn_err_set("node %s: output tensor assigned twice or missing", n->name);
    return 0;
}

/* a convolution's parameters against its input (c,h,w), which becomes its
 * output's shape; fills n->kh, n->kw from the weight */
static int conv_shape_check(const gn_graph *g, gn_node *n, int *c, int *h, int *w)
{
    const gn_param *wp = n->p[GN_P_W] >= 0 ? &g->params[n->p[GN_P_W]] : NULL;
    if (!wp || wp->ndim != 4) return gn_err_set("node %s: convolution weight must be 4-D", n->name);
    gn_conv_shape s = {.B = 1, .Cin = *c, .H = *h, .W = *w, .Cout = wp->dims[0],
                       .KH = wp->dims[2], .KW = wp->dims[3], .SH = n->sh, .SW = n->sw,
                       .PT = n->pt, .PL = n->pl, .PB = n->pb, .PR = n->pr,
                       .groups = n->groups};
    if (n->groups < 1 || *c % n->groups || wp->dims[0] % n->groups ||
        wp->dims[1] != *c / n->groups)
        return gn_err_set("node %s: weight %s is %dx%dx%dx%d, input has %d channels, "
                          "groups %d",
                          n->name, wp->name, wp->dims[0], wp->dims[1], wp->dims[2],
                          wp->dims[3], *c, n->groups);
    if (gn_conv_shape_init(&s))
        return gn_err_set("node %s: convolution gives no output for a %dx%d input", n->name,
                          *h, *w);
    n->kh = s.KH;
    n->kw = s.KW;
    *c = s.Cout, *h = s.OH, *w = s.OW;
    return check_param(g, n, GN_P_B, "bias", (size_t)s.Cout, 0) || check_wquant(g, n, wp);
}

static int bn_check(const gn_graph *g, const gn_node *n, int c)
{
    int rc = check_param(g, n, GN_P_GAMMA, "scale", (size_t)c, 0) ||
             check_param(g, n, GN_P_BETA, "bias", (size_t)c, 0) ||
             check_param(g, n, GN_P_MEAN, "running mean", (size_t)c, 0) ||
             check_param(g, n, GN_P_VAR, "running variance", (size_t)c, 0);
    if (!rc && ((n->p[GN_P_MEAN] < 0) != (n->p[GN_P_VAR] < 0)))
        rc = gn_err_set("node %s: running mean without variance", n->name);
    return rc;
}

static int pool_shape_check(const gn_node *n, int c, int *h, int *w)
{
    gn_pool_shape s = {.B = 1, .C = c, .H = *h, .W = *w, .KH = n->kh, .KW = n->kw,
                       .SH = n->sh, .SW = n->sw, .PT = n->pt, .PL = n->pl,
                       .PB = n->pb, .PR = n->pr,
                       .ceil_mode = n->op == GN_OP_MAXPOOL && n->ceil_mode};
    if (gn_pool_shape_init(&s))
        return gn_err_set("node %s: pooling gives no output for a %dx%d input", n->name, *h, *w);
    *h = s.OH, *w = s.OW;
    return 0;
}

static int linear_shape_check(const gn_graph *g, const gn_node *n, int *c, int *h, int *w)
{
    const gn_param *wp = n->p[GN_P_W] >= 0 ? &g->params[n->p[GN_P_W]] : NULL;
    if (!wp || wp->ndim != 2 || (size_t)wp->dims[1] != (size_t)*c * *h * *w)
        return gn_err_set("node %s: linear weight %s does not take %d inputs", n->name,
                          wp ? wp->name : "(none)", *c * *h * *w);
    *c = wp->dims[0], *h = *w = 1;
    return check_param(g, n, GN_P_B, "bias", (size_t)*c, 0) || check_wquant(g, n, wp);
}

/* a product: the (C,1,1) operand goes second (broadcast over H,W) */
static int mul_shape_check(const gn_graph *g, gn_node *n, int *c, int *h, int *w)
{
    const gn_tensorinfo *y = &g->t[n->in[1]];
    if (*h * *w == 1 && y->h * y->w > 1) {
        int t = n->in[0];
        n->in[0] = n->in[1], n->in[1] = t;
        *c = y->c, *h = y->h, *w = y->w;
        y = &g->t[n->in[1]];
    }
    if (y->c != *c || !((y->h == *h && y->w == *w) || (y->h == 1 && y->w == 1)))
        return gn_err_set("node %s: multiplies %dx%dx%d by %dx%dx%d", n->name, *c, *h, *w, y->c,
                          y->h, y->w);
    return 0;
}

/* node n's parameters against its input shape (c,h,w), which becomes its
 * output's shape */
static int node_shape(gn_graph *g, gn_node *n, int *c, int *h, int *w)
{
    switch (n->op) {
    case GN_OP_CONV: return conv_shape_check(g, n, c, h, w);
    case GN_OP_BN: return bn_check(g, n, *c);
    case GN_OP_RELU: case GN_OP_CLIP: case GN_OP_LEAKY: case GN_OP_TANH:
    case GN_OP_IDENTITY: case GN_OP_SWING: case GN_OP_SIGMOID: case GN_OP_HSIGMOID:
    case GN_OP_HSWISH:
        return 0;
    case GN_OP_MUL: return mul_shape_check(g, n, c, h, w);
    case GN_OP_CONCAT:
        for (int j = 1; j < n->nin; j++) {
            const gn_tensorinfo *y = &g->t[n->in[j]];
            if (y->h != *h || y->w != *w)
                return gn_err_set("node %s: concatenates %dx%d with %dx%d", n->name, *h, *w, y->h,
                                  y->w);
            if (*c > GN_MAX_SAMPLE - y->c) return gn_err_set("node %s: too many channels", n->name);
            *c += y->c;
        }
        return 0;
    case GN_OP_SLICE:
        if (n->c0 < 0 || n->cn < 1 || n->c0 > *c - n->cn)
            return gn_err_set("node %s: channels %lld..%lld of %d", n->name, (long long)n->c0,
                              (long long)n->c0 + n->cn - 1, *c);
        *c = n->cn;
        return 0;
    case GN_OP_SHUFFLE:
        if (n->groups < 1 || *c % n->groups)
            return gn_err_set("node %s: %d channels in %d groups", n->name, *c, n->groups);
        return 0;
    case GN_OP_AQUANT:
        if (n->abits < 2 || n->abits > 8) return gn_err_set("node %s: activation bits %d outside 2..8", n->name, n->abits);
        return check_param(g, n, GN_P_ASTEP, "step", 1, 1);
    case GN_OP_ADD: {
        const gn_tensorinfo *y = &g->t[n->in[1]];
        if (y->c != *c || y->h != *h || y->w != *w)
            return gn_err_set("node %s: adds %dx%dx%d to %dx%dx%d", n->name, *c, *h, *w, y->c,
                              y->h, y->w);
        return 0;
    }
    case GN_OP_MAXPOOL: case GN_OP_AVGPOOL: return pool_shape_check(n, *c, h, w);
    case GN_OP_GAP:
        *h = *w = 1;
        return 0;
    case GN_OP_FLATTEN:
        *c = *c * *h * *w, *h = *w = 1;
        return 0;
    case GN_OP_LINEAR: return linear_shape_check(g, n, c, h, w);
    case GN_OP_UPSAMPLE:
        if (vol(*c, *h, *w) > GN_MAX_SAMPLE / 4) *h = *w = 0; /* refused by the caller */
        else *h *= 2, *w *= 2;
        return 0;
    case GN_OP_RESHAPE:
        if (vol(n->rc, n->rh, n->rw) != vol(*c, *h, *w))
            return gn_err_set("node %s: cannot reshape %dx%dx%d to %dx%dx%d", n->name, *c, *h, *w,
                              n->rc, n->rh, n->rw);
        *c = n->rc, *h = n->rh, *w = n->rw;
        return 0;
    default:
        return gn_err_set("node %s: unknown operator %d", n->name, (int)n->op);
    }
}

int gn_graph_finalize(gn_graph *g, int C, int H, int W)
{
    if (g->input < 0 || g->input >= g->nt) return gn_err_set("graph has no input tensor");
    if (g->output < 0 || g->output >= g->nt) return gn_err_set("graph has no output tensor");
    if (C < 1 || H < 1 || W < 1 || vol(C, H, W) > GN_MAX_SAMPLE)
        return gn_err_set("bad input shape %dx%dx%d", C, H, W);
    char *known = gn_xcalloc((size_t)g->nt, 1);
    int rc = 0;
    for (int i = 0; i < g->nt; i++) g->t[i].c = g->t[i].h = g->t[i].w = 0;
    g->t[g->input].c = C;
    g->t[g->input].h = H;
    g->t[g->input].w = W;
    known[g->input] = 1;
    for (int k = 0; k < g->nn && !rc; k++) {
        gn_node *n = &g->nodes[k];
        rc = check_wiring(g, n, known) || check_attrs(n);
        if (rc) break;
        const gn_tensorinfo *x = &g->t[n->in[0]];
        int c = x->c, h = x->h, w = x->w;
        rc = node_shape(g, n, &c, &h, &w);
        if (!rc && (c < 1 || h < 1 || w < 1 || vol(c, h, w) > GN_MAX_SAMPLE))
            rc = gn_err_set("node %s: output of %d x %d x %d values per sample (at most %d)",
                            n->name, c, h, w, GN_MAX_SAMPLE);
        if (rc) break;
        g->t[n->out].c = c;
        g->t[n->out].h = h;
        g->t[n->out].w = w;
        known[n->out] = 1;
    }
    if (!rc && !known[g->output]) rc = gn_err_set("graph output %s is never computed", g->t[g->output].name);
    free(known);
    return rc;
}

void gn_graph_alloc_grads(gn_graph *g)
{
    for (int i = 0; i < g->np; i++)
        if (!g->params[i].grad) g->params[i].grad = gn_xcalloc(g->params[i].n, sizeof(float));
}

void gn_graph_zero_grads(gn_graph *g)
{
    for (int i = 0; i < g->np; i++)
        if (g->params[i].grad) memset(g->params[i].grad, 0, g->params[i].n * sizeof(float));
}

gn_graph *gn_graph_clone(const gn_graph *g)
{
    gn_graph *c = gn_graph_new();
    for (int i = 0; i < g->nt; i++) {
        int k = gn_graph_tensor(c, g->t[i].name);
        c->t[k].c = g->t[i].c, c->t[k].h = g->t[i].h, c->t[k].w = g->t[i].w;
    }
    for (int i = 0; i < g->np; i++)
        gn_graph_add_param(c, g->params[i].name, g->params[i].ndim, g->params[i].dims,
                           g->params[i].data);
    for (int i = 0; i < g->nn; i++) {
        gn_node *n = gn_graph_add_node(c, g->nodes[i].op, g->nodes[i].name);
        char *nm = n->name;
        *n = g->nodes[i];
        n->name = nm;
    }
    c->input = g->input;
    c->output = g->output;
    return c;
}

size_t gn_nonfinite(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return i;
    return n;
}

int gn_graph_check_finite(const gn_graph *g)
{
    for (int i = 0; i < g->np; i++) {
        const gn_param *p = &g->params[i];
        size_t k = gn_nonfinite(p->data, p->n);
        if (k < p->n)
            return gn_err_code(GN_EINVAL, "parameter %s: value %zu is %g (non-finite weights are refused)",
                               p->name, k, p->data[k]);
    }
    return 0;
}
