/* bench_products.c - seconds per Genie-D iteration with the teacher's
 * products in fp32 and in bf16 (distill --products; gn_blas_bf16.h), one
 * thread: the bundled ResNet-20 at batch 128 (28x28), and torchvision's
 * ResNet-18 built in code (random weights, 3x224x224) at batch 32. Each
 * figure is the median process CPU time of ITERS iterations after the
 * first (set-up excluded), fp32 then bf16 on a fresh distiller each; the
 * ratio fp32/bf16 is the speed-up. Prints what it measured; asserts
 * nothing. On a CPU without AVX512_BF16 both run fp32 and it says so.
 * Usage: bench_products [ITERS_R20 [ITERS_R18]]   (default 8 3; 0 skips) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_arch.h"
#include "gn_blas.h"
#include "gn_blas_bf16.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_distill.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_stats.h"

#define MAXIT 64
static double c_at[MAXIT + 2];

static void on_iter(void *arg, long it, double total, double mt, double st, double lr_z,
                    double lr_g)
{
    (void)arg, (void)total, (void)mt, (void)st, (void)lr_z, (void)lr_g;
    if (it <= MAXIT + 1) c_at[it] = gn_cpu_now();
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median CPU seconds of iterations 2..iters+1 with the given products */
static double per_iter(gn_graph *g, gn_bnstats *st, int B, int iters, int products)
{
    gn_distill_opts o;
    gn_distill_defaults(&o);
    o.batch = B;
    o.iters = iters + 1;
    o.products = products;
    gn_distiller *d;
    if (gn_distiller_new(&d, g, st, &o)) {
        fprintf(stderr, "bench_products: %s\n", gn_err_msg());
        exit(1);
    }
    float *x = malloc(sizeof(float) * gn_tensor_size(g, g->input) * B);
    gn_distiller_batch(d, 0, x, NULL, on_iter, NULL);
    double t[MAXIT];
    for (int i = 0; i < iters; i++) t[i] = c_at[i + 2] - c_at[i + 1];
    qsort(t, (size_t)iters, sizeof t[0], cmp_d);
    free(x);
    gn_distiller_free(d);
    return iters % 2 ? t[iters / 2] : (t[iters / 2 - 1] + t[iters / 2]) / 2;
}

static void compare(const char *name, gn_graph *g, gn_bnstats *st, int B, int iters)
{
    if (iters > MAXIT) iters = MAXIT;
    const double f = per_iter(g, st, B, iters, GN_PRODUCTS_FP32);
    const double b = per_iter(g, st, B, iters, GN_PRODUCTS_BF16);
    printf("%s, distill batch %d, 1 thread, CPU s per iteration (median of %d): fp32 %.3f, "
           "bf16 %.3f; fp32/bf16 %.2f\n",
           name, B, iters, f, b, f / b);
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init();
    const int it20 = argc > 1 ? atoi(argv[1]) : 8, it18 = argc > 2 ? atoi(argv[2]) : 3;
    gn_set_threads(1);
    printf("bf16 products: %s\n", gn_bf16_available() ? "yes (AVX512_BF16)"
                                                      : "no: both rows run fp32");
    gn_graph *g;
    gn_bnstats st;
    if (it20 > 0) {
        const char *m = "data/fmnist-resnet20.h5";
        if (gn_model_load(m, &g) || gn_bnstats_from_model(g, m, &st)) {
            fprintf(stderr, "bench_products: %s\n", gn_err_msg());
            return 1;
        }
        compare("fmnist-resnet20 28x28", g, &st, 128, it20);
        gn_bnstats_free(&st), gn_graph_free(g);
    }
    if (it18 > 0) {
        if (gn_arch_build("resnet18", 3, 224, 224, 1000, 1, &g) ||
            gn_bnstats_from_model(g, "resnet18", &st)) {
            fprintf(stderr, "bench_products: %s\n", gn_err_msg());
            return 1;
        }
        compare("resnet18 3x224x224 (built in code)", g, &st, 32, it18);
        gn_bnstats_free(&st), gn_graph_free(g);
    }
    return 0;
}
