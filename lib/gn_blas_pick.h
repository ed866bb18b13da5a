/* gn_blas_pick.h - the ISA levels of OpenBLAS's kernels, and which kernel
 * to run on a CPU (blas_pick.c): pure functions of names and cpuid bits,
 * so unit tests reach every case.
 * What it deliberately does not do: read cpuid (gn_cpu.h) or change the
 * kernel (gn_blas_init.h). */
#ifndef GN_BLAS_PICK_H
#define GN_BLAS_PICK_H

/* ISA levels of OpenBLAS kernels. */
enum { GN_ISA_UNKNOWN = -1, GN_ISA_SSE3 = 0, GN_ISA_AVX = 1, GN_ISA_AVX2 = 2, GN_ISA_AVX512 = 3 };
/* The ISA level of an OpenBLAS core name as openblas_get_corename() spells
 * it (case-insensitive): SSE3 for Prescott, Nehalem, Core2, Barcelona, ...;
 * AVX for Sandybridge, Bulldozer, Piledriver, Steamroller; AVX2 for
 * Haswell, Zen, Excavator; AVX512 for SkylakeX, Cooperlake,
 * SapphireRapids; GN_ISA_UNKNOWN for any other name. */
int gn_blas_isa(const char *core);
/* "sse3", "avx", "avx2", "avx512", or "unknown". */
const char *gn_blas_isa_name(int isa);
/* The highest ISA level the CPU and OS in `feat` can run: AVX512 needs
 * avx512f/bw/dq/vl and OS zmm state, AVX2 needs avx2 and fma, AVX needs avx
 * and OS ymm state; GN_ISA_UNKNOWN off x86. */
int gn_cpu_isa(unsigned feat);
/* The kernel genie names for an ISA level: Prescott, Sandybridge, Haswell,
 * SkylakeX; NULL for GN_ISA_UNKNOWN. */
const char *gn_blas_isa_kernel(int isa);
/* Selection: the kernel to run instead of `core`, which OpenBLAS chose by
 * itself on a CPU with `feat`; NULL to keep `core` (the user set
 * OPENBLAS_CORETYPE, `core` is a name genie does not know, or it is no
 * older than what the CPU supports). */
const char *gn_blas_pick(const char *core, unsigned feat, int user_set);
/* Fallback: the next older kernel to try after `core` failed its
 * self-test (or cannot run on this CPU), skipping any named in `failed`
 * (comma-separated "Name:error" entries, "" for none); NULL when none is
 * left, and gn_sgemm then runs gn_sgemm_ref. */
const char *gn_blas_fallback(const char *core, unsigned feat, const char *failed);
/* Non-zero when `name` is listed in `failed` (as gn_blas_fallback). */
int gn_blas_failed_has(const char *failed, const char *name);

#endif
