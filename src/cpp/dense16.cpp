#include "dense16.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "dispatch.h"
#include "interrupt.h"

namespace pyfwd {
namespace {

#include "kernels/wide16.h"

template <int KIND>
void widen_kind(const W16View& W, float* dst) {
    for (int64_t i = 0; i < W.rows; ++i) {
        const uint16_t* src = W.data + i * W.rs;
        float* d = dst + i * W.cols;
        for (int64_t k = 0; k < W.cols; ++k) d[k] = widen16<KIND>(src[k * W.cs]);
    }
}

}  // namespace

void widen16(const W16View& W, float* dst) {
    if (W.kind == W16_BF16)
        widen_kind<W16_BF16>(W, dst);
    else if (W.kind == W16_F16)
        widen_kind<W16_F16>(W, dst);
    else
        throw std::invalid_argument("16-bit weights: unknown kind " + std::to_string(W.kind));
}

void round_rows_bf16(const float* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, float* dst) {
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t k = 0; k < cols; ++k) dst[i * cols + k] = round_to_bf16(src[i * rs + k * cs]);
}

void gemm_dot16(const KernelBundle<float>& kb, int64_t M, const float* A, int64_t lda, const W16View& W, float* C,
                int64_t ldc, const Epilogue<float>& ep, int nthreads) {
    const int64_t N = W.rows, K = W.cols;
    if (M <= 0 || N <= 0) return;
    const DotRows16Fn f = (W.kind == W16_BF16 || W.kind == W16_F16) ? kb.dot_rows16[W.kind] : nullptr;
    if (f == nullptr || W.cs != 1) {
        // A level without this loader (or W without contiguous rows): widen W first.
        thread_local AlignedBuf<float> wide;  // per calling thread
        float* Wf = wide.ensure(static_cast<std::size_t>(std::max<int64_t>(N * K, 1)));
        widen16(W, Wf);
        gemm_dot(kb, M, N, K, A, lda, Wf, K, C, ldc, ep, nthreads);
        return;
    }
    dot_split(M, N, K, double(N) * double(K) * 2.0, nthreads,
              [&](int64_t n0, int64_t n1) { f(M, K, A, lda, W.data, W.rs, n0, n1, ep.bias, C, ldc); });
    rows_activate(kb, ep.act, M, N, C, ldc, nthreads);
}

std::shared_ptr<const PackedNet<float>> pack_net16(const Net16& net, int nthreads) {
    const size_t L = net.w.size();
    std::vector<std::vector<float>> wide(L);
    std::vector<MatView<float>> views;
    std::vector<const float*> biases;
    for (size_t l = 0; l < L; ++l) {
        const W16View& W = net.w[l];
        wide[l].resize(static_cast<std::size_t>(W.rows * W.cols));
        widen16(W, wide[l].data());
        views.push_back(MatView<float>{wide[l].data(), W.rows, W.cols, W.cols, 1});
        biases.push_back(net.b[l].empty() ? nullptr : net.b[l].data());
    }
    return pack_network<float>(views, biases, net.acts, nthreads);
}

void net16_forward(const Net16& net, const PackedNet<float>* packed, const MatView<float>& X, bool round_bf16,
                   float* out, int nthreads, const std::vector<float*>& Z, const std::vector<float*>& A) {
    const KernelBundle<float>& kb = packed != nullptr ? *packed->kb : bundle_of<float>(active_dispatch());
    const size_t L = net.w.size();
    const int64_t M = X.rows;
    if (M == 0) return;
    const bool dot = M <= kDotMaxM;
    if (!dot && packed == nullptr) throw std::logic_error("net16_forward: a batch past the dot path needs the packing");
    const bool cache = !Z.empty();
    int64_t widest = 0;  // of any layer's input (rounded copies) and hidden output
    for (size_t l = 0; l + 1 < net.dims.size(); ++l) widest = std::max(widest, net.dims[l]);
    thread_local AlignedBuf<float> ping, pong, inbuf;  // per calling thread: concurrent calls are safe
    float* bufs[2] = {nullptr, nullptr};
    if (!cache && L > 1) {
        bufs[0] = ping.ensure(static_cast<std::size_t>(M * widest));
        bufs[1] = pong.ensure(static_cast<std::size_t>(M * widest));
    }
    const float* in = X.data;
    int64_t rs = X.rs, cs = X.cs;
    for (size_t l = 0; l < L; ++l) {
        poll_interrupt();  // between layers: Ctrl-C
        if (stop_requested()) return;
        const int64_t K = net.dims[l], N = net.dims[l + 1];
        if (round_bf16 || (dot && cs != 1)) {
            // The layer's input rounded to bfloat16, or copied (values only) to give the
            // dot path contiguous rows.
            float* r = inbuf.ensure(static_cast<std::size_t>(std::max<int64_t>(M * K, 1)));
            if (round_bf16) {
                round_rows_bf16(in, M, K, rs, cs, r);
            } else {
                for (int64_t i = 0; i < M; ++i)
                    for (int64_t k = 0; k < K; ++k) r[i * K + k] = in[i * rs + k * cs];
            }
            in = r;
            rs = K;
            cs = 1;
        }
        Epilogue<float> ep;
        ep.bias = net.b[l].empty() ? nullptr : net.b[l].data();
        ep.act = net.acts[l];
        if (cache) ep.act = ACT_LINEAR;  // Z_l with bias only, then A_l = g(Z_l) as a row pass
        float* dst = cache ? Z[l] : (l + 1 == L) ? out : bufs[l % 2];
        if (dot)
            gemm_dot16(kb, M, in, rs, net.w[l], dst, N, ep, nthreads);
        else
            gemm_packed(kb, M, N, K, in, rs, cs, packed->w[l]->data(), dst, N, ep, nthreads);
        if (cache) {
            rows_activate_copy(kb, net.acts[l], M, N, Z[l], A[l], N, nthreads);
            dst = A[l];
        }
        in = dst;
        rs = N;
        cs = 1;
    }
    if (cache && A[L - 1] != out && out != nullptr)
        std::memcpy(out, A[L - 1], sizeof(float) * static_cast<std::size_t>(M * net.dims[L]));
}

}  // namespace pyfwd
