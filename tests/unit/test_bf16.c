/* test_bf16.c - bf16 products (gn_blas_bf16.h): the rounding, the packed
 * kernel against double sums of the rounded and of the exact operands, the
 * general packed product (edge sizes, both transposes, C = and C +=)
 * against double sums, the Winograd and the im2col convolutions forward
 * and backward to the input through them against fp32 within a bound
 * derived from bf16's 8-bit significand, the same bits across thread
 * counts, and the fallback when bf16 is off. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gn_blas.h"
#include "gn_blas_bf16.h"
#include "gn_conv.h"
#include "gn_rng.h"

static float *vec(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

static float fbits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static void fill(float *a, size_t n, gn_rng *r)
{
    gn_rng_fill_normal(r, a, n, 0.0f, 1.0f);
}

static void test_round(void)
{
    /* 8 significant bits: between 1 and 2 the step is 2^-7 */
    CHECK(gn_bf16_round(1.0f) == 1.0f);
    CHECK(gn_bf16_round(1.0f + 0x1p-8f) == 1.0f);                 /* tie: to even (down) */
    CHECK(gn_bf16_round(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);   /* tie: to even (up) */
    CHECK(gn_bf16_round(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f);
    CHECK(gn_bf16_round(-1.0f - 0x1p-8f - 0x1p-20f) == -1.0f - 0x1p-7f);
    CHECK(bits(gn_bf16_round(0x1p-140f)) == 0);                   /* subnormal: +0 */
    CHECK(bits(gn_bf16_round(-0x1p-140f)) == 0x80000000u);        /* -0 */
    CHECK(isinf(gn_bf16_round(fbits(0x7f7fffffu))));              /* FLT_MAX rounds up */
    CHECK(isnan(gn_bf16_round(fbits(0x7f800001u))));              /* a NaN stays NaN */
    CHECK(isinf(gn_bf16_round(INFINITY)) && gn_bf16_round(-INFINITY) < 0);
    if (!gn_bf16_cpu()) {
        CHECK_SKIP("bf16 rounding by vcvtne2ps2bf16: no AVX512_BF16 on this CPU");
        return;
    }
    /* the vector rounding gives the scalar one's bits, on rows of 38
     * floats (a masked tail) holding the special values too */
    enum { R = 3, N = 38 };
    float a[R * N], e[R * N];
    gn_rng rng;
    gn_rng_seed(&rng, 5, 0);
    fill(a, R * N, &rng);
    a[1] = 1.0f + 0x1p-8f, a[2] = 1.0f + 3 * 0x1p-8f, a[3] = 0x1p-140f, a[4] = -0x1p-140f;
    a[5] = fbits(0x7f7fffffu), a[6] = INFINITY, a[40] = -0.0f;
    for (int i = 0; i < R * N; i++) e[i] = gn_bf16_round(a[i]);
    gn_bf16_round_rows(a, R, N);
    int same = 1;
    for (int r = 0; r < R; r++)
        for (int i = 0; i < N; i++) {
            uint16_t h;
            memcpy(&h, (const char *)(a + r * N) + 2 * i, 2);
            if ((uint32_t)h << 16 != bits(e[r * N + i])) same = 0;
        }
    CHECK(same);
}

/* M = U . V by the packed kernel for Ko x Ci x nc, against (a) double sums
 * of the bf16-rounded operands: only fp32 accumulation apart, within
 * Ci * 2^-23 of the sum of |products|; (b) double sums of the operands
 * themselves: each rounded operand is within 2^-8 of itself relative (8
 * significant bits, nearest), a product within 2^-7 + 2^-16, so within
 * (2^-7 + 2^-16 + Ci * 2^-23) of the sum of |products|. */
static void gemm_case(int Ko, int Ci, size_t nc)
{
    const size_t ld = nc + 5;
    float *U = vec((size_t)Ko * Ci), *V = vec((size_t)Ci * ld), *M = vec((size_t)Ko * ld);
    float *Uo = vec((size_t)Ko * Ci), *Vo = vec((size_t)Ci * ld);
    gn_rng rng;
    gn_rng_seed(&rng, 7, (uint64_t)Ci);
    fill(U, (size_t)Ko * Ci, &rng);
    fill(V, (size_t)Ci * ld, &rng);
    for (size_t i = 0; i < (size_t)Ko * ld; i++) M[i] = 12345.0f;
    memcpy(Uo, U, sizeof(float) * Ko * Ci);
    memcpy(Vo, V, sizeof(float) * Ci * ld);
    gn_bf16_round_rows(U, (size_t)Ko, (size_t)Ci);
    gn_bf16_pair_rows(V, Ci, ld, nc);
    gn_bf16_gemm(M, U, V, Ko, Ci, ld, nc);
    double worst_a = 0, worst_b = 0, seen_b = 0;
    int untouched = 1;
    for (int k = 0; k < Ko; k++) {
        for (size_t n = 0; n < nc; n++) {
            double ra = 0, rb = 0, sa = 0, sb = 0;
            for (int c = 0; c < Ci; c++) {
                const double u = Uo[(size_t)k * Ci + c], v = Vo[(size_t)c * ld + n];
                const double ur = gn_bf16_round((float)u), vr = gn_bf16_round((float)v);
                ra += ur * vr, sa += fabs(ur * vr);
                rb += u * v, sb += fabs(u * v);
            }
            const double m = M[(size_t)k * ld + n];
            const double ea = fabs(m - ra) / (Ci * 0x1p-23 * sa + 1e-30);
            const double eb = fabs(m - rb) / ((0x1p-7 + 0x1p-16 + Ci * 0x1p-23) * sb + 1e-30);
            if (ea > worst_a) worst_a = ea;
            if (eb > worst_b) worst_b = eb;
            if (fabs(m - rb) / (sb + 1e-30) > seen_b) seen_b = fabs(m - rb) / (sb + 1e-30);
        }
        for (size_t n = nc; n < ld; n++) untouched &= M[(size_t)k * ld + n] == 12345.0f;
    }
    CHECK(worst_a <= 1.0);
    CHECK(worst_b <= 1.0);
    /* and bf16 really ran: somewhere the error is far above fp32's */
    CHECK(seen_b > 0x1p-14);
    CHECK(untouched);
    if (worst_a > 1.0 || worst_b > 1.0 || !untouched)
        fprintf(stderr, "  ^ in bf16 gemm %dx%dx%zu: %.3g, %.3g of the bounds\n", Ko, Ci, nc,
                worst_a, worst_b);
    free(U), free(V), free(M), free(Uo), free(Vo);
}

static void test_gemm(void)
{
    if (!gn_bf16_cpu()) {
        CHECK_SKIP("bf16 gemm: no AVX512_BF16 on this CPU");
        return;
    }
    gemm_case(4, 2, 48);
    gemm_case(8, 16, 96);
    gemm_case(12, 64, 144);
    gemm_case(4, 576, 48);
    gemm_case(4, 4608, 96);
}

/* C = op(A) . B (+ C when add) by the general packed product for M x N x K
 * (ta: A stored (K, M)), strides wider than the matrices, against double
 * sums as gemm_case's (b) bound (plus |C|'s own rounding when add); the
 * columns past N and the rows past M untouched. */
static void packed_case(int ta, int M, int N, int K, int add)
{
    const int lda = (ta ? M : K) + 3, ldb = N + 2, ldc = N + 5;
    const size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)K * ldb, nc = (size_t)(M + 1) * ldc;
    float *A = vec(na), *B = vec(nb), *C = vec(nc), *C0 = vec(nc);
    float *Ap = vec(gn_bf16_a_floats(M, K)), *Bp = vec(gn_bf16_b_floats(K, N));
    CHECK(gn_bf16_b_floats(K, N) <= ((size_t)K + 1) / 2 * ((N + 15) / 16 * 16));
    gn_rng rng;
    gn_rng_seed(&rng, 13, (uint64_t)(M * 10007 + N * 101 + K));
    fill(A, na, &rng), fill(B, nb, &rng), fill(C0, nc, &rng);
    memcpy(C, C0, sizeof(float) * nc);
    gn_bf16_pack_a(Ap, ta, M, K, A, lda);
    gn_bf16_gemm_pa(M, N, K, Ap, B, ldb, add, C, ldc, Bp);
    double worst = 0, seen = 0;
    int untouched = 1;
    for (int m = 0; m < M; m++) {
        for (int n = 0; n < N; n++) {
            double r = 0, sb = 0;
            for (int k = 0; k < K; k++) {
                const double a = ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                const double b = B[(size_t)k * ldb + n];
                r += a * b, sb += fabs(a * b);
            }
            const double c0 = add ? C0[(size_t)m * ldc + n] : 0;
            const double c = C[(size_t)m * ldc + n];
            const double e = fabs(c - c0 - r) /
                             ((0x1p-7 + 0x1p-16 + K * 0x1p-23) * sb + 0x1p-23 * fabs(c0 + r) + 1e-30);
            if (e > worst) worst = e;
            if (fabs(c - c0 - r) / (sb + 1e-30) > seen) seen = fabs(c - c0 - r) / (sb + 1e-30);
        }
        for (int n = N; n < ldc; n++) untouched &= C[(size_t)m * ldc + n] == C0[(size_t)m * ldc + n];
    }
    for (int n = 0; n < ldc; n++) untouched &= C[(size_t)M * ldc + n] == C0[(size_t)M * ldc + n];
    CHECK(worst <= 1.0);
    CHECK(untouched);
    /* bf16 really ran (at K = 1 one product of two 8-bit significands can
     * be exact, so only where there are enough of them) */
    if ((long)M * N * K >= 64) CHECK(seen > 0x1p-14);
    if (worst > 1.0 || !untouched)
        fprintf(stderr, "  ^ in bf16 packed gemm ta %d %dx%dx%d add %d: %.3g of the bound\n", ta, M,
                N, K, add, worst);
    free(A), free(B), free(C), free(C0), free(Ap), free(Bp);
}

static void test_packed(void)
{
    if (!gn_bf16_cpu()) {
        CHECK_SKIP("bf16 packed gemm: no AVX512_BF16 on this CPU");
        return;
    }
    /* M, N, K off the 4 x 48 tile and its 16-column vectors, K odd, N over
     * several blocks of B (the last ones 8 and 116 columns); the transposes
     * the convolutions use (W . col, W^T . dy), both epilogues */
    static const int sz[][3] = {{1, 1, 1},  {3, 5, 1},   {5, 17, 3},   {4, 48, 2},  {7, 50, 9},
                                {8, 96, 16}, {13, 49, 147}, {9, 100, 64}, {6, 145, 577}, {64, 33, 27},
                                {2, 4096 + 7, 5}, {5, 200, 2049}, {9, 500, 577}};
    for (size_t i = 0; i < sizeof sz / sizeof sz[0]; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int add = 0; add < 2; add++) packed_case(ta, sz[i][0], sz[i][1], sz[i][2], add);
    /* rows chunked (A_CHUNK): K large enough that M spans several chunks */
    packed_case(0, 70, 20, 4001, 0);
    packed_case(1, 70, 20, 4001, 1);
}

/* The bound on a Winograd F(2x2,3x3) result with operands U = G g G^T and
 * V = B^T d B rounded to bf16 (each product within 2^-7 + 2^-16 relative):
 * that relative error times sum_c (|A^T| (|G||g||G^T| . |B^T||d||B|) |A|),
 * the textbook matrices' magnitudes (genie's scaling of them moves factors
 * between U, V and A, which leaves this sum alone). y (B,Co,H,W) from x
 * (B,Ci,H,W) and w (Co,Ci,3,3), pad 1. */
static void wino_bound(double *y, const float *x, const float *w, int B, int Ci, int Co, int H,
                       int W)
{
    static const double G[4][3] = {{1, 0, 0}, {.5, .5, .5}, {.5, .5, .5}, {0, 0, 1}};
    static const double BT[4][4] = {{1, 0, 1, 0}, {0, 1, 1, 0}, {0, 1, 1, 0}, {0, 1, 0, 1}};
    static const double AT[2][4] = {{1, 1, 1, 0}, {0, 1, 1, 1}};
    for (int b = 0; b < B; b++)
        for (int k = 0; k < Co; k++)
            for (int ti = 0; 2 * ti < H; ti++)
                for (int tj = 0; 2 * tj < W; tj++) {
                    double P[4][4] = {{0}};
                    for (int c = 0; c < Ci; c++) {
                        double d[4][4], g[3][3], t[4][4], u[4][4], v[4][4];
                        for (int r = 0; r < 4; r++)
                            for (int s = 0; s < 4; s++) {
                                const int h = 2 * ti - 1 + r, ww = 2 * tj - 1 + s;
                                d[r][s] = h < 0 || h >= H || ww < 0 || ww >= W
                                              ? 0
                                              : fabs(x[(((size_t)b * Ci + c) * H + h) * W + ww]);
                            }
                        for (int r = 0; r < 3; r++)
                            for (int s = 0; s < 3; s++)
                                g[r][s] = fabs(w[(((size_t)k * Ci + c) * 3 + r) * 3 + s]);
                        for (int r = 0; r < 4; r++)
                            for (int s = 0; s < 4; s++) {
                                double a = 0, e = 0;
                                for (int q = 0; q < 4; q++) a += BT[r][q] * d[q][s];
                                for (int q = 0; q < 3 && s < 3; q++) e += G[r][q] * g[q][s];
                                t[r][s] = a, u[r][s] = s < 3 ? e : 0;
                            }
                        for (int r = 0; r < 4; r++)
                            for (int s = 0; s < 4; s++) {
                                double a = 0, e = 0;
                                for (int q = 0; q < 4; q++) a += t[r][q] * BT[s][q];
                                for (int q = 0; q < 3; q++) e += u[r][q] * G[s][q];
                                v[r][s] = a, P[r][s] += e * v[r][s];
                            }
                    }
                    for (int i = 0; i < 2; i++)
                        for (int j = 0; j < 2; j++) {
                            const int h = 2 * ti + i, ww = 2 * tj + j;
                            if (h >= H || ww >= W) continue;
                            double s = 0;
                            for (int r = 0; r < 4; r++)
                                for (int q = 0; q < 4; q++) s += AT[i][r] * P[r][q] * AT[j][q];
                            y[(((size_t)b * Co + k) * H + h) * W + ww] = s;
                        }
                }
}

/* |a - b| <= (2^-7 + 2^-16 + 2^-20) * bound elementwise (the 2^-20: both
 * sides' fp32 transforms and sums), and a and b not all equal */
static void check_within(const char *what, const float *a, const float *b, const double *bound,
                         size_t n)
{
    double worst = 0;
    int differ = 0;
    for (size_t i = 0; i < n; i++) {
        const double e = fabs((double)a[i] - b[i]) / ((0x1p-7 + 0x1p-16 + 0x1p-20) * bound[i] + 1e-30);
        if (e > worst) worst = e;
        differ |= a[i] != b[i];
    }
    CHECK(worst <= 1.0);
    CHECK(differ);
    if (worst > 1.0 || !differ)
        fprintf(stderr, "  ^ %s: %.3g of the bound, differ %d\n", what, worst, differ);
}

static void conv_bf16_case(int B, int Ci, int H, int W, int Co)
{
    gn_conv_shape s = {.B = B, .Cin = Ci, .H = H, .W = W, .Cout = Co, .KH = 3, .KW = 3,
                       .SH = 1, .SW = 1, .PT = 1, .PL = 1, .PB = 1, .PR = 1, .groups = 1};
    CHECK(gn_conv_shape_init(&s) == 0);
    const size_t nx = (size_t)B * Ci * H * W, ny = (size_t)B * Co * H * W, nw = (size_t)Co * Ci * 9;
    float *x = vec(nx), *w = vec(nw), *wf = vec(nw), *dy = vec(ny), *ws = vec(gn_conv2d_workspace(&s));
    float *y32 = vec(ny), *y16 = vec(ny), *y16b = vec(ny), *yoff = vec(ny);
    float *dx32 = vec(nx), *dx16 = vec(nx), *dx16b = vec(nx), *dxoff = vec(nx);
    double *by = calloc(ny, sizeof(double)), *bx = calloc(nx, sizeof(double));
    gn_rng rng;
    gn_rng_seed(&rng, 11, (uint64_t)(Ci * 100 + Co));
    fill(x, nx, &rng), fill(w, nw, &rng), fill(dy, ny, &rng);
    const int threads = gn_get_threads();
    gn_set_threads(1);
    gn_products_set(GN_PRODUCTS_FP32);
    gn_conv2d_forward(y32, x, w, NULL, &s, ws);
    gn_conv2d_backward_set(dx32, NULL, NULL, dy, x, w, &s, ws);
    CHECK(gn_products_set(GN_PRODUCTS_BF16) == GN_PRODUCTS_FP32);
    CHECK(gn_products_bf16());
    gn_conv2d_forward(y16, x, w, NULL, &s, ws);
    gn_conv2d_backward_set(dx16, NULL, NULL, dy, x, w, &s, ws);
    /* the same bits with 2 threads (the batch split differently) */
    gn_set_threads(2);
    gn_conv2d_forward(y16b, x, w, NULL, &s, ws);
    gn_conv2d_backward_set(dx16b, NULL, NULL, dy, x, w, &s, ws);
    CHECK(!memcmp(y16, y16b, ny * sizeof(float)));
    CHECK(!memcmp(dx16, dx16b, nx * sizeof(float)));
    /* bf16 off (as on a CPU without it): asked for, fp32 runs, fp32's bits */
    gn_set_threads(1);
    gn_bf16_set_disabled(1);
    CHECK(!gn_products_bf16());
    gn_conv2d_forward(yoff, x, w, NULL, &s, ws);
    gn_conv2d_backward_set(dxoff, NULL, NULL, dy, x, w, &s, ws);
    CHECK(!memcmp(yoff, y32, ny * sizeof(float)));
    CHECK(!memcmp(dxoff, dx32, nx * sizeof(float)));
    gn_bf16_set_disabled(0);
    gn_products_set(GN_PRODUCTS_FP32);
    gn_set_threads(threads);
    /* forward: bound from x and w; backward to x: dy convolved with the
     * flipped, transposed weights */
    wino_bound(by, x, w, B, Ci, Co, H, W);
    for (int k = 0; k < Co; k++)
        for (int c = 0; c < Ci; c++)
            for (int t = 0; t < 9; t++)
                wf[((size_t)c * Co + k) * 9 + 8 - t] = w[((size_t)k * Ci + c) * 9 + t];
    wino_bound(bx, dy, wf, B, Co, Ci, H, W);
    char what[96];
    snprintf(what, sizeof what, "bf16 conv forward %d %d->%d %dx%d", B, Ci, Co, H, W);
    check_within(what, y16, y32, by, ny);
    snprintf(what, sizeof what, "bf16 conv backward %d %d->%d %dx%d", B, Ci, Co, H, W);
    check_within(what, dx16, dx32, bx, nx);
    free(x), free(w), free(wf), free(dy), free(ws), free(y32), free(y16), free(y16b), free(yoff);
    free(dx32), free(dx16), free(dx16b), free(dxoff), free(by), free(bx);
}

static void test_conv(void)
{
    if (!gn_bf16_available()) {
        CHECK_SKIP("bf16 convolutions: no AVX512_BF16 on this CPU (or GN_NO_BF16 set)");
        /* asked for, fp32 runs */
        gn_products_set(GN_PRODUCTS_BF16);
        CHECK(!gn_products_bf16());
        gn_products_set(GN_PRODUCTS_FP32);
        return;
    }
    conv_bf16_case(3, 8, 7, 9, 12);
    conv_bf16_case(5, 16, 14, 14, 16);
    conv_bf16_case(2, 64, 7, 7, 32);
    conv_bf16_case(2, 12, 6, 5, 8);
}

/* An im2col convolution (not Winograd: strided, 1x1, the first layer's
 * few channels, grouped) with bf16 products: forward and backward to the
 * input against fp32 within (2^-7 + 2^-16 + 2 Kg 2^-23) of the sum of
 * |products| (the reference twins on |x|, |w|, |dy|), 1 and 2 threads
 * bit-identical, fp32's bits when bf16 is off, and the weight gradient
 * (fp32 always) unchanged by the choice at one thread. */
static void im2col_case(int B, int Ci, int H, int W, int Co, int k, int stride, int pad, int groups)
{
    gn_conv_shape s = {.B = B, .Cin = Ci, .H = H, .W = W, .Cout = Co, .KH = k, .KW = k,
                       .SH = stride, .SW = stride, .PT = pad, .PL = pad, .PB = pad, .PR = pad,
                       .groups = groups};
    CHECK(gn_conv_shape_init(&s) == 0);
    const int Kg = Ci / groups * k * k;
    const size_t nx = (size_t)B * Ci * H * W, ny = (size_t)B * Co * s.OH * s.OW,
                 nw = (size_t)Co * Kg;
    float *x = vec(nx), *w = vec(nw), *dy = vec(ny), *ws = vec(gn_conv2d_workspace(&s));
    float *ax = vec(nx), *aw = vec(nw), *ady = vec(ny), *by = vec(ny), *bx = vec(nx);
    float *y[4], *dx[4], *dw[4]; /* fp32, bf16 1 thread, bf16 2 threads, bf16 off */
    for (int i = 0; i < 4; i++) y[i] = vec(ny), dx[i] = vec(nx), dw[i] = vec(nw);
    gn_rng rng;
    gn_rng_seed(&rng, 17, (uint64_t)(Ci * 1000 + Co * 10 + k));
    fill(x, nx, &rng), fill(w, nw, &rng), fill(dy, ny, &rng);
    const int threads = gn_get_threads();
    for (int i = 0; i < 4; i++) {
        gn_set_threads(i == 2 ? 2 : 1);
        gn_products_set(i ? GN_PRODUCTS_BF16 : GN_PRODUCTS_FP32);
        gn_bf16_set_disabled(i == 3);
        CHECK(gn_products_bf16() == (i == 1 || i == 2));
        gn_conv2d_forward(y[i], x, w, NULL, &s, ws);
        gn_conv2d_backward_set(dx[i], dw[i], NULL, dy, x, w, &s, ws);
    }
    gn_bf16_set_disabled(0);
    gn_products_set(GN_PRODUCTS_FP32);
    gn_set_threads(threads);
    CHECK(!memcmp(y[1], y[2], ny * sizeof(float)));
    CHECK(!memcmp(dx[1], dx[2], nx * sizeof(float)));
    CHECK(!memcmp(y[3], y[0], ny * sizeof(float)));
    CHECK(!memcmp(dx[3], dx[0], nx * sizeof(float)));
    /* (dw's per-thread sums make its bits depend on the thread count) */
    CHECK(!memcmp(dw[1], dw[0], nw * sizeof(float)));
    CHECK(!memcmp(dw[3], dw[0], nw * sizeof(float)));
    for (size_t i = 0; i < nx; i++) ax[i] = fabsf(x[i]);
    for (size_t i = 0; i < nw; i++) aw[i] = fabsf(w[i]);
    for (size_t i = 0; i < ny; i++) ady[i] = fabsf(dy[i]);
    gn_conv2d_forward_ref(by, ax, aw, NULL, &s);
    gn_conv2d_backward_ref(bx, NULL, NULL, ady, NULL, aw, &s);
    const double rel = 0x1p-7 + 0x1p-16 + 2.0 * Kg * 0x1p-23;
    double wy = 0, wx = 0;
    int dify = 0, difx = 0;
    for (size_t i = 0; i < ny; i++) {
        const double e = fabs((double)y[1][i] - y[0][i]) / (rel * by[i] * (1 + 0x1p-20) + 1e-30);
        if (e > wy) wy = e;
        dify |= y[1][i] != y[0][i];
    }
    for (size_t i = 0; i < nx; i++) {
        const double e = fabs((double)dx[1][i] - dx[0][i]) / (rel * bx[i] * (1 + 0x1p-20) + 1e-30);
        if (e > wx) wx = e;
        difx |= dx[1][i] != dx[0][i];
    }
    CHECK(wy <= 1.0 && wx <= 1.0);
    CHECK(dify && difx);
    if (wy > 1.0 || wx > 1.0 || !dify || !difx)
        fprintf(stderr,
                "  ^ bf16 im2col conv %d %d->%d %dx%d k%d s%d p%d g%d: %.3g, %.3g of the bound, "
                "differ %d %d\n",
                B, Ci, Co, H, W, k, stride, pad, groups, wy, wx, dify, difx);
    free(x), free(w), free(dy), free(ws), free(ax), free(aw), free(ady), free(by), free(bx);
    for (int i = 0; i < 4; i++) free(y[i]), free(dx[i]), free(dw[i]);
}

static void test_im2col(void)
{
    if (!gn_bf16_available()) {
        CHECK_SKIP("bf16 im2col convolutions: no AVX512_BF16 on this CPU (or GN_NO_BF16 set)");
        return;
    }
    im2col_case(3, 12, 7, 9, 10, 1, 1, 0, 1);  /* 1x1: x is the matrix, dx added to */
    im2col_case(3, 16, 8, 8, 32, 1, 2, 0, 1);  /* 1x1 stride 2 (a shortcut) */
    im2col_case(4, 8, 9, 9, 12, 3, 2, 1, 1);   /* 3x3 stride 2 */
    im2col_case(2, 3, 17, 15, 8, 7, 2, 3, 1);  /* the first layer: 7x7/2, 3 channels (K odd) */
    im2col_case(3, 3, 10, 10, 16, 3, 1, 1, 1); /* 3x3/1 on 3 channels: im2col by tap */
    im2col_case(2, 8, 6, 6, 8, 3, 1, 1, 2);    /* grouped */
    im2col_case(2, 64, 7, 7, 36, 1, 1, 0, 1);  /* 7x7 planes: a 49-column tail */
}

static void test_names(void)
{
    CHECK(gn_products_from_name("fp32") == GN_PRODUCTS_FP32);
    CHECK(gn_products_from_name("bf16") == GN_PRODUCTS_BF16);
    CHECK(gn_products_from_name("tf32") == -1);
    CHECK(!strcmp(gn_products_name(GN_PRODUCTS_BF16), "bf16"));
    CHECK(!strcmp(gn_products_name(GN_PRODUCTS_FP32), "fp32"));
    /* off by the test hook: never available, whatever the CPU */
    gn_bf16_set_disabled(1);
    CHECK(!gn_bf16_available());
    gn_bf16_set_disabled(0);
    CHECK(gn_bf16_available() == gn_bf16_cpu() || getenv("GN_NO_BF16"));
}

int main(void)
{
    test_names();
    test_round();
    test_gemm();
    test_packed();
    test_conv();
    test_im2col();
    return check_summary("test_bf16");
}
