/* idx.c - idx file reader (see gn_idx.h). zlib's gzread reads plain files
 * transparently, so one path serves both. */
#include "gn_idx.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "gn_err.h"

/* opens path; *avail is the bytes after a `header`-byte header when the file
 * is plain (SIZE_MAX when gzipped: its size says nothing) */
static int open_idx(const char *path, gzFile *gz, size_t header, size_t *avail)
{
    struct stat st;
    if (stat(path, &st)) return gn_err_set("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return gn_err_set("%s: is a directory", path);
    *gz = gzopen(path, "rb");
    if (!*gz) return gn_err_set("%s: %s", path, strerror(errno));
    /* gzdirect is known once the stream has been looked at */
    gzbuffer(*gz, 1 << 16);
    int c = gzgetc(*gz);
    if (c >= 0) gzungetc(c, *gz);
    *avail = gzdirect(*gz) && S_ISREG(st.st_mode)
                 ? ((size_t)st.st_size > header ? (size_t)st.st_size - header : 0)
                 : SIZE_MAX;
    return 0;
}

static int read_u32(gzFile gz, unsigned *v)
{
    unsigned char b[4];
    if (gzread(gz, b, 4) != 4) return -1;
    *v = (unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
    return 0;
}

static const char *describe_magic(unsigned m)
{
    if (m == 0x801) return "an idx1 labels file";
    if (m == 0x803) return "an idx3 images file";
    return "not an idx file";
}

/* Reads the `bytes` data bytes the header promised into a malloc'd buffer.
 * The header is not trusted: the buffer grows with what is actually read (a
 * header that claims billions of images in a short file gets "truncated",
 * not an allocation of what it claims); a plain file is first checked
 * against its size (`avail`, SIZE_MAX for gzip). `what` describes the claim. */
static int read_body(gzFile gz, const char *path, size_t bytes, size_t avail, const char *what,
                     unsigned char **out)
{
    if (avail != SIZE_MAX && bytes > avail)
        return gn_err_set("%s: truncated: the header claims %s (%zu data bytes), the file has %zu",
                          path, what, bytes, avail);
    size_t cap = bytes < (1u << 20) ? bytes : (1u << 20), got = 0;
    unsigned char *buf = gn_try_alloc(cap ? cap : 1, 1, path);
    if (!buf) return GN_ENOMEM;
    while (got < bytes) {
        if (got == cap) {
            size_t nc = cap > bytes / 2 ? bytes : 2 * cap;
            unsigned char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                return gn_err_code(GN_ENOMEM, "%s: cannot allocate %zu bytes", path, nc);
            }
            buf = nb, cap = nc;
        }
        size_t want = cap - got;
        unsigned chunk = want > (1u << 30) ? (1u << 30) : (unsigned)want;
        int k = gzread(gz, buf + got, chunk);
        if (k <= 0) break;
        got += (size_t)k;
    }
    if (got != bytes) {
        free(buf);
        return gn_err_set("%s: truncated: the header claims %s (%zu data bytes), the file has %zu",
                          path, what, bytes, got);
    }
    *out = buf;
    return 0;
}

int gn_idx_read_images(const char *path, size_t limit, size_t *n, int *h, int *w,
                       unsigned char **pix)
{
    gzFile gz;
    size_t avail;
    if (open_idx(path, &gz, 16, &avail)) return GN_EIO;
    unsigned magic = 0, cnt = 0, rows = 0, cols = 0;
    int rc = 0;
    if (read_u32(gz, &magic)) rc = gn_err_set("%s: too short for an idx file", path);
    else if (magic != 0x803)
        rc = gn_err_set("%s: magic 0x%08x: %s, expected an idx3 images file", path, magic,
                        describe_magic(magic));
    else if (read_u32(gz, &cnt) || read_u32(gz, &rows) || read_u32(gz, &cols))
        rc = gn_err_set("%s: truncated idx header", path);
    else if (!rows || !cols || rows > 4096 || cols > 4096)
        rc = gn_err_set("%s: implausible image size %ux%u", path, rows, cols);
    if (!rc) {
        size_t m = limit && limit < cnt ? limit : cnt;
        char what[64];
        snprintf(what, sizeof what, "%u images of %ux%u", cnt, rows, cols);
        rc = read_body(gz, path, m * rows * cols, avail, what, pix);
        if (!rc) *n = m, *h = (int)rows, *w = (int)cols;
    }
    gzclose(gz);
    return rc;
}

int gn_idx_read_labels(const char *path, size_t limit, size_t *n, unsigned char **lab)
{
    gzFile gz;
    size_t avail;
    if (open_idx(path, &gz, 8, &avail)) return GN_EIO;
    unsigned magic = 0, cnt = 0;
    int rc = 0;
    if (read_u32(gz, &magic)) rc = gn_err_set("%s: too short for an idx file", path);
    else if (magic != 0x801)
        rc = gn_err_set("%s: magic 0x%08x: %s, expected an idx1 labels file", path, magic,
                        describe_magic(magic));
    else if (read_u32(gz, &cnt)) rc = gn_err_set("%s: truncated idx header", path);
    if (!rc) {
        size_t m = limit && limit < cnt ? limit : cnt;
        char what[32];
        snprintf(what, sizeof what, "%u labels", cnt);
        rc = read_body(gz, path, m, avail, what, lab);
        if (!rc) *n = m;
    }
    gzclose(gz);
    return rc;
}
