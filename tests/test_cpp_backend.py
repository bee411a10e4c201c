"""The ``cpp`` backend against the NumPy reference (one tolerance helper), for every
ISA level this CPU supports, both dtypes, every activation, and the shapes and
layouts that break naive GEMM code; plus threads (bitwise determinism, concurrent
callers, fork) and the ISA controls."""
from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

import pyfwd
from pyfwd.activations import ACTIVATIONS
from pyfwd.testing import assert_dense_close, assert_forward_close

CPP = pyfwd.get_backend("cpp")
ISAS = CPP.supported_isas()
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=ISAS)
def isa(request):
    before = CPP.isa()
    CPP.set_isa(request.param)
    yield request.param
    CPP.set_isa(before)


def blocks(dtype) -> dict:
    return CPP.config()["blocks"][np.dtype(dtype).name]


def data(rng, M, K, N, dtype, bias=True):
    X = rng.standard_normal((M, K)).astype(dtype)
    W = rng.standard_normal((N, K)).astype(dtype)
    b = rng.standard_normal(N).astype(dtype) if bias else None
    return X, W, b


def check_dense(X, W, b, act):
    y = pyfwd.dense(X, W, b, act, backend="cpp")
    assert y.shape == (X.shape[0], W.shape[0])
    assert_dense_close(y, X, W, b, act)
    return y


# -- every level x dtype x activation ------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_dense_every_activation(isa, dtype, act, rng):
    for M, K, N in [(1, 1, 1), (7, 13, 5), (37, 61, 43)]:
        X, W, b = data(rng, M, K, N, dtype)
        check_dense(3 * X, W, b, act)  # scaled: reach the saturating tails too
    X, W, _ = data(rng, 5, 9, 17, dtype)
    check_dense(X, W, None, act)


@pytest.mark.parametrize("dtype", DTYPES)
def test_block_edges(isa, dtype, rng):
    """M, N, K at each block size -1, 0, +1 of the active bundle (every edge tile)."""
    bl = blocks(dtype)
    MR, NR, MC, KC, NC, MW, NW = (bl[k] for k in ("MR", "NR", "MC", "KC", "NC", "MW", "NW"))
    shapes = []
    for d in (-1, 0, 1):
        shapes += [(MR + d, 7, NR + d), (2 * MR + d, 3, 2 * NR + d), (MC + d, 5, 3),
                   (3, KC + d, 5), (MR + 1, 2 * KC + d, NR + 1), (2, 3, NC + d),
                   (MW, 9, NW + d), (MW + 1, 9, NW + d), (1, 11, 2 * NW + d)]
    shapes.append((MC + 1, KC + 1, NR + 1))  # several M and K blocks at once
    for M, K, N in shapes:
        X, W, b = data(rng, M, K, N, dtype)
        check_dense(X, W, b, "relu")
        check_dense(np.asfortranarray(X), W, b, "linear")  # packed A (C order reads A in place)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hard_shapes(isa, dtype, rng):
    for M, K, N in [(1, 1, 7), (13, 1, 29), (4097, 3, 2), (2, 4097, 3), (3, 2, 4097),
                    (2000, 3, 2), (2, 3000, 1), (1, 784, 128), (97, 89, 83)]:
        X, W, b = data(rng, M, K, N, dtype)
        check_dense(X, W, b, "sigmoid" if M % 2 else "linear")


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_inputs_or_outputs(isa, dtype, rng):
    """K = 0: the output is act(bias) (one pass over an empty K); N = 0: empty."""
    X, W, b = data(rng, 5, 0, 4, dtype)
    for act in ACTIVATIONS:
        check_dense(X, W, b, act)
        check_dense(X, W, None, act)
    X, W, b = data(rng, 5, 3, 0, dtype)
    assert pyfwd.dense(X, W, b, "softmax", backend="cpp").shape == (5, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_batch(dtype, rng):
    X, W, b = data(rng, 0, 6, 4, dtype)
    y = pyfwd.dense(X, W, b, "softmax", backend="cpp")
    assert y.shape == (0, 4) and y.dtype == dtype
    net = pyfwd.Network([6, 5, 4], ["relu", "softmax"], dtype=dtype, seed=1)
    assert net.forward(X, backend="cpp").shape == (0, 4)
    y, cache = net.forward(X, backend="cpp", return_cache=True)
    assert y.shape == (0, 4) and cache["Z1"].shape == (0, 5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pack_w_every_layout_same_bits(isa, dtype, rng):
    """Packing W takes a different load path per layout (contiguous loads for
    Fortran order, in-register transposes for C order and whole row groups, gathers
    for other strides): every path must give the same packed bits, so the same
    output as the C-ordered W, over N and K around the vector width and the sliver
    width NR (group and k-block edges) and M past the small-batch dot path."""
    NR = blocks(dtype)["NR"]
    M = 40
    for N in sorted({1, 3, 4, 5, 7, 8, 9, NR - 1, NR, NR + 1, 2 * NR + 3}):
        for K in (1, 3, 4, 5, 7, 8, 9, 17, 33):
            X = rng.standard_normal((M, K)).astype(dtype)
            W = rng.standard_normal((N, K)).astype(dtype)
            big = rng.standard_normal((2 * N, 3 * K)).astype(dtype)
            big[::2, ::3] = W
            ref = pyfwd.dense(X, W, None, "linear", backend="cpp")
            assert_dense_close(ref, X, W, None, "linear")
            for name, Wv in (("fortran", np.asfortranarray(W)), ("strided", big[::2, ::3]),
                             ("negative", W[::-1, ::-1][::-1, ::-1]), ("rows reversed", None)):
                if Wv is None:  # negative row stride, contiguous columns
                    Wv = W[::-1].copy()[::-1]
                np.testing.assert_array_equal(pyfwd.dense(X, Wv, None, "linear", backend="cpp"), ref,
                                              err_msg=f"{name} N={N} K={K}")
            net = pyfwd.Network.from_arrays([np.asfortranarray(W)], [None], "linear", dtype=dtype)
            np.testing.assert_array_equal(net.forward(X, backend="cpp"), ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts(isa, dtype, rng):
    """Fortran order, transposed and negative-stride views, strided, read-only: all
    read in place, the same numbers as the C-contiguous copy."""
    X, W, b = data(rng, 45, 38, 33, dtype)
    Xbig = rng.standard_normal((90, 80)).astype(dtype)
    views = {
        "fortran": (np.asfortranarray(X), np.asfortranarray(W)),
        "transposed": (np.ascontiguousarray(X.T).T, np.ascontiguousarray(W.T).T),
        "negative": (X[::-1][::-1].copy()[::-1], W[::-1, ::-1]),
        "strided": (Xbig[::2, 1::2][:45, :38], W),
    }
    for name, (Xv, Wv) in views.items():
        check_dense(Xv, Wv, b, "tanh")
    Xr, Wr, br = X.copy(), W.copy(), b.copy()
    for a in (Xr, Wr, br):
        a.flags.writeable = False
    check_dense(Xr, Wr, br, "gelu")
    net = pyfwd.Network.from_arrays([W, rng.standard_normal((4, 33))], [b, None], ["relu", "softmax"], dtype=dtype)
    for Xv in (np.asfortranarray(X), X[::-1], Xr):
        assert_forward_close(net.forward(Xv, backend="cpp"), net.weights, net.biases, net.activations, Xv)


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_batch_dot_path(isa, dtype, restore_threads, rng):
    """dense() with few rows reads W's rows in place (no packing): every edge of its
    blocking (rows 1..5, the limit +-1; W rows 1..9; K tails), every layout of X and W
    giving the same bits, and any thread count too."""
    limit = CPP.config()["dot_max_m"]
    for M, K, N in [(1, 1, 1), (1, 17, 9), (2, 33, 7), (3, 5, 4), (4, 64, 8), (5, 31, 3),
                    (limit - 1, 19, 13), (limit, 784, 128), (limit + 1, 23, 11), (1, 4099, 300)]:
        X, W, b = data(rng, M, K, N, dtype)
        y = check_dense(X, W, b, "relu")
        Xbig = rng.standard_normal((2 * M, 2 * K + 1)).astype(dtype)
        Xbig[::2, 1::2] = X
        for Xv, Wv in [(np.asfortranarray(X), np.asfortranarray(W)), (X[::-1].copy()[::-1], W[::-1].copy()[::-1]),
                       (Xbig[::2, 1::2], np.ascontiguousarray(W.T).T)]:
            np.testing.assert_array_equal(pyfwd.dense(Xv, Wv, b, "relu", backend="cpp"), y)
    X, W, b = data(rng, 3, 1000, 2001, dtype)  # enough work to split over threads
    results = []
    for n in (1, 2, 3):
        pyfwd.set_num_threads(n)
        results.append(pyfwd.dense(X, W, b, "softmax", backend="cpp"))
    assert_dense_close(results[0], X, W, b, "softmax")
    for r in results[1:]:
        assert r.tobytes() == results[0].tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite(isa, dtype):
    """NaN passes through every activation (relu's SIMD max keeps it); +-inf as the
    reference; sigmoid/softmax never overflow on huge inputs."""
    X = np.array([[np.nan], [np.inf], [-np.inf], [1e30], [-1e30], [0.5]], dtype=dtype)
    W = np.array([[1.0], [-2.0], [0.5]], dtype=dtype)
    b = np.array([0.0, 1.0, -1.0], dtype=dtype)
    for act in ACTIVATIONS:
        y = check_dense(X, W, b, act)
        assert np.isnan(y[0]).all(), act


# -- networks --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_cache_activations_equal_the_fused_layers_bits(isa, dtype, rng, restore_threads):
    """forward(return_cache=True) computes each A_l from Z_l block by block inside the GEMM
    (softmax: a row pass): every A_l must equal, bit for bit, the fused layer, a
    one-layer network's forward without a cache (its micro-kernel applies act_l in the
    final store), and Z_l that layer with a linear activation, at every thread count;
    widths past one register tile, a column split (2 rows) and a row split (70 rows)."""
    acts = ["gelu", "leaky_relu", "silu", "tanh", "sigmoid", "relu", "linear", "softmax"]
    dims = [37, 70, 53, 129, 33, 41, 66, 19, 21]
    net = pyfwd.Network(dims, acts, dtype=dtype, seed=5)
    for M in (2, 70):
        X = rng.standard_normal((M, dims[0])).astype(dtype)
        for T in (1, 2, 3):
            pyfwd.set_num_threads(T)
            _, cache = net.forward(X, backend="cpp", return_cache=True)
            for l, act in enumerate(acts, start=1):
                A_prev, W, b = cache[f"A{l - 1}"], net.params[f"W{l}"], net.params[f"b{l}"]
                Z = pyfwd.Network.from_arrays([W], [b], "linear").forward(A_prev, backend="cpp")
                A = pyfwd.Network.from_arrays([W], [b], act).forward(A_prev, backend="cpp")
                assert cache[f"Z{l}"].tobytes() == Z.tobytes(), (M, T, l, "Z")
                assert cache[f"A{l}"].tobytes() == A.tobytes(), (M, T, l, act)


def test_network_cache_and_out(isa, dtype, rng):
    dims, acts = [31, 40, 17, 9, 6], ["gelu", "leaky_relu", "silu", "softmax"]
    net = pyfwd.Network(dims, acts, dtype=dtype, seed=3)
    X = rng.standard_normal((23, 31)).astype(dtype)
    y = net.forward(X, backend="cpp")
    assert_forward_close(y, net.weights, net.biases, acts, X)
    y2, cache = net.forward(X, backend="cpp", return_cache=True)
    assert_forward_close(y2, net.weights, net.biases, acts, X, cache=cache)
    assert np.array_equal(y, y2)
    out = np.empty((23, 6), dtype=dtype)
    r = net.forward(X, backend="cpp", out=out)
    assert r is out and np.array_equal(out, y)
    out2 = np.full((23, 6), np.nan, dtype=dtype)
    r, cache = net.forward(X, backend="cpp", out=out2, return_cache=True)
    assert r is out2 and np.array_equal(out2, y) and np.shares_memory(cache["A4"], out2)
    one = net.forward(X[3], backend="cpp")
    assert one.shape == (6,) and np.array_equal(one, y[3])


def test_out_validation(rng):
    X, W, b = data(rng, 4, 5, 3, np.float32)
    for bad in (np.empty((4, 4), np.float32), np.empty((4, 3), np.float64),
                np.empty((3, 4), np.float32).T, np.empty((4, 3), np.float32)[:, :]):
        if bad.shape == (4, 3) and bad.dtype == np.float32 and bad.flags.c_contiguous:
            bad.flags.writeable = False
        with pytest.raises((ValueError, TypeError)):
            pyfwd.dense(X, W, b, "relu", backend="cpp", out=bad)
        with pytest.raises(ValueError):  # the core checks too (it would write out of bounds)
            pyfwd._core.dense(X, W, b, 1, bad)
    out = np.empty((4, 3), np.float32)
    assert pyfwd.dense(X, W, b, "relu", backend="cpp", out=out) is out
    assert_dense_close(out, X, W, b, "relu")


def test_isa_switch_repacks(rng):
    net = pyfwd.Network([20, 33, 7], ["relu", "linear"], seed=5)
    X = rng.standard_normal((9, 20)).astype(np.float32)
    before = CPP.isa()
    try:
        for level in ISAS:
            CPP.set_isa(level)
            y = net.forward(X, backend="cpp")
            assert_forward_close(y, net.weights, net.biases, net.activations, X)
            assert net._states["cpp"][1].isa == level
    finally:
        CPP.set_isa(before)


def test_isa_controls():
    assert CPP.isa() in ISAS and "generic" in ISAS
    assert CPP.supported_isas() == [i for i in ("generic", "avx2", "avx512") if i in ISAS]
    with pytest.raises(ValueError, match="valid levels"):
        CPP.set_isa("sse9")
    cfg = CPP.config()
    assert cfg["isa"] == CPP.isa() and cfg["threads"] >= 1
    for dt in ("float32", "float64"):
        bl = cfg["blocks"][dt]
        assert bl["MC"] % bl["MR"] == 0 and bl["NC"] % bl["NR"] == 0 and bl["ukr"].startswith(dt[5:] == "32" and "s" or "d")
    assert pyfwd._core.fma_peak_gflops(1, 0.01) > 1.0


def test_stream_read_probe_reads_every_byte_at_every_level():
    """_core.stream_read_gbps (the bench's memory-bound ceiling): every level's read probe
    sums every float of the buffer in every round (the core checks the sum and raises if
    one was skipped), for sizes that are no multiple of the vectors and thread counts
    that do not divide them; bad sizes are a ValueError."""
    before = CPP.isa()
    try:
        for isa in ISAS:
            CPP.set_isa(isa)
            for nbytes, threads in ((4096, 1), (4096 + 4, 3), (3 << 20, 2)):
                gbps = pyfwd._core.stream_read_gbps(nbytes, threads, 0.0)
                assert math.isfinite(gbps) and gbps > 0.01, (isa, nbytes, threads, gbps)
    finally:
        CPP.set_isa(before)
    for bad in (0, 4095, 1 << 31):
        with pytest.raises(ValueError, match="bytes must be"):
            pyfwd._core.stream_read_gbps(bad, 1, 0.0)


def test_every_level_reports_the_tile_it_runs():
    """Each level's tile is one description (Tile<MR, NR, MW, SW> in its gemm file): the
    kernel's name, MR/NR and the small-M tile reported for every level and dtype agree."""
    before = CPP.isa()
    try:
        for isa in CPP.supported_isas():
            CPP.set_isa(isa)
            for dt, letter in (("float32", "s"), ("float64", "d")):
                bl = CPP.config()["blocks"][dt]
                assert bl["ukr"] == f"{letter}gemm_ukr_{isa}_{bl['MR']}x{bl['NR']}", (isa, dt, bl)
                assert 1 <= bl["MW"] <= bl["MR"] and bl["NW"] % bl["NR"] == 0 and bl["NW"] >= bl["NR"], (isa, dt, bl)
    finally:
        CPP.set_isa(before)


def _run(code, **env):
    e = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=e, timeout=120)


def test_pyfwd_isa_env_generic():
    code = ("import numpy as np, pyfwd\nfrom pyfwd.testing import assert_dense_close\n"
            "be = pyfwd.get_backend('cpp'); print(be.isa())\n"
            "r = np.random.default_rng(0); X = r.standard_normal((50, 40)); W = r.standard_normal((30, 40))\n"
            "assert_dense_close(pyfwd.dense(X, W, None, 'silu', backend='cpp'), X, W, None, 'silu')\n")
    p = _run(code, PYFWD_ISA="generic")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "generic"


def test_pyfwd_isa_env_bogus():
    p = _run("import pyfwd; pyfwd.get_backend('cpp')", PYFWD_ISA="avx9000")
    assert p.returncode != 0
    assert "PYFWD_ISA" in p.stderr and "valid levels: generic, avx2, avx512" in p.stderr, p.stderr


# -- threads -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_bitwise(restore_threads, dtype, rng):
    """Threads split output rows/columns, never K: identical bits for any count."""
    X, W, b = data(rng, 301, 517, 203, dtype)
    Xs, Ws, bs = data(rng, 9, 517, 1003, dtype)  # few rows: split by columns
    net = pyfwd.Network([517, 300, 41, 10], ["gelu", "relu", "softmax"], dtype=dtype, seed=2)
    results = []
    for n in (1, 2, 3):
        pyfwd.set_num_threads(n)
        results.append((pyfwd.dense(X, W, b, "sigmoid", backend="cpp"),
                        pyfwd.dense(Xs, Ws, bs, "softmax", backend="cpp"),
                        net.forward(X, backend="cpp")))
    assert_dense_close(results[0][0], X, W, b, "sigmoid")
    assert_dense_close(results[0][1], Xs, Ws, bs, "softmax")
    for r in results[1:]:
        for a, ref in zip(r, results[0]):
            assert a.tobytes() == ref.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_row_products_split_only_while_workers_are_awake(restore_threads, dtype, rng):
    """A batch of at most MR rows over a large W (memory bound) takes a second core
    only while the pool's workers are awake (back-to-back calls); an isolated call
    runs alone, a call that follows another nudges them awake. Every one of these
    gives the 1-thread bits: isolated calls (workers asleep), the nudged next call,
    calls back to back, at 2 and 3 threads; a softmax layer too (its column split
    then needs a row pass). dense() with these few rows takes the dot path, which
    splits the same way (float32 W and, for float32, bfloat16 W read 16-bit):
    checked alongside."""
    import time
    net = pyfwd.Network([784, 300, 200], ["relu", "softmax"], dtype=dtype, seed=4)  # both layers split
    Xs = [rng.standard_normal((m, 784)).astype(dtype) for m in (1, 2, 5)]
    W, b = rng.standard_normal((200, 784)).astype(dtype), rng.standard_normal(200).astype(dtype)
    Ws = [W]
    if dtype == np.float32 and importlib.util.find_spec("ml_dtypes") is not None:
        import ml_dtypes
        Ws.append(W.astype(ml_dtypes.bfloat16))  # 313 KB read 16-bit: memory bound too
    pyfwd.set_num_threads(1)
    ref = [(net.forward(X, backend="cpp"), [pyfwd.dense(X, Wi, b, "softmax", backend="cpp") for Wi in Ws])
           for X in Xs]
    for n in (2, 3):
        pyfwd.set_num_threads(n)
        for gap in (0.03, 0.03, 0.0, 0.0, 0.0):  # asleep, then nudged, then awake
            time.sleep(gap)
            for X, (y_ref, d_refs) in zip(Xs, ref):
                assert net.forward(X, backend="cpp").tobytes() == y_ref.tobytes(), (n, gap, X.shape)
                for Wi, d_ref in zip(Ws, d_refs):
                    got = pyfwd.dense(X, Wi, b, "softmax", backend="cpp")
                    assert got.tobytes() == d_ref.tobytes(), (n, gap, Wi.dtype)


def test_concurrent_python_threads(restore_threads, rng):
    pyfwd.set_num_threads(2)
    net = pyfwd.Network([200, 150, 10], ["relu", "softmax"], seed=4)
    inputs = [rng.standard_normal((64 + 7 * i, 200)).astype(np.float32) for i in range(6)]
    expected = [net.forward(X, backend="cpp") for X in inputs]
    errors = []

    def worker(i):
        try:
            for _ in range(15):
                for X, e in zip(inputs[i:] + inputs[:i], expected[i:] + expected[:i]):
                    if not np.array_equal(net.forward(X, backend="cpp"), e):
                        errors.append(i)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    for X, e in zip(inputs, expected):
        assert_forward_close(e, net.weights, net.biases, net.activations, X)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_parallel_call(restore_threads, rng):
    pyfwd.set_num_threads(2)
    net = pyfwd.Network([300, 200, 10], ["relu", "softmax"], seed=6)
    X = rng.standard_normal((256, 300)).astype(np.float32)
    y = net.forward(X, backend="cpp")  # the pool's worker is up and has run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
        pid = os.fork()
    if pid == 0:  # child: must not hang on the parent's vanished workers
        code = 1
        try:
            import signal
            signal.alarm(60)
            ok = np.array_equal(net.forward(X, backend="cpp"), y)
            pyfwd.set_num_threads(2)
            ok = ok and np.array_equal(net.forward(X, backend="cpp"), y)
            code = 0 if ok else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    assert np.array_equal(net.forward(X, backend="cpp"), y)


def test_thread_count_changes_quickly(restore_threads, rng):
    """Resizing the pool right after creating it (a worker not yet running when the
    stop is published) must neither hang nor lose work."""
    X, W, b = data(rng, 200, 64, 96, np.float32)
    ref = pyfwd.dense(X, W, b, "relu", backend="cpp")
    for n in (2, 1, 3, 1, 2, 2, 4, 1) * 5:
        pyfwd.set_num_threads(n)
        assert pyfwd.dense(X, W, b, "relu", backend="cpp").tobytes() == ref.tobytes()
