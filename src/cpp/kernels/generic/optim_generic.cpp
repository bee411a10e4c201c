// The optimisers' parameter updates for the generic build (declared in kernels/kernel_api.h):
// the loops of ../optim_loops.inc, vectorised with this ISA's flags.
#include <cmath>
#include <cstddef>

#include "kernels/kernel_api.h"

namespace pyfwd {
namespace generic {
#include "../optim_loops.inc"
}  // namespace generic
}  // namespace pyfwd
