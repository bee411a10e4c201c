// Vector math for the generic (scalar) build: V = float / double, mask = bool.
// Included only by translation units of kernels/generic (no -m flags).
//
// Names (namespace pyfwd::generic, internal linkage), for V in {float, double}:
//   V exp(V), tanh(V), erf(V), erfc(V), sigmoid(V), gelu(V), silu(V)
//   V activate(V z, int act)     act = pyfwd activation code (epilogue.h)
//   V activate_c<ACT>(V z)       the same, code as a template argument (no run-time switch)
//   V vmath_func(V x, int func)  vmath_apply's codes (0 exp .. 6 erfc)
// The algorithms are in ../vmath_algo.inc (shared text, instantiated per ISA); this file
// only supplies the scalar primitives, written branch-free with the same semantics as the
// SIMD ones (max/min return the second operand on NaN), so every ISA computes the same
// formulas.
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "epilogue.h"  // Act codes, LEAKY_SLOPE

// Vector types as template arguments drop their alignment attributes in GCC's eyes
// (-Wignored-attributes); harmless here: they are only used as type tags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace pyfwd {
namespace generic {
namespace {

template <class V>
struct VTraits;
template <>
struct VTraits<float> { using S = float; using M = bool; using D = double; static constexpr int W = 1; };
template <>
struct VTraits<double> { using S = double; using M = bool; using D = double; static constexpr int W = 1; };
template <class S>
struct VecOf { using type = S; };

template <class V>
inline V cst(double c) { return static_cast<V>(c); }

template <class V> inline V add(V a, V b) { return a + b; }
template <class V> inline V sub(V a, V b) { return a - b; }
template <class V> inline V mul(V a, V b) { return a * b; }
template <class V> inline V div(V a, V b) { return a / b; }
inline float fmadd(float a, float b, float c) { return std::fma(a, b, c); }
inline double fmadd(double a, double b, double c) { return std::fma(a, b, c); }
inline float fnmadd(float a, float b, float c) { return std::fma(-a, b, c); }
inline double fnmadd(double a, double b, double c) { return std::fma(-a, b, c); }
template <class V> inline V vmin(V a, V b) { return a < b ? a : b; }  // NaN: b
template <class V> inline V vmax(V a, V b) { return a > b ? a : b; }  // NaN: b
template <class V> inline V vabs(V a) { return std::fabs(a); }
template <class V> inline V vneg(V a) { return -a; }
template <class V> inline V copysign_of(V mag, V sgn) { return std::copysign(mag, sgn); }
template <class V> inline bool lt(V a, V b) { return a < b; }
template <class V> inline bool gt(V a, V b) { return a > b; }
template <class V> inline V select(bool m, V a, V b) { return m ? a : b; }
// Round to nearest (ties to even) by adding and removing 1.5 * 2^(p-1): exact for the
// |a| < 2^22 this file's callers pass (exp's reduced arguments), inline (no libm call).
inline float round_nearest(float a) { return (a + 12582912.0f) - 12582912.0f; }
inline double round_nearest(double a) { return (a + 6755399441055744.0) - 6755399441055744.0; }

// 2^n for an integer-valued n inside the normal exponent range, built from bits; the
// magic-number add keeps it well defined for NaN (the product with a NaN p stays NaN).
inline float pow2i(float n) {
    float t = n + (12582912.0f + 127.0f);  // 1.5 * 2^23 + bias: n + 127 in the low bits
    std::uint32_t b;
    std::memcpy(&b, &t, 4);
    b <<= 23;
    float r;
    std::memcpy(&r, &b, 4);
    return r;
}
inline double pow2i(double n) {
    double t = n + (6755399441055744.0 + 1023.0);  // 1.5 * 2^52 + bias
    std::uint64_t b;
    std::memcpy(&b, &t, 8);
    b <<= 52;
    double r;
    std::memcpy(&r, &b, 8);
    return r;
}
// p * 2^n with one rounding: both halves of n are normal powers of two, the first product
// is exact, the second rounds once (also into the subnormals or to inf).
template <class V>
inline V ldexp_int(V p, V n) {
    V n1 = round_nearest(n * V(0.5) - V(0.25));  // floor(n / 2) for an integer n
    return (p * pow2i(n1)) * pow2i(n - n1);
}

template <class F>
inline float via_f64(float x, F f) { return static_cast<float>(f(static_cast<double>(x))); }

// loads and stores (n < W lanes: the rest of the vector is `fill`, nothing past n is touched)
template <class S> inline S load(const S* p) { return *p; }
template <class S> inline void store(S* p, S v) { *p = v; }
template <class S> inline S load_n(const S* p, std::size_t, S) { return *p; }
template <class S> inline void store_n(S* p, S v, std::size_t) { *p = v; }
template <class S> inline S reduce_max(S v) { return v; }
template <class S> inline void to_lanes(S v, S* out) { *out = v; }

#include "../vmath_algo.inc"

// float32 on the scalar path: libm in double, rounded once (within ~0.5 ulp). This also
// keeps the fallback fast on the CPUs it exists for (no FMA unit: std::fma is emulated in
// software there, and the shared algorithms use it throughout). float64 keeps the shared
// algorithms, except exp (libm's is within 1 ulp).
template <>
inline float exp_v<float>(float x) { return static_cast<float>(std::exp(static_cast<double>(x))); }
template <>
inline double exp_v<double>(double x) { return std::exp(x); }
template <>
inline float tanh_v<float>(float x) { return static_cast<float>(std::tanh(static_cast<double>(x))); }
template <>
inline float erf_v<float>(float x) { return static_cast<float>(std::erf(static_cast<double>(x))); }
template <>
inline float erfc_v<float>(float x) { return static_cast<float>(std::erfc(static_cast<double>(x))); }
template <>
inline float sigmoid_v<float>(float x) {
    const double d = x, e = std::exp(-std::fabs(d));  // never overflows
    return static_cast<float>((d < 0 ? e : 1.0) / (1.0 + e));
}
template <>
inline float silu_v<float>(float x) {
    const double d = x, e = std::exp(-std::fabs(d));
    if (d < -200.0) return -0.0f;  // |silu| < 2^-150 (and silu(-inf) = -0, not -inf * 0)
    return static_cast<float>(d * (d < 0 ? e : 1.0) / (1.0 + e));
}
template <>
inline float gelu_v<float>(float x) {
    const double z = x;
    if (z < -40.0) return -0.0f;  // |gelu| < 2^-150 (and gelu(-inf) = -0, not -inf * 0)
    // erfc's argument -z/sqrt2 is rounded in double: relative error ~z^2 2^-53, < 2^-42 here
    return static_cast<float>(z * 0.5 * std::erfc(-z * 0.70710678118654752440));
}

}  // namespace
}  // namespace generic
}  // namespace pyfwd

#pragma GCC diagnostic pop
