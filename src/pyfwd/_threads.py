"""Threads: the default count, ``pyfwd.threads(n)`` and pyfwd's threadpoolctl controller.

The default count is, first found: ``PYFWD_NUM_THREADS``, ``OMP_NUM_THREADS``, the CPUs
this process may use (its affinity mask, capped by a cgroup CPU quota, rounded up).

* ``PYFWD_NUM_THREADS`` speaks to pyfwd alone: a bad value is a mistake about pyfwd and
  fails the import loudly (as a bad ``PYFWD_ISA`` fails the ``cpp`` backend), never a
  silent fallback.
* ``OMP_NUM_THREADS`` speaks to every OpenMP runtime in the process, which read it as
  a list (``"4,2"``: 4 outer threads) and, given a bad value, warn and ignore it. pyfwd
  does the same (``RuntimeWarning``): a value meant for another library must not stop
  pyfwd from importing.

threadpoolctl finds thread pools in the loaded shared libraries by file name. pyfwd's
count covers every backend (the ``cpp`` pool and Numba's threads), so its controller
sets the count through :func:`pyfwd.set_num_threads`; it is found through the compiled
core's file (``_core.<abi>.so``, loaded for that at ``import pyfwd``), told apart from
other packages' ``_core`` files by a symbol only pyfwd's core exports.
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
import warnings
from typing import Iterator, Mapping

__all__ = ["MAX_THREADS", "threads", "default_num_threads", "available_cpus", "cgroup_cpu_limit"]

#: Upper bound on the thread count: a typo such as 10000 would otherwise start
#: that many pool threads.
MAX_THREADS = 1024


# -- the default count ---------------------------------------------------------------
def _cgroup_candidates(base: str, rel: str) -> Iterator[str]:
    """*base*/*rel* and its parents up to *base*: a quota set on any ancestor applies."""
    parts = [p for p in rel.split("/") if p]
    for i in range(len(parts), -1, -1):
        yield os.path.join(base, *parts[:i])


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _quota(text_quota: str | None, text_period: str | None) -> float | None:
    """CPUs allowed by a quota/period pair, or None for none ("max", -1, unreadable)."""
    try:
        quota, period = int(text_quota), int(text_period)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cpu_limit(root: str = "/sys/fs/cgroup", self_cgroup: str = "/proc/self/cgroup") -> float | None:
    """CPUs this process's cgroup may use (quota / period, the smallest along its
    ancestors), or ``None`` when there is no quota. Reads cgroup v2 ``cpu.max`` and
    cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``; the paths are parameters
    for tests."""
    limits = []
    for line in (_read(self_cgroup) or "").splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if hier == "0" and not controllers:  # v2, unified hierarchy
            for d in _cgroup_candidates(root, rel):
                fields = (_read(os.path.join(d, "cpu.max")) or "").split()
                if len(fields) == 2:
                    limits.append(_quota(*fields))
        elif "cpu" in controllers.split(","):  # v1: the hierarchy holding the cpu controller
            for mount in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
                for d in _cgroup_candidates(os.path.join(root, mount), rel):
                    limits.append(_quota(_read(os.path.join(d, "cpu.cfs_quota_us")),
                                         _read(os.path.join(d, "cpu.cfs_period_us"))))
    limits = [x for x in limits if x is not None]
    return min(limits) if limits else None


def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota
    (rounded up), at least 1 and at most :data:`MAX_THREADS`."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # no sched_getaffinity (not Linux)
        n = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    if quota is not None:
        n = min(n, math.ceil(quota))
    return max(1, min(n, MAX_THREADS))


def default_num_threads(environ: Mapping[str, str] = os.environ) -> int:
    """The count pyfwd starts with: ``PYFWD_NUM_THREADS``, else ``OMP_NUM_THREADS``,
    else :func:`available_cpus` (see the module docstring for bad values)."""
    raw = environ.get("PYFWD_NUM_THREADS", "").strip()
    if raw:
        try:
            n = int(raw)
        except ValueError:
            raise ValueError(f"PYFWD_NUM_THREADS must be a positive integer, got {raw!r}") from None
        if not 1 <= n <= MAX_THREADS:
            raise ValueError(f"PYFWD_NUM_THREADS must be an integer from 1 to {MAX_THREADS}, got {raw!r}")
        return n
    raw = environ.get("OMP_NUM_THREADS", "").strip()
    if raw:
        first = raw.split(",")[0].strip()  # OpenMP's list form: the outer level
        try:
            n = int(first)
        except ValueError:
            n = 0
        if n >= 1:
            return min(n, MAX_THREADS)
        warnings.warn(f"OMP_NUM_THREADS={raw!r} is not a positive integer (or a list of them); "
                      f"pyfwd ignores it, as OpenMP runtimes do, and uses the CPUs this process "
                      f"may use. Set PYFWD_NUM_THREADS to choose pyfwd's count.",
                      RuntimeWarning, stacklevel=2)
    return available_cpus()


# -- with pyfwd.threads(n) -----------------------------------------------------------
_blocks_lock = threading.Lock()
_blocks: list[list[int]] = []  # one [n] per open `threads` block, oldest first
_before_blocks = 0  # the count when the first open block was entered


@contextlib.contextmanager
def threads(n: int) -> Iterator[None]:
    """Run pyfwd on *n* threads inside a ``with`` block, then restore the count, also
    when the block raises. Process-wide, like :func:`pyfwd.set_num_threads` (the
    ``cpp`` pool and Numba's threads) and like ``threadpoolctl.threadpool_limits``.

    Blocks may nest and may be open in several threads at once (Dask or joblib tasks
    in one worker, each in ``threads(1)``): while any block is open the count is the
    one of the newest open block; when the last one closes, the count from before
    the first one comes back. ::

        with pyfwd.threads(1):
            Y = net.forward(X)   # one thread, e.g. inside a worker that runs one task per core
    """
    from . import _config

    global _before_blocks
    entry = [n]
    with _blocks_lock:
        previous = _config.get_num_threads()
        _config.set_num_threads(n)  # validates: a bad n raises before anything is recorded
        if not _blocks:
            _before_blocks = previous
        _blocks.append(entry)
    try:
        yield
    finally:
        with _blocks_lock:
            # by identity (list.remove compares by value: [1] == [1])
            del _blocks[next(i for i, e in enumerate(_blocks) if e is entry)]
            _config.set_num_threads(_blocks[-1][0] if _blocks else _before_blocks)


# -- threadpoolctl -------------------------------------------------------------------
#: What became of the controller, for ``show_config()``.
threadpoolctl_status = "not registered yet"


def register_threadpoolctl() -> None:
    """Register pyfwd's controller with threadpoolctl, if installed (>= 3.3, the first
    version that checks a controller's ``check_symbols``), and load the compiled core,
    the library it finds. Without threadpoolctl nothing happens: who calls
    threadpoolctl has it installed, so pyfwd needs no dependency on it."""
    global threadpoolctl_status
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl_status = "threadpoolctl not installed"
        return
    try:
        version = tuple(int(x) for x in threadpoolctl.__version__.split(".")[:2])
    except ValueError:
        version = (0, 0)
    if version < (3, 3):
        threadpoolctl_status = f"threadpoolctl {threadpoolctl.__version__} is older than 3.3"
        return
    try:
        from . import _core  # noqa: F401 - loaded so that threadpoolctl sees it in the process
    except ImportError as exc:
        threadpoolctl_status = f"not registered: the compiled core is missing ({exc})"
        return
    from . import _config
    from ._version import __version__

    class PyfwdController(threadpoolctl.LibController):
        """pyfwd's thread count (every backend) as threadpoolctl sees it."""

        user_api = "pyfwd"
        internal_api = "pyfwd"
        filename_prefixes = ("_core",)
        check_symbols = ("pyfwd_threadpoolctl_marker",)  # register_config.cpp

        def get_num_threads(self) -> int:
            return _config.get_num_threads()

        def set_num_threads(self, num_threads: int) -> None:
            _config.set_num_threads(num_threads)

        def get_version(self) -> str:
            return __version__

    if threadpoolctl_status != "registered":  # once per process
        threadpoolctl.register(PyfwdController)
        threadpoolctl_status = "registered"
