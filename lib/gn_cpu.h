/* gn_cpu.h - what the CPU and the OS offer: cpuid's vector ISA bits and
 * XCR0's saved register state (cpu.c). Base layer: uses nothing else of
 * genie.
 * What it deliberately does not do: decide anything from the bits
 * (gn_blas_pick.h maps them to OpenBLAS's kernels). */
#ifndef GN_CPU_H
#define GN_CPU_H

#include <stddef.h>

/* What cpuid reports, and what the OS saves on a context switch (XCR0):
 * a vector ISA is usable only when both say so. */
enum {
    GN_CPU_X86 = 1u << 0, /* cpuid was read; the other bits mean something */
    GN_CPU_SSE3 = 1u << 1,
    GN_CPU_AVX = 1u << 2,
    GN_CPU_FMA = 1u << 3,
    GN_CPU_AVX2 = 1u << 4,
    GN_CPU_AVX512F = 1u << 5,
    GN_CPU_AVX512BW = 1u << 6,
    GN_CPU_AVX512DQ = 1u << 7,
    GN_CPU_AVX512VL = 1u << 8,
    GN_CPU_AVX512BF16 = 1u << 9,
    GN_CPU_OS_YMM = 1u << 10, /* XCR0 bits 1,2: the OS saves AVX state */
    GN_CPU_OS_ZMM = 1u << 11, /* XCR0 bits 5,6,7: the OS saves AVX-512 state */
};
/* Reads cpuid. `brand` (may be NULL) receives the CPU's name string, ""
 * when it has none. Returns GN_CPU_* bits; 0 on a CPU that is not x86. */
unsigned gn_cpu_features(char *brand, size_t n);
/* The names of the bits in `feat` as /proc/cpuinfo spells them ("sse3 avx
 * fma avx2 avx512f ..."; "os-ymm os-zmm" for the OS bits) into buf. */
void gn_cpu_feature_names(unsigned feat, char *buf, size_t n);

#endif
