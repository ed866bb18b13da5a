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

/* cvtne2ps gives (lo 0..15, hi 0..15); weave to (lo0, hi0, lo1, hi1 ...):
 * 16 words, word n the pair (lo[n], hi[n]) */
static const uint16_t weave_idx[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                       8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

BF16_TARGET static inline __m512i pair16(__m512i weave, __m512 lo, __m512 hi)
{
    return _mm512_permutexvar_epi16(weave, (__m512i)_mm512_cvtne2ps_pbh(hi, lo));
}

BF16_TARGET static void pair_rows(float *v, int rows, size_t ld, size_t nc)
{
    const __m512i weave = _mm512_loadu_si512(weave_idx);
    for (int p = 0; 2 * p < rows; p++) {
        float *r0 = v + (size_t)2 * p * ld;
        const float *r1 = 2 * p + 1 < rows ? r0 + ld : NULL;
        for (size_t n = 0; n < nc; n += 16) {
            const __m512 lo = _mm512_loadu_ps(r0 + n);
            const __m512 hi = r1 ? _mm512_loadu_ps(r1 + n) : _mm512_setzero_ps();
            _mm512_storeu_si512(r0 + n, pair16(weave, lo, hi));
        }
    }
}

/* x (+ what is at c, if add) to c's lanes in m */
BF16_TARGET static inline void put(float *c, __m512 x, __mmask16 m, int add)
{
    if (add) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, c));
    _mm512_mask_storeu_ps(c, m, x);
}

/* The micro-kernel both products run: a tile of 4 rows by 16*nv columns
 * (nv 1..3; a constant where it is inlined), summed over np pairs of the
 * inner dimension. Row r's word p (a pair of bf16) is at a + r*ar + p*ap
 * (in floats), read as the float it overlays: a broadcast moves its bits
 * unchanged. The 16*nv words of pair row p are at b + p*bs. Each step is
 * nv loads of b, 4 broadcasts and 4*nv vdpbf16ps, where fp32 needs as many
 * FMAs for one element of the inner dimension. The sums start from +0;
 * rows r < mr go to c + r*ldc, the last vector's lanes by mask `last`,
 * added to what is there when add. */
BF16_TARGET static inline __attribute__((always_inline)) void
tile(float *c, size_t ldc, int mr, int nv, __mmask16 last, int add, const float *a, size_t ar,
     size_t ap, const float *b, size_t bs, int np)
{
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00,
           a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    const float *u0 = a, *u1 = a + ar, *u2 = u1 + ar, *u3 = u2 + ar;
    for (int p = 0; p < np; p++, b += bs, u0 += ap, u1 += ap, u2 += ap, u3 += ap) {
        const __m512bh v0 = (__m512bh)_mm512_loadu_si512(b);
        const __m512bh v1 = nv > 1 ? (__m512bh)_mm512_loadu_si512(b + 16) : v0;
        const __m512bh v2 = nv > 2 ? (__m512bh)_mm512_loadu_si512(b + 32) : v0;
        __m512bh w = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(*u0));
        a00 = _mm512_dpbf16_ps(a00, w, v0);
        if (nv > 1) a01 = _mm512_dpbf16_ps(a01, w, v1);
        if (nv > 2) a02 = _mm512_dpbf16_ps(a02, w, v2);
        w = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(*u1));
        a10 = _mm512_dpbf16_ps(a10, w, v0);
        if (nv > 1) a11 = _mm512_dpbf16_ps(a11, w, v1);
        if (nv > 2) a12 = _mm512_dpbf16_ps(a12, w, v2);
        w = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(*u2));
        a20 = _mm512_dpbf16_ps(a20, w, v0);
        if (nv > 1) a21 = _mm512_dpbf16_ps(a21, w, v1);
        if (nv > 2) a22 = _mm512_dpbf16_ps(a22, w, v2);
        w = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(*u3));
        a30 = _mm512_dpbf16_ps(a30, w, v0);
        if (nv > 1) a31 = _mm512_dpbf16_ps(a31, w, v1);
        if (nv > 2) a32 = _mm512_dpbf16_ps(a32, w, v2);
    }
    const __mmask16 m0 = nv == 1 ? last : 0xffff, m1 = nv == 2 ? last : 0xffff, m2 = last;
#define ROW(r, x0, x1, x2)                                                                        \
    if (mr > r) {                                                                                  \
        float *cr = c + (size_t)r * ldc;                                                           \
        put(cr, x0, m0, add);                                                                      \
        if (nv > 1) put(cr + 16, x1, m1, add);                                                     \
        if (nv > 2) put(cr + 32, x2, m2, add);                                                     \
    }
    ROW(0, a00, a01, a02)
    ROW(1, a10, a11, a12)
    ROW(2, a20, a21, a22)
    ROW(3, a30, a31, a32)
#undef ROW
}

/* op_wino.c's layout: U rows of Ci floats (Ci bf16 at their start), V pair
 * rows 2*ld floats apart, whole 48-column blocks */
BF16_TARGET static void gemm(float *restrict M, const float *restrict U, const float *restrict V,
                             int Ko, int Ci, size_t ld, size_t nc)
{
    for (int k = 0; k < Ko; k += 4)
        for (size_t n = 0; n < nc; n += 48)
            tile(M + (size_t)k * ld + n, ld, 4, 3, 0xffff, 0, U + (size_t)k * Ci, (size_t)Ci, 1,
                 V + n, 2 * ld, Ci / 2);
}

/* ---- the general product on packed A (gn_bf16_gemm_pa) ----------------
 * A packed: blocks of 4 rows, each block np = ceil(K/2) steps of 4 words
 * (word p of rows 0..3), zero beyond M and K. B is packed a block of
 * columns at a time into the caller's scratch, np pair rows of the
 * block's width rounded up to 16 (word n of pair row p the pair
 * (B[2p][n], B[2p+1][n]), as gn_bf16_pair_rows makes them), zero beyond K
 * and N, and the block's tiles run while it is in L2: packing all of B
 * first and then multiplying was measured up to 3 times slower on the
 * convolutions' shapes (packed B written out and read back from L3). */

static uint16_t bf16_bits(float x)
{
    uint32_t u;
    x = gn_bf16_round(x);
    memcpy(&u, &x, 4);
    return (uint16_t)(u >> 16);
}

static void pack_a(float *Ap, int ta, int M, int K, const float *A, size_t lda)
{
    const int np = (K + 1) / 2;
    uint16_t *o = (uint16_t *)Ap;
    for (int i = 0; i < M; i += 4)
        for (int p = 0; p < np; p++)
            for (int r = 0; r < 4; r++, o += 2) {
                const int m = i + r, k = 2 * p;
                float x0 = 0, x1 = 0;
                if (m < M) {
                    x0 = ta ? A[(size_t)k * lda + m] : A[(size_t)m * lda + k];
                    if (k + 1 < K) x1 = ta ? A[(size_t)(k + 1) * lda + m] : A[(size_t)m * lda + k + 1];
                }
                o[0] = bf16_bits(x0), o[1] = bf16_bits(x1); /* word = (x0 low, x1 high) */
            }
}

/* Bp (np, nw) = pair rows of columns [n0, n0 + nb) of B, nw = ceil16(nb) */
BF16_TARGET static void pack_b(float *Bp, size_t nw, int K, int n0, int nb, const float *B,
                               size_t ldb)
{
    const __m512i weave = _mm512_loadu_si512(weave_idx);
    const size_t np = ((size_t)K + 1) / 2;
    for (size_t p = 0; p < np; p++) {
        const float *r0 = B + 2 * p * ldb + n0, *r1 = 2 * p + 1 < (size_t)K ? r0 + ldb : NULL;
        float *o = Bp + p * nw;
        for (int n = 0; n < nb; n += 16) {
            const int left = nb - n;
            const __mmask16 m = left >= 16 ? 0xffff : (__mmask16)((1u << left) - 1);
            const __m512 lo = _mm512_maskz_loadu_ps(m, r0 + n);
            const __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1 + n) : _mm512_setzero_ps();
            _mm512_storeu_si512(o + n, pair16(weave, lo, hi));
        }
    }
}

/* Columns of B packed at a time: a multiple of 48 whose packed block is
 * at most B_BLOCK bytes (at least 48), at most ceil16(N). Rows of A in
 * chunks of about A_CHUNK bytes of packed A, so that a chunk stays in L2
 * while the block's 48-column panels pass. Neither changes any output's
 * sum. */
#define B_BLOCK (256 * 1024)
#define A_CHUNK (192 * 1024)

static int b_cols(int K, int N)
{
    const size_t np = ((size_t)K + 1) / 2;
    size_t nb = B_BLOCK / (4 * np) / 48 * 48;
    if (nb < 48) nb = 48;
    const size_t n16 = ((size_t)N + 15) / 16 * 16;
    return (int)(nb < n16 ? nb : n16);
}

BF16_TARGET static void gemm_pa(int M, int N, int K, const float *Ap, const float *B, size_t ldb,
                                int add, float *C, size_t ldc, float *Bp)
{
    const int np = (K + 1) / 2, bc = b_cols(K, N);
    int chunk = (int)(A_CHUNK / (16 * (size_t)np)) * 4;
    if (chunk < 4) chunk = 4;
    for (int b0 = 0; b0 < N; b0 += bc) {
        const int nb = N - b0 < bc ? N - b0 : bc;
        const size_t nw = ((size_t)nb + 15) / 16 * 16; /* words of a pair row of Bp */
        pack_b(Bp, nw, K, b0, nb, B, ldb);
        for (int i0 = 0; i0 < M; i0 += chunk) {
            const int i1 = M - i0 < chunk ? M : i0 + chunk;
            for (int n0 = 0; n0 < nb; n0 += 48) {
                const int left = nb - n0, nv = left >= 48 ? 3 : (left + 15) / 16;
                const int tail = left - 16 * (nv - 1);
                const __mmask16 last = tail >= 16 ? 0xffff : (__mmask16)((1u << tail) - 1);
                const float *b = Bp + n0;
                for (int i = i0; i < i1; i += 4) {
                    const int mr = M - i < 4 ? M - i : 4;
                    const float *a = Ap + (size_t)i * np;
                    float *c = C + (size_t)i * ldc + b0 + n0;
                    if (nv == 3)
                        tile(c, ldc, mr, 3, last, add, a, 1, 4, b, nw, np);
                    else if (nv == 2)
                        tile(c, ldc, mr, 2, last, add, a, 1, 4, b, nw, np);
                    else
                        tile(c, ldc, mr, 1, last, add, a, 1, 4, b, nw, np);
                }
            }
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

size_t gn_bf16_a_floats(int M, int K) { return ((size_t)M + 3) / 4 * 4 * (((size_t)K + 1) / 2); }

size_t gn_bf16_b_floats(int K, int N)
{
#if defined(__x86_64__) && defined(__GNUC__)
    return ((size_t)K + 1) / 2 * (size_t)b_cols(K, N);
#else
    (void)K, (void)N;
    return 0;
#endif
}

void gn_bf16_pack_a(float *Ap, int ta, int M, int K, const float *A, int lda)
{
    GN_ASSERT(M >= 1 && K >= 1 && lda >= (ta ? M : K) && gn_bf16_cpu());
#if defined(__x86_64__) && defined(__GNUC__)
    pack_a(Ap, ta, M, K, A, (size_t)lda);
#else
    (void)Ap, (void)A;
#endif
}

void gn_bf16_gemm_pa(int M, int N, int K, const float *Ap, const float *B, int ldb, int add,
                     float *C, int ldc, float *scratch)
{
    GN_ASSERT(M >= 1 && N >= 1 && K >= 1 && ldb >= N && ldc >= N && gn_bf16_cpu());
#if defined(__x86_64__) && defined(__GNUC__)
    gemm_pa(M, N, K, Ap, B, (size_t)ldb, add != 0, C, (size_t)ldc, scratch);
#else
    (void)Ap, (void)B, (void)C, (void)scratch;
#endif
}
