/* test_families.c - the operators the torchvision families brought (Sigmoid,
 * HardSigmoid, HardSwish, Mul with a channel broadcast, Concat, Slice, the
 * channel shuffle, MaxPool with ceil_mode): each backward against central
 * finite differences of L = sum(y * r); forward values by hand; backward
 * adding into its gradients. Then, through gn_run on every fixture in
 * tests/fixtures/fam, the gradient of the model input against finite
 * differences (Genie-D needs the backward to the input). And DenseNet's
 * units: each dense layer one unit, its x~ and y through the concatenation
 * that other features bypass it by.
 * What it does not do: compare logits with PyTorch (tests/bats/families.bats). */
#define FD_SEED 0x2545F4914F6CDD1Dull
#include "check.h"
#include "fd.h"
#include "gn_err.h"
#include "gn_graph.h"
#include "gn_onnx.h"
#include "gn_ops.h"
#include "gn_calibrate.h"
#include "gn_h5.h"
#include "gn_qmodel.h"
#include "gn_recon.h"
#include "gn_run.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- element-wise: sigmoid, hard sigmoid, hard swish ----------------------- */

typedef struct {
    int kind; /* 0 sigmoid, 1 hard sigmoid, 2 hard swish */
    float *x, *y, *r;
    size_t n;
} ew_ctx;

static const float HS_A = 1.0f / 6, HS_B = 0.5f;

static double ew_loss(void *p)
{
    ew_ctx *c = p;
    if (c->kind == 0) gn_sigmoid_forward(c->y, c->x, c->n);
    if (c->kind == 1) gn_hsigmoid_forward(c->y, c->x, HS_A, HS_B, c->n);
    if (c->kind == 2) gn_hswish_forward(c->y, c->x, c->n);
    return dot(c->y, c->r, c->n);
}

static void ew_backward(ew_ctx *c, float *dx)
{
    if (c->kind == 0) gn_sigmoid_backward(dx, c->r, c->y, c->n);
    if (c->kind == 1) gn_hsigmoid_backward(dx, c->r, c->x, HS_A, HS_B, c->n);
    if (c->kind == 2) gn_hswish_backward(dx, c->r, c->x, c->n);
}

static void test_elementwise(void)
{
    static const char *names[] = {"sigmoid dx", "hardsigmoid dx", "hardswish dx"};
    const size_t n = 201;
    for (int kind = 0; kind < 3; kind++) {
        ew_ctx c = {.kind = kind, .n = n, .x = vec(n), .y = vec(n), .r = rvec(n, -1, 1)};
        /* in [-5,5], 0.05 away from the kinks at -3 and 3 */
        for (size_t i = 0; i < n; i++) {
            float v;
            do v = urand(-5, 5);
            while (fabsf(fabsf(v) - 3) < 0.05f);
            c.x[i] = v;
        }
        ew_loss(&c);
        float *dx = vec(n);
        ew_backward(&c, dx);
        fd_check(names[kind], ew_loss, &c, c.x, dx, n, n, 1e-3f, 2e-4, 1e-3);
        /* backward adds; NULL allowed */
        float *dx2 = vec(n);
        memcpy(dx2, dx, n * sizeof(float));
        ew_loss(&c); /* y as of x (fd_check left the last entry's) */
        ew_backward(&c, dx2);
        ew_backward(&c, NULL);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= fabsf(dx2[i] - 2 * dx[i]) <= 1e-6f;
        CHECK(ok);
        free(c.x), free(c.y), free(c.r), free(dx), free(dx2);
    }
    float x[5] = {-4, -3, 0, 1.5f, 4}, y[5];
    gn_sigmoid_forward(y, x, 5);
    CHECK_NEAR(y[2], 0.5, 1e-7);
    CHECK_NEAR(y[4], 1 / (1 + exp(-4.0)), 1e-7);
    gn_hsigmoid_forward(y, x, HS_A, HS_B, 5);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0.5f && y[4] == 1);
    CHECK_NEAR(y[3], 0.75, 1e-7);
    gn_hswish_forward(y, x, 5);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0 && y[4] == 4);
    CHECK_NEAR(y[3], 1.5 * 4.5 / 6, 1e-6);
}

/* ---- mul, concat, slice, shuffle ------------------------------------------- */

typedef struct {
    int kind; /* 0 mul, 1 mul broadcast, 2 concat, 3 slice, 4 shuffle */
    int B, C, HW, G, c0, cn;
    float *a, *b, *c2, *y, *r;
    size_t ny;
} ch_ctx;

static const int CC[3] = {3, 1, 4}; /* concat inputs' channels */

static double ch_loss(void *p)
{
    ch_ctx *c = p;
    switch (c->kind) {
    case 0: gn_mul_forward(c->y, c->a, c->b, c->B, c->C, c->HW, 0); break;
    case 1: gn_mul_forward(c->y, c->a, c->b, c->B, c->C, c->HW, 1); break;
    case 2: {
        const float *xs[3] = {c->a, c->b, c->c2};
        gn_concat_forward(c->y, xs, CC, 3, c->B, c->HW);
        break;
    }
    case 3: gn_slice_forward(c->y, c->a, c->B, c->C, c->c0, c->cn, c->HW); break;
    default: gn_shuffle_forward(c->y, c->a, c->B, c->C, c->G, c->HW); break;
    }
    return dot(c->y, c->r, c->ny);
}

static void ch_case(int kind)
{
    static const char *names[] = {"mul", "mul broadcast", "concat", "slice", "shuffle"};
    ch_ctx c = {.kind = kind, .B = 2, .C = 6, .HW = 5, .G = 3, .c0 = 2, .cn = 3};
    size_t na = (size_t)c.B * c.C * c.HW, nb = kind == 1 ? (size_t)c.B * c.C : na;
    if (kind == 2) na = (size_t)c.B * CC[0] * c.HW, nb = (size_t)c.B * CC[1] * c.HW;
    size_t nc2 = (size_t)c.B * CC[2] * c.HW;
    c.ny = kind == 2 ? na + nb + nc2 : kind == 3 ? (size_t)c.B * c.cn * c.HW : (size_t)c.B * c.C * c.HW;
    c.a = rvec(na, -2, 2), c.b = rvec(nb, -2, 2), c.c2 = rvec(nc2, -2, 2);
    c.y = vec(c.ny), c.r = rvec(c.ny, -1, 1);
    ch_loss(&c);
    float *da = vec(na), *db = vec(nb), *dc = vec(nc2);
    for (int rep = 0; rep < 2; rep++) { /* the second pass checks that backward adds */
        switch (kind) {
        case 0: gn_mul_backward(da, db, c.r, c.a, c.b, c.B, c.C, c.HW, 0); break;
        case 1: gn_mul_backward(da, db, c.r, c.a, c.b, c.B, c.C, c.HW, 1); break;
        case 2: {
            float *d[3] = {da, rep ? NULL : db, dc};
            gn_concat_backward(d, c.r, CC, 3, c.B, c.HW);
            break;
        }
        case 3: gn_slice_backward(da, c.r, c.B, c.C, c.c0, c.cn, c.HW); break;
        default: gn_shuffle_backward(da, c.r, c.B, c.C, c.G, c.HW); break;
        }
        if (rep == 0) {
            char what[48];
            snprintf(what, sizeof what, "%s da", names[kind]);
            fd_check(what, ch_loss, &c, c.a, da, na, 200, 1e-2f, 2e-4, 1e-3);
            if (kind <= 2) {
                snprintf(what, sizeof what, "%s db", names[kind]);
                fd_check(what, ch_loss, &c, c.b, db, nb, 200, 1e-2f, 2e-4, 1e-3);
            }
            if (kind == 2) fd_check("concat dc", ch_loss, &c, c.c2, dc, nc2, 200, 1e-2f, 2e-4, 1e-3);
            /* keep a copy of the first gradient in the upper half of the check */
            float *sa = vec(na);
            memcpy(sa, da, na * sizeof(float));
            free(c.y);
            c.y = sa; /* reused below as the reference; ch_loss no longer called */
        } else {
            int ok = 1;
            for (size_t i = 0; i < na; i++) ok &= fabsf(da[i] - 2 * c.y[i]) <= 1e-5f;
            CHECK(ok);
        }
    }
    free(c.a), free(c.b), free(c.c2), free(c.y), free(c.r), free(da), free(db), free(dc);
}

static void test_channels(void)
{
    for (int k = 0; k < 5; k++) ch_case(k);
    /* the shuffle's permutation: 6 channels in 3 groups of 2 -> 0,2,4,1,3,5 */
    float x[6] = {0, 1, 2, 3, 4, 5}, y[6];
    gn_shuffle_forward(y, x, 1, 6, 3, 1);
    CHECK(y[0] == 0 && y[1] == 2 && y[2] == 4 && y[3] == 1 && y[4] == 3 && y[5] == 5);
    float a[4] = {1, 2, 3, 4}, s[2] = {10, -1}, m[4];
    gn_mul_forward(m, a, s, 1, 2, 2, 1);
    CHECK(m[0] == 10 && m[1] == 20 && m[2] == -3 && m[3] == -4);
    float sl[2];
    gn_slice_forward(sl, x, 1, 6, 4, 2, 1);
    CHECK(sl[0] == 4 && sl[1] == 5);
}

/* ---- max pooling with ceil_mode --------------------------------------------- */

typedef struct {
    gn_pool_shape s;
    float *x, *y, *r;
    int *am;
    size_t nx, ny;
} mp_ctx;

static double mp_loss(void *p)
{
    mp_ctx *c = p;
    gn_maxpool_forward(c->y, c->am, c->x, &c->s);
    return dot(c->y, c->r, c->ny);
}

static void test_ceil_pool(void)
{
    /* PyTorch's sizes: 8, k3 s2 p0 -> 4 (floor 3); 5, k2 s2 p1 -> 3: ceil
     * gives 4 but that window would start in the end pad; 7, k3 s2 p0 -> 3 */
    gn_pool_shape s = {.B = 2, .C = 3, .H = 8, .W = 5, .KH = 3, .KW = 2, .SH = 2, .SW = 2,
                       .PT = 0, .PL = 1, .PB = 0, .PR = 1, .ceil_mode = 1};
    CHECK(gn_pool_shape_init(&s) == 0);
    CHECK(s.OH == 4 && s.OW == 3);
    gn_pool_shape f = s;
    f.ceil_mode = 0;
    CHECK(gn_pool_shape_init(&f) == 0 && f.OH == 3 && f.OW == 3);
    gn_pool_shape e = {.B = 1, .C = 1, .H = 7, .W = 7, .KH = 3, .KW = 3, .SH = 2, .SW = 2,
                       .ceil_mode = 1};
    CHECK(gn_pool_shape_init(&e) == 0 && e.OH == 3 && e.OW == 3);
    mp_ctx c = {.s = s};
    c.nx = (size_t)s.B * s.C * s.H * s.W, c.ny = (size_t)s.B * s.C * s.OH * s.OW;
    /* distinct values: no ties, a step of gap/4 changes no winner */
    const float gap = 2.0f / (float)c.nx;
    c.x = vec(c.nx);
    for (size_t i = 0; i < c.nx; i++) c.x[i] = gap * (float)i - 1.0f;
    for (size_t i = c.nx - 1; i > 0; i--) {
        size_t j = xorshift() % (i + 1);
        float t = c.x[i];
        c.x[i] = c.x[j], c.x[j] = t;
    }
    c.y = vec(c.ny), c.r = rvec(c.ny, -1, 1), c.am = gn_xcalloc(c.ny, sizeof(int));
    mp_loss(&c);
    /* the last row's window is rows 6..7 only (clipped) */
    int ok = 1;
    for (int pl = 0; pl < s.B * s.C; pl++)
        for (int ow = 0; ow < s.OW; ow++) {
            int w0 = ow * 2 - 1, best = -1;
            float m = -INFINITY;
            for (int h = 6; h < 8; h++)
                for (int w = w0 < 0 ? 0 : w0; w < w0 + 2 && w < s.W; w++)
                    if (c.x[(size_t)pl * 40 + h * 5 + w] > m) m = c.x[(size_t)pl * 40 + h * 5 + w], best = h * 5 + w;
            ok &= c.y[(size_t)pl * 12 + 3 * 3 + ow] == m && c.am[(size_t)pl * 12 + 9 + ow] == best;
        }
    CHECK(ok);
    float *dx = vec(c.nx);
    gn_maxpool_backward(dx, c.r, c.am, &c.s);
    fd_check("maxpool ceil dx", mp_loss, &c, c.x, dx, c.nx, c.nx, gap / 4, 2e-4, 1e-3);
    free(c.x), free(c.y), free(c.r), free(c.am), free(dx);
}

/* ---- whole models: the gradient of the input through gn_run ---------------- */

typedef struct {
    gn_run *r;
    float *x, *w;
    int b;
    size_t nx, ny;
} model_ctx;

static double model_loss(void *p)
{
    model_ctx *c = p;
    gn_run_forward(c->r, c->x, c->b);
    double s = 0;
    const float *y = c->r->val[c->r->g->output];
    for (size_t i = 0; i < c->ny; i++) s += (double)y[i] * c->w[i];
    return s;
}

static void model_case(const char *name)
{
    char path[256], warn[1024];
    snprintf(path, sizeof path, "tests/fixtures/fam/%s.onnx", name);
    gn_graph *g = NULL;
    int rc = gn_onnx_import(path, &g, warn, sizeof warn);
    if (rc) fprintf(stderr, "  %s: %s\n", name, gn_err_msg());
    CHECK(rc == 0);
    if (rc) return;
    model_ctx c = {.b = 2};
    c.r = gn_run_new(g, c.b, 1);
    c.nx = (size_t)c.b * gn_tensor_size(g, g->input);
    c.ny = (size_t)c.b * gn_tensor_size(g, g->output);
    c.x = rvec(c.nx, -1, 1), c.w = rvec(c.ny, -1, 1);
    model_loss(&c);
    gn_run_zero_grad(c.r);
    memcpy(c.r->grad[g->output], c.w, c.ny * sizeof(float));
    gn_run_backward(c.r, GN_WANT_INPUT);
    float *dx = vec(c.nx);
    memcpy(dx, c.r->grad[g->input], c.nx * sizeof(float));
    /* The models are piecewise smooth (ReLU, max pools, clips) and deep:
     * a float32 step in one pixel may cross a kink, and the loss carries
     * rounding of ~1e-6. So the check is over 32 random pixels at once:
     * the numeric and analytic gradients agree in direction (cosine) and
     * size, which a wrong backward of any node on the path would break. */
    double num[32], ana[32], nn = 0, aa = 0, na = 0;
    /* SqueezeNet (no BatchNorm) has input gradients of ~1e-4, under the
     * loss's rounding at a step of 2e-3: it takes a longer step */
    const float h = !strcmp(name, "squeezenet") ? 3e-2f : 2e-3f;
    for (int k = 0; k < 32; k++) {
        size_t i = xorshift() % c.nx;
        float save = c.x[i], a = save + h, b = save - h;
        c.x[i] = a;
        double lp = model_loss(&c);
        c.x[i] = b;
        double lm = model_loss(&c);
        c.x[i] = save;
        num[k] = (lp - lm) / ((double)a - (double)b), ana[k] = dx[i];
        if (getenv("GN_TEST_VERBOSE") && !strcmp(name, getenv("GN_TEST_VERBOSE")))
            fprintf(stderr, "  %zu: %g %g\n", i, num[k], ana[k]);
        nn += num[k] * num[k], aa += ana[k] * ana[k], na += num[k] * ana[k];
    }
    double cosv = na / sqrt(nn * aa + 1e-300), ratio = sqrt(aa / (nn + 1e-300));
    const int ok = cosv > 0.98 && ratio > 0.95 && ratio < 1.05;
    if (!ok) fprintf(stderr, "  %s: input gradient cosine %.4f, norm ratio %.4f\n", name, cosv, ratio);
    CHECK(ok);
    if (getenv("GN_TEST_VERBOSE")) fprintf(stderr, "%-14s cos %.5f ratio %.5f\n", name, cosv, ratio);
    free(c.x), free(c.w), free(dx);
    gn_run_free(c.r);
    gn_graph_free(g);
}

/* ---- DenseNet: a dense layer is a unit ------------------------------------ */

/* the unit holding node k of q, or -1 */
static int unit_of(const gn_qmodel *q, int k)
{
    for (int i = 0; i < q->nunits; i++)
        if (k >= q->units[i].first && k < q->units[i].last) return i;
    return -1;
}

static int weight_layers(const gn_graph *g, const gn_unit *u)
{
    int w = 0;
    for (int k = u->first; k < u->last; k++) w += g->nodes[k].op == GN_OP_CONV || g->nodes[k].op == GN_OP_LINEAR;
    return w;
}

/* mean over samples and positions of the channel-summed squared error, as
 * recon-block's rec */
static double rec_of(const float *a, const float *b, size_t n, size_t chw, int c)
{
    double s = 0;
    for (size_t i = 0; i < n * chw; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s / ((double)n * (double)(chw / (size_t)c));
}

/* DenseNet's calibrated units: a unit per dense layer (its input the
 * concatenation it reads, its output its new feature, 2 weight layers, all
 * nodes of that layer), the concatenations in no unit; then x~ and y of a
 * dense layer whose concatenation carries features made by earlier,
 * reconstructed units: recon-block's round-to-nearest error of the unit
 * equals the one of the whole quantised model's run against the whole FP32
 * model's; and the qmodel file keeps the gaps, refusing one that holds a
 * quantiser */
static void test_dense_units(void)
{
    gn_graph *g = NULL;
    char warn[1024];
    gn_dataset d;
    if (gn_onnx_import("tests/fixtures/fam/densenet.onnx", &g, warn, sizeof warn) ||
        gn_dataset_load("tests/fixtures/fam/densenet.ref.h5", &d)) {
        fprintf(stderr, "  densenet: %s\n", gn_err_msg());
        CHECK(0);
        gn_graph_free(g);
        return;
    }
    gn_qconfig cfg = {.wbits = 4, .abits = 4, .first_last = 8};
    gn_qmodel q;
    CHECK(gn_calibrate(g, d.x, d.n, &cfg, &q, NULL) == 0);
    gn_graph *qg = q.g;
    /* stem, 2 + 3 + 2 dense layers, 2 transitions, classifier */
    CHECK(q.nunits == 11);
    int layers = 0, concats = 0, five = -1;
    for (int c = 0; c < qg->nn; c++) {
        const gn_node *n = &qg->nodes[c];
        if (n->op != GN_OP_CONCAT) {
            CHECK(unit_of(&q, c) >= 0); /* only concatenations lie between units */
            continue;
        }
        concats++;
        CHECK(unit_of(&q, c) < 0);
        const char *tail = strstr(n->name, "/Concat");
        if (!strstr(n->name, "/denselayer") || !tail) continue; /* a block's last concatenation */
        int i = -1;
        for (int j = 0; j < q.nunits; j++)
            if (q.units[j].in == n->out) i = j;
        CHECK(i >= 0);
        if (i < 0) continue;
        const gn_unit *u = &q.units[i];
        size_t plen = (size_t)(tail - n->name) + 1; /* "/features/denseblockB/denselayerL/" */
        int same = 1;
        for (int k = u->first; k < u->last; k++) same &= !strncmp(qg->nodes[k].name, n->name, plen);
        CHECK(same && u->first == c + 1 && weight_layers(qg, u) == 2);
        CHECK(qg->nodes[u->last - 1].op == GN_OP_CONV && u->out == qg->nodes[u->last - 1].out);
        CHECK(strstr(qg->nodes[u->last - 1].name, "/conv2/Conv") != NULL);
        if (strstr(n->name, "denseblock2/denselayer2/")) five = i;
        layers++;
    }
    CHECK(layers == 7 && concats == 10 && five == 5);

    /* units 0..4 reconstructed (a few iterations), then unit 5: its input
     * concatenates transition 1's output (unit 3) and dense layer 1's
     * feature (unit 4) */
    gn_recon_opts o;
    gn_recon_defaults(&o);
    o.iters = 20, o.batch = 2;
    gn_recon_log lg;
    for (int k = 0; k < 5; k++) CHECK(gn_recon_unit(&q, k, d.x, d.n, &o, &lg) == 0);
    gn_recon_fit_steps(&q, 5, d.x, d.n);
    const gn_unit *u = &q.units[5];
    size_t n = d.n, in_sz = gn_tensor_size(qg, u->in), out_sz = gn_tensor_size(qg, u->out);
    gn_run *r = gn_run_new(qg, (int)n, 0);
    r->qmode = 1;
    gn_run_forward(r, d.x, (int)n);
    float *xt = vec(n * in_sz), *yq = vec(n * out_sz);
    memcpy(xt, r->val[u->in], n * in_sz * sizeof(float));
    memcpy(yq, r->val[u->out], n * out_sz * sizeof(float));
    r->qmode = 0;
    gn_run_forward(r, d.x, (int)n);
    double want = rec_of(yq, r->val[u->out], n, out_sz, qg->t[u->out].c);
    /* x~'s first channels, transition 1's output bypassing dense layer 1,
     * are the quantised model's (not FP32's) */
    const gn_node *cat = &qg->nodes[u->first - 1];
    size_t by = gn_tensor_size(qg, cat->in[0]);
    CHECK(cat->op == GN_OP_CONCAT && cat->nin == 2 && cat->in[0] == q.units[3].out);
    double dq = 0;
    for (size_t s = 0; s < n; s++)
        for (size_t i = 0; i < by; i++) dq = fmax(dq, fabs(xt[s * in_sz + i] - r->val[u->in][s * in_sz + i]));
    CHECK(dq > 1e-3);
    CHECK(gn_recon_unit(&q, 5, d.x, d.n, &o, &lg) == 0);
    CHECK_NEAR(lg.rec_before, want, 1e-6 * want);
    CHECK(want > 0);
    gn_run_free(r);
    free(xt), free(yq);

    /* the file keeps the units with their gaps; a gap with a quantiser is refused */
    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/test_families.%ld.h5", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    gn_qmodel b;
    CHECK(gn_qmodel_save(path, &q) == 0);
    CHECK(gn_qmodel_load(path, &b) == 0);
    int eq = b.nunits == q.nunits;
    for (int i = 0; eq && i < q.nunits; i++)
        eq = b.units[i].first == q.units[i].first && b.units[i].last == q.units[i].last &&
             b.units[i].in == q.units[i].in && b.units[i].out == q.units[i].out && b.done[i] == q.done[i];
    CHECK(eq);
    int aq = q.units[1].first;
    while (qg->nodes[aq].op != GN_OP_AQUANT) aq++;
    b.units[1].first = aq + 1; /* the layer's first quantiser left between units */
    CHECK(gn_qmodel_save(path, &b) == 0);
    gn_qmodel_free(&b);
    CHECK(gn_qmodel_load(path, &b) != 0);
    CHECK(strstr(gn_err_msg(), "has parameters and lies in no unit") != NULL);
    remove(path);
    gn_qmodel_free(&q);
    gn_dataset_free(&d);
    gn_graph_free(g);
}

int main(void)
{
    test_elementwise();
    test_channels();
    test_ceil_pool();
    static const char *fam[] = {"resnet18",    "resnet50",     "resnext",  "mobilenetv2",
                                "mobilenetv3", "regnetx",      "regnety",  "mnasnet",
                                "efficientnet", "shufflenetv2", "densenet", "googlenet",
                                "squeezenet",  "vgg11bn"};
    for (size_t i = 0; i < sizeof fam / sizeof *fam; i++) model_case(fam[i]);
    test_dense_units();
    return check_summary("test_families");
}
