"""16-bit weight dtypes: ``bfloat16`` (``ml_dtypes.bfloat16``, what JAX and TensorFlow
use as its NumPy dtype) and ``float16`` (NumPy's own).

Weights are stored 16-bit; activations, biases and outputs stay float32. Rounding to
a 16-bit dtype is to nearest, ties to even, directly from the source values (float64
weights are not rounded to float32 first). Widening back to float32 is exact.

``ml_dtypes`` is needed only for bfloat16 (an optional dependency: ``pip install
ml_dtypes``, or ``pip install pyfwd[bf16]``); float16 works without it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["WEIGHT_DTYPES16", "bfloat16", "weight_dtype", "is_weight16", "to_weight16", "round_bf16", "kind16"]

#: The names of the 16-bit weight dtypes.
WEIGHT_DTYPES16 = ("bfloat16", "float16")

_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)


def bfloat16() -> np.dtype:
    """``ml_dtypes.bfloat16`` as a NumPy dtype (``ImportError`` telling how to install it)."""
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError("bfloat16 weights need the ml_dtypes package (its bfloat16 is the NumPy dtype "
                          "pyfwd uses): pip install ml_dtypes") from None
    return np.dtype(ml_dtypes.bfloat16)


def is_weight16(dt) -> bool:
    """Whether *dt* is bfloat16 or float16 (either byte order)."""
    dt = np.dtype(dt)
    return dt.itemsize == 2 and (dt.name == "bfloat16" or dt.kind == "f")


def weight_dtype(wd) -> np.dtype | None:
    """A user's ``weight_dtype``: ``None``, a 16-bit dtype (native order), or the
    float32/float64 dtype it names (the caller checks it against ``dtype``).
    Anything else (int8, float8, complex, ...) is a ``TypeError`` naming the choices."""
    if wd is None:
        return None
    if isinstance(wd, str) and wd.strip().lower() in ("bfloat16", "bf16"):
        return bfloat16()
    try:
        dt = np.dtype(wd)
    except TypeError:
        dt = None
    if dt is not None:
        if dt.name == "bfloat16":
            return bfloat16()
        if dt.kind == "f" and dt.itemsize in (2, 4, 8):
            return dt.newbyteorder("=")
    raise TypeError(f"weight_dtype must be None, 'bfloat16' or 'float16' (or the network's dtype), got {wd!r}; "
                    f"other weight types (int8, float8, ...) are not supported")


def kind16(dt) -> int:
    """The compiled core's code of a 16-bit dtype: 0 bfloat16, 1 float16."""
    return 0 if np.dtype(dt).name == "bfloat16" else 1


def to_weight16(arr, wd: np.dtype, what: str) -> np.ndarray:
    """*arr* (any real dtype, or a 16-bit one) as *wd*, rounded to nearest even."""
    if isinstance(arr, np.ndarray) and type(arr) is not np.ndarray:
        from ._validate import refuse_masked
        refuse_masked(arr, what)
        arr = arr.view(np.ndarray)
    a = np.asarray(arr)
    if a.dtype == wd:
        return a
    if is_weight16(a.dtype):
        return a.astype(_F32).astype(wd)  # exact widening, then one rounding
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers (float, int or bool to convert, or bfloat16/float16), "
                        f"got dtype {a.dtype}")
    if a.dtype.kind != "f":
        a = a.astype(np.float64)
    return a.astype(wd)  # float32/float64 -> 16-bit: one correctly rounded conversion


def round_bf16(A: np.ndarray) -> np.ndarray:
    """float32 *A* rounded to the nearest bfloat16 (ties to even), as float32: what
    ``compute="bf16"`` does to each layer's input. NaN stays NaN, a value past
    bfloat16's range becomes +-inf. Plain NumPy (no ml_dtypes needed); the compiled
    core does the same bit for bit."""
    A = np.ascontiguousarray(A, dtype=np.float32)
    u = A.view(np.uint32)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    with np.errstate(over="ignore"):
        r = (u + np.uint32(0x7FFF) + ((u >> 16) & 1)) & np.uint32(0xFFFF0000)
    r = np.where(nan, (u | 0x00400000) & 0xFFFF0000, r).astype(np.uint32)
    return r.view(np.float32)
