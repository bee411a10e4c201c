// The training bindings: _core.softmax_cross_entropy (the loss head, loss_head.h) and
// _core.sgd_update / _core.adam_update (the optimisers' fused parameter updates,
// optim.h), GIL released. The optimisers: pyfwd.optim calls them with arrays it owns: every array
// C-contiguous, of one dtype (float32 or float64) and one size; the state arrays
// (buf, m, v) writable. Anything else is refused, never copied (the state is updated
// in place). The new parameter comes back as a new immutable bytes object, written
// before anything else can see it (CPython's own pattern for building bytes): the
// network wraps it as a read-only array without another copy (network._frozen).
#include "bindings.h"
#include "loss_head.h"
#include "optim.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

// A new bytes object of n elements of T, uninitialised, and its buffer.
template <typename T>
py::bytes new_bytes(py::ssize_t n, T*& data) {
    PyObject* b = PyBytes_FromStringAndSize(nullptr, n * static_cast<py::ssize_t>(sizeof(T)));
    if (b == nullptr) throw py::error_already_set();
    data = reinterpret_cast<T*>(PyBytes_AS_STRING(b));
    return py::reinterpret_steal<py::bytes>(b);
}

// One parameter of a step: p and g read, up to two state arrays (SGD's momentum buffer;
// Adam's m and v; None entries give nullptr) updated in place, the new value into a
// fresh bytes object appended to out. All parameters of a step are checked and set up
// first, then updated in one call: one GIL release, and each parameter split over the
// pool when it is large (optim.cpp).
template <typename T>
struct ParamJob {
    py::ssize_t n = 0;
    const T* P = nullptr;
    const T* G = nullptr;
    T* S[2] = {nullptr, nullptr};
    T* O = nullptr;
};

template <typename T>
std::vector<ParamJob<T>> param_jobs(const char* fn, const py::list& ps, const py::list& gs,
                                    const std::vector<std::pair<const py::list*, const char*>>& states,
                                    py::list& out) {
    const size_t L = ps.size();
    bool ok = gs.size() == L;
    for (const auto& st : states) ok = ok && st.first->size() == L;
    if (!ok) throw std::invalid_argument(std::string(fn) + ": one gradient and state entry per parameter");
    std::vector<ParamJob<T>> jobs(L);
    for (size_t i = 0; i < L; ++i) {
        ParamJob<T>& j = jobs[i];
        const py::array p = py::cast<py::array>(ps[i]);
        j.n = p.size();
        j.P = in_data<T>(p, "p", j.n);
        j.G = in_data<T>(py::cast<py::array>(gs[i]), "g", j.n);
        for (size_t k = 0; k < states.size(); ++k) {
            const py::object st = (*states[k].first)[i];
            if (st.is_none()) continue;
            py::array a = py::cast<py::array>(st);
            j.S[k] = inout_data<T>(a, states[k].second, j.n);
        }
        out.append(new_bytes<T>(j.n, j.O));
    }
    return jobs;
}

template <typename T>
py::list sgd_impl(const py::list& ps, const py::list& gs, const py::list& bufs, const std::vector<bool>& firsts,
                  double lr, double wd, double momentum, bool nesterov) {
    if (firsts.size() != ps.size()) throw std::invalid_argument("sgd_update: one 'first' per parameter");
    py::list out;
    const auto jobs = param_jobs<T>("sgd_update", ps, gs, {{&bufs, "buf"}}, out);
    for (const auto& j : jobs)
        if (momentum != 0.0 && j.S[0] == nullptr) throw std::invalid_argument("buf: needed when momentum != 0");
    const int nt = pool_threads();
    without_gil([&] {
        for (size_t i = 0; i < jobs.size(); ++i) {
            const ParamJob<T>& j = jobs[i];
            const SgdStep<T> s{T(lr), T(wd), T(momentum), nesterov, bool(firsts[i])};
            sgd_update<T>(s, j.n, j.P, j.G, momentum != 0.0 ? j.S[0] : nullptr, j.O, nt);
        }
    });
    return out;
}

template <typename T>
py::list adam_impl(const py::list& ps, const py::list& gs, const py::list& ms, const py::list& vs, double b1,
                   double one_minus_b1, double b2, double one_minus_b2, double step_size, double bc2, double eps,
                   double wd, double decay, bool decoupled) {
    py::list out;
    const auto jobs = param_jobs<T>("adam_update", ps, gs, {{&ms, "m"}, {&vs, "v"}}, out);
    for (const auto& j : jobs)
        if (j.S[0] == nullptr || j.S[1] == nullptr) throw std::invalid_argument("adam_update: m and v are needed");
    const AdamStep<T> s{T(b1), T(one_minus_b1), T(b2), T(one_minus_b2), T(step_size), T(bc2), T(eps),
                        T(wd), T(decay), decoupled};
    const int nt = pool_threads();
    without_gil([&] {
        for (const ParamJob<T>& j : jobs) adam_update<T>(s, j.n, j.P, j.G, j.S[0], j.S[1], j.O, nt);
    });
    return out;
}

template <typename T>
py::tuple xent_impl(const py::array& Z, const py::array& A, const py::array& y) {
    py::array kz, ka;
    const MatView<T> z = mat_view<T>(Z, kz, "Z");
    const MatView<T> a = mat_view<T>(A, ka, "A");
    const int64_t B = z.rows, N = z.cols;
    if (a.rows != B || a.cols != N) throw std::invalid_argument("Z and A must have one shape");
    if (z.cs != 1 || a.cs != 1) throw std::invalid_argument("Z and A must be contiguous along their rows");
    py::array_t<int64_t> keepy;
    const int64_t* Y = class_indices(y, keepy, B, N, "Z");
    py::array_t<T> dZ({B, N});
    T* D = dZ.mutable_data();
    XentResult r;
    without_gil([&] { r = softmax_cross_entropy<T>(B, N, z.data, z.rs, a.data, a.rs, Y, D); });
    return py::make_tuple(r.loss, r.correct, dZ);
}

}  // namespace
}  // namespace pyfwd

void register_training(py::module_& m) {
    m.def(
        "softmax_cross_entropy",
        [](const py::array& Z, const py::array& A, const py::array& y) {
            return pyfwd::is_f64(Z) ? pyfwd::xent_impl<double>(Z, A, y) : pyfwd::xent_impl<float>(Z, A, y);
        },
        py::arg("Z"), py::arg("A"), py::arg("y"),
        "(loss, correct, dZ) of a softmax output layer under cross-entropy with class-index targets y: "
        "the mean loss from Z in float64 (max-shifted log-sum-exp), the count of rows whose argmax of A "
        "is y, and dZ = (softmax(Z) - onehot(y)) / B in Z's dtype. The GIL is released.");
    m.def(
        "sgd_update",
        [](const py::list& p, const py::list& g, const py::list& buf, const std::vector<bool>& first, double lr,
           double wd, double momentum, bool nesterov) {
            if (p.size() == 0) return py::list();
            return pyfwd::is_f64(py::cast<py::array>(p[0]))
                       ? pyfwd::sgd_impl<double>(p, g, buf, first, lr, wd, momentum, nesterov)
                       : pyfwd::sgd_impl<float>(p, g, buf, first, lr, wd, momentum, nesterov);
        },
        py::arg("p"), py::arg("g"), py::arg("buf"), py::arg("first"), py::arg("lr"), py::arg("weight_decay"),
        py::arg("momentum"), py::arg("nesterov"),
        "One SGD step (torch.optim.SGD's rule) of several parameters: for each, p - lr*g after weight decay "
        "and momentum, as a new bytes object; buf (the momentum buffer, None without momentum) updated in "
        "place, first: its first step. Same bits as pyfwd.optim's NumPy update. The GIL is released.");
    m.def(
        "adam_update",
        [](const py::list& p, const py::list& g, const py::list& mm, const py::list& v, double b1,
           double one_minus_b1, double b2, double one_minus_b2, double step_size, double bc2, double eps, double wd,
           double decay, bool decoupled) {
            if (p.size() == 0) return py::list();
            return pyfwd::is_f64(py::cast<py::array>(p[0]))
                       ? pyfwd::adam_impl<double>(p, g, mm, v, b1, one_minus_b1, b2, one_minus_b2, step_size, bc2,
                                                  eps, wd, decay, decoupled)
                       : pyfwd::adam_impl<float>(p, g, mm, v, b1, one_minus_b1, b2, one_minus_b2, step_size, bc2,
                                                 eps, wd, decay, decoupled);
        },
        py::arg("p"), py::arg("g"), py::arg("m"), py::arg("v"), py::arg("b1"), py::arg("one_minus_b1"),
        py::arg("b2"), py::arg("one_minus_b2"), py::arg("step_size"), py::arg("bc2"), py::arg("eps"),
        py::arg("weight_decay"), py::arg("decay"), py::arg("decoupled"),
        "One Adam/AdamW step (torch.optim's rule) of several parameters: m, v updated in place, each new "
        "parameter returned as a new bytes object. Every constant is rounded to the arrays' dtype first, as "
        "NumPy does. Same bits as pyfwd.optim's NumPy update. The GIL is released.");
}
