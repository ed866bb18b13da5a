/* test_onnx_export.c - ONNX export: an FP32 graph exported and imported back
 * (lib/onnx.c) computes the same logits; a quantised model's QDQ form holds
 * its codes (int4 nibbles low first), steps and zero points; the 2-bit
 * activation as a clamp to the grid's ends then a 4-bit QuantizeLinear gives
 * genie's codes; what ONNX cannot express and out-of-range packed codes are
 * refused.
 *
 *   test_onnx_export --write-fixture swing PATH   a model with a swing node
 *   test_onnx_export --corrupt-codes IN OUT       IN (packed) with its first
 *       8-bit layer relabelled 7-bit, so codes above 127 fall outside it
 *   test_onnx_export --count-ties MODEL DATA      for the bats suite and the
 *       man page: activations exactly halfway between two codes (where the
 *       rounding rule decides) and within 2^-18 and 2^-12 of halfway
 *       (where float summation order can), over DATA's images */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_onnx.h"
#include "gn_onnx_export.h"
#include "gn_pack.h"
#include "gn_qmodel.h"
#include "gn_quant.h"
#include "gn_rng.h"
#include "gn_run.h"
#include "onnx.pb-c.h"

static gn_node *add1(gn_graph *g, gn_opkind op, const char *name, const char *in, const char *out)
{
    int ti = gn_graph_tensor(g, in), to = gn_graph_tensor(g, out);
    gn_node *n = gn_graph_add_node(g, op, name);
    n->nin = 1, n->in[0] = ti, n->out = to;
    return n;
}

static int rand_param(gn_graph *g, gn_rng *r, const char *name, int ndim, const int *dims, float lo, float hi)
{
    int k = gn_graph_add_param(g, name, ndim, dims, NULL);
    gn_rng_fill_uniform(r, g->params[k].data, g->params[k].n, lo, hi);
    return k;
}

/* x (1,8,8) -> conv 3x3 p1 (4) -> bn -> relu -> conv 3x3 p1 (4) -> clip 0..6
 * -> add (relu's output) -> upsample -> avgpool 2 s2 -> maxpool 3 s1 p1 ->
 * leaky -> gap -> flatten -> linear (3); with swing, a swing node after the
 * first relu */
static gn_graph *small_model(int swing)
{
    gn_rng r;
    gn_rng_seed(&r, 7, 1);
    gn_graph *g = gn_graph_new();
    int w1d[4] = {4, 1, 3, 3}, w2d[4] = {4, 4, 3, 3}, c4[1] = {4}, fd[2] = {3, 4}, c3[1] = {3};
    gn_node *n = add1(g, GN_OP_CONV, "conv1", "x", "c1");
    n->p[GN_P_W] = rand_param(g, &r, "conv1.w", 4, w1d, -0.5f, 0.5f);
    n->p[GN_P_B] = rand_param(g, &r, "conv1.b", 1, c4, -0.1f, 0.1f);
    n->pt = n->pl = n->pb = n->pr = 1;
    n = add1(g, GN_OP_BN, "bn1", "c1", "b1");
    n->p[GN_P_GAMMA] = rand_param(g, &r, "bn1.g", 1, c4, 0.5f, 1.5f);
    n->p[GN_P_BETA] = rand_param(g, &r, "bn1.b", 1, c4, -0.2f, 0.2f);
    n->p[GN_P_MEAN] = rand_param(g, &r, "bn1.m", 1, c4, -0.2f, 0.2f);
    n->p[GN_P_VAR] = rand_param(g, &r, "bn1.v", 1, c4, 0.5f, 2.0f);
    add1(g, GN_OP_RELU, "relu1", "b1", "r1");
    const char *a = "r1";
    if (swing) add1(g, GN_OP_SWING, "swing1", "r1", "s1"), a = "s1";
    n = add1(g, GN_OP_CONV, "conv2", a, "c2");
    n->p[GN_P_W] = rand_param(g, &r, "conv2.w", 4, w2d, -0.4f, 0.4f);
    n->pt = n->pl = n->pb = n->pr = 1;
    n = add1(g, GN_OP_CLIP, "relu6", "c2", "k2");
    n->lo = 0, n->hi = 6;
    n = add1(g, GN_OP_ADD, "add", "k2", "a2");
    n->nin = 2, n->in[1] = gn_graph_tensor(g, a);
    add1(g, GN_OP_UPSAMPLE, "up", "a2", "u");
    n = add1(g, GN_OP_AVGPOOL, "avg", "u", "p1");
    n->kh = n->kw = 2, n->sh = n->sw = 2;
    n = add1(g, GN_OP_MAXPOOL, "max", "p1", "p2");
    n->kh = n->kw = 3, n->pt = n->pl = n->pb = n->pr = 1;
    n = add1(g, GN_OP_LEAKY, "leaky", "p2", "l");
    n->slope = 0.1f;
    add1(g, GN_OP_GAP, "gap", "l", "gp");
    add1(g, GN_OP_FLATTEN, "flat", "gp", "f");
    n = add1(g, GN_OP_LINEAR, "fc", "f", "y");
    n->p[GN_P_W] = rand_param(g, &r, "fc.w", 2, fd, -0.5f, 0.5f);
    n->p[GN_P_B] = rand_param(g, &r, "fc.b", 1, c3, -0.1f, 0.1f);
    g->input = gn_graph_find_tensor(g, "x");
    g->output = gn_graph_find_tensor(g, "y");
    GN_ASSERT(gn_graph_finalize(g, 1, 8, 8) == 0);
    return g;
}

static float *run_model(gn_graph *g, const float *x, int b, int qmode)
{
    gn_run *r = gn_run_new(g, b, 0);
    r->qmode = qmode;
    gn_run_forward(r, x, b);
    size_t n = (size_t)b * gn_tensor_size(g, g->output);
    float *y = malloc(n * sizeof(float));
    memcpy(y, gn_run_val(r, g->output), n * sizeof(float));
    gn_run_free(r);
    return y;
}

static Onnx__ModelProto *export_parse(const gn_export_model *m)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (gn_onnx_export(m, &buf, &len)) {
        fprintf(stderr, "export: %s\n", gn_err_msg());
        return NULL;
    }
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, len, buf);
    free(buf);
    return mp;
}

static const char *meta(const Onnx__ModelProto *mp, const char *key)
{
    for (size_t i = 0; i < mp->n_metadata_props; i++)
        if (!strcmp(mp->metadata_props[i]->key, key)) return mp->metadata_props[i]->value;
    return NULL;
}

static const Onnx__TensorProto *init(const Onnx__ModelProto *mp, const char *name)
{
    for (size_t i = 0; i < mp->graph->n_initializer; i++)
        if (!strcmp(mp->graph->initializer[i]->name, name)) return mp->graph->initializer[i];
    return NULL;
}

static int count_op(const Onnx__ModelProto *mp, const char *op)
{
    int k = 0;
    for (size_t i = 0; i < mp->graph->n_node; i++) k += !strcmp(mp->graph->node[i]->op_type, op);
    return k;
}

/* FP32: export, import back with onnx2h5's importer, same logits */
static void test_fp32_roundtrip(void)
{
    gn_export_model m = {.g = small_model(0)};
    m.qw = calloc((size_t)m.g->nn, sizeof *m.qw);
    snprintf(m.kind, sizeof m.kind, "model");
    m.version = "9.9.9";
    char path[] = "/tmp/test_onnx_export.XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    CHECK(gn_onnx_export_save(path, &m) == 0);
    Onnx__ModelProto *mp = export_parse(&m);
    CHECK(mp && mp->ir_version == 10 && mp->n_opset_import == 1 && mp->opset_import[0]->version == 21);
    CHECK(mp && !strcmp(meta(mp, "genie_version"), "9.9.9") && !strcmp(meta(mp, "genie_kind"), "model"));
    CHECK(mp && count_op(mp, "BatchNormalization") == 1 && count_op(mp, "QuantizeLinear") == 0);
    if (mp) onnx__model_proto__free_unpacked(mp, NULL);
    gn_graph *back = NULL;
    CHECK(gn_onnx_import(path, &back, NULL, 0) == 0);
    unlink(path);
    if (!back) {
        fprintf(stderr, "import: %s\n", gn_err_msg());
        gn_export_model_free(&m);
        return;
    }
    CHECK(back->nn == m.g->nn && gn_tensor_size(back, back->output) == 3);
    gn_rng r;
    gn_rng_seed(&r, 3, 0);
    float x[5 * 64];
    gn_rng_fill_uniform(&r, x, 5 * 64, -1, 1);
    float *y0 = run_model(m.g, x, 5, 0), *y1 = run_model(back, x, 5, 0);
    double d = 0;
    for (int i = 0; i < 15; i++) d = fmax(d, fabs(y0[i] - y1[i]));
    CHECK(d <= 1e-6);
    free(y0), free(y1);
    gn_graph_free(back);
    gn_export_model_free(&m);
}

/* a quantised model (first and last layers at wbits too) with every activation step set */
static int make_qmodel(gn_qmodel *q, int wbits, int abits)
{
    gn_graph *g = small_model(0), *f = NULL;
    memset(q, 0, sizeof *q);
    gn_qconfig cfg = {.wbits = wbits, .abits = abits, .first_last = wbits};
    int rc = gn_fold_bn(g, &f) || gn_quantize(f, &cfg, &q->g) || gn_find_units(q->g, &q->units, &q->nunits);
    gn_graph_free(g), gn_graph_free(f);
    if (rc) return rc;
    q->done = calloc((size_t)q->nunits, sizeof(int));
    q->wbits = wbits, q->abits = abits, q->first_last = wbits;
    for (int k = 0; k < q->g->nn; k++)
        if (q->g->nodes[k].op == GN_OP_AQUANT) q->g->params[q->g->nodes[k].p[GN_P_ASTEP]].data[0] = 0.1f + 0.01f * k;
    return 0;
}

/* QDQ: the quantised and the packed file export the same graph; weight codes
 * are int4 nibbles (low first) equal to the hard rounding; 2-bit activations
 * are clamped then quantised to 4 bits */
static void test_qdq(void)
{
    gn_qmodel q;
    CHECK(make_qmodel(&q, 2, 2) == 0);
    if (!q.g) return;
    char qp[] = "/tmp/test_onnx_export.q.XXXXXX", pp[] = "/tmp/test_onnx_export.p.XXXXXX";
    close(mkstemp(qp)), close(mkstemp(pp));
    CHECK(gn_qmodel_save(qp, &q) == 0 && gn_packed_save(pp, &q) == 0);
    gn_export_model mq, mpk;
    CHECK(gn_export_model_load(qp, &mq) == 0);
    CHECK(gn_export_model_load(pp, &mpk) == 0);
    unlink(qp), unlink(pp);
    if (!mq.g || !mpk.g) return;
    Onnx__ModelProto *a = export_parse(&mq), *b = export_parse(&mpk);
    CHECK(a && b);
    if (!a || !b) return;
    CHECK(a->graph->n_node == b->graph->n_node && a->graph->n_initializer == b->graph->n_initializer);
    CHECK(!strcmp(meta(a, "genie_kind"), "qmodel") && !strcmp(meta(b, "genie_kind"), "packed"));
    CHECK(meta(b, "bits") && !strcmp(meta(b, "bits"), "W2A2, first/last layer 2"));
    CHECK(meta(b, "source_sha256") && strlen(meta(b, "source_sha256")) == 64);
    /* conv2, a 2-bit layer */
    int k2 = -1;
    for (int k = 0; k < q.g->nn; k++)
        if (!strcmp(q.g->nodes[k].name, "conv2")) k2 = k;
    CHECK(k2 >= 0 && q.g->nodes[k2].wbits == 2 && mpk.qw[k2].bits == 2);
    const gn_param *w = &q.g->params[q.g->nodes[k2].p[GN_P_W]];
    char nm[256];
    snprintf(nm, sizeof nm, "%s::codes", w->name);
    const Onnx__TensorProto *t = init(b, nm);
    CHECK(t && (t->data_type == 21 || t->data_type == 22) && t->n_dims == 4 && t->raw_data.len == (w->n + 1) / 2);
    if (t) {
        int bad = 0;
        for (size_t i = 0; i < w->n; i++) {
            int v = (t->raw_data.data[i / 2] >> (4 * (i % 2))) & 0xf;
            if (t->data_type == 22 && v > 7) v -= 16;
            bad += v != mpk.qw[k2].codes[i] || v != mq.qw[k2].codes[i] || v > 3;
        }
        CHECK(bad == 0);
    }
    snprintf(nm, sizeof nm, "%s::scale", w->name);
    t = init(b, nm);
    CHECK(t && t->data_type == 1 && t->raw_data.len == 4 * (size_t)w->dims[0] &&
          !memcmp(t->raw_data.data, mpk.qw[k2].step, t->raw_data.len));
    /* every activation quantiser: a pair, 4-bit zero point, clamped first */
    int naq = gn_graph_count_op(q.g, GN_OP_AQUANT);
    CHECK(naq >= 2 && count_op(b, "QuantizeLinear") == naq);
    CHECK(count_op(b, "DequantizeLinear") == naq + 3 /* weights of conv1, conv2, fc */);
    /* the relu6 feeds no quantiser directly: it stays a Clip */
    CHECK(count_op(b, "Clip") == 1 && count_op(b, "Max") == naq && count_op(b, "Min") == naq);
    for (size_t i = 0; i < b->graph->n_node; i++) {
        const Onnx__NodeProto *n = b->graph->node[i];
        if (strcmp(n->op_type, "QuantizeLinear")) continue;
        const Onnx__TensorProto *z = init(b, n->input[2]);
        CHECK(z && z->n_dims == 0 && z->raw_data.len == 1 && z->raw_data.data[0] == 0);
        if (z && z->data_type != 21 && z->data_type != 22) CHECK(!"activation zero point is not 4-bit");
        CHECK(i > 0 && !strcmp(b->graph->node[i - 1]->op_type, "Min"));
    }
    onnx__model_proto__free_unpacked(a, NULL), onnx__model_proto__free_unpacked(b, NULL);
    gn_export_model_free(&mq), gn_export_model_free(&mpk), gn_qmodel_free(&q);
}

/* the 2-bit activation: genie's code round(clamp(x/s, qn, qp)) against
 * ONNX's min(max(x, qn*s), qp*s) -> round(./s), saturated to int4/uint4, both
 * rounding half to even, over steps and inputs near and at the grid's ends
 * and its ties */
static void test_clamp_exact(void)
{
    gn_rng r;
    gn_rng_seed(&r, 11, 0);
    long bad = 0, n = 0;
    for (int si = 0; si < 2000; si++) {
        float s = si < 20 ? ldexpf(1, si - 10) : expf(gn_rng_uniform(&r) * 12 - 8);
        for (int sg = 0; sg < 2; sg++) {
            float qn, qp, lo, hi;
            gn_aquant_range(2, sg, &qn, &qp);
            gn_aquant_range(4, sg, &lo, &hi);
            float pts[12] = {qn * s, qp * s, (qn - 0.5f) * s, (qp + 0.5f) * s, 0.5f * s, 1.5f * s, -0.5f * s,
                             -1.5f * s, 0, 20 * s, -20 * s, (qp - 0.5f) * s};
            for (int j = 0; j < 12 * 41 + 200; j++) {
                float x;
                if (j < 12 * 41) {
                    x = pts[j / 41];
                    for (int u = 0; u < j % 41 - 20; u++) x = nextafterf(x, INFINITY);
                    for (int u = 0; u < 20 - j % 41; u++) x = nextafterf(x, -INFINITY);
                } else {
                    x = (gn_rng_uniform(&r) * 8 - 4) * s;
                }
                float t = x / s;
                float g = nearbyintf(t < qn ? qn : t > qp ? qp : t);
                float xc = fminf(fmaxf(x, qn * s), qp * s);
                float o = nearbyintf(xc / s);
                o = o < lo ? lo : o > hi ? hi : o;
                bad += g != o, n++;
            }
        }
    }
    printf("test_onnx_export: 2-bit clamp + 4-bit QuantizeLinear: %ld of %ld codes differ from genie's\n", bad, n);
    CHECK(bad == 0);
}

static void test_refused(void)
{
    gn_export_model m = {.g = small_model(1)};
    m.qw = calloc((size_t)m.g->nn, sizeof *m.qw);
    uint8_t *buf = NULL;
    size_t len = 0;
    CHECK(gn_onnx_export(&m, &buf, &len) != 0);
    CHECK(strstr(gn_err_msg(), "node swing1") && strstr(gn_err_msg(), "swing"));
    gn_export_model_free(&m);
    free(buf);
}

/* ---- helpers for the bats suite ------------------------------------------------ */

static herr_t relabel(hid_t loc, const char *name, const H5L_info_t *info, void *arg)
{
    int *done = arg, bits = 0;
    if (*done) return 0;
    hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);
    if (g < 0) return -1;
    if (!gn_h5_attr_ints_r(g, "bits", &bits, 1, 0) && bits == 8) {
        H5Adelete(g, "bits");
        bits = 7;
        *done = gn_h5_attr_ints_w(g, "bits", &bits, 1) ? -1 : 1;
    }
    H5Gclose(g);
    return 0;
}

static int corrupt_codes(const char *in, const char *out)
{
    FILE *a = fopen(in, "rb"), *b = fopen(out, "wb");
    if (!a || !b) return fprintf(stderr, "test_onnx_export: cannot copy %s to %s\n", in, out), 1;
    char buf[65536];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, k, b);
    fclose(a), fclose(b);
    gn_h5_quiet();
    hid_t f = H5Fopen(out, H5F_ACC_RDWR, H5P_DEFAULT);
    int done = 0;
    hid_t qw = f >= 0 ? H5Gopen2(f, "qweights", H5P_DEFAULT) : -1;
    if (qw >= 0) H5Literate(qw, H5_INDEX_NAME, H5_ITER_INC, NULL, relabel, &done), H5Gclose(qw);
    if (f >= 0) H5Fclose(f);
    if (done != 1) fprintf(stderr, "test_onnx_export: %s: no 8-bit layer relabelled\n", out);
    return done == 1 ? 0 : 1;
}

static int count_ties(const char *model, const char *data)
{
    gn_graph *g = NULL;
    int quantised = 0;
    gn_dataset d;
    if (gn_model_load_any(model, &g, &quantised) || gn_dataset_load(data, &d))
        return fprintf(stderr, "test_onnx_export: %s\n", gn_err_msg()), 1;
    const int B = 100;
    gn_run *r = gn_run_new(g, B, 0);
    r->qmode = quantised;
    long ties = 0, near = 0, near18 = 0, total = 0;
    size_t per = (size_t)d.c * d.h * d.w;
    for (size_t s = 0; s < d.n; s += B) {
        int b = (int)(d.n - s < (size_t)B ? d.n - s : (size_t)B);
        gn_run_forward(r, d.x + s * per, b);
        for (int k = 0; k < g->nn; k++) {
            const gn_node *n = &g->nodes[k];
            if (n->op != GN_OP_AQUANT) continue;
            float st = g->params[n->p[GN_P_ASTEP]].data[0], qn, qp;
            gn_aquant_range(n->abits, n->asigned, &qn, &qp);
            const float *x = gn_run_val(r, n->in[0]);
            size_t cnt = (size_t)b * gn_tensor_size(g, n->in[0]);
            for (size_t i = 0; i < cnt; i++) {
                float t = x[i] / st;
                if (!(t > qn - 0.5f && t < qp + 0.5f)) continue;
                float fr = t - floorf(t);
                ties += fr == 0.5f;
                near += fabsf(fr - 0.5f) <= 1.0f / 4096;
                near18 += fabsf(fr - 0.5f) <= 1.0f / 262144;
            }
            total += (long)cnt;
        }
    }
    printf("activations %ld, exact ties %ld, within 2^-18 of a tie %ld, within 2^-12 %ld\n", total, ties, near18, near);
    gn_run_free(r);
    gn_graph_free(g);
    gn_dataset_free(&d);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--write-fixture") && !strcmp(argv[2], "swing")) {
        gn_graph *g = small_model(1);
        int rc = gn_model_save(argv[3], g, NULL, NULL);
        if (rc) fprintf(stderr, "test_onnx_export: %s\n", gn_err_msg());
        gn_graph_free(g);
        return rc ? 1 : 0;
    }
    if (argc == 4 && !strcmp(argv[1], "--corrupt-codes")) return corrupt_codes(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "--count-ties")) return count_ties(argv[2], argv[3]);
    test_fp32_roundtrip();
    test_qdq();
    test_clamp_exact();
    test_refused();
    return check_summary("test_onnx_export");
}
