"""The backward pass of a whole network from its forward cache, on any backend.

One loop (:func:`backward`) over four primitives that each backend provides
(:class:`Ops`)::

    dZ_l     = dA_l * g_l'(Z_l)          (softmax: a * (dA - <dA, a>) per row)
    dW_l     = dZ_l^T A_{l-1}            (out_l, in_l)
    db_l     = sum over the batch of dZ_l
    dA_{l-1} = dZ_l W_l                   (batch, in_l)

* ``numpy`` (:class:`NumpyOps`): the oracle, float64 throughout from the cache's
  values, the derivatives written from ``Z`` alone;
* ``cpp`` (:class:`CppOps`): ``_core.act_backward`` (vectorised per ISA, threads
  over rows, GIL released), and both products through the same blocked GEMM as
  the forward pass, ``_core.dense`` on *strided views* (``dense(dZ.T, A.T)`` and
  ``dense(dZ, W.T)``: the packing reads any strides, nothing is transposed). The
  derivative of a hidden layer is fused into the GEMM that produces its dA
  (:meth:`Ops.input_grad_act`: each finished block of dA times g'(Z) while in
  cache), except softmax's, whose row sums need the whole row;
* ``numba`` (:class:`NumbaOps`): its own derivative kernel
  (:mod:`.numba_backward`) and its own GEMM (``NumbaBackend.dense``).

No product splits its K sum (the batch for dW, out_l for dA) over threads, and the
bias sums are NumPy's fixed-order reductions: gradients are bitwise identical for
every thread count.
"""
from __future__ import annotations

import math

import numpy as np

from ..activations import ACT_CODE, LEAKY_SLOPE
from .numpy_ref import FUNCTIONS, _std_normal_cdf, sigmoid

__all__ = ["Ops", "NumpyOps", "CppOps", "NumbaOps", "ops_for", "backward", "act_backward64"]

_RSQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def act_backward64(act: str, Z, dA) -> np.ndarray:
    """The reference ``dA * g'(Z)`` in float64 (softmax: the row's Jacobian-vector
    product). Conventions (as PyTorch's): ``relu'(0) = 0``, ``leaky_relu'(0) =``
    the slope; at ``z = +-inf`` gelu' and silu' take their limits (1, 0)."""
    z = np.asarray(Z, dtype=np.float64)
    d = np.asarray(dA, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if act == "linear":
            return d.copy()
        if act == "relu":
            return np.where(z > 0, d, 0.0)
        if act == "leaky_relu":
            return np.where(z > 0, d, LEAKY_SLOPE * d)
        if act == "sigmoid":
            s = sigmoid(z)
            return d * (s * (1.0 - s))
        if act == "tanh":
            t = np.tanh(z)
            return d * (1.0 - t * t)
        if act == "softmax":
            s = FUNCTIONS["softmax"](z)
            return s * (d - np.sum(d * s, axis=1, keepdims=True))
        if act == "gelu":
            phi = np.exp(-0.5 * z * z) * _RSQRT_2PI
            zphi = np.where(phi == 0, 0.0, z * phi)
            return d * (_std_normal_cdf(z) + zphi)
        if act == "silu":
            s = sigmoid(z)
            t = s * (1.0 - s)
            return d * (s + np.where(t == 0, 0.0, z * t))
    raise ValueError(f"no derivative for activation {act!r}")


class Ops:
    """The four primitives of the backward pass (arrays 2-D; dtype the backend's)."""

    def act_backward(self, act: str, Z, A, dA) -> np.ndarray:
        raise NotImplementedError

    def weight_grad(self, dZ, A_prev) -> np.ndarray:  # dZ^T A_prev
        raise NotImplementedError

    def input_grad(self, dZ, W) -> np.ndarray:  # dZ W
        raise NotImplementedError

    def bias_grad(self, dZ) -> np.ndarray:
        return dZ.sum(axis=0)

    def input_grad_act(self, dZ, W, act: str, Z, A) -> np.ndarray:
        """``dZ_prev = (dZ W) * g'(Z)``: the input gradient through the previous layer's
        activation (a backend may fuse the two; the bits are those of the two steps)."""
        return self.act_backward(act, Z, A, self.input_grad(dZ, W))


class NumpyOps(Ops):
    """The float64 oracle."""

    def act_backward(self, act, Z, A, dA):
        return act_backward64(act, Z, dA)

    def weight_grad(self, dZ, A_prev):
        return np.asarray(dZ, dtype=np.float64).T @ np.asarray(A_prev, dtype=np.float64)

    def input_grad(self, dZ, W):
        return np.asarray(dZ, dtype=np.float64) @ np.asarray(W, dtype=np.float64)

    def bias_grad(self, dZ):
        return np.asarray(dZ, dtype=np.float64).sum(axis=0)


class CppOps(Ops):
    """The compiled core: the blocked GEMM on strided views, the derivative in C++."""

    def __init__(self) -> None:
        from .. import _core
        self._dense = _core.dense
        self._act_backward = _core.act_backward
        self._linear = ACT_CODE["linear"]

    def act_backward(self, act, Z, A, dA):
        return self._act_backward(ACT_CODE[act], Z, A, dA, None)

    def weight_grad(self, dZ, A_prev):
        return self._dense(dZ.T, A_prev.T, None, self._linear, None)

    def input_grad(self, dZ, W):
        return self._dense(dZ, W.T, None, self._linear, None)

    def input_grad_act(self, dZ, W, act, Z, A):
        if act == "softmax":
            return super().input_grad_act(dZ, W, act, Z, A)
        return self._dense(dZ, W.T, None, self._linear, None, ACT_CODE[act], Z, A)


class NumbaOps(Ops):
    """Numba kernels: the derivative in :mod:`.numba_backward`, the GEMMs in the backend's own."""

    def __init__(self, backend) -> None:
        from . import numba_backward
        self._be = backend
        self._kernel = numba_backward.act_backward

    def act_backward(self, act, Z, A, dA):
        out = np.empty(dA.shape, dtype=dA.dtype)
        self._kernel(ACT_CODE[act], np.ascontiguousarray(Z), np.ascontiguousarray(A),
                     np.ascontiguousarray(dA), out)
        return out

    def weight_grad(self, dZ, A_prev):
        return self._be.dense(dZ.T, A_prev.T, None, "linear")

    def input_grad(self, dZ, W):
        return self._be.dense(dZ, W.T, None, "linear")


_OPS: dict[str, Ops] = {}


def ops_for(be) -> Ops:
    """The backward primitives of backend instance *be* (built once per backend)."""
    ops = _OPS.get(be.name)
    if ops is None:
        if be.name == "numpy":
            ops = NumpyOps()
        elif be.name == "cpp":
            ops = CppOps()
        elif be.name == "numba":
            ops = NumbaOps(be)
        else:
            raise NotImplementedError(f"backend {be.name!r} has no backward pass")
        _OPS[be.name] = ops
    return ops


def backward(ops: Ops, weights, activations, cache, dA=None, dZ=None, input_grad: bool = True):
    """Gradients of every parameter, and of the input when *input_grad*.

    Start from *dA* (the gradient wrt the output ``A_L``) or from *dZ* (wrt
    ``Z_L``: a loss fused with the output activation). Returns ``(grads, dX)``
    with ``grads = {"W1": ..., "b1": ..., ...}`` in layer order, ``dX`` None
    when not asked for.
    """
    L = len(weights)
    if dZ is None:
        dZ = ops.act_backward(activations[L - 1], cache[f"Z{L}"], cache[f"A{L}"], dA)
    grads: dict[str, np.ndarray] = {}
    dX = None
    for l in range(L, 0, -1):
        grads[f"W{l}"] = ops.weight_grad(dZ, cache[f"A{l - 1}"])
        grads[f"b{l}"] = ops.bias_grad(dZ)
        if l == 1:
            if input_grad:
                dX = ops.input_grad(dZ, weights[0])
            break
        dZ = ops.input_grad_act(dZ, weights[l - 1], activations[l - 2], cache[f"Z{l - 1}"], cache[f"A{l - 1}"])
    return {k: grads[k] for l in range(1, L + 1) for k in (f"W{l}", f"b{l}")}, dX
