/* test_ops.c - unit tests of the operator kernels (lib/gn_ops.h).
 *
 * For every operator: backward against central finite differences of
 * L = sum(y * r) for a fixed random r (so dL/dy = r), with inputs chosen away
 * from kinks; every fast kernel against its _ref twin; NULL gradient
 * pointers; backward adding into its gradients (calling it twice doubles
 * them); BatchNorm's output statistics and running update by hand.
 * What it does not do: golden numbers from PyTorch (tests/fixtures has
 * those) or timing. */
#define FD_SEED 0x9E3779B97F4A7C15ull
#include "check.h"
#include "fd.h"
#include "gn_blas.h"
#include "gn_err.h"
#include "gn_ops.h"
#include "gn_moments.h"
#include "gn_wino.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers -------------------------------------------------------------- */

static float *copy(const float *a, size_t n)
{
    float *b = vec(n);
    memcpy(b, a, n * sizeof(float));
    return b;
}

static double maxdiff(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

static double maxabs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* every entry of b equals 2*a (a second backward added the same again) */
static double maxdiff2(const float *a, const float *b, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(2.0 * a[i] - b[i]);
        if (d > m) m = d;
    }
    return m;
}

/* ---- convolution ---------------------------------------------------------- */

typedef struct {
    gn_conv_shape s;
    float *x, *w, *b, *y, *r, *ws;
    size_t nx, nw, ny;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    gn_conv2d_forward(c->y, c->x, c->w, c->b, &c->s, c->ws);
    return dot(c->y, c->r, c->ny);
}

/* One configuration: fast against _ref (forward and backward), NULL
 * gradients, accumulation, and (if fd) finite differences in x, w, b. */
static void conv_case(const char *name, int B, int Cin, int H, int W, int Cout, int KH, int KW,
                      int SH, int SW, int PT, int PL, int PB, int PR, int groups, int bias, int fd)
{
    conv_ctx c = {.s = {.B = B, .Cin = Cin, .H = H, .W = W, .Cout = Cout, .KH = KH, .KW = KW,
                        .SH = SH, .SW = SW, .PT = PT, .PL = PL, .PB = PB, .PR = PR,
                        .groups = groups}};
    const int fails = check_fail_;
    int rc = gn_conv_shape_init(&c.s);
    CHECK(rc == 0);
    if (rc) return;
    c.nx = (size_t)B * Cin * H * W;
    c.nw = (size_t)Cout * (Cin / groups) * KH * KW;
    c.ny = (size_t)B * Cout * c.s.OH * c.s.OW;
    size_t nws = gn_conv2d_workspace(&c.s);
    c.ws = nws ? gn_xmalloc(nws * sizeof(float)) : NULL; /* exact size: ASan sees overruns */
    c.x = rvec(c.nx, -1, 1);
    c.w = rvec(c.nw, -1, 1);
    c.b = bias ? rvec(Cout, -1, 1) : NULL;
    c.r = rvec(c.ny, -1, 1);
    c.y = vec(c.ny);
    float *yref = vec(c.ny);

    /* forward: fast vs ref (ref accumulates in double); |y| <= K = Cin/g*KH*KW + 1 */
    gn_conv2d_forward(c.y, c.x, c.w, c.b, &c.s, c.ws);
    gn_conv2d_forward_ref(yref, c.x, c.w, c.b, &c.s);
    CHECK_NEAR(maxdiff(c.y, yref, c.ny), 0, 1e-5 * (1 + maxabs(yref, c.ny)));

    /* backward: fast vs ref with dy = r */
    float *dx = vec(c.nx), *dw = vec(c.nw), *db = vec(Cout);
    float *dxr = vec(c.nx), *dwr = vec(c.nw), *dbr = vec(Cout);
    gn_conv2d_backward(dx, dw, db, c.r, c.x, c.w, &c.s, c.ws);
    gn_conv2d_backward_ref(dxr, dwr, dbr, c.r, c.x, c.w, &c.s);
    CHECK_NEAR(maxdiff(dx, dxr, c.nx), 0, 1e-5 * (1 + maxabs(dxr, c.nx)));
    CHECK_NEAR(maxdiff(dw, dwr, c.nw), 0, 1e-5 * (1 + maxabs(dwr, c.nw)));
    CHECK_NEAR(maxdiff(db, dbr, Cout), 0, 1e-5 * (1 + maxabs(dbr, Cout)));

    /* any subset of gradients: each alone gives what the full call gave */
    float *dx1 = vec(c.nx), *dw1 = vec(c.nw), *db1 = vec(Cout);
    gn_conv2d_backward(dx1, NULL, NULL, c.r, c.x, c.w, &c.s, c.ws);
    gn_conv2d_backward(NULL, dw1, NULL, c.r, c.x, c.w, &c.s, c.ws);
    gn_conv2d_backward(NULL, NULL, db1, c.r, c.x, c.w, &c.s, c.ws);
    gn_conv2d_backward(NULL, NULL, NULL, c.r, c.x, c.w, &c.s, c.ws);
    CHECK_NEAR(maxdiff(dx1, dx, c.nx), 0, 1e-6 * (1 + maxabs(dx, c.nx)));
    CHECK_NEAR(maxdiff(dw1, dw, c.nw), 0, 1e-6 * (1 + maxabs(dw, c.nw)));
    CHECK_NEAR(maxdiff(db1, db, Cout), 0, 1e-6 * (1 + maxabs(db, Cout)));

    /* backward adds: a second call doubles every gradient (fast and ref) */
    gn_conv2d_backward(dx1, dw1, db1, c.r, c.x, c.w, &c.s, c.ws);
    CHECK_NEAR(maxdiff2(dx, dx1, c.nx), 0, 1e-5 * (1 + maxabs(dx, c.nx)));
    CHECK_NEAR(maxdiff2(dw, dw1, c.nw), 0, 1e-5 * (1 + maxabs(dw, c.nw)));
    CHECK_NEAR(maxdiff2(db, db1, Cout), 0, 1e-5 * (1 + maxabs(db, Cout)));
    gn_conv2d_backward_ref(dxr, dwr, dbr, c.r, c.x, c.w, &c.s);
    CHECK_NEAR(maxdiff2(dx, dxr, c.nx), 0, 1e-5 * (1 + maxabs(dx, c.nx)));

    /* finite differences: y is linear in each of x, w, b, so the central
     * difference is exact but for float rounding of the few outputs that
     * move (~1e-6 each over a 2e-2 step): atol 2e-3, rtol 1e-3 */
    if (fd) {
        fd_check("conv dx", conv_loss, &c, c.x, dx, c.nx, 48, 1e-2f, 2e-3, 1e-3);
        fd_check("conv dw", conv_loss, &c, c.w, dw, c.nw, 48, 1e-2f, 2e-3, 1e-3);
        if (bias) fd_check("conv db", conv_loss, &c, c.b, db, Cout, 48, 1e-2f, 2e-3, 1e-3);
    }
    if (check_fail_ > fails)
        fprintf(stderr, "  ^ in conv \"%s\": (%d,%d,%d,%d) -> (%d,%d,%d,%d) k%dx%d s%dx%d "
                        "p%d,%d,%d,%d g%d\n",
                name, B, Cin, H, W, B, Cout, c.s.OH, c.s.OW, KH, KW, SH, SW, PT, PL, PB, PR, groups);
    free(dx), free(dw), free(db), free(dxr), free(dwr), free(dbr), free(dx1), free(dw1);
    free(db1), free(yref), free(c.x), free(c.w), free(c.b), free(c.r), free(c.y), free(c.ws);
}

static void test_conv_shape(void)
{
    gn_conv_shape s = {.B = 2, .Cin = 3, .H = 28, .W = 28, .Cout = 16, .KH = 3, .KW = 3,
                       .SH = 2, .SW = 2, .PT = 1, .PL = 1, .PB = 1, .PR = 1, .groups = 1};
    CHECK(gn_conv_shape_init(&s) == 0);
    CHECK(s.OH == 14 && s.OW == 14); /* (28+2-3)/2+1 */
    s.PB = 0, s.PR = 2, s.SH = 1, s.SW = 3;
    CHECK(gn_conv_shape_init(&s) == 0);
    CHECK(s.OH == 27 && s.OW == 10); /* (28+1+0-3)/1+1, (28+1+2-3)/3+1 */
    gn_conv_shape bad = s;
    bad.groups = 2; /* Cin 3 not divisible */
    CHECK(gn_conv_shape_init(&bad) == -1);
    bad = s, bad.Cin = 4, bad.Cout = 6, bad.groups = 4; /* Cout 6 not divisible */
    CHECK(gn_conv_shape_init(&bad) == -1);
    bad = s, bad.KH = 31; /* kernel taller than the padded input: no output */
    CHECK(gn_conv_shape_init(&bad) == -1);
    bad = s, bad.SW = 0;
    CHECK(gn_conv_shape_init(&bad) == -1);
    bad = s, bad.PL = -1;
    CHECK(gn_conv_shape_init(&bad) == -1);
    bad = s, bad.B = 0;
    CHECK(gn_conv_shape_init(&bad) == -1);
    /* depthwise builds no im2col matrix: its scratch is a dw slice per thread */
    gn_conv_shape d = {.B = 4, .Cin = 8, .H = 5, .W = 5, .Cout = 16, .KH = 3, .KW = 3, .SH = 1,
                       .SW = 1, .PT = 1, .PL = 1, .PB = 1, .PR = 1, .groups = 8};
    CHECK(gn_conv_shape_init(&d) == 0);
    CHECK(gn_conv2d_workspace(&d) <= (size_t)4 * 16 * 9);
}

static void test_conv(void)
{
    test_conv_shape();
    /* name, B, Cin, H, W, Cout, KH, KW, SH, SW, PT, PL, PB, PR, groups, bias, fd */
    conv_case("dense 3x3", 3, 3, 6, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    conv_case("grouped", 2, 4, 5, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 1);
    conv_case("grouped 3 strided", 3, 6, 7, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1, 3, 1, 1);
    conv_case("depthwise m1", 2, 4, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, 1);
    conv_case("depthwise m2", 3, 2, 5, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, 1);
    conv_case("depthwise m2 s2 asym", 3, 3, 7, 6, 6, 3, 3, 2, 2, 0, 1, 1, 0, 3, 1, 1);
    conv_case("depthwise m3 5x3 s(1,2)", 2, 2, 8, 9, 6, 5, 3, 1, 2, 2, 1, 2, 0, 2, 0, 1);
    conv_case("stride 2", 3, 3, 7, 7, 5, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1);
    conv_case("stride (3,2)", 2, 2, 9, 8, 3, 3, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1);
    conv_case("asym pad 2x3 s(1,2)", 2, 3, 5, 6, 4, 2, 3, 1, 2, 0, 2, 1, 0, 1, 1, 1);
    conv_case("asym pad same-width", 2, 2, 5, 6, 3, 3, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1);
    conv_case("asym pad same-width right", 3, 2, 6, 5, 3, 3, 4, 1, 1, 0, 0, 2, 3, 1, 0, 1);
    conv_case("pad beyond kernel", 2, 2, 3, 3, 2, 1, 1, 1, 1, 2, 2, 2, 1, 1, 1, 1);
    conv_case("5x5 pad 3", 2, 2, 4, 4, 3, 5, 5, 1, 1, 3, 3, 3, 3, 1, 1, 1);
    conv_case("kernel beyond input, same size", 2, 2, 2, 3, 3, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1);
    conv_case("same width, valid rows", 2, 3, 5, 6, 4, 3, 3, 1, 1, 0, 1, 0, 1, 1, 1, 1);
    conv_case("1x1", 3, 4, 5, 5, 6, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1);
    conv_case("1x1 grouped", 2, 4, 3, 4, 6, 1, 1, 1, 1, 0, 0, 0, 0, 2, 1, 1);
    conv_case("1x1 s2", 3, 4, 6, 6, 5, 1, 1, 2, 2, 0, 0, 0, 0, 1, 0, 1);
    conv_case("single sample", 1, 3, 6, 6, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    conv_case("single channel in", 5, 1, 8, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    conv_case("28x28 resnet-like", 9, 4, 28, 28, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 1);
    conv_case("14x14 s2 resnet-like", 11, 4, 14, 14, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 0, 1);
    conv_case("large batch 1x1", 20, 8, 4, 4, 8, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0);
    /* few output channels, same size: the direct kernel on padded planes */
    conv_case("3x3 to 1 channel", 5, 6, 7, 9, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    conv_case("5x3 to 3 channels asym pad", 3, 4, 6, 5, 3, 5, 3, 1, 1, 1, 2, 3, 0, 1, 0, 1);
    conv_case("3x3 to 4 channels 28x28", 9, 3, 28, 28, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    conv_case("large batch depthwise", 19, 4, 5, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, 0);
    /* dense 3x3/s1/p1 with >= 8 channels in and out, multiples of 4: Winograd
     * forward and backward to x (odd sizes: a half tile on the edge; large
     * batches: several chunks per thread, the last one partial) */
    conv_case("winograd 8->12 7x9", 3, 8, 7, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    conv_case("winograd 12->8 1x2", 2, 12, 1, 2, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 1);
    conv_case("winograd 16->16 28x28", 9, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    conv_case("winograd 8->8 19x33", 2, 8, 19, 33, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
    conv_case("winograd 8->8 16x15", 2, 8, 16, 15, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 1);
    conv_case("winograd 64->32 7x7", 45, 64, 7, 7, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    /* the serial path (one thread: no pool, OpenBLAS as configured) */
    int nt = gn_get_threads();
    gn_set_threads(1);
    conv_case("dense 1 thread", 5, 3, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    conv_case("grouped 1 thread", 5, 4, 6, 5, 4, 3, 3, 2, 1, 1, 0, 1, 1, 2, 1, 0);
    conv_case("depthwise 1 thread", 5, 4, 6, 5, 8, 3, 3, 1, 1, 1, 1, 1, 1, 4, 1, 0);
    conv_case("3x3 to 2 channels 1 thread", 4, 5, 6, 7, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    conv_case("winograd 1 thread", 23, 32, 14, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0);
    gn_set_threads(nt);
}

/* Every Winograd product kernel this CPU has (plain C, AVX2+FMA, AVX-512)
 * against the reference twin, forward and backward to x; then back to the
 * default choice. */
static void test_wino_isa(void)
{
    static const char *isa[] = {"c", "avx2", "avx512"};
    CHECK(gn_wino_set_isa("c") == 0);
    CHECK(gn_wino_set_isa("sse9") == -1);
    for (int i = 0; i < 3; i++) {
        if (gn_wino_set_isa(isa[i])) {
            CHECK_SKIP("winograd kernel %s: not on this CPU", isa[i]);
            continue;
        }
        const int fails = check_fail_;
        conv_case(isa[i], 5, 16, 9, 10, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
        conv_case(isa[i], 3, 40, 6, 6, 36, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0);
        if (check_fail_ > fails) fprintf(stderr, "  ^ with the %s Winograd kernel\n", isa[i]);
    }
    CHECK(gn_wino_set_isa(NULL) == 0);
}

/* Upsample x2 + 3x3 convolution by the zero-skipping transforms, forward
 * and adjoint, against the reference convolution of the upsampled input
 * (the adjoint: its input gradient summed over each 2x2 block), on every
 * kernel this CPU has; odd sizes and several chunks. */
static void wino_up_case(int B, int Ci, int H, int W, int Co, int bias)
{
    const size_t nx = (size_t)B * Ci * H * W, nu = 4 * nx, ny = (size_t)B * Co * 4 * H * W;
    gn_conv_shape s = {.B = B, .Cin = Ci, .H = 2 * H, .W = 2 * W, .Cout = Co, .KH = 3, .KW = 3,
                       .SH = 1, .SW = 1, .PT = 1, .PL = 1, .PB = 1, .PR = 1, .groups = 1};
    CHECK(gn_conv_shape_init(&s) == 0);
    float *x = rvec(nx, -1, 1), *w = rvec((size_t)Co * Ci * 9, -1, 1), *bv = rvec(Co, -1, 1);
    float *up = vec(nu), *y = vec(ny), *yr = vec(ny), *dy = rvec(ny, -1, 1), *dur = vec(nu);
    float *dxr = vec(nx), *dx = vec(nx), *U = vec(gn_wino_up_u_floats(Co, Ci));
    float *ws = vec(gn_wino_up_floats(Co, Ci, H, W));
    for (size_t p = 0; p < (size_t)B * Ci; p++)
        for (int i = 0; i < 2 * H; i++)
            for (int j = 0; j < 2 * W; j++)
                up[(p * 2 * H + i) * 2 * W + j] = x[(p * H + i / 2) * W + j / 2];
    gn_conv2d_forward_ref(yr, up, w, bias ? bv : NULL, &s);
    float *dwr = vec((size_t)Co * Ci * 9), *dwt = vec((size_t)Co * Ci * 9), *dU = vec(gn_wino_up_u_floats(Co, Ci));
    gn_conv2d_backward_ref(dur, dwr, NULL, dy, up, w, &s);
    for (size_t p = 0; p < (size_t)B * Ci; p++)
        for (int i = 0; i < 2 * H; i++)
            for (int j = 0; j < 2 * W; j++) dxr[(p * H + i / 2) * W + j / 2] += dur[(p * 2 * H + i) * 2 * W + j];
    gn_wino_up_weights(U, w, Co, Ci, 0);
    gn_wino_up_run(y, 0, x, U, bias ? bv : NULL, Co, Ci, H, W, B, 0, NULL, NULL, ws);
    CHECK_NEAR(maxdiff(y, yr, ny), 0, 1e-5 * (1 + maxabs(yr, ny)));
    gn_wino_up_weights(U, w, Co, Ci, 1);
    gn_wino_up_run(dx, 0, dy, U, NULL, Ci, Co, H, W, B, 1, NULL, NULL, ws);
    CHECK_NEAR(maxdiff(dx, dxr, nx), 0, 1e-5 * (1 + maxabs(dxr, nx)));
    gn_wino_up_run(dx, 1, dy, U, NULL, Ci, Co, H, W, B, 1, NULL, NULL, ws); /* adds: twice */
    CHECK_NEAR(maxdiff2(dxr, dx, nx), 0, 2e-5 * (1 + maxabs(dxr, nx)));
    /* the weight gradient, with dx and alone; sums over B*H*W tiles */
    gn_wino_up_run(dx, 0, dy, U, NULL, Ci, Co, H, W, B, 1, dU, x, ws);
    CHECK_NEAR(maxdiff(dx, dxr, nx), 0, 1e-5 * (1 + maxabs(dxr, nx)));
    gn_wino_up_run(NULL, 0, dy, U, NULL, Ci, Co, H, W, B, 1, dU, x, ws); /* dU doubles */
    for (size_t i = 0; i < gn_wino_up_u_floats(Co, Ci); i++) dU[i] *= 0.5f;
    gn_wino_up_dw(dwt, dU, Co, Ci);
    CHECK_NEAR(maxdiff(dwt, dwr, (size_t)Co * Ci * 9), 0, 1e-5 * (1 + maxabs(dwr, (size_t)Co * Ci * 9)));
    free(dwr), free(dwt), free(dU);
    free(x), free(w), free(bv), free(up), free(y), free(yr), free(dy), free(dur), free(dxr);
    free(dx), free(U), free(ws);
}

static void test_wino_up(void)
{
    static const char *isa[] = {"c", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        if (gn_wino_set_isa(isa[i])) continue;
        const int fails = check_fail_;
        wino_up_case(3, 8, 7, 7, 12, 1);
        wino_up_case(2, 4, 3, 5, 8, 0);
        wino_up_case(70, 16, 7, 7, 8, 1); /* several chunks, the last partial */
        if (check_fail_ > fails) fprintf(stderr, "  ^ upsample pair, %s kernel\n", isa[i]);
    }
    CHECK(gn_wino_set_isa(NULL) == 0);
}

/* ---- batch normalisation -------------------------------------------------- */

typedef struct {
    gn_bn_shape s;
    float *x, *gamma, *beta, *rmean, *rvar, *y, *r, *mean, *invstd;
    size_t n;
    int train;
} bn_ctx;

static double bn_loss(void *p)
{
    bn_ctx *c = p;
    if (c->train)
        gn_bn_forward_train(c->y, c->mean, c->invstd, c->x, c->gamma, c->beta, &c->s);
    else
        gn_bn_forward_infer(c->y, c->x, c->gamma, c->beta, c->rmean, c->rvar, &c->s);
    return dot(c->y, c->r, c->n);
}

static void test_bn_infer(int HW)
{
    const int B = 3, C = 4;
    bn_ctx c = {.s = {B, C, HW, 1e-5f}, .n = (size_t)B * C * HW};
    c.x = rvec(c.n, -2, 2);
    c.gamma = rvec(C, 0.5f, 1.5f), c.beta = rvec(C, -1, 1);
    c.rmean = rvec(C, -0.5f, 0.5f), c.rvar = rvec(C, 0.2f, 2);
    c.y = vec(c.n), c.r = rvec(c.n, -1, 1);
    bn_loss(&c);
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int ch = 0; ch < C; ch++)
            for (int i = 0; i < HW; i++) {
                size_t k = ((size_t)b * C + ch) * HW + i;
                double want = c.gamma[ch] * (c.x[k] - c.rmean[ch]) /
                                  sqrt((double)c.rvar[ch] + 1e-5) + c.beta[ch];
                worst = fmax(worst, fabs(want - c.y[k]));
            }
    CHECK_NEAR(worst, 0, 1e-5);
    /* gamma/beta NULL = 1/0 (element HW+2 is in channel 1) */
    float *y0 = vec(c.n);
    gn_bn_forward_infer(y0, c.x, NULL, NULL, c.rmean, c.rvar, &c.s);
    CHECK_NEAR(y0[HW + 2], (c.x[HW + 2] - c.rmean[1]) / sqrt((double)c.rvar[1] + 1e-5), 1e-5);

    float *dx = vec(c.n), *dg = vec(C), *dbt = vec(C);
    gn_bn_backward_infer(dx, dg, dbt, c.r, c.x, c.gamma, c.rmean, c.rvar, &c.s);
    /* linear in x, gamma, beta: exact but for rounding; atol 1e-3 over a 1e-2 step */
    fd_check("bn_infer dx", bn_loss, &c, c.x, dx, c.n, 100, 1e-2f, 1e-3, 1e-3);
    fd_check("bn_infer dgamma", bn_loss, &c, c.gamma, dg, C, 100, 1e-2f, 1e-3, 1e-3);
    fd_check("bn_infer dbeta", bn_loss, &c, c.beta, dbt, C, 100, 1e-2f, 1e-3, 1e-3);
    /* NULL gradients and accumulation */
    float *dx2 = copy(dx, c.n), *dg2 = copy(dg, C), *db2 = copy(dbt, C);
    gn_bn_backward_infer(dx2, NULL, NULL, c.r, c.x, c.gamma, c.rmean, c.rvar, &c.s);
    gn_bn_backward_infer(NULL, dg2, NULL, c.r, c.x, c.gamma, c.rmean, c.rvar, &c.s);
    gn_bn_backward_infer(NULL, NULL, db2, c.r, c.x, c.gamma, c.rmean, c.rvar, &c.s);
    CHECK_NEAR(maxdiff2(dx, dx2, c.n), 0, 1e-5);
    CHECK_NEAR(maxdiff2(dg, dg2, C), 0, 1e-5);
    CHECK_NEAR(maxdiff2(dbt, db2, C), 0, 1e-5);
    /* without affine: dx = dy/sqrt(var+eps) */
    float *dx0 = vec(c.n);
    gn_bn_backward_infer(dx0, NULL, NULL, c.r, c.x, NULL, c.rmean, c.rvar, &c.s);
    CHECK_NEAR(dx0[HW + 4], c.r[HW + 4] / sqrt((double)c.rvar[1] + 1e-5), 1e-5); /* channel 1 */
    free(c.x), free(c.gamma), free(c.beta), free(c.rmean), free(c.rvar), free(c.y), free(c.r);
    free(y0), free(dx), free(dg), free(dbt), free(dx2), free(dg2), free(db2), free(dx0);
}

/* A tap (gn_bn_tap): the forward's moments are gn_chan_moments' bits and
 * its output the untapped forward's; the backward is the loss term written
 * first and the BN's backward added after, bit for bit, with and without a
 * fused ReLU, as first writer and adding. */
static void test_bn_tap(int HW)
{
    const int B = 3, C = 5;
    const size_t n = (size_t)B * C * HW;
    gn_bn_shape s = {B, C, HW, 1e-5f};
    float *x = rvec(n, -2, 2), *gamma = rvec(C, 0.5f, 1.5f), *beta = rvec(C, -1, 1);
    float *rmean = rvec(C, -0.5f, 0.5f), *rvar = rvec(C, 0.2f, 2), *dy = rvec(n, -1, 1);
    float *la = rvec(C, -1, 1), *lb = rvec(C, -1, 1), *lm = rvec(C, -1, 1);
    float *y = vec(n), *y0 = vec(n), *dx = vec(n), *want = vec(n), *prev = rvec(n, -1, 1);
    double mom[2 * 5], m[5], q[5];
    for (int kind = 0; kind < 4; kind++) { /* none, ReLU, Clip, LeakyReLU */
        static const int kinds[4] = {0, GN_SET_RELU, GN_SET_CLIP, GN_SET_LEAKY};
        gn_act_fuse a = {.kind = kinds[kind], .z = y, .p = kind == 2 ? -0.5f : 0.2f, .q = 0.7f};
        const gn_act_fuse *act = kind ? &a : NULL;
        const int relu = kind != 0;
        gn_bn_tap tap = {.mom = mom, .a = la, .b = lb, .m = lm};
        gn_bn_forward_infer_tap(y, x, gamma, beta, rmean, rvar, &s, act, &tap);
        gn_bn_forward_infer_act(y0, x, gamma, beta, rmean, rvar, &s, act);
        gn_chan_moments(m, q, x, B, C, HW);
        CHECK(!memcmp(y, y0, n * sizeof(float)));
        CHECK(!memcmp(mom, m, sizeof m) && !memcmp(mom + C, q, sizeof q));
        for (int set = 0; set < 2; set++) {
            for (size_t i = 0; i < n; i++) {
                const int c = (int)(i / HW % C);
                const float t = la[c] + lb[c] * (x[i] - lm[c]);
                want[i] = set ? 0.0f + t : prev[i] + t;
                dx[i] = prev[i];
            }
            if (relu)
                gn_bn_backward_infer_act(want, NULL, NULL, dy, x, gamma, rmean, rvar, &s, 0, act);
            else
                gn_bn_backward_infer(want, NULL, NULL, dy, x, gamma, rmean, rvar, &s);
            gn_bn_backward_infer_tap(dx, NULL, NULL, dy, x, gamma, rmean, rvar, &s, set, act, &tap);
            CHECK(!memcmp(dx, want, n * sizeof(float)));
        }
    }
    free(x), free(gamma), free(beta), free(rmean), free(rvar), free(dy), free(la), free(lb);
    free(lm), free(y), free(y0), free(dx), free(want), free(prev);
}

/* C is 3; HW below and above the kernels' 8-wide blocks */
static void test_bn_train(int B, int HW)
{
    const int C = 3;
    bn_ctx c = {.s = {B, C, HW, 1e-5f}, .n = (size_t)B * C * HW, .train = 1};
    c.x = vec(c.n);
    for (size_t k = 0; k < c.n; k++) {
        int ch = (int)(k / HW % C);
        c.x[k] = urand(-1, 1) * (float)(ch + 1) + (float)ch - 1; /* per-channel spread and offset */
    }
    c.gamma = rvec(C, 0.5f, 1.5f), c.beta = rvec(C, -1, 1);
    c.y = vec(c.n), c.r = rvec(c.n, -1, 1), c.mean = vec(C), c.invstd = vec(C);

    /* without affine: per-channel mean 0 and (biased) variance var/(var+eps) ~ 1 */
    gn_bn_forward_train(c.y, c.mean, c.invstd, c.x, NULL, NULL, &c.s);
    const double n = (double)B * HW;
    for (int ch = 0; ch < C; ch++) {
        double sx = 0, sxx = 0, sy = 0, syy = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                size_t k = ((size_t)b * C + ch) * HW + i;
                sx += c.x[k], sy += c.y[k];
            }
        double mx = sx / n, my = sy / n;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                size_t k = ((size_t)b * C + ch) * HW + i;
                sxx += (c.x[k] - mx) * (c.x[k] - mx), syy += (c.y[k] - my) * (c.y[k] - my);
            }
        CHECK_NEAR(my, 0, 1e-6);
        CHECK_NEAR(syy / n, 1, 2e-4); /* 1 - eps/var, var >= ~0.1 */
        CHECK_NEAR(c.mean[ch], mx, 1e-6);
        CHECK_NEAR(c.invstd[ch], 1 / sqrt(sxx / n + 1e-5), 1e-5 * c.invstd[ch]);

        /* running update: PyTorch's rule with the unbiased variance */
        float rm = 0.25f, rv = 1.5f;
        gn_bn_shape s1 = c.s;
        s1.C = 1;
        gn_bn_update_running(&rm, &rv, &c.mean[ch], &c.invstd[ch], 0.1f, &s1);
        CHECK_NEAR(rm, 0.9 * 0.25 + 0.1 * mx, 1e-6);
        CHECK_NEAR(rv, 0.9 * 1.5 + 0.1 * sxx / (n - 1), 1e-5);
    }
    /* with affine: mean beta, std |gamma| */
    gn_bn_forward_train(c.y, c.mean, c.invstd, c.x, c.gamma, c.beta, &c.s);
    for (int ch = 0; ch < C; ch++) {
        double sy = 0, syy = 0;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) sy += c.y[((size_t)b * C + ch) * HW + i];
        double my = sy / n;
        for (int b = 0; b < B; b++)
            for (int i = 0; i < HW; i++) {
                double d = c.y[((size_t)b * C + ch) * HW + i] - my;
                syy += d * d;
            }
        CHECK_NEAR(my, c.beta[ch], 1e-5);
        CHECK_NEAR(sqrt(syy / n), c.gamma[ch], 2e-4);
    }
    /* all channels of the update at once, momentum 0.3 */
    {
        float rm[3] = {0, 1, 2}, rv[3] = {1, 2, 3};
        gn_bn_update_running(rm, rv, c.mean, c.invstd, 0.3f, &c.s);
        double var2 = 1.0 / ((double)c.invstd[2] * c.invstd[2]) - 1e-5;
        CHECK_NEAR(rm[2], 0.7 * 2 + 0.3 * c.mean[2], 1e-6);
        CHECK_NEAR(rv[2], 0.7 * 3 + 0.3 * var2 * n / (n - 1), 1e-5);
    }

    /* full backward through the batch statistics vs finite differences: the
     * loss is smooth, so a 5e-3 step leaves an O(h^2) ~ 1e-5 truncation error
     * and float noise of ~1e-4; atol 1e-3, rtol 5e-3 */
    float *dx = vec(c.n), *dg = vec(C), *dbt = vec(C);
    gn_bn_forward_train(c.y, c.mean, c.invstd, c.x, c.gamma, c.beta, &c.s);
    gn_bn_backward_train(dx, dg, dbt, c.r, c.x, c.mean, c.invstd, c.gamma, &c.s);
    fd_check("bn_train dx", bn_loss, &c, c.x, dx, c.n, 100, 5e-3f, 1e-3, 5e-3);
    fd_check("bn_train dgamma", bn_loss, &c, c.gamma, dg, C, 100, 5e-3f, 1e-3, 5e-3);
    fd_check("bn_train dbeta", bn_loss, &c, c.beta, dbt, C, 100, 5e-3f, 1e-3, 5e-3);
    /* the sum over a channel of dx is 0 (the mean is subtracted) */
    double sdx = 0;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < HW; i++) sdx += dx[((size_t)b * C + 1) * HW + i];
    CHECK_NEAR(sdx, 0, 1e-5);

    /* NULL gradients and accumulation */
    gn_bn_forward_train(c.y, c.mean, c.invstd, c.x, c.gamma, c.beta, &c.s);
    float *dx2 = copy(dx, c.n), *dg2 = copy(dg, C), *db2 = copy(dbt, C);
    gn_bn_backward_train(dx2, NULL, NULL, c.r, c.x, c.mean, c.invstd, c.gamma, &c.s);
    gn_bn_backward_train(NULL, dg2, NULL, c.r, c.x, c.mean, c.invstd, c.gamma, &c.s);
    gn_bn_backward_train(NULL, NULL, db2, c.r, c.x, c.mean, c.invstd, c.gamma, &c.s);
    gn_bn_backward_train(NULL, NULL, NULL, c.r, c.x, c.mean, c.invstd, c.gamma, &c.s);
    CHECK_NEAR(maxdiff2(dx, dx2, c.n), 0, 1e-5);
    CHECK_NEAR(maxdiff2(dg, dg2, C), 0, 1e-5);
    CHECK_NEAR(maxdiff2(dbt, db2, C), 0, 1e-5);

    /* no affine: gamma = beta = NULL */
    float *gsave = c.gamma, *bsave = c.beta;
    c.gamma = c.beta = NULL;
    float *dx0 = vec(c.n);
    gn_bn_forward_train(c.y, c.mean, c.invstd, c.x, NULL, NULL, &c.s);
    gn_bn_backward_train(dx0, NULL, NULL, c.r, c.x, c.mean, c.invstd, NULL, &c.s);
    fd_check("bn_train dx (no affine)", bn_loss, &c, c.x, dx0, c.n, 100, 5e-3f, 1e-3, 5e-3);
    c.gamma = gsave, c.beta = bsave;
    free(c.x), free(c.gamma), free(c.beta), free(c.y), free(c.r), free(c.mean), free(c.invstd);
    free(dx), free(dg), free(dbt), free(dx2), free(dg2), free(db2), free(dx0);
}

/* ---- element-wise activations --------------------------------------------- */

enum { ACT_RELU, ACT_CLIP, ACT_LEAKY, ACT_TANH, ACT_ADD_A, ACT_ADD_B };

typedef struct {
    int kind;
    float *x, *x2, *y, *r;
    size_t n;
} act_ctx;

static const float clip_lo = -0.5f, clip_hi = 1.0f, slope = 0.1f;

static void act_forward(act_ctx *c)
{
    switch (c->kind) {
    case ACT_RELU: gn_relu_forward(c->y, c->x, c->n); break;
    case ACT_CLIP: gn_clip_forward(c->y, c->x, clip_lo, clip_hi, c->n); break;
    case ACT_LEAKY: gn_leaky_forward(c->y, c->x, slope, c->n); break;
    case ACT_TANH: gn_tanh_forward(c->y, c->x, c->n); break;
    default: gn_add_forward(c->y, c->x, c->x2, c->n); break;
    }
}

static double act_loss(void *p)
{
    act_ctx *c = p;
    act_forward(c);
    return dot(c->y, c->r, c->n);
}

static void act_backward(act_ctx *c, float *dx)
{
    switch (c->kind) {
    case ACT_RELU: gn_relu_backward(dx, c->r, c->x, c->n); break;
    case ACT_CLIP: gn_clip_backward(dx, c->r, c->x, clip_lo, clip_hi, c->n); break;
    case ACT_LEAKY: gn_leaky_backward(dx, c->r, c->x, slope, c->n); break;
    case ACT_TANH: gn_tanh_backward(dx, c->r, c->y, c->n); break;
    default: gn_accum(dx, c->r, c->n); break; /* Add: each input gets dy */
    }
}

/* a value in [-2,2] at least 0.05 away from 0, lo and hi (the kinks) */
static float off_kink(void)
{
    for (;;) {
        float v = urand(-2, 2);
        if (fabsf(v) > 0.05f && fabsf(v - clip_lo) > 0.05f && fabsf(v - clip_hi) > 0.05f) return v;
    }
}

static void test_act(void)
{
    static const char *names[] = {"relu", "clip", "leaky", "tanh", "add a", "add b"};
    const size_t n = 101;
    for (int kind = ACT_RELU; kind <= ACT_ADD_B; kind++) {
        act_ctx c = {.kind = kind, .n = n};
        c.x = vec(n), c.x2 = vec(n), c.y = vec(n), c.r = rvec(n, -1, 1);
        for (size_t i = 0; i < n; i++) c.x[i] = off_kink(), c.x2[i] = urand(-2, 2);
        act_forward(&c);
        float *dx = vec(n);
        act_backward(&c, dx);
        /* steps of 1e-3 never cross a kink 0.05 away: piecewise-linear ops
         * are exact but for rounding (atol 1e-4); tanh has an O(h^2) ~ 1e-6
         * truncation error (atol 2e-4) */
        char what[32];
        snprintf(what, sizeof what, "%s dx", names[kind]);
        float *p = kind == ACT_ADD_B ? c.x2 : c.x;
        fd_check(what, act_loss, &c, p, dx, n, n, 1e-3f, 2e-4, 1e-3);
        /* backward adds; NULL is allowed */
        act_forward(&c);
        float *dx2 = copy(dx, n);
        act_backward(&c, dx2);
        act_backward(&c, NULL);
        CHECK_NEAR(maxdiff2(dx, dx2, n), 0, 1e-6);
        free(c.x), free(c.x2), free(c.y), free(c.r), free(dx), free(dx2);
    }
    /* forward values and the gradient exactly at the kinks */
    float x[6] = {-1, 0, 0.5f, 2, -0.5f, 1}, y[6], dy[6] = {1, 1, 1, 1, 1, 1}, dx[6] = {0};
    gn_relu_forward(y, x, 6);
    CHECK(y[0] == 0 && y[1] == 0 && y[2] == 0.5f && y[3] == 2);
    gn_relu_backward(dx, dy, x, 6);
    CHECK(dx[0] == 0 && dx[1] == 0 && dx[2] == 1 && dx[3] == 1); /* ReLU'(0) = 0 */
    gn_clip_forward(y, x, -0.5f, 1.0f, 6);
    CHECK(y[0] == -0.5f && y[2] == 0.5f && y[3] == 1.0f && y[4] == -0.5f && y[5] == 1.0f);
    memset(dx, 0, sizeof dx);
    gn_clip_backward(dx, dy, x, -0.5f, 1.0f, 6);
    CHECK(dx[0] == 0 && dx[2] == 1 && dx[3] == 0 && dx[4] == 0 && dx[5] == 0); /* ends closed */
    gn_leaky_forward(y, x, 0.2f, 6);
    CHECK_NEAR(y[0], -0.2, 1e-7);
    CHECK(y[3] == 2);
    gn_tanh_forward(y, x, 6);
    CHECK_NEAR(y[3], tanh(2.0), 1e-6);
    float a[3] = {1, 2, 3}, b[3] = {0.5f, -2, 4}, s[3];
    gn_add_forward(s, a, b, 3);
    CHECK(s[0] == 1.5f && s[1] == 0 && s[2] == 7);
}

/* ---- pooling -------------------------------------------------------------- */

typedef struct {
    gn_pool_shape s;
    int kind; /* 0 max, 1 avg, 2 gap, 3 upsample */
    float *x, *y, *r;
    int *am;
    size_t nx, ny;
} pool_ctx;

static double pool_loss(void *p)
{
    pool_ctx *c = p;
    const gn_pool_shape *s = &c->s;
    switch (c->kind) {
    case 0: gn_maxpool_forward(c->y, c->am, c->x, s); break;
    case 1: gn_avgpool_forward(c->y, c->x, s); break;
    case 2: gn_gap_forward(c->y, c->x, s->B, s->C, s->H * s->W); break;
    default: gn_upsample2_forward(c->y, c->x, s->B, s->C, s->H, s->W); break;
    }
    return dot(c->y, c->r, c->ny);
}

/* naive pooling by the definition, padding cells as -inf / excluded */
static void pool_naive(float *y, const float *x, const gn_pool_shape *s, int max)
{
    for (int pl = 0; pl < s->B * s->C; pl++)
        for (int oh = 0; oh < s->OH; oh++)
            for (int ow = 0; ow < s->OW; ow++) {
                double m = -INFINITY, sum = 0;
                int cnt = 0;
                for (int kh = 0; kh < s->KH; kh++)
                    for (int kw = 0; kw < s->KW; kw++) {
                        int h = oh * s->SH - s->PT + kh, w = ow * s->SW - s->PL + kw;
                        if (h < 0 || h >= s->H || w < 0 || w >= s->W) continue;
                        double v = x[((size_t)pl * s->H + h) * s->W + w];
                        m = v > m ? v : m;
                        sum += v;
                        cnt++;
                    }
                double div = s->count_include_pad ? s->KH * s->KW : cnt;
                y[((size_t)pl * s->OH + oh) * s->OW + ow] = (float)(max ? m : sum / div);
            }
}

static void pool_case(int kind, int B, int C, int H, int W, int KH, int KW, int SH, int SW,
                      int PT, int PL, int PB, int PR, int cip)
{
    static const char *names[] = {"maxpool", "avgpool", "gap", "upsample2"};
    pool_ctx c = {.kind = kind,
                  .s = {.B = B, .C = C, .H = H, .W = W, .KH = KH, .KW = KW, .SH = SH, .SW = SW,
                        .PT = PT, .PL = PL, .PB = PB, .PR = PR, .count_include_pad = cip}};
    if (kind <= 1) {
        int rc = gn_pool_shape_init(&c.s);
        CHECK(rc == 0);
        if (rc) return;
    }
    c.nx = (size_t)B * C * H * W;
    c.ny = kind <= 1 ? (size_t)B * C * c.s.OH * c.s.OW : kind == 2 ? (size_t)B * C : 4 * c.nx;
    /* distinct values in [-1,1), `gap` apart, randomly permuted: no ties, and
     * a step of gap/4 never changes which cell wins a max window */
    const float gap = 2.0f / (float)c.nx, h = gap / 4 < 1e-2f ? gap / 4 : 1e-2f;
    c.x = vec(c.nx);
    for (size_t i = 0; i < c.nx; i++) c.x[i] = gap * (float)i - 1.0f;
    for (size_t i = c.nx - 1; i > 0; i--) {
        size_t j = xorshift() % (i + 1);
        float t = c.x[i];
        c.x[i] = c.x[j], c.x[j] = t;
    }
    c.y = vec(c.ny), c.r = rvec(c.ny, -1, 1);
    c.am = gn_xcalloc(c.ny, sizeof(int));
    pool_loss(&c);
    if (kind <= 1) {
        float *yn = vec(c.ny);
        pool_naive(yn, c.x, &c.s, kind == 0);
        CHECK_NEAR(maxdiff(c.y, yn, c.ny), 0, 1e-6);
        free(yn);
    }
    if (kind == 0) {
        /* argmax: in the plane, and pointing at the value that was output */
        int ok = 1;
        size_t P = (size_t)c.s.OH * c.s.OW, HW = (size_t)H * W;
        for (size_t i = 0; i < c.ny; i++)
            ok &= c.am[i] >= 0 && (size_t)c.am[i] < HW && c.x[(i / P) * HW + c.am[i]] == c.y[i];
        CHECK(ok);
    }
    float *dx = vec(c.nx);
    switch (kind) {
    case 0: gn_maxpool_backward(dx, c.r, c.am, &c.s); break;
    case 1: gn_avgpool_backward(dx, c.r, &c.s); break;
    case 2: gn_gap_backward(dx, c.r, B, C, H * W); break;
    default: gn_upsample2_backward(dx, c.r, B, C, H, W); break;
    }
    /* linear (max: piecewise linear, no kink crossed): exact but for the
     * rounding of y (~1e-7) over the step 2h >= 2e-3: atol 2e-4 */
    char what[32];
    snprintf(what, sizeof what, "%s dx", names[kind]);
    fd_check(what, pool_loss, &c, c.x, dx, c.nx, 200, h, 2e-4, 1e-3);
    /* backward adds; NULL is allowed */
    pool_loss(&c);
    float *dx2 = copy(dx, c.nx);
    switch (kind) {
    case 0:
        gn_maxpool_backward(dx2, c.r, c.am, &c.s);
        gn_maxpool_backward(NULL, c.r, c.am, &c.s);
        break;
    case 1:
        gn_avgpool_backward(dx2, c.r, &c.s);
        gn_avgpool_backward(NULL, c.r, &c.s);
        break;
    case 2:
        gn_gap_backward(dx2, c.r, B, C, H * W);
        gn_gap_backward(NULL, c.r, B, C, H * W);
        break;
    default:
        gn_upsample2_backward(dx2, c.r, B, C, H, W);
        gn_upsample2_backward(NULL, c.r, B, C, H, W);
        break;
    }
    CHECK_NEAR(maxdiff2(dx, dx2, c.nx), 0, 1e-6);
    free(c.x), free(c.y), free(c.r), free(c.am), free(dx), free(dx2);
}

static void test_pool(void)
{
    gn_pool_shape s = {.B = 1, .C = 1, .H = 7, .W = 6, .KH = 3, .KW = 2, .SH = 2, .SW = 2,
                       .PT = 1, .PL = 0, .PB = 1, .PR = 1};
    CHECK(gn_pool_shape_init(&s) == 0);
    CHECK(s.OH == 4 && s.OW == 3); /* (7+2-3)/2+1, (6+1-2)/2+1 */
    gn_pool_shape bad = s;
    bad.PL = 2; /* a pad as large as the kernel could give an all-padding window */
    CHECK(gn_pool_shape_init(&bad) == -1);
    bad = s, bad.SH = 0;
    CHECK(gn_pool_shape_init(&bad) == -1);
    bad = s, bad.KW = 9;
    CHECK(gn_pool_shape_init(&bad) == -1);

    /* kind, B, C, H, W, KH, KW, SH, SW, PT, PL, PB, PR, count_include_pad */
    pool_case(0, 2, 3, 6, 6, 2, 2, 2, 2, 0, 0, 0, 0, 0);
    pool_case(0, 2, 2, 7, 6, 3, 2, 2, 2, 1, 0, 1, 1, 0);
    pool_case(0, 1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0); /* overlapping windows */
    pool_case(1, 2, 2, 7, 6, 3, 2, 2, 2, 1, 0, 1, 1, 0);
    pool_case(1, 2, 2, 7, 6, 3, 2, 2, 2, 1, 0, 1, 1, 1);
    pool_case(1, 1, 2, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1);
    pool_case(2, 3, 4, 5, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    pool_case(3, 2, 3, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /* padding never wins a max window: all inputs negative */
    {
        gn_pool_shape p = {.B = 1, .C = 1, .H = 3, .W = 3, .KH = 2, .KW = 2, .SH = 2, .SW = 2,
                           .PT = 1, .PL = 1, .PB = 1, .PR = 1};
        CHECK(gn_pool_shape_init(&p) == 0);
        float x[9] = {-9, -8, -7, -6, -5, -4, -3, -2, -1}, y[4];
        int am[4];
        gn_maxpool_forward(y, am, x, &p);
        CHECK(y[0] == -9 && am[0] == 0); /* window of (0,0) alone */
        CHECK(y[3] == -1 && am[3] == 8); /* window rows 1-2, cols 1-2 */
        CHECK(y[1] == -7 && am[1] == 2);
        /* average of the corner: -9 over 1 real cell, or over 4 with the pad */
        gn_avgpool_forward(y, x, &p);
        CHECK_NEAR(y[0], -9, 1e-6);
        p.count_include_pad = 1;
        gn_avgpool_forward(y, x, &p);
        CHECK_NEAR(y[0], -9.0 / 4, 1e-6);
        CHECK_NEAR(y[3], (-5 - 4 - 2 - 1) / 4.0, 1e-6);
    }
    /* upsample mapping and GAP values */
    {
        float x[4] = {1, 2, 3, 4}, y[16], g[1];
        gn_upsample2_forward(y, x, 1, 1, 2, 2);
        CHECK(y[0] == 1 && y[1] == 1 && y[2] == 2 && y[3] == 2 && y[4] == 1 && y[5] == 1);
        CHECK(y[8] == 3 && y[11] == 4 && y[15] == 4);
        gn_gap_forward(g, x, 1, 1, 4);
        CHECK_NEAR(g[0], 2.5, 1e-7);
    }
}

/* ---- fully connected ------------------------------------------------------ */

typedef struct {
    int B, I, O;
    float *x, *w, *b, *y, *r;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    gn_linear_forward(c->y, c->x, c->w, c->b, c->B, c->I, c->O);
    return dot(c->y, c->r, (size_t)c->B * c->O);
}

static void linear_case(int B, int I, int O, int bias, int fd)
{
    lin_ctx c = {.B = B, .I = I, .O = O};
    size_t nx = (size_t)B * I, nw = (size_t)O * I, ny = (size_t)B * O;
    c.x = rvec(nx, -1, 1), c.w = rvec(nw, -1, 1), c.b = bias ? rvec(O, -1, 1) : NULL;
    c.y = vec(ny), c.r = rvec(ny, -1, 1);
    float *yr = vec(ny);
    gn_linear_forward(c.y, c.x, c.w, c.b, B, I, O);
    gn_linear_forward_ref(yr, c.x, c.w, c.b, B, I, O);
    CHECK_NEAR(maxdiff(c.y, yr, ny), 0, 1e-5 * (1 + maxabs(yr, ny)));
    /* backward against the definition in double */
    float *dx = vec(nx), *dw = vec(nw), *db = vec(O);
    gn_linear_backward(dx, dw, db, c.r, c.x, c.w, B, I, O);
    double ex = 0, ew = 0, eb = 0;
    for (int n = 0; n < B; n++)
        for (int i = 0; i < I; i++) {
            double s = 0;
            for (int o = 0; o < O; o++) s += (double)c.r[(size_t)n * O + o] * c.w[(size_t)o * I + i];
            ex = fmax(ex, fabs(s - dx[(size_t)n * I + i]));
        }
    for (int o = 0; o < O; o++) {
        double sb = 0;
        for (int n = 0; n < B; n++) sb += c.r[(size_t)n * O + o];
        eb = fmax(eb, fabs(sb - db[o]));
        for (int i = 0; i < I; i++) {
            double s = 0;
            for (int n = 0; n < B; n++) s += (double)c.r[(size_t)n * O + o] * c.x[(size_t)n * I + i];
            ew = fmax(ew, fabs(s - dw[(size_t)o * I + i]));
        }
    }
    CHECK_NEAR(ex, 0, 1e-5 * (1 + O));
    CHECK_NEAR(ew, 0, 1e-5 * (1 + B));
    CHECK_NEAR(eb, 0, 1e-5 * (1 + B));
    /* linear in x, w, b: exact but for rounding */
    if (fd) {
        fd_check("linear dx", lin_loss, &c, c.x, dx, nx, 60, 1e-2f, 1e-3, 1e-3);
        fd_check("linear dw", lin_loss, &c, c.w, dw, nw, 60, 1e-2f, 1e-3, 1e-3);
        if (bias) fd_check("linear db", lin_loss, &c, c.b, db, O, 60, 1e-2f, 1e-3, 1e-3);
    }
    /* subsets and accumulation */
    float *dx2 = copy(dx, nx), *dw2 = copy(dw, nw), *db2 = copy(db, O);
    gn_linear_backward(dx2, NULL, NULL, c.r, c.x, c.w, B, I, O);
    gn_linear_backward(NULL, dw2, NULL, c.r, c.x, c.w, B, I, O);
    gn_linear_backward(NULL, NULL, db2, c.r, c.x, c.w, B, I, O);
    gn_linear_backward(NULL, NULL, NULL, c.r, c.x, c.w, B, I, O);
    CHECK_NEAR(maxdiff2(dx, dx2, nx), 0, 1e-5 * (1 + maxabs(dx, nx)));
    CHECK_NEAR(maxdiff2(dw, dw2, nw), 0, 1e-5 * (1 + maxabs(dw, nw)));
    CHECK_NEAR(maxdiff2(db, db2, O), 0, 1e-5 * (1 + maxabs(db, O)));
    free(c.x), free(c.w), free(c.b), free(c.y), free(c.r), free(yr);
    free(dx), free(dw), free(db), free(dx2), free(dw2), free(db2);
}

static void test_linear(void)
{
    linear_case(5, 7, 4, 1, 1);
    linear_case(3, 6, 5, 0, 1);
    linear_case(33, 65, 17, 1, 0);
    linear_case(128, 64, 10, 1, 0);
}

/* ---- softmax cross-entropy ------------------------------------------------ */

typedef struct {
    int B, K;
    float *logits;
    int *labels;
} xent_ctx;

static double xent_loss(void *p)
{
    xent_ctx *c = p;
    return gn_xent_forward_backward(NULL, NULL, c->logits, c->labels, c->B, c->K, 1.0f);
}

static void test_xent(void)
{
    const int B = 4, K = 5;
    xent_ctx c = {.B = B, .K = K};
    c.logits = rvec((size_t)B * K, -3, 3);
    int labels[4] = {0, 3, 4, 3};
    c.labels = labels;
    /* loss by the definition, in double */
    double want = 0;
    for (int n = 0; n < B; n++) {
        double se = 0;
        for (int k = 0; k < K; k++) se += exp(c.logits[n * K + k]);
        want += log(se) - c.logits[n * K + labels[n]];
    }
    want /= B;
    float *dl = vec((size_t)B * K), *probs = vec((size_t)B * K);
    float loss = gn_xent_forward_backward(dl, probs, c.logits, labels, B, K, 1.0f);
    CHECK_NEAR(loss, want, 1e-6 * (1 + want));
    double worst = 0;
    for (int n = 0; n < B; n++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += probs[n * K + k];
        worst = fmax(worst, fabs(s - 1));
    }
    CHECK_NEAR(worst, 0, 1e-6);
    /* smooth: O(h^2) truncation ~1e-6 and float rounding of the returned
     * loss (~1e-7 relative, over 2h = 1e-2): atol 1e-4 */
    fd_check("xent dlogits", xent_loss, &c, c.logits, dl, (size_t)B * K, 100, 5e-3f, 1e-4, 1e-3);
    /* adds scale*(p - onehot)/B; probs NULL recomputes; dlogits NULL allowed */
    float *dl2 = copy(dl, (size_t)B * K);
    float loss2 = gn_xent_forward_backward(dl2, NULL, c.logits, labels, B, K, 2.5f);
    CHECK(loss2 == loss);
    double e = 0;
    for (int i = 0; i < B * K; i++) e = fmax(e, fabs(dl2[i] - 3.5 * dl[i]));
    CHECK_NEAR(e, 0, 1e-6);
    CHECK(gn_xent_forward_backward(NULL, NULL, c.logits, labels, B, K, 1.0f) == loss);
    /* numerically stable for huge logits */
    float big[6] = {1000, 999, -1000, -5000, 0, 5000};
    int lb[2] = {1, 0};
    float g[6] = {0};
    float lbig = gn_xent_forward_backward(g, NULL, big, lb, 2, 3, 1.0f);
    double w0 = log(1 + exp(1.0) + exp(-1999.0)) + 0.0; /* row 0, label 1: lse - 999 */
    double w1 = 10000;                                   /* row 1, label 0: 5000 - (-5000) */
    CHECK(isfinite(lbig));
    CHECK_NEAR(lbig, (w0 + w1) / 2, 1e-3);
    CHECK(isfinite(g[0]) && isfinite(g[5]));
    CHECK_NEAR(g[3], -0.5, 1e-6); /* (p=0 - 1)/B */
    CHECK_NEAR(g[5], 0.5, 1e-6);  /* (p=1 - 0)/B */
    free(c.logits), free(dl), free(probs), free(dl2);
}

/* ---- the operator pool ------------------------------------------------------ */

/* op_conv.c's thread pool, which BatchNorm and the element-wise operators
 * borrow (not in gn_ops.h, whose API is fixed) */

static void mark_part(void *ctx, int t, int T)
{
    int *seen = ctx;
    seen[t] = T;
}

/* Large tensors take the pool: results must not depend on the number of
 * threads (element-wise ranges and BatchNorm channels are independent), so
 * 1 and 2 threads must agree bit for bit. */
static void test_parallel(void)
{
    int nt = gn_get_threads();
    gn_set_threads(2);
    int seen[8] = {0};
    CHECK(gn_ops_parallel(mark_part, seen, (size_t)1 << 20) == 2);
    CHECK(seen[0] == 2 && seen[1] == 2);
    CHECK(gn_ops_parallel(mark_part, seen, 1000) == 1); /* small: not worth a wake-up */

    const size_t n = 300001; /* above the pool's threshold, odd for the tails */
    float *x = rvec(n, -2, 2), *x2 = rvec(n, -2, 2), *g = rvec(n, -1, 1);
    float *o1 = vec(n), *o2 = vec(n);
    for (int op = 0; op < 10; op++) {
        for (int pass = 0; pass < 2; pass++) {
            float *o = pass ? o2 : o1;
            gn_set_threads(pass ? 2 : 1);
            for (size_t i = 0; i < n; i++) o[i] = 0.5f; /* backward adds onto this */
            switch (op) {
            case 0: gn_relu_forward(o, x, n); break;
            case 1: gn_relu_backward(o, g, x, n); break;
            case 2: gn_clip_forward(o, x, -0.5f, 1.0f, n); break;
            case 3: gn_clip_backward(o, g, x, -0.5f, 1.0f, n); break;
            case 4: gn_leaky_forward(o, x, 0.1f, n); break;
            case 5: gn_leaky_backward(o, g, x, 0.1f, n); break;
            case 6: gn_tanh_forward(o, x, n); break;
            case 7: gn_tanh_backward(o, g, x2, n); break;
            case 8: gn_add_forward(o, x, x2, n); break;
            default: gn_accum(o, g, n); break;
            }
        }
        CHECK(memcmp(o1, o2, n * sizeof(float)) == 0);
    }
    /* in place, as a graph runner may call it */
    float *xi = copy(x, n);
    gn_relu_forward(xi, xi, n);
    gn_relu_forward(o1, x, n);
    CHECK(memcmp(xi, o1, n * sizeof(float)) == 0);

    /* BatchNorm, all four passes */
    gn_bn_shape bs = {5, 3, 20000, 1e-5f};
    const size_t m = (size_t)bs.B * bs.C * bs.HW;
    float *bx = rvec(m, -1, 3), *bdy = rvec(m, -1, 1), *gam = rvec(3, 0.5f, 1.5f);
    float *bet = rvec(3, -1, 1), *rm = rvec(3, -0.5f, 0.5f), *rv = rvec(3, 0.5f, 2);
    float *y[2], *dx[2], *mean[2], *inv[2], *dg[2], *db[2], *yi[2], *dxi[2];
    for (int pass = 0; pass < 2; pass++) {
        gn_set_threads(pass ? 2 : 1);
        y[pass] = vec(m), dx[pass] = vec(m), yi[pass] = vec(m), dxi[pass] = vec(m);
        mean[pass] = vec(3), inv[pass] = vec(3), dg[pass] = vec(3), db[pass] = vec(3);
        gn_bn_forward_train(y[pass], mean[pass], inv[pass], bx, gam, bet, &bs);
        gn_bn_backward_train(dx[pass], dg[pass], db[pass], bdy, bx, mean[pass], inv[pass], gam,
                             &bs);
        gn_bn_forward_infer(yi[pass], bx, gam, bet, rm, rv, &bs);
        gn_bn_backward_infer(dxi[pass], dg[pass], db[pass], bdy, bx, gam, rm, rv, &bs);
    }
    CHECK(memcmp(y[0], y[1], m * sizeof(float)) == 0);
    CHECK(memcmp(dx[0], dx[1], m * sizeof(float)) == 0);
    CHECK(memcmp(yi[0], yi[1], m * sizeof(float)) == 0);
    CHECK(memcmp(dxi[0], dxi[1], m * sizeof(float)) == 0);
    CHECK(memcmp(mean[0], mean[1], 3 * sizeof(float)) == 0);
    CHECK(memcmp(inv[0], inv[1], 3 * sizeof(float)) == 0);
    CHECK(memcmp(dg[0], dg[1], 3 * sizeof(float)) == 0);
    CHECK(memcmp(db[0], db[1], 3 * sizeof(float)) == 0);
    /* and the big case is still a normalisation: channel 2 has mean beta */
    double sy = 0;
    for (int b = 0; b < bs.B; b++)
        for (int i = 0; i < bs.HW; i++) sy += y[1][((size_t)b * bs.C + 2) * bs.HW + i];
    CHECK_NEAR(sy / ((double)bs.B * bs.HW), bet[2], 1e-4);
    for (int pass = 0; pass < 2; pass++) {
        free(y[pass]), free(dx[pass]), free(yi[pass]), free(dxi[pass]);
        free(mean[pass]), free(inv[pass]), free(dg[pass]), free(db[pass]);
    }
    free(x), free(x2), free(g), free(o1), free(o2), free(xi);
    free(bx), free(bdy), free(gam), free(bet), free(rm), free(rv);
    gn_set_threads(nt);
}

/* First-writer forms: bit for bit what the adding backward leaves in a
 * zeroed dx (including +0 where dy is -0), without reading dx. */
static void test_backward_set(void)
{
    enum { B = 3, C = 5, H = 7, W = 9, N = B * C * H * W };
    float *x = rvec(N, -2, 2), *dy = rvec(4 * N, -1, 1), *y = rvec(N, -1, 1);
    for (int i = 0; i < N; i += 11) dy[i] = -0.0f;
    x[5] = 0, x[6] = -1, x[7] = 1; /* the kinks: clip at lo/hi, ReLU at 0 */
    float *a = vec(N), *b = vec(N);
    for (int op = GN_SET_RELU; op <= GN_SET_COPY; op++)
        for (size_t n = N - 9; n <= N; n += 3) {
            memset(a, 0, N * sizeof(float));
            for (int i = 0; i < N; i++) b[i] = NAN; /* never read */
            switch (op) {
            case GN_SET_RELU: gn_relu_backward(a, dy, x, n); break;
            case GN_SET_CLIP: gn_clip_backward(a, dy, x, -1, 1, n); break;
            case GN_SET_LEAKY: gn_leaky_backward(a, dy, x, 0.2f, n); break;
            case GN_SET_TANH: gn_tanh_backward(a, dy, y, n); break;
            default: gn_accum(a, dy, n); break;
            }
            gn_act_backward_set(op, b, dy, op == GN_SET_TANH ? y : x, op == GN_SET_LEAKY ? 0.2f : -1,
                                1, n);
            CHECK(!memcmp(a, b, n * sizeof(float)));
        }
    float ga[C], be[C], mu[C], va[C], inv[C], dg0[C] = {0}, dg1[C] = {0}, db0[C] = {0}, db1[C] = {0};
    for (int c = 0; c < C; c++)
        ga[c] = urand(0.5f, 1.5f), be[c] = urand(-1, 1), mu[c] = urand(-1, 1), va[c] = urand(0.5f, 2);
    gn_bn_shape bs = {.B = B, .C = C, .HW = H * W, .eps = 1e-5f};
    memset(a, 0, N * sizeof(float));
    for (int i = 0; i < N; i++) b[i] = NAN;
    gn_bn_backward_infer(a, dg0, db0, dy, x, ga, mu, va, &bs);
    gn_bn_backward_infer_set(b, dg1, db1, dy, x, ga, mu, va, &bs);
    CHECK(!memcmp(a, b, N * sizeof(float)) && !memcmp(dg0, dg1, sizeof dg0) && !memcmp(db0, db1, sizeof db0));
    gn_bn_forward_train(y, mu, inv, x, ga, be, &bs);
    memset(a, 0, N * sizeof(float));
    for (int i = 0; i < N; i++) b[i] = NAN;
    gn_bn_backward_train(a, dg0, db0, dy, x, mu, inv, ga, &bs);
    gn_bn_backward_train_set(b, dg1, db1, dy, x, mu, inv, ga, &bs);
    CHECK(!memcmp(a, b, N * sizeof(float)) && !memcmp(dg0, dg1, sizeof dg0) && !memcmp(db0, db1, sizeof db0));
    memset(a, 0, N * sizeof(float));
    for (int i = 0; i < N; i++) b[i] = NAN;
    gn_upsample2_backward(a, dy, B, C, H, W);
    gn_upsample2_backward_set(b, dy, B, C, H, W);
    CHECK(!memcmp(a, b, N * sizeof(float)));
    /* convolution: im2col (5 channels) and Winograd (8 channels) */
    for (int Cc = 5; Cc <= 8; Cc += 3) {
        gn_conv_shape cs = {.B = B, .Cin = Cc, .H = H, .W = W, .Cout = Cc, .KH = 3, .KW = 3,
                            .SH = 1, .SW = 1, .PT = 1, .PL = 1, .PB = 1, .PR = 1, .groups = 1};
        CHECK(gn_conv_shape_init(&cs) == 0);
        const size_t nx = (size_t)B * Cc * H * W;
        float *w = rvec((size_t)Cc * Cc * 9, -1, 1), *ws = vec(gn_conv2d_workspace(&cs));
        float *ca = vec(nx), *cb = vec(nx);
        for (size_t i = 0; i < nx; i++) cb[i] = NAN;
        gn_conv2d_backward(ca, NULL, NULL, dy, x, w, &cs, ws);
        gn_conv2d_backward_set(cb, NULL, NULL, dy, x, w, &cs, ws);
        CHECK(!memcmp(ca, cb, nx * sizeof(float)));
        free(w), free(ws), free(ca), free(cb);
    }
    free(x), free(dy), free(y), free(a), free(b);
}

int main(void)
{
    test_backward_set();
    gn_set_threads(2); /* exercises the conv thread pool even on one core */
    test_conv();
    test_wino_isa();
    test_wino_up();
    test_bn_infer(5);
    test_bn_infer(13);
    test_bn_train(4, 6);
    test_bn_train(3, 19);
    test_bn_tap(6);
    test_bn_tap(29);
    test_act();
    test_pool();
    test_linear();
    test_xent();
    test_parallel();
    return check_summary("test_ops");
}
