// What every ISA folder exports to the dispatcher: plain declarations and data, no
// intrinsics, so the portable framework can include it. Each ISA's definitions live in
// its own namespace (pyfwd::<isa>, one per level of isa_list.h) and translation units.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "cache_info.h"
#include "epilogue.h"
#include "isa_list.h"
#include "optim.h"

namespace pyfwd {

// Flags of one micro-kernel call.
enum UkrFlags : int {
    UKR_FIRST = 1,  // first K block: start from the bias (or 0), never read C
    UKR_LAST = 2,   // last K block: apply the elementwise activation before the store
    UKR_FULLROW = 4,  // the tile holds whole output rows (N <= NR): softmax fused too
};

// C[0:m, 0:n] (row stride ldc) = (FIRST ? bias : C) + A(m x kc) * B(kc x n), then the
// elementwise epilogue if LAST. A is packed (lda == 0: A[k*MR + i]) or read in place
// (lda > 0: row i at A + i*lda, k contiguous). B is the packed W: Bp[k*NR + j] within a
// sliver, slivers bstride apart (zero padded). `bias` points at the tile's first column.
// 1 <= m <= MR; 1 <= n <= NR, or <= NW when m <= MW (the small-M wide tiles).
template <typename T>
using UkrFn = void (*)(int m, int64_t kc, const T* A, int64_t lda, const T* Bp, int64_t bstride, T* C,
                       int64_t ldc, int n, const T* bias, int act, T alpha, int flags);

// Pack the W slivers [s0, s1): Bp[s][k][j] = W[(s*NR + j)*rsw + k*csw], zero past N.
template <typename T>
using PackWFn = void (*)(const T* W, int64_t N, int64_t K, int64_t rsw, int64_t csw, int64_t s0, int64_t s1, T* Bp);

// The small-M dot path: C[i, j] = bias[j] + dot(A[i, :], W[j, :]) for i < m, j in
// [n0, n1); rows of A (lda apart) and of W (ldw apart) contiguous along K; bias may be
// null. No activation (a row pass follows). Each output's bits are independent of m,
// n0, n1 (a fixed summation order per element).
template <typename T>
using DotRowsFn = void (*)(int64_t m, int64_t K, const T* A, int64_t lda, const T* W, int64_t ldw, int64_t n0,
                           int64_t n1, const T* bias, T* C, int64_t ldc);

// The dot path with 16-bit weights (kernels/wide16.h): W holds bfloat16 or float16 bits,
// widened to float32 in registers; the bits of DotRowsFn<float> on the widened W.
using DotRows16Fn = void (*)(int64_t m, int64_t K, const float* A, int64_t lda, const uint16_t* W, int64_t ldw,
                             int64_t n0, int64_t n1, const float* bias, float* C, int64_t ldc);

// Row passes (vector math, owned by the vmath files): elementwise activation in place,
// softmax of one row in place.
template <typename T>
using ActInplaceFn = void (*)(int act, T* y, std::size_t n);
template <typename T>
using SoftmaxRowFn = void (*)(T* row, std::size_t n);
// The backward pass's activation derivative (act_backward_loops.inc): dz = da * g'(z) for n
// contiguous elements (z, a = g(z), da), or softmax's Jacobian-vector product of one row.
template <typename T>
using ActBackwardFn = void (*)(int act, T alpha, const T* z, const T* a, const T* da, T* dz, std::size_t n);
// The optimisers' fused updates of n contiguous elements (optim_loops.inc; optim.h).
template <typename T>
using SgdUpdateFn = void (*)(const SgdStep<T>& s, std::size_t n, const T* p, const T* g, T* buf, T* out);
template <typename T>
using AdamUpdateFn = void (*)(const AdamStep<T>& s, std::size_t n, const T* p, const T* g, T* m, T* v, T* out);

// One dispatch entry: everything chosen together for an ISA and a dtype (XNNPACK's
// gemm-config). The block sizes and their reasons are in each ISA's kernel file.
template <typename T>
struct KernelBundle {
    const char* ukr_name = nullptr;
    UkrFn<T> ukr = nullptr;
    PackWFn<T> pack_w = nullptr;
    DotRowsFn<T> dot_rows = nullptr;
    // float bundles: dot_rows on 16-bit W, [W16_BF16] and [W16_F16] (wide16.h); null
    // where a level has none (the caller then widens W's rows first: same bits)
    DotRows16Fn dot_rows16[2] = {nullptr, nullptr};
    ActInplaceFn<T> act_inplace = nullptr;
    SoftmaxRowFn<T> softmax_row = nullptr;
    SoftmaxRowFn<T> softmax_short = nullptr;  // rows of n <= NR: same bits as the fused epilogue
    ActBackwardFn<T> act_backward = nullptr;  // training: dZ = dA * g'(Z)
    SgdUpdateFn<T> sgd_update = nullptr;      // training: the optimisers' updates
    AdamUpdateFn<T> adam_update = nullptr;
    int MR = 0, NR = 0;    // register tile
    int MW = 0, NW = 0;    // small-M tiles: up to MW rows get up to NW (multiple of NR) columns
    BlockRule rule;        // how MC/KC/NC follow from the caches (cache_info.h)

    // The cache blocks (MC a multiple of MR, NC of NR) in one atomic word, so that a
    // tuner changing them never lets a running GEMM see half of the change (no block
    // changes any result's bits: any snapshot is correct).
    Blocks blocks() const {
        const uint64_t w = blocks_.load(std::memory_order_relaxed);
        return Blocks{int(w & 0x1fffff), int((w >> 21) & 0x1fffff), int((w >> 42) & 0x1fffff)};
    }
    void set_blocks(Blocks b, const char* source) {
        blocks_.store(uint64_t(b.MC) | (uint64_t(b.KC) << 21) | (uint64_t(b.NC) << 42), std::memory_order_relaxed);
        blocks_source.store(source, std::memory_order_relaxed);
    }
    // Where the blocks came from: "cache rule" (the caches of this CPU), "tuned", "set".
    std::atomic<const char*> blocks_source{"unset"};

private:
    std::atomic<uint64_t> blocks_{0};
};

// The entry points of one level, in namespace pyfwd::<isa>:
//  gemm_<isa>.cpp:  fill_bundle (the bundles of both dtypes, block sizes included) and
//                   fma_probe (float32 FMA throughput: runs `iters` rounds, returns flops)
//                   and read_probe (streaming read: sums n floats, 64-byte aligned);
//  vmath_<isa>.cpp: the out-of-line vector math (the loops of vmath_loops.inc):
//                   act_inplace_* (elementwise activate, any n), softmax_row_* (stable:
//                   subtract max, exp, / sum) and vmath_apply_* (func: 0 exp, 1 tanh,
//                   2 erf, 3 sigmoid, 4 gelu, 5 silu, 6 erfc; a test hook);
//  act_backward_<isa>.cpp: act_backward_* (training's dZ = dA * g'(Z), over that vector math);
//  optim_<isa>.cpp: sgd_update_*, adam_update_* (the optimisers' fused updates).
#define PYFWD_DECLARE_ISA(ns)                                                      \
    namespace ns {                                                                 \
    void fill_bundle(KernelBundle<float>& f32, KernelBundle<double>& f64);         \
    double fma_probe(int64_t iters, float* sink);                                  \
    double read_probe(const float* p, int64_t n);                                  \
    void act_inplace_f32(int act, float* y, std::size_t n);                        \
    void act_inplace_f64(int act, double* y, std::size_t n);                       \
    void softmax_row_f32(float* row, std::size_t n);                               \
    void softmax_row_f64(double* row, std::size_t n);                              \
    void vmath_apply_f32(int func, const float* x, float* y, std::size_t n);       \
    void vmath_apply_f64(int func, const double* x, double* y, std::size_t n);     \
    void act_backward_f32(int act, float alpha, const float* z, const float* a,    \
                          const float* da, float* dz, std::size_t n);              \
    void act_backward_f64(int act, double alpha, const double* z, const double* a, \
                          const double* da, double* dz, std::size_t n);            \
    void sgd_update_f32(const SgdStep<float>& s, std::size_t n, const float* p,     \
                        const float* g, float* buf, float* out);                   \
    void sgd_update_f64(const SgdStep<double>& s, std::size_t n, const double* p,   \
                        const double* g, double* buf, double* out);                \
    void adam_update_f32(const AdamStep<float>& s, std::size_t n, const float* p,   \
                         const float* g, float* m, float* v, float* out);          \
    void adam_update_f64(const AdamStep<double>& s, std::size_t n, const double* p, \
                         const double* g, double* m, double* v, double* out);      \
    }
PYFWD_ISA_LIST(PYFWD_DECLARE_ISA)
#undef PYFWD_DECLARE_ISA

}  // namespace pyfwd
