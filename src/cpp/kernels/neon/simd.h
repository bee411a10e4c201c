// The aarch64 Advanced SIMD (NEON) traits: Simd<float> (V = float32x4_t, masks
// uint32x4_t) and Simd<double> (V = float64x2_t, uint64x2_t), the one place this level
// names its intrinsics, with the same operations and contracts as every level (listed in
// kernels/avx2/simd.h). The micro-kernel (ukr_impl.h) and the vector math
// (vmath_algo.inc, through simd_ops.inc) use these same structs. Include only from
// translation units of kernels/neon (aarch64 only; NEON is part of the base ISA).
//
// NEON has no masked loads or stores: the _n forms go through a stack buffer and touch
// only the first n elements (a row may end at the last mapped byte). vmin/vmax keep the
// x86 semantics the shared code is written for (the second operand when either is NaN):
// a compare and a select. FMIN/FMAX would return NaN for a NaN in a, FMINNM/FMAXNM the
// number; both differ from what the vector math's clamps and the epilogue's relu expect.
#pragma once
#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

namespace pyfwd {
namespace neon {
namespace {

template <class S>
struct Simd;

template <>
struct Simd<float> {
    using T = float;
    using V = float32x4_t;
    using M = uint32x4_t;
    using D = float64x2_t;  // the double vector of via_f64
    static constexpr int W = 4;
    static constexpr int REGS = 32;  // v0-v31
    static M mask(int n) {  // lanes < n
        alignas(16) static constexpr uint32_t iota[4] = {0, 1, 2, 3};
        return vcltq_u32(vld1q_u32(iota), vdupq_n_u32(static_cast<uint32_t>(n)));
    }
    static V set1(double c) { return vdupq_n_f32(static_cast<float>(c)); }
    static V zero() { return vdupq_n_f32(0.0f); }
    static V bcast(const T* p) { return vld1q_dup_f32(p); }
    static V load(const T* p) { return vld1q_f32(p); }
    static V load_n(const T* p, int n, T fill = 0.0f) {
        alignas(16) T b[W];
        for (int i = 0; i < W; ++i) b[i] = i < n ? p[i] : fill;
        return vld1q_f32(b);
    }
    static void store(T* p, V v) { vst1q_f32(p, v); }
    static void store_n(T* p, V v, int n) {
        alignas(16) T b[W];
        vst1q_f32(b, v);
        for (int i = 0; i < n; ++i) p[i] = b[i];
    }
    static V add(V a, V b) { return vaddq_f32(a, b); }
    static V sub(V a, V b) { return vsubq_f32(a, b); }
    static V mul(V a, V b) { return vmulq_f32(a, b); }
    static V div(V a, V b) { return vdivq_f32(a, b); }
    // vfmaq(c, a, b) = c + a*b and vfmsq(c, a, b) = c - a*b, one rounding each.
    static V fmadd(V a, V b, V c) { return vfmaq_f32(c, a, b); }
    static V fnmadd(V a, V b, V c) { return vfmsq_f32(c, a, b); }
    static V mul_add(V a, V b, V c) { return vfmaq_f32(c, a, b); }
    static V vmin(V a, V b) { return vbslq_f32(vcltq_f32(a, b), a, b); }
    static V vmax(V a, V b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }
    static V vabs(V a) { return vabsq_f32(a); }
    static V vneg(V a) { return vnegq_f32(a); }
    static V copysign_of(V mag, V sgn) { return vbslq_f32(vdupq_n_u32(0x80000000u), sgn, mag); }
    static M lt(V a, V b) { return vcltq_f32(a, b); }  // ordered: false on NaN
    static M gt(V a, V b) { return vcgtq_f32(a, b); }
    static V select(M m, V a, V b) { return vbslq_f32(m, a, b); }
    static V round_nearest(V a) { return vrndnq_f32(a); }  // ties to even
    // 2^n for integer-valued n in the normal exponent range (magic-number add, shift into
    // the exponent field); p * 2^n with one rounding: n = n1 + n2, p * 2^n1 exact.
    static V pow2i(V n) {
        const V t = vaddq_f32(n, vdupq_n_f32(12582912.0f + 127.0f));  // 1.5*2^23 + bias
        return vreinterpretq_f32_u32(vshlq_n_u32(vreinterpretq_u32_f32(t), 23));
    }
    static V ldexp_int(V p, V n) {
        const V n1 = vrndmq_f32(vmulq_f32(n, vdupq_n_f32(0.5f)));  // floor
        return vmulq_f32(vmulq_f32(p, pow2i(n1)), pow2i(vsubq_f32(n, n1)));
    }
    template <class F>
    static V via_f64(V x, F f) {
        const float64x2_t lo = vcvt_f64_f32(vget_low_f32(x));
        const float64x2_t hi = vcvt_high_f64_f32(x);
        return vcvt_high_f32_f64(vcvt_f32_f64(f(lo)), f(hi));
    }
    static V all_max(V v) {
        const V t = vmax(v, vextq_f32(v, v, 2));  // lanes {0,1} vs {2,3}
        return vmax(t, vrev64q_f32(t));           // then neighbours
    }
    static V all_sum(V v) {
        const V t = vaddq_f32(v, vextq_f32(v, v, 2));
        return vaddq_f32(t, vrev64q_f32(t));
    }
    static T reduce_max(V v) {
        alignas(16) T b[W];
        vst1q_f32(b, v);
        T m = b[0];
        for (int i = 1; i < W; ++i) m = b[i] > m ? b[i] : m;
        return m;
    }
    static V pad_ninf(V v, int n) { return vbslq_f32(mask(n), v, vdupq_n_f32(-__builtin_inff())); }
    static int64_t gidx(int64_t stride) { return stride; }
    static V gather_n(const T* p, int64_t stride, int n) {  // no gather instruction
        alignas(16) T b[W] = {};
        for (int i = 0; i < n; ++i) b[i] = p[i * stride];
        return vld1q_f32(b);
    }
    // 4x4 transpose in registers (pack_w)
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
};

template <>
struct Simd<double> {
    using T = double;
    using V = float64x2_t;
    using M = uint64x2_t;
    using D = float64x2_t;
    static constexpr int W = 2;
    static constexpr int REGS = 32;
    static M mask(int n) {
        alignas(16) static constexpr uint64_t iota[2] = {0, 1};
        return vcltq_u64(vld1q_u64(iota), vdupq_n_u64(static_cast<uint64_t>(n)));
    }
    static V set1(double c) { return vdupq_n_f64(c); }
    static V zero() { return vdupq_n_f64(0.0); }
    static V bcast(const T* p) { return vld1q_dup_f64(p); }
    static V load(const T* p) { return vld1q_f64(p); }
    static V load_n(const T* p, int n, T fill = 0.0) {
        alignas(16) T b[W];
        for (int i = 0; i < W; ++i) b[i] = i < n ? p[i] : fill;
        return vld1q_f64(b);
    }
    static void store(T* p, V v) { vst1q_f64(p, v); }
    static void store_n(T* p, V v, int n) {
        alignas(16) T b[W];
        vst1q_f64(b, v);
        for (int i = 0; i < n; ++i) p[i] = b[i];
    }
    static V add(V a, V b) { return vaddq_f64(a, b); }
    static V sub(V a, V b) { return vsubq_f64(a, b); }
    static V mul(V a, V b) { return vmulq_f64(a, b); }
    static V div(V a, V b) { return vdivq_f64(a, b); }
    static V fmadd(V a, V b, V c) { return vfmaq_f64(c, a, b); }
    static V fnmadd(V a, V b, V c) { return vfmsq_f64(c, a, b); }
    static V mul_add(V a, V b, V c) { return vfmaq_f64(c, a, b); }
    static V vmin(V a, V b) { return vbslq_f64(vcltq_f64(a, b), a, b); }
    static V vmax(V a, V b) { return vbslq_f64(vcgtq_f64(a, b), a, b); }
    static V vabs(V a) { return vabsq_f64(a); }
    static V vneg(V a) { return vnegq_f64(a); }
    static V copysign_of(V mag, V sgn) { return vbslq_f64(vdupq_n_u64(0x8000000000000000ull), sgn, mag); }
    static M lt(V a, V b) { return vcltq_f64(a, b); }
    static M gt(V a, V b) { return vcgtq_f64(a, b); }
    static V select(M m, V a, V b) { return vbslq_f64(m, a, b); }
    static V round_nearest(V a) { return vrndnq_f64(a); }
    static V pow2i(V n) {
        const V t = vaddq_f64(n, vdupq_n_f64(6755399441055744.0 + 1023.0));  // 1.5*2^52 + bias
        return vreinterpretq_f64_u64(vshlq_n_u64(vreinterpretq_u64_f64(t), 52));
    }
    static V ldexp_int(V p, V n) {
        const V n1 = vrndmq_f64(vmulq_f64(n, vdupq_n_f64(0.5)));
        return vmulq_f64(vmulq_f64(p, pow2i(n1)), pow2i(vsubq_f64(n, n1)));
    }
    static V all_max(V v) { return vmax(v, vextq_f64(v, v, 1)); }
    static V all_sum(V v) { return vaddq_f64(v, vextq_f64(v, v, 1)); }
    static T reduce_max(V v) {
        const T a = vgetq_lane_f64(v, 0), b = vgetq_lane_f64(v, 1);
        return b > a ? b : a;
    }
    static V pad_ninf(V v, int n) { return vbslq_f64(mask(n), v, vdupq_n_f64(-__builtin_inf())); }
    static int64_t gidx(int64_t stride) { return stride; }
    static V gather_n(const T* p, int64_t stride, int n) {
        alignas(16) T b[W] = {};
        for (int i = 0; i < n; ++i) b[i] = p[i * stride];
        return vld1q_f64(b);
    }
    // 2x2 transpose in registers (pack_w)
    static void transpose(V* r) {
        const V c0 = vzip1q_f64(r[0], r[1]), c1 = vzip2q_f64(r[0], r[1]);
        r[0] = c0;
        r[1] = c1;
    }
};

template <class V>
struct SimdOf;
template <>
struct SimdOf<float32x4_t> { using type = Simd<float>; };
template <>
struct SimdOf<float64x2_t> { using type = Simd<double>; };

#include "../simd_ops.inc"

}  // namespace
}  // namespace neon
}  // namespace pyfwd
