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

    def build(self, dtype=None):
        from ..network import Network

        if not self.weights:
            raise ValueError(f"{self.source}: no dense layer found; pyfwd needs at least one "
                             f"({self.supported})")
        acts = [a or "linear" for a in self.acts]
        return Network.from_arrays(self.weights, self.biases, acts, dtype=dtype)
