/* test_train.c - the training module and the built-in architectures:
 * SGD (Nesterov and classical) against hand-computed steps, the cosine
 * schedule, pad-crop-flip augmentation cell by cell, resnet20 against the
 * PyTorch-exported fixture (parameter names and shapes, and the same logits
 * when given its weights), mbv2-tiny's and resnet-bneck's size, and a tiny training run: same
 * seed => same bits, checkpoint + resume == uninterrupted, loss goes down.
 * Run from the repository root. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gn_arch.h"
#include "gn_distill.h"
#include "gn_rng.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_onnx.h"
#include "gn_run.h"
#include "gn_train.h"

#define ONNX "tests/fixtures/resnet20_fmnist.onnx"
#define REF  "tests/fixtures/resnet20_fmnist.ref.h5"

static void test_sgd(void)
{
    /* Nesterov, two steps by hand: w=1, lr .1, mu .9, wd .1
     * step 1: g = .5 + .1*1 = .6; buf = .6; g' = .6 + .9*.6 = 1.14; w = 1 - .114 = .886
     * step 2: g = .2 + .1*.886 = .2886; buf = .54 + .2886 = .8286;
     *         g' = .2886 + .9*.8286 = 1.03434; w = .886 - .103434 = .782566 */
    float w = 1, buf = 0, dw = 0.5f;
    gn_sgd_step(&w, &buf, &dw, 1, 0.1f, 0.9f, 0.1f, 1);
    CHECK_NEAR(buf, 0.6, 1e-6);
    CHECK_NEAR(w, 0.886, 1e-6);
    dw = 0.2f;
    gn_sgd_step(&w, &buf, &dw, 1, 0.1f, 0.9f, 0.1f, 1);
    CHECK_NEAR(buf, 0.8286, 1e-6);
    CHECK_NEAR(w, 0.782566, 1e-6);
    /* classical: w -= lr*buf: step 1 w = 1 - .06 = .94;
     * step 2: g = .2 + .094 = .294; buf = .54 + .294 = .834; w = .94 - .0834 = .8566 */
    w = 1, buf = 0, dw = 0.5f;
    gn_sgd_step(&w, &buf, &dw, 1, 0.1f, 0.9f, 0.1f, 0);
    CHECK_NEAR(w, 0.94, 1e-6);
    dw = 0.2f;
    gn_sgd_step(&w, &buf, &dw, 1, 0.1f, 0.9f, 0.1f, 0);
    CHECK_NEAR(buf, 0.834, 1e-6);
    CHECK_NEAR(w, 0.8566, 1e-6);
    /* no momentum, no decay: plain gradient descent, element-wise over n */
    float v[3] = {1, 2, 3}, b3[3] = {0}, d3[3] = {1, -1, 0.5f};
    gn_sgd_step(v, b3, d3, 3, 0.5f, 0.0f, 0.0f, 1);
    CHECK_NEAR(v[0], 0.5, 1e-7);
    CHECK_NEAR(v[1], 2.5, 1e-7);
    CHECK_NEAR(v[2], 2.75, 1e-7);
}

static void test_cosine(void)
{
    CHECK_NEAR(gn_lr_cosine(0.1f, 0, 1000), 0.1, 1e-8);
    CHECK_NEAR(gn_lr_cosine(0.1f, 250, 1000), 0.1 * (1 + cos(M_PI / 4)) / 2, 1e-8);
    CHECK_NEAR(gn_lr_cosine(0.1f, 500, 1000), 0.05, 1e-8);
    CHECK_NEAR(gn_lr_cosine(0.1f, 750, 1000), 0.1 * (1 + cos(3 * M_PI / 4)) / 2, 1e-8);
    CHECK_NEAR(gn_lr_cosine(0.1f, 999, 1000), 0.1 * (1 + cos(M_PI * 0.999)) / 2, 1e-9);
    CHECK(gn_lr_cosine(0.1f, 1000, 1000) == 0.0f);
    /* 7035 = 15 epochs x 469 steps: strictly decreasing */
    int dec = 1;
    for (long s = 1; s < 7035; s++) dec &= gn_lr_cosine(0.1f, s, 7035) < gn_lr_cosine(0.1f, s - 1, 7035);
    CHECK(dec);
}

static void test_augment(void)
{
    /* one 4x4 image 1..16, padded by 2 with -9 */
    float src[16], dst[16];
    for (int i = 0; i < 16; i++) src[i] = (float)(i + 1);
    int oy = 2, ox = 2;
    unsigned char f = 0;
    gn_augment_crop_flip(dst, src, 1, 1, 4, 4, 2, -9.0f, &oy, &ox, &f);
    CHECK(!memcmp(dst, src, sizeof src)); /* centre window = identity */
    oy = 0, ox = 0;                       /* window at the padded corner: shift by +2,+2 */
    gn_augment_crop_flip(dst, src, 1, 1, 4, 4, 2, -9.0f, &oy, &ox, NULL);
    CHECK(dst[0] == -9 && dst[1] == -9 && dst[5] == -9 && dst[8] == -9);
    CHECK(dst[10] == 1 && dst[11] == 2 && dst[14] == 5 && dst[15] == 6);
    oy = 2, ox = 2, f = 1; /* flip alone mirrors each row */
    gn_augment_crop_flip(dst, src, 1, 1, 4, 4, 2, -9.0f, &oy, &ox, &f);
    CHECK(dst[0] == 4 && dst[1] == 3 && dst[2] == 2 && dst[3] == 1 && dst[12] == 16 && dst[15] == 13);
    oy = 1, ox = 3, f = 1; /* crop at (1,3) then mirror: dst[y][x] = src[y-1][4-x] */
    gn_augment_crop_flip(dst, src, 1, 1, 4, 4, 2, -9.0f, &oy, &ox, &f);
    CHECK(dst[0] == -9 && dst[3] == -9);                   /* row 0 is padding */
    CHECK(dst[4] == -9 && dst[5] == 4 && dst[6] == 3 && dst[7] == 2);
    CHECK(dst[12] == -9 && dst[13] == 12 && dst[14] == 11 && dst[15] == 10);
    /* two samples, two channels: each plane independently, the offsets per sample */
    float s2[2 * 2 * 16], d2[2 * 2 * 16];
    for (int i = 0; i < 64; i++) s2[i] = (float)i;
    int oy2[2] = {2, 4}, ox2[2] = {2, 2};
    unsigned char f2[2] = {0, 0};
    gn_augment_crop_flip(d2, s2, 2, 2, 4, 4, 2, -1.0f, oy2, ox2, f2);
    CHECK(!memcmp(d2, s2, 32 * sizeof(float)));           /* sample 0 untouched */
    CHECK(d2[32] == 40 && d2[48] == 56 && d2[32 + 8] == -1); /* sample 1 shifted up by 2 */
    /* draws: offsets in [0, 2*pad], both flips, roughly uniform */
    gn_rng r;
    gn_rng_seed(&r, 3, 0);
    enum { N = 5000 };
    static int ys[N], xs[N];
    static unsigned char fs[N];
    gn_augment_draw(&r, N, 2, 1, ys, xs, fs);
    int cnt[5] = {0}, ok = 1, nf = 0;
    for (int i = 0; i < N; i++) {
        ok &= ys[i] >= 0 && ys[i] <= 4 && xs[i] >= 0 && xs[i] <= 4 && fs[i] <= 1;
        if (ys[i] >= 0 && ys[i] <= 4) cnt[ys[i]]++;
        nf += fs[i];
    }
    CHECK(ok);
    for (int k = 0; k < 5; k++) CHECK(cnt[k] > 850 && cnt[k] < 1150);
    CHECK(nf > 2300 && nf < 2700);
    gn_augment_draw(&r, N, 0, 0, ys, xs, fs); /* no pad, no flip: all zero */
    ok = 1;
    for (int i = 0; i < N; i++) ok &= ys[i] == 0 && xs[i] == 0 && fs[i] == 0;
    CHECK(ok);
}

static void test_resnet20(void)
{
    gn_graph *g = NULL, *ref = NULL;
    CHECK(gn_arch_build("resnet20", 1, 28, 28, 10, 1, &g) == 0);
    if (!g) return;
    /* 272,186 trainable values: what the PyTorch model holds (BN affine
     * included, running statistics not) */
    CHECK(gn_arch_count_trainable(g) == 272186);
    CHECK(gn_graph_count_op(g, GN_OP_CONV) == 21 && gn_graph_count_op(g, GN_OP_BN) == 21);
    CHECK(gn_graph_count_op(g, GN_OP_ADD) == 9 && gn_graph_count_op(g, GN_OP_RELU) == 19);
    CHECK(g->t[g->output].c == 10 && g->t[g->output].h == 1);
    char warn[1024];
    CHECK(gn_onnx_import(ONNX, &ref, warn, sizeof warn) == 0);
    if (!ref) {
        fprintf(stderr, "%s\n", gn_err_msg());
        gn_graph_free(g);
        return;
    }
    /* every parameter of the ONNX model exists here with the same shape, and
     * vice versa */
    CHECK(ref->np == g->np);
    int same = 1;
    for (int i = 0; i < ref->np; i++) {
        int j = gn_graph_find_param(g, ref->params[i].name);
        if (j < 0 || g->params[j].ndim != ref->params[i].ndim ||
            memcmp(g->params[j].dims, ref->params[i].dims, sizeof g->params[j].dims)) {
            fprintf(stderr, "parameter %s: missing or of another shape\n", ref->params[i].name);
            same = 0;
        } else {
            memcpy(g->params[j].data, ref->params[i].data, ref->params[i].n * sizeof(float));
        }
    }
    CHECK(same);
    /* with the exported weights, the built graph computes PyTorch's logits */
    hid_t f;
    float *x = NULL, *logits = NULL;
    size_t dx[4], dl[4];
    if (same && gn_h5_open(REF, &f) == 0) {
        CHECK(gn_h5_read_f32(f, REF, "x", 4, dx, &x) == 0);
        CHECK(gn_h5_read_f32(f, REF, "logits", 2, dl, &logits) == 0);
        H5Fclose(f);
        if (x && logits) {
            gn_run *r = gn_run_new(g, (int)dx[0], 0);
            gn_run_forward(r, x, (int)dx[0]);
            double md = 0;
            for (size_t i = 0; i < dl[0] * dl[1]; i++) md = fmax(md, fabs(r->val[g->output][i] - logits[i]));
            CHECK_NEAR(md, 0, 1e-4);
            gn_run_free(r);
        }
    }
    free(x);
    free(logits);
    /* kaiming-normal conv init: std sqrt(2/fan_in) (layer3 conv: fan_in 576) */
    gn_graph *h;
    CHECK(gn_arch_build("resnet20", 1, 28, 28, 10, 5, &h) == 0);
    const gn_param *w = &h->params[gn_graph_find_param(h, "layer3.1.conv1.weight")];
    double s2 = 0;
    for (size_t i = 0; i < w->n; i++) s2 += (double)w->data[i] * w->data[i];
    CHECK_NEAR(sqrt(s2 / (double)w->n), sqrt(2.0 / 576), 0.01 * sqrt(2.0 / 576));
    const gn_param *fc = &h->params[gn_graph_find_param(h, "fc.weight")];
    int inb = 1;
    for (size_t i = 0; i < fc->n; i++) inb &= fabsf(fc->data[i]) <= 0.125f;
    CHECK(inb);
    const gn_param *bw = &h->params[gn_graph_find_param(h, "bn1.weight")];
    const gn_param *bv = &h->params[gn_graph_find_param(h, "bn1.running_var")];
    CHECK(bw->data[0] == 1 && bv->data[15] == 1);
    gn_graph_free(h);
    gn_graph_free(ref);
    gn_graph_free(g);
}

static void test_mbv2(void)
{
    gn_graph *g = NULL;
    CHECK(gn_arch_build("mbv2-tiny", 1, 28, 28, 10, 1, &g) == 0);
    if (!g) return;
    size_t n = gn_arch_count_trainable(g);
    printf("mbv2-tiny: %zu trainable parameters, %d nodes\n", n, g->nn);
    CHECK(n == 222330); /* the table of train(1) */
    CHECK(n >= 200000 && n <= 500000);
    CHECK(g->t[g->output].c == 10);
    int dw = 0, clip = 0;
    for (int k = 0; k < g->nn; k++) {
        const gn_node *nd = &g->nodes[k];
        if (nd->op == GN_OP_CONV && nd->groups > 1) dw++;
        if (nd->op == GN_OP_CLIP) clip += nd->lo == 0 && nd->hi == 6;
    }
    CHECK(dw == 8);
    CHECK(clip == 1 + 2 + 2 * 6 + 1); /* stem, 1 per t=1 block, 2 per expanding block, head */
    CHECK(gn_graph_count_op(g, GN_OP_ADD) == 4);
    CHECK(g->t[gn_graph_find_tensor(g, "features.9.2")].c == 320);
    gn_graph_free(g);
    /* errors: unknown name, silly shapes */
    CHECK(gn_arch_build("resnet21", 1, 28, 28, 10, 1, &g) != 0);
    CHECK(strstr(gn_err_msg(), "unknown architecture 'resnet21'") != NULL);
    CHECK(gn_arch_build("resnet20", 0, 28, 28, 10, 1, &g) != 0);
}

/* resnet-bneck at 1x28x28: the count of train(1) (torchvision's Bottleneck,
 * summed by hand), six Bottlenecks with a downsample on each stage's first,
 * maps 28, 14, 7 and 256 channels at the end */
static void test_resnet_bneck(void)
{
    gn_graph *g = NULL;
    CHECK(gn_arch_build("resnet-bneck", 1, 28, 28, 10, 1, &g) == 0);
    if (!g) return;
    size_t n = gn_arch_count_trainable(g);
    printf("resnet-bneck: %zu trainable parameters, %d nodes\n", n, g->nn);
    CHECK(n == 220090);
    CHECK(gn_graph_count_op(g, GN_OP_ADD) == 6);
    CHECK(gn_graph_count_op(g, GN_OP_CONV) == 1 + 6 * 3 + 3);
    CHECK(gn_graph_count_op(g, GN_OP_BN) == 1 + 6 * 3 + 3);
    static const struct { const char *t; int c, hw; } m[] = {
        {"layer1.0.relu3", 64, 28}, {"layer2.0.conv1", 32, 28}, {"layer2.0.conv2", 32, 14},
        {"layer2.1.relu3", 128, 14}, {"layer3.0.downsample.1", 256, 7}, {"layer3.1.relu3", 256, 7},
    };
    for (size_t i = 0; i < sizeof m / sizeof *m; i++) {
        int k = gn_graph_find_tensor(g, m[i].t);
        CHECK(k >= 0);
        if (k >= 0) CHECK(g->t[k].c == m[i].c && g->t[k].h == m[i].hw && g->t[k].w == m[i].hw);
    }
    CHECK(gn_graph_find_param(g, "layer1.1.downsample.0.weight") < 0); /* identity shortcut */
    CHECK(g->t[g->output].c == 10);
    gn_graph_free(g);
}

/* torchvision's ImageNet networks at 3x224x224, 1000 classes: the
 * trainable counts of torchvision.models (sum of p.numel() over
 * parameters()), and the final feature map 7x7 */
static void test_imagenet_archs(void)
{
    static const struct {
        const char *name, *last;
        size_t n;
        int c;
    } a[] = {
        {"resnet18", "layer4.1.relu2", 11689512, 512},
        {"resnet50", "layer4.2.relu3", 25557032, 2048},
        {"mobilenet_v2", "features.18.2", 3504872, 1280},
    };
    for (int i = 0; i < 3; i++) {
        gn_graph *g = NULL;
        CHECK(gn_arch_build(a[i].name, 3, 224, 224, 1000, 1, &g) == 0);
        if (!g) continue;
        size_t n = gn_arch_count_trainable(g);
        printf("%s: %zu trainable parameters, %d nodes\n", a[i].name, n, g->nn);
        CHECK(n == a[i].n);
        const gn_tensorinfo *t = &g->t[gn_graph_find_tensor(g, a[i].last)];
        CHECK(t->c == a[i].c && t->h == 7 && t->w == 7);
        CHECK(g->t[g->output].c == 1000);
        gn_graph_free(g);
    }
}

/* random labelled data: n images of 1x8x8 */
static void tiny_data(gn_dataset *d, size_t n)
{
    d->n = n, d->c = 1, d->h = 8, d->w = 8;
    d->x = malloc(n * 64 * sizeof(float));
    d->y = malloc(n * sizeof(int));
    gn_rng r;
    gn_rng_seed(&r, 11, 0);
    for (size_t i = 0; i < n; i++) {
        d->y[i] = (int)(i % 4);
        for (int k = 0; k < 64; k++) /* class-dependent bright row, plus noise */
            d->x[i * 64 + k] = 0.3f * gn_rng_normal(&r) + ((k / 8) == 2 * d->y[i] ? 1.5f : 0.0f);
    }
}

static gn_trainer *tiny_trainer(const char *arch, uint64_t seed, size_t n)
{
    gn_train_cfg c;
    gn_train_defaults(&c);
    snprintf(c.arch, sizeof c.arch, "%s", arch);
    c.classes = 4, c.epochs = 3, c.batch = 16, c.seed = seed, c.pad = 1;
    gn_trainer *t = NULL;
    CHECK(gn_trainer_new(&c, n, 1, 8, 8, &t) == 0);
    return t;
}

static double run_epochs(gn_trainer *t, const gn_dataset *d, int upto)
{
    double last = 0;
    while (t->epoch < upto) {
        gn_trainer_epoch_begin(t);
        double s = 0;
        for (long i = 0; i < gn_trainer_batches(t); i++) {
            float l;
            int b;
            gn_trainer_step(t, d, i, &l, &b);
            s += (double)l * b;
        }
        gn_trainer_epoch_end(t);
        last = s / (double)d->n;
    }
    return last;
}

static int same_params(const gn_graph *a, const gn_graph *b)
{
    if (a->np != b->np) return 0;
    for (int i = 0; i < a->np; i++)
        if (a->params[i].n != b->params[i].n ||
            memcmp(a->params[i].data, b->params[i].data, a->params[i].n * sizeof(float)))
            return 0;
    return 1;
}

static void test_training(void)
{
    gn_dataset d;
    size_t n = 72; /* 5 batches of 16, the last of 8 */
    tiny_data(&d, n);
    gn_trainer *a = tiny_trainer("resnet20", 42, n), *b = tiny_trainer("resnet20", 42, n),
               *c = tiny_trainer("resnet20", 43, n);
    if (!a || !b || !c) return;
    CHECK(a->steps_per_epoch == 5 && a->total_steps == 15);
    CHECK(gn_trainer_check_data(a, &d, "tiny") == 0);
    double first = run_epochs(a, &d, 1);
    double last = run_epochs(a, &d, 3);
    CHECK(last < first);
    run_epochs(b, &d, 3);
    run_epochs(c, &d, 3);
    CHECK(same_params(a->g, b->g));  /* same seed: same bits */
    CHECK(!same_params(a->g, c->g)); /* another seed: another model */
    double top1, loss;
    gn_trainer_evaluate(a, &d, &top1, &loss);
    CHECK(top1 > 0.5);
    /* running statistics moved away from (0, 1) */
    const gn_param *rv = &a->g->params[gn_graph_find_param(a->g, "bn1.running_var")];
    CHECK(rv->data[0] != 1.0f);

    /* checkpoint after epoch 1, load, finish: equals the uninterrupted run */
    char path[64];
    snprintf(path, sizeof path, "tests/tmp/test_train.%ld.ckpt.h5", (long)getpid());
    gn_trainer *s = tiny_trainer("resnet20", 42, n), *r = NULL;
    run_epochs(s, &d, 1);
    CHECK(gn_trainer_save(s, path) == 0);
    CHECK(gn_trainer_load(path, n, 1, 8, 8, &r) == 0);
    if (r) {
        CHECK(r->epoch == 1 && r->step == 5 && r->cfg.seed == 42 && r->cfg.classes == 4);
        CHECK(same_params(r->g, s->g));
        CHECK(r->nmom == s->nmom && !memcmp(r->mom, s->mom, r->nmom * sizeof(float)));
        run_epochs(r, &d, 3);
        CHECK(same_params(r->g, a->g));
        gn_trainer_free(r);
        r = NULL;
    }
    /* a checkpoint refuses data of another shape or size, and models */
    CHECK(gn_trainer_load(path, n, 1, 9, 8, &r) != 0);
    CHECK(strstr(gn_err_msg(), "8x8 inputs, the data holds 1x9x8") != NULL);
    CHECK(gn_trainer_load(path, n + 1, 1, 8, 8, &r) != 0);
    CHECK(strstr(gn_err_msg(), "made on 72 training samples") != NULL);
    CHECK(gn_trainer_load(ONNX, n, 1, 8, 8, &r) != 0);
    unlink(path);
    /* labels out of range and shape mismatch are refused by check_data */
    d.y[7] = 4;
    CHECK(gn_trainer_check_data(a, &d, "tiny.h5") != 0);
    CHECK(strstr(gn_err_msg(), "tiny.h5: /y[7] = 4 is not a class of a 4-class model") != NULL);
    d.y[7] = 3;
    d.w = 9;
    CHECK(gn_trainer_check_data(a, &d, "tiny.h5") != 0);
    d.w = 8;
    gn_trainer_free(a);
    gn_trainer_free(b);
    gn_trainer_free(c);
    gn_trainer_free(s);

    /* mbv2-tiny trains too (ReLU6, depthwise) and is deterministic */
    gn_trainer *m1 = tiny_trainer("mbv2-tiny", 9, n), *m2 = tiny_trainer("mbv2-tiny", 9, n);
    if (m1 && m2) {
        double f1 = run_epochs(m1, &d, 1), l1 = run_epochs(m1, &d, 3);
        run_epochs(m2, &d, 3);
        CHECK(l1 < f1);
        CHECK(same_params(m1->g, m2->g));
    }
    gn_trainer_free(m1);
    gn_trainer_free(m2);
    /* bad configurations */
    gn_train_cfg cfg;
    gn_train_defaults(&cfg);
    gn_trainer *t = NULL;
    cfg.lr = -1;
    CHECK(gn_trainer_new(&cfg, n, 1, 8, 8, &t) != 0 && !t);
    gn_train_defaults(&cfg);
    cfg.pad = 9;
    CHECK(gn_trainer_new(&cfg, n, 1, 8, 8, &t) != 0 && !t);
    gn_dataset_free(&d);
}

/* One forward and backward of g (a fresh run; fusion per GN_NO_FUSE) on x
 * with dL/dout = w: returns the output, the input gradient and every
 * parameter gradient, concatenated. */
static float *fwd_bwd(gn_graph *g, const float *x, int B, int train, int no_fuse, size_t *len, int *nfused)
{
    setenv("GN_NO_FUSE", no_fuse ? "1" : "0", 1);
    gn_run *r = gn_run_new(g, B, 1);
    unsetenv("GN_NO_FUSE");
    *nfused = 0;
    for (int k = 0; k < g->nn; k++) *nfused += r->fuse[k];
    r->bn_train = train;
    gn_graph_alloc_grads(g);
    gn_graph_zero_grads(g);
    gn_run_forward(r, x, B);
    gn_run_forget_grad(r);
    size_t no = (size_t)B * gn_tensor_size(g, g->output), ni = (size_t)B * gn_tensor_size(g, g->input);
    float *dy = gn_run_grad_set(r, g->output);
    for (size_t i = 0; i < no; i++) dy[i] = (float)((i * 7919) % 13) / 13.0f - 0.4f;
    gn_run_backward(r, GN_WANT_PARAMS | GN_WANT_INPUT);
    size_t np = 0;
    for (int p = 0; p < g->np; p++) np += g->params[p].grad ? g->params[p].n : 0;
    float *o = malloc((no + ni + np) * sizeof(float)), *q = o;
    memcpy(q, r->val[g->output], no * sizeof(float)), q += no;
    memcpy(q, gn_run_grad(r, g->input), ni * sizeof(float)), q += ni;
    for (int p = 0; p < g->np; p++)
        if (g->params[p].grad) memcpy(q, g->params[p].grad, g->params[p].n * sizeof(float)), q += g->params[p].n;
    *len = no + ni + np;
    gn_run_free(r);
    return o;
}

/* BN -> ReLU/Clip/LeakyReLU and Add -> ReLU run fused (gn_run.h): output,
 * input gradient and parameter gradients bit for bit those of the operators
 * run one by one, in training and inference mode, on resnet20 (ReLU, Add)
 * and mbv2-tiny (ReLU6 as Clip); on Genie-D's generator (LeakyReLU, and its
 * upsample -> 3x3 conv run by phases) the same to 1e-5 of the largest
 * value. */
static void test_fusion(void)
{
    const char *names[] = {"resnet20", "mbv2-tiny", "generator"};
    for (int a = 0; a < 3; a++) {
        gn_graph *g = NULL;
        if (a < 2) {
            CHECK(gn_arch_build(names[a], 1, 28, 28, 10, 3, &g) == 0);
        } else {
            CHECK(gn_generator_build(&g, 1, 28, 28, 256) == 0);
            gn_rng gr;
            gn_rng_seed(&gr, 5, 0);
            if (g) gn_generator_init(g, &gr);
        }
        if (!g) continue;
        /* running statistics away from 0/1, so inference mode is not trivial */
        for (int k = 0; k < g->nn; k++)
            if (g->nodes[k].op == GN_OP_BN && g->nodes[k].p[GN_P_MEAN] >= 0) {
                gn_param *m = &g->params[g->nodes[k].p[GN_P_MEAN]], *v = &g->params[g->nodes[k].p[GN_P_VAR]];
                for (size_t i = 0; i < m->n; i++) m->data[i] = 0.05f * (float)(i % 5), v->data[i] = 0.5f + 0.1f * (float)(i % 3);
            }
        const int B = 6;
        size_t ni = (size_t)B * gn_tensor_size(g, g->input);
        float *x = malloc(ni * sizeof(float));
        gn_rng rng;
        gn_rng_seed(&rng, 11, (uint64_t)a);
        gn_rng_fill_normal(&rng, x, ni, 0.0f, 1.0f);
        for (int train = a == 2; train < 2; train++) { /* the generator has no running statistics */
            size_t l0, l1;
            int f0, f1;
            float *u = fwd_bwd(g, x, B, train, 1, &l0, &f0);
            float *v = fwd_bwd(g, x, B, train, 0, &l1, &f1);
            CHECK(f0 == 0 && f1 > 0 && l0 == l1);
            if (l0 == l1 && a < 2) CHECK(!memcmp(u, v, l0 * sizeof(float)));
            if (l0 == l1 && a == 2) {
                /* the upsample -> conv pair by phases: the same function, its
                 * sums in another order */
                double e = 0, m = 0;
                for (size_t i = 0; i < l0; i++) {
                    double d = fabs((double)u[i] - v[i]);
                    if (d > e) e = d;
                    if (fabs(u[i]) > m) m = fabs(u[i]);
                }
                CHECK(m > 0 && e <= 1e-5 * m);
                if (!(e <= 1e-5 * m)) fprintf(stderr, "generator: max diff %g of max %g\n", e, m);
            }
            free(u), free(v);
        }
        free(x);
        gn_graph_free(g);
    }
}

int main(void)
{
    test_sgd();
    test_cosine();
    test_augment();
    test_resnet20();
    test_mbv2();
    test_resnet_bneck();
    test_imagenet_archs();
    test_fusion();
    test_training();
    return check_summary("test_train");
}
