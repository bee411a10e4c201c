"""Optional peers: PyTorch (``inference_mode``) and ONNX Runtime, on the same
weights and inputs. Neither is required: without one, its kernel is listed as
skipped with the import error as the reason."""
from __future__ import annotations

import numpy as np

from .kernels import Kernel


def _import_error(module: str) -> str | None:
    try:
        __import__(module)
    except Exception as exc:  # ImportError, or a broken install raising anything
        return f"{module} not importable ({type(exc).__name__}: {exc})"
    return None


class TorchKernel(Kernel):
    name = "torch"
    #: PyTorch's own bf16 path is the peer of pyfwd's 16-bit rows (issue 11).
    weights16 = ("bfloat16",)

    def __init__(self) -> None:
        super().__init__(_import_error("torch"))
        if self.reason is None:
            import torch
            self.description = (f"PyTorch {torch.__version__} F.linear + activation, inference_mode "
                                f"(bfloat16 tensors on the bfloat16-weight rows)")

    @staticmethod
    def _act(name: str):
        import torch
        import torch.nn.functional as F

        return {
            "linear": lambda z: z,
            "relu": F.relu,
            "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
            "sigmoid": torch.sigmoid,
            "tanh": torch.tanh,
            "softmax": lambda z: torch.softmax(z, dim=1),
            "gelu": F.gelu,  # exact erf form, PyTorch's default
            "silu": F.silu,
        }[name]

    def gate_kind(self, case):
        """bfloat16 rows: PyTorch's bf16 path also rounds the biases and stores every
        layer's output in bfloat16 (pyfwd.testing.storage16_bounds)."""
        return "bf16-storage" if case.weights else self.computes

    def prepare(self, case, data):
        import torch
        import torch.nn.functional as F

        def tensor(a):
            if case.weights:  # what model.to(torch.bfloat16) makes of the float32 module
                return torch.from_numpy(np.asarray(a, dtype=np.float32)).to(torch.bfloat16)
            return torch.from_numpy(a)

        X = tensor(data.X)
        layers = [(tensor(W), None if b is None else tensor(b), self._act(a))
                  for W, b, a in zip(data.weights, data.biases, case.acts)]

        def run():
            with torch.inference_mode():
                A = X
                for W, b, act in layers:
                    A = act(F.linear(A, W, b))
                return A.numpy() if A.dtype != torch.bfloat16 else A.float().numpy()
        return run

    def set_threads(self, n: int) -> None:
        import torch

        torch.set_num_threads(n)


#: ONNX opset of the bench's own graphs (Gelu is an ONNX op from opset 20).
OPSET = 20


def build_onnx(weights, biases, acts, dtype: str):
    """A ``Gemm(transB=1)`` + activation graph per layer, from the same weights
    (W is (out, in), as ONNX Gemm with transB=1 expects). Returns a ModelProto."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from pyfwd.activations import ONNX_OPS
    from pyfwd.interop.onnx_io import activation_nodes

    elem = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}[dtype]
    nodes, inits = [], []
    prev = "X"
    for l, (W, b, act) in enumerate(zip(weights, biases, acts), start=1):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(W), f"W{l}"))
        inputs = [prev, f"W{l}"]
        if b is not None:
            inits.append(numpy_helper.from_array(np.ascontiguousarray(b), f"b{l}"))
            inputs.append(f"b{l}")
        z = f"Z{l}"
        nodes.append(helper.make_node("Gemm", inputs, [z], transB=1))
        a = f"A{l}"
        if act not in ONNX_OPS:
            raise ValueError(f"no ONNX graph for activation {act!r}")
        nodes += activation_nodes(helper, act, z, a, f"{act}_{l}")  # pyfwd's one table
        prev = a
    n_in, n_out = weights[0].shape[1], weights[-1].shape[0]
    graph = helper.make_graph(
        nodes, "pyfwd_bench",
        [helper.make_tensor_value_info("X", elem, ["batch", n_in])],
        [helper.make_tensor_value_info(prev, elem, ["batch", n_out])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="pyfwd-bench")
    onnx.checker.check_model(model)
    return model


class OrtKernel(Kernel):
    name = "onnxruntime"

    def __init__(self) -> None:
        super().__init__(_import_error("onnxruntime") or _import_error("onnx"))
        self.threads = 1
        if self.reason is None:
            import onnxruntime
            self.description = (f"ONNX Runtime {onnxruntime.__version__} CPU, Gemm+activation graph "
                                f"(opset {OPSET}), intra_op threads matched, ORT_ENABLE_ALL")

    def prepare(self, case, data):
        import onnxruntime as ort

        model = build_onnx(data.weights, data.biases, case.acts, case.dtype)
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        out_name = sess.get_outputs()[0].name
        feed = {"X": data.X}
        return lambda: sess.run([out_name], feed)[0]

    def set_threads(self, n: int) -> None:
        self.threads = n
