/* gn_cli.h - what every genie program shares on its command line: usage
 * errors and failures as exit statuses, checked number parsing, --version
 * text, and progress reporting on stderr (the program name, messages,
 * switches and clocks are gn_base.h's). The programs' layer: lib/ below
 * it does not include this (tests/layers.sh lists the one exception left).
 * Nothing here exits: programs decide the exit status (0 ok, 1
 * runtime/input failure, 2 usage). */
#ifndef GN_CLI_H
#define GN_CLI_H

#include <stddef.h>

#include "gn_base.h" /* gn_msg, gn_warn, gn_prog, gn_env_flag, gn_now: programs use them too */

#define GN_VERSION "0.1.0"
enum { GN_EXIT_OK = 0, GN_EXIT_FAIL = 1, GN_EXIT_USAGE = 2 };

/* Sets the name used in messages (basename of argv[0] is fine; see
 * gn_prog_set). Programs then call gn_blas_init (gn_blas_init.h) before
 * they read or write anything. */
void gn_cli_init(const char *name);
/* Usage error: "NAME: msg" and "Try 'NAME --help' for more information."
 * on stderr; returns GN_EXIT_USAGE. */
int gn_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runtime failure: "NAME: <gn_err_msg()>"; returns GN_EXIT_FAIL. */
int gn_fail(void);
/* Prints "NAME (genie) VERSION" and library versions to stdout. */
void gn_print_version(void);
/* The whole command line of a program whose only options are -o/--output
 * FILE, -q/--quiet, -h/--help and --version: sets *out and *quiet and leaves
 * optind at the first operand. Returns -1 to go on, else the exit status to
 * return (0 after --help/--version, GN_EXIT_USAGE on an unknown option). */
int gn_cli_output_quiet(int argc, char **argv, void (*usage)(void), const char **out, int *quiet);

/* Whole-string number parsing with range checks; 0 on success, -1 when `s`
 * is not a number in [lo, hi]. */
int gn_parse_long(const char *s, long lo, long hi, long *out);
int gn_parse_int(const char *s, int lo, int hi, int *out);
int gn_parse_float(const char *s, double lo, double hi, float *out);
int gn_parse_u64(const char *s, unsigned long long *out);

/* Progress on stderr: a bar with iteration, a caller-supplied status and
 * time left on a terminal; otherwise a line every `every_s` seconds. */
typedef struct {
    const char *what;
    long total;
    double t0, last;
    int tty, quiet;
    double every_s;
} gn_progress;
void gn_progress_start(gn_progress *p, const char *what, long total, int quiet);
/* it counts from 1; status may be NULL. Always prints when it == total. */
void gn_progress_update(gn_progress *p, long it, const char *status);
/* Ends the bar line (on a terminal). */
void gn_progress_end(gn_progress *p);
/* Non-zero when gn_progress_update(p, it, ...) called now would print: a
 * caller can skip building a costly status line otherwise. */
int gn_progress_due(const gn_progress *p, long it);

#endif
