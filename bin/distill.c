/* distill - Genie-D: synthesise calibration images from a model's
 * BatchNorm statistics alone (GENIE.md section 1), or the pixel / noise
 * baselines. One process makes every batch, or only batch K
 * (--batch-index) so that batches can run as separate processes and be
 * joined by h5cat. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gn_blas.h"
#include "gn_blas_bf16.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_distill.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_png.h"
#include "gn_run.h"
#include "gn_sha256.h"
#include "gn_stats.h"

static void usage(void)
{
    printf("Usage: distill MODEL.h5 STATS.h5 -o SYNTH.h5 [options]\n"
           "Synthesise N calibration images in MODEL's input space that reproduce the\n"
           "BatchNorm statistics in STATS.h5 (made by bnstats from the same model).\n\n"
           "  -o, --output FILE    the dataset to write ('-' for stdout)\n"
           "  -n, --count N        images in the whole job (default 1024)\n"
           "  -b, --batch B        images per batch; N must be a multiple (default 128)\n"
           "  -i, --iters I        iterations per batch (default 4000)\n"
           "  -s, --seed S         random seed (default 0)\n"
           "  -k, --batch-index K  make only batch K (0 <= K < N/B) of the job\n"
           "  -m, --method M       genie (generator + latents, default), pixel (Adam on\n"
           "                       the pixels, lr 0.25) or noise (N(0,1), no optimisation)\n"
           "      --no-swing       no swing convolutions in front of strided ones\n"
           "  -g, --grid FILE      also write the images as a PNG grid\n"
           "      --log-every K    a loss row every K iterations (default 1)\n"
           "      --lr-z X         Adam lr of the latents (default 0.1)\n"
           "      --lr-g X         Adam lr of the generator (default 0.01)\n"
           "      --lr-pixel X     Adam lr of the pixels, method pixel (default 0.25)\n"
           "      --early-stop[=P] stop a batch once its loss has stopped improving: its\n"
           "                       moving average (about 100 iterations) not 0.1%% below\n"
           "                       its best for P iterations (default 100), after at\n"
           "                       least 200; -i stays the cap (distill(1))\n"
           "      --products P     the teacher's convolution products: fp32 (default) or\n"
           "                       bf16 (fp32 sums; where the CPU has AVX512_BF16, else fp32)\n"
           "      --dry-run        check the options and the inputs as a run would (the\n"
           "                       model, its statistics, the generator's fit), then exit\n"
           "                       0 without computing or writing anything\n"
           "  -t, --threads N      OpenBLAS threads (default: all cores)\n"
           "  -q, --quiet          no progress\n"
           "  -h, --help           show this help\n      --version        print the version\n\n"
           "The output holds /x [N,C,H,W] (or [B,C,H,W] with --batch-index), /loss [L,3]\n"
           "(total, mean term, std term per logged iteration), /loss_iter [L] and every\n"
           "setting, the seed and the model's SHA-256 as attributes.\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input or runtime failure, 2 usage error.\n");
}

struct opts {
    gn_distill_opts d;
    long n;
    long batch_index; /* -1: all */
    const char *out, *grid, *mpath, *spath;
    int threads, quiet, dry_run;
};

struct provenance {
    const struct opts *o;
    const char *model_sha, *targets_sha;
    const float *loss;
    const int *loss_iter;
    size_t rows;
    const int *batches;
    int nbatches;
    int rows_per_batch;
    const int *batch_iters; /* iterations each batch ran (early stop) */
};

/* The products the teacher ran: bf16 only where the CPU has them. */
static int products_run(const gn_distill_opts *d)
{
    return d->products == GN_PRODUCTS_BF16 && gn_bf16_available() ? GN_PRODUCTS_BF16
                                                                   : GN_PRODUCTS_FP32;
}

/* The settings and the inputs' hashes, never the paths typed: the same job gives
 * the same bytes whether it read files or a pipe, in whatever directory. */
static int write_provenance(hid_t f, void *arg)
{
    const struct provenance *p = arg;
    const gn_distill_opts *d = &p->o->d;
    size_t dims[2] = {p->rows, 3};
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)d->seed);
    int n = (int)p->o->n, swing = d->swing;
    float betas[2] = {d->beta1, d->beta2};
    return gn_h5_write_f32(f, "loss", 2, dims, p->loss) ||
           gn_h5_write_i32(f, "loss_iter", 1, dims, p->loss_iter) ||
           gn_h5_attr_str_w(f, "made_by", "distill") ||
           gn_h5_attr_str_w(f, "genie_version", GN_VERSION) ||
           gn_h5_attr_str_w(f, "method", gn_distill_method_name(d->method)) ||
           gn_h5_attr_ints_w(f, "n", &n, 1) || gn_h5_attr_ints_w(f, "batch", &d->batch, 1) ||
           gn_h5_attr_ints_w(f, "iters", &d->iters, 1) || gn_h5_attr_str_w(f, "seed", seed) ||
           gn_h5_attr_ints_w(f, "swing", &swing, 1) ||
           gn_h5_attr_ints_w(f, "latent_dim", &d->latent, 1) ||
           gn_h5_attr_floats_w(f, "lr_z", &d->lr_z, 1) ||
           gn_h5_attr_floats_w(f, "lr_g", &d->lr_g, 1) ||
           gn_h5_attr_floats_w(f, "lr_pixel", &d->lr_x, 1) ||
           gn_h5_attr_floats_w(f, "plateau_factor", &d->plateau_factor, 1) ||
           gn_h5_attr_ints_w(f, "plateau_patience", &d->plateau_patience, 1) ||
           gn_h5_attr_floats_w(f, "plateau_threshold", &d->plateau_threshold, 1) ||
           gn_h5_attr_floats_w(f, "plateau_min_lr", &d->plateau_min_lr, 1) ||
           gn_h5_attr_floats_w(f, "g_lr_gamma", &d->g_gamma, 1) ||
           gn_h5_attr_ints_w(f, "g_lr_every", &d->g_every, 1) ||
           gn_h5_attr_floats_w(f, "adam_betas", betas, 2) ||
           gn_h5_attr_floats_w(f, "adam_eps", &d->adam_eps, 1) ||
           gn_h5_attr_ints_w(f, "log_every", &d->log_every, 1) ||
           gn_h5_attr_str_w(f, "products", gn_products_name(products_run(d))) ||
           gn_h5_attr_ints_w(f, "loss_rows_per_batch", &p->rows_per_batch, 1) ||
           gn_h5_attr_str_w(f, "model_sha256", p->model_sha) ||
           gn_h5_attr_str_w(f, "targets_sha256", p->targets_sha) ||
           gn_h5_attr_ints_w(f, "batches", p->batches, p->nbatches) ||
           /* only with early stop: the output without it stays as it was */
           (d->early_stop &&
            (gn_h5_attr_ints_w(f, "early_stop", &d->early_stop, 1) ||
             gn_h5_attr_ints_w(f, "batch_iters", p->batch_iters, p->nbatches)));
}

struct progress_arg {
    gn_progress pr;
    long done; /* iterations of earlier batches */
    long batch;
    int method;
};

static void on_iter(void *arg, long it, double total, double mt, double st, double lr_a,
                    double lr_b)
{
    struct progress_arg *p = arg;
    char s[160];
    if (p->method == GN_DISTILL_GENIE)
        snprintf(s, sizeof s, "batch %ld loss %.4g (mean %.3g std %.3g) lr_z %.2g lr_g %.2g",
                 p->batch, total, mt, st, lr_a, lr_b);
    else if (p->method == GN_DISTILL_PIXEL)
        snprintf(s, sizeof s, "batch %ld loss %.4g (mean %.3g std %.3g) lr %.2g", p->batch, total,
                 mt, st, lr_a);
    else
        snprintf(s, sizeof s, "batch %ld loss %.4g (mean %.3g std %.3g)", p->batch, total, mt, st);
    gn_progress_update(&p->pr, p->done + it, s);
}

enum { O_NOSWING = 256, O_LOGEVERY, O_LRZ, O_LRG, O_LRX, O_ESTOP, O_PRODUCTS, O_DRYRUN };

/* distill's own options (the shared ones are gn_cli_parse's) */
static int on_opt(void *ctx, int c, const char *arg)
{
    struct opts *o = ctx;
    switch (c) {
    case 'n':
        if (gn_parse_long(arg, 1, 1L << 30, &o->n)) return gn_usage_error("-n: not a positive count: '%s'", arg);
        break;
    case 'i':
        if (gn_parse_int(arg, 1, 1 << 30, &o->d.iters)) return gn_usage_error("--iters: not a positive integer: '%s'", arg);
        break;
    case 'k':
        if (gn_parse_long(arg, 0, 1L << 30, &o->batch_index)) return gn_usage_error("--batch-index: not a non-negative integer: '%s'", arg);
        break;
    case 'm': {
        int m = gn_distill_method_from_name(arg);
        if (m < 0) return gn_usage_error("--method: '%s' is not genie, pixel or noise", arg);
        o->d.method = (gn_distill_method)m;
        break;
    }
    case O_NOSWING: o->d.swing = 0; break;
    case O_DRYRUN: o->dry_run = 1; break;
    case 'g': o->grid = arg; break;
    case O_LOGEVERY:
        if (gn_parse_int(arg, 1, 1 << 30, &o->d.log_every)) return gn_usage_error("--log-every: not a positive integer: '%s'", arg);
        break;
    case O_LRZ:
        if (gn_parse_float(arg, 1e-12, 1e6, &o->d.lr_z)) return gn_usage_error("--lr-z: not a positive number: '%s'", arg);
        break;
    case O_LRG:
        if (gn_parse_float(arg, 1e-12, 1e6, &o->d.lr_g)) return gn_usage_error("--lr-g: not a positive number: '%s'", arg);
        break;
    case O_LRX:
        if (gn_parse_float(arg, 1e-12, 1e6, &o->d.lr_x)) return gn_usage_error("--lr-pixel: not a positive number: '%s'", arg);
        break;
    case O_ESTOP:
        o->d.early_stop = 100;
        if (arg && gn_parse_int(arg, 1, 1 << 30, &o->d.early_stop))
            return gn_usage_error("--early-stop: not a positive patience: '%s'", arg);
        break;
    case O_PRODUCTS: {
        int p = gn_products_from_name(arg);
        if (p < 0) return gn_usage_error("--products: '%s' is not fp32 or bf16", arg);
        o->d.products = p;
        break;
    }
    }
    return 0;
}

/* parses the command line into o; returns -1 to go on, else an exit status */
static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"count", 1, 0, 'n'},         {"iters", 1, 0, 'i'},     {"batch-index", 1, 0, 'k'},
        {"method", 1, 0, 'm'},        {"no-swing", 0, 0, O_NOSWING}, {"grid", 1, 0, 'g'},
        {"log-every", 1, 0, O_LOGEVERY}, {"lr-z", 1, 0, O_LRZ}, {"lr-g", 1, 0, O_LRG},
        {"lr-pixel", 1, 0, O_LRX},    {"early-stop", 2, 0, O_ESTOP}, {"products", 1, 0, O_PRODUCTS},
        {"dry-run", 0, 0, O_DRYRUN},  {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    gn_distill_defaults(&o->d);
    o->n = 1024;
    o->batch_index = -1;
    gn_cli_spec cs = {.out = &o->out, .threads = &o->threads, .batch = &o->d.batch,
                      .batch_min = 2, .batch_max = 1 << 20, .seed = &o->d.seed,
                      .quiet = &o->quiet, .shortopts = "n:i:k:m:g:", .longopts = lo,
                      .opt = on_opt, .ctx = o, .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    if (argc - optind != 2) return gn_usage_error("expected MODEL and STATS files, got %d argument(s)", argc - optind);
    if (!o->out) return gn_usage_error("no output file given (-o)");
    /* noise has no iterations: --early-stop has nothing to stop (distill(1)) */
    if (o->d.method == GN_DISTILL_NOISE) o->d.early_stop = 0;
    if (o->n % o->d.batch)
        return gn_usage_error("-n %ld is not a multiple of the batch size %d", o->n, o->d.batch);
    if (o->batch_index >= o->n / o->d.batch)
        return gn_usage_error("--batch-index %ld: the job has only %ld batches (0..%ld)",
                              o->batch_index, o->n / o->d.batch, o->n / o->d.batch - 1);
    o->mpath = argv[optind];
    o->spath = argv[optind + 1];
    const char *ins[] = {o->mpath, o->spath}, *outs[] = {o->out, o->grid};
    return gn_cli_check_io(ins, 2, outs, 2);
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    struct opts o;
    int st = parse(argc, argv, &o);
    if (st >= 0) return st;
    if (o.threads) gn_set_threads(o.threads);

    gn_graph *g = NULL;
    gn_bnstats s = {0};
    gn_distiller *d = NULL;
    char sha[65], tsha[65];
    int rc = gn_model_load(o.mpath, &g);
    if (!rc && gn_bnstats_nodes(g, NULL, 0) == 0)
        rc = gn_err_set("%s: model has no BatchNorm layer (Genie-D needs BatchNorm statistics)", o.mpath);
    if (!rc) rc = gn_bnstats_load(o.spath, &s);
    if (!rc) rc = gn_sha256_file(o.mpath, sha);
    if (!rc && strcmp(sha, s.model_sha))
        rc = gn_err_set("%s: statistics of another model (made from a model with SHA-256 %.12s..., "
                        "%s has %.12s...)",
                        o.spath, s.model_sha, o.mpath, sha);
    if (!rc) rc = gn_bnstats_match(&s, g, o.spath, o.mpath);
    if (!rc) {
        rc = gn_distiller_new(&d, g, &s, &o.d);
        if (rc) gn_err_prefix("%s", o.mpath);
    }
    if (rc || o.dry_run) { /* --dry-run: everything a run checks has been checked */
        gn_distiller_free(d);
        gn_bnstats_free(&s);
        gn_graph_free(g);
        return rc ? gn_fail() : 0;
    }
    gn_bnstats_targets_hash(&s, tsha);

    const int B = o.d.batch, L = gn_distill_log_rows(&o.d);
    const int nb = o.batch_index >= 0 ? 1 : (int)(o.n / B);
    const gn_tensorinfo *in = &g->t[g->input];
    const size_t per = gn_tensor_size(g, g->input);
    gn_dataset ds = {.n = (size_t)nb * B, .c = in->c, .h = in->h, .w = in->w};
    ds.x = gn_xmalloc(ds.n * per * sizeof(float));
    float *loss = gn_xmalloc((size_t)nb * L * 3 * sizeof(float));
    int *loss_iter = gn_xmalloc((size_t)nb * L * sizeof(int));
    int *batches = gn_xmalloc((size_t)nb * sizeof(int));
    int *batch_iters = gn_xmalloc((size_t)nb * sizeof(int));
    struct progress_arg pa = {.method = o.d.method};
    const long its = o.d.method == GN_DISTILL_NOISE ? 1 : o.d.iters;
    if (o.d.products == GN_PRODUCTS_BF16 && !gn_bf16_available() && !o.quiet)
        gn_msg("--products bf16: this CPU has no AVX512_BF16 (or GN_NO_BF16 is set); fp32 runs");
    long done = 0;
    gn_progress_start(&pa.pr, "distill", (long)nb * its, o.quiet);
    for (int i = 0; i < nb; i++) {
        long k = o.batch_index >= 0 ? o.batch_index : i;
        batches[i] = (int)k;
        pa.batch = k;
        pa.done = done;
        gn_distiller_batch(d, (uint64_t)k, ds.x + (size_t)i * B * per, loss + (size_t)i * L * 3,
                           on_iter, &pa);
        for (int r = 0; r < L; r++) loss_iter[(size_t)i * L + r] = 1 + r * o.d.log_every;
        const gn_distill_stop *es = gn_distiller_stop(d);
        batch_iters[i] = (int)(o.d.early_stop ? es->iters : its);
        done += batch_iters[i];
        if (es->stopped) {
            gn_msg("batch %ld stopped early at iteration %ld of %d: the loss's moving average "
                   "%.6g is not %g%% below its best %.6g (iteration %ld) for %d iterations",
                   k, es->iters, o.d.iters, es->ema, 100.0 * o.d.es_tol, es->best, es->best_at,
                   o.d.early_stop);
        } else if (o.d.early_stop) {
            gn_msg("batch %ld ran all %d iterations: the loss was still improving", k, o.d.iters);
        }
    }
    gn_progress_end(&pa.pr);
    struct provenance p = {&o, sha, tsha, loss, loss_iter, (size_t)nb * L, batches, nb, L, batch_iters};
    /* the grid first: when anything fails, neither output is left behind */
    rc = o.grid ? gn_png_grid(o.grid, ds.x, ds.n, ds.c, ds.h, ds.w, 0, 2) : 0;
    if (!rc) {
        rc = gn_dataset_save(o.out, &ds, write_provenance, &p);
        if (rc && o.grid && strcmp(o.grid, "-")) unlink(o.grid);
    }
    gn_dataset_free(&ds);
    free(loss);
    free(loss_iter);
    free(batches);
    free(batch_iters);
    gn_distiller_free(d);
    gn_bnstats_free(&s);
    gn_graph_free(g);
    gn_run_profile_print(stderr); /* GN_PROFILE */
    return rc ? gn_fail() : 0;
}
