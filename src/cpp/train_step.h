// The gradients of one mini-batch in one call, for the training loop's common case: a
// softmax output layer under cross-entropy with class-index targets (what Network.fit
// and loss_and_gradients run on the cpp backend). In order:
//   forward with every Z_l and A_l (network_forward, weights packed once per step);
//   the loss head (softmax_cross_entropy): loss, correct count, dZ_L;
//   per layer, last to first: dW_l = dZ_l^T A_{l-1} (dense_product on transposed views,
//   nothing transposed in memory); db_l = the column sums of dZ_l, row by row (the order
//   of NumPy's dZ.sum(axis=0)); dZ_{l-1} = (dZ_l W_l) * g'(Z_{l-1}), the derivative fused
//   into that product (softmax: its row pass after it).
// These are the operations, in the same order, of the Python loop over _core calls in
// backends/backward.py: the same bits, for any thread count (no K split anywhere).
// Z, A and dZ live in per-thread grow-only buffers: no allocation on a repeated call.
#pragma once
#include <cstdint>
#include <vector>

#include "loss_head.h"
#include "network.h"

namespace pyfwd {

// X (M, dims[0]) any strides, M >= 1; y: M class indices in [0, dims.back()) (checked by
// the caller); W[l]: the unpacked weights net was packed from; dW[l] (dims[l+1], dims[l])
// and db[l] (dims[l+1]) C-contiguous outputs. net's last activation must be softmax. A
// stop request (interrupt.h) ends it early, outputs unfinished.
template <typename T>
XentResult xent_gradients(const PackedNet<T>& net, const std::vector<MatView<T>>& W, const MatView<T>& X,
                          const int64_t* y, const std::vector<T*>& dW, const std::vector<T*>& db, int nthreads);

}  // namespace pyfwd
