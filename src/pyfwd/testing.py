"""The numerics contract as code: the one tolerance helper of pyfwd.

docs/design.md (numerics): a backend's output ``y`` in a dtype with unit roundoff ``u`` must
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

Two checks of a network (docs/design.md):

* end to end (:func:`network_bounds`): the bound carried from the input to the
  output. It grows fast with depth (for [784, 512, 256, 128, 10] float32 it
  allows errors of ~29x the output), so a wrong layer can hide under it;
* layer by layer (:func:`assert_layers_close`): with the cache of
  ``forward(X, return_cache=True)``, each layer's ``Z_l`` and ``A_l`` against a
  float64 reference computed from the backend's *own* ``A_{l-1}``, no carried
  error (``eA_in = 0``). This one catches a wrong layer at any depth.
  :func:`assert_forward_close` with ``cache=`` runs both.

16-bit weights (docs/design.md): the reference uses the rounded weights as they are
(bfloat16 / float16 arrays are passed in, widened exactly to float64) with the
float32 bound (the work dtype of 16-bit weights is float32). With
``compute="bf16"`` each layer's input is rounded to bfloat16 first, in the
reference too: per layer from the backend's own input (rounded the same way: the
tight check stays tight); end to end, the carried error of a rounded input grows
by the two roundings (the backend's of ``A + e``, the reference's of ``A``; each
at most ``2**-8`` relative), ``2**-8 * (2|A| + eA)``.

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
    "storage16_bounds",
    "compare",
    "assert_within",
    "assert_dense_close",
    "assert_forward_close",
    "assert_layers_close",
    "layer_report",
    "first_difference",
    "assert_identical",
    "gradient_bounds",
    "assert_gradients_close",
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
                    eA = eA + 2.0 ** -8 * (2.0 * np.abs(A) + eA)
            A = round_bf16(A.astype(np.float32)).astype(np.float64)
        lb = layer_bound(A, W, b, act, dtype, eA)
        out.append(lb)
        A, eA = lb.A, lb.eA
    return out


#: Unit roundoff of the 16-bit storage types.
U16 = {"bfloat16": 2.0 ** -8, "float16": 2.0 ** -11}


def _round16(x, kind: str) -> np.ndarray:
    x32 = np.asarray(x, dtype=np.float32)
    r = round_bf16(x32) if kind == "bfloat16" else x32.astype(np.float16)
    return np.asarray(r).astype(np.float64)


def storage16_bounds(weights: Sequence[np.ndarray], biases: Sequence[np.ndarray | None],
                     activations: Sequence[str], X: np.ndarray, storage: str) -> tuple[np.ndarray, np.ndarray]:
    """``(A, eA)``: the float64 reference output, and its allowed error, of another
    framework running the network with every tensor stored in *storage*
    (``"bfloat16"`` or ``"float16"``, unit roundoff u): PyTorch's CPU ``nn.Linear``
    on a ``.to(torch.bfloat16)`` / ``.half()`` model, ONNX Runtime's float16
    MatMul/Gemm. Not pyfwd's own contract (pyfwd keeps activations float32: use
    :func:`network_bounds`), but the bound a peer in the benchmarks and the interop
    tests is held to.

    The model: X and the biases rounded to *storage* (both sides get the same
    values), the weights already in it; products summed in float32 (error e <= K
    2**-24 ``|A| @ |W|.T``, doubled for safety); the sum P rounded to 16 bits
    (u (|P| + e)), the bias added and rounded again (u |Z| plus the earlier errors
    scaled by u); the activation evaluated in float32 from that 16-bit Z and rounded to 16 bits (u
    for the rounding, u more for its evaluation: 2u|A|). The error carries through
    each activation's Lipschitz constant, as in :func:`network_bounds`. Softmax:
    with every input of a row off by at most E, ``s_i`` moves by at most E and by
    at most ``s_i (exp(2E) - 1)`` (``s_i`` scales by ``exp(d_i) / sum_j s_j
    exp(d_j)``, between ``exp(-2E)`` and ``exp(2E)``), the smaller of the two; it is
    evaluated in float32 ((N + 20) 2**-24 |A|) and rounded (2u|A|).
    """
    if storage not in U16:
        raise ValueError(f"storage must be 'bfloat16' or 'float16', got {storage!r}")
    u = U16[storage]
    A = _round16(X, storage)
    eA = np.zeros(A.shape)
    tiny = 4.0 * 2.0 ** -24  # a few float16 subnormal steps (bfloat16's are far smaller)
    for W, b, act in zip(weights, biases, activations):
        act = canonical(act)
        W64 = np.asarray(W, dtype=np.float64)
        b64 = np.zeros(W64.shape[0]) if b is None else _round16(b, storage)
        K = W64.shape[1]
        P = A @ W64.T
        Z = P + b64
        mag = (np.abs(A) + eA) @ np.abs(W64).T
        e_sum = eA @ np.abs(W64).T + 2.0 * K * 2.0 ** -24 * mag + tiny  # the float32 sum
        # rounded to 16 bits (u |P + e_sum|), the bias added, rounded again (u |Z + ...|)
        eZ = e_sum * (1.0 + 3.0 * u) + (u + u * u) * np.abs(P) + u * np.abs(Z)
        A = FUNCTIONS[act](Z)
        if act == "softmax":
            E = eZ.max(axis=1, keepdims=True) if Z.shape[1] else eZ
            moved = np.minimum(E, np.expm1(2.0 * E) * A)
            eA = moved + ((Z.shape[1] + 20) * 2.0 ** -24 + 2.0 * u) * A + tiny
        else:
            eA = LIPSCHITZ[act] * eZ + 2.0 * u * (np.abs(A) + LIPSCHITZ[act] * eZ) + tiny
    return A, eA


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
    """Raise ``AssertionError`` with :func:`compare`'s message if *actual* is not
    within *bound* of *ref*."""
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


# -- the backward pass ----------------------------------------------------------
# The same model of rounding, run backwards (pyfwd.backends.backward's four steps),
# from the backend's own forward cache (the tight per-layer view: the reference
# gradients are the float64 oracle's on the very Z_l, A_l the backend used), the
# error carried from layer to layer. With gamma(K) = 4*(K+2)*u as in the forward bound
# and |x|+e written for the magnitude of a carried quantity:
#
# * dW_l = dZ_l^T A_{l-1} (K = batch):  e_dZ^T |A| + gamma(B) (|dZ|+e_dZ)^T |A|
# * db_l = sum_rows dZ_l:               sum e_dZ + gamma(B) sum (|dZ|+e_dZ)
# * dA_{l-1} = dZ_l W_l (K = out_l):    e_dZ |W| + gamma(out_l) (|dZ|+e_dZ) |W|
# * dZ = dA * g'(Z), elementwise: the carried e_dA times (|g'| + e_g), plus |dA| e_g,
#   plus 2u|dZ|. e_g, the error of the backend's g'(Z): 2u |g'| for linear, relu,
#   leaky_relu; 16u (|g'| + |A|) for sigmoid and tanh (computed from the cache's A,
#   itself within ~8u of g(Z): a(1-a) and 1-a^2 lose relative accuracy where
#   a -> 1, not absolute), for gelu (erfc and exp within 4 ulp, plus the rounding of
#   the exponent z^2/2: |z|^3 phi(z) u) and silu (|z| times the error of s(1-s): the
#   |A| = |z| s term);
# * softmax's row product a * (dA - <dA, a>): a (the cache's) within
#   e_s = u (N + 20 + 2 max|z|) s of softmax(Z) (the forward bound of one row), so
#   |error| <= e_s (|dA| + <|dA|, s>) + s <|dA|, e_s> + s (e_dA + <e_dA, s>)
#   + (N + 4) u s (|dA| + <|dA|, s>).
# A wrong derivative, product or transposition is off by O(|dZ|), orders of
# magnitude above these bounds (tests/test_backward.py breaks one to show it).


def _act_backward_bound(act: str, Z, A, dA, e_dA, u: float, tiny: float):
    from .backends.backward import act_backward64
    ref = act_backward64(act, Z, dA)
    absd = np.abs(dA)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        if act == "softmax":
            s = FUNCTIONS["softmax"](Z)
            n = Z.shape[1]
            zmax = np.where(np.isfinite(Z), np.abs(Z), 0.0).max(axis=1, keepdims=True) if n else 0.0
            e_s = u * (n + 20 + 2.0 * zmax) * s
            row = absd + np.sum(absd * s, axis=1, keepdims=True)
            e = (e_s * row + s * np.sum(absd * e_s, axis=1, keepdims=True)
                 + s * (e_dA + np.sum(e_dA * s, axis=1, keepdims=True)) + (n + 4) * u * s * row)
            return ref, e + 2.0 * u * np.abs(ref) + tiny
        G = np.abs(act_backward64(act, Z, np.ones_like(Z)))
        if act in ("linear", "relu", "leaky_relu"):
            e_g = 2.0 * u * G
        else:
            e_g = 16.0 * u * (G + np.abs(A))
            if act == "gelu":
                az = np.abs(Z)
                phi = np.exp(-0.5 * Z * Z) / np.sqrt(2.0 * np.pi)
                e_g = e_g + u * np.where(phi == 0, 0.0, az ** 3 * phi)
        e = e_dA * (G + e_g) + absd * e_g + 2.0 * u * np.abs(ref) + tiny
    return ref, e


def gradient_bounds(weights, activations, cache, dA=None, dZ=None, dtype=None, e_start=None):
    """``(ref, bound)``: the float64 reference gradients from *cache* (the backend's
    own ``forward(X, return_cache=True)``), keyed ``"W1", "b1", ..., "X"``, and the
    allowed |error| of each element (the model above), starting from *dA* (wrt
    ``A_L``, exact in the dtype) or from *dZ* (wrt ``Z_L``, a fused loss; *e_start*
    its error, default ``u |dZ|``: the float64 head rounded once to the dtype)."""
    L = len(weights)
    dtype = np.dtype(dtype or np.asarray(weights[0]).dtype)
    u, tiny = unit_roundoff(dtype), _tiny(dtype)
    acts = [canonical(a) for a in activations]
    c = {k: np.asarray(v, dtype=np.float64) for k, v in cache.items()}
    gamma = lambda K: 4.0 * (K + 2) * u  # noqa: E731
    if dZ is not None:
        g = np.asarray(dZ, dtype=np.float64)
        e = u * np.abs(g) + tiny if e_start is None else np.broadcast_to(e_start, g.shape).astype(np.float64)
    else:
        d = np.asarray(dA, dtype=np.float64)
        g, e = _act_backward_bound(acts[L - 1], c[f"Z{L}"], c[f"A{L}"], d, np.zeros_like(d), u, tiny)
    ref, bound = {}, {}
    for l in range(L, 0, -1):
        A_prev = c[f"A{l - 1}"]
        W = np.asarray(weights[l - 1], dtype=np.float64)
        B, N = g.shape
        mag = np.abs(g) + e
        absA, absW = np.abs(A_prev), np.abs(W)
        ref[f"W{l}"] = g.T @ A_prev
        bound[f"W{l}"] = e.T @ absA + gamma(B) * (mag.T @ absA) + tiny
        ref[f"b{l}"] = g.sum(axis=0)
        bound[f"b{l}"] = e.sum(axis=0) + gamma(B) * mag.sum(axis=0) + tiny
        dA_prev = g @ W
        e_dA = e @ absW + gamma(N) * (mag @ absW) + tiny
        if l == 1:
            ref["X"], bound["X"] = dA_prev, e_dA
        else:
            g, e = _act_backward_bound(acts[l - 2], c[f"Z{l - 1}"], c[f"A{l - 1}"], dA_prev, e_dA, u, tiny)
    return ref, bound


def assert_gradients_close(grads, weights, activations, cache, dA=None, dZ=None, dtype=None,
                           dX=None, e_start=None) -> None:
    """Assert every gradient in *grads* (and *dX* if given) lies within
    :func:`gradient_bounds` of the float64 reference from the same cache."""
    dtype = np.dtype(dtype or np.asarray(weights[0]).dtype)
    ref, bound = gradient_bounds(weights, activations, cache, dA=dA, dZ=dZ, dtype=dtype, e_start=e_start)
    items = list(grads.items()) + ([("X", dX)] if dX is not None else [])
    for key, got in items:
        _check_dtype(got, dtype, f"gradient {key}")
        assert_within(got, ref[key], bound[key], f"gradient {key} ({dtype})")
