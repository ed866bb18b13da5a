/* train.c - SGD, the cosine schedule, pad-crop-flip augmentation and the
 * epoch/step trainer with its checkpoints (see gn_train.h).
 * What this does not do: print or parse options (bin/train.c), or any loss
 * but softmax cross-entropy. */
#include "gn_train.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_arch.h"
#include "gn_err.h"
#include "gn_ops.h"
#include "gn_optim.h"

/* ---- optimiser and schedule ---------------------------------------------- */

void gn_sgd_step(float *w, float *buf, const float *dw, size_t n, float lr, float mu, float wd,
                 int nesterov)
{
    for (size_t i = 0; i < n; i++) {
        float g = dw[i] + wd * w[i];
        buf[i] = mu * buf[i] + g;
        g = nesterov ? g + mu * buf[i] : buf[i];
        w[i] -= lr * g;
    }
}

float gn_lr_cosine(float base, long step, long total)
{
    if (total <= 0) return base;
    return (float)gn_cosine_lr(base, 0.0, total, step);
}

/* ---- augmentation --------------------------------------------------------- */

void gn_augment_draw(gn_rng *r, int B, int pad, int flip, int *oy, int *ox, unsigned char *fl)
{
    for (int b = 0; b < B; b++) {
        oy[b] = pad > 0 ? (int)gn_rng_below(r, (uint32_t)(2 * pad + 1)) : 0;
        ox[b] = pad > 0 ? (int)gn_rng_below(r, (uint32_t)(2 * pad + 1)) : 0;
        if (fl) fl[b] = flip ? (unsigned char)gn_rng_below(r, 2) : 0;
    }
}

void gn_augment_crop_flip(float *dst, const float *src, int B, int C, int H, int W, int pad,
                          float value, const int *oy, const int *ox, const unsigned char *fl)
{
    const size_t HW = (size_t)H * W;
    for (int b = 0; b < B; b++) {
        int dy = oy[b] - pad, dx = ox[b] - pad, f = fl ? fl[b] : 0;
        for (int c = 0; c < C; c++) {
            const float *s = src + ((size_t)b * C + c) * HW; // (H,W)
            float *d = dst + ((size_t)b * C + c) * HW;       // (H,W)
            for (int y = 0; y < H; y++) {
                int sy = y + dy;
                float *drow = d + (size_t)y * W;
                if (sy < 0 || sy >= H) {
                    for (int x = 0; x < W; x++) drow[x] = value;
                    continue;
                }
                const float *srow = s + (size_t)sy * W;
                for (int x = 0; x < W; x++) {
                    int sx = (f ? W - 1 - x : x) + dx; /* crop column, then mirror */
                    drow[x] = sx >= 0 && sx < W ? srow[sx] : value;
                }
            }
        }
    }
}

/* ---- trainer -------------------------------------------------------------- */

void gn_train_defaults(gn_train_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->arch, sizeof c->arch, "resnet20");
    c->classes = 10;
    c->epochs = 15;
    c->batch = 128;
    c->lr = 0.1f;
    c->momentum = 0.9f;
    c->weight_decay = 5e-4f;
    c->nesterov = 1;
    c->pad = 2;
    c->pad_value = (0.0f - 0.2860f) / 0.3530f;
    c->flip = 1;
    c->seed = 1;
}

static int check_cfg(const gn_train_cfg *c)
{
    if (c->epochs < 1) return gn_err_code(GN_EINVAL, "epochs %d: must be at least 1", c->epochs);
    if (c->batch < 1) return gn_err_code(GN_EINVAL, "batch %d: must be at least 1", c->batch);
    if (c->classes < 1) return gn_err_code(GN_EINVAL, "classes %d: must be at least 1", c->classes);
    if (!(c->lr > 0) || !isfinite(c->lr)) return gn_err_code(GN_EINVAL, "learning rate %g: must be positive", c->lr);
    if (!(c->momentum >= 0 && c->momentum < 1))
        return gn_err_code(GN_EINVAL, "momentum %g: must be in [0,1)", c->momentum);
    if (!(c->weight_decay >= 0) || !isfinite(c->weight_decay))
        return gn_err_code(GN_EINVAL, "weight decay %g: must be >= 0", c->weight_decay);
    if (c->pad < 0) return gn_err_code(GN_EINVAL, "padding %d: must be >= 0", c->pad);
    if (!isfinite(c->pad_value)) return gn_err_code(GN_EINVAL, "pad value is not finite");
    return 0;
}

int gn_trainer_new(const gn_train_cfg *cfg, size_t n, int C, int H, int W, gn_trainer **out)
{
    if (check_cfg(cfg)) return GN_EINVAL;
    if (n < 1) return gn_err_code(GN_EINVAL, "no training samples");
    if (cfg->pad > H || cfg->pad > W)
        return gn_err_code(GN_EINVAL, "padding %d is larger than the %dx%d images", cfg->pad, H, W);
    gn_graph *g;
    if (gn_arch_build(cfg->arch, C, H, W, cfg->classes, cfg->seed, &g)) return GN_EINVAL;
    gn_trainer *t = gn_xcalloc(1, sizeof *t);
    t->cfg = *cfg;
    t->g = g;
    t->C = C, t->H = H, t->W = W;
    t->n = n;
    int B = (size_t)cfg->batch < n ? cfg->batch : (int)n;
    t->r = gn_run_new(g, B, 1);
    t->steps_per_epoch = (long)((n + (size_t)cfg->batch - 1) / (size_t)cfg->batch);
    t->total_steps = t->steps_per_epoch * cfg->epochs;
    gn_graph_alloc_grads(g);
    t->mom_off = gn_xmalloc(((size_t)g->np + 1) * sizeof(size_t));
    for (int i = 0; i < g->np; i++) {
        t->mom_off[i] = t->r->trainable[i] ? t->nmom : (size_t)-1;
        if (t->r->trainable[i]) t->nmom += g->params[i].n;
    }
    t->mom = gn_xcalloc(t->nmom + 1, sizeof(float));
    size_t per = (size_t)C * H * W;
    t->perm = gn_xmalloc(n * sizeof(int));
    t->xb = gn_xmalloc((size_t)B * per * sizeof(float));
    t->yb = gn_xmalloc((size_t)B * sizeof(int));
    t->probs = gn_xmalloc((size_t)B * cfg->classes * sizeof(float));
    t->oy = gn_xmalloc((size_t)B * sizeof(int));
    t->ox = gn_xmalloc((size_t)B * sizeof(int));
    t->fl = gn_xmalloc((size_t)B);
    *out = t;
    return 0;
}

void gn_trainer_free(gn_trainer *t)
{
    if (!t) return;
    gn_run_free(t->r);
    gn_graph_free(t->g);
    free(t->mom);
    free(t->mom_off);
    free(t->perm);
    free(t->xb);
    free(t->yb);
    free(t->probs);
    free(t->oy);
    free(t->ox);
    free(t->fl);
    free(t);
}

int gn_trainer_check_data(const gn_trainer *t, const gn_dataset *d, const char *path)
{
    if (gn_dataset_check_input(d, path, t->g, NULL)) return GN_EINVAL;
    if (!d->y) return gn_err_code(GN_EINVAL, "%s: no labels (/y)", path);
    if (d->n < 1) return gn_err_code(GN_EINVAL, "%s: no samples", path);
    for (size_t i = 0; i < d->n; i++)
        if (d->y[i] < 0 || d->y[i] >= t->cfg.classes)
            return gn_err_code(GN_EINVAL, "%s: /y[%zu] = %d is not a class of a %d-class model",
                               path, i, d->y[i], t->cfg.classes);
    return 0;
}

void gn_trainer_epoch_begin(gn_trainer *t)
{
    gn_rng_seed(&t->rng, t->cfg.seed, 1 + (uint64_t)t->epoch);
    for (size_t i = 0; i < t->n; i++) t->perm[i] = (int)i;
    for (size_t i = t->n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = gn_rng_below(&t->rng, (uint32_t)(i + 1));
        int tmp = t->perm[i];
        t->perm[i] = t->perm[j];
        t->perm[j] = tmp;
    }
}

void gn_trainer_step(gn_trainer *t, const gn_dataset *d, long i, float *loss, int *bout)
{
    GN_ASSERT(i >= 0 && i < t->steps_per_epoch && d->n == t->n);
    gn_graph *g = t->g;
    gn_run *r = t->r;
    const gn_train_cfg *c = &t->cfg;
    size_t s = (size_t)i * (size_t)c->batch, per = (size_t)t->C * t->H * t->W;
    int b = (int)(t->n - s < (size_t)r->Bmax ? t->n - s : (size_t)r->Bmax);
    gn_augment_draw(&t->rng, b, c->pad, c->flip, t->oy, t->ox, t->fl);
    for (int j = 0; j < b; j++) {
        size_t k = (size_t)t->perm[s + (size_t)j];
        gn_augment_crop_flip(t->xb + (size_t)j * per, d->x + k * per, 1, t->C, t->H, t->W, c->pad,
                             c->pad_value, t->oy + j, t->ox + j, t->fl + j);
        t->yb[j] = d->y[k];
    }
    r->bn_train = 1;
    r->update_running = 1;
    gn_run_forward(r, t->xb, b);                    // logits (b,K)
    gn_run_forget_grad(r); /* backward's first writers overwrite (gn_run.h) */
    gn_graph_zero_grads(g);
    /* the cross-entropy adds into dlogits: gn_run_grad hands it over zeroed */
    *loss = gn_xent_forward_backward(gn_run_grad(r, g->output), t->probs, r->val[g->output], t->yb,
                                     b, c->classes, 1.0f);
    gn_run_backward(r, GN_WANT_PARAMS);
    float lr = gn_lr_cosine(c->lr, t->step, t->total_steps);
    for (int p = 0; p < g->np; p++) {
        if (t->mom_off[p] == (size_t)-1) continue;
        gn_param *q = &g->params[p];
        gn_sgd_step(q->data, t->mom + t->mom_off[p], q->grad, q->n, lr, c->momentum,
                    c->weight_decay, c->nesterov);
    }
    t->step++;
    if (bout) *bout = b;
}

void gn_trainer_epoch_end(gn_trainer *t) { t->epoch++; }

void gn_trainer_evaluate(gn_trainer *t, const gn_dataset *d, double *top1, double *loss)
{
    gn_run *r = t->r;
    const gn_graph *g = t->g;
    int K = t->cfg.classes;
    size_t per = (size_t)t->C * t->H * t->W, hit = 0;
    double ls = 0;
    r->bn_train = 0;
    r->update_running = 0;
    for (size_t s = 0; s < d->n; s += (size_t)r->Bmax) {
        int b = (int)(d->n - s < (size_t)r->Bmax ? d->n - s : (size_t)r->Bmax);
        gn_run_forward(r, d->x + s * per, b);
        const float *z = r->val[g->output]; // (b,K)
        ls += (double)gn_xent_forward_backward(NULL, NULL, z, d->y + s, b, K, 1.0f) * b;
        for (int i = 0; i < b; i++) {
            const float *zi = z + (size_t)i * K;
            int y = d->y[s + (size_t)i], above = 0;
            for (int k = 0; k < K; k++) above += zi[k] > zi[y] || (zi[k] == zi[y] && k < y);
            hit += above == 0;
        }
    }
    *top1 = (double)hit / (double)d->n;
    *loss = ls / (double)d->n;
}

/* ---- checkpoints ---------------------------------------------------------- */

static int write_cfg(hid_t f, const gn_train_cfg *c)
{
    char seed[32];
    snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
    int ints[6] = {c->classes, c->epochs, c->batch, c->nesterov, c->pad, c->flip};
    float fl[4] = {c->lr, c->momentum, c->weight_decay, c->pad_value};
    return gn_h5_attr_str_w(f, "arch", c->arch) || gn_h5_attr_str_w(f, "seed", seed) ||
           gn_h5_attr_ints_w(f, "classes", ints, 1) || gn_h5_attr_ints_w(f, "epochs", ints + 1, 1) ||
           gn_h5_attr_ints_w(f, "batch", ints + 2, 1) ||
           gn_h5_attr_ints_w(f, "nesterov", ints + 3, 1) || gn_h5_attr_ints_w(f, "pad", ints + 4, 1) ||
           gn_h5_attr_ints_w(f, "flip", ints + 5, 1) || gn_h5_attr_floats_w(f, "lr", fl, 1) ||
           gn_h5_attr_floats_w(f, "momentum", fl + 1, 1) ||
           gn_h5_attr_floats_w(f, "weight_decay", fl + 2, 1) ||
           gn_h5_attr_floats_w(f, "pad_value", fl + 3, 1);
}

static int read_cfg(hid_t f, gn_train_cfg *c)
{
    char *arch = NULL, *seed = NULL;
    int ints[6];
    float fl[4];
    int rc = gn_h5_attr_str_r(f, "arch", &arch, 0) || gn_h5_attr_str_r(f, "seed", &seed, 0) ||
             gn_h5_attr_ints_r(f, "classes", ints, 1, 0) ||
             gn_h5_attr_ints_r(f, "epochs", ints + 1, 1, 0) ||
             gn_h5_attr_ints_r(f, "batch", ints + 2, 1, 0) ||
             gn_h5_attr_ints_r(f, "nesterov", ints + 3, 1, 0) ||
             gn_h5_attr_ints_r(f, "pad", ints + 4, 1, 0) ||
             gn_h5_attr_ints_r(f, "flip", ints + 5, 1, 0) || gn_h5_attr_floats_r(f, "lr", fl, 1, 0) ||
             gn_h5_attr_floats_r(f, "momentum", fl + 1, 1, 0) ||
             gn_h5_attr_floats_r(f, "weight_decay", fl + 2, 1, 0) ||
             gn_h5_attr_floats_r(f, "pad_value", fl + 3, 1, 0);
    if (!rc) {
        char *end;
        snprintf(c->arch, sizeof c->arch, "%s", arch);
        c->seed = strtoull(seed, &end, 10);
        if (*end || !*seed) rc = gn_err_set("attribute seed is not a number: '%s'", seed);
        c->classes = ints[0], c->epochs = ints[1], c->batch = ints[2];
        c->nesterov = ints[3], c->pad = ints[4], c->flip = ints[5];
        c->lr = fl[0], c->momentum = fl[1], c->weight_decay = fl[2], c->pad_value = fl[3];
    }
    free(arch);
    free(seed);
    return rc;
}

static int write_trainer(hid_t f, const void *arg)
{
    const gn_trainer *t = arg;
    int fmt = GN_CKPT_FORMAT, epoch = t->epoch;
    long long st = t->step;
    int stp[2] = {(int)(st >> 31), (int)(st & 0x7fffffff)};
    int nsamp[2] = {(int)(t->n >> 31), (int)(t->n & 0x7fffffff)};
    size_t dims[1] = {t->nmom};
    int rc = gn_h5_attr_str_w(f, "genie_kind", "checkpoint") ||
             gn_h5_attr_ints_w(f, "genie_format", &fmt, 1) || gn_model_write_graph(f, t->g) ||
             write_cfg(f, &t->cfg) || gn_h5_attr_ints_w(f, "epoch", &epoch, 1) ||
             gn_h5_attr_ints_w(f, "step", stp, 2) || gn_h5_attr_ints_w(f, "train_samples", nsamp, 2) ||
             gn_h5_write_f32(f, "momentum", 1, dims, t->mom);
    return rc;
}

int gn_trainer_save(const gn_trainer *t, const char *path)
{
    return gn_h5_save(path, write_trainer, t);
}

int gn_trainer_load(const char *path, size_t n, int C, int H, int W, gn_trainer **out)
{
    hid_t f;
    if (gn_h5_open(path, &f)) return GN_EIO;
    gn_train_cfg cfg;
    gn_trainer *t = NULL;
    gn_graph *lg = NULL;
    float *mom = NULL;
    char kind[64];
    int fmt = 0, epoch = 0, stp[2] = {0, 0}, nsamp[2] = {0, 0}, shape[3];
    size_t dims[4];
    int rc = gn_h5_kind(f, kind, sizeof kind);
    if (!rc && strcmp(kind, "checkpoint")) {
        rc = *kind ? gn_err_set("%s: is a genie %s file, expected a checkpoint", path, kind)
                   : gn_err_set("%s: not a genie checkpoint (no genie_kind attribute)", path);
        goto done;
    }
    if (!rc && (rc = gn_h5_attr_ints_r(f, "genie_format", &fmt, 1, 0))) goto bad;
    if (!rc && fmt != GN_CKPT_FORMAT) {
        rc = gn_err_set("%s: checkpoint format version %d, this genie reads %d", path, fmt,
                        GN_CKPT_FORMAT);
        goto done;
    }
    if (rc || (rc = read_cfg(f, &cfg)) || (rc = gn_h5_attr_ints_r(f, "epoch", &epoch, 1, 0)) ||
        (rc = gn_h5_attr_ints_r(f, "step", stp, 2, 0)) ||
        (rc = gn_h5_attr_ints_r(f, "train_samples", nsamp, 2, 0)) ||
        (rc = gn_h5_attr_ints_r(f, "input_shape", shape, 3, 0)))
        goto bad;
    size_t n_ck = ((size_t)nsamp[0] << 31) | (size_t)nsamp[1];
    if (shape[0] != C || shape[1] != H || shape[2] != W) {
        rc = gn_err_set("%s: checkpoint is of a model for %dx%dx%d inputs, the data holds %dx%dx%d",
                        path, shape[0], shape[1], shape[2], C, H, W);
        goto done;
    }
    if (n_ck != n) {
        rc = gn_err_set("%s: checkpoint was made on %zu training samples, the data has %zu", path,
                        n_ck, n);
        goto done;
    }
    if ((rc = gn_model_read_graph(f, path, &lg))) goto done;
    if ((rc = gn_h5_read_f32(f, path, "momentum", 1, dims, &mom))) goto done;
    if ((rc = gn_trainer_new(&cfg, n, C, H, W, &t))) goto bad;
    if (epoch < 0 || epoch > cfg.epochs) {
        rc = gn_err_set("%s: epoch %d is outside 0..%d", path, epoch, cfg.epochs);
        goto done;
    }
    t->epoch = epoch;
    t->step = ((long)stp[0] << 31) | (long)stp[1];
    if (t->step != (long)epoch * t->steps_per_epoch) {
        rc = gn_err_set("%s: step %ld does not end epoch %d", path, t->step, epoch);
        goto done;
    }
    if (lg->np != t->g->np) {
        rc = gn_err_set("%s: %d parameters, architecture %s has %d", path, lg->np, cfg.arch,
                        t->g->np);
        goto done;
    }
    for (int i = 0; i < t->g->np && !rc; i++) {
        gn_param *p = &t->g->params[i];
        int j = gn_graph_find_param(lg, p->name);
        if (j < 0 || lg->params[j].n != p->n)
            rc = gn_err_set("%s: parameter %s %s", path, p->name,
                            j < 0 ? "missing" : "has the wrong size");
        else memcpy(p->data, lg->params[j].data, p->n * sizeof(float));
    }
    if (!rc && dims[0] != t->nmom)
        rc = gn_err_set("%s: /momentum has %zu values, expected %zu", path, dims[0], t->nmom);
    if (!rc) memcpy(t->mom, mom, t->nmom * sizeof(float));
    goto done;
bad:
    gn_err_prefix("%s", path);
done:
    H5Fclose(f);
    gn_graph_free(lg);
    free(mom);
    if (rc) gn_trainer_free(t);
    else *out = t;
    return rc;
}

int gn_trainer_model_attrs(hid_t f, const gn_trainer *t, double test_top1)
{
    const gn_train_cfg *c = &t->cfg;
    char recipe[512], seed[32];
    snprintf(recipe, sizeof recipe,
             "train --arch %s: SGD%s momentum %g, weight decay %g on every parameter, lr %g with "
             "cosine decay per step, batch %d, %d epochs, random crop from %d-padded images%s",
             c->arch, c->nesterov ? " Nesterov" : "", c->momentum, c->weight_decay, c->lr,
             c->batch, c->epochs, c->pad, c->flip ? " and horizontal flip" : "");
    snprintf(seed, sizeof seed, "%" PRIu64, c->seed);
    float top1 = (float)test_top1;
    return gn_h5_attr_str_w(f, "arch", c->arch) || gn_h5_attr_str_w(f, "train_recipe", recipe) ||
           gn_h5_attr_str_w(f, "train_seed", seed) ||
           gn_h5_attr_ints_w(f, "train_epochs", &c->epochs, 1) ||
           (test_top1 >= 0 && gn_h5_attr_floats_w(f, "test_top1", &top1, 1));
}
