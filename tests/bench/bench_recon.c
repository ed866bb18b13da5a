/* bench_recon.c - seconds per Genie-M reconstruction iteration for each unit
 * of the reference ResNet-20 at batch 8 and batch 32 (W4A4, 256 calibration
 * images from the Fashion-MNIST training set), measured in this run. The
 * authors' PyTorch code needs 9.0 ms per iteration averaged over the 11
 * units at batch 8 on this machine class (2 threads). Prints wall and
 * process CPU milliseconds (CPU is the steadier figure on a shared machine;
 * with 2 threads it sums both); asserts nothing.
 * Usage: bench_recon [ITERS] [THREADS] [BATCH] (default: 60, 1 then 2, 8 then 32) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_idx.h"
#include "gn_onnx.h"
#include "gn_qmodel.h"
#include "gn_recon.h"
#include "gn_run.h"

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* genie's start-up: OpenBLAS kernel check and self-test */
    const char *model = "tests/fixtures/resnet20_fmnist.onnx";
    const char *imgs = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    long iters = argc > 1 ? atol(argv[1]) : 60;
    gn_graph *g, *f, *qg;
    char w[512];
    size_t n;
    int h, wd;
    unsigned char *pix;
    if (gn_onnx_import(model, &g, w, sizeof w) || gn_idx_read_images(imgs, 256, &n, &h, &wd, &pix)) {
        fprintf(stderr, "bench_recon: %s\n", gn_err_msg());
        return 1;
    }
    float *x = malloc(n * 784 * sizeof(float));
    for (size_t i = 0; i < n * 784; i++) x[i] = (pix[i] / 255.0f - 0.2860f) / 0.3530f;
    gn_qconfig cfg = {.wbits = 4, .abits = 4, .first_last = 8};
    if (gn_fold_bn(g, &f) || gn_quantize(f, &cfg, &qg)) return 1;
    gn_qmodel q = {.g = qg, .wbits = 4, .abits = 4, .first_last = 8};
    if (gn_find_units(qg, &q.units, &q.nunits)) return 1;
    q.done = calloc((size_t)q.nunits, sizeof(int));
    gn_run *r = gn_run_new(qg, 32, 0);
    r->qmode = 1, r->act_init = 1;
    gn_run_forward(r, x, 32);
    gn_run_free(r);
    int th_only = argc > 2 ? atoi(argv[2]) : 0, b_only = argc > 3 ? atoi(argv[3]) : 0;
    for (int th = 1; th <= 2; th++) {
        if (th_only && th != th_only) continue;
        gn_set_threads(th);
        for (int bi = 0; bi < 2; bi++) {
            int B = bi ? 32 : 8;
            if (b_only && B != b_only) continue;
            double tot = 0, ctot = 0;
            printf("recon, batch %d, %d thread(s), ms per iteration by unit:", B, th);
            for (int k = 0; k < q.nunits; k++) {
                gn_recon_opts o;
                gn_recon_defaults(&o);
                o.batch = B;
                gn_recon_log l;
                /* the iterations alone (gn_recon_log times the loop), so the
                 * collection of the unit's inputs and targets does not count */
                o.iters = iters;
                gn_recon_unit(&q, k, x, n, &o, &l);
                double ms = 1000 * l.loop_seconds / (double)iters;
                tot += ms;
                ctot += 1000 * l.loop_cpu / (double)iters;
                printf(" %.2f", ms);
            }
            printf("\n  mean %.2f ms/iteration wall, %.2f ms CPU", tot / q.nunits, ctot / q.nunits);
            if (B == 8)
                printf(" (reference PyTorch: 9.0 ms at 2 threads; ratio %.1fx)", 9.0 / (tot / q.nunits));
            printf("\n");
            fflush(stdout);
        }
    }
    return 0;
}
