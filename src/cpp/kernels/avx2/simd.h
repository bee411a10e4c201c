// The AVX2+FMA SIMD traits: Simd<float> (V = __m256) and Simd<double> (V = __m256d), the
// one place this level names its intrinsics. The micro-kernel, packing and dot path
// (ukr_impl.h, through `VT::op`) and the vector math (vmath_algo.inc, through the free
// names of simd_ops.inc) use these same structs. Include only from translation units of
// kernels/avx2 (compiled with -mavx2 -mfma).
//
// Every struct has (V a vector, M its compare mask, T the element, W lanes, REGS vector
// registers; the list is
// the same at every level: a new level is this file, its gemm file and its flags):
//   set1(double) zero() bcast(const T*)                       broadcasts
//   load store; load_n(p, n[, fill]) store_n(p, v, n)        n < W: only the first n
//                                                           elements are touched; the
//                                                           other lanes are 0 (or fill)
//   add sub mul div (IEEE); fmadd(a,b,c) = a*b+c and fnmadd(a,b,c) = c-a*b, fused
//   mul_add(a,b,c)   the micro-kernel's a*b+c: fused where the level has FMA
//   vmin vmax        x86 semantics: the second operand when either is NaN
//   vabs vneg copysign_of(mag, sgn); lt gt (ordered, false on NaN) -> M; select(m, a, b)
//   round_nearest (ties to even); ldexp_int(p, n) = p * 2^n, one rounding
//   via_f64(x, f) (float only): f on x widened to double, rounded back once
//   all_max all_sum (every lane: the max / the sum of all lanes, a fixed order)
//   reduce_max (a scalar: lane 0, then each larger lane in turn: NaN lanes past 0 skipped)
//   pad_ninf(v, n)   lanes >= n set to -inf
//   gidx(stride) gather_n(p, idx, n)   n lanes p[l*stride], zeros past n
//   transpose(V r[W]) (optional): r[i] holds row i on entry, column i on exit
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

// Vector types as template arguments drop their alignment attributes in GCC's eyes
// (-Wignored-attributes); harmless here: they are only used as type tags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace pyfwd {
namespace avx2 {
namespace {

template <class S>
struct Simd;

template <>
struct Simd<float> {
    using T = float;
    using V = __m256;
    using M = __m256;   // compare result: all-ones lanes
    using D = __m256d;  // the double vector of via_f64
    static constexpr int W = 8;
    static constexpr int REGS = 16;  // ymm0-15
    static __m256i mask(int n) {  // lanes < n
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static V set1(double c) { return _mm256_set1_ps(static_cast<float>(c)); }
    static V zero() { return _mm256_setzero_ps(); }
    static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
    static V load(const T* p) { return _mm256_loadu_ps(p); }
    static V load_n(const T* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
    static V load_n(const T* p, int n, T fill) {
        const __m256i m = mask(n);
        return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
    }
    static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
    static void store_n(T* p, V v, int n) { _mm256_maskstore_ps(p, mask(n), v); }
    static V add(V a, V b) { return _mm256_add_ps(a, b); }
    static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
    static V div(V a, V b) { return _mm256_div_ps(a, b); }
    static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
    static V mul_add(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
    static V vmin(V a, V b) { return _mm256_min_ps(a, b); }
    static V vmax(V a, V b) { return _mm256_max_ps(a, b); }
    static V vabs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
    static V vneg(V a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
    static V copysign_of(V mag, V sgn) {
        const V s = _mm256_set1_ps(-0.0f);
        return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sgn));
    }
    static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static V select(M m, V a, V b) { return _mm256_blendv_ps(b, a, m); }
    static V round_nearest(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // 2^n for integer-valued n in the normal exponent range: the magic-number add puts
    // n + bias in the low mantissa bits, a shift moves them into the exponent field. A NaN
    // n gives garbage, but then p is NaN too and the product stays NaN.
    static V pow2i(V n) {
        const V t = _mm256_add_ps(n, _mm256_set1_ps(12582912.0f + 127.0f));  // 1.5*2^23 + bias
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23));
    }
    // p * 2^n with one rounding: n = n1 + n2, both normal powers of two; p * 2^n1 is
    // exact, the second product rounds once (into the subnormals or to inf when it must).
    static V ldexp_int(V p, V n) {
        const V n1 = _mm256_round_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        return _mm256_mul_ps(_mm256_mul_ps(p, pow2i(n1)), pow2i(_mm256_sub_ps(n, n1)));
    }
    template <class F>
    static V via_f64(V x, F f) {
        const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
        const __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
        return _mm256_set_m128(_mm256_cvtpd_ps(f(hi)), _mm256_cvtpd_ps(f(lo)));
    }
    static V all_max(V v) {
        const V t = _mm256_max_ps(v, _mm256_permute2f128_ps(v, v, 1));
        const V u = _mm256_max_ps(t, _mm256_permute_ps(t, 0x4E));
        return _mm256_max_ps(u, _mm256_permute_ps(u, 0xB1));
    }
    static V all_sum(V v) {
        const V t = _mm256_add_ps(v, _mm256_permute2f128_ps(v, v, 1));
        const V u = _mm256_add_ps(t, _mm256_permute_ps(t, 0x4E));
        return _mm256_add_ps(u, _mm256_permute_ps(u, 0xB1));
    }
    static T reduce_max(V v) {
        alignas(32) T b[W];
        _mm256_store_ps(b, v);
        T m = b[0];
        for (int i = 1; i < W; ++i) m = b[i] > m ? b[i] : m;
        return m;
    }
    static V pad_ninf(V v, int n) {
        return _mm256_blendv_ps(_mm256_set1_ps(-__builtin_inff()), v, _mm256_castsi256_ps(mask(n)));
    }
    static __m256i gidx(int64_t stride) {
        return _mm256_mullo_epi32(_mm256_set1_epi32(static_cast<int>(stride)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static V gather_n(const T* p, __m256i idx, int n) {
        return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, idx, _mm256_castsi256_ps(mask(n)), 4);
    }
    // 8x8 transpose in registers (pack_w)
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
};

template <>
struct Simd<double> {
    using T = double;
    using V = __m256d;
    using M = __m256d;
    using D = __m256d;
    static constexpr int W = 4;
    static constexpr int REGS = 16;
    static __m256i mask(int n) { return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3)); }
    static V set1(double c) { return _mm256_set1_pd(c); }
    static V zero() { return _mm256_setzero_pd(); }
    static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
    static V load(const T* p) { return _mm256_loadu_pd(p); }
    static V load_n(const T* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
    static V load_n(const T* p, int n, T fill) {
        const __m256i m = mask(n);
        return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
    }
    static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
    static void store_n(T* p, V v, int n) { _mm256_maskstore_pd(p, mask(n), v); }
    static V add(V a, V b) { return _mm256_add_pd(a, b); }
    static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
    static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
    static V div(V a, V b) { return _mm256_div_pd(a, b); }
    static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static V fnmadd(V a, V b, V c) { return _mm256_fnmadd_pd(a, b, c); }
    static V mul_add(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
    static V vmin(V a, V b) { return _mm256_min_pd(a, b); }
    static V vmax(V a, V b) { return _mm256_max_pd(a, b); }
    static V vabs(V a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
    static V vneg(V a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
    static V copysign_of(V mag, V sgn) {
        const V s = _mm256_set1_pd(-0.0);
        return _mm256_or_pd(_mm256_andnot_pd(s, mag), _mm256_and_pd(s, sgn));
    }
    static M lt(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
    static M gt(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
    static V select(M m, V a, V b) { return _mm256_blendv_pd(b, a, m); }
    static V round_nearest(V a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V pow2i(V n) {
        const V t = _mm256_add_pd(n, _mm256_set1_pd(6755399441055744.0 + 1023.0));  // 1.5*2^52 + bias
        return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(t), 52));
    }
    static V ldexp_int(V p, V n) {
        const V n1 = _mm256_round_pd(_mm256_mul_pd(n, _mm256_set1_pd(0.5)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
        return _mm256_mul_pd(_mm256_mul_pd(p, pow2i(n1)), pow2i(_mm256_sub_pd(n, n1)));
    }
    static V all_max(V v) {
        const V t = _mm256_max_pd(v, _mm256_permute2f128_pd(v, v, 1));
        return _mm256_max_pd(t, _mm256_permute_pd(t, 0x5));
    }
    static V all_sum(V v) {
        const V t = _mm256_add_pd(v, _mm256_permute2f128_pd(v, v, 1));
        return _mm256_add_pd(t, _mm256_permute_pd(t, 0x5));
    }
    static T reduce_max(V v) {
        alignas(32) T b[W];
        _mm256_store_pd(b, v);
        T m = b[0];
        for (int i = 1; i < W; ++i) m = b[i] > m ? b[i] : m;
        return m;
    }
    static V pad_ninf(V v, int n) {
        return _mm256_blendv_pd(_mm256_set1_pd(-__builtin_inf()), v, _mm256_castsi256_pd(mask(n)));
    }
    static __m128i gidx(int64_t stride) {
        return _mm_mullo_epi32(_mm_set1_epi32(static_cast<int>(stride)), _mm_setr_epi32(0, 1, 2, 3));
    }
    static V gather_n(const T* p, __m128i idx, int n) {
        return _mm256_mask_i32gather_pd(_mm256_setzero_pd(), p, idx, _mm256_castsi256_pd(mask(n)), 8);
    }
    // 4x4 transpose in registers (pack_w)
    static void transpose(V* r) {
        const V t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
        const V t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
        r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
        r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
        r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
        r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
    }
};

template <class V>
struct SimdOf;
template <>
struct SimdOf<__m256> { using type = Simd<float>; };
template <>
struct SimdOf<__m256d> { using type = Simd<double>; };

#include "../simd_ops.inc"

}  // namespace
}  // namespace avx2
}  // namespace pyfwd

#pragma GCC diagnostic pop
