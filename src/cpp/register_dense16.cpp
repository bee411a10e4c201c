// 16-bit weights in the bindings (dense16.h): _core.dense16(X, W, kind, b, act, out) and
// _core.Network16(weights, kind, biases, acts). W arrives as its raw bits (uint16, the
// Python layer's .view(np.uint16) of a bfloat16 / float16 array), kind 0 = bfloat16,
// 1 = float16; X, b and the outputs are float32.
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "dense16.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

int check_kind(int kind) {
    if (kind != 0 && kind != 1)
        throw py::value_error("16-bit weight kind must be 0 (bfloat16) or 1 (float16), got " + std::to_string(kind));
    return kind;
}

// W (uint16 bits, 2-D, any strides a multiple of 2 bytes) as a view.
W16View w16_view(const py::array& W, int kind, const std::string& what) {
    if (!py::isinstance<py::array_t<uint16_t>>(W) || W.itemsize() != 2)
        throw py::type_error(what + " must be the uint16 bits of a bfloat16/float16 array, got " +
                             std::string(py::str(W.dtype())));
    if (W.ndim() != 2) throw py::value_error(what + " must be 2-D (out, in), got " + std::to_string(W.ndim()) + "-D");
    if (W.strides(0) % 2 != 0 || W.strides(1) % 2 != 0) throw py::value_error(what + ": strides must be multiples of 2 bytes");
    return W16View{static_cast<const uint16_t*>(W.data()), W.shape(0), W.shape(1), W.strides(0) / 2, W.strides(1) / 2,
                   check_kind(kind)};
}

py::array dense16(const py::array& X, const py::array& W, int kind, const py::object& b, int act,
                  const py::object& out) {
    if (act < 0 || act >= ACT_COUNT) throw std::invalid_argument("unknown activation code " + std::to_string(act));
    py::array keepx, keepb;
    const MatView<float> A = mat_view<float>(X, keepx, "X");
    const W16View Wv = w16_view(W, kind, "W");
    if (A.cols != Wv.cols)
        throw std::invalid_argument("X has " + std::to_string(A.cols) + " columns but W has " + std::to_string(Wv.cols));
    const int64_t M = A.rows, N = Wv.rows, K = A.cols;
    const float* bias = nullptr;
    if (!b.is_none()) {
        bias = vec_data<float>(py::cast<py::array>(b), keepb);
        if (py::cast<py::array>(b).shape(0) != N) throw std::invalid_argument("b must have shape (N,)");
    }
    py::array result = out.is_none() ? py::array(py::array_t<float>({M, N})) : py::cast<py::array>(out);
    float* C = out_data<float>(result, M, N);
    if (M == 0 || N == 0) return result;
    const Dispatch& d = active_dispatch();
    const KernelBundle<float>& kb = d.f32;
    const int nt = pool_threads();
    without_gil([&] {
        Epilogue<float> ep;
        ep.bias = bias;
        ep.act = act;
        if (M <= kDotMaxM) {
            // X rows copied to be contiguous when they are not (values only): every layout
            // gives the same bits. W without contiguous rows is widened by gemm_dot16.
            thread_local AlignedBuf<float> arows;
            const float* Ad = A.data;
            int64_t lda = A.rs;
            if (A.cs != 1) {
                float* r = arows.ensure(static_cast<std::size_t>(std::max<int64_t>(M * K, 1)));
                for (int64_t i = 0; i < M; ++i)
                    for (int64_t k = 0; k < K; ++k) r[i * K + k] = A.data[i * A.rs + k * A.cs];
                Ad = r;
                lda = K;
            }
            gemm_dot16(kb, M, Ad, lda, Wv, C, N, ep, nt);
        } else {
            // W widened once (exact), then the float32 packing and GEMM: the bits of
            // dense() on the widened W.
            thread_local AlignedBuf<float> wide, wbuf;
            float* Wf = wide.ensure(static_cast<std::size_t>(std::max<int64_t>(N * K, 1)));
            widen16(Wv, Wf);
            float* Bp = wbuf.ensure(packed_w_size(kb, N, K));
            pack_w(kb, Wf, N, K, K, 1, Bp, nt);
            gemm_packed(kb, M, N, K, A.data, A.rs, A.cs, Bp, C, N, ep, nt);
        }
    });
    return result;
}

// A network of 16-bit weights: the dot path reads them as they are; the float32 packing
// for larger batches is made on the first such call (and again if the level changes).
class PyNetwork16 {
public:
    PyNetwork16(py::list weights, int kind, py::list biases, std::vector<int> acts)
        : weights_(std::move(weights)), biases_(std::move(biases)) {
        const size_t L = weights_.size();
        if (L == 0 || biases_.size() != L || acts.size() != L)
            throw py::value_error("Network16 needs one weight, bias and activation per layer; got " +
                                  std::to_string(L) + " weights, " + std::to_string(biases_.size()) + " biases, " +
                                  std::to_string(acts.size()) + " activations");
        for (size_t l = 0; l < L; ++l) {
            const std::string layer = "layer " + std::to_string(l + 1) + ": ";
            const auto W = py::cast<py::array>(weights_[l]);
            const W16View v = w16_view(W, kind, layer + "W");
            if (v.cs != 1) throw py::value_error(layer + "W must have contiguous rows");
            if (l > 0 && v.cols != net_.dims.back())
                throw py::value_error(layer + "W has " + std::to_string(v.cols) + " columns but the previous layer has " +
                                      std::to_string(net_.dims.back()) + " outputs");
            if (l == 0) net_.dims.push_back(v.cols);
            net_.dims.push_back(v.rows);
            net_.w.push_back(v);
            const py::object b = biases_[l];
            if (b.is_none()) {
                net_.b.emplace_back();
            } else {
                py::array keep;
                const auto B = py::cast<py::array>(b);
                if (!py::isinstance<py::array_t<float>>(B) || B.ndim() != 1 || B.shape(0) != v.rows)
                    throw py::value_error(layer + "b must be float32 of shape (" + std::to_string(v.rows) + ",)");
                const float* p = vec_data<float>(B, keep);
                net_.b.emplace_back(p, p + v.rows);
            }
            if (acts[l] < 0 || acts[l] >= ACT_COUNT)
                throw py::value_error(layer + "unknown activation code " + std::to_string(acts[l]));
        }
        net_.acts = std::move(acts);
    }

    py::object forward(const py::array& X, bool return_cache, const py::object& out, bool round_bf16) {
        py::array keepx;
        const MatView<float> xv = mat_view<float>(X, keepx, "X");
        if (xv.cols != net_.dims[0])
            throw std::invalid_argument("X has " + std::to_string(xv.cols) + " features, the network takes " +
                                        std::to_string(net_.dims[0]));
        const int64_t M = xv.rows;
        std::shared_ptr<const PackedNet<float>> packed = packed_;  // a counted copy: safe if repacked meanwhile
        if (M > kDotMaxM && (!packed || packed->isa != active_dispatch().isa)) {
            packed = pack_net16(net_, pool_threads());  // GIL held: one packing at a time
            packed_ = packed;
            ++packs_;
        }
        const size_t L = net_.w.size();
        const int64_t NL = net_.dims[L];
        py::array result = out.is_none() ? py::array(py::array_t<float>({M, NL})) : py::cast<py::array>(out);
        float* Y = out_data<float>(result, M, NL);
        const int nt = pool_threads();
        const PackedNet<float>* pk = M > kDotMaxM ? packed.get() : nullptr;
        if (!return_cache) {
            without_gil([&] { net16_forward(net_, pk, xv, round_bf16, Y, nt); });
            return std::move(result);
        }
        std::vector<float*> Z, A;
        const py::dict cache = forward_cache<float>(X, result, Y, M, net_.dims, Z, A);
        without_gil([&] { net16_forward(net_, pk, xv, round_bf16, Y, nt, Z, A); });
        return py::make_tuple(result, cache);
    }

    int packs() const { return packs_; }
    py::list dims() const {
        py::list d;
        for (auto x : net_.dims) d.append(x);
        return d;
    }

private:
    py::list weights_, biases_;  // references: the Python Network keeps them read-only
    Net16 net_;
    std::shared_ptr<const PackedNet<float>> packed_;
    int packs_ = 0;
};

}  // namespace
}  // namespace pyfwd

void register_dense16(py::module_& m) {
    m.attr("DOT_MAX_M") = pyfwd::kDotMaxM;  // dense() with at most this many rows reads W unpacked
    m.def("dense16", &pyfwd::dense16, py::arg("X"), py::arg("W"), py::arg("kind"), py::arg("b"), py::arg("act"),
          py::arg("out") = py::none(),
          "act(X @ W.T + b): X float32 (M, K), W the uint16 bits of bfloat16 (kind 0) or float16 (kind 1) "
          "weights (N, K), b float32 (N,) or None; float32 out.");
    py::class_<pyfwd::PyNetwork16>(m, "Network16",
                                   "A network of 16-bit weights (uint16 bits; kind 0 bfloat16, 1 float16), float32 "
                                   "activations; forward(X, return_cache, out, round_bf16).")
        .def(py::init<py::list, int, py::list, std::vector<int>>(), py::arg("weights"), py::arg("kind"),
             py::arg("biases"), py::arg("acts"))
        .def("forward", &pyfwd::PyNetwork16::forward, py::arg("X"), py::arg("return_cache") = false,
             py::arg("out") = py::none(), py::arg("round_bf16") = false)
        .def_property_readonly("packs", &pyfwd::PyNetwork16::packs,
                               "How many times the float32 packing was made (tests)")
        .def_property_readonly("dims", &pyfwd::PyNetwork16::dims);
}
