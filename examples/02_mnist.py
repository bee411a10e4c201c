"""MNIST as the tutorial does it, then pyfwd trains the network itself.

1. An untrained [784, 128, 10] network (He initialisation) on the 1,000 bundled
   test digits: accuracy near chance (0.1), and the "network processing" figure
   for one digit.
2. The same network trained by pyfwd (forward with the cache, cross-entropy,
   backpropagation, Adam lr 1e-3, batch 64) on the 5,000 bundled training
   digits, once per backend from the same initial weights and shuffling seed:
   test accuracy on the 1,000 test digits and seconds per epoch. The float32
   backends land within a few hundredths of a percent of the float64 oracle's
   accuracy (rounding differs, the learning does not).

    python examples/02_mnist.py [OUTPUT_DIR] [--epochs 20] [--mnist PATH] [--backends cpp,numba]

Offline (the digits ship inside pyfwd). With ``--mnist PATH`` (a folder with the
four IDX files of the full MNIST, or a Keras ``mnist.npz``) it trains on the
60,000 digits and tests on the 10,000. Figures go to OUTPUT_DIR (default
./pyfwd_examples_out) and need matplotlib (pyfwd[viz]).
"""
import argparse
import time
from pathlib import Path

import numpy as np

import pyfwd
from pyfwd.datasets import load_mnist


def figure(net, image, label, path, title):
    try:
        from pyfwd.viz import plot_network_processing
    except ImportError as exc:  # pragma: no cover - depends on the environment
        print(f"skipping {path.name}: {exc}")
        return
    plot_network_processing(net, image, label, path=path, title=title)
    print(f"wrote {path}")


def main(out_dir: Path, epochs: int, mnist: str | None, backends: list[str]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (X_train, y_train), (X_test, y_test) = load_mnist(mnist)
    print(f"MNIST{'' if mnist else ' subset'}: train {X_train.shape}, test {X_test.shape}, pixels in "
          f"[{X_train.min():g}, {X_train.max():g}], first labels {y_test[:5].tolist()}")

    # -- 1. untrained --------------------------------------------------------
    net = pyfwd.Network([784, 128, 10], ["relu", "softmax"], seed=42)
    print("\n" + net.summary())
    acc = float(np.mean(net.predict(X_test) == y_test))
    print(f"untrained accuracy: {acc:.4f} (chance is 0.1)")
    figure(net, X_test[0], y_test[0], out_dir / "02_untrained_processing.png",
           "Untrained [784, 128, 10] network: a guess")

    # -- 2. trained by pyfwd, on every backend -----------------------------------
    print(f"\ntraining [784, 128, 10] relu/softmax: cross_entropy, Adam lr 1e-3, batch 64, {epochs} epochs")
    trained = None
    for backend in backends:
        model = pyfwd.Network([784, 128, 10], ["relu", "softmax"], seed=0)
        model.fit(X_train[:64], y_train[:64], epochs=1, backend=backend, verbose=False)  # warm-up (Numba compiles)
        model = pyfwd.Network([784, 128, 10], ["relu", "softmax"], seed=0)
        t0 = time.perf_counter()
        hist = model.fit(X_train, y_train, loss="cross_entropy", optimizer="adam", lr=1e-3, epochs=epochs,
                         batch_size=64, seed=0, validation_data=(X_test, y_test), backend=backend,
                         verbose=False)
        per_epoch = (time.perf_counter() - t0) / epochs
        test = model.evaluate(X_test, y_test, backend=backend)
        print(f"backend {backend}: test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}, "
              f"train loss {hist['loss'][-1]:.4f} ({per_epoch * 1e3:.0f} ms per epoch, incl. validation)")
        trained = trained or model

    pred = trained.predict(X_test)
    wrong = np.flatnonzero(pred != y_test)
    figure(trained, X_test[0], y_test[0], out_dir / "02_trained_processing.png",
           "[784, 128, 10] network trained by pyfwd")
    if wrong.size:
        i = int(wrong[0])
        figure(trained, X_test[i], y_test[i], out_dir / "02_trained_mistake.png",
               f"A test digit the trained network gets wrong (#{i})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", nargs="?", default="pyfwd_examples_out", type=Path)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--mnist", default=None, help="path to the full MNIST (IDX folder or mnist.npz)")
    parser.add_argument("--backends", default=",".join(pyfwd.backends()),
                        help="comma-separated backends, default all: " + ",".join(pyfwd.backends()))
    a = parser.parse_args()
    main(a.out_dir, a.epochs, a.mnist, [b for b in a.backends.split(",") if b])
