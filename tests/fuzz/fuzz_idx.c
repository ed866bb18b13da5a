/* fuzz_idx.c - libFuzzer target for the idx reader (images and labels,
 * plain or gzipped). The first input byte picks images or labels and a
 * limit; the rest is the file, handed to the reader through a memfd so that
 * it runs its own open/gzread path. A failing read must leave a one-line
 * message that starts with the file's name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gn_err.h"
#include "gn_idx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz.idx", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || pwrite(fd, data + 1, size - 1, 0) != (ssize_t)(size - 1)) abort();
    size_t limit = data[0] & 0x7f ? (size_t)(data[0] & 0x7f) * 97 : 0, n = 0;
    int rc;
    if (data[0] & 0x80) {
        unsigned char *lab = NULL;
        if (!(rc = gn_idx_read_labels(path, limit, &n, &lab))) free(lab);
    } else {
        unsigned char *pix = NULL;
        int h, w;
        if (!(rc = gn_idx_read_images(path, limit, &n, &h, &w, &pix))) free(pix);
    }
    const char *m = gn_err_msg();
    if (rc && (strncmp(m, path, strlen(path)) || strchr(m, '\n'))) {
        fprintf(stderr, "fuzz_idx: bad error message: \"%s\"\n", m);
        abort();
    }
    return 0;
}
