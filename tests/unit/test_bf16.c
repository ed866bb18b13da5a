/* test_bf16.c - bf16 products (gn_blas_bf16.h): the rounding, the packed
 * kernel against double sums of the rounded and of the exact operands, the
 * Winograd convolution forward and backward to the input through it
 * against fp32 within a bound derived from bf16's 8-bit significand, the
 * same bits across thread counts, and the fallback when bf16 is off. */
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
    test_conv();
    return check_summary("test_bf16");
}
