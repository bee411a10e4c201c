"""Process-wide settings: the default backend and the thread count."""
from __future__ import annotations

import contextlib
import contextvars
import threading

from . import backends as _registry
from ._threads import MAX_THREADS, default_num_threads

_lock = threading.Lock()
_default_backend: str | None = None
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("pyfwd_backend", default=None)


# PYFWD_NUM_THREADS, OMP_NUM_THREADS, the CPUs this process may use (_threads.py)
_num_threads: int = default_num_threads()


def backends() -> list[str]:
    """Names of the available backends, best first (the first is the default)."""
    return _registry.available()


def current_backend() -> str:
    """The backend a call without ``backend=`` uses right now."""
    return _override.get() or _default_backend or _registry.best()


def get_backend(name: str):
    """The backend object called *name* (for its extras, e.g. ``warmup`` or the
    ``cpp`` backend's ISA controls). Note: ``pyfwd.backends`` is the function
    listing names; the registry module is ``pyfwd._config._registry``."""
    return _registry.get(name)


def resolve(name: str | None):
    """The backend instance for *name* (``None``: the current default)."""
    if name is None:
        name = _override.get() or _default_backend or _registry.best()
    if type(name) is str:  # hot path: a backend already loaded (every small call goes here)
        inst = _registry.LOADED.get(name)
        if inst is not None:
            return inst
    return _registry.get(name)


def set_backend(name: str | None) -> None:
    """Set the process-wide default backend (``None``: back to the best one)."""
    global _default_backend
    if name is not None:
        _registry.get(name)  # validates: unknown or unavailable raises here
    with _lock:
        _default_backend = name


@contextlib.contextmanager
def use_backend(name: str):
    """Use backend *name* inside a ``with`` block (this thread/context only)."""
    _registry.get(name)
    token = _override.set(name)
    try:
        yield _registry.get(name)
    finally:
        _override.reset(token)


def check_num_threads(n) -> int:
    """*n* as a thread count (an integer from 1 to ``MAX_THREADS``), else a clear error."""
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"number of threads must be an integer, got {type(n).__name__}")
    n = int(n)
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"number of threads must be >= 1 and <= {MAX_THREADS}, got {n}")
    return n


def set_num_threads(n: int) -> None:
    """Threads the compiled backends use (``cpp`` pool and Numba's ``prange``)."""
    global _num_threads
    n = check_num_threads(n)
    with _lock:
        # The count changes only once every loaded backend took it: a refused count
        # (threads that cannot be started) leaves the previous one, reported and in use.
        previous = _num_threads
        done = []
        try:
            for b in _registry.loaded():
                b.set_num_threads(n)
                done.append(b)
        except BaseException:
            for b in done:
                try:
                    b.set_num_threads(previous)
                except Exception:  # noqa: BLE001 - the first error is the one to report
                    pass
            raise
        _num_threads = n


def get_num_threads() -> int:
    """The number of threads the compiled backends use (see :func:`set_num_threads`)."""
    return _num_threads
