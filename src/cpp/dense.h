// One dense layer's product from matrix views, the way every caller runs it: few rows
// (M <= kDotMaxM) take the dot path straight from W's rows (operands that are not
// row-contiguous are first copied, values only, so every layout gives the same bits);
// more rows pack W (or use a packing made earlier) for the blocked GEMM. The bindings'
// _core.dense and the training step (train_step.h) both call it. Plain buffers only:
// call it with the GIL released.
#pragma once
#include <cstdint>

#include "epilogue.h"
#include "gemm.h"
#include "network.h"

namespace pyfwd {

// C (M, N), row stride ldc, = epilogue(A @ W.T) for A (M, K) and W (N, K) of any
// strides. packed_w: W packed by pack_w with kb, or nullptr (packed here, into a
// per-thread buffer, when M > kDotMaxM).
template <typename T>
void dense_product(const KernelBundle<T>& kb, const MatView<T>& A, const MatView<T>& W, const T* packed_w, T* C,
                   int64_t ldc, const Epilogue<T>& ep, int nthreads);

}  // namespace pyfwd
