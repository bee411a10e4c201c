// CPU feature detection (x86: CPUID + XGETBV; aarch64: Advanced SIMD is architectural,
// the other features from the kernel's HWCAP) and the PYFWD_ISA override.
// Portable code: compiled without any -m flag.
#pragma once
#include <string>
#include <vector>

#include "isa_list.h"

namespace pyfwd {

// ISA levels of this architecture, worst to best (isa_list.h). Names are the ones
// PYFWD_ISA and the Python API use.
#define PYFWD_ISA_ENUMERATOR(name) name,
enum class Isa : int { PYFWD_ISA_LIST(PYFWD_ISA_ENUMERATOR) };
#undef PYFWD_ISA_ENUMERATOR
#define PYFWD_ISA_ONE(name) +1
constexpr int kIsaCount = 0 PYFWD_ISA_LIST(PYFWD_ISA_ONE);
#undef PYFWD_ISA_ONE

const char* isa_name(Isa isa);
// The levels this build knows, as "generic, avx2, avx512" (for messages).
const char* known_isas_text();
// Parses a level name of this build (isa_list.h), in any case, surrounding whitespace
// ignored; throws std::invalid_argument listing the valid names.
Isa parse_isa(const std::string& name);

// True when the CPU *and the OS* (XGETBV: the register state is saved on context
// switch) support the level. "generic" is always true; unknown names are false.
bool cpu_supports(const std::string& isa);
bool cpu_supports(Isa isa);

// Levels usable here, worst to best.
std::vector<std::string> supported_isas();
Isa best_isa();
// supported_isas() as "generic, avx2" (for messages).
std::string supported_isas_text();

// The level to start with: PYFWD_ISA if set (throws std::invalid_argument with a clear
// message if unknown or unsupported by this CPU), else best_isa().
Isa initial_isa();

// Human-readable feature flags (for show_config).
std::vector<std::string> cpu_feature_names();

}  // namespace pyfwd
