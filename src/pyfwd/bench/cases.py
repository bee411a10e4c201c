"""What is benchmarked: the suites, their shapes, and the inputs of each case.

Every case is a small dense network: ``gemm`` is one layer without bias or
activation (``Z = X @ W.T``), ``layer`` one fused layer ``act(X @ W.T + b)``,
``mlp`` a whole network (also with 16-bit weights, issue 11), ``train`` the time of one
training epoch of a network (issue 13; :mod:`pyfwd.bench.train`). One
representation lets every kernel, the correctness gate and the figures (FLOPs
summed over layers) treat them alike.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import numpy as np

SUITES = ("gemm", "layer", "mlp", "train")

#: The (M, K, N) shapes of the layer suite (batch, fan-in, fan-out): MNIST's first
#: layer at batch 1 and 64, a square layer, a wide transformer-sized layer.
LAYER_SHAPES = ((1, 784, 128), (64, 784, 128), (1024, 1024, 1024), (256, 4096, 4096))
#: Every activation pyfwd has (docs/design.md), each fused into the layer's epilogue.
ACTS = ("linear", "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "gelu", "silu")
#: (layer_dims, activations, batches) of the mlp suite: the tutorial's toy, an MNIST
#: classifier, a deep wide network, and a deep narrowing MNIST network whose hidden
#: widths all differ (the shape of issue 9's Numba race: 4 weight layers, a batch
#: split over threads; the gate checks each of its layers).
MLPS = (
    ((3, 4, 2), ("relu", "sigmoid"), (5,)),
    ((784, 128, 10), ("relu", "softmax"), (1, 64, 1024, 60000)),
    ((1024, 4096, 4096, 1024), ("relu", "relu", "linear"), (1, 256)),
    ((784, 512, 256, 128, 10), ("relu", "tanh", "relu", "softmax"), (64, 2048)),
)
#: (layer_dims, activations, batches) of the mlp suite that also run with 16-bit
#: weights (issue 11): the small-batch MNIST network and the big memory-bound one.
MLPS16 = (
    ((784, 128, 10), ("relu", "softmax"), (64,)),
    ((1024, 4096, 4096, 1024), ("relu", "relu", "linear"), (1, 256)),
)
#: (weight dtype, compute) of each 16-bit row, beside the float32 row of the same
#: network and batch: bfloat16 and float16 weights computing in float32, and
#: bfloat16 weights with compute="bf16" (each layer's input rounded to bfloat16).
W16_VARIANTS = (("bfloat16", "fp32"), ("float16", "fp32"), ("bfloat16", "bf16"))
#: Short names of the weight dtypes and computes in labels.
_SHORT16 = {"bfloat16": "bf16", "float16": "f16"}
#: (layer_dims, activations, batch) of the train suite (issue 13): the MNIST
#: classifier at batch 64, a wider one at batch 256; cross-entropy, Adam lr 1e-3.
TRAINS = (
    ((784, 128, 10), ("relu", "softmax"), 64),
    ((784, 512, 512, 10), ("relu", "relu", "softmax"), 256),
)


@dataclass(frozen=True)
class Case:
    """One row of the results: a network (``dims``, ``acts``) run on ``batch`` rows."""

    suite: str
    dims: tuple[int, ...]
    acts: tuple[str, ...]
    batch: int
    dtype: str = "float32"
    bias: bool = True
    square: int | None = None  # gemm: the n of an n x n x n product (plot x axis)
    weights: str | None = None  # mlp: "bfloat16"/"float16" weights (None: dtype's)
    compute: str = "fp32"       # mlp with 16-bit weights: "fp32" or "bf16"

    @property
    def flops(self) -> int:
        """2*M*N*K summed over the layers."""
        return sum(2 * self.batch * k * n for k, n in zip(self.dims[:-1], self.dims[1:]))

    @property
    def label(self) -> str:
        if self.suite == "gemm":
            if self.square:
                return f"{self.square}^3"
            return f"({self.batch},{self.dims[0]},{self.dims[1]})"
        if self.suite == "layer":
            return f"({self.batch},{self.dims[0]},{self.dims[1]}) {self.acts[0]}"
        net = f"[{','.join(map(str, self.dims))}] b={self.batch}"
        if self.weights:
            net += f" w={_SHORT16[self.weights]}" + (" c=bf16" if self.compute == "bf16" else "")
        return net

    @property
    def base_label(self) -> str:
        """The label of the same network and batch with weights in ``dtype``."""
        return self.label.split(" w=")[0]

    @property
    def key(self) -> str:
        return f"{self.suite}:{self.label}:{self.dtype}"

    def describe(self) -> dict:
        d = {"suite": self.suite, "label": self.label, "dtype": self.dtype,
             "dims": list(self.dims), "activations": list(self.acts), "batch": self.batch,
             "bias": self.bias, "flops": self.flops}
        if self.weights:
            d.update(weights=self.weights, compute=self.compute)
        if self.suite in ("gemm", "layer"):
            d.update(M=self.batch, K=self.dims[0], N=self.dims[1])
        return d


@dataclass(frozen=True)
class Profile:
    """How much to run: shapes per suite and the time budget per timed cell."""

    name: str
    gemm_squares: dict[str, tuple[int, ...]]   # dtype -> sizes
    gemm_layer_shapes: tuple[tuple[int, int, int], ...]
    layer_shapes: tuple[tuple[int, int, int], ...]
    layer_acts: tuple[str, ...]
    mlps: tuple
    mlps16: tuple              # the mlps that also run with 16-bit weights (W16_VARIANTS)
    trains: tuple              # train suite: (dims, acts, batch)
    train_epochs: int          # timed epochs per train cell, after one warm-up epoch
    budget_s: float            # timing budget per (case, threads, kernel) cell
    max_call_s: float          # skip a kernel whose predicted single call exceeds this
    min_samples: int = 5
    compile_time: bool = True  # measure Numba's first-call compile in subprocesses
    train_slow: bool = True    # train numba and torch.compile too (slow to compile)
    train_rows: int | None = None  # train on the first this many digits (None: all 5,000)
    # Let the last kernel's spinning worker threads go idle before the next one
    # starts: OpenBLAS's workers busy-wait ~2**28 cycles (~0.1 s here) after a call
    # and would take the second core from whatever runs next.
    pause_s: float = 0.15
    # Each two-kernel speed target is confirmed by timing its two kernels in this many
    # alternating rounds (runner._confirm_ratios); 0: judged on the cells alone.
    confirm_rounds: int = 7
    notes: tuple[str, ...] = field(default_factory=tuple)

    def cases(self, suites=SUITES, patterns=None) -> list[Case]:
        """The profile's cases of *suites*, those whose label matches one of the
        shell *patterns* when given."""
        out: list[Case] = []
        if "gemm" in suites:
            for dtype, sizes in self.gemm_squares.items():
                out += [Case("gemm", (n, n), ("linear",), n, dtype, False, n) for n in sizes]
            out += [Case("gemm", (k, n), ("linear",), m, "float32", False)
                    for m, k, n in self.gemm_layer_shapes]
        if "layer" in suites:
            out += [Case("layer", (k, n), (act,), m) for m, k, n in self.layer_shapes
                    for act in self.layer_acts]
        if "mlp" in suites:
            out += [Case("mlp", tuple(dims), tuple(acts), batch)
                    for dims, acts, batches in self.mlps for batch in batches]
            out += [Case("mlp", tuple(dims), tuple(acts), batch, weights=wd, compute=compute)
                    for dims, acts, batches in self.mlps16 for batch in batches
                    for wd, compute in W16_VARIANTS]
        if "train" in suites:
            out += [Case("train", tuple(dims), tuple(acts), batch) for dims, acts, batch in self.trains]
        if patterns:
            out = [c for c in out if any(fnmatch.fnmatchcase(c.label, p) for p in patterns)]
        return out


SQUARES = (64, 128, 256, 512, 1024, 2048, 4096)

PROFILES = {
    "full": Profile(
        "full", {"float32": SQUARES, "float64": SQUARES}, LAYER_SHAPES, LAYER_SHAPES, ACTS,
        MLPS, MLPS16, TRAINS, train_epochs=5, budget_s=0.3, max_call_s=2.5),
    "quick": Profile(
        "quick", {"float32": (64, 256, 1024), "float64": (256, 1024)}, LAYER_SHAPES[:2],
        LAYER_SHAPES[:3], ("relu", "sigmoid", "softmax", "gelu"),
        (MLPS[0], (MLPS[1][0], MLPS[1][1], (1, 64, 1024)), (MLPS[2][0], MLPS[2][1], (1,)),
         (MLPS[3][0], MLPS[3][1], (2048,))),
        (MLPS16[0], (MLPS16[1][0], MLPS16[1][1], (1,))), TRAINS, train_epochs=3,
        budget_s=0.04, max_call_s=0.5, min_samples=3, pause_s=0.12, train_slow=False, confirm_rounds=5,
        notes=("quick: sizes capped at 1024, no 60000 batch, 4 activations, small budgets; "
               "16-bit weights at b=64 and b=1 only; train: 3 timed epochs (a true median), no numba or torch.compile",)),
    # For the test-suite: seconds end to end, every code path.
    "tiny": Profile(
        "tiny", {"float32": (8, 16), "float64": (8,)}, ((3, 5, 4),), ((3, 5, 4),),
        ("relu", "sigmoid", "softmax"),
        (((3, 4, 2), ("relu", "sigmoid"), (5,)), ((6, 5, 3), ("tanh", "softmax"), (2,))),
        (((6, 5, 3), ("tanh", "softmax"), (2,)),), (((784, 8, 10), ("relu", "softmax"), 100),),
        train_epochs=2, budget_s=0.002, max_call_s=0.5, min_samples=3, compile_time=False, pause_s=0.0,
        train_slow=False, train_rows=1000, confirm_rounds=3,
        notes=("tiny: harness self-test sizes, figures meaningless",)),
}


@dataclass
class Inputs:
    """The arrays of a case, shared by every kernel (same weights, same X)."""

    X: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray | None]


_DIGITS: list[np.ndarray] = []


def mnist_digits() -> np.ndarray:
    """pyfwd's bundled real MNIST digits (6,000 rows of 784 pixels in [0, 1])."""
    if not _DIGITS:
        from pyfwd.datasets import load_mnist

        (Xtr, _), (Xte, _) = load_mnist()
        _DIGITS.append(np.concatenate([Xtr, Xte]))
    return _DIGITS[0]


def weights16_unavailable(case: Case) -> str | None:
    """Why the 16-bit weights of *case* cannot be made here (bfloat16 needs
    ml_dtypes), else None."""
    if case.weights != "bfloat16":
        return None
    from pyfwd._dtypes16 import bfloat16

    try:
        bfloat16()
    except ImportError as exc:
        return str(exc)
    return None


def make_inputs(case: Case, seed: int = 0) -> Inputs:
    """He-initialised weights, small random biases; X is the built-in MNIST
    digits (repeated to the batch size) for 784-wide inputs, standard-normal
    otherwise. A case with 16-bit weights has the same arrays as its float32
    case, the weights rounded to its weight dtype (nearest even): the weights
    every kernel and the gate's reference use."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(case.dtype)
    if case.dims[0] == 784:
        digits = mnist_digits()
        X = np.ascontiguousarray(np.resize(digits, (case.batch, 784)), dtype=dt)
    else:
        X = rng.standard_normal((case.batch, case.dims[0]), dtype=np.float32).astype(dt, copy=False)
    weights, biases = [], []
    for k, n in zip(case.dims[:-1], case.dims[1:]):
        W = rng.standard_normal((n, k), dtype=np.float32) * np.float32(np.sqrt(2.0 / k))
        weights.append(np.ascontiguousarray(W, dtype=dt))
        biases.append((0.1 * rng.standard_normal(n)).astype(dt) if case.bias else None)
    if case.weights and weights16_unavailable(case) is None:
        from pyfwd._dtypes16 import to_weight16, weight_dtype

        wd = weight_dtype(case.weights)
        weights = [to_weight16(W, wd, f"W{l}") for l, W in enumerate(weights, start=1)]
    return Inputs(X, weights, biases)
