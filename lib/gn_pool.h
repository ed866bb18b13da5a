/* gn_pool.h - max, average and global average pooling, forward and
 * backward (op_pool.c).
 * Conventions as gn_ops.h. */
#ifndef GN_POOL_H
#define GN_POOL_H

#include <stddef.h>

typedef struct {
    int B, C, H, W;
    int KH, KW, SH, SW, PT, PL, PB, PR;
    int count_include_pad; /* AveragePool only */
    int ceil_mode;         /* MaxPool only: OH, OW rounded up, PyTorch's rule (the last
                            * window starts inside the input or its top/left pad) */
    int OH, OW;            /* filled by gn_pool_shape_init */
} gn_pool_shape;
int gn_pool_shape_init(gn_pool_shape *s);
/* argmax (B,C,OH,OW) caches the flat index h*W+w of the max inside x's plane */
void gn_maxpool_forward(float *y, int *argmax, const float *x, const gn_pool_shape *s);
void gn_maxpool_backward(float *dx, const float *dy, const int *argmax, const gn_pool_shape *s);
void gn_avgpool_forward(float *y, const float *x, const gn_pool_shape *s);
void gn_avgpool_backward(float *dx, const float *dy, const gn_pool_shape *s);
/* global average pool: x (B,C,HW) -> y (B,C) */
void gn_gap_forward(float *y, const float *x, int B, int C, int HW);
void gn_gap_backward(float *dx, const float *dy, int B, int C, int HW);

#endif
