/* gn_base.h - what every layer of genie may use: the program name in
 * messages, messages on stderr, environment switches and clocks.
 *
 * The base layer (this, gn_err.h, gn_tpool.h, gn_rng.h, gn_sha256.h) uses
 * nothing else of genie. What it deliberately does not do: options, exit
 * statuses or progress bars (gn_cli.h, the programs' layer). */
#ifndef GN_BASE_H
#define GN_BASE_H

/* Sets the name used in messages (the basename of `name`; "genie" until
 * set). The string must outlive the process's messages. */
void gn_prog_set(const char *name);
const char *gn_prog(void);
/* "NAME: msg" + newline on stderr. */
void gn_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "NAME: warning: msg" on stderr. */
void gn_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether environment variable name is set, non-empty and not "0" (the
 * rule of every GN_* / GENIE_* switch). */
int gn_env_flag(const char *name);
/* Wall-clock seconds (monotonic). */
double gn_now(void);
/* CPU seconds of the whole process (all threads). */
double gn_cpu_now(void);

#endif
