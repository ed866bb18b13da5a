/* gn_pack.h - the packed model (genie-packed(5)): hard-rounded integer
 * weight codes packed into bytes (4 per byte at 2 bits, 2 per byte at 4 bits,
 * 1 otherwise), per-channel steps and zero points, activation steps with
 * their bit-widths and signedness, everything else as in a model file.
 * Readable without genie; genie reads it back with the weights dequantised
 * exactly as the fake-quantised model computes them, so logits agree bit for
 * bit. Also unit files: one unit's reconstructed parameters. */
#ifndef GN_PACK_H
#define GN_PACK_H

#include <stddef.h>
#include <stdint.h>

#include "gn_qmodel.h"

#define GN_PACKED_FORMAT 1
#define GN_UNIT_FORMAT 1

/* Packs n codes of `bits` bits into bytes (low bits first); returns bytes. */
size_t gn_pack_codes(uint8_t *dst, const uint8_t *codes, size_t n, int bits);
void gn_unpack_codes(uint8_t *codes, const uint8_t *src, size_t n, int bits);
size_t gn_packed_bytes(size_t n, int bits);

int gn_packed_save(const char *path, const gn_qmodel *q);
int gn_packed_load(const char *path, gn_graph **out);

/* Unit files: recon-block --independent writes unit k's learned parameters
 * (weight steps, rounding variables, activation steps and signedness). */
int gn_unit_save(const char *path, const gn_qmodel *q, int k, const char *qmodel_sha);
/* Applies a unit file to q (checks it belongs to q: same unit range and
 * parameter shapes); marks the unit done. */
int gn_unit_apply(const char *path, gn_qmodel *q, const char *qmodel_sha);

#endif
