/* gn_onnx_export.h - writing a genie model as ONNX (protobuf-c, the schema
 * from Debian's libonnx-dev): an FP32 model as plain ONNX, a quantised or
 * packed model in QDQ form (QuantizeLinear/DequantizeLinear around every
 * quantised tensor) at opset 21, IR version 10, which onnxruntime 1.20 and
 * later run with their int4 types.
 *
 * QDQ form:
 *   weights      an initializer of integer codes (uint4 at 2..4 bits, two to
 *                a byte, low nibble first; uint8 at 5..8 bits) with a float
 *                scale and a zero point per output channel (axis 0) into a
 *                DequantizeLinear; a channel whose zero point does not fit the
 *                4-bit container puts the layer in uint8;
 *   activations  every genie activation quantiser (one per shared tensor) is
 *                a QuantizeLinear/DequantizeLinear pair, per tensor, zero
 *                point 0, int4/uint4 at 2..4 bits and int8/uint8 at 5..8
 *                (signed grids signed); below the container's width a Clip
 *                to the grid's ends (qn*s, qp*s) comes first, which is exact:
 *                round(clamp(x/s, qn, qp)) = round(Clip(x, qn*s, qp*s)/s);
 *   the rest     BatchNorm stays folded into the convolutions (any BatchNorm
 *                genie left unfolded is a BatchNormalization), biases float.
 * Both genie and ONNX's QuantizeLinear round half to even.
 * Metadata props: genie_version, genie_kind, bits ("W4A4 first/last 8"),
 * per-layer weight bits, source_sha256 (of the file read).
 *
 * What this does not do: genie operators with no ONNX form (swing: an error
 * naming the node), training state, integer-only (QOperator) graphs, or
 * reading ONNX (gn_onnx.h). */
#ifndef GN_ONNX_EXPORT_H
#define GN_ONNX_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "gn_graph.h"

#define GN_ONNX_EXPORT_OPSET 21
#define GN_ONNX_EXPORT_IR 10

/* One layer's integer weight: codes 0..2^bits-1, one per byte, in the
 * weight's row-major order; per output channel a float step and an integer
 * zero point; w = (code - zp) * step. */
typedef struct {
    int bits;       /* 2..8; 0 = the layer's weight stays float */
    int cout;       /* output channels = the weight's first dimension */
    size_t n;       /* codes */
    uint8_t *codes; /* owned */
    float *step;    /* [cout], owned */
    int *zp;        /* [cout], owned */
} gn_qweight;

/* A model to export, as read from any genie model file. */
typedef struct {
    gn_graph *g;         /* finalized; weights of quantised layers dequantised */
    int quantised;       /* activation quantisers on, qw meaningful */
    gn_qweight *qw;      /* [g->nn]: node k's integer weight (bits 0 = none) */
    int wbits, abits, first_last; /* the file's bits attribute, 0 for FP32 */
    char kind[16];       /* "model", "qmodel" or "packed" */
    char sha[65];        /* SHA-256 of the file read */
    const char *version; /* genie's version for the metadata (the program's
                            GN_VERSION; lib/ sits below gn_cli.h), NULL = "" */
} gn_export_model;

/* Reads an FP32 model (genie-model(5)), a quantised model (genie-qmodel(5):
 * the codes are its hard rounding, as eval and pack compute them) or a
 * packed model (genie-packed(5): its codes as stored). A packed code outside
 * 0..2^bits-1 or a weight whose codes belong to no node is refused. Returns
 * 0 and *m (free with gn_export_model_free), or an error naming the file;
 * *m is zeroed on failure. */
int gn_export_model_load(const char *path, gn_export_model *m);
void gn_export_model_free(gn_export_model *m);

/* Serialises m as an ONNX ModelProto into a malloc'd buffer (*buf, *len;
 * the caller frees it). Fails, naming the node, on an operator ONNX cannot
 * express or a quantiser it cannot hold (bits outside 2..8, a zero point
 * outside 0..255). */
int gn_onnx_export(const gn_export_model *m, uint8_t **buf, size_t *len);

/* gn_onnx_export written to `path` through a temporary name and renamed
 * (gn_out.h); nothing is left behind on failure. */
int gn_onnx_export_save(const char *path, const gn_export_model *m);

#endif
