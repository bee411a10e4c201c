"""pyfwd's benchmark suite: every kernel side by side, each checked against the
float64 reference before it is timed. Run ``python -m pyfwd.bench --help`` (or the
``pyfwd-bench`` console script); it benchmarks the pyfwd it is part of, installed
or from a checkout, and writes its files under the current directory
(``bench/results/`` by default). See docs/bench.md.

Importing this package needs only NumPy and pyfwd; PyTorch, ONNX Runtime,
matplotlib and threadpoolctl are optional peers. ``Config`` and ``run`` are
imported on first use, so that the pinned-BLAS worker (``pinned_blas``) can import
the timing module alone.
"""
from __future__ import annotations

__all__ = ["Config", "run"]


def __getattr__(name: str):
    if name in __all__:
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
