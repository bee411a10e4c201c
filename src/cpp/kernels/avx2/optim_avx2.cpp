// The optimisers' parameter updates for the avx2 build (declared in kernels/kernel_api.h):
// the loops of ../optim_loops.inc, vectorised with this ISA's flags.
#include <cmath>
#include <cstddef>

#include "kernels/kernel_api.h"

namespace pyfwd {
namespace avx2 {
#include "../optim_loops.inc"
}  // namespace avx2
}  // namespace pyfwd
