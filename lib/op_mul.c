/* op_mul.c - element-wise product of two tensors of one shape (SiLU's
 * x*sigmoid(x), opset 13's HardSwish), or of a (B,C,HW) tensor and a (B,C)
 * vector broadcast over H,W (squeeze-excitation's channel gate).
 * What it deliberately does not do: other broadcasts (along C, or of a
 * constant). */
#include "gn_err.h"
#include "gn_mul.h"

/* y (B,C,HW) = a (B,C,HW) * b: b (B,C,HW), or (B,C) when bcast */
void gn_mul_forward(float *y, const float *a, const float *b, int B, int C, int HW, int bcast)
{
    GN_ASSERT(y && a && b && B >= 1 && C >= 1 && HW >= 1);
    const size_t planes = (size_t)B * C;
    for (size_t p = 0; p < planes; p++) {
        const float *ap = a + p * HW;
        float *yp = y + p * HW;
        if (bcast) {
            const float s = b[p];
            for (int i = 0; i < HW; i++) yp[i] = ap[i] * s;
        } else {
            const float *bp = b + p * HW;
            for (int i = 0; i < HW; i++) yp[i] = ap[i] * bp[i];
        }
    }
}

/* da += dy * b; db += dy * a (summed over HW when bcast); either may be NULL */
void gn_mul_backward(float *da, float *db, const float *dy, const float *a, const float *b, int B,
                     int C, int HW, int bcast)
{
    GN_ASSERT(dy && a && b);
    const size_t planes = (size_t)B * C;
    for (size_t p = 0; p < planes; p++) {
        const float *ap = a + p * HW, *dyp = dy + p * HW;
        if (bcast) {
            if (da)
                for (int i = 0; i < HW; i++) da[p * HW + i] += dyp[i] * b[p];
            if (db) {
                double s = 0;
                for (int i = 0; i < HW; i++) s += (double)dyp[i] * ap[i];
                db[p] += (float)s;
            }
        } else {
            const float *bp = b + p * HW;
            if (da)
                for (int i = 0; i < HW; i++) da[p * HW + i] += dyp[i] * bp[i];
            if (db)
                for (int i = 0; i < HW; i++) db[p * HW + i] += dyp[i] * ap[i];
        }
    }
}
