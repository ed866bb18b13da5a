/* gn_graph.h - a model as a static graph in topological order.
 *
 * Tensors are named and carry a per-sample shape (C,H,W); a flat vector of
 * F features is (F,1,1), so Flatten is a relabelling. Parameters are named
 * float arrays owned by the graph. Nodes refer to tensors and parameters by
 * index. What this file does not do: run anything (gn_run.h) or read files
 * (gn_model.h). */
#ifndef GN_GRAPH_H
#define GN_GRAPH_H

#include <stddef.h>

typedef enum {
    GN_OP_CONV,     /* in[0]; p: W (Cout,Cin/g,KH,KW), B (Cout) optional */
    GN_OP_BN,       /* in[0]; p: GAMMA, BETA, MEAN, VAR (C each) */
    GN_OP_RELU,
    GN_OP_CLIP,     /* lo, hi (ReLU6 is Clip 0..6) */
    GN_OP_LEAKY,    /* slope */
    GN_OP_TANH,
    GN_OP_ADD,      /* in[0] + in[1], same shape */
    GN_OP_IDENTITY,
    GN_OP_MAXPOOL,  /* k, stride, pads */
    GN_OP_AVGPOOL,  /* k, stride, pads, count_include_pad */
    GN_OP_GAP,      /* global average pool -> (C,1,1) */
    GN_OP_LINEAR,   /* input (I,1,1) or any (C,H,W) with C*H*W = I; p: W (O,I), B (O) */
    GN_OP_FLATTEN,  /* (C,H,W) -> (C*H*W,1,1) */
    GN_OP_UPSAMPLE, /* nearest x2 */
    GN_OP_RESHAPE,  /* to (rc,rh,rw), same element count */
    GN_OP_SWING,    /* Genie-D swing: reflect-pad 1, crop back at a random offset */
    GN_OP_AQUANT,   /* activation quantiser; p: ASTEP (1); abits, asigned */
    GN_OP_SIGMOID,
    GN_OP_HSIGMOID, /* max(0, min(1, alpha*x + beta)) */
    GN_OP_HSWISH,   /* x * max(0, min(1, x/6 + 1/2)) */
    GN_OP_MUL,      /* in[0] * in[1]: same shape, or one of them (C,1,1) broadcast over H,W */
    GN_OP_CONCAT,   /* in[0..nin) along channels, same H,W */
    GN_OP_SLICE,    /* channels [c0, c0+cn) of in[0] (one output of a Split) */
    GN_OP_SHUFFLE,  /* channel shuffle in `groups` groups: out[k*G+g] = in[g*(C/G)+k] */
    GN_OP_COUNT
} gn_opkind;

/* parameter slots of a node */
/* conv, linear; the weight quantiser's slots are set when wbits > 0:
 * WSTEP (Cout) learned step, WZP (Cout) zero point, WV (as W) rounding
 * variables, WFLOOR (as W) the fixed floor integers. */
enum { GN_P_W = 0, GN_P_B = 1, GN_P_WSTEP = 2, GN_P_WZP = 3, GN_P_WV = 4, GN_P_WFLOOR = 5 };
enum { GN_P_GAMMA = 0, GN_P_BETA = 1, GN_P_MEAN = 2, GN_P_VAR = 3 }; /* bn */
enum { GN_P_ASTEP = 0 };                                             /* aquant */
#define GN_NSLOT 6
/* most inputs of a node (a Concat of a dense block's earlier features) */
#define GN_MAXIN 64

typedef struct {
    char *name;
    int c, h, w; /* per-sample shape, filled by gn_graph_finalize */
} gn_tensorinfo;

typedef struct {
    char *name;
    int ndim;
    int dims[4];
    size_t n;    /* element count */
    float *data; /* owned */
    float *grad; /* owned, NULL until gn_graph_alloc_grads */
} gn_param;

typedef struct {
    gn_opkind op;
    char *name;
    int nin;
    int in[GN_MAXIN];     /* tensor indices */
    int out;              /* tensor index */
    int p[GN_NSLOT];      /* parameter indices, -1 = absent */
    int kh, kw, sh, sw;   /* conv/pool kernel and stride */
    int pt, pl, pb, pr;   /* conv/pool padding */
    int groups;           /* conv */
    int count_include_pad;/* avgpool */
    int rc, rh, rw;       /* reshape target */
    float eps, momentum;  /* bn */
    float lo, hi;         /* clip */
    float slope;          /* leaky relu */
    int wbits;            /* conv/linear: weight bits, 0 = not quantised */
    int abits, asigned;   /* aquant: bits, signed grid */
    int ceil_mode;        /* maxpool: output size rounded up (PyTorch's rule) */
    int c0, cn;           /* slice: first channel, channel count */
    float alpha, beta;    /* hsigmoid */
} gn_node;

typedef struct {
    gn_tensorinfo *t;
    int nt;
    gn_node *nodes;
    int nn;
    gn_param *params;
    int np;
    int input;  /* tensor index of the model input */
    int output; /* tensor index of the model output */
    int cap_t, cap_n, cap_p;
} gn_graph;

gn_graph *gn_graph_new(void);
void gn_graph_free(gn_graph *g);

/* Index of the tensor called `name`, created (shape unknown) if absent. */
int gn_graph_tensor(gn_graph *g, const char *name);
/* Index of the tensor or -1. */
int gn_graph_find_tensor(const gn_graph *g, const char *name);
/* Adds a parameter, copying `data` (zeros if NULL). Returns its index, or -1
 * with a message if the name is taken or a dimension is below 1 (or the
 * values would be more than GN_MAX_PARAM). */
int gn_graph_add_param(gn_graph *g, const char *name, int ndim, const int *dims,
                       const float *data);
int gn_graph_find_param(const gn_graph *g, const char *name);
/* Appends a node with defaults (no inputs, p[] = -1, stride 1, groups 1,
 * eps 1e-5, momentum 0.1, slope 0.01). The pointer is valid until the next
 * gn_graph_add_node. */
gn_node *gn_graph_add_node(gn_graph *g, gn_opkind op, const char *name);

/* Limits on what a graph may describe (files are checked against them): the
 * values of one sample of any tensor, and kernel sizes, strides and pads. */
#define GN_MAX_SAMPLE (1 << 30)
#define GN_MAX_WINDOW 65535
/* the values of one parameter */
#define GN_MAX_PARAM ((size_t)1 << 32)

/* Sets the input tensor's shape (C,H,W) and infers every other shape, checking
 * topological order, parameter shapes and operator constraints. Each node's
 * attributes are range-checked (kernel, stride, pads within GN_MAX_WINDOW,
 * groups >= 1, eps finite and >= 0, clip lo <= hi, ...) and every tensor
 * holds at most GN_MAX_SAMPLE values per sample. Returns 0, or
 * an error whose message names the node and the value. */
int gn_graph_finalize(gn_graph *g, int C, int H, int W);

/* Index of the first NaN or infinity in v[0..n), or n when all are finite. */
size_t gn_nonfinite(const float *v, size_t n);
/* 0 when every parameter value of g is finite; otherwise an error naming the
 * parameter, the index and the value. Model readers (HDF5 and ONNX) call it:
 * genie refuses NaN and infinite weights. */
int gn_graph_check_finite(const gn_graph *g);

/* Allocates (zeroed) grad buffers for every parameter; idempotent. */
void gn_graph_alloc_grads(gn_graph *g);
void gn_graph_zero_grads(gn_graph *g);
/* Deep copy. */
gn_graph *gn_graph_clone(const gn_graph *g);

const char *gn_op_name(gn_opkind op);
/* -1 if unknown */
int gn_op_from_name(const char *s);
/* Elements per sample of tensor i. */
size_t gn_tensor_size(const gn_graph *g, int i);
/* Number of BatchNorm nodes. */
int gn_graph_count_op(const gn_graph *g, gn_opkind op);

#endif
