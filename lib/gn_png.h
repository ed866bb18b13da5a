/* gn_png.h - images as a PNG grid (libpng), so that a person can look at
 * distilled or real samples.
 * What this does not do: read PNG, or undo a dataset's normalisation (the
 * model file does not record it): each image is stretched on its own. */
#ifndef GN_PNG_H
#define GN_PNG_H

#include <stddef.h>

/* Writes n images x (n,C,H,W) to `path` (atomically: temporary name and
 * rename, gn_out.h) as one PNG: `cols` images per row (0: ceil(sqrt(n))),
 * `pad` pixels of dark grey between and around them. Each image is mapped
 * linearly from its own min..max to 0..255 (a constant image is mid-grey);
 * C = 3 gives RGB, any other C shows channel 0 in grey. Returns 0 or an
 * error naming the file. */
int gn_png_grid(const char *path, const float *x, size_t n, int C, int H, int W, int cols,
                int pad);

#endif
