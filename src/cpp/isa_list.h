// The ISA levels of this build, worst to best, per architecture: the one list in C++.
// Everything that names every level expands PYFWD_ISA_LIST(X), X(name) once per level:
// the Isa enum and its names (cpu_features), the per-level declarations of
// kernels/kernel_api.h, the dispatch table (dispatch.cpp) and the vector-math bindings
// (register_vmath.cpp). A level is a folder src/cpp/kernels/<name>/ defining
// pyfwd::<name>::fill_bundle, fma_probe and the vector-math entry points; CMakeLists.txt
// keeps the matching list of folders to compile (PYFWD_ISAS, with each level's flags).
// Adding a level: its folder, its name below and in PYFWD_ISAS, and its CPU test in
// cpu_features.cpp (cpu_supports). Names are the PYFWD_ISA values: never rename one.
#pragma once

#if defined(__x86_64__) || defined(_M_X64)
#define PYFWD_ARCH_X86 1
#define PYFWD_ISA_LIST(X) X(generic) X(avx2) X(avx512)
#elif defined(__aarch64__) || defined(_M_ARM64)
#define PYFWD_ARCH_AARCH64 1
#define PYFWD_ISA_LIST(X) X(generic) X(neon)
#else
// Any other architecture: the portable C++ kernels only.
#define PYFWD_ISA_LIST(X) X(generic)
#endif
