/* genie-eval - top-1 / top-5 accuracy and mean cross-entropy of a model on a
 * labelled dataset. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_ops.h"
#include "gn_qmodel.h"
#include "gn_run.h"

static void usage(void)
{
    printf("Usage: genie-eval MODEL.h5 DATA.h5 [--batch N] [--json] [--logits OUT.h5]\n"
           "Top-1, top-5, mean cross-entropy and sample count of a model (FP32, quantised\n"
           "by calib/recon-block, or packed) on a labelled dataset (genie dataset file:\n"
           "/x float32 [N,C,H,W], /y int32 [N]).\n\n"
           "  -b, --batch N      samples per forward pass (default 256)\n"
           "      --json         print one JSON object {top1, top5, loss, n} on stdout\n"
           "      --logits FILE  also write /logits float32 [N,classes] to FILE\n"
           "  -t, --threads N    OpenBLAS threads (default: all cores)\n"
           "  -q, --quiet        no progress\n"
           "  -h, --help         show this help\n      --version      print the version\n\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input or runtime failure, 2 usage error.\n");
}

struct logits {
    const float *z;
    size_t n, k;
};

static int write_logits(hid_t f, const void *arg)
{
    const struct logits *l = arg;
    size_t dims[2] = {l->n, l->k};
    return gn_h5_attr_str_w(f, "genie_kind", "logits") || gn_h5_write_f32(f, "logits", 2, dims, l->z);
}

struct eval_opts {
    int json;
    const char *logits;
};

/* eval's own options (the shared ones are gn_cli_parse's) */
static int on_opt(void *ctx, int c, const char *arg)
{
    struct eval_opts *e = ctx;
    if (c == 'j') e->json = 1;
    else e->logits = arg; /* 'l' */
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {{"json", 0, 0, 'j'}, {"logits", 1, 0, 'l'}, {0, 0, 0, 0}};
    int batch = 256, threads = 0, quiet = 0;
    struct eval_opts eo = {0, NULL};
    gn_cli_spec cs = {.threads = &threads, .batch = &batch, .quiet = &quiet, .longopts = lo,
                      .opt = on_opt, .ctx = &eo, .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    int json = eo.json;
    const char *logits_out = eo.logits;
    if (argc - optind != 2) return gn_usage_error("expected MODEL and DATA files, got %d argument(s)", argc - optind);
    const char *mpath = argv[optind], *dpath = argv[optind + 1];
    if (logits_out && !strcmp(logits_out, "-"))
        return gn_usage_error("--logits -: standard output carries the accuracy line");
    const char *ins[] = {mpath, dpath}, *outs[] = {logits_out};
    if ((st = gn_cli_check_io(ins, 2, outs, 1)) >= 0) return st;
    if (threads) gn_set_threads(threads);
    gn_graph *g = NULL;
    gn_dataset d;
    int quantised = 0;
    if (gn_model_load_any(mpath, &g, &quantised)) return gn_fail();
    if (gn_dataset_load(dpath, &d)) {
        gn_graph_free(g);
        return gn_fail();
    }
    int rc = 0;
    if (gn_dataset_check_input(&d, dpath, g, mpath)) {
        rc = 1;
    } else if (!d.y) {
        gn_err_set("%s: no labels (/y): genie-eval needs a labelled dataset", dpath);
        rc = 1;
    }
    int K = (int)gn_tensor_size(g, g->output);
    for (size_t i = 0; !rc && i < d.n; i++)
        if (d.y[i] < 0 || d.y[i] >= K) {
            gn_err_set("%s: /y[%zu] = %d is not a class of a %d-class model", dpath, i, d.y[i], K);
            rc = 1;
        }
    if (rc) {
        gn_graph_free(g);
        gn_dataset_free(&d);
        return gn_fail();
    }
    if ((size_t)batch > d.n) batch = (int)d.n;
    gn_run *r = gn_run_new(g, batch, 0);
    r->qmode = quantised; /* hard rounding, plain activation quantisers */
    size_t per = gn_tensor_size(g, g->input);
    float *logits = logits_out ? gn_xmalloc(d.n * (size_t)K * sizeof(float)) : NULL;
    double loss = 0;
    size_t top1 = 0, top5 = 0;
    gn_progress pr;
    gn_progress_start(&pr, "genie-eval", (long)d.n, quiet);
    for (size_t s = 0; s < d.n; s += (size_t)batch) {
        int b = (int)(d.n - s < (size_t)batch ? d.n - s : (size_t)batch);
        gn_run_forward(r, d.x + s * per, b);
        const float *z = r->val[g->output];
        loss += (double)gn_xent_forward_backward(NULL, NULL, z, d.y + s, b, K, 1.0f) * b;
        for (int i = 0; i < b; i++) {
            const float *zi = z + (size_t)i * K;
            float t = zi[d.y[s + i]];
            int above = 0; /* classes ranked before the true one (ties: lower index first) */
            for (int k = 0; k < K; k++) above += zi[k] > t || (zi[k] == t && k < d.y[s + i]);
            top1 += above == 0;
            top5 += above < 5;
        }
        if (logits) memcpy(logits + s * K, z, (size_t)b * K * sizeof(float));
        gn_progress_update(&pr, (long)(s + (size_t)b), NULL);
    }
    double n = (double)d.n;
    if (json)
        printf("{\"top1\": %.6f, \"top5\": %.6f, \"loss\": %.6f, \"n\": %zu}\n", top1 / n, top5 / n,
               loss / n, d.n);
    else
        printf("top-1 %.2f%%  top-5 %.2f%%  loss %.4f  n %zu\n", 100 * top1 / n, 100 * top5 / n,
               loss / n, d.n);
    if (logits) {
        struct logits l = {logits, d.n, (size_t)K};
        rc = gn_h5_save(logits_out, write_logits, &l);
        free(logits);
    }
    gn_run_free(r);
    gn_graph_free(g);
    gn_dataset_free(&d);
    gn_run_profile_print(stderr); /* GN_PROFILE */
    return rc ? gn_fail() : 0;
}
