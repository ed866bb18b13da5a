/* calib - folds BatchNorm, inserts quantisers, initialises their steps and
 * records the reconstruction units: an FP32 model becomes a quantised model
 * (genie-qmodel(5)) ready for recon-block. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_calibrate.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_qmodel.h"
#include "gn_run.h"
#include "gn_sha256.h"

static void usage(void)
{
    printf("Usage: calib MODEL.h5 DATA.h5 -w W -a A [options] -o Q.h5\n"
           "       calib --list-units Q.h5\n"
           "       calib --list-layers MODEL.h5 [-w W -a A] [--first-last B] [--bits ...]\n"
           "Fold BatchNorm into the convolutions, insert weight and activation quantisers,\n"
           "initialise them (clipping search; activation steps on the first 32 samples of\n"
           "DATA) and record the reconstruction units. The result is round-to-nearest\n"
           "quantisation; recon-block then reconstructs it unit by unit.\n\n"
           "  -w, --wbits W        weight bits, 2..8 (required)\n"
           "  -a, --abits A        activation bits, 2..8 (required)\n"
           "      --first-last B   bits of the first layer's weights, the second layer's\n"
           "                       input and the last layer (default 8)\n"
           "      --bits LAYER=W/A override one layer's weight/input bits (repeatable;\n"
           "                       W or A may be empty to keep the policy's value);\n"
           "                       LAYER as --list-layers shows it (either name)\n"
           "      --list-units     print the units, one a line: index, tab, description\n"
           "      --list-layers    print every quantisable layer, one a line: its name as\n"
           "                       the model's /params shows it, tab, its node name, tab,\n"
           "                       the bits W/A calib gives it (A '-': the model's input,\n"
           "                       not quantised); W and A default to 4 here\n"
           "  -t, --threads N      OpenBLAS threads\n"
           "  -o, --output FILE    the quantised model ('-' for stdout)\n"
           "  -q, --quiet          no summary on stderr\n"
           "  -h, --help, --version\n\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input, 2 usage error.\n");
}

/* --list-layers: every conv/linear of MODEL with the bits cfg gives it */
static int list_layers(const char *mpath, gn_qconfig *cfg)
{
    gn_graph *g = NULL, *f = NULL;
    if (gn_model_load(mpath, &g)) return 1;
    if (gn_fold_bn(g, &f)) {
        gn_err_prefix("%s", mpath);
        gn_graph_free(g);
        return 1;
    }
    if (!cfg->wbits) cfg->wbits = 4;
    if (!cfg->abits) cfg->abits = 4;
    int *wb = gn_xcalloc((size_t)f->nn, sizeof(int)), *ab = gn_xcalloc((size_t)f->nn, sizeof(int));
    int rc = gn_layer_bits(f, cfg, wb, ab);
    char pn[512], a[16];
    for (int k = 0; !rc && k < f->nn; k++) {
        if (!wb[k]) continue;
        snprintf(a, sizeof a, ab[k] ? "%d" : "-", ab[k]);
        printf("%s\t%s\t%d/%s\n", gn_layer_param_name(f, k, pn, sizeof pn), f->nodes[k].name, wb[k], a);
    }
    if (rc) gn_err_prefix("%s", mpath);
    free(wb), free(ab), gn_graph_free(g), gn_graph_free(f);
    return rc;
}

static void list_units(const gn_qmodel *q)
{
    char d[512];
    for (int i = 0; i < q->nunits; i++) {
        gn_unit_describe(q->g, &q->units[i], d, sizeof d);
        printf("%d\t%s%s\n", i, d, q->done[i] ? " [reconstructed]" : "");
    }
}

/* "LAYER=W/A" */
static int parse_bits(char *s, gn_bits_override *o)
{
    char *eq = strrchr(s, '=');
    if (!eq || eq == s) return -1;
    *eq = 0;
    o->layer = s;
    char *w = eq + 1, *sl = strchr(w, '/');
    if (!sl) return -1;
    *sl = 0;
    char *a = sl + 1;
    o->wbits = o->abits = 0;
    if (*w && gn_parse_int(w, 2, 8, &o->wbits)) return -1;
    if (*a && gn_parse_int(a, 2, 8, &o->abits)) return -1;
    return 0;
}

struct calib_opts {
    gn_qconfig *cfg;
    gn_bits_override *ov;
    int list, layers;
};

/* calib's own options (the shared ones are gn_cli_parse's) */
static int on_opt(void *ctx, int c, const char *arg)
{
    struct calib_opts *o = ctx;
    gn_qconfig *cfg = o->cfg;
    static char bitsarg[256][512]; /* parse_bits cuts these up; ov points into them */
    switch (c) {
    case 'w':
        if (gn_parse_int(arg, 2, 8, &cfg->wbits)) return gn_usage_error("--wbits: '%s' is not a bit-width in 2..8", arg);
        break;
    case 'a':
        if (gn_parse_int(arg, 2, 8, &cfg->abits)) return gn_usage_error("--abits: '%s' is not a bit-width in 2..8", arg);
        break;
    case 'f':
        if (gn_parse_int(arg, 2, 8, &cfg->first_last)) return gn_usage_error("--first-last: '%s' is not a bit-width in 2..8", arg);
        break;
    case 'B':
        if (cfg->nov >= 256) return gn_usage_error("too many --bits");
        snprintf(bitsarg[cfg->nov], sizeof bitsarg[cfg->nov], "%s", arg);
        if (parse_bits(bitsarg[cfg->nov], &o->ov[cfg->nov])) return gn_usage_error("--bits: expected LAYER=W/A with W, A in 2..8, got '%s'", arg);
        cfg->nov++;
        break;
    case 'L': o->list = 1; break;
    case 'Y': o->layers = 1; break;
    }
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {
        {"wbits", 1, 0, 'w'}, {"abits", 1, 0, 'a'}, {"first-last", 1, 0, 'f'},
        {"bits", 1, 0, 'B'}, {"list-units", 0, 0, 'L'},
        {"list-layers", 0, 0, 'Y'}, {0, 0, 0, 0}};
    gn_qconfig cfg = {.wbits = 0, .abits = 0, .first_last = 8};
    gn_bits_override ov[256];
    struct calib_opts co = {&cfg, ov, 0, 0};
    int quiet = 0, threads = 0;
    const char *out = NULL;
    gn_cli_spec cs = {.out = &out, .threads = &threads, .quiet = &quiet, .shortopts = "w:a:",
                      .longopts = lo, .opt = on_opt, .ctx = &co, .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    int list = co.list, layers = co.layers;
    cfg.ov = ov;
    if (threads) gn_set_threads(threads);
    gn_qmodel q;
    if (layers) {
        if (list || out) return gn_usage_error("--list-layers takes MODEL alone (no --list-units, no -o)");
        if (argc - optind != 1) return gn_usage_error("--list-layers: expected a MODEL file, got %d argument(s)", argc - optind);
        return list_layers(argv[optind], &cfg) ? gn_fail() : 0;
    }
    if (list && argc - optind == 1 && !out) {
        if (gn_qmodel_load(argv[optind], &q)) return gn_fail();
        list_units(&q);
        gn_qmodel_free(&q);
        return 0;
    }
    if (argc - optind != 2) return gn_usage_error("expected MODEL and DATA files, got %d argument(s)", argc - optind);
    if (!out) return gn_usage_error("no output file given (-o)");
    if (!cfg.wbits || !cfg.abits) return gn_usage_error("-w and -a are required");
    const char *mpath = argv[optind], *dpath = argv[optind + 1];
    if (list && !strcmp(out, "-"))
        return gn_usage_error("-o - with --list-units: standard output carries the list");
    const char *ins[] = {mpath, dpath}, *outs[] = {out};
    if ((st = gn_cli_check_io(ins, 2, outs, 1)) >= 0) return st;
    gn_graph *g = NULL;
    gn_dataset d;
    memset(&q, 0, sizeof q);
    if (gn_model_load(mpath, &g)) return gn_fail();
    if (gn_dataset_load(dpath, &d)) {
        gn_graph_free(g);
        return gn_fail();
    }
    int rc = 0, folded = 0;
    char msha[65] = "", dsha[65] = "";
    if (gn_dataset_check_input(&d, dpath, g, mpath)) rc = 1;
    if (!rc && gn_sha256_file(mpath, msha)) rc = 1;
    /* data distilled from another model is allowed, but said */
    if (!rc && gn_data_source_sha(dpath, dsha) && strcmp(dsha, msha))
        gn_warn("%s was distilled from another model (SHA-256 %.12s..., %s is %.12s...)", dpath,
                dsha, mpath, msha);
    if (!rc && gn_calibrate(g, d.x, d.n, &cfg, &q, &folded)) {
        gn_err_prefix("%s", mpath);
        rc = 1;
    }
    if (!rc) {
        snprintf(q.model_sha, sizeof q.model_sha, "%s", msha);
        snprintf(q.data_sha, sizeof q.data_sha, "%s", dsha);
        rc = gn_qmodel_save(out, &q);
    }
    if (!rc && !quiet) {
        int nw = 0, na = 0;
        for (int k = 0; k < q.g->nn; k++) nw += q.g->nodes[k].wbits > 0, na += q.g->nodes[k].op == GN_OP_AQUANT;
        fprintf(stderr, "%s: W%dA%d: %d weight quantisers, %d activation quantisers, %d units, "
                "folded %d BatchNorms\n",
                gn_prog(), cfg.wbits, cfg.abits, nw, na, q.nunits, folded);
    }
    if (!rc && list) list_units(&q);
    gn_graph_free(g), gn_dataset_free(&d);
    gn_qmodel_free(&q);
    gn_run_profile_print(stderr); /* GN_PROFILE */
    return rc ? gn_fail() : 0;
}
