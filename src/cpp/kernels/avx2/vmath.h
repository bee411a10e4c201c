// Vector math for the AVX2+FMA build: V = __m256 / __m256d, masks are compare-result
// vectors. Include only from translation units of kernels/avx2 (compiled with -mavx2 -mfma).
//
// Names (namespace pyfwd::avx2, internal linkage), overloaded on __m256 and __m256d:
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

namespace pyfwd {
namespace avx2 {
namespace {

template <class V>
struct VTraits;
template <>
struct VTraits<__m256> { using S = float; using M = __m256; using D = __m256d; static constexpr int W = 8; };
template <>
struct VTraits<__m256d> { using S = double; using M = __m256d; using D = __m256d; static constexpr int W = 4; };
template <class S>
struct VecOf;
template <>
struct VecOf<float> { using type = __m256; };
template <>
struct VecOf<double> { using type = __m256d; };

template <class V>
inline V cst(double c);
template <>
inline __m256 cst<__m256>(double c) { return _mm256_set1_ps(static_cast<float>(c)); }
template <>
inline __m256d cst<__m256d>(double c) { return _mm256_set1_pd(c); }

inline __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
inline __m256d add(__m256d a, __m256d b) { return _mm256_add_pd(a, b); }
inline __m256 sub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
inline __m256d sub(__m256d a, __m256d b) { return _mm256_sub_pd(a, b); }
inline __m256 mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
inline __m256d mul(__m256d a, __m256d b) { return _mm256_mul_pd(a, b); }
inline __m256 div(__m256 a, __m256 b) { return _mm256_div_ps(a, b); }
inline __m256d div(__m256d a, __m256d b) { return _mm256_div_pd(a, b); }
inline __m256 fmadd(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline __m256d fmadd(__m256d a, __m256d b, __m256d c) { return _mm256_fmadd_pd(a, b, c); }
inline __m256 fnmadd(__m256 a, __m256 b, __m256 c) { return _mm256_fnmadd_ps(a, b, c); }
inline __m256d fnmadd(__m256d a, __m256d b, __m256d c) { return _mm256_fnmadd_pd(a, b, c); }
// vmin/vmax: the x86 instructions return the second operand when either is NaN.
inline __m256 vmin(__m256 a, __m256 b) { return _mm256_min_ps(a, b); }
inline __m256d vmin(__m256d a, __m256d b) { return _mm256_min_pd(a, b); }
inline __m256 vmax(__m256 a, __m256 b) { return _mm256_max_ps(a, b); }
inline __m256d vmax(__m256d a, __m256d b) { return _mm256_max_pd(a, b); }
inline __m256 vabs(__m256 a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
inline __m256d vabs(__m256d a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
inline __m256 vneg(__m256 a) { return _mm256_xor_ps(a, _mm256_set1_ps(-0.0f)); }
inline __m256d vneg(__m256d a) { return _mm256_xor_pd(a, _mm256_set1_pd(-0.0)); }
inline __m256 copysign_of(__m256 mag, __m256 sgn) {
    __m256 s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_andnot_ps(s, mag), _mm256_and_ps(s, sgn));
}
inline __m256d copysign_of(__m256d mag, __m256d sgn) {
    __m256d s = _mm256_set1_pd(-0.0);
    return _mm256_or_pd(_mm256_andnot_pd(s, mag), _mm256_and_pd(s, sgn));
}
inline __m256 lt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
inline __m256d lt(__m256d a, __m256d b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
inline __m256 gt(__m256 a, __m256 b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
inline __m256d gt(__m256d a, __m256d b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
inline __m256 select(__m256 m, __m256 a, __m256 b) { return _mm256_blendv_ps(b, a, m); }
inline __m256d select(__m256d m, __m256d a, __m256d b) { return _mm256_blendv_pd(b, a, m); }
inline __m256 round_nearest(__m256 a) {
    return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}
inline __m256d round_nearest(__m256d a) {
    return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

// 2^n for integer-valued n in the normal exponent range: the magic-number add puts
// n + bias in the low mantissa bits, a shift moves them into the exponent field. A NaN n
// gives garbage, but then p is NaN too and the product stays NaN.
inline __m256 pow2i(__m256 n) {
    __m256 t = _mm256_add_ps(n, _mm256_set1_ps(12582912.0f + 127.0f));  // 1.5*2^23 + bias
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_castps_si256(t), 23));
}
inline __m256d pow2i(__m256d n) {
    __m256d t = _mm256_add_pd(n, _mm256_set1_pd(6755399441055744.0 + 1023.0));  // 1.5*2^52 + bias
    return _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_castpd_si256(t), 52));
}
// p * 2^n with one rounding: n = n1 + n2, both normal powers of two; p * 2^n1 is exact,
// the second product rounds once (into the subnormals or to inf when it must).
inline __m256 ldexp_int(__m256 p, __m256 n) {
    __m256 n1 = _mm256_round_ps(_mm256_mul_ps(n, _mm256_set1_ps(0.5f)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    return _mm256_mul_ps(_mm256_mul_ps(p, pow2i(n1)), pow2i(_mm256_sub_ps(n, n1)));
}
inline __m256d ldexp_int(__m256d p, __m256d n) {
    __m256d n1 = _mm256_round_pd(_mm256_mul_pd(n, _mm256_set1_pd(0.5)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    return _mm256_mul_pd(_mm256_mul_pd(p, pow2i(n1)), pow2i(_mm256_sub_pd(n, n1)));
}

template <class F>
inline __m256 via_f64(__m256 x, F f) {
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    return _mm256_set_m128(_mm256_cvtpd_ps(f(hi)), _mm256_cvtpd_ps(f(lo)));
}

// loads and stores; the _n forms touch only the first n < W elements (through a stack
// buffer), the other lanes are `fill`.
inline __m256 load(const float* p) { return _mm256_loadu_ps(p); }
inline __m256d load(const double* p) { return _mm256_loadu_pd(p); }
inline void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void store(double* p, __m256d v) { _mm256_storeu_pd(p, v); }
inline __m256 load_n(const float* p, std::size_t n, float fill) {
    alignas(32) float b[8];
    for (std::size_t i = 0; i < 8; ++i) b[i] = i < n ? p[i] : fill;
    return _mm256_load_ps(b);
}
inline __m256d load_n(const double* p, std::size_t n, double fill) {
    alignas(32) double b[4];
    for (std::size_t i = 0; i < 4; ++i) b[i] = i < n ? p[i] : fill;
    return _mm256_load_pd(b);
}
inline void store_n(float* p, __m256 v, std::size_t n) {
    alignas(32) float b[8];
    _mm256_store_ps(b, v);
    for (std::size_t i = 0; i < n; ++i) p[i] = b[i];
}
inline void store_n(double* p, __m256d v, std::size_t n) {
    alignas(32) double b[4];
    _mm256_store_pd(b, v);
    for (std::size_t i = 0; i < n; ++i) p[i] = b[i];
}
inline void to_lanes(__m256 v, float* out) { _mm256_storeu_ps(out, v); }
inline void to_lanes(__m256d v, double* out) { _mm256_storeu_pd(out, v); }
template <class V>
inline typename VTraits<V>::S reduce_max(V v) {
    typename VTraits<V>::S b[VTraits<V>::W];
    to_lanes(v, b);
    typename VTraits<V>::S m = b[0];
    for (int i = 1; i < VTraits<V>::W; ++i) m = b[i] > m ? b[i] : m;
    return m;
}

#include "../vmath_algo.inc"

}  // namespace
}  // namespace avx2
}  // namespace pyfwd

#pragma GCC diagnostic pop
