/* gn_out.h - outputs that are only ever complete: a program writes to a
 * temporary name beside the final one, then renames. The temporary file is
 * removed on gn_out_abort, and by a signal handler on SIGINT, SIGTERM, SIGHUP
 * and SIGPIPE, so an interrupted stage never leaves anything that looks like
 * its output. One output at a time per process is enough for genie. */
#ifndef GN_OUT_H
#define GN_OUT_H

/* Starts an output for final path `path`; returns the temporary name to
 * write (valid until commit/abort). "-" means standard output: the file is
 * written to a temporary under $TMPDIR and copied to stdout on commit. */
const char *gn_out_begin(const char *path);
/* Renames the temporary onto the final name. Returns 0 or an error. */
int gn_out_commit(void);
/* Removes the temporary file (safe to call when nothing is open). */
void gn_out_abort(void);
/* Checks, before any work starts, that `path` can be written as an output:
 * its directory exists and is writable, it is not a directory or other
 * non-regular file, and it is not one of the nin files in inputs (same
 * device and inode; NULL and "-" entries are skipped). "-" passes. Returns
 * 0, or an error naming `path` as the user gave it. */
int gn_out_check(const char *path, const char *const *inputs, int nin);
/* Installs the signal handlers (called by gn_out_begin). */
void gn_out_install_signals(void);

#endif
