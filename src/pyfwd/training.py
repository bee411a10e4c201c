"""The learning loop behind :class:`Network`'s training methods: forward with the
cache, the loss (:mod:`pyfwd.losses`), the backward pass
(:mod:`pyfwd.backends.backward`, on the chosen backend), the update
(:mod:`pyfwd.optim`), repeated over shuffled mini-batches.

Gradients come back in the network's dtype, keyed like ``net.params``. The loss
head (loss value and its gradient wrt the output) is computed in float64 from
the backend's own ``Z_L``/``A_L`` on every backend; the ``numpy`` backend then
runs the whole backward pass in float64 from the cache (the oracle), the others
in the network's dtype.

On the ``cpp`` backend, fit's common case (softmax output, cross-entropy on class
indices, SGD/Adam/AdamW) runs its steps natively (``_core.Network.fit_xent_steps``,
train_loop.h): a whole epoch per call, or runs sized to update the progress bar about
every 0.1 s, with no Python between the steps and the same bits as the per-step loop
below. The network and the optimiser are updated when a run finishes.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import numpy as np

from . import _config, losses, optim
from ._progress import EpochBar
from ._validate import as_array
from .backends.backward import backward as _backward
from .backends.backward import ops_for

if TYPE_CHECKING:  # pragma: no cover
    from .network import Network

__all__ = ["loss_and_gradients", "backward", "fit", "evaluate"]


def _inputs(net: "Network", X, what: str = "X") -> np.ndarray:
    from .network import _prep_input
    X2, _ = _prep_input(X, net.dtype, net.layer_dims[0], f"{what}: layer 1")
    return X2


def _head(be, loss: str, ZL, AL, t: losses.Targets, dtype):
    """``(value, gradient, wrt, correct)`` of one batch: the loss head
    (:func:`losses.head`) with the gradient in the network's dtype (float64 on the
    ``numpy`` backend: the oracle keeps float64 all the way), and the count of correct
    predictions (None for mse)."""
    value, g, wrt = losses.head(loss, ZL, AL, t)
    if be.name != "numpy":
        g = g.astype(dtype)
    acc = losses.accuracy(loss, AL, t)
    return value, g, wrt, (None if acc is None else acc * len(t))


def _one_call_case(net: "Network", be, t: losses.Targets) -> bool:
    """Whether the core runs a step in one call (``xent_gradients``, and fit's native
    runs): the ``cpp`` backend, a softmax output, cross-entropy on class indices."""
    return (be.name == "cpp" and t.loss == "cross_entropy" and t.index is not None
            and net.activations[-1] == "softmax")


def _flat_keys(net: "Network") -> list[str]:
    """Parameter names in the core's flat order: W1, b1, W2, b2, ..."""
    return [f"{k}{l}" for l in range(1, net.num_layers + 1) for k in "Wb"]


def _batch_grads(net: "Network", be, X2: np.ndarray, t: losses.Targets):
    """(loss, grads in the network's dtype, correct predictions or None) of one batch.

    The ``cpp`` backend runs the common case (softmax output, cross-entropy on class
    indices) as one core call per step (``_core.Network.xent_gradients``: the forward,
    the head (``_core.softmax_cross_entropy``'s code) and the backward pass; the bits
    of the loop below)."""
    weights, acts = net.weights, net.activations
    if _one_call_case(net, be, t) and len(t):
        value, correct, flat = net._state(be).xent_gradients(X2, t.index)
        return value, dict(zip(_flat_keys(net), flat)), correct
    AL, cache = be.forward(net._state(be), X2, True, None)
    L = len(weights)
    value, g, wrt, correct = _head(be, t.loss, cache[f"Z{L}"], AL, t, net.dtype)
    grads, _ = _backward(ops_for(be), weights, acts, cache, dA=g if wrt == "A" else None,
                         dZ=g if wrt == "Z" else None, input_grad=False)
    dt = net.dtype
    return value, {k: v.astype(dt, copy=False) for k, v in grads.items()}, correct


#: fit's native runs (train_loop.h) report progress about this often (verbose=True),
#: the first run of an epoch being this many steps (its time sizes the next ones).
_RUN_REPORT_S = 0.1
_FIRST_RUN_STEPS = 8


def _native(net: "Network", be, t: losses.Targets, opt: optim.Optimizer) -> bool:
    """Whether fit's steps can run natively (``_core.Network.fit_xent_steps``): the
    ``cpp`` backend, the one-call step's case (:func:`_batch_grads`), and one of
    pyfwd's own optimisers stepping through the core (a subclass may change the update)."""
    return _one_call_case(net, be, t) and opt.fused and type(opt) in (optim.SGD, optim.Adam, optim.AdamW)


def _native_run(net: "Network", be, opt: optim.Optimizer, X2: np.ndarray, index: np.ndarray,
                order: np.ndarray, batch: int, start: int, nsteps: int, total: float) -> tuple:
    """Steps start..start+nsteps-1 of an epoch in one core call: the network's
    parameters and the optimiser's state and step count are updated only when the
    run finishes (a Ctrl-C leaves both as they were). Returns (total, correct)."""
    keys = _flat_keys(net)
    rule, per_step, states, firsts, created = opt._run_plan(keys, nsteps)
    try:
        total, correct, flat = net._state(be).fit_xent_steps(X2, index, order, start, batch, nsteps, total, rule,
                                                              per_step, states, firsts)
    except BaseException:
        for k in created:  # made for this run's first step: the next step must start them again
            opt.state[k].pop("momentum", None)
        raise
    opt.steps += nsteps
    params = net._params
    net._assign_params({k: optim._frozen_from(b, params[k]) for k, b in zip(keys, flat)})
    return total, correct


def loss_and_gradients(net: "Network", X, y, loss=None, backend=None):
    optim._check_trainable(net)
    loss = losses.check_loss(loss, net.activations[-1])
    X2 = _inputs(net, X)
    t = losses.targets(loss, y, X2.shape[0], net.layer_dims[-1], net.classes_)
    value, grads, _ = _batch_grads(net, _config.resolve(backend), X2, t)
    return value, grads


def backward(net: "Network", cache, dA, backend=None):
    optim._check_trainable(net)
    dims, dt, L = net.layer_dims, net.dtype, net.num_layers
    if not hasattr(cache, "keys"):
        raise TypeError(f"cache must be the dict of forward(X, return_cache=True), got {type(cache).__name__}")
    need = ["A0"] + [f"{k}{l}" for l in range(1, L + 1) for k in "ZA"]
    missing = [k for k in need if k not in cache]
    if missing:
        raise ValueError(f"cache lacks {', '.join(missing)}: pass the cache of this network's "
                         f"forward(X, return_cache=True)")
    c = {k: as_array(cache[k], dt, f"cache[{k!r}]") for k in need}
    if c["A0"].ndim == 1:
        c = {k: v.reshape(1, -1) for k, v in c.items()}
    B = c["A0"].shape[0]
    for k in need:
        width = dims[int(k[1:])]
        if c[k].shape != (B, width):
            raise ValueError(f"cache[{k!r}] has shape {c[k].shape}, expected ({B}, {width}) for this "
                             f"network (layer_dims {dims}) and the batch of {B} in cache['A0']")
    dA = as_array(dA, dt, "dA")
    squeeze = dA.ndim == 1
    if squeeze:
        dA = dA.reshape(1, -1)
    if dA.shape != (B, dims[-1]):
        raise ValueError(f"dA must have the output's shape ({B}, {dims[-1]}), got {dA.shape}")
    be = _config.resolve(backend)
    grads, dX = _backward(ops_for(be), net.weights, net.activations, c, dA=dA, input_grad=True)
    grads = {k: v.astype(dt, copy=False) for k, v in grads.items()}
    dX = dX.astype(dt, copy=False)
    return grads, (dX.reshape(-1) if squeeze else dX)


def _positive_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)


def evaluate(net: "Network", X, y, loss=None, backend=None, batch_size: int | None = None) -> dict:
    loss = losses.check_loss(loss, net.activations[-1])
    X2 = _inputs(net, X)
    t = losses.targets(loss, y, X2.shape[0], net.layer_dims[-1], net.classes_)
    n = X2.shape[0]
    if n == 0:
        raise ValueError("evaluate needs at least one sample, got 0")
    bs = 4096 if batch_size is None else _positive_int("batch_size", batch_size)
    be = _config.resolve(backend)
    L = net.num_layers
    total, correct = 0.0, 0.0
    for s in range(0, n, bs):
        rows = slice(s, min(n, s + bs))
        AL, cache = be.forward(net._state(be), X2[rows], True, None)
        tb = t.take(rows)
        value, _, _ = losses.head(loss, cache[f"Z{L}"], AL, tb)
        m = len(tb)
        total += value * m
        acc = losses.accuracy(loss, AL, tb)
        correct += (acc or 0.0) * m
    out = {"loss": total / n}
    if loss != "mse":
        out["accuracy"] = correct / n
    return out


def _fmt(metrics: dict) -> str:
    return "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())


def _epoch_lr(lr_schedule, epoch: int) -> float:
    """The learning rate *lr_schedule* gives for *epoch* (from 0), checked."""
    value = lr_schedule(epoch)
    try:
        return optim._check_hyper("lr", value)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"lr_schedule({epoch}) returned {value!r}: {exc}") from None


def fit(net: "Network", X, y, loss=None, optimizer="adam", lr: float = 1e-3, epochs: int = 10,
        batch_size: int = 64, seed=0, validation_data=None, verbose: bool = True, backend=None,
        shuffle: bool = True, weight_decay=None, momentum=None, nesterov=None, stream=None,
        lr_schedule=None, patience=None) -> dict:
    optim._check_trainable(net)
    loss = losses.check_loss(loss, net.activations[-1])
    epochs = _positive_int("epochs", epochs, low=0)
    batch_size = _positive_int("batch_size", batch_size)
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError(f"lr_schedule must be a callable epoch -> lr, got {type(lr_schedule).__name__}")
    if patience is not None:
        patience = _positive_int("patience", patience)
    X2 = _inputs(net, X)
    n = X2.shape[0]
    if n == 0:
        raise ValueError("fit needs at least one training sample, got 0")
    t = losses.targets(loss, y, n, net.layer_dims[-1], net.classes_)
    val = None
    if validation_data is not None:
        try:
            Xv, yv = validation_data
        except (TypeError, ValueError):
            raise TypeError("validation_data must be a pair (X_val, y_val)") from None
        Xv2 = _inputs(net, Xv, "validation_data X")
        losses.targets(loss, yv, Xv2.shape[0], net.layer_dims[-1], net.classes_)  # fail before training
        val = (Xv2, yv)
    opt = optim.make(optimizer, net, lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov)
    be = _config.resolve(backend)
    rng = np.random.default_rng(seed)
    classify = loss != "mse"
    history: dict[str, list[float]] = {"loss": []}
    if classify:
        history["accuracy"] = []
    if val is not None:
        history["val_loss"] = []
        if classify:
            history["val_accuracy"] = []
    if lr_schedule is not None:
        history["lr"] = []
    # early stopping: the loss it watches, the best value so far, its epoch and parameters
    monitor = "val_loss" if val is not None else "loss"
    best, best_epoch, best_params = math.inf, 0, None
    batch_size = min(batch_size, n)  # one batch of all: the same steps (and a size the core's int64 holds)
    steps = -(-n // batch_size)
    native = _native(net, be, t, opt)
    # the Python loop gathers each batch into one reused buffer (a fresh array per step
    # costs more than the copy); the step is done with it before the next gather
    xbuf = np.empty((0 if native else batch_size, X2.shape[1]), dtype=X2.dtype)
    for epoch in range(1, epochs + 1):
        if lr_schedule is not None:
            opt.lr = _epoch_lr(lr_schedule, epoch - 1)
        order = rng.permutation(n) if shuffle else np.arange(n)
        bar = EpochBar(epoch, epochs, steps, enabled=verbose, stream=stream)
        total, correct, seen = 0.0, 0.0, 0
        t0 = time.perf_counter()
        if native:
            # runs of steps in the core (train_loop.h): the whole epoch, or (verbose) runs
            # sized from the first one to report about every _RUN_REPORT_S
            step, run = 0, steps if not verbose else min(steps, _FIRST_RUN_STEPS)
            while step < steps:
                nrun = min(run, steps - step)
                tr = time.perf_counter()
                total, right = _native_run(net, be, opt, X2, t.index, order, batch_size, step, nrun, total)
                correct += right
                step += nrun
                seen = min(n, step * batch_size)
                bar.update(step, f"loss {total / seen:.4f}")
                per_step = (time.perf_counter() - tr) / nrun
                run = max(1, int(_RUN_REPORT_S / max(per_step, 1e-9)))
        else:
            for step in range(steps):
                idx = order[step * batch_size:(step + 1) * batch_size]
                tb = t.take(idx)
                xb = np.take(X2, idx, axis=0, out=xbuf[:len(idx)])
                value, grads, right = _batch_grads(net, be, xb, tb)
                if classify:
                    correct += right
                opt._apply(grads)
                total += value * len(idx)
                seen += len(idx)
                bar.update(step + 1, f"loss {total / seen:.4f}")
        metrics = {"loss": total / seen}
        if classify:
            metrics["accuracy"] = correct / seen
        if val is not None:
            ev = evaluate(net, val[0], val[1], loss=loss, backend=backend)
            metrics["val_loss"] = ev["loss"]
            if classify:
                metrics["val_accuracy"] = ev["accuracy"]
        for k, v in metrics.items():
            history[k].append(v)
        if lr_schedule is not None:
            history["lr"].append(opt.lr)
        bar.finish(f"{_fmt(metrics)}  ({(time.perf_counter() - t0) * 1e3:.0f} ms)")
        if patience is not None:
            if metrics[monitor] < best:  # NaN never improves
                best, best_epoch = metrics[monitor], epoch
                best_params = {k: v.copy() for k, v in net.params.items()}
            elif epoch - best_epoch >= patience:
                if best_params is not None:
                    net._assign_params(best_params)
                if verbose:
                    print(f"early stopping: {monitor} has not improved for {epoch - best_epoch} epochs; "
                          f"parameters of epoch {best_epoch} restored", file=bar.stream)
                break
    return history
