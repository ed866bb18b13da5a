/* op_wino.c - Winograd F(2x2,3x3) convolution (see gn_wino.h).
 *
 * One chunk of nb samples at a time:
 *   1. input transform: V[xi][c][n] = (B^T d B)[xi] for the 4x4 input patch
 *      d of tile n (n = sample*T + tile row*TW + tile column, T = TH*TW
 *      tiles of 2x2 outputs per sample, the patch reaching one pixel into
 *      the zero padding on every side);
 *   2. 16 products M[xi] (Ko, n) = U[xi] (Ko, Ci) . V[xi] (Ci, n);
 *   3. output transform: the 2x2 outputs of tile n = A^T M[.][k][n] A.
 * The chunk is sized so that V and M (16*(Ci+Ko) floats per tile) stay
 * near 1 MB, the size of a core's L2 here (512 KB and 2 MB measured no
 * faster on Genie-D's ResNet-20 iteration); its row length ld is rounded up
 * to whole kernel blocks (48 tiles), the padding columns zeroed.
 *
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1].
 * The input transform first combines a tile row's four padded input rows
 * over their whole width (B^T's rows), then each tile's four columns of
 * those (B's), so that every step is a run over the tiles of a row. */
#include "gn_wino.h"

#include "gn_blas.h"
#include "gn_blas_bf16.h"
#include "gn_base.h"
#include "gn_err.h"

#include <stdlib.h>
#include <string.h>

#define WG_NB 48 /* tile columns per kernel block (ld is a multiple) */
#define WG_KB 4  /* output channels per kernel block (Ko is a multiple) */
#define WG_L2 (1 << 20)

size_t gn_wino_u_floats(int Ko, int Ci) { return (size_t)16 * Ko * Ci; }

/* t (4x3) = G g (3x3), row-major */
static void g_rows(double t[12], const double g[9])
{
    for (int j = 0; j < 3; j++) {
        t[j] = g[j];
        t[3 + j] = 0.5 * (g[j] + g[3 + j] + g[6 + j]);
        t[6 + j] = 0.5 * (g[j] - g[3 + j] + g[6 + j]);
        t[9 + j] = g[6 + j];
    }
}

void gn_wino_weights(float *U, const float *w, int Cout, int Cin, int flip)
{
    const int Ko = flip ? Cin : Cout, Ci = flip ? Cout : Cin;
    const size_t plane = (size_t)Ko * Ci;
    for (int k = 0; k < Ko; k++)
        for (int c = 0; c < Ci; c++) {
            double g[9], t[12];
            const float *src = flip ? w + ((size_t)c * Cin + k) * 9 : w + ((size_t)k * Cin + c) * 9;
            for (int i = 0; i < 9; i++) g[i] = src[flip ? 8 - i : i];
            g_rows(t, g);
            for (int i = 0; i < 4; i++) {
                const double *r = t + 3 * i;
                const double u[4] = {r[0], 0.5 * (r[0] + r[1] + r[2]), 0.5 * (r[0] - r[1] + r[2]),
                                     r[2]};
                for (int j = 0; j < 4; j++)
                    U[(size_t)(4 * i + j) * plane + (size_t)k * Ci + c] = (float)u[j];
            }
        }
}

static int tiles(int n) { return (n + 1) / 2; }

static size_t ld_of(int nb, int H, int W)
{
    size_t n = (size_t)nb * tiles(H) * tiles(W);
    return (n + WG_NB - 1) / WG_NB * WG_NB;
}

int gn_wino_chunk(int Ko, int Ci, int H, int W)
{
    const size_t T = (size_t)tiles(H) * tiles(W), per = 16 * sizeof(float) * (size_t)(Ko + Ci);
    size_t nb = WG_L2 / (per * T);
    return nb < 1 ? 1 : nb > 64 ? 64 : (int)nb;
}

/* scratch after V and M: a row of zeros (W), the four vertical
 * combinations of a tile row's padded input rows (4 x (2TW+2)), and two
 * output rows (2 x 2TW) */
static size_t row_floats(int H, int W)
{
    const size_t TW = tiles(W);
    return (size_t)W + 4 * (2 * TW + 2) + 4 * TW;
}

size_t gn_wino_floats(int Ko, int Ci, int H, int W)
{
    const size_t ld = ld_of(gn_wino_chunk(Ko, Ci, H, W), H, W);
    return 16 * ld * (size_t)(Ko + Ci) + row_floats(H, W);
}

/* The transforms are plain loops over contiguous runs, built for the vector
 * units this CPU has (gcc's target_clones, resolved once at load time) and
 * with the loop vectoriser on (the Makefile compiles this file with -O3).
 * They only add and subtract, so every clone gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WG_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WG_CLONES
#endif

/* V[xi][c][n0 + th*TW + tw] for one sample x (Ci, H, W); xs = Ci*ld. Tile
 * row th reads padded rows 2th..2th+3 (padded row r is input row r-1) and
 * tile column tw padded columns 2tw..2tw+3 (padded column p is input column
 * p-1): first the four vertical combinations of B^T over whole rows, then
 * the horizontal ones per tile. */
WG_CLONES static void wino_in(float *restrict V, size_t xs, size_t ld, size_t n0,
                              const float *restrict x, int Ci, int H, int W, float *restrict rows)
{
    const int TH = tiles(H), TW = tiles(W), Wp = 2 * TW + 2;
    float *zero = rows, *e = rows + W; // e: 4 rows of Wp
    memset(zero, 0, sizeof(float) * W);
    memset(e, 0, sizeof(float) * 4 * Wp); // padded columns 0 and > W stay 0
    for (int c = 0; c < Ci; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *vc = V + (size_t)c * ld + n0;
        for (int th = 0; th < TH; th++) {
            const float *r[4];
            for (int i = 0; i < 4; i++) {
                const int h = 2 * th + i - 1;
                r[i] = h >= 0 && h < H ? xc + (size_t)h * W : zero;
            }
            { /* restrict only in here: e is read through q below */
                const float *restrict a = r[0], *restrict b = r[1], *restrict d = r[2],
                                      *restrict f = r[3];
                float *restrict e0 = e + 1, *restrict e1 = e0 + Wp, *restrict e2 = e1 + Wp,
                                *restrict e3 = e2 + Wp;
                for (int p = 0; p < W; p++) {
                    e0[p] = a[p] - d[p];
                    e1[p] = b[p] + d[p];
                    e2[p] = d[p] - b[p];
                    e3[p] = b[p] - f[p];
                }
            }
            for (int i = 0; i < 4; i++) {
                const float *restrict q = e + (size_t)i * Wp;
                float *restrict v0 = vc + (size_t)(4 * i) * xs + (size_t)th * TW;
                float *restrict v1 = v0 + xs, *restrict v2 = v1 + xs, *restrict v3 = v2 + xs;
                for (int t = 0; t < TW; t++) {
                    const float q0 = q[2 * t], q1 = q[2 * t + 1], q2 = q[2 * t + 2],
                                q3 = q[2 * t + 3];
                    v0[t] = q0 - q2;
                    v1[t] = q1 + q2;
                    v2[t] = q2 - q1;
                    v3[t] = q1 - q3;
                }
            }
        }
    }
}

/* y (Ko, H, W) (=|+=) the output tiles of one sample from M[xi][k][n0 + ...];
 * ms = Ko*ld */
WG_CLONES static void wino_out(float *restrict y, int acc, const float *restrict M, size_t ms,
                               size_t ld, size_t n0, const float *bias, int Ko, int H, int W,
                               float *restrict rows)
{
    const int TH = tiles(H), TW = tiles(W);
    float *restrict r0 = rows + W + 4 * (2 * TW + 2), *restrict r1 = r0 + 2 * TW;
    for (int k = 0; k < Ko; k++) {
        const float bv = bias ? bias[k] : 0.0f;
        float *yk = y + (size_t)k * H * W;
        for (int th = 0; th < TH; th++) {
            const float *restrict m = M + (size_t)k * ld + n0 + (size_t)th * TW;
            for (int t = 0; t < TW; t++) {
                float s0[4], s1[4];
                for (int j = 0; j < 4; j++) {
                    const float a0 = m[(size_t)j * ms + t], a1 = m[(size_t)(4 + j) * ms + t],
                                a2 = m[(size_t)(8 + j) * ms + t], a3 = m[(size_t)(12 + j) * ms + t];
                    s0[j] = a0 + a1 + a2;
                    s1[j] = a1 - a2 - a3;
                }
                r0[2 * t] = s0[0] + s0[1] + s0[2] + bv;
                r0[2 * t + 1] = s0[1] - s0[2] - s0[3] + bv;
                r1[2 * t] = s1[0] + s1[1] + s1[2] + bv;
                r1[2 * t + 1] = s1[1] - s1[2] - s1[3] + bv;
            }
            for (int a = 0; a < 2 && 2 * th + a < H; a++) {
                const float *restrict r = a ? r1 : r0;
                float *restrict yr = yk + (size_t)(2 * th + a) * W;
                if (acc)
                    for (int i = 0; i < W; i++) yr[i] += r[i];
                else
                    memcpy(yr, r, sizeof(float) * W);
            }
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The same two transforms in AVX-512, 16 tiles of a tile row per step: the
 * input columns a step reads (2*t0-1 .. 2*t0+32) are three masked loads
 * (lanes outside the row read as the zero padding); the even and odd
 * columns come out of two-source permutes. Same operations in the same
 * order as wino_in/wino_out, so the same bits. */

/* lanes [lo, hi) of 16 set, clamped to [0,16] */
static inline __mmask16 lanes(int lo, int hi)
{
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    return hi <= lo ? 0 : (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* V's four planes xi = 4i..4i+3 at v0 (plane stride xs), lanes m, from
 * the columns q0..q3 of a row of vertical combinations: B's columns */
__attribute__((target("avx512f"))) static inline void store_v4(float *v0, size_t xs,
                                                               __mmask16 m, __m512 q0, __m512 q1,
                                                               __m512 q2, __m512 q3)
{
    _mm512_mask_storeu_ps(v0, m, _mm512_sub_ps(q0, q2));
    _mm512_mask_storeu_ps(v0 + xs, m, _mm512_add_ps(q1, q2));
    _mm512_mask_storeu_ps(v0 + 2 * xs, m, _mm512_sub_ps(q2, q1));
    _mm512_mask_storeu_ps(v0 + 3 * xs, m, _mm512_sub_ps(q1, q3));
}

/* o[a][e] = output row a, even (e = 0) or odd column, + bias, of the
 * tiles in lanes mt: A^T M A from M's 16 planes at m (plane stride ms) */
__attribute__((target("avx512f"))) static inline void out_tiles(__m512 o[2][2], const float *m,
                                                                size_t ms, __mmask16 mt,
                                                                __m512 bv)
{
    __m512 s0[4], s1[4];
    for (int j = 0; j < 4; j++) {
        const __m512 a0 = _mm512_maskz_loadu_ps(mt, m + (size_t)j * ms),
                     a1 = _mm512_maskz_loadu_ps(mt, m + (size_t)(4 + j) * ms),
                     a2 = _mm512_maskz_loadu_ps(mt, m + (size_t)(8 + j) * ms),
                     a3 = _mm512_maskz_loadu_ps(mt, m + (size_t)(12 + j) * ms);
        s0[j] = _mm512_add_ps(_mm512_add_ps(a0, a1), a2);
        s1[j] = _mm512_sub_ps(_mm512_sub_ps(a1, a2), a3);
    }
    for (int a = 0; a < 2; a++) {
        const __m512 *q = a ? s1 : s0;
        o[a][0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(q[0], q[1]), q[2]), bv);
        o[a][1] = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(q[1], q[2]), q[3]), bv);
    }
}

/* the 16 floats of row r from column c0, those outside [0, W) zero */
__attribute__((target("avx512f"))) static inline __m512 row16(const float *r, int c0, int W)
{
    const __mmask16 m = lanes(-c0, W - c0);
    return m ? _mm512_maskz_loadu_ps(m, r + c0) : _mm512_setzero_ps();
}

__attribute__((target("avx512f"))) static void wino_in_512(float *restrict V, size_t xs,
                                                            size_t ld, size_t n0,
                                                            const float *restrict x, int Ci,
                                                            int H, int W, float *restrict rows)
{
    const int TH = tiles(H), TW = tiles(W);
    const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    const __m512i sh0 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16);
    const __m512i sh1 = _mm512_setr_epi32(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17);
    float *zero = rows;
    memset(zero, 0, sizeof(float) * W);
    for (int c = 0; c < Ci; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *vc = V + (size_t)c * ld + n0;
        /* the next plane (of this sample, or the next sample's first),
         * two rows per tile row, ahead of its loads */
        const char *pf = (const char *)(xc + (size_t)H * W);
        for (int th = 0; th < TH; th++) {
            const float *r[4];
            for (int i = 0; i < 4; i++) {
                const int h = 2 * th + i - 1;
                r[i] = h >= 0 && h < H ? xc + (size_t)h * W : zero;
            }
            const size_t o1 = (size_t)(2 * th + 2 < H ? 2 * th + 2 : H) * W * 4;
            for (size_t o = (size_t)2 * th * W * 4; o < o1; o += 64)
                _mm_prefetch(pf + o, _MM_HINT_T0); /* never faults, even past the batch */
            for (int t0 = 0; t0 < TW; t0 += 16) {
                const int c0 = 2 * t0 - 1;
                __m512 e[4][3];
                for (int k = 0; k < 3; k++) {
                    const __m512 a = row16(r[0], c0 + 16 * k, W), b = row16(r[1], c0 + 16 * k, W),
                                 d = row16(r[2], c0 + 16 * k, W), f = row16(r[3], c0 + 16 * k, W);
                    e[0][k] = _mm512_sub_ps(a, d);
                    e[1][k] = _mm512_add_ps(b, d);
                    e[2][k] = _mm512_sub_ps(d, b);
                    e[3][k] = _mm512_sub_ps(b, f);
                }
                const __mmask16 m = lanes(0, TW - t0);
                for (int i = 0; i < 4; i++) {
                    const __m512 q0 = _mm512_permutex2var_ps(e[i][0], ev, e[i][1]);
                    const __m512 q1 = _mm512_permutex2var_ps(e[i][0], od, e[i][1]);
                    const __m512 q2 = _mm512_permutex2var_ps(q0, sh0, e[i][2]);
                    const __m512 q3 = _mm512_permutex2var_ps(q1, sh1, e[i][2]);
                    store_v4(vc + (size_t)(4 * i) * xs + (size_t)th * TW + t0, xs, m, q0, q1, q2,
                             q3);
                }
            }
        }
    }
}

/* Planes of at most 14 columns (TW <= 7 tiles a row: 14x14 and 7x7 in
 * ResNet-20) would fill 7 or 4 of 16 lanes a step above; here one step
 * takes two tile rows, th in lanes [0,TW) and th+1 in [TW,2TW). A padded
 * row (columns -1..14) is one masked load, and tile t of either row picks
 * its four columns out of the pair (A: row th's, B: row th+1's
 * combinations) with one two-source permute per column offset. */
#define WG_NARROW 7

__attribute__((target("avx512f"))) static inline __m512i pick2(int TW, int k)
{
    int idx[16];
    for (int l = 0; l < 16; l++)
        idx[l] = l < TW ? 2 * l + k : l < 2 * TW ? 16 + 2 * (l - TW) + k : 0;
    return _mm512_loadu_si512(idx);
}

__attribute__((target("avx512f"))) static void wino_in_512n(float *restrict V, size_t xs,
                                                             size_t ld, size_t n0,
                                                             const float *restrict x, int Ci,
                                                             int H, int W)
{
    const int TH = tiles(H), TW = tiles(W);
    const __m512i p0 = pick2(TW, 0), p1 = pick2(TW, 1), p2 = pick2(TW, 2), p3 = pick2(TW, 3);
    const __mmask16 mrow = lanes(1, W + 1); /* lane l holds column l-1 */
    for (int c = 0; c < Ci; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *vc = V + (size_t)c * ld + n0;
        for (int th = 0; th < TH; th += 2) {
            __m512 L[6];
            for (int i = 0; i < 6; i++) {
                const int h = 2 * th + i - 1;
                L[i] = h >= 0 && h < H ? _mm512_maskz_loadu_ps(mrow, xc + (size_t)h * W - 1)
                                       : _mm512_setzero_ps();
            }
            __m512 eA[4], eB[4];
            eA[0] = _mm512_sub_ps(L[0], L[2]), eB[0] = _mm512_sub_ps(L[2], L[4]);
            eA[1] = _mm512_add_ps(L[1], L[2]), eB[1] = _mm512_add_ps(L[3], L[4]);
            eA[2] = _mm512_sub_ps(L[2], L[1]), eB[2] = _mm512_sub_ps(L[4], L[3]);
            eA[3] = _mm512_sub_ps(L[1], L[3]), eB[3] = _mm512_sub_ps(L[3], L[5]);
            const __mmask16 m = lanes(0, (th + 1 < TH ? 2 : 1) * TW);
            for (int i = 0; i < 4; i++) {
                const __m512 q0 = _mm512_permutex2var_ps(eA[i], p0, eB[i]);
                const __m512 q1 = _mm512_permutex2var_ps(eA[i], p1, eB[i]);
                const __m512 q2 = _mm512_permutex2var_ps(eA[i], p2, eB[i]);
                const __m512 q3 = _mm512_permutex2var_ps(eA[i], p3, eB[i]);
                store_v4(vc + (size_t)(4 * i) * xs + (size_t)th * TW, xs, m, q0, q1, q2, q3);
            }
        }
    }
}

/* output columns of tile row th (r = 0: lanes [0,TW)) or th+1 (r = 1:
 * lanes [TW,2TW)), even ones from the first source, odd from the second */
__attribute__((target("avx512f"))) static inline __m512i weave2(int TW, int r)
{
    int idx[16];
    for (int l = 0; l < 16; l++) idx[l] = (l & 1) * 16 + r * TW + (l >> 1);
    return _mm512_loadu_si512(idx);
}

__attribute__((target("avx512f"))) static void wino_out_512n(float *restrict y, int acc,
                                                              const float *restrict M, size_t ms,
                                                              size_t ld, size_t n0,
                                                              const float *bias, int Ko, int H,
                                                              int W)
{
    const int TH = tiles(H), TW = tiles(W);
    const __m512i w0 = weave2(TW, 0), w1 = weave2(TW, 1);
    const __mmask16 mw = lanes(0, W);
    for (int k = 0; k < Ko; k++) {
        const __m512 bv = _mm512_set1_ps(bias ? bias[k] : 0.0f);
        float *yk = y + (size_t)k * H * W;
        for (int th = 0; th < TH; th += 2) {
            const float *m = M + (size_t)k * ld + n0 + (size_t)th * TW;
            __m512 o[2][2]; // [row in the tile][even|odd column]
            out_tiles(o, m, ms, lanes(0, (th + 1 < TH ? 2 : 1) * TW), bv);
            for (int r = 0; r < 2; r++)
                for (int a = 0; a < 2; a++) {
                    const int h = 2 * (th + r) + a;
                    if (h >= H) continue;
                    float *yr = yk + (size_t)h * W;
                    __m512 u = _mm512_permutex2var_ps(o[a][0], r ? w1 : w0, o[a][1]);
                    if (acc) u = _mm512_add_ps(_mm512_maskz_loadu_ps(mw, yr), u);
                    _mm512_mask_storeu_ps(yr, mw, u);
                }
        }
    }
}

__attribute__((target("avx512f"))) static void wino_out_512(float *restrict y, int acc,
                                                             const float *restrict M, size_t ms,
                                                             size_t ld, size_t n0,
                                                             const float *bias, int Ko, int H,
                                                             int W)
{
    const int TH = tiles(H), TW = tiles(W);
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for (int k = 0; k < Ko; k++) {
        const __m512 bv = _mm512_set1_ps(bias ? bias[k] : 0.0f);
        float *yk = y + (size_t)k * H * W;
        for (int th = 0; th < TH; th++)
            for (int t0 = 0; t0 < TW; t0 += 16) {
                const float *m = M + (size_t)k * ld + n0 + (size_t)th * TW + t0;
                __m512 o[2][2]; // [row][even|odd column]
                out_tiles(o, m, ms, lanes(0, TW - t0), bv);
                const int c0 = 2 * t0;
                const __mmask16 m0 = lanes(0, W - c0), m1 = lanes(0, W - c0 - 16);
                for (int a = 0; a < 2 && 2 * th + a < H; a++) {
                    float *yr = yk + (size_t)(2 * th + a) * W + c0;
                    __m512 u = _mm512_permutex2var_ps(o[a][0], lo, o[a][1]);
                    __m512 w = _mm512_permutex2var_ps(o[a][0], hi, o[a][1]);
                    if (acc) {
                        u = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, yr), u);
                        if (m1) w = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, yr + 16), w);
                    }
                    _mm512_mask_storeu_ps(yr, m0, u);
                    if (m1) _mm512_mask_storeu_ps(yr + 16, m1, w);
                }
            }
    }
}
#endif

/* ---- the 16 products: M (Ko, ld) = U (Ko, Ci) . V (Ci, ld) ------------- */

static void wg_gemm_c(float *restrict M, const float *restrict U, const float *restrict V, int Ko,
                      int Ci, size_t ld, size_t nc)
{
    for (int k = 0; k < Ko; k += WG_KB)
        for (size_t n = 0; n < nc; n += 16) {
            float a[WG_KB][16] = {{0}};
            for (int c = 0; c < Ci; c++) {
                const float *v = V + (size_t)c * ld + n;
                for (int kk = 0; kk < WG_KB; kk++) {
                    const float u = U[(size_t)(k + kk) * Ci + c];
                    for (int i = 0; i < 16; i++) a[kk][i] += u * v[i];
                }
            }
            for (int kk = 0; kk < WG_KB; kk++) memcpy(M + (size_t)(k + kk) * ld + n, a[kk], 64);
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,fma"))) static void wg_gemm_avx2(float *restrict M,
                                                              const float *restrict U,
                                                              const float *restrict V, int Ko,
                                                              int Ci, size_t ld, size_t nc)
{
    for (int k = 0; k < Ko; k += 4) {
        const float *u0 = U + (size_t)k * Ci, *u1 = u0 + Ci, *u2 = u1 + Ci, *u3 = u2 + Ci;
        for (size_t n = 0; n < nc; n += 24) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00,
                   a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            const float *v = V + n;
            for (int c = 0; c < Ci; c++, v += ld) {
                const __m256 v0 = _mm256_loadu_ps(v), v1 = _mm256_loadu_ps(v + 8),
                             v2 = _mm256_loadu_ps(v + 16);
                __m256 b = _mm256_broadcast_ss(u0 + c);
                a00 = _mm256_fmadd_ps(b, v0, a00), a01 = _mm256_fmadd_ps(b, v1, a01);
                a02 = _mm256_fmadd_ps(b, v2, a02);
                b = _mm256_broadcast_ss(u1 + c);
                a10 = _mm256_fmadd_ps(b, v0, a10), a11 = _mm256_fmadd_ps(b, v1, a11);
                a12 = _mm256_fmadd_ps(b, v2, a12);
                b = _mm256_broadcast_ss(u2 + c);
                a20 = _mm256_fmadd_ps(b, v0, a20), a21 = _mm256_fmadd_ps(b, v1, a21);
                a22 = _mm256_fmadd_ps(b, v2, a22);
                b = _mm256_broadcast_ss(u3 + c);
                a30 = _mm256_fmadd_ps(b, v0, a30), a31 = _mm256_fmadd_ps(b, v1, a31);
                a32 = _mm256_fmadd_ps(b, v2, a32);
            }
            float *m = M + (size_t)k * ld + n;
            _mm256_storeu_ps(m, a00), _mm256_storeu_ps(m + 8, a01), _mm256_storeu_ps(m + 16, a02);
            m += ld;
            _mm256_storeu_ps(m, a10), _mm256_storeu_ps(m + 8, a11), _mm256_storeu_ps(m + 16, a12);
            m += ld;
            _mm256_storeu_ps(m, a20), _mm256_storeu_ps(m + 8, a21), _mm256_storeu_ps(m + 16, a22);
            m += ld;
            _mm256_storeu_ps(m, a30), _mm256_storeu_ps(m + 8, a31), _mm256_storeu_ps(m + 16, a32);
        }
    }
}

__attribute__((target("avx512f"))) static void wg_gemm_avx512(float *restrict M,
                                                               const float *restrict U,
                                                               const float *restrict V, int Ko,
                                                               int Ci, size_t ld, size_t nc)
{
    for (int k = 0; k < Ko; k += 4) {
        const float *u0 = U + (size_t)k * Ci, *u1 = u0 + Ci, *u2 = u1 + Ci, *u3 = u2 + Ci;
        for (size_t n = 0; n < nc; n += 48) {
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00,
                   a12 = a00, a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
            const float *v = V + n;
            for (int c = 0; c < Ci; c++, v += ld) {
                const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16),
                             v2 = _mm512_loadu_ps(v + 32);
                __m512 b = _mm512_set1_ps(u0[c]);
                a00 = _mm512_fmadd_ps(b, v0, a00), a01 = _mm512_fmadd_ps(b, v1, a01);
                a02 = _mm512_fmadd_ps(b, v2, a02);
                b = _mm512_set1_ps(u1[c]);
                a10 = _mm512_fmadd_ps(b, v0, a10), a11 = _mm512_fmadd_ps(b, v1, a11);
                a12 = _mm512_fmadd_ps(b, v2, a12);
                b = _mm512_set1_ps(u2[c]);
                a20 = _mm512_fmadd_ps(b, v0, a20), a21 = _mm512_fmadd_ps(b, v1, a21);
                a22 = _mm512_fmadd_ps(b, v2, a22);
                b = _mm512_set1_ps(u3[c]);
                a30 = _mm512_fmadd_ps(b, v0, a30), a31 = _mm512_fmadd_ps(b, v1, a31);
                a32 = _mm512_fmadd_ps(b, v2, a32);
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

typedef void (*wg_gemm_fn)(float *, const float *, const float *, int, int, size_t, size_t);

static wg_gemm_fn wg_fn;

static wg_gemm_fn wg_kernel(const char *isa)
{
    if (!strcmp(isa, "c")) return wg_gemm_c;
#if defined(__x86_64__) && defined(__GNUC__)
    if (!strcmp(isa, "avx2") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return wg_gemm_avx2;
    if (!strcmp(isa, "avx512") && __builtin_cpu_supports("avx512f")) return wg_gemm_avx512;
#endif
    return NULL;
}

static int wg_512;  /* the AVX-512 transforms go with the AVX-512 kernel */
static int wg_asked; /* a kernel was asked for by name */

int gn_wino_set_isa(const char *isa)
{
    wg_gemm_fn f = NULL;
    __atomic_store_n(&wg_asked, isa != NULL, __ATOMIC_RELAXED);
    if (!isa) {
        static const char *best[] = {"avx512", "avx2", "c"};
        for (int i = 0; !f; i++) f = wg_kernel(best[i]);
    } else if (!(f = wg_kernel(isa)))
        return -1;
#if defined(__x86_64__) && defined(__GNUC__)
    __atomic_store_n(&wg_512, f == wg_gemm_avx512, __ATOMIC_RELAXED);
#endif
    __atomic_store_n(&wg_fn, f, __ATOMIC_RELAXED);
    return 0;
}

/* The best kernel this CPU has, unless gn_wino_set_isa() or GN_WINO_ISA
 * (c, avx2 or avx512; for comparisons) chose one. */
static wg_gemm_fn wg_pick(void)
{
    wg_gemm_fn f = __atomic_load_n(&wg_fn, __ATOMIC_RELAXED);
    if (f) return f;
    const char *e = getenv("GN_WINO_ISA");
    if (!e || !*e || gn_wino_set_isa(e)) gn_wino_set_isa(NULL);
    return __atomic_load_n(&wg_fn, __ATOMIC_RELAXED);
}

int gn_wino_enabled(void)
{
    static int off = -1;
    if (off < 0) __atomic_store_n(&off, gn_env_flag("GN_NO_WINO"), __ATOMIC_RELAXED);
    return !off && gn_wino_pays();
}

int gn_wino_pays(void)
{
    wg_pick();
    return __atomic_load_n(&wg_512, __ATOMIC_RELAXED) ||
           __atomic_load_n(&wg_asked, __ATOMIC_RELAXED);
}

static void wino_run(float *y, int acc, const float *x, const float *U, const float *bias, int Ko,
                     int Ci, int H, int W, int nb, float *ws, int bf16);

void gn_wino_run(float *y, int acc, const float *x, const float *U, const float *bias, int Ko,
                 int Ci, int H, int W, int nb, float *ws)
{
    wino_run(y, acc, x, U, bias, Ko, Ci, H, W, nb, ws, 0);
}

void gn_wino_run_bf16(float *y, int acc, const float *x, const float *Ub, const float *bias,
                      int Ko, int Ci, int H, int W, int nb, float *ws)
{
    GN_ASSERT(Ci % 2 == 0 && gn_bf16_available());
    wino_run(y, acc, x, Ub, bias, Ko, Ci, H, W, nb, ws, 1);
}

void gn_wino_weights_bf16(float *U, int Ko, int Ci)
{
    GN_ASSERT(Ci % 2 == 0 && gn_bf16_available());
    gn_bf16_round_rows(U, (size_t)16 * Ko, (size_t)Ci);
}

static void wino_run(float *y, int acc, const float *x, const float *U, const float *bias, int Ko,
                     int Ci, int H, int W, int nb, float *ws, int bf16)
{
    GN_ASSERT(Ko % WG_KB == 0 && Ko >= WG_KB && Ci >= 1);
    const wg_gemm_fn gemm = wg_pick();
    const int t512 = __atomic_load_n(&wg_512, __ATOMIC_RELAXED);
    const int chunk = gn_wino_chunk(Ko, Ci, H, W);
    const size_t T = (size_t)tiles(H) * tiles(W), ld = ld_of(chunk, H, W);
    const size_t xs = (size_t)Ci * ld, ms = (size_t)Ko * ld;
    float *V = ws, *M = V + 16 * xs, *rows = M + 16 * ms;
    const size_t in = (size_t)Ci * H * W, out = (size_t)Ko * H * W;
    for (int b0 = 0; b0 < nb; b0 += chunk) {
        const int n = nb - b0 < chunk ? nb - b0 : chunk;
        const size_t used = (size_t)n * T;
        for (int b = 0; b < n; b++) {
            const float *xb = x + (size_t)(b0 + b) * in;
#if defined(__x86_64__) && defined(__GNUC__)
            if (t512 && tiles(W) <= WG_NARROW) {
                wino_in_512n(V, xs, ld, (size_t)b * T, xb, Ci, H, W);
                continue;
            }
            if (t512) {
                wino_in_512(V, xs, ld, (size_t)b * T, xb, Ci, H, W, rows);
                continue;
            }
#endif
            wino_in(V, xs, ld, (size_t)b * T, xb, Ci, H, W, rows);
        }
        /* the products run over whole blocks up to the used columns, the
         * rest of the last block zeroed */
        const size_t nc = (used + WG_NB - 1) / WG_NB * WG_NB;
        if (used < nc)
            for (size_t r = 0; r < 16 * (size_t)Ci; r++)
                memset(V + r * ld + used, 0, sizeof(float) * (nc - used));
        for (int xi = 0; xi < 16; xi++) {
            if (bf16) {
                gn_bf16_pair_rows(V + xi * xs, Ci, ld, nc);
                gn_bf16_gemm(M + xi * ms, U + (size_t)xi * Ko * Ci, V + xi * xs, Ko, Ci, ld, nc);
                continue;
            }
            gemm(M + xi * ms, U + (size_t)xi * Ko * Ci, V + xi * xs, Ko, Ci, ld, nc);
        }
        for (int b = 0; b < n; b++) {
            float *yb = y + (size_t)(b0 + b) * out;
#if defined(__x86_64__) && defined(__GNUC__)
            if (t512 && tiles(W) <= WG_NARROW) {
                wino_out_512n(yb, acc, M, ms, ld, (size_t)b * T, bias, Ko, H, W);
                continue;
            }
            if (t512) {
                wino_out_512(yb, acc, M, ms, ld, (size_t)b * T, bias, Ko, H, W);
                continue;
            }
#endif
            wino_out(yb, acc, M, ms, ld, (size_t)b * T, bias, Ko, H, W, rows);
        }
    }
}

/* ---- nearest upsample x2, then 3x3/s1/p1 convolution ---------------------
 * On the upsampled image the 4x4 input patch of output tile (i,j) (output
 * rows 2i, 2i+1) is x's rows i-1, i, i, i+1 (likewise columns), so B^T d B
 * = Bz^T p Bz with p x's 3x3 patch around (i,j) and Bz^T = B^T P =
 * [1 -1 0; 0 2 0; 0 0 0; 0 1 -1]: its third row is zero, so 7 of the 16
 * products vanish. The other 9 (xi = (a,b) in {0,1,3}^2, numbered 3a'+b')
 * take one tile per pixel of x: 2.25 multiplies per output pixel and
 * channel pair, against 4 for the four 2x2 phase convolutions (run.c) and
 * 9 for the plain pair. Forward: V = Br^T p Br with Br^T = [1 -1 0; 0 2 0;
 * 0 1 -1], y tile = Ar^T M Ar with Ar^T = [1 1 0; 0 1 -1]. Backward to x is
 * the exact adjoint: Z = Ar dY Ar^T per tile, M = U^T Z, and x's pixel
 * (i,j) gathers (Br M Br^T)[a][b] of tile (i+1-a, j+1-b). */

size_t gn_wino_up_u_floats(int Ko, int Ci) { return (size_t)9 * Ko * Ci; }

void gn_wino_up_weights(float *U, const float *w, int Cout, int Cin, int transpose)
{
    const size_t plane = (size_t)Cout * Cin;
    for (int k = 0; k < Cout; k++)
        for (int c = 0; c < Cin; c++) {
            double g[9], t[12];
            const float *src = w + ((size_t)k * Cin + c) * 9;
            for (int i = 0; i < 9; i++) g[i] = src[i];
            g_rows(t, g);
            static const int keep[3] = {0, 1, 3};
            for (int a = 0; a < 3; a++) {
                const double *r = t + 3 * keep[a];
                const double u[3] = {r[0], 0.5 * (r[0] + r[1] + r[2]), r[2]};
                for (int b = 0; b < 3; b++) {
                    const size_t at = transpose ? (size_t)c * Cout + k : (size_t)k * Cin + c;
                    U[(size_t)(3 * a + b) * plane + at] = (float)u[b];
                }
            }
        }
}

static size_t up_ld(int nb, int H, int W)
{
    size_t n = (size_t)nb * H * W;
    return (n + WG_NB - 1) / WG_NB * WG_NB;
}

int gn_wino_up_chunk(int Ko, int Ci, int H, int W)
{
    const size_t per = 9 * sizeof(float) * (size_t)(Ko + Ci) * H * W;
    size_t nb = 2 * WG_L2 / per;
    return nb < 1 ? 1 : nb > 64 ? 64 : (int)nb;
}

/* scratch after V and M: a zero-bordered plane of x ((H+2) x (W+2)), three
 * rows of vertical combinations (3 x (W+2)), and nine planes of the
 * adjoint's per-tile outputs (9 x H*W) */
size_t gn_wino_up_floats(int Ko, int Ci, int H, int W)
{
    const size_t ld = up_ld(gn_wino_up_chunk(Ko, Ci, H, W), H, W);
    return 9 * ld * (size_t)(Ko + Ci) + (size_t)(H + 2) * (W + 2) + 3 * (size_t)(W + 2) +
           9 * (size_t)H * W;
}

/* forward input transform of one sample x (Ci, H, W) */
WG_CLONES static void up_in(float *restrict V, size_t xs, size_t ld, size_t n0,
                            const float *restrict x, int Ci, int H, int W, float *restrict rows)
{
    const int Wp = W + 2;
    float *xp = rows, *e = rows + (size_t)(H + 2) * Wp;
    memset(xp, 0, sizeof(float) * (H + 2) * Wp);
    for (int c = 0; c < Ci; c++) {
        const float *xc = x + (size_t)c * H * W;
        for (int i = 0; i < H; i++) memcpy(xp + (size_t)(i + 1) * Wp + 1, xc + (size_t)i * W, sizeof(float) * W);
        float *vc = V + (size_t)c * ld + n0;
        for (int i = 0; i < H; i++) {
            { /* restrict only in here: e is read through q below */
                const float *restrict r0 = xp + (size_t)i * Wp, *restrict r1 = r0 + Wp,
                                      *restrict r2 = r1 + Wp;
                float *restrict e0 = e, *restrict e1 = e + Wp, *restrict e2 = e + 2 * Wp;
                for (int p = 0; p < Wp; p++) {
                    e0[p] = r0[p] - r1[p];
                    e1[p] = 2.0f * r1[p];
                    e2[p] = r1[p] - r2[p];
                }
            }
            for (int a = 0; a < 3; a++) {
                const float *restrict q = e + (size_t)a * Wp;
                float *restrict v0 = vc + (size_t)(3 * a) * xs + (size_t)i * W, *restrict v1 = v0 + xs,
                                *restrict v2 = v1 + xs;
                for (int j = 0; j < W; j++) {
                    v0[j] = q[j] - q[j + 1];
                    v1[j] = 2.0f * q[j + 1];
                    v2[j] = q[j + 1] - q[j + 2];
                }
            }
        }
    }
}

/* forward output transform: y (Ko, 2H, 2W) (=|+=) tiles + bias */
WG_CLONES static void up_out(float *restrict y, int acc, const float *restrict M, size_t ms,
                             size_t ld, size_t n0, const float *bias, int Ko, int H, int W)
{
    const size_t W2 = 2 * (size_t)W;
    for (int k = 0; k < Ko; k++) {
        const float bv = bias ? bias[k] : 0.0f;
        float *yk = y + (size_t)k * 4 * H * W;
        for (int i = 0; i < H; i++) {
            const float *restrict m = M + (size_t)k * ld + n0 + (size_t)i * W;
            float *restrict y0 = yk + (size_t)2 * i * W2, *restrict y1 = y0 + W2;
            for (int j = 0; j < W; j++) {
                float s0[3], s1[3];
                for (int b = 0; b < 3; b++) {
                    const float m0 = m[(size_t)b * ms + j], m1 = m[(size_t)(3 + b) * ms + j],
                                m2 = m[(size_t)(6 + b) * ms + j];
                    s0[b] = m0 + m1;
                    s1[b] = m1 - m2;
                }
                const float o00 = s0[0] + s0[1] + bv, o01 = s0[1] - s0[2] + bv,
                            o10 = s1[0] + s1[1] + bv, o11 = s1[1] - s1[2] + bv;
                if (acc) {
                    y0[2 * j] += o00, y0[2 * j + 1] += o01, y1[2 * j] += o10, y1[2 * j + 1] += o11;
                } else {
                    y0[2 * j] = o00, y0[2 * j + 1] = o01, y1[2 * j] = o10, y1[2 * j + 1] = o11;
                }
            }
        }
    }
}

/* adjoint input transform of one sample dy (Ci, 2H, 2W): Z = Ar dY Ar^T */
WG_CLONES static void up_adj_in(float *restrict V, size_t xs, size_t ld, size_t n0,
                                const float *restrict dy, int Ci, int H, int W)
{
    const size_t W2 = 2 * (size_t)W;
    for (int c = 0; c < Ci; c++) {
        const float *dc = dy + (size_t)c * 4 * H * W;
        float *vc = V + (size_t)c * ld + n0;
        for (int i = 0; i < H; i++) {
            const float *restrict d0 = dc + (size_t)2 * i * W2, *restrict d1 = d0 + W2;
            float *restrict v[9];
            for (int x = 0; x < 9; x++) v[x] = vc + (size_t)x * xs + (size_t)i * W;
            for (int j = 0; j < W; j++) {
                const float a0 = d0[2 * j], a1 = d0[2 * j + 1], b0 = d1[2 * j], b1 = d1[2 * j + 1];
                /* vertical: z0 = row 0, z1 = row 0 + row 1, z2 = -row 1 */
                const float w0[2] = {a0, a1}, w1[2] = {a0 + b0, a1 + b1}, w2[2] = {-b0, -b1};
                const float *wv[3] = {w0, w1, w2};
                for (int a = 0; a < 3; a++) {
                    v[3 * a][j] = wv[a][0];
                    v[3 * a + 1][j] = wv[a][0] + wv[a][1];
                    v[3 * a + 2][j] = -wv[a][1];
                }
            }
        }
    }
}

/* adjoint output transform: dx (Ko, H, W) (=|+=) for every pixel the sum
 * over (a,b) of (Br M Br^T)[a][b] of tile (i+1-a, j+1-b) */
WG_CLONES static void up_adj_out(float *restrict dx, int acc, const float *restrict M, size_t ms,
                                 size_t ld, size_t n0, int Ko, int H, int W, float *restrict O)
{
    const size_t T = (size_t)H * W;
    for (int k = 0; k < Ko; k++) {
        const float *restrict m = M + (size_t)k * ld + n0;
        for (size_t t = 0; t < T; t++) {
            float P[3][3];
            for (int q = 0; q < 3; q++) {
                const float m0 = m[(size_t)q * ms + t], m1 = m[(size_t)(3 + q) * ms + t],
                            m2 = m[(size_t)(6 + q) * ms + t];
                P[0][q] = m0;
                P[1][q] = -m0 + 2.0f * m1 + m2;
                P[2][q] = -m2;
            }
            for (int a = 0; a < 3; a++) {
                O[(size_t)(3 * a) * T + t] = P[a][0];
                O[(size_t)(3 * a + 1) * T + t] = -P[a][0] + 2.0f * P[a][1] + P[a][2];
                O[(size_t)(3 * a + 2) * T + t] = -P[a][2];
            }
        }
        float *dk = dx + (size_t)k * T;
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                float s = 0.0f;
                for (int a = 0; a < 3; a++) {
                    const int ti = i + 1 - a;
                    if (ti < 0 || ti >= H) continue;
                    for (int b = 0; b < 3; b++) {
                        const int tj = j + 1 - b;
                        if (tj < 0 || tj >= W) continue;
                        s += O[(size_t)(3 * a + b) * T + (size_t)ti * W + tj];
                    }
                }
                float *d = dk + (size_t)i * W + j;
                *d = acc ? *d + s : s;
            }
    }
}

void gn_wino_up_dw(float *dw, const float *dU, int Cout, int Cin)
{
    /* U = Gr g Gr^T with Gr = rows {0,1,3} of G, so dg = Gr^T dU Gr */
    static const double Gr[3][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0, 0, 1}};
    const size_t plane = (size_t)Cout * Cin;
    for (size_t kc = 0; kc < plane; kc++) {
        double u[3][3], t[3][3];
        for (int x = 0; x < 9; x++) u[x / 3][x % 3] = dU[(size_t)x * plane + kc];
        for (int p = 0; p < 3; p++) /* t = Gr^T u */
            for (int b = 0; b < 3; b++) t[p][b] = Gr[0][p] * u[0][b] + Gr[1][p] * u[1][b] + Gr[2][p] * u[2][b];
        float *d = dw + kc * 9;
        for (int p = 0; p < 3; p++)
            for (int q = 0; q < 3; q++)
                d[p * 3 + q] += (float)(t[p][0] * Gr[0][q] + t[p][1] * Gr[1][q] + t[p][2] * Gr[2][q]);
    }
}

void gn_wino_up_run(float *out, int acc, const float *in, const float *U, const float *bias,
                    int Ko, int Ci, int H, int W, int nb, int adjoint, float *dU, const float *x,
                    float *ws)
{
    GN_ASSERT(Ko % WG_KB == 0 && Ko >= WG_KB && Ci >= 1);
    GN_ASSERT((out || dU) && (!dU || (adjoint && x)));
    const wg_gemm_fn gemm = wg_pick();
    const int chunk = gn_wino_up_chunk(Ko, Ci, H, W);
    const size_t T = (size_t)H * W, ld = up_ld(chunk, H, W);
    const size_t xs = (size_t)Ci * ld, ms = (size_t)Ko * ld;
    float *V = ws, *M = V + 9 * xs, *rows = M + 9 * ms;
    float *O = rows + (size_t)(H + 2) * (W + 2) + 3 * (size_t)(W + 2);
    const size_t lo = (size_t)Ci * H * W, hi = 4 * (size_t)Ko * H * W; /* forward sizes */
    const size_t in_s = adjoint ? 4 * (size_t)Ci * H * W : lo;
    const size_t out_s = adjoint ? (size_t)Ko * H * W : hi;
    for (int b0 = 0; b0 < nb; b0 += chunk) {
        const int n = nb - b0 < chunk ? nb - b0 : chunk;
        const size_t used = (size_t)n * T;
        for (int b = 0; b < n; b++) {
            const float *ib = in + (size_t)(b0 + b) * in_s;
            if (adjoint)
                up_adj_in(V, xs, ld, (size_t)b * T, ib, Ci, H, W);
            else
                up_in(V, xs, ld, (size_t)b * T, ib, Ci, H, W, rows);
        }
        const size_t nc = (used + WG_NB - 1) / WG_NB * WG_NB;
        if (used < nc)
            for (size_t r = 0; r < 9 * (size_t)Ci; r++)
                memset(V + r * ld + used, 0, sizeof(float) * (nc - used));
        if (dU) {
            /* the weight gradient: dU[xi] (Ci = Cout, Ko = Cin) += Z[xi] . X[xi]^T,
             * X the forward's input transform of x, built in M for now */
            for (int b = 0; b < n; b++)
                up_in(M, ms, ld, (size_t)b * T, x + (size_t)(b0 + b) * Ko * H * W, Ko, H, W, rows);
            for (int xi = 0; xi < 9; xi++)
                gn_sgemm(0, 1, Ci, Ko, (int)used, 1.0f, V + xi * xs, (int)ld, M + xi * ms, (int)ld,
                         1.0f, dU + (size_t)xi * Ko * Ci, Ko);
        }
        if (!out) continue; /* the weight gradient alone */
        for (int xi = 0; xi < 9; xi++)
            gemm(M + xi * ms, U + (size_t)xi * Ko * Ci, V + xi * xs, Ko, Ci, ld, nc);
        for (int b = 0; b < n; b++) {
            float *ob = out + (size_t)(b0 + b) * out_s;
            if (adjoint)
                up_adj_out(ob, acc, M, ms, ld, (size_t)b * T, Ko, H, W, O);
            else
                up_out(ob, acc, M, ms, ld, (size_t)b * T, bias, Ko, H, W);
        }
    }
}
