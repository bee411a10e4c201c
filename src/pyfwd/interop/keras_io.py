"""Keras 3 -> pyfwd: ``Dense`` layers with their activations (any Keras backend,
e.g. ``KERAS_BACKEND=torch``; TensorFlow is not needed)."""
from __future__ import annotations

import warnings

from ..activations import LEAKY_SLOPE
from ._common import LayerStack, require

SUPPORTED = ("Dense (activation linear, relu, sigmoid, tanh, softmax, gelu (approximate=False), "
             "silu/swish), each followed by at most one activation layer: Activation(one of those), "
             "ReLU(), LeakyReLU(negative_slope=0.01), Softmax(axis=-1); InputLayer, Identity and "
             "Dropout (inference: identity) anywhere; Flatten first; nested Sequential")


def _weights(layer) -> list:
    """``layer.get_weights()``, quiet about a NumPy 2 deprecation that Keras's
    torch backend triggers (``np.array`` of a torch tensor, whose ``__array__``
    has no ``copy`` keyword): it is not ours to fix and says nothing wrong here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"__array__ implementation doesn't accept a copy keyword",
                                category=DeprecationWarning)
        return layer.get_weights()


def _function_name(keras, fn, stack: LayerStack, what: str) -> str:
    """pyfwd's name for a Keras activation function (compared by identity, so a
    customised one such as leaky_relu with slope 0.2 is refused)."""
    acts = keras.activations
    table = {acts.linear: "linear", acts.relu: "relu", acts.sigmoid: "sigmoid", acts.tanh: "tanh",
             acts.softmax: "softmax", acts.gelu: "gelu", acts.silu: "silu"}
    for f, name in table.items():
        if fn is f:
            return name
    if fn is acts.leaky_relu:
        raise stack.unsupported(what, "keras.activations.leaky_relu has negative_slope=0.2; pyfwd's "
                                f"leaky_relu has slope {LEAKY_SLOPE}: use layers.LeakyReLU(negative_slope="
                                f"{LEAKY_SLOPE})")
    raise stack.unsupported(what, f"activation {getattr(fn, '__name__', fn)!r}")


def _layers(model, keras):
    """Layers in call order, nested Sequential models expanded."""
    for layer in model.layers:
        if isinstance(layer, keras.Sequential):
            yield from _layers(layer, keras)
        else:
            yield layer


def from_keras(model, dtype=None):
    """A :class:`pyfwd.Network` with the weights of a built Keras 3 model.

    *model* is a ``keras.Sequential`` (or a functional model whose layers form a
    chain) of ``Dense`` layers. A ``Dense`` kernel is ``(in, out)``; pyfwd stores
    its transpose ``(out, in)``. The dtype defaults to the weights'. Anything
    else raises :class:`UnsupportedLayerError` naming the layer.
    """
    keras = require("keras", "Network.from_keras")
    L = keras.layers
    if not isinstance(model, keras.Model):
        raise TypeError(f"from_keras expects a keras.Model (keras.Sequential), got {type(model).__name__}")
    if not model.built:
        raise ValueError("the Keras model is not built yet: call it on data or give it an Input shape")
    stack = LayerStack("Keras model", SUPPORTED)
    for i, layer in enumerate(_layers(model, keras)):
        what = f"#{i} {type(layer).__name__} {layer.name!r}"
        if type(layer) is L.Dense:
            ws = _weights(layer)
            stack.dense(ws[0].T, ws[1] if layer.use_bias else None, what)
            stack.activation(_function_name(keras, layer.activation, stack, what), what)
        elif type(layer) in (L.InputLayer, L.Dropout, L.Identity):
            continue
        elif type(layer) is L.Flatten:
            if stack.started:
                raise stack.unsupported(what, "Flatten is only accepted before the first layer")
        elif type(layer) is L.Activation:
            stack.activation(_function_name(keras, layer.activation, stack, what), what)
        elif type(layer) is L.ReLU:
            if layer.max_value is not None or float(layer.threshold) != 0.0:
                raise stack.unsupported(what, "ReLU with max_value or threshold")
            slope = float(layer.negative_slope)
            if slope not in (0.0, LEAKY_SLOPE):
                raise stack.unsupported(what, f"negative_slope={slope}; pyfwd has 0 (relu) and "
                                        f"{LEAKY_SLOPE} (leaky_relu)")
            stack.activation("relu" if slope == 0.0 else "leaky_relu", what)
        elif type(layer) is L.LeakyReLU:
            if float(layer.negative_slope) != LEAKY_SLOPE:
                raise stack.unsupported(what, f"negative_slope={layer.negative_slope}; pyfwd's leaky_relu "
                                        f"has slope {LEAKY_SLOPE} only")
            stack.activation("leaky_relu", what)
        elif type(layer) is L.Softmax:
            if layer.axis not in (-1, 1, [-1], [1]):
                raise stack.unsupported(what, f"axis={layer.axis}; pyfwd's softmax is over features (-1)")
            stack.activation("softmax", what)
        else:
            raise stack.unsupported(what)
    return stack.build(dtype)
