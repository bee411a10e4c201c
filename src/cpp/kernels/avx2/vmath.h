// Vector math for the AVX2+FMA build: V = __m256 / __m256d. Include only from translation
// units of kernels/avx2 (compiled with -mavx2 -mfma).
//
// Names (namespace pyfwd::avx2, internal linkage), overloaded on __m256 and __m256d:
//   V exp(V), tanh(V), erf(V), erfc(V), sigmoid(V), gelu(V), silu(V)
//   V activate(V z, int act)     act = pyfwd activation code (epilogue.h); relu/leaky keep NaN
//   V activate_c<ACT>(V z)       the same, code as a template argument (no run-time switch)
//   V vmath_func(V x, int func)  vmath_apply's codes (0 exp .. 6 erfc)
// The algorithms are in ../vmath_algo.inc, over this level's SIMD traits (simd.h).
// Constants are broadcast inside functions (no globals, nothing runs at load time).
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "epilogue.h"  // Act codes, LEAKY_SLOPE
#include "simd.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"  // vector types as template tags

namespace pyfwd {
namespace avx2 {
namespace {
#include "../vmath_algo.inc"
}  // namespace
}  // namespace avx2
}  // namespace pyfwd

#pragma GCC diagnostic pop
