/* blas.c - the sgemm wrapper and its reference twin, OpenBLAS threads, and
 * the start-up kernel check (see gn_blas.h, genie-blas(7)). Nothing else in
 * genie calls CBLAS directly.
 *
 * Why a re-execution: a DYNAMIC_ARCH OpenBLAS picks its kernel table in a
 * constructor that runs when the library loads, before any genie code, and
 * reads OPENBLAS_CORETYPE only then. The one way to change the kernel that
 * really takes effect is to start the program again with the variable set.
 *
 * What it deliberately does not do: reach into OpenBLAS's internal tables,
 * or time kernels to choose one. */
#include "gn_blas.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "gn_cli.h"
#include "gn_err.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define GN_HAVE_CPUID 1
#endif

static int use_ref; /* gn_sgemm runs gn_sgemm_ref */

/* ---- products -------------------------------------------------------------- */

void gn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc)
{
    if (use_ref) {
        gn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* op(A)[i][k] and op(B)[k][j] of row-major storage */
#define OPA(i, k)                                                                                  \
    (ta ? A[(size_t)(k) * (size_t)lda + (size_t)(i)] : A[(size_t)(i) * (size_t)lda + (size_t)(k)])
#define OPB(k, j)                                                                                  \
    (tb ? B[(size_t)(j) * (size_t)ldb + (size_t)(k)] : B[(size_t)(k) * (size_t)ldb + (size_t)(j)])

void gn_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)OPA(i, k) * (double)OPB(k, j);
            float *c = &C[(size_t)i * (size_t)ldc + (size_t)j];
            /* beta == 0: C is not read (it may hold NaN), as in BLAS */
            *c = (float)((double)alpha * s + (beta != 0.0f ? (double)beta * (double)*c : 0.0));
        }
}

void gn_set_threads(int n) { openblas_set_num_threads(n < 1 ? 1 : n); }
int gn_get_threads(void) { return openblas_get_num_threads(); }
void gn_blas_set_reference(int on) { use_ref = on != 0; }

/* ---- CPU features ------------------------------------------------------------ */

#ifdef GN_HAVE_CPUID
static uint64_t xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

unsigned gn_cpu_features(char *brand, size_t n)
{
    if (brand && n) *brand = 0;
#ifdef GN_HAVE_CPUID
    unsigned a, b, c, d, f = GN_CPU_X86;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    if (c & (1u << 0)) f |= GN_CPU_SSE3;
    if (c & (1u << 12)) f |= GN_CPU_FMA;
    if (c & (1u << 28)) f |= GN_CPU_AVX;
    if (c & (1u << 27)) { /* OSXSAVE: xgetbv is allowed */
        uint64_t x = xcr0();
        if ((x & 0x6) == 0x6) f |= GN_CPU_OS_YMM;
        if ((x & 0xe6) == 0xe6) f |= GN_CPU_OS_ZMM;
    }
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (b & (1u << 5)) f |= GN_CPU_AVX2;
        if (b & (1u << 16)) f |= GN_CPU_AVX512F;
        if (b & (1u << 17)) f |= GN_CPU_AVX512DQ;
        if (b & (1u << 30)) f |= GN_CPU_AVX512BW;
        if (b & (1u << 31)) f |= GN_CPU_AVX512VL;
        if (a >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            if (a & (1u << 5)) f |= GN_CPU_AVX512BF16;
        }
    }
    if (brand && n > 1 && __get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned r[12];
        for (unsigned l = 0; l < 3; l++)
            __get_cpuid(0x80000002u + l, &r[4 * l], &r[4 * l + 1], &r[4 * l + 2], &r[4 * l + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        snprintf(brand, n, "%s", p);
        for (size_t k = strlen(brand); k > 0 && brand[k - 1] == ' '; k--) brand[k - 1] = 0;
    }
    return f;
#else
    return 0;
#endif
}

void gn_cpu_feature_names(unsigned feat, char *buf, size_t n)
{
    static const struct {
        unsigned bit;
        const char *name;
    } t[] = {{GN_CPU_SSE3, "sse3"},
             {GN_CPU_AVX, "avx"},
             {GN_CPU_FMA, "fma"},
             {GN_CPU_AVX2, "avx2"},
             {GN_CPU_AVX512F, "avx512f"},
             {GN_CPU_AVX512BW, "avx512bw"},
             {GN_CPU_AVX512DQ, "avx512dq"},
             {GN_CPU_AVX512VL, "avx512vl"},
             {GN_CPU_AVX512BF16, "avx512_bf16"},
             {GN_CPU_OS_YMM, "os-ymm"},
             {GN_CPU_OS_ZMM, "os-zmm"}};
    size_t len = 0;
    if (n) *buf = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if ((feat & t[i].bit) && len < n) {
            int w = snprintf(buf + len, n - len, "%s%s", len ? " " : "", t[i].name);
            if (w > 0) len += (size_t)w;
        }
}

/* ---- kernels ------------------------------------------------------------------ */

/* Every core name OpenBLAS 0.3.x reports on x86, by the ISA of its kernels.
 * Vendor-tuned AVX2 tables (Zen, Excavator) count as AVX2 so genie never
 * second-guesses a choice OpenBLAS made on purpose. */
static const struct {
    const char *name;
    int isa;
} cores[] = {
    {"Katmai", GN_ISA_SSE3},       {"Coppermine", GN_ISA_SSE3},       {"Northwood", GN_ISA_SSE3},
    {"Prescott", GN_ISA_SSE3},     {"Banias", GN_ISA_SSE3},           {"Atom", GN_ISA_SSE3},
    {"Core2", GN_ISA_SSE3},        {"Penryn", GN_ISA_SSE3},           {"Dunnington", GN_ISA_SSE3},
    {"Nehalem", GN_ISA_SSE3},      {"Athlon", GN_ISA_SSE3},           {"Opteron", GN_ISA_SSE3},
    {"Opteron_SSE3", GN_ISA_SSE3}, {"Barcelona", GN_ISA_SSE3},        {"Nano", GN_ISA_SSE3},
    {"Bobcat", GN_ISA_SSE3},       {"Sandybridge", GN_ISA_AVX},       {"Bulldozer", GN_ISA_AVX},
    {"Piledriver", GN_ISA_AVX},    {"Steamroller", GN_ISA_AVX},       {"Haswell", GN_ISA_AVX2},
    {"Zen", GN_ISA_AVX2},          {"Excavator", GN_ISA_AVX2},        {"SkylakeX", GN_ISA_AVX512},
    {"Cooperlake", GN_ISA_AVX512}, {"SapphireRapids", GN_ISA_AVX512},
};

int gn_blas_isa(const char *core)
{
    if (!core) return GN_ISA_UNKNOWN;
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(core, cores[i].name)) return cores[i].isa;
    return GN_ISA_UNKNOWN;
}

const char *gn_blas_isa_name(int isa)
{
    static const char *n[] = {"sse3", "avx", "avx2", "avx512"};
    return isa >= GN_ISA_SSE3 && isa <= GN_ISA_AVX512 ? n[isa] : "unknown";
}

int gn_cpu_isa(unsigned f)
{
    if (!(f & GN_CPU_X86)) return GN_ISA_UNKNOWN;
    const unsigned avx = GN_CPU_AVX | GN_CPU_OS_YMM, avx2 = avx | GN_CPU_AVX2 | GN_CPU_FMA,
                   avx512 = avx2 | GN_CPU_AVX512F | GN_CPU_AVX512BW | GN_CPU_AVX512DQ |
                            GN_CPU_AVX512VL | GN_CPU_OS_ZMM;
    if ((f & avx512) == avx512) return GN_ISA_AVX512;
    if ((f & avx2) == avx2) return GN_ISA_AVX2;
    if ((f & avx) == avx) return GN_ISA_AVX;
    return GN_ISA_SSE3;
}

const char *gn_blas_isa_kernel(int isa)
{
    static const char *k[] = {"Prescott", "Sandybridge", "Haswell", "SkylakeX"};
    return isa >= GN_ISA_SSE3 && isa <= GN_ISA_AVX512 ? k[isa] : NULL;
}

const char *gn_blas_pick(const char *core, unsigned feat, int user_set)
{
    int have = gn_blas_isa(core), can = gn_cpu_isa(feat);
    if (user_set || have == GN_ISA_UNKNOWN || can == GN_ISA_UNKNOWN || have >= can) return NULL;
    return gn_blas_isa_kernel(can);
}

int gn_blas_failed_has(const char *failed, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = failed; p && *p;) {
        const char *e = p + strcspn(p, ",");
        size_t len = strcspn(p, ":,");
        if (len == n && !strncasecmp(p, name, n)) return 1;
        p = *e ? e + 1 : e;
    }
    return 0;
}

const char *gn_blas_fallback(const char *core, unsigned feat, const char *failed)
{
    int can = gn_cpu_isa(feat), have = gn_blas_isa(core);
    if (can == GN_ISA_UNKNOWN) return NULL;
    /* an unknown kernel: start from what the CPU can run */
    int below = have == GN_ISA_UNKNOWN ? can + 1 : have;
    if (below > can + 1) below = can + 1;
    for (int isa = below - 1; isa >= GN_ISA_SSE3; isa--) {
        const char *k = gn_blas_isa_kernel(isa);
        if (!gn_blas_failed_has(failed, k)) return k;
    }
    /* an SSE3-era kernel other than Prescott (Nehalem, Core2, ...) */
    if (have == GN_ISA_SSE3 && strcasecmp(core, "Prescott") &&
        !gn_blas_failed_has(failed, "Prescott"))
        return "Prescott";
    return NULL;
}

/* ---- self-test -------------------------------------------------------------- */

/* A product shape: op(A) (M,K), op(B) (K,N), leading dimensions padded by
 * `pad`; `every` checks one entry in that many directly (1 = all), the
 * rest through weighted row and column sums. */
struct st_case {
    int ta, tb, M, N, K, pad;
    float alpha, beta;
    int nan_c, every;
};
enum { ST_MAX = 160 }; /* no dimension above this */
static const struct st_case st_cases[] = {
    /* below 100^3 multiply-adds: OpenBLAS's small-matrix kernels on
     * AVX-512, one per transpose pair; odd sizes hit the edge cases */
    {0, 0, 23, 19, 37, 0, 1.5f, 0.5f, 0, 1},
    {0, 1, 17, 29, 31, 3, 1.0f, 0.0f, 1, 1},
    {1, 0, 29, 21, 40, 0, -0.5f, 1.0f, 0, 1},
    {1, 1, 13, 11, 9, 2, 2.0f, 0.25f, 0, 1},
    /* above 100^3 (or, for TN, M*N > 1200): the blocked kernels, their
     * edge cases and pack routines, shaped like a convolution's forward
     * W.col (NN), weight gradient dY.col^T (NT) and column gradient
     * W^T.dY (TN) */
    {0, 0, 67, 131, 125, 0, 1.0f, 0.0f, 1, 29},
    {0, 1, 131, 67, 125, 0, 1.0f, 1.0f, 0, 29},
    {1, 0, 45, 53, 67, 0, 1.0f, 0.0f, 0, 7},
};

/* multiples of 1/8 in [-1/2, 1/2]: with K <= 160 every product and
 * partial sum (and every weighted row or column sum below) is exact, so a
 * correct kernel matches the reference exactly whatever order it adds in;
 * `nonzero` leaves 0 out (for weights) */
static void st_fill(float *v, size_t n, unsigned seed, int nonzero)
{
    uint32_t h = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        h = h * 1664525u + 1013904223u;
        int q = (int)((h >> 16) % 9u) - 4;
        v[i] = (float)(nonzero && !q ? 1 : q) * 0.125f;
    }
}

/* element counts of a case's A, B and C (with padding) */
static void st_sizes(const struct st_case *t, size_t *na, size_t *nb, size_t *nc)
{
    *na = (size_t)(t->ta ? t->K : t->M) * (size_t)((t->ta ? t->M : t->K) + t->pad);
    *nb = (size_t)(t->tb ? t->N : t->K) * (size_t)((t->tb ? t->K : t->N) + t->pad);
    *nc = (size_t)t->M * (size_t)(t->N + t->pad);
}

static double rel_err(double got, double ref, double mag)
{
    double e = fabs(got - ref) / (mag > 0 ? mag : 1.0);
    return isnan(e) ? INFINITY : e;
}

/* Runs one case in `buf` (room for A, B, C and a copy of C); returns the
 * worst relative error found. Entries not checked directly are checked
 * through C.x against A.(B.x) and y.C against (y.A).B with nonzero
 * weights x, y: in exact arithmetic one wrong entry always shows, and two
 * would have to cancel in both its row and its column. */
static double st_case_run(const struct st_case *t, int inject, float *buf)
{
    const int ta = t->ta, tb = t->tb, M = t->M, N = t->N, K = t->K;
    const int lda = (ta ? M : K) + t->pad, ldb = (tb ? K : N) + t->pad, ldc = N + t->pad;
    const double al = t->alpha, be = t->beta;
    GN_ASSERT(M <= ST_MAX && N <= ST_MAX && K <= ST_MAX);
    size_t na, nb, nc;
    st_sizes(t, &na, &nb, &nc);
    float *A = buf, *B = A + na, *C = B + nb, *C0 = C + nc;
    st_fill(A, na, (unsigned)(M * 7 + K), 0);
    st_fill(B, nb, (unsigned)(N * 13 + K), 0);
    st_fill(C0, nc, (unsigned)(M + N), 0);
    if (t->nan_c)
        for (size_t i = 0; i < nc; i++) C0[i] = NAN;
    memcpy(C, C0, nc * sizeof(float));
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, t->alpha, A, lda, B, ldb, t->beta, C, ldc);
    if (inject) C[0] += 1.0f;
#define CIJ(P, i, j) ((double)P[(size_t)(i) * (size_t)ldc + (size_t)(j)])
    double worst = 0;
    /* entries, directly */
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            if (((size_t)i * (size_t)N + (size_t)j) % (size_t)t->every) continue;
            double s = 0, mag = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)OPA(i, k) * (double)OPB(k, j);
                s += p;
                mag += fabs(p);
            }
            double c0 = be != 0 ? be * CIJ(C0, i, j) : 0;
            worst = fmax(worst, rel_err(CIJ(C, i, j), al * s + c0, fabs(al) * mag + fabs(c0)));
        }
    if (t->every == 1) return worst;
    /* rows: C.x against alpha A.(B.x) + beta C0.x */
    float xf[ST_MAX], yf[ST_MAX];
    double bx[ST_MAX], bxa[ST_MAX], ya[ST_MAX], yaa[ST_MAX];
    st_fill(xf, (size_t)N, 7u, 1);
    st_fill(yf, (size_t)M, 11u, 1);
    for (int k = 0; k < K; k++) {
        bx[k] = bxa[k] = 0;
        for (int j = 0; j < N; j++) {
            bx[k] += (double)OPB(k, j) * xf[j];
            bxa[k] += fabs((double)OPB(k, j) * xf[j]);
        }
    }
    for (int i = 0; i < M; i++) {
        double got = 0, ref = 0, mag = 0;
        for (int j = 0; j < N; j++) {
            got += CIJ(C, i, j) * xf[j];
            if (be != 0) ref += be * CIJ(C0, i, j) * xf[j], mag += fabs(be * CIJ(C0, i, j) * xf[j]);
        }
        for (int k = 0; k < K; k++) {
            ref += al * (double)OPA(i, k) * bx[k];
            mag += fabs(al * (double)OPA(i, k)) * bxa[k];
        }
        worst = fmax(worst, rel_err(got, ref, mag));
    }
    /* columns: y.C against alpha (y.A).B + beta y.C0 */
    for (int k = 0; k < K; k++) {
        ya[k] = yaa[k] = 0;
        for (int i = 0; i < M; i++) {
            ya[k] += (double)yf[i] * (double)OPA(i, k);
            yaa[k] += fabs((double)yf[i] * (double)OPA(i, k));
        }
    }
    for (int j = 0; j < N; j++) {
        double got = 0, ref = 0, mag = 0;
        for (int i = 0; i < M; i++) {
            got += (double)yf[i] * CIJ(C, i, j);
            if (be != 0) ref += be * yf[i] * CIJ(C0, i, j), mag += fabs(be * yf[i] * CIJ(C0, i, j));
        }
        for (int k = 0; k < K; k++) {
            ref += al * ya[k] * (double)OPB(k, j);
            mag += fabs(al) * yaa[k] * fabs((double)OPB(k, j));
        }
        worst = fmax(worst, rel_err(got, ref, mag));
    }
#undef CIJ
    return worst;
}

int gn_blas_selftest(int inject, double *err, double *ms)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const size_t ncase = sizeof st_cases / sizeof st_cases[0];
    size_t most = 0;
    for (size_t c = 0; c < ncase; c++) {
        size_t na, nb, nc;
        st_sizes(&st_cases[c], &na, &nb, &nc);
        if (na + nb + 2 * nc > most) most = na + nb + 2 * nc;
    }
    float *buf = gn_xmalloc(most * sizeof(float));
    /* one thread: the kernels and pack routines are what differ between
     * kernel tables (the threaded driver is common code), and waking
     * OpenBLAS's thread pool the first time costs milliseconds */
    int nt = openblas_get_num_threads();
    openblas_set_num_threads(1);
    double worst = 0;
    for (size_t c = 0; c < ncase; c++) {
        double e = st_case_run(&st_cases[c], inject && c == 0, buf);
        if (!(e <= worst)) worst = e;
    }
    openblas_set_num_threads(nt);
    free(buf);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (err) *err = worst;
    if (ms) *ms = 1e3 * (double)(t1.tv_sec - t0.tv_sec) + 1e-6 * (double)(t1.tv_nsec - t0.tv_nsec);
    return worst <= 1e-6 ? 0 : -1;
}

/* ---- the re-execution marker ---------------------------------------------- */

static int field(const char **p, const char *key, char *out, size_t n)
{
    size_t k = strlen(key);
    if (strncmp(*p, key, k)) return -1;
    const char *v = *p + k, *e = v + strcspn(v, ";");
    if ((size_t)(e - v) >= n || *e != ';') return -1;
    memcpy(out, v, (size_t)(e - v));
    out[e - v] = 0;
    *p = e + 1;
    return 0;
}

int gn_blas_marker_parse(const char *s, gn_blas_marker *m)
{
    memset(m, 0, sizeof *m);
    char num[16];
    const char *p = s;
    if (!s || field(&p, "n=", num, sizeof num) || field(&p, "auto=", m->autok, sizeof m->autok) ||
        field(&p, "want=", m->want, sizeof m->want) ||
        field(&p, "fail=", m->failed, sizeof m->failed))
        goto bad;
    char *end;
    long n = strtol(num, &end, 10);
    if (!*num || *end || n < 0 || n > 100) goto bad;
    m->n = (int)n;
    if (*p) {
        if (strncmp(p, "env=", 4) || strlen(p + 4) >= sizeof m->env) goto bad;
        strcpy(m->env, p + 4);
        m->has_env = 1;
    }
    return 0;
bad:
    memset(m, 0, sizeof *m);
    return -1;
}

int gn_blas_marker_format(const gn_blas_marker *m, char *buf, size_t n)
{
    if (strchr(m->autok, ';') || strchr(m->want, ';') || strchr(m->failed, ';')) return -1;
    int w = m->has_env ? snprintf(buf, n, "n=%d;auto=%s;want=%s;fail=%s;env=%s", m->n, m->autok,
                                  m->want, m->failed, m->env)
                       : snprintf(buf, n, "n=%d;auto=%s;want=%s;fail=%s;", m->n, m->autok, m->want,
                                  m->failed);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* ---- start-up --------------------------------------------------------------- */

static gn_blas_state st;
static int said;
static char **saved_argv;

/* glibc hands argc, argv and envp to the executable's constructors; the
 * re-execution needs argv before main has parsed (and permuted) it. */
__attribute__((constructor)) static void save_argv(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)envp;
    saved_argv = argv;
}

/* GENIE_BLAS_SELFTEST_FAIL (testing only): "1" fails the first kernel
 * tested in this run, "all" every kernel, else a comma-separated list of
 * kernel names. */
static int inject_for(const char *kernel, const char *failed)
{
    const char *v = getenv("GENIE_BLAS_SELFTEST_FAIL");
    if (!v || !*v || !strcmp(v, "0")) return 0;
    if (!strcmp(v, "1")) return !*failed;
    if (!strcasecmp(v, "all")) return 1;
    return gn_blas_failed_has(v, kernel);
}

static void failed_add(char *failed, size_t n, const char *kernel, double err)
{
    size_t len = strlen(failed);
    char e[16];
    if (isinf(err))
        snprintf(e, sizeof e, "inf");
    else
        snprintf(e, sizeof e, "%.1e", err);
    snprintf(failed + len, n - len, "%s%s:%s", len ? "," : "", kernel, e);
}

/* Replaces the process with OPENBLAS_CORETYPE=m->want; returns only when
 * that failed (the environment is then as it was, st.problem says why). */
static void reexec(const gn_blas_marker *m)
{
    char buf[512];
    if (!saved_argv || !saved_argv[0]) {
        snprintf(st.problem, sizeof st.problem, "the program's arguments are unknown");
        return;
    }
    if (gn_blas_marker_format(m, buf, sizeof buf)) {
        snprintf(st.problem, sizeof st.problem, "OPENBLAS_CORETYPE is too long to carry over");
        return;
    }
    setenv("OPENBLAS_CORETYPE", m->want, 1);
    setenv("GENIE_BLAS_REEXEC", buf, 1);
    fflush(NULL);
    execv("/proc/self/exe", saved_argv);
    int e = errno;
    unsetenv("GENIE_BLAS_REEXEC");
    if (m->has_env)
        setenv("OPENBLAS_CORETYPE", m->env, 1);
    else
        unsetenv("OPENBLAS_CORETYPE");
    snprintf(st.problem, sizeof st.problem, "cannot re-execute /proc/self/exe: %s", strerror(e));
}

/* "SkylakeX (error 1.0e+00), Haswell (needs avx512)" from a failed list */
static void failed_text(const char *failed, char *out, size_t n)
{
    size_t len = 0;
    *out = 0;
    for (const char *p = failed; *p && len < n;) {
        size_t l = strcspn(p, ":,");
        const char *e = p + l;
        char err[24] = "";
        if (*e == ':') {
            size_t el = strcspn(e + 1, ",");
            snprintf(err, sizeof err, "%.*s", (int)el, e + 1);
            e += 1 + el;
        }
        char kn[32];
        snprintf(kn, sizeof kn, "%.*s", (int)l, p);
        int isa = gn_blas_isa(kn);
        int w = !strcmp(err, "inf")
                    ? snprintf(out + len, n - len, "%s%s (needs %s, which this CPU lacks)",
                               len ? ", " : "", kn, gn_blas_isa_name(isa))
                    : snprintf(out + len, n - len, "%s%s (relative error %s)", len ? ", " : "", kn,
                               err);
        if (w > 0) len += (size_t)w;
        p = *e == ',' ? e + 1 : e;
    }
}

static void compose_note(void)
{
    const char *cpu = gn_blas_isa_name(gn_cpu_isa(st.feat));
    char ft[256];
    failed_text(st.failed, ft, sizeof ft);
    switch (st.by) {
    case GN_BLAS_BY_GENIE:
        snprintf(st.note, sizeof st.note,
                 "OpenBLAS %s: running %s kernels, chosen by genie for this %s CPU (OpenBLAS chose "
                 "%s); OPENBLAS_CORETYPE overrides, GENIE_NO_REEXEC=1 leaves OpenBLAS alone",
                 st.version, st.kernel, cpu, st.openblas_chose);
        break;
    case GN_BLAS_BY_USER: {
        char hint[128] = "";
        if (gn_blas_isa(st.kernel) < gn_cpu_isa(st.feat))
            snprintf(hint, sizeof hint,
                     "; this CPU could run %s (unset OPENBLAS_CORETYPE to let genie choose)",
                     gn_blas_isa_kernel(gn_cpu_isa(st.feat)));
        if (strcasecmp(st.env, st.kernel))
            snprintf(st.note, sizeof st.note,
                     "OpenBLAS %s: running %s kernels, which OpenBLAS chose itself because it does "
                     "not take OPENBLAS_CORETYPE=%s%s",
                     st.version, st.kernel, st.env, hint);
        else
            snprintf(st.note, sizeof st.note,
                     "OpenBLAS %s: running %s kernels from OPENBLAS_CORETYPE=%s%s", st.version,
                     st.kernel, st.env, hint);
        break;
    }
    case GN_BLAS_BY_OPENBLAS:
        snprintf(st.note, sizeof st.note,
                 "OpenBLAS %s: running %s kernels, as OpenBLAS chose for this %s CPU%s%s",
                 st.version, st.kernel, cpu, *st.problem ? "; genie could not change them: " : "",
                 st.problem);
        break;
    case GN_BLAS_BY_FALLBACK:
        snprintf(st.note, sizeof st.note,
                 "OpenBLAS %s: running %s kernels because the sgemm self-test failed with %s",
                 st.version, st.kernel, ft);
        break;
    default:
        snprintf(
            st.note, sizeof st.note,
            "genie's reference sgemm (correct, slow) because the OpenBLAS sgemm self-test failed "
            "with %s%s%s",
            ft, *st.problem ? "; " : "", st.problem);
        break;
    }
}

void gn_blas_say(void)
{
    if (said || !st.done) return;
    said = 1;
    gn_msg("%s", st.note);
}

void gn_blas_init(void)
{
    if (st.done) return;
    st.done = 1;
    snprintf(st.config, sizeof st.config, "%s", openblas_get_config());
    st.dynamic = strstr(st.config, "DYNAMIC_ARCH") != NULL;
    int par = openblas_get_parallel();
    st.parallel = par == 0 ? "sequential" : par == 1 ? "pthreads" : "openmp";
    if (sscanf(st.config, "OpenBLAS %31s", st.version) != 1)
        snprintf(st.version, sizeof st.version, "?");
    snprintf(st.kernel, sizeof st.kernel, "%s", openblas_get_corename());
    st.feat = gn_cpu_features(st.cpu, sizeof st.cpu);

    /* after a re-execution: the marker says what happened before; put the
     * environment back as the user gave it */
    const char *mk = getenv("GENIE_BLAS_REEXEC");
    int have_marker = mk != NULL;
    gn_blas_marker m;
    int marker_ok = have_marker && !gn_blas_marker_parse(mk, &m);
    if (!marker_ok) memset(&m, 0, sizeof m);
    if (have_marker) unsetenv("GENIE_BLAS_REEXEC");
    if (marker_ok) {
        if (m.has_env)
            setenv("OPENBLAS_CORETYPE", m.env, 1);
        else
            unsetenv("OPENBLAS_CORETYPE");
    }
    const char *env = getenv("OPENBLAS_CORETYPE");
    st.env_set = env != NULL;
    snprintf(st.env, sizeof st.env, "%s", env ? env : "");
    st.user_set = env && *env && !gn_env_flag("GENIE_BLAS_TEST_AUTO");
    if (marker_ok)
        snprintf(st.openblas_chose, sizeof st.openblas_chose, "%s", m.autok);
    else if (!st.user_set)
        snprintf(st.openblas_chose, sizeof st.openblas_chose, "%s", st.kernel);
    snprintf(st.failed, sizeof st.failed, "%s", m.failed);
    st.reexecs = m.n;

    /* why this process may not re-execute itself, if it may not */
    int ignored = marker_ok && *m.want && strcasecmp(m.want, st.kernel);
    char whynot[160] = "";
    if (gn_env_flag("GENIE_NO_REEXEC"))
        snprintf(whynot, sizeof whynot, "GENIE_NO_REEXEC is set");
    else if (!st.dynamic)
        snprintf(whynot, sizeof whynot, "OpenBLAS is not a DYNAMIC_ARCH build");
    else if (have_marker && !marker_ok)
        snprintf(whynot, sizeof whynot, "GENIE_BLAS_REEXEC is set but is not genie's");
    else if (ignored)
        snprintf(whynot, sizeof whynot, "OpenBLAS ignored OPENBLAS_CORETYPE=%s", m.want);
    else if (m.n >= 6)
        snprintf(whynot, sizeof whynot, "it re-executed itself %d times already", m.n);
    else if (st.env_set && strlen(st.env) + 1 >= sizeof st.env)
        snprintf(whynot, sizeof whynot, "OPENBLAS_CORETYPE is too long");
    if (ignored) snprintf(st.problem, sizeof st.problem, "%s", whynot);

    gn_blas_marker next = m; /* what the next process is told */
    next.n = m.n + 1;
    if (!marker_ok) {
        snprintf(next.autok, sizeof next.autok, "%s", st.openblas_chose);
        next.has_env = st.env_set;
        snprintf(next.env, sizeof next.env, "%s", st.env);
    }

    /* selection: on the first start only, never over the user's choice */
    const char *pick = gn_blas_pick(st.kernel, st.feat, st.user_set);
    if (pick) {
        if (*whynot)
            snprintf(st.problem, sizeof st.problem, "%s", whynot);
        else if (!have_marker) {
            snprintf(next.want, sizeof next.want, "%s", pick);
            reexec(&next); /* returns only on failure */
        }
    }

    /* the kernel in use must run on this CPU and give right answers */
    int can = gn_cpu_isa(st.feat), have = gn_blas_isa(st.kernel);
    double err = 0;
    int ok;
    if (can != GN_ISA_UNKNOWN && have > can) {
        ok = 0;
        err = INFINITY;
    } else {
        ok = !gn_blas_selftest(inject_for(st.kernel, st.failed), &err, &st.selftest_ms);
    }
    st.selftest_err = err;
    st.selftest_ok = ok;
    if (!ok) {
        failed_add(st.failed, sizeof st.failed, st.kernel, err);
        const char *fb = gn_blas_fallback(st.kernel, st.feat, st.failed);
        if (!fb)
            snprintf(st.problem, sizeof st.problem, "no older kernel is left to try");
        else if (*whynot)
            snprintf(st.problem, sizeof st.problem, "%s", whynot);
        else {
            snprintf(next.want, sizeof next.want, "%s", fb);
            snprintf(next.failed, sizeof next.failed, "%s", st.failed);
            reexec(&next); /* returns only on failure */
        }
        use_ref = 1;
    }

    if (use_ref)
        st.by = GN_BLAS_BY_REFERENCE, st.reference = 1;
    else if (*st.failed)
        st.by = GN_BLAS_BY_FALLBACK;
    else if (marker_ok && !ignored)
        st.by = GN_BLAS_BY_GENIE;
    else if (st.user_set)
        st.by = GN_BLAS_BY_USER;
    else
        st.by = GN_BLAS_BY_OPENBLAS;
    compose_note();
    if (st.by == GN_BLAS_BY_FALLBACK || st.by == GN_BLAS_BY_REFERENCE) {
        char ft[256];
        failed_text(st.failed, ft, sizeof ft);
        if (st.by == GN_BLAS_BY_FALLBACK)
            gn_warn("OpenBLAS sgemm self-test failed with %s; using %s kernels instead", ft,
                    st.kernel);
        else
            gn_warn("OpenBLAS sgemm self-test failed with %s%s%s; using genie's reference sgemm, "
                    "which is correct but slow",
                    ft, *st.problem ? "; " : "", st.problem);
    }
    if (gn_env_flag("GENIE_VERBOSE")) gn_blas_say();
}

const gn_blas_state *gn_blas_get(void) { return &st; }
