"""Type stubs of pyfwd's compiled core (src/cpp, pybind11)."""
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str
LEAKY_SLOPE: float

def activation_names() -> list[str]:
    """Activation names in code order; must equal pyfwd.activations.ACTIVATIONS."""

def dense(X: npt.NDArray[np.floating], W: npt.NDArray[np.floating], b: npt.NDArray[np.floating] | None,
          act: int, out: npt.NDArray[np.floating] | None = None, dact: int = -1,
          Z: npt.NDArray[np.floating] | None = None, A: npt.NDArray[np.floating] | None = None
          ) -> npt.NDArray[np.floating]:
    """act(X @ W.T + b) for X (M, K), W (N, K), b (N,) or None, any strides; act is the activation code.
    dact >= 0 (elementwise code; act linear, b None): the product times g'(Z), fused (the backward pass)."""

class PackedDense:
    """A dense layer's W (N, K), C-contiguous float32/float64, packed once per ISA level."""

    def __init__(self, W: npt.NDArray[np.floating]) -> None: ...
    @property
    def weights(self) -> npt.NDArray[np.floating]: ...
    @property
    def isa(self) -> str: ...
    @property
    def packs(self) -> int: ...

def act_backward(act: int, Z: npt.NDArray[np.floating], A: npt.NDArray[np.floating],
                 dA: npt.NDArray[np.floating], out: npt.NDArray[np.floating] | None = None
                 ) -> npt.NDArray[np.floating]:
    """dZ = dA * g'(Z) for the activation code act (softmax: each row's a * (dA - <dA, a>)); Z, A = g(Z),
    dA of one shape (M, N) and dtype, rows contiguous or copied; out C-contiguous (M, N) or None."""

def softmax_cross_entropy(Z: npt.NDArray[np.floating], A: npt.NDArray[np.floating], y: npt.NDArray[np.int64]
                          ) -> tuple[float, int, npt.NDArray[np.floating]]:
    """(loss, correct, dZ) of a softmax output under cross-entropy with class indices y: the mean loss
    from Z in float64, the rows whose argmax of A is y, dZ = (softmax(Z) - onehot(y)) / B in Z's dtype."""

def sgd_update(p: list[npt.NDArray[np.floating]], g: list[npt.NDArray[np.floating]],
               buf: list[npt.NDArray[np.floating] | None], first: list[bool], lr: float, weight_decay: float,
               momentum: float, nesterov: bool) -> list[bytes]:
    """torch.optim.SGD's step of several parameters: each new parameter as bytes; buf updated in place."""

def adam_update(p: list[npt.NDArray[np.floating]], g: list[npt.NDArray[np.floating]],
                m: list[npt.NDArray[np.floating]], v: list[npt.NDArray[np.floating]], b1: float,
                one_minus_b1: float, b2: float, one_minus_b2: float, step_size: float, bc2: float, eps: float,
                weight_decay: float, decay: float, decoupled: bool) -> list[bytes]:
    """torch.optim.Adam/AdamW's step of several parameters: each new parameter as bytes; m, v in place."""

class Network:
    """Packed weights of a dense network (for the active ISA level) and its forward pass."""

    def __init__(self, weights: list[npt.NDArray[np.floating]], biases: list[npt.NDArray[np.floating] | None],
                 acts: list[int]) -> None: ...
    def forward(self, X: npt.NDArray[np.floating], return_cache: bool = False,
                out: npt.NDArray[np.floating] | None = None
                ) -> npt.NDArray[np.floating] | tuple[npt.NDArray[np.floating], dict[str, npt.NDArray[np.floating]]]: ...
    def xent_gradients(self, X: npt.NDArray[np.floating], y: npt.NDArray[np.int64]
                       ) -> tuple[float, int, list[npt.NDArray[np.floating]]]:
        """(loss, correct, [dW1, db1, ...]) of a softmax output under cross-entropy with class indices:
        forward, loss head and backward pass in one call."""
    def fit_xent_steps(self, X: npt.NDArray[np.floating], y: npt.NDArray[np.int64], order: npt.NDArray[np.int64],
                       start: int, batch: int, nsteps: int, total: float, rule: dict[str, Any],
                       per_step: npt.NDArray[np.float64] | None, states: list[list[npt.NDArray[np.floating]]],
                       firsts: list[bool]) -> tuple[float, int, list[bytes]]:
        """(total, correct, [W1, b1, ...] as bytes): steps start..start+nsteps-1 of an epoch of fit, natively
        (train_loop.h), from this network's parameters; states updated in place once the run finished."""
    @property
    def isa(self) -> str: ...
    @property
    def dims(self) -> list[int]: ...

DOT_MAX_M: int

def dense16(X: npt.NDArray[np.float32], W: npt.NDArray[np.uint16], kind: int, b: npt.NDArray[np.float32] | None,
            act: int, out: npt.NDArray[np.float32] | None = None) -> npt.NDArray[np.float32]:
    """act(X @ W.T + b): W the uint16 bits of bfloat16 (kind 0) or float16 (kind 1) weights; float32 out."""

class Network16:
    """A network of 16-bit weights (uint16 bits; kind 0 bfloat16, 1 float16), float32 activations."""

    def __init__(self, weights: list[npt.NDArray[np.uint16]], kind: int, biases: list[npt.NDArray[np.float32] | None],
                 acts: list[int]) -> None: ...
    def forward(self, X: npt.NDArray[np.float32], return_cache: bool = False,
                out: npt.NDArray[np.float32] | None = None, round_bf16: bool = False
                ) -> npt.NDArray[np.float32] | tuple[npt.NDArray[np.float32], dict[str, npt.NDArray[np.float32]]]: ...
    @property
    def packs(self) -> int: ...
    @property
    def dims(self) -> list[int]: ...

def isa() -> str: ...
def supported_isas() -> list[str]: ...
def cpu_supports(isa: str) -> bool: ...
def set_isa(name: str) -> None: ...
def cpu_features() -> list[str]: ...
def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...
def config() -> dict[str, Any]: ...
def fma_peak_gflops(threads: int = 1, seconds: float = 0.2) -> float: ...
def stream_read_gbps(bytes: int, threads: int = 1, seconds: float = 0.3) -> float: ...
def cache_info() -> dict[str, Any]: ...
def blocks(isa: str) -> dict[str, dict[str, Any]]: ...
def set_blocks(isa: str, dtype: str, MC: int, KC: int, NC: int, source: str = "set") -> None: ...
def reset_blocks(isa: str) -> None: ...
def tunables() -> dict[str, float]: ...
def set_tunables(serial_flops: float = 1.5e6, flops_per_thread: float = 1.0e6, direct_max_n: int = 512) -> None: ...
def vmath_apply(isa: str, func: str, x: npt.NDArray[np.floating]) -> npt.NDArray[np.floating]: ...
