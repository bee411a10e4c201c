// The AVX-512 SIMD traits: Simd<float> (V = __m512, masks __mmask16) and Simd<double>
// (V = __m512d, __mmask8), the one place this level names its intrinsics, with the same
// operations and contracts as every level (listed in kernels/avx2/simd.h). The
// micro-kernel (ukr_impl.h) and the vector math (vmath_algo.inc, through simd_ops.inc) use
// these same structs. Include only from translation units of kernels/avx512 (compiled
// with -mavx512f -mavx512dq -mavx512vl -mavx512bw -mfma).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

// Vector types as template arguments drop their alignment attributes in GCC's eyes
// (-Wignored-attributes); harmless here: they are only used as type tags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
// GCC 12 false positive: _mm512_undefined_*() in its own avx512fintrin.h wrappers (the
// pass-through operands of max/reduce/extract)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pyfwd {
namespace avx512 {
namespace {

template <class S>
struct Simd;

template <>
struct Simd<float> {
    using T = float;
    using V = __m512;
    using M = __mmask16;
    using D = __m512d;  // the double vector of via_f64
    static constexpr int W = 16;
    static constexpr int REGS = 32;  // zmm0-31
    static M mask(int n) { return _cvtu32_mask16(n >= 16 ? 0xFFFFu : (1u << n) - 1u); }  // lanes < n
    static V set1(double c) { return _mm512_set1_ps(static_cast<float>(c)); }
    static V zero() { return _mm512_setzero_ps(); }
    static V bcast(const T* p) { return _mm512_set1_ps(*p); }
    static V load(const T* p) { return _mm512_loadu_ps(p); }
    static V load_n(const T* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
    static V load_n(const T* p, int n, T fill) { return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask(n), p); }
    static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
    static void store_n(T* p, V v, int n) { _mm512_mask_storeu_ps(p, mask(n), v); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
    static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V div(V a, V b) { return _mm512_div_ps(a, b); }
    static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
    static V mul_add(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V vmin(V a, V b) { return _mm512_min_ps(a, b); }
    static V vmax(V a, V b) { return _mm512_max_ps(a, b); }
    static V vabs(V a) { return _mm512_abs_ps(a); }
    static V vneg(V a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
    static V copysign_of(V mag, V sgn) {  // (mag & ~signbit) | (sgn & signbit)
        return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(mag), _mm512_castps_si512(sgn),
                                                             _mm512_set1_epi32(INT32_MIN), 0xD8));
    }
    static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static V select(M m, V a, V b) { return _mm512_mask_blend_ps(m, b, a); }
    static V round_nearest(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // vscalef: p * 2^floor(n) in one instruction, one rounding, subnormals and overflow right.
    static V ldexp_int(V p, V n) { return _mm512_scalef_ps(p, n); }
    template <class F>
    static V via_f64(V x, F f) {
        const __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
        const __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
        const __m256 rlo = _mm512_cvtpd_ps(f(lo));
        const __m256 rhi = _mm512_cvtpd_ps(f(hi));
        return _mm512_insertf32x8(_mm512_castps256_ps512(rlo), rhi, 1);
    }
    static V all_max(V v) { return _mm512_set1_ps(_mm512_reduce_max_ps(v)); }
    static V all_sum(V v) { return _mm512_set1_ps(_mm512_reduce_add_ps(v)); }
    static T reduce_max(V v) { return _mm512_reduce_max_ps(v); }
    static V pad_ninf(V v, int n) { return _mm512_mask_blend_ps(mask(n), _mm512_set1_ps(-__builtin_inff()), v); }
    static __m512i gidx(int64_t stride) {
        return _mm512_mullo_epi32(_mm512_set1_epi32(static_cast<int>(stride)),
                                  _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    }
    static V gather_n(const T* p, __m512i idx, int n) {
        return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask(n), idx, p, 4);
    }
};

template <>
struct Simd<double> {
    using T = double;
    using V = __m512d;
    using M = __mmask8;
    using D = __m512d;
    static constexpr int W = 8;
    static constexpr int REGS = 32;
    static M mask(int n) { return static_cast<__mmask8>(n >= 8 ? 0xFFu : (1u << n) - 1u); }
    static V set1(double c) { return _mm512_set1_pd(c); }
    static V zero() { return _mm512_setzero_pd(); }
    static V bcast(const T* p) { return _mm512_set1_pd(*p); }
    static V load(const T* p) { return _mm512_loadu_pd(p); }
    static V load_n(const T* p, int n) { return _mm512_maskz_loadu_pd(mask(n), p); }
    static V load_n(const T* p, int n, T fill) { return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), mask(n), p); }
    static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
    static void store_n(T* p, V v, int n) { _mm512_mask_storeu_pd(p, mask(n), v); }
    static V add(V a, V b) { return _mm512_add_pd(a, b); }
    static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
    static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
    static V div(V a, V b) { return _mm512_div_pd(a, b); }
    static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static V fnmadd(V a, V b, V c) { return _mm512_fnmadd_pd(a, b, c); }
    static V mul_add(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static V vmin(V a, V b) { return _mm512_min_pd(a, b); }
    static V vmax(V a, V b) { return _mm512_max_pd(a, b); }
    static V vabs(V a) { return _mm512_abs_pd(a); }
    static V vneg(V a) { return _mm512_xor_pd(a, _mm512_set1_pd(-0.0)); }
    static V copysign_of(V mag, V sgn) {
        return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(_mm512_castpd_si512(mag), _mm512_castpd_si512(sgn),
                                                             _mm512_set1_epi64(INT64_MIN), 0xD8));
    }
    static M lt(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
    static M gt(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
    static V select(M m, V a, V b) { return _mm512_mask_blend_pd(m, b, a); }
    static V round_nearest(V a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static V ldexp_int(V p, V n) { return _mm512_scalef_pd(p, n); }
    static V all_max(V v) { return _mm512_set1_pd(_mm512_reduce_max_pd(v)); }
    static V all_sum(V v) { return _mm512_set1_pd(_mm512_reduce_add_pd(v)); }
    static T reduce_max(V v) { return _mm512_reduce_max_pd(v); }
    static V pad_ninf(V v, int n) { return _mm512_mask_blend_pd(mask(n), _mm512_set1_pd(-__builtin_inf()), v); }
    static __m256i gidx(int64_t stride) {
        return _mm256_mullo_epi32(_mm256_set1_epi32(static_cast<int>(stride)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static V gather_n(const T* p, __m256i idx, int n) {
        return _mm512_mask_i32gather_pd(_mm512_setzero_pd(), mask(n), idx, p, 8);
    }
};

template <class V>
struct SimdOf;
template <>
struct SimdOf<__m512> { using type = Simd<float>; };
template <>
struct SimdOf<__m512d> { using type = Simd<double>; };

#include "../simd_ops.inc"

}  // namespace
}  // namespace avx512
}  // namespace pyfwd

#pragma GCC diagnostic pop
