"""Network.fit / evaluate / loss_and_gradients / backward: the API, the read-only
contract during training, reproducibility, the optimiser objects, and bad input."""
from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyfwd
from pyfwd import optim, training
from pyfwd._config import resolve
from pyfwd.backends.numpy_ref import FUNCTIONS
from pyfwd.network import _is_frozen


def blobs(n=240, seed=0):
    """Three separable Gaussian blobs in 4-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 4)) * 0.5 + np.eye(3, 4)[y] * 3
    return X.astype(np.float32), y


@pytest.mark.parametrize("backend", pyfwd.backends())
def test_fit_learns_and_reports_history(backend):
    X, y = blobs()
    net = pyfwd.Network([4, 16, 3], ["relu", "softmax"], seed=0)
    stream = io.StringIO()
    hist = net.fit(X, y, epochs=5, batch_size=32, lr=1e-2, validation_data=(X[:50], y[:50]),
                   backend=backend, stream=stream)
    assert set(hist) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in hist.values())
    assert hist["loss"][-1] < hist["loss"][0] / 3
    assert net.evaluate(X, y, backend=backend)["accuracy"] > 0.95
    lines = stream.getvalue().splitlines()  # not a terminal: one line per epoch
    assert len(lines) == 5 and lines[0].startswith("epoch 1/5 [") and "val_accuracy" in lines[-1]


def test_fit_is_reproducible_and_backends_agree():
    X, y = blobs()
    finals = {}
    for backend in pyfwd.backends():
        runs = []
        for _ in range(2):
            net = pyfwd.Network([4, 8, 3], ["tanh", "softmax"], seed=1)
            h = net.fit(X, y, epochs=2, seed=7, verbose=False, backend=backend)
            runs.append((h, net.params["W1"].copy()))
        assert runs[0][0] == runs[1][0]
        np.testing.assert_array_equal(runs[0][1], runs[1][1])
        finals[backend] = runs[0][1]
    for w in finals.values():  # float32 backends vs the float64 oracle after 16 Adam steps
        np.testing.assert_allclose(w, finals["numpy"], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("native", [False, True])
def test_fit_respects_the_read_only_contract(monkeypatch, native):
    """Parameters are only ever replaced by frozen arrays, with one version bump and
    one packing per update Python can see: per step in the Python loop, per run of
    steps in the native loop (the cpp backend's fit: the whole epoch without verbose)."""
    X, y = blobs(100)
    net = pyfwd.Network([4, 8, 8, 3], ["relu", "relu", "softmax"], seed=0)
    be = resolve("cpp" if "cpp" in pyfwd.backends() else pyfwd.backends()[0])
    if native and be.name != "cpp":
        pytest.skip("the native training loop is the cpp backend's")
    if not native:
        monkeypatch.setattr(training, "_native", lambda *a: False)
    calls = []
    real = type(be).prepare
    monkeypatch.setattr(type(be), "prepare", lambda self, *a: calls.append(1) or real(self, *a))
    v0 = net._version
    net.fit(X, y, epochs=1, batch_size=25, verbose=False, backend=be.name)
    updates = 1 if native else 4
    assert net._version == v0 + updates and len(calls) == updates
    assert all(_is_frozen(p) for p in net.params.values())
    with pytest.raises(ValueError):
        net.params["W1"].flags.writeable = True


def test_optimizer_object_by_hand():
    X, y = blobs()
    net = pyfwd.Network([4, 8, 3], ["relu", "softmax"], seed=0)
    opt = optim.SGD(net.params, lr=0.1, momentum=0.9, nesterov=True)
    first = net.loss_and_gradients(X, y)[0]
    for _ in range(20):
        loss, grads = net.loss_and_gradients(X, y)
        assert set(grads) == set(net.params)
        assert all(grads[k].shape == net.params[k].shape and grads[k].dtype == np.float32 for k in grads)
        opt.step(grads)
    assert loss < first / 2 and opt.steps == 20
    # fit accepts the object (its own lr applies)
    net.fit(X, y, optimizer=opt, epochs=1, verbose=False)
    assert opt.steps == 24


def test_losses_defaults_and_mse_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3
    net = pyfwd.Network([3, 1], "linear", dtype="float64", seed=0)
    hist = net.fit(X, y, lr=0.05, epochs=30, verbose=False)
    assert set(hist) == {"loss"} and hist["loss"][-1] < 1e-3
    assert set(net.evaluate(X, y)) == {"loss"}


def test_binary_cross_entropy_single_output():
    X, y = blobs()
    yb = (y == 0).astype(float)
    net = pyfwd.Network([4, 8, 1], ["relu", "sigmoid"], seed=0)
    hist = net.fit(X, yb, lr=1e-2, epochs=5, verbose=False)
    assert hist["accuracy"][-1] > 0.95


def test_labels_through_classes_():
    X, y = blobs()
    net = pyfwd.Network([4, 8, 3], ["relu", "softmax"], seed=0)
    net.classes_ = ["a", "b", "c"]
    labels = np.array(["a", "b", "c"])[y]
    l1, g1 = net.loss_and_gradients(X, labels)
    net.classes_ = None
    l2, g2 = net.loss_and_gradients(X, y)
    assert l1 == l2
    net.classes_ = ["a", "b", "c"]
    with pytest.raises(ValueError, match="label 'z'"):
        net.loss_and_gradients(X[:2], ["a", "z"])


@pytest.mark.parametrize("call,exc,match", [
    (lambda n, X, y: n.fit(X, y, loss="hinge"), ValueError, "unknown loss 'hinge'"),
    (lambda n, X, y: n.fit(X, y, optimizer="rmsprop"), ValueError, "unknown optimizer 'rmsprop'"),
    (lambda n, X, y: n.fit(X, y, optimizer="adam", momentum=0.9), ValueError, "momentum"),
    (lambda n, X, y: n.fit(X, y, epochs=1.5), TypeError, "epochs"),
    (lambda n, X, y: n.fit(X, y, batch_size=0), ValueError, "batch_size"),
    (lambda n, X, y: n.fit(X, y, lr=-1), ValueError, "lr"),
    (lambda n, X, y: n.fit(X, y, validation_data=X), TypeError, "validation_data"),
    (lambda n, X, y: n.fit(X, y, validation_data=(X, y[:3])), ValueError, "one row per sample"),
    (lambda n, X, y: n.loss_and_gradients(X, y[:-1]), ValueError, "one row per sample"),
    (lambda n, X, y: n.loss_and_gradients(X, y + 1), ValueError, r"y\[\d+\] = 3 is out of range"),
    (lambda n, X, y: n.loss_and_gradients(X, y - 1), ValueError, "out of range"),
    (lambda n, X, y: n.loss_and_gradients(X, y.astype(float)), TypeError, "must be integers"),
    (lambda n, X, y: n.loss_and_gradients(X, np.ones((len(y), 4))), ValueError, r"\(240, 3\)"),
    (lambda n, X, y: n.loss_and_gradients(X, y, loss="bce"), ValueError, "needs a sigmoid output"),
    (lambda n, X, y: n.loss_and_gradients(X[:, :3], y), ValueError, "expected input"),
    (lambda n, X, y: n.evaluate(X[:0], y[:0]), ValueError, "at least one sample"),
    (lambda n, X, y: n.loss_and_gradients(X[:0], y[:0]), ValueError, "empty batch is undefined"),
    (lambda n, X, y: n.loss_and_gradients(X[:0], y[:0], backend="numpy"), ValueError, "empty batch is undefined"),
    (lambda n, X, y: n.backward({"A0": X}, np.ones((240, 3))), ValueError, "cache lacks Z1"),
    (lambda n, X, y: n.backward(n.forward(X, return_cache=True)[1], np.ones((240, 2))), ValueError, "dA must"),
])
def test_bad_input_is_a_clear_error(call, exc, match):
    X, y = blobs()
    net = pyfwd.Network([4, 8, 3], ["relu", "softmax"], seed=0)
    with pytest.raises(exc, match=match):
        call(net, X, y)


def test_cross_entropy_needs_softmax_output():
    net = pyfwd.Network([4, 3], "linear", seed=0)
    with pytest.raises(ValueError, match="needs a softmax output layer.*'linear'"):
        net.loss_and_gradients(np.ones((2, 4)), [0, 1], loss="cross_entropy")


def test_optimizer_errors():
    net, other = (pyfwd.Network([2, 2], "softmax", seed=s) for s in (0, 1))
    opt = optim.Adam(other)
    with pytest.raises(ValueError, match="another network"):
        net.fit(np.ones((2, 2)), [0, 1], optimizer=opt)
    with pytest.raises(KeyError, match="'W9'"):
        opt.step({"W9": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"grads\['W1'\] has shape"):
        opt.step({"W1": np.zeros((3, 2))})
    with pytest.raises(TypeError, match="pyfwd.Network"):
        optim.SGD([np.zeros(2)])
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD(net, nesterov=True)


@pytest.mark.skipif(optim._core_module() is None, reason="the compiled core is not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [
    lambda n: optim.SGD(n, lr=0.05),
    lambda n: optim.SGD(n, lr=0.05, momentum=0.9, weight_decay=1e-3),
    lambda n: optim.SGD(n, lr=0.05, momentum=0.8, nesterov=True),
    lambda n: optim.Adam(n, lr=1e-2),
    lambda n: optim.Adam(n, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-2),
    lambda n: optim.AdamW(n, lr=1e-2),
    lambda n: optim.AdamW(n, lr=1e-2, weight_decay=0.0),
], ids=["sgd", "sgd-momentum-wd", "nesterov", "adam", "adam-l2", "adamw", "adamw-no-decay"])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_optimizer_updates_give_the_numpy_bits(make, dtype, threads, restore_threads):
    """The core's fused update and the NumPy expressions agree bit for bit, step after
    step (the state carried), at every ISA level this CPU has (the loops are compiled
    per level, without FMA contraction), for layers small enough for one thread and
    large enough to be split over the pool (every element's operations are the same)."""
    be = pyfwd.get_backend("cpp")
    be.set_num_threads(threads)
    before = be.isa()
    try:
        for isa in be.supported_isas():
            be.set_isa(isa)
            rng = np.random.default_rng(3)
            nets = [pyfwd.Network([300, 257, 3], ["relu", "softmax"], dtype=dtype, seed=0) for _ in range(2)]
            fused, plain = make(nets[0]), make(nets[1])
            plain.fused = False
            assert fused.fused
            for _ in range(4):
                grads = {k: rng.standard_normal(p.shape).astype(dtype) for k, p in nets[0].params.items()}
                fused.step(grads)
                plain.step(grads)
                for k in nets[0].params:
                    a, b = nets[0].params[k], nets[1].params[k]
                    assert _is_frozen(a) and a.dtype == dtype
                    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8), err_msg=f"{isa} {k}")
            for k, st in fused.state.items():
                for name, arr in st.items():
                    np.testing.assert_array_equal(arr, plain.state[k][name], err_msg=f"{isa} {k} {name}")
    finally:
        be.set_isa(before)


def test_training_a_16bit_network_is_a_clear_error():
    net = pyfwd.Network([4, 3], "softmax", seed=0, weight_dtype="bfloat16")
    X, y = blobs(8)
    for call in (lambda: net.fit(X, y, epochs=1, verbose=False), lambda: net.loss_and_gradients(X, y),
                 lambda: optim.Adam(net)):
        with pytest.raises(TypeError, match="16-bit weights.*with_weight_dtype"):
            call()


@pytest.mark.skipif(optim._core_module() is None, reason="the compiled core is not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("B,N", [(1, 1), (1, 10), (64, 10), (7, 3), (300, 129)])
def test_core_cross_entropy_head_matches_the_numpy_head(B, N, dtype):
    """The cpp backend's fused softmax + cross-entropy head: the loss, the gradient wrt
    Z_L and the count of correct argmaxes of the NumPy head (float64 formulas; the
    gradient rounded once), on logits from tiny to large (exp would overflow unshifted)
    and on rows whose probabilities tie."""
    from pyfwd import _core, losses
    rng = np.random.default_rng(B * 1000 + N)
    Z = (rng.standard_normal((B, N)) * rng.choice([1e-3, 1.0, 200.0], size=(B, 1))).astype(dtype)
    Z[::3, :] = Z[::3, :1]  # ties: every entry of the row equal
    A = FUNCTIONS["softmax"](Z.astype(np.float64)).astype(dtype)
    y = rng.integers(0, N, B)
    t = losses.targets("cross_entropy", y, B, N)
    value, correct, dZ = _core.softmax_cross_entropy(Z, A, t.index)
    ref_value, ref_g, wrt = losses.head("cross_entropy", Z, A, t)
    assert wrt == "Z" and dZ.dtype == dtype and dZ.shape == (B, N)
    assert value == pytest.approx(ref_value, rel=1e-12, abs=1e-300)
    np.testing.assert_allclose(dZ, ref_g, rtol=2 * np.finfo(dtype).eps, atol=4 * np.finfo(np.float64).eps / B)
    assert correct == round(losses.accuracy("cross_entropy", A, t) * B)
    with pytest.raises(ValueError, match=r"y\[0\] = %d is out of range" % N):
        _core.softmax_cross_entropy(Z, A, np.full(B, N, dtype=np.int64))


@pytest.mark.parametrize("make", [lambda n: optim.Adam(n, lr=1e-2), lambda n: optim.SGD(n, lr=0.1, momentum=0.9)],
                         ids=["adam", "sgd-momentum"])
def test_optimizer_pickles_as_a_checkpoint(make):
    """An optimiser (its network and state inside) pickles mid-training; the copy
    resumes with exactly the steps the original takes."""
    import pickle
    X, y = blobs(96)
    net = pyfwd.Network([4, 8, 3], ["relu", "softmax"], seed=0)
    opt = make(net)
    net.fit(X, y, optimizer=opt, epochs=1, batch_size=32, verbose=False)
    copy = pickle.loads(pickle.dumps(opt))
    assert copy.steps == opt.steps == 3 and copy.net is not net
    for o in (opt, copy):
        o.net.fit(X, y, optimizer=o, epochs=2, batch_size=32, seed=5, verbose=False)
    for k in net.params:
        np.testing.assert_array_equal(copy.net.params[k], net.params[k], err_msg=k)



def _params_bytes(net):
    return {k: v.tobytes() for k, v in net.params.items()}


@pytest.mark.parametrize("backend,native", [(b, False) for b in pyfwd.backends()]
                         + [("cpp", True)] * ("cpp" in pyfwd.backends()))
def test_lr_schedule_trains_each_epoch_at_its_rate(monkeypatch, backend, native):
    """fit(lr_schedule=f) trains epoch e at f(e): the bits of single-epoch fits with the
    optimiser's lr set by hand in between (on cpp both through the native loop and the
    Python one); history["lr"] records the rates; a constant schedule changes nothing."""
    if native:
        probe = pyfwd.Network([4, 3], ["softmax"])
        t = pyfwd.losses.targets("cross_entropy", np.zeros(1, int), 1, 3)
        assert training._native(probe, resolve("cpp"), t, optim.SGD(probe, lr=1.0))
    else:
        monkeypatch.setattr(training, "_native", lambda *a: False)
    X, y = blobs(150, seed=1)
    sched = lambda e: 0.2 / (1 + 3 * e)  # noqa: E731
    a = pyfwd.Network([4, 9, 3], ["tanh", "softmax"], seed=2)
    hist = a.fit(X, y, optimizer="sgd", lr=1.0, momentum=0.9, epochs=3, batch_size=32, shuffle=False,
                 lr_schedule=sched, verbose=False, backend=backend)
    assert hist["lr"] == [sched(0), sched(1), sched(2)]
    b = pyfwd.Network([4, 9, 3], ["tanh", "softmax"], seed=2)
    opt = optim.SGD(b, lr=1.0, momentum=0.9)
    for e in range(3):
        opt.lr = sched(e)
        b.fit(X, y, optimizer=opt, epochs=1, batch_size=32, shuffle=False, verbose=False, backend=backend)
    assert _params_bytes(a) == _params_bytes(b)
    c = pyfwd.Network([4, 9, 3], ["tanh", "softmax"], seed=2)
    d = pyfwd.Network([4, 9, 3], ["tanh", "softmax"], seed=2)
    hc = c.fit(X, y, lr=3e-3, epochs=2, lr_schedule=lambda e: 3e-3, verbose=False, backend=backend)
    hd = d.fit(X, y, lr=3e-3, epochs=2, verbose=False, backend=backend)
    assert _params_bytes(c) == _params_bytes(d)
    assert {k: v for k, v in hc.items() if k != "lr"} == hd


@pytest.mark.parametrize("bad,err", [(lambda e: -1.0, ValueError), (lambda e: float("nan"), ValueError),
                                     (lambda e: "fast", TypeError), (0.01, TypeError)])
def test_lr_schedule_bad_values_are_refused_before_training(bad, err):
    X, y = blobs(60)
    net = pyfwd.Network([4, 5, 3], ["relu", "softmax"], seed=0)
    before = _params_bytes(net)
    with pytest.raises(err, match="lr_schedule"):
        net.fit(X, y, epochs=2, lr_schedule=bad, verbose=False)
    assert _params_bytes(net) == before


@pytest.mark.parametrize("backend", pyfwd.backends())
def test_early_stopping_restores_the_best_epoch(backend):
    """patience=p: training stops p epochs after the best val_loss, and the parameters
    are those the best epoch ended with (the bits of a fit that ran exactly that many
    epochs); without validation data it watches the training loss."""
    X, y = blobs(200, seed=3)
    val = blobs(80, seed=4)
    # a rate that learns for 3 epochs, then one that diverges
    sched = lambda e: 0.05 if e < 3 else 40.0  # noqa: E731
    kw = dict(optimizer="sgd", batch_size=25, seed=7, lr_schedule=sched, verbose=False, backend=backend)
    net = pyfwd.Network([4, 12, 3], ["relu", "softmax"], seed=5)
    stream = io.StringIO()
    hist = net.fit(X, y, epochs=12, validation_data=val, patience=2, **{**kw, "verbose": True}, stream=stream)
    run = len(hist["val_loss"])
    vl = np.array(hist["val_loss"])
    best = int(np.nanargmin(vl)) + 1
    assert run < 12 and run == best + 2, hist["val_loss"]
    assert all(len(v) == run for v in hist.values())
    assert f"parameters of epoch {best} restored" in stream.getvalue()
    ref = pyfwd.Network([4, 12, 3], ["relu", "softmax"], seed=5)
    ref.fit(X, y, epochs=best, validation_data=val, **kw)
    assert _params_bytes(net) == _params_bytes(ref)
    # training loss watched; patience past the epochs run: no stop, nothing restored
    n2 = pyfwd.Network([4, 12, 3], ["relu", "softmax"], seed=5)
    h2 = n2.fit(X, y, epochs=4, patience=10, **kw)
    r2 = pyfwd.Network([4, 12, 3], ["relu", "softmax"], seed=5)
    r2.fit(X, y, epochs=4, **kw)
    assert len(h2["loss"]) == 4 and _params_bytes(n2) == _params_bytes(r2)


@pytest.mark.parametrize("backend", pyfwd.backends())
def test_batch_size_past_any_integer_is_one_batch(backend):
    """A batch_size beyond int64 (or 1e308) is one batch of all the samples, as
    batch_size=n, on every path (the native loop's core takes int64)."""
    X, y = blobs(10)
    ref = pyfwd.Network([4, 3], ["softmax"], seed=0)
    h0 = ref.fit(X, y, epochs=2, batch_size=10, verbose=False, backend=backend)
    for bs in (2 ** 63, 2 ** 70, 10 ** 400):
        net = pyfwd.Network([4, 3], ["softmax"], seed=0)
        assert net.fit(X, y, epochs=2, batch_size=bs, verbose=False, backend=backend) == h0
        assert _params_bytes(net) == _params_bytes(ref)


@pytest.mark.parametrize("patience,err", [(0, ValueError), (-1, ValueError), (True, TypeError), (1.5, TypeError)])
def test_early_stopping_patience_must_be_a_positive_integer(patience, err):
    X, y = blobs(30)
    net = pyfwd.Network([4, 3], ["softmax"], seed=0)
    with pytest.raises(err, match="patience"):
        net.fit(X, y, epochs=1, patience=patience, verbose=False)

# -- the native training loop (train_loop.h) -------------------------------------------
def _fit_both(monkeypatch, dims, dtype, make_opt, threads, batch, epochs=2, verbose=False, n=150, layout="C",
              shuffle=True):
    """(net, opt, history) of fit through the native loop and through the Python loop
    over _core calls, from the same start; X C-ordered, Fortran-ordered or strided."""
    X, y = blobs(n, seed=len(dims))
    X = np.ascontiguousarray(np.tile(X, (1, -(-dims[0] // X.shape[1])))[:, :dims[0]], dtype=dtype)
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "strided":
        X = np.repeat(X, 2, axis=1)[:, ::2]
    out = []
    for native in (True, False):
        pyfwd.set_num_threads(threads)
        net = pyfwd.Network(dims, ["relu"] * (len(dims) - 2) + ["softmax"], dtype=dtype, seed=3)
        opt = make_opt(net)
        with monkeypatch.context() as m:
            if not native:
                m.setattr(training, "_native", lambda *a: False)
            else:
                assert training._native(net, resolve("cpp"), __import__("pyfwd").losses.targets(
                    "cross_entropy", y, len(y), dims[-1]), opt)
            h = net.fit(X, y, optimizer=opt, epochs=epochs, batch_size=batch, seed=5, verbose=verbose,
                        backend="cpp", stream=io.StringIO(), shuffle=shuffle)
        out.append((net, opt, h))
    return out


def _same_training(a, b, what):
    (na, oa, ha), (nb, ob, hb) = a, b
    assert ha == hb, what
    assert oa.steps == ob.steps, what
    for k in na.params:
        assert na.params[k].tobytes() == nb.params[k].tobytes(), f"{what}: {k}"
    assert oa.state.keys() == ob.state.keys(), what
    for k in oa.state:
        for s in oa.state[k]:
            assert oa.state[k][s].tobytes() == ob.state[k][s].tobytes(), f"{what}: state {k} {s}"


NATIVE_OPTS = {
    "adam": lambda n: optim.Adam(n, lr=1e-2),
    "adam-l2": lambda n: optim.Adam(n, lr=1e-2, weight_decay=1e-2),
    "adamw": lambda n: optim.AdamW(n, lr=1e-2),
    "sgd": lambda n: optim.SGD(n, lr=0.1),
    "momentum": lambda n: optim.SGD(n, lr=0.05, momentum=0.9),
    "nesterov-wd": lambda n: optim.SGD(n, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
}


@pytest.mark.skipif("cpp" not in pyfwd.backends(), reason="the native training loop is the cpp backend's")
@pytest.mark.parametrize("opt", sorted(NATIVE_OPTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_training_loop_gives_the_bits_of_the_python_loop(monkeypatch, opt, dtype, restore_threads):
    """fit's native runs (the cpp backend: whole epochs, or verbose runs sized by time)
    against the Python loop over _core calls they replace, bit for bit: parameters,
    optimiser state and step count, history. Depths 1-3, batches that do and do not
    divide the data (a short last batch), the dot path (<= 16 rows) and the packed one,
    1 and 2 threads (batches either side of the gather's split), 2 epochs (the optimiser
    carried across runs), X C-ordered, Fortran-ordered and strided, with and without
    shuffling."""
    cases = [([12, 3], 1, 16, "C"), ([12, 9, 3], 2, 64, "F"), ([12, 40, 7, 3], 2, 37, "strided"),
             ([12, 9, 3], 1, 150, "C"),
             # batches of 2^16+ values: the batch gather splits its rows over the threads
             ([600, 20, 3], 2, 120, "strided"), ([600, 9, 3], 2, 150, "C")]
    for dims, threads, batch, layout in cases:
        a, b = _fit_both(monkeypatch, dims, dtype, NATIVE_OPTS[opt], threads, batch, layout=layout,
                         shuffle=batch != 64)
        _same_training(a, b, f"{opt} {dims} T={threads} batch={batch} X {layout}")


@pytest.mark.skipif("cpp" not in pyfwd.backends(), reason="the native training loop is the cpp backend's")
def test_native_training_loop_in_runs_for_the_progress_bar(monkeypatch, restore_threads):
    """verbose=True splits each epoch into runs (the first of 8 steps, then sized to report
    about every _RUN_REPORT_S): the same bits as one run per epoch and as the Python loop,
    and the bar reaches every epoch's end."""
    monkeypatch.setattr(training, "_RUN_REPORT_S", 1e-4)  # runs of a few steps
    for make in (NATIVE_OPTS["adam"], NATIVE_OPTS["momentum"]):
        a, b = _fit_both(monkeypatch, [12, 9, 3], np.float32, make, 2, 4, verbose=True, n=240)
        _same_training(a, b, "verbose runs")
        quiet, _ = _fit_both(monkeypatch, [12, 9, 3], np.float32, make, 2, 4, verbose=False, n=240)
        _same_training(a, quiet, "verbose runs vs one run per epoch")


@pytest.mark.skipif("cpp" not in pyfwd.backends(), reason="the native training loop is the cpp backend's")
def test_native_training_loop_fails_before_changing_anything(monkeypatch):
    """A run that raises (here: refused input, as a Ctrl-C would stop it) leaves the
    parameters, the optimiser's state and step count as they were; SGD's momentum
    buffers made for the run are dropped, so the next step starts them again."""
    X, y = blobs(60)
    net = pyfwd.Network([4, 8, 3], ["relu", "softmax"], seed=0)
    opt = optim.SGD(net, lr=0.1, momentum=0.9)
    before = {k: v.copy() for k, v in net.params.items()}
    X2 = np.ascontiguousarray(X)
    with pytest.raises(ValueError, match="order"):
        training._native_run(net, resolve("cpp"), opt, X2, y.astype(np.int64), np.full(60, 99), 16, 0, 2, 0.0)
    assert all(np.array_equal(net.params[k], before[k]) for k in before)
    assert opt.steps == 0 and all("momentum" not in st for st in opt.state.values())
    adam = optim.Adam(net, lr=1e-2)
    with pytest.raises(ValueError, match="past the end"):
        training._native_run(net, resolve("cpp"), adam, X2, y.astype(np.int64), np.arange(60), 16, 3, 2, 0.0)
    state = net._state(resolve("cpp"))  # the binding itself: no step index may overflow
    rule = {"kind": "sgd", "lr": 0.1, "weight_decay": 0.0, "momentum": 0.0, "nesterov": False}
    for start, batch, nsteps in ((2 ** 40, 2 ** 40, 1), (0, 2 ** 62, 2 ** 62), (-1, 16, 1), (0, 0, 1), (0, 16, -1)):
        with pytest.raises(ValueError, match="past the end"):
            state.fit_xent_steps(X2, y.astype(np.int64), np.arange(60), start, batch, nsteps, 0.0, rule, None,
                                 [[] for _ in range(4)], [False] * 4)
    assert adam.steps == 0 and all(not st["exp_avg"].any() and not st["exp_avg_sq"].any()
                                   for st in adam.state.values())
    assert all(np.array_equal(net.params[k], before[k]) for k in before)


def test_subclassed_optimizers_step_from_python():
    """A user's optimiser subclass may change the update: fit steps it from Python."""
    class Halved(optim.SGD):
        def _update_core(self, core, keys, ps, gs):
            return super()._update_core(core, keys, ps, [g * 0.5 for g in gs])

    net = pyfwd.Network([4, 8, 3], ["relu", "softmax"], seed=0)
    X, y = blobs(60)
    t = pyfwd.losses.targets("cross_entropy", y, len(y), 3)
    for be in pyfwd.backends():
        assert not training._native(net, resolve(be), t, Halved(net, lr=0.1))
    assert training._native(net, resolve("cpp"), t, optim.SGD(net, lr=0.1)) == ("cpp" in pyfwd.backends())


HIDDEN = ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "linear", "softmax"]


@pytest.mark.skipif("cpp" not in pyfwd.backends(), reason="the native training loop is the cpp backend's")
@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(widths=st.lists(st.integers(1, 70) | st.integers(110, 200), min_size=1, max_size=4),
       n_in=st.integers(1, 40) | st.integers(200, 800),
       classes=st.integers(2, 12), hidden=st.lists(st.sampled_from(HIDDEN), min_size=3, max_size=3),
       n=st.integers(1, 300), batch=st.integers(1, 320), threads=st.integers(1, 3),
       opt=st.sampled_from(sorted(NATIVE_OPTS)), dtype=st.sampled_from([np.float32, np.float64]),
       epochs=st.integers(1, 2), shuffle=st.booleans(), runs=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_property_native_training_loop_gives_the_python_bits(monkeypatch, restore_threads, widths, n_in, classes,
                                                             hidden, n, batch, threads, opt, dtype, epochs,
                                                             shuffle, runs, seed):
    """Whole trainings, native against the Python loop, bit for bit (parameters,
    optimiser state and steps, history): depth 1-4, widths 1-70 or 110-200, 1-40 or
    200-800 inputs (batches then cross the threading thresholds of the GEMMs, the batch
    gather and the bias sums), any hidden activation, 1-300 samples, batches from 1 to
    past the data (one short or single batch), 1-3 threads, every optimiser, both
    dtypes, 1-2 epochs, with and without shuffling, whole-epoch runs or runs of a step
    or two (verbose)."""
    dims = [n_in] + widths[:-1] + [classes]
    acts = hidden[:len(dims) - 2] + ["softmax"]
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in)).astype(dtype)
    y = rng.integers(0, classes, n)
    monkeypatch.setattr(training, "_RUN_REPORT_S", 1e-5)  # verbose: runs of a step or two
    monkeypatch.setattr(training, "_FIRST_RUN_STEPS", 1)
    out = []
    for native in (True, False):
        pyfwd.set_num_threads(threads)
        net = pyfwd.Network(dims, acts, dtype=dtype, seed=seed)
        o = NATIVE_OPTS[opt](net)
        with monkeypatch.context() as m:
            if not native:
                m.setattr(training, "_native", lambda *a: False)
            else:
                assert training._native(net, resolve("cpp"), pyfwd.losses.targets("cross_entropy", y, n, classes), o)
            h = net.fit(X, y, optimizer=o, epochs=epochs, batch_size=batch, seed=seed, verbose=runs,
                        shuffle=shuffle, backend="cpp", stream=io.StringIO())
        out.append((net, o, h))
    _same_training(out[0], out[1], f"{dims} {acts} n={n} batch={batch} T={threads} {opt} {np.dtype(dtype).name}")
