"""ONNX <-> pyfwd: a chain of Gemm (or MatMul + Add) and activation nodes."""
from __future__ import annotations

import os

import numpy as np

from ..activations import LEAKY_SLOPE
from ._common import LayerStack, require

SUPPORTED = ("a chain of Gemm (transA=0) or MatMul + Add with constant weights, each followed by "
             "at most one of Relu, LeakyRelu(alpha=0.01), Sigmoid, Tanh, Softmax(axis=-1), "
             "Gelu(approximate='none', opset 20), Sigmoid+Mul (SiLU); Identity and Dropout anywhere; "
             "Flatten(axis=1) first; Constant and Transpose of constants")

_SIMPLE = {"Relu": "relu", "Tanh": "tanh"}
#: ONNX export: activation -> node(s). silu has no ONNX op before opset 24: x * Sigmoid(x).
_EXPORT = {"relu": "Relu", "leaky_relu": "LeakyRelu", "sigmoid": "Sigmoid", "tanh": "Tanh",
           "softmax": "Softmax", "gelu": "Gelu"}
#: IR version to write for each opset used (the oldest that allows it, for old runtimes).
_IR_FOR_OPSET = {13: 7, 20: 9}


def _load(onnx, model):
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        return onnx.load_from_string(bytes(model))
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such ONNX file")
        try:
            return onnx.load(path)
        except Exception as exc:  # DecodeError and friends
            raise ValueError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from exc
    raise TypeError(f"from_onnx expects a path, bytes or onnx.ModelProto, got {type(model).__name__}")


def _attrs(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def from_onnx(model, dtype=None):
    """A :class:`pyfwd.Network` from an ONNX model (a path, bytes or ModelProto).

    The graph must be a chain from its one input to its one output: ``Gemm``
    (``transB=1`` takes ``B`` as ``(out, in)``, ``transB=0`` as ``(in, out)``;
    ``alpha``/``beta`` are folded into the weights) or ``MatMul`` (``(in, out)``)
    optionally followed by ``Add`` of a bias, then at most one activation node.
    The dtype defaults to the weights'. Anything else raises
    :class:`UnsupportedLayerError` naming the node.
    """
    onnx = require("onnx", "Network.from_onnx")
    from onnx import numpy_helper

    m = _load(onnx, model)
    g = m.graph
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 1)
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    inputs = [i.name for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(f"ONNX model: pyfwd needs exactly one input and one output, got inputs "
                         f"{inputs} and outputs {[o.name for o in g.output]}")
    stack = LayerStack("ONNX model", SUPPORTED)
    cur = inputs[0]
    after_matmul = False  # the last dense layer came from MatMul and may take an Add
    nodes = list(g.node)
    i = 0
    while i < len(nodes):
        n = nodes[i]
        what = f"node #{i} {n.op_type} {n.name!r}"
        a = _attrs(onnx, n)
        i += 1
        if n.domain not in ("", "ai.onnx"):
            raise stack.unsupported(what, f"operator domain {n.domain!r}")
        if n.op_type == "Constant":
            if "value" not in a:
                raise stack.unsupported(what, "Constant without a tensor 'value'")
            consts[n.output[0]] = numpy_helper.to_array(a["value"])
            continue
        if n.op_type == "Transpose" and n.input[0] in consts:
            consts[n.output[0]] = np.transpose(consts[n.input[0]], a.get("perm"))
            continue
        data = [x for x in n.input if x and x not in consts]
        if data != [cur]:
            raise stack.unsupported(what, f"it reads {data or 'only constants'}, but pyfwd follows a "
                                    f"chain and expected it to read {cur!r} only")
        op = n.op_type
        if op in ("Gemm", "MatMul") and n.input[0] != cur:
            raise stack.unsupported(what, "the data must be its first input (x @ W), not the weights")
        if op == "Gemm":
            if a.get("transA", 0):
                raise stack.unsupported(what, "transA=1")
            B = consts[n.input[1]]
            W = B if a.get("transB", 0) else B.T
            W = W * a["alpha"] if a.get("alpha", 1.0) != 1.0 else W
            b = None
            if len(n.input) > 2 and n.input[2]:
                b = np.broadcast_to(consts[n.input[2]], (W.shape[0],))
                b = b * a["beta"] if a.get("beta", 1.0) != 1.0 else b
            stack.dense(W, b, what)
        elif op == "MatMul":
            stack.dense(consts[n.input[1]].T, None, what)
            after_matmul = True
            cur = n.output[0]
            continue
        elif op == "Add" and after_matmul:
            bias = consts[next(x for x in n.input if x in consts)]
            stack.biases[-1] = np.broadcast_to(bias, (stack.weights[-1].shape[0],))
        elif op in _SIMPLE:
            stack.activation(_SIMPLE[op], what)
        elif op == "LeakyRelu":
            alpha = float(a.get("alpha", 0.01))
            if abs(alpha - LEAKY_SLOPE) > 1e-7:
                raise stack.unsupported(what, f"alpha={alpha}; pyfwd's leaky_relu has slope {LEAKY_SLOPE}")
            stack.activation("leaky_relu", what)
        elif op == "Sigmoid":
            nxt = nodes[i] if i < len(nodes) else None
            if nxt is not None and nxt.op_type == "Mul" and sorted(nxt.input) == sorted([cur, n.output[0]]):
                stack.activation("silu", f"{what} + Mul")
                cur = nxt.output[0]
                i += 1
                after_matmul = False
                continue
            stack.activation("sigmoid", what)
        elif op == "Softmax":
            axis = a.get("axis", -1 if opset >= 13 else 1)
            if axis not in (-1, 1):
                raise stack.unsupported(what, f"axis={axis}; pyfwd's softmax is over features (-1)")
            stack.activation("softmax", what)
        elif op == "Gelu":
            approx = a.get("approximate", b"none")
            approx = approx.decode() if isinstance(approx, bytes) else approx
            if approx != "none":
                raise stack.unsupported(what, f"approximate={approx!r}; pyfwd's gelu is the exact erf form")
            stack.activation("gelu", what)
        elif op in ("Identity", "Dropout"):
            pass
        elif op == "Flatten" and not stack.started and a.get("axis", 1) == 1:
            pass
        else:
            raise stack.unsupported(what)
        after_matmul = False
        cur = n.output[0]
    if cur != g.output[0].name:
        raise ValueError(f"ONNX model: the chain ends at {cur!r}, not at the graph output {g.output[0].name!r}")
    return stack.build(dtype)


def to_onnx(net, path=None):
    """Write *net* as an ONNX model: per layer a ``Gemm`` (``transB=1``, so the
    weights keep pyfwd's ``(out, in)`` layout) and its activation node (``silu``
    as ``x * Sigmoid(x)``). Input ``"input"`` ``(batch, in)``, output
    ``"output"``, the network's dtype. Opset 13, or 20 when a layer uses gelu.
    Returns the ``onnx.ModelProto``; also saves it when *path* is given.
    """
    onnx = require("onnx", "Network.to_onnx")
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if net.dtype == np.float32 else TensorProto.DOUBLE
    nodes, inits = [], []
    cur = "input"
    L = net.num_layers
    for l, (W, b, act) in enumerate(zip(net.weights, net.biases, net.activations), start=1):
        inits += [numpy_helper.from_array(np.asarray(W), f"W{l}"), numpy_helper.from_array(np.asarray(b), f"b{l}")]
        last = l == L
        z = "output" if last and act == "linear" else f"Z{l}"
        nodes.append(helper.make_node("Gemm", [cur, f"W{l}", f"b{l}"], [z], name=f"dense_{l}", transB=1))
        out = "output" if last else f"A{l}"
        if act == "linear":
            out = z
        elif act == "silu":
            nodes.append(helper.make_node("Sigmoid", [z], [f"S{l}"], name=f"silu_{l}_sigmoid"))
            nodes.append(helper.make_node("Mul", [z, f"S{l}"], [out], name=f"silu_{l}"))
        else:
            kw = {"leaky_relu": {"alpha": LEAKY_SLOPE}, "softmax": {"axis": -1},
                  "gelu": {"approximate": "none"}}.get(act, {})
            nodes.append(helper.make_node(_EXPORT[act], [z], [out], name=f"{act}_{l}", **kw))
        cur = out
    dims = net.layer_dims
    graph = helper.make_graph(
        nodes, "pyfwd_network",
        [helper.make_tensor_value_info("input", elem, ["batch", dims[0]])],
        [helper.make_tensor_value_info("output", elem, ["batch", dims[-1]])],
        initializer=inits)
    opset = 20 if "gelu" in net.activations else 13
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="pyfwd", ir_version=_IR_FOR_OPSET[opset])
    onnx.checker.check_model(model)
    if path is not None:
        onnx.save(model, os.fspath(path))
    return model
