// aarch64 Advanced SIMD (NEON) GEMM micro-kernels: sgemm_ukr_neon_8x12 and
// dgemm_ukr_neon_6x8. NEON is part of the aarch64 base ISA: no flag, no CPU test. Everything
// in pyfwd::neon, helpers in an anonymous namespace, no global constructors. The tile,
// packing, small-M and softmax code is the shared ukr_impl.h over the traits of simd.h.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>

#include "kernels/kernel_api.h"

#include "vmath.h"  // this ISA's SIMD traits (simd.h) and activate(v, code)

namespace pyfwd {
namespace neon {
namespace {

#include "kernels/ukr_impl.h"

}  // namespace

// Cache blocks (Cortex-A7x / Neoverse-class core: 32 128-bit registers, 2 FMA pipes),
// by the rule of cache_info.h from the caches of the CPU that runs them; the figures
// are those on the reference caches (L1d 32 KB, L2 256 KB). Chosen from the register
// and cache budgets, not yet measured on aarch64 hardware:
//  f32 8x12: 24 accumulators + 3 B vectors + 1 broadcast = 28 of 32 registers.
//  KC: the B sliver takes 9/16 of L1d, 384 x 12 x 4 B = 18 KB, beside a 12 KB A sliver.
//  MC: the A block takes 3/4 of L2, 128 x 384 x 4 B = 192 KB.
//  NC: the KC x NC panel of W takes this thread's L3 share (nc_frac 1).
//  f64 6x8: 24 accumulators + 4 B + 1 = 29 registers; KC from half of L1d (256: a 16 KB
//  B sliver beside a 12 KB A sliver); MC from 3/4 of L2 (96: A block 192 KB).
constexpr BlockRule kRuleF32{/*kc_level=*/1, /*kc_frac=*/0.5625, /*mc_frac=*/0.75, /*nc_frac=*/1.0};
constexpr BlockRule kRuleF64{/*kc_level=*/1, /*kc_frac=*/0.5, /*mc_frac=*/0.75, /*nc_frac=*/1.0};
//  Small M (1 row): 2 slivers wide, 6 (f32) / 8 (f64) independent accumulators.
using TileF32 = Tile<8, 12, 1, 2>;
using TileF64 = Tile<6, 8, 1, 2>;

double fma_probe(int64_t iters, float* sink) { return fma_probe_impl<Simd<float>>(iters, sink); }
double read_probe(const float* p, int64_t n) { return read_probe_impl<Simd<float>>(p, n); }

void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64) {
    // dot path: 32 registers hold 4 A rows x 4 W rows of accumulators
    set_gemm_kernels<Simd<float>, TileF32, 4>(f32, "neon", kRuleF32);
    set_gemm_kernels<Simd<double>, TileF64, 4>(f64, "neon", kRuleF64);
}

}  // namespace neon
}  // namespace pyfwd
