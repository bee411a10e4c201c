// Cooperative interruption (Ctrl-C) of a long call that runs with the GIL released.
// Portable code: no Python here; the binding side (bindings.h, without_gil) supplies the
// check that talks to Python.
//
// The binding installs a CallControl on its thread for the duration of the call. The
// long loops (the GEMM's blocks, a network's layers) then ask at block boundaries:
//   poll_interrupt()  on the calling thread only, and only once the call has run for
//                     kPollAfter, then at most every kPollEvery: runs the binding's check
//                     (Python's main thread: take the GIL briefly, PyErr_CheckSignals),
//                     which may ask the call to stop. A short call pays one clock read.
//   stop_requested()  on every thread working for the call (the pool's workers take on
//                     the caller's CallControl with the job): one relaxed atomic load.
// A stopped call leaves its outputs unfinished and returns once every task has returned,
// so the pool is idle and reusable; the binding then raises the Python error
// (KeyboardInterrupt) instead of returning anything.
#pragma once
#include <atomic>
#include <chrono>

namespace pyfwd {

constexpr std::chrono::milliseconds kPollAfter{20};  // first check after this long
constexpr std::chrono::milliseconds kPollEvery{20};  // then at most this often

struct CallControl {
    // Returns true to stop the call (the reason is the caller's to report); nullptr:
    // never checked (calls from threads that cannot receive signals).
    bool (*check)(void* ctx) = nullptr;
    void* ctx = nullptr;
    std::chrono::steady_clock::time_point next_check = std::chrono::steady_clock::now() + kPollAfter;
    std::atomic<bool> stop{false};
};

// The calling thread's CallControl (nullptr outside any call).
CallControl* current_call() noexcept;

// Marks this thread as working for `call` (owner: the thread that made the call) until
// destroyed; restores the previous state then. Touches no Python state.
class CallScope {
public:
    CallScope(CallControl* call, bool owner) noexcept;
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

private:
    CallControl* prev_call_;
    bool prev_owner_;
};

bool stop_requested() noexcept;
void poll_interrupt();

}  // namespace pyfwd
