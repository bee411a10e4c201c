// 16-bit weights (bfloat16, IEEE float16) <-> float32, bit exact, portable C++.
//
// ODR firewall, as ukr_impl.h: no include guard and no namespace of its own. Include it
// inside an anonymous namespace (an ISA translation unit's, or a framework file's), so
// that each TU has its own copies, compiled with its own flags: an AVX-512 build of an
// inline function must never be the one a generic caller links to.
//
// Widening is exact (every bfloat16 and float16 value is a float32 value), so a kernel
// that widens W in registers gives the bits of the same kernel on the widened float32 W.
//
// Not written here: AVX512-BF16 (vdpbf16ps) and AMX-BF16 (tdpbf16ps) kernels. The
// machine this was developed on (AMD Zen 3: AVX2, F16C, no AVX-512) cannot run them,
// so they could not be tested; compute="bf16" runs everywhere through the emulated path
// (layer inputs rounded to bfloat16, exact products, float32 sums: the fp32 kernels on
// bf16-representable operands), and a CPU-dispatched kernel can take its place later
// with the same results within the same bound.
//
// The includer includes <cstdint> and <cstring> first (never inside a namespace).

// Weight encodings of the 16-bit paths (the Python layer passes the raw bits as uint16).
enum : int { W16_BF16 = 0, W16_F16 = 1 };

inline float bits_to_f32(uint32_t u) {
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
}

inline uint32_t f32_to_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// bfloat16 is the top half of a float32.
inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }

// IEEE binary16 -> binary32, every value exact: zeros, subnormals (normalised here),
// normals, infinities, NaNs (payload kept, shifted into place).
inline float f16_to_f32(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    uint32_t man = h & 0x3FFu;
    if (exp == 0x1Fu) return bits_to_f32(sign | 0x7F800000u | (man << 13));  // inf, NaN
    if (exp != 0) return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
    if (man == 0) return bits_to_f32(sign);  // +-0
    int e = 113;  // subnormal: man * 2^-24, normalise
    while ((man & 0x400u) == 0) {
        man <<= 1;
        --e;
    }
    return bits_to_f32(sign | (uint32_t(e) << 23) | ((man & 0x3FFu) << 13));
}

template <int KIND>
inline float widen16(uint16_t h) {
    if constexpr (KIND == W16_BF16)
        return bf16_to_f32(h);
    else
        return f16_to_f32(h);
}

// x rounded to the nearest bfloat16 (ties to even), as a float32: what compute="bf16"
// does to each layer's input. NaN stays NaN (quietened), +-inf stays, a finite value
// past bfloat16's range becomes +-inf (as ml_dtypes' conversion).
inline float round_to_bf16(float x) {
    const uint32_t u = f32_to_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return bits_to_f32((u | 0x00400000u) & 0xFFFF0000u);
    const uint32_t r = u + 0x7FFFu + ((u >> 16) & 1u);
    return bits_to_f32(r & 0xFFFF0000u);
}
