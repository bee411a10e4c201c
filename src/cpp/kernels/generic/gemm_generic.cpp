// Portable GEMM micro-kernels: sgemm_ukr_generic_4x8 and dgemm_ukr_generic_4x8.
// Plain C++ (no -m flags): the fallback for any CPU. One "lane" per vector (simd.h), so
// the shared micro-kernel template becomes a 4x8 scalar register tile (the compiler
// may still use SSE2 for it).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>

#include "kernels/kernel_api.h"

#include "vmath.h"  // this ISA's SIMD traits (simd.h) and activate(v, code)

namespace pyfwd {
namespace generic {
namespace {

#include "kernels/ukr_impl.h"
#include "kernels/wide16.h"

// 16-bit weights widened one lane at a time (bit-exact portable conversions).
template <int KIND>
struct Load16 {
    using E = uint16_t;
    static float load(const E* p) { return widen16<KIND>(*p); }
    static float load_n(const E* p, int) { return widen16<KIND>(*p); }
};

}  // namespace

// 4x8: 32 scalar accumulators. Cache blocks by the rule of cache_info.h; on the
// reference caches (L1d 32 KB, L2 256 KB): KC = 256 keeps the 8 KB (f32, a quarter of
// L1d) / 16 KB (f64, a half) B sliver in any L1; MC = 64 keeps the A block (64 KB f32,
// 128 KB f64: the same shares of L2) in L2.
constexpr BlockRule kRuleF32{/*kc_level=*/1, /*kc_frac=*/0.25, /*mc_frac=*/0.25, /*nc_frac=*/1.0};
constexpr BlockRule kRuleF64{/*kc_level=*/1, /*kc_frac=*/0.5, /*mc_frac=*/0.5, /*nc_frac=*/1.0};
using Tile4x8 = Tile<4, 8, 1, 1>;  // 32 scalar accumulators (both dtypes)

double fma_probe(int64_t iters, float* sink) { return fma_probe_impl<Simd<float>>(iters, sink); }
double read_probe(const float* p, int64_t n) { return read_probe_impl<Simd<float>>(p, n); }

void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64) {
    set_gemm_kernels<Simd<float>, Tile4x8, 2>(f32, "generic", kRuleF32);
    f32.dot_rows16[W16_BF16] = &dot_rows_impl<Simd<float>, 2, Load16<W16_BF16>>;
    f32.dot_rows16[W16_F16] = &dot_rows_impl<Simd<float>, 2, Load16<W16_F16>>;
    set_gemm_kernels<Simd<double>, Tile4x8, 2>(f64, "generic", kRuleF64);
}

}  // namespace generic
}  // namespace pyfwd
