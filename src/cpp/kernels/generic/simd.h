// The portable SIMD traits: Simd<float> and Simd<double> with one lane (V = T, mask =
// bool), the same operations as every vector level (kernels/avx2/simd.h lists them and
// their contracts), written in plain C++ and branch-free, with the same semantics
// (max/min return the second operand on NaN), so every level computes the same formulas.
// The micro-kernel (ukr_impl.h) and the vector math (vmath_algo.inc, through
// simd_ops.inc) use these same structs. Included only by translation units of
// kernels/generic (no -m flags).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace pyfwd {
namespace generic {
namespace {

template <class S>
struct Simd {
    static_assert(std::is_same_v<S, float> || std::is_same_v<S, double>, "float or double");
    using T = S;
    using V = S;
    using M = bool;
    using D = double;
    static constexpr int W = 1;
    static constexpr int REGS = 0;  // scalar: the compiler's registers (tiles unchecked)
    using Bits = std::conditional_t<std::is_same_v<S, float>, std::uint32_t, std::uint64_t>;
    static V set1(double c) { return static_cast<S>(c); }
    static V zero() { return S(0); }
    static V bcast(const T* p) { return *p; }
    static V load(const T* p) { return *p; }
    static V load_n(const T* p, int) { return *p; }  // one lane: n is always 1
    static V load_n(const T* p, int, T) { return *p; }
    static void store(T* p, V v) { *p = v; }
    static void store_n(T* p, V v, int) { *p = v; }
    static V add(V a, V b) { return a + b; }
    static V sub(V a, V b) { return a - b; }
    static V mul(V a, V b) { return a * b; }
    static V div(V a, V b) { return a / b; }
    static V fmadd(V a, V b, V c) { return std::fma(a, b, c); }
    static V fnmadd(V a, V b, V c) { return std::fma(-a, b, c); }
    // No FMA unit assumed (the CPUs this level exists for may lack one; std::fma is then
    // emulated in software): two roundings, unless the compiler contracts it.
    static V mul_add(V a, V b, V c) { return a * b + c; }
    static V vmin(V a, V b) { return a < b ? a : b; }  // NaN: b
    static V vmax(V a, V b) { return a > b ? a : b; }  // NaN: b
    static V vabs(V a) { return std::fabs(a); }
    static V vneg(V a) { return -a; }
    static V copysign_of(V mag, V sgn) { return std::copysign(mag, sgn); }
    static M lt(V a, V b) { return a < b; }
    static M gt(V a, V b) { return a > b; }
    static V select(M m, V a, V b) { return m ? a : b; }
    // Round to nearest (ties to even) by adding and removing 1.5 * 2^(p-1): exact for the
    // |a| < 2^22 the vector math passes (exp's reduced arguments), inline (no libm call).
    static V round_nearest(V a) {
        constexpr S magic = std::is_same_v<S, float> ? S(12582912.0) : S(6755399441055744.0);
        return (a + magic) - magic;
    }
    // 2^n for an integer-valued n inside the normal exponent range, built from bits; the
    // magic-number add keeps it well defined for NaN (the product with a NaN p stays NaN).
    static V pow2i(V n) {
        constexpr bool f = std::is_same_v<S, float>;
        const S t = n + (f ? S(12582912.0 + 127.0) : S(6755399441055744.0 + 1023.0));  // 1.5 * 2^(p-1) + bias
        Bits b;
        std::memcpy(&b, &t, sizeof b);
        b <<= (f ? 23 : 52);
        S r;
        std::memcpy(&r, &b, sizeof r);
        return r;
    }
    // p * 2^n with one rounding: both halves of n are normal powers of two, the first
    // product is exact, the second rounds once (also into the subnormals or to inf).
    static V ldexp_int(V p, V n) {
        const V n1 = round_nearest(n * S(0.5) - S(0.25));  // floor(n / 2) for an integer n
        return (p * pow2i(n1)) * pow2i(n - n1);
    }
    template <class F>
    static V via_f64(V x, F f) {
        return static_cast<S>(f(static_cast<double>(x)));
    }
    static V all_max(V v) { return v; }
    static V all_sum(V v) { return v; }
    static T reduce_max(V v) { return v; }
    static V pad_ninf(V v, int) { return v; }  // one lane: never padded
    static int64_t gidx(int64_t stride) { return stride; }
    static V gather_n(const T* p, int64_t, int) { return *p; }
};

template <class V>
struct SimdOf {
    using type = Simd<V>;
};

#include "../simd_ops.inc"

}  // namespace
}  // namespace generic
}  // namespace pyfwd
