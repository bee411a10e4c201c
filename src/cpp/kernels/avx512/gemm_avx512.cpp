// AVX-512 GEMM micro-kernels: sgemm_ukr_avx512_14x32 and dgemm_ukr_avx512_14x16, the
// shared micro-kernel (ukr_impl.h) on this level's SIMD traits (simd.h) and the tiles below.
// Compiled with -mavx512f -mavx512dq -mavx512vl -mavx512bw -mfma; everything in
// pyfwd::avx512, helpers in an anonymous namespace, no global constructors (only
// fill_bundle, called by the dispatcher after CPUID said AVX-512 is there).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "kernels/kernel_api.h"

#include "vmath.h"  // this ISA's SIMD traits (simd.h) and activate(v, code)

// GCC 12 false positive inside its own avx512fintrin.h (_mm512_undefined_* pass-through
// operands of max/reduce/extract), reported where the micro-kernel's reductions are
// inlined into this file: file-wide here (the vector-math files raise none).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pyfwd {
namespace avx512 {
namespace {

#include "kernels/ukr_impl.h"
#include "kernels/wide16.h"

// 16-bit weights widened in registers for the dot path (16 lanes from 32 bytes; the
// masked loads need AVX512BW+VL). Compiled for this level, never run on the machine
// these were written on (no AVX-512 there): the tests run them wherever the CPU can.
inline __m256i load16_u16_n(const uint16_t* p, int n) {
    return _mm256_maskz_loadu_epi16(static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u), p);
}
inline __m512 bf16x16_to_ps(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
struct LoadBF16 {
    using E = uint16_t;
    static __m512 load(const E* p) { return bf16x16_to_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
    static __m512 load_n(const E* p, int n) { return bf16x16_to_ps(load16_u16_n(p, n)); }
};
struct LoadF16 {
    using E = uint16_t;
    static __m512 load(const E* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
    static __m512 load_n(const E* p, int n) { return _mm512_cvtph_ps(load16_u16_n(p, n)); }
};

// 16x16 float transpose in registers: r[i] holds row i on entry, column i on exit.
inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    // u[4i + j], 128-bit lane L: rows 4i..4i+3 of column 4L + j
    for (int i = 0; i < 4; ++i) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int j = 0; j < 4; ++j) {
        const __m512 x0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x44), x1 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x44);
        const __m512 x2 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xEE), x3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xEE);
        r[j] = _mm512_shuffle_f32x4(x0, x1, 0x88);
        r[4 + j] = _mm512_shuffle_f32x4(x0, x1, 0xDD);
        r[8 + j] = _mm512_shuffle_f32x4(x2, x3, 0x88);
        r[12 + j] = _mm512_shuffle_f32x4(x2, x3, 0xDD);
    }
}

// pack_w for f32: W with contiguous rows (csw == 1) and whole 32-row slivers go through
// 16x16 register transposes (contiguous loads and stores) instead of one 16-lane gather
// per k; everything else takes the generic gather path. Moves values only: same bits.
void pack_w_f32(const float* W, int64_t N, int64_t K, int64_t rsw, int64_t csw, int64_t s0, int64_t s1, float* Bp) {
    constexpr int NR = 32;
    for (int64_t s = s0; s < s1; ++s) {
        if (csw != 1 || (s + 1) * NR > N || K == 0) {
            pack_w_impl<Simd<float>, NR>(W, N, K, rsw, csw, s, s + 1, Bp);
            continue;
        }
        float* base = Bp + s * K * NR;
        for (int v = 0; v < NR / 16; ++v) {
            const float* w = W + (s * NR + v * 16) * rsw;
            for (int64_t k0 = 0; k0 < K; k0 += 16) {
                const int kk = static_cast<int>(std::min<int64_t>(16, K - k0));
                const __mmask16 m = _cvtu32_mask16(kk >= 16 ? 0xFFFFu : (1u << kk) - 1u);
                __m512 r[16];
                for (int i = 0; i < 16; ++i) r[i] = _mm512_maskz_loadu_ps(m, w + i * rsw + k0);
                transpose16(r);
                for (int c = 0; c < kk; ++c) _mm512_storeu_ps(base + (k0 + c) * NR + v * 16, r[c]);
            }
        }
    }
}

}  // namespace

// Cache blocks (Sapphire-Rapids-class core: 32 zmm, 2 FMA ports), by the rule of
// cache_info.h from the caches of the CPU that runs them; the figures below are those
// on the reference caches (L1d 48 KB, L2 2 MB), where the rule gives the blocks tuned:
//  f32 14x32: 28 accumulators + 2 B vectors + 1 broadcast = 31 of 32 zmm; per k 2 loads
//    feed 28 FMAs, so the FMA ports, not the loads, are the limit.
//  KC from L2 (kc_level 2, kc_frac 1/16): 2 MB / 16 / (32 x 4 B) = 1024, and K up to
//    2*KC = 2048 in one block: each extra K block is a round trip of C through memory
//    (C of a large GEMM lives in L3/DRAM, and the 14 rows of a C tile 4-8 KB apart
//    fight over one L1 set), which costs more than streaming a B sliver larger than L1
//    (KC x NR x 4 B = 128-256 KB) from L2 with software prefetch.
//    Measured sgemm 1 thread, same process (MC x KC kept at the same A budget):
//    KC 512 -> 1024: 2048^3 152 -> 162, 4096^3 151 -> 169 GFLOP/s; K = 784 (MNIST) is
//    one block either way. Blocks are balanced (K = 2500: 2 x 1256, rounded up to 8).
//  MC: the A block takes 0.6 of L2: 14*21 = 294 rows x 1024 x 4 B = 1.2 MB of 2 MB.
//    The driver gives a shorter K block more rows (MC x KC / kc) and balances the M
//    blocks, so [1024, 4096, 4096, 1024] at batch 256 runs as one M block and streams
//    each W once (+15% against two passes; MC 210 splits it and lost 7%).
//  NC: the KC x NC panel of W takes this thread's L3 share (nc_frac 1; W is prepacked
//    whole: NC only bounds how much of it one A block meets before the next).
//  f64 14x16: the same register budget with 8 lanes, and the same bytes per sliver
//    (16 x 8 B = 32 x 4 B); KC from 1/32 of L2 (512 on 2 MB) and the same A share
//    (294 rows, 1.2 MB): the f32 move to KC 1024 above was not re-measured for f64.
constexpr BlockRule kRuleF32{/*kc_level=*/2, /*kc_frac=*/1.0 / 16, /*mc_frac=*/0.6, /*nc_frac=*/1.0};
constexpr BlockRule kRuleF64{/*kc_level=*/2, /*kc_frac=*/1.0 / 32, /*mc_frac=*/0.6, /*nc_frac=*/1.0};
using TileF32 = Tile<14, 32, 2, 4>;  // 28 accumulators + 2 B vectors + 1 broadcast; 2 rows x 128 columns
using TileF64 = Tile<14, 16, 2, 4>;  // the same registers with 8 lanes

double fma_probe(int64_t iters, float* sink) { return fma_probe_impl<Simd<float>>(iters, sink); }
double read_probe(const float* p, int64_t n) { return read_probe_impl<Simd<float>>(p, n); }

void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64) {
    set_gemm_kernels<Simd<float>, TileF32, 4>(f32, "avx512", kRuleF32);
    f32.pack_w = &pack_w_f32;  // whole 32-row slivers through 16x16 register transposes
    f32.dot_rows16[W16_BF16] = &dot_rows_impl<Simd<float>, 4, LoadBF16>;
    f32.dot_rows16[W16_F16] = &dot_rows_impl<Simd<float>, 4, LoadF16>;
    set_gemm_kernels<Simd<double>, TileF64, 4>(f64, "avx512", kRuleF64);
}

}  // namespace avx512
}  // namespace pyfwd
