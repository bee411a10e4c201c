// The optimisers' fused updates (optim.h): split by element over the pool, each part
// run by the active level's loops (kernels/optim_loops.inc).
#include "optim.h"

#include <algorithm>
#include <cstddef>

#include "dispatch.h"
#include "thread_pool.h"

namespace pyfwd {
namespace {

// Below this many elements one thread: the update is a few operations per element, and
// waking the pool costs more than it saves (a 784x128 layer, 100K elements, is split).
constexpr int64_t kSerialElems = int64_t(1) << 15;
constexpr int64_t kChunk = 1024;  // split points on whole chunks (cache lines stay with one thread)

template <class F>
void split(int64_t n, int nthreads, F&& body) {
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    ThreadPool::instance().run_split(chunks, nthreads, n, kSerialElems, [&](int64_t c0, int64_t c1) {
        const int64_t i0 = std::min(n, c0 * kChunk), i1 = std::min(n, c1 * kChunk);
        if (i1 > i0) body(i0, i1);
    });
}

}  // namespace

template <typename T>
void sgd_update(const SgdStep<T>& s, int64_t n, const T* p, const T* g, T* buf, T* out, int nthreads) {
    const SgdUpdateFn<T> f = bundle_of<T>(active_dispatch()).sgd_update;
    split(n, nthreads, [&](int64_t i0, int64_t i1) {
        f(s, static_cast<std::size_t>(i1 - i0), p + i0, g + i0, buf == nullptr ? nullptr : buf + i0, out + i0);
    });
}

template <typename T>
void adam_update(const AdamStep<T>& s, int64_t n, const T* p, const T* g, T* m, T* v, T* out, int nthreads) {
    const AdamUpdateFn<T> f = bundle_of<T>(active_dispatch()).adam_update;
    split(n, nthreads, [&](int64_t i0, int64_t i1) {
        f(s, static_cast<std::size_t>(i1 - i0), p + i0, g + i0, m + i0, v + i0, out + i0);
    });
}

template void sgd_update<float>(const SgdStep<float>&, int64_t, const float*, const float*, float*, float*, int);
template void sgd_update<double>(const SgdStep<double>&, int64_t, const double*, const double*, double*, double*,
                                 int);
template void adam_update<float>(const AdamStep<float>&, int64_t, const float*, const float*, float*, float*, float*,
                                 int);
template void adam_update<double>(const AdamStep<double>&, int64_t, const double*, const double*, double*, double*,
                                  double*, int);

}  // namespace pyfwd
