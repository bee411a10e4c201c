// _core.dense(X, W, b, act, out): one fused layer, GIL released for the compute.
// _core.PackedDense(W): W packed once (per ISA level), for a loop of dense() calls
// with the same weights; dense(X, packed, ...) gives the same bits as dense(X, W, ...).
#include <algorithm>
#include <atomic>
#include <memory>

#include "bindings.h"
#include "dense.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

// W packed for one ISA level.
template <typename T>
struct PackedW {
    Isa isa = Isa::generic;
    AlignedBuf<T> buf;
};

// The weights of a dense layer packed once: a reference to the (row-contiguous) W, read
// in place by the few-row dot path, and its packing for the level in use, made on the
// first call that needs it and again if the level is switched.
class PyPackedDense {
public:
    explicit PyPackedDense(py::array W) : W_(std::move(W)) {
        if (!py::isinstance<py::array_t<float>>(W_) && !py::isinstance<py::array_t<double>>(W_))
            throw py::type_error("PackedDense: W must be float32 or float64 (native byte order), got " +
                                 std::string(py::str(W_.dtype())));
        if (W_.ndim() != 2) throw py::value_error("PackedDense: W must be 2-D (out, in)");
        if (!(W_.flags() & py::array::c_style))
            throw py::value_error("PackedDense: W must be C-contiguous (pyfwd.pack_dense makes a contiguous copy)");
    }
    const py::array& weights() const { return W_; }
    bool f64() const { return is_f64(W_); }
    py::ssize_t rows() const { return W_.shape(0); }
    py::ssize_t cols() const { return W_.shape(1); }

    // The packing for the active level (made now if missing or for another level).
    // Called with the GIL held; the returned pointer keeps the buffer alive for the call.
    template <typename T>
    std::shared_ptr<const PackedW<T>> packed(const KernelBundle<T>& kb, Isa isa) {
        auto& slot = slot_<T>();
        std::shared_ptr<const PackedW<T>> cur = std::atomic_load(&slot);
        if (cur && cur->isa == isa) return cur;
        auto p = std::make_shared<PackedW<T>>();
        p->isa = isa;
        const int64_t N = W_.shape(0), K = W_.shape(1);
        T* Bp = p->buf.ensure(packed_w_size(kb, N, K));
        const T* w = static_cast<const T*>(W_.data());
        const int nt = pool_threads();
        without_gil([&] { pack_w(kb, w, N, K, K, 1, Bp, nt); });
        std::shared_ptr<const PackedW<T>> done = std::move(p);
        std::atomic_store(&slot, done);
        packs_.fetch_add(1, std::memory_order_relaxed);
        return done;
    }
    int packs() const { return packs_.load(std::memory_order_relaxed); }
    std::string isa() const {
        std::shared_ptr<const PackedW<float>> a = std::atomic_load(&p32_);
        std::shared_ptr<const PackedW<double>> b = std::atomic_load(&p64_);
        if (a) return isa_name(a->isa);
        if (b) return isa_name(b->isa);
        return "";
    }

private:
    template <typename T>
    std::shared_ptr<const PackedW<T>>& slot_() {
        if constexpr (std::is_same_v<T, float>) return p32_; else return p64_;
    }
    py::array W_;
    std::atomic<int> packs_{0};
    std::shared_ptr<const PackedW<float>> p32_;
    std::shared_ptr<const PackedW<double>> p64_;
};

// The backward pass's derivative epilogue of dense(): Z and A = g(Z) of the output's
// shape, rows contiguous (copied otherwise, into keep_*), for the elementwise code dact.
struct DerivIn {
    int dact = -1;
    py::object Z, A;
};

template <typename T>
py::array dense_impl(const py::array& X, const py::array& W, const py::object& b, int act, const py::object& out,
                     PyPackedDense* packed = nullptr, const DerivIn& deriv = DerivIn{}) {
    if (act < 0 || act >= ACT_COUNT) throw std::invalid_argument("unknown activation code " + std::to_string(act));
    if (deriv.dact >= 0 && (deriv.dact >= ACT_COUNT || deriv.dact == ACT_SOFTMAX || act != ACT_LINEAR || !b.is_none()))
        throw std::invalid_argument("dense: dact must be an elementwise activation code (not softmax), with act "
                                    "linear and no bias");
    py::array keepx, keepw, keepb, keepz, keepa;
    const MatView<T> A = mat_view<T>(X, keepx, "X");
    const MatView<T> Wv = mat_view<T>(W, keepw, "W");
    if (A.cols != Wv.cols)
        throw std::invalid_argument("X has " + std::to_string(A.cols) + " columns but W has " + std::to_string(Wv.cols));
    const int64_t M = A.rows, N = Wv.rows;
    const T* bias = nullptr;
    if (!b.is_none()) {
        bias = vec_data<T>(py::cast<py::array>(b), keepb);
        if (py::cast<py::array>(b).shape(0) != N) throw std::invalid_argument("b must have shape (N,)");
    }
    Epilogue<T> ep;
    ep.bias = bias;
    ep.act = act;
    if (deriv.dact >= 0) {
        ep.dact = deriv.dact;
        if (deriv.Z.is_none() || deriv.A.is_none()) throw std::invalid_argument("dense: dact needs Z and A");
        const MatView<T> z = row_view<T>(py::cast<py::array>(deriv.Z), keepz, "Z", M, N);
        const MatView<T> a = row_view<T>(py::cast<py::array>(deriv.A), keepa, "A", M, N);
        ep.dz_z = z.data;
        ep.dz_a = a.data;
        ep.ldz = z.rs;
        ep.lda = a.rs;
    }
    py::array result = out.is_none() ? py::array(py::array_t<T>({M, N})) : py::cast<py::array>(out);
    T* C = out_data<T>(result, M, N);
    if (M == 0 || N == 0) return result;
    const Dispatch& d = active_dispatch();
    const KernelBundle<T>& kb = bundle_of<T>(d);
    std::shared_ptr<const PackedW<T>> pw;
    if (packed != nullptr && M > kDotMaxM) pw = packed->packed<T>(kb, d.isa);
    const int nt = pool_threads();
    const T* packed_w = pw ? pw->buf.data() : nullptr;
    without_gil([&] { dense_product(kb, A, Wv, packed_w, C, N, ep, nt); });  // only raw buffers in there
    return result;
}

}  // namespace
}  // namespace pyfwd

void register_dense(py::module_& m) {
    using pyfwd::PyPackedDense;
    py::class_<PyPackedDense>(m, "PackedDense",
                              "A dense layer's W (N, K), C-contiguous float32/float64, packed once per ISA level.")
        .def(py::init<py::array>(), py::arg("W"))
        .def_property_readonly("weights", &PyPackedDense::weights, "The W it packs (kept by reference).")
        .def_property_readonly("isa", &PyPackedDense::isa, "Level of the current packing ('' before the first).")
        .def_property_readonly("packs", &PyPackedDense::packs, "How many times W was packed (tests).");
    m.def(
        "dense",
        [](const py::array& X, const py::array& W, const py::object& b, int act, const py::object& out, int dact,
           const py::object& Z, const py::object& A) {
            const pyfwd::DerivIn deriv{dact, Z, A};
            return pyfwd::is_f64(W) ? pyfwd::dense_impl<double>(X, W, b, act, out, nullptr, deriv)
                                    : pyfwd::dense_impl<float>(X, W, b, act, out, nullptr, deriv);
        },
        py::arg("X"), py::arg("W"), py::arg("b"), py::arg("act"), py::arg("out") = py::none(), py::arg("dact") = -1,
        py::arg("Z") = py::none(), py::arg("A") = py::none(),
        "act(X @ W.T + b) for X (M, K), W (N, K), b (N,) or None, any strides; act is the activation code. "
        "Training's backward pass: dact >= 0 (an elementwise activation code; act linear, b None) multiplies "
        "the product by g'(Z) for Z and A = g(Z) of the output's shape, fused: each finished block of the "
        "output while in cache (dZ_prev = (dZ @ W) * g'(Z_prev)); the bits of dense then act_backward.");
    m.def(
        "dense",
        [](const py::array& X, PyPackedDense& W, const py::object& b, int act, const py::object& out) {
            return W.f64() ? pyfwd::dense_impl<double>(X, W.weights(), b, act, out, &W)
                           : pyfwd::dense_impl<float>(X, W.weights(), b, act, out, &W);
        },
        py::arg("X"), py::arg("W"), py::arg("b"), py::arg("act"), py::arg("out") = py::none(),
        "The same with W packed once (PackedDense).");
}
