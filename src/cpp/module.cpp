// pybind11 module `pyfwd._core`. (Placeholder until the GEMM core lands.)
#include <pybind11/pybind11.h>

PYBIND11_MODULE(_core, m) {
    m.doc() = "pyfwd compiled core";
    m.attr("__version__") = "0.1.0";
}
