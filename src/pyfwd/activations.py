"""Activation names, aliases, validation and the facts every backend shares.

A layer's activation is identified by a canonical name; the compiled backends
receive its *code* (the index in :data:`ACTIVATIONS`), so the C++ core and the
Numba kernels agree on one numbering.
"""
from __future__ import annotations

from typing import Iterable, Sequence

#: Canonical activation names. The position of a name is its integer code,
#: shared with the C++ core (``Act`` in ``src/cpp/epilogue.h``) and the Numba
#: kernels. Never reorder: append.
ACTIVATIONS: tuple[str, ...] = (
    "linear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "softmax",
    "gelu",
    "silu",
)

#: Other names users bring from other frameworks.
ALIASES: dict[str, str] = {
    "identity": "linear",
    "none": "linear",
    "logistic": "sigmoid",  # scikit-learn
    "leakyrelu": "leaky_relu",
    "swish": "silu",
}

#: Negative slope of ``leaky_relu`` (PyTorch's and the tutorial's default).
LEAKY_SLOPE: float = 0.01

#: ONNX operator and attributes of each activation, for every ONNX writer
#: (``pyfwd.interop.onnx_io`` and the benchmark's ONNX Runtime peer). ``silu``
#: has no ONNX operator before opset 24 and is written as ``z * Sigmoid(z)``
#: (``None`` here); ``Gelu`` needs opset 20.
ONNX_OPS: dict[str, tuple[str, dict] | None] = {
    "linear": ("Identity", {}),
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": LEAKY_SLOPE}),
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "softmax": ("Softmax", {"axis": -1}),
    "gelu": ("Gelu", {"approximate": "none"}),
    "silu": None,
}

#: Integer code of each canonical name.
ACT_CODE: dict[str, int] = {name: i for i, name in enumerate(ACTIVATIONS)}

#: Lipschitz constant of each activation (max |g'|), used to carry an error
#: bound on Z through the activation. gelu's derivative peaks at ~1.1289 and
#: silu's at ~1.0998; softmax is handled row-wise by the tolerance helper.
LIPSCHITZ: dict[str, float] = {
    "linear": 1.0,
    "relu": 1.0,
    "leaky_relu": 1.0,
    "sigmoid": 0.25,
    "tanh": 1.0,
    "softmax": 1.0,
    "gelu": 1.13,
    "silu": 1.1,
}


def canonical(name: str | None) -> str:
    """Return the canonical activation name for *name* or raise ``ValueError``.

    ``None`` means no activation (``linear``), as in Keras.
    """
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise TypeError(
            f"activation must be a string, one of {', '.join(ACTIVATIONS)}; "
            f"got {type(name).__name__} {name!r}"
        )
    key = name.strip().lower().replace("-", "_")
    if key in ACT_CODE:
        return key
    if key in ALIASES:
        return ALIASES[key]
    raise ValueError(
        f"unknown activation {name!r}; valid names are {', '.join(ACTIVATIONS)} "
        f"(aliases: {', '.join(sorted(ALIASES))})"
    )


def canonical_list(activations: str | Sequence[str | None] | None, n_layers: int) -> list[str]:
    """Normalise a per-layer activation spec to a list of ``n_layers`` names.

    A single string applies to every layer. ``bytes`` are refused with
    ``TypeError`` (iterating them would give integers).
    """
    if activations is None or isinstance(activations, str):
        return [canonical(activations)] * n_layers
    if isinstance(activations, (bytes, bytearray, memoryview)):
        raise TypeError(f"activations must be a string or a list of strings, got {type(activations).__name__} "
                        f"{bytes(activations)!r}; decode it first (e.g. {bytes(activations)!r}.decode())")
    acts = list(activations) if isinstance(activations, Iterable) else None
    if acts is None:
        raise TypeError(f"activations must be a string or a list of strings, got {type(activations).__name__}")
    if len(acts) != n_layers:
        raise ValueError(
            f"expected {n_layers} activation(s), one per layer, got {len(acts)}: {acts!r}"
        )
    return [canonical(a) for a in acts]
