"""Property-based tests (hypothesis) over whole networks, for every compiled
backend (``cpp``, ``numba``).

Every example is a network of 1-7 layers (widths 1-400, narrowing, widening,
hourglass, diamond or random, every activation, with or without biases), a
batch of up to ~2,000 rows, float32 or float64. The strategies lean toward the
region where a threading bug lives (issue 9: a race in Numba's whole-network
row split): deep networks, hidden widths that differ, batches and flop counts
past the threading thresholds of both backends (numba: ``PAR_MIN_FLOPS`` and
``M >= 4*MR*threads``; cpp: a layer of at least ``kSerialFlops`` in
``src/cpp/gemm.cpp``). Each example:

* 1 thread, ``return_cache=True``: the output meets the carried end-to-end
  bound, every layer meets the tight per-layer bound from the backend's own
  input (``pyfwd.testing.assert_forward_close(..., cache=...)``);
* 1 thread without the cache: bitwise equal to the cached call (same kernels),
  which ties the no-cache path to the tight oracle;
* 1, 2 and 3 threads, the drawn call form (plain, ``out=``, ``return_cache``,
  both), each call repeated (a race is intermittent) with a busy background
  thread competing for the cores (preempted workers let one row block run
  ahead of another: that is when a race between them shows): bitwise equal to
  the 1-thread result, output and every cache entry.

And concurrent calls from several Python threads on deep networks: bitwise
equal to a single-threaded call.

Profiles (the ``settings`` below, registered as hypothesis profiles):

* ``pyfwd-ci`` (default): a bounded number of examples, ``derandomize=True``
  (the same examples every run: no CI failure that appears by chance, no
  ``.hypothesis`` database written), ``deadline=None``, no shrinking (see
  below); about 2 minutes for this file on 2 cores;
* ``pyfwd-slow``: the tests marked ``@pytest.mark.slow``, many more random
  examples and bigger problems. Not run by a plain ``python -m pytest``; run
  them before closing a change to the kernels with either of::

      PYTHONPATH=src python -m pytest -q -m slow tests/test_properties_network.py
      PYFWD_HYPOTHESIS_PROFILE=slow PYTHONPATH=src python -m pytest -q tests/test_properties_network.py

  (the second runs the default tests too; see ``tests/conftest.py``).

A failure prints the drawn ``NetSpec`` (dims, activations, batch, dtype, seed):
``NetSpec(...).build()`` rebuilds the network and input exactly.

The deterministic tests at the end show the oracle itself can fail: a layer
made wrong by far less than the carried bound allows is caught by the
per-layer check, named by its number.
"""
from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, event, example, given, note, settings
from hypothesis import strategies as st

import pyfwd
from pyfwd.backends import numba_config
from pyfwd.backends import numba_kernels
from pyfwd.testing import (assert_forward_close, assert_identical, assert_layers_close,
                           first_difference, network_bounds)

COMPILED = ("cpp", "numba")
ACTS = list(pyfwd.ACTIVATIONS)
THREADS = (1, 2, 3)
REPEATS = 3

# cpp's threading thresholds (src/cpp/gemm.cpp, choose_split): a layer with fewer
# flops than kSerialFlops runs on the calling thread; each extra thread needs
# kFlopsPerThread. Used only to label examples (hypothesis statistics).
CPP_SERIAL_FLOPS = 1.5e6
CPP_FLOPS_PER_THREAD = 1.0e6

_COMMON = dict(deadline=None, print_blob=True, database=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])
# CI: no shrink phase. A race's failure does not replay reliably, so shrinking
# it mostly burns time (150 s measured on issue 9's race); the drawn NetSpec is
# printed unshrunk, readable as it is. The slow profile shrinks.
settings.register_profile("pyfwd-ci", max_examples=40, derandomize=True,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate], **_COMMON)
settings.register_profile("pyfwd-slow", max_examples=400, derandomize=False, **_COMMON)
CI = settings.get_profile("pyfwd-ci")
SLOW = settings.get_profile("pyfwd-slow")
#: concurrent calls: fewer examples (each runs several Python threads)
CI_CONCURRENT = settings(CI, max_examples=15)
SLOW_CONCURRENT = settings(SLOW, max_examples=100)

#: flops of one forward (2*M*sum(K*N)) per example: keeps the float64
#: reference (a few products per layer) and the ~12 backend calls in budget
CI_MAX_FLOPS = 3e8
SLOW_MAX_FLOPS = 2.5e9


# -- the examples -------------------------------------------------------------
@dataclass(frozen=True)
class NetSpec:
    """A network and its input, rebuilt exactly from these fields."""

    dims: tuple
    acts: tuple
    batch: int
    dtype: str
    seed: int
    bias: bool = True

    def build(self):
        rng = np.random.default_rng(self.seed)
        Ws, bs = [], []
        for K, N in zip(self.dims[:-1], self.dims[1:]):
            Ws.append(rng.standard_normal((N, K)) * np.sqrt(2.0 / K))
            bs.append(rng.standard_normal(N) * 0.5 if self.bias else None)
        net = pyfwd.Network.from_arrays(Ws, bs, list(self.acts), dtype=self.dtype)
        X = rng.standard_normal((self.batch, self.dims[0])).astype(self.dtype)
        return net, X

    @property
    def flops(self) -> float:
        return 2.0 * self.batch * sum(K * N for K, N in zip(self.dims[:-1], self.dims[1:]))


# block edges of both backends' tiles (numba MR 12, NR 16/32; cpp MR 6/14, NR 8/16/32)
_EDGE_WIDTHS = [1, 2, 5, 6, 7, 8, 12, 13, 16, 17, 24, 31, 32, 33, 48, 64, 65, 96, 127, 128, 129,
                200, 255, 256, 257, 384, 400]
_width = st.one_of(st.integers(1, 400), st.sampled_from(_EDGE_WIDTHS), st.integers(1, 48))
_in_width = st.one_of(_width, st.just(784))


def _label(spec: NetSpec) -> None:
    """Which threaded paths the example reaches (``--hypothesis-show-statistics``)."""
    layer = [2.0 * spec.batch * K * N for K, N in zip(spec.dims[:-1], spec.dims[1:])]
    mr = numba_kernels.MR
    nt = min(2, numba.config.NUMBA_NUM_THREADS)
    if nt < 2 or max(layer) < numba_config.PAR_MIN_FLOPS:
        path = "serial"
    elif spec.batch >= 4 * mr * nt and sum(layer) >= numba_config.PAR_MIN_FLOPS:
        path = "whole-network row split"
    else:
        path = "per-layer split"
    event(f"numba at 2 threads: {path}")
    cpp = sum(f >= max(CPP_SERIAL_FLOPS, 2 * CPP_FLOPS_PER_THREAD) for f in layer)
    event(f"cpp at 2 threads: {'no' if cpp == 0 else 'some' if cpp < len(layer) else 'every'} "
          "layer big enough to split")
    event(f"depth {'1-3' if len(layer) < 4 else '4-7'}")


@st.composite
def net_specs(draw, max_flops: float, min_depth: int = 1, max_batch: int = 2000) -> NetSpec:
    """Networks biased toward the dangerous region: mostly deep (4-7 layers),
    hidden widths that differ, large batches."""
    depth = draw(st.one_of(st.integers(max(4, min_depth), 7), st.integers(min_depth, 7)))
    shape = draw(st.sampled_from(["random", "narrowing", "widening", "hourglass", "diamond"]))
    hidden = [draw(_width) for _ in range(depth - 1)]
    if shape == "narrowing":
        hidden.sort(reverse=True)
    elif shape == "widening":
        hidden.sort()
    elif shape in ("hourglass", "diamond"):
        h = sorted(hidden, reverse=shape == "hourglass")
        hidden = h[::2][::-1] + h[1::2]  # extremes outside (hourglass) or inside (diamond)
    dims = (draw(_in_width), *hidden, draw(_width))
    acts = tuple(draw(st.lists(st.sampled_from(ACTS), min_size=depth, max_size=depth)))
    regime = draw(st.sampled_from(["threaded", "threaded", "threaded", "few rows", "any"]))
    # "threaded": past every threshold at 2 and 3 threads where the budget allows:
    # numba's whole-network split (M >= 4*MR*3, a layer of PAR_MIN_FLOPS) and cpp's
    # per-layer split (a layer of 2 * kFlopsPerThread); "few rows": too few rows
    # for numba's whole-network split, a first layer big enough for its per-layer one
    layer_min = 1.25 * max(numba_config.PAR_MIN_FLOPS, 2 * CPP_FLOPS_PER_THREAD)
    if regime == "threaded" and max_batch * 2.0 * max(K * N for K, N in zip(dims[:-1], dims[1:])) < layer_min:
        dims = (784, *dims[1:])  # a network too narrow to ever thread: widen its input
    if regime == "few rows":
        batch = draw(st.integers(8, 4 * numba_kernels.MR * 2 - 1))
        dims = (784, max(dims[1], int(np.ceil(layer_min / (2 * 784 * batch)))), *dims[2:])
    per_row = [2.0 * K * N for K, N in zip(dims[:-1], dims[1:])]
    most = max(1, int(max_flops // sum(per_row)))  # the flop budget's batch
    if regime == "few rows":
        batch = min(batch, most)
    elif regime == "threaded":
        need = max(4 * numba_kernels.MR * 3, int(np.ceil(layer_min / max(per_row))))
        hi = min(max_batch, most)
        batch = draw(st.integers(min(need, hi), hi))
    else:
        batch = draw(st.one_of(st.integers(1, max_batch), st.integers(1, 95),
                               st.sampled_from([1, 12, 47, 48, 95, 96, 97, 143, 144, 145])))
        batch = max(1, min(batch, most))
    spec = NetSpec(dims, acts, batch, draw(st.sampled_from(["float32", "float64"])),
                   draw(st.integers(0, 2**32 - 1)), draw(st.booleans() | st.just(True)))
    _label(spec)
    return spec


_MODES = ("plain", "out", "cache", "cache+out")


# -- the checks ---------------------------------------------------------------
def _backend_or_skip(name: str) -> None:
    if name not in pyfwd.backends():
        reasons = pyfwd._config._registry.unavailable_reasons()
        pytest.skip(f"backend {name!r} not available here: {reasons.get(name, 'unknown reason')}")


def _call(net, X, backend, mode):
    """One forward in the given form: (output, cache or None)."""
    out = np.empty((X.shape[0], net.layer_dims[-1]), net.dtype) if "out" in mode else None
    if "cache" in mode:
        y, cache = net.forward(X, return_cache=True, backend=backend, out=out)
    else:
        y, cache = net.forward(X, backend=backend, out=out), None
    if out is not None:
        assert y is out, f"{mode}: forward(out=...) did not return out"
    return y, cache


def _same_as(y, cache, y1, cache1, what: str) -> None:
    """Bitwise: output and (if any) every cache entry equal the 1-thread ones."""
    assert_identical(y, y1, f"{what}: output")
    if cache is not None:
        assert set(cache) == set(cache1), f"{what}: cache keys {sorted(cache)}"
        for key in sorted(cache1):
            assert_identical(cache[key], cache1[key], f"{what}: cache {key}")


def _reference_run(net, X, backend):
    """1 thread: the cached result checked by the tight and the carried oracle,
    the plain call bitwise equal to it. Returns (y, cache)."""
    pyfwd.set_num_threads(1)
    y1, cache1 = net.forward(X, return_cache=True, backend=backend)
    assert_forward_close(y1, net.weights, net.biases, net.activations, X, cache=cache1)
    assert_identical(net.forward(X, backend=backend), y1,
                     "1 thread: forward without return_cache vs with it (the same kernels)")
    return y1, cache1


@contextlib.contextmanager
def _cpu_contention():
    """One busy background thread (NumPy ufuncs, GIL released) while the block
    runs: the kernels' worker threads get preempted, as on a loaded machine.
    A race between row blocks needs one block to run ahead of another; on a
    quiet machine issue 9's race fired in 8 of 200 calls, with this in 117."""
    stop = threading.Event()

    def spin():
        a = np.ones(20000)
        while not stop.is_set():
            for _ in range(20):
                np.sin(a, out=a)
            time.sleep(0)

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def _check_network(backend: str, spec: NetSpec, mode: str) -> None:
    _backend_or_skip(backend)
    note(f"{spec!r}: {spec.flops:.3g} flops; call form {mode!r}")
    net, X = spec.build()
    saved = pyfwd.get_num_threads()
    try:
        y1, cache1 = _reference_run(net, X, backend)
        with _cpu_contention():
            for nt in THREADS:
                pyfwd.set_num_threads(nt)
                for rep in range(1, REPEATS + 1):
                    y, cache = _call(net, X, backend, mode)
                    _same_as(y, cache, y1, cache1,
                             f"{backend} {mode}, {nt} thread(s), repeat {rep}/{REPEATS}, vs 1 thread")
    finally:
        pyfwd.set_num_threads(saved)


def _check_concurrent(backend: str, spec: NetSpec, n_callers: int, nt: int, modes) -> None:
    """*n_callers* Python threads call forward on one network at once, each on
    its own rows of the input, *REPEATS* times: every result bitwise equal to a
    single-threaded call."""
    _backend_or_skip(backend)
    note(f"{spec!r}: {n_callers} Python threads, pyfwd threads {nt}, call forms {modes}")
    net, X = spec.build()
    # each caller its own batch: the whole input, or a slice that keeps it large
    parts = [X if i % 2 == 0 else X[i:] for i in range(n_callers)]
    saved = pyfwd.get_num_threads()
    try:
        expected = []
        for i, Xi in enumerate(parts):
            y1, cache1 = (_reference_run(net, Xi, backend) if i < 2 else
                          net.forward(Xi, return_cache=True, backend=backend))
            expected.append((y1, cache1))
        pyfwd.set_num_threads(nt)
        barrier = threading.Barrier(n_callers)
        errors: list[str] = []

        def work(i):
            try:
                barrier.wait(timeout=60)
                for rep in range(1, REPEATS + 1):
                    y, cache = _call(net, parts[i], backend, modes[i])
                    _same_as(y, cache, *expected[i],
                             f"Python thread {i} ({modes[i]}, {parts[i].shape[0]} rows), repeat {rep}")
            except Exception as exc:  # reported below
                errors.append(f"{type(exc).__name__}: {exc}")

        callers = [threading.Thread(target=work, args=(i,)) for i in range(n_callers)]
        for t in callers:
            t.start()
        for t in callers:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in callers), "concurrent calls hung"
        assert not errors, "\n".join(errors)
    finally:
        pyfwd.set_num_threads(saved)


# The two networks measured racing in issue 9 (numba, 2 threads): always run.
_ISSUE9 = [NetSpec((784, 512, 256, 128, 10), ("relu", "relu", "relu", "softmax"), 2048, "float32", 9),
           NetSpec((784, 32, 24, 16, 10), ("relu", "tanh", "gelu", "softmax"), 216, "float32", 9)]


# -- whole networks, every compiled backend -----------------------------------
@pytest.mark.parametrize("backend", COMPILED)
@CI
@given(spec=net_specs(CI_MAX_FLOPS), mode=st.sampled_from(_MODES))
@example(spec=_ISSUE9[0], mode="plain")
@example(spec=_ISSUE9[1], mode="out")
def test_network_matches_oracle_and_is_bitwise_stable(backend, spec, mode):
    _check_network(backend, spec, mode)


@pytest.mark.slow
@pytest.mark.parametrize("backend", COMPILED)
@SLOW
@given(spec=net_specs(SLOW_MAX_FLOPS, max_batch=2500), mode=st.sampled_from(_MODES))
def test_network_matches_oracle_and_is_bitwise_stable_slow(backend, spec, mode):
    _check_network(backend, spec, mode)


_concurrent_args = dict(n_callers=st.integers(2, 4), nt=st.sampled_from(THREADS),
                        modes=st.lists(st.sampled_from(_MODES), min_size=4, max_size=4))


@pytest.mark.parametrize("backend", COMPILED)
@CI_CONCURRENT
@given(spec=net_specs(CI_MAX_FLOPS / 2, min_depth=4), **_concurrent_args)
@example(spec=_ISSUE9[1], n_callers=3, nt=2, modes=["plain", "cache", "out", "plain"])
def test_concurrent_calls_on_deep_networks_are_bitwise_stable(backend, spec, n_callers, nt, modes):
    _check_concurrent(backend, spec, n_callers, nt, modes)


@pytest.mark.slow
@pytest.mark.parametrize("backend", COMPILED)
@SLOW_CONCURRENT
@given(spec=net_specs(SLOW_MAX_FLOPS / 4, min_depth=4), **_concurrent_args)
def test_concurrent_calls_on_deep_networks_are_bitwise_stable_slow(backend, spec, n_callers, nt, modes):
    _check_concurrent(backend, spec, n_callers, nt, modes)


# -- the oracle can fail ------------------------------------------------------
def _wrong_layer_cache(dims, acts, dtype, wrong: int, rel: float, seed: int = 3):
    """A float64-exact forward cache in *dtype* (every layer correctly computed
    from the previous one) in which layer *wrong*'s A is scaled by (1 + rel) and
    every later layer recomputed from it: a backend with one wrong layer."""
    spec = NetSpec(tuple(dims), tuple(acts), 64, dtype, seed)
    net, X = spec.build()
    A = X
    cache = {"A0": X}
    for l, (W, b, act) in enumerate(zip(net.weights, net.biases, net.activations), start=1):
        Z = (A.astype(np.float64) @ W.T.astype(np.float64) + b).astype(dtype)
        Al = pyfwd.dense(A, W, b, act, backend="numpy")
        if l == wrong:
            Al = (Al * (1 + rel)).astype(dtype)
            Z = (Z * (1 + rel)).astype(dtype)
        cache[f"Z{l}"], cache[f"A{l}"] = Z, Al
        A = Al
    return net, X, cache


def test_tight_oracle_catches_a_wrong_layer_the_carried_bound_lets_through():
    dims, acts = [784, 512, 256, 128, 10], ["relu", "relu", "relu", "softmax"]
    # The carried bound at the output of this float32 network is huge (issue 9):
    net, X, cache = _wrong_layer_cache(dims, acts, "float32", wrong=2, rel=0.0)
    last = network_bounds(net.weights, net.biases, net.activations, X, "float32")[-1]
    assert np.median(last.eA / np.abs(last.A)) > 1, "the carried bound is not loose here?"
    # layer 2 off by 1e-3 relative: ~1e4 float32 ulps, far outside the layer's bound
    net, X, cache = _wrong_layer_cache(dims, acts, "float32", wrong=2, rel=1e-3)
    y = cache["A4"]
    assert_forward_close(y, net.weights, net.biases, net.activations, X)  # end to end: passes
    with pytest.raises(AssertionError, match=r"layer 2 of 4 \(relu, \(M,K,N\)=\(64,512,256\).*Z2.*"
                                              r"worst at \(\d+, \d+\): reference .* allowed"):
        assert_layers_close(cache, net.weights, net.biases, net.activations)
    with pytest.raises(AssertionError, match="layer 2 of 4"):
        assert_forward_close(y, net.weights, net.biases, net.activations, X, cache=cache)
    # the same cache without the fault passes both
    net, X, good = _wrong_layer_cache(dims, acts, "float32", wrong=0, rel=0.0)
    assert_forward_close(good["A4"], net.weights, net.biases, net.activations, X, cache=good)


@pytest.mark.parametrize("wrong", [1, 4, 7])
def test_tight_oracle_names_the_wrong_layer_at_any_depth(wrong):
    dims = [30, 7, 300, 5, 64, 129, 17, 3]
    acts = ["gelu", "relu", "tanh", "silu", "leaky_relu", "sigmoid", "softmax"]
    net, X, cache = _wrong_layer_cache(dims, acts, "float64", wrong=wrong, rel=1e-9)
    with pytest.raises(AssertionError, match=f"layer {wrong} of 7"):
        assert_layers_close(cache, net.weights, net.biases, net.activations)


def test_output_must_be_the_caches_last_activation():
    net, X, cache = _wrong_layer_cache([5, 4, 3], ["relu", "softmax"], "float64", wrong=0, rel=0.0)
    y = cache["A2"].copy()
    assert_forward_close(y, net.weights, net.biases, net.activations, X, cache=cache)
    y[3, 1] = np.nextafter(y[3, 1], 2.0)  # one ulp: within every bound, but not the same call
    with pytest.raises(AssertionError, match=r"vs its cache A2: 1 of 192 element\(s\) differ.*\(3, 1\)"):
        assert_forward_close(y, net.weights, net.biases, net.activations, X, cache=cache)
    assert first_difference(cache["A2"], cache["A2"].copy()) is None
