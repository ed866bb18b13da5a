/* gn_xent.h - softmax cross-entropy, loss and gradient (op_xent.c).
 * Conventions as gn_ops.h. */
#ifndef GN_XENT_H
#define GN_XENT_H

#include <stddef.h>

/* logits (B,K), labels (B). Returns the mean loss over the batch; if dlogits
 * is not NULL, ADDS scale*(softmax - onehot)/B into it. probs (B,K) is scratch
 * the caller provides (may be NULL when dlogits is NULL). */
float gn_xent_forward_backward(float *dlogits, float *probs, const float *logits,
                               const int *labels, int B, int K, float scale);

#endif
