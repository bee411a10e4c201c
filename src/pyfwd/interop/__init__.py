"""Weights from (and to) other frameworks: PyTorch, Keras 3, scikit-learn, ONNX.

Each function imports its framework only when called; a missing one raises
``ImportError`` saying ``pip install "pyfwd[interop]"``. The same functions are
reachable as ``pyfwd.Network.from_torch`` etc. and ``net.to_onnx(path)``.
"""
from __future__ import annotations

from ._common import UnsupportedLayerError
from .keras_io import from_keras
from .onnx_io import from_onnx, to_onnx
from .sklearn_io import from_sklearn
from .torch_io import from_torch

__all__ = ["from_torch", "from_keras", "from_sklearn", "from_onnx", "to_onnx", "UnsupportedLayerError"]
