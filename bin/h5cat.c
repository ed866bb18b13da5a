/* h5cat - joins genie dataset files along the sample axis: every root
 * dataset (/x, /y, /loss, /loss_iter, ...) is concatenated in the order
 * the files are given, after checking that the files agree on which
 * datasets they hold, their trailing shapes and types, and their
 * provenance: every root attribute must be equal, except `batches` (the
 * distill batch indices, concatenated; a batch may appear only once) and
 * the informational paths model_file, stats_file, data_file.
 * What it deliberately does not do: reorder, deduplicate or convert.
 * The joining and its checks are lib/h5cat.c (gn_h5cat.h); this is the
 * options and the exit status. */
#include <getopt.h>
#include <stdio.h>

#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5cat.h"

static void usage(void)
{
    printf("Usage: h5cat A.h5 B.h5 ... -o ALL.h5\n"
           "Join genie dataset files along the sample axis (the first axis of every root\n"
           "dataset: /x, /y, /loss, ...), checking that shapes and provenance agree: the\n"
           "same datasets with the same trailing shapes and types, and equal root\n"
           "attributes (same model hash, same settings) except `batches`, which is\n"
           "concatenated and must not repeat a batch, and the file-path attributes\n"
           "model_file, stats_file and data_file (the first file's are kept).\n\n"
           "  -o, --output FILE  the joined dataset ('-' for stdout)\n"
           "  -f, --force        join even when attributes differ (the first file's are\n"
           "                     kept); shapes must still agree\n"
           "  -h, --help         show this help\n      --version      print the version\n\n"
           "One HDF5 input may be '-', standard input (read whole into memory).\n"
           "Exit status: 0 ok, 1 bad input or disagreeing files, 2 usage error.\n");
}

static int on_opt(void *ctx, int c, const char *arg)
{
    *(int *)ctx = 1; /* -f, --force: h5cat's only option of its own */
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    static const struct option lo[] = {{"force", 0, 0, 'f'}, {0, 0, 0, 0}};
    const char *out = NULL;
    int force = 0;
    gn_cli_spec cs = {.out = &out, .shortopts = "f", .longopts = lo, .opt = on_opt, .ctx = &force,
                      .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    int nf = argc - optind;
    if (nf < 1) return gn_usage_error("expected at least one input file");
    if (!out) return gn_usage_error("no output file given (-o)");
    const char *outs[] = {out};
    const char *const *paths = (const char *const *)argv + optind;
    if ((st = gn_cli_check_io(paths, nf, outs, 1)) >= 0) return st;
    return gn_h5cat_join(paths, nf, force, out) ? gn_fail() : 0;
}
