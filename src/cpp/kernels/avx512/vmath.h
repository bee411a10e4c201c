// Vector math for the AVX-512 build (AVX-512F/DQ): V = __m512 / __m512d, masks
// __mmask16 / __mmask8. Include only from translation units of kernels/avx512 (compiled
// with -mavx512f -mavx512dq ...).
//
// Names (namespace pyfwd::avx512, internal linkage), overloaded on __m512 and __m512d:
//   V exp(V), tanh(V), erf(V), erfc(V), sigmoid(V), gelu(V), silu(V)
//   V activate(V z, int act)     act = pyfwd activation code (epilogue.h); relu/leaky keep NaN
//   V activate_c<ACT>(V z)       the same, code as a template argument (no run-time switch)
//   V vmath_func(V x, int func)  vmath_apply's codes (0 exp .. 6 erfc)
// The algorithms are in ../vmath_algo.inc, over this level's SIMD traits (simd.h).
// Constants are broadcast inside functions (no globals, nothing runs at load time).
#pragma once
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "epilogue.h"  // Act codes, LEAKY_SLOPE
#include "simd.h"

// Vector types as template arguments drop their alignment attributes in GCC's eyes
// (-Wignored-attributes); harmless here: they are only used as type tags.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"

namespace pyfwd {
namespace avx512 {
namespace {

#include "../vmath_algo.inc"

}  // namespace
}  // namespace avx512
}  // namespace pyfwd

#pragma GCC diagnostic pop
