"""The numerics contract as code: the one tolerance helper of pyfwd.

DESIGN.md: a backend's output ``y`` in a dtype with unit roundoff ``u`` must
satisfy, element by element, for each layer with fan-in ``K``::

    |y - y_ref| <= 4*(K+2)*u*(|A| @ |W|.T + |b|) + 8*u*|y_ref| + tiny

with ``y_ref`` the float64 reference, the bound carried through the network.
This module computes that bound and checks arrays against it. Every backend
test, and the bench suite's correctness gate, goes through it.

How the bound travels (error bounds are elementwise, non-negative):

* pre-activation: ``eZ = eA @ |W|.T + 4*(K+2)*u*((|A|+eA) @ |W|.T + |b|) + 8*u*|Z_ref| + tiny``
  where ``eA`` is the bound on the layer's input (0 for the network input);
* elementwise activation ``g`` with Lipschitz constant ``L_g`` (1 for most,
  0.25 for sigmoid, 1.13 for gelu, 1.1 for silu):
  ``eA' = L_g*eZ + 8*u*|A_ref| + tiny``;
* softmax: each output moves by at most the largest input error of its row (the
  softmax Jacobian's rows have absolute sum ``2*s_i*(1-s_i) <= 1/2``), plus the
  rounding of ``z - max(z)`` (``2*u*max|z|``) and the evaluation error of N
  exponentials, their sum and one division: ``(N + 20)*u*|A_ref|``.

Two checks of a network (DESIGN.md):

* end to end (:func:`network_bounds`): the bound carried from the input to the
  output. It grows fast with depth (for [784, 512, 256, 128, 10] float32 it
  allows errors of ~29x the output), so a wrong layer can hide under it;
* layer by layer (:func:`assert_layers_close`): with the cache of
  ``forward(X, return_cache=True)``, each layer's ``Z_l`` and ``A_l`` against a
  float64 reference computed from the backend's *own* ``A_{l-1}``, no carried
  error (``eA_in = 0``). This one catches a wrong layer at any depth.
  :func:`assert_forward_close` with ``cache=`` runs both.

16-bit weights (DESIGN.md): the reference uses the rounded weights as they are
(bfloat16 / float16 arrays are passed in, widened exactly to float64) with the
float32 bound (the work dtype of 16-bit weights is float32). With
``compute="bf16"`` each layer's input is rounded to bfloat16 first, in the
reference too: per layer from the backend's own input (rounded the same way: the
tight check stays tight); end to end, the carried error of a rounded input grows
by the two roundings, ``2**-8 * (|A| + eA)``.

Non-finite reference values (NaN, +-inf: IEEE propagation of non-finite input)
must be matched exactly in kind. Overflow in the working precision: where the
magnitude ``(|A|+eA) @ |W|.T + |b|`` of a pre-activation exceeds the dtype's
largest finite value (float32 inputs near +-1e38), a partial sum of the dot
product may overflow and give inf or NaN (inf - inf), as it does in NumPy's
float32 BLAS, PyTorch and ONNX Runtime, while the float64 reference stays
finite. Such elements (and, through softmax, their whole row) are not judged;
every other element is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._dtypes16 import is_weight16, round_bf16
from .activations import LIPSCHITZ, canonical
from .backends.numpy_ref import FUNCTIONS

__all__ = [
    "unit_roundoff",
    "LayerBound",
    "layer_bound",
    "network_bounds",
    "compare",
    "assert_within",
    "assert_dense_close",
    "assert_forward_close",
    "assert_layers_close",
    "layer_report",
    "first_difference",
    "assert_identical",
]


def unit_roundoff(dtype) -> float:
    """``u = eps/2``: 2**-24 for float32, 2**-53 for float64."""
    return float(np.finfo(np.dtype(dtype)).eps) / 2.0


def _work_dtype(dtype) -> np.dtype:
    """The dtype a layer computes in: float32 for 16-bit weights, else *dtype*."""
    dt = np.dtype(dtype)
    return np.dtype(np.float32) if is_weight16(dt) else dt


def _check_compute(compute: str) -> bool:
    if compute not in ("fp32", "bf16"):
        raise ValueError(f"compute must be 'fp32' or 'bf16', got {compute!r}")
    return compute == "bf16"


def _tiny(dtype) -> float:
    # A few smallest normals: room for kernels that flush subnormal results to 0.
    return 4.0 * float(np.finfo(np.dtype(dtype)).tiny)


@dataclass
class LayerBound:
    """Reference values of one layer and the allowed error of each element."""

    Z: np.ndarray   # float64 reference pre-activation
    A: np.ndarray   # float64 reference activation
    eZ: np.ndarray  # allowed |error| of Z
    eA: np.ndarray  # allowed |error| of A


def layer_bound(A_ref: np.ndarray, W: np.ndarray, b: np.ndarray | None, activation: str,
                dtype, eA_in: np.ndarray | float = 0.0) -> LayerBound:
    """Reference and error bound of one dense layer ``g(A @ W.T + b)``.

    *A_ref* is the float64 reference input, *eA_in* the bound on the error of the
    input the backend actually used (0 for the user's input).
    """
    act = canonical(activation)
    u, tiny = unit_roundoff(dtype), _tiny(dtype)
    A64 = np.asarray(A_ref, dtype=np.float64)
    W64 = np.asarray(W, dtype=np.float64)
    b64 = np.zeros(W64.shape[0]) if b is None else np.asarray(b, dtype=np.float64)
    K = W64.shape[1]
    absW = np.abs(W64)
    with np.errstate(over="ignore", invalid="ignore"):
        Z = A64 @ W64.T + b64
        eA_in = np.broadcast_to(np.asarray(eA_in, dtype=np.float64), A64.shape)
        mag = (np.abs(A64) + eA_in) @ absW.T + np.abs(b64)
        eZ = eA_in @ absW.T + 4.0 * (K + 2) * u * mag + 8.0 * u * np.abs(Z) + tiny
        # Past the dtype's range a partial sum may overflow (IEEE: inf, then inf - inf
        # = NaN), as in every float32 BLAS, PyTorch and ONNX Runtime: not judged.
        eZ[mag > np.finfo(np.dtype(dtype)).max] = np.inf
        A = FUNCTIONS[act](Z)
        if act == "softmax":
            n = Z.shape[1]
            if n:
                absZ = np.where(np.isfinite(Z), np.abs(Z), 0.0)
                row = (eZ + 2.0 * u * absZ.max(axis=1, keepdims=True)).max(axis=1, keepdims=True)
            else:
                row = np.zeros((Z.shape[0], 1))
            eA = row + (n + 20) * u * np.abs(A) + tiny
        else:
            eA = LIPSCHITZ[act] * eZ + 8.0 * u * np.abs(A) + tiny
    return LayerBound(Z, A, eZ, eA)


def network_bounds(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray | None],
                   activations: Sequence[str], X: np.ndarray, dtype, compute: str = "fp32") -> list[LayerBound]:
    """:func:`layer_bound` for every layer, the error carried from each to the next
    (*compute* ``"bf16"``: each layer's input rounded to bfloat16, see above)."""
    bf16 = _check_compute(compute)
    dtype = _work_dtype(dtype)
    out = []
    A, eA = np.asarray(X, dtype=np.float64), 0.0
    for l, (W, b, act) in enumerate(zip(weights, biases, activations)):
        if bf16:
            if l > 0:  # the network's input X is rounded the same way on both sides: exact
                with np.errstate(over="ignore", invalid="ignore"):
                    eA = eA + 2.0 ** -8 * (np.abs(A) + eA)
            A = round_bf16(A.astype(np.float32)).astype(np.float64)
        lb = layer_bound(A, W, b, act, dtype, eA)
        out.append(lb)
        A, eA = lb.A, lb.eA
    return out


def compare(actual: np.ndarray, ref: np.ndarray, bound: np.ndarray, what: str = "output") -> str | None:
    """``None`` if *actual* is within *bound* of *ref* everywhere, else a report
    naming the worst element (index, reference, value, error, allowed)."""
    actual = np.asarray(actual)
    if actual.shape != ref.shape:
        return f"{what}: shape {actual.shape}, expected {ref.shape}"
    a = actual.astype(np.float64)
    fin_ref = np.isfinite(ref)
    # Non-finite reference: the same kind of value.
    bad_kind = ~fin_ref & ~((np.isnan(ref) & np.isnan(a)) | (a == ref))
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - ref)
        judged = fin_ref & np.isfinite(bound)
        bad_val = judged & ~(err <= bound)  # NaN err (actual NaN) counts as bad
    nbad = int(bad_kind.sum() + bad_val.sum())
    if nbad == 0:
        return None
    if bad_kind.any():
        idx = tuple(int(i) for i in np.argwhere(bad_kind)[0])
        return (f"{what}: {nbad} element(s) out of bound; at {idx} the reference is "
                f"{float(ref[idx])!r} but got {float(a[idx])!r} (shape {ref.shape})")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(bad_val, np.nan_to_num(err / bound, nan=np.inf), -1.0)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
    return (f"{what}: {nbad} element(s) out of bound (shape {ref.shape}); worst at {idx}: "
            f"reference {float(ref[idx])!r}, got {float(a[idx])!r}, |error| {err[idx]:.3g} > allowed {bound[idx]:.3g}")


def assert_within(actual, ref, bound, what="output") -> None:
    msg = compare(actual, ref, bound, what)
    if msg is not None:
        raise AssertionError(msg)


def _check_dtype(actual, dtype, what):
    if np.asarray(actual).dtype != np.dtype(dtype):
        raise AssertionError(f"{what}: dtype {np.asarray(actual).dtype}, expected {np.dtype(dtype)}")


def assert_dense_close(actual, X, W, b, activation, dtype=None) -> None:
    """Assert one dense layer's output meets the numerics contract."""
    dtype = _work_dtype(dtype or np.asarray(W).dtype)
    _check_dtype(actual, dtype, "dense")
    lb = layer_bound(X, W, b, activation, dtype)
    M, N = np.asarray(X).shape[0], np.asarray(W).shape[0]
    assert_within(actual, lb.A, lb.eA,
                  f"dense {activation} (M,K,N)=({M},{np.asarray(W).shape[1]},{N}) {dtype}")


def _cache_keys(n_layers: int) -> set[str]:
    return {"A0"} | {f"{k}{l}" for l in range(1, n_layers + 1) for k in "ZA"}


def _check_cache_keys(cache, n_layers: int) -> None:
    expected = _cache_keys(n_layers)
    if set(cache) != expected:
        raise AssertionError(f"cache keys {sorted(cache)}, expected {sorted(expected)}")


def layer_report(cache, weights, biases, activations, dtype=None, rows=None,
                 compute: str = "fp32") -> str | None:
    """``None`` if every layer of *cache* (``forward(X, return_cache=True)``)
    meets the per-layer contract, else a report naming the first wrong layer.

    Layer ``l`` is checked against the float64 reference computed from the
    backend's own input ``cache["A{l-1}"]``, with no carried error: ``Z_l``
    within ``eZ`` and ``A_l`` within ``eA`` of :func:`layer_bound` (``eA_in=0``).
    *rows* (an index array) checks only those batch rows (rows of a dense
    network are independent): the bench's gate on large batches.
    *compute* ``"bf16"``: the backend's own input is rounded to bfloat16 first, as
    the backend did.
    """
    bf16 = _check_compute(compute)
    L = len(weights)
    if not (len(biases) == len(activations) == L):
        raise ValueError(f"{L} weights, {len(biases)} biases and {len(activations)} activations: "
                         "one of each per layer expected")
    dtype = _work_dtype(dtype or np.asarray(weights[0]).dtype)
    _check_cache_keys(cache, L)
    sel = slice(None) if rows is None else np.asarray(rows)
    for l, (W, b, act) in enumerate(zip(weights, biases, activations), start=1):
        act = canonical(act)
        for key in (f"A{l - 1}", f"Z{l}", f"A{l}"):
            if np.asarray(cache[key]).dtype != dtype:
                return f"cache {key}: dtype {np.asarray(cache[key]).dtype}, expected {dtype}"
        A_in = np.asarray(cache[f"A{l - 1}"])[sel]
        if bf16:
            A_in = round_bf16(A_in)
        lb = layer_bound(A_in, W, b, act, dtype)  # the backend's own input, eA_in = 0
        M, (N, K) = A_in.shape[0], np.asarray(W).shape
        where = f"layer {l} of {L} ({act}, (M,K,N)=({M},{K},{N}), {dtype}, from the backend's own A{l - 1})"
        for key, ref, bound in ((f"Z{l}", lb.Z, lb.eZ), (f"A{l}", lb.A, lb.eA)):
            msg = compare(np.asarray(cache[key])[sel], ref, bound, f"{where}: {key}")
            if msg is not None:
                return msg
    return None


def assert_layers_close(cache, weights, biases, activations, dtype=None, rows=None,
                        compute: str = "fp32") -> None:
    """Assert every layer of a forward cache meets the per-layer contract (see
    :func:`layer_report`): the tight check that catches one wrong layer at any depth."""
    msg = layer_report(cache, weights, biases, activations, dtype, rows, compute)
    if msg is not None:
        raise AssertionError(msg)


def first_difference(actual, expected) -> str | None:
    """``None`` if *actual* and *expected* have the same shape, dtype and bits
    everywhere, else where they first differ and how many elements do."""
    a, e = np.asarray(actual), np.asarray(expected)
    if a.shape != e.shape or a.dtype != e.dtype:
        return f"shape/dtype {a.shape} {a.dtype}, expected {e.shape} {e.dtype}"
    if a.size == 0:
        return None
    uint = np.dtype(f"u{a.dtype.itemsize}")
    diff = np.ascontiguousarray(a).view(uint) != np.ascontiguousarray(e).view(uint)
    n = int(diff.sum())
    if n == 0:
        return None
    idx = tuple(int(i) for i in np.argwhere(diff)[0])
    return (f"{n} of {a.size} element(s) differ in their bits (shape {a.shape}); first at {idx}: "
            f"{a[idx]!r}, expected {e[idx]!r}")


def assert_identical(actual, expected, what="output") -> None:
    """Assert bitwise equality (a deterministic kernel: same input, same bits)."""
    msg = first_difference(actual, expected)
    if msg is not None:
        raise AssertionError(f"{what}: {msg}")


def assert_forward_close(actual, weights, biases, activations, X, dtype=None, cache=None,
                         compute: str = "fp32") -> None:
    """Assert a network's output meets the numerics contract, the bound carried
    layer to layer from *X*.

    With *cache* (from the same ``forward(X, return_cache=True)`` call), also:
    its keys and dtypes; ``A0`` is *X* in the network's dtype; every ``Z_l`` and
    ``A_l`` within the carried bound; every layer within the tight per-layer
    bound from the backend's own input (:func:`assert_layers_close`); and
    *actual* bitwise equal to the cache's ``A_L``. *compute* as the network's
    forward used it (``"bf16"``: inputs of every layer rounded to bfloat16)."""
    dtype = _work_dtype(dtype or np.asarray(weights[0]).dtype)
    acts = [canonical(a) for a in activations]
    bounds = network_bounds(weights, biases, acts, X, dtype, compute)
    L = len(bounds)
    _check_dtype(actual, dtype, "forward")
    assert_within(actual, bounds[-1].A, bounds[-1].eA, f"forward output A{L} {dtype}")
    if cache is None:
        return
    _check_cache_keys(cache, L)
    for l, lb in enumerate(bounds, start=1):
        _check_dtype(cache[f"Z{l}"], dtype, f"cache Z{l}")
        _check_dtype(cache[f"A{l}"], dtype, f"cache A{l}")
        assert_within(cache[f"Z{l}"], lb.Z, lb.eZ, f"cache Z{l}")
        assert_within(cache[f"A{l}"], lb.A, lb.eA, f"cache A{l}")
    _check_dtype(cache["A0"], dtype, "cache A0")
    x_in = np.asarray(X).astype(dtype)
    if not np.array_equal(cache["A0"], x_in, equal_nan=True):
        raise AssertionError(f"cache A0: not the input X in {dtype}: {first_difference(cache['A0'], x_in)}")
    assert_layers_close(cache, weights, biases, acts, dtype, compute=compute)
    assert_identical(actual, cache[f"A{L}"], f"forward output vs its cache A{L}")
