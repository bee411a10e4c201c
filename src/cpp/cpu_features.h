// CPU feature detection (CPUID + XGETBV) and the PYFWD_ISA override.
// Portable code: compiled without any -m flag.
#pragma once
#include <string>
#include <vector>

namespace pyfwd {

// ISA levels, worst to best. Names are the ones PYFWD_ISA and the Python API use.
enum class Isa : int { generic = 0, avx2 = 1, avx512 = 2 };

const char* isa_name(Isa isa);
// Parses "generic" | "avx2" | "avx512", in any case, surrounding whitespace ignored;
// throws std::invalid_argument listing the valid names.
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
