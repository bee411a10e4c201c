"""pyfwd: fast, exactly tested forward propagation of dense neural networks on the CPU.

One API over three backends: ``cpp`` (blocked GEMM with fused epilogues), ``numba``
(JIT-compiled blocked matmul) and ``numpy`` (the float64 reference).
"""
from __future__ import annotations

from ._version import __version__
from ._config import (backends, current_backend, get_backend, get_num_threads,
                      set_backend, set_num_threads, use_backend)
from ._threads import register_threadpoolctl as _register_threadpoolctl, threads
from .activations import ACTIVATIONS
from .network import Network, NeuralNetwork, PackedWeights, dense
from ._tuning import tune

_register_threadpoolctl()  # threadpoolctl.threadpool_limits(n) then limits pyfwd too

__all__ = [
    "__version__",
    "ACTIVATIONS",
    "Network",
    "NeuralNetwork",
    "PackedWeights",
    "dense",
    "backends",
    "current_backend",
    "get_backend",
    "set_backend",
    "use_backend",
    "set_num_threads",
    "get_num_threads",
    "threads",
    "show_config",
    "tune",
    "warmup",
]


#: Submodules imported on first use (``pyfwd.datasets.load_mnist()`` after a plain
#: ``import pyfwd``), so ``import pyfwd`` stays fast and never imports matplotlib,
#: dask or a framework.
_LAZY_SUBMODULES = ("datasets", "viz", "interop", "testing", "dask", "optim", "losses")


def __getattr__(name: str):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")  # also sets it as an attribute
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_LAZY_SUBMODULES))


def warmup(backends: list[str] | None = None) -> dict[str, float]:
    """Compile ahead (Numba) or touch (cpp) the given backends; returns the
    seconds each took. Nothing is compiled at import; this does it on request."""
    import time

    from ._config import _registry

    took = {}
    for name in backends or _registry.available():
        be = _registry.get(name)
        t0 = time.perf_counter()
        if hasattr(be, "warmup"):
            be.warmup()
        took[name] = time.perf_counter() - t0
    return took


def show_config(print_: bool = True) -> dict:
    """Version, backends (and why any is missing), CPU features, the chosen ISA,
    block sizes, threads and NumPy's BLAS. Printed, and returned as a dict."""
    import platform

    import numpy as np

    from . import _threads
    from ._config import _registry

    cfg: dict = {
        "pyfwd": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "backends": _registry.available(),
        "default_backend": current_backend(),
        "unavailable": _registry.unavailable_reasons(),
        "num_threads": get_num_threads(),
        "threadpoolctl": _threads.threadpoolctl_status,
    }
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        cfg["numpy_blas"] = {k: blas.get(k) for k in ("name", "version") if k in blas}
    except Exception:  # older NumPy without mode="dicts"
        cfg["numpy_blas"] = "unknown"
    cfg["backend_config"] = {name: _registry.get(name).config() for name in cfg["backends"]}
    if print_:
        print(_format_config(cfg))
    return cfg


def _format_config(cfg: dict, indent: int = 0) -> str:
    lines = []
    for k, v in cfg.items():
        if isinstance(v, dict):
            lines.append(" " * indent + f"{k}:")
            lines.append(_format_config(v, indent + 2) if v else " " * (indent + 2) + "-")
        else:
            lines.append(" " * indent + f"{k}: {v}")
    return "\n".join(lines)
