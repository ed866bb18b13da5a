/* idx2h5 - imports idx images and labels (Fashion-MNIST as Debian ships it)
 * into a genie dataset file, normalised as (x/255 - mean)/std. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_idx.h"

static void usage(void)
{
    printf("Usage: idx2h5 IMAGES LABELS --mean M --std S [-n N] -o OUT.h5\n"
           "Import idx images and labels (gzipped or not) into a genie dataset file.\n\n"
           "  --mean M      pixel mean to subtract after scaling to [0,1] (required)\n"
           "  --std S       standard deviation to divide by (required, > 0)\n"
           "  -n, --count N import only the first N images\n"
           "  -o, --output  output dataset file ('-' for stdout)\n"
           "  -h, --help    show this help\n      --version print the version\n\n"
           "Fashion-MNIST: /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz with\n"
           "--mean 0.2860 --std 0.3530. Exit status: 0 ok, 1 bad input, 2 usage error.\n");
}

struct norm {
    float mean, std;
};

/* records the normalisation so later stages (train's padding) can read it */
static int write_norm(hid_t f, void *arg)
{
    const struct norm *n = arg;
    return gn_h5_attr_floats_w(f, "norm_mean", &n->mean, 1) ||
           gn_h5_attr_floats_w(f, "norm_std", &n->std, 1) ||
           gn_h5_attr_str_w(f, "made_by", "idx2h5");
}

struct idx_opts {
    float mean, std;
    int have_mean, have_std;
    long count;
};

/* idx2h5's own options (the shared ones are gn_cli_parse's) */
static int on_opt(void *ctx, int c, const char *arg)
{
    struct idx_opts *o = ctx;
    switch (c) {
    case 'm':
        if (gn_parse_float(arg, -1e6, 1e6, &o->mean)) return gn_usage_error("--mean: not a number: '%s'", arg);
        o->have_mean = 1;
        break;
    case 'S':
        if (gn_parse_float(arg, 1e-12, 1e6, &o->std)) return gn_usage_error("--std: not a positive number: '%s'", arg);
        o->have_std = 1;
        break;
    case 'n':
        if (gn_parse_long(arg, 1, 1L << 40, &o->count)) return gn_usage_error("-n: not a positive count: '%s'", arg);
        break;
    }
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {{"mean", 1, 0, 'm'}, {"std", 1, 0, 'S'},
                                       {"count", 1, 0, 'n'}, {0, 0, 0, 0}};
    struct idx_opts io = {0};
    const char *out = NULL;
    gn_cli_spec cs = {.out = &out, .shortopts = "n:", .longopts = lo, .opt = on_opt, .ctx = &io,
                      .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    float mean = io.mean, std = io.std;
    long count = io.count;
    if (argc - optind != 2) return gn_usage_error("expected IMAGES and LABELS files, got %d argument(s)", argc - optind);
    if (!out) return gn_usage_error("no output file given (-o)");
    if (!io.have_mean || !io.have_std) return gn_usage_error("--mean and --std are required");
    const char *ins[] = {argv[optind], argv[optind + 1]}, *outs[] = {out};
    if ((st = gn_cli_check_io(ins, 2, outs, 1)) >= 0) return st;
    size_t n, nl;
    int h, w;
    unsigned char *pix = NULL, *lab = NULL;
    if (gn_idx_read_images(argv[optind], (size_t)count, &n, &h, &w, &pix)) return gn_fail();
    if (gn_idx_read_labels(argv[optind + 1], (size_t)count, &nl, &lab)) {
        free(pix);
        return gn_fail();
    }
    if (nl != n) {
        gn_err_set("%s: %zu labels for %zu images in %s", argv[optind + 1], nl, n, argv[optind]);
        free(pix), free(lab);
        return gn_fail();
    }
    gn_dataset d = {.n = n, .c = 1, .h = h, .w = w};
    d.x = gn_xmalloc(n * (size_t)h * w * sizeof(float));
    d.y = gn_xmalloc(n * sizeof(int));
    for (size_t i = 0; i < n * (size_t)h * w; i++) d.x[i] = ((float)pix[i] / 255.0f - mean) / std;
    for (size_t i = 0; i < n; i++) d.y[i] = lab[i];
    free(pix), free(lab);
    struct norm nm = {mean, std};
    int rc = gn_dataset_save(out, &d, write_norm, &nm);
    gn_dataset_free(&d);
    if (rc) return gn_fail();
    return 0;
}
