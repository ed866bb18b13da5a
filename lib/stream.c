/* stream.c - standard input and output as whole files (see gn_stream.h). */
#include "gn_stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gn_err.h"

static unsigned char *in_buf;
static size_t in_len;
static int in_read;

int gn_is_stdio(const char *path) { return path && !strcmp(path, "-"); }

int gn_stdin_image(const void **buf, size_t *n)
{
    if (!in_read) {
        if (isatty(0)) return gn_err_set("-: standard input is a terminal, not an HDF5 stream");
        size_t cap = 1 << 20, len = 0;
        unsigned char *b = gn_xmalloc(cap);
        for (;;) {
            if (len == cap) {
                cap *= 2;
                unsigned char *nb = realloc(b, cap);
                if (!nb) {
                    free(b);
                    return gn_err_code(GN_ENOMEM, "-: standard input: out of memory after %zu bytes", len);
                }
                b = nb;
            }
            ssize_t k = read(0, b + len, cap - len);
            if (k < 0 && errno == EINTR) continue;
            if (k < 0) {
                int e = errno;
                free(b);
                return gn_err_set("-: cannot read standard input: %s", strerror(e));
            }
            if (k == 0) break;
            len += (size_t)k;
        }
        in_buf = b, in_len = len, in_read = 1;
    }
    if (!in_len)
        return gn_err_set("-: standard input is empty (did the stage before it in the pipe fail?)");
    *buf = in_buf;
    *n = in_len;
    return 0;
}

int gn_stdout_write(const void *buf, size_t n)
{
    if (isatty(1)) return gn_err_code(GN_EINVAL, "-: refusing to write HDF5 to a terminal");
    fflush(stdout); /* anything printf'd goes first */
    const unsigned char *p = buf;
    while (n) {
        ssize_t k = write(1, p, n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return gn_err_set("-: cannot write standard output: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
    return 0;
}
