#include "thread_pool.h"

#include <pthread.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "interrupt.h"

namespace {
// One iteration of a spin-wait: tells the core this thread is waiting (frees execution
// resources for a sibling hyperthread, saves power), without giving up the time slice.
// No intrinsics header: `pause` (rep nop) exists on every x86, `yield` on every ARMv7+/v8;
// other architectures just spin.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}
}  // namespace

namespace pyfwd {
namespace {

ThreadPool* g_pool = nullptr;      // leaked on purpose (see ~ThreadPool)
std::mutex g_pool_mutex;
std::atomic<bool> g_forked{false};  // set in the child by pthread_atfork

void on_fork_child() { g_forked.store(true, std::memory_order_relaxed); }

// An idle worker first spins (pause only) for kSpin: back-to-back calls (the layers of
// one forward, a serving loop) then cost no wake-up. It then keeps polling, yielding its
// core to any other runnable thread between polls, until kSpinYield, and only then
// sleeps. The yielding phase costs nothing to a busy machine (a runnable thread gets the
// core at once) but keeps an otherwise idle core busy: on virtual machines (KVM) and
// hosts with utilisation-driven clocks, a core whose thread slept for a few ms comes
// back slowly. Measured on the 2-core Zen 3 guest, [784,128,10] batch 1024, bursts of
// 6 calls 50 ms apart: 2 threads 3.0 ms per call with a 200 us spin (no faster than 1
// thread, 2.7 ms), 1.4-1.5 ms with the worker kept polling (as with back-to-back calls).
// OpenBLAS's and OpenMP runtimes' workers do the same for 0.1-200 ms.
constexpr auto kSpin = std::chrono::microseconds(200);
constexpr auto kSpinYield = std::chrono::milliseconds(20);
// How long the caller spins for the workers' last tasks before sleeping.
constexpr auto kCallerSpin = std::chrono::microseconds(50);

}  // namespace

ThreadPool& ThreadPool::instance() {
    if (g_pool != nullptr && !g_forked.load(std::memory_order_relaxed)) return *g_pool;
    if (g_forked.load(std::memory_order_relaxed)) {
        // In a forked child: the old pool's threads and its locks' owners are gone.
        // Abandon it (never touch its mutexes) and build a fresh one, same size.
        const int n = g_pool != nullptr ? g_pool->num_threads() : 1;
        g_pool = new ThreadPool(n);
        g_forked.store(false, std::memory_order_relaxed);
        return *g_pool;
    }
    std::lock_guard<std::mutex> lk(g_pool_mutex);
    if (g_pool == nullptr) {
        pthread_atfork(nullptr, nullptr, &on_fork_child);
        g_pool = new ThreadPool(1);
    }
    return *g_pool;
}

ThreadPool::ThreadPool(int n) { start_workers(n); }

void ThreadPool::start_workers(int n) {
    if (n < 1) n = 1;
    stop_ = false;
    workers_.reserve(static_cast<size_t>(n - 1));
    // The generation a worker starts from is read here, not in the new thread: a stop
    // (or job) published before the thread first runs must still be seen as new.
    const uint64_t gen = gen_.load(std::memory_order_acquire);
    for (int i = 1; i < n; ++i) workers_.emplace_back(&ThreadPool::worker_loop, this, gen);
    nthreads_.store(n, std::memory_order_relaxed);  // only once they all run
}

void ThreadPool::stop_workers() {
    {
        std::lock_guard<std::mutex> lk(m_);
        stop_ = true;
        gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
}

void ThreadPool::set_num_threads(int n) {
    if (n < 1) n = 1;
    std::lock_guard<std::mutex> lk(run_mutex_);
    const int old = num_threads();
    if (n == old) return;
    stop_workers();
    try {
        start_workers(n);
    } catch (const std::exception& e) {  // std::thread: system_error; reserve: bad_alloc
        // Back to the previous count (or, if even that fails, to the caller alone), so
        // that num_threads() tells the truth and the pool stays usable.
        stop_workers();
        int now = old;
        try {
            start_workers(old);
        } catch (const std::exception&) {
            stop_workers();
            start_workers(1);  // starts no thread
            now = 1;
        }
        throw std::runtime_error("could not start " + std::to_string(n) + " threads (" + e.what() +
                                 "); still using " + std::to_string(now));
    }
}

void ThreadPool::wake_workers() {
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
    {
        std::lock_guard<std::mutex> lk(m_);
        ++nudges_;
    }
    cv_.notify_all();
}

void ThreadPool::work(TaskFn fn, void* ctx, int ntasks) {
    for (;;) {
        const int t = next_.fetch_add(1, std::memory_order_relaxed);
        if (t >= ntasks) break;
        fn(ctx, t);
        if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == ntasks) {
            // the last task: wake the caller if it stopped spinning
            std::lock_guard<std::mutex> lk(m_);
            done_cv_.notify_all();
        }
    }
}

void ThreadPool::worker_loop(uint64_t seen) {
    for (;;) {
        // spin a little, then sleep on the condition variable
        auto t0 = std::chrono::steady_clock::now();
        int spins = 0;
        while (gen_.load(std::memory_order_acquire) == seen) {
            cpu_relax();
            if (++spins % 64 != 0) continue;
            const auto idle = std::chrono::steady_clock::now() - t0;
            if (idle > kSpin && idle <= kSpinYield) {
                std::this_thread::yield();
            } else if (idle > kSpinYield) {
                std::unique_lock<std::mutex> lk(m_);
                ++sleepers_;
                const uint64_t nudge = nudges_;
                cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen || nudges_ != nudge; });
                --sleepers_;
                if (gen_.load(std::memory_order_acquire) != seen) break;
                // nudged (wake_workers): spin and poll again, ready for the next call
                t0 = std::chrono::steady_clock::now();
                spins = 0;
            }
        }
        TaskFn fn;
        void* ctx;
        CallControl* call;
        int ntasks;
        {
            std::lock_guard<std::mutex> lk(m_);
            seen = gen_.load(std::memory_order_acquire);
            if (stop_) return;
            fn = fn_;
            ctx = ctx_;
            call = call_;
            ntasks = ntasks_;
            active_workers_.fetch_add(1, std::memory_order_acq_rel);
        }
        if (fn != nullptr) {
            CallScope scope(call, /*owner=*/false);
            work(fn, ctx, ntasks);
        }
        active_workers_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::run_impl(int ntasks, TaskFn fn, void* ctx) {
    if (ntasks <= 0) return;
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (ntasks == 1 || workers_.empty() || !busy.owns_lock()) {
        for (int t = 0; t < ntasks; ++t) fn(ctx, t);
        return;
    }
    int sleepers;
    {
        std::lock_guard<std::mutex> lk(m_);
        fn_ = fn;
        ctx_ = ctx;
        call_ = current_call();
        ntasks_ = ntasks;
        next_.store(0, std::memory_order_relaxed);
        done_.store(0, std::memory_order_relaxed);
        gen_.fetch_add(1, std::memory_order_release);
        sleepers = sleepers_;
    }
    if (sleepers > 0) cv_.notify_all();
    work(fn, ctx, ntasks);
    // Wait for the workers' tasks: spin briefly, then sleep (a worker delayed by a busy
    // machine then gets this core instead of a spinning caller). No sched_yield here or
    // in the workers' spin: next to a CPU-bound process a yield hands it the core for a
    // whole time slice (milliseconds), and the worker then missed the jobs (measured:
    // the caller ended up running nearly every task itself).
    const auto t0 = std::chrono::steady_clock::now();
    for (int spins = 1; done_.load(std::memory_order_acquire) < ntasks; ++spins) {
        cpu_relax();
        if (spins % 64 == 0 && std::chrono::steady_clock::now() - t0 > kCallerSpin) {
            // Sleep until the workers are done, waking every kPollEvery: a caller left
            // without a task (the workers took them all) must still see Ctrl-C, which
            // only it can take (interrupt.h); the workers then stop at their next block.
            const auto all_done = [&] { return done_.load(std::memory_order_acquire) >= ntasks; };
            for (;;) {
                {
                    std::unique_lock<std::mutex> lk(m_);
                    if (done_cv_.wait_for(lk, kPollEvery, all_done)) break;
                }
                poll_interrupt();  // without m_ held: it may run Python's signal handlers
            }
            break;
        }
    }
    // Workers that woke late may still be between reading the job and finding no task:
    // retire the job before the caller's stack frame (ctx) goes away.
    {
        std::lock_guard<std::mutex> lk(m_);
        fn_ = nullptr;
    }
    while (active_workers_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

}  // namespace pyfwd
