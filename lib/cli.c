/* cli.c - shared command-line helpers (see gn_cli.h). */
#include "gn_cli.h"

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
    if (!s || !*s) return -1;
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
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = (float)v;
    return 0;
}

int gn_parse_u64(const char *s, unsigned long long *out)
{
    if (!s || !*s || *s == '-') return -1;
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

int gn_cli_output_quiet(int argc, char **argv, void (*usage)(void), const char **out, int *quiet)
{
    static const struct option lo[] = {{"output", 1, 0, 'o'}, {"quiet", 0, 0, 'q'},
                                       {"help", 0, 0, 'h'}, {"version", 0, 0, 'V'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': *out = optarg; break;
        case 'q': *quiet = 1; break;
        case 'h': usage(); return GN_EXIT_OK;
        case 'V': gn_print_version(); return GN_EXIT_OK;
        default: return gn_usage_error("unknown option");
        }
    }
    return -1;
}
