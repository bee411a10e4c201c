// The register-blocked GEMM micro-kernel, written once over a vector-traits struct VT.
//
// ODR firewall: this file has no include guard and no namespace of its own on purpose.
// Each ISA translation unit (kernels/<isa>/gemm_<isa>.cpp) includes it *inside*
// `namespace pyfwd { namespace <isa> { namespace {`, after defining its traits with that
// ISA's intrinsics, so every entity below gets internal linkage in that TU only: the
// AVX-512 instantiation can never be merged with the generic one (numpy/numpy#25274).
//
// VT provides: T, V, W (lanes), zero(), load(p), load_n(p, n), store(p, v),
// store_n(p, v, n), bcast(p), fma(a, b, c) = a*b + c, relu(v), leaky(v, alpha).
// The transcendental activations come from the ISA's vmath.h: activate(v, code).

#ifdef PYFWD_HAVE_VMATH
template <class VT>
typename VT::V vec_act(typename VT::V z, int code) {
    return activate(z, code);
}
#endif

// One tile of M rows (1..MR) and NV vectors of columns (the last maybe partial).
// Never reads C on the FIRST K block (fresh output may hold NaN garbage).
template <class VT, int MR, int NR, int M, int NV>
void ukr_tile(int64_t kc, const typename VT::T* __restrict Ap, const typename VT::T* __restrict Bp,
              typename VT::T* __restrict C, int64_t ldc, int n, const typename VT::T* bias, int act,
              typename VT::T alpha, int flags) {
    using V = typename VT::V;
    constexpr int W = VT::W;
    static_assert(NV * W <= NR && M <= MR, "tile larger than the bundle's MR x NR");
    // lanes of vector j that are inside the output (the last one may be partial)
    const int last_lanes = n - (NV - 1) * W;  // 1..W
    V acc[M][NV];
    if (flags & UKR_FIRST) {
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) {
            V b = VT::zero();
            if (bias != nullptr)
                b = (j < NV - 1 || last_lanes == W) ? VT::load(bias + j * W) : VT::load_n(bias + j * W, last_lanes);
#pragma GCC unroll 16
            for (int i = 0; i < M; ++i) acc[i][j] = b;
        }
    } else {
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
            for (int j = 0; j < NV; ++j)
                acc[i][j] = (j < NV - 1 || last_lanes == W) ? VT::load(C + i * ldc + j * W)
                                                           : VT::load_n(C + i * ldc + j * W, last_lanes);
    }
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; ++k) {
        V b[NV];
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) b[j] = VT::load(Bp + j * W);
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            const V a = VT::bcast(Ap + i);
#pragma GCC unroll 8
            for (int j = 0; j < NV; ++j) acc[i][j] = VT::fma(a, b[j], acc[i][j]);
        }
        Ap += MR;
        Bp += NR;
    }
    if (flags & UKR_LAST) {
        switch (act) {
            case ACT_LINEAR:
            case ACT_SOFTMAX:  // a row pass after the last N block
                break;
            case ACT_RELU:
#pragma GCC unroll 16
                for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
                    for (int j = 0; j < NV; ++j) acc[i][j] = VT::relu(acc[i][j]);
                break;
            case ACT_LEAKY_RELU:
#pragma GCC unroll 16
                for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
                    for (int j = 0; j < NV; ++j) acc[i][j] = VT::leaky(acc[i][j], alpha);
                break;
            default:  // transcendental: vector math on the register tile
                for (int i = 0; i < M; ++i)
                    for (int j = 0; j < NV; ++j) acc[i][j] = vec_act<VT>(acc[i][j], act);
                break;
        }
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) {
            if (j < NV - 1 || last_lanes == W)
                VT::store(C + i * ldc + j * W, acc[i][j]);
            else
                VT::store_n(C + i * ldc + j * W, acc[i][j], last_lanes);
        }
}

// Picks the instance for (m rows, ceil(n / W) vectors) by a short chain of compares.
template <class VT, int MR, int NR, int M, int NV>
inline void ukr_by_nv(int nv, int64_t kc, const typename VT::T* Ap, const typename VT::T* Bp,
                      typename VT::T* C, int64_t ldc, int n, const typename VT::T* bias, int act,
                      typename VT::T alpha, int flags) {
    if constexpr (NV > 1) {
        if (nv < NV) {
            ukr_by_nv<VT, MR, NR, M, NV - 1>(nv, kc, Ap, Bp, C, ldc, n, bias, act, alpha, flags);
            return;
        }
    }
    ukr_tile<VT, MR, NR, M, NV>(kc, Ap, Bp, C, ldc, n, bias, act, alpha, flags);
}

template <class VT, int MR, int NR, int M>
inline void ukr_by_m(int m, int64_t kc, const typename VT::T* Ap, const typename VT::T* Bp,
                     typename VT::T* C, int64_t ldc, int n, const typename VT::T* bias, int act,
                     typename VT::T alpha, int flags) {
    if constexpr (M > 1) {
        if (m < M) {
            ukr_by_m<VT, MR, NR, M - 1>(m, kc, Ap, Bp, C, ldc, n, bias, act, alpha, flags);
            return;
        }
    }
    const int nv = (n + VT::W - 1) / VT::W;
    ukr_by_nv<VT, MR, NR, M, NR / VT::W>(nv, kc, Ap, Bp, C, ldc, n, bias, act, alpha, flags);
}

// The entry point with the UkrFn signature (edge tiles handled inside: m < MR rows use a
// smaller instance, n < NR columns use masked loads/stores of the last vector).
template <class VT, int MR, int NR>
void ukr_entry(int64_t kc, const typename VT::T* Ap, const typename VT::T* Bp, typename VT::T* C,
               int64_t ldc, int m, int n, const typename VT::T* bias, int act, typename VT::T alpha,
               int flags) {
    ukr_by_m<VT, MR, NR, MR>(m, kc, Ap, Bp, C, ldc, n, bias, act, alpha, flags);
}

// FMA throughput probe: 12 independent accumulator chains (more than FMA latency x
// ports) of a*x+b per round; returns the flops done. The result goes to *sink so the
// loop cannot be removed.
template <class VT>
double fma_probe_impl(int64_t iters, typename VT::T* sink) {
    using T = typename VT::T;
    using V = typename VT::V;
    constexpr int R = 12;
    const T one = T(0.999999), tiny = T(1e-7);
    V acc[R];
    const V a = VT::bcast(&one), b = VT::bcast(&tiny);
    // distinct starting values: identical chains would be merged by the compiler
    T start[R];
    for (int r = 0; r < R; ++r) start[r] = T(r + 1) * *sink;
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) acc[r] = VT::bcast(&start[r]);
    for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 12
        for (int r = 0; r < R; ++r) acc[r] = VT::fma(acc[r], a, b);
    }
    alignas(64) T buf[VT::W];
    V s = acc[0];
    for (int r = 1; r < R; ++r) VT::store(buf, acc[r]), s = VT::fma(VT::load(buf), a, s);
    VT::store(buf, s);
    *sink = buf[0];
    return 2.0 * R * VT::W * static_cast<double>(iters);
}
