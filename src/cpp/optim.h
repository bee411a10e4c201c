// The optimisers' parameter updates (pyfwd.optim): one fused elementwise pass per
// parameter, in place on the optimiser's state, the new parameter into a fresh buffer
// (the network's parameters are read-only; the caller swaps the new array in).
//
// The loops (kernels/optim_loops.inc, compiled per ISA level) perform exactly the
// operations, in exactly the order and precision T, of the NumPy update in
// pyfwd/optim.py (no contraction into FMAs: -ffp-contract=off), so
// both give the same bits, on every CPU, for any thread count (the split is by element).
#pragma once
#include <cstdint>

namespace pyfwd {

// torch.optim.SGD: g += wd*p; with momentum buf = mu*buf + g (buf = g at the first
// step), g = g + mu*buf (nesterov) or buf; out = p - lr*g.
template <typename T>
struct SgdStep {
    T lr, weight_decay, momentum;
    bool nesterov;
    bool first;  // the first step with momentum: buf = g
};

// torch.optim.Adam / AdamW: decoupled: p *= decay (= 1 - lr*wd); coupled: g += wd*p;
// m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g*g; out = p - step_size * m / (sqrt(v)/bc2 + eps)
// with step_size = lr/(1-b1^t), bc2 = sqrt(1-b2^t).
template <typename T>
struct AdamStep {
    T b1, one_minus_b1, b2, one_minus_b2, step_size, bc2, eps;
    T weight_decay;  // coupled L2 (Adam); 0: none
    T decay;         // decoupled factor (AdamW); 1: none
    bool decoupled;
};

// n elements of p and g; buf (momentum > 0 only) updated in place; out may not alias p.
template <typename T>
void sgd_update(const SgdStep<T>& s, int64_t n, const T* p, const T* g, T* buf, T* out, int nthreads);

template <typename T>
void adam_update(const AdamStep<T>& s, int64_t n, const T* p, const T* g, T* m, T* v, T* out, int nthreads);

}  // namespace pyfwd
