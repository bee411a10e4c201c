// Helpers shared by the register_*.cpp binding files (portable code).
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>

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

inline int pool_threads() { return ThreadPool::instance().num_threads(); }

inline bool is_f64(const py::array& a) { return a.dtype().kind() == 'f' && a.itemsize() == 8; }

}  // namespace pyfwd
