// _core.vmath_apply(isa, func, x): the per-ISA vector math on a 1-D array, for the
// accuracy sweep of tests/test_vmath.py and quick timing; vmath_act(isa, act, x) and
// vmath_softmax(isa, x) run the row passes the GEMM uses (act_inplace_*, softmax_row_*) on
// a copy of x. Portable code (no -m flags): it
// only calls the out-of-line entry points of kernels/kernel_api.h, after checking the CPU.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "bindings.h"
#include "cpu_features.h"
#include "kernels/kernel_api.h"

namespace py = pybind11;

namespace {

// Codes of kernel_api.h's vmath_apply_*.
constexpr const char* kFuncs[] = {"exp", "tanh", "erf", "sigmoid", "gelu", "silu", "erfc"};

int func_code(const std::string& name) {
    for (int i = 0; i < static_cast<int>(sizeof(kFuncs) / sizeof(kFuncs[0])); ++i)
        if (name == kFuncs[i]) return i;
    throw py::value_error("vmath_apply: unknown func '" + name +
                          "'; valid: exp, tanh, erf, erfc, sigmoid, gelu, silu");
}

struct Entry {
    void (*f32)(int, const float*, float*, std::size_t);
    void (*f64)(int, const double*, double*, std::size_t);
    void (*act32)(int, float*, std::size_t);
    void (*act64)(int, double*, std::size_t);
    void (*soft32)(float*, std::size_t);
    void (*soft64)(double*, std::size_t);
};

#define PYFWD_VMATH_ENTRY(ns)                                                        \
    Entry {                                                                          \
        ns::vmath_apply_f32, ns::vmath_apply_f64, ns::act_inplace_f32, ns::act_inplace_f64, \
            ns::softmax_row_f32, ns::softmax_row_f64                                 \
    }

Entry isa_entry(const std::string& isa) {
#define PYFWD_VMATH_CASE(ns) \
    if (isa == #ns) e = PYFWD_VMATH_ENTRY(pyfwd::ns);
    Entry e{};
    PYFWD_ISA_LIST(PYFWD_VMATH_CASE)
#undef PYFWD_VMATH_CASE
    if (e.f32 == nullptr)
        throw py::value_error("vmath: unknown isa '" + isa + "'; valid: " + pyfwd::known_isas_text());
    if (!pyfwd::cpu_supports(isa))
        throw py::value_error("vmath: isa '" + isa + "' is not supported by this CPU");
    return e;
}
#undef PYFWD_VMATH_ENTRY

template <typename T>
py::array_t<T, py::array::c_style> as_vector(const py::array& x) {
    if (x.ndim() != 1) throw py::value_error("vmath: x must be 1-D");
    return py::array_t<T, py::array::c_style>::ensure(x);  // already contiguous: no copy
}

// Runs `body(src, dst, n)` with the GIL released (plain buffers, no refcounts touched).
template <typename T, typename F>
py::array run(const py::array& x, F body) {
    auto in = as_vector<T>(x);
    py::array_t<T> out(in.shape(0));
    const T* src = in.data();
    T* dst = out.mutable_data();
    const auto n = static_cast<std::size_t>(in.shape(0));
    pyfwd::without_gil([&] { body(src, dst, n); });
    return out;
}

// float32 / float64 dispatch on x's dtype; anything else is a TypeError.
template <typename F32, typename F64>
py::array by_dtype(const py::array& x, F32 f32, F64 f64) {
    if (x.ndim() != 1) throw py::value_error("vmath: x must be 1-D");
    // array_t's check: dtype equivalence, not identity (an unpickled dtype may be a copy)
    if (py::isinstance<py::array_t<float>>(x)) return run<float>(x, f32);
    if (py::isinstance<py::array_t<double>>(x)) return run<double>(x, f64);
    throw py::type_error("vmath: x must be float32 or float64");
}

template <typename T>
void copy_n(const T* src, T* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i];
}

}  // namespace

void register_vmath(py::module_& m) {
    m.def(
        "vmath_apply",
        [](const std::string& isa, const std::string& func, const py::array& x) {
            const int code = func_code(func);
            const Entry e = isa_entry(isa);
            return by_dtype(
                x, [&](const float* s, float* d, std::size_t n) { e.f32(code, s, d, n); },
                [&](const double* s, double* d, std::size_t n) { e.f64(code, s, d, n); });
        },
        py::arg("isa"), py::arg("func"), py::arg("x"),
        "Apply one of the ISA's vector-math functions (exp, tanh, erf, erfc, sigmoid, gelu, "
        "silu) elementwise to a 1-D float32/float64 array; returns a new array. The GIL is "
        "released during the computation. Test and timing hook.");
    m.def(
        "vmath_act",
        [](const std::string& isa, int act, const py::array& x) {
            if (act < 0 || act >= pyfwd::ACT_COUNT)
                throw py::value_error("vmath_act: act must be an activation code 0.." +
                                      std::to_string(pyfwd::ACT_COUNT - 1) + ", got " + std::to_string(act));
            const Entry e = isa_entry(isa);
            return by_dtype(
                x, [&](const float* s, float* d, std::size_t n) { copy_n(s, d, n); e.act32(act, d, n); },
                [&](const double* s, double* d, std::size_t n) { copy_n(s, d, n); e.act64(act, d, n); });
        },
        py::arg("isa"), py::arg("act"), py::arg("x"),
        "The GEMM's elementwise row pass act_inplace (activation code as in "
        "pyfwd.activations.ACT_CODE; softmax leaves values unchanged) on a copy of x.");
    m.def(
        "vmath_softmax",
        [](const std::string& isa, const py::array& x) {
            const Entry e = isa_entry(isa);
            return by_dtype(
                x, [&](const float* s, float* d, std::size_t n) { copy_n(s, d, n); e.soft32(d, n); },
                [&](const double* s, double* d, std::size_t n) { copy_n(s, d, n); e.soft64(d, n); });
        },
        py::arg("isa"), py::arg("x"), "The GEMM's softmax row pass on a copy of the 1-D x.");
}
