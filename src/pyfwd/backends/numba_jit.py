"""The ``numba`` backend: Numba-compiled blocked GEMM with fused epilogues.

The kernels live in :mod:`pyfwd.backends.numba_kernels` (compiled lazily, on the
first call or on :meth:`NumbaBackend.warmup`), the flags in
:mod:`pyfwd.backends.numba_config`. This module is the lean Python wrapper:
it normalises inputs to C-contiguous arrays of the network's dtype (so only
float32 and float64 signatures compile), packs weights once per
:meth:`prepare`, sets Numba's thread count in the calling thread before a
parallel call, and serialises parallel calls when Numba's threading layer is
``workqueue`` (which aborts the process on concurrent parallel launches).
"""
from __future__ import annotations

import os
import threading
import time

import numba
import numpy as np

from ..activations import ACT_CODE, ACTIVATIONS, LEAKY_SLOPE
from . import Backend
from . import numba_config as cfg
from . import numba_kernels as nk

__all__ = ["NumbaBackend"]

# numba_kernels defines its activation codes and leaky slope itself (Numba's cache
# is keyed on that file): they must be pyfwd.activations' (checked here, at import;
# an ImportError marks the backend unavailable with this reason).
if ([ACT_CODE[n] for n in ACTIVATIONS]
        != [getattr(nk, n.upper()) for n in ACTIVATIONS] or nk.LEAKY_SLOPE != LEAKY_SLOPE):
    raise ImportError("numba_kernels' activation codes or leaky-relu slope disagree with "
                      "pyfwd.activations")

_META_COLS = 8  # (K, N, npan, NR, woff, boff, nb, act), see numba_kernels' entry points

# GNU OpenMP (Numba's omp layer) aborts a forked child that launches a parallel
# region when the parent already had one; a forked child therefore runs serially.
_forked = False


def _after_fork_in_child() -> None:
    global _forked
    _forked = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def _pack(W: np.ndarray, NR: int) -> np.ndarray:
    """W (N, K), any strides -> panels (npan, K, NR), K-major, zero-padded."""
    N, K = W.shape
    npan = -(-N // NR)
    Wp = np.zeros((npan * NR, K), dtype=W.dtype)
    Wp[:N] = W
    return np.ascontiguousarray(Wp.reshape(npan, NR, K).transpose(0, 2, 1))


class _Packed:
    """A network prepared for the kernels: packed weights and biases in one flat
    array each, plus the per-layer table ``meta``."""

    __slots__ = ("wflat", "bflat", "meta", "dtype", "n_out", "widths", "row_flops", "total_row_flops")

    def __init__(self, weights, biases, activations):
        dtype = np.dtype(weights[0].dtype)
        NR = nk.panel_width(dtype.itemsize)
        packs = [_pack(W, NR) for W in weights]
        meta = np.zeros((len(weights), _META_COLS), dtype=np.int64)
        woff = boff = 0
        for l, (W, Wp, b, act) in enumerate(zip(weights, packs, biases, activations)):
            N, K = W.shape
            nb = 0 if b is None else N
            meta[l] = (K, N, Wp.shape[0], NR, woff, boff, nb, ACT_CODE[act])
            woff += Wp.size
            boff += nb
        self.wflat = np.concatenate([p.ravel() for p in packs]) if packs else np.zeros(0, dtype)
        bs = [np.asarray(b, dtype=dtype).ravel() for b in biases if b is not None]
        self.bflat = np.concatenate(bs) if bs else np.zeros(0, dtype)
        self.meta = meta
        self.dtype = dtype
        self.widths = [int(W.shape[0]) for W in weights]
        self.n_out = self.widths[-1]
        #: flops per batch row: of the biggest layer, and of the whole network
        #: (the inputs of nk.parallel_plan)
        flops = [2 * int(W.shape[0]) * int(W.shape[1]) for W in weights]
        self.row_flops = max(flops)
        self.total_row_flops = sum(flops)


def _c_array(X: np.ndarray) -> np.ndarray:
    """X as a C-contiguous, aligned, writable array (one kernel signature per dtype)."""
    # flags.carray: C-contiguous, aligned and writeable (one flags object)
    return X if X.flags.carray else np.array(X, order="C")


class NumbaBackend(Backend):
    name = "numba"

    def __init__(self) -> None:
        self._threads = 1
        self._tls = threading.local()
        self._layer_lock = threading.Lock()
        self._serialise = True  # until Numba's threading layer is known
        self._layer: str | None = None

    # -- threads --------------------------------------------------------
    def set_num_threads(self, n: int) -> None:
        self._threads = max(1, min(int(n), numba.config.NUMBA_NUM_THREADS))

    def _run(self, X, packed, out, cbuf, write_cache, par_min=None, nt=None):
        """A whole-network call, on the entry point that ``nk.parallel_plan`` picks."""
        nt = 1 if _forked else (self._threads if nt is None else nt)
        par_min = cfg.PAR_MIN_FLOPS if par_min is None else par_min
        mode, MB = nk.parallel_plan(X.shape[0], nt, packed.row_flops, packed.total_row_flops,
                                    par_min)
        args = (X, packed.wflat, packed.bflat, packed.meta, out, cbuf, write_cache)
        if mode == nk.SERIAL:
            nk.net_forward_serial(*args)
        elif mode == nk.ROWS:
            self._parallel(nk.net_forward_rows, *args, MB, nt=nt)
        else:
            self._parallel(nk.net_forward_layers, *args, nt, par_min, nt=nt)

    def _parallel(self, kernel, *args, nt):
        """Call a kernel with parallel regions on *nt* threads."""
        if getattr(self._tls, "nt", None) != nt or numba.get_num_threads() != nt:
            numba.set_num_threads(nt)  # Numba's thread count is per calling thread
            self._tls.nt = nt
        if numba.get_parallel_chunksize() != 1:
            # per calling thread too: hand out one task at a time (dynamic
            # balance when the OS delays a thread); the split never changes bits
            numba.set_parallel_chunksize(1)
        if self._serialise:
            with self._layer_lock:
                kernel(*args)
                self._check_layer()
        else:
            kernel(*args)

    def _check_layer(self) -> None:
        """After a parallel launch: only ``workqueue`` needs the lock."""
        try:
            self._layer = numba.threading_layer()
        except ValueError:  # no parallel region has run yet
            return
        self._serialise = self._layer == "workqueue"

    # -- the Backend protocol ---------------------------------------------
    def prepare(self, weights, biases, activations):
        return _Packed(weights, biases, activations)

    def dense(self, X, W, b, activation, out=None):
        X = _c_array(X)
        M, K = X.shape
        if M <= cfg.DENSE_UNPACKED_MAX_M and (K >= cfg.DENSE_UNPACKED_MIN_K or M <= cfg.DENSE_UNPACKED_SMALL_M):
            # small batch: packing W would cost more than the GEMM; W row-major
            # (copied when it is not, so every layout gives the same bits)
            W = _c_array(W)
            b = W.reshape(-1)[:0] if b is None else _c_array(b)
            if out is None:
                out = np.empty((X.shape[0], W.shape[0]), dtype=W.dtype)
            act = ACT_CODE[activation]
            nt = self._threads
            if nt == 1 or _forked or not nk.layer_parallel(X.shape[0], 2 * W.shape[0] * W.shape[1],
                                                           cfg.PAR_MIN_FLOPS):
                nk.dense_rows(X, W, b, act, out)
            else:
                self._parallel(nk.dense_rows_par, X, W, b, act, out, 2 * nt, nt=nt)
            return out
        packed = _Packed([W], [b], [activation])
        if out is None:
            out = np.empty((X.shape[0], W.shape[0]), dtype=W.dtype)
        self._run(X, packed, out, packed.wflat[:0], False)
        return out

    def forward(self, state, X, return_cache, out=None):
        packed = state
        X = _c_array(X)
        M = X.shape[0]
        if out is None:
            out = np.empty((M, packed.n_out), dtype=packed.dtype)
        if not return_cache:
            self._run(X, packed, out, packed.wflat[:0], False)
            return out
        widths = packed.widths
        cbuf = np.empty(M * (2 * sum(widths) - widths[-1]), dtype=packed.dtype)
        self._run(X, packed, out, cbuf, True)
        cache = {"A0": X}
        off = 0
        for l, N in enumerate(widths, start=1):
            cache[f"Z{l}"] = cbuf[off:off + M * N].reshape(M, N)
            off += M * N
            if l < len(widths):
                cache[f"A{l}"] = cbuf[off:off + M * N].reshape(M, N)
                off += M * N
        cache[f"A{len(widths)}"] = out
        return out, cache

    # -- extras -----------------------------------------------------------
    def warmup(self) -> float:
        """Compile (or load from Numba's cache) every signature: float32 and
        float64, the serial entry points and the parallel ones (which a process
        compiles only once it runs a problem big enough for threads), for
        networks and for dense() without prepare. Returns
        the seconds it took."""
        t0 = time.perf_counter()
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(0)
            Ws = [rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal((2, 3)).astype(dtype)]
            bs = [np.zeros(3, dtype), np.zeros(2, dtype)]
            packed = self.prepare(Ws, bs, ["relu", "softmax"])
            X = np.ones((2, 2), dtype)
            par = numba.config.NUMBA_NUM_THREADS > 1 and not _forked
            for write_cache in (False, True):
                out = np.empty((2, 2), dtype)
                cbuf = np.empty(2 * 3 * 2 + 2 * 2, dtype) if write_cache else out.ravel()[:0]
                args = (X, packed.wflat, packed.bflat, packed.meta, out, cbuf, write_cache)
                nk.net_forward_serial(*args)
                if par:  # every parallel entry point parallel_plan can pick
                    self._parallel(nk.net_forward_rows, *args, 1, nt=2)
                    self._parallel(nk.net_forward_layers, *args, 2, 0, nt=2)
            # dense() without prepare: the unpacked small-batch kernels
            nk.dense_rows(X, Ws[0], bs[0], ACT_CODE["relu"], np.empty((2, 3), dtype))
            if numba.config.NUMBA_NUM_THREADS > 1 and not _forked:
                self._parallel(nk.dense_rows_par, X, Ws[0], bs[0], ACT_CODE["relu"],
                               np.empty((2, 3), dtype), 2, nt=2)
        return time.perf_counter() - t0

    def config(self):
        try:
            layer = numba.threading_layer()
        except ValueError:
            layer = "not started yet"
        return {
            "numba": numba.__version__,
            "threading_layer": layer,
            "num_threads": self._threads,
            "max_threads": numba.config.NUMBA_NUM_THREADS,
            "fastmath": cfg.FASTMATH,
            "cache": cfg.CACHE,
            "tile": f"{nk.MR}x{nk.panel_width(4)} float32, {nk.MR}x{nk.panel_width(8)} float64",
            "par_min_flops": cfg.PAR_MIN_FLOPS,
        }
