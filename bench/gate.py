"""The correctness gate: a kernel's output must meet pyfwd's numerics contract
(``pyfwd.testing``) before the kernel is timed.

The float64 reference and its error bound are computed once per case and shared
by every kernel and thread count. For a large batch they are computed on a row
subset of the same inputs (rows are independent in a dense network): the first
and last rows, which sit on blocking edges, and rows spread in between.
"""
from __future__ import annotations

import numpy as np

from pyfwd.testing import compare, network_bounds

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
            if computes == "network":
                biases, acts = d.biases, c.acts
            else:
                biases, acts = [None] * len(d.weights), ("linear",) * len(d.weights)
            lb = network_bounds(d.weights, biases, acts, d.X[self.rows], c.dtype)[-1]
            self._bounds[computes] = (lb.A, lb.eA)
        return self._bounds[computes]

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
        what = f"{c.label} {c.dtype}" + (f" ({len(self.rows)} of {c.batch} rows)" if self.subset else "")
        return compare(y[self.rows], ref, bound, what)
