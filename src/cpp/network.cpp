#include "network.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "interrupt.h"

namespace pyfwd {

template <typename T>
std::shared_ptr<PackedNet<T>> pack_network(const std::vector<MatView<T>>& weights,
                                           const std::vector<const T*>& biases, const std::vector<int>& acts,
                                           int nthreads) {
    const Dispatch& d = active_dispatch();
    auto net = std::make_shared<PackedNet<T>>();
    net->isa = d.isa;
    net->kb = &bundle_of<T>(d);
    const size_t L = weights.size();
    if (L == 0 || biases.size() != L || acts.size() != L) throw std::invalid_argument("pack_network: inconsistent layers");
    net->dims.push_back(weights[0].cols);
    for (size_t l = 0; l < L; ++l) {
        const MatView<T>& W = weights[l];
        if (W.cols != net->dims.back()) throw std::invalid_argument("pack_network: layer widths do not chain");
        net->dims.push_back(W.rows);
        auto buf = std::make_unique<AlignedBuf<T>>();
        T* p = buf->ensure(packed_w_size(*net->kb, W.rows, W.cols));
        pack_w(*net->kb, W.data, W.rows, W.cols, W.rs, W.cs, p, nthreads);
        net->w.push_back(std::move(buf));
        net->b.emplace_back(biases[l] != nullptr ? std::vector<T>(biases[l], biases[l] + W.rows) : std::vector<T>());
        if (l + 1 < L) net->max_hidden = std::max(net->max_hidden, W.rows);
    }
    net->acts = acts;
    return net;
}

template <typename T>
void repack_network(PackedNet<T>& net, const std::vector<MatView<T>>& weights, const std::vector<const T*>& biases,
                    int nthreads) {
    const size_t L = net.w.size();
    if (weights.size() != L || biases.size() != L) throw std::invalid_argument("repack_network: inconsistent layers");
    for (size_t l = 0; l < L; ++l) {
        const MatView<T>& W = weights[l];
        if (W.rows != net.dims[l + 1] || W.cols != net.dims[l])
            throw std::invalid_argument("repack_network: a layer changed shape");
        pack_w(*net.kb, W.data, W.rows, W.cols, W.rs, W.cs, net.w[l]->data(), nthreads);
        if (!net.b[l].empty()) std::copy(biases[l], biases[l] + W.rows, net.b[l].begin());
    }
}

template <typename T>
void network_forward(const PackedNet<T>& net, const MatView<T>& X, T* out, int nthreads, const std::vector<T*>& Z,
                     const std::vector<T*>& A) {
    const KernelBundle<T>& kb = *net.kb;
    const size_t L = net.w.size();
    const int64_t M = X.rows;
    if (M == 0) return;
    const bool cache = !Z.empty();
    thread_local AlignedBuf<T> ping, pong;  // per calling thread: concurrent calls are safe
    T* bufs[2] = {nullptr, nullptr};
    if (!cache && L > 1) {
        const size_t n = static_cast<size_t>(M * net.max_hidden);
        bufs[0] = ping.ensure(n);
        bufs[1] = pong.ensure(n);
    }
    const T* in = X.data;
    int64_t rs = X.rs, cs = X.cs;
    for (size_t l = 0; l < L; ++l) {
        poll_interrupt();  // between layers (and between the GEMM's blocks): Ctrl-C
        if (stop_requested()) return;
        const int64_t K = net.dims[l], N = net.dims[l + 1];
        Epilogue<T> ep;
        ep.bias = net.b[l].empty() ? nullptr : net.b[l].data();
        ep.act = net.acts[l];
        T* dst;
        if (cache) {
            // Z_l with bias only, then A_l = g(Z_l) as a row pass.
            Epilogue<T> lin = ep;
            lin.act = ACT_LINEAR;
            gemm_packed(kb, M, N, K, in, rs, cs, net.w[l]->data(), Z[l], N, lin, nthreads);
            dst = A[l];
            rows_activate_copy(kb, ep.act, M, N, Z[l], dst, N, nthreads);
        } else {
            dst = (l + 1 == L) ? out : bufs[l % 2];
            gemm_packed(kb, M, N, K, in, rs, cs, net.w[l]->data(), dst, N, ep, nthreads);
        }
        in = dst;
        rs = N;
        cs = 1;
    }
    if (cache && A[L - 1] != out && out != nullptr)
        std::memcpy(out, A[L - 1], sizeof(T) * static_cast<size_t>(M * net.dims[L]));
}

#define PYFWD_INSTANTIATE(T)                                                                               \
    template std::shared_ptr<PackedNet<T>> pack_network<T>(const std::vector<MatView<T>>&,                  \
                                                           const std::vector<const T*>&, const std::vector<int>&, \
                                                           int);                                            \
    template void repack_network<T>(PackedNet<T>&, const std::vector<MatView<T>>&, const std::vector<const T*>&, \
                                    int);                                                                   \
    template void network_forward<T>(const PackedNet<T>&, const MatView<T>&, T*, int, const std::vector<T*>&, \
                                     const std::vector<T*>&);
PYFWD_INSTANTIATE(float)
PYFWD_INSTANTIATE(double)
#undef PYFWD_INSTANTIATE

}  // namespace pyfwd
