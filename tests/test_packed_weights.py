"""``pyfwd.PackedWeights``: W packed once for a loop of ``dense`` calls, with the
same bits as ``dense(X, W, ...)`` on every backend, shape and layout; packed once
(and again only when the ISA level changes); a snapshot of W; clear errors."""
from __future__ import annotations

import copy
import pickle
import threading

import numpy as np
import pytest

import pyfwd
from pyfwd.activations import ACTIVATIONS
from pyfwd.testing import assert_dense_close

BACKENDS = pyfwd.backends()
CPP = pyfwd.get_backend("cpp") if "cpp" in BACKENDS else None


def _data(M, K, N, dtype=np.float32, seed=0):
    r = np.random.default_rng(seed)
    return (r.standard_normal((M, K)).astype(dtype), r.standard_normal((N, K)).astype(dtype),
            r.standard_normal(N).astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M", [0, 1, 16, 17, 97, 300])
def test_same_bits_as_dense(backend, dtype, M):
    X, W, b = _data(M, 131, 67, dtype)
    Wp = pyfwd.PackedWeights(W)
    for act in ACTIVATIONS:
        for Xv in (X, np.asfortranarray(X), X[::1, ::1][:, :]):
            y = pyfwd.dense(Xv, Wp, b, act, backend=backend)
            ref = pyfwd.dense(Xv, W, b, act, backend=backend)
            assert y.dtype == dtype and np.array_equal(y, ref, equal_nan=True), (backend, act)
    if M:
        assert_dense_close(pyfwd.dense(X, Wp, b, "gelu", backend=backend), X, W, b, "gelu")


@pytest.mark.parametrize("backend", BACKENDS)
def test_layouts_one_sample_and_out(backend):
    X, W, b = _data(40, 33, 20)
    Wp = pyfwd.PackedWeights(W)
    Xs = np.asfortranarray(np.random.default_rng(1).standard_normal((80, 66)).astype(np.float32))[::2, ::2]
    assert np.array_equal(pyfwd.dense(Xs, Wp, b, "relu", backend=backend),
                          pyfwd.dense(Xs, W, b, "relu", backend=backend))
    y1 = pyfwd.dense(X[3], Wp, b, "tanh", backend=backend)
    assert y1.shape == (20,) and np.array_equal(y1, pyfwd.dense(X[3], W, b, "tanh", backend=backend))
    out = np.empty((40, 20), np.float32)
    r = pyfwd.dense(X, Wp, b, "sigmoid", backend=backend, out=out)
    assert r is out and np.array_equal(out, pyfwd.dense(X, W, b, "sigmoid", backend=backend))
    # float64 X with float32 weights: computed in the weights' dtype, as dense does
    assert np.array_equal(pyfwd.dense(X.astype(np.float64), Wp, b, backend=backend),
                          pyfwd.dense(X.astype(np.float64), W, b, backend=backend))


@pytest.mark.skipif(CPP is None, reason="the cpp backend is not built")
def test_packs_once_and_again_per_isa_level():
    X, W, b = _data(64, 784, 128)
    Wp = pyfwd.PackedWeights(W)
    pyfwd.dense(X[:4], Wp, b, "relu", backend="cpp")  # few rows: dot path, W read in place
    assert Wp._core_packed is None or Wp._core_packed.packs == 0
    ys = [pyfwd.dense(X, Wp, b, "relu", backend="cpp") for _ in range(5)]
    assert Wp._core_packed.packs == 1 and Wp._core_packed.isa == CPP.isa()
    assert all(np.array_equal(y, ys[0]) for y in ys)
    before = CPP.isa()
    try:
        expect, last = 1, before
        for isa in CPP.supported_isas():
            CPP.set_isa(isa)
            for _ in range(2):
                y = pyfwd.dense(X, Wp, b, "relu", backend="cpp")
            expect += isa != last
            last = isa
            assert Wp._core_packed.isa == isa and Wp._core_packed.packs == expect
            assert np.array_equal(y, pyfwd.dense(X, W, b, "relu", backend="cpp"))
    finally:
        CPP.set_isa(before)


def test_snapshot_read_only_pickle_copy():
    X, W, b = _data(50, 20, 10)
    Wp = pyfwd.PackedWeights(W)
    y0 = pyfwd.dense(X, Wp, b)
    W[:] = 0  # the original changes: the packed weights do not
    assert np.array_equal(pyfwd.dense(X, Wp, b), y0)
    with pytest.raises(ValueError):
        Wp.weights[0, 0] = 1.0
    with pytest.raises(ValueError):
        Wp.weights.flags.writeable = True
    for clone in (pickle.loads(pickle.dumps(Wp)), copy.deepcopy(Wp), pyfwd.PackedWeights(Wp)):
        assert isinstance(clone, pyfwd.PackedWeights) and clone.shape == (10, 20)
        assert np.array_equal(pyfwd.dense(X, clone, b), y0)
    assert "PackedWeights(shape=(10, 20), dtype=float32)" == repr(Wp)


@pytest.mark.skipif(CPP is None, reason="the cpp backend is not built")
def test_concurrent_first_use():
    X, W, b = _data(200, 300, 150)
    Wp = pyfwd.PackedWeights(W)
    ref = pyfwd.dense(X, W, b, "relu", backend="cpp")
    errors = []

    def run():
        try:
            for _ in range(20):
                assert np.array_equal(pyfwd.dense(X, Wp, b, "relu", backend="cpp"), ref)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    ts = [threading.Thread(target=run) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors


def test_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        pyfwd.PackedWeights(np.ones((2, 3, 4)))
    with pytest.raises(TypeError):
        pyfwd.PackedWeights(np.ma.masked_array(np.ones((2, 3))))
    Wp = pyfwd.PackedWeights(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        pyfwd.dense(np.ones((5, 7), np.float32), Wp)
    with pytest.raises(ValueError, match=r"b must have shape \(4,\)"):
        pyfwd.dense(np.ones((5, 3), np.float32), Wp, np.ones(5, np.float32))
    with pytest.raises(ValueError):
        pyfwd.dense(np.ones((5, 3), np.float32), Wp, activation="nope")
    if CPP is not None:
        with pytest.raises(TypeError):
            pyfwd._core.PackedDense(np.ones((3, 3), np.int32))
        with pytest.raises(ValueError, match="C-contiguous"):
            pyfwd._core.PackedDense(np.ones((3, 4), np.float32)[:, ::2])
