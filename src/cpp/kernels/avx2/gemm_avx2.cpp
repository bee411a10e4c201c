// AVX2+FMA GEMM micro-kernels: sgemm_ukr_avx2_6x16 and dgemm_ukr_avx2_6x8.
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
#include <cstring>
#include <limits>
#include <string>

#include "cpu_features.h"
#include "kernels/kernel_api.h"

#include "vmath.h"  // this ISA's activate(v, code) (vmath helper)

namespace pyfwd {
namespace avx2 {
namespace {

struct F32 {
    using T = float;
    using V = __m256;
    static constexpr int W = 8;
    static __m256i mask(int n) {
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static V zero() { return _mm256_setzero_ps(); }
    static V load(const T* p) { return _mm256_loadu_ps(p); }
    static V load_n(const T* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
    static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
    static void store_n(T* p, V v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
    static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
    static __m256i gidx(int64_t stride) {
        return _mm256_mullo_epi32(_mm256_set1_epi32(static_cast<int>(stride)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static V gather_n(const T* p, __m256i idx, int n) {
        return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx, _mm256_castsi256_ps(mask(n)), 4);
    }
    static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V div(V a, V b) { return _mm256_div_ps(a, b); }
    static V vmax(V a, V b) { return _mm256_max_ps(a, b); }
    static V pad_ninf(V v, int n) { return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), v, _mm256_castsi256_ps(mask(n))); }
    static V all_max(V v) {
        V t = _mm256_max_ps(v, _mm256_permute2f128_ps(v, v, 1));
        t = _mm256_max_ps(t, _mm256_permute_ps(t, 0x4E));
        return _mm256_max_ps(t, _mm256_permute_ps(t, 0xB1));
    }
    static V all_sum(V v) {
        V t = _mm256_add_ps(v, _mm256_permute2f128_ps(v, v, 1));
        t = _mm256_add_ps(t, _mm256_permute_ps(t, 0x4E));
        return _mm256_add_ps(t, _mm256_permute_ps(t, 0xB1));
    }
    // max returns its second operand when either is NaN: z second keeps NaN.
    // 8x8 transpose in registers (pack_w): r[i] holds row i on entry, column i on exit.
    static void transpose(V* r) {
        V t[8], u[8];
        for (int i = 0; i < 4; ++i) {
            t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);      // per 128-bit half: a0 b0 a1 b1
            t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);  //                   a2 b2 a3 b3
        }
        for (int h = 0; h < 2; ++h) {  // rows 4h..4h+3: u[4h + c] holds column c (and c + 4)
            u[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(1, 0, 1, 0));
            u[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], _MM_SHUFFLE(3, 2, 3, 2));
            u[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(1, 0, 1, 0));
            u[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
        for (int c = 0; c < 4; ++c) {
            r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
            r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
        }
    }
    static V relu(V z) { return _mm256_max_ps(_mm256_setzero_ps(), z); }
    static V leaky(V z, T alpha) {
        const V pos = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_GT_OQ);
        return _mm256_blendv_ps(_mm256_mul_ps(z, _mm256_set1_ps(alpha)), z, pos);
    }
};

struct F64 {
    using T = double;
    using V = __m256d;
    static constexpr int W = 4;
    static __m256i mask(int n) {
        return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
    }
    static V zero() { return _mm256_setzero_pd(); }
    static V load(const T* p) { return _mm256_loadu_pd(p); }
    static V load_n(const T* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
    static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
    static void store_n(T* p, V v, int n) { _mm256_maskstore_pd(p, mask(n), v); }
    static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
    static __m128i gidx(int64_t stride) {
        return _mm_mullo_epi32(_mm_set1_epi32(static_cast<int>(stride)), _mm_setr_epi32(0, 1, 2, 3));
    }
    static V gather_n(const T* p, __m128i idx, int n) {
        return _mm256_mask_i32gather_pd(_mm256_setzero_pd(), p, idx, _mm256_castsi256_pd(mask(n)), 8);
    }
    static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
    static V add(V a, V b) { return _mm256_add_pd(a, b); }
    static V div(V a, V b) { return _mm256_div_pd(a, b); }
    static V vmax(V a, V b) { return _mm256_max_pd(a, b); }
    static V pad_ninf(V v, int n) { return _mm256_blendv_pd(_mm256_set1_pd(-__builtin_inf()), v, _mm256_castsi256_pd(mask(n))); }
    static V all_max(V v) {
        V t = _mm256_max_pd(v, _mm256_permute2f128_pd(v, v, 1));
        return _mm256_max_pd(t, _mm256_permute_pd(t, 0x5));
    }
    static V all_sum(V v) {
        V t = _mm256_add_pd(v, _mm256_permute2f128_pd(v, v, 1));
        return _mm256_add_pd(t, _mm256_permute_pd(t, 0x5));
    }
    // 4x4 transpose in registers (pack_w): r[i] holds row i on entry, column i on exit.
    static void transpose(V* r) {
        const V t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
        const V t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
        r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
        r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
        r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
        r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
    }
    static V relu(V z) { return _mm256_max_pd(_mm256_setzero_pd(), z); }
    static V leaky(V z, T alpha) {
        const V pos = _mm256_cmp_pd(z, _mm256_setzero_pd(), _CMP_GT_OQ);
        return _mm256_blendv_pd(_mm256_mul_pd(z, _mm256_set1_pd(alpha)), z, pos);
    }
};

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
void sgemm_ukr_avx2_6x16(int m, int64_t kc, const float* A, int64_t lda, const float* Bp, int64_t bstride, float* C,
                         int64_t ldc, int n, const float* bias, int act, float alpha, int flags) {
    ukr_entry<F32, 6, 16, 1, 3>(m, kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags);
}

void dgemm_ukr_avx2_6x8(int m, int64_t kc, const double* A, int64_t lda, const double* Bp, int64_t bstride, double* C,
                        int64_t ldc, int n, const double* bias, int act, double alpha, int flags) {
    ukr_entry<F64, 6, 8, 1, 3>(m, kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags);
}

double fma_probe(int64_t iters, float* sink) { return fma_probe_impl<F32>(iters, sink); }

void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64) {
    f32.ukr_name = "sgemm_ukr_avx2_6x16";
    f32.ukr = &sgemm_ukr_avx2_6x16;
    f32.dot_rows = &dot_rows_impl<F32, 2>;
    f32.dot_rows16[W16_BF16] = &dot_rows_impl<F32, 2, LoadBF16>;
    f32.dot_rows16[W16_F16] = cpu_has_f16c() ? &dot_rows_impl<F32, 2, LoadF16> : nullptr;
    f32.pack_w = &pack_w_impl<F32, 16>;
    f32.softmax_short = &softmax_short_impl<F32, 16, 2>;
    f32.MW = 1; f32.NW = 3 * 16;
    f32.MR = 6; f32.NR = 16; f32.rule = kRule;
    f64.ukr_name = "dgemm_ukr_avx2_6x8";
    f64.ukr = &dgemm_ukr_avx2_6x8;
    f64.dot_rows = &dot_rows_impl<F64, 2>;
    f64.pack_w = &pack_w_impl<F64, 8>;
    f64.softmax_short = &softmax_short_impl<F64, 8, 2>;
    f64.MW = 1; f64.NW = 3 * 8;
    f64.MR = 6; f64.NR = 8; f64.rule = kRule;
}

}  // namespace avx2
}  // namespace pyfwd
