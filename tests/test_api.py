"""The public API and the tutorial's worked examples, on every backend."""
import contextlib
import io

import numpy as np
import pytest

import pyfwd
from pyfwd.testing import assert_forward_close


def _set_all(net, w=0.1, b=0.0):
    for key in list(net.params):
        net.params[key] = np.full(net.params[key].shape, w if key[0] == "W" else b)


def test_tutorial_class_shapes_and_cache_keys():
    nn = pyfwd.NeuralNetwork([3, 4, 2], ["relu", "sigmoid"], seed=0)
    X = np.random.default_rng(0).standard_normal((3, 5))  # (n_features, batch)
    AL, caches = nn.forward_propagation(X)
    assert AL.shape == (2, 5)
    assert set(caches) == {"A0", "Z1", "A1", "Z2", "A2"}
    assert caches["A0"].shape == (3, 5) and caches["Z1"].shape == (4, 5)
    assert caches["A1"].shape == (4, 5) and caches["Z2"].shape == (2, 5)
    np.testing.assert_array_equal(caches["A2"], AL)
    assert nn.parameters["W1"].shape == (4, 3) and nn.parameters["b1"].shape == (4, 1)
    # The tutorial's formulas, column-major, written out by hand:
    p = nn.parameters
    Z1 = p["W1"] @ X + p["b1"]
    A1 = np.maximum(Z1, 0)
    Z2 = p["W2"] @ A1 + p["b2"]
    np.testing.assert_allclose(AL, 1 / (1 + np.exp(-Z2)), rtol=1e-12)


def test_network_shape_is_rows_as_samples(backend):
    net = pyfwd.Network([3, 4, 2], ["relu", "sigmoid"], seed=0)
    X = np.random.default_rng(1).standard_normal((5, 3))
    assert net.forward(X, backend=backend).shape == (5, 2)
    assert net(X).shape == (5, 2)


def test_hand_computed_example(backend, dtype):
    """All weights 0.1, biases 0, x = [1, 2, 3]: hidden 0.6, output sigmoid(0.24)."""
    net = pyfwd.Network([3, 4, 2], ["relu", "sigmoid"], dtype=dtype, init="zeros")
    _set_all(net, 0.1)
    x = np.array([[1.0, 2.0, 3.0]])
    y, cache = net.forward(x, return_cache=True, backend=backend)
    expected_out = 1.0 / (1.0 + np.exp(-0.24))  # 0.5597136...
    assert abs(expected_out - 0.5597136) < 1e-7
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(cache["A1"], np.full((1, 4), 0.6), rtol=tol)
    np.testing.assert_allclose(y, np.full((1, 2), expected_out), rtol=tol)
    assert y.dtype == dtype


def test_tutorial_class_hand_example():
    nn = pyfwd.NeuralNetwork([3, 4, 2], ["relu", "sigmoid"], init="zeros")
    for k in list(nn.parameters):
        nn.parameters[k] = np.full(nn.parameters[k].shape, 0.1 if k[0] == "W" else 0.0)
    AL, caches = nn.forward_propagation(np.array([[1.0], [2.0], [3.0]]))
    np.testing.assert_allclose(caches["A1"], np.full((4, 1), 0.6), rtol=1e-14)
    np.testing.assert_allclose(AL, np.full((2, 1), 0.5597136493), rtol=1e-9)


def test_num_params_and_summary():
    net = pyfwd.Network([3, 4, 2], ["relu", "sigmoid"])
    assert net.num_params == 26
    s = net.summary()
    assert "Total params: 26" in s
    assert "dense_1" in s and "relu" in s and "(None, 4)" in s and "16" in s
    assert pyfwd.Network([784, 128, 10], ["relu", "softmax"]).num_params == 784 * 128 + 128 + 128 * 10 + 10


def test_untrained_mnist_net_softmax_rows_sum_to_one(backend, dtype):
    net = pyfwd.Network([784, 128, 10], ["relu", "softmax"], dtype=dtype, seed=42)
    X = np.random.default_rng(2).random((17, 784))
    y = net.forward(X, backend=backend)
    assert y.shape == (17, 10) and y.dtype == dtype
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=0, atol=20 * np.finfo(dtype).eps)
    assert (y >= 0).all()
    assert_forward_close(y, net.weights, net.biases, net.activations, X.astype(dtype))


def test_params_layout_and_he_init():
    net = pyfwd.Network([784, 128, 10], ["relu", "softmax"], seed=42)
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert net.params["W1"].shape == (128, 784) and net.params["b2"].shape == (10,)
    assert net.params["W1"].dtype == np.float32
    W = net.params["W1"].astype(np.float64)
    # He: std sqrt(2/fan_in) = 0.0505; 100k samples pin it to ~0.5%.
    assert abs(W.std() - np.sqrt(2 / 784)) < 0.02 * np.sqrt(2 / 784)
    assert abs(W.mean()) < 0.002
    assert not net.params["b1"].any()
    xav = pyfwd.Network([784, 128], "relu", init="xavier", seed=1).params["W1"].astype(np.float64)
    assert abs(xav.std() - np.sqrt(2 / (784 + 128))) < 0.02 * np.sqrt(2 / (784 + 128))
    assert not pyfwd.Network([4, 3], "relu", init="zeros").params["W1"].any()


def test_seed_reproducible():
    a = pyfwd.Network([5, 7, 3], "tanh", seed=7)
    b = pyfwd.Network([5, 7, 3], "tanh", seed=7)
    c = pyfwd.Network([5, 7, 3], "tanh", seed=8)
    np.testing.assert_array_equal(a.params["W1"], b.params["W1"])
    assert not np.array_equal(a.params["W1"], c.params["W1"])


def test_params_are_read_only_and_assignment_takes_effect(backend):
    net = pyfwd.Network([3, 2], "linear", init="zeros", dtype="float64")
    with pytest.raises(ValueError):
        net.params["W1"][0, 0] = 1.0  # read-only: would bypass packed copies
    x = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(net.forward(x, backend=backend), [[0.0, 0.0]])
    net.params["W1"] = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    net.params["b1"] = [0.5, -0.5]
    np.testing.assert_array_equal(net.forward(x, backend=backend), [[1.5, 2.5]])
    with pytest.raises(ValueError, match=r"W1 must have shape \(2, 3\)"):
        net.params["W1"] = np.ones((3, 2))
    with pytest.raises(KeyError, match="no parameter 'W9'"):
        net.params["W9"] = np.ones((2, 3))


def test_from_arrays_and_save_load(tmp_path, backend):
    rng = np.random.default_rng(3)
    Ws = [rng.standard_normal((6, 4)), rng.standard_normal((3, 6))]
    bs = [rng.standard_normal(6), rng.standard_normal(3)]
    net = pyfwd.Network.from_arrays(Ws, bs, ["gelu", "softmax"])
    assert net.dtype == np.float64 and net.layer_dims == [4, 6, 3]
    X = rng.standard_normal((9, 4))
    y = net.forward(X, backend=backend)
    assert_forward_close(y, Ws, bs, ["gelu", "softmax"], X)
    path = tmp_path / "m.npz"
    net.save(path)
    net2 = pyfwd.Network.load(path)
    assert net2.layer_dims == net.layer_dims and net2.activations == net.activations
    assert net2.dtype == net.dtype
    for k in net.params:
        np.testing.assert_array_equal(net2.params[k], net.params[k])
    np.testing.assert_array_equal(net2.forward(X, backend=backend), y)


def test_single_sample_1d_input(backend):
    net = pyfwd.Network([4, 5, 3], ["relu", "softmax"], seed=0)
    x = np.arange(4, dtype=np.float32)
    y = net.forward(x, backend=backend)
    assert y.shape == (3,)
    np.testing.assert_array_equal(y, net.forward(x[None, :], backend=backend)[0])


def test_empty_batch(backend, dtype):
    net = pyfwd.Network([4, 5, 3], ["relu", "softmax"], dtype=dtype, seed=0)
    y = net.forward(np.zeros((0, 4)), backend=backend)
    assert y.shape == (0, 3) and y.dtype == dtype
    y, cache = net.forward(np.zeros((0, 4)), return_cache=True, backend=backend)
    assert cache["Z1"].shape == (0, 5) and cache["A2"].shape == (0, 3)


def test_out_parameter(backend):
    net = pyfwd.Network([4, 5, 3], ["relu", "sigmoid"], seed=0)
    X = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
    out = np.empty((6, 3), np.float32)
    res = net.forward(X, backend=backend, out=out)
    assert res is out
    np.testing.assert_array_equal(out, net.forward(X, backend=backend))
    out2 = np.empty((6, 3), np.float32)
    y, cache = net.forward(X, return_cache=True, backend=backend, out=out2)
    assert y is out2
    np.testing.assert_array_equal(out2, out)


def test_dense_function(backend, dtype, rng):
    X = rng.standard_normal((7, 5)).astype(dtype)
    W = rng.standard_normal((3, 5)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    from pyfwd.testing import assert_dense_close
    for act in pyfwd.ACTIVATIONS:
        y = pyfwd.dense(X, W, b, activation=act, backend=backend)
        assert_dense_close(y, X, W, b, act)
    y = pyfwd.dense(X, W, None, backend=backend)
    assert_dense_close(y, X, W, None, "linear")
    out = np.empty((7, 3), dtype)
    assert pyfwd.dense(X, W, b, "relu", backend=backend, out=out) is out


def test_backend_selection():
    names = pyfwd.backends()
    assert names[-1] == "numpy" and "numpy" in names
    assert pyfwd.current_backend() == names[0]
    with pyfwd.use_backend("numpy"):
        assert pyfwd.current_backend() == "numpy"
    assert pyfwd.current_backend() == names[0]
    pyfwd.set_backend("numpy")
    try:
        assert pyfwd.current_backend() == "numpy"
    finally:
        pyfwd.set_backend(None)
    with pytest.raises(ValueError, match="unknown backend 'nope'; known backends"):
        pyfwd.set_backend("nope")
    with pytest.raises(ValueError, match="unknown backend"):
        pyfwd.Network([2, 2], "relu").forward(np.ones((1, 2)), backend="nope")


def test_num_threads_roundtrip():
    old = pyfwd.get_num_threads()
    try:
        pyfwd.set_num_threads(1)
        assert pyfwd.get_num_threads() == 1
        with pytest.raises(ValueError, match=">= 1"):
            pyfwd.set_num_threads(0)
        with pytest.raises(ValueError, match="<= 1024, got 10000"):
            pyfwd.set_num_threads(10000)
        assert pyfwd.get_num_threads() == 1
        with pytest.raises(TypeError):
            pyfwd.set_num_threads("2")
    finally:
        pyfwd.set_num_threads(old)


def test_num_threads_env_validated(tmp_path):
    import subprocess
    import sys
    code = "import pyfwd"
    for raw, ok in (("1", True), ("0", False), ("abc", False), ("5000", False)):
        env = dict(__import__("os").environ, PYFWD_NUM_THREADS=raw)
        r = subprocess.run([sys.executable, "-c", code + "; print(pyfwd.get_num_threads())"],
                           env=env, capture_output=True, text=True, cwd=tmp_path)
        if ok:
            assert r.returncode == 0 and r.stdout.strip() == raw, r.stderr
        else:
            assert r.returncode != 0 and "PYFWD_NUM_THREADS must be" in r.stderr


def test_show_config_reports_everything():
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        cfg = pyfwd.show_config()
    text = buf.getvalue()
    assert cfg["pyfwd"] == pyfwd.__version__ and pyfwd.__version__ in text
    assert cfg["backends"] == pyfwd.backends()
    assert cfg["num_threads"] == pyfwd.get_num_threads()
    assert "numpy_blas" in cfg and "backend_config" in cfg
    assert set(cfg["backend_config"]) == set(pyfwd.backends())


def test_repr():
    assert repr(pyfwd.Network([3, 4, 2], ["relu", "sigmoid"])) == (
        "Network(layer_dims=[3, 4, 2], activations=['relu', 'sigmoid'], dtype='float32')")


def test_params_can_never_be_made_writeable(backend):
    """A stale packed copy is impossible: no view of a stored parameter can be
    made writeable, so the only way to change one is assignment (which bumps the
    version and makes compiled backends repack)."""
    net = pyfwd.Network([3, 2], "linear", init="zeros", dtype="float64")
    x = np.array([[1.0, 2.0, 3.0]])
    net.forward(x, backend=backend)  # packs
    W1 = net.params["W1"]
    for view in (W1, W1.base, W1.T, W1[1:], net.weights[0], net.biases[0]):
        with pytest.raises(ValueError, match="WRITEABLE"):
            view.flags.writeable = True
    np.testing.assert_array_equal(net.forward(x, backend=backend), [[0.0, 0.0]])
    W = np.array([[1.0, 0, 0], [0, 0, 1.0]])
    net.params["W1"] = W
    W[0, 0] = 9.0  # the caller's array is copied, not kept
    np.testing.assert_array_equal(net.forward(x, backend=backend), [[1.0, 3.0]])
    with pytest.raises(ValueError, match="WRITEABLE"):
        net.params["W1"].flags.writeable = True


def test_documented_submodules_after_plain_import():
    """README spells pyfwd.datasets.load_mnist() after a plain ``import pyfwd``:
    the submodules load on first use; ``import pyfwd`` itself loads none of them
    (nor matplotlib)."""
    import subprocess
    import sys
    code = ("import sys, pyfwd; subs = ('datasets', 'viz', 'interop', 'testing'); "
            "print(sorted(m for m in ('matplotlib', *('pyfwd.' + s for s in subs)) if m in sys.modules)); "
            "print(all(s in dir(pyfwd) for s in subs)); "
            "print(pyfwd.datasets.load_mnist.__module__, pyfwd.viz.plot_activations.__name__, "
            "pyfwd.interop.from_onnx.__name__, pyfwd.testing.__name__); "
            "import pyfwd.viz as v; print(v is pyfwd.viz, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:4] == ["[]", "True", "pyfwd.datasets plot_activations from_onnx pyfwd.testing",
                                          "True False"]
    with pytest.raises(AttributeError, match="module 'pyfwd' has no attribute 'nope'"):
        pyfwd.nope  # noqa: B018


# -- scikit-learn-shaped predict / predict_proba / classes_ ------------------------

def _identity_net(act, n=3):
    """A one-layer network whose pre-activation is its input (W = I, b = 0)."""
    return pyfwd.Network.from_arrays([np.eye(n)], None, act)


def test_predict_and_predict_proba_by_output_layer(backend):
    X = np.array([[0.5, -1.0, 2.0], [3.0, 0.25, -2.0]])
    soft = _identity_net("softmax")
    P = soft.forward(X, backend=backend)
    assert soft.predict(X, backend=backend).tolist() == [2, 0]
    np.testing.assert_array_equal(soft.predict_proba(X, backend=backend), P)
    soft.classes_ = ["a", "b", "c"]
    assert soft.predict(X, backend=backend).tolist() == ["c", "a"]
    assert soft.predict(X[1], backend=backend) == "a"  # one sample, one prediction

    # several sigmoid outputs: multi-label, 0/1 indicators per output (as scikit-learn)
    multi = _identity_net("sigmoid")
    assert multi.predict(X, backend=backend).tolist() == [[1, 0, 1], [1, 1, 0]]
    np.testing.assert_array_equal(multi.predict_proba(X, backend=backend), multi.forward(X, backend=backend))

    # one sigmoid output: p > 0.5 is the positive class; probabilities [1 - p, p]
    binary = _identity_net("sigmoid", 1)
    x1 = np.array([[-1.5], [0.75], [3.0], [-0.1]])
    p = binary.forward(x1, backend=backend)[:, 0]
    assert binary.predict(x1, backend=backend).tolist() == [0, 1, 1, 0]
    np.testing.assert_array_equal(binary.predict_proba(x1, backend=backend), np.column_stack([1 - p, p]))
    assert binary.predict_proba(x1[2], backend=backend).shape == (2,)
    binary.classes_ = np.array(["no", "yes"], dtype=object)  # object arrays of str, as pandas gives
    assert binary.predict(x1, backend=backend).tolist() == ["no", "yes", "yes", "no"]

    # regressors (a linear last layer): the outputs as they are, 1-D for one output
    reg = _identity_net("linear")
    np.testing.assert_array_equal(reg.predict(X, backend=backend), X)
    w = np.array([[1.0, 2.0, -1.0]])
    reg1 = pyfwd.Network.from_arrays([w], [[0.5]], "linear")
    y1 = reg1.predict(X, backend=backend)
    assert y1.shape == (2,)
    np.testing.assert_array_equal(y1, reg1.forward(X, backend=backend)[:, 0])
    for net in (reg, reg1, _identity_net("relu")):
        with pytest.raises(ValueError, match=r"predict_proba needs .*softmax or sigmoid.*activation is '(linear|relu)'"):
            net.predict_proba(X, backend=backend)

    # scores (e.g. logits) with labels: predict takes the argmax
    logits = _identity_net("linear")
    logits.classes_ = [10, 20, 30]
    assert logits.predict(X, backend=backend).tolist() == [30, 10]


def test_binary_threshold_is_strict_as_in_scikit_learn():
    binary = _identity_net("sigmoid", 1)
    assert binary.forward(np.zeros((1, 1)), backend="numpy")[0, 0] == 0.5
    assert binary.predict(np.zeros((1, 1)), backend="numpy").tolist() == [0]  # p == 0.5 is negative


@pytest.mark.parametrize("act, n, classes, exc, match", [
    ("softmax", 3, ["a", "b"], ValueError, r"2 labels, the network needs one label per output \(3\)"),
    ("sigmoid", 1, [0, 1, 2], ValueError, r"needs 2 labels \[negative, positive\]"),
    ("softmax", 3, [1, 2, 1], ValueError, "distinct"),
    ("softmax", 3, [[1, 2, 3]], ValueError, "1-D"),
    ("softmax", 3, np.array([1, "b", 3], dtype=object), TypeError, "numbers, bools or strings"),
    ("softmax", 3, np.array([b"a", b"b", b"c"]), TypeError, "numbers, bools or strings"),
    ("softmax", 3, ["a", "b", "c" * 300], ValueError, "limited to 256 characters"),
    ("linear", 1, [0, 1], ValueError, "single 'linear' output cannot classify"),
])
def test_classes_are_validated(act, n, classes, exc, match):
    net = _identity_net(act, n)
    with pytest.raises(exc, match=match):
        net.classes_ = classes
    assert net.classes_ is None


def test_classes_are_immutable_and_clearable():
    net = _identity_net("softmax")
    labels = [3, 1, 2]
    net.classes_ = labels
    labels[0] = 9
    assert net.classes_.tolist() == [3, 1, 2]
    with pytest.raises(ValueError, match="WRITEABLE"):
        net.classes_.flags.writeable = True
    net.classes_ = None
    assert net.classes_ is None and net.predict(np.eye(3)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("labels", [["cat", "dog", "emu"], [7, -2, 5], [0.5, 1.5, 2.5], None])
def test_classes_survive_save_load_and_pickle(tmp_path, labels):
    import pickle
    net = _identity_net("softmax")
    net.classes_ = labels
    X = np.array([[0.0, 1.0, 0.0], [2.0, 0.0, 0.0]])
    path = tmp_path / "m.npz"
    net.save(path)
    for copy in (pyfwd.Network.load(path), pickle.loads(pickle.dumps(net))):
        if labels is None:
            assert copy.classes_ is None
        else:
            assert copy.classes_.dtype == net.classes_.dtype
            np.testing.assert_array_equal(copy.classes_, labels)
        np.testing.assert_array_equal(copy.predict(X), net.predict(X))


def test_binary_bool_classes_survive_save_load(tmp_path):
    net = _identity_net("sigmoid", 1)
    net.classes_ = [False, True]
    net.save(tmp_path / "b.npz")
    back = pyfwd.Network.load(tmp_path / "b.npz")
    assert back.classes_.dtype == bool
    assert back.predict(np.array([[-1.0], [1.0]])).tolist() == [False, True]
