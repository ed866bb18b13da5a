/* test_optim.c - Adam against an independent double-precision Adam,
 * ReduceLROnPlateau against hand-traced PyTorch semantics, and the
 * closed-form schedules. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gn_optim.h"

/* textbook Adam (Kingma & Ba, with PyTorch's placement of eps), in double */
static void adam_ref(double *p, double *m, double *v, const double *g, int n, double lr, double b1,
                     double b2, double eps, long t)
{
    for (int i = 0; i < n; i++) {
        m[i] = b1 * m[i] + (1 - b1) * g[i];
        v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
        double mh = m[i] / (1 - pow(b1, (double)t)), vh = v[i] / (1 - pow(b2, (double)t));
        p[i] -= lr * mh / (sqrt(vh) + eps);
    }
}

static void test_adam(void)
{
    /* minimise sum (p - c)^2 for 50 steps; float Adam tracks the double one */
    enum { N = 7 };
    float p[N], g[N];
    double pr[N], mr[N] = {0}, vr[N] = {0}, gr[N];
    const double c[N] = {0.5, -1.25, 3, 0, -0.001, 10, -7};
    for (int i = 0; i < N; i++) p[i] = (float)(i - 3) * 0.7f, pr[i] = p[i];
    gn_adam a;
    gn_adam_init(&a, 0.05f);
    CHECK(a.beta1 == 0.9f && a.beta2 == 0.999f && a.eps == 1e-8f);
    gn_adam_add(&a, p, g, N);
    double maxd = 0;
    for (long t = 1; t <= 50; t++) {
        for (int i = 0; i < N; i++) g[i] = 2 * (p[i] - (float)c[i]), gr[i] = 2 * (pr[i] - c[i]);
        gn_adam_step(&a);
        adam_ref(pr, mr, vr, gr, N, 0.05, 0.9, 0.999, 1e-8, t);
        for (int i = 0; i < N; i++) maxd = fmax(maxd, fabs(p[i] - pr[i]));
    }
    CHECK(maxd < 2e-5);
    CHECK(a.var[0].t == 50);
    /* the first step moves every parameter by lr against its gradient's sign */
    gn_adam_reset(&a);
    for (int i = 0; i < N; i++) p[i] = 1.0f, g[i] = (float)(i - 3) * 1e-2f + 1e-3f;
    gn_adam_step(&a);
    for (int i = 0; i < N; i++) CHECK_NEAR(p[i], 1.0f - 0.05f * (g[i] > 0 ? 1 : -1), 1e-6);
    gn_adam_zero_grad(&a);
    for (int i = 0; i < N; i++) CHECK(g[i] == 0.0f);
    /* two variables in one group step independently of each other's presence */
    float q[3] = {1, 2, 3}, gq[3] = {0.5f, -0.5f, 0.25f}, q2[3] = {1, 2, 3}, gq2[3];
    memcpy(gq2, gq, sizeof gq);
    gn_adam b, b2;
    gn_adam_init(&b, 0.1f);
    gn_adam_init(&b2, 0.1f);
    gn_adam_add(&b, p, g, N);
    gn_adam_add(&b, q, gq, 3);
    gn_adam_add(&b2, q2, gq2, 3);
    for (int s = 0; s < 5; s++) gn_adam_step(&b), gn_adam_step(&b2);
    CHECK(memcmp(q, q2, sizeof q) == 0);
    /* a variable's lr_scale (1 when added) scales its rate alone: in a group
     * at 0.1, one at lr_scale 0.25 takes the steps of a group at 0.025 */
    CHECK(b.var[0].lr_scale == 1 && b.var[1].lr_scale == 1);
    float r1[3] = {1, 2, 3}, r2[3] = {1, 2, 3}, r3[3] = {1, 2, 3}, gz[3] = {0.5f, -0.5f, 0.25f};
    gn_adam e1, e2;
    gn_adam_init(&e1, 0.1f);
    gn_adam_init(&e2, 0.025f);
    gn_adam_add(&e1, r1, gz, 3);
    e1.var[gn_adam_add(&e1, r2, gz, 3)].lr_scale = 0.25f;
    gn_adam_add(&e2, r3, gz, 3);
    for (int s = 0; s < 5; s++) gn_adam_step(&e1), gn_adam_step(&e2);
    CHECK(memcmp(r2, r3, sizeof r2) == 0 && memcmp(r1, q2, sizeof r1) == 0 && r1[0] != r2[0]);
    gn_adam_free(&e1);
    gn_adam_free(&e2);
    gn_adam_free(&a);
    gn_adam_free(&b);
    gn_adam_free(&b2);
    CHECK(b.nvar == 0 && b.var == NULL);
}

static void test_plateau(void)
{
    gn_plateau p;
    /* factor 0.5, patience 2, threshold 0.1 (rel), cooldown 0, min_lr 0.1 */
    gn_plateau_init(&p, 0.5, 2, 0.1, 0, 0.1);
    double lr = 1.0;
    /* 10 is the first best; 9.5 and 9.4 are not below 10*0.9 (bad 1, 2);
     * 9.3 is bad 3 > patience: lr halves and the count restarts */
    const double m1[] = {10, 9.5, 9.4};
    for (int i = 0; i < 3; i++) lr = gn_plateau_step(&p, m1[i], lr);
    CHECK(lr == 1.0 && p.num_bad == 2);
    lr = gn_plateau_step(&p, 9.3, lr);
    CHECK(lr == 0.5 && p.num_bad == 0 && p.reductions == 1);
    lr = gn_plateau_step(&p, 8.9, lr); /* 8.9 < 9: better, best 8.9 */
    CHECK(p.best == 8.9 && p.num_bad == 0);
    for (int i = 0; i < 3; i++) lr = gn_plateau_step(&p, 8.9, lr);
    CHECK(lr == 0.25);
    for (int i = 0; i < 3; i++) lr = gn_plateau_step(&p, 8.9, lr);
    CHECK(lr == 0.125);
    for (int i = 0; i < 3; i++) lr = gn_plateau_step(&p, 8.9, lr);
    CHECK(lr == 0.1); /* clamped at min_lr */
    for (int i = 0; i < 3; i++) lr = gn_plateau_step(&p, 8.9, lr);
    CHECK(lr == 0.1 && p.reductions == 4); /* no change below eps: not counted */
    /* cooldown: bad steps are not counted while it runs */
    gn_plateau_init(&p, 0.1, 0, 1e-4, 2, 0);
    lr = 1;
    lr = gn_plateau_step(&p, 1.0, lr);
    lr = gn_plateau_step(&p, 1.0, lr); /* bad 1 > 0: reduce, cooldown 2 */
    CHECK_NEAR(lr, 0.1, 1e-12);
    lr = gn_plateau_step(&p, 1.0, lr);
    lr = gn_plateau_step(&p, 1.0, lr);
    CHECK_NEAR(lr, 0.1, 1e-12); /* both in cooldown */
    lr = gn_plateau_step(&p, 1.0, lr);
    CHECK_NEAR(lr, 0.01, 1e-12);
    /* Genie's setting: a steadily falling loss never reduces the lr */
    gn_plateau_init(&p, 0.1, 100, 1e-4, 0, 1e-4);
    lr = 0.1;
    for (int i = 0; i < 1000; i++) lr = gn_plateau_step(&p, 100.0 * pow(0.99, i), lr);
    CHECK(lr == 0.1);
    /* ... and a flat one reduces it after patience+1 = 101 steps past the best */
    for (int i = 0; i < 101; i++) lr = gn_plateau_step(&p, 1e9, lr);
    CHECK_NEAR(lr, 0.01, 1e-12);
}

static void test_schedules(void)
{
    CHECK_NEAR(gn_step_decay_lr(0.01, 0.95, 100, 0), 0.01, 1e-15);
    CHECK_NEAR(gn_step_decay_lr(0.01, 0.95, 100, 99), 0.01, 1e-15);
    CHECK_NEAR(gn_step_decay_lr(0.01, 0.95, 100, 100), 0.0095, 1e-15);
    CHECK_NEAR(gn_step_decay_lr(0.01, 0.95, 100, 3999), 0.01 * pow(0.95, 39), 1e-15);
    CHECK_NEAR(gn_cosine_lr(1e-3, 0, 1000, 0), 1e-3, 1e-15);
    CHECK_NEAR(gn_cosine_lr(1e-3, 0, 1000, 500), 5e-4, 1e-12);
    CHECK_NEAR(gn_cosine_lr(1e-3, 0, 1000, 1000), 0, 1e-15);
    CHECK_NEAR(gn_cosine_lr(1e-3, 1e-5, 1000, 2000), 1e-5, 1e-15);
    CHECK_NEAR(gn_cosine_lr(4e-5, 0, 100, 25), 4e-5 * (1 + cos(M_PI / 4)) / 2, 1e-15);
}

/* the SSE update against its twin, bit for bit, every tail length */
static void test_adam_fast(void)
{
    enum { N = 67 };
    float p0[N], m0[N], v0[N], p1[N], m1[N], v1[N], g[N];
    for (int n = 60; n <= N; n++) {
        for (int i = 0; i < N; i++) {
            p0[i] = p1[i] = (float)((i * 37) % 19) / 7.0f - 1.3f;
            m0[i] = m1[i] = (float)((i * 13) % 11) / 50.0f - 0.1f;
            v0[i] = v1[i] = (float)((i * 7) % 5) / 100.0f;
            g[i] = (float)((i * 29) % 23) / 9.0f - 1.2f;
        }
        g[3] = 0, v0[3] = v1[3] = 0, m0[3] = m1[3] = 0; /* 0/eps */
        for (long t = 1; t <= 3; t++) {
            gn_adam_update_ref(p0, m0, v0, g, (size_t)n, 0.01f, 0.9f, 0.999f, 1e-8f, t);
            gn_adam_update(p1, m1, v1, g, (size_t)n, 0.01f, 0.9f, 0.999f, 1e-8f, t);
        }
        CHECK(!memcmp(p0, p1, sizeof p0) && !memcmp(m0, m1, sizeof m0) && !memcmp(v0, v1, sizeof v0));
    }
}

int main(void)
{
    test_adam_fast();
    test_adam();
    test_plateau();
    test_schedules();
    return check_summary("test_optim");
}
