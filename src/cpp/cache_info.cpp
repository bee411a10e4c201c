#include "cache_info.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define PYFWD_X86 1
#endif

namespace pyfwd {
namespace {

// Logical CPUs listed in a sysfs cpu list such as "0-3,8-11".
int count_cpu_list(const std::string& s) {
    int n = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        std::size_t j = s.find(',', i);
        if (j == std::string::npos) j = s.size();
        const std::string part = s.substr(i, j - i);
        const std::size_t dash = part.find('-');
        try {
            if (dash == std::string::npos) {
                if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) ++n;
            } else {
                n += std::stoi(part.substr(dash + 1)) - std::stoi(part.substr(0, dash)) + 1;
            }
        } catch (const std::exception&) {
            // a malformed entry counts as nothing
        }
        i = j + 1;
    }
    return n;
}

// "32K", "512K", "32768K", "1M", "49152" -> bytes (0 when it does not parse).
int64_t parse_size(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
    if (s.empty()) return 0;
    int64_t mult = 1;
    const char u = static_cast<char>(std::toupper(static_cast<unsigned char>(s.back())));
    if (u == 'K' || u == 'M' || u == 'G') {
        mult = u == 'K' ? 1024 : u == 'M' ? 1024 * 1024 : int64_t(1024) * 1024 * 1024;
        s.pop_back();
    }
    if (s.empty() || !std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
        return 0;
    try {
        return std::stoll(s) * mult;
    } catch (const std::exception&) {
        return 0;
    }
}

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    if (f) std::getline(f, s);
    return s;
}

// Record one data or unified cache of `level` (1..3).
void take(CacheInfo& c, int level, int64_t bytes, int sharing) {
    if (bytes <= 0) return;
    sharing = std::max(sharing, 1);
    if (level == 1 && c.l1d == 0) c.l1d = bytes;
    if (level == 2 && c.l2 == 0) {
        c.l2 = bytes;
        c.l2_sharing = sharing;
    }
    if (level == 3 && c.l3 == 0) {
        c.l3 = bytes;
        c.l3_sharing = sharing;
    }
}

#ifdef PYFWD_X86
// CPUID leaf 4 (Intel) and 0x8000001D (AMD) share one layout: EAX[4:0] type (0 = no
// more caches, 1 data, 2 instruction, 3 unified), EAX[7:5] level, EAX[25:14] logical
// CPUs sharing - 1; size = ways * partitions * line * sets from EBX/ECX.
bool from_cpuid_leaf(unsigned leaf, CacheInfo& c) {
    for (unsigned sub = 0; sub < 16; ++sub) {
        unsigned a = 0, b = 0, cx = 0, d = 0;
        __cpuid_count(leaf, sub, a, b, cx, d);
        const unsigned type = a & 0x1f;
        if (type == 0) break;
        if (type == 2) continue;  // instruction cache
        const int level = static_cast<int>((a >> 5) & 0x7);
        const int sharing = static_cast<int>((a >> 14) & 0xfff) + 1;
        const int64_t ways = ((b >> 22) & 0x3ff) + 1, parts = ((b >> 12) & 0x3ff) + 1, line = (b & 0xfff) + 1;
        const int64_t sets = int64_t(cx) + 1;
        take(c, level, ways * parts * line * sets, sharing);
    }
    return c.l1d > 0 && c.l2 > 0;
}

bool from_cpuid(CacheInfo& c) {
    unsigned a = 0, b = 0, cx = 0, d = 0;
    if (__get_cpuid(0, &a, &b, &cx, &d) == 0) return false;
    const unsigned max_leaf = a;
    char vendor[13] = {};
    for (int i = 0; i < 4; ++i) {
        vendor[i] = static_cast<char>((b >> (8 * i)) & 0xff);
        vendor[4 + i] = static_cast<char>((d >> (8 * i)) & 0xff);
        vendor[8 + i] = static_cast<char>((cx >> (8 * i)) & 0xff);
    }
    const std::string v(vendor);
    if (v == "AuthenticAMD" || v == "HygonGenuine") {
        unsigned ea = 0, eb = 0, ec = 0, ed = 0;
        if (__get_cpuid(0x80000000u, &ea, &eb, &ec, &ed) == 0 || ea < 0x8000001Du) return false;
        __get_cpuid(0x80000001u, &ea, &eb, &ec, &ed);
        if ((ec & (1u << 22)) == 0) return false;  // no TOPOEXT: leaf 0x8000001D undefined
        CacheInfo t;
        if (!from_cpuid_leaf(0x8000001Du, t)) return false;
        t.source = "cpuid leaf 0x8000001d";
        c = t;
        return true;
    }
    if (max_leaf >= 4) {
        CacheInfo t;
        if (!from_cpuid_leaf(4, t)) return false;
        t.source = "cpuid leaf 0x4";
        c = t;
        return true;
    }
    return false;
}
#endif

bool from_sysfs(CacheInfo& c) {
    CacheInfo t;
    for (int i = 0; i < 16; ++i) {
        const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
        const std::string level = read_line(dir + "level");
        if (level.empty()) break;
        const std::string type = read_line(dir + "type");
        if (type != "Data" && type != "Unified") continue;
        int lv = 0;
        try {
            lv = std::stoi(level);
        } catch (const std::exception&) {
            continue;
        }
        take(t, lv, parse_size(read_line(dir + "size")), count_cpu_list(read_line(dir + "shared_cpu_list")));
    }
    if (t.l1d <= 0 || t.l2 <= 0) return false;
    t.source = "sysfs";
    c = t;
    return true;
}

CacheInfo detect() {
    CacheInfo c;
    if (const char* env = std::getenv("PYFWD_CACHE_SIZES"); env != nullptr && *env != '\0') {
        // "l1d,l2,l3": the sizes of one thread's caches (sharing 1)
        std::string s(env);
        int64_t v[3] = {0, 0, 0};
        int n = 0;
        std::size_t i = 0;
        while (n < 3 && i <= s.size()) {
            std::size_t j = s.find(',', i);
            if (j == std::string::npos) j = s.size();
            v[n++] = parse_size(s.substr(i, j - i));
            i = j + 1;
        }
        if (n != 3 || i <= s.size() || v[0] <= 0 || v[1] <= 0 || v[2] < 0)
            throw std::invalid_argument("PYFWD_CACHE_SIZES must be 'l1d,l2,l3' in bytes or with a K/M suffix "
                                        "(e.g. '32K,512K,16M'); got '" + s + "'");
        c.l1d = v[0];
        c.l2 = v[1];
        c.l3 = v[2];
        c.source = "PYFWD_CACHE_SIZES";
        return c;
    }
#ifdef PYFWD_X86
    if (from_cpuid(c)) return c;
#endif
    if (from_sysfs(c)) return c;
    c = CacheInfo{};
    c.l1d = 32 * 1024;
    c.l2 = 256 * 1024;
    c.l3 = 8 * 1024 * 1024;
    c.l3_sharing = 8;
    c.source = "default";
    return c;
}

int64_t round_down(int64_t v, int64_t m) { return v / m * m; }

}  // namespace

const CacheInfo& cache_info() {
    static const CacheInfo info = detect();  // thread-safe init; a bad env var rethrows next time
    return info;
}

CacheBudget cache_budget(const CacheInfo& c) {
    CacheBudget b;
    b.l1d = c.l1d;
    // An L2 shared by SMT siblings counts whole (one GEMM thread per core is the case
    // the blocks serve); one shared by a cluster of cores (Intel E-cores: 4) is divided.
    b.l2 = c.l2_sharing > 2 ? c.l2 / (c.l2_sharing / 2) : c.l2;
    b.l3_share = c.l3 > 0 ? c.l3 / std::max(c.l3_sharing, 1) : 0;
    return b;
}

Blocks blocks_from_caches(const BlockRule& rule, const CacheBudget& b, int MR, int NR, int elem_bytes) {
    Blocks out;
    const double kc_cache = rule.kc_level == 2 ? double(b.l2) : double(b.l1d);
    int64_t kc = round_down(static_cast<int64_t>(rule.kc_frac * kc_cache / (double(NR) * elem_bytes)), 8);
    kc = std::clamp<int64_t>(kc, rule.kc_min, rule.kc_max);
    int64_t mc = round_down(static_cast<int64_t>(rule.mc_frac * double(b.l2) / (double(kc) * elem_bytes)), MR);
    mc = std::clamp<int64_t>(mc, MR, int64_t(64) * MR);
    const int64_t nc_lo = std::max<int64_t>(16 * NR, 1024);
    int64_t nc = round_down(static_cast<int64_t>(rule.nc_frac * double(b.l3_share) / (double(kc) * elem_bytes)), NR);
    nc = std::clamp<int64_t>(nc, round_down(nc_lo, NR), round_down(8192, NR));
    out.MC = static_cast<int>(mc);
    out.KC = static_cast<int>(kc);
    out.NC = static_cast<int>(nc);
    return out;
}

}  // namespace pyfwd
