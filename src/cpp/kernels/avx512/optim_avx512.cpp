// The optimisers' parameter updates for the avx512 build (declared in kernels/kernel_api.h):
// the loops of ../optim_loops.inc, vectorised with this ISA's flags.
#include <cmath>
#include <cstddef>

#include "kernels/kernel_api.h"

namespace pyfwd {
namespace avx512 {
#include "../optim_loops.inc"
}  // namespace avx512
}  // namespace pyfwd
