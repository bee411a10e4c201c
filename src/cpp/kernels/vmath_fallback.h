// TEMPORARY scalar stand-in for the vmath helper's vector activation, used only while
// kernels/<isa>/vmath.h and vmath_<isa>.cpp do not all exist (PYFWD_HAVE_VMATH unset).
// Same inclusion rule as ukr_impl.h: included inside an ISA TU's anonymous namespace.

template <typename T>
T fb_act(T z, int act) {
    const T e = std::exp(-std::fabs(z));
    const T sig = z >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
    const bool neg_inf = z == -std::numeric_limits<T>::infinity();
    switch (act) {
        case ACT_SIGMOID: return sig;
        case ACT_TANH: return std::tanh(z);
        case ACT_GELU: return neg_inf ? T(0) : z * T(0.5) * std::erfc(-z * T(0.70710678118654752440));
        case ACT_SILU: return neg_inf ? T(0) : z * sig;
        default: return z;
    }
}

template <class VT>
typename VT::V vec_act(typename VT::V z, int code) {
    alignas(64) typename VT::T b[VT::W];
    VT::store(b, z);
    for (auto& x : b) x = fb_act(x, code);
    return VT::load(b);
}
