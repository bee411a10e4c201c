// _core.Network: a network's weights packed once for the active ISA level (repacked if
// the level is switched), and its whole forward pass in one call with the GIL released.
#include <memory>
#include <string>
#include <vector>

#include "bindings.h"
#include "train_loop.h"
#include "train_step.h"

namespace py = pybind11;

namespace pyfwd {
namespace {

class PyNetwork {
public:
    PyNetwork(py::list weights, py::list biases, std::vector<int> acts)
        : weights_(std::move(weights)), biases_(std::move(biases)), acts_(std::move(acts)) {
        validate();
        f64_ = is_f64(py::cast<py::array>(weights_[0]));
        repack();
    }

    py::object forward(const py::array& X, bool return_cache, const py::object& out) {
        if (active_dispatch().isa != isa_) repack();  // the level was switched: repack once
        return f64_ ? forward_t<double>(X, return_cache, out, p64_) : forward_t<float>(X, return_cache, out, p32_);
    }

    // The gradients of a softmax + cross-entropy loss with class indices y (train_step.h):
    // (loss, correct, [dW1, db1, dW2, db2, ...]).
    py::tuple xent_gradients(const py::array& X, const py::array& y) {
        if (active_dispatch().isa != isa_) repack();
        if (acts_.back() != ACT_SOFTMAX)
            throw std::invalid_argument("xent_gradients: the output layer must be softmax");
        return f64_ ? xent_t<double>(X, y, p64_) : xent_t<float>(X, y, p32_);
    }

    // A run of fit's steps natively (train_loop.h): see the binding's docstring.
    py::tuple fit_xent_steps(const py::array& X, const py::array& y, const py::array& order, int64_t start,
                             int64_t batch, int64_t nsteps, double total, const py::dict& rule,
                             const py::object& per_step, const py::list& states, const std::vector<bool>& firsts) {
        if (acts_.back() != ACT_SOFTMAX)
            throw std::invalid_argument("fit_xent_steps: the output layer must be softmax");
        return f64_ ? fit_t<double>(X, y, order, start, batch, nsteps, total, rule, per_step, states, firsts)
                    : fit_t<float>(X, y, order, start, batch, nsteps, total, rule, per_step, states, firsts);
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
    // The Python API validated the parameters already; this private constructor checks
    // them again because a wrong one would be read out of bounds (a short bias, say).
    void validate() const {
        const size_t L = weights_.size();
        if (L == 0 || biases_.size() != L || acts_.size() != L)
            throw py::value_error("Network needs one weight, bias and activation per layer; got " +
                                  std::to_string(L) + " weights, " + std::to_string(biases_.size()) + " biases, " +
                                  std::to_string(acts_.size()) + " activations");
        // float32 = 4, float64 = 8, anything else 0. array_t's check compares dtypes by
        // equivalence, not identity: an unpickled or frombuffer dtype is not always the
        // singleton descriptor, and must still be accepted.
        auto float_size = [](py::handle a) -> int {
            return py::isinstance<py::array_t<float>>(a) ? 4 : py::isinstance<py::array_t<double>>(a) ? 8 : 0;
        };
        py::dtype dtype;
        int size = 0;
        py::ssize_t prev_rows = 0;
        for (size_t l = 0; l < L; ++l) {
            const std::string layer = "layer " + std::to_string(l + 1) + ": ";
            const py::handle w = weights_[l];
            if (!py::isinstance<py::array>(w))
                throw py::type_error(layer + "W must be a NumPy array, got " + std::string(Py_TYPE(w.ptr())->tp_name));
            const auto W = py::reinterpret_borrow<py::array>(w);
            if (l == 0) {
                dtype = W.dtype();
                size = float_size(W);
                if (size == 0)
                    throw py::type_error(layer + "W must be float32 or float64 (native byte order), got " +
                                         std::string(py::str(dtype)));
            } else if (float_size(W) != size) {
                throw py::type_error(layer + "W has dtype " + std::string(py::str(W.dtype())) + ", layer 1 has " +
                                     std::string(py::str(dtype)) + "; all parameters must share one dtype");
            }
            if (W.ndim() != 2)
                throw py::value_error(layer + "W must be 2-D (out, in), got " + std::to_string(W.ndim()) + "-D");
            if (l > 0 && W.shape(1) != prev_rows)
                throw py::value_error(layer + "W has shape (" + std::to_string(W.shape(0)) + ", " +
                                      std::to_string(W.shape(1)) + ") but the previous layer has " +
                                      std::to_string(prev_rows) + " outputs");
            prev_rows = W.shape(0);
            const py::handle b = biases_[l];
            if (!b.is_none()) {
                if (!py::isinstance<py::array>(b))
                    throw py::type_error(layer + "b must be a NumPy array or None, got " +
                                         std::string(Py_TYPE(b.ptr())->tp_name));
                const auto B = py::reinterpret_borrow<py::array>(b);
                if (float_size(B) != size)
                    throw py::type_error(layer + "b has dtype " + std::string(py::str(B.dtype())) + ", W has " +
                                         std::string(py::str(dtype)));
                if (B.ndim() != 1 || B.shape(0) != W.shape(0))
                    throw py::value_error(layer + "b must have shape (" + std::to_string(W.shape(0)) + ",), got " +
                                          std::string(py::str(B.attr("shape"))));
            }
            if (acts_[l] < 0 || acts_[l] >= ACT_COUNT)
                throw py::value_error(layer + "unknown activation code " + std::to_string(acts_[l]) + "; valid: 0.." +
                                      std::to_string(ACT_COUNT - 1));
        }
    }

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
            without_gil([&] { network_forward(*net, xv, Y, nt); });
            return std::move(result);
        }
        std::vector<T*> Z, A;
        const py::dict cache = forward_cache<T>(X, result, Y, M, net->dims, Z, A);
        without_gil([&] { network_forward(*net, xv, Y, nt, Z, A); });
        return py::make_tuple(result, cache);
    }

    template <typename T>
    py::tuple xent_t(const py::array& X, const py::array& y, std::shared_ptr<const PackedNet<T>> net) {
        py::array keepx;
        const MatView<T> xv = mat_view<T>(X, keepx, "X");
        const int64_t M = xv.rows;
        const size_t L = net->w.size();
        if (xv.cols != net->dims[0])
            throw std::invalid_argument("X has " + std::to_string(xv.cols) + " features, the network takes " +
                                        std::to_string(net->dims[0]));
        if (M == 0) throw std::invalid_argument("xent_gradients: the loss of an empty batch is undefined");
        py::array_t<int64_t> keepy;
        const int64_t* Y = class_indices(y, keepy, M, net->dims[L], "X");
        std::vector<py::array> keepw(L);
        std::vector<MatView<T>> ws;
        std::vector<T*> dW, db;
        py::list grads;
        for (size_t l = 0; l < L; ++l) {
            ws.push_back(mat_view<T>(py::cast<py::array>(weights_[l]), keepw[l], "W"));
            const auto N = static_cast<py::ssize_t>(net->dims[l + 1]), K = static_cast<py::ssize_t>(net->dims[l]);
            py::array_t<T> gw(std::vector<py::ssize_t>{N, K});
            py::array_t<T> gb(std::vector<py::ssize_t>{N});
            dW.push_back(gw.mutable_data());
            db.push_back(gb.mutable_data());
            grads.append(gw);
            grads.append(gb);
        }
        const int nt = pool_threads();
        XentResult r;
        without_gil([&] { r = pyfwd::xent_gradients<T>(*net, ws, xv, Y, dW, db, nt); });
        return py::make_tuple(r.loss, r.correct, grads);
    }

    template <typename T>
    py::tuple fit_t(const py::array& X, const py::array& y, const py::array& order, int64_t start, int64_t batch,
                    int64_t nsteps, double total, const py::dict& rule_d, const py::object& per_step,
                    const py::list& states, const std::vector<bool>& firsts) {
        py::array keepx;
        const MatView<T> xv = mat_view<T>(X, keepx, "X");
        const size_t L = weights_.size();
        const int64_t n = xv.rows;
        std::vector<int64_t> dims{py::cast<py::array>(weights_[0]).shape(1)};
        for (size_t l = 0; l < L; ++l) dims.push_back(py::cast<py::array>(weights_[l]).shape(0));
        if (xv.cols != dims[0])
            throw std::invalid_argument("X has " + std::to_string(xv.cols) + " features, the network takes " +
                                        std::to_string(dims[0]));
        if (n == 0) throw std::invalid_argument("fit_xent_steps: no training rows");
        py::array_t<int64_t> keepy, keepo;
        const int64_t* Y = class_indices(y, keepy, n, dims[L], "X");
        keepo = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(order);
        if (!keepo || keepo.ndim() != 1 || keepo.shape(0) != n)
            throw std::invalid_argument("order must hold one int64 row index per row of X");
        const int64_t* O = keepo.data();
        for (int64_t i = 0; i < n; ++i)
            if (O[i] < 0 || O[i] >= n) throw std::invalid_argument("order[" + std::to_string(i) + "] is not a row of X");
        if (!steps_fit(n, batch, start, nsteps))
            throw std::invalid_argument("fit_xent_steps: steps past the end of the epoch");

        RunRule rule;
        auto num = [&](const char* k) { return py::cast<double>(rule_d[k]); };
        const std::string kind = py::cast<std::string>(rule_d["kind"]);
        if (kind == "adam") {
            rule.adam = true;
            rule.b1 = num("b1");
            rule.one_minus_b1 = num("one_minus_b1");
            rule.b2 = num("b2");
            rule.one_minus_b2 = num("one_minus_b2");
            rule.eps = num("eps");
            rule.weight_decay = num("weight_decay");
            rule.decay = num("decay");
            rule.decoupled = py::cast<bool>(rule_d["decoupled"]);
        } else if (kind == "sgd") {
            rule.lr = num("lr");
            rule.weight_decay = num("weight_decay");
            rule.momentum = num("momentum");
            rule.nesterov = py::cast<bool>(rule_d["nesterov"]);
        } else {
            throw std::invalid_argument("fit_xent_steps: rule kind must be 'adam' or 'sgd', got '" + kind + "'");
        }
        py::array_t<double> keeps;
        if (rule.adam) {
            keeps = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(per_step);
            if (!keeps || keeps.size() != 2 * nsteps)
                throw std::invalid_argument("per_step must hold (step_size, bc2) for each step");
            rule.per_step = keeps.data();
        }
        const size_t nstate = rule.adam ? 2 : (rule.momentum != 0.0 ? 1 : 0);
        if (states.size() != 2 * L || firsts.size() != 2 * L)
            throw std::invalid_argument("fit_xent_steps: one state list and one 'first' per parameter");

        // Working copies: value, next value, gradient, optimiser state.
        std::vector<std::vector<T>> store;
        std::vector<ParamSlot<T>> slots(2 * L);
        std::vector<py::array> state_arrays;
        auto take = [&](int64_t count) {
            store.emplace_back(static_cast<std::size_t>(count));
            return store.back().data();
        };
        store.reserve(2 * L * (3 + nstate));
        for (size_t i = 0; i < 2 * L; ++i) {
            const size_t l = i / 2;
            const bool is_w = i % 2 == 0;
            const py::array src = py::cast<py::array>(is_w ? weights_[l] : biases_[l]);
            ParamSlot<T>& p = slots[i];
            p.n = is_w ? dims[l + 1] * dims[l] : dims[l + 1];
            if (src.size() != p.n) throw std::invalid_argument("fit_xent_steps: a parameter has the wrong size");
            const py::array_t<T, py::array::c_style | py::array::forcecast> c =
                py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(src);
            p.cur = take(p.n);
            std::copy(c.data(), c.data() + p.n, p.cur);
            p.next = take(p.n);
            p.grad = take(p.n);
            p.first = firsts[i];
            const py::list st = py::cast<py::list>(states[i]);
            if (st.size() != nstate)
                throw std::invalid_argument("fit_xent_steps: parameter " + std::to_string(i) + " needs " +
                                            std::to_string(nstate) + " state arrays");
            for (size_t k = 0; k < nstate; ++k) {
                py::array a = py::cast<py::array>(st[k]);
                const T* src_state = inout_data<T>(a, "optimiser state", p.n);
                p.state[k] = take(p.n);
                std::copy(src_state, src_state + p.n, p.state[k]);
                state_arrays.push_back(a);
            }
        }
        std::vector<MatView<T>> ws(L);
        std::vector<const T*> bs(L);
        for (size_t l = 0; l < L; ++l) {
            ws[l] = MatView<T>{slots[2 * l].cur, dims[l + 1], dims[l], dims[l], 1};
            bs[l] = slots[2 * l + 1].cur;
        }
        const int nt = pool_threads();
        RunResult r;
        without_gil([&] {
            std::shared_ptr<PackedNet<T>> net = pack_network<T>(ws, bs, acts_, nt);
            r = pyfwd::fit_xent_steps<T>(*net, slots, xv, Y, O, n, batch, start, nsteps, rule, total, nt);
        });
        // Finished (a stopped run raised above): commit the state, hand back the parameters.
        size_t a = 0;
        for (const ParamSlot<T>& p : slots)
            for (size_t k = 0; k < nstate; ++k, ++a)
                std::copy(p.state[k], p.state[k] + p.n, static_cast<T*>(state_arrays[a].mutable_data()));
        py::list params;
        for (const ParamSlot<T>& p : slots) {
            PyObject* bytes = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(p.cur),
                                                        p.n * static_cast<py::ssize_t>(sizeof(T)));
            if (bytes == nullptr) throw py::error_already_set();
            params.append(py::reinterpret_steal<py::bytes>(bytes));
        }
        return py::make_tuple(r.total, r.correct, params);
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
        .def("xent_gradients", &pyfwd::PyNetwork::xent_gradients, py::arg("X"), py::arg("y"),
             "(loss, correct, [dW1, db1, ...]) of a softmax output under cross-entropy with class indices y: "
             "forward, loss head and backward pass in one call (train_step.h), the GIL released; the bits "
             "of the Python loop over _core calls.")
        .def("fit_xent_steps", &pyfwd::PyNetwork::fit_xent_steps, py::arg("X"), py::arg("y"), py::arg("order"),
             py::arg("start"), py::arg("batch"), py::arg("nsteps"), py::arg("total"), py::arg("rule"),
             py::arg("per_step"), py::arg("states"), py::arg("firsts"),
             "(total, correct, [W1, b1, ...] as bytes): steps start..start+nsteps-1 of an epoch of fit over X, y "
             "(class indices) in the order `order`, batch rows per step, natively (train_loop.h): from this "
             "network's parameters, the optimiser `rule` (a dict: kind 'adam' with b1, one_minus_b1, b2, "
             "one_minus_b2, eps, weight_decay, decay, decoupled and per_step (nsteps, 2) step_size/bc2; or kind "
             "'sgd' with lr, weight_decay, momentum, nesterov), `states` (per parameter: [m, v], [buf] or []) "
             "updated in place once the run has finished, `firsts` (SGD: the run's first step starts that "
             "momentum buffer). total: the running loss sum to continue. The GIL is released; Ctrl-C stops "
             "the run and leaves the states untouched. The bits of fit's Python loop over _core calls.")
        .def_property_readonly("isa", &pyfwd::PyNetwork::isa, "ISA level the weights are packed for")
        .def_property_readonly("dims", &pyfwd::PyNetwork::dims);
}
