// The training loop itself, natively: a run of mini-batch steps of Network.fit's common
// case (softmax output, cross-entropy on class indices, SGD or Adam/AdamW) with no
// Python between the steps. Per step, in order:
//   gather the step's rows of X and y (the epoch's order) into reused buffers;
//   xent_gradients (train_step.h): forward, loss head, backward pass;
//   the optimiser's update of every parameter (optim.h), into the other of two buffers;
//   repack the new weights into the packed network's own buffers (repack_network).
// These are the operations, in the same order and precision, of fit's Python loop over
// _core calls (training.py): the same bits, for any thread count and any split of an
// epoch into runs. Parameters and optimiser state are working copies owned by the
// caller, who commits them only once a run has finished: a run stopped by Ctrl-C leaves
// the network and the optimiser as they were before it.
#pragma once
#include <cstdint>
#include <vector>

#include "network.h"

namespace pyfwd {

// One parameter's working buffers (n elements each, C order). cur holds its value;
// next receives the update (the two are swapped after every step); grad receives its
// gradient; state[0..1]: the optimiser's buffers (SGD: the momentum buffer or nullptr;
// Adam: m and v), updated in place.
template <typename T>
struct ParamSlot {
    int64_t n = 0;
    T* cur = nullptr;
    T* next = nullptr;
    T* grad = nullptr;
    T* state[2] = {nullptr, nullptr};
    bool first = false;  // SGD with momentum: the run's first step starts this buffer (buf = g)
};

// The optimiser of a run: SGD (torch.optim.SGD) or Adam/AdamW (torch.optim.Adam(W)),
// with the constants of optim.h as doubles (rounded to T as the per-step bindings round
// them). Adam's bias corrections change every step: per_step holds (step_size, bc2) for
// each step of the run, computed by pyfwd.optim (the one place of that formula).
struct RunRule {
    bool adam = false;
    double lr = 0, weight_decay = 0, momentum = 0;  // SGD
    bool nesterov = false;
    double b1 = 0, one_minus_b1 = 0, b2 = 0, one_minus_b2 = 0, eps = 0, decay = 1;  // Adam
    bool decoupled = false;
    const double* per_step = nullptr;  // Adam: 2 per step
};

struct RunResult {
    double total = 0.0;   // the running sum of loss * batch rows, continued from the caller's
    int64_t correct = 0;  // rows predicted right, over the run
    int64_t steps = 0;    // steps completed (fewer than asked only when stopped)
};

// Whether steps start .. start+nsteps-1 of batch rows each all begin inside n rows
// (checked without overflow, whatever the values).
inline bool steps_fit(int64_t n, int64_t batch, int64_t start, int64_t nsteps) {
    if (n < 1 || batch < 1 || start < 0 || nsteps < 0 || start > n || nsteps > n) return false;
    return nsteps == 0 || start + nsteps - 1 <= (n - 1) / batch;
}

// Steps start .. start+nsteps-1 of an epoch over X (n rows, any strides) in the order
// `order` (n row indices, valid), batch rows per step (the last batch of the epoch may
// be shorter). params: W_1, b_1, W_2, b_2, ... in that order. net: packed from the
// params' cur values; repacked after every step. total: the caller's running loss sum
// (added to in the order of the Python loop). A stop request (interrupt.h) ends the run
// between steps or inside one; the result's steps says how many finished.
template <typename T>
RunResult fit_xent_steps(PackedNet<T>& net, std::vector<ParamSlot<T>>& params, const MatView<T>& X,
                         const int64_t* y, const int64_t* order, int64_t n, int64_t batch, int64_t start,
                         int64_t nsteps, const RunRule& rule, double total, int nthreads);

}  // namespace pyfwd
