// _core.dense(X, W, b, act, out): one fused layer, GIL released for the compute.
#include "bindings.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

// v's data with rows contiguous along the columns: in place, or copied into buf (rows
// then `cols` apart, written to *ld) when the column stride is not 1.
template <typename T>
const T* row_contiguous(const MatView<T>& v, AlignedBuf<T>& buf, int64_t& ld) {
    if (v.cs == 1 && v.cols > 0) return v.data;
    T* dst = buf.ensure(static_cast<std::size_t>(std::max<int64_t>(v.rows * v.cols, 1)));
    for (int64_t i = 0; i < v.rows; ++i)
        for (int64_t k = 0; k < v.cols; ++k) dst[i * v.cols + k] = v.data[i * v.rs + k * v.cs];
    ld = v.cols;
    return dst;
}

template <typename T>
py::array dense_impl(const py::array& X, const py::array& W, const py::object& b, int act, const py::object& out) {
    if (act < 0 || act >= ACT_COUNT) throw std::invalid_argument("unknown activation code " + std::to_string(act));
    py::array keepx, keepw, keepb;
    const MatView<T> A = mat_view<T>(X, keepx, "X");
    const MatView<T> Wv = mat_view<T>(W, keepw, "W");
    if (A.cols != Wv.cols)
        throw std::invalid_argument("X has " + std::to_string(A.cols) + " columns but W has " + std::to_string(Wv.cols));
    const int64_t M = A.rows, N = Wv.rows, K = A.cols;
    const T* bias = nullptr;
    if (!b.is_none()) {
        bias = vec_data<T>(py::cast<py::array>(b), keepb);
        if (py::cast<py::array>(b).shape(0) != N) throw std::invalid_argument("b must have shape (N,)");
    }
    py::array result = out.is_none() ? py::array(py::array_t<T>({M, N})) : py::cast<py::array>(out);
    T* C = out_data<T>(result, M, N);
    if (M == 0 || N == 0) return result;
    const KernelBundle<T>& kb = bundle_of<T>(active_dispatch());
    const int nt = pool_threads();
    without_gil([&] {  // only raw buffers from here on
        Epilogue<T> ep;
        ep.bias = bias;
        ep.act = act;
        if (M <= kDotMaxM) {
            // Few rows: dot products straight from W's rows, no packing. Operands that are
            // not row-contiguous are first copied into row-contiguous buffers (values only),
            // so every layout of X and W gives the same bits.
            thread_local AlignedBuf<T> wrows, arows;  // per calling thread
            int64_t ldw = Wv.rs, lda = A.rs;
            const T* Wd = row_contiguous(Wv, wrows, ldw);
            const T* Ad = row_contiguous(A, arows, lda);
            gemm_dot(kb, M, N, K, Ad, lda, Wd, ldw, C, N, ep, nt);
        } else {
            thread_local AlignedBuf<T> wbuf;  // per calling thread
            T* Bp = wbuf.ensure(packed_w_size(kb, N, K));
            pack_w(kb, Wv.data, N, K, Wv.rs, Wv.cs, Bp, nt);
            gemm_packed(kb, M, N, K, A.data, A.rs, A.cs, Bp, C, N, ep, nt);
        }
    });
    return result;
}

}  // namespace
}  // namespace pyfwd

void register_dense(py::module_& m) {
    m.def(
        "dense",
        [](const py::array& X, const py::array& W, const py::object& b, int act, const py::object& out) {
            return pyfwd::is_f64(W) ? pyfwd::dense_impl<double>(X, W, b, act, out)
                                    : pyfwd::dense_impl<float>(X, W, b, act, out);
        },
        py::arg("X"), py::arg("W"), py::arg("b"), py::arg("act"), py::arg("out") = py::none(),
        "act(X @ W.T + b) for X (M, K), W (N, K), b (N,) or None, any strides; act is the activation code.");
}
