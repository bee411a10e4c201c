// Vector math for the aarch64 Advanced SIMD (NEON) build: V = float32x4_t / float64x2_t,
// masks are the compare results uint32x4_t / uint64x2_t. Include only from translation
// units of kernels/neon (aarch64 only; NEON is part of the base ISA, no flag needed).
//
// Names (namespace pyfwd::neon, internal linkage), overloaded on float32x4_t and float64x2_t:
//   V exp(V), tanh(V), erf(V), erfc(V), sigmoid(V), gelu(V), silu(V)
//   V activate(V z, int act)     act = pyfwd activation code (epilogue.h); relu/leaky keep NaN
//   V activate_c<ACT>(V z)       the same, code as a template argument (no run-time switch)
//   V vmath_func(V x, int func)  vmath_apply's codes (0 exp .. 6 erfc)
// The algorithms are in ../vmath_algo.inc, over this level's SIMD traits (simd.h).
// Constants are broadcast inside functions (no globals, nothing runs at load time).
#pragma once
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "epilogue.h"  // Act codes, LEAKY_SLOPE
#include "simd.h"

namespace pyfwd {
namespace neon {
namespace {

#include "../vmath_algo.inc"

}  // namespace
}  // namespace neon
}  // namespace pyfwd
