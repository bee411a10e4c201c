"""The correctness gate: a kernel's output must meet pyfwd's numerics contract
(``pyfwd.testing``) before the kernel is timed.

Two checks (docs/design.md, numerics):

* every kernel's output, end to end: the bound carried through the network;
* for an mlp run by a kernel that can return its forward cache (pyfwd's
  backends), every layer against the float64 reference computed from the
  kernel's own input to that layer (``pyfwd.testing.layer_report``, no carried
  error): the carried bound of a deep network is loose enough to pass a wrong
  layer. For a compiled backend the timed output (no cache) must also be
  bitwise the cached call's output: the same kernels, so this ties the timed
  path to the per-layer check (and a kernel that is not deterministic fails).

16-bit weights (issue 11): the reference uses the rounded weights the kernels
use (and, for ``compute="bf16"``, bf16-rounded layer inputs), with the float32
bound (``pyfwd.testing``). PyTorch's bf16 peer rounds more than that (its
biases, and every layer's output is stored in bfloat16): it is checked against
:func:`pyfwd.testing.storage16_bounds`, the carried bound of a framework that
stores every tensor in 16 bits.

The float64 end-to-end reference and its error bound are computed once per case
and shared by every kernel and thread count. For a large batch they are computed on a row
subset of the same inputs (rows are independent in a dense network): the first
and last rows, which sit on blocking edges, and rows spread in between.
"""
from __future__ import annotations

import numpy as np

from pyfwd.testing import compare, first_difference, layer_report, network_bounds, storage16_bounds

from .cases import Case, Inputs

#: Batches up to this many rows are checked in full.
FULL_CHECK_ROWS = 256


def check_rows(batch: int) -> np.ndarray:
    """The rows the gate compares: all of a small batch; else the first 32, the
    last 32 and 64 spread evenly in between."""
    if batch <= FULL_CHECK_ROWS:
        return np.arange(batch)
    mid = np.linspace(32, batch - 33, 64).round().astype(np.int64)
    return np.unique(np.concatenate([np.arange(32), mid, np.arange(batch - 32, batch)]))


class Reference:
    """Reference output and bound of one case, for both kinds of kernel output
    (the network, and the bare chain of matmuls of ``numpy-blas``), built lazily."""

    def __init__(self, case: Case, data: Inputs) -> None:
        self.case, self.data = case, data
        self.rows = check_rows(case.batch)
        self._bounds: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def subset(self) -> bool:
        return len(self.rows) < self.case.batch

    def _bound(self, computes: str):
        if computes not in self._bounds:
            c, d = self.case, self.data
            if computes == "bf16-storage":
                self._bounds[computes] = storage16_bounds(d.weights, d.biases, c.acts, d.X[self.rows], "bfloat16")
                return self._bounds[computes]
            if computes == "network":
                biases, acts = d.biases, c.acts
            else:
                biases, acts = [None] * len(d.weights), ("linear",) * len(d.weights)
            lb = network_bounds(d.weights, biases, acts, d.X[self.rows], c.dtype, c.compute)[-1]
            self._bounds[computes] = (lb.A, lb.eA)
        return self._bounds[computes]

    def _what(self) -> str:
        c = self.case
        return f"{c.label} {c.dtype}" + (f" (compute={c.compute})" if c.weights else "") + (f" ({len(self.rows)} of {c.batch} rows)" if self.subset else "")

    def check_layers(self, y, y_cached, cache, bitwise: bool) -> str | None:
        """None if every layer of *cache* (``forward(X, return_cache=True)`` of the
        kernel that returned *y*) meets the per-layer bound on the checked rows
        and, when *bitwise*, *y* is bitwise *y_cached*; else why not."""
        c, d = self.case, self.data
        try:
            msg = layer_report(cache, d.weights, d.biases, c.acts, c.dtype, rows=self.rows, compute=c.compute)
        except AssertionError as exc:  # cache keys
            msg = str(exc)
        if msg is not None:
            return f"{self._what()}, per layer: {msg}"
        if bitwise:
            diff = first_difference(y, y_cached)
            if diff is not None:
                return (f"{self._what()}: the output without return_cache is not bitwise the same "
                        f"kernel's output with it: {diff}")
        return None

    def check(self, y, computes: str = "network") -> str | None:
        """None if *y* (the kernel's full output) is acceptable, else why not."""
        c = self.case
        y = np.asarray(y)
        expected = (c.batch, c.dims[-1])
        if y.shape != expected:
            return f"output shape {y.shape}, expected {expected}"
        if y.dtype != np.dtype(c.dtype):
            return f"output dtype {y.dtype}, expected {c.dtype}"
        ref, bound = self._bound(computes)
        return compare(y[self.rows], ref, bound, self._what())
