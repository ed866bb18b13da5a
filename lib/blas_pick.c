/* blas_pick.c - OpenBLAS core names by ISA level, and the kernel to run
 * (see gn_blas_pick.h). */
#include "gn_blas_pick.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "gn_cpu.h"

/* Every core name OpenBLAS 0.3.x reports on x86, by the ISA of its kernels.
 * Vendor-tuned AVX2 tables (Zen, Excavator) count as AVX2 so genie never
 * second-guesses a choice OpenBLAS made on purpose. */
static const struct {
    const char *name;
    int isa;
} cores[] = {
    {"Katmai", GN_ISA_SSE3},       {"Coppermine", GN_ISA_SSE3},       {"Northwood", GN_ISA_SSE3},
    {"Prescott", GN_ISA_SSE3},     {"Banias", GN_ISA_SSE3},           {"Atom", GN_ISA_SSE3},
    {"Core2", GN_ISA_SSE3},        {"Penryn", GN_ISA_SSE3},           {"Dunnington", GN_ISA_SSE3},
    {"Nehalem", GN_ISA_SSE3},      {"Athlon", GN_ISA_SSE3},           {"Opteron", GN_ISA_SSE3},
    {"Opteron_SSE3", GN_ISA_SSE3}, {"Barcelona", GN_ISA_SSE3},        {"Nano", GN_ISA_SSE3},
    {"Bobcat", GN_ISA_SSE3},       {"Sandybridge", GN_ISA_AVX},       {"Bulldozer", GN_ISA_AVX},
    {"Piledriver", GN_ISA_AVX},    {"Steamroller", GN_ISA_AVX},       {"Haswell", GN_ISA_AVX2},
    {"Zen", GN_ISA_AVX2},          {"Excavator", GN_ISA_AVX2},        {"SkylakeX", GN_ISA_AVX512},
    {"Cooperlake", GN_ISA_AVX512}, {"SapphireRapids", GN_ISA_AVX512},
};

int gn_blas_isa(const char *core)
{
    if (!core) return GN_ISA_UNKNOWN;
    for (size_t i = 0; i < sizeof cores / sizeof cores[0]; i++)
        if (!strcasecmp(core, cores[i].name)) return cores[i].isa;
    return GN_ISA_UNKNOWN;
}

const char *gn_blas_isa_name(int isa)
{
    static const char *n[] = {"sse3", "avx", "avx2", "avx512"};
    return isa >= GN_ISA_SSE3 && isa <= GN_ISA_AVX512 ? n[isa] : "unknown";
}

int gn_cpu_isa(unsigned f)
{
    if (!(f & GN_CPU_X86)) return GN_ISA_UNKNOWN;
    const unsigned avx = GN_CPU_AVX | GN_CPU_OS_YMM, avx2 = avx | GN_CPU_AVX2 | GN_CPU_FMA,
                   avx512 = avx2 | GN_CPU_AVX512F | GN_CPU_AVX512BW | GN_CPU_AVX512DQ |
                            GN_CPU_AVX512VL | GN_CPU_OS_ZMM;
    if ((f & avx512) == avx512) return GN_ISA_AVX512;
    if ((f & avx2) == avx2) return GN_ISA_AVX2;
    if ((f & avx) == avx) return GN_ISA_AVX;
    return GN_ISA_SSE3;
}

const char *gn_blas_isa_kernel(int isa)
{
    static const char *k[] = {"Prescott", "Sandybridge", "Haswell", "SkylakeX"};
    return isa >= GN_ISA_SSE3 && isa <= GN_ISA_AVX512 ? k[isa] : NULL;
}

const char *gn_blas_pick(const char *core, unsigned feat, int user_set)
{
    int have = gn_blas_isa(core), can = gn_cpu_isa(feat);
    if (user_set || have == GN_ISA_UNKNOWN || can == GN_ISA_UNKNOWN || have >= can) return NULL;
    return gn_blas_isa_kernel(can);
}

int gn_blas_failed_has(const char *failed, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = failed; p && *p;) {
        const char *e = p + strcspn(p, ",");
        size_t len = strcspn(p, ":,");
        if (len == n && !strncasecmp(p, name, n)) return 1;
        p = *e ? e + 1 : e;
    }
    return 0;
}

const char *gn_blas_fallback(const char *core, unsigned feat, const char *failed)
{
    int can = gn_cpu_isa(feat), have = gn_blas_isa(core);
    if (can == GN_ISA_UNKNOWN) return NULL;
    /* an unknown kernel: start from what the CPU can run */
    int below = have == GN_ISA_UNKNOWN ? can + 1 : have;
    if (below > can + 1) below = can + 1;
    for (int isa = below - 1; isa >= GN_ISA_SSE3; isa--) {
        const char *k = gn_blas_isa_kernel(isa);
        if (!gn_blas_failed_has(failed, k)) return k;
    }
    /* an SSE3-era kernel other than Prescott (Nehalem, Core2, ...) */
    if (have == GN_ISA_SSE3 && strcasecmp(core, "Prescott") &&
        !gn_blas_failed_has(failed, "Prescott"))
        return "Prescott";
    return NULL;
}

