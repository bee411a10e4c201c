"""Training on the bundled MNIST subset: pyfwd vs PyTorch eager, same settings.

[784, 128, 10] relu/softmax, cross-entropy, Adam lr 1e-3, batch 64, float32, the
5,000 training digits; test accuracy on the 1,000 test digits after EPOCHS epochs
for each seed, and the median time of one epoch (shuffling and every step, no
validation). The accuracy script: the epoch timings, gated and side by side with
numba and torch.compile, are the bench's train suite (``python -m pyfwd.bench
--suite train``, docs/bench.md); this script trains to the end and reports test
accuracy over seeds:

    PYTHONPATH=src python bench/train_epoch.py [--epochs 20] [--seeds 0,1,2] [--threads 2]
    PYTHONPATH=src python bench/train_epoch.py --epochs 3 --dims 784,512,512,10 --batch 256

Timings on a shared machine are noisy: read them as such.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import pyfwd
from pyfwd.datasets import load_mnist


def pyfwd_run(dims, X, y, Xt, yt, epochs, batch, seed, backend):
    net = pyfwd.Network(dims, ["relu"] * (len(dims) - 2) + ["softmax"], seed=seed)
    times = []
    opt = pyfwd.optim.Adam(net, lr=1e-3)
    for e in range(epochs):
        t0 = time.perf_counter()
        net.fit(X, y, optimizer=opt, epochs=1, batch_size=batch, seed=seed * 1000 + e, verbose=False,
                backend=backend)
        times.append(time.perf_counter() - t0)
    return float(np.mean(net.predict(Xt, backend=backend) == yt)), times


def torch_run(dims, X, y, Xt, yt, epochs, batch, seed, compiled=False):
    import torch
    torch.manual_seed(seed)
    layers = []
    for k, n in zip(dims[:-1], dims[1:]):
        layers += [torch.nn.Linear(k, n), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])  # logits; CrossEntropyLoss applies the softmax
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    Xtr, ytr = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))

    def step(xb, yb):
        opt.zero_grad()
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()

    if compiled:
        step = torch.compile(step)
    g = torch.Generator().manual_seed(seed)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(X), generator=g)
        for s in range(0, len(X), batch):
            idx = perm[s:s + batch]
            step(Xtr[idx], ytr[idx])
        times.append(time.perf_counter() - t0)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(Xt)).argmax(1).numpy() == yt).mean())
    return acc, times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dims", default="784,128,10")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--backends", default="cpp")
    p.add_argument("--no-torch", action="store_true")
    a = p.parse_args()
    dims = [int(d) for d in a.dims.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    (X, y), (Xt, yt) = load_mnist()
    pyfwd.set_num_threads(a.threads)
    runs = {f"pyfwd {b}": (lambda s, b=b: pyfwd_run(dims, X, y, Xt, yt, a.epochs, a.batch, s, b))
            for b in a.backends.split(",")}
    if not a.no_torch:
        import torch
        torch.set_num_threads(a.threads)
        runs["torch eager"] = lambda s: torch_run(dims, X, y, Xt, yt, a.epochs, a.batch, s)
    print(f"{dims} batch {a.batch}, {a.epochs} epochs, {a.threads} threads, seeds {seeds} (timings noisy)")
    for name, run in runs.items():
        accs, times = [], []
        for s in seeds:
            acc, t = run(s)
            accs.append(acc)
            times += t[1:] if len(t) > 1 else t  # the first epoch warms up
        print(f"{name:14s} test accuracy {' '.join(f'{x:.4f}' for x in accs)} (mean {np.mean(accs):.4f}); "
              f"epoch median {statistics.median(times) * 1e3:.0f} ms, min {min(times) * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
