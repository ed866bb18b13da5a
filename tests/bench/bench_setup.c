/* bench_setup.c - what a full-size Genie-D job costs before its first
 * iteration, and its peak memory: torchvision's ResNet-18 (built in code,
 * random weights, 3x224x224, 1000 classes), distillation at batch 32 with
 * one thread.
 * First the teacher's forward and backward to the input alone (what
 * PyTorch's figure in README measures), in a child process each, with a
 * plain run (one buffer per tensor and gradient) and a lean one
 * (gn_run_new_lean, what distill uses), at batch B and B/4: peak resident
 * memory of each, the ratio, and the memory per image from the two batches
 * (not run when the plain run would allocate over 8 GB).
 * Then the set-up: the distiller's construction plus the first iteration's
 * excess over the second (first touch of buffers, the generator's
 * initialisation), in process CPU seconds, split into user and system
 * time, page faults and the resident memory it added. It is measured twice
 * in one process: cold (the first distiller, after 6 s idle, memory as the
 * machine gives it) and warm (a second distiller built right after the
 * first is freed, on pages the virtual machine has backed already). Then a
 * bare touch of as many bytes as the cold set-up added, with huge pages as
 * genie asks for them, after 6 s idle (this machine returns freed memory to
 * its host within seconds, and a page the host must back again costs some
 * 1-2 s per GB) and again at once: what first touch alone costs, cold and
 * warm. Peak resident memory is the process's (getrusage), model and
 * statistics included. Prints what it measured; asserts nothing.
 * Usage: bench_setup [ARCH [BATCH [ITERS]]]   (default resnet18 32 2; ITERS 0:
 *                     only the distiller's own estimate of its memory, untouched)
 *        bench_setup --setup ARCH BATCH       only the set-up, cold and warm
 *        bench_setup --save ARCH MODEL.h5     write the model for the programs */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
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

/* what the process has used up to a moment */
typedef struct {
    double wall, user, sys; /* seconds */
    long flt;               /* page faults */
    double rss;             /* resident MB now */
} mark;

static void mark_now(mark *m)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    m->wall = gn_now();
    m->user = ru.ru_utime.tv_sec + 1e-6 * ru.ru_utime.tv_usec;
    m->sys = ru.ru_stime.tv_sec + 1e-6 * ru.ru_stime.tv_usec;
    m->flt = ru.ru_minflt + ru.ru_majflt;
    long pages = 0, res = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    m->rss = res * (double)sysconf(_SC_PAGESIZE) / 1e6;
}

static mark m_it[3]; /* at the end of iterations 1, 2 */

static void on_iter(void *arg, long it, double total, double mt, double st, double lr_z,
                    double lr_g)
{
    (void)arg, (void)total, (void)mt, (void)st, (void)lr_z, (void)lr_g;
    if (it <= 2) mark_now(&m_it[it]);
}

/* b - a, field by field */
static mark mark_sub(mark b, mark a)
{
    return (mark){b.wall - a.wall, b.user - a.user, b.sys - a.sys, b.flt - a.flt, b.rss - a.rss};
}

/* the set-up of one distiller: its construction (c) plus its first
 * iteration's excess over the second (i1 - i2), field by field */
typedef struct {
    mark build, first, second, setup;
    double peak;  /* peak RSS MB so far */
    double bytes; /* the distiller's estimate, MB */
} setup_run;

static double peak_mb(void);

static int distill_setup(gn_graph *g, const gn_bnstats *st, int B, int iters, setup_run *r)
{
    gn_distill_opts o;
    gn_distill_defaults(&o);
    o.batch = B;
    o.iters = iters;
    gn_distiller *d;
    mark m0, m1;
    mark_now(&m0);
    if (gn_distiller_new(&d, g, st, &o)) return -1;
    mark_now(&m1);
    float *x = gn_xmalloc(sizeof(float) * gn_tensor_size(g, g->input) * B);
    gn_distiller_batch(d, 0, x, NULL, on_iter, NULL);
    r->build = mark_sub(m1, m0);
    r->first = mark_sub(m_it[1], m1);
    r->second = mark_sub(m_it[2], m_it[1]);
    r->setup = r->build;
    mark ex = mark_sub(r->first, r->second);
    r->setup.wall += ex.wall, r->setup.user += ex.user, r->setup.sys += ex.sys;
    r->setup.flt += ex.flt, r->setup.rss += ex.rss;
    r->peak = peak_mb();
    r->bytes = gn_distiller_bytes(d) / 1e6;
    free(x);
    gn_distiller_free(d);
    return 0;
}

static void print_setup(const char *what, const setup_run *r)
{
    const mark *s = &r->setup;
    printf("  %s: set-up %.2f CPU s (user %.2f, system %.2f; distiller %.2f + first iteration's "
           "excess over the second %.2f), %ld page faults, %.0f MB made resident; "
           "second iteration %.2f CPU s, %ld faults; wall %.1f s set-up\n",
           what, s->user + s->sys, s->user, s->sys, r->build.user + r->build.sys,
           (r->first.user + r->first.sys) - (r->second.user + r->second.sys), s->flt, s->rss,
           r->second.user + r->second.sys, r->second.flt, s->wall);
}

/* CPU seconds to touch mb MB of fresh memory once, as genie's large
 * blocks are (transparent huge pages asked for) */
static double touch_mb(double mb)
{
    const size_t n = (size_t)(mb * 1e6);
    mark a, b;
    mark_now(&a);
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return -1;
#ifdef MADV_HUGEPAGE
    madvise(p, n, MADV_HUGEPAGE);
#endif
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    mark_now(&b);
    munmap(p, n);
    return (b.user + b.sys) - (a.user + a.sys);
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
    const int setup_only = argc == 4 && !strcmp(argv[1], "--setup");
    if (setup_only) argv++, argc--;
    const char *arch = argc > 1 ? argv[1] : "resnet18";
    int B = argc > 2 ? atoi(argv[2]) : 32, iters = argc > 3 ? atoi(argv[3]) : 2;
    if (B < 2) B = 2;
    const int estimate_only = argc > 3 && iters == 0;
    if (iters < 2) iters = 2;
    gn_set_threads(1);
    double c0 = gn_cpu_now();
    gn_bnstats st;
    if (gn_arch_build(arch, 3, 224, 224, 1000, 1, &g) || gn_bnstats_from_model(g, arch, &st)) {
        fprintf(stderr, "bench_setup: %s\n", gn_err_msg());
        return 1;
    }
    double c1 = gn_cpu_now();
    if (estimate_only) {
        gn_distill_opts o;
        gn_distill_defaults(&o);
        o.batch = B;
        o.iters = iters;
        gn_distiller *d;
        if (gn_distiller_new(&d, g, &st, &o)) {
            fprintf(stderr, "bench_setup: %s\n", gn_err_msg());
            return 1;
        }
        printf("%s 3x224x224, distill batch %d: the distiller's estimate %.0f MB, of which the "
               "teacher's values and gradients %.0f MB\n",
               arch, B, gn_distiller_bytes(d) / 1e6, gn_run_bytes(gn_distiller_teacher(d)) / 1e6);
        gn_distiller_free(d), gn_bnstats_free(&st), gn_graph_free(g);
        return 0;
    }
    if (!setup_only) {
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
        if (!compare)
            printf("%s teacher alone: not compared (a plain run would allocate %.0f MB)\n", arch,
                   plain / 1e6);
        else
            printf("%s teacher forward and backward to the input (as PyTorch's figure), peak RSS: "
                   "batch %d plain %.0f MB, lean %.0f MB (plain/lean %.2f); batch %d plain %.0f MB, "
                   "lean %.0f MB (%.2f); per image plain %.1f MB, lean %.1f MB (%.2f)\n",
                   arch, B, tm[1][0], tm[1][1], tm[1][0] / tm[1][1], Bq, tm[0][0], tm[0][1],
                   tm[0][0] / tm[0][1], (tm[1][0] - tm[0][0]) / (B - Bq),
                   (tm[1][1] - tm[0][1]) / (B - Bq), (tm[1][0] - tm[0][0]) / (tm[1][1] - tm[0][1]));
        fflush(stdout);
    }
    /* cold: the first distiller, after 6 s idle as the bare touch below,
     * on memory as the machine gives it; warm: a second one at once, on the
     * pages the first gave back */
    setup_run cold, warm;
    sleep(6);
    if (distill_setup(g, &st, B, iters, &cold) || distill_setup(g, &st, B, iters, &warm)) {
        fprintf(stderr, "bench_setup: %s\n", gn_err_msg());
        return 1;
    }
    /* process CPU seconds are the figures: on a shared machine, wall time
     * is mostly other tenants' */
    printf("%s 3x224x224 (built in code), distill batch %d, 1 thread, CPU seconds: model %.2f; "
           "set-up cold %.2f, warm %.2f; %.2f per iteration; peak RSS %.0f MB (the distiller's "
           "estimate of what it allocates %.0f MB)\n",
           arch, B, c1 - c0, cold.setup.user + cold.setup.sys, warm.setup.user + warm.setup.sys,
           warm.second.user + warm.second.sys, cold.peak, cold.bytes);
    print_setup("cold", &cold);
    print_setup("warm", &warm);
    /* the same bytes touched by a bare loop: freed memory goes back to the
     * host within a few seconds here, so idle first */
    const double mb = cold.setup.rss > 0 ? cold.setup.rss : 1;
    sleep(6);
    const double tc = touch_mb(mb), tw = touch_mb(mb);
    printf("  a bare touch of the %.0f MB the cold set-up made resident: %.2f CPU s after 6 s "
           "idle, %.2f at once after (%.2f and %.2f s per GB)\n",
           mb, tc, tw, tc / (mb / 1e3), tw / (mb / 1e3));
    gn_bnstats_free(&st);
    gn_graph_free(g);
    return 0;
}
