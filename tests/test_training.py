"""Network.fit / evaluate / loss_and_gradients / backward: the API, the read-only
contract during training, reproducibility, the optimiser objects, and bad input."""
from __future__ import annotations

import io

import numpy as np
import pytest

import pyfwd
from pyfwd import optim
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


def test_fit_respects_the_read_only_contract(monkeypatch):
    """Every step replaces the parameters by frozen arrays with one version bump, and
    the backend packs once per step (not once per parameter or layer call)."""
    X, y = blobs(100)
    net = pyfwd.Network([4, 8, 8, 3], ["relu", "relu", "softmax"], seed=0)
    be = resolve("cpp" if "cpp" in pyfwd.backends() else pyfwd.backends()[0])
    calls = []
    real = type(be).prepare
    monkeypatch.setattr(type(be), "prepare", lambda self, *a: calls.append(1) or real(self, *a))
    v0 = net._version
    net.fit(X, y, epochs=1, batch_size=25, verbose=False, backend=be.name)
    assert net._version == v0 + 4 and len(calls) == 4
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
