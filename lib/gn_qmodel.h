/* gn_qmodel.h - turning an FP32 model into a quantised one (GENIE.md
 * section 2 and 3): BatchNorm folding, quantiser insertion with genie's
 * bit-width policy, weight-quantiser initialisation, reconstruction units
 * found from the graph, and the quantised-model file (genie-qmodel(5)).
 * What this does not do: reconstruction (gn_recon.h) or packing. */
#ifndef GN_QMODEL_H
#define GN_QMODEL_H

#include "gn_graph.h"
#include "gn_h5.h"

#define GN_QMODEL_FORMAT 1

/* Folds every BatchNorm whose input is a convolution's output used by
 * nothing else into that convolution (weights scaled per output channel,
 * bias added or adjusted). Other BatchNorms stay. Returns a new finalized
 * graph in *out, or an error. */
int gn_fold_bn(const gn_graph *src, gn_graph **out);

typedef struct {
    const char *layer; /* a layer's name (gn_layer_named) */
    int wbits, abits;  /* 0 = keep the policy's value */
} gn_bits_override;

typedef struct {
    int wbits, abits;   /* requested weight / activation bits (2..8) */
    int first_last;     /* bits of the first layer's weights, of the second
                           layer's input and of the last layer (8) */
    const gn_bits_override *ov;
    int nov;
} gn_qconfig;

/* Inserts quantisers into a folded graph: per-channel weight quantisers on
 * every conv/linear (initialised by the clipping search, floor integers
 * fixed, rounding variables at the nearest rounding), and one activation
 * quantiser per tensor feeding a conv/linear (except the model input),
 * shared by all its consumers, with step 0 meaning "initialise from the
 * first batch". An override naming no layer is an error. */
int gn_quantize(const gn_graph *folded, const gn_qconfig *cfg, gn_graph **out);
/* The bits gn_quantize gives each conv/linear node k of a folded graph:
 * weights wb[k], input activations ab[k] (0 for the model's input, which is
 * not quantised, and for other nodes); wb and ab hold g->nn ints. Applies
 * genie's policy (first/second/last layers at cfg->first_last) and the
 * overrides; shared inputs take the largest bits their consumers ask for.
 * Error (and wb, ab unspecified) when an override names no layer. */
int gn_layer_bits(const gn_graph *folded, const gn_qconfig *cfg, int *wb, int *ab);
/* 1 when NAME names conv/linear node k: its node name (the ONNX node's, e.g.
 * "/layer1/layer1.0/conv1/Conv"), its weight parameter's name as the
 * model's /params shows it ("layer1.0.conv1.weight"), or that without
 * ".weight" ("layer1.0.conv1"); 0 otherwise and for other nodes. */
int gn_layer_named(const gn_graph *g, int k, const char *name);
/* The parameter-style name of conv/linear node k ("layer1.0.conv1") in buf,
 * returned; NULL for other nodes. */
const char *gn_layer_param_name(const gn_graph *g, int k, char *buf, size_t len);

typedef struct {
    int first, last; /* nodes [first, last) */
    int in, out;     /* input tensor (consumed from outside), output tensor */
} gn_unit;

/* Finds the reconstruction units of a (quantised or folded) graph: one per
 * residual block (the nodes from the fork of its input to the add and the
 * activation after it), one per inverted residual without a shortcut
 * (expand-depthwise-project), one per other branching piece with weights
 * that one tensor enters and leaves, one per dense block's layer (its input
 * the concatenation it reads, its output its new feature), one per conv/linear
 * outside any block (with the parameter-free nodes before it and its
 * activation). Units are in order and cover every node except a dense
 * block's concatenations (glue: no weights, no quantisers), which lie
 * between units and run as part of the model around them. */
int gn_find_units(const gn_graph *g, gn_unit **units, int *nunits);
/* Fills in/out of a unit from its node range; error if the range has more
 * than one outside input or leaks an inner tensor. */
int gn_unit_resolve(const gn_graph *g, gn_unit *u);
/* A short description of unit u: "first-node .. last-node (N quantised layers)". */
void gn_unit_describe(const gn_graph *g, const gn_unit *u, char *buf, size_t len);

/* A quantised model in memory. */
typedef struct {
    gn_graph *g;
    gn_unit *units;
    int nunits;
    int *done;     /* [nunits] 1 when the unit has been reconstructed */
    int *fitted;   /* [nunits] 1 when the unit's activation steps were fitted at
                      its turn (gn_recon_fit_steps), 0 when they are calib's */
    int wbits, abits, first_last;
    char data_sha[65]; /* SHA-256 of the calibration data's source model, "" unknown */
    char model_sha[65];/* SHA-256 of the FP32 model file calib read */
} gn_qmodel;

int gn_qmodel_save(const char *path, const gn_qmodel *q);
int gn_qmodel_load(const char *path, gn_qmodel *q);
void gn_qmodel_free(gn_qmodel *q);

/* Loads any model file eval can run: "model", "qmodel" or "packed". Sets
 * *quantised when the graph's quantisers must be on (qmode 1). */
int gn_model_load_any(const char *path, gn_graph **out, int *quantised);

/* Names of a unit's parameters of quantisation (for unit files). */
int gn_unit_param_list(const gn_graph *g, const gn_unit *u, int *idx, int max);

#endif
