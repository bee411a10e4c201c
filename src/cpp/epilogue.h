// The GEMM epilogue as data (oneDNN post-ops style): one struct, not one kernel per
// activation. Plain data, no intrinsics: shared by the framework and every ISA.
#pragma once

namespace pyfwd {

// Activation codes = pyfwd.activations.ACT_CODE (index in ACTIVATIONS).
enum Act : int {
    ACT_LINEAR = 0, ACT_RELU = 1, ACT_LEAKY_RELU = 2, ACT_SIGMOID = 3,
    ACT_TANH = 4, ACT_SOFTMAX = 5, ACT_GELU = 6, ACT_SILU = 7,
};
constexpr int ACT_COUNT = 8;

template <typename T>
struct Epilogue {
    const T* bias = nullptr;  // (N,) or nullptr; seeds the accumulator
    int act = ACT_LINEAR;     // elementwise codes are applied in the micro-kernel's final
                              // store; ACT_SOFTMAX is a row pass after the last N block
    T alpha = T(0.01);        // the activation's parameter: leaky_relu's negative slope
};

}  // namespace pyfwd
