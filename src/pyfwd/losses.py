"""Losses of the learning loop, each the mean over the batch (PyTorch's default
``reduction="mean"``), computed in float64 whatever the network's dtype.

=========================  ==================  =====================================================
name (aliases)             output layer        value
=========================  ==================  =====================================================
``cross_entropy``          softmax             ``mean_i -sum_j y_ij log softmax(z_i)_j`` from the
(``ce``,                                       logits ``Z_L`` (log-sum-exp: never overflows), y as
``categorical_crossentropy``)                  class indices ``(batch,)`` or one-hot/probabilities
                                               ``(batch, classes)``: ``torch.nn.CrossEntropyLoss``
                                               on the logits
``binary_cross_entropy``   sigmoid             ``mean -[y log p + (1-y) log(1-p)]`` over all
(``bce``)                                      elements, from the logits (stable):
                                               ``torch.nn.BCEWithLogitsLoss`` = ``BCELoss(sigmoid)``
``mse`` (``mean_squared_   any                 ``mean (A_L - y)^2`` over all elements:
error``)                                       ``torch.nn.MSELoss``
=========================  ==================  =====================================================

Decision: ``cross_entropy`` needs a softmax output layer and ``binary_cross_entropy``
a sigmoid one (``ValueError`` otherwise). The network's output is then the
probabilities that :meth:`Network.predict_proba` returns, and the loss is fused with
the activation: the gradient wrt ``Z_L`` is ``(softmax(Z_L) - y) / batch`` (resp.
``(sigmoid(Z_L) - y) / (batch * outputs)``), exact and stable, without the softmax's
Jacobian. A network that outputs raw scores (linear last layer) trained with
cross-entropy would be ambiguous (are its outputs logits or probabilities?), so it is
refused with a message saying what to use.

:func:`head` returns the loss, the gradient (wrt ``Z_L`` when fused, else wrt
``A_L``) and which one it is; :func:`targets` checks and converts ``y`` once.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends.numpy_ref import sigmoid

__all__ = ["LOSSES", "canonical_loss", "default_loss", "check_loss", "Targets", "targets", "head", "accuracy"]

#: Canonical loss names, and the output activation each needs (None: any).
LOSSES: dict[str, str | None] = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "sigmoid",
    "mse": None,
}

_ALIASES = {
    "ce": "cross_entropy",
    "crossentropy": "cross_entropy",
    "categorical_crossentropy": "cross_entropy",
    "bce": "binary_cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
    "mean_squared_error": "mse",
}


def canonical_loss(name) -> str:
    """The canonical loss name for *name* or a ``ValueError`` listing the valid ones."""
    if not isinstance(name, str):
        raise TypeError(f"loss must be a string, one of {', '.join(LOSSES)}; got {type(name).__name__} {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid losses are {', '.join(LOSSES)} "
                         f"(aliases: {', '.join(sorted(_ALIASES))})")
    return key


def default_loss(output_activation: str) -> str:
    """The loss a network's output layer implies: softmax -> cross_entropy,
    sigmoid -> binary_cross_entropy, anything else -> mse."""
    return {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(output_activation, "mse")


def check_loss(loss, output_activation: str) -> str:
    """*loss* (None: :func:`default_loss`) canonical and compatible with the output layer."""
    if loss is None:
        return default_loss(output_activation)
    name = canonical_loss(loss)
    need = LOSSES[name]
    if need is not None and output_activation != need:
        raise ValueError(
            f"loss {name!r} needs a {need} output layer (the loss is fused with it, as PyTorch's "
            f"{'CrossEntropyLoss' if need == 'softmax' else 'BCEWithLogitsLoss'} on the logits); this "
            f"network's output activation is {output_activation!r}. Build the network with a {need!r} "
            f"last activation, or use loss='mse'")
    return name


@dataclass
class Targets:
    """Checked targets: ``index`` (int64 class indices, cross-entropy) or ``dense``
    (float64, the output's shape)."""

    loss: str
    index: np.ndarray | None = None
    dense: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index if self.index is not None else self.dense)

    def take(self, rows) -> "Targets":
        """The targets of the samples *rows* (an index array or slice), e.g. one batch."""
        return Targets(self.loss, None if self.index is None else self.index[rows],
                       None if self.dense is None else self.dense[rows])


def _real(y, what: str) -> np.ndarray:
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":
        raise TypeError(f"{what} must hold real numbers, got dtype {y.dtype}")
    return y


def targets(loss: str, y, batch: int, n_out: int, classes=None) -> Targets:
    """Check *y* against the loss, the batch size and the output width; convert once.

    cross_entropy: class indices ``(batch,)`` (integers in ``[0, n_out)``; the labels
    of ``classes_`` instead when the network has them, as :meth:`Network.predict` does) or ``(batch, n_out)`` one-hot /
    probabilities. binary_cross_entropy: values in ``[0, 1]``, shape ``(batch,
    n_out)`` or ``(batch,)`` for one output. mse: ``(batch, n_out)`` or ``(batch,)``
    for one output, finite.
    """
    if isinstance(y, np.ma.MaskedArray):
        raise TypeError("y: masked arrays are not supported, use .filled()")
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != batch:
        raise ValueError(f"y must have one row per sample: X has {batch} rows, y has shape {y.shape}")
    if loss == "cross_entropy" and y.ndim == 1:
        if classes is not None:  # the labels predict() returns
            lookup = {c: i for i, c in enumerate(classes.tolist())}
            try:
                idx = np.fromiter((lookup[v] for v in y.tolist()), dtype=np.int64, count=batch)
            except KeyError as exc:
                raise ValueError(f"y holds the label {exc.args[0]!r}, which is not in the network's "
                                 f"classes_ {classes.tolist()}") from None
            return Targets(loss, index=idx)
        if y.dtype.kind not in "iu":
            raise TypeError(f"cross_entropy: class indices y of shape ({batch},) must be integers, got dtype "
                            f"{y.dtype} (convert with y.astype(int), or pass one-hot targets of shape "
                            f"({batch}, {n_out}))")
        bad = np.flatnonzero((y < 0) | (y >= n_out))
        if bad.size:
            raise ValueError(f"cross_entropy: class index y[{bad[0]}] = {y[bad[0]]} is out of range for "
                             f"{n_out} outputs (valid: 0..{n_out - 1}); {bad.size} such label(s)")
        return Targets(loss, index=y.astype(np.int64))
    y = _real(y, "y").astype(np.float64)
    if y.ndim == 1 and n_out == 1:
        y = y.reshape(-1, 1)
    if y.shape != (batch, n_out):
        what = f"({batch},) class indices or " if loss == "cross_entropy" else \
            (f"({batch},) or " if n_out == 1 else "")
        raise ValueError(f"{loss}: y must have shape {what}({batch}, {n_out}) to match the network's "
                         f"{n_out} output(s), got {y.shape}")
    if not np.isfinite(y).all():
        raise ValueError(f"{loss}: y holds non-finite values (NaN or inf)")
    if loss == "binary_cross_entropy" and ((y < 0) | (y > 1)).any():
        raise ValueError(f"binary_cross_entropy: targets must lie in [0, 1], got values in "
                         f"[{y.min():g}, {y.max():g}]")
    return Targets(loss, dense=y)


def head(loss: str, ZL: np.ndarray, AL: np.ndarray, t: Targets) -> tuple[float, np.ndarray, str]:
    """``(loss value, gradient, wrt)``: the gradient (float64) of the mean loss wrt
    ``Z_L`` (``wrt == "Z"``: cross-entropy and binary cross-entropy, fused with
    their activation) or wrt ``A_L`` (``wrt == "A"``: mse)."""
    B = ZL.shape[0]
    if B == 0:
        raise ValueError("the loss of an empty batch is undefined (0 samples)")
    if loss == "mse":
        diff = np.asarray(AL, dtype=np.float64) - t.dense
        n = diff.size
        return float(np.sum(diff * diff) / n), diff * (2.0 / n), "A"
    Z = np.asarray(ZL, dtype=np.float64)
    if loss == "cross_entropy":
        shifted = Z - Z.max(axis=1, keepdims=True)
        with np.errstate(divide="ignore"):
            logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        P = np.exp(logp)
        if t.index is not None:
            rows = np.arange(B)
            value = -float(np.sum(logp[rows, t.index])) / B
            P[rows, t.index] -= 1.0
            return value, P / B, "Z"
        Y = t.dense
        with np.errstate(invalid="ignore"):  # 0 * -inf: a zero target contributes nothing
            terms = np.where(Y == 0, 0.0, Y * logp)
        value = -float(np.sum(terms)) / B
        return value, (P * Y.sum(axis=1, keepdims=True) - Y) / B, "Z"
    # binary cross-entropy from the logits: max(z, 0) - z*y + log(1 + exp(-|z|))
    Y = t.dense
    value = float(np.mean(np.maximum(Z, 0.0) - Z * Y + np.log1p(np.exp(-np.abs(Z)))))
    return value, (sigmoid(Z) - Y) / Z.size, "Z"


def accuracy(loss: str, AL: np.ndarray, t: Targets) -> float | None:
    """Share of correct predictions: argmax for cross-entropy (the argmax of
    probability targets), ``p > 0.5`` against ``y > 0.5`` per output for binary
    cross-entropy; None for mse (a regression)."""
    if loss == "mse" or len(t) == 0:
        return None
    if loss == "cross_entropy":
        truth = t.index if t.index is not None else np.argmax(t.dense, axis=1)
        return float(np.mean(np.argmax(AL, axis=1) == truth))
    return float(np.mean((np.asarray(AL) > 0.5) == (t.dense > 0.5)))
