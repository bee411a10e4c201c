// The activation derivative of the backward pass for the avx2 build (declared in
// kernels/kernel_api.h): the loops of ../act_backward_loops.inc, vectorised with this
// ISA's flags, over this ISA's out-of-line vector math (vmath_apply_*).
#include <cstddef>

#include "epilogue.h"
#include "kernels/kernel_api.h"

namespace pyfwd {
namespace avx2 {
#include "../act_backward_loops.inc"
}  // namespace avx2
}  // namespace pyfwd
