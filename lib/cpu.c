/* cpu.c - cpuid and XCR0 (see gn_cpu.h). */
#include "gn_cpu.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define GN_HAVE_CPUID 1
#endif

#ifdef GN_HAVE_CPUID
static uint64_t xcr0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}
#endif

unsigned gn_cpu_features(char *brand, size_t n)
{
    if (brand && n) *brand = 0;
#ifdef GN_HAVE_CPUID
    unsigned a, b, c, d, f = GN_CPU_X86;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    if (c & (1u << 0)) f |= GN_CPU_SSE3;
    if (c & (1u << 12)) f |= GN_CPU_FMA;
    if (c & (1u << 28)) f |= GN_CPU_AVX;
    if (c & (1u << 27)) { /* OSXSAVE: xgetbv is allowed */
        uint64_t x = xcr0();
        if ((x & 0x6) == 0x6) f |= GN_CPU_OS_YMM;
        if ((x & 0xe6) == 0xe6) f |= GN_CPU_OS_ZMM;
    }
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (b & (1u << 5)) f |= GN_CPU_AVX2;
        if (b & (1u << 16)) f |= GN_CPU_AVX512F;
        if (b & (1u << 17)) f |= GN_CPU_AVX512DQ;
        if (b & (1u << 30)) f |= GN_CPU_AVX512BW;
        if (b & (1u << 31)) f |= GN_CPU_AVX512VL;
        if (a >= 1) {
            __cpuid_count(7, 1, a, b, c, d);
            if (a & (1u << 5)) f |= GN_CPU_AVX512BF16;
        }
    }
    if (brand && n > 1 && __get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned r[12];
        for (unsigned l = 0; l < 3; l++)
            __get_cpuid(0x80000002u + l, &r[4 * l], &r[4 * l + 1], &r[4 * l + 2], &r[4 * l + 3]);
        char s[49];
        memcpy(s, r, 48);
        s[48] = 0;
        const char *p = s;
        while (*p == ' ') p++;
        snprintf(brand, n, "%s", p);
        for (size_t k = strlen(brand); k > 0 && brand[k - 1] == ' '; k--) brand[k - 1] = 0;
    }
    return f;
#else
    return 0;
#endif
}

void gn_cpu_feature_names(unsigned feat, char *buf, size_t n)
{
    static const struct {
        unsigned bit;
        const char *name;
    } t[] = {{GN_CPU_SSE3, "sse3"},
             {GN_CPU_AVX, "avx"},
             {GN_CPU_FMA, "fma"},
             {GN_CPU_AVX2, "avx2"},
             {GN_CPU_AVX512F, "avx512f"},
             {GN_CPU_AVX512BW, "avx512bw"},
             {GN_CPU_AVX512DQ, "avx512dq"},
             {GN_CPU_AVX512VL, "avx512vl"},
             {GN_CPU_AVX512BF16, "avx512_bf16"},
             {GN_CPU_OS_YMM, "os-ymm"},
             {GN_CPU_OS_ZMM, "os-zmm"}};
    size_t len = 0;
    if (n) *buf = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if ((feat & t[i].bit) && len < n) {
            int w = snprintf(buf + len, n - len, "%s%s", len ? " " : "", t[i].name);
            if (w > 0) len += (size_t)w;
        }
}

