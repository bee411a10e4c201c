"""What rounding the weights to 16 bits costs on MNIST (issue 11): the sklearn-trained
[784, 128, 10] network of examples/02_mnist.py, its test accuracy and outputs with
float32, bfloat16 and float16 weights, compute="fp32" and "bf16".

Run: PYTHONPATH=src python bench/weights16_accuracy.py   (about 10 s; deterministic)
"""
from __future__ import annotations

import warnings

import numpy as np

import pyfwd
from pyfwd.datasets import load_mnist


def main() -> None:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    (X_train, y_train), (X_test, y_test) = load_mnist()
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=15, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    net = pyfwd.Network.from_sklearn(clf)
    X = X_test.astype(np.float32)
    P32 = net.predict_proba(X)
    print(f"MNIST test set: {len(y_test)} digits; [784, 128, 10] from MLPClassifier (examples/02_mnist.py)")
    print(f"{'weights':<10} {'compute':<8} {'accuracy':>9} {'changed':>8} {'max |dp|':>9} {'mean |dp|':>10}")
    for wd in (None, "bfloat16", "float16"):
        n = net if wd is None else net.with_weight_dtype(wd)
        for compute in ("fp32", "bf16"):
            if compute == "bf16" and wd is None:
                continue
            P = n.forward(X, compute=compute)
            pred = n.classes_[np.argmax(P, axis=1)]
            acc = float(np.mean(pred == y_test))
            changed = int(np.sum(np.argmax(P, 1) != np.argmax(P32, 1)))
            dp = np.abs(P.astype(np.float64) - P32)
            print(f"{str(wd or 'float32'):<10} {compute:<8} {acc:>9.4f} {changed:>8d} {dp.max():>9.2e} {dp.mean():>10.2e}")


if __name__ == "__main__":
    main()
