// The data caches of the CPU this process runs on, read at run time, and the rule that
// turns them into a kernel bundle's cache blocks (MC, KC, NC).
//
// Sources, first that works: CPUID (x86: leaf 4 on Intel, 0x8000001D on AMD/Hygon, the
// "deterministic cache parameters"), then Linux sysfs
// (/sys/devices/system/cpu/cpu0/cache/index*/), then fixed defaults (32 KB L1d, 256 KB
// L2, 8 MB L3 shared by 8 threads: a small desktop part, so blocks stay safe).
// Portable code: compiled without any -m flag; CPUID only under x86 guards.
#pragma once
#include <cstdint>
#include <string>

namespace pyfwd {

struct CacheInfo {
    int64_t l1d = 0;      // bytes, per core
    int64_t l2 = 0;       // bytes, per core (or per cluster on some CPUs)
    int64_t l3 = 0;       // bytes, the whole cache
    int l2_sharing = 1;   // logical CPUs sharing one L2
    int l3_sharing = 1;   // logical CPUs sharing the L3
    std::string source;   // "cpuid leaf 0x4", "cpuid leaf 0x8000001d", "sysfs", "default"
};

// Read once (thread-safe), then cached. PYFWD_CACHE_SIZES="l1d,l2,l3" (bytes or with a
// K/M suffix) overrides detection, for tests and for CPUs that report nonsense.
const CacheInfo& cache_info();

// The part of the caches one thread can count on: L1d and L2 per core (an L2 shared by
// SMT siblings or a cluster is divided by its sharers) and the L3 share of one thread.
struct CacheBudget {
    int64_t l1d, l2, l3_share;
};
CacheBudget cache_budget(const CacheInfo& c);

// How a bundle's cache blocks follow from the caches (each ISA states its rule beside
// its micro-kernel, with the measurements it was calibrated on):
//   KC = kc_frac * cache[kc_level] / (NR * sizeof(T)), rounded down to a multiple of 8,
//        in [kc_min, kc_max]: the KC x NR sliver of W, reused by every MR-row tile of
//        an A block, keeps that share of L1 (kc_level 1) or of L2 (kc_level 2: streamed
//        from L2 with software prefetch);
//   MC = mc_frac * L2 / (KC * sizeof(T)), rounded down to a multiple of MR, in
//        [MR, 64 * MR]: the packed MC x KC block of A keeps that share of L2;
//   NC = nc_frac * L3 share / (KC * sizeof(T)), rounded down to a multiple of NR, in
//        [16 * NR, 8192]: the KC x NC panel of W met by one A block keeps that share of
//        this thread's L3 (it is read once per A block of the same K block).
// None of the blocks changes the order of any sum (the K loop runs in order, C round
// trips exactly between K blocks): any blocks give the same bits.
struct BlockRule {
    int kc_level = 1;
    double kc_frac = 0.5, mc_frac = 0.5, nc_frac = 0.5;
    int kc_min = 64, kc_max = 2048;
};

struct Blocks {
    int MC = 0, KC = 0, NC = 0;
};
Blocks blocks_from_caches(const BlockRule& rule, const CacheBudget& b, int MR, int NR, int elem_bytes);

}  // namespace pyfwd
