"""16-bit weights (bfloat16, float16) and compute="bf16" (issue 11).

The numerics contract (docs/design.md): the float64 reference uses the rounded weights
(and, for compute="bf16", the bf16-rounded layer inputs); float32 backends stay within
the float32 bound of pyfwd.testing against it. The cpp backend also gives the bits of
its float32 code on the exactly widened weights (the dot path widens in registers, the
packed path packs the widened W), on every ISA level this CPU runs, for any thread
count.
"""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import pyfwd
from pyfwd import _dtypes16
from pyfwd.activations import ACTIVATIONS
from pyfwd.testing import (assert_dense_close, assert_forward_close, assert_identical,
                           assert_layers_close)

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
F16 = np.dtype(np.float16)
WD = {"bfloat16": BF16, "float16": F16}
BACKENDS = pyfwd.backends()
HAS_CPP = "cpp" in BACKENDS


def _isas():
    if not HAS_CPP:
        return []
    from pyfwd import _core
    return list(_core.supported_isas())


@pytest.fixture
def isa_restore():
    if not HAS_CPP:
        yield
        return
    from pyfwd import _core
    before = _core.isa()
    yield _core
    _core.set_isa(before)


def _w(rng, shape, wd):
    return (rng.standard_normal(shape) / np.sqrt(shape[1])).astype(wd)


# -- conversions ----------------------------------------------------------------
def test_round_bf16_matches_ml_dtypes():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(10000).astype(np.float32) * 10.0 ** rng.integers(-40, 39, 10000),
                        np.array([0.0, -0.0, np.inf, -np.inf, 3.4e38, -3.4e38, 1e-45, 1.0039062],
                                 dtype=np.float32)]).astype(np.float32)
    ours = _dtypes16.round_bf16(x)
    theirs = x.astype(BF16).astype(np.float32)
    assert_identical(ours, theirs)
    assert np.isnan(_dtypes16.round_bf16(np.array([np.nan], np.float32)))[0]


@pytest.mark.skipif(not HAS_CPP, reason="cpp backend not built")
@pytest.mark.parametrize("isa", _isas())
def test_every_float16_and_bfloat16_value_widens_exactly(isa, isa_restore):
    """Each of the 65536 bit patterns, through the dot path (few rows) and the packed
    path (many rows): the exact float32 value (NaN stays NaN)."""
    isa_restore.set_isa(isa)
    bits = np.arange(65536, dtype=np.uint16)
    for wd in (BF16, F16):
        W = bits.view(wd).reshape(-1, 1)
        ref = W.astype(np.float32)[:, 0]
        for M in (1, 17):
            Y = pyfwd.dense(np.ones((M, 1), np.float32), W, backend="cpp")
            got = Y[0]
            ok = (got == ref) | (np.isnan(got) & np.isnan(ref))
            assert ok.all(), (isa, wd, M, np.flatnonzero(~ok)[:5])


# -- dense ------------------------------------------------------------------------
@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_every_activation_within_bound(wd, act):
    rng = np.random.default_rng(1)
    for M, K, N in ((1, 1, 1), (16, 37, 29), (17, 37, 29), (3, 300, 67)):
        X = rng.standard_normal((M, K)).astype(np.float32)
        W = _w(rng, (N, K), WD[wd])
        b = rng.standard_normal(N).astype(np.float32)
        for be in BACKENDS:
            Y = pyfwd.dense(X, W, b, act, backend=be)
            assert Y.dtype == np.float32
            assert_dense_close(Y, X, W, b, act)


@pytest.mark.skipif(not HAS_CPP, reason="cpp backend not built")
@pytest.mark.parametrize("isa", _isas())
@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
def test_cpp_dense16_bits_of_the_widened_float32(isa, wd, isa_restore, restore_threads):
    """Batches on both sides of the dot-path threshold (16/17), shapes 1, primes and past
    the block sizes, strided W and X, threads 1 and 2: the bits of dense() on
    W.astype(float32)."""
    isa_restore.set_isa(isa)
    rng = np.random.default_rng(2)
    shapes = [(1, 1, 1), (2, 13, 7), (16, 31, 17), (17, 31, 17), (5, 1031, 521), (40, 777, 97)]
    for M, K, N in shapes:
        X = rng.standard_normal((M, K)).astype(np.float32)
        W = _w(rng, (N, K), WD[wd])
        b = rng.standard_normal(N).astype(np.float32)
        W32 = W.astype(np.float32)
        outs = []
        for nt in (1, 2):
            pyfwd.set_num_threads(nt)
            Y = pyfwd.dense(X, W, b, "gelu", backend="cpp")
            assert_identical(Y, pyfwd.dense(X, W32, b, "gelu", backend="cpp"), f"{(M, K, N)} threads {nt}")
            outs.append(Y)
        assert_identical(outs[0], outs[1], "threads 1 vs 2")
        # any layout of X and W: the same bits
        Wt = np.asfortranarray(W)
        assert_identical(pyfwd.dense(np.asfortranarray(X), Wt, b, "gelu", backend="cpp"), outs[0])
        Wp = pyfwd.PackedWeights(W)
        assert Wp.dtype == WD[wd]
        assert_identical(pyfwd.dense(X, Wp, b, "gelu", backend="cpp"), outs[0])


def test_dense16_converts_X_to_float32_and_checks_out():
    rng = np.random.default_rng(3)
    W = _w(rng, (5, 4), BF16)
    X64 = rng.standard_normal((3, 4))
    Y = pyfwd.dense(X64, W)
    assert Y.dtype == np.float32
    assert_identical(Y, pyfwd.dense(X64.astype(np.float32), W))
    with pytest.raises(TypeError, match="out has dtype float64, expected float32"):
        pyfwd.dense(X64, W, out=np.empty((3, 5)))
    with pytest.raises(ValueError, match="expected input of shape"):
        pyfwd.dense(np.ones((3, 5), np.float32), W)


# -- networks ---------------------------------------------------------------------
def _net(wd, dims=(37, 67, 521, 10), acts=("relu", "gelu", "softmax"), seed=0):
    net = pyfwd.Network(list(dims), list(acts), seed=seed, weight_dtype=wd)
    rng = np.random.default_rng(seed)
    for l in range(1, net.num_layers + 1):  # non-zero biases
        net.params[f"b{l}"] = rng.standard_normal(net.layer_dims[l]).astype(np.float32) * 0.1
    return net


def test_api_dtypes_and_params():
    net = pyfwd.Network([4, 3, 2], "relu", seed=0, weight_dtype="bfloat16")
    assert net.weight_dtype == BF16 and net.dtype == np.float32 and net.compute == "fp32"
    assert net.params["W1"].dtype == BF16 and net.params["b1"].dtype == np.float32
    with pytest.raises(ValueError):
        net.params["W1"].flags.writeable = True
    ref = pyfwd.Network([4, 3, 2], "relu", seed=0, dtype="float64")
    assert_identical(net.params["W2"], ref.params["W2"].astype(BF16))  # one rounding, from float64
    # assigning a parameter rounds it to the weight dtype (nearest even)
    net.params["W1"] = np.full((3, 4), 1.0 + 2.0 ** -8 + 2.0 ** -30)
    assert net.params["W1"].dtype == BF16 and float(net.params["W1"][0, 0]) == 1.0078125
    f16 = pyfwd.Network([4, 3, 2], "relu", seed=0, weight_dtype=np.float16)
    assert f16.weight_dtype == F16
    plain = pyfwd.Network([4, 3, 2], "relu")
    assert plain.weight_dtype == np.float32
    assert pyfwd.Network([4, 3, 2], "relu", weight_dtype="float32").weight_dtype == np.float32
    assert "bfloat16" in repr(net) and "bfloat16 weights" in net.summary()


def test_from_arrays_and_with_weight_dtype():
    rng = np.random.default_rng(4)
    Ws = [rng.standard_normal((6, 5)), rng.standard_normal((3, 6))]
    net = pyfwd.Network.from_arrays(Ws, None, ["tanh", "linear"], weight_dtype="float16")
    assert net.dtype == np.float32 and net.weight_dtype == F16
    assert_identical(net.params["W1"], Ws[0].astype(F16))
    # 16-bit arrays given as they are: kept
    W16 = [W.astype(BF16) for W in Ws]
    net2 = pyfwd.Network.from_arrays(W16, None, ["tanh", "linear"], weight_dtype="bfloat16")
    assert_identical(net2.params["W2"], W16[1])
    # weight_dtype=None: widened (exactly) to dtype
    net3 = pyfwd.Network.from_arrays(W16, None, ["tanh", "linear"])
    assert net3.weight_dtype == np.float32
    assert_identical(net3.params["W1"], W16[0].astype(np.float32))
    # with_weight_dtype: a converted copy; back to float32 is exact
    net2.classes_ = ["a", "b", "c"]
    net2.compute = "bf16"
    net2.note = "kept"
    h = net2.with_weight_dtype("float16")
    assert h.weight_dtype == F16 and h.compute == "bf16" and list(h.classes_) == ["a", "b", "c"] and h.note == "kept"
    assert_identical(h.params["W1"], W16[0].astype(np.float32).astype(F16))
    back = net2.with_weight_dtype(None)
    assert back.weight_dtype == np.float32 and back.compute == "fp32"
    assert_identical(back.params["W1"], W16[0].astype(np.float32))
    assert net2.weight_dtype == BF16  # the original is unchanged
    f64 = pyfwd.Network([5, 4], "relu", dtype="float64", seed=1)
    b = f64.with_weight_dtype("bfloat16")
    assert b.dtype == np.float32 and b.params["b1"].dtype == np.float32
    assert_identical(b.params["W1"], f64.params["W1"].astype(BF16))


@pytest.mark.parametrize("bad", ["int8", np.int8, "float8_e4m3fn", "complex64", "nonsense", 3])
def test_unsupported_weight_dtypes(bad):
    with pytest.raises(TypeError, match="weight_dtype must be None, 'bfloat16' or 'float16'"):
        pyfwd.Network([3, 2], "relu", weight_dtype=bad)


def test_bad_combinations():
    with pytest.raises(ValueError, match="dtype must be float32"):
        pyfwd.Network([3, 2], "relu", dtype="float64", weight_dtype="bfloat16")
    with pytest.raises(ValueError, match="weight_dtype='float64' with dtype='float32'"):
        pyfwd.Network([3, 2], "relu", weight_dtype="float64")
    net = pyfwd.Network([3, 2], "relu")
    with pytest.raises(ValueError, match="compute='bf16' needs 16-bit weights"):
        net.compute = "bf16"
    with pytest.raises(ValueError, match="compute='bf16' needs 16-bit weights"):
        net.forward(np.ones((1, 3), np.float32), compute="bf16")
    net16 = pyfwd.Network([3, 2], "relu", weight_dtype="float16")
    with pytest.raises(ValueError, match="compute must be 'fp32' or 'bf16'"):
        net16.forward(np.ones((1, 3), np.float32), compute="fp16")
    with pytest.raises(TypeError, match="out has dtype float64, expected float32"):
        net16.forward(np.ones((1, 3)), out=np.empty((1, 2)))
    with pytest.raises(ValueError, match="W1 must have shape"):
        net16.params["W1"] = np.ones((3, 3))
    with pytest.raises(TypeError, match="must hold real numbers"):
        net16.params["W1"] = np.array([["a", "b", "c"]] * 2)


@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
@pytest.mark.parametrize("compute", ["fp32", "bf16"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_network_within_bound(wd, compute, backend):
    """Every layer against the float64 reference with the rounded weights (and rounded
    inputs for compute="bf16"), batches on both sides of the dot path."""
    net = _net(wd)
    rng = np.random.default_rng(5)
    for M in (1, 16, 17, 64):
        X = rng.standard_normal((M, net.layer_dims[0])).astype(np.float32)
        Y, cache = net.forward(X, return_cache=True, backend=backend, compute=compute)
        assert Y.dtype == np.float32
        assert_forward_close(Y, net.weights, net.biases, net.activations, X, cache=cache, compute=compute)
        assert_identical(net.forward(X, backend=backend, compute=compute), Y)


@pytest.mark.parametrize("act", ACTIVATIONS)
def test_network_every_activation(act):
    for wd in ("bfloat16", "float16"):
        net = _net(wd, dims=(19, 23, 5), acts=(act, act))
        X = np.random.default_rng(6).standard_normal((7, 19)).astype(np.float32)
        for be in BACKENDS:
            for compute in ("fp32", "bf16"):
                Y, cache = net.forward(X, return_cache=True, backend=be, compute=compute)
                assert_layers_close(cache, net.weights, net.biases, net.activations, compute=compute)


def test_compute_bf16_is_not_fp32():
    """compute="bf16" really rounds the layer inputs (the check above could not tell)."""
    net = _net("float16", dims=(64, 32, 8), acts=("tanh", "linear"))
    X = np.random.default_rng(7).standard_normal((3, 64)).astype(np.float32)
    for be in BACKENDS:
        y32 = net.forward(X, backend=be)
        y16 = net.forward(X, backend=be, compute="bf16")
        assert not np.array_equal(y32, y16)
        net.compute = "bf16"
        assert_identical(net.forward(X, backend=be), y16)
        net.compute = "fp32"


@pytest.mark.skipif(not HAS_CPP, reason="cpp backend not built")
@pytest.mark.parametrize("isa", _isas())
@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
def test_cpp_network16_bits(isa, wd, isa_restore, restore_threads):
    """Few rows: the layers of dense() with 16-bit W (the dot path); more rows: the
    float32 network on the widened weights. compute="bf16": the same on the rounded
    inputs (numpy-rounded here, bit for bit). Threads 1 and 2 identical."""
    isa_restore.set_isa(isa)
    net = _net(wd)
    wide = net.with_weight_dtype(None)
    rng = np.random.default_rng(8)
    for M in (1, 16, 17, 50):
        X = rng.standard_normal((M, net.layer_dims[0])).astype(np.float32)
        for compute in ("fp32", "bf16"):
            res = []
            for nt in (1, 2):
                pyfwd.set_num_threads(nt)
                res.append(net.forward(X, backend="cpp", compute=compute))
            assert_identical(res[0], res[1], f"M={M} {compute}: threads 1 vs 2")
            rnd = _dtypes16.round_bf16 if compute == "bf16" else (lambda a: a)
            if M <= 16:
                A = X
                for W, b, act in zip(net.weights, net.biases, net.activations):
                    A = pyfwd.dense(rnd(A), W, b, act, backend="cpp")
                assert_identical(res[0], A, f"M={M} {compute}: vs dense() chain")
            elif compute == "fp32":
                assert_identical(res[0], wide.forward(X, backend="cpp"), f"M={M}: vs float32 network")
        if M > 16:
            _, cache = net.forward(X, return_cache=True, backend="cpp", compute="bf16")
            assert_layers_close(cache, net.weights, net.biases, net.activations, compute="bf16")


@pytest.mark.skipif(not HAS_CPP, reason="cpp backend not built")
def test_cpp_network16_packs_only_for_large_batches():
    net = _net("bfloat16")
    X = np.ones((4, net.layer_dims[0]), np.float32)
    net.forward(X, backend="cpp")
    state = net._state(pyfwd.get_backend("cpp") if hasattr(pyfwd, "get_backend") else None)
    assert state.packs == 0  # the dot path reads the 16-bit weights, no float32 copy
    net.forward(np.ones((40, net.layer_dims[0]), np.float32), backend="cpp")
    net.forward(np.ones((40, net.layer_dims[0]), np.float32), backend="cpp")
    assert state.packs == 1


# -- persistence --------------------------------------------------------------------
@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
def test_save_load_pickle_keep_weight_dtype(wd, tmp_path):
    net = _net(wd, dims=(9, 8, 3), acts=("relu", "softmax"))
    net.compute = "bf16"
    net.classes_ = [1, 2, 3]
    X = np.random.default_rng(9).standard_normal((5, 9)).astype(np.float32)
    y = net.forward(X)
    path = tmp_path / "n.npz"
    net.save(path)
    copies = [pyfwd.Network.load(path), pickle.loads(pickle.dumps(net)),
              pickle.loads(pickle.dumps(net, protocol=2))]
    import copy
    copies += [copy.deepcopy(net), copy.copy(net)]
    for c in copies:
        assert c.weight_dtype == WD[wd] and c.compute == "bf16" and c.dtype == np.float32
        for k in net.params:
            assert_identical(c.params[k], net.params[k], k)
        assert_identical(c.forward(X), y)
    # the pickle holds no ml_dtypes object: the weights travel as uint16 bits
    assert b"ml_dtypes" not in pickle.dumps(net)
    # float32 networks keep the old formats (readable by older pyfwd)
    plain = pyfwd.Network([3, 2], "relu")
    assert plain.__getstate__()["pyfwd_pickle"] == 1
    plain.save(tmp_path / "p.npz")
    assert int(np.load(tmp_path / "p.npz")["pyfwd_format"]) == 1


def test_load_refuses_bad_16bit_files(tmp_path):
    net = _net("bfloat16", dims=(4, 3), acts=("relu",))
    path = tmp_path / "n.npz"
    net.save(path)
    entries = dict(np.load(path))
    for key, value, msg in (("weight_dtype", np.array("int8"), "expected one of bfloat16, float16"),
                            ("compute", np.array("fp8"), "expected 'fp32' or 'bf16'"),
                            ("W1", entries["W1"].astype(np.float32), "expected uint16")):
        bad = dict(entries, **{key: value})
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(ValueError, match=msg):
            pyfwd.Network.load(tmp_path / "bad.npz")
