/* onnx2h5 - imports an ONNX model, BatchNormalization nodes kept, into a
 * genie model file. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_onnx.h"

static void usage(void)
{
    printf("Usage: onnx2h5 MODEL.onnx -o MODEL.h5\n"
           "Import an ONNX model into a genie model file. BatchNormalization nodes are\n"
           "kept as they are (zero-shot distillation needs their statistics), including\n"
           "nodes exported in training mode.\n\n"
           "  -o, --output FILE  output model file ('-' for stdout)\n"
           "  -q, --quiet        no warnings\n"
           "  -h, --help         show this help\n      --version      print the version\n\n"
           "Operators: Conv, BatchNormalization, Relu, Clip, LeakyRelu, Tanh, Add, Identity,\n"
           "Constant, MaxPool, AveragePool, GlobalAveragePool, Flatten, Gemm, MatMul, Reshape,\n"
           "Resize/Upsample (nearest x2). Any other operator is an error naming it.\n"
           "Exit status: 0 ok, 1 bad input, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* may re-execute the program with a better OpenBLAS kernel (genie-blas(7)) */
    const char *out = NULL;
    int quiet = 0;
    gn_cli_spec cs = {.out = &out, .quiet = &quiet, .usage = usage};
    int st = gn_cli_parse(argc, argv, &cs);
    if (st >= 0) return st;
    if (argc - optind != 1) return gn_usage_error("expected one ONNX file, got %d argument(s)", argc - optind);
    if (!out) return gn_usage_error("no output file given (-o)");
    const char *ins[] = {argv[optind]}, *outs[] = {out};
    if ((st = gn_cli_check_io(ins, 1, outs, 1)) >= 0) return st;
    gn_graph *g = NULL;
    char warn[4096];
    if (gn_onnx_import(argv[optind], &g, warn, sizeof warn)) return gn_fail();
    if (!quiet) {
        for (char *l = warn, *e; *l; l = e + 1) {
            e = strchr(l, '\n');
            if (!e) e = l + strlen(l) - 1;
            fprintf(stderr, "%s: warning: %s: %.*s\n", gn_prog(), argv[optind], (int)(e - l), l);
            if (!e[1]) break;
        }
    }
    int rc = gn_model_save(out, g, NULL, NULL);
    gn_graph_free(g);
    return rc ? gn_fail() : 0;
}
