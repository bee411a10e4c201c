// 16-bit weights (bfloat16 / float16, kernels/wide16.h): the dense layer and the whole
// network with W kept 16-bit, activations and outputs float32.
//
// Few rows (M <= kDotMaxM, the memory-bound case): the dot path reads W's 16-bit rows
// and widens them in registers, half the bytes of float32 W. More rows: W widened once
// (exactly) into the float32 packed layout, and the float32 GEMM runs unchanged. Both
// give the bits of the float32 code on the widened W.
//
// compute="bf16" (round_bf16): each layer's input is rounded to bfloat16 (ties to even)
// first; products of bf16 inputs and 16-bit weights are exact in float32, so the float32
// kernels give what a bf16 dot-product unit with float32 accumulation gives, up to the
// order of the sum. This is the emulated path of every level; AVX512-BF16 / AMX kernels
// are not written (see wide16.h).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "gemm.h"
#include "network.h"

namespace pyfwd {

// A (rows, cols) matrix of 16-bit weights (raw bits; kind W16_BF16 = 0 or W16_F16 = 1),
// element (i, k) at data[i*rs + k*cs].
struct W16View {
    const uint16_t* data;
    int64_t rows, cols, rs, cs;
    int kind;
};

// dst (rows x cols, C-contiguous) = W widened to float32 (exact).
void widen16(const W16View& W, float* dst);

// dst (rows x cols, C-contiguous) = src (element (i, k) at src[i*rs + k*cs]) rounded to
// bfloat16, ties to even, as float32.
void round_rows_bf16(const float* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, float* dst);

// C[M, N] (row stride ldc) = act(A @ W.T + bias), the dot path on W's 16-bit rows
// (W.cs == 1); A rows lda apart, contiguous. The bits of gemm_dot on the widened W,
// for any thread count.
void gemm_dot16(const KernelBundle<float>& kb, int64_t M, const float* A, int64_t lda, const W16View& W, float* C,
                int64_t ldc, const Epilogue<float>& ep, int nthreads);

// A network of 16-bit weights. The W views (rows contiguous) point into memory the owner
// keeps alive and unchanged.
struct Net16 {
    std::vector<W16View> w;
    std::vector<std::vector<float>> b;  // empty: no bias
    std::vector<int> acts;
    std::vector<int64_t> dims;  // layer widths, input first
};

// Its float32 packing for the active level (W widened exactly), for batches past the
// dot path.
std::shared_ptr<const PackedNet<float>> pack_net16(const Net16& net, int nthreads);

// Forward of X (M, dims[0]) into out (M, dims.back()). M <= kDotMaxM: the 16-bit dot
// path, `packed` unused (may be null); else the float32 GEMM on `packed`. With Z and A
// (L pointers each, C-contiguous (M, dims[l+1])) every Z_l and A_l is written, A[L-1]
// may be out. A stop request (interrupt.h) ends it early, outputs unfinished.
void net16_forward(const Net16& net, const PackedNet<float>* packed, const MatView<float>& X, bool round_bf16,
                   float* out, int nthreads, const std::vector<float*>& Z = {}, const std::vector<float*>& A = {});

}  // namespace pyfwd
