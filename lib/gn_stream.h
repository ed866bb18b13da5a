/* gn_stream.h - standard input and output as whole files. HDF5 needs to
 * seek, so a stage in a pipe reads standard input whole into memory once
 * (every later open of "-" reuses that image) and writes standard output
 * once, only when its output is complete: a stage that fails writes nothing,
 * and the next one sees an empty stream and says so.
 * What this does not do: stream in pieces; the image lives in memory
 * (genie(7) says how large it may grow). */
#ifndef GN_STREAM_H
#define GN_STREAM_H

#include <stddef.h>

/* The name "-" stands for standard input or output. */
int gn_is_stdio(const char *path);
/* Standard input read whole, once: *buf and *n stay valid for the process.
 * Fails with "-: standard input is a terminal", "-: standard input is empty
 * (did the stage before it in the pipe fail?)" or a read error. */
int gn_stdin_image(const void **buf, size_t *n);
/* Writes n bytes to standard output (fd 1) and checks it: fails with
 * "-: refusing to write HDF5 to a terminal" on a terminal, or the write
 * error. */
int gn_stdout_write(const void *buf, size_t n);

#endif
