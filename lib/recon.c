/* recon.c - Genie-M block reconstruction of one unit (see gn_recon.h). */
#include "gn_recon.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gn_cli.h"
#include "gn_err.h"
#include "gn_optim.h"
#include "gn_quant.h"
#include "gn_rng.h"
#include "gn_run.h"

void gn_recon_defaults(gn_recon_opts *o)
{
    memset(o, 0, sizeof *o);
    o->iters = 20000;
    o->batch = 32;
    o->seed = 0;
    o->lr_wstep = 1e-4f;
    o->lr_astep = 4e-5f;
    o->lr_round = 1e-3f;
    o->warmup = 0.2f;
    o->beta_start = 20;
    o->beta_end = 2;
    o->lambda = 1.0f;
    o->input_drop = 1;
    o->qdrop = 1;
    o->collect_batch = 64;
}

/* runs nodes [0, last) of r on b samples of x */
static void run_prefix(gn_run *r, const float *x, int b, int last)
{
    r->b = b;
    memcpy(r->val[r->g->input], x, (size_t)b * gn_tensor_size(r->g, r->g->input) * sizeof(float));
    gn_run_forward_nodes(r, 0, last);
}

/* mean over samples and space of the channel-summed squared error */
static double rec_error(const float *yh, const float *y, size_t n, size_t chw, int c)
{
    double s = 0;
    for (size_t i = 0; i < n * chw; i++) {
        double d = (double)yh[i] - y[i];
        s += d * d;
    }
    return s / ((double)n * (double)(chw / (size_t)c));
}

double gn_recon_sqerr_ref(float *dy, const float *yh, const float *y, size_t n, double c)
{
    double L = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)yh[i] - y[i];
        L += d * d;
        dy[i] = (float)(c * d);
    }
    return L;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* the twin's operations 4 lanes at a time (exact float->double conversion,
 * double subtract, multiply, round to float), so dy is bit-identical; L in
 * 4 partial sums */
__attribute__((target("avx2"))) static double sqerr_avx2(float *dy, const float *yh,
                                                          const float *y, size_t n, double c)
{
    __m256d acc = _mm256_setzero_pd();
    const __m256d vc = _mm256_set1_pd(c);
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        __m256d d = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(yh + i)), _mm256_cvtps_pd(_mm_loadu_ps(y + i)));
        acc = _mm256_add_pd(acc, _mm256_mul_pd(d, d));
        _mm_storeu_ps(dy + i, _mm256_cvtpd_ps(_mm256_mul_pd(vc, d)));
    }
    double a[4];
    _mm256_storeu_pd(a, acc);
    return (a[0] + a[1]) + (a[2] + a[3]) + gn_recon_sqerr_ref(dy + i, yh + i, y + i, n - i, c);
}
#endif

double gn_recon_sqerr(float *dy, const float *yh, const float *y, size_t n, double c)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx2")) return sqerr_avx2(dy, yh, y, n, c);
#endif
    return gn_recon_sqerr_ref(dy, yh, y, n, c);
}

int gn_recon_unit(gn_qmodel *q, int k, const float *x, size_t n, const gn_recon_opts *o,
                  gn_recon_log *log)
{
    gn_graph *g = q->g;
    if (k < 0 || k >= q->nunits) return gn_err_set("unit %d out of range 0..%d", k, q->nunits - 1);
    if (n < 1) return gn_err_set("no calibration samples");
    const gn_unit *u = &q->units[k];
    memset(log, 0, sizeof *log);
    double t0 = gn_now();
    size_t in_sz = gn_tensor_size(g, u->in), out_sz = gn_tensor_size(g, u->out);
    size_t x_sz = gn_tensor_size(g, g->input);
    int oc = g->t[u->out].c;
    float *X = gn_xmalloc(n * in_sz * sizeof(float)), *XT = gn_xmalloc(n * in_sz * sizeof(float));
    float *Y = gn_xmalloc(n * out_sz * sizeof(float));

    /* collect x (FP32 input), x~ (quantised model's input), y (FP32 output) */
    int cb = o->collect_batch < 1 ? 64 : o->collect_batch;
    gn_run *rc = gn_run_new(g, cb, 0);
    for (size_t s = 0; s < n; s += (size_t)cb) {
        int b = (int)(n - s < (size_t)cb ? n - s : (size_t)cb);
        rc->qmode = 0;
        run_prefix(rc, x + s * x_sz, b, u->last);
        memcpy(X + s * in_sz, rc->val[u->in], (size_t)b * in_sz * sizeof(float));
        memcpy(Y + s * out_sz, rc->val[u->out], (size_t)b * out_sz * sizeof(float));
        rc->qmode = 1;
        run_prefix(rc, x + s * x_sz, b, u->first);
        memcpy(XT + s * in_sz, rc->val[u->in], (size_t)b * in_sz * sizeof(float));
    }
    /* hard-rounded error before */
    float *YH = gn_xmalloc((n > (size_t)o->batch ? n : (size_t)o->batch) * out_sz * sizeof(float));
    for (size_t s = 0; s < n; s += (size_t)cb) {
        int b = (int)(n - s < (size_t)cb ? n - s : (size_t)cb);
        rc->b = b;
        memcpy(rc->val[u->in], XT + s * in_sz, (size_t)b * in_sz * sizeof(float));
        gn_run_forward_nodes(rc, u->first, u->last);
        memcpy(YH + s * out_sz, rc->val[u->out], (size_t)b * out_sz * sizeof(float));
    }
    log->rec_before = rec_error(YH, Y, n, out_sz, oc);

    /* training run: soft rounding and QDrop inside the unit */
    int B = o->batch;
    gn_run *r = gn_run_new(g, B, 1);
    gn_rng rng;
    gn_rng_seed(&rng, o->seed, 0x5245434fULL + (uint64_t)k);
    r->qmode = 1;
    r->soft_first = u->first, r->soft_last = u->last;
    r->qdrop_rng = o->qdrop ? &rng : NULL;
    memset(r->trainable, 0, (size_t)g->np + 1);
    gn_adam aw, aa, av;
    gn_adam_init(&aw, o->lr_wstep);
    gn_adam_init(&aa, o->lr_astep);
    gn_adam_init(&av, o->lr_round);
    for (int j = u->first; j < u->last; j++) {
        gn_node *nd = &g->nodes[j];
        int slots[3], ns = 0;
        gn_adam *grp[3];
        if (nd->wbits) slots[ns] = GN_P_WSTEP, grp[ns++] = &aw, slots[ns] = GN_P_WV, grp[ns++] = &av;
        if (nd->op == GN_OP_AQUANT) slots[ns] = GN_P_ASTEP, grp[ns++] = &aa;
        for (int s = 0; s < ns; s++) {
            gn_param *p = &g->params[nd->p[slots[s]]];
            r->trainable[nd->p[slots[s]]] = 1;
            if (!p->grad) p->grad = gn_xcalloc(p->n, sizeof(float));
            gn_adam_add(grp[s], p->data, p->grad, p->n);
        }
    }
    /* the tensors of the unit whose gradients must be zeroed each step */
    size_t *idx = gn_xmalloc((size_t)(n < (size_t)B ? (size_t)B : n) * sizeof(size_t));
    for (size_t i = 0; i < n; i++) idx[i] = i;
    double warm = o->warmup * (double)o->iters;
    double hw = 1.0 / ((double)B * (double)(out_sz / (size_t)oc));
    gn_progress pr;
    char what[64], status[160];
    snprintf(what, sizeof what, "unit %d", k);
    gn_progress_start(&pr, what, o->iters, o->quiet);
    double rec_acc = 0, round_l = 0, beta = o->beta_start;
    long acc_n = 0, win = o->iters / 100 > 0 ? o->iters / 100 : 1;
    float *xin = r->val[u->in];
    const size_t nbits = (in_sz + 63) / 64;
    uint64_t *bits = gn_xmalloc(nbits * sizeof(uint64_t));
    size_t *picks = gn_xmalloc((size_t)B * sizeof(size_t));
    double l0 = gn_now(), lc0 = gn_cpu_now();
    for (long it = 0; it < o->iters; it++) {
        /* a batch of B distinct samples (with replacement only if n < B) */
        for (int i = 0; i < B; i++) {
            size_t pick;
            if ((size_t)B <= n) {
                size_t j = (size_t)i + gn_rng_below(&rng, (uint32_t)(n - (size_t)i));
                size_t t = idx[i];
                idx[i] = idx[j], idx[j] = t;
                pick = idx[i];
            } else {
                pick = gn_rng_below(&rng, (uint32_t)n);
            }
            picks[i] = pick;
            /* input QDrop: element m is x (FP) where bit m of the draws is set */
            for (size_t w = 0; w < nbits; w++) bits[w] = gn_rng_u64(&rng);
            const float *a = XT + pick * in_sz, *f = X + pick * in_sz;
            float *dst = xin + (size_t)i * in_sz;
            if (o->input_drop)
                gn_select_bits(dst, a, f, bits, in_sz);
            else
                memcpy(dst, a, in_sz * sizeof(float));
        }
        r->b = B;
        gn_run_forward_nodes(r, u->first, u->last);
        /* the loss below writes all of dy; backward's first writers overwrite the rest */
        gn_run_forget_grad(r);
        const float *yh = r->val[u->out];
        float *dy = gn_run_grad_set(r, u->out);
        double L = 0;
        for (int i = 0; i < B; i++)
            L += gn_recon_sqerr(dy + (size_t)i * out_sz, yh + (size_t)i * out_sz,
                                Y + picks[i] * out_sz, out_sz, 2.0 * hw);
        L *= hw;
        gn_adam_zero_grad(&aw), gn_adam_zero_grad(&aa), gn_adam_zero_grad(&av);
        gn_run_backward_nodes(r, GN_WANT_PARAMS, u->first, u->last);
        /* the rounding loss's value is only logged: it is computed (a pow in
         * double per weight) at the last iteration and when progress prints */
        const int show = it == o->iters - 1 || gn_progress_due(&pr, it + 1);
        round_l = 0;
        /* the schedule counts iterations from 1, as the reference does */
        long t1 = it + 1;
        if ((double)t1 >= o->warmup * (double)o->iters) {
            double rel = ((double)t1 - warm) / ((double)o->iters - warm);
            beta = o->beta_end + (o->beta_start - o->beta_end) * (rel < 1 ? 1 - rel : 0);
            for (int j = u->first; j < u->last; j++) {
                gn_node *nd = &g->nodes[j];
                if (!nd->wbits) continue;
                gn_param *v = &g->params[nd->p[GN_P_WV]];
                /* r->wsg[j]: sigmoid(v) of this iteration's forward (v is unchanged since) */
                round_l += gn_round_loss_sg(v->grad, r->wsg[j], v->n, (float)beta, o->lambda, show);
            }
        }
        aw.lr = (float)gn_cosine_lr(o->lr_wstep, 0, o->iters, it);
        aa.lr = (float)gn_cosine_lr(o->lr_astep, 0, o->iters, it);
        gn_adam_step(&aw), gn_adam_step(&aa), gn_adam_step(&av);
        if (it < win) log->rec_first += L / (double)(win < o->iters ? win : o->iters);
        if (it >= o->iters - win) rec_acc += L, acc_n++;
        if (show) {
            snprintf(status, sizeof status, "rec %.4g round %.4g beta %.1f", L, round_l * o->lambda,
                     (double)(it + 1) >= o->warmup * (double)o->iters ? beta : o->beta_start);
            gn_progress_update(&pr, it + 1, status);
        }
    }
    log->loop_seconds = gn_now() - l0, log->loop_cpu = gn_cpu_now() - lc0;
    log->rec_last = acc_n ? rec_acc / (double)acc_n : 0;
    log->round_last = round_l;
    log->beta_last = beta;
    /* after: hard rounding, plain quantisers */
    for (int j = u->first; j < u->last; j++) {
        gn_node *nd = &g->nodes[j];
        if (!nd->wbits) continue;
        gn_param *v = &g->params[nd->p[GN_P_WV]];
        for (size_t i = 0; i < v->n; i++) {
            float h = gn_rsig(v->data[i]);
            log->undecided += h > 0.01f && h < 0.99f;
        }
        log->nsoft += (long)v->n;
    }
    for (size_t s = 0; s < n; s += (size_t)cb) {
        int b = (int)(n - s < (size_t)cb ? n - s : (size_t)cb);
        rc->b = b;
        memcpy(rc->val[u->in], XT + s * in_sz, (size_t)b * in_sz * sizeof(float));
        gn_run_forward_nodes(rc, u->first, u->last);
        memcpy(YH + s * out_sz, rc->val[u->out], (size_t)b * out_sz * sizeof(float));
    }
    log->rec_after = rec_error(YH, Y, n, out_sz, oc);
    log->seconds = gn_now() - t0;
    q->done[k] = 1;
    gn_adam_free(&aw), gn_adam_free(&aa), gn_adam_free(&av);
    gn_run_free(r);
    gn_run_free(rc);
    free(X), free(XT), free(Y), free(YH), free(idx), free(bits), free(picks);
    return 0;
}
