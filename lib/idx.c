/* idx.c - idx file reader (see gn_idx.h). zlib's gzread reads plain files
 * transparently, so one path serves both. */
#include "gn_idx.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "gn_err.h"

static int open_idx(const char *path, gzFile *gz)
{
    struct stat st;
    if (stat(path, &st)) return gn_err_set("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return gn_err_set("%s: is a directory", path);
    *gz = gzopen(path, "rb");
    if (!*gz) return gn_err_set("%s: %s", path, strerror(errno));
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

static int read_body(gzFile gz, const char *path, size_t bytes, unsigned char **out)
{
    unsigned char *buf = gn_xmalloc(bytes);
    size_t got = 0;
    while (got < bytes) {
        unsigned chunk = bytes - got > (1u << 30) ? (1u << 30) : (unsigned)(bytes - got);
        int k = gzread(gz, buf + got, chunk);
        if (k <= 0) break;
        got += (size_t)k;
    }
    if (got != bytes) {
        free(buf);
        return gn_err_set("%s: truncated: %zu of %zu data bytes", path, got, bytes);
    }
    *out = buf;
    return 0;
}

int gn_idx_read_images(const char *path, size_t limit, size_t *n, int *h, int *w,
                       unsigned char **pix)
{
    gzFile gz;
    if (open_idx(path, &gz)) return GN_EIO;
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
        rc = read_body(gz, path, m * rows * cols, pix);
        if (!rc) *n = m, *h = (int)rows, *w = (int)cols;
    }
    gzclose(gz);
    return rc;
}

int gn_idx_read_labels(const char *path, size_t limit, size_t *n, unsigned char **lab)
{
    gzFile gz;
    if (open_idx(path, &gz)) return GN_EIO;
    unsigned magic = 0, cnt = 0;
    int rc = 0;
    if (read_u32(gz, &magic)) rc = gn_err_set("%s: too short for an idx file", path);
    else if (magic != 0x801)
        rc = gn_err_set("%s: magic 0x%08x: %s, expected an idx1 labels file", path, magic,
                        describe_magic(magic));
    else if (read_u32(gz, &cnt)) rc = gn_err_set("%s: truncated idx header", path);
    if (!rc) {
        size_t m = limit && limit < cnt ? limit : cnt;
        rc = read_body(gz, path, m, lab);
        if (!rc) *n = m;
    }
    gzclose(gz);
    return rc;
}
