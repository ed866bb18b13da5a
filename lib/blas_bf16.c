/* blas_bf16.c - bf16 products with fp32 accumulation (see gn_blas_bf16.h).
 *
 * The kernel has the shape of op_wino.c's AVX-512 fp32 one (4 rows of U by
 * 48 columns of V in 12 accumulators), stepping over pairs of the inner
 * dimension: each step is 3 loads of V's pair rows, 4 broadcasts of U's
 * pairs and 12 vdpbf16ps, where fp32 needs 12 FMAs for one element of the
 * inner dimension. The code for it is compiled with a target attribute and
 * only ever called after cpuid said yes (gn_bf16_available), so a CPU
 * without the instruction never reaches it. */
#include "gn_blas_bf16.h"

#include <stdint.h>
#include <string.h>

#include "gn_base.h"
#include "gn_cpu.h"
#include "gn_err.h"

static int cpu_ok = -1;  /* gn_bf16_cpu, once */
static int env_off = -1; /* GN_NO_BF16, once */
static int test_off;     /* gn_bf16_set_disabled */
static _Thread_local int products; /* this thread's gn_products_set */

int gn_bf16_cpu(void)
{
    int c = __atomic_load_n(&cpu_ok, __ATOMIC_RELAXED);
    if (c < 0) {
        const unsigned need = GN_CPU_X86 | GN_CPU_AVX512F | GN_CPU_AVX512BW | GN_CPU_AVX512BF16 |
                              GN_CPU_OS_ZMM;
        c = (gn_cpu_features(NULL, 0) & need) == need;
#if !(defined(__x86_64__) && defined(__GNUC__))
        c = 0;
#endif
        __atomic_store_n(&cpu_ok, c, __ATOMIC_RELAXED);
    }
    return c;
}

int gn_bf16_available(void)
{
    int e = __atomic_load_n(&env_off, __ATOMIC_RELAXED);
    if (e < 0) {
        e = gn_env_flag("GN_NO_BF16");
        __atomic_store_n(&env_off, e, __ATOMIC_RELAXED);
    }
    return !e && !__atomic_load_n(&test_off, __ATOMIC_RELAXED) && gn_bf16_cpu();
}

void gn_bf16_set_disabled(int on) { __atomic_store_n(&test_off, on != 0, __ATOMIC_RELAXED); }

int gn_products_set(int p)
{
    int old = products;
    products = p == GN_PRODUCTS_BF16 ? GN_PRODUCTS_BF16 : GN_PRODUCTS_FP32;
    return old;
}

int gn_products_bf16(void) { return products == GN_PRODUCTS_BF16 && gn_bf16_available(); }

const char *gn_products_name(int p) { return p == GN_PRODUCTS_BF16 ? "bf16" : "fp32"; }

int gn_products_from_name(const char *s)
{
    if (!s) return -1;
    if (!strcmp(s, "fp32")) return GN_PRODUCTS_FP32;
    if (!strcmp(s, "bf16")) return GN_PRODUCTS_BF16;
    return -1;
}

float gn_bf16_round(float x)
{
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) == 0x7f800000u) { /* inf stays, NaN stays NaN (quiet) */
        if (u & 0x007fffffu) u |= 0x00400000u;
        u &= 0xffff0000u;
    } else if ((u & 0x7f800000u) == 0) { /* zero and subnormal: signed zero */
        u &= 0x80000000u;
    } else {
        u += 0x7fffu + ((u >> 16) & 1u);
        u &= 0xffff0000u;
    }
    memcpy(&x, &u, 4);
    return x;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512bf16")))

BF16_TARGET static void round_rows(float *a, size_t rows, size_t n)
{
    for (size_t r = 0; r < rows; r++) {
        float *row = a + r * n;
        uint16_t *o = (uint16_t *)row;
        for (size_t i = 0; i < n; i += 32) {
            const size_t left = n - i;
            const __mmask16 m0 = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            const __mmask16 m1 = left >= 32 ? 0xffff
                                 : left > 16 ? (__mmask16)((1u << (left - 16)) - 1)
                                             : 0;
            const __m512 lo = _mm512_maskz_loadu_ps(m0, row + i);
            const __m512 hi = _mm512_maskz_loadu_ps(m1, row + i + 16);
            const __m512i b = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
            const __mmask32 m = left >= 32 ? 0xffffffffu : (__mmask32)((1u << left) - 1);
            _mm512_mask_storeu_epi16(o + i, m, b);
        }
    }
}

BF16_TARGET static void pair_rows(float *v, int rows, size_t ld, size_t nc)
{
    /* cvtne2ps gives (lo 0..15, hi 0..15); weave to (lo0, hi0, lo1, hi1 ...) */
    static const uint16_t w[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                   8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i weave = _mm512_loadu_si512(w);
    for (int p = 0; 2 * p < rows; p++) {
        float *r0 = v + (size_t)2 * p * ld;
        const float *r1 = 2 * p + 1 < rows ? r0 + ld : NULL;
        for (size_t n = 0; n < nc; n += 16) {
            const __m512 lo = _mm512_loadu_ps(r0 + n);
            const __m512 hi = r1 ? _mm512_loadu_ps(r1 + n) : _mm512_setzero_ps();
            const __m512i b = (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
            _mm512_storeu_si512(r0 + n, _mm512_permutexvar_epi16(weave, b));
        }
    }
}

BF16_TARGET static void gemm(float *restrict M, const float *restrict U, const float *restrict V,
                             int Ko, int Ci, size_t ld, size_t nc)
{
    const int P = Ci / 2;
    const size_t vs = 2 * ld; /* floats from one pair row to the next */
    for (int k = 0; k < Ko; k += 4) {
        /* word p of a row (a pair of bf16) is read as the float it overlays:
         * a broadcast moves its bits unchanged */
        const float *u0 = U + (size_t)k * Ci, *u1 = u0 + Ci, *u2 = u1 + Ci, *u3 = u2 + Ci;
        for (size_t n = 0; n < nc; n += 48) {
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00,
                   a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            const float *v = V + n;
            for (int p = 0; p < P; p++, v += vs) {
                const __m512bh v0 = (__m512bh)_mm512_loadu_si512(v),
                               v1 = (__m512bh)_mm512_loadu_si512(v + 16),
                               v2 = (__m512bh)_mm512_loadu_si512(v + 32);
                __m512bh b = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(u0[p]));
                a00 = _mm512_dpbf16_ps(a00, b, v0), a01 = _mm512_dpbf16_ps(a01, b, v1);
                a02 = _mm512_dpbf16_ps(a02, b, v2);
                b = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(u1[p]));
                a10 = _mm512_dpbf16_ps(a10, b, v0), a11 = _mm512_dpbf16_ps(a11, b, v1);
                a12 = _mm512_dpbf16_ps(a12, b, v2);
                b = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(u2[p]));
                a20 = _mm512_dpbf16_ps(a20, b, v0), a21 = _mm512_dpbf16_ps(a21, b, v1);
                a22 = _mm512_dpbf16_ps(a22, b, v2);
                b = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(u3[p]));
                a30 = _mm512_dpbf16_ps(a30, b, v0), a31 = _mm512_dpbf16_ps(a31, b, v1);
                a32 = _mm512_dpbf16_ps(a32, b, v2);
            }
            float *m = M + (size_t)k * ld + n;
            _mm512_storeu_ps(m, a00), _mm512_storeu_ps(m + 16, a01), _mm512_storeu_ps(m + 32, a02);
            m += ld;
            _mm512_storeu_ps(m, a10), _mm512_storeu_ps(m + 16, a11), _mm512_storeu_ps(m + 32, a12);
            m += ld;
            _mm512_storeu_ps(m, a20), _mm512_storeu_ps(m + 16, a21), _mm512_storeu_ps(m + 32, a22);
            m += ld;
            _mm512_storeu_ps(m, a30), _mm512_storeu_ps(m + 16, a31), _mm512_storeu_ps(m + 32, a32);
        }
    }
}
#endif

void gn_bf16_round_rows(float *a, size_t rows, size_t n)
{
    GN_ASSERT(n % 2 == 0 && gn_bf16_cpu());
#if defined(__x86_64__) && defined(__GNUC__)
    round_rows(a, rows, n);
#else
    (void)a, (void)rows;
#endif
}

void gn_bf16_pair_rows(float *v, int rows, size_t ld, size_t nc)
{
    GN_ASSERT(nc % 16 == 0 && nc <= ld && gn_bf16_cpu());
#if defined(__x86_64__) && defined(__GNUC__)
    pair_rows(v, rows, ld, nc);
#else
    (void)v, (void)rows;
#endif
}

void gn_bf16_gemm(float *M, const float *U, const float *V, int Ko, int Ci, size_t ld, size_t nc)
{
    GN_ASSERT(Ko % 4 == 0 && Ci % 2 == 0 && nc % 48 == 0 && nc <= ld && gn_bf16_cpu());
#if defined(__x86_64__) && defined(__GNUC__)
    gemm(M, U, V, Ko, Ci, ld, nc);
#else
    (void)M, (void)U, (void)V;
#endif
}
