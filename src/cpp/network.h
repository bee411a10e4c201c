// Whole-network forward in one call: weights packed once (per ISA level), layers back
// to back, two ping-pong buffers per calling thread (grow-only: no allocation on a
// repeated call of the same batch size), or every Z_l and A_l when a cache is asked for.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dispatch.h"
#include "gemm.h"

namespace pyfwd {

// A matrix view with element (i, k) at data[i*rs + k*cs].
template <typename T>
struct MatView {
    const T* data;
    int64_t rows, cols, rs, cs;
};

template <typename T>
struct PackedNet {
    Isa isa = Isa::generic;
    const KernelBundle<T>* kb = nullptr;  // points into the dispatch table (never freed)
    std::vector<int64_t> dims;            // layer widths, input first
    std::vector<int> acts;                // activation code per layer
    std::vector<std::unique_ptr<AlignedBuf<T>>> w;  // packed W_l
    std::vector<std::vector<T>> b;                  // b_l (empty: no bias)
    int64_t max_hidden = 0;                         // widest hidden layer
};

// Pack every layer for the active ISA. weights[l] is (dims[l+1], dims[l]); biases[l] has
// data == nullptr for none.
template <typename T>
std::shared_ptr<PackedNet<T>> pack_network(const std::vector<MatView<T>>& weights,
                                           const std::vector<const T*>& biases, const std::vector<int>& acts,
                                           int nthreads);

// Pack new values of the same layers into net's buffers (no allocation): the training
// loop's repack after each update. Shapes and the ISA level are net's.
template <typename T>
void repack_network(PackedNet<T>& net, const std::vector<MatView<T>>& weights, const std::vector<const T*>& biases,
                    int nthreads);

// Forward of M samples X (M, dims[0]) into out (M, dims.back()) C-contiguous.
// With Z and A non-empty (L pointers each, C-contiguous (M, dims[l+1])), writes every
// pre-activation and activation; A[L-1] may equal out. A stop request (interrupt.h)
// ends it early (between layers or GEMM blocks), outputs unfinished.
template <typename T>
void network_forward(const PackedNet<T>& net, const MatView<T>& X, T* out, int nthreads,
                     const std::vector<T*>& Z = {}, const std::vector<T*>& A = {});

}  // namespace pyfwd
