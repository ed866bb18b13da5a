/* op_xent.c - softmax cross-entropy over K classes, mean over the batch,
 * forward and backward in one pass.
 *
 * Numerically stable: the row maximum is subtracted before exp, and the loss
 * is logsumexp(l) - l[label] (no log of a rounded-to-zero probability).
 * When given, probs holds the softmax on return.
 * What it deliberately does not do: label smoothing, class weights, or
 * ignore-index labels (every label must lie in [0,K)). */
#include "gn_xent.h"
#include "gn_err.h"

#include <math.h>

float gn_xent_forward_backward(float *dlogits, float *probs, const float *logits,
                               const int *labels, int B, int K, float scale)
{
    GN_ASSERT(logits && labels && B >= 1 && K >= 1);
    double loss = 0;
    const float g = scale / (float)B;
    for (int n = 0; n < B; n++) {
        const float *l = logits + (size_t)n * K; // (K)
        const int y = labels[n];
        GN_ASSERT(y >= 0 && y < K);
        float mx = l[0];
        for (int k = 1; k < K; k++)
            if (l[k] > mx) mx = l[k];
        double sum = 0;
        for (int k = 0; k < K; k++) {
            float e = expf(l[k] - mx);
            if (probs) probs[(size_t)n * K + k] = e;
            sum += e;
        }
        loss += log(sum) + mx - l[y];
        if (!dlogits && !probs) continue;
        const float inv = (float)(1.0 / sum);
        for (int k = 0; k < K; k++) {
            /* recompute exp when the caller gave no scratch */
            float p = (probs ? probs[(size_t)n * K + k] : expf(l[k] - mx)) * inv;
            if (probs) probs[(size_t)n * K + k] = p;
            if (dlogits) dlogits[(size_t)n * K + k] += g * (p - (k == y ? 1.0f : 0.0f));
        }
    }
    return (float)(loss / B);
}
