/* bench_setup.c - what a full-size Genie-D job costs before its first
 * iteration, and its peak memory: torchvision's ResNet-18 (built in code,
 * random weights, 3x224x224, 1000 classes), distillation at batch 32 with
 * one thread. Set-up is the distiller's construction plus the first
 * iteration's excess over the second (first touch of buffers, the
 * generator's initialisation). Peak resident memory is the process's
 * (getrusage), model and statistics included. Then the teacher's forward
 * and backward to the input alone (what PyTorch's figure in README
 * measures), in a child process each, with a plain run (one buffer per
 * tensor and gradient) and a lean one (gn_run_new_lean, what distill
 * uses), at batch B and B/4: peak resident memory of each, the ratio, and
 * the memory per image from the two batches (not run when the plain run
 * would allocate over 8 GB). Prints what it measured;
 * asserts nothing.
 * Usage: bench_setup [ARCH [BATCH [ITERS]]]   (default resnet18 32 2; ITERS 0:
 *                     only the distiller's own estimate of its memory, untouched)
 *        bench_setup --save ARCH MODEL.h5     write the model for the programs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gn_arch.h"
#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_cli.h"
#include "gn_distill.h"
#include "gn_err.h"
#include "gn_h5.h"
#include "gn_rng.h"
#include "gn_run.h"
#include "gn_stats.h"

static double t_it[3], c_it[3]; /* wall and process CPU seconds at the end of iterations 1, 2 */

static void on_iter(void *arg, long it, double total, double mt, double st, double lr_z,
                    double lr_g)
{
    (void)arg, (void)total, (void)mt, (void)st, (void)lr_z, (void)lr_g;
    if (it <= 2) t_it[it] = gn_now(), c_it[it] = gn_cpu_now();
}

static double peak_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0; /* kB on Linux */
}

/* peak RSS in MB of a child that runs the teacher of g forward and
 * backward to the input once at batch B, in a plain or lean run; -1 if
 * the child failed */
static double teacher_pass_mb(gn_graph *g, int B, int lean)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        gn_graph *t = gn_teacher_build(g, 0, NULL);
        if (!t) _exit(1);
        gn_run *r = lean ? gn_run_new_lean(t, B, GN_WANT_INPUT | GN_LEAN_BN_INFER) : gn_run_new(t, B, 1);
        r->bn_train = 0;
        const size_t nx = (size_t)B * gn_tensor_size(t, t->input), ny = (size_t)B * gn_tensor_size(t, t->output);
        float *x = malloc(nx * sizeof(float));
        gn_rng rng;
        gn_rng_seed(&rng, 1, 0);
        gn_rng_fill_normal(&rng, x, nx, 0.0f, 1.0f);
        gn_run_forward(r, x, B);
        gn_run_forget_grad(r);
        float *dy = gn_run_grad_set(r, t->output);
        for (size_t i = 0; i < ny; i++) dy[i] = 1.0f; /* d(sum of logits) */
        gn_run_backward(r, GN_WANT_INPUT);
        _exit(0);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) return -1;
    return ru.ru_maxrss / 1024.0;
}

int main(int argc, char **argv)
{
    gn_cli_init(argv[0]);
    gn_blas_init();
    gn_graph *g;
    if (argc == 4 && !strcmp(argv[1], "--save")) {
        if (gn_arch_build(argv[2], 3, 224, 224, 1000, 1, &g) || gn_model_save(argv[3], g, NULL, NULL)) {
            fprintf(stderr, "bench_setup: %s\n", gn_err_msg());
            return 1;
        }
        gn_graph_free(g);
        return 0;
    }
    const char *arch = argc > 1 ? argv[1] : "resnet18";
    int B = argc > 2 ? atoi(argv[2]) : 32, iters = argc > 3 ? atoi(argv[3]) : 2;
    if (B < 2) B = 2;
    const int estimate_only = argc > 3 && iters == 0;
    if (iters < 2) iters = 2;
    gn_set_threads(1);
    double w0 = gn_now(), c0 = gn_cpu_now();
    gn_bnstats st;
    if (gn_arch_build(arch, 3, 224, 224, 1000, 1, &g) || gn_bnstats_from_model(g, arch, &st)) {
        fprintf(stderr, "bench_setup: %s\n", gn_err_msg());
        return 1;
    }
    double c1 = gn_cpu_now();
    gn_distill_opts o;
    gn_distill_defaults(&o);
    o.batch = B;
    o.iters = iters;
    gn_distiller *d;
    if (gn_distiller_new(&d, g, &st, &o)) {
        fprintf(stderr, "bench_setup: %s\n", gn_err_msg());
        return 1;
    }
    double c2 = gn_cpu_now();
    if (estimate_only) {
        printf("%s 3x224x224, distill batch %d: the distiller's estimate %.0f MB, of which the "
               "teacher's values and gradients %.0f MB\n",
               arch, B, gn_distiller_bytes(d) / 1e6, gn_run_bytes(gn_distiller_teacher(d)) / 1e6);
        gn_distiller_free(d), gn_bnstats_free(&st), gn_graph_free(g);
        return 0;
    }
    /* first, while this process is small: the teacher alone, in children */
    double tm[2][2]; /* [batch B/4, B][plain, lean] */
    const int Bq = B / 4 > 1 ? B / 4 : 2;
    /* a plain run's activations and gradients at batch B; above 8 GB (a
     * full-size ResNet-50 at 128 is 41 GB) the comparison is not run */
    double plain = 0;
    for (int t = 0; t < g->nt; t++) plain += 2.0 * B * gn_tensor_size(g, t) * sizeof(float);
    const int compare = plain < 8e9;
    for (int i = 0; i < 2 && compare; i++)
        for (int l = 0; l < 2; l++) tm[i][l] = teacher_pass_mb(g, i ? B : Bq, l);
    float *x = malloc(sizeof(float) * gn_tensor_size(g, g->input) * B);
    gn_distiller_batch(d, 0, x, NULL, on_iter, NULL);
    /* process CPU seconds are the figures: on a shared machine, wall time
     * is mostly other tenants' */
    double first = c_it[1] - c2, second = c_it[2] - c_it[1];
    printf("%s 3x224x224 (built in code), distill batch %d, 1 thread, CPU seconds: model %.2f; "
           "set-up %.2f (distiller %.2f + first iteration's excess over the second %.2f); "
           "%.2f per iteration; wall %.1f s to the end of iteration 2; peak RSS %.0f MB "
           "(the distiller's estimate of what it allocates %.0f MB)\n",
           arch, B, c1 - c0, (c2 - c1) + (first - second), c2 - c1, first - second, second,
           t_it[2] - w0, peak_mb(), gn_distiller_bytes(d) / 1e6);
    if (!compare)
        printf("%s teacher alone: not compared (a plain run would allocate %.0f MB)\n", arch, plain / 1e6);
    else
        printf("%s teacher forward and backward to the input (as PyTorch's figure), peak RSS: "
           "batch %d plain %.0f MB, lean %.0f MB (plain/lean %.2f); batch %d plain %.0f MB, lean %.0f MB "
           "(%.2f); per image plain %.1f MB, lean %.1f MB (%.2f)\n",
           arch, B, tm[1][0], tm[1][1], tm[1][0] / tm[1][1], Bq, tm[0][0], tm[0][1],
           tm[0][0] / tm[0][1], (tm[1][0] - tm[0][0]) / (B - Bq), (tm[1][1] - tm[0][1]) / (B - Bq),
           (tm[1][0] - tm[0][0]) / (tm[1][1] - tm[0][1]));
    free(x);
    gn_distiller_free(d);
    gn_bnstats_free(&st);
    gn_graph_free(g);
    return 0;
}
