"""Backend registry.

A backend is an object with the methods of :class:`Backend`. Each backend module
registers a *factory* under its name with :func:`register`; the factory is run on
first use, so importing pyfwd compiles nothing and imports no JIT. A factory that
raises ``ImportError`` marks its backend unavailable (the reason is kept for
``show_config``). A factory that raises :class:`BackendConfigError` (installed, but
configured wrongly: a bad ``PYFWD_ISA``) marks it unavailable too, yet it keeps its
place as the default: using it, explicitly or by default, raises with the reason,
instead of silently running another backend.

Contract between the API layer and a backend (the API validates, the backend
computes):

* arrays arrive in the network's dtype (float32 or float64), 2-D, shapes already
  checked; *any strides* (C, Fortran, transposed or negative-stride views);
* activations arrive as canonical names (``pyfwd.activations.ACTIVATIONS``);
* ``out`` is either ``None`` or a writable, C-contiguous array of the exact
  output shape and dtype that does not overlap the inputs;
* an empty batch (0 rows) must return a (0, N) array.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["Backend", "BackendConfigError", "BackendUnavailableError", "register", "get", "available", "unavailable_reasons"]


class BackendConfigError(ImportError):
    """The backend is installed but its configuration is wrong (e.g. ``PYFWD_ISA``
    names a level that is unknown or that this CPU lacks). Unlike a plain
    ``ImportError`` it does not let another backend become the default."""


class BackendUnavailableError(RuntimeError, ImportError):
    """The backend asked for by name cannot run here (an optional dependency or the
    compiled core is missing); the message says why and how to install it. Both a
    ``RuntimeError`` and an ``ImportError``."""


class Backend:
    """Base class and protocol of a backend.

    Subclasses implement :meth:`dense` and :meth:`forward`; the default
    :meth:`prepare` keeps the parameter lists as they are. Compiled backends
    override it to pack weights once per parameter version.
    """

    name: str = "?"
    #: Whether :meth:`prepare` takes 16-bit weights (bfloat16 / float16) as they
    #: are; if not, the Network widens them to float32 (exactly) for it.
    weights16: bool = False
    #: Whether :meth:`forward` takes ``compute="bf16"`` (each layer's input rounded
    #: to bfloat16); if not, the Network runs that layer by layer itself.
    compute_bf16: bool = False

    def dense(self, X: np.ndarray, W: np.ndarray, b: np.ndarray | None,
              activation: str, out: np.ndarray | None = None) -> np.ndarray:
        """``activation(X @ W.T + b)`` for X (M, K), W (N, K), b (N,) or None."""
        raise NotImplementedError

    def dense_packed(self, X: np.ndarray, Wp: Any, b: np.ndarray | None,
                     activation: str, out: np.ndarray | None = None) -> np.ndarray:
        """:meth:`dense` with a :class:`pyfwd.PackedWeights`; backends that pack
        weights keep the packing on it. Default: the plain weights."""
        return self.dense(X, Wp.weights, b, activation, out)

    def prepare(self, weights: list[np.ndarray], biases: list[np.ndarray],
                activations: list[str]) -> Any:
        """Build the per-network state (packed weights, buffers). Called once per
        parameter version of a network; the result is passed to :meth:`forward`."""
        return (list(weights), list(biases), list(activations))

    def forward(self, state: Any, X: np.ndarray, return_cache: bool,
                out: np.ndarray | None = None):
        """Whole-network forward. Returns ``AL`` or ``(AL, cache)`` where cache
        maps ``"A0"``, ``"Z1"``, ``"A1"``, ..., ``"ZL"``, ``"AL"`` to arrays.

        Every backend implements this; the layers run back to back in it."""
        raise NotImplementedError

    def set_num_threads(self, n: int) -> None:
        """Follow ``pyfwd.set_num_threads``. Default: nothing to do."""

    def config(self) -> dict[str, Any]:
        """Facts for ``pyfwd.show_config()``."""
        return {}


@dataclass
class _Entry:
    name: str
    priority: int
    factory: Callable[[], Backend]
    instance: Backend | None = None
    error: str | None = None
    misconfigured: bool = False  # error is a BackendConfigError: still the default


_REGISTRY: dict[str, _Entry] = {}
_LOCK = threading.RLock()


_BEST: list[str] = []  # cached name of the best available backend (hot path)
#: Backends loaded so far, by name (the hot path of _config.resolve: one dict lookup).
LOADED: dict[str, Backend] = {}


def register(name: str, factory: Callable[[], Backend], priority: int) -> None:
    """Register a backend factory. Higher priority is preferred as the default."""
    with _LOCK:
        _REGISTRY[name] = _Entry(name, priority, factory)
        LOADED.pop(name, None)
        _BEST.clear()


def _load(entry: _Entry) -> Backend | None:
    inst = entry.instance
    if inst is not None:  # hot path: no lock once loaded
        return inst
    with _LOCK:
        if entry.instance is None and entry.error is None:
            try:
                inst = entry.factory()
                from .._config import get_num_threads
                inst.set_num_threads(get_num_threads())
                entry.instance = inst
                LOADED[entry.name] = inst
            except ImportError as exc:  # optional dependency, unbuilt core, bad config
                entry.error = f"{type(exc).__name__}: {exc}"
                entry.misconfigured = isinstance(exc, BackendConfigError)
        return entry.instance


def available() -> list[str]:
    """Names of the usable backends, best (default) first."""
    names = []
    for entry in sorted(_REGISTRY.values(), key=lambda e: -e.priority):
        if _load(entry) is not None:
            names.append(entry.name)
    return names


def best() -> str:
    """Name of the default backend, computed once: the best available one, unless a
    better one is misconfigured (then that one, so that using it raises)."""
    if not _BEST:
        # the first usable one only: a lower one is never loaded (the cpp default must not
        # import numba)
        name = next(e.name for e in sorted(_REGISTRY.values(), key=lambda e: -e.priority)
                    if _load(e) is not None or e.misconfigured)
        with _LOCK:
            _BEST[:] = [name]
    return _BEST[0]


def unavailable_reasons() -> dict[str, str]:
    available()
    return {e.name: e.error for e in _REGISTRY.values() if e.error is not None}


def get(name: str) -> Backend:
    """The backend instance called *name*; a clear error if unknown or unusable."""
    if not isinstance(name, str):
        raise TypeError(f"backend must be a string, got {type(name).__name__}")
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown backend {name!r}; known backends: {', '.join(sorted(_REGISTRY))}")
    inst = _load(entry)
    if inst is None:
        if entry.misconfigured:
            raise RuntimeError(f"backend {name!r} is misconfigured: {entry.error.split(': ', 1)[-1]} "
                               f"(other backends are used only when asked for by name, e.g. backend='numpy')")
        raise BackendUnavailableError(f"backend {name!r} is not available here ({entry.error})")
    return inst


def loaded() -> list[Backend]:
    """Backends already instantiated (for thread-count propagation)."""
    return [e.instance for e in _REGISTRY.values() if e.instance is not None]


# Built-in registrations. Priorities: cpp > numba > numpy.
def _numpy_factory() -> Backend:
    from .numpy_ref import NumpyBackend
    return NumpyBackend()


def _numba_factory() -> Backend:
    try:
        import numba  # noqa: F401 - an optional dependency (the "numba" extra)
    except ImportError as exc:
        raise ImportError(f'numba is not installed ({exc}); install it with: pip install "pyfwd[numba]"') from None
    from .numba_jit import NumbaBackend
    return NumbaBackend()


def _cpp_factory() -> Backend:
    from .cpp import CppBackend  # raises ImportError without the compiled core
    return CppBackend()


register("numpy", _numpy_factory, priority=0)
register("numba", _numba_factory, priority=10)
register("cpp", _cpp_factory, priority=20)
