// Out-of-line vector math of the avx2 build: act_inplace_f32/f64, softmax_row_f32/f64,
// vmath_apply_f32/f64 in namespace pyfwd::avx2 (see ../vmath_api.inc).
#pragma once
#include <cstddef>

namespace pyfwd {
namespace avx2 {
#include "../vmath_api.inc"
}  // namespace avx2
}  // namespace pyfwd
