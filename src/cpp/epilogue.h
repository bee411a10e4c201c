// The GEMM epilogue as data (oneDNN post-ops style): one struct, not one kernel per
// activation. Plain data, no intrinsics: shared by the framework and every ISA.
#pragma once
#include <cstdint>

namespace pyfwd {

// Activation codes = pyfwd.activations.ACT_CODE (index in ACTIVATIONS). The one place
// the C++ side defines them: kernels use these names, never the numbers. _core exports
// kActNames and LEAKY_SLOPE, and backends/cpp.py checks them against pyfwd.activations
// at import (a mismatch makes the backend unavailable, with the reason).
enum Act : int {
    ACT_LINEAR = 0, ACT_RELU = 1, ACT_LEAKY_RELU = 2, ACT_SIGMOID = 3,
    ACT_TANH = 4, ACT_SOFTMAX = 5, ACT_GELU = 6, ACT_SILU = 7,
};
constexpr int ACT_COUNT = 8;
constexpr const char* kActNames[ACT_COUNT] = {"linear", "relu",    "leaky_relu", "sigmoid",
                                              "tanh",   "softmax", "gelu",       "silu"};

constexpr bool act_name_is(int code, const char* name) {
    const char* a = kActNames[code];
    int i = 0;
    for (; a[i] != '\0' && a[i] == name[i]; ++i) {
    }
    return a[i] == name[i];
}
static_assert(act_name_is(ACT_LINEAR, "linear") && act_name_is(ACT_RELU, "relu") &&
                  act_name_is(ACT_LEAKY_RELU, "leaky_relu") && act_name_is(ACT_SIGMOID, "sigmoid") &&
                  act_name_is(ACT_TANH, "tanh") && act_name_is(ACT_SOFTMAX, "softmax") &&
                  act_name_is(ACT_GELU, "gelu") && act_name_is(ACT_SILU, "silu"),
              "kActNames must list the names in Act code order");

// leaky_relu's negative slope (pyfwd.activations.LEAKY_SLOPE): the micro-kernels' epilogue
// and the row pass both use it.
constexpr double LEAKY_SLOPE = 0.01;

template <typename T>
struct Epilogue {
    const T* bias = nullptr;   // (N,) or nullptr; seeds the accumulator
    int act = ACT_LINEAR;      // elementwise codes are applied in the micro-kernel's final
                               // store; ACT_SOFTMAX is a row pass after the last N block
    T alpha = T(LEAKY_SLOPE);  // the activation's parameter: leaky_relu's negative slope
    // Training's backward pass: C *= g'(Z) for the elementwise activation code dact (not
    // softmax), Z and A = g(Z) of C's shape with rows ldz / lda elements apart, contiguous
    // along them. The GEMM that computes dA_prev = dZ W applies it to each finished block
    // of C while that block is in cache, so it yields dZ_prev. dact < 0: none.
    int dact = -1;
    const T* dz_z = nullptr;
    const T* dz_a = nullptr;
    int64_t ldz = 0, lda = 0;
};

}  // namespace pyfwd
