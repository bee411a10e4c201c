// dense_product (dense.h): the dot path or the packed GEMM, per the number of rows.
#include "dense.h"

#include <algorithm>
#include <cstddef>

#include "thread_pool.h"

namespace pyfwd {
namespace {

// v's data with rows contiguous along the columns: in place, or copied into buf (rows
// then `cols` apart, written to *ld) when the column stride is not 1. The copy goes in
// 32 x 32 tiles: a transposed view (rows 1 apart, columns far apart, as the backward
// pass's dW = dZ^T A_prev passes) then reads and writes whole cache lines instead of one
// element per line (a 512 x 256 copy: ~300 us row by row). Large copies split their row
// tiles over the pool (values only: any split, the same result).
template <typename T>
const T* row_contiguous(const MatView<T>& v, AlignedBuf<T>& buf, int64_t& ld, int nthreads) {
    if (v.cs == 1 && v.cols > 0) return v.data;
    T* dst = buf.ensure(static_cast<std::size_t>(std::max<int64_t>(v.rows * v.cols, 1)));
    constexpr int64_t kTile = 32;
    auto tiles = [&](int64_t t0, int64_t t1) {
        for (int64_t i0 = t0 * kTile; i0 < std::min(v.rows, t1 * kTile); i0 += kTile) {
            const int64_t i1 = std::min(v.rows, i0 + kTile);
            for (int64_t k0 = 0; k0 < v.cols; k0 += kTile) {
                const int64_t k1 = std::min(v.cols, k0 + kTile);
                for (int64_t k = k0; k < k1; ++k)
                    for (int64_t i = i0; i < i1; ++i) dst[i * v.cols + k] = v.data[i * v.rs + k * v.cs];
            }
        }
    };
    ThreadPool::instance().run_split((v.rows + kTile - 1) / kTile, nthreads, v.rows * v.cols, int64_t(1) << 16, tiles);
    ld = v.cols;
    return dst;
}

}  // namespace

template <typename T>
void dense_product(const KernelBundle<T>& kb, const MatView<T>& A, const MatView<T>& W, const T* packed_w, T* C,
                   int64_t ldc, const Epilogue<T>& ep, int nthreads) {
    const int64_t M = A.rows, N = W.rows, K = A.cols;
    if (M == 0 || N == 0) return;
    if (M <= kDotMaxM) {
        thread_local AlignedBuf<T> wrows, arows;  // per calling thread
        int64_t ldw = W.rs, lda = A.rs;
        const T* Wd = row_contiguous(W, wrows, ldw, nthreads);
        const T* Ad = row_contiguous(A, arows, lda, nthreads);
        gemm_dot(kb, M, N, K, Ad, lda, Wd, ldw, C, ldc, ep, nthreads);
    } else if (packed_w != nullptr) {
        gemm_packed(kb, M, N, K, A.data, A.rs, A.cs, packed_w, C, ldc, ep, nthreads);
    } else {
        thread_local AlignedBuf<T> wbuf;  // per calling thread
        T* Bp = wbuf.ensure(packed_w_size(kb, N, K));
        pack_w(kb, W.data, N, K, W.rs, W.cs, Bp, nthreads);
        gemm_packed(kb, M, N, K, A.data, A.rs, A.cs, Bp, C, ldc, ep, nthreads);
    }
}

template void dense_product<float>(const KernelBundle<float>&, const MatView<float>&, const MatView<float>&,
                                   const float*, float*, int64_t, const Epilogue<float>&, int);
template void dense_product<double>(const KernelBundle<double>&, const MatView<double>&, const MatView<double>&,
                                    const double*, double*, int64_t, const Epilogue<double>&, int);

}  // namespace pyfwd
