"""The NumPy reference backend: the oracle every other backend is tested against.

The tutorial's formulas, computed in float64 whatever the network's dtype, with
numerically stable sigmoid and softmax, and cast back to the network's dtype only
at the end. Activations take their mathematical limits at +-inf (``gelu(-inf)``
and ``silu(-inf)`` are -0.0, the sign of ``z * Phi(z)`` for any z << 0, not
``-inf * 0 = nan``); NaN in gives NaN out.
"""
from __future__ import annotations

import math

import numpy as np

from ..activations import LEAKY_SLOPE
from . import Backend

_SQRT1_2 = 1.0 / math.sqrt(2.0)
_erfc = np.frompyfunc(math.erfc, 1, 1)  # libm's erfc: accurate in both tails


def linear(z: np.ndarray) -> np.ndarray:
    return z


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)  # np.maximum propagates NaN


def leaky_relu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, LEAKY_SLOPE * z)  # NaN > 0 is False: NaN * slope = NaN


def sigmoid(z: np.ndarray) -> np.ndarray:
    # exp of a non-positive number only: never overflows.
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z)


def softmax(z: np.ndarray) -> np.ndarray:
    """Softmax over each row (the features of one sample)."""
    if z.shape[-1] == 0:
        return z.copy()
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _std_normal_cdf(z: np.ndarray) -> np.ndarray:
    # Phi(z) = erfc(-z/sqrt2)/2, written with erfc so that the left tail keeps its
    # digits (1 + erf(z/sqrt2) cancels catastrophically for z << 0).
    return 0.5 * _erfc(-z * _SQRT1_2).astype(np.float64)


def gelu(z: np.ndarray) -> np.ndarray:
    """Exact GELU, ``z * Phi(z)`` (PyTorch's default, not the tanh approximation)."""
    with np.errstate(invalid="ignore"):
        y = z * _std_normal_cdf(z)
    return np.where(z == -np.inf, -0.0, y)


def silu(z: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        y = z * sigmoid(z)
    return np.where(z == -np.inf, -0.0, y)


#: Reference implementation of each canonical activation (float64 in, float64 out).
FUNCTIONS = {
    "linear": linear,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softmax": softmax,
    "gelu": gelu,
    "silu": silu,
}


def dense64(A: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> np.ndarray:
    """``A @ W.T + b`` accumulated in float64."""
    Z = np.asarray(A, dtype=np.float64) @ np.asarray(W, dtype=np.float64).T
    if b is not None:
        Z += np.asarray(b, dtype=np.float64)
    return Z


class NumpyBackend(Backend):
    name = "numpy"

    def dense(self, X, W, b, activation, out=None):
        with np.errstate(over="ignore", invalid="ignore"):
            Y = FUNCTIONS[activation](dense64(X, W, b))
        if out is None:
            return Y.astype(W.dtype)
        out[...] = Y
        return out

    def forward(self, state, X, return_cache, out=None):
        weights, biases, acts = state
        dtype = weights[0].dtype
        A = np.asarray(X, dtype=np.float64)
        cache = {"A0": X} if return_cache else None
        with np.errstate(over="ignore", invalid="ignore"):
            for l, (W, b, act) in enumerate(zip(weights, biases, acts), start=1):
                Z = dense64(A, W, b)
                A = FUNCTIONS[act](Z)
                if cache is not None:
                    cache[f"Z{l}"] = Z.astype(dtype)
                    cache[f"A{l}"] = A.astype(dtype)
        if out is not None:
            out[...] = A
            result = out
        else:
            result = A.astype(dtype)
        if cache is not None:
            cache[f"A{len(weights)}"] = result
            return result, cache
        return result

    def config(self):
        return {"accumulation": "float64"}
