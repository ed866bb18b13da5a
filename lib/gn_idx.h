/* gn_idx.h - reading idx files (the MNIST / Fashion-MNIST format), gzipped
 * or not. */
#ifndef GN_IDX_H
#define GN_IDX_H
#include <stddef.h>

/* Reads an idx3 ubyte image file (magic 0x00000803): n images of h x w
 * bytes, malloc'd into *pix. At most `limit` images when limit > 0. */
int gn_idx_read_images(const char *path, size_t limit, size_t *n, int *h, int *w,
                       unsigned char **pix);
/* Reads an idx1 ubyte label file (magic 0x00000801). */
int gn_idx_read_labels(const char *path, size_t limit, size_t *n, unsigned char **lab);
#endif
