"""The ``numba`` backend: its blocked GEMM and fused epilogues against the NumPy
reference (through pyfwd.testing), over shapes at its block edges, layouts,
special values, thread counts, concurrent callers and cache locations."""
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

try:  # NumPy >= 2
    from numpy.lib.array_utils import byte_bounds
except ImportError:  # NumPy 1.x
    byte_bounds = np.byte_bounds

import pyfwd
from pyfwd.backends.numpy_ref import FUNCTIONS
from pyfwd.testing import assert_dense_close, assert_forward_close

numba = pytest.importorskip("numba")
nk = pytest.importorskip("pyfwd.backends.numba_kernels")
from pyfwd.backends import numba_config  # noqa: E402

ACTS = list(pyfwd.ACTIVATIONS)
NR32, NR64 = nk.panel_width(4), nk.panel_width(8)  # 32 and 16 columns per panel
MR = nk.MR  # 12 rows per register tile

# Block edges of this backend: M around MR and its remainder kernels (8, 4, 2, 1),
# N around NR (one panel) and 4*NR (the batch-1 kernel takes 4 panels at once),
# K=1, primes, tall-skinny and short-wide, and an empty batch.
SHAPES = [
    (1, 1, 1), (0, 5, 3), (1, 784, 128), (1, 7, 4 * NR32 + 1), (2, 3, 5), (7, 11, 13),
    (MR - 1, 1, NR32 + 1), (MR, 31, NR64 - 1), (MR + 1, 17, NR32), (2 * MR + 11, 33, 2 * NR32 + 3),
    (3, 2, 1000), (1000, 3, 2), (97, 257, 65),
]


@pytest.fixture(scope="module")
def be():
    backend = pyfwd.get_backend("numba")
    backend.warmup()  # compile once for the module (both dtypes, serial and parallel)
    return backend


@pytest.fixture
def threads():
    saved = pyfwd.get_num_threads()
    yield
    pyfwd.set_num_threads(saved)


def _data(rng, M, K, N, dtype):
    X = rng.standard_normal((M, K)).astype(dtype)
    W = (rng.standard_normal((N, K)) / np.sqrt(K)).astype(dtype)
    b = rng.standard_normal(N).astype(dtype)
    return X, W, b


@pytest.fixture(params=["unpacked", "packed"])
def dense_path(request, monkeypatch):
    """dense() without prepare: row dot products on W as given (small batches)
    or the packed GEMM (bigger ones); every dense test runs both."""
    monkeypatch.setattr(numba_config, "DENSE_UNPACKED_MAX_M", 10**9 if request.param == "unpacked" else -1)
    monkeypatch.setattr(numba_config, "DENSE_UNPACKED_MIN_K", 0)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,K,N", SHAPES)
def test_dense_every_activation(be, dtype, M, K, N, dense_path):
    rng = np.random.default_rng(M * 7919 + K * 31 + N)
    X, W, b = _data(rng, M, K, N, dtype)
    for act in ACTS:
        y = pyfwd.dense(X, W, b, act, backend="numba")
        assert y.shape == (M, N) and y.dtype == dtype
        assert_dense_close(y, X, W, b, act)
    y = pyfwd.dense(X, W, None, "relu", backend="numba")
    assert_dense_close(y, X, W, None, "relu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layouts_are_bitwise_identical(be, dtype, dense_path):
    rng = np.random.default_rng(3)
    X, W, b = _data(rng, 29, 45, 37, dtype)
    ref = pyfwd.dense(X, W, b, "gelu", backend="numba")
    assert_dense_close(ref, X, W, b, "gelu")
    big = np.zeros((60, 140), dtype)
    strided = big[1:59:2, 2:137:3]
    strided[...] = X
    ro = X.copy()
    ro.flags.writeable = False
    for Xl in (np.asfortranarray(X), X[::-1][::-1], strided, ro, np.ascontiguousarray(X.T).T):
        for Wl in (W, np.asfortranarray(W)):
            assert np.array_equal(pyfwd.dense(Xl, Wl, b, "gelu", backend="numba"), ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_forward_cache_and_out(be, dtype):
    rng = np.random.default_rng(11)
    net = pyfwd.Network([37, 65, 33, 10], ["gelu", "tanh", "softmax"], dtype=dtype, seed=2)
    X = rng.standard_normal((50, 37)).astype(dtype)
    y, cache = net.forward(X, return_cache=True, backend="numba")
    assert_forward_close(y, net.weights, net.biases, net.activations, X, cache=cache)
    assert cache["A3"] is y
    out = np.full((50, 10), np.nan, dtype)
    assert net.forward(X, backend="numba", out=out) is out
    assert np.array_equal(out, y)
    y2, cache2 = net.forward(X, return_cache=True, backend="numba", out=np.empty_like(out))
    assert np.array_equal(y2, y) and np.array_equal(cache2["Z2"], cache["Z2"])
    # one sample (1-D) and an empty batch
    assert np.array_equal(net.forward(X[7], backend="numba"), y[7])
    assert net.forward(X[:0], backend="numba").shape == (0, 10)
    y0, c0 = net.forward(X[:0], return_cache=True, backend="numba")
    assert y0.shape == (0, 10) and c0["Z2"].shape == (0, 33)


@pytest.mark.parametrize("acts", [["relu", "softmax"], ["leaky_relu", "sigmoid"], ["silu", "linear"]])
def test_mlp_batch_sizes(be, acts):
    net = pyfwd.Network([784, 128, 10], acts, seed=0)
    rng = np.random.default_rng(1)
    for M in (1, 5, 64, 257):
        X = rng.standard_normal((M, 784)).astype(np.float32)
        y = net.forward(X, backend="numba")
        assert_forward_close(y, net.weights, net.biases, net.activations, X)


@pytest.mark.parametrize("K", [70, 64, 15, 1])
def test_rows_do_not_depend_on_the_batch(be, dense_path, K):
    """Each path has one summation order per element whatever the tile: the
    packed GEMM (12/8/4/2/1 rows, 1 or 4 panels) one FMA chain over k, the
    unpacked one (4x4 or 1x8 tiles) one chain per vector lane plus the K % lanes
    tail and a fixed lane reduction. So within a path a row's result is the same
    bits alone or in any batch (the two paths differ in the last bits)."""
    rng = np.random.default_rng(8)
    X, W, b = _data(rng, 31, K, 4 * NR32 + 5, np.float32)
    full = pyfwd.dense(X, W, b, "tanh", backend="numba")
    assert_dense_close(full, X, W, b, "tanh")
    for i in (0, 12, 24, 30):
        assert np.array_equal(pyfwd.dense(X[i:i + 1], W, b, "tanh", backend="numba")[0], full[i])
    assert np.array_equal(pyfwd.dense(X[5:20], W, b, "tanh", backend="numba"), full[5:20])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unpacked_dense_thread_counts_are_bitwise_identical(be, dtype, threads, monkeypatch):
    """The unpacked path splits output columns over threads (blocks of 8, so a
    1x8 tile never straddles two tasks); the bits never change."""
    rng = np.random.default_rng(12)
    X, W, b = _data(rng, 23, 45, 61, dtype)
    monkeypatch.setattr(numba_config, "DENSE_UNPACKED_MAX_M", 10**9)
    monkeypatch.setattr(numba_config, "DENSE_UNPACKED_MIN_K", 0)
    monkeypatch.setattr(numba_config, "PAR_MIN_FLOPS", 0)
    for act in ("gelu", "softmax"):
        pyfwd.set_num_threads(1)
        ref = pyfwd.dense(X, W, b, act, backend="numba")
        assert_dense_close(ref, X, W, b, act)
        for n in range(2, numba.config.NUMBA_NUM_THREADS + 2):
            pyfwd.set_num_threads(n)
            assert np.array_equal(pyfwd.dense(X, W, b, act, backend="numba"), ref), (act, n)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thread_counts_are_bitwise_identical(be, dtype, threads, monkeypatch):
    rng = np.random.default_rng(4)
    net = pyfwd.Network([300, 200, 40], ["relu", "softmax"], dtype=dtype, seed=1)
    X = rng.standard_normal((150, 300)).astype(dtype)
    pyfwd.set_num_threads(1)
    ref, cref = net.forward(X, return_cache=True, backend="numba")
    assert_forward_close(ref, net.weights, net.biases, net.activations, X, cache=cref)
    # every size goes parallel: different block splits for every thread count;
    # 150 rows split the batch over the whole network, 40 split each layer
    monkeypatch.setattr(numba_config, "PAR_MIN_FLOPS", 0)
    for M in (150, 40):
        for n in range(1, numba.config.NUMBA_NUM_THREADS + 2):
            pyfwd.set_num_threads(n)
            y, c = net.forward(X[:M], return_cache=True, backend="numba")
            assert np.array_equal(y, ref[:M]), (M, n)
            assert all(np.array_equal(c[k], cref[k][:M]) for k in cref), (M, n)
    assert be.config()["threading_layer"] in ("omp", "tbb", "workqueue")


def test_row_blocks_own_their_memory_in_every_layer(be):
    """The ROWS mode runs each row block through every layer with no barrier
    between layers, so a block may write no byte that another block reads or
    writes in any layer (issue 9: hidden buffers viewed as (M, N_l) let layer
    l+2 of one block overwrite layer l of another). Checked on the views the
    kernel uses, for every block, layer and buffer: deterministic, unlike the race."""
    dims = [30, 32, 24, 16, 40, 7, 10]
    net = pyfwd.Network(dims, "relu", seed=0)
    packed = be.prepare(net.weights, net.biases, net.activations)
    for M, write_cache in ((216, False), (216, True), (97, False)):
        X = np.zeros((M, dims[0]), np.float32)
        out = np.empty((M, dims[-1]), np.float32)
        cbuf = np.empty(M * (2 * sum(dims[1:]) - dims[-1]) if write_cache else 0, np.float32)
        buf0, buf1, noz = nk._buffers(X, packed.meta, write_cache)
        mode, MB = nk.parallel_plan(M, 2, packed.row_flops, packed.total_row_flops, 0)
        assert mode == nk.ROWS
        spans = []  # (buffer base, first byte, end byte, block)
        for rb, r0 in enumerate(range(0, M, MB)):
            r1 = min(M, r0 + MB)
            A = X[r0:r1]
            for l in range(len(dims) - 1):
                _, _, Z, Y = nk._layer_views(l, r0, r1, M, packed.wflat, packed.bflat,
                                             packed.meta, out, cbuf, write_cache, buf0, buf1, noz)
                assert Y.shape == (r1 - r0, dims[l + 1]) and Y.flags.c_contiguous
                for arr in (A, Y) + ((Z,) if write_cache else ()):
                    lo, hi = byte_bounds(arr)
                    spans.append((lo, hi, rb))
                A = Y
        for i, (lo, hi, rb) in enumerate(spans):
            for lo2, hi2, rb2 in spans[i + 1:]:
                assert rb == rb2 or hi <= lo2 or hi2 <= lo, (M, write_cache, rb, rb2)


def test_deep_network_rows_mode_is_race_free(be, threads):
    """The issue-9 reproducer (22 of 30 calls wrong before the fix): 4 layers of
    differing widths, a batch split over 2 threads, every call bitwise equal to
    the 1-thread result and within the per-layer bound."""
    rng = np.random.default_rng(9)
    net = pyfwd.Network([784, 512, 256, 128, 10], ["relu", "tanh", "relu", "softmax"], seed=2)
    X = rng.standard_normal((2048, 784)).astype(np.float32)
    pyfwd.set_num_threads(1)
    ref = net.forward(X, backend="numba")
    pyfwd.set_num_threads(2)
    wrong = sum(not np.array_equal(net.forward(X, backend="numba"), ref) for _ in range(10))
    assert wrong == 0, f"{wrong} of 10 calls differ from the 1-thread result"


def test_num_threads_follows_pyfwd(be, threads):
    pyfwd.set_num_threads(1)
    assert be.config()["num_threads"] == 1
    pyfwd.set_num_threads(numba.config.NUMBA_NUM_THREADS + 1)  # bounded by Numba's pool
    assert be.config()["num_threads"] == numba.config.NUMBA_NUM_THREADS


def test_concurrent_calls(be, threads):
    rng = np.random.default_rng(6)
    net = pyfwd.Network([256, 192, 10], ["relu", "softmax"], seed=3)
    Xs = [rng.standard_normal((96, 256)).astype(np.float32) for _ in range(6)]
    pyfwd.set_num_threads(2)
    expected = [net.forward(X, backend="numba") for X in Xs]
    errors = []

    def work(i):
        try:
            for _ in range(15):
                if not np.array_equal(net.forward(Xs[i], backend="numba"), expected[i]):
                    errors.append(f"thread {i}: result differs")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(Xs))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    assert_forward_close(expected[0], net.weights, net.biases, net.activations, Xs[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values_through_every_activation(be, dtype):
    z = np.array([-np.inf, np.inf, np.nan, 0.0, -0.0, 1e-30, -1e-30, 3.0, -3.0, 40.0, -40.0,
                  800.0, -800.0, 1e30, -1e30], dtype=dtype)
    X = z.reshape(-1, 1)
    W = np.ones((1, 1), dtype)
    for act in ACTS:
        y = pyfwd.dense(X, W, None, act, backend="numba")
        assert_dense_close(y, X, W, None, act)
        with np.errstate(all="ignore"):
            ref = FUNCTIONS[act](X.astype(np.float64))
        assert np.array_equal(np.isnan(y), np.isnan(ref)), act
        fin = np.isfinite(ref)
        assert np.array_equal(y[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)].astype(dtype)), act
    # gelu/silu limits, relu NaN propagation, stable sigmoid
    g = pyfwd.dense(X, W, None, "gelu", backend="numba")[:3, 0]
    assert g[0] == 0 and g[1] == np.inf and np.isnan(g[2])
    s = pyfwd.dense(X, W, None, "sigmoid", backend="numba")[:, 0]
    assert s[0] == 0 and s[1] == 1 and np.all(np.isfinite(np.delete(s, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nonfinite_inputs_propagate(be, dtype):
    rng = np.random.default_rng(9)
    X, W, b = _data(rng, 19, 23, 37, dtype)
    X[3, 4], X[5, :] = np.nan, np.inf
    X[7, 2], W[2, 6] = -np.inf, np.inf
    for act in ACTS:
        assert_dense_close(pyfwd.dense(X, W, b, act, backend="numba"), X, W, b, act)
    W2 = rng.standard_normal((5, 37)).astype(dtype)
    net = pyfwd.Network.from_arrays([W, W2], [b, None], ["relu", "softmax"])
    y = net.forward(X, backend="numba")
    assert_forward_close(y, net.weights, net.biases, net.activations, X)


def test_warmup_compiles_both_dtypes(be):
    be.warmup()
    entries = [nk.net_forward_serial, nk.dense_rows]
    if numba.config.NUMBA_NUM_THREADS > 1:
        entries += [nk.net_forward_rows, nk.net_forward_layers, nk.dense_rows_par]
    for entry in entries:
        assert {sig[0].dtype.name for sig in entry.signatures} == {"float32", "float64"}
        assert all(sig[0].layout == "C" for sig in entry.signatures)
    assert "numba" in pyfwd.warmup(["numba"])


def test_no_fastmath_true_in_the_kernels():
    """stumpy's rule: fastmath lives in numba_config only, and is never True."""
    here = os.path.dirname(nk.__file__)
    for name in os.listdir(here):
        if name.startswith("numba_") and name.endswith(".py"):
            with open(os.path.join(here, name)) as fh:
                src = fh.read()
            assert "fastmath=True" not in src.replace(" ", ""), name
            if name != "numba_config.py":
                assert "fastmath=" not in src, name
    assert numba_config.FASTMATH is False


def _run_py(code, env_extra, cwd):
    env = dict(os.environ)
    env.update(env_extra)
    res = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return res.stdout


_LAZY_AND_CACHED = """
    import numpy as np, pyfwd
    from pyfwd.backends import numba_kernels as nk
    be = pyfwd.get_backend("numba")
    # importing (and instantiating the backend) compiles nothing
    parallel = (nk.net_forward_rows, nk.net_forward_layers, nk.dense_rows_par)
    assert nk.net_forward_serial.signatures == [] and all(not f.signatures for f in parallel)
    net = pyfwd.Network([9, 5, 3], ["relu", "softmax"], seed=0)
    X = np.arange(18, dtype=np.float32).reshape(2, 9)
    y = net.forward(X, backend="numba")
    from pyfwd.testing import assert_dense_close, assert_forward_close
    assert_forward_close(y, net.weights, net.biases, net.activations, X)
    assert all(not f.signatures for f in parallel)  # one thread: parallel entries stay uncompiled
    y = pyfwd.dense(X, net.weights[0], net.biases[0], "gelu", backend="numba")
    assert_dense_close(y, X, net.weights[0], net.biases[0], "gelu")
    assert all(not f.signatures for f in parallel)
    print(sum(nk.net_forward_serial.stats.cache_hits.values()))
"""


def test_cache_dir_redirect_and_lazy_compile(be, tmp_path):
    """NUMBA_CACHE_DIR takes the cache (where a read-only install's cache goes):
    the first process writes it, the second loads from it; nothing compiles at
    import."""
    cache = tmp_path / "numba_cache"
    env = {"NUMBA_CACHE_DIR": str(cache), "PYFWD_NUM_THREADS": "1"}
    first = _run_py(_LAZY_AND_CACHED, env, tmp_path)
    assert first.split()[-1] == "0"  # compiled, no cache hit
    assert list(cache.rglob("numba_kernels*.nbi")) and list(cache.rglob("numba_kernels*.nbc"))
    second = _run_py(_LAZY_AND_CACHED, env, tmp_path)
    assert int(second.split()[-1]) > 0  # loaded from the redirected cache


def test_no_usable_cache_location_is_not_an_error(be, tmp_path):
    """Where Numba finds no writable cache location at all (read-only install,
    no writable user cache), ``cache=True`` would raise when the kernels module
    is imported; the backend's decorator compiles without a cache instead."""
    code = """
        from numba.core import caching
        caching.CacheImpl._locator_classes = []  # as if nothing were writable
        import pyfwd
        from pyfwd.backends import numba_kernels as nk
        assert pyfwd.get_backend("numba").name == "numba"
        assert nk._sigmoid(0.0) == 0.5 and nk._sigmoid(-1000.0) == 0.0
        print(nk._sigmoid._cache.__class__.__name__)
    """
    cache = tmp_path / "unused"
    out = _run_py(code, {"NUMBA_CACHE_DIR": str(cache)}, tmp_path)
    assert out.split()[-1] == "NullCache"
    assert not cache.exists()


def test_workqueue_layer_is_guarded(be, tmp_path):
    """Numba's workqueue layer aborts on concurrent parallel launches; the
    backend serialises its parallel calls under it."""
    code = """
        import threading, numpy as np, pyfwd, numba
        net = pyfwd.Network([256, 192, 10], ["relu", "softmax"], seed=3)
        X = np.random.default_rng(0).standard_normal((128, 256)).astype(np.float32)
        pyfwd.set_num_threads(2)
        ref = net.forward(X, backend="numba")
        bad = []
        def work():
            for _ in range(20):
                if not np.array_equal(net.forward(X, backend="numba"), ref):
                    bad.append(1)
        ts = [threading.Thread(target=work) for _ in range(4)]
        [t.start() for t in ts]; [t.join() for t in ts]
        assert not bad
        print(numba.threading_layer())
    """
    out = _run_py(code, {"NUMBA_THREADING_LAYER": "workqueue", "NUMBA_NUM_THREADS": "2"}, tmp_path)
    assert out.split()[-1] == "workqueue"


def test_codegen_without_avx512(be, tmp_path):
    """Where the CPU has no AVX-512 the kernels take the 6 x 2 x 256-bit tile (12
    accumulators of 16 ymm registers): compile the GEMM block for an AVX2 Haswell
    in a subprocess (only the block, to keep the compile short) and check it
    against the reference."""
    features = ("+64bit,+avx,+avx2,+bmi,+bmi2,+cmov,+cx16,+f16c,+fma,+fxsr,+lzcnt,+mmx,"
                "+movbe,+popcnt,+sse,+sse2,+sse3,+sse4.1,+sse4.2,+ssse3,+xsave")
    code = """
        import numpy as np, pyfwd
        from pyfwd.testing import assert_dense_close
        from pyfwd.backends import numba_kernels as nk
        from pyfwd.backends.numba_jit import _Packed
        rng = np.random.default_rng(0)
        X = rng.standard_normal((29, 67)).astype(np.float32)
        W = rng.standard_normal((150, 67)).astype(np.float32)
        b = rng.standard_normal(150).astype(np.float32)
        p = _Packed([W], [b], ["tanh"])
        Wp = p.wflat.reshape(-1, 67, nk.panel_width(4))
        Y, Z = np.empty((29, 150), np.float32), np.empty((29, 150), np.float32)
        nk._layer_block(0, 29, 0, Wp.shape[0], X, Wp, b, nk.TANH, Z, True, Y)
        assert_dense_close(Y, X, W, b, "tanh")
        assert_dense_close(Z, X, W, b, "linear")
        asm = "\\n".join(nk._layer_block.inspect_asm().values())
        print(nk.MR, nk.VEC_BYTES, nk.AVX512)  # the tile for 16 ymm registers
        print("zmm" in asm, "ymm" in asm)
    """
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "c"), "NUMBA_CPU_NAME": "haswell",
           "NUMBA_CPU_FEATURES": features, "PYFWD_NUM_THREADS": "1"}
    assert _run_py(code, env, tmp_path).split()[-5:] == ["6", "32", "False", "False", "True"]


def test_forked_child_runs(be, threads):
    """GNU OpenMP aborts a forked child's parallel launch once the parent used
    it; the backend runs serially in a forked child, with the same bits."""
    import multiprocessing as mp
    rng = np.random.default_rng(2)
    net = pyfwd.Network([256, 192, 10], ["relu", "softmax"], seed=3)
    X = rng.standard_normal((128, 256)).astype(np.float32)
    pyfwd.set_num_threads(2)
    ref = net.forward(X, backend="numba")  # a parallel region in the parent
    ctx = mp.get_context("fork")
    q = ctx.Queue()

    def child():
        q.put(net.forward(X, backend="numba"))

    p = ctx.Process(target=child)
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork with threads
        warnings.simplefilter("ignore", DeprecationWarning)
        p.start()
    y = q.get(timeout=120)
    p.join(timeout=120)
    assert p.exitcode == 0
    assert np.array_equal(y, ref)


def _ulp_distance(a, b):
    """ulps between float32 arrays (same sign handling for both, so -0 == +0)."""
    ia, ib = (x.view(np.int32).astype(np.int64) for x in (a, b))
    ia, ib = (np.where(i < 0, -(i & 0x7FFFFFFF), i) for i in (ia, ib))
    return np.abs(ia - ib)


def test_float32_tanh_sweep_within_4_ulp(be):
    """float32 tanh uses the backend's own exp-based tanh (not libm's): a dense
    sweep of 2.2e6 points over the whole range against math.tanh in float64,
    rounded once, max error <= 4 ulp; exact saturation, NaN, signs."""
    rng = np.random.default_rng(21)
    x = np.concatenate([np.linspace(-12, 12, 10**6), 3 * rng.standard_normal(10**6),
                        np.logspace(-45, 1.3, 10**5), -np.logspace(-45, 1.3, 10**5),
                        [0.0, -0.0, 1e-3, -1e-3, 20.0, -20.0, 1e30, np.inf, -np.inf, np.nan]])
    X = x.astype(np.float32).reshape(-1, 1)
    W = np.ones((1, 1), np.float32)
    y = pyfwd.dense(X, W, None, "tanh", backend="numba")[:, 0]
    ref = np.tanh(X[:, 0].astype(np.float64)).astype(np.float32)
    fin = ~np.isnan(ref)
    assert _ulp_distance(y[fin], ref[fin]).max() <= 4
    assert np.array_equal(np.isnan(y), np.isnan(ref))
    assert list(y[-6:-1]) == [1.0, -1.0, 1.0, 1.0, -1.0]
    nz = fin & (ref != 0)  # (a GEMM sum starts from +0, so -0 comes out +0)
    assert np.array_equal(np.signbit(y[nz]), np.signbit(ref[nz]))
    small = pyfwd.dense(X[:100], W, None, "tanh", backend="numba")  # the unpacked path
    assert np.array_equal(small, y[:100, None])
