/* gn_blas.h - the one sgemm wrapper every matrix product goes through
 * (row-major CBLAS), its plain reference twin, thread control for
 * OpenBLAS, and the start-up check that OpenBLAS runs the kernels this CPU
 * deserves and that they give the right answer (see genie-blas(7)).
 *
 * Start-up, in gn_blas_init (called by gn_cli_init, first thing in every
 * program): read cpuid; if OpenBLAS chose a kernel for an older ISA than
 * the CPU has and the user did not set OPENBLAS_CORETYPE, re-execute the
 * program with OPENBLAS_CORETYPE set (OpenBLAS reads it only when it
 * loads); then self-test the kernel in use on a few small products and,
 * on a mismatch, re-execute with the next older kernel, ending with
 * gn_sgemm_ref when none is left.
 *
 * What it deliberately does not do: tune OpenBLAS's block sizes or
 * threads, or choose kernels by timing them. The kernel is chosen from
 * cpuid alone and trusted only after its self-test. */
#ifndef GN_BLAS_H
#define GN_BLAS_H

#include <stddef.h>

/* C (M,N) = alpha * op(A) (M,K) . op(B) (K,N) + beta * C; row-major,
 * ta/tb non-zero transpose A/B. lda/ldb/ldc as in CBLAS row-major. C is not
 * read when beta == 0. */
void gn_sgemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* The reference twin of gn_sgemm: same arguments and contract, plain loops
 * with a double accumulator. Slow; used by tests, by the start-up
 * self-test, and by gn_sgemm when no OpenBLAS kernel passed its self-test. */
void gn_sgemm_ref(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
/* Sets the threads OpenBLAS may use (n >= 1). */
void gn_set_threads(int n);
int gn_get_threads(void);

/* ---- CPU features --------------------------------------------------------- */

/* What cpuid reports, and what the OS saves on a context switch (XCR0):
 * a vector ISA is usable only when both say so. */
enum {
    GN_CPU_X86 = 1u << 0, /* cpuid was read; the other bits mean something */
    GN_CPU_SSE3 = 1u << 1,
    GN_CPU_AVX = 1u << 2,
    GN_CPU_FMA = 1u << 3,
    GN_CPU_AVX2 = 1u << 4,
    GN_CPU_AVX512F = 1u << 5,
    GN_CPU_AVX512BW = 1u << 6,
    GN_CPU_AVX512DQ = 1u << 7,
    GN_CPU_AVX512VL = 1u << 8,
    GN_CPU_AVX512BF16 = 1u << 9,
    GN_CPU_OS_YMM = 1u << 10, /* XCR0 bits 1,2: the OS saves AVX state */
    GN_CPU_OS_ZMM = 1u << 11, /* XCR0 bits 5,6,7: the OS saves AVX-512 state */
};
/* Reads cpuid. `brand` (may be NULL) receives the CPU's name string, ""
 * when it has none. Returns GN_CPU_* bits; 0 on a CPU that is not x86. */
unsigned gn_cpu_features(char *brand, size_t n);
/* The names of the bits in `feat` as /proc/cpuinfo spells them ("sse3 avx
 * fma avx2 avx512f ..."; "os-ymm os-zmm" for the OS bits) into buf. */
void gn_cpu_feature_names(unsigned feat, char *buf, size_t n);

/* ---- kernels -------------------------------------------------------------- */

/* ISA levels of OpenBLAS kernels. */
enum { GN_ISA_UNKNOWN = -1, GN_ISA_SSE3 = 0, GN_ISA_AVX = 1, GN_ISA_AVX2 = 2, GN_ISA_AVX512 = 3 };
/* The ISA level of an OpenBLAS core name as openblas_get_corename() spells
 * it (case-insensitive): SSE3 for Prescott, Nehalem, Core2, Barcelona, ...;
 * AVX for Sandybridge, Bulldozer, Piledriver, Steamroller; AVX2 for
 * Haswell, Zen, Excavator; AVX512 for SkylakeX, Cooperlake,
 * SapphireRapids; GN_ISA_UNKNOWN for any other name. */
int gn_blas_isa(const char *core);
/* "sse3", "avx", "avx2", "avx512", or "unknown". */
const char *gn_blas_isa_name(int isa);
/* The highest ISA level the CPU and OS in `feat` can run: AVX512 needs
 * avx512f/bw/dq/vl and OS zmm state, AVX2 needs avx2 and fma, AVX needs avx
 * and OS ymm state; GN_ISA_UNKNOWN off x86. */
int gn_cpu_isa(unsigned feat);
/* The kernel genie names for an ISA level: Prescott, Sandybridge, Haswell,
 * SkylakeX; NULL for GN_ISA_UNKNOWN. */
const char *gn_blas_isa_kernel(int isa);
/* Selection: the kernel to run instead of `core`, which OpenBLAS chose by
 * itself on a CPU with `feat`; NULL to keep `core` (the user set
 * OPENBLAS_CORETYPE, `core` is a name genie does not know, or it is no
 * older than what the CPU supports). */
const char *gn_blas_pick(const char *core, unsigned feat, int user_set);
/* Fallback: the next older kernel to try after `core` failed its
 * self-test (or cannot run on this CPU), skipping any named in `failed`
 * (comma-separated "Name:error" entries, "" for none); NULL when none is
 * left, and gn_sgemm then runs gn_sgemm_ref. */
const char *gn_blas_fallback(const char *core, unsigned feat, const char *failed);
/* Non-zero when `name` is listed in `failed` (as gn_blas_fallback). */
int gn_blas_failed_has(const char *failed, const char *name);

/* ---- self-test ------------------------------------------------------------ */

/* Runs products through OpenBLAS in the shapes genie uses (small odd sizes
 * that take OpenBLAS's small-matrix kernels; conv-sized odd ones above
 * 100^3 that take its blocked kernels; NN, NT, TN, TT; alpha and beta,
 * beta = 0 over a C full of NaN, padded leading dimensions), on one thread,
 * with inputs whose products and sums are exact, and compares with a
 * double reference: every entry of the small products, and of the large
 * ones one entry in 29 plus weighted sums of every row and column (so any
 * one wrong entry shows). `inject` non-zero corrupts one result (to test
 * what follows a failure). Returns 0 when everything matches to 1e-6 of
 * its magnitude (a correct kernel matches exactly), -1 otherwise; *err
 * gets the worst relative error (INFINITY for NaN), *ms the time taken.
 * Allocates and frees scratch; leaves OpenBLAS's thread count as it was. */
int gn_blas_selftest(int inject, double *err, double *ms);

/* ---- start-up ------------------------------------------------------------- */

/* Who decided the kernel in use. */
enum {
    GN_BLAS_BY_OPENBLAS,  /* OpenBLAS's own choice, kept */
    GN_BLAS_BY_USER,      /* OPENBLAS_CORETYPE from the user, kept */
    GN_BLAS_BY_GENIE,     /* genie re-executed with a newer kernel */
    GN_BLAS_BY_FALLBACK,  /* an older kernel after a self-test failure */
    GN_BLAS_BY_REFERENCE, /* no kernel passed: gn_sgemm runs gn_sgemm_ref */
};
/* What gn_blas_init found and did. */
typedef struct {
    int done;                /* gn_blas_init has run */
    char config[160];        /* openblas_get_config() */
    char version[32];        /* "0.3.21", from the config string */
    int dynamic;             /* a DYNAMIC_ARCH build: OPENBLAS_CORETYPE works */
    const char *parallel;    /* "sequential", "pthreads" or "openmp" */
    char kernel[32];         /* openblas_get_corename() now */
    char openblas_chose[32]; /* OpenBLAS's own choice; "" when the user forced one */
    char env[64];            /* OPENBLAS_CORETYPE as the user gave it */
    int env_set;             /* ... and whether it was set at all */
    int user_set;            /* env_set, non-empty, and not GENIE_BLAS_TEST_AUTO */
    int by;                  /* GN_BLAS_BY_* */
    int reference;           /* gn_sgemm runs gn_sgemm_ref */
    int reexecs;             /* how many times this run re-executed itself */
    unsigned feat;           /* GN_CPU_* */
    char cpu[64];            /* cpuid brand string */
    char failed[160];        /* kernels that failed: "SkylakeX:1.0e+00,..." */
    int selftest_ok;         /* the kernel in use passed */
    double selftest_err;     /* its worst relative error */
    double selftest_ms;      /* and the time the self-test took */
    char problem[160];       /* why genie could not do what it wanted, or "" */
    char note[320];          /* one line saying what happened and why */
} gn_blas_state;

/* Checks and, where needed, replaces the OpenBLAS kernel; must run before
 * the program reads input or writes anything, because it may replace the
 * process: execv of /proc/self/exe with the same arguments and the same
 * open files, with OPENBLAS_CORETYPE set and a marker variable
 * (GENIE_BLAS_REEXEC) that stops loops; the new process restores the
 * environment the user gave. A user's OPENBLAS_CORETYPE is kept unless its
 * kernel fails the self-test or cannot run on this CPU. Prints, as
 * gn_warn, a warning when a kernel failed its self-test; prints the note
 * once when GENIE_VERBOSE is set (non-empty, not "0"). GENIE_NO_REEXEC=1
 * keeps the process as it is (a failing kernel then gives way to
 * gn_sgemm_ref in place). Testing only: GENIE_BLAS_SELFTEST_FAIL (1 =
 * the first kernel tested, all, or kernel names) makes self-tests fail;
 * GENIE_BLAS_TEST_AUTO=1 treats OPENBLAS_CORETYPE as OpenBLAS's own choice.
 * Runs once; later calls return at once. */
void gn_blas_init(void);
/* The state; valid (done = 1) after gn_blas_init. */
const gn_blas_state *gn_blas_get(void);
/* Prints the note as "NAME: note" on stderr unless it was printed already
 * (by gn_blas_init under GENIE_VERBOSE): programs call it for -v. */
void gn_blas_say(void);
/* Makes gn_sgemm run gn_sgemm_ref (on != 0) or OpenBLAS (for tests). */
void gn_blas_set_reference(int on);

/* The re-execution marker GENIE_BLAS_REEXEC, exposed for unit tests:
 * "n=1;auto=Prescott;want=SkylakeX;fail=;env=VALUE" with env= last (so the
 * user's value may hold any character) and absent when OPENBLAS_CORETYPE
 * was unset. */
typedef struct {
    int n;            /* re-executions so far */
    char autok[32];   /* the kernel OpenBLAS chose by itself ("" unknown) */
    char want[32];    /* the kernel asked for in this re-execution */
    char failed[160]; /* kernels that failed so far */
    char env[64];     /* the user's OPENBLAS_CORETYPE */
    int has_env;      /* ... whether it was set */
} gn_blas_marker;
/* 0 and *m filled, or -1 when `s` is not a marker (m is then zeroed). */
int gn_blas_marker_parse(const char *s, gn_blas_marker *m);
/* 0, or -1 when buf (size n) is too small or a field holds ';'. */
int gn_blas_marker_format(const gn_blas_marker *m, char *buf, size_t n);

#endif
