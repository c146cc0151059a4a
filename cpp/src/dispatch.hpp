// Internal: runtime dispatch of plain loops. GCC compiles a function once per listed ISA and an
// ifunc picks one at load time, so a portable build still uses AVX2/AVX-512 where the CPU has
// them. The kernels that use these only add, multiply, divide and compare (no fused
// multiply-add: -ffp-contract=off), so every clone computes the same bits.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define DRAQCORE_CLONES_AVX2 __attribute__((target_clones("avx2", "default")))
#define DRAQCORE_CLONES_AVX512 __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define DRAQCORE_CLONES_AVX2
#define DRAQCORE_CLONES_AVX512
#endif
