// Vector math for the generic (scalar) build: V = float / double, mask = bool.
// Included only by translation units of kernels/generic (no -m flags).
//
// Names (namespace pyfwd::generic, internal linkage), for V in {float, double}:
//   V exp(V), tanh(V), erf(V), erfc(V), sigmoid(V), gelu(V), silu(V)
//   V activate(V z, int act)     act = pyfwd activation code (epilogue.h)
//   V activate_c<ACT>(V z)       the same, code as a template argument (no run-time switch)
//   V vmath_func(V x, int func)  vmath_apply's codes (0 exp .. 6 erfc)
// The algorithms are in ../vmath_algo.inc (shared text, instantiated per ISA), over this
// level's one-lane SIMD traits (simd.h).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "epilogue.h"  // Act codes, LEAKY_SLOPE
#include "simd.h"

// Vector types as template arguments drop their alignment attributes in GCC's eyes
// (-Wignored-attributes); harmless here: they are only used as type tags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace pyfwd {
namespace generic {
namespace {

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
