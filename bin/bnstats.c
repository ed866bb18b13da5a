/* bnstats - the BatchNorm targets of a model (GENIE.md section 1):
 * per layer the running mean and sqrt(running_var + 1e-6); optionally the
 * same statistics measured on real images, and how far apart they are. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_run.h"
#include "gn_sha256.h"
#include "gn_stats.h"

static void usage(void)
{
    printf("Usage: bnstats MODEL.h5 -o STATS.h5 [--data REAL.h5]\n"
           "Extract every BatchNorm layer's target statistics (name, channels, running mean,\n"
           "sqrt(running_var + 1e-6)) into a bnstats file for distill.\n\n"
           "  -o, --output FILE  the statistics file ('-' for stdout)\n"
           "  -d, --data FILE    also measure the BatchNorm inputs' mean and unbiased std\n"
           "                     on the images of this dataset, store them (real_mean,\n"
           "                     real_std) and print per layer how far the targets are:\n"
           "                     layer channels mean_term std_term rel_mean rel_std\n"
           "  -b, --batch N      images per forward pass with --data (default 256)\n"
           "  -t, --threads N    OpenBLAS threads (default: all cores)\n"
           "  -q, --quiet        no progress\n"
           "  -h, --help         show this help\n      --version      print the version\n\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input or runtime failure, 2 usage error.\n");
}

static void on_progress(void *arg, size_t done, size_t n)
{
    gn_progress_update(arg, (long)done, NULL);
}

/* the per-layer comparison of targets and measured statistics, on stdout */
static void print_table(const gn_bnstats *s)
{
    printf("# layer channels mean_term std_term rel_mean rel_std\n");
    double tm = 0, ts = 0;
    for (int l = 0; l < s->nl; l++) {
        double mt = 0, st = 0, ss = 0;
        for (int c = 0; c < s->c[l]; c++) {
            size_t k = s->off[l] + (size_t)c;
            double dm = (double)s->mean[k] - s->real_mean[k];
            double ds = (double)s->std[k] - s->real_std[k];
            mt += dm * dm;
            st += ds * ds;
            ss += (double)s->std[k] * s->std[k];
        }
        /* mean_term/std_term: the loss terms of GENIE.md that the real images
         * would score on this layer; rel_*: RMS difference over RMS target std */
        printf("%s %d %.6g %.6g %.6g %.6g\n", s->name[l], s->c[l], mt / s->c[l], st / s->c[l],
               sqrt(mt / ss), sqrt(st / ss));
        tm += mt / s->c[l];
        ts += st / s->c[l];
    }
    printf("# total %d %.6g %.6g\n", s->nl, tm, ts);
}

static int on_opt(void *ctx, int c, const char *arg)
{
    *(const char **)ctx = arg; /* -d, --data: the only option of bnstats' own */
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {{"data", 1, 0, 'd'}, {0, 0, 0, 0}};
    const char *out = NULL, *data = NULL;
    int batch = 256, threads = 0, quiet = 0;
    gn_cli_spec cs = {.out = &out, .threads = &threads, .batch = &batch, .quiet = &quiet,
                      .shortopts = "d:", .longopts = lo, .opt = on_opt, .ctx = &data,
                      .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    if (argc - optind != 1) return gn_usage_error("expected one MODEL file, got %d argument(s)", argc - optind);
    if (!out) return gn_usage_error("no output file given (-o)");
    const char *mpath = argv[optind];
    if (data && !strcmp(out, "-"))
        return gn_usage_error("-o - with --data: standard output carries the comparison table");
    const char *ins[] = {mpath, data}, *outs[] = {out};
    if ((st = gn_cli_check_io(ins, 2, outs, 1)) >= 0) return st;
    if (threads) gn_set_threads(threads);
    gn_graph *g = NULL;
    gn_bnstats s;
    if (gn_model_load(mpath, &g)) return gn_fail();
    if (gn_bnstats_from_model(g, mpath, &s)) {
        gn_graph_free(g);
        return gn_fail();
    }
    int rc = gn_sha256_file(mpath, s.model_sha);
    if (!rc && data) {
        gn_dataset d;
        rc = gn_dataset_load(data, &d);
        if (!rc && gn_dataset_check_input(&d, data, g, mpath)) {
            rc = GN_EINVAL;
        } else if (!rc && d.n < 2) {
            rc = gn_err_set("%s: %zu image(s): an unbiased std needs at least 2", data, d.n);
        }
        if (!rc) {
            gn_progress pr;
            gn_progress_start(&pr, "measuring", (long)d.n, quiet);
            rc = gn_bnstats_measure(&s, g, d.x, d.n, batch, on_progress, &pr);
            gn_progress_end(&pr);
        }
        if (!d.x) memset(&d, 0, sizeof d);
        gn_dataset_free(&d);
    }
    if (!rc) rc = gn_bnstats_save(out, &s, mpath, data);
    if (!rc && data) print_table(&s);
    gn_bnstats_free(&s);
    gn_graph_free(g);
    gn_run_profile_print(stderr); /* GN_PROFILE */
    return rc ? gn_fail() : 0;
}
