/* blas_init.c - the start-up kernel check (see gn_blas_init.h,
 * genie-blas(7)): what OpenBLAS chose, whether genie should choose
 * otherwise, the re-execution that makes a choice take effect, the
 * self-test verdict, and the one-line note that says what happened.
 *
 * Why a re-execution: a DYNAMIC_ARCH OpenBLAS picks its kernel table in a
 * constructor that runs when the library loads, before any genie code, and
 * reads OPENBLAS_CORETYPE only then. The one way to change the kernel that
 * really takes effect is to start the program again with the variable set.
 *
 * What it deliberately does not do: reach into OpenBLAS's internal tables,
 * or time kernels to choose one. */
#include "gn_blas_init.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "gn_base.h"
#include "gn_blas.h"
#include "gn_blas_pick.h"
#include "gn_blas_selftest.h"
#include "gn_cpu.h"

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
                 "OpenBLAS %s: running %s kernels because the sgemm self-test failed with %.120s",
                 st.version, st.kernel, ft);
        break;
    default:
        snprintf(
            st.note, sizeof st.note,
            "genie's reference sgemm (correct, slow) because the OpenBLAS sgemm self-test failed "
            "with %.120s%s%.80s",
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

/* step 1: what OpenBLAS is and chose, and what the CPU has */
static void read_openblas(void)
{
    snprintf(st.config, sizeof st.config, "%s", openblas_get_config());
    st.dynamic = strstr(st.config, "DYNAMIC_ARCH") != NULL;
    int par = openblas_get_parallel();
    st.parallel = par == 0 ? "sequential" : par == 1 ? "pthreads" : "openmp";
    if (sscanf(st.config, "OpenBLAS %31s", st.version) != 1)
        snprintf(st.version, sizeof st.version, "?");
    snprintf(st.kernel, sizeof st.kernel, "%s", openblas_get_corename());
    st.feat = gn_cpu_features(st.cpu, sizeof st.cpu);
}

/* step 2: after a re-execution, the marker says what happened before; put
 * the environment back as the user gave it. Fills m (zeroed without a
 * valid marker) and *have_marker; returns whether the marker is genie's. */
static int take_marker(gn_blas_marker *m, int *have_marker)
{
    const char *mk = getenv("GENIE_BLAS_REEXEC");
    *have_marker = mk != NULL;
    int marker_ok = *have_marker && !gn_blas_marker_parse(mk, m);
    if (!marker_ok) memset(m, 0, sizeof *m);
    if (*have_marker) unsetenv("GENIE_BLAS_REEXEC");
    if (marker_ok) {
        if (m->has_env)
            setenv("OPENBLAS_CORETYPE", m->env, 1);
        else
            unsetenv("OPENBLAS_CORETYPE");
    }
    return marker_ok;
}

/* step 3: the user's OPENBLAS_CORETYPE, and what OpenBLAS chose by itself */
static void read_user_choice(const gn_blas_marker *m, int marker_ok)
{
    const char *env = getenv("OPENBLAS_CORETYPE");
    st.env_set = env != NULL;
    snprintf(st.env, sizeof st.env, "%s", env ? env : "");
    st.user_set = env && *env && !gn_env_flag("GENIE_BLAS_TEST_AUTO");
    if (marker_ok)
        snprintf(st.openblas_chose, sizeof st.openblas_chose, "%s", m->autok);
    else if (!st.user_set)
        snprintf(st.openblas_chose, sizeof st.openblas_chose, "%s", st.kernel);
    snprintf(st.failed, sizeof st.failed, "%s", m->failed);
    st.reexecs = m->n;
}

/* step 4: why this process may not re-execute itself, into whynot ("" when
 * it may); *ignored: OpenBLAS did not take the kernel asked for last time */
static void why_not_reexec(char *whynot, size_t n, const gn_blas_marker *m, int have_marker,
                           int marker_ok, int *ignored)
{
    *ignored = marker_ok && *m->want && strcasecmp(m->want, st.kernel);
    *whynot = 0;
    if (gn_env_flag("GENIE_NO_REEXEC"))
        snprintf(whynot, n, "GENIE_NO_REEXEC is set");
    else if (!st.dynamic)
        snprintf(whynot, n, "OpenBLAS is not a DYNAMIC_ARCH build");
    else if (have_marker && !marker_ok)
        snprintf(whynot, n, "GENIE_BLAS_REEXEC is set but is not genie's");
    else if (*ignored)
        snprintf(whynot, n, "OpenBLAS ignored OPENBLAS_CORETYPE=%s", m->want);
    else if (m->n >= 6)
        snprintf(whynot, n, "it re-executed itself %d times already", m->n);
    else if (st.env_set && strlen(st.env) + 1 >= sizeof st.env)
        snprintf(whynot, n, "OPENBLAS_CORETYPE is too long");
    if (*ignored) snprintf(st.problem, sizeof st.problem, "%s", whynot);
}

/* step 5, selection: on the first start only, never over the user's
 * choice; returns only when it did not re-execute */
static void select_kernel(gn_blas_marker *next, const char *whynot, int have_marker)
{
    const char *pick = gn_blas_pick(st.kernel, st.feat, st.user_set);
    if (!pick) return;
    if (*whynot)
        snprintf(st.problem, sizeof st.problem, "%s", whynot);
    else if (!have_marker) {
        snprintf(next->want, sizeof next->want, "%s", pick);
        reexec(next); /* returns only on failure */
    }
}

/* step 6: the kernel in use must run on this CPU and give right answers;
 * on a failure, re-execute with an older one, or (when that is not
 * possible) make gn_sgemm run the reference */
static void verify_kernel(gn_blas_marker *next, const char *whynot)
{
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
    if (ok) return;
    failed_add(st.failed, sizeof st.failed, st.kernel, err);
    const char *fb = gn_blas_fallback(st.kernel, st.feat, st.failed);
    if (!fb)
        snprintf(st.problem, sizeof st.problem, "no older kernel is left to try");
    else if (*whynot)
        snprintf(st.problem, sizeof st.problem, "%s", whynot);
    else {
        snprintf(next->want, sizeof next->want, "%s", fb);
        snprintf(next->failed, sizeof next->failed, "%s", st.failed);
        reexec(next); /* returns only on failure */
    }
    gn_blas_set_reference(1);
}

/* step 7: who decided, the note, and a warning when a kernel failed */
static void report(int marker_ok, int ignored)
{
    if (gn_blas_get_reference())
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

void gn_blas_init(void)
{
    if (st.done) return;
    st.done = 1;
    read_openblas();
    gn_blas_marker m;
    int have_marker;
    const int marker_ok = take_marker(&m, &have_marker);
    read_user_choice(&m, marker_ok);
    char whynot[160];
    int ignored;
    why_not_reexec(whynot, sizeof whynot, &m, have_marker, marker_ok, &ignored);

    gn_blas_marker next = m; /* what the next process is told */
    next.n = m.n + 1;
    if (!marker_ok) {
        snprintf(next.autok, sizeof next.autok, "%s", st.openblas_chose);
        next.has_env = st.env_set;
        snprintf(next.env, sizeof next.env, "%s", st.env);
    }
    select_kernel(&next, whynot, have_marker);
    verify_kernel(&next, whynot);
    report(marker_ok, ignored);
}

const gn_blas_state *gn_blas_get(void) { return &st; }
