/* op_upconv.c - nearest upsample x2 -> 3x3 convolution as one operator
 * (see gn_upconv.h).
 *
 * By phases: every output pixel (2i+a, 2j+c) of a 3x3/stride 1/pad 1
 * convolution of a nearest-upsampled x sees a 2x2 neighbourhood of x
 * itself: kernel rows {0},{1,2} for a = 0 (x rows i-1, i) and {0,1},{2} for
 * a = 1 (rows i, i+1), likewise for columns. So the pair is four 2x2
 * convolutions of x (one per phase (a,c), weights summed over the taps that
 * land on the same pixel, padded on the phase's side), interleaved: 16
 * multiplies per output pixel and input channel instead of 9*4 = 36.
 *
 * By Winograd (gn_upconv_wino): the pair's forward, its backward to x and
 * its weight gradient run by the zero-skipping transforms of
 * gn_wino_up_run (9 multiplies per 2x2 output tile and channel pair,
 * against 16 by phases), and the phases' buffers are not used. Samples
 * are split over the operator pool.
 *
 * What it deliberately does not do: other kernel sizes, strides or scale
 * factors (gn_run runs those as the two operators). */
#include "gn_upconv.h"

#include <string.h>

#include "gn_blas.h"
#include "gn_err.h"
#include "gn_ops.h"
#include "gn_wino.h"

static const int UP_ROWS[2][2][2] = {{{0, 0}, {1, 2}}, {{0, 1}, {2, 2}}}; /* [a][u] -> taps lo..hi */

/* phase (a,c)'s 2x2 convolution of x */
static gn_conv_shape upc_shape(const gn_upconv_shape *u, int a, int c)
{
    gn_conv_shape s = {.B = u->B, .Cin = u->Cin, .H = u->H, .W = u->W, .Cout = u->Cout, .KH = 2,
                       .KW = 2, .SH = 1, .SW = 1, .PT = a == 0, .PB = a == 1, .PL = c == 0,
                       .PR = c == 1, .groups = 1};
    GN_ASSERT(gn_conv_shape_init(&s) == 0);
    return s;
}

/* the 3x3 convolution itself, on the upsampled (B,Cin,2H,2W) */
static gn_conv_shape full_shape(const gn_upconv_shape *u)
{
    gn_conv_shape s = {.B = u->B, .Cin = u->Cin, .H = 2 * u->H, .W = 2 * u->W, .Cout = u->Cout,
                       .KH = 3, .KW = 3, .SH = 1, .SW = 1, .PT = 1, .PB = 1, .PL = 1, .PR = 1,
                       .groups = 1};
    GN_ASSERT(gn_conv_shape_init(&s) == 0);
    return s;
}

/* phase (a,c)'s 2x2 weights (O,C,2,2) from w (O,C,3,3) */
static void upc_weights(float *wp, const float *w, size_t OC, int a, int c)
{
    for (size_t oc = 0; oc < OC; oc++)
        for (int u = 0; u < 2; u++)
            for (int v = 0; v < 2; v++) {
                float t = 0;
                for (int kh = UP_ROWS[a][u][0]; kh <= UP_ROWS[a][u][1]; kh++)
                    for (int kw = UP_ROWS[c][v][0]; kw <= UP_ROWS[c][v][1]; kw++) t += w[oc * 9 + kh * 3 + kw];
                wp[oc * 4 + u * 2 + v] = t;
            }
}

/* phase (a,c), (planes, h, w), into its pixels of a full (planes, 2h, 2w) */
static void phase_to_full(float *full, const float *part, size_t planes, size_t h, size_t w,
                          int a, int c)
{
    for (size_t p = 0; p < planes; p++)
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++)
                full[(p * 2 * h + 2 * i + (size_t)a) * 2 * w + 2 * j + (size_t)c] =
                    part[(p * h + i) * w + j];
}

/* the pixels of phase (a,c) of a full (planes, 2h, 2w) into part (planes, h, w) */
static void phase_from_full(float *part, const float *full, size_t planes, size_t h, size_t w,
                            int a, int c)
{
    for (size_t p = 0; p < planes; p++)
        for (size_t i = 0; i < h; i++)
            for (size_t j = 0; j < w; j++)
                part[(p * h + i) * w + j] =
                    full[(p * 2 * h + 2 * i + (size_t)a) * 2 * w + 2 * j + (size_t)c];
}

int gn_upconv_wino(const gn_upconv_shape *s)
{
    const int O = s->Cout, C = s->Cin;
    return O >= 8 && C >= 8 && O % 4 == 0 && C % 4 == 0 && gn_wino_enabled();
}

#define UPW_THREADS 8 /* the operator pool's most */

/* floats of ws the phases take: a phase's output (B,Cout,H,W), its weights
 * and their gradient (2 x (Cout,Cin,2,2)), then the convolution's scratch */
static size_t phase_y_floats(const gn_upconv_shape *s)
{
    return (size_t)s->B * s->Cout * s->H * s->W;
}

static size_t phase_w_floats(const gn_upconv_shape *s) { return 2 * (size_t)s->Cout * s->Cin * 4; }

size_t gn_upconv_workspace(const gn_upconv_shape *s)
{
    if (gn_upconv_wino(s)) {
        const int T = s->B < UPW_THREADS ? s->B : UPW_THREADS;
        const size_t u = gn_wino_up_u_floats(s->Cout, s->Cin);
        return u + (size_t)T * (gn_wino_up_floats(s->Cout, s->Cin, s->H, s->W) + u);
    }
    size_t conv = 0;
    for (int a = 0; a < 4; a++) {
        gn_conv_shape p = upc_shape(s, a / 2, a % 2);
        size_t need = gn_conv2d_workspace(&p);
        if (need > conv) conv = need;
    }
    return phase_y_floats(s) + phase_w_floats(s) + conv;
}

typedef struct {
    float *out;
    const float *in, *U, *bias;
    int acc, Ko, Ci, H, W, B, adjoint;
    float *ws;
    size_t per;        /* scratch floats per part */
    float *dU;         /* per part: (9, Cout, Cin) weight-gradient sums, or NULL */
    const float *x;    /* the forward input, with dU */
} upw_job;

static void upw_part(void *ctx, int t, int T)
{
    const upw_job *j = ctx;
    const int b0 = (int)((long)j->B * t / T), b1 = (int)((long)j->B * (t + 1) / T);
    const size_t nu = gn_wino_up_u_floats(j->Ko, j->Ci);
    float *dU = j->dU ? j->dU + (size_t)t * nu : NULL;
    if (dU) memset(dU, 0, sizeof(float) * nu);
    if (b1 <= b0) return;
    const size_t in_s = (size_t)j->Ci * j->H * j->W * (j->adjoint ? 4 : 1);
    const size_t out_s = (size_t)j->Ko * j->H * j->W * (j->adjoint ? 1 : 4);
    gn_wino_up_run(j->out ? j->out + (size_t)b0 * out_s : NULL, j->acc, j->in + (size_t)b0 * in_s, j->U, j->bias,
                   j->Ko, j->Ci, j->H, j->W, b1 - b0, j->adjoint, dU,
                   dU ? j->x + (size_t)b0 * j->Ko * j->H * j->W : NULL, j->ws + (size_t)t * j->per);
}

/* forward (adjoint 0: out = pair(in)) or backward to x (adjoint 1: out
 * (=|+=) ..., and with dw also dw += the weight gradient, from the input
 * x_in) */
static void upw_run(const gn_upconv_shape *s, float *out, int acc, const float *in, int adjoint,
                    const float *w, const float *bias, float *dw, const float *x_in, float *ws)
{
    const int O = s->Cout, C = s->Cin;
    float *U = ws;
    gn_wino_up_weights(U, w, O, C, adjoint);
    const size_t nu = gn_wino_up_u_floats(O, C), per = gn_wino_up_floats(O, C, s->H, s->W);
    int T = gn_get_threads();
    if (T > UPW_THREADS) T = UPW_THREADS;
    if (T > s->B) T = s->B;
    upw_job j = {.out = out, .in = in, .U = U, .bias = adjoint ? NULL : bias,
                 .acc = acc, .Ko = adjoint ? C : O, .Ci = adjoint ? O : C, .H = s->H, .W = s->W,
                 .B = s->B, .adjoint = adjoint, .ws = ws + nu, .per = per,
                 .dU = dw ? ws + nu + (size_t)T * per : NULL, .x = x_in};
    /* at least one sample per part: work counted so that T parts are taken */
    T = gn_ops_parallel(upw_part, &j, T > 1 ? ((size_t)1 << 30) : 0);
    if (!dw) return;
    for (int t = 1; t < T; t++) /* the parts' sums, in order */
        for (size_t i = 0; i < nu; i++) j.dU[i] += j.dU[(size_t)t * nu + i];
    gn_wino_up_dw(dw, j.dU, O, C);
}

void gn_upconv_forward(float *y, const float *x, const float *w, const float *b,
                       const gn_upconv_shape *s, float *ws)
{
    if (gn_upconv_wino(s)) {
        upw_run(s, y, 0, x, 0, w, b, NULL, NULL, ws);
        return;
    }
    const size_t OC = (size_t)s->Cout * s->Cin;
    float *py = ws, *pw = py + phase_y_floats(s), *cws = pw + phase_w_floats(s);
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 2; c++) {
            gn_conv_shape p = upc_shape(s, a, c);
            upc_weights(pw, w, OC, a, c);
            gn_conv2d_forward(py, x, pw, b, &p, cws);
            phase_to_full(y, py, (size_t)s->B * p.Cout, (size_t)p.OH, (size_t)p.OW, a, c);
        }
}

void gn_upconv_backward(float *dx, float *dw, float *db, const float *dy, const float *x,
                        const float *w, const gn_upconv_shape *s, int set, float *ws)
{
    if (gn_upconv_wino(s)) {
        /* dx, and dw with the same transform of dy; db = dy's sums, as the
         * convolution's own backward takes them */
        if (dx || dw) upw_run(s, dx, !set, dy, 1, w, NULL, dw, x, ws);
        if (db) {
            gn_conv_shape f = full_shape(s);
            gn_conv2d_backward(NULL, NULL, db, dy, NULL, NULL, &f, NULL);
        }
        return;
    }
    GN_ASSERT(!set); /* the phases add into dx */
    const size_t OC = (size_t)s->Cout * s->Cin;
    float *py = ws, *wp = py + phase_y_floats(s), *dwp = wp + OC * 4;
    float *cws = wp + phase_w_floats(s);
    for (int a = 0; a < 2; a++)
        for (int c = 0; c < 2; c++) {
            gn_conv_shape p = upc_shape(s, a, c);
            phase_from_full(py, dy, (size_t)s->B * p.Cout, (size_t)p.OH, (size_t)p.OW, a, c);
            upc_weights(wp, w, OC, a, c);
            if (dw) memset(dwp, 0, OC * 4 * sizeof(float));
            gn_conv2d_backward(dx, dw ? dwp : NULL, db, py, x, wp, &p, cws);
            if (!dw) continue;
            /* each 3x3 tap gets the gradient of the phase tap it was summed into */
            for (size_t oc = 0; oc < OC; oc++)
                for (int u = 0; u < 2; u++)
                    for (int v = 0; v < 2; v++)
                        for (int kh = UP_ROWS[a][u][0]; kh <= UP_ROWS[a][u][1]; kh++)
                            for (int kw = UP_ROWS[c][v][0]; kw <= UP_ROWS[c][v][1]; kw++)
                                dw[oc * 9 + kh * 3 + kw] += dwp[oc * 4 + u * 2 + v];
        }
}
