/* fuzz_onnx.c - libFuzzer target for the ONNX import: protobuf-c unpacking,
 * genie's validation of every node and the graph building and shape checks
 * (gn_onnx_import_mem). A failing import must leave a one-line message that
 * starts with the file's name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "gn_onnx.h"

#define NAME "fuzz.onnx"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gn_graph *g = NULL;
    char warn[1024];
    if (!gn_onnx_import_mem(NAME, data, size, &g, warn, sizeof warn)) {
        gn_graph_free(g);
        return 0;
    }
    const char *m = gn_err_msg();
    if (strncmp(m, NAME ": ", strlen(NAME) + 2) || strchr(m, '\n')) {
        fprintf(stderr, "fuzz_onnx: bad error message: \"%s\"\n", m);
        abort();
    }
    return 0;
}
