/* cli.c - shared command-line helpers (see gn_cli.h). */
#include "gn_cli.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gn_err.h"
#include "gn_out.h"

void gn_cli_init(const char *name) { gn_prog_set(name); }

int gn_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", gn_prog());
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s --help' for more information.\n", gn_prog());
    va_end(ap);
    return GN_EXIT_USAGE;
}

int gn_fail(void)
{
    fprintf(stderr, "%s: %s\n", gn_prog(), gn_err_msg());
    return GN_EXIT_FAIL;
}

void gn_print_version(void)
{
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    printf("%s (genie) %s\nHDF5 %u.%u.%u\n", gn_prog(), GN_VERSION, maj, min, rel);
}

int gn_parse_long(const char *s, long lo, long hi, long *out)
{
    /* strtol would skip leading blanks: " 5" is not a number here */
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int gn_parse_int(const char *s, int lo, int hi, int *out)
{
    long v;
    if (gn_parse_long(s, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

int gn_parse_float(const char *s, double lo, double hi, float *out)
{
    if (!s || !*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = (float)v;
    return 0;
}

int gn_parse_u64(const char *s, unsigned long long *out)
{
    /* digits only: strtoull would take " -5" or "-5" as 2^64 - 5 */
    if (!s || !isdigit((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

void gn_progress_start(gn_progress *p, const char *what, long total, int quiet)
{
    memset(p, 0, sizeof *p);
    p->what = what;
    p->total = total;
    p->quiet = quiet;
    p->tty = isatty(2);
    p->t0 = p->last = gn_now();
    p->every_s = 10.0;
}

static void fmt_time(char *b, size_t n, double s)
{
    if (s < 0 || !isfinite(s)) s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(b, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else snprintf(b, n, "%ldm%02lds", t / 60, t % 60);
}

static int due(const gn_progress *p, long it, double now)
{
    if (p->quiet) return 0;
    if (it >= p->total) return 1;
    return now - p->last >= (p->tty ? 0.1 : p->every_s);
}

int gn_progress_due(const gn_progress *p, long it) { return due(p, it, gn_now()); }

void gn_progress_update(gn_progress *p, long it, const char *status)
{
    double now = gn_now();
    if (!due(p, it, now)) return;
    int final = it >= p->total;
    p->last = now;
    double el = now - p->t0, left = it > 0 ? el / (double)it * (double)(p->total - it) : 0;
    char tl[32], te[32];
    fmt_time(tl, sizeof tl, left);
    fmt_time(te, sizeof te, el);
    if (p->tty) {
        int width = 24, fill = p->total ? (int)((double)width * (double)it / (double)p->total) : 0;
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(stderr, "\r%s: %s [%s] %ld/%ld %s %s %s\033[K", gn_prog(), p->what, bar, it, p->total,
                status ? status : "", final ? "in" : "left", final ? te : tl);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "%s: %s %ld/%ld %s (%s %s)\n", gn_prog(), p->what, it, p->total,
                status ? status : "", final ? "took" : "left", final ? te : tl);
    }
}

void gn_progress_end(gn_progress *p) { (void)p; }

/* ---- the shared options ---------------------------------------------------- */

enum { O_VERSION = 0x10000 };

/* "--name" of the long option the user typed in argv[optind - 1], up to '=' */
static const char *typed_long(int argc, char **argv, char *buf, size_t n)
{
    if (optind < 1 || optind > argc) return NULL;
    const char *a = argv[optind - 1];
    if (strncmp(a, "--", 2) || !a[2]) return NULL;
    size_t k = strcspn(a, "=");
    snprintf(buf, n, "%.*s", (int)k, a);
    return buf;
}

/* the one-line message for getopt's '?' or ':' */
static int bad_option(int argc, char **argv, int c, const struct option *lo, int nlo)
{
    char buf[256];
    const char *name = typed_long(argc, argv, buf, sizeof buf);
    if (c == ':') {
        if (name) return gn_usage_error("option '%s' needs an argument", name);
        return gn_usage_error("option '-%c' needs an argument", optopt);
    }
    if (name) {
        /* a flag given a value ("--quiet=1"), or a name matching several */
        const char *nm = name + 2;
        size_t len = strlen(nm);
        int exact = -1, pre = 0;
        char alts[200] = "";
        for (int i = 0; i < nlo; i++)
            if (!strncmp(lo[i].name, nm, len)) {
                if (strlen(lo[i].name) == len) exact = i;
                pre++;
                snprintf(alts + strlen(alts), sizeof alts - strlen(alts), "%s--%s",
                         pre > 1 ? ", " : "", lo[i].name);
            }
        if (optopt && (exact >= 0 || pre == 1) && strchr(argv[optind - 1], '='))
            return gn_usage_error("option '%s' takes no argument", name);
        if (!optopt && exact < 0 && pre > 1)
            return gn_usage_error("option '%s' is ambiguous (%s)", name, alts);
        if (!optopt) return gn_usage_error("unknown option '%s'", name);
    }
    if (optopt) return gn_usage_error("unknown option '-%c'", optopt);
    return gn_usage_error("unknown option '%s'", optind > 0 && optind <= argc ? argv[optind - 1] : "?");
}

/* the command line gn_cli_parse read last (for gn_cli_check_io's messages) */
static int parsed_argc, parsed_optind;
static char *const *parsed_argv;

int gn_cli_parse(int argc, char **argv, const gn_cli_spec *s)
{
    /* the program's long options, then the shared ones it takes */
    int nown = 0;
    while (s->longopts && s->longopts[nown].name) nown++;
    struct option *lo = gn_xcalloc((size_t)nown + 8, sizeof *lo);
    int nlo = 0;
    for (int i = 0; i < nown; i++) lo[nlo++] = s->longopts[i];
    char so[128] = ":";
    const struct {
        const void *on;
        struct option o;
        const char *letters;
    } shared[] = {
        {s->out, {"output", 1, 0, 'o'}, "o:"},     {s->threads, {"threads", 1, 0, 't'}, "t:"},
        {s->batch, {"batch", 1, 0, 'b'}, "b:"},    {s->seed, {"seed", 1, 0, 's'}, "s:"},
        {s->quiet, {"quiet", 0, 0, 'q'}, "q"},     {s, {"help", 0, 0, 'h'}, "h"},
        {s, {"version", 0, 0, O_VERSION}, ""},
    };
    for (size_t i = 0; i < sizeof shared / sizeof *shared; i++)
        if (shared[i].on) {
            lo[nlo++] = shared[i].o;
            strcat(so, shared[i].letters);
        }
    if (s->shortopts) snprintf(so + strlen(so), sizeof so - strlen(so), "%s", s->shortopts);
    int bmin = s->batch_min ? s->batch_min : 1, bmax = s->batch_max ? s->batch_max : 1 << 20;
    int st = -1, c;
    unsigned long long u;
    opterr = 0;
    if (s->given) *s->given = 0;
    while (st < 0 && (c = getopt_long(argc, argv, so, lo, NULL)) != -1) {
        unsigned bit = 0;
        if (c == '?' || c == ':') st = bad_option(argc, argv, c, lo, nlo);
        else if (c == 'o' && s->out) *s->out = optarg, bit = GN_CLI_GIVEN_OUTPUT;
        else if (c == 't' && s->threads) {
            if (gn_parse_int(optarg, 1, GN_MAX_THREADS, s->threads))
                st = gn_usage_error("--threads: expected a number from 1 to %d, got '%s'",
                                    GN_MAX_THREADS, optarg);
            bit = GN_CLI_GIVEN_THREADS;
        } else if (c == 'b' && s->batch) {
            if (gn_parse_int(optarg, bmin, bmax, s->batch))
                st = gn_usage_error("--batch: expected a number from %d to %d, got '%s'", bmin,
                                    bmax, optarg);
            bit = GN_CLI_GIVEN_BATCH;
        } else if (c == 's' && s->seed) {
            if (gn_parse_u64(optarg, &u))
                st = gn_usage_error("--seed: expected a number from 0 to %llu, got '%s'",
                                    (unsigned long long)UINT64_MAX, optarg);
            else *s->seed = u;
            bit = GN_CLI_GIVEN_SEED;
        } else if (c == 'q' && s->quiet) *s->quiet = 1, bit = GN_CLI_GIVEN_QUIET;
        else if (c == 'h') {
            if (s->usage) s->usage();
            st = GN_EXIT_OK;
        } else if (c == O_VERSION) {
            gn_print_version();
            st = GN_EXIT_OK;
        } else if (s->opt) {
            int r = s->opt(s->ctx, c, optarg);
            if (r) st = r;
        } else st = gn_usage_error("unknown option '%s'", argv[optind - 1]);
        if (s->given) *s->given |= bit;
    }
    free(lo);
    parsed_argc = argc, parsed_argv = argv, parsed_optind = optind;
    return st;
}

/* ---- inputs and outputs ------------------------------------------------------ */

/* Where an empty file name came from on the command line gn_cli_parse read
 * (its argv, as getopt left it: options first, each with its argument, then
 * the operands): "--unfolded-steps: ", "-o: ", "operand 2: ", or "" when the
 * name is not one of argv's strings. */
static void empty_name_origin(const char *p, char *buf, size_t len)
{
    *buf = 0;
    for (int i = 1; i < parsed_argc && parsed_argv; i++) {
        const char *a = parsed_argv[i];
        if (p > a && p <= a + strlen(a)) { /* --name= */
            snprintf(buf, len, "%.*s: ", (int)(p - a - (p[-1] == '=')), a);
            return;
        }
        if (p != a) continue;
        if (i >= parsed_optind) snprintf(buf, len, "operand %d: ", i - parsed_optind + 1);
        else if (i > 1 && parsed_argv[i - 1][0] == '-' && parsed_argv[i - 1][1] == '-')
            snprintf(buf, len, "%s: ", parsed_argv[i - 1]);
        else if (i > 1 && parsed_argv[i - 1][0] == '-' && parsed_argv[i - 1][1])
            snprintf(buf, len, "-%c: ", parsed_argv[i - 1][strlen(parsed_argv[i - 1]) - 1]);
        return;
    }
}

/* an empty name is no file: a usage error naming the argument it came from */
static int empty_names(const char *const *paths, int n)
{
    for (int i = 0; i < n; i++)
        if (paths[i] && !*paths[i]) {
            char from[128];
            empty_name_origin(paths[i], from, sizeof from);
            return gn_usage_error("%sempty file name", from);
        }
    return -1;
}

int gn_cli_check_io(const char *const *inputs, int nin, const char *const *outputs, int nout)
{
    int st;
    if ((st = empty_names(inputs, nin)) >= 0 || (st = empty_names(outputs, nout)) >= 0) return st;
    int in_dash = 0, out_dash = 0;
    for (int i = 0; i < nin; i++) in_dash += inputs[i] && !strcmp(inputs[i], "-");
    for (int i = 0; i < nout; i++) out_dash += outputs[i] && !strcmp(outputs[i], "-");
    if (in_dash > 1)
        return gn_usage_error("only one input may be '-' (standard input), %d are", in_dash);
    if (out_dash > 1)
        return gn_usage_error("only one output may be '-' (standard output), %d are", out_dash);
    if (in_dash && isatty(0)) return gn_usage_error("-: standard input is a terminal: pipe a file in or name it");
    if (out_dash && isatty(1)) return gn_usage_error("-: refusing to write HDF5 to a terminal");
    for (int i = 0; i < nout; i++) {
        if (!outputs[i]) continue;
        if (gn_out_check(outputs[i], inputs, nin)) return gn_fail();
        for (int j = 0; j < i; j++)
            if (outputs[j] && strcmp(outputs[i], "-") && !strcmp(outputs[i], outputs[j]))
                return gn_usage_error("%s: given for two outputs", outputs[i]);
    }
    return -1;
}
