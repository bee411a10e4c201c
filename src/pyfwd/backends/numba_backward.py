"""Numba kernel of the backward pass's elementwise step, dZ = dA * g'(Z) (softmax:
each row's Jacobian-vector product), with the conventions of
:func:`pyfwd.backends.backward.act_backward64`. Rows are independent and each row's
softmax sum runs in a fixed order: the result does not depend on threads."""
from __future__ import annotations

import math

from ..activations import ACT_CODE
from ..activations import LEAKY_SLOPE as _SLOPE
from .numba_config import njit

# Defined here, not imported, so that Numba's cache (keyed on this file) sees them;
# checked against pyfwd.activations at import.
LEAKY_SLOPE = 0.01
SOFTMAX = 5
if LEAKY_SLOPE != _SLOPE or ACT_CODE["softmax"] != SOFTMAX or [ACT_CODE[n] for n in (
        "linear", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu")] != [0, 1, 2, 3, 4, 6, 7]:
    raise ImportError("numba_backward's activation codes or leaky-relu slope disagree with pyfwd.activations")

_RSQRT2 = 1.0 / math.sqrt(2.0)
_RSQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit()
def _sig(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@njit()
def act_backward(act, Z, A, dA, out):
    """out = dA * g'(Z) for the activation code *act*; every array (M, N), C-contiguous."""
    M, N = dA.shape
    for i in range(M):
        if act == SOFTMAX:
            dot = 0.0
            for j in range(N):
                dot += dA[i, j] * A[i, j]
            for j in range(N):
                out[i, j] = A[i, j] * (dA[i, j] - dot)
            continue
        for j in range(N):
            z = Z[i, j]
            d = dA[i, j]
            if act == 0:
                g = 1.0
            elif act == 1:
                g = 1.0 if z > 0 else 0.0
            elif act == 2:
                g = 1.0 if z > 0 else LEAKY_SLOPE
            elif act == 3:
                a = A[i, j]
                g = a * (1.0 - a)
            elif act == 4:
                a = A[i, j]
                g = 1.0 - a * a
            elif act == 6:
                phi = math.exp(-0.5 * z * z) * _RSQRT_2PI
                g = 0.5 * math.erfc(-z * _RSQRT2) + (0.0 if phi == 0.0 else z * phi)
            else:  # 7: silu
                s = _sig(z)
                t = s * (1.0 - s)
                g = s + (0.0 if t == 0.0 else z * t)
            out[i, j] = d * g
