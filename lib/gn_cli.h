/* gn_cli.h - what every genie program shares on its command line: usage
 * errors and failures as exit statuses, checked number parsing, --version
 * text, and progress reporting on stderr (the program name, messages,
 * switches and clocks are gn_base.h's). The programs' layer: lib/ below
 * it does not include this (tests/layers.sh checks).
 * Nothing here exits: programs decide the exit status (0 ok, 1
 * runtime/input failure, 2 usage). */
#ifndef GN_CLI_H
#define GN_CLI_H

#include <stddef.h>
#include <stdint.h>

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

/* Whole-string number parsing with range checks; 0 on success, -1 when `s`
 * is not a number in [lo, hi]. Leading blanks are refused; gn_parse_u64
 * takes digits only (no sign). */
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

/* ---- the options every program shares ------------------------------------
 * gn_cli_parse reads a whole command line with getopt_long: the shared
 * options a program takes, each enabled by a non-NULL pointer in the spec
 * (which holds the default on entry), and the program's own options, which
 * it hands to spec->opt one at a time:
 *   -o, --output FILE   *out
 *   -t, --threads N     *threads, 1..GN_MAX_THREADS
 *   -b, --batch N       *batch, batch_min..batch_max
 *   -s, --seed S        *seed, 0..2^64-1 (digits only)
 *   -q, --quiet         *quiet = 1
 *   -h, --help          spec->usage() on stdout, exit status 0
 *       --version       gn_print_version(), exit status 0
 * A bad value names the option and its range; an unknown or ambiguous
 * option, a missing argument and an argument to a flag each print one line
 * (getopt's own messages are off), then "Try 'PROG --help' ...". */
#define GN_MAX_THREADS 1024
enum { GN_CLI_GIVEN_OUTPUT = 1, GN_CLI_GIVEN_THREADS = 2, GN_CLI_GIVEN_BATCH = 4,
       GN_CLI_GIVEN_SEED = 8, GN_CLI_GIVEN_QUIET = 16 };
struct option;
typedef struct {
    const char **out;
    int *threads;
    int *batch;
    int batch_min, batch_max; /* --batch's range; 0, 0 means 1..1<<20 */
    uint64_t *seed;
    int *quiet;
    /* when not NULL, the GN_CLI_GIVEN_* bits of the shared options given */
    unsigned *given;
    /* the program's own options: short letters in getopt syntax and a long
     * table ended by a zero entry (either may be NULL); opt(ctx, c, optarg)
     * returns 0 to go on, or an exit status (usually gn_usage_error(...)) */
    const char *shortopts;
    const struct option *longopts;
    int (*opt)(void *ctx, int c, const char *arg);
    void *ctx;
    void (*usage)(void); /* the --help text, on stdout */
} gn_cli_spec;
/* Returns -1 to go on (optind is then the first operand), else the exit
 * status to return at once: 0 after --help/--version, GN_EXIT_USAGE after a
 * usage error (already printed), or what spec->opt returned. */
int gn_cli_parse(int argc, char **argv, const gn_cli_spec *spec);

/* ---- inputs and outputs ---------------------------------------------------
 * Checks a program's files before any work starts. inputs: the HDF5 (or
 * other) files it reads, outputs: the files it writes; NULL entries are
 * skipped. "-" is standard input / standard output. Usage errors (exit 2):
 * an empty name ("--unfolded-steps: empty file name", naming the option or
 * operand of gn_cli_parse's command line it came from); two inputs "-"; two outputs "-"; "-" on input when standard input is a
 * terminal; "-" on output when standard output is a terminal ("refusing to
 * write HDF5 to a terminal"). Runtime errors (exit 1, gn_out_check): an
 * output's directory is missing or not writable, the output is a directory,
 * or it is one of the inputs (same device and inode). Prints the message
 * and returns the exit status, or -1 when all is well. */
int gn_cli_check_io(const char *const *inputs, int nin, const char *const *outputs, int nout);

#endif
