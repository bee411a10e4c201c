// Out-of-line vector math of the avx2 build (declared in kernels/kernel_api.h): the loops
// of ../vmath_loops.inc over this ISA's primitives (vmath.h). Nothing here runs at load time.
#include "kernels/kernel_api.h"

#include <cstddef>
#include <limits>

#include "vmath.h"

namespace pyfwd {
namespace avx2 {
#include "../vmath_loops.inc"
}  // namespace avx2
}  // namespace pyfwd
