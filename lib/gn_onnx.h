/* gn_onnx.h - importing an ONNX model (protobuf-c, the schema from Debian's
 * libonnx-dev) into a genie graph, with its BatchNormalization nodes kept.
 *
 * Operators understood (default domain only):
 *   Conv (2-D, any group, dilations 1, auto_pad NOTSET/VALID), BatchNormalization
 *   (inference form, or exported in training mode: running mean/var are inputs
 *   3 and 4, extra outputs ignored), Relu, Clip (bounds from attributes, from
 *   initializers or from Constant nodes; a missing bound is +-inf), LeakyRelu,
 *   Tanh, Add (activation + activation), Identity, Constant (folded), MaxPool,
 *   AveragePool, GlobalAveragePool, Flatten (axis 1), Gemm (alpha = beta = 1,
 *   transA 0), MatMul with a constant right operand (and a following Add of a
 *   constant bias fused into it), Reshape to [N,-1] or [N,C,H,W] with a constant
 *   shape, Resize/Upsample nearest x2.
 *
 * Names: parameters keep their initializer names; tensors keep the ONNX value
 * names; nodes keep the ONNX node name, or OPTYPE_index (index in the ONNX
 * node list) when it is empty. Only initializers that a node uses become
 * parameters, in order of first use. An Identity applied to an initializer
 * (PyTorch routes identical initializers through one) becomes a parameter
 * named after the Identity's output holding a copy of the data, so the two
 * stay separate parameters as they were in the source model; an Identity on
 * an activation becomes an identity node.
 *
 * What this does not do: broadcasting, operators outside the list above,
 * external-data tensors, non-float32 weights, symbolic C/H/W input sizes. */
#ifndef GN_ONNX_H
#define GN_ONNX_H

#include <stddef.h>

#include "gn_graph.h"

/* Reads the ONNX model at `path` into a new graph, finalized with the shape
 * (C,H,W) of the model input (the one graph input that is not an
 * initializer: [N,C,H,W], or [N,F] read as (F,1,1); N may be symbolic).
 *
 * Returns 0 and the graph in *out (the caller frees it with gn_graph_free),
 * or non-zero with gn_err_msg() set to one line starting with the path, e.g.
 * "m.onnx: node /fc/Gemm: alpha 2 not supported (only 1)"; *out is untouched
 * on failure and nothing is leaked.
 *
 * Warnings (the model imports, but something is off, e.g. "model has no
 * BatchNormalization: ...") are written to `warnings` as zero or more lines,
 * each ending in '\n', without a program-name prefix; the buffer holds ""
 * when there are none and is always NUL-terminated (long text is truncated
 * to warnlen-1 bytes). `warnings` may be NULL (then warnlen is ignored).
 * On failure its content is unspecified. */
int gn_onnx_import(const char *path, gn_graph **out, char *warnings, size_t warnlen);
/* The same for an ONNX model already in memory (buf[0..len), not kept);
 * `name` stands for the file in messages. */
int gn_onnx_import_mem(const char *name, const void *buf, size_t len, gn_graph **out,
                       char *warnings, size_t warnlen);

#endif
