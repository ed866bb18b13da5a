/* bench_estop.c - early stop against the full schedule on a small cell:
 * Genie-M reconstruction of every unit of the reference ResNet-20 at W2A4,
 * in sequence, 256 Fashion-MNIST training images, batch 8, one thread,
 * ITERS iterations per unit; once with the fixed count, once with
 * recon-block --early-stop's defaults (gn_recon_opts.early_stop). Prints
 * the total reconstruction iterations and the loops' wall and CPU seconds
 * of both and their ratios, and the last unit's hard-rounded error after
 * each (the quality the saving costs, on this cell). Distillation is not
 * run: at the counts measured (README) its early stop stopped no batch, so
 * the ratio of totals is this one diluted by the distillation's share.
 * Asserts nothing. Usage: bench_estop [ITERS] (default 200) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_calibrate.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_idx.h"
#include "gn_onnx.h"
#include "gn_qmodel.h"
#include "gn_recon.h"
#include "gn_run.h"

typedef struct {
    long iters;
    double wall, cpu, last_err;
} pass;

/* calibrates g at W2A4 (gn_calibrate: folded, steps from 32 samples), then reconstructs
 * every unit with (early stop) or without it */
static int run_pass(const gn_graph *g, const float *x, size_t n, long iters, int es, pass *p)
{
    gn_qconfig cfg = {.wbits = 2, .abits = 4, .first_last = 8};
    gn_qmodel q;
    if (gn_calibrate(g, x, n, &cfg, &q, NULL)) return 1;
    memset(p, 0, sizeof *p);
    for (int k = 0; k < q.nunits; k++) {
        gn_recon_opts o;
        gn_recon_defaults(&o);
        o.batch = 8, o.iters = iters, o.early_stop = es;
        gn_recon_log l;
        if (gn_recon_unit(&q, k, x, n, &o, &l)) return 1;
        p->iters += es ? l.iters_run : iters;
        p->wall += l.loop_seconds, p->cpu += l.loop_cpu;
        p->last_err = l.rec_after;
    }
    gn_qmodel_free(&q);
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init();
    const char *model = "tests/fixtures/resnet20_fmnist.onnx";
    const char *imgs = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    long iters = argc > 1 ? atol(argv[1]) : 200;
    gn_graph *g;
    char w[512];
    size_t n;
    int h, wd;
    unsigned char *pix;
    if (iters < 1 || gn_onnx_import(model, &g, w, sizeof w) || gn_idx_read_images(imgs, 256, &n, &h, &wd, &pix)) {
        fprintf(stderr, "bench_estop: %s\n", iters < 1 ? "ITERS: not a positive count" : gn_err_msg());
        return 1;
    }
    float *x = malloc(n * 784 * sizeof(float));
    for (size_t i = 0; i < n * 784; i++) x[i] = (pix[i] / 255.0f - 0.2860f) / 0.3530f;
    gn_set_threads(1);
    pass full, es;
    if (run_pass(g, x, n, iters, 0, &full) || run_pass(g, x, n, iters, 1, &es)) {
        fprintf(stderr, "bench_estop: %s\n", gn_err_msg());
        return 1;
    }
    printf("recon, resnet20 W2A4, %ld iterations per unit, batch 8, 1 thread:\n", iters);
    printf("  full schedule: %ld iterations, %.2f s wall, %.2f s CPU, last unit's error %.4g\n", full.iters,
           full.wall, full.cpu, full.last_err);
    printf("  early stop:    %ld iterations, %.2f s wall, %.2f s CPU, last unit's error %.4g\n", es.iters, es.wall,
           es.cpu, es.last_err);
    printf("  full / early stop: %.2fx iterations, %.2fx wall, %.2fx CPU\n", (double)full.iters / (double)es.iters,
           full.wall / es.wall, full.cpu / es.cpu);
    free(x), free(pix);
    gn_graph_free(g);
    return 0;
}
