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

/* One weight of a packed file, /qweights/NAME, as stored: n = the product of
 * shape codes, each checked below 2^bits; shape[0] per-channel steps (each
 * finite) and zero points. */
typedef struct {
    char *name; /* the weight parameter's name */
    int bits, ndim, shape[4];
    size_t n;
    uint8_t *codes;
    float *step;
    int *zp;
} gn_packed_weight;
/* Reads /qweights/GNAME (GNAME a link in the open group qw) of the packed
 * file `path`, checking it: bits 2..8, the shape, step and zero_point per
 * channel, the codes' byte count and every code against the bit-width
 * ("FILE: /qweights/GNAME: code C out of range for B bits"). gn_packed_load
 * and export-onnx read through it. */
int gn_packed_weight_read(hid_t qw, const char *path, const char *gname, gn_packed_weight *pw);
void gn_packed_weight_free(gn_packed_weight *pw);

/* Unit files: recon-block --independent writes unit k's learned parameters
 * (weight steps, rounding variables, activation steps and signedness). */
int gn_unit_save(const char *path, const gn_qmodel *q, int k, const char *qmodel_sha);
/* The same with extra(f, arg) writing more into the file before it is
 * renamed into place (recon-block --stage: the optimiser state, /optim). */
int gn_unit_save_ex(const char *path, const gn_qmodel *q, int k, const char *qmodel_sha,
                    int (*extra)(hid_t, const void *), const void *arg);
/* Applies a unit file to q (checks it belongs to q: same unit range and
 * parameter shapes); marks the unit done. */
int gn_unit_apply(const char *path, gn_qmodel *q, const char *qmodel_sha);

#endif
