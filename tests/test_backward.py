"""The backward pass: gradients against central finite differences (float64),
every backend against the float64 oracle within the carried bound of
``pyfwd.testing.gradient_bounds`` (and that bound failing a slightly wrong
derivative), against ``torch.autograd`` on the same weights, optimiser steps
against ``torch.optim``, and bitwise determinism across thread counts."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyfwd
from pyfwd import losses
from pyfwd._config import resolve
from pyfwd.backends import backward as bw
from pyfwd.backends.numpy_ref import FUNCTIONS
from pyfwd.testing import assert_gradients_close, assert_identical, gradient_bounds

ACTS = list(pyfwd.ACTIVATIONS)
COMPILED = [b for b in ("cpp", "numba") if b in pyfwd.backends()]
#: (loss, output activation) pairs; mse also runs with every activation as output
LOSS_OUT = [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")] + \
    [("mse", a) for a in ACTS]


def make(dims, hidden, out, dtype="float64", seed=0, batch=7):
    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((n, k)) * np.sqrt(2.0 / k) for k, n in zip(dims[:-1], dims[1:])]
    bs = [rng.standard_normal(n) * 0.3 for n in dims[1:]]
    net = pyfwd.Network.from_arrays(Ws, bs, [hidden] * (len(dims) - 2) + [out], dtype=dtype)
    X = rng.standard_normal((batch, dims[0]))
    return net, X


def targets(loss, batch, n_out, seed=1):
    rng = np.random.default_rng(seed)
    if loss == "cross_entropy":
        return rng.integers(0, n_out, batch)
    if loss == "binary_cross_entropy":
        return rng.uniform(0, 1, (batch, n_out))
    return rng.standard_normal((batch, n_out))


def fd_grads(net, X, y, loss, backend, h=1e-6):
    """Central differences of the loss wrt every parameter (float64)."""
    out = {}
    for key in list(net.params):
        p = np.array(net.params[key], dtype=np.float64)
        g = np.empty_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            vals = []
            for step in (h, -h):
                p[i] = old + step
                net.params[key] = p
                vals.append(net.loss_and_gradients(X, y, loss=loss, backend=backend)[0])
            p[i] = old
            g[i] = (vals[0] - vals[1]) / (2 * h)
        net.params[key] = p
        out[key] = g
    return out


# -- 1. finite differences (float64) -------------------------------------------
@pytest.mark.parametrize("loss,out", LOSS_OUT)
@pytest.mark.parametrize("hidden", ACTS)
def test_gradients_match_finite_differences(hidden, loss, out):
    net, X = make([4, 5, 3], hidden, out)
    y = targets(loss, X.shape[0], 3)
    value, grads = net.loss_and_gradients(X, y, loss=loss, backend="numpy")
    fd = fd_grads(net, X, y, loss, "numpy")
    for key in net.params:
        assert grads[key].shape == net.params[key].shape and grads[key].dtype == np.float64
        np.testing.assert_allclose(grads[key], fd[key], rtol=1e-6, atol=1e-8, err_msg=key)


@pytest.mark.parametrize("backend", pyfwd.backends())
@pytest.mark.parametrize("out", ACTS)
def test_input_gradient_matches_finite_differences(backend, out):
    """net.backward(cache, dA): dX (and the parameters) vs differences of <dA, forward(X)>."""
    net, X = make([3, 4, 2], "tanh", out, batch=3)
    dA = np.random.default_rng(5).standard_normal((3, 2))
    _, cache = net.forward(X, return_cache=True, backend=backend)
    grads, dX = net.backward(cache, dA, backend=backend)
    h = 1e-6
    fd = np.empty_like(X)
    for i in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[i] += h
        Xm[i] -= h
        fd[i] = np.sum(dA * (net.forward(Xp, backend="numpy") - net.forward(Xm, backend="numpy"))) / (2 * h)
    np.testing.assert_allclose(dX, fd, rtol=1e-6, atol=1e-8)
    assert set(grads) == set(net.params)


def test_cross_entropy_one_hot_equals_indices():
    net, X = make([4, 6, 5], "relu", "softmax")
    y = np.array([0, 4, 2, 2, 1, 3, 0])
    l1, g1 = net.loss_and_gradients(X, y)
    l2, g2 = net.loss_and_gradients(X, np.eye(5)[y])
    assert l1 == pytest.approx(l2, rel=1e-14)
    for k in g1:
        np.testing.assert_allclose(g1[k], g2[k], rtol=1e-12, atol=1e-15)


def test_cross_entropy_is_stable_for_huge_logits():
    net = pyfwd.Network.from_arrays([np.array([[1e4], [-1e4], [0.0]])], None, "softmax", dtype="float64")
    value, grads = net.loss_and_gradients(np.array([[1.0]]), [1])
    assert value == pytest.approx(2e4) and all(np.isfinite(g).all() for g in grads.values())


# -- 2. float32/float64 backends vs the float64 oracle ----------------------------
def _backend_grads(net, X, y, loss, backend):
    """Gradients of a backend and what the oracle needs: its own cache, the start dZ/dA."""
    be = resolve(backend)
    t = losses.targets(loss, y, X.shape[0], net.layer_dims[-1])
    AL, cache = net.forward(X, return_cache=True, backend=backend)
    L = net.num_layers
    _, g, wrt = losses.head(loss, cache[f"Z{L}"], AL, t)
    g = g.astype(net.dtype)
    grads, _ = bw.backward(bw.ops_for(be), net.weights, net.activations, cache,
                           dA=g if wrt == "A" else None, dZ=g if wrt == "Z" else None, input_grad=False)
    return {k: v.astype(net.dtype) for k, v in grads.items()}, cache, g, wrt


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,out", LOSS_OUT)
@pytest.mark.parametrize("backend", pyfwd.backends())
def test_backend_gradients_within_bound(backend, loss, out, dtype):
    for hidden in ACTS:
        net, X = make([20, 33, 17, 9], hidden, out, dtype=dtype, seed=3, batch=50)
        y = targets(loss, 50, 9)
        grads, cache, g, wrt = _backend_grads(net, X, y, loss, backend)
        start = {"dA": g} if wrt == "A" else {"dZ": g}
        assert_gradients_close(grads, net.weights, net.activations, cache, **start)
        # and the public path: net.backward from a random upstream gradient, dX too
        dA = np.random.default_rng(2).standard_normal(cache[f"A{net.num_layers}"].shape).astype(dtype)
        grads2, dX = net.backward(cache, dA, backend=backend)
        assert_gradients_close(grads2, net.weights, net.activations, cache, dA=dA, dX=dX)


@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("act", ["sigmoid", "gelu", "softmax"])
def test_bound_fails_a_slightly_wrong_derivative(backend, act, monkeypatch):
    """The check can fail: a derivative off by 1e-3 (relative) in one layer is caught."""
    net, X = make([20, 33, 17, 9], act, "softmax", dtype="float32", seed=3, batch=50)
    y = targets("cross_entropy", 50, 9)
    ops = bw.ops_for(resolve(backend))
    good, good_fused = type(ops).act_backward, type(ops).input_grad_act
    monkeypatch.setattr(type(ops), "act_backward",
                        lambda self, a, Z, A, dA: good(self, a, Z, A, dA) * np.float32(1 + 1e-3))
    # the hidden layers' derivative, where a backend fuses it into the input gradient's GEMM
    monkeypatch.setattr(type(ops), "input_grad_act",
                        lambda self, dZ, W, a, Z, A: good_fused(self, dZ, W, a, Z, A) * np.float32(1 + 1e-3))
    grads, cache, g, _ = _backend_grads(net, X, y, "cross_entropy", backend)
    with pytest.raises(AssertionError, match="gradient"):
        assert_gradients_close(grads, net.weights, net.activations, cache, dZ=g)


# -- 3. PyTorch ----------------------------------------------------------------
def _torch_net(net, torch):
    layers = []
    mods = {"linear": torch.nn.Identity, "relu": torch.nn.ReLU, "leaky_relu": lambda: torch.nn.LeakyReLU(0.01),
            "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "softmax": lambda: torch.nn.Softmax(dim=1),
            "gelu": torch.nn.GELU, "silu": torch.nn.SiLU}
    dt = torch.float64 if net.dtype == np.float64 else torch.float32
    for W, b in zip(net.weights, net.biases):
        lin = torch.nn.Linear(W.shape[1], W.shape[0]).to(dt)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(np.array(W)))
            lin.bias.copy_(torch.from_numpy(np.array(b)))
        layers.append(lin)
    return layers, [mods[a]() for a in net.activations], dt


def _torch_loss_grads(net, X, y, loss, torch):
    """torch's loss, its gradients keyed like params, and its own forward cache."""
    lins, acts, dt = _torch_net(net, torch)
    A = torch.from_numpy(np.asarray(X, dtype=net.dtype))
    cache = {"A0": A.numpy()}
    for l, (lin, act) in enumerate(zip(lins, acts), start=1):
        Z = lin(A)
        if l == len(lins) and loss != "mse":
            logits = Z
        A = act(Z)
        cache[f"Z{l}"], cache[f"A{l}"] = Z.detach().numpy(), A.detach().numpy()
    if loss == "cross_entropy":
        value = torch.nn.functional.cross_entropy(logits, torch.from_numpy(np.asarray(y)))
    elif loss == "binary_cross_entropy":
        value = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(y).to(dt))
    else:
        value = torch.nn.functional.mse_loss(A, torch.from_numpy(y).to(dt))
    params = [p for lin in lins for p in (lin.weight, lin.bias)]
    gs = torch.autograd.grad(value, params)
    keys = [k for l in range(1, len(lins) + 1) for k in (f"W{l}", f"b{l}")]
    return float(value.detach()), {k: g.numpy() for k, g in zip(keys, gs)}, cache


@pytest.mark.parametrize("loss,out", LOSS_OUT)
@pytest.mark.parametrize("hidden", ACTS)
def test_matches_torch_autograd_float64(hidden, loss, out):
    torch = pytest.importorskip("torch")
    net, X = make([6, 8, 5, 4], hidden, out, seed=11, batch=9)
    y = targets(loss, 9, 4)
    t_value, t_grads, _ = _torch_loss_grads(net, X, y, loss, torch)
    for backend in pyfwd.backends():
        value, grads = net.loss_and_gradients(X, y, loss=loss, backend=backend)
        assert value == pytest.approx(t_value, rel=1e-12, abs=1e-15)
        for k in grads:
            np.testing.assert_allclose(grads[k], t_grads[k], rtol=1e-9, atol=1e-13, err_msg=f"{backend} {k}")


@pytest.mark.parametrize("loss,out", [("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"),
                                      ("mse", "linear")])
@pytest.mark.parametrize("hidden", ACTS)
def test_torch_float32_within_the_same_bound(hidden, loss, out):
    """torch's float32 gradients meet the float32 bound from torch's own forward
    values, as pyfwd's backends meet it from theirs (the bound is no pyfwd artefact)."""
    torch = pytest.importorskip("torch")
    net, X = make([20, 33, 17, 9], hidden, out, dtype="float32", seed=3, batch=50)
    y = targets(loss, 50, 9)
    _, t_grads, cache = _torch_loss_grads(net, X, y, loss, torch)
    t = losses.targets(loss, y, 50, 9)
    _, g, _ = losses.head(loss, cache["Z3"], cache["A3"], t)
    u = 2.0 ** -24
    Z = cache["Z3"].astype(np.float64)
    zmax = np.abs(Z).max(axis=1, keepdims=True)
    # torch computes the head in float32: softmax/sigmoid within u (N + 20 + 2 max|z|) of exact
    e_start = u * (9 + 20 + 2 * zmax) * (np.abs(g) + 1.0 / g.size) * 4
    assert_gradients_close(t_grads, net.weights, net.activations, cache, dZ=g, e_start=e_start)


@pytest.mark.parametrize("name,kwargs", [
    ("sgd", {}), ("sgd", {"momentum": 0.9}), ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.1}),
    ("adam", {}), ("adam", {"weight_decay": 0.05}), ("adamw", {}), ("adamw", {"weight_decay": 0.3}),
])
def test_optimizer_steps_match_torch(name, kwargs):
    """Three steps of pyfwd.optim vs torch.optim from the same weights and data (float64)."""
    torch = pytest.importorskip("torch")
    net, X = make([6, 8, 4], "gelu", "softmax", seed=4, batch=10)
    y = targets("cross_entropy", 10, 4)
    lins, acts, _ = _torch_net(net, torch)
    params = [p for lin in lins for p in (lin.weight, lin.bias)]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]
    t_opt = cls(params, lr=0.05, **kwargs)
    opt = pyfwd.optim.OPTIMIZERS[name](net.params, lr=0.05, **kwargs)
    for _ in range(3):
        t_opt.zero_grad()
        A = torch.from_numpy(X)
        for lin, act in zip(lins, acts[:-1]):
            A = act(lin(A))
        torch.nn.functional.cross_entropy(lins[-1](A), torch.from_numpy(y)).backward()
        t_opt.step()
        _, grads = net.loss_and_gradients(X, y, backend="numpy")
        opt.step(grads)
        keys = [k for l in range(1, 3) for k in (f"W{l}", f"b{l}")]
        for k, p in zip(keys, params):
            np.testing.assert_allclose(net.params[k], p.detach().numpy(), rtol=1e-10, atol=1e-13, err_msg=k)


# -- 4. determinism across thread counts --------------------------------------------
@pytest.mark.parametrize("backend", COMPILED)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gradients_bitwise_identical_across_threads(backend, dtype, restore_threads):
    # big enough that every product and the derivative pass run split over threads
    net, X = make([300, 256, 200, 10], "gelu", "softmax", dtype=dtype, seed=8, batch=256)
    y = targets("cross_entropy", 256, 10)
    dA = np.random.default_rng(3).standard_normal((256, 10)).astype(dtype)
    results = []
    for n in (1, 2, 1, 2):
        pyfwd.set_num_threads(n)
        value, grads = net.loss_and_gradients(X, y, backend=backend)
        _, cache = net.forward(X, return_cache=True, backend=backend)
        g2, dX = net.backward(cache, dA, backend=backend)
        results.append((value, grads, g2, dX))
    for value, grads, g2, dX in results[1:]:
        assert value == results[0][0]
        for k in grads:
            assert_identical(grads[k], results[0][1][k], f"{backend} grads {k}")
            assert_identical(g2[k], results[0][2][k], f"{backend} backward {k}")
        assert_identical(dX, results[0][3], f"{backend} dX")


@pytest.mark.skipif("cpp" not in pyfwd.backends(), reason="the cpp backend is not built")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("B,n_out,n_in", [(1, 3, 5), (16, 10, 128), (17, 10, 128), (64, 129, 300), (300, 37, 61)])
def test_fused_derivative_epilogue_gives_the_bits_of_two_steps(B, n_out, n_in, dtype, restore_threads):
    """dense(dZ, W.T, dact=g, Z, A), the derivative fused into the GEMM's finished
    blocks, equals dense then act_backward bit for bit: every elementwise activation,
    the dot path (B <= 16) and the packed one, 1 and 2 threads, every ISA level here,
    Z and A as strided views (copied to rows) and contiguous; with the level's blocks
    and with tiny ones (many M, N and K blocks: the derivative only after the last K)."""
    from pyfwd import _core
    from pyfwd.activations import ACT_CODE
    rng = np.random.default_rng(B + n_out)
    dZ = rng.standard_normal((B, n_out)).astype(dtype)
    W = rng.standard_normal((n_out, n_in)).astype(dtype)
    Zbig = (rng.standard_normal((n_in, 2 * B)) * 3).astype(dtype)
    be = pyfwd.get_backend("cpp")
    before = be.isa()
    saved = {isa: _core.blocks(isa)[dtype] for isa in be.supported_isas()}
    try:
        for isa, threads, tiny in itertools.product(be.supported_isas(), (1, 2), (False, True)):
            be.set_isa(isa)
            be.set_num_threads(threads)
            b = saved[isa]
            if tiny:
                _core.set_blocks(isa, dtype, b["MR"], 8, b["NR"])
            for act in [a for a in ACTS if a != "softmax"]:
                for Z in (Zbig.T[::2], np.ascontiguousarray(Zbig.T[::2])):
                    A = FUNCTIONS[act](Z.astype(np.float64)).astype(dtype)
                    code = ACT_CODE[act]
                    two = _core.act_backward(code, Z, A, _core.dense(dZ, W.T, None, ACT_CODE["linear"]))
                    fused = _core.dense(dZ, W.T, None, ACT_CODE["linear"], None, code, Z, A)
                    assert_identical(fused, two, f"{isa} {threads}T tiny={tiny} {act}")
            _core.set_blocks(isa, dtype, b["MC"], b["KC"], b["NC"], b["source"])
    finally:
        be.set_isa(before)
        for isa, b in saved.items():
            _core.set_blocks(isa, dtype, b["MC"], b["KC"], b["NC"], b["source"])
    with pytest.raises(ValueError, match="elementwise activation code"):
        _core.dense(dZ, W.T, None, ACT_CODE["linear"], None, ACT_CODE["softmax"], Z, A)
    with pytest.raises(ValueError, match="output's shape"):
        _core.dense(dZ, W.T, None, ACT_CODE["linear"], None, ACT_CODE["relu"], Z[:, :2], A)


@pytest.mark.skipif("cpp" not in pyfwd.backends(), reason="the cpp backend is not built")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dims,hidden", [([5, 3], []), ([30, 17, 10], ["relu"]), ([33, 40, 29, 7], ["gelu", "softmax"]),
                                         ([20, 70, 65, 64, 9], ["tanh", "leaky_relu", "silu"]),
                                         ([784, 128, 10], ["sigmoid"])])
def test_core_training_step_gives_the_bits_of_the_python_loop(dims, hidden, dtype, restore_threads):
    """_core.Network.xent_gradients (forward, loss head and backward pass in one call,
    what fit runs on cpp) against the Python loop over _core calls it replaces, bit for
    bit: loss, correct count and every gradient, for depths 1-4, hidden activations
    (softmax too), batches either side of the dot path and of the threading thresholds,
    1 and 2 threads, X C-ordered, Fortran-ordered and strided."""
    from pyfwd import _core
    be = resolve("cpp")
    net, _ = make(dims, "relu", "softmax", dtype=dtype, seed=len(dims))
    net = pyfwd.Network.from_arrays(net.weights, net.biases, hidden + ["softmax"], dtype=dtype)
    ops = bw.ops_for(be)
    L = len(dims) - 1
    for batch, threads in itertools.product((1, 16, 17, 300), (1, 2)):
        be.set_num_threads(threads)
        rng = np.random.default_rng(batch)
        big = rng.standard_normal((2 * batch, 3 * dims[0])).astype(dtype)
        y = rng.integers(0, dims[-1], batch)
        for X in (big[:batch, :dims[0]].copy(), np.asfortranarray(big[:batch, :dims[0]]), big[::2, ::3]):
            state = net._state(be)
            value, correct, flat = state.xent_gradients(X, y)
            AL, cache = be.forward(state, X, True, None)
            v2, c2, dZ = _core.softmax_cross_entropy(cache[f"Z{L}"], AL, y)
            grads, _ = bw.backward(ops, net.weights, net.activations, cache, dZ=dZ, input_grad=False)
            what = f"{dims} {hidden} b={batch} T={threads} {X.flags.c_contiguous}"
            assert (value, correct) == (v2, c2), what
            for l in range(1, L + 1):
                assert_identical(flat[2 * l - 2], grads[f"W{l}"], f"{what} W{l}")
                assert_identical(flat[2 * l - 1], grads[f"b{l}"], f"{what} b{l}")
    state = net._state(be)
    with pytest.raises(ValueError, match="out of range"):
        state.xent_gradients(X, np.full(X.shape[0], dims[-1]))
    with pytest.raises(ValueError, match="empty batch"):
        state.xent_gradients(X[:0], y[:0])
    with pytest.raises(ValueError, match="features"):
        state.xent_gradients(X[:, 1:], y)
    lin = pyfwd.Network.from_arrays(net.weights, net.biases, hidden + ["linear"], dtype=dtype)
    with pytest.raises(ValueError, match="must be softmax"):
        lin._state(be).xent_gradients(X, y)


# -- 5. properties --------------------------------------------------------------------
@pytest.mark.parametrize("backend", COMPILED)
@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(dims=st.lists(st.integers(1, 80), min_size=2, max_size=5), batch=st.integers(1, 300),
       acts=st.lists(st.sampled_from(ACTS), min_size=4, max_size=4), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2 ** 16))
def test_property_gradients_bound_and_threads(backend, dims, batch, acts, dtype, seed, restore_threads):
    L = len(dims) - 1
    net, X = make(dims, "relu", "linear", dtype=dtype, seed=seed, batch=batch)
    net = pyfwd.Network.from_arrays(net.weights, net.biases, acts[:L], dtype=dtype)
    dA = np.random.default_rng(seed).standard_normal((batch, dims[-1])).astype(dtype)
    out = []
    for n in (1, 2):
        pyfwd.set_num_threads(n)
        _, cache = net.forward(X, return_cache=True, backend=backend)
        out.append(net.backward(cache, dA, backend=backend))
    grads, dX = out[0]
    assert_gradients_close(grads, net.weights, net.activations, cache, dA=dA, dX=dX)
    for k in grads:
        assert_identical(out[1][0][k], grads[k], k)
    assert_identical(out[1][1], dX, "dX")


def test_gradient_bounds_keys():
    net, X = make([3, 4, 2], "relu", "linear")
    _, cache = net.forward(X, return_cache=True)
    ref, bound = gradient_bounds(net.weights, net.activations, cache, dA=np.ones((7, 2)))
    assert set(ref) == set(bound) == {"W1", "b1", "W2", "b2", "X"}
