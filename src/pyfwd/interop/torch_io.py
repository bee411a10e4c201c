"""PyTorch -> pyfwd: an ``nn.Sequential`` of ``nn.Linear`` and activation modules."""
from __future__ import annotations

from ..activations import LEAKY_SLOPE
from ._common import LayerStack, require

SUPPORTED = ("nn.Linear followed by at most one of nn.ReLU, nn.LeakyReLU(negative_slope=0.01), "
             "nn.Sigmoid, nn.Tanh, nn.Softmax(dim=-1 or 1), nn.GELU(approximate='none'), nn.SiLU; "
             "nn.Identity and nn.Dropout (inference: identity) anywhere; nn.Flatten first; "
             "nested nn.Sequential")


def _to_numpy(t, torch):
    t = t.detach().cpu()
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()  # float16, bfloat16: numpy has no bfloat16
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


def from_torch(module, dtype=None):
    """A :class:`pyfwd.Network` with the weights of a PyTorch module.

    *module* is an ``nn.Sequential`` (nested ones are expanded) or a single
    ``nn.Linear``. ``nn.Linear.weight`` is already ``(out, in)``, pyfwd's layout.
    The dtype defaults to the weights' (float32 or float64; float16/bfloat16
    weights become float32). Dropout is taken as in ``module.eval()``.
    Anything else raises :class:`UnsupportedLayerError` naming the module.
    """
    torch = require("torch", "Network.from_torch")
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch expects a torch.nn.Module (an nn.Sequential), got {type(module).__name__}")
    stack = LayerStack("PyTorch module", SUPPORTED)
    with torch.no_grad():
        for i, m in enumerate(_modules(module, nn)):
            what = f"#{i} {m!r}"
            if isinstance(m, nn.Linear):
                W = _to_numpy(m.weight, torch)
                b = None if m.bias is None else _to_numpy(m.bias, torch)
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
    return stack.build(dtype)
