// Picks one kernel bundle per ISA level, once at import (PYFWD_ISA or the best level
// the CPU supports); tests and benchmarks may switch levels in-process.
#pragma once
#include <cstdint>
#include <string>

#include "cpu_features.h"
#include "kernels/kernel_api.h"

namespace pyfwd {

struct Dispatch {
    Isa isa = Isa::generic;
    KernelBundle<float> f32;
    KernelBundle<double> f64;
    // FMA throughput probe of this level (float32): runs `iters` rounds, returns flops done.
    double (*fma_probe)(int64_t iters, float* sink) = nullptr;
    // Streaming-read probe of this level: the sum of n floats (64-byte aligned, n a
    // multiple of 16 * 8) read once with vector loads.
    double (*read_probe)(const float* p, int64_t n) = nullptr;
};

// The active bundle set. The first call chooses it (initial_isa(): may throw
// std::invalid_argument for a bad PYFWD_ISA); later calls are one atomic load.
const Dispatch& active_dispatch();
// Switch level in-process; throws std::invalid_argument if unknown or unsupported.
void set_active_isa(const std::string& name);

// The bundle set of one level (filled on first use), for tuning its blocks; throws
// std::invalid_argument if the level is unknown or unsupported.
Dispatch& dispatch_of(const std::string& name);
// Back to the blocks the cache rule gives (cache_info.h).
void reset_blocks(Dispatch& d);

template <typename T>
const KernelBundle<T>& bundle_of(const Dispatch& d);
template <>
inline const KernelBundle<float>& bundle_of<float>(const Dispatch& d) { return d.f32; }
template <>
inline const KernelBundle<double>& bundle_of<double>(const Dispatch& d) { return d.f64; }

}  // namespace pyfwd
