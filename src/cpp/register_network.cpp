// _core.Network: a network's weights packed once for the active ISA level (repacked if
// the level is switched), and its whole forward pass in one call with the GIL released.
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

class PyNetwork {
public:
    PyNetwork(py::list weights, py::list biases, std::vector<int> acts)
        : weights_(std::move(weights)), biases_(std::move(biases)), acts_(std::move(acts)) {
        const size_t L = weights_.size();
        if (L == 0 || biases_.size() != L || acts_.size() != L)
            throw std::invalid_argument("Network needs one weight, bias and activation per layer");
        for (int a : acts_)
            if (a < 0 || a >= ACT_COUNT) throw std::invalid_argument("unknown activation code " + std::to_string(a));
        f64_ = is_f64(py::cast<py::array>(weights_[0]));
        repack();
    }

    py::object forward(const py::array& X, bool return_cache, const py::object& out) {
        if (active_dispatch().isa != isa_) repack();  // the level was switched: repack once
        return f64_ ? forward_t<double>(X, return_cache, out, p64_) : forward_t<float>(X, return_cache, out, p32_);
    }

    std::string isa() const { return isa_name(isa_); }
    py::list dims() const {
        py::list d;
        if (f64_) {
            for (auto x : p64_->dims) d.append(x);
        } else {
            for (auto x : p32_->dims) d.append(x);
        }
        return d;
    }

private:
    template <typename T>
    std::shared_ptr<const PackedNet<T>> pack() {
        std::vector<MatView<T>> ws;
        std::vector<const T*> bs;
        std::vector<py::array> keep(2 * weights_.size());
        for (size_t l = 0; l < weights_.size(); ++l) {
            ws.push_back(mat_view<T>(py::cast<py::array>(weights_[l]), keep[2 * l], "W"));
            py::object b = biases_[l];
            bs.push_back(b.is_none() ? nullptr : vec_data<T>(py::cast<py::array>(b), keep[2 * l + 1]));
        }
        return pack_network<T>(ws, bs, acts_, pool_threads());
    }

    void repack() {  // GIL held: the swap is atomic for other Python threads
        if (f64_) {
            p64_ = pack<double>();
            isa_ = p64_->isa;
        } else {
            p32_ = pack<float>();
            isa_ = p32_->isa;
        }
    }

    template <typename T>
    py::object forward_t(const py::array& X, bool return_cache, const py::object& out,
                         std::shared_ptr<const PackedNet<T>> net /* a counted copy: safe if repacked meanwhile */) {
        py::array keepx;
        const MatView<T> xv = mat_view<T>(X, keepx, "X");
        if (xv.cols != net->dims[0])
            throw std::invalid_argument("X has " + std::to_string(xv.cols) + " features, the network takes " +
                                        std::to_string(net->dims[0]));
        const int64_t M = xv.rows;
        const size_t L = net->w.size();
        py::array result = out.is_none() ? py::array(py::array_t<T>({M, net->dims[L]})) : py::cast<py::array>(out);
        T* Y = out_data<T>(result, M, net->dims[L]);
        const int nt = pool_threads();
        if (!return_cache) {
            py::gil_scoped_release release;
            network_forward(*net, xv, Y, nt);
            return std::move(result);
        }
        py::dict cache;
        cache["A0"] = X;
        std::vector<T*> Z(L), A(L);
        for (size_t l = 0; l < L; ++l) {
            const int64_t N = net->dims[l + 1];
            py::array_t<T> z({M, N});
            Z[l] = z.mutable_data();
            cache[("Z" + std::to_string(l + 1)).c_str()] = z;
            if (l + 1 == L) {
                A[l] = Y;
                cache[("A" + std::to_string(l + 1)).c_str()] = result;
            } else {
                py::array_t<T> a({M, N});
                A[l] = a.mutable_data();
                cache[("A" + std::to_string(l + 1)).c_str()] = a;
            }
        }
        {
            py::gil_scoped_release release;
            network_forward(*net, xv, Y, nt, Z, A);
        }
        return py::make_tuple(result, cache);
    }

    py::list weights_, biases_;  // references: the Python Network keeps them read-only
    std::vector<int> acts_;
    bool f64_ = false;
    Isa isa_ = Isa::generic;
    std::shared_ptr<const PackedNet<float>> p32_;
    std::shared_ptr<const PackedNet<double>> p64_;
};

}  // namespace
}  // namespace pyfwd

void register_network(py::module_& m) {
    py::class_<pyfwd::PyNetwork>(m, "Network",
                                 "Packed weights of a dense network (for the active ISA level) and its forward pass.")
        .def(py::init<py::list, py::list, std::vector<int>>(), py::arg("weights"), py::arg("biases"),
             py::arg("acts"))
        .def("forward", &pyfwd::PyNetwork::forward, py::arg("X"), py::arg("return_cache") = false,
             py::arg("out") = py::none())
        .def_property_readonly("isa", &pyfwd::PyNetwork::isa, "ISA level the weights are packed for")
        .def_property_readonly("dims", &pyfwd::PyNetwork::dims);
}
