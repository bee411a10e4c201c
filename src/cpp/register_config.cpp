// _core configuration: ISA level (query, list, switch), threads, block sizes, the FMA
// peak probe, the activation codes. The first call that needs kernels chooses the level:
// a bad PYFWD_ISA raises ValueError there, not at import, so that the Python side can
// report it as a misconfigured backend (backends/cpp.py) instead of a missing one.
#include <algorithm>
#include <chrono>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings.h"
#include "gemm.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

template <typename T>
py::dict bundle_dict(const KernelBundle<T>& kb) {
    py::dict d;
    d["ukr"] = kb.ukr_name;
    d["MR"] = kb.MR;
    d["NR"] = kb.NR;
    d["MW"] = kb.MW;
    d["NW"] = kb.NW;
    const Blocks b = kb.blocks();
    d["MC"] = b.MC;
    d["KC"] = b.KC;
    d["NC"] = b.NC;
    d["source"] = std::string(kb.blocks_source.load(std::memory_order_relaxed));
    return d;
}

py::dict caches_dict() {
    const CacheInfo& c = cache_info();
    const CacheBudget b = cache_budget(c);
    py::dict d;
    d["l1d"] = c.l1d;
    d["l2"] = c.l2;
    d["l3"] = c.l3;
    d["l2_sharing"] = c.l2_sharing;
    d["l3_sharing"] = c.l3_sharing;
    d["l3_share"] = b.l3_share;
    d["source"] = c.source;
    return d;
}

py::dict tunables_dict() {
    const Tunables t = tunables();
    py::dict d;
    d["serial_flops"] = t.serial_flops;
    d["flops_per_thread"] = t.flops_per_thread;
    d["direct_max_n"] = t.direct_max_n;
    return d;
}

template <typename T>
void set_bundle_blocks(KernelBundle<T>& kb, int MC, int KC, int NC, const char* source) {
    constexpr int kMax = 1 << 20;
    if (MC < kb.MR || MC > kMax || MC % kb.MR != 0)
        throw std::invalid_argument("MC must be a positive multiple of MR = " + std::to_string(kb.MR) +
                                    " (at most 2^20), got " + std::to_string(MC));
    if (NC < kb.NR || NC > kMax || NC % kb.NR != 0)
        throw std::invalid_argument("NC must be a positive multiple of NR = " + std::to_string(kb.NR) +
                                    " (at most 2^20), got " + std::to_string(NC));
    if (KC < 8 || KC > kMax) throw std::invalid_argument("KC must be in [8, 2^20], got " + std::to_string(KC));
    kb.set_blocks(Blocks{MC, KC, NC}, source);
}

// Each thread runs the active level's FMA loop for about `seconds`; GFLOP/s summed.
double fma_peak_gflops(int threads, double seconds) {
    const Dispatch& d = active_dispatch();
    if (threads < 1) threads = 1;
    ThreadPool& pool = ThreadPool::instance();
    const int saved = pool.num_threads();
    if (threads != saved) pool.set_num_threads(threads);
    // calibrate one thread: iterations per second
    float sink = 0.5f;
    int64_t iters = 1 << 16;
    double rate = 0;
    for (;;) {
        auto t0 = std::chrono::steady_clock::now();
        d.fma_probe(iters, &sink);
        const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (dt > 0.02 || iters > (int64_t(1) << 40)) {
            rate = double(iters) / dt;
            break;
        }
        iters *= 4;
    }
    const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(rate * seconds));
    std::vector<double> flops(threads, 0.0), secs(threads, 0.0);
    std::vector<float> sinks(threads, 0.5f);
    auto task = [&](int t) {
        auto t0 = std::chrono::steady_clock::now();
        flops[t] = d.fma_probe(n, &sinks[t]);
        secs[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    without_gil([&] { pool.run(threads, task); });
    if (threads != saved) pool.set_num_threads(saved);
    double total = 0;
    for (int t = 0; t < threads; ++t) total += flops[t] / secs[t];
    return total * 1e-9;
}

// Each of `threads` threads reads its own contiguous part of one `bytes` buffer (filled
// by that thread first, so its pages are its own) with the active level's read probe;
// GB/s of each whole round (the slowest thread ends it), the median of the rounds run in
// about `seconds` (at least 3). What a plain streaming read of that many bytes reaches:
// the ceiling of a memory-bound call that reads them once (batch-1 inference).
double stream_read_gbps(int64_t bytes, int threads, double seconds) {
    const Dispatch& d = active_dispatch();
    if (threads < 1) threads = 1;
    // at most 1 GiB: each float lane then sums at most 2^24 ones, exactly (the check below)
    if (bytes < 4096 || bytes > (int64_t(1) << 30))
        throw std::invalid_argument("bytes must be in [4096, 2^30], got " + std::to_string(bytes));
    constexpr int64_t kChunk = 128;  // floats: 512 B, a multiple of every level's 8 vectors
    const int64_t per = std::max<int64_t>(kChunk, (bytes / 4 / threads) / kChunk * kChunk);
    AlignedBuf<float> buf;
    float* p = buf.ensure(static_cast<std::size_t>(per * threads));
    ThreadPool& pool = ThreadPool::instance();
    const int saved = pool.num_threads();
    if (threads != saved) pool.set_num_threads(threads);
    std::vector<double> sums(threads, 0.0);
    auto fill = [&](int t) { std::fill(p + t * per, p + (t + 1) * per, 1.0f); };
    auto read = [&](int t) { sums[t] += d.read_probe(p + t * per, per); };
    std::vector<double> rates;
    without_gil([&] {
        pool.run(threads, fill);
        pool.run(threads, read);  // warm-up: page tables, the workers awake
        const auto start = std::chrono::steady_clock::now();
        for (;;) {
            const auto t0 = std::chrono::steady_clock::now();
            pool.run(threads, read);
            const auto t1 = std::chrono::steady_clock::now();
            rates.push_back(double(per * threads) * 4.0 / std::chrono::duration<double>(t1 - t0).count() * 1e-9);
            const double spent = std::chrono::duration<double>(t1 - start).count();
            if ((rates.size() >= 3 && spent >= seconds) || rates.size() >= 1000) break;
        }
    });
    if (threads != saved) pool.set_num_threads(saved);
    double check = 0;
    for (double v : sums) check += v;
    if (check != double(per * threads) * double(rates.size() + 1))  // every float read, every round
        throw std::runtime_error("stream_read_gbps: the read probe's sum is wrong");
    std::nth_element(rates.begin(), rates.begin() + rates.size() / 2, rates.end());
    return rates[rates.size() / 2];
}

}  // namespace
}  // namespace pyfwd

void register_config(py::module_& m) {
    using namespace pyfwd;
    m.def(
        "activation_names",
        [] { return std::vector<std::string>(std::begin(kActNames), std::end(kActNames)); },
        "Activation names in code order (epilogue.h Act); must equal pyfwd.activations.ACTIVATIONS.");
    m.attr("LEAKY_SLOPE") = LEAKY_SLOPE;
    m.def("isa", [] { return std::string(isa_name(active_dispatch().isa)); }, "The active ISA level.");
    m.def("supported_isas", &supported_isas, "ISA levels this CPU (and OS) supports, worst to best.");
    m.def("cpu_supports", py::overload_cast<const std::string&>(&cpu_supports), py::arg("isa"));
    m.def("set_isa", &set_active_isa, py::arg("name"),
          "Switch the ISA level in-process (ValueError if unknown or unsupported).");
    m.def("cpu_features", &cpu_feature_names);
    m.def("set_num_threads", [](int n) { ThreadPool::instance().set_num_threads(n); }, py::arg("n"));
    m.def("get_num_threads", [] { return ThreadPool::instance().num_threads(); });
    m.def("config", [] {
        const Dispatch& d = active_dispatch();
        py::dict c;
        c["isa"] = isa_name(d.isa);
        c["supported_isas"] = supported_isas();
        c["cpu_features"] = cpu_feature_names();
        c["threads"] = ThreadPool::instance().num_threads();
        py::dict blocks;
        blocks["float32"] = bundle_dict(d.f32);
        blocks["float64"] = bundle_dict(d.f64);
        c["blocks"] = blocks;
        c["dot_max_m"] = kDotMaxM;  // dense() with at most this many rows: W not packed
        c["caches"] = caches_dict();
        c["tunables"] = tunables_dict();
        return c;
    });
    m.def("cache_info", &caches_dict,
          "This CPU's data caches (bytes), the CPUs sharing L2/L3, and where they were read from.");
    m.def(
        "set_blocks",
        [](const std::string& isa, const std::string& dtype, int MC, int KC, int NC, const std::string& source) {
            // Changes one level's cache blocks (not MR/NR, which fix the packed layout);
            // running and later calls see either the old or the new blocks, and every
            // choice gives the same bits.
            Dispatch& d = dispatch_of(isa);
            static const char* const kSources[] = {"set", "tuned", "cache rule"};
            const char* src = source == "tuned" ? kSources[1] : source == "cache rule" ? kSources[2] : kSources[0];
            if (dtype == "float64")
                set_bundle_blocks(d.f64, MC, KC, NC, src);
            else if (dtype == "float32")
                set_bundle_blocks(d.f32, MC, KC, NC, src);
            else
                throw std::invalid_argument("dtype must be 'float32' or 'float64', got '" + dtype + "'");
        },
        py::arg("isa"), py::arg("dtype"), py::arg("MC"), py::arg("KC"), py::arg("NC"), py::arg("source") = "set");
    m.def(
        "reset_blocks", [](const std::string& isa) { reset_blocks(dispatch_of(isa)); }, py::arg("isa"),
        "Back to the blocks the cache rule gives for this level.");
    m.def("blocks", [](const std::string& isa) {
        Dispatch& d = dispatch_of(isa);
        py::dict b;
        b["float32"] = bundle_dict(d.f32);
        b["float64"] = bundle_dict(d.f64);
        return b;
    }, py::arg("isa"), "One level's register tiles and cache blocks, by dtype.");
    m.def(
        "tunables",
        &tunables_dict,
        "The GEMM driver's threading and path thresholds.");
    m.def(
        "set_tunables",
        [](double serial_flops, double flops_per_thread, int64_t direct_max_n) {
            set_tunables(Tunables{serial_flops, flops_per_thread, direct_max_n});
        },
        py::arg("serial_flops") = kDefaultTunables.serial_flops,
        py::arg("flops_per_thread") = kDefaultTunables.flops_per_thread,
        py::arg("direct_max_n") = kDefaultTunables.direct_max_n);
    m.def("fma_peak_gflops", &fma_peak_gflops, py::arg("threads") = 1, py::arg("seconds") = 0.2,
          "Measured float32 FMA throughput of the active ISA level, GFLOP/s over `threads` threads.");
    m.def("stream_read_gbps", &stream_read_gbps, py::arg("bytes"), py::arg("threads") = 1,
          py::arg("seconds") = 0.3,
          "Measured streaming read of a `bytes` buffer split over `threads` threads (active ISA level's "
          "vector loads), GB/s: the median of the rounds run in about `seconds`.");
}

// threadpoolctl finds thread pools by the file names of the loaded libraries, and
// `_core.<abi>.so` is a common name (SciPy ships one too). pyfwd's controller
// (pyfwd/_threads.py) also asks for this symbol, which only this library exports.
extern "C" PYBIND11_EXPORT const char pyfwd_threadpoolctl_marker[] = "pyfwd";
