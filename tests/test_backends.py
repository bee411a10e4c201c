"""Every backend against the NumPy reference, through the one tolerance helper
(pyfwd.testing), over shapes and layouts that break naive code."""
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyfwd
from pyfwd.testing import assert_dense_close, assert_forward_close

ACTS = list(pyfwd.ACTIVATIONS)

# (M, K, N): 1, primes, powers of two and one past them (block edges of typical
# MR/NR/KC choices), K=1, tall-skinny and short-wide.
SHAPES = [
    (1, 1, 1), (1, 784, 128), (2, 3, 5), (7, 11, 13), (13, 1, 17), (17, 31, 8),
    (31, 17, 33), (33, 64, 15), (64, 65, 97), (65, 129, 31), (97, 257, 65),
    (129, 33, 257), (2, 513, 3), (1000, 3, 2), (3, 2, 1000), (4097, 5, 3),
]


def _data(rng, M, K, N, dtype):
    X = rng.standard_normal((M, K)).astype(dtype)
    W = (rng.standard_normal((N, K)) / np.sqrt(K)).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    return X, W, b


@pytest.mark.parametrize("M,K,N", SHAPES)
def test_dense_shapes(backend, dtype, M, K, N):
    rng = np.random.default_rng(M * 10007 + K * 101 + N)
    X, W, b = _data(rng, M, K, N, dtype)
    for act in ACTS:
        y = pyfwd.dense(X, W, b, act, backend=backend)
        assert_dense_close(y, X, W, b, act)


def _layouts(X):
    """The same logical matrix in several memory layouts."""
    M, K = X.shape
    big = np.zeros((2 * M + 1, 3 * K + 2), X.dtype)
    strided = big[1::2, 2::3]
    strided[...] = X
    ro = X.copy()
    ro.flags.writeable = False
    return {
        "C": np.ascontiguousarray(X),
        "F": np.asfortranarray(X),
        "transposed_view": np.ascontiguousarray(X.T).T,
        "negative_strides": np.ascontiguousarray(X[::-1, ::-1])[::-1, ::-1],
        "strided_slice": strided,
        "read_only": ro,
    }


@pytest.mark.parametrize("layout", ["C", "F", "transposed_view", "negative_strides", "strided_slice", "read_only"])
def test_layouts_give_identical_results(backend, dtype, layout):
    rng = np.random.default_rng(5)
    X, W, b = _data(rng, 37, 45, 29, dtype)
    ref = pyfwd.dense(X, W, b, "gelu", backend=backend)
    Xl = _layouts(X)[layout]
    Wl = _layouts(W)[layout]
    y = pyfwd.dense(Xl, Wl, b, "gelu", backend=backend)
    assert_dense_close(y, X, W, b, "gelu")
    if backend != "numpy":
        # Compiled backends pack (or copy) operands into one internal layout, so
        # the memory layout of the input must not change a single bit. (NumPy's
        # BLAS picks a different kernel per layout; the reference only promises
        # the tolerance.)
        np.testing.assert_array_equal(y, ref)
    net = pyfwd.Network.from_arrays([W, rng.standard_normal((6, 29))], [b, None], ["relu", "softmax"], dtype=dtype)
    assert_forward_close(net.forward(Xl, backend=backend), net.weights, net.biases, net.activations, X)


@pytest.mark.parametrize("acts", [["relu", "softmax"], ["leaky_relu", "tanh", "sigmoid"],
                                  ["gelu", "silu", "linear"]])
def test_network_and_cache(backend, dtype, acts):
    dims = {2: [784, 128, 10], 3: [50, 97, 33, 7]}[len(acts)]
    net = pyfwd.Network(dims, acts, dtype=dtype, seed=len(acts))
    X = np.random.default_rng(9).random((65, dims[0]))
    y, cache = net.forward(X, return_cache=True, backend=backend)
    assert_forward_close(y, net.weights, net.biases, acts, X.astype(dtype), cache=cache)
    np.testing.assert_array_equal(cache["A0"], X.astype(dtype))
    np.testing.assert_array_equal(y, net.forward(X, backend=backend))


def test_non_finite_inputs_propagate_like_reference(backend, dtype):
    rng = np.random.default_rng(11)
    X, W, b = _data(rng, 6, 5, 4, dtype)
    X[0, 0], X[1, 2], X[2, 4] = np.nan, np.inf, -np.inf
    W = np.abs(W)  # so inf rows stay inf (no inf - inf) except where NaN enters
    for act in ACTS:
        y = pyfwd.dense(X, W, b, act, backend=backend)
        assert_dense_close(y, X, W, b, act)
    ref = pyfwd.dense(X, W, b, "relu", backend="numpy")
    assert np.isnan(ref[0]).all() and np.isposinf(ref[1]).all()


def test_extreme_preactivations(backend, dtype):
    """Saturation: sigmoid/tanh/softmax/gelu/silu at +-large and around 0."""
    z = np.array([-1e4, -200.0, -88.0, -30.0, -5.0, -1e-8, 0.0, 1e-8, 5.0, 30.0, 88.0, 200.0, 1e4])
    X = z.reshape(-1, 1).astype(dtype)
    W = np.ones((3, 1), dtype)
    for act in ACTS:
        y = pyfwd.dense(X, W, None, act, backend=backend)
        assert np.isfinite(y).all(), act
        assert_dense_close(y, X, W, None, act)
    s = pyfwd.dense(X, W, None, "sigmoid", backend=backend)
    assert s[0, 0] == 0.0 and s[-1, 0] == 1.0
    t = pyfwd.dense(X, W, None, "tanh", backend=backend)
    assert t[0, 0] == -1.0 and t[-1, 0] == 1.0


def _same_special(y, ref):
    """Bitwise agreement where it is defined: NaN where the reference has NaN,
    else equal values with the same sign (so -0.0 != 0.0)."""
    return (np.isnan(ref) & np.isnan(y)) | ((ref == y) & (np.signbit(ref) == np.signbit(y)))


@pytest.mark.parametrize("M", [1, 37, 300])  # the direct, packed and threaded paths
def test_special_preactivations_same_on_every_backend(backend, dtype, M):
    """Non-finite and signed-zero pre-activations give the reference's value on
    every backend, bit for bit: sigmoid(+-inf) = 1/0, tanh(+-inf) = +-1,
    gelu/silu(-inf) = -0.0 (the limit from below), relu/leaky_relu keep -0.0,
    NaN gives NaN; a softmax row holding +inf, or only -inf, is NaN (inf - inf,
    as in PyTorch), -inf entries of a finite row get exactly 0."""
    inf, nan = np.inf, np.nan
    z = np.array([inf, -inf, nan, 0.0, -0.0], dtype)
    X = np.resize(z, M if M > len(z) else len(z)).reshape(-1, 1).astype(dtype)
    for act in ACTS:
        if act == "softmax":
            continue
        y = pyfwd.dense(X, np.ones((1, 1), dtype), None, act, backend=backend)[:, 0]
        ref = pyfwd.dense(X, np.ones((1, 1), dtype), None, act, backend="numpy")[:, 0]
        same = _same_special(y, ref)
        assert same.all(), (act, X[~same, 0], y[~same], ref[~same])
    # softmax rows: Z = x * w for x = +inf, with w's signs picking +-inf per column
    W = np.array([[1.0], [0.5], [-1.0], [0.0]], dtype)
    rows = np.array([[inf], [-inf], [nan], [2.0]], dtype)
    X = np.resize(rows, (max(M, 4), 1)).astype(dtype)
    y = pyfwd.dense(X, W, None, "softmax", backend=backend)
    with np.errstate(invalid="ignore"):
        ref = pyfwd.dense(X, W, None, "softmax", backend="numpy")
    special = np.arange(X.shape[0]) % 4 != 3  # rows 3, 7, ...: finite, judged by the bound
    assert _same_special(y[special], ref[special]).all(), (y[:4], ref[:4])
    assert np.isnan(ref[special]).all()
    assert_dense_close(y[~special], X[~special], W, None, "softmax")
    X = np.array([[1.0], [3.0]], dtype)  # a finite row max, one -inf column (from the bias)
    y = pyfwd.dense(X, np.array([[1.0], [0.0]], dtype), np.array([0.0, -inf], dtype), "softmax",
                    backend=backend)
    np.testing.assert_array_equal(y[:, 1], 0.0)
    np.testing.assert_array_equal(y[:, 0], 1.0)


def test_overflow_in_working_precision(backend):
    """float32 inputs near 1e38: where |A| @ |W|.T can exceed float32's range a
    partial sum may overflow (inf, NaN), as in every float32 BLAS; the helper
    does not judge those elements, but every other element of the same call is
    judged (the bound is not loosened elsewhere), and nothing crashes."""
    from pyfwd.testing import layer_bound
    rng = np.random.default_rng(3)
    X = rng.uniform(-1, 1, (64, 100)).astype(np.float32)
    X[::2] *= np.float32(3e38)  # even rows overflow in float32, odd rows are ordinary
    W = rng.uniform(-1, 1, (8, 100)).astype(np.float32)
    for act in ACTS:
        with np.errstate(over="ignore", invalid="ignore"):
            y = pyfwd.dense(X, W, None, act, backend=backend)
        assert_dense_close(y, X, W, None, act)
        lb = layer_bound(X, W, None, act, np.float32)
        assert np.isinf(lb.eA[::2]).all() and np.isfinite(lb.eA[1::2]).all(), act
        assert np.isfinite(y[1::2]).all(), act


def test_concurrent_calls_on_one_network(backend):
    net = pyfwd.Network([300, 200, 10], ["relu", "softmax"], seed=3)
    Xs = [np.random.default_rng(i).random((int(n), 300)) for i, n in enumerate([1, 7, 64, 200] * 2)]
    expected = [net.forward(X, backend=backend) for X in Xs]
    results = [None] * len(Xs)
    errors = []

    def work(i):
        try:
            for _ in range(5):
                results[i] = net.forward(Xs[i], backend=backend)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(Xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "concurrent calls hung"
    assert not errors, errors
    for r, e in zip(results, expected):
        np.testing.assert_array_equal(r, e)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(M=st.integers(0, 70), K=st.integers(1, 70), N=st.integers(1, 70),
       act=st.sampled_from(ACTS), dt=st.sampled_from(["float32", "float64"]),
       fortran=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_random_shapes(backend, M, K, N, act, dt, fortran, seed):
    rng = np.random.default_rng(seed)
    X, W, b = _data(rng, M, K, N, dt)
    if fortran:
        X = np.asfortranarray(X)
    y = pyfwd.dense(X, W, b, act, backend=backend)
    assert y.shape == (M, N)
    assert_dense_close(y, X, W, b, act)
