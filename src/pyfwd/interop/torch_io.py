"""PyTorch -> pyfwd: an ``nn.Sequential`` of ``nn.Linear`` and activation modules."""
from __future__ import annotations

from .. import _dtypes16 as _d16
from ..activations import LEAKY_SLOPE
from ._common import LayerStack, require

SUPPORTED = ("nn.Linear followed by at most one of nn.ReLU, nn.LeakyReLU(negative_slope=0.01), "
             "nn.Sigmoid, nn.Tanh, nn.Softmax(dim=-1 or 1), nn.GELU(approximate='none'), nn.SiLU; "
             "nn.Identity and nn.Dropout (inference: identity) anywhere; nn.Flatten first; "
             "nested nn.Sequential")


#: The parameter dtypes imported (bfloat16 as the same bits viewed as
#: ``ml_dtypes.bfloat16``: NumPy has no bfloat16 of its own).
_DTYPES = ("float32", "float64", "float16", "bfloat16")


def _to_numpy(t, torch, what: str, keep_bf16: bool):
    """*t* as a NumPy array holding exactly its values: float32/float64/float16 as
    they are, bfloat16 as ``ml_dtypes.bfloat16`` when *keep_bf16*, else widened to
    float32 (exact, no ml_dtypes needed)."""
    t = t.detach().cpu()
    name = str(t.dtype).removeprefix("torch.")
    if name not in _DTYPES:
        raise TypeError(f"PyTorch module: {what} has {name} parameters; pyfwd imports "
                        f"{', '.join(_DTYPES)} (convert the module with .float() first)")
    if t.dtype == torch.bfloat16:
        if not keep_bf16:
            return t.float().numpy().copy()
        try:
            bf16 = _d16.bfloat16()
        except ImportError as exc:
            raise ImportError(f"{exc}; or pass weight_dtype='float32' to widen the model's bfloat16 "
                              "weights to float32 (exact)") from None
        return t.contiguous().view(torch.int16).numpy().view(bf16).copy()
    return t.numpy().copy()


def _modules(module, nn):
    """Leaf modules in call order (nested Sequentials expanded)."""
    if isinstance(module, nn.Sequential):
        for child in module:
            yield from _modules(child, nn)
    else:
        yield module


def _activation(m, nn, stack: LayerStack, what: str) -> str | None:
    """pyfwd's name for activation module *m*, or None if *m* is not one."""
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.SiLU: "silu"}
    for cls, name in simple.items():
        if type(m) is cls:
            return name
    if type(m) is nn.LeakyReLU:
        if float(m.negative_slope) != LEAKY_SLOPE:
            raise stack.unsupported(what, f"negative_slope={m.negative_slope}; pyfwd's leaky_relu has "
                                    f"slope {LEAKY_SLOPE} only")
        return "leaky_relu"
    if type(m) is nn.Softmax:
        if m.dim not in (-1, 1):
            raise stack.unsupported(what, f"dim={m.dim}; pyfwd's softmax is over each sample's "
                                    "features: dim=-1 (or 1)")
        return "softmax"
    if type(m) is nn.GELU:
        if m.approximate != "none":
            raise stack.unsupported(what, f"approximate={m.approximate!r}; pyfwd's gelu is the exact "
                                    "erf form (approximate='none')")
        return "gelu"
    return None


def from_torch(module, dtype=None, weight_dtype=None):
    """A :class:`pyfwd.Network` with the weights of a PyTorch module.

    *module* is an ``nn.Sequential`` (nested ones are expanded) or a single
    ``nn.Linear``. ``nn.Linear.weight`` is already ``(out, in)``, pyfwd's layout.
    Dropout is taken as in ``module.eval()``. Anything else raises
    :class:`UnsupportedLayerError` naming the module.

    The dtypes default to the module's: float32 or float64; a module converted
    with ``.to(torch.bfloat16)`` or ``.half()`` gives ``weight_dtype``
    bfloat16 / float16 holding exactly its weights (bfloat16 needs
    ``ml_dtypes``), with its biases widened exactly to float32 (pyfwd's 16-bit
    networks keep biases, activations and outputs float32, so the network
    computes as ``compute="fp32"`` where PyTorch computed in 16 bits).
    ``dtype="float32"`` (or ``weight_dtype="float32"``) widens 16-bit weights
    to float32 instead; ``weight_dtype="bfloat16"``/``"float16"`` rounds a
    float32/float64 module's weights to nearest even. Parameters of other
    dtypes (float8, integers, complex) raise ``TypeError``.
    """
    torch = require("torch", "Network.from_torch")
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module (an nn.Sequential), got {type(module).__name__}")
    # bfloat16 stays bfloat16 (as ml_dtypes) only where the result may keep it.
    keep_bf16 = (dtype is None and weight_dtype is None) or \
        (weight_dtype is not None and _d16.weight_dtype(weight_dtype).name == "bfloat16")
    stack = LayerStack("PyTorch module", SUPPORTED)
    with torch.no_grad():
        for i, m in enumerate(_modules(module, nn)):
            what = f"#{i} {m!r}"
            if isinstance(m, nn.Linear):
                W = _to_numpy(m.weight, torch, what, keep_bf16)
                b = None if m.bias is None else _to_numpy(m.bias, torch, what, keep_bf16)
                stack.dense(W, b, what)
            elif type(m) in (nn.Identity, nn.Dropout):
                continue
            elif type(m) is nn.Flatten:
                if stack.started:
                    raise stack.unsupported(what, "nn.Flatten is only accepted before the first layer")
                if m.start_dim != 1 or m.end_dim != -1:
                    raise stack.unsupported(what, "only nn.Flatten(start_dim=1, end_dim=-1)")
            else:
                name = _activation(m, nn, stack, what)
                if name is None:
                    raise stack.unsupported(what)
                stack.activation(name, what)
    return stack.build(dtype, weight_dtype)
