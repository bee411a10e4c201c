// The register-blocked GEMM micro-kernel, written once over a vector-traits struct VT.
//
// ODR firewall: this file has no include guard and no namespace of its own on purpose.
// Each ISA translation unit (kernels/<isa>/gemm_<isa>.cpp) includes it *inside*
// `namespace pyfwd { namespace <isa> { namespace {`, after defining its traits with that
// ISA's intrinsics, so every entity below gets internal linkage in that TU only: the
// AVX-512 instantiation can never be merged with the generic one (numpy/numpy#25274).
//
// VT is the ISA's SIMD traits struct, Simd<float> or Simd<double> of kernels/<isa>/simd.h
// (the same struct the vector math uses; its header lists every operation). Used here: T,
// V, W (lanes), zero, bcast, load, load_n, store, store_n, mul_add(a, b, c) = a*b + c,
// add, sub, div, vmax, select, gt, set1, all_max, all_sum, pad_ninf, gidx, gather_n and,
// where the level has it, transpose. The transcendental activations come from the ISA's
// vmath.h: activate(v, code).
//
// A level's tiles are one Tile<MR, NR, MW, SW> per dtype (below); set_gemm_kernels
// derives every GEMM entry of a bundle from it (the micro-kernel instance, MR/NR/MW/NW,
// the packing sliver, the short-row softmax and the kernel's name).

// relu and leaky_relu of the micro-kernel's epilogue: NaN passes through both
// (max returns its second operand when either is NaN; z > 0 is false on NaN).
template <class VT>
inline typename VT::V relu_of(typename VT::V z) {
    return VT::vmax(VT::zero(), z);
}
template <class VT>
inline typename VT::V leaky_of(typename VT::V z, typename VT::T alpha) {
    return VT::select(VT::gt(z, VT::zero()), z, VT::mul(z, VT::set1(alpha)));
}

template <class VT>
typename VT::V vec_act(typename VT::V z, int code) {
    return activate(z, code);
}

// Softmax of one short row held in NV vectors (the last with `last_lanes` valid lanes):
// max, exp(z - max), sum, divide. Used in the micro-kernel's final store when the tile
// holds whole rows (N <= NR) and by softmax_short for the same rows in memory (the
// return_cache path), so both give the same bits. A NaN or +inf in the row makes the
// sum NaN, so the whole row is NaN, as in the reference.
template <class VT, int NV>
inline void softmax_regs(typename VT::V* r, int last_lanes) {
    using V = typename VT::V;
    r[NV - 1] = VT::pad_ninf(r[NV - 1], last_lanes);
    V m = r[0];
    for (int j = 1; j < NV; ++j) m = VT::vmax(m, r[j]);
    const V mx = VT::all_max(m);
    V s = VT::zero();
    for (int j = 0; j < NV; ++j) {
        r[j] = exp(VT::sub(r[j], mx));  // padded lanes: exp(-inf) = 0
        s = VT::add(s, r[j]);
    }
    const V tot = VT::all_sum(s);
    for (int j = 0; j < NV; ++j) r[j] = VT::div(r[j], tot);
}

// The transcendental activations and the in-tile softmax (whole rows only) of a
// finished tile, on the tile in C (just stored, so in L1): kept out of ukr_tile so that
// its accumulators are never addressed through memory, which made GCC mirror them to
// the stack on every k step of the AVX2 kernels.
template <class VT, int M, int NV>
__attribute__((noinline)) void tile_act(typename VT::T* C, int64_t ldc, int last_lanes, int act) {
    using V = typename VT::V;
    constexpr int W = VT::W;
    for (int i = 0; i < M; ++i) {
        typename VT::T* c = C + i * ldc;
        V r[NV];
        for (int j = 0; j < NV; ++j) r[j] = (j < NV - 1 || last_lanes == W) ? VT::load(c + j * W) : VT::load_n(c + j * W, last_lanes);
        if (act == ACT_SOFTMAX) {
            softmax_regs<VT, NV>(r, last_lanes);
        } else {
            for (int j = 0; j < NV; ++j) r[j] = vec_act<VT>(r[j], act);
        }
        for (int j = 0; j < NV; ++j) {
            if (j < NV - 1 || last_lanes == W)
                VT::store(c + j * W, r[j]);
            else
                VT::store_n(c + j * W, r[j], last_lanes);
        }
    }
}

// One tile of M rows (1..MR) and NV vectors of columns (the last maybe partial).
// A is packed (DIRECT false: element (i, k) at A[k*MR + i]) or read in place
// (DIRECT true: rows lda apart, k contiguous; the "sup" path, no packing). The NV
// vectors may span several NR-wide W slivers, `bstride` apart (the small-M "wide"
// tiles: enough independent accumulators to hide the FMA latency with 1-2 rows).
// Every element is summed in the same order (bias, then k = 0, 1, ...) whatever the
// instance, so results do not depend on the tiling, the path or the thread count.
// Never reads C on the FIRST K block (fresh output may hold NaN garbage).
template <class VT, int MR, int NR, int M, int NV, bool DIRECT>
void ukr_tile(int64_t kc, const typename VT::T* __restrict A, int64_t lda, const typename VT::T* __restrict Bp,
              int64_t bstride, typename VT::T* __restrict C, int64_t ldc, int n, const typename VT::T* bias,
              int act, typename VT::T alpha, int flags) {
    using T = typename VT::T;
    using V = typename VT::V;
    constexpr int W = VT::W;
    constexpr int VPS = NR / W;  // vectors per sliver
    static_assert(M <= MR, "tile taller than the bundle's MR");
    // lanes of the last vector that are inside the output
    const int last_lanes = n - (NV - 1) * W;  // 1..W
    V acc[M][NV];
    if (flags & UKR_FIRST) {
#pragma GCC unroll 16
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
#pragma GCC unroll 16
            for (int j = 0; j < NV; ++j)
                acc[i][j] = (j < NV - 1 || last_lanes == W) ? VT::load(C + i * ldc + j * W)
                                                           : VT::load_n(C + i * ldc + j * W, last_lanes);
    }
    // DIRECT: rows addressed as group base (every 4th row, advanced with k) + a row
    // offset of 0..3 lda, i.e. [base + offset*sizeof(T)] with 4 + 3 registers, instead of
    // MR row pointers (more than the 16 general registers: GCC spilled them).
    constexpr int NG = DIRECT ? (M + 3) / 4 : 1;
    const T* agrp[NG];
    const int64_t roff[4] = {0, lda, 2 * lda, 3 * lda};
    if constexpr (DIRECT) {
        for (int g = 0; g < NG; ++g) agrp[g] = A + 4 * g * lda;
    }
    // Software prefetch 16 k-steps ahead (the next 2 KB of B, ~1 KB of packed A): the
    // B sliver (KC x NR, 64 KB for f32) is larger than L1, so its lines come from L2
    // as the k loop reaches them. Measured sgemm 1 thread, same process: 1024^3 168 ->
    // 174, 2048^3 148 -> 159 GFLOP/s (distances 8..24 within noise of each other).
#pragma GCC unroll 2
    for (int64_t k = 0; k < kc; ++k) {
        if constexpr (!DIRECT) {  // (no gain measured on the direct path: [784,128,10])
            __builtin_prefetch(Bp + 16 * NR);
            __builtin_prefetch(Bp + 16 * NR + NR / 2);
            __builtin_prefetch(A + 16 * MR);
        }
        V b[NV];
#pragma GCC unroll 16
        for (int j = 0; j < NV; ++j) b[j] = VT::load(Bp + (j / VPS) * bstride + (j % VPS) * W);
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i) {
            const V a = DIRECT ? VT::bcast(agrp[i / 4] + roff[i % 4]) : VT::bcast(A + i);
#pragma GCC unroll 16
            for (int j = 0; j < NV; ++j) acc[i][j] = VT::mul_add(a, b[j], acc[i][j]);
        }
        if constexpr (!DIRECT) A += MR;
        if constexpr (DIRECT)
            for (int g = 0; g < NG; ++g) ++agrp[g];
        Bp += NR;
    }
    const bool last = (flags & UKR_LAST) != 0;
    if (last && act == ACT_RELU) {
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i)
#pragma GCC unroll 16
            for (int j = 0; j < NV; ++j) acc[i][j] = relu_of<VT>(acc[i][j]);
    } else if (last && act == ACT_LEAKY_RELU) {
#pragma GCC unroll 16
        for (int i = 0; i < M; ++i)
#pragma GCC unroll 16
            for (int j = 0; j < NV; ++j) acc[i][j] = leaky_of<VT>(acc[i][j], alpha);
    }
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i)
#pragma GCC unroll 16
        for (int j = 0; j < NV; ++j) {
            if (j < NV - 1 || last_lanes == W)
                VT::store(C + i * ldc + j * W, acc[i][j]);
            else
                VT::store_n(C + i * ldc + j * W, acc[i][j], last_lanes);
        }
    // softmax of a tile without whole rows: a row pass after the last N block
    const bool in_tile = act == ACT_SOFTMAX ? (flags & UKR_FULLROW) != 0
                                            : act != ACT_LINEAR && act != ACT_RELU && act != ACT_LEAKY_RELU;
    if (last && in_tile) tile_act<VT, M, NV>(C, ldc, last_lanes, act);
}

#define PYFWD_UKR_ARGS                                                                                       \
    int64_t kc, const typename VT::T *A, int64_t lda, const typename VT::T *Bp, int64_t bstride,             \
        typename VT::T *C, int64_t ldc, int n, const typename VT::T *bias, int act, typename VT::T alpha, int flags
#define PYFWD_UKR_PASS kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags

// Picks the instance for (m rows, nv = ceil(n / W) vectors) by a short chain of compares.
template <class VT, int MR, int NR, int M, int NV, bool DIRECT>
inline void ukr_by_nv(int nv, PYFWD_UKR_ARGS) {
    if constexpr (NV > 1) {
        if (nv < NV) {
            ukr_by_nv<VT, MR, NR, M, NV - 1, DIRECT>(nv, PYFWD_UKR_PASS);
            return;
        }
    }
    ukr_tile<VT, MR, NR, M, NV, DIRECT>(PYFWD_UKR_PASS);
}

// Rows up to MW get tiles up to SW slivers wide; taller ones one sliver.
template <class VT, int MR, int NR, int MW, int SW, int M, bool DIRECT>
inline void ukr_by_m(int m, PYFWD_UKR_ARGS) {
    if constexpr (M > 1) {
        if (m < M) {
            ukr_by_m<VT, MR, NR, MW, SW, M - 1, DIRECT>(m, PYFWD_UKR_PASS);
            return;
        }
    }
    constexpr int NVMAX = (M <= MW ? SW : 1) * (NR / VT::W);
    const int nv = (n + VT::W - 1) / VT::W;
    ukr_by_nv<VT, MR, NR, M, NVMAX, DIRECT>(nv, PYFWD_UKR_PASS);
}

// The entry point with the UkrFn signature (edge tiles inside: m < MR rows use a smaller
// instance, a partial last vector uses masked loads/stores). lda == 0: A is packed.
template <class VT, int MR, int NR, int MW, int SW>
void ukr_entry(int m, PYFWD_UKR_ARGS) {
    if (lda == 0)
        ukr_by_m<VT, MR, NR, MW, SW, MR, false>(m, PYFWD_UKR_PASS);
    else
        ukr_by_m<VT, MR, NR, MW, SW, MR, true>(m, PYFWD_UKR_PASS);
}
#undef PYFWD_UKR_ARGS
#undef PYFWD_UKR_PASS

// Whether VT has transpose(V r[W]): r[i] holds row i on entry, column i on exit.
template <class VT, class = void>
struct has_transpose : std::false_type {};
template <class VT>
struct has_transpose<VT, std::void_t<decltype(VT::transpose(std::declval<typename VT::V*>()))>> : std::true_type {};

// Pack W slivers [s0, s1) (W element (j, k) at W[j*rsw + k*csw], any strides) into
// Bp[s][k][j] = W[s*NR + j, k], zero past N, with contiguous stores. The loads depend on
// W's layout, never on a gather where the layout allows it (gathers are microcoded and
// slow on AMD and on many Intel cores):
//  * rsw == 1 (W Fortran-ordered, e.g. a transposed C array): the W lanes of one k are
//    contiguous: one (masked) load each;
//  * csw == 1 (W C-ordered, the usual case), a whole group of W rows, VT::transpose:
//    W rows loaded W k's at a time and transposed in registers;
//  * anything else (both strides > 1, or a group past N): one gather per vector and k
//    (or lane by lane where 32-bit gather offsets would overflow).
// Every path only moves values: the packed bits are the same whatever the path.
template <class VT, int NR>
void pack_w_impl(const typename VT::T* W, int64_t N, int64_t K, int64_t rsw, int64_t csw, int64_t s0, int64_t s1,
                 typename VT::T* Bp) {
    using V = typename VT::V;
    constexpr int W_ = VT::W, VPS = NR / W_;
    const int64_t span = (rsw < 0 ? -rsw : rsw) * W_;
    const bool gather_ok = span < (int64_t(1) << 30);  // 32-bit gather offsets
    const auto idx = VT::gidx(gather_ok ? rsw : 0);
    for (int64_t s = s0; s < s1; ++s) {
        auto* base = Bp + s * std::max<int64_t>(K, 1) * NR;
        for (int v = 0; v < VPS; ++v) {
            const int64_t col0 = s * NR + v * W_;
            const int lanes = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(W_, N - col0)));
            auto* out = base + v * W_;
            const auto* w = W + col0 * rsw;
            if (lanes == 0) {
                for (int64_t k = 0; k < K; ++k) VT::store(out + k * NR, VT::zero());
                continue;
            }
            if (rsw == 1) {
                for (int64_t k = 0; k < K; ++k)
                    VT::store(out + k * NR, lanes == W_ ? VT::load(w + k * csw) : VT::load_n(w + k * csw, lanes));
                continue;
            }
            if constexpr (has_transpose<VT>::value) {
                if (csw == 1 && lanes == W_) {
                    for (int64_t k0 = 0; k0 < K; k0 += W_) {
                        const int kk = static_cast<int>(std::min<int64_t>(W_, K - k0));
                        V r[W_];
                        for (int l = 0; l < W_; ++l)
                            r[l] = kk == W_ ? VT::load(w + l * rsw + k0) : VT::load_n(w + l * rsw + k0, kk);
                        VT::transpose(r);
                        for (int c = 0; c < kk; ++c) VT::store(out + (k0 + c) * NR, r[c]);
                    }
                    continue;
                }
            }
            if (gather_ok) {
                for (int64_t k = 0; k < K; ++k) VT::store(out + k * NR, VT::gather_n(w + k * csw, idx, lanes));
            } else {
                for (int64_t k = 0; k < K; ++k)
                    for (int l = 0; l < W_; ++l) out[k * NR + l] = l < lanes ? w[l * rsw + k * csw] : 0;
            }
        }
    }
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
        for (int r = 0; r < R; ++r) acc[r] = VT::mul_add(acc[r], a, b);
    }
    alignas(64) T buf[VT::W];
    V s = acc[0];
    for (int r = 1; r < R; ++r) VT::store(buf, acc[r]), s = VT::mul_add(VT::load(buf), a, s);
    VT::store(buf, s);
    *sink = buf[0];
    return 2.0 * R * VT::W * static_cast<double>(iters);
}

// Streaming-read probe: the sum of p[0..n), read once front to back with aligned vector
// loads into 8 independent accumulators (no dependence chain limits the rate, so the
// loads run at the speed of the memory level holding p). n a multiple of 8 * W and p
// aligned to 64 bytes (the caller's buffer); the sum keeps the loads from being removed.
template <class VT>
double read_probe_impl(const float* p, int64_t n) {
    using V = typename VT::V;
    constexpr int R = 8;
    V acc[R];
    const float zero = 0.0f;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r] = VT::bcast(&zero);
    for (int64_t i = 0; i + R * VT::W <= n; i += R * VT::W) {
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) acc[r] = VT::add(acc[r], VT::load(p + i + r * VT::W));
    }
    alignas(64) float buf[VT::W];
    double total = 0;
    for (int r = 0; r < R; ++r) {
        VT::store(buf, acc[r]);
        for (int l = 0; l < VT::W; ++l) total += buf[l];
    }
    return total;
}

// Softmax of a row of n <= NR elements, the same arithmetic as the fused epilogue.
template <class VT, int NR, int NV>
void softmax_short_nv(typename VT::T* row, int n) {
    typename VT::V r[NV];
    const int last = n - (NV - 1) * VT::W;
    for (int j = 0; j < NV; ++j)
        r[j] = (j < NV - 1 || last == VT::W) ? VT::load(row + j * VT::W) : VT::load_n(row + j * VT::W, last);
    softmax_regs<VT, NV>(r, last);
    for (int j = 0; j < NV; ++j) {
        if (j < NV - 1 || last == VT::W)
            VT::store(row + j * VT::W, r[j]);
        else
            VT::store_n(row + j * VT::W, r[j], last);
    }
}

template <class VT, int NR, int NV>
void softmax_short_impl(typename VT::T* row, std::size_t n) {
    if constexpr (NV > 1) {
        if (static_cast<int>(n) <= (NV - 1) * VT::W) {
            softmax_short_impl<VT, NR, NV - 1>(row, n);
            return;
        }
    }
    if (n > 0) softmax_short_nv<VT, NR, NV>(row, static_cast<int>(n));
}

// How the dot path reads W: VT::T as it is (SameLoad), or 16-bit weights widened to
// float32 in registers (the ISA files' loaders, wide16.h). WL::E is W's element type;
// WL::load / load_n give one vector of W (load_n: n lanes, zeros past n).
template <class VT>
struct SameLoad {
    using E = typename VT::T;
    static typename VT::V load(const E* p) { return VT::load(p); }
    static typename VT::V load_n(const E* p, int n) { return VT::load_n(p, n); }
};

// The small-M "dot" path (dense() with a few rows, W used once): no packing of W.
// C[i, j] = bias[j] + dot(A[i, :], W[j, :]) for MB rows of A and RB rows of W at once,
// both row-contiguous: MB*RB vector accumulators along K (the last vector masked), one
// horizontal sum each, then the bias. Each output has its own accumulator and the same
// order (k in vector steps, lanes reduced by all_sum, bias last) in every instance, so
// the bits do not depend on the blocking or on how rows/columns are split over threads,
// nor on the loader (16-bit W gives the bits of its exact float32 widening).
template <class VT, int MB, int RB, class WL = SameLoad<VT>>
void dot_block(int64_t K, const typename VT::T* __restrict A, int64_t lda, const typename WL::E* __restrict W,
               int64_t ldw, const typename VT::T* bias, typename VT::T* __restrict C, int64_t ldc) {
    using T = typename VT::T;
    using V = typename VT::V;
    constexpr int L = VT::W;
    V acc[MB][RB];
#pragma GCC unroll 16
    for (int i = 0; i < MB; ++i)
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) acc[i][r] = VT::zero();
    const int64_t kfull = K / L * L;
    auto step = [&](int64_t k, int lanes) {
        V a[MB];
#pragma GCC unroll 16
        for (int i = 0; i < MB; ++i) a[i] = lanes == L ? VT::load(A + i * lda + k) : VT::load_n(A + i * lda + k, lanes);
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) {
            const V w = lanes == L ? WL::load(W + r * ldw + k) : WL::load_n(W + r * ldw + k, lanes);
#pragma GCC unroll 16
            for (int i = 0; i < MB; ++i) acc[i][r] = VT::mul_add(a[i], w, acc[i][r]);
        }
    };
#pragma GCC unroll 2
    for (int64_t k = 0; k < kfull; k += L) step(k, L);
    if (kfull < K) step(kfull, static_cast<int>(K - kfull));
    alignas(64) T lane0[L];
    for (int i = 0; i < MB; ++i)
        for (int r = 0; r < RB; ++r) {
            VT::store(lane0, VT::all_sum(acc[i][r]));
            C[i * ldc + r] = bias != nullptr ? lane0[0] + bias[r] : lane0[0];
        }
}

// Rows [0, m) of A against W rows [n0, n1): blocks of W rows (kept in L1) outer, blocks
// of up to MBMAX A rows inner; narrower instances for the edges. One A row gets 8 W rows
// per block (8 accumulators hide the FMA latency); more rows get 4 (MB x 4 accumulators).
template <class VT, int MBMAX, class WL = SameLoad<VT>>
void dot_rows_impl(int64_t m, int64_t K, const typename VT::T* A, int64_t lda, const typename WL::E* W, int64_t ldw,
                   int64_t n0, int64_t n1, const typename VT::T* bias, typename VT::T* C, int64_t ldc) {
    constexpr int RB = 4;
    int64_t j = n0;
    auto bj = [&](int64_t jj) { return bias != nullptr ? bias + jj : nullptr; };
    if (m == 1)
        for (; j + 2 * RB <= n1; j += 2 * RB) dot_block<VT, 1, 2 * RB, WL>(K, A, lda, W + j * ldw, ldw, bj(j), C + j, ldc);
    for (; j + RB <= n1; j += RB) {
        int64_t i = 0;
        if constexpr (MBMAX >= 4)
            for (; i + 4 <= m; i += 4)
                dot_block<VT, 4, RB, WL>(K, A + i * lda, lda, W + j * ldw, ldw, bj(j), C + i * ldc + j, ldc);
        for (; i + 2 <= m; i += 2)
            dot_block<VT, 2, RB, WL>(K, A + i * lda, lda, W + j * ldw, ldw, bj(j), C + i * ldc + j, ldc);
        for (; i < m; ++i) dot_block<VT, 1, RB, WL>(K, A + i * lda, lda, W + j * ldw, ldw, bj(j), C + i * ldc + j, ldc);
    }
    for (; j < n1; ++j) {
        int64_t i = 0;
        for (; i + 2 <= m; i += 2)
            dot_block<VT, 2, 1, WL>(K, A + i * lda, lda, W + j * ldw, ldw, bj(j), C + i * ldc + j, ldc);
        for (; i < m; ++i) dot_block<VT, 1, 1, WL>(K, A + i * lda, lda, W + j * ldw, ldw, bj(j), C + i * ldc + j, ldc);
    }
}

// ---------------------------------------------------------------- the tile description
// A level's register tile for one dtype: MR rows x NR columns (NR a whole number of
// vectors) per micro-kernel call, and for calls of at most MW rows, tiles SW slivers wide
// (the small-M tiles: enough independent accumulators with one or two rows). The one
// description of the tile: set_gemm_kernels derives every GEMM entry of a bundle from it.
template <int MR_, int NR_, int MW_, int SW_>
struct Tile {
    static constexpr int MR = MR_, NR = NR_, MW = MW_, SW = SW_;
};

// Vector registers a tile keeps live in its k loop: the accumulators, one sliver's B
// vectors per column group, and the broadcast A value.
constexpr int tile_registers(int m, int nv) {
    return m * nv + nv + 1;
}

template <class VT, class TL>
void ukr_of_tile(int m, int64_t kc, const typename VT::T* A, int64_t lda, const typename VT::T* Bp, int64_t bstride,
                 typename VT::T* C, int64_t ldc, int n, const typename VT::T* bias, int act, typename VT::T alpha,
                 int flags) {
    ukr_entry<VT, TL::MR, TL::NR, TL::MW, TL::SW>(m, kc, A, lda, Bp, bstride, C, ldc, n, bias, act, alpha, flags);
}

// "sgemm_ukr_<isa>_<MR>x<NR>" ("dgemm" for double), written once on first use.
template <class VT, class TL>
const char* ukr_name_of(const char* isa) {
    static char name[64];
    static const int once = std::snprintf(name, sizeof name, "%cgemm_ukr_%s_%dx%d",
                                          sizeof(typename VT::T) == 4 ? 's' : 'd', isa, TL::MR, TL::NR);
    (void)once;
    return name;
}

// The bundle's GEMM entries from its tile: the micro-kernel, MR/NR/MW/NW, the packing of
// W into NR-wide slivers, the short-row softmax (rows of n <= NR, as the fused epilogue),
// the dot path (DOT_MB A rows per block) and the cache-block rule. A level may replace
// an entry afterwards with a specialised one (AVX-512's float pack_w).
// Where the level has vector registers (W > 1), the tile must fit them: more
// accumulators than registers is the spill tools/check_spills.py looks for.
template <class VT, class TL, int DOT_MB>
void set_gemm_kernels(KernelBundle<typename VT::T>& kb, const char* isa, const BlockRule& rule) {
    constexpr int NV = TL::NR / VT::W;
    static_assert(TL::NR % VT::W == 0, "NR must be a whole number of vectors");
    static_assert(TL::MW >= 1 && TL::MW <= TL::MR && TL::SW >= 1, "small-M tiles: 1 <= MW <= MR, SW >= 1");
    static_assert(VT::W == 1 || tile_registers(TL::MR, NV) <= VT::REGS, "the MR x NR tile needs more registers than the level has");
    static_assert(VT::W == 1 || tile_registers(TL::MW, TL::SW * NV) <= VT::REGS, "the small-M tile needs more registers than the level has");
    kb.ukr_name = ukr_name_of<VT, TL>(isa);
    kb.ukr = &ukr_of_tile<VT, TL>;
    kb.pack_w = &pack_w_impl<VT, TL::NR>;
    kb.softmax_short = &softmax_short_impl<VT, TL::NR, NV>;
    kb.dot_rows = &dot_rows_impl<VT, DOT_MB>;
    kb.MR = TL::MR;
    kb.NR = TL::NR;
    kb.MW = TL::MW;
    kb.NW = TL::SW * TL::NR;
    kb.rule = rule;
}
