// aarch64 Advanced SIMD (NEON) GEMM micro-kernels: sgemm_ukr_neon_8x12 and
// dgemm_ukr_neon_6x8. NEON is part of the aarch64 base ISA: no flag, no CPU test. Everything
// in pyfwd::neon, helpers in an anonymous namespace, no global constructors. The tile,
// packing, small-M and softmax code is the shared ukr_impl.h over the traits below.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernels/kernel_api.h"

#include "vmath.h"  // this ISA's activate(v, code) (vmath helper)

namespace pyfwd {
namespace neon {
namespace {

struct F32 {
    using T = float;
    using V = float32x4_t;
    static constexpr int W = 4;
    static uint32x4_t mask(int n) {  // lanes < n
        alignas(16) static constexpr uint32_t iota[4] = {0, 1, 2, 3};
        return vcltq_u32(vld1q_u32(iota), vdupq_n_u32(static_cast<uint32_t>(n)));
    }
    static V zero() { return vdupq_n_f32(0.0f); }
    static V load(const T* p) { return vld1q_f32(p); }
    // No masked loads/stores in NEON: the partial forms go through a stack buffer and touch
    // only the first n elements (the row may end at the last mapped byte).
    static V load_n(const T* p, int n) {
        alignas(16) T b[W] = {};
        for (int i = 0; i < n; ++i) b[i] = p[i];
        return vld1q_f32(b);
    }
    static void store(T* p, V v) { vst1q_f32(p, v); }
    static void store_n(T* p, V v, int n) {
        alignas(16) T b[W];
        vst1q_f32(b, v);
        for (int i = 0; i < n; ++i) p[i] = b[i];
    }
    static V bcast(const T* p) { return vld1q_dup_f32(p); }
    static int64_t gidx(int64_t stride) { return stride; }
    static V gather_n(const T* p, int64_t stride, int n) {  // no gather instruction
        alignas(16) T b[W] = {};
        for (int i = 0; i < n; ++i) b[i] = p[i * stride];
        return vld1q_f32(b);
    }
    static V fma(V a, V b, V c) { return vfmaq_f32(c, a, b); }
    static V sub(V a, V b) { return vsubq_f32(a, b); }
    static V add(V a, V b) { return vaddq_f32(a, b); }
    static V div(V a, V b) { return vdivq_f32(a, b); }
    // x86 max semantics (the second operand when either is NaN), as the other levels.
    static V vmax(V a, V b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
    static V pad_ninf(V v, int n) { return vbslq_f32(mask(n), v, vdupq_n_f32(-__builtin_inff())); }
    static V all_max(V v) {
        const V t = vmax(v, vextq_f32(v, v, 2));  // lanes {0,1} vs {2,3}
        return vmax(t, vrev64q_f32(t));           // then neighbours
    }
    static V all_sum(V v) {
        const V t = vaddq_f32(v, vextq_f32(v, v, 2));
        return vaddq_f32(t, vrev64q_f32(t));
    }
    // 4x4 transpose in registers (pack_w): r[i] holds row i on entry, column i on exit.
    static void transpose(V* r) {
        const V t0 = vtrn1q_f32(r[0], r[1]), t1 = vtrn2q_f32(r[0], r[1]);  // a0 b0 a2 b2 | a1 b1 a3 b3
        const V t2 = vtrn1q_f32(r[2], r[3]), t3 = vtrn2q_f32(r[2], r[3]);  // c0 d0 c2 d2 | c1 d1 c3 d3
        auto lo = [](V x, V y) {  // the low 64-bit halves of x and y
            return vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(x), vreinterpretq_f64_f32(y)));
        };
        auto hi = [](V x, V y) {
            return vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(x), vreinterpretq_f64_f32(y)));
        };
        r[0] = lo(t0, t2);
        r[1] = lo(t1, t3);
        r[2] = hi(t0, t2);
        r[3] = hi(t1, t3);
    }
    static V relu(V z) { return vmax(zero(), z); }  // NaN passes
    static V leaky(V z, T alpha) { return vbslq_f32(vcgtq_f32(z, zero()), z, vmulq_n_f32(z, alpha)); }
};

struct F64 {
    using T = double;
    using V = float64x2_t;
    static constexpr int W = 2;
    static uint64x2_t mask(int n) {
        alignas(16) static constexpr uint64_t iota[2] = {0, 1};
        return vcltq_u64(vld1q_u64(iota), vdupq_n_u64(static_cast<uint64_t>(n)));
    }
    static V zero() { return vdupq_n_f64(0.0); }
    static V load(const T* p) { return vld1q_f64(p); }
    static V load_n(const T* p, int n) {
        alignas(16) T b[W] = {};
        for (int i = 0; i < n; ++i) b[i] = p[i];
        return vld1q_f64(b);
    }
    static void store(T* p, V v) { vst1q_f64(p, v); }
    static void store_n(T* p, V v, int n) {
        alignas(16) T b[W];
        vst1q_f64(b, v);
        for (int i = 0; i < n; ++i) p[i] = b[i];
    }
    static V bcast(const T* p) { return vld1q_dup_f64(p); }
    static int64_t gidx(int64_t stride) { return stride; }
    static V gather_n(const T* p, int64_t stride, int n) {
        alignas(16) T b[W] = {};
        for (int i = 0; i < n; ++i) b[i] = p[i * stride];
        return vld1q_f64(b);
    }
    static V fma(V a, V b, V c) { return vfmaq_f64(c, a, b); }
    static V sub(V a, V b) { return vsubq_f64(a, b); }
    static V add(V a, V b) { return vaddq_f64(a, b); }
    static V div(V a, V b) { return vdivq_f64(a, b); }
    static V vmax(V a, V b) { return vbslq_f64(vcgtq_f64(a, b), a, b); }
    static V pad_ninf(V v, int n) { return vbslq_f64(mask(n), v, vdupq_n_f64(-__builtin_inf())); }
    static V all_max(V v) { return vmax(v, vextq_f64(v, v, 1)); }
    static V all_sum(V v) { return vaddq_f64(v, vextq_f64(v, v, 1)); }
    // 2x2 transpose in registers (pack_w).
    static void transpose(V* r) {
        const V c0 = vzip1q_f64(r[0], r[1]), c1 = vzip2q_f64(r[0], r[1]);
        r[0] = c0;
        r[1] = c1;
    }
    static V relu(V z) { return vmax(zero(), z); }
    static V leaky(V z, T alpha) { return vbslq_f64(vcgtq_f64(z, zero()), z, vmulq_n_f64(z, alpha)); }
};

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
void sgemm_ukr_neon_8x12(int m, int64_t kc, const float* A, int64_t lda, const float* Bp, int64_t bstride, float* C,
                         int64_t ldc, int n, const float* bias, int act, float alpha, int flags) {
    ukr_entry<F32, 8, 12, 1, 2>(m, kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags);
}

void dgemm_ukr_neon_6x8(int m, int64_t kc, const double* A, int64_t lda, const double* Bp, int64_t bstride, double* C,
                        int64_t ldc, int n, const double* bias, int act, double alpha, int flags) {
    ukr_entry<F64, 6, 8, 1, 2>(m, kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags);
}

double fma_probe(int64_t iters, float* sink) { return fma_probe_impl<F32>(iters, sink); }

void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64) {
    f32.ukr_name = "sgemm_ukr_neon_8x12";
    f32.ukr = &sgemm_ukr_neon_8x12;
    f32.dot_rows = &dot_rows_impl<F32, 4>;  // 32 registers: 4 A rows x 4 W rows of accumulators
    f32.pack_w = &pack_w_impl<F32, 12>;
    f32.softmax_short = &softmax_short_impl<F32, 12, 3>;
    f32.MW = 1; f32.NW = 2 * 12;
    f32.MR = 8; f32.NR = 12; f32.rule = kRuleF32;
    f64.ukr_name = "dgemm_ukr_neon_6x8";
    f64.ukr = &dgemm_ukr_neon_6x8;
    f64.dot_rows = &dot_rows_impl<F64, 4>;
    f64.pack_w = &pack_w_impl<F64, 8>;
    f64.softmax_short = &softmax_short_impl<F64, 8, 4>;
    f64.MW = 1; f64.NW = 2 * 8;
    f64.MR = 6; f64.NR = 8; f64.rule = kRuleF64;
}

}  // namespace neon
}  // namespace pyfwd
