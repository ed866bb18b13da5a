/* gn_optim.h - optimisers and learning-rate schedules, with PyTorch's
 * semantics so that genie reproduces the reference implementations:
 *   - Adam (torch.optim.Adam, no weight decay, no amsgrad) over a parameter
 *     group: a list of float arrays with their gradients, each with its own
 *     first/second moment state and step count;
 *   - ReduceLROnPlateau (mode min, relative threshold, cooldown, min_lr);
 *   - step decay (StepLR / ExponentialLR stepped every k iterations);
 *   - cosine annealing (CosineAnnealingLR, closed form).
 *
 * The group does not own the parameter or gradient arrays; it owns only its
 * moment state, allocated when a variable is added, so a step allocates
 * nothing. What this does not do: zero gradients behind the caller's back
 * (gn_adam_zero_grad does it when asked), clip gradients, or decay weights. */
#ifndef GN_OPTIM_H
#define GN_OPTIM_H

#include <stddef.h>

/* ---- Adam ---------------------------------------------------------------- */

/* One Adam update of n elements, PyTorch's formula:
 *   m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * t is the step number after this update (1 for the first). */
void gn_adam_update(float *p, float *m, float *v, const float *g, size_t n, float lr,
                    float beta1, float beta2, float eps, long t);
/* Its reference twin: one element at a time (the fast one runs 4 at a time
 * with SSE, bit-identical). */
void gn_adam_update_ref(float *p, float *m, float *v, const float *g, size_t n, float lr,
                        float beta1, float beta2, float eps, long t);

typedef struct {
    float *data;       /* parameter (n), not owned */
    const float *grad; /* its gradient (n), not owned; read by gn_adam_step */
    size_t n;
    float *m, *v;      /* moment state (n each), owned */
    long t;            /* steps taken */
    float lr_scale;    /* its rate is the group's times this (1 from gn_adam_add) */
} gn_adam_var;

typedef struct {
    gn_adam_var *var;
    int nvar, cap;
    float lr, beta1, beta2, eps;
} gn_adam;

/* Initialises an empty group with learning rate lr, betas (0.9, 0.999) and
 * eps 1e-8 (PyTorch's defaults); change the fields afterwards if needed. */
void gn_adam_init(gn_adam *a, float lr);
/* Adds a variable: data and grad must stay valid while the group is used.
 * Its moments start at zero. Returns its index. Never fails (aborts on no
 * memory). */
int gn_adam_add(gn_adam *a, float *data, const float *grad, size_t n);
/* One step on every variable with the group's current lr (times the
 * variable's lr_scale). */
void gn_adam_step(gn_adam *a);
/* Zeroes every variable's gradient (the grad arrays are written through
 * a cast: the caller handed them in as its own buffers). */
void gn_adam_zero_grad(gn_adam *a);
/* Forgets the moments and step counts (a fresh optimiser, same variables). */
void gn_adam_reset(gn_adam *a);
/* Frees the state (not the variables). The struct may be re-initialised. */
void gn_adam_free(gn_adam *a);

/* ---- ReduceLROnPlateau ---------------------------------------------------- */

/* PyTorch's ReduceLROnPlateau in mode 'min' with threshold_mode 'rel':
 * a metric is an improvement when it is below best*(1 - threshold); after
 * more than `patience` non-improving steps the lr becomes
 * max(lr*factor, min_lr) (if that changes it by more than eps = 1e-8), the
 * bad count resets and `cooldown` steps follow in which bad steps are not
 * counted. Values are kept in double, as Python does. */
typedef struct {
    double factor, threshold, min_lr, eps;
    int patience, cooldown;
    double best;   /* +inf until the first step */
    int num_bad, cooldown_counter;
    long steps;
    int reductions; /* how many times the lr was reduced */
} gn_plateau;

/* PyTorch's defaults are factor 0.1, patience 10, threshold 1e-4, cooldown 0,
 * min_lr 0; Genie uses patience 100 and min_lr 1e-4. */
void gn_plateau_init(gn_plateau *p, double factor, int patience, double threshold,
                     int cooldown, double min_lr);
/* Feeds one metric value; returns the learning rate to use from now on
 * (lr itself, or the reduced one). */
double gn_plateau_step(gn_plateau *p, double metric, double lr);

/* ---- closed-form schedules ------------------------------------------------ */

/* lr0 * gamma^floor(it/every): the lr in force during iteration `it`
 * (0-based) when a StepLR(step_size=every, gamma) - or an ExponentialLR
 * stepped every `every` iterations - is stepped after each iteration. */
double gn_step_decay_lr(double lr0, double gamma, long every, long it);
/* eta_min + (lr0 - eta_min) * (1 + cos(pi * it / T)) / 2, it clamped to
 * [0, T]: CosineAnnealingLR(T_max = T) in force during iteration it. */
double gn_cosine_lr(double lr0, double eta_min, long T, long it);

#endif
