/* op_shuffle.c - ShuffleNet's channel shuffle in G groups: the exported
 * Reshape (B,G,C/G,H,W) -> Transpose(0,2,1,3,4) -> Reshape (B,C,H,W) as one
 * permutation of channels, y[k*G + g] = x[g*(C/G) + k]. Backward is the
 * inverse permutation.
 * What it deliberately does not do: any other Transpose. */
#include <string.h>

#include "gn_err.h"
#include "gn_shuffle.h"

/* y, x (B,C,HW) */
void gn_shuffle_forward(float *y, const float *x, int B, int C, int G, int HW)
{
    GN_ASSERT(y && x && G >= 1 && C % G == 0);
    const int K = C / G;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++)
            for (int k = 0; k < K; k++)
                memcpy(y + ((size_t)b * C + (size_t)k * G + g) * HW,
                       x + ((size_t)b * C + (size_t)g * K + k) * HW, (size_t)HW * sizeof(float));
}

void gn_shuffle_backward(float *dx, const float *dy, int B, int C, int G, int HW)
{
    if (!dx) return;
    GN_ASSERT(dy && G >= 1 && C % G == 0);
    const int K = C / G;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++)
            for (int k = 0; k < K; k++) {
                float *d = dx + ((size_t)b * C + (size_t)g * K + k) * HW;
                const float *s = dy + ((size_t)b * C + (size_t)k * G + g) * HW;
                for (int i = 0; i < HW; i++) d[i] += s[i];
            }
}
