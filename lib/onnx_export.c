/* onnx_export.c - ONNX export, plain and QDQ (see gn_onnx_export.h).
 *
 * The genie graph is walked once in its (topological) order; each node
 * becomes one ONNX node, plus the QDQ nodes of its quantisers and, where
 * genie's (C,H,W)-for-everything convention meets ONNX's ranks, a Flatten or
 * Reshape: a tensor is [N,C,H,W] in ONNX until Flatten or a linear layer
 * makes it [N,F]. Every protobuf field is its own malloc'd block, so the
 * whole model is freed by protobuf-c's free_unpacked.
 * What this deliberately doesn't do: shape inference (ONNX consumers do
 * it), external data, operators genie does not have. */
#include "gn_onnx_export.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "gn_h5.h"
#include "gn_out.h"
#include "gn_pack.h"
#include "gn_qmodel.h"
#include "gn_quant.h"
#include "gn_sha256.h"
#include "onnx.pb-c.h"

/* TensorProto.DataType values; the int4 pair is newer than Debian's schema
 * (onnx 1.16 added them; the field is a plain int32 on the wire) */
enum { DT_FLOAT = 1, DT_UINT8 = 2, DT_INT8 = 3, DT_INT32 = 6, DT_INT64 = 7, DT_UINT4 = 21, DT_INT4 = 22 };

/* ---- reading any model file ------------------------------------------------ */

void gn_export_model_free(gn_export_model *m)
{
    if (m->qw && m->g)
        for (int k = 0; k < m->g->nn; k++) free(m->qw[k].codes), free(m->qw[k].step), free(m->qw[k].zp);
    free(m->qw);
    gn_graph_free(m->g);
    memset(m, 0, sizeof *m);
}

/* node k's integer weight from a quantised model's quantiser slots: the hard
 * rounding (rounding variable >= 0 rounds up), as eval and pack take it */
static void codes_from_qmodel(gn_qweight *q, const gn_graph *g, const gn_node *n)
{
    const gn_param *w = &g->params[n->p[GN_P_W]];
    gn_wq_shape s = {.Cout = w->dims[0], .K = w->n / (size_t)w->dims[0], .bits = n->wbits};
    q->bits = n->wbits, q->cout = s.Cout, q->n = w->n;
    q->codes = gn_xmalloc(w->n);
    gn_wquant_codes(q->codes, g->params[n->p[GN_P_WFLOOR]].data, g->params[n->p[GN_P_WV]].data,
                    g->params[n->p[GN_P_WZP]].data, &s);
    q->step = gn_xmalloc((size_t)s.Cout * sizeof(float));
    q->zp = gn_xmalloc((size_t)s.Cout * sizeof(int));
    for (int c = 0; c < s.Cout; c++)
        q->step[c] = g->params[n->p[GN_P_WSTEP]].data[c], q->zp[c] = (int)g->params[n->p[GN_P_WZP]].data[c];
}

struct qw_it {
    const char *path;
    gn_export_model *m;
    int rc;
};

/* /qweights/NAME of a packed file: the codes as stored (checked against
 * their bit-width by gn_packed_weight_read), attached to the node whose
 * weight is NAME */
static herr_t read_qw(hid_t loc, const char *gname, const H5L_info_t *info, void *arg)
{
    struct qw_it *it = arg;
    gn_graph *g = it->m->g;
    gn_packed_weight pw;
    int rc = gn_packed_weight_read(loc, it->path, gname, &pw), k = -1;
    for (int j = 0; !rc && j < g->nn && k < 0; j++) {
        const gn_node *n = &g->nodes[j];
        if ((n->op == GN_OP_CONV || n->op == GN_OP_LINEAR) && n->p[GN_P_W] >= 0 &&
            !strcmp(g->params[n->p[GN_P_W]].name, pw.name))
            k = j;
    }
    if (!rc && k < 0) rc = gn_err_set("%s: /qweights/%s: no conv or linear layer has weight %s", it->path, gname, pw.name);
    if (!rc && it->m->qw[k].bits) rc = gn_err_set("%s: /qweights/%s: weight %s stored twice", it->path, gname, pw.name);
    const gn_param *w = rc ? NULL : &g->params[g->nodes[k].p[GN_P_W]];
    if (!rc && (w->n != pw.n || w->dims[0] != pw.shape[0]))
        rc = gn_err_set("%s: /qweights/%s: %zu codes in %d channels for weight %s of %zu values in %d", it->path,
                        gname, pw.n, pw.shape[0], pw.name, w->n, w->dims[0]);
    for (int c = 0; !rc && c < pw.shape[0]; c++)
        if (!(pw.step[c] > 0))
            rc = gn_err_set("%s: /qweights/%s/step[%d]: %g is not a positive step", it->path, gname, c, pw.step[c]);
    if (!rc) {
        gn_qweight *q = &it->m->qw[k];
        q->bits = pw.bits, q->cout = pw.shape[0], q->n = pw.n, q->codes = pw.codes, q->step = pw.step, q->zp = pw.zp;
        pw.codes = NULL, pw.step = NULL, pw.zp = NULL;
    }
    gn_packed_weight_free(&pw); /* (what the model did not take) */
    it->rc = rc;
    return rc ? -1 : 0;
}

static int load_packed(const char *path, gn_export_model *m)
{
    if (gn_packed_load(path, &m->g)) return GN_EIO;
    m->qw = gn_xcalloc((size_t)m->g->nn + 1, sizeof *m->qw);
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    int bits[3] = {0, 0, 0}, rc = 0;
    if (gn_h5_attr_ints_r(f, "bits", bits, 3, 0)) gn_err_prefix("%s", path), rc = 1;
    m->wbits = bits[0], m->abits = bits[1], m->first_last = bits[2];
    if (!rc) {
        struct qw_it it = {path, m, 0};
        hid_t qw = H5Gopen2(f, "qweights", H5P_DEFAULT);
        if (qw < 0) rc = gn_err_set("%s: no /qweights group", path);
        else {
            H5Literate(qw, H5_INDEX_NAME, H5_ITER_INC, NULL, read_qw, &it);
            H5Gclose(qw);
            rc = it.rc;
        }
    }
    H5Fclose(f);
    return rc;
}

int gn_export_model_load(const char *path, gn_export_model *m)
{
    memset(m, 0, sizeof *m);
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    char kind[64];
    int rc = gn_h5_kind(f, kind, sizeof kind);
    H5Fclose(f);
    if (rc) return rc;
    if (gn_sha256_file(path, m->sha)) return GN_EIO;
    if (!strcmp(kind, "model")) {
        if (gn_model_load(path, &m->g)) return GN_EIO;
        m->qw = gn_xcalloc((size_t)m->g->nn + 1, sizeof *m->qw);
    } else if (!strcmp(kind, "qmodel")) {
        gn_qmodel q;
        if (gn_qmodel_load(path, &q)) return GN_EIO;
        m->g = q.g, q.g = NULL;
        m->wbits = q.wbits, m->abits = q.abits, m->first_last = q.first_last;
        gn_qmodel_free(&q);
        m->qw = gn_xcalloc((size_t)m->g->nn + 1, sizeof *m->qw);
        for (int k = 0; k < m->g->nn; k++)
            if (m->g->nodes[k].wbits) codes_from_qmodel(&m->qw[k], m->g, &m->g->nodes[k]);
        m->quantised = 1;
    } else if (!strcmp(kind, "packed")) {
        rc = load_packed(path, m);
        m->quantised = 1;
    } else {
        rc = gn_err_set("%s: is %s%s file, expected a model, quantised model or packed model", path,
                        *kind ? "a genie " : "not a genie", kind);
    }
    snprintf(m->kind, sizeof m->kind, "%.15s", kind);
    if (rc) gn_export_model_free(m);
    return rc;
}

/* ---- building the ONNX model ----------------------------------------------- */

typedef Onnx__NodeProto onode;
typedef Onnx__TensorProto otensor;
typedef Onnx__AttributeProto oattr;

typedef struct {
    const gn_export_model *m;
    const gn_graph *g;
    onode **nodes;
    size_t nnodes, capn;
    otensor **inits;
    size_t ninits, capi;
    char *param_done; /* [np] float initializer emitted */
    char *wq_done;    /* [np] dequantised weight emitted */
    int *rank;        /* [nt] ONNX rank of tensor t: 4 or 2 */
    char **flat;      /* [nt] name of t as [N,F], made on demand */
    char **four;      /* [nt] name of t as [N,F,1,1], made on demand */
    char *feeds_q4;   /* [nt] t is the input of a 4-bit QuantizeLinear */
} ectx;

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    int k = vasprintf(&s, f, ap);
    va_end(ap);
    GN_ASSERT(k >= 0);
    return s;
}

static void *grow(void *a, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return a;
    *cap = *cap ? *cap * 2 : 64;
    if (*cap < need) *cap = need;
    void *b = realloc(a, *cap * size);
    GN_ASSERT(b);
    return b;
}

/* a new node; inputs and outputs are copied ("" = an omitted optional input) */
static onode *add_node(ectx *c, const char *op, const char *name, int nin, const char *const *in,
                       const char *out)
{
    onode *n = gn_xmalloc(sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = gn_xstrdup(op);
    n->name = gn_xstrdup(name);
    n->n_input = (size_t)nin;
    n->input = gn_xmalloc(((size_t)nin + 1) * sizeof(char *));
    for (int i = 0; i < nin; i++) n->input[i] = gn_xstrdup(in[i]);
    n->n_output = 1;
    n->output = gn_xmalloc(sizeof(char *));
    n->output[0] = gn_xstrdup(out);
    c->nodes = grow(c->nodes, &c->capn, c->nnodes + 1, sizeof *c->nodes);
    c->nodes[c->nnodes++] = n;
    return n;
}

static oattr *add_attr(onode *n, const char *name, Onnx__AttributeProto__AttributeType type)
{
    oattr *a = gn_xmalloc(sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = gn_xstrdup(name);
    a->has_type = 1, a->type = type;
    n->attribute = realloc(n->attribute, (n->n_attribute + 1) * sizeof *n->attribute);
    GN_ASSERT(n->attribute);
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void attr_int(onode *n, const char *name, int64_t v)
{
    oattr *a = add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1, a->i = v;
}

static void attr_float(onode *n, const char *name, float v)
{
    oattr *a = add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1, a->f = v;
}

static void attr_ints(onode *n, const char *name, int k, const int *v)
{
    oattr *a = add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)k;
    a->ints = gn_xmalloc((size_t)k * sizeof(int64_t));
    for (int i = 0; i < k; i++) a->ints[i] = v[i];
}

static void attr_str(onode *n, const char *name, const char *v)
{
    oattr *a = add_attr(n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1;
    a->s.len = strlen(v);
    a->s.data = (uint8_t *)gn_xstrdup(v);
}

/* an initializer of `nbytes` raw little-endian bytes (x86-64 is) */
static void add_init(ectx *c, const char *name, int dtype, int ndim, const int64_t *dims,
                     const void *raw, size_t nbytes)
{
    otensor *t = gn_xmalloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = gn_xstrdup(name);
    t->has_data_type = 1, t->data_type = dtype;
    t->n_dims = (size_t)ndim;
    t->dims = gn_xmalloc(((size_t)ndim + 1) * sizeof(int64_t));
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    t->has_raw_data = 1;
    t->raw_data.len = nbytes;
    t->raw_data.data = gn_xmalloc(nbytes ? nbytes : 1);
    memcpy(t->raw_data.data, raw, nbytes);
    c->inits = grow(c->inits, &c->capi, c->ninits + 1, sizeof *c->inits);
    c->inits[c->ninits++] = t;
}

static void add_scalar(ectx *c, const char *name, float v) { add_init(c, name, DT_FLOAT, 0, NULL, &v, sizeof v); }

/* n integer values in an initializer of type dtype (4-bit types two to a
 * byte, low nibble first, as ONNX packs them) */
static void add_ints(ectx *c, const char *name, int dtype, int ndim, const int64_t *dims, const int *v,
                     size_t n)
{
    int four = dtype == DT_UINT4 || dtype == DT_INT4, wide = dtype == DT_INT32;
    size_t nb = four ? (n + 1) / 2 : wide ? 4 * n : n;
    uint8_t *b = gn_xcalloc(nb + 1, 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t u = (uint8_t)(v[i] & (four ? 0xf : 0xff));
        if (four) b[i / 2] |= (uint8_t)(u << (4 * (i % 2)));
        else if (wide) memcpy(b + 4 * i, &v[i], 4);
        else b[i] = u;
    }
    add_init(c, name, dtype, ndim, dims, b, nb);
    free(b);
}

/* the name a node reads parameter p by: its float initializer, made once */
static const char *param_input(ectx *c, int p)
{
    const gn_param *q = &c->g->params[p];
    if (!c->param_done[p]) {
        int64_t d[4];
        for (int i = 0; i < q->ndim; i++) d[i] = q->dims[i];
        add_init(c, q->name, DT_FLOAT, q->ndim, d, q->data, q->n * sizeof(float));
        c->param_done[p] = 1;
    }
    return q->name;
}

/* the weight input of conv/linear node k: a float initializer, or the codes,
 * scales and zero points into a DequantizeLinear whose output takes the
 * weight's name */
static int weight_input(ectx *c, int k, const char **name)
{
    const gn_node *n = &c->g->nodes[k];
    const gn_qweight *q = &c->m->qw[k];
    int p = n->p[GN_P_W];
    const gn_param *w = &c->g->params[p];
    *name = w->name;
    if (!q->bits) {
        param_input(c, p);
        return 0;
    }
    if (c->wq_done[p]) return 0;
    if (q->n != w->n || q->cout != w->dims[0])
        return gn_err_set("node %s: %zu weight codes for a weight of %zu", n->name, q->n, w->n);
    /* the narrowest type that holds the codes and the zero points (a
     * channel whose weights all have one sign has its zero point off the
     * grid: 2-bit codes with zero point -2 go in int4) */
    int lo = 0, hi = (1 << q->bits) - 1;
    for (int ch = 0; ch < q->cout; ch++) {
        if (q->zp[ch] < lo) lo = q->zp[ch];
        if (q->zp[ch] > hi) hi = q->zp[ch];
    }
    int dt = lo >= 0 && hi <= 15 ? DT_UINT4 : lo >= -8 && hi <= 7 ? DT_INT4 : lo >= 0 && hi <= 255 ? DT_UINT8
             : lo >= -128 && hi <= 127 ? DT_INT8 : DT_INT32;
    int64_t d[4], dc = q->cout;
    for (int i = 0; i < w->ndim; i++) d[i] = w->dims[i];
    int *v = gn_xmalloc((q->n + 1) * sizeof(int));
    for (size_t i = 0; i < q->n; i++) v[i] = q->codes[i];
    char *cn = fmt("%s::codes", w->name), *sn = fmt("%s::scale", w->name), *zn = fmt("%s::zero_point", w->name);
    add_ints(c, cn, dt, w->ndim, d, v, q->n);
    add_init(c, sn, DT_FLOAT, 1, &dc, q->step, (size_t)q->cout * sizeof(float));
    add_ints(c, zn, dt, 1, &dc, q->zp, (size_t)q->cout);
    const char *in[3] = {cn, sn, zn};
    char *nn = fmt("%s::dequantize", w->name);
    attr_int(add_node(c, "DequantizeLinear", nn, 3, in, w->name), "axis", 0);
    free(v), free(cn), free(sn), free(zn), free(nn);
    c->wq_done[p] = 1;
    return 0;
}

/* tensor t as [N,F] (Flatten) or as [N,F,1,1] (Reshape), made once */
static const char *as_rank(ectx *c, int t, int rank)
{
    const char *name = c->g->t[t].name;
    if (c->rank[t] == rank) return name;
    if (rank == 2) {
        if (!c->flat[t]) {
            c->flat[t] = fmt("%s::flat", name);
            attr_int(add_node(c, "Flatten", c->flat[t], 1, &name, c->flat[t]), "axis", 1);
        }
        return c->flat[t];
    }
    if (!c->four[t]) {
        c->four[t] = fmt("%s::nchw", name);
        char *sh = fmt("%s::shape", c->four[t]);
        int v[4] = {0, -1, 1, 1};
        int64_t d = 4;
        int64_t v64[4] = {v[0], v[1], v[2], v[3]};
        add_init(c, sh, DT_INT64, 1, &d, v64, sizeof v64);
        const char *in[2] = {name, sh};
        add_node(c, "Reshape", c->four[t], 2, in, c->four[t]);
        free(sh);
    }
    return c->four[t];
}

/* y = clamp(x, lo, hi) as node `name`: a Clip, or, when its output feeds a
 * 4-bit QuantizeLinear, Max then Min (the same values): onnxruntime's
 * Clip->QuantizeLinear fusion (ClipQuantFusion, at ORT_ENABLE_EXTENDED and
 * above) throws on int4/uint4 zero points in 1.20 to 1.23 ("Unexpected data
 * type for QuantizeLinear input y_zero_point of 21") */
static void emit_clamp(ectx *c, const char *name, const char *x, float lo, float hi, const char *y, int before_q4)
{
    char *ln = fmt("%s::min", name), *hn = fmt("%s::max", name);
    add_scalar(c, ln, lo);
    add_scalar(c, hn, hi);
    if (before_q4) {
        char *mid = fmt("%s::lower", name);
        const char *a[2] = {x, ln}, *b[2] = {mid, hn};
        add_node(c, "Max", mid, 2, a, mid);
        add_node(c, "Min", name, 2, b, y);
        free(mid);
    } else {
        const char *in[3] = {x, ln, hn};
        add_node(c, "Clip", name, 3, in, y);
    }
    free(ln), free(hn);
}

/* an activation quantiser: [Clip to the grid's ends] QuantizeLinear
 * DequantizeLinear, scale = step, zero point 0 */
static int emit_aquant(ectx *c, const gn_node *n, const char *x, const char *y)
{
    const gn_graph *g = c->g;
    float s = g->params[n->p[GN_P_ASTEP]].data[0], qn, qp;
    if (!isfinite(s) || !(s > 0)) return gn_err_set("node %s: activation step %g is not a positive step", n->name, s);
    if (n->abits < 2 || n->abits > 8)
        return gn_err_set("node %s: %d-bit activations (ONNX export takes 2..8)", n->name, n->abits);
    gn_aquant_range(n->abits, n->asigned, &qn, &qp);
    int cbits = n->abits <= 4 ? 4 : 8;
    int dt = cbits == 4 ? (n->asigned ? DT_INT4 : DT_UINT4) : (n->asigned ? DT_INT8 : DT_UINT8);
    char *sn = fmt("%s::scale", n->name), *zn = fmt("%s::zero_point", n->name), *qn_ = fmt("%s::int", n->name);
    char *cl = NULL;
    add_scalar(c, sn, s);
    int zero = 0;
    add_ints(c, zn, dt, 0, NULL, &zero, 1);
    if (n->abits < cbits) {
        /* the grid's ends as genie's float products qn*s, qp*s */
        cl = fmt("%s::clip", n->name);
        emit_clamp(c, cl, x, qn * s, qp * s, cl, cbits == 4);
        x = cl;
    }
    const char *qi[3] = {x, sn, zn}, *di[3] = {qn_, sn, zn};
    char *qname = fmt("%s::quantize", n->name);
    add_node(c, "QuantizeLinear", qname, 3, qi, qn_);
    add_node(c, "DequantizeLinear", n->name, 3, di, y);
    free(sn), free(zn), free(qn_), free(cl), free(qname);
    return 0;
}

static int emit_node(ectx *c, int k)
{
    const gn_graph *g = c->g;
    const gn_node *n = &g->nodes[k];
    int t0 = n->in[0], out = n->out;
    const char *x = g->t[t0].name, *y = g->t[out].name;
    int rank = c->rank[t0], rc = 0;
    onode *o = NULL;
    switch (n->op) {
    case GN_OP_CONV: {
        const char *in[3] = {as_rank(c, t0, 4), NULL, NULL};
        if ((rc = weight_input(c, k, &in[1]))) break;
        int nin = 2;
        if (n->p[GN_P_B] >= 0) in[nin++] = param_input(c, n->p[GN_P_B]);
        o = add_node(c, "Conv", n->name, nin, in, y);
        int ks[2] = {n->kh, n->kw}, st[2] = {n->sh, n->sw}, pads[4] = {n->pt, n->pl, n->pb, n->pr}, dil[2] = {1, 1};
        attr_ints(o, "kernel_shape", 2, ks);
        attr_ints(o, "strides", 2, st);
        attr_ints(o, "pads", 4, pads);
        attr_ints(o, "dilations", 2, dil);
        attr_int(o, "group", n->groups);
        rank = 4;
        break;
    }
    case GN_OP_LINEAR: {
        const char *in[3] = {as_rank(c, t0, 2), NULL, NULL};
        if ((rc = weight_input(c, k, &in[1]))) break;
        int nin = 2;
        if (n->p[GN_P_B] >= 0) in[nin++] = param_input(c, n->p[GN_P_B]);
        attr_int(add_node(c, "Gemm", n->name, nin, in, y), "transB", 1);
        rank = 2;
        break;
    }
    case GN_OP_BN: {
        const char *in[5] = {x, param_input(c, n->p[GN_P_GAMMA]), param_input(c, n->p[GN_P_BETA]),
                             param_input(c, n->p[GN_P_MEAN]), param_input(c, n->p[GN_P_VAR])};
        attr_float(add_node(c, "BatchNormalization", n->name, 5, in, y), "epsilon", n->eps);
        break;
    }
    case GN_OP_RELU: add_node(c, "Relu", n->name, 1, &x, y); break;
    case GN_OP_TANH: add_node(c, "Tanh", n->name, 1, &x, y); break;
    case GN_OP_IDENTITY: add_node(c, "Identity", n->name, 1, &x, y); break;
    case GN_OP_LEAKY: attr_float(add_node(c, "LeakyRelu", n->name, 1, &x, y), "alpha", n->slope); break;
    case GN_OP_CLIP: {
        emit_clamp(c, n->name, x, n->lo, n->hi, y, c->feeds_q4[out]);
        break;
    }
    case GN_OP_ADD: {
        int t1 = n->in[1];
        int r = c->rank[t0] == c->rank[t1] ? rank : 2;
        const char *in[2] = {as_rank(c, t0, r), as_rank(c, t1, r)};
        add_node(c, "Add", n->name, 2, in, y);
        rank = r;
        break;
    }
    case GN_OP_MAXPOOL:
    case GN_OP_AVGPOOL: {
        const char *in = as_rank(c, t0, 4);
        o = add_node(c, n->op == GN_OP_MAXPOOL ? "MaxPool" : "AveragePool", n->name, 1, &in, y);
        int ks[2] = {n->kh, n->kw}, st[2] = {n->sh, n->sw}, pads[4] = {n->pt, n->pl, n->pb, n->pr};
        attr_ints(o, "kernel_shape", 2, ks);
        attr_ints(o, "strides", 2, st);
        attr_ints(o, "pads", 4, pads);
        if (n->op == GN_OP_AVGPOOL) attr_int(o, "count_include_pad", n->count_include_pad);
        rank = 4;
        break;
    }
    case GN_OP_GAP: {
        const char *in = as_rank(c, t0, 4);
        add_node(c, "GlobalAveragePool", n->name, 1, &in, y);
        rank = 4;
        break;
    }
    case GN_OP_FLATTEN:
        attr_int(add_node(c, "Flatten", n->name, 1, &x, y), "axis", 1);
        rank = 2;
        break;
    case GN_OP_RESHAPE: {
        char *sh = fmt("%s::shape", n->name);
        int64_t d = 4, v[4] = {0, n->rc, n->rh, n->rw};
        add_init(c, sh, DT_INT64, 1, &d, v, sizeof v);
        const char *in[2] = {x, sh};
        add_node(c, "Reshape", n->name, 2, in, y);
        free(sh);
        rank = 4;
        break;
    }
    case GN_OP_UPSAMPLE: {
        char *sc = fmt("%s::scales", n->name);
        int64_t d = 4;
        float v[4] = {1, 1, 2, 2};
        add_init(c, sc, DT_FLOAT, 1, &d, v, sizeof v);
        const char *in[3] = {as_rank(c, t0, 4), "", sc};
        o = add_node(c, "Resize", n->name, 3, in, y);
        attr_str(o, "mode", "nearest");
        attr_str(o, "coordinate_transformation_mode", "asymmetric");
        attr_str(o, "nearest_mode", "floor");
        free(sc);
        rank = 4;
        break;
    }
    case GN_OP_AQUANT:
        if (c->m->quantised) rc = emit_aquant(c, n, x, y);
        else add_node(c, "Identity", n->name, 1, &x, y);
        break;
    default:
        rc = gn_err_set("node %s: operator %s has no ONNX form", n->name, gn_op_name(n->op));
    }
    c->rank[out] = rank;
    return rc;
}

static Onnx__ValueInfoProto *value_info(const char *name, int rank, const gn_tensorinfo *t)
{
    Onnx__ValueInfoProto *v = gn_xmalloc(sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = gn_xstrdup(name);
    v->type = gn_xmalloc(sizeof *v->type);
    onnx__type_proto__init(v->type);
    v->type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    Onnx__TypeProto__Tensor *tt = gn_xmalloc(sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    v->type->tensor_type = tt;
    tt->has_elem_type = 1, tt->elem_type = DT_FLOAT;
    tt->shape = gn_xmalloc(sizeof *tt->shape);
    onnx__tensor_shape_proto__init(tt->shape);
    int64_t d[4] = {0, t->c, t->h, t->w};
    if (rank == 2) d[1] = (int64_t)t->c * t->h * t->w;
    tt->shape->n_dim = (size_t)rank;
    tt->shape->dim = gn_xmalloc((size_t)rank * sizeof *tt->shape->dim);
    for (int i = 0; i < rank; i++) {
        Onnx__TensorShapeProto__Dimension *dm = gn_xmalloc(sizeof *dm);
        onnx__tensor_shape_proto__dimension__init(dm);
        if (i == 0) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = gn_xstrdup("N");
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = d[i];
        }
        tt->shape->dim[i] = dm;
    }
    return v;
}

static void add_meta(Onnx__ModelProto *mp, const char *key, char *value /* taken */)
{
    Onnx__StringStringEntryProto *e = gn_xmalloc(sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = gn_xstrdup(key);
    e->value = value;
    mp->metadata_props = realloc(mp->metadata_props, (mp->n_metadata_props + 1) * sizeof *mp->metadata_props);
    GN_ASSERT(mp->metadata_props);
    mp->metadata_props[mp->n_metadata_props++] = e;
}

/* "name bits, name bits, ..." of the quantised layers, or of the activation
 * quantisers (with s for a signed grid) */
static char *bits_list(const gn_export_model *m, int act)
{
    size_t len = 0, cap = 256;
    char *s = gn_xmalloc(cap);
    s[0] = 0;
    for (int k = 0; k < m->g->nn; k++) {
        const gn_node *n = &m->g->nodes[k];
        int b = act ? (n->op == GN_OP_AQUANT ? n->abits : 0) : m->qw[k].bits;
        if (!b) continue;
        char item[600];
        int w = snprintf(item, sizeof item, "%s%s %d%s", len ? ", " : "", n->name, b,
                         act && n->asigned ? "s" : "");
        s = grow(s, &cap, len + (size_t)w + 1, 1);
        memcpy(s + len, item, (size_t)w + 1);
        len += (size_t)w;
    }
    return s;
}

int gn_onnx_export(const gn_export_model *m, uint8_t **buf, size_t *len)
{
    const gn_graph *g = m->g;
    ectx c = {.m = m, .g = g};
    c.param_done = gn_xcalloc((size_t)g->np + 1, 1);
    c.wq_done = gn_xcalloc((size_t)g->np + 1, 1);
    c.rank = gn_xcalloc((size_t)g->nt + 1, sizeof(int));
    c.flat = gn_xcalloc((size_t)g->nt + 1, sizeof(char *));
    c.four = gn_xcalloc((size_t)g->nt + 1, sizeof(char *));
    c.feeds_q4 = gn_xcalloc((size_t)g->nt + 1, 1);
    for (int t = 0; t < g->nt; t++) c.rank[t] = 4;
    for (int k = 0; k < g->nn && m->quantised; k++)
        if (g->nodes[k].op == GN_OP_AQUANT && g->nodes[k].abits <= 4) c.feeds_q4[g->nodes[k].in[0]] = 1;
    int rc = 0;
    for (int k = 0; k < g->nn && !rc; k++) rc = emit_node(&c, k);

    Onnx__ModelProto *mp = gn_xmalloc(sizeof *mp);
    onnx__model_proto__init(mp);
    mp->has_ir_version = 1, mp->ir_version = GN_ONNX_EXPORT_IR;
    mp->producer_name = gn_xstrdup("genie");
    mp->producer_version = gn_xstrdup(m->version ? m->version : "");
    mp->n_opset_import = 1;
    mp->opset_import = gn_xmalloc(sizeof *mp->opset_import);
    mp->opset_import[0] = gn_xmalloc(sizeof **mp->opset_import);
    onnx__operator_set_id_proto__init(mp->opset_import[0]);
    mp->opset_import[0]->domain = gn_xstrdup("");
    mp->opset_import[0]->has_version = 1, mp->opset_import[0]->version = GN_ONNX_EXPORT_OPSET;
    Onnx__GraphProto *gp = gn_xmalloc(sizeof *gp);
    onnx__graph_proto__init(gp);
    mp->graph = gp;
    gp->name = gn_xstrdup(m->quantised ? "genie_qdq" : "genie");
    gp->n_node = c.nnodes, gp->node = c.nodes;
    gp->n_initializer = c.ninits, gp->initializer = c.inits;
    gp->n_input = 1;
    gp->input = gn_xmalloc(sizeof *gp->input);
    gp->input[0] = value_info(g->t[g->input].name, 4, &g->t[g->input]);
    gp->n_output = 1;
    gp->output = gn_xmalloc(sizeof *gp->output);
    gp->output[0] = value_info(g->t[g->output].name, c.rank[g->output], &g->t[g->output]);
    add_meta(mp, "genie_version", gn_xstrdup(m->version ? m->version : ""));
    add_meta(mp, "genie_kind", gn_xstrdup(m->kind));
    add_meta(mp, "source_sha256", gn_xstrdup(m->sha));
    if (m->quantised) {
        add_meta(mp, "bits", fmt("W%dA%d, first/last layer %d", m->wbits, m->abits, m->first_last));
        add_meta(mp, "weight_bits", bits_list(m, 0));
        add_meta(mp, "activation_bits", bits_list(m, 1));
    }
    if (!rc) {
        *len = onnx__model_proto__get_packed_size(mp);
        *buf = gn_xmalloc(*len ? *len : 1);
        size_t k = onnx__model_proto__pack(mp, *buf);
        GN_ASSERT(k == *len);
    }
    onnx__model_proto__free_unpacked(mp, NULL);
    for (int t = 0; t < g->nt; t++) free(c.flat[t]), free(c.four[t]);
    free(c.flat), free(c.four), free(c.feeds_q4), free(c.rank), free(c.param_done), free(c.wq_done);
    return rc;
}

int gn_onnx_export_save(const char *path, const gn_export_model *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (gn_onnx_export(m, &buf, &len)) return GN_EIO;
    const char *tmp = gn_out_begin(path);
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) rc = gn_err_set("%s: %s", path, strerror(errno));
    else {
        if (fwrite(buf, 1, len, f) != len) rc = gn_err_set("%s: %s", path, strerror(errno));
        if (fclose(f) && !rc) rc = gn_err_set("%s: %s", path, strerror(errno));
    }
    free(buf);
    if (rc) gn_out_abort();
    else rc = gn_out_commit();
    return rc;
}
