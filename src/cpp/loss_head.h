// The loss head of training (pyfwd.losses.head) for the common case: softmax output,
// cross-entropy, class-index targets. Loss and gradient from Z_L in float64 (as the
// NumPy head: max-shifted log-sum-exp), the gradient wrt Z_L rounded once to T:
//   loss = -mean_i log softmax(Z_i)[y_i],  dZ_ij = (softmax(Z_i)_j - [j == y_i]) / B.
// Rows in order, one thread: the same bits for any thread count.
#pragma once
#include <cstdint>

namespace pyfwd {

struct XentResult {
    double loss = 0.0;     // mean over the B rows
    int64_t correct = 0;   // rows whose argmax of A (first maximum) is y
};

// Z, A: (B, N) with rows ldz/lda elements apart; y: B class indices in [0, N) (checked
// by the caller); dZ: (B, N) contiguous.
template <typename T>
XentResult softmax_cross_entropy(int64_t B, int64_t N, const T* Z, int64_t ldz, const T* A, int64_t lda,
                                 const int64_t* y, T* dZ);

}  // namespace pyfwd
