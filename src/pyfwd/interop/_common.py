"""Shared pieces of the importers: the missing-framework error, the
unsupported-layer error, and the builder that fuses each ``Linear`` with the
activation that follows it."""
from __future__ import annotations

import importlib

import numpy as np

INSTALL_HINT = 'pip install "pyfwd[interop]"'


class UnsupportedLayerError(ValueError):
    """A layer (or graph node) pyfwd cannot represent; the message names it and
    lists what is supported."""


def require(module: str, purpose: str):
    """Import *module* or raise ImportError saying which extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{purpose} needs the '{module.split('.')[0]}' package, which is not installed: "
                          f"{INSTALL_HINT}") from exc


class LayerStack:
    """Collects ``dense`` and ``activation`` steps in order and checks they form
    a chain pyfwd can run: each dense layer followed by at most one activation."""

    def __init__(self, source: str, supported: str) -> None:
        self.source = source          # e.g. "PyTorch module"
        self.supported = supported    # the list shown in errors
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray | None] = []
        self.acts: list[str | None] = []  # None: no activation seen yet for that layer

    def unsupported(self, what: str, why: str = "") -> UnsupportedLayerError:
        why = f" ({why})" if why else ""
        return UnsupportedLayerError(f"{self.source}: unsupported layer {what}{why}; pyfwd supports "
                                     f"{self.supported}")

    def dense(self, W: np.ndarray, b: np.ndarray | None, what: str) -> None:
        W = np.asarray(W)
        if W.ndim != 2:
            raise self.unsupported(what, f"weight of shape {W.shape}, expected 2-D")
        if self.weights and W.shape[1] != self.weights[-1].shape[0]:
            raise ValueError(f"{self.source}: {what} takes {W.shape[1]} inputs but the previous layer "
                             f"gives {self.weights[-1].shape[0]}")
        if b is not None:
            b = np.asarray(b).reshape(-1)
            if b.shape != (W.shape[0],):
                raise ValueError(f"{self.source}: {what} has bias of {b.size} values for {W.shape[0]} outputs")
        self.weights.append(W)
        self.biases.append(b)
        self.acts.append(None)

    def activation(self, name: str, what: str) -> None:
        """Attach activation *name* to the latest dense layer ("linear" is a no-op)."""
        if name == "linear":
            return
        if not self.weights:
            raise self.unsupported(what, "an activation before the first dense layer")
        if self.acts[-1] is not None:
            raise self.unsupported(what, f"a second activation after {self.acts[-1]!r}; pyfwd fuses "
                                   "exactly one activation into each dense layer")
        self.acts[-1] = name

    @property
    def started(self) -> bool:
        return bool(self.weights)

    def build(self, dtype=None, weight_dtype=None):
        """The network: *dtype* and *weight_dtype* as in :func:`resolve_dtypes`."""
        from ..network import Network

        if not self.weights:
            raise ValueError(f"{self.source}: no dense layer found; pyfwd needs at least one "
                             f"({self.supported})")
        acts = [a or "linear" for a in self.acts]
        dtype, weight_dtype = resolve_dtypes(self.weights, dtype, weight_dtype)
        return Network.from_arrays(self.weights, self.biases, acts, dtype=dtype, weight_dtype=weight_dtype)


def resolve_dtypes(weights, dtype, weight_dtype):
    """An importer's ``(dtype, weight_dtype)`` for ``Network.from_arrays``.

    Neither given: the model's own. Weights that are all bfloat16, or all float16,
    stay 16-bit (``weight_dtype`` that one, ``dtype`` float32: pyfwd's 16-bit
    networks keep biases, activations and outputs float32); otherwise the dtype of
    the first weight (float32 or float64; 16-bit ones widen exactly to float32).
    ``dtype`` alone: weights in that dtype too, as in :class:`pyfwd.Network`
    (so ``dtype="float32"`` widens a 16-bit model exactly). ``weight_dtype``
    alone: ``"bfloat16"``/``"float16"`` rounds to it (nearest even, from the
    source values), ``"float32"``/``"float64"`` gives a network of that dtype."""
    from .. import _dtypes16 as d16

    wd = d16.weight_dtype(weight_dtype)  # TypeError naming the choices for int8 & co.
    if wd is None and dtype is None:
        kinds = {np.asarray(W).dtype for W in weights}
        if len(kinds) == 1 and d16.is_weight16(next(iter(kinds))):
            wd = next(iter(kinds))
    elif wd is not None and dtype is None and not d16.is_weight16(wd):
        dtype = wd  # weight_dtype="float64" alone asks for a float64 network
    return dtype, wd
