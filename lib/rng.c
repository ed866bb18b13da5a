/* rng.c - seeded random numbers (see gn_rng.h). */
#include "gn_rng.h"

#include <math.h>

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void gn_rng_seed(gn_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ 0x6a09e667f3bcc908ULL;
    uint64_t a = splitmix(&x);
    x = a ^ (stream * 0xd1b54a32d192ed03ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix(&x);
    r->have_spare = 0;
    r->spare = 0;
}

static inline uint64_t rotl(uint64_t v, int k) { return (v << k) | (v >> (64 - k)); }

uint64_t gn_rng_u64(gn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return res;
}

float gn_rng_uniform(gn_rng *r) { return (float)(gn_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

uint32_t gn_rng_below(gn_rng *r, uint32_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased */
    uint64_t m = (uint64_t)(uint32_t)(gn_rng_u64(r) >> 32) * n;
    uint32_t l = (uint32_t)m;
    if (l < n) {
        uint32_t t = (uint32_t)(-n) % n;
        while (l < t) {
            m = (uint64_t)(uint32_t)(gn_rng_u64(r) >> 32) * n;
            l = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float gn_rng_normal(gn_rng *r)
{
    if (r->have_spare) {
        r->have_spare = 0;
        return (float)r->spare;
    }
    double u1, u2;
    do u1 = (double)(gn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    while (u1 <= 0);
    u2 = (double)(gn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
    r->spare = rad * sin(th);
    r->have_spare = 1;
    return (float)(rad * cos(th));
}

void gn_rng_fill_normal(gn_rng *r, float *x, size_t n, float mean, float std)
{
    for (size_t i = 0; i < n; i++) x[i] = mean + std * gn_rng_normal(r);
}

void gn_rng_fill_uniform(gn_rng *r, float *x, size_t n, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * gn_rng_uniform(r);
}
