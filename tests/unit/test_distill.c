/* test_distill.c - Genie-D's pieces: SHA-256 against FIPS vectors, the
 * generator's shape and output statistics, swing (kernel against its
 * definition and finite differences, all nine offsets drawn, an unswung
 * teacher equal to the plain model), the loss kernels against naive double
 * code and finite differences, the whole loss's gradient with respect to
 * the images on a tiny model, batches independent of their neighbours, and
 * a loss that falls; a lean run (values and gradients placed by lifetime)
 * against a plain one, bit for bit; gn_prefault makes a block resident
 * and leaves what it holds as it was.
 *
 * `test_distill --write-fixture tiny|nobn|tiny2 PATH` writes a small model file
 * (with BatchNorm / without / the same graph with other weights) for the
 * bats suites. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "check.h"
#include "gn_arch.h"
#include "gn_distill.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_onnx.h"
#include "gn_ops.h"
#include "gn_optim.h"
#include "gn_rng.h"
#include "gn_run.h"
#include "gn_sha256.h"
#include "gn_stats.h"

#define RESNET "tests/fixtures/resnet20_fmnist.onnx"

/* ---- a tiny model built in code ----------------------------------------- */

static gn_node *add1(gn_graph *g, gn_opkind op, const char *name, const char *in, const char *out)
{
    int ti = gn_graph_tensor(g, in), to = gn_graph_tensor(g, out);
    gn_node *n = gn_graph_add_node(g, op, name);
    n->nin = 1, n->in[0] = ti, n->out = to;
    return n;
}

static int rand_param(gn_graph *g, gn_rng *r, const char *name, int ndim, const int *dims, float lo,
                      float hi)
{
    int k = gn_graph_add_param(g, name, ndim, dims, NULL);
    gn_rng_fill_uniform(r, g->params[k].data, g->params[k].n, lo, hi);
    return k;
}

/* x (C,H,W) -> conv 3x3 s2 p1 (4) [-> bn] -> tanh -> conv 3x3 s1 p1 (6) [-> bn]
 * -> tanh -> gap -> linear (3). Smooth everywhere, for finite differences. */
static gn_graph *tiny_model(int with_bn, int C, int H, int W, uint64_t seed)
{
    gn_rng r;
    gn_rng_seed(&r, seed, 99);
    gn_graph *g = gn_graph_new();
    int w1d[4] = {4, C, 3, 3}, c4[1] = {4}, w2d[4] = {6, 4, 3, 3}, c6[1] = {6}, fd[2] = {3, 6},
        c3[1] = {3};
    int w1 = rand_param(g, &r, "conv1.w", 4, w1d, -0.5f, 0.5f);
    int b1 = rand_param(g, &r, "conv1.b", 1, c4, -0.1f, 0.1f);
    int w2 = rand_param(g, &r, "conv2.w", 4, w2d, -0.4f, 0.4f);
    int fw = rand_param(g, &r, "fc.w", 2, fd, -0.5f, 0.5f);
    int fb = rand_param(g, &r, "fc.b", 1, c3, -0.1f, 0.1f);
    gn_node *n = add1(g, GN_OP_CONV, "conv1", "x", "c1");
    n->p[GN_P_W] = w1, n->p[GN_P_B] = b1, n->sh = n->sw = 2, n->pt = n->pl = n->pb = n->pr = 1;
    const char *a1 = "c1", *a2 = "c2";
    if (with_bn) {
        int ga = rand_param(g, &r, "bn1.g", 1, c4, 0.5f, 1.5f), be = rand_param(g, &r, "bn1.b", 1, c4, -0.2f, 0.2f);
        int rm = rand_param(g, &r, "bn1.rm", 1, c4, -0.5f, 0.5f), rv = rand_param(g, &r, "bn1.rv", 1, c4, 0.5f, 2.0f);
        n = add1(g, GN_OP_BN, "bn1", "c1", "b1");
        n->p[GN_P_GAMMA] = ga, n->p[GN_P_BETA] = be, n->p[GN_P_MEAN] = rm, n->p[GN_P_VAR] = rv;
        a1 = "b1";
    }
    add1(g, GN_OP_TANH, "t1", a1, "t1");
    n = add1(g, GN_OP_CONV, "conv2", "t1", "c2");
    n->p[GN_P_W] = w2, n->pt = n->pl = n->pb = n->pr = 1;
    if (with_bn) {
        int ga = rand_param(g, &r, "bn2.g", 1, c6, 0.5f, 1.5f), be = rand_param(g, &r, "bn2.b", 1, c6, -0.2f, 0.2f);
        int rm = rand_param(g, &r, "bn2.rm", 1, c6, -0.3f, 0.3f), rv = rand_param(g, &r, "bn2.rv", 1, c6, 0.2f, 1.0f);
        n = add1(g, GN_OP_BN, "bn2", "c2", "b2");
        n->p[GN_P_GAMMA] = ga, n->p[GN_P_BETA] = be, n->p[GN_P_MEAN] = rm, n->p[GN_P_VAR] = rv;
        a2 = "b2";
    }
    add1(g, GN_OP_TANH, "t2", a2, "t2");
    add1(g, GN_OP_GAP, "gap", "t2", "gap");
    n = add1(g, GN_OP_LINEAR, "fc", "gap", "y");
    n->p[GN_P_W] = fw, n->p[GN_P_B] = fb;
    g->input = gn_graph_find_tensor(g, "x");
    g->output = gn_graph_find_tensor(g, "y");
    GN_ASSERT(gn_graph_finalize(g, C, H, W) == 0);
    return g;
}

/* ---- SHA-256 ------------------------------------------------------------- */

static void test_sha256(void)
{
    char h[65];
    gn_sha256_hex("", 0, h);
    CHECK(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    gn_sha256_hex("abc", 3, h);
    CHECK(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    gn_sha256_hex(m448, strlen(m448), h);
    CHECK(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    /* a million 'a', fed in uneven pieces */
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    gn_sha256_ctx c;
    gn_sha256_init(&c);
    size_t off = 0, step = 1;
    while (off < 1000000) {
        size_t k = step < 1000000 - off ? step : 1000000 - off;
        gn_sha256_update(&c, a + off, k);
        off += k;
        step = step * 3 % 1000 + 1;
    }
    unsigned char d[32];
    gn_sha256_final(&c, d);
    char hex[65];
    for (int i = 0; i < 32; i++) sprintf(hex + 2 * i, "%02x", d[i]);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    free(a);
    CHECK(gn_sha256_file("/nonexistent/x", h) != 0 && h[0] == 0);
    CHECK(strstr(gn_err_msg(), "/nonexistent/x") != NULL);
}

/* ---- generator ----------------------------------------------------------- */

static void check_generator(int C, int H, int W)
{
    gn_graph *g = NULL;
    CHECK(gn_generator_build(&g, C, H, W, 256) == 0);
    if (!g) return;
    const gn_tensorinfo *o = &g->t[g->output];
    CHECK(o->c == C && o->h == H && o->w == W);
    CHECK(g->t[g->input].c == 256 && g->t[g->input].h == 1);
    /* parameters: linear, bn0 affine, conv0, bn1 affine, conv1; last BN none */
    size_t np = 0;
    for (int i = 0; i < g->np; i++) np += g->params[i].n;
    const size_t F = 128 * (size_t)(H / 4) * (W / 4);
    CHECK(np == 256 * F + F + 2 * 128 + 64 * 128 * 9 + 64 + 2 * 64 + (size_t)C * 64 * 9 + C);
    gn_rng r;
    gn_rng_seed(&r, 5, 0);
    gn_generator_init(g, &r);
    const gn_param *lw = &g->params[gn_graph_find_param(g, "gen.linear.weight")];
    const gn_param *cw = &g->params[gn_graph_find_param(g, "gen.conv0.weight")];
    float lmax = 0, cmax = 0;
    for (size_t i = 0; i < lw->n; i++) lmax = fmaxf(lmax, fabsf(lw->data[i]));
    for (size_t i = 0; i < cw->n; i++) cmax = fmaxf(cmax, fabsf(cw->data[i]));
    CHECK(lmax <= 1.0f / 16 && lmax > 0.9f / 16);
    CHECK(cmax <= 1.0f / sqrtf(128 * 9) && cmax > 0.9f / sqrtf(128 * 9));
    const int B = 16;
    gn_run *run = gn_run_new(g, B, 0);
    run->bn_train = 1;
    float *z = malloc(sizeof(float) * B * 256);
    gn_rng_fill_normal(&r, z, (size_t)B * 256, 0, 1);
    gn_run_forward(run, z, B);
    const float *x = run->val[g->output];
    const size_t HW = (size_t)H * W;
    double worst_m = 0, worst_v = 0;
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int b = 0; b < B; b++)
            for (size_t i = 0; i < HW; i++) s += x[((size_t)b * C + c) * HW + i];
        double m = s / ((double)B * HW);
        for (int b = 0; b < B; b++)
            for (size_t i = 0; i < HW; i++) {
                double d = x[((size_t)b * C + c) * HW + i] - m;
                q += d * d;
            }
        worst_m = fmax(worst_m, fabs(m));
        worst_v = fmax(worst_v, fabs(q / ((double)B * HW) - 1.0));
    }
    CHECK(worst_m < 1e-5);
    CHECK(worst_v < 2e-3); /* var/(var+1e-5): exactly 1 only without BN's eps */
    gn_run_free(run);
    free(z);
    gn_graph_free(g);
}

static void test_generator(void)
{
    check_generator(1, 28, 28);
    check_generator(3, 32, 32);
    check_generator(1, 8, 12);
    gn_graph *g = NULL;
    CHECK(gn_generator_build(&g, 1, 30, 30, 256) != 0 && g == NULL);
    CHECK(strstr(gn_err_msg(), "multiples of 4") != NULL);
}

/* ---- swing --------------------------------------------------------------- */

static int reflect_ref(int p, int n) { return p < 0 ? -p : p >= n ? 2 * n - 2 - p : p; }

static void test_swing_kernel(void)
{
    enum { B = 2, C = 3, H = 5, W = 4 };
    const size_t N = (size_t)B * C * H * W;
    float x[N], y[N], dy[N], dx[N];
    gn_rng r;
    gn_rng_seed(&r, 1, 2);
    gn_rng_fill_normal(&r, x, N, 0, 1);
    for (int oy = 0; oy < 3; oy++)
        for (int ox = 0; ox < 3; ox++) {
            gn_swing_forward(y, x, oy, ox, B, C, H, W);
            /* definition: pad(x) (H+2,W+2) by reflection, crop at (oy, ox) */
            int bad = 0;
            for (int p = 0; p < B * C; p++)
                for (int i = 0; i < H; i++)
                    for (int j = 0; j < W; j++) {
                        float want = x[(size_t)p * H * W + reflect_ref(i + oy - 1, H) * W +
                                       reflect_ref(j + ox - 1, W)];
                        bad += y[(size_t)p * H * W + i * W + j] != want;
                    }
            CHECK(bad == 0);
            if (oy == 1 && ox == 1) CHECK(memcmp(x, y, sizeof x) == 0);
            /* backward: central differences of L = sum(w * swing(x)) */
            gn_rng_fill_normal(&r, dy, N, 0, 1);
            memset(dx, 0, sizeof dx);
            gn_swing_backward(dx, dy, oy, ox, B, C, H, W);
            double worst = 0;
            for (size_t k = 0; k < N; k++) {
                const float h = 1e-2f, keep = x[k];
                double lp = 0, lm = 0;
                x[k] = keep + h;
                gn_swing_forward(y, x, oy, ox, B, C, H, W);
                for (size_t i = 0; i < N; i++) lp += (double)dy[i] * y[i];
                x[k] = keep - h;
                gn_swing_forward(y, x, oy, ox, B, C, H, W);
                for (size_t i = 0; i < N; i++) lm += (double)dy[i] * y[i];
                x[k] = keep;
                worst = fmax(worst, fabs((lp - lm) / (2.0 * h) - dx[k]));
            }
            CHECK(worst < 1e-3);
            /* backward adds */
            float dx2[N];
            for (size_t k = 0; k < N; k++) dx2[k] = 1.0f;
            gn_swing_backward(dx2, dy, oy, ox, B, C, H, W);
            int addbad = 0;
            for (size_t k = 0; k < N; k++) addbad += fabsf(dx2[k] - 1.0f - dx[k]) > 1e-6f;
            CHECK(addbad == 0);
        }
    /* a concrete case: 3x3 plane, offset (0,0) reads rows/cols 1,0,1 */
    float a[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, b[9];
    gn_swing_forward(b, a, 0, 0, 1, 1, 3, 3);
    const float want[9] = {5, 4, 5, 2, 1, 2, 5, 4, 5};
    CHECK(memcmp(b, want, sizeof b) == 0);
    gn_swing_forward(b, a, 2, 2, 1, 1, 3, 3);
    const float want2[9] = {5, 6, 5, 8, 9, 8, 5, 6, 5};
    CHECK(memcmp(b, want2, sizeof b) == 0);
}

/* teacher on `m`: every swing node draws all nine offsets; unswung teacher
 * and swung teacher without an rng both equal the plain model */
static void check_teacher(const gn_graph *m, int expect_swings, int B)
{
    int ns = -1;
    gn_graph *t = gn_teacher_build(m, 1, &ns);
    CHECK(t != NULL && ns == expect_swings);
    gn_graph *t0 = gn_teacher_build(m, 0, &ns);
    CHECK(t0 != NULL && ns == 0);
    if (!t || !t0) return;
    CHECK(t->nn == m->nn + expect_swings && t0->nn == m->nn);
    int nswing = 0;
    for (int k = 0; k < t->nn; k++)
        if (t->nodes[k].op == GN_OP_SWING) {
            nswing++;
            /* it feeds a strided convolution */
            CHECK(k + 1 < t->nn && t->nodes[k + 1].op == GN_OP_CONV &&
                  (t->nodes[k + 1].sh != 1 || t->nodes[k + 1].sw != 1) &&
                  t->nodes[k + 1].in[0] == t->nodes[k].out);
        }
    CHECK(nswing == expect_swings);
    const size_t per = gn_tensor_size(m, m->input), K = gn_tensor_size(m, m->output);
    float *x = malloc(sizeof(float) * per * B);
    gn_rng r;
    gn_rng_seed(&r, 3, 4);
    gn_rng_fill_normal(&r, x, per * B, 0, 1);
    gn_graph *mc = gn_graph_clone(m);
    gn_run *rm = gn_run_new(mc, B, 0), *rt = gn_run_new(t, B, 0), *r0 = gn_run_new(t0, B, 0);
    gn_run_forward(rm, x, B);
    gn_run_forward(r0, x, B);
    CHECK(memcmp(rm->val[mc->output], r0->val[t0->output], sizeof(float) * K * B) == 0);
    rt->swing_rng = NULL;
    gn_run_forward(rt, x, B);
    CHECK(memcmp(rm->val[mc->output], rt->val[t->output], sizeof(float) * K * B) == 0);
    /* with an rng: 9 offsets per swing node over 300 forwards, and the
     * output changes */
    int seen[64][9];
    memset(seen, 0, sizeof seen);
    gn_rng sr;
    gn_rng_seed(&sr, 7, 0);
    rt->swing_rng = &sr;
    int differs = 0;
    for (int it = 0; it < 300; it++) {
        gn_run_forward(rt, x, 1);
        int s = 0;
        for (int k = 0; k < t->nn && s < 64; k++)
            if (t->nodes[k].op == GN_OP_SWING) {
                int oy = rt->swing_off[2 * k], ox = rt->swing_off[2 * k + 1];
                CHECK(oy >= 0 && oy <= 2 && ox >= 0 && ox <= 2);
                seen[s++][oy * 3 + ox]++;
            }
        differs |= memcmp(rm->val[mc->output], rt->val[t->output], sizeof(float) * K) != 0;
    }
    int all = 1;
    for (int s = 0; s < nswing && s < 64; s++)
        for (int o = 0; o < 9; o++) all &= seen[s][o] > 0;
    CHECK(all);
    CHECK(differs);
    gn_run_free(rm), gn_run_free(rt), gn_run_free(r0);
    gn_graph_free(mc), gn_graph_free(t), gn_graph_free(t0);
    free(x);
}

static void test_teacher(void)
{
    gn_graph *m = tiny_model(1, 2, 8, 8, 1);
    check_teacher(m, 1, 3);
    gn_graph_free(m);
    gn_graph *rn = NULL;
    if (gn_onnx_import(RESNET, &rn, NULL, 0) == 0) {
        check_teacher(rn, 4, 2); /* two stride-2 3x3 convs and two 1x1 downsamples */
        gn_graph_free(rn);
    } else {
        fprintf(stderr, "test_distill: %s\n", gn_err_msg());
        CHECK(!"reference model imports");
    }
}

/* ---- loss kernels -------------------------------------------------------- */

/* naive double BN term */
static void bnloss_ref(double *mt, double *st, const float *x, const float *mu, const float *sd,
                       int B, int C, int HW)
{
    *mt = *st = 0;
    double n = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double s = 0, q = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) s += x[((size_t)b * C + c) * HW + i];
        double m = s / n;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double d = x[((size_t)b * C + c) * HW + i] - m;
                q += d * d;
            }
        double sdv = sqrt(q / (n - 1));
        *mt += (mu[c] - m) * (mu[c] - m) / C;
        *st += (sd[c] - sdv) * (sd[c] - sdv) / C;
    }
}

static void inloss_ref(double *mt, double *st, const float *x, int B, int C, int HW)
{
    *mt = *st = 0;
    for (int p = 0; p < B * C; p++) {
        double s = 0, q = 0;
        for (int i = 0; i < HW; i++) s += x[(size_t)p * HW + i];
        double m = s / HW;
        for (int i = 0; i < HW; i++) q += (x[(size_t)p * HW + i] - m) * (x[(size_t)p * HW + i] - m);
        double sdv = sqrt(q / (HW - 1));
        *mt += m * m / B;
        *st += (1 - sdv) * (1 - sdv) / B;
    }
}

static void test_loss_kernels(void)
{
    enum { B = 3, C = 4, HW = 37 };
    const size_t N = (size_t)B * C * HW;
    float x[N], dx[N], mu[C], sd[C];
    double ws[4 * C];
    gn_rng r;
    gn_rng_seed(&r, 11, 0);
    for (size_t i = 0; i < N; i++) x[i] = 0.7f * gn_rng_normal(&r) + 0.3f * (float)(i % C);
    gn_rng_fill_uniform(&r, mu, C, -1, 1);
    gn_rng_fill_uniform(&r, sd, C, 0.2f, 2);
    double mt, st, rmt, rst;
    gn_bnloss_forward_backward(&mt, &st, NULL, x, mu, sd, B, C, HW, 1.0f, ws);
    bnloss_ref(&rmt, &rst, x, mu, sd, B, C, HW);
    CHECK_NEAR(mt, rmt, 1e-6 * (1 + rmt));
    CHECK_NEAR(st, rst, 1e-6 * (1 + rst));
    memset(dx, 0, sizeof dx);
    gn_bnloss_forward_backward(&mt, &st, dx, x, mu, sd, B, C, HW, 1.0f, ws);
    double worst = 0;
    for (size_t k = 0; k < N; k += 7) {
        float keep = x[k], h = 1e-2f;
        double a, b, c2, d2;
        x[k] = keep + h;
        bnloss_ref(&a, &b, x, mu, sd, B, C, HW);
        x[k] = keep - h;
        bnloss_ref(&c2, &d2, x, mu, sd, B, C, HW);
        x[k] = keep;
        worst = fmax(worst, fabs(((a + b) - (c2 + d2)) / (2 * h) - dx[k]));
    }
    CHECK(worst < 2e-5);
    /* scale multiplies the gradient, not the loss */
    float dx2[N];
    memset(dx2, 0, sizeof dx2);
    double mt2, st2;
    gn_bnloss_forward_backward(&mt2, &st2, dx2, x, mu, sd, B, C, HW, 3.0f, ws);
    CHECK(mt2 == mt && st2 == st);
    CHECK_NEAR(dx2[5], 3 * dx[5], 1e-6);
    /* the first-writer form: the bits of adding into zeros, dx never read */
    float dx3[N];
    for (size_t k = 0; k < N; k++) dx3[k] = NAN;
    gn_bnloss_forward_backward_set(&mt2, &st2, dx3, x, mu, sd, B, C, HW, 3.0f, ws);
    CHECK(mt2 == mt && st2 == st && !memcmp(dx2, dx3, sizeof dx2));

    gn_inputloss_forward_backward(&mt, &st, NULL, x, B, C, HW, 1.0f);
    inloss_ref(&rmt, &rst, x, B, C, HW);
    CHECK_NEAR(mt, rmt, 1e-6 * (1 + rmt));
    CHECK_NEAR(st, rst, 1e-6 * (1 + rst));
    memset(dx, 0, sizeof dx);
    gn_inputloss_forward_backward(&mt, &st, dx, x, B, C, HW, 1.0f);
    worst = 0;
    for (size_t k = 0; k < N; k += 5) {
        float keep = x[k], h = 1e-2f;
        double a, b, c2, d2;
        x[k] = keep + h;
        inloss_ref(&a, &b, x, B, C, HW);
        x[k] = keep - h;
        inloss_ref(&c2, &d2, x, B, C, HW);
        x[k] = keep;
        worst = fmax(worst, fabs(((a + b) - (c2 + d2)) / (2 * h) - dx[k]));
    }
    CHECK(worst < 2e-5);
    /* a constant plane: std 0, its gradient term taken as 0, still finite */
    float cst[2 * 4] = {1, 1, 1, 1, 2, 2, 2, 2}, dc[8] = {0};
    gn_inputloss_forward_backward(&mt, &st, dc, cst, 1, 2, 4, 1.0f);
    CHECK_NEAR(st, 2.0, 1e-12);
    int fin = 1;
    for (int i = 0; i < 8; i++) fin &= isfinite(dc[i]);
    CHECK(fin);
}

/* ---- the whole loss on a tiny model -------------------------------------- */

static gn_distiller *tiny_distiller(gn_graph *m, gn_bnstats *st, gn_distill_method method, int B,
                                    int iters, int swing)
{
    CHECK(gn_bnstats_from_model(m, "tiny", st) == 0);
    gn_distill_opts o;
    gn_distill_defaults(&o);
    o.method = method;
    o.batch = B;
    o.iters = iters;
    o.swing = swing;
    o.seed = 42;
    gn_distiller *d = NULL;
    CHECK(gn_distiller_new(&d, m, st, &o) == 0);
    return d;
}

static void test_loss_gradient(void)
{
    const int B = 3, C = 2, H = 8, W = 8;
    gn_graph *m = tiny_model(1, C, H, W, 2);
    gn_bnstats st;
    gn_distiller *d = tiny_distiller(m, &st, GN_DISTILL_PIXEL, B, 10, 0);
    if (!d) return;
    const size_t N = (size_t)B * C * H * W;
    float *x = malloc(N * sizeof(float)), *dx = malloc(N * sizeof(float));
    gn_rng r;
    gn_rng_seed(&r, 8, 1);
    gn_rng_fill_normal(&r, x, N, 0.2f, 1.1f);
    double mt, sd;
    double L = gn_distiller_loss(d, x, B, dx, &mt, &sd);
    CHECK(L > 0 && isfinite(L) && fabs(L - (mt + sd)) < 1e-12);
    /* without dx: the same value */
    double mt2, sd2;
    CHECK(gn_distiller_loss(d, x, B, NULL, &mt2, &sd2) == L);
    /* central differences in float: step 1e-2, compare with a relative
     * tolerance on the gradient's scale */
    double gmax = 0, worst = 0;
    for (size_t k = 0; k < N; k++) gmax = fmax(gmax, fabs(dx[k]));
    for (size_t k = 0; k < N; k += 3) {
        float keep = x[k], h = 1e-2f;
        x[k] = keep + h;
        double lp = gn_distiller_loss(d, x, B, NULL, &mt2, &sd2);
        x[k] = keep - h;
        double lm = gn_distiller_loss(d, x, B, NULL, &mt2, &sd2);
        x[k] = keep;
        worst = fmax(worst, fabs((lp - lm) / (2 * h) - dx[k]));
    }
    fprintf(stderr, "test_distill: loss %.6g, max |grad| %.3g, worst FD error %.3g\n", L, gmax, worst);
    CHECK(gmax > 1e-4);
    CHECK(worst < 2e-3 * gmax + 1e-5);
    free(x), free(dx);
    gn_distiller_free(d);
    gn_bnstats_free(&st);
    gn_graph_free(m);
}

/* ---- batches ------------------------------------------------------------- */

static void test_batches(void)
{
    const int B = 4, C = 1, H = 8, W = 8, iters = 30;
    gn_graph *m = tiny_model(1, C, H, W, 3);
    const size_t nx = (size_t)B * C * H * W;
    float *x0 = malloc(nx * 4), *x1 = malloc(nx * 4), *y1 = malloc(nx * 4);
    float *l0 = malloc(iters * 12), *l1 = malloc(iters * 12), *k1 = malloc(iters * 12);
    gn_bnstats st, st2;
    /* batch 1 after batch 0 in one distiller == batch 1 in a fresh one */
    gn_distiller *d = tiny_distiller(m, &st, GN_DISTILL_GENIE, B, iters, 1);
    gn_distiller *e = tiny_distiller(m, &st2, GN_DISTILL_GENIE, B, iters, 1);
    if (d && e) {
        gn_distiller_batch(d, 0, x0, l0, NULL, NULL);
        gn_distiller_batch(d, 1, x1, l1, NULL, NULL);
        gn_distiller_batch(e, 1, y1, k1, NULL, NULL);
        CHECK(memcmp(x1, y1, nx * 4) == 0);
        CHECK(memcmp(l1, k1, (size_t)iters * 12) == 0);
        CHECK(memcmp(x0, x1, nx * 4) != 0);
        /* the loss falls */
        CHECK(l0[3 * (iters - 1)] < l0[0]);
        CHECK(l1[3 * (iters - 1)] < l1[0]);
        /* rows: total = mean + std */
        CHECK_NEAR(l0[0], l0[1] + l0[2], 1e-5 * l0[0]);
        /* the teacher's weights are fixed: after a whole batch, no teacher
         * parameter has a gradient buffer (none allocated, none written) */
        const gn_graph *t = gn_distiller_teacher(d)->g;
        int with_grad = 0;
        for (int i = 0; i < t->np; i++) with_grad += t->params[i].grad != NULL;
        CHECK(t->np > 0 && with_grad == 0);
    }
    gn_distiller_free(d);
    gn_distiller_free(e);
    gn_bnstats_free(&st);
    gn_bnstats_free(&st2);
    /* pixel falls too; noise is N(0,1) with one loss row */
    gn_distiller *p = tiny_distiller(m, &st, GN_DISTILL_PIXEL, B, iters, 1);
    if (p) {
        gn_distiller_batch(p, 0, x0, l0, NULL, NULL);
        CHECK(l0[3 * (iters - 1)] < l0[0]);
    }
    gn_distiller_free(p);
    gn_bnstats_free(&st);
    gn_distiller *q = tiny_distiller(m, &st, GN_DISTILL_NOISE, B, iters, 1);
    if (q) {
        gn_distill_opts o;
        gn_distill_defaults(&o);
        o.method = GN_DISTILL_NOISE;
        CHECK(gn_distill_log_rows(&o) == 1);
        gn_distiller_batch(q, 2, x0, l0, NULL, NULL);
        double s = 0, s2 = 0;
        for (size_t i = 0; i < nx; i++) s += x0[i], s2 += (double)x0[i] * x0[i];
        CHECK(fabs(s / nx) < 0.2 && fabs(s2 / nx - 1) < 0.3);
        CHECK(l0[0] > 0);
    }
    gn_distiller_free(q);
    gn_bnstats_free(&st);
    free(x0), free(x1), free(y1), free(l0), free(l1), free(k1);
    gn_graph_free(m);
}

/* ---- statistics ---------------------------------------------------------- */

static void test_stats(void)
{
    gn_graph *m = tiny_model(1, 1, 8, 8, 4);
    gn_bnstats s;
    CHECK(gn_bnstats_from_model(m, "tiny.h5", &s) == 0);
    CHECK(s.nl == 2 && s.c[0] == 4 && s.c[1] == 6 && s.total == 10 && s.off[1] == 4);
    const gn_param *rv = &m->params[gn_graph_find_param(m, "bn2.rv")];
    CHECK(s.std[4 + 3] == sqrtf(rv->data[3] + 1e-6f));
    CHECK(!strcmp(s.name[0], "bn1") && !strcmp(s.input[1], "c2"));
    CHECK(gn_bnstats_match(&s, m, "s.h5", "m.h5") == 0);
    gn_graph *nobn = tiny_model(0, 1, 8, 8, 4);
    gn_bnstats s2;
    CHECK(gn_bnstats_from_model(nobn, "nobn.h5", &s2) != 0);
    CHECK(strstr(gn_err_msg(), "nobn.h5: model has no BatchNorm layer") != NULL);
    CHECK(gn_bnstats_match(&s, nobn, "s.h5", "nobn.h5") != 0);
    gn_distiller *d = NULL;
    gn_distill_opts o;
    gn_distill_defaults(&o);
    o.batch = 4;
    CHECK(gn_distiller_new(&d, nobn, &s, &o) != 0 && d == NULL);
    /* measuring on "real" data: the BN inputs' moments over all images */
    const int n = 10;
    float *x = malloc(sizeof(float) * n * 64);
    gn_rng r;
    gn_rng_seed(&r, 1, 1);
    gn_rng_fill_normal(&r, x, (size_t)n * 64, 0, 1);
    CHECK(gn_bnstats_measure(&s, m, x, n, 3, NULL, NULL) == 0);
    /* reference: one forward of all 10 images, naive moments of c1 */
    gn_run *run = gn_run_new(m, n, 0);
    gn_run_forward(run, x, n);
    const float *c1 = run->val[gn_graph_find_tensor(m, "c1")];
    const int HW = 16;
    for (int c = 0; c < 4; c++) {
        double sm = 0, q = 0;
        for (int b = 0; b < n; b++)
            for (int i = 0; i < HW; i++) sm += c1[(b * 4 + c) * HW + i];
        double mm = sm / (n * HW);
        for (int b = 0; b < n; b++)
            for (int i = 0; i < HW; i++) q += pow(c1[(b * 4 + c) * HW + i] - mm, 2);
        CHECK_NEAR(s.real_mean[c], mm, 1e-5);
        CHECK_NEAR(s.real_std[c], sqrt(q / (n * HW - 1)), 1e-5);
    }
    gn_run_free(run);
    free(x);
    gn_bnstats_free(&s);
    gn_graph_free(m);
    gn_graph_free(nobn);
}

static int write_fixture(const char *kind, const char *path)
{
    gn_graph *g = NULL;
    if (!strcmp(kind, "tiny")) g = tiny_model(1, 1, 8, 8, 1);
    else if (!strcmp(kind, "tiny2")) g = tiny_model(1, 1, 8, 8, 2);
    else if (!strcmp(kind, "nobn")) g = tiny_model(0, 1, 8, 8, 1);
    else {
        fprintf(stderr, "test_distill: unknown fixture %s\n", kind);
        return 2;
    }
    int rc = gn_model_save(path, g, NULL, NULL);
    if (rc) fprintf(stderr, "test_distill: %s\n", gn_err_msg());
    gn_graph_free(g);
    return rc ? 1 : 0;
}

/* ---- lean runs ----------------------------------------------------------- */

/* One forward and backward of graph g on x (b images) with dL/dout = dy,
 * in run r: the output, the input's gradient and every parameter's
 * gradient appended to out (which it returns advanced). */
static float *lean_pass(gn_run *r, gn_graph *g, const float *x, const float *dy, int b,
                        unsigned want, int last, float *out)
{
    const size_t nx = (size_t)b * gn_tensor_size(g, g->input), ny = (size_t)b * gn_tensor_size(g, g->output);
    gn_graph_zero_grads(g);
    gn_run_forward(r, x, b);
    memcpy(out, gn_run_val(r, g->output), ny * sizeof(float)), out += ny;
    gn_run_forget_grad(r);
    memcpy(gn_run_grad_set(r, g->output), dy, ny * sizeof(float));
    gn_run_backward_nodes(r, want, 0, last);
    memcpy(out, gn_run_grad(r, g->input), nx * sizeof(float)), out += nx;
    for (int i = 0; i < g->np && (want & GN_WANT_PARAMS); i++)
        if (g->params[i].grad && r->trainable[i])
            memcpy(out, g->params[i].grad, g->params[i].n * sizeof(float)), out += g->params[i].n;
    return out;
}

/* A lean run gives a plain run's bits (output, input gradient, parameter
 * gradients) for ResNet-18, MobileNetV2 (3x32x32) and the generator, with
 * BatchNorm in inference mode (masks of the activations fused into it made
 * again) and training mode, input gradients alone or with
 * the parameters', over the whole graph and a prefix that ends inside a
 * fused BN -> ReLU pair (the distiller's backward), twice in a row (the
 * shared memory holds the last pass's numbers), at a batch below its
 * capacity, with NaN written into its idle memory between passes; and it
 * holds less memory. */
static void test_lean(void)
{
    gn_graph *gs[3];
    CHECK(gn_arch_build("resnet18", 3, 32, 32, 10, 1, &gs[0]) == 0);
    CHECK(gn_arch_build("mobilenet_v2", 3, 32, 32, 10, 2, &gs[1]) == 0);
    CHECK(gn_generator_build(&gs[2], 3, 32, 32, 16) == 0);
    gn_rng rng;
    gn_rng_seed(&rng, 7, 0);
    for (int m = 0; m < 3; m++) {
        gn_graph *g = gs[m];
        if (!g) continue;
        if (m == 2) gn_generator_init(g, &rng);
        gn_graph_alloc_grads(g);
        const int B = 3, b = m == 1 ? 2 : 3;
        const size_t nx = (size_t)B * gn_tensor_size(g, g->input), ny = (size_t)B * gn_tensor_size(g, g->output);
        size_t np = 0;
        for (int i = 0; i < g->np; i++) np += g->params[i].n;
        float *x = malloc(nx * sizeof(float)), *dy = malloc(ny * sizeof(float));
        gn_rng_fill_normal(&rng, x, nx, 0.0f, 1.0f);
        gn_rng_fill_normal(&rng, dy, ny, 0.0f, 1.0f);
        /* a prefix ending between a BN and the ReLU fused into it */
        int cut = g->nn;
        for (int k = g->nn - 2; k > 0 && cut == g->nn; k--)
            if (g->nodes[k].op == GN_OP_BN && g->nodes[k + 1].op == GN_OP_RELU) cut = k + 1;
        const size_t cap = 2 * (ny + nx + np);
        float *a = malloc(cap * sizeof(float)), *c = malloc(cap * sizeof(float));
        for (int bt = 0; bt < 2; bt++)
            for (unsigned want = 1; want <= 3; want += 2)
                for (int pre = 0; pre < 2; pre++) {
                    if (m == 2 && pre) continue; /* the generator's backward is whole */
                    const int last = pre ? cut : g->nn;
                    /* in inference mode, masks made again from BN inputs */
                    gn_run *rp = gn_run_new(g, B, 1),
                           *rl = gn_run_new_lean(g, B, want | (bt ? 0 : GN_LEAN_BN_INFER));
                    rp->bn_train = rl->bn_train = bt;
                    float *ea = a, *ec = c;
                    /* its idle memory (gn_run_idle): above the graph's
                     * input and output, and nothing there is read by the
                     * next pass (NaN written between passes changes no bit) */
                    const size_t ni = rl->blk_n[0] - rl->idle_off;
                    float *idle = gn_run_idle(rl, ni);
                    CHECK(idle && !gn_run_idle(rl, ni + 1));
                    const int io[2] = {g->input, g->output};
                    for (int j = 0; j < 2; j++)
                        CHECK(rl->val[io[j]] < idle && (!rl->grad[io[j]] || rl->grad[io[j]] < idle));
                    for (int rep = 0; rep < 2; rep++) {
                        ea = lean_pass(rp, g, x, dy, b, want, last, ea);
                        ec = lean_pass(rl, g, x, dy, b, want, last, ec);
                        for (size_t i = 0; i < ni; i++) idle[i] = NAN;
                    }
                    CHECK(ea - a == ec - c);
                    const int same = !memcmp(a, c, (size_t)(ea - a) * sizeof(float));
                    if (!same) fprintf(stderr, "graph %d bn_train %d want %u last %d: the lean run differs\n", m, bt, want, last);
                    CHECK(same);
                    CHECK(gn_run_bytes(rl) < gn_run_bytes(rp));
                    gn_run_free(rp);
                    gn_run_free(rl);
                }
        free(a), free(c), free(x), free(dy);
        gn_graph_free(g);
    }
}

/* A forward-only lean run with kept tensors (gn_run_new_lean_keep, as
 * calib and recon-block use it) gives a plain run's bits: the kept values
 * after a prefix, and a unit's output after its input was written and only
 * the unit's nodes ran; ResNet-18 (3x32x32, fused BN and Add -> ReLU pairs)
 * between the outputs of two residual blocks, and MobileNetV2 between the
 * outputs of two nodes; it holds less memory. */
static void test_lean_keep(void)
{
    const char *arch[2] = {"resnet18", "mobilenet_v2"};
    gn_rng rng;
    gn_rng_seed(&rng, 9, 0);
    for (int m = 0; m < 2; m++) {
        gn_graph *g;
        CHECK(gn_arch_build(arch[m], 3, 32, 32, 10, 3, &g) == 0);
        if (!g) continue;
        const int B = 4, b = 3;
        /* the unit: nodes (a, c], between the outputs of nodes a and c */
        int a = -1, c = -1;
        for (int k = 0; k + 1 < g->nn && c < 0; k++)
            if (m == 0 ? g->nodes[k].op == GN_OP_ADD && g->nodes[k + 1].op == GN_OP_RELU
                       : g->nodes[k].op == GN_OP_ADD) {
                if (a < 0) a = k + (m == 0); else c = k + (m == 0);
            }
        CHECK(a > 0 && c > a);
        if (a <= 0 || c <= a) {
            gn_graph_free(g);
            continue;
        }
        const int keep[2] = {g->nodes[a].out, g->nodes[c].out};
        const size_t nx = (size_t)B * gn_tensor_size(g, g->input);
        const size_t ni = (size_t)b * gn_tensor_size(g, keep[0]), no = (size_t)b * gn_tensor_size(g, keep[1]);
        float *x = malloc(nx * sizeof(float)), *z = malloc(ni * sizeof(float));
        gn_rng_fill_normal(&rng, x, nx, 0.0f, 1.0f);
        gn_rng_fill_normal(&rng, z, ni, 0.0f, 1.0f);
        gn_run *rp = gn_run_new(g, B, 0), *rl = gn_run_new_lean_keep(g, B, 0, keep, 2);
        rp->bn_train = rl->bn_train = 0;
        for (int rep = 0; rep < 2; rep++) {
            gn_run *rs[2] = {rp, rl};
            for (int i = 0; i < 2; i++) {
                rs[i]->b = b;
                memcpy(rs[i]->val[g->input], x, (size_t)b * gn_tensor_size(g, g->input) * sizeof(float));
                gn_run_forward_nodes(rs[i], 0, c + 1);
            }
            CHECK(!memcmp(rp->val[keep[0]], rl->val[keep[0]], ni * sizeof(float)));
            CHECK(!memcmp(rp->val[keep[1]], rl->val[keep[1]], no * sizeof(float)));
            for (int i = 0; i < 2; i++) {
                memcpy(rs[i]->val[keep[0]], z, ni * sizeof(float));
                gn_run_forward_nodes(rs[i], a + 1, c + 1);
            }
            const int same = !memcmp(rp->val[keep[1]], rl->val[keep[1]], no * sizeof(float));
            if (!same) fprintf(stderr, "%s: the unit's output differs in the lean run\n", arch[m]);
            CHECK(same);
        }
        CHECK(gn_run_bytes(rl) < gn_run_bytes(rp));
        gn_run_free(rp);
        gn_run_free(rl);
        free(x), free(z);
        gn_graph_free(g);
    }
}

/* pages of [p, p+n) resident (mincore), or -1 */
static long resident_pages(const void *p, size_t n)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    const uintptr_t a = (uintptr_t)p & ~(uintptr_t)(pg - 1);
    const size_t np = ((uintptr_t)p + n - a + pg - 1) / pg;
    unsigned char *v = malloc(np);
    long c = -1;
    if (v && !mincore((void *)a, np * pg, v)) {
        c = 0;
        for (size_t i = 0; i < np; i++) c += v[i] & 1;
    }
    free(v);
    return c;
}

static void test_prefault(void)
{
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = 64 * pg;
    /* a fresh mapping: no page resident until touched */
    char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(m != MAP_FAILED);
    if (m == MAP_FAILED) return;
    CHECK(resident_pages(m, n) == 0);
    gn_prefault(m + 100, n - 200); /* whole pages only: the first and last stay out */
    CHECK(resident_pages(m, n) == 62);
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++) zeros += m[i] == 0;
    CHECK(zeros == n);
    /* contents kept */
    for (size_t i = 0; i < n; i++) m[i] = (char)(i * 7 + 3);
    gn_prefault(m, n);
    size_t same = 0;
    for (size_t i = 0; i < n; i++) same += m[i] == (char)(i * 7 + 3);
    CHECK(same == n);
    CHECK(resident_pages(m, n) == 64);
    munmap(m, n);
    gn_prefault(NULL, n); /* nothing to do */
    char small[16] = {1};
    gn_prefault(small, sizeof small); /* less than a page: nothing to do */
    CHECK(small[0] == 1);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--write-fixture")) return write_fixture(argv[2], argv[3]);
    test_sha256();
    test_generator();
    test_swing_kernel();
    test_teacher();
    test_loss_kernels();
    test_loss_gradient();
    test_batches();
    test_stats();
    test_lean();
    test_lean_keep();
    test_prefault();
    return check_summary("test_distill");
}
