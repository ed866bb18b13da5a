/* genie-info - what genie's matrix products run on: the OpenBLAS build,
 * the kernel in use and who chose it, its threads, the CPU features seen,
 * the start-up self-test, and on request a quick sgemm speed figure; so a
 * user can tell why a run is slow. One "key: value" line each on stdout;
 * with -v the one-line explanation on stderr.
 * What it deliberately does not do: change anything (the kernel is chosen
 * at start-up by every program; see genie-blas(7) for how to steer it). */
#include <getopt.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas.h"
#include "gn_blas_bf16.h"
#include "gn_blas_init.h"
#include "gn_blas_pick.h"
#include "gn_blas_selftest.h"
#include "gn_cpu.h"
#include "gn_cli.h"
#include "gn_err.h"

static void usage(void)
{
    printf("Usage: genie-info [-v] [--bench] [--threads N]\n"
           "Print what genie's matrix products run on, one 'key: value' line each: the\n"
           "OpenBLAS version and build, the kernel in use and who chose it (openblas, user,\n"
           "genie, fallback, reference), what OpenBLAS chose by itself, threads, the CPU\n"
           "and the features seen (avx2, fma, avx512f/bw/dq/vl), and the start-up sgemm\n"
           "self-test, whether distill's bf16 products can run here (bf16_products) and\n"
           "which products distill runs by default (distill_products). See genie-blas(7).\n\n"
           "      --bench        also measure sgemm GFLOP/s on a 1024^3 product (~1 s)\n"
           "  -t, --threads N    OpenBLAS threads for --bench (default: OpenBLAS's)\n"
           "  -v, --verbose      explain on stderr why this kernel is in use\n"
           "  -h, --help         show this help\n      --version      print the version\n\n"
           "Exit status: 0 ok, 2 usage error.\n");
}

static const char *by_name(int by)
{
    static const char *n[] = {"openblas", "user", "genie", "fallback", "reference"};
    return by >= 0 && by <= GN_BLAS_BY_REFERENCE ? n[by] : "?";
}

/* best-of-reps GFLOP/s of a square N^3 product */
static double bench_sgemm(int N)
{
    size_t n = (size_t)N * (size_t)N;
    float *A = gn_xmalloc(3 * n * sizeof(float)), *B = A + n, *C = B + n;
    for (size_t i = 0; i < n; i++) A[i] = (float)(i % 7) * 0.1f, B[i] = (float)(i % 5) * 0.1f;
    gn_sgemm(0, 0, N, N, N, 1, A, N, B, N, 0, C, N);
    double best = 0, t_all = gn_now();
    for (int r = 0; r < 20 && (r < 3 || gn_now() - t_all < 1.0); r++) {
        double t0 = gn_now();
        gn_sgemm(0, 0, N, N, N, 1, A, N, B, N, 0, C, N);
        double g = 2.0 * (double)n * N / (gn_now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(A);
    return best;
}

/* genie-info's own options: --bench (no -b: that is --batch elsewhere), -v */
static int on_opt(void *ctx, int c, const char *arg)
{
    int *flags = ctx;
    flags[c == 'v'] = 1;
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {{"bench", 0, 0, 'B'}, {"verbose", 0, 0, 'v'}, {0, 0, 0, 0}};
    int flags[2] = {0, 0}, threads = 0; /* bench, verbose */
    gn_cli_spec cs = {.threads = &threads, .shortopts = "v", .longopts = lo, .opt = on_opt,
                      .ctx = flags, .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    int bench = flags[0], verbose = flags[1];
    if (optind < argc) return gn_usage_error("unexpected argument '%s'", argv[optind]);
    if (threads) gn_set_threads(threads);

    const gn_blas_state *s = gn_blas_get();
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    char feat[256];
    gn_cpu_feature_names(s->feat, feat, sizeof feat);
    int cpu_isa = gn_cpu_isa(s->feat);
    const char *cpu_kernel = gn_blas_isa_kernel(cpu_isa);

    printf("genie: %s\n", GN_VERSION);
    printf("openblas: %s\n", s->version);
    printf("openblas_config: %s\n", s->config);
    printf("kernel: %s\n", s->kernel);
    printf("kernel_isa: %s\n", gn_blas_isa_name(gn_blas_isa(s->kernel)));
    printf("kernel_by: %s\n", by_name(s->by));
    printf("openblas_chose: %s\n", *s->openblas_chose ? s->openblas_chose : "-");
    printf("openblas_coretype: %s\n", !s->env_set ? "-" : *s->env ? s->env : "\"\"");
    printf("sgemm: %s\n", s->reference ? "reference" : "openblas");
    printf("threads: %d\n", gn_get_threads());
    printf("parallel: %s\n", s->parallel);
    printf("cpu: %s\n", *s->cpu ? s->cpu : "-");
    printf("cpu_features: %s\n", *feat ? feat : "-");
    printf("cpu_isa: %s\n", gn_blas_isa_name(cpu_isa));
    printf("cpu_kernel: %s\n", cpu_kernel ? cpu_kernel : "-");
    printf("selftest: %s\n", s->selftest_ok ? "ok" : "failed");
    printf("selftest_ms: %.2f\n", s->selftest_ms);
    printf("selftest_failed: %s\n", *s->failed ? s->failed : "-");
    printf("reexecs: %d\n", s->reexecs);
    /* distill --products: whether bf16 can run here, and the default */
    printf("bf16_products: %s\n", gn_bf16_available() ? "yes"
                                  : gn_bf16_cpu()      ? "no (GN_NO_BF16 is set)"
                                                       : "no (the CPU has no avx512_bf16)");
    printf("distill_products: %s\n", gn_products_name(GN_PRODUCTS_FP32));
    printf("hdf5: %u.%u.%u\n", maj, min, rel);
    if (bench) {
        fflush(stdout);
        printf("sgemm_gflops: %.1f\n", bench_sgemm(1024));
    }
    if (verbose) gn_blas_say();
    return 0;
}
