"""Optimisers: ``SGD`` (momentum, Nesterov), ``Adam``, ``AdamW``, as PyTorch's
``torch.optim`` defines them (same formulas, same defaults), stepping a
:class:`~pyfwd.Network`'s parameters by hand or inside :meth:`Network.fit`::

    opt = pyfwd.optim.Adam(net.params, lr=1e-3)     # or Adam(net, ...)
    for X, y in batches:
        loss, grads = net.loss_and_gradients(X, y)
        opt.step(grads)

The state (momentum buffers, moments) is kept in the network's dtype, as PyTorch
keeps it in the parameter's. A step computes every new parameter, then replaces
them all at once (:meth:`Network._assign_params`): the parameters stay read-only
arrays, the network's version is bumped once, and the ``cpp``/``numba`` backends
repack the weights once per step, on the next forward.

Each update is one fused pass per parameter in the compiled core when it is built
(``_core.sgd_update``/``_core.adam_update``: the state in place, the new parameter
straight into its read-only buffer, threads for large layers), else the NumPy
expressions of the ``_update_numpy`` methods. Both perform the same operations in
the same order and precision: they give the same bits (tests/test_training.py).
"""
from __future__ import annotations

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "OPTIMIZERS", "make"]


def _network_of(params):
    from .network import Network, Params
    if isinstance(params, Network):
        return params
    if isinstance(params, Params):
        return params._net
    raise TypeError(f"an optimiser steps a pyfwd.Network: pass net or net.params, got {type(params).__name__}")


def _check_trainable(net) -> None:
    """Training updates float32/float64 parameters; 16-bit weights are for inference."""
    wd = net.weight_dtype
    if wd is not None and np.dtype(wd).itemsize == 2:
        raise TypeError(f"this network has 16-bit weights ({np.dtype(wd).name}): training updates float32 or "
                        f"float64 parameters. Train a float32 copy, net.with_weight_dtype(None), and round the "
                        f"trained network with .with_weight_dtype({np.dtype(wd).name!r})")


def _core_module():
    """The compiled core, or None when this install has none (looked up per step, not
    kept on the optimiser: an optimiser pickles with its state, as a checkpoint)."""
    try:
        from . import _core
    except ImportError:
        return None
    return _core


def _frozen_from(buf: bytes, like: np.ndarray) -> np.ndarray:
    """The core's new parameter (a fresh immutable ``bytes``) as a read-only array."""
    return np.frombuffer(buf, dtype=like.dtype).reshape(like.shape)


def _check_hyper(name: str, value, low: float = 0.0, high: float | None = None) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}") from None
    if not np.isfinite(v) or v < low or (high is not None and v >= high):
        rng = f"[{low}, {high})" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be finite and {rng}, got {value!r}")
    return v


class Optimizer:
    """Base class: holds the network, the learning rate, the weight decay and a
    per-parameter state; :meth:`step` applies one update from a gradient dict.

    ``fused`` (True when the compiled core is built) runs each update as one core
    pass; False runs the NumPy expressions (the same bits). An optimiser pickles with
    its network and state: a checkpoint that resumes training exactly."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0) -> None:
        self.net = _network_of(params)
        _check_trainable(self.net)
        self.lr = _check_hyper("lr", lr)
        self.weight_decay = _check_hyper("weight_decay", weight_decay)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.steps = 0
        self.fused = _core_module() is not None  # False: the NumPy updates (same bits)

    def _check_grads(self, grads) -> dict[str, np.ndarray]:
        params = self.net._params
        if not hasattr(grads, "keys"):
            raise TypeError(f"grads must be a dict keyed like net.params, got {type(grads).__name__}")
        unknown = sorted(set(grads) - set(params))
        if unknown:
            raise KeyError(f"grads has {', '.join(map(repr, unknown))}, not parameters of this network "
                           f"({', '.join(params)})")
        out = {}
        for k, g in grads.items():
            g = np.asarray(g)
            if g.shape != params[k].shape:
                raise ValueError(f"grads[{k!r}] has shape {g.shape}, expected {params[k].shape}")
            out[k] = g.astype(self.net.dtype, copy=False)
        return out

    def step(self, grads) -> None:
        """One update of the parameters named in *grads* (a dict like ``net.params``;
        parameters without a gradient are left as they are)."""
        self._apply(self._check_grads(grads))

    def _apply(self, grads: dict) -> None:
        """:meth:`step` for gradients known to be right (fit's own: keyed like the
        params, same shapes, the network's dtype): no checks."""
        self.steps += 1
        params = self.net._params
        keys = list(grads)
        core = _core_module() if self.fused else None
        if core is not None:  # every parameter of the step in one core call
            ps = [params[k] for k in keys]
            out = self._update_core(core, keys, ps, [np.ascontiguousarray(grads[k]) for k in keys])
            new = {k: _frozen_from(b, p) for k, b, p in zip(keys, out, ps)}
        else:
            new = {k: self._update_numpy(k, params[k], grads[k]) for k in keys}
        self.net._assign_params(new)

    def _run_plan(self, keys: list, nsteps: int):
        """The optimiser of a native run of *nsteps* steps over parameters *keys*
        (``_core.Network.fit_xent_steps``, train_loop.h): ``(rule, per_step, states,
        firsts, created)``, the state arrays made ready (*created*: the keys whose state
        was made here, to drop if the run does not finish); None when this optimiser
        has no native form (fit then steps it from Python)."""
        return None

    def _update_core(self, core, keys: list, ps: list, gs: list) -> list:
        """The new values (bytes, from the core) of parameters *keys* (*ps* read-only,
        C-ordered, the network's dtype; *gs* their gradients, same shapes and dtype)."""
        raise NotImplementedError

    def _update_numpy(self, key: str, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """The new value of parameter *key*: the NumPy formulation (the same bits)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr}, weight_decay={self.weight_decay})"


class SGD(Optimizer):
    """``torch.optim.SGD``: ``g += wd*p``; with momentum ``buf = mu*buf + g`` (``buf = g``
    at the first step), then ``g = g + mu*buf`` (Nesterov) or ``g = buf``; ``p -= lr*g``."""

    def __init__(self, params, lr: float = 1e-2, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        self.momentum = _check_hyper("momentum", momentum)
        self.nesterov = bool(nesterov)
        if self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")

    def _buffers(self, keys, ps) -> tuple[list, list]:
        """The momentum buffers of parameters *keys* (None each without momentum) and
        whether each was made now (its first step sets ``buf = g``, so it starts empty)."""
        bufs, firsts = [None] * len(keys), [False] * len(keys)
        if self.momentum:
            for i, (k, p) in enumerate(zip(keys, ps)):
                st = self.state.setdefault(k, {})
                if st.get("momentum") is None:
                    st["momentum"], firsts[i] = np.empty_like(p), True
                bufs[i] = st["momentum"]
        return bufs, firsts

    def _update_core(self, core, keys, ps, gs):
        bufs, firsts = self._buffers(keys, ps)
        return core.sgd_update(ps, gs, bufs, firsts, self.lr, self.weight_decay, self.momentum, self.nesterov)

    def _run_plan(self, keys, nsteps):
        params = self.net._params
        bufs, firsts = self._buffers(keys, [params[k] for k in keys])
        states = [[] if b is None else [b] for b in bufs]
        created = [k for k, f in zip(keys, firsts) if f]
        rule = {"kind": "sgd", "lr": self.lr, "weight_decay": self.weight_decay, "momentum": self.momentum,
                "nesterov": self.nesterov}
        return rule, None, states, firsts, created

    def _update_numpy(self, key, p, g):
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            st = self.state.setdefault(key, {})
            buf = st.get("momentum")
            buf = g.copy() if buf is None else self.momentum * buf + g
            st["momentum"] = buf
            g = g + self.momentum * buf if self.nesterov else buf
        return p - self.lr * g


class Adam(Optimizer):
    """``torch.optim.Adam``: ``g += wd*p`` (L2, coupled); ``m = b1*m + (1-b1)*g``,
    ``v = b2*v + (1-b2)*g^2``; ``p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)``."""

    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, weight_decay)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
        self.betas = (_check_hyper("betas[0]", b1, 0.0, 1.0), _check_hyper("betas[1]", b2, 0.0, 1.0))
        self.eps = _check_hyper("eps", eps)

    def _moments(self, key, p):
        st = self.state.setdefault(key, {})
        if st.get("exp_avg") is None:
            st["exp_avg"], st["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
        return st

    def _bias_terms(self, t: int) -> tuple:
        """(step_size, bc2) of step *t*: lr/(1-b1^t) and sqrt(1-b2^t), in float64."""
        b1, b2 = self.betas
        return self.lr / (1.0 - b1 ** t), float(np.sqrt(1.0 - b2 ** t))

    def _rule(self) -> dict:
        """The step's constants other than the bias corrections (as the core takes them)."""
        b1, b2 = self.betas
        return {"kind": "adam", "b1": b1, "one_minus_b1": 1.0 - b1, "b2": b2, "one_minus_b2": 1.0 - b2,
                "eps": self.eps, "weight_decay": 0.0 if self._decoupled else self.weight_decay,
                "decay": 1.0 - self.lr * self.weight_decay, "decoupled": self._decoupled and self.weight_decay != 0}

    def _update_core(self, core, keys, ps, gs):
        sts = [self._moments(k, p) for k, p in zip(keys, ps)]
        r = self._rule()
        step_size, bc2 = self._bias_terms(self.steps)
        return core.adam_update(ps, gs, [st["exp_avg"] for st in sts], [st["exp_avg_sq"] for st in sts],
                                r["b1"], r["one_minus_b1"], r["b2"], r["one_minus_b2"], step_size, bc2,
                                r["eps"], r["weight_decay"], r["decay"], r["decoupled"])

    def _run_plan(self, keys, nsteps):
        params = self.net._params
        sts = [self._moments(k, params[k]) for k in keys]  # new moments are zeros: nothing to undo
        per_step = np.array([self._bias_terms(t) for t in range(self.steps + 1, self.steps + nsteps + 1)],
                            dtype=np.float64).reshape(nsteps, 2)
        return (self._rule(), per_step, [[st["exp_avg"], st["exp_avg_sq"]] for st in sts], [False] * len(keys), [])

    def _update_numpy(self, key, p, g):
        b1, b2 = self.betas
        dt = p.dtype.type
        if self.weight_decay:
            if self._decoupled:
                p = p * dt(1.0 - self.lr * self.weight_decay)
            else:
                g = g + dt(self.weight_decay) * p
        st = self._moments(key, p)
        m, v = st["exp_avg"], st["exp_avg_sq"]
        m = m * dt(b1) + g * dt(1.0 - b1)
        v = v * dt(b2) + (g * g) * dt(1.0 - b2)
        st["exp_avg"], st["exp_avg_sq"] = m, v
        t = self.steps
        step_size = self.lr / (1.0 - b1 ** t)
        denom = np.sqrt(v) / dt(np.sqrt(1.0 - b2 ** t)) + dt(self.eps)
        return p - dt(step_size) * (m / denom)


class AdamW(Adam):
    """``torch.optim.AdamW``: Adam with decoupled weight decay, ``p *= 1 - lr*wd``
    before the Adam update (PyTorch's default ``weight_decay=0.01``)."""

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


#: Optimiser names for :meth:`Network.fit` (``optimizer="adam"``).
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make(name, net, lr: float, **kwargs) -> Optimizer:
    """The optimiser called *name* for *net* (an :class:`Optimizer` instance for this
    network is returned as it is). kwargs with the value None take the optimiser's default."""
    if isinstance(name, Optimizer):
        if name.net is not net:
            raise ValueError("the optimizer object steps another network; create it with this network's params")
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer must be a name ({', '.join(OPTIMIZERS)}) or a pyfwd.optim.Optimizer, "
                        f"got {type(name).__name__}")
    cls = OPTIMIZERS.get(name.strip().lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if cls is not SGD:
        for k in ("momentum", "nesterov"):
            if kwargs.pop(k, None):
                raise ValueError(f"{k} is an option of optimizer='sgd', not of {name!r}")
    return cls(net, lr=lr, **kwargs)
