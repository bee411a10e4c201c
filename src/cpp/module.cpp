// pybind11 module `pyfwd._core`: one register_*() per area (boost-histogram style).
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_config(py::module_& m);
void register_dense(py::module_& m);
void register_network(py::module_& m);
void register_dense16(py::module_& m);
#ifdef PYFWD_HAVE_VMATH_BINDINGS
void register_vmath(py::module_& m);
#endif

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyfwd compiled core: blocked GEMM with fused epilogues, per-ISA kernels, thread pool";
    m.attr("__version__") = "0.1.0";
    register_config(m);
    register_dense(m);
    register_network(m);
    register_dense16(m);
#ifdef PYFWD_HAVE_VMATH_BINDINGS
    register_vmath(m);
#endif
}
