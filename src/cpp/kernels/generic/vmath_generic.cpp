// Out-of-line vector math of the generic build (declared in kernels/kernel_api.h): the loops
// of ../vmath_loops.inc over this ISA's primitives (vmath.h). Nothing here runs at load time.
#include "kernels/kernel_api.h"

#include <cstddef>
#include <limits>

#include "vmath.h"

namespace pyfwd {
namespace generic {
#include "../vmath_loops.inc"
}  // namespace generic
}  // namespace pyfwd
