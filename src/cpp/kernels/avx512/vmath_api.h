// Out-of-line vector math of the avx512 build: act_inplace_f32/f64, softmax_row_f32/f64,
// vmath_apply_f32/f64 in namespace pyfwd::avx512 (see ../vmath_api.inc).
#pragma once
#include <cstddef>

namespace pyfwd {
namespace avx512 {
#include "../vmath_api.inc"
}  // namespace avx512
}  // namespace pyfwd
