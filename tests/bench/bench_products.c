/* bench_products.c - seconds per Genie-D iteration with the teacher's
 * products in fp32 and in bf16 (distill --products; gn_blas_bf16.h), one
 * thread: the bundled ResNet-20 at batch 128 (28x28), and torchvision's
 * ResNet-18 and ResNet-50 built in code (random weights, 3x224x224; the
 * models bench_setup --save writes) at batch 32. A run is a fresh
 * distiller for ITERS iterations after the first (set-up excluded); runs
 * alternate fp32, bf16, fp32, bf16 ... for ROUNDS rounds, so that the
 * shared machine's load falls on both alike. Each figure is the median
 * process CPU time per iteration over all of a product's runs; the ratio
 * fp32/bf16 is the speed-up (also per round). Prints what it measured;
 * asserts nothing. On a CPU without AVX512_BF16 both run fp32 and it says
 * so. ResNet-50 needs about 6 GB.
 * Usage: bench_products [ITERS_R20 [ITERS_R18 [ITERS_R50 [ROUNDS]]]]
 *        (default 8 3 0 1; 0 iterations skips the model) */
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

static double median(double *t, int n)
{
    qsort(t, (size_t)n, sizeof t[0], cmp_d);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* CPU seconds of iterations 2..iters+1 with the given products, into t */
static void per_iter(double *t, gn_graph *g, gn_bnstats *st, int B, int iters, int products)
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
    for (int i = 0; i < iters; i++) t[i] = c_at[i + 2] - c_at[i + 1];
    free(x);
    gn_distiller_free(d);
}

#define MAXROUNDS 16

static void compare(const char *name, gn_graph *g, gn_bnstats *st, int B, int iters, int rounds)
{
    if (iters > MAXIT) iters = MAXIT;
    if (rounds > MAXROUNDS) rounds = MAXROUNDS;
    static double tf[MAXIT * MAXROUNDS], tb[MAXIT * MAXROUNDS];
    double t[MAXIT];
    for (int r = 0; r < rounds; r++) {
        per_iter(tf + r * iters, g, st, B, iters, GN_PRODUCTS_FP32);
        per_iter(tb + r * iters, g, st, B, iters, GN_PRODUCTS_BF16);
        memcpy(t, tf + r * iters, sizeof(double) * iters);
        const double f = median(t, iters);
        memcpy(t, tb + r * iters, sizeof(double) * iters);
        const double b = median(t, iters);
        printf("  %s round %d: fp32 %.3f, bf16 %.3f; fp32/bf16 %.2f\n", name, r + 1, f, b, f / b);
        fflush(stdout);
    }
    const double f = median(tf, iters * rounds), b = median(tb, iters * rounds);
    printf("%s, distill batch %d, 1 thread, CPU s per iteration (median of %d in %d rounds): "
           "fp32 %.3f, bf16 %.3f; fp32/bf16 %.2f\n",
           name, B, iters * rounds, rounds, f, b, f / b);
    fflush(stdout);
}

static int imagenet(const char *arch, int iters, int rounds)
{
    gn_graph *g;
    gn_bnstats st;
    if (gn_arch_build(arch, 3, 224, 224, 1000, 1, &g) || gn_bnstats_from_model(g, arch, &st)) {
        fprintf(stderr, "bench_products: %s\n", gn_err_msg());
        return 1;
    }
    char name[64];
    snprintf(name, sizeof name, "%s 3x224x224 (built in code)", arch);
    compare(name, g, &st, 32, iters, rounds);
    gn_bnstats_free(&st), gn_graph_free(g);
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init();
    const int it20 = argc > 1 ? atoi(argv[1]) : 8, it18 = argc > 2 ? atoi(argv[2]) : 3;
    const int it50 = argc > 3 ? atoi(argv[3]) : 0, rounds = argc > 4 ? atoi(argv[4]) : 1;
    if (rounds < 1) {
        fprintf(stderr, "bench_products: ROUNDS must be at least 1\n");
        return 2;
    }
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
        compare("fmnist-resnet20 28x28", g, &st, 128, it20, rounds);
        gn_bnstats_free(&st), gn_graph_free(g);
    }
    if (it18 > 0 && imagenet("resnet18", it18, rounds)) return 1;
    if (it50 > 0 && imagenet("resnet50", it50, rounds)) return 1;
    return 0;
}
