// fit_xent_steps (train_loop.h).
#include "train_loop.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "interrupt.h"
#include "thread_pool.h"
#include "optim.h"
#include "train_step.h"

namespace pyfwd {
namespace {

// Rows idx[0..m) of X into dst (m, X.cols), C order: the values only (np.take's).
// Rows split over the pool when the batch is large (a copy: any split, the same values).
template <typename T>
void gather_rows(const MatView<T>& X, const int64_t* idx, int64_t m, T* dst, int nthreads) {
    const int64_t d = X.cols;
    auto rows = [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
            const T* src = X.data + idx[i] * X.rs;
            T* out = dst + i * d;
            if (X.cs == 1) {
                std::memcpy(out, src, sizeof(T) * static_cast<std::size_t>(d));
            } else {
                for (int64_t k = 0; k < d; ++k) out[k] = src[k * X.cs];
            }
        }
    };
    ThreadPool::instance().run_split(m, nthreads, m * d, int64_t(1) << 16, rows);
}

// The update of every parameter for step s of the run, each into its next buffer: the
// operations of the per-step bindings (register_training.cpp) with the same constants.
template <typename T>
void update_params(std::vector<ParamSlot<T>>& params, const RunRule& r, int64_t s, int nthreads) {
    if (r.adam) {
        const AdamStep<T> st{T(r.b1),
                             T(r.one_minus_b1),
                             T(r.b2),
                             T(r.one_minus_b2),
                             T(r.per_step[2 * s]),
                             T(r.per_step[2 * s + 1]),
                             T(r.eps),
                             T(r.weight_decay),
                             T(r.decay),
                             r.decoupled};
        for (ParamSlot<T>& p : params) adam_update<T>(st, p.n, p.cur, p.grad, p.state[0], p.state[1], p.next, nthreads);
    } else {
        for (ParamSlot<T>& p : params) {
            const SgdStep<T> st{T(r.lr), T(r.weight_decay), T(r.momentum), r.nesterov, s == 0 && p.first};
            sgd_update<T>(st, p.n, p.cur, p.grad, r.momentum != 0.0 ? p.state[0] : nullptr, p.next, nthreads);
        }
    }
    for (ParamSlot<T>& p : params) std::swap(p.cur, p.next);
}

}  // namespace

template <typename T>
RunResult fit_xent_steps(PackedNet<T>& net, std::vector<ParamSlot<T>>& params, const MatView<T>& X,
                         const int64_t* y, const int64_t* order, int64_t n, int64_t batch, int64_t start,
                         int64_t nsteps, const RunRule& rule, double total, int nthreads) {
    const size_t L = net.w.size();
    if (params.size() != 2 * L) throw std::invalid_argument("fit_xent_steps: one W and one b slot per layer");
    if (!steps_fit(n, batch, start, nsteps))
        throw std::invalid_argument("fit_xent_steps: steps past the end of the epoch");
    if (rule.adam && nsteps > 0 && rule.per_step == nullptr)
        throw std::invalid_argument("fit_xent_steps: Adam needs its per-step constants");
    RunResult res;
    res.total = total;
    const int64_t d = X.cols;
    std::vector<T> xb(static_cast<std::size_t>(std::min(batch, n) * d));
    std::vector<int64_t> yb(static_cast<std::size_t>(std::min(batch, n)));
    std::vector<MatView<T>> W(L);
    std::vector<const T*> b(L);
    std::vector<T*> dW(L), db(L);
    for (int64_t s = 0; s < nsteps; ++s) {
        poll_interrupt();  // between steps (and inside them): Ctrl-C
        if (stop_requested()) return res;
        const int64_t r0 = (start + s) * batch, m = std::min(batch, n - r0);
        gather_rows(X, order + r0, m, xb.data(), nthreads);
        for (int64_t i = 0; i < m; ++i) yb[static_cast<std::size_t>(i)] = y[order[r0 + i]];
        for (size_t l = 0; l < L; ++l) {
            const ParamSlot<T>& w = params[2 * l];
            W[l] = MatView<T>{w.cur, net.dims[l + 1], net.dims[l], net.dims[l], 1};
            dW[l] = w.grad;
            db[l] = params[2 * l + 1].grad;
        }
        const XentResult r = xent_gradients<T>(net, W, MatView<T>{xb.data(), m, d, d, 1}, yb.data(), dW, db, nthreads);
        if (stop_requested()) return res;
        update_params(params, rule, s, nthreads);
        for (size_t l = 0; l < L; ++l) {
            W[l].data = params[2 * l].cur;
            b[l] = params[2 * l + 1].cur;
        }
        repack_network(net, W, b, nthreads);
        // fit's `total += value * len(idx)`, in its order
        res.total += r.loss * static_cast<double>(m);
        res.correct += r.correct;
        res.steps = s + 1;
    }
    return res;
}

#define PYFWD_INSTANTIATE(T)                                                                                  \
    template RunResult fit_xent_steps<T>(PackedNet<T>&, std::vector<ParamSlot<T>>&, const MatView<T>&,      \
                                         const int64_t*, const int64_t*, int64_t, int64_t, int64_t, int64_t, \
                                         const RunRule&, double, int);
PYFWD_INSTANTIATE(float)
PYFWD_INSTANTIATE(double)
#undef PYFWD_INSTANTIATE

}  // namespace pyfwd
