#include "cpu_features.h"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#if defined(PYFWD_ARCH_X86)
#include <cpuid.h>
#elif defined(PYFWD_ARCH_AARCH64) && defined(__linux__)
#include <sys/auxv.h>  // getauxval(AT_HWCAP)
#endif

namespace pyfwd {
namespace {

#if defined(PYFWD_ARCH_X86)
struct Features {
    bool avx = false, fma = false, avx2 = false, f16c = false;
    bool avx512f = false, avx512dq = false, avx512bw = false, avx512vl = false;
    bool avx512_vnni = false, avx512_bf16 = false, amx_tile = false;
    bool os_avx = false, os_avx512 = false;
};

uint64_t read_xcr0() {
    uint32_t eax, edx;
    // xgetbv with ecx=0; only executed after CPUID reported OSXSAVE.
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<uint64_t>(edx) << 32) | eax;
}

Features detect() {
    Features f;
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = c & (1u << 27);
    f.avx = c & (1u << 28);
    f.fma = c & (1u << 12);
    f.f16c = c & (1u << 29);
    if (osxsave) {
        const uint64_t xcr0 = read_xcr0();
        f.os_avx = (xcr0 & 0x6) == 0x6;          // SSE + AVX state
        f.os_avx512 = (xcr0 & 0xE6) == 0xE6;     // + opmask, ZMM_Hi256, Hi16_ZMM
    }
    if (__get_cpuid_max(0, nullptr) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        f.avx2 = b & (1u << 5);
        f.avx512f = b & (1u << 16);
        f.avx512dq = b & (1u << 17);
        f.avx512bw = b & (1u << 30);
        f.avx512vl = b & (1u << 31);
        f.avx512_vnni = c & (1u << 11);
        f.amx_tile = d & (1u << 24);
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        f.avx512_bf16 = a1 & (1u << 5);
    }
    return f;
}
#elif defined(PYFWD_ARCH_AARCH64)
// Advanced SIMD (NEON) and FP are mandatory in ARMv8-A and the aarch64 ABI: the neon
// level needs no test. HWCAP only feeds show_config (bit numbers: Linux's
// arch/arm64/include/uapi/asm/hwcap.h).
struct Features {
    unsigned long hwcap = 0;
};

Features detect() {
    Features f;
#if defined(__linux__)
    f.hwcap = getauxval(AT_HWCAP);
#endif
    return f;
}
#else
struct Features {};
Features detect() { return {}; }
#endif

const Features& features() {
    static const Features f = detect();  // function-local: no global constructor
    return f;
}

}  // namespace

const char* isa_name(Isa isa) {
    switch (isa) {
#define PYFWD_ISA_CASE(name) \
    case Isa::name: return #name;
        PYFWD_ISA_LIST(PYFWD_ISA_CASE)
#undef PYFWD_ISA_CASE
    }
    return "?";
}

const char* known_isas_text() {
#define PYFWD_ISA_TEXT(name) ", " #name
    static constexpr const char kText[] = PYFWD_ISA_LIST(PYFWD_ISA_TEXT);
#undef PYFWD_ISA_TEXT
    return kText + 2;  // past the leading ", "
}

Isa parse_isa(const std::string& name) {
    // Case and surrounding whitespace do not matter: "AVX2", " avx2\n".
    const auto first = name.find_first_not_of(" \t\r\n\v\f");
    const auto last = name.find_last_not_of(" \t\r\n\v\f");
    std::string key = first == std::string::npos ? std::string() : name.substr(first, last - first + 1);
    for (char& ch : key) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    for (int i = 0; i < kIsaCount; ++i)
        if (key == isa_name(static_cast<Isa>(i))) return static_cast<Isa>(i);
    throw std::invalid_argument("unknown ISA level '" + name + "'; valid levels: " + known_isas_text());
}

bool cpu_supports(Isa isa) {
    if (isa == Isa::generic) return true;
#if defined(PYFWD_ARCH_X86)
    const Features& f = features();
    const bool avx2 = f.avx && f.os_avx && f.avx2 && f.fma;
    if (isa == Isa::avx2) return avx2;
    if (isa == Isa::avx512) return avx2 && f.os_avx512 && f.avx512f && f.avx512dq && f.avx512bw && f.avx512vl;
#elif defined(PYFWD_ARCH_AARCH64)
    if (isa == Isa::neon) return true;  // architectural (see Features above)
#endif
    return false;
}

bool cpu_supports(const std::string& isa) {
    try {
        return cpu_supports(parse_isa(isa));
    } catch (const std::invalid_argument&) {
        return false;
    }
}

std::vector<std::string> supported_isas() {
    std::vector<std::string> out;
    for (int i = 0; i < kIsaCount; ++i)
        if (cpu_supports(static_cast<Isa>(i))) out.emplace_back(isa_name(static_cast<Isa>(i)));
    return out;
}

Isa best_isa() {
    for (int i = kIsaCount - 1; i > 0; --i)
        if (cpu_supports(static_cast<Isa>(i))) return static_cast<Isa>(i);
    return Isa::generic;
}

std::string supported_isas_text() {
    std::string have;
    for (const auto& s : supported_isas()) have += (have.empty() ? "" : ", ") + s;
    return have;
}

Isa initial_isa() {
    const char* env = std::getenv("PYFWD_ISA");
    if (env == nullptr || *env == '\0') return best_isa();
    const std::string name(env);
    const std::string fix = "; this CPU supports: " + supported_isas_text() +
                            ". Set PYFWD_ISA to one of those, or unset it for the best one.";
    Isa isa;
    try {
        isa = parse_isa(name);
    } catch (const std::invalid_argument&) {
        throw std::invalid_argument("PYFWD_ISA='" + name +
                                    "' is not an ISA level (valid levels: " + known_isas_text() + ")" + fix);
    }
    if (!cpu_supports(isa))
        throw std::invalid_argument("PYFWD_ISA='" + name + "' asks for " + isa_name(isa) +
                                    ", which this CPU (or OS) does not support" + fix);
    return isa;
}

std::vector<std::string> cpu_feature_names() {
    const Features& f = features();
    std::vector<std::string> out;
    auto add = [&](bool on, const char* n) { if (on) out.emplace_back(n); };
#if defined(PYFWD_ARCH_X86)
    add(f.avx && f.os_avx, "avx");
    add(f.fma, "fma");
    add(f.f16c, "f16c");
    add(f.avx2, "avx2");
    add(f.avx512f && f.os_avx512, "avx512f");
    add(f.avx512dq, "avx512dq");
    add(f.avx512bw, "avx512bw");
    add(f.avx512vl, "avx512vl");
    add(f.avx512_vnni, "avx512_vnni");
    add(f.avx512_bf16, "avx512_bf16");
    add(f.amx_tile, "amx_tile");
#elif defined(PYFWD_ARCH_AARCH64)
    add(true, "asimd");
    add(f.hwcap & (1ul << 10), "asimdhp");  // HWCAP_ASIMDHP: fp16 arithmetic
    add(f.hwcap & (1ul << 20), "asimddp");  // HWCAP_ASIMDDP: dot product
    add(f.hwcap & (1ul << 22), "sve");      // HWCAP_SVE
#else
    (void)f;
    (void)add;
#endif
    return out;
}

}  // namespace pyfwd
