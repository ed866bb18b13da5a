/* png.c - a grid of images as a PNG file via libpng (see gn_png.h).
 * libpng reports errors by longjmp; the jump lands in one place that
 * releases everything, so nothing here exits. */
#include "gn_png.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gn_err.h"
#include "gn_out.h"

static int write_png(const char *tmp, const unsigned char *img, int width, int height, int chans)
{
    FILE *f = fopen(tmp, "wb");
    if (!f) return gn_err_set("cannot create: %s", strerror(errno)); /* caller prefixes the user's path */
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return gn_err_set("libpng: cannot initialise");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return gn_err_set("libpng: cannot write the image");
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 chans == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(img + (size_t)y * width * chans));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fclose(f)) return gn_err_set("cannot write: %s", strerror(errno));
    return 0;
}

int gn_png_grid(const char *path, const float *x, size_t n, int C, int H, int W, int cols,
                int pad)
{
    GN_ASSERT(C >= 1 && H >= 1 && W >= 1 && pad >= 0);
    if (n == 0) return gn_err_set("%s: no images to draw", path);
    if (cols <= 0) cols = (int)ceil(sqrt((double)n));
    if ((size_t)cols > n) cols = (int)n;
    const int rows = (int)((n + (size_t)cols - 1) / (size_t)cols);
    const size_t width = (size_t)cols * (W + pad) + pad, height = (size_t)rows * (H + pad) + pad;
    if (width > 1000000 || height > 1000000 || width * height > (size_t)1 << 31)
        return gn_err_set("%s: a grid of %zu images of %dx%d is too large for a PNG", path, n, H, W);
    const int chans = C == 3 ? 3 : 1;
    unsigned char *img = gn_xmalloc(width * height * chans);
    memset(img, 40, width * height * chans);
    const size_t HW = (size_t)H * W;
    for (size_t i = 0; i < n; i++) {
        const float *xi = x + i * (size_t)C * HW; // (C,H,W)
        float lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < (size_t)chans * HW; j++) {
            float v = xi[j];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        const float scale = hi > lo ? 255.0f / (hi - lo) : 0.0f;
        const size_t ox = (size_t)(i % (size_t)cols) * (W + pad) + pad;
        const size_t oy = (size_t)(i / (size_t)cols) * (H + pad) + pad;
        for (int ch = 0; ch < chans; ch++)
            for (int y = 0; y < H; y++)
                for (int xx = 0; xx < W; xx++) {
                    float v = xi[ch * HW + (size_t)y * W + xx];
                    float p = scale > 0 ? (v - lo) * scale : 127.5f;
                    if (!(p >= 0)) p = 0; /* NaN too */
                    if (p > 255) p = 255;
                    img[((oy + y) * width + ox + xx) * chans + ch] = (unsigned char)(p + 0.5f);
                }
    }
    const char *tmp = gn_out_begin(path);
    int rc = write_png(tmp, img, (int)width, (int)height, chans);
    free(img);
    if (rc) {
        gn_err_prefix("%s", path);
        gn_out_abort();
        return rc;
    }
    return gn_out_commit();
}
