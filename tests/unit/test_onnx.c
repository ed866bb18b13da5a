/* test_onnx.c - ONNX import: the bundled ResNet-20 (structure, and its
 * output against PyTorch's logits), every supported operator and the error
 * paths on small models written here with protobuf-c (no binary fixtures),
 * and files that are not ONNX at all. Run from the repository root. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gn_err.h"
#include "gn_graph.h"
#include "gn_h5.h"
#include "gn_onnx.h"
#include "gn_run.h"
#include "onnx.pb-c.h"

#define MODEL "tests/fixtures/resnet20_fmnist.onnx"
#define REF   "tests/fixtures/resnet20_fmnist.ref.h5"

/* ---- a tiny ONNX writer for fixtures built in code ----------------------- */
/* Fixed capacities keep it simple; everything allocated is recorded in mem[]
 * and freed by mb_free. */
enum { MB_NODES = 32, MB_INITS = 32, MB_IO = 4, MB_ARGS = 8, MB_MEM = 1024 };

typedef struct {
    Onnx__ModelProto m;
    Onnx__GraphProto g;
    Onnx__OperatorSetIdProto opset;
    Onnx__OperatorSetIdProto *opsetp;
    void *mem[MB_MEM];
    int nmem;
} mb;

static void *mb_alloc(mb *b, size_t n)
{
    if (b->nmem == MB_MEM) abort();
    return b->mem[b->nmem++] = calloc(1, n);
}

static char *mb_str(mb *b, const char *s)
{
    char *p = mb_alloc(b, strlen(s) + 1);
    strcpy(p, s);
    return p;
}

static void mb_new(mb *b, int opset)
{
    memset(b, 0, sizeof *b);
    onnx__model_proto__init(&b->m);
    onnx__graph_proto__init(&b->g);
    onnx__operator_set_id_proto__init(&b->opset);
    b->m.has_ir_version = 1, b->m.ir_version = 7;
    b->opset.has_version = 1, b->opset.version = opset;
    b->opsetp = &b->opset;
    b->m.n_opset_import = 1, b->m.opset_import = &b->opsetp;
    b->m.graph = &b->g;
    b->g.name = "test";
    b->g.node = mb_alloc(b, MB_NODES * sizeof *b->g.node);
    b->g.initializer = mb_alloc(b, MB_INITS * sizeof *b->g.initializer);
    b->g.input = mb_alloc(b, MB_IO * sizeof *b->g.input);
    b->g.output = mb_alloc(b, MB_IO * sizeof *b->g.output);
}

static void mb_free(mb *b)
{
    for (int i = 0; i < b->nmem; i++) free(b->mem[i]);
    b->nmem = 0;
}

/* graph input of shape dims (0 = symbolic "N") */
static void mb_input(mb *b, const char *name, int rank, const int *dims)
{
    Onnx__ValueInfoProto *v = mb_alloc(b, sizeof *v);
    Onnx__TypeProto *tp = mb_alloc(b, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = mb_alloc(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = mb_alloc(b, sizeof *sh);
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)rank;
    sh->dim = mb_alloc(b, (size_t)rank * sizeof *sh->dim);
    for (int d = 0; d < rank; d++) {
        Onnx__TensorShapeProto__Dimension *dm = mb_alloc(b, sizeof *dm);
        onnx__tensor_shape_proto__dimension__init(dm);
        if (dims[d]) {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            dm->dim_value = dims[d];
        } else {
            dm->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            dm->dim_param = "N";
        }
        sh->dim[d] = dm;
    }
    tt->has_elem_type = 1, tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = mb_str(b, name);
    v->type = tp;
    b->g.input[b->g.n_input++] = v;
}

static void mb_output(mb *b, const char *name)
{
    Onnx__ValueInfoProto *v = mb_alloc(b, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = mb_str(b, name);
    b->g.output[b->g.n_output++] = v;
}

static Onnx__TensorProto *mb_tensor(mb *b, const char *name, int ndim, const int *dims)
{
    Onnx__TensorProto *t = mb_alloc(b, sizeof *t);
    onnx__tensor_proto__init(t);
    if (name) t->name = mb_str(b, name);
    t->n_dims = (size_t)ndim;
    t->dims = mb_alloc(b, (size_t)(ndim ? ndim : 1) * sizeof *t->dims);
    for (int d = 0; d < ndim; d++) t->dims[d] = dims[d];
    return t;
}

/* float32 tensor (raw little-endian bytes when `raw`, else float_data) */
static Onnx__TensorProto *mb_ftensor(mb *b, const char *name, int ndim, const int *dims,
                                     const float *v, int raw)
{
    Onnx__TensorProto *t = mb_tensor(b, name, ndim, dims);
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)dims[d];
    t->has_data_type = 1, t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    if (raw) {
        uint8_t *p = mb_alloc(b, 4 * n);
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &v[i], 4);
            for (int k = 0; k < 4; k++) p[4 * i + k] = (uint8_t)(u >> (8 * k));
        }
        t->has_raw_data = 1, t->raw_data.len = 4 * n, t->raw_data.data = p;
    } else {
        t->n_float_data = n;
        t->float_data = mb_alloc(b, n * sizeof(float));
        memcpy(t->float_data, v, n * sizeof(float));
    }
    return t;
}

static Onnx__TensorProto *mb_init(mb *b, const char *name, int ndim, const int *dims,
                                  const float *v, int raw)
{
    Onnx__TensorProto *t = mb_ftensor(b, name, ndim, dims, v, raw);
    b->g.initializer[b->g.n_initializer++] = t;
    return t;
}

static void mb_init_i64(mb *b, const char *name, int n, const int64_t *v)
{
    Onnx__TensorProto *t = mb_tensor(b, name, 1, &n);
    t->has_data_type = 1, t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
    t->n_int64_data = (size_t)n;
    t->int64_data = mb_alloc(b, (size_t)n * sizeof(int64_t));
    memcpy(t->int64_data, v, (size_t)n * sizeof(int64_t));
    b->g.initializer[b->g.n_initializer++] = t;
}

#define L(...) ((const char *[]){__VA_ARGS__, NULL})

/* node OP named `name` (NULL = unnamed) with inputs/outputs ("" = absent) */
static Onnx__NodeProto *mb_node(mb *b, const char *op, const char *name, const char **in,
                                const char **out)
{
    Onnx__NodeProto *n = mb_alloc(b, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = mb_str(b, op);
    if (name) n->name = mb_str(b, name);
    n->input = mb_alloc(b, MB_ARGS * sizeof *n->input);
    n->output = mb_alloc(b, MB_ARGS * sizeof *n->output);
    n->attribute = mb_alloc(b, MB_ARGS * sizeof *n->attribute);
    for (; *in; in++) n->input[n->n_input++] = mb_str(b, *in);
    for (; *out; out++) n->output[n->n_output++] = mb_str(b, *out);
    b->g.node[b->g.n_node++] = n;
    return n;
}

static Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name, int type)
{
    Onnx__AttributeProto *a = mb_alloc(b, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = mb_str(b, name);
    a->has_type = 1, a->type = type;
    n->attribute[n->n_attribute++] = a;
    return a;
}

static void mb_ai(mb *b, Onnx__NodeProto *n, const char *name, long long v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
    a->has_i = 1, a->i = v;
}

static void mb_af(mb *b, Onnx__NodeProto *n, const char *name, float v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
    a->has_f = 1, a->f = v;
}

static void mb_as(mb *b, Onnx__NodeProto *n, const char *name, const char *v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
    a->has_s = 1, a->s.len = strlen(v), a->s.data = (uint8_t *)mb_str(b, v);
}

static void mb_aints(mb *b, Onnx__NodeProto *n, const char *name, int k, const int *v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
    a->n_ints = (size_t)k;
    a->ints = mb_alloc(b, (size_t)k * sizeof *a->ints);
    for (int i = 0; i < k; i++) a->ints[i] = v[i];
}

static void mb_afloats(mb *b, Onnx__NodeProto *n, const char *name, int k, const float *v)
{
    Onnx__AttributeProto *a = mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
    a->n_floats = (size_t)k;
    a->floats = mb_alloc(b, (size_t)k * sizeof *a->floats);
    memcpy(a->floats, v, (size_t)k * sizeof *v);
}

static void mb_atensor(mb *b, Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t)
{
    mb_attr(b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR)->t = t;
}

/* Writes `len` bytes to a new temporary file; its name into path[32]. */
static void write_temp(char *path, const void *data, size_t len)
{
    strcpy(path, "/tmp/test_onnx_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
        perror("test_onnx: temporary file");
        exit(1);
    }
    close(fd);
}

/* Packs the model, imports it from a temporary file (removed again).
 * With GENIE_ONNX_SEEDS=DIR set, also keeps a copy as DIR/NNN.onnx (the
 * fuzz target's seed corpus, tests/fuzz/seed/onnx). */
static int mb_import(mb *b, char *path, gn_graph **g, char *warn, size_t wl)
{
    size_t n = onnx__model_proto__get_packed_size(&b->m);
    uint8_t *buf = malloc(n ? n : 1);
    onnx__model_proto__pack(&b->m, buf);
    static int seq;
    const char *seeds = getenv("GENIE_ONNX_SEEDS");
    if (seeds) {
        char sp[4096];
        snprintf(sp, sizeof sp, "%s/%03d.onnx", seeds, seq++);
        FILE *sf = fopen(sp, "wb");
        if (sf) fwrite(buf, 1, n, sf), fclose(sf);
    }
    write_temp(path, buf, n);
    free(buf);
    int rc = gn_onnx_import(path, g, warn, wl);
    unlink(path);
    return rc;
}

static const gn_node *find_node(const gn_graph *g, const char *name)
{
    for (int i = 0; i < g->nn; i++)
        if (!strcmp(g->nodes[i].name, name)) return &g->nodes[i];
    return NULL;
}

static const char *pname(const gn_graph *g, int p) { return p >= 0 ? g->params[p].name : "(none)"; }

/* The import must fail, *out untouched, with a message that starts with the
 * path and contains `needle`. Frees the builder. */
#define EXPECT_FAIL(b, needle) expect_fail(b, needle, __LINE__)
static void expect_fail(mb *b, const char *needle, int line)
{
    char path[32];
    gn_graph *sentinel = (gn_graph *)&sentinel, *g = sentinel;
    int rc = mb_import(b, path, &g, NULL, 0);
    const char *m = gn_err_msg();
    int ok = rc != 0 && g == sentinel && !strncmp(m, path, strlen(path)) && strstr(m, needle);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  (line %d) rc %d, message \"%s\", wanted \"%s\"\n", line, rc, m, needle);
    if (!rc && g != sentinel) gn_graph_free(g);
    mb_free(b);
}

/* ---- the bundled ResNet-20 ---------------------------------------------- */

static void test_resnet20(void)
{
    gn_graph *g = NULL;
    char warn[512] = "junk";
    int rc = gn_onnx_import(MODEL, &g, warn, sizeof warn);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "  %s\n", gn_err_msg());
        return;
    }
    CHECK(!strcmp(warn, ""));
    CHECK(gn_graph_count_op(g, GN_OP_CONV) == 21);
    CHECK(gn_graph_count_op(g, GN_OP_BN) == 21);
    CHECK(gn_graph_count_op(g, GN_OP_RELU) == 19);
    CHECK(gn_graph_count_op(g, GN_OP_ADD) == 9);
    CHECK(gn_graph_count_op(g, GN_OP_GAP) == 1);
    CHECK(gn_graph_count_op(g, GN_OP_FLATTEN) == 1);
    CHECK(gn_graph_count_op(g, GN_OP_LINEAR) == 1);
    CHECK(gn_graph_count_op(g, GN_OP_IDENTITY) == 0); /* both Identities are on initializers */
    CHECK(g->nn == 73);
    /* 105 initializers + the 2 biases PyTorch routed through Identity */
    CHECK(g->np == 107);
    size_t total = 0;
    for (int i = 0; i < g->np; i++) total += g->params[i].n;
    CHECK(total == 273754);

    CHECK(!strcmp(g->t[g->input].name, "input"));
    CHECK(g->t[g->input].c == 1 && g->t[g->input].h == 28 && g->t[g->input].w == 28);
    CHECK(!strcmp(g->t[g->output].name, "logits"));
    CHECK(g->t[g->output].c == 10 && g->t[g->output].h == 1 && g->t[g->output].w == 1);

    const gn_node *n = find_node(g, "/bn1/BatchNormalization");
    CHECK(n && n->op == GN_OP_BN);
    if (n) {
        CHECK_NEAR(n->eps, 1e-5, 1e-9);
        CHECK_NEAR(n->momentum, 0.1, 1e-6); /* ONNX 0.9 -> PyTorch-style 0.1 */
        CHECK(!strcmp(pname(g, n->p[GN_P_GAMMA]), "bn1.weight"));
        CHECK(!strcmp(pname(g, n->p[GN_P_BETA]), "bn1.bias"));
        CHECK(!strcmp(pname(g, n->p[GN_P_MEAN]), "bn1.running_mean"));
        CHECK(!strcmp(pname(g, n->p[GN_P_VAR]), "bn1.running_var"));
        CHECK(g->t[n->out].c == 16 && g->t[n->out].h == 28);
    }
    n = find_node(g, "/layer2/layer2.0/conv1/Conv");
    CHECK(n && n->op == GN_OP_CONV);
    if (n) {
        CHECK(n->kh == 3 && n->kw == 3 && n->sh == 2 && n->sw == 2);
        CHECK(n->pt == 1 && n->pl == 1 && n->pb == 1 && n->pr == 1 && n->groups == 1);
        CHECK(!strcmp(pname(g, n->p[GN_P_W]), "layer2.0.conv1.weight") && n->p[GN_P_B] < 0);
        CHECK(g->t[n->out].c == 32 && g->t[n->out].h == 14 && g->t[n->out].w == 14);
    }
    n = find_node(g, "/layer3/layer3.0/downsample/downsample.0/Conv");
    CHECK(n && n->kh == 1 && n->sh == 2 && n->pt == 0 && n->pr == 0);
    /* the Identity-routed bias: its own parameter, same values as the source */
    n = find_node(g, "/layer2/layer2.0/downsample/downsample.1/BatchNormalization");
    int src = gn_graph_find_param(g, "layer2.0.bn2.bias");
    CHECK(n && src >= 0);
    if (n && src >= 0) {
        int p = n->p[GN_P_BETA];
        CHECK(p >= 0 && p != src && !strcmp(pname(g, p), "layer2.0.downsample.1.bias"));
        CHECK(p >= 0 && g->params[p].n == 32 &&
              !memcmp(g->params[p].data, g->params[src].data, 32 * sizeof(float)));
    }
    n = find_node(g, "/fc/Gemm");
    CHECK(n && n->op == GN_OP_LINEAR);
    if (n) {
        int w = n->p[GN_P_W];
        CHECK(w >= 0 && !strcmp(g->params[w].name, "fc.weight") && g->params[w].ndim == 2 &&
              g->params[w].dims[0] == 10 && g->params[w].dims[1] == 64);
        CHECK(!strcmp(pname(g, n->p[GN_P_B]), "fc.bias"));
    }

    /* golden numbers: the imported graph against PyTorch's logits */
    hid_t f;
    size_t dx[4], dl[4];
    float *x = NULL, *l = NULL;
    gn_h5_quiet();
    rc = gn_h5_open(REF, &f);
    CHECK(rc == 0);
    if (!rc) {
        rc = gn_h5_read_f32(f, REF, "/x", 4, dx, &x);
        if (!rc) rc = gn_h5_read_f32(f, REF, "/logits", 2, dl, &l);
        H5Fclose(f);
        CHECK(rc == 0 && dx[0] == 100 && dl[0] == 100 && dl[1] == 10);
    }
    if (!rc) {
        int B = (int)dx[0];
        gn_run *r = gn_run_new(g, B, 0);
        gn_run_forward(r, x, B);
        const float *y = gn_run_val(r, g->output);
        double md = 0;
        for (size_t i = 0; i < (size_t)B * 10; i++) md = fmax(md, fabs(y[i] - l[i]));
        CHECK_NEAR(md, 0, 1e-4);
        gn_run_free(r);
    } else {
        fprintf(stderr, "  %s\n", gn_err_msg());
    }
    free(x);
    free(l);
    gn_graph_free(g);
}

/* ---- files that are not ONNX models -------------------------------------- */

static void test_bad_files(void)
{
    gn_graph *sentinel = (gn_graph *)&sentinel, *g = sentinel;
    char path[32];

    CHECK(gn_onnx_import("tests/fixtures/no_such_model.onnx", &g, NULL, 0) != 0);
    CHECK(g == sentinel && strstr(gn_err_msg(), "tests/fixtures/no_such_model.onnx"));

    unsigned char junk[4096];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        s = s * 1664525u + 1013904223u;
        junk[i] = (unsigned char)(s >> 24);
    }
    write_temp(path, junk, sizeof junk);
    CHECK(gn_onnx_import(path, &g, NULL, 0) != 0);
    CHECK(g == sentinel && strstr(gn_err_msg(), path) && strstr(gn_err_msg(), "not an ONNX model"));
    unlink(path);

    write_temp(path, "", 0);
    CHECK(gn_onnx_import(path, &g, NULL, 0) != 0);
    CHECK(g == sentinel && strstr(gn_err_msg(), path) && strstr(gn_err_msg(), "not an ONNX model"));
    unlink(path);

    /* the real model cut short */
    FILE *f = fopen(MODEL, "rb");
    CHECK(f != NULL);
    if (f) {
        static unsigned char head[200000];
        size_t k = fread(head, 1, sizeof head, f);
        fclose(f);
        write_temp(path, head, k);
        CHECK(gn_onnx_import(path, &g, NULL, 0) != 0);
        CHECK(g == sentinel && strstr(gn_err_msg(), path) &&
              strstr(gn_err_msg(), "not an ONNX model"));
        unlink(path);
    }
}

/* ---- models built in code ------------------------------------------------- */

static const int NCHW_1_8_8[4] = {0, 1, 8, 8};

/* Conv (asymmetric pads, stride 2) -> Relu -> GAP -> Flatten -> Gemm with
 * transB=0: no BatchNormalization, so it imports with the warning. */
static void test_no_bn(void)
{
    mb b;
    char path[32], warn[512];
    gn_graph *g = NULL;
    float w[2 * 1 * 3 * 3], cb[2] = {0.5f, -0.5f};
    float gw[2 * 3] = {1, 2, 3, 4, 5, 6}, gb[3] = {7, 8, 9};
    for (int i = 0; i < 18; i++) w[i] = (float)i / 10;
    mb_new(&b, 13);
    mb_input(&b, "x", 4, NCHW_1_8_8);
    mb_init(&b, "c.w", 4, (int[]){2, 1, 3, 3}, w, 0); /* float_data */
    mb_init(&b, "c.b", 1, (int[]){2}, cb, 1);         /* raw_data */
    mb_init(&b, "fc.w", 2, (int[]){2, 3}, gw, 1);     /* (I,O): transB = 0 */
    mb_init(&b, "fc.b", 2, (int[]){1, 3}, gb, 0);
    Onnx__NodeProto *n = mb_node(&b, "Conv", "conv", L("x", "c.w", "c.b"), L("c"));
    mb_aints(&b, n, "pads", 4, (int[]){0, 1, 2, 3});
    mb_aints(&b, n, "strides", 2, (int[]){2, 2});
    mb_aints(&b, n, "kernel_shape", 2, (int[]){3, 3});
    mb_aints(&b, n, "dilations", 2, (int[]){1, 1});
    mb_as(&b, n, "auto_pad", "NOTSET");
    mb_node(&b, "Relu", NULL, L("c"), L("r"));
    mb_node(&b, "GlobalAveragePool", NULL, L("r"), L("p"));
    mb_node(&b, "Flatten", NULL, L("p"), L("f"));
    mb_node(&b, "Gemm", "fc", L("f", "fc.w", "fc.b"), L("y"));
    mb_output(&b, "y");
    int rc = mb_import(&b, path, &g, warn, sizeof warn);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "  %s\n", gn_err_msg());
    mb_free(&b);
    if (rc) return;
    CHECK(strstr(warn, "no BatchNormalization") && warn[strlen(warn) - 1] == '\n');
    CHECK(g->nn == 5 && g->np == 4);
    const gn_node *c = find_node(g, "conv");
    CHECK(c && c->pt == 0 && c->pl == 1 && c->pb == 2 && c->pr == 3 && c->sh == 2 && c->sw == 2);
    /* (8+0+2-3)/2+1 = 4 rows, (8+1+3-3)/2+1 = 5 columns */
    CHECK(c && g->t[c->out].c == 2 && g->t[c->out].h == 4 && g->t[c->out].w == 5);
    CHECK(c && g->params[c->p[GN_P_W]].data[17] == 1.7f &&
          g->params[c->p[GN_P_B]].data[1] == -0.5f);
    CHECK(find_node(g, "Relu_1") && find_node(g, "GlobalAveragePool_2") &&
          find_node(g, "Flatten_3"));
    const gn_node *fc = find_node(g, "fc");
    CHECK(fc && fc->op == GN_OP_LINEAR);
    if (fc) {
        const gn_param *p = &g->params[fc->p[GN_P_W]];
        /* (I,O) = [[1,2,3],[4,5,6]] stored as (O,I) = [[1,4],[2,5],[3,6]] */
        CHECK(p->ndim == 2 && p->dims[0] == 3 && p->dims[1] == 2);
        CHECK(p->data[0] == 1 && p->data[1] == 4 && p->data[2] == 2 && p->data[5] == 6);
        const gn_param *q = &g->params[fc->p[GN_P_B]];
        CHECK(q->ndim == 1 && q->n == 3 && q->data[2] == 9);
    }
    CHECK(g->t[g->output].c == 3 && g->t[g->output].h == 1);
    gn_graph_free(g);
}

/* Clip in its three forms, LeakyRelu, Tanh, Identity on an activation. */
static void test_activations(void)
{
    mb b;
    char path[32], warn[256];
    gn_graph *g = NULL;
    float lo = -1.5f, six = 6.0f;
    mb_new(&b, 13);
    mb_input(&b, "x", 4, NCHW_1_8_8);
    mb_init(&b, "lo", 0, NULL, &lo, 1);
    Onnx__NodeProto *n = mb_node(&b, "Clip", "relu6", L("x"), L("a")); /* opset < 11 */
    mb_af(&b, n, "min", 0);
    mb_af(&b, n, "max", 6);
    mb_node(&b, "Clip", "lo_only", L("a", "lo", ""), L("b2"));
    n = mb_node(&b, "Constant", "k6", L(NULL), L("six"));
    mb_atensor(&b, n, "value", mb_ftensor(&b, NULL, 0, NULL, &six, 0));
    n = mb_node(&b, "Constant", "k0", L(NULL), L("zero"));
    mb_af(&b, n, "value_float", 0.25f);
    mb_node(&b, "Clip", "consts", L("b2", "zero", "six"), L("c"));
    mb_node(&b, "Clip", "hi_only", L("c", "", "six"), L("c2"));
    n = mb_node(&b, "LeakyRelu", "leaky", L("c2"), L("d"));
    mb_af(&b, n, "alpha", 0.2f);
    mb_node(&b, "Tanh", "tanh", L("d"), L("e"));
    mb_node(&b, "Identity", "id", L("e"), L("y"));
    mb_output(&b, "y");
    int rc = mb_import(&b, path, &g, warn, sizeof warn);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "  %s\n", gn_err_msg());
    mb_free(&b);
    if (rc) return;
    CHECK(g->nn == 7 && g->np == 0); /* Constants folded, no parameters */
    const gn_node *c = find_node(g, "relu6");
    CHECK(c && c->op == GN_OP_CLIP && c->lo == 0 && c->hi == 6);
    c = find_node(g, "lo_only");
    CHECK(c && c->lo == -1.5f && isinf(c->hi) && c->hi > 0);
    c = find_node(g, "consts");
    CHECK(c && c->lo == 0.25f && c->hi == 6);
    c = find_node(g, "hi_only");
    CHECK(c && isinf(c->lo) && c->lo < 0 && c->hi == 6);
    c = find_node(g, "leaky");
    CHECK(c && c->op == GN_OP_LEAKY && c->slope == 0.2f);
    CHECK(find_node(g, "tanh") && find_node(g, "tanh")->op == GN_OP_TANH);
    CHECK(find_node(g, "id") && find_node(g, "id")->op == GN_OP_IDENTITY);
    CHECK(g->t[g->output].c == 1 && g->t[g->output].h == 8);
    gn_graph_free(g);
}

/* BatchNormalization exported in training mode (attribute and 3 outputs),
 * with its running statistics as inputs 3 and 4. */
static void test_bn_training(void)
{
    mb b;
    char path[32], warn[512];
    gn_graph *g = NULL;
    float sc[2] = {1, 2}, bi[2] = {3, 4}, mu[2] = {5, 6}, var[2] = {7, 8};
    mb_new(&b, 15);
    mb_input(&b, "x", 4, (int[]){0, 2, 4, 4});
    mb_init(&b, "s", 1, (int[]){2}, sc, 1);
    mb_init(&b, "b", 1, (int[]){2}, bi, 1);
    mb_init(&b, "m", 1, (int[]){2}, mu, 0);
    mb_init(&b, "v", 1, (int[]){2}, var, 0);
    Onnx__NodeProto *n =
        mb_node(&b, "BatchNormalization", "bn", L("x", "s", "b", "m", "v"), L("y", "rm", "rv"));
    mb_af(&b, n, "epsilon", 1e-3f);
    mb_af(&b, n, "momentum", 0.8f);
    mb_ai(&b, n, "training_mode", 1);
    mb_output(&b, "y");
    int rc = mb_import(&b, path, &g, warn, sizeof warn);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "  %s\n", gn_err_msg());
    mb_free(&b);
    if (rc) return;
    CHECK(strstr(warn, "training mode") != NULL && !strstr(warn, "no BatchNormalization"));
    const gn_node *c = find_node(g, "bn");
    CHECK(c && c->op == GN_OP_BN);
    if (c) {
        CHECK_NEAR(c->eps, 1e-3, 1e-9);
        CHECK_NEAR(c->momentum, 0.2, 1e-6);
        CHECK(g->params[c->p[GN_P_MEAN]].data[1] == 6 && g->params[c->p[GN_P_VAR]].data[0] == 7);
        CHECK(g->params[c->p[GN_P_GAMMA]].data[1] == 2 && g->params[c->p[GN_P_BETA]].data[0] == 3);
    }
    CHECK(gn_graph_find_tensor(g, "rm") < 0);
    gn_graph_free(g);
}

/* Pools, Resize, Upsample, Reshape, MatMul + Add. */
static void test_shapes(void)
{
    mb b;
    char path[32];
    gn_graph *g = NULL;
    static float w[512 * 3];
    float bias[3] = {1, 2, 3}, scales[4] = {1, 1, 2, 2};
    for (int i = 0; i < 512 * 3; i++) w[i] = (float)i;
    mb_new(&b, 13);
    mb_input(&b, "x", 4, (int[]){0, 2, 8, 8});
    mb_init(&b, "scales", 1, (int[]){4}, scales, 1);
    mb_init_i64(&b, "shape", 2, (int64_t[]){0, -1});
    mb_init_i64(&b, "shape4", 4, (int64_t[]){-1, 2, 16, 16});
    mb_init(&b, "W", 2, (int[]){512, 3}, w, 1);
    mb_init(&b, "B", 1, (int[]){3}, bias, 0);
    Onnx__NodeProto *n = mb_node(&b, "MaxPool", "max", L("x"), L("a"));
    mb_aints(&b, n, "kernel_shape", 2, (int[]){2, 2});
    mb_aints(&b, n, "strides", 2, (int[]){2, 2});
    n = mb_node(&b, "AveragePool", "avg", L("a"), L("b1"));
    mb_aints(&b, n, "kernel_shape", 2, (int[]){3, 3});
    mb_aints(&b, n, "pads", 4, (int[]){1, 1, 1, 1});
    mb_ai(&b, n, "count_include_pad", 1);
    n = mb_node(&b, "Resize", "resize", L("b1", "", "scales"), L("c"));
    mb_as(&b, n, "mode", "nearest");
    mb_as(&b, n, "coordinate_transformation_mode", "asymmetric");
    mb_as(&b, n, "nearest_mode", "floor");
    n = mb_node(&b, "Upsample", "up", L("c"), L("d"));
    mb_afloats(&b, n, "scales", 4, scales);
    mb_node(&b, "Reshape", "r4", L("d", "shape4"), L("d2"));
    mb_node(&b, "Reshape", "flat", L("d2", "shape"), L("e"));
    mb_node(&b, "MatMul", "mm", L("e", "W"), L("f"));
    mb_node(&b, "Add", "bias", L("B", "f"), L("y"));
    mb_output(&b, "y");
    int rc = mb_import(&b, path, &g, NULL, 0);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "  %s\n", gn_err_msg());
    mb_free(&b);
    if (rc) return;
    CHECK(g->nn == 7 && g->np == 2);
    const gn_node *c = find_node(g, "max");
    CHECK(c && c->op == GN_OP_MAXPOOL && c->kh == 2 && c->sw == 2);
    CHECK(c && g->t[c->out].h == 4);
    c = find_node(g, "avg");
    CHECK(c && c->op == GN_OP_AVGPOOL && c->kh == 3 && c->pl == 1 && c->count_include_pad == 1);
    c = find_node(g, "resize");
    CHECK(c && c->op == GN_OP_UPSAMPLE && g->t[c->out].h == 8);
    c = find_node(g, "up");
    CHECK(c && c->op == GN_OP_UPSAMPLE && g->t[c->out].h == 16 && g->t[c->out].w == 16);
    c = find_node(g, "r4");
    CHECK(c && c->op == GN_OP_RESHAPE && c->rc == 2 && c->rh == 16 && c->rw == 16);
    c = find_node(g, "flat");
    CHECK(c && c->op == GN_OP_FLATTEN && g->t[c->out].c == 512);
    c = find_node(g, "mm");
    CHECK(c && c->op == GN_OP_LINEAR && !find_node(g, "bias") && gn_graph_find_tensor(g, "f") < 0);
    if (c) {
        const gn_param *p = &g->params[c->p[GN_P_W]];
        CHECK(p->dims[0] == 3 && p->dims[1] == 512);
        CHECK(p->data[1] == 3 && p->data[512] == 1 && p->data[3 * 512 - 1] == 512 * 3 - 1);
        CHECK(c->p[GN_P_B] >= 0 && g->params[c->p[GN_P_B]].data[2] == 3);
    }
    CHECK(!strcmp(g->t[g->output].name, "y") && g->t[g->output].c == 3);
    gn_graph_free(g);
}

/* x (N,1,8,8) -> one node OP named "n" with extra inputs -> y */
static Onnx__NodeProto *one_node(mb *b, const char *op, const char **in)
{
    mb_new(b, 13);
    mb_input(b, "x", 4, NCHW_1_8_8);
    Onnx__NodeProto *n = mb_node(b, op, "n", in, L("y"));
    mb_output(b, "y");
    return n;
}

static const float W9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static void test_errors(void)
{
    mb b;
    char path[32];
    gn_graph *g = NULL;
    Onnx__NodeProto *n;

    /* the exact message for an unsupported operator, named and unnamed */
    one_node(&b, "Softsign", L("x"));
    CHECK(mb_import(&b, path, &g, NULL, 0) != 0);
    char want[96];
    snprintf(want, sizeof want, "%s: node n: unsupported operator Softsign", path);
    CHECK(!strcmp(gn_err_msg(), want));
    mb_free(&b);
    mb_new(&b, 13);
    mb_input(&b, "x", 4, NCHW_1_8_8);
    mb_node(&b, "Relu", NULL, L("x"), L("r"));
    mb_node(&b, "Softsign", NULL, L("r"), L("y"));
    mb_output(&b, "y");
    EXPECT_FAIL(&b, ": node Softsign_1: unsupported operator Softsign");
    n = one_node(&b, "Softsign", L("x"));
    n->domain = "com.microsoft";
    EXPECT_FAIL(&b, "unsupported operator com.microsoft.Softsign");

    n = one_node(&b, "Conv", L("x", "w"));
    mb_init(&b, "w", 4, (int[]){1, 1, 3, 3}, W9, 1);
    mb_aints(&b, n, "dilations", 2, (int[]){2, 2});
    EXPECT_FAIL(&b, "node n: dilations 2x2 not supported");
    n = one_node(&b, "Conv", L("x", "w"));
    mb_init(&b, "w", 4, (int[]){1, 1, 3, 3}, W9, 1);
    mb_as(&b, n, "auto_pad", "SAME_UPPER");
    EXPECT_FAIL(&b, "auto_pad SAME_UPPER not supported");
    n = one_node(&b, "Conv", L("x", "w"));
    mb_init(&b, "w", 4, (int[]){1, 1, 3, 3}, W9, 1);
    mb_aints(&b, n, "kernel_shape", 2, (int[]){5, 5});
    EXPECT_FAIL(&b, "kernel_shape 5x5 does not match");
    n = one_node(&b, "Conv", L("x", "w"));
    mb_init(&b, "w", 4, (int[]){1, 1, 3, 3}, W9, 1)->raw_data.len = 35;
    EXPECT_FAIL(&b, "initializer w: raw_data has 35 bytes, expected 36");
    one_node(&b, "Conv", L("x", "x"));
    EXPECT_FAIL(&b, "input x must be an initializer");
    n = one_node(&b, "Conv", L("x", "w"));
    mb_init(&b, "w", 4, (int[]){1, 1, 3, 3}, W9, 0)->data_type =
        ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE;
    EXPECT_FAIL(&b, "data type double, expected float32");
    n = one_node(&b, "Conv", L("x", "w"));
    mb_init(&b, "w", 4, (int[]){1, 1, 3, 3}, W9, 0);
    mb_node(&b, "Add", "sum", L("y", "w"), L("z"));
    b.g.output[0]->name = "z";
    EXPECT_FAIL(&b, "node sum: Add of constant w not supported");

    n = one_node(&b, "Gemm", L("x", "w"));
    mb_init(&b, "w", 2, (int[]){3, 3}, W9, 0);
    mb_af(&b, n, "alpha", 2);
    EXPECT_FAIL(&b, "alpha 2 not supported (only 1)");
    n = one_node(&b, "Flatten", L("x"));
    mb_ai(&b, n, "axis", 2);
    EXPECT_FAIL(&b, "Flatten axis 2 not supported");
    n = one_node(&b, "MaxPool", L("x"));
    EXPECT_FAIL(&b, "MaxPool without kernel_shape");
    n = one_node(&b, "AveragePool", L("x"));
    mb_aints(&b, n, "kernel_shape", 2, (int[]){2, 2});
    mb_ai(&b, n, "ceil_mode", 1);
    EXPECT_FAIL(&b, "ceil_mode 1 not supported (only 0; 1 with MaxPool)");
    n = one_node(&b, "Resize", L("x", "", "sc"));
    mb_init(&b, "sc", 1, (int[]){4}, (float[]){1, 1, 3, 3}, 0);
    EXPECT_FAIL(&b, "scales 1,1,3,3 not supported");
    n = one_node(&b, "Resize", L("x", "", "sc"));
    mb_init(&b, "sc", 1, (int[]){4}, (float[]){1, 1, 2, 2}, 0);
    mb_as(&b, n, "mode", "linear");
    EXPECT_FAIL(&b, "mode linear not supported");
    one_node(&b, "Clip", L("x", "x"));
    EXPECT_FAIL(&b, "Clip bound x is computed at run time");
    one_node(&b, "Reshape", L("x", "s"));
    mb_init_i64(&b, "s", 3, (int64_t[]){0, -1, 4});
    EXPECT_FAIL(&b, "Reshape to [0,-1,4] not supported");

    /* graph level */
    mb_new(&b, 13);
    mb_input(&b, "x", 4, NCHW_1_8_8);
    mb_output(&b, "x");
    EXPECT_FAIL(&b, "graph has no nodes");
    one_node(&b, "Relu", L("x"));
    mb_input(&b, "x2", 4, NCHW_1_8_8);
    EXPECT_FAIL(&b, "graph has 2 inputs (x, x2)");
    one_node(&b, "Relu", L("x"));
    b.g.input[0]->type->tensor_type->shape->dim[2]->value_case =
        ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
    b.g.input[0]->type->tensor_type->shape->dim[2]->dim_param = "H";
    EXPECT_FAIL(&b, "input x dimension 2 is symbolic (H)");
    one_node(&b, "Relu", L("later"));
    mb_node(&b, "Relu", "m", L("x"), L("later"));
    EXPECT_FAIL(&b, "node n: input later is not computed by an earlier node");
    one_node(&b, "Relu", L("x"));
    b.g.output[0]->name = "nowhere";
    EXPECT_FAIL(&b, "graph output nowhere is not computed by any node");
}

/* shape errors come from gn_graph_finalize, prefixed with the path */
static void test_add_shapes(void)
{
    mb b;
    mb_new(&b, 13);
    mb_input(&b, "x", 4, NCHW_1_8_8);
    Onnx__NodeProto *n = mb_node(&b, "MaxPool", "pool", L("x"), L("p"));
    mb_aints(&b, n, "kernel_shape", 2, (int[]){2, 2});
    mb_aints(&b, n, "strides", 2, (int[]){2, 2});
    mb_node(&b, "Add", "sum", L("x", "p"), L("y"));
    mb_output(&b, "y");
    EXPECT_FAIL(&b, "node sum: adds 1x8x8 to 1x4x4");
}

int main(void)
{
    test_resnet20();
    test_bad_files();
    test_no_bn();
    test_activations();
    test_bn_training();
    test_shapes();
    test_errors();
    test_add_shapes();
    return check_summary("test_onnx");
}
