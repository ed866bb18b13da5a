/* fd.h - the finite-difference harness the operator tests share (test_ops,
 * test_families): a seeded xorshift generator, random vectors, and
 * fd_check, central differences of a scalar loss against an analytic
 * gradient. Define FD_SEED (a nonzero 64-bit constant) before including it:
 * each test keeps its own sequence of draws.
 * What it does not do: choose the loss (L = sum(y * r) in the tests) or
 * the tolerances (each call gives its own). */
#ifndef FD_H
#define FD_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#include "check.h"
#include "gn_err.h"

#ifndef FD_SEED
#error "define FD_SEED before including fd.h"
#endif

static uint64_t fd_rng = FD_SEED;

static inline uint32_t xorshift(void)
{
    fd_rng ^= fd_rng << 13;
    fd_rng ^= fd_rng >> 7;
    fd_rng ^= fd_rng << 17;
    return (uint32_t)(fd_rng >> 32);
}

/* uniform in [lo, hi), 24 bits */
static inline float urand(float lo, float hi)
{
    return lo + (hi - lo) * (float)((xorshift() >> 8) * (1.0 / 16777216.0));
}

/* n zeros (at least one element); the caller frees */
static inline float *vec(size_t n) { return gn_xcalloc(n ? n : 1, sizeof(float)); }

/* n uniform draws in [lo, hi); the caller frees */
static inline float *rvec(size_t n, float lo, float hi)
{
    float *a = vec(n);
    for (size_t i = 0; i < n; i++) a[i] = urand(lo, hi);
    return a;
}

static inline double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

typedef double (*loss_fn)(void *ctx);

/* Central differences of f in p[i] against grad[i], over all n entries or a
 * random `maxn` of them: each must satisfy |num - grad| <= atol + rtol*|grad|.
 * The step is the float difference actually taken. p is left as it was. One
 * CHECK per call; the first 3 misses are printed. */
static inline void fd_check(const char *what, loss_fn f, void *ctx, float *p, const float *grad,
                            size_t n, size_t maxn, float h, double atol, double rtol)
{
    int bad = 0;
    size_t m = n <= maxn ? n : maxn;
    for (size_t k = 0; k < m; k++) {
        size_t i = n <= maxn ? k : xorshift() % n;
        float save = p[i], a = save + h, b = save - h;
        p[i] = a;
        double lp = f(ctx);
        p[i] = b;
        double lm = f(ctx);
        p[i] = save;
        double num = (lp - lm) / ((double)a - (double)b);
        double err = fabs(num - grad[i]), tol = atol + rtol * fabs(grad[i]);
        if (!(err <= tol)) {
            if (bad < 3)
                fprintf(stderr, "  fd %s[%zu]: numeric %.7g analytic %.7g (tol %.2g)\n", what, i,
                        num, grad[i], tol);
            bad++;
        }
    }
    if (bad) fprintf(stderr, "  fd %s: %d of %zu entries off\n", what, bad, m);
    CHECK(bad == 0);
}

#endif
