/* train - trains a model of a built-in architecture on a labelled dataset
 * with genie's recipe (SGD Nesterov, cosine schedule, pad-crop-flip), with a
 * checkpoint per epoch that --resume continues bit-identically. The
 * recipe, checkpoints and randomness live in lib/train.c; this is options,
 * files and messages. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gn_arch.h"
#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_run.h"
#include "gn_train.h"

static void usage(void)
{
    printf("Usage: train --arch NAME --data TRAIN.h5 [--test TEST.h5] [options] -o MODEL.h5\n"
           "Train a model of a built-in architecture on a labelled genie dataset: SGD with\n"
           "Nesterov momentum, cosine learning rate per step, random pad-crop and flip.\n\n"
           "  -a, --arch NAME        architecture: resnet20, mbv2-tiny, resnet-bneck;\n"
           "                         for 224x224 ImageNet-size timing: resnet18,\n"
           "                         resnet50, mobilenet_v2\n"
           "  -d, --data FILE        training set (/x float32 [N,C,H,W], /y int32 [N])\n"
           "  -T, --test FILE        test set, evaluated after every epoch\n"
           "  -e, --epochs N         epochs (default 15)\n"
           "  -b, --batch N          batch size (default 128)\n"
           "      --lr F             initial learning rate (default 0.1)\n"
           "      --momentum F       momentum (default 0.9)\n"
           "      --weight-decay F   L2 weight decay on every parameter (default 5e-4)\n"
           "      --no-nesterov      classical instead of Nesterov momentum\n"
           "      --pad N            pixels of padding for the random crop (default 2, 0 = none)\n"
           "      --pad-value V      value of the padding (default: black, (0-norm_mean)/norm_std\n"
           "                         from the data file, else (0-0.2860)/0.3530)\n"
           "      --no-flip          no random horizontal flip\n"
           "      --classes N        number of classes (default 10)\n"
           "  -s, --seed N           random seed (default 1)\n"
           "  -o, --output FILE      the trained model ('-' for stdout)\n"
           "      --checkpoint FILE  checkpoint written after each epoch (default OUTPUT.ckpt.h5)\n"
           "      --resume           continue from the checkpoint\n"
           "      --stop-after N     stop after epoch N, leaving the checkpoint (no model)\n"
           "      --keep-checkpoint  keep the checkpoint after the model is written\n"
           "  -t, --threads N        OpenBLAS threads (default: all cores)\n"
           "  -q, --quiet            no progress and no per-epoch lines\n"
           "  -h, --help             show this help\n      --version          print the version\n\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input or runtime failure, 2 usage error.\n");
}

/* options; `given` marks those set on the command line (checked on --resume) */
enum { G_ARCH, G_EPOCHS, G_BATCH, G_LR, G_MOM, G_WD, G_NEST, G_PAD, G_PADV, G_FLIP, G_CLASSES,
       G_SEED, G_N };

typedef struct {
    gn_train_cfg cfg;
    char given[G_N];
    const char *data, *test, *out, *ckpt;
    int resume, stop_after, keep_ckpt, threads, quiet;
} options;

enum { O_LR = 256, O_MOM, O_WD, O_NONEST, O_PAD, O_PADV, O_NOFLIP, O_CLASSES, O_CKPT, O_RESUME,
       O_STOP, O_KEEP };

/* train's own options (the shared ones are gn_cli_parse's) */
static int on_opt(void *ctx, int ch, const char *arg)
{
    options *o = ctx;
    gn_train_cfg *c = &o->cfg;
    switch (ch) {
    case 'a':
        if (!gn_arch_exists(arg))
            return gn_usage_error("--arch: unknown architecture '%s' (known: %s)", arg, gn_arch_list());
        snprintf(c->arch, sizeof c->arch, "%s", arg);
        o->given[G_ARCH] = 1;
        break;
    case 'd': o->data = arg; break;
    case 'T': o->test = arg; break;
    case 'e':
        if (gn_parse_int(arg, 1, 100000, &c->epochs)) return gn_usage_error("--epochs: not a positive integer: '%s'", arg);
        o->given[G_EPOCHS] = 1;
        break;
    case O_LR:
        if (gn_parse_float(arg, 1e-12, 1e3, &c->lr)) return gn_usage_error("--lr: not a positive number: '%s'", arg);
        o->given[G_LR] = 1;
        break;
    case O_MOM:
        if (gn_parse_float(arg, 0, 0.999999, &c->momentum)) return gn_usage_error("--momentum: not a number in [0,1): '%s'", arg);
        o->given[G_MOM] = 1;
        break;
    case O_WD:
        if (gn_parse_float(arg, 0, 1, &c->weight_decay)) return gn_usage_error("--weight-decay: not a number in [0,1]: '%s'", arg);
        o->given[G_WD] = 1;
        break;
    case O_NONEST: c->nesterov = 0, o->given[G_NEST] = 1; break;
    case O_PAD:
        if (gn_parse_int(arg, 0, 1024, &c->pad)) return gn_usage_error("--pad: not an integer in 0..1024: '%s'", arg);
        o->given[G_PAD] = 1;
        break;
    case O_PADV:
        if (gn_parse_float(arg, -1e6, 1e6, &c->pad_value)) return gn_usage_error("--pad-value: not a number: '%s'", arg);
        o->given[G_PADV] = 1;
        break;
    case O_NOFLIP: c->flip = 0, o->given[G_FLIP] = 1; break;
    case O_CLASSES:
        if (gn_parse_int(arg, 1, 1 << 20, &c->classes)) return gn_usage_error("--classes: not a positive integer: '%s'", arg);
        o->given[G_CLASSES] = 1;
        break;
    case O_CKPT: o->ckpt = arg; break;
    case O_RESUME: o->resume = 1; break;
    case O_STOP:
        if (gn_parse_int(arg, 1, 100000, &o->stop_after)) return gn_usage_error("--stop-after: not a positive integer: '%s'", arg);
        break;
    case O_KEEP: o->keep_ckpt = 1; break;
    }
    return 0;
}

static int parse(int argc, char **argv, options *o, int *done)
{
    static const struct option lo[] = {
        {"arch", 1, 0, 'a'},          {"data", 1, 0, 'd'},           {"test", 1, 0, 'T'},
        {"epochs", 1, 0, 'e'},        {"lr", 1, 0, O_LR},            {"momentum", 1, 0, O_MOM},
        {"weight-decay", 1, 0, O_WD}, {"no-nesterov", 0, 0, O_NONEST}, {"pad", 1, 0, O_PAD},
        {"pad-value", 1, 0, O_PADV},  {"no-flip", 0, 0, O_NOFLIP},   {"classes", 1, 0, O_CLASSES},
        {"checkpoint", 1, 0, O_CKPT}, {"resume", 0, 0, O_RESUME},    {"stop-after", 1, 0, O_STOP},
        {"keep-checkpoint", 0, 0, O_KEEP}, {0, 0, 0, 0}};
    gn_train_cfg *c = &o->cfg;
    unsigned given = 0;
    gn_cli_spec cs = {.out = &o->out, .threads = &o->threads, .batch = &c->batch,
                      .batch_max = 1 << 16, .seed = &c->seed, .quiet = &o->quiet,
                      .given = &given, .shortopts = "a:d:T:e:", .longopts = lo, .opt = on_opt,
                      .ctx = o, .usage = usage};
    *done = 0;
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) {
        *done = 1;
        return st;
    }
    o->given[G_BATCH] = (given & GN_CLI_GIVEN_BATCH) != 0;
    o->given[G_SEED] = (given & GN_CLI_GIVEN_SEED) != 0;
    if (optind < argc && !o->data) o->data = argv[optind++];
    if (optind < argc) return gn_usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->data) return gn_usage_error("no training data (--data FILE)");
    if (!o->out) return gn_usage_error("no output file (-o FILE)");
    if (!o->given[G_ARCH] && !o->resume) return gn_usage_error("no architecture (--arch %s)", gn_arch_list());
    static char ckbuf[4096]; /* the default checkpoint, OUTPUT.ckpt.h5 */
    if (!o->ckpt && strcmp(o->out, "-")) {
        snprintf(ckbuf, sizeof ckbuf, "%s.ckpt.h5", o->out);
        o->ckpt = ckbuf;
    }
    if (o->ckpt && !strcmp(o->ckpt, "-"))
        return gn_usage_error("--checkpoint: a checkpoint is a file, not '-'");
    const char *ins[] = {o->data, o->test}, *outs[] = {o->out, o->ckpt};
    st = gn_cli_check_io(ins, 2, outs, 2);
    return st >= 0 ? st : 0;
}

/* pad value from the data file's norm_mean / norm_std root attributes */
static int data_pad_value(const char *path, float *v, int *found)
{
    hid_t f;
    float mean = 0, std = 0;
    *found = 0;
    if (gn_h5_open(path, &f)) return GN_EIO;
    int rc = gn_h5_attr_floats_r(f, "norm_mean", &mean, 1, 1) ||
             gn_h5_attr_floats_r(f, "norm_std", &std, 1, 1);
    H5Fclose(f);
    if (rc) {
        gn_err_prefix("%s", path);
        return rc;
    }
    if (std > 0) {
        *v = (0.0f - mean) / std;
        *found = 1;
    }
    return 0;
}

/* an option given with --resume must agree with the checkpoint */
static int check_resume(const options *o, const gn_train_cfg *k, const char *ckpt)
{
    const gn_train_cfg *c = &o->cfg;
#define DIFF(g, cond, opt, fmt, a, b)                                                       \
    if (o->given[g] && (cond))                                                              \
        return gn_err_code(GN_EINVAL, "%s: checkpoint was made with %s " fmt ", not " fmt, \
                           ckpt, opt, a, b);
    DIFF(G_ARCH, strcmp(c->arch, k->arch), "--arch", "%s", k->arch, c->arch);
    DIFF(G_EPOCHS, c->epochs != k->epochs, "--epochs", "%d", k->epochs, c->epochs);
    DIFF(G_BATCH, c->batch != k->batch, "--batch", "%d", k->batch, c->batch);
    DIFF(G_LR, c->lr != k->lr, "--lr", "%g", k->lr, c->lr);
    DIFF(G_MOM, c->momentum != k->momentum, "--momentum", "%g", k->momentum, c->momentum);
    DIFF(G_WD, c->weight_decay != k->weight_decay, "--weight-decay", "%g", k->weight_decay, c->weight_decay);
    DIFF(G_NEST, c->nesterov != k->nesterov, "nesterov", "%d", k->nesterov, c->nesterov);
    DIFF(G_PAD, c->pad != k->pad, "--pad", "%d", k->pad, c->pad);
    DIFF(G_PADV, c->pad_value != k->pad_value, "--pad-value", "%g", k->pad_value, c->pad_value);
    DIFF(G_FLIP, c->flip != k->flip, "flip", "%d", k->flip, c->flip);
    DIFF(G_CLASSES, c->classes != k->classes, "--classes", "%d", k->classes, c->classes);
    DIFF(G_SEED, c->seed != k->seed, "--seed", "%" PRIu64, k->seed, c->seed);
#undef DIFF
    return 0;
}

struct model_extra {
    const gn_trainer *t;
    double top1;
};

static int model_extra(hid_t f, void *arg)
{
    const struct model_extra *m = arg;
    return gn_trainer_model_attrs(f, m->t, m->top1);
}

static int run(options *o)
{
    gn_dataset tr = {0}, te = {0};
    gn_trainer *t = NULL;
    int rc = 0;
    const char *ckpt = o->ckpt; /* parse() made the default */
    if ((o->resume || o->stop_after) && !ckpt) {
        gn_err_set("--resume and --stop-after need a checkpoint: give --checkpoint FILE with -o -");
        return GN_EXIT_USAGE;
    }
    if (o->threads) gn_set_threads(o->threads);
    if (!o->given[G_PADV] && !o->resume) {
        int found;
        if (data_pad_value(o->data, &o->cfg.pad_value, &found)) return GN_EXIT_FAIL;
    }
    if (gn_dataset_load(o->data, &tr) || (o->test && gn_dataset_load(o->test, &te))) {
        rc = GN_EXIT_FAIL;
        goto done;
    }
    if (o->resume) {
        if (gn_trainer_load(ckpt, tr.n, tr.c, tr.h, tr.w, &t) || check_resume(o, &t->cfg, ckpt)) {
            rc = GN_EXIT_FAIL;
            goto done;
        }
    } else if (gn_trainer_new(&o->cfg, tr.n, tr.c, tr.h, tr.w, &t)) {
        gn_err_prefix("%s", o->data);
        rc = GN_EXIT_FAIL;
        goto done;
    }
    if (gn_trainer_check_data(t, &tr, o->data) || (o->test && gn_trainer_check_data(t, &te, o->test))) {
        rc = GN_EXIT_FAIL;
        goto done;
    }
    const gn_train_cfg *c = &t->cfg;
    int last = o->stop_after && o->stop_after < c->epochs ? o->stop_after : c->epochs;
    if (!o->quiet) {
        gn_msg("%s, %zu parameters; %zu samples of %dx%dx%d, %ld steps per epoch; %s epoch %d of %d",
               c->arch, gn_arch_count_trainable(t->g), tr.n, tr.c, tr.h, tr.w, t->steps_per_epoch,
               t->epoch ? "resuming at" : "starting at", t->epoch + 1, c->epochs);
    }
    double top1 = -1, tl;
    while (t->epoch < last) {
        double t0 = gn_now(), sum = 0;
        gn_progress pr;
        char what[64], status[64];
        snprintf(what, sizeof what, "epoch %d/%d", t->epoch + 1, c->epochs);
        gn_progress_start(&pr, what, gn_trainer_batches(t), o->quiet);
        if (!pr.tty) pr.quiet = 1; /* a log gets the epoch line only */
        gn_trainer_epoch_begin(t);
        for (long i = 0; i < gn_trainer_batches(t); i++) {
            float loss;
            int b;
            gn_trainer_step(t, &tr, i, &loss, &b);
            sum += (double)loss * b;
            snprintf(status, sizeof status, "loss %.4f", sum / (double)((size_t)i * (size_t)c->batch + (size_t)b));
            gn_progress_update(&pr, i + 1, status);
        }
        gn_progress_end(&pr);
        gn_trainer_epoch_end(t);
        double loss = sum / (double)tr.n;
        char acc[32] = "-";
        if (o->test) {
            gn_trainer_evaluate(t, &te, &top1, &tl);
            snprintf(acc, sizeof acc, "%.2f%%", 100 * top1);
        }
        if (!o->quiet) /* seconds of the epoch, its test included */
            gn_msg("epoch %d/%d  loss %.4f  test top-1 %s  %.1f s", t->epoch, c->epochs, loss, acc,
                   gn_now() - t0);
        if (ckpt && (rc = gn_trainer_save(t, ckpt))) {
            rc = GN_EXIT_FAIL;
            goto done;
        }
    }
    if (t->epoch < c->epochs) {
        if (!o->quiet) gn_msg("stopped after epoch %d of %d; continue with --resume (checkpoint %s)",
                              t->epoch, c->epochs, ckpt);
        goto done;
    }
    if (o->test && top1 < 0) gn_trainer_evaluate(t, &te, &top1, &tl);
    struct model_extra me = {t, top1};
    if (gn_model_save(o->out, t->g, model_extra, &me)) {
        rc = GN_EXIT_FAIL;
        goto done;
    }
    if (ckpt && !o->keep_ckpt) unlink(ckpt);
done:
    gn_trainer_free(t);
    gn_dataset_free(&tr);
    gn_dataset_free(&te);
    return rc;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    options o = {0};
    gn_train_defaults(&o.cfg);
    int done, rc = parse(argc, argv, &o, &done);
    if (rc || done) return rc;
    rc = run(&o);
    if (rc == GN_EXIT_USAGE) return gn_usage_error("%s", gn_err_msg());
    gn_run_profile_print(stderr); /* GN_PROFILE */
    return rc ? gn_fail() : 0;
}
