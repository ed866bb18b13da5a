/* bench_train.c - training throughput for `make bench`: images/s of a full
 * SGD step (augmentation, forward in training mode, cross-entropy, backward,
 * Nesterov update) of resnet20 and mbv2-tiny at batch 128 on 1x28x28 inputs,
 * with 1 and 2 OpenBLAS threads. Prints what it measured; asserts nothing.
 * Usage: bench_train [STEPS] (default 8 timed steps after 2 warm-up steps). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_arch.h"
#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_err.h"
#include "gn_train.h"

static int bench(const char *arch, int threads, int steps)
{
    gn_train_cfg c;
    gn_train_defaults(&c);
    snprintf(c.arch, sizeof c.arch, "%s", arch);
    int B = c.batch;
    size_t n = (size_t)B * 4, per = 28 * 28;
    gn_dataset d = {.n = n, .c = 1, .h = 28, .w = 28};
    d.x = malloc(n * per * sizeof(float));
    d.y = malloc(n * sizeof(int));
    gn_rng r;
    gn_rng_seed(&r, 7, 0);
    gn_rng_fill_normal(&r, d.x, n * per, 0.0f, 1.0f);
    for (size_t i = 0; i < n; i++) d.y[i] = (int)(i % 10);
    gn_trainer *t;
    if (gn_trainer_new(&c, n, 1, 28, 28, &t)) {
        fprintf(stderr, "bench_train: %s\n", gn_err_msg());
        return 1;
    }
    gn_set_threads(threads);
    gn_trainer_epoch_begin(t);
    float loss;
    int b;
    long k = 0;
    for (int i = 0; i < 2; i++, k++) gn_trainer_step(t, &d, k % t->steps_per_epoch, &loss, &b);
    double t0 = gn_now();
    for (int i = 0; i < steps; i++, k++) gn_trainer_step(t, &d, k % t->steps_per_epoch, &loss, &b);
    double dt = (gn_now() - t0) / steps;
    printf("train %-9s batch %d, %d thread%s: %6.0f images/s (%.1f ms/step)\n", arch, B, threads,
           threads > 1 ? "s" : " ", B / dt, 1e3 * dt);
    gn_trainer_free(t);
    free(d.x);
    free(d.y);
    return 0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init(); /* genie's start-up: OpenBLAS kernel check and self-test */
    int steps = argc > 1 ? atoi(argv[1]) : 8;
    if (steps < 1) steps = 8;
    int rc = 0;
    const char *only = argc > 2 ? argv[2] : NULL; /* an architecture, for profiling */
    const char *archs[] = {"resnet20", "mbv2-tiny"};
    for (int a = 0; a < 2; a++)
        for (int th = 1; th <= 2; th++)
            if (!only || !strcmp(only, archs[a])) rc |= bench(archs[a], th, steps);
    printf("  (for orientation: PyTorch 1.13 trains resnet20 at about 680 images/s with 2 threads "
           "on this machine class)\n");
    return rc;
}
