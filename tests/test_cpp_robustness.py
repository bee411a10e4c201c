"""The compiled core at the edges of a process's life and of its configuration:
exit with a daemon thread inside a call, Ctrl-C during a long call, a bad
``PYFWD_ISA``, parameters the private ``_core.Network`` must refuse, a thread count
the machine refuses, and the activation table shared with Python. Each scenario
that needs a fresh interpreter (environment, signals, exit) runs in a subprocess."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyfwd
from pyfwd import activations

CPP = pyfwd.get_backend("cpp")
_core = pyfwd._core
SUPPORTED = CPP.supported_isas()
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")


def run_py(code: str, timeout: float = 180, **env) -> subprocess.CompletedProcess:
    e = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=e, timeout=timeout)


# -- exit while a daemon thread is inside a call ----------------------------------
EXIT_SCENARIO = """
    import threading, time
    import numpy as np, pyfwd
    net = pyfwd.Network([512, 512, 512, 10], ["relu", "relu", "softmax"], seed=0)
    X = np.random.default_rng(0).standard_normal((64, 512)).astype(np.float32)
    net.forward(X, backend="cpp")

    def loop():
        while True:  # short calls: one is always in flight, GIL released, when Python exits
            net.forward(X, backend="cpp")

    threading.Thread(target=loop, daemon=True).start()
    time.sleep(0.2)
"""


def test_exit_with_daemon_thread_inside_call():
    """Python < 3.14 ends such a thread with pthread_exit when it takes the GIL back;
    unwinding through a noexcept frame (gil_scoped_release's destructor) aborted the
    process: 'terminate called without an active exception', exit code 134."""
    for _ in range(5):
        p = run_py(EXIT_SCENARIO)
        assert p.returncode == 0 and "terminate" not in p.stderr, (p.returncode, p.stderr)


# -- Ctrl-C during a long call ---------------------------------------------------
INTERRUPT_SCENARIO = """
    import signal, threading, time
    import numpy as np, pyfwd
    from pyfwd.testing import assert_dense_close

    # Python leaves SIGINT ignored when it started ignored (a background job of a
    # non-interactive shell, as CI may be): Ctrl-C's handler must be there to test it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    pyfwd.set_num_threads(2)
    rng = np.random.default_rng(0)
    # Sized from this machine's speed so the long calls take ~2 s on any CPU: the
    # GEMM grows along K, the network in depth (memory stays bounded either way).
    A = np.ones((1024, 1024), np.float32)
    t0 = time.perf_counter()
    for _ in range(3):
        pyfwd.dense(A, A, None, "linear", backend="cpp")
    rate = 3 * 2 * 1024**3 / (time.perf_counter() - t0)  # flop/s
    M, N = 4096, 2048
    K = int(min(32768, max(1024, 2.0 * rate / (2 * M * N))))
    depth = int(min(400, max(12, 2.0 * rate / (2 * M * 1024 * 1024))))
    X = rng.standard_normal((M, K)).astype(np.float32)
    W = rng.standard_normal((N, K)).astype(np.float32)
    Xn = X[:, :1024].copy()
    net = pyfwd.Network([1024] * (depth + 1), "relu", seed=0)
    long_calls = {"dense": lambda M: pyfwd.dense(X[:M], W, None, "relu", backend="cpp"),  # one long GEMM
                  "network": lambda M: net.forward(Xn[:M], backend="cpp")}              # many layers
    calls = {"dense": lambda X: pyfwd.dense(X, W, None, "relu", backend="cpp"),
             "network": lambda X: net.forward(X[:, :1024], backend="cpp")}
    small = X[:256]
    before = {k: f(small) for k, f in calls.items()}

    def sigint_after(seconds):
        t = threading.Timer(seconds, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
        t.start()
        return t

    for name, f in long_calls.items():
        t0 = time.perf_counter()
        f(M // 4)
        full = 4 * (time.perf_counter() - t0)  # what the whole batch would take
        # ~2 s as calibrated; a shared machine that sped up 2x since still leaves a call
        # that Ctrl-C at 0.3 s must cut short (took < 0.3 + 0.35 * full < full)
        assert full > 0.6, f"{name}: the call is too short ({full:.2f} s) to test an interrupt"
        timer = sigint_after(0.3)
        t0 = time.perf_counter()
        try:
            f(M)
        except KeyboardInterrupt:
            took = time.perf_counter() - t0
        else:
            raise AssertionError(f"{name}: the call finished without KeyboardInterrupt")
        timer.join()
        assert took < 0.3 + 0.35 * full, f"{name}: interrupted after {took:.2f} s of {full:.2f} s"
        # the pool is idle and computes the same bits as before
        for k, g in calls.items():
            assert g(small).tobytes() == before[k].tobytes(), (name, k)
        print(f"{name}: full {full:.2f} s, interrupted after {took:.2f} s")
    assert_dense_close(calls["dense"](small), small, W, None, "relu")

    # A handler that returns normally does not disturb the call.
    hits = []
    signal.signal(signal.SIGUSR1, lambda *a: hits.append(1))
    t = threading.Timer(0.05, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
    t.start()
    y = calls["dense"](X[: M // 4])
    t.join()
    assert hits == [1]
    assert y[:256].tobytes() == before["dense"].tobytes()

    # A handler that calls the cpp backend while a cpp call runs on this thread (its
    # thread-local buffers are in use) gets a clear error, never corrupted memory.
    signal.signal(signal.SIGUSR1, lambda *a: calls["dense"](small))
    t = threading.Timer(0.05, signal.pthread_kill, (threading.main_thread().ident, signal.SIGUSR1))
    t.start()
    try:
        calls["dense"](X[: M // 4])
    except RuntimeError as exc:
        assert "signal handler" in str(exc), exc
    else:
        raise AssertionError("re-entrant call from a signal handler was not refused")
    t.join()
    assert calls["dense"](small).tobytes() == before["dense"].tobytes()
    print("ok")
"""


def test_ctrl_c_interrupts_long_call():
    p = run_py(INTERRUPT_SCENARIO, timeout=600)
    assert p.returncode == 0 and p.stdout.rstrip().endswith("ok"), p.stdout + p.stderr


FIT_INTERRUPT_SCENARIO = """
    import signal, threading, time
    import numpy as np, pyfwd

    signal.signal(signal.SIGINT, signal.default_int_handler)
    pyfwd.set_num_threads(2)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4096, 784)).astype(np.float32)
    y = rng.integers(0, 10, 4096)
    net = pyfwd.Network([784, 1024, 1024, 10], ["relu", "relu", "softmax"], seed=0)
    opt = pyfwd.optim.Adam(net, lr=1e-3)
    t0 = time.perf_counter()
    net.fit(X[:640], y[:640], optimizer=opt, epochs=1, verbose=False, backend="cpp")  # 10 steps
    step = (time.perf_counter() - t0) / 10
    epoch = 64 * step  # the next fit: one native run of 64 steps
    assert epoch > 0.5, f"an epoch takes {epoch:.2f} s: too short to interrupt"
    before = {k: v.copy() for k, v in net.params.items()}
    state = {k: {s: a.copy() for s, a in st.items()} for k, st in opt.state.items()}
    version = net._version
    timer = threading.Timer(0.25 * epoch, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    try:
        net.fit(X, y, optimizer=opt, epochs=1, verbose=False, backend="cpp")
    except KeyboardInterrupt:
        took = time.perf_counter() - t0
    else:
        raise AssertionError("fit finished without KeyboardInterrupt")
    timer.join()
    assert took < 0.75 * epoch, f"interrupted after {took:.2f} s of an epoch of {epoch:.2f} s"
    # the interrupted run changed nothing: parameters, version, optimiser state and steps
    assert net._version == version and opt.steps == 10
    assert all(net.params[k].tobytes() == before[k].tobytes() for k in before)
    assert all(opt.state[k][s].tobytes() == state[k][s].tobytes() for k in state for s in state[k])
    # and training goes on from there: the same bits as a fresh copy trained the same way
    twin = pyfwd.Network.from_arrays(net.weights, net.biases, net.activations)
    twin_opt = pyfwd.optim.Adam(twin, lr=1e-3)
    twin_opt.state = {k: {s: a.copy() for s, a in st.items()} for k, st in state.items()}
    twin_opt.steps = 10
    for n, o in ((net, opt), (twin, twin_opt)):
        n.fit(X[:256], y[:256], optimizer=o, epochs=1, verbose=False, backend="cpp")
    assert all(net.params[k].tobytes() == twin.params[k].tobytes() for k in before)
    print(f"ok: epoch {epoch:.2f} s, interrupted after {took:.2f} s")
"""


def test_ctrl_c_interrupts_native_training():
    """Ctrl-C during fit's native run (a whole epoch in one core call) stops it within
    a step or so, raises KeyboardInterrupt, and leaves the network and the optimiser as
    they were before the run, ready to train on."""
    p = run_py(FIT_INTERRUPT_SCENARIO, timeout=600)
    assert p.returncode == 0 and "ok:" in p.stdout, p.stdout + p.stderr


# -- PYFWD_ISA ---------------------------------------------------------------------
@pytest.mark.parametrize("spelling", [str.upper, lambda s: f"  {s}\n", str.title])
def test_pyfwd_isa_case_and_whitespace(spelling):
    level = SUPPORTED[-1]
    p = run_py("import pyfwd; print(pyfwd.current_backend(), pyfwd.get_backend('cpp').isa())",
               PYFWD_ISA=spelling(level))
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["cpp", level]


BAD_ISA_SCENARIO = """
    import numpy as np, pyfwd
    X = np.ones((3, 4), np.float32)
    W = np.ones((2, 4), np.float32)
    net = pyfwd.Network([4, 2], "relu")
    assert pyfwd.current_backend() == "cpp", pyfwd.current_backend()  # no silent switch
    assert "cpp" not in pyfwd.backends()
    for call in (lambda: net.forward(X), lambda: net.forward(X, backend="cpp"),
                 lambda: pyfwd.dense(X, W, None, "relu"), lambda: pyfwd.get_backend("cpp")):
        try:
            call()
        except RuntimeError as exc:
            print("ERROR:", exc)
        else:
            raise AssertionError("the cpp backend was used despite a bad PYFWD_ISA")
    assert np.array_equal(net.forward(X, backend="numpy"), net.forward(X, backend="numpy"))
    with pyfwd.use_backend("numpy"):
        net.forward(X)
    cfg = pyfwd.show_config(print_=False)
    print("CONFIG:", cfg["default_backend"], cfg["unavailable"]["cpp"])
"""


def _bad_isa_cases():
    cases = [("avx9000", "is not an ISA level")]
    missing = [lvl for lvl in ("avx2", "avx512") if lvl not in SUPPORTED]
    if missing:
        cases.append((missing[-1].upper(), "does not support"))
    return cases


@pytest.mark.parametrize("value,why", _bad_isa_cases())
def test_pyfwd_isa_bad_is_loud(value, why):
    p = run_py(BAD_ISA_SCENARIO, PYFWD_ISA=value)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    errors = [ln for ln in lines if ln.startswith("ERROR:")]
    assert len(errors) == 4
    have = ", ".join(SUPPORTED)
    for ln in errors + [ln for ln in lines if ln.startswith("CONFIG: cpp ")]:
        assert f"PYFWD_ISA='{value}'" in ln and why in ln and f"this CPU supports: {have}" in ln, ln
    assert any(ln.startswith("CONFIG: cpp ") for ln in lines), p.stdout


@pytest.mark.skipif("avx512" in SUPPORTED, reason="this CPU supports every level")
def test_pyfwd_isa_unsupported_level_named():
    p = run_py("import pyfwd; pyfwd.get_backend('cpp')", PYFWD_ISA="avx512")
    assert p.returncode != 0
    assert "avx512" in p.stderr and f"this CPU supports: {', '.join(SUPPORTED)}" in p.stderr, p.stderr


# -- the private _core.Network validates what it reads ------------------------------
F32 = np.float32


def _w(*shape, dtype=F32):
    return np.ones(shape, dtype)


@pytest.mark.parametrize("weights,biases,acts,exc,match", [
    ([_w(3, 4), _w(2, 3)], [_w(2), None], [1, 1], ValueError, r"layer 1: b must have shape \(3,\), got \(2,\)"),
    ([_w(3, 4), _w(2, 3)], [None, _w(2, 1)], [1, 1], ValueError, r"layer 2: b must have shape \(2,\)"),
    ([_w(3, 4), _w(2, 5)], [None, None], [1, 1], ValueError, "layer 2: W has shape .2, 5. but the previous layer has 3"),
    ([_w(3, 4), _w(2, 3, dtype=np.float64)], [None, None], [1, 1], TypeError, "layer 2: W has dtype float64"),
    ([_w(3, 4)], [_w(3, dtype=np.float64)], [1], TypeError, "layer 1: b has dtype float64, W has float32"),
    ([_w(3, 4, dtype=np.int32)], [None], [1], TypeError, "float32 or float64"),
    ([_w(3)], [None], [1], ValueError, "layer 1: W must be 2-D"),
    ([[[1.0]]], [None], [1], TypeError, "layer 1: W must be a NumPy array, got list"),
    ([_w(3, 4)], [[1.0, 2.0, 3.0]], [1], TypeError, "layer 1: b must be a NumPy array or None"),
    ([_w(3, 4)], [None], [8], ValueError, "layer 1: unknown activation code 8"),
    ([_w(3, 4)], [None], [-1], ValueError, "unknown activation code -1"),
    ([_w(3, 4)], [None, None], [1], ValueError, "one weight, bias and activation per layer"),
    ([], [], [], ValueError, "one weight, bias and activation per layer"),
])
def test_core_network_validates(weights, biases, acts, exc, match):
    with pytest.raises(exc, match=match):
        _core.Network(weights, biases, acts)


def test_core_network_accepts_valid():
    W1, b1, W2 = _w(3, 4), np.arange(3, dtype=F32), _w(2, 3)
    net = _core.Network([W1, W2], [b1, None], [1, 0])
    y = net.forward(np.ones((5, 4), F32))
    assert np.array_equal(y, np.maximum(np.ones((5, 4)) @ W1.T + b1, 0) @ W2.T)


def test_core_network_accepts_equivalent_dtype_objects():
    """An unpickled dtype is a copy, not NumPy's singleton descriptor (so is the
    dtype of an array rebuilt from it): the dtype check is by equivalence, and a
    pickled Network's parameters are accepted."""
    import pickle
    d = pickle.loads(pickle.dumps(np.dtype(F32)))
    assert d is not np.dtype(F32)
    W1, b1, W2 = (np.frombuffer(a.tobytes(), dtype=d).reshape(a.shape)
                  for a in (_w(3, 4), np.arange(3, dtype=F32), _w(2, 3)))
    net = _core.Network([W1, W2], [b1, None], [1, 0])
    y = net.forward(np.ones((5, 4), F32))
    assert np.array_equal(y, np.maximum(np.ones((5, 4)) @ W1.T + b1, 0) @ W2.T)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.Network([W1.astype(">f4")], [None], [0])


# -- a refused thread count --------------------------------------------------------
REFUSED_THREADS_SCENARIO = """
    import resource
    import numpy as np, pyfwd
    from pyfwd import _core
    pyfwd.get_backend("cpp")
    pyfwd.set_num_threads(2)
    net = pyfwd.Network([300, 200, 10], ["relu", "softmax"], seed=1)
    X = np.random.default_rng(1).standard_normal((512, 300)).astype(np.float32)
    y = net.forward(X, backend="cpp")
    # Address space for ~25 more thread stacks (8 MiB each): 900 threads cannot start.
    vm = int(next(ln for ln in open("/proc/self/status") if ln.startswith("VmSize")).split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + (200 << 20), resource.RLIM_INFINITY))
    try:
        pyfwd.set_num_threads(900)
    except RuntimeError as exc:
        print("refused:", exc)
    else:
        raise AssertionError("900 threads started under the address-space limit")
    print(pyfwd.get_num_threads(), _core.get_num_threads())
    assert net.forward(X, backend="cpp").tobytes() == y.tobytes()
    pyfwd.set_num_threads(1)
    print(pyfwd.get_num_threads(), _core.get_num_threads())
"""


@pytest.mark.skipif(UNDER_ASAN, reason="AddressSanitizer's shadow memory defeats the address-space limit")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_refused_thread_count_keeps_previous():
    p = run_py(REFUSED_THREADS_SCENARIO)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("refused: could not start 900 threads") and "still using 2" in lines[0], lines
    assert lines[1:] == ["2 2", "1 1"], lines


# -- one activation table ----------------------------------------------------------
def test_core_activation_table_matches_python():
    assert tuple(_core.activation_names()) == activations.ACTIVATIONS
    assert _core.LEAKY_SLOPE == activations.LEAKY_SLOPE
    z = np.array([-3.0, -0.5, 0.0, 2.0], np.float64)
    for isa in SUPPORTED:
        got = _core.vmath_act(isa, activations.ACT_CODE["leaky_relu"], z)
        assert np.array_equal(got, np.where(z > 0, z, activations.LEAKY_SLOPE * z))


@pytest.mark.parametrize("patch,match", [
    ("pyfwd.activations.LEAKY_SLOPE = 0.02", "leaky_relu slope 0.01"),
    ("pyfwd.activations.ACTIVATIONS = pyfwd.activations.ACTIVATIONS[::-1]", "numbers the activations"),
])
def test_core_mismatch_makes_backend_unavailable(patch, match):
    code = f"""
        import pyfwd, pyfwd.activations
        {patch}
        print("cpp" in pyfwd.backends())
        print(pyfwd._config._registry.unavailable_reasons().get("cpp"))
    """
    p = run_py(code)
    assert p.returncode == 0, p.stderr
    available, reason = p.stdout.splitlines()
    assert available == "False" and "ImportError" in reason and match in reason and "rebuild" in reason, reason
