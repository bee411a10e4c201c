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

template <typename T>
const T* in_data(const py::array& a, const char* what, py::ssize_t n) {
    if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style) || a.size() != n)
        throw std::invalid_argument(std::string(what) + ": expected a C-contiguous " +
                                    (sizeof(T) == 8 ? "float64" : "float32") + " array of " + std::to_string(n) +
                                    " elements");
    return static_cast<const T*>(a.data());
}

template <typename T>
T* inout_data(py::array& a, const char* what, py::ssize_t n) {
    in_data<T>(a, what, n);
    if (!a.writeable()) throw std::invalid_argument(std::string(what) + " must be writable");
    return static_cast<T*>(a.mutable_data());
}

// A new bytes object of n elements of T, uninitialised, and its buffer.
template <typename T>
py::bytes new_bytes(py::ssize_t n, T*& data) {
    PyObject* b = PyBytes_FromStringAndSize(nullptr, n * static_cast<py::ssize_t>(sizeof(T)));
    if (b == nullptr) throw py::error_already_set();
    data = reinterpret_cast<T*>(PyBytes_AS_STRING(b));
    return py::reinterpret_steal<py::bytes>(b);
}

// The parameters of one step, updated in one call: one GIL release, and each
// parameter split over the pool when it is large (optim.cpp).
template <typename T>
py::list sgd_impl(const py::list& ps, const py::list& gs, const py::list& bufs, const std::vector<bool>& firsts,
                  double lr, double wd, double momentum, bool nesterov) {
    const size_t L = ps.size();
    if (gs.size() != L || bufs.size() != L || firsts.size() != L)
        throw std::invalid_argument("sgd_update: p, g, buf and first must have one entry per parameter");
    struct Job {
        py::ssize_t n;
        const T *P, *G;
        T *B, *O;
        bool first;
    };
    std::vector<Job> jobs;
    py::list out;
    for (size_t i = 0; i < L; ++i) {
        const py::array p = py::cast<py::array>(ps[i]);
        py::array buf = bufs[i].is_none() ? py::array() : py::cast<py::array>(bufs[i]);
        const py::ssize_t n = p.size();
        if (momentum != 0.0 && bufs[i].is_none()) throw std::invalid_argument("buf: needed when momentum != 0");
        Job j{n, in_data<T>(p, "p", n), in_data<T>(py::cast<py::array>(gs[i]), "g", n),
              momentum != 0.0 ? inout_data<T>(buf, "buf", n) : nullptr, nullptr, firsts[i]};
        out.append(new_bytes<T>(n, j.O));
        jobs.push_back(j);
    }
    const int nt = pool_threads();
    without_gil([&] {
        for (const Job& j : jobs)
            sgd_update<T>(SgdStep<T>{T(lr), T(wd), T(momentum), nesterov, j.first}, j.n, j.P, j.G, j.B, j.O, nt);
    });
    return out;
}

template <typename T>
py::list adam_impl(const py::list& ps, const py::list& gs, const py::list& ms, const py::list& vs, double b1,
                   double one_minus_b1, double b2, double one_minus_b2, double step_size, double bc2, double eps,
                   double wd, double decay, bool decoupled) {
    const size_t L = ps.size();
    if (gs.size() != L || ms.size() != L || vs.size() != L)
        throw std::invalid_argument("adam_update: p, g, m and v must have one entry per parameter");
    struct Job {
        py::ssize_t n;
        const T *P, *G;
        T *M, *V, *O;
    };
    std::vector<Job> jobs;
    py::list out;
    for (size_t i = 0; i < L; ++i) {
        const py::array p = py::cast<py::array>(ps[i]);
        py::array m = py::cast<py::array>(ms[i]), v = py::cast<py::array>(vs[i]);
        const py::ssize_t n = p.size();
        Job j{n, in_data<T>(p, "p", n), in_data<T>(py::cast<py::array>(gs[i]), "g", n), inout_data<T>(m, "m", n),
              inout_data<T>(v, "v", n), nullptr};
        out.append(new_bytes<T>(n, j.O));
        jobs.push_back(j);
    }
    const AdamStep<T> s{T(b1), T(one_minus_b1), T(b2), T(one_minus_b2), T(step_size), T(bc2), T(eps),
                        T(wd), T(decay), decoupled};
    const int nt = pool_threads();
    without_gil([&] {
        for (const Job& j : jobs) adam_update<T>(s, j.n, j.P, j.G, j.M, j.V, j.O, nt);
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
    const auto idx = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(y);
    if (!idx || idx.ndim() != 1 || idx.shape(0) != B)
        throw std::invalid_argument("y must hold one int64 class index per row of Z");
    const int64_t* Y = idx.data();
    for (int64_t i = 0; i < B; ++i)
        if (Y[i] < 0 || Y[i] >= N)
            throw std::invalid_argument("y[" + std::to_string(i) + "] = " + std::to_string(Y[i]) +
                                        " is out of range for " + std::to_string(N) + " classes");
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
