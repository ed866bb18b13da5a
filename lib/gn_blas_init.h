/* gn_blas_init.h - the start-up check that OpenBLAS runs the kernels this
 * CPU deserves and that they give the right answer (blas_init.c; see
 * genie-blas(7)).
 *
 * Start-up, in gn_blas_init (called by every program right after
 * gn_cli_init, before it reads or writes anything): read cpuid; if
 * OpenBLAS chose a kernel for an older ISA than the CPU has and the user
 * did not set OPENBLAS_CORETYPE, re-execute the program with
 * OPENBLAS_CORETYPE set (OpenBLAS reads it only when it loads); then
 * self-test the kernel in use on a few small products and, on a mismatch,
 * re-execute with the next older kernel, ending with gn_sgemm_ref when
 * none is left.
 *
 * What it deliberately does not do: choose kernels by timing them. The
 * kernel is chosen from cpuid alone and trusted only after its
 * self-test. */
#ifndef GN_BLAS_INIT_H
#define GN_BLAS_INIT_H

#include <stddef.h>

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
