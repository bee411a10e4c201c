"""The ``cpp`` backend: the compiled core (``pyfwd._core``).

A cache-blocked GEMM with packing, per-ISA SIMD micro-kernels chosen at import
(``PYFWD_ISA`` forces a level; a bad one makes using this backend fail loudly), bias and activation fused into the epilogue, its
own thread pool, the GIL released for the whole call. The API layer has already
validated everything, so this module only forwards: its overhead is a couple of
attribute lookups per call.
"""
from __future__ import annotations

from typing import Any

import numpy as np

try:
    from .. import _core
except ImportError as exc:  # not built (the reason recorded at build time), or unloadable
    from pathlib import Path

    _why = Path(__file__).resolve().parents[1] / "_core_not_built.txt"
    if _why.is_file():
        raise ImportError(f"the C++ core was not built with this installation: "
                          f"{_why.read_text(encoding='utf-8').strip()}") from None
    raise
from .. import _dtypes16 as _d16
from .. import _tuning as _tune
from ..activations import ACT_CODE, ACTIVATIONS, LEAKY_SLOPE
from . import Backend, BackendConfigError

__all__ = ["CppBackend"]


def _check_core() -> None:
    """The compiled core must agree with this package on the activation codes and the
    leaky-relu slope (a stale build would apply the wrong function silently), and the
    ISA level must be usable (a bad ``PYFWD_ISA`` is a configuration error, loud)."""
    names = tuple(_core.activation_names())
    if names != ACTIVATIONS:
        raise ImportError(f"pyfwd._core numbers the activations {names}, but pyfwd.activations.ACTIVATIONS "
                          f"is {ACTIVATIONS}: the compiled core does not match this package; rebuild it")
    if _core.LEAKY_SLOPE != LEAKY_SLOPE:
        raise ImportError(f"pyfwd._core uses leaky_relu slope {_core.LEAKY_SLOPE}, but "
                          f"pyfwd.activations.LEAKY_SLOPE is {LEAKY_SLOPE}: the compiled core does not "
                          f"match this package; rebuild it")
    try:
        _core.isa()  # chooses the level: PYFWD_ISA, or the best this CPU supports
    except ValueError as exc:
        raise BackendConfigError(str(exc)) from None


_check_core()
# The autotuner's saved winners for this machine (pyfwd.tune; PYFWD_TUNE=0 ignores them).
_tune.load_saved()


class CppBackend(Backend):
    name = "cpp"
    # 16-bit weights are read as they are (bfloat16 / float16 bits, widened in
    # registers on the dot path), and forward() takes compute="bf16" itself.
    weights16 = True
    compute_bf16 = True

    def __init__(self) -> None:
        self._dense = _core.dense

    def dense(self, X, W, b, activation, out=None):
        return self._dense(X, W, b, ACT_CODE[activation], out)

    def dense_packed(self, X, Wp, b, activation, out=None):
        packed = Wp._core_packed
        if packed is None:  # a race here only packs twice; either object is right
            packed = Wp._core_packed = _core.PackedDense(Wp.weights)
        return self._dense(X, packed, b, ACT_CODE[activation], out)

    def dense_w16(self, X, W, b, activation, out=None):
        """dense() with 16-bit W (bfloat16 / float16), or a PackedWeights of one:
        a few rows read W 16-bit; more rows use a float32 packing (of a
        PackedWeights: made once, on first use)."""
        code = ACT_CODE[activation]
        if hasattr(W, "weights"):  # PackedWeights
            Wp, W = W, W.weights
            if X.shape[0] > _core.DOT_MAX_M:
                packed = Wp._core_packed
                if packed is None:  # a race here only packs twice; either object is right
                    packed = Wp._core_packed = _core.PackedDense(W.astype(np.float32))
                return self._dense(X, packed, b, code, out)
        return _core.dense16(X, W.view(np.uint16), _d16.kind16(W.dtype), b, code, out)

    def prepare(self, weights, biases, activations) -> Any:
        """Pack the weights once for the active ISA level (the packed network
        repacks itself on its next call if :meth:`set_isa` switches level).
        16-bit weights: kept 16-bit for the small-batch dot path, packed as float32
        on the first larger batch."""
        codes = [ACT_CODE[a] for a in activations]
        if _d16.is_weight16(weights[0].dtype):
            return _core.Network16([W.view(np.uint16) for W in weights], _d16.kind16(weights[0].dtype),
                                   list(biases), codes)
        return _core.Network(list(weights), list(biases), codes)

    def forward(self, state, X, return_cache, out=None, compute="fp32"):
        if compute == "bf16":  # only with 16-bit weights (the Network checks it)
            return state.forward(X, return_cache, out, True)
        return state.forward(X, return_cache, out)

    def set_num_threads(self, n: int) -> None:
        _core.set_num_threads(int(n))

    def config(self) -> dict[str, Any]:
        cfg = dict(_core.config())
        cfg["tuning"] = _tune.status()
        return cfg

    def warmup(self) -> None:
        """Touch every path once (pool threads, packing buffers): a few microseconds."""
        for dt in (np.float32, np.float64):
            X = np.ones((3, 5), dtype=dt)
            W = np.ones((4, 5), dtype=dt)
            self._dense(X, W, None, ACT_CODE["relu"], None)

    # -- ISA controls (tests and benchmarks) ---------------------------------
    @staticmethod
    def isa() -> str:
        """The active ISA level: ``"generic"``, ``"avx2"`` or ``"avx512"``."""
        return _core.isa()

    @staticmethod
    def supported_isas() -> list[str]:
        """Levels this CPU supports, worst to best."""
        return list(_core.supported_isas())

    @staticmethod
    def set_isa(name: str) -> None:
        """Switch level in-process (``ValueError`` if unknown or unsupported here)."""
        _core.set_isa(name)
