/* arch.c - architectures built in code (see gn_arch.h): ResNet-20, a
 * small Bottleneck ResNet, a small MobileNetV2, ImageNet's ResNet-18/50 and
 * MobileNetV2, named like their PyTorch modules so that a model
 * trained here and one exported from PyTorch read the same.
 * What this does not do: any architecture taken from a file (onnx2h5 does
 * that), or choose a training recipe (train.c). */
#include "gn_arch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gn_err.h"
#include "gn_rng.h"

typedef struct {
    gn_graph *g;
    gn_rng rng;
} builder;

/* adds a parameter `prefix.suffix`; returns its index */
static int param(builder *b, const char *prefix, const char *suffix, int ndim, const int *dims)
{
    char nm[256];
    snprintf(nm, sizeof nm, "%s.%s", prefix, suffix);
    int i = gn_graph_add_param(b->g, nm, ndim, dims, NULL);
    GN_ASSERT(i >= 0); /* names are unique by construction */
    return i;
}

/* conv `name`: x (cin,H,W) -> (cout,H',W'), kernel k, padding k/2, no bias.
 * Weight (cout, cin/groups, k, k) ~ N(0, 2/fan_in). Returns the output tensor. */
static int conv(builder *b, const char *name, int x, int cin, int cout, int k, int stride,
                int groups)
{
    int dims[4] = {cout, cin / groups, k, k};
    int w = param(b, name, "weight", 4, dims);
    gn_param *p = &b->g->params[w];
    float std = sqrtf(2.0f / (float)(cin / groups * k * k));
    gn_rng_fill_normal(&b->rng, p->data, p->n, 0.0f, std);
    int y = gn_graph_tensor(b->g, name);
    gn_node *n = gn_graph_add_node(b->g, GN_OP_CONV, name);
    n->nin = 1, n->in[0] = x, n->out = y;
    n->p[GN_P_W] = w;
    n->kh = n->kw = k;
    n->sh = n->sw = stride;
    n->pt = n->pl = n->pb = n->pr = k / 2;
    n->groups = groups;
    return y;
}

/* BatchNorm `name` over c channels: gamma 1, beta 0, running mean 0, var 1 */
static int bn(builder *b, const char *name, int x, int c)
{
    int gi = param(b, name, "weight", 1, &c), bi = param(b, name, "bias", 1, &c);
    int mi = param(b, name, "running_mean", 1, &c), vi = param(b, name, "running_var", 1, &c);
    for (int i = 0; i < c; i++) b->g->params[gi].data[i] = 1.0f, b->g->params[vi].data[i] = 1.0f;
    int y = gn_graph_tensor(b->g, name);
    gn_node *n = gn_graph_add_node(b->g, GN_OP_BN, name);
    n->nin = 1, n->in[0] = x, n->out = y;
    n->p[GN_P_GAMMA] = gi, n->p[GN_P_BETA] = bi, n->p[GN_P_MEAN] = mi, n->p[GN_P_VAR] = vi;
    n->eps = 1e-5f;
    n->momentum = 0.1f;
    return y;
}

/* an activation or pooling node with one input and no parameters */
static int unary(builder *b, gn_opkind op, const char *name, int x)
{
    int y = gn_graph_tensor(b->g, name);
    gn_node *n = gn_graph_add_node(b->g, op, name);
    n->nin = 1, n->in[0] = x, n->out = y;
    if (op == GN_OP_CLIP) n->lo = 0.0f, n->hi = 6.0f;
    return y;
}

static int add(builder *b, const char *name, int x0, int x1)
{
    int y = gn_graph_tensor(b->g, name);
    gn_node *n = gn_graph_add_node(b->g, GN_OP_ADD, name);
    n->nin = 2, n->in[0] = x0, n->in[1] = x1, n->out = y;
    return y;
}

/* Linear `name` I -> O into tensor `out`; W, B ~ U(+-1/sqrt(I)) */
static int linear(builder *b, const char *name, const char *out, int x, int I, int O)
{
    int dw[2] = {O, I};
    int w = param(b, name, "weight", 2, dw), bi = param(b, name, "bias", 1, &O);
    float bound = 1.0f / sqrtf((float)I);
    gn_rng_fill_uniform(&b->rng, b->g->params[w].data, b->g->params[w].n, -bound, bound);
    gn_rng_fill_uniform(&b->rng, b->g->params[bi].data, b->g->params[bi].n, -bound, bound);
    int y = gn_graph_tensor(b->g, out);
    gn_node *n = gn_graph_add_node(b->g, GN_OP_LINEAR, name);
    n->nin = 1, n->in[0] = x, n->out = y;
    n->p[GN_P_W] = w, n->p[GN_P_B] = bi;
    return y;
}

/* ---- ResNet-20 ------------------------------------------------------------ */

/* BasicBlock `pre` (e.g. "layer2.0"): conv3x3-BN-ReLU-conv3x3-BN, plus the
 * shortcut (identity, or 1x1 conv + BN when the shape changes), ReLU. */
static int basic_block(builder *b, const char *pre, int x, int cin, int cout, int stride)
{
    char nm[128];
#define NM(s) (snprintf(nm, sizeof nm, "%s.%s", pre, s), nm)
    int h = conv(b, NM("conv1"), x, cin, cout, 3, stride, 1);     // (cout,H/s,W/s)
    h = bn(b, NM("bn1"), h, cout);
    h = unary(b, GN_OP_RELU, NM("relu1"), h);
    h = conv(b, NM("conv2"), h, cout, cout, 3, 1, 1);             // (cout,H/s,W/s)
    h = bn(b, NM("bn2"), h, cout);
    int sc = x;
    if (stride != 1 || cin != cout) {
        sc = conv(b, NM("downsample.0"), x, cin, cout, 1, stride, 1); // (cout,H/s,W/s)
        sc = bn(b, NM("downsample.1"), sc, cout);
    }
    h = add(b, NM("add"), h, sc);
    return unary(b, GN_OP_RELU, NM("relu2"), h);
#undef NM
}

static int build_resnet20(builder *b, int C, int classes)
{
    int x = b->g->input;                                  // (C,H,W)
    int h = conv(b, "conv1", x, C, 16, 3, 1, 1);          // (16,H,W)
    h = bn(b, "bn1", h, 16);
    h = unary(b, GN_OP_RELU, "relu", h);
    static const int width[3] = {16, 32, 64};
    int cin = 16;
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 3; k++) {
            char pre[32];
            snprintf(pre, sizeof pre, "layer%d.%d", s + 1, k);
            h = basic_block(b, pre, h, cin, width[s], s > 0 && k == 0 ? 2 : 1);
            cin = width[s];
        }                                                 // (64,H/4,W/4)
    h = unary(b, GN_OP_GAP, "avgpool", h);                // (64,1,1)
    h = unary(b, GN_OP_FLATTEN, "flatten", h);            // (64,1,1)
    return linear(b, "fc", "logits", h, 64, classes);     // (classes,1,1)
}

/* ---- ImageNet ResNets (torchvision resnet18, resnet50) --------------------- */

/* Bottleneck `pre` (torchvision v1.5: the stride on the 3x3): conv1x1-BN-ReLU,
 * conv3x3-BN-ReLU, conv1x1 to 4*w-BN, plus the shortcut, ReLU. */
static int bottleneck(builder *b, const char *pre, int x, int cin, int w, int stride)
{
    char nm[128];
#define NM(s) (snprintf(nm, sizeof nm, "%s.%s", pre, s), nm)
    int h = conv(b, NM("conv1"), x, cin, w, 1, 1, 1);             // (w,H,W)
    h = bn(b, NM("bn1"), h, w);
    h = unary(b, GN_OP_RELU, NM("relu1"), h);
    h = conv(b, NM("conv2"), h, w, w, 3, stride, 1);              // (w,H/s,W/s)
    h = bn(b, NM("bn2"), h, w);
    h = unary(b, GN_OP_RELU, NM("relu2"), h);
    h = conv(b, NM("conv3"), h, w, 4 * w, 1, 1, 1);               // (4w,H/s,W/s)
    h = bn(b, NM("bn3"), h, 4 * w);
    int sc = x;
    if (stride != 1 || cin != 4 * w) {
        sc = conv(b, NM("downsample.0"), x, cin, 4 * w, 1, stride, 1);
        sc = bn(b, NM("downsample.1"), sc, 4 * w);
    }
    h = add(b, NM("add"), h, sc);
    return unary(b, GN_OP_RELU, NM("relu3"), h);
#undef NM
}

/* stem conv7x7/2-BN-ReLU-maxpool3x3/2, four stages of `blocks` blocks
 * (64..512 wide, stride 2 from layer2 on), global average pool, fc */
static int build_imagenet_resnet(builder *b, int C, int classes, const int *blocks, int bottle)
{
    int h = conv(b, "conv1", b->g->input, C, 64, 7, 2, 1); // (64,H/2,W/2)
    h = bn(b, "bn1", h, 64);
    h = unary(b, GN_OP_RELU, "relu", h);
    h = unary(b, GN_OP_MAXPOOL, "maxpool", h);             // (64,H/4,W/4)
    gn_node *mp = &b->g->nodes[b->g->nn - 1];
    mp->kh = mp->kw = 3, mp->sh = mp->sw = 2, mp->pt = mp->pl = mp->pb = mp->pr = 1;
    int cin = 64;
    for (int s = 0; s < 4; s++)
        for (int k = 0; k < blocks[s]; k++) {
            char pre[32];
            int w = 64 << s, stride = s > 0 && k == 0 ? 2 : 1;
            snprintf(pre, sizeof pre, "layer%d.%d", s + 1, k);
            h = bottle ? bottleneck(b, pre, h, cin, w, stride) : basic_block(b, pre, h, cin, w, stride);
            cin = bottle ? 4 * w : w;
        }                                                   // (cin,H/32,W/32)
    h = unary(b, GN_OP_GAP, "avgpool", h);
    h = unary(b, GN_OP_FLATTEN, "flatten", h);
    return linear(b, "fc", "logits", h, cin, classes);
}

static int build_resnet18(builder *b, int C, int classes)
{
    static const int blocks[4] = {2, 2, 2, 2};
    return build_imagenet_resnet(b, C, classes, blocks, 0);
}

static int build_resnet50(builder *b, int C, int classes)
{
    static const int blocks[4] = {3, 4, 6, 3};
    return build_imagenet_resnet(b, C, classes, blocks, 1);
}

/* ---- Bottleneck ResNet for 28x28 -------------------------------------------- */

/* stem conv3x3 C->16, BN, ReLU; three stages of two Bottlenecks of width
 * 16, 32, 64 (outputs 64, 128, 256; stride 2 on the 3x3 of the first block
 * of layer2 and layer3, a 1x1 conv + BN shortcut on each stage's first
 * block), global average pool, fc 256->classes */
static int build_resnet_bneck(builder *b, int C, int classes)
{
    int h = conv(b, "conv1", b->g->input, C, 16, 3, 1, 1); // (16,H,W)
    h = bn(b, "bn1", h, 16);
    h = unary(b, GN_OP_RELU, "relu", h);
    int cin = 16;
    for (int s = 0; s < 3; s++)
        for (int k = 0; k < 2; k++) {
            char pre[32];
            int w = 16 << s, stride = s > 0 && k == 0 ? 2 : 1;
            snprintf(pre, sizeof pre, "layer%d.%d", s + 1, k);
            h = bottleneck(b, pre, h, cin, w, stride);
            cin = 4 * w;
        }                                                   // (256,H/4,W/4)
    h = unary(b, GN_OP_GAP, "avgpool", h);                 // (256,1,1)
    h = unary(b, GN_OP_FLATTEN, "flatten", h);
    return linear(b, "fc", "logits", h, cin, classes);     // (classes,1,1)
}

/* ---- MobileNetV2-tiny ------------------------------------------------------ */

/* (expansion t, output channels c, repeats n, stride of the first s).
 * Narrower and shallower than ImageNet's MobileNetV2 and downsampling by a
 * t=1 block: this engine's training time follows activation volume, and
 * this table holds it to about 1.35x ResNet-20's at 0.22 M parameters. */
static const int mbv2_tiny_cfg[][4] = {
    {1, 16, 1, 1}, {1, 24, 1, 2}, {4, 24, 1, 1}, {4, 40, 2, 2}, {4, 80, 2, 1}, {4, 128, 1, 1},
};
#define MBV2_STEM 16
#define MBV2_HEAD 320

/* conv + BN + ReLU6 as torchvision's Conv2dNormActivation `pre`.{0,1,2} */
static int conv_bn_relu6(builder *b, const char *pre, int x, int cin, int cout, int k, int stride,
                         int groups)
{
    char nm[128];
    snprintf(nm, sizeof nm, "%s.0", pre);
    int h = conv(b, nm, x, cin, cout, k, stride, groups);
    snprintf(nm, sizeof nm, "%s.1", pre);
    h = bn(b, nm, h, cout);
    snprintf(nm, sizeof nm, "%s.2", pre);
    return unary(b, GN_OP_CLIP, nm, h);
}

/* InvertedResidual `pre` (e.g. "features.3"): [1x1 expand-BN-ReLU6,]
 * 3x3 depthwise-BN-ReLU6, 1x1 project-BN, + x when stride 1 and cin == cout. */
static int inverted_residual(builder *b, const char *pre, int x, int cin, int cout, int t,
                             int stride)
{
    char nm[128];
    int hid = cin * t, h = x, k = 0;
    if (t != 1) {
        snprintf(nm, sizeof nm, "%s.conv.%d", pre, k++);
        h = conv_bn_relu6(b, nm, h, cin, hid, 1, 1, 1);            // (hid,H,W)
    }
    snprintf(nm, sizeof nm, "%s.conv.%d", pre, k++);
    h = conv_bn_relu6(b, nm, h, hid, hid, 3, stride, hid);         // (hid,H/s,W/s)
    snprintf(nm, sizeof nm, "%s.conv.%d", pre, k++);
    h = conv(b, nm, h, hid, cout, 1, 1, 1);                        // (cout,H/s,W/s)
    snprintf(nm, sizeof nm, "%s.conv.%d", pre, k++);
    h = bn(b, nm, h, cout);
    if (stride == 1 && cin == cout) {
        snprintf(nm, sizeof nm, "%s.add", pre);
        h = add(b, nm, h, x);
    }
    return h;
}

/* stem conv3x3 (stride `stem_s`) to `stem`, the inverted residual blocks of
 * cfg[ncfg], a 1x1 head conv to `head`, global average pool, classifier.1 */
static int build_mbv2(builder *b, int C, int classes, const int (*cfg)[4], size_t ncfg,
                      int stem, int stem_s, int head)
{
    int h = conv_bn_relu6(b, "features.0", b->g->input, C, stem, 3, stem_s, 1); // (stem,H/s,W/s)
    int cin = stem, f = 1;
    for (size_t i = 0; i < ncfg; i++) {
        const int *c = cfg[i];
        for (int r = 0; r < c[2]; r++) {
            char pre[32];
            snprintf(pre, sizeof pre, "features.%d", f++);
            h = inverted_residual(b, pre, h, cin, c[1], c[0], r == 0 ? c[3] : 1);
            cin = c[1];
        }
    }                                                                 // (128,H/4,W/4)
    char pre[32];
    snprintf(pre, sizeof pre, "features.%d", f);
    h = conv_bn_relu6(b, pre, h, cin, head, 1, 1, 1);                // (head,.,.)
    h = unary(b, GN_OP_GAP, "avgpool", h);                            // (head,1,1)
    h = unary(b, GN_OP_FLATTEN, "flatten", h);
    return linear(b, "classifier.1", "logits", h, head, classes);    // (classes,1,1)
}

static int build_mbv2_tiny(builder *b, int C, int classes)
{
    return build_mbv2(b, C, classes, mbv2_tiny_cfg, sizeof mbv2_tiny_cfg / sizeof *mbv2_tiny_cfg,
                      MBV2_STEM, 1, MBV2_HEAD);
}

/* torchvision's mobilenet_v2 (width 1.0): stem 32 stride 2, head 1280 */
static const int mbv2_cfg[][4] = {
    {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1},
};

static int build_mobilenet_v2(builder *b, int C, int classes)
{
    return build_mbv2(b, C, classes, mbv2_cfg, sizeof mbv2_cfg / sizeof *mbv2_cfg, 32, 2, 1280);
}

/* ---- registry ------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*build)(builder *, int C, int classes);
} archs[] = {
    {"resnet20", build_resnet20},
    {"mbv2-tiny", build_mbv2_tiny},
    {"resnet-bneck", build_resnet_bneck},
    {"resnet18", build_resnet18},
    {"resnet50", build_resnet50},
    {"mobilenet_v2", build_mobilenet_v2},
};

const char *gn_arch_list(void) { return "resnet20, mbv2-tiny, resnet-bneck, resnet18, resnet50, mobilenet_v2"; }

static int find_arch(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (!strcmp(archs[i].name, name)) return (int)i;
    return -1;
}

int gn_arch_exists(const char *name) { return find_arch(name) >= 0; }

int gn_arch_build(const char *name, int C, int H, int W, int classes, uint64_t seed,
                  gn_graph **out)
{
    int a = find_arch(name);
    if (a < 0) return gn_err_code(GN_EINVAL, "unknown architecture '%s' (known: %s)", name, gn_arch_list());
    if (C < 1 || H < 1 || W < 1 || classes < 1)
        return gn_err_code(GN_EINVAL, "%s: bad input shape %dx%dx%d or class count %d", name, C,
                           H, W, classes);
    builder b = {.g = gn_graph_new()};
    gn_rng_seed(&b.rng, seed, 0);
    b.g->input = gn_graph_tensor(b.g, "input");
    b.g->output = archs[a].build(&b, C, classes);
    if (gn_graph_finalize(b.g, C, H, W)) {
        gn_err_prefix("%s for %dx%dx%d inputs", name, C, H, W);
        gn_graph_free(b.g);
        return GN_EINVAL;
    }
    *out = b.g;
    return 0;
}

size_t gn_arch_count_trainable(const gn_graph *g)
{
    char *skip = gn_xcalloc((size_t)g->np + 1, 1);
    for (int k = 0; k < g->nn; k++)
        if (g->nodes[k].op == GN_OP_BN) {
            if (g->nodes[k].p[GN_P_MEAN] >= 0) skip[g->nodes[k].p[GN_P_MEAN]] = 1;
            if (g->nodes[k].p[GN_P_VAR] >= 0) skip[g->nodes[k].p[GN_P_VAR]] = 1;
        }
    size_t n = 0;
    for (int i = 0; i < g->np; i++)
        if (!skip[i]) n += g->params[i].n;
    free(skip);
    return n;
}
