// The optimisers' parameter updates for the neon build (declared in kernels/kernel_api.h):
// the loops of ../optim_loops.inc, vectorised with this ISA's flags.
#include <cmath>
#include <cstddef>

#include "kernels/kernel_api.h"

namespace pyfwd {
namespace neon {
#include "../optim_loops.inc"
}  // namespace neon
}  // namespace pyfwd
