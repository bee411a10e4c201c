"""MNIST as the tutorial does it, then a real trained network.

1. An untrained [784, 128, 10] network (He initialisation) on the 1,000 bundled
   test digits: accuracy near chance (0.1), and the "network processing" figure
   for one digit.
2. scikit-learn's MLPClassifier(hidden_layer_sizes=(128,)) trained on the 5,000
   bundled training digits, imported with Network.from_sklearn and run on the
   test digits by every pyfwd backend: accuracy and the largest difference to
   scikit-learn's own predict_proba.

    python examples/02_mnist.py [OUTPUT_DIR]

Offline (the digits ship inside pyfwd), well under a minute. Figures go to
OUTPUT_DIR (default ./pyfwd_examples_out). Part 2 needs scikit-learn
(pip install "pyfwd[interop]"); the figures need matplotlib (pyfwd[viz]).
"""
import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import pyfwd
from pyfwd.datasets import load_mnist
from pyfwd.testing import assert_forward_close


def figure(net, image, label, path, title):
    try:
        from pyfwd.viz import plot_network_processing
    except ImportError as exc:  # pragma: no cover - depends on the environment
        print(f"skipping {path.name}: {exc}")
        return
    plot_network_processing(net, image, label, path=path, title=title)
    print(f"wrote {path}")


def main(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (X_train, y_train), (X_test, y_test) = load_mnist()
    print(f"MNIST subset: train {X_train.shape}, test {X_test.shape}, pixels in "
          f"[{X_train.min():g}, {X_train.max():g}], first labels {y_test[:5].tolist()}")

    # -- 1. untrained --------------------------------------------------------
    net = pyfwd.Network([784, 128, 10], ["relu", "softmax"], seed=42)
    print("\n" + net.summary())
    acc = float(np.mean(net.predict(X_test) == y_test))
    print(f"untrained accuracy: {acc:.4f} (chance is 0.1)")
    figure(net, X_test[0], y_test[0], out_dir / "02_untrained_processing.png",
           "Untrained [784, 128, 10] network: a guess")

    # -- 2. trained with scikit-learn, run by pyfwd -----------------------------
    try:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
    except ImportError:
        print('\nscikit-learn is not installed: pip install "pyfwd[interop]" for part 2')
        return
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=15, random_state=0)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # 15 epochs are plenty for this demo; scikit-learn warns that the
        # optimiser has not fully converged.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    print(f"\ntrained MLPClassifier(hidden_layer_sizes=(128,)) on {len(X_train)} digits "
          f"in {time.perf_counter() - t0:.1f} s")
    reference = clf.predict_proba(X_test)
    print(f"scikit-learn test accuracy: {np.mean(clf.predict(X_test) == y_test):.4f}")

    trained = pyfwd.Network.from_sklearn(clf)
    print(f"imported: {trained}")
    for backend in pyfwd.backends():
        trained.forward(X_test[:2], backend=backend)  # warm-up (Numba compiles on first use)
        t0 = time.perf_counter()
        probs = trained.forward(X_test, backend=backend)
        ms = (time.perf_counter() - t0) * 1e3
        assert_forward_close(probs, trained.weights, trained.biases, trained.activations, X_test)
        acc = float(np.mean(np.argmax(probs, axis=1) == y_test))
        diff = float(np.max(np.abs(probs.astype(np.float64) - reference)))
        print(f"backend {backend}: accuracy {acc:.4f}, max |diff| vs predict_proba {diff:.3g} "
              f"({ms:.2f} ms for {len(X_test)} digits)")

    pred = trained.predict(X_test)
    wrong = np.flatnonzero(pred != y_test)
    figure(trained, X_test[0], y_test[0], out_dir / "02_trained_processing.png",
           "Trained [784, 128, 10] network (scikit-learn weights, pyfwd forward)")
    if wrong.size:
        i = int(wrong[0])
        figure(trained, X_test[i], y_test[i], out_dir / "02_trained_mistake.png",
               f"A test digit the trained network gets wrong (#{i})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="pyfwd_examples_out", type=Path)
    main(parser.parse_args().out_dir)
