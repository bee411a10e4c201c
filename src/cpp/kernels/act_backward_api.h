// The per-ISA activation derivative of the backward pass (act_backward_loops.inc):
// dz[i] = da[i] * g'(z[i]) for n contiguous elements, or, for ACT_SOFTMAX, the Jacobian-
// vector product of one row of n. z, a (= g(z)), da and dz are n elements each; dz may not
// alias z or a. alpha is leaky_relu's slope. Plain declarations, no intrinsics: the
// portable backward.cpp includes this and picks the active ISA's entry.
#pragma once
#include <cstddef>

namespace pyfwd {
#define PYFWD_DECLARE_ACT_BACKWARD(ns)                                                                        \
    namespace ns {                                                                                            \
    void act_backward_f32(int act, float alpha, const float* z, const float* a, const float* da, float* dz,    \
                          std::size_t n);                                                                     \
    void act_backward_f64(int act, double alpha, const double* z, const double* a, const double* da,          \
                          double* dz, std::size_t n);                                                         \
    }
PYFWD_DECLARE_ACT_BACKWARD(generic)
PYFWD_DECLARE_ACT_BACKWARD(avx2)
PYFWD_DECLARE_ACT_BACKWARD(avx512)
#undef PYFWD_DECLARE_ACT_BACKWARD
}  // namespace pyfwd
