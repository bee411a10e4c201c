"""Accuracy of the C++ vector math (kernels/<isa>/vmath.h) against high-precision references.

Contract (docs/design.md): at most 4 ulp from the correctly rounded value over the whole range,
exact at the saturation points, NaN in -> NaN out, +-inf handled. The error of an output y
is measured as |y - f(x)| / ulp(f(x)) with f(x) from a reference far more precise than the
tested dtype (float64 for float32; 80-bit long double or mpmath for float64), so a
correctly rounded result scores <= 0.5.

float32: a sweep of the whole bit-pattern space (every 1021st pattern: every exponent, sign
and low-bit pattern is hit), plus dense windows of consecutive patterns around each
function's thresholds, the subnormals and the special values.
float64: random bit patterns over all exponents plus uniform and log-uniform samples where
the functions are not saturated, and dense windows around the thresholds.

Run with -s to see the table of measured max ulp per function, ISA and dtype.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

_core = pytest.importorskip("pyfwd._core", reason="the cpp backend is not built")

ISAS = list(_core.supported_isas())
FUNCS = ["exp", "tanh", "erf", "erfc", "sigmoid", "gelu", "silu"]
MAX_ULP = 4.0
RESULTS: dict = {}  # (func, isa, dtype) -> max ulp, printed at the end

# --------------------------------------------------------------------------- inputs

# Thresholds where a function changes formula, saturates, overflows or underflows.
_CENTERS = [0.5, 0.5625, 1.0, 2.0, 4.0, 5.93, 8.9, 9.02, 10.06, 14.1, 19.06, 20.0, 26.55,
            27.25, 38.5, 87.34, 88.72, 89.0, 103.97, 104.0, 109.7, 120.0, 708.4, 709.78,
            745.13, 751.8]


def _f32_inputs() -> np.ndarray:
    bits = [np.arange(0, 2**32, 1021, dtype=np.uint64).astype(np.uint32)]
    for c in _CENTERS[:22]:
        b = int(np.float32(c).view(np.uint32))
        w = np.arange(b - 3000, b + 3000, dtype=np.uint32)
        bits += [w, w | np.uint32(0x80000000)]
    sub = np.arange(0, 2**23, 61, dtype=np.uint32)  # subnormals
    bits += [sub, sub | np.uint32(0x80000000)]
    x = np.concatenate(bits).view(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1e-45, -1e-45,
                        np.finfo(np.float32).max, -np.finfo(np.float32).max,
                        np.finfo(np.float32).tiny, -np.finfo(np.float32).tiny], np.float32)
    return np.concatenate([x, special])


def _f64_inputs(rng: np.random.Generator, n_bits: int, n_dense: int) -> np.ndarray:
    parts = [rng.integers(0, 2**64 - 1, size=n_bits, dtype=np.uint64, endpoint=True).view(np.float64),
             rng.uniform(-40, 40, n_dense), rng.uniform(-800, 800, n_dense // 4),
             np.exp(rng.uniform(math.log(1e-12), math.log(2.0), n_dense // 4))
             * rng.choice([-1.0, 1.0], n_dense // 4)]
    for c in _CENTERS:
        b = int(np.float64(c).view(np.uint64))
        w = np.arange(b - n_dense // 200, b + n_dense // 200, dtype=np.uint64)
        parts += [w.view(np.float64), -w.view(np.float64)]
        parts.append(c * (1 + rng.uniform(-1e-3, 1e-3, n_dense // 100)))
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, -5e-324, 1e-300,
                        np.finfo(np.float64).max, -np.finfo(np.float64).max,
                        np.finfo(np.float64).tiny, -np.finfo(np.float64).tiny])
    return np.concatenate(parts + [special])


# --------------------------------------------------------------------------- references

def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


_math_erf = np.frompyfunc(math.erf, 1, 1)
_math_erfc = np.frompyfunc(math.erfc, 1, 1)


def _ref_f32(func: str, x32: np.ndarray) -> np.ndarray:
    """f(x) in float64 for float32 inputs: errors ~2^-50 relative, far below float32's ulp."""
    with np.errstate(all="ignore"):  # signalling-NaN patterns warn on the cast
        x = x32.astype(np.float64)
        if func == "exp":
            return np.exp(x)
        if func == "tanh":
            return np.tanh(x)
        if func == "sigmoid":
            return _sigmoid(x)
        if func == "silu":
            return np.where(x == -np.inf, 0.0, x * _sigmoid(x))
        # erf family through libm (math.erf/erfc: < 1 ulp of float64), on the inputs where
        # the value is not saturated; the saturated ones take their exact limits.
        a = np.abs(x)
        mid = (a > 2.0**-30) & (a < 16.0)
        xm = x[mid]
        if func == "erf":
            r = np.where(a <= 2.0**-30, x * (2 / math.sqrt(math.pi)), np.sign(x))
            r[mid] = _math_erf(xm).astype(np.float64)
        elif func == "erfc":
            r = np.where(a <= 2.0**-30, 1.0, np.where(x > 0, 0.0, 2.0))
            r[mid] = _math_erfc(xm).astype(np.float64)
        else:  # gelu = z Phi(z), Phi(z) = erfc(-z/sqrt2)/2; |z| < 2^-30: z/2 + z^2/sqrt(2 pi)
            mid = (a > 2.0**-30) & (a < 22.0)
            xm = x[mid]
            r = np.where(a <= 2.0**-30, x / 2 + x * x / math.sqrt(2 * math.pi),
                         np.where(x > 0, x, 0.0))
            # the argument -z/sqrt2 rounded in float64 costs ~z^2 2^-53: negligible here
            r[mid] = xm * 0.5 * _math_erfc(-xm / math.sqrt(2)).astype(np.float64)
        r[np.isnan(x)] = np.nan
        return r


def _ref_f64(func: str, x: np.ndarray):
    """f(x) as long double (exp/tanh/sigmoid/silu) or from mpmath at 40 digits."""
    if func in ("exp", "tanh", "sigmoid", "silu"):
        with np.errstate(all="ignore"):  # signalling-NaN patterns warn on the cast
            xl = x.astype(np.longdouble)
            if func == "exp":
                return np.exp(xl)
            if func == "tanh":
                return np.tanh(xl)
            s = _sigmoid(xl)
            return s if func == "sigmoid" else np.where(xl == -np.inf, 0.0, xl * s)
    mpmath = pytest.importorskip("mpmath", reason="the float64 erf family needs mpmath")
    mpmath.mp.dps = 40

    def one(v: float):
        if math.isnan(v):
            return math.nan
        if abs(v) > 60:  # saturated far below the float64 ulp (mpmath's erfc overflows on huge v)
            return {"erf": math.copysign(1.0, v), "erfc": 0.0 if v > 0 else 2.0,
                    "gelu": v if v > 0 else 0.0}[func]
        if func == "erf":
            r = mpmath.erf(v)
        elif func == "erfc":
            r = mpmath.erfc(v)
        else:
            r = v * mpmath.erfc(-mpmath.mpf(v) / mpmath.sqrt(2)) / 2
        # to long double through a decimal string keeps ~19 digits, also below 1e-308
        return np.longdouble(mpmath.nstr(r, 25, min_fixed=1, max_fixed=0)) if r != 0 else 0.0

    return np.array([one(v) for v in x], dtype=np.longdouble)


# --------------------------------------------------------------------------- measuring

def _ulp_error(y: np.ndarray, ref: np.ndarray, dtype) -> np.ndarray:
    """|y - ref| / ulp(ref) in the precision of `dtype` (inf counts as 2^(emax+1))."""
    fi = np.finfo(dtype)
    p, emin, emax = fi.nmant + 1, fi.minexp, fi.maxexp  # 24, -126, 128 for float32
    big = np.ldexp(ref.dtype.type(1), emax)  # the first value past the largest finite
    yy = y.astype(ref.dtype)
    yy = np.where(np.isinf(yy), np.sign(yy) * big, yy)
    rr = np.clip(ref, -big, big)
    if ref.dtype == np.float64:  # exponent from the bits: ~5x faster than frexp/ldexp
        e = np.maximum((np.abs(rr).view(np.int64) >> 52) - 1023, emin)  # 0, subnormal: emin
        ulp = ((e - (p - 1) + 1023) << 52).view(np.float64)
    else:
        e = np.frexp(np.abs(rr))[1].astype(np.int64)
        e = np.where(rr == 0, emin, np.maximum(e - 1, emin))
        ulp = np.ldexp(ref.dtype.type(1), e - (p - 1))
    return (np.abs(yy - rr) / ulp).astype(np.float64)


def _check(func: str, isa: str, dtype, x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Asserts NaN/inf handling and the max ulp error; returns the outputs."""
    y = _core.vmath_apply(isa, func, x)
    assert y.dtype == dtype and y.shape == x.shape
    nan_in = np.isnan(ref)
    assert np.array_equal(np.isnan(y), nan_in), (
        f"{func}/{isa}/{dtype.__name__}: NaN mismatch at x = {x[np.isnan(y) != nan_in][:8]}")
    ok = ~nan_in
    # infinities of the reference (exp(inf), gelu(inf), overflow of exp) must be exact
    inf_ref = np.isinf(ref) & ok
    assert np.array_equal(y[inf_ref], ref[inf_ref].astype(dtype)), f"{func}/{isa}: infinities"
    err = _ulp_error(y[ok], ref[ok], dtype)
    worst = int(np.argmax(err))
    RESULTS[(func, isa, np.dtype(dtype).name)] = float(err[worst])
    assert err[worst] <= MAX_ULP, (
        f"{func}/{isa}/{np.dtype(dtype).name}: {err[worst]:.2f} ulp at x = {x[ok][worst]!r} "
        f"(got {y[ok][worst]!r}, reference {ref[ok][worst]!r})")
    return y


def _check_saturation(func: str, isa: str, dtype, x: np.ndarray, y: np.ndarray,
                      ref: np.ndarray) -> None:
    """Where the value is within 1/100 ulp of its limit, the result is the limit exactly."""
    limits = {"tanh": (-1.0, 1.0), "sigmoid": (0.0, 1.0), "erf": (-1.0, 1.0), "erfc": (0.0, 2.0),
              "exp": (0.0,), "silu": (0.0,), "gelu": (0.0,)}[func]
    tiny = np.finfo(dtype).smallest_subnormal
    for lim in limits:
        ulp = np.spacing(dtype(lim)) if lim != 0 else tiny
        with np.errstate(invalid="ignore"):
            near = np.abs(ref - lim) <= 0.01 * ref.dtype.type(ulp)
        bad = near & (y != dtype(lim))
        assert not bad.any(), (f"{func}/{isa}: not saturated to {lim} at x = {x[bad][:5]}, "
                               f"got {y[bad][:5]}")
    # the infinities
    yi = _core.vmath_apply(isa, func, np.array([np.inf, -np.inf], dtype))
    expect = {"exp": [np.inf, 0.0], "tanh": [1.0, -1.0], "erf": [1.0, -1.0], "erfc": [0.0, 2.0],
              "sigmoid": [1.0, 0.0], "gelu": [np.inf, 0.0], "silu": [np.inf, 0.0]}[func]
    assert np.array_equal(yi, np.array(expect, dtype)), f"{func}/{isa}: f(+-inf) = {yi}"


# --------------------------------------------------------------------------- tests

@pytest.fixture(scope="module")
def f32_sweep():
    x = _f32_inputs()
    return x, {f: _ref_f32(f, x) for f in FUNCS}


@pytest.fixture(scope="module")
def f64_sweep():
    """func -> (inputs, reference), computed on first use."""
    rng = np.random.default_rng(20261126)
    x_fast = _f64_inputs(rng, 200_000, 100_000)  # long-double references: cheap
    x_mp = _f64_inputs(rng, 3_000, 8_000)         # mpmath references: ~20 us each
    cache: dict = {}

    def get(func: str):
        if func not in cache:
            x = x_fast if func in ("exp", "tanh", "sigmoid", "silu") else x_mp
            cache[func] = (x, _ref_f64(func, x))
        return cache[func]

    return get


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("func", FUNCS)
def test_float32_whole_range(func, isa, f32_sweep):
    x, refs = f32_sweep
    y = _check(func, isa, np.float32, x, refs[func])
    _check_saturation(func, isa, np.float32, x, y, refs[func])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("func", FUNCS)
def test_float64_sampled(func, isa, f64_sweep):
    x, ref = f64_sweep(func)
    y = _check(func, isa, np.float64, x, ref)
    _check_saturation(func, isa, np.float64, x, y, ref)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lengths_and_isas_agree(isa, dtype):
    """Every length (vector body + masked/scalar tail) gives the same values as the
    elementwise evaluation, and nothing past n is touched (fresh outputs of each size)."""
    rng = np.random.default_rng(7)
    base = (rng.standard_normal(100) * 6).astype(dtype)
    for f in FUNCS:
        whole = _core.vmath_apply(isa, f, base)
        for n in range(0, 40):
            part = _core.vmath_apply(isa, f, base[:n])
            assert part.shape == (n,)
            np.testing.assert_array_equal(part, whole[:n])
        # a strided view is accepted (copied to contiguous)
        np.testing.assert_array_equal(_core.vmath_apply(isa, f, base[::2]), whole[::2])


def test_bad_arguments():
    x = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="unknown func"):
        _core.vmath_apply("generic", "cosh", x)
    with pytest.raises(ValueError, match="unknown isa"):
        _core.vmath_apply("neon", "exp", x)
    with pytest.raises(ValueError, match="1-D"):
        _core.vmath_apply("generic", "exp", np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.vmath_apply("generic", "exp", np.zeros(3, np.int32))
    for isa in ("generic", "avx2", "avx512"):
        if isa not in ISAS:
            with pytest.raises(ValueError, match="not supported"):
                _core.vmath_apply(isa, "exp", x)


def test_report_table():
    """Print the measured max ulp table (run after the sweeps; pytest -s shows it)."""
    if not RESULTS:
        pytest.skip("run together with the sweep tests to get the table")
    lines = ["", "max ulp error (func: isa/dtype)"]
    for f in FUNCS:
        cells = [f"{isa}/{dt}={RESULTS[(f, isa, dt)]:.2f}" for isa in ISAS
                 for dt in ("float32", "float64") if (f, isa, dt) in RESULTS]
        lines.append(f"  {f:8s} " + "  ".join(cells))
    print("\n".join(lines))
    assert max(RESULTS.values()) <= MAX_ULP


# --------------------------------------------------------------------------- row passes

def _row_inputs(dtype, n=203):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(n) * 8).astype(dtype)
    x[::17] = np.nan
    x[5::29] = np.inf
    x[9::31] = -np.inf
    x[3::37] = -0.0
    return x


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_act_inplace(isa, dtype):
    """The GEMM's elementwise row pass: relu/leaky_relu keep NaN (SIMD max operand order),
    the transcendental codes give exactly vmath_apply's values, linear/softmax leave z."""
    from pyfwd.activations import ACT_CODE

    x = _row_inputs(dtype)
    for n in (0, 1, 5, 16, 17, 203):
        xs = x[:n]
        with np.errstate(invalid="ignore"):
            expect = {
                "linear": xs, "softmax": xs,
                "relu": np.maximum(xs, dtype(0)),
                "leaky_relu": np.where(xs > 0, xs, xs * dtype(0.01)),
                "sigmoid": _core.vmath_apply(isa, "sigmoid", xs),
                "tanh": _core.vmath_apply(isa, "tanh", xs),
                "gelu": _core.vmath_apply(isa, "gelu", xs),
                "silu": _core.vmath_apply(isa, "silu", xs),
            }
        for name, code in ACT_CODE.items():
            y = _core.vmath_act(isa, code, xs)
            np.testing.assert_array_equal(y, expect[name], err_msg=f"{name}/{isa}/n={n}")
    y = _core.vmath_act(isa, ACT_CODE["relu"], np.array([np.nan, -1.0, 2.0], dtype))
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 2
    with pytest.raises(ValueError, match="activation code"):
        _core.vmath_act(isa, 8, x)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_row(isa, dtype):
    from pyfwd.backends.numpy_ref import softmax

    u = np.finfo(dtype).eps / 2
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 3, 7, 15, 16, 17, 33, 100, 1000, 4097):
        x = (rng.standard_normal(n) * 6).astype(dtype)
        y = _core.vmath_softmax(isa, x)
        assert y.shape == (n,) and y.dtype == dtype
        if n == 0:
            continue
        ref = softmax(x.astype(np.float64))
        # exp (~1 ulp), x - max rounded in dtype (|x - max| u relative), sum (Kahan: ~2u)
        # and the division
        tol = (6 * u + np.abs(x - x.max()).astype(np.float64) * u) * ref + np.finfo(dtype).tiny
        assert np.all(np.abs(y - ref) <= tol), f"softmax/{isa}/n={n}"
    big = np.array([1000.0, 1000.0, -1000.0], dtype)  # stable: no overflow
    np.testing.assert_array_equal(_core.vmath_softmax(isa, big), np.array([0.5, 0.5, 0.0], dtype))
    with np.errstate(invalid="ignore"):
        for row in ([1.0, np.inf, 2.0], [-np.inf, -np.inf], [np.nan, 1.0, 2.0], [-np.inf, 0.0],
                    [np.inf] + [0.0] * 20, [0.0] * 20 + [np.nan]):
            r = np.array(row, dtype)
            expect = softmax(r.astype(np.float64)).astype(dtype)
            np.testing.assert_array_equal(_core.vmath_softmax(isa, r), expect, err_msg=str(row))
