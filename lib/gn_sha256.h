/* gn_sha256.h - SHA-256 (FIPS 180-4), to tie a file to the model it was
 * made from: distill records the model file's hash, calib and recon-block
 * compare it and warn about data distilled from another model.
 * What this does not do: HMAC, or anything that needs constant time. */
#ifndef GN_SHA256_H
#define GN_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint64_t len;      /* bytes hashed so far */
    unsigned char buf[64];
    size_t nbuf;
} gn_sha256_ctx;

void gn_sha256_init(gn_sha256_ctx *c);
void gn_sha256_update(gn_sha256_ctx *c, const void *data, size_t n);
/* Writes the 32-byte digest; the context must be re-initialised to reuse. */
void gn_sha256_final(gn_sha256_ctx *c, unsigned char out[32]);
/* Hex digest (64 lowercase hex digits and a NUL) of n bytes. */
void gn_sha256_hex(const void *data, size_t n, char hex[65]);
/* Hex digest of a file's contents ("-": the image of standard input,
 * gn_stream.h). Returns 0, or an error naming the file (hex then holds ""). */
int gn_sha256_file(const char *path, char hex[65]);

#endif
