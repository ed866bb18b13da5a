/* op_act.c - element-wise operators: ReLU, Clip (ReLU6), LeakyReLU, Tanh,
 * the sum of two tensors, and gradient accumulation (the backward of
 * Identity, Add and Flatten/Reshape).
 *
 * Large tensors are cut into one contiguous range per thread of the
 * operator pool (gn_ops_parallel, ops.c); the ranges follow the batch
 * order, as the convolution's per-thread sample ranges do. Loops run in
 * blocks of 8 loaded into locals first: gcc -O2 then vectorises them (its
 * cheap cost model leaves plain loops of unknown trip count scalar), and a
 * forward may still run in place (y == x).
 * What it deliberately does not do: broadcasting (Add's inputs share one
 * shape). At a kink the backward takes the flat side: ReLU'(0) = 0, and Clip
 * passes gradient only strictly inside (lo, hi). Any gradient pointer may be
 * NULL: the call is then a no-op. */
#include "gn_act.h"
#include "gn_err.h"
#include "gn_ops.h"

#include <math.h>

/* op_conv.c's thread pool (not in gn_ops.h, whose API is fixed): runs
 * f(ctx, t, T) for t < T when `work` is large enough; returns T. */

#define BLK 8

enum { RELU_F, RELU_B, CLIP_F, CLIP_B, LEAKY_F, LEAKY_B, TANH_F, TANH_B, ADD_F, ADD_RELU_F, ACCUM };

typedef struct {
    int op;
    float *out;           /* y, or dx */
    const float *a, *b;   /* x or dy, and x, y or the second addend */
    float p, q;           /* lo/hi, or the slope */
    size_t n;
    int set;              /* backward: dx = 0 + g instead of dx += g (gn_ops.h, first writers) */
} act_job;

/* the backward's store: += g, or, for a gradient's first writer, the value
 * adding g into a zeroed dx gives (0 + g: -0 becomes +0, as there) */
#define GSTORE(d, g) ((set) ? (void)((d) = 0.0f + (g)) : (void)((d) += (g)))
#define INL static inline __attribute__((always_inline))

static void relu_f(float *y, const float *x, size_t n)
{
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = x[i + k];
        for (int k = 0; k < BLK; k++) y[i + k] = t[k] > 0.0f ? t[k] : 0.0f;
    }
    for (; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

/* dx (+)= g(i) over n elements in blocks of 8, for both stores (two loops:
 * gcc vectorises neither when the store is chosen inside). G is the
 * block's k-th value, G1 the tail's i-th; the rest loads the block's
 * inputs into locals. */
#define BWD_LOOP(G, G1, ...)                                                                          \
    do {                                                                                            \
        size_t i = 0;                                                                               \
        if (set) {                                                                                  \
            for (; i + BLK <= n; i += BLK) {                                                        \
                __VA_ARGS__;                                                                        \
                float t_[BLK];                                                                      \
                for (int k = 0; k < BLK; k++) t_[k] = (G);                                          \
                for (int k = 0; k < BLK; k++) dx[i + k] = 0.0f + t_[k];                             \
            }                                                                                       \
            for (; i < n; i++) dx[i] = 0.0f + (G1);                                                 \
        } else {                                                                                    \
            for (; i + BLK <= n; i += BLK) {                                                        \
                __VA_ARGS__;                                                                        \
                for (int k = 0; k < BLK; k++) dx[i + k] += (G);                                     \
            }                                                                                       \
            for (; i < n; i++) dx[i] += (G1);                                                       \
        }                                                                                           \
    } while (0)

INL void relu_b(float *dx, const float *dy, const float *x, size_t n, const int set)
{
    float g[BLK], v[BLK];
    BWD_LOOP(v[k] > 0.0f ? g[k] : 0.0f, x[i] > 0.0f ? dy[i] : 0.0f,
             for (int k = 0; k < BLK; k++) g[k] = dy[i + k], v[k] = x[i + k]);
}

static void clip_f(float *y, const float *x, float lo, float hi, size_t n)
{
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = x[i + k];
        for (int k = 0; k < BLK; k++) {
            float v = t[k] < lo ? lo : t[k];
            y[i + k] = v > hi ? hi : v;
        }
    }
    for (; i < n; i++) {
        float v = x[i] < lo ? lo : x[i];
        y[i] = v > hi ? hi : v;
    }
}

INL void clip_b(float *dx, const float *dy, const float *x, float lo, float hi, size_t n,
                const int set)
{
    float g[BLK], v[BLK];
    BWD_LOOP((v[k] > lo && v[k] < hi) ? g[k] : 0.0f, (x[i] > lo && x[i] < hi) ? dy[i] : 0.0f,
             for (int k = 0; k < BLK; k++) g[k] = dy[i + k], v[k] = x[i + k]);
}

static void add_f(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = a[i + k] + b[i + k];
        for (int k = 0; k < BLK; k++) y[i + k] = t[k];
    }
    for (; i < n; i++) y[i] = a[i] + b[i];
}

static void add_relu_f(float *y, const float *a, const float *b, size_t n)
{
    size_t i = 0;
    for (; i + BLK <= n; i += BLK) {
        float t[BLK];
        for (int k = 0; k < BLK; k++) t[k] = a[i + k] + b[i + k];
        for (int k = 0; k < BLK; k++) y[i + k] = t[k] > 0.0f ? t[k] : 0.0f;
    }
    for (; i < n; i++) {
        float t = a[i] + b[i];
        y[i] = t > 0.0f ? t : 0.0f;
    }
}

INL void accum(float *dx, const float *dy, size_t n, const int set)
{
    float g[BLK];
    BWD_LOOP(g[k], dy[i], for (int k = 0; k < BLK; k++) g[k] = dy[i + k]);
}

INL void act_ops(const act_job *j, float *o, const float *a, const float *b, size_t n,
                 const int set)
{
    switch (j->op) {
    case RELU_F: relu_f(o, a, n); break;
    case RELU_B: relu_b(o, a, b, n, set); break;
    case CLIP_F: clip_f(o, a, j->p, j->q, n); break;
    case CLIP_B: clip_b(o, a, b, j->p, j->q, n, set); break;
    case LEAKY_F:
        for (size_t i = 0; i < n; i++) o[i] = a[i] > 0.0f ? a[i] : j->p * a[i];
        break;
    case LEAKY_B:
        for (size_t i = 0; i < n; i++) GSTORE(o[i], b[i] > 0.0f ? a[i] : j->p * a[i]);
        break;
    case TANH_F:
        for (size_t i = 0; i < n; i++) o[i] = tanhf(a[i]);
        break;
    case TANH_B:
        for (size_t i = 0; i < n; i++) GSTORE(o[i], a[i] * (1.0f - b[i] * b[i]));
        break;
    case ADD_F: add_f(o, a, b, n); break;
    case ADD_RELU_F: add_relu_f(o, a, b, n); break;
    default: accum(o, a, n, set); break;
    }
}

/* Part t of T: elements [n*t/T, n*(t+1)/T). */
static void act_part(void *ctx, int t, int T)
{
    const act_job *j = ctx;
    const size_t i0 = j->n * (size_t)t / (size_t)T, i1 = j->n * (size_t)(t + 1) / (size_t)T;
    const size_t n = i1 - i0;
    float *o = j->out + i0;
    const float *a = j->a + i0, *b = j->b ? j->b + i0 : NULL;
    if (j->set)
        act_ops(j, o, a, b, n, 1);
    else
        act_ops(j, o, a, b, n, 0);
}
static void act_run(int op, float *out, const float *a, const float *b, float p, float q,
                    size_t n)
{
    act_job j = {.op = op, .out = out, .a = a, .b = b, .p = p, .q = q, .n = n};
    gn_ops_parallel(act_part, &j, n);
}

void gn_act_backward_set(int op, float *dx, const float *dy, const float *x, float p, float q,
                         size_t n)
{
    GN_ASSERT(dx && dy);
    static const int map[] = {[GN_SET_RELU] = RELU_B, [GN_SET_CLIP] = CLIP_B,
                              [GN_SET_LEAKY] = LEAKY_B, [GN_SET_TANH] = TANH_B,
                              [GN_SET_COPY] = ACCUM};
    GN_ASSERT(op >= 0 && op <= GN_SET_COPY);
    GN_ASSERT(op == GN_SET_COPY || x);
    act_job j = {.op = map[op], .out = dx, .a = dy, .b = x, .p = p, .q = q, .n = n, .set = 1};
    gn_ops_parallel(act_part, &j, n);
}

void gn_relu_forward(float *y, const float *x, size_t n)
{
    GN_ASSERT(y && x);
    act_run(RELU_F, y, x, NULL, 0, 0, n);
}

void gn_relu_backward(float *dx, const float *dy, const float *x, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    act_run(RELU_B, dx, dy, x, 0, 0, n);
}

void gn_clip_forward(float *y, const float *x, float lo, float hi, size_t n)
{
    GN_ASSERT(y && x && lo <= hi);
    act_run(CLIP_F, y, x, NULL, lo, hi, n);
}

void gn_clip_backward(float *dx, const float *dy, const float *x, float lo, float hi, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    act_run(CLIP_B, dx, dy, x, lo, hi, n);
}

void gn_leaky_forward(float *y, const float *x, float slope, size_t n)
{
    GN_ASSERT(y && x);
    act_run(LEAKY_F, y, x, NULL, slope, 0, n);
}

void gn_leaky_backward(float *dx, const float *dy, const float *x, float slope, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && x);
    act_run(LEAKY_B, dx, dy, x, slope, 0, n);
}

void gn_tanh_forward(float *y, const float *x, size_t n)
{
    GN_ASSERT(y && x);
    act_run(TANH_F, y, x, NULL, 0, 0, n);
}

void gn_tanh_backward(float *dx, const float *dy, const float *y, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy && y);
    act_run(TANH_B, dx, dy, y, 0, 0, n);
}

void gn_add_forward(float *y, const float *a, const float *b, size_t n)
{
    GN_ASSERT(y && a && b);
    act_run(ADD_F, y, a, b, 0, 0, n);
}

void gn_accum(float *dx, const float *dy, size_t n)
{
    if (!dx) return;
    GN_ASSERT(dy);
    act_run(ACCUM, dx, dy, NULL, 0, 0, n);
}

void gn_add_relu_forward(float *y, const float *a, const float *b, size_t n)
{
    GN_ASSERT(y && a && b);
    act_run(ADD_RELU_F, y, a, b, 0, 0, n);
}
