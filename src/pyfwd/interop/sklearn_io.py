"""scikit-learn -> pyfwd: a fitted ``MLPClassifier`` or ``MLPRegressor``."""
from __future__ import annotations

import numpy as np

from ._common import LayerStack

_HIDDEN = {"identity": "linear", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu"}
_OUTPUT = {"identity": "linear", "logistic": "sigmoid", "softmax": "softmax"}
SUPPORTED = ("fitted MLPClassifier/MLPRegressor with activation in "
             f"{', '.join(_HIDDEN)} and out_activation_ in {', '.join(_OUTPUT)}")


def from_sklearn(estimator, dtype=None):
    """A :class:`pyfwd.Network` with the weights of a fitted scikit-learn MLP.

    ``coefs_[l]`` is ``(in, out)``; pyfwd stores its transpose. Hidden layers
    use ``estimator.activation``, the output layer ``estimator.out_activation_``:
    ``softmax`` for a multi-class classifier (``forward`` returns
    ``predict_proba``), ``logistic`` for a binary or multi-label classifier
    (``forward`` returns the positive-class probability per output: one column
    for a binary classifier), ``identity`` for a regressor (``forward`` returns
    ``predict`` as a 2-D array). A classifier's ``classes_`` is kept, so the
    network's ``predict`` and ``predict_proba`` give what the estimator's do
    (the original labels, strings too; ``[1 - p, p]`` for a binary one). The
    dtype defaults to the coefficients' (float64 unless fitted on float32 data).

    Nothing of scikit-learn is imported: any object with these fitted attributes
    works.
    """
    name = type(estimator).__name__
    stack = LayerStack(f"scikit-learn {name}", SUPPORTED)
    missing = [a for a in ("coefs_", "intercepts_", "activation", "out_activation_")
               if not hasattr(estimator, a)]
    if missing:
        if hasattr(estimator, "hidden_layer_sizes"):
            raise ValueError(f"this {name} is not fitted yet (no {', '.join(missing)}): call fit() first")
        raise stack.unsupported(name, f"no {', '.join(missing)}")
    hidden = _HIDDEN.get(estimator.activation)
    if hidden is None:
        raise stack.unsupported(f"{name}(activation={estimator.activation!r})")
    out = _OUTPUT.get(estimator.out_activation_)
    if out is None:
        raise stack.unsupported(f"{name} with out_activation_={estimator.out_activation_!r}")
    coefs, intercepts = list(estimator.coefs_), list(estimator.intercepts_)
    if len(coefs) != len(intercepts):
        raise ValueError(f"{name}: {len(coefs)} coefs_ but {len(intercepts)} intercepts_")
    for l, (W, b) in enumerate(zip(coefs, intercepts), start=1):
        what = f"layer {l} (coefs_[{l - 1}])"
        stack.dense(np.asarray(W).T, np.asarray(b), what)
        stack.activation(out if l == len(coefs) else hidden, what)
    net = stack.build(dtype)
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        try:
            net.classes_ = classes
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: its classes_ cannot be kept ({exc})") from None
    return net
