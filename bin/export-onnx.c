/* export-onnx - writes a genie model as ONNX: an FP32 model as plain ONNX,
 * a quantised or packed model in QDQ form (gn_onnx_export.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_onnx_export.h"

static void usage(void)
{
    printf("Usage: export-onnx MODEL.h5 -o MODEL.onnx\n"
           "Write a genie model as ONNX (opset 21, IR version 10). An FP32 model (onnx2h5,\n"
           "train) becomes plain ONNX; a quantised (calib, recon-block) or packed (pack)\n"
           "model becomes QDQ: integer weights per output channel (the narrowest of uint4,\n"
           "int4, uint8, int8 holding codes and zero points) into DequantizeLinear, and a\n"
           "QuantizeLinear/DequantizeLinear pair per activation quantiser (int4/uint4 at\n"
           "2..4 bits, clamped by Max and Min first below 4 bits).\n"
           "onnxruntime 1.20 and later run it.\n\n"
           "  -o, --output FILE  the ONNX file (- for standard output)\n"
           "  -q, --quiet        no summary\n"
           "  -h, --help, --version\n\n"
           "Exit status: 0 ok, 1 bad input or a model ONNX cannot express, 2 usage error.\n");
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
    if (argc - optind < 1) return gn_usage_error("expected a model file");
    if (argc - optind > 1) return gn_usage_error("expected one model file, got %d", argc - optind);
    if (!out) return gn_usage_error("no output file given (-o)");
    const char *in = argv[optind], *ins[] = {in}, *outs[] = {out};
    if ((st = gn_cli_check_io(ins, 1, outs, 1)) >= 0) return st;
    gn_export_model m;
    if (gn_export_model_load(in, &m)) return gn_fail();
    m.version = GN_VERSION;
    int rc = gn_onnx_export_save(out, &m);
    if (rc && strncmp(gn_err_msg(), out, strlen(out))) gn_err_prefix("%s", in);
    if (!rc && !quiet) {
        if (m.quantised)
            fprintf(stderr, "%s: %s: QDQ, W%dA%d (first/last layer %d)\n", gn_prog(), out, m.wbits, m.abits,
                    m.first_last);
        else fprintf(stderr, "%s: %s: FP32\n", gn_prog(), out);
    }
    gn_export_model_free(&m);
    return rc ? gn_fail() : 0;
}
