// _core.act_backward(act, Z, A, dA, out): the backward pass's dZ = dA * g'(Z), GIL released.
#include "backward.h"
#include "bindings.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

template <typename T>
py::array act_backward_impl(int act, const py::array& Z, const py::array& A, const py::array& dA,
                            const py::object& out) {
    if (act < 0 || act >= ACT_COUNT) throw std::invalid_argument("unknown activation code " + std::to_string(act));
    py::array kd, kz, ka;
    const MatView<T> g = mat_view<T>(dA, kd, "dA");
    const int64_t M = g.rows, N = g.cols;
    const MatView<T> d = row_view<T>(dA, kd, "dA", M, N);
    const MatView<T> z = row_view<T>(Z, kz, "Z", M, N);
    const MatView<T> a = row_view<T>(A, ka, "A", M, N);
    py::array result = out.is_none() ? py::array(py::array_t<T>({M, N})) : py::cast<py::array>(out);
    T* C = out_data<T>(result, M, N);
    if (M == 0 || N == 0) return result;
    const int nt = pool_threads();
    without_gil([&] { act_backward<T>(act, M, N, z.data, z.rs, a.data, a.rs, d.data, d.rs, C, N, nt); });
    return result;
}

}  // namespace
}  // namespace pyfwd

void register_backward(py::module_& m) {
    m.def(
        "act_backward",
        [](int act, const py::array& Z, const py::array& A, const py::array& dA, const py::object& out) {
            return pyfwd::is_f64(dA) ? pyfwd::act_backward_impl<double>(act, Z, A, dA, out)
                                     : pyfwd::act_backward_impl<float>(act, Z, A, dA, out);
        },
        py::arg("act"), py::arg("Z"), py::arg("A"), py::arg("dA"), py::arg("out") = py::none(),
        "dZ = dA * g'(Z) for the activation code act (softmax: each row's Jacobian-vector product "
        "a * (dA - <dA, a>)), Z, A = g(Z) and dA of one shape (M, N) and dtype; out: C-contiguous "
        "(M, N) or None. The GIL is released.");
}
