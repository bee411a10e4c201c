// Portable GEMM micro-kernels: sgemm_ukr_generic_4x8 and dgemm_ukr_generic_4x8.
// Plain C++ (no -m flags): the fallback for any x86-64 CPU. One "lane" per vector, so
// the shared micro-kernel template becomes a 4x8 scalar register tile (the compiler
// may still use SSE2 for it).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

#include "kernels/kernel_api.h"

#include "vmath.h"  // this ISA's activate(v, code) (vmath helper)

namespace pyfwd {
namespace generic {
namespace {

template <typename Tp>
struct Scalar {
    using T = Tp;
    using V = Tp;
    static constexpr int W = 1;
    static V zero() { return T(0); }
    static V load(const T* p) { return *p; }
    static V load_n(const T* p, int) { return *p; }
    static void store(T* p, V v) { *p = v; }
    static void store_n(T* p, V v, int) { *p = v; }
    static V bcast(const T* p) { return *p; }
    static int64_t gidx(int64_t stride) { return stride; }
    static V gather_n(const T* p, int64_t, int) { return *p; }
    static V fma(V a, V b, V c) { return a * b + c; }  // no FMA unit assumed (a target with one may contract it)
    static V sub(V a, V b) { return a - b; }
    static V add(V a, V b) { return a + b; }
    static V div(V a, V b) { return a / b; }
    static V vmax(V a, V b) { return a > b ? a : b; }
    static V pad_ninf(V v, int) { return v; }  // one lane: never padded
    static V all_max(V v) { return v; }
    static V all_sum(V v) { return v; }
    static V relu(V z) { return z < T(0) ? T(0) : z; }  // NaN < 0 is false: NaN passes
    static V leaky(V z, T alpha) { return z > T(0) ? z : z * alpha; }
};

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
void sgemm_ukr_generic_4x8(int m, int64_t kc, const float* A, int64_t lda, const float* Bp, int64_t bstride, float* C,
                           int64_t ldc, int n, const float* bias, int act, float alpha, int flags) {
    ukr_entry<Scalar<float>, 4, 8, 1, 1>(m, kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags);
}

void dgemm_ukr_generic_4x8(int m, int64_t kc, const double* A, int64_t lda, const double* Bp, int64_t bstride, double* C,
                           int64_t ldc, int n, const double* bias, int act, double alpha, int flags) {
    ukr_entry<Scalar<double>, 4, 8, 1, 1>(m, kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags);
}

double fma_probe(int64_t iters, float* sink) { return fma_probe_impl<Scalar<float>>(iters, sink); }

void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64) {
    f32.ukr_name = "sgemm_ukr_generic_4x8";
    f32.ukr = &sgemm_ukr_generic_4x8;
    f32.dot_rows = &dot_rows_impl<Scalar<float>, 2>;
    f32.dot_rows16[W16_BF16] = &dot_rows_impl<Scalar<float>, 2, Load16<W16_BF16>>;
    f32.dot_rows16[W16_F16] = &dot_rows_impl<Scalar<float>, 2, Load16<W16_F16>>;
    f32.pack_w = &pack_w_impl<Scalar<float>, 8>;
    f32.softmax_short = &softmax_short_impl<Scalar<float>, 8, 8>;
    f32.MW = 1; f32.NW = 1 * 8;
    f32.MR = 4; f32.NR = 8; f32.rule = kRuleF32;
    f64.ukr_name = "dgemm_ukr_generic_4x8";
    f64.ukr = &dgemm_ukr_generic_4x8;
    f64.dot_rows = &dot_rows_impl<Scalar<double>, 2>;
    f64.pack_w = &pack_w_impl<Scalar<double>, 8>;
    f64.softmax_short = &softmax_short_impl<Scalar<double>, 8, 8>;
    f64.MW = 1; f64.NW = 1 * 8;
    f64.MR = 4; f64.NR = 8; f64.rule = kRuleF64;
}

}  // namespace generic
}  // namespace pyfwd
