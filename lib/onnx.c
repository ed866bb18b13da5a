/* onnx.c - ONNX model import (see gn_onnx.h).
 *
 * The file is parsed whole with protobuf-c, then the ONNX nodes are walked
 * once in their (topological) order, each turned into at most one genie node.
 * Values known at import time - initializers, Constant outputs and Identities
 * of those - live in a small table of constants; a node's weight inputs must
 * come from it, its activation inputs must not. Initializers become graph
 * parameters only when a node uses them. Shapes are inferred afterwards by
 * gn_graph_finalize, which also checks what can only be checked with shapes
 * (Add operands alike, parameter sizes, linear fan-in).
 * What this deliberately doesn't do: broadcasting, shape arithmetic at import
 * time (Shape/Gather/Concat chains), external data, non-float32 weights,
 * operators beyond the list in gn_onnx.h. */
#include "gn_onnx.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "onnx.pb-c.h"

/* short names for the generated enum constants */
#define AT_(k) ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__##k
#define DT_(k) ONNX__TENSOR_PROTO__DATA_TYPE__##k

typedef Onnx__NodeProto onode;
typedef Onnx__TensorProto otensor;
typedef Onnx__AttributeProto oattr;

/* A value known at import time. `name` is the value name (for an Identity of
 * a constant: the Identity's output, which is also the parameter name). */
typedef struct {
    const char *name;
    const otensor *t;
} cst;

typedef struct {
    const char *path; /* for messages */
    Onnx__ModelProto *m;
    const Onnx__GraphProto *gp;
    gn_graph *g;
    cst *c; /* constants table */
    int nc, capc;
    otensor **owned; /* tensors made for Constant value_float(s)/value_int(s) */
    int nowned, capowned;
    char *skip;        /* [n_node] 1 = folded into an earlier node */
    const char *nname; /* name of the node being imported, for messages */
    char namebuf[160];
    int bn_training; /* BatchNormalization nodes exported in training mode */
    int chw[3];      /* the input's per-sample shape */
    struct {         /* a channel shuffle under way (shuffle_chain) */
        const char *name; /* the value it continues from, NULL: none */
        int in, groups, stage;
    } shuf;
    char *warn;
    size_t warnlen;
} ctx;

#define TRY(e)                                                                                     \
    do {                                                                                           \
        int rc_ = (e);                                                                             \
        if (rc_) return rc_;                                                                       \
    } while (0)

/* ---- messages ------------------------------------------------------------ */

/* Names come from the file: control bytes would break the one-line message. */
static void printable(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = '?';
}

/* "PATH: ..." */
static int gerr(const ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int gerr(const ctx *x, const char *fmt, ...)
{
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printable(buf);
    return gn_err_set("%s: %s", x->path, buf);
}

/* "PATH: node NAME: ..." */
static int nerr(const ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int nerr(const ctx *x, const char *fmt, ...)
{
    char buf[1024];
    int k = snprintf(buf, sizeof buf, "node %.300s: ", x->nname);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, sizeof buf - (size_t)k, fmt, ap);
    va_end(ap);
    printable(buf);
    return gn_err_set("%s: %s", x->path, buf);
}

/* Appends one line to the caller's warning buffer (truncating; a truncated
 * text still ends in '\n'). */
static void warn(ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(ctx *x, const char *fmt, ...)
{
    if (!x->warn || x->warnlen < 2) return;
    size_t used = strlen(x->warn);
    if (used + 2 > x->warnlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->warn + used, x->warnlen - used, fmt, ap);
    va_end(ap);
    printable(x->warn + used);
    used = strlen(x->warn);
    if (used + 2 <= x->warnlen) {
        x->warn[used] = '\n';
        x->warn[used + 1] = '\0';
    } else {
        x->warn[x->warnlen - 2] = '\n';
        x->warn[x->warnlen - 1] = '\0';
    }
}

static const char *dtype_name(int32_t dt)
{
    static const char *names[] = {"undefined",  "float32", "uint8",  "int8",   "uint16",
                                  "int16",      "int32",   "int64",  "string", "bool",
                                  "float16",    "double",  "uint32", "uint64", "complex64",
                                  "complex128", "bfloat16"};
    return dt >= 0 && dt < (int32_t)(sizeof names / sizeof *names) ? names[dt] : "unknown";
}

/* ---- constants ----------------------------------------------------------- */

static const cst *cst_find(const ctx *x, const char *name)
{
    for (int i = 0; i < x->nc; i++)
        if (!strcmp(x->c[i].name, name)) return &x->c[i];
    return NULL;
}

static void cst_add(ctx *x, const char *name, const otensor *t)
{
    if (x->nc == x->capc) {
        x->capc = x->capc ? 2 * x->capc : 64;
        cst *c = realloc(x->c, (size_t)x->capc * sizeof *c);
        GN_ASSERT(c);
        x->c = c;
    }
    x->c[x->nc].name = name;
    x->c[x->nc].t = t;
    x->nc++;
}

/* A 0-D (n == 1, !vec) or 1-D tensor of n float32 or int64 values owned by
 * the import (freed at the end), for Constant value_float(s)/value_int(s). */
static otensor *owned_tensor(ctx *x, int is_float, size_t n, int vec)
{
    if (x->nowned == x->capowned) {
        x->capowned = x->capowned ? 2 * x->capowned : 8;
        otensor **o = realloc(x->owned, (size_t)x->capowned * sizeof *o);
        GN_ASSERT(o);
        x->owned = o;
    }
    otensor *t = gn_xmalloc(sizeof *t);
    onnx__tensor_proto__init(t);
    t->has_data_type = 1;
    t->data_type = is_float ? DT_(FLOAT) : DT_(INT64);
    if (is_float) {
        t->n_float_data = n;
        t->float_data = gn_xcalloc(n, sizeof *t->float_data);
    } else {
        t->n_int64_data = n;
        t->int64_data = gn_xcalloc(n, sizeof *t->int64_data);
    }
    if (vec) {
        t->n_dims = 1;
        t->dims = gn_xmalloc(sizeof *t->dims);
        t->dims[0] = (int64_t)n;
    }
    x->owned[x->nowned++] = t;
    return t;
}

/* Element count of t; -1 if a dimension is negative or the count would not
 * fit comfortably in memory arithmetic. */
static long long tensor_count(const otensor *t)
{
    long long n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0 || t->dims[d] > INT_MAX) return -1;
        if (t->dims[d] && n > (1LL << 40) / t->dims[d]) return -1; /* no overflow */
        n *= t->dims[d];
    }
    return n;
}

static int tensor_external(const otensor *t)
{
    return t->n_external_data > 0 ||
           (t->has_data_location &&
            t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL);
}

static uint64_t load_le(const uint8_t *p, int nb)
{
    uint64_t v = 0;
    for (int i = nb - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The float32 values of a constant (float_data, or little-endian raw_data):
 * a malloc'd array of *n values. For parameters. */
static int cst_f32(const ctx *x, const cst *c, float **out, size_t *n)
{
    const otensor *t = c->t;
    long long cnt = tensor_count(t);
    if (cnt < 0) return nerr(x, "initializer %s: bad dimensions", c->name);
    if (tensor_external(t))
        return nerr(x, "initializer %s: data in an external file is not supported", c->name);
    if (t->data_type != DT_(FLOAT))
        return nerr(x, "initializer %s: data type %s, expected float32", c->name,
                    dtype_name(t->data_type));
    /* the data present must match the shape before the shape is allocated */
    if (t->has_raw_data && t->raw_data.len != (size_t)cnt * 4)
        return nerr(x, "initializer %s: raw_data has %zu bytes, expected %lld", c->name,
                    t->raw_data.len, cnt * 4);
    if (!t->has_raw_data && t->n_float_data != (size_t)cnt)
        return nerr(x, "initializer %s: %zu values for shape with %lld elements", c->name,
                    t->n_float_data, cnt);
    float *v = gn_xmalloc((size_t)(cnt ? cnt : 1) * sizeof *v);
    if (t->has_raw_data) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (cnt) memcpy(v, t->raw_data.data, (size_t)cnt * 4);
#else
        for (long long i = 0; i < cnt; i++) {
            uint32_t u = (uint32_t)load_le(t->raw_data.data + 4 * i, 4);
            memcpy(&v[i], &u, 4);
        }
#endif
    } else {
        if (cnt) memcpy(v, t->float_data, (size_t)cnt * sizeof *v);
    }
    *out = v;
    *n = (size_t)cnt;
    return 0;
}

/* The values of a small numeric constant (Clip bounds, Resize scales, Reshape
 * shape) of any float or integer type, as doubles: a malloc'd array. */
static int cst_f64(const ctx *x, const cst *c, double **out, size_t *n)
{
    const otensor *t = c->t;
    long long cnt = tensor_count(t);
    if (cnt < 0) return nerr(x, "constant %s: bad dimensions", c->name);
    if (tensor_external(t))
        return nerr(x, "constant %s: data in an external file is not supported", c->name);
    int nb, isfloat = 0, issigned = 1;
    size_t nfield;
    switch (t->data_type) {
    case DT_(FLOAT): nb = 4, isfloat = 1, nfield = t->n_float_data; break;
    case DT_(DOUBLE): nb = 8, isfloat = 1, nfield = t->n_double_data; break;
    case DT_(INT32): nb = 4, nfield = t->n_int32_data; break;
    case DT_(INT64): nb = 8, nfield = t->n_int64_data; break;
    case DT_(UINT8): nb = 1, issigned = 0, nfield = t->n_int32_data; break;
    case DT_(INT8): nb = 1, nfield = t->n_int32_data; break;
    default:
        return nerr(x, "constant %s: data type %s not supported", c->name,
                    dtype_name(t->data_type));
    }
    if (t->has_raw_data && t->raw_data.len != (size_t)cnt * (size_t)nb)
        return nerr(x, "constant %s: raw_data has %zu bytes, expected %lld", c->name,
                    t->raw_data.len, cnt * nb);
    if (!t->has_raw_data && nfield != (size_t)cnt)
        return nerr(x, "constant %s: %zu values for shape with %lld elements", c->name, nfield,
                    cnt);
    double *v = gn_xmalloc((size_t)(cnt ? cnt : 1) * sizeof *v);
    if (t->has_raw_data) {
        for (long long i = 0; i < cnt; i++) {
            uint64_t u = load_le(t->raw_data.data + (size_t)i * nb, nb);
            if (isfloat && nb == 4) {
                uint32_t u32 = (uint32_t)u;
                float f;
                memcpy(&f, &u32, 4);
                v[i] = f;
            } else if (isfloat) {
                memcpy(&v[i], &u, 8);
            } else if (!issigned) {
                v[i] = (double)u;
            } else {
                int sh = 64 - 8 * nb; /* sign-extend */
                v[i] = (double)((int64_t)(u << sh) >> sh);
            }
        }
    } else {
        for (long long i = 0; i < cnt; i++) switch (t->data_type) {
            case DT_(FLOAT): v[i] = t->float_data[i]; break;
            case DT_(DOUBLE): v[i] = t->double_data[i]; break;
            case DT_(INT64): v[i] = (double)t->int64_data[i]; break;
            default: v[i] = t->int32_data[i]; break;
            }
    }
    *out = v;
    *n = (size_t)cnt;
    return 0;
}

/* ---- attributes ---------------------------------------------------------- */

static const oattr *attr(const onode *n, const char *name)
{
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

/* The attribute's type; guessed from the fields set for IR < 2 files, which
 * have no type field. */
static int attr_type(const oattr *a)
{
    if (a->has_type && a->type != AT_(UNDEFINED)) return a->type;
    if (a->n_ints) return AT_(INTS);
    if (a->n_floats) return AT_(FLOATS);
    if (a->has_i) return AT_(INT);
    if (a->has_f) return AT_(FLOAT);
    if (a->has_s) return AT_(STRING);
    if (a->t) return AT_(TENSOR);
    return AT_(UNDEFINED);
}

static int attr_int(const ctx *x, const onode *n, const char *name, long long def, long long *v)
{
    const oattr *a = attr(n, name);
    if (!a) {
        *v = def;
        return 0;
    }
    if (attr_type(a) != AT_(INT)) return nerr(x, "attribute %s is not an integer", name);
    *v = a->i;
    return 0;
}

static int attr_float(const ctx *x, const onode *n, const char *name, float def, float *v)
{
    const oattr *a = attr(n, name);
    if (!a) {
        *v = def;
        return 0;
    }
    if (attr_type(a) != AT_(FLOAT)) return nerr(x, "attribute %s is not a float", name);
    *v = a->f;
    return 0;
}

/* Exactly `want` ints into v (range-checked to int); *present = 0 and v
 * untouched when absent. */
static int attr_ints(const ctx *x, const onode *n, const char *name, int want, int *v, int *present)
{
    const oattr *a = attr(n, name);
    *present = 0;
    if (!a) return 0;
    if (attr_type(a) != AT_(INTS)) return nerr(x, "attribute %s is not a list of integers", name);
    if (a->n_ints != (size_t)want)
        return nerr(x, "attribute %s has %zu values, expected %d (2-D only)", name, a->n_ints,
                    want);
    for (int i = 0; i < want; i++) {
        if (a->ints[i] < INT_MIN || a->ints[i] > INT_MAX)
            return nerr(x, "attribute %s value %lld out of range", name, (long long)a->ints[i]);
        v[i] = (int)a->ints[i];
    }
    *present = 1;
    return 0;
}

/* A string attribute, NUL-terminated into buf (def when absent). */
static int attr_str(const ctx *x, const onode *n, const char *name, const char *def, char *buf,
                    size_t len)
{
    const oattr *a = attr(n, name);
    if (!a) {
        snprintf(buf, len, "%s", def);
        return 0;
    }
    if (attr_type(a) != AT_(STRING)) return nerr(x, "attribute %s is not a string", name);
    size_t k = a->s.len < len - 1 ? a->s.len : len - 1;
    if (k) memcpy(buf, a->s.data, k);
    buf[k] = '\0';
    return 0;
}

/* ---- node inputs and outputs -------------------------------------------- */

static int has_input(const onode *n, size_t i) { return i < n->n_input && n->input[i][0]; }

static int want_inputs(const ctx *x, const onode *n, size_t lo, size_t hi)
{
    if (n->n_input < lo || n->n_input > hi) {
        if (lo == hi) return nerr(x, "%s has %zu inputs, expected %zu", n->op_type, n->n_input, lo);
        return nerr(x, "%s has %zu inputs, expected %zu to %zu", n->op_type, n->n_input, lo, hi);
    }
    for (size_t i = 0; i < lo; i++)
        if (!n->input[i][0]) return nerr(x, "required input %zu is empty", i);
    return 0;
}

/* Input i as an activation tensor computed earlier. */
static int act_in(const ctx *x, const onode *n, size_t i, int *t)
{
    const char *name = n->input[i];
    if (cst_find(x, name))
        return nerr(x, "input %s is a constant; %s needs a computed tensor there", name,
                    n->op_type);
    *t = gn_graph_find_tensor(x->g, name);
    if (*t < 0)
        return nerr(x,
                    "input %s is not computed by an earlier node (graph not in topological "
                    "order?)",
                    name);
    return 0;
}

/* Input i as a constant (initializer or Constant output). */
static int cst_in(const ctx *x, const onode *n, size_t i, const cst **c)
{
    *c = cst_find(x, n->input[i]);
    if (!*c)
        return nerr(x,
                    "input %s must be an initializer or a Constant (computed values are not "
                    "supported there)",
                    n->input[i]);
    return 0;
}

/* A new tensor for output `name` (must not exist yet). */
static int new_tensor(const ctx *x, const char *name, int *t)
{
    if (!name[0]) return nerr(x, "empty output name");
    if (gn_graph_find_tensor(x->g, name) >= 0 || cst_find(x, name))
        return nerr(x, "output %s is already defined", name);
    *t = gn_graph_tensor(x->g, name);
    return 0;
}

static int out0(const ctx *x, const onode *n, int *t)
{
    if (n->n_output < 1) return nerr(x, "%s has no output", n->op_type);
    return new_tensor(x, n->output[0], t);
}

/* Most operators: one output, extra outputs refused. */
static int out1(const ctx *x, const onode *n, int *t)
{
    for (size_t i = 1; i < n->n_output; i++)
        if (n->output[i][0])
            return nerr(x, "%s output %zu (%s) is not supported", n->op_type, i, n->output[i]);
    return out0(x, n, t);
}

/* The int dims of constant c (rank <= maxnd). */
static int cst_dims(const ctx *x, const cst *c, int maxnd, int *dims, int *nd)
{
    if (c->t->n_dims > (size_t)maxnd)
        return nerr(x, "initializer %s has rank %zu, expected at most %d", c->name, c->t->n_dims,
                    maxnd);
    for (size_t d = 0; d < c->t->n_dims; d++) {
        if (c->t->dims[d] < 1 || c->t->dims[d] > INT_MAX)
            return nerr(x, "initializer %s: dimension %zu is %lld", c->name, d,
                        (long long)c->t->dims[d]);
        dims[d] = (int)c->t->dims[d];
    }
    *nd = (int)c->t->n_dims;
    return 0;
}

/* Parameter `name` holding `data` with shape dims. An existing parameter of
 * that name (an initializer used by two nodes) is shared if its shape agrees. */
static int put_param(const ctx *x, const char *name, int ndim, const int *dims, const float *data,
                     int *idx)
{
    int i = gn_graph_find_param(x->g, name);
    if (i >= 0) {
        const gn_param *p = &x->g->params[i];
        int same = p->ndim == ndim;
        for (int d = 0; same && d < ndim; d++) same = p->dims[d] == dims[d];
        if (!same) return nerr(x, "initializer %s is used with two different shapes", name);
        *idx = i;
        return 0;
    }
    *idx = gn_graph_add_param(x->g, name, ndim, dims, data);
    if (*idx < 0) return nerr(x, "%s", gn_err_msg());
    return 0;
}

/* Constant c as a parameter of shape dims (same element count, any layout of
 * the constant's own dims). */
static int cst_param(const ctx *x, const cst *c, int ndim, const int *dims, int *idx)
{
    size_t want = 1;
    for (int d = 0; d < ndim; d++) want *= (size_t)dims[d];
    if (gn_graph_find_param(x->g, c->name) >= 0)
        return put_param(x, c->name, ndim, dims, NULL, idx);
    float *v;
    size_t n;
    TRY(cst_f32(x, c, &v, &n));
    if (n != want) {
        free(v);
        return nerr(x, "initializer %s has %zu values, expected %zu", c->name, n, want);
    }
    int rc = put_param(x, c->name, ndim, dims, v, idx);
    free(v);
    return rc;
}

/* Constant c (rank 2) as a linear weight (O,I); `trans` = c is (I,O). */
static int linear_weight(const ctx *x, const cst *c, int trans, int *idx, int *O)
{
    int dims[2], nd;
    TRY(cst_dims(x, c, 2, dims, &nd));
    if (nd != 2) return nerr(x, "weight %s has rank %d, expected 2", c->name, nd);
    int o = trans ? dims[1] : dims[0], in = trans ? dims[0] : dims[1];
    int pd[2] = {o, in};
    *O = o;
    if (!trans) return cst_param(x, c, 2, pd, idx);
    if (gn_graph_find_param(x->g, c->name) >= 0) return put_param(x, c->name, 2, pd, NULL, idx);
    float *v;
    size_t n;
    TRY(cst_f32(x, c, &v, &n));
    float *wt = gn_xmalloc(n * sizeof *wt);
    for (int i = 0; i < in; i++)    /* v (I,O) */
        for (int j = 0; j < o; j++) /* wt (O,I) */
            wt[(size_t)j * in + i] = v[(size_t)i * o + j];
    int rc = put_param(x, c->name, 2, pd, wt, idx);
    free(v);
    free(wt);
    return rc;
}

/* Constant c as a bias of O values (any shape with O elements). */
static int bias_param(const ctx *x, const cst *c, int O, int *idx)
{
    long long cnt = tensor_count(c->t);
    if (cnt != O) return nerr(x, "bias %s has %lld values, expected %d", c->name, cnt, O);
    return cst_param(x, c, 1, &O, idx);
}

/* ---- operators ----------------------------------------------------------- */

static gn_node *add_node(ctx *x, gn_opkind op, int in, int out)
{
    gn_node *g = gn_graph_add_node(x->g, op, x->nname);
    g->nin = 1;
    g->in[0] = in;
    g->out = out;
    return g;
}

/* Kernel/stride/padding of Conv and the pools. */
typedef struct {
    int k[2], s[2], p[4];
    int has_k;
    int ceil; /* MaxPool's ceil_mode */
} window;

static int get_window(const ctx *x, const onode *n, window *w, int is_pool)
{
    int present, dil[2];
    char ap[32];
    w->s[0] = w->s[1] = 1;
    memset(w->p, 0, sizeof w->p);
    TRY(attr_ints(x, n, "kernel_shape", 2, w->k, &w->has_k));
    if (is_pool && !w->has_k) return nerr(x, "%s without kernel_shape", n->op_type);
    if (w->has_k && (w->k[0] < 1 || w->k[1] < 1))
        return nerr(x, "kernel_shape %dx%d", w->k[0], w->k[1]);
    TRY(attr_ints(x, n, "strides", 2, w->s, &present));
    if (w->s[0] < 1 || w->s[1] < 1) return nerr(x, "strides %dx%d", w->s[0], w->s[1]);
    TRY(attr_ints(x, n, "pads", 4, w->p, &present));
    for (int i = 0; i < 4; i++)
        if (w->p[i] < 0)
            return nerr(x, "negative pads %d,%d,%d,%d", w->p[0], w->p[1], w->p[2], w->p[3]);
    TRY(attr_ints(x, n, "dilations", 2, dil, &present));
    if (present && (dil[0] != 1 || dil[1] != 1))
        return nerr(x, "dilations %dx%d not supported (only 1)", dil[0], dil[1]);
    TRY(attr_str(x, n, "auto_pad", "NOTSET", ap, sizeof ap));
    if (!strcmp(ap, "VALID")) {
        memset(w->p, 0, sizeof w->p);
    } else if (strcmp(ap, "NOTSET") && ap[0]) {
        return nerr(x, "auto_pad %s not supported (only NOTSET; give explicit pads)", ap);
    }
    w->ceil = 0;
    if (is_pool) {
        long long ceil_mode;
        TRY(attr_int(x, n, "ceil_mode", 0, &ceil_mode));
        if (ceil_mode && strcmp(n->op_type, "MaxPool"))
            return nerr(x, "ceil_mode %lld not supported (only 0; 1 with MaxPool)", ceil_mode);
        w->ceil = ceil_mode != 0;
    }
    return 0;
}

static void set_window(gn_node *g, const window *w)
{
    g->kh = w->k[0], g->kw = w->k[1];
    g->sh = w->s[0], g->sw = w->s[1];
    /* ONNX pads: [x1_begin, x2_begin, x1_end, x2_end] = [top, left, bottom, right] */
    g->pt = w->p[0], g->pl = w->p[1], g->pb = w->p[2], g->pr = w->p[3];
}

static int op_conv(ctx *x, const onode *n)
{
    const cst *wc, *bc;
    int in, out, pw, pb = -1, dims[4], nd;
    long long group;
    window w;
    TRY(want_inputs(x, n, 2, 3));
    TRY(act_in(x, n, 0, &in));
    TRY(cst_in(x, n, 1, &wc));
    TRY(cst_dims(x, wc, 4, dims, &nd));
    if (nd != 4)
        return nerr(x, "weight %s has rank %d, expected 4 (2-D convolution only)", wc->name, nd);
    TRY(get_window(x, n, &w, 0));
    if (w.has_k && (w.k[0] != dims[2] || w.k[1] != dims[3]))
        return nerr(x, "kernel_shape %dx%d does not match weight %s (%dx%d)", w.k[0], w.k[1],
                    wc->name, dims[2], dims[3]);
    w.k[0] = dims[2], w.k[1] = dims[3];
    TRY(attr_int(x, n, "group", 1, &group));
    if (group < 1 || group > dims[0] || dims[0] % group)
        return nerr(x, "group %lld does not divide %d output channels", group, dims[0]);
    TRY(cst_param(x, wc, 4, dims, &pw));
    if (has_input(n, 2)) {
        TRY(cst_in(x, n, 2, &bc));
        TRY(bias_param(x, bc, dims[0], &pb));
    }
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, GN_OP_CONV, in, out);
    set_window(g, &w);
    g->groups = (int)group;
    g->p[GN_P_W] = pw;
    g->p[GN_P_B] = pb;
    return 0;
}

static int op_bn(ctx *x, const onode *n)
{
    static const char *role[4] = {"scale", "bias", "running mean", "running variance"};
    const cst *c[4];
    int in, out, p[4];
    float eps, mom;
    long long training, spatial;
    TRY(want_inputs(x, n, 5, 5));
    TRY(act_in(x, n, 0, &in));
    for (int i = 0; i < 4; i++)
        if (!(c[i] = cst_find(x, n->input[i + 1])))
            return nerr(x, "%s input %s must be an initializer", role[i], n->input[i + 1]);
    long long C = tensor_count(c[0]->t);
    if (C < 1 || C > INT_MAX) return nerr(x, "scale %s has %lld values", c[0]->name, C);
    for (int i = 0; i < 4; i++) {
        long long k = tensor_count(c[i]->t);
        if (k != C)
            return nerr(x, "%s %s has %lld values, scale has %lld", role[i], c[i]->name, k, C);
        int d = (int)C;
        TRY(cst_param(x, c[i], 1, &d, &p[i]));
    }
    TRY(attr_float(x, n, "epsilon", 1e-5f, &eps));
    TRY(attr_float(x, n, "momentum", 0.9f, &mom));
    TRY(attr_int(x, n, "training_mode", 0, &training));
    TRY(attr_int(x, n, "spatial", 1, &spatial));
    if (!spatial) return nerr(x, "spatial 0 (per-activation statistics) not supported");
    if (!(eps > 0)) return nerr(x, "epsilon %g must be positive", eps);
    if (!(mom >= 0 && mom <= 1)) return nerr(x, "momentum %g outside [0,1]", mom);
    /* training-mode export: outputs 1,2 are the updated running statistics
     * (and older opsets' saved mean/var); inputs 3,4 are what we keep. */
    if (training || n->n_output > 1) x->bn_training++;
    TRY(out0(x, n, &out));
    gn_node *g = add_node(x, GN_OP_BN, in, out);
    g->p[GN_P_GAMMA] = p[0];
    g->p[GN_P_BETA] = p[1];
    g->p[GN_P_MEAN] = p[2];
    g->p[GN_P_VAR] = p[3];
    g->eps = eps;
    /* ONNX: running = running*m + batch*(1-m); genie (PyTorch): running*(1-m') + batch*m' */
    g->momentum = 1.0f - mom;
    return 0;
}

/* A one-element constant input of Clip. */
static int scalar_in(const ctx *x, const onode *n, size_t i, float *v)
{
    const cst *c = cst_find(x, n->input[i]);
    if (!c)
        return nerr(x, "Clip bound %s is computed at run time; only constants are supported",
                    n->input[i]);
    double *d;
    size_t k;
    TRY(cst_f64(x, c, &d, &k));
    if (k != 1) {
        free(d);
        return nerr(x, "Clip bound %s has %zu values, expected 1", c->name, k);
    }
    *v = (float)d[0];
    free(d);
    return 0;
}

static int op_clip(ctx *x, const onode *n)
{
    int in, out;
    float lo = -INFINITY, hi = INFINITY;
    TRY(want_inputs(x, n, 1, 3));
    TRY(act_in(x, n, 0, &in));
    TRY(attr_float(x, n, "min", -INFINITY, &lo)); /* opset < 11 */
    TRY(attr_float(x, n, "max", INFINITY, &hi));
    if (has_input(n, 1)) TRY(scalar_in(x, n, 1, &lo)); /* opset >= 11 */
    if (has_input(n, 2)) TRY(scalar_in(x, n, 2, &hi));
    if (isnan(lo) || isnan(hi) || lo > hi) return nerr(x, "Clip bounds %g..%g", lo, hi);
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, GN_OP_CLIP, in, out);
    g->lo = lo;
    g->hi = hi;
    return 0;
}

/* Relu, Tanh, GlobalAveragePool: one input, no attributes that matter. */
static int op_simple(ctx *x, const onode *n, gn_opkind op)
{
    int in, out;
    TRY(want_inputs(x, n, 1, 1));
    TRY(act_in(x, n, 0, &in));
    TRY(out1(x, n, &out));
    add_node(x, op, in, out);
    return 0;
}

static int op_leaky(ctx *x, const onode *n)
{
    int in, out;
    float alpha;
    TRY(want_inputs(x, n, 1, 1));
    TRY(act_in(x, n, 0, &in));
    TRY(attr_float(x, n, "alpha", 0.01f, &alpha));
    TRY(out1(x, n, &out));
    add_node(x, GN_OP_LEAKY, in, out)->slope = alpha;
    return 0;
}

static int op_add(ctx *x, const onode *n)
{
    int a, b, out;
    TRY(want_inputs(x, n, 2, 2));
    for (int i = 0; i < 2; i++)
        if (cst_find(x, n->input[i]))
            return nerr(x,
                        "Add of constant %s not supported (only tensor + tensor of the same "
                        "shape, or a bias after MatMul)",
                        n->input[i]);
    TRY(act_in(x, n, 0, &a));
    TRY(act_in(x, n, 1, &b));
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, GN_OP_ADD, a, out);
    g->nin = 2;
    g->in[1] = b;
    return 0;
}

static int op_identity(ctx *x, const onode *n)
{
    int in, out;
    TRY(want_inputs(x, n, 1, 1));
    const cst *c = cst_find(x, n->input[0]);
    if (c) { /* alias of a constant: a parameter of its own under the new name */
        if (n->n_output != 1 || !n->output[0][0]) return nerr(x, "Identity needs one output");
        if (gn_graph_find_tensor(x->g, n->output[0]) >= 0 || cst_find(x, n->output[0]))
            return nerr(x, "output %s is already defined", n->output[0]);
        cst_add(x, n->output[0], c->t);
        return 0;
    }
    TRY(act_in(x, n, 0, &in));
    TRY(out1(x, n, &out));
    add_node(x, GN_OP_IDENTITY, in, out);
    return 0;
}

static int op_constant(ctx *x, const onode *n)
{
    if (n->n_output != 1 || !n->output[0][0]) return nerr(x, "Constant needs one output");
    if (n->n_attribute != 1)
        return nerr(x, "Constant has %zu attributes, expected 1", n->n_attribute);
    const oattr *a = n->attribute[0];
    const char *an = a->name ? a->name : "";
    int ty = attr_type(a);
    otensor *o;
    const otensor *t;
    if (!strcmp(an, "value") && ty == AT_(TENSOR) && a->t) {
        t = a->t;
    } else if (!strcmp(an, "value_float") && ty == AT_(FLOAT)) {
        t = o = owned_tensor(x, 1, 1, 0);
        o->float_data[0] = a->f;
    } else if (!strcmp(an, "value_floats") && ty == AT_(FLOATS)) {
        t = o = owned_tensor(x, 1, a->n_floats, 1);
        if (a->n_floats) memcpy(o->float_data, a->floats, a->n_floats * sizeof *a->floats);
    } else if (!strcmp(an, "value_int") && ty == AT_(INT)) {
        t = o = owned_tensor(x, 0, 1, 0);
        o->int64_data[0] = a->i;
    } else if (!strcmp(an, "value_ints") && ty == AT_(INTS)) {
        t = o = owned_tensor(x, 0, a->n_ints, 1);
        if (a->n_ints) memcpy(o->int64_data, a->ints, a->n_ints * sizeof *a->ints);
    } else {
        return nerr(x,
                    "Constant attribute %s not supported (only value, value_float(s), "
                    "value_int(s))",
                    an);
    }
    if (gn_graph_find_tensor(x->g, n->output[0]) >= 0 || cst_find(x, n->output[0]))
        return nerr(x, "output %s is already defined", n->output[0]);
    cst_add(x, n->output[0], t);
    return 0;
}

static int op_pool(ctx *x, const onode *n, gn_opkind op)
{
    int in, out;
    window w;
    TRY(want_inputs(x, n, 1, 1));
    TRY(act_in(x, n, 0, &in));
    TRY(get_window(x, n, &w, 1));
    long long cip = 0;
    if (op == GN_OP_AVGPOOL) TRY(attr_int(x, n, "count_include_pad", 0, &cip));
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, op, in, out);
    set_window(g, &w);
    g->count_include_pad = cip != 0;
    g->ceil_mode = w.ceil;
    return 0;
}

static int op_flatten(ctx *x, const onode *n)
{
    long long axis;
    TRY(attr_int(x, n, "axis", 1, &axis));
    if (axis != 1) return nerr(x, "Flatten axis %lld not supported (only 1)", axis);
    return op_simple(x, n, GN_OP_FLATTEN);
}

static int op_gemm(ctx *x, const onode *n)
{
    const cst *wc, *bc;
    int in, out, pw, pb = -1, O;
    float alpha, beta;
    long long ta, tb;
    TRY(want_inputs(x, n, 2, 3));
    TRY(act_in(x, n, 0, &in));
    TRY(cst_in(x, n, 1, &wc));
    TRY(attr_float(x, n, "alpha", 1.0f, &alpha));
    TRY(attr_float(x, n, "beta", 1.0f, &beta));
    TRY(attr_int(x, n, "transA", 0, &ta));
    TRY(attr_int(x, n, "transB", 0, &tb));
    if (alpha != 1.0f) return nerr(x, "alpha %g not supported (only 1)", alpha);
    if (beta != 1.0f) return nerr(x, "beta %g not supported (only 1)", beta);
    if (ta) return nerr(x, "transA %lld not supported (only 0)", ta);
    TRY(linear_weight(x, wc, !tb, &pw, &O));
    if (has_input(n, 2)) {
        TRY(cst_in(x, n, 2, &bc));
        TRY(bias_param(x, bc, O, &pb));
    }
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, GN_OP_LINEAR, in, out);
    g->p[GN_P_W] = pw;
    g->p[GN_P_B] = pb;
    return 0;
}

/* Number of uses of value `name` by nodes and graph outputs. */
static int uses(const ctx *x, const char *name)
{
    int k = 0;
    for (size_t i = 0; i < x->gp->n_node; i++)
        for (size_t j = 0; j < x->gp->node[i]->n_input; j++)
            k += !strcmp(x->gp->node[i]->input[j], name);
    for (size_t i = 0; i < x->gp->n_output; i++) k += !strcmp(x->gp->output[i]->name, name);
    return k;
}

/* MatMul(X, W const (I,O)) -> linear; a following Add(Y, b const (O)) that is
 * the only use of Y is folded in as the bias. */
static int op_matmul(ctx *x, const onode *n, size_t idx)
{
    const cst *wc;
    int in, out, pw, pb = -1, O;
    const char *oname;
    TRY(want_inputs(x, n, 2, 2));
    TRY(act_in(x, n, 0, &in));
    TRY(cst_in(x, n, 1, &wc));
    TRY(linear_weight(x, wc, 1, &pw, &O));
    if (n->n_output < 1) return nerr(x, "MatMul has no output");
    oname = n->output[0];
    if (uses(x, oname) == 1)
        for (size_t k = idx + 1; k < x->gp->n_node; k++) {
            const onode *a = x->gp->node[k];
            if (strcmp(a->op_type, "Add") || a->n_input != 2 || a->n_output != 1) continue;
            int j = !strcmp(a->input[0], oname) ? 1 : !strcmp(a->input[1], oname) ? 0 : -1;
            if (j < 0) continue;
            const cst *bc = cst_find(x, a->input[j]);
            if (!bc || tensor_count(bc->t) != O) break;
            TRY(bias_param(x, bc, O, &pb));
            oname = a->output[0];
            x->skip[k] = 1;
            break;
        }
    TRY(new_tensor(x, oname, &out));
    gn_node *g = add_node(x, GN_OP_LINEAR, in, out);
    g->p[GN_P_W] = pw;
    g->p[GN_P_B] = pb;
    return 0;
}

/* Reshape with a constant shape: [N,-1] is Flatten; [N,F], [N,C,L] and
 * [N,C,H,W] with fixed sizes are a reshape to (F,1,1), (C,L,1), (C,H,W).
 * N may be 0 (copy), -1 or the traced batch size. */
static int op_reshape(ctx *x, const onode *n)
{
    const cst *sc;
    double *s;
    size_t k;
    int in, out, d[3] = {1, 1, 1};
    long long allowzero;
    TRY(want_inputs(x, n, 2, 2));
    TRY(act_in(x, n, 0, &in));
    TRY(cst_in(x, n, 1, &sc));
    TRY(attr_int(x, n, "allowzero", 0, &allowzero));
    TRY(cst_f64(x, sc, &s, &k));
    int flatten = k == 2 && s[1] == -1 && s[0] != -1;
    int ok = k >= 2 && k <= 4 && (s[0] >= -1 && s[0] == floor(s[0])) && !(allowzero && s[0] == 0);
    for (size_t i = 1; ok && !flatten && i < k; i++) {
        ok = s[i] >= 1 && s[i] <= INT_MAX && s[i] == floor(s[i]);
        if (ok) d[i - 1] = (int)s[i];
    }
    if (!ok) {
        char buf[128] = "";
        for (size_t i = 0; i < k && i < 6; i++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%g", i ? "," : "", s[i]);
        free(s);
        return nerr(x, "Reshape to [%s] not supported (only [N,-1] or fixed per-sample sizes)",
                    buf);
    }
    free(s);
    TRY(out1(x, n, &out));
    if (flatten) {
        add_node(x, GN_OP_FLATTEN, in, out);
    } else {
        gn_node *g = add_node(x, GN_OP_RESHAPE, in, out);
        g->rc = d[0], g->rh = d[1], g->rw = d[2];
    }
    return 0;
}

/* Resize (opset 10+) and Upsample: nearest-neighbour with scales 1,1,2,2 and
 * a coordinate mode under which x2 nearest is pixel repetition. */
static int op_resize(ctx *x, const onode *n, int is_upsample)
{
    int in, out;
    char mode[32], ctm[48], nm[48];
    double sc[4] = {0, 0, 0, 0};
    size_t ns = 0, si = 0;
    TRY(want_inputs(x, n, 1, is_upsample ? 2 : 4));
    TRY(act_in(x, n, 0, &in));
    TRY(attr_str(x, n, "mode", "nearest", mode, sizeof mode));
    if (strcmp(mode, "nearest")) return nerr(x, "mode %s not supported (only nearest)", mode);
    if (is_upsample) {
        const oattr *a = attr(n, "scales");
        if (a) {
            if (attr_type(a) != AT_(FLOATS) || a->n_floats > 4)
                return nerr(x, "attribute scales is not a list of 4 floats");
            for (size_t i = 0; i < a->n_floats; i++) sc[i] = a->floats[i];
            ns = a->n_floats;
        } else if (has_input(n, 1)) {
            si = 1;
        }
        strcpy(ctm, "asymmetric");
        strcpy(nm, "floor");
    } else {
        /* opset 10: (X, scales); opset 11+: (X, roi, scales, sizes) */
        si = n->n_input == 2 ? 1 : 2;
        if (has_input(n, 3)) {
            const cst *c = cst_find(x, n->input[3]);
            if (!c || tensor_count(c->t) != 0)
                return nerr(x, "Resize with sizes not supported (only scales 1,1,2,2)");
        }
        TRY(attr_str(x, n, "coordinate_transformation_mode",
                     n->n_input == 2 ? "asymmetric" : "half_pixel", ctm, sizeof ctm));
        TRY(attr_str(x, n, "nearest_mode", "round_prefer_floor", nm, sizeof nm));
    }
    if (si && has_input(n, si)) {
        const cst *c;
        double *v;
        TRY(cst_in(x, n, si, &c));
        TRY(cst_f64(x, c, &v, &ns));
        for (size_t i = 0; i < ns && i < 4; i++) sc[i] = v[i];
        free(v);
    }
    if (ns != 4 || sc[0] != 1 || sc[1] != 1 || sc[2] != 2 || sc[3] != 2) {
        if (ns == 4)
            return nerr(x, "scales %g,%g,%g,%g not supported (only nearest x2: 1,1,2,2)", sc[0],
                        sc[1], sc[2], sc[3]);
        return nerr(x, "%s needs 4 scales (only nearest x2: 1,1,2,2)", n->op_type);
    }
    /* which modes make output pixel i read input pixel floor(i/2) */
    int asym = !strcmp(ctm, "asymmetric");
    int half = !strcmp(ctm, "half_pixel") || !strcmp(ctm, "pytorch_half_pixel");
    int ok = (asym && (!strcmp(nm, "floor") || !strcmp(nm, "round_prefer_floor"))) ||
             (half && (!strcmp(nm, "round_prefer_floor") || !strcmp(nm, "round_prefer_ceil")));
    if (!ok)
        return nerr(x, "coordinate_transformation_mode %s with nearest_mode %s not supported", ctm,
                    nm);
    TRY(out1(x, n, &out));
    add_node(x, GN_OP_UPSAMPLE, in, out);
    return 0;
}

/* ---- later operators: the torchvision families ------------------------------
 * (ResNet, MobileNetV2/V3, RegNet, MnasNet, EfficientNet, ShuffleNetV2,
 * DenseNet, GoogLeNet, SqueezeNet, VGG as torch.onnx exports them) */

/* Per-sample shape of the computed tensor t, by inferring every shape of the
 * graph imported so far. */
static int shape_of(ctx *x, int t, int *c, int *h, int *w)
{
    int keep = x->g->output;
    x->g->output = t;
    int rc = gn_graph_finalize(x->g, x->chw[0], x->chw[1], x->chw[2]);
    x->g->output = keep;
    if (rc) return nerr(x, "%s", gn_err_msg());
    *c = x->g->t[t].c, *h = x->g->t[t].h, *w = x->g->t[t].w;
    return 0;
}

/* An int list attribute of at most max values. */
static int attr_list(const ctx *x, const onode *n, const char *name, long long *v, int max, int *cnt)
{
    const oattr *a = attr(n, name);
    *cnt = 0;
    if (!a) return 0;
    if (attr_type(a) != AT_(INTS)) return nerr(x, "attribute %s is not a list of integers", name);
    if (a->n_ints > (size_t)max) return nerr(x, "attribute %s has %zu values", name, a->n_ints);
    for (size_t i = 0; i < a->n_ints; i++) v[i] = a->ints[i];
    *cnt = (int)a->n_ints;
    return 0;
}

/* A constant input as at most max integers (int list or scalar). */
static int cst_list(const ctx *x, const onode *n, size_t i, long long *v, int max, int *cnt)
{
    const cst *c;
    double *d;
    size_t k;
    TRY(cst_in(x, n, i, &c));
    TRY(cst_f64(x, c, &d, &k));
    if (k > (size_t)max) {
        free(d);
        return nerr(x, "constant %s has %zu values, expected at most %d", c->name, k, max);
    }
    for (size_t j = 0; j < k; j++) {
        if (!(d[j] >= -9e18 && d[j] <= 9e18) || d[j] != floor(d[j])) {
            free(d);
            return nerr(x, "constant %s value %g is not an integer", c->name, d[j]);
        }
        v[j] = (long long)d[j];
    }
    *cnt = (int)k;
    free(d);
    return 0;
}

/* The arithmetic of shapes that torch.onnx leaves in a graph exported
 * without constant folding (ShuffleNetV2's chunk and channel shuffle):
 * Shape of a computed tensor, and Unsqueeze, Squeeze, Concat, Gather,
 * Add, Sub, Mul, Div, Cast of small constants (rank <= 1), evaluated here
 * into a constant. *done = 0 when n is not such a node. */
static int fold_shape(ctx *x, const onode *n, int *done)
{
    static const char *ops[] = {"Shape", "Unsqueeze", "Squeeze", "Concat", "Gather", "Add",
                                "Sub", "Mul", "Div", "Cast"};
    const char *op = n->op_type ? n->op_type : "";
    int k = -1;
    *done = 0;
    for (int i = 0; i < (int)(sizeof ops / sizeof *ops); i++)
        if (!strcmp(op, ops[i])) k = i;
    if (k < 0 || n->n_input < 1 || n->n_output != 1 || !n->output[0][0]) return 0;
    if (k == 0) { /* Shape: [1, C, H, W] of a computed (N,C,H,W) tensor */
        int t, c, h, w;
        if (cst_find(x, n->input[0])) return 0;
        TRY(want_inputs(x, n, 1, 1));
        TRY(act_in(x, n, 0, &t));
        if (n->n_attribute) return nerr(x, "Shape with start/end not supported");
        TRY(shape_of(x, t, &c, &h, &w));
        int pi = -1;
        for (int q = 0; q < x->g->nn; q++)
            if (x->g->nodes[q].out == t) pi = x->g->nodes[q].op;
        if (pi == GN_OP_FLATTEN || pi == GN_OP_LINEAR)
            return nerr(x, "Shape of a 2-D tensor not supported");
        if (gn_graph_find_tensor(x->g, n->output[0]) >= 0 || cst_find(x, n->output[0]))
            return nerr(x, "output %s is already defined", n->output[0]);
        otensor *o = owned_tensor(x, 0, 4, 1);
        o->int64_data[0] = 1, o->int64_data[1] = c, o->int64_data[2] = h, o->int64_data[3] = w;
        cst_add(x, n->output[0], o);
        *done = 1;
        return 0;
    }
    for (size_t i = 0; i < n->n_input; i++)
        if (n->input[i][0] && !cst_find(x, n->input[i])) return 0; /* an operator on tensors */
    if (!n->input[0][0]) return nerr(x, "%s input 0 is empty", op);
    if (k >= 4 && k <= 8) TRY(want_inputs(x, n, 2, 2));
    /* every input constant: values as doubles, rank <= 1 */
    double *v[8] = {0};
    size_t nv[8] = {0};
    int isf = 0, rc = 0;
    if (n->n_input > 8) return nerr(x, "%s of %zu constants not supported", op, n->n_input);
    for (size_t i = 0; i < n->n_input && !rc; i++) {
        const cst *c = cst_find(x, n->input[i]);
        if (!c) continue;
        if (c->t->n_dims > 1) rc = nerr(x, "%s of constant %s (rank %zu) not supported", op, c->name, c->t->n_dims);
        else rc = cst_f64(x, c, &v[i], &nv[i]);
        isf |= c->t->data_type == DT_(FLOAT) || c->t->data_type == DT_(DOUBLE);
    }
    size_t cnt = 0;
    double r[64];
    int vec = 1;
    if (!rc) switch (k) {
    case 1: case 2: case 9: /* Unsqueeze, Squeeze (to rank <= 1), Cast: values as they are */
        if (nv[0] > 64) { rc = nerr(x, "%s of %zu values not supported", op, nv[0]); break; }
        for (size_t j = 0; j < nv[0]; j++) r[cnt++] = v[0][j];
        vec = k == 1 || nv[0] != 1 || cst_find(x, n->input[0])->t->n_dims == 1;
        if (k == 2) vec = 0;
        if (k == 9) {
            long long to;
            rc = attr_int(x, n, "to", DT_(INT64), &to);
            isf = to == DT_(FLOAT) || to == DT_(DOUBLE);
        }
        break;
    case 3: /* Concat */
        for (size_t i = 0; i < n->n_input && !rc; i++)
            for (size_t j = 0; j < nv[i]; j++) {
                if (cnt == 64) { rc = nerr(x, "Concat of more than 64 values"); break; }
                r[cnt++] = v[i][j];
            }
        break;
    case 4: { /* Gather along axis 0 */
        long long axis;
        rc = attr_int(x, n, "axis", 0, &axis);
        if (!rc && axis != 0) rc = nerr(x, "Gather of constants along axis %lld", axis);
        for (size_t j = 0; !rc && j < nv[1] && j < 64; j++) {
            if (!(fabs(v[1][j]) <= 1e9)) {
                rc = nerr(x, "Gather index %g out of range", v[1][j]);
                break;
            }
            long long q = (long long)v[1][j];
            if (q < 0) q += (long long)nv[0];
            if (q < 0 || q >= (long long)nv[0]) rc = nerr(x, "Gather index %g out of range", v[1][j]);
            else r[cnt++] = v[0][q];
        }
        vec = cst_find(x, n->input[1])->t->n_dims == 1;
        break;
    }
    default: { /* Add, Sub, Mul, Div with a scalar broadcast */
        size_t m = nv[0] > nv[1] ? nv[0] : nv[1];
        if (!rc && ((nv[0] != m && nv[0] != 1) || (nv[1] != m && nv[1] != 1) || m > 64))
            rc = nerr(x, "%s of %zu and %zu values not supported", op, nv[0], nv[1]);
        for (size_t j = 0; !rc && j < m; j++) {
            double a = v[0][nv[0] == 1 ? 0 : j], b = v[1][nv[1] == 1 ? 0 : j];
            if (k == 5) r[cnt++] = a + b;
            else if (k == 6) r[cnt++] = a - b;
            else if (k == 7) r[cnt++] = a * b;
            else if (b == 0) rc = nerr(x, "Div by zero");
            else r[cnt++] = isf ? a / b : trunc(a / b);
        }
        vec = cst_find(x, n->input[0])->t->n_dims == 1 || cst_find(x, n->input[1])->t->n_dims == 1;
        break;
    }
    }
    for (int i = 0; i < 8; i++) free(v[i]);
    for (size_t j = 0; !rc && j < cnt; j++)
        if (!isf && !(fabs(r[j]) < 9e18)) rc = nerr(x, "%s gives %g, not an int64", op, r[j]);
    if (rc) return rc;
    if (gn_graph_find_tensor(x->g, n->output[0]) >= 0 || cst_find(x, n->output[0]))
        return nerr(x, "output %s is already defined", n->output[0]);
    otensor *o = owned_tensor(x, isf, cnt, vec || cnt != 1);
    for (size_t j = 0; j < cnt; j++)
        if (isf) o->float_data[j] = (float)r[j];
        else o->int64_data[j] = (int64_t)r[j];
    cst_add(x, n->output[0], o);
    *done = 1;
    return 0;
}

static int op_hsigmoid(ctx *x, const onode *n)
{
    int in, out;
    float alpha, beta;
    TRY(want_inputs(x, n, 1, 1));
    TRY(act_in(x, n, 0, &in));
    TRY(attr_float(x, n, "alpha", 0.2f, &alpha));
    TRY(attr_float(x, n, "beta", 0.5f, &beta));
    if (!isfinite(alpha) || !isfinite(beta)) return nerr(x, "alpha %g, beta %g", alpha, beta);
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, GN_OP_HSIGMOID, in, out);
    g->alpha = alpha, g->beta = beta;
    return 0;
}

/* Mul of two computed tensors (same shape, or one (C,1,1): checked by
 * gn_graph_finalize) */
static int op_mul(ctx *x, const onode *n)
{
    int a, b, out;
    TRY(want_inputs(x, n, 2, 2));
    for (int i = 0; i < 2; i++)
        if (cst_find(x, n->input[i]))
            return nerr(x, "Mul by constant %s not supported (only tensor * tensor)", n->input[i]);
    TRY(act_in(x, n, 0, &a));
    TRY(act_in(x, n, 1, &b));
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, GN_OP_MUL, a, out);
    g->nin = 2;
    g->in[1] = b;
    return 0;
}

/* Concat of computed tensors along channels */
static int op_concat(ctx *x, const onode *n)
{
    int out, t;
    long long axis;
    if (n->n_input < 1 || n->n_input > GN_MAXIN)
        return nerr(x, "Concat of %zu inputs (1 to %d supported)", n->n_input, GN_MAXIN);
    TRY(attr_int(x, n, "axis", 1, &axis));
    if (axis != 1 && axis != -3) return nerr(x, "Concat along axis %lld (only channels, 1)", axis);
    int ins[GN_MAXIN];
    for (size_t i = 0; i < n->n_input; i++) {
        if (!n->input[i][0]) return nerr(x, "Concat input %zu is empty", i);
        TRY(act_in(x, n, i, &t));
        ins[i] = t;
    }
    TRY(out1(x, n, &out));
    gn_node *g = add_node(x, GN_OP_CONCAT, ins[0], out);
    g->nin = (int)n->n_input;
    for (int i = 1; i < g->nin; i++) g->in[i] = ins[i];
    return 0;
}

/* a channel slice [c0, c0+cn) of tensor in into output `name` */
static int add_slice(ctx *x, int in, const char *name, int c0, int cn)
{
    int out;
    TRY(new_tensor(x, name, &out));
    gn_node *g = add_node(x, GN_OP_SLICE, in, out);
    g->c0 = c0, g->cn = cn;
    return 0;
}

/* Split along channels: one slice node per output */
static int op_split(ctx *x, const onode *n)
{
    int in, c, h, w, ns = 0;
    long long axis, sp[GN_MAXIN];
    TRY(want_inputs(x, n, 1, 2));
    TRY(act_in(x, n, 0, &in));
    TRY(attr_int(x, n, "axis", 0, &axis));
    if (axis != 1 && axis != -3) return nerr(x, "Split along axis %lld (only channels, 1)", axis);
    if (n->n_output < 1 || n->n_output > GN_MAXIN) return nerr(x, "Split into %zu outputs", n->n_output);
    TRY(attr_list(x, n, "split", sp, GN_MAXIN, &ns)); /* opset < 13 */
    if (has_input(n, 1)) TRY(cst_list(x, n, 1, sp, GN_MAXIN, &ns));
    TRY(shape_of(x, in, &c, &h, &w));
    int no = (int)n->n_output;
    if (!ns) {
        if (c % no) return nerr(x, "Split of %d channels in %d equal parts", c, no);
        for (int i = 0; i < no; i++) sp[i] = c / no;
        ns = no;
    }
    long long tot = 0;
    for (int i = 0; i < ns; i++) {
        if (sp[i] < 1 || sp[i] > c) return nerr(x, "Split size %lld of %d channels", sp[i], c);
        tot += sp[i];
    }
    if (ns != no || tot != c) return nerr(x, "Split sizes do not add up to %d channels", c);
    long long c0 = 0;
    for (int i = 0; i < no; c0 += sp[i], i++) {
        if (!sp[i]) return nerr(x, "Split output %d is empty", i);
        TRY(add_slice(x, in, n->output[i], (int)c0, (int)sp[i]));
    }
    return 0;
}

/* Slice along channels with constant starts/ends, step 1 */
static int op_slice(ctx *x, const onode *n)
{
    int in, out, c, h, w, ns, ne, na = 1, nst = 0;
    long long st[4], en[4], ax[4] = {1}, step[4];
    TRY(want_inputs(x, n, 3, 5));
    TRY(act_in(x, n, 0, &in));
    TRY(cst_list(x, n, 1, st, 4, &ns));
    TRY(cst_list(x, n, 2, en, 4, &ne));
    if (has_input(n, 3)) TRY(cst_list(x, n, 3, ax, 4, &na));
    if (has_input(n, 4)) TRY(cst_list(x, n, 4, step, 4, &nst));
    if (ns != 1 || ne != 1 || na != 1 || (ax[0] != 1 && ax[0] != -3) ||
        (nst && (nst != 1 || step[0] != 1)))
        return nerr(x, "Slice not supported (only one range of channels, step 1)");
    TRY(shape_of(x, in, &c, &h, &w));
    long long s = st[0] < 0 ? st[0] + c : st[0], e = en[0] < 0 ? en[0] + c : en[0];
    if (s < 0) s = 0;
    if (e > c) e = c;
    if (s >= e) return nerr(x, "Slice of channels %lld..%lld of %d is empty", st[0], en[0], c);
    (void)out;
    for (size_t i = 1; i < n->n_output; i++)
        if (n->output[i][0]) return nerr(x, "Slice has more than one output");
    if (n->n_output < 1) return nerr(x, "Slice has no output");
    return add_slice(x, in, n->output[0], (int)s, (int)(e - s));
}

/* The channel shuffle: Reshape to [N,G,C/G,H,W] -> Transpose [0,2,1,3,4] ->
 * Reshape to [N,C,H,W] (or [N,-1,H,W]) becomes one shuffle node, made at
 * the last of the three (the exporter computes the last shape in between).
 * The first two are remembered in x->shuf; *done = 0 when n is not part of
 * such a chain. */
static int shuffle_chain(ctx *x, const onode *n, size_t idx, int *done)
{
    long long s[8], perm[8];
    int k, np, in, out, c, h, w;
    *done = 0;
    const char *op = n->op_type;
    if (!strcmp(op, "Transpose")) {
        if (!x->shuf.name || n->n_input != 1 || strcmp(n->input[0], x->shuf.name) ||
            x->shuf.stage != 1)
            return 0;
        TRY(attr_list(x, n, "perm", perm, 8, &np));
        if (np != 5 || perm[0] != 0 || perm[1] != 2 || perm[2] != 1 || perm[3] != 3 ||
            perm[4] != 4 || n->n_output != 1)
            return nerr(x, "Transpose of a 5-D reshape (only the channel shuffle's [0,2,1,3,4])");
        x->shuf.name = n->output[0];
        x->shuf.stage = 2;
        *done = 1;
        return 0;
    }
    if (n->n_input != 2 || n->n_output != 1 || !cst_find(x, n->input[1])) return 0;
    TRY(cst_list(x, n, 1, s, 8, &k));
    if (x->shuf.name && !strcmp(n->input[0], x->shuf.name)) {
        if (x->shuf.stage != 2 || k != 4)
            return nerr(x, "Reshape of a 5-D tensor (only the channel shuffle's)");
        in = x->shuf.in;
        TRY(shape_of(x, in, &c, &h, &w));
        if ((s[1] != c && s[1] != -1) || s[2] != h || s[3] != w)
            return nerr(x, "channel shuffle reshaped to %lld,%lld,%lld (input %dx%dx%d)", s[1],
                        s[2], s[3], c, h, w);
        TRY(out1(x, n, &out));
        add_node(x, GN_OP_SHUFFLE, in, out)->groups = x->shuf.groups;
        x->shuf.name = NULL;
        *done = 1;
        return 0;
    }
    if (k != 5) return 0;
    (void)idx;
    if (uses(x, n->output[0]) != 1) return nerr(x, "Reshape to 5 dimensions read twice");
    TRY(act_in(x, n, 0, &in));
    TRY(shape_of(x, in, &c, &h, &w));
    if (s[1] < 1 || s[2] < 1 || s[1] > c || s[2] > c || s[1] * s[2] != c || s[3] != h || s[4] != w)
        return nerr(x, "Reshape of %dx%dx%d to 5 dimensions (only the channel shuffle's)", c, h, w);
    if (gn_graph_find_tensor(x->g, n->output[0]) >= 0 || cst_find(x, n->output[0]))
        return nerr(x, "output %s is already defined", n->output[0]);
    x->shuf.name = n->output[0];
    x->shuf.in = in;
    x->shuf.groups = (int)s[1];
    x->shuf.stage = 1;
    *done = 1;
    return 0;
}

/* ReduceMean over H and W: global average pooling (keepdims or not, the
 * per-sample tensor is (C,1,1) either way) */
static int op_reducemean(ctx *x, const onode *n)
{
    long long ax[4];
    int na = 0, in, out;
    long long keep;
    TRY(want_inputs(x, n, 1, 2));
    TRY(act_in(x, n, 0, &in));
    TRY(attr_list(x, n, "axes", ax, 4, &na));
    if (has_input(n, 1)) TRY(cst_list(x, n, 1, ax, 4, &na)); /* opset 18 */
    TRY(attr_int(x, n, "keepdims", 1, &keep));
    int h0 = na == 2 && (ax[0] == 2 || ax[0] == -2) && (ax[1] == 3 || ax[1] == -1);
    int h1 = na == 2 && (ax[1] == 2 || ax[1] == -2) && (ax[0] == 3 || ax[0] == -1);
    int hw = h0 || h1;
    if (!hw) return nerr(x, "ReduceMean not over H and W (axes 2,3) not supported");
    TRY(out1(x, n, &out));
    add_node(x, GN_OP_GAP, in, out);
    return 0;
}

/* Dropout at inference: the identity (its mask output must be unused) */
static int op_dropout(ctx *x, const onode *n, size_t idx)
{
    int in, out;
    (void)idx;
    TRY(want_inputs(x, n, 1, 3));
    TRY(act_in(x, n, 0, &in));
    for (size_t i = 1; i < n->n_output; i++)
        if (n->output[i][0] && uses(x, n->output[i]))
            return nerr(x, "Dropout's mask output %s is used", n->output[i]);
    TRY(out0(x, n, &out));
    add_node(x, GN_OP_IDENTITY, in, out);
    return 0;
}

/* Pad with all pads zero: the identity (torch exports one before
 * AveragePool) */
static int op_pad(ctx *x, const onode *n)
{
    long long p[8];
    int np = 0, in, out;
    TRY(want_inputs(x, n, 1, 3));
    TRY(act_in(x, n, 0, &in));
    TRY(attr_list(x, n, "pads", p, 8, &np)); /* opset < 11 */
    if (has_input(n, 1)) TRY(cst_list(x, n, 1, p, 8, &np));
    for (int i = 0; i < np; i++)
        if (p[i]) return nerr(x, "Pad with non-zero pads not supported");
    TRY(out1(x, n, &out));
    add_node(x, GN_OP_IDENTITY, in, out);
    return 0;
}

static int import_node(ctx *x, const onode *n, size_t idx)
{
    const char *op = n->op_type ? n->op_type : "";
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return nerr(x, "unsupported operator %s.%s", n->domain, op);
    int done;
    TRY(fold_shape(x, n, &done));
    if (done) return 0;
    if (!strcmp(op, "Conv")) return op_conv(x, n);
    if (!strcmp(op, "BatchNormalization")) return op_bn(x, n);
    if (!strcmp(op, "Relu")) return op_simple(x, n, GN_OP_RELU);
    if (!strcmp(op, "Clip")) return op_clip(x, n);
    if (!strcmp(op, "LeakyRelu")) return op_leaky(x, n);
    if (!strcmp(op, "Tanh")) return op_simple(x, n, GN_OP_TANH);
    if (!strcmp(op, "Add")) return op_add(x, n);
    if (!strcmp(op, "Identity")) return op_identity(x, n);
    if (!strcmp(op, "Constant")) return op_constant(x, n);
    if (!strcmp(op, "MaxPool")) return op_pool(x, n, GN_OP_MAXPOOL);
    if (!strcmp(op, "AveragePool")) return op_pool(x, n, GN_OP_AVGPOOL);
    if (!strcmp(op, "GlobalAveragePool")) return op_simple(x, n, GN_OP_GAP);
    if (!strcmp(op, "Flatten")) return op_flatten(x, n);
    if (!strcmp(op, "Gemm")) return op_gemm(x, n);
    if (!strcmp(op, "MatMul")) return op_matmul(x, n, idx);
    if (!strcmp(op, "Reshape")) {
        TRY(shuffle_chain(x, n, idx, &done));
        return done ? 0 : op_reshape(x, n);
    }
    if (!strcmp(op, "Transpose")) {
        TRY(shuffle_chain(x, n, idx, &done));
        if (done) return 0;
    }
    if (!strcmp(op, "Sigmoid")) return op_simple(x, n, GN_OP_SIGMOID);
    if (!strcmp(op, "HardSigmoid")) return op_hsigmoid(x, n);
    if (!strcmp(op, "HardSwish")) return op_simple(x, n, GN_OP_HSWISH);
    if (!strcmp(op, "Mul")) return op_mul(x, n);
    if (!strcmp(op, "Concat")) return op_concat(x, n);
    if (!strcmp(op, "Split")) return op_split(x, n);
    if (!strcmp(op, "Slice")) return op_slice(x, n);
    if (!strcmp(op, "ReduceMean")) return op_reducemean(x, n);
    if (!strcmp(op, "Dropout")) return op_dropout(x, n, idx);
    if (!strcmp(op, "Pad")) return op_pad(x, n);
    if (!strcmp(op, "Resize")) return op_resize(x, n, 0);
    if (!strcmp(op, "Upsample")) return op_resize(x, n, 1);
    return nerr(x, "unsupported operator %s", op[0] ? op : "(empty)");
}

/* ---- model level --------------------------------------------------------- */

/* The whole file (or standard input for "-") into a malloc'd buffer. */
static int read_all(const char *path, const char *shown, uint8_t **buf, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) return gn_err_set("%s: cannot open: %s", shown, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = gn_xmalloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            uint8_t *nb = realloc(b, cap);
            GN_ASSERT(nb);
            b = nb;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f), e = errno;
    if (f != stdin) fclose(f);
    if (bad) {
        free(b);
        return gn_err_set("%s: read error: %s", shown, strerror(e));
    }
    *buf = b;
    *len = n;
    return 0;
}

/* The model input: the one graph input that is not an initializer. */
static int find_input(ctx *x, const Onnx__ValueInfoProto **in)
{
    const Onnx__GraphProto *gp = x->gp;
    int k = 0;
    char names[256] = "";
    for (size_t i = 0; i < gp->n_input; i++) {
        const char *nm = gp->input[i]->name ? gp->input[i]->name : "";
        if (cst_find(x, nm)) continue;
        if (k++ == 0) *in = gp->input[i];
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k > 1 ? ", " : "",
                 nm);
    }
    if (k == 0) return gerr(x, "graph has no input (all its inputs are initializers)");
    if (k > 1) return gerr(x, "graph has %d inputs (%s); genie needs exactly one", k, names);
    return 0;
}

/* Per-sample (C,H,W) of the input value: [N,C,H,W], or [N,F] as (F,1,1). */
static int input_shape(const ctx *x, const Onnx__ValueInfoProto *in, int chw[3])
{
    const char *nm = in->name;
    const Onnx__TypeProto *tp = in->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
        return gerr(x, "input %s is not a tensor", nm);
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->elem_type != DT_(FLOAT))
        return gerr(x, "input %s has element type %s, expected float32", nm,
                    dtype_name(tt->elem_type));
    if (!tt->shape) return gerr(x, "input %s has no shape", nm);
    size_t r = tt->shape->n_dim;
    if (r != 4 && r != 2)
        return gerr(x, "input %s has rank %zu, expected 4 [N,C,H,W] or 2 [N,F]", nm, r);
    chw[0] = chw[1] = chw[2] = 1;
    for (size_t d = 1; d < r; d++) {
        const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[d];
        if (dm->value_case != ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            return gerr(x, "input %s dimension %zu is symbolic (%s); genie needs fixed C,H,W", nm,
                        d,
                        dm->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                            ? dm->dim_param
                            : "unset");
        if (dm->dim_value < 1 || dm->dim_value > INT_MAX)
            return gerr(x, "input %s dimension %zu is %lld", nm, d, (long long)dm->dim_value);
        chw[d - 1] = (int)dm->dim_value;
    }
    return 0;
}

/* Names protobuf-c leaves NULL when absent: every graph input and output
 * is compared by name, so each must have one. */
static int check_value_names(const ctx *x)
{
    const Onnx__GraphProto *gp = x->gp;
    for (size_t i = 0; i < gp->n_input; i++)
        if (!gp->input[i]->name || !gp->input[i]->name[0])
            return gerr(x, "graph input %zu has no name", i);
    for (size_t i = 0; i < gp->n_output; i++)
        if (!gp->output[i]->name || !gp->output[i]->name[0])
            return gerr(x, "graph output %zu has no name", i);
    return 0;
}

static int import(ctx *x)
{
    const Onnx__GraphProto *gp = x->gp;
    const Onnx__ValueInfoProto *in = NULL;
    int chw[3];
    if (gp->n_sparse_initializer) return gerr(x, "sparse initializers are not supported");
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const otensor *t = gp->initializer[i];
        if (!t->name || !t->name[0]) return gerr(x, "initializer %zu has no name", i);
        cst_add(x, t->name, t);
    }
    if (gp->n_node == 0) return gerr(x, "graph has no nodes");
    if (gp->n_output == 0) return gerr(x, "graph has no output");
    TRY(check_value_names(x));
    TRY(find_input(x, &in));
    TRY(input_shape(x, in, chw));
    memcpy(x->chw, chw, sizeof x->chw);
    x->g->input = gn_graph_tensor(x->g, in->name);
    x->skip = gn_xcalloc(gp->n_node, 1);
    for (size_t i = 0; i < gp->n_node; i++) {
        const onode *n = gp->node[i];
        if (n->name && n->name[0]) {
            x->nname = n->name;
        } else {
            snprintf(x->namebuf, sizeof x->namebuf, "%s_%zu", n->op_type ? n->op_type : "node", i);
            x->nname = x->namebuf;
        }
        if (x->skip[i]) continue;
        TRY(import_node(x, n, i));
    }
    const char *oname = gp->output[0]->name ? gp->output[0]->name : "";
    if (gp->n_output > 1)
        warn(x, "model has %zu outputs; using the first, %s", gp->n_output, oname);
    x->g->output = gn_graph_find_tensor(x->g, oname);
    if (x->g->output < 0 || x->g->output == x->g->input)
        return gerr(x, "graph output %s is not computed by any node", oname);
    if (gn_graph_finalize(x->g, chw[0], chw[1], chw[2])) {
        gn_err_prefix("%s", x->path);
        return GN_EINVAL;
    }
    if (gn_graph_check_finite(x->g)) {
        gn_err_prefix("%s", x->path);
        return GN_EINVAL;
    }
    if (!gn_graph_count_op(x->g, GN_OP_BN))
        warn(x, "model has no BatchNormalization: zero-shot distillation needs BatchNorm "
                "statistics (was it exported with BatchNorm fused into Conv? export with "
                "training=TrainingMode.PRESERVE)");
    if (x->bn_training)
        warn(x,
             "%d BatchNormalization node%s exported in training mode: kept the running "
             "mean/variance inputs, ignored the extra outputs",
             x->bn_training, x->bn_training > 1 ? "s" : "");
    return 0;
}

int gn_onnx_import(const char *path, gn_graph **out, char *warnings, size_t warnlen)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    const char *shown = strcmp(path, "-") ? path : "(stdin)";
    if (warnings && warnlen) warnings[0] = '\0';
    int rc = read_all(path, shown, &buf, &len);
    if (rc) return rc;
    rc = gn_onnx_import_mem(shown, buf, len, out, warnings, warnlen);
    free(buf);
    return rc;
}

int gn_onnx_import_mem(const char *name, const void *buf, size_t len, gn_graph **out,
                       char *warnings, size_t warnlen)
{
    ctx x;
    memset(&x, 0, sizeof x);
    x.path = name;
    x.warn = warnings;
    x.warnlen = warnlen;
    if (warnings && warnlen) warnings[0] = '\0';
    int rc;
    x.m = onnx__model_proto__unpack(NULL, len, buf); /* protobuf-c copies what it keeps */
    if (!x.m)
        return gn_err_code(GN_EINVAL, "%s: not an ONNX model (protobuf parse failed)", x.path);
    if (!x.m->graph) {
        rc = gn_err_code(GN_EINVAL, "%s: not an ONNX model (no graph)", x.path);
    } else {
        x.gp = x.m->graph;
        x.g = gn_graph_new();
        rc = import(&x);
    }
    if (rc) {
        gn_graph_free(x.g);
    } else {
        *out = x.g;
    }
    for (int i = 0; i < x.nowned; i++) {
        free(x.owned[i]->dims);
        free(x.owned[i]->float_data);
        free(x.owned[i]->int64_data);
        free(x.owned[i]);
    }
    free(x.owned);
    free(x.c);
    free(x.skip);
    onnx__model_proto__free_unpacked(x.m, NULL);
    return rc;
}
