// The blocked GEMM (Goto/BLIS loops): Z = A @ W.T (+ bias), epilogue fused.
//
// W (N, K) is packed once into NR-wide slivers, each holding all of K:
//   Bp[s][k][j] = W[s*NR + j, k]  (zero padded past N),
// so a KC block of a sliver is contiguous and the packing does not depend on KC/NC.
// A (M, K) is packed per (KC, MC) block into MR-row slivers inside the loops.
// Threads split the output's rows (or columns when M is small), never K.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <new>

#include "epilogue.h"
#include "kernels/kernel_api.h"

namespace pyfwd {

// Asks the OS to back [p, p + bytes) with huge pages where it can (Linux: transparent
// huge pages in "madvise" mode, the common default, only serve regions that ask, as
// NumPy's large arrays do); a no-op elsewhere. bytes a multiple of kHugePage, p aligned.
void advise_huge_pages(void* p, std::size_t bytes);
constexpr std::size_t kHugePage = std::size_t(2) << 20;

// A grow-only 64-byte aligned buffer (packing areas, workspaces). From 2 MiB up it is
// 2 MiB aligned and asks for huge pages: a packed W panel of megabytes read sliver by
// sliver (256 KB apart for K = 4096) otherwise crosses a 4 KB page, and misses the TLB,
// at almost every sliver.
template <typename T>
class AlignedBuf {
public:
    AlignedBuf() = default;
    AlignedBuf(const AlignedBuf&) = delete;
    AlignedBuf& operator=(const AlignedBuf&) = delete;
    ~AlignedBuf() { std::free(p_); }
    T* ensure(std::size_t n) {
        if (n > cap_) {
            std::free(p_);
            p_ = nullptr;
            cap_ = 0;
            const bool huge = n * sizeof(T) >= kHugePage;
            const std::size_t align = huge ? kHugePage : 64;
            const std::size_t bytes = ((n * sizeof(T) + align - 1) / align) * align;
            p_ = static_cast<T*>(std::aligned_alloc(align, bytes));
            if (p_ == nullptr) throw std::bad_alloc();
            if (huge) advise_huge_pages(p_, bytes);
            cap_ = n;
        }
        return p_;
    }
    T* data() const { return p_; }
    std::size_t capacity() const { return cap_; }

private:
    T* p_ = nullptr;
    std::size_t cap_ = 0;
};

// The driver's run-time thresholds (the tuner may change them; none changes any bits:
// threads split output rows or columns, never K, and the direct path sums in the same
// order as the packed one).
struct Tunables {
    // Below this many flops a call runs on the calling thread: waking a worker costs
    // more than it saves (a few microseconds).
    double serial_flops;
    // Each extra thread needs at least this much work.
    double flops_per_thread;
    // Widest output for which A with contiguous rows is read in place instead of packed
    // (the "sup" path, see gemm_part).
    int64_t direct_max_n;
};
constexpr Tunables kDefaultTunables{1.5e6, 1.0e6, 512};
Tunables tunables();
// Throws std::invalid_argument for negative / zero values.
void set_tunables(const Tunables& t);

// Elements of the packed W for this bundle.
template <typename T>
std::size_t packed_w_size(const KernelBundle<T>& kb, int64_t N, int64_t K);

// Pack W (N, K), element (j, k) at W[j*rsw + k*csw] (any strides), into Bp.
// nthreads > 1 splits the slivers over the pool.
template <typename T>
void pack_w(const KernelBundle<T>& kb, const T* W, int64_t N, int64_t K, int64_t rsw, int64_t csw, T* Bp,
            int nthreads);

// C[M, N] (row stride ldc) = epilogue(A @ W.T) with A element (i, k) at A[i*rsa + k*csa].
// Bp from pack_w with the same bundle. Deterministic for any nthreads. A call stopped by
// a stop request (interrupt.h) returns early with C unfinished.
template <typename T>
void gemm_packed(const KernelBundle<T>& kb, int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa,
                 int64_t csa, const T* Bp, T* C, int64_t ldc, const Epilogue<T>& ep, int nthreads);

// Rows of A at most this many: dense() runs the dot path (gemm_dot) instead of packing W
// for one use (packing W costs more than the whole small product).
constexpr int64_t kDotMaxM = 16;

// C[M, N] (row stride ldc) = act(A @ W.T + bias) without packing: A rows (lda apart) and
// W rows (ldw apart) must be contiguous along K. Threads split W's rows; each output's
// bits are independent of the split.
template <typename T>
void gemm_dot(const KernelBundle<T>& kb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* W,
              int64_t ldw, T* C, int64_t ldc, const Epilogue<T>& ep, int nthreads);

// How the dot path spreads W's rows [0, N) over the pool: rows(n0, n1) per task, in
// blocks of 8 rows; one task when the product is small (tunables()), unless W (w_bytes
// of it are read) is large enough to make the call memory bound and the workers are
// awake. Every split gives the same bits (each output is one dot product).
void dot_split(int64_t M, int64_t N, int64_t K, double w_bytes, int nthreads,
               const std::function<void(int64_t, int64_t)>& rows);

// Elementwise activation / softmax over rows of C (M, N), row stride ldc, on the pool.
template <typename T>
void rows_activate(const KernelBundle<T>& kb, int act, int64_t M, int64_t N, T* C, int64_t ldc, int nthreads);

// A = g(Z) for the forward cache: each row of Z (M, N; row stride ld, as A's) copied to A
// and activated there in the same pass, on the pool (rows_activate's split and bits).
template <typename T>
void rows_activate_copy(const KernelBundle<T>& kb, int act, int64_t M, int64_t N, const T* Z, T* A, int64_t ld,
                        int nthreads);

}  // namespace pyfwd
