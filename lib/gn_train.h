/* gn_train.h - supervised training of a graph: SGD with (Nesterov)
 * momentum and weight decay, the cosine learning-rate schedule, the
 * pad-crop-flip augmentation, and a trainer that runs the recipe epoch by
 * epoch with checkpoints that resume bit-identically.
 *
 * Randomness: the architecture is initialised from stream 0 of the seed;
 * epoch e (counting from 0) shuffles and augments from stream 1 + e. The
 * random state at an epoch boundary is therefore (seed, epoch), which is what
 * a checkpoint stores.
 * What this does not do: print (the caller reports progress), read options,
 * or train anything but softmax cross-entropy on labelled images. */
#ifndef GN_TRAIN_H
#define GN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "gn_graph.h"
#include "gn_h5.h"
#include "gn_rng.h"
#include "gn_run.h"

#define GN_CKPT_FORMAT 1

/* ---- optimiser and schedule ---------------------------------------------- */

/* One SGD step on n values, PyTorch's torch.optim.SGD with dampening 0:
 *   g = dw + wd*w;  buf = mu*buf + g;  g = nesterov ? g + mu*buf : buf;  w -= lr*g
 * buf (n) starts at zero, which equals PyTorch's buf = g on the first step. */
void gn_sgd_step(float *w, float *buf, const float *dw, size_t n, float lr, float mu, float wd,
                 int nesterov);

/* Cosine decay to zero over `total` steps (PyTorch's CosineAnnealingLR with
 * T_max = total, eta_min = 0, stepped once per batch):
 * lr(step) = base * (1 + cos(pi * step / total)) / 2. */
float gn_lr_cosine(float base, long step, long total);

/* ---- augmentation --------------------------------------------------------- */

/* Draws, per sample, crop offsets oy, ox in [0, 2*pad] and a flip bit (when
 * `flip`), in the order oy, ox, flip, sample after sample. */
void gn_augment_draw(gn_rng *r, int B, int pad, int flip, int *oy, int *ox, unsigned char *fl);

/* dst (B,C,H,W) = the HxW window at (oy[b], ox[b]) of src (B,C,H,W) padded
 * by `pad` cells of `value` on every side, mirrored left-right where fl[b]
 * (torchvision's RandomCrop(padding) then RandomHorizontalFlip). fl may be
 * NULL. dst and src must not overlap. */
void gn_augment_crop_flip(float *dst, const float *src, int B, int C, int H, int W, int pad,
                          float value, const int *oy, const int *ox, const unsigned char *fl);

/* ---- trainer -------------------------------------------------------------- */

typedef struct {
    char arch[64];   /* gn_arch_build name */
    int classes;     /* outputs; labels must lie in [0, classes) */
    int epochs;      /* length of the cosine schedule */
    int batch;
    float lr, momentum, weight_decay;
    int nesterov;
    int pad;         /* crop padding (0 = no crop) */
    float pad_value; /* value of the padding, in the normalised input space */
    int flip;        /* random horizontal flip */
    uint64_t seed;
} gn_train_cfg;

/* the recipe of train(1): SGD Nesterov 0.9, lr 0.1 cosine, wd 5e-4, batch
 * 128, 15 epochs, pad 2 with (0-0.2860)/0.3530, flip, seed 1, 10 classes */
void gn_train_defaults(gn_train_cfg *c);

typedef struct {
    gn_train_cfg cfg;
    gn_graph *g;     /* owned */
    gn_run *r;       /* owned; capacity cfg.batch, with gradients */
    int C, H, W;     /* input shape */
    size_t n;        /* training samples */
    long steps_per_epoch, total_steps;
    int epoch;       /* completed epochs */
    long step;       /* completed steps */
    float *mom;      /* (nmom) momentum buffers of the trainable parameters, in param order */
    size_t nmom;
    size_t *mom_off; /* [np] offset into mom, or (size_t)-1 when not trained */
    /* scratch for one batch */
    int *perm;       /* (n) this epoch's order */
    float *xb;       /* (batch,C,H,W) augmented images */
    int *yb;         /* (batch) */
    float *probs;    /* (batch,classes) */
    int *oy, *ox;
    unsigned char *fl;
    gn_rng rng;      /* this epoch's stream: shuffle, then augmentation batch by batch */
} gn_trainer;

/* Creates a trainer for cfg on n training samples of shape (C,H,W): builds
 * the architecture from cfg->seed. Returns 0, or an error (unknown
 * architecture, bad numbers) with *out untouched. Free with gn_trainer_free. */
int gn_trainer_new(const gn_train_cfg *cfg, size_t n, int C, int H, int W, gn_trainer **out);
void gn_trainer_free(gn_trainer *t);

/* Checks that dataset d (`path` for messages) can be trained on / tested
 * with: shape (C,H,W) equals the trainer's, labels present and in range. */
int gn_trainer_check_data(const gn_trainer *t, const gn_dataset *d, const char *path);

/* Starts epoch t->epoch: draws the sample order. */
void gn_trainer_epoch_begin(gn_trainer *t);
/* Number of batches of an epoch (the last may be short: nothing is dropped). */
static inline long gn_trainer_batches(const gn_trainer *t) { return t->steps_per_epoch; }
/* Runs batch i (0-based) of the current epoch on d (the training set):
 * augmentation, forward in training mode (batch statistics, running
 * statistics updated with momentum 0.1), cross-entropy, backward, one SGD
 * step at the scheduled rate. Stores the batch's mean loss in *loss and its
 * size in *b. Increments t->step. */
void gn_trainer_step(gn_trainer *t, const gn_dataset *d, long i, float *loss, int *b);
/* Ends the epoch: t->epoch++. */
void gn_trainer_epoch_end(gn_trainer *t);

/* Top-1 (fraction) and mean cross-entropy of the model in inference mode
 * (running statistics) on labelled dataset d; ties rank the lower class first. */
void gn_trainer_evaluate(gn_trainer *t, const gn_dataset *d, double *top1, double *loss);

/* Writes a checkpoint to `path` atomically (temporary name, rename): the
 * graph and parameters, momentum buffers, epoch, step, the configuration and
 * the seed. A file left at `path` by an earlier call stays intact until the
 * new one is complete. */
int gn_trainer_save(const gn_trainer *t, const char *path);
/* Reads a checkpoint into a new trainer for n samples of (C,H,W) (which
 * must match the checkpoint's). The configuration comes from the file.
 * Returns 0 or an error naming the file and what is wrong. */
int gn_trainer_load(const char *path, size_t n, int C, int H, int W, gn_trainer **out);

/* Writes the root attributes a trained model carries (arch, recipe, seed,
 * epochs, test top-1 when >= 0) into an open file: for gn_model_save's extra. */
int gn_trainer_model_attrs(hid_t f, const gn_trainer *t, double test_top1);

#endif
