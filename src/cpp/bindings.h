// Helpers shared by the register_*.cpp binding files (portable code).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>
#if defined(__GLIBCXX__)
#include <cxxabi.h>  // abi::__forced_unwind
#endif

#include "interrupt.h"
#include "network.h"
#include "thread_pool.h"

namespace pyfwd {
namespace py = pybind11;

// A (rows, cols) view of a 2-D array of dtype T with any strides, negative ones
// included, without copying. Only an array whose byte strides are not a multiple of
// the item size (a view into a structured array, say) is copied, into *keep.
template <typename T>
MatView<T> mat_view(const py::array& a, py::array& keep, const char* what) {
    if (a.ndim() != 2) throw std::invalid_argument(std::string(what) + " must be 2-D");
    if (!py::isinstance<py::array_t<T>>(a) || a.dtype().kind() != 'f' || a.itemsize() != sizeof(T))
        throw std::invalid_argument(std::string(what) + " has the wrong dtype");
    const auto isz = static_cast<py::ssize_t>(sizeof(T));
    py::array src = a;
    if (a.strides(0) % isz != 0 || a.strides(1) % isz != 0) {
        keep = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
        src = keep;
    }
    return MatView<T>{static_cast<const T*>(src.data()), src.shape(0), src.shape(1), src.strides(0) / isz,
                      src.strides(1) / isz};
}

// A 1-D contiguous view (bias); copies into *keep if strided.
template <typename T>
const T* vec_data(const py::array& b, py::array& keep) {
    if (b.ndim() != 1 || b.itemsize() != sizeof(T)) throw std::invalid_argument("bias must be a 1-D array of the network's dtype");
    if (b.strides(0) == static_cast<py::ssize_t>(sizeof(T)) || b.shape(0) <= 1) return static_cast<const T*>(b.data());
    keep = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(b);
    return static_cast<const T*>(keep.data());
}

// `out=`: C-contiguous, writable, exact (M, N), dtype T (the Python API validated it;
// checked again here because a wrong one would be written out of bounds).
template <typename T>
T* out_data(const py::array& out, int64_t M, int64_t N) {
    if (!py::isinstance<py::array_t<T>>(out) || out.itemsize() != sizeof(T) || out.ndim() != 2 ||
        out.shape(0) != M || out.shape(1) != N || !(out.flags() & py::array::c_style) || !out.writeable())
        throw std::invalid_argument("out must be a writable C-contiguous array of shape (" + std::to_string(M) + ", " +
                                    std::to_string(N) + ") and the network's dtype");
    return static_cast<T*>(const_cast<void*>(out.data()));
}

// The cache of forward(X, return_cache=True): {"A0": X, "Z1": .., "A1": .., ...} with
// fresh (M, dims[l+1]) arrays, A_L being `result` (data Y); their data in Z and A.
template <typename T>
py::dict forward_cache(const py::array& X, const py::array& result, T* Y, int64_t M, const std::vector<int64_t>& dims,
                       std::vector<T*>& Z, std::vector<T*>& A) {
    const size_t L = dims.size() - 1;
    py::dict cache;
    cache["A0"] = X;
    Z.assign(L, nullptr);
    A.assign(L, nullptr);
    for (size_t l = 0; l < L; ++l) {
        const int64_t N = dims[l + 1];
        py::array_t<T> z({M, N});
        Z[l] = z.mutable_data();
        cache[("Z" + std::to_string(l + 1)).c_str()] = z;
        if (l + 1 == L) {
            A[l] = Y;
            cache[("A" + std::to_string(l + 1)).c_str()] = result;
        } else {
            py::array_t<T> a({M, N});
            A[l] = a.mutable_data();
            cache[("A" + std::to_string(l + 1)).c_str()] = a;
        }
    }
    return cache;
}

// ---------------------------------------------------------------- the GIL
// Every binding releases the GIL through without_gil(), never py::gil_scoped_release: that
// one takes the GIL back in its destructor, which is noexcept. A daemon thread that comes
// back from a long call after the interpreter began to finalise is ended by Python (< 3.14)
// with pthread_exit inside PyEval_RestoreThread; the forced unwind through a noexcept frame
// is std::terminate: SIGABRT at exit. Here the GIL is taken back in normal control flow,
// with no noexcept frame between it and pybind11's dispatcher (which rethrows
// abi::__forced_unwind), and a thread that finds finalisation begun is parked instead
// (what Python 3.14 itself does), so the process exits normally.

// Whether the interpreter is finalising; safe without the GIL (an atomic read).
inline bool interpreter_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing() != 0;
#else
    return _Py_IsFinalizing() != 0;
#endif
}

// Whether this thread is the one that runs Python's signal handlers (GIL held).
inline bool handles_signals() {
#if PY_VERSION_HEX < 0x030D0000
    return _PyOS_IsMainThread() != 0;
#else
    static const unsigned long main_id =
        py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();
    return PyThread_get_thread_ident() == main_id;
#endif
}

// Takes the GIL back after a GIL-released section. The main thread (the one that
// finalises) always gets it; another thread that finds the interpreter finalising never
// returns to Python: it sleeps until the process exits.
inline void take_gil_back(PyThreadState* ts, bool main_thread) {
    if (!main_thread && interpreter_finalizing())
        for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    PyEval_RestoreThread(ts);  // may still pthread_exit (finalising began just now): unwinds cleanly
}

struct GilState {
    PyThreadState* ts = nullptr;
};

// CallControl::check of the main thread: take the GIL for a moment and run Python's
// signal handlers; true when one raised (KeyboardInterrupt for Ctrl-C), the error then
// pending in this thread's state.
inline bool check_signals(void* state) {
    GilState& g = *static_cast<GilState*>(state);
    PyEval_RestoreThread(g.ts);
    const bool raised = PyErr_CheckSignals() != 0;
    g.ts = PyEval_SaveThread();
    return raised;
}

// Runs f() (plain buffers only: no Python object touched) with the GIL released, as one
// call that Ctrl-C can stop at its block boundaries (interrupt.h); then raises the
// signal handler's exception (KeyboardInterrupt) or f's, if any. Outputs of a stopped
// call are unfinished: the caller returns nothing in that case (it throws from here).
template <class F>
void without_gil(F&& f) {
    if (current_call() != nullptr)  // only possible from a signal handler run by check_signals
        throw std::runtime_error(
            "pyfwd: a cpp backend call was made from a signal handler while another cpp call was running "
            "on the same thread; call it after the running call has returned");
    const bool main_thread = handles_signals();
    GilState gil;
    CallControl call;
    if (main_thread) {
        call.check = &check_signals;
        call.ctx = &gil;
    }
    std::exception_ptr error;
    gil.ts = PyEval_SaveThread();
    {
        CallScope scope(&call, /*owner=*/true);
        try {
            std::forward<F>(f)();
#if defined(__GLIBCXX__)
        } catch (abi::__forced_unwind&) {
            throw;  // thread cancellation: must propagate
#endif
        } catch (...) {
            error = std::current_exception();
        }
    }
    take_gil_back(gil.ts, main_thread);
    if (call.stop.load(std::memory_order_relaxed)) throw py::error_already_set();  // the pending error
    if (error) std::rethrow_exception(error);
}

// The backward pass's operands: a as a (rows, cols) array of T whose rows are contiguous (a copy, into keep, otherwise).
template <typename T>
MatView<T> row_view(const py::array& a, py::array& keep, const char* what, int64_t M, int64_t N) {
    MatView<T> v = mat_view<T>(a, keep, what);
    if (v.rows != M || v.cols != N)
        throw std::invalid_argument(std::string(what) + " has shape (" + std::to_string(v.rows) + ", " +
                                    std::to_string(v.cols) + "), expected the output's shape (" +
                                    std::to_string(M) + ", " + std::to_string(N) + ")");
    if (v.cs != 1 && N > 1) {
        keep = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(a);
        v = MatView<T>{static_cast<const T*>(keep.data()), M, N, N, 1};
    }
    return v;
}

// The loss head's targets: y as M int64 class indices (converted, into keep), each checked
// to lie in [0, N) (the core reads dZ[i, y[i]]). rows_of names what y must match.
inline const int64_t* class_indices(const py::array& y, py::array_t<int64_t>& keep, int64_t M, int64_t N,
                                    const char* rows_of) {
    keep = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(y);
    if (!keep || keep.ndim() != 1 || keep.shape(0) != M)
        throw std::invalid_argument(std::string("y must hold one int64 class index per row of ") + rows_of);
    const int64_t* Y = keep.data();
    for (int64_t i = 0; i < M; ++i)
        if (Y[i] < 0 || Y[i] >= N)
            throw std::invalid_argument("y[" + std::to_string(i) + "] = " + std::to_string(Y[i]) +
                                        " is out of range for " + std::to_string(N) + " classes");
    return Y;
}

// a as the data of a C-contiguous array of dtype T and n elements (read; written too by
// inout_data, which also needs it writable): the optimisers' parameters and state,
// refused rather than copied (the state is updated in place).
template <typename T>
const T* in_data(const py::array& a, const char* what, py::ssize_t n) {
    if (!py::isinstance<py::array_t<T>>(a) || !(a.flags() & py::array::c_style) || a.size() != n)
        throw std::invalid_argument(std::string(what) + ": expected a C-contiguous " +
                                    (sizeof(T) == 8 ? "float64" : "float32") + " array of " + std::to_string(n) +
                                    " elements");
    return static_cast<const T*>(a.data());
}

template <typename T>
T* inout_data(py::array& a, const char* what, py::ssize_t n) {
    in_data<T>(a, what, n);
    if (!a.writeable()) throw std::invalid_argument(std::string(what) + " must be writable");
    return static_cast<T*>(a.mutable_data());
}

inline int pool_threads() { return ThreadPool::instance().num_threads(); }

inline bool is_f64(const py::array& a) { return a.dtype().kind() == 'f' && a.itemsize() == 8; }

}  // namespace pyfwd
