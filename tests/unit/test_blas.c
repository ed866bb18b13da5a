/* test_blas.c - the sgemm wrapper and its reference twin against
 * hand-computed products; gn_sgemm (OpenBLAS) against gn_sgemm_ref in every
 * transpose with alpha, beta and padded leading dimensions; the kernel
 * tables, selection and fallback on made-up CPUs; the re-execution marker;
 * the self-test (passes exactly, and fails when a result is corrupted);
 * cpuid against /proc/cpuinfo; and gn_blas_init in place (no re-execution:
 * bats covers that, tests/bats/blas.bats). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gn_blas.h"
#include "gn_blas_init.h"
#include "gn_blas_pick.h"
#include "gn_blas_selftest.h"
#include "gn_cpu.h"

/* ---- products ------------------------------------------------------------- */

static void test_ref_golden(void)
{
    /* A (2,3), B (3,2): A.B = [[58, 64], [139, 154]] */
    const float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {7, 8, 9, 10, 11, 12};
    const float At[6] = {1, 4, 2, 5, 3, 6}, Bt[6] = {7, 9, 11, 8, 10, 12};
    const float want[4] = {58, 64, 139, 154};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float C[4] = {NAN, NAN, NAN, NAN}; /* beta = 0: C is not read */
            gn_sgemm_ref(ta, tb, 2, 2, 3, 1.0f, ta ? At : A, ta ? 2 : 3, tb ? Bt : B, tb ? 3 : 2,
                         0.0f, C, 2);
            for (int i = 0; i < 4; i++) CHECK(C[i] == want[i]);
            float D[4] = {1, 2, 3, 4};
            gn_sgemm(ta, tb, 2, 2, 3, 0.5f, ta ? At : A, ta ? 2 : 3, tb ? Bt : B, tb ? 3 : 2, 2.0f,
                     D, 2);
            for (int i = 0; i < 4; i++) CHECK(D[i] == 0.5f * want[i] + 2.0f * (float)(i + 1));
        }
    /* a sub-block through leading dimensions: rows 1..2, cols 1..2 of a 3x4 */
    const float M34[12] = {0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0};
    const float I2[4] = {1, 0, 0, 1};
    float C[6] = {9, 9, 9, 9, 9, 9};
    gn_sgemm_ref(0, 0, 2, 2, 2, 1.0f, M34 + 5, 4, I2, 2, 0.0f, C, 3);
    CHECK(C[0] == 1 && C[1] == 2 && C[3] == 3 && C[4] == 4 && C[2] == 9 && C[5] == 9);
}

static unsigned rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void test_sgemm_vs_ref(void)
{
    static const int shapes[][3] = {{1, 1, 1},     {3, 5, 7},      {16, 16, 16}, {33, 17, 65},
                                    {64, 49, 576}, {16, 784, 144}, {130, 70, 90}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int t = 0; t < 4; t++) {
            int ta = t & 1, tb = t >> 1, M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
            int pad = (int)s % 3, lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
            size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb,
                   nc = (size_t)M * ldc;
            float *A = malloc(na * 4), *B = malloc(nb * 4), *C = malloc(nc * 4),
                  *R = malloc(nc * 4);
            for (size_t i = 0; i < na; i++) A[i] = frand();
            for (size_t i = 0; i < nb; i++) B[i] = frand();
            for (size_t i = 0; i < nc; i++) C[i] = R[i] = frand();
            float alpha = 0.75f, beta = t == 3 ? 0.0f : -0.5f;
            gn_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
            gn_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
            double worst = 0;
            for (size_t i = 0; i < nc; i++) worst = fmax(worst, fabs(C[i] - R[i]));
            /* K terms of magnitude <= 1 each, float accumulation */
            CHECK_NEAR(worst, 0, 1e-6 * K + 1e-6);
            free(A), free(B), free(C), free(R);
        }
}

static void test_reference_mode(void)
{
    enum { M = 9, N = 11, K = 13 };
    float A[M * K], B[K * N], C[M * N], R[M * N];
    for (int i = 0; i < M * K; i++) A[i] = frand();
    for (int i = 0; i < K * N; i++) B[i] = frand();
    gn_blas_set_reference(1);
    gn_sgemm(0, 0, M, N, K, 1, A, K, B, N, 0, C, N);
    gn_blas_set_reference(0);
    gn_sgemm_ref(0, 0, M, N, K, 1, A, K, B, N, 0, R, N);
    CHECK(!memcmp(C, R, sizeof C));
}

/* ---- kernels, selection, fallback ----------------------------------------------- */

enum {
    AVX = GN_CPU_X86 | GN_CPU_SSE3 | GN_CPU_AVX | GN_CPU_OS_YMM,
    AVX2 = AVX | GN_CPU_AVX2 | GN_CPU_FMA,
    AVX512 =
        AVX2 | GN_CPU_AVX512F | GN_CPU_AVX512BW | GN_CPU_AVX512DQ | GN_CPU_AVX512VL | GN_CPU_OS_ZMM,
};

static void test_tables(void)
{
    CHECK(gn_blas_isa("Prescott") == GN_ISA_SSE3);
    CHECK(gn_blas_isa("Nehalem") == GN_ISA_SSE3);
    CHECK(gn_blas_isa("Sandybridge") == GN_ISA_AVX);
    CHECK(gn_blas_isa("haswell") == GN_ISA_AVX2);
    CHECK(gn_blas_isa("Zen") == GN_ISA_AVX2);
    CHECK(gn_blas_isa("SKYLAKEX") == GN_ISA_AVX512);
    CHECK(gn_blas_isa("Cooperlake") == GN_ISA_AVX512);
    CHECK(gn_blas_isa("Unknown") == GN_ISA_UNKNOWN);
    CHECK(gn_blas_isa("NEOVERSEN1") == GN_ISA_UNKNOWN);
    CHECK(gn_blas_isa(NULL) == GN_ISA_UNKNOWN);
    CHECK(!strcmp(gn_blas_isa_name(GN_ISA_AVX512), "avx512"));
    CHECK(!strcmp(gn_blas_isa_name(GN_ISA_UNKNOWN), "unknown"));

    CHECK(gn_cpu_isa(0) == GN_ISA_UNKNOWN);
    CHECK(gn_cpu_isa(GN_CPU_X86 | GN_CPU_SSE3) == GN_ISA_SSE3);
    CHECK(gn_cpu_isa(AVX) == GN_ISA_AVX);
    CHECK(gn_cpu_isa(AVX & ~GN_CPU_OS_YMM) == GN_ISA_SSE3); /* OS without AVX state */
    CHECK(gn_cpu_isa(AVX2) == GN_ISA_AVX2);
    CHECK(gn_cpu_isa(AVX2 & ~GN_CPU_FMA) == GN_ISA_AVX);
    CHECK(gn_cpu_isa(AVX512) == GN_ISA_AVX512);
    CHECK(gn_cpu_isa(AVX512 & ~GN_CPU_OS_ZMM) == GN_ISA_AVX2);
    CHECK(gn_cpu_isa(AVX512 & ~GN_CPU_AVX512VL) == GN_ISA_AVX2);
    CHECK(gn_cpu_isa(AVX512 & ~GN_CPU_AVX512BW) == GN_ISA_AVX2);
    CHECK(!strcmp(gn_blas_isa_kernel(GN_ISA_AVX512), "SkylakeX"));
    CHECK(!strcmp(gn_blas_isa_kernel(GN_ISA_AVX2), "Haswell"));
    CHECK(gn_blas_isa_kernel(GN_ISA_UNKNOWN) == NULL);
}

static int is(const char *got, const char *want)
{
    return want ? got && !strcmp(got, want) : got == NULL;
}

static void test_pick(void)
{
    CHECK(is(gn_blas_pick("Prescott", AVX512, 0), "SkylakeX"));
    CHECK(is(gn_blas_pick("Prescott", AVX2, 0), "Haswell"));
    CHECK(is(gn_blas_pick("Prescott", AVX, 0), "Sandybridge"));
    CHECK(is(gn_blas_pick("Haswell", AVX512, 0), "SkylakeX"));
    CHECK(is(gn_blas_pick("Prescott", AVX512 & ~GN_CPU_OS_ZMM, 0), "Haswell"));
    /* the user's choice is kept, however old */
    CHECK(is(gn_blas_pick("Prescott", AVX512, 1), NULL));
    /* already as new as the CPU allows, or vendor-tuned for it */
    CHECK(is(gn_blas_pick("Cooperlake", AVX512, 0), NULL));
    CHECK(is(gn_blas_pick("SkylakeX", AVX512, 0), NULL));
    CHECK(is(gn_blas_pick("Zen", AVX2, 0), NULL));
    CHECK(is(gn_blas_pick("Haswell", AVX2, 0), NULL));
    CHECK(is(gn_blas_pick("Prescott", GN_CPU_X86 | GN_CPU_SSE3, 0), NULL));
    /* names genie does not know, and CPUs that are not x86 */
    CHECK(is(gn_blas_pick("Unknown", AVX512, 0), NULL));
    CHECK(is(gn_blas_pick("Prescott", 0, 0), NULL));
}

static void test_fallback(void)
{
    CHECK(is(gn_blas_fallback("SkylakeX", AVX512, "SkylakeX:1e+00"), "Haswell"));
    CHECK(is(gn_blas_fallback("Cooperlake", AVX512, "Cooperlake:1e+00"), "Haswell"));
    CHECK(is(gn_blas_fallback("Haswell", AVX512, "SkylakeX:1e+00,Haswell:1e+00"), "Sandybridge"));
    CHECK(is(gn_blas_fallback("Haswell", AVX512, "Haswell:1e+00,sandybridge:2e-01"), "Prescott"));
    CHECK(is(gn_blas_fallback("Zen", AVX2, "Zen:1e+00"), "Sandybridge"));
    CHECK(is(gn_blas_fallback("Sandybridge", AVX512, ""), "Prescott"));
    CHECK(is(gn_blas_fallback("Nehalem", AVX2, "Nehalem:1e+00"), "Prescott"));
    CHECK(is(gn_blas_fallback("Prescott", AVX512, "Prescott:1e+00"), NULL));
    CHECK(is(gn_blas_fallback("Nehalem", AVX2, "Nehalem:1,Prescott:1"), NULL));
    /* a forced kernel the CPU cannot run falls to what it can */
    CHECK(is(gn_blas_fallback("SkylakeX", AVX2, "SkylakeX:inf"), "Haswell"));
    CHECK(is(gn_blas_fallback("SkylakeX", GN_CPU_X86 | GN_CPU_SSE3, "SkylakeX:inf"), "Prescott"));
    /* an unknown kernel starts from what the CPU can run */
    CHECK(is(gn_blas_fallback("Unknown", AVX2, "Unknown:1"), "Haswell"));
    CHECK(is(gn_blas_fallback("Prescott", 0, "Prescott:1"), NULL));

    CHECK(gn_blas_failed_has("SkylakeX:1.0e+00,Haswell:inf", "haswell"));
    CHECK(gn_blas_failed_has("SkylakeX,Haswell", "SkylakeX"));
    CHECK(!gn_blas_failed_has("SkylakeX:1.0e+00", "Skylake"));
    CHECK(!gn_blas_failed_has("", "Prescott"));
}

/* ---- the marker ------------------------------------------------------------ */

static void test_marker(void)
{
    gn_blas_marker m = {0}, r;
    char buf[512];
    m.n = 2;
    strcpy(m.autok, "Prescott");
    strcpy(m.want, "Haswell");
    strcpy(m.failed, "SkylakeX:2.7e-01");
    strcpy(m.env, "odd;value=x");
    m.has_env = 1;
    CHECK(!gn_blas_marker_format(&m, buf, sizeof buf));
    CHECK(!gn_blas_marker_parse(buf, &r));
    CHECK(r.n == 2 && !strcmp(r.autok, "Prescott") && !strcmp(r.want, "Haswell"));
    CHECK(!strcmp(r.failed, "SkylakeX:2.7e-01") && r.has_env && !strcmp(r.env, "odd;value=x"));
    /* unset vs set-but-empty survive the trip */
    m.has_env = 0;
    m.env[0] = 0;
    CHECK(!gn_blas_marker_format(&m, buf, sizeof buf));
    CHECK(!gn_blas_marker_parse(buf, &r) && !r.has_env);
    m.has_env = 1;
    CHECK(!gn_blas_marker_format(&m, buf, sizeof buf));
    CHECK(!gn_blas_marker_parse(buf, &r) && r.has_env && !r.env[0]);
    CHECK(gn_blas_marker_format(&m, buf, 10) == -1);
    strcpy(m.want, "a;b");
    CHECK(gn_blas_marker_format(&m, buf, sizeof buf) == -1);
    /* anything else is not a marker */
    const char *bad[] = {"",
                         "junk",
                         "n=1",
                         "n=x;auto=;want=;fail=;",
                         "n=1;want=;auto=;fail=;",
                         "n=-1;auto=;want=;fail=;",
                         "n=1;auto=;want=;fail=;zz=1",
                         "n=1;auto=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA;want=;fail=;"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(gn_blas_marker_parse(bad[i], &r) == -1);
        CHECK(r.n == 0 && !r.has_env);
    }
    CHECK(gn_blas_marker_parse(NULL, &r) == -1);
}

/* ---- self-test, cpuid, init ------------------------------------------------------ */

static void test_selftest(void)
{
    double err = -1, ms = -1;
    CHECK(gn_blas_selftest(0, &err, &ms) == 0);
    CHECK(err == 0); /* exact inputs: any correct kernel is exact */
    CHECK(ms >= 0);
    CHECK(gn_blas_selftest(1, &err, &ms) == -1);
    CHECK(err > 1e-3);
    int nt = gn_get_threads();
    CHECK(gn_blas_selftest(0, NULL, NULL) == 0);
    CHECK(gn_get_threads() == nt); /* threads restored */
}

/* cpuid against the kernel's view in /proc/cpuinfo (Linux x86 only) */
static void test_cpuid(void)
{
    char brand[64], names[256];
    unsigned f = gn_cpu_features(brand, sizeof brand);
    gn_cpu_feature_names(f, names, sizeof names);
    FILE *fp = fopen("/proc/cpuinfo", "r");
    if (!fp || !(f & GN_CPU_X86)) {
        if (fp) fclose(fp);
        return;
    }
    char line[8192], flags[8192] = "";
    while (fgets(line, sizeof line, fp))
        if (!strncmp(line, "flags", 5)) {
            snprintf(flags, sizeof flags, " %s ", strchr(line, ':') + 1);
            break;
        }
    fclose(fp);
    for (char *p = flags; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
    static const struct {
        unsigned bit;
        const char *flag;
    } t[] = {{GN_CPU_AVX, " avx "},           {GN_CPU_FMA, " fma "},
             {GN_CPU_AVX2, " avx2 "},         {GN_CPU_AVX512F, " avx512f "},
             {GN_CPU_AVX512BW, " avx512bw "}, {GN_CPU_AVX512DQ, " avx512dq "},
             {GN_CPU_AVX512VL, " avx512vl "}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int in_proc = strstr(flags, t[i].flag) != NULL, in_cpuid = (f & t[i].bit) != 0;
        /* Linux hides a flag whose register state the OS does not save */
        if (in_proc != in_cpuid)
            fprintf(stderr, "feature%s: cpuid %d, /proc/cpuinfo %d\n", t[i].flag, in_cpuid,
                    in_proc);
        CHECK(in_proc == in_cpuid);
    }
    CHECK(strstr(names, "sse3") != NULL);
}

static void test_init(void)
{
    setenv("GENIE_NO_REEXEC", "1", 1);
    unsetenv("GENIE_BLAS_SELFTEST_FAIL");
    unsetenv("GENIE_BLAS_REEXEC");
    gn_blas_init();
    const gn_blas_state *s = gn_blas_get();
    CHECK(s->done);
    CHECK(s->kernel[0] != 0);
    CHECK(s->selftest_ok && !s->reference && !s->failed[0]);
    CHECK(s->reexecs == 0);
    CHECK(s->by == (s->user_set ? GN_BLAS_BY_USER : GN_BLAS_BY_OPENBLAS));
    CHECK(strncmp(s->config, "OpenBLAS ", 9) == 0 && s->version[0] != 0);
    CHECK(s->note[0] != 0);
    gn_blas_init(); /* once only */
    CHECK(s->reexecs == 0);
    /* the kernel in use can run here */
    int can = gn_cpu_isa(s->feat);
    CHECK(can == GN_ISA_UNKNOWN || gn_blas_isa(s->kernel) <= can);
}

int main(void)
{
    test_ref_golden();
    test_sgemm_vs_ref();
    test_reference_mode();
    test_tables();
    test_pick();
    test_fallback();
    test_marker();
    test_selftest();
    test_cpuid();
    test_init();
    return check_summary("test_blas");
}
