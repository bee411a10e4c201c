// act_backward: split the rows (or the elements) over the pool and call the active ISA's
// derivative loops.
#include "backward.h"

#include <algorithm>
#include <cstddef>

#include "dispatch.h"
#include "epilogue.h"
#include "thread_pool.h"

namespace pyfwd {
namespace {

constexpr int64_t kSerialElems = int64_t(1) << 15;  // below this, one thread (as rows_activate)

}  // namespace

template <typename T>
void act_backward(int act, int64_t M, int64_t N, const T* Z, int64_t ldz, const T* A, int64_t lda, const T* dA,
                  int64_t ldd, T* dZ, int64_t ldo, int nthreads) {
    if (M <= 0 || N <= 0) return;
    const ActBackwardFn<T> f = bundle_of<T>(active_dispatch()).act_backward;
    const T alpha = T(LEAKY_SLOPE);
    const int64_t total = M * N;
    const bool flat = act != ACT_SOFTMAX && ldz == N && lda == N && ldd == N && ldo == N;
    const int64_t units = flat ? (total + 63) / 64 : M;  // 64-element blocks, or rows
    auto range = [&](int64_t u0, int64_t u1) {
        if (flat) {
            const int64_t e0 = std::min(total, u0 * 64), e1 = std::min(total, u1 * 64);
            if (e1 > e0) f(act, alpha, Z + e0, A + e0, dA + e0, dZ + e0, static_cast<std::size_t>(e1 - e0));
            return;
        }
        for (int64_t i = u0; i < u1; ++i)
            f(act, alpha, Z + i * ldz, A + i * lda, dA + i * ldd, dZ + i * ldo, static_cast<std::size_t>(N));
    };
    ThreadPool::instance().run_split(units, nthreads, total, kSerialElems, range);
}

template void act_backward<float>(int, int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                                  const float*, int64_t, float*, int64_t, int);
template void act_backward<double>(int, int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                                   const double*, int64_t, double*, int64_t, int);

}  // namespace pyfwd
