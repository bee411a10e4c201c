"""pyfwd's benchmark suite: every kernel side by side, each checked against the
float64 reference before it is timed. Run ``python -m bench --help`` from the
repository root; it benchmarks the *installed* pyfwd. See bench/README.md.

Importing this package needs only NumPy and pyfwd; PyTorch, ONNX Runtime,
matplotlib and threadpoolctl are optional peers.
"""
from .runner import Config, run

__all__ = ["Config", "run"]
