// _core.vmath_apply(isa, func, x): the per-ISA vector math on a 1-D array, for the
// accuracy sweep of tests/test_vmath.py and quick timing. Portable code (no -m flags): it
// only calls the out-of-line entry points of vmath_api.h, after checking the CPU.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "cpu_features.h"
#include "kernels/avx2/vmath_api.h"
#include "kernels/avx512/vmath_api.h"
#include "kernels/generic/vmath_api.h"

namespace py = pybind11;

namespace {

// Codes of vmath_api.h's vmath_apply_*.
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
};

Entry isa_entry(const std::string& isa) {
    Entry e{};
    if (isa == "generic") {
        e = {pyfwd::generic::vmath_apply_f32, pyfwd::generic::vmath_apply_f64};
    } else if (isa == "avx2") {
        e = {pyfwd::avx2::vmath_apply_f32, pyfwd::avx2::vmath_apply_f64};
    } else if (isa == "avx512") {
        e = {pyfwd::avx512::vmath_apply_f32, pyfwd::avx512::vmath_apply_f64};
    } else {
        throw py::value_error("vmath_apply: unknown isa '" + isa + "'; valid: generic, avx2, avx512");
    }
    if (!pyfwd::cpu_supports(isa))
        throw py::value_error("vmath_apply: isa '" + isa + "' is not supported by this CPU");
    return e;
}

template <typename T>
py::array_t<T> apply(void (*fn)(int, const T*, T*, std::size_t), int code, const py::array& x) {
    auto in = py::array_t<T, py::array::c_style>::ensure(x);  // already contiguous: no copy
    if (!in) throw py::value_error("vmath_apply: x must be convertible to a 1-D float array");
    py::array_t<T> out(in.shape(0));
    const T* src = in.data();
    T* dst = out.mutable_data();
    const auto n = static_cast<std::size_t>(in.shape(0));
    {
        py::gil_scoped_release release;  // plain buffers from here on, no refcounts touched
        fn(code, src, dst, n);
    }
    return out;
}

}  // namespace

void register_vmath(py::module_& m) {
    m.def(
        "vmath_apply",
        [](const std::string& isa, const std::string& func, const py::array& x) -> py::array {
            const int code = func_code(func);
            const Entry e = isa_entry(isa);
            if (x.ndim() != 1) throw py::value_error("vmath_apply: x must be 1-D");
            if (x.dtype().is(py::dtype::of<float>())) return apply<float>(e.f32, code, x);
            if (x.dtype().is(py::dtype::of<double>())) return apply<double>(e.f64, code, x);
            throw py::type_error("vmath_apply: x must be float32 or float64");
        },
        py::arg("isa"), py::arg("func"), py::arg("x"),
        "Apply one of the ISA's vector-math functions (exp, tanh, erf, erfc, sigmoid, gelu, "
        "silu) elementwise to a 1-D float32/float64 array; returns a new array. The GIL is "
        "released during the computation. Test and timing hook.");
}
