/* bench_blas.c - sgemm GFLOP/s with the OpenBLAS kernel genie selects and
 * with OpenBLAS left alone, measured in this one run: the program runs
 * itself (--child) under each environment, interleaved over rounds, best
 * of each kept (the machine is shared; ratios are what to read). Then the
 * engine's forward and forward+backward throughput (bench_engine, beside
 * this program) under each distinct kernel. Environments:
 *   left alone      OPENBLAS_CORETYPE unset, GENIE_NO_REEXEC=1
 *   genie           OPENBLAS_CORETYPE unset: genie's start-up choice
 *   environment     OPENBLAS_CORETYPE as this shell sets it (if it does)
 *   Prescott        OPENBLAS_CORETYPE=Prescott, GENIE_NO_REEXEC=1: what
 *                   OpenBLAS 0.3.21 runs on a CPU it does not recognise
 *   genie/Prescott  the same, but as if OpenBLAS had chosen it itself
 *                   (GENIE_BLAS_TEST_AUTO=1): genie re-executes
 * Prints; asserts nothing.
 * Usage: bench_blas [--rounds N] [--no-engine] */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_blas_pick.h"
#include "gn_blas_selftest.h"
#include "gn_cpu.h"
#include "gn_cli.h"
#include "gn_err.h"

extern char **environ;

/* the products: a large square one and the conv-shaped ones of issue #7
 * (M x N x K = out channels x output pixels x in channels * kernel area) */
static const int shapes[][3] = {{1024, 1024, 1024}, {16, 784, 144}, {32, 196, 288}, {64, 49, 576}};
enum { NSHAPE = sizeof shapes / sizeof shapes[0] };

/* ---- child: measure under the environment it was given -------------------- */

static double gflops(int M, int N, int K)
{
    size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
    float *A = gn_xmalloc((na + nb + nc) * sizeof(float)), *B = A + na, *C = B + nb;
    for (size_t i = 0; i < na; i++) A[i] = (float)(i % 7) * 0.1f - 0.3f;
    for (size_t i = 0; i < nb; i++) B[i] = (float)(i % 5) * 0.1f - 0.2f;
    gn_sgemm(0, 0, M, N, K, 1, A, K, B, N, 0, C, N);
    double t0 = gn_now();
    int reps = 1;
    while (gn_now() - t0 < 0.02) gn_sgemm(0, 0, M, N, K, 1, A, K, B, N, 0, C, N), reps++;
    double best = 0;
    for (int b = 0; b < 5; b++) {
        t0 = gn_now();
        for (int r = 0; r < reps; r++) gn_sgemm(0, 0, M, N, K, 1, A, K, B, N, 0, C, N);
        double g = 2.0 * M * N * (double)K * reps / (gn_now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(A);
    return best;
}

static int child(const char *argv0)
{
    gn_cli_init(argv0);
    gn_blas_init(); /* genie's start-up: may re-execute this child */
    const gn_blas_state *s = gn_blas_get();
    static const char *by[] = {"openblas", "user", "genie", "fallback", "reference"};
    printf("kernel %s %s %d\n", s->kernel, by[s->by], gn_get_threads());
    for (int i = 0; i < NSHAPE; i++)
        printf("gemm %d %.2f\n", i, gflops(shapes[i][0], shapes[i][1], shapes[i][2]));
    return 0;
}

/* ---- parent -------------------------------------------------------------------- */

/* environ without the variables in `drop`, plus `add` ("K=V" strings) */
static char **env_with(const char *const *drop, const char *const *add)
{
    size_t n = 0, k = 0;
    while (environ[n]) n++;
    char **e = gn_xcalloc(n + 8, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        int skip = 0;
        for (const char *const *d = drop; *d; d++) {
            size_t l = strlen(*d);
            if (!strncmp(environ[i], *d, l) && environ[i][l] == '=') skip = 1;
        }
        if (!skip) e[k++] = environ[i];
    }
    for (const char *const *a = add; *a; a++) e[k++] = (char *)*a;
    e[k] = NULL;
    return e;
}

/* Runs path with argv and envp, returns its stdout (malloc'd) or NULL. */
static char *capture(const char *path, char *const argv[], char *const envp[])
{
    int fd[2];
    if (pipe(fd)) return NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return NULL;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execve(path, argv, envp);
        _exit(127);
    }
    close(fd[1]);
    size_t len = 0, cap = 4096;
    char *buf = gn_xmalloc(cap);
    ssize_t r;
    while ((r = read(fd[0], buf + len, cap - len - 1)) > 0 || (r < 0 && errno == EINTR)) {
        if (r < 0) continue;
        len += (size_t)r;
        if (cap - len < 2) {
            buf = realloc(buf, cap *= 2);
            GN_ASSERT(buf);
        }
    }
    buf[len] = 0;
    close(fd[0]);
    int st;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st)) {
        free(buf);
        return NULL;
    }
    return buf;
}

static const char *const DROP[] = {"OPENBLAS_CORETYPE",
                                   "GENIE_NO_REEXEC",
                                   "GENIE_BLAS_TEST_AUTO",
                                   "GENIE_BLAS_SELFTEST_FAIL",
                                   "GENIE_BLAS_REEXEC",
                                   "GENIE_VERBOSE",
                                   NULL};

struct cfg {
    const char *label;
    const char *add[4];
    char kernel[32], by[16];
    int threads;
    double g[NSHAPE]; /* best GFLOP/s */
};

static const char *find_line(const char *out, const char *prefix)
{
    const char *p = strstr(out, prefix);
    return p ? p + strlen(prefix) : NULL;
}

int main(int argc, char **argv)
{
    int rounds = 3, engine = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--child")) return child(argv[0]);
        if (!strcmp(argv[i], "--no-engine"))
            engine = 0;
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_blas [--rounds N] [--no-engine]\n");
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
    char self[PATH_MAX];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0) {
        fprintf(stderr, "bench_blas: cannot find myself in /proc/self/exe\n");
        return 1;
    }
    self[sl] = 0;
    const char *user = getenv("OPENBLAS_CORETYPE");
    static char user_kv[128], user_label[128];
    snprintf(user_kv, sizeof user_kv, "OPENBLAS_CORETYPE=%s", user ? user : "");
    snprintf(user_label, sizeof user_label, "environment (OPENBLAS_CORETYPE=%s)", user ? user : "");
    struct cfg cfgs[] = {
        {.label = "OpenBLAS left alone", .add = {"GENIE_NO_REEXEC=1"}},
        {.label = "genie's choice"},
        {.label = user_label, .add = {user_kv}},
        {.label = "Prescott, left alone",
         .add = {"OPENBLAS_CORETYPE=Prescott", "GENIE_BLAS_TEST_AUTO=1", "GENIE_NO_REEXEC=1"}},
        {.label = "genie from Prescott",
         .add = {"OPENBLAS_CORETYPE=Prescott", "GENIE_BLAS_TEST_AUTO=1"}},
    };
    const int ncfg = sizeof cfgs / sizeof cfgs[0];
    char *cargv[] = {self, "--child", NULL};
    for (int r = 0; r < rounds; r++)
        for (int c = 0; c < ncfg; c++) {
            if (c == 2 && !user) continue;
            char **envp = env_with(DROP, cfgs[c].add);
            char *out = capture(self, cargv, envp);
            free(envp);
            if (!out) {
                fprintf(stderr, "bench_blas: the run '%s' failed\n", cfgs[c].label);
                return 1;
            }
            const char *k = find_line(out, "kernel ");
            if (k) sscanf(k, "%31s %15s %d", cfgs[c].kernel, cfgs[c].by, &cfgs[c].threads);
            for (int i = 0; i < NSHAPE; i++) {
                char key[16];
                snprintf(key, sizeof key, "gemm %d ", i);
                const char *v = find_line(out, key);
                double g = v ? atof(v) : 0;
                if (g > cfgs[c].g[i]) cfgs[c].g[i] = g;
            }
            free(out);
        }

    printf("sgemm GFLOP/s, %d threads, best of %d interleaved rounds (M x N x K)\n",
           cfgs[0].threads, rounds);
    printf("  %-40s %-11s %-9s", "environment", "kernel", "chosen by");
    for (int i = 0; i < NSHAPE; i++) {
        char s[32];
        snprintf(s, sizeof s, "%dx%dx%d", shapes[i][0], shapes[i][1], shapes[i][2]);
        printf(" %14s", s);
    }
    printf("\n");
    for (int c = 0; c < ncfg; c++) {
        if (c == 2 && !user) continue;
        printf("  %-40s %-11s %-9s", cfgs[c].label, cfgs[c].kernel, cfgs[c].by);
        for (int i = 0; i < NSHAPE; i++) printf(" %14.1f", cfgs[c].g[i]);
        printf("\n");
    }
    static const int ratio[][2] = {{1, 0}, {4, 3}, {1, 2}};
    static const char *rname[] = {"ratio genie's choice / left alone", "ratio genie / Prescott",
                                  "ratio genie's choice / environment"};
    for (int q = 0; q < 3; q++) {
        int a = ratio[q][0], b = ratio[q][1];
        if (b == 2 && !user) continue;
        printf("  %-62s", rname[q]);
        for (int i = 0; i < NSHAPE; i++)
            printf(" %14.2f", cfgs[b].g[i] > 0 ? cfgs[a].g[i] / cfgs[b].g[i] : 0);
        printf("\n");
    }
    if (!strcmp(cfgs[0].kernel, cfgs[1].kernel))
        printf("  (genie kept OpenBLAS's %s: the first ratio compares a kernel with itself and "
               "shows the machine's noise)\n",
               cfgs[0].kernel);
    fflush(stdout);
    if (!engine) return 0;

    /* the engine under each distinct kernel: bench_engine sets no kernel of
     * its own, so OPENBLAS_CORETYPE decides */
    char eng[PATH_MAX + 16];
    snprintf(eng, sizeof eng, "%s", self);
    char *slash = strrchr(eng, '/');
    snprintf(slash + 1, sizeof eng - (size_t)(slash + 1 - eng), "bench_engine");
    if (access(eng, X_OK)) {
        printf("engine: %s not built; skipped\n", eng);
        return 0;
    }
    printf("engine (bench_engine: ResNet-20, batch 128) under each distinct kernel, best of %d\n",
           rounds > 2 ? 2 : rounds);
    printf("  %-40s %-11s %12s %12s %16s\n", "environment", "kernel", "sgemm GF/s", "fwd img/s",
           "fwd+bwd img/s");
    struct eng {
        char label[128], kernel[32];
        double sg, fw, fb;
    } er[8];
    int ne = 0, row[sizeof cfgs / sizeof cfgs[0]];
    for (int c = 0; c < ncfg; c++) {
        row[c] = -1;
        if ((c == 2 && !user) || !cfgs[c].kernel[0]) continue;
        for (int e = 0; e < ne; e++)
            if (!strcmp(er[e].kernel, cfgs[c].kernel)) row[c] = e;
        if (row[c] >= 0) {
            size_t l = strlen(er[row[c]].label);
            snprintf(er[row[c]].label + l, sizeof er[row[c]].label - l, " = %s", cfgs[c].label);
            continue;
        }
        row[c] = ne;
        snprintf(er[ne].label, sizeof er[ne].label, "%s", cfgs[c].label);
        snprintf(er[ne].kernel, sizeof er[ne].kernel, "%s", cfgs[c].kernel);
        er[ne].sg = er[ne].fw = er[ne].fb = 0;
        ne++;
    }
    char *eargv[] = {eng, NULL};
    for (int r = 0; r < (rounds > 2 ? 2 : rounds); r++)
        for (int e = 0; e < ne; e++) {
            char kv[64];
            /* the kernel the sgemm runs showed; "left alone" runs unset (0.3.21
             * cannot force every kernel it picks by itself, e.g. Cooperlake) */
            snprintf(kv, sizeof kv, "OPENBLAS_CORETYPE=%s", er[e].kernel);
            const char *add_set[] = {kv, "GENIE_NO_REEXEC=1", NULL};
            const char *add_unset[] = {"GENIE_NO_REEXEC=1", NULL};
            char **envp =
                env_with(DROP, !strcmp(er[e].kernel, cfgs[0].kernel) ? add_unset : add_set);
            char *out = capture(eng, eargv, envp);
            free(envp);
            if (!out) {
                fprintf(stderr, "bench_blas: bench_engine failed under %s\n", er[e].kernel);
                return 1;
            }
            const char *p;
            double v;
            if ((p = find_line(out, "GFLOP/s")) && (p = strstr(out, "sgemm ")) &&
                sscanf(strchr(p, ':') + 1, "%lf", &v) == 1 && v > er[e].sg)
                er[e].sg = v;
            if ((p = find_line(out, "resnet20 forward, batch ")) &&
                sscanf(strchr(p, ':') + 1, "%lf", &v) == 1 && v > er[e].fw)
                er[e].fw = v;
            if ((p = find_line(out, "resnet20 forward+backward, batch ")) &&
                sscanf(strchr(p, ':') + 1, "%lf", &v) == 1 && v > er[e].fb)
                er[e].fb = v;
            free(out);
        }
    for (int e = 0; e < ne; e++)
        printf("  %-40s %-11s %12.1f %12.0f %16.0f\n", er[e].label, er[e].kernel, er[e].sg,
               er[e].fw, er[e].fb);
    for (int q = 0; q < 3; q++) {
        int a = ratio[q][0], b = ratio[q][1];
        if (row[a] < 0 || row[b] < 0) continue;
        const struct eng *x = &er[row[a]], *y = &er[row[b]];
        printf("  %-40s forward %.2f, forward+backward %.2f\n", rname[q],
               y->fw > 0 ? x->fw / y->fw : 0, y->fb > 0 ? x->fb / y->fb : 0);
    }
    return 0;
}
