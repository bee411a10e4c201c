// AVX2+FMA GEMM micro-kernels: sgemm_ukr_avx2_6x16 and dgemm_ukr_avx2_6x8, the shared
// micro-kernel (ukr_impl.h) on this level's SIMD traits (simd.h) and the tiles below.
// Compiled with -mavx2 -mfma; everything in pyfwd::avx2, helpers in an anonymous
// namespace, no global constructors.
// F16C (vcvtph2ps, float16 weights) too: every AVX2 CPU has it, and fill_bundle hands
// out the float16 loader only when CPUID says so. No other code here converts halves.
#pragma GCC target("f16c")
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>

#include "cpu_features.h"
#include "kernels/kernel_api.h"

#include "vmath.h"  // this ISA's SIMD traits (simd.h) and activate(v, code)

namespace pyfwd {
namespace avx2 {
namespace {

#include "kernels/ukr_impl.h"
#include "kernels/wide16.h"

// 16-bit weights widened in registers for the dot path (8 lanes from 16 bytes).
inline __m128i load8_u16_n(const uint16_t* p, int n) {
    alignas(16) uint16_t t[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(t, p, sizeof(uint16_t) * static_cast<std::size_t>(n));
    return _mm_load_si128(reinterpret_cast<const __m128i*>(t));
}
inline __m256 bf16x8_to_ps(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
struct LoadBF16 {
    using E = uint16_t;
    static __m256 load(const E* p) { return bf16x8_to_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
    static __m256 load_n(const E* p, int n) { return bf16x8_to_ps(load8_u16_n(p, n)); }
};
struct LoadF16 {
    using E = uint16_t;
    static __m256 load(const E* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
    static __m256 load_n(const E* p, int n) { return _mm256_cvtph_ps(load8_u16_n(p, n)); }
};

bool cpu_has_f16c() {
    for (const std::string& f : cpu_feature_names())
        if (f == "f16c") return true;
    return false;
}

}  // namespace

// Cache blocks (Haswell-class core: 16 ymm, 2 FMA ports), by the rule of cache_info.h
// from the caches of the CPU that runs them; the figures below are those on the
// reference caches (L1d 32 KB, L2 256 KB), where the rule gives the blocks first tuned:
//  f32 6x16: 12 accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm.
//  KC from L2 (kc_level 2, kc_frac 3/32): 384 on a 256 KB L2, a B sliver of
//    384 x 16 x 4 B = 24 KB that also fits L1; 768 on a 512 KB L2 (Zen 2/3), a 48 KB
//    sliver streamed from L2 with the micro-kernel's prefetch, as on AVX-512. The
//    driver runs K up to 2*KC as one block, so the larger KC saves C's round trips
//    through memory, and K = 784 (MNIST) becomes one block. Measured on a 2-core AMD
//    EPYC (Zen 3), sgemm, same process, interleaved, 2 threads: (256,784,512) 81 ->
//    122 GF/s and (1024,784,128) 107 -> 108 going from 96x384 to 96x768 (MC x KC);
//    1 thread +2..12% on the same shapes (1024^3 67 -> 75).
//  MC: the A block takes 9/16 of L2 (mc_frac 0.5625): 96 x 384 x 4 B = 144 KB of
//    256 KB, 96 x 768 x 4 B = 288 KB of 512 KB.
//  NC: the KC x NC panel of W takes this thread's L3 share (nc_frac 1).
//  f64 6x8: same register budget and bytes per sliver (8 x 8 B): the same rule gives
//    the same KC and half the MC (48).
constexpr BlockRule kRule{/*kc_level=*/2, /*kc_frac=*/3.0 / 32, /*mc_frac=*/0.5625, /*nc_frac=*/1.0};
using TileF32 = Tile<6, 16, 1, 3>;  // 12 accumulators + 2 B vectors + 1 broadcast; 1 row x 48 columns
using TileF64 = Tile<6, 8, 1, 3>;   // the same registers with 4 lanes

double fma_probe(int64_t iters, float* sink) { return fma_probe_impl<Simd<float>>(iters, sink); }
double read_probe(const float* p, int64_t n) { return read_probe_impl<Simd<float>>(p, n); }

void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64) {
    set_gemm_kernels<Simd<float>, TileF32, 2>(f32, "avx2", kRule);
    f32.dot_rows16[W16_BF16] = &dot_rows_impl<Simd<float>, 2, LoadBF16>;
    f32.dot_rows16[W16_F16] = cpu_has_f16c() ? &dot_rows_impl<Simd<float>, 2, LoadF16> : nullptr;
    set_gemm_kernels<Simd<double>, TileF64, 2>(f64, "avx2", kRule);
}

}  // namespace avx2
}  // namespace pyfwd
