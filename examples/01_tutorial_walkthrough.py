"""The tutorial, step by step: a toy [3, 4, 2] network, its parameter shapes, a
forward pass with its caches (the tutorial's column layout and pyfwd's row
layout), and a bar chart of one sample's activations.

    python examples/01_tutorial_walkthrough.py [OUTPUT_DIR]

Runs offline in a few seconds; the figure goes to OUTPUT_DIR (default
./pyfwd_examples_out). Needs matplotlib for the figure (pip install "pyfwd[viz]").
"""
import argparse
from pathlib import Path

import numpy as np

import pyfwd
from pyfwd.testing import assert_forward_close


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"pyfwd {pyfwd.__version__}, backends: {', '.join(pyfwd.backends())}")

    # 1. The tutorial's class: samples are COLUMNS, X is (n_features, batch).
    nn = pyfwd.NeuralNetwork([3, 4, 2], ["relu", "sigmoid"], seed=1)
    print("\nParameters (tutorial layout):")
    for name, value in nn.parameters.items():
        print(f"  {name}: shape {value.shape}")

    rng = np.random.default_rng(0)
    X_fm = rng.standard_normal((3, 5))  # 3 features, 5 samples
    AL, caches = nn.forward_propagation(X_fm)
    print(f"\nX shape: {X_fm.shape} (features, batch)")
    print(f"AL shape: {AL.shape}")
    print("caches:")
    for key, value in caches.items():
        print(f"  {key}: shape {value.shape}")
    print("AL (each column is one sample's output, sigmoid in (0, 1)):")
    print(np.array2string(AL, precision=4))

    # 2. The same parameters as a pyfwd.Network: samples are ROWS, X is (batch, features).
    net = nn.network
    print("\n" + net.summary())
    X = X_fm.T
    Y, cache = net.forward(X, return_cache=True)
    print(f"Network input {X.shape} -> output {Y.shape}; cache keys: {', '.join(cache)}")
    print(f"max |NeuralNetwork AL - Network output.T| = {np.max(np.abs(AL - Y.T)):.3g}")

    # Every backend gives the reference result within pyfwd's numerics contract.
    for backend in pyfwd.backends():
        Yb, cache_b = net.forward(X, return_cache=True, backend=backend)
        assert_forward_close(Yb, net.weights, net.biases, net.activations, X, cache=cache_b)
        print(f"backend {backend}: within the numerics contract "
              f"(max |diff| to numpy {np.max(np.abs(Yb - Y)):.3g})")

    # 3. The activation plot for the first sample.
    try:
        from pyfwd.viz import plot_activations
    except ImportError as exc:  # pragma: no cover - depends on the environment
        print(f"\nskipping the figure: {exc}")
        return
    path = out_dir / "01_toy_activations.png"
    plot_activations(net, X[0], path=path, include_input=True,
                     title="Toy network [3, 4, 2]: activations of sample 0")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="pyfwd_examples_out", type=Path)
    main(parser.parse_args().out_dir)
