"""Pictures of a network at work (needs matplotlib: ``pip install "pyfwd[viz]"``).

* :func:`plot_activations` -- one bar chart per layer of a sample's activations.
* :func:`plot_network_processing` -- an image going through the network: the input
  picture, every hidden layer's activations, the output probabilities, and the
  predicted versus the actual class.

Both build a :class:`matplotlib.figure.Figure` directly (no ``pyplot``, so no
global state and no display needed: they work headless with the Agg canvas),
return it, and save a PNG when given ``path``.
"""
from __future__ import annotations

import math
import operator
import os

import numpy as np

__all__ = ["plot_activations", "plot_network_processing"]

_ACCENT, _MUTED, _POS, _NEG, _TRUE = "#1f77b4", "#b0b0b0", "#2c7fb8", "#d95f02", "#1b9e77"  # predicted, other, +, -, actual


def _figure(figsize):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError('pyfwd.viz needs matplotlib: pip install "pyfwd[viz]"') from exc
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself: savefig works headless
    return fig


def _save(fig, path, dpi):
    if path is not None:
        path = os.fspath(path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        fig.savefig(path, dpi=dpi, format="png")


def _one_sample(net, x, name: str) -> np.ndarray:
    x = np.asarray(x)
    n_in = net.layer_dims[0]
    if x.size != n_in:
        raise ValueError(f"{name} must be one sample of {n_in} features (shape ({n_in},), (1, {n_in}) "
                         f"or an image of {n_in} pixels), got shape {x.shape}")
    return x.reshape(1, n_in)


def _bars(ax, values):
    """Unit index against value: positive blue, negative orange."""
    from matplotlib.ticker import MaxNLocator

    idx = np.arange(values.size)
    colors = np.where(values >= 0, _POS, _NEG)
    ax.bar(idx, values, width=0.85 if values.size <= 64 else 1.0, color=list(colors), linewidth=0)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xlim(-0.6, values.size - 0.4)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # units are whole numbers
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def plot_activations(net, x, *, path=None, backend=None, include_input=False, title=None,
                     dpi=110):
    """Bar charts of one sample's activations ``A_1 .. A_L``, one panel per layer.

    *x* is one sample (``(n_in,)`` or ``(1, n_in)``). Each panel shows unit index
    against activation value (positive blue, negative orange) and is titled with
    the layer, its activation and how many units are active (non-zero).
    ``include_input=True`` adds a first panel for ``A_0``. Returns the Figure;
    saves a PNG to *path* when given.
    """
    x = _one_sample(net, x, "x")
    _, cache = net.forward(x, return_cache=True, backend=backend)
    layers = list(range(0 if include_input else 1, net.num_layers + 1))
    fig = _figure((9.0, 1.9 * len(layers) + 0.6))
    axes = fig.subplots(len(layers), 1, squeeze=False)[:, 0]
    for ax, l in zip(axes, layers):
        a = np.asarray(cache[f"A{l}"], dtype=np.float64).reshape(-1)
        _bars(ax, a)
        if l == 0:
            label = f"input A0: {a.size} features"
        else:
            active = int(np.count_nonzero(a))
            label = (f"layer {l} ({net.activations[l - 1]}): A{l}, {a.size} units, "
                     f"{active} non-zero, range [{a.min():.3g}, {a.max():.3g}]")
        ax.set_title(label, loc="left", fontsize=10)
        ax.set_ylabel("activation")
    axes[-1].set_xlabel("unit")
    fig.suptitle(title or f"Activations of one sample through {net.layer_dims}", fontsize=12)
    _save(fig, path, dpi)
    return fig


def _as_image(x: np.ndarray):
    n = x.size
    side = math.isqrt(n)
    if side * side == n:
        return x.reshape(side, side)
    return x.reshape(1, n)  # not square: a strip


def _class_index(label, n_classes: int) -> int:
    """*label* as a class index in ``0 .. n_classes-1`` (a negative one would
    silently pick a class from the end)."""
    try:
        i = operator.index(label)
    except TypeError:
        raise TypeError(f"label must be an integer class index, got {type(label).__name__} {label!r}") from None
    if not 0 <= i < n_classes:
        raise ValueError(f"label must be a class index from 0 to {n_classes - 1} (the network has {n_classes} "
                         f"outputs), got {i}")
    return i


def plot_network_processing(net, image, label=None, *, path=None, backend=None, class_names=None,
                            title=None, dpi=110):
    """How one image flows through *net*: the input picture, each hidden layer's
    activations, and the output probabilities, with predicted vs actual class.

    *image* is one sample: ``(28, 28)`` or ``(784,)`` for MNIST (any square
    number of pixels is drawn as a square picture). *label* is the true class
    (optional): an integer from 0 to the number of outputs - 1, else
    ``ValueError`` (``TypeError`` when not an integer). The predicted class is the output's argmax, drawn in blue; the
    true class, when different, in green. Returns the Figure; saves a PNG to
    *path* when given.
    """
    x = _one_sample(net, image, "image")
    y, cache = net.forward(x, return_cache=True, backend=backend)
    probs = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = int(np.argmax(probs))
    names = list(class_names) if class_names is not None else [str(i) for i in range(probs.size)]
    if len(names) != probs.size:
        raise ValueError(f"class_names has {len(names)} names for {probs.size} outputs")
    if label is not None:
        label = _class_index(label, probs.size)
    L = net.num_layers
    fig = _figure((4.0 + 3.6 * L, 3.8))
    axes = fig.subplots(1, L + 1, width_ratios=[1.0] + [1.35] * L)

    ax = axes[0]
    ax.imshow(_as_image(x[0]), cmap="gray_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("input" + ("" if label is None else f" (actual: {names[label]})"), fontsize=10)

    for l in range(1, L):
        a = np.asarray(cache[f"A{l}"], dtype=np.float64).reshape(-1)
        _bars(axes[l], a)
        axes[l].set_title(f"hidden layer {l} ({net.activations[l - 1]})\n"
                          f"{np.count_nonzero(a)} of {a.size} units active", fontsize=10)
        axes[l].set_xlabel("unit")

    ax = axes[L]
    highlight = {}
    if label is not None and label != pred:
        highlight[label] = _TRUE
    highlight[pred] = _ACCENT
    colors = np.full(probs.size, _MUTED, dtype=object)
    for i, c in highlight.items():
        colors[i] = c
    ax.bar(np.arange(probs.size), probs, color=list(colors))
    ax.set_xticks(np.arange(probs.size), names)
    ticks = ax.get_xticklabels()
    for i, c in highlight.items():  # the class names too, where a bar is too small to see
        ticks[i].set_color(c)
        ticks[i].set_fontweight("bold")
    ax.set_xlim(-0.6, probs.size - 0.4)
    is_prob = net.activations[-1] in ("softmax", "sigmoid")
    if is_prob:
        ax.set_ylim(0, 1.05)
    ax.set_ylabel("probability" if is_prob else "output")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    verdict = f"predicted {names[pred]} ({probs[pred]:.2f})"
    if label is not None:
        verdict += f", actual {names[label]}: " + ("correct" if label == pred else "wrong")
    ax.set_title(f"output ({net.activations[-1]})\n{verdict}", fontsize=10)

    fig.suptitle(title or f"Network {net.layer_dims} processing one image", fontsize=12)
    _save(fig, path, dpi)
    return fig
