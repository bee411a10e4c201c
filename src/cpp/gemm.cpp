#include "gemm.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <limits>
#include <stdexcept>

#include "backward.h"
#include "interrupt.h"
#include "thread_pool.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyfwd {

void advise_huge_pages(void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)madvise(p, bytes, MADV_HUGEPAGE);  // advice only: refused or unsupported, 4 KB pages
#else
    (void)p;
    (void)bytes;
#endif
}
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Pack the mc x kc block of A into MR-row slivers: out[s*MR*kc + k*MR + i].
// Rows past mc in the last sliver are left unset: the micro-kernel instance for m rows
// reads only rows < m.
template <typename T>
void pack_a(const T* A, int64_t rsa, int64_t csa, int64_t mc, int64_t kc, int MR, T* out) {
    for (int64_t i0 = 0; i0 < mc; i0 += MR) {
        const int mr = static_cast<int>(std::min<int64_t>(MR, mc - i0));
        T* o = out + i0 * kc;
        // k outer, rows inner for every layout: contiguous stores and MR read streams
        // (the hardware prefetcher follows them). For C-order A this beat reading each
        // row once with MR-strided stores: sgemm 1 thread 1024^3 143 -> 153, 2048^3
        // 132 -> 136 GFLOP/s.
        for (int64_t k = 0; k < kc; ++k) {
            const T* a = A + i0 * rsa + k * csa;
            for (int i = 0; i < mr; ++i) o[k * MR + i] = a[i * rsa];
        }
    }
}

// Which part of the output one task owns: rows [m0, m1), columns [n0, n1) (n0 on a
// sliver boundary).
struct Part {
    int64_t m0, m1, n0, n1;
};

// Split the output into `nt` parts along M (MR-aligned) or N (NR-aligned), whichever
// balances better; ties go to M (no redundant A packing).
struct Split {
    bool by_rows = true;
    int parts = 1;
    int64_t units = 1, unit = 1, extent = 0;
    Part part(int t, int64_t M, int64_t N) const {
        const int64_t lo = units * t / parts, hi = units * (t + 1) / parts;
        const int64_t a = std::min(lo * unit, extent), b = std::min(hi * unit, extent);
        return by_rows ? Part{a, b, 0, N} : Part{0, M, a, b};
    }
};

// Row tasks per thread when W stays in cache between tasks (see choose_split).
constexpr int kRowTasksPerThread = 4;

// W of at least this many bytes makes a one-row-tile product worth a second core.
constexpr double kGemvSplitBytes = 128 * 1024;

// Whether the previous call that could have split a one-row-tile product came less than
// 20 ms ago (a loop of calls: worth waking the workers for the next one); an isolated
// call does not pay for a wake-up it cannot use.
bool gemv_call_follows_another() {
    static std::atomic<int64_t> last_ns{std::numeric_limits<int64_t>::min() / 2};
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    const int64_t prev = last_ns.exchange(now, std::memory_order_relaxed);
    return now - prev < int64_t(20'000'000);
}

// A product of a few rows, below serial_flops, over a W of kGemvSplitBytes or more: is
// it to be split over the workers now? Bound by reading W, not by FMAs, so a second
// core reading its part from its own L2 nearly halves it; but only while the workers
// are awake (calls back to back): waking a sleeping one costs more than the product,
// so that call runs alone and only nudges them awake for the next (wake_workers).
bool split_memory_bound_now(bool workers_awake) {
    if (workers_awake) return true;
    if (gemv_call_follows_another()) ThreadPool::instance().wake_workers();
    return false;
}

Split choose_split(int64_t M, int64_t N, int64_t K, int MR, int NR, int nthreads, const Tunables& tu,
                   bool w_in_cache, double w_bytes, bool workers_awake) {
    Split s;
    s.by_rows = true;
    s.unit = MR;
    s.units = ceil_div(M, MR);
    s.extent = M;
    const double flops = 2.0 * double(M) * double(N) * double(std::max<int64_t>(K, 1));
    const int64_t un = ceil_div(N, NR);
    auto by_columns = [&](int parts) {
        s.by_rows = false;
        s.parts = parts;
        s.unit = NR;
        s.units = un;
        s.extent = N;
    };
    // One row tile (a batch of at most MR rows) over a large W: split by columns (same
    // bits) even below serial_flops, while the workers are awake (split_memory_bound_now).
    // Measured on the 2-core Zen 3, [784,128,10] batch 1 back to back, 2 threads:
    // 8.9-9.6 -> 6.2-7.2 us per forward; with 50 ms between calls (workers asleep) a
    // forced split was slower, 83 -> 95 us.
    if (nthreads > 1 && M <= MR && flops < tu.serial_flops && w_bytes >= kGemvSplitBytes && N > NR) {
        if (split_memory_bound_now(workers_awake)) by_columns(static_cast<int>(std::min<int64_t>(nthreads, un)));
        return s;
    }
    if (nthreads <= 1 || flops < tu.serial_flops) return s;
    const int want = static_cast<int>(std::min<double>(nthreads, flops / tu.flops_per_thread));
    const int64_t um = ceil_div(M, MR);
    auto eff = [](int64_t units, int p) {
        if (p <= 1) return 0.0;
        return double(units) / double(p) / double(ceil_div(units, p));
    };
    const int pm = static_cast<int>(std::min<int64_t>(want, um));
    const int pn = static_cast<int>(std::min<int64_t>(want, un));
    const double em = eff(um, pm) * pm, en = eff(un, pn) * pn;  // useful parallelism
    if (em <= 1.0 && en <= 1.0) return s;
    if (em >= en) {
        // More row tasks than threads (the pool hands them out as threads come free): a
        // thread that falls behind, because its core is shared for a while (another
        // runtime's spinning workers, as OpenBLAS's are for ~0.1 s after each call, or
        // another process), leaves its later tasks to the others instead of making the
        // whole call wait for it. Measured on the 2-core Zen 3, [784,128,10] batch 1024,
        // 2 threads, right after a NumPy matmul (OpenBLAS's second thread still spinning):
        // 3.06 ms with 2 tasks, slower than 1 thread (2.7 ms); 2.63 ms with 8. Only when W
        // stays in cache between tasks: every task reads all of W.
        s.parts = pm;
        if (w_in_cache) s.parts = static_cast<int>(std::min<int64_t>(um, int64_t(pm) * kRowTasksPerThread));
    } else {
        by_columns(pn);
    }
    return s;
}

// Prefetch (for writing) the m x n tile of C at C: every cache line of every row.
template <typename T>
inline void prefetch_tile(const T* C, int64_t ldc, int64_t m, int n) {
    const int64_t bytes = int64_t(n) * int64_t(sizeof(T));
    for (int64_t i = 0; i < m; ++i) {
        const char* row = reinterpret_cast<const char*>(C + i * ldc);
        for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(row + b, 1);
        __builtin_prefetch(row + bytes - 1, 1);
    }
}

template <typename T>
AlignedBuf<T>& a_pack_buffer() {
    thread_local AlignedBuf<T> buf;  // one per thread: pool workers and Python callers
    return buf;
}

template <typename T>
void gemm_part(const KernelBundle<T>& kb, const Blocks& blk, int64_t direct_max_n, int64_t K, const T* A,
               int64_t rsa, int64_t csa, const T* Bp, T* C, int64_t ldc, const Epilogue<T>& ep, const Part& p,
               int64_t N) {
    const int MR = kb.MR, NR = kb.NR;
    const int64_t NC = blk.NC;
    // K blocks: K <= 2*KC runs as one block (no round trip of C through memory between
    // blocks); longer K as ceil(K / KC) balanced blocks, rounded up to 8. Depends on K and
    // the bundle only, so every thread count sums in the same order.
    const int64_t kblocks = K <= 2 * int64_t(blk.KC) ? 1 : ceil_div(K, blk.KC);
    const int64_t KC = std::max<int64_t>(1, ceil_div(ceil_div(K, kblocks), 8) * 8);
    // M blocks: the A block may take MC x KC elements of L2 (the bundle's budget), so a
    // shorter K block allows more rows; then balanced, so that e.g. 256 rows run as one
    // block and W streams from memory once, not twice. (M blocking never changes the
    // order of any sum.)
    const int64_t mpart = p.m1 - p.m0;
    const int64_t mc_max = std::max<int64_t>(MR, int64_t(blk.MC) * blk.KC / std::max<int64_t>(KC, 1) / MR * MR);
    const int64_t mblocks = std::max<int64_t>(1, ceil_div(mpart, mc_max));
    const int64_t MC = ceil_div(ceil_div(mpart, mblocks), MR) * MR;
    // A with contiguous rows is read in place when N is small (the "sup" path): packing
    // costs one store per A element, as much as the N/16 FMAs it feeds when N is ~128.
    // For wide outputs the packed, contiguous A slivers win (measured: 2048^3 runs
    // ~25% slower unpacked: 14 row streams instead of one).
    const bool direct = csa == 1 && rsa != 0 && N <= direct_max_n;
    T* Ap = direct ? nullptr : a_pack_buffer<T>().ensure(static_cast<std::size_t>(MC * std::max<int64_t>(KC, 1)));
    const int64_t bstride = std::max<int64_t>(K, 1) * NR;  // between W slivers
    // N <= NR: every tile holds whole rows and the micro-kernel does the softmax (the
    // choice depends on N only: the same bits for any thread split).
    const bool fullrow = N <= NR;
    const bool softmax_here = ep.act == ACT_SOFTMAX && p.n0 == 0 && p.n1 == N && !fullrow;
    for (int64_t jc = p.n0; jc < p.n1; jc += NC) {
        const int64_t nc = std::min(NC, p.n1 - jc);
        // K may be 0 (dense with no inputs): one pass still writes bias + activation.
        for (int64_t pc = 0; pc == 0 || pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            const bool last_k = pc + kc >= K;
            const int flags = (pc == 0 ? UKR_FIRST : 0) | (last_k ? UKR_LAST : 0) | (fullrow ? UKR_FULLROW : 0);
            for (int64_t ic = p.m0; ic < p.m1; ic += MC) {
                // Block boundary: a long call can be stopped here (Ctrl-C, interrupt.h).
                poll_interrupt();
                if (stop_requested()) return;
                const int64_t mc = std::min(MC, p.m1 - ic);
                if (!direct) pack_a(A + ic * rsa + pc * csa, rsa, csa, mc, kc, MR, Ap);
                // 1..MW rows: wide tiles over several slivers (latency, not FMA, bound)
                const int64_t step = mc <= kb.MW ? kb.NW : NR;
                for (int64_t jr = 0; jr < nc; jr += step) {
                    const int64_t col = jc + jr;
                    const T* Bs = Bp + (col / NR) * bstride + pc * NR;
                    const T* bias = ep.bias != nullptr ? ep.bias + col : nullptr;
                    const int n = static_cast<int>(std::min<int64_t>(step, nc - jr));
                    T* Cc = C + ic * ldc + col;
                    for (int64_t ir = 0; ir < mc; ir += MR) {
                        const int m = static_cast<int>(std::min<int64_t>(MR, mc - ir));
                        if (ir + MR < mc)  // the next tile's C rows: hide their cache misses
                            prefetch_tile(Cc + (ir + MR) * ldc, ldc, std::min<int64_t>(MR, mc - ir - MR), n);
                        const T* At = direct ? A + (ic + ir) * rsa + pc : Ap + ir * kc;
                        kb.ukr(m, kc, At, direct ? rsa : 0, Bs, bstride, Cc + ir * ldc, ldc, n, bias, ep.act, ep.alpha,
                               flags);
                    }
                }
                // Rows ic..ic+mc are final once the last K and N blocks are done:
                // softmax them while they are still in cache.
                if (softmax_here && last_k && jc + nc >= p.n1)
                    for (int64_t i = ic; i < ic + mc; ++i) kb.softmax_row(C + i * ldc, static_cast<std::size_t>(N));
                // The block (rows ic..ic+mc, columns jc..jc+nc) is final after the last K
                // block: the backward pass's derivative, while it is in cache.
                if (ep.dact >= 0 && last_k)
                    for (int64_t i = ic; i < ic + mc; ++i) {
                        T* c = C + i * ldc + jc;
                        kb.act_backward(ep.dact, ep.alpha, ep.dz_z + i * ep.ldz + jc, ep.dz_a + i * ep.lda + jc, c, c,
                                        static_cast<std::size_t>(nc));
                    }
            }
        }
    }
}

std::atomic<double> g_serial_flops{kDefaultTunables.serial_flops};
std::atomic<double> g_flops_per_thread{kDefaultTunables.flops_per_thread};
std::atomic<int64_t> g_direct_max_n{kDefaultTunables.direct_max_n};

}  // namespace

Tunables tunables() {
    return Tunables{g_serial_flops.load(std::memory_order_relaxed), g_flops_per_thread.load(std::memory_order_relaxed),
                    g_direct_max_n.load(std::memory_order_relaxed)};
}

void set_tunables(const Tunables& t) {
    if (!(t.serial_flops >= 0) || !(t.flops_per_thread > 0) || t.direct_max_n < 0)
        throw std::invalid_argument("tunables: serial_flops >= 0, flops_per_thread > 0, direct_max_n >= 0");
    g_serial_flops.store(t.serial_flops, std::memory_order_relaxed);
    g_flops_per_thread.store(t.flops_per_thread, std::memory_order_relaxed);
    g_direct_max_n.store(t.direct_max_n, std::memory_order_relaxed);
}

template <typename T>
std::size_t packed_w_size(const KernelBundle<T>& kb, int64_t N, int64_t K) {
    return static_cast<std::size_t>(ceil_div(N, kb.NR) * kb.NR * std::max<int64_t>(K, 1));
}

template <typename T>
void pack_w(const KernelBundle<T>& kb, const T* W, int64_t N, int64_t K, int64_t rsw, int64_t csw, T* Bp,
            int nthreads) {
    const int NR = kb.NR;
    const int64_t slivers = ceil_div(N, NR);
    auto pack_range = [&](int64_t s0, int64_t s1) { kb.pack_w(W, N, K, rsw, csw, s0, s1, Bp); };
    ThreadPool::instance().run_split(slivers, nthreads, N * K, int64_t(1) << 16, pack_range);
}

template <typename T>
void gemm_packed(const KernelBundle<T>& kb, int64_t M, int64_t N, int64_t K, const T* A, int64_t rsa,
                 int64_t csa, const T* Bp, T* C, int64_t ldc, const Epilogue<T>& ep, int nthreads) {
    if (M <= 0 || N <= 0) return;
    // One snapshot of the blocks and thresholds for the whole call (a tuner may change
    // them meanwhile; every snapshot gives the same bits).
    const Blocks blk = kb.blocks();
    const Tunables tu = tunables();
    // W (packed) read once per row task stays in this thread's L3 share between tasks?
    static const int64_t l3_share = cache_budget(cache_info()).l3_share;
    const double w_bytes = double(N) * double(std::max<int64_t>(K, 1)) * sizeof(T);
    const bool w_in_cache = w_bytes <= 0.5 * double(l3_share);
    const Split s = choose_split(M, N, K, kb.MR, kb.NR, nthreads, tu, w_in_cache, w_bytes,
                                 nthreads > 1 && ThreadPool::instance().workers_awake());
    if (s.parts <= 1) {
        gemm_part(kb, blk, tu.direct_max_n, K, A, rsa, csa, Bp, C, ldc, ep, Part{0, M, 0, N}, N);
        return;
    }
    auto task = [&](int t) { gemm_part(kb, blk, tu.direct_max_n, K, A, rsa, csa, Bp, C, ldc, ep, s.part(t, M, N), N); };
    ThreadPool::instance().run(s.parts, task);
    if (stop_requested()) return;  // the parts stopped early: C is unfinished anyway
    if (ep.act == ACT_SOFTMAX && !s.by_rows) rows_activate(kb, ACT_SOFTMAX, M, N, C, ldc, nthreads);
}

void dot_split(int64_t M, int64_t N, int64_t K, double w_bytes, int nthreads,
               const std::function<void(int64_t, int64_t)>& rows) {
    if (M <= 0 || N <= 0) return;
    const double flops = 2.0 * double(M) * double(N) * double(std::max<int64_t>(K, 1));
    const Tunables tu = tunables();
    int parts = 1;
    if (nthreads > 1 && flops >= tu.serial_flops) {
        parts = static_cast<int>(std::min<double>({double(nthreads), flops / tu.flops_per_thread, double(ceil_div(N, 8))}));
    } else if (nthreads > 1 && w_bytes >= kGemvSplitBytes && N > 8 &&
               split_memory_bound_now(ThreadPool::instance().workers_awake())) {
        // memory bound below serial_flops, as gemm_packed's one row tile: each worker
        // reads its rows of W from its own L2. Measured on the 2-core Zen 3, dense calls
        // back to back, 2 threads over 1 (one process, median of 15 alternating rounds):
        // (1,784,128) 1.22x, (1,512,512) 1.43x, (4,784,128) 1.21x; 1.0x before.
        parts = static_cast<int>(std::min<int64_t>(nthreads, ceil_div(N, 8)));
    }
    // 8-row blocks of W per task
    ThreadPool::instance().run_ranges(ceil_div(N, 8), parts,
                                      [&](int64_t u0, int64_t u1) { rows(std::min(N, u0 * 8), std::min(N, u1 * 8)); });
}

template <typename T>
void gemm_dot(const KernelBundle<T>& kb, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* W,
              int64_t ldw, T* C, int64_t ldc, const Epilogue<T>& ep, int nthreads) {
    if (M <= 0 || N <= 0) return;
    dot_split(M, N, K, double(N) * double(K) * sizeof(T), nthreads,
              [&](int64_t n0, int64_t n1) { kb.dot_rows(M, K, A, lda, W, ldw, n0, n1, ep.bias, C, ldc); });
    rows_activate(kb, ep.act, M, N, C, ldc, nthreads);
    if (ep.dact >= 0) act_backward<T>(ep.dact, M, N, ep.dz_z, ep.ldz, ep.dz_a, ep.lda, C, ldc, C, ldc, nthreads);
}

namespace {

// Rows of C (M, N) activated in place, each first copied from src when src is given (same
// row stride), on the pool: one pass over the rows while they are in cache.
template <typename T>
void activate_rows(const KernelBundle<T>& kb, int act, int64_t M, int64_t N, const T* src, T* C, int64_t ldc,
                   int nthreads) {
    if (M <= 0 || N <= 0 || (act == ACT_LINEAR && src == nullptr)) return;
    auto rows = [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; ++i) {
            T* c = C + i * ldc;
            if (src != nullptr) std::memcpy(c, src + i * ldc, sizeof(T) * static_cast<std::size_t>(N));
            if (act == ACT_LINEAR) continue;
            if (act == ACT_SOFTMAX && N <= kb.NR)  // the fused epilogue's arithmetic
                kb.softmax_short(c, static_cast<std::size_t>(N));
            else if (act == ACT_SOFTMAX)
                kb.softmax_row(c, static_cast<std::size_t>(N));
            else
                kb.act_inplace(act, c, static_cast<std::size_t>(N));
        }
    };
    ThreadPool::instance().run_split(M, nthreads, M * N, int64_t(1) << 15, rows);
}

}  // namespace

template <typename T>
void rows_activate(const KernelBundle<T>& kb, int act, int64_t M, int64_t N, T* C, int64_t ldc, int nthreads) {
    activate_rows<T>(kb, act, M, N, nullptr, C, ldc, nthreads);
}

template <typename T>
void rows_activate_copy(const KernelBundle<T>& kb, int act, int64_t M, int64_t N, const T* Z, T* A, int64_t ld,
                        int nthreads) {
    activate_rows<T>(kb, act, M, N, Z, A, ld, nthreads);
}

#define PYFWD_INSTANTIATE(T)                                                                              \
    template std::size_t packed_w_size<T>(const KernelBundle<T>&, int64_t, int64_t);                      \
    template void pack_w<T>(const KernelBundle<T>&, const T*, int64_t, int64_t, int64_t, int64_t, T*, int); \
    template void gemm_packed<T>(const KernelBundle<T>&, int64_t, int64_t, int64_t, const T*, int64_t,     \
                                 int64_t, const T*, T*, int64_t, const Epilogue<T>&, int);                \
    template void gemm_dot<T>(const KernelBundle<T>&, int64_t, int64_t, int64_t, const T*, int64_t, const T*,   \
                              int64_t, T*, int64_t, const Epilogue<T>&, int);                              \
    template void rows_activate<T>(const KernelBundle<T>&, int, int64_t, int64_t, T*, int64_t, int);           \
    template void rows_activate_copy<T>(const KernelBundle<T>&, int, int64_t, int64_t, const T*, T*, int64_t, int);
PYFWD_INSTANTIATE(float)
PYFWD_INSTANTIATE(double)
#undef PYFWD_INSTANTIATE

}  // namespace pyfwd
