"""The reference itself and the tolerance helper: known values, stability, and a
helper that does fail on a wrong answer."""
import math

import numpy as np
import pytest

import pyfwd
from pyfwd.backends import numpy_ref as ref
from pyfwd.testing import assert_dense_close, assert_forward_close, layer_bound, unit_roundoff


def test_activation_known_values():
    z = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(ref.relu(z), [0, 0, 0, 0.5, 2.0])
    np.testing.assert_array_equal(ref.leaky_relu(z), [-0.02, -0.005, 0, 0.5, 2.0])
    np.testing.assert_allclose(ref.sigmoid(z), [1 / (1 + math.exp(2)), 1 / (1 + math.exp(0.5)), 0.5,
                                                 1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(-2))], rtol=1e-15)
    # gelu(x) = x * Phi(x); Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707
    np.testing.assert_allclose(ref.gelu(np.array([1.0, -1.0])), [0.8413447460685429, -0.15865525393145707], rtol=1e-15)
    np.testing.assert_allclose(ref.silu(np.array([1.0])), [1 / (1 + math.exp(-1))], rtol=1e-15)
    np.testing.assert_allclose(ref.tanh(np.array([0.5])), [math.tanh(0.5)], rtol=1e-15)


def test_stability_and_limits():
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow/invalid
        s = ref.sigmoid(np.array([-1000.0, 1000.0]))
        sm = ref.softmax(np.array([[1000.0, 1000.0], [-1000.0, 0.0]]))
    np.testing.assert_array_equal(s, [0.0, 1.0])
    np.testing.assert_allclose(sm, [[0.5, 0.5], [0.0, 1.0]])
    inf = np.array([-np.inf, np.inf, np.nan])
    np.testing.assert_array_equal(ref.gelu(inf)[:2], [0.0, np.inf])
    np.testing.assert_array_equal(ref.silu(inf)[:2], [0.0, np.inf])
    assert np.isnan(ref.gelu(inf)[2]) and np.isnan(ref.silu(inf)[2])
    assert np.isnan(ref.relu(inf)[2]) and np.isnan(ref.leaky_relu(inf)[2])
    # gelu's left tail keeps its digits: x*Phi(x) at x=-10 is -7.619853e-23
    np.testing.assert_allclose(ref.gelu(np.array([-10.0])), [-7.61985302416047e-23], rtol=1e-12)


def test_reference_accumulates_in_float64():
    # 1 + 1e-8 - 1 per row: float32 accumulation would lose the 1e-8 entirely.
    X = np.array([[1.0, 1e-8, -1.0]], np.float32)
    W = np.ones((1, 3), np.float32)
    y = pyfwd.dense(X, W, None, backend="numpy")
    assert y.dtype == np.float32
    assert y[0, 0] == np.float32(np.float64(np.float32(1e-8)))


def test_helper_rejects_wrong_answers():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 50)).astype(np.float32)
    W = rng.standard_normal((6, 50)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    y = pyfwd.dense(X, W, b, "tanh", backend="numpy")
    assert_dense_close(y, X, W, b, "tanh")
    lb = layer_bound(X, W, b, "tanh", np.float32)
    bad = y.copy()
    bad[3, 2] += np.float32(3 * lb.eA[3, 2])
    with pytest.raises(AssertionError, match=r"worst at \(3, 2\)"):
        assert_dense_close(bad, X, W, b, "tanh")
    nan = y.copy()
    nan[0, 0] = np.nan
    with pytest.raises(AssertionError, match="out of bound"):
        assert_dense_close(nan, X, W, b, "tanh")
    with pytest.raises(AssertionError, match="dtype float64, expected float32"):
        assert_dense_close(y.astype(np.float64), X, W, b, "tanh")
    # A float32 answer rounded through float16 is far outside the float32 bound
    # when the fan-in is small.
    Xs, Ws = X[:, :3], W[:, :3]
    ys = pyfwd.dense(Xs, Ws, b, "tanh", backend="numpy")
    with pytest.raises(AssertionError, match="out of bound"):
        assert_dense_close(ys.astype(np.float16).astype(np.float32), Xs, Ws, b, "tanh")


def test_helper_bound_scales_with_fan_in_and_roundoff():
    X = np.ones((1, 100))
    W = np.ones((1, 100))
    lb32 = layer_bound(X, W, None, "linear", np.float32)
    lb64 = layer_bound(X, W, None, "linear", np.float64)
    u32, u64 = unit_roundoff(np.float32), unit_roundoff(np.float64)
    assert u32 == 2.0 ** -24 and u64 == 2.0 ** -53
    # eZ = 4*(K+2)*u*100 + 8*u*|Z|, then + 8*u*|A| for the activation (+ tiny)
    assert lb32.eA[0, 0] == pytest.approx((4 * 102 + 8 + 8) * u32 * 100, rel=1e-6)
    assert lb64.eA[0, 0] == pytest.approx((4 * 102 + 8 + 8) * u64 * 100, rel=1e-6)


def test_helper_non_finite_must_match_kind():
    X = np.array([[np.inf, 1.0]])
    W = np.array([[1.0, 1.0]])
    y = np.array([[np.inf]])
    assert_dense_close(y, X, W, None, "linear")
    with pytest.raises(AssertionError, match="reference is inf"):
        assert_dense_close(np.array([[1e308]]), X, W, None, "linear")


def test_helper_checks_every_cache_entry():
    net = pyfwd.Network([5, 4, 3], ["relu", "softmax"], dtype="float64", seed=1)
    X = np.random.default_rng(1).standard_normal((6, 5))
    y, cache = net.forward(X, return_cache=True, backend="numpy")
    assert_forward_close(y, net.weights, net.biases, net.activations, X, cache=cache)
    broken = dict(cache)
    broken["Z1"] = cache["Z1"] + 1e-3
    with pytest.raises(AssertionError, match="cache Z1"):
        assert_forward_close(y, net.weights, net.biases, net.activations, X, cache=broken)
    missing = {k: v for k, v in cache.items() if k != "A1"}
    with pytest.raises(AssertionError, match="cache keys"):
        assert_forward_close(y, net.weights, net.biases, net.activations, X, cache=missing)
