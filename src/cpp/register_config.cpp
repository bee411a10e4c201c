// _core configuration: ISA level (query, list, switch), threads, block sizes, the FMA
// peak probe, the activation codes. The first call that needs kernels chooses the level:
// a bad PYFWD_ISA raises ValueError there, not at import, so that the Python side can
// report it as a misconfigured backend (backends/cpp.py) instead of a missing one.
#include <chrono>
#include <iterator>
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
    d["MC"] = kb.MC;
    d["KC"] = kb.KC;
    d["NC"] = kb.NC;
    return d;
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
        return c;
    });
    m.def(
        "_tune_blocks",
        [](const std::string& dtype, int MC, int KC, int NC) {
            // Tuning hook: changes the active level's cache blocks (not MR/NR, which fix the
            // packed layout). Not thread-safe; for block-size experiments only.
            Dispatch& d = const_cast<Dispatch&>(active_dispatch());
            auto set = [&](auto& kb) {
                if (MC % kb.MR != 0 || NC % kb.NR != 0 || KC < 1)
                    throw std::invalid_argument("MC must be a multiple of MR, NC of NR, KC >= 1");
                kb.MC = MC;
                kb.KC = KC;
                kb.NC = NC;
            };
            if (dtype == "float64") set(d.f64); else set(d.f32);
        },
        py::arg("dtype"), py::arg("MC"), py::arg("KC"), py::arg("NC"));
    m.def("fma_peak_gflops", &fma_peak_gflops, py::arg("threads") = 1, py::arg("seconds") = 0.2,
          "Measured float32 FMA throughput of the active ISA level, GFLOP/s over `threads` threads.");
}

// threadpoolctl finds thread pools by the file names of the loaded libraries, and
// `_core.<abi>.so` is a common name (SciPy ships one too). pyfwd's controller
// (pyfwd/_threads.py) also asks for this symbol, which only this library exports.
extern "C" PYBIND11_EXPORT const char pyfwd_threadpoolctl_marker[] = "pyfwd";
