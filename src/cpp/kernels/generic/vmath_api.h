// Out-of-line vector math of the generic build: act_inplace_f32/f64, softmax_row_f32/f64,
// vmath_apply_f32/f64 in namespace pyfwd::generic (see ../vmath_api.inc).
#pragma once
#include <cstddef>

namespace pyfwd {
namespace generic {
#include "../vmath_api.inc"
}  // namespace generic
}  // namespace pyfwd
