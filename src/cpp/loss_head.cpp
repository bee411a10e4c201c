// softmax_cross_entropy (loss_head.h): per row, max shift, log-sum-exp in double.
#include "loss_head.h"

#include <cmath>
#include <vector>

namespace pyfwd {

template <typename T>
XentResult softmax_cross_entropy(int64_t B, int64_t N, const T* Z, int64_t ldz, const T* A, int64_t lda,
                                 const int64_t* y, T* dZ) {
    XentResult r;
    if (B <= 0 || N <= 0) return r;
    std::vector<double> shifted(static_cast<std::size_t>(N));
    const double b = static_cast<double>(B);
    double total = 0.0;
    for (int64_t i = 0; i < B; ++i) {
        const T* z = Z + i * ldz;
        const T* a = A + i * lda;
        double zmax = z[0];
        int64_t best = 0;
        for (int64_t j = 1; j < N; ++j) {
            if (static_cast<double>(z[j]) > zmax) zmax = z[j];
            if (a[j] > a[best] || (std::isnan(a[j]) && !std::isnan(a[best]))) best = j;  // np.argmax
        }
        double sum = 0.0;
        for (int64_t j = 0; j < N; ++j) {
            shifted[j] = static_cast<double>(z[j]) - zmax;
            sum += std::exp(shifted[j]);
        }
        const double lse = std::log(sum);
        const int64_t yi = y[i];
        total += -(shifted[yi] - lse);
        r.correct += best == yi;
        T* d = dZ + i * N;
        for (int64_t j = 0; j < N; ++j) {
            const double p = std::exp(shifted[j] - lse);
            d[j] = static_cast<T>((j == yi ? p - 1.0 : p) / b);  // as NumPy: (P - onehot) / B
        }
    }
    r.loss = total / b;
    return r;
}

template XentResult softmax_cross_entropy<float>(int64_t, int64_t, const float*, int64_t, const float*, int64_t,
                                                 const int64_t*, float*);
template XentResult softmax_cross_entropy<double>(int64_t, int64_t, const double*, int64_t, const double*, int64_t,
                                                  const int64_t*, double*);

}  // namespace pyfwd
