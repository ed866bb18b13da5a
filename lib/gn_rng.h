/* gn_rng.h - seeded random numbers. A generator is a pure function of
 * (seed, stream): streams derived from the same seed are independent, so
 * batch K of a job draws the same numbers whether it runs alone in its own
 * process or after batches 0..K-1 in one process. xoshiro256** seeded by
 * splitmix64; normals by Box-Muller (both values used). Not cryptographic. */
#ifndef GN_RNG_H
#define GN_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct gn_rng {
    uint64_t s[4];
    int have_spare;
    double spare;
} gn_rng;

/* Seeds r from (seed, stream). */
void gn_rng_seed(gn_rng *r, uint64_t seed, uint64_t stream);
uint64_t gn_rng_u64(gn_rng *r);
/* uniform in [0,1) with 24 random bits (exact in float) */
float gn_rng_uniform(gn_rng *r);
/* uniform integer in [0, n) */
uint32_t gn_rng_below(gn_rng *r, uint32_t n);
/* standard normal */
float gn_rng_normal(gn_rng *r);
void gn_rng_fill_normal(gn_rng *r, float *x, size_t n, float mean, float std);
void gn_rng_fill_uniform(gn_rng *r, float *x, size_t n, float lo, float hi);
#endif
