// A persistent pool of std::thread workers (no OpenMP: no libgomp, no fork hang).
//
// run(ntasks, f) calls f(task) for every task in [0, ntasks), the calling thread
// working too. Results must not depend on which thread runs a task (the GEMM splits
// output rows/columns, never K), so any schedule gives bitwise identical output.
// One parallel region at a time: a second caller (another Python thread) that finds
// the pool busy runs its tasks itself, serially. After fork() the child gets a fresh
// pool on first use (the parent's workers do not exist there). The workers run a job's
// tasks under the caller's CallControl (interrupt.h), so they see a stop request.
#pragma once
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace pyfwd {

struct CallControl;

class ThreadPool {
public:
    // The process's pool (rebuilt lazily in a forked child).
    static ThreadPool& instance();

    // Total threads including the caller; >= 1. If the threads cannot be started, the
    // previous count stays in use (num_threads() says so) and std::runtime_error is thrown.
    void set_num_threads(int n);
    int num_threads() const { return nthreads_.load(std::memory_order_relaxed); }

    // Whether no worker is asleep: each is running a task, spinning or polling, so a
    // parallel region starting now costs no wake-up (a back-to-back loop of calls).
    bool workers_awake() const { return sleepers_.load(std::memory_order_relaxed) == 0; }
    // Wake the sleeping workers without giving them work: they spin and poll again as
    // after a parallel region, so that the next call finds them awake. For callers that
    // run a small product alone rather than wait for a wake-up (gemm.cpp).
    void wake_workers();

    template <class F>
    void run(int ntasks, F& f) {
        run_impl(ntasks, [](void* ctx, int t) { (*static_cast<F*>(ctx))(t); }, &f);
    }

    // range(u0, u1) over [0, units) cut into `parts` contiguous, balanced pieces (piece t:
    // [units*t/parts, units*(t+1)/parts)), one task each; on the calling thread alone
    // when parts <= 1. The element-wise loops' split (activation derivative, optimiser
    // updates, packing): any cut gives the same bits.
    template <class F>
    void run_ranges(int64_t units, int parts, F&& range) {
        if (parts <= 1) {
            range(int64_t(0), units);
            return;
        }
        auto task = [&](int t) { range(units * t / parts, units * (t + 1) / parts); };
        run(parts, task);
    }

    // run_ranges over [0, units) in min(nthreads, units) parts when `work` (the elements
    // the loop touches) reaches `min_work`, else on the calling thread alone: the split
    // of every element-wise loop, each with its own threshold.
    template <class F>
    void run_split(int64_t units, int nthreads, int64_t work, int64_t min_work, F&& range) {
        int parts = 1;
        if (nthreads > 1 && work >= min_work) parts = static_cast<int>(std::min<int64_t>(nthreads, units));
        run_ranges(units, parts, std::forward<F>(range));
    }

private:
    using TaskFn = void (*)(void*, int);
    explicit ThreadPool(int n);
    ~ThreadPool() = delete;  // never destroyed: workers may outlive static destruction
    void run_impl(int ntasks, TaskFn fn, void* ctx);
    void start_workers(int n);
    void stop_workers();
    void worker_loop(uint64_t start_gen);
    void work(TaskFn fn, void* ctx, int ntasks);

    std::atomic<int> nthreads_{1};
    std::vector<std::thread> workers_;
    std::mutex run_mutex_;  // one parallel region at a time

    // job state, published under m_ with a new generation
    std::mutex m_;
    std::condition_variable cv_;
    std::condition_variable done_cv_;  // the caller sleeps here after spinning
    std::atomic<int> sleepers_{0};  // changed under m_; read without it by workers_awake()
    uint64_t nudges_ = 0;           // under m_: bumped by wake_workers()
    bool stop_ = false;
    std::atomic<uint64_t> gen_{0};
    TaskFn fn_ = nullptr;
    void* ctx_ = nullptr;
    CallControl* call_ = nullptr;  // the caller's, for stop requests
    int ntasks_ = 0;
    std::atomic<int> next_{0};
    std::atomic<int> done_{0};
    std::atomic<int> active_workers_{0};
};

}  // namespace pyfwd
