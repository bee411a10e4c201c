// pybind11 module `pyfwd._core`: one register_*() per area (boost-histogram style).
#include <pybind11/pybind11.h>

namespace py = pybind11;

#ifndef PYFWD_VERSION
#error "PYFWD_VERSION is defined by CMakeLists.txt from src/pyfwd/_version.py"
#endif

void register_config(py::module_& m);
void register_dense(py::module_& m);
void register_network(py::module_& m);
void register_backward(py::module_& m);
void register_dense16(py::module_& m);
void register_training(py::module_& m);
#ifdef PYFWD_HAVE_VMATH_BINDINGS
void register_vmath(py::module_& m);
#endif

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyfwd compiled core: blocked GEMM with fused epilogues, per-ISA kernels, thread pool";
    m.attr("__version__") = PYFWD_VERSION;  // from src/pyfwd/_version.py, by CMakeLists.txt
    register_config(m);
    register_dense(m);
    register_network(m);
    register_backward(m);
    register_dense16(m);
    register_training(m);
#ifdef PYFWD_HAVE_VMATH_BINDINGS
    register_vmath(m);
#endif
}
