// xent_gradients (train_step.h).
#include "train_step.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>

#include "backward.h"
#include "dense.h"
#include "interrupt.h"
#include "thread_pool.h"

namespace pyfwd {
namespace {

// db (N) = the rows of g (M, N, C-contiguous) added in order, from the first row (NumPy's
// order and bits), columns split over the pool in 64-element ranges: any split gives the
// same bits.
template <typename T>
void column_sums(int64_t M, int64_t N, const T* g, T* db, int nthreads) {
    auto cols = [&](int64_t u0, int64_t u1) {
        const int64_t j0 = std::min(N, u0 * 64), j1 = std::min(N, u1 * 64);
        T* __restrict d = db;
        std::memcpy(d + j0, g + j0, sizeof(T) * static_cast<std::size_t>(j1 - j0));
        for (int64_t i = 1; i < M; ++i) {
            const T* __restrict row = g + i * N;
            for (int64_t j = j0; j < j1; ++j) d[j] += row[j];
        }
    };
    ThreadPool::instance().run_split((N + 63) / 64, nthreads, M * N, int64_t(1) << 15, cols);
}

}  // namespace

template <typename T>
XentResult xent_gradients(const PackedNet<T>& net, const std::vector<MatView<T>>& W, const MatView<T>& X,
                          const int64_t* y, const std::vector<T*>& dW, const std::vector<T*>& db, int nthreads) {
    const KernelBundle<T>& kb = *net.kb;
    const size_t L = net.w.size();
    const int64_t M = X.rows;
    // Z_l, A_l, and two dZ buffers, per calling thread (grow-only).
    thread_local std::vector<std::unique_ptr<AlignedBuf<T>>> zbufs, abufs;
    thread_local AlignedBuf<T> dz_ping, dz_pong;
    while (zbufs.size() < L) zbufs.push_back(std::make_unique<AlignedBuf<T>>());
    while (abufs.size() < L) abufs.push_back(std::make_unique<AlignedBuf<T>>());
    std::vector<T*> Z(L), A(L);
    for (size_t l = 0; l < L; ++l) {
        const auto n = static_cast<std::size_t>(M * net.dims[l + 1]);
        Z[l] = zbufs[l]->ensure(n);
        A[l] = abufs[l]->ensure(n);
    }
    const int64_t widest = *std::max_element(net.dims.begin(), net.dims.end());  // of any dZ_l
    T* dz[2] = {dz_ping.ensure(static_cast<std::size_t>(M * widest)),
                dz_pong.ensure(static_cast<std::size_t>(M * widest))};

    network_forward(net, X, A[L - 1], nthreads, Z, A);
    XentResult r;
    if (stop_requested()) return r;
    const int64_t NL = net.dims[L];
    r = softmax_cross_entropy<T>(M, NL, Z[L - 1], NL, A[L - 1], NL, y, dz[0]);

    int cur = 0;
    for (size_t l = L; l-- > 0;) {
        poll_interrupt();  // between layers: Ctrl-C
        if (stop_requested()) return r;
        const int64_t N = net.dims[l + 1], K = net.dims[l];
        const T* g = dz[cur];  // dZ_l (M, N), C-contiguous
        // A_{l-1}: the layer's input (X as given for the first layer)
        const MatView<T> in = l == 0 ? X : MatView<T>{A[l - 1], M, K, K, 1};
        // dW_l (N, K) = dZ_l^T A_{l-1}: both operands as transposed views
        const MatView<T> gT{g, N, M, 1, N};
        const MatView<T> inT{in.data, K, M, in.cs, in.rs};
        dense_product<T>(kb, gT, inT, nullptr, dW[l], K, Epilogue<T>{}, nthreads);
        column_sums(M, N, g, db[l], nthreads);
        if (l == 0) break;
        // dZ_{l-1} (M, K) = (dZ_l W_l) * g'(Z_{l-1}); W_l^T as a view
        const MatView<T> dzv{g, M, N, N, 1};
        const MatView<T> wT{W[l].data, K, N, W[l].cs, W[l].rs};
        T* out = dz[1 - cur];
        const int act = net.acts[l - 1];
        Epilogue<T> ep;
        if (act != ACT_SOFTMAX) {
            ep.dact = act;
            ep.dz_z = Z[l - 1];
            ep.dz_a = A[l - 1];
            ep.ldz = ep.lda = K;
        }
        dense_product<T>(kb, dzv, wT, nullptr, out, K, ep, nthreads);
        if (act == ACT_SOFTMAX)
            act_backward<T>(ACT_SOFTMAX, M, K, Z[l - 1], K, A[l - 1], K, out, K, out, K, nthreads);
        cur = 1 - cur;
    }
    return r;
}

template XentResult xent_gradients<float>(const PackedNet<float>&, const std::vector<MatView<float>>&,
                                          const MatView<float>&, const int64_t*, const std::vector<float*>&,
                                          const std::vector<float*>&, int);
template XentResult xent_gradients<double>(const PackedNet<double>&, const std::vector<MatView<double>>&,
                                           const MatView<double>&, const int64_t*, const std::vector<double*>&,
                                           const std::vector<double*>&, int);

}  // namespace pyfwd
