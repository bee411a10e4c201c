"""pyfwd.viz: figures built headless, showing the network's real values, saved as PNG."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import pyfwd
from pyfwd.datasets import load_mnist
from pyfwd.testing import network_bounds

mpl = pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install \"pyfwd[viz]\")")

from pyfwd import viz  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bar_heights(ax):
    return np.array([p.get_height() for p in ax.patches])


def _check_bars_match_reference(net, x, axes_by_layer):
    """Each panel's bar heights are that layer's activations (numerics contract)."""
    bounds = network_bounds(net.weights, net.biases, net.activations, x.reshape(1, -1), net.dtype)
    for l, ax in axes_by_layer.items():
        heights = _bar_heights(ax)
        ref, tol = bounds[l - 1].A.reshape(-1), bounds[l - 1].eA.reshape(-1)
        assert heights.shape == ref.shape
        bad = np.flatnonzero(~(np.abs(heights - ref) <= tol))
        assert bad.size == 0, (f"layer {l} ({net.activations[l - 1]}, default backend {pyfwd.current_backend()}): "
                               f"bars {heights[bad[:3]]} but the reference is {ref[bad[:3]]}")


def test_plot_activations_shows_each_layer_and_saves_png(tmp_path):
    net = pyfwd.Network([3, 4, 2], ["relu", "sigmoid"], seed=1)
    x = np.array([1.0, -2.0, 0.5], dtype=np.float32)
    path = tmp_path / "sub" / "act.png"
    fig = viz.plot_activations(net, x, path=path, include_input=True)
    assert isinstance(fig, mpl.figure.Figure)
    axes = fig.axes
    assert len(axes) == 3
    np.testing.assert_array_equal(_bar_heights(axes[0]), x)
    _check_bars_match_reference(net, x, {1: axes[1], 2: axes[2]})
    assert "layer 1 (relu)" in axes[1].get_title(loc="left")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_headless_agg_without_pyplot(tmp_path):
    # A fresh interpreter with no display: the figure uses the Agg canvas and
    # pyfwd.viz never imports pyplot (no global figure registry to leak into).
    import subprocess
    code = ("import sys, numpy as np, pyfwd, pyfwd.viz as v; "
            "f = v.plot_activations(pyfwd.Network([4, 3], 'tanh', seed=0), np.ones(4), path=sys.argv[1]); "
            "print(type(f.canvas).__name__, 'matplotlib.pyplot' in sys.modules)")
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("DISPLAY", "MPLBACKEND")}
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.png")], capture_output=True,
                         text=True, check=True, env=env)
    assert out.stdout.split() == ["FigureCanvasAgg", "False"]
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC


def test_plot_network_processing_mnist(tmp_path):
    _, (Xt, yt) = load_mnist()
    net = pyfwd.Network([784, 32, 16, 10], ["relu", "tanh", "softmax"], seed=0)
    image = Xt[0].reshape(28, 28)
    path = tmp_path / "proc.png"
    fig = viz.plot_network_processing(net, image, label=yt[0], path=path)
    axes = fig.axes
    assert len(axes) == 4  # image, 2 hidden layers, output
    np.testing.assert_array_equal(axes[0].images[0].get_array(), image)
    _check_bars_match_reference(net, Xt[0], {1: axes[1], 2: axes[2], 3: axes[3]})
    probs = net.forward(Xt[0])
    pred = int(np.argmax(probs))
    title = axes[3].get_title()
    assert f"predicted {pred}" in title and f"actual {yt[0]}" in title
    assert ("correct" if pred == yt[0] else "wrong") in title
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_network_processing_non_square_and_names():
    net = pyfwd.Network([6, 3], "sigmoid", seed=2)
    fig = viz.plot_network_processing(net, np.arange(6.0) / 6, label=1, class_names=["a", "b", "c"])
    assert fig.axes[0].images[0].get_array().shape == (1, 6)
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="class_names has 2 names for 3 outputs"):
        viz.plot_network_processing(net, np.zeros(6), class_names=["a", "b"])


def test_wrong_sample_shape_is_clear():
    net = pyfwd.Network([4, 2], "relu", seed=0)
    with pytest.raises(ValueError, match=r"one sample of 4 features.*got shape \(2, 4\)"):
        viz.plot_activations(net, np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"one sample of 4 features.*got shape \(5,\)"):
        viz.plot_network_processing(net, np.zeros(5))


def test_missing_matplotlib_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    net = pyfwd.Network([2, 1], "relu", seed=0)
    with pytest.raises(ImportError, match=r'pip install "pyfwd\[viz\]"'):
        viz.plot_activations(net, np.zeros(2))


@pytest.mark.parametrize("label, exc, match", [
    (-1, ValueError, r"label must be a class index from 0 to 2 \(the network has 3 outputs\), got -1"),
    (3, ValueError, r"from 0 to 2 .*got 3"),
    (1.0, TypeError, r"label must be an integer class index, got float 1.0"),
    ("1", TypeError, r"got str '1'"),
])
def test_bad_label_is_clear(label, exc, match):
    net = pyfwd.Network([6, 3], "softmax", seed=2)
    with pytest.raises(exc, match=match):
        viz.plot_network_processing(net, np.zeros(6), label=label)
    fig = viz.plot_network_processing(net, np.zeros(6), label=np.int64(2))
    assert "actual 2" in fig.axes[1].get_title()
