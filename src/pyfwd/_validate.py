"""Input validation shared by the public API: every error names what was
expected and what came."""
from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def native_float(dt: np.dtype) -> np.dtype | None:
    """The native-byte-order float32/float64 that *dt* is (``>f8`` gives
    float64), or None when *dt* is neither."""
    if dt.kind == "f" and dt.itemsize in (4, 8):
        return FLOAT_DTYPES[dt.itemsize == 8]
    return None


def as_float_dtype(dtype) -> np.dtype:
    """*dtype* as native float32 or float64 (a non-native byte order such as
    ``">f8"`` names the same type); anything else is a ``TypeError``."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    native = native_float(dt)
    if native is None:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return native


def refuse_masked(x, what: str) -> None:
    """Masked arrays are refused, by every backend alike: their mask would be
    dropped silently (the masked slots hold arbitrary data)."""
    if isinstance(x, np.ndarray) and type(x) is not np.ndarray and isinstance(x, np.ma.MaskedArray):
        raise TypeError(f"{what}: masked arrays are not supported, use .filled() "
                        f"(e.g. {what}.filled(0)) to choose the values of the masked entries")


def as_array(x, dtype: np.dtype, what: str) -> np.ndarray:
    """*x* as an ndarray of *dtype*, without a copy when it already is one.

    Real dtypes (bool, integers, floats, bfloat16, either byte order) are converted
    (values kept); complex, object, string and other dtypes are refused with
    ``TypeError``. Masked arrays (``numpy.ma``) are refused with ``TypeError``
    (use ``.filled()``); other ndarray subclasses are viewed as plain ndarrays.
    Strides are kept: the backends accept any layout.
    """
    if isinstance(x, np.ndarray):
        if type(x) is not np.ndarray:
            refuse_masked(x, what)
            x = x.view(np.ndarray)
    else:
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as exc:
            raise TypeError(f"{what} must be a numeric array, got {type(x).__name__}: {exc}") from exc
    if x.dtype.kind not in "biuf" and x.dtype.name != "bfloat16":  # ml_dtypes' bfloat16 is kind "V"
        raise TypeError(
            f"{what} must hold real numbers (float32, float64, or int/bool to convert), "
            f"got dtype {x.dtype}")
    if x.dtype != dtype:
        x = x.astype(dtype)
    return x


def check_out(out, shape: tuple, dtype: np.dtype, inputs=()) -> np.ndarray:
    """Validate a user's ``out=`` array: exact shape and dtype, C-contiguous,
    writable, not overlapping any input."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != tuple(shape):
        raise ValueError(f"out has shape {out.shape}, expected {tuple(shape)}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    for arr in inputs:
        if arr is not None and np.may_share_memory(out, arr):
            raise ValueError("out overlaps an input array; pass a separate buffer")
    return out
