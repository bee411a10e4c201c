#include "interrupt.h"

namespace pyfwd {
namespace {

thread_local CallControl* t_call = nullptr;
thread_local bool t_owner = false;

}  // namespace

CallControl* current_call() noexcept { return t_call; }

CallScope::CallScope(CallControl* call, bool owner) noexcept : prev_call_(t_call), prev_owner_(t_owner) {
    t_call = call;
    t_owner = owner;
}

CallScope::~CallScope() {
    t_call = prev_call_;
    t_owner = prev_owner_;
}

bool stop_requested() noexcept {
    const CallControl* c = t_call;
    return c != nullptr && c->stop.load(std::memory_order_relaxed);
}

void poll_interrupt() {
    CallControl* c = t_call;
    if (c == nullptr || !t_owner || c->check == nullptr || c->stop.load(std::memory_order_relaxed)) return;
    if (std::chrono::steady_clock::now() < c->next_check) return;
    if (c->check(c->ctx)) c->stop.store(true, std::memory_order_relaxed);
    c->next_check = std::chrono::steady_clock::now() + kPollEvery;
}

}  // namespace pyfwd
