"""The kernels compared side by side, discovered at run time.

A kernel turns a case's inputs into a zero-argument callable that returns the
network's output as a NumPy array; everything it needs (a Network, tensors, an
ONNX session) is built once in :meth:`Kernel.prepare`, outside the timing.
A kernel that cannot run here (backend not built, optional peer not installed,
ISA missing from this CPU) is still listed, with ``reason`` saying why.
"""
from __future__ import annotations

import fnmatch
import math
from typing import Callable

import numpy as np

from .cases import Case, Inputs, weights16_unavailable
from .timing import Timing, measure

Runner = Callable[[], np.ndarray]
CacheRunner = Callable[[], "tuple[np.ndarray, dict[str, np.ndarray]]"]

#: ISA levels of the cpp backend, best first (docs/design.md, CPU dispatch).
CPP_ISAS = ("avx512", "avx2", "generic")


class Kernel:
    """One column of the results table."""

    name: str = "?"
    description: str = ""
    suites: tuple[str, ...] = ("gemm", "layer", "mlp")
    dtypes: tuple[str, ...] = ("float32", "float64")
    #: "network": gated against the case's network; "matmuls": against the same
    #: chain of products without bias or activation (the BLAS ceiling).
    computes: str = "network"
    #: The 16-bit weight dtypes it runs mlps with (issue 11): pyfwd's cpp and PyTorch's bf16.
    weights16: tuple[str, ...] = ()

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason  # None: runnable; else why it is skipped

    def applies(self, case: Case) -> str | None:
        """None if this kernel runs *case*, else why not (shown as n/a)."""
        if case.suite not in self.suites:
            return f"not in the {case.suite} suite"
        if case.dtype not in self.dtypes:
            return f"{case.dtype} not supported"
        if case.weights and case.weights not in self.weights16:
            return f"{case.weights} weights: not run by this kernel (16-bit rows: cpp, and torch for bfloat16)"
        if case.weights:
            return weights16_unavailable(case)
        return None

    def gate_kind(self, case: Case) -> str:
        """What the gate checks this kernel's output of *case* against (gate.Reference)."""
        return self.computes

    def prepare(self, case: Case, data: Inputs) -> Runner:
        raise NotImplementedError

    def prepare_cache(self, case: Case, data: Inputs) -> CacheRunner | None:
        """For the gate only (never timed): a callable returning ``(output,
        cache)`` as ``forward(X, return_cache=True)`` does, so that every layer of
        an mlp is checked against the tight per-layer bound; None when the
        kernel cannot return one (the gate then checks the output end to end)."""
        return None

    def set_threads(self, n: int) -> None:
        """Follow the thread count of the cell (pyfwd and BLAS are set by the runner)."""

    def enter(self) -> None:
        """Called before a kernel's cells are gated and timed (e.g. force an ISA)."""

    def exit(self) -> None:
        """Undo :meth:`enter`."""

    def measure(self, fn: Runner, budget_s: float, first_call_s: float, min_samples: int) -> Timing:
        """Time *fn* (already called once by the gate): in this process, by default."""
        return measure(fn, budget_s, first_call_s, min_samples)

    def close(self) -> None:
        """Release what the kernel holds for the whole run (e.g. a worker process)."""

    def info(self) -> dict:
        return {"description": self.description, "suites": list(self.suites),
                "dtypes": list(self.dtypes), "computes": self.computes}


class StreamRead(Kernel):
    """Not a column: the memory-bound ceiling of an mlp at batch 1 (issue 10), a plain
    streaming read of as many bytes as the case's weights, split over the cell's
    threads (``_core.stream_read_gbps``: the cpp core's vector loads into independent
    sums, the buffer's pages first touched by the thread that reads them). Its "time"
    is those bytes over the measured GB/s; the speed target puts the cpp kernel's time
    beside it, cell and alternating rounds alike."""

    name = "stream-read"
    description = "a streaming read of the case's weight bytes (the cpp core's read probe)"
    suites = ("mlp",)

    def __init__(self) -> None:
        super().__init__(_backend("cpp")[1])
        self.threads, self.nbytes = 1, 0

    def set_threads(self, n: int) -> None:
        self.threads = n

    def prepare(self, case: Case, data: Inputs) -> Runner:
        self.nbytes = max(4096, sum(int(W.nbytes) for W in data.weights))
        return lambda: self.read(0.0)

    def read(self, seconds: float) -> float:
        """The seconds one streaming read of the weight bytes takes (median of the
        probe's rounds in about *seconds*, at least 3)."""
        from pyfwd import _core

        return self.nbytes / (_core.stream_read_gbps(self.nbytes, self.threads, seconds) * 1e9)

    def measure(self, fn: Runner, budget_s: float, first_call_s: float, min_samples: int) -> Timing:
        t = self.read(budget_s)
        return Timing(median_s=t, p10_s=t, p90_s=t, min_s=t, mean_s=t, n_samples=1, calls_per_sample=1,
                      total_s=t, samples_s=[t])


# -- pyfwd backends ---------------------------------------------------------
class PyfwdKernel(Kernel):
    """A pyfwd backend through the public API: ``pyfwd.dense`` for one layer,
    ``Network.forward`` (weights prepared once, outside the timing) for an mlp."""

    def __init__(self, name: str, backend: str, description: str, reason: str | None = None,
                 isa: str | None = None) -> None:
        super().__init__(reason)
        self.name, self.backend, self.description, self.isa = name, backend, description, isa
        self._saved_isa: str | None = None
        self.is_default = False  # cpp: the ISA the backend picks by itself
        if backend == "numpy":
            self.suites = ("layer", "mlp")  # gemm's baseline is numpy-blas
        if backend == "cpp":
            self.weights16 = ("bfloat16", "float16")

    @staticmethod
    def _net(case: Case, data: Inputs):
        """The case's network; 16-bit weights (already rounded) are kept as they are."""
        import pyfwd

        return pyfwd.Network.from_arrays(data.weights, data.biases, case.acts, dtype=case.dtype,
                                         weight_dtype=case.weights)

    def prepare(self, case: Case, data: Inputs) -> Runner:
        import pyfwd

        backend, X, compute = self.backend, data.X, case.compute if case.weights else None
        if case.suite == "mlp":
            net = self._net(case, data)
            return lambda: net.forward(X, backend=backend, compute=compute)
        W, b, act = data.weights[0], data.biases[0], case.acts[0]
        return lambda: pyfwd.dense(X, W, b, act, backend=backend)

    def prepare_cache(self, case: Case, data: Inputs) -> CacheRunner | None:
        if case.suite != "mlp":
            return None  # one layer: the end-to-end bound is already the per-layer one
        backend, X, compute = self.backend, data.X, case.compute if case.weights else None
        net = self._net(case, data)
        return lambda: net.forward(X, backend=backend, return_cache=True, compute=compute)

    @property
    def cache_bitwise(self) -> bool:
        """The compiled backends run the same kernels with and without the cache:
        their timed output must be bitwise the cached one (docs/design.md)."""
        return self.backend != "numpy"

    def enter(self) -> None:
        if self.isa is not None:
            import pyfwd

            be = pyfwd.get_backend(self.backend)
            self._saved_isa = be.isa()
            be.set_isa(self.isa)

    def exit(self) -> None:
        if self.isa is not None and self._saved_isa is not None:
            import pyfwd

            pyfwd.get_backend(self.backend).set_isa(self._saved_isa)

    def info(self) -> dict:
        return {**super().info(), "backend": self.backend, "isa": self.isa}


# -- plain NumPy: what a user writes, and the BLAS ceiling -------------------
def _erf():
    try:
        from scipy.special import erf
    except ImportError:
        return None
    return erf


def _textbook_act(name: str):
    """The float32 activation a user writes by hand (no float64, no fusion)."""
    if name == "linear":
        return lambda z: z
    if name == "relu":
        return lambda z: np.maximum(z, 0)
    if name == "leaky_relu":
        return lambda z: np.where(z > 0, z, np.float32(0.01) * z)
    if name == "sigmoid":
        return lambda z: 1 / (1 + np.exp(-z))
    if name == "tanh":
        return np.tanh
    if name == "softmax":
        def softmax(z):
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        return softmax
    if name == "silu":
        return lambda z: z / (1 + np.exp(-z))
    if name == "gelu":
        erf = _erf()
        if erf is None:
            return None
        c = np.float32(1 / math.sqrt(2))
        return lambda z: np.float32(0.5) * z * (1 + erf(z * c))
    raise ValueError(f"unknown activation {name!r}")


class NumpyTextbook(Kernel):
    name = "numpy-textbook"
    description = "float32 act(X @ W.T + b) per layer, written by hand in NumPy"
    suites = ("layer", "mlp")
    dtypes = ("float32",)

    def applies(self, case):
        why = super().applies(case)
        if why is None and any(_textbook_act(a) is None for a in case.acts):
            return "gelu needs scipy.special.erf"
        return why

    def prepare(self, case, data):
        layers = [(W.T, b, _textbook_act(a)) for W, b, a in zip(data.weights, data.biases, case.acts)]
        X = data.X

        def run():
            A = X
            with np.errstate(over="ignore"):  # exp(-z) overflows to inf: 1/(1+inf) = 0
                for WT, b, act in layers:
                    A = act(A @ WT + b)
            return A
        return run


class NumpyBlas(Kernel):
    name = "numpy-blas"
    description = "NumPy's BLAS matmul alone (X @ W.T per layer, no bias/activation): the GEMM ceiling"
    computes = "matmuls"

    def prepare(self, case, data):
        WTs, X = [W.T for W in data.weights], data.X

        def run():
            A = X
            for WT in WTs:
                A = A @ WT
            return A
        return run


# -- discovery --------------------------------------------------------------
def _backend(name: str):
    """(backend, None) or (None, why it cannot be used), never raising: a backend
    half-built by a concurrent edit must not take the whole run down."""
    import pyfwd

    try:
        return pyfwd.get_backend(name), None
    except Exception as exc:
        return None, f"backend {name!r} unavailable: {exc}"


#: The ISA levels with an OpenBLAS peer pinned to their vector width (pinned_blas.py).
PINNED_ISAS = ("avx512", "avx2")
#: Every kernel name, in table order (discovery probes only the selected ones).
KERNEL_NAMES = ("numpy", "numpy-textbook", "numpy-blas", "numba",
                *(f"cpp-{isa}" for isa in CPP_ISAS), *(f"openblas-{isa}" for isa in PINNED_ISAS),
                "torch", "onnxruntime")


def select(names, patterns) -> list[str]:
    """The names matching any of the shell *patterns* (all when none given)."""
    if not patterns:
        return list(names)
    return [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]


def _cpp_kernels(isas: list[str]) -> list[Kernel]:
    supported, default = set(), None
    be, reason = _backend("cpp")
    if be is not None:
        try:
            supported, default = set(be.supported_isas()), be.isa()
        except Exception as exc:  # no ISA controls, or a broken binding
            reason = f"cpp backend's ISA controls failed ({type(exc).__name__}: {exc})"
    out = []
    for isa in isas:
        desc = f"pyfwd's C++ backend forced to {isa}" + (" (its own choice here)" if isa == default else "")
        k = PyfwdKernel(f"cpp-{isa}", "cpp", desc,
                        reason or (None if isa in supported else f"this CPU lacks {isa}"), isa=isa)
        k.is_default = isa == default
        out.append(k)
    return out


def default_cpp_name() -> str | None:
    """The column name of the ISA level the C++ backend picks by itself here
    (``cpp-avx2``...), selected or not; None when the backend is not built."""
    be, _ = _backend("cpp")
    try:
        return f"cpp-{be.isa()}" if be is not None else None
    except Exception:  # no ISA controls, or a broken binding
        return None


def discover(patterns=None) -> list[Kernel]:
    """The selected kernels, each probed (its backend loaded, its peer imported)
    only when selected, so that one broken backend cannot stall another's run."""
    names = select(KERNEL_NAMES, patterns)
    made: dict[str, Kernel] = {}
    for name in names:
        if name in ("numpy", "numba"):
            made[name] = PyfwdKernel(name, name, {"numpy": "pyfwd's float64 reference backend",
                                                  "numba": "pyfwd's Numba JIT backend"}[name],
                                     _backend(name)[1])
        elif name == "numpy-textbook":
            made[name] = NumpyTextbook()
        elif name == "numpy-blas":
            made[name] = NumpyBlas()
        elif name in ("torch", "onnxruntime"):
            from .peers import OrtKernel, TorchKernel
            made[name] = TorchKernel() if name == "torch" else OrtKernel()
    isas = [n[len("cpp-"):] for n in names if n.startswith("cpp-")]
    if isas:
        made.update((k.name, k) for k in _cpp_kernels(isas))
    pinned = [n[len("openblas-"):] for n in names if n.startswith("openblas-")]
    if pinned:
        from .pinned_blas import pinned_kernels
        made.update((k.name, k) for k in pinned_kernels(pinned))
    return [made[n] for n in names]
