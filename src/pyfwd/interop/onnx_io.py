"""ONNX <-> pyfwd: a chain of Gemm (or MatMul + Add) and activation nodes."""
from __future__ import annotations

import os

import numpy as np

from .. import _dtypes16 as _d16
from ..activations import LEAKY_SLOPE, ONNX_OPS
from ._common import LayerStack, require

SUPPORTED = ("a chain of Gemm (transA=0) or MatMul + Add with constant weights, each followed by "
             "at most one of Relu, LeakyRelu(alpha=0.01), Sigmoid, Tanh, Softmax(axis=-1), "
             "Gelu(approximate='none', opset 20), Sigmoid+Mul (SiLU); Identity, Dropout and Cast to "
             "a float type anywhere; Flatten(axis=1) first; Constant, Transpose and Cast of constants")

_SIMPLE = {"Relu": "relu", "Tanh": "tanh"}
#: IR version to write for each opset used (the oldest that allows it, for old runtimes).
_IR_FOR_OPSET = {13: 7, 20: 9}


def _load(onnx, model):
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        load, source = (lambda: onnx.load_from_string(bytes(model))), f"{len(model)} bytes given"
    elif isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: no such ONNX file")
        load, source = (lambda: onnx.load(path)), path
    else:
        raise TypeError(f"from_onnx expects a path, bytes or onnx.ModelProto, got {type(model).__name__}")
    try:
        return load()
    except Exception as exc:  # protobuf's DecodeError and friends
        raise ValueError(f"{source}: not a readable ONNX model ({type(exc).__name__}: {exc})") from exc


def _attrs(onnx, node) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _attr(a: dict, name: str, default, kind: type, stack: LayerStack, what: str):
    """Attribute *name* of a node, checked to be of *kind* (float accepts ints;
    str accepts the bytes ONNX stores)."""
    v = a.get(name, default)
    if kind is str and isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    ok = isinstance(v, (int, float) if kind is float else kind) and not isinstance(v, bool)
    if not ok:
        want = {int: "an integer", float: "a number", str: "a string"}[kind]
        raise stack.unsupported(what, f"attribute {name}={v!r} must be {want}")
    return float(v) if kind is float else v


def _value_dims(vi) -> list[int | None]:
    """The dims of a graph input/output (None: symbolic or unknown); negative
    ones are refused."""
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return []
    dims = [d.dim_value if d.WhichOneof("value") == "dim_value" else None for d in t.shape.dim]
    if any(d is not None and d < 0 for d in dims):
        raise ValueError(f"ONNX model: {vi.name!r} has a negative dimension in its shape {dims}")
    return dims


def _check_width(vi, width: int, role: str) -> None:
    """A graph input's/output's declared features (the product of its non-batch
    dims, when all are known) must be the network's width there."""
    dims = _value_dims(vi)
    if len(dims) >= 2 and all(d is not None for d in dims[1:]) and int(np.prod(dims[1:])) != width:
        raise ValueError(f"ONNX model: graph {role} {vi.name!r} has shape {dims}, but the network "
                         f"{'takes' if role == 'input' else 'gives'} {width} features per sample")


def _check_order(nodes, defined: set) -> None:
    """Each node reads only names defined before it and writes new names only
    (ONNX's single assignment, in topological order): no cycles, no in-place updates."""
    for i, n in enumerate(nodes):
        what = f"node #{i} {n.op_type} {n.name!r}"
        late = [x for x in n.input if x and x not in defined]
        if late:
            raise ValueError(f"ONNX model: {what} reads {late[0]!r} before anything defines it "
                             "(a cycle, or nodes out of topological order)")
        if not n.output:
            raise ValueError(f"ONNX model: {what} has no output")
        for x in n.output:
            if x in defined:
                raise ValueError(f"ONNX model: {what} writes {x!r}, which is already defined; an ONNX "
                                 "graph assigns each name once (a cycle or an in-place update is invalid)")
            defined.add(x)


def _const(numpy_helper, t, where: str) -> np.ndarray:
    if any(d < 0 for d in t.dims):  # numpy's reshape would take -3 as "infer this one"
        raise ValueError(f"ONNX model: {where} {t.name!r} has a negative dimension: dims {list(t.dims)}")
    try:
        return numpy_helper.to_array(t)
    except Exception as exc:  # negative or inconsistent dims, bad data length
        raise ValueError(f"ONNX model: {where} {t.name!r} is not a readable tensor "
                         f"(dims {list(t.dims)}; {type(exc).__name__}: {exc})") from exc


def _cast_target(TensorProto, to) -> np.dtype | None:
    """The NumPy dtype of a Cast's target type *to* if it is a float type, else None."""
    if to == TensorProto.BFLOAT16:
        return _d16.bfloat16()
    return {TensorProto.FLOAT: np.dtype(np.float32), TensorProto.DOUBLE: np.dtype(np.float64),
            TensorProto.FLOAT16: np.dtype(np.float16)}.get(to)


def _cast_const(c: np.ndarray, to: np.dtype) -> np.ndarray:
    """A constant Cast to *to*. A 16-bit constant Cast to float32 stays 16-bit (the
    widening is exact, and a weight keeps the dtype it is stored in): the form
    "float16/bfloat16 weights + Cast to float32" imports as a 16-bit network."""
    if to == np.float32 and _d16.is_weight16(c.dtype):
        return c
    if _d16.is_weight16(to):
        return _d16.to_weight16(c, to, "Cast constant")  # nearest even, as ONNX's Cast
    return c.astype(to)


def _scaled(c: np.ndarray, s: float) -> np.ndarray:
    """*c* times Gemm's alpha or beta *s*. A 16-bit *c* is scaled in float32 and
    stays 16-bit only when that is exact (e.g. a power of two), so no weight is
    rounded that the graph did not round."""
    if s == 1.0:
        return c
    if not _d16.is_weight16(c.dtype):
        return c * s
    wide = c.astype(np.float32) * np.float32(s)
    back = wide.astype(c.dtype)
    return back if np.array_equal(back.astype(np.float32), wide, equal_nan=True) else wide


def _bias(c: np.ndarray, n_out: int, stack: LayerStack, what: str) -> np.ndarray:
    try:
        return np.broadcast_to(c, (n_out,))
    except ValueError:
        raise stack.unsupported(what, f"bias of shape {c.shape} for {n_out} outputs") from None


def activation_nodes(helper, act: str, z: str, out: str, name: str) -> list:
    """The ONNX node(s) computing activation *act* from *z* into *out*, from the
    one table :data:`pyfwd.activations.ONNX_OPS` (silu: ``z * Sigmoid(z)``)."""
    if act == "silu":
        return [helper.make_node("Sigmoid", [z], [f"{out}_sigmoid"], name=f"{name}_sigmoid"),
                helper.make_node("Mul", [z, f"{out}_sigmoid"], [out], name=name)]
    op, attrs = ONNX_OPS[act]
    return [helper.make_node(op, [z], [out], name=name, **attrs)]


def from_onnx(model, dtype=None, weight_dtype=None):
    """A :class:`pyfwd.Network` from an ONNX model (a path, bytes or ModelProto).

    The graph must be a chain from its one input to its one output: ``Gemm``
    (``transB=1`` takes ``B`` as ``(out, in)``, ``transB=0`` as ``(in, out)``;
    ``alpha``/``beta`` are folded into the weights) or ``MatMul`` (``(in, out)``)
    optionally followed by ``Add`` of a bias, then at most one activation node.
    Anything else raises :class:`UnsupportedLayerError` naming the node.

    The dtypes default to the weights': float32 or float64; float16 (or
    bfloat16) weights give ``weight_dtype`` float16 (bfloat16) holding exactly
    those values, biases widened exactly to float32. Both usual 16-bit forms
    import so: a graph computing in float16 (float16 input and output, or Casts
    around them), and float16/bfloat16 initializers Cast to float32 before a
    float32 ``Gemm`` (what :func:`to_onnx` writes). ``Cast`` nodes on the data
    are taken as identity: pyfwd computes in float32 (``compute="fp32"``) where
    the graph rounded activations to 16 bits. ``dtype`` and ``weight_dtype`` as
    in :func:`from_torch` (``weight_dtype="float32"`` widens 16-bit weights).
    """
    onnx = require("onnx", "Network.from_onnx")
    from onnx import TensorProto, numpy_helper

    _d16.weight_dtype(weight_dtype)  # a bad one is refused before the graph is read

    m = _load(onnx, model)
    g = m.graph
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 1)
    consts = {t.name: _const(numpy_helper, t, "initializer") for t in g.initializer}
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(f"ONNX model: pyfwd needs exactly one input and one output, got inputs "
                         f"{[i.name for i in inputs]} and outputs {[o.name for o in g.output]}")
    stack = LayerStack("ONNX model", SUPPORTED)
    cur = inputs[0].name
    _check_order(g.node, {cur, *consts})
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
            if not isinstance(a.get("value"), onnx.TensorProto):
                raise stack.unsupported(what, "Constant without a tensor 'value'")
            consts[n.output[0]] = _const(numpy_helper, a["value"], f"{what}: Constant")
            continue
        if n.op_type == "Transpose" and n.input and n.input[0] in consts:
            perm = a.get("perm")
            c = consts[n.input[0]]
            if perm is not None and sorted(perm) != list(range(c.ndim)):
                raise stack.unsupported(what, f"perm={perm} for a constant of shape {c.shape}")
            consts[n.output[0]] = np.transpose(c, perm)
            continue
        if n.op_type == "Cast":
            to = _cast_target(TensorProto, a.get("to"))
            if to is None:
                t = a.get("to")
                name = TensorProto.DataType.Name(t) if t in TensorProto.DataType.values() else repr(t)
                raise stack.unsupported(what, f"Cast to {name}; pyfwd takes Casts to FLOAT, DOUBLE, FLOAT16 "
                                        "and BFLOAT16")
            if n.input and n.input[0] in consts:
                consts[n.output[0]] = _cast_const(consts[n.input[0]], to)
                continue
        data = [x for x in n.input if x and x not in consts]
        if data != [cur]:
            raise stack.unsupported(what, f"it reads {data or 'only constants'}, but pyfwd follows a "
                                    f"chain and expected it to read {cur!r} only")
        op = n.op_type
        if op in ("Gemm", "MatMul"):
            if n.input[0] != cur:
                raise stack.unsupported(what, "the data must be its first input (x @ W), not the weights")
            if len(n.input) < 2 or not n.input[1]:
                raise stack.unsupported(what, f"{op} with {len(n.input)} input(s); it needs the data and "
                                        "a constant weight matrix")
            if consts[n.input[1]].ndim != 2:
                raise stack.unsupported(what, f"weight of shape {consts[n.input[1]].shape}, expected 2-D")
        if op == "Gemm":
            if _attr(a, "transA", 0, int, stack, what):
                raise stack.unsupported(what, "transA=1")
            B = consts[n.input[1]]
            W = B if _attr(a, "transB", 0, int, stack, what) else B.T
            alpha = _attr(a, "alpha", 1.0, float, stack, what)
            beta = _attr(a, "beta", 1.0, float, stack, what)
            W = _scaled(W, alpha)
            b = None
            if len(n.input) > 2 and n.input[2]:
                b = _bias(consts[n.input[2]], W.shape[0], stack, what)
                b = _scaled(b, beta)
            stack.dense(W, b, what)
        elif op == "MatMul":
            stack.dense(consts[n.input[1]].T, None, what)
            after_matmul = True
            cur = n.output[0]
            continue
        elif op == "Add" and after_matmul:
            bias = [x for x in n.input if x in consts]
            if len(n.input) != 2 or len(bias) != 1:
                raise stack.unsupported(what, f"Add of {list(n.input)}: after a MatMul, pyfwd takes an Add of "
                                        "the data and one constant bias")
            stack.biases[-1] = _bias(consts[bias[0]], stack.weights[-1].shape[0], stack, what)
        elif op in _SIMPLE:
            stack.activation(_SIMPLE[op], what)
        elif op == "LeakyRelu":
            alpha = _attr(a, "alpha", 0.01, float, stack, what)
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
            axis = _attr(a, "axis", -1 if opset >= 13 else 1, int, stack, what)
            if axis not in (-1, 1):
                raise stack.unsupported(what, f"axis={axis}; pyfwd's softmax is over features (-1)")
            stack.activation("softmax", what)
        elif op == "Gelu":
            approx = _attr(a, "approximate", "none", str, stack, what)
            if approx != "none":
                raise stack.unsupported(what, f"approximate={approx!r}; pyfwd's gelu is the exact erf form")
            stack.activation("gelu", what)
        elif op in ("Identity", "Dropout", "Cast"):
            pass  # Cast of the data to a float type: pyfwd computes in its own dtype
        elif op == "Flatten" and not stack.started and _attr(a, "axis", 1, int, stack, what) == 1:
            pass
        else:
            raise stack.unsupported(what)
        after_matmul = False
        cur = n.output[0]
    if cur != g.output[0].name:
        raise ValueError(f"ONNX model: the chain ends at {cur!r}, not at the graph output {g.output[0].name!r}")
    net = stack.build(dtype, weight_dtype)
    _check_width(inputs[0], net.layer_dims[0], "input")
    _check_width(g.output[0], net.layer_dims[-1], "output")
    return net


def to_onnx(net, path=None):
    """Write *net* as an ONNX model: per layer a ``Gemm`` (``transB=1``, so the
    weights keep pyfwd's ``(out, in)`` layout) and its activation node (``silu``
    as ``x * Sigmoid(x)``). Input ``"input"`` ``(batch, in)``, output
    ``"output"``, the network's dtype. Opset 13, or 20 when a layer uses gelu.
    Returns the ``onnx.ModelProto``; also saves it when *path* is given.

    16-bit weights are written as FLOAT16 / BFLOAT16 initializers, each followed
    by a ``Cast`` to FLOAT (ONNX Runtime's CPU provider has no bfloat16 Gemm),
    biases, input and output float32: the model computes as ``compute="fp32"``
    (a network's ``compute="bf16"`` is not recorded), and :func:`from_onnx`
    reads it back with the same weight dtype and bits.
    """
    onnx = require("onnx", "Network.to_onnx")
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if net.dtype == np.float32 else TensorProto.DOUBLE
    w16 = _d16.is_weight16(net.weight_dtype)
    nodes, inits = [], []
    cur = "input"
    L = net.num_layers
    for l, (W, b, act) in enumerate(zip(net.weights, net.biases, net.activations), start=1):
        inits += [numpy_helper.from_array(np.asarray(W), f"W{l}"), numpy_helper.from_array(np.asarray(b), f"b{l}")]
        w = f"W{l}"
        if w16:
            w = f"W{l}_float"
            nodes.append(helper.make_node("Cast", [f"W{l}"], [w], name=f"widen_{l}", to=elem))
        last = l == L
        z = "output" if last and act == "linear" else f"Z{l}"
        nodes.append(helper.make_node("Gemm", [cur, w, f"b{l}"], [z], name=f"dense_{l}", transB=1))
        out = "output" if last else f"A{l}"
        if act == "linear":
            out = z
        else:
            nodes += activation_nodes(helper, act, z, out, f"{act}_{l}")
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
