"""Weights from PyTorch, Keras 3, scikit-learn and ONNX, checked against each
framework's own forward pass.

How "equal" is judged: the imported network's parameters define a float64
reference (pyfwd.testing). pyfwd's output on every backend AND the framework's
own output on the same inputs must both lie within the numerics contract's
bound of that reference. A wrong import (a missing transpose, a wrong
activation, a dropped bias) moves the reference away from what the framework
computes with its own weights, so the framework's output fails the check.
"""
from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pytest

import pyfwd
import pyfwd.datasets
import pyfwd.interop
from pyfwd.datasets import load_mnist
from pyfwd.interop import UnsupportedLayerError
from pyfwd.testing import assert_forward_close

ACTS = list(pyfwd.ACTIVATIONS)  # linear relu leaky_relu sigmoid tanh softmax gelu silu


def check_import(net, X, y_framework, dtype):
    """pyfwd (every backend) and the framework both meet the contract for the
    imported parameters on X."""
    assert net.dtype == np.dtype(dtype)
    y_framework = np.asarray(y_framework)
    assert y_framework.dtype == np.dtype(dtype), "compare like with like: framework ran in another dtype"
    args = (net.weights, net.biases, net.activations, X)
    try:
        assert_forward_close(y_framework, *args)
    except AssertionError as exc:
        raise AssertionError(f"the framework's own output: {exc}") from None
    for be in pyfwd.backends():
        try:
            assert_forward_close(net.forward(X, backend=be), *args)
        except AssertionError as exc:
            raise AssertionError(f"pyfwd backend {be!r}: {exc}") from None


@pytest.fixture(scope="module")
def digits():
    """200 real MNIST test digits (float32 in [0, 1]) and 16 wide-range rows."""
    _, (Xt, _) = load_mnist()
    rng = np.random.default_rng(7)
    wild = rng.standard_normal((16, 784)) * 4.0
    return np.vstack([Xt[:200], wild]).astype(np.float32)


# -- missing frameworks -------------------------------------------------------

@pytest.mark.parametrize("module, call", [
    ("torch", lambda: pyfwd.Network.from_torch(object())),
    ("keras", lambda: pyfwd.Network.from_keras(object())),
    ("onnx", lambda: pyfwd.Network.from_onnx("model.onnx")),
    ("onnx", lambda: pyfwd.Network([2, 1], "relu").to_onnx("model.onnx")),
])
def test_missing_framework_says_which_extra(monkeypatch, module, call):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` raise ImportError
    with pytest.raises(ImportError, match=r'pip install "pyfwd\[interop\]"'):
        call()


def test_importing_pyfwd_loads_no_framework():
    import subprocess
    code = ("import sys, pyfwd, pyfwd.interop, pyfwd.datasets, pyfwd.viz; "
            "print(sorted(m for m in ('torch','keras','sklearn','onnx','onnxruntime','matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- PyTorch --------------------------------------------------------------------

def _torch_act(nn, name):
    return {"linear": nn.Identity(), "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(),
            "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "softmax": nn.Softmax(dim=-1),
            "gelu": nn.GELU(), "silu": nn.SiLU()}[name]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install \"pyfwd[interop]\")")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("act", ACTS)
def test_from_torch_matches_torch(torch, digits, act, dtype):
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 48), _torch_act(nn, act), nn.Linear(48, 24), _torch_act(nn, act),
                          nn.Linear(24, 10), nn.Softmax(dim=1)).to(getattr(torch, dtype)).eval()
    net = pyfwd.Network.from_torch(model)
    assert net.activations == [act, act, "softmax"]
    X = digits.astype(dtype)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(X)).numpy()
    check_import(net, X, y_torch, dtype)


def test_from_torch_flatten_no_bias_nested_dropout(torch, digits):
    nn = torch.nn
    torch.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(784, 32, bias=False), nn.Tanh()),
                          nn.Dropout(0.5), nn.Linear(32, 10)).eval()
    net = pyfwd.interop.from_torch(model)
    assert net.layer_dims == [784, 32, 10] and net.activations == ["tanh", "linear"]
    assert np.all(net.biases[0] == 0)
    images = digits[:50].reshape(-1, 28, 28)
    with torch.no_grad():
        y_torch = model(torch.from_numpy(images)).numpy()
    check_import(net, digits[:50], y_torch, "float32")


def test_from_torch_single_linear_and_half_precision(torch):
    lin = torch.nn.Linear(5, 3).to(torch.bfloat16)
    net = pyfwd.Network.from_torch(lin)
    assert net.dtype == np.float32 and net.layer_dims == [5, 3]
    np.testing.assert_array_equal(net.weights[0], lin.weight.detach().float().numpy())
    assert pyfwd.Network.from_torch(lin, dtype="float64").dtype == np.float64


@pytest.mark.parametrize("layers, match", [
    (lambda nn: [nn.Linear(4, 3), nn.LeakyReLU(0.2)], r"negative_slope=0\.2.*slope 0\.01 only"),
    (lambda nn: [nn.Linear(4, 3), nn.GELU(approximate="tanh")], r"approximate='tanh'"),
    (lambda nn: [nn.Linear(4, 3), nn.Softmax(dim=0)], r"dim=0"),
    (lambda nn: [nn.Linear(4, 3), nn.Softmax()], r"dim=None"),
    (lambda nn: [nn.Linear(4, 3), nn.ELU()], r"#1 ELU"),
    (lambda nn: [nn.Linear(4, 3), nn.BatchNorm1d(3)], r"#1 BatchNorm1d"),
    (lambda nn: [nn.Linear(4, 3), nn.ReLU(), nn.Sigmoid()], r"second activation after 'relu'"),
    (lambda nn: [nn.ReLU(), nn.Linear(4, 3)], r"before the first dense layer"),
    (lambda nn: [nn.Linear(4, 3), nn.Flatten()], r"Flatten is only accepted before the first layer"),
])
def test_from_torch_unsupported_names_layer_and_supported(torch, layers, match):
    model = torch.nn.Sequential(*layers(torch.nn))
    with pytest.raises(UnsupportedLayerError, match=match) as info:
        pyfwd.Network.from_torch(model)
    assert "pyfwd supports nn.Linear" in str(info.value)


def test_from_torch_rejects_non_module_and_empty(torch):
    with pytest.raises(TypeError, match="torch.nn.Module"):
        pyfwd.Network.from_torch([1, 2])
    with pytest.raises(ValueError, match="no dense layer"):
        pyfwd.Network.from_torch(torch.nn.Sequential(torch.nn.Identity()))


def test_from_torch_shape_mismatch_is_clear(torch):
    nn = torch.nn
    with pytest.raises(ValueError, match="takes 5 inputs but the previous layer gives 3"):
        pyfwd.Network.from_torch(nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2)))


# -- Keras 3 -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def keras():
    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")  # no TensorFlow needed
    return pytest.importorskip("keras", minversion="3", reason="Keras 3 is not installed "
                               "(pip install \"pyfwd[interop]\")")


def _keras_out(keras, model, X):
    y = model(X, training=False)
    # torch backend: a torch tensor (np.array() of it warns under NumPy 2)
    return y.detach().cpu().numpy() if hasattr(y, "detach") else keras.ops.convert_to_numpy(y)


@pytest.mark.parametrize("act", ["linear", None, "relu", "sigmoid", "tanh", "softmax", "gelu", "silu", "swish"])
def test_from_keras_dense_activation(keras, digits, act):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(40, activation=act),
                              keras.layers.Dense(10, activation="softmax")])
    net = pyfwd.Network.from_keras(model)
    expected = {None: "linear", "swish": "silu"}.get(act, act)
    assert net.activations == [expected, "softmax"]
    check_import(net, digits, _keras_out(keras, model, digits), "float32")


def test_from_keras_activation_layers(keras, digits):
    keras.utils.set_random_seed(1)
    L = keras.layers
    block = keras.Sequential([L.Dense(24, use_bias=False), L.ReLU()])  # nested: expanded
    model = keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(32), L.LeakyReLU(negative_slope=0.01),
                              L.Dropout(0.3), block,
                              L.Dense(16), L.Activation("gelu"), L.Dense(10), L.Softmax()])
    net = pyfwd.Network.from_keras(model)
    assert net.activations == ["leaky_relu", "relu", "gelu", "softmax"]
    assert net.layer_dims == [784, 32, 24, 16, 10]
    y = _keras_out(keras, model, digits.reshape(-1, 28, 28))
    check_import(net, digits, y, "float32")


def test_from_keras_functional(keras, digits):
    # float32: Keras 3.15 on torch promotes float64 x float64 matmul to float32
    # (keras.src.backend.common.dtypes.result_type gives float32), so a "float64"
    # Keras model is not float64-accurate and cannot serve as a float64 reference.
    keras.utils.set_random_seed(2)
    inp = keras.Input((784,))
    h = keras.layers.Dense(20, activation="tanh")(inp)
    out = keras.layers.Dense(3, activation="sigmoid")(h)
    model = keras.Model(inp, out)
    net = pyfwd.Network.from_keras(model)
    assert net.activations == ["tanh", "sigmoid"]
    check_import(net, digits, _keras_out(keras, model, digits), "float32")
    assert pyfwd.Network.from_keras(model, dtype="float64").dtype == np.float64


@pytest.mark.parametrize("layer, match", [
    (lambda L: L.Dense(3, activation="leaky_relu"), r"negative_slope=0\.2.*LeakyReLU\(negative_slope=0\.01\)"),
    (lambda L: L.Dense(3, activation="elu"), r"activation 'elu'"),
    (lambda L: L.LeakyReLU(), r"negative_slope=0\.3"),
    (lambda L: L.ReLU(max_value=6.0), r"max_value"),
    (lambda L: L.BatchNormalization(), r"BatchNormalization"),
])
def test_from_keras_unsupported(keras, layer, match):
    L = keras.layers
    model = keras.Sequential([keras.Input((4,)), L.Dense(3), layer(L)])
    with pytest.raises(UnsupportedLayerError, match=match) as info:
        pyfwd.Network.from_keras(model)
    assert "pyfwd supports Dense" in str(info.value)


def test_from_keras_unbuilt_and_wrong_type(keras):
    with pytest.raises(ValueError, match="not built"):
        pyfwd.Network.from_keras(keras.Sequential([keras.layers.Dense(3)]))
    with pytest.raises(TypeError, match="keras.Model"):
        pyfwd.Network.from_keras("model.keras")


# -- scikit-learn ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sk():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed (pip install \"pyfwd[interop]\")")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    X, y = pyfwd.datasets.load_digits(dtype="float64")

    def fit(est, Xf, yf):
        with warnings.catch_warnings():
            # a few iterations are enough to get non-trivial weights
            warnings.simplefilter("ignore", ConvergenceWarning)
            return est.fit(Xf, yf)
    return MLPClassifier, MLPRegressor, fit, X[:600], y[:600]


def check_sklearn_predictions(net, est, X):
    """Every backend's predict equals the estimator's (labels, dtype kind and
    shape) and predict_proba matches it; the inputs are far enough from every
    decision boundary that exact equality of predict is a fair demand."""
    np.testing.assert_array_equal(net.classes_, est.classes_)
    P = est.predict_proba(X)
    if net.activations[-1] == "sigmoid":
        assert np.min(np.abs(P - 0.5)) > 1e-9
    else:
        top2 = np.sort(P, axis=1)[:, -2:]
        assert np.min(top2[:, 1] - top2[:, 0]) > 1e-9
    expected = est.predict(X)
    assert len(np.unique(expected)) > 1, "a constant predictor would not test the thresholds"
    for be in pyfwd.backends():
        got = net.predict(X, backend=be)
        assert got.shape == expected.shape and got.dtype.kind == expected.dtype.kind, be
        np.testing.assert_array_equal(got, expected, err_msg=be)
        np.testing.assert_allclose(net.predict_proba(X, backend=be), P, rtol=1e-9, atol=1e-12, err_msg=be)


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
def test_from_sklearn_multiclass_softmax(sk, activation):
    MLPClassifier, _, fit, X, y = sk
    est = fit(MLPClassifier((24, 16), activation=activation, max_iter=40, random_state=0), X, y)
    net = pyfwd.Network.from_sklearn(est)
    hidden = {"identity": "linear", "logistic": "sigmoid"}.get(activation, activation)
    assert net.activations == [hidden, hidden, "softmax"] and net.layer_dims == [64, 24, 16, 10]
    check_import(net, X, est.predict_proba(X), "float64")
    check_sklearn_predictions(net, est, X)


def test_from_sklearn_multiclass_string_labels(sk):
    MLPClassifier, _, fit, X, y = sk
    names = np.array(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"])
    est = fit(MLPClassifier((16,), max_iter=30, random_state=1), X, names[y])
    net = pyfwd.Network.from_sklearn(est)
    assert net.classes_.tolist() == sorted(names)
    check_sklearn_predictions(net, est, X)


@pytest.mark.parametrize("labels", [(0, 1), (3, 7), ("cat", "dog"), (False, True)], ids=str)
def test_from_sklearn_binary_logistic_one_output(sk, labels):
    """A binary MLPClassifier has one logistic output: predict thresholds it (it
    was an argmax over one column, always class 0), predict_proba is [1 - p, p],
    and the labels are the estimator's."""
    MLPClassifier, _, fit, X, y = sk
    est = fit(MLPClassifier((16,), max_iter=40, random_state=0), X, np.array(labels)[y % 2])
    net = pyfwd.Network.from_sklearn(est)
    assert net.activations == ["relu", "sigmoid"] and net.layer_dims[-1] == 1
    check_import(net, X, est.predict_proba(X)[:, 1:], "float64")
    check_sklearn_predictions(net, est, X)


def test_from_sklearn_multilabel_logistic(sk):
    MLPClassifier, _, fit, X, y = sk
    Y = np.column_stack([y % 2, y > 4, y % 3 == 0]).astype(int)
    est = fit(MLPClassifier((16,), max_iter=40, random_state=0), X, Y)
    net = pyfwd.Network.from_sklearn(est)
    assert net.activations == ["relu", "sigmoid"] and net.layer_dims[-1] == 3
    check_import(net, X, est.predict_proba(X), "float64")
    check_sklearn_predictions(net, est, X)


@pytest.mark.parametrize("outputs", [1, 2])
def test_from_sklearn_regressor_identity(sk, outputs):
    _, MLPRegressor, fit, X, y = sk
    targets = np.column_stack([y, X.sum(axis=1)])[:, :outputs]
    est = fit(MLPRegressor(hidden_layer_sizes=(16,), activation="tanh", max_iter=40, random_state=0), X,
              targets[:, 0] if outputs == 1 else targets)
    net = pyfwd.Network.from_sklearn(est)
    assert net.activations == ["tanh", "linear"] and net.classes_ is None
    expected = est.predict(X)
    check_import(net, X, expected.reshape(len(X), outputs), "float64")
    for be in pyfwd.backends():
        got = net.predict(X, backend=be)
        assert got.shape == expected.shape == ((len(X),) if outputs == 1 else (len(X), 2))
        assert_forward_close(got.reshape(len(X), outputs), net.weights, net.biases, net.activations, X)
        with pytest.raises(ValueError, match="predict_proba needs"):
            net.predict_proba(X, backend=be)


def test_from_sklearn_labels_survive_save_load_and_pickle(sk, tmp_path):
    import pickle
    MLPClassifier, _, fit, X, y = sk
    est = fit(MLPClassifier((8,), max_iter=30, random_state=0), X, np.array(["even", "odd"])[y % 2])
    net = pyfwd.Network.from_sklearn(est)
    net.save(tmp_path / "m.npz")
    for back in (pyfwd.Network.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(net))):
        np.testing.assert_array_equal(back.classes_, ["even", "odd"])
        np.testing.assert_array_equal(back.predict(X), est.predict(X))


def test_from_sklearn_dtype_and_errors(sk):
    MLPClassifier, _, fit, X, y = sk
    est = fit(MLPClassifier((8,), max_iter=5, random_state=0), X, y)
    net32 = pyfwd.Network.from_sklearn(est, dtype="float32")
    assert net32.dtype == np.float32
    np.testing.assert_array_equal(net32.weights[0], est.coefs_[0].T.astype(np.float32))
    with pytest.raises(ValueError, match="not fitted yet"):
        pyfwd.Network.from_sklearn(MLPClassifier())
    from sklearn.linear_model import LogisticRegression
    with pytest.raises(UnsupportedLayerError, match="LogisticRegression.*MLPClassifier/MLPRegressor"):
        pyfwd.Network.from_sklearn(LogisticRegression())


# -- ONNX ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ort():
    pytest.importorskip("onnx", reason="onnx is not installed (pip install \"pyfwd[interop]\")")
    return pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install \"pyfwd[interop]\")")


def _ort_run(ort, model_or_path, X):
    src = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else str(model_or_path)
    sess = ort.InferenceSession(src, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X})[0]


# onnxruntime's CPU provider has no float64 LeakyRelu or Erf (used by Gelu):
# those two run in float32 only; their float64 export is checked by from_onnx.
ORT_CASES = [(a, "float32") for a in ACTS] + [(a, "float64") for a in ACTS if a not in ("leaky_relu", "gelu")]


@pytest.mark.parametrize("act, dtype", ORT_CASES)
def test_to_onnx_runs_in_onnxruntime_and_round_trips(ort, tmp_path, digits, act, dtype):
    net = pyfwd.Network([784, 40, 20, 10], [act, act, "softmax"], dtype=dtype, seed=3)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    X = digits.astype(dtype)
    check_import(net, X, _ort_run(ort, path, X), dtype)
    back = pyfwd.Network.from_onnx(path)
    assert back.activations == net.activations and back.dtype == net.dtype
    for a, b in zip(back.weights + back.biases, net.weights + net.biases):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("act", ["leaky_relu", "gelu"])
def test_to_onnx_float64_round_trip_without_runtime(ort, act):
    net = pyfwd.Network([6, 5, 3], [act, "linear"], dtype="float64", seed=0)
    back = pyfwd.Network.from_onnx(pyfwd.interop.to_onnx(net))  # a ModelProto, no file
    assert back.activations == [act, "linear"] and back.dtype == np.float64
    np.testing.assert_array_equal(back.weights[1], net.weights[1])


# onnxscript (needed by torch's newer dynamo exporter) is not part of the interop
# extra, so the TorchScript exporter is used; it warns that it is deprecated.
@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")
@pytest.mark.parametrize("act", ["relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu"])
def test_from_onnx_of_torch_export(ort, torch, tmp_path, digits, act):
    nn = torch.nn
    torch.manual_seed(4)
    model = nn.Sequential(nn.Linear(784, 32), _torch_act(nn, act), nn.Linear(32, 10), nn.Softmax(dim=-1)).eval()
    path = tmp_path / "torch.onnx"
    torch.onnx.export(model, (torch.zeros(1, 784),), str(path), dynamo=False, opset_version=20,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    net = pyfwd.Network.from_onnx(path)
    assert net.activations == [act, "softmax"]
    check_import(net, digits, _ort_run(ort, path, digits), "float32")


def _graph(onnx, nodes, inits, opset=13, n_in=6, n_out=3):
    from onnx import TensorProto, helper, numpy_helper
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", n_in])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", n_out])],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=7)


def test_from_onnx_matmul_add_constant_transpose_silu_opset11(ort, digits):
    import onnx
    from onnx import helper, numpy_helper
    rng = np.random.default_rng(5)
    W1 = rng.standard_normal((784, 8)).astype(np.float32)  # MatMul: (in, out)
    b1 = rng.standard_normal(8).astype(np.float32)
    W2 = rng.standard_normal((3, 8)).astype(np.float32)    # given (out, in), transposed by a node
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["m"]),
        helper.make_node("Constant", [], ["b1"], value=numpy_helper.from_array(b1)),
        helper.make_node("Add", ["b1", "m"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["s"]),
        helper.make_node("Mul", ["s", "z"], ["h"]),
        helper.make_node("Transpose", ["W2t"], ["W2T"], perm=[1, 0]),
        helper.make_node("MatMul", ["h", "W2T"], ["z2"]),
        helper.make_node("Softmax", ["z2"], ["y"]),  # opset 11: default axis 1
    ]
    model = _graph(onnx, nodes, {"W1": W1, "W2t": W2}, opset=11, n_in=784)
    onnx.checker.check_model(model)
    net = pyfwd.Network.from_onnx(model)
    assert net.activations == ["silu", "softmax"] and net.layer_dims == [784, 8, 3]
    np.testing.assert_array_equal(net.weights[1], W2)
    assert np.all(net.biases[1] == 0)
    check_import(net, digits, _ort_run(ort, model, digits), "float32")


def _one_layer(onnx, act_node, opset=13):
    from onnx import helper
    rng = np.random.default_rng(6)
    W = rng.standard_normal((3, 6)).astype(np.float32)
    nodes = [helper.make_node("Gemm", ["x", "W"], ["z"], transB=1)]
    if act_node is not None:
        nodes.append(act_node)
    return _graph(onnx, nodes, {"W": W, "W2": np.ones((3, 3), np.float32)}, opset=opset)


@pytest.mark.parametrize("make, opset, match", [
    (lambda h: h.make_node("LeakyRelu", ["z"], ["y"], alpha=0.2), 13, r"alpha=0\.2"),
    (lambda h: h.make_node("Softmax", ["z"], ["y"], axis=0), 13, r"axis=0"),
    (lambda h: h.make_node("Gelu", ["z"], ["y"], approximate="tanh"), 20, r"approximate='tanh'"),
    (lambda h: h.make_node("Elu", ["z"], ["y"]), 13, r"node #1 Elu"),
    (lambda h: h.make_node("Add", ["z", "z"], ["y"]), 13, r"follows a chain"),
    (lambda h: h.make_node("MatMul", ["W2", "z"], ["y"]), 13, r"must be its first input"),
])
def test_from_onnx_unsupported_nodes(ort, make, opset, match):
    import onnx
    model = _one_layer(onnx, make(onnx.helper), opset)
    with pytest.raises(UnsupportedLayerError, match=match) as info:
        pyfwd.Network.from_onnx(model)
    assert "pyfwd supports a chain of Gemm" in str(info.value)


def _gemm_model(nodes, inits=None, in_dims=("n", 6), out_dims=("n", 3)):
    from onnx import TensorProto, helper, numpy_helper
    inits = {"W": np.ones((3, 6), np.float32), "b": np.ones(3, np.float32)} if inits is None else inits
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(in_dims))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_dims))],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)


def _bad_onnx_models(h):
    Wt = {"Wt": np.ones((6, 3), np.float32)}
    return [
        (_gemm_model([h.make_node("Gemm", ["x"], ["y"])]),
         UnsupportedLayerError, r"Gemm with 1 input\(s\); it needs the data and a constant weight"),
        (_gemm_model([h.make_node("MatMul", ["x", "Wt"], ["z"]), h.make_node("Add", ["z"], ["y"])], Wt),
         UnsupportedLayerError, r"Add of \['z'\]: after a MatMul, pyfwd takes an Add of the data and one constant"),
        (_gemm_model([h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1, alpha="2")]),
         UnsupportedLayerError, r"attribute alpha=b'2' must be a number"),
        (_gemm_model([h.make_node("Gemm", ["x", "W", "b"], ["y"], transB="yes")]),
         UnsupportedLayerError, r"attribute transB='yes' must be an integer|transB=b'yes' must be an integer"),
        (_gemm_model([h.make_node("Gemm", ["x", "W"], ["z"], transB=1), h.make_node("LeakyRelu", ["z"], ["y"],
                                                                                    alpha="0.01")]),
         UnsupportedLayerError, r"attribute alpha=b'0.01' must be a number"),
        (_gemm_model([h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], in_dims=("n", -6)),
         ValueError, r"'x' has a negative dimension in its shape \[None, -6\]"),
        (_gemm_model([h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], in_dims=("n", 5)),
         ValueError, r"graph input 'x' has shape \[None, 5\], but the network takes 6 features"),
        (_gemm_model([h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], out_dims=("n", 4)),
         ValueError, r"graph output 'y' has shape \[None, 4\], but the network gives 3 features"),
        (_gemm_model([h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1), h.make_node("Relu", ["y"], ["y"])]),
         ValueError, r"node #1 Relu '' writes 'y', which is already defined"),
        (_gemm_model([h.make_node("Relu", ["y"], ["y"])]),
         ValueError, r"node #0 Relu '' reads 'y' before anything defines it"),
        (_gemm_model([h.make_node("Gemm", ["x", "W", "b"], ["y"], transB=1)], {"W": np.ones((3, 6), np.float32),
                                                                             "b": np.ones(4, np.float32)}),
         UnsupportedLayerError, r"bias of shape \(4,\) for 3 outputs"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_from_onnx_malformed_graphs_clear_errors(ort, case):
    import onnx
    model, exc, match = _bad_onnx_models(onnx.helper)[case]
    with pytest.raises(exc, match=match):
        pyfwd.Network.from_onnx(model)


def test_from_onnx_unreadable_initializer_and_garbage_bytes(ort):
    from onnx import TensorProto, helper
    model = _gemm_model([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)], {})
    model.graph.initializer.append(TensorProto(name="W", data_type=TensorProto.FLOAT, dims=[-3, 6], raw_data=b"\0" * 72))
    with pytest.raises(ValueError, match=r"initializer 'W' has a negative dimension: dims \[-3, 6\]"):
        pyfwd.Network.from_onnx(model)  # numpy alone would reshape to (3, 6)
    model.graph.initializer[0].dims[:] = [4, 6]
    with pytest.raises(ValueError, match=r"initializer 'W' is not a readable tensor \(dims \[4, 6\]"):
        pyfwd.Network.from_onnx(model)
    with pytest.raises(ValueError, match=r"11 bytes given: not a readable ONNX model \(DecodeError"):
        pyfwd.Network.from_onnx(b"\x12\x34garbage\xff\xff")


def test_from_onnx_bad_files(ort, tmp_path):
    with pytest.raises(FileNotFoundError):
        pyfwd.Network.from_onnx(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\xfe not a protobuf" * 10)
    with pytest.raises(ValueError, match="not a readable ONNX model"):
        pyfwd.Network.from_onnx(junk)
