// Vector math for the aarch64 Advanced SIMD (NEON) build: V = float32x4_t / float64x2_t,
// masks are the compare results uint32x4_t / uint64x2_t. Include only from translation
// units of kernels/neon (aarch64 only; NEON is part of the base ISA, no flag needed).
//
// Names (namespace pyfwd::neon, internal linkage), overloaded on float32x4_t and float64x2_t:
//   V exp(V), tanh(V), erf(V), erfc(V), sigmoid(V), gelu(V), silu(V)
//   V activate(V z, int act)     act = pyfwd activation code (epilogue.h); relu/leaky keep NaN
//   V activate_c<ACT>(V z)       the same, code as a template argument (no run-time switch)
//   V vmath_func(V x, int func)  vmath_apply's codes (0 exp .. 6 erfc)
// The algorithms are in ../vmath_algo.inc; this file supplies the primitives. Constants are
// broadcast inside functions (no globals, nothing runs at load time).
#pragma once
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "epilogue.h"  // Act codes, LEAKY_SLOPE

namespace pyfwd {
namespace neon {
namespace {

template <class V>
struct VTraits;
template <>
struct VTraits<float32x4_t> { using S = float; using M = uint32x4_t; using D = float64x2_t; static constexpr int W = 4; };
template <>
struct VTraits<float64x2_t> { using S = double; using M = uint64x2_t; using D = float64x2_t; static constexpr int W = 2; };
template <class S>
struct VecOf;
template <>
struct VecOf<float> { using type = float32x4_t; };
template <>
struct VecOf<double> { using type = float64x2_t; };

template <class V>
inline V cst(double c);
template <>
inline float32x4_t cst<float32x4_t>(double c) { return vdupq_n_f32(static_cast<float>(c)); }
template <>
inline float64x2_t cst<float64x2_t>(double c) { return vdupq_n_f64(c); }

inline float32x4_t add(float32x4_t a, float32x4_t b) { return vaddq_f32(a, b); }
inline float64x2_t add(float64x2_t a, float64x2_t b) { return vaddq_f64(a, b); }
inline float32x4_t sub(float32x4_t a, float32x4_t b) { return vsubq_f32(a, b); }
inline float64x2_t sub(float64x2_t a, float64x2_t b) { return vsubq_f64(a, b); }
inline float32x4_t mul(float32x4_t a, float32x4_t b) { return vmulq_f32(a, b); }
inline float64x2_t mul(float64x2_t a, float64x2_t b) { return vmulq_f64(a, b); }
inline float32x4_t div(float32x4_t a, float32x4_t b) { return vdivq_f32(a, b); }
inline float64x2_t div(float64x2_t a, float64x2_t b) { return vdivq_f64(a, b); }
// vfmaq(c, a, b) = c + a*b and vfmsq(c, a, b) = c - a*b, one rounding each.
inline float32x4_t fmadd(float32x4_t a, float32x4_t b, float32x4_t c) { return vfmaq_f32(c, a, b); }
inline float64x2_t fmadd(float64x2_t a, float64x2_t b, float64x2_t c) { return vfmaq_f64(c, a, b); }
inline float32x4_t fnmadd(float32x4_t a, float32x4_t b, float32x4_t c) { return vfmsq_f32(c, a, b); }
inline float64x2_t fnmadd(float64x2_t a, float64x2_t b, float64x2_t c) { return vfmsq_f64(c, a, b); }
// vmin/vmax with the x86 semantics the shared algorithms are written for (return b when
// either is NaN): a compare and a select. FMIN/FMAX would return NaN for a NaN in a,
// FMINNM/FMAXNM the number; both differ from what vmath_algo.inc's clamps expect.
inline float32x4_t vmin(float32x4_t a, float32x4_t b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
inline float64x2_t vmin(float64x2_t a, float64x2_t b) { return vbslq_f64(vcltq_f64(a, b), a, b); }
inline float32x4_t vmax(float32x4_t a, float32x4_t b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
inline float64x2_t vmax(float64x2_t a, float64x2_t b) { return vbslq_f64(vcgtq_f64(a, b), a, b); }
inline float32x4_t vabs(float32x4_t a) { return vabsq_f32(a); }
inline float64x2_t vabs(float64x2_t a) { return vabsq_f64(a); }
inline float32x4_t vneg(float32x4_t a) { return vnegq_f32(a); }
inline float64x2_t vneg(float64x2_t a) { return vnegq_f64(a); }
inline float32x4_t copysign_of(float32x4_t mag, float32x4_t sgn) {
    return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, mag);  // sign bit from sgn, the rest from mag
}
inline float64x2_t copysign_of(float64x2_t mag, float64x2_t sgn) {
    return vbslq_f64(vdupq_n_u64(0x8000000000000000ull), sgn, mag);
}
inline uint32x4_t lt(float32x4_t a, float32x4_t b) { return vcltq_f32(a, b); }  // ordered: false on NaN
inline uint64x2_t lt(float64x2_t a, float64x2_t b) { return vcltq_f64(a, b); }
inline uint32x4_t gt(float32x4_t a, float32x4_t b) { return vcgtq_f32(a, b); }
inline uint64x2_t gt(float64x2_t a, float64x2_t b) { return vcgtq_f64(a, b); }
inline float32x4_t select(uint32x4_t m, float32x4_t a, float32x4_t b) { return vbslq_f32(m, a, b); }
inline float64x2_t select(uint64x2_t m, float64x2_t a, float64x2_t b) { return vbslq_f64(m, a, b); }
inline float32x4_t round_nearest(float32x4_t a) { return vrndnq_f32(a); }  // ties to even
inline float64x2_t round_nearest(float64x2_t a) { return vrndnq_f64(a); }

// 2^n for integer-valued n in the normal exponent range: the magic-number add puts
// n + bias in the low mantissa bits, a shift moves them into the exponent field. A NaN n
// gives garbage, but then p is NaN too and the product stays NaN.
inline float32x4_t pow2i(float32x4_t n) {
    const float32x4_t t = vaddq_f32(n, vdupq_n_f32(12582912.0f + 127.0f));  // 1.5*2^23 + bias
    return vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_f32(t), 23));
}
inline float64x2_t pow2i(float64x2_t n) {
    const float64x2_t t = vaddq_f64(n, vdupq_n_f64(6755399441055744.0 + 1023.0));  // 1.5*2^52 + bias
    return vreinterpretq_f64_u64(vshlq_n_u64(vreinterpretq_u64_f64(t), 52));
}
// p * 2^n with one rounding: n = n1 + n2, both normal powers of two; p * 2^n1 is exact,
// the second product rounds once (into the subnormals or to inf when it must).
inline float32x4_t ldexp_int(float32x4_t p, float32x4_t n) {
    const float32x4_t n1 = vrndmq_f32(vmulq_f32(n, vdupq_n_f32(0.5f)));  // floor
    return vmulq_f32(vmulq_f32(p, pow2i(n1)), pow2i(vsubq_f32(n, n1)));
}
inline float64x2_t ldexp_int(float64x2_t p, float64x2_t n) {
    const float64x2_t n1 = vrndmq_f64(vmulq_f64(n, vdupq_n_f64(0.5)));
    return vmulq_f64(vmulq_f64(p, pow2i(n1)), pow2i(vsubq_f64(n, n1)));
}

template <class F>
inline float32x4_t via_f64(float32x4_t x, F f) {
    const float64x2_t lo = vcvt_f64_f32(vget_low_f32(x));
    const float64x2_t hi = vcvt_high_f64_f32(x);
    return vcvt_high_f32_f64(vcvt_f32_f64(f(lo)), f(hi));
}

// loads and stores; the _n forms touch only the first n < W elements (through a stack
// buffer), the other lanes are `fill`.
inline float32x4_t load(const float* p) { return vld1q_f32(p); }
inline float64x2_t load(const double* p) { return vld1q_f64(p); }
inline void store(float* p, float32x4_t v) { vst1q_f32(p, v); }
inline void store(double* p, float64x2_t v) { vst1q_f64(p, v); }
inline float32x4_t load_n(const float* p, std::size_t n, float fill) {
    alignas(16) float b[4];
    for (std::size_t i = 0; i < 4; ++i) b[i] = i < n ? p[i] : fill;
    return vld1q_f32(b);
}
inline float64x2_t load_n(const double* p, std::size_t n, double fill) {
    alignas(16) double b[2];
    for (std::size_t i = 0; i < 2; ++i) b[i] = i < n ? p[i] : fill;
    return vld1q_f64(b);
}
inline void store_n(float* p, float32x4_t v, std::size_t n) {
    alignas(16) float b[4];
    vst1q_f32(b, v);
    for (std::size_t i = 0; i < n; ++i) p[i] = b[i];
}
inline void store_n(double* p, float64x2_t v, std::size_t n) {
    alignas(16) double b[2];
    vst1q_f64(b, v);
    for (std::size_t i = 0; i < n; ++i) p[i] = b[i];
}
inline void to_lanes(float32x4_t v, float* out) { vst1q_f32(out, v); }
inline void to_lanes(float64x2_t v, double* out) { vst1q_f64(out, v); }
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
}  // namespace neon
}  // namespace pyfwd
