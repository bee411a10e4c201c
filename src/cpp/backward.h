// The backward pass's elementwise step: dZ = dA * g'(Z) (softmax: the Jacobian-vector
// product of each row), on the thread pool, with the active ISA's vectorised loops
// (kernels/act_backward_loops.inc). The GEMMs of the backward pass (dW = dZ^T A_prev,
// dA_prev = dZ W) are plain dense() calls on strided views: no code here.
#pragma once
#include <cstdint>

namespace pyfwd {

// dZ (M, N) from Z, A = g(Z) and dA, each (M, N) with rows ld* elements apart and
// contiguous along N. Threads split rows (or, when every operand is contiguous and the
// activation elementwise, element ranges), never a row's softmax sum: the same bits for
// any nthreads.
template <typename T>
void act_backward(int act, int64_t M, int64_t N, const T* Z, int64_t ldz, const T* A, int64_t lda, const T* dA,
                  int64_t ldd, T* dZ, int64_t ldo, int nthreads);

}  // namespace pyfwd
