// The C++ core's kernels against a naive double-precision loop, with no Python: every ISA
// level this CPU supports (isa_list.h), both dtypes, every activation, both GEMM paths
// (packed W + micro-kernel; the small-M dot path), C and Fortran layouts, awkward shapes
// (1, primes, past MR/NR, MC, KC and NC), and bit-identical results for 1 and 3 threads;
// and each level's vector math (exp, tanh, erf, erfc, sigmoid, gelu, silu) over the whole
// range against long double libm: <= 4 ulp, NaN in gives NaN out, the infinities exact;
// and each level's optimiser updates (SGD with/without momentum, Nesterov, weight decay;
// Adam with L2, AdamW) bit for bit against a scalar loop of the same operations.
// Built by CMake with -DPYFWD_BUILD_TESTS=ON (tools/cross_aarch64.sh runs it under qemu for
// aarch64; tests/test_cpp_kernels_native.py natively). Exit status 0: all passed.
//
// Tolerance: the numerics contract of the package (one layer):
//   |y - y_ref| <= 4 (K + 2) u (|A| |W|^T + |b|) + 8 u |y_ref| + tiny
// with the softmax's bound over its row's largest pre-activation bound (its Jacobian's rows
// sum to at most 1/2 in absolute value).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "dispatch.h"
#include "epilogue.h"
#include "gemm.h"
#include "kernels/kernel_api.h"
#include "optim.h"
#include "thread_pool.h"

namespace {

using pyfwd::Epilogue;
using pyfwd::KernelBundle;

struct Shape {
    int64_t M, N, K;
};

// 1, primes, tile edges and block edges of every level (MR 4..14, NR 8..32; MC <= 128,
// KC 256..384, NC ~4096): first and last K blocks, partial tiles, several N blocks.
const Shape kShapes[] = {
    {1, 1, 1},     {1, 13, 7},    {2, 37, 401},  {3, 5, 17},    {5, 48, 33},   {7, 131, 129},
    {16, 12, 385}, {17, 1, 3},    {17, 24, 800}, {31, 13, 1},   {8, 12, 384},  {6, 8, 256},
    {97, 131, 401}, {131, 37, 769}, {257, 29, 97}, {9, 4099, 5},  {64, 33, 1031},
};

double act_ref(int act, double z) {
    switch (act) {
        case pyfwd::ACT_RELU: return z > 0 ? z : 0.0;
        case pyfwd::ACT_LEAKY_RELU: return z > 0 ? z : z * pyfwd::LEAKY_SLOPE;
        case pyfwd::ACT_SIGMOID: return 1.0 / (1.0 + std::exp(-z));
        case pyfwd::ACT_TANH: return std::tanh(z);
        case pyfwd::ACT_GELU: return 0.5 * z * std::erfc(-z / std::sqrt(2.0));
        case pyfwd::ACT_SILU: return z / (1.0 + std::exp(-z));
        default: return z;  // linear; softmax is a row operation
    }
}

template <typename T>
struct Case {
    std::vector<T> A, W, b;  // A (M, K) and W (N, K) in the chosen layout
    int64_t rsa, csa, rsw, csw;
    std::vector<double> z, zbound;  // reference pre-activation and its error bound
};

template <typename T>
Case<T> make_case(const Shape& s, bool fortran, std::mt19937_64& rng) {
    Case<T> c;
    std::uniform_real_distribution<double> d(-1.0, 1.0);
    c.A.resize(static_cast<size_t>(s.M * s.K));
    c.W.resize(static_cast<size_t>(s.N * s.K));
    c.b.resize(static_cast<size_t>(s.N));
    for (auto& v : c.A) v = static_cast<T>(d(rng));
    for (auto& v : c.W) v = static_cast<T>(d(rng) / std::sqrt(double(s.K)) * 3.0);
    for (auto& v : c.b) v = static_cast<T>(d(rng));
    c.rsa = fortran ? 1 : s.K;
    c.csa = fortran ? s.M : 1;
    c.rsw = fortran ? 1 : s.K;
    c.csw = fortran ? s.N : 1;
    const double u = std::numeric_limits<T>::epsilon() / 2;
    c.z.assign(static_cast<size_t>(s.M * s.N), 0.0);
    c.zbound.assign(c.z.size(), 0.0);
    for (int64_t i = 0; i < s.M; ++i)
        for (int64_t j = 0; j < s.N; ++j) {
            double acc = c.b[j], mag = std::fabs(double(c.b[j]));
            for (int64_t k = 0; k < s.K; ++k) {
                const double p = double(c.A[i * c.rsa + k * c.csa]) * double(c.W[j * c.rsw + k * c.csw]);
                acc += p;
                mag += std::fabs(p);
            }
            c.z[i * s.N + j] = acc;
            c.zbound[i * s.N + j] = 4.0 * double(s.K + 2) * u * mag;
        }
    return c;
}

int g_failures = 0;
long g_checked = 0;

// Compares one output with the reference; prints the first few mismatches with context.
template <typename T>
bool check(const char* isa, const char* path, const Shape& s, bool fortran, int act, const Case<T>& c,
           const std::vector<T>& y) {
    const double u = std::numeric_limits<T>::epsilon() / 2;
    const double tiny = 1e4 * std::numeric_limits<T>::min();
    std::vector<double> ref(c.z.size()), bound(c.z.size());
    for (int64_t i = 0; i < s.M; ++i) {
        const double* z = &c.z[i * s.N];
        const double* zb = &c.zbound[i * s.N];
        if (act == pyfwd::ACT_SOFTMAX) {
            const double mx = *std::max_element(z, z + s.N);
            const double zbmax = *std::max_element(zb, zb + s.N);
            double sum = 0;
            for (int64_t j = 0; j < s.N; ++j) sum += std::exp(z[j] - mx);
            for (int64_t j = 0; j < s.N; ++j) {
                ref[i * s.N + j] = std::exp(z[j] - mx) / sum;
                bound[i * s.N + j] = zbmax;
            }
        } else {
            for (int64_t j = 0; j < s.N; ++j) {
                ref[i * s.N + j] = act_ref(act, z[j]);
                bound[i * s.N + j] = zb[j];
            }
        }
    }
    int bad = 0;
    for (size_t e = 0; e < ref.size(); ++e) {
        const double tol = bound[e] + 8 * u * std::fabs(ref[e]) + tiny;
        const double got = double(y[e]);
        ++g_checked;
        if (!(std::fabs(got - ref[e]) <= tol)) {
            if (bad < 3)
                std::printf("MISMATCH %s %s %s M=%lld N=%lld K=%lld %s act=%s at (%lld, %lld): got %.17g, "
                            "ref %.17g, tol %.3g\n",
                            isa, sizeof(T) == 4 ? "float32" : "float64", path, (long long)s.M, (long long)s.N,
                            (long long)s.K, fortran ? "F-order" : "C-order", pyfwd::kActNames[act],
                            (long long)(e / s.N), (long long)(e % s.N), got, ref[e], tol);
            ++bad;
        }
    }
    if (bad) ++g_failures;
    return bad == 0;
}

// The packed path (what dense() runs for M > kDotMaxM and Network.forward for any M).
template <typename T>
std::vector<T> run_packed(const KernelBundle<T>& kb, const Shape& s, const Case<T>& c, int act, int nt) {
    std::vector<T> Bp(pyfwd::packed_w_size(kb, s.N, s.K));
    pyfwd::pack_w(kb, c.W.data(), s.N, s.K, c.rsw, c.csw, Bp.data(), nt);
    std::vector<T> y(static_cast<size_t>(s.M * s.N), std::numeric_limits<T>::quiet_NaN());  // never read
    Epilogue<T> ep;
    ep.bias = c.b.data();
    ep.act = act;
    pyfwd::gemm_packed(kb, s.M, s.N, s.K, c.A.data(), c.rsa, c.csa, Bp.data(), y.data(), s.N, ep, nt);
    return y;
}

// The small-M dot path: rows of A and W contiguous along K (C layout only).
template <typename T>
std::vector<T> run_dot(const KernelBundle<T>& kb, const Shape& s, const Case<T>& c, int act, int nt) {
    std::vector<T> y(static_cast<size_t>(s.M * s.N), std::numeric_limits<T>::quiet_NaN());
    Epilogue<T> ep;
    ep.bias = c.b.data();
    ep.act = act;
    pyfwd::gemm_dot(kb, s.M, s.N, s.K, c.A.data(), s.K, c.W.data(), s.K, y.data(), s.N, ep, nt);
    return y;
}

template <typename T>
void run_level(const char* isa, std::mt19937_64& rng) {
    const KernelBundle<T>& kb = pyfwd::bundle_of<T>(pyfwd::active_dispatch());
    int si = 0;
    for (const Shape& s : kShapes) {
        const bool fortran = (si++ % 3) == 2;  // every third shape: both operands Fortran-ordered
        const Case<T> c = make_case<T>(s, fortran, rng);
        for (int act = 0; act < pyfwd::ACT_COUNT; ++act) {
            const std::vector<T> y1 = run_packed(kb, s, c, act, 1);
            check(isa, "packed", s, fortran, act, c, y1);
            const std::vector<T> y3 = run_packed(kb, s, c, act, 3);
            if (std::memcmp(y1.data(), y3.data(), y1.size() * sizeof(T)) != 0) {
                std::printf("NOT DETERMINISTIC %s %s packed M=%lld N=%lld K=%lld act=%s: 1 vs 3 threads differ\n",
                            isa, sizeof(T) == 4 ? "float32" : "float64", (long long)s.M, (long long)s.N,
                            (long long)s.K, pyfwd::kActNames[act]);
                ++g_failures;
            }
            if (!fortran && s.M <= pyfwd::kDotMaxM) check(isa, "dot", s, fortran, act, c, run_dot(kb, s, c, act, 3));
        }
    }
}

// ---- vector math: vmath_apply's codes 0 exp, 1 tanh, 2 erf, 3 sigmoid, 4 gelu, 5 silu, 6 erfc
constexpr const char* kFuncs[] = {"exp", "tanh", "erf", "sigmoid", "gelu", "silu", "erfc"};

long double func_ref(int f, long double x) {  // finite x
    switch (f) {
        case 0: return std::exp(x);
        case 1: return std::tanh(x);
        case 2: return std::erf(x);
        case 3: return 1.0L / (1.0L + std::exp(-x));
        case 4: return 0.5L * x * std::erfc(-x / std::sqrt(2.0L));
        case 5: return x / (1.0L + std::exp(-x));
        default: return std::erfc(x);
    }
}

// f(+inf), f(-inf)
const double kAtInf[7][2] = {{HUGE_VAL, 0.0}, {1.0, -1.0}, {1.0, -1.0}, {1.0, 0.0},
                             {HUGE_VAL, 0.0}, {HUGE_VAL, 0.0}, {0.0, 2.0}};

template <typename T>
using ApplyFn = void (*)(int, const T*, T*, std::size_t);

template <typename T>
void check_vmath(const char* isa, ApplyFn<T> apply) {
    // finite points: both signs, magnitudes 2^-150..max on a log grid, plus a dense linear
    // grid over [-40, 40] where every function changes shape
    std::vector<T> x;
    const double lo = std::log2(double(std::numeric_limits<T>::denorm_min()));
    const double hi = std::log2(double(std::numeric_limits<T>::max()));
    for (int i = 0; i <= 4000; ++i) {
        const T v = static_cast<T>(std::exp2(lo + (hi - lo) * i / 4000.0));
        x.push_back(v);
        x.push_back(-v);
    }
    for (int i = -8000; i <= 8000; ++i) x.push_back(static_cast<T>(i / 200.0 + 1e-3));
    x.push_back(T(0));
    x.push_back(-T(0));
    const T inf = std::numeric_limits<T>::infinity();
    x.push_back(std::numeric_limits<T>::quiet_NaN());
    x.push_back(inf);
    x.push_back(-inf);
    std::vector<T> y(x.size());
    for (int f = 0; f < 7; ++f) {
        apply(f, x.data(), y.data(), x.size());
        int bad = 0;
        for (size_t i = 0; i < x.size(); ++i) {
            double err_ulp;
            if (std::isnan(x[i])) {
                err_ulp = std::isnan(y[i]) ? 0 : HUGE_VAL;
            } else if (std::isinf(x[i])) {
                err_ulp = (double(y[i]) == kAtInf[f][x[i] > 0 ? 0 : 1]) ? 0 : HUGE_VAL;
            } else {
                const long double r = func_ref(f, x[i]);
                const T rt = static_cast<T>(r);  // correctly rounded (or nearly: long double)
                if (std::isinf(rt)) {
                    err_ulp = y[i] == rt ? 0 : HUGE_VAL;
                } else {
                    const T a = std::fabs(rt);
                    const long double ulp = std::max<long double>(std::nextafter(a, inf) - a,
                                                                  std::numeric_limits<T>::denorm_min());
                    err_ulp = double(std::fabs((long double)y[i] - r) / ulp);
                }
            }
            if (!(err_ulp <= 4.0)) {
                if (bad < 3)
                    std::printf("VMATH %s %s %s(%.9g) = %.17g, %.3g ulp from the reference\n", isa,
                                sizeof(T) == 4 ? "float32" : "float64", kFuncs[f], double(x[i]), double(y[i]),
                                err_ulp);
                ++bad;
            }
            ++g_checked;
        }
        if (bad) ++g_failures;
    }
}

// The level's vmath_apply for T (every level of isa_list.h is linked in).
template <typename T>
ApplyFn<T> vmath_of(const std::string& isa) {
#define PYFWD_VMATH_OF(ns)                                                                         \
    if (isa == #ns) {                                                                              \
        if constexpr (std::is_same_v<T, float>) return &pyfwd::ns::vmath_apply_f32;                \
        else return &pyfwd::ns::vmath_apply_f64;                                                   \
    }
    PYFWD_ISA_LIST(PYFWD_VMATH_OF)
#undef PYFWD_VMATH_OF
    return nullptr;
}

// The optimisers' updates (optim.h, kernels/optim_loops.inc) of the active level against
// a scalar loop of the same IEEE operations in the same order (this file is compiled with
// -ffp-contract=off): the same bits, new parameter and state, at every length (vector
// bodies and tails), for 1 and 3 threads (pyfwd::sgd_update / adam_update split by element).
template <typename T>
void check_optim(const char* isa, std::mt19937_64& rng) {
    std::normal_distribution<double> nd(0.0, 1.0);
    const int64_t lengths[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1031, 40000};
    auto same = [](const std::vector<T>& a, const std::vector<T>& b) {
        return std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
    };
    int bad = 0;
    for (const int64_t n : lengths) {
        std::vector<T> p(n), g(n), s0(n), s1(n);
        for (int64_t i = 0; i < n; ++i) {
            p[i] = T(nd(rng));
            g[i] = T(nd(rng) * 0.1);
            s0[i] = T(nd(rng) * 0.05);
            s1[i] = T(std::fabs(nd(rng)) * 0.01);
        }
        // SGD: (momentum, nesterov, weight decay, first)
        const double sgd_cases[][4] = {{0, 0, 0, 0}, {0, 0, 1e-2, 0}, {0.9, 0, 0, 1}, {0.9, 0, 0, 0}, {0.9, 1, 1e-3, 0}};
        for (const auto& c : sgd_cases) {
            const pyfwd::SgdStep<T> st{T(0.05), T(c[2]), T(c[0]), c[1] != 0, c[3] != 0};
            std::vector<T> ref(n), buf_ref = s0;
            for (int64_t i = 0; i < n; ++i) {
                const T lr = st.lr, wd = st.weight_decay, mu = st.momentum;
                if (mu == T(0)) {
                    ref[i] = wd != T(0) ? p[i] - lr * (g[i] + wd * p[i]) : p[i] - lr * g[i];
                    continue;
                }
                const T gi = wd != T(0) ? g[i] + wd * p[i] : g[i];
                const T b = st.first ? gi : mu * buf_ref[i] + gi;
                buf_ref[i] = b;
                ref[i] = p[i] - lr * (st.nesterov ? gi + mu * b : b);
            }
            for (const int nt : {1, 3}) {
                std::vector<T> out(n), buf = s0;
                pyfwd::sgd_update<T>(st, n, p.data(), g.data(), c[0] != 0 ? buf.data() : nullptr, out.data(), nt);
                if (!same(out, ref) || (c[0] != 0 && !same(buf, buf_ref))) {
                    if (bad++ < 5)
                        std::printf("FAIL %s %s sgd n=%lld mu=%g nesterov=%g wd=%g first=%g T=%d\n", isa,
                                    sizeof(T) == 4 ? "f32" : "f64", static_cast<long long>(n), c[0], c[1], c[2], c[3],
                                    nt);
                }
                g_checked += n;
            }
        }
        // Adam: (coupled weight decay, decoupled decay factor, decoupled)
        const double adam_cases[][3] = {{0, 1, 0}, {1e-2, 1, 0}, {0, 1 - 1e-3 * 1e-2, 1}};
        for (const auto& c : adam_cases) {
            const pyfwd::AdamStep<T> st{T(0.9), T(0.1), T(0.999), T(1 - 0.999), T(1e-3 / (1 - 0.9 * 0.9)),
                                        T(std::sqrt(1 - 0.999 * 0.999)), T(1e-8), T(c[0]), T(c[1]), c[2] != 0};
            std::vector<T> ref(n), m_ref = s0, v_ref = s1;
            for (int64_t i = 0; i < n; ++i) {
                const T pi = st.decoupled ? p[i] * st.decay : p[i];
                const T gi = (!st.decoupled && st.weight_decay != T(0)) ? g[i] + st.weight_decay * pi : g[i];
                const T mi = m_ref[i] * st.b1 + gi * st.one_minus_b1;
                const T vi = v_ref[i] * st.b2 + (gi * gi) * st.one_minus_b2;
                m_ref[i] = mi;
                v_ref[i] = vi;
                ref[i] = pi - st.step_size * (mi / (std::sqrt(vi) / st.bc2 + st.eps));
            }
            for (const int nt : {1, 3}) {
                std::vector<T> out(n), m = s0, v = s1;
                pyfwd::adam_update<T>(st, n, p.data(), g.data(), m.data(), v.data(), out.data(), nt);
                if (!same(out, ref) || !same(m, m_ref) || !same(v, v_ref)) {
                    if (bad++ < 5)
                        std::printf("FAIL %s %s adam n=%lld wd=%g decoupled=%g T=%d\n", isa,
                                    sizeof(T) == 4 ? "f32" : "f64", static_cast<long long>(n), c[0], c[2], nt);
                }
                g_checked += n;
            }
        }
    }
    if (bad) ++g_failures;
}

}  // namespace

// The read probe (the bench's streaming-read ceiling) sums every float it is given: a sum
// of distinct small integers (exact in float) over a few lengths that are multiples of 8
// vectors of every level.
void check_read_probe(const char* isa) {
    const auto& d = pyfwd::active_dispatch();
    pyfwd::AlignedBuf<float> buf;
    for (int64_t n : {int64_t(128), int64_t(1024), int64_t(128 * 37)}) {
        float* p = buf.ensure(static_cast<std::size_t>(n));
        double want = 0;
        for (int64_t i = 0; i < n; ++i) want += (p[i] = static_cast<float>(i % 61));
        const double got = d.read_probe(p, n);
        ++g_checked;
        if (got != want) {
            std::printf("FAIL %s read_probe n=%ld: %.1f, want %.1f\n", isa, static_cast<long>(n), got, want);
            ++g_failures;
        }
    }
}

int main() {
    pyfwd::ThreadPool::instance().set_num_threads(3);
    const std::vector<std::string> levels = pyfwd::supported_isas();
    std::string names;
    for (const auto& l : levels) names += (names.empty() ? "" : ", ") + l;
    std::printf("ISA levels built: %s; supported here: %s\n", pyfwd::known_isas_text(), names.c_str());
    for (const std::string& isa : levels) {
        pyfwd::set_active_isa(isa);
        std::mt19937_64 rng(12345);
        const int before = g_failures;
        run_level<float>(isa.c_str(), rng);
        run_level<double>(isa.c_str(), rng);
        check_vmath<float>(isa.c_str(), vmath_of<float>(isa));
        check_vmath<double>(isa.c_str(), vmath_of<double>(isa));
        check_optim<float>(isa.c_str(), rng);
        check_optim<double>(isa.c_str(), rng);
        check_read_probe(isa.c_str());
        const auto& d = pyfwd::active_dispatch();
        std::printf("%-8s %s / %s: %s\n", isa.c_str(), d.f32.ukr_name, d.f64.ukr_name,
                    g_failures == before ? "ok" : "FAILED");
    }
    std::printf("%ld outputs checked, %d failing cases\n", g_checked, g_failures);
    return g_failures == 0 ? 0 : 1;
}
