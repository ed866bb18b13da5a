/* optim.c - Adam, ReduceLROnPlateau and closed-form lr schedules with
 * PyTorch's semantics (see gn_optim.h).
 * What it deliberately does not do: weight decay, amsgrad, gradient
 * clipping, or any allocation in a step. */
#include "gn_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* as torch.optim.Adam (single-tensor, non-capturable path): bias
 * corrections in double, step_size = lr/bc1, denom = sqrt(v)/sqrt(bc2)+eps */
static void adam_consts(float *step, float *sbc2, float lr, float beta1, float beta2, long t)
{
    GN_ASSERT(t >= 1);
    const double bc1 = 1.0 - pow((double)beta1, (double)t);
    const double bc2 = 1.0 - pow((double)beta2, (double)t);
    *step = (float)((double)lr / bc1);
    *sbc2 = (float)sqrt(bc2);
}

static void adam_plain(float *p, float *m, float *v, const float *g, size_t n, float step,
                       float sbc2, float beta1, float beta2, float eps)
{
    const float c1 = 1.0f - beta1, b2 = beta2, c2 = 1.0f - beta2;
    for (size_t i = 0; i < n; i++) {
        const float gi = g[i];
        const float mi = m[i] + c1 * (gi - m[i]); /* lerp, as PyTorch */
        const float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] -= step * mi / (sqrtf(vi) / sbc2 + eps);
    }
}

void gn_adam_update_ref(float *p, float *m, float *v, const float *g, size_t n, float lr,
                        float beta1, float beta2, float eps, long t)
{
    float step, sbc2;
    adam_consts(&step, &sbc2, lr, beta1, beta2, t);
    adam_plain(p, m, v, g, n, step, sbc2, beta1, beta2, eps);
}

void gn_adam_update(float *p, float *m, float *v, const float *g, size_t n, float lr,
                    float beta1, float beta2, float eps, long t)
{
    float step, sbc2;
    adam_consts(&step, &sbc2, lr, beta1, beta2, t);
    const float c1 = 1.0f - beta1, b2 = beta2, c2 = 1.0f - beta2;
    size_t i = 0;
#if defined(__SSE2__)
    /* 4 at a time with SSE: the same IEEE operations per element, in the
     * same order, as adam_plain, which finishes the tail (gcc does not
     * vectorise it: sqrtf may set errno) */
    const __m128 vc1 = _mm_set1_ps(c1), vb2 = _mm_set1_ps(b2), vc2 = _mm_set1_ps(c2);
    const __m128 vst = _mm_set1_ps(step), vsb = _mm_set1_ps(sbc2), veps = _mm_set1_ps(eps);
    for (; i + 4 <= n; i += 4) {
        const __m128 gi = _mm_loadu_ps(g + i), m0 = _mm_loadu_ps(m + i);
        const __m128 mi = _mm_add_ps(m0, _mm_mul_ps(vc1, _mm_sub_ps(gi, m0)));
        const __m128 vi = _mm_add_ps(_mm_mul_ps(vb2, _mm_loadu_ps(v + i)),
                                     _mm_mul_ps(_mm_mul_ps(vc2, gi), gi));
        const __m128 den = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), vsb), veps);
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        _mm_storeu_ps(p + i, _mm_sub_ps(_mm_loadu_ps(p + i), _mm_div_ps(_mm_mul_ps(vst, mi), den)));
    }
#endif
    adam_plain(p + i, m + i, v + i, g + i, n - i, step, sbc2, beta1, beta2, eps);
}

void gn_adam_init(gn_adam *a, float lr)
{
    memset(a, 0, sizeof *a);
    a->lr = lr;
    a->beta1 = 0.9f;
    a->beta2 = 0.999f;
    a->eps = 1e-8f;
}

int gn_adam_add(gn_adam *a, float *data, const float *grad, size_t n)
{
    GN_ASSERT(data && grad);
    if (a->nvar == a->cap) {
        int nc = a->cap ? 2 * a->cap : 8;
        gn_adam_var *q = realloc(a->var, (size_t)nc * sizeof *q);
        GN_ASSERT(q);
        a->var = q;
        a->cap = nc;
    }
    gn_adam_var *v = &a->var[a->nvar];
    v->data = data;
    v->grad = grad;
    v->n = n;
    v->m = gn_xcalloc(n ? n : 1, sizeof(float));
    v->v = gn_xcalloc(n ? n : 1, sizeof(float));
    v->t = 0;
    v->lr_scale = 1;
    return a->nvar++;
}

void gn_adam_step(gn_adam *a)
{
    for (int i = 0; i < a->nvar; i++) {
        gn_adam_var *v = &a->var[i];
        v->t++;
        gn_adam_update(v->data, v->m, v->v, v->grad, v->n, a->lr * v->lr_scale, a->beta1, a->beta2,
                       a->eps, v->t);
    }
}

void gn_adam_zero_grad(gn_adam *a)
{
    for (int i = 0; i < a->nvar; i++) memset((float *)a->var[i].grad, 0, a->var[i].n * sizeof(float));
}

void gn_adam_reset(gn_adam *a)
{
    for (int i = 0; i < a->nvar; i++) {
        if (!a->var[i].t) continue; /* never stepped: zeros, and perhaps not touched yet */
        memset(a->var[i].m, 0, a->var[i].n * sizeof(float));
        memset(a->var[i].v, 0, a->var[i].n * sizeof(float));
        a->var[i].t = 0;
    }
}

void gn_adam_free(gn_adam *a)
{
    for (int i = 0; i < a->nvar; i++) {
        free(a->var[i].m);
        free(a->var[i].v);
    }
    free(a->var);
    a->var = NULL;
    a->nvar = a->cap = 0;
}

void gn_plateau_init(gn_plateau *p, double factor, int patience, double threshold,
                     int cooldown, double min_lr)
{
    GN_ASSERT(factor < 1.0 && factor >= 0.0 && patience >= 0 && cooldown >= 0);
    memset(p, 0, sizeof *p);
    p->factor = factor;
    p->patience = patience;
    p->threshold = threshold;
    p->cooldown = cooldown;
    p->min_lr = min_lr;
    p->eps = 1e-8;
    p->best = INFINITY;
}

double gn_plateau_step(gn_plateau *p, double metric, double lr)
{
    p->steps++;
    /* is_better, mode min, rel: a < best * (1 - threshold) */
    if (metric < p->best * (1.0 - p->threshold)) {
        p->best = metric;
        p->num_bad = 0;
    } else {
        p->num_bad++;
    }
    if (p->cooldown_counter > 0) {
        p->cooldown_counter--;
        p->num_bad = 0;
    }
    if (p->num_bad > p->patience) {
        double nl = fmax(lr * p->factor, p->min_lr);
        if (lr - nl > p->eps) {
            lr = nl;
            p->reductions++;
        }
        p->cooldown_counter = p->cooldown;
        p->num_bad = 0;
    }
    return lr;
}

double gn_step_decay_lr(double lr0, double gamma, long every, long it)
{
    GN_ASSERT(every >= 1);
    if (it < 0) it = 0;
    return lr0 * pow(gamma, (double)(it / every));
}

double gn_cosine_lr(double lr0, double eta_min, long T, long it)
{
    if (T <= 0) return eta_min;
    if (it < 0) it = 0;
    if (it > T) it = T;
    return eta_min + (lr0 - eta_min) * (1.0 + cos(M_PI * (double)it / (double)T)) / 2.0;
}
