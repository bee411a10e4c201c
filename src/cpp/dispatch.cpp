#include "dispatch.h"

#include <atomic>
#include <cmath>
#include <cstddef>
#include <limits>
#include <mutex>
#include <stdexcept>

namespace pyfwd {
namespace {

Dispatch g_table[kIsaCount];  // constant-initialized (no constructor runs); filled on first use
bool g_filled[kIsaCount] = {};
std::mutex g_mutex;
std::atomic<const Dispatch*> g_active{nullptr};

template <typename T>
void rule_blocks(KernelBundle<T>& kb) {
    kb.set_blocks(blocks_from_caches(kb.rule, cache_budget(cache_info()), kb.MR, kb.NR, int(sizeof(T))), "cache rule");
}

// Called only after cpu_supports(isa) said yes: fill_bundle of an ISA folder may itself
// use that ISA's instructions. The levels and their entry points: kernels/kernel_api.h.
Dispatch* filled(Isa isa) {
    const int i = static_cast<int>(isa);
    Dispatch& d = g_table[i];
    if (!g_filled[i]) {
        d.isa = isa;
        switch (isa) {
#define PYFWD_FILL(ns)                                \
    case Isa::ns:                                     \
        ns::fill_bundle(d.f32, d.f64);                \
        d.f32.act_inplace = &ns::act_inplace_f32;     \
        d.f64.act_inplace = &ns::act_inplace_f64;     \
        d.f32.softmax_row = &ns::softmax_row_f32;     \
        d.f64.softmax_row = &ns::softmax_row_f64;     \
        d.f32.act_backward = &ns::act_backward_f32;   \
        d.f64.act_backward = &ns::act_backward_f64;   \
        d.f32.sgd_update = &ns::sgd_update_f32;       \
        d.f64.sgd_update = &ns::sgd_update_f64;       \
        d.f32.adam_update = &ns::adam_update_f32;     \
        d.f64.adam_update = &ns::adam_update_f64;     \
        d.fma_probe = &ns::fma_probe;                 \
        d.read_probe = &ns::read_probe;               \
        break;
            PYFWD_ISA_LIST(PYFWD_FILL)
#undef PYFWD_FILL
        }
        reset_blocks(d);  // the cache rule's blocks
        g_filled[i] = true;
    }
    return &d;
}

}  // namespace

const Dispatch& active_dispatch() {
    const Dispatch* d = g_active.load(std::memory_order_acquire);
    if (d != nullptr) return *d;
    std::lock_guard<std::mutex> lk(g_mutex);
    d = g_active.load(std::memory_order_relaxed);
    if (d == nullptr) {
        d = filled(initial_isa());  // throws on a bad PYFWD_ISA
        g_active.store(d, std::memory_order_release);
    }
    return *d;
}

Dispatch& dispatch_of(const std::string& name) {
    const Isa isa = parse_isa(name);
    if (!cpu_supports(isa))
        throw std::invalid_argument("ISA level '" + name + "' is not supported by this CPU; supported here: " +
                                    supported_isas_text());
    std::lock_guard<std::mutex> lk(g_mutex);
    return *filled(isa);
}

void reset_blocks(Dispatch& d) {
    rule_blocks(d.f32);
    rule_blocks(d.f64);
}

void set_active_isa(const std::string& name) {
    g_active.store(&dispatch_of(name), std::memory_order_release);  // a filled entry never changes address
}

}  // namespace pyfwd
