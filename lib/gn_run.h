/* gn_run.h - executing a graph forward and backward on a batch.
 *
 * A run owns every activation of the graph for up to Bmax samples, the
 * gradients of those activations (when asked for), the per-node caches that
 * backward needs (BatchNorm batch mean and inverse std, max-pool argmax) and
 * one scratch workspace sized up front: forward and backward allocate
 * nothing. Losses may read any tensor (r->val[t]) and inject a gradient
 * anywhere (r->grad[t]) before gn_run_backward.
 * What this does not do: own the graph or its parameters. */
#ifndef GN_RUN_H
#define GN_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "gn_graph.h"
#include "gn_ops.h"

enum {
    GN_WANT_INPUT = 1,  /* gradient with respect to the model input */
    GN_WANT_PARAMS = 2, /* gradients of the trainable parameters */
    GN_LEAN_BN_INFER = 4, /* gn_run_new_lean: BatchNorm with running statistics
                           * stays in inference mode (bn_train 0), so the mask
                           * of an activation fused into it is made again from
                           * the BN's input and its output is not kept */
};

typedef struct {
    gn_graph *g;
    int Bmax; /* capacity */
    int b;    /* samples in the current batch */
    float **val;   /* [nt] -> (Bmax, C,H,W) */
    float **grad;  /* [nt] -> (Bmax, C,H,W), NULL without gradients */
    float **cache; /* [nn] BN: mean (C) then invstd (C) */
    int **argmax;  /* [nn] maxpool */
    char *trainable; /* [np] 1 if gn_run_backward accumulates this parameter's grad */
    float *ws;
    size_t nws;
    int bn_train;        /* BatchNorm uses batch statistics (training mode) */
    int update_running;  /* with bn_train: update running mean/var */
    int with_grad;
    struct gn_rng *swing_rng; /* swing nodes draw offsets from it; NULL = no swing (identity) */
    int *swing_off;           /* [2*nn] offsets (oy,ox) used by the last forward of each swing node */
    /* quantisation (Genie-M): with qmode 0 quantisers are bypassed (the FP32
     * model); with qmode 1 weights use hard rounding and activations are
     * quantised, except that nodes in [soft_first, soft_last) use soft
     * rounding and, when qdrop_rng is set, QDrop (each element kept
     * unquantised with probability 1/2). act_init: an aquant node whose step
     * is <= 0 initialises it (and its signedness) from the batch it sees. */
    int qmode;
    int soft_first, soft_last;
    struct gn_rng *qdrop_rng;
    int act_init;
    float **wq;      /* [nn] quantised weights of the last forward */
    float **wsg;     /* [nn] sigmoid(v) of the last forward of a soft-rounded node
                      * (gn_rsig_sigmoid), reused by its backward and the rounding loss */
    uint64_t **keep; /* [nn] QDrop masks of aquant nodes, one bit an element (gn_quant.h) */
    float *dwq;      /* scratch: gradient w.r.t. a quantised weight */
    char *need;      /* scratch of backward: [nt] gradient needed at tensor t */
    char *fuse;      /* [nn] 1: node k+1 (ReLU, Clip or LeakyReLU) runs inside node k (BN or
                      * Add), or the 3x3 convolution k+1 runs on the input of
                      * the upsample k (as one operator, gn_upconv.h), when
                      * both run in one call; k's own output is then neither
                      * stored nor its gradient formed. Planned by gn_run_new for graphs without
                      * quantisers where k's output has no other reader;
                      * GN_NO_FUSE=1 in the environment turns it off (the same
                      * bits either way, except the upsample -> conv pair's last
                      * bits: its sums are taken in another order). */
    char *ffwd;      /* [nn] 1: the last forward ran node k+1 inside node k */
    char *skip;      /* scratch of backward: [nt] a fused pair's unformed gradient */
    char *gvalid;    /* [nt] 1: grad[t] holds its gradient; 0: logically zero, memory
                      * stale (after gn_run_forget_grad, until first written) */
    const gn_bn_tap **bntap; /* [nn] a loss carried by inference-mode BN node k's
                              * passes (gn_ops.h), or NULL; see gn_run_bn_tap */
    /* a lean run (gn_run_new_lean): values and gradients live in shared
     * blocks, planned by lifetime; 0 for gn_run_new's one buffer each */
    int lean;
    unsigned lean_want; /* what its backward may be asked for (GN_WANT_*) */
    int nblk;
    float **blk;        /* [nblk] the blocks val[t] and grad[t] point into */
    size_t *blk_n;      /* [nblk] floats in each */
    char *own;          /* [nt] 1: t's gradient has a block of its own (the
                         * graph's input and output) */
    size_t idle_off;    /* floats of blk[0] below it hold the graph's input and
                         * output; the rest is idle between passes */
} gn_run;

/* Creates a run of graph g (finalized) for up to Bmax samples; with_grad
 * allocates activation gradients too. Never fails (aborts on no memory). */
gn_run *gn_run_new(gn_graph *g, int Bmax, int with_grad);
/* A run that holds only what is live: each tensor's value from the node
 * that makes it to its last reader (forward, or the backward that needs it:
 * a BatchNorm's input, an activation's mask, a convolution's input only
 * when its weight gradient is wanted), each gradient from its first writer
 * to the backward of its producer, with blocks reused by lifetime (the
 * same bits as gn_run_new's run). want: what gn_run_backward may be asked
 * for (GN_WANT_INPUT, GN_WANT_PARAMS; 0 = forward only), and
 * GN_LEAN_BN_INFER. Rules: forward runs
 * the whole graph (gn_run_forward); backward any prefix [0, last) of it;
 * after them only the graph's input and output values and gradients are
 * readable (theirs are never shared, so their addresses are stable), and
 * the taps. */
gn_run *gn_run_new_lean(gn_graph *g, int Bmax, unsigned want);
/* A lean run for forward passes only (want 0) whose tensors keep[0..nkeep)
 * have memory of their own, like the graph's input and output: readable
 * after any forward, and writable before one. Such a run may run any range
 * of nodes (gn_run_forward_nodes, as a plain run) that reads, of the
 * tensors made before the range, only those (a prefix [0, last), or a unit
 * between kept tensors); the same bits as a plain run. */
gn_run *gn_run_new_lean_keep(gn_graph *g, int Bmax, unsigned want, const int *keep, int nkeep);
/* A lean run's memory that holds nothing between passes: n floats of its
 * arena that no value or gradient readable after a forward or backward
 * (the graph's input and output) uses, or NULL when the arena has fewer.
 * Another user may keep anything there from the end of one pass (forward,
 * or forward and backward) to the start of the run's next one, which
 * overwrites it. */
float *gn_run_idle(gn_run *r, size_t n);
/* Makes the run's values and gradients (a lean run's arena) and max-pool
 * indices resident now, their contents unchanged (gn_prefault): for a
 * caller whose first pass will write them all anyway. Not the workspace,
 * which a pass may use only a part of. */
void gn_run_prefault(gn_run *r);
void gn_run_free(gn_run *r);
/* Attaches tap to BatchNorm node k (NULL detaches): while the run uses
 * running statistics (bn_train 0), every forward fills tap->mom and every
 * backward that reaches node k adds the loss term tap->a..m describes to
 * the gradient of k's input (gn_bn_tap). The tap must outlive the run. */
void gn_run_bn_tap(gn_run *r, int k, const gn_bn_tap *tap);
/* Copies b samples x (b, C,H,W) into the input and runs every node. */
void gn_run_forward(gn_run *r, const float *x, int b);
/* Runs nodes [first, last) only, on the current values (for units). */
void gn_run_forward_nodes(gn_run *r, int first, int last);
/* Zeroes every activation gradient (not parameter gradients). */
void gn_run_zero_grad(gn_run *r);
/* Makes every activation gradient zero without touching memory: each
 * becomes "stale" until written. Backward then lets the first writer of a
 * gradient overwrite it (dx = 0 + g, the same bits as adding into zeros)
 * and zeroes (b samples of) the rest just before their first use. After
 * this call, reach a gradient only through gn_run_grad / gn_run_grad_set
 * (r->grad[t] of a stale tensor is garbage); gn_run_backward leaves every
 * gradient it needed valid. */
void gn_run_forget_grad(gn_run *r);
/* Tensor t's gradient, ready to be added into: zeroed first (b samples)
 * when stale. */
float *gn_run_grad(gn_run *r, int t);
/* Non-zero when tensor t's gradient is stale (logically zero, not yet
 * written since gn_run_forget_grad). */
static inline int gn_run_grad_stale(const gn_run *r, int t) { return !r->gvalid[t]; }
/* Tensor t's gradient marked valid as it is: the caller overwrites all of
 * its b samples. */
float *gn_run_grad_set(gn_run *r, int t);
/* Back-propagates the gradients present in r->grad (injected by the caller)
 * through every node, in reverse order; parameter gradients are ADDED into
 * g->params[i].grad (allocated by this call when missing) for trainable
 * parameters when `want` has GN_WANT_PARAMS. */
void gn_run_backward(gn_run *r, unsigned want);
void gn_run_backward_nodes(gn_run *r, unsigned want, int first, int last);
/* Pointer to sample 0 of tensor t's value / gradient. */
static inline float *gn_run_val(gn_run *r, int t) { return r->val[t]; }
/* Memory held by the run, in bytes (activations, gradients, ws). */
size_t gn_run_bytes(const gn_run *r);
/* GN_PROFILE (genie(7)): when that environment variable was set at the
 * process's first run, every run's forward and backward nodes are timed by
 * operator kind; this prints the table so far to f as "GN_PROFILE: ..."
 * lines (nothing when nothing was timed). Programs call it once, just
 * before they exit. */
void gn_run_profile_print(FILE *f);

#endif
