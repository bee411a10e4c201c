"""16-bit models through pyfwd.interop: a bfloat16/float16 PyTorch module or
ONNX model imports as a network with that weight dtype and exactly its weights,
and to_onnx writes 16-bit initializers that ONNX Runtime runs and from_onnx
reads back bit for bit.

How "equal" is judged:

* the framework's float32 run of the same (rounded) weights, and pyfwd's own
  output on every backend, meet the numerics contract (pyfwd.testing) against
  the float64 reference of the imported parameters;
* the framework's 16-bit run (PyTorch on bfloat16/float16 tensors, ONNX Runtime
  on a float16 graph) rounds every activation to 16 bits, which the float32
  contract does not allow for. It is checked against the same float64
  reference with the bound of :func:`pyfwd.testing.storage16_bounds`, derived there
  from that rounding. A dropped bias moves the reference out of that bound (tested),
  so it is not vacuous.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest

import pyfwd
import pyfwd.interop
from pyfwd.datasets import load_mnist
from pyfwd.interop import UnsupportedLayerError
from pyfwd.testing import assert_forward_close, assert_within, storage16_bounds

ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes (pip install ml_dtypes)")
BF16 = np.dtype(ml_dtypes.bfloat16)
#: unit roundoff of each 16-bit dtype (8 and 11 significant bits)
ACTS = list(pyfwd.ACTIVATIONS)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch", reason="PyTorch is not installed (pip install \"pyfwd[interop]\")")


@pytest.fixture(scope="module")
def ort():
    pytest.importorskip("onnx", reason="onnx is not installed (pip install \"pyfwd[interop]\")")
    return pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install \"pyfwd[interop]\")")


@pytest.fixture(scope="module")
def X():
    """100 real MNIST test digits and 8 wide-range rows, float32."""
    _, (Xt, _) = load_mnist()
    wild = np.random.default_rng(11).standard_normal((8, 784)) * 4.0
    return np.vstack([Xt[:100], wild]).astype(np.float32)


def bits(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).view(np.uint16)


def check_framework16(y16, net, X16, wd: str) -> None:
    """The framework's 16-bit output within :func:`pyfwd.testing.storage16_bounds` of the
    imported network's reference, and outside it with the biases dropped."""
    y = np.asarray(y16).astype(np.float64)
    ref, bound = storage16_bounds(net.weights, net.biases, net.activations, X16, wd)
    assert_within(y, ref, bound, f"the framework's own {wd} output")
    no_bias = [np.zeros_like(b) for b in net.biases]
    ref0, bound0 = storage16_bounds(net.weights, no_bias, net.activations, X16, wd)
    with pytest.raises(AssertionError):
        assert_within(y, ref0, bound0, "a dropped bias")


def check_pyfwd(net, X, compute="fp32"):
    """pyfwd on every backend meets the contract for its own (16-bit) parameters."""
    for be in pyfwd.backends():
        try:
            assert_forward_close(net.forward(X, backend=be, compute=compute), net.weights, net.biases,
                                 net.activations, X, compute=compute)
        except AssertionError as exc:
            raise AssertionError(f"pyfwd backend {be!r}, compute={compute!r}: {exc}") from None


# -- PyTorch --------------------------------------------------------------------

def _torch_act(nn, name):
    return {"linear": nn.Identity(), "relu": nn.ReLU(), "leaky_relu": nn.LeakyReLU(),
            "sigmoid": nn.Sigmoid(), "tanh": nn.Tanh(), "softmax": nn.Softmax(dim=-1),
            "gelu": nn.GELU(), "silu": nn.SiLU()}[name]


def _torch_model(torch, act, wd):
    nn = torch.nn
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(784, 40), _torch_act(nn, act), nn.Linear(40, 24), _torch_act(nn, act),
                          nn.Linear(24, 10), nn.Softmax(dim=-1))
    with torch.no_grad():  # biases that matter: dropping them must show (check_framework16)
        for m in model:
            if isinstance(m, nn.Linear):
                m.bias.normal_(0.0, 0.5)
    return model.to(getattr(torch, wd)).eval()


def _torch_bits(torch, t) -> np.ndarray:
    return t.detach().contiguous().view(torch.int16).numpy().view(np.uint16)


@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
def test_from_torch_keeps_16bit_weights_exactly(torch, wd):
    model = _torch_model(torch, "relu", wd)
    net = pyfwd.interop.from_torch(model)
    assert net.weight_dtype == (BF16 if wd == "bfloat16" else np.float16)
    assert net.dtype == np.float32 and net.compute == "fp32"
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    for W, b, m in zip(net.weights, net.biases, linears):
        np.testing.assert_array_equal(bits(W), _torch_bits(torch, m.weight))
        # biases: float32, pyfwd's 16-bit design; the widening is exact
        assert b.dtype == np.float32
        np.testing.assert_array_equal(b, m.bias.detach().float().numpy())
    assert pyfwd.Network.from_torch(model).weight_dtype == net.weight_dtype  # the classmethod too


@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
@pytest.mark.parametrize("act", ACTS)
def test_from_torch_16bit_matches_torch_float32_run(torch, X, act, wd):
    """(a) pyfwd (compute="fp32") and PyTorch's float32 run of the same rounded
    weights (model.float()) meet the float32 contract for the imported net."""
    model = _torch_model(torch, act, wd)
    net = pyfwd.interop.from_torch(model)
    assert net.weight_dtype.name == wd
    with torch.no_grad():
        y32 = copy.deepcopy(model).float()(torch.from_numpy(X)).numpy()
    assert y32.dtype == np.float32
    assert_forward_close(y32, net.weights, net.biases, net.activations, X)
    check_pyfwd(net, X)


@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
@pytest.mark.parametrize("act", ACTS)
def test_from_torch_16bit_matches_torch_16bit_run(torch, X, act, wd):
    """(b) PyTorch's own 16-bit run (activations rounded to 16 bits) is within
    the 16-bit bound of the imported net's reference; pyfwd meets the contract
    on the same 16-bit input, with compute="bf16" (bfloat16's analogue of
    PyTorch's arithmetic) as well as "fp32"."""
    model = _torch_model(torch, act, wd)
    net = pyfwd.interop.from_torch(model)
    assert net.weight_dtype.name == wd
    tdt = getattr(torch, wd)
    x16 = torch.from_numpy(X).to(tdt)
    X16 = x16.float().numpy()  # the input both sides get
    with torch.no_grad():
        y16 = model(x16)
    assert y16.dtype == tdt
    check_framework16(y16.float().numpy(), net, X16, wd)
    check_pyfwd(net, X16)
    if wd == "bfloat16":
        check_pyfwd(net, X16, compute="bf16")


def test_from_torch_explicit_dtypes(torch):
    model = _torch_model(torch, "tanh", "bfloat16")
    widened = [m.weight.detach().float().numpy() for m in model if isinstance(m, torch.nn.Linear)]
    for kw in ({"dtype": "float32"}, {"weight_dtype": "float32"}, {"dtype": "float32", "weight_dtype": "float32"}):
        net = pyfwd.interop.from_torch(model, **kw)
        assert net.weight_dtype == np.float32 and net.dtype == np.float32, kw
        for W, W32 in zip(net.weights, widened):
            np.testing.assert_array_equal(W, W32)
    for kw in ({"dtype": "float64"}, {"weight_dtype": "float64"}):
        assert pyfwd.interop.from_torch(model, **kw).weight_dtype == np.float64, kw
    # explicit 16-bit of the model's own kind: the same bits as the default
    net = pyfwd.interop.from_torch(model, weight_dtype="bfloat16")
    np.testing.assert_array_equal(bits(net.weights[0]), _torch_bits(torch, model[0].weight))
    # bfloat16 -> float16: one rounding of the exact values
    net16 = pyfwd.interop.from_torch(model, weight_dtype="float16")
    assert net16.weight_dtype == np.float16
    np.testing.assert_array_equal(net16.weights[0], widened[0].astype(np.float16))


@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
def test_from_torch_float64_module_rounds_to_16bit_once(torch, wd):
    """A float64 module with weight_dtype= 16-bit: one rounding from the float64
    values (not through float32)."""
    model = _torch_model(torch, "relu", "float64")
    net = pyfwd.interop.from_torch(model, weight_dtype=wd)
    target = BF16 if wd == "bfloat16" else np.dtype(np.float16)
    assert net.weight_dtype == target and net.dtype == np.float32
    W64 = model[0].weight.detach().numpy()
    np.testing.assert_array_equal(bits(net.weights[0]), bits(W64.astype(target)))
    with pytest.raises(ValueError, match=r"dtype must be float32, got dtype='float64'"):
        pyfwd.interop.from_torch(model, dtype="float64", weight_dtype=wd)


def test_from_torch_mixed_16bit_layers_widen_to_float32(torch):
    """Layers of different 16-bit kinds have no one weight dtype: float32 (exact)."""
    nn = torch.nn
    model = nn.Sequential(nn.Linear(6, 4).to(torch.bfloat16), nn.ReLU(), nn.Linear(4, 3).half())
    net = pyfwd.interop.from_torch(model)
    assert net.weight_dtype == np.float32
    np.testing.assert_array_equal(net.weights[0], model[0].weight.detach().float().numpy())
    np.testing.assert_array_equal(net.weights[1], model[2].weight.detach().float().numpy())


def test_from_torch_unsupported_dtypes(torch):
    lin = torch.nn.Linear(4, 3)
    with pytest.raises(TypeError, match=r"weight_dtype must be None, 'bfloat16' or 'float16'.*int8"):
        pyfwd.interop.from_torch(lin, weight_dtype="int8")
    f8 = copy.deepcopy(lin).to(torch.float8_e4m3fn)
    with pytest.raises(TypeError, match=r"float8_e4m3fn parameters; pyfwd imports float32, float64, "
                                        r"float16, bfloat16"):
        pyfwd.interop.from_torch(f8)


def test_from_torch_bfloat16_without_ml_dtypes(torch, monkeypatch):
    """Keeping bfloat16 needs ml_dtypes: a clear ImportError with both ways out;
    widening to float32 works without it."""
    import pyfwd._dtypes16 as d16

    def missing():
        raise ImportError("bfloat16 weights need the ml_dtypes package: pip install ml_dtypes")

    lin = torch.nn.Linear(4, 3).to(torch.bfloat16)
    monkeypatch.setattr(d16, "bfloat16", missing)
    with pytest.raises(ImportError, match=r"pip install ml_dtypes; or pass weight_dtype='float32'"):
        pyfwd.interop.from_torch(lin)
    net = pyfwd.interop.from_torch(lin, weight_dtype="float32")
    np.testing.assert_array_equal(net.weights[0], lin.weight.detach().float().numpy())


# -- ONNX: float16 models in ------------------------------------------------------

def _ort_run(ort, model, X):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X})[0]


def _fp16_onnx(form: str, act: str, W16, b16):
    """A float16 ONNX model of two layers (act, softmax) in one of three forms:
    "fp16": float16 input and output, MatMul+Add then Gemm in float16 (what a
    float16 export gives); "cast_io": the same between Casts from and to float32
    (float16 converters' keep_io_types); "cast_weights": float16 initializers
    Cast to float32, float32 Gemms."""
    from onnx import TensorProto as T, helper, numpy_helper
    from pyfwd.interop.onnx_io import activation_nodes

    (W1, W2), (b1, b2) = W16, b16
    inits = [numpy_helper.from_array(W1.T.copy(), "W1t"), numpy_helper.from_array(b1, "b1"),
             numpy_helper.from_array(W2, "W2"), numpy_helper.from_array(b2, "b2")]
    nodes, x, io = [], "x", T.FLOAT16
    if form == "cast_io":
        nodes.append(helper.make_node("Cast", ["x"], ["x16"], to=T.FLOAT16))
        x, io = "x16", T.FLOAT
    w1, w2 = "W1t", "W2"
    if form == "cast_weights":
        io = T.FLOAT
        nodes += [helper.make_node("Cast", ["W1t"], ["W1f"], to=T.FLOAT),
                  helper.make_node("Cast", ["W2"], ["W2f"], to=T.FLOAT),
                  helper.make_node("Cast", ["b1"], ["b1f"], to=T.FLOAT),
                  helper.make_node("Cast", ["b2"], ["b2f"], to=T.FLOAT)]
        w1, w2 = "W1f", "W2f"
    bias1, bias2 = ("b1f", "b2f") if form == "cast_weights" else ("b1", "b2")
    nodes += [helper.make_node("MatMul", [x, w1], ["m1"]), helper.make_node("Add", ["m1", bias1], ["z1"])]
    nodes += activation_nodes(helper, act, "z1", "a1", "act1") if act != "linear" else \
        [helper.make_node("Identity", ["z1"], ["a1"])]
    nodes += [helper.make_node("Gemm", ["a1", w2, bias2], ["z2"], transB=1),
              helper.make_node("Softmax", ["z2"], ["y16" if form == "cast_io" else "y"], axis=-1)]
    if form == "cast_io":
        nodes.append(helper.make_node("Cast", ["y16"], ["y"], to=T.FLOAT))
    g = helper.make_graph(nodes, "fp16", [helper.make_tensor_value_info("x", io, ["n", W1.shape[1]])],
                          [helper.make_tensor_value_info("y", io, ["n", W2.shape[0]])], initializer=inits)
    opset = 20 if act == "gelu" else 13
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=9 if opset == 20 else 7)


@pytest.mark.parametrize("form", ["fp16", "cast_io", "cast_weights"])
@pytest.mark.parametrize("act", ACTS)
def test_from_onnx_float16_matches_onnxruntime(ort, X, form, act):
    rng = np.random.default_rng(2)
    W16 = [(rng.standard_normal((32, 784)) * 0.05).astype(np.float16),
           (rng.standard_normal((10, 32)) * 0.2).astype(np.float16)]
    b16 = [(rng.standard_normal(n) * 0.5).astype(np.float16) for n in (32, 10)]
    model = _fp16_onnx(form, act, W16, b16)
    import onnx
    onnx.checker.check_model(model)
    net = pyfwd.interop.from_onnx(model)
    assert net.weight_dtype == np.float16 and net.dtype == np.float32
    assert net.activations == [act, "softmax"]
    for W, b, W0, b0 in zip(net.weights, net.biases, W16, b16):
        np.testing.assert_array_equal(bits(W), bits(W0))
        assert b.dtype == np.float32
        np.testing.assert_array_equal(b, b0.astype(np.float32))
    X16 = X.astype(np.float16)
    y = _ort_run(ort, model, X16 if form == "fp16" else X)
    if form == "cast_weights":  # float32 compute with the widened weights: the float32 contract
        assert y.dtype == np.float32
        assert_forward_close(y, net.weights, net.biases, net.activations, X)
        check_pyfwd(net, X)
    else:
        assert y.dtype == (np.float16 if form == "fp16" else np.float32)
        check_framework16(y, net, X16.astype(np.float32), "float16")
        check_pyfwd(net, X16.astype(np.float32))
    assert pyfwd.interop.from_onnx(model, weight_dtype="float32").weight_dtype == np.float32
    assert pyfwd.Network.from_onnx(model, dtype="float32").weight_dtype == np.float32


@pytest.mark.filterwarnings("ignore:You are using the legacy TorchScript-based ONNX export:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")
def test_from_onnx_of_torch_float16_export(ort, torch, tmp_path, X):
    model = _torch_model(torch, "relu", "float16")
    path = tmp_path / "half.onnx"
    torch.onnx.export(model, (torch.zeros(1, 784, dtype=torch.float16),), str(path), dynamo=False,
                      opset_version=17, input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    net = pyfwd.Network.from_onnx(path)
    assert net.weight_dtype == np.float16 and net.activations == ["relu", "relu", "softmax"]
    np.testing.assert_array_equal(bits(net.weights[0]), _torch_bits(torch, model[0].weight))
    X16 = X.astype(np.float16)
    import onnx
    check_framework16(_ort_run(ort, onnx.load(str(path)), X16), net, X16.astype(np.float32), "float16")


def test_from_onnx_cast_errors(ort):
    from onnx import TensorProto as T, helper, numpy_helper
    W = numpy_helper.from_array(np.ones((3, 2), np.float16), "W")
    nodes = [helper.make_node("Cast", ["x"], ["xi"], to=T.INT32), helper.make_node("Cast", ["xi"], ["xf"], to=T.FLOAT),
             helper.make_node("MatMul", ["xf", "W"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", T.FLOAT, ["n", 3])],
                          [helper.make_tensor_value_info("y", T.FLOAT, ["n", 2])], initializer=[W])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=7)
    with pytest.raises(UnsupportedLayerError, match=r"node #0 Cast.*Cast to INT32; pyfwd takes Casts to FLOAT"):
        pyfwd.interop.from_onnx(model)
    with pytest.raises(TypeError, match=r"weight_dtype must be None, 'bfloat16' or 'float16'"):
        pyfwd.interop.from_onnx(model, weight_dtype="int8")


# -- ONNX: 16-bit networks out ---------------------------------------------------

# ONNX Runtime's CPU provider has float32 kernels for every activation
@pytest.mark.parametrize("wd", ["bfloat16", "float16"])
@pytest.mark.parametrize("act", ACTS)
def test_to_onnx_16bit_runs_in_onnxruntime_and_round_trips(ort, tmp_path, X, act, wd):
    from onnx import TensorProto as T
    net = pyfwd.Network([784, 40, 20, 10], [act, act, "softmax"], seed=3, weight_dtype=wd)
    path = tmp_path / "net16.onnx"
    model = pyfwd.interop.to_onnx(net, path)
    elem16 = T.BFLOAT16 if wd == "bfloat16" else T.FLOAT16
    types = {t.name: t.data_type for t in model.graph.initializer}
    assert types == {**{f"W{l}": elem16 for l in (1, 2, 3)}, **{f"b{l}": T.FLOAT for l in (1, 2, 3)}}
    assert model.graph.input[0].type.tensor_type.elem_type == T.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == T.FLOAT
    y = _ort_run(ort, model, X)
    assert y.dtype == np.float32
    assert_forward_close(y, net.weights, net.biases, net.activations, X)
    back = pyfwd.Network.from_onnx(path)
    assert back.weight_dtype == net.weight_dtype and back.dtype == np.float32
    assert back.activations == net.activations
    for a, b in zip(back.weights, net.weights):
        np.testing.assert_array_equal(bits(a), bits(b))
    for a, b in zip(back.biases, net.biases):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(back.forward(X), net.forward(X))


@pytest.mark.parametrize("alpha, stays16", [(2.0, True), (0.1, False)])
def test_from_onnx_gemm_alpha_on_float16_weights(ort, alpha, stays16):
    """alpha is folded into 16-bit weights only where that is exact; otherwise
    the weights widen to float32 (never rounded where the graph did not round)."""
    from onnx import TensorProto as T, helper, numpy_helper
    W = (np.random.default_rng(4).standard_normal((3, 5)) * 0.3).astype(np.float16)
    g = helper.make_graph([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1, alpha=alpha)], "g",
                          [helper.make_tensor_value_info("x", T.FLOAT16, ["n", 5])],
                          [helper.make_tensor_value_info("y", T.FLOAT16, ["n", 3])],
                          initializer=[numpy_helper.from_array(W, "W")])
    net = pyfwd.interop.from_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=7))
    assert net.weight_dtype == (np.float16 if stays16 else np.float32)
    np.testing.assert_array_equal(net.weights[0].astype(np.float32), W.astype(np.float32) * np.float32(alpha))
