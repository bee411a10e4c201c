// The activation derivative of the backward pass for the avx512 build (declared in
// ../act_backward_api.h): the loops of ../act_backward_loops.inc, vectorised with this
// ISA's flags, over this ISA's vector math (vmath_api.h).
#include <cstddef>

#include "../act_backward_api.h"
#include "epilogue.h"
#include "vmath_api.h"

namespace pyfwd {
namespace avx512 {
#include "../act_backward_loops.inc"
}  // namespace avx512
}  // namespace pyfwd
