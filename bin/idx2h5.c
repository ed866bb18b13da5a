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

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {{"mean", 1, 0, 'm'}, {"std", 1, 0, 's'},
                                       {"count", 1, 0, 'n'}, {"output", 1, 0, 'o'},
                                       {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
    float mean = 0, std = 0;
    int have_mean = 0, have_std = 0;
    long count = 0;
    const char *out = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "n:o:h", lo, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (gn_parse_float(optarg, -1e6, 1e6, &mean)) return gn_usage_error("--mean: not a number: '%s'", optarg);
            have_mean = 1;
            break;
        case 's':
            if (gn_parse_float(optarg, 1e-12, 1e6, &std)) return gn_usage_error("--std: not a positive number: '%s'", optarg);
            have_std = 1;
            break;
        case 'n':
            if (gn_parse_long(optarg, 1, 1L << 40, &count)) return gn_usage_error("-n: not a positive count: '%s'", optarg);
            break;
        case 'o': out = optarg; break;
        case 'h': usage(); return 0;
        case 'V': gn_print_version(); return 0;
        default: return gn_usage_error("unknown option");
        }
    }
    if (argc - optind != 2) return gn_usage_error("expected IMAGES and LABELS files, got %d argument(s)", argc - optind);
    if (!out) return gn_usage_error("no output file given (-o)");
    if (!have_mean || !have_std) return gn_usage_error("--mean and --std are required");
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
