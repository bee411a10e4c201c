"""The train suite (issue 13): the time of one training epoch, pyfwd against PyTorch.

A case is a classifier (``Case`` with suite ``"train"``: relu hidden layers, a
softmax output) trained with cross-entropy and Adam (lr 1e-3) at the case's batch
size, float32, on the bundled MNIST training digits (``pyfwd.datasets.load_mnist``,
5,000 of them). Every trainer starts from the same initial weights (a
``pyfwd.Network`` of seed 0), keeps its optimiser across epochs, and runs one
warm-up epoch (compilation, first packing) before the timed ones; a row reports
the median epoch time of those (every epoch time is in ``samples_s``).

Trainers: pyfwd's backends through ``net.fit(..., epochs=1, optimizer=<one Adam
kept across epochs>, verbose=False)`` per epoch (the cpp backend at the ISA level
it picks, named like its forward column, e.g. ``cpp-avx2``; ``numba`` in the full
profile only, and only while an epoch takes under ``NUMBA_EPOCH_CAP_S``); PyTorch
eager (``torch``: ``nn.Sequential`` of ``nn.Linear``/``nn.ReLU``,
``CrossEntropyLoss`` on the logits, ``torch.optim.Adam``, a ``randperm`` shuffle
per epoch); and that step under ``torch.compile`` (``torch-compile``, full
profile only; skipped with the error when it does not compile).

The gate: before its epochs are timed, a trainer's gradients of the first batch
(the first ``batch`` digits, the initial weights) must lie within
``pyfwd.testing.gradient_bounds`` of the float64 oracle's (the numpy backend's
backward pass in float64) computed from the trainer's own forward values, as the
forward gate checks each layer from the kernel's own input. pyfwd's come from
``net.loss_and_gradients``; PyTorch's from its first step (``.grad`` after
``loss.backward()``), its loss head in float32 allowed the error of a float32
softmax, as tests/test_backward.py allows it.
"""
from __future__ import annotations

import statistics
import time

import numpy as np

from .cases import Case

#: Numba's training is timed (full profile) only while one epoch takes less than this.
NUMBA_EPOCH_CAP_S = 5.0
#: Adam's learning rate, as in issue 13 and bench/train_epoch.py.
LR = 1e-3
#: The train suite's kernel names after the cpp one (table order).
OTHER_NAMES = ("numba", "torch", "torch-compile")


def _check_case(case: Case) -> None:
    if any(a != "relu" for a in case.acts[:-1]) or case.acts[-1] != "softmax":
        raise ValueError(f"train cases are relu classifiers with a softmax output, got {case.acts}")


def _gradient_report(grads: dict, weights, acts, cache: dict, g: np.ndarray, e_start=None) -> str | None:
    """None if every gradient in *grads* is float32 and within the bound of the
    float64 oracle from *cache* (the trainer's own forward values), starting from
    *g*, the loss gradient wrt the logits; else what is wrong."""
    from pyfwd.testing import compare, gradient_bounds

    ref, bound = gradient_bounds(weights, acts, cache, dZ=g, dtype=np.float32, e_start=e_start)
    for key in sorted(ref):
        if key == "X":
            continue
        got = grads.get(key)
        if got is None:
            return f"first step: no gradient {key} (got {sorted(grads)})"
        got = np.asarray(got)
        if got.dtype != np.float32:
            return f"first step: gradient {key} dtype {got.dtype}, expected float32"
        msg = compare(got, ref[key], bound[key], f"first step's gradient {key}")
        if msg is not None:
            return msg
    return None


def _head(cache: dict, y: np.ndarray, n_layers: int):
    """The cross-entropy gradient wrt the logits (float64), from the forward values."""
    from pyfwd import losses

    L = n_layers
    t = losses.targets("cross_entropy", y, y.shape[0], cache[f"A{L}"].shape[1])
    _, g, wrt = losses.head("cross_entropy", np.asarray(cache[f"Z{L}"]), np.asarray(cache[f"A{L}"]), t)
    assert wrt == "Z"
    return g


class TrainKernel:
    """One trainer (a column of the train table)."""

    name = "?"
    description = ""
    #: Runs in profiles with ``train_slow`` only (its compile takes tens of seconds).
    slow = False
    slow_reason = ""
    #: Stop timing (the cell is skipped) once an epoch takes longer than this; None: no cap.
    epoch_cap_s: float | None = None

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason

    def set_threads(self, n: int) -> None:
        """Follow the cell's thread count (pyfwd's is set by the runner)."""

    def start(self, case: Case, init, X: np.ndarray, y: np.ndarray, seed: int) -> None:
        """Build the model and its optimiser from *init* (a pyfwd Network)."""
        raise NotImplementedError

    def gate(self, Xb: np.ndarray, yb: np.ndarray) -> str | None:
        """The first step's gradients on (Xb, yb) against the oracle: None or why not."""
        raise NotImplementedError

    def epoch(self, e: int) -> None:
        """One training epoch (shuffled from a seed of epoch *e*)."""
        raise NotImplementedError

    def info(self) -> dict:
        return {"description": self.description, "suites": ["train"], "dtypes": ["float32"],
                "computes": "network"}


class PyfwdTrain(TrainKernel):
    def __init__(self, name: str, backend: str, reason: str | None = None) -> None:
        super().__init__(reason)
        self.name, self.backend = name, backend
        self.description = (f"pyfwd's {backend} backend: Network.fit(epochs=1, optimizer=Adam kept across "
                            f"epochs) per epoch")
        if backend == "numba":
            self.epoch_cap_s = NUMBA_EPOCH_CAP_S
            self.slow = True
            self.slow_reason = ("numba training is timed in the full profile only (its first epoch compiles "
                                "the backward kernels for ~20 s)")

    def start(self, case, init, X, y, seed):
        import pyfwd

        self.net = pyfwd.Network.from_arrays(init.weights, init.biases, case.acts, dtype="float32")
        self.opt = pyfwd.optim.Adam(self.net, lr=LR)
        self.X, self.y, self.batch, self.seed = X, y, case.batch, seed

    def gate(self, Xb, yb):
        net, backend = self.net, self.backend
        _, grads = net.loss_and_gradients(Xb, yb, backend=backend)
        _, cache = net.forward(Xb, return_cache=True, backend=backend)
        g = _head(cache, yb, net.num_layers).astype(np.float32)
        return _gradient_report(grads, net.weights, net.activations, cache, g)

    def epoch(self, e):
        self.net.fit(self.X, self.y, optimizer=self.opt, epochs=1, batch_size=self.batch,
                     seed=self.seed * 1000 + e, verbose=False, backend=self.backend)

    def info(self):
        return {**super().info(), "backend": self.backend}


class TorchTrain(TrainKernel):
    def __init__(self, compiled: bool = False) -> None:
        from .peers import _import_error

        super().__init__(_import_error("torch"))
        self.compiled = compiled
        self.name = "torch-compile" if compiled else "torch"
        if compiled:
            self.slow = True
            self.slow_reason = "torch.compile is timed in the full profile only (compiling the step takes ~30 s)"
        if self.reason is None:
            import torch
            self.description = (f"PyTorch {torch.__version__} {'torch.compile(step)' if compiled else 'eager'}: "
                                f"nn.Linear/ReLU, CrossEntropyLoss, torch.optim.Adam, randperm batches")

    def set_threads(self, n):
        import torch

        torch.set_num_threads(n)

    def start(self, case, init, X, y, seed):
        import torch

        torch.manual_seed(seed)
        layers = []
        for W, b in zip(init.weights, init.biases):
            lin = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.array(W)))
                lin.bias.copy_(torch.from_numpy(np.array(b)))
            layers += [lin, torch.nn.ReLU()]
        self.model = model = torch.nn.Sequential(*layers[:-1])  # logits: CrossEntropyLoss applies the softmax
        self.opt = opt = torch.optim.Adam(model.parameters(), lr=LR)
        lossf = torch.nn.CrossEntropyLoss()

        def step(xb, yb):
            opt.zero_grad()
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()

        self.step = step
        if self.compiled:
            try:
                self.step = torch.compile(step)
            except Exception as exc:
                raise CompileFailed(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:300]})") from None
        self.X, self.y = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
        self.batch = case.batch
        self.gen = torch.Generator().manual_seed(seed)
        self.compile_s = None

    def _forward_cache(self, Xb) -> dict:
        import torch
        import torch.nn.functional as F

        lins = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        cache, A = {"A0": Xb}, torch.from_numpy(Xb)
        with torch.no_grad():
            for l, lin in enumerate(lins, start=1):
                Z = F.linear(A, lin.weight, lin.bias)
                A = torch.softmax(Z, dim=1) if l == len(lins) else torch.relu(Z)
                cache[f"Z{l}"], cache[f"A{l}"] = Z.numpy().copy(), A.numpy().copy()
        return cache

    def gate(self, Xb, yb):
        import torch

        lins = [m for m in self.model if isinstance(m, torch.nn.Linear)]
        weights = [lin.weight.detach().numpy().copy() for lin in lins]
        cache = self._forward_cache(Xb)
        t0 = time.perf_counter()
        try:
            self.step(torch.from_numpy(Xb), torch.from_numpy(yb.astype(np.int64)))
        except Exception as exc:
            if self.compiled:  # not a wrong answer: this machine cannot compile the step
                raise CompileFailed(f"torch.compile failed ({type(exc).__name__}: {str(exc)[:300]})") from None
            raise
        self.compile_s = time.perf_counter() - t0 if self.compiled else None
        grads = {}
        for l, lin in enumerate(lins, start=1):
            grads[f"W{l}"] = lin.weight.grad.numpy().copy()
            grads[f"b{l}"] = lin.bias.grad.numpy().copy()
        L = len(lins)
        g = _head(cache, yb, L)
        # PyTorch computes the head in float32: its softmax within u (N + 20 + 2 max|z|)
        # of the exact one (the forward bound), summed over the batch's mean
        Z = cache[f"Z{L}"].astype(np.float64)
        zmax = np.abs(Z).max(axis=1, keepdims=True)
        e_start = 2.0 ** -24 * (Z.shape[1] + 20 + 2 * zmax) * (np.abs(g) + 1.0 / g.size) * 4
        acts = ["relu"] * (L - 1) + ["softmax"]
        return _gradient_report(grads, weights, acts, cache, g.astype(np.float32), e_start)

    def epoch(self, e):
        import torch

        n, b = len(self.X), self.batch
        perm = torch.randperm(n, generator=self.gen)
        for s in range(0, n, b):
            idx = perm[s:s + b]
            self.step(self.X[idx], self.y[idx])


class CompileFailed(Exception):
    """torch.compile could not build the step here: the cell is skipped, with this reason."""


def discover(patterns, cpp_default: str | None) -> list[TrainKernel]:
    """The selected trainers: pyfwd's cpp (named *cpp_default*, its forward
    column's name), numba, PyTorch eager and compiled."""
    from .kernels import _backend, select

    cpp_name = cpp_default or "cpp"
    names = select((cpp_name, *OTHER_NAMES), patterns)
    if cpp_name not in names and select(["cpp"], patterns):  # "cpp" selects the cpp trainer too
        names.insert(0, cpp_name)
    out: list[TrainKernel] = []
    for name in names:
        if name in (cpp_name, "numba"):
            backend = "cpp" if name == cpp_name else "numba"
            out.append(PyfwdTrain(name, backend, _backend(backend)[1]))
        else:
            out.append(TorchTrain(compiled=name == "torch-compile"))
    return out


_DATA: list = []


def train_data(rows: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST training digits (float32 pixels, int64 labels), the first *rows*."""
    if not _DATA:
        from pyfwd.datasets import load_mnist

        (X, y), _ = load_mnist()
        _DATA.append((np.ascontiguousarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64)))
    X, y = _DATA[0]
    return (X, y) if rows is None else (X[:rows], y[:rows])


def cell(k: TrainKernel, case: Case, T: int, prof, seed: int = 0) -> dict:
    """One (case, thread count, trainer) row: gate, warm-up epoch, timed epochs."""
    import pyfwd

    _check_case(case)
    X, y = train_data(prof.train_rows)
    row = {"suite": "train", "case": case.key, "label": case.label, "dtype": case.dtype, "threads": T,
           "kernel": k.name, "status": "ok", "reason": None, "dims": list(case.dims),
           "activations": list(case.acts), "bias": True, "batch": case.batch, "flops": None,
           "median_s": None, "p10_s": None, "p90_s": None, "train_rows": int(len(X)),
           "gflops": None, "pct_peak": None}
    if k.reason is not None:
        row.update(status="skipped", reason=k.reason)
        return row
    if k.slow and not prof.train_slow:
        row.update(status="skipped", reason=f"{prof.name} profile: {k.slow_reason}")
        return row
    try:
        k.set_threads(T)
        init = pyfwd.Network(list(case.dims), list(case.acts), seed=seed)
        k.start(case, init, X, y, seed)
        msg = k.gate(X[:case.batch], y[:case.batch])
        row["gate"] = {"first_step_gradients": True, "rows_checked": int(min(case.batch, len(X))),
                       "against": "gradient_bounds of the float64 oracle from the trainer's own forward"}
        if getattr(k, "compile_s", None) is not None:
            row["compile_s"] = k.compile_s
        if msg is not None:
            row.update(status="FAILED", reason=msg)
            return row
        t0 = time.perf_counter()
        k.epoch(0)  # warm-up
        row["first_epoch_s"] = time.perf_counter() - t0
        times: list[float] = []
        for e in range(1, prof.train_epochs + 1):
            t0 = time.perf_counter()
            k.epoch(e)
            times.append(time.perf_counter() - t0)
            if k.epoch_cap_s is not None and times[-1] > k.epoch_cap_s:
                row.update(status="skipped", reason=f"one epoch took {times[-1]:.1f} s (> {k.epoch_cap_s:g} s "
                                                    f"cap for {k.name} training): not timed further")
                return row
    except CompileFailed as exc:
        row.update(status="skipped", reason=str(exc))
        return row
    except Exception as exc:  # a trainer that raises is as wrong as one that lies
        row.update(status="FAILED", reason=f"raised {type(exc).__name__}: {exc}")
        return row
    s = np.asarray(times)
    row.update(median_s=float(statistics.median(times)), p10_s=float(np.percentile(s, 10)),
               p90_s=float(np.percentile(s, 90)), min_s=float(s.min()), mean_s=float(s.mean()),
               n_samples=len(times), samples_s=[float(t) for t in times],
               samples_per_s=len(X) / float(statistics.median(times)))
    return row
