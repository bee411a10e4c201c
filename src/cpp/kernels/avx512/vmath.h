// Vector math for the AVX-512 build (AVX-512F/DQ): V = __m512 / __m512d, masks
// __mmask16 / __mmask8. Include only from translation units of kernels/avx512 (compiled
// with -mavx512f -mavx512dq ...).
//
// Names (namespace pyfwd::avx512, internal linkage), overloaded on __m512 and __m512d:
//   V exp(V), tanh(V), erf(V), erfc(V), sigmoid(V), gelu(V), silu(V)
//   V activate(V z, int act)     act = pyfwd activation code (epilogue.h); relu/leaky keep NaN
//   V activate_c<ACT>(V z)       the same, code as a template argument (no run-time switch)
//   V vmath_func(V x, int func)  vmath_apply's codes (0 exp .. 6 erfc)
// The algorithms are in ../vmath_algo.inc; this file supplies the primitives. Constants are
// broadcast inside functions (no globals, nothing runs at load time).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "epilogue.h"  // Act codes, LEAKY_SLOPE

// Vector types as template arguments drop their alignment attributes in GCC's eyes
// (-Wignored-attributes); harmless here: they are only used as type tags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
// GCC 12 false positive: _mm512_undefined_*() in its own avx512fintrin.h wrappers
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace pyfwd {
namespace avx512 {
namespace {

template <class V>
struct VTraits;
template <>
struct VTraits<__m512> { using S = float; using M = __mmask16; using D = __m512d; static constexpr int W = 16; };
template <>
struct VTraits<__m512d> { using S = double; using M = __mmask8; using D = __m512d; static constexpr int W = 8; };
template <class S>
struct VecOf;
template <>
struct VecOf<float> { using type = __m512; };
template <>
struct VecOf<double> { using type = __m512d; };

template <class V>
inline V cst(double c);
template <>
inline __m512 cst<__m512>(double c) { return _mm512_set1_ps(static_cast<float>(c)); }
template <>
inline __m512d cst<__m512d>(double c) { return _mm512_set1_pd(c); }

inline __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
inline __m512d add(__m512d a, __m512d b) { return _mm512_add_pd(a, b); }
inline __m512 sub(__m512 a, __m512 b) { return _mm512_sub_ps(a, b); }
inline __m512d sub(__m512d a, __m512d b) { return _mm512_sub_pd(a, b); }
inline __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
inline __m512d mul(__m512d a, __m512d b) { return _mm512_mul_pd(a, b); }
inline __m512 div(__m512 a, __m512 b) { return _mm512_div_ps(a, b); }
inline __m512d div(__m512d a, __m512d b) { return _mm512_div_pd(a, b); }
inline __m512 fmadd(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
inline __m512d fmadd(__m512d a, __m512d b, __m512d c) { return _mm512_fmadd_pd(a, b, c); }
inline __m512 fnmadd(__m512 a, __m512 b, __m512 c) { return _mm512_fnmadd_ps(a, b, c); }
inline __m512d fnmadd(__m512d a, __m512d b, __m512d c) { return _mm512_fnmadd_pd(a, b, c); }
// vmin/vmax: the x86 instructions return the second operand when either is NaN.
inline __m512 vmin(__m512 a, __m512 b) { return _mm512_min_ps(a, b); }
inline __m512d vmin(__m512d a, __m512d b) { return _mm512_min_pd(a, b); }
inline __m512 vmax(__m512 a, __m512 b) { return _mm512_max_ps(a, b); }
inline __m512d vmax(__m512d a, __m512d b) { return _mm512_max_pd(a, b); }
inline __m512 vabs(__m512 a) { return _mm512_abs_ps(a); }
inline __m512d vabs(__m512d a) { return _mm512_abs_pd(a); }
inline __m512 vneg(__m512 a) { return _mm512_xor_ps(a, _mm512_set1_ps(-0.0f)); }
inline __m512d vneg(__m512d a) { return _mm512_xor_pd(a, _mm512_set1_pd(-0.0)); }
inline __m512 copysign_of(__m512 mag, __m512 sgn) {  // (mag & ~signbit) | (sgn & signbit)
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(
        _mm512_castps_si512(mag), _mm512_castps_si512(sgn), _mm512_set1_epi32(INT32_MIN), 0xD8));
}
inline __m512d copysign_of(__m512d mag, __m512d sgn) {
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(
        _mm512_castpd_si512(mag), _mm512_castpd_si512(sgn), _mm512_set1_epi64(INT64_MIN), 0xD8));
}
inline __mmask16 lt(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
inline __mmask8 lt(__m512d a, __m512d b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
inline __mmask16 gt(__m512 a, __m512 b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
inline __mmask8 gt(__m512d a, __m512d b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
inline __m512 select(__mmask16 m, __m512 a, __m512 b) { return _mm512_mask_blend_ps(m, b, a); }
inline __m512d select(__mmask8 m, __m512d a, __m512d b) { return _mm512_mask_blend_pd(m, b, a); }
inline __m512 round_nearest(__m512 a) {
    return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
inline __m512d round_nearest(__m512d a) {
    return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
// vscalef: p * 2^floor(n) in one instruction, one rounding, subnormals and overflow right.
inline __m512 ldexp_int(__m512 p, __m512 n) { return _mm512_scalef_ps(p, n); }
inline __m512d ldexp_int(__m512d p, __m512d n) { return _mm512_scalef_pd(p, n); }

template <class F>
inline __m512 via_f64(__m512 x, F f) {
    __m512d lo = _mm512_cvtps_pd(_mm512_castps512_ps256(x));
    __m512d hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1)));
    __m256 rlo = _mm512_cvtpd_ps(f(lo));
    __m256 rhi = _mm512_cvtpd_ps(f(hi));
    return _mm512_insertf32x8(_mm512_castps256_ps512(rlo), rhi, 1);
}

// loads and stores; the _n forms touch only the first n < W elements (masked), the other
// lanes are `fill`.
inline __m512 load(const float* p) { return _mm512_loadu_ps(p); }
inline __m512d load(const double* p) { return _mm512_loadu_pd(p); }
inline void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
inline void store(double* p, __m512d v) { _mm512_storeu_pd(p, v); }
inline __m512 load_n(const float* p, std::size_t n, float fill) {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), static_cast<__mmask16>((1u << n) - 1), p);
}
inline __m512d load_n(const double* p, std::size_t n, double fill) {
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), static_cast<__mmask8>((1u << n) - 1), p);
}
inline void store_n(float* p, __m512 v, std::size_t n) {
    _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v);
}
inline void store_n(double* p, __m512d v, std::size_t n) {
    _mm512_mask_storeu_pd(p, static_cast<__mmask8>((1u << n) - 1), v);
}
inline float reduce_max(__m512 v) { return _mm512_reduce_max_ps(v); }
inline double reduce_max(__m512d v) { return _mm512_reduce_max_pd(v); }
inline void to_lanes(__m512 v, float* out) { _mm512_storeu_ps(out, v); }
inline void to_lanes(__m512d v, double* out) { _mm512_storeu_pd(out, v); }

#include "../vmath_algo.inc"

}  // namespace
}  // namespace avx512
}  // namespace pyfwd

#pragma GCC diagnostic pop
